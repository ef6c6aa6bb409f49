"""The Case aggregate's rules on refusals: each refused command appends nothing and says why.

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
from domain.rules.eligibility import POLICY_V1
from domain.values import (
    ActionContext,
    ConcernKind,
    ConcernSource,
    EnforcementStep,
    PathwayReason,
    ServiceType,
    SignpostTarget,
)
from tests import builders as given
from tests.builders import (
    ACSSL,
    ANY_ID,
    CASEWORKER,
    ENFORCEMENT_MANAGER,
    RECEIVING_PARENT,
    SERVICE,
    SPECIALIST,
    SPECIALIST_CASEWORKER_ID,
    STRANGER,
    Story,
    last_event,
    refusal,
)


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
