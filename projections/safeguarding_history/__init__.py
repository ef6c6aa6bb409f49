"""What happened, safety-wise, on each case, and why? One row per safety-relevant event, in order.

Complete by construction: the set of safety-relevant event types is written down here, and every
event of those types becomes exactly one row (``row_for`` never filters on content). Ordered by the
case version, which is the order the service recorded them in. A correction (entry recorded in
error) is itself a row that names the version it corrects: nothing is edited or removed.
"""

from __future__ import annotations

from typing import Any

from domain.case.aggregate import Case
from projections.describe import what, why

NAME = "safeguarding_history"
LOGIC_VERSION = 1

#: Event types that belong in the safeguarding history. Not in it: the application itself,
#: caseworker assignment, service type and enforcement steps (they are in the team assignment).
SAFETY_RELEVANT: frozenset[str] = frozenset(
    {
        "ConcernRecorded",
        "ConcernResolved",
        "SignpostingGiven",
        "SafetyRiskAssessed",
        "PoliceInvolvementEnded",
        "AcsInvolvementRecorded",
        "ReferredToSpecialistTeam",
        "ReferralNotMade",
        "AcceptedBySpecialistTeam",
        "ExpeditedPathwayOpened",
        "ExpeditedPathwayClosed",
        "ExpeditedDeadlineMissed",
        "EscalationRaised",
        "EscalationResolved",
        "ServiceDesignIssueRaised",
        "RemovalRequested",
        "RemovalApproved",
        "RemovalRefused",
        "CaseClosed",
        "EntryRecordedInError",
    }
)

TOPICS: frozenset[str] = frozenset(Case.EVENT_CLASSES[name].TOPIC for name in SAFETY_RELEVANT)

_LINK_FIELDS = ("concern_id", "pathway_id", "escalation_id", "request_id", "issue_id")

#: The grounds a history row keeps, field by field, and how: "text" when non-empty, "value" when
#: not None, "flag" (as a bool) when not None. In this order.
_REASON_FIELDS: tuple[tuple[str, str], ...] = (
    *((name, "text") for name in ("reason", "note", "resolution", "reviewer_note", "correction", "summary")),
    *((name, "value") for name in ("facts", "unmet", "doubts", "doubts_checked")),
    *(
        (name, "value")
        for name in ("kind", "source", "target", "pathway_reason", "route", "to_actor_id", "affected_party_id")
    ),
    *(
        (name, "flag")
        for name in (
            "police_involved",
            "resolved_concern",
            "concerns_unresolved",
            "significant_threat",
            "discretionary",
        )
    ),
)


_FIELDS: dict[type, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {}


def _fields_of(cls: type) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """The reason and link fields an event class can have (declared, or a class attribute)."""
    found = _FIELDS.get(cls)
    if found is None:
        declared = {name for klass in cls.__mro__ for name in vars(klass).get("__annotations__", {})}
        has = declared.union(dir(cls))
        found = tuple(f for f in _REASON_FIELDS if f[0] in has), tuple(k for k in _LINK_FIELDS if k in has)
        _FIELDS[cls] = found
    return found


def _reasons(e: Case.Event) -> dict[str, Any]:
    """The recorded grounds of a decision, field by field (never re-computed)."""
    reasons: dict[str, Any] = {}
    for name, how in _fields_of(type(e))[0]:
        value = getattr(e, name, None)
        if how == "text":
            if value:
                reasons[name] = value
        elif value is not None:
            reasons[name] = bool(value) if how == "flag" else value
    return reasons


def row_for(event: Case.Event) -> dict[str, Any] | None:
    """The history row of ``event``, or ``None`` when the event is not safety-relevant."""
    name = type(event).__name__
    if name not in SAFETY_RELEVANT:
        return None
    links = {k: str(v) for k in _fields_of(type(event))[1] if (v := getattr(event, k, None)) is not None}
    if isinstance(event, Case.EntryRecordedInError):
        links["corrected_version"] = str(event.corrected_version)
    criteria = getattr(event, "criteria_met", None)
    return {
        "case_id": str(event.originator_id),
        "case_version": event.originator_version,
        "event_type": name,
        "occurred_at": event.occurred_at,
        "recorded_at": event.timestamp,
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "what": what(event),
        "why": why(event),
        "reasons": _reasons(event),
        "criteria_met": ",".join(criteria) if criteria else None,
        "policy_version": getattr(event, "policy_version", None),
        "linked_ids": links,
        "correlation_id": str(event.correlation_id),
        "command_id": str(event.command_id),
    }
