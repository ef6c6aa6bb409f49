"""The stories of shared/SCENARIOS.md as journeys of commands, for `casejourney demo` and the tests.

Each story runs through the application exactly as a backend service would: commands, actors,
business times. The expected outcomes are asserted by the tests, not here. The people in the
stories are on the staff roster (``DEMO_ROSTER``, seeded by ``seed_demo_roster`` first): every
command that names a person finds them a current member of the right team. Named caseworkers are
allocated by a team leader (nobody names themself), and some steps are attempts the rules refuse
(``Journey.refused``): the gaps a careless build would leave open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from domain.case.commands import (
    AcceptReferral,
    AssessSafetyRisk,
    AssignCaseworker,
    CaseCommand,
    CloseCase,
    CloseExpeditedPathway,
    DecideReferral,
    DecideRemoval,
    EndEnforcement,
    EndPoliceInvolvement,
    GiveSignposting,
    HandOverEnforcement,
    OpenCase,
    OpenExpeditedPathway,
    RaiseEscalation,
    RaiseServiceDesignIssue,
    RecordAcsInvolvement,
    RecordConcern,
    RecordDeadlineMissed,
    RequestRemoval,
    ResolveConcern,
    ResolveEscalation,
    StartEnforcement,
)
from domain.errors import CaseNotFound, DomainError
from domain.values import Actor, Role, ServiceType, StaffTeam
from infrastructure.access.roster import SEEDING_TEAM_LEADER, seed_roster
from infrastructure.eventstore.application import CaseJourney, CommandResult

CASEWORKER = Actor("cw-amara", Role.CASEWORKER)
MAINSTREAM_CASEWORKER = Actor("cw-bilal", Role.CASEWORKER)
SPECIALIST = Actor("scw-chloe", Role.SPECIALIST_CASEWORKER)
REVIEWER = Actor("scw-gwen", Role.SPECIALIST_CASEWORKER)  # removals are reviewed by a second person
ENFORCEMENT_MANAGER = Actor("em-dev", Role.ENFORCEMENT_MANAGER)
SECOND_ENFORCEMENT_MANAGER = Actor("em-erin", Role.ENFORCEMENT_MANAGER)
ACSSL = Actor("acssl-farah", Role.ACS_SENIOR_LEADER)
AUDITOR = Actor("aud-ines", Role.AUDITOR)
DEADLINE_CLOCK = Actor("svc-deadline-clock", Role.BACKEND_SERVICE)
TEAM_LEADER = SEEDING_TEAM_LEADER

#: Who is on which team in the stories.
DEMO_ROSTER: dict[StaffTeam, list[str]] = {
    StaffTeam.MAINSTREAM: [CASEWORKER.id, MAINSTREAM_CASEWORKER.id],
    StaffTeam.SPECIALIST_CASE_TEAM: [SPECIALIST.id, REVIEWER.id],
    StaffTeam.ENFORCEMENT: [ENFORCEMENT_MANAGER.id, SECOND_ENFORCEMENT_MANAGER.id],
    StaffTeam.ACS_SENIOR_LEADERS: [ACSSL.id],
    StaffTeam.AUDIT: [AUDITOR.id],
}


def seed_demo_roster(app: CaseJourney) -> int:
    """The stories' staff on the roster; a second call appends nothing. Returns the joins appended."""
    return seed_roster(app, DEMO_ROSTER, by=TEAM_LEADER, reason="On the team in the sample journeys.")


#: Command ids of the stories are derived from this namespace, the story and the step, so running a
#: story again on the same store replays it (idempotency) instead of writing a second copy.
STORY_NAMESPACE = UUID("0b6f4a53-6d3e-4d8a-a0f7-2d1c6a0e5b11")


