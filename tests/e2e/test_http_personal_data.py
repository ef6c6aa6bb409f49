"""Customers' own records feed the API's contact details: sealed at rest, need to know, gone on erasure."""

from __future__ import annotations

from typing import Any

import pytest

from domain.customer.commands import EraseCustomer, RecordCustomerDetails
from domain.errors import RuleViolation
from infrastructure.eventstore.application import CaseJourney
from tests.e2e.conftest import ACSSL, AUD, CW, EM, SCW, SVC, TL, Api


def test_contact_details_come_from_the_customer_record_and_vanish_on_erasure(api: Api) -> None:
    app = api.client.app.state.services.app  # type: ignore[attr-defined]
    app.record_customer_details(
        RecordCustomerDetails(party_id="pwc-1", address="3 Hidden Close", phone="07000 111222"), CW
    )
    case_id = api.open_case()
    api.command(case_id, "assign_caseworker", {"caseworker_id": CW.id}, TL)
    parties = api.get(f"/cases/{case_id}", CW).json()["parties"]  # the named caseworker
    assert parties["receiving_parent"]["contact_details"]["address"] == "3 Hidden Close"
    for actor in (SCW, ACSSL, EM, AUD):  # no relationship to this case
        response = api.get(f"/cases/{case_id}", actor)
        assert "Hidden Close" not in response.text and "07000" not in response.text

    with pytest.raises(RuleViolation) as refused:
        app.erase_customer(EraseCustomer(party_id="pwc-1", reason="retention ended"), SVC)
    assert refused.value.code == "case_open"  # kept while the case is open
    api.command(case_id, "close_case", {"reason": "Maintenance arrangement ended."}, CW)
    app.erase_customer(EraseCustomer(party_id="pwc-1", reason="retention ended"), SVC)
    for actor in (SCW, ACSSL, CW):
        response = api.get(f"/cases/{case_id}", actor)
        assert response.status_code == 200
        assert "Hidden Close" not in response.text and "07000" not in response.text
        assert "contact_details" not in response.json()["parties"]["receiving_parent"]


def test_a_marker_from_an_earlier_case_reaches_whoever_acts_on_the_new_one(api: Api) -> None:
    first = api.open_case()
    api.command(
        first,
        "record_concern",
        {"kind": "threatened_violence", "source": "customer_disclosure", "affected_party_id": "pwc-1"},
        CW,
    )
    api.command(first, "close_case", {"reason": "Application withdrawn."}, CW)
    second = api.open_case(paying_parent_id="nrp-2")
    for actor in (CW, EM, SVC):
        parties = api.get(f"/cases/{second}", actor).json()["parties"]
        assert parties["receiving_parent"]["safety_markers"]["domestic_abuse"]["case_id"] == first
        assert parties["paying_parent"]["safety_markers"] == {}


def test_an_erasure_by_another_process_is_seen_by_the_next_read(api: Api, store_settings: Any) -> None:
    """The service keeps each person's record in memory between reads (``reading_customer``); the
    retention job erases in a process of its own. The next read must show nothing."""
    app = api.client.app.state.services.app  # type: ignore[attr-defined]
    app.record_customer_details(RecordCustomerDetails(party_id="pwc-1", address="3 Hidden Close"), CW)
    case_id = api.open_case()
    api.command(case_id, "assign_caseworker", {"caseworker_id": CW.id}, TL)
    assert "Hidden Close" in api.get(f"/cases/{case_id}", CW).text  # read, and kept
    api.command(case_id, "close_case", {"reason": "Maintenance arrangement ended."}, CW)
    with CaseJourney(api.settings) as retention_job:
        retention_job.erase_customer(EraseCustomer(party_id="pwc-1", reason="retention ended"), SVC)
    after = api.get(f"/cases/{case_id}", CW)
    assert after.status_code == 200 and "Hidden Close" not in after.text, after.text
    assert "contact_details" not in after.json()["parties"]["receiving_parent"]
