"""Impact assessment: what would a candidate eligibility policy have changed, for whom?

Seed 1: "eligibility criteria will be reviewed as intake increases"; Parliament asked how the
impact of the criteria on victim-survivors would be assessed. Every referral decision recorded the
facts it was judged on, so a candidate policy can be applied to exactly those facts: this module
reads the recorded decisions (``ReferredToSpecialistTeam`` / ``ReferralNotMade``) from the log by
topic, rebuilds each decision's ``ReferralFacts`` from its recorded ``facts`` and evaluates the
candidate (a pure function). No case is replayed and nothing is written.

Source of concern: a decision's recorded facts hold the disclosed kinds but not where each concern
came from. Rather than change what decisions record (a change to the event contract that would
still leave every past decision without it), the sources are taken from the case's
``ConcernRecorded`` events, read by topic in the same pass: the concerns recorded on the case
before the decision (by case version). Those events are the record the decision was made on.

Team: the team the case sits with after its decisions, from the acceptance and removal events read
in the same pass (a decision itself is always taken in mainstream caseworking).

Discretionary referrals are reported apart: a candidate policy does not undo a caseworker's
discretion, it only says whether the case would now qualify without it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from domain.case.aggregate import Case
from domain.rules.eligibility import EligibilityPolicy, ReferralDecision, ReferralFacts
from domain.values import ConcernKind, ServiceType, Team
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.decoding import collector_paused
from infrastructure.eventstore.log_reader import TopicReader

NEWLY_ELIGIBLE = "newly_eligible"
NO_LONGER_ELIGIBLE = "no_longer_eligible"

_READ = (
    "ReferredToSpecialistTeam",
    "ReferralNotMade",
    "ConcernRecorded",
    "AcceptedBySpecialistTeam",
    "RemovalApproved",
)


def facts_from_record(record: dict[str, Any]) -> ReferralFacts:
    """The ``ReferralFacts`` a decision recorded (``ReferralFacts.as_record``), rebuilt exactly."""
    return ReferralFacts(
        service_type=ServiceType(record["service_type"]),
        under_acs_for_domestic_abuse=bool(record["under_acs_for_domestic_abuse"]),
        police_involved_for_domestic_abuse=bool(record["police_involved_for_domestic_abuse"]),
        disclosed_kinds=frozenset(ConcernKind(k) for k in record["disclosed_kinds"]),
        safety_concern_unresolved=record.get("safety_concern_unresolved"),
        significant_threat=record.get("significant_threat"),
        judgement_recorded_in_version=record.get("judgement_recorded_in_version"),
        concern_changes_since_judgement=tuple(record.get("concern_changes_since_judgement", ())),
    )


@dataclass(frozen=True, slots=True)
class AssessedDecision:
    """One recorded decision and what the candidate policy makes of the same facts."""

    case_id: str
    case_version: int
    occurred_at: datetime
    recorded_policy: str
    recorded_referred: bool
    discretionary: bool
    recorded_criteria_met: tuple[str, ...]
    candidate_eligible: bool
    candidate_criteria_met: tuple[str, ...]
    candidate_unmet: dict[str, list[str]]
    service_type: str
    sources: tuple[str, ...]
    team: str

    @property
    def change(self) -> str | None:
        """``newly_eligible`` / ``no_longer_eligible`` / ``None`` (discretionary ones are apart)."""
        if self.discretionary:
            return None
        if self.candidate_eligible and not self.recorded_referred:
            return NEWLY_ELIGIBLE
        if self.recorded_referred and not self.candidate_eligible:
            return NO_LONGER_ELIGIBLE
        return None

    def criteria_behind(self) -> str:
        """The criteria behind the change, in words: met now, or which parts fail."""
        if self.candidate_eligible:
            return "meets " + ", ".join(self.candidate_criteria_met)
        return "; ".join(f"{name}: {', '.join(parts)} not met" for name, parts in self.candidate_unmet.items())

    def as_row(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "case_version": self.case_version,
            "occurred_at": self.occurred_at.isoformat(),
            "change": self.change or ("discretionary" if self.discretionary else "unchanged"),
            "recorded": ("referred" if self.recorded_referred else "not_referred")
            + (" (discretionary)" if self.discretionary else ""),
            "recorded_policy": self.recorded_policy,
            "recorded_criteria_met": ",".join(self.recorded_criteria_met),
            "candidate_eligible": self.candidate_eligible,
            "candidate_criteria_met": ",".join(self.candidate_criteria_met),
            "criteria_behind": self.criteria_behind(),
            "service_type": self.service_type,
            "sources": ",".join(self.sources),
            "team": self.team,
        }


#: Columns of a decision's row (CSV output).
IMPACT_COLUMNS = [
    "case_id",
    "case_version",
    "occurred_at",
    "change",
    "recorded",
    "recorded_policy",
    "recorded_criteria_met",
    "candidate_eligible",
    "candidate_criteria_met",
    "criteria_behind",
    "service_type",
    "sources",
    "team",
]


@dataclass
class ImpactReport:
    candidate_version: str
    period_from: datetime | None
    period_to: datetime | None
    decisions: list[AssessedDecision] = field(default_factory=list)
    events_read: int = 0

    @property
    def changes(self) -> list[AssessedDecision]:
        return [d for d in self.decisions if d.change is not None]

    @property
    def discretionary(self) -> list[AssessedDecision]:
        return [d for d in self.decisions if d.discretionary]

    def counts(self) -> dict[str, int]:
        c = Counter(d.change for d in self.changes)
        return {
            "decisions": len(self.decisions),
            "cases": len({d.case_id for d in self.decisions}),
            NEWLY_ELIGIBLE: c[NEWLY_ELIGIBLE],
            NO_LONGER_ELIGIBLE: c[NO_LONGER_ELIGIBLE],
            "unchanged": sum(1 for d in self.decisions if d.change is None and not d.discretionary),
            "discretionary": len(self.discretionary),
            "discretionary_now_eligible": sum(1 for d in self.discretionary if d.candidate_eligible),
        }

    def by_criterion(self) -> dict[str, dict[str, int]]:
        """Per criterion: referrals meeting it as recorded, under the candidate, and among the changes."""
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for d in self.decisions:
            for code in d.recorded_criteria_met:
                table[code]["recorded"] += 1
            if d.candidate_eligible:  # as recorded ones: criteria of decisions that refer
                for code in d.candidate_criteria_met:
                    table[code]["candidate"] += 1
            if d.change == NEWLY_ELIGIBLE:
                for code in d.candidate_criteria_met:
                    table[code][NEWLY_ELIGIBLE] += 1
            elif d.change == NO_LONGER_ELIGIBLE:
                for code in d.recorded_criteria_met:
                    table[code][NO_LONGER_ELIGIBLE] += 1
        keys = ("recorded", "candidate", NEWLY_ELIGIBLE, NO_LONGER_ELIGIBLE)
        return {code: {k: counts[k] for k in keys} for code, counts in sorted(table.items())}

    def by_dimension(self, dimension: str) -> dict[str, dict[str, int]]:
        """Changes per ``source`` (of concern; a case counts under each source), ``service_type`` or ``team``."""
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for d in self.changes:
            keys = (d.sources or ("none_recorded",)) if dimension == "source" else (getattr(d, dimension),)
            for key in keys:
                assert d.change is not None
                table[key][d.change] += 1
        return {
            k: {NEWLY_ELIGIBLE: c[NEWLY_ELIGIBLE], NO_LONGER_ELIGIBLE: c[NO_LONGER_ELIGIBLE]}
            for k, c in sorted(table.items())
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidate_policy": self.candidate_version,
            "from": self.period_from.isoformat() if self.period_from else None,
            "to": self.period_to.isoformat() if self.period_to else None,
            "counts": self.counts(),
            "changes": [d.as_row() for d in self.changes],
            "discretionary": [d.as_row() for d in self.discretionary],
            "by_criterion": self.by_criterion(),
            "by_source": self.by_dimension("source"),
            "by_service_type": self.by_dimension("service_type"),
            "by_team": self.by_dimension("team"),
        }


def assess(
    app: CaseJourney,
    candidate: EligibilityPolicy,
    *,
    period_from: datetime | None = None,
    period_to: datetime | None = None,
) -> ImpactReport:
    """Re-evaluates every recorded referral decision in ``[period_from, period_to)`` under ``candidate``.

    The period is the decision's business time (``occurred_at``). The cyclic collector is paused
    meanwhile: every decision stays alive until the end, and each collection would walk them all.
    """
    with collector_paused():
        return _assess(app, candidate, period_from, period_to)


def _assess(
    app: CaseJourney, candidate: EligibilityPolicy, period_from: datetime | None, period_to: datetime | None
) -> ImpactReport:
    report = ImpactReport(candidate.version, period_from, period_to)
    concerns: dict[str, list[tuple[int, str]]] = defaultdict(list)  # case -> (version, source)
    decisions: list[Case.ReferredToSpecialistTeam | Case.ReferralNotMade] = []
    team: dict[str, str] = {}
    for logged in TopicReader(app, _READ).read():
        report.events_read += 1
        e = logged.event
        case_id = str(e.originator_id)
        match e:
            case Case.ConcernRecorded():
                concerns[case_id].append((e.originator_version, e.source))
            case Case.AcceptedBySpecialistTeam():
                team[case_id] = str(Team.SPECIALIST_CASE_TEAM)
            case Case.RemovalApproved():
                team[case_id] = str(Team.MAINSTREAM)
            case Case.ReferredToSpecialistTeam() | Case.ReferralNotMade() if (
                period_from is None or e.occurred_at >= period_from
            ) and (period_to is None or e.occurred_at < period_to):
                decisions.append(e)
    # The policy is a pure function of the facts, and a population has few distinct sets of facts:
    # each is rebuilt and evaluated once.
    outcomes: dict[bytes, ReferralDecision] = {}
    for e in decisions:
        case_id = str(e.originator_id)
        referred = isinstance(e, Case.ReferredToSpecialistTeam)
        discretionary = isinstance(e, Case.ReferredToSpecialistTeam) and bool(e.discretionary)
        criteria_met = tuple(e.criteria_met) if isinstance(e, Case.ReferredToSpecialistTeam) else ()
        key = _record_key(e.facts)
        outcome = outcomes.get(key)
        if outcome is None:
            outcome = outcomes[key] = candidate.evaluate(facts_from_record(e.facts))
        version = e.originator_version
        sources = sorted({source for v, source in concerns.get(case_id, ()) if v < version})
        report.decisions.append(
            AssessedDecision(
                case_id=case_id,
                case_version=version,
                occurred_at=e.occurred_at,
                recorded_policy=e.policy_version,
                recorded_referred=referred,
                discretionary=discretionary,
                recorded_criteria_met=criteria_met,
                candidate_eligible=outcome.eligible,
                candidate_criteria_met=outcome.criteria_met,
                candidate_unmet={k: list(v) for k, v in outcome.unmet.items()},
                service_type=str(e.facts["service_type"]),
                sources=tuple(sources),
                team=team.get(case_id, str(Team.MAINSTREAM)),
            )
        )
    return report


def _record_key(record: dict[str, Any]) -> bytes:
    """The recorded facts as canonical JSON: equal keys, equal records, equal facts (a list in
    another order only misses the cache)."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
