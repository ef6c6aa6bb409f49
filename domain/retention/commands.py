"""Commands about legal holds."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

from domain.case.commands import Command, Id, Reason


class PlaceLegalHold(Command):
    """A hold on a person or a case: retention does not erase it while the hold stands."""

    action: ClassVar[str] = "place_legal_hold"
    kind: Literal["person", "case"]
    subject: Id
    reason: Reason
    until: datetime | None = None


class LiftLegalHold(Command):
    """Lifts a standing hold; the reason is recorded."""

    action: ClassVar[str] = "lift_legal_hold"
    kind: Literal["person", "case"]
    subject: Id
    hold_id: UUID
    reason: Reason
