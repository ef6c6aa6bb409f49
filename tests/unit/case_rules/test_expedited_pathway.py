"""The Case aggregate's rules on the expedited pathway: targets, missed targets and escalations.

Told as given (events) / when (a command) / then (events or a refusal), with cases built by
``tests/builders.py`` at explicit times; nothing here touches a database or the wall clock. A
refused command must append nothing and leave the state as it was.
"""

from __future__ import annotations

from datetime import timedelta

from domain.case.aggregate import Case
from domain.values import (
    PathwayReason,
    SignpostTarget,
)
from tests import builders as given
from tests.builders import (
    ACSSL,
    CASEWORKER,
    SERVICE,
    context,
    refusal,
)


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
