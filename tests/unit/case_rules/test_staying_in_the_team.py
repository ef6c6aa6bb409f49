"""The Case aggregate's rules on staying in the team: only an approved removal moves a case out of it.

Told as given (events) / when (a command) / then (events or a refusal), with cases built by
``tests/builders.py`` at explicit times; nothing here touches a database or the wall clock. A
refused command must append nothing and leave the state as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import UUID

import pytest

from domain.case.aggregate import Case
from domain.rules.permissions import PERMISSIONS
from domain.values import (
    ConcernKind,
    PathwayReason,
    ServiceType,
    SignpostTarget,
    Team,
)
from tests import builders as given
from tests.builders import (
    ACSSL,
    CASEWORKER,
    ENFORCEMENT_MANAGER,
    SERVICE,
    SPECIALIST,
    SPECIALIST_CASEWORKER_ID,
    Story,
    last_event,
    refusal,
)


def _accepted_version(story: Story) -> int:
    return last_event(story.history, Case.AcceptedBySpecialistTeam).originator_version


def _with_enforcement(then: Callable[[Story], object]) -> Callable[[Story], object]:
    def run(s: Story) -> object:
        s.start_enforcement()
        return then(s)

    return run


def _with_pathway(then: Callable[[Story, UUID], object]) -> Callable[[Story], object]:
    def run(s: Story) -> object:
        return then(s, s.open_pathway(due_in=timedelta(hours=1)))

    return run


def _with_escalation(then: Callable[[Story, UUID], object]) -> Callable[[Story], object]:
    def run(s: Story) -> object:
        return then(s, s.raise_escalation())

    return run


def _police_ended(s: Story) -> None:
    s.record_concern(ConcernKind.THREATENED_VIOLENCE, police_involved=True)
    s.case.end_police_involvement(s.ctx(SPECIALIST), reason="police investigation closed")


def _removal_refused(s: Story) -> object:
    s.request_removal()
    return s.decide_removal(reviewer_doubt=False)


# Every command a specialist case accepts, run so that it succeeds. None of them may move the case
# out of the Specialist Case Team: only an approved removal does that (closure ends the case).
ON_A_SPECIALIST_CASE: dict[str, Callable[[Story], object]] = {
    "assign_caseworker": lambda s: s.case.assign_caseworker(
        s.ctx(SPECIALIST), caseworker_id="scw-ivy", reason="scw-bea on long-term leave"
    ),
    "record_concern": lambda s: s.record_concern(ConcernKind.ECONOMIC_ABUSE),
    "resolve_concern": lambda s: s.resolve_concern(s.concern_id),  # type: ignore[arg-type]
    "give_signposting": lambda s: s.case.give_signposting(
        s.ctx(SPECIALIST),
        target=SignpostTarget.DOMESTIC_ABUSE_SUPPORT_SERVICE,
        resolved_concern=True,
        concern_id=s.concern_id,
    ),
    "assess_safety_risk": lambda s: s.assess(concerns_unresolved=False, significant_threat=False, by=SPECIALIST),
    "end_police_involvement": _police_ended,
    "record_acs_involvement": lambda s: s.case.record_acs_involvement(
        s.ctx(ACSSL), party_id=given.RECEIVING_PARENT, for_domestic_abuse=True, reason="ACS case opened"
    ),
    "start_enforcement": lambda s: s.start_enforcement(),
    "hand_over_enforcement": _with_enforcement(
        lambda s: s.case.hand_over_enforcement(s.ctx(ENFORCEMENT_MANAGER), to_manager_id="em-jo", reason="leave")
    ),
    "end_enforcement": _with_enforcement(lambda s: s.case.end_enforcement(s.ctx(ENFORCEMENT_MANAGER), reason="paid")),
    "open_expedited_pathway": lambda s: s.open_pathway(PathwayReason.SAFEGUARDING),
    "close_expedited_pathway": _with_pathway(
        lambda s, pid: s.case.close_expedited_pathway(s.ctx(CASEWORKER), pathway_id=pid, reason="housed")
    ),
    "record_deadline_missed": _with_pathway(
        lambda s, pid: s.case.record_deadline_missed(
            s.ctx(SERVICE, after=timedelta(hours=2)), pathway_id=pid, escalate_to=ACSSL.id
        )
    ),
    "raise_escalation": lambda s: s.raise_escalation(),
    "resolve_escalation": _with_escalation(
        lambda s, eid: s.case.resolve_escalation(s.ctx(ACSSL), escalation_id=eid, resolution="safety plan agreed")
    ),
    "raise_service_design_issue": lambda s: s.case.raise_service_design_issue(
        s.ctx(ACSSL), summary="threats reported by phone do not reach the caseworker"
    ),
    "request_removal": lambda s: s.request_removal(),
    "decide_removal": _removal_refused,
    "record_entry_in_error": lambda s: s.case.record_entry_in_error(
        s.ctx(SPECIALIST), corrected_version=_accepted_version(s), correction="accepted by the wrong team member"
    ),
    "close_case": lambda s: s.close(by=SPECIALIST),
}

#: Commands a specialist case cannot take at all: the application is the case's first event, a
#: referral is refused once the case is with the team, and the only service-type change left to a
#: Collect and Pay specialist case, to Direct Pay, is refused (see the refusals below).
NOT_ON_A_SPECIALIST_CASE = {"receive_application", "decide_referral", "accept_referral", "change_service_type"}


def test_a_specialist_case_never_moves_to_direct_pay() -> None:
    story = given.specialist_case()
    refusal(
        story,
        lambda: story.case.change_service_type(story.ctx(SPECIALIST), to=ServiceType.DIRECT_PAY, reason="asked"),
        "direct_pay_unsafe",
    )
    assert story.case.service_type is ServiceType.COLLECT_AND_PAY


def test_only_the_specialist_team_closes_a_specialist_case() -> None:
    story = given.specialist_case()
    for outsider in (CASEWORKER, SERVICE):
        refusal(story, lambda a=outsider: story.close(by=a), "specialist_team_only")
    assert not story.case.closed
    story.close(by=SPECIALIST)
    assert story.case.closed


def test_a_removal_is_reviewed_by_someone_other_than_who_recorded_the_request() -> None:
    story = given.settled_specialist_case()
    story.request_removal()  # recorded by the specialist named caseworker
    story.new_events()
    refusal(
        story,
        lambda: story.case.decide_removal(
            story.ctx(SPECIALIST), reviewer_doubt=False, returned_to_caseworker_id=given.RETURNING_CASEWORKER_ID
        ),
        "second_reviewer_required",
    )
    assert story.decide_removal(reviewer_doubt=False) is True  # a second specialist reviews


def test_a_case_never_assessed_is_never_removed() -> None:
    # Referred on police involvement alone: no safety risk assessment was ever recorded.
    story = given.mainstream_case()
    story.concern_id = story.record_concern(ConcernKind.THREATENED_VIOLENCE, police_involved=True)
    story.refer_and_accept()
    story.resolve_concern(story.concern_id)
    story.case.end_police_involvement(story.ctx(SPECIALIST), reason="no further action")
    story.request_removal()
    story.new_events()

    assert story.decide_removal(reviewer_doubt=False) is False
    [event] = story.new_events()
    assert [d["code"] for d in event.doubts] == ["no_risk_assessment"]  # type: ignore[attr-defined]
    assert story.case.team is Team.SPECIALIST_CASE_TEAM


def test_advice_from_the_customer_acs_supports_counts_as_the_victim_survivors() -> None:
    story = given.mainstream_case()
    story.case.record_acs_involvement(
        story.ctx(CASEWORKER), party_id=given.RECEIVING_PARENT, for_domestic_abuse=True, reason="under ACS"
    )
    story.refer_and_accept()
    story.assess(concerns_unresolved=False, significant_threat=False, by=SPECIALIST)
    story.request_removal(advised_by=given.RECEIVING_PARENT)
    story.new_events()
    assert story.decide_removal(reviewer_doubt=False) is True


def test_the_staying_in_the_team_table_covers_every_command() -> None:
    assert set(ON_A_SPECIALIST_CASE) | NOT_ON_A_SPECIALIST_CASE == set(PERMISSIONS)


@pytest.mark.parametrize("action", list(ON_A_SPECIALIST_CASE))
def test_nothing_but_an_approved_removal_moves_a_case_out_of_the_specialist_team(action: str) -> None:
    story = given.specialist_case()

    ON_A_SPECIALIST_CASE[action](story)

    events = story.new_events()
    assert events, "the command should have been accepted"
    assert story.case.team is Team.SPECIALIST_CASE_TEAM
    assert not any(isinstance(e, Case.RemovalApproved) for e in events)
    if action != "assign_caseworker":
        assert story.case.named_caseworker_id == SPECIALIST_CASEWORKER_ID


def test_only_the_specialist_team_changes_a_specialist_cases_named_caseworker() -> None:
    story = given.specialist_case()

    refusal(
        story,
        lambda: story.case.assign_caseworker(story.ctx(CASEWORKER), caseworker_id="cw-kim", reason="rebalancing"),
        "specialist_team_only",
    )
    story.case.assign_caseworker(story.ctx(SPECIALIST), caseworker_id="scw-ivy", reason="scw-bea on leave")

    [event] = story.new_events()
    assert isinstance(event, Case.CaseworkerAssigned)
    assert (event.previous_caseworker_id, event.caseworker_id, event.team) == (
        SPECIALIST_CASEWORKER_ID,
        "scw-ivy",
        "specialist_case_team",
    )
    assert story.case.named_caseworker_id == "scw-ivy"
