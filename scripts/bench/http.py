"""HTTP load: requests/s and p50/p99 for a command mix at 1 and 8 clients on PostgreSQL, beside the
same mix called in-process on the application, in the same run (HTTP overhead as a ratio).

    .venv/bin/python scripts/bench/http.py [--seconds 5] [--postgres-url postgresql://postgres@127.0.0.1:5432/test]

The server is the real thing (`casejourney serve`, uvicorn, one process) in a subprocess, on a fresh
PostgreSQL schema that is dropped afterwards. One journey = 7 requests: open a case, record a
concern (police involved), decide the referral, accept it, start enforcement, hand it over, read
the case.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from domain.case.commands import (
    AcceptReferral,
    DecideReferral,
    HandOverEnforcement,
    OpenCase,
    RecordConcern,
    StartEnforcement,
)
from domain.values import Actor, Role, StaffTeam
from infrastructure.access.roster import seed_roster
from infrastructure.eventstore.application import CaseJourney
from infrastructure.http.auth import issue_token
from infrastructure.settings import Settings
from scripts.scratch_schema import create_scratch_schema, drop_scratch_schema

SECRET = "bench-secret-bench-secret-bench-secret"
CW, SCW, EM = (
    Actor("cw-b", Role.CASEWORKER),
    Actor("scw-b", Role.SPECIALIST_CASEWORKER),
    Actor("em-b", Role.ENFORCEMENT_MANAGER),
)
#: The people the journey names, on the staff roster.
ROSTER = {
    StaffTeam.SPECIALIST_CASE_TEAM: [SCW.id],
    StaffTeam.ENFORCEMENT: [EM.id, "em-c"],
}
OPEN = {"applicant_role": "receiving_parent", "service_type": "collect_and_pay"}
OPEN |= {"receiving_parent_id": "pwc", "paying_parent_id": "nrp"}
CONCERN = {
    "kind": "threatened_violence",
    "source": "customer_disclosure",
    "affected_party_id": "pwc",
    "police_involved": True,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_journey(client: httpx.Client, tokens: dict[str, dict[str, str]], timed: Callable[..., httpx.Response]) -> None:
    r = timed(client.post, "/cases", json=OPEN, headers=tokens["cw"])
    case = f"/cases/{r.json()['case_id']}"
    timed(client.post, f"{case}/record-concern", json=CONCERN, headers=tokens["cw"])
    timed(client.post, f"{case}/decide-referral", json={}, headers=tokens["cw"])
    timed(client.post, f"{case}/accept-referral", json={"specialist_caseworker_id": SCW.id}, headers=tokens["scw"])
    timed(
        client.post,
        f"{case}/start-enforcement",
        json={"enforcement_manager_id": EM.id, "reason": "arrears"},
        headers=tokens["scw"],
    )
    timed(
        client.post,
        f"{case}/hand-over-enforcement",
        json={"to_manager_id": "em-c", "reason": "x"},
        headers=tokens["em"],
    )
    timed(client.get, case, headers=tokens["scw"])


def app_journey(app: CaseJourney, timed: Callable[..., object]) -> None:
    result = timed(app.execute, OpenCase(**OPEN), CW)
    case_id = result.case_id  # type: ignore[attr-defined]
    timed(app.execute, RecordConcern(case_id=case_id, **CONCERN), CW)
    timed(app.execute, DecideReferral(case_id=case_id), CW)
    timed(app.execute, AcceptReferral(case_id=case_id, specialist_caseworker_id=SCW.id), SCW)
    timed(app.execute, StartEnforcement(case_id=case_id, enforcement_manager_id=EM.id, reason="arrears"), SCW)
    timed(app.execute, HandOverEnforcement(case_id=case_id, to_manager_id="em-c", reason="x"), EM)
    timed(app.get_case, case_id)


def run(clients: int, seconds: float, journey: Callable[[Callable[..., object]], None]) -> tuple[float, float, float]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(clients + 1)

    def worker(i: int) -> None:
        def timed(fn: Callable[..., object], *args: object, **kwargs: object) -> object:
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            latencies[i].append(time.perf_counter() - t0)
            status = getattr(out, "status_code", 200)
            if status >= 400:
                raise RuntimeError(f"{status}: {getattr(out, 'text', '')}")
            return out

        barrier.wait()
        while time.perf_counter() < stop:
            journey(timed)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    all_ms = sorted(x * 1000 for lat in latencies for x in lat)
    p99 = all_ms[min(len(all_ms) - 1, int(len(all_ms) * 0.99))]
    return len(all_ms) / elapsed, statistics.median(all_ms), p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CASEJOURNEY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()

    schema = create_scratch_schema(args.postgres_url, "cj_bench_http")
    settings = Settings(
        store="postgres",
        postgres_url=args.postgres_url,
        postgres_schema=schema,
        postgres_pool_size=8,
        http_jwt_secret=SECRET,  # type: ignore[arg-type]
    )
    port = free_port()
    env = {
        **os.environ,
        "CASEJOURNEY_STORE": "postgres",
        "CASEJOURNEY_POSTGRES_URL": args.postgres_url,
        "CASEJOURNEY_POSTGRES_SCHEMA": schema,
        "CASEJOURNEY_POSTGRES_POOL_SIZE": "8",
        "CASEJOURNEY_HTTP_JWT_SECRET": SECRET,
    }
    exe = Path(sys.executable).with_name("casejourney")
    server = subprocess.Popen([str(exe), "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    rows = []
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        tokens = {
            name: {"Authorization": f"Bearer {issue_token(settings, actor)}"}
            for name, actor in (("cw", CW), ("scw", SCW), ("em", EM))
        }
        local = threading.local()

        def over_http(timed: Callable[..., object]) -> None:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=base, timeout=30)
            http_journey(local.client, tokens, timed)  # type: ignore[arg-type]

        app = CaseJourney(settings)
        seed_roster(app, ROSTER)
        try:
            for clients in (1, 8):
                http = run(clients, args.seconds, over_http)
                inproc = run(clients, args.seconds, lambda timed: app_journey(app, timed))
                rows.append((clients, http, inproc))
        finally:
            app.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        drop_scratch_schema(args.postgres_url, schema)

    print(f"HTTP API vs in-process on PostgreSQL ({args.seconds:.0f}s each; mix: 6 commands + 1 case read per journey)")
    head = f"{'clients':>7} | {'HTTP req/s':>10} {'p50 ms':>7} {'p99 ms':>7} |"
    print(head + f" {'in-proc op/s':>12} {'p50 ms':>7} {'p99 ms':>7} | {'ratio':>5}")
    for clients, (h_rps, h50, h99), (i_rps, i50, i99) in rows:
        print(
            f"{clients:>7} | {h_rps:>10.0f} {h50:>7.2f} {h99:>7.2f} | {i_rps:>12.0f} {i50:>7.2f} {i99:>7.2f} |"
            f" {i_rps / h_rps:>5.1f}x"
        )
    print("ratio = in-process ops/s divided by HTTP requests/s (the cost of the HTTP layer)")


if __name__ == "__main__":
    main()
