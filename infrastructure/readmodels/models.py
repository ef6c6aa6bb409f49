"""``ReadModels``: the read-model tables kept from the log: catch up, rebuild, verify, swap, status.

Exactly once: each batch writes its view rows and the projection's new position in ONE
transaction, after re-reading (and, on PostgreSQL, locking) the tracking row; if the position is
not the one the batch was prepared from, nothing is written and the batch is prepared again. A
crash, even ``kill -9``, loses at most an uncommitted batch, which is read again on restart.

No gap: the runner tracks the highest notification id it has processed. That is safe only because
the write path (``infrastructure/eventstore/store.py`` on PostgreSQL, the single writer of SQLite) commits
events in notification-id order: an id is never made visible after a higher one.

One writer per projection: a runner holds a lease for its whole life (a PostgreSQL session advisory
lock; on SQLite an ``flock`` on a file beside the database). Both die with the process, so a
killed runner never blocks its successor. A second runner waits (``wait_for_lease``) or stops with
a message naming the holder. The position check above is the second line of defence.

An event it cannot process stops the projection with a report (which event, which case, which
error) kept in the tracking table and shown by ``projections status``; nothing is skipped. Events
of other aggregates (topics outside ``casejourney.case:``) are skipped by topic, explicitly.
"""

from __future__ import annotations

import contextlib
import gc
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy.exc
from eventsourcing.persistence import Notification
from sqlalchemy import Connection, Engine, String, inspect, select, text, update
from sqlalchemy import insert as sa_insert

from domain.case.aggregate import Case
from infrastructure.eventstore.application import CaseJourney, utc_now
from infrastructure.eventstore.decoding import CaseEventDecoder, collector_paused
from infrastructure.eventstore.write_gate import WriteGate
from infrastructure.files import sqlite_database_name
from infrastructure.readmodels import case_build
from infrastructure.readmodels.engine import Item, build_parts, infra_metadata, make_engine, reading, tracking
from infrastructure.readmodels.errors import (
    ApplyFailed,
    ProjectionError,
    ProjectionStopped,
    RebuildNeeded,
    is_outage,
    report_failure,
)
from infrastructure.readmodels.feed import decode_notifications
from infrastructure.readmodels.leases import acquire_lease, advisory_key, lease_is_held
from infrastructure.readmodels.registry import PROJECTIONS
from infrastructure.readmodels.spec import ProjectionSpec
from infrastructure.settings import Settings

DEFAULT_BATCH = 2000


@dataclass(frozen=True)
class Status:
    name: str
    position: int
    head: int
    schema_ok: bool
    updated_at: datetime | None
    error: str | None
    running: bool
    build_position: int | None
    #: (events built, events to build) of a build in progress in case order, else ``None``.
    build_progress: tuple[int, int] | None = None

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


