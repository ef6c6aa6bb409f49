"""The expedited queue read model: one row per open expedited pathway, the one due first first.

Its fold is pure, in ``projections/expedited_queue``; here are its table, how a batch of events is applied to it
(``apply``), the rows of one case from nothing (``build_case``, for a build in case order) and
the query readers ask (``expedited_queue_rows``). ``SPEC`` ties them together for the runner.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    select,
)

from domain.case.aggregate import Case
from infrastructure.readmodels.engine import (
    Item,
    UtcDateTime,
    cached_get,
    delete_in,
    insert_rows,
    remember,
)
from infrastructure.readmodels.spec import ProjectionSpec
from projections import expedited_queue as projection
from projections.expedited_queue import QueueEntry


def define(md: MetaData, s: str) -> list[Table]:
    t = Table(
        f"expedited_queue{s}",
        md,
        Column("case_id", String(36), nullable=False),
        Column("pathway_id", String(36), nullable=False),
        Column("pathway_reason", String(60), nullable=False),
        Column("opened_at", UtcDateTime, nullable=False),
        Column("due_at", UtcDateTime, nullable=False),
        Column("opened_by", String(100), nullable=False),
        Column("deadline_missed", Boolean, nullable=False),
        Column("missed_recorded_at", UtcDateTime),
        Column("escalation_id", String(36)),
        Column("escalation_open", Boolean, nullable=False),
        PrimaryKeyConstraint("case_id", "pathway_id", name=f"pk_expedited_queue{s}"),
    )
    Index(f"ix_expedited_queue_due_at{s}", t.c.due_at)
    return [t]


def apply(conn: Connection, tables: dict[str, Table], items: Sequence[Item], cache: dict[str, Any]) -> None:
    t = tables["expedited_queue"]
    keys = list(dict.fromkeys(str(e.originator_id) for _, e in items))
    stored = cached_get(conn, t, "case_id", keys, cache)
    entries: dict[str, dict[str, QueueEntry]] = defaultdict(dict)
    for k, rows in stored.items():
        for row in rows:
            entries[k][row["pathway_id"]] = QueueEntry.from_row(row)
    existing = [k for k in keys if entries.get(k)]
    for _, e in items:
        _queue_step(entries[str(e.originator_id)], e)
    by_case = {k: [q.as_row() for q in entries[k].values()] for k in keys}
    delete_in(conn, t, "case_id", existing)
    insert_rows(conn, t, [r for rs in by_case.values() for r in rs])
    remember(cache, by_case)


def _queue_step(entries: dict[str, QueueEntry], event: Case.Event) -> None:
    upserts, deletions = projection.change_for(entries, event)
    for q in upserts:
        entries[q.pathway_id] = q
    for _, pid in deletions:
        entries.pop(pid, None)


def build_case(items: Sequence[Item]) -> dict[str, list[dict[str, Any]]]:
    entries: dict[str, QueueEntry] = {}
    for _, e in items:
        _queue_step(entries, e)
    return {"expedited_queue": [q.as_row() for q in entries.values()]}


SPEC = ProjectionSpec(
    projection.NAME,
    projection.LOGIC_VERSION,
    projection.TOPICS,
    define,
    apply,
    build_case,
)


# -- the query readers ask


def expedited_queue_rows(conn: Connection) -> list[dict[str, Any]]:
    """Open expedited pathways, the one due first first."""
    t = SPEC.tables()["expedited_queue"]
    rows = conn.execute(select(t).order_by(t.c.due_at, t.c.case_id, t.c.pathway_id))
    return [dict(r._mapping) for r in rows]
