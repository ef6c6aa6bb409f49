"""`casejourney projections run|rebuild|verify|status`: the read models, for operators.

Thin edges over ``infrastructure.readmodels.runner`` and ``infrastructure.audit.replay``: parse, call
once, print; operator errors (a second runner, a stopped projection, a schema to rebuild) come out
as sentences with a non-zero exit code, never as stack traces.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from infrastructure.cli.common import console, err, fail, open_app, output_format, say_unavailable
from infrastructure.cli.text import SafeTable
from infrastructure.readmodels.errors import LeaseHeld, ProjectionError
from infrastructure.readmodels.models import DEFAULT_BATCH, ReadModels
from infrastructure.readmodels.registry import PROJECTIONS
from infrastructure.readmodels.runner import ProjectionRunner

projections_cli = typer.Typer(
    help="Read models: keep them caught up, rebuild them from the log, verify them, show their status.",
    no_args_is_help=True,
)

#: Exit codes an operator's script can tell apart.
EXIT_DIFFERENCES, EXIT_STOPPED, EXIT_LEASE_HELD = 1, 4, 5


def _names(name: str | None) -> list[str]:
    if name is None:
        return list(PROJECTIONS)
    if name not in PROJECTIONS:
        fail(f"unknown projection {name!r}; known: {', '.join(PROJECTIONS)}", 2)
    return [name]


@contextmanager
def _models(ctx: typer.Context, *, reads: bool = False) -> Iterator[ReadModels]:
    with open_app(ctx, reads=reads) as app:
        try:
            models = ReadModels(app, app.settings)
        except Exception as exc:  # a database we cannot reach or create tables in
            fail(f"cannot open the read models ({ctx.obj.describe_store()}): {exc}", 3)
        try:
            yield models
        except LeaseHeld as exc:
            fail(str(exc), EXIT_LEASE_HELD)
        except ProjectionError as exc:
            fail(str(exc), EXIT_STOPPED)
        finally:
            models.close()


WORKERS = typer.Option(
    min=1,
    max=16,
    help="Processes that build in parallel, each a range of case ids (default, from 20k events: one per"
    " core, up to 4 on PostgreSQL and 2 on SQLite). A resumed build keeps the number it started with.",
)


@contextmanager
def _progress(label: str) -> Iterator[Any]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@projections_cli.command()
def status(
    ctx: typer.Context,
    output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Each projection's position in the log, its lag, and whether it is running, stopped or stale."""
    output = output_format(output)
    with _models(ctx, reads=True) as models:
        rows = models.status()
    if output == "json":
        sys.stdout.write(json.dumps([_status_json(s) for s in rows], indent=2) + "\n")
        return
    table = SafeTable(title=f"Projections in {ctx.obj.describe_store()}")
    for column in ("projection", "position", "head", "lag", "runner", "schema", "updated", "problem"):
        table.add_column(column, overflow="fold")
    for s in rows:
        table.add_row(
            s.name,
            str(s.position),
            str(s.head),
            str(s.lag),
            "running" if s.running else "-",
            "ok" if s.schema_ok else "rebuild needed",
            s.updated_at.isoformat(timespec="seconds") if s.updated_at else "-",
            (s.error or "") + _build_note(s),
        )
    console.print(table)


def _status_json(s: Any) -> dict[str, Any]:
    build = None
    if s.build_progress is not None:
        build = {"events_built": s.build_progress[0], "events_total": s.build_progress[1]}
    elif s.build_position is not None:
        build = {"built_up_to": s.build_position}
    return {
        "projection": s.name,
        "position": s.position,
        "head": s.head,
        "lag": s.lag,
        "running": s.running,
        "schema_ok": s.schema_ok,
        "updated_at": s.updated_at.isoformat() if s.updated_at else None,
        "error": s.error,
        "build_in_progress": build,
    }


def _build_note(s: Any) -> str:
    if s.build_progress is not None:
        done, total = s.build_progress
        return f" build in progress: {done:,} of {total:,} events built (in case order)"
    if s.build_position is not None:
        return f" build in progress: built up to notification {s.build_position}, catching up"
    return ""


