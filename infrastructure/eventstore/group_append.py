"""``GroupAppend``: the appends of a process's threads that arrive together, written as one transaction.

On PostgreSQL an append holds the log's table lock until its commit is on disk (see ``store``), so
a store takes about one append per WAL flush, however many threads wait: about 1,000 a second on
this machine's disk, for one thread or eight. The access log records every detailed read before it
is returned, so that rate was the rate of case reads. Here the appends that queue while one is
being written go in the next transaction together: one lock, one flush, many appends.

No append is answered before its transaction commits, and each still reads the heads it builds on
under the store's lock (``append_at_heads``), the group taken once that lock is held (so what
queued while the lock was waited for goes in too), so what is stored is what the appends one after the
other would have stored: each append's events follow the previous one's in its streams. If the
transaction fails, every append in it fails with the same error: none is half-written.

Leader and followers, no thread of its own: the first caller writes; callers arriving meanwhile
queue; when its transaction commits the writer wakes them, and the first of any still queued writes
the next group (so no caller goes on writing for others once its own append is done).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from infrastructure.eventstore.store import Build, Take

#: ``append_at_heads(take)``: one transaction (``store.LockedAppendRecorder``, ``store.ChainedSQLiteRecorder``).
AppendAtHeads = Callable[[Take, Sequence[UUID]], Sequence[int]]

#: The most appends in one transaction: the lock is not held for long, whatever the queue.
MAX_GROUP = 64


@dataclass(eq=False)
class _Pending:
    streams: Sequence[UUID]
    build: Build
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    error: BaseException | None = None


class GroupAppend:
    def __init__(self, append_at_heads: AppendAtHeads) -> None:
        self._append_at_heads = append_at_heads
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._writing = False
        #: How many transactions and how many appends were written (for tests and benchmarks).
        self.transactions = self.appends = 0

    def waiting(self) -> int:
        """How many appends are queued, not yet taken into a transaction."""
        with self._lock:
            return len(self._queue)

    def append(self, streams: Sequence[UUID], build: Build) -> None:
        """Appends ``build``'s events at the heads of ``streams``; returns once they are committed."""
        mine = _Pending(streams, build)
        with self._lock:
            self._queue.append(mine)
            leading = not self._writing
            self._writing = True
        while not leading:
            mine.done.wait()
            if not mine.lead:
                break
            leading, mine.lead = True, False
            mine.done.clear()
        if leading:
            self._write_next()
        if mine.error is not None:
            raise mine.error

    def _write_next(self) -> None:
        """Writes the group at the front of the queue, taken once the store's lock is held (what
        queued while this waited for it goes in too); hands the writing on to the next, if any."""
        group: list[_Pending] = []

        def take() -> tuple[Sequence[UUID], Build]:
            with self._lock:
                group[:], self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
            return _streams(group), _built_in_turn(group)

        with self._lock:  # the streams queued now: their heads are read with the lock
            likely = _streams(self._queue[:MAX_GROUP])
        try:
            self._append_at_heads(take, likely)
        except BaseException as exc:
            if not group:  # refused before the group was taken (the lock, the connection): this one
                with self._lock:
                    group[:], self._queue = self._queue[:1], self._queue[1:]
            for pending in group:
                pending.error = exc
        with self._lock:
            self.transactions += 1
            self.appends += len(group)
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].done.set()
            else:
                self._writing = False
        for pending in group:
            pending.done.set()


def _streams(group: Sequence[_Pending]) -> list[UUID]:
    return list(dict.fromkeys(stream for pending in group for stream in pending.streams))


def _built_in_turn(group: Sequence[_Pending]) -> Build:
    """One build for the group: each append's from the heads the appends before it in the group left."""

    def build(heads: Mapping[UUID, int]) -> list[StoredEvent]:
        running = dict(heads)
        out: list[StoredEvent] = []
        for pending in group:
            for event in pending.build(running):
                stream = (
                    event.originator_id if isinstance(event.originator_id, UUID) else UUID(str(event.originator_id))
                )
                running[stream] = max(running.get(stream, 0), event.originator_version)
                out.append(event)
        return out

    return build
