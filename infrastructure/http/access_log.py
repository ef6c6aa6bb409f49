"""Reads of a safeguarding history, recorded before the history is returned.

Stored as events, like everything else that matters here: one ``SafeguardingReads`` stream per
case (``HistoryRead`` = who, in which role, when, for what stated purpose, with which ``as_of``).
Why events rather than a table: they are append-only by construction (the library never updates or
deletes a stored event), they share the store's durability and configuration, and an auditor reads
them the way they read a case. Why a separate application: the access log must not enter the case
log, whose notifications the projections follow; on PostgreSQL it is the table
``accesslog_events`` in the case store's schema, on SQLite a file beside the case store (the
SQLite recorder names every application's table ``stored_events``).

A read is recorded first and the history returned after; if the record cannot be written the
caller gets a 503 and no history, so there is never a read without its trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.values import Actor
from infrastructure.settings import Settings

TOPIC_PREFIX = "casejourney.access:"
ACCESS_LOG_NAMESPACE = UUID("0b8f5d6e-8a43-4c41-9a0e-5f0c2a7d1e44")
MAX_ATTEMPTS = 10


class SafeguardingReads(Aggregate):
    """Every read of one case's safeguarding history, in order."""

    TOPIC = TOPIC_PREFIX + "SafeguardingReads"

    class Created(Aggregate.Created):
        TOPIC = TOPIC_PREFIX + "SafeguardingReads.Created"
        case_id: UUID

    class HistoryRead(Aggregate.Event):
        TOPIC = TOPIC_PREFIX + "SafeguardingReads.HistoryRead"
        case_id: UUID
        actor_id: str
        actor_role: str
        purpose: str
        as_of: datetime | None
        request_id: str

        def apply(self, log: SafeguardingReads) -> None:
            log.count += 1

    @staticmethod
    def create_id(case_id: UUID) -> UUID:
        return log_id(case_id)

    def __init__(self, case_id: UUID) -> None:
        self.case_id = case_id
        self.count = 0

    def record(self, actor: Actor, *, purpose: str, as_of: datetime | None, at: datetime, request_id: str) -> None:
        self.trigger_event(
            SafeguardingReads.HistoryRead,
            timestamp=at,
            case_id=self.case_id,
            actor_id=actor.id,
            actor_role=str(actor.role),
            purpose=purpose,
            as_of=as_of,
            request_id=request_id,
        )


@dataclass(frozen=True, slots=True)
class Read:
    case_id: UUID
    sequence: int
    at: datetime
    actor_id: str
    actor_role: str
    purpose: str
    as_of: datetime | None
    request_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": str(self.case_id),
            "sequence": self.sequence,
            "at": self.at.isoformat(),
            "actor": {"id": self.actor_id, "role": self.actor_role},
            "purpose": self.purpose,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "request_id": self.request_id,
        }


def log_id(case_id: UUID) -> UUID:
    return uuid5(ACCESS_LOG_NAMESPACE, str(case_id))


def access_log_env(settings: Settings) -> dict[str, str]:
    env = settings.eventsourcing_env()
    if settings.store == "sqlite":
        path = settings.sqlite_path
        env["SQLITE_DBNAME"] = str(path.with_name(f"{path.stem}-access-log{path.suffix or '.sqlite'}"))
    return env


class AccessLog(Application[UUID]):
    """The access log application: ``record`` before returning a history, ``reads`` for auditors."""

    name = "accesslog"

    def __init__(self, settings: Settings) -> None:
        super().__init__(env=access_log_env(settings))

    def record(
        self, case_id: UUID, actor: Actor, *, purpose: str, as_of: datetime | None, at: datetime, request_id: str
    ) -> int:
        """Appends one read; concurrent readers of one case meet at the version key and retry."""
        for _ in range(MAX_ATTEMPTS):
            try:
                log: SafeguardingReads = self.repository.get(log_id(case_id))
            except AggregateNotFoundError:
                log = SafeguardingReads(case_id)
            log.record(actor, purpose=purpose, as_of=as_of, at=at, request_id=request_id)
            try:
                self.save(log)
            except IntegrityError:
                continue
            return log.count
        raise IntegrityError(f"could not record the read of case {case_id}: too many concurrent readers")

    def reads(self, case_id: UUID) -> list[Read]:
        out: list[Read] = []
        for event in self.events.get(log_id(case_id)):
            if isinstance(event, SafeguardingReads.HistoryRead):
                out.append(
                    Read(
                        case_id=event.case_id,
                        sequence=len(out) + 1,
                        at=event.timestamp,
                        actor_id=event.actor_id,
                        actor_role=event.actor_role,
                        purpose=event.purpose,
                        as_of=event.as_of,
                        request_id=event.request_id,
                    )
                )
        return out
