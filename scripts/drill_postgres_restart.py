"""Fault drill: PostgreSQL restarted while concurrent clients send commands.

    .venv/bin/python scripts/drill_postgres_restart.py                 # 8 clients, restart after 3 s
    .venv/bin/python scripts/drill_postgres_restart.py --clients 4 --restart-after 5 --seconds 20

**It restarts the whole server** (``pg_ctlcluster --skip-systemctl-redirect 15 main restart`` by
default; ``--restart-command`` to change it): every other session on that server is cut too. Run
it on a server nobody else is using; that is why it is a script and not part of the test suite.

Each client is a thread with its *own* ``CaseJourney`` (its own kept writer connection and pool)
working on its own cases, sending one command after another for ``--seconds``. A command that
fails is retried with the **same command id** (the idempotency key) until it is acknowledged, with
a short pause, as a well-behaved client would. Half-way through, the server is restarted.

What must hold (the script checks each and exits 1 if any fails):

1. clients get clear errors: every failure is one of the library's ``PersistenceError`` types
   (``OperationalError``/``InterfaceError``...) with the server's message, never anything else;
2. every acknowledged command is in the log, with the version it was acknowledged with;
3. nothing unacknowledged is half-written: each case's versions run 1..N with no gap, every
   command id in the log was sent by a client, each command's events appear exactly once (a
   retried command whose first attempt did commit is *replayed*, not appended twice), and the
   whole hash chain verifies;
4. the service recovers by itself: after the restart every client gets commands acknowledged
   again through the same application objects, without being rebuilt.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.persistence import PersistenceError

from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.integrity import verify_log
from infrastructure.settings import Settings
from scripts.bench.commands import CASEWORKER, prepare_cases, timed_command
from scripts.scratch_schema import create_scratch_schema, drop_scratch_schema

DEFAULT_URL = os.environ.get("CASEJOURNEY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DEFAULT_RESTART = "pg_ctlcluster --skip-systemctl-redirect 15 main restart"


@dataclass
class ClientLog:
    acknowledged: dict[UUID, tuple[UUID, int, bool]] = field(default_factory=dict)  # command -> case, version, replayed
    sent: set[UUID] = field(default_factory=set)
    errors: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    first_ack_after_restart: float | None = None
    gave_up: list[UUID] = field(default_factory=list)
    outages: list[float] = field(default_factory=list)  # seconds from a first error to the next acknowledgement


def client(app: CaseJourney, cases: list[UUID], stop: threading.Event, restarted: list[float], log: ClientLog) -> None:
    i = 0
    while not stop.is_set():
        i += 1
        case_id = cases[i % len(cases)]
        command = timed_command(case_id, i)
        log.sent.add(command.command_id)
        deadline = time.monotonic() + 60
        failing_since: float | None = None
        while True:
            try:
                result = app.execute(command, CASEWORKER)
            except PersistenceError as exc:  # the clear error a client must get
                log.errors[f"{type(exc).__name__}: {str(exc).splitlines()[0][:100]}"] += 1
                failing_since = failing_since or time.monotonic()
                if time.monotonic() > deadline:
                    log.gave_up.append(command.command_id)
                    break
                time.sleep(0.2)
                continue
            except Exception as exc:  # anything else is a failure of the drill
                log.unexpected.append(f"{type(exc).__name__}: {exc}")
                break
            log.acknowledged[command.command_id] = (case_id, result.version, result.replayed)
            if failing_since is not None:
                log.outages.append(time.monotonic() - failing_since)
            if restarted and log.first_ack_after_restart is None and time.monotonic() > restarted[0]:
                log.first_ack_after_restart = time.monotonic() - restarted[0]
            break


@dataclass
class Load:
    """What ``run_load`` leaves: each client's log, the count acknowledged before the fault, how
    many clients did not finish, and the applications (closed)."""

    logs: list[ClientLog]
    before: int
    stuck: int


def run_load(
    settings: Settings,
    case_ids: list[UUID],
    *,
    clients: int,
    cases: int,
    seconds: float,
    fault_after: float,
    fault: Callable[[int], None],
) -> Load:
    """``clients`` threads, each its own application and ``cases`` of ``case_ids``, send commands for
    ``seconds``; after ``fault_after`` seconds ``fault(acknowledged so far)`` breaks the database, and
    the moment it returns is when the clients' recovery is timed from."""
    apps = [CaseJourney(settings) for _ in range(clients)]
    logs = [ClientLog() for _ in apps]
    stop = threading.Event()
    recovered_from: list[float] = []
    threads = [
        threading.Thread(
            target=client, args=(app, case_ids[k * cases : (k + 1) * cases], stop, recovered_from, log), daemon=True
        )
        for k, (app, log) in enumerate(zip(apps, logs, strict=True))
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(fault_after)
    before = sum(len(log.acknowledged) for log in logs)
    fault(before)
    recovered_from.append(time.monotonic())
    time.sleep(max(0.0, seconds - (time.monotonic() - started)))
    stop.set()
    for t in threads:
        t.join(timeout=90)
    for app in apps:
        app.close()
    return Load(logs, before, sum(t.is_alive() for t in threads))


@dataclass
class LogCheck:
    """What the log holds against what the clients were told: read on a fresh application."""

    acknowledged: int = 0
    lost: int = 0  # acknowledged, and not in the log at the version the client was told
    duplicated: int = 0  # a command whose events appear more than once
    chain_ok: bool = True
    failures: list[str] = field(default_factory=list)


def check_log(settings: Settings, case_ids: list[UUID], logs: list[ClientLog], prepared: int = 5) -> LogCheck:
    """Checks 2 and 3 of the docstring, on the store ``settings`` name (after a failover: the new primary)."""
    acked = {cid: v for log in logs for cid, v in log.acknowledged.items()}
    sent = set().union(*(log.sent for log in logs))
    result = LogCheck(acknowledged=len(acked))
    failures = result.failures
    checker = CaseJourney(settings)
    try:
        per_command: Counter[UUID] = Counter()
        in_log: dict[UUID, tuple[UUID, int]] = {}
        for case_id in case_ids:
            events = checker.case_events(case_id)
            versions = [e.originator_version for e in events]
            if versions != list(range(1, len(versions) + 1)):
                failures.append(f"3. case {case_id}: versions have a gap: {versions}")
            for e in events[prepared:]:  # after the prepared history
                per_command[e.command_id] += 1
                in_log[e.command_id] = (case_id, e.originator_version)
        for command_id, (case_id, version, _replayed) in acked.items():
            if in_log.get(command_id) != (case_id, version):
                result.lost += 1
                failures.append(f"2. acknowledged command {command_id} is not in the log at v{version}")
        if stray := set(in_log) - sent:
            failures.append(f"3. {len(stray)} command(s) in the log that no client sent")
        if doubled := [c for c, n in per_command.items() if n != 1]:
            result.duplicated = len(doubled)
            failures.append(f"3. {len(doubled)} command(s) appended more than once")
        unacked_in_log = set(in_log) - set(acked)
        print(
            f"log: {len(in_log)} commands after the prepared history; {len(unacked_in_log)} in the log but"
            " never acknowledged (a client stopped before its retry; each is whole: one event, once)"
        )
        chain = verify_log(checker.recorder.chain_rows())  # type: ignore[attr-defined]
        result.chain_ok = chain.ok
        print(f"hash chain: {chain.checked} events, {'ok' if chain.ok else 'BROKEN'}")
        if not chain.ok:
            failures.append("3. the hash chain does not verify")
    finally:
        checker.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", default=DEFAULT_URL)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cases", type=int, default=10, help="cases per client")
    parser.add_argument("--seconds", type=float, default=12.0, help="how long the load runs")
    parser.add_argument("--restart-after", type=float, default=3.0)
    parser.add_argument("--restart-command", default=DEFAULT_RESTART)
    parser.add_argument("--keep", action="store_true", help="keep the schema (its name is printed)")
    args = parser.parse_args()

    schema = create_scratch_schema(args.postgres_url, "drill_restart")
    settings = Settings(store="postgres", postgres_url=args.postgres_url, postgres_schema=schema, postgres_pool_size=1)
    failures: list[str] = []
    try:
        prep = CaseJourney(settings)
        case_ids = prepare_cases(prep, args.clients * args.cases, 5)
        prep.close()

        def restart(before: int) -> None:
            print(f"{before} commands acknowledged; restarting the server: {args.restart_command}")
            t0 = time.monotonic()
            done = subprocess.run(args.restart_command, shell=True, capture_output=True, text=True)
            print(f"restart command took {time.monotonic() - t0:.1f}s (exit {done.returncode}) {done.stderr.strip()}")
            if done.returncode != 0:
                failures.append(f"the restart command failed: {done.stderr.strip()}")

        load = run_load(
            settings,
            case_ids,
            clients=args.clients,
            cases=args.cases,
            seconds=args.seconds,
            fault_after=args.restart_after,
            fault=restart,
        )
        logs = load.logs
        if load.stuck:
            failures.append("a client did not finish within 90 s")

        # ---- checks, on a fresh application: what is in the log, not what the clients remember
        errors: Counter[str] = Counter()
        for log in logs:
            errors.update(log.errors)
        acked = {cid: v for log in logs for cid, v in log.acknowledged.items()}
        print(f"acknowledged {len(acked)} commands ({sum(v[2] for v in acked.values())} as replays of a retry)")
        print("errors the clients saw:")
        for text, n in errors.most_common():
            print(f"  {n:5d} x {text}")
        unexpected = [u for log in logs for u in log.unexpected]
        if unexpected:
            failures.append(f"1. errors that are not the store's clear errors: {unexpected[:3]}")
        if not errors:
            failures.append("1. no client saw an error: the restart did not hit the load (restart later?)")

        failures.extend(check_log(settings, case_ids, logs).failures)
        late = [k for k, log in enumerate(logs) if log.first_ack_after_restart is None]
        if late:
            failures.append(f"4. client(s) {late} never got a command acknowledged after the restart")
        else:
            recovery = sorted(log.first_ack_after_restart or 0 for log in logs)
            print(
                f"recovery: first acknowledgement after the restart returned, per client: {recovery[0]:.1f}s"
                f" to {recovery[-1]:.1f}s (same application objects, no rebuild)"
            )
        outages = sorted(o for log in logs for o in log.outages)
        if outages:
            print(
                f"outage seen by clients (first error to acknowledgement of the same command): {outages[0]:.1f}s"
                f" to {outages[-1]:.1f}s"
            )
        gave_up = sum(len(log.gave_up) for log in logs)
        if gave_up:
            failures.append(f"4. {gave_up} command(s) still failing after 60 s of retries")
    finally:
        if args.keep:
            print(f"schema kept: {schema}")
        else:
            drop_scratch_schema(args.postgres_url, schema)
    for failure in failures:
        print(f"FAIL {failure}")
    print("drill passed: every property held" if not failures else f"drill FAILED ({len(failures)})")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
