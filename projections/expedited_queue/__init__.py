"""Which expedited pathways are open, and which is due first?

One row per open pathway, keyed by (case, pathway); readers order by ``due_at``. A pathway leaves
the queue when it is closed, or when its case is closed (a closed case accepts no further action,
so it cannot be worked; the safeguarding history keeps the pathway's record). A missed target
stays in the queue, marked, with the escalation it raised.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from domain.case.aggregate import Case

NAME = "expedited_queue"
LOGIC_VERSION = 1

TOPICS: frozenset[str] = frozenset(
    Case.EVENT_CLASSES[name].TOPIC
    for name in (
        "ExpeditedPathwayOpened",
        "ExpeditedPathwayClosed",
        "ExpeditedDeadlineMissed",
        "EscalationRaised",
        "EscalationResolved",
        "CaseClosed",
    )
)


@dataclass(frozen=True, slots=True)
class QueueEntry:
    case_id: str
    pathway_id: str
    pathway_reason: str
    opened_at: datetime
    due_at: datetime
    opened_by: str
    deadline_missed: bool = False
    missed_recorded_at: datetime | None = None
    escalation_id: str | None = None
    escalation_open: bool = False

    def as_row(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "pathway_id": self.pathway_id,
            "pathway_reason": self.pathway_reason,
            "opened_at": self.opened_at,
            "due_at": self.due_at,
            "opened_by": self.opened_by,
            "deadline_missed": self.deadline_missed,
            "missed_recorded_at": self.missed_recorded_at,
            "escalation_id": self.escalation_id,
            "escalation_open": self.escalation_open,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> QueueEntry:
        return cls(**row)


#: A change to the queue: upsert these entries, delete these (case id, pathway id) keys.
Change = tuple[list[QueueEntry], list[tuple[str, str]]]


def change_for(open_entries: dict[str, QueueEntry], event: Case.Event) -> Change:
    """What ``event`` does to the queue, given the case's entries now in it (by pathway id)."""
    case_id = str(event.originator_id)
    match event:
        case Case.ExpeditedPathwayOpened():
            entry = QueueEntry(
                case_id, str(event.pathway_id), event.pathway_reason, event.occurred_at, event.due_at, event.actor_id
            )
            return [entry], []
        case Case.ExpeditedPathwayClosed():
            return [], [(case_id, str(event.pathway_id))]
        case Case.ExpeditedDeadlineMissed():
            current = open_entries.get(str(event.pathway_id))
            if current is None:
                return [], []
            return [replace(current, deadline_missed=True, missed_recorded_at=event.timestamp)], []
        case Case.EscalationRaised() if event.pathway_id is not None:
            current = open_entries.get(str(event.pathway_id))
            if current is None:
                return [], []
            return [replace(current, escalation_id=str(event.escalation_id), escalation_open=True)], []
        case Case.EscalationResolved():
            hits = [q for q in open_entries.values() if q.escalation_id == str(event.escalation_id)]
            return [replace(q, escalation_open=False) for q in hits], []
        case Case.CaseClosed():
            return [], [(case_id, pid) for pid in open_entries]
    return [], []
