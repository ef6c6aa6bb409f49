"""The customer aggregate: personal data named for sealing, erasure recorded with who and why."""

from __future__ import annotations

import pytest

from domain.customer.aggregate import ERASED, Customer, customer_id
from domain.errors import NotPermitted, RuleViolation
from tests.builders import CASEWORKER, SERVICE, T0, context

DETAILS = {"name": "N", "address": "A", "phone": "P", "email": "E", "bank_account": "B"}


def registered() -> Customer:
    customer = Customer.register(context(CASEWORKER, T0), party_id="pwc-1")
    customer.record_details(context(CASEWORKER, T0), details=DETAILS, withhold_name=True)
    return customer


def test_one_customer_per_party_whatever_the_case() -> None:
    assert registered().id == customer_id("pwc-1") != customer_id("pwc-2")


def test_the_personal_fields_are_named_for_sealing() -> None:
    assert tuple(DETAILS) == Customer.DetailsRecorded.PERSONAL_DATA_FIELDS
    assert registered().details == DETAILS
    assert registered().withhold_name


def test_erasure_is_recorded_with_its_reason_and_shows_erased() -> None:
    customer = registered()
    customer.erase(context(SERVICE, T0), reason="retention ended")
    [*_, erased] = customer.collect_events()
    assert isinstance(erased, Customer.Erased) and erased.reason == "retention ended"
    assert customer.details == dict.fromkeys(DETAILS, ERASED)


@pytest.mark.parametrize(
    ("reason", "code"), [("", "reason_required"), ("again", "already_erased")], ids=["no-reason", "twice"]
)
def test_erasure_needs_a_reason_and_happens_once(reason: str, code: str) -> None:
    customer = registered()
    if code == "already_erased":
        customer.erase(context(SERVICE, T0), reason="first")
    with pytest.raises(RuleViolation) as refused:
        customer.erase(context(SERVICE, T0), reason=reason)
    assert refused.value.code == code


def test_nothing_is_recorded_for_an_erased_customer_and_only_the_retention_service_erases() -> None:
    customer = registered()
    with pytest.raises(NotPermitted):
        customer.erase(context(CASEWORKER, T0), reason="asked")
    customer.erase(context(SERVICE, T0), reason="retention ended")
    with pytest.raises(RuleViolation) as refused:
        customer.record_details(context(CASEWORKER, T0), details=DETAILS, withhold_name=False)
    assert refused.value.code == "customer_erased"
