"""Who may do what: the one authorization matrix of the case journey.

The aggregates check it on every command and the HTTP layer reads the same tables, so a route
can never allow what the domain forbids. Four layers, each a table here:

1. ``PERMISSIONS`` (and the customer and roster tables): the roles that may take an action at all.
   A case action's roles and layers are declared with it, once, in ``domain/case/actions.py``;
   the tables of case actions here are read from there.
2. ``SPECIALIST_TEAM_ONLY``: on a case with the Specialist Case Team, the actions that lower a
   protection or move the case are taken only by the team itself, a specialist caseworker who is a
   current member on the staff roster. They are the very facts the removal doubt rule reads (an
   unresolved concern, live police involvement, the latest risk assessment, a correction), and the
   continuity of the specialist named caseworker. Seed 1: cases "remain with the Specialist Case
   team until closure" unless removal is safe beyond doubt; nobody outside the team may hollow
   that out one fact at a time.
3. ``TEAM_DECISIONS``: the team's own decisions (accepting a referral, asking for and deciding a
   removal) are made only by a current member of the actor's team.
4. ``MANAGER_ONLY``: enforcement belongs to its one manager (seed 1: "a single person managing the
   enforcement action"): a handover or an end only by the case's current enforcement manager, or
   as an override with a recorded reason by a role in ``ENFORCEMENT_OVERRIDE_ROLES``.

Who decides a removal is not published (DOMAIN.md, "Unknowns"): here a specialist caseworker or an
ACS senior leader may, and this table is the one place to change it.
"""

from __future__ import annotations

from types import MappingProxyType

from domain.case.actions import CASE_ACTIONS, PEOPLE_IN_CONTACT
from domain.errors import NotPermitted
from domain.staff.membership import require_member
from domain.text import is_blank
from domain.values import TEAM_OF_ROLE, Actor, Membership, Role, StaffTeam

CW = Role.CASEWORKER
SCW = Role.SPECIALIST_CASEWORKER
EM = Role.ENFORCEMENT_MANAGER
ACSSL = Role.ACS_SENIOR_LEADER
SVC = Role.BACKEND_SERVICE
TL = Role.TEAM_LEADER

_PEOPLE_IN_CONTACT = PEOPLE_IN_CONTACT

#: The roles of each case action, as declared with it (``domain/case/actions.py``).
PERMISSIONS: MappingProxyType[str, frozenset[Role]] = MappingProxyType({a.name: a.roles for a in CASE_ACTIONS})

#: On a case with the Specialist Case Team: only a specialist caseworker who is a current member of
#: the team. ``resolve_concern`` also covers signposting recorded as resolving a concern.
SPECIALIST_TEAM_ONLY: frozenset[str] = frozenset(a.name for a in CASE_ACTIONS if a.specialist_team_only)

#: Decisions of the actor's own team: the actor must be a current member of their role's team. A
#: person's safety marker is lifted the same way (``Customer.lift_safety_marker``).
TEAM_DECISIONS: frozenset[str] = frozenset(a.name for a in CASE_ACTIONS if a.team_decision)

#: Only the case's current enforcement manager, or an override with a reason by these roles.
MANAGER_ONLY: frozenset[str] = frozenset(a.name for a in CASE_ACTIONS if a.manager_only)
ENFORCEMENT_OVERRIDE_ROLES: frozenset[Role] = frozenset({TL})

#: Customers' personal data (domain/customer): recorded by those in contact with the customer;
#: erased only by the retention process (a backend service), which records who ran it and why.
CUSTOMER_PERMISSIONS: MappingProxyType[str, frozenset[Role]] = MappingProxyType(
    {
        "record_customer_details": frozenset({CW, SCW, SVC}),
        "erase_customer": frozenset({SVC}),
        # A marker is set by whoever records the concern it comes from; lifting one is a recorded,
        # explicit override that only the Specialist Case Team or an ACS senior leader makes.
        "set_safety_marker": _PEOPLE_IN_CONTACT,
        "lift_safety_marker": frozenset({SCW, ACSSL}),
    }
)

