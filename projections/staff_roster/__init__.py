"""Who is on which team now, since when and on whose word; and every change, in order.

One row per current membership (staff id, team): ``evolve`` is a pure fold over the roster's events
(``StaffRoster``), so the answer can be rebuilt from the log at any time and comes out the same.
The roster is one short stream, read whole in one query, so this projection is folded on demand
(``infrastructure/access/roster.py``) rather than kept in a table: a membership check must never wait on a
projection's lag, and the rules read the aggregate itself (``CaseJourney.memberships``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.staff.aggregate import StaffRoster

NAME = "staff_roster"


@dataclass(frozen=True, slots=True)
class Membership:
    staff_id: str
    team: str
    since: datetime
    added_by: str
    reason: str

    def as_row(self) -> dict[str, Any]:
        return {
            "staff_id": self.staff_id,
            "team": self.team,
            "since": self.since.isoformat(),
            "added_by": self.added_by,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Change:
    version: int
    occurred_at: datetime
    recorded_at: datetime
    change: str  # "joined" or "left"
    staff_id: str
    team: str
    by: str
    reason: str

    def as_row(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "occurred_at": self.occurred_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "change": self.change,
            "staff_id": self.staff_id,
            "team": self.team,
            "by": self.by,
            "reason": self.reason,
        }


def evolve(members: dict[tuple[str, str], Membership], event: StaffRoster.Event) -> None:
    """Applies one roster event to the current memberships (keyed by staff id and team)."""
    if isinstance(event, StaffRoster.MemberJoined):
        members[(event.staff_id, event.team)] = Membership(
            event.staff_id, event.team, event.occurred_at, event.actor_id, event.reason
        )
    elif isinstance(event, StaffRoster.MemberLeft):
        members.pop((event.staff_id, event.team), None)


def current(events: Iterable[StaffRoster.Event]) -> list[Membership]:
    """The current memberships, by team then staff id."""
    members: dict[tuple[str, str], Membership] = {}
    for event in events:
        evolve(members, event)
    return sorted(members.values(), key=lambda m: (m.team, m.staff_id))


def changes(events: Iterable[StaffRoster.Event]) -> list[Change]:
    """Every join and leave, in the order recorded."""
    out: list[Change] = []
    for event in events:
        if isinstance(event, StaffRoster.MemberJoined | StaffRoster.MemberLeft):
            out.append(
                Change(
                    event.originator_version,
                    event.occurred_at,
                    event.timestamp,
                    "joined" if isinstance(event, StaffRoster.MemberJoined) else "left",
                    event.staff_id,
                    event.team,
                    event.actor_id,
                    event.reason,
                )
            )
    return out
