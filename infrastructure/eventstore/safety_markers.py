"""The safety-marker policy: a domestic-abuse concern on any case marks the person, for every case.

A policy that follows the log, not part of the command: the command path stays one append, and a
read of markers always follows the log up to its head first, so nothing recorded is missed. In log
order, each concern sets its person's marker unless it is already set or the concern stands before
a recorded lift; the marker records the concern as its cause. Processes follow independently from
the start of the log: setting is idempotent, and two that race meet at the customer's version key.

Setting one marker (a ``Customer`` command, recorded as the policy's actor) is the application's
``CaseJourney._mark_person``; this module decides which concerns call it, and remembers how far
it has followed the log.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from eventsourcing.persistence import ApplicationRecorder

from domain.case.aggregate import Case
from domain.values import DOMESTIC_ABUSE_KINDS, Actor, ConcernKind, Role
from infrastructure.eventstore.personal_data import PersonalDataMapper

#: The actor recorded on the markers this policy sets.
SAFETY_MARKER_POLICY = Actor("svc-safety-marker-policy", Role.BACKEND_SERVICE)

BATCH = 500


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
