"""Building read models from nothing, case by case: how ``projections rebuild`` and ``verify`` fill
their scratch tables.

Every projection here is a fold over one case's events (team assignment, safeguarding history,
caseload membership, expedited queue), plus, for caseload counts, a sum over cases. So a build from
nothing need not follow the log in notification order: read in case order (the events table's
primary key: case id, then version), each case's whole history comes at once. Its rows are then
computed once, from nothing, by the same pure code as the live runner (``ProjectionSpec.build_case``
beside ``apply``), and written once (``COPY`` on PostgreSQL): no row is read back, deleted or
cached. The live runner cannot do this (it must follow the log as it grows); a build can.

Up to a fixed head: a build reads only events with notification id <= ``head``, so its tables equal
a build in notification order up to ``head``; the swap then catches up from ``head`` in notification
order, with the live code path (``ReadModels._swap``).

In parts: the case id space is cut into ranges, one per part. Each part is read and written by its
own process (the first part in the process that asked for the build, each other in a worker process
it forks): by default one part per core, up to 4 on PostgreSQL and 2 on SQLite, whose single writer
lock makes a third part wait. Exactly once, per part:
each batch writes the rows of whole cases and the part's cursor (the last case written) in one
transaction, after checking under lock that the cursor is the one the batch was read from. A build
killed at any moment (even ``kill -9``) goes on from each part's cursor; a case is never half-written.
A worker dies with the process that started it (``PR_SET_PDEATHSIG``), so a killed rebuild leaves no
orphan writing behind its successor's back.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import itertools
import multiprocessing
import multiprocessing.connection
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple, cast
from uuid import UUID

import psycopg
from sqlalchemy import Connection, Engine, func, select, update

from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.decoding import CaseEventDecoder, collector_paused
from infrastructure.readmodels.engine import Item, build_parts, make_engine
from infrastructure.readmodels.engine import insert_rows as _insert
from infrastructure.readmodels.errors import ProjectionError, ProjectionStopped, report_failure
from infrastructure.readmodels.feed import decode_notifications
from infrastructure.readmodels.registry import PROJECTIONS
from infrastructure.settings import Settings

#: Below this many events a build runs in one part, in one process.
PARALLEL_FROM = 20_000
_NO_VERSION, _LAST_VERSION = -1, 2**62


class Row(NamedTuple):
    """One stored event as the build reads it (the attributes the decoder and mapper use)."""

    id: int
    originator_id: Any
    originator_version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class Target:
    """One projection being built: its spec, the suffix of its scratch tables, its tracking row."""

    name: str
    suffix: str
    row_name: str


class BuildFailed(Exception):
    """An event could not be processed; ``report`` names it (which event, case, error)."""

    def __init__(self, report: str) -> None:
        super().__init__(report)
        self.report = report


def split(parts: int) -> list[tuple[str | None, str | None]]:
    """``parts`` ranges of case ids (32 hex digits, ``None`` for no bound), equal in width."""
    bounds = [None, *(f"{i * (1 << 128) // parts:032x}" for i in range(1, parts)), None]
    return list(itertools.pairwise(bounds))


def default_parts(settings: Settings, total: int) -> int:
    """One part per core, up to 4 on PostgreSQL (its server needs cores too) and 2 on SQLite (one
    writer at a time: a second part decodes and folds while the first writes, a third only waits)."""
    if total < PARALLEL_FROM:
        return 1
    return max(1, min(os.cpu_count() or 1, 2 if settings.store == "sqlite" else 4))


# ---------------------------------------------------------------------------- layout


def count_events(app: CaseJourney, head: int) -> int:
    with contextlib.closing(_Reader(app)) as read:
        return read.count(head)


def plan(conn: Connection, targets: Sequence[Target], head: int, total: int, parts: int) -> None:
    """Creates the parts rows of targets that have none (a new build): ``parts`` ranges up to ``head``."""
    for target in targets:
        if conn.execute(select(build_parts.c.part).where(build_parts.c.build == target.row_name)).first():
            continue
        for index, (lo, hi) in enumerate(split(parts)):
            conn.execute(
                build_parts.insert().values(
                    build=target.row_name,
                    part=index,
                    lo=lo,
                    hi=hi,
                    head=head,
                    total=total,
                    case_cursor=None,
                    events=0,
                    done=False,
                )
            )


def layout(conn: Connection, row_name: str) -> list[Any]:
    return list(conn.execute(select(build_parts).where(build_parts.c.build == row_name).order_by(build_parts.c.part)))


def progress_of(conn: Connection, row_names: Sequence[str]) -> tuple[int, int]:
    """(events built, events to build) over the parts of these builds (the slowest build counts)."""
    done, total = None, 0
    for name in row_names:
        row = conn.execute(
            select(func.coalesce(func.sum(build_parts.c.events), 0), func.max(build_parts.c.total)).where(
                build_parts.c.build == name
            )
        ).one()
        done = int(row[0]) if done is None else min(done, int(row[0]))
        total = max(total, int(row[1] or 0))
    return done or 0, total


# ---------------------------------------------------------------------------- reading in case order


class _Reader:
    """Pages of stored events in case order (id, then version), up to a notification id."""

    def __init__(self, app: CaseJourney) -> None:
        settings = app.settings
        self.sqlite = settings.store == "sqlite"
        self.table = app.recorder.events_table_name  # type: ignore[attr-defined]
        if self.sqlite:
            # One thread at a time uses it (the prefetching reader), never two at once.
            self.conn: Any = sqlite3.connect(str(settings.sqlite_path), timeout=30, check_same_thread=False)
            self.id_column, self.mark = "rowid", "?"
        else:
            self.conn = psycopg.connect(autocommit=True, **settings.postgres_params())  # type: ignore[arg-type]
            if settings.postgres_schema:
                self.conn.execute(
                    psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(settings.postgres_schema))
                )
            self.id_column, self.mark = "notification_id", "%s"

    def close(self) -> None:
        self.conn.close()

    def _key(self, hex_id: str) -> Any:
        return hex_id if self.sqlite else UUID(hex_id)

    def count(self, head: int) -> int:
        query = f"SELECT count(*) FROM {self.table} WHERE {self.id_column} <= {self.mark}"
        return int(self.conn.execute(query, (head,)).fetchone()[0])

    def page(self, head: int, after: tuple[str, int], hi: str | None, limit: int) -> list[Row]:
        """Up to ``limit`` events after (case, version) ``after``, below case ``hi``, id <= ``head``."""
        m = self.mark
        query = (
            f"SELECT {self.id_column}, originator_id, originator_version, topic, state FROM {self.table}"
            f" WHERE (originator_id, originator_version) > ({m}, {m}) AND {self.id_column} <= {m}"
            + (f" AND originator_id < {m}" if hi is not None else "")
            + f" ORDER BY originator_id, originator_version LIMIT {int(limit)}"
        )
        params: list[Any] = [self._key(after[0]), after[1], head]
        if hi is not None:
            params.append(self._key(hi))
        if self.sqlite:
            cursor = self.conn.cursor()
            cursor.row_factory = lambda _cursor, row: Row._make(row)
            rows: list[Row] = cursor.execute(query, params).fetchall()
            return rows
        with self.conn.cursor(binary=True, row_factory=lambda _cursor: Row._make) as cursor:
            found: list[Row] = cursor.execute(query, params).fetchall()
            return found


def _hex(originator_id: Any) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else UUID(str(originator_id)).hex


def _cases(rows: Sequence[Row]) -> Iterator[tuple[str, list[Row]]]:
    """Consecutive rows of one case, with the case id as 32 hex digits."""
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i].originator_id != rows[start].originator_id:
            yield _hex(rows[start].originator_id), list(rows[start:i])
            start = i


# ---------------------------------------------------------------------------- building one part


def build_part(
    settings: Settings,
    targets: Sequence[Target],
    part: int,
    batch_size: int,
    on_batch: Callable[[], None] | None = None,
) -> int:
    """Builds one part of every target to its end; returns the events it read. Resumes from cursors."""

    with (
        CaseJourney(settings) as app,
        contextlib.closing(_Reader(app)) as read,
        contextlib.ExitStack() as stack,
    ):
        engine = make_engine(settings)
        stack.callback(engine.dispose)
        decoder = CaseEventDecoder(app)
        specs = {t.name: PROJECTIONS[t.name] for t in targets}
        with engine.connect() as conn:
            rows = {t.row_name: conn.execute(_part_row(t, part)).one() for t in targets}
            conn.rollback()
        first = next(iter(rows.values()))
        if any((r.head, r.lo, r.hi) != (first.head, first.lo, first.hi) for r in rows.values()):
            raise RuntimeError(f"part {part}: builds of different layouts cannot be filled together")
        pending = [t for t in targets if not rows[t.row_name].done]
        if not pending:
            return 0
        cursors = {t.row_name: rows[t.row_name].case_cursor for t in pending}
        # Read from the least advanced cursor; a target further on skips the cases it already has.
        behind = [c for c in cursors.values() if c is None]
        start: tuple[str, int] = (
            (first.lo or "0" * 32, _NO_VERSION) if behind else (min(c for c in cursors.values() if c), _LAST_VERSION)
        )
        part_build = _PartBuild(engine, decoder, specs, pending, part, cursors)
        with collector_paused():
            return part_build.run(read, int(first.head), start, first.hi, batch_size, on_batch)


@dataclass
class _PartBuild:
    engine: Engine
    decoder: CaseEventDecoder
    specs: dict[str, Any]
    targets: Sequence[Target]
    part: int
    cursors: dict[str, str | None]

    def run(
        self,
        read: _Reader,
        head: int,
        start: tuple[str, int],
        hi: str | None,
        batch_size: int,
        on_batch: Callable[[], None] | None,
    ) -> int:
        """Reads pages (the next one while this one is built) and writes whole cases per batch."""

        read_events = batches = 0
        carry: list[Row] = []
        with ThreadPoolExecutor(max_workers=1) as prefetch:
            upcoming: Future[list[Row]] = prefetch.submit(read.page, head, start, hi, batch_size)
            while True:
                page = upcoming.result()
                end = len(page) < batch_size
                if not end:
                    after = (_hex(page[-1].originator_id), page[-1].originator_version)
                    upcoming = prefetch.submit(read.page, head, after, hi, batch_size)
                rows = carry + page
                cases = list(_cases(rows)) if rows else []
                carry = [] if end or not cases else cases.pop()[1]  # the last case may go on in the next page
                if cases or end:
                    try:
                        decoded = decode_notifications(self.decoder, [r for _, rs in cases for r in rs])
                    except ProjectionStopped as stopped:
                        raise BuildFailed(str(stopped)) from stopped
                    read_events += self.write(cases, decoded, end)
                    batches += 1
                    if batches % 8 == 0:
                        gc.collect(1)
                    if on_batch:
                        on_batch()
                if end:
                    return read_events

    def write(self, cases: Sequence[tuple[str, list[Row]]], decoded: Sequence[tuple[int, str, Any]], end: bool) -> int:
        """Writes the rows of ``cases`` and each target's new cursor in one transaction; returns events."""

        events = sum(len(rs) for _, rs in cases)
        last_case = cases[-1][0] if cases else None
        # Each case's events of this aggregate (events of others, e.g. customers, are None), once.
        spans: list[tuple[str, list[Row], list[tuple[int, str, Any]]]] = []
        at = 0
        for case_hex, case_rows in cases:
            span = [d for d in decoded[at : at + len(case_rows)] if d[2] is not None]
            at += len(case_rows)
            if span:
                spans.append((case_hex, case_rows, span))
        with self.engine.begin() as conn:
            for target in self.targets:
                spec = self.specs[target.name]
                topics = spec.topics
                expected = self.cursors[target.row_name]
                row = conn.execute(_part_row(target, self.part).with_for_update()).one()
                if row.case_cursor != expected:
                    raise ProjectionError(
                        f"{target.row_name} part {self.part} was moved by another process; is a second rebuild running?"
                    )
                out: dict[str, list[dict[str, Any]]] = {}
                for case_hex, case_rows, span in spans:
                    if expected is not None and case_hex <= expected:
                        continue  # this target has the case already (it was further on)
                    if topics is None:
                        items: list[Item] = [(i, e) for i, _, e in span]
                    else:
                        items = [(i, e) for i, t, e in span if t in topics]
                    if not items:
                        continue
                    try:
                        built = spec.build_case(items)
                    except Exception as exc:
                        nid, cause = _first_failing(spec.build_case, items, exc)
                        culprit = next(r for r in case_rows if r.id == nid)
                        raise BuildFailed(report_failure(target.name, culprit, cause)) from exc
                    for base, table_rows in built.items():
                        out.setdefault(base, []).extend(table_rows)
                tables = spec.tables(target.suffix)
                for base, table_rows in out.items():
                    _insert(conn, tables[base], table_rows)
                values: dict[str, Any] = {"done": end}
                if last_case is not None and (expected is None or last_case > expected):
                    values["case_cursor"] = last_case
                    values["events"] = build_parts.c.events + events
                conn.execute(
                    update(build_parts)
                    .where(build_parts.c.build == target.row_name, build_parts.c.part == self.part)
                    .values(**values)
                )
        for target in self.targets:
            cursor = self.cursors[target.row_name]
            if last_case is not None and (cursor is None or last_case > cursor):
                self.cursors[target.row_name] = last_case
        return events


