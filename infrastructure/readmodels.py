"""Read-model tables (SQLAlchemy Core) and how each projection writes a batch of events into them.

One code path for SQLite and PostgreSQL: the same tables, the same statements. The read models
live in the same database as the events (the same SQLite file, the same PostgreSQL schema), so a
batch of view rows and the projection's tracking position commit in one transaction.

Managed schema, without Alembic, on purpose: a read model is derived data, so its migration *is*
a rebuild from the log. Each projection's live tables carry a schema version (a hash of the table
definitions and the projection's ``LOGIC_VERSION``) in the tracking table; when the code's version
differs, the runner refuses to write and says so, and ``casejourney projections rebuild NAME``
builds tables of the new shape beside the live ones and swaps them in, in one transaction.
Table names take a suffix (``__b<token>`` for a build, ``__v<token>`` for a verify scratch); the
constraint and index names take the same suffix, so they never collide after a swap.
"""

from __future__ import annotations

import base64
import hashlib
import json
import operator
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    insert,
    select,
    tuple_,
)
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL
from sqlalchemy.schema import CreateTable
from sqlalchemy.types import TypeDecorator

from domain.case.aggregate import Case
from infrastructure.settings import Settings
from projections import caseloads, expedited_queue, safeguarding_history, team_assignment
from projections.caseloads import Membership
from projections.expedited_queue import QueueEntry
from projections.team_assignment import Assignment

#: One decoded event of the log: its notification id and the domain event.
Item = tuple[int, Case.Event]

_IN_CHUNK = 500  # keys per IN (...) list: well under SQLite's bound-parameter limit


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware in, timezone-aware (UTC) out, on both databases.

    SQLite has no time zone type and SQLAlchemy would drop the offset silently; converting to UTC
    on the way in makes the stored text unambiguous.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: read models store aware times only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Sealed(TypeDecorator[Any]):
    """Free text of the read models (what, why, reasons), sealed under the store's keyring when one
    is configured, so that no payload text lies in the database in clear (docs/threat-model.md).

    The sealer is set on the engine's dialect by ``make_engine``; without a keyring values are
    stored as they are. Rows are compared by ``verify`` after reading, so random nonces are fine.
    """

    impl = Text
    cache_ok = True

    def __init__(self, *, json_value: bool = False) -> None:
        super().__init__()
        self.json_value = json_value

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        text_value = _json_dumps(value) if self.json_value else str(value)
        sealer: ReadModelSealer | None = getattr(dialect, "cj_sealer", None)
        return sealer.seal(text_value) if sealer else text_value

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.startswith(SEALED_TEXT_PREFIX):
            sealer: ReadModelSealer | None = getattr(dialect, "cj_sealer", None)
            if sealer is None:
                raise ValueError("a read model holds sealed text but no keyring is configured to open it")
            value = sealer.open(value)
        return json.loads(value) if self.json_value else value


SEALED_TEXT_PREFIX = "rm1:"


class ReadModelSealer:
    """AES-256-GCM under the store's keyring (the same ring as the events; current key first)."""

    def __init__(self, keyring_text: str) -> None:
        from eventsourcing.utils import Environment

        from infrastructure.crypto import KeyringCipher

        self.cipher = KeyringCipher(Environment(env={"CIPHER_KEY": keyring_text}))

    def seal(self, value: str) -> str:
        return SEALED_TEXT_PREFIX + base64.b64encode(self.cipher.encrypt(value.encode())).decode()

    def open(self, value: str) -> str:
        return self.cipher.decrypt(base64.b64decode(value[len(SEALED_TEXT_PREFIX) :])).decode()


# ---------------------------------------------------------------------------- engine


_JSON = json.JSONEncoder(sort_keys=True, default=str)
#: Keys sorted; a datetime goes through ``str`` as with ``json.dumps(..., default=str)``.
_ORJSON = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _json_dumps(value: Any) -> str:
    """JSON text of a read-model value: the same value as ``json.dumps(value, sort_keys=True,
    default=str)`` once parsed (compact, so not the same text), at a fraction of the cost. One
    difference: a float that is not a number becomes ``null`` (read models hold no floats)."""
    try:
        return orjson.dumps(value, default=str, option=_ORJSON).decode()
    except (orjson.JSONEncodeError, TypeError):  # an integer beyond 64 bits, say
        return _JSON.encode(value)


