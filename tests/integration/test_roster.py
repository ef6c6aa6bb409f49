"""The staff roster through the application, on both stores: commands, freshness, history before it.

Given a roster, when a command names a person, then the rule reads the roster as it stands in the
store (never a copy another process could have made stale); a roster command is idempotent like a
case's; and a case recorded before the roster existed replays exactly as it was recorded (guard,
decide, record: replay never asks today's roster).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from domain.case.commands import AssignCaseworker, RecordConcern
from domain.errors import IdempotencyKeyReused, NotATeamMember, NotPermitted, RuleViolation
from domain.staff.commands import JoinTeam, LeaveTeam
from domain.values import Actor, Role, StaffTeam, Team
from infrastructure.access.roster import roster_changes, roster_rows
from infrastructure.eventstore.application import CaseJourney
from infrastructure.readmodels.models import ReadModels
from infrastructure.readmodels.registry import PROJECTIONS
from infrastructure.readmodels.team_assignment import team_assignment_of
from tests import builders
from tests.builders import CASEWORKER, seal
from tests.conftest import FakeClock

FIXTURE = Path(__file__).parents[1] / "fixtures" / "stored_events_before_roster.json"
LEADER = builders.TEAM_LEADER
OTHER_LEADER = Actor("tl-ian", Role.TEAM_LEADER)


def open_case(app: CaseJourney) -> UUID:
    return builders.open_case(app, receiving_parent_id="pwc-r", paying_parent_id="nrp-r")


def test_a_leaver_cannot_be_named_from_the_moment_she_leaves_even_by_another_process(
    make_app: Callable[..., CaseJourney],
) -> None:
    first, second = make_app(), make_app()
    case_id = open_case(first)
    second.memberships()  # the second process has read the roster once already

    first.manage_roster(
        LeaveTeam(staff_id="cw-bob", team=StaffTeam.MAINSTREAM, reason="Moved to another office."), LEADER
    )

    with pytest.raises(NotATeamMember) as refused:
        second.execute(AssignCaseworker(case_id=case_id, caseworker_id="cw-bob"), LEADER)
    assert refused.value.code == "not_a_current_member"
    assert len(second.case_events(case_id)) == 1  # nothing appended
    first.manage_roster(JoinTeam(staff_id="cw-bob", team=StaffTeam.MAINSTREAM, reason="Back from secondment."), LEADER)
    assert second.execute(AssignCaseworker(case_id=case_id, caseworker_id="cw-bob"), LEADER).version == 2


def test_a_roster_command_is_idempotent_and_its_id_is_the_senders_alone(app: CaseJourney) -> None:
    join = JoinTeam(staff_id="scw-new", team=StaffTeam.SPECIALIST_CASE_TEAM, reason="Joined the team.")

    first = app.manage_roster(join, LEADER)
    again = app.manage_roster(join, LEADER)

    assert not first.replayed and again.replayed and again.version == first.version
    assert [a.type for a in again.appended] == ["MemberJoined"]
    with pytest.raises(IdempotencyKeyReused, match="another actor"):
        app.manage_roster(join, OTHER_LEADER)
    rows = [r for r in roster_rows(app, StaffTeam.SPECIALIST_CASE_TEAM) if r["staff_id"] == "scw-new"]
    assert [(r["added_by"], r["reason"]) for r in rows] == [(LEADER.id, "Joined the team.")]
    assert roster_changes(app, "scw-new")[-1]["change"] == "joined"


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.TEAM_LEADER])
def test_only_a_team_leader_changes_the_roster(app: CaseJourney, role: Role) -> None:
    before = app.roster_events()
    with pytest.raises(NotPermitted):
        app.manage_roster(JoinTeam(staff_id="cw-x", team=StaffTeam.MAINSTREAM, reason="r"), Actor("someone", role))
    assert app.roster_events() == before


def test_nobody_changes_their_own_membership(app: CaseJourney) -> None:
    with pytest.raises(RuleViolation) as refused:
        app.manage_roster(JoinTeam(staff_id=LEADER.id, team=StaffTeam.AUDIT, reason="I audit too."), LEADER)
    assert refused.value.code == "own_membership"


def test_a_case_recorded_before_the_roster_replays_exactly_as_it_was(app: CaseJourney, models: ReadModels) -> None:
    """Its people are on no roster, a caseworker named themself, another manager ended enforcement:
    all allowed then, all read back unchanged now; the v1 handover and end read with no override."""
    fixture = json.loads(FIXTURE.read_text())
    app.recorder.insert_events(
        [
            StoredEvent(
                UUID(e["originator_id"]),
                e["originator_version"],
                e["topic"],
                seal(app, json.dumps(e["state"]).encode()),
            )
            for e in fixture["events"]
        ]
    )
    case_id = UUID(fixture["events"][0]["originator_id"])

    events = app.case_events(case_id)
    case = app.get_case(case_id)

    assert [type(e).__name__ for e in events][-2:] == ["EnforcementManagerHandedOver", "EnforcementEnded"]
    assert [e.override_reason for e in events[-2:]] == ["", ""]  # type: ignore[attr-defined]
    assert (case.team, case.named_caseworker_id, case.enforcement_manager_id) == (
        Team.SPECIALIST_CASE_TEAM,
        "scw-nobody-listed",
        None,
    )
    assert events[1].actor_id == events[1].caseworker_id == "cw-before-roster"  # type: ignore[attr-defined]
    models.rebuild(list(PROJECTIONS), fresh=True)
    with models.engine.connect() as conn:
        row = team_assignment_of(conn, str(case_id))
    assert row is not None and row["named_caseworker_id"] == "scw-nobody-listed"


def test_a_command_id_used_by_one_actor_is_refused_to_another_and_returns_nothing_of_the_first(
    app: CaseJourney,
) -> None:
    case_id = open_case(app)
    command = RecordConcern(
        case_id=case_id,
        kind="coercive_control",
        source="customer_disclosure",
        affected_party_id="pwc-r",
        command_id=uuid4(),
    )
    app.execute(command, CASEWORKER)

    with pytest.raises(IdempotencyKeyReused, match="another actor"):
        app.execute(command, Actor("cw-bob", Role.CASEWORKER))
    assert app.execute(command, CASEWORKER).replayed  # the sender's own retry still returns the first result


def test_an_absurd_business_time_is_refused_and_a_late_retry_still_finds_its_first_result(
    app: CaseJourney, clock: FakeClock
) -> None:
    case_id = open_case(app)
    absurd = RecordConcern(
        case_id=case_id,
        kind="coercive_control",
        source="customer_disclosure",
        affected_party_id="pwc-r",
        occurred_at=datetime.fromisoformat("0001-01-01T00:00:00+14:00"),
    )
    with pytest.raises(RuleViolation) as refused:
        app.execute(absurd, CASEWORKER)
    assert refused.value.code == "occurred_at_too_early"
    assert len(app.case_events(case_id)) == 1

    accepted = absurd.model_copy(update={"occurred_at": clock.now, "command_id": uuid4()})
    first = app.execute(accepted, CASEWORKER)
    clock.advance(days=400)  # past the backdating bound: a new command would be refused, a retry is not
    again = app.execute(accepted, CASEWORKER)
    assert again.replayed and again.version == first.version
    with pytest.raises(RuleViolation) as late:
        app.execute(accepted.model_copy(update={"command_id": uuid4()}), CASEWORKER)
    assert late.value.code == "occurred_at_backdated_too_far"
    assert clock.now - timedelta(days=400) == accepted.occurred_at
