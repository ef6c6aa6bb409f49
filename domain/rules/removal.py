"""Leaving the Specialist Case Team: removal is refused whenever there is any doubt about safety.

Seed 1: "Cases remain with the Specialist Case team until closure. In cases where the
victim-survivor advises that there is no longer ongoing domestic abuse, the case can be referred
for removal with the guiding principle [...] that if there is any doubt about a customer's
safety, the case must remain in the Specialist Case team."

"Doubt" is made explicit here: each condition below is one reason a removal is refused, and the
refusal records every one that applies. A removal is approved only when the list is empty. Where a
fact is unknown (the reviewer recorded no judgement, no safety risk assessment was ever recorded),
that is itself doubt: unknown never counts as safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Doubt(StrEnum):
    UNRESOLVED_CONCERN = "unresolved_concern"
    OPEN_ESCALATION = "open_escalation"
    OPEN_EXPEDITED_PATHWAY = "open_expedited_pathway"
    CONCERN_AFTER_REQUEST = "concern_after_request"
    POLICE_INVOLVEMENT_LIVE = "police_involvement_live"
    SIGNIFICANT_THREAT_ASSESSED = "significant_threat_assessed"
    ASSESSED_CONCERNS_UNRESOLVED = "assessed_concerns_unresolved"
    NO_RISK_ASSESSMENT = "no_risk_assessment"
    REVIEWER_DOUBT = "reviewer_doubt"
    REVIEWER_JUDGEMENT_MISSING = "reviewer_judgement_missing"
    ADVICE_NOT_FROM_VICTIM_SURVIVOR = "advice_not_from_victim_survivor"


@dataclass(frozen=True, slots=True)
class RemovalFacts:
    """The recorded state a removal review is judged on."""

    unresolved_concern_ids: tuple[str, ...]
    open_escalation_ids: tuple[str, ...]
    open_pathways: Mapping[str, str]  # pathway id -> reason
    concerns_since_request: tuple[str, ...]
    police_involvement_live: bool
    latest_assessment: tuple[bool, bool] | None  # (concerns unresolved, significant threat); None: never assessed
    advised_by_party_id: str
    victim_survivor_party_ids: frozenset[str]
    reviewer_doubt: bool | None
    reviewer_note: str


@dataclass(frozen=True, slots=True)
class DoubtFound:
    code: Doubt
    explanation: str

    def as_record(self) -> dict[str, str]:
        return {"code": str(self.code), "explanation": self.explanation}


def doubts_about_safety(facts: RemovalFacts) -> list[DoubtFound]:
    """Every reason to keep the case in the Specialist Case Team; empty means removal is safe."""
    found: list[DoubtFound] = []

    def doubt(code: Doubt, explanation: str) -> None:
        found.append(DoubtFound(code, explanation))

    if facts.unresolved_concern_ids:
        doubt(
            Doubt.UNRESOLVED_CONCERN,
            f"{len(facts.unresolved_concern_ids)} safeguarding concern(s) are not resolved: "
            + ", ".join(facts.unresolved_concern_ids),
        )
    if facts.open_escalation_ids:
        doubt(
            Doubt.OPEN_ESCALATION,
            "an escalation is still open: " + ", ".join(facts.open_escalation_ids),
        )
    if facts.open_pathways:
        doubt(
            Doubt.OPEN_EXPEDITED_PATHWAY,
            "an expedited pathway is still open: "
            + ", ".join(f"{pid} ({reason})" for pid, reason in facts.open_pathways.items()),
        )
    if facts.concerns_since_request:
        doubt(
            Doubt.CONCERN_AFTER_REQUEST,
            "a concern was recorded after the removal was requested: " + ", ".join(facts.concerns_since_request),
        )
    if facts.police_involvement_live:
        doubt(Doubt.POLICE_INVOLVEMENT_LIVE, "police involvement is recorded as still live")
    if facts.latest_assessment is None:
        doubt(Doubt.NO_RISK_ASSESSMENT, "no safety risk assessment has ever been recorded on this case")
    else:
        concerns_unresolved, significant_threat = facts.latest_assessment
        if concerns_unresolved:
            doubt(
                Doubt.ASSESSED_CONCERNS_UNRESOLVED,
                "the latest safety risk assessment records concerns that are not resolved",
            )
        if significant_threat:
            doubt(
                Doubt.SIGNIFICANT_THREAT_ASSESSED,
                "the latest safety risk assessment records a significant threat or risk",
            )
    if facts.advised_by_party_id not in facts.victim_survivor_party_ids:
        doubt(
            Doubt.ADVICE_NOT_FROM_VICTIM_SURVIVOR,
            f"the request was advised by party {facts.advised_by_party_id}, who is not recorded as"
            " the person affected by a domestic abuse concern on this case",
        )
    if facts.reviewer_doubt is None:
        doubt(
            Doubt.REVIEWER_JUDGEMENT_MISSING,
            "the reviewer recorded no judgement on whether any doubt remains",
        )
    elif facts.reviewer_doubt:
        note = f": {facts.reviewer_note}" if facts.reviewer_note else ""
        doubt(Doubt.REVIEWER_DOUBT, f"the reviewer records doubt about the customer's safety{note}")
    return found
