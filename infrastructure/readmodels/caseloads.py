"""The caseloads read model: each case's caseload membership, and open cases per team and person.

Its fold is pure, in ``projections/caseloads``; here are its table, how a batch of events is applied to it
(``apply``), the rows of one case from nothing (``build_case``, for a build in case order) and
the query readers ask (``caseloads_by``). ``SPEC`` ties them together for the runner.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    select,
    tuple_,
)

from infrastructure.readmodels.engine import (
    Item,
    cached_get,
    chunks,
    delete_in,
    insert_rows,
    remember,
)
from infrastructure.readmodels.spec import ProjectionSpec
from projections import caseloads as projection
from projections.caseloads import Membership


def define(md: MetaData, s: str) -> list[Table]:
    members = Table(
        f"caseload_members{s}",
        md,
        Column("case_id", String(36), nullable=False),
        Column("team", String(40), nullable=False),
        Column("caseworker_id", String(100), nullable=False),
        Column("enforcement_manager_id", String(100)),
        Column("closed", Boolean, nullable=False),
        PrimaryKeyConstraint("case_id", name=f"pk_caseload_members{s}"),
    )
    counts = Table(
        f"caseloads{s}",
        md,
        Column("dimension", String(40), nullable=False),
        Column("key", String(100), nullable=False),
        Column("open_cases", Integer, nullable=False),
        PrimaryKeyConstraint("dimension", "key", name=f"pk_caseloads{s}"),
    )
    return [members, counts]


def apply(conn: Connection, tables: dict[str, Table], items: Sequence[Item], cache: dict[str, Any]) -> None:
    members, counts = tables["caseload_members"], tables["caseloads"]
    keys = list(dict.fromkeys(str(e.originator_id) for _, e in items))
    stored = cached_get(conn, members, "case_id", keys, cache)
    state: dict[str, Membership | None] = {k: Membership(**rows[0]) for k, rows in stored.items() if rows}
    existing = [k for k in keys if k in state]
    before = dict(state)
    for _, e in items:
        cid = str(e.originator_id)
        state[cid] = projection.evolve(state.get(cid), e)
    change: Counter[tuple[str, str]] = Counter()
    for k in keys:
        change.update(projection.delta(before.get(k), state.get(k)))
    rows = {k: m.as_row() for k in keys if (m := state.get(k)) is not None}
    delete_in(conn, members, "case_id", existing)
    insert_rows(conn, members, list(rows.values()))
    remember(cache, {k: [r] for k, r in rows.items()})
    touched = [k for k, v in change.items() if v]
    if not touched:
        return
    now: dict[tuple[str, str], int] = {}
    for chunk in chunks(touched):
        for r in conn.execute(select(counts).where(tuple_(counts.c.dimension, counts.c.key).in_(chunk))):
            now[(r.dimension, r.key)] = r.open_cases
    new = {k: now.get(k, 0) + change[k] for k in touched}
    negative = {k: v for k, v in new.items() if v < 0}
    if negative:
        raise ValueError(f"caseload counts would go negative: {negative}")
    for chunk in chunks([k for k in touched if k in now]):
        conn.execute(delete(counts).where(tuple_(counts.c.dimension, counts.c.key).in_(chunk)))
    insert_rows(conn, counts, [{"dimension": d, "key": k, "open_cases": v} for (d, k), v in new.items() if v])


def build_case(items: Sequence[Item]) -> dict[str, list[dict[str, Any]]]:
    membership: Membership | None = None
    for _, e in items:
        membership = projection.evolve(membership, e)
    return {"caseload_members": [membership.as_row()] if membership else []}


def finish(conn: Connection, tables: dict[str, Table]) -> None:
    """The counts of a build: each member's caseloads, summed (what the live deltas add up to)."""
    members, counts = tables["caseload_members"], tables["caseloads"]
    total: Counter[tuple[str, str]] = Counter()
    for row in conn.execute(select(members).execution_options(yield_per=5000)).mappings():
        total.update(projection.delta(None, Membership(**row)))
    insert_rows(conn, counts, [{"dimension": d, "key": k, "open_cases": v} for (d, k), v in total.items() if v])


SPEC = ProjectionSpec(
    projection.NAME,
    projection.LOGIC_VERSION,
    projection.TOPICS,
    define,
    apply,
    build_case,
    finish,
)


# -- the query readers ask


def caseloads_by(conn: Connection, dimension: str) -> dict[str, int]:
    """Open cases per team (``"team"``), named caseworker (``"caseworker"``) or enforcement manager."""
    t = SPEC.tables()["caseloads"]
    rows = conn.execute(select(t.c.key, t.c.open_cases).where(t.c.dimension == dimension).order_by(t.c.key))
    return {r.key: r.open_cases for r in rows}
