"""What stops a projection, said for an operator: the errors of the runner, the builds and the leases."""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID


class ProjectionError(Exception):
    """Raised when a projection cannot go on; ``str()`` is a report for an operator."""


class ProjectionStopped(ProjectionError):
    """Raised when an event cannot be processed: the projection stops there, nothing is skipped."""


class LeaseHeld(ProjectionError):
    """Raised when another process already runs (or rebuilds) this projection."""


class ApplyFailed(Exception):
    def __init__(self, cause: Exception) -> None:
        self.cause = cause


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database went away (a restart, a dropped connection, a server not
    taking connections yet), through any of the libraries in between: then the work is tried again
    once it is back, never recorded as an event a projection cannot process."""
    import psycopg
    import sqlalchemy.exc
    from eventsourcing import persistence

    return isinstance(
        exc,
        (
            psycopg.OperationalError,
            psycopg.InterfaceError,
            sqlalchemy.exc.OperationalError,
            sqlalchemy.exc.InterfaceError,
            persistence.OperationalError,
            persistence.InterfaceError,
        ),
    )


class RebuildNeeded(ProjectionError):
    """Raised when the live tables were made by another version of the projection's code."""


def report_failure(name: str, n: Any, exc: BaseException) -> str:
    case = n.originator_id
    with contextlib.suppress(ValueError):  # SQLite's raw rows hold 32 hex digits: say it as a UUID
        case = UUID(str(case))
    return (
        f"{name} stopped at notification {n.id} (case {case}, version {n.originator_version},"
        f" {n.topic}): {type(exc).__name__}: {exc}"
    )
