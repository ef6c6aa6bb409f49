"""A case read at a log head it has read before makes no query but the head's; a write by anyone moves it.

Given a service process that has read a case once (the case, the roster and both people kept in
memory, each marked current at the log's head), when it reads again and nothing was recorded since,
then the only query is the head's; when another process records anything (an event of the case, a
person's new details, a roster change, a domestic-abuse concern), the next read shows it; and a
command of the service's own voids the mark too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.case.commands import AssignCaseworker, GiveSignposting, RecordConcern
from domain.customer.commands import RecordCustomerDetails
from domain.staff.commands import LeaveTeam
from domain.values import StaffTeam
from infrastructure.access.log import AccessLog
from infrastructure.access.reads import CaseReads, CustomerDirectory
from infrastructure.eventstore.application import CaseJourney
from tests.builders import CASEWORKER, TEAM_LEADER, open_case
from tests.conftest import FakeClock

SIGNPOST = {"target": "affordability_hub", "resolved_concern": False}


def _counting(app: CaseJourney) -> list[str]:
    """Every read of stored events the process makes (a case's, the roster's, a person's, the log's)."""
    made: list[str] = []
    recorder: Any = app.recorder
    for name in ("select_events", "select_notifications"):
        real = getattr(recorder, name)

        def counted(*args: Any, _real: Callable[..., Any] = real, _name: str = name, **kwargs: Any) -> Any:
            made.append(_name)
            return _real(*args, **kwargs)

        setattr(recorder, name, counted)
    return made


def test_a_read_at_the_same_head_queries_nothing_and_any_write_is_seen_next(
    make_app: Callable[..., CaseJourney], store_settings: Any, clock: FakeClock
) -> None:
    service, other = make_app(), make_app()  # two processes on one store
    with AccessLog(store_settings) as log:
        reads = CaseReads(service, log, CustomerDirectory(service), clock)
        for party in ("pwc-1", "nrp-1"):
            other.record_customer_details(RecordCustomerDetails(party_id=party, phone="0100"), CASEWORKER)
        case_id = open_case(other)
        other.execute(AssignCaseworker(case_id=case_id, caseworker_id=CASEWORKER.id), TEAM_LEADER)

        def view() -> dict[str, Any]:
            found = reads.case_view(CASEWORKER, case_id)
            assert found is not None
            return found

        first = view()
        assert first["parties"]["receiving_parent"]["contact_details"]["phone"] == "0100"
        made = _counting(service)
        assert view() == first
        assert made == [], "a read at an unchanged head read stored events"

        other.execute(GiveSignposting(case_id=case_id, **SIGNPOST), CASEWORKER)  # type: ignore[arg-type]
        assert view()["version"] == first["version"] + 1
        assert made, "the case moved on in another process, and the read did not look"

        other.record_customer_details(RecordCustomerDetails(party_id="pwc-1", phone="0199"), CASEWORKER)
        assert view()["parties"]["receiving_parent"]["contact_details"]["phone"] == "0199"

        concern = RecordConcern(
            case_id=case_id, kind="threatened_violence", source="customer_disclosure", affected_party_id="pwc-1"
        )  # type: ignore[arg-type]
        other.execute(concern, CASEWORKER)
        shown = view()["parties"]["receiving_parent"]
        assert "domestic_abuse" in shown["safety_markers"], shown

        before = service.memberships(head=service.log_head())
        assert before.is_member(CASEWORKER.id, StaffTeam.MAINSTREAM)
        other.manage_roster(
            LeaveTeam(staff_id=CASEWORKER.id, team=StaffTeam.MAINSTREAM, reason="Moved on."), TEAM_LEADER
        )
        assert not service.memberships(head=service.log_head()).is_member(CASEWORKER.id, StaffTeam.MAINSTREAM)

        settled = view()
        service.execute(GiveSignposting(case_id=case_id, **SIGNPOST), CASEWORKER)  # type: ignore[arg-type]
        assert view()["version"] == settled["version"] + 1
