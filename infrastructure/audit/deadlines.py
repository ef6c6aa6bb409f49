"""The deadline clock: records missed expedited-pathway targets and escalates them, exactly once.

Seed 2 asks for a faster, supported path with escalation routes; DOMAIN.md: "a missed target is
itself an event that an auditor can find", and escalation must never depend on someone remembering.
A tick finds the open pathways whose due time is strictly before now (the domain's ``is_missed``)
and whose miss is not yet recorded, and executes ``RecordDeadlineMissed`` for each as the backend
service ``svc-deadline-clock``, escalating to ``settings.deadline_escalation_actor`` (a current ACS
senior leader) or, unset, to the ACS senior leaders' route. The case
records the miss and the escalation in one step.

Where it looks: the log itself, by topic (pathway opened / closed / missed, case closed), read
incrementally: the first tick reads those events once, later ticks only what was appended since.
So it needs no read model and is never behind one.

Exactly once, also with two clocks: the command id is derived from the pathway id (uuid5) and the
command carries no time of its own (the business time is the application's clock when it runs), so
a second clock's command is a retry of the first, recognised by the case and appended nothing.
A pathway closed or already marked meanwhile is refused by the case's own rules and skipped.

Time is injected: ``now`` comes from the application's clock; nothing here or in the domain reads
the wall clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from domain.case.aggregate import Case
from domain.case.commands import RecordDeadlineMissed
from domain.errors import DomainError, IdempotencyKeyReused
from domain.rules.expedited import is_missed
from domain.values import Actor, Role
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.log_reader import TopicReader

DEADLINE_CLOCK = Actor("svc-deadline-clock", Role.BACKEND_SERVICE)

#: Namespace of the deadline clock's command ids: one command per pathway, whoever runs it.
DEADLINE_NAMESPACE = UUID("d3a1f0c4-7b2e-4c59-9e61-5f8a0b7c2d93")

_READ = ("ExpeditedPathwayOpened", "ExpeditedPathwayClosed", "ExpeditedDeadlineMissed", "CaseClosed")


def command_id_for(pathway_id: UUID) -> UUID:
    return uuid5(DEADLINE_NAMESPACE, str(pathway_id))


@dataclass(frozen=True, slots=True)
class OpenPathway:
    case_id: UUID
    pathway_id: UUID
    reason: str
    due_at: datetime


@dataclass
class TickResult:
    at: datetime
    recorded: list[dict[str, Any]] = field(default_factory=list)
    already_recorded: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    open_pathways: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "recorded": self.recorded,
            "already_recorded": self.already_recorded,
            "skipped": self.skipped,
            "open_pathways": self.open_pathways,
        }


class DeadlineClock:
    """Keeps the open, not-yet-missed pathways from the log; ``tick()`` records the overdue ones."""

    def __init__(self, app: CaseJourney, *, actor: Actor = DEADLINE_CLOCK, escalate_to: str | None = None) -> None:
        self.app = app
        self.actor = actor
        self.escalate_to = escalate_to or app.settings.deadline_escalation_actor
        self.reader = TopicReader(app, _READ)
        self.pending: dict[UUID, OpenPathway] = {}
        self._lock = threading.Lock()

    def _follow_log(self) -> None:
        for logged in self.reader.read():
            match e := logged.event:
                case Case.ExpeditedPathwayOpened():
                    self.pending[e.pathway_id] = OpenPathway(e.originator_id, e.pathway_id, e.pathway_reason, e.due_at)
                case Case.ExpeditedPathwayClosed() | Case.ExpeditedDeadlineMissed():
                    self.pending.pop(e.pathway_id, None)
                case Case.CaseClosed():
                    for pid in [p for p, o in self.pending.items() if o.case_id == e.originator_id]:
                        del self.pending[pid]

    def overdue(self, now: datetime) -> list[OpenPathway]:
        """Open pathways whose target has passed (strictly) and whose miss is not recorded, due first."""
        self._follow_log()
        return sorted((p for p in self.pending.values() if is_missed(p.due_at, now)), key=lambda p: p.due_at)

    def tick(self) -> TickResult:
        with self._lock:
            now = self.app.clock()
            result = TickResult(at=now)
            for pathway in self.overdue(now):
                command = RecordDeadlineMissed(
                    case_id=pathway.case_id,
                    pathway_id=pathway.pathway_id,
                    escalate_to=self.escalate_to,
                    command_id=command_id_for(pathway.pathway_id),
                )
                try:
                    outcome = self.app.execute(command, self.actor)
                except IdempotencyKeyReused:
                    result.already_recorded += 1  # recorded by a clock configured differently
                except DomainError as refusal:
                    code = getattr(refusal, "code", type(refusal).__name__)
                    if code == "deadline_already_missed":
                        result.already_recorded += 1
                    else:
                        result.skipped.append({"pathway_id": str(pathway.pathway_id), "code": str(code)})
                else:
                    if outcome.replayed:
                        result.already_recorded += 1
                    else:
                        result.recorded.append(
                            {
                                "case_id": str(pathway.case_id),
                                "pathway_id": str(pathway.pathway_id),
                                "reason": pathway.reason,
                                "due_at": pathway.due_at.isoformat(),
                                "escalation_id": str(outcome.ids.get("escalation_id")),
                                "escalated_to": self.escalate_to,
                            }
                        )
                self.pending.pop(pathway.pathway_id, None)
            result.open_pathways = len(self.pending)
            return result


class Ticker(threading.Thread):
    """Calls ``tick`` every ``every`` seconds until ``stop`` is set; an error is reported and the
    next tick retries (a store outage must not kill a background duty of ``serve``)."""

    def __init__(
        self,
        tick: Callable[[], object],
        every: float,
        *,
        name: str,
        on_error: Callable[[Exception], None] | None = None,
        first_after: float = 0.0,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.tick = tick
        self.every = every
        self.on_error = on_error
        self.first_after = first_after
        self.stop = threading.Event()
        self.ticks = 0

    def run(self) -> None:
        if self.first_after and self.stop.wait(self.first_after):
            return
        while not self.stop.is_set():
            try:
                self.tick()
            except Exception as exc:
                if self.on_error:
                    self.on_error(exc)
            self.ticks += 1
            self.stop.wait(self.every)


class DeadlineClockThread(Ticker):
    """Ticks every ``every`` seconds until ``stop`` is set (for ``serve --deadline-clock SECONDS``)."""

    def __init__(self, clock: DeadlineClock, every: float, on_error: Callable[[Exception], None] | None = None) -> None:
        super().__init__(clock.tick, every, name="deadline-clock", on_error=on_error)
        self.clock = clock
