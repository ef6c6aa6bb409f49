"""Where does each case sit now? Team, named caseworker, enforcement manager and open safety flags.

One row per case. ``evolve`` is a pure fold: given the row as it was (or ``None`` before the case
existed) and the next event of that case, it returns the row as it is after the event. The same
fold serves the live projection, the rebuild and the auditor's replay.

"Since" times are business times (``occurred_at``: when it happened in the world); the row also
keeps the recorded time of the last event it reflects and that event's case version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from domain.case.aggregate import Case
from domain.values import Team

NAME = "team_assignment"
#: Bump when the event->row logic changes: the live table is then rebuilt from the log.
LOGIC_VERSION = 1


@dataclass(slots=True)
class Assignment:
    case_id: str
    team: str
    team_since: datetime
    named_caseworker_id: str | None = None
    caseworker_since: datetime | None = None
    enforcement_manager_id: str | None = None
    enforcement_since: datetime | None = None
    #: pathway id -> reason, for every open expedited pathway.
    open_pathways: dict[str, str] = field(default_factory=dict)
    expedited_since: datetime | None = None
    open_escalations: list[str] = field(default_factory=list)
    escalation_since: datetime | None = None
    acs_involved: bool = False
    acs_since: datetime | None = None
    removal_requested: bool = False
    removal_requested_since: datetime | None = None
    closed: bool = False
    closed_at: datetime | None = None
    case_version: int = 0
    recorded_at: datetime | None = None

    def copy(self) -> Assignment:
        twin = replace(self)
        twin.open_pathways = dict(self.open_pathways)
        twin.open_escalations = list(self.open_escalations)
        return twin

    @property
    def expedited_reasons(self) -> list[str]:
        return sorted(set(self.open_pathways.values()))

    def as_row(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "team": self.team,
            "team_since": self.team_since,
            "named_caseworker_id": self.named_caseworker_id,
            "caseworker_since": self.caseworker_since,
            "enforcement_manager_id": self.enforcement_manager_id,
            "enforcement_since": self.enforcement_since,
            "expedited_open": bool(self.open_pathways),
            "expedited_reasons": ",".join(self.expedited_reasons),
            "open_pathways": dict(self.open_pathways),
            "expedited_since": self.expedited_since,
            "escalation_open": bool(self.open_escalations),
            "open_escalations": list(self.open_escalations),
            "escalation_since": self.escalation_since,
            "acs_involved": self.acs_involved,
            "acs_since": self.acs_since,
            "removal_requested": self.removal_requested,
            "removal_requested_since": self.removal_requested_since,
            "closed": self.closed,
            "closed_at": self.closed_at,
            "case_version": self.case_version,
            "recorded_at": self.recorded_at,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Assignment:
        skip = {"expedited_open", "expedited_reasons", "escalation_open"}
        values = {k: v for k, v in row.items() if k not in skip}
        values["open_pathways"] = dict(values.get("open_pathways") or {})
        values["open_escalations"] = list(values.get("open_escalations") or [])
        return cls(**values)


def evolve(current: Assignment | None, event: Case.Event) -> Assignment:
    """The row after ``event``. Pure; never mutates ``current``."""
    return fold(current, [event])


def fold(current: Assignment | None, events: Sequence[Case.Event]) -> Assignment:
    """The row after ``events`` (of one case, in order). Pure: copies ``current`` once, then applies."""
    row = current.copy() if current is not None else None
    for event in events:
        row = _apply(row, event)
    if row is None:
        raise ValueError("fold needs at least one event")
    return row


def _apply(row: Assignment | None, event: Case.Event) -> Assignment:
    """Applies one event to a row this module owns (a copy), in place."""
    at: datetime = event.occurred_at
    if isinstance(event, Case.ApplicationReceived):
        row = Assignment(case_id=str(event.originator_id), team=str(Team.MAINSTREAM), team_since=at)
    elif row is None:
        raise ValueError(
            f"{type(event).__name__} (version {event.originator_version}) of case {event.originator_id}"
            " arrived before the case's ApplicationReceived"
        )
    row.case_version = event.originator_version
    row.recorded_at = event.timestamp
    match event:
        case Case.CaseworkerAssigned():
            row.named_caseworker_id, row.caseworker_since = event.caseworker_id, at
        case Case.AcceptedBySpecialistTeam():
            row.team, row.team_since = str(Team.SPECIALIST_CASE_TEAM), at
            if row.named_caseworker_id != event.specialist_caseworker_id:
                row.named_caseworker_id, row.caseworker_since = event.specialist_caseworker_id, at
        case Case.RemovalApproved():
            row.team, row.team_since = str(Team.MAINSTREAM), at
            row.removal_requested, row.removal_requested_since = False, None
            if row.named_caseworker_id != event.returned_to_caseworker_id:
                row.named_caseworker_id, row.caseworker_since = event.returned_to_caseworker_id, at
        case Case.RemovalRequested():
            row.removal_requested, row.removal_requested_since = True, at
        case Case.RemovalRefused():
            row.removal_requested, row.removal_requested_since = False, None
        case Case.EnforcementStarted():
            row.enforcement_manager_id, row.enforcement_since = event.enforcement_manager_id, at
        case Case.EnforcementManagerHandedOver():
            row.enforcement_manager_id, row.enforcement_since = event.to_manager_id, at
        case Case.EnforcementEnded():
            row.enforcement_manager_id, row.enforcement_since = None, None
        case Case.ExpeditedPathwayOpened():
            if not row.open_pathways:
                row.expedited_since = at
            row.open_pathways[str(event.pathway_id)] = event.pathway_reason
        case Case.ExpeditedPathwayClosed():
            row.open_pathways.pop(str(event.pathway_id), None)
            if not row.open_pathways:
                row.expedited_since = None
        case Case.EscalationRaised():
            if not row.open_escalations:
                row.escalation_since = at
            row.open_escalations.append(str(event.escalation_id))
        case Case.EscalationResolved():
            if str(event.escalation_id) in row.open_escalations:
                row.open_escalations.remove(str(event.escalation_id))
            if not row.open_escalations:
                row.escalation_since = None
        case Case.AcsInvolvementRecorded():
            if not row.acs_involved:
                row.acs_involved, row.acs_since = True, at
        case Case.CaseClosed():
            row.closed, row.closed_at = True, at
    return row
