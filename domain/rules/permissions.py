"""Who may do what: the one authorization matrix of the case journey.

The aggregate checks it on every command and the HTTP layer reads the same table, so a route
can never allow what the domain forbids. Who decides a removal is not published (DOMAIN.md,
"Unknowns"): here a specialist caseworker or an ACS senior leader may, and this table is the one
place to change it.
"""

from __future__ import annotations

from types import MappingProxyType

from domain.errors import NotPermitted
from domain.values import Role

CW = Role.CASEWORKER
SCW = Role.SPECIALIST_CASEWORKER
EM = Role.ENFORCEMENT_MANAGER
ACSSL = Role.ACS_SENIOR_LEADER
SVC = Role.BACKEND_SERVICE

_PEOPLE_IN_CONTACT = frozenset({CW, SCW, EM, ACSSL, SVC})

PERMISSIONS: MappingProxyType[str, frozenset[Role]] = MappingProxyType(
    {
        "receive_application": frozenset({CW, SCW, SVC}),
        "assign_caseworker": frozenset({CW, SCW, SVC}),
        "change_service_type": frozenset({CW, SCW, SVC}),
        # Anyone in contact with a customer can hear a disclosure: every one of them may record it.
        "record_concern": _PEOPLE_IN_CONTACT,
        "resolve_concern": frozenset({CW, SCW}),
        "give_signposting": frozenset({CW, SCW, EM, ACSSL}),
        "assess_safety_risk": frozenset({CW, SCW}),
        "end_police_involvement": frozenset({CW, SCW}),
        "record_acs_involvement": frozenset({CW, SCW, ACSSL, SVC}),
        "decide_referral": frozenset({CW, SCW}),
        "accept_referral": frozenset({SCW}),
        "start_enforcement": frozenset({CW, SCW, EM}),
        "hand_over_enforcement": frozenset({CW, SCW, EM}),
        "end_enforcement": frozenset({EM}),
        "open_expedited_pathway": frozenset({CW, SCW, EM, ACSSL}),
        "close_expedited_pathway": frozenset({CW, SCW, ACSSL}),
        "record_deadline_missed": frozenset({SVC}),
        "raise_escalation": frozenset({CW, SCW, EM, SVC}),
        "resolve_escalation": frozenset({ACSSL}),
        "raise_service_design_issue": frozenset({ACSSL}),
        "request_removal": frozenset({SCW}),
        "decide_removal": frozenset({SCW, ACSSL}),
        "close_case": frozenset({CW, SCW, SVC}),
        "record_entry_in_error": frozenset({CW, SCW, ACSSL}),
    }
)

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

#: Commands a closed case still accepts: a correction of the record, by an authorised role.
ALLOWED_AFTER_CLOSURE = frozenset({"record_entry_in_error"})


def check_permitted(action: str, role: Role) -> None:
    allowed = PERMISSIONS[action] if action in PERMISSIONS else CUSTOMER_PERMISSIONS[action]
    if role not in allowed:
        raise NotPermitted(
            f"A {role} may not {action.replace('_', ' ')}; allowed roles: "
            + ", ".join(sorted(str(r) for r in allowed))
            + ".",
            action=action,
            role=str(role),
        )
