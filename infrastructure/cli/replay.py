"""`casejourney replay`: an auditor's view of a case as it stood at a moment, from the log itself.

A thin edge over ``infrastructure/audit/replay.py``: parse, call once, print.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import typer
from rich.text import Text

from domain.errors import DomainError
from domain.text import neutralise
from infrastructure.audit.replay import replay_case
from infrastructure.cli.common import console, event_proof, fail, open_app, print_integrity, verified_case
from infrastructure.cli.text import SafeTable, safe
from projections.describe import readable_time, words


def parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--as-of {value!r} is not an ISO 8601 time (e.g. 2026-01-05T10:00:00+00:00)", 2)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def replay(
    ctx: typer.Context,
    case_id: Annotated[UUID, typer.Argument(help="The case to replay.")],
    as_of: Annotated[str | None, typer.Option(help="ISO 8601 time (UTC if no offset is given).")] = None,
    version: Annotated[int | None, typer.Option(min=0, help="Replay the case's first N events.")] = None,
    time: Annotated[str, typer.Option(help="recorded (what the service knew at --as-of) or business.")] = "recorded",
    output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """A case as it stood at a moment: state, team assignment and safeguarding history, from the log."""
    if as_of is not None and version is not None:
        fail("give --as-of or --version, not both", 2)
    if time not in ("recorded", "business"):
        fail("--time must be recorded or business", 2)
    if output not in ("text", "json"):
        fail("--format must be text or json", 2)
    moment = parse_time(as_of) if as_of is not None else None
    with open_app(ctx, reads=True) as app:
        evidence = verified_case(app, ctx.obj, case_id)
        events = evidence.decoded()
        if version is not None and version > len(evidence.events):
            fail(f"case {case_id} has {len(evidence.events)} events: there is no version {version}", 1)
        opened = events[0].timestamp if events else None
        if (
            moment is not None
            and opened is not None
            and moment < (opened if time == "recorded" else events[0].occurred_at)
        ):
            fail(f"case {case_id} did not exist at {readable_time(moment)}: it was opened {readable_time(opened)}", 1)
        try:
            result = replay_case(
                app,
                case_id,
                as_of=moment,
                version=version,
                time_axis=time,  # type: ignore[arg-type]
                events=events,
            )
        except DomainError as exc:
            fail(exc.message)
    if output == "json":
        record = result.as_record()
        record["integrity"] = evidence.as_record()
        json.dump(record, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        if not evidence.ok:
            raise typer.Exit(1)
        return
    console.print(
        f"[bold]Case {case_id}[/] as it stood {result.moment}: version {result.version} of {result.total_versions}"
    )
    state = SafeTable(title="Case state (replayed from the event log)", show_header=False)
    for key, value in result.state.items():
        state.add_row(key.replace("_", " "), _cell(value))
    console.print(state)
    if result.assignment:
        assignment = SafeTable(title="Team assignment", show_header=False)
        for key, value in result.assignment.items():
            assignment.add_row(key.replace("_", " "), _cell(value))
        console.print(assignment)
    history = SafeTable(title="Safeguarding history", show_lines=True)
    history.add_column("v", no_wrap=True, justify="right")
    history.add_column("when, who, what and why", ratio=1, overflow="fold")
    places = {place.row.version: place for place in evidence.events}
    for row in result.history:
        place = places.get(row["case_version"])
        late = " (recorded after the as-of time)" if row.get("recorded_after_as_of") else ""
        history.add_row(
            str(row["case_version"]),
            Text.assemble(
                (neutralise(str(row["what"])), "bold"),
                f"\noccurred {readable_time(row['occurred_at'])}",
                (f"\nrecorded {readable_time(row['recorded_at'])}{late}", "dim"),
                f"\nby {neutralise(str(row['actor_id']))} ({neutralise(str(row['actor_role']).replace('_', ' '))})",
                *((("\nwhy: ", "dim"), neutralise(str(row["why"]))) if row["why"] else ()),
                *(((f"\n{event_proof(place)}", "dim"),) if place is not None else ()),
            ),
        )
    console.print(history)
    for check in result.checks:
        console.print(f"check: {safe(check)}")
    print_integrity(evidence)


def _cell(value: object) -> str:
    """A replayed value as people read it: a time in the one format, everything else in words."""
    return readable_time(value) if isinstance(value, datetime) else words(value)


def register(cli: typer.Typer) -> None:
    cli.command()(replay)
