"""The staff roster: who is a member of which team, as events.

One aggregate holds the whole roster (``ROSTER_ID``): staff changes are rare, every rule that names
a person reads the roster as it stands, and one stream is read in one query and followed cheaply
(the application keeps it and reads only the events since). A team leader records each change
with a reason; nobody changes their own membership (a relationship to a team, like one to a case,
is given, never taken). Commands are idempotent by command id, as on a case.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import require as _require
from domain.events import CommandOutcome, IdempotentEvent
from domain.rules.permissions import check_permitted
from domain.staff.membership import TEAM_NAMES
from domain.text import is_blank
from domain.values import ActionContext, Memberships, StaffTeam

TOPIC_PREFIX = "casejourney.staff:"
ROSTER_ID = uuid5(UUID("5d0c7e1a-9b3f-4a26-8e4d-2f6b1a7c9e30"), "staff-roster")


class StaffRoster(Aggregate):
    TOPIC = TOPIC_PREFIX + "StaffRoster"

    class Event(IdempotentEvent):
        """Base of every roster event: who, when, the command's ids; a retried command finds itself."""

    class Opened(Event, Aggregate.Created):
        TOPIC = TOPIC_PREFIX + "Opened"

    Created = Opened

    class MemberJoined(Event):
        TOPIC = TOPIC_PREFIX + "MemberJoined"
        staff_id: str
        team: str
        reason: str

        def apply(self, roster: StaffRoster) -> None:
            roster.teams_of.setdefault(self.staff_id, set()).add(StaffTeam(self.team))

    class MemberLeft(Event):
        TOPIC = TOPIC_PREFIX + "MemberLeft"
        staff_id: str
        team: str
        reason: str

        def apply(self, roster: StaffRoster) -> None:
            teams = roster.teams_of[self.staff_id]
            teams.discard(StaffTeam(self.team))
            if not teams:
                del roster.teams_of[self.staff_id]

    def __init__(self) -> None:
        self.teams_of: dict[str, set[StaffTeam]] = {}
        self.commands: dict[UUID, CommandOutcome] = {}

    @classmethod
    def open(cls, ctx: ActionContext, *, digest: str = "") -> StaffRoster:
        check_permitted("manage_roster", ctx.actor.role)
        return cls._create(cls.Opened, id=ROSTER_ID, **ctx.event_fields(), command_digest=digest)

    def memberships(self) -> Memberships:
        return Memberships({staff_id: frozenset(teams) for staff_id, teams in self.teams_of.items()})

    def _guard(self, ctx: ActionContext, staff_id: str, reason: str) -> None:
        check_permitted("manage_roster", ctx.actor.role)
        _require(
            staff_id != ctx.actor.id,
            "own_membership",
            "Nobody changes their own team membership: another team leader records it.",
        )
        _require(not is_blank(reason), "reason_required", "A change to the staff roster needs a reason.")

    def join(self, ctx: ActionContext, *, staff_id: str, team: StaffTeam, reason: str, digest: str = "") -> None:
        self._guard(ctx, staff_id, reason)
        _require(
            team not in self.teams_of.get(staff_id, ()),
            "already_a_member",
            f"{staff_id} is already a member of {TEAM_NAMES[team]}.",
        )
        self.trigger_event(
            self.MemberJoined,
            **ctx.event_fields(),
            command_digest=digest,
            staff_id=staff_id,
            team=str(team),
            reason=reason,
        )

    def leave(self, ctx: ActionContext, *, staff_id: str, team: StaffTeam, reason: str, digest: str = "") -> None:
        self._guard(ctx, staff_id, reason)
        _require(
            team in self.teams_of.get(staff_id, ()),
            "not_a_member",
            f"{staff_id} is not a member of {TEAM_NAMES[team]}.",
        )
        self.trigger_event(
            self.MemberLeft,
            **ctx.event_fields(),
            command_digest=digest,
            staff_id=staff_id,
            team=str(team),
            reason=reason,
        )
