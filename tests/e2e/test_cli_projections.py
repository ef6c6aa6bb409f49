"""`casejourney projections ...` and `casejourney replay`, as real processes on a real store.

Includes the crash tests: a runner or a rebuild killed with SIGKILL mid-way, then restarted, must
end equal to a clean rebuild (no gap, no duplicate), and a second runner of a projection must
refuse to start while the first holds it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from infrastructure.eventstore.application import CaseJourney
from infrastructure.readmodels.engine import build_parts, make_engine, reading, tracking
from infrastructure.readmodels.models import ReadModels
from infrastructure.readmodels.registry import PROJECTIONS
from infrastructure.settings import Settings
from scripts.bench.projections import write_synthetic_log
from tests.conftest import cli_env, postgres_settings
from tests.integration.projection_helpers import dump

CLI = str(Path(sys.executable).parent / "casejourney")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Settings, dict[str, str]]:
    """Settings for in-test checks, and the same store as CASEJOURNEY_* variables for the CLI."""
    if request.param == "sqlite":
        path = tmp_path / "cj.sqlite"
        return Settings(store="sqlite", sqlite_path=path), {"CASEJOURNEY_SQLITE_PATH": str(path)}
    schema = request.getfixturevalue("pg_schema")
    settings = postgres_settings(schema)
    return settings, cli_env(settings)


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **env, "COLUMNS": "200"}
    )


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env, "COLUMNS": "200"},
    )


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the process ended early ({proc.returncode}):\n{out}\n{err}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def position_of(settings: Settings, name: str) -> int | None:
    """A tracking position, read with a bare engine (cheap enough to poll a busy store)."""
    engine = make_engine(settings)
    try:
        with reading(engine.connect()) as conn:
            return conn.execute(select(tracking.c.position).where(tracking.c.name == name)).scalar()
    except DBAPIError:  # the process under test has not created the table yet
        return None
    finally:
        engine.dispose()


def built_of(settings: Settings, build: str) -> int | None:
    """Events a build in case order has committed, over all its parts (None: no such build)."""
    engine = make_engine(settings)
    try:
        with reading(engine.connect()) as conn:
            rows = conn.execute(select(build_parts.c.events).where(build_parts.c.build == build)).scalars().all()
            return sum(rows) if rows else None
    except DBAPIError:
        return None
    finally:
        engine.dispose()


def test_status_run_verify_rebuild_and_replay_from_the_command_line(store) -> None:
    settings, env = store
    assert cli(env, "demo").returncode == 0
    before = cli(env, "projections", "status")
    assert before.returncode == 0, before.stderr
    assert "team_assignment" in before.stdout and "lag" in before.stdout
    behind = json.loads(cli(env, "projections", "status", "--format", "json").stdout)
    assert [row["projection"] for row in behind] == list(PROJECTIONS)
    assert all(row["position"] == 0 and row["lag"] == row["head"] > 0 and not row["running"] for row in behind)

    caught_up = cli(env, "projections", "run", "--once")
    assert caught_up.returncode == 0, caught_up.stderr
    with CaseJourney(settings) as app, ReadModels(app) as models:
        head = models.head()
        assert set(models.positions().values()) == {head}
    assert f"team_assignment at position {head}" in caught_up.stdout and "{" not in caught_up.stdout  # words, no dict
    now = json.loads(cli(env, "projections", "status", "--format", "json").stdout)
    assert {(row["position"], row["lag"], row["error"]) for row in now} == {(head, 0, None)}

    verify = cli(env, "projections", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.count(f"0 differences at notification {head}") == 4

    rebuild = cli(env, "projections", "rebuild", "team_assignment")
    assert rebuild.returncode == 0, rebuild.stderr
    assert f"team_assignment: rebuilt to notification {head} and swapped in" in rebuild.stdout

    script = Path(__file__).parents[2] / "scripts" / "rebuild_projections.py"
    scripted = subprocess.run(
        [sys.executable, str(script), "caseloads"], capture_output=True, text=True, env={**os.environ, **env}
    )
    assert scripted.returncode == 0, scripted.stderr
    assert f"caseloads: rebuilt to notification {head}" in scripted.stdout

    unknown = cli(env, "projections", "rebuild", "no_such_view")
    assert unknown.returncode == 2 and "unknown projection" in unknown.stderr

    history = json.loads(cli(env, "history", "--scenario", "5", "--format", "json").stdout)
    case_id = history[0]["case_id"]
    replay = cli(env, "replay", case_id, "--version", "9", "--format", "json")
    assert replay.returncode == 0, replay.stderr
    at_nine = json.loads(replay.stdout)
    assert at_nine["version"] == 9 and at_nine["team_assignment"]["escalation_open"] is True
    assert [h["event_type"] for h in at_nine["safeguarding_history"]][-1] == history[8]["type"]
    before = cli(env, "replay", case_id, "--as-of", "2000-01-01T00:00:00", "--format", "json")
    assert before.returncode == 1 and before.stdout == "" and "did not exist at 2000-01-01" in before.stderr
    past_end = cli(env, "replay", case_id, "--version", str(len(history) + 1))
    assert past_end.returncode == 1 and f"there is no version {len(history) + 1}" in past_end.stderr
    text = cli(env, "replay", case_id)
    assert text.returncode == 0 and "Safeguarding history" in text.stdout and "agree" in text.stdout
    both = cli(env, "replay", case_id, "--version", "2", "--as-of", "2026-01-01T00:00:00")
    assert both.returncode == 2 and "not both" in both.stderr


def test_a_second_runner_of_a_projection_exits_with_a_clear_message(store) -> None:
    settings, env = store
    assert cli(env, "demo").returncode == 0
    first = start(env, "projections", "run")
    try:
        # Until it holds every projection's lease (it takes them one after another).
        wait_until(lambda: cli(env, "projections", "status").stdout.count("running") == len(PROJECTIONS), first)
        second = cli(env, "projections", "run", "--name", "caseloads")
        assert second.returncode == 5
        assert "caseloads is already being written by" in second.stderr and "pid" in second.stderr
        # The first one keeps working: a new write is projected promptly.
        with CaseJourney(settings) as app:
            write_synthetic_log(app, 20)
            head = app.recorder.max_notification_id()
        with CaseJourney(settings) as app, ReadModels(app) as models:
            assert models.wait_for(head, timeout=10)
    finally:
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=20)
    assert first.returncode == 0, err
    assert "stopped." in out


def test_a_runner_killed_mid_catch_up_resumes_with_no_gap_and_no_duplicate(store) -> None:
    settings, env = store
    with CaseJourney(settings) as app:
        written = write_synthetic_log(app, 6000)
    runner = start(env, "projections", "run", "--batch-size", "10")
    try:
        wait_until(lambda: (position_of(settings, "safeguarding_history") or 0) > 100, runner)
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=10)
    assert runner.returncode == -signal.SIGKILL
    assert (position_of(settings, "safeguarding_history") or 0) < written  # it really was mid-way
    restarted = cli(env, "projections", "run", "--once", "--batch-size", "50")
    assert restarted.returncode == 0, restarted.stderr
    verify = cli(env, "projections", "verify")
    assert verify.returncode == 0, verify.stdout
    assert verify.stdout.count(f"0 differences at notification {written}") == 4


def test_a_rebuild_killed_mid_way_resumes_to_the_same_result_as_a_clean_rebuild(store) -> None:
    settings, env = store
    with CaseJourney(settings) as app:
        written = write_synthetic_log(app, 6000)
    assert cli(env, "projections", "run", "--once").returncode == 0
    with CaseJourney(settings) as app, ReadModels(app) as models:
        live_before = dump(models, "safeguarding_history")
    rebuild = start(env, "projections", "rebuild", "safeguarding_history", "--batch-size", "10")
    try:
        wait_until(lambda: (built_of(settings, "safeguarding_history@build") or 0) > 100, rebuild)
    finally:
        rebuild.send_signal(signal.SIGKILL)
        rebuild.wait(timeout=10)
    partial = built_of(settings, "safeguarding_history@build")
    assert partial is not None and partial < written  # killed mid-way, its progress committed
    status = cli(env, "projections", "status")
    assert "build in progress" in status.stdout
    resumed = cli(env, "projections", "rebuild", "safeguarding_history")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed an interrupted build" in resumed.stdout
    assert position_of(settings, "safeguarding_history@build") is None
    assert built_of(settings, "safeguarding_history@build") is None
    with CaseJourney(settings) as app, ReadModels(app) as models:
        after_resume = dump(models, "safeguarding_history")
        models.rebuild("safeguarding_history", fresh=True)  # a clean rebuild, from nothing
        clean = dump(models, "safeguarding_history")
    assert after_resume == clean == live_before
    assert len(clean["safeguarding_history"]) > 0


def test_a_rebuild_of_every_projection_killed_again_and_again_ends_equal_to_a_clean_rebuild(store) -> None:
    """kill -9 three times during one rebuild of all four projections in three worker processes:
    the workers die with it (nothing moves after the kill), each restart goes on from the last
    committed batch of each part (progress only grows), and the views swapped in at the end equal
    a clean rebuild from nothing, row for row, in every projection."""
    settings, env = store
    with CaseJourney(settings) as app:
        written = write_synthetic_log(app, 6000)
    assert cli(env, "projections", "run", "--once").returncode == 0
    reached = [0]
    for _kill in range(3):
        rebuild = start(env, "projections", "rebuild", "--batch-size", "10", "--workers", "3")
        try:
            wait_until(lambda: (built_of(settings, "caseloads@build") or 0) > reached[-1] + 100, rebuild)
        finally:
            rebuild.send_signal(signal.SIGKILL)
            rebuild.wait(timeout=10)
        assert rebuild.returncode == -signal.SIGKILL
        built = built_of(settings, "caseloads@build")
        assert built is not None and reached[-1] < built < written  # resumed, still mid-way
        time.sleep(1.0)
        assert built_of(settings, "caseloads@build") == built  # no orphaned worker goes on writing
        reached.append(built)
    resumed = cli(env, "projections", "rebuild")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed an interrupted build" in resumed.stdout
    with CaseJourney(settings) as app, ReadModels(app) as models:
        after_kills = {name: dump(models, name) for name in PROJECTIONS}
        models.rebuild(list(PROJECTIONS), fresh=True)
        clean = {name: dump(models, name) for name in PROJECTIONS}
    assert after_kills == clean
    assert all(any(rows for rows in tables.values()) for tables in clean.values())
