"""Ids, enumerations and small value objects of the case journey.

Enumerations are ``StrEnum`` so that they are stored as plain strings in event
payloads and compare equal to the strings read back from the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from domain.text import id_problem


class Role(StrEnum):
    """The role an actor acts in. Every event records it beside the actor's id."""

    CASEWORKER = "caseworker"
    SPECIALIST_CASEWORKER = "specialist_caseworker"
    ENFORCEMENT_MANAGER = "enforcement_manager"
    ACS_SENIOR_LEADER = "acs_senior_leader"
    AUDITOR = "auditor"
    BACKEND_SERVICE = "backend_service"
    #: Keeps the staff roster (who is a member of which team); never acts on a case's substance.
    TEAM_LEADER = "team_leader"
    #: Runs the service: sees its health in detail; reads nothing about any case or person.
    OPERATOR = "operator"


class StaffTeam(StrEnum):
    """The teams of the staff roster: a person acts in a role only as a current member of its team."""

    MAINSTREAM = "mainstream_caseworking"
    SPECIALIST_CASE_TEAM = "specialist_case_team"
    ENFORCEMENT = "enforcement"
    ACS_SENIOR_LEADERS = "acs_senior_leaders"
    AUDIT = "audit"


#: The roster team a role is held in (team leaders, operators and backend services are not on it).
TEAM_OF_ROLE: dict[Role, StaffTeam] = {
    Role.CASEWORKER: StaffTeam.MAINSTREAM,
    Role.SPECIALIST_CASEWORKER: StaffTeam.SPECIALIST_CASE_TEAM,
    Role.ENFORCEMENT_MANAGER: StaffTeam.ENFORCEMENT,
    Role.ACS_SENIOR_LEADER: StaffTeam.ACS_SENIOR_LEADERS,
    Role.AUDITOR: StaffTeam.AUDIT,
}


class Membership(Protocol):
    """Who is a current member of which team: what a rule that names a person asks the roster."""

    def is_member(self, staff_id: str, team: StaffTeam) -> bool: ...


@dataclass(frozen=True, slots=True)
class Memberships:
    """Current memberships by staff id: the roster's state, as a value (``StaffRoster.memberships``)."""

    teams_of: Mapping[str, frozenset[StaffTeam]] = field(default_factory=dict)

    def is_member(self, staff_id: str, team: StaffTeam) -> bool:
        return team in self.teams_of.get(staff_id, frozenset())

    def members_of(self, team: StaffTeam) -> list[str]:
        return sorted(staff_id for staff_id, teams in self.teams_of.items() if team in teams)


#: Nobody is a member of anything: every rule that needs the roster refuses (deny by default).
NO_MEMBERS = Memberships()


class Team(StrEnum):
    MAINSTREAM = "mainstream"
    SPECIALIST_CASE_TEAM = "specialist_case_team"


class ServiceType(StrEnum):
    COLLECT_AND_PAY = "collect_and_pay"
    DIRECT_PAY = "direct_pay"


class ApplicantRole(StrEnum):
    """Who applied. The receiving parent is the 'person with care'."""

    RECEIVING_PARENT = "receiving_parent"
    PAYING_PARENT = "paying_parent"
    CHILD_IN_SCOTLAND = "child_in_scotland"


class ConcernKind(StrEnum):
    """Seed 1's wording, the Domestic Abuse Act 2021 kinds, and seed 2's non-abuse risks."""

    # Seed 1 (the three-part referral test names these four).
    PHYSICAL_VIOLENCE = "physical_violence"
    THREATENED_VIOLENCE = "threatened_violence"
    COERCIVE_CONTROL = "coercive_control"
    FINANCIAL_CONTROL = "financial_control"
    # Domestic Abuse Act 2021, s.1(3).
    SEXUAL_ABUSE = "sexual_abuse"
    VIOLENT_OR_THREATENING_BEHAVIOUR = "violent_or_threatening_behaviour"
    ECONOMIC_ABUSE = "economic_abuse"
    PSYCHOLOGICAL_OR_EMOTIONAL_ABUSE = "psychological_or_emotional_abuse"
    # Seed 2 and DWP's Six Point Plan: risks that are not abuse.
    HOMELESSNESS_RISK = "homelessness_risk"
    FINANCIAL_HARDSHIP = "financial_hardship"
    SELF_HARM_RISK = "self_harm_risk"


