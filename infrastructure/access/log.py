"""The access log: every read of a safeguarding history or of contact details, recorded before it is returned.

Stored as events, like everything else that matters here (``domain/access``): one ``CaseReads``
stream per case and one ``BreakGlassAlerts`` stream for the service. Why events rather than a
table: they are append-only by construction (the library never updates or deletes a stored
event), they share the store's durability and configuration, and an auditor reads them the way
they read a case. Why a separate application: the access log must not enter the case log, whose
notifications the projections follow; on PostgreSQL it is the table ``accesslog_events`` in the case
store's schema, on SQLite a file beside the case store (the SQLite recorder names every
application's table ``stored_events``).

A read is recorded first and what was read returned after; if the record cannot be written the
caller gets a 503 and nothing else, so there is never a read without its trace. A break-glass read
and its alert are saved in one transaction: never one without the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import Environment, EnvType

from domain.access.aggregate import ALERTS_ID, Alert, BreakGlassAlerts, CaseReads, ReviewOutcome, reads_id
from domain.values import Actor
from infrastructure.eventstore.case_text import TextKeys
from infrastructure.eventstore.environment import eventsourcing_env, library_env
from infrastructure.eventstore.group_append import GroupAppend
from infrastructure.eventstore.keys import KeyMaterial, StoreKeyError, check_store_keys, key_material
from infrastructure.eventstore.personal_data import PersonalDataMapper
from infrastructure.eventstore.schema import Mode, access_log_path
from infrastructure.eventstore.schema import check as check_schema
from infrastructure.eventstore.schema import stamp as stamp_schema
from infrastructure.files import create_private_file, sqlite_database_name
from infrastructure.settings import Settings

MAX_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class Read:
    case_id: UUID
    sequence: int
    at: datetime
    actor_id: str
    actor_role: str
    what: str  # "safeguarding_history" or "contact_details"
    basis: str
    purpose: str
    party_id: str | None
    as_of: datetime | None
    request_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": str(self.case_id),
            "sequence": self.sequence,
            "at": self.at.isoformat(),
            "actor": {"id": self.actor_id, "role": self.actor_role},
            "what": self.what,
            "basis": self.basis,
            "purpose": self.purpose,
            "party_id": self.party_id,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "request_id": self.request_id,
        }


@dataclass(frozen=True, slots=True)
class ContactRead:
    """One party's contact details about to be returned: who stands how, on which basis."""

    party_id: str
    standing: str
    basis: str


@dataclass(frozen=True, slots=True)
class BreakGlass:
    """The reason a reader gave to break the glass, and what they read with it."""

    reason: str
    read: str  # "safeguarding_history" or "contact_details"


def access_log_env(settings: Settings, keys: KeyMaterial | None = None) -> dict[str, str]:
    env = eventsourcing_env(settings, keys)
    if settings.store == "sqlite":
        log_path = access_log_path(settings)
        create_private_file(log_path)
        env["SQLITE_DBNAME"] = sqlite_database_name(log_path)
    return env


