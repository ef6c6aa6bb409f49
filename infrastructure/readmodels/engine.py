"""What every read model shares: the engine, column types, the sealer, the tracking tables, batch helpers.

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
import json
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from eventsourcing.utils import Environment
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
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
)
from sqlalchemy.engine import URL
from sqlalchemy.types import TypeDecorator

from domain.case.aggregate import Case
from infrastructure.eventstore.crypto import KeyringCipher
from infrastructure.eventstore.keys import key_material
from infrastructure.files import create_private_file, sqlite_database_name
from infrastructure.settings import Settings

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
    """Free text of the read models (what, why, reasons), sealed under the store's payload keyring
    (on by default, ``eventstore/keys.py``), so no payload text lies in the database in clear
    (docs/threat-model.md).

    The sealer is set on the engine's dialect by ``make_engine``; with payload encryption turned
    off values are stored as they are. Rows are compared by ``verify`` after reading, so random nonces are fine.
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
        create_private_file(settings.sqlite_path)
        name = sqlite_database_name(settings.sqlite_path)  # a read-only evidence copy: opened to read
        engine = create_engine(
            f"sqlite+pysqlite:///{name}&uri=true" if name.startswith("file:") else f"sqlite+pysqlite:///{name}",
            connect_args={"timeout": 30},
            json_serializer=_json_dumps,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, say where transactions begin (the sqlite3
            # module would otherwise run DDL outside any transaction, and a swap must be atomic).
            dbapi_connection.isolation_level = None
            # The read models are derived: their rows and their position commit together, so a
            # commit lost to a power cut is lost whole and projected again from the log; they need
            # no fsync of their own (WAL + NORMAL syncs at checkpoints). Each batch was four fsyncs
            # the appends waited behind: a command's p90 over HTTP with the runner beside the
            # workers went from 15-16 ms to 9-12 ms (SQLite, 2 workers, wrk -c1, 3 runs each).
            dbapi_connection.execute("PRAGMA synchronous = NORMAL")

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # IMMEDIATE takes the write lock up front: two writers never deadlock on an upgrade.
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return _with_sealer(engine, settings)

    pg = settings.postgres_params()
    url = URL.create("postgresql+psycopg", username=pg["user"], password=pg["password"] or None, database=pg["dbname"])
    # Host and port as libpq's keywords: a multi-host list ("h1,h2") and its other keywords pass through.
    keywords = {k: v for k, v in pg.items() if k not in ("user", "password", "dbname")}
    engine = create_engine(
        url,
        json_serializer=_json_dumps,
        pool_pre_ping=True,
        connect_args={"connect_timeout": int(settings.postgres_connect_timeout), **keywords},
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
    keys = key_material(settings)
    if keys.payload is not None:
        engine.dialect.cj_sealer = ReadModelSealer(keys.payload)  # type: ignore[attr-defined]
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
#: ``infrastructure/readmodels/case_build.py``); one row per build and part says how far the part has got.
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


def chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def select_in(conn: Connection, table: Table, column: str, keys: Sequence[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for chunk in chunks(keys):
        rows.extend(dict(r._mapping) for r in conn.execute(select(table).where(table.c[column].in_(chunk))))
    return rows


def delete_in(conn: Connection, table: Table, column: str, keys: Sequence[Any]) -> None:
    for chunk in chunks(keys):
        conn.execute(delete(table).where(table.c[column].in_(chunk)))


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Inserts rows in the caller's transaction.

    The same ``INSERT`` on both databases, except for large batches on PostgreSQL, which go through
    ``COPY`` on the same connection and transaction: row-by-row ``INSERT`` there costs a server round
    of parse, plan and execute per row, and a rebuild writes hundreds of thousands of rows.
    """
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) >= _COPY_FROM:
        copy_rows(conn, table, rows)
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


def copy_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
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


def cached_get(
    conn: Connection, table: Table, key: str, keys: list[str], cache: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """Rows by key for ``keys``: from the writer's cache where it has them, else from the table."""
    found: dict[str, list[dict[str, Any]]] = {}
    missing = [k for k in keys if k not in cache]
    for row in select_in(conn, table, key, missing) if missing else []:
        found.setdefault(row[key], []).append(row)
    for k in keys:
        if k in cache:
            found[k] = cache[k]
    return found


def remember(cache: dict[str, Any], values: dict[str, Any], limit: int = 10_000) -> None:
    """Keeps the last rows written, bounded: memory stays flat however long the log is."""
    for k, v in values.items():
        cache.pop(k, None)
        cache[k] = v
    while len(cache) > limit:
        cache.pop(next(iter(cache)))
