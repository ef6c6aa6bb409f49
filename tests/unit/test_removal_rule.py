"""Leaving the Specialist Case Team: "if there is any doubt about a customer's safety, the case must remain".

``doubts_about_safety`` lists every reason for doubt; removal is safe only when the list is empty.
"""

from __future__ import annotations

import dataclasses

import pytest

from domain.rules.removal import Doubt, RemovalFacts, doubts_about_safety

VICTIM_SURVIVOR = "party-fay"
OTHER_PARENT = "party-gus"

ALL_CLEAR = RemovalFacts(
    unresolved_concern_ids=(),
    open_escalation_ids=(),
    open_pathways={},
    concerns_since_request=(),
    police_involvement_live=False,
    latest_assessment=(False, False),
    advised_by_party_id=VICTIM_SURVIVOR,
    victim_survivor_party_ids=frozenset({VICTIM_SURVIVOR}),
    reviewer_doubt=False,
    reviewer_note="",
)


def clear_but(**changes: object) -> RemovalFacts:
    return dataclasses.replace(ALL_CLEAR, **changes)  # type: ignore[arg-type]


# One change to otherwise clear facts -> the one doubt it must raise (and no other).
ONE_DOUBT_EACH: dict[Doubt, RemovalFacts] = {
    Doubt.UNRESOLVED_CONCERN: clear_but(unresolved_concern_ids=("concern-1",)),
    Doubt.OPEN_ESCALATION: clear_but(open_escalation_ids=("escalation-1",)),
    Doubt.OPEN_EXPEDITED_PATHWAY: clear_but(open_pathways={"pathway-1": "homelessness_risk"}),
    Doubt.CONCERN_AFTER_REQUEST: clear_but(concerns_since_request=("concern-2",)),
    Doubt.POLICE_INVOLVEMENT_LIVE: clear_but(police_involvement_live=True),
    Doubt.SIGNIFICANT_THREAT_ASSESSED: clear_but(latest_assessment=(False, True)),
    Doubt.ASSESSED_CONCERNS_UNRESOLVED: clear_but(latest_assessment=(True, False)),
    Doubt.NO_RISK_ASSESSMENT: clear_but(latest_assessment=None),
    Doubt.REVIEWER_DOUBT: clear_but(reviewer_doubt=True, reviewer_note="she sounded frightened"),
    Doubt.REVIEWER_JUDGEMENT_MISSING: clear_but(reviewer_doubt=None),
    Doubt.ADVICE_NOT_FROM_VICTIM_SURVIVOR: clear_but(advised_by_party_id=OTHER_PARENT),
}


def codes(facts: RemovalFacts) -> list[Doubt]:
    return [d.code for d in doubts_about_safety(facts)]


def test_removal_is_safe_only_when_every_fact_is_clear() -> None:
    assert doubts_about_safety(ALL_CLEAR) == []


def test_the_table_has_one_row_for_every_kind_of_doubt() -> None:
    assert set(ONE_DOUBT_EACH) == set(Doubt)


@pytest.mark.parametrize(("doubt", "facts"), [pytest.param(d, f, id=str(d)) for d, f in ONE_DOUBT_EACH.items()])
def test_each_doubt_alone_keeps_the_case_in_the_team(doubt: Doubt, facts: RemovalFacts) -> None:
    found = doubts_about_safety(facts)

    assert [d.code for d in found] == [doubt]
    assert found[0].explanation.strip()
    assert found[0].as_record() == {"code": str(doubt), "explanation": found[0].explanation}


def test_an_unrecorded_reviewer_judgement_never_counts_as_safe() -> None:
    assert codes(clear_but(reviewer_doubt=None)) == [Doubt.REVIEWER_JUDGEMENT_MISSING]
    assert Doubt.REVIEWER_DOUBT not in codes(clear_but(reviewer_doubt=None))


def test_a_reviewer_who_records_no_doubt_raises_none() -> None:
    assert Doubt.REVIEWER_DOUBT not in codes(clear_but(reviewer_doubt=False, reviewer_note="no concerns"))


def test_advice_from_a_party_with_no_domestic_abuse_concern_recorded_is_doubt() -> None:
    assert codes(clear_but(victim_survivor_party_ids=frozenset())) == [Doubt.ADVICE_NOT_FROM_VICTIM_SURVIVOR]


def test_several_doubts_are_all_listed_in_the_rules_order() -> None:
    facts = clear_but(
        unresolved_concern_ids=("concern-1", "concern-3"),
        open_escalation_ids=("escalation-1",),
        open_pathways={"pathway-1": "safeguarding"},
        police_involvement_live=True,
        reviewer_doubt=None,
    )

    assert codes(facts) == [
        Doubt.UNRESOLVED_CONCERN,
        Doubt.OPEN_ESCALATION,
        Doubt.OPEN_EXPEDITED_PATHWAY,
        Doubt.POLICE_INVOLVEMENT_LIVE,
        Doubt.REVIEWER_JUDGEMENT_MISSING,
    ]


def test_every_doubt_at_once_is_every_doubt_but_the_contradictory_reviewer_pair() -> None:
    facts = clear_but(
        unresolved_concern_ids=("concern-1",),
        open_escalation_ids=("escalation-1",),
        open_pathways={"pathway-1": "safeguarding"},
        concerns_since_request=("concern-2",),
        police_involvement_live=True,
        latest_assessment=(True, True),
        advised_by_party_id=OTHER_PARENT,
        reviewer_doubt=True,
    )

    assert set(codes(facts)) == set(Doubt) - {Doubt.REVIEWER_JUDGEMENT_MISSING, Doubt.NO_RISK_ASSESSMENT}


def test_explanations_name_what_is_still_open() -> None:
    found = {
        d.code: d.explanation
        for d in doubts_about_safety(
            clear_but(
                unresolved_concern_ids=("concern-1", "concern-3"),
                open_escalation_ids=("escalation-9",),
                open_pathways={"pathway-1": "homelessness_risk"},
                concerns_since_request=("concern-7",),
                advised_by_party_id=OTHER_PARENT,
                reviewer_doubt=True,
                reviewer_note="she sounded frightened",
            )
        )
    }

    assert "concern-1" in found[Doubt.UNRESOLVED_CONCERN] and "concern-3" in found[Doubt.UNRESOLVED_CONCERN]
    assert "escalation-9" in found[Doubt.OPEN_ESCALATION]
    assert "pathway-1 (homelessness_risk)" in found[Doubt.OPEN_EXPEDITED_PATHWAY]
    assert "concern-7" in found[Doubt.CONCERN_AFTER_REQUEST]
    assert OTHER_PARENT in found[Doubt.ADVICE_NOT_FROM_VICTIM_SURVIVOR]
    assert found[Doubt.REVIEWER_DOUBT].endswith(": she sounded frightened")
