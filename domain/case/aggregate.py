"""The Case aggregate: the journey of one child maintenance case, as immutable events.

Guard, decide, record: each public method checks the rules (pure functions in
``domain.rules``) and then triggers an event whose ``apply`` only changes state, so a replay
never re-runs a rule. Every event carries the actor (id and role), the business time beside the
recorded time, the command that caused it and its correlation and causation ids. Event classes
have explicit topics (``casejourney.case:<Name>``): moving this module never orphans stored events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.case import actions
from domain.case.actions import Action
from domain.errors import CaseClosedError, RuleViolation
from domain.errors import require as _require
from domain.events import CommandOutcome, IdempotentEvent
from domain.rules.eligibility import EligibilityPolicy, ReferralFacts
from domain.rules.expedited import is_missed
from domain.rules.need_to_know import CaseAccessFacts
from domain.rules.permissions import (
    check_enforcement_owner,
    check_permitted,
    check_specialist_team,
    check_team_decision,
)
from domain.rules.removal import Doubt, RemovalFacts, doubts_about_safety
from domain.staff.membership import require_member
from domain.text import is_blank
from domain.values import (
    DOMESTIC_ABUSE_KINDS,
    ActionContext,
    ApplicantRole,
    ConcernKind,
    ConcernSource,
    EnforcementStep,
    PathwayReason,
    ServiceType,
    SignpostTarget,
    StaffTeam,
    Team,
)

TOPIC_PREFIX = "casejourney.case:"

#: The reason recorded when accepting a Direct Pay case into the Specialist Case Team moves it.
COLLECT_AND_PAY_ON_ACCEPTANCE = (
    "A case with the Specialist Case Team is always Collect and Pay: the Child Support Collection (Domestic"
    " Abuse) Act 2023 lets a victim move from Direct Pay without the other parent's consent, and Collect and"
    " Pay keeps the parents out of direct contact."
)


@dataclass(slots=True)
class Concern:
    kind: ConcernKind
    source: ConcernSource
    affected_party_id: str
    police_involved: bool
    recorded_in_version: int
    resolved: bool = False


@dataclass(slots=True)
class Pathway:
    reason: PathwayReason
    due_at: datetime
    deadline_missed: bool = False


@dataclass(slots=True)
class RemovalRequest:
    request_id: str
    advised_by_party_id: str
    requested_in_version: int
    requested_by_actor_id: str


def _require_reason(reason: str, what: str) -> None:
    _require(not is_blank(reason or ""), "reason_required", f"{what} needs a reason.")


def _not_oneself(ctx: ActionContext, person_id: str | None, as_what: str) -> None:
    """A relationship to a case is given, never taken: nobody names themself."""
    _require(
        person_id != ctx.actor.id,
        "self_assignment",
        f"{ctx.actor.id} may not name themself as {as_what}: a relationship to a case is given by a team"
        " leader, the allocation service or a colleague, never taken.",
    )


def _derived_id(ctx: ActionContext, kind: str, given: UUID | None) -> UUID:
    """Ids made from the command id, so a retried command names the same concern, pathway, ..."""
    return given if given is not None else uuid5(ctx.command_id, kind)


class Case(Aggregate):
    TOPIC = TOPIC_PREFIX + "Case"

    # ------------------------------------------------------------------ events

    class Event(IdempotentEvent):
        """Base of every case event: who, when (business time) and the command's ids (JourneyEvent);
        applying one notes its command, so a retry finds itself (IdempotentEvent)."""

        TEXT_FIELDS: ClassVar[tuple[str, ...]]  #: its free-text fields (``FREE_TEXT_FIELDS``)

    class ApplicationReceived(Event, Aggregate.Created):
        TOPIC = TOPIC_PREFIX + "ApplicationReceived"
        applicant_role: str
        service_type: str
        fee_waived_for_domestic_abuse: bool
        receiving_parent_id: str
        paying_parent_id: str
        qualifying_children: int

        def apply(self, case: Case) -> None:
            case.applicant_role = ApplicantRole(self.applicant_role)
            case.service_type = ServiceType(self.service_type)
            case.fee_waived_for_domestic_abuse = self.fee_waived_for_domestic_abuse
            case.receiving_parent_id = self.receiving_parent_id
            case.paying_parent_id = self.paying_parent_id
            case.qualifying_children = self.qualifying_children
            case.opened_at = self.occurred_at

    Created = ApplicationReceived

    class CaseworkerAssigned(Event):
        TOPIC = TOPIC_PREFIX + "CaseworkerAssigned"
        caseworker_id: str
        previous_caseworker_id: str | None
        team: str
        reason: str

        def apply(self, case: Case) -> None:
            case.named_caseworker_id = self.caseworker_id

    class ServiceTypeChanged(Event):
        TOPIC = TOPIC_PREFIX + "ServiceTypeChanged"
        from_service_type: str
        to_service_type: str
        reason: str

        def apply(self, case: Case) -> None:
            case.service_type = ServiceType(self.to_service_type)

    class ConcernRecorded(Event):
        """Version 2. Version 1 (the first prototype's shape) named the kind ``concern_kind`` and
        had no ``note``; stored v1 events are upcast when read, never rewritten."""

        TOPIC = TOPIC_PREFIX + "ConcernRecorded"
        class_version = 2
        concern_id: UUID
        kind: str
        source: str
        affected_party_id: str
        police_involved: bool
        note: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["kind"] = state.pop("concern_kind")
            state["note"] = ""

        def apply(self, case: Case) -> None:
            case.concerns[str(self.concern_id)] = Concern(
                kind=ConcernKind(self.kind),
                source=ConcernSource(self.source),
                affected_party_id=self.affected_party_id,
                police_involved=self.police_involved,
                recorded_in_version=self.originator_version,
            )
            if self.police_involved and ConcernKind(self.kind) in DOMESTIC_ABUSE_KINDS:
                case.police_involvement_live = True
            case.concern_change_versions.append(self.originator_version)

    class ConcernResolved(Event):
        TOPIC = TOPIC_PREFIX + "ConcernResolved"
        concern_id: UUID
        reason: str

        def apply(self, case: Case) -> None:
            case.concerns[str(self.concern_id)].resolved = True
            case.concern_change_versions.append(self.originator_version)

    class SignpostingGiven(Event):
        TOPIC = TOPIC_PREFIX + "SignpostingGiven"
        concern_id: UUID | None
        target: str
        resolved_concern: bool
        note: str

        def apply(self, case: Case) -> None:
            if self.resolved_concern and self.concern_id is not None:
                case.concerns[str(self.concern_id)].resolved = True
                case.concern_change_versions.append(self.originator_version)

    class SafetyRiskAssessed(Event):
        TOPIC = TOPIC_PREFIX + "SafetyRiskAssessed"
        concern_id: UUID | None
        concerns_unresolved: bool
        significant_threat: bool
        reason: str

        def apply(self, case: Case) -> None:
            case.latest_assessment = (self.concerns_unresolved, self.significant_threat)
            case.latest_assessment_version = self.originator_version

    class PoliceInvolvementEnded(Event):
        TOPIC = TOPIC_PREFIX + "PoliceInvolvementEnded"
        reason: str

        def apply(self, case: Case) -> None:
            case.police_involvement_live = False

    class AcsInvolvementRecorded(Event):
        TOPIC = TOPIC_PREFIX + "AcsInvolvementRecorded"
        party_id: str
        for_domestic_abuse: bool
        reason: str

        def apply(self, case: Case) -> None:
            case.acs_involved = True
            if self.for_domestic_abuse:
                case.under_acs_for_domestic_abuse = True
                case.acs_domestic_abuse_party_ids.add(self.party_id)

    class ReferredToSpecialistTeam(Event):
        TOPIC = TOPIC_PREFIX + "ReferredToSpecialistTeam"
        policy_version: str
        facts: dict[str, Any]
        criteria_met: list[str]
        discretionary: bool
        reason: str

        def apply(self, case: Case) -> None:
            case.referral_pending = True

    class ReferralNotMade(Event):
        TOPIC = TOPIC_PREFIX + "ReferralNotMade"
        policy_version: str
        facts: dict[str, Any]
        unmet: dict[str, list[str]]
        reason: str

    class AcceptedBySpecialistTeam(Event):
        TOPIC = TOPIC_PREFIX + "AcceptedBySpecialistTeam"
        specialist_caseworker_id: str
        previous_caseworker_id: str | None

        def apply(self, case: Case) -> None:
            case.referral_pending = False
            case.team = Team.SPECIALIST_CASE_TEAM
            case.named_caseworker_id = self.specialist_caseworker_id

    class EnforcementStarted(Event):
        TOPIC = TOPIC_PREFIX + "EnforcementStarted"
        enforcement_manager_id: str
        step: str
        reason: str

        def apply(self, case: Case) -> None:
            case.enforcement_manager_id = self.enforcement_manager_id

    class EnforcementManagerHandedOver(Event):
        """Version 2 adds ``override_reason``: empty when the manager handed over, the recorded reason
        when anyone else did (an override). Version 1 events read back with it empty."""

        TOPIC = TOPIC_PREFIX + "EnforcementManagerHandedOver"
        class_version = 2
        from_manager_id: str
        to_manager_id: str
        reason: str
        override_reason: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["override_reason"] = ""

        def apply(self, case: Case) -> None:
            case.enforcement_manager_id = self.to_manager_id

    class EnforcementEnded(Event):
        """Version 2 adds ``override_reason`` (as for a handover)."""

        TOPIC = TOPIC_PREFIX + "EnforcementEnded"
        class_version = 2
        enforcement_manager_id: str
        reason: str
        override_reason: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["override_reason"] = ""

        def apply(self, case: Case) -> None:
            case.enforcement_manager_id = None

    class ExpeditedPathwayOpened(Event):
        TOPIC = TOPIC_PREFIX + "ExpeditedPathwayOpened"
        pathway_id: UUID
        pathway_reason: str
        due_at: datetime
        reason: str

        def apply(self, case: Case) -> None:
            case.open_pathways[str(self.pathway_id)] = Pathway(PathwayReason(self.pathway_reason), self.due_at)

    class ExpeditedPathwayClosed(Event):
        TOPIC = TOPIC_PREFIX + "ExpeditedPathwayClosed"
        pathway_id: UUID
        reason: str

        def apply(self, case: Case) -> None:
            del case.open_pathways[str(self.pathway_id)]

    class ExpeditedDeadlineMissed(Event):
        TOPIC = TOPIC_PREFIX + "ExpeditedDeadlineMissed"
        pathway_id: UUID
        due_at: datetime

        def apply(self, case: Case) -> None:
            case.open_pathways[str(self.pathway_id)].deadline_missed = True

    class EscalationRaised(Event):
        TOPIC = TOPIC_PREFIX + "EscalationRaised"
        escalation_id: UUID
        route: str
        to_actor_id: str | None
        pathway_id: UUID | None
        reason: str

        def apply(self, case: Case) -> None:
            case.open_escalations[str(self.escalation_id)] = self.to_actor_id

    class EscalationResolved(Event):
        TOPIC = TOPIC_PREFIX + "EscalationResolved"
        escalation_id: UUID
        resolution: str

        def apply(self, case: Case) -> None:
            del case.open_escalations[str(self.escalation_id)]

    class ServiceDesignIssueRaised(Event):
        TOPIC = TOPIC_PREFIX + "ServiceDesignIssueRaised"
        issue_id: UUID
        escalation_id: UUID | None
        summary: str

    class RemovalRequested(Event):
        TOPIC = TOPIC_PREFIX + "RemovalRequested"
        request_id: UUID
        advised_by_party_id: str
        victim_survivor_advises_no_ongoing_abuse: bool
        reason: str

        def apply(self, case: Case) -> None:
            case.removal_request = RemovalRequest(
                str(self.request_id), self.advised_by_party_id, self.originator_version, self.actor_id
            )

    class RemovalApproved(Event):
        TOPIC = TOPIC_PREFIX + "RemovalApproved"
        request_id: UUID
        doubts_checked: list[str]
        returned_to_caseworker_id: str
        reviewer_note: str

        def apply(self, case: Case) -> None:
            case.removal_request = None
            case.team = Team.MAINSTREAM
            case.named_caseworker_id = self.returned_to_caseworker_id

    class RemovalRefused(Event):
        TOPIC = TOPIC_PREFIX + "RemovalRefused"
        request_id: UUID
        doubts: list[dict[str, str]]
        reviewer_note: str

        def apply(self, case: Case) -> None:
            case.removal_request = None

    class CaseClosed(Event):
        TOPIC = TOPIC_PREFIX + "CaseClosed"
        reason: str

        def apply(self, case: Case) -> None:
            case.closed = True

    class EntryRecordedInError(Event):
        """A correction: names an earlier event as recorded in error. Nothing is edited or deleted.

        It does not undo the earlier event's effect on the case: to change the state, record the
        right event (a concern resolved, a pathway closed). So a correction can never, by itself,
        lift a protection.
        """

        TOPIC = TOPIC_PREFIX + "EntryRecordedInError"
        corrected_version: int
        correction: str

        def apply(self, case: Case) -> None:
            case.corrected_versions[self.corrected_version] = self.correction

    # ------------------------------------------------------------------ state

    #: Event class by short name, for readers of the log (history, projections, schemas).
    EVENT_CLASSES: ClassVar[dict[str, type[Case.Event]]]

    def __init__(self) -> None:
        self.applicant_role: ApplicantRole
        self.service_type: ServiceType
        self.fee_waived_for_domestic_abuse = False
        self.receiving_parent_id = ""
        self.paying_parent_id = ""
        self.qualifying_children = 0
        self.opened_at: datetime | None = None
        self.team = Team.MAINSTREAM
        self.named_caseworker_id: str | None = None
        self.enforcement_manager_id: str | None = None
        self.concerns: dict[str, Concern] = {}
        self.police_involvement_live = False
        self.acs_involved = False
        self.under_acs_for_domestic_abuse = False
        self.acs_domestic_abuse_party_ids: set[str] = set()
        self.latest_assessment: tuple[bool, bool] | None = None
        self.latest_assessment_version: int | None = None
        #: Versions of the events that changed the concerns (recorded, resolved): to tell a stale judgement.
        self.concern_change_versions: list[int] = []
        self.referral_pending = False
        self.open_pathways: dict[str, Pathway] = {}
        self.open_escalations: dict[str, str | None] = {}
        self.removal_request: RemovalRequest | None = None
        self.closed = False
        self.corrected_versions: dict[int, str] = {}
        self.commands: dict[UUID, CommandOutcome] = {}

    @property
    def in_enforcement(self) -> bool:
        return self.enforcement_manager_id is not None

    @property
    def in_specialist_team(self) -> bool:
        return self.team is Team.SPECIALIST_CASE_TEAM

    def unresolved_concern_ids(self) -> list[str]:
        return [cid for cid, c in self.concerns.items() if not c.resolved]

    def victim_survivor_party_ids(self) -> frozenset[str]:
        """People recorded as affected by domestic abuse: by a concern, or by ACS support for it."""
        affected = {c.affected_party_id for c in self.concerns.values() if c.kind in DOMESTIC_ABUSE_KINDS}
        return frozenset(affected | self.acs_domestic_abuse_party_ids)

    def party_ids(self) -> frozenset[str]:
        return frozenset({self.receiving_parent_id, self.paying_parent_id})

    def access_facts(self) -> CaseAccessFacts:
        """What decides who has a legitimate relationship to this case (``domain/rules/need_to_know``)."""
        return CaseAccessFacts(
            team=self.team,
            named_caseworker_id=self.named_caseworker_id,
            enforcement_manager_id=self.enforcement_manager_id,
            escalation_holders=tuple(self.open_escalations.values()),
            referral_pending=self.referral_pending,
            removal_pending=self.removal_request is not None,
            receiving_parent_id=self.receiving_parent_id,
            paying_parent_id=self.paying_parent_id,
            victim_survivor_party_ids=self.victim_survivor_party_ids(),
        )

    def concern_changes_since_assessment(self) -> list[int]:
        """Versions that changed the concerns after the latest risk assessment: they make it stale."""
        since = self.latest_assessment_version
        if since is None:
            return []
        return [v for v in self.concern_change_versions if v > since]

    # ------------------------------------------------------------------ guards

    def _guard(self, ctx: ActionContext, action: Action) -> dict[str, Any]:
        """The checks every command shares (the matrix, closure, business time); returns the event's
        common fields. The matrix's layers are in ``domain/rules/permissions.py``."""
        check_permitted(action, ctx.actor.role)
        if self.closed and not action.after_closure:
            raise CaseClosedError(
                "This case is closed: it accepts a safeguarding concern, signposting and a correction of the"
                " record, and nothing else.",
                action=action,
            )
        if self.opened_at is not None and ctx.occurred_at < self.opened_at:
            raise RuleViolation(
                f"occurred_at {ctx.occurred_at.isoformat()} is before the case was opened"
                f" ({self.opened_at.isoformat()}): nothing happens on a case before it exists.",
                code="occurred_before_case_opened",
            )
        if self.in_specialist_team and action.specialist_team_only:
            check_specialist_team(action, ctx.actor, ctx.membership)
        if action.team_decision:
            check_team_decision(action, ctx.actor, ctx.membership)
        return ctx.event_fields()

    def _enforcement_owner(self, ctx: ActionContext, action: Action, override_reason: str) -> str:
        """Only the case's manager, or an override with a reason; returns the override reason to record."""
        assert action.manager_only
        _require(self.in_enforcement, "not_in_enforcement", "The case is not in enforcement.")
        overriding = check_enforcement_owner(action, ctx.actor, self.enforcement_manager_id, override_reason)
        return override_reason.strip() if overriding else ""

    def _record(self, event_class: type[Case.Event], ctx_fields: dict[str, Any], **fields: Any) -> None:
        self.trigger_event(event_class, **ctx_fields, **fields)

    # ------------------------------------------------------------------ commands

    @classmethod
    def receive_application(
        cls,
        ctx: ActionContext,
        *,
        case_id: UUID,
        applicant_role: ApplicantRole,
        service_type: ServiceType,
        fee_waived_for_domestic_abuse: bool,
        receiving_parent_id: str,
        paying_parent_id: str,
        qualifying_children: int,
        digest: str = "",
    ) -> Case:
        check_permitted(actions.RECEIVE_APPLICATION, ctx.actor.role)
        _require(
            receiving_parent_id != paying_parent_id,
            "same_party_twice",
            "The receiving parent and the paying parent must be different people.",
        )
        _require(qualifying_children >= 1, "no_qualifying_child", "A case needs at least one qualifying child.")
        case = cls._create(
            cls.ApplicationReceived,
            id=case_id,
            **ctx.event_fields(),
            command_digest=digest,
            applicant_role=str(applicant_role),
            service_type=str(service_type),
            fee_waived_for_domestic_abuse=fee_waived_for_domestic_abuse,
            receiving_parent_id=receiving_parent_id,
            paying_parent_id=paying_parent_id,
            qualifying_children=qualifying_children,
        )
        return case

    def assign_caseworker(self, ctx: ActionContext, *, caseworker_id: str, reason: str, digest: str = "") -> None:
        # On a specialist case only the team itself changes who its named caseworker is (the matrix):
        # continuity of the specialist named caseworker is part of the service.
        fields = self._guard(ctx, actions.ASSIGN_CASEWORKER)
        _require(bool(caseworker_id), "caseworker_required", "A named caseworker needs an id.")
        _require(
            caseworker_id != self.named_caseworker_id,
            "already_named_caseworker",
            f"{caseworker_id} is already the named caseworker.",
        )
        _not_oneself(ctx, caseworker_id, "the named caseworker")
        team = StaffTeam.SPECIALIST_CASE_TEAM if self.in_specialist_team else StaffTeam.MAINSTREAM
        require_member(ctx.membership, caseworker_id, team, as_what="the named caseworker of this case")
        if self.named_caseworker_id is not None:
            _require_reason(reason, "A change of named caseworker")
        self._record(
            self.CaseworkerAssigned,
            fields,
            command_digest=digest,
            caseworker_id=caseworker_id,
            previous_caseworker_id=self.named_caseworker_id,
            team=str(self.team),
            reason=reason,
        )

    def change_service_type(self, ctx: ActionContext, *, to: ServiceType, reason: str, digest: str = "") -> None:
        fields = self._guard(ctx, actions.CHANGE_SERVICE_TYPE)
        _require(to != self.service_type, "service_type_unchanged", f"The case is already {to}.")
        _require(
            not (self.in_specialist_team and to == ServiceType.DIRECT_PAY),
            "direct_pay_unsafe",
            "A case with the Specialist Case Team cannot move to Direct Pay: it would put the parents back"
            " in direct contact. Collect and Pay protects the victim-survivor's location.",
        )
        _require_reason(reason, "A change of service type")
        self._record(
            self.ServiceTypeChanged,
            fields,
            command_digest=digest,
            from_service_type=str(self.service_type),
            to_service_type=str(to),
            reason=reason,
        )

    def record_concern(
        self,
        ctx: ActionContext,
        *,
        kind: ConcernKind,
        source: ConcernSource,
        affected_party_id: str,
        police_involved: bool = False,
        note: str = "",
        concern_id: UUID | None = None,
        digest: str = "",
    ) -> UUID:
        fields = self._guard(ctx, actions.RECORD_CONCERN)
        _require(
            affected_party_id in self.party_ids(),
            "unknown_party",
            f"Party {affected_party_id} is not a party to this case.",
        )
        cid = _derived_id(ctx, "concern", concern_id)
        _require(str(cid) not in self.concerns, "duplicate_concern", f"Concern {cid} is already recorded.")
        self._record(
            self.ConcernRecorded,
            fields,
            command_digest=digest,
            concern_id=cid,
            kind=str(kind),
            source=str(source),
            affected_party_id=affected_party_id,
            police_involved=police_involved,
            note=note,
        )
        return cid

    def _open_concern(self, concern_id: UUID) -> Concern:
        concern = self.concerns.get(str(concern_id))
        _require(concern is not None, "unknown_concern", f"No concern {concern_id} on this case.")
        assert concern is not None
        _require(not concern.resolved, "concern_already_resolved", f"Concern {concern_id} is already resolved.")
        return concern

    def resolve_concern(self, ctx: ActionContext, *, concern_id: UUID, reason: str, digest: str = "") -> None:
        fields = self._guard(ctx, actions.RESOLVE_CONCERN)
        self._open_concern(concern_id)
        _require_reason(reason, "Resolving a concern")
        self._record(self.ConcernResolved, fields, command_digest=digest, concern_id=concern_id, reason=reason)

    def give_signposting(
        self,
        ctx: ActionContext,
        *,
        target: SignpostTarget,
        resolved_concern: bool,
        concern_id: UUID | None = None,
        note: str = "",
        digest: str = "",
    ) -> None:
        fields = self._guard(ctx, actions.GIVE_SIGNPOSTING)
        if resolved_concern and self.in_specialist_team:
            # Signposting recorded as resolving a concern resolves it: the same rule as resolve_concern.
            check_specialist_team("resolve_concern", ctx.actor, ctx.membership)
        if concern_id is not None:
            self._open_concern(concern_id)
        _require(
            not resolved_concern or concern_id is not None,
            "concern_required",
            "Say which concern the signposting resolved.",
        )
        self._record(
            self.SignpostingGiven,
            fields,
            command_digest=digest,
            concern_id=concern_id,
            target=str(target),
            resolved_concern=resolved_concern,
            note=note,
        )

    def assess_safety_risk(
        self,
        ctx: ActionContext,
        *,
        concerns_unresolved: bool,
        significant_threat: bool,
        reason: str,
        concern_id: UUID | None = None,
        digest: str = "",
    ) -> None:
        fields = self._guard(ctx, actions.ASSESS_SAFETY_RISK)
        if concern_id is not None:
            _require(str(concern_id) in self.concerns, "unknown_concern", f"No concern {concern_id} on this case.")
        _require_reason(reason, "A safety risk assessment")
        self._record(
            self.SafetyRiskAssessed,
            fields,
            command_digest=digest,
            concern_id=concern_id,
            concerns_unresolved=concerns_unresolved,
            significant_threat=significant_threat,
            reason=reason,
        )

    def end_police_involvement(self, ctx: ActionContext, *, reason: str, digest: str = "") -> None:
        fields = self._guard(ctx, actions.END_POLICE_INVOLVEMENT)
        _require(self.police_involvement_live, "no_police_involvement", "No police involvement is recorded as live.")
        _require_reason(reason, "Ending police involvement")
        self._record(self.PoliceInvolvementEnded, fields, command_digest=digest, reason=reason)

    def record_acs_involvement(
        self, ctx: ActionContext, *, party_id: str, for_domestic_abuse: bool, reason: str, digest: str = ""
    ) -> None:
        fields = self._guard(ctx, actions.RECORD_ACS_INVOLVEMENT)
        _require(party_id in self.party_ids(), "unknown_party", f"Party {party_id} is not a party to this case.")
        _require_reason(reason, "Advanced Customer Support involvement")
        self._record(
            self.AcsInvolvementRecorded,
            fields,
            command_digest=digest,
            party_id=party_id,
            for_domestic_abuse=for_domestic_abuse,
            reason=reason,
        )

    def referral_facts(self) -> ReferralFacts:
        """The recorded facts and judgements a referral decision is judged on."""
        disclosed = frozenset(c.kind for c in self.concerns.values() if c.source is ConcernSource.CUSTOMER_DISCLOSURE)
        police = any(c.police_involved and c.kind in DOMESTIC_ABUSE_KINDS for c in self.concerns.values())
        unresolved, threat = self.latest_assessment if self.latest_assessment else (None, None)
        return ReferralFacts(
            service_type=self.service_type,
            under_acs_for_domestic_abuse=self.under_acs_for_domestic_abuse,
            police_involved_for_domestic_abuse=police,
            disclosed_kinds=disclosed,
            safety_concern_unresolved=unresolved,
            significant_threat=threat,
            judgement_recorded_in_version=self.latest_assessment_version,
            concern_changes_since_judgement=tuple(self.concern_changes_since_assessment()),
        )

    def decide_referral(
        self,
        ctx: ActionContext,
        *,
        policy: EligibilityPolicy,
        discretionary: bool = False,
        reason: str = "",
        digest: str = "",
    ) -> bool:
        """Applies the policy in force to the recorded facts and records the decision either way.

        A caseworker may also refer when the criteria are not met (``discretionary``, with a
        reason): more protection is always allowed; less than the policy gives never is.

        The facts name the risk assessment the judgements come from and any later change to the
        concerns (a stale judgement). A referral on a stale judgement stands (it errs toward
        protection, and the record says so); a decision *not* to refer is never taken on one: a
        fresh assessment is asked for first.
        """
        fields = self._guard(ctx, actions.DECIDE_REFERRAL)
        _require(
            not self.in_specialist_team, "already_specialist", "The case is already with the Specialist Case Team."
        )
        _require(
            not self.referral_pending, "referral_pending", "A referral is already waiting for the team to accept it."
        )
        facts = self.referral_facts()
        decision = policy.evaluate(facts)
        _require(
            decision.eligible or discretionary or not facts.judgement_is_stale,
            "fresh_assessment_required",
            f"The latest safety risk assessment (event {facts.judgement_recorded_in_version}) was recorded before"
            " the concerns changed (events "
            + ", ".join(str(v) for v in facts.concern_changes_since_judgement)
            + "): record a fresh assessment before deciding not to refer.",
        )
        common = {"command_digest": digest, "policy_version": decision.policy_version, "facts": dict(decision.facts)}
        if decision.eligible or discretionary:
            if not decision.eligible:
                _require_reason(reason, "A discretionary referral")
            self._record(
                self.ReferredToSpecialistTeam,
                fields,
                **common,
                criteria_met=list(decision.criteria_met),
                discretionary=not decision.eligible,
                reason=reason,
            )
            return True
        self._record(
            self.ReferralNotMade,
            fields,
            **common,
            unmet={k: list(v) for k, v in decision.unmet.items()},
            reason=reason,
        )
        return False

    def accept_referral(self, ctx: ActionContext, *, specialist_caseworker_id: str, digest: str = "") -> None:
        """Takes the case into the Specialist Case Team with a specialist named caseworker (a current
        member; the accepting specialist may name themself: the referral came from someone else).
        A Direct Pay case moves to Collect and Pay in the same step: a specialist case is never
        Direct Pay (``COLLECT_AND_PAY_ON_ACCEPTANCE``)."""
        fields = self._guard(ctx, actions.ACCEPT_REFERRAL)
        _require(self.referral_pending, "no_pending_referral", "There is no referral waiting to be accepted.")
        _require(bool(specialist_caseworker_id), "caseworker_required", "A specialist named caseworker needs an id.")
        require_member(
            ctx.membership,
            specialist_caseworker_id,
            StaffTeam.SPECIALIST_CASE_TEAM,
            as_what="the specialist named caseworker",
        )
        if self.service_type is ServiceType.DIRECT_PAY:
            self._record(
                self.ServiceTypeChanged,
                fields,
                command_digest=digest,
                from_service_type=str(ServiceType.DIRECT_PAY),
                to_service_type=str(ServiceType.COLLECT_AND_PAY),
                reason=COLLECT_AND_PAY_ON_ACCEPTANCE,
            )
        self._record(
            self.AcceptedBySpecialistTeam,
            fields,
            command_digest=digest,
            specialist_caseworker_id=specialist_caseworker_id,
            previous_caseworker_id=self.named_caseworker_id,
        )

    def start_enforcement(
        self, ctx: ActionContext, *, enforcement_manager_id: str, step: EnforcementStep, reason: str, digest: str = ""
    ) -> None:
        fields = self._guard(ctx, actions.START_ENFORCEMENT)
        _require(
            not self.in_enforcement,
            "enforcement_manager_already_assigned",
            f"The case is already in enforcement with {self.enforcement_manager_id} as its single"
            " enforcement manager; a change of manager is a handover with a reason.",
        )
        _require(
            bool(enforcement_manager_id), "enforcement_manager_required", "Enforcement needs an enforcement manager."
        )
        _not_oneself(ctx, enforcement_manager_id, "the enforcement manager")
        require_member(ctx.membership, enforcement_manager_id, StaffTeam.ENFORCEMENT, as_what="the enforcement manager")
        _require_reason(reason, "Starting enforcement")
        self._record(
            self.EnforcementStarted,
            fields,
            command_digest=digest,
            enforcement_manager_id=enforcement_manager_id,
            step=str(step),
            reason=reason,
        )

    def hand_over_enforcement(
        self, ctx: ActionContext, *, to_manager_id: str, reason: str, override_reason: str = "", digest: str = ""
    ) -> None:
        fields = self._guard(ctx, actions.HAND_OVER_ENFORCEMENT)
        override = self._enforcement_owner(ctx, actions.HAND_OVER_ENFORCEMENT, override_reason)
        _require(
            to_manager_id != self.enforcement_manager_id,
            "handover_to_same_manager",
            f"{to_manager_id} already manages the enforcement of this case.",
        )
        _require(bool(to_manager_id), "enforcement_manager_required", "A handover needs the new manager's id.")
        _not_oneself(ctx, to_manager_id, "the enforcement manager")
        require_member(ctx.membership, to_manager_id, StaffTeam.ENFORCEMENT, as_what="the new enforcement manager")
        _require_reason(reason, "A handover of enforcement")
        self._record(
            self.EnforcementManagerHandedOver,
            fields,
            command_digest=digest,
            from_manager_id=self.enforcement_manager_id,
            to_manager_id=to_manager_id,
            reason=reason,
            override_reason=override,
        )

    def end_enforcement(self, ctx: ActionContext, *, reason: str, override_reason: str = "", digest: str = "") -> None:
        fields = self._guard(ctx, actions.END_ENFORCEMENT)
        override = self._enforcement_owner(ctx, actions.END_ENFORCEMENT, override_reason)
        _require_reason(reason, "Ending enforcement")
        self._record(
            self.EnforcementEnded,
            fields,
            command_digest=digest,
            enforcement_manager_id=self.enforcement_manager_id,
            reason=reason,
            override_reason=override,
        )

    def open_expedited_pathway(
        self,
        ctx: ActionContext,
        *,
        pathway_reason: PathwayReason,
        due_at: datetime,
        reason: str,
        pathway_id: UUID | None = None,
        digest: str = "",
    ) -> UUID:
        fields = self._guard(ctx, actions.OPEN_EXPEDITED_PATHWAY)
        pid = _derived_id(ctx, "pathway", pathway_id)
        _require(str(pid) not in self.open_pathways, "duplicate_pathway", f"Pathway {pid} is already open.")
        _require(due_at > ctx.occurred_at, "due_in_past", "An expedited pathway's due time must be after it opens.")
        _require_reason(reason, "Opening an expedited pathway")
        self._record(
            self.ExpeditedPathwayOpened,
            fields,
            command_digest=digest,
            pathway_id=pid,
            pathway_reason=str(pathway_reason),
            due_at=due_at,
            reason=reason,
        )
        return pid

    def _open_pathway(self, pathway_id: UUID) -> Pathway:
        pathway = self.open_pathways.get(str(pathway_id))
        _require(pathway is not None, "unknown_pathway", f"No open expedited pathway {pathway_id} on this case.")
        assert pathway is not None
        return pathway

    def close_expedited_pathway(self, ctx: ActionContext, *, pathway_id: UUID, reason: str, digest: str = "") -> None:
        fields = self._guard(ctx, actions.CLOSE_EXPEDITED_PATHWAY)
        self._open_pathway(pathway_id)
        _require_reason(reason, "Closing an expedited pathway")
        self._record(self.ExpeditedPathwayClosed, fields, command_digest=digest, pathway_id=pathway_id, reason=reason)

    def record_deadline_missed(
        self, ctx: ActionContext, *, pathway_id: UUID, escalate_to: str | None, digest: str = ""
    ) -> UUID:
        """Records a missed target and escalates to an ACS senior leader in the same step.

        Escalation never depends on someone remembering: both events are appended together. With
        no ``escalate_to``, it goes to the ACS senior leaders' route (whoever of them is on duty).
        """
        fields = self._guard(ctx, actions.RECORD_DEADLINE_MISSED)
        pathway = self._open_pathway(pathway_id)
        if escalate_to is not None:
            require_member(ctx.membership, escalate_to, StaffTeam.ACS_SENIOR_LEADERS, as_what="escalated to")
        _require(
            not pathway.deadline_missed, "deadline_already_missed", "This pathway's missed target is already recorded."
        )
        _require(
            is_missed(pathway.due_at, ctx.occurred_at),
            "deadline_not_passed",
            f"The target for pathway {pathway_id} is {pathway.due_at.isoformat()}; it has not passed.",
        )
        self._record(
            self.ExpeditedDeadlineMissed, fields, command_digest=digest, pathway_id=pathway_id, due_at=pathway.due_at
        )
        escalation_id = _derived_id(ctx, "escalation", None)
        self._record(
            self.EscalationRaised,
            fields,
            command_digest=digest,
            escalation_id=escalation_id,
            route="acs_senior_leader",
            to_actor_id=escalate_to,
            pathway_id=pathway_id,
            reason=f"target time for the {pathway.reason} pathway passed at"
            f" {pathway.due_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
        )
        return escalation_id

    def raise_escalation(
        self,
        ctx: ActionContext,
        *,
        reason: str,
        to_actor_id: str | None = None,
        pathway_id: UUID | None = None,
        escalation_id: UUID | None = None,
        digest: str = "",
    ) -> UUID:
        fields = self._guard(ctx, actions.RAISE_ESCALATION)
        _require_reason(reason, "An escalation")
        if to_actor_id is not None:
            _not_oneself(ctx, to_actor_id, "the ACS senior leader holding the escalation")
            require_member(ctx.membership, to_actor_id, StaffTeam.ACS_SENIOR_LEADERS, as_what="escalated to")
        if pathway_id is not None:
            self._open_pathway(pathway_id)
        eid = _derived_id(ctx, "escalation", escalation_id)
        _require(str(eid) not in self.open_escalations, "duplicate_escalation", f"Escalation {eid} is already open.")
        self._record(
            self.EscalationRaised,
            fields,
            command_digest=digest,
            escalation_id=eid,
            route="acs_senior_leader",
            to_actor_id=to_actor_id,
            pathway_id=pathway_id,
            reason=reason,
        )
        return eid

    def resolve_escalation(self, ctx: ActionContext, *, escalation_id: UUID, resolution: str, digest: str = "") -> None:
        fields = self._guard(ctx, actions.RESOLVE_ESCALATION)
        _require(
            str(escalation_id) in self.open_escalations,
            "unknown_escalation",
            f"No open escalation {escalation_id} on this case.",
        )
        _require_reason(resolution, "Resolving an escalation")
        self._record(
            self.EscalationResolved, fields, command_digest=digest, escalation_id=escalation_id, resolution=resolution
        )

    def raise_service_design_issue(
        self, ctx: ActionContext, *, summary: str, escalation_id: UUID | None = None, digest: str = ""
    ) -> UUID:
        fields = self._guard(ctx, actions.RAISE_SERVICE_DESIGN_ISSUE)
        _require_reason(summary, "A service-design issue")
        issue_id = _derived_id(ctx, "service_design_issue", None)
        self._record(
            self.ServiceDesignIssueRaised,
            fields,
            command_digest=digest,
            issue_id=issue_id,
            escalation_id=escalation_id,
            summary=summary,
        )
        return issue_id

    def request_removal(
        self,
        ctx: ActionContext,
        *,
        advised_by_party_id: str,
        victim_survivor_advises_no_ongoing_abuse: bool,
        reason: str = "",
        digest: str = "",
    ) -> UUID:
        fields = self._guard(ctx, actions.REQUEST_REMOVAL)
        _require(
            self.in_specialist_team,
            "not_in_specialist_team",
            "Only a case in the Specialist Case Team can be referred for removal.",
        )
        _require(
            self.removal_request is None,
            "removal_request_pending",
            "A removal request is already waiting for its review.",
        )
        _require(
            victim_survivor_advises_no_ongoing_abuse,
            "victim_survivor_advice_required",
            "A removal can be requested only when the victim-survivor advises that there is no"
            " longer ongoing domestic abuse.",
        )
        _require(
            advised_by_party_id in self.party_ids(),
            "unknown_party",
            f"Party {advised_by_party_id} is not a party to this case.",
        )
        request_id = _derived_id(ctx, "removal_request", None)
        self._record(
            self.RemovalRequested,
            fields,
            command_digest=digest,
            request_id=request_id,
            advised_by_party_id=advised_by_party_id,
            victim_survivor_advises_no_ongoing_abuse=True,
            reason=reason,
        )
        return request_id

    def removal_facts(self, *, reviewer_doubt: bool | None, reviewer_note: str) -> RemovalFacts:
        request = self.removal_request
        assert request is not None
        return RemovalFacts(
            unresolved_concern_ids=tuple(self.unresolved_concern_ids()),
            open_escalation_ids=tuple(self.open_escalations),
            open_pathways={pid: str(p.reason) for pid, p in self.open_pathways.items()},
            concerns_since_request=tuple(
                cid for cid, c in self.concerns.items() if c.recorded_in_version > request.requested_in_version
            ),
            police_involvement_live=self.police_involvement_live,
            latest_assessment=self.latest_assessment,
            advised_by_party_id=request.advised_by_party_id,
            victim_survivor_party_ids=self.victim_survivor_party_ids(),
            reviewer_doubt=reviewer_doubt,
            reviewer_note=reviewer_note,
        )

    def decide_removal(
        self,
        ctx: ActionContext,
        *,
        reviewer_doubt: bool | None,
        reviewer_note: str = "",
        returned_to_caseworker_id: str | None = None,
        digest: str = "",
    ) -> bool:
        """Approves the pending removal only when no doubt about safety is found; else refuses it.

        A refusal is an event with every doubt found; the request is never silently dropped. An
        approval returns the case to a current member of mainstream caseworking.
        """
        fields = self._guard(ctx, actions.DECIDE_REMOVAL)
        request = self.removal_request
        _require(request is not None, "no_pending_removal_request", "There is no removal request to decide.")
        assert request is not None
        _require(
            ctx.actor.id != request.requested_by_actor_id,
            "second_reviewer_required",
            "A removal is reviewed by someone other than the person who recorded the request.",
        )
        doubts = doubts_about_safety(self.removal_facts(reviewer_doubt=reviewer_doubt, reviewer_note=reviewer_note))
        if doubts:
            self._record(
                self.RemovalRefused,
                fields,
                command_digest=digest,
                request_id=UUID(request.request_id),
                doubts=[d.as_record() for d in doubts],
                reviewer_note=reviewer_note,
            )
            return False
        _require(
            bool(returned_to_caseworker_id),
            "caseworker_required",
            "An approved removal returns the case to a named caseworker in mainstream caseworking: name them.",
        )
        assert returned_to_caseworker_id is not None
        _not_oneself(ctx, returned_to_caseworker_id, "the named caseworker")
        require_member(
            ctx.membership,
            returned_to_caseworker_id,
            StaffTeam.MAINSTREAM,
            as_what="the named caseworker the case returns to",
        )
        self._record(
            self.RemovalApproved,
            fields,
            command_digest=digest,
            request_id=UUID(request.request_id),
            doubts_checked=[str(d) for d in _ALL_DOUBTS],
            returned_to_caseworker_id=returned_to_caseworker_id,
            reviewer_note=reviewer_note,
        )
        return True

    def close(self, ctx: ActionContext, *, reason: str, digest: str = "") -> None:
        # Closure is one of the only two ways out of the team: on a specialist case the team itself
        # decides it (the matrix).
        fields = self._guard(ctx, actions.CLOSE_CASE)
        _require_reason(reason, "Closing a case")
        self._record(self.CaseClosed, fields, command_digest=digest, reason=reason)

    def record_entry_in_error(
        self, ctx: ActionContext, *, corrected_version: int, correction: str, digest: str = ""
    ) -> None:
        fields = self._guard(ctx, actions.RECORD_ENTRY_IN_ERROR)
        _require(
            1 <= corrected_version <= self.version,
            "unknown_version",
            f"This case has events 1 to {self.version}; there is no event {corrected_version}.",
        )
        _require(
            corrected_version not in self.corrected_versions,
            "already_corrected",
            f"Event {corrected_version} is already recorded in error.",
        )
        _require_reason(correction, "A correction")
        self._record(
            self.EntryRecordedInError,
            fields,
            command_digest=digest,
            corrected_version=corrected_version,
            correction=correction,
        )


def _event_classes() -> dict[str, type[Case.Event]]:
    return {
        name: value
        for name, value in vars(Case).items()
        if isinstance(value, type) and issubclass(value, Case.Event) and value is not Case.Event and name != "Created"
    }


Case.EVENT_CLASSES = _event_classes()

#: Free text typed by a person (a note, a reason, a reviewer's note, a correction): what the store
#: seals under the case's own text key, so the case's retention (or the erasure of a party)
#: destroys it everywhere it was copied. ``doubts`` carry the reviewer's words in their explanations.
FREE_TEXT_FIELDS: tuple[str, ...] = (
    "reason",
    "note",
    "resolution",
    "summary",
    "reviewer_note",
    "correction",
    "override_reason",
    "doubts",
)
Case.Event.TEXT_FIELDS = ()
for _cls in Case.EVENT_CLASSES.values():
    _declared = {n for k in _cls.__mro__ for n in vars(k).get("__annotations__", {})}
    _cls.TEXT_FIELDS = tuple(f for f in FREE_TEXT_FIELDS if f in _declared)

_ALL_DOUBTS: tuple[Doubt, ...] = tuple(Doubt)
