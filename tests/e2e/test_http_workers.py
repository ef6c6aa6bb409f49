"""`casejourney serve --workers N` (issue 16, items 1 and 3): the real server, several processes on
one store. The same Idempotency-Key sent to different workers at once appends one event and every
caller gets the first call's answer; each request is one JSON log line with its id, never a token;
SIGTERM ends the service cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infrastructure.eventstore.application import CaseJourney
from infrastructure.http.auth import issue_token
from tests.conftest import cli_env, postgres_settings, seed_test_roster
from tests.e2e.conftest import CW, SECRET, free_port, http_settings, wait_until_serving
from tests.e2e.test_cli import CLI

pytestmark = pytest.mark.postgres

CONCERN = {"kind": "coercive_control", "source": "customer_disclosure", "affected_party_id": "pwc-1"}


@pytest.fixture
def served(pg_schema: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = http_settings(postgres_settings(pg_schema))
    with CaseJourney(settings) as app:
        seed_test_roster(app)
    port = free_port()
    env = {**os.environ, **cli_env(settings), "CASEJOURNEY_HTTP_JWT_SECRET": SECRET}
    log = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen(
        [CLI, "serve", "--workers", "2", "--port", str(port)], env=env, stderr=log, stdout=log, text=True
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(base, server, lambda: Path(log.name).read_text())
    token = issue_token(settings, CW)
    try:
        yield {"base": base, "server": server, "log": Path(log.name), "settings": settings, "token": token}
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        log.close()


def _lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_one_key_sent_to_several_workers_at_once_appends_one_event(served: dict[str, Any]) -> None:
    base, auth = served["base"], {"Authorization": f"Bearer {served['token']}"}
    opened = httpx.post(
        f"{base}/cases",
        json={"applicant_role": "receiving_parent", "service_type": "collect_and_pay",
              "receiving_parent_id": "pwc-1", "paying_parent_id": "nrp-1"},
        headers=auth,
    )  # fmt: skip
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["case_id"]

    # Requests on new connections reach both workers (the kernel hands each to whichever accepts).
    for _ in range(20):
        with httpx.Client() as fresh:
            assert fresh.get(f"{base}/healthz").status_code == 200
        if len({line["pid"] for line in _lines(served["log"]) if line["route"] == "/healthz"}) > 1:
            break
    pids = {line["pid"] for line in _lines(served["log"])}
    assert len(pids) == 2, pids

    go, answers = threading.Barrier(12), []

    def send() -> None:
        with httpx.Client(timeout=30) as own:  # its own connection: any worker
            go.wait()
            headers = {**auth, "Idempotency-Key": "same-key-to-every-worker"}
            answers.append(own.post(f"{base}/cases/{case_id}/record-concern", json=CONCERN, headers=headers))

    threads = [threading.Thread(target=send) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(answers) == 12
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
    first = [a.json() for a in answers if a.headers.get("Idempotent-Replayed") != "true"]
    assert len(first) == 1 and first[0]["replayed"] is False  # one call appended; eleven were replays
    same = {json.dumps({k: v for k, v in a.json().items() if k != "replayed"}, sort_keys=True) for a in answers}
    assert len(same) == 1  # the first call's answer, to every caller
    with CaseJourney(served["settings"]) as app:
        kinds = [type(e).__name__ for e in app.case_events(case_id)]
    assert kinds.count("ConcernRecorded") == 1, kinds
    handled = {line["pid"] for line in _lines(served["log"]) if line["route"].endswith("/record-concern")}
    assert handled, "no request line for the commands"

    # The metrics add up every worker's counts, whichever worker answers the scrape.
    for _ in range(4):
        scraped = _metrics(httpx.get(f"{base}/metrics").text)
        route = "/cases/{case_id}/record-concern"
        assert scraped[f'http_requests_total{{method="POST",route="{route}",status="200"}}'] == 12
        assert scraped['casejourney_commands_total{command="RecordConcern",outcome="appended"}'] == 1
        assert scraped['casejourney_commands_total{command="RecordConcern",outcome="replayed"}'] == 11
        assert scraped[f'http_request_duration_seconds_count{{method="POST",route="{route}"}}'] == 12


def _metrics(text: str) -> dict[str, float]:
    """Prometheus' text format as {series: value} (labels as written; comment lines left out)."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            found[series] = float(value)
    return found


def test_each_request_is_one_json_line_with_its_id_and_no_token(served: dict[str, Any]) -> None:
    base, token = served["base"], served["token"]
    auth = {"Authorization": f"Bearer {token}"}
    mine = httpx.get(f"{base}/caseloads", headers={**auth, "X-Request-ID": "trace-4bf92f35.1"})
    assert mine.headers["X-Request-ID"] == "trace-4bf92f35.1"
    smuggled = httpx.get(f"{base}/caseloads", headers={**auth, "X-Request-ID": 'a b"}{injected'})
    made = smuggled.headers["X-Request-ID"]
    assert len(made) == 32 and made != 'a b"}{injected'  # replaced: never copied into the log
    refused = httpx.get(f"{base}/caseloads")
    assert refused.status_code == 401 and len(refused.headers["X-Request-ID"]) == 32

    served["server"].send_signal(signal.SIGTERM)  # a clean stop: every line written, exit 0
    assert served["server"].wait(timeout=60) == 0
    text = served["log"].read_text()
    assert token not in text and "pwc-1" not in text
    lines = {line["request_id"]: line for line in _lines(served["log"])}
    line = lines["trace-4bf92f35.1"]
    assert line["method"] == "GET" and line["route"] == "/caseloads" and line["status"] == 200
    assert (line["actor"], line["role"]) == (CW.id, "caseworker") and line["duration_ms"] >= 0
    assert set(line) == {"at", "method", "route", "status", "duration_ms", "request_id", "actor", "role", "pid"}
    assert lines[made]["status"] == 200 and lines[refused.headers["X-Request-ID"]]["status"] == 401
    assert lines[refused.headers["X-Request-ID"]]["actor"] is None


def test_the_runner_beside_the_workers_lets_every_worker_read_the_callers_writes(served: dict[str, Any]) -> None:
    base, auth = served["base"], {"Authorization": f"Bearer {served['token']}"}
    body = {"applicant_role": "receiving_parent", "service_type": "collect_and_pay"}
    for n in range(3):
        with httpx.Client() as fresh:  # a new connection each time: any worker takes it
            opened = fresh.post(
                f"{base}/cases", json=body | {"receiving_parent_id": f"rp-{n}", "paying_parent_id": f"pp-{n}"},
                headers=auth,
            )  # fmt: skip
            assert opened.status_code == 201, opened.text
            since = {"Min-Log-Position": opened.headers["Log-Position"]}
        with httpx.Client() as fresh:
            loads = fresh.get(f"{base}/caseloads", params={"by": "team"}, headers={**auth, **since})
        assert loads.status_code == 200, loads.text
        assert sum(x["open_cases"] for x in loads.json()["caseloads"]) == n + 1
        assert int(loads.headers["Log-Position"]) >= int(since["Min-Log-Position"])
    assert "read models kept current here" in served["log"].read_text()
