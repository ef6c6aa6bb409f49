"""The write path on each store: the library's ordering guarantee, and a hash chain over what is stored.

PostgreSQL. ``eventsourcing.postgres`` appends with BEGIN, SET LOCAL lock_timeout, LOCK TABLE ...
IN EXCLUSIVE MODE, NOTIFY, INSERT and COMMIT. The exclusive lock makes commit order equal
notification-id order, so a reader tailing the log never passes over an id that commits later. The
library's faster "db functions" option drops that lock, and then a projection can skip an event
forever. ``LockedAppendRecorder`` keeps the lock and moves the whole append into one PL/pgSQL
function called in autocommit mode: the function's statement is its own transaction, so the lock
taken inside it is held until that transaction commits, exactly as before, but the client pays one
round trip instead of several. Under that lock the function also computes each event's chain hash
(see ``infrastructure/eventstore/integrity.py``) from the previous event in the log and in the case.

SQLite. ``ChainedSQLiteRecorder`` takes SQLite's write lock first (by updating a one-row chain
head), then computes the chain hashes in Python and inserts, in the same transaction.

Both expose the raw rows (``chain_rows``, ``case_chain_rows``) for ``casejourney verify``.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal
from psycopg.types.composite import register_composite

from infrastructure.eventstore.integrity import CHAIN_LABEL, GENESIS, ChainRow, chain_hash
from infrastructure.eventstore.write_gate import WriteGate

CHAIN_BATCH = 10_000

#: ``build(heads)``: an append's events, from the last version of each of its streams.
Build = Callable[[Mapping[UUID, int]], Sequence[StoredEvent]]

#: ``take()``, called by ``append_at_heads`` once its lock is held: the streams and their ``Build``.
Take = Callable[[], tuple[Sequence[UUID], Build]]


#: What a write refused by a server that takes none means, and what to do (docs/operations.md).
READ_ONLY_SERVER = (
    "this PostgreSQL server takes no writes (a standby in recovery, or read-only sessions): commands"
    " go to the primary; point CASEJOURNEY_POSTGRES_URL at it, or list every host in it with"
    " target_session_attrs=read-write"
)


#: A topic written into SQL as it is: a module and class name, nothing that needs quoting.
_PLAIN_TOPIC = re.compile(r"[A-Za-z0-9_.:]+")

#: Where a statement of ``append_at_heads`` takes its values (a byte no identifier here holds).
_VALUES = b"\x01"


def _last_rows(cursor: psycopg.Cursor[Any], query: bytes, *, first: bool = False) -> dict[Any, Any]:
    """Runs a simple query of several statements; the rows of its last (or ``first``) statement
    that returns any, as a dict of the first column to the second (to None if there is one)."""
    cursor.execute(query)
    found: dict[Any, Any] | None = None
    while True:
        if cursor.description is not None and (found is None or not first):
            found = {row[0]: (row[1] if len(row) > 1 else None) for row in cursor.fetchall()}
        if not cursor.nextset():
            return found or {}


def _persistence_error(exc: psycopg.Error) -> PersistenceError:
    """The library's exception for a psycopg error, as its own datastore maps them."""
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):  # a standby, or read-only sessions
        return OperationalError(f"{READ_ONLY_SERVER} ({str(exc).splitlines()[0]})")
    if isinstance(exc, psycopg.IntegrityError):
        return IntegrityError(str(exc))
    if isinstance(exc, psycopg.OperationalError):
        return OperationalError(str(exc))
    if isinstance(exc, psycopg.InterfaceError):
        return InterfaceError(str(exc))
    if isinstance(exc, psycopg.DatabaseError):
        return DatabaseError(str(exc))
    return PersistenceError(str(exc))