def make_engine(settings: Settings) -> Engine:
    """A SQLAlchemy engine on the event store's own database (same file / same schema)."""
    if settings.store == "sqlite":
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            f"sqlite+pysqlite:///{settings.sqlite_path}",
            connect_args={"timeout": 30},
            json_serializer=_json_dumps,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, say where transactions begin (the sqlite3
            # module would otherwise run DDL outside any transaction, and a swap must be atomic).
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # IMMEDIATE takes the write lock up front: two writers never deadlock on an upgrade.
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return _with_sealer(engine, settings)

    pg = settings.postgres_params()
    url = URL.create(
        "postgresql+psycopg",
        username=pg["user"],
        password=pg["password"] or None,
        host=pg["host"],
        port=int(pg["port"]),
        database=pg["dbname"],
    )
    engine = create_engine(
        url,
        json_serializer=_json_dumps,
        pool_pre_ping=True,
        connect_args={"connect_timeout": int(settings.postgres_connect_timeout)},
    )
    schema = settings.postgres_schema
    if schema:

        @event.listens_for(engine, "connect")
        def _pg_connect(dbapi_connection: Any, _record: Any) -> None:
            quoted = '"' + schema.replace('"', '""') + '"'
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET search_path TO {quoted}")
            dbapi_connection.commit()

    return _with_sealer(engine, settings)


def _with_sealer(engine: Engine, settings: Settings) -> Engine:
    if settings.cipher_keys is not None:
        engine.dialect.cj_sealer = ReadModelSealer(settings.cipher_keys.get_secret_value())  # type: ignore[attr-defined]
    return engine


def reading(conn: Connection) -> Connection:
    """Marks a connection as a reader (SQLite: a deferred transaction, no write lock)."""
    return conn.execution_options(sqlite_begin="DEFERRED")


# ---------------------------------------------------------------------------- tracking

infra_metadata = MetaData()

#: One row per projection (``team_assignment``) and per build in progress (``team_assignment@build``).
tracking = Table(
    "projection_tracking",
    infra_metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("schema_version", String(64), nullable=False),
    Column("table_suffix", String(40), nullable=False, default=""),
    Column("updated_at", UtcDateTime, nullable=True),
    Column("error", Text, nullable=True),
    Column("error_at", UtcDateTime, nullable=True),
)

#: A build from nothing reads the log in case order, split in parts by case id (see
#: ``infrastructure/case_build.py``); one row per build and part says how far the part has got.
build_parts = Table(
    "projection_build_parts",
    infra_metadata,
    Column("build", String(100), nullable=False),
    Column("part", Integer, nullable=False),
    #: Case ids >= lo and < hi, as 32 hex digits (``None``: no bound).
    Column("lo", String(32), nullable=True),
    Column("hi", String(32), nullable=True),
    #: The build reads events with notification id <= head only; ``total`` of them in all parts.
    Column("head", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    #: The last case whose rows are written (32 hex digits), and the events read up to it.
    Column("case_cursor", String(32), nullable=True),
    Column("events", BigInteger, nullable=False),
    Column("done", Boolean, nullable=False),
    PrimaryKeyConstraint("build", "part", name="pk_projection_build_parts"),
)


# ---------------------------------------------------------------------------- projections


def _chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _select_in(conn: Connection, table: Table, column: str, keys: Sequence[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(keys):
        rows.extend(dict(r._mapping) for r in conn.execute(select(table).where(table.c[column].in_(chunk))))
    return rows


def _delete_in(conn: Connection, table: Table, column: str, keys: Sequence[Any]) -> None:
    for chunk in _chunks(keys):
        conn.execute(delete(table).where(table.c[column].in_(chunk)))


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Inserts rows in the caller's transaction.

    The same ``INSERT`` on both databases, except for large batches on PostgreSQL, which go through
    ``COPY`` on the same connection and transaction: row-by-row ``INSERT`` there costs a server round
    of parse, plan and execute per row, and a rebuild writes hundreds of thousands of rows.
    """
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) >= _COPY_FROM:
        _copy(conn, table, rows)
    else:
        conn.execute(insert(table), rows)


_COPY_FROM = 50


def _copy_converter(column: Column[Any], dialect: Any) -> Callable[[Any], Any] | None:
    """What SQLAlchemy's type processing would do to a value that is not None, for COPY (which
    bypasses it)."""
    if isinstance(column.type, Sealed):
        if getattr(dialect, "cj_sealer", None) is None:  # stored as they are: text as is, values as JSON
            return _json_dumps if column.type.json_value else str
        bind = column.type.process_bind_param
        return lambda v: bind(v, dialect)
    if isinstance(column.type, JSON):
        return _json_dumps
    if isinstance(column.type, UtcDateTime):
        utc = column.type.process_bind_param
        return lambda v: v if v.tzinfo is UTC else utc(v, None)
    return None


@dataclass(frozen=True)
class _CopyPlan:
    statement: Any
    names: list[str]
    values: Callable[[dict[str, Any]], tuple[Any, ...]]
    converters: list[tuple[int, Callable[[Any], Any]]]


def _copy_plan(table: Table, dialect: Any) -> _CopyPlan:
    """How rows of ``table`` are copied: made once per table and engine (the dialect holds the sealer)."""
    plans: dict[int, tuple[Table, _CopyPlan]] = dialect.__dict__.setdefault("cj_copy_plans", {})
    found = plans.get(id(table))
    if found is not None and found[0] is table:
        return found[1]
    from psycopg import sql

    names = [c.name for c in table.columns]
    plan = _CopyPlan(
        statement=sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(n) for n in names)
        ),
        names=names,
        values=operator.itemgetter(*names),
        converters=[(i, f) for i, c in enumerate(table.columns) if (f := _copy_converter(c, dialect)) is not None],
    )
    plans[id(table)] = (table, plan)
    return plan


def _copy(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    plan = _copy_plan(table, conn.dialect)
    names, converters = plan.names, plan.converters
    driver: Any = conn.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(plan.statement) as copy:
        for row in rows:
            try:
                values = list(plan.values(row))
            except KeyError:  # a row that leaves a nullable column out
                values = [row.get(n) for n in names]
            for i, convert in converters:
                value = values[i]
                if value is not None:
                    values[i] = convert(value)
            copy.write_row(values)


@dataclass
class ProjectionSpec:
    """How one projection (pure logic in ``projections/<name>``) is stored and fed."""

    name: str
    logic_version: int
    #: Topics it reads; ``None`` means every case event (the case version moves on each).
    topics: frozenset[str] | None
    define: Callable[[MetaData, str], list[Table]]
    #: Applies decoded events, in log order, to the tables; ``cache`` is the writer's own memory of
    #: rows it wrote (valid only while it is the sole writer; the runner clears it otherwise).
    apply: Callable[[Connection, dict[str, Table], Sequence[Item], dict[str, Any]], None]
    #: The rows of one case's whole history (in order), from nothing, by base table name: how a
    #: build in case order (``infrastructure/case_build.py``) uses the same pure code as ``apply``.
    build_case: Callable[[Sequence[Item]], dict[str, list[dict[str, Any]]]]
    #: Once every case is built: writes what sums over cases (caseload counts); ``None`` if nothing.
    finish: Callable[[Connection, dict[str, Table]], None] | None = None
    _tables: dict[str, dict[str, Table]] = field(default_factory=dict)

    def tables(self, suffix: str = "") -> dict[str, Table]:
        """The projection's tables under ``suffix``, by base name."""
        if suffix not in self._tables:
            defined = self.define(MetaData(), suffix)
            self._tables[suffix] = {t.name.removesuffix(suffix) if suffix else t.name: t for t in defined}
        return self._tables[suffix]

    def schema_version(self) -> str:
        ddl = "\n".join(str(CreateTable(t).compile(dialect=sqlite_dialect.dialect())) for t in self.tables().values())
        return hashlib.sha256(f"{self.logic_version}\n{ddl}".encode()).hexdigest()[:16]

    def wants(self, topic: str) -> bool:
        return self.topics is None or topic in self.topics


def _cached_get(
    conn: Connection, table: Table, key: str, keys: list[str], cache: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """Rows by key for ``keys``: from the writer's cache where it has them, else from the table."""
    found: dict[str, list[dict[str, Any]]] = {}
    missing = [k for k in keys if k not in cache]
    for row in _select_in(conn, table, key, missing) if missing else []:
        found.setdefault(row[key], []).append(row)
    for k in keys:
        if k in cache:
            found[k] = cache[k]
    return found


def _remember(cache: dict[str, Any], values: dict[str, Any], limit: int = 10_000) -> None:
    """Keeps the last rows written, bounded: memory stays flat however long the log is."""
    for k, v in values.items():
        cache.pop(k, None)
        cache[k] = v
    while len(cache) > limit:
        cache.pop(next(iter(cache)))


# -- team assignment


def _define_team_assignment(md: MetaData, s: str) -> list[Table]:
    t = Table(
        f"team_assignment{s}",
        md,
        Column("case_id", String(36), nullable=False),
        Column("team", String(40), nullable=False),
        Column("team_since", UtcDateTime, nullable=False),
        Column("named_caseworker_id", String(100)),
        Column("caseworker_since", UtcDateTime),
        Column("enforcement_manager_id", String(100)),
        Column("enforcement_since", UtcDateTime),
        Column("expedited_open", Boolean, nullable=False),
        Column("expedited_reasons", String(200), nullable=False),
        Column("open_pathways", JSON, nullable=False),
        Column("expedited_since", UtcDateTime),
        Column("escalation_open", Boolean, nullable=False),
        Column("open_escalations", JSON, nullable=False),
        Column("escalation_since", UtcDateTime),
        Column("acs_involved", Boolean, nullable=False),
        Column("acs_since", UtcDateTime),
        Column("removal_requested", Boolean, nullable=False),
        Column("removal_requested_since", UtcDateTime),
        Column("closed", Boolean, nullable=False),
        Column("closed_at", UtcDateTime),
        Column("case_version", Integer, nullable=False),
        Column("recorded_at", UtcDateTime, nullable=False),
        PrimaryKeyConstraint("case_id", name=f"pk_team_assignment{s}"),
    )
    Index(f"ix_team_assignment_team_caseworker{s}", t.c.team, t.c.named_caseworker_id)
    return [t]


def _apply_team_assignment(
    conn: Connection, tables: dict[str, Table], items: Sequence[Item], cache: dict[str, Any]
) -> None:
    t = tables["team_assignment"]
    keys = list(dict.fromkeys(str(e.originator_id) for _, e in items))
    stored = _cached_get(conn, t, "case_id", keys, cache)
    state: dict[str, Assignment | None] = {k: Assignment.from_row(rows[0]) for k, rows in stored.items() if rows}
    existing = [k for k in keys if k in state]
    by_case: dict[str, list[Case.Event]] = defaultdict(list)
    for _, e in items:
        by_case[str(e.originator_id)].append(e)
    for cid, events in by_case.items():
        state[cid] = team_assignment.fold(state.get(cid), events)
    rows = {k: state[k].as_row() for k in keys if state.get(k) is not None}  # type: ignore[union-attr]
    _delete_in(conn, t, "case_id", existing)
    _insert(conn, t, list(rows.values()))
    _remember(cache, {k: [r] for k, r in rows.items()})


def _case_team_assignment(items: Sequence[Item]) -> dict[str, list[dict[str, Any]]]:
    return {"team_assignment": [team_assignment.fold(None, [e for _, e in items]).as_row()]}


# -- safeguarding history


def _define_safeguarding_history(md: MetaData, s: str) -> list[Table]:
    t = Table(
        f"safeguarding_history{s}",
        md,
        Column("case_id", String(36), nullable=False),
        Column("case_version", Integer, nullable=False),
        Column("notification_id", BigInteger, nullable=False),
        Column("event_type", String(60), nullable=False),
        Column("occurred_at", UtcDateTime, nullable=False),
        Column("recorded_at", UtcDateTime, nullable=False),
        Column("actor_id", String(100), nullable=False),
        Column("actor_role", String(40), nullable=False),
        Column("what", Sealed(), nullable=False),
        Column("why", Sealed(), nullable=False),
        Column("reasons", Sealed(json_value=True), nullable=False),
        Column("criteria_met", String(400)),
        Column("policy_version", String(40)),
        Column("linked_ids", JSON, nullable=False),
        Column("correlation_id", String(36), nullable=False),
        Column("command_id", String(36), nullable=False),
        PrimaryKeyConstraint("case_id", "case_version", name=f"pk_safeguarding_history{s}"),
    )
    return [t]


def _apply_safeguarding_history(
    conn: Connection, tables: dict[str, Table], items: Sequence[Item], cache: dict[str, Any]
) -> None:
    _insert(conn, tables["safeguarding_history"], _history_rows(items))


def _history_rows(items: Sequence[Item]) -> list[dict[str, Any]]:
    rows = []
    for nid, e in items:
        row = safeguarding_history.row_for(e)
        if row is not None:
            row["notification_id"] = nid
            rows.append(row)
    return rows


def _case_safeguarding_history(items: Sequence[Item]) -> dict[str, list[dict[str, Any]]]:
    return {"safeguarding_history": _history_rows(items)}


# -- caseloads


def _define_caseloads(md: MetaData, s: str) -> list[Table]:
    members = Table(
        f"caseload_members{s}",
        md,
        Column("case_id", String(36), nullable=False),
        Column("team", String(40), nullable=False),
        Column("caseworker_id", String(100), nullable=False),
        Column("enforcement_manager_id", String(100)),
        Column("closed", Boolean, nullable=False),
        PrimaryKeyConstraint("case_id", name=f"pk_caseload_members{s}"),
    )
    counts = Table(
        f"caseloads{s}",
        md,
        Column("dimension", String(40), nullable=False),
        Column("key", String(100), nullable=False),
        Column("open_cases", Integer, nullable=False),
        PrimaryKeyConstraint("dimension", "key", name=f"pk_caseloads{s}"),
    )
    return [members, counts]


def _apply_caseloads(conn: Connection, tables: dict[str, Table], items: Sequence[Item], cache: dict[str, Any]) -> None:
    members, counts = tables["caseload_members"], tables["caseloads"]
    keys = list(dict.fromkeys(str(e.originator_id) for _, e in items))
    stored = _cached_get(conn, members, "case_id", keys, cache)
    state: dict[str, Membership | None] = {k: Membership(**rows[0]) for k, rows in stored.items() if rows}
    existing = [k for k in keys if k in state]
    before = dict(state)
    for _, e in items:
        cid = str(e.originator_id)
        state[cid] = caseloads.evolve(state.get(cid), e)
    change: Counter[tuple[str, str]] = Counter()
    for k in keys:
        change.update(caseloads.delta(before.get(k), state.get(k)))
    rows = {k: m.as_row() for k in keys if (m := state.get(k)) is not None}
    _delete_in(conn, members, "case_id", existing)
    _insert(conn, members, list(rows.values()))
    _remember(cache, {k: [r] for k, r in rows.items()})
    touched = [k for k, v in change.items() if v]
    if not touched:
        return
    now: dict[tuple[str, str], int] = {}
    for chunk in _chunks(touched):
        for r in conn.execute(select(counts).where(tuple_(counts.c.dimension, counts.c.key).in_(chunk))):
            now[(r.dimension, r.key)] = r.open_cases
    new = {k: now.get(k, 0) + change[k] for k in touched}
    negative = {k: v for k, v in new.items() if v < 0}
    if negative:
        raise ValueError(f"caseload counts would go negative: {negative}")
    for chunk in _chunks([k for k in touched if k in now]):
        conn.execute(delete(counts).where(tuple_(counts.c.dimension, counts.c.key).in_(chunk)))
    _insert(conn, counts, [{"dimension": d, "key": k, "open_cases": v} for (d, k), v in new.items() if v])


def _case_caseloads(items: Sequence[Item]) -> dict[str, list[dict[str, Any]]]:
    membership: Membership | None = None
    for _, e in items:
        membership = caseloads.evolve(membership, e)
    return {"caseload_members": [membership.as_row()] if membership else []}


def _finish_caseloads(conn: Connection, tables: dict[str, Table]) -> None:
    """The counts of a build: each member's caseloads, summed (what the live deltas add up to)."""
    members, counts = tables["caseload_members"], tables["caseloads"]
    total: Counter[tuple[str, str]] = Counter()
    for row in conn.execute(select(members).execution_options(yield_per=5000)).mappings():
        total.update(caseloads.delta(None, Membership(**row)))
    _insert(conn, counts, [{"dimension": d, "key": k, "open_cases": v} for (d, k), v in total.items() if v])


# -- expedited queue


def _define_expedited_queue(md: MetaData, s: str) -> list[Table]:
    t = Table(
        f"expedited_queue{s}",
        md,
        Column("case_id", String(36), nullable=False),
        Column("pathway_id", String(36), nullable=False),
        Column("pathway_reason", String(60), nullable=False),
        Column("opened_at", UtcDateTime, nullable=False),
        Column("due_at", UtcDateTime, nullable=False),
        Column("opened_by", String(100), nullable=False),
        Column("deadline_missed", Boolean, nullable=False),
        Column("missed_recorded_at", UtcDateTime),
        Column("escalation_id", String(36)),
        Column("escalation_open", Boolean, nullable=False),
        PrimaryKeyConstraint("case_id", "pathway_id", name=f"pk_expedited_queue{s}"),
    )
    Index(f"ix_expedited_queue_due_at{s}", t.c.due_at)
    return [t]


def _apply_expedited_queue(
    conn: Connection, tables: dict[str, Table], items: Sequence[Item], cache: dict[str, Any]
) -> None:
    t = tables["expedited_queue"]
    keys = list(dict.fromkeys(str(e.originator_id) for _, e in items))
    stored = _cached_get(conn, t, "case_id", keys, cache)
    entries: dict[str, dict[str, QueueEntry]] = defaultdict(dict)
    for k, rows in stored.items():
        for row in rows:
            entries[k][row["pathway_id"]] = QueueEntry.from_row(row)
    existing = [k for k in keys if entries.get(k)]
    for _, e in items:
        _queue_step(entries[str(e.originator_id)], e)
    by_case = {k: [q.as_row() for q in entries[k].values()] for k in keys}
    _delete_in(conn, t, "case_id", existing)
    _insert(conn, t, [r for rs in by_case.values() for r in rs])
    _remember(cache, by_case)


def _queue_step(entries: dict[str, QueueEntry], event: Case.Event) -> None:
    upserts, deletions = expedited_queue.change_for(entries, event)
    for q in upserts:
        entries[q.pathway_id] = q
    for _, pid in deletions:
        entries.pop(pid, None)


def _case_expedited_queue(items: Sequence[Item]) -> dict[str, list[dict[str, Any]]]:
    entries: dict[str, QueueEntry] = {}
    for _, e in items:
        _queue_step(entries, e)
    return {"expedited_queue": [q.as_row() for q in entries.values()]}


PROJECTIONS: dict[str, ProjectionSpec] = {
    spec.name: spec
    for spec in (
        ProjectionSpec(
            team_assignment.NAME,
            team_assignment.LOGIC_VERSION,
            None,
            _define_team_assignment,
            _apply_team_assignment,
            _case_team_assignment,
        ),
        ProjectionSpec(
            safeguarding_history.NAME,
            safeguarding_history.LOGIC_VERSION,
            safeguarding_history.TOPICS,
            _define_safeguarding_history,
            _apply_safeguarding_history,
            _case_safeguarding_history,
        ),
        ProjectionSpec(
            caseloads.NAME,
            caseloads.LOGIC_VERSION,
            caseloads.TOPICS,
            _define_caseloads,
            _apply_caseloads,
            _case_caseloads,
            _finish_caseloads,
        ),
        ProjectionSpec(
            expedited_queue.NAME,
            expedited_queue.LOGIC_VERSION,
            expedited_queue.TOPICS,
            _define_expedited_queue,
            _apply_expedited_queue,
            _case_expedited_queue,
        ),
    )
}


# ---------------------------------------------------------------------------- queries for readers


def team_assignment_of(conn: Connection, case_id: str) -> dict[str, Any] | None:
    t = PROJECTIONS["team_assignment"].tables()["team_assignment"]
    row = conn.execute(select(t).where(t.c.case_id == case_id)).first()
    return dict(row._mapping) if row else None


def safeguarding_history_of(conn: Connection, case_id: str) -> list[dict[str, Any]]:
    t = PROJECTIONS["safeguarding_history"].tables()["safeguarding_history"]
    rows = conn.execute(select(t).where(t.c.case_id == case_id).order_by(t.c.case_version))
    return [dict(r._mapping) for r in rows]


def caseloads_by(conn: Connection, dimension: str) -> dict[str, int]:
    """Open cases per team (``"team"``), named caseworker (``"caseworker"``) or enforcement manager."""
    t = PROJECTIONS["caseloads"].tables()["caseloads"]
    rows = conn.execute(select(t.c.key, t.c.open_cases).where(t.c.dimension == dimension).order_by(t.c.key))
    return {r.key: r.open_cases for r in rows}


def expedited_queue_rows(conn: Connection) -> list[dict[str, Any]]:
    """Open expedited pathways, the one due first first."""
    t = PROJECTIONS["expedited_queue"].tables()["expedited_queue"]
    rows = conn.execute(select(t).order_by(t.c.due_at, t.c.case_id, t.c.pathway_id))
    return [dict(r._mapping) for r in rows]
