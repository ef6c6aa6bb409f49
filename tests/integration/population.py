"""A generated population of referral journeys whose facts are known by construction.

Each profile is a kind of case (which facts were recorded, which judgement the caseworker made);
``build_population`` writes ``per_profile`` cases of each through the application, one hour of
business time apart, and returns what it built so that tests can compute the expected answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

from domain.case.commands import (
    AcceptReferral,
    AssessSafetyRisk,
    DecideReferral,
    OpenCase,
    RecordAcsInvolvement,
    RecordConcern,
)
from domain.values import Actor, Role, StaffTeam
from infrastructure.access.roster import seed_roster
from infrastructure.eventstore.application import CaseJourney

CW = Actor("cw-pop", Role.CASEWORKER)
SCW = Actor("scw-pop", Role.SPECIALIST_CASEWORKER)
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NAMESPACE = UUID("7c1d9f3e-2b4a-4e8f-9a6d-1e3b5c7d9f21")

PROFILES = (
    "police",  # threatened violence, police involved: referred (police_involvement)
    "acs",  # under ACS for domestic abuse: referred (acs_domestic_abuse)
    "three_part",  # coercive control disclosed, unresolved, significant threat: referred (three_part_test)
    "no_threat",  # physical violence disclosed, unresolved, NO significant threat: not referred
    "resolved",  # financial control disclosed, resolved, no threat: not referred
    "no_disclosure",  # homelessness risk (not abuse), unresolved, threat: not referred
    "direct_pay_police",  # Direct Pay, police involved: not referred (service type)
    "discretionary",  # as no_threat, but referred at the caseworker's discretion
)


@dataclass(frozen=True)
class Built:
    case_id: UUID
    profile: str
    index: int  # position in the population: decided at START + index hours + 5 minutes
    source: str  # the concern's source ("" when no concern)
    accepted: bool

    @property
    def decided_at(self) -> datetime:
        return START + timedelta(hours=self.index, minutes=5)


def build_population(app: CaseJourney, per_profile: int) -> list[Built]:
    seed_roster(app, {StaffTeam.MAINSTREAM: [CW.id], StaffTeam.SPECIALIST_CASE_TEAM: [SCW.id]})
    built: list[Built] = []
    index = 0
    for profile in PROFILES:
        for i in range(per_profile):
            built.append(_one(app, profile, i, index))
            index += 1
    return built


def _one(app: CaseJourney, profile: str, i: int, index: int) -> Built:
    at = START + timedelta(hours=index)
    step = 0

    def cid() -> UUID:
        nonlocal step
        step += 1
        return uuid5(NAMESPACE, f"{profile}-{i}-{step}")

    def t() -> datetime:
        return at + timedelta(minutes=step)

    pwc, nrp = f"pwc-{profile}-{i}", f"nrp-{profile}-{i}"
    service = "direct_pay" if profile == "direct_pay_police" else "collect_and_pay"
    case_id = app.execute(
        OpenCase(
            applicant_role="receiving_parent",
            service_type=service,
            receiving_parent_id=pwc,
            paying_parent_id=nrp,
            command_id=cid(),
            occurred_at=t(),
        ),
        CW,
    ).case_id
    source = ""

    def concern(kind: str, src: str, police: bool = False) -> None:
        nonlocal source
        source = src
        app.execute(
            RecordConcern(
                case_id=case_id,
                kind=kind,
                source=src,
                affected_party_id=pwc,
                police_involved=police,
                command_id=cid(),
                occurred_at=t(),
            ),
            CW,
        )

    def assess(unresolved: bool, threat: bool) -> None:
        app.execute(
            AssessSafetyRisk(
                case_id=case_id,
                concerns_unresolved=unresolved,
                significant_threat=threat,
                reason="caseworker's judgement",
                command_id=cid(),
                occurred_at=t(),
            ),
            CW,
        )

    match profile:
        case "police" | "direct_pay_police":
            concern("threatened_violence", "police" if i % 2 == 0 else "third_party", police=True)
        case "acs":
            app.execute(
                RecordAcsInvolvement(
                    case_id=case_id,
                    party_id=pwc,
                    for_domestic_abuse=True,
                    reason="already supported",
                    command_id=cid(),
                    occurred_at=t(),
                ),
                CW,
            )
        case "three_part":
            concern("coercive_control", "customer_disclosure")
            assess(True, True)
        case "no_threat" | "discretionary":
            concern("physical_violence", "customer_disclosure")
            assess(True, False)
        case "resolved":
            concern("financial_control", "customer_disclosure")
            assess(False, False)
        case "no_disclosure":
            concern("homelessness_risk", "customer_disclosure")
            assess(True, True)
    discretionary = profile == "discretionary"
    app.execute(
        DecideReferral(
            case_id=case_id,
            discretionary=discretionary,
            reason="she fears the handovers" if discretionary else "",
            command_id=uuid5(NAMESPACE, f"{profile}-{i}-decide"),
            occurred_at=at + timedelta(minutes=5),
        ),
        CW,
    )
    accepted = profile == "police" and i % 3 == 0
    if accepted:
        app.execute(
            AcceptReferral(
                case_id=case_id,
                specialist_caseworker_id=SCW.id,
                command_id=uuid5(NAMESPACE, f"{profile}-{i}-accept"),
                occurred_at=at + timedelta(minutes=6),
            ),
            SCW,
        )
    return Built(case_id, profile, index, source, accepted)
