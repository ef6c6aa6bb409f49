"""``ProjectionRunner``: the long-running follower that keeps the read models caught up, until stopped.

It holds the leases of its projections (``leases``) and calls ``ReadModels.catch_up`` (``models``)
whenever the log grows: on PostgreSQL NOTIFY (the write path notifies on every append), by polling
on SQLite. Why not the library's ``eventsourcing.projection.ProjectionRunner``: that one runs one
projection with its own tracking recorder per process; ours writes view rows and the position of
several read models in one transaction of the same database, with schema versions, leases, a
rebuild beside the live tables and a swap (see ``models``), which the library's does not offer.

The database may go away under it (a restart, fast or immediate; a failover): the runner then
lets its leases and its listener go, says so (``on_outage``), tries again after 0.5 s, doubling up
to 30 s, and once the database is back takes its leases again and resumes from the positions in
the tracking table. Each batch and its new position are one transaction, compared and set, so a
batch cut off mid-way is rolled back and read again: nothing is skipped or applied twice.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg

from infrastructure.readmodels.errors import LeaseHeld, is_outage
from infrastructure.readmodels.leases import Lease, acquire_lease
from infrastructure.readmodels.models import DEFAULT_BATCH, ReadModels
from infrastructure.readmodels.registry import PROJECTIONS

#: The first wait after the database went away, and the longest; each try doubles it.
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0

#: How long a runner coming back waits for its leases: the old sessions may take a moment to end.
LEASE_WAIT_AFTER_OUTAGE = 30.0

#: ``on_outage(error, retry_in)`` when the database went away; ``on_outage(None, down_for)`` once it is back.
OutageReport = Callable[[BaseException | None, float], None]


class ProjectionRunner:
    """Holds the leases of its projections and keeps them caught up until stopped.

    Wakes on PostgreSQL NOTIFY (the write path notifies on every append) and polls on SQLite.
    """

    def __init__(
        self,
        models: ReadModels,
        names: Sequence[str] | None = None,
        *,
        batch_size: int = DEFAULT_BATCH,
        lease_wait: float = 0.0,
        poll_interval: float | None = None,
    ) -> None:
        self.models = models
        self.names = list(names or PROJECTIONS)
        self.batch_size = batch_size
        self.lease_wait = lease_wait
        self.sqlite = models.settings.store == "sqlite"
        self.poll_interval = poll_interval if poll_interval is not None else (0.1 if self.sqlite else 1.0)
        self.stop = threading.Event()

    @contextlib.contextmanager
    def leases(self, wait: float | None = None) -> Iterator[list[Lease]]:
        held: list[Lease] = []
        try:
            for name in self.names:
                held.append(acquire_lease(self.models.settings, name, wait=self.lease_wait if wait is None else wait))
            yield held
        finally:
            for lease in held:
                lease.release()

    def run(self, on_batch: Callable[[int], None] | None = None, on_outage: OutageReport | None = None) -> None:
        """Until ``stop``: catches up whenever the log grows; through an outage, waits and resumes."""
        delay, down_since = BACKOFF_FIRST, None
        while not self.stop.is_set():
            try:
                wait = max(self.lease_wait, LEASE_WAIT_AFTER_OUTAGE) if down_since is not None else None
                with self.leases(wait) as held, self._listener() as listen:
                    if down_since is not None:
                        if on_outage:
                            on_outage(None, time.monotonic() - down_since)
                        delay, down_since = BACKOFF_FIRST, None
                    self._follow(held, listen, on_batch)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                if down_since is None:
                    down_since = time.monotonic()
                if on_outage:
                    on_outage(exc, delay)
                self.stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    def _follow(
        self, held: Sequence[Lease], listen: Callable[[], None], on_batch: Callable[[int], None] | None
    ) -> None:
        while not self.stop.is_set():
            for lease in held:
                lease.check()  # a lease whose session died is no lease: stop writing, take it again
            processed = self.models.catch_up(self.names, batch_size=self.batch_size, stop=self.stop)
            if processed and on_batch:
                on_batch(processed)
            if not processed:
                listen()

    @contextlib.contextmanager
    def _listener(self) -> Iterator[Callable[[], None]]:
        if self.sqlite:

            def poll() -> None:
                self.stop.wait(self.poll_interval)

            yield poll
            return
        recorder: Any = self.models.app.recorder
        conn = psycopg.connect(autocommit=True, **self.models.settings.postgres_params())  # type: ignore[arg-type]
        try:
            conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(recorder.channel_name)))

            def wait() -> None:
                # In short slices, so that a stop request is seen promptly.
                deadline = time.monotonic() + self.poll_interval
                while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
                    if list(conn.notifies(timeout=min(left, 0.2), stop_after=1)):
                        return

            yield wait
        finally:
            conn.close()


#: How often a runner standing by (another holds the leases) looks whether they are free.
STANDBY_RETRY = 5.0


class RunnerBesideTheService(threading.Thread):
    """A ``ProjectionRunner`` in a thread of the serving process (``serve``), so the read models the
    API answers from are kept current with nothing else to start. Exactly once as ever: while
    another runner holds the leases (``projections run``, another ``serve``), it stands by and
    takes over when they are free. An error other than an outage is reported and retried."""

    def __init__(
        self,
        models: ReadModels,
        *,
        on_outage: OutageReport | None = None,
        on_standby: Callable[[BaseException], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        retry: float = STANDBY_RETRY,
    ) -> None:
        super().__init__(name="projection runner", daemon=True)
        self.runner = ProjectionRunner(models)
        self.stop = self.runner.stop
        self.on_outage, self.on_standby, self.on_error = on_outage, on_standby, on_error
        self.retry = retry
        self.standing_by = False

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.runner.run(on_outage=self.on_outage)
            except LeaseHeld as exc:
                if not self.standing_by and self.on_standby:
                    self.on_standby(exc)  # said once, not every retry
                self.standing_by = True
            except Exception as exc:
                if self.on_error:
                    self.on_error(exc)
            self.stop.wait(self.retry)
