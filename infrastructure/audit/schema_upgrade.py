"""``casejourney db upgrade``: every component's tables made, then its version recorded, under one lock.

Each component makes and stamps its own tables (``infrastructure/eventstore/schema.py``): the case
store (events, chain, append functions, person keys, Merkle tree, checkpoints), the access log; the
read models' tracking tables are made beside them. Idempotent, and safe for several processes at
once: one at a time under the lock, the later ones find it done and change nothing.
"""

from __future__ import annotations

from infrastructure.access.log import AccessLog
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.schema import (
    COMPONENTS,
    SCHEMA_VERSION,
    Mode,
    Upgrade,
    check,
    check_roles,
    grant_roles,
    service_mode,
    stored_version,
    upgrade_lock,
)
from infrastructure.readmodels.models import ReadModels
from infrastructure.settings import Settings


def upgrade(settings: Settings, *, writer: str | None = None, reader: str | None = None) -> Upgrade:
    """Makes what is missing, records the version, then (PostgreSQL) grants the writer's and the
    reader's rights (``grant_roles``), every time they are named: granting is idempotent too."""
    if writer or reader:
        check_roles(settings, writer=writer, reader=reader)
    with upgrade_lock(settings):
        before = {c: stored_version(settings, c) for c in COMPONENTS}
        if any(v is not None and v > SCHEMA_VERSION for v in before.values()):
            check(settings, "require")  # says so, in its one sentence
        if any(v != SCHEMA_VERSION for v in before.values()):
            with CaseJourney(settings, schema="create") as app:  # stamps "cases"
                AccessLog(settings, text_keys=app.text_keys, schema="create").close()  # stamps "access"
                ReadModels(app, settings).close()
        granted = grant_roles(settings, writer=writer, reader=reader) if writer or reader else []
        return Upgrade(settings.describe_store(), before, SCHEMA_VERSION, granted)


def open_mode(settings: Settings, *, writes: bool) -> Mode:
    """How the CLI and the service open each component (``service_mode``). When the embedded default
    upgrades itself (a writer on SQLite), every component is upgraded at once, as ``db upgrade``
    would, so the access log is current too before the first recorded read needs it."""
    mode = service_mode(settings, writes=writes)
    if mode == "auto" and any(stored_version(settings, c) != SCHEMA_VERSION for c in COMPONENTS):
        upgrade(settings)
    return mode
