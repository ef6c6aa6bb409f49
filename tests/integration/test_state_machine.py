"""Random command sequences against the application (SQLite): the safety invariants always hold.

A hypothesis ``RuleBasedStateMachine`` opens a few cases and sends them random commands (any
command, from mostly permitted roles, with ids taken from the case's own concerns, pathways and
escalations), through ``CaseJourney.execute``, with a fake clock that moves on. A refusal
(``DomainError``) is an allowed outcome; anything else raised is a failure. After every step:

- a refused command appended nothing;
- over every case's whole log: a case in the Specialist Case Team leaves it only by an approved
  removal (closure keeps it there); an enforcement starts only when none is running, a handover
  or an end only while one is, so at any moment there is exactly one manager in enforcement
  (a non-empty id) or none; after ``CaseClosed`` the only event is ``EntryRecordedInError``;
- the projections, caught up by the runner's own ``catch_up``, equal the state replayed from the
  log: the team-assignment row (read with ``team_assignment_of``) equals the pure fold of the
  case's events and agrees with the aggregate replayed by ``get_case``.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from domain.case.aggregate import Case
from domain.case.commands import (
    AcceptReferral,
    AssessSafetyRisk,
    AssignCaseworker,
    CloseCase,
    CloseExpeditedPathway,
    Command,
    DecideReferral,
    DecideRemoval,
    EndEnforcement,
    EndPoliceInvolvement,
    GiveSignposting,
    HandOverEnforcement,
    OpenCase,
    OpenExpeditedPathway,
    RaiseEscalation,
    RecordAcsInvolvement,
    RecordConcern,
    RecordDeadlineMissed,
    RecordEntryInError,
    RequestRemoval,
    ResolveConcern,
    ResolveEscalation,
    StartEnforcement,
)
from domain.errors import DomainError
from domain.rules.permissions import PERMISSIONS
from domain.values import (
    Actor,
    ApplicantRole,
    ConcernKind,
    ConcernSource,
    PathwayReason,
    Role,
    ServiceType,
    SignpostTarget,
    Team,
)
from infrastructure.application import CaseJourney
from infrastructure.projection_runner import ReadModels
from infrastructure.readmodels import team_assignment_of
from infrastructure.settings import Settings
from projections import team_assignment
from tests.conftest import FakeClock

ACTORS = {
    Role.CASEWORKER: ["cw-ada", "cw-bob"],
    Role.SPECIALIST_CASEWORKER: ["scw-bea", "scw-cy"],
    Role.ENFORCEMENT_MANAGER: ["em-cal", "em-dan"],
    Role.ACS_SENIOR_LEADER: ["acssl-dee"],
    Role.BACKEND_SERVICE: ["svc-intake"],
    Role.AUDITOR: ["aud-eve"],
}
REASON = "Recorded by the state machine."
#: Which command ``_command`` builds, weighted so that referrals, acceptance by the Specialist Case
#: Team, removal requests and enforcement come up often (closure, which ends a case, less often).
KINDS = [0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 9, 9, 9, 10, 10, 11, 12, 13, 14, 15, 16, 17, 18, 18, 19, 19, 19, 20]


def _pick(data: Any, values: list[Any], fallback: Any) -> Any:
    return data.draw(st.sampled_from(values)) if values else fallback


def _command(data: Any, case: Case) -> Command:
    """Any case command, with ids from this case's own state where it has them (or made up)."""
    c = case.id
    concerns = list(case.concerns)
    pathways = list(case.open_pathways)
    escalations = list(case.open_escalations)
    parties = [case.receiving_parent_id, case.paying_parent_id, "someone-else"]
    made_up = UUID(int=data.draw(st.integers(1, 3)))
    kind = data.draw(st.sampled_from(KINDS))
    # Follow the journey half the time: accept a pending referral, decide a pending removal,
    # ask for a removal of a specialist case.
    if data.draw(st.booleans()):
        if case.referral_pending:
            kind = 9
        elif case.removal_request is not None:
            kind = 19
        elif case.in_specialist_team:
            kind = data.draw(st.sampled_from([18, 18, 18, 3, 6, 5]))
    if kind == 0:
        return AssignCaseworker(case_id=c, caseworker_id=data.draw(st.sampled_from(["cw-ada", "cw-bob", "scw-bea"])))
    if kind in (1, 2):
        return RecordConcern(
            case_id=c,
            kind=data.draw(st.sampled_from(list(ConcernKind))),
            source=data.draw(st.sampled_from(list(ConcernSource))),
            affected_party_id=data.draw(st.sampled_from(parties)),
            police_involved=data.draw(st.booleans()),
        )
    if kind == 3:
        return ResolveConcern(case_id=c, concern_id=_pick(data, concerns, made_up), reason=REASON)
    if kind == 4:
        return GiveSignposting(
            case_id=c,
            target=data.draw(st.sampled_from(list(SignpostTarget))),
            resolved_concern=data.draw(st.booleans()),
            concern_id=_pick(data, concerns, None),
        )
    if kind == 5:
        return AssessSafetyRisk(
            case_id=c,
            concerns_unresolved=data.draw(st.booleans()),
            significant_threat=data.draw(st.booleans()),
            reason=REASON,
        )
    if kind == 6:
        return EndPoliceInvolvement(case_id=c, reason=REASON)
    if kind == 7:
        return RecordAcsInvolvement(
            case_id=c,
            party_id=data.draw(st.sampled_from(parties)),
            for_domestic_abuse=data.draw(st.booleans()),
            reason=REASON,
        )
    if kind == 8:
        discretionary = data.draw(st.booleans())
        return DecideReferral(case_id=c, discretionary=discretionary, reason=REASON if discretionary else "")
    if kind == 9:
        return AcceptReferral(case_id=c, specialist_caseworker_id=data.draw(st.sampled_from(["scw-bea", "scw-cy"])))
    if kind == 10:
        return StartEnforcement(
            case_id=c, enforcement_manager_id=data.draw(st.sampled_from(["em-cal", "em-dan"])), reason=REASON
        )
    if kind == 11:
        return HandOverEnforcement(
            case_id=c, to_manager_id=data.draw(st.sampled_from(["em-cal", "em-dan"])), reason=REASON
        )
    if kind == 12:
        return EndEnforcement(case_id=c, reason=REASON)
    if kind == 13:
        return OpenExpeditedPathway(
            case_id=c, pathway_reason=data.draw(st.sampled_from(list(PathwayReason))), reason=REASON
        )
    if kind == 14:
        return CloseExpeditedPathway(case_id=c, pathway_id=_pick(data, pathways, made_up), reason=REASON)
    if kind == 15:
        return RecordDeadlineMissed(case_id=c, pathway_id=_pick(data, pathways, made_up))
    if kind == 16:
        return RaiseEscalation(case_id=c, reason=REASON, pathway_id=_pick(data, pathways, None))
    if kind == 17:
        return ResolveEscalation(case_id=c, escalation_id=_pick(data, escalations, made_up), resolution=REASON)
    if kind == 18:
        return RequestRemoval(
            case_id=c,
            advised_by_party_id=data.draw(st.sampled_from(parties)),
            victim_survivor_advises_no_ongoing_abuse=data.draw(st.booleans()),
        )
    if kind == 19:
        return DecideRemoval(
            case_id=c,
            reviewer_doubt=data.draw(st.sampled_from([False, False, True, None])),
            returned_to_caseworker_id=data.draw(st.sampled_from([None, "cw-ada"])),
        )
    if data.draw(st.booleans()):
        return CloseCase(case_id=c, reason=REASON)
    return RecordEntryInError(case_id=c, corrected_version=data.draw(st.integers(1, case.version)), correction=REASON)


