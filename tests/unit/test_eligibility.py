"""Referral to the Specialist Case Team under policy v1, exactly as seed 1 states it.

Seed 1: refer a Collect and Pay case when (1) the customer is under DWP Advanced Customer Support
because of domestic abuse, or (2) the CMS or the customer involved the police because of a
domestic abuse concern, or (3) all three of: a disclosure of actual or threatened physical
violence, coercive control or financial control; a safety concern not resolved by the
conversation or signposting; a significant threat or risk. Recorded judgements only: ``None``
(not recorded) never counts as met.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from domain.rules.eligibility import (
    DEFAULT_POLICIES,
    POLICY_V1,
    SEED_1_DISCLOSURE_KINDS,
    Condition,
    Criterion,
    EligibilityPolicy,
    PolicyRegistry,
    ReferralFacts,
)
from domain.values import ConcernKind, ServiceType

ACS = "acs_domestic_abuse"
POLICE = "police_involvement"
THREE_PART = "three_part_test"

ACS_UNMET = {ACS: ["under_acs_for_domestic_abuse"]}
POLICE_UNMET = {POLICE: ["police_involved_for_domestic_abuse"]}
THREE_PART_ALL_UNMET = {THREE_PART: ["disclosure", "safety_concern_unresolved", "significant_threat"]}
DIRECT_PAY_UNMET = {"service_type": ["service_type_is_direct_pay"]}

NOTHING = ReferralFacts(
    service_type=ServiceType.COLLECT_AND_PAY,
    under_acs_for_domestic_abuse=False,
    police_involved_for_domestic_abuse=False,
    disclosed_kinds=frozenset(),
    safety_concern_unresolved=None,
    significant_threat=None,
)


def facts(**changes: object) -> ReferralFacts:
    return dataclasses.replace(NOTHING, **changes)  # type: ignore[arg-type]


def three_part(kind: ConcernKind = ConcernKind.COERCIVE_CONTROL, **changes: object) -> ReferralFacts:
    """All three parts of the three-part test met (unless ``changes`` say otherwise)."""
    base = {"disclosed_kinds": frozenset({kind}), "safety_concern_unresolved": True, "significant_threat": True}
    return facts(**{**base, **changes})


NON_SEED_KINDS = sorted(set(ConcernKind) - SEED_1_DISCLOSURE_KINDS)

# facts -> (eligible, criteria met, unmet criteria with their unmet conditions)
V1_TABLE: list[tuple[str, ReferralFacts, bool, tuple[str, ...], dict[str, list[str]]]] = [
    (
        "nothing_recorded_is_not_eligible",
        NOTHING,
        False,
        (),
        {**ACS_UNMET, **POLICE_UNMET, **THREE_PART_ALL_UNMET},
    ),
    (
        "under_acs_for_domestic_abuse_alone_is_eligible",
        facts(under_acs_for_domestic_abuse=True),
        True,
        (ACS,),
        {**POLICE_UNMET, **THREE_PART_ALL_UNMET},
    ),
    (
        "police_involvement_alone_is_eligible",
        facts(police_involved_for_domestic_abuse=True),
        True,
        (POLICE,),
        {**ACS_UNMET, **THREE_PART_ALL_UNMET},
    ),
    *[
        (
            f"three_part_test_met_with_a_disclosure_of_{kind}",
            three_part(kind),
            True,
            (THREE_PART,),
            {**ACS_UNMET, **POLICE_UNMET},
        )
        for kind in sorted(SEED_1_DISCLOSURE_KINDS)
    ],
    (
        "three_part_test_met_when_a_seed_kind_is_among_other_kinds",
        three_part(disclosed_kinds=frozenset({ConcernKind.ECONOMIC_ABUSE, ConcernKind.FINANCIAL_CONTROL})),
        True,
        (THREE_PART,),
        {**ACS_UNMET, **POLICE_UNMET},
    ),
    (
        "three_part_test_not_met_without_a_disclosure",
        three_part(disclosed_kinds=frozenset()),
        False,
        (),
        {**ACS_UNMET, **POLICE_UNMET, THREE_PART: ["disclosure"]},
    ),
    (
        "three_part_test_not_met_when_signposting_resolved_the_concern",
        three_part(safety_concern_unresolved=False),
        False,
        (),
        {**ACS_UNMET, **POLICE_UNMET, THREE_PART: ["safety_concern_unresolved"]},
    ),
    (
        "three_part_test_not_met_when_no_judgement_on_the_concern_is_recorded",
        three_part(safety_concern_unresolved=None),
        False,
        (),
        {**ACS_UNMET, **POLICE_UNMET, THREE_PART: ["safety_concern_unresolved"]},
    ),
    (
        "three_part_test_not_met_without_a_significant_threat",
        three_part(significant_threat=False),
        False,
        (),
        {**ACS_UNMET, **POLICE_UNMET, THREE_PART: ["significant_threat"]},
    ),
    (
        "three_part_test_not_met_when_no_judgement_on_the_threat_is_recorded",
        three_part(significant_threat=None),
        False,
        (),
        {**ACS_UNMET, **POLICE_UNMET, THREE_PART: ["significant_threat"]},
    ),
    (
        "scenario_4_financial_control_resolved_by_signposting_is_not_eligible",
        three_part(ConcernKind.FINANCIAL_CONTROL, safety_concern_unresolved=False, significant_threat=False),
        False,
        (),
        {**ACS_UNMET, **POLICE_UNMET, THREE_PART: ["safety_concern_unresolved", "significant_threat"]},
    ),
    (
        "every_criterion_met_lists_all_three",
        three_part(under_acs_for_domestic_abuse=True, police_involved_for_domestic_abuse=True),
        True,
        (ACS, POLICE, THREE_PART),
        {},
    ),
    (
        "direct_pay_under_acs_is_never_eligible",
        facts(service_type=ServiceType.DIRECT_PAY, under_acs_for_domestic_abuse=True),
        False,
        (ACS,),
        {**DIRECT_PAY_UNMET, **POLICE_UNMET, **THREE_PART_ALL_UNMET},
    ),
    (
        "direct_pay_with_every_criterion_met_is_never_eligible",
        three_part(
            service_type=ServiceType.DIRECT_PAY,
            under_acs_for_domestic_abuse=True,
            police_involved_for_domestic_abuse=True,
        ),
        False,
        (ACS, POLICE, THREE_PART),
        DIRECT_PAY_UNMET,
    ),
    *[
        (
            f"a_disclosure_of_{kind}_does_not_satisfy_the_disclosure_part",
            three_part(kind),
            False,
            (),
            {**ACS_UNMET, **POLICE_UNMET, THREE_PART: ["disclosure"]},
        )
        for kind in NON_SEED_KINDS
    ],
]


@pytest.mark.parametrize(
    ("given_facts", "eligible", "criteria_met", "unmet"),
    [pytest.param(*row[1:], id=row[0]) for row in V1_TABLE],
)
def test_policy_v1_decides_as_seed_1_states(
    given_facts: ReferralFacts, eligible: bool, criteria_met: tuple[str, ...], unmet: dict[str, list[str]]
) -> None:
    decision = POLICY_V1.evaluate(given_facts)

    assert decision.eligible is eligible
    assert decision.criteria_met == criteria_met
    assert {name: list(codes) for name, codes in decision.unmet.items()} == unmet


def test_the_table_covers_every_kind_outside_seed_1_and_all_four_seed_kinds() -> None:
    assert set(SEED_1_DISCLOSURE_KINDS) == {
        ConcernKind.PHYSICAL_VIOLENCE,
        ConcernKind.THREATENED_VIOLENCE,
        ConcernKind.COERCIVE_CONTROL,
        ConcernKind.FINANCIAL_CONTROL,
    }
    assert {ConcernKind.ECONOMIC_ABUSE, ConcernKind.HOMELESSNESS_RISK} <= set(NON_SEED_KINDS)
    assert set(NON_SEED_KINDS) | SEED_1_DISCLOSURE_KINDS == set(ConcernKind)


def test_policy_v1_is_for_collect_and_pay_from_the_date_of_seed_1() -> None:
    assert POLICY_V1.version == "v1"
    assert POLICY_V1.services == frozenset({ServiceType.COLLECT_AND_PAY})
    assert POLICY_V1.effective_from == datetime(2025, 7, 10, tzinfo=UTC)
    assert [c.code for c in POLICY_V1.criteria] == [ACS, POLICE, THREE_PART]


def test_a_decision_records_the_policy_version_and_the_facts_it_was_judged_on() -> None:
    judged = three_part(
        ConcernKind.THREATENED_VIOLENCE,
        disclosed_kinds=frozenset({ConcernKind.THREATENED_VIOLENCE, ConcernKind.COERCIVE_CONTROL}),
    )

    decision = POLICY_V1.evaluate(judged)

    assert decision.policy_version == "v1"
    assert dict(decision.facts) == {
        "service_type": "collect_and_pay",
        "under_acs_for_domestic_abuse": False,
        "police_involved_for_domestic_abuse": False,
        "disclosed_kinds": ["coercive_control", "threatened_violence"],
        "safety_concern_unresolved": True,
        "significant_threat": True,
        "judgement_recorded_in_version": None,
        "concern_changes_since_judgement": [],
    }
    assert dict(decision.facts) == judged.as_record()


def test_a_referral_explains_which_criteria_were_met() -> None:
    decision = POLICY_V1.evaluate(facts(under_acs_for_domestic_abuse=True, police_involved_for_domestic_abuse=True))

    assert decision.explain() == "referred because: acs_domestic_abuse, police_involvement (policy v1)"


def test_a_refusal_explains_every_part_not_met() -> None:
    decision = POLICY_V1.evaluate(three_part(significant_threat=None))

    assert decision.explain() == (
        "not referred: acs_domestic_abuse: under_acs_for_domestic_abuse not met;"
        " police_involvement: police_involved_for_domestic_abuse not met;"
        " three_part_test: significant_threat not met (policy v1)"
    )


def test_a_direct_pay_refusal_names_the_service_type_first() -> None:
    decision = POLICY_V1.evaluate(facts(service_type=ServiceType.DIRECT_PAY, police_involved_for_domestic_abuse=True))

    assert decision.explain().startswith("not referred: service_type: service_type_is_direct_pay not met;")


# ---------------------------------------------------------------------------- the registry


def policy(version: str, effective_from: datetime) -> EligibilityPolicy:
    """A policy with a different effective date (and a police-only criterion, to tell it apart)."""
    return EligibilityPolicy(
        version=version,
        effective_from=effective_from,
        services=frozenset({ServiceType.COLLECT_AND_PAY}),
        criteria=(
            Criterion(
                code=POLICE,
                description="police only",
                all_of=(Condition("police_involved_for_domestic_abuse", fact="police_involved_for_domestic_abuse"),),
            ),
        ),
    )


V2_FROM = datetime(2026, 4, 1, tzinfo=UTC)
V2 = policy("v2", V2_FROM)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param(POLICY_V1.effective_from - timedelta(days=1), "v1", id="before_v1_the_first_policy_applies"),
        pytest.param(POLICY_V1.effective_from, "v1", id="v1_on_its_effective_date"),
        pytest.param(V2_FROM - timedelta(microseconds=1), "v1", id="v1_until_the_moment_v2_takes_effect"),
        pytest.param(V2_FROM, "v2", id="v2_from_its_effective_date"),
        pytest.param(V2_FROM + timedelta(days=365), "v2", id="v2_afterwards"),
    ],
)
def test_the_policy_in_force_is_picked_by_effective_date(at: datetime, expected: str) -> None:
    # Given out of order on purpose: the registry orders by effective date, not by position.
    registry = PolicyRegistry([V2, POLICY_V1])

    assert registry.in_force(at).version == expected


def test_the_registry_refuses_two_policies_with_the_same_version() -> None:
    with pytest.raises(ValueError, match="duplicate policy versions"):
        PolicyRegistry([POLICY_V1, policy("v1", V2_FROM)])


def test_the_registry_refuses_to_be_empty() -> None:
    with pytest.raises(ValueError, match="at least one policy"):
        PolicyRegistry([])


def test_the_registry_finds_a_policy_by_version_and_refuses_an_unknown_one() -> None:
    registry = PolicyRegistry([POLICY_V1, V2])

    assert registry.get("v2") is V2
    assert registry.get("v1") is POLICY_V1
    with pytest.raises(KeyError):
        registry.get("v0")


def test_the_default_registry_holds_policy_v1_from_its_effective_date() -> None:
    assert DEFAULT_POLICIES.get("v1") is POLICY_V1
    assert DEFAULT_POLICIES.in_force(POLICY_V1.effective_from) is POLICY_V1
