"""The Case aggregate's rules on removal: approved only when no doubt remains about safety, refused naming every doubt.

Told as given (events) / when (a command) / then (events or a refusal), with cases built by
``tests/builders.py`` at explicit times; nothing here touches a database or the wall clock. A
refused command must append nothing and leave the state as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from domain.case.aggregate import Case
from domain.rules.removal import Doubt
from domain.values import (
    ConcernKind,
    PathwayReason,
    Team,
)
from tests import builders as given
from tests.builders import (
    ACSSL,
    PAYING_PARENT,
    RECEIVING_PARENT,
    RETURNING_CASEWORKER_ID,
    SPECIALIST,
    SPECIALIST_CASEWORKER_ID,
    Story,
    last_event,
    refusal,
)


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
