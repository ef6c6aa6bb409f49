"""The tests' shared builders: the actors and parties every test names, and the "given" of a test.

- **Actors** (``CASEWORKER``, ``SPECIALIST``, ...): one constant per person, with the ids of
  ``tests/conftest.py``'s ``TEST_ROSTER``; ``ACTOR_FOR_ROLE`` gives one per role.
- **Aggregate stories** (``Story``, ``application``, ``mainstream_case``, ``specialist_case``,
  ``settled_specialist_case``): cases built in memory at explicit times, for the unit tests of the
  rules. Nothing here reads the wall clock: every context carries a time the test chose, and a
  ``Story`` moves its own clock forward one step (a minute unless told otherwise) per command.
- **Cases in a store** (``open_case``, ``opening``): the ``OpenCase`` command through an
  application, for the integration and end-to-end tests.

Command ids are random, which is harmless: no assertion depends on them except by identity.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import pytest

from domain.case.aggregate import Case
from domain.case.commands import OpenCase
from domain.errors import DomainError
from domain.rules.eligibility import POLICY_V1
from domain.values import (
    ActionContext,
    Actor,
    ApplicantRole,
    ConcernKind,
    ConcernSource,
    EnforcementStep,
    Memberships,
    PathwayReason,
    Role,
    ServiceType,
    SignpostTarget,
    StaffTeam,
    Team,
)

if TYPE_CHECKING:
    from infrastructure.eventstore.application import CaseJourney

#: The moment every story starts, unless a test says otherwise.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

CASEWORKER = Actor("cw-ada", Role.CASEWORKER)
SPECIALIST = Actor("scw-bea", Role.SPECIALIST_CASEWORKER)
REVIEWER = Actor("scw-ivy", Role.SPECIALIST_CASEWORKER)  # a removal is reviewed by a second person
ENFORCEMENT_MANAGER = Actor("em-cal", Role.ENFORCEMENT_MANAGER)
SECOND_ENFORCEMENT_MANAGER = Actor("em-dan", Role.ENFORCEMENT_MANAGER)
ACSSL = Actor("acssl-dee", Role.ACS_SENIOR_LEADER)
SERVICE = Actor("svc-intake", Role.BACKEND_SERVICE)
AUDITOR = Actor("aud-eve", Role.AUDITOR)
TEAM_LEADER = Actor("tl-hana", Role.TEAM_LEADER)
OPERATOR = Actor("op-omar", Role.OPERATOR)

#: One actor per role, for tables that go through every role.
ACTOR_FOR_ROLE: dict[Role, Actor] = {
    Role.CASEWORKER: CASEWORKER,
    Role.SPECIALIST_CASEWORKER: SPECIALIST,
    Role.ENFORCEMENT_MANAGER: ENFORCEMENT_MANAGER,
    Role.ACS_SENIOR_LEADER: ACSSL,
    Role.AUDITOR: AUDITOR,
    Role.BACKEND_SERVICE: SERVICE,
    Role.TEAM_LEADER: TEAM_LEADER,
    Role.OPERATOR: OPERATOR,
}

#: An id no story gives to anything: for commands whose target need not exist to be refused.
ANY_ID = UUID(int=1)

RECEIVING_PARENT = "party-fay"  # the person with care; the victim-survivor in these stories
PAYING_PARENT = "party-gus"
STRANGER = "party-not-on-this-case"

MAINSTREAM_CASEWORKER_ID = CASEWORKER.id
SPECIALIST_CASEWORKER_ID = SPECIALIST.id
RETURNING_CASEWORKER_ID = "cw-hal"
SECOND_ENFORCEMENT_MANAGER_ID = SECOND_ENFORCEMENT_MANAGER.id

#: The staff roster of these stories: every person a story names is a current member of their team.
ROSTER = Memberships(
    {
        **{
            staff_id: frozenset({StaffTeam.MAINSTREAM})
            for staff_id in (CASEWORKER.id, RETURNING_CASEWORKER_ID, "cw-kim", "cw-new")
        },
        SPECIALIST.id: frozenset({StaffTeam.SPECIALIST_CASE_TEAM}),
        REVIEWER.id: frozenset({StaffTeam.SPECIALIST_CASE_TEAM}),
        **{
            staff_id: frozenset({StaffTeam.ENFORCEMENT})
            for staff_id in (ENFORCEMENT_MANAGER.id, SECOND_ENFORCEMENT_MANAGER_ID, "em-jo", "em-new")
        },
        ACSSL.id: frozenset({StaffTeam.ACS_SENIOR_LEADERS}),
        AUDITOR.id: frozenset({StaffTeam.AUDIT}),
    }
)


def context(
    actor: Actor, at: datetime, *, recorded_at: datetime | None = None, membership: Memberships = ROSTER
) -> ActionContext:
    """A command's context at an explicit business time (recorded at the same moment by default),
    decided on the stories' roster unless told otherwise."""
    command_id = uuid4()
    return ActionContext(
        actor=actor,
        occurred_at=at,
        recorded_at=recorded_at or at,
        command_id=command_id,
        correlation_id=command_id,
        membership=membership,
    )


