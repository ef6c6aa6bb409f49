"""Commands: pydantic models validated at the boundary, one per action of the journey.

A command carries what the caller decided and the ids that make it traceable and idempotent; the
actor never comes from a command (it comes from the caller's credentials). ``run`` calls the one
aggregate method that guards, decides and records.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self
from uuid import UUID, uuid4, uuid5

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints

from domain.case import actions
from domain.case.actions import Action
from domain.case.aggregate import Case
from domain.rules.eligibility import EligibilityPolicy
from domain.text import id_problem, is_blank, text_problem
from domain.values import (
    ActionContext,
    ApplicantRole,
    ConcernKind,
    ConcernSource,
    EnforcementStep,
    PathwayReason,
    ServiceType,
    SignpostTarget,
)

#: Namespace of case ids derived from the command that opened the case.
CASE_ID_NAMESPACE = UUID("6f1f7a52-3c0e-4d7e-9a59-3b1f1c2d9e10")


def _an_id(value: str) -> str:
    problem = id_problem(value)
    if problem:
        raise ValueError(f"an id {problem}")
    return value


def _safe_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(f"the text {problem}: control and invisible characters are not accepted")
    return value


def _a_reason(value: str) -> str:
    _safe_text(value)
    if is_blank(value):
        raise ValueError("a reason must say something: spaces, tabs or invisible characters alone are not one")
    return value


# The rules of text are in domain/text.py: no control or invisible characters, a reason says something.
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(_an_id)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000), AfterValidator(_safe_text)]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000), AfterValidator(_a_reason)
]


@dataclass(frozen=True)
class CommandEnv:
    """What the application supplies to a command beside the case and the context, named (never hidden).

    ``policy``: the referral policy in force at the command's business time (``DecideReferral``);
    ``due_at``: a pathway's target time from the configured targets (``OpenExpeditedPathway``).
    """

    policy: EligibilityPolicy | None = None
    due_at: datetime | None = None


#: The environment of a command that needs nothing from the application.
NO_ENV = CommandEnv()


class Command(BaseModel):
    """Fields every command has: its id (idempotency key), causal ids and business time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: ClassVar[str]  #: the name of its ``Action`` (``domain/case/actions.py``) for case commands
    command_id: UUID = Field(default_factory=uuid4, description="Idempotency key: the same id twice appends once.")
    correlation_id: UUID | None = Field(default=None, description="Defaults to the command id.")
    causation_id: UUID | None = None
    occurred_at: AwareDatetime | None = Field(default=None, description="Business time; defaults to now.")
    expected_version: int | None = Field(default=None, ge=1, description="Optimistic concurrency check.")

    _digest: str | None = PrivateAttr(default=None)
    _digest_keys: tuple[bytes, ...] = PrivateAttr(default=())

    def keyed(self, keys: Sequence[bytes]) -> Self:
        """Fingerprint this command under the service's digest keys (current first) from now on.

        The digest is computed afresh after this (a ``model_copy(update=...)`` copies the cache)."""
        self._digest_keys, self._digest = tuple(keys), None
        return self

    def _content(self) -> bytes:
        body = self.model_dump_json(exclude={"command_id", "expected_version", "correlation_id", "causation_id"})
        return f"{self.action}:{body}".encode()

    def digest(self, key: bytes | None = None) -> str:
        """Fingerprint of the content, to tell a retry from a reuse of the command id (computed once).

        It is an HMAC, so the stored digest confirms a retry without confirming a guess of what was
        recorded to someone without the key: under the service's digest key (``keyed``, prefix
        ``k``), or under ``key`` (prefix ``h``): commands carrying personal data are fingerprinted
        under the person's own key, so once erasure destroys it the digest confirms nothing at all.
        Unkeyed (no key given or set) it is the plain hash of stores written before keyed digests.
        """
        if key is not None:
            return "h" + hmac.new(key, self._content(), hashlib.sha256).hexdigest()[:31]
        if self._digest is None:
            if self._digest_keys:
                self._digest = "k" + hmac.new(self._digest_keys[0], self._content(), hashlib.sha256).hexdigest()[:31]
            else:
                self._digest = hashlib.sha256(self._content()).hexdigest()[:32]
        return self._digest

    def matches_digest(self, stored: str) -> bool:
        """Whether ``stored`` is this command's digest: under the current digest key, an older one of
        the ring (rotated since), or unkeyed (a store written before keyed digests)."""
        content = self._content()
        candidates = [self.digest()]
        candidates += ["k" + hmac.new(k, content, hashlib.sha256).hexdigest()[:31] for k in self._digest_keys[1:]]
        candidates.append(hashlib.sha256(content).hexdigest()[:32])
        return any(hmac.compare_digest(stored, candidate) for candidate in candidates)


class CaseCommand(Command):
    action: ClassVar[Action]  #: declared once, in ``domain/case/actions.py``
    case_id: UUID

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        """Calls the one aggregate method of this command, with what the application supplies (``env``)."""
        raise NotImplementedError