_CHAINED_STEP = (
    "  case_prev := genesis; "
    "  IF {version} > 1 THEN "
    "    SELECT t.chain_hash INTO case_prev FROM {schema}.{table} t "
    "      WHERE t.originator_id = {id} AND t.originator_version = {version} - 1; "
    "    IF NOT FOUND THEN "
    "      RAISE EXCEPTION 'event % of % has no predecessor', {version}, {id} "
    "        USING ERRCODE = 'integrity_constraint_violation'; "
    "    END IF; "
    "  END IF; "
    "  topic_bytes := convert_to({topic}, 'UTF8'); "
    "  h := sha256({label}::bytea || log_prev || case_prev || uuid_send({id}) || int8send({version})"
    "    || int4send(octet_length(topic_bytes)) || topic_bytes || {state}); "
    "  INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state, chain_hash) "
    "    VALUES ({id}, {version}, {topic}, {state}, h) RETURNING notification_id INTO nid; "
    "  log_prev := h; "
)
_UNCHAINED_STEP = (
    "  INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
    "    VALUES ({id}, {version}, {topic}, {state}) RETURNING notification_id INTO nid; "
)
_PROLOGUE = (
    "DECLARE e {schema}.{event}; log_prev bytea; case_prev bytea; topic_bytes bytea; h bytea; nid bigint; "
    "  genesis constant bytea := decode(repeat('00', 32), 'hex'); "
    "BEGIN "
    "  SET LOCAL lock_timeout = '{lock_timeout}s'; "
    "  LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
    "  NOTIFY {channel}; "
    "  SELECT t.chain_hash INTO log_prev FROM {schema}.{table} t ORDER BY t.notification_id DESC LIMIT 1; "
    "  log_prev := coalesce(log_prev, genesis); "
)


