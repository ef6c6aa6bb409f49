"""The runner: exactly once, read your writes, one writer, stops on what it cannot process, rebuilds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from sqlalchemy import event, func, select, update

from domain.case.aggregate import Case
from domain.case.commands import OpenExpeditedPathway, RecordConcern
from infrastructure.eventstore.application import CaseJourney
from infrastructure.readmodels.engine import tracking
from infrastructure.readmodels.errors import LeaseHeld, ProjectionStopped, RebuildNeeded
from infrastructure.readmodels.leases import acquire_lease
from infrastructure.readmodels.models import ReadModels
from infrastructure.readmodels.registry import PROJECTIONS
from infrastructure.readmodels.runner import ProjectionRunner
from infrastructure.readmodels.safeguarding_history import safeguarding_history_of
from infrastructure.readmodels.team_assignment import team_assignment_of
from projections.safeguarding_history import SAFETY_RELEVANT
from tests.builders import CASEWORKER, open_case, opening
from tests.conftest import FakeClock
from tests.integration.projection_helpers import dump_all, run_all_stories


@pytest.fixture
def running(models: ReadModels) -> Iterator[ProjectionRunner]:
    """A live runner in a thread; on PostgreSQL its poll is slow, so only NOTIFY can wake it fast."""
    runner = ProjectionRunner(models, poll_interval=0.05 if models.settings.store == "sqlite" else 5.0)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    yield runner
    runner.stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def _open_case(app: CaseJourney) -> tuple[object, int]:
    result = app.execute(
        opening(receiving_parent_id=f"pwc-{uuid4().hex[:6]}", paying_parent_id=f"nrp-{uuid4().hex[:6]}"), CASEWORKER
    )
    return result.case_id, result.version


def test_small_batches_and_repeated_catch_ups_give_each_event_exactly_once(app: CaseJourney, models) -> None:
    run_all_stories(app)
    models.catch_up(batch_size=3)
    assert models.catch_up(batch_size=3) == 0
    with models.engine.connect() as conn:
        rows = conn.execute(
            select(func.count()).select_from(PROJECTIONS["safeguarding_history"].tables()["safeguarding_history"])
        ).scalar()
    log = app.recorder.select_notifications(1, 10_000)
    safety = sum(1 for n in log if n.topic.rsplit(":", 1)[1] in SAFETY_RELEVANT)
    assert rows == safety
    for name in PROJECTIONS:
        assert models.verify(name).differences == 0


def test_a_batch_is_one_write_transaction_for_every_projection(app: CaseJourney, models) -> None:
    """On SQLite each write transaction holds the one write lock the appends wait for: a batch takes
    it once, not once per projection (and checking the schema versions takes no write lock)."""
    models.catch_up()
    for _ in range(3):
        _open_case(app)
    writes: list[str] = []

    def began(conn: Any) -> None:
        writes.append(conn.get_execution_options().get("sqlite_begin", "IMMEDIATE"))

    event.listen(models.engine, "begin", began)
    try:
        assert models.catch_up() > 0
    finally:
        event.remove(models.engine, "begin", began)
    assert writes.count("IMMEDIATE") == 1, writes
    assert set(models.positions().values()) == {models.head()}


def test_a_caller_reads_its_own_write_once_the_runner_has_caught_up(app: CaseJourney, models, running) -> None:
    case_id, _ = _open_case(app)
    result = app.execute(
        RecordConcern(
            case_id=case_id,
            kind="coercive_control",
            source="customer_disclosure",
            affected_party_id=app.get_case(case_id).receiving_parent_id,
        ),
        CASEWORKER,
    )
    started = time.monotonic()
    position = models.notification_id_of(case_id, result.version)
    # The concern is the case's newest event; the person's marker, appended in the same
    # transaction, may follow it in the log.
    assert position is not None and position <= models.head()
    assert models.wait_for(position, timeout=3.0)
    assert time.monotonic() - started < 3.0  # on PostgreSQL the 5 s poll was cut short by NOTIFY
    with models.engine.connect() as conn:
        assert team_assignment_of(conn, str(case_id))["case_version"] == result.version
        assert [r["event_type"] for r in safeguarding_history_of(conn, str(case_id), app.text_keys)] == [
            "ConcernRecorded"
        ]


def test_wait_for_times_out_without_a_runner(app: CaseJourney, models) -> None:
    _open_case(app)
    assert models.wait_for(models.head(), timeout=0.2) is False


def test_events_of_other_aggregates_are_skipped_by_topic(app: CaseJourney, models) -> None:
    models.catch_up()  # past the roster's events (other aggregates too)
    case_id, _ = _open_case(app)
    app.recorder.insert_events(
        [StoredEvent(originator_id=uuid4(), originator_version=1, topic="casejourney.payments:Received", state=b"{}")]
    )
    _open_case(app)
    assert models.catch_up() == 3
    assert set(models.positions().values()) == {models.head()}
    with models.engine.connect() as conn:
        assert team_assignment_of(conn, str(case_id)) is not None


def test_an_event_it_cannot_process_stops_the_projection_with_a_report(app: CaseJourney, models) -> None:
    _open_case(app)
    models.catch_up()
    good = models.head()
    # A case event for a case whose application is not in the log (its first event is a closure; the
    # write path refuses a version 2 with no version 1): the assignment cannot place it.
    concern = app.recorder.select_notifications(1, 10, topics=[Case.ApplicationReceived.TOPIC])[0]
    orphan = uuid4()
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=orphan,
                originator_version=1,
                topic=concern.topic.replace("ApplicationReceived", "CaseClosed"),
                state=concern.state,
            )
        ]
    )
    bad = models.head()
    with pytest.raises(ProjectionStopped) as stopped:
        models.catch_up()
    report = str(stopped.value)
    assert f"notification {bad}" in report and str(orphan) in report and "team_assignment" in report
    assert models.positions()["team_assignment"] == good  # nothing skipped, nothing half-written
    with models.engine.connect() as conn:
        error = conn.execute(select(tracking.c.error).where(tracking.c.name == "team_assignment")).scalar()
    assert error == report
    with pytest.raises(ProjectionStopped):
        models.wait_for(bad, timeout=1.0)
    assert [s.error for s in models.status() if s.name == "team_assignment"] == [report]


def test_an_unknown_case_event_type_stops_every_projection(app: CaseJourney, models) -> None:
    _open_case(app)
    app.recorder.insert_events(
        [StoredEvent(originator_id=uuid4(), originator_version=1, topic="casejourney.case:FromTheFuture", state=b"{}")]
    )
    with pytest.raises(ProjectionStopped, match=r"unknown case event type casejourney\.case:FromTheFuture"):
        models.catch_up()
    assert set(models.positions().values()) == {0}


def test_a_second_writer_of_a_projection_is_refused_with_the_holder_named(store_settings) -> None:
    first = acquire_lease(store_settings, "team_assignment")
    try:
        with pytest.raises(LeaseHeld, match=r"team_assignment is already being written by .*pid"):
            acquire_lease(store_settings, "team_assignment", wait=0.3)
        acquire_lease(store_settings, "caseloads").release()  # other projections are independent
    finally:
        first.release()
    acquire_lease(store_settings, "team_assignment").release()


def test_live_tables_of_another_code_version_are_refused_until_rebuilt(app: CaseJourney, models) -> None:
    _open_case(app)
    with models.engine.begin() as conn:
        conn.execute(update(tracking).where(tracking.c.name == "caseloads").values(schema_version="old"))
    with pytest.raises(RebuildNeeded, match="projections rebuild caseloads"):
        models.catch_up(["caseloads"])
    assert [s.schema_ok for s in models.status() if s.name == "caseloads"] == [False]
    models.rebuild("caseloads")
    models.catch_up(["caseloads"])
    assert models.verify("caseloads").differences == 0


def test_an_interrupted_rebuild_resumes_where_it_stopped(app: CaseJourney, models) -> None:
    run_all_stories(app)
    models.catch_up()
    clean = dump_all(models)
    seen: list[tuple[int, int]] = []

    def interrupt(done: int, total: int) -> None:
        seen.append((done, total))
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        models.rebuild("team_assignment", batch_size=10, progress=interrupt)
    built, total = seen[-1]
    assert 0 < built < total == models.head()  # killed mid-way, two batches of whole cases committed
    [status] = [s for s in models.status() if s.name == "team_assignment"]
    assert status.build_progress == (built, total) and status.build_position == 0
    position, resumed = models.rebuild("team_assignment", batch_size=10)
    assert resumed and position == models.head()
    assert dump_all(models) == clean


def test_a_rebuild_swaps_in_while_the_live_runner_keeps_writing(app: CaseJourney, models, running) -> None:
    run_all_stories(app)
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            _open_case(app)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for name in PROJECTIONS:
            models.rebuild(name, batch_size=7)
    finally:
        stop.set()
        thread.join()
    assert models.wait_for(models.head(), timeout=10)
    for name in PROJECTIONS:
        assert models.verify(name).differences == 0


def test_every_business_time_the_service_accepts_can_be_projected_and_rebuilt(
    make_app: Callable[..., CaseJourney], clock: FakeClock
) -> None:
    """No accepted event may stop the read models: events at the very edges of the business-time
    bounds (the service's first day, in the most eastern offset; the clock-skew limit into the
    future), with the longest note of the widest characters, go through the live runner and a
    rebuild, and the two agree."""
    app = make_app(business_time_max_backdate_days=20_000)
    models = ReadModels(app)
    try:
        earliest = datetime(1993, 4, 5, 14, 0, tzinfo=timezone(timedelta(hours=14)))  # 1993-04-05T00:00Z
        latest = clock.now + timedelta(seconds=app.settings.clock_skew_tolerance_seconds)
        for when in (earliest, latest):
            case_id = open_case(
                app,
                receiving_parent_id=f"pwc-edge-{when.year}",
                paying_parent_id=f"nrp-edge-{when.year}",
                occurred_at=when,
            )
            app.execute(
                RecordConcern(
                    case_id=case_id,
                    kind="coercive_control",
                    source="customer_disclosure",
                    affected_party_id=f"pwc-edge-{when.year}",
                    note="\U0001f6a8 Ŵ \u0645 " * 500,
                    occurred_at=when,
                ),
                CASEWORKER,
            )
            app.execute(
                OpenExpeditedPathway(
                    case_id=case_id, pathway_reason="safeguarding", reason="at risk", occurred_at=when
                ),
                CASEWORKER,
            )
        models.catch_up()
        assert set(models.positions().values()) == {models.head()}
        for name in PROJECTIONS:
            assert models.verify(name).differences == 0, name  # a fresh rebuild equals what the runner built
    finally:
        models.close()
