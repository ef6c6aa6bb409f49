"""`casejourney staff` (the roster) and `casejourney alerts` (break-glass reads to review).

The roster's changes are made by a team leader (``--by``, recorded on the event); listing it is
for anyone running the service. Alerts are reviewed by an ACS senior leader or an auditor, never
by the person who broke the glass; the review is recorded in the access log.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import typer
from pydantic import ValidationError

from domain.access.aggregate import ReviewOutcome
from domain.errors import DomainError
from domain.staff.commands import JoinTeam, LeaveTeam
from domain.values import Actor, Role, StaffTeam
from infrastructure.access.roster import roster_changes, roster_rows
from infrastructure.cli.common import console, fail, open_app, require_store
from infrastructure.cli.text import SafeTable, safe
from infrastructure.eventstore.schema import service_mode

TEAMS = ", ".join(str(t) for t in StaffTeam)


def register(cli: typer.Typer) -> None:
    staff_cli = typer.Typer(help="The staff roster: who is a current member of which team.", no_args_is_help=True)
    cli.add_typer(staff_cli, name="staff")

    def team_of(value: str) -> StaffTeam:
        try:
            return StaffTeam(value)
        except ValueError:
            fail(f"--team must be one of: {TEAMS}", 2)

    def change(
        ctx: typer.Context,
        command_class: type[JoinTeam] | type[LeaveTeam],
        staff_id: str,
        team: str,
        reason: str,
        by: str,
    ) -> None:
        try:
            command = command_class(staff_id=staff_id, team=team_of(team), reason=reason)
            leader = Actor(by, Role.TEAM_LEADER)
        except (ValidationError, ValueError) as exc:
            fail(f"invalid roster change: {exc}", 2)
        with open_app(ctx, create=True) as app:
            try:
                result = app.manage_roster(command, leader)
            except DomainError as exc:
                fail(exc.message)
        verb = "joined" if command_class is JoinTeam else "left"
        again = " (already recorded: nothing appended)" if result.replayed else ""
        console.print(f"{safe(staff_id)} {verb} {safe(team)}, recorded by {safe(by)}{again}.")

    @staff_cli.command("join")
    def join(
        ctx: typer.Context,
        staff_id: Annotated[str, typer.Argument(help="The person who joins.")],
        team: Annotated[str, typer.Option(help=f"One of: {TEAMS}.")],
        reason: Annotated[str, typer.Option(help="Why (recorded).")],
        by: Annotated[str, typer.Option(help="The team leader recording it (recorded; never the person).")],
    ) -> None:
        """A person becomes a current member of a team."""
        change(ctx, JoinTeam, staff_id, team, reason, by)

    @staff_cli.command("leave")
    def leave(
        ctx: typer.Context,
        staff_id: Annotated[str, typer.Argument(help="The person who leaves.")],
        team: Annotated[str, typer.Option(help=f"One of: {TEAMS}.")],
        reason: Annotated[str, typer.Option(help="Why (recorded).")],
        by: Annotated[str, typer.Option(help="The team leader recording it (recorded; never the person).")],
    ) -> None:
        """A person stops being a member of a team: from now on no rule treats them as one."""
        change(ctx, LeaveTeam, staff_id, team, reason, by)

    @staff_cli.command("list")
    def list_staff(
        ctx: typer.Context,
        team: Annotated[str | None, typer.Option(help=f"Only this team: {TEAMS}.")] = None,
        output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    ) -> None:
        """Who is a current member of which team, since when and on whose word."""
        with open_app(ctx) as app:
            rows = roster_rows(app, team_of(team) if team else None)
        if output == "json":
            json.dump(rows, sys.stdout, indent=2)
            sys.stdout.write("\n")
            return
        table = SafeTable(title="Staff roster")
        for column in ("team", "staff id", "since", "added by", "reason"):
            table.add_column(column, overflow="fold", no_wrap=column in {"team", "staff id", "since"})
        for r in rows:
            table.add_row(r["team"], r["staff_id"], r["since"][:10], r["added_by"], r["reason"])
        console.print(table)

    @staff_cli.command("changes")
    def changes(
        ctx: typer.Context,
        staff_id: Annotated[str | None, typer.Argument(help="Only this person's changes.")] = None,
    ) -> None:
        """Every join and leave, in the order recorded."""
        with open_app(ctx) as app:
            rows = roster_changes(app, staff_id)
        table = SafeTable(title="Changes to the staff roster")
        for column in ("v", "occurred", "change", "staff id", "team", "by", "reason"):
            table.add_column(column, overflow="fold")
        for r in rows:
            table.add_row(
                str(r["version"]), r["occurred_at"][:16], r["change"], r["staff_id"], r["team"], r["by"], r["reason"]
            )
        console.print(table)

    alerts_cli = typer.Typer(
        help="Break-glass reads: alerts an ACS senior leader or an auditor reviews.", no_args_is_help=True
    )
    cli.add_typer(alerts_cli, name="alerts")

    def access_log(ctx: typer.Context) -> Any:
        from infrastructure.access.log import AccessLog

        require_store(ctx.obj)
        return AccessLog(ctx.obj, schema=service_mode(ctx.obj, writes=False))

    @alerts_cli.command("list")
    def list_alerts(
        ctx: typer.Context,
        open_only: Annotated[bool, typer.Option("--open", help="Only those not yet reviewed.")] = False,
        output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    ) -> None:
        """Every break-glass read: who read what of which case without a relationship, why, and its review."""
        log = access_log(ctx)
        try:
            alerts = [a.as_dict() for a in log.alerts(open_only=open_only)]
        finally:
            log.close()
        if output == "json":
            json.dump(alerts, sys.stdout, indent=2)
            sys.stdout.write("\n")
            return
        table = SafeTable(title="Break-glass alerts" + (" (open)" if open_only else ""))
        for column in ("alert", "raised", "case", "by", "read", "reason", "review"):
            table.add_column(column, overflow="fold")
        for a in alerts:
            review = a["review"]
            table.add_row(
                a["alert_id"],
                a["raised_at"][:16].replace("T", " "),
                a["case_id"],
                f"{a['actor']['id']} ({a['actor']['role']})",
                a["read"],
                a["reason"],
                "open" if review is None else f"{review['outcome']} by {review['by']}: {review['note']}",
            )
        console.print(table)

    @alerts_cli.command("review")
    def review(
        ctx: typer.Context,
        alert_id: Annotated[UUID, typer.Argument(help="The alert.")],
        outcome: Annotated[str, typer.Option(help="justified or not_justified")],
        note: Annotated[str, typer.Option(help="What the review found (recorded).")],
        by: Annotated[str, typer.Option(help="Your id (recorded).")],
        role: Annotated[str, typer.Option(help="acs_senior_leader or auditor")] = "auditor",
    ) -> None:
        """Review a break-glass read (never your own): the review is recorded in the access log."""
        try:
            reviewer = Actor(by, Role(role))
            verdict = ReviewOutcome(outcome)
        except ValueError as exc:
            fail(f"invalid review: {exc}", 2)
        log = access_log(ctx)
        try:
            log.review_alert(alert_id, reviewer, outcome=verdict, note=note, at=datetime.now(UTC))
        except DomainError as exc:
            fail(exc.message)
        finally:
            log.close()
        console.print(f"alert {alert_id} reviewed by {safe(by)}: {verdict}.")
