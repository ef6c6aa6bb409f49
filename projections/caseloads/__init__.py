"""How many open cases does each team, named caseworker and enforcement manager hold?

Two pure pieces: ``evolve`` follows one case's membership (team, named caseworker, enforcement
manager; ``None`` once the case is closed), and ``delta`` turns a change of membership into +1/-1
on the counts. A closed case leaves every caseload. A case with no named caseworker yet counts
under ``UNASSIGNED`` so that no open case is invisible.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from domain.case.aggregate import Case
from domain.values import Team

NAME = "caseloads"
LOGIC_VERSION = 1

UNASSIGNED = "(unassigned)"
TEAM, CASEWORKER, ENFORCEMENT_MANAGER = "team", "caseworker", "enforcement_manager"

TOPICS: frozenset[str] = frozenset(
    Case.EVENT_CLASSES[name].TOPIC
    for name in (
        "ApplicationReceived",
        "CaseworkerAssigned",
        "AcceptedBySpecialistTeam",
        "RemovalApproved",
        "EnforcementStarted",
        "EnforcementManagerHandedOver",
        "EnforcementEnded",
        "CaseClosed",
    )
)


@dataclass(frozen=True, slots=True)
class Membership:
    case_id: str
    team: str
    caseworker_id: str
    enforcement_manager_id: str | None
    closed: bool = False

    def as_row(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "team": self.team,
            "caseworker_id": self.caseworker_id,
            "enforcement_manager_id": self.enforcement_manager_id,
            "closed": self.closed,
        }

    def keys(self) -> list[tuple[str, str]]:
        """The caseloads this case counts in (none once closed)."""
        if self.closed:
            return []
        keys = [(TEAM, self.team), (CASEWORKER, self.caseworker_id)]
        if self.enforcement_manager_id:
            keys.append((ENFORCEMENT_MANAGER, self.enforcement_manager_id))
        return keys


def evolve(current: Membership | None, event: Case.Event) -> Membership | None:
    """The membership after ``event`` (``None`` for events that are not about membership)."""
    match event:
        case Case.ApplicationReceived():
            return Membership(str(event.originator_id), str(Team.MAINSTREAM), UNASSIGNED, None)
        case _ if current is None:
            raise ValueError(f"case {event.originator_id}: {type(event).__name__} before its application")
        case Case.CaseworkerAssigned():
            return replace(current, caseworker_id=event.caseworker_id)
        case Case.AcceptedBySpecialistTeam():
            return replace(current, team=str(Team.SPECIALIST_CASE_TEAM), caseworker_id=event.specialist_caseworker_id)
        case Case.RemovalApproved():
            return replace(current, team=str(Team.MAINSTREAM), caseworker_id=event.returned_to_caseworker_id)
        case Case.EnforcementStarted():
            return replace(current, enforcement_manager_id=event.enforcement_manager_id)
        case Case.EnforcementManagerHandedOver():
            return replace(current, enforcement_manager_id=event.to_manager_id)
        case Case.EnforcementEnded():
            return replace(current, enforcement_manager_id=None)
        case Case.CaseClosed():
            return replace(current, closed=True)
    return current


def delta(before: Membership | None, after: Membership | None) -> Counter[tuple[str, str]]:
    """+1 for each caseload the case joins, -1 for each it leaves."""
    change: Counter[tuple[str, str]] = Counter()
    for key in after.keys() if after else []:
        change[key] += 1
    for key in before.keys() if before else []:
        change[key] -= 1
    return change
