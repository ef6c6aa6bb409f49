"""The team assignment read model: per case, its team, named caseworker, manager, pathways, escalations.

Its fold is pure, in ``projections/team_assignment``; here are its table, how a batch of events is applied to it
(``apply``), the rows of one case from nothing (``build_case``, for a build in case order) and
the query readers ask (``team_assignment_of``). ``SPEC`` ties them together for the runner.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
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
from projections import team_assignment as projection
from projections.team_assignment import Assignment


def define(md: MetaData, s: str) -> list[Table]:
    t = Table(
        f"team_assignment{s}",
        md,
        Column("case_id", String(36), nullable=False),
        Column("team", String(40), nullable=False),
        Column("team_since", UtcDateTime, nullable=False),
        Column("named_caseworker_id", String(100)),
        Column("caseworker_since", UtcDateTime),
        Column("enforcement_manager_id", String(100)),
        Column("enforcement_since", UtcDateTime),
        Column("expedited_open", Boolean, nullable=False),
        Column("expedited_reasons", String(200), nullable=False),
        Column("open_pathways", JSON, nullable=False),
        Column("expedited_since", UtcDateTime),
        Column("escalation_open", Boolean, nullable=False),
        Column("open_escalations", JSON, nullable=False),
        Column("escalation_since", UtcDateTime),
        Column("acs_involved", Boolean, nullable=False),
        Column("acs_since", UtcDateTime),
        Column("removal_requested", Boolean, nullable=False),
        Column("removal_requested_since", UtcDateTime),
        Column("closed", Boolean, nullable=False),
        Column("closed_at", UtcDateTime),
        Column("case_version", Integer, nullable=False),
        Column("recorded_at", UtcDateTime, nullable=False),
        PrimaryKeyConstraint("case_id", name=f"pk_team_assignment{s}"),
    )
    Index(f"ix_team_assignment_team_caseworker{s}", t.c.team, t.c.named_caseworker_id)
    return [t]


def apply(conn: Connection, tables: dict[str, Table], items: Sequence[Item], cache: dict[str, Any]) -> None:
    t = tables["team_assignment"]
    keys = list(dict.fromkeys(str(e.originator_id) for _, e in items))
    stored = cached_get(conn, t, "case_id", keys, cache)
    state: dict[str, Assignment | None] = {k: Assignment.from_row(rows[0]) for k, rows in stored.items() if rows}
    existing = [k for k in keys if k in state]
    by_case: dict[str, list[Case.Event]] = defaultdict(list)
    for _, e in items:
        by_case[str(e.originator_id)].append(e)
    for cid, events in by_case.items():
        state[cid] = projection.fold(state.get(cid), events)
    rows = {k: state[k].as_row() for k in keys if state.get(k) is not None}  # type: ignore[union-attr]
    delete_in(conn, t, "case_id", existing)
    insert_rows(conn, t, list(rows.values()))
    remember(cache, {k: [r] for k, r in rows.items()})


def build_case(items: Sequence[Item]) -> dict[str, list[dict[str, Any]]]:
    return {"team_assignment": [projection.fold(None, [e for _, e in items]).as_row()]}


SPEC = ProjectionSpec(
    projection.NAME,
    projection.LOGIC_VERSION,
    None,
    define,
    apply,
    build_case,
)


# -- the query readers ask


def team_assignment_of(conn: Connection, case_id: str) -> dict[str, Any] | None:
    t = SPEC.tables()["team_assignment"]
    row = conn.execute(select(t).where(t.c.case_id == case_id)).first()
    return dict(row._mapping) if row else None
