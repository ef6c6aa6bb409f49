"""Auditor replay at several moments of one journey, from the event log (not the projections)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain.case.commands import (
    AcceptReferral,
    AssignCaseworker,
    DecideReferral,
    RaiseEscalation,
    RecordConcern,
    ResolveEscalation,
)
from domain.errors import CaseNotFound
from infrastructure.audit.replay import replay_case
from infrastructure.eventstore.application import CaseJourney
from infrastructure.readmodels.models import ReadModels
from infrastructure.readmodels.safeguarding_history import safeguarding_history_of
from infrastructure.readmodels.team_assignment import team_assignment_of
from infrastructure.samples.scenarios import ACSSL, CASEWORKER, SPECIALIST, TEAM_LEADER, Journey
from tests.conftest import FakeClock

RECORDED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the test clock's start: event v1 is recorded then
OCCURRED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # business time: each step happened a day earlier


@pytest.fixture
def journey(app: CaseJourney, clock: FakeClock) -> Journey:
    """Seven events, recorded one hour apart (v1 at 09:00 ... v7 at 15:00 on 2 March)."""
    j = Journey(app=app, number=99, title="replay", at=OCCURRED)
    steps = [
        lambda: j.open(CASEWORKER),
        lambda: j.do(TEAM_LEADER, AssignCaseworker, caseworker_id=CASEWORKER.id),
        lambda: j.do(
            CASEWORKER,
            RecordConcern,
            kind="threatened_violence",
            source="customer_disclosure",
            affected_party_id=j.receiving_parent,
            police_involved=True,
        ),
        lambda: j.do(CASEWORKER, DecideReferral),
        lambda: j.do(SPECIALIST, AcceptReferral, specialist_caseworker_id=SPECIALIST.id),
        lambda: j.do(SPECIALIST, RaiseEscalation, reason="Contact attempts via a relative.", to_actor_id=ACSSL.id),
    ]
    for step in steps:
        step()
        clock.advance(hours=1)
    escalation = j.results[-1].ids["escalation_id"]
    j.do(ACSSL, ResolveEscalation, escalation_id=escalation, resolution="Police informed; safety plan updated.")
    return j


def at(hour: int, minute: int = 0) -> datetime:
    return RECORDED.replace(hour=hour, minute=minute)


def test_as_of_recorded_time_shows_what_the_service_knew_then(app: CaseJourney, journey: Journey) -> None:
    case_id = journey.case_id
    before = replay_case(app, case_id, as_of=at(8, 59))
    assert before.version == 0 and before.state == {"exists": False} and before.history == []

    after_concern = replay_case(app, case_id, as_of=at(11, 30))
    assert after_concern.version == 3
    assert after_concern.state["team"] == "mainstream" and after_concern.state["named_caseworker_id"] == "cw-amara"
    assert [c["resolved"] for c in after_concern.state["concerns"].values()] == [False]
    assert after_concern.state["police_involvement_live"] is True
    assert [h["event_type"] for h in after_concern.history] == ["ConcernRecorded"]

    accepted = replay_case(app, case_id, as_of=at(13, 0))  # inclusive: v5 was recorded at 13:00
    assert accepted.version == 5
    assert (accepted.assignment["team"], accepted.assignment["named_caseworker_id"]) == (
        "specialist_case_team",
        "scw-chloe",
    )
    assert accepted.assignment["team_since"] == OCCURRED + timedelta(hours=3)  # open and assign share 09:00

    escalated = replay_case(app, case_id, as_of=at(14, 30))
    assert escalated.assignment["escalation_open"] is True and escalated.state["open_escalations"]
    resolved = replay_case(app, case_id, as_of=at(15, 0))
    assert resolved.assignment["escalation_open"] is False and resolved.state["open_escalations"] == []
    assert [h["event_type"] for h in resolved.history][-2:] == ["EscalationRaised", "EscalationResolved"]
    for replay in (after_concern, accepted, escalated, resolved):
        assert replay.checks and all("agree" in c and "DISAGREE" not in c for c in replay.checks)


def test_version_replay_stops_after_that_many_events(app: CaseJourney, journey: Journey) -> None:
    referred = replay_case(app, journey.case_id, version=4)
    assert referred.version == 4 and referred.total_versions == 7
    assert referred.state["referral_pending"] is True and referred.state["team"] == "mainstream"
    assert referred.history[-1]["event_type"] == "ReferredToSpecialistTeam"
    assert referred.history[-1]["criteria_met"] == "police_involvement"


def test_business_time_includes_what_happened_by_then_and_marks_what_was_recorded_later(
    app: CaseJourney, journey: Journey
) -> None:
    replay = replay_case(app, journey.case_id, as_of=OCCURRED + timedelta(hours=1, minutes=30), time_axis="business")
    assert replay.version == 3
    assert [h["event_type"] for h in replay.history] == ["ConcernRecorded"]
    assert replay.history[0]["recorded_after_as_of"] is True  # it happened by then, but was recorded next day


def test_replay_now_agrees_with_the_live_projections(app: CaseJourney, journey: Journey) -> None:
    replay = replay_case(app, journey.case_id)
    with ReadModels(app) as models:
        models.catch_up()
        with models.engine.connect() as conn:
            assert team_assignment_of(conn, str(journey.case_id)) == replay.assignment
            projected = safeguarding_history_of(conn, str(journey.case_id), app.text_keys)
    assert [{k: v for k, v in r.items() if k != "notification_id"} for r in projected] == replay.history


def test_replay_refuses_an_unknown_case_and_a_naive_time(app: CaseJourney, journey: Journey) -> None:
    with pytest.raises(CaseNotFound):
        replay_case(app, uuid4())
    with pytest.raises(ValueError, match="timezone-aware"):
        replay_case(app, journey.case_id, as_of=datetime(2026, 3, 2, 12, 0))
