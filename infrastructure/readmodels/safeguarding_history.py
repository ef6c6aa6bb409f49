"""The safeguarding history read model: one row per safety-relevant event of a case, what and why sealed.

Its fold is pure, in ``projections/safeguarding_history``; here are its table, how a batch of events is applied to it
(``apply``), the rows of one case from nothing (``build_case``, for a build in case order) and
the query readers ask (``safeguarding_history_of``). ``SPEC`` ties them together for the runner.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    select,
)

from infrastructure.eventstore.case_text import TextKeys
from infrastructure.readmodels.engine import (
    Item,
    Sealed,
    UtcDateTime,
    insert_rows,
)
from infrastructure.readmodels.spec import ProjectionSpec
from projections import safeguarding_history as projection


def define(md: MetaData, s: str) -> list[Table]:
    t = Table(
        f"safeguarding_history{s}",
        md,
        Column("case_id", String(36), nullable=False),
        Column("case_version", Integer, nullable=False),
        Column("notification_id", BigInteger, nullable=False),
        Column("event_type", String(60), nullable=False),
        Column("occurred_at", UtcDateTime, nullable=False),
        Column("recorded_at", UtcDateTime, nullable=False),
        Column("actor_id", String(100), nullable=False),
        Column("actor_role", String(40), nullable=False),
        Column("what", Sealed(), nullable=False),
        Column("why", Sealed(), nullable=False),
        Column("reasons", Sealed(json_value=True), nullable=False),
        Column("criteria_met", String(400)),
        Column("policy_version", String(40)),
        Column("linked_ids", JSON, nullable=False),
        Column("correlation_id", String(36), nullable=False),
        Column("command_id", String(36), nullable=False),
        PrimaryKeyConstraint("case_id", "case_version", name=f"pk_safeguarding_history{s}"),
    )
    return [t]


def apply(conn: Connection, tables: dict[str, Table], items: Sequence[Item], cache: dict[str, Any]) -> None:
    insert_rows(conn, tables["safeguarding_history"], _history_rows(items))


def _history_rows(items: Sequence[Item]) -> list[dict[str, Any]]:
    rows = []
    for nid, e in items:
        row = projection.row_for(e)
        if row is not None:
            row["notification_id"] = nid
            rows.append(row)
    return rows


def build_case(items: Sequence[Item]) -> dict[str, list[dict[str, Any]]]:
    return {"safeguarding_history": _history_rows(items)}


SPEC = ProjectionSpec(
    projection.NAME,
    projection.LOGIC_VERSION,
    projection.TOPICS,
    define,
    apply,
    build_case,
)


# -- the query readers ask


def safeguarding_history_of(conn: Connection, case_id: str, text: TextKeys | None = None) -> list[dict[str, Any]]:
    """The case's rows, in order. Their free text is stored sealed under the case's text key (as the
    events hold it): given ``text`` (the application's ``text_keys``) it is opened, and reads
    ``[erased]`` once the key is destroyed; without it, it stays sealed."""
    t = SPEC.tables()["safeguarding_history"]
    rows = [dict(r._mapping) for r in conn.execute(select(t).where(t.c.case_id == case_id).order_by(t.c.case_version))]
    if text is not None:
        for row in rows:
            for column in ("what", "why", "reasons"):
                row[column] = text.open(row[column])
    return rows
