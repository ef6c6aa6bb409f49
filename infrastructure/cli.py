"""`casejourney`: the command line of the case-journey service.

Settings are built once here, from options and CASEJOURNEY_* variables, and passed in. Every
command turns its input into one call on the application and prints domain refusals as sentences,
never as stack traces.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn
from uuid import UUID, uuid5

import typer
from eventsourcing.persistence import MapperDeserialisationError, PersistenceError
from pydantic import ValidationError
from rich.console import Console

from domain.case.commands import CASE_ID_NAMESPACE
from domain.errors import DomainError
from infrastructure.application import CaseJourney
from infrastructure.cli_text import SafeTable, safe
from infrastructure.http.cli import register as register_http_commands
from infrastructure.scenarios import SCENARIOS, STORY_NAMESPACE, demo_start, run_scenario, seed_demo_roster
from infrastructure.settings import Settings
from projections.describe import as_record, what, why

cli = typer.Typer(
    name="casejourney",
    help="Event-sourced case journey of a child maintenance service, safety first.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# Piped output (CI logs, files) gets a wide table instead of rich's 80-column default.
console = Console() if sys.stdout.isatty() else Console(width=160)
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {safe(message)}")
    raise typer.Exit(code)


@cli.callback()
def configure(
    ctx: typer.Context,
    store: Annotated[str | None, typer.Option(help="sqlite (default) or postgres.")] = None,
    sqlite_path: Annotated[Path | None, typer.Option(help="SQLite file (created on first use).")] = None,
    postgres_url: Annotated[str | None, typer.Option(help="postgresql://user:password@host:port/db")] = None,
) -> None:
    """Settings come from these options, then CASEJOURNEY_* environment variables, then defaults."""
    overrides: dict[str, Any] = {
        k: v for k, v in {"store": store, "sqlite_path": sqlite_path, "postgres_url": postgres_url}.items() if v
    }
    try:
        ctx.obj = Settings(**overrides)
    except ValidationError as exc:
        fail(f"invalid settings:\n{exc}", 2)


def open_app(ctx: typer.Context) -> CaseJourney:
    settings: Settings = ctx.obj
    try:
        return CaseJourney(settings)
    except (PersistenceError, OSError) as exc:
        fail(f"cannot open the event store ({settings.describe_store()}): {exc}", 3)


def demo_case_id(number: int) -> UUID:
    """The case id the demo gives to scenario ``number`` (its first command opens the case)."""
    return uuid5(CASE_ID_NAMESPACE, str(uuid5(STORY_NAMESPACE, f"scenario-{number}-step-1")))


@cli.command()
def demo(ctx: typer.Context) -> None:
    """Write the sample journeys (every story of SCENARIOS.md) to the store and summarise them."""
    app = open_app(ctx)
    table = SafeTable(title=f"Sample journeys in {ctx.obj.describe_store()}")
    for column in ("#", "story", "case id", "events", "team now", "named caseworker", "last event"):
        table.add_column(column, no_wrap=column in {"story", "case id"})
    refusals: list[str] = []
    replayed = 0
    with app:
        joined = seed_demo_roster(app)
        start = demo_start(app, demo_case_id(1))  # as stored, so a second run replays the same commands
        for scenario in SCENARIOS:
            try:
                journey = run_scenario(app, scenario, start)
            except DomainError as exc:
                fail(f"scenario {scenario.number} ({scenario.title}) was refused: {exc.message}")
            assert journey.case_id is not None
            replayed += sum(r.replayed for r in journey.results)
            case = app.get_case(journey.case_id)
            table.add_row(
                str(scenario.number),
                scenario.title,
                str(journey.case_id),
                str(case.version),
                str(case.team) + (" (closed)" if case.closed else ""),
                case.named_caseworker_id or "-",
                what(app.case_events(journey.case_id)[-1]),
            )
            refusals += [f"story {scenario.number}: [bold]{r.code}[/] - {safe(r.message)}" for r in journey.refusals]
    console.print(table)
    if joined:
        console.print(
            f"Staff roster: {joined} memberships recorded (casejourney staff list shows who is on which team)."
        )
    for line in refusals:
        console.print(f"Refused, as the rules require: {line}")
    if replayed:
        console.print(f"[dim]{replayed} commands were already in the store: replayed, nothing appended twice.[/]")
    console.print("Next: [bold]casejourney history CASE_ID[/] (or [bold]--scenario N[/]) to read a case's events.")


@cli.command()
def history(
    ctx: typer.Context,
    case_id: Annotated[UUID | None, typer.Argument(help="The case to show.")] = None,
    scenario: Annotated[int | None, typer.Option(help="Show the demo's case for story N instead.")] = None,
    output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """A case's events in order: when, who, what and why."""
    if (case_id is None) == (scenario is None):
        fail("give a CASE_ID or --scenario N", 2)
    if scenario is not None:
        if not 1 <= scenario <= len(SCENARIOS):
            fail(f"--scenario must be 1 to {len(SCENARIOS)}", 2)
        case_id = demo_case_id(scenario)
    assert case_id is not None
    with open_app(ctx) as app:
        try:
            events = app.case_events(case_id)
        except DomainError as exc:
            fail(exc.message)
        first = events[0]
        parties = [getattr(first, "receiving_parent_id", ""), getattr(first, "paying_parent_id", "")]
        markers = {party: app.safety_markers(party) for party in parties if party}
    if output == "json":
        json.dump([as_record(e) for e in events], sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    if output != "text":
        fail("--format must be text or json", 2)
    table = SafeTable(title=f"History of case {case_id}", show_lines=True)
    for column in ("v", "occurred", "recorded", "actor", "what", "why"):
        table.add_column(column, overflow="fold")
    for event in events:
        table.add_row(
            str(event.originator_version),
            event.occurred_at.strftime("%Y-%m-%d %H:%M"),
            event.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            f"{event.actor_id}\n({event.actor_role})",
            what(event),
            why(event),
        )
    console.print(table)
    for party, marks in markers.items():
        for kind, where in marks.items():
            console.print(
                f"[bold red]Safety marker[/] on {safe(party)}: {safe(kind)}, set on case {safe(where['case_id'])}"
                f" at {safe(where['set_at'])}"
                " (it follows the person into every case until a recorded override lifts it)"
            )


@cli.command()
def events(
    markdown: Annotated[bool, typer.Option("--markdown", help="The catalogue as docs/events.md.")] = False,
) -> None:
    """The event contract: every event's topic, version and payload schema (JSON by default)."""
    from infrastructure.event_catalogue import event_schemas
    from infrastructure.event_catalogue import markdown as as_markdown

    if markdown:
        sys.stdout.write(as_markdown())
    else:
        json.dump(event_schemas(), sys.stdout, indent=2)
        sys.stdout.write("\n")


# Read models and auditor replay (infrastructure/cli_projections.py), registered here at the end
# because that module reuses open_app, fail and console from this one.
from infrastructure.cli_projections import projections_cli, replay  # noqa: E402

cli.add_typer(projections_cli, name="projections")
cli.command()(replay)


# The HTTP API's commands (serve, token) live beside the API: infrastructure/http/cli.py.
register_http_commands(cli)

# Tamper evidence and keys (verify, digest, keys): infrastructure/cli_integrity.py.
from infrastructure.cli_integrity import register as register_integrity_commands  # noqa: E402

register_integrity_commands(cli)

# Policy review and audit (policies, impact, report, deadlines, export): infrastructure/cli_reports.py.
from infrastructure.cli_reports import register as register_report_commands  # noqa: E402

register_report_commands(cli)

# The staff roster and break-glass alerts (staff, alerts): infrastructure/cli_staff.py.
from infrastructure.cli_staff import register as register_staff_commands  # noqa: E402

register_staff_commands(cli)

# Benchmark (bench): infrastructure/cli_bench.py.
from infrastructure.cli_bench import register as register_bench_commands  # noqa: E402

register_bench_commands(cli)


def main() -> None:
    try:
        cli()
    except MapperDeserialisationError as exc:
        err.print(f"[bold red]error:[/] a stored event cannot be read: {safe(exc)}")
        sys.exit(4)
    except (PersistenceError, OSError) as exc:
        err.print(f"[bold red]error:[/] the event store failed: {safe(exc)}")
        sys.exit(3)
    except Exception as exc:
        if os.environ.get("CASEJOURNEY_DEBUG"):
            raise
        err.print(f"[bold red]internal error[/] ({type(exc).__name__}): {safe(exc)}")
        err.print("This is a bug; run again with CASEJOURNEY_DEBUG=1 to see where it happened.")
        sys.exit(70)


if __name__ == "__main__":
    main()
