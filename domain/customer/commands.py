"""Commands about customers' personal data."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from domain.case.commands import Command, Id, Reason
from domain.values import SafetyMarker

Detail = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class RecordCustomerDetails(Command):
    """Names, address, phone, e-mail and bank details: stored under the customer's own key."""

    action: ClassVar[str] = "record_customer_details"
    party_id: Id
    name: Detail = ""
    address: Detail = ""
    phone: Detail = ""
    email: Detail = ""
    bank_account: Detail = ""
    withhold_name: bool = Field(default=False, description="The customer asked for her name to be withheld too.")


class EraseCustomer(Command):
    """Erase a customer's personal data at the end of retention: destroys their key; the reason is recorded."""

    action: ClassVar[str] = "erase_customer"
    party_id: Id
    reason: Reason


class LiftSafetyMarker(Command):
    """An explicit override that takes a safety marker off a person, with the reason recorded."""

    action: ClassVar[str] = "lift_safety_marker"
    party_id: Id
    marker: SafetyMarker
    reason: Reason