class LockedAppendRecorder(PostgresApplicationRecorder):
    """Appends in one round trip under the table lock, chaining each event (see the module's docstring).

    Two functions: ``<table>_append1`` takes one event as plain parameters (nearly every command
    appends one event; scalar parameters cost the server less than an array of composites) and
    ``<table>_append`` takes an array. Appends go through one writer connection per application,
    kept open: writers queue on the table lock anyway, and a pool checkout per append costs more
    than it saves.
    """

    #: Off only in benchmarks, to measure what the chain costs; the service always chains.
    CHAINED: bool = True

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.append_function_name = f"{events_table_name}_append"
        self.append_one_function_name = f"{events_table_name}_append1"
        self.check_identifier_length(self.append_one_function_name)
        schema = Identifier(self.datastore.schema)
        table = Identifier(self.events_table_name)
        self.qualified_table: Composed = SQL("{}.{}").format(schema, table)
        self.qualified_name = f"{self.datastore.schema}.{self.events_table_name}"
        # Only when missing: ALTER TABLE takes an exclusive lock on the live table even when it has
        # nothing to do, and every process runs these statements when it starts.
        self.sql_create_statements.append(
            SQL(
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = {s}"
                " AND table_name = {t} AND column_name = 'chain_hash') THEN"
                " ALTER TABLE {schema}.{table} ADD COLUMN chain_hash bytea; END IF; END $$"
            ).format(
                s=psycopg.sql.Literal(self.datastore.schema),
                t=psycopg.sql.Literal(self.events_table_name),
                schema=schema,
                table=table,
            )
        )
        step = _CHAINED_STEP if self.CHAINED else _UNCHAINED_STEP
        names = {
            "schema": schema,
            "table": table,
            "event": Identifier(self.stored_event_type_name),
            "lock_timeout": SQL(str(int(self.datastore.lock_timeout))),
            "channel": Identifier(self.channel_name),
            "label": psycopg.sql.Literal(CHAIN_LABEL.decode()),
        }
        each = {"id": SQL("e.originator_id"), "version": SQL("e.originator_version"), "topic": SQL("e.topic")}
        one = {"id": SQL("p_id"), "version": SQL("p_version"), "topic": SQL("p_topic"), "state": SQL("p_state")}
        self.sql_create_statements[self.create_insert_function_statement_index] = SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{fn}(events {schema}.{event}[]) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
            + _PROLOGUE
            + "FOREACH e IN ARRAY events LOOP "
            + step
            + " RETURN NEXT nid; END LOOP; RETURN; END; $BODY$"
        ).format(fn=Identifier(self.append_function_name), **names, **each, state=SQL("e.state"))
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{fn}(p_id uuid, p_version bigint, p_topic text, p_state bytea) "
                "RETURNS bigint LANGUAGE plpgsql AS $BODY$ " + _PROLOGUE + step + " RETURN nid; END; $BODY$"
            ).format(fn=Identifier(self.append_one_function_name), **names, **one)
        )
        self.append_statement = SQL("SELECT * FROM {schema}.{fn}(%s)").format(
            schema=schema, fn=Identifier(self.append_function_name)
        )
        self.append_one_statement = SQL("SELECT {schema}.{fn}(%s, %s, %s, %s)").format(
            schema=schema, fn=Identifier(self.append_one_function_name)
        )
        self._at_heads_sql: dict[str, bytes] = {}  # composed with the first writer connection
        self._writer: psycopg.Connection[Any] | None = None
        self._writer_lock = threading.Lock()

    def create_table(self) -> None:
        """All the DDL in one transaction, one process at a time.

        Processes starting at once would otherwise race (a duplicate composite type, "tuple
        concurrently updated" on the function) or deadlock on each other's DDL. The library creates
        the composite type in a transaction of its own; here it is created only when missing.
        """
        with self.datastore.transaction(commit=True) as curs:
            lock_key = psycopg.sql.Literal(f"ddl:{self.qualified_name}")
            curs.execute(SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(lock_key))
            curs.execute(
                "SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
                " WHERE n.nspname = %s AND t.typname = %s",
                (self.datastore.schema, self.stored_event_type_name),
            )
            type_exists = curs.fetchone() is not None
            for statement in self.sql_create_statements:
                if "CREATE TYPE" in statement.as_string() and type_exists:
                    continue
                curs.execute(statement, prepare=False)
        self.datastore.register_type_adapters()

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if kwargs.get("tracking") is not None:
            raise NotImplementedError("the chained append path records no tracking rows")
        if not stored_events:
            return []
        statement, params = self._append_call(stored_events)
        # No retry here on a lost connection: whether the append committed is then unknown, and
        # the application answers that by reloading the case (a retried command is idempotent).
        with self._writer_lock:
            conn, cursor = self._writer_connection()
            try:
                cursor.execute(statement, params, prepare=True)
                rows_out = cursor.fetchall()
            except psycopg.Error as exc:
                raise self._write_failed(conn, exc) from exc
        return [int(row[0]) for row in rows_out]

    def _write_failed(self, conn: psycopg.Connection[Any], exc: psycopg.Error) -> PersistenceError:
        """The library's error for a failed write; a lost writer connection is dropped. Dropped on a
        server that takes no writes too: the next append reconnects and, with a multi-host URL,
        finds the primary (after a failover, the promoted standby)."""
        lost = (psycopg.OperationalError, psycopg.InterfaceError, psycopg.errors.ReadOnlySqlTransaction)
        if conn.closed or conn.broken or isinstance(exc, lost):
            self._drop_writer()
        return _persistence_error(exc)

    def _append_call(self, stored_events: Sequence[StoredEvent]) -> tuple[Composed, tuple[Any, ...]]:
        if len(stored_events) == 1:
            e = stored_events[0]
            return self.append_one_statement, (e.originator_id, e.originator_version, e.topic, e.state)
        rows = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
        return self.append_statement, (rows,)

    def append_at_heads(self, take: Take, likely: Sequence[UUID] = ()) -> Sequence[int]:
        """Appends at the heads of streams many processes append to at once (the access log's reads
        of a case), under a lock that every such append takes, in the other processes too.
        ``take()``, called once the lock is held, says which streams and how to ``build`` their
        events from their last versions (0 for none), read under that lock: so appenders take turns
        instead of racing for a stream's next version (the loser retrying, over and over, while the
        winner's next append is already on its way), and what waited for the lock goes in at once
        (``group_append``).

        Two round trips: BEGIN, the lock and the heads of the ``likely`` streams; the append and
        COMMIT (a stream ``take`` names that was not likely costs one more). Each is one simple
        query of several statements, its values written in as literals (``_values``): a query with
        parameters can hold only one statement."""
        ids: list[int] = []
        with self._writer_lock:
            conn, _ = self._writer_connection()
            cursor = conn.cursor()
            try:
                try:
                    heads: dict[UUID, int] = {}
                    if likely:
                        heads = _last_rows(cursor, self._begin_at_heads(likely))
                    else:
                        cursor.execute(self._sql("begin"))
                    streams, build = take()
                    missing = [s for s in dict.fromkeys(streams) if s not in heads]
                    if missing:
                        heads |= _last_rows(cursor, self._heads_sql(missing))
                    ids = list(_last_rows(cursor, self._append_sql(build(heads)) + b"; COMMIT", first=True))
                except BaseException:
                    if not (conn.closed or conn.broken):
                        with contextlib.suppress(psycopg.Error):
                            conn.execute("ROLLBACK")
                    raise
            except psycopg.Error as exc:
                raise self._write_failed(conn, exc) from exc
        return ids

    def _begin_at_heads(self, likely: Sequence[UUID]) -> bytes:
        # The heads are read by a statement of their own, after the lock's: in READ COMMITTED each
        # statement sees what was committed when it began, so what the lock waited for is seen.
        return self._sql("begin") + b"; " + self._heads_sql(likely)

    def _heads_sql(self, streams: Sequence[UUID]) -> bytes:
        ids = ", ".join(f"'{stream}'::uuid" for stream in dict.fromkeys(streams))
        return self._fill("heads", ids.encode())

    def _append_sql(self, stored_events: Sequence[StoredEvent]) -> bytes:
        if len(stored_events) == 1:
            return self._fill("append1", self._values(stored_events[0]))
        return self._fill("append", b", ".join(self._fill("row", self._values(e)) for e in stored_events))

    def _values(self, e: StoredEvent) -> bytes:
        """An event's values as SQL literals, written here (psycopg's own composition cost more per
        append than the round trip it saves): a UUID and an integer as themselves, the state as
        hex for ``decode``, the topic (a class's name) quoted by psycopg unless it is plainly one."""
        topic = e.topic if _PLAIN_TOPIC.fullmatch(e.topic) else None
        quoted = f"'{topic}'" if topic is not None else Literal(e.topic).as_string(self._writer)
        uuid = UUID(str(e.originator_id))
        return f"'{uuid}'::uuid, {int(e.originator_version)}, {quoted}, decode('{e.state.hex()}', 'hex')".encode()

    def _fill(self, name: str, values: bytes) -> bytes:
        before, after = self._sql(name).split(_VALUES)
        return before + values + after

    def _sql(self, name: str) -> bytes:
        """The statements of ``append_at_heads``, composed once with the writer connection; where
        the values go, ``_VALUES``."""
        if not self._at_heads_sql:
            schema, table = Identifier(self.datastore.schema), self.qualified_table
            parts = {
                "begin": SQL(
                    "BEGIN; SET LOCAL lock_timeout = {}; SELECT pg_advisory_xact_lock(hashtextextended({}, 0))"
                ).format(Literal(f"{int(self.datastore.lock_timeout)}s"), Literal(f"{self.qualified_name}:at-heads")),
                "heads": SQL(
                    "SELECT s, coalesce((SELECT max(t.originator_version) FROM {} t WHERE t.originator_id = s), 0)"
                    " FROM unnest(ARRAY[\x01]::uuid[]) AS s"
                ).format(table),
                "append1": SQL("SELECT {}.{}(\x01)").format(schema, Identifier(self.append_one_function_name)),
                "append": SQL("SELECT * FROM {}.{}(ARRAY[\x01])").format(schema, Identifier(self.append_function_name)),
                "row": SQL("ROW(\x01)::{}.{}").format(schema, Identifier(self.stored_event_type_name)),
            }
            self._at_heads_sql = {k: v.as_bytes(self._writer) for k, v in parts.items()}
        return self._at_heads_sql[name]

    def _writer_connection(self) -> tuple[psycopg.Connection[Any], psycopg.Cursor[Any]]:
        conn = self._writer
        if conn is None or conn.closed or conn.broken:
            pool = self.datastore.pool
            pool_kwargs: dict[str, Any] = pool.kwargs if isinstance(pool.kwargs, dict) else {}
            kwargs = {k: v for k, v in pool_kwargs.items() if k != "row_factory"}
            conninfo = pool.conninfo if isinstance(pool.conninfo, str) else ""
            try:
                conn = psycopg.Connection.connect(conninfo, autocommit=True, **kwargs)
            except psycopg.Error as exc:
                raise _persistence_error(exc) from exc
            for info in self.datastore.psycopg_type_adapters.values():
                register_composite(info, conn)
            try:
                # Every statement this connection runs is a lookup by an index (the previous
                # event, the last one, a stream's head), and the append functions' plans are kept
                # for the session: planned on a table analysed while empty (a new store after a
                # VACUUM ANALYZE), they scanned the whole table, so each append cost more as the
                # log grew (1.0, 1.9, 2.9 ms a read recorded, each 2,500 reads) for the session.
                conn.execute("SET enable_seqscan = off")
            except psycopg.Error as exc:
                conn.close()
                raise _persistence_error(exc) from exc
            self._writer = conn
            # Binary parameters: the payload goes as its bytes, not as hex text to be parsed again.
            self._writer_cursor = conn.cursor(binary=True)
        return conn, self._writer_cursor

    def _drop_writer(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        self._writer = None

    def close(self) -> None:
        with self._writer_lock:
            self._drop_writer()

    # ------------------------------------------------------------------ raw rows, for verify

    _CHAIN_COLUMNS = "notification_id, originator_id, originator_version, topic, state, chain_hash"

    def chain_rows(self, after: int = 0) -> Iterator[ChainRow]:
        """Every stored event after ``after`` in log order, raw; a server-side cursor, binary tuples."""
        query = SQL("SELECT " + self._CHAIN_COLUMNS + " FROM {} WHERE notification_id > %s ORDER BY notification_id")
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor(name="chain", row_factory=tuple_row, binary=True) as curs,
        ):
            curs.itersize = CHAIN_BATCH
            curs.execute(query.format(self.qualified_table), (after,))
            yield from map(ChainRow._make, curs)

    def case_chain_rows(self, case_id: UUID) -> list[tuple[ChainRow, bytes]]:
        """One case's events, each with the chain hash of the event before it in the whole log."""
        query = SQL(
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state, e.chain_hash,"
            " (SELECT p.chain_hash FROM {t} p WHERE p.notification_id < e.notification_id"
            "  ORDER BY p.notification_id DESC LIMIT 1) AS log_prev"
            " FROM {t} e WHERE e.originator_id = %s ORDER BY e.originator_version"
        ).format(t=self.qualified_table)
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row, binary=True) as curs:
            curs.execute(query, (case_id,))
            return [(ChainRow._make(r[:6]), r[6] if r[6] is not None else GENESIS) for r in curs.fetchall()]

    def chain_row_at(self, position: int) -> ChainRow | None:
        query = SQL("SELECT " + self._CHAIN_COLUMNS + " FROM {} WHERE notification_id = %s")
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row, binary=True) as curs:
            curs.execute(query.format(self.qualified_table), (position,))
            r = curs.fetchone()
        return ChainRow._make(r) if r is not None else None

    def position_of(self, case_id: UUID, version: int) -> int | None:
        """The log position of one event of a case (a retried command's answer names it)."""
        query = SQL("SELECT notification_id FROM {} WHERE originator_id = %s AND originator_version = %s")
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(query.format(self.qualified_table), (case_id, version))
            r = curs.fetchone()
        return int(r[0]) if r is not None else None


class ChainedSQLiteRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events") -> None:
        self.head_table = f"{events_table_name}_chain_head"  # before super(): it builds the DDL
        super().__init__(datastore, events_table_name)
        pool: Any = datastore.pool
        memory = pool.is_sqlite_memory_mode
        self.gate = WriteGate(":memory:" if memory else pool.db_name, float(pool.lock_timeout or 5))
        self.insert_events_statement = (
            f"INSERT INTO {events_table_name} (originator_id, originator_version, topic, state, chain_hash)"
            " VALUES (?,?,?,?,?)"
        )

    def construct_create_table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.events_table_name} ("
            "originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, chain_hash BLOB, "
            "PRIMARY KEY (originator_id, originator_version))",
            f"CREATE TABLE IF NOT EXISTS {self.head_table} ("
            "id INTEGER PRIMARY KEY CHECK (id = 1), head_position INTEGER NOT NULL, head_hash BLOB NOT NULL)",
            f"INSERT OR IGNORE INTO {self.head_table} (id, head_position, head_hash) VALUES (1, 0, x'{GENESIS.hex()}')",
        ]

    def create_table(self) -> None:
        try:
            self._create_tables_immediately()
        except sqlite3.Error as exc:
            # The library opens connections outside its own error mapping: a read-only file or
            # directory surfaces here as a bare sqlite3 error. Say what it is, as the library's error.
            path = Path(self.datastore.pool.db_name)
            hint = "" if os.access(path.parent, os.W_OK) else " (the file system or directory is read-only)"
            raise OperationalError(f"cannot write the SQLite file {path}: {exc}{hint}") from exc

    def _create_tables_immediately(self) -> None:
        # BEGIN IMMEDIATE: the DDL ends with a write (the chain head row); a deferred transaction
        # would read the schema first and then fail at once, not wait, if another process wrote.
        with self.datastore.get_connection(commit=True) as conn:
            cursor = conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                for statement in self.create_table_statements:
                    cursor.execute(statement)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self.gate.held():  # the file's writers queue at the gate (``write_gate``)
            return super().insert_events(stored_events, **kwargs)

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **_: Any) -> Sequence[int] | None:
        # Writing first takes SQLite's write lock before anything is read, so no other writer can
        # append between reading the chain head and inserting (a deferred read would go stale).
        c.execute(f"UPDATE {self.head_table} SET head_position = head_position WHERE id = 1")
        c.execute(f"SELECT head_hash FROM {self.head_table} WHERE id = 1")
        log_prev = bytes(c.fetchone()[0])
        returning: list[int] = []
        for s in stored_events:
            originator_id = s.originator_id if isinstance(s.originator_id, UUID) else UUID(str(s.originator_id))
            case_prev = GENESIS
            if s.originator_version > 1:
                c.execute(
                    f"SELECT chain_hash FROM {self.events_table_name}"
                    " WHERE originator_id = ? AND originator_version = ?",
                    (originator_id.hex, s.originator_version - 1),
                )
                found = c.fetchone()
                if found is None:
                    raise IntegrityError(f"event {s.originator_version} of {originator_id} has no predecessor")
                case_prev = bytes(found[0])
            h = chain_hash(log_prev, case_prev, originator_id, s.originator_version, s.topic, s.state)
            c.execute(self.insert_events_statement, (originator_id.hex, s.originator_version, s.topic, s.state, h))
            returning.append(c.lastrowid)
            log_prev = h
        c.execute(
            f"UPDATE {self.head_table} SET head_hash = ?, head_position = ? WHERE id = 1", (log_prev, returning[-1])
        )
        return returning

    # ------------------------------------------------------------------ raw rows, for verify

    #: The columns ``_row`` reads: the BLOBs cast (a TEXT edited in that is not UTF-8 would stop the
    #: driver) and their stored types beside them.
    _CHAIN_SELECT = (
        "{p}rowid, {p}originator_id, {p}originator_version, {p}topic, CAST({p}state AS BLOB), typeof({p}state),"
        " CAST({p}chain_hash AS BLOB), typeof({p}chain_hash)"
    )

    def append_at_heads(self, take: Take, likely: Sequence[UUID] = ()) -> Sequence[int]:
        """As ``LockedAppendRecorder.append_at_heads``, under SQLite's write lock, taken first (the
        heads are read after ``take``: a query here costs no round trip)."""
        with self.gate.held(), self.datastore.transaction(commit=True) as c:
            c.execute(f"UPDATE {self.head_table} SET head_position = head_position WHERE id = 1")
            streams, build = take()
            heads: dict[UUID, int] = {}
            for stream in streams:
                c.execute(
                    f"SELECT max(originator_version) FROM {self.events_table_name} WHERE originator_id = ?",
                    (stream.hex,),
                )
                found = c.fetchone()
                heads[stream] = int(found[0] or 0) if found is not None else 0
            return list(self._insert_events(c, build(heads)) or [])

    def _row(self, r: Any) -> ChainRow:
        """A row as the verifier reads it. SQLite keeps any value in any column: one edited in with
        the wrong type (TEXT in ``state``, a case id that is no UUID) becomes a value that cannot
        match its hash, so ``verify`` names the event as edited instead of stopping on it."""
        try:
            case_id = UUID(r[1])
        except (TypeError, ValueError, AttributeError):
            case_id = UUID(int=0)
        version = r[2] if type(r[2]) is int else -1
        topic = r[3] if isinstance(r[3], str) else repr(r[3])
        chain = None if r[7] == "null" else _as_stored(r[6], r[7])
        return ChainRow(r[0], case_id, version, topic, _as_stored(r[4], r[5]), chain)

    def chain_rows(self, after: int = 0) -> Iterator[ChainRow]:
        columns = self._CHAIN_SELECT.format(p="")
        query = f"SELECT {columns} FROM {self.events_table_name} WHERE rowid > ? ORDER BY rowid LIMIT ?"
        while True:
            with self.datastore.transaction(commit=False) as c:
                c.execute(query, (after, CHAIN_BATCH))
                rows = c.fetchall()
            if not rows:
                return
            for r in rows:
                yield self._row(r)
            after = rows[-1][0]

    def case_chain_rows(self, case_id: UUID) -> list[tuple[ChainRow, bytes]]:
        t = self.events_table_name
        query = (
            f"SELECT {self._CHAIN_SELECT.format(p='e.')},"
            f" (SELECT CAST(p.chain_hash AS BLOB) FROM {t} p WHERE p.rowid < e.rowid ORDER BY p.rowid DESC LIMIT 1)"
            f" FROM {t} e WHERE e.originator_id = ? ORDER BY e.originator_version"
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(query, (case_id.hex,))
            return [(self._row(r), bytes(r[8]) if r[8] is not None else GENESIS) for r in c.fetchall()]

    def chain_head(self) -> tuple[int, bytes]:
        """The head row the next append links to: (position, chain hash)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT head_position, head_hash FROM {self.head_table} WHERE id = 1")
            row = c.fetchone()
        return (int(row[0]), bytes(row[1])) if row is not None else (-1, b"")

    def chain_row_at(self, position: int) -> ChainRow | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT {self._CHAIN_SELECT.format(p='')} FROM {self.events_table_name} WHERE rowid = ?",
                (position,),
            )
            r = c.fetchone()
        return self._row(r) if r is not None else None

    def position_of(self, case_id: UUID, version: int) -> int | None:
        """The log position of one event of a case (a retried command's answer names it)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT rowid FROM {self.events_table_name} WHERE originator_id = ? AND originator_version = ?",
                (case_id.hex, version),
            )
            r = c.fetchone()
        return int(r[0]) if r is not None else None


class UnchainedAppendRecorder(LockedAppendRecorder):
    """The same one-round-trip locked append without the hash chain: only for measuring the chain's cost.

    Use it with an application of another name (its own tables and functions): never in the service.
    """

    CHAINED = False


def _as_stored(value: Any, stored_as: str) -> bytes:
    """A BLOB column's value (cast to bytes by the query) as bytes; one stored with another type
    (edited in: SQLite allows it) as bytes no genuine value has, so that no hash over it can match."""
    raw = bytes(value) if value is not None else b""
    return raw if stored_as == "blob" else b"\x00stored as " + stored_as.encode() + b": " + raw
