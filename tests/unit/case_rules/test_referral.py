"""The Case aggregate's rules on referral: the recorded facts, criteria and policy of every decision.

Told as given (events) / when (a command) / then (events or a refusal), with cases built by
``tests/builders.py`` at explicit times; nothing here touches a database or the wall clock. A
refused command must append nothing and leave the state as it was.
"""

from __future__ import annotations

from domain.case.aggregate import Case
from domain.rules.eligibility import POLICY_V1
from domain.values import (
    ConcernKind,
    ConcernSource,
    ServiceType,
    SignpostTarget,
    Team,
)
from tests import builders as given
from tests.builders import (
    CASEWORKER,
    SPECIALIST,
    SPECIALIST_CASEWORKER_ID,
    last_event,
    refusal,
)


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
