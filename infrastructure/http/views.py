"""What a reader sees of a case, and the filter that keeps a protected party's details back.

The domain holds parties only by id. Their contact details (address, phone, e-mail) live in
another system; ``PartyDirectory`` is where this service would look them up, and
``party_view`` is the one filter every response with a party passes through: details are shown
only to the roles ``authz.PARTY_DETAIL_ROLES`` entitles for that party's standing in the case (a
party affected by a domestic abuse concern is "protected" whatever side they are on).
"""

from __future__ import annotations

from typing import Any, Protocol

from domain.case.aggregate import Case
from domain.values import Role
from infrastructure.http.authz import may_see_party_details


class PartyDirectory(Protocol):
    def details(self, party_id: str) -> dict[str, Any] | None: ...

    def markers(self, party_id: str) -> dict[str, dict[str, str]]: ...


class CustomerDirectory:
    """Contact details from the customers' own records (sealed under per-person keys).

    An erased customer has no details to show: after erasure nothing is returned, to anyone.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def details(self, party_id: str) -> dict[str, Any] | None:
        customer = self.app.customer(party_id)
        if customer is None or customer.details is None or customer.erased:
            return None
        return dict(customer.details)

    def markers(self, party_id: str) -> dict[str, dict[str, str]]:
        markers: dict[str, dict[str, str]] = self.app.safety_markers(party_id)
        return markers


class InMemoryPartyDirectory:
    """Contact details held in memory (development, demonstrations, tests)."""

    def __init__(self, entries: dict[str, dict[str, Any]] | None = None) -> None:
        self.entries = dict(entries or {})

    def details(self, party_id: str) -> dict[str, Any] | None:
        return self.entries.get(party_id)

    def markers(self, party_id: str) -> dict[str, dict[str, str]]:
        return {}


def party_view(party_id: str, standing: str, role: Role, directory: PartyDirectory) -> dict[str, Any]:
    # Safety markers follow the person into every case (set by an earlier case, maybe): everyone
    # who acts on this case must see them, as the threat that "did not reach the caseworker" shows.
    view: dict[str, Any] = {"party_id": party_id, "standing": standing, "safety_markers": directory.markers(party_id)}
    details = directory.details(party_id)
    if details is None:
        return view
    if may_see_party_details(role, standing):
        view["contact_details"] = details
    else:
        view["contact_details_withheld"] = True
    return view


def case_state(case: Case, role: Role, directory: PartyDirectory) -> dict[str, Any]:
    """The case as it stands: team, people, open items (ids only: the concerns' substance is in the
    safeguarding history, which has its own need-to-know check)."""
    protected = case.victim_survivor_party_ids()

    def standing(party_id: str, side: str) -> str:
        return "protected" if party_id in protected else side

    return {
        "case_id": str(case.id),
        "version": case.version,
        "team": str(case.team),
        "service_type": str(case.service_type),
        "applicant_role": str(case.applicant_role),
        "qualifying_children": case.qualifying_children,
        "parties": {
            "receiving_parent": party_view(
                case.receiving_parent_id, standing(case.receiving_parent_id, "receiving_parent"), role, directory
            ),
            "paying_parent": party_view(
                case.paying_parent_id, standing(case.paying_parent_id, "paying_parent"), role, directory
            ),
        },
        "named_caseworker_id": case.named_caseworker_id,
        "enforcement_manager_id": case.enforcement_manager_id,
        "closed": case.closed,
        "referral_pending": case.referral_pending,
        "unresolved_concern_ids": case.unresolved_concern_ids(),
        "open_pathways": [
            {
                "pathway_id": pid,
                "reason": str(p.reason),
                "due_at": p.due_at.isoformat(),
                "deadline_missed": p.deadline_missed,
            }
            for pid, p in case.open_pathways.items()
        ],
        "open_escalation_ids": list(case.open_escalations),
        "removal_requested": case.removal_request is not None,
        "created_on": case.created_on.isoformat(),
        "modified_on": case.modified_on.isoformat(),
    }
