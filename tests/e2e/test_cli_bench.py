"""`casejourney bench`, smallest run: every part runs end to end and reports what it claims."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import run


def test_a_tiny_bench_on_sqlite_reports_every_part_beside_its_baseline(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = run(
        "bench",
        "--stores",
        "sqlite",
        "--rounds",
        "1",
        "--per-client",
        "10",
        "--sizes",
        "3000",
        "--evidence-events",
        "3000",
        "--json",
        str(out),
    )
    # A figure that misses its target is named and fails the run (a tiny run may miss some: then
    # the exit says so; it never passes quietly over a miss).
    missed = "target missed:" in done.stdout
    assert done.returncode == (1 if missed else 0), done.stdout + done.stderr
    assert "Commands/s at N concurrent client processes" in done.stdout
    assert "Sealed by default over payload encryption off" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["failures"] == {}
    sqlite = figures["stores"]["sqlite"]
    for n in ("1", "4", "8"):
        row = sqlite["commands"]["clients"][n]
        assert all(
            row[v]["ops_per_s_median"] > 0 and row[v]["client_rss_mb"] > 0 for v in ("raw", "plain", "ours", "clear")
        )
        assert row["ours_over_raw"] > 0 and row["sealed_over_clear"] > 0
    (point,) = sqlite["scale"]["points"]
    assert point["events_stored"] >= 3000
    # The rebuild read the whole log: what was stored, plus the events the timed commands appended.
    assert point["rebuild"]["events"] == point["events_stored"] + point["commands"]["commands"]
    assert point["rebuild"]["rebuild_events_per_s"] > 0 and point["rebuild"]["scan_events_per_s"] > 0
    for size in ("50", "500"):
        replay = point["replay"][size]
        assert 0 < replay["now"]["p50_ms"] <= replay["now"]["p99_ms"]
        assert replay["as_of"]["p50_ms"] > 0 and replay["version"]["p50_ms"] > 0
    evidence = sqlite["evidence"]
    assert "Evidence (issue 14)" in done.stdout
    assert evidence["commands"]["with_ops_per_s"] > 0 and evidence["commands"]["without_ops_per_s"] > 0
    assert evidence["tree"]["events"] >= 3000 and evidence["proof"]["tree_size"] == evidence["tree"]["events"]
    assert 0 < evidence["proof"]["p50_ms"] <= evidence["proof"]["p99_ms"]
    assert evidence["bundle"]["case_events"] == 500 and evidence["bundle"]["p50_ms"] > 0
    assert evidence["verify_bundle"]["p50_ms"] > 0 and evidence["verify"]["whole_store_s"] > 0
