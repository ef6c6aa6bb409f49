"""The deadline clock at the exact boundaries, exactly once, with time injected.

Given an expedited pathway with a configured target, when the clock ticks at the due time, then
nothing; one microsecond after, then the miss and the escalation are recorded together by the
backend service; a second tick, or a second clock, records nothing more. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from uuid import UUID

from domain.case.commands import CloseCase, CloseExpeditedPathway, OpenExpeditedPathway
from infrastructure.audit.deadlines import DeadlineClock, DeadlineClockThread, command_id_for
from infrastructure.eventstore.application import CaseJourney
from tests.builders import CASEWORKER, open_case
from tests.conftest import FakeClock

HOMELESSNESS_TARGET = timedelta(hours=48)  # the default setting


def open_pathway(app: CaseJourney, reason: str = "homelessness_risk") -> tuple[UUID, UUID]:
    case_id = open_case(app)
    pathway_id = app.execute(
        OpenExpeditedPathway(case_id=case_id, pathway_reason=reason, reason="About to lose his home."), CASEWORKER
    ).ids["pathway_id"]
    return case_id, pathway_id


def names(app: CaseJourney, case_id: UUID) -> list[str]:
    return [type(e).__name__ for e in app.case_events(case_id)]


def test_a_target_is_missed_strictly_after_its_due_time_and_recorded_once(app: CaseJourney, clock: FakeClock) -> None:
    case_id, pathway_id = open_pathway(app)
    due = clock.now + HOMELESSNESS_TARGET
    deadlines = DeadlineClock(app)

    clock.now = due  # at the due time the target is still met
    at_due = deadlines.tick()
    assert at_due.recorded == [] and at_due.open_pathways == 1
    assert names(app, case_id)[-1] == "ExpeditedPathwayOpened"

    clock.now = due + timedelta(microseconds=1)
    after = deadlines.tick()
    assert [r["pathway_id"] for r in after.recorded] == [str(pathway_id)]
    events = app.case_events(case_id)
    missed, escalated = events[-2], events[-1]
    assert type(missed).__name__ == "ExpeditedDeadlineMissed" and type(escalated).__name__ == "EscalationRaised"
    assert missed.due_at == due  # type: ignore[attr-defined]
    assert missed.occurred_at == due + timedelta(microseconds=1)
    for event in (missed, escalated):
        assert (event.actor_id, event.actor_role) == ("svc-deadline-clock", "backend_service")
        assert event.command_id == command_id_for(pathway_id)
    assert escalated.to_actor_id == app.settings.deadline_escalation_actor  # type: ignore[attr-defined]
    assert escalated.pathway_id == pathway_id  # type: ignore[attr-defined]

    version = app.get_case(case_id).version
    clock.advance(hours=1)
    again = deadlines.tick()
    assert again.recorded == [] and again.open_pathways == 0
    assert DeadlineClock(app).tick().recorded == []  # a fresh clock (another process) finds nothing to do
    assert app.get_case(case_id).version == version


def test_two_clocks_that_both_saw_the_pathway_open_record_it_once(
    make_app: Callable[..., CaseJourney], clock: FakeClock
) -> None:
    first, second = make_app(), make_app()  # two processes: separate caches, one store
    case_id, pathway_id = open_pathway(first)
    clock.advance(hours=49)
    clock_a, clock_b = DeadlineClock(first), DeadlineClock(second)
    assert [p.pathway_id for p in clock_b.overdue(clock.now)] == [pathway_id]  # B has seen it as overdue
    clock.advance(seconds=30)  # B acts later: its command has the same id and content, not the same time
    assert len(clock_a.tick().recorded) == 1
    clock_b.reader.position = second.recorder.max_notification_id() or 0  # B has not read A's event
    late = clock_b.tick()
    assert late.recorded == [] and late.already_recorded == 1
    assert names(second, case_id).count("ExpeditedDeadlineMissed") == 1
    assert names(second, case_id).count("EscalationRaised") == 1


def test_concurrent_clocks_record_each_missed_target_once(
    make_app: Callable[..., CaseJourney], clock: FakeClock
) -> None:
    app = make_app()
    opened = [open_pathway(app) for _ in range(5)]
    clock.advance(hours=48, microseconds=1)
    clocks = [DeadlineClock(make_app()) for _ in range(3)]
    results: list[int] = []
    threads = [threading.Thread(target=lambda c=c: results.append(len(c.tick().recorded))) for c in clocks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 5
    for case_id, _ in opened:
        assert names(app, case_id).count("ExpeditedDeadlineMissed") == 1


def test_closed_pathways_and_closed_cases_are_never_escalated(app: CaseJourney, clock: FakeClock) -> None:
    kept_case, kept = open_pathway(app, "safeguarding")  # due in 24 h
    closed_case, closed = open_pathway(app, "safeguarding")
    ended_case, _ = open_pathway(app, "safeguarding")
    app.execute(CloseExpeditedPathway(case_id=closed_case, pathway_id=closed, reason="Support in place."), CASEWORKER)
    app.execute(CloseCase(case_id=ended_case, reason="Application withdrawn."), CASEWORKER)
    clock.advance(hours=25)
    result = DeadlineClock(app).tick()
    assert [r["pathway_id"] for r in result.recorded] == [str(kept)]
    assert "ExpeditedDeadlineMissed" not in names(app, closed_case) + names(app, ended_case)
    assert "ExpeditedDeadlineMissed" in names(app, kept_case)


def test_the_background_clock_of_serve_ticks_until_stopped(app: CaseJourney, clock: FakeClock) -> None:
    case_id, _ = open_pathway(app)
    clock.advance(hours=49)
    thread = DeadlineClockThread(DeadlineClock(app), every=0.05)
    thread.start()
    try:
        for _ in range(200):
            if "EscalationRaised" in names(app, case_id) and thread.ticks >= 2:
                break
            thread.stop.wait(0.05)
    finally:
        thread.stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert names(app, case_id).count("ExpeditedDeadlineMissed") == 1
