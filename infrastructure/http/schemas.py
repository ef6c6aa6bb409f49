"""The published shape of every read's answer and of every problem, for ``/openapi.json``.

These models document; the routes build their answers as they did (no second validation or
serialisation on the request path, issue 16 item 2). ``tests/e2e/test_http_openapi.py`` holds the
two together: real answers of every read are validated against these models (unknown fields
refused), so a change to either without the other fails.

(No ``from __future__ import annotations`` here: FastAPI must see the annotations as objects.)
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------- problems


class ProblemDetails(BaseModel):
    """An RFC 9457 problem: ``code`` is stable, ``detail`` is a sentence for people. Some problems
    add members of their own (``errors`` field by field on 422, ``current_version`` on a conflict,
    ``position`` on ``projection_behind``...)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "type": "urn:casejourney:problem:case_closed",
                "title": "Refused by a rule of the case journey",
                "status": 409,
                "detail": "This case is closed: it accepts a safeguarding concern, signposting and a correction"
                " of the record, and nothing else.",
                "code": "case_closed",
                "instance": "/cases/1b0c.../start-enforcement",
            }
        },
    )

    type: str = Field(description="`urn:casejourney:problem:<code>`.")
    title: str
    status: int = Field(description="The HTTP status, repeated.")
    detail: str
    code: str = Field(description="Stable, for programs: see the codes listed on each response.")
    instance: str = Field(description="The path of the request.")


# ---------------------------------------------------------------------- a case


class SafetyMarker(Strict):
    case_id: str = Field(description="The case whose concern set it.")
    set_at: str


class PartyView(Strict):
    party_id: str
    standing: str = Field(description="`protected`, or the party's role when not protected.")
    safety_markers: dict[str, SafetyMarker]
    contact_details: dict[str, Any] | None = Field(
        default=None, description="Only where the reader's relationship needs them; the read is recorded."
    )
    contact_details_basis: str | None = None
    contact_details_withheld: bool | None = None
    withheld_because: str | None = None


class OpenPathway(Strict):
    pathway_id: str
    reason: str
    due_at: str
    deadline_missed: bool


class EventIntegrity(Strict):
    version: int
    position: int | None
    leaf_hash: str | None
    proved: bool | None
    problem: str | None


class Integrity(Strict):
    """The case's record checked before it is shown to an auditor."""

    verified: bool
    summary: str
    problems: list[str]
    checkpoint: dict[str, Any] | None
    events: list[EventIntegrity]


class CaseView(Strict):
    case_id: str
    version: int = Field(description="Also the `ETag`.")
    team: str
    service_type: str
    applicant_role: str
    qualifying_children: int
    parties: dict[str, PartyView] = Field(description="`receiving_parent` and `paying_parent`.")
    named_caseworker_id: str | None
    enforcement_manager_id: str | None
    closed: bool
    referral_pending: bool
    unresolved_concern_ids: list[str]
    open_pathways: list[OpenPathway]
    open_escalation_ids: list[str]
    removal_requested: bool
    created_on: str
    modified_on: str
    integrity: Integrity | None = Field(default=None, description="Auditors only.")


class TeamAssignment(Strict):
    case_id: str
    team: str
    team_since: str
    named_caseworker_id: str | None
    caseworker_since: str | None
    enforcement_manager_id: str | None
    enforcement_since: str | None
    expedited_open: bool
    expedited_reasons: str = Field(description="Comma-separated reasons of the open pathways.")
    open_pathways: dict[str, str] = Field(description="Pathway id to its reason.")
    expedited_since: str | None
    escalation_open: bool
    open_escalations: list[str]
    escalation_since: str | None
    acs_involved: bool
    acs_since: str | None
    removal_requested: bool
    removal_requested_since: str | None
    closed: bool
    closed_at: str | None
    case_version: int
    recorded_at: str


class ReadRecorded(Strict):
    sequence: int
    at: str
    by: str
    purpose: str
    basis: str = Field(description="The relationship the read was allowed on, or `break_glass`.")


class HistoryEntry(Strict):
    case_id: str
    case_version: int
    event_type: str
    occurred_at: str
    recorded_at: str
    actor_id: str
    actor_role: str
    what: str
    why: str
    reasons: dict[str, Any]
    criteria_met: str | None = Field(description="Comma-separated criteria of a referral decision.")
    policy_version: str | None = Field(description="The referral policy applied, e.g. `v1`.")
    linked_ids: dict[str, str]
    correlation_id: str | None
    command_id: str | None


class SafeguardingHistory(Strict):
    case_id: str
    as_of: str | None
    read_recorded: ReadRecorded
    entries: list[HistoryEntry]


class ActorRef(Strict):
    id: str
    role: str


class RecordedRead(Strict):
    case_id: str
    sequence: int
    at: str
    actor: ActorRef
    what: str = Field(description="`safeguarding_history` or `contact_details`.")
    basis: str
    purpose: str | None
    party_id: str | None
    as_of: str | None
    request_id: str | None


class HistoryReads(Strict):
    case_id: str
    reads: list[RecordedRead]


class EvidenceBundle(BaseModel):
    """`casejourney-evidence-bundle/1`: its signed body and signature (docs/evidence.md)."""

    model_config = ConfigDict(extra="allow")


# ---------------------------------------------------------------------- work


class Caseload(Strict):
    key: str
    open_cases: int


class Caseloads(Strict):
    by: str
    caseloads: list[Caseload]


class QueueEntry(Strict):
    case_id: str
    pathway_id: str
    pathway_reason: str
    opened_at: str
    due_at: str
    opened_by: str
    deadline_missed: bool
    missed_recorded_at: str | None
    escalation_id: str | None
    escalation_open: bool


class ExpeditedQueue(Strict):
    entries: list[QueueEntry]


# ---------------------------------------------------------------------- staff and alerts


class Member(Strict):
    staff_id: str
    team: str
    since: str
    added_by: str
    reason: str


class Change(Strict):
    version: int
    occurred_at: str
    recorded_at: str
    change: str = Field(description="`joined` or `left`.")
    staff_id: str
    team: str
    by: str
    reason: str


class StaffRoster(Strict):
    members: list[Member]
    changes: list[Change]


class Review(Strict):
    by: str
    outcome: str
    note: str
    at: str | None


class BreakGlassAlert(Strict):
    alert_id: str
    case_id: str
    actor: ActorRef
    reason: str
    read: str = Field(description="What was read: `safeguarding_history` or `contact_details`.")
    raised_at: str
    review: Review | None


class BreakGlassAlerts(Strict):
    alerts: list[BreakGlassAlert]


# ---------------------------------------------------------------------- health


class Alive(Strict):
    status: str = Field(examples=["alive"])


class Readiness(Strict):
    status: str = Field(description="`ready`, or (on a 503) `lagging`.")
    store: str | None = Field(default=None, description="With an operator's token.")
    head: int | None = Field(default=None, description="With an operator's token.")
    projection_lag: dict[str, int] | None = Field(default=None, description="With an operator's token.")
