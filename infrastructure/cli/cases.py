"""`casejourney demo`, `history` and `events`: the sample journeys, a case's events, the event contract."""

from __future__ import annotations

import json
import re
import sys
from typing import Annotated
from uuid import UUID

import typer
from eventsourcing.persistence import MapperDeserialisationError
from rich.text import Text

from domain.case.aggregate import Case
from domain.errors import DomainError
from domain.text import neutralise
from infrastructure.cli.common import (
    console,
    demo_case_id,
    err,
    event_proof,
    fail,
    open_app,
    print_integrity,
    verified_case,
)
from infrastructure.cli.text import SafeTable, safe
from infrastructure.eventstore.catalogue import event_schemas
from infrastructure.eventstore.catalogue import markdown as as_markdown
from infrastructure.samples.scenarios import SCENARIOS, demo_start, run_scenario, seed_demo_roster
from projections.describe import as_record, readable_time, what, why


def _kind(event: Case.Event) -> str:
    """An event's kind in words (``EntryRecordedInError``: "entry recorded in error"): short, no ids."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", type(event).__name__).lower()


def register(cli: typer.Typer) -> None:
    @cli.command()
    def demo(ctx: typer.Context) -> None:
        """Write the sample journeys (every story of SCENARIOS.md) to the store and summarise them."""
        app = open_app(ctx, create=True)
        table = SafeTable(title=f"Sample journeys in {ctx.obj.describe_store()}")
        # three columns, so an 80-column terminal keeps every case id whole (the next command needs it)
        table.add_column("#", justify="right")
        table.add_column("case id", no_wrap=True, min_width=36)
        table.add_column("story, and the case now", ratio=1, overflow="fold")
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
                team = str(case.team).replace("_", " ") + (" (closed)" if case.closed else "")
                table.add_row(
                    str(scenario.number),
                    str(journey.case_id),
                    Text.assemble(
                        (neutralise(scenario.title), "bold"),
                        f"\n{case.version} events; {team};"
                        f" named caseworker {neutralise(case.named_caseworker_id or '-')}",
                        ("\nlast: ", "dim"),
                        _kind(app.case_events(journey.case_id)[-1]),
                    ),
                )
                refusals += [
                    f"story {scenario.number}: [bold]{r.code}[/] - {safe(r.message)}" for r in journey.refusals
                ]
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
        with open_app(ctx, reads=True) as app:
            evidence = verified_case(app, ctx.obj, case_id)
            events = evidence.decoded()
            first = events[0] if events else None
            parties = [getattr(first, "receiving_parent_id", ""), getattr(first, "paying_parent_id", "")]
            try:
                markers = {party: app.safety_markers(party) for party in parties if party}
            except MapperDeserialisationError:  # an altered concern stops the markers' follower: said below
                markers = {}
                err.print(
                    "[bold red]Safety markers cannot be shown[/]: an altered event stops the log's marker follower;"
                    " treat every party of this case as protected until `casejourney verify` is clean"
                )
        if output == "json":
            records = []
            for place in evidence.events:
                record = as_record(place.event) if place.event is not None else {"version": place.row.version}
                record.update(position=place.row.position, leaf_hash=place.leaf_hash.hex(), proved=place.included)
                if place.decode_problem:
                    record["problem"] = place.decode_problem
                records.append(record)
            json.dump(records, sys.stdout, indent=2, default=str)
            sys.stdout.write("\n")
            if not evidence.ok:
                raise typer.Exit(1)
            return
        if output != "text":
            fail("--format must be text or json", 2)
        # two columns: the place in the log, then the event as a paragraph, so an 80-column
        # terminal wraps between words and never inside an id, a code or a time
        table = SafeTable(title=f"History of case {case_id}", show_lines=True)
        table.add_column("v", no_wrap=True, justify="right")
        table.add_column("when, who, what and why", ratio=1, overflow="fold")
        corrections = {
            e.corrected_version: e.originator_version for e in events if isinstance(e, Case.EntryRecordedInError)
        }
        for place in evidence.events:
            event = place.event
            where = str(place.row.version)
            if event is None:
                table.add_row(
                    where,
                    Text.assemble(
                        ("CANNOT BE DECODED", "bold red"),
                        "\n",
                        neutralise(place.decode_problem or ""),
                        (f"\n{event_proof(place)}", "dim"),
                    ),
                )
                continue
            reason = why(event)
            corrected_by = corrections.get(event.originator_version)
            table.add_row(
                where,
                Text.assemble(
                    (neutralise(what(event)), "bold"),
                    f"\noccurred {readable_time(event.occurred_at)}",
                    (f"\nrecorded {readable_time(event.timestamp)}", "dim"),
                    f"\nby {neutralise(event.actor_id)} ({neutralise(event.actor_role.replace('_', ' '))})",
                    *((("\nwhy: ", "dim"), neutralise(reason)) if reason else ()),
                    *(
                        ((f"\nrecorded in error: corrected by event {corrected_by}", "bold yellow"),)
                        if corrected_by
                        else ()
                    ),
                    (f"\n{event_proof(place)}", "dim"),
                ),
            )
        console.print(table)
        for party, marks in markers.items():
            for kind, marked in marks.items():
                console.print(
                    f"[bold red]Safety marker[/] on {safe(party)}: {safe(kind)}, set on case {safe(marked['case_id'])}"
                    f" at {safe(readable_time(marked['set_at']))}"
                    " (it follows the person into every case until a recorded override lifts it)"
                )
        print_integrity(evidence)

    @cli.command()
    def events(
        markdown: Annotated[bool, typer.Option("--markdown", help="The catalogue as docs/events.md.")] = False,
    ) -> None:
        """The event contract: every event's topic, version and payload schema (JSON by default)."""
        if markdown:
            sys.stdout.write(as_markdown())
        else:
            json.dump(event_schemas(), sys.stdout, indent=2)
            sys.stdout.write("\n")
