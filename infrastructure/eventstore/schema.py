"""The store's schema as an explicit, versioned step: ``casejourney db upgrade``.

Every table that is not derived data (the events and their chain, the append functions, the
person keys, the Merkle tree and checkpoints, the access log, the projections' tracking tables) is
made by ``upgrade``, which then records the schema version in ``casejourney_schema``. Opening a
store reads that version first, with no DDL (a plain ``SELECT``, on SQLite a read-only
connection), and when it is current nothing at all is created: a hot standby, a reader role or a
read-only evidence copy can be opened. A store that is missing its schema, or has an older one, is
refused with one sentence naming ``casejourney db upgrade`` (``mode="require"``: the CLI and the
service on PostgreSQL); the embedded default upgrades itself on first use (``mode="auto"``).

The component that owns a table makes it: ``CaseJourney`` the events, their chain and the side
tables, ``AccessLog`` its own; each stamps its row. ``infrastructure/audit/schema_upgrade.py`` runs
them all, and the read models' tracking tables, under one lock (``casejourney db upgrade``).

Why not Alembic: the DDL here is the ``eventsourcing`` library's own (its tables, composite type
and functions, made by its recorders), ours beside it in two dialects with per-schema names, and
PL/pgSQL bodies; an Alembic migration would call the same code from a second tree of version files.
One integer per store, each step idempotent under one lock, says what the issue asks of a version
(docs/operations.md).
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from eventsourcing.persistence import PersistenceError

from infrastructure.settings import Settings

#: This release's schema. 0 is a store made before versions were recorded (every table made on
#: open, the same tables as version 1): upgrading it adds this table and changes no byte else.
SCHEMA_VERSION = 1

TABLE = "casejourney_schema"

#: What is versioned: the case store, and the access log (on SQLite a file of its own).
COMPONENTS = ("cases", "access")

Mode = Literal["auto", "require", "create"]


class SchemaNotCurrent(PersistenceError):
    """The store's schema is missing, older or newer than this release's: one sentence, for the operator."""


@dataclass(frozen=True)
class Upgrade:
    store: str
    before: dict[str, int | None]
    after: int
    granted: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(v != self.after for v in self.before.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "before": self.before,
            "after": self.after,
            "changed": self.changed,
            "granted": self.granted,
        }


def access_log_path(settings: Settings) -> Path:
    path = settings.sqlite_path
    return path.with_name(f"{path.stem}-access-log{path.suffix or '.sqlite'}")


def _sqlite_file(settings: Settings, component: str) -> Path:
    return settings.sqlite_path if component == "cases" else access_log_path(settings)


def stored_version(settings: Settings, component: str = "cases") -> int | None:
    """The schema version recorded for ``component``; 0 for a store made before versions were kept,
    ``None`` for none at all. Reads only: nothing is created, on a standby or a read-only file too."""
    if settings.store == "sqlite":
        path = _sqlite_file(settings, component)
        if not path.exists() or path.stat().st_size == 0:
            return None
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            try:
                names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            except sqlite3.OperationalError:
                # A WAL file on read-only media with no -shm beside it (an evidence copy) opens only as
                # immutable: nothing can write it, so nothing is missed by not watching for writers.
                conn.close()
                conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
                names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if TABLE in names:
                row = conn.execute(f"SELECT version FROM {TABLE} WHERE component = ?", (component,)).fetchone()
                return int(row[0]) if row else 0
            return 0 if names else None
        finally:
            conn.close()
    import psycopg

    schema = settings.postgres_schema
    with _connect(settings) as conn:
        try:
            found_table = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".{TABLE}',)).fetchone()[0]
        except psycopg.errors.InsufficientPrivilege:
            user = settings.postgres_params()["user"]
            raise SchemaNotCurrent(
                f"the role {user} may not use the schema {schema or 'public'} ({settings.describe_store()}):"
                f" the owner grants it with `casejourney db upgrade --grant-writer {user}` (or --grant-reader)"
            ) from None
        if found_table is not None:
            row = conn.execute(
                psycopg.sql.SQL("SELECT version FROM {}.{} WHERE component = %s").format(
                    psycopg.sql.Identifier(schema), psycopg.sql.Identifier(TABLE)
                ),
                (component,),
            ).fetchone()
            return int(row[0]) if row else 0
        found = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchone()
        return 0 if found and found[0] else None


def _connect(settings: Settings, *, autocommit: bool = False) -> Any:
    """A plain connection, made before any pool: a server that refuses (no such role or database, a
    bad password, nothing listening) is reported at once in the driver's own words, where a pool
    would wait out its timeout and say only that it got no connection."""
    import psycopg

    params: Any = settings.postgres_params()
    try:
        return psycopg.connect(autocommit=autocommit, connect_timeout=settings.postgres_connect_timeout, **params)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()).removeprefix("connection failed: ")
        raise PersistenceError(f"the server refused the connection: {reason}") from None


def _describe(version: int | None) -> str:
    if version is None:
        return "has no schema"
    if version == 0:
        return "has the schema of a release before versions were recorded"
    return f"is at schema version {version}"


def check(settings: Settings, mode: Mode, component: str = "cases") -> bool:
    """Whether opening ``component`` of this store runs its DDL (and then ``stamp``s it): ``create``
    always (``db upgrade``), ``auto`` when the schema is missing or older (the embedded default, so one
    command starts the service); ``require`` refuses such a schema instead. A current schema: no DDL.
    A schema newer than this release is always refused."""
    if mode == "create":
        if settings.store == "postgres":
            _connect(settings).close()  # a refusal in the driver's words, before the library's pool
        return True
    version = stored_version(settings, component)  # on PostgreSQL, the first connection: see ``_connect``
    if version == SCHEMA_VERSION:
        return False
    where = settings.describe_store()
    if version is not None and version > SCHEMA_VERSION:
        raise SchemaNotCurrent(
            f"the store ({where}) is at schema version {version}, newer than this release's"
            f" ({SCHEMA_VERSION}): run the casejourney release that upgraded it"
        )
    if mode == "require":
        raise SchemaNotCurrent(
            f"the store ({where}) {_describe(version)}; this release needs version {SCHEMA_VERSION}:"
            " run `casejourney db upgrade` (as the database's owner) first"
        )
    return True  # auto: the opener makes its tables, then stamps them (``stamp``)


@contextmanager
def upgrade_lock(settings: Settings) -> Iterator[None]:
    """One upgrade at a time: a session advisory lock on PostgreSQL, an ``flock`` beside the SQLite file."""
    if settings.store == "sqlite":
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{settings.sqlite_path}.upgrade.lock", "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        return
    with _connect(settings, autocommit=True) as conn:
        key = f"casejourney-upgrade:{settings.postgres_schema}"
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        try:
            from psycopg.sql import SQL, Identifier

            # The owner's upgrade makes the schema itself too: a new database needs nothing else.
            # (Looked for first: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even so.)
            name = settings.postgres_schema or "public"
            if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchone() is None:
                conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(name)))
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


def stamp(settings: Settings, component: str) -> None:
    at = datetime.now(UTC).isoformat(timespec="seconds")
    create = (
        "CREATE TABLE IF NOT EXISTS {t} (component TEXT PRIMARY KEY, version INTEGER NOT NULL,"
        " upgraded_at TEXT NOT NULL)"
    )
    if settings.store == "sqlite":
        lite = sqlite3.connect(_sqlite_file(settings, component))
        try:
            with lite:
                lite.execute(create.format(t=TABLE))
                lite.execute(
                    f"INSERT INTO {TABLE} (component, version, upgraded_at) VALUES (?, ?, ?) ON CONFLICT (component)"
                    " DO UPDATE SET version = excluded.version, upgraded_at = excluded.upgraded_at",
                    (component, SCHEMA_VERSION, at),
                )
        finally:
            lite.close()
        return
    from psycopg.sql import SQL, Identifier

    table = SQL("{}.{}").format(Identifier(settings.postgres_schema), Identifier(TABLE))
    with _connect(settings) as conn:
        conn.execute(SQL(create).format(t=table))
        conn.execute(
            SQL(
                "INSERT INTO {t} (component, version, upgraded_at) VALUES (%s, %s, %s) ON CONFLICT (component)"
                " DO UPDATE SET version = excluded.version, upgraded_at = excluded.upgraded_at"
            ).format(t=table),
            (component, SCHEMA_VERSION, at),
        )


def service_mode(settings: Settings, *, writes: bool) -> Mode:
    """How the CLI and the service open a store: the embedded SQLite default upgrades itself when a
    command writes (so one command starts it on a fresh machine); PostgreSQL, and every command that
    only reads, require the schema to be this release's and do no DDL."""
    return "auto" if writes and settings.store == "sqlite" else "require"


