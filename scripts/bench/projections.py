"""Benchmark: rebuild throughput of all projections beside ordered scans of the event log.

    .venv/bin/python scripts/bench/projections.py                  # 100k events on PostgreSQL
    .venv/bin/python scripts/bench/projections.py --events 1000000 # the 1M run of the issue

Steps, in a fresh PostgreSQL schema (dropped afterwards unless --keep):

1. write N events fast: the ten stories of SCENARIOS.md are run once through the application to get
   real stored events, then cloned as new cases (new case ids, caseworkers spread over 500 names),
   1,000 journeys interleaved as in a live service, and appended thousands per transaction through
   the application's own recorder;
2. three ordered scans of the whole log in notification-id order, doing nothing with the rows:
   - the application's recorder (``recorder.select_notifications`` in batches: eventsourcing's
     reader, the one the live runner follows the log with): the baseline the issue's target
     has been measured against since it was filed;
   - bare psycopg, text rows (a plain cursor, keyset pages);
   - bare psycopg, binary rows (the fastest read of the table this machine does);
3. rebuild every projection with ``casejourney projections rebuild`` in a child process (which
   builds in worker processes of its own), sampling the memory of the whole process tree every
   50 ms: the peak of the summed RSS (shared pages counted in each process: an upper bound) and of
   the summed PSS (shared pages split).

Target of the issue: rebuild >= 0.3x the raw scan rate; a rebuild of 1M events under 300 MB RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
from eventsourcing.persistence import StoredEvent

from infrastructure.eventstore.application import CaseJourney
from infrastructure.samples.scenarios import SCENARIOS, run_scenario
from infrastructure.settings import Settings
from scripts.bench.process_memory import TreeMemory
from scripts.scratch_schema import create_scratch_schema, drop_scratch_schema

CLONE_NAMESPACE = uuid.UUID("5b0d2f7e-93a4-4d1c-8f3e-0c6a2b9d7e41")
STORY_START = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def story_template() -> list[StoredEvent]:
    """The stored events of the ten stories, as a throwaway SQLite store writes them (in clear: each
    clone is sealed under the keys of the store it is written to)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(store="sqlite", sqlite_path=Path(tmp) / "template.sqlite", payload_encryption=False)
        app = CaseJourney(settings, clock=lambda: datetime(2026, 3, 1, tzinfo=UTC))
        for scenario in SCENARIOS:
            run_scenario(app, scenario, STORY_START)
        notifications = app.recorder.select_notifications(1, 10_000)
        app.close()
    return [StoredEvent(n.originator_id, n.originator_version, n.topic, n.state) for n in notifications]


def write_synthetic_log(
    app: CaseJourney, events: int, *, chunk: int = 5000, prefix: str = "clone", interleave: int = 1000
) -> int:
    """Appends about ``events`` events, ``chunk`` per transaction; returns the count.

    Journeys interleave as cases do in a live service: ``interleave`` cases are open at once, and
    the log takes the next event of each in turn (a case's events stay in order; a case whose
    journey ends gives its place to a new one). So neither the log's order nor its storage is
    grouped by case. Case ids derive from ``prefix``: call again with another prefix to grow the
    same log.
    """
    template = story_template()
    cipher: Any = app.mapper.cipher  # the target store's payload keyring (on by default)
    seal: Callable[[bytes], bytes] = cipher.encrypt if cipher is not None else bytes
    by_case: dict[object, list[StoredEvent]] = {}
    for stored in template:
        by_case.setdefault(stored.originator_id, []).append(stored)
    journeys = list(by_case.values())
    clones = itertools.count()

    def journey() -> Iterator[StoredEvent]:
        clone = next(clones)
        case_id = uuid.uuid5(CLONE_NAMESPACE, f"{prefix}-{clone}")
        caseworker = f"cw-{clone % 500:04d}".encode()
        for stored in journeys[clone % len(journeys)]:
            state = stored.state.replace(b"cw-amara", caseworker)
            yield StoredEvent(case_id, stored.originator_version, stored.topic, seal(state))

    open_cases = [journey() for _ in range(max(1, interleave))]
    written, pending = 0, list[StoredEvent]()
    while written < events:
        for slot, case in enumerate(open_cases):
            following = next(case, None)
            if following is None:  # that journey has ended: a new case takes its place
                open_cases[slot] = case = journey()
                following = next(case)
            pending.append(following)
            written += 1
            if written >= events:
                break
        if len(pending) >= chunk:
            app.recorder.insert_events(pending)
            pending = []
    if pending:
        app.recorder.insert_events(pending)
    return written


