"""Plain-language "what" and "why" of each case event, for histories, replays and timelines.

Pure functions over stored events; the same wording appears in the CLI, the API and exports.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from domain.case.aggregate import Case

TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


def readable_time(moment: datetime | str | None) -> str:
    """A time as people read it, the one format of every page and command: to the second, in UTC,
    zone named (``2026-02-23 09:00:00 UTC``). An ISO 8601 string is read first; a naive time is
    taken as UTC (as the service writes them); anything else is shown as it is."""
    if moment is None or moment == "":
        return "(no time)"
    if isinstance(moment, str):
        text = moment
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def readable_hours(hours: float | None) -> str:
    """A duration as people say it: minutes under an hour, hours under two days, then days and
    hours (``7970.93`` hours reads "332 days 3 h")."""
    if hours is None:
        return "-"
    if hours < 1:
        return f"{round(hours * 60)} min"
    if hours < 48:
        return f"{hours:.1f} h".replace(".0 h", " h")
    days, rest = divmod(round(hours), 24)
    return f"{days} days" + (f" {rest} h" if rest else "")


#: The codes of the domain's values as people say them: the seed documents' own names where they
#: name them (Collect and Pay, Advanced Customer Support, the Affordability Hub, the District
#: Provision Toolkit), plain English otherwise. A code not here reads with its underscores as spaces.
GLOSSARY: dict[str, str] = {
    # service types (seed 1: "Collect and Pay cases")
    "collect_and_pay": "Collect and Pay",
    "direct_pay": "Direct Pay",
    # who applied
    "child_in_scotland": "child in Scotland",
    # concerns (seed 1; the Domestic Abuse Act 2021, s.1(3); seed 2)
    "homelessness_risk": "risk of homelessness",
    "self_harm_risk": "risk of self-harm",
    # how a concern reached the service
    "customer_disclosure": "disclosed by the customer",
    "caseworker_observation": "observed by a caseworker",
    "police": "the police",
    "third_party": "a third party",
    "other_dwp_service": "another DWP service",
    # signposting (seed 2)
    "affordability_hub": "the Affordability Hub",
    "district_provision_toolkit": "the District Provision Toolkit",
    "domestic_abuse_support_service": "a domestic abuse support service",
    "advanced_customer_support": "Advanced Customer Support",
    "six_point_plan": "the Six Point Plan",
    # the enforcement ladder
    "last_resort_sanctions": "last-resort sanctions",
    # teams
    "specialist_case_team": "the Specialist Case Team",
    "mainstream": "mainstream caseworking",
}


def term(code: Any) -> str:
    """One of the domain's codes in words (``GLOSSARY``, else its underscores as spaces)."""
    text = str(code)
    return GLOSSARY.get(text) or text.replace("_", " ")


