"""``ProjectionRunner``: the long-running follower that keeps the read models caught up, until stopped.

It holds the leases of its projections (``leases``) and calls ``ReadModels.catch_up`` (``models``)
whenever the log grows: on PostgreSQL NOTIFY (the write path notifies on every append), by polling
on SQLite. Why not the library's ``eventsourcing.projection.ProjectionRunner``: that one runs one
projection with its own tracking recorder per process; ours writes view rows and the position of
several read models in one transaction of the same database, with schema versions, leases, a
rebuild beside the live tables and a swap (see ``models``), which the library's does not offer.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg

from infrastructure.readmodels.leases import Lease, acquire_lease
from infrastructure.readmodels.models import DEFAULT_BATCH, ReadModels
from infrastructure.readmodels.registry import PROJECTIONS


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
    def leases(self) -> Iterator[None]:
        held: list[Lease] = []
        try:
            for name in self.names:
                held.append(acquire_lease(self.models.settings, name, wait=self.lease_wait))
            yield
        finally:
            for lease in held:
                lease.release()

    def run(self, on_batch: Callable[[int], None] | None = None) -> None:
        with self.leases(), self._listener() as wait:
            while not self.stop.is_set():
                processed = self.models.catch_up(self.names, batch_size=self.batch_size, stop=self.stop)
                if processed and on_batch:
                    on_batch(processed)
                if not processed:
                    wait()

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
