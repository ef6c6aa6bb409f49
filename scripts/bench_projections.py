"""Benchmark: rebuild throughput of all projections beside a raw ordered scan of the event log.

    .venv/bin/python scripts/bench_projections.py                  # 100k events on PostgreSQL
    .venv/bin/python scripts/bench_projections.py --events 1000000 # the 1M run of the issue

Steps, in a fresh PostgreSQL schema (dropped afterwards unless --keep):

1. write N events fast: the ten stories of SCENARIOS.md are run once through the application to get
   real stored events, then cloned as new cases (new case ids, caseworkers spread over 500 names)
   and appended thousands per transaction through the application's own recorder;
2. raw scan: read the whole log in notification-id order with the same reader the runner uses
   (``recorder.select_notifications`` in batches), doing nothing with the rows;
3. rebuild every projection with ``casejourney projections rebuild`` in a child process, so that
   its peak RSS is measured alone (``getrusage(RUSAGE_CHILDREN)``).

Target of the issue: rebuild >= 0.3x the raw scan rate; rebuild of 1M events under 300 MB RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from eventsourcing.persistence import StoredEvent

from infrastructure.application import CaseJourney
from infrastructure.scenarios import SCENARIOS, run_scenario
from infrastructure.settings import Settings
from scripts.scratch_schema import create_scratch_schema, drop_scratch_schema

CLONE_NAMESPACE = uuid.UUID("5b0d2f7e-93a4-4d1c-8f3e-0c6a2b9d7e41")
STORY_START = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def story_template() -> list[StoredEvent]:
    """The stored events of the ten stories, as a throwaway SQLite store writes them."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(store="sqlite", sqlite_path=Path(tmp) / "template.sqlite")
        app = CaseJourney(settings, clock=lambda: datetime(2026, 3, 1, tzinfo=UTC))
        for scenario in SCENARIOS:
            run_scenario(app, scenario, STORY_START)
        notifications = app.recorder.select_notifications(1, 10_000)
        app.close()
    return [StoredEvent(n.originator_id, n.originator_version, n.topic, n.state) for n in notifications]


def write_synthetic_log(app: CaseJourney, events: int, *, chunk: int = 5000, prefix: str = "clone") -> int:
    """Appends about ``events`` events (whole journeys), ``chunk`` per transaction; returns the count.

    Case ids derive from ``prefix``: call again with another prefix to grow the same log.
    """
    template = story_template()
    by_case: dict[object, list[StoredEvent]] = {}
    for stored in template:
        by_case.setdefault(stored.originator_id, []).append(stored)
    journeys = list(by_case.values())
    written, clone, pending = 0, 0, []
    while written < events:
        journey = journeys[clone % len(journeys)]
        case_id = uuid.uuid5(CLONE_NAMESPACE, f"{prefix}-{clone}")
        caseworker = f"cw-{clone % 500:04d}".encode()
        for stored in journey:
            state = stored.state.replace(b"cw-amara", caseworker)
            pending.append(StoredEvent(case_id, stored.originator_version, stored.topic, state))
        written += len(journey)
        clone += 1
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CASEJOURNEY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--batch-size", type=int, default=5000)
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

        started = time.perf_counter()
        scanned = raw_scan(app, args.batch_size)
        scan_rate = scanned / (time.perf_counter() - started)
        print(f"raw ordered scan: {scanned} events, {scan_rate:,.0f} events/s")
        app.close()

        env = {
            **os.environ,
            "CASEJOURNEY_STORE": "postgres",
            "CASEJOURNEY_POSTGRES_URL": args.postgres_url,
            "CASEJOURNEY_POSTGRES_SCHEMA": schema,
            "COLUMNS": "120",
        }
        cli = [
            str(Path(sys.executable).parent / "casejourney"),
            "projections",
            "rebuild",
            "--batch-size",
            str(args.batch_size),
        ]
        started = time.perf_counter()
        done = subprocess.run(cli, env=env, capture_output=True, text=True)
        took = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"rebuild failed:\n{done.stdout}\n{done.stderr}")
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        rebuild_rate = scanned / took
        print(f"rebuild of all projections: {took:.1f}s, {rebuild_rate:,.0f} events/s, peak RSS {rss_mb:.0f} MB")
        ratio = rebuild_rate / scan_rate
        print(f"ratio rebuild/raw scan: {ratio:.2f} (target >= 0.30); RSS target < 300 MB")
    finally:
        if not args.keep:
            drop_scratch_schema(args.postgres_url, schema)


if __name__ == "__main__":
    main()
