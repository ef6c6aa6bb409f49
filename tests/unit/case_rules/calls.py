"""One syntactically complete call per command, for the tables that go through every command."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

from domain.case.aggregate import Case
from domain.rules.eligibility import POLICY_V1
from domain.values import (
    ActionContext,
    ApplicantRole,
    ConcernKind,
    ConcernSource,
    EnforcementStep,
    PathwayReason,
    ServiceType,
    SignpostTarget,
)
from tests import builders as given
from tests.builders import (
    ANY_ID,
    PAYING_PARENT,
    RECEIVING_PARENT,
    RETURNING_CASEWORKER_ID,
    SPECIALIST_CASEWORKER_ID,
    Story,
)

#: One syntactically complete call per command. Used to show the aggregate itself checks the
#: permission (before anything else) and refuses everything on a closed case.
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
