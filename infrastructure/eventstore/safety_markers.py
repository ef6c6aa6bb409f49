"""The safety-marker policy: a domestic-abuse concern on any case marks the person, for every case.

A policy that follows the log, not part of the command: the case's append stays one append, and
the writer runs the policy right after it (``CaseJourney.execute``). In log order, each concern sets
its person's marker unless it is already set or the concern stands before a recorded lift; the
marker records the concern as its cause. Processes follow independently from the start of the log:
setting is idempotent, and two that race meet at the customer's version key.

Reads never append (a reader may be a standby or a SELECT-only role). A read remembers, read-only,
every domestic-abuse concern up to the head of the log (``remember``), and shows the marker a
concern implies when the policy has not recorded it yet (the writer stopped between the two): in
doubt the person is protected.

Setting one marker (a ``Customer`` command, recorded as the policy's actor) is the application's
``CaseJourney._mark_person``; this module decides which concerns call it, and remembers how far
it has followed the log.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

from domain.case.aggregate import Case
from domain.values import DOMESTIC_ABUSE_KINDS, Actor, ConcernKind, Role
from infrastructure.eventstore.personal_data import PersonalDataMapper

#: The actor recorded on the markers this policy sets.
SAFETY_MARKER_POLICY = Actor("svc-safety-marker-policy", Role.BACKEND_SERVICE)

BATCH = 500


@dataclass(frozen=True, order=True)
class Concern:
    """A domestic-abuse concern as the marker it implies needs it: where it stands, and its cause."""

    position: int
    case_id: UUID
    occurred_at: datetime


class SafetyMarkerPolicy:
    """Follows the log's ``ConcernRecorded`` events and marks each person a domestic-abuse concern is about."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: PersonalDataMapper,
        mark_person: Callable[[Case.ConcernRecorded, int], int],
    ) -> None:
        self._recorder = recorder
        self._mapper = mapper
        self._mark_person = mark_person
        self._lock = threading.Lock()
        self._position = 0
        # Read-only memory of the log's domestic-abuse concerns, per person, in log order.
        self._seen_lock = threading.Lock()
        self._seen_position = 0
        self._concerns: dict[str, list[Concern]] = {}

    def follow(self) -> int:
        """Marks the people of the concerns recorded since the last call; returns how many were marked."""
        marked = 0
        with self._lock:
            while True:
                batch = self._recorder.select_notifications(
                    self._position + 1, BATCH, topics=[Case.ConcernRecorded.TOPIC]
                )
                if not batch:
                    return marked
                for notification in batch:
                    concern = self._mapper.to_domain_event_sealed(notification)  # its note is not needed
                    assert isinstance(concern, Case.ConcernRecorded)
                    if ConcernKind(concern.kind) in DOMESTIC_ABUSE_KINDS:
                        marked += self._mark_person(concern, notification.id)
                self._position = batch[-1].id

    def remember(self, head: int | None = None) -> None:
        """Reads the domestic-abuse concerns recorded since the last call into memory; writes nothing.

        Up to the head of the log as it was when called, and remembered as read up to there: so a
        read that finds no new concern reads no row twice (it used to scan every event after the
        last concern, on every read: 5 ms at 12k events, growing with the log). Positions are
        given in commit order (the append holds the log's lock), so none can appear below the head
        once it has been read."""
        with self._seen_lock:
            if head is None:  # else the caller's, read just before (``CaseJourney.log_head``)
                head = self._recorder.max_notification_id() or 0
            while self._seen_position < head:
                batch = self._recorder.select_notifications(
                    self._seen_position + 1, BATCH, stop=head, topics=[Case.ConcernRecorded.TOPIC]
                )
                if not batch:
                    self._seen_position = head
                    return
                for notification in batch:
                    concern = self._mapper.to_domain_event_sealed(notification)
                    assert isinstance(concern, Case.ConcernRecorded)
                    if ConcernKind(concern.kind) in DOMESTIC_ABUSE_KINDS:
                        self._concerns.setdefault(concern.affected_party_id, []).append(
                            Concern(notification.id, concern.originator_id, concern.occurred_at)
                        )
                self._seen_position = batch[-1].id if len(batch) == BATCH else head

    def first_concern_after(self, party_id: str, position: int) -> Concern | None:
        """The first domestic-abuse concern about ``party_id`` after ``position`` (a lift's review),
        among those ``remember`` has read: the one the policy's marker would name."""
        concerns = self._concerns.get(party_id, [])
        at = bisect.bisect_right([c.position for c in concerns], position)
        return concerns[at] if at < len(concerns) else None
