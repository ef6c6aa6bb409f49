"""PostgreSQL write path: one round trip per append, and still no event ever passed over by a reader."""

from __future__ import annotations

import threading
from collections.abc import Callable
from uuid import UUID

import psycopg
import pytest

from domain.case.commands import RecordConcern
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.store import LockedAppendRecorder
from tests import builders
from tests.builders import CASEWORKER
from tests.conftest import POSTGRES_URL, FakeClock, postgres_settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def make_pg_app(pg_schema: str) -> Callable[[], CaseJourney]:
    apps: list[CaseJourney] = []

    def factory() -> CaseJourney:
        app = CaseJourney(postgres_settings(pg_schema, aggregate_cache_size=0), clock=FakeClock())
        apps.append(app)
        return app

    yield factory  # type: ignore[misc]
    for app in apps:
        app.close()


def open_case(app: CaseJourney, n: int) -> UUID:
    return builders.open_case(app, receiving_parent_id=f"pwc-{n}", paying_parent_id=f"nrp-{n}")


def test_the_events_table_and_append_function_live_in_the_configured_schema(
    make_pg_app: Callable[[], CaseJourney], pg_schema: str
) -> None:
    app = make_pg_app()
    assert isinstance(app.recorder, LockedAppendRecorder)
    open_case(app, 1)
    with psycopg.connect(POSTGRES_URL) as conn:
        [(count,)] = conn.execute(f'SELECT count(*) FROM "{pg_schema}".casejourney_events').fetchall()
        functions = {
            row[0]
            for row in conn.execute(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s",
                (pg_schema,),
            )
        }
    assert count == 1
    assert "casejourney_events_append" in functions


def test_a_reader_tailing_by_highest_id_misses_nothing_under_concurrent_writers(
    make_pg_app: Callable[[], CaseJourney],
) -> None:
    writers = [make_pg_app() for _ in range(4)]
    reader = make_pg_app()
    cases = [open_case(app, n) for n, app in enumerate(writers)]
    seen: list[int] = []
    done = threading.Event()

    def tail() -> None:
        last = 0
        while True:
            finished = done.is_set()
            batch = reader.recorder.select_notifications(last + 1, 200)
            seen.extend(n.id for n in batch)
            if batch:
                last = batch[-1].id  # a reader that trusts the highest id it has seen
            elif finished:
                return

    def write(app: CaseJourney, case_id: UUID, n: int) -> None:
        for _ in range(60):
            app.execute(
                RecordConcern(
                    case_id=case_id, kind="coercive_control", source="customer_disclosure", affected_party_id=f"pwc-{n}"
                ),
                CASEWORKER,
            )

    tailer = threading.Thread(target=tail)
    tailer.start()
    threads = [
        threading.Thread(target=write, args=(app, case_id, n))
        for n, (app, case_id) in enumerate(zip(writers, cases, strict=True))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    tailer.join(timeout=30)
    everything = reader.recorder.select_notifications(1, 10_000)
    every_id = [n.id for n in everything]
    assert sum(n.topic.startswith("casejourney.case:") for n in everything) == 4 + 4 * 60
    assert sorted(seen) == every_id  # nothing passed over, nothing twice


def _open_and_append(url: str, schema: str, n: int) -> int:
    from tests.conftest import postgres_settings

    app = CaseJourney(postgres_settings(schema, postgres_url=url, postgres_pool_size=1))
    version = open_case(app, n) and 1
    app.close()
    return version


def test_processes_starting_at_once_on_a_fresh_schema_all_come_up(pg_schema: str) -> None:
    """Their DDL is serialized: no duplicate type, no "tuple concurrently updated", no deadlock."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(_open_and_append, [(POSTGRES_URL, pg_schema, n) for n in range(8)])
    assert results == [1] * 8
