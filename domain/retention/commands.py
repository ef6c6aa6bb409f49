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


class EraseText(Command):
    """Destroys the text keys of a case (its free text) or of a month of read records; recorded first."""

    action: ClassVar[str] = "erase_text"
    kind: Literal["case", "reads"]
    subject: Id
    reason: Reason
