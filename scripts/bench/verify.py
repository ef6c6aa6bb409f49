"""Benchmark: `casejourney verify` (the hash chain walk) beside a raw ordered scan of the same log.

    .venv/bin/python scripts/bench/verify.py                    # 200k events on PostgreSQL
    .venv/bin/python scripts/bench/verify.py --events 1000000

Writes a synthetic log in a fresh PostgreSQL schema (dropped afterwards) with the projections
benchmark's writer (real stored events of the ten stories, cloned; chained by the store as they are
written), then times: a raw ordered scan of the rows the verifier reads (notification id, case,
version, topic, state, chain hash) with plain psycopg, and `verify_log` over the recorder's own
row reader. Target of issue 5: >= 100k events/s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.integrity import verify_log
from infrastructure.settings import Settings
from scripts.bench.projections import write_synthetic_log
from scripts.scratch_schema import create_scratch_schema, drop_scratch_schema

TARGET = 100_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CASEJOURNEY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    schema = create_scratch_schema(args.postgres_url, "bench_verify")
    try:
        app = CaseJourney(Settings(store="postgres", postgres_url=args.postgres_url, postgres_schema=schema))
        started = time.perf_counter()
        written = write_synthetic_log(app, args.events)
        print(f"wrote {written:,} chained events in {time.perf_counter() - started:.1f}s")

        with psycopg.connect(args.postgres_url) as conn, conn.cursor(name="scan", binary=True) as cur:
            cur.itersize = 10_000
            started = time.perf_counter()
            cur.execute(
                f"SELECT notification_id, originator_id, originator_version, topic, state, chain_hash"
                f' FROM "{schema}".casejourney_events ORDER BY notification_id'
            )
            scanned = sum(1 for _ in cur)
            scan_rate = scanned / (time.perf_counter() - started)
        print(f"raw ordered scan (psycopg, binary, rows discarded): {scanned:,} rows, {scan_rate:,.0f} rows/s")

        started = time.perf_counter()
        result = verify_log(app.recorder.chain_rows())  # type: ignore[attr-defined]
        rate = result.checked / (time.perf_counter() - started)
        app.close()
        verdict = "meets" if rate >= TARGET else "MISSES"
        print(
            f"verify: {result.checked:,} events, {'OK' if result.ok else 'BROKEN'}, {rate:,.0f} events/s"
            f" = {rate / scan_rate:.2f}x the raw scan; target >= {TARGET:,}/s: {verdict}"
        )
        return 0 if result.ok and result.checked == written else 1
    finally:
        drop_scratch_schema(args.postgres_url, schema)


if __name__ == "__main__":
    raise SystemExit(main())
