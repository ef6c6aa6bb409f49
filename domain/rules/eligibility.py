"""Referral to the Specialist Case Team: a versioned eligibility policy.

Seed 1 (answer to Parliament, July 2025) sets the criteria for Collect and Pay cases:

1. the customer is already under DWP Advanced Customer Support because of domestic abuse; or
2. the CMS or the customer has involved the police because of a domestic abuse concern; or
3. all three of: (a) the customer mentions or seeks help about actual or threatened physical
   violence, coercive control or financial control; (b) the caseworker's concern for the
   customer's safety was not resolved by the conversation or signposting; (c) the caseworker
   believes there is a significant threat or risk to the customer.

"Eligibility criteria will be reviewed as intake increases": a policy is data (criteria made of
conditions over recorded facts) with a version and an effective date, so that a new version is
added without touching the aggregate, and every decision records the version, the facts and the
criteria met. The facts are the recorded facts and judgements of the case; nothing is inferred.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from domain.values import ConcernKind, ServiceType

FactName = Literal[
    "under_acs_for_domestic_abuse",
    "police_involved_for_domestic_abuse",
    "safety_concern_unresolved",
    "significant_threat",
]


@dataclass(frozen=True, slots=True)
class ReferralFacts:
    """What a referral decision is judged on: recorded facts and recorded judgements.

    ``None`` for a judgement means the caseworker has not recorded it (which never counts as met).
    The two judgements come from the latest safety risk assessment; where it was recorded and which
    later events changed the concerns say whether it still describes the case (a stale judgement is
    named, never silently taken as today's: ``judgement_is_stale``).
    """

    service_type: ServiceType
    under_acs_for_domestic_abuse: bool
    police_involved_for_domestic_abuse: bool
    disclosed_kinds: frozenset[ConcernKind]
    safety_concern_unresolved: bool | None
    significant_threat: bool | None
    judgement_recorded_in_version: int | None = None
    concern_changes_since_judgement: tuple[int, ...] = ()

    @property
    def judgement_is_stale(self) -> bool:
        return bool(self.concern_changes_since_judgement)

    def as_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["service_type"] = str(self.service_type)
        record["disclosed_kinds"] = sorted(str(k) for k in self.disclosed_kinds)
        record["concern_changes_since_judgement"] = list(self.concern_changes_since_judgement)
        return record


@dataclass(frozen=True, slots=True)
class Condition:
    """One testable part of a criterion: a recorded fact is true, or a disclosure of some kind."""

    code: str
    fact: FactName | None = None
    disclosure_of_any: frozenset[ConcernKind] = field(default_factory=frozenset)

    def holds(self, facts: ReferralFacts) -> bool:
        if self.fact is not None:
            return getattr(facts, self.fact) is True
        return bool(self.disclosure_of_any & facts.disclosed_kinds)


@dataclass(frozen=True, slots=True)
class Criterion:
    """A criterion is met when all its conditions hold."""

    code: str
    description: str
    all_of: tuple[Condition, ...]

    def unmet(self, facts: ReferralFacts) -> list[str]:
        return [c.code for c in self.all_of if not c.holds(facts)]


@dataclass(frozen=True, slots=True)
class EligibilityPolicy:
    version: str
    effective_from: datetime
    services: frozenset[ServiceType]
    criteria: tuple[Criterion, ...]

    def evaluate(self, facts: ReferralFacts) -> ReferralDecision:
        unmet: dict[str, list[str]] = {}
        met: list[str] = []
        if facts.service_type not in self.services:
            unmet["service_type"] = [f"service_type_is_{facts.service_type}"]
        for criterion in self.criteria:
            missing = criterion.unmet(facts)
            if missing:
                unmet[criterion.code] = missing
            else:
                met.append(criterion.code)
        eligible = bool(met) and "service_type" not in unmet
        return ReferralDecision(
            eligible=eligible,
            policy_version=self.version,
            criteria_met=tuple(met),
            unmet=unmet,
            facts=facts.as_record(),
        )


@dataclass(frozen=True, slots=True)
class ReferralDecision:
    """The outcome of a policy over facts: recorded as it is in the referral event."""

    eligible: bool
    policy_version: str
    criteria_met: tuple[str, ...]
    unmet: Mapping[str, Sequence[str]]
    facts: Mapping[str, Any]

    def explain(self) -> str:
        if self.eligible:
            return f"referred because: {', '.join(self.criteria_met)} (policy {self.policy_version})"
        parts = "; ".join(f"{name}: {', '.join(codes)} not met" for name, codes in self.unmet.items())
        return f"not referred: {parts} (policy {self.policy_version})"


SEED_1_DISCLOSURE_KINDS: frozenset[ConcernKind] = frozenset(
    {
        ConcernKind.PHYSICAL_VIOLENCE,
        ConcernKind.THREATENED_VIOLENCE,
        ConcernKind.COERCIVE_CONTROL,
        ConcernKind.FINANCIAL_CONTROL,
    }
)

POLICY_V1 = EligibilityPolicy(
    version="v1",
    # Seed 1 was answered on 10 July 2025; the criteria describe practice already in place.
    effective_from=datetime(2025, 7, 10, tzinfo=UTC),
    services=frozenset({ServiceType.COLLECT_AND_PAY}),
    criteria=(
        Criterion(
            code="acs_domestic_abuse",
            description="already under DWP Advanced Customer Support because of domestic abuse",
            all_of=(Condition("under_acs_for_domestic_abuse", fact="under_acs_for_domestic_abuse"),),
        ),
        Criterion(
            code="police_involvement",
            description="the CMS or the customer has involved the police because of domestic abuse",
            all_of=(Condition("police_involved_for_domestic_abuse", fact="police_involved_for_domestic_abuse"),),
        ),
        Criterion(
            code="three_part_test",
            description=(
                "disclosure of actual or threatened physical violence, coercive or financial control;"
                " safety concern not resolved by conversation or signposting; significant threat or risk"
            ),
            all_of=(
                Condition("disclosure", disclosure_of_any=SEED_1_DISCLOSURE_KINDS),
                Condition("safety_concern_unresolved", fact="safety_concern_unresolved"),
                Condition("significant_threat", fact="significant_threat"),
            ),
        ),
    ),
)


class PolicyRegistry:
    """The policies known to the service, by version; the one in force is the latest effective."""

    def __init__(self, policies: Sequence[EligibilityPolicy]) -> None:
        if not policies:
            raise ValueError("a policy registry needs at least one policy")
        versions = [p.version for p in policies]
        if len(set(versions)) != len(versions):
            raise ValueError(f"duplicate policy versions: {versions}")
        self._policies = sorted(policies, key=lambda p: p.effective_from)

    def in_force(self, at: datetime) -> EligibilityPolicy:
        candidates = [p for p in self._policies if p.effective_from <= at]
        # Before the first policy's date the first policy applies: it describes existing practice.
        return candidates[-1] if candidates else self._policies[0]

    def get(self, version: str) -> EligibilityPolicy:
        for policy in self._policies:
            if policy.version == version:
                return policy
        raise KeyError(version)


DEFAULT_POLICIES = PolicyRegistry([POLICY_V1])
