"""When a person's personal data is due for erasure: pure arithmetic on closures, holds and a clock.

A person's data is kept while any case of theirs is open, and for ``months`` after the last of
their cases closed (the business time of its closure, ``CaseClosed.occurred_at``); then it is due.
A legal hold on the person, or on any case of theirs, keeps it while the hold stands. A person no
case names (a record made in error, say) is not due by this rule: that is for a person to decide.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus whole calendar months (the 31st becomes the month's last day if it has fewer)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class PersonRetention:
    """What the rule says of one person now."""

    status: str  # "due", "held", "kept" (a case still open, or the period still running), "erased"
    due_at: datetime | None  # when the period ends (None while a case is open)
    why: str


def person_retention(
    *,
    open_cases: int,
    closures: Iterable[datetime],
    months: int,
    now: datetime,
    holds: Iterable[str] = (),
    erased: bool = False,
) -> PersonRetention:
    """The retention status of a person with ``open_cases`` and the closure times of the others."""
    closed = sorted(closures)
    held = list(holds)
    if erased:
        return PersonRetention("erased", None, "their personal data is already erased")
    if open_cases:
        return PersonRetention("kept", None, f"{open_cases} case(s) of theirs still open")
    if not closed:
        return PersonRetention("kept", None, "no case names them: not due by the retention rule")
    due_at = add_months(closed[-1], months)
    why = f"the last of their {len(closed)} case(s) closed {closed[-1]:%Y-%m-%d}; {months} months end {due_at:%Y-%m-%d}"
    if due_at > now:
        return PersonRetention("kept", due_at, why)
    if held:
        return PersonRetention("held", due_at, why + "; held: " + "; ".join(held))
    return PersonRetention("due", due_at, why)
