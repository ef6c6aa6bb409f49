"""What every event of the journey carries, whichever aggregate it belongs to.

The actor (id and role), the business time beside the recorded time (the library's
``timestamp``), and the ids of the command that caused it: filled from ``ActionContext.event_fields``.
"""

from __future__ import annotations

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
