"""What people read in an 80-column terminal: `demo`, `history` and `replay` keep every id, code
and time whole, never wider than the terminal, times in the one format."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import timedelta
from pathlib import Path

from infrastructure.cli.common import demo_case_id
from infrastructure.eventstore.application import CaseJourney
from infrastructure.samples.scenarios import demo_start
from infrastructure.settings import Settings
from projections.describe import readable_time
from tests.e2e.test_cli import CLI

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def at_80(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env={**os.environ, "COLUMNS": "80"}
    )
    assert done.returncode == 0, done.stderr
    assert all(len(line) <= 80 for line in done.stdout.splitlines()), done.stdout
    return done.stdout


def test_demo_history_and_replay_read_whole_at_80_columns(tmp_path: Path) -> None:
    demo = at_80("demo", cwd=tmp_path)
    for n in range(1, 11):
        assert str(demo_case_id(n)) in demo, n  # whole, on one line: the next command needs it
    for line in demo.splitlines():  # no cell folded inside an id
        assert not re.search(r"[0-9a-f]{8}-[0-9a-f-]{1,27}(?:…|\s*│\s*$)", line) or UUID_RE.search(line), line

    case = str(demo_case_id(5))
    history = at_80("history", case, cwd=tmp_path)
    events = len(re.findall(r"^│\s+\d+ │", history, re.M))
    assert events >= 10
    assert len(re.findall(r"occurred \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", history)) == events
    assert len(re.findall(r"recorded \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", history)) == events
    assert "(specialist caseworker)" in history  # not broken mid-token
    assert "Collect and Pay" in history and "collect_and_pay" not in history  # in words, not the code
    assert "removal refused; the case stays with the Specialist Case Team" in history

    # The demo's stories begin on a Monday about 40 weeks before today: the times follow from it.
    with CaseJourney(Settings(sqlite_path=tmp_path / "var" / "casejourney.sqlite")) as app:
        start = demo_start(app, demo_case_id(1))
    as_of, team_since = start + timedelta(hours=4, minutes=30), start + timedelta(hours=3)
    replay = at_80("replay", case, "--as-of", as_of.isoformat(), "--time", "business", cwd=tmp_path)
    assert f"as it stood at {readable_time(as_of)} in business time" in " ".join(replay.split())
    for repr_only in ("True", "False", "None", "+00:00", "{}", "[]"):
        assert repr_only not in replay, repr_only
    assert re.search(rf"team since\s+│ {readable_time(team_since)}", replay), replay

    # projections run --once reports in words, and projections status fits, at 80 columns.
    ran = at_80("projections", "run", "--once", cwd=tmp_path)
    assert "caught up:" in ran and "events read" in ran and "{" not in ran and "'" not in ran, ran
    assert len(re.findall(r"at position \d+", ran)) == 4, ran
    at_80("projections", "status", cwd=tmp_path)
