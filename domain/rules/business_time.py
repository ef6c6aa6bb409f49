"""Business time (``occurred_at``) has sane bounds: an accepted time is a time that can be true.

A time far in the past or the future is not a slip of the keyboard to be stored and explained
later: it chooses which policy applies (the one in force at the business time), moves a due time,
and a date outside what every reader can represent once stopped every read model at that event
(``0001-01-01T00:00:00+14:00`` is year 0 in UTC). The bounds are settings (``Settings``); the
defaults, and why, are in docs/domain-decisions.md. Nothing here reads the clock: the recording
time is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.errors import RuleViolation

#: The Child Support Act 1991 came into force on 5 April 1993: nothing in this service happened before.
SERVICE_BEGAN = datetime(1993, 4, 5, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class BusinessTimeBounds:
    earliest: datetime = SERVICE_BEGAN
    #: How far before its recording a business time may lie (late recording of what happened).
    max_backdate: timedelta = timedelta(days=366)
    #: Clock skew tolerated between a caller and the service.
    future_tolerance: timedelta = timedelta(minutes=5)


def check_business_time(occurred_at: datetime, recorded_at: datetime, bounds: BusinessTimeBounds) -> None:
    """Raises ``RuleViolation`` unless ``occurred_at`` lies within ``bounds`` of ``recorded_at``."""
    if occurred_at.tzinfo is None:
        raise RuleViolation("occurred_at must carry a time zone offset.", code="occurred_at_naive")
    if occurred_at - recorded_at > bounds.future_tolerance:
        raise RuleViolation(
            f"occurred_at {occurred_at.isoformat()} is in the future; business time must not be after"
            " the time the service records it.",
            code="occurred_at_in_future",
        )
    if occurred_at < bounds.earliest:
        raise RuleViolation(
            f"occurred_at {occurred_at.isoformat()} is before {bounds.earliest.date().isoformat()}, when the"
            " child maintenance service began: it cannot be true.",
            code="occurred_at_too_early",
        )
    if recorded_at - occurred_at > bounds.max_backdate:
        raise RuleViolation(
            f"occurred_at {occurred_at.isoformat()} is more than {bounds.max_backdate.days} days before it is"
            " recorded; a business time may be backdated at most that far.",
            code="occurred_at_backdated_too_far",
        )
