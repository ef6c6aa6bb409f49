"""`casejourney retention`: what is due for erasure and why, erasing it, and legal holds.

``due`` lists what is due or held (``--all``: everything) of the three kinds of record (a case's
free text, a person's personal data, a month of read records) with its status and the reason;
``apply --actor A`` erases those due, each recorded (who, why), with progress, and can be run
again at any time (it completes what a killed run left). ``hold``/``lift``/``holds`` record and
show legal holds on a person or a case; a standing hold keeps the person's data and the free text of
the case (a hold on a person keeps the text of her cases too).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from domain.errors import DomainError
from domain.retention.commands import LiftLegalHold, PlaceLegalHold
from domain.values import Actor, Role
from infrastructure.audit.retention import KINDS, RetentionItem, apply_retention, retention_items
from infrastructure.cli.common import console, err, fail, open_app
from infrastructure.cli.text import SafeTable, safe

HOLD_ROLES = "acs_senior_leader or team_leader"


def _time(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not an ISO 8601 time (e.g. 2027-01-05T10:00:00+00:00)", 2)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _actor(by: str, role: str) -> Actor:
    try:
        return Actor(by, Role(role))
    except ValueError:
        fail(f"--role must be a role ({HOLD_ROLES} may hold), not {role!r}", 2)


def _by_kind(items: list[RetentionItem]) -> str:
    """``"3 case, 2 person"``: how many items of each kind (kinds with none left out)."""
    return ", ".join(f"{n} {k}" for k in KINDS if (n := sum(i.kind == k for i in items)))


def register(cli: typer.Typer) -> None:
    group = typer.Typer(
        help="Retention by policy: what is due for erasure, erasing it, legal holds.", no_args_is_help=True
    )
    cli.add_typer(group, name="retention")

    @group.command()
    def due(
        ctx: typer.Context,
        output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
        all_: Annotated[bool, typer.Option("--all", help="Everyone, not only those due or held.")] = False,
    ) -> None:
        """What is due for erasure now, and why; held items are shown as held."""
        if output not in ("table", "json"):
            fail("--format must be table or json", 2)
        with open_app(ctx) as app:
            items = retention_items(app)
            settings = app.settings
        shown = [i for i in items if all_ or i.status in ("due", "held")]
        if output == "json":
            sys.stdout.write(json.dumps([i.as_dict() for i in shown], indent=2) + "\n")
            return
        console.print(
            "Retention: a case's free text "
            f"{settings.retention_case_text_months} months after closure; personal data "
            f"{settings.retention_person_months} months after the last case closed; read records "
            f"{settings.retention_read_audit_months} months after their month."
        )
        if not shown:
            console.print("Nothing is due or held." + ("" if all_ else " (--all lists everything.)"))
        # One table per kind, the id whole on one line (the next command needs it); the due date is in "why".
        for kind, title in (("case", "Cases' free text"), ("person", "People"), ("reads", "Months of read records")):
            rows = [i for i in shown if i.kind == kind]
            if rows:
                table = SafeTable(title=title, title_justify="left")
                table.add_column("case" if kind == "case" else "person" if kind == "person" else "month", no_wrap=True)
                table.add_column("status", no_wrap=True)
                table.add_column("why")
                for i in rows:
                    table.add_row(i.subject, i.status, i.why)
                console.print(table)
        for kind, noun in (("case", "cases' free text"), ("person", "people"), ("reads", "months of reads")):
            of_kind = [i for i in items if i.kind == kind]
            counts = {s: sum(i.status == s for i in of_kind) for s in ("due", "held", "kept", "erased")}
            console.print(f"{noun}: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + f" of {len(of_kind)}.")

    @group.command()
    def apply(
        ctx: typer.Context,
        actor: Annotated[str, typer.Option(help="Who runs it (recorded on each erasure, as a backend service).")],
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask (needed when not at a terminal).")] = False,
    ) -> None:
        """Erase what is due now (case text, people, months of reads), each recorded; safe to run again."""
        try:
            who = Actor(actor, Role.BACKEND_SERVICE)
        except ValueError as exc:
            fail(f"invalid --actor: {exc}", 2)
        with open_app(ctx) as app:
            due_now = [i for i in retention_items(app) if i.status == "due"]
            if not due_now:
                console.print("Nothing is due for erasure.")
                return
            if not yes:
                if not sys.stdin.isatty():
                    fail(f"{len(due_now)} due: run again with --yes to erase them (retention due lists them).", 2)
                if not typer.confirm(f"Erase what is due ({_by_kind(due_now)})?", default=False):
                    fail("Nothing was erased.", 1)
            with Progress(TextColumn("erasing"), BarColumn(), MofNCompleteColumn(), console=err) as bar:
                task = bar.add_task("erase", total=len(due_now))

                def step(done: int, total: int, item: RetentionItem) -> None:
                    bar.update(task, completed=done)

                result = apply_retention(app, who, progress=step)
        console.print(
            f"Erased {_by_kind(result.erased) or 'nothing'}; {len(result.held)} held; {len(result.failed)} refused."
        )
        for case_id, holds in result.texts_kept.items():
            console.print(f"  kept under hold: the free text of case {case_id} ({safe('; '.join(holds))})")
        for subject, why in result.failed.items():
            err.print(f"  {safe(subject)}: {safe(why)}")
        if result.failed:
            raise typer.Exit(1)

    @group.command()
    def hold(
        ctx: typer.Context,
        kind: Annotated[str, typer.Argument(help="person or case")],
        subject: Annotated[str, typer.Argument(help="The party id or the case id.")],
        reason: Annotated[str, typer.Option(help="Why (the complaint, the legal case); recorded.")],
        by: Annotated[str, typer.Option(help="Who places it.")],
        role: Annotated[str, typer.Option(help=f"Their role: {HOLD_ROLES}.")],
        until: Annotated[str | None, typer.Option(help="When it ends (ISO 8601); none: until lifted.")] = None,
    ) -> None:
        """Place a legal hold: retention does not erase the person (or the parties of the case) while it stands."""
        try:
            command = PlaceLegalHold(
                kind=kind, subject=subject, reason=reason, until=_time(until, "--until") if until else None
            )
        except ValidationError as exc:
            fail(f"invalid hold: {exc.errors()[0]['msg']}", 2)
        with open_app(ctx) as app:
            try:
                hold_id = app.place_legal_hold(command, _actor(by, role))
            except DomainError as exc:
                fail(exc.message)
        console.print(f"Hold {hold_id} placed on {safe(kind)} {safe(subject)} by {safe(by)}.")

    @group.command()
    def lift(
        ctx: typer.Context,
        kind: Annotated[str, typer.Argument(help="person or case")],
        subject: Annotated[str, typer.Argument(help="The party id or the case id.")],
        hold_id: Annotated[UUID, typer.Argument(help="The hold (retention holds lists them).")],
        reason: Annotated[str, typer.Option(help="Why it is lifted; recorded.")],
        by: Annotated[str, typer.Option(help="Who lifts it.")],
        role: Annotated[str, typer.Option(help=f"Their role: {HOLD_ROLES}.")],
    ) -> None:
        """Lift a standing legal hold (recorded, with who and why)."""
        try:
            command = LiftLegalHold(kind=kind, subject=subject, hold_id=hold_id, reason=reason)
        except ValidationError as exc:
            fail(f"invalid lift: {exc.errors()[0]['msg']}", 2)
        with open_app(ctx) as app:
            try:
                app.lift_legal_hold(command, _actor(by, role))
            except DomainError as exc:
                fail(exc.message)
        console.print(f"Hold {hold_id} on {safe(kind)} {safe(subject)} lifted by {safe(by)}.")

    @group.command()
    def holds(
        ctx: typer.Context,
        kind: Annotated[str, typer.Argument(help="person or case")],
        subject: Annotated[str, typer.Argument(help="The party id or the case id.")],
    ) -> None:
        """The holds standing on a person or a case now."""
        with open_app(ctx) as app:
            found = app.legal_holds(kind, subject)
            standing = found.standing_at(app.clock()) if found else {}
        if not standing:
            console.print(f"No hold stands on {safe(kind)} {safe(subject)}.")
        for hold_id, h in standing.items():
            until = f" until {h['until']:%Y-%m-%d %H:%M}" if h["until"] else " until lifted"
            console.print(f"{hold_id}: {safe(h['reason'])} (by {safe(h['placed_by'])}{until})")
