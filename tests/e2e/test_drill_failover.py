"""The failover drill, as an operator runs it (issue 15, item 3): a primary and a synchronous
standby of its own, clients appending, the primary stopped hard, the standby promoted; every
acknowledged command is on the new primary, none twice, and the chain verifies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_clusters

pytestmark = pytest.mark.postgres

DRILL = Path(__file__).parents[2] / "scripts" / "drill_failover.py"


def test_a_hard_failover_to_a_synchronous_standby_loses_and_doubles_nothing() -> None:
    require_clusters()
    done = subprocess.run(
        [sys.executable, str(DRILL), "--clients", "4", "--seconds", "5", "--fail-after", "2", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["replication"] == "synchronous" and report["acknowledged"] > 50
    assert (report["lost"], report["duplicated"], report["chain_verifies"]) == (0, 0, True), report
    assert len(report["first_acknowledgement_after_failover_seconds"]) == 4  # every client came back
    assert "standby promoted" in done.stderr and "Traceback" not in done.stderr
