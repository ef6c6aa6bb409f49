"""The benchmark, outside the product: ``python -m scripts.bench [options]`` (``make bench``).

Commands/s at 1, 4, 8 clients beside raw INSERT+COMMIT and the plain ``eventsourcing``
application; rebuild vs raw scan; auditor replay p50/p99; a scale curve; peak RSS of each part;
the auditor's evidence: tree, proofs, bundles (``scripts/bench/runner.py``; the workloads are
``commands.py``, ``projections.py`` and ``evidence.py`` beside it).
``casejourney bench`` is a thin door to this module, kept for those who learnt it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from scripts.bench import runner

console = Console()
bench_cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def fail(message: str, code: int = 1) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@bench_cli.command()
def bench(
    full: Annotated[bool, typer.Option("--full", help="Add 1M events to the scale curve (long).")] = False,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the figures here.")] = None,
    stores: Annotated[str, typer.Option(help="Comma-separated: postgres,sqlite.")] = "postgres,sqlite",
    postgres_url: Annotated[
        str | None, typer.Option(help="Server for the PostgreSQL part (a fresh schema, dropped after).")
    ] = None,
    rounds: Annotated[int, typer.Option(min=1, help="Interleaved rounds; medians are reported.")] = 5,
    per_client: Annotated[int, typer.Option(min=10, help="Timed commands per client per measurement.")] = 400,
    sizes: Annotated[
        str | None, typer.Option(help="Scale curve sizes, e.g. 10000,100000 (default; --full adds 1000000).")
    ] = None,
    parts: Annotated[
        str,
        typer.Option(
            help="commands,scale,evidence (the default), and replication: a hot standby's cost and lag, on"
            " PostgreSQL clusters of the run's own (needs root)."
        ),
    ] = "commands,scale,evidence",
    evidence_events: Annotated[
        int, typer.Option(min=1000, help="Events in the log of the evidence part (issue 14: 1M).")
    ] = 1_000_000,
    check_targets: Annotated[
        bool,
        typer.Option(
            "--check-targets/--no-check-targets",
            help="Exit 1 when a figure misses its target (a tiny run's figures are not the targets' scale).",
        ),
    ] = True,
) -> None:
    """Commands/s at 1, 4, 8 clients beside raw INSERT+COMMIT and plain eventsourcing; rebuild vs raw scan;
    auditor replay p50/p99; a scale curve; peak RSS of each part. See BENCHMARKS.md."""
    chosen = [s.strip() for s in stores.split(",") if s.strip()]
    if not chosen or set(chosen) - {"postgres", "sqlite"}:
        fail("--stores takes postgres and/or sqlite", 2)
    wanted_parts = tuple(p.strip() for p in parts.split(",") if p.strip())
    if not wanted_parts or set(wanted_parts) - {"commands", "scale", "evidence", "replication"}:
        fail("--parts takes commands, scale, evidence and/or replication", 2)
    if sizes:
        try:
            scale = tuple(int(x) for x in sizes.split(","))
        except ValueError:
            fail("--sizes takes comma-separated integers", 2)
    else:
        scale = runner.FULL_SIZES if full else runner.DEFAULT_SIZES
    cfg = runner.BenchConfig(
        stores=chosen,
        full=full,
        postgres_url=postgres_url or os.environ.get("CASEJOURNEY_BENCH_POSTGRES_URL", runner.DEFAULT_POSTGRES_URL),
        rounds=rounds,
        per_client=per_client,
        sizes=scale,
        parts=wanted_parts,
        evidence_events=evidence_events,
    )
    out = runner.run(cfg, console.log)
    if "replication" in wanted_parts:
        out["replication"] = replication_part(rounds, console.log, out["failures"])
    for table in runner.tables(out):
        console.print(table)
    if out.get("replication"):
        console.print(replication_table(out["replication"]))
    m = out["machine"]
    console.print(
        f"machine: {m['nproc']} CPUs, {m['memory_total']} memory, PostgreSQL {m['postgres']}, SQLite {m['sqlite']};"
        f" load average {out['load_average_before']} before, {out['load_average_after']} after;"
        f" {out['seconds']}s in all"
    )
    if json_path:
        json_path.write_text(json.dumps(out, indent=2, default=str) + "\n")
        console.print(f"wrote {json_path}")
    for store, error in out["failures"].items():
        console.print(f"[bold red]{store}: FAILED[/] {error}")
    missed = missed_targets(out)
    for store, figure in missed:
        console.print(f"[bold red]{store}: target missed:[/] {figure}")
    if out["failures"] or (check_targets and missed):
        raise typer.Exit(1)


def replication_part(rounds: int, log: Any, failures: dict[str, str]) -> dict[str, Any] | None:
    """A hot standby's figures (``scripts/bench_replication.py --own-clusters``): 1 s per rate per round."""
    from scripts.bench_replication import on_own_clusters

    log("replication: a primary and a synchronous standby of this run's own")
    try:
        return on_own_clusters(seconds=float(max(1, rounds)))
    except Exception as exc:  # no server binaries, not root: the other figures still stand
        failures["replication"] = f"{type(exc).__name__}: {exc}"
        return None


def replication_table(report: dict[str, Any]) -> Any:
    from rich.table import Table

    t = Table(title="A hot standby (PostgreSQL clusters of the run's own, fsync off): cost and lag")
    for col in ("figure", "baseline", "with the standby", "ratio"):
        t.add_column(col, justify="left" if col == "figure" else "right")
    for n in (1, 8):
        row = report[f"commands_per_s_{n}_clients"]
        t.add_row(
            f"commands/s, {n} client(s), synchronous standby vs none",
            f"{row['no_standby_waited_for']:,}",
            f"{row['synchronous_standby']:,}",
            f"{row['ratio']:.2f}x",
        )
    r = report["replay_ms"]
    t.add_row("a replay, standby vs primary (ms)", str(r["primary"]), str(r["standby"]), f"{r['ratio']:.2f}x")
    for mode in ("synchronous", "asynchronous"):
        lag = report[f"lag_ms_{mode}"]
        t.add_row(f"lag an auditor sees, {mode} (median / p95 ms)", "-", f"{lag['median']} / {lag['p95']}", "-")
    return t


def missed_targets(out: dict[str, Any]) -> list[tuple[str, str]]:
    """(store, figure) of every figure of the run that misses its target (BENCHMARKS.md)."""
    from scripts.bench.evidence import verdicts

    missed = []
    for store, res in out["stores"].items():
        for n, row in res.get("commands", {}).get("clients", {}).items():
            if row["sealed_over_clear"] < 0.9:
                missed.append((store, f"sealed over clear at {n} client(s): {row['sealed_over_clear']:.2f}x < 0.9x"))
        if "evidence" in res:
            missed += [(store, f"{figure}: {value}") for figure, value, _, ok in verdicts(res["evidence"]) if not ok]
    return missed


if __name__ == "__main__":
    bench_cli()
