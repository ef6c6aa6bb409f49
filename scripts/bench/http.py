"""The HTTP service under a real load generator (``wrk``), beside the in-process application in the same run.

    .venv/bin/python -m scripts.bench.http [--stores sqlite,postgres] [--events 100000] [--seconds 5]
                                           [--workers N] [--json FILE]

For each store: a fresh store (a temporary SQLite file; a PostgreSQL schema dropped afterwards)
with ``--events`` synthetic events of interleaved journeys, its read models rebuilt, and 200 cases
opened for the commands; one case of 10 events and one of 10,000. Then the real service
(``casejourney serve --workers N``, default one per core; its projection runner beside the
workers) is loaded with ``wrk`` (installed by ``apt-get`` if missing and this runs as root):

- ``GET /cases/{id}`` at 10 and at 10,000 events of the case (the cost must not grow with it), by
  its named caseworker (both parties' contact details shown, so two reads recorded per request),
  and by a caseworker with no relationship (details withheld, nothing recorded);
- ``GET /caseloads`` at ``--events`` stored (the read model, not the log): its latency with one
  client (the target) and its rate with eight;
- a command, ``POST /cases/{id}/give-signposting`` across the 200 cases, at 1 and 8 connections;

and the same command called in-process (``CaseJourney.execute``, 1 and 8 threads) on the same
store, in the same run, for the ratios. Each figure is wrk's own: requests/s and its latency
percentiles. The service runs as deployed but for the periodic checkpoint, which is off
(``CASEJOURNEY_CHECKPOINT_EVERY=0``): it verifies the whole store first and would fall into one
timed run and not the others. The issue's targets are checked and printed (``met`` / ``MISSED``); the exit code is
1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from domain.case.commands import AssignCaseworker, GiveSignposting, OpenCase
from domain.customer.commands import RecordCustomerDetails
from domain.values import Actor, Role, StaffTeam
from infrastructure.access.roster import seed_roster
from infrastructure.eventstore.application import CaseJourney
from infrastructure.http.auth import issue_token
from infrastructure.readmodels.models import ReadModels
from infrastructure.readmodels.registry import PROJECTIONS
from infrastructure.settings import Settings
from scripts.bench.projections import write_synthetic_log
from scripts.scratch_schema import create_scratch_schema, drop_scratch_schema

SECRET = "bench-secret-bench-secret-bench-secret"
CW = Actor("cw-bench", Role.CASEWORKER)
LEADER = Actor("tl-bench", Role.TEAM_LEADER)
OPEN = {"applicant_role": "receiving_parent", "service_type": "collect_and_pay"}
SIGNPOST = {"target": "affordability_hub", "resolved_concern": False}
CASES_FOR_COMMANDS = 200
LONG_CASE = 10_000

#: wrk's own summary, one JSON line (its ``done`` hook): requests, seconds, percentiles in µs, errors.
DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "seconds": %f, "p50_us": %d, "p90_us": %d, "p99_us": %d, "errors": %d, "non_2xx": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed (Debian: apt-get install wrk); not found and cannot be installed here.")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def store(kind: str, postgres_url: str, folder: Path) -> Iterator[tuple[Settings, dict[str, str]]]:
    """A fresh store and the variables a ``serve`` process needs to open it."""
    common = {"http_jwt_secret": SECRET, "key_dir": folder / f"keys-{kind}"}
    if kind == "sqlite":
        path = folder / "bench.sqlite"
        settings = Settings(store="sqlite", sqlite_path=path, **common)  # type: ignore[arg-type]
        env = {"CASEJOURNEY_STORE": "sqlite", "CASEJOURNEY_SQLITE_PATH": str(path)}
        yield settings, env | _common_env(settings)
        return
    schema = create_scratch_schema(postgres_url, "cj_bench_http")
    try:
        settings = Settings(store="postgres", postgres_url=postgres_url, postgres_schema=schema, **common)  # type: ignore[arg-type]
        env = {"CASEJOURNEY_STORE": "postgres", "CASEJOURNEY_POSTGRES_URL": postgres_url}
        env["CASEJOURNEY_POSTGRES_SCHEMA"] = schema
        env |= _common_env(settings)
        cli = str(Path(sys.executable).with_name("casejourney"))
        # The schema made by its owner, as an operator does: the service itself does no DDL.
        subprocess.run([cli, "db", "upgrade"], env={**os.environ, **env}, check=True, capture_output=True)
        yield settings, env
    finally:
        drop_scratch_schema(postgres_url, schema)


def _common_env(settings: Settings) -> dict[str, str]:
    # No periodic checkpoint: signing one verifies the whole store first (seconds of CPU at 100k
    # events), which would land inside one of the timed runs and not the others.
    return {
        "CASEJOURNEY_KEY_DIR": str(settings.key_dir),
        "CASEJOURNEY_HTTP_JWT_SECRET": SECRET,
        "CASEJOURNEY_CHECKPOINT_EVERY": "0",
    }


def prepare(settings: Settings, events: int) -> dict[str, Any]:
    """The log: ``events`` synthetic events, the read models rebuilt, the cases the load uses."""
    with CaseJourney(settings) as app:
        t0 = time.perf_counter()
        write_synthetic_log(app, events)
        for party in ("rp-short", "pp-short", "rp-long", "pp-long"):  # so the named caseworker's read records
            app.record_customer_details(RecordCustomerDetails(party_id=party, name="A. Example", phone="0100"), CW)
        seed_roster(app, {StaffTeam.MAINSTREAM: [CW.id]})  # a named caseworker is one on the case's team
        short = app.execute(OpenCase(**OPEN, receiving_parent_id="rp-short", paying_parent_id="pp-short"), CW).case_id
        app.execute(AssignCaseworker(case_id=short, caseworker_id=CW.id), LEADER)
        for _ in range(8):
            app.execute(GiveSignposting(case_id=short, **SIGNPOST), CW)  # type: ignore[arg-type]
        long = app.execute(OpenCase(**OPEN, receiving_parent_id="rp-long", paying_parent_id="pp-long"), CW).case_id
        app.execute(AssignCaseworker(case_id=long, caseworker_id=CW.id), LEADER)
        for _ in range(LONG_CASE - 2):
            app.execute(GiveSignposting(case_id=long, **SIGNPOST), CW)  # type: ignore[arg-type]
        cases = [
            str(app.execute(OpenCase(**OPEN, receiving_parent_id=f"rp-{n}", paying_parent_id=f"pp-{n}"), CW).case_id)
            for n in range(CASES_FOR_COMMANDS)
        ]
        with ReadModels(app, settings) as models:
            models.rebuild(list(PROJECTIONS), fresh=True)
        head = app.recorder.max_notification_id()
        print(f"  {head:,} events stored and projected in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    if settings.store == "postgres":
        settle_after_load(settings)
    return {"short": str(short), "long": str(long), "cases": cases, "head": head}


def settle_after_load(settings: Settings) -> None:
    """What an operator does after a bulk load, before the figures: the planner's statistics of the
    new tables, and a checkpoint, so the load's own aftermath (autovacuum's analyse, the checkpoint
    that writes it out, stalling commits for seconds) does not land in the first timed run."""
    with psycopg.connect(settings.postgres_url or "", autocommit=True) as conn:
        tables = conn.execute(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables"
            " WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            (settings.postgres_schema,),
        ).fetchall()
        for (table,) in tables:
            conn.execute(f"VACUUM (ANALYZE) {table}")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            print("  (no CHECKPOINT: the bench's role may not; the first run may meet the load's)", file=sys.stderr)


@contextmanager
def serving(env: dict[str, str], workers: int, *extra: str) -> Iterator[str]:
    port = free_port()
    cli = str(Path(sys.executable).with_name("casejourney"))
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen(
            [cli, "serve", "--port", str(port), "--workers", str(workers), *extra],
            env={**os.environ, **env},
            stdout=log,
            stderr=log,
        )
        yield from _until_stopped(server, f"http://127.0.0.1:{port}", log)


def _until_stopped(server: subprocess.Popen[bytes], base: str, log: Any) -> Iterator[str]:
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise SystemExit(f"the service did not start:\n{log.read()}")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=60)


def wrk(exe: str, base: str, script: str, *, connections: int, seconds: float, folder: Path) -> dict[str, float]:
    lua = folder / f"load-{uuid.uuid4().hex[:8]}.lua"
    lua.write_text(script + DONE)
    threads = min(connections, 2)
    out = subprocess.run(
        # A 10 s timeout, not wrk's 2 s: a slow answer is counted in the percentiles, not dropped.
        [exe, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(lua), base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    found = json.loads(line[4:])
    if found["errors"] or found["non_2xx"]:
        raise SystemExit(f"wrk saw errors: {found}\n{out}")
    return {
        "rps": found["requests"] / found["seconds"],
        "p50_ms": found["p50_us"] / 1000,
        "p90_ms": found["p90_us"] / 1000,
        "p99_ms": found["p99_us"] / 1000,
    }


def check_read(base: str, path: str, token: str, *, shown: bool) -> None:
    """The read measured is the one named: both parties' details shown to the named caseworker (so
    two reads are recorded per request), withheld from a caseworker with no relationship."""
    answer = httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    answer.raise_for_status()
    withheld = [
        bool(p.get("contact_details_withheld")) or "contact_details" not in p for p in answer.json()["parties"].values()
    ]
    if withheld != [not shown] * 2:
        raise SystemExit(f"GET {path}: contact details withheld {withheld}, expected {[not shown] * 2}")


def get_script(path: str, token: str) -> str:
    return f'wrk.method = "GET"\nwrk.path = "{path}"\nwrk.headers["Authorization"] = "Bearer {token}"\n'


def command_script(cases: list[str], token: str) -> str:
    ids = ", ".join(f'"{c}"' for c in cases)
    body = json.dumps(SIGNPOST).replace('"', '\\"')
    return (
        f"local cases = {{{ids}}}\n"
        "local n = math.random(#cases)\n"
        f'local headers = {{["Authorization"] = "Bearer {token}", ["Content-Type"] = "application/json"}}\n'
        "request = function()\n"
        "  n = n % #cases + 1\n"
        f'  return wrk.format("POST", "/cases/" .. cases[n] .. "/give-signposting", headers, "{body}")\n'
        "end\n"
    )


def in_process(settings: Settings, cases: list[str], threads: int, seconds: float) -> dict[str, float]:
    """The same command on the same cases, called on the application by ``threads`` threads."""
    with CaseJourney(settings) as app:
        for case_id in cases:  # warm, as the service's workers are
            app.execute(GiveSignposting(case_id=case_id, **SIGNPOST), CW)  # type: ignore[arg-type]
        timings: list[list[float]] = [[] for _ in range(threads)]
        stop = time.perf_counter() + seconds
        start = threading.Barrier(threads + 1)

        def run(i: int) -> None:
            mine = cases[i::threads] or cases
            start.wait()
            n = 0
            while time.perf_counter() < stop:
                command = GiveSignposting(case_id=mine[n % len(mine)], **SIGNPOST)  # type: ignore[arg-type]
                t0 = time.perf_counter()
                app.execute(command, CW)
                timings[i].append(time.perf_counter() - t0)
                n += 1

        pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        start.wait()
        t0 = time.perf_counter()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - t0
    ms = sorted(x * 1000 for each in timings for x in each)
    return {
        "rps": len(ms) / elapsed,
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
    }


def bench_store(kind: str, args: argparse.Namespace, exe: str, folder: Path) -> dict[str, Any]:
    print(f"{kind}: preparing {args.events:,} events", file=sys.stderr)
    with store(kind, args.postgres_url, folder / kind) as (settings, env):
        made = prepare(settings, args.events)
        token = issue_token(settings, CW)
        other = issue_token(settings, Actor("cw-other", Role.CASEWORKER))
        figures: dict[str, Any] = {"store": kind, "events": made["head"], "workers": args.workers}
        with serving(env, args.workers) as base:
            run = {"seconds": args.seconds, "folder": folder}
            reads = (
                ("case_read_10", f"/cases/{made['short']}", token),  # the named caseworker: 2 reads recorded
                ("case_read_10000", f"/cases/{made['long']}", token),
                ("case_read_withheld", f"/cases/{made['short']}", other),  # no relationship: nothing recorded
            )
            for name, path, bearer in reads:
                check_read(base, path, bearer, shown=bearer == token)
                wrk(exe, base, get_script(path, bearer), connections=8, seconds=1, folder=folder)  # warm every worker
                figures[name] = wrk(exe, base, get_script(path, bearer), connections=8, **run)
            # Latency with one client (the target), and throughput with eight.
            figures["caseloads"] = wrk(exe, base, get_script("/caseloads", token), connections=1, **run)
            figures["caseloads_8"] = wrk(exe, base, get_script("/caseloads", token), connections=8, **run)
            script = command_script(made["cases"], token)
            figures["command_http_1"] = wrk(exe, base, script, connections=1, **run)
            figures["command_http_8"] = wrk(exe, base, script, connections=8, **run)
        figures["command_inproc_1"] = in_process(settings, made["cases"], 1, args.seconds)
        figures["command_inproc_8"] = in_process(settings, made["cases"], 8, args.seconds)
    return figures


def targets(f: dict[str, Any], cores: int) -> list[tuple[str, bool, str]]:
    """The issue's targets, each with the figures that decide it."""
    out = []
    over = f["command_http_1"]["p50_ms"] - f["command_inproc_1"]["p50_ms"]
    out.append(("command p50, 1 client: HTTP at most 0.5 ms above in-process", over <= 0.5, f"+{over:.2f} ms"))
    ratio = f["command_http_8"]["rps"] / f["command_inproc_8"]["rps"]
    if f["store"] == "postgres" and f["workers"] == cores:
        out.append(("commands/s, 8 clients, workers = cores: HTTP >= 0.6x in-process", ratio >= 0.6, f"{ratio:.2f}x"))
    if f["workers"] == 2:
        for key, who in (("case_read_10", "named caseworker"), ("case_read_withheld", "details withheld")):
            rps = f[key]["rps"]
            out.append((f"GET /cases/{{id}} ({who}), 2 workers: >= 2,000 req/s", rps >= 2000, f"{rps:,.0f} req/s"))
    p99 = f["caseloads"]["p99_ms"]
    if f["events"] >= 100_000:
        out.append(("GET /caseloads p99 at 100k events (1 client): under 20 ms", p99 < 20, f"{p99:.1f} ms"))
    grow = f["case_read_10000"]["p50_ms"] / f["case_read_10"]["p50_ms"]
    out.append(("a case read at 10,000 events costs what it does at 10 (p50 within 1.5x)", grow <= 1.5, f"{grow:.2f}x"))
    return out


