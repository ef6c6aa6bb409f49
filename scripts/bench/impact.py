"""Benchmark: `casejourney impact` over 100k recorded decisions beside a full projection rebuild.

    .venv/bin/python scripts/bench/impact.py                       # 100k decisions on PostgreSQL
    .venv/bin/python scripts/bench/impact.py --decisions 20000     # a quicker look

Done-when of issue 6: the impact assessment completes in under 0.5x the time of a full rebuild of
all projections of the same log, measured in one run. Steps, in a fresh PostgreSQL schema (dropped
afterwards unless --keep):

1. write whole journeys until the log holds the wanted number of referral decisions, with the
   projections benchmark's generator (``scripts/bench/projections.py``: the ten stories cloned as
   new cases, thousands of stored events per transaction through the application's recorder);
2. time ``casejourney projections rebuild`` (every projection, from the whole log) in a process;
3. time ``casejourney impact --candidate docs/examples/candidate-v2-no-significant-threat.toml
   --format json`` in a process: it reads the decisions (and concerns, team moves) by topic;
4. print both times and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from infrastructure.eventstore.application import CaseJourney
from infrastructure.settings import Settings
from scripts.bench.projections import story_template, write_synthetic_log
from scripts.scratch_schema import create_scratch_schema, drop_scratch_schema

ROOT = Path(__file__).resolve().parents[2]
CANDIDATE = ROOT / "docs" / "examples" / "candidate-v2-no-significant-threat.toml"
DECISION_TOPICS = {"casejourney.case:ReferredToSpecialistTeam", "casejourney.case:ReferralNotMade"}


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return took, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CASEJOURNEY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--keep", action="store_true", help="Keep the schema (its name is printed).")
    args = parser.parse_args()

    template = story_template()
    per_template = sum(1 for s in template if s.topic in DECISION_TOPICS)
    events = -(-args.decisions * len(template) // per_template)  # whole journeys, enough decisions

    schema = create_scratch_schema(args.postgres_url, "bench_impact")
    settings = Settings(store="postgres", postgres_url=args.postgres_url, postgres_schema=schema)
    try:
        app = CaseJourney(settings)
        started = time.perf_counter()
        written = write_synthetic_log(app, events, chunk=args.batch_size)
        print(
            f"wrote {written} events ({per_template} decisions per {len(template)} events of the stories)"
            f" in {time.perf_counter() - started:.1f}s into schema {schema}"
        )
        app.close()

        env = {
            **os.environ,
            "CASEJOURNEY_STORE": "postgres",
            "CASEJOURNEY_POSTGRES_URL": args.postgres_url,
            "CASEJOURNEY_POSTGRES_SCHEMA": schema,
            "COLUMNS": "120",
        }
        cli = str(Path(sys.executable).parent / "casejourney")
        rebuild, _ = timed([cli, "projections", "rebuild", "--batch-size", str(args.batch_size)], env)
        print(f"full projection rebuild: {rebuild:.2f}s ({written / rebuild:,.0f} events/s)")
        impact, out = timed([cli, "impact", "--candidate", str(CANDIDATE), "--format", "json"], env)
        counts = json.loads(out)["counts"]
        print(
            f"impact assessment: {impact:.2f}s over {counts['decisions']} recorded decisions"
            f" ({counts['newly_eligible']} newly eligible, {counts['no_longer_eligible']} no longer eligible)"
        )
        ratio = impact / rebuild
        verdict = "OK" if ratio < 0.5 else "NOT MET"
        print(f"ratio impact/rebuild: {ratio:.3f} (target < 0.5): {verdict}")
    finally:
        if not args.keep:
            drop_scratch_schema(args.postgres_url, schema)


if __name__ == "__main__":
    main()