def replay(events: Iterable[Case.Event]) -> Case:
    """Projects events into a fresh aggregate with the library's own ``mutate``: no command runs."""
    case = functools.reduce(lambda aggregate, event: event.mutate(aggregate), events, None)
    assert isinstance(case, Case)
    return case


def state_of(case: Case) -> dict[str, object]:
    """Everything the aggregate holds, except the library's queue of unsaved events."""
    return {name: value for name, value in vars(case).items() if name != "_pending_events"}


@dataclass
class Story:
    """A case and its clock. ``history`` is every event so far; ``new_events`` the ones since last asked."""

    case: Case
    now: datetime
    history: list[Case.Event] = field(default_factory=list)
    concern_id: UUID | None = None

    def ctx(
        self, actor: Actor, *, after: timedelta = timedelta(minutes=1), membership: Memberships = ROSTER
    ) -> ActionContext:
        """The context of the next command: ``after`` later than the previous one."""
        self.now += after
        return context(actor, self.now, membership=membership)

    def new_events(self) -> list[Case.Event]:
        """Events appended since the last call (the "then" of a given/when/then)."""
        events = list(self.case.collect_events())
        self.history.extend(events)
        return events

    def event_types(self) -> list[str]:
        return [type(e).__name__ for e in self.new_events()]

    # -- steps used by many stories ------------------------------------------------------------

    def record_concern(
        self,
        kind: ConcernKind = ConcernKind.COERCIVE_CONTROL,
        *,
        affected_party_id: str = RECEIVING_PARENT,
        source: ConcernSource = ConcernSource.CUSTOMER_DISCLOSURE,
        police_involved: bool = False,
        by: Actor = CASEWORKER,
    ) -> UUID:
        return self.case.record_concern(
            self.ctx(by),
            kind=kind,
            source=source,
            affected_party_id=affected_party_id,
            police_involved=police_involved,
            note="recorded from the call",
        )

    def resolve_concern(self, concern_id: UUID, *, by: Actor = SPECIALIST) -> None:
        self.case.resolve_concern(self.ctx(by), concern_id=concern_id, reason="safety plan in place")

    def assess(self, *, concerns_unresolved: bool, significant_threat: bool, by: Actor = CASEWORKER) -> None:
        self.case.assess_safety_risk(
            self.ctx(by),
            concerns_unresolved=concerns_unresolved,
            significant_threat=significant_threat,
            reason="assessed on the call",
        )

    def refer_and_accept(self) -> None:
        referred = self.case.decide_referral(self.ctx(CASEWORKER), policy=POLICY_V1)
        assert referred, "the story's facts should meet policy v1"
        self.case.accept_referral(self.ctx(SPECIALIST), specialist_caseworker_id=SPECIALIST_CASEWORKER_ID)
        assert self.case.team is Team.SPECIALIST_CASE_TEAM

    def request_removal(self, *, advised_by: str = RECEIVING_PARENT) -> UUID:
        return self.case.request_removal(
            self.ctx(SPECIALIST),
            advised_by_party_id=advised_by,
            victim_survivor_advises_no_ongoing_abuse=True,
            reason="she says the abuse has ended",
        )

    def decide_removal(self, *, reviewer_doubt: bool | None = False, note: str = "") -> bool:
        return self.case.decide_removal(
            self.ctx(REVIEWER),
            reviewer_doubt=reviewer_doubt,
            reviewer_note=note,
            returned_to_caseworker_id=RETURNING_CASEWORKER_ID,
        )

    def open_pathway(
        self,
        reason: PathwayReason = PathwayReason.HOMELESSNESS_RISK,
        *,
        due_in: timedelta = timedelta(days=2),
        by: Actor = CASEWORKER,
    ) -> UUID:
        ctx = self.ctx(by)
        return self.case.open_expedited_pathway(
            ctx, pathway_reason=reason, due_at=ctx.occurred_at + due_in, reason="about to lose his home"
        )

    def raise_escalation(self, *, by: Actor = SPECIALIST) -> UUID:
        return self.case.raise_escalation(self.ctx(by), reason="threat to life reported", to_actor_id=ACSSL.id)

    def start_enforcement(self, *, manager_id: str = ENFORCEMENT_MANAGER.id) -> None:
        self.case.start_enforcement(
            self.ctx(CASEWORKER if not self.case.in_specialist_team else SPECIALIST),
            enforcement_manager_id=manager_id,
            step=EnforcementStep.DEDUCTION_FROM_EARNINGS,
            reason="three payments missed",
        )

    def close(self, *, by: Actor = CASEWORKER) -> None:
        self.case.close(self.ctx(by), reason="the child left education")


