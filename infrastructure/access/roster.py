"""The staff roster from the outside: seeding it (demo, tests, benchmarks) and reading it.

The rules read the roster through ``CaseJourney.memberships``; people read it here, through the
roster's projection (``projections/staff_roster``), folded from its one stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID, uuid5

from domain.errors import RuleViolation
from domain.staff.commands import JoinTeam
from domain.values import Actor, Role, StaffTeam
from infrastructure.eventstore.application import CaseJourney
from projections import staff_roster

#: Command ids of a seeded membership come from this namespace, the team and the person: seeding
#: the same roster twice replays the first commands and appends nothing.
SEED_NAMESPACE = UUID("9e2f4c61-7a3b-4d58-b1e0-6c8d2a4f7b13")

#: Who seeds the roster when nobody else is named (the demo's, and the tests', team leader).
SEEDING_TEAM_LEADER = Actor("tl-hana", Role.TEAM_LEADER)


def seed_roster(
    app: CaseJourney,
    members: Mapping[StaffTeam, Iterable[str]],
    *,
    by: Actor = SEEDING_TEAM_LEADER,
    reason: str = "Seeded roster.",
) -> int:
    """Makes each person a member of their team(s); returns how many joins were appended now."""
    appended = 0
    now = app.memberships()
    for team, staff_ids in members.items():
        for staff_id in staff_ids:
            if now.is_member(staff_id, team):
                continue
            command = JoinTeam(
                staff_id=staff_id,
                team=team,
                reason=reason,
                command_id=uuid5(SEED_NAMESPACE, f"{team}\n{staff_id}"),
            )
            try:
                appended += 0 if app.manage_roster(command, by).replayed else 1
            except RuleViolation as refusal:
                if refusal.code != "already_a_member":  # joined by some other command: nothing to seed
                    raise
    return appended


def roster_rows(app: CaseJourney, team: StaffTeam | None = None) -> list[dict[str, Any]]:
    """Current memberships (optionally of one team), as rows."""
    rows = [m.as_row() for m in staff_roster.current(app.roster_events())]
    return [r for r in rows if team is None or r["team"] == str(team)]


def roster_changes(app: CaseJourney, staff_id: str | None = None) -> list[dict[str, Any]]:
    """Every join and leave (optionally of one person), in order."""
    rows = [c.as_row() for c in staff_roster.changes(app.roster_events())]
    return [r for r in rows if staff_id is None or r["staff_id"] == staff_id]
