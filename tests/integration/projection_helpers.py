"""Helpers shared by the projection tests: run the stories, read whole tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select

from infrastructure.eventstore.application import CaseJourney
from infrastructure.readmodels.models import ReadModels
from infrastructure.readmodels.registry import PROJECTIONS
from infrastructure.samples.scenarios import SCENARIOS, run_scenario

#: Business time the stories start at: every step stays before the test clock (2026-03-02).
STORY_START = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def run_all_stories(app: CaseJourney) -> dict[int, UUID]:
    """Runs the ten stories of SCENARIOS.md; returns each story's case id by number."""
    cases = {}
    for scenario in SCENARIOS:
        journey = run_scenario(app, scenario, STORY_START)
        assert journey.case_id is not None
        cases[scenario.number] = journey.case_id
    return cases


def dump(models: ReadModels, name: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of a projection's live tables, in primary-key order."""
    out = {}
    with models.engine.connect() as conn:
        for base, table in PROJECTIONS[name].tables().items():
            order = [c for c in table.primary_key.columns]
            out[base] = [dict(r._mapping) for r in conn.execute(select(table).order_by(*order))]
    return out


def dump_all(models: ReadModels) -> dict[str, dict[str, list[dict[str, Any]]]]:
    return {name: dump(models, name) for name in PROJECTIONS}