@projections_cli.command()
def rebuild(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One projection; all when omitted.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Events per transaction.")] = DEFAULT_BATCH,
    fresh: Annotated[bool, typer.Option(help="Discard an interrupted build instead of resuming it.")] = False,
    workers: Annotated[int | None, WORKERS] = None,
) -> None:
    """Rebuild from the whole log into new tables, then swap them in (readers never see half a view)."""
    names = _names(name)
    with _models(ctx) as models:
        # All in one pass over the log: each event is read and decoded once for every projection.
        with _progress(f"rebuilding {', '.join(names)}") as update:
            position, resumed = models.rebuild(
                names, batch_size=batch_size, fresh=fresh, progress=update, workers=workers
            )
        how = " (resumed an interrupted build)" if resumed else ""
        for projection in names:
            console.print(f"{projection}: rebuilt to notification {position} and swapped in{how}.")


@projections_cli.command()
def verify(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One projection; all when omitted.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = DEFAULT_BATCH,
    max_listed: Annotated[int, typer.Option(help="Differences listed per projection.")] = 20,
    workers: Annotated[int | None, WORKERS] = None,
) -> None:
    """Rebuild into scratch tables and compare with the live ones: 0 differences expected."""
    total = 0
    with _models(ctx) as models:
        for projection in _names(name):
            with _progress(f"verifying {projection}") as update:
                result = models.verify(
                    projection, batch_size=batch_size, max_listed=max_listed, progress=update, workers=workers
                )
            total += result.differences
            console.print(
                f"{projection}: {result.differences} differences at notification {result.position}", markup=False
            )
            for line in result.listed:
                console.print(f"  {line}", markup=False)
    if total:
        raise typer.Exit(EXIT_DIFFERENCES)


@projections_cli.command()
def run(
    ctx: typer.Context,
    name: Annotated[
        list[str] | None, typer.Option("--name", help="Projections to run (repeat); all by default.")
    ] = None,
    once: Annotated[bool, typer.Option(help="Catch up to the head of the log, then exit.")] = False,
    batch_size: Annotated[int, typer.Option(min=1)] = DEFAULT_BATCH,
    wait_for_lease: Annotated[float, typer.Option(help="Seconds to wait if another runner holds a lease.")] = 0.0,
) -> None:
    """Keep the projections caught up with the log (wakes on NOTIFY on PostgreSQL; polls on SQLite)."""
    names = [n for each in name or [None] for n in _names(each)]  # type: ignore[list-item]
    with _models(ctx) as models:
        runner = ProjectionRunner(models, names, batch_size=batch_size, lease_wait=wait_for_lease)
        if once:
            with runner.leases():
                processed = models.catch_up(names, batch_size=batch_size)
            console.print(f"caught up: {processed} events read; {_at(models.positions(names))}")
            return
        signal.signal(signal.SIGTERM, lambda *_: runner.stop.set())
        console.print(f"running {', '.join(names)} on {ctx.obj.describe_store()} (Ctrl-C to stop)")
        try:
            runner.run(
                on_batch=lambda n: console.print(f"processed {n} events; {_at(models.positions(names))}"),
                on_outage=lambda exc, seconds: _outage(models, names, exc, seconds),
            )
        except KeyboardInterrupt:
            runner.stop.set()
        console.print("stopped.")


def _outage(models: ReadModels, names: list[str], exc: BaseException | None, seconds: float) -> None:
    """What the runner says through a database outage: on stderr, each try and the return."""
    if exc is not None:
        say_unavailable(exc, seconds)
    else:
        err.print(f"reconnected after {seconds:.1f}s; resuming: {_at(models.positions(names))}")


def _at(positions: dict[str, int]) -> str:
    """Where each read model stands, as words: "team_assignment at position 98, ..."."""
    return ", ".join(f"{name} at position {at}" for name, at in positions.items()) or "no read model"
