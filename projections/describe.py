"""Plain-language "what" and "why" of each case event, for histories, replays and timelines.

Pure functions over stored events; the same wording appears in the CLI, the API and exports.
"""

from __future__ import annotations

from typing import Any

from domain.case.aggregate import Case


def _ids(value: Any) -> str:
    return str(value) if value is not None else "-"


def what(event: Case.Event) -> str:
    e: Any = event
    match type(event).__name__:
        case "ApplicationReceived":
            waived = ", fee waived (domestic abuse)" if e.fee_waived_for_domestic_abuse else ""
            return (
                f"application received from the {e.applicant_role.replace('_', ' ')}, {e.service_type}"
                f"{waived}; receiving parent {e.receiving_parent_id}, paying parent {e.paying_parent_id}"
            )
        case "CaseworkerAssigned":
            before = f" (was {e.previous_caseworker_id})" if e.previous_caseworker_id else ""
            return f"named caseworker {e.caseworker_id}{before}"
        case "ServiceTypeChanged":
            return f"service type {e.from_service_type} -> {e.to_service_type}"
        case "ConcernRecorded":
            police = ", police involved" if e.police_involved else ""
            return f"concern recorded: {e.kind} ({e.source}) affecting {e.affected_party_id}{police}"
        case "ConcernResolved":
            return f"concern {e.concern_id} resolved"
        case "SignpostingGiven":
            resolved = "resolved the concern" if e.resolved_concern else "did not resolve the concern"
            return f"signposted to {e.target}; {resolved}"
        case "SafetyRiskAssessed":
            return (
                f"safety risk assessed: concerns {'unresolved' if e.concerns_unresolved else 'resolved'},"
                f" {'significant' if e.significant_threat else 'no significant'} threat"
            )
        case "PoliceInvolvementEnded":
            return "police involvement ended"
        case "AcsInvolvementRecorded":
            return "Advanced Customer Support involved" + (" for domestic abuse" if e.for_domestic_abuse else "")
        case "ReferredToSpecialistTeam":
            how = "discretionary referral" if e.discretionary else "referred"
            return f"{how} to the Specialist Case Team (policy {e.policy_version})"
        case "ReferralNotMade":
            return f"referral not made (policy {e.policy_version})"
        case "AcceptedBySpecialistTeam":
            return f"accepted by the Specialist Case Team; specialist named caseworker {e.specialist_caseworker_id}"
        case "EnforcementStarted":
            return f"enforcement started ({e.step}); enforcement manager {e.enforcement_manager_id}"
        case "EnforcementManagerHandedOver":
            return f"enforcement handed over from {e.from_manager_id} to {e.to_manager_id}"
        case "EnforcementEnded":
            return f"enforcement ended (manager was {e.enforcement_manager_id})"
        case "ExpeditedPathwayOpened":
            return f"expedited pathway opened for {e.pathway_reason}, due {e.due_at.isoformat()}"
        case "ExpeditedPathwayClosed":
            return f"expedited pathway {e.pathway_id} closed"
        case "ExpeditedDeadlineMissed":
            return f"target time missed for pathway {e.pathway_id} (due {e.due_at.isoformat()})"
        case "EscalationRaised":
            return f"escalated to an ACS senior leader ({_ids(e.to_actor_id)})"
        case "EscalationResolved":
            return f"escalation {e.escalation_id} resolved"
        case "ServiceDesignIssueRaised":
            return f"service-design issue raised: {e.summary}"
        case "RemovalRequested":
            return f"removal from the Specialist Case Team requested, advised by {e.advised_by_party_id}"
        case "RemovalApproved":
            return f"removal approved; named caseworker {e.returned_to_caseworker_id} in mainstream caseworking"
        case "RemovalRefused":
            return "removal refused; the case stays with the Specialist Case Team"
        case "CaseClosed":
            return "case closed"
        case "EntryRecordedInError":
            return f"event {e.corrected_version} recorded in error"
    return type(event).__name__


def why(event: Case.Event) -> str:
    e: Any = event
    match type(event).__name__:
        case "ReferredToSpecialistTeam":
            criteria = ", ".join(e.criteria_met) or "none (discretionary)"
            return f"criteria met: {criteria} (policy {e.policy_version})" + (f"; {e.reason}" if e.reason else "")
        case "ReferralNotMade":
            unmet = "; ".join(f"{k}: {', '.join(v)}" for k, v in e.unmet.items())
            return f"not met: {unmet} (policy {e.policy_version})" + (f"; {e.reason}" if e.reason else "")
        case "RemovalRefused":
            reasons = "; ".join(d["explanation"] for d in e.doubts)
            return f"doubt about safety: {reasons}"
        case "RemovalApproved":
            return "no doubt found on any check" + (f"; {e.reviewer_note}" if e.reviewer_note else "")
        case "EscalationResolved":
            return str(e.resolution)
        case "EntryRecordedInError":
            return str(e.correction)
        case "ConcernRecorded" | "SignpostingGiven":
            return str(e.note)
        case "EnforcementManagerHandedOver" | "EnforcementEnded" if e.override_reason:
            return f"{e.reason}; an override by {e.actor_id}, not the manager: {e.override_reason}"
    return str(getattr(e, "reason", "") or "")


def as_record(event: Case.Event) -> dict[str, Any]:
    """A JSON-ready record of one event: its fields plus the plain-language what and why."""
    fields = {k: v for k, v in vars(event).items() if k not in {"originator_id", "originator_version", "timestamp"}}
    return {
        "case_id": str(event.originator_id),
        "version": event.originator_version,
        "type": type(event).__name__,
        "recorded_at": event.timestamp.isoformat(),
        "occurred_at": event.occurred_at.isoformat(),
        "actor": {"id": event.actor_id, "role": event.actor_role},
        "what": what(event),
        "why": why(event),
        "fields": fields,
    }
