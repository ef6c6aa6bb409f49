"""Builds in case order, in parts and worker processes: equal to the live views, resumable across
layouts, stopped with a report by an event they cannot process."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from sqlalchemy import select

from domain.case.aggregate import Case
from infrastructure.eventstore.application import CaseJourney
from infrastructure.readmodels import case_build
from infrastructure.readmodels.engine import _json_dumps, build_parts, tracking
from infrastructure.readmodels.errors import ProjectionStopped
from infrastructure.readmodels.models import ReadModels
from infrastructure.readmodels.registry import PROJECTIONS
from scripts.bench.projections import write_synthetic_log
from tests.builders import opened, seal
from tests.integration.projection_helpers import dump_all, run_all_stories


@pytest.fixture
def live(app: CaseJourney, models: ReadModels) -> dict[str, object]:
    """The stories and 3,000 interleaved events, followed live in notification order."""
    run_all_stories(app)
    write_synthetic_log(app, 3000, chunk=500, interleave=50)
    models.catch_up(batch_size=250)
    return dump_all(models)


def test_split_cuts_the_case_id_space_into_contiguous_ranges() -> None:
    assert case_build.split(1) == [(None, None)]
    ranges = case_build.split(4)
    assert ranges[0][0] is None and ranges[-1][1] is None
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    for _ in range(200):  # every case id falls in exactly one part
        hex_id = uuid4().hex
        assert sum((lo is None or lo <= hex_id) and (hi is None or hex_id < hi) for lo, hi in ranges) == 1


@pytest.mark.parametrize("workers", [1, 3])
def test_a_build_in_parts_equals_the_views_followed_live(models: ReadModels, live, workers: int) -> None:
    position, resumed = models.rebuild(list(PROJECTIONS), fresh=True, batch_size=97, workers=workers)
    assert (position, resumed) == (models.head(), False)
    assert dump_all(models) == live
    for name in PROJECTIONS:
        assert models.verify(name, batch_size=61, workers=workers).differences == 0
    with models.engine.connect() as conn:  # nothing left of the builds
        assert conn.execute(select(build_parts)).first() is None
        assert {r.name for r in conn.execute(select(tracking.c.name))} == set(PROJECTIONS)


def test_builds_of_different_layouts_resume_together_to_the_same_views(app: CaseJourney, models, live) -> None:
    """A build of caseloads in 2 parts has one part done; a build of all four then resumes it and
    builds the other three beside it, in its layout: every view equals the one followed live."""

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt  # at the first report: the layout is planned, no worker has started

    with pytest.raises(KeyboardInterrupt):
        models.rebuild("caseloads", batch_size=50, workers=2, progress=interrupt)
    with models.engine.connect() as conn:
        suffix = conn.execute(select(tracking.c.table_suffix).where(tracking.c.name == "caseloads@build")).scalar()
    target = case_build.Target("caseloads", str(suffix), "caseloads@build")
    done = case_build.build_part(app.settings, [target], 0, 50)  # part 0 of 2, as a worker would
    [status] = [s for s in models.status() if s.name == "caseloads"]
    assert status.build_progress is not None
    assert 0 < status.build_progress[0] == done < status.build_progress[1] == models.head()
    position, resumed = models.rebuild(list(PROJECTIONS), batch_size=50, workers=1)
    assert resumed and position == models.head()
    assert dump_all(models) == live


def test_an_event_a_worker_cannot_process_stops_the_build_with_a_report(app: CaseJourney, models, live) -> None:
    # A case whose first event is a closure: the team assignment cannot place it (see the runner's test).
    first = app.recorder.select_notifications(1, 1, topics=[Case.ApplicationReceived.TOPIC])[0]
    orphan = uuid4()
    app.recorder.insert_events(
        [StoredEvent(orphan, 1, first.topic.replace("ApplicationReceived", "CaseClosed"), first.state)]
    )
    with pytest.raises(ProjectionStopped) as stopped:
        models.rebuild(list(PROJECTIONS), fresh=True, workers=2, batch_size=200)
    report = str(stopped.value)
    assert "team_assignment" in report and str(orphan) in report and "before the case's ApplicationReceived" in report
    assert f"notification {models.head()}" in report  # the event itself, named by its place in the log
    with models.engine.connect() as conn:
        error = conn.execute(select(tracking.c.error).where(tracking.c.name == "team_assignment@build")).scalar()
    assert error == report
    assert dump_all(models) == live  # the live views are untouched


@pytest.mark.parametrize(
    "value",
    [
        {},
        [],
        {"b": 1, "a": [1, 2, {"z": None, "y": True}]},
        {"text": 'ünïcødé \u2028 "quoted" \\ back', "n": -3.25},
        {"at": datetime(2025, 6, 1, 9, 30, tzinfo=UTC), "id": UUID(int=7)},
        {"big": 2**70},
    ],
)
def test_read_model_json_is_the_value_json_dumps_gives(value: object) -> None:
    assert json.loads(_json_dumps(value)) == json.loads(json.dumps(value, sort_keys=True, default=str))


def test_a_report_names_the_event_a_case_fails_at_not_the_case_s_first(app: CaseJourney, models, live) -> None:
    """A case with a sound history gets one more event that cannot be folded (a caseworker
    assignment with no caseworker): the report names that event, by notification and version."""
    notifications = app.recorder.select_notifications(1, 10_000)
    assigned = next(n for n in notifications if n.topic.endswith(":CaseworkerAssigned"))
    case_id = assigned.originator_id
    version = max(n.originator_version for n in notifications if n.originator_id == case_id)
    state = json.loads(opened(app, assigned.state))
    del state["caseworker_id"]
    app.recorder.insert_events(
        [StoredEvent(case_id, version + 1, assigned.topic, seal(app, json.dumps(state).encode()))]
    )
    with pytest.raises(ProjectionStopped) as stopped:
        models.rebuild("team_assignment", fresh=True, workers=2, batch_size=200)
    report = str(stopped.value)
    assert f"notification {models.head()} (case {case_id}, version {version + 1}" in report
    assert "caseworker_id" in report
