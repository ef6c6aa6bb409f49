"""Need to know: who may see a case's safeguarding history, and a person's contact details.

A role is not enough (NHS care records work the same way): a reader needs a **legitimate
relationship** to the case, judged on the case and the staff roster as they stand *now*, never on
an old version and never on a relationship the reader has just given themself (a named caseworker
is never the person who named them, ``Case.assign_caseworker``). The relationships:

- the case's **named caseworker** (mainstream or specialist), while a current member of the team the
  case sits with, acting in that team's role;
- the **Specialist Case Team reviewing** a pending referral or removal request (a current member),
  and the **ACS senior leaders** reviewing a pending removal: to decide, they read the history;
- the case's current **enforcement manager** (a current member of enforcement);
- the **ACS senior leader holding an open escalation** (named to them, or to the ACS senior
  leaders' route while they are a current member);
- an **auditor** (a current member of audit), reading with a stated purpose;
- **break-glass**: a caseworker, specialist caseworker or ACS senior leader with none of these,
  giving a reason. Allowed, recorded, and raised as an alert that an ACS senior leader or an
  auditor reviews (``domain/access``).

What each relationship sees (``HISTORY_READERS``, ``CONTACT_READERS``): the history goes to all but
the enforcement manager (enforcement needs none of it; the markers on the case view say what it
must know). Contact details go only to those who contact the person: the named caseworker, the
ACS senior leader holding an escalation, and break-glass. The enforcement manager sees the paying
parent's, whom enforcement acts against (deductions from earnings or a bank account need them),
and never a protected person's, whichever side she is on: enforcement against a protected person
is arranged through the named caseworker. Auditors read the record, not the address.

A person is **protected** when this case records them as affected by domestic abuse (a concern,
or ACS support for it) or when they carry a safety marker on their person (set by any case). Every
read of contact details and of a history is recorded by the caller of these rules.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

from domain.text import meaningful
from domain.values import TEAM_OF_ROLE, Actor, Membership, Role, StaffTeam, Team


class Relationship(StrEnum):
    NAMED_CASEWORKER = "named_caseworker"
    SPECIALIST_REVIEW = "specialist_review"
    ENFORCEMENT_MANAGER = "enforcement_manager"
    ESCALATION_HOLDER = "escalation_holder"
    AUDITOR = "auditor"
    BREAK_GLASS = "break_glass"


class Standing(StrEnum):
    """How a party stands in the case, for what may be seen of them."""

    PROTECTED = "protected"
    RECEIVING_PARENT = "receiving_parent"
    PAYING_PARENT = "paying_parent"


HISTORY_READERS: frozenset[Relationship] = frozenset(
    {
        Relationship.NAMED_CASEWORKER,
        Relationship.SPECIALIST_REVIEW,
        Relationship.ESCALATION_HOLDER,
        Relationship.AUDITOR,
        Relationship.BREAK_GLASS,
    }
)

_CONTACTS = frozenset({Relationship.NAMED_CASEWORKER, Relationship.ESCALATION_HOLDER, Relationship.BREAK_GLASS})
CONTACT_READERS: Mapping[Standing, frozenset[Relationship]] = {
    Standing.PROTECTED: _CONTACTS,
    Standing.RECEIVING_PARENT: _CONTACTS,
    Standing.PAYING_PARENT: _CONTACTS | {Relationship.ENFORCEMENT_MANAGER},
}

#: Who may break the glass: the staff who work cases with customers.
BREAK_GLASS_ROLES: frozenset[Role] = frozenset({Role.CASEWORKER, Role.SPECIALIST_CASEWORKER, Role.ACS_SENIOR_LEADER})


@dataclass(frozen=True, slots=True)
class CaseAccessFacts:
    """What decides relationships, taken from the case as it stands now (``Case.access_facts``)."""

    team: Team
    named_caseworker_id: str | None
    enforcement_manager_id: str | None
    #: The holder of each open escalation: an ACS senior leader's id, or ``None`` for the route.
    escalation_holders: tuple[str | None, ...]
    referral_pending: bool
    removal_pending: bool
    receiving_parent_id: str
    paying_parent_id: str
    #: Parties this case records as affected by domestic abuse.
    victim_survivor_party_ids: frozenset[str]


#: The facts of a case whose record cannot be replayed (its stored bytes fail to decode: altered).
#: Nothing in them names anyone, so only relationships that do not depend on the case hold (audit,
#: and break-glass): the caseworker a tampered record would name is not trusted to be the one.
UNREADABLE_CASE = CaseAccessFacts(
    team=Team.SPECIALIST_CASE_TEAM,
    named_caseworker_id=None,
    enforcement_manager_id=None,
    escalation_holders=(),
    referral_pending=False,
    removal_pending=False,
    receiving_parent_id="",
    paying_parent_id="",
    victim_survivor_party_ids=frozenset(),
)


@dataclass(frozen=True, slots=True)
class Access:
    allowed: bool
    basis: Relationship | None
    explanation: str


def _member(actor: Actor, membership: Membership, team: StaffTeam) -> bool:
    return TEAM_OF_ROLE.get(actor.role) is team and membership.is_member(actor.id, team)


def relationships(actor: Actor, case: CaseAccessFacts, membership: Membership) -> frozenset[Relationship]:
    """The legitimate relationships ``actor`` has to the case now (break-glass is never one of them)."""
    found: set[Relationship] = set()
    case_team = StaffTeam.SPECIALIST_CASE_TEAM if case.team is Team.SPECIALIST_CASE_TEAM else StaffTeam.MAINSTREAM
    if actor.id == case.named_caseworker_id and _member(actor, membership, case_team):
        found.add(Relationship.NAMED_CASEWORKER)
    if (case.referral_pending or case.removal_pending) and _member(actor, membership, StaffTeam.SPECIALIST_CASE_TEAM):
        found.add(Relationship.SPECIALIST_REVIEW)
    if case.removal_pending and _member(actor, membership, StaffTeam.ACS_SENIOR_LEADERS):
        found.add(Relationship.SPECIALIST_REVIEW)
    if actor.id == case.enforcement_manager_id and _member(actor, membership, StaffTeam.ENFORCEMENT):
        found.add(Relationship.ENFORCEMENT_MANAGER)
    if _member(actor, membership, StaffTeam.ACS_SENIOR_LEADERS) and any(
        holder in (None, actor.id) for holder in case.escalation_holders
    ):
        found.add(Relationship.ESCALATION_HOLDER)
    if _member(actor, membership, StaffTeam.AUDIT):
        found.add(Relationship.AUDITOR)
    return frozenset(found)


def standing_of(party_id: str, case: CaseAccessFacts, markers: Mapping[str, Collection[str]]) -> Standing:
    """Protected by this case's record or by a marker on the person; otherwise the party's side."""
    if party_id in case.victim_survivor_party_ids or markers.get(party_id):
        return Standing.PROTECTED
    return Standing.RECEIVING_PARENT if party_id == case.receiving_parent_id else Standing.PAYING_PARENT


def may_break_glass(actor: Actor, membership: Membership) -> bool:
    team = TEAM_OF_ROLE.get(actor.role)
    return actor.role in BREAK_GLASS_ROLES and team is not None and membership.is_member(actor.id, team)


def _decide(
    readers: frozenset[Relationship],
    actor: Actor,
    held: frozenset[Relationship],
    membership: Membership,
    break_glass_reason: str | None,
    what: str,
) -> Access:
    basis = next((r for r in Relationship if r in held and r in readers), None)
    if basis is not None:
        return Access(True, basis, f"{what} shown to the case's {basis.replace('_', ' ')}")
    if break_glass_reason is not None:
        if not may_break_glass(actor, membership):
            return Access(
                False,
                None,
                f"Break-glass access is only for a caseworker, specialist caseworker or ACS senior leader who is a"
                f" current member of their team; {actor.id} ({actor.role}) is not.",
            )
        if not meaningful(break_glass_reason):
            return Access(
                False, None, "Break-glass access needs a reason that says why (3 visible characters or more)."
            )
        return Access(True, Relationship.BREAK_GLASS, f"{what} shown by break-glass: recorded and raised as an alert")
    return Access(
        False,
        None,
        f"{actor.id} ({actor.role}) has no legitimate relationship to this case that needs {what}: "
        + (
            "none at all"
            if not held
            else "only as " + ", ".join(sorted(r.replace("_", " ") for r in held)) + ", which does not"
        )
        + ". A caseworker with a reason may use break-glass access, which is recorded and reviewed.",
    )


def history_access(
    actor: Actor, case: CaseAccessFacts, membership: Membership, *, break_glass_reason: str | None = None
) -> Access:
    held = relationships(actor, case, membership)
    return _decide(HISTORY_READERS, actor, held, membership, break_glass_reason, "the safeguarding history")


def contact_access(
    actor: Actor,
    case: CaseAccessFacts,
    membership: Membership,
    standing: Standing,
    *,
    break_glass_reason: str | None = None,
) -> Access:
    held = relationships(actor, case, membership)
    return _decide(CONTACT_READERS[standing], actor, held, membership, break_glass_reason, "contact details")
