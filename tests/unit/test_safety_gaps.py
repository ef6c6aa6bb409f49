"""Issue 11's findings, one by one, in the domain: given these events, when this command, then this.

Each refusal appends nothing and leaves the case as it was (``refusal``), with a stable code and a
sentence. The HTTP side of the same findings is ``tests/e2e/test_http_need_to_know.py``.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from pydantic import ValidationError

from domain.case.aggregate import COLLECT_AND_PAY_ON_ACCEPTANCE, Case
from domain.case.commands import AssessSafetyRisk, RecordConcern
from domain.errors import NotATeamMember, NotPermitted, RuleViolation
from domain.rules.business_time import BusinessTimeBounds, check_business_time
from domain.rules.eligibility import POLICY_V1
from domain.staff.aggregate import StaffRoster
from domain.text import is_blank, meaningful, neutralise, text_problem
from domain.values import (
    Actor,
    ConcernKind,
    ConcernSource,
    EnforcementStep,
    Memberships,
    Role,
    ServiceType,
    SignpostTarget,
    StaffTeam,
    Team,
)
from projections.describe import why
from tests import builders as given
from tests.builders import (
    CASEWORKER,
    ENFORCEMENT_MANAGER,
    PAYING_PARENT,
    RECEIVING_PARENT,
    ROSTER,
    SECOND_ENFORCEMENT_MANAGER_ID,
    SPECIALIST,
    T0,
    TEAM_LEADER,
    Story,
    context,
    refusal,
)

#: A mainstream caseworker with no relationship to the specialist case of these stories.
OUTSIDER = Actor("cw-kim", Role.CASEWORKER)
ZERO_WIDTH_SPACE = "\u200b"


def without(staff_id: str) -> Memberships:
    """The stories' roster with one person gone from every team."""
    return Memberships({k: v for k, v in ROSTER.teams_of.items() if k != staff_id})


# ============================================================================ 3. naming oneself


def test_3_a_caseworker_cannot_name_themself_the_named_caseworker() -> None:
    story = given.application()

    refused = refusal(
        story,
        lambda: story.case.assign_caseworker(story.ctx(CASEWORKER), caseworker_id=CASEWORKER.id, reason=""),
        "self_assignment",
    )

    assert "never taken" in refused.message
    assert story.case.named_caseworker_id is None


def test_3_a_team_leader_allocates_and_a_caseworker_hands_over_to_a_colleague() -> None:
    story = given.application()
    story.case.assign_caseworker(story.ctx(TEAM_LEADER), caseworker_id=CASEWORKER.id, reason="")
    story.case.assign_caseworker(story.ctx(CASEWORKER), caseworker_id="cw-kim", reason="Ada on leave.")

    first, second = story.new_events()
    assert (first.actor_id, first.caseworker_id) == (TEAM_LEADER.id, CASEWORKER.id)  # type: ignore[attr-defined]
    assert (second.actor_id, second.caseworker_id) == (CASEWORKER.id, "cw-kim")  # type: ignore[attr-defined]


def test_3_and_roster_a_named_caseworker_must_be_a_current_member_of_mainstream_caseworking() -> None:
    story = given.application()

    refused = refusal(
        story,
        lambda: story.case.assign_caseworker(story.ctx(TEAM_LEADER), caseworker_id="cw-left-last-year", reason=""),
        "not_a_current_member",
    )

    assert isinstance(refused, NotATeamMember)
    assert refused.details == {"staff_id": "cw-left-last-year", "team": "mainstream_caseworking"}


def test_roster_with_no_roster_at_all_every_rule_that_names_a_person_refuses() -> None:
    story = given.application()

    refusal(
        story,
        lambda: story.case.assign_caseworker(
            context(TEAM_LEADER, story.now, membership=Memberships()), caseworker_id=CASEWORKER.id, reason=""
        ),
        "not_a_current_member",
    )


# ============================================================================ 4. blank text


