"""The Case aggregate's rules on replay: the aggregate rebuilt from its events is the aggregate that recorded them.

Told as given (events) / when (a command) / then (events or a refusal), with cases built by
``tests/builders.py`` at explicit times; nothing here touches a database or the wall clock. A
refused command must append nothing and leave the state as it was.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest
from eventsourcing.application import Application

from domain.case.aggregate import Case
from domain.errors import RuleViolation
from domain.rules.eligibility import POLICY_V1, Condition, Criterion, EligibilityPolicy
from domain.values import (
    ConcernKind,
    ServiceType,
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
    T0,
    Story,
    closed_specialist_case,
    last_event,
    replay,
    state_of,
)


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