def check_log_invariants(events: list[Case.Event]) -> None:
    """The safety invariants over one case's whole log, event by event."""
    case: Any = None
    closed = False
    for event in events:
        name = type(event).__name__
        assert not closed or isinstance(event, Case.EntryRecordedInError), f"{name} after closure"
        before_team = case.team if case is not None else None
        before_manager = case.enforcement_manager_id if case is not None else None
        if isinstance(event, Case.EnforcementStarted):
            assert before_manager is None, "enforcement started while a manager was already in charge"
        if isinstance(event, (Case.EnforcementManagerHandedOver, Case.EnforcementEnded)):
            assert before_manager is not None, f"{name} with no enforcement running"
        case = event.mutate(case)
        assert case.enforcement_manager_id is None or (
            isinstance(case.enforcement_manager_id, str) and case.enforcement_manager_id
        ), "enforcement without exactly one named manager"
        if before_team is Team.SPECIALIST_CASE_TEAM and case.team is not Team.SPECIALIST_CASE_TEAM:
            assert isinstance(event, Case.RemovalApproved), f"left the Specialist Case Team by {name}"
        closed = closed or isinstance(event, Case.CaseClosed)


ASSIGNMENT_FIELDS = (
    "team",
    "named_caseworker_id",
    "enforcement_manager_id",
    "expedited_open",
    "escalation_open",
    "closed",
    "case_version",
)