@dataclass
class Journey:
    """One case's story: issues commands at advancing business times and keeps what happened."""

    app: CaseJourney
    number: int
    title: str
    at: datetime
    case_id: UUID | None = None
    results: list[CommandResult] = field(default_factory=list)
    refusals: list[DomainError] = field(default_factory=list)
    steps: int = 0

    def next_command_id(self) -> UUID:
        self.steps += 1
        return uuid5(STORY_NAMESPACE, f"scenario-{self.number}-step-{self.steps}")

    @property
    def receiving_parent(self) -> str:
        return f"pwc-s{self.number}"

    @property
    def paying_parent(self) -> str:
        return f"nrp-s{self.number}"

    def later(self, **delta: float) -> Journey:
        self.at += timedelta(**delta)
        return self

    def open(self, actor: Actor, service_type: ServiceType = ServiceType.COLLECT_AND_PAY, **fields: Any) -> UUID:
        result = self.app.execute(
            OpenCase(
                applicant_role="receiving_parent",
                service_type=service_type,
                receiving_parent_id=self.receiving_parent,
                paying_parent_id=self.paying_parent,
                occurred_at=self.at,
                command_id=self.next_command_id(),
                **fields,
            ),
            actor,
        )
        self.results.append(result)
        self.case_id = result.case_id
        return result.case_id

    def do(self, actor: Actor, command: type[CaseCommand], **fields: Any) -> CommandResult:
        assert self.case_id is not None, "open the case first"
        result = self.app.execute(
            command(case_id=self.case_id, occurred_at=self.at, command_id=self.next_command_id(), **fields), actor
        )
        self.results.append(result)
        self.later(hours=1)
        return result

    def refused(self, actor: Actor, command: type[CaseCommand], **fields: Any) -> DomainError:
        """A step the rules must refuse: returns the refusal (and fails loudly if it was accepted)."""
        try:
            self.do(actor, command, **fields)
        except DomainError as refusal:
            self.refusals.append(refusal)
            return refusal
        raise AssertionError(f"scenario {self.number}: {command.__name__} should have been refused")


def _specialist_case(j: Journey) -> UUID:
    """Common start: a Collect and Pay case referred for police involvement and accepted."""
    j.open(CASEWORKER)
    j.do(TEAM_LEADER, AssignCaseworker, caseworker_id=CASEWORKER.id)
    concern = j.do(
        CASEWORKER,
        RecordConcern,
        kind="threatened_violence",
        source="customer_disclosure",
        affected_party_id=j.receiving_parent,
        police_involved=True,
        note="Police called about the paying parent's threats last month.",
    ).ids["concern_id"]
    j.do(CASEWORKER, DecideReferral)
    j.do(SPECIALIST, AcceptReferral, specialist_caseworker_id=SPECIALIST.id)
    return concern


def police_involved(j: Journey) -> None:
    concern = _specialist_case(j)
    # The facts the removal rule reads are the team's: a mainstream caseworker cannot lower them.
    j.refused(MAINSTREAM_CASEWORKER, ResolveConcern, concern_id=concern, reason="Sounds fine now.")


def already_under_acs(j: Journey) -> None:
    j.open(CASEWORKER)
    j.do(TEAM_LEADER, AssignCaseworker, caseworker_id=CASEWORKER.id)
    j.do(
        CASEWORKER,
        RecordAcsInvolvement,
        party_id=j.receiving_parent,
        for_domestic_abuse=True,
        reason="Customer already supported by DWP ACS.",
    )
    j.do(CASEWORKER, DecideReferral)
    j.do(SPECIALIST, AcceptReferral, specialist_caseworker_id=SPECIALIST.id)


def three_part_test_met(j: Journey) -> None:
    j.open(CASEWORKER)
    j.do(TEAM_LEADER, AssignCaseworker, caseworker_id=CASEWORKER.id)
    concern = j.do(
        CASEWORKER,
        RecordConcern,
        kind="coercive_control",
        source="customer_disclosure",
        affected_party_id=j.receiving_parent,
    ).ids["concern_id"]
    j.do(
        CASEWORKER,
        GiveSignposting,
        target="domestic_abuse_support_service",
        resolved_concern=False,
        concern_id=concern,
    )
    j.do(
        CASEWORKER,
        AssessSafetyRisk,
        concern_id=concern,
        concerns_unresolved=True,
        significant_threat=True,
        reason="Signposting did not resolve the concern; she fears for her safety at handovers.",
    )
    j.do(CASEWORKER, DecideReferral)
    j.do(SPECIALIST, AcceptReferral, specialist_caseworker_id=SPECIALIST.id)


