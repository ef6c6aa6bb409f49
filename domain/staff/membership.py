"""Who is a current member of which team: the question every rule that names a person asks.

``Membership`` (in ``domain/values.py``, carried by every ``ActionContext``) is what the domain
needs of the staff roster, and nothing more: the application answers it from the roster as it
stands when the command is decided (``StaffRoster``, in this package). Guard, decide, record: the
answer is used by the public method that checks the rules and never by an event's ``apply``, so a
replay never asks today's roster about yesterday's events.
"""

from __future__ import annotations

from domain.errors import NotATeamMember
from domain.values import Membership, StaffTeam

TEAM_NAMES: dict[StaffTeam, str] = {
    StaffTeam.MAINSTREAM: "mainstream caseworking",
    StaffTeam.SPECIALIST_CASE_TEAM: "the Specialist Case Team",
    StaffTeam.ENFORCEMENT: "enforcement",
    StaffTeam.ACS_SENIOR_LEADERS: "the ACS senior leaders",
    StaffTeam.AUDIT: "audit",
}


def require_member(membership: Membership, staff_id: str, team: StaffTeam, *, as_what: str) -> None:
    """Raises ``NotATeamMember`` unless ``staff_id`` is a current member of ``team``."""
    if not membership.is_member(staff_id, team):
        raise NotATeamMember(
            f"{staff_id} is not a current member of {TEAM_NAMES[team]} on the staff roster, so cannot be {as_what}.",
            staff_id=staff_id,
            team=str(team),
        )
