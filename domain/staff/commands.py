"""Commands of the staff roster: a team leader records who joins and who leaves which team."""

from __future__ import annotations

from typing import ClassVar

from domain.case.commands import Command, Id, Reason
from domain.values import StaffTeam


class JoinTeam(Command):
    """A person becomes a current member of a team (the reason is recorded)."""

    action: ClassVar[str] = "join_team"
    staff_id: Id
    team: StaffTeam
    reason: Reason


class LeaveTeam(Command):
    """A person stops being a member of a team: from now on no rule treats them as one."""

    action: ClassVar[str] = "leave_team"
    staff_id: Id
    team: StaffTeam
    reason: Reason


ROSTER_COMMANDS: tuple[type[Command], ...] = (JoinTeam, LeaveTeam)
