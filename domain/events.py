"""What every event of the journey carries, whichever aggregate it belongs to.

The actor (id and role), the business time beside the recorded time (the library's
``timestamp``), and the ids of the command that caused it: filled from ``ActionContext.event_fields``.
An aggregate that makes its commands idempotent keeps, per command id, what the command appended
and who sent it (``CommandOutcome``): its events are ``IdempotentEvent``s, each noting its command
as it is applied, so a retry finds itself in the aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
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


class IdempotentEvent(JourneyEvent):
    """An event of an aggregate with a ``commands`` dict (case, roster): applying it notes its command."""

    def mutate(self, aggregate: Any) -> Any:
        mutated = super().mutate(aggregate)
        assert mutated is not None
        seen = mutated.commands.get(self.command_id)
        first = seen.first_version if seen else self.originator_version
        mutated.commands[self.command_id] = CommandOutcome(
            self.command_digest, first, self.originator_version, self.actor_id, self.actor_role
        )
        return mutated
