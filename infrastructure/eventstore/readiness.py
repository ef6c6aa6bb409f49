"""Whether the store can take a command now: what ``/readyz`` means by ready.

Reaching the database is not enough: a SQLite file on a full disk or on read-only media, a
PostgreSQL standby (in recovery), sessions that are read-only, or a role that may not append all
answer reads and refuse the next command. ``cannot_take_a_command`` says which, in one sentence,
or ``None`` when a command can be taken. It writes nothing.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import psycopg
from psycopg.sql import SQL, Identifier

from infrastructure.settings import Settings

#: Below this much free space on the SQLite file's disk, the next command may not fit: a command
#: writes a few KiB (its event, chain link and Merkle nodes, as pages of the write-ahead log).
MIN_FREE_BYTES = 64 << 10


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def cannot_take_a_command(settings: Settings, events_table: str = "stored_events") -> str | None:
    if settings.store == "sqlite":
        return _sqlite(settings.sqlite_path)
    return _postgres(settings, events_table)


def _sqlite(path: Path) -> str | None:
    where = _existing(path)
    disk = os.statvfs(where)
    if disk.f_flag & os.ST_RDONLY:
        return f"the SQLite file {path} is on a read-only file system"
    if path.exists() and not os.access(path, os.W_OK):
        return f"the SQLite file {path} is read-only"
    free = disk.f_bavail * disk.f_frsize
    if free < MIN_FREE_BYTES:
        return (
            f"the disk holding {path} has {free // 1024} KiB free; a command needs at least"
            f" {MIN_FREE_BYTES // 1024} KiB"
        )
    if path.exists():
        conn = sqlite3.connect(path, timeout=2)
        try:
            conn.execute("BEGIN IMMEDIATE")  # the write lock, taken and let go: no page written
            conn.rollback()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):  # a busy store is still a working one
                return f"the SQLite file {path} cannot take a write: {exc}"
        finally:
            conn.close()
    return None


def _postgres(settings: Settings, events_table: str) -> str | None:
    params: dict[str, str] = settings.postgres_params()
    with psycopg.connect(**params, connect_timeout=2, autocommit=True) as conn:  # type: ignore[arg-type]
        # Events are appended only through the log's append function (the writer may not insert
        # by hand: docs/operations.md), so it is the right to run it that makes a role a writer.
        append = f'"{settings.postgres_schema}".{events_table}_append1(uuid,bigint,text,bytea)'
        row = conn.execute(
            "SELECT pg_is_in_recovery(), current_setting('transaction_read_only'), current_user,"
            " to_regprocedure(%s) IS NOT NULL AND has_function_privilege(to_regprocedure(%s), 'EXECUTE')",
            (append,) * 2,
        ).fetchone()
        assert row is not None
        in_recovery, read_only, user, may_append = row
        if in_recovery:
            return "the PostgreSQL server is a standby (in recovery): commands go to the primary"
        if read_only == "on":
            return "PostgreSQL sessions are read-only here (default_transaction_read_only)"
        if not may_append:
            table = SQL("{}.{}").format(Identifier(settings.postgres_schema), Identifier(events_table)).as_string(conn)
            return f"the role {user} may not append to {table}"
    return None
