"""What every event of the journey carries, whichever aggregate it belongs to.

The actor (id and role), the business time beside the recorded time (the library's
``timestamp``), and the ids of the command that caused it: filled from ``ActionContext.event_fields``.
An aggregate that makes commands idempotent keeps, per command id, what the command appended
(``CommandOutcome``, noted by ``note_command`` as each event is applied), so a retry finds itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate


class JourneyEvent(Aggregate.Event):
    TOPIC: ClassVar[str]
    actor_id: str
    actor_role: str
    occurred_at: datetime
    command_id: UUID
    correlation_id: UUID
    causation_id: UUID | None
    command_digest: str


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What one command appended, and who sent it: returned again, unchanged, when it is retried."""

    digest: str
    first_version: int
    last_version: int
    actor_id: str
    actor_role: str


def note_command(commands: dict[UUID, CommandOutcome], event: JourneyEvent) -> None:
    seen = commands.get(event.command_id)
    first = seen.first_version if seen else event.originator_version
    commands[event.command_id] = CommandOutcome(
        event.command_digest, first, event.originator_version, event.actor_id, event.actor_role
    )
