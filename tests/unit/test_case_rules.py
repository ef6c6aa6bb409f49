"""Every rule the Case aggregate enforces, told as given (events) / when (a command) / then (events or a refusal).

Cases are built with ``tests/unit/given.py`` at explicit times; nothing here touches a database or
the wall clock. A refused command must append nothing and leave the state as it was.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application

from domain.case.aggregate import Case
from domain.case.commands import COMMANDS_BY_ACTION
from domain.errors import CaseClosedError, DomainError, NotPermitted, RuleViolation
from domain.rules.eligibility import POLICY_V1, Condition, Criterion, EligibilityPolicy
from domain.rules.permissions import ALLOWED_AFTER_CLOSURE, PERMISSIONS, check_permitted
from domain.rules.removal import Doubt
from domain.values import (
    ActionContext,
    Actor,
    ApplicantRole,
    ConcernKind,
    ConcernSource,
    EnforcementStep,
    PathwayReason,
    Role,
    ServiceType,
    SignpostTarget,
    Team,
)
from tests.unit import given
from tests.unit.given import (
    ACSSL,
    ACTOR_FOR_ROLE,
    CASEWORKER,
    ENFORCEMENT_MANAGER,
    PAYING_PARENT,
    RECEIVING_PARENT,
    RETURNING_CASEWORKER_ID,
    SERVICE,
    SPECIALIST,
    SPECIALIST_CASEWORKER_ID,
    STRANGER,
    T0,
    Story,
    context,
    replay,
    state_of,
)

ANY_ID = UUID(int=1)
CW, SCW, EM, ACS_SL, SVC, TL = (
    Role.CASEWORKER,
    Role.SPECIALIST_CASEWORKER,
    Role.ENFORCEMENT_MANAGER,
    Role.ACS_SENIOR_LEADER,
    Role.BACKEND_SERVICE,
    Role.TEAM_LEADER,
)


def refusal(story: Story, when: Callable[[], object], code: str) -> DomainError:
    """Runs ``when`` expecting a refusal with ``code``; checks nothing was appended or changed."""
    story.new_events()
    before = copy.deepcopy(state_of(story.case))
    with pytest.raises(DomainError) as refused:
        when()
    assert refused.value.code == code, refused.value.message
    assert refused.value.message.strip()
    assert story.new_events() == []
    assert state_of(story.case) == before
    return refused.value


def last_event(events: list[Case.Event], of_type: type[Case.Event]) -> Case.Event:
    matching = [e for e in events if isinstance(e, of_type)]
    assert matching, f"no {of_type.__name__} among {[type(e).__name__ for e in events]}"
    return matching[-1]


# =============================================================================== who and when


def test_every_event_records_the_actor_and_both_times() -> None:
    recorded_at = T0 + timedelta(minutes=5)
    ctx = context(CASEWORKER, T0, recorded_at=recorded_at)

    case = Case.receive_application(
        ctx,
        case_id=uuid4(),
        applicant_role=ApplicantRole.RECEIVING_PARENT,
        service_type=ServiceType.COLLECT_AND_PAY,
        fee_waived_for_domestic_abuse=True,
        receiving_parent_id=RECEIVING_PARENT,
        paying_parent_id=PAYING_PARENT,
        qualifying_children=2,
    )

    [event] = case.collect_events()
    assert isinstance(event, Case.ApplicationReceived)
    assert (event.actor_id, event.actor_role) == ("cw-ada", "caseworker")
    assert event.occurred_at == T0
    assert event.timestamp == recorded_at
    assert (event.command_id, event.correlation_id, event.causation_id) == (ctx.command_id, ctx.command_id, None)
    assert case.receiving_parent_id == RECEIVING_PARENT and case.paying_parent_id == PAYING_PARENT
    assert case.fee_waived_for_domestic_abuse is True
    assert case.team is Team.MAINSTREAM and case.named_caseworker_id is None


def test_a_context_refuses_a_time_without_a_time_zone() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        context(CASEWORKER, T0.replace(tzinfo=None))


def test_an_actor_needs_an_id() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        Actor("  ", Role.CASEWORKER)


@pytest.mark.parametrize(
    ("receiving", "paying", "children", "code"),
    [
        pytest.param(RECEIVING_PARENT, RECEIVING_PARENT, 1, "same_party_twice", id="the_same_person_as_both_parents"),
        pytest.param(RECEIVING_PARENT, PAYING_PARENT, 0, "no_qualifying_child", id="no_qualifying_child"),
    ],
)
def test_refuses_an_application_with(receiving: str, paying: str, children: int, code: str) -> None:
    with pytest.raises(RuleViolation) as refused:
        Case.receive_application(
            context(CASEWORKER, T0),
            case_id=uuid4(),
            applicant_role=ApplicantRole.RECEIVING_PARENT,
            service_type=ServiceType.COLLECT_AND_PAY,
            fee_waived_for_domestic_abuse=False,
            receiving_parent_id=receiving,
            paying_parent_id=paying,
            qualifying_children=children,
        )
    assert refused.value.code == code


# =============================================================================== permissions

#: A frozen copy of the authorization matrix: a change to PERMISSIONS must be made here too, on purpose.
EXPECTED_PERMISSIONS: dict[str, set[Role]] = {
    "receive_application": {CW, SCW, SVC},
    "assign_caseworker": {CW, SCW, SVC, TL},
    "change_service_type": {CW, SCW, SVC},
    "record_concern": {CW, SCW, EM, ACS_SL, SVC},
    "resolve_concern": {CW, SCW},
    "give_signposting": {CW, SCW, EM, ACS_SL},
    "assess_safety_risk": {CW, SCW},
    "end_police_involvement": {CW, SCW},
    "record_acs_involvement": {CW, SCW, ACS_SL, SVC},
    "decide_referral": {CW, SCW},
    "accept_referral": {SCW},
    "start_enforcement": {CW, SCW, EM},
    "hand_over_enforcement": {EM, TL},
    "end_enforcement": {EM, TL},
    "open_expedited_pathway": {CW, SCW, EM, ACS_SL},
    "close_expedited_pathway": {CW, SCW, ACS_SL},
    "record_deadline_missed": {SVC},
    "raise_escalation": {CW, SCW, EM, SVC},
    "resolve_escalation": {ACS_SL},
    "raise_service_design_issue": {ACS_SL},
    "request_removal": {SCW},
    "decide_removal": {SCW, ACS_SL},
    "close_case": {CW, SCW, SVC},
    "record_entry_in_error": {CW, SCW, ACS_SL},
}


def test_the_permission_table_is_the_one_agreed() -> None:
    assert {action: set(roles) for action, roles in PERMISSIONS.items()} == EXPECTED_PERMISSIONS


def test_every_command_has_a_row_in_the_permission_table() -> None:
    assert set(PERMISSIONS) == set(COMMANDS_BY_ACTION) == set(CALLS)


@pytest.mark.parametrize(
    ("action", "role"),
    [pytest.param(a, r, id=f"{a}-by-{r}") for a, r in itertools.product(EXPECTED_PERMISSIONS, Role)],
)
def test_check_permitted_lets_only_the_allowed_roles_act(action: str, role: Role) -> None:
    if role in EXPECTED_PERMISSIONS[action]:
        check_permitted(action, role)
        return
    with pytest.raises(NotPermitted) as refused:
        check_permitted(action, role)
    assert refused.value.code == "role_not_permitted"
    assert refused.value.details == {"action": action, "role": str(role)}


def test_an_auditor_may_do_nothing() -> None:
    assert not any(Role.AUDITOR in roles for roles in PERMISSIONS.values())
    for action in PERMISSIONS:
        with pytest.raises(NotPermitted):
            check_permitted(action, Role.AUDITOR)


# One syntactically complete call per command. Used to show the aggregate itself checks the
# permission (before anything else) and refuses everything on a closed case.
CALLS: dict[str, Callable[[Story, ActionContext], object]] = {
    "receive_application": lambda s, c: Case.receive_application(
        c,
        case_id=uuid4(),
        applicant_role=ApplicantRole.RECEIVING_PARENT,
        service_type=ServiceType.COLLECT_AND_PAY,
        fee_waived_for_domestic_abuse=False,
        receiving_parent_id=RECEIVING_PARENT,
        paying_parent_id=PAYING_PARENT,
        qualifying_children=1,
    ),
    "assign_caseworker": lambda s, c: s.case.assign_caseworker(c, caseworker_id="cw-new", reason="leave"),
    "change_service_type": lambda s, c: s.case.change_service_type(c, to=ServiceType.DIRECT_PAY, reason="asked"),
    "record_concern": lambda s, c: s.case.record_concern(
        c,
        kind=ConcernKind.COERCIVE_CONTROL,
        source=ConcernSource.CUSTOMER_DISCLOSURE,
        affected_party_id=RECEIVING_PARENT,
    ),
    "resolve_concern": lambda s, c: s.case.resolve_concern(c, concern_id=s.concern_id or ANY_ID, reason="resolved"),
    "give_signposting": lambda s, c: s.case.give_signposting(
        c, target=SignpostTarget.AFFORDABILITY_HUB, resolved_concern=False
    ),
    "assess_safety_risk": lambda s, c: s.case.assess_safety_risk(
        c, concerns_unresolved=True, significant_threat=True, reason="assessed"
    ),
    "end_police_involvement": lambda s, c: s.case.end_police_involvement(c, reason="case closed by police"),
    "record_acs_involvement": lambda s, c: s.case.record_acs_involvement(
        c, party_id=given.RECEIVING_PARENT, for_domestic_abuse=True, reason="ACS"
    ),
    "decide_referral": lambda s, c: s.case.decide_referral(c, policy=POLICY_V1),
    "accept_referral": lambda s, c: s.case.accept_referral(c, specialist_caseworker_id=SPECIALIST_CASEWORKER_ID),
    "start_enforcement": lambda s, c: s.case.start_enforcement(
        c, enforcement_manager_id="em-cal", step=EnforcementStep.ARREARS_NOTICE, reason="arrears"
    ),
    "hand_over_enforcement": lambda s, c: s.case.hand_over_enforcement(c, to_manager_id="em-new", reason="leave"),
    "end_enforcement": lambda s, c: s.case.end_enforcement(c, reason="arrears paid"),
    "open_expedited_pathway": lambda s, c: s.case.open_expedited_pathway(
        c, pathway_reason=PathwayReason.SAFEGUARDING, due_at=c.occurred_at + timedelta(days=1), reason="at risk"
    ),
    "close_expedited_pathway": lambda s, c: s.case.close_expedited_pathway(c, pathway_id=ANY_ID, reason="done"),
    "record_deadline_missed": lambda s, c: s.case.record_deadline_missed(c, pathway_id=ANY_ID, escalate_to=None),
    "raise_escalation": lambda s, c: s.case.raise_escalation(c, reason="threat to life"),
    "resolve_escalation": lambda s, c: s.case.resolve_escalation(c, escalation_id=ANY_ID, resolution="handled"),
    "raise_service_design_issue": lambda s, c: s.case.raise_service_design_issue(c, summary="scripts miss threats"),
    "request_removal": lambda s, c: s.case.request_removal(
        c, advised_by_party_id=RECEIVING_PARENT, victim_survivor_advises_no_ongoing_abuse=True
    ),
    "decide_removal": lambda s, c: s.case.decide_removal(
        c, reviewer_doubt=False, returned_to_caseworker_id=RETURNING_CASEWORKER_ID
    ),
    "close_case": lambda s, c: s.case.close(c, reason="child left education"),
    "record_entry_in_error": lambda s, c: s.case.record_entry_in_error(c, corrected_version=1, correction="typo"),
}


@pytest.mark.parametrize(
    ("action", "role"),
    [
        pytest.param(a, r, id=f"{a}-by-{r}")
        for a, allowed in EXPECTED_PERMISSIONS.items()
        for r in Role
        if r not in allowed
    ],
)
def test_the_aggregate_refuses_a_command_from_a_role_not_allowed_it(action: str, role: Role) -> None:
    story = given.specialist_case()

    with pytest.raises(NotPermitted) as refused:
        CALLS[action](story, story.ctx(ACTOR_FOR_ROLE[role]))

    assert refused.value.details["action"] == action
    assert story.new_events() == []


# =============================================================================== closure


def closed_specialist_case() -> Story:
    """Scenario 10: a specialist case closes (the child leaves education)."""
    story = given.specialist_case()
    story.close(by=SPECIALIST)
    story.new_events()
    return story


@pytest.mark.parametrize(
    "action",
    [a for a in EXPECTED_PERMISSIONS if a != "receive_application" and a not in ALLOWED_AFTER_CLOSURE],
)
def test_a_closed_case_refuses_every_command_but_a_correction(action: str) -> None:
    story = closed_specialist_case()
    actor = ACTOR_FOR_ROLE[sorted(EXPECTED_PERMISSIONS[action])[0]]

    refused = refusal(story, lambda: CALLS[action](story, story.ctx(actor)), "case_closed")

    assert isinstance(refused, CaseClosedError)
    assert refused.details == {"action": action}


def test_a_closed_case_still_accepts_a_correction_of_the_record() -> None:
    story = closed_specialist_case()

    story.case.record_entry_in_error(story.ctx(SPECIALIST), corrected_version=2, correction="wrong caseworker id")

    [event] = story.new_events()
    assert isinstance(event, Case.EntryRecordedInError)
    assert story.case.corrected_versions == {2: "wrong caseworker id"}
    assert set(ALLOWED_AFTER_CLOSURE) == {"record_entry_in_error", "record_concern", "give_signposting"}


def test_closing_a_case_records_why() -> None:
    story = given.specialist_case()

    story.close(by=SPECIALIST)

    [event] = story.new_events()
    assert isinstance(event, Case.CaseClosed)
    assert event.reason == "the child left education"
    assert story.case.closed is True


# =============================================================================== staying in the team


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


# =============================================================================== removal


def test_a_removal_request_is_recorded_with_who_advised_it() -> None:
    story = given.settled_specialist_case()

    request_id = story.request_removal()

    [event] = story.new_events()
    assert isinstance(event, Case.RemovalRequested)
    assert event.request_id == request_id
    assert event.advised_by_party_id == RECEIVING_PARENT
    assert event.victim_survivor_advises_no_ongoing_abuse is True
    assert story.case.removal_request is not None
    assert story.case.team is Team.SPECIALIST_CASE_TEAM


def test_removal_is_approved_when_no_doubt_remains_and_the_case_returns_to_a_named_caseworker() -> None:
    # Scenario 6: months later, nothing open, the reviewer records no doubt.
    story = given.settled_specialist_case()
    request_id = story.request_removal()
    story.new_events()

    approved = story.decide_removal(reviewer_doubt=False, note="no contact for six months; she feels safe")

    [event] = story.new_events()
    assert approved is True
    assert isinstance(event, Case.RemovalApproved)
    assert event.request_id == request_id
    assert event.doubts_checked == [str(d) for d in Doubt]
    assert event.returned_to_caseworker_id == RETURNING_CASEWORKER_ID
    assert story.case.team is Team.MAINSTREAM
    assert story.case.named_caseworker_id == RETURNING_CASEWORKER_ID
    assert story.case.removal_request is None
    # The safeguarding history stays complete: the concern is still there, resolved.
    assert story.concern_id is not None and story.case.concerns[str(story.concern_id)].resolved


def test_an_approved_removal_must_name_the_caseworker_the_case_returns_to() -> None:
    story = given.settled_specialist_case()
    story.request_removal()

    refusal(
        story,
        lambda: story.case.decide_removal(
            story.ctx(given.REVIEWER), reviewer_doubt=False, returned_to_caseworker_id=None
        ),
        "caseworker_required",
    )
    assert story.case.team is Team.SPECIALIST_CASE_TEAM


def _request_then(**decision: Any) -> Callable[[Story], dict[str, Any]]:
    def arrange(s: Story) -> dict[str, Any]:
        s.request_removal()
        return decision

    return arrange


def _before_request(step: Callable[[Story], object]) -> Callable[[Story], dict[str, Any]]:
    def arrange(s: Story) -> dict[str, Any]:
        step(s)
        s.request_removal()
        return {}

    return arrange


def _concern_after_request(s: Story) -> dict[str, Any]:
    s.request_removal()
    concern_id = s.record_concern(ConcernKind.THREATENED_VIOLENCE)
    s.resolve_concern(concern_id)  # resolved, yet it came after the request: still doubt
    return {}


def _police_still_live(s: Story) -> None:
    concern_id = s.record_concern(ConcernKind.THREATENED_VIOLENCE, police_involved=True)
    s.resolve_concern(concern_id)


def _advised_by_the_other_parent(s: Story) -> dict[str, Any]:
    s.request_removal(advised_by=PAYING_PARENT)
    return {}


# Settled specialist case + one change -> the one doubt the refusal must name.
ONE_DOUBT: dict[Doubt, Callable[[Story], dict[str, Any]]] = {
    Doubt.UNRESOLVED_CONCERN: _before_request(lambda s: s.record_concern(ConcernKind.ECONOMIC_ABUSE)),
    Doubt.OPEN_ESCALATION: _before_request(lambda s: s.raise_escalation()),
    Doubt.OPEN_EXPEDITED_PATHWAY: _before_request(lambda s: s.open_pathway(PathwayReason.SAFEGUARDING)),
    Doubt.CONCERN_AFTER_REQUEST: _concern_after_request,
    Doubt.POLICE_INVOLVEMENT_LIVE: _before_request(_police_still_live),
    Doubt.SIGNIFICANT_THREAT_ASSESSED: _before_request(
        lambda s: s.assess(concerns_unresolved=False, significant_threat=True, by=SPECIALIST)
    ),
    Doubt.ASSESSED_CONCERNS_UNRESOLVED: _before_request(
        lambda s: s.assess(concerns_unresolved=True, significant_threat=False, by=SPECIALIST)
    ),
    Doubt.REVIEWER_DOUBT: _request_then(reviewer_doubt=True, note="she hesitated when asked"),
    Doubt.REVIEWER_JUDGEMENT_MISSING: _request_then(reviewer_doubt=None),
    Doubt.ADVICE_NOT_FROM_VICTIM_SURVIVOR: _advised_by_the_other_parent,
}


def test_the_removal_refusals_cover_every_doubt() -> None:
    # A settled case has been assessed; "never assessed" has its own story above.
    assert set(ONE_DOUBT) == set(Doubt) - {Doubt.NO_RISK_ASSESSMENT}


@pytest.mark.parametrize(("doubt", "arrange"), [pytest.param(d, a, id=str(d)) for d, a in ONE_DOUBT.items()])
def test_refuses_removal_while_doubt_remains(doubt: Doubt, arrange: Callable[[Story], dict[str, Any]]) -> None:
    story = given.settled_specialist_case()
    decision = arrange(story)
    request_id = last_event(story.new_events(), Case.RemovalRequested).request_id

    approved = story.decide_removal(**decision)

    [event] = story.new_events()
    assert approved is False
    assert isinstance(event, Case.RemovalRefused)
    assert event.request_id == request_id
    assert [d["code"] for d in event.doubts] == [str(doubt)]
    assert event.doubts[0]["explanation"].strip()
    assert story.case.team is Team.SPECIALIST_CASE_TEAM
    assert story.case.named_caseworker_id == SPECIALIST_CASEWORKER_ID
    assert story.case.removal_request is None  # decided, not dropped: the refusal is the record


def test_refuses_removal_while_an_escalation_is_open_and_names_every_doubt() -> None:
    # Scenario 5: an open escalation, and the reviewer has not recorded a judgement.
    story = given.settled_specialist_case()
    escalation_id = story.raise_escalation()
    story.request_removal()
    story.new_events()

    approved = story.decide_removal(reviewer_doubt=None)

    [event] = story.new_events()
    assert approved is False
    assert isinstance(event, Case.RemovalRefused)
    assert [d["code"] for d in event.doubts] == ["open_escalation", "reviewer_judgement_missing"]
    assert str(escalation_id) in event.doubts[0]["explanation"]
    assert story.case.team is Team.SPECIALIST_CASE_TEAM
    assert story.case.named_caseworker_id == SPECIALIST_CASEWORKER_ID


def test_a_refused_removal_can_be_asked_for_again_and_approved_once_the_doubt_is_gone() -> None:
    story = given.settled_specialist_case()
    escalation_id = story.raise_escalation()
    story.request_removal()
    assert story.decide_removal(reviewer_doubt=False) is False

    story.case.resolve_escalation(story.ctx(ACSSL), escalation_id=escalation_id, resolution="risk addressed")
    story.request_removal()
    approved = story.decide_removal(reviewer_doubt=False)

    types = [type(e).__name__ for e in story.new_events()]
    assert approved is True
    assert types == [
        "EscalationRaised",
        "RemovalRequested",
        "RemovalRefused",
        "EscalationResolved",
        "RemovalRequested",
        "RemovalApproved",
    ]
    assert story.case.team is Team.MAINSTREAM


# =============================================================================== enforcement


def test_enforcement_has_one_manager_beside_the_named_caseworker() -> None:
    # Scenario 7.
    story = given.specialist_case()

    story.start_enforcement()

    [event] = story.new_events()
    assert isinstance(event, Case.EnforcementStarted)
    assert (event.enforcement_manager_id, event.step) == ("em-cal", "deduction_from_earnings")
    assert story.case.enforcement_manager_id == "em-cal"
    assert story.case.named_caseworker_id == SPECIALIST_CASEWORKER_ID
    assert story.case.team is Team.SPECIALIST_CASE_TEAM


@pytest.mark.parametrize("second_manager", ["em-jo", "em-cal"], ids=["another_manager", "the_same_manager"])
def test_a_second_enforcement_manager_cannot_be_added(second_manager: str) -> None:
    story = given.specialist_case()
    story.start_enforcement()

    refusal(
        story,
        lambda: story.start_enforcement(manager_id=second_manager),
        "enforcement_manager_already_assigned",
    )
    assert story.case.enforcement_manager_id == "em-cal"


def test_a_handover_with_a_reason_changes_the_manager_and_nothing_else() -> None:
    story = given.specialist_case()
    story.start_enforcement()
    story.new_events()

    story.case.hand_over_enforcement(story.ctx(ENFORCEMENT_MANAGER), to_manager_id="em-jo", reason="em-cal moves team")

    [event] = story.new_events()
    assert isinstance(event, Case.EnforcementManagerHandedOver)
    assert (event.from_manager_id, event.to_manager_id, event.reason) == ("em-cal", "em-jo", "em-cal moves team")
    assert story.case.enforcement_manager_id == "em-jo"
    assert story.case.named_caseworker_id == SPECIALIST_CASEWORKER_ID
    assert story.case.team is Team.SPECIALIST_CASE_TEAM


@pytest.mark.parametrize(
    ("to_manager", "reason", "code"),
    [
        pytest.param("em-jo", "", "reason_required", id="without_a_reason"),
        pytest.param("em-jo", "   ", "reason_required", id="with_a_blank_reason"),
        pytest.param("em-cal", "swap", "handover_to_same_manager", id="to_the_same_manager"),
        pytest.param("", "swap", "enforcement_manager_required", id="to_nobody"),
    ],
)
def test_refuses_a_handover_of_enforcement(to_manager: str, reason: str, code: str) -> None:
    story = given.specialist_case()
    story.start_enforcement()

    refusal(
        story,
        lambda: story.case.hand_over_enforcement(
            story.ctx(ENFORCEMENT_MANAGER), to_manager_id=to_manager, reason=reason
        ),
        code,
    )


def test_ending_enforcement_leaves_the_named_caseworker_and_team() -> None:
    story = given.specialist_case()
    story.start_enforcement()
    story.new_events()

    story.case.end_enforcement(story.ctx(ENFORCEMENT_MANAGER), reason="arrears cleared")

    [event] = story.new_events()
    assert isinstance(event, Case.EnforcementEnded)
    assert event.enforcement_manager_id == "em-cal"
    assert story.case.enforcement_manager_id is None
    assert story.case.named_caseworker_id == SPECIALIST_CASEWORKER_ID
    assert story.case.team is Team.SPECIALIST_CASE_TEAM


# =============================================================================== referral


def test_a_referral_on_police_involvement_records_the_facts_criteria_and_policy() -> None:
    # Scenario 1: the police were called about the paying parent's threats last month.
    story = given.mainstream_case()
    story.record_concern(ConcernKind.THREATENED_VIOLENCE, police_involved=True)
    story.new_events()

    referred = story.case.decide_referral(
        story.ctx(CASEWORKER), policy=POLICY_V1, reason="police called about his threats last month"
    )

    [event] = story.new_events()
    assert referred is True
    assert isinstance(event, Case.ReferredToSpecialistTeam)
    assert event.policy_version == "v1"
    assert event.criteria_met == ["police_involvement"]
    assert event.discretionary is False
    assert event.facts == {
        "service_type": "collect_and_pay",
        "under_acs_for_domestic_abuse": False,
        "police_involved_for_domestic_abuse": True,
        "disclosed_kinds": ["threatened_violence"],
        "safety_concern_unresolved": None,
        "significant_threat": None,
        "judgement_recorded_in_version": None,
        "concern_changes_since_judgement": [],
    }
    assert event.reason == "police called about his threats last month"
    assert story.case.referral_pending is True
    assert story.case.team is Team.MAINSTREAM


def test_the_specialist_team_accepts_a_referral_and_names_a_specialist_caseworker() -> None:
    story = given.mainstream_case()
    story.record_concern(ConcernKind.THREATENED_VIOLENCE, police_involved=True)
    story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1)
    story.new_events()

    story.case.accept_referral(story.ctx(SPECIALIST), specialist_caseworker_id=SPECIALIST_CASEWORKER_ID)

    [event] = story.new_events()
    assert isinstance(event, Case.AcceptedBySpecialistTeam)
    assert (event.previous_caseworker_id, event.specialist_caseworker_id) == ("cw-ada", SPECIALIST_CASEWORKER_ID)
    assert story.case.team is Team.SPECIALIST_CASE_TEAM
    assert story.case.named_caseworker_id == SPECIALIST_CASEWORKER_ID
    assert story.case.referral_pending is False


def test_a_customer_under_acs_for_domestic_abuse_is_referred_on_that_alone() -> None:
    # Scenario 2.
    story = given.mainstream_case()
    story.case.record_acs_involvement(
        story.ctx(CASEWORKER), party_id=given.RECEIVING_PARENT, for_domestic_abuse=True, reason="ACS caseworker says so"
    )
    story.new_events()

    story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1)

    event = last_event(story.new_events(), Case.ReferredToSpecialistTeam)
    assert isinstance(event, Case.ReferredToSpecialistTeam)
    assert event.criteria_met == ["acs_domestic_abuse"]
    assert event.facts["under_acs_for_domestic_abuse"] is True


def test_the_three_part_test_met_records_each_part() -> None:
    # Scenario 3, built by given.specialist_case.
    story = given.specialist_case()

    event = last_event(story.history, Case.ReferredToSpecialistTeam)

    assert isinstance(event, Case.ReferredToSpecialistTeam)
    assert event.criteria_met == ["three_part_test"]
    assert event.facts["disclosed_kinds"] == ["coercive_control"]
    assert event.facts["safety_concern_unresolved"] is True
    assert event.facts["significant_threat"] is True


def test_the_three_part_test_not_met_records_which_part_failed_and_keeps_the_concern() -> None:
    # Scenario 4: financial control; signposting resolves the caseworker's concern.
    story = given.mainstream_case()
    concern_id = story.record_concern(ConcernKind.FINANCIAL_CONTROL)
    story.case.give_signposting(story.ctx(CASEWORKER), target=SignpostTarget.AFFORDABILITY_HUB, resolved_concern=False)
    story.case.give_signposting(
        story.ctx(CASEWORKER),
        target=SignpostTarget.DOMESTIC_ABUSE_SUPPORT_SERVICE,
        resolved_concern=True,
        concern_id=concern_id,
    )
    story.assess(concerns_unresolved=False, significant_threat=False)
    story.new_events()

    referred = story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1)

    [event] = story.new_events()
    assert referred is False
    assert isinstance(event, Case.ReferralNotMade)
    assert event.policy_version == "v1"
    assert event.unmet["three_part_test"] == ["safety_concern_unresolved", "significant_threat"]
    assert event.facts["disclosed_kinds"] == ["financial_control"]
    assert story.case.referral_pending is False
    assert story.case.team is Team.MAINSTREAM
    assert story.case.concerns[str(concern_id)].resolved is True  # still in the safeguarding history


def test_a_concern_the_customer_did_not_disclose_does_not_satisfy_the_disclosure_part() -> None:
    story = given.mainstream_case()
    story.record_concern(ConcernKind.COERCIVE_CONTROL, source=ConcernSource.THIRD_PARTY)
    story.assess(concerns_unresolved=True, significant_threat=True)
    story.new_events()

    referred = story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1)

    event = last_event(story.new_events(), Case.ReferralNotMade)
    assert referred is False
    assert isinstance(event, Case.ReferralNotMade)
    assert event.unmet["three_part_test"] == ["disclosure"]


def test_police_involvement_about_something_other_than_domestic_abuse_is_not_the_police_criterion() -> None:
    story = given.mainstream_case()
    story.record_concern(ConcernKind.HOMELESSNESS_RISK, police_involved=True)
    story.new_events()

    referred = story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1)

    event = last_event(story.new_events(), Case.ReferralNotMade)
    assert referred is False
    assert isinstance(event, Case.ReferralNotMade)
    assert event.facts["police_involved_for_domestic_abuse"] is False
    assert story.case.police_involvement_live is False


def test_a_direct_pay_case_is_not_referred_until_it_moves_to_collect_and_pay() -> None:
    story = given.mainstream_case(service_type=ServiceType.DIRECT_PAY)
    story.case.record_acs_involvement(
        story.ctx(CASEWORKER), party_id=given.RECEIVING_PARENT, for_domestic_abuse=True, reason="under ACS"
    )

    assert story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1) is False
    not_made = last_event(story.new_events(), Case.ReferralNotMade)
    assert isinstance(not_made, Case.ReferralNotMade)
    assert not_made.unmet["service_type"] == ["service_type_is_direct_pay"]

    story.case.change_service_type(
        story.ctx(CASEWORKER), to=ServiceType.COLLECT_AND_PAY, reason="Domestic Abuse Act 2023: no consent needed"
    )
    assert story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1) is True


def test_a_discretionary_referral_needs_a_reason_and_is_recorded_as_discretionary() -> None:
    story = given.mainstream_case()
    refusal(
        story,
        lambda: story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1, discretionary=True, reason=" "),
        "reason_required",
    )

    referred = story.case.decide_referral(
        story.ctx(CASEWORKER), policy=POLICY_V1, discretionary=True, reason="she fears for her children"
    )

    [event] = story.new_events()
    assert referred is True
    assert isinstance(event, Case.ReferredToSpecialistTeam)
    assert event.discretionary is True
    assert event.criteria_met == []
    assert event.reason == "she fears for her children"
    assert story.case.referral_pending is True


# =============================================================================== expedited pathway


def test_a_missed_target_is_not_recorded_at_exactly_the_due_time() -> None:
    story = given.mainstream_case()
    pathway_id = story.open_pathway(PathwayReason.HOMELESSNESS_RISK, due_in=timedelta(days=2))
    due = story.case.open_pathways[str(pathway_id)].due_at

    refusal(
        story,
        lambda: story.case.record_deadline_missed(context(SERVICE, due), pathway_id=pathway_id, escalate_to=ACSSL.id),
        "deadline_not_passed",
    )
    assert story.case.open_pathways[str(pathway_id)].deadline_missed is False


def test_one_microsecond_after_the_due_time_the_miss_and_an_escalation_are_recorded_together() -> None:
    # Scenario 8: homelessness risk during an arrears review; the target passes without action.
    story = given.mainstream_case()
    pathway_id = story.open_pathway(PathwayReason.HOMELESSNESS_RISK, due_in=timedelta(days=2))
    due = story.case.open_pathways[str(pathway_id)].due_at
    story.new_events()
    ctx = context(SERVICE, due + timedelta(microseconds=1))

    escalation_id = story.case.record_deadline_missed(ctx, pathway_id=pathway_id, escalate_to=ACSSL.id)

    missed, escalated = story.new_events()
    assert isinstance(missed, Case.ExpeditedDeadlineMissed)
    assert isinstance(escalated, Case.EscalationRaised)
    assert (missed.pathway_id, missed.due_at) == (pathway_id, due)
    assert escalated.escalation_id == escalation_id
    assert (escalated.pathway_id, escalated.route, escalated.to_actor_id) == (pathway_id, "acs_senior_leader", ACSSL.id)
    assert "homelessness_risk" in escalated.reason
    assert missed.command_id == escalated.command_id == ctx.command_id
    assert escalated.originator_version == missed.originator_version + 1
    assert story.case.open_pathways[str(pathway_id)].deadline_missed is True
    assert str(escalation_id) in story.case.open_escalations


def test_a_missed_target_is_recorded_once() -> None:
    story = given.mainstream_case()
    pathway_id = story.open_pathway(due_in=timedelta(hours=4))
    story.case.record_deadline_missed(
        story.ctx(SERVICE, after=timedelta(hours=5)), pathway_id=pathway_id, escalate_to=None
    )

    refusal(
        story,
        lambda: story.case.record_deadline_missed(story.ctx(SERVICE), pathway_id=pathway_id, escalate_to=None),
        "deadline_already_missed",
    )


def test_an_acs_senior_leader_resolves_the_escalation_and_raises_a_service_design_issue() -> None:
    story = given.mainstream_case()
    pathway_id = story.open_pathway(due_in=timedelta(hours=4))
    escalation_id = story.case.record_deadline_missed(
        story.ctx(SERVICE, after=timedelta(hours=5)), pathway_id=pathway_id, escalate_to=ACSSL.id
    )
    story.new_events()

    story.case.resolve_escalation(story.ctx(ACSSL), escalation_id=escalation_id, resolution="DPT support arranged")
    issue_id = story.case.raise_service_design_issue(
        story.ctx(ACSSL), summary="homelessness pathway has no cover at weekends", escalation_id=escalation_id
    )

    resolved, issue = story.new_events()
    assert isinstance(resolved, Case.EscalationResolved) and resolved.escalation_id == escalation_id
    assert isinstance(issue, Case.ServiceDesignIssueRaised)
    assert (issue.issue_id, issue.escalation_id) == (issue_id, escalation_id)
    assert story.case.open_escalations == {}


def test_a_financial_hardship_pathway_opens_and_closes_when_the_hardship_is_addressed() -> None:
    # Scenario 9.
    story = given.mainstream_case()
    pathway_id = story.open_pathway(PathwayReason.SIGNIFICANT_FINANCIAL_HARDSHIP)
    story.case.give_signposting(story.ctx(CASEWORKER), target=SignpostTarget.AFFORDABILITY_HUB, resolved_concern=False)

    story.case.close_expedited_pathway(story.ctx(CASEWORKER), pathway_id=pathway_id, reason="payments resumed")

    types = story.event_types()
    assert types == ["ExpeditedPathwayOpened", "SignpostingGiven", "ExpeditedPathwayClosed"]
    assert story.case.open_pathways == {}


# =============================================================================== corrections


def test_a_concern_marked_in_error_still_blocks_removal() -> None:
    story = given.settled_specialist_case()
    concern_id = story.record_concern(ConcernKind.PHYSICAL_VIOLENCE)
    concern_version = story.case.version
    story.case.record_entry_in_error(
        story.ctx(SPECIALIST), corrected_version=concern_version, correction="recorded on the wrong case"
    )
    story.request_removal()
    story.new_events()

    approved = story.decide_removal(reviewer_doubt=False)

    [event] = story.new_events()
    assert approved is False
    assert isinstance(event, Case.RemovalRefused)
    assert [d["code"] for d in event.doubts] == ["unresolved_concern"]
    assert story.case.concerns[str(concern_id)].resolved is False
    assert story.case.corrected_versions == {concern_version: "recorded on the wrong case"}


def test_a_police_concern_marked_in_error_leaves_police_involvement_live() -> None:
    story = given.mainstream_case()
    story.record_concern(ConcernKind.THREATENED_VIOLENCE, police_involved=True)

    story.case.record_entry_in_error(
        story.ctx(CASEWORKER), corrected_version=story.case.version, correction="wrong customer"
    )

    assert story.case.police_involvement_live is True
    assert story.event_types() == ["ConcernRecorded", "EntryRecordedInError"]


# =============================================================================== refusals


def _pending_referral() -> Story:
    story = given.mainstream_case()
    story.case.record_acs_involvement(
        story.ctx(CASEWORKER), party_id=given.RECEIVING_PARENT, for_domestic_abuse=True, reason="under ACS"
    )
    story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1)
    return story


def _in_enforcement() -> Story:
    story = given.specialist_case()
    story.start_enforcement()
    return story


def _police_live() -> Story:
    story = given.mainstream_case()
    story.record_concern(ConcernKind.THREATENED_VIOLENCE, police_involved=True)
    return story


def _with_open_pathway() -> Story:
    story = given.mainstream_case()
    story.open_pathway(due_in=timedelta(days=1))
    return story


def _only_pathway(s: Story) -> UUID:
    [pathway_id] = s.case.open_pathways
    return UUID(pathway_id)


def _only_escalation(s: Story) -> UUID:
    [escalation_id] = s.case.open_escalations
    return UUID(escalation_id)


def _with_open_escalation() -> Story:
    story = given.mainstream_case()
    story.raise_escalation()
    return story


def _with_removal_request() -> Story:
    story = given.settled_specialist_case()
    story.request_removal()
    return story


FIXED_CONCERN = UUID(int=7)
FIXED_PATHWAY = UUID(int=8)
FIXED_ESCALATION = UUID(int=9)


def _concern_recorded() -> Story:
    story = given.mainstream_case()
    story.case.record_concern(
        story.ctx(CASEWORKER),
        kind=ConcernKind.COERCIVE_CONTROL,
        source=ConcernSource.CUSTOMER_DISCLOSURE,
        affected_party_id=RECEIVING_PARENT,
        concern_id=FIXED_CONCERN,
    )
    return story


def _concern_resolved() -> Story:
    story = _concern_recorded()
    story.resolve_concern(FIXED_CONCERN)
    return story


def _open_fixed_pathway(s: Story, ctx: ActionContext, *, due_in: timedelta = timedelta(days=1)) -> UUID:
    return s.case.open_expedited_pathway(
        ctx,
        pathway_reason=PathwayReason.SAFEGUARDING,
        due_at=ctx.occurred_at + due_in,
        reason="at risk",
        pathway_id=FIXED_PATHWAY,
    )


def _raise_fixed_escalation(s: Story) -> UUID:
    return s.case.raise_escalation(s.ctx(CASEWORKER), reason="threat", escalation_id=FIXED_ESCALATION)


def _closed_pathway() -> Story:
    story = given.mainstream_case()
    pathway_id = story.open_pathway()
    story.case.close_expedited_pathway(story.ctx(CASEWORKER), pathway_id=pathway_id, reason="done")
    return story


def _resolved_escalation() -> Story:
    story = _with_open_escalation()
    story.case.resolve_escalation(story.ctx(ACSSL), escalation_id=_only_escalation(story), resolution="handled")
    return story


def _story_after(story: Story, step: Callable[[Story], object]) -> Story:
    step(story)
    return story


Refusal = tuple[str, Callable[[], Story], Callable[[Story], object], str]

# (what is refused, given, when, code)
REFUSALS: list[Refusal] = [
    # named caseworker
    (
        "a_named_caseworker_without_an_id",
        given.application,
        lambda s: s.case.assign_caseworker(s.ctx(CASEWORKER), caseworker_id="", reason=""),
        "caseworker_required",
    ),
    (
        "naming_the_caseworker_who_already_has_the_case",
        given.mainstream_case,
        lambda s: s.case.assign_caseworker(s.ctx(CASEWORKER), caseworker_id="cw-ada", reason="again"),
        "already_named_caseworker",
    ),
    (
        "a_change_of_named_caseworker_without_a_reason",
        given.mainstream_case,
        lambda s: s.case.assign_caseworker(s.ctx(CASEWORKER), caseworker_id="cw-kim", reason=" "),
        "reason_required",
    ),
    (
        "a_mainstream_caseworker_reassigning_a_specialist_case",
        given.specialist_case,
        lambda s: s.case.assign_caseworker(s.ctx(CASEWORKER), caseworker_id="cw-kim", reason="rebalancing"),
        "specialist_team_only",
    ),
    (
        "a_backend_service_reassigning_a_specialist_case",
        given.specialist_case,
        lambda s: s.case.assign_caseworker(s.ctx(SERVICE), caseworker_id="cw-kim", reason="workload tool"),
        "specialist_team_only",
    ),
    # service type
    (
        "a_change_to_the_service_type_the_case_already_has",
        given.mainstream_case,
        lambda s: s.case.change_service_type(s.ctx(CASEWORKER), to=ServiceType.COLLECT_AND_PAY, reason="x"),
        "service_type_unchanged",
    ),
    (
        "a_change_of_service_type_without_a_reason",
        given.mainstream_case,
        lambda s: s.case.change_service_type(s.ctx(CASEWORKER), to=ServiceType.DIRECT_PAY, reason=""),
        "reason_required",
    ),
    # concerns
    (
        "a_concern_about_someone_not_party_to_the_case",
        given.mainstream_case,
        lambda s: s.record_concern(affected_party_id=STRANGER),
        "unknown_party",
    ),
    (
        "the_same_concern_recorded_twice",
        _concern_recorded,
        lambda s: s.case.record_concern(
            s.ctx(CASEWORKER),
            kind=ConcernKind.COERCIVE_CONTROL,
            source=ConcernSource.CUSTOMER_DISCLOSURE,
            affected_party_id=RECEIVING_PARENT,
            concern_id=FIXED_CONCERN,
        ),
        "duplicate_concern",
    ),
    (
        "resolving_a_concern_the_case_does_not_have",
        given.mainstream_case,
        lambda s: s.resolve_concern(ANY_ID),
        "unknown_concern",
    ),
    (
        "resolving_a_concern_twice",
        _concern_resolved,
        lambda s: s.resolve_concern(FIXED_CONCERN),
        "concern_already_resolved",
    ),
    (
        "resolving_a_concern_without_a_reason",
        _concern_recorded,
        lambda s: s.case.resolve_concern(s.ctx(CASEWORKER), concern_id=FIXED_CONCERN, reason=""),
        "reason_required",
    ),
    (
        "signposting_that_resolved_a_concern_without_saying_which",
        _concern_recorded,
        lambda s: s.case.give_signposting(
            s.ctx(CASEWORKER), target=SignpostTarget.AFFORDABILITY_HUB, resolved_concern=True
        ),
        "concern_required",
    ),
    (
        "signposting_for_a_concern_the_case_does_not_have",
        given.mainstream_case,
        lambda s: s.case.give_signposting(
            s.ctx(CASEWORKER), target=SignpostTarget.AFFORDABILITY_HUB, resolved_concern=False, concern_id=ANY_ID
        ),
        "unknown_concern",
    ),
    (
        "signposting_that_resolves_an_already_resolved_concern",
        _concern_resolved,
        lambda s: s.case.give_signposting(
            s.ctx(CASEWORKER), target=SignpostTarget.AFFORDABILITY_HUB, resolved_concern=True, concern_id=FIXED_CONCERN
        ),
        "concern_already_resolved",
    ),
    (
        "a_risk_assessment_of_a_concern_the_case_does_not_have",
        given.mainstream_case,
        lambda s: s.case.assess_safety_risk(
            s.ctx(CASEWORKER), concerns_unresolved=True, significant_threat=True, reason="x", concern_id=ANY_ID
        ),
        "unknown_concern",
    ),
    (
        "a_risk_assessment_without_a_reason",
        given.mainstream_case,
        lambda s: s.case.assess_safety_risk(
            s.ctx(CASEWORKER), concerns_unresolved=True, significant_threat=True, reason=""
        ),
        "reason_required",
    ),
    (
        "ending_police_involvement_that_is_not_live",
        given.mainstream_case,
        lambda s: s.case.end_police_involvement(s.ctx(CASEWORKER), reason="closed"),
        "no_police_involvement",
    ),
    (
        "ending_police_involvement_without_a_reason",
        _police_live,
        lambda s: s.case.end_police_involvement(s.ctx(CASEWORKER), reason=""),
        "reason_required",
    ),
    (
        "acs_involvement_without_a_reason",
        given.mainstream_case,
        lambda s: s.case.record_acs_involvement(
            s.ctx(CASEWORKER), party_id=given.RECEIVING_PARENT, for_domestic_abuse=True, reason=""
        ),
        "reason_required",
    ),
    # referral
    (
        "a_referral_of_a_case_already_with_the_specialist_team",
        given.specialist_case,
        lambda s: s.case.decide_referral(s.ctx(SPECIALIST), policy=POLICY_V1),
        "already_specialist",
    ),
    (
        "a_second_referral_while_one_is_pending",
        _pending_referral,
        lambda s: s.case.decide_referral(s.ctx(CASEWORKER), policy=POLICY_V1),
        "referral_pending",
    ),
    (
        "a_discretionary_referral_without_a_reason",
        given.mainstream_case,
        lambda s: s.case.decide_referral(s.ctx(CASEWORKER), policy=POLICY_V1, discretionary=True, reason=""),
        "reason_required",
    ),
    (
        "accepting_a_referral_that_was_never_made",
        given.mainstream_case,
        lambda s: s.case.accept_referral(s.ctx(SPECIALIST), specialist_caseworker_id=SPECIALIST_CASEWORKER_ID),
        "no_pending_referral",
    ),
    (
        "accepting_a_referral_that_was_not_made_because_criteria_were_unmet",
        lambda: _story_after(
            given.mainstream_case(), lambda s: s.case.decide_referral(s.ctx(CASEWORKER), policy=POLICY_V1)
        ),
        lambda s: s.case.accept_referral(s.ctx(SPECIALIST), specialist_caseworker_id=SPECIALIST_CASEWORKER_ID),
        "no_pending_referral",
    ),
    (
        "accepting_a_referral_without_a_specialist_caseworker",
        _pending_referral,
        lambda s: s.case.accept_referral(s.ctx(SPECIALIST), specialist_caseworker_id=""),
        "caseworker_required",
    ),
    # enforcement
    (
        "a_second_enforcement_manager",
        _in_enforcement,
        lambda s: s.start_enforcement(manager_id="em-jo"),
        "enforcement_manager_already_assigned",
    ),
    (
        "enforcement_without_a_manager",
        given.mainstream_case,
        lambda s: s.start_enforcement(manager_id=""),
        "enforcement_manager_required",
    ),
    (
        "enforcement_without_a_reason",
        given.mainstream_case,
        lambda s: s.case.start_enforcement(
            s.ctx(CASEWORKER), enforcement_manager_id="em-cal", step=EnforcementStep.ARREARS_NOTICE, reason=""
        ),
        "reason_required",
    ),
    (
        "a_handover_when_the_case_is_not_in_enforcement",
        given.mainstream_case,
        lambda s: s.case.hand_over_enforcement(s.ctx(ENFORCEMENT_MANAGER), to_manager_id="em-jo", reason="x"),
        "not_in_enforcement",
    ),
    (
        "ending_enforcement_that_never_started",
        given.mainstream_case,
        lambda s: s.case.end_enforcement(s.ctx(ENFORCEMENT_MANAGER), reason="x"),
        "not_in_enforcement",
    ),
    (
        "ending_enforcement_without_a_reason",
        _in_enforcement,
        lambda s: s.case.end_enforcement(s.ctx(ENFORCEMENT_MANAGER), reason=""),
        "reason_required",
    ),
    # expedited pathway and escalation
    (
        "opening_the_same_pathway_twice",
        lambda: _story_after(given.mainstream_case(), lambda s: _open_fixed_pathway(s, s.ctx(CASEWORKER))),
        lambda s: _open_fixed_pathway(s, s.ctx(CASEWORKER)),
        "duplicate_pathway",
    ),
    (
        "a_pathway_due_the_moment_it_opens",
        given.mainstream_case,
        lambda s: _open_fixed_pathway(s, s.ctx(CASEWORKER), due_in=timedelta(0)),
        "due_in_past",
    ),
    (
        "opening_a_pathway_without_a_reason",
        given.mainstream_case,
        lambda s: s.case.open_expedited_pathway(
            s.ctx(CASEWORKER), pathway_reason=PathwayReason.SAFEGUARDING, due_at=s.now + timedelta(days=2), reason=""
        ),
        "reason_required",
    ),
    (
        "closing_a_pathway_the_case_does_not_have",
        given.mainstream_case,
        lambda s: s.case.close_expedited_pathway(s.ctx(CASEWORKER), pathway_id=ANY_ID, reason="x"),
        "unknown_pathway",
    ),
    (
        "closing_a_pathway_twice",
        _closed_pathway,
        lambda s: s.case.close_expedited_pathway(
            s.ctx(CASEWORKER), pathway_id=last_event(s.history, Case.ExpeditedPathwayClosed).pathway_id, reason="x"
        ),
        "unknown_pathway",
    ),
    (
        "closing_a_pathway_without_a_reason",
        _with_open_pathway,
        lambda s: s.case.close_expedited_pathway(s.ctx(CASEWORKER), pathway_id=_only_pathway(s), reason=""),
        "reason_required",
    ),
    (
        "a_missed_target_on_a_pathway_the_case_does_not_have",
        given.mainstream_case,
        lambda s: s.case.record_deadline_missed(s.ctx(SERVICE), pathway_id=ANY_ID, escalate_to=None),
        "unknown_pathway",
    ),
    (
        "a_missed_target_before_the_due_time",
        _with_open_pathway,
        lambda s: s.case.record_deadline_missed(s.ctx(SERVICE), pathway_id=_only_pathway(s), escalate_to=None),
        "deadline_not_passed",
    ),
    (
        "an_escalation_without_a_reason",
        given.mainstream_case,
        lambda s: s.case.raise_escalation(s.ctx(CASEWORKER), reason=""),
        "reason_required",
    ),
    (
        "an_escalation_about_a_pathway_that_is_not_open",
        _closed_pathway,
        lambda s: s.case.raise_escalation(
            s.ctx(CASEWORKER),
            reason="x",
            pathway_id=last_event(s.history, Case.ExpeditedPathwayClosed).pathway_id,
        ),
        "unknown_pathway",
    ),
    (
        "the_same_escalation_raised_twice",
        lambda: _story_after(given.mainstream_case(), _raise_fixed_escalation),
        _raise_fixed_escalation,
        "duplicate_escalation",
    ),
    (
        "resolving_an_escalation_the_case_does_not_have",
        given.mainstream_case,
        lambda s: s.case.resolve_escalation(s.ctx(ACSSL), escalation_id=ANY_ID, resolution="x"),
        "unknown_escalation",
    ),
    (
        "resolving_an_escalation_twice",
        _resolved_escalation,
        lambda s: s.case.resolve_escalation(
            s.ctx(ACSSL), escalation_id=last_event(s.history, Case.EscalationResolved).escalation_id, resolution="x"
        ),
        "unknown_escalation",
    ),
    (
        "resolving_an_escalation_without_a_resolution",
        _with_open_escalation,
        lambda s: s.case.resolve_escalation(s.ctx(ACSSL), escalation_id=_only_escalation(s), resolution=" "),
        "reason_required",
    ),
    (
        "a_service_design_issue_without_a_summary",
        given.mainstream_case,
        lambda s: s.case.raise_service_design_issue(s.ctx(ACSSL), summary=""),
        "reason_required",
    ),
    # removal
    (
        "a_removal_request_for_a_mainstream_case",
        given.mainstream_case,
        lambda s: s.request_removal(),
        "not_in_specialist_team",
    ),
    (
        "a_removal_request_while_one_is_pending",
        _with_removal_request,
        lambda s: s.request_removal(),
        "removal_request_pending",
    ),
    (
        "a_removal_request_without_the_victim_survivor_advising_the_abuse_has_ended",
        given.settled_specialist_case,
        lambda s: s.case.request_removal(
            s.ctx(SPECIALIST), advised_by_party_id=RECEIVING_PARENT, victim_survivor_advises_no_ongoing_abuse=False
        ),
        "victim_survivor_advice_required",
    ),
    (
        "a_removal_request_advised_by_someone_not_party_to_the_case",
        given.settled_specialist_case,
        lambda s: s.request_removal(advised_by=STRANGER),
        "unknown_party",
    ),
    (
        "a_removal_decision_with_no_request",
        given.settled_specialist_case,
        lambda s: s.decide_removal(reviewer_doubt=False),
        "no_pending_removal_request",
    ),
    (
        "an_approved_removal_without_a_caseworker_to_return_to",
        _with_removal_request,
        lambda s: s.case.decide_removal(s.ctx(given.REVIEWER), reviewer_doubt=False, returned_to_caseworker_id=""),
        "caseworker_required",
    ),
    # closure and corrections
    (
        "closing_a_case_without_a_reason",
        given.mainstream_case,
        lambda s: s.case.close(s.ctx(CASEWORKER), reason=""),
        "reason_required",
    ),
    (
        "correcting_event_zero",
        given.mainstream_case,
        lambda s: s.case.record_entry_in_error(s.ctx(CASEWORKER), corrected_version=0, correction="x"),
        "unknown_version",
    ),
    (
        "correcting_an_event_that_does_not_exist_yet",
        given.mainstream_case,
        lambda s: s.case.record_entry_in_error(s.ctx(CASEWORKER), corrected_version=s.case.version + 1, correction="x"),
        "unknown_version",
    ),
    (
        "correcting_the_same_event_twice",
        lambda: _story_after(
            given.mainstream_case(),
            lambda s: s.case.record_entry_in_error(s.ctx(CASEWORKER), corrected_version=2, correction="x"),
        ),
        lambda s: s.case.record_entry_in_error(s.ctx(CASEWORKER), corrected_version=2, correction="y"),
        "already_corrected",
    ),
    (
        "a_correction_without_saying_what_was_wrong",
        given.mainstream_case,
        lambda s: s.case.record_entry_in_error(s.ctx(CASEWORKER), corrected_version=1, correction=""),
        "reason_required",
    ),
]


@pytest.mark.parametrize(("given_story", "when", "code"), [pytest.param(*r[1:], id=r[0]) for r in REFUSALS])
def test_the_case_refuses(given_story: Callable[[], Story], when: Callable[[Story], object], code: str) -> None:
    story = given_story()

    refusal(story, lambda: when(story), code)


# =============================================================================== replay


def whole_journey() -> Story:
    """Scenarios 1, 7, 8, 5, 6 and 10 in one case, with a correction after closure."""
    story = given.mainstream_case()
    story.record_concern(ConcernKind.THREATENED_VIOLENCE, police_involved=True)
    story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1)
    story.case.accept_referral(story.ctx(SPECIALIST), specialist_caseworker_id=SPECIALIST_CASEWORKER_ID)
    story.start_enforcement()
    story.case.hand_over_enforcement(story.ctx(ENFORCEMENT_MANAGER), to_manager_id="em-jo", reason="leave")
    pathway_id = story.open_pathway(due_in=timedelta(hours=1))
    escalation_id = story.case.record_deadline_missed(
        story.ctx(SERVICE, after=timedelta(hours=2)), pathway_id=pathway_id, escalate_to=ACSSL.id
    )
    story.case.resolve_escalation(story.ctx(ACSSL), escalation_id=escalation_id, resolution="DPT support")
    story.case.raise_service_design_issue(story.ctx(ACSSL), summary="no weekend cover", escalation_id=escalation_id)
    story.request_removal()
    story.decide_removal(reviewer_doubt=None)  # refused
    story.case.close_expedited_pathway(story.ctx(CASEWORKER), pathway_id=pathway_id, reason="housed")
    for concern_id in story.case.unresolved_concern_ids():
        story.resolve_concern(UUID(concern_id))
    story.case.end_police_involvement(story.ctx(SPECIALIST), reason="police investigation closed")
    story.assess(concerns_unresolved=False, significant_threat=False, by=SPECIALIST)
    story.request_removal()
    assert story.decide_removal(reviewer_doubt=False) is True
    story.close()
    story.case.record_entry_in_error(story.ctx(CASEWORKER), corrected_version=2, correction="wrong kind of concern")
    story.new_events()
    return story


def test_replaying_the_events_gives_the_same_case() -> None:
    story = whole_journey()

    replayed = replay(story.history)

    assert state_of(replayed) == state_of(story.case)
    assert replayed.version == len(story.history) == story.case.version
    assert replayed.team is Team.MAINSTREAM and replayed.closed is True


def test_saving_and_loading_through_an_event_store_gives_the_same_case() -> None:
    story = whole_journey()
    app: Application[UUID] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        app.events.put(story.history)

        loaded = app.repository.get(story.case.id)
    finally:
        app.close()

    assert isinstance(loaded, Case)
    assert state_of(loaded) == state_of(story.case)


def test_replay_never_re_runs_a_rule_so_a_later_policy_cannot_undo_a_referral() -> None:
    # Referred under v1 on the ACS criterion alone.
    story = given.mainstream_case()
    story.case.record_acs_involvement(
        story.ctx(CASEWORKER), party_id=given.RECEIVING_PARENT, for_domestic_abuse=True, reason="under ACS"
    )
    assert story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1) is True
    story.new_events()
    # A later policy (hypothetical) that would say no to the same facts.
    police_only = EligibilityPolicy(
        version="v2-police-only",
        effective_from=T0 + timedelta(days=30),
        services=frozenset({ServiceType.COLLECT_AND_PAY}),
        criteria=(
            Criterion(
                "police_involvement",
                "police only",
                (Condition("police_involved_for_domestic_abuse", fact="police_involved_for_domestic_abuse"),),
            ),
        ),
    )

    replayed = replay(story.history)

    assert police_only.evaluate(replayed.referral_facts()).eligible is False
    assert replayed.referral_pending is True
    referral = last_event(story.history, Case.ReferredToSpecialistTeam)
    assert isinstance(referral, Case.ReferredToSpecialistTeam) and referral.policy_version == "v1"


def test_replay_never_re_checks_permissions_or_closure() -> None:
    # A correction recorded after closure replays although the case is closed by then.
    story = closed_specialist_case()
    story.case.record_entry_in_error(story.ctx(SPECIALIST), corrected_version=1, correction="wrong date")
    story.new_events()

    replayed = replay(story.history)

    assert replayed.closed is True
    assert replayed.corrected_versions == {1: "wrong date"}
    assert state_of(replayed) == state_of(story.case)


def test_a_refused_command_appends_nothing_to_replay() -> None:
    story = given.specialist_case()
    with pytest.raises(RuleViolation):
        story.case.decide_referral(story.ctx(SPECIALIST), policy=POLICY_V1)

    assert state_of(replay(story.history)) == state_of(story.case)
