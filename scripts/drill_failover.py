"""Failover drill: the primary stopped hard under load, its standby promoted, the clients carry on.

    .venv/bin/python scripts/drill_failover.py                  # synchronous standby: lost must be 0
    .venv/bin/python scripts/drill_failover.py --asynchronous   # what asynchronous replication risks
    .venv/bin/python scripts/drill_failover.py --format json

On this machine it makes a PostgreSQL 15 primary and a streaming-replication standby of its own
(``scripts/pg_clusters.py``: ``initdb``, ``pg_basebackup -R``; the shared server on 5432 is not
touched), upgrades the store on the primary, and starts ``--clients`` clients, each a thread with its
own ``CaseJourney`` on the libpq multi-host URL

    postgresql://postgres@127.0.0.1:PRIMARY,127.0.0.1:STANDBY/postgres?target_session_attrs=read-write

A command that fails is retried with the same command id (its idempotency key), as a well-behaved
client would. After ``--fail-after`` seconds the primary is stopped hard (``pg_ctl stop -m
immediate``: as if its power went) and the standby promoted. The clients reconnect by themselves
through the URL (libpq skips the dead host, and the standby until it takes writes) and carry on.

Then, on the new primary, every acknowledged command must be in the log at the version the client
was told (``lost``), none twice (``duplicated``), and the hash chain must verify. It prints

    acknowledged: N, lost: 0, duplicated: 0

and exits 1 if any acknowledged command is missing, any is doubled or the chain does not verify.
With ``--asynchronous`` the primary does not wait for the standby at commit, so the last commands
it acknowledged before it stopped may never have reached the standby: the drill reports how many
were lost, and exits 1 when any was (a lost acknowledged command is a failure whatever the
replication; the asynchronous run shows how often that risk is taken).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infrastructure.audit.schema_upgrade import upgrade
from infrastructure.eventstore.application import CaseJourney
from infrastructure.settings import Settings
from scripts.bench.commands import prepare_cases
from scripts.drill_postgres_restart import check_log, run_load
from scripts.pg_clusters import TempCluster, available


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cases", type=int, default=10, help="cases per client")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the load runs in all")
    parser.add_argument("--fail-after", type=float, default=3.0, help="seconds of load before the primary stops")
    parser.add_argument("--asynchronous", action="store_true", help="asynchronous replication (may lose commits)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    say = print if args.format == "text" else (lambda *a, **k: print(*a, file=sys.stderr, **k))
    why = available()
    if why:
        print(f"cannot run the drill here: {why}", file=sys.stderr)
        return 2

    primary = TempCluster().start()
    standby: TempCluster | None = None
    try:
        standby = primary.standby(synchronous=not args.asynchronous)
        mode = "asynchronous" if args.asynchronous else "synchronous"
        url = (
            f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/postgres"
            "?target_session_attrs=read-write"
        )
        say(f"primary on port {primary.port}, {mode} standby on port {standby.port}")
        settings = Settings(
            store="postgres",
            postgres_url=url,
            postgres_schema="drill",
            postgres_pool_size=1,
            key_dir=primary.root / "keys",
        )
        upgrade(settings)
        with CaseJourney(settings) as prep:
            case_ids = prepare_cases(prep, args.clients * args.cases, 5)
        failed_over: list[float] = []

        def fail_over(before: int) -> None:
            t0 = time.monotonic()
            primary.stop("immediate")
            standby.promote()
            failed_over.append(time.monotonic() - t0)
            say(f"{before} commands acknowledged; primary stopped hard, standby promoted in {failed_over[0]:.1f}s")

        load = run_load(
            settings,
            case_ids,
            clients=args.clients,
            cases=args.cases,
            seconds=args.seconds,
            fault_after=args.fail_after,
            fault=fail_over,
        )
        logs, stuck = load.logs, load.stuck
        with contextlib.redirect_stdout(sys.stderr if args.format == "json" else sys.stdout):
            checked = check_log(settings, case_ids, logs)  # its lines, beside the report
        recovered = sorted(log.first_ack_after_restart for log in logs if log.first_ack_after_restart is not None)
        unexpected = [u for log in logs for u in log.unexpected]
        gave_up = sum(len(log.gave_up) for log in logs)
        problems = list(checked.failures)
        if unexpected:
            problems.append(f"errors that are not the store's clear errors: {unexpected[:3]}")
        if len(recovered) < len(logs) or gave_up or stuck:
            problems.append(f"{len(logs) - len(recovered)} client(s) never got a command acknowledged after failover")
        report = {
            "replication": mode,
            "clients": args.clients,
            "acknowledged": checked.acknowledged,
            "lost": checked.lost,
            "duplicated": checked.duplicated,
            "chain_verifies": checked.chain_ok,
            "failover_seconds": round(failed_over[0], 2),
            "first_acknowledgement_after_failover_seconds": [round(r, 2) for r in recovered],
            "problems": problems,
        }
        if args.format == "json":
            print(json.dumps(report, indent=2))
        else:
            print(f"acknowledged: {checked.acknowledged}, lost: {checked.lost}, duplicated: {checked.duplicated}")
            if recovered:
                print(f"clients back after the failover in {recovered[0]:.1f}s to {recovered[-1]:.1f}s")
            if args.asynchronous:
                print(
                    f"asynchronous replication lost {checked.lost} of {checked.acknowledged} acknowledged commands"
                    " (those the primary acknowledged before the standby had them)"
                )
            for problem in problems:
                print(f"FAIL {problem}")
            print("drill passed" if not problems else f"drill FAILED ({len(problems)})")
        return 1 if problems else 0
    finally:
        if standby is not None:
            standby.remove()
        primary.remove()


if __name__ == "__main__":
    raise SystemExit(main())