def _first_failing(
    build_case: Callable[[Sequence[Item]], Any], items: Sequence[Item], exc: Exception
) -> tuple[int, Exception]:
    """The notification id of the event a case's build fails at (the shortest history that fails)."""
    for end in range(1, len(items) + 1):
        try:
            build_case(items[:end])
        except Exception as failure:
            return items[end - 1][0], failure
    return items[-1][0], exc


def _part_row(target: Target, part: int) -> Any:
    return select(build_parts).where(build_parts.c.build == target.row_name, build_parts.c.part == part)


# ---------------------------------------------------------------------------- running the parts


def _worker(settings: Settings, targets: list[Target], part: int, batch_size: int, parent: int, out: Any) -> None:
    """A worker process: builds one part and sends back ("ok", events) or (error kind, report)."""
    if sys.platform.startswith("linux"):  # the kernel kills it when the rebuild that started it dies
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)
    try:
        out.send(("ok", build_part(settings, targets, part, batch_size)))
    except BuildFailed as failed:
        out.send(("stopped", failed.report))
    except BaseException as exc:
        out.send(("error", f"part {part}: {type(exc).__name__}: {exc}"))
    finally:
        out.close()


def run_parts(
    settings: Settings,
    targets: Sequence[Target],
    parts: int,
    batch_size: int,
    progress: Callable[[], None] | None = None,
) -> None:
    """Builds every part: part 0 in this process, each other part in a worker process, all at once.

    If a worker fails, the others are stopped (their committed batches stay: a rerun resumes) and
    the failure is raised here: ``BuildFailed`` for an event that cannot be processed.
    """

    # Fork where there is fork: the worker starts with everything imported (spawn costs ~1 s of
    # imports per worker). It opens its own connections and never touches the parent's.
    context: Any = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    workers: dict[Any, Any] = {}

    def collect(timeout: float) -> None:
        """Takes the reports of workers that have ended; raises the first failure."""
        for ready in multiprocessing.connection.wait(list(workers), timeout=timeout):
            process = workers.pop(ready)
            try:
                kind, detail = cast(Any, ready).recv()
            except EOFError:
                process.join()
                kind, detail = "error", f"{process.name} died (exit code {process.exitcode})"
            process.join()
            if kind == "stopped":
                raise BuildFailed(detail)
            if kind == "error":
                raise ProjectionError(detail)

    def between_batches() -> None:
        collect(0)
        if progress:
            progress()

    try:
        for part in range(1, parts):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker,
                args=(settings, list(targets), part, batch_size, os.getpid(), send),
                name=f"build part {part}",
            )
            process.start()
            send.close()
            workers[receive] = process
        build_part(settings, targets, 0, batch_size, on_batch=between_batches)
        while workers:
            collect(0.5)
            if progress:
                progress()
    finally:
        for process in workers.values():  # a failure or an interrupt: stop the others now
            process.kill()
            process.join()