@pytest.mark.parametrize(
    "blank", ["", "   ", "\t\t", ZERO_WIDTH_SPACE, f" {ZERO_WIDTH_SPACE}\u2060 ", "\u3000", "\u00a0\u00a0"]
)
def test_4_whitespace_and_invisible_characters_say_nothing(blank: str) -> None:
    assert is_blank(blank) and not meaningful(blank)
    with pytest.raises(
        ValidationError, match=r"must say something|at least 1 character|invisible or control character"
    ):
        AssessSafetyRisk(case_id=uuid4(), concerns_unresolved=True, significant_threat=True, reason=blank)


@pytest.mark.parametrize(
    "text", ["\x1b[2Jall clear", "Police\x00 NOT called", "police \u202edellac ton", "line\roverwritten"]
)
def test_4_and_11_control_and_reordering_characters_are_refused_in_free_text(text: str) -> None:
    assert text_problem(text) is not None
    with pytest.raises(ValidationError, match="invisible or control character"):
        RecordConcern(
            case_id=uuid4(),
            kind="coercive_control",
            source="customer_disclosure",
            affected_party_id=RECEIVING_PARENT,
            note=text,
        )


def test_11_text_written_before_the_checks_is_shown_with_every_such_character_escaped() -> None:
    assert neutralise("\x1b[31mall clear\x00 \u202eX") == "\\x1b[31mall clear\\x00 \\u202eX"
    kept = "two\nlines\tand Welsh: Ŵ, Arabic: \u0645\u200f"  # newlines, tabs and real writing stay as they are
    assert neutralise(kept) == kept
    assert meaningful("Sgwrs gyda hi: dim risg") and meaningful("abc") and not meaningful("ab")


# ============================================================================ 5. lowering a protection


def _police_case() -> Story:
    story = given.specialist_case()
    story.record_concern(ConcernKind.THREATENED_VIOLENCE, police_involved=True)
    story.new_events()
    return story


LOWERING: dict[str, object] = {
    "resolve_concern": lambda s, c: s.case.resolve_concern(c, concern_id=s.concern_id, reason="sounds fine"),
    "end_police_involvement": lambda s, c: s.case.end_police_involvement(c, reason="police said so"),
    "assess_safety_risk": lambda s, c: s.case.assess_safety_risk(
        c, concerns_unresolved=False, significant_threat=False, reason="low risk"
    ),
    "record_entry_in_error": lambda s, c: s.case.record_entry_in_error(
        c, corrected_version=2, correction="the referral was a mistake"
    ),
    "signposting_that_resolves": lambda s, c: s.case.give_signposting(
        c, target=SignpostTarget.AFFORDABILITY_HUB, resolved_concern=True, concern_id=s.concern_id
    ),
    "close_case": lambda s, c: s.case.close(c, reason="closed by mainstream"),
    "assign_caseworker": lambda s, c: s.case.assign_caseworker(c, caseworker_id="scw-ivy", reason="rebalancing"),
}


@pytest.mark.parametrize("action", list(LOWERING))
def test_5_an_unrelated_mainstream_caseworker_cannot_lower_a_specialist_cases_protection(action: str) -> None:
    story = _police_case()
    do = LOWERING[action]

    refused = refusal(story, lambda: do(story, story.ctx(OUTSIDER)), "specialist_team_only")  # type: ignore[operator]

    assert isinstance(refused, NotPermitted)
    assert story.case.team is Team.SPECIALIST_CASE_TEAM


@pytest.mark.parametrize("action", list(LOWERING))
def test_5_nor_can_a_specialist_caseworker_who_has_left_the_team(action: str) -> None:
    story = _police_case()
    do = LOWERING[action]
    gone = without(SPECIALIST.id)

    refusal(story, lambda: do(story, story.ctx(SPECIALIST, membership=gone)), "not_a_current_member")  # type: ignore[operator]


