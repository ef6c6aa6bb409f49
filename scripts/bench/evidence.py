"""Benchmark of the evidence an auditor gets (issue 14), each figure beside a baseline of the same run.

    .venv/bin/python -m scripts.bench.evidence                      # both stores, 1M events
    .venv/bin/python -m scripts.bench.evidence --stores sqlite --events 200000
    .venv/bin/python -m scripts.bench --parts evidence              # the same, inside `casejourney bench`

On a fresh store (temporary file or PostgreSQL schema): 50 prepared cases and one case of 500
events written through the application, then a synthetic log grown to ``--events`` (real stored
events of the ten stories, cloned, encrypted, chained). Then, in one process:

- **commands with the tree maintained**: the same commands, rounds alternating, with and without a
  checkpoint follower in the process (``make_checkpoint``: grow the Merkle tree, sign) running every
  0.1 s, 36,000 times as often as the service's default; target >= 0.9x;
- **growing the tree**: events/s of ``MerkleLog.grow`` over the whole log, beside a raw ordered
  scan of the same rows (the follower's floor);
- **an inclusion proof** of a random event in the log (leaf index + proof, from the stored tree):
  p50/p99 over 1,000 events, beside one raw primary-key read of an event row; target p99 < 5 ms;
- **a bundle of the 500-event case** (``case_bundle``: chain, decoding, proofs, views, seal; the
  checkpoint already covers it), beside reading and decoding the case's events; target < 100 ms;
- **verify-bundle** of that bundle (the service's ``check_bundle`` and the standalone script),
  beside parsing its JSON; target < 50 ms;
- **verify** of the whole store (``verify_store``: chain, Merkle roots, checkpoints, access log,
  heads, keys) beside the chain-only walk (``verify_log``) it grew from.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from infrastructure.access.log import AccessLog
from infrastructure.audit.bundle import case_bundle, check_bundle, dump
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.checkpoints import checkpoint_signer, make_checkpoint, trusted_verifier
from infrastructure.eventstore.integrity import verify_log
from infrastructure.eventstore.merkle_log import MerkleLog
from infrastructure.eventstore.store_check import verify_store
from infrastructure.settings import Settings
from scripts import verify_bundle as standalone
from scripts.bench import commands as bc
from scripts.bench.projections import write_synthetic_log

DEFAULT_POSTGRES_URL = os.environ.get("CASEJOURNEY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
FOLLOW_EVERY = 0.1  # seconds between checkpoints while timed: 36,000 times the service's default (3600 s)
TARGETS = {"commands_ratio": 0.9, "proof_p99_ms": 5.0, "bundle_ms": 100.0, "verify_bundle_ms": 50.0}
READER = {"id": "aud-bench", "role": "auditor", "purpose": "benchmark", "read_at": "2026-01-01T00:00:00+00:00"}


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _times(func: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        func()
        out.append(time.perf_counter() - t)
    return out


def _ms(values: Sequence[float]) -> dict[str, float]:
    return {"p50_ms": round(_pct(values, 0.5) * 1e3, 3), "p99_ms": round(_pct(values, 0.99) * 1e3, 3)}


class _Follower:
    """A checkpoint follower in this process, every ``every`` seconds (as ``serve``'s ticker)."""

    def __init__(self, app: CaseJourney, settings: Settings, every: float) -> None:
        self.app, self.settings, self.every = app, settings, every
        self.stop = threading.Event()
        self.made = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        signer = checkpoint_signer(self.settings)
        while not self.stop.wait(self.every):
            make_checkpoint(self.app.recorder, signer, self.settings.checkpoint_origin, self.app.clock())
            self.made += 1

    def __enter__(self) -> _Follower:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _commands(app: CaseJourney, settings: Settings, pool: list[Any], rounds: int, n: int) -> dict[str, Any]:
    rates: dict[str, list[float]] = {"without": [], "with": []}
    made = 0
    i = 0
    for _ in range(rounds):
        for variant in ("without", "with"):
            follower = _Follower(app, settings, FOLLOW_EVERY) if variant == "with" else None
            if follower:
                follower.__enter__()
            t = time.perf_counter()
            for _ in range(n):
                app.execute(bc.timed_command(pool[i % len(pool)], i), bc.CASEWORKER)
                i += 1
            rates[variant].append(n / (time.perf_counter() - t))
            if follower:
                follower.__exit__()
                made += follower.made
    without, with_ = statistics.median(rates["without"]), statistics.median(rates["with"])
    return {
        "without_ops_per_s": round(without),
        "with_ops_per_s": round(with_),
        "rounds": {k: [round(x) for x in v] for k, v in rates.items()},
        "ratio": round(with_ / without, 3),
        "checkpoints_signed_while_timed": made,
    }


def _raw_row_reader(settings: Settings) -> tuple[Callable[[int], Any], Callable[[], None]]:
    """One event row by its position, with the store's own driver and nothing else."""
    if settings.store == "sqlite":
        conn = sqlite3.connect(settings.sqlite_path)
        query = "SELECT originator_id, originator_version, topic, state FROM stored_events WHERE rowid = ?"
        return (lambda p: conn.execute(query, (p,)).fetchone()), conn.close
    pg = psycopg.connect(settings.postgres_url or "", autocommit=True)
    query = (
        "SELECT originator_id, originator_version, topic, state FROM"
        f' "{settings.postgres_schema}".casejourney_events WHERE notification_id = %s'
    )
    return (lambda p: pg.execute(query, (p,)).fetchone()), pg.close


def _raw_scan(settings: Settings) -> float:
    """Rows/s of a raw ordered scan of what the tree's follower reads."""
    columns = "originator_id, originator_version, topic, state"
    t = time.perf_counter()
    if settings.store == "sqlite":
        with sqlite3.connect(settings.sqlite_path) as conn:
            n = sum(1 for _ in conn.execute(f"SELECT rowid, {columns} FROM stored_events ORDER BY rowid"))
    else:
        with psycopg.connect(settings.postgres_url or "") as conn, conn.cursor(name="scan", binary=True) as cur:
            cur.itersize = 5000
            cur.execute(
                f'SELECT notification_id, {columns} FROM "{settings.postgres_schema}".casejourney_events'
                " ORDER BY notification_id"
            )
            n = sum(1 for _ in cur)
    return n / (time.perf_counter() - t)


def bench_evidence_part(
    store: str, postgres_url: str, events: int, log: Callable[[str], None], *, rounds: int = 5, commands: int = 1000
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with bc.store_context(store, postgres_url) as ctx:
        settings: Settings = ctx["settings"]
        app = CaseJourney(settings)
        access = AccessLog(settings, text_keys=app.text_keys)
        try:
            pool = bc.prepare_cases(app, 50, 10)
            out["commands"] = _commands(app, settings, pool, rounds=rounds, n=commands)
            c = out["commands"]
            log(f"{store}: commands {c['with_ops_per_s']}/s with the follower, {c['without_ops_per_s']}/s without")

            [case_id] = bc.prepare_cases(app, 1, 10)
            version = app.get_case(case_id).version
            for i in range(500 - version):
                app.execute(bc.timed_command(case_id, i), bc.CASEWORKER)
            have = app.recorder.max_notification_id() or 0
            t = time.perf_counter()
            write_synthetic_log(app, max(0, events - have), prefix="evidence")
            stored = app.recorder.max_notification_id() or 0
            log(f"{store}: the log holds {stored:,} events ({time.perf_counter() - t:.0f}s to write)")

            tree = MerkleLog(app.recorder)
            t = time.perf_counter()
            grown = tree.grow()
            grow_s = time.perf_counter() - t
            grow_rate = grown / grow_s if grow_s else 0
            scan_rate = _raw_scan(settings)
            out["tree"] = {
                "events": stored,
                "grow_events_per_s": round(grow_rate),
                "raw_scan_rows_per_s": round(scan_rate),
                "grow_over_scan": round(grow_rate / scan_rate, 3),
            }
            log(f"{store}: the tree grew {grown:,} leaves at {grow_rate:,.0f}/s (raw scan {scan_rate:,.0f}/s)")
            make_checkpoint(app.recorder, checkpoint_signer(settings), settings.checkpoint_origin, app.clock())
            size, _ = tree.head()

            rng = random.Random(14)
            positions = [rng.randint(1, stored) for _ in range(1000)]
            read_row, close_raw = _raw_row_reader(settings)

            def proof_of(position: int) -> None:
                index = tree.leaf_index(position)
                assert index is not None
                tree.inclusion_proof(index, size)

            proofs, rows = [], []
            for position in positions:  # alternating, so drift on the machine touches both alike
                t = time.perf_counter()
                proof_of(position)
                proofs.append(time.perf_counter() - t)
                t = time.perf_counter()
                read_row(position)
                rows.append(time.perf_counter() - t)
            close_raw()
            out["proof"] = {**_ms(proofs), "raw_row": _ms(rows), "log_events": stored, "tree_size": size}
            log(f"{store}: inclusion proof p50 {out['proof']['p50_ms']} ms, p99 {out['proof']['p99_ms']} ms")

            made = case_bundle(app, settings, access, case_id, reader=READER)
            assert made["body"]["integrity"]["verified"], made["body"]["integrity"]["summary"]
            bundle_times = _times(lambda: case_bundle(app, settings, access, case_id, reader=READER), 7)
            decode_times = _times(lambda: app.case_events(case_id), 7)
            out["bundle"] = {
                "case_events": len(made["body"]["events"]),
                "bytes": len(dump(made)),
                "p50_ms": round(statistics.median(bundle_times) * 1e3, 1),
                "read_and_decode_case_p50_ms": round(statistics.median(decode_times) * 1e3, 1),
            }
            out["bundle"]["over_read_and_decode"] = round(
                out["bundle"]["p50_ms"] / out["bundle"]["read_and_decode_case_p50_ms"], 2
            )
            log(f"{store}: a 500-event bundle in {out['bundle']['p50_ms']} ms")

            text = dump(made)
            trusted = trusted_verifier(settings)
            key = standalone.parse_verifier_key(trusted.text())
            ours = _times(lambda: check_bundle(text, trusted), 15)
            theirs = _times(lambda: standalone.check(text, key), 15)
            parse = _times(lambda: json.loads(text), 15)
            out["verify_bundle"] = {
                "p50_ms": round(statistics.median(ours) * 1e3, 2),
                "standalone_p50_ms": round(statistics.median(theirs) * 1e3, 2),
                "json_parse_p50_ms": round(statistics.median(parse) * 1e3, 2),
            }
            log(f"{store}: verify-bundle {out['verify_bundle']['p50_ms']} ms")

            t = time.perf_counter()
            chain = verify_log(app.recorder.chain_rows())  # type: ignore[attr-defined]
            chain_s = time.perf_counter() - t
            t = time.perf_counter()
            whole = verify_store(app, access, trusted)
            whole_s = time.perf_counter() - t
            assert chain.ok, chain.first_break
            out["verify"] = {
                "events": chain.checked,
                # The synthetic clones carry sealed text naming keys of the store they were cloned
                # from: the walk does all its work and reports those keys missing, as it must.
                "whole_store_finding": whole.first_problem() or "verified",
                "chain_only_s": round(chain_s, 2),
                "whole_store_s": round(whole_s, 2),
                "whole_over_chain_only": round(whole_s / chain_s, 2),
            }
            log(f"{store}: verify {whole_s:.1f}s (chain only {chain_s:.1f}s)")
        finally:
            access.close()
            app.close()
    return out


def verdicts(res: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(figure, value, baseline, meets its target)."""
    c, p, b, v, w = res["commands"], res["proof"], res["bundle"], res["verify_bundle"], res["verify"]
    return [
        (
            "commands with the tree's follower",
            f"{c['ratio']:.2f}x ({c['with_ops_per_s']:,}/s; {c['checkpoints_signed_while_timed']} checkpoints signed)",
            f"{c['without_ops_per_s']:,}/s without; target >= 0.9x",
            c["ratio"] >= TARGETS["commands_ratio"],
        ),
        (
            f"inclusion proof, {p['log_events']:,}-event log",
            f"p50 {p['p50_ms']} ms, p99 {p['p99_ms']} ms",
            f"raw row read p99 {p['raw_row']['p99_ms']} ms; target p99 < 5 ms",
            p["p99_ms"] < TARGETS["proof_p99_ms"],
        ),
        (
            f"bundle of a {b['case_events']}-event case",
            f"{b['p50_ms']} ms ({b['bytes'] // 1024} KiB)",
            f"read + decode the case {b['read_and_decode_case_p50_ms']} ms; target < 100 ms",
            b["p50_ms"] < TARGETS["bundle_ms"],
        ),
        (
            "verify-bundle of it",
            f"{v['p50_ms']} ms (standalone {v['standalone_p50_ms']} ms)",
            f"JSON parse {v['json_parse_p50_ms']} ms; target < 50 ms",
            v["p50_ms"] < TARGETS["verify_bundle_ms"],
        ),
        (
            f"verify, whole store ({w['events']:,} events)",
            f"{w['whole_store_s']} s = {w['whole_over_chain_only']}x",
            f"chain only {w['chain_only_s']} s",
            True,
        ),
        (
            "growing the tree",
            f"{res['tree']['grow_events_per_s']:,} events/s = {res['tree']['grow_over_scan']}x",
            f"raw ordered scan {res['tree']['raw_scan_rows_per_s']:,} rows/s",
            True,
        ),
    ]


def table(out: dict[str, Any]) -> Any:
    from rich.table import Table

    t = Table(title="Evidence (issue 14): each figure beside its baseline, same run")
    for col in ("store", "figure", "measured", "baseline and target", "meets"):
        t.add_column(col)
    for store, res in out.items():
        for figure, value, baseline, ok in verdicts(res):
            t.add_row(store, figure, value, baseline, "yes" if ok else "[bold red]NO[/]")
        t.add_section()
    return t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--stores", default="postgres,sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from rich.console import Console

    console = Console()
    out = {s: bench_evidence_part(s, args.postgres_url, args.events, console.log) for s in args.stores.split(",")}
    console.print(table(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0 if all(ok for res in out.values() for *_, ok in verdicts(res)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
