"""Who may call which route: the one matrix of the HTTP API.

Commands: the domain's own matrix, ``domain.rules.permissions.PERMISSIONS``, read here (not
copied), so a route can never allow what the domain forbids; the route checks it first to answer
403 before any work, and the aggregate checks it again.

Reads: ``READ_PERMISSIONS`` below. Need to know (DOMAIN.md, "Protection of the person"):

- a safeguarding history is read by the specialist caseworkers, ACS senior leaders and auditors,
  and by a mainstream caseworker only while they are the case's named caseworker (a legitimate
  relationship, as NHS records require); enforcement managers and backend services never read it;
- every read of a safeguarding history is recorded with its stated purpose (``access_log.py``);
  only auditors read those records;
- a protected party's contact details are shown only to the roles in ``PARTY_DETAIL_ROLES``.
"""

from __future__ import annotations

from types import MappingProxyType

from domain.rules.permissions import PERMISSIONS
from domain.values import Actor, Role

CW = Role.CASEWORKER
SCW = Role.SPECIALIST_CASEWORKER
EM = Role.ENFORCEMENT_MANAGER
ACSSL = Role.ACS_SENIOR_LEADER
AUD = Role.AUDITOR
SVC = Role.BACKEND_SERVICE
ALL_ROLES = frozenset(Role)

READ_PERMISSIONS: MappingProxyType[str, frozenset[Role]] = MappingProxyType(
    {
        "get_case": ALL_ROLES,
        "get_team_assignment": ALL_ROLES,
        # Caseworker: only as the case's named caseworker (checked in ``may_read_history``).
        "get_safeguarding_history": frozenset({CW, SCW, ACSSL, AUD}),
        "get_safeguarding_history_reads": frozenset({AUD}),
        # The whole journey as a page to keep (infrastructure/html_pages.py): auditors only.
        "get_case_timeline": frozenset({AUD}),
        "get_caseloads": frozenset({CW, SCW, EM, ACSSL, AUD}),
        # The backend service is the one that records missed targets: it must see what is due.
        "get_expedited_queue": frozenset({CW, SCW, ACSSL, AUD, SVC}),
    }
)

#: Roles that may see a party's contact details, by how the party stands in the case. A party
#: affected by a domestic abuse concern is "protected" whatever side they are on.
PARTY_DETAIL_ROLES: MappingProxyType[str, frozenset[Role]] = MappingProxyType(
    {
        "protected": frozenset({CW, SCW, ACSSL}),
        "receiving_parent": frozenset({CW, SCW, ACSSL}),
        "paying_parent": frozenset({CW, SCW, EM, ACSSL}),
    }
)


def allowed_roles(route: str) -> frozenset[Role]:
    """Roles allowed on a route: a command's action or a read's name."""
    if route in PERMISSIONS:
        return PERMISSIONS[route]
    return READ_PERMISSIONS[route]


def is_allowed(route: str, role: Role) -> bool:
    return role in allowed_roles(route)


def may_read_history(actor: Actor, named_caseworker_id: str | None) -> bool:
    """The relationship check on top of the role matrix for a safeguarding history."""
    if actor.role is CW:
        return named_caseworker_id == actor.id
    return actor.role in READ_PERMISSIONS["get_safeguarding_history"]


def may_see_party_details(role: Role, standing: str) -> bool:
    return role in PARTY_DETAIL_ROLES[standing]
