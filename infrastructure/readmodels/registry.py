"""The read models the runner keeps, by name: one ``SPEC`` per module of this package."""

from __future__ import annotations

from infrastructure.readmodels import caseloads, expedited_queue, safeguarding_history, team_assignment
from infrastructure.readmodels.spec import ProjectionSpec

PROJECTIONS: dict[str, ProjectionSpec] = {
    spec.name: spec for spec in (team_assignment.SPEC, safeguarding_history.SPEC, caseloads.SPEC, expedited_queue.SPEC)
}