#: Kinds that are domestic abuse (as opposed to seed 2's other vulnerabilities).
DOMESTIC_ABUSE_KINDS: frozenset[ConcernKind] = frozenset(
    {
        ConcernKind.PHYSICAL_VIOLENCE,
        ConcernKind.THREATENED_VIOLENCE,
        ConcernKind.COERCIVE_CONTROL,
        ConcernKind.FINANCIAL_CONTROL,
        ConcernKind.SEXUAL_ABUSE,
        ConcernKind.VIOLENT_OR_THREATENING_BEHAVIOUR,
        ConcernKind.ECONOMIC_ABUSE,
        ConcernKind.PSYCHOLOGICAL_OR_EMOTIONAL_ABUSE,
    }
)


class ConcernSource(StrEnum):
    """How the concern reached the service."""

    CUSTOMER_DISCLOSURE = "customer_disclosure"
    CASEWORKER_OBSERVATION = "caseworker_observation"
    POLICE = "police"
    THIRD_PARTY = "third_party"
    OTHER_DWP_SERVICE = "other_dwp_service"


class SignpostTarget(StrEnum):
    AFFORDABILITY_HUB = "affordability_hub"
    DISTRICT_PROVISION_TOOLKIT = "district_provision_toolkit"
    DOMESTIC_ABUSE_SUPPORT_SERVICE = "domestic_abuse_support_service"
    ADVANCED_CUSTOMER_SUPPORT = "advanced_customer_support"
    SIX_POINT_PLAN = "six_point_plan"
    OTHER = "other"


class PathwayReason(StrEnum):
    """Seed 2's three reasons for an expedited, supported path."""

    SAFEGUARDING = "safeguarding"
    HOMELESSNESS_RISK = "homelessness_risk"
    SIGNIFICANT_FINANCIAL_HARDSHIP = "significant_financial_hardship"


class SafetyMarker(StrEnum):
    """Markers on a person (not a case): they follow the person into every case of theirs."""

    DOMESTIC_ABUSE = "domestic_abuse"
    NON_DISCLOSURE = "non_disclosure"


class EnforcementStep(StrEnum):
    """The enforcement ladder, for context on enforcement events."""

    ARREARS_NOTICE = "arrears_notice"
    DEDUCTION_FROM_EARNINGS = "deduction_from_earnings"
    DEDUCTION_FROM_BANK_ACCOUNT = "deduction_from_bank_account"
    LIABILITY_ORDER = "liability_order"
    ENFORCEMENT_AGENTS = "enforcement_agents"
    CHARGING_ORDER_OR_FORCED_SALE = "charging_order_or_forced_sale"
    LAST_RESORT_SANCTIONS = "last_resort_sanctions"


@dataclass(frozen=True, slots=True)
class Actor:
    """A person (or service) with an id, acting in a role. Never free text."""

    id: str
    role: Role

    def __post_init__(self) -> None:
        problem = id_problem(self.id)
        if problem:
            raise ValueError(f"an actor's id {problem}")


@dataclass(frozen=True, slots=True)
class ActionContext:
    """Who, when and why-chain of one command: copied onto every event it causes.

    ``occurred_at`` is the business time (when it happened in the world); ``recorded_at``
    is when the service recorded it. Both are given by the caller: the domain never reads
    the clock. ``membership`` is the staff roster as it stands when the command is decided (the
    application passes the live one); it is read by the rules, never copied onto an event, so a
    replay never asks today's roster about yesterday.
    """

    actor: Actor
    occurred_at: datetime
    recorded_at: datetime
    command_id: UUID
    correlation_id: UUID
    causation_id: UUID | None = None
    membership: Membership = NO_MEMBERS

    def __post_init__(self) -> None:
        for name in ("occurred_at", "recorded_at"):
            value = getattr(self, name)
            if value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")

    def event_fields(self) -> dict[str, Any]:
        return {
            "timestamp": self.recorded_at,
            "actor_id": self.actor.id,
            "actor_role": str(self.actor.role),
            "occurred_at": self.occurred_at,
            "command_id": self.command_id,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
        }
