"""What a hot standby costs and gives (issue 15, item 4), on the standby of ``scripts/standby.py``.

    sudo .venv/bin/python scripts/standby.py create --synchronous
    .venv/bin/python scripts/bench_replication.py [--seconds 3] [--format json]
    sudo .venv/bin/python scripts/standby.py remove

or, with a primary and a standby of the run's own (removed after; ``casejourney bench --parts
replication`` runs this one beside the other figures):

    sudo .venv/bin/python scripts/bench_replication.py --own-clusters

Measured in one run, as ratios against a baseline of the same run:

- the command rate with the primary waiting for the synchronous standby at each commit, against
  the same primary waiting for none (``synchronous_standby_names`` switched for the run), at 1 and
  8 clients (threads, each its own ``CaseJourney``);
- an auditor's replay of a case (its events read and the case rebuilt) on the standby, against the
  same on the primary;
- the replication lag an auditor sees: from a command acknowledged on the primary to its event
  readable on the standby (median and 95th percentile), synchronous and asynchronous.

The standby's synchronous setting is put back as it was at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from infrastructure.audit.schema_upgrade import upgrade
from infrastructure.eventstore.application import CaseJourney
from infrastructure.settings import Settings
from scripts.bench.commands import CASEWORKER, prepare_cases, timed_command
from scripts.pg_clusters import TempCluster
from scripts.scratch_schema import create_scratch_schema, drop_scratch_schema
from scripts.standby import PRIMARY, set_synchronous

DB = "postgresql://postgres@127.0.0.1:{port}/test"


def rate(settings: Settings, cases: list, clients: int, seconds: float) -> float:
    apps = [CaseJourney(settings) for _ in range(clients)]
    done = [0] * clients
    stop = threading.Event()

    def work(k: int) -> None:
        i = 0
        mine = cases[k::clients]
        while not stop.is_set():
            i += 1
            apps[k].execute(timed_command(mine[i % len(mine)], i + k * 1_000_000), CASEWORKER)
            done[k] += 1

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for app in apps:
        app.close()
    return sum(done) / elapsed


def replay_seconds(app: CaseJourney, cases: list, rounds: int) -> float:
    t0 = time.perf_counter()
    for i in range(rounds):
        app.get_case(cases[i % len(cases)])
    return (time.perf_counter() - t0) / rounds


def lags(primary: CaseJourney, standby: CaseJourney, cases: list, samples: int) -> list[float]:
    seen = []
    for i in range(samples):
        case_id = cases[i % len(cases)]
        result = primary.execute(timed_command(case_id, 5_000_000 + i), CASEWORKER)
        t0 = time.perf_counter()
        while not any(e.originator_version == result.version for e in standby.case_events(case_id)[-1:]):
            time.sleep(0.0002)
        seen.append(time.perf_counter() - t0)
    return seen


def measure(
    primary_url: str, standby_url: str, standby_name: str, set_sync: Callable[[str], None], seconds: float
) -> dict[str, Any]:
    """The figures of one run, on a primary and its streaming standby (``set_sync(name)`` makes the
    primary wait for the standby called ``name`` at each commit, or for none with ``""``)."""
    schema = create_scratch_schema(primary_url, "bench_replication")
    keys = Path("/tmp") / f"{schema}-keys"
    on_primary = Settings(store="postgres", postgres_url=primary_url, postgres_schema=schema, key_dir=keys)
    on_standby = on_primary.model_copy(update={"postgres_url": standby_url})
    report: dict[str, Any] = {}
    try:
        upgrade(on_primary)
        with CaseJourney(on_primary) as prep:
            cases = prepare_cases(prep, 64, 20)
        for clients in (1, 8):
            set_sync("")
            without = rate(on_primary, cases, clients, seconds)
            set_sync(standby_name)
            time.sleep(0.5)
            synchronous = rate(on_primary, cases, clients, seconds)
            # The ratio is of the figures as printed, so a reader who divides them gets it too.
            shown_without, shown_synchronous = round(without), round(synchronous)
            report[f"commands_per_s_{clients}_clients"] = {
                "no_standby_waited_for": shown_without,
                "synchronous_standby": shown_synchronous,
                "ratio": round(shown_synchronous / max(shown_without, 1), 2),
            }
        time.sleep(1)
        with CaseJourney(on_primary) as primary, CaseJourney(on_standby, schema="require") as standby:
            replay_seconds(primary, cases, 50)
            replay_seconds(standby, cases, 50)  # warm both
            p, s = replay_seconds(primary, cases, 400), replay_seconds(standby, cases, 400)
            report["replay_ms"] = {
                "primary": round(p * 1000, 3),
                "standby": round(s * 1000, 3),
                "ratio": round(s / p, 2),
            }
            for mode, name in (("synchronous", standby_name), ("asynchronous", "")):
                set_sync(name)
                time.sleep(0.5)
                seen = sorted(lags(primary, standby, cases, 200))
                report[f"lag_ms_{mode}"] = {
                    "median": round(statistics.median(seen) * 1000, 2),
                    "p95": round(seen[int(len(seen) * 0.95)] * 1000, 2),
                }
    finally:
        drop_scratch_schema(primary_url, schema)
    return report


def on_own_clusters(seconds: float) -> dict[str, Any]:
    """The same figures on a primary and a standby of this run's own (``scripts/pg_clusters.py``:
    needs PostgreSQL's server binaries, and root to run them as postgres), removed after. Their
    servers run with ``fsync = off``: what is measured is the wait for the standby, not the disk."""
    primary = TempCluster().start()
    try:
        standby = primary.standby(name="standby1", synchronous=True)
        try:

            def set_sync(name: str) -> None:
                with psycopg.connect(primary.url, autocommit=True) as conn:
                    conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{name}'")
                    conn.execute("SELECT pg_reload_conf()")

            report = measure(primary.url, standby.url, "standby1", set_sync, seconds)
            report["clusters"] = "own (fsync off)"
            return report
        finally:
            standby.remove()
    finally:
        primary.remove()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--standby-port", type=int, default=5433)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--own-clusters",
        action="store_true",
        help="a primary and a standby of the run's own, instead of the test server and scripts/standby.py's",
    )
    args = parser.parse_args(argv)
    if args.own_clusters:
        report = on_own_clusters(args.seconds)
    else:
        with psycopg.connect(PRIMARY) as conn:
            names = conn.execute("SHOW synchronous_standby_names").fetchone()[0]  # type: ignore[index]
            streaming = conn.execute("SELECT application_name FROM pg_stat_replication").fetchall()
        if not streaming:
            print("no standby streams from the primary: run `scripts/standby.py create` first", file=sys.stderr)
            return 2
        try:
            report = measure(
                DB.format(port=5432), DB.format(port=args.standby_port), streaming[0][0], set_synchronous, args.seconds
            )
        finally:
            set_synchronous(names)
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return 0
    for key, value in report.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
