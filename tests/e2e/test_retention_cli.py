"""`casejourney retention` as an operator runs it: due, apply with progress, and a resume after kill -9.

Given 120 cases closed three years ago (written at a clock the test sets), when `retention apply`
is killed with SIGKILL mid-way and run again, then every case's free text and every person is
erased exactly once (one ``TextErased`` and one ``Erased`` event each, with who and why), nothing is
left due, the closing reasons read ``[erased]``, and the chain still verifies.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime

from domain.case.aggregate import Case
from domain.case.commands import CloseCase
from domain.customer.aggregate import ERASED, Customer
from domain.retention.aggregate import TextErasures
from infrastructure.eventstore.application import CaseJourney
from tests.builders import CASEWORKER, open_case
from tests.conftest import FakeClock, cli_env
from tests.e2e.test_cli import CLI

CASES = 120


def text_erasures(app: CaseJourney) -> list[str]:
    found = app.recorder.select_notifications(1, 100_000, topics=[TextErasures.TextErased.TOPIC])
    return [k for n in found for k in app.mapper.to_domain_event(n).keys]  # type: ignore[attr-defined]


def erasures(app: CaseJourney) -> list[str]:
    found = app.recorder.select_notifications(1, 100_000, topics=[Customer.Erased.TOPIC])
    return [app.mapper.to_domain_event(n).party_id for n in found]  # type: ignore[attr-defined]


def test_a_killed_apply_is_completed_by_the_next_run_and_erases_each_person_once(
    make_app: Callable[..., CaseJourney], clock: FakeClock
) -> None:
    clock.now = datetime(2023, 1, 10, 9, 0, tzinfo=UTC)
    app = make_app()
    for i in range(CASES):
        case_id = open_case(app, receiving_parent_id=f"pwc-ret-{i}", paying_parent_id=f"nrp-ret-{i}")
        app.execute(CloseCase(case_id=case_id, reason="The child has left full-time education."), CASEWORKER)
    env = {**os.environ, **cli_env(app.settings), "COLUMNS": "200"}

    due = subprocess.run([CLI, "retention", "due", "--format", "json"], capture_output=True, text=True, env=env)
    assert due.returncode == 0, due.stderr
    listed = json.loads(due.stdout)
    assert len(listed) == 3 * CASES and {i["status"] for i in listed} == {"due"}
    by_kind = {k: [i for i in listed if i["kind"] == k] for k in ("case", "person")}
    assert (len(by_kind["case"]), len(by_kind["person"])) == (CASES, 2 * CASES)
    assert "14 months end 2024-03-10" in by_kind["case"][0]["why"]
    assert "24 months end 2025-01-10" in by_kind["person"][0]["why"]
    unasked = subprocess.run(
        [CLI, "retention", "apply", "--actor", "svc-retention"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert unasked.returncode == 2 and erasures(app) == []  # off a terminal it needs --yes

    run = subprocess.Popen(
        [CLI, "retention", "apply", "--actor", "svc-retention", "--yes"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(erasures(app)) < 5 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=10)
    assert run.returncode == -signal.SIGKILL
    first = erasures(app)
    assert 5 <= len(first) < 2 * CASES  # it really was killed mid-way
    assert len(text_erasures(app)) == CASES  # the cases' text went first

    resumed = subprocess.run(
        [CLI, "retention", "apply", "--actor", "svc-retention", "--yes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "refused" in resumed.stdout and " 0 refused" in resumed.stdout
    every = erasures(app)
    assert sorted(every) == sorted({p for i in range(CASES) for p in (f"pwc-ret-{i}", f"nrp-ret-{i}")})
    assert len(every) == len(set(every))  # each person erased exactly once
    texts = text_erasures(app)
    assert len(texts) == len(set(texts)) == CASES  # and each case's text key once
    [closed] = [e for e in app.case_events(case_id) if isinstance(e, Case.CaseClosed)]
    assert closed.reason == ERASED
    after = subprocess.run([CLI, "retention", "due", "--format", "json"], capture_output=True, text=True, env=env)
    assert json.loads(after.stdout) == []
    verify = subprocess.run([CLI, "verify"], capture_output=True, text=True, env=env)
    assert verify.returncode == 0, verify.stdout


def test_erase_refuses_a_person_under_legal_hold_and_the_dry_run_says_so(
    make_app: Callable[..., CaseJourney],
) -> None:
    app = make_app()
    open_case(app, receiving_parent_id="pwc-held", paying_parent_id="nrp-held")
    env = {**os.environ, **cli_env(app.settings), "COLUMNS": "200"}
    hold = subprocess.run(
        [
            CLI,
            "retention",
            "hold",
            "person",
            "pwc-held",
            "--reason",
            "Complaint CMS-2026-7 open.",
            "--by",
            "acssl-dee",
            "--role",
            "acs_senior_leader",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert hold.returncode == 0, hold.stderr
    head = app.recorder.max_notification_id()
    erase = [CLI, "erase", "pwc-held", "--reason", "asked", "--actor", "svc-retention"]
    dry = subprocess.run([*erase, "--dry-run"], capture_output=True, text=True, env=env)
    assert dry.returncode == 0 and "Held, so erasure is refused" in dry.stdout and "CMS-2026-7" in dry.stdout
    refused = subprocess.run([*erase, "--yes"], capture_output=True, text=True, env=env)
    assert refused.returncode == 1 and "under legal hold" in refused.stderr
    assert app.recorder.max_notification_id() == head  # nothing appended
    listed = subprocess.run([CLI, "retention", "holds", "person", "pwc-held"], capture_output=True, text=True, env=env)
    assert "Complaint CMS-2026-7 open." in listed.stdout and "until lifted" in listed.stdout