def three_part_test_not_met(j: Journey) -> None:
    j.open(CASEWORKER)
    j.do(TEAM_LEADER, AssignCaseworker, caseworker_id=CASEWORKER.id)
    concern = j.do(
        CASEWORKER,
        RecordConcern,
        kind="financial_control",
        source="customer_disclosure",
        affected_party_id=j.receiving_parent,
    ).ids["concern_id"]
    j.do(CASEWORKER, GiveSignposting, target="domestic_abuse_support_service", resolved_concern=False)
    j.do(CASEWORKER, GiveSignposting, target="affordability_hub", resolved_concern=True, concern_id=concern)
    j.do(
        CASEWORKER,
        AssessSafetyRisk,
        concern_id=concern,
        concerns_unresolved=False,
        significant_threat=False,
        reason="Signposting resolved the concern; no significant threat.",
    )
    j.do(CASEWORKER, DecideReferral)


def removal_refused_while_doubt_remains(j: Journey) -> None:
    concern = _specialist_case(j)
    j.do(SPECIALIST, ResolveConcern, concern_id=concern, reason="Safety plan agreed with a support service.")
    j.do(SPECIALIST, EndPoliceInvolvement, reason="Police confirm no further action.")
    j.do(
        SPECIALIST,
        RaiseEscalation,
        reason="Customer reports contact attempts through a third party.",
        to_actor_id=ACSSL.id,
    )
    j.later(days=30)
    j.do(
        SPECIALIST,
        AssessSafetyRisk,
        concerns_unresolved=False,
        significant_threat=False,
        reason="Safety plan holding; no threat reported this month.",
    )
    j.do(
        SPECIALIST,
        RequestRemoval,
        advised_by_party_id=j.receiving_parent,
        victim_survivor_advises_no_ongoing_abuse=True,
        reason="She says the abuse has ended and asks to leave the team.",
    )
    j.do(REVIEWER, DecideRemoval, reviewer_doubt=False, returned_to_caseworker_id=MAINSTREAM_CASEWORKER.id)


def removal_approved(j: Journey) -> None:
    concern = _specialist_case(j)
    j.do(SPECIALIST, ResolveConcern, concern_id=concern, reason="Non-molestation order in place; no contact.")
    j.do(SPECIALIST, EndPoliceInvolvement, reason="Police investigation closed.")
    j.later(days=180)
    j.do(
        SPECIALIST,
        AssessSafetyRisk,
        concerns_unresolved=False,
        significant_threat=False,
        reason="Review after six months: no ongoing abuse reported.",
    )
    j.do(
        SPECIALIST,
        RequestRemoval,
        advised_by_party_id=j.receiving_parent,
        victim_survivor_advises_no_ongoing_abuse=True,
        reason="She advises there is no longer ongoing domestic abuse.",
    )
    j.do(
        REVIEWER,
        DecideRemoval,
        reviewer_doubt=False,
        reviewer_note="No open concern, escalation or pathway; customer content.",
        returned_to_caseworker_id=MAINSTREAM_CASEWORKER.id,
    )


def enforcement_beside_named_caseworker(j: Journey) -> None:
    _specialist_case(j)
    j.do(
        SPECIALIST,
        StartEnforcement,
        enforcement_manager_id=ENFORCEMENT_MANAGER.id,
        step="deduction_from_earnings",
        reason="Three months of missed payments.",
    )
    j.refused(
        SPECIALIST,
        StartEnforcement,
        enforcement_manager_id=SECOND_ENFORCEMENT_MANAGER.id,
        reason="Second manager asked to help.",
    )
    j.do(
        ENFORCEMENT_MANAGER,
        HandOverEnforcement,
        to_manager_id=SECOND_ENFORCEMENT_MANAGER.id,
        reason="Manager moves to the liability order team.",
    )
    # Enforcement is its manager's: the one who handed it over can no longer end it.
    j.refused(ENFORCEMENT_MANAGER, EndEnforcement, reason="Tidying up my old list.")