@pytest.mark.parametrize("action", list(LOWERING))
def test_5_the_team_itself_may(action: str) -> None:
    story = _police_case()
    do = LOWERING[action]

    do(story, story.ctx(SPECIALIST))  # type: ignore[operator]

    assert story.new_events()


def test_5_anyone_in_contact_still_raises_protection_on_a_specialist_case() -> None:
    story = _police_case()

    story.record_concern(ConcernKind.ECONOMIC_ABUSE, by=OUTSIDER)
    story.case.give_signposting(
        story.ctx(OUTSIDER), target=SignpostTarget.DOMESTIC_ABUSE_SUPPORT_SERVICE, resolved_concern=False
    )

    assert [type(e).__name__ for e in story.new_events()] == ["ConcernRecorded", "SignpostingGiven"]


# ============================================================================ 6. who can be the specialist


def test_6_a_specialist_case_cannot_be_given_a_mainstream_caseworker() -> None:
    story = given.specialist_case()

    refused = refusal(
        story,
        lambda: story.case.assign_caseworker(story.ctx(given.REVIEWER), caseworker_id=CASEWORKER.id, reason="x"),
        "not_a_current_member",
    )

    assert refused.details["team"] == "specialist_case_team"  # type: ignore[union-attr]


def test_6_a_referral_cannot_be_accepted_naming_a_mainstream_caseworker_as_the_specialist() -> None:
    story = given.mainstream_case()
    story.record_concern(ConcernKind.THREATENED_VIOLENCE, police_involved=True)
    story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1)
    story.new_events()

    refusal(
        story,
        lambda: story.case.accept_referral(story.ctx(SPECIALIST), specialist_caseworker_id=CASEWORKER.id),
        "not_a_current_member",
    )
    assert story.case.referral_pending and story.case.team is Team.MAINSTREAM


def test_6_nor_accepted_by_someone_no_longer_on_the_team() -> None:
    story = given.mainstream_case()
    story.record_concern(ConcernKind.THREATENED_VIOLENCE, police_involved=True)
    story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1)
    story.new_events()

    refusal(
        story,
        lambda: story.case.accept_referral(
            story.ctx(SPECIALIST, membership=without(SPECIALIST.id)), specialist_caseworker_id=given.REVIEWER.id
        ),
        "not_a_current_member",
    )


# ============================================================================ 7. enforcement belongs to its manager


def _in_enforcement() -> Story:
    story = given.specialist_case()
    story.start_enforcement()
    story.new_events()
    return story


def test_7_another_enforcement_manager_cannot_end_it() -> None:
    story = _in_enforcement()
    other = Actor(SECOND_ENFORCEMENT_MANAGER_ID, Role.ENFORCEMENT_MANAGER)

    refused = refusal(
        story, lambda: story.case.end_enforcement(story.ctx(other), reason="tidy"), "not_the_enforcement_manager"
    )

    assert ENFORCEMENT_MANAGER.id in refused.message
    assert story.case.enforcement_manager_id == ENFORCEMENT_MANAGER.id


def test_7_another_enforcement_manager_cannot_hand_it_to_herself() -> None:
    story = _in_enforcement()
    other = Actor(SECOND_ENFORCEMENT_MANAGER_ID, Role.ENFORCEMENT_MANAGER)

    refusal(
        story,
        lambda: story.case.hand_over_enforcement(story.ctx(other), to_manager_id=other.id, reason="mine now"),
        "not_the_enforcement_manager",
    )


def test_7_the_manager_cannot_hand_it_to_herself_or_to_someone_off_the_enforcement_team() -> None:
    story = _in_enforcement()
    refusal(
        story,
        lambda: story.case.hand_over_enforcement(story.ctx(ENFORCEMENT_MANAGER), to_manager_id="cw-kim", reason="x"),
        "not_a_current_member",
    )