class CaseJourneyMachine(RuleBasedStateMachine):
    cases = Bundle("cases")

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="cj-sm-"))
        self.clock = FakeClock()
        self.app = CaseJourney(Settings(store="sqlite", sqlite_path=self.tmp / "cj.sqlite"), clock=self.clock)
        self.models = ReadModels(self.app)
        self.case_ids: list[UUID] = []
        self.outcomes = {"appended": 0, "refused": 0}

    def teardown(self) -> None:
        self.models.close()
        self.app.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @precondition(lambda self: len(self.case_ids) < 3)  # a few cases, each with a long journey
    @rule(target=cases, role=st.sampled_from(list(ApplicantRole)), service=st.sampled_from(list(ServiceType)))
    def open_case(self, role: ApplicantRole, service: ServiceType) -> UUID:
        n = len(self.case_ids)
        result = self.app.execute(
            OpenCase(
                applicant_role=role, service_type=service, receiving_parent_id=f"rp-{n}", paying_parent_id=f"pp-{n}"
            ),
            Actor("svc-intake", Role.BACKEND_SERVICE),
        )
        self.case_ids.append(result.case_id)
        return result.case_id

    @rule(case_id=cases, data=st.data(), minutes=st.integers(0, 60 * 24 * 3))
    def act(self, case_id: UUID, data: Any, minutes: int) -> None:
        self.clock.advance(minutes=minutes)
        case = self.app.get_case(case_id)
        command = _command(data, case)
        allowed = sorted(PERMISSIONS[command.action])
        # Mostly a permitted role; sometimes any role, so refusals by permission happen too.
        role = data.draw(st.sampled_from(allowed) if data.draw(st.integers(0, 9)) else st.sampled_from(list(Role)))
        actor = Actor(data.draw(st.sampled_from(ACTORS[role])), role)
        before = case.version
        try:
            result = self.app.execute(command, actor)
        except DomainError:
            self.outcomes["refused"] += 1
            assert self.app.get_case(case_id).version == before, "a refused command appended events"
            return
        self.outcomes["appended"] += 1
        assert result.version == self.app.get_case(case_id).version > before

    @invariant()
    def safety_invariants_hold_over_every_log(self) -> None:
        for case_id in self.case_ids:
            check_log_invariants(self.app.case_events(case_id))

    @invariant()
    def projections_equal_the_state_replayed_from_the_log(self) -> None:
        if not self.case_ids:
            return
        self.models.catch_up()
        with self.models.engine.connect() as conn:
            for case_id in self.case_ids:
                events = self.app.case_events(case_id)
                replayed = team_assignment.fold(None, events).as_row()
                row = team_assignment_of(conn, str(case_id))
                assert row is not None, f"no team assignment row for {case_id}"
                for name in ASSIGNMENT_FIELDS:
                    assert row[name] == replayed[name], f"{name}: view {row[name]!r}, log {replayed[name]!r}"
                case = self.app.get_case(case_id)
                assert (row["team"], row["named_caseworker_id"], row["enforcement_manager_id"], row["closed"]) == (
                    str(case.team),
                    case.named_caseworker_id,
                    case.enforcement_manager_id,
                    case.closed,
                )


CaseJourneyMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestCaseJourneyMachine = CaseJourneyMachine.TestCase


def test_the_machine_reaches_the_states_that_matter() -> None:
    """The invariants above are only worth something if random sequences reach specialist cases,
    enforcement and closure: a fixed sequence through the same helpers shows they can."""
    tmp = Path(tempfile.mkdtemp(prefix="cj-sm-"))
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    app = CaseJourney(Settings(store="sqlite", sqlite_path=tmp / "cj.sqlite"), clock=clock)
    try:
        cw, scw, em = (
            Actor("cw-ada", Role.CASEWORKER),
            Actor("scw-bea", Role.SPECIALIST_CASEWORKER),
            Actor("em-cal", Role.ENFORCEMENT_MANAGER),
        )
        c = app.execute(
            OpenCase(
                applicant_role="receiving_parent",
                service_type="collect_and_pay",
                receiving_parent_id="rp-0",
                paying_parent_id="pp-0",
            ),
            cw,
        ).case_id
        app.execute(
            RecordConcern(
                case_id=c,
                kind="threatened_violence",
                source="customer_disclosure",
                affected_party_id="rp-0",
                police_involved=True,
            ),
            cw,
        )
        app.execute(DecideReferral(case_id=c), cw)
        app.execute(AcceptReferral(case_id=c, specialist_caseworker_id="scw-bea"), scw)
        app.execute(StartEnforcement(case_id=c, enforcement_manager_id="em-cal", reason=REASON), em)
        # A removal with doubts is refused, and the case stays in the Specialist Case Team.
        app.execute(
            RequestRemoval(case_id=c, advised_by_party_id="rp-0", victim_survivor_advises_no_ongoing_abuse=True), scw
        )
        app.execute(DecideRemoval(case_id=c, reviewer_doubt=None), Actor("acssl-dee", Role.ACS_SENIOR_LEADER))
        clock.advance(minutes=5)
        app.execute(CloseCase(case_id=c, reason=REASON), scw)
        events = app.case_events(c)
        check_log_invariants(events)
        names = [type(e).__name__ for e in events]
        assert "AcceptedBySpecialistTeam" in names and "RemovalRefused" in names and names[-1] == "CaseClosed"
        assert app.get_case(c).team is Team.SPECIALIST_CASE_TEAM
        # The checker itself catches a breach: an event (here a repeat of the closure) after closure.
        try:
            check_log_invariants([*events, events[-1]])
        except AssertionError as exc:
            assert "after closure" in str(exc)
        else:
            raise AssertionError("an event after closure was not caught")
    finally:
        app.close()
        shutil.rmtree(tmp, ignore_errors=True)