def report(all_figures: list[dict[str, Any]], cores: int) -> bool:
    ok = True
    for f in all_figures:
        print(f"\n{f['store']}: {f['events']:,} events, {f['workers']} worker(s), wrk -c8 unless said")
        print(f"  {'':34} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
        for key, label in (
            ("case_read_10", "GET /cases/{id} (10 events)"),
            ("case_read_10000", "GET /cases/{id} (10,000 events)"),
            ("case_read_withheld", "GET /cases/{id}, details withheld"),
            ("caseloads", "GET /caseloads, 1 connection"),
            ("caseloads_8", "GET /caseloads"),
            ("command_http_1", "command over HTTP, 1 connection"),
            ("command_inproc_1", "command in-process, 1 thread"),
            ("command_http_8", "command over HTTP, 8 connections"),
            ("command_inproc_8", "command in-process, 8 threads"),
        ):
            x = f[key]
            print(f"  {label:34} {x['rps']:>8,.0f} {x['p50_ms']:>7.2f} {x['p99_ms']:>7.2f}")
        print(
            f"  HTTP/in-process commands/s: {f['command_http_1']['rps'] / f['command_inproc_1']['rps']:.2f}x (1),"
            f" {f['command_http_8']['rps'] / f['command_inproc_8']['rps']:.2f}x (8)"
        )
        for what, met, figure in targets(f, cores):
            ok &= met
            print(f"  {'met   ' if met else 'MISSED'} {what}: {figure}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CASEJOURNEY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    exe = ensure_wrk()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="cj-bench-http-") as tmp:
        folder = Path(tmp)
        figures = []
        for kind in args.stores.split(","):
            (folder / kind).mkdir()
            figures.append(bench_store(kind.strip(), args, exe, folder))
    ok = report(figures, cores)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