#: The staff roster (domain/staff): kept by team leaders. Break-glass alerts (domain/access):
#: reviewed by an ACS senior leader or an auditor.
STAFF_PERMISSIONS: MappingProxyType[str, frozenset[Role]] = MappingProxyType(
    {
        "manage_roster": frozenset({TL}),
        "review_break_glass": frozenset({ACSSL, Role.AUDITOR}),
    }
)

#: Commands a closed case still accepts. A safety disclosure is never turned away (seed 2: the
#: support "at any and every stage of the case journey"; arrears survive closure): a concern and
#: signposting are recorded on the closed case, and the concern marks the person for every later
#: case. A correction of the record, too. Referral, enforcement, removal and team moves stay refused.
ALLOWED_AFTER_CLOSURE: frozenset[str] = frozenset(a.name for a in CASE_ACTIONS if a.after_closure)


#: Legal holds (domain/retention): placed and lifted by an ACS senior leader or a team leader
#: (complaints and legal cases reach them), each with a reason; never by the retention process.
RETENTION_PERMISSIONS: MappingProxyType[str, frozenset[Role]] = MappingProxyType(
    {
        "place_legal_hold": frozenset({ACSSL, TL}),
        "lift_legal_hold": frozenset({ACSSL, TL}),
        # Destroying the text keys of a case or a month of reads: retention's service (or the erasure
        # of a party, by the same service), never a person at a desk.
        "erase_text": frozenset({SVC}),
    }
)


def allowed_roles(action: str) -> frozenset[Role]:
    for table in (PERMISSIONS, CUSTOMER_PERMISSIONS, STAFF_PERMISSIONS, RETENTION_PERMISSIONS):
        if action in table:
            return table[action]
    raise KeyError(action)


def check_permitted(action: str, role: Role) -> None:
    allowed = allowed_roles(action)
    if role not in allowed:
        raise NotPermitted(
            f"A {role} may not {action.replace('_', ' ')}; allowed roles: "
            + ", ".join(sorted(str(r) for r in allowed))
            + ".",
            action=action,
            role=str(role),
        )


def check_specialist_team(action: str, actor: Actor, membership: Membership) -> None:
    """On a Specialist Case Team case: ``action`` (in ``SPECIALIST_TEAM_ONLY``) only by the team."""
    if actor.role is not SCW:
        raise NotPermitted(
            f"On a case with the Specialist Case Team, only the team may {action.replace('_', ' ')}:"
            f" a {actor.role} may not.",
            code="specialist_team_only",
            action=action,
            role=str(actor.role),
        )
    require_member(
        membership, actor.id, StaffTeam.SPECIALIST_CASE_TEAM, as_what=f"the one to {action.replace('_', ' ')}"
    )


def check_team_decision(action: str, actor: Actor, membership: Membership) -> None:
    """A team's own decision (``TEAM_DECISIONS``): the actor must be a current member of their team."""
    team = TEAM_OF_ROLE[actor.role]
    require_member(membership, actor.id, team, as_what=f"the one to {action.replace('_', ' ')}")


def check_enforcement_owner(action: str, actor: Actor, manager_id: str | None, override_reason: str) -> bool:
    """``action`` (in ``MANAGER_ONLY``) by the current manager, or an override; True if it is an override."""
    if actor.role is EM and actor.id == manager_id:
        return False
    if actor.role not in ENFORCEMENT_OVERRIDE_ROLES:
        raise NotPermitted(
            f"Enforcement on this case is managed by {manager_id}: only they may"
            f" {action.replace('_', ' ')}, or a "
            + " or ".join(sorted(str(r) for r in ENFORCEMENT_OVERRIDE_ROLES))
            + " as a recorded override with a reason.",
            code="not_the_enforcement_manager",
            action=action,
            role=str(actor.role),
        )
    if is_blank(override_reason):
        raise NotPermitted(
            f"Enforcement on this case is managed by {manager_id}: an override by anyone else needs"
            " an override_reason, which is recorded.",
            code="override_reason_required",
            action=action,
            role=str(actor.role),
        )
    return True
