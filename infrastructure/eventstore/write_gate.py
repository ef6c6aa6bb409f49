"""``WriteGate``: the writers of one SQLite file, in every process, queue at a lock file beside it.

SQLite has one writer at a time, and a writer that finds the file locked waits in its busy
handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 and then 100 ms between tries: it
wakes long after the lock is free and keeps missing the gaps while others write. Two workers
recording reads of one case at once met there: a case read's p99 was 150-500 ms, for writes of
well under a millisecond. At the gate (``flock`` on ``<file>.write-gate``) a waiter looks again within 1 ms.

The wait is bounded: after the store's own lock timeout a writer goes on without the gate and
meets SQLite's lock as before, so a writer stopped while holding the gate (a process paused under
a debugger) stops no one for longer than SQLite would. A process that dies lets go of it at once.
Files SQLite opens read-only (an evidence copy) and in-memory databases have no gate: nothing
writes them through another process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

#: The first pause between two looks at a held gate, and the longest.
FIRST_PAUSE, LONGEST_PAUSE = 0.0001, 0.001


class WriteGate:
    def __init__(self, db_name: str, timeout: float) -> None:
        self.path = None if db_name.startswith("file:") or db_name == ":memory:" else Path(db_name + ".write-gate")
        self.timeout = timeout
        self._threads = threading.Lock()  # a file lock is the process's: its threads take turns here

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self.path is None or not self._threads.acquire(timeout=self.timeout):
            yield  # as SQLite alone would: its busy handler decides
            return
        try:
            # Opened for each write (two system calls): nothing is held open between writes, and
            # closing the file lets go of the lock whatever happens. 0600, like the store beside it.
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            except OSError:  # a gate that cannot be made is no gate
                yield
                return
            try:
                _lock(fd, time.monotonic() + self.timeout)  # or, past the deadline, on without it
                yield
            finally:
                os.close(fd)
        finally:
            self._threads.release()


def _lock(fd: int, deadline: float) -> None:
    pause = FIRST_PAUSE
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)
