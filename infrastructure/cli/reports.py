"""`casejourney policies`, `impact`, `report`, `deadlines` and `export`: policy review and audit.

All of them read the log by topic (``infrastructure/eventstore/log_reader.py``) and never replay a case, except
``export`` (one case's own stream). ``deadlines tick`` is the one that writes: a missed target and
its escalation, as the backend service ``svc-deadline-clock``.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from contextlib import nullcontext
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer

from domain.case.aggregate import Case
from domain.errors import DomainError
from domain.text import meaningful
from domain.values import Actor, Role
from infrastructure.cli.common import console, err, fail, open_app, say_unavailable
from infrastructure.cli.text import SafeTable, safe
from infrastructure.eventstore.policies import SHIPPED_POLICY_DIR, PolicyFileError, load_policies, load_policy
from infrastructure.files import write_private
from projections.describe import readable_hours, readable_time


def parse_when(value: str | None, *, end: bool = False) -> datetime | None:
    """A date (``2026-01-31``: the whole day; as ``--to`` it includes that day) or an ISO datetime."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
        return at if at.tzinfo else at.replace(tzinfo=UTC)
    start = datetime.combine(day, dtime(0), tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def _write_csv(rows: list[dict[str, Any]], out: Any, fieldnames: list[str]) -> None:
    writer = csv.DictWriter(out, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows(rows)


def register(cli: typer.Typer) -> None:
    # ------------------------------------------------------------------ policies

    policies_cli = typer.Typer(
        help="Eligibility policies: list, show one, explain a case's decisions.", no_args_is_help=True
    )
    cli.add_typer(policies_cli, name="policies")

    def _registry(ctx: typer.Context) -> Any:
        try:
            return load_policies(ctx.obj.policy_dir or SHIPPED_POLICY_DIR)
        except PolicyFileError as exc:
            fail(str(exc), 2)

    @policies_cli.command("list")
    def policies_list(ctx: typer.Context) -> None:
        """Every policy version, its effective date, services and criteria; the one in force now marked."""
        registry = _registry(ctx)
        in_force = registry.in_force(datetime.now(UTC)).version
        table = SafeTable(title=f"Eligibility policies ({ctx.obj.policy_dir or SHIPPED_POLICY_DIR})")
        for column in ("version", "effective from", "services", "criteria", "in force"):
            table.add_column(column)
        for policy in registry._policies:
            table.add_row(
                policy.version,
                policy.effective_from.isoformat(),
                ", ".join(sorted(policy.services)),
                ", ".join(c.code for c in policy.criteria),
                "yes" if policy.version == in_force else "",
            )
        console.print(table)

    @policies_cli.command("show")
    def policies_show(
        ctx: typer.Context,
        version: Annotated[str | None, typer.Argument(help="A version (default: the one in force).")] = None,
        file: Annotated[Path | None, typer.Option(help="Show a policy file instead (e.g. a candidate).")] = None,
    ) -> None:
        """A policy's criteria in words: each criterion and the conditions that must all hold."""
        try:
            policy = load_policy(file) if file else None
        except PolicyFileError as exc:
            fail(str(exc), 2)
        if policy is None:
            registry = _registry(ctx)
            try:
                policy = registry.get(version) if version else registry.in_force(datetime.now(UTC))
            except KeyError:
                fail(f"no policy version {version!r}", 2)
        console.print(
            f"[bold]Policy {policy.version}[/], effective {policy.effective_from.isoformat()},"
            f" for {', '.join(sorted(policy.services))}. A referral is due when ANY criterion is met:"
        )
        for criterion in policy.criteria:
            console.print(f"- [bold]{safe(criterion.code)}[/]: {safe(criterion.description)}")
            for condition in criterion.all_of:
                test = (
                    f"fact {condition.fact} is true"
                    if condition.fact
                    else ("a disclosure of any of: " + ", ".join(sorted(condition.disclosure_of_any)))
                )
                console.print(f"    all of: {safe(condition.code)} ({safe(test)})")

    @policies_cli.command("explain")
    def policies_explain(ctx: typer.Context, case_id: Annotated[UUID, typer.Argument(help="The case.")]) -> None:
        """Each recorded referral decision of a case: outcome, criteria, policy version and facts."""
        with open_app(ctx) as app:
            try:
                events = app.case_events(case_id)
            except DomainError as exc:
                fail(exc.message)
        decisions = [e for e in events if isinstance(e, Case.ReferredToSpecialistTeam | Case.ReferralNotMade)]
        if not decisions:
            console.print(f"Case {case_id} has no referral decision recorded.")
        for e in decisions:
            match e:
                case Case.ReferredToSpecialistTeam():
                    how = "referred at the caseworker's discretion" if e.discretionary else "referred"
                    because = ", ".join(e.criteria_met) or "no criterion met"
                    line = f"{how} because: {because} (policy {e.policy_version})"
                case Case.ReferralNotMade():
                    parts = "; ".join(f"{k}: {', '.join(v)} not met" for k, v in e.unmet.items())
                    line = f"not referred: {parts} (policy {e.policy_version})"
            console.print(
                f"v{e.originator_version} {e.occurred_at:%Y-%m-%d %H:%M} by {safe(e.actor_id)}: [bold]{safe(line)}[/]"
            )
            if e.reason:
                console.print(f"    reason: {safe(e.reason)}")
            console.print(f"    facts: {safe(json.dumps(e.facts, sort_keys=True))}")

    # ------------------------------------------------------------------ impact

    @cli.command()
    def impact(
        ctx: typer.Context,
        candidate: Annotated[Path, typer.Option(help="The candidate policy file (TOML).")],
        date_from: Annotated[str | None, typer.Option("--from", help="Decisions from this date/time (UTC).")] = None,
        date_to: Annotated[
            str | None, typer.Option("--to", help="Up to this date (inclusive) or time (exclusive).")
        ] = None,
        output: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
        chart: Annotated[Path | None, typer.Option(help="Also write a chart: PATH.html (or .svg, .png).")] = None,
    ) -> None:
        """Re-evaluate the recorded referral decisions under a candidate policy: who would change, and why."""
        from infrastructure.audit.html_pages import bar_chart, impact_html
        from infrastructure.audit.impact import IMPACT_COLUMNS, assess

        if output not in ("table", "csv", "json"):
            fail("--format must be table, csv or json", 2)
        try:
            policy = load_policy(candidate)
        except PolicyFileError as exc:
            fail(str(exc), 2)
        started = time.perf_counter()
        with open_app(ctx) as app:
            result = assess(app, policy, period_from=parse_when(date_from), period_to=parse_when(date_to, end=True))
        took = time.perf_counter() - started
        data = result.as_dict()
        if chart is not None:
            page = impact_html(data)
            if chart.suffix == ".svg":
                write_private(
                    chart,
                    bar_chart(
                        f"Impact of {policy.version}",
                        {
                            k: {"newly eligible": v["newly_eligible"], "no longer eligible": v["no_longer_eligible"]}
                            for k, v in data["by_source"].items()
                        },
                    ),
                )
            else:
                _write_page(page, chart, fail)
            err.print(f"chart written to {chart}")
        if output == "json":
            json.dump(data, sys.stdout, indent=2)
            sys.stdout.write("\n")
            return
        if output == "csv":
            _write_csv([d.as_row() for d in result.changes + result.discretionary], sys.stdout, IMPACT_COLUMNS)
            return
        counts = data["counts"]
        console.print(
            f"Candidate [bold]{policy.version}[/] over {counts['decisions']} recorded decisions"
            f" ({counts['cases']} cases,"
            f" {result.events_read} events read in {took:.2f}s): [bold]{counts['newly_eligible']}[/] newly eligible,"
            f" [bold]{counts['no_longer_eligible']}[/] no longer eligible, {counts['unchanged']} unchanged."
        )
        if not result.changes:
            console.print("No changes: no case's outcome would change under the candidate.")
        else:  # three columns, so the case id stays whole at 80 columns
            changes = SafeTable(title="Cases whose outcome would change", show_lines=True)
            changes.add_column("case", no_wrap=True, min_width=36)
            changes.add_column("change", ratio=1)
            changes.add_column("on what", ratio=2)
            for d in result.changes[:200]:
                r = d.as_row()
                changes.add_row(
                    r["case_id"],
                    f"{r['change'].replace('_', ' ')} (recorded: {r['recorded'].replace('_', ' ')})"
                    f", decided {readable_time(r['occurred_at'])}",
                    f"{r['criteria_behind'] or 'no criterion'}; sources {r['sources'] or 'none'};"
                    f" {r['service_type'].replace('_', ' ')}; {r['team'].replace('_', ' ')}",
                )
            console.print(changes)
        if len(result.changes) > 200:
            console.print(f"... and {len(result.changes) - 200} more (use --format csv or json for all).")
        for title, key in (
            ("criterion", "by_criterion"),
            ("source of concern", "by_source"),
            ("service type", "by_service_type"),
            ("team", "by_team"),
        ):
            table = SafeTable(title=f"By {title}")
            rows = data[key]
            if not rows:
                console.print(f"By {title}: no changes.")
                continue
            measures = list(next(iter(rows.values()))) if rows else []
            table.add_column(title)
            for m in measures:
                table.add_column(m.replace("_", " "), justify="right")
            for k, v in rows.items():
                table.add_row(k.replace("_", " "), *(str(v[m]) for m in measures))
            console.print(table)
        console.print(
            f"Discretionary referrals (they stand whatever the policy): {counts['discretionary']};"
            f" {counts['discretionary_now_eligible']} of them would meet the candidate's criteria."
        )

    # ------------------------------------------------------------------ report

    @cli.command()
    def report(
        ctx: typer.Context,
        date_from: Annotated[str | None, typer.Option("--from", help="From this date/time (UTC).")] = None,
        date_to: Annotated[
            str | None, typer.Option("--to", help="Up to this date (inclusive) or time (exclusive).")
        ] = None,
        output: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
        html: Annotated[
            Path | None, typer.Option(help="Also write the report as a self-contained HTML page (.png: a picture).")
        ] = None,
    ) -> None:
        """Intake and outcomes: referrals, durations, removals, target times, escalations, service-design issues."""
        from infrastructure.audit.html_pages import report_html
        from infrastructure.audit.reports import build_report

        if output not in ("table", "csv", "json"):
            fail("--format must be table, csv or json", 2)
        with open_app(ctx) as app:
            result = build_report(app, period_from=parse_when(date_from), period_to=parse_when(date_to, end=True))
        data = result.as_dict()
        if html is not None:
            _write_page(report_html(data), html, fail)
            err.print(f"report written to {html}")
        if output == "json":
            json.dump(data, sys.stdout, indent=2)
            sys.stdout.write("\n")
            return
        if output == "csv":
            _write_csv(result.rows(), sys.stdout, ["section", "key", "measure", "value"])
            return

        table = SafeTable(
            title="Intake and outcome report",
            caption=f"as of {readable_time(result.now)}; the log read to position {result.log_position}",
            show_lines=False,
        )
        for column in ("section", "key", "measure"):
            table.add_column(column, ratio=1)
        table.add_column("value", no_wrap=True, justify="right")
        section = None
        issues = []
        for row in result.rows():
            if row["section"] == "service_design_issues":
                issues.append(row)  # free text: a paragraph each, below
                continue
            measure, value = row["measure"], row["value"]
            if measure.endswith("_hours") and isinstance(value, int | float):
                measure, value = measure.removesuffix("_hours"), readable_hours(value)
            table.add_row(
                row["section"].replace("_", " ") if row["section"] != section else "",
                row["key"].replace("_", " "),
                measure.replace("_", " "),
                str(value),
            )
            section = row["section"]
        console.print(table)
        for issue in issues:
            console.print(f"Service-design issue on case {safe(issue['key'])}: {safe(issue['value'])}")

    # ------------------------------------------------------------------ deadlines

    deadlines_cli = typer.Typer(help="The expedited pathways' deadline clock.", no_args_is_help=True)
    cli.add_typer(deadlines_cli, name="deadlines")

    @deadlines_cli.command("tick")
    def deadlines_tick(
        ctx: typer.Context,
        every: Annotated[float | None, typer.Option(help="Keep ticking every SECONDS (until interrupted).")] = None,
        output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    ) -> None:
        """Record every missed target (due time passed, not yet recorded) and escalate it, exactly once."""
        from infrastructure.audit.deadlines import DeadlineClock
        from infrastructure.readmodels.errors import is_outage

        with open_app(ctx) as app:
            clock = DeadlineClock(app)
            backoff, down_since = 0.5, None
            while True:
                try:
                    result = clock.tick()
                except Exception as exc:
                    # Kept ticking, the clock outlives a database restart or failover: it tries again
                    # with backoff, and a tick is exactly once however often it is tried (its
                    # commands' ids are the missed targets').
                    if every is None or not is_outage(exc):
                        raise
                    down_since = down_since or time.monotonic()
                    say_unavailable(exc, backoff)
                    try:
                        time.sleep(backoff)
                    except KeyboardInterrupt:
                        return
                    backoff = min(backoff * 2, 30.0)
                    continue
                if down_since is not None:
                    err.print(f"reconnected after {time.monotonic() - down_since:.1f}s")
                    backoff, down_since = 0.5, None
                if output == "json":
                    sys.stdout.write(json.dumps(result.as_dict()) + "\n")
                else:
                    for r in result.recorded:
                        console.print(
                            f"missed: case {r['case_id']} {r['reason']} pathway due {r['due_at']};"
                            f" escalated to {r['escalated_to']} (escalation {r['escalation_id']})"
                        )
                    for s in result.skipped:
                        console.print(f"skipped pathway {s['pathway_id']}: {s['code']}")
                    console.print(
                        f"{result.at.isoformat(timespec='seconds')}: {len(result.recorded)} missed target(s) recorded,"
                        f" {result.already_recorded} already recorded,"
                        f" {result.open_pathways} open pathway(s) within target."
                    )
                sys.stdout.flush()
                if every is None:
                    return
                try:
                    time.sleep(every)
                except KeyboardInterrupt:
                    return

    # ------------------------------------------------------------------ export

    @cli.command()
    def export(
        ctx: typer.Context,
        case_id: Annotated[UUID, typer.Argument(help="The case.")],
        auditor: Annotated[str, typer.Option(help="Your auditor id: the read is recorded as yours.")],
        purpose: Annotated[str, typer.Option(help="Why you are reading it (recorded).")],
        html: Annotated[bool, typer.Option("--html", help="A self-contained HTML timeline (the default).")] = True,
        out: Annotated[Path | None, typer.Option(help="File to write (default: case-<id>.html).")] = None,
        bundle: Annotated[
            Path | None,
            typer.Option(help="Write an evidence bundle here instead (JSON, checked offline by `verify-bundle`)."),
        ] = None,
        as_of: Annotated[
            str | None, typer.Option(help="The bundle's moment: events recorded by then (ISO 8601; UTC if no offset).")
        ] = None,
    ) -> None:
        """Write a case's safeguarding journey as a self-contained HTML timeline, or as an evidence
        bundle (--bundle: its events with their Merkle proofs, a signed checkpoint and the replayed
        views, sealed); the read is recorded either way.

        The auditor must be a current member of audit on the staff roster, as over HTTP; the file is
        readable by its owner only (0600) and never written through a link. The case is verified
        before it is shown; a case that fails verification is still written, marked, and exits 1."""
        from infrastructure.access.log import AccessLog
        from infrastructure.access.reads import CaseReads, CustomerDirectory
        from infrastructure.audit.bundle import case_bundle, dump
        from infrastructure.audit.evidence import case_evidence
        from infrastructure.audit.html_pages import case_timeline_html
        from infrastructure.cli.replay import parse_time
        from infrastructure.eventstore.checkpoints import trusted_verifier

        if not meaningful(purpose):
            fail("--purpose must say why: 3 visible characters or more, no control or invisible characters", 2)
        try:
            actor = Actor(auditor, Role.AUDITOR)
        except ValueError as exc:
            fail(f"--auditor: {exc}", 2)
        if as_of is not None and bundle is None:
            fail("--as-of goes with --bundle (the HTML timeline shows every event)", 2)
        moment = parse_time(as_of) if as_of is not None else None
        purpose = purpose.strip()
        with open_app(ctx, reads=True) as app:
            # A recorded read is written on the primary: when the case is read elsewhere (a standby, a
            # reader role), the access log opens the primary's case store for its keys.
            log = AccessLog(ctx.obj, text_keys=app.text_keys if app.settings is ctx.obj else None)
            try:
                evidence = case_evidence(app, case_id, trusted_verifier(ctx.obj))  # raises CaseNotFound
                opened_at = next((e.event.timestamp for e in evidence.events if e.event is not None), None)
                if moment is not None and opened_at is not None and moment < opened_at:
                    fail(f"--as-of {moment.isoformat()} is before case {case_id} was opened: nothing to show", 1)
                read = CaseReads(app, log, CustomerDirectory(app), app.clock).allow_history(
                    actor, case_id, purpose=purpose
                )
                reader = {"id": auditor, "role": str(Role.AUDITOR), "purpose": purpose, "read_at": read.at}
                if bundle is not None:
                    with open_app(ctx) if app.settings is not ctx.obj else nullcontext() as primary:
                        made = case_bundle(
                            app, ctx.obj, log, case_id, reader=reader, as_of=moment, evidence=evidence, primary=primary
                        )
                    verified = made["body"]["integrity"]["verified"]
                    summary = made["body"]["integrity"]["summary"]
                    page, target, shown = dump(made), bundle, len(made["body"]["events"])
                else:
                    verified, summary = evidence.ok, evidence.summary()
                    page = case_timeline_html(
                        case_id,
                        evidence.decoded(),
                        generated_at=read.at,
                        generated_for=f"{auditor} ({purpose})",
                        evidence=evidence,
                    )
                    target, shown = out or Path(f"case-{case_id}.html"), len(evidence.events)
            except DomainError as exc:
                fail(exc.message)
            finally:
                log.close()
        try:
            write_private(target, page)
        except OSError as exc:
            fail(f"cannot write {target}: {exc}; the read was recorded", 3)
        kind = "evidence bundle" if bundle is not None else "timeline"
        console.print(
            f"{kind} of case {case_id} ({shown} events) written to {target} (readable by you only);"
            " the read is recorded."
        )
        if not verified:
            err.print(f"[bold red]BROKEN[/] case {case_id}: {safe(summary)}")
            raise typer.Exit(1)
        console.print(f"[bold green]OK[/] case {case_id}: {safe(summary)}")


def _write_page(page: str, path: Path, fail: Any) -> None:
    if path.suffix == ".png":
        from infrastructure.audit.chromium import screenshot

        html_path = path.with_suffix(".html")
        write_private(html_path, page)
        try:
            screenshot(html_path, path)
        except (FileNotFoundError, RuntimeError) as exc:
            fail(f"cannot draw {path}: {exc}; the HTML page is at {html_path}", 3)
        return
    write_private(path, page)
