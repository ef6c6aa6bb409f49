"""The questions the GET routes ask, behind one small interface with two answers.

``LogQueries`` answers from the event log with the projections' own pure folds (always current,
no tables needed: it cost a scan of every case for the cross-case questions). ``TablesQueries``
answers from the read-model tables the projection runner keeps (issue 3), and reports their lag.
The routes only see ``CaseQueries``; ``create_app`` picks one.

The safeguarding history is always read from the log, whichever implementation answers the rest:
it is read one case at a time (one stream: cheap), and it must be complete when it is read, never
behind by a projection's lag.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from infrastructure.eventstore.application import CaseJourney
from infrastructure.readmodels.caseloads import caseloads_by
from infrastructure.readmodels.engine import reading
from infrastructure.readmodels.expedited_queue import expedited_queue_rows
from infrastructure.readmodels.team_assignment import team_assignment_of
from projections import caseloads as caseloads_projection
from projections import expedited_queue as queue_projection
from projections import safeguarding_history as history_projection
from projections import team_assignment as assignment_projection

DIMENSIONS = (caseloads_projection.TEAM, caseloads_projection.CASEWORKER, caseloads_projection.ENFORCEMENT_MANAGER)


class CaseQueries(Protocol):
    def team_assignment(self, case_id: UUID) -> dict[str, Any] | None: ...

    def safeguarding_history(self, case_id: UUID, as_of: datetime | None) -> list[dict[str, Any]]: ...

    def caseloads(self, dimension: str) -> dict[str, int]: ...

    def expedited_queue(self) -> list[dict[str, Any]]: ...

    def lag(self) -> dict[str, int]: ...

    def position(self, name: str) -> int:
        """The log position an answer of read model ``name`` includes at least (read before it)."""
        ...

    def reached(self, position: int, name: str, timeout: float) -> bool:
        """Waits, at most ``timeout`` seconds, until read model ``name`` includes ``position``."""
        ...


def history_from_log(app: CaseJourney, case_id: UUID, as_of: datetime | None) -> list[dict[str, Any]]:
    """One row per safety-relevant event; with ``as_of``, what the service had recorded by then."""
    rows = []
    for event in app.case_events(case_id):
        if as_of is not None and event.timestamp > as_of:
            break  # the log is in recorded order within a case
        row = history_projection.row_for(event)
        if row is not None:
            rows.append(row)
    return rows


class LogQueries:
    """Every answer folded from the log on demand."""

    def __init__(self, app: CaseJourney) -> None:
        self.app = app

    def team_assignment(self, case_id: UUID) -> dict[str, Any] | None:
        row: assignment_projection.Assignment | None = None
        for event in self.app.case_events(case_id):
            row = assignment_projection.evolve(row, event)
        return row.as_row() if row else None

    def safeguarding_history(self, case_id: UUID, as_of: datetime | None) -> list[dict[str, Any]]:
        return history_from_log(self.app, case_id, as_of)

    def caseloads(self, dimension: str) -> dict[str, int]:
        counts: Counter[tuple[str, str]] = Counter()
        for case_id in self.app.all_case_ids():
            membership: caseloads_projection.Membership | None = None
            for event in self.app.case_events(case_id):
                membership = caseloads_projection.evolve(membership, event)
            counts.update(caseloads_projection.delta(None, membership))
        return {key: n for (dim, key), n in sorted(counts.items()) if dim == dimension and n > 0}

    def expedited_queue(self) -> list[dict[str, Any]]:
        entries: list[queue_projection.QueueEntry] = []
        for case_id in self.app.all_case_ids():
            open_entries: dict[str, queue_projection.QueueEntry] = {}
            for event in self.app.case_events(case_id):
                upserts, deletes = queue_projection.change_for(open_entries, event)
                for entry in upserts:
                    open_entries[entry.pathway_id] = entry
                for _, pathway_id in deletes:
                    open_entries.pop(pathway_id, None)
            entries.extend(open_entries.values())
        entries.sort(key=lambda q: (q.due_at, q.case_id, q.pathway_id))
        return [q.as_row() for q in entries]

    def lag(self) -> dict[str, int]:
        return {}  # folded from the log on every read: never behind

    def position(self, name: str) -> int:
        return self.app.recorder.max_notification_id() or 0

    def reached(self, position: int, name: str, timeout: float) -> bool:
        return True


class TablesQueries:
    """Answers from the projection runner's read-model tables (``infrastructure.readmodels``).

    A list (caseloads, the queue) is what the tables hold, at the position ``position`` gives; a
    caller who must see their own command first asks ``reached`` (``Min-Log-Position`` over HTTP).
    A case's team assignment is its row brought up to date with the case's events recorded after
    the row (one indexed read, usually empty): never behind, the same cost at any length of case.
    """

    def __init__(self, app: CaseJourney, read_models: Any) -> None:
        self.app = app
        self.read_models = read_models

    def _conn(self) -> Any:
        return reading(self.read_models.engine.connect())

    def team_assignment(self, case_id: UUID) -> dict[str, Any] | None:
        with self._conn() as conn:
            row: dict[str, Any] | None = team_assignment_of(conn, str(case_id))
        newer = list(self.app.events.get(case_id, gt=row["case_version"] if row else 0))
        if not newer:
            return row
        return assignment_projection.fold(
            assignment_projection.Assignment.from_row(row) if row else None,
            newer,  # type: ignore[arg-type]
        ).as_row()

    def safeguarding_history(self, case_id: UUID, as_of: datetime | None) -> list[dict[str, Any]]:
        return history_from_log(self.app, case_id, as_of)

    def caseloads(self, dimension: str) -> dict[str, int]:
        with self._conn() as conn:
            return dict(caseloads_by(conn, dimension))

    def expedited_queue(self) -> list[dict[str, Any]]:
        with self._conn() as conn:
            return list(expedited_queue_rows(conn))

    def lag(self) -> dict[str, int]:
        head = self.read_models.head()
        return {name: max(head - position, 0) for name, position in self.read_models.positions().items()}

    def position(self, name: str) -> int:
        return int(self.read_models.positions([name]).get(name, 0))

    def reached(self, position: int, name: str, timeout: float) -> bool:
        return bool(self.read_models.wait_for(position, timeout=timeout, names=[name]))
