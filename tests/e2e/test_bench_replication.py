"""`casejourney bench --parts replication` (issue 15, item 4): a hot standby's cost and lag, on a
primary and a synchronous standby of the run's own, beside a baseline of the same run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import require_clusters
from tests.e2e.test_cli import run

pytestmark = pytest.mark.postgres


def test_the_bench_measures_a_standby_against_none_in_the_same_run(tmp_path: Path) -> None:
    require_clusters()
    out = tmp_path / "bench.json"
    done = run("bench", "--stores", "postgres", "--parts", "replication", "--rounds", "1", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "A hot standby" in done.stdout and "lag an auditor sees" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["failures"] == {}
    report = figures["replication"]
    for n in (1, 8):
        row = report[f"commands_per_s_{n}_clients"]
        assert row["no_standby_waited_for"] > 0 and row["synchronous_standby"] > 0
        assert row["ratio"] == round(row["synchronous_standby"] / row["no_standby_waited_for"], 2)
    assert report["replay_ms"]["primary"] > 0 and report["replay_ms"]["standby"] > 0
    for mode in ("synchronous", "asynchronous"):
        assert 0 < report[f"lag_ms_{mode}"]["median"] <= report[f"lag_ms_{mode}"]["p95"]
