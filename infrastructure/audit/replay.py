"""Auditor replay: a case as it stood at a moment, computed from the event log itself.

Independent of the read-model tables on purpose: a replay is evidence that does not trust the
projections. The case state comes from the aggregate's own ``apply`` methods; the team assignment
and safeguarding history from the pure projection functions, fed the same events; and the replay
checks that the aggregate and the assignment agree on team, named caseworker and enforcement
manager.

Which moment:

- ``version=N``: the case after its first N events.
- ``as_of=T`` on **recorded time** (the default): what the service knew at T, i.e. the events it
  had recorded by then. This is the auditor's usual question ("what did the service know when
  it decided?").
- ``as_of=T`` on **business time**: what, as the service knows it *now*, had happened in the world
  by T (events whose ``occurred_at`` is at or before T, including ones recorded later, which are
  marked ``recorded_after_as_of``). The case state then comes from the longest run of the case's
  first events that all occurred by T (an aggregate can only be replayed from its start); history
  rows beyond that run are still listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from domain.case.aggregate import Case
from infrastructure.eventstore.application import CaseJourney
from projections import safeguarding_history, team_assignment
from projections.describe import readable_time

TimeAxis = Literal["recorded", "business"]


@dataclass(frozen=True)
class Replay:
    case_id: UUID
    moment: str
    version: int
    total_versions: int
    state: dict[str, Any]
    assignment: dict[str, Any] | None
    history: list[dict[str, Any]]
    checks: list[str]

    def as_record(self) -> dict[str, Any]:
        return {
            "case_id": str(self.case_id),
            "moment": self.moment,
            "version": self.version,
            "total_versions": self.total_versions,
            "state": self.state,
            "team_assignment": self.assignment,
            "safeguarding_history": self.history,
            "checks": self.checks,
        }


def _case_state(case: Case | None) -> dict[str, Any]:
    if case is None:
        return {"exists": False}
    return {
        "exists": True,
        "version": case.version,
        "service_type": str(case.service_type),
        "team": str(case.team),
        "named_caseworker_id": case.named_caseworker_id,
        "enforcement_manager_id": case.enforcement_manager_id,
        "closed": case.closed,
        "referral_pending": case.referral_pending,
        "police_involvement_live": case.police_involvement_live,
        "acs_involved": case.acs_involved,
        "under_acs_for_domestic_abuse": case.under_acs_for_domestic_abuse,
        "concerns": {
            cid: {"kind": str(c.kind), "affected_party_id": c.affected_party_id, "resolved": c.resolved}
            for cid, c in case.concerns.items()
        },
        "open_pathways": {
            pid: {"reason": str(p.reason), "due_at": p.due_at, "deadline_missed": p.deadline_missed}
            for pid, p in case.open_pathways.items()
        },
        "open_escalations": sorted(case.open_escalations),
        "removal_request_pending": case.removal_request is not None,
        "corrected_versions": {str(v): why for v, why in case.corrected_versions.items()},
    }


def replay_case(
    app: CaseJourney,
    case_id: UUID,
    *,
    as_of: datetime | None = None,
    version: int | None = None,
    time_axis: TimeAxis = "recorded",
    events: list[Case.Event] | None = None,
) -> Replay:
    """The case as it stood at ``version`` or ``as_of`` (or now, given neither); from ``events``
    when given (the decodable events of a verified read: ``evidence.case_evidence``)."""
    if as_of is not None and version is not None:
        raise ValueError("give a version or a time, not both")
    if as_of is not None and as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    if events is None:
        events = app.case_events(case_id)  # raises CaseNotFound
    if version is not None:
        selected = [e for e in events if e.originator_version <= version]
        prefix = selected
        moment = f"at version {version}"
    elif as_of is not None and time_axis == "recorded":
        prefix = []
        for e in events:  # the events recorded by then: a prefix of the case's log
            if e.timestamp > as_of:
                break
            prefix.append(e)
        selected = prefix
        moment = f"at {readable_time(as_of)}: what had been recorded by then"
    elif as_of is not None:
        selected = [e for e in events if e.occurred_at <= as_of]
        prefix = []
        for e in events:
            if e.occurred_at > as_of:
                break
            prefix.append(e)
        moment = f"at {readable_time(as_of)} in business time: what had occurred by then, as known now"
    else:
        selected = prefix = events
        moment = "now"

    run: list[
        Case.Event
    ] = []  # an aggregate replays only from its start with no gap: a broken record's undecodable event stops it
    for e in prefix:
        if e.originator_version != len(run) + 1:
            break
        run.append(e)
    if len(run) != len(prefix):
        prefix = run

    case: Any = None
    for event in prefix:
        case = event.mutate(case)

    assignment: team_assignment.Assignment | None = None
    for event in selected:
        assignment = team_assignment.evolve(assignment, event)

    history = []
    for event in selected:
        row = safeguarding_history.row_for(event)
        if row is not None:
            if as_of is not None and event.timestamp > as_of:
                row["recorded_after_as_of"] = True
            history.append(row)

    checks = []
    if case is not None and assignment is not None and prefix is selected:
        for name, from_case, from_assignment in (
            ("team", str(case.team), assignment.team),
            ("named caseworker", case.named_caseworker_id, assignment.named_caseworker_id),
            ("enforcement manager", case.enforcement_manager_id, assignment.enforcement_manager_id),
        ):
            agree = from_case == from_assignment
            checks.append(
                f"{name}: case and assignment {'agree' if agree else 'DISAGREE'}"
                + ("" if agree else f" (case {from_case!r}, assignment {from_assignment!r})")
            )

    return Replay(
        case_id=case_id,
        moment=moment,
        version=case.version if case is not None else 0,
        total_versions=len(events),
        state=_case_state(case),
        assignment=assignment.as_row() if assignment is not None else None,
        history=history,
        checks=checks,
    )