class AccessLog(Application[UUID]):
    """The access log application: record before returning; ``reads`` and ``alerts`` for reviewers."""

    name = "accesslog"

    def __init__(self, settings: Settings, *, text_keys: TextKeys | None = None, schema: Mode = "auto") -> None:
        """``text_keys``: the case store's (``CaseJourney.text_keys``); without them the case store is
        opened here for its keys. Purposes, break-glass reasons and review notes are sealed under the
        case's text key and the month's read key (``case_text.py``): retention and erasure destroy them."""
        keys = key_material(settings)
        self._journey: Any = None
        if text_keys is None:
            from infrastructure.eventstore.application import CaseJourney

            self._journey = CaseJourney(settings, schema=schema)
            text_keys = self._journey.text_keys
        self.text_keys = text_keys
        ddl = check_schema(settings, schema, "access")  # a current log is opened with no DDL
        super().__init__(env=access_log_env(settings, keys) | {"CREATE_TABLE": "y" if ddl else "n"})
        try:  # the access log and its keys must fit too: refused at open, naming the key
            check_store_keys(self.recorder, keys, what="the access log")
        except StoreKeyError:
            self.close()
            raise
        if ddl:
            stamp_schema(settings, "access")
        # The reads this process's threads record at once go in one transaction (one lock, one
        # flush), each at the heads the one before it left (``group_append``).
        self._group = GroupAppend(self.recorder.append_at_heads)  # type: ignore[attr-defined]

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        return library_env(self, name, env)

    def construct_mapper(self) -> PersonalDataMapper:
        base = super().construct_mapper()
        mapper = PersonalDataMapper(transcoder=base.transcoder, cipher=base.cipher, compressor=base.compressor)
        mapper.text = self.text_keys
        return mapper

    def close(self) -> None:
        super().close()
        if self._journey is not None:
            self._journey.close()
            self._journey = None

    def _append(
        self,
        case_id: UUID,
        reads: Callable[[int], list[Any]],
        *,
        break_glass: BreakGlass | None,
        actor: Actor,
        at: datetime,
        request_id: str,
    ) -> int:
        """Appends ``reads(first_version)`` to the case's reads (and the alert, if by break-glass) in one
        transaction, at the head of each stream, read under the store's lock on those streams
        (``append_at_heads``): readers of one case in several processes take turns, none is refused
        for another's race; with the reads other threads of this process record at the same moment
        (``GroupAppend``). Returns the last version of the case's reads."""
        stream = reads_id(case_id)
        streams = [stream] if break_glass is None else [stream, ALERTS_ID]

        def build(heads: Mapping[UUID, int]) -> list[StoredEvent]:
            head = heads[stream]
            events = ([] if head else [CaseReads.started(case_id, at)]) + reads(max(head, 1) + 1)
            if break_glass is not None:
                alerts_head = heads[ALERTS_ID]
                if not alerts_head:
                    events.append(BreakGlassAlerts.started(at))
                events.append(
                    BreakGlassAlerts.raised(
                        max(alerts_head, 1) + 1,
                        actor,
                        alert_id=uuid5(ALERTS_ID, request_id),
                        case_id=case_id,
                        reason=break_glass.reason,
                        read=break_glass.read,
                        at=at,
                        request_id=request_id,
                    )
                )
            built[:] = events
            return [self.mapper.to_stored_event(e) for e in events]

        built: list[Any] = []
        self._group.append(streams, build)
        last: int = max(e.originator_version for e in built if e.originator_id == stream)
        return last

    def record_history_read(
        self,
        case_id: UUID,
        actor: Actor,
        *,
        basis: str,
        purpose: str,
        as_of: datetime | None,
        at: datetime,
        request_id: str,
        break_glass: BreakGlass | None = None,
    ) -> int:
        """Appends one read of the history (and its alert, if by break-glass); returns its sequence."""
        last = self._append(
            case_id,
            lambda version: [
                CaseReads.history_read(
                    case_id, version, actor, basis=basis, purpose=purpose, as_of=as_of, at=at, request_id=request_id
                )
            ],
            break_glass=break_glass,
            actor=actor,
            at=at,
            request_id=request_id,
        )
        return last - 1  # the stream's first event opens it; every later one is a read

    def record_contact_reads(
        self,
        case_id: UUID,
        actor: Actor,
        parties: Sequence[ContactRead],
        *,
        at: datetime,
        request_id: str,
        break_glass: BreakGlass | None = None,
    ) -> None:
        """Appends one read per party whose contact details are about to be returned."""
        self._append(
            case_id,
            lambda version: [
                CaseReads.contact_details_read(
                    case_id,
                    version + i,
                    actor,
                    party_id=party.party_id,
                    standing=party.standing,
                    basis=party.basis,
                    at=at,
                    request_id=request_id,
                )
                for i, party in enumerate(parties)
            ],
            break_glass=break_glass,
            actor=actor,
            at=at,
            request_id=request_id,
        )

    def reads(self, case_id: UUID) -> list[Read]:
        out: list[Read] = []
        for event in self.events.get(reads_id(case_id)):
            if not isinstance(event, CaseReads.HistoryRead | CaseReads.ContactDetailsRead):
                continue  # the stream's opening event
            history = isinstance(event, CaseReads.HistoryRead)
            out.append(
                Read(
                    case_id=event.case_id,
                    sequence=len(out) + 1,
                    at=event.timestamp,
                    actor_id=event.actor_id,
                    actor_role=event.actor_role,
                    what="safeguarding_history" if history else "contact_details",
                    basis=event.basis,
                    purpose=getattr(event, "purpose", ""),
                    party_id=getattr(event, "party_id", None),
                    as_of=getattr(event, "as_of", None),
                    request_id=event.request_id,
                )
            )
        return out

    def alerts(self, *, open_only: bool = False) -> list[Alert]:
        try:
            alerts: BreakGlassAlerts = self.repository.get(ALERTS_ID)
        except AggregateNotFoundError:
            return []
        listed = alerts.open_alerts() if open_only else list(alerts.alerts.values())
        return sorted(listed, key=lambda a: a.raised_at)

    def review_alert(
        self, alert_id: UUID, reviewer: Actor, *, outcome: ReviewOutcome, note: str, at: datetime
    ) -> Alert:
        """A review decides on the alerts' state (reviewed before? by whom?): it reads the stream."""
        for _ in range(MAX_ATTEMPTS):
            try:
                alerts: BreakGlassAlerts = self.repository.get(ALERTS_ID)
            except AggregateNotFoundError:
                alerts = BreakGlassAlerts()
            alerts.review(reviewer, alert_id=alert_id, outcome=outcome, note=note, at=at)
            try:
                self.save(alerts)
            except IntegrityError:
                continue
            return alerts.alerts[str(alert_id)]
        raise IntegrityError("could not record the review: too many concurrent reviewers")