class OpenCase(Command):
    """An application received: the case is created."""

    action: ClassVar[Action] = actions.RECEIVE_APPLICATION
    case_id: UUID | None = Field(default=None, description="Defaults to an id derived from the command id.")
    applicant_role: ApplicantRole
    service_type: ServiceType
    fee_waived_for_domestic_abuse: bool = False
    receiving_parent_id: Id
    paying_parent_id: Id
    qualifying_children: int = Field(default=1, ge=1, le=20)

    def effective_case_id(self) -> UUID:
        return self.case_id or uuid5(CASE_ID_NAMESPACE, str(self.command_id))

    def create(self, ctx: ActionContext) -> Case:
        return Case.receive_application(
            ctx,
            case_id=self.effective_case_id(),
            applicant_role=self.applicant_role,
            service_type=self.service_type,
            fee_waived_for_domestic_abuse=self.fee_waived_for_domestic_abuse,
            receiving_parent_id=self.receiving_parent_id,
            paying_parent_id=self.paying_parent_id,
            qualifying_children=self.qualifying_children,
            digest=self.digest(),
        )


def _fields(cmd: CaseCommand, *names: str) -> dict[str, Any]:
    return {name: getattr(cmd, name) for name in names}


class AssignCaseworker(CaseCommand):
    action: ClassVar[Action] = actions.ASSIGN_CASEWORKER
    caseworker_id: Id
    reason: Text = ""

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.assign_caseworker(ctx, digest=self.digest(), **_fields(self, "caseworker_id", "reason"))


class ChangeServiceType(CaseCommand):
    action: ClassVar[Action] = actions.CHANGE_SERVICE_TYPE
    to: ServiceType
    reason: Reason

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.change_service_type(ctx, digest=self.digest(), **_fields(self, "to", "reason"))


class RecordConcern(CaseCommand):
    action: ClassVar[Action] = actions.RECORD_CONCERN
    kind: ConcernKind
    source: ConcernSource
    affected_party_id: Id
    police_involved: bool = False
    note: Text = ""
    concern_id: UUID | None = None

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.record_concern(
            ctx,
            digest=self.digest(),
            **_fields(self, "kind", "source", "affected_party_id", "police_involved", "note", "concern_id"),
        )


class ResolveConcern(CaseCommand):
    action: ClassVar[Action] = actions.RESOLVE_CONCERN
    concern_id: UUID
    reason: Reason

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.resolve_concern(ctx, digest=self.digest(), **_fields(self, "concern_id", "reason"))


class GiveSignposting(CaseCommand):
    action: ClassVar[Action] = actions.GIVE_SIGNPOSTING
    target: SignpostTarget
    resolved_concern: bool
    concern_id: UUID | None = None
    note: Text = ""

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.give_signposting(
            ctx,
            digest=self.digest(),
            **_fields(self, "target", "resolved_concern", "concern_id", "note"),
        )


class AssessSafetyRisk(CaseCommand):
    action: ClassVar[Action] = actions.ASSESS_SAFETY_RISK
    concerns_unresolved: bool
    significant_threat: bool
    reason: Reason
    concern_id: UUID | None = None

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.assess_safety_risk(
            ctx,
            digest=self.digest(),
            **_fields(self, "concerns_unresolved", "significant_threat", "reason", "concern_id"),
        )


class EndPoliceInvolvement(CaseCommand):
    action: ClassVar[Action] = actions.END_POLICE_INVOLVEMENT
    reason: Reason

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.end_police_involvement(ctx, digest=self.digest(), reason=self.reason)


class RecordAcsInvolvement(CaseCommand):
    action: ClassVar[Action] = actions.RECORD_ACS_INVOLVEMENT
    party_id: Id = Field(description="The customer Advanced Customer Support is supporting.")
    for_domestic_abuse: bool
    reason: Reason

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.record_acs_involvement(
            ctx,
            digest=self.digest(),
            **_fields(self, "party_id", "for_domestic_abuse", "reason"),
        )


class DecideReferral(CaseCommand):
    """Judge the recorded facts under the policy in force; refer or record why not."""

    action: ClassVar[Action] = actions.DECIDE_REFERRAL
    discretionary: bool = False
    reason: Text = ""

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        assert env.policy is not None, "the application passes the policy in force"
        return case.decide_referral(
            ctx, policy=env.policy, digest=self.digest(), **_fields(self, "discretionary", "reason")
        )


class AcceptReferral(CaseCommand):
    action: ClassVar[Action] = actions.ACCEPT_REFERRAL
    specialist_caseworker_id: Id

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.accept_referral(ctx, digest=self.digest(), specialist_caseworker_id=self.specialist_caseworker_id)


class StartEnforcement(CaseCommand):
    action: ClassVar[Action] = actions.START_ENFORCEMENT
    enforcement_manager_id: Id
    step: EnforcementStep = EnforcementStep.ARREARS_NOTICE
    reason: Reason

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.start_enforcement(
            ctx,
            digest=self.digest(),
            **_fields(self, "enforcement_manager_id", "step", "reason"),
        )


