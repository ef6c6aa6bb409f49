"""The `casejourney` console script, run as a newcomer would: a real process, a real store."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest

from infrastructure.eventstore.application import CaseJourney
from infrastructure.settings import Settings
from tests.conftest import cli_env, postgres_settings

CLI = shutil.which("casejourney", path=str(Path(sys.executable).parent)) or "casejourney"


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def unboxed(output: str) -> str:
    """A rich table's text with its rules and padding gone, so a cell wrapped over lines reads whole."""
    return re.sub(r"\s+", " ", re.sub(r"[│┃┏┓┗┛┡┩└┘┳┻╇┼━─]", " ", output))


def test_demo_then_history_work_with_no_configuration(tmp_path: Path) -> None:
    demo = run("demo", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / "var" / "casejourney.sqlite").exists()  # the embedded default, created on first use
    assert "Removal refused while doubt remains" in unboxed(demo.stdout)
    assert "case_closed" in demo.stdout  # story 10's later command, refused as the rules require

    history = run("history", "--scenario", "5", "--format", "json", cwd=tmp_path)
    assert history.returncode == 0, history.stderr
    events = json.loads(history.stdout)
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "RemovalRefused"
    assert "escalation is still open" in events[-1]["why"]
    assert all(e["actor"]["id"] and e["actor"]["role"] for e in events)

    text = run("history", events[0]["case_id"], cwd=tmp_path)
    assert text.returncode == 0 and "removal refused" in text.stdout
    assert "Safety marker on pwc-s5: domestic_abuse" in text.stdout  # the person's marker is shown with her case


def test_a_second_demo_replays_instead_of_duplicating(tmp_path: Path) -> None:
    assert run("demo", cwd=tmp_path).returncode == 0
    before = json.loads(run("history", "--scenario", "8", "--format", "json", cwd=tmp_path).stdout)
    again = run("demo", cwd=tmp_path)
    assert again.returncode == 0
    assert "replayed, nothing appended twice" in again.stdout
    after = json.loads(run("history", "--scenario", "8", "--format", "json", cwd=tmp_path).stdout)
    assert len(after) == len(before)


def test_errors_are_sentences_not_stack_traces(tmp_path: Path) -> None:
    CaseJourney(Settings(sqlite_path=tmp_path / "x.sqlite")).close()  # a store, with no such case in it
    unknown = run("--sqlite-path", str(tmp_path / "x.sqlite"), "history", str(uuid4()))
    assert unknown.returncode == 1
    assert "No case with id" in unknown.stderr
    assert "Traceback" not in unknown.stderr + unknown.stdout
    bad_store = run("--store", "oracle", "demo")
    assert bad_store.returncode == 2 and "invalid settings" in bad_store.stderr
    assert "Traceback" not in bad_store.stderr


@pytest.mark.postgres
def test_demo_and_history_on_postgres_by_settings_alone(pg_schema: str) -> None:
    env = cli_env(postgres_settings(pg_schema))
    demo = run("demo", env=env)
    assert demo.returncode == 0, demo.stderr
    assert "PostgreSQL" in demo.stdout
    history = run("history", "--scenario", "1", "--format", "json", env=env)
    assert json.loads(history.stdout)[3]["type"] == "ReferredToSpecialistTeam"
