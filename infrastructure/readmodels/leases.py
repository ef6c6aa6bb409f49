"""One writer per projection: a lease held for a runner's whole life.

A PostgreSQL session advisory lock, or on SQLite an ``flock`` on a file beside the database. Both
die with the process, so a killed runner never blocks its successor. A second runner waits
(``acquire_lease(wait=...)``) or stops with ``LeaseHeld`` naming the holder.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import time
from typing import Any, Protocol

import psycopg

from infrastructure.eventstore.application import utc_now
from infrastructure.readmodels.errors import LeaseHeld
from infrastructure.settings import Settings


class Lease(Protocol):
    def check(self) -> None:
        """Raises if the lease is no longer held (its session ended): an outage, for the runner."""

    def release(self) -> None: ...


def _who() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()} since {utc_now().isoformat(timespec='seconds')}"


class _FileLease:
    """SQLite: an exclusive ``flock`` on ``<db>.<name>.lock`` (released by the OS when the process dies)."""

    def __init__(self, path: str, name: str) -> None:
        self.path = f"{path}.{name}.lock"
        self.file = open(self.path, "a+")  # noqa: SIM115 - held open for the lease's life
        try:
            fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            raise LeaseHeld(f"{name} is already being written by {holder}; not starting a second writer.") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(_who())
        self.file.flush()

    def check(self) -> None:
        """An ``flock`` lasts as long as the open file: nothing can take it from a live process."""

    def release(self) -> None:
        if not self.file.closed:
            fcntl.flock(self.file.fileno(), fcntl.LOCK_UN)
            self.file.close()


def advisory_key(schema: str, name: str) -> int:
    digest = hashlib.blake2b(f"casejourney-projection:{schema}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


#: Who holds an advisory lock (application name, backend pid): read without taking the lock.
_HOLDER = (
    "SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND ((l.classid::bigint << 32) | l.objid::bigint) = (%s::bigint & x'FFFFFFFFFFFFFFFF'::bigint)"
)

#: ``lease_is_held`` on SQLite takes the lease for an instant to test it; a process starting at that
#: instant retries for this long before it concludes that another writer holds the lease.
PROBE_GRACE = 1.0


class _AdvisoryLease:
    """PostgreSQL: a session advisory lock on a connection of its own, held for the lease's life."""

    def __init__(self, settings: Settings, name: str) -> None:
        pg = settings.postgres_params()
        key = advisory_key(settings.postgres_schema, name)
        self.conn = psycopg.connect(
            autocommit=True,
            application_name=f"casejourney {name} {_who()}"[:63],
            **pg,  # type: ignore[arg-type]
        )
        got = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if not got or not got[0]:
            holder = self.conn.execute(_HOLDER, (key,)).fetchone()
            self.conn.close()
            who = f"{holder[0]} (backend {holder[1]})" if holder else "another session"
            raise LeaseHeld(f"{name} is already being written by {who}; not starting a second writer.")

    def check(self) -> None:
        self.conn.execute("SELECT 1")  # psycopg.OperationalError once the session is gone

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.close()  # closing the session releases the lock


def acquire_lease(settings: Settings, name: str, *, wait: float = 0.0) -> Lease:
    """The single-writer lease of ``name``; waits up to ``wait`` seconds (at least ``PROBE_GRACE``),
    then raises ``LeaseHeld``."""
    deadline = time.monotonic() + max(wait, PROBE_GRACE)
    while True:
        try:
            return _try_lease(settings, name)
        except LeaseHeld:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _try_lease(settings: Settings, name: str) -> Lease:
    if settings.store == "sqlite":
        return _FileLease(str(settings.sqlite_path), name)
    return _AdvisoryLease(settings, name)


def lease_is_held(settings: Settings, name: str) -> bool:
    """Whether a process holds ``name`` now. On PostgreSQL it only looks (``pg_locks``); on SQLite
    it takes the lease for an instant, which ``acquire_lease``'s grace covers."""
    if settings.store != "sqlite":
        pg: Any = settings.postgres_params()
        with psycopg.connect(autocommit=True, **pg) as conn:
            return conn.execute(_HOLDER, (advisory_key(settings.postgres_schema, name),)).fetchone() is not None
    try:
        _try_lease(settings, name).release()
    except LeaseHeld:
        return True
    except OSError:  # a folder this process may not write (a read-only evidence copy): look only
        return _file_lease_is_held(f"{settings.sqlite_path}.{name}.lock")
    return False


def _file_lease_is_held(path: str) -> bool:
    """Whether another process holds the ``flock`` of ``path``, opened to read (no lock file: no writer)."""
    try:
        with open(path) as file:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False