class ReadModels:
    """The read models of one store: creates what is missing, runs, rebuilds, verifies, reports."""

    def __init__(
        self, app: CaseJourney, settings: Settings | None = None, *, engine: Engine | None = None, create: bool = True
    ) -> None:
        """``create=False`` only reads (a reader role, a standby): nothing missing is made."""
        self.app = app
        self.settings = settings or app.settings
        self.engine = engine or make_engine(self.settings)
        # On SQLite the runner's batches queue with the service's appends at the file's write gate.
        self.gate = WriteGate(
            sqlite_database_name(self.settings.sqlite_path) if self.settings.store == "sqlite" else ":memory:", 30.0
        )
        self.caches: dict[str, dict[str, Any]] = {name: {} for name in PROJECTIONS}
        self.decoder = CaseEventDecoder(app)
        if create:
            self._ensure()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ReadModels:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema

    def _ensure(self) -> None:
        """Creates the tracking table and, for a projection never built, its empty live tables.

        A store that has them all is opened by reading only: no write transaction is begun, so the
        read models open on a file or a role that cannot be written (a full disk, a read-only
        mount: the service then still answers its reads)."""
        if self._complete():
            return
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Two processes starting at once would race on CREATE TABLE (a duplicate type error):
                # serialize schema creation, for this transaction only.
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": advisory_key(self.settings.postgres_schema, "ddl")},
                )
            infra_metadata.create_all(conn, checkfirst=True)
            known = {r.name for r in conn.execute(select(tracking.c.name))}
            for spec in PROJECTIONS.values():
                if spec.name in known:
                    continue
                for table in spec.tables().values():
                    table.create(conn, checkfirst=True)
                conn.execute(
                    sa_insert(tracking).values(
                        name=spec.name, position=0, schema_version=spec.schema_version(), table_suffix=""
                    )
                )

    def _complete(self) -> bool:
        """Whether the tracking table and a row for every projection exist (read only)."""
        try:
            with reading(self.engine.connect()) as conn:
                if not inspect(conn).has_table(tracking.name, schema=tracking.schema):
                    return False
                known = {r.name for r in conn.execute(select(tracking.c.name))}
        except sqlalchemy.exc.OperationalError:
            return False  # not even readable: the write path below says why
        return known >= set(PROJECTIONS)

    def _row(self, conn: Connection, name: str, *, lock: bool = False) -> Any:
        query = select(tracking).where(tracking.c.name == name)
        return conn.execute(query.with_for_update() if lock else query).first()

    def positions(self, names: Sequence[str] | None = None) -> dict[str, int]:
        with reading(self.engine.connect()) as conn:
            rows = conn.execute(select(tracking.c.name, tracking.c.position)).all()
        wanted = set(names or PROJECTIONS)
        return {r.name: r.position for r in rows if r.name in wanted}

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    # -- running

    def catch_up(
        self,
        names: Sequence[str] | None = None,
        *,
        batch_size: int = DEFAULT_BATCH,
        until: int | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Processes the log until the named projections reach the head (or ``until``); returns events read."""
        specs = [PROJECTIONS[n] for n in names or PROJECTIONS]
        with reading(self.engine.connect()) as conn:
            rows = conn.execute(select(tracking.c.name, tracking.c.schema_version)).all()
            versions: dict[str, str] = {r.name: r.schema_version for r in rows}
            for spec in specs:
                if versions.get(spec.name) != spec.schema_version():
                    raise RebuildNeeded(
                        f"{spec.name}: the live tables were built by another version of the projection;"
                        f" run `casejourney projections rebuild {spec.name}`."
                    )
            conn.rollback()
        total = batches = 0
        with collector_paused():  # returns at the head: a backlog is decoded twice as fast
            while stop is None or not stop.is_set():
                positions = self.positions([s.name for s in specs])
                start = min(positions.values()) + 1
                if until is not None and start > until:
                    break
                notifications = self.app.recorder.select_notifications(start, batch_size)
                if not notifications:
                    break
                decoded = decode_notifications(self.decoder, notifications)
                self._commit_batches(specs, positions, notifications, decoded)
                total += len(notifications)
                batches += 1
                if batches % 8 == 0:
                    gc.collect(1)
        return total

    def _commit_batches(
        self,
        specs: Sequence[ProjectionSpec],
        positions: dict[str, int],
        notifications: Sequence[Notification],
        decoded: Sequence[tuple[int, str, Case.Event | None]],
    ) -> None:
        """One batch for every projection, in ONE transaction: each still compared and set on its own
        tracking row, so exactly once holds per projection. On SQLite that is one write lock, one read
        of the tracking rows, one update and one commit per batch, not one of each per projection:
        the appends of the service beside the runner waited behind them all, on SQLite's busy handler.

        If any projection fails, the whole transaction is rolled back and the batch is written again
        one projection at a time, so the failure is found, reported and stops that projection only."""
        last = notifications[-1].id
        try:
            with self.gate.held(), self.engine.begin() as conn:
                query = select(tracking).where(tracking.c.name.in_([s.name for s in specs])).with_for_update()
                rows = {r.name: r for r in conn.execute(query)}
                moved = []
                for spec in specs:
                    expected = positions[spec.name]
                    if last <= expected:
                        continue
                    if self._apply_one(conn, spec, "", rows.get(spec.name), expected, decoded) is not None:
                        moved.append(spec.name)  # even with no event it reads: it has passed them
                if moved:
                    conn.execute(
                        update(tracking)
                        .where(tracking.c.name.in_(moved))
                        .values(position=last, updated_at=utc_now(), error=None, error_at=None)
                    )
            return
        except ApplyFailed as failed:
            for spec in specs:
                self.caches.get(spec.name, {}).clear()  # they may hold rows of the rolled-back batch
            if is_outage(failed.cause):
                raise failed.cause from None
        except BaseException:
            for spec in specs:
                self.caches.get(spec.name, {}).clear()
            raise
        for spec in specs:  # one failed: each on its own, so the one that fails is found and reported
            self._commit_batch(spec, "", spec.name, positions[spec.name], notifications, decoded)

    def _commit_batch(
        self,
        spec: ProjectionSpec,
        suffix: str,
        tracking_name: str,
        expected: int,
        notifications: Sequence[Notification],
        decoded: Sequence[tuple[int, str, Case.Event | None]],
        *,
        conn: Connection | None = None,
    ) -> bool:
        """Writes one batch and the new position in one transaction; False if the position moved.

        With ``conn``, writes inside the caller's transaction (a swap or a verify holding its lock).
        """
        last = notifications[-1].id
        if last <= expected:
            return True
        cache = self.caches.setdefault(spec.name + suffix, {})
        own_transaction = conn is None
        try:
            with contextlib.ExitStack() as stack:
                if conn is None:
                    stack.enter_context(self.gate.held())
                    conn = stack.enter_context(self.engine.begin())
                row = self._row(conn, tracking_name, lock=True)
                if self._apply_one(conn, spec, suffix, row, expected, decoded) is None:
                    return False  # leaving the block on ApplyFailed rolls the batch back
                conn.execute(
                    update(tracking)
                    .where(tracking.c.name == tracking_name)
                    .values(position=last, updated_at=utc_now(), error=None, error_at=None)
                )
                return True
        except ApplyFailed as failed:
            cache.clear()  # it may hold rows of the rolled-back batch
            if is_outage(failed.cause):
                raise failed.cause from None  # the database went away: not this batch's fault
            if not own_transaction:
                raise ProjectionStopped(report_failure(spec.name, notifications[0], failed.cause)) from failed.cause
            items = _items(spec, expected, decoded)
            raise self._stopped(spec, suffix, tracking_name, items, notifications, failed.cause) from failed.cause
        except BaseException:
            cache.clear()
            raise

    def _apply_one(
        self,
        conn: Connection,
        spec: ProjectionSpec,
        suffix: str,
        row: Any,
        expected: int,
        decoded: Sequence[tuple[int, str, Case.Event | None]],
    ) -> list[Item] | None:
        """Applies one projection's part of a batch in ``conn`` if its tracking ``row`` is still at
        ``expected``; returns the items applied, or None if someone else moved the row (a swap,
        another writer), whose kept rows are then stale and forgotten. A failure is ApplyFailed."""
        cache = self.caches.setdefault(spec.name + suffix, {})
        if row is None or row.position != expected:
            cache.clear()
            return None
        items = _items(spec, expected, decoded)
        try:
            spec.apply(conn, spec.tables(suffix), items, cache)
        except Exception as exc:
            raise ApplyFailed(exc) from exc
        return items

    def _stopped(
        self,
        spec: ProjectionSpec,
        suffix: str,
        tracking_name: str,
        items: Sequence[Item],
        notifications: Sequence[Notification],
        exc: Exception,
    ) -> ProjectionStopped:
        """Finds the first event of the failed batch that fails, and records the report."""
        culprit: Any = notifications[0]
        with self.engine.connect() as conn:
            trans = conn.begin()
            try:
                for nid, event in items:  # one at a time, from the state before the batch
                    try:
                        spec.apply(conn, spec.tables(suffix), [(nid, event)], {})
                    except Exception as single:
                        culprit, exc = next(n for n in notifications if n.id == nid), single
                        break
            finally:
                trans.rollback()
        report = report_failure(spec.name, culprit, exc)
        with self.engine.begin() as conn:
            conn.execute(
                update(tracking).where(tracking.c.name == tracking_name).values(error=report, error_at=utc_now())
            )
        return ProjectionStopped(report)

    # -- read your writes

    def wait_for(self, position: int, *, timeout: float = 10.0, names: Sequence[str] | None = None) -> bool:
        """Waits until the projections have processed notification ``position``; False on timeout.

        Raises ``ProjectionStopped`` at once if a projection that is behind has stopped on an error.
        """
        wanted = list(names or PROJECTIONS)
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            with reading(self.engine.connect()) as conn:
                rows = conn.execute(select(tracking).where(tracking.c.name.in_(wanted))).all()
            behind = [r for r in rows if r.position < position]
            if not behind:
                return True
            stopped = [r.error for r in behind if r.error]
            if stopped:
                raise ProjectionStopped(stopped[0])
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def notification_id_of(self, case_id: Any, version: int) -> int | None:
        """The notification id of one case event (to wait for a command's own write)."""
        recorder: Any = self.app.recorder
        table = recorder.events_table_name
        id_column = "rowid" if self.settings.store == "sqlite" else "notification_id"
        with reading(self.engine.connect()) as conn:
            found = conn.execute(
                text(f"SELECT {id_column} FROM {table} WHERE originator_id = :id AND originator_version = :v"),
                # eventsourcing's SQLite recorder stores UUIDs as 32 hex digits; PostgreSQL as uuid.
                {"id": UUID(str(case_id)).hex if self.settings.store == "sqlite" else str(case_id), "v": version},
            ).scalar()
        return int(found) if found is not None else None

    # -- rebuild

    def rebuild(
        self,
        names: str | Sequence[str],
        *,
        batch_size: int = DEFAULT_BATCH,
        fresh: bool = False,
        lease_wait: float = 0.0,
        progress: Callable[[int, int], None] | None = None,
        workers: int | None = None,
    ) -> tuple[int, bool]:
        """Rebuilds projections from the whole log into new tables, and swaps each in when complete.

        Several projections are built in one pass over the log (each event is read and decoded
        once), in case order and in ``workers`` processes (``infrastructure/readmodels/case_build.py``; by
        default, from 20k events, one per core up to 4, 2 on SQLite). Resumable: a build
        interrupted (even by ``kill -9``) goes on from its last committed batch the next time,
        unless ``fresh``. Returns (position reached, whether any resumed).
        """
        specs = [PROJECTIONS[n] for n in ([names] if isinstance(names, str) else names)]
        with contextlib.ExitStack() as stack:
            for spec in specs:
                stack.callback(acquire_lease(self.settings, f"{spec.name}@build", wait=lease_wait).release)
            builds = []
            resumed_any = False
            for spec in specs:
                suffix, position, resumed = self._prepare_scratch(spec, f"{spec.name}@build", "__b", fresh=fresh)
                builds.append(_Build(spec, suffix, f"{spec.name}@build", position))
                resumed_any |= resumed
            self._fill(builds, batch_size, progress, workers=workers)
            position = 0
            for build in builds:
                position = self._swap(build.spec, build.suffix, build.row_name, batch_size)
            return position, resumed_any

    def _q(self, name: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(name)

    def _prepare_scratch(self, spec: ProjectionSpec, row_name: str, kind: str, *, fresh: bool) -> tuple[str, int, bool]:
        """Finds the build to resume, or creates empty scratch tables and their tracking row."""
        with self.engine.begin() as conn:
            row = self._row(conn, row_name, lock=True)
            existing = set(inspect(conn).get_table_names())
            if row is not None:
                suffix = str(row.table_suffix)
                complete = all(t.name in existing for t in spec.tables(suffix).values())
                if not fresh and complete and row.schema_version == spec.schema_version():
                    return suffix, int(row.position), True
                conn.execute(tracking.delete().where(tracking.c.name == row_name))
            conn.execute(build_parts.delete().where(build_parts.c.build == row_name))
            for base in spec.tables():  # leftovers of builds that can no longer be resumed
                for leftover in existing:
                    if leftover.startswith(f"{base}{kind}"):
                        conn.execute(text(f"DROP TABLE {self._q(leftover)}"))
            suffix = f"{kind}{secrets.token_hex(4)}"
            for table in spec.tables(suffix).values():
                table.create(conn)
            conn.execute(
                sa_insert(tracking).values(
                    name=row_name, position=0, schema_version=spec.schema_version(), table_suffix=suffix
                )
            )
        self.caches.pop(spec.name + suffix, None)
        return suffix, 0, False

    def _fill(
        self,
        builds: Sequence[_Build],
        batch_size: int,
        progress: Callable[[int, int], None] | None,
        *,
        stop: int | None = None,
        workers: int | None = None,
    ) -> None:
        """Fills scratch tables from nothing, in case order, up to the head (or ``stop``).

        See ``infrastructure/readmodels/case_build.py``. A build whose position is already set was filled (in
        case order, or in notification order by an older version of this code) up to that position:
        the swap's catch-up goes on from there.
        """
        pending = [b for b in builds if b.position == 0]
        if not pending:
            return
        head = self.head() if stop is None else stop
        with self.engine.begin() as conn:
            layouts = {b.row_name: case_build.layout(conn, b.row_name) for b in pending}
            started = [rows for rows in layouts.values() if rows]
            if started:  # resume the furthest build; one of another layout starts again beside it
                chosen = max(started, key=lambda rows: sum(r.events for r in rows))
                head, total, parts = int(chosen[0].head), int(chosen[0].total), len(chosen)
            else:
                chosen = []
                total = case_build.count_events(self.app, head)
                parts = workers or case_build.default_parts(self.settings, total)
            for build in pending:
                shape = [(r.head, r.lo, r.hi) for r in layouts[build.row_name]]
                if shape and shape != [(r.head, r.lo, r.hi) for r in chosen]:
                    for table in build.spec.tables(build.suffix).values():
                        conn.execute(table.delete())
                    conn.execute(build_parts.delete().where(build_parts.c.build == build.row_name))
            targets = [case_build.Target(b.spec.name, b.suffix, b.row_name) for b in pending]
            case_build.plan(conn, targets, head, total, parts)

        def report() -> None:
            if progress:
                with reading(self.engine.connect()) as conn:
                    done, of = case_build.progress_of(conn, [t.row_name for t in targets])
                progress(done, of)

        report()
        try:
            case_build.run_parts(self.settings, targets, parts, batch_size, report)
        except case_build.BuildFailed as failed:
            with self.engine.begin() as conn:
                for target in targets:
                    conn.execute(
                        update(tracking)
                        .where(tracking.c.name == target.row_name)
                        .values(error=failed.report, error_at=utc_now())
                    )
            raise ProjectionStopped(failed.report) from failed
        with self.engine.begin() as conn:
            for build in pending:  # whole-log sums, and the position, once every part is built
                row = self._row(conn, build.row_name, lock=True)
                if row is None or row.position != 0:
                    raise ProjectionError(
                        f"{build.row_name} was moved by another process; is a second rebuild running?"
                    )
                if build.spec.finish is not None:
                    build.spec.finish(conn, build.spec.tables(build.suffix))
                conn.execute(
                    update(tracking)
                    .where(tracking.c.name == build.row_name)
                    .values(position=head, updated_at=utc_now(), error=None, error_at=None)
                )
                conn.execute(build_parts.delete().where(build_parts.c.build == build.row_name))
                build.position = head
        if progress:
            progress(total, total)

    def _catch_up_in(
        self, conn: Connection, spec: ProjectionSpec, suffix: str, row_name: str, batch_size: int, stop: int | None
    ) -> int:
        """Inside the caller's (locked) transaction: brings scratch tables to the head or ``stop``."""
        position = int(self._row(conn, row_name).position)
        while stop is None or position < stop:
            notifications = self.app.recorder.select_notifications(position + 1, batch_size, stop=stop)
            if not notifications:
                break
            self._commit_batch(
                spec,
                suffix,
                row_name,
                position,
                notifications,
                decode_notifications(self.decoder, notifications),
                conn=conn,
            )
            position = notifications[-1].id
        return position

    def _swap(self, spec: ProjectionSpec, suffix: str, build_name: str, batch_size: int) -> int:
        """Replaces the live tables by the built ones in one transaction: readers see old or new, never half."""
        with self.engine.begin() as conn:
            self._row(conn, spec.name, lock=True)  # the live runner waits here until we commit
            # To the head as it is now; later events are the live runner's, after the swap.
            position = self._catch_up_in(conn, spec, suffix, build_name, batch_size, self.head())
            for base in spec.tables():
                conn.execute(text(f"DROP TABLE IF EXISTS {self._q(base)}"))
            for base, table in spec.tables(suffix).items():
                conn.execute(text(f"ALTER TABLE {self._q(table.name)} RENAME TO {self._q(base)}"))
            conn.execute(
                update(tracking)
                .where(tracking.c.name == spec.name)
                .values(
                    position=position,
                    schema_version=spec.schema_version(),
                    updated_at=utc_now(),
                    error=None,
                    error_at=None,
                )
            )
            conn.execute(tracking.delete().where(tracking.c.name == build_name))
        self.caches.pop(spec.name, None)
        self.caches.pop(spec.name + suffix, None)
        return position

    # -- verify

    def verify(
        self,
        name: str,
        *,
        batch_size: int = DEFAULT_BATCH,
        max_listed: int = 20,
        progress: Callable[[int, int], None] | None = None,
        workers: int | None = None,
    ) -> Verification:
        """Rebuilds ``name`` into scratch tables and compares them with the live ones at one position."""
        spec = PROJECTIONS[name]
        row_name = f"{name}@verify"
        lease = acquire_lease(self.settings, row_name)
        suffix = ""
        try:
            suffix, position, _ = self._prepare_scratch(spec, row_name, "__v", fresh=True)
            live_position = self.positions([name])[name]
            self._fill(
                [_Build(spec, suffix, row_name, position)], batch_size, progress, stop=live_position, workers=workers
            )
            with self.engine.begin() as conn:
                live_position = int(self._row(conn, name, lock=True).position)  # the live runner waits
                reached = self._catch_up_in(conn, spec, suffix, row_name, batch_size, live_position)
                if reached != live_position:
                    raise ProjectionError(f"{name}: could not rebuild to the live position {live_position}")
                differences, listed = 0, list[str]()
                for base, live in spec.tables().items():
                    count, found = _diff(conn, live, spec.tables(suffix)[base], max_listed - len(listed))
                    differences += count
                    listed.extend(found)
                conn.rollback()
            return Verification(name, live_position, differences, listed)
        finally:
            if suffix:
                with self.engine.begin() as conn:
                    for table in spec.tables(suffix).values():
                        conn.execute(text(f"DROP TABLE IF EXISTS {self._q(table.name)}"))
                    conn.execute(tracking.delete().where(tracking.c.name == row_name))
                    conn.execute(build_parts.delete().where(build_parts.c.build == row_name))
                self.caches.pop(spec.name + suffix, None)
            lease.release()

    # -- status

    def status(self) -> list[Status]:
        head = self.head()
        with reading(self.engine.connect()) as conn:
            rows = {r.name: r for r in conn.execute(select(tracking))}
            building = {r.build for r in conn.execute(select(build_parts.c.build).distinct())}
            progress = {name: case_build.progress_of(conn, [name]) for name in building}
        result = []
        for spec in PROJECTIONS.values():
            row = rows[spec.name]
            build = rows.get(f"{spec.name}@build")
            result.append(
                Status(
                    name=spec.name,
                    position=int(row.position),
                    head=head,
                    schema_ok=row.schema_version == spec.schema_version(),
                    updated_at=row.updated_at,
                    error=row.error,
                    running=lease_is_held(self.settings, spec.name),
                    build_position=int(build.position) if build else None,
                    build_progress=progress.get(f"{spec.name}@build"),
                )
            )
        return result


@dataclass
class _Build:
    spec: ProjectionSpec
    suffix: str
    row_name: str
    position: int


@dataclass(frozen=True)
class Verification:
    name: str
    position: int
    differences: int
    listed: list[str]


def _diff(conn: Connection, live: Any, scratch: Any, max_listed: int) -> tuple[int, list[str]]:
    """Streams both tables in primary-key order and counts the rows that differ."""
    pk = [c.name for c in live.primary_key.columns]

    def ordered(table: Any) -> Any:
        # Python compares strings by code point; so does SQLite, and PostgreSQL under "C".
        columns = [table.c[k] for k in pk]
        if conn.dialect.name == "postgresql":
            columns = [c.collate("C") if isinstance(c.type, String) else c for c in columns]
        return conn.execution_options(yield_per=2000).execute(select(table).order_by(*columns)).mappings()

    left, right = iter(ordered(live)), iter(ordered(scratch))
    count, listed = 0, list[str]()

    def note(message: str) -> None:
        nonlocal count
        count += 1
        if len(listed) < max_listed:
            listed.append(f"{live.name}: {message}")

    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        ka = tuple(a[k] for k in pk) if a is not None else None
        kb = tuple(b[k] for k in pk) if b is not None else None
        if kb is None or (ka is not None and ka < kb):
            note(f"{dict(zip(pk, ka or (), strict=False))} is in the live table but not in the rebuild")
            a = next(left, None)
        elif ka is None or kb < ka:
            note(f"{dict(zip(pk, kb, strict=False))} is missing from the live table")
            b = next(right, None)
        else:
            assert a is not None and b is not None
            changed = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
            if changed:
                detail = "; ".join(f"{k}: live {v[0]!r}, rebuilt {v[1]!r}" for k, v in changed.items())
                note(f"{dict(zip(pk, ka, strict=False))} differs: {detail}")
            a, b = next(left, None), next(right, None)
    return count, listed


def _items(spec: ProjectionSpec, expected: int, decoded: Sequence[tuple[int, str, Case.Event | None]]) -> list[Item]:
    """The events of a batch past ``expected`` that ``spec`` reads."""
    return [(i, e) for i, t, e in decoded if i > expected and e is not None and spec.wants(t)]