def read_mode(settings: Settings) -> Mode:
    """How a read command opens the access log: no DDL on PostgreSQL (a standby, a reader role); on
    SQLite the file is made when missing, as a store made before the access log had one."""
    return "require" if settings.store == "postgres" else "auto"


#: Tables no role but the owner may change a row of: the logs are appended to, never edited.
APPEND_ONLY = ("casejourney_events", "accesslog_events")


def check_roles(settings: Settings, *, writer: str | None, reader: str | None) -> None:
    """Refuses, before anything is made, to grant rights to a role that does not exist."""
    with _connect(settings) as conn:
        for role, kind in ((writer, "writer"), (reader, "reader")):
            if (
                role is not None
                and conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None
            ):
                raise SchemaNotCurrent(
                    f"there is no PostgreSQL role {role!r} to grant the {kind}'s rights to: create it first"
                    f" (CREATE ROLE {role} LOGIN), then run `casejourney db upgrade` again"
                )


def grant_roles(settings: Settings, *, writer: str | None, reader: str | None) -> list[str]:
    """The grants of the three roles (docs/operations.md), for the tables ``db upgrade`` made and, by
    default privileges, for those the owner makes later (a read model's rebuild): the writer may
    read everywhere, append to the logs only through their append functions, and insert, update and
    delete outside the logs (a chain head, a key shredded on erasure, a read model); the reader may
    only read. Neither may make or alter a table. Returns what was granted, in words."""
    from psycopg.sql import SQL, Identifier

    schema = Identifier(settings.postgres_schema or "public")
    said: list[str] = []
    with _connect(settings, autocommit=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (settings.postgres_schema or "public",),
            )
        ]
        for role, kind in ((writer, "writer"), (reader, "reader")):
            if role is None:
                continue
            r = Identifier(role)
            conn.execute(SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, r))
            conn.execute(SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(schema, r))
            if kind == "reader":
                conn.execute(SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema, r))
                conn.execute(
                    SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(schema, r)
                )
                said.append(f"{role}: reads every table; changes none")
                continue
            conn.execute(SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(schema, r))
            conn.execute(
                SQL(
                    "ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
                ).format(schema, r)
            )
            # The logs take rows only through the append functions (which chain them); the schema
            # version is the owner's. A row inserted by hand would skip the chain: refused.
            for name in [*APPEND_ONLY, TABLE]:
                if name in names:
                    table = SQL("{}.{}").format(schema, Identifier(name))
                    conn.execute(SQL("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(table, r))
            conn.execute(SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, r))
            conn.execute(
                SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT USAGE, SELECT ON SEQUENCES TO {}").format(schema, r)
            )
            conn.execute(SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {} TO {}").format(schema, r))
            # The append functions lock their log (one appender at a time, so positions are gapless),
            # which PostgreSQL 15 allows only to a role that may update it: they run as the owner, on a
            # fixed search path, so the writer appends through them and edits nothing.
            for (function,) in conn.execute(
                "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = %s AND p.proname LIKE '%%\\_append%%'",
                (settings.postgres_schema or "public",),
            ).fetchall():
                conn.execute(
                    SQL("ALTER FUNCTION {} SECURITY DEFINER SET search_path = {}, pg_temp").format(
                        SQL(function), schema
                    )
                )
                # Running as the owner, it is the writer's alone: not PUBLIC's, as functions are by default.
                conn.execute(SQL("REVOKE EXECUTE ON FUNCTION {} FROM PUBLIC").format(SQL(function)))
                conn.execute(SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(SQL(function), r))
            said.append(f"{role}: reads and appends; edits no event of the logs; makes no table")
    return said
