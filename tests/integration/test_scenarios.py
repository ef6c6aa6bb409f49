"""The stories of SCENARIOS.md, run unchanged on SQLite and on PostgreSQL, against hand-written outcomes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.values import Team
from infrastructure.eventstore.application import CaseJourney
from infrastructure.samples.scenarios import SCENARIOS, Journey, run_scenario
from tests.conftest import FakeClock

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    """The service records the stories after they happened (their business times run to July)."""
    return FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))


def story(app: CaseJourney, number: int) -> tuple[Journey, list]:
    journey = run_scenario(app, SCENARIOS[number - 1], START)
    assert journey.case_id is not None
    return journey, app.case_events(journey.case_id)


def of_type(events: list, name: str) -> list:
    return [e for e in events if type(e).__name__ == name]


def test_police_involvement_refers_and_the_team_accepts(app: CaseJourney) -> None:
    journey, events = story(app, 1)
    [referral] = of_type(events, "ReferredToSpecialistTeam")
    assert referral.criteria_met == ["police_involvement"]
    assert referral.policy_version == "v1"
    assert referral.facts["police_involved_for_domestic_abuse"] is True
    case = app.get_case(journey.case_id)  # type: ignore[arg-type]
    assert case.team is Team.SPECIALIST_CASE_TEAM
    assert case.named_caseworker_id == "scw-chloe"


def test_advanced_customer_support_alone_is_enough(app: CaseJourney) -> None:
    _, events = story(app, 2)
    [referral] = of_type(events, "ReferredToSpecialistTeam")
    assert referral.criteria_met == ["acs_domestic_abuse"]
    assert referral.facts["disclosed_kinds"] == []


def test_three_part_test_met_records_each_part(app: CaseJourney) -> None:
    _, events = story(app, 3)
    [referral] = of_type(events, "ReferredToSpecialistTeam")
    assert referral.criteria_met == ["three_part_test"]
    assert referral.facts["disclosed_kinds"] == ["coercive_control"]
    assert referral.facts["safety_concern_unresolved"] is True
    assert referral.facts["significant_threat"] is True


def test_three_part_test_not_met_records_which_part_failed_and_keeps_the_concern(app: CaseJourney) -> None:
    journey, events = story(app, 4)
    assert not of_type(events, "ReferredToSpecialistTeam")
    [decision] = of_type(events, "ReferralNotMade")
    assert decision.unmet["three_part_test"] == ["safety_concern_unresolved", "significant_threat"]
    assert "disclosure" not in decision.unmet["three_part_test"]
    assert [e.kind for e in of_type(events, "ConcernRecorded")] == ["financial_control"]
    assert app.get_case(journey.case_id).team is Team.MAINSTREAM  # type: ignore[arg-type]


def test_removal_is_refused_naming_the_open_escalation(app: CaseJourney) -> None:
    journey, events = story(app, 5)
    [refusal] = of_type(events, "RemovalRefused")
    assert [d["code"] for d in refusal.doubts] == ["open_escalation"]
    case = app.get_case(journey.case_id)  # type: ignore[arg-type]
    assert case.team is Team.SPECIALIST_CASE_TEAM
    assert case.named_caseworker_id == "scw-chloe"
    assert case.removal_request is None  # decided, not dropped: the refusal is in the log


def test_removal_is_approved_when_no_doubt_remains_and_history_stays_complete(app: CaseJourney) -> None:
    journey, events = story(app, 6)
    [approval] = of_type(events, "RemovalApproved")
    assert approval.returned_to_caseworker_id == "cw-bilal"
    case = app.get_case(journey.case_id)  # type: ignore[arg-type]
    assert case.team is Team.MAINSTREAM
    assert case.named_caseworker_id == "cw-bilal"
    assert of_type(events, "ConcernRecorded") and of_type(events, "ReferredToSpecialistTeam")


def test_enforcement_has_one_manager_and_the_named_caseworker_stays(app: CaseJourney) -> None:
    journey, events = story(app, 7)
    second_manager, former_manager_ends_it = journey.refusals
    assert second_manager.code == "enforcement_manager_already_assigned"
    assert former_manager_ends_it.code == "not_the_enforcement_manager"
    [handover] = of_type(events, "EnforcementManagerHandedOver")
    assert (handover.from_manager_id, handover.to_manager_id) == ("em-dev", "em-erin")
    assert handover.reason
    case = app.get_case(journey.case_id)  # type: ignore[arg-type]
    assert case.enforcement_manager_id == "em-erin"
    assert case.named_caseworker_id == "scw-chloe"
    assert case.team is Team.SPECIALIST_CASE_TEAM


def test_missed_homelessness_target_is_recorded_and_escalated_together(app: CaseJourney) -> None:
    _journey, events = story(app, 8)
    names = [type(e).__name__ for e in events]
    missed = names.index("ExpeditedDeadlineMissed")
    assert names[missed + 1] == "EscalationRaised"
    assert events[missed].command_id == events[missed + 1].command_id
    [escalation] = of_type(events, "EscalationRaised")
    assert escalation.to_actor_id == "acssl-farah"
    [resolved] = of_type(events, "EscalationResolved")
    [issue] = of_type(events, "ServiceDesignIssueRaised")
    assert resolved.escalation_id == issue.escalation_id == escalation.escalation_id
    assert issue.actor_role == "acs_senior_leader"
    [signposting] = of_type(events, "SignpostingGiven")
    assert signposting.target == "district_provision_toolkit"


def test_financial_hardship_pathway_opens_and_closes(app: CaseJourney) -> None:
    journey, events = story(app, 9)
    [opened] = of_type(events, "ExpeditedPathwayOpened")
    [closed] = of_type(events, "ExpeditedPathwayClosed")
    assert opened.pathway_reason == "significant_financial_hardship"
    assert closed.pathway_id == opened.pathway_id
    assert not of_type(events, "ExpeditedDeadlineMissed")
    assert app.get_case(journey.case_id).open_pathways == {}  # type: ignore[arg-type]


def test_closed_case_refuses_later_commands_and_appends_nothing(app: CaseJourney) -> None:
    journey, events = story(app, 10)
    [refusal] = journey.refusals
    assert refusal.code == "case_closed"
    assert type(events[-1]).__name__ == "CaseClosed"
    assert app.get_case(journey.case_id).closed  # type: ignore[arg-type]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"story-{s.number}")
def test_running_a_story_twice_appends_nothing_the_second_time(app: CaseJourney, scenario) -> None:  # type: ignore[no-untyped-def]
    first = run_scenario(app, scenario, START)
    count = len(app.case_events(first.case_id))  # type: ignore[arg-type]
    second = run_scenario(app, scenario, START)
    assert second.case_id == first.case_id
    assert all(r.replayed for r in second.results)
    assert [r.model_dump(exclude={"replayed"}) for r in second.results] == [
        r.model_dump(exclude={"replayed"}) for r in first.results
    ]
    assert len(app.case_events(first.case_id)) == count  # type: ignore[arg-type]
