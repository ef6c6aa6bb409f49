"""The intake and outcome report, read from the log by topic (no case is replayed).

Sections: referrals per ISO week and by criterion, time from a case's first concern to its
referral, time in the Specialist Case Team, removal requests / approvals / refusals with the doubt
codes that refused them, expedited pathways meeting or missing their target times, escalations by
route and origin, and the service-design issues raised by ACS senior leaders with the cases (and
escalations) that raised them.

The period filters on business time (``occurred_at``). Durations that start inside the period are
measured to their end wherever it falls; a stay in the team that has not ended is "ongoing" and
measured to ``now`` separately. An expedited pathway "met" its target when it was closed at or
before its due time without a missed-target event; "missed" when the clock recorded a miss;
"overdue, not yet recorded" when its due time has passed at ``now`` but no miss is recorded yet
(the deadline clock has not run since).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from domain.case.aggregate import Case
from domain.values import Role
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.log_reader import TopicReader

_READ = (
    "ConcernRecorded",
    "ReferredToSpecialistTeam",
    "ReferralNotMade",
    "AcceptedBySpecialistTeam",
    "RemovalRequested",
    "RemovalApproved",
    "RemovalRefused",
    "CaseClosed",
    "ExpeditedPathwayOpened",
    "ExpeditedPathwayClosed",
    "ExpeditedDeadlineMissed",
    "EscalationRaised",
    "EscalationResolved",
    "ServiceDesignIssueRaised",
)


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 2)


def summary(values: list[float]) -> dict[str, float | int | None]:
    """count, median, mean, min and max of durations in hours (``None`` when there are none)."""
    if not values:
        return {"count": 0, "median_hours": None, "mean_hours": None, "min_hours": None, "max_hours": None}
    return {
        "count": len(values),
        "median_hours": round(median(values), 2),
        "mean_hours": round(sum(values) / len(values), 2),
        "min_hours": min(values),
        "max_hours": max(values),
    }


@dataclass
class Report:
    period_from: datetime | None
    period_to: datetime | None
    now: datetime
    referrals_per_week: dict[str, dict[str, int]] = field(default_factory=dict)
    referrals_by_criterion: dict[str, int] = field(default_factory=dict)
    first_concern_to_referral: dict[str, Any] = field(default_factory=dict)
    referred_without_concern: int = 0
    time_in_specialist_team: dict[str, Any] = field(default_factory=dict)
    still_in_specialist_team: dict[str, Any] = field(default_factory=dict)
    removals: dict[str, int] = field(default_factory=dict)
    refusal_reasons: dict[str, int] = field(default_factory=dict)
    expedited: dict[str, dict[str, int]] = field(default_factory=dict)
    escalations_by_route: dict[str, dict[str, int]] = field(default_factory=dict)
    service_design_issues: list[dict[str, Any]] = field(default_factory=list)
    events_read: int = 0
    log_position: int = 0  # the report is of the log up to and including this position

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.period_from.isoformat() if self.period_from else None,
            "to": self.period_to.isoformat() if self.period_to else None,
            "now": self.now.isoformat(),
            "log_position": self.log_position,
            "referrals_per_week": self.referrals_per_week,
            "referrals_by_criterion": self.referrals_by_criterion,
            "first_concern_to_referral": {
                **self.first_concern_to_referral,
                "without_concern": self.referred_without_concern,
            },
            "time_in_specialist_team": {
                "ended": self.time_in_specialist_team,
                "ongoing": self.still_in_specialist_team,
            },
            "removals": self.removals,
            "refusal_reasons": self.refusal_reasons,
            "expedited": self.expedited,
            "escalations_by_route": self.escalations_by_route,
            "service_design_issues": self.service_design_issues,
        }

    def rows(self) -> list[dict[str, Any]]:
        """Every figure as (section, key, measure, value): the CSV form."""
        out: list[dict[str, Any]] = []

        def add(section: str, key: str, measure: str, value: Any) -> None:
            out.append({"section": section, "key": key, "measure": measure, "value": value})

        for week, counts in self.referrals_per_week.items():
            for measure, n in counts.items():
                add("referrals_per_week", week, measure, n)
        for code, n in self.referrals_by_criterion.items():
            add("referrals_by_criterion", code, "referrals", n)
        for measure, v in self.first_concern_to_referral.items():
            add("first_concern_to_referral", "all", measure, v)
        add("first_concern_to_referral", "all", "without_concern", self.referred_without_concern)
        for measure, v in self.time_in_specialist_team.items():
            add("time_in_specialist_team", "ended", measure, v)
        for measure, v in self.still_in_specialist_team.items():
            add("time_in_specialist_team", "ongoing", measure, v)
        for measure, n in self.removals.items():
            add("removals", "all", measure, n)
        for code, n in self.refusal_reasons.items():
            add("refusal_reasons", code, "refusals", n)
        for reason, counts in self.expedited.items():
            for measure, n in counts.items():
                add("expedited", reason, measure, n)
        for route, counts in self.escalations_by_route.items():
            for measure, n in counts.items():
                add("escalations_by_route", route, measure, n)
        for issue in self.service_design_issues:
            add("service_design_issues", issue["case_id"], issue["issue_id"], issue["summary"])
        return out


def build_report(app: CaseJourney, *, period_from: datetime | None = None, period_to: datetime | None = None) -> Report:
    now = app.clock()
    report = Report(period_from, period_to, now)

    def in_period(at: datetime) -> bool:
        return (period_from is None or at >= period_from) and (period_to is None or at < period_to)

    first_concern: dict[str, datetime] = {}
    weeks: dict[str, Counter[str]] = defaultdict(Counter)
    criteria: Counter[str] = Counter()
    to_referral: list[float] = []
    accepted_at: dict[str, datetime] = {}
    stays: list[float] = []
    removals: Counter[str] = Counter()
    doubts: Counter[str] = Counter()
    pathways: dict[str, dict[str, Any]] = {}
    escalations: dict[str, Counter[str]] = defaultdict(Counter)
    escalation_info: dict[str, dict[str, Any]] = {}
    issues: list[dict[str, Any]] = []
    opened = app.text_keys.open  # free text is read sealed from the log (``case_text``)

    report.log_position = app.recorder.max_notification_id() or 0
    for logged in TopicReader(app, _READ).read(until=report.log_position):
        report.events_read += 1
        e = logged.event
        case_id = str(e.originator_id)
        at: datetime = e.occurred_at
        match e:
            case Case.ConcernRecorded():
                first_concern.setdefault(case_id, at)
                continue
            case Case.AcceptedBySpecialistTeam():
                accepted_at[case_id] = at
                continue
            case Case.ExpeditedPathwayOpened():
                pathways[str(e.pathway_id)] = {"reason": e.pathway_reason, "due_at": e.due_at, "opened_at": at}
                continue
            case Case.ExpeditedPathwayClosed() | Case.ExpeditedDeadlineMissed():
                pathway = pathways.get(str(e.pathway_id))
                if pathway is not None:
                    pathway.setdefault("closed_at" if isinstance(e, Case.ExpeditedPathwayClosed) else "missed_at", at)
                continue
            case Case.RemovalApproved() | Case.CaseClosed() if case_id in accepted_at:
                started = accepted_at.pop(case_id)
                if in_period(started):
                    stays.append(_hours(at - started))
            case Case.EscalationRaised():
                escalation_info[str(e.escalation_id)] = {"reason": opened(e.reason), "route": e.route, "raised_at": at}
        if not in_period(at):
            continue
        match e:
            case Case.ReferredToSpecialistTeam():
                week = f"{at.isocalendar().year}-W{at.isocalendar().week:02d}"
                weeks[week]["discretionary" if e.discretionary else "referred"] += 1
                for code in e.criteria_met or (["discretionary"] if e.discretionary else []):
                    criteria[code] += 1
                if case_id in first_concern:
                    to_referral.append(_hours(at - first_concern[case_id]))
                else:
                    report.referred_without_concern += 1
            case Case.ReferralNotMade():
                week = f"{at.isocalendar().year}-W{at.isocalendar().week:02d}"
                weeks[week]["not_referred"] += 1
            case Case.RemovalRequested():
                removals["requested"] += 1
            case Case.RemovalApproved():
                removals["approved"] += 1
            case Case.RemovalRefused():
                removals["refused"] += 1
                for doubt in e.doubts:
                    doubts[doubt["code"]] += 1
            case Case.EscalationRaised():
                origin = "missed_target" if e.actor_role == str(Role.BACKEND_SERVICE) and e.pathway_id else "raised"
                escalations[e.route][origin] += 1
            case Case.EscalationResolved():
                route = escalation_info.get(str(e.escalation_id), {}).get("route", "unknown")
                escalations[route]["resolved"] += 1
            case Case.ServiceDesignIssueRaised():
                linked = escalation_info.get(str(e.escalation_id)) if e.escalation_id else None
                issues.append(
                    {
                        "issue_id": str(e.issue_id),
                        "case_id": case_id,
                        "raised_at": at.isoformat(),
                        "raised_by": e.actor_id,
                        "summary": opened(e.summary),
                        "escalation_id": str(e.escalation_id) if e.escalation_id else None,
                        "escalation_reason": linked["reason"] if linked else None,
                    }
                )

    report.referrals_per_week = {
        w: {k: c[k] for k in ("referred", "discretionary", "not_referred")} for w, c in sorted(weeks.items())
    }
    report.referrals_by_criterion = dict(sorted(criteria.items()))
    report.first_concern_to_referral = summary(to_referral)
    report.time_in_specialist_team = summary(stays)
    report.still_in_specialist_team = summary(
        [_hours(now - started) for started in accepted_at.values() if in_period(started)]
    )
    report.removals = {k: removals[k] for k in ("requested", "approved", "refused")}
    report.refusal_reasons = dict(doubts.most_common())
    expedited: dict[str, Counter[str]] = defaultdict(Counter)
    for pathway in pathways.values():
        if not in_period(pathway["opened_at"]):
            continue
        counts = expedited[pathway["reason"]]
        counts["opened"] += 1
        if "missed_at" in pathway:
            counts["missed"] += 1
        elif "closed_at" in pathway:
            counts["met" if pathway["closed_at"] <= pathway["due_at"] else "closed_late_unrecorded"] += 1
        elif now > pathway["due_at"]:
            counts["overdue_not_yet_recorded"] += 1
        else:
            counts["open_within_target"] += 1
    measures = ("opened", "met", "missed", "open_within_target", "overdue_not_yet_recorded", "closed_late_unrecorded")
    report.expedited = {r: {m: c[m] for m in measures} for r, c in sorted(expedited.items())}
    report.escalations_by_route = {
        r: {m: c[m] for m in ("raised", "missed_target", "resolved")} for r, c in sorted(escalations.items())
    }
    report.service_design_issues = issues
    return report
