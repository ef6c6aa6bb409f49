"""A customer (a parent on one or more cases) and the personal data the service holds about them.

Personal data is held here, not on cases: cases refer to customers by party id. Fields named in
``PERSONAL_DATA_FIELDS`` are the ones the store encrypts under the customer's own key, so that
erasing the customer (destroying that key) makes them unreadable everywhere while every event,
and the hash chain over them, stays exactly as stored. The domain only names the fields; it never
sees a key.
"""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import RuleViolation
from domain.events import JourneyEvent
from domain.rules.permissions import check_permitted, check_team_decision
from domain.values import ActionContext, SafetyMarker

TOPIC_PREFIX = "casejourney.customer:"
CUSTOMER_ID_NAMESPACE = UUID("3f0b8a5e-1c2d-4e6f-8a9b-0c1d2e3f4a5b")

#: What a read of erased personal data shows in place of the value.
ERASED = "[erased]"


def customer_id(party_id: str) -> UUID:
    """The customer aggregate of a party id: one per person, whatever the case."""
    return uuid5(CUSTOMER_ID_NAMESPACE, party_id)


class Customer(Aggregate):
    TOPIC = TOPIC_PREFIX + "Customer"

    class Event(JourneyEvent):
        #: Fields encrypted under the customer's own key (crypto-shredded on erasure).
        PERSONAL_DATA_FIELDS: ClassVar[tuple[str, ...]] = ()
        party_id: str

    class Registered(Event, Aggregate.Created):
        TOPIC = TOPIC_PREFIX + "Registered"

        def apply(self, customer: Customer) -> None:
            customer.party_id = self.party_id

    Created = Registered

    class DetailsRecorded(Event):
        TOPIC = TOPIC_PREFIX + "DetailsRecorded"
        PERSONAL_DATA_FIELDS = ("name", "address", "phone", "email", "bank_account")
        name: str
        address: str
        phone: str
        email: str
        bank_account: str
        withhold_name: bool

        def apply(self, customer: Customer) -> None:
            customer.details = {field: getattr(self, field) for field in self.PERSONAL_DATA_FIELDS}
            customer.withhold_name = self.withhold_name

    class Erased(Event):
        """The customer's personal data was erased (its key destroyed); this event records why and by whom."""

        TOPIC = TOPIC_PREFIX + "Erased"
        reason: str

        def apply(self, customer: Customer) -> None:
            customer.erased = True
            customer.details = {field: ERASED for field in Customer.DetailsRecorded.PERSONAL_DATA_FIELDS}

    class SafetyMarkerSet(Event):
        """A safety marker on the person, not only the case: it survives the case being withdrawn
        or closed, and every later case of theirs shows it (DOMAIN.md: flags attach to people)."""

        TOPIC = TOPIC_PREFIX + "SafetyMarkerSet"
        marker: str
        case_id: UUID
        source_position: int  # where in the log the concern that raised it stands
        reason: str

        def apply(self, customer: Customer) -> None:
            customer.markers[self.marker] = {"case_id": str(self.case_id), "set_at": self.occurred_at.isoformat()}

    class SafetyMarkerLifted(Event):
        """An explicit, recorded override: the only way a marker comes off."""

        TOPIC = TOPIC_PREFIX + "SafetyMarkerLifted"
        marker: str
        after_position: int  # the head of the log when it was lifted: concerns up to here were reviewed
        reason: str

        def apply(self, customer: Customer) -> None:
            del customer.markers[self.marker]
            customer.lifted_after[self.marker] = self.after_position

    def __init__(self) -> None:
        self.party_id = ""
        self.details: dict[str, str] | None = None
        self.withhold_name = False
        self.erased = False
        self.markers: dict[str, dict[str, str]] = {}
        self.lifted_after: dict[str, int] = {}

    @classmethod
    def register(
        cls, ctx: ActionContext, *, party_id: str, digest: str = "", action: str = "record_customer_details"
    ) -> Customer:
        check_permitted(action, ctx.actor.role)
        return cls._create(
            cls.Registered, id=customer_id(party_id), **ctx.event_fields(), command_digest=digest, party_id=party_id
        )

    def record_details(
        self, ctx: ActionContext, *, details: dict[str, Any], withhold_name: bool, digest: str = ""
    ) -> None:
        check_permitted("record_customer_details", ctx.actor.role)
        if self.erased:
            raise RuleViolation(
                "This customer's personal data was erased; no personal data can be recorded for them again.",
                code="customer_erased",
            )
        self.trigger_event(
            self.DetailsRecorded,
            **ctx.event_fields(),
            command_digest=digest,
            party_id=self.party_id,
            withhold_name=withhold_name,
            **{field: str(details.get(field, "")) for field in self.DetailsRecorded.PERSONAL_DATA_FIELDS},
        )

    def set_safety_marker(
        self,
        ctx: ActionContext,
        *,
        marker: SafetyMarker,
        case_id: UUID,
        source_position: int,
        reason: str,
        digest: str = "",
    ) -> bool:
        """Sets the marker for a concern at ``source_position`` in the log; True if it was set now.

        Nothing is recorded when the marker is already set, or when the concern stands before a
        recorded lift of it (the override reviewed that concern); a later concern sets it again.
        """
        check_permitted("set_safety_marker", ctx.actor.role)
        if str(marker) in self.markers or source_position <= self.lifted_after.get(str(marker), 0):
            return False
        self.trigger_event(
            self.SafetyMarkerSet,
            **ctx.event_fields(),
            command_digest=digest,
            party_id=self.party_id,
            marker=str(marker),
            case_id=case_id,
            source_position=source_position,
            reason=reason,
        )
        return True

    def lift_safety_marker(
        self, ctx: ActionContext, *, marker: SafetyMarker, after_position: int, reason: str, digest: str = ""
    ) -> None:
        check_permitted("lift_safety_marker", ctx.actor.role)
        # Lifting a marker lowers a person's protection in every case of theirs: only a current
        # member of the Specialist Case Team or of the ACS senior leaders, on the roster now.
        check_team_decision("lift_safety_marker", ctx.actor, ctx.membership)
        if str(marker) not in self.markers:
            raise RuleViolation(f"{self.party_id} has no {marker} marker.", code="no_such_marker")
        if not reason.strip():
            raise RuleViolation("Lifting a safety marker needs a reason.", code="reason_required")
        self.trigger_event(
            self.SafetyMarkerLifted,
            **ctx.event_fields(),
            command_digest=digest,
            party_id=self.party_id,
            marker=str(marker),
            after_position=after_position,
            reason=reason,
        )

    def erase(self, ctx: ActionContext, *, reason: str, digest: str = "") -> None:
        check_permitted("erase_customer", ctx.actor.role)
        if not reason.strip():
            raise RuleViolation("An erasure needs a reason.", code="reason_required")
        if self.erased:
            raise RuleViolation("This customer's personal data is already erased.", code="already_erased")
        self.trigger_event(
            self.Erased, **ctx.event_fields(), command_digest=digest, party_id=self.party_id, reason=reason
        )
