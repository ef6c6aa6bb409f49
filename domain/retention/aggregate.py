"""Legal holds: a recorded hold (who, why, until when) on a person or a case stops retention erasing it.

One ``LegalHolds`` stream per subject (``person:<party id>`` or ``case:<case id>``), so the holds of
one subject are read in one query. A hold is placed with a reason and, if it has one, an end
(``until``); it stands until that time or until it is lifted, and lifting it is recorded too (who,
why). Nothing is ever deleted: an auditor reads every hold there ever was.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import RuleViolation
from domain.events import JourneyEvent
from domain.rules.permissions import check_permitted
from domain.text import is_blank
from domain.values import ActionContext

TOPIC_PREFIX = "casejourney.retention:"
HOLDS_NAMESPACE = UUID("7c2e9a41-5b8d-4f03-9e6a-1d4b8c0f2a67")
SUBJECT_KINDS = ("person", "case")


def holds_id(kind: str, subject: str) -> UUID:
    """The stream of the holds of one subject."""
    return uuid5(HOLDS_NAMESPACE, f"{kind}:{subject}")


class LegalHolds(Aggregate):
    TOPIC = TOPIC_PREFIX + "LegalHolds"

    class Event(JourneyEvent):
        pass

    class Opened(Event, Aggregate.Created):
        TOPIC = TOPIC_PREFIX + "Opened"
        kind: str
        subject: str

        def apply(self, holds: LegalHolds) -> None:
            holds.kind, holds.subject = self.kind, self.subject

    Created = Opened

    class HoldPlaced(Event):
        TOPIC = TOPIC_PREFIX + "HoldPlaced"
        hold_id: UUID
        reason: str
        until: datetime | None

        def apply(self, holds: LegalHolds) -> None:
            holds.standing[str(self.hold_id)] = {
                "reason": self.reason,
                "until": self.until,
                "placed_by": self.actor_id,
                "placed_at": self.occurred_at,
            }

    class HoldLifted(Event):
        TOPIC = TOPIC_PREFIX + "HoldLifted"
        hold_id: UUID
        reason: str

        def apply(self, holds: LegalHolds) -> None:
            del holds.standing[str(self.hold_id)]

    def __init__(self) -> None:
        self.kind = ""
        self.subject = ""
        self.standing: dict[str, dict[str, Any]] = {}

    @classmethod
    def open(cls, ctx: ActionContext, *, kind: str, subject: str) -> LegalHolds:
        check_permitted("place_legal_hold", ctx.actor.role)
        if kind not in SUBJECT_KINDS:
            raise RuleViolation(f"A hold is on a person or a case, not a {kind!r}.", code="invalid_hold_subject")
        return cls._create(
            cls.Opened, id=holds_id(kind, subject), **ctx.event_fields(), command_digest="", kind=kind, subject=subject
        )

    def place(self, ctx: ActionContext, *, hold_id: UUID, reason: str, until: datetime | None, digest: str) -> None:
        check_permitted("place_legal_hold", ctx.actor.role)
        if is_blank(reason):
            raise RuleViolation("A legal hold needs a reason (the complaint, the legal case).", code="reason_required")
        if until is not None and until <= ctx.occurred_at:
            raise RuleViolation("A hold's end must lie after the moment it is placed.", code="invalid_hold_end")
        if str(hold_id) in self.standing:
            return  # the same hold, placed again: nothing new to record
        self.trigger_event(
            self.HoldPlaced, **ctx.event_fields(), command_digest=digest, hold_id=hold_id, reason=reason, until=until
        )

    def lift(self, ctx: ActionContext, *, hold_id: UUID, reason: str, digest: str) -> None:
        check_permitted("lift_legal_hold", ctx.actor.role)
        if is_blank(reason):
            raise RuleViolation("Lifting a legal hold needs a reason.", code="reason_required")
        if str(hold_id) not in self.standing:
            raise RuleViolation(f"No hold {hold_id} stands on {self.kind} {self.subject}.", code="no_such_hold")
        self.trigger_event(self.HoldLifted, **ctx.event_fields(), command_digest=digest, hold_id=hold_id, reason=reason)

    def standing_at(self, now: datetime) -> dict[str, dict[str, Any]]:
        """The holds standing at ``now``: not lifted, and not past their end."""
        return {k: v for k, v in self.standing.items() if v["until"] is None or v["until"] > now}


ERASURES_NAMESPACE = UUID("3b9f1e27-8c4d-4a6b-b5e0-92d7c6a1f483")
TEXT_SUBJECT_KINDS = ("case", "reads")


def erasures_id(kind: str, subject: str) -> UUID:
    """The stream of the text erasures of one subject: a case's free text, or a month's read records."""
    return uuid5(ERASURES_NAMESPACE, f"{kind}:{subject}")


class TextErasures(Aggregate):
    """Each destruction of the text keys of a case (its free text) or of a month (its read records):
    who, why, which keys. Recorded before the keys are destroyed, so a run stopped in between is
    completed by the next; the keys named say exactly what went."""

    TOPIC = TOPIC_PREFIX + "TextErasures"

    class Event(JourneyEvent):
        pass

    class Opened(Event, Aggregate.Created):
        TOPIC = TOPIC_PREFIX + "TextErasures.Opened"
        kind: str
        subject: str

        def apply(self, erasures: TextErasures) -> None:
            erasures.kind, erasures.subject = self.kind, self.subject

    Created = Opened

    class TextErased(Event):
        TOPIC = TOPIC_PREFIX + "TextErased"
        reason: str
        keys: list[str]

        def apply(self, erasures: TextErasures) -> None:
            erasures.erased_keys.update(self.keys)

    def __init__(self) -> None:
        self.kind = ""
        self.subject = ""
        self.erased_keys: set[str] = set()

    @classmethod
    def open(cls, ctx: ActionContext, *, kind: str, subject: str) -> TextErasures:
        check_permitted("erase_text", ctx.actor.role)
        if kind not in TEXT_SUBJECT_KINDS:
            raise RuleViolation(
                f"Text is erased for a case or a month of reads, not a {kind!r}.", code="invalid_subject"
            )
        return cls._create(
            cls.Opened,
            id=erasures_id(kind, subject),
            **ctx.event_fields(),
            command_digest="",
            kind=kind,
            subject=subject,
        )

    def erase(self, ctx: ActionContext, *, reason: str, keys: list[str], digest: str) -> bool:
        """Records the erasure of ``keys``; ``False`` (nothing recorded) when each was recorded before."""
        check_permitted("erase_text", ctx.actor.role)
        if is_blank(reason):
            raise RuleViolation("An erasure needs a reason.", code="reason_required")
        new = [k for k in keys if k not in self.erased_keys]
        if not new:
            return False
        self.trigger_event(self.TextErased, **ctx.event_fields(), command_digest=digest, reason=reason, keys=new)
        return True