def test_7_a_team_leader_overrides_only_with_a_reason_and_the_reason_is_recorded() -> None:
    story = _in_enforcement()
    refusal(
        story,
        lambda: story.case.hand_over_enforcement(
            story.ctx(TEAM_LEADER), to_manager_id=SECOND_ENFORCEMENT_MANAGER_ID, reason="sick leave"
        ),
        "override_reason_required",
    )

    story.case.hand_over_enforcement(
        story.ctx(TEAM_LEADER),
        to_manager_id=SECOND_ENFORCEMENT_MANAGER_ID,
        reason="sick leave",
        override_reason="em-cal is off for three months; arrears action cannot wait.",
    )

    [handover] = story.new_events()
    assert isinstance(handover, Case.EnforcementManagerHandedOver)
    assert handover.override_reason.startswith("em-cal is off")
    # Every history and timeline says it was an override, by whom, and why.
    assert why(handover) == "sick leave; an override by tl-hana, not the manager: " + handover.override_reason
    assert story.case.enforcement_manager_id == SECOND_ENFORCEMENT_MANAGER_ID


def test_7_the_manager_ends_her_own_enforcement_with_no_override_recorded() -> None:
    story = _in_enforcement()

    story.case.end_enforcement(story.ctx(ENFORCEMENT_MANAGER), reason="arrears paid", override_reason="ignored")

    [ended] = story.new_events()
    assert isinstance(ended, Case.EnforcementEnded) and ended.override_reason == ""


def test_7_nobody_names_themself_the_enforcement_manager() -> None:
    story = given.mainstream_case()
    refusal(
        story,
        lambda: story.case.start_enforcement(
            story.ctx(ENFORCEMENT_MANAGER),
            enforcement_manager_id=ENFORCEMENT_MANAGER.id,
            step=EnforcementStep.ARREARS_NOTICE,
            reason="arrears",
        ),
        "self_assignment",
    )


# ============================================================================ 8. Direct Pay and the team


def test_8_a_direct_pay_case_accepted_into_the_team_moves_to_collect_and_pay_in_the_same_step() -> None:
    story = given.mainstream_case(service_type=ServiceType.DIRECT_PAY)
    story.record_concern(ConcernKind.THREATENED_VIOLENCE, police_involved=True)
    referred = story.case.decide_referral(
        story.ctx(CASEWORKER), policy=POLICY_V1, discretionary=True, reason="police called; Direct Pay"
    )
    assert referred
    story.new_events()

    story.case.accept_referral(story.ctx(SPECIALIST), specialist_caseworker_id=SPECIALIST.id)

    moved, accepted = story.new_events()
    assert isinstance(moved, Case.ServiceTypeChanged) and isinstance(accepted, Case.AcceptedBySpecialistTeam)
    assert (moved.from_service_type, moved.to_service_type) == ("direct_pay", "collect_and_pay")
    assert moved.reason == COLLECT_AND_PAY_ON_ACCEPTANCE and "2023" in moved.reason
    assert moved.command_id == accepted.command_id  # one command, one step
    assert story.case.service_type is ServiceType.COLLECT_AND_PAY


def test_8_and_a_specialist_case_still_never_moves_to_direct_pay() -> None:
    story = given.specialist_case()
    refusal(
        story,
        lambda: story.case.change_service_type(story.ctx(SPECIALIST), to=ServiceType.DIRECT_PAY, reason="asked"),
        "direct_pay_unsafe",
    )


# ============================================================================ 9. a closed case and a disclosure


def test_9_a_closed_case_records_a_new_safeguarding_disclosure_and_its_signposting() -> None:
    story = given.closed_specialist_case()

    concern = story.record_concern(ConcernKind.THREATENED_VIOLENCE, by=CASEWORKER)
    story.case.give_signposting(
        story.ctx(CASEWORKER),
        target=SignpostTarget.DOMESTIC_ABUSE_SUPPORT_SERVICE,
        resolved_concern=False,
        concern_id=concern,
    )

    recorded, signposted = story.new_events()
    assert isinstance(recorded, Case.ConcernRecorded) and recorded.affected_party_id == RECEIVING_PARENT
    assert isinstance(signposted, Case.SignpostingGiven)
    assert story.case.closed and str(concern) in story.case.unresolved_concern_ids()


