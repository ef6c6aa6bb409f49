"""Which roles may call which route: the first gate of the HTTP API, before any work is done.

Commands: the domain's own matrix (``domain.rules.permissions``), read here (not copied), so a route
can never allow what the domain forbids; the route checks the role first to answer 403 before any
work, and the aggregate checks everything again (the role, the roster, the relationship).

Reads: ``READ_PERMISSIONS`` below, by role only. Need to know goes further and is the domain's
(``domain/rules/need_to_know.py``), applied by ``infrastructure/access/reads.py``: a safeguarding
history, and a person's contact details, go only to a reader with a legitimate relationship to the
case (or by break-glass, recorded and reviewed), and every such read is recorded first. An
operator sees the service's health in detail and nothing of any case or person.
"""

from __future__ import annotations

from types import MappingProxyType

from domain.rules.permissions import allowed_roles as command_roles
from domain.values import Role

CW = Role.CASEWORKER
SCW = Role.SPECIALIST_CASEWORKER
EM = Role.ENFORCEMENT_MANAGER
ACSSL = Role.ACS_SENIOR_LEADER
AUD = Role.AUDITOR
SVC = Role.BACKEND_SERVICE
TL = Role.TEAM_LEADER
OPS = Role.OPERATOR

#: Everyone who works with cases (the operator does not).
CASE_ROLES = frozenset({CW, SCW, EM, ACSSL, AUD, SVC, TL})

READ_PERMISSIONS: MappingProxyType[str, frozenset[Role]] = MappingProxyType(
    {
        "get_case": CASE_ROLES,
        "get_team_assignment": CASE_ROLES,
        # Then only with a legitimate relationship to the case (or break-glass): the domain decides.
        "get_safeguarding_history": frozenset({CW, SCW, ACSSL, AUD}),
        "get_safeguarding_history_reads": frozenset({AUD}),
        # The whole journey as a page to keep (infrastructure/audit/html_pages.py): auditors only.
        "get_case_timeline": frozenset({AUD}),
        # The same journey as evidence checked offline (infrastructure/audit/bundle.py): auditors only.
        "get_case_evidence_bundle": frozenset({AUD}),
        "get_caseloads": frozenset({CW, SCW, EM, ACSSL, AUD, TL}),
        # The backend service is the one that records missed targets: it must see what is due.
        "get_expedited_queue": frozenset({CW, SCW, ACSSL, AUD, SVC}),
        # Break-glass alerts: raised for, and reviewed by, ACS senior leaders and auditors.
        "get_break_glass_alerts": frozenset({ACSSL, AUD}),
        # Who is on which team (no personal data): those who keep it, escalate to it, audit it.
        "get_staff_roster": frozenset({TL, ACSSL, AUD}),
        # The stores, their head and each read model's lag, in detail.
        "get_readiness_details": frozenset({OPS}),
    }
)


#: Routes named for a command whose permission is another action's (both roster changes are one).
ROUTE_ACTIONS: MappingProxyType[str, str] = MappingProxyType(
    {"join_team": "manage_roster", "leave_team": "manage_roster"}
)


def allowed_roles(route: str) -> frozenset[Role]:
    """Roles allowed on a route: a command's action (or the roster's) or a read's name."""
    if route in READ_PERMISSIONS:
        return READ_PERMISSIONS[route]
    return command_roles(ROUTE_ACTIONS.get(route, route))


def is_allowed(route: str, role: Role) -> bool:
    return role in allowed_roles(route)
