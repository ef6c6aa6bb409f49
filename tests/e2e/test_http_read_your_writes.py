"""The API answers from the read models it keeps, and a caller reads its own writes (issue 16, item 7).

By default (``http_read_models = "tables"``) caseloads and the expedited queue come from the
projection runner's tables. A command answers ``Log-Position``; a list read that sends it back as
``Min-Log-Position`` waits (bounded) until the tables include it, or is answered 503
``projection_behind``. A case's team assignment and its view are never behind: each is the kept
row or copy brought up to date with the case's newer events, also those another process appended.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain.case.commands import HandOverEnforcement
from infrastructure.eventstore.application import CaseJourney
from infrastructure.http import create_app
from infrastructure.readmodels.leases import lease_is_held
from infrastructure.readmodels.models import ReadModels
from infrastructure.readmodels.runner import RunnerBesideTheService
from tests.builders import opening
from tests.conftest import FakeClock, seed_test_roster
from tests.e2e.conftest import CW, EM, EM2, SCW, Api, http_settings

POLICE_CONCERN = {
    "kind": "physical_violence",
    "source": "police",
    "affected_party_id": "pwc-1",
    "police_involved": True,
}


@pytest.fixture
def no_runner(store_settings: Any, clock: FakeClock) -> Iterator[Api]:
    """The API on the tables, with no runner: what it answers when the read models are behind."""
    settings = http_settings(store_settings, http_read_models="tables", http_read_your_writes_seconds=0.3)
    asgi = create_app(settings, clock=clock)
    seed_test_roster(asgi.state.services.app)
    with TestClient(asgi) as client:
        yield Api(client, settings, clock, reads_own_writes=True)
    asgi.state.services.close()


def _enforced_case(api: Api) -> tuple[str, int]:
    case_id = api.open_case()
    api.command(case_id, "record_concern", POLICE_CONCERN, CW)
    api.command(case_id, "decide_referral", {}, CW)
    api.command(case_id, "accept_referral", {"specialist_caseworker_id": SCW.id}, SCW)
    last = api.post(f"/cases/{case_id}/start-enforcement", {"enforcement_manager_id": EM.id, "reason": "arrears"}, SCW)
    assert last.status_code == 200, last.text
    return case_id, int(last.headers["Log-Position"])


def _loads(response: Any) -> dict[str, int]:
    return {x["key"]: x["open_cases"] for x in response.json()["caseloads"]}


def test_a_list_waits_for_the_callers_own_write_or_says_it_is_behind(no_runner: Api) -> None:
    api = no_runner
    case_id, position = _enforced_case(api)
    assert position == api.position and position >= 5

    # No runner has run: without Min-Log-Position the tables' answer, with the position it holds.
    plain = api.client.get("/caseloads", params={"by": "enforcement_manager"}, headers=api.headers(EM))
    assert plain.status_code == 200 and _loads(plain) == {}
    assert int(plain.headers["Log-Position"]) < position
    # With it: the caller is told that its write is not there yet, never shown a list without it.
    waited = api.get("/caseloads", EM, by="enforcement_manager")
    assert waited.status_code == 503, waited.text
    assert waited.json()["code"] == "projection_behind" and waited.headers["Retry-After"] == "1"
    assert str(position) in waited.json()["detail"] and waited.json()["position"] < position
    queue = api.get("/expedited-queue", SCW)
    assert queue.status_code == 503 and queue.json()["code"] == "projection_behind"

    # The team assignment is never behind: the row (none yet) brought up to date from the case.
    assignment = api.get(f"/cases/{case_id}/team-assignment", CW)
    assert assignment.status_code == 200, assignment.text
    assert (assignment.json()["team"], assignment.json()["enforcement_manager_id"]) == (
        "specialist_case_team",
        EM.id,
    )

    models: ReadModels = api.client.app.state.services.read_models  # type: ignore[attr-defined]
    models.catch_up()
    caught_up = api.get("/caseloads", EM, by="enforcement_manager")
    assert caught_up.status_code == 200 and _loads(caught_up) == {EM.id: 1}
    assert int(caught_up.headers["Log-Position"]) >= position


def test_with_the_runner_beside_it_a_list_shows_the_write_at_once(api_on_tables: Api) -> None:
    api = api_on_tables
    case_id, position = _enforced_case(api)
    loads = api.get("/caseloads", EM, by="enforcement_manager")
    assert loads.status_code == 200, loads.text
    assert _loads(loads) == {EM.id: 1} and int(loads.headers["Log-Position"]) >= position
    opened = api.post(
        f"/cases/{case_id}/open-expedited-pathway", {"pathway_reason": "safeguarding", "reason": "threat"}, SCW
    )
    assert opened.status_code == 200, opened.text
    queue = api.get("/expedited-queue", SCW)
    assert queue.status_code == 200 and [q["case_id"] for q in queue.json()["entries"]] == [case_id]


def test_a_replay_answers_the_same_position(no_runner: Api) -> None:
    case_id = no_runner.open_case()
    first = no_runner.post(f"/cases/{case_id}/record-concern", POLICE_CONCERN, CW, **{"Idempotency-Key": "k-1"})
    again = no_runner.post(f"/cases/{case_id}/record-concern", POLICE_CONCERN, CW, **{"Idempotency-Key": "k-1"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Log-Position"] == first.headers["Log-Position"]
    assert again.json()["position"] == first.json()["position"] == int(first.headers["Log-Position"])


def test_a_position_past_the_end_of_the_log_is_refused_at_once(no_runner: Api) -> None:
    no_runner.open_case()
    head = no_runner.client.app.state.services.app.recorder.max_notification_id()  # type: ignore[attr-defined]
    answer = no_runner.client.get("/caseloads", headers=no_runner.headers(EM, **{"Min-Log-Position": str(head + 1)}))
    assert answer.status_code == 422 and answer.json()["code"] == "log_position_unknown", answer.text
    assert answer.json()["head"] == head  # refused before any wait: a made-up position holds no worker


@pytest.mark.parametrize("bad", ["-1", "soon", "1e3", str(2**63), " "])
def test_a_bad_min_log_position_is_refused_and_changes_nothing(no_runner: Api, bad: str) -> None:
    before = no_runner.client.app.state.services.app.recorder.max_notification_id()  # type: ignore[attr-defined]
    answer = no_runner.client.get("/caseloads", headers=no_runner.headers(EM, **{"Min-Log-Position": bad}))
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_input" and "Min-Log-Position" in answer.text
    assert no_runner.client.app.state.services.app.recorder.max_notification_id() == before  # type: ignore[attr-defined]


def test_a_case_read_is_brought_up_to_date_with_what_another_process_appended(
    api_on_tables: Api, store_settings: Any, clock: FakeClock
) -> None:
    api = api_on_tables
    case_id, _ = _enforced_case(api)
    seen = api.get(f"/cases/{case_id}", EM).json()
    assert seen["enforcement_manager_id"] == EM.id
    # Another process (its own application, its own cache) hands enforcement over.
    with CaseJourney(http_settings(store_settings), clock=clock) as other:
        other.execute(
            HandOverEnforcement(case_id=case_id, to_manager_id=EM2.id, reason="leave"),  # type: ignore[arg-type]
            EM,
        )
    now = api.get(f"/cases/{case_id}", EM2)
    assert now.status_code == 200, now.text
    assert now.json()["version"] == seen["version"] + 1 and now.json()["enforcement_manager_id"] == EM2.id
    assignment = api.get(f"/cases/{case_id}/team-assignment", EM2).json()
    assert assignment["enforcement_manager_id"] == EM2.id and assignment["case_version"] == seen["version"] + 1
    # The old manager's relationship ended with the handover: need to know is judged on it.
    history = api.get(f"/cases/{case_id}/safeguarding-history", EM, purpose="checking the arrears")
    assert history.status_code == 403, history.text


def test_the_runner_stands_by_while_another_holds_the_leases_and_takes_over_when_they_are_free(
    store_settings: Any,
) -> None:
    with CaseJourney(store_settings) as app, ReadModels(app) as models, ReadModels(app) as other_models:
        said: list[str] = []
        first = RunnerBesideTheService(models, retry=0.05)
        first.runner.poll_interval = 0.02
        second = RunnerBesideTheService(other_models, retry=0.05, on_standby=lambda exc: said.append(str(exc)))
        second.runner.poll_interval = 0.02
        first.start()
        try:
            wait_for(lambda: lease_is_held(store_settings, "team_assignment"))
            second.start()
            wait_for(lambda: bool(said))
            assert "already being written" in said[0], said
            first.stop.set()
            first.join(timeout=10)
            app.execute(opening(), CW)  # the second runner has taken the leases: it follows the log
            wait_for(lambda: other_models.positions()["team_assignment"] == other_models.head())
            assert len(said) == 1  # said once, not at every look
        finally:
            for runner in (first, second):
                runner.stop.set()
                if runner.is_alive():
                    runner.join(timeout=10)


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