@pytest.mark.parametrize(
    ("what", "do"),
    [
        ("referral", lambda s, c: s.case.decide_referral(c, policy=POLICY_V1)),
        (
            "enforcement",
            lambda s, c: s.case.start_enforcement(
                c, enforcement_manager_id=ENFORCEMENT_MANAGER.id, step=EnforcementStep.ARREARS_NOTICE, reason="x"
            ),
        ),
        (
            "removal",
            lambda s, c: s.case.request_removal(
                c, advised_by_party_id=RECEIVING_PARENT, victim_survivor_advises_no_ongoing_abuse=True
            ),
        ),
        ("team move", lambda s, c: s.case.assign_caseworker(c, caseworker_id="scw-ivy", reason="x")),
    ],
)
def test_9_and_still_refuses_referral_enforcement_removal_and_team_moves(what: str, do: object) -> None:
    story = given.closed_specialist_case()
    refusal(story, lambda: do(story, story.ctx(SPECIALIST)), "case_closed")  # type: ignore[operator]


# ============================================================================ 10. a stale judgement


def _assessed_then_resolved() -> Story:
    """Coercive control disclosed; assessed unresolved with a significant threat; then signposting
    resolves every concern. The assessment is now stale."""
    story = given.mainstream_case()
    story.concern_id = story.record_concern(ConcernKind.COERCIVE_CONTROL)
    story.assess(concerns_unresolved=True, significant_threat=True)
    story.case.give_signposting(
        story.ctx(CASEWORKER),
        target=SignpostTarget.DOMESTIC_ABUSE_SUPPORT_SERVICE,
        resolved_concern=True,
        concern_id=story.concern_id,
    )
    story.new_events()
    return story


def test_10_a_referral_on_a_stale_judgement_stands_and_names_it() -> None:
    story = _assessed_then_resolved()
    assessed = next(e for e in story.history if isinstance(e, Case.SafetyRiskAssessed)).originator_version
    resolved = story.history[-1].originator_version

    referred = story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1)

    [decision] = story.new_events()
    assert referred and isinstance(decision, Case.ReferredToSpecialistTeam)  # errs toward protection
    assert decision.criteria_met == ["three_part_test"]
    assert decision.facts["safety_concern_unresolved"] is True
    assert decision.facts["judgement_recorded_in_version"] == assessed
    assert decision.facts["concern_changes_since_judgement"] == [resolved]  # the record says it is stale


def test_10_a_decision_not_to_refer_is_never_taken_on_a_stale_judgement() -> None:
    story = given.mainstream_case()
    story.concern_id = story.record_concern(ConcernKind.FINANCIAL_CONTROL)
    story.assess(concerns_unresolved=False, significant_threat=False)
    story.record_concern(ConcernKind.THREATENED_VIOLENCE)  # disclosed after the judgement
    story.new_events()

    refused = refusal(
        story, lambda: story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1), "fresh_assessment_required"
    )
    assert "fresh assessment" in refused.message

    story.assess(concerns_unresolved=True, significant_threat=True)
    assert story.case.decide_referral(story.ctx(CASEWORKER), policy=POLICY_V1) is True


# ============================================================================ 11. business time


BOUNDS = BusinessTimeBounds()
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("occurred", "code"),
    [
        (datetime.fromisoformat("0001-01-01T00:00:00+14:00"), "occurred_at_too_early"),
        (datetime(1990, 1, 1, tzinfo=UTC), "occurred_at_too_early"),
        (NOW - timedelta(days=367), "occurred_at_backdated_too_far"),
        (NOW + timedelta(minutes=6), "occurred_at_in_future"),
        (datetime.fromisoformat("9999-12-31T23:59:59-14:00"), "occurred_at_in_future"),
    ],
)
def test_11_an_absurd_business_time_is_refused(occurred: datetime, code: str) -> None:
    with pytest.raises(RuleViolation) as refused:
        check_business_time(occurred, NOW, BOUNDS)
    assert refused.value.code == code and refused.value.message


