"""What every `casejourney` command shares: the consoles, ``fail``, the settings callback and ``open_app``.

Settings are built once, by ``configure`` (from options and CASEJOURNEY_* variables), and every
command reaches them through ``ctx.obj``. Every command module imports from here; this module
imports from no command module, so the CLI has no cycle.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn
from uuid import UUID, uuid5

import typer
from eventsourcing.persistence import PersistenceError
from pydantic import ValidationError
from rich.console import Console

from domain.case.commands import CASE_ID_NAMESPACE
from infrastructure.audit.schema_upgrade import open_mode
from infrastructure.cli.text import safe
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.environment import library_variables
from infrastructure.eventstore.schema import SchemaNotCurrent
from infrastructure.samples.scenarios import STORY_NAMESPACE
from infrastructure.settings import Settings, known_variables, settings_error, unknown_variables

# Piped output (CI logs, files) gets a wide table instead of rich's 80-column default.
#: a terminal's own width; piped, COLUMNS if set (rich reads it), else 160 so logs keep whole rows
console = Console() if sys.stdout.isatty() or os.environ.get("COLUMNS") else Console(width=160)
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {safe(message)}", soft_wrap=True)
    raise typer.Exit(code)


def output_format(value: str, formats: tuple[str, ...] = ("text", "json")) -> str:
    """``--format``'s value, checked: a wrong one is refused with the ones there are (exit 2)."""
    if value not in formats:
        fail(f"--format must be {' or '.join(formats)}", 2)
    return value


def require_store(settings: Settings, *, create: bool = False) -> None:
    """Says on stderr which store this command runs on (the SQLite path resolved); a command that only
    reads refuses a SQLite file that does not exist, where opening it would make an empty store and
    report on nothing. Only writers (``create``: demo, a staff change, serve) make a new store."""
    err.print(f"[dim]store: {safe(settings.describe_store())}[/]", soft_wrap=True)
    if create or settings.store != "sqlite" or settings.sqlite_path.exists():
        return
    fail(
        f"no store at {settings.sqlite_path}: nothing has been written there, and this command only reads."
        " Point --sqlite-path or CASEJOURNEY_SQLITE_PATH at the store, or write to it first (casejourney demo).",
        3,
    )


def open_app(ctx: typer.Context, *, create: bool = False, reads: bool = False) -> CaseJourney:
    """The case store for a command: ``create`` for one that may make a new store, ``reads`` for one
    that only reads (opened on ``postgres_read_url`` when set: a standby, a reader role)."""
    settings: Settings = ctx.obj.for_reading() if reads else ctx.obj
    require_store(settings, create=create)
    try:
        return CaseJourney(settings, schema=open_mode(settings, writes=create))
    except SchemaNotCurrent as exc:
        fail(str(exc), 3)
    except (PersistenceError, OSError) as exc:
        fail(f"cannot open the event store ({settings.describe_store()}): {exc}", 3)


def say_unavailable(exc: BaseException, seconds: float) -> None:
    """What a long-running command says on stderr, once per try, while the database is away: the
    driver's own words (SQLAlchemy's would add the statement), and when it tries again."""
    cause = getattr(exc, "orig", None) or exc
    reason = " ".join(str(cause).split()) or type(cause).__name__
    err.print(f"[yellow]the database is unavailable[/] ({safe(reason[:200])}); trying again in {seconds:g}s")


def demo_case_id(number: int) -> UUID:
    """The case id the demo gives to scenario ``number`` (its first command opens the case)."""
    return uuid5(CASE_ID_NAMESPACE, str(uuid5(STORY_NAMESPACE, f"scenario-{number}-step-1")))


def configure(
    ctx: typer.Context,
    store: Annotated[str | None, typer.Option(help="sqlite (default) or postgres.")] = None,
    sqlite_path: Annotated[Path | None, typer.Option(help="SQLite file (made by the first write).")] = None,
    postgres_url: Annotated[str | None, typer.Option(help="postgresql://user:password@host:port/db")] = None,
) -> None:
    """Settings come from these options, then CASEJOURNEY_* environment variables, then defaults."""
    overrides: dict[str, Any] = {
        k: v for k, v in {"store": store, "sqlite_path": sqlite_path, "postgres_url": postgres_url}.items() if v
    }
    unknown = unknown_variables(os.environ)
    if unknown:
        fail(
            "; ".join(unknown)
            + (" Unset it, or correct its name." if len(unknown) == 1 else " Unset them, or correct their names."),
            2,
        )
    try:
        ctx.obj = Settings(**overrides)
    except ValidationError as exc:
        fail(f"invalid settings: {settings_error(exc)}", 2)
    ignored = library_variables(os.environ, known_variables())
    if ignored:
        err.print(
            f"[yellow]warning:[/] {', '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} ignored: casejourney"
            " sets the eventsourcing library up from its own settings (README, Settings)",
        )


def verified_case(app: CaseJourney, settings: Settings, case_id: UUID) -> Any:
    """The case's evidence (``audit.evidence.case_evidence``): its chain, decoding and inclusion
    checked against the trusted checkpoint key; a missing case fails here."""
    from domain.errors import DomainError
    from infrastructure.audit.evidence import case_evidence
    from infrastructure.eventstore.checkpoints import trusted_verifier
    from infrastructure.eventstore.signed_note import NoteError

    try:
        trusted = trusted_verifier(settings)
    except (NoteError, OSError) as exc:
        fail(f"the checkpoint verifier key cannot be used: {exc}", 2)
    try:
        return case_evidence(app, case_id, trusted)
    except DomainError as exc:
        fail(exc.message)


def event_proof(place: Any) -> str:
    """One event's place in the evidence, for a row of ``history`` or ``replay``: its position in
    the log, the start of its leaf hash (whole in ``--format json``) and what proved it."""
    proved = {True: "proved in the checkpoint", False: "NOT PROVED by the checkpoint", None: "in no checkpoint yet"}
    return f"position {place.row.position}, leaf {place.leaf_hash.hex()[:16]}…, {proved[place.included]}"


def print_integrity(evidence: Any) -> None:
    """The verification's verdict, after what was shown; exits 1 if the case does not verify."""
    if evidence.ok:
        console.print(f"[bold green]OK[/] integrity: {safe(evidence.summary())}")
        return
    for problem in evidence.problems():
        err.print(f"[bold red]BROKEN[/] {safe(problem)}")
    err.print(
        f"[bold red]FAILED VERIFICATION[/]: case {evidence.case_id} is shown as stored, but it is not what the log"
        " signed; run `casejourney verify` and keep this output"
    )
    raise typer.Exit(1)
