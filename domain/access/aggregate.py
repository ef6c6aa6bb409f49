"""Who read what of a case, and the break-glass alerts someone must review: as events.

Reading is an act with consequences here: a protected person's address in the wrong hands can cost
a life. So every read of a safeguarding history and of a person's contact details is recorded
(who, in which role, on which legitimate relationship, when, why), and a read by break-glass (no
relationship, a reason given) raises an alert that an ACS senior leader or an auditor reviews
(``domain/rules/need_to_know.py`` decides who may read; this module records that they did).

- ``CaseReads``: one stream per case, every read in order. Its topics keep their first name
  (``SafeguardingReads``): stored events are read back whatever the class is called now.
- ``BreakGlassAlerts``: one stream for the whole service, so the open alerts are one read away.
  An alert is reviewed once, by someone other than the person who broke the glass, with a note.

These events live in the access log, a store of their own beside the case log (the projections
follow the case log; reads must not move them), and are never edited or deleted. A read is
appended without loading the stream it joins (``CaseReads.history_read`` and the other factories
build the event at the next version; the store's version key orders concurrent readers): a case
read ten thousand times records its next read as fast as its first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar, cast
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.errors import RuleViolation
from domain.rules.permissions import check_permitted
from domain.text import is_blank
from domain.values import Actor

TOPIC_PREFIX = "casejourney.access:"
ACCESS_LOG_NAMESPACE = UUID("0b8f5d6e-8a43-4c41-9a0e-5f0c2a7d1e44")
ALERTS_ID = uuid5(ACCESS_LOG_NAMESPACE, "break-glass-alerts")


def reads_id(case_id: UUID) -> UUID:
    return uuid5(ACCESS_LOG_NAMESPACE, str(case_id))


E = TypeVar("E")


def _event(cls: type[E], **fields: Any) -> E:
    """An event built directly (its class is a dataclass the library makes, which mypy cannot see)."""
    made: E = cast(Any, cls)(**fields)
    return made


class CaseReads(Aggregate):
    """Every recorded read of one case's safeguarding history and of its parties' contact details."""

    TOPIC = TOPIC_PREFIX + "SafeguardingReads"

    class Created(Aggregate.Created):
        TOPIC = TOPIC_PREFIX + "SafeguardingReads.Created"
        case_id: UUID

    class HistoryRead(Aggregate.Event):
        """Version 2 adds ``basis``: the relationship the read was allowed on (``Relationship``).
        Version 1 reads were allowed by role alone; they read back with ``basis`` ``"role"``."""

        TOPIC = TOPIC_PREFIX + "SafeguardingReads.HistoryRead"
        TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("purpose",)  #: sealed: the case's and the month's keys
        class_version = 2
        case_id: UUID
        actor_id: str
        actor_role: str
        purpose: str
        as_of: datetime | None
        request_id: str
        basis: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["basis"] = "role"

        def apply(self, log: CaseReads) -> None:
            log.count += 1

    class ContactDetailsRead(Aggregate.Event):
        TOPIC = TOPIC_PREFIX + "SafeguardingReads.ContactDetailsRead"
        case_id: UUID
        party_id: str
        standing: str
        actor_id: str
        actor_role: str
        basis: str
        request_id: str

        def apply(self, log: CaseReads) -> None:
            log.count += 1

    @staticmethod
    def create_id(case_id: UUID) -> UUID:
        return reads_id(case_id)

    def __init__(self, case_id: UUID) -> None:
        self.case_id = case_id
        self.count = 0

    # Events at a given version, appended without loading the stream (see the module's docstring).

    @staticmethod
    def started(case_id: UUID, at: datetime) -> CaseReads.Created:
        return _event(
            CaseReads.Created,
            originator_id=reads_id(case_id),
            originator_version=1,
            timestamp=at,
            originator_topic=get_topic(CaseReads),
            case_id=case_id,
        )

    @staticmethod
    def history_read(
        case_id: UUID,
        version: int,
        actor: Actor,
        *,
        basis: str,
        purpose: str,
        as_of: datetime | None,
        at: datetime,
        request_id: str,
    ) -> CaseReads.HistoryRead:
        return _event(
            CaseReads.HistoryRead,
            originator_id=reads_id(case_id),
            originator_version=version,
            timestamp=at,
            case_id=case_id,
            actor_id=actor.id,
            actor_role=str(actor.role),
            purpose=purpose,
            as_of=as_of,
            request_id=request_id,
            basis=basis,
        )

    @staticmethod
    def contact_details_read(
        case_id: UUID,
        version: int,
        actor: Actor,
        *,
        party_id: str,
        standing: str,
        basis: str,
        at: datetime,
        request_id: str,
    ) -> CaseReads.ContactDetailsRead:
        return _event(
            CaseReads.ContactDetailsRead,
            originator_id=reads_id(case_id),
            originator_version=version,
            timestamp=at,
            case_id=case_id,
            party_id=party_id,
            standing=standing,
            actor_id=actor.id,
            actor_role=str(actor.role),
            basis=basis,
            request_id=request_id,
        )


class ReviewOutcome(StrEnum):
    JUSTIFIED = "justified"
    NOT_JUSTIFIED = "not_justified"


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    case_id: str
    actor_id: str
    actor_role: str
    reason: str
    read: str
    raised_at: datetime
    reviewed_by: str | None = None
    outcome: str | None = None
    note: str = ""
    reviewed_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "case_id": self.case_id,
            "actor": {"id": self.actor_id, "role": self.actor_role},
            "reason": self.reason,
            "read": self.read,
            "raised_at": self.raised_at.isoformat(),
            "review": None
            if self.reviewed_by is None
            else {
                "by": self.reviewed_by,
                "outcome": self.outcome,
                "note": self.note,
                "at": self.reviewed_at.isoformat() if self.reviewed_at else None,
            },
        }


class BreakGlassAlerts(Aggregate):
    """Every break-glass read raised as an alert, and its review."""

    TOPIC = TOPIC_PREFIX + "BreakGlassAlerts"

    class Created(Aggregate.Created):
        TOPIC = TOPIC_PREFIX + "BreakGlassAlerts.Created"

    class Raised(Aggregate.Event):
        TOPIC = TOPIC_PREFIX + "BreakGlassAlerts.Raised"
        TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("reason",)
        alert_id: UUID
        case_id: UUID
        actor_id: str
        actor_role: str
        reason: str
        read: str  # what was read: "safeguarding_history" or "contact_details"
        request_id: str

        def apply(self, alerts: BreakGlassAlerts) -> None:
            alerts.alerts[str(self.alert_id)] = Alert(
                str(self.alert_id),
                str(self.case_id),
                self.actor_id,
                self.actor_role,
                self.reason,
                self.read,
                self.timestamp,
            )

    class Reviewed(Aggregate.Event):
        TOPIC = TOPIC_PREFIX + "BreakGlassAlerts.Reviewed"
        TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("note",)
        alert_id: UUID
        reviewer_id: str
        reviewer_role: str
        outcome: str
        note: str

        def apply(self, alerts: BreakGlassAlerts) -> None:
            raised = alerts.alerts[str(self.alert_id)]
            alerts.alerts[str(self.alert_id)] = Alert(
                raised.alert_id,
                raised.case_id,
                raised.actor_id,
                raised.actor_role,
                raised.reason,
                raised.read,
                raised.raised_at,
                reviewed_by=self.reviewer_id,
                outcome=self.outcome,
                note=self.note,
                reviewed_at=self.timestamp,
            )

    @staticmethod
    def create_id() -> UUID:
        return ALERTS_ID

    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}

    @staticmethod
    def started(at: datetime) -> BreakGlassAlerts.Created:
        return _event(
            BreakGlassAlerts.Created,
            originator_id=ALERTS_ID,
            originator_version=1,
            timestamp=at,
            originator_topic=get_topic(BreakGlassAlerts),
        )

    @staticmethod
    def raised(
        version: int,
        actor: Actor,
        *,
        alert_id: UUID,
        case_id: UUID,
        reason: str,
        read: str,
        at: datetime,
        request_id: str,
    ) -> BreakGlassAlerts.Raised:
        """A break-glass read raised as an alert (appended at ``version`` without loading the stream)."""
        return _event(
            BreakGlassAlerts.Raised,
            originator_id=ALERTS_ID,
            originator_version=version,
            timestamp=at,
            alert_id=alert_id,
            case_id=case_id,
            actor_id=actor.id,
            actor_role=str(actor.role),
            reason=reason,
            read=read,
            request_id=request_id,
        )

    def review(self, reviewer: Actor, *, alert_id: UUID, outcome: ReviewOutcome, note: str, at: datetime) -> None:
        """An ACS senior leader or an auditor reviews a break-glass read, once, and never their own."""
        check_permitted("review_break_glass", reviewer.role)
        alert = self.alerts.get(str(alert_id))
        if alert is None:
            raise RuleViolation(f"No break-glass alert {alert_id}.", code="unknown_alert")
        if alert.reviewed_by is not None:
            raise RuleViolation(
                f"Alert {alert_id} was already reviewed by {alert.reviewed_by} ({alert.outcome}).",
                code="alert_already_reviewed",
            )
        if alert.actor_id == reviewer.id:
            raise RuleViolation(
                "Nobody reviews their own break-glass access: another ACS senior leader or an auditor does.",
                code="own_alert",
            )
        if is_blank(note):
            raise RuleViolation("A review of a break-glass access needs a note.", code="reason_required")
        self.trigger_event(
            BreakGlassAlerts.Reviewed,
            timestamp=at,
            alert_id=alert_id,
            reviewer_id=reviewer.id,
            reviewer_role=str(reviewer.role),
            outcome=str(outcome),
            note=note,
        )

    def open_alerts(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.reviewed_by is None]