@pytest.mark.parametrize("occurred", [NOW, NOW - timedelta(days=365), NOW + timedelta(minutes=4)])
def test_11_a_sane_business_time_is_accepted(occurred: datetime) -> None:
    check_business_time(occurred, NOW, BOUNDS)


def test_11_nothing_happens_on_a_case_before_it_was_opened() -> None:
    story = given.mainstream_case(at=T0)

    refusal(
        story,
        lambda: story.case.record_concern(
            context(CASEWORKER, T0 - timedelta(days=1), recorded_at=T0 + timedelta(hours=1)),
            kind=ConcernKind.COERCIVE_CONTROL,
            source=ConcernSource.CUSTOMER_DISCLOSURE,
            affected_party_id=PAYING_PARENT,
        ),
        "occurred_before_case_opened",
    )


# ============================================================================ the roster itself


def _roster() -> StaffRoster:
    roster = StaffRoster.open(context(TEAM_LEADER, T0))
    roster.join(context(TEAM_LEADER, T0), staff_id="scw-new", team=StaffTeam.SPECIALIST_CASE_TEAM, reason="joined")
    roster.history = roster.collect_events()  # type: ignore[attr-defined]
    return roster


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (
            lambda r: r.join(context(TEAM_LEADER, T0), staff_id=TEAM_LEADER.id, team=StaffTeam.AUDIT, reason="me"),
            "own_membership",
        ),
        (
            lambda r: r.join(
                context(TEAM_LEADER, T0), staff_id="scw-new", team=StaffTeam.SPECIALIST_CASE_TEAM, reason="again"
            ),
            "already_a_member",
        ),
        (
            lambda r: r.leave(context(TEAM_LEADER, T0), staff_id="scw-new", team=StaffTeam.AUDIT, reason="gone"),
            "not_a_member",
        ),
        (
            lambda r: r.join(
                context(TEAM_LEADER, T0), staff_id="cw-x", team=StaffTeam.MAINSTREAM, reason=ZERO_WIDTH_SPACE
            ),
            "reason_required",
        ),
    ],
)
def test_the_roster_refuses(call: object, code: str) -> None:
    roster = _roster()
    with pytest.raises(RuleViolation) as refused:
        call(roster)  # type: ignore[operator]
    assert refused.value.code == code
    assert roster.collect_events() == []
    assert roster.memberships().teams_of == {"scw-new": frozenset({StaffTeam.SPECIALIST_CASE_TEAM})}


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.TEAM_LEADER])
def test_only_a_team_leader_keeps_the_roster(role: Role) -> None:
    roster = _roster()
    with pytest.raises(NotPermitted):
        roster.join(context(given.ACTOR_FOR_ROLE[role], T0), staff_id="cw-x", team=StaffTeam.MAINSTREAM, reason="r")


def test_a_leaver_is_no_member_from_then_on_and_replay_gives_the_same_roster() -> None:
    roster = _roster()
    roster.leave(context(TEAM_LEADER, T0), staff_id="scw-new", team=StaffTeam.SPECIALIST_CASE_TEAM, reason="left")
    events = [*roster.history, *roster.collect_events()]  # type: ignore[attr-defined]

    assert not roster.memberships().is_member("scw-new", StaffTeam.SPECIALIST_CASE_TEAM)
    assert [type(e).__name__ for e in events] == ["Opened", "MemberJoined", "MemberLeft"]
    replayed = functools.reduce(lambda aggregate, event: event.mutate(aggregate), events, None)
    assert isinstance(replayed, StaffRoster) and replayed.memberships() == roster.memberships() == Memberships({})