def raw_scan(app: CaseJourney, batch: int) -> int:
    count, start = 0, 1
    while True:
        notifications = app.recorder.select_notifications(start, batch)
        if not notifications:
            return count
        count += len(notifications)
        start = notifications[-1].id + 1


def bare_scan(settings: Settings, table: str, batch: int, *, binary: bool = False) -> int:
    """Reads every event in notification-id order with the bare driver (psycopg, with text or
    binary rows; or the sqlite3 module, where rowid is the notification id); returns the count."""
    if settings.store == "sqlite":
        conn: Any = contextlib.closing(sqlite3.connect(str(settings.sqlite_path)))
        id_column, mark = "rowid", "?"
    else:
        params: Any = settings.postgres_params()
        conn = psycopg.connect(autocommit=True, **params)
        id_column, mark = "notification_id", "%s"
    query = (
        f"SELECT {id_column}, originator_id, originator_version, topic, state FROM {table}"
        f" WHERE {id_column} > {mark} ORDER BY {id_column} LIMIT {mark}"
    )
    count, last = 0, 0
    with conn as opened:
        db: Any = opened if settings.store == "sqlite" else opened.cursor(binary=binary)
        if settings.store != "sqlite":
            schema = psycopg.sql.Identifier(settings.postgres_schema)
            db.execute(psycopg.sql.SQL("SET search_path TO {}").format(schema))
        while rows := db.execute(query, (last, batch)).fetchall():
            count += len(rows)
            last = rows[-1][0]
    return count


def timed(scan: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    count = scan()
    return count, count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CASEJOURNEY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=None, help="Passed to the rebuild (default: its own).")
    parser.add_argument("--keep", action="store_true", help="Keep the schema (its name is printed).")
    args = parser.parse_args()

    schema = create_scratch_schema(args.postgres_url, "bench_projections")
    settings = Settings(store="postgres", postgres_url=args.postgres_url, postgres_schema=schema)
    try:
        app = CaseJourney(settings)
        started = time.perf_counter()
        written = write_synthetic_log(app, args.events)
        took = time.perf_counter() - started
        print(f"wrote {written} events in {took:.1f}s ({written / took:,.0f} events/s) into schema {schema}")

        table = app.recorder.events_table_name  # type: ignore[attr-defined]
        scanned, scan_rate = timed(lambda: raw_scan(app, args.batch_size))
        app.close()
        bare = {
            "text": timed(lambda: bare_scan(settings, table, args.batch_size, binary=False))[1],
            "binary": timed(lambda: bare_scan(settings, table, args.batch_size, binary=True))[1],
        }
        print("ordered scans of the whole log (baselines, this run):")
        print(f"  the application's recorder (select_notifications)  {scan_rate:>10,.0f} events/s")
        print(f"  bare psycopg, text rows                            {bare['text']:>10,.0f} events/s")
        print(f"  bare psycopg, binary rows                          {bare['binary']:>10,.0f} events/s")

        env = {
            **os.environ,
            "CASEJOURNEY_STORE": "postgres",
            "CASEJOURNEY_POSTGRES_URL": args.postgres_url,
            "CASEJOURNEY_POSTGRES_SCHEMA": schema,
            "COLUMNS": "120",
        }
        cli = [str(Path(sys.executable).parent / "casejourney"), "projections", "rebuild"]
        cli += ["--batch-size", str(args.batch_size)]
        cli += ["--workers", str(args.workers)] if args.workers else []
        started = time.perf_counter()
        child = subprocess.Popen(cli, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with TreeMemory(child.pid) as memory:
            out, err = child.communicate()
        took = time.perf_counter() - started
        if child.returncode != 0:
            sys.exit(f"rebuild failed:\n{out}\n{err}")
        rebuild_rate = scanned / took
        print(f"rebuild of all projections: {took:.1f}s, {rebuild_rate:,.0f} events/s")
        print(f"  ratio to the recorder's scan: {rebuild_rate / scan_rate:.2f} (target >= 0.30)")
        text_ratio, binary_ratio = rebuild_rate / bare["text"], rebuild_rate / bare["binary"]
        print(f"  ratio to bare psycopg: {text_ratio:.2f} text, {binary_ratio:.2f} binary")
        print(
            f"peak memory of the rebuild ({memory.processes} processes): RSS summed {memory.rss_mb:.0f} MB,"
            f" PSS summed {memory.pss_mb:.0f} MB (target < 300 MB)"
        )
    finally:
        if not args.keep:
            drop_scratch_schema(args.postgres_url, schema)


if __name__ == "__main__":
    main()