class HandOverEnforcement(CaseCommand):
    """By the case's enforcement manager; anyone else allowed makes an override, with ``override_reason``."""

    action: ClassVar[Action] = actions.HAND_OVER_ENFORCEMENT
    to_manager_id: Id
    reason: Reason
    override_reason: Text = Field(default="", description="Why someone other than the manager hands over.")

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.hand_over_enforcement(
            ctx,
            digest=self.digest(),
            **_fields(self, "to_manager_id", "reason", "override_reason"),
        )


class EndEnforcement(CaseCommand):
    """By the case's enforcement manager; anyone else allowed makes an override, with ``override_reason``."""

    action: ClassVar[Action] = actions.END_ENFORCEMENT
    reason: Reason
    override_reason: Text = Field(default="", description="Why someone other than the manager ends it.")

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.end_enforcement(ctx, digest=self.digest(), reason=self.reason, override_reason=self.override_reason)


class OpenExpeditedPathway(CaseCommand):
    """The due time comes from the configured target for the reason (set by the application)."""

    action: ClassVar[Action] = actions.OPEN_EXPEDITED_PATHWAY
    pathway_reason: PathwayReason
    reason: Reason
    pathway_id: UUID | None = None

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        assert env.due_at is not None, "the application computes the due time from the configured target"
        return case.open_expedited_pathway(
            ctx,
            due_at=env.due_at,
            digest=self.digest(),
            **_fields(self, "pathway_reason", "reason", "pathway_id"),
        )


class CloseExpeditedPathway(CaseCommand):
    action: ClassVar[Action] = actions.CLOSE_EXPEDITED_PATHWAY
    pathway_id: UUID
    reason: Reason

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.close_expedited_pathway(ctx, digest=self.digest(), **_fields(self, "pathway_id", "reason"))


class RecordDeadlineMissed(CaseCommand):
    action: ClassVar[Action] = actions.RECORD_DEADLINE_MISSED
    pathway_id: UUID
    escalate_to: Id | None = Field(default=None, description="An ACS senior leader; none: their route.")

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.record_deadline_missed(ctx, digest=self.digest(), **_fields(self, "pathway_id", "escalate_to"))


class RaiseEscalation(CaseCommand):
    action: ClassVar[Action] = actions.RAISE_ESCALATION
    reason: Reason
    to_actor_id: Id | None = Field(default=None, description="An ACS senior leader; none: their route.")
    pathway_id: UUID | None = None
    escalation_id: UUID | None = None

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.raise_escalation(
            ctx,
            digest=self.digest(),
            **_fields(self, "reason", "to_actor_id", "pathway_id", "escalation_id"),
        )


class ResolveEscalation(CaseCommand):
    action: ClassVar[Action] = actions.RESOLVE_ESCALATION
    escalation_id: UUID
    resolution: Reason

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.resolve_escalation(ctx, digest=self.digest(), **_fields(self, "escalation_id", "resolution"))


class RaiseServiceDesignIssue(CaseCommand):
    action: ClassVar[Action] = actions.RAISE_SERVICE_DESIGN_ISSUE
    summary: Reason
    escalation_id: UUID | None = None

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.raise_service_design_issue(ctx, digest=self.digest(), **_fields(self, "summary", "escalation_id"))


class RequestRemoval(CaseCommand):
    action: ClassVar[Action] = actions.REQUEST_REMOVAL
    advised_by_party_id: Id
    victim_survivor_advises_no_ongoing_abuse: bool
    reason: Text = ""

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.request_removal(
            ctx,
            digest=self.digest(),
            **_fields(self, "advised_by_party_id", "victim_survivor_advises_no_ongoing_abuse", "reason"),
        )


class DecideRemoval(CaseCommand):
    """``reviewer_doubt`` must be stated: left out, it counts as doubt and the removal is refused."""

    action: ClassVar[Action] = actions.DECIDE_REMOVAL
    reviewer_doubt: bool | None
    reviewer_note: Text = ""
    returned_to_caseworker_id: Id | None = None

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.decide_removal(
            ctx,
            digest=self.digest(),
            **_fields(self, "reviewer_doubt", "reviewer_note", "returned_to_caseworker_id"),
        )


class CloseCase(CaseCommand):
    action: ClassVar[Action] = actions.CLOSE_CASE
    reason: Reason

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.close(ctx, digest=self.digest(), reason=self.reason)


class RecordEntryInError(CaseCommand):
    action: ClassVar[Action] = actions.RECORD_ENTRY_IN_ERROR
    corrected_version: int = Field(ge=1)
    correction: Reason

    def run(self, case: Case, ctx: ActionContext, env: CommandEnv) -> Any:
        return case.record_entry_in_error(ctx, digest=self.digest(), **_fields(self, "corrected_version", "correction"))


CASE_COMMANDS: tuple[type[CaseCommand], ...] = tuple(CaseCommand.__subclasses__())
ALL_COMMANDS: tuple[type[Command], ...] = (OpenCase, *CASE_COMMANDS)
COMMANDS_BY_ACTION: dict[str, type[Command]] = {c.action: c for c in ALL_COMMANDS}
