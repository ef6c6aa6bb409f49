"""`casejourney`: the command line of the case-journey service, built here from its command groups.

Every command turns its input into one call on the application and prints domain refusals as
sentences, never as stack traces. The groups, one module each in this package:

- ``cases``: demo, history, events;
- ``projections``: projections run|rebuild|verify|status;
- ``replay``: a case as it stood at a moment;
- ``http``: serve, token;
- ``integrity``: verify, digest, keys, erase;
- ``reports``: policies, impact, report, deadlines, export, timeline;
- ``staff``: staff, alerts;
- ``retention``: retention due|apply|hold|lift|holds;
- ``db``: db upgrade|status, the store's schema as an explicit step;
- ``bench``: a thin door to the benchmark, which lives outside the product in ``scripts/bench``.

They share ``common`` (consoles, ``fail``, settings, ``open_app``), which imports none of them.
"""

from __future__ import annotations

import os
import sys

import typer
from eventsourcing.persistence import MapperDeserialisationError, PersistenceError

from infrastructure.cli import bench, cases, http, integrity, replay, reports, retention, staff
from infrastructure.cli.common import configure, err
from infrastructure.cli.db import db_cli
from infrastructure.cli.projections import projections_cli
from infrastructure.cli.text import safe
from infrastructure.eventstore.crypto import KeyringError
from infrastructure.eventstore.keys import StoreKeyError

cli = typer.Typer(
    name="casejourney",
    help="Event-sourced case journey of a child maintenance service, safety first.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
cli.callback()(configure)
cases.register(cli)
cli.add_typer(projections_cli, name="projections")
cli.add_typer(db_cli, name="db")
replay.register(cli)
http.register(cli)
integrity.register(cli)
reports.register(cli)
staff.register(cli)
retention.register(cli)
bench.register(cli)


def main() -> None:
    try:
        cli()
    except StoreKeyError as exc:  # the store and the keys do not fit: which key, in one sentence
        err.print(f"[bold red]error:[/] {safe(exc)}")
        sys.exit(4)
    except KeyringError as exc:  # a key setting or key file that is not a keyring
        err.print(f"[bold red]error:[/] {safe(exc)}")
        sys.exit(2)
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
