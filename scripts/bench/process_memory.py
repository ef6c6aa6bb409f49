"""Peak memory of a process and all its descendants, for benchmarks (Linux ``/proc``).

A rebuild runs in several processes (``infrastructure/readmodels/case_build.py``), so the peak RSS of one of
them says little. ``TreeMemory`` samples, every ``interval`` seconds, the sum over the whole tree of
RSS (every page each process maps, shared ones counted once per process: an upper bound) and of
PSS (shared pages split between the processes that share them: what the tree really costs), and
keeps the peaks. Sampling misses peaks shorter than the interval.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, as far as ``/proc`` shows them now."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(child) for child in task.read_text().split())
            except OSError:  # the process ended meanwhile
                continue
    return found


def rss_pss_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB; (0, 0) once it has ended."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except (OSError, ValueError):
        return 0, 0
    return rss, pss


class TreeMemory:
    """``with TreeMemory(pid) as memory: ...`` then ``memory.rss_mb``, ``memory.pss_mb``, ``memory.processes``."""

    def __init__(self, pid: int | None = None, interval: float = 0.05) -> None:
        self.pid = os.getpid() if pid is None else pid
        self.interval = interval
        self.rss_kb = self.pss_kb = self.processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    @property
    def available(self) -> bool:
        return Path(f"/proc/{self.pid}/smaps_rollup").exists()

    @property
    def rss_mb(self) -> float:
        return round(self.rss_kb / 1024, 1)

    @property
    def pss_mb(self) -> float:
        return round(self.pss_kb / 1024, 1)

    def sample(self) -> None:
        tree = descendants(self.pid)
        sizes = [rss_pss_kb(p) for p in tree]
        self.rss_kb = max(self.rss_kb, sum(r for r, _ in sizes))
        self.pss_kb = max(self.pss_kb, sum(p for _, p in sizes))
        self.processes = max(self.processes, sum(1 for r, _ in sizes if r))

    def _sample_until_stopped(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:
        if self.available:
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
