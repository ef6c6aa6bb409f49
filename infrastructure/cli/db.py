"""`casejourney db`: the store's schema as an explicit step (``infrastructure/eventstore/schema.py``).

``upgrade`` creates and migrates every table that is not derived data and records the schema
version; it is idempotent and safe to run from several processes at once. ``status`` says the
version each part of the store is at, reading only. Ordinary commands and the service do no DDL:
on a store that needs it they stop, naming ``casejourney db upgrade``.
"""

from __future__ import annotations

import json
from typing import Annotated

import psycopg
import typer
from eventsourcing.persistence import PersistenceError

from infrastructure.audit.schema_upgrade import upgrade
from infrastructure.cli.common import console, err, fail, output_format, require_store
from infrastructure.cli.text import safe
from infrastructure.eventstore.schema import COMPONENTS, SCHEMA_VERSION, SchemaNotCurrent, stored_version
from infrastructure.settings import Settings

db_cli = typer.Typer(help="The store's schema: upgrade it (as the database's owner), or see its version.")


def _said(version: int | None) -> str:
    return "none" if version is None else ("before versions (0)" if version == 0 else str(version))


@db_cli.command("upgrade")
def upgrade_command(
    ctx: typer.Context,
    output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    grant_writer: Annotated[
        str | None, typer.Option(help="PostgreSQL role of the service: read and append, edit no event.")
    ] = None,
    grant_reader: Annotated[
        str | None, typer.Option(help="PostgreSQL role of auditors and replicas' readers: read only.")
    ] = None,
) -> None:
    """Create and migrate the schema (the event tables and append functions, the chain head, the
    person keys, the Merkle tree and checkpoints, the access log, the projections' tracking tables),
    then record its version, and grant the writer's and reader's rights. Safe to run again, and
    from several processes at once; run it as the database's owner."""
    settings: Settings = ctx.obj
    output = output_format(output)
    if (grant_writer or grant_reader) and settings.store != "postgres":
        fail("--grant-writer and --grant-reader are PostgreSQL roles: a SQLite file has none", 2)
    require_store(settings, create=True)
    try:
        done = upgrade(settings, writer=grant_writer, reader=grant_reader)
    except SchemaNotCurrent as exc:
        fail(str(exc), 3)
    except psycopg.Error as exc:
        fail(f"cannot upgrade the store ({settings.describe_store()}): {' '.join(str(exc).split())}", 3)
    except (PersistenceError, OSError) as exc:
        fail(f"cannot upgrade the store ({settings.describe_store()}): {exc}", 3)
    if output == "json":
        console.print_json(json.dumps(done.as_dict()))
        return
    if done.changed:
        before = ", ".join(f"{c} {_said(v)}" for c, v in done.before.items())
        console.print(f"[bold green]upgraded[/] {safe(done.store)} to schema version {done.after} (was: {before})")
    else:
        console.print(f"[bold green]up to date[/]: {safe(done.store)} is at schema version {done.after}")
    for each in done.granted:
        console.print(f"granted {safe(each)}")


@db_cli.command("status")
def status_command(
    ctx: typer.Context,
    output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """The schema version of each part of the store, against this release's; reads only (exit 1 if an
    upgrade is needed)."""
    settings: Settings = ctx.obj
    output = output_format(output)
    require_store(settings)
    try:
        versions = {c: stored_version(settings, c) for c in COMPONENTS}
    except (PersistenceError, OSError) as exc:
        fail(f"cannot read the store ({settings.describe_store()}): {exc}", 3)
    current = all(v == SCHEMA_VERSION for v in versions.values())
    if output == "json":
        console.print_json(
            json.dumps(
                {
                    "store": settings.describe_store(),
                    "release": SCHEMA_VERSION,
                    "versions": versions,
                    "current": current,
                }
            )
        )
    else:
        for component, version in versions.items():
            console.print(f"{component}: schema version {_said(version)}")
        if current:
            console.print(f"[bold green]current[/]: this release's schema is version {SCHEMA_VERSION}")
        else:
            err.print(f"this release needs schema version {SCHEMA_VERSION}: run `casejourney db upgrade`")
    if not current:
        raise typer.Exit(1)
