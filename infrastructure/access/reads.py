"""Reads that need to know: a case's state with its parties, its safeguarding history, its timeline.

The rules are the domain's (``domain/rules/need_to_know.py``): who has a legitimate relationship,
who is protected, what each relationship may see. This module applies them to the case and the
roster *as they stand now* (whatever version of the case is shown), records every read of contact
details and of a history before returning it (``infrastructure/access/log.py``), and raises a
break-glass read as an alert in the same transaction. The HTTP routes and the CLI call it; neither
decides anything itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

from eventsourcing.persistence import MapperDeserialisationError

from domain.case.aggregate import Case
from domain.errors import NoLegitimateRelationship
from domain.rules.need_to_know import (
    UNREADABLE_CASE,
    Access,
    Relationship,
    contact_access,
    history_access,
    standing_of,
)
from domain.values import Actor
from infrastructure.access.log import AccessLog, BreakGlass, ContactRead
from infrastructure.eventstore.application import CaseJourney, PartyRecord


class PartyDirectory(Protocol):
    def details(self, party_id: str) -> dict[str, Any] | None: ...

    def markers(self, party_id: str) -> dict[str, dict[str, str]]: ...

    def records(self, party_ids: Iterable[str], *, head: int | None = None) -> dict[str, PartyRecord]: ...


class CustomerDirectory:
    """Contact details from the customers' own records (sealed under per-person keys).

    An erased customer has no details to show: after erasure nothing is returned, to anyone.
    """

    def __init__(self, app: CaseJourney) -> None:
        self.app = app

    def details(self, party_id: str) -> dict[str, Any] | None:
        return self.app.party_records([party_id])[party_id][1]

    def markers(self, party_id: str) -> dict[str, dict[str, str]]:
        return self.app.safety_markers(party_id)

    def records(self, party_ids: Iterable[str], *, head: int | None = None) -> dict[str, PartyRecord]:
        """Markers and details of each party, each record read once (``CaseJourney.party_records``)."""
        return self.app.party_records(party_ids, head=head)


@dataclass(frozen=True, slots=True)
class HistoryRead:
    """A history read that was allowed and recorded: what to return with the entries."""

    sequence: int
    at: datetime
    basis: Relationship

    def as_dict(self, actor: Actor, purpose: str) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "at": self.at.isoformat(),
            "by": actor.id,
            "purpose": purpose,
            "basis": str(self.basis),
        }


def _refuse(access: Access) -> None:
    if not access.allowed:
        raise NoLegitimateRelationship(access.explanation)


class CaseReads:
    """Every read of a case that needs to know, decided by the domain's rules and recorded first."""

    def __init__(
        self, app: CaseJourney, access_log: AccessLog, directory: PartyDirectory, clock: Callable[[], datetime]
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.directory = directory
        self.clock = clock

    def case_view(
        self,
        actor: Actor,
        case_id: UUID,
        *,
        version: int | None = None,
        break_glass_reason: str | None = None,
        unless: Callable[[int], bool] = lambda shown_version: False,
    ) -> dict[str, Any] | None:
        """The case (as it stands, or at ``version``) with its parties: contact details only where the
        reader's relationship *now* needs them, and every one returned is recorded first. ``None``,
        with nothing read or recorded, when ``unless`` says the reader already has this version."""
        parties: dict[str, dict[str, Any]] = {}  # filled in below, once decided
        # The log's head, read first: the case, the roster and the people, each as it stood there at
        # least, and any copy this process knows current there read with no query (``CurrentAt``).
        head = self.app.log_head()
        with self.app.reading_case(case_id, head=head) as now:  # the case's lock: take what is needed, let go
            facts = now.access_facts()
            state = case_state(now, parties) if version in (None, now.version) else None
        if state is None:
            state = case_state(self.app.get_case(case_id, version=version), parties)
        if unless(state["version"]):
            return None
        membership = self.app.memberships(head=head)
        returned: list[ContactRead] = []
        sides = (("receiving_parent", facts.receiving_parent_id), ("paying_parent", facts.paying_parent_id))
        records = self.directory.records((party_id for _, party_id in sides), head=head)
        for side, party_id in sides:
            markers, details = records[party_id]
            standing = standing_of(party_id, facts, {party_id: markers})
            view: dict[str, Any] = {"party_id": party_id, "standing": str(standing), "safety_markers": markers}
            if details is not None:
                access = contact_access(actor, facts, membership, standing, break_glass_reason=break_glass_reason)
                if access.allowed:
                    assert access.basis is not None
                    view["contact_details"] = details
                    view["contact_details_basis"] = str(access.basis)
                    returned.append(ContactRead(party_id, str(standing), str(access.basis)))
                else:
                    view["contact_details_withheld"] = True
                    view["withheld_because"] = access.explanation
            parties[side] = view
        if returned:
            # Break-glass is granted only with a reason: the alert carries it.
            by_glass = any(r.basis == Relationship.BREAK_GLASS for r in returned)
            self.access_log.record_contact_reads(
                case_id,
                actor,
                returned,
                at=self.clock(),
                request_id=str(uuid4()),
                break_glass=BreakGlass(break_glass_reason or "", "contact_details") if by_glass else None,
            )
        return state

    def allow_history(
        self,
        actor: Actor,
        case_id: UUID,
        *,
        purpose: str,
        as_of: datetime | None = None,
        break_glass_reason: str | None = None,
    ) -> HistoryRead:
        """Decides a read of the case's safeguarding history and records it; raises if not allowed.

        A case whose stored events no longer decode (altered) is decided on ``UNREADABLE_CASE``: an
        auditor may still read what is stored, marked as failed verification; no one is taken to be
        its caseworker on the word of a tampered record."""
        try:
            with self.app.reading_case(case_id) as case:
                facts = case.access_facts()
        except MapperDeserialisationError:
            facts = UNREADABLE_CASE
        access = history_access(actor, facts, self.app.memberships(), break_glass_reason=break_glass_reason)
        _refuse(access)
        assert access.basis is not None
        at = self.clock()
        sequence = self.access_log.record_history_read(
            case_id,
            actor,
            basis=str(access.basis),
            purpose=purpose,
            as_of=as_of,
            at=at,
            request_id=str(uuid4()),
            break_glass=BreakGlass(break_glass_reason or "", "safeguarding_history")
            if access.basis is Relationship.BREAK_GLASS
            else None,
        )
        return HistoryRead(sequence, at, access.basis)


def case_state(case: Case, parties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The case as it stands (team, people, open items: ids only; the concerns' substance is in the
    safeguarding history, which has its own need-to-know check), with its parties as decided."""
    return {
        "case_id": str(case.id),
        "version": case.version,
        "team": str(case.team),
        "service_type": str(case.service_type),
        "applicant_role": str(case.applicant_role),
        "qualifying_children": case.qualifying_children,
        "parties": parties,
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