def application(
    *,
    at: datetime = T0,
    service_type: ServiceType = ServiceType.COLLECT_AND_PAY,
    by: Actor = CASEWORKER,
) -> Story:
    """An application received from the receiving parent; no named caseworker yet."""
    case = Case.receive_application(
        context(by, at),
        case_id=uuid4(),
        applicant_role=ApplicantRole.RECEIVING_PARENT,
        service_type=service_type,
        fee_waived_for_domestic_abuse=False,
        receiving_parent_id=RECEIVING_PARENT,
        paying_parent_id=PAYING_PARENT,
        qualifying_children=2,
    )
    story = Story(case=case, now=at)
    story.new_events()
    return story


def mainstream_case(*, at: datetime = T0, service_type: ServiceType = ServiceType.COLLECT_AND_PAY) -> Story:
    """An application with its named caseworker in mainstream caseworking."""
    story = application(at=at, service_type=service_type)
    story.case.assign_caseworker(story.ctx(TEAM_LEADER), caseworker_id=MAINSTREAM_CASEWORKER_ID, reason="")
    story.new_events()
    return story


def specialist_case(*, at: datetime = T0) -> Story:
    """Scenario 3: coercive control disclosed, concern unresolved by signposting, significant threat.

    Referred under policy v1 and accepted: the specialist named caseworker has the case. The
    concern is still open (``story.concern_id``).
    """
    story = mainstream_case(at=at)
    story.concern_id = story.record_concern(ConcernKind.COERCIVE_CONTROL)
    story.case.give_signposting(
        story.ctx(CASEWORKER),
        target=SignpostTarget.DOMESTIC_ABUSE_SUPPORT_SERVICE,
        resolved_concern=False,
        concern_id=story.concern_id,
    )
    story.assess(concerns_unresolved=True, significant_threat=True)
    story.refer_and_accept()
    story.new_events()
    return story


def settled_specialist_case(*, at: datetime = T0) -> Story:
    """Scenario 6's starting point: a specialist case months later, with no doubt left about safety.

    The concern is resolved, the latest assessment finds no unresolved concern and no significant
    threat, and nothing is open. A removal request advised by the victim-survivor would be approved.
    """
    story = specialist_case(at=at)
    assert story.concern_id is not None
    story.now += timedelta(days=120)
    story.resolve_concern(story.concern_id)
    story.assess(concerns_unresolved=False, significant_threat=False, by=SPECIALIST)
    story.new_events()
    return story


def closed_specialist_case(*, at: datetime = T0) -> Story:
    """Scenario 10: a specialist case closes (the child leaves education)."""
    story = specialist_case(at=at)
    story.close(by=SPECIALIST)
    story.new_events()
    return story


# ---------------------------------------------------------------------------- cases in a store


def opening(*, receiving_parent_id: str = "pwc-1", paying_parent_id: str = "nrp-1", **fields: Any) -> OpenCase:
    """The ``OpenCase`` command of a receiving parent's collect-and-pay application."""
    fields.setdefault("applicant_role", "receiving_parent")
    fields.setdefault("service_type", "collect_and_pay")
    return OpenCase(receiving_parent_id=receiving_parent_id, paying_parent_id=paying_parent_id, **fields)


def open_case(app: CaseJourney, by: Actor = CASEWORKER, **fields: Any) -> UUID:
    """Opens a case through ``app`` (see ``opening`` for the defaults) and returns its id."""
    return app.execute(opening(**fields), by).case_id


# ---------------------------------------------------------------------------- the "then" of a story


def refusal(story: Story, when: Callable[[], object], code: str) -> DomainError:
    """Runs ``when`` expecting a refusal with ``code``; checks nothing was appended or changed."""
    story.new_events()
    before = copy.deepcopy(state_of(story.case))
    with pytest.raises(DomainError) as refused:
        when()
    assert refused.value.code == code, refused.value.message
    assert refused.value.message.strip()
    assert story.new_events() == []
    assert state_of(story.case) == before
    return refused.value


def last_event(events: list[Case.Event], of_type: type[Case.Event]) -> Case.Event:
    matching = [e for e in events if isinstance(e, of_type)]
    assert matching, f"no {of_type.__name__} among {[type(e).__name__ for e in events]}"
    return matching[-1]


# ---------------------------------------------------------------------------- stored bytes, as a store holds them


def seal(app: Any, state: bytes) -> bytes:
    """``state`` as ``app``'s store would hold it: sealed under its payload keyring (on by default).

    For tests that place a stored event by hand (an older build's event, a damaged one)."""
    cipher = app.mapper.cipher
    return cipher.encrypt(state) if cipher is not None else state


def opened(app: Any, stored_state: bytes) -> bytes:
    """The JSON of a stored state of ``app``'s store (the inverse of ``seal``)."""
    cipher = app.mapper.cipher
    return cipher.decrypt(stored_state) if cipher is not None else stored_state