def homelessness_risk_at_any_stage(j: Journey) -> None:
    j.open(CASEWORKER)
    j.do(TEAM_LEADER, AssignCaseworker, caseworker_id=CASEWORKER.id)
    j.do(CASEWORKER, StartEnforcement, enforcement_manager_id=ENFORCEMENT_MANAGER.id, reason="Arrears review.")
    j.do(
        CASEWORKER,
        RecordConcern,
        kind="homelessness_risk",
        source="customer_disclosure",
        affected_party_id=j.paying_parent,
        note="Says he is about to lose his home.",
    )
    pathway = j.do(
        CASEWORKER,
        OpenExpeditedPathway,
        pathway_reason="homelessness_risk",
        reason="Paying parent at risk of homelessness during arrears review.",
    ).ids["pathway_id"]
    j.do(CASEWORKER, GiveSignposting, target="district_provision_toolkit", resolved_concern=False)
    j.later(days=3)  # the target time passes without action
    escalation = j.do(DEADLINE_CLOCK, RecordDeadlineMissed, pathway_id=pathway, escalate_to=ACSSL.id).ids[
        "escalation_id"
    ]
    j.later(hours=5)
    j.do(ACSSL, ResolveEscalation, escalation_id=escalation, resolution="Arrears plan paused; DPT support arranged.")
    j.do(
        ACSSL,
        RaiseServiceDesignIssue,
        escalation_id=escalation,
        summary="Expedited homelessness cases in enforcement have no owner between shifts.",
    )


def significant_financial_hardship(j: Journey) -> None:
    j.open(CASEWORKER)
    j.do(TEAM_LEADER, AssignCaseworker, caseworker_id=CASEWORKER.id)
    j.do(
        CASEWORKER,
        RecordConcern,
        kind="financial_hardship",
        source="customer_disclosure",
        affected_party_id=j.receiving_parent,
        note="Cannot meet basic costs while payments are missed.",
    )
    pathway = j.do(
        CASEWORKER,
        OpenExpeditedPathway,
        pathway_reason="significant_financial_hardship",
        reason="Receiving parent cannot meet basic costs.",
    ).ids["pathway_id"]
    j.do(CASEWORKER, GiveSignposting, target="affordability_hub", resolved_concern=False)
    j.later(days=2)
    j.do(CASEWORKER, CloseExpeditedPathway, pathway_id=pathway, reason="Hardship addressed: payments resumed.")


def closure(j: Journey) -> None:
    _specialist_case(j)
    j.later(days=90)
    j.do(SPECIALIST, CloseCase, reason="The child has left full-time education.")
    j.refused(SPECIALIST, AssignCaseworker, caseworker_id="scw-new", reason="Reassignment after closure.")


@dataclass(frozen=True)
class Scenario:
    number: int
    title: str
    run: Callable[[Journey], None]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(1, "Police involved", police_involved),
    Scenario(2, "Already under Advanced Customer Support", already_under_acs),
    Scenario(3, "The three-part test, met", three_part_test_met),
    Scenario(4, "The three-part test, not met", three_part_test_not_met),
    Scenario(5, "Removal refused while doubt remains", removal_refused_while_doubt_remains),
    Scenario(6, "Removal approved", removal_approved),
    Scenario(7, "Enforcement beside the named caseworker", enforcement_beside_named_caseworker),
    Scenario(8, "Homelessness risk at any stage", homelessness_risk_at_any_stage),
    Scenario(9, "Significant financial hardship", significant_financial_hardship),
    Scenario(10, "Closure", closure),
)


def demo_start(app: CaseJourney, first_case_id: UUID) -> datetime:
    """When the stories begin: as stored, if the demo ran on this store before (so a second run replays
    the same commands); else a Monday about 40 weeks ago, so every story lies in the past and within
    the business-time bounds."""
    try:
        return app.case_events(first_case_id)[0].occurred_at
    except CaseNotFound:
        back = app.clock() - timedelta(weeks=40)
        monday = back - timedelta(days=back.weekday())
        return monday.replace(hour=9, minute=0, second=0, microsecond=0)


def run_scenario(app: CaseJourney, scenario: Scenario, start: datetime) -> Journey:
    """Runs one story from ``start`` (its people put on the roster first, if they are not yet)."""
    seed_demo_roster(app)
    journey = Journey(app=app, number=scenario.number, title=scenario.title, at=start)
    scenario.run(journey)
    return journey