def words(value: Any) -> str:
    """A recorded value as words, never Python's repr: yes/no, "not recorded", a list joined (or
    "none"), a code in words (``GLOSSARY``; else ``police_involvement`` reads "police involvement")."""
    if value is None:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(words(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{words(k)}: {words(v)}" for k, v in value.items()) or "none"
    text = str(value)
    if not text:
        return "none"
    if text in GLOSSARY:
        return GLOSSARY[text]
    return text.replace("_", " ") if _CODE.fullmatch(text) else text


_CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")


def facts_in_words(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """Recorded facts as (name, value) pairs in words, in their recorded order."""
    return [(words(name), words(value)) for name, value in facts.items()]


def _ids(value: str | None) -> str:
    return str(value) if value is not None else "-"


def what(event: Case.Event) -> str:
    match event:
        case Case.ApplicationReceived():
            waived = ", fee waived (domestic abuse)" if event.fee_waived_for_domestic_abuse else ""
            return (
                f"application received from the {term(event.applicant_role)}, {term(event.service_type)}"
                f"{waived}; receiving parent {event.receiving_parent_id}, paying parent {event.paying_parent_id}"
            )
        case Case.CaseworkerAssigned():
            before = f" (was {event.previous_caseworker_id})" if event.previous_caseworker_id else ""
            return f"named caseworker {event.caseworker_id}{before}"
        case Case.ServiceTypeChanged():
            return f"service type changed from {term(event.from_service_type)} to {term(event.to_service_type)}"
        case Case.ConcernRecorded():
            police = ", police involved" if event.police_involved else ""
            how = f"{term(event.kind)} ({term(event.source)})"
            return f"concern recorded: {how} affecting {event.affected_party_id}{police}"
        case Case.ConcernResolved():
            return f"concern {event.concern_id} resolved"
        case Case.SignpostingGiven():
            resolved = "resolved the concern" if event.resolved_concern else "did not resolve the concern"
            return f"signposted to {term(event.target)}; {resolved}"
        case Case.SafetyRiskAssessed():
            return (
                f"safety risk assessed: concerns {'unresolved' if event.concerns_unresolved else 'resolved'},"
                f" {'significant' if event.significant_threat else 'no significant'} threat"
            )
        case Case.PoliceInvolvementEnded():
            return "police involvement ended"
        case Case.AcsInvolvementRecorded():
            return "Advanced Customer Support involved" + (" for domestic abuse" if event.for_domestic_abuse else "")
        case Case.ReferredToSpecialistTeam():
            how = "discretionary referral" if event.discretionary else "referred"
            return f"{how} to the Specialist Case Team (policy {event.policy_version})"
        case Case.ReferralNotMade():
            return f"referral not made (policy {event.policy_version})"
        case Case.AcceptedBySpecialistTeam():
            return f"accepted by the Specialist Case Team; specialist named caseworker {event.specialist_caseworker_id}"
        case Case.EnforcementStarted():
            return f"enforcement started ({term(event.step)}); enforcement manager {event.enforcement_manager_id}"
        case Case.EnforcementManagerHandedOver():
            return f"enforcement handed over from {event.from_manager_id} to {event.to_manager_id}"
        case Case.EnforcementEnded():
            return f"enforcement ended (manager was {event.enforcement_manager_id})"
        case Case.ExpeditedPathwayOpened():
            return f"expedited pathway opened for {term(event.pathway_reason)}, due {readable_time(event.due_at)}"
        case Case.ExpeditedPathwayClosed():
            return f"expedited pathway {event.pathway_id} closed"
        case Case.ExpeditedDeadlineMissed():
            return f"target time missed for pathway {event.pathway_id} (due {readable_time(event.due_at)})"
        case Case.EscalationRaised():
            return f"escalated to an ACS senior leader ({_ids(event.to_actor_id)})"
        case Case.EscalationResolved():
            return f"escalation {event.escalation_id} resolved"
        case Case.ServiceDesignIssueRaised():
            return f"service-design issue raised: {event.summary}"
        case Case.RemovalRequested():
            return f"removal from the Specialist Case Team requested, advised by {event.advised_by_party_id}"
        case Case.RemovalApproved():
            return f"removal approved; named caseworker {event.returned_to_caseworker_id} in mainstream caseworking"
        case Case.RemovalRefused():
            return "removal refused; the case stays with the Specialist Case Team"
        case Case.CaseClosed():
            return "case closed"
        case Case.EntryRecordedInError():
            return f"event {event.corrected_version} recorded in error"
    return type(event).__name__


def why(event: Case.Event) -> str:
    match event:
        case Case.ReferredToSpecialistTeam():
            criteria = ", ".join(words(c) for c in event.criteria_met) or "none (discretionary)"
            return f"criteria met: {criteria} (policy {event.policy_version})" + (
                f"; {event.reason}" if event.reason else ""
            )
        case Case.ReferralNotMade():
            unmet = "; ".join(f"{words(k)}: {', '.join(words(x) for x in v)}" for k, v in event.unmet.items())
            return f"not met: {unmet} (policy {event.policy_version})" + (f"; {event.reason}" if event.reason else "")
        case Case.RemovalRefused():
            reasons = "; ".join(d["explanation"] for d in event.doubts)
            return f"doubt about safety: {reasons}"
        case Case.RemovalApproved():
            return "no doubt found on any check" + (f"; {event.reviewer_note}" if event.reviewer_note else "")
        case Case.EscalationResolved():
            return str(event.resolution)
        case Case.EntryRecordedInError():
            return str(event.correction)
        case Case.ConcernRecorded() | Case.SignpostingGiven():
            return str(event.note)
        case Case.EnforcementManagerHandedOver() | Case.EnforcementEnded() if event.override_reason:
            return f"{event.reason}; an override by {event.actor_id}, not the manager: {event.override_reason}"
    return str(getattr(event, "reason", "") or "")


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
