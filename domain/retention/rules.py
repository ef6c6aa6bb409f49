"""When personal data, a case's free text or a month's read records are due for erasure: pure
arithmetic on closures, holds and a clock.

A person's data is kept while any case of theirs is open, and for ``months`` after the last of
their cases closed (the business time of its closure, ``CaseClosed.occurred_at``); then it is due.
A legal hold on the person, or on any case of theirs, keeps it while the hold stands. A person no
case names (a record made in error, say) is not due by this rule: that is for a person to decide.

A case's free text is kept while the case is open and for its own period after it closed (or after
the last entry recorded since, such as a concern after closure); a hold on the case or on either of
its parties keeps it. The read records of a month (the purposes given, break-glass reasons, review
notes) are kept for their period after the month ended.
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


Retention = PersonRetention


def case_text_retention(
    *,
    closed_at: datetime | None,
    months: int,
    now: datetime,
    holds: Iterable[str] = (),
    erased: bool = False,
    last_after_closure: datetime | None = None,
) -> Retention:
    """A case's free text is kept while the case is open and for ``months`` after it closed, or after
    the last entry recorded on it since (a concern after closure renews the live interest)."""
    held = list(holds)
    if erased:
        return Retention("erased", None, "its free text is already erased")
    if closed_at is None:
        return Retention("kept", None, "the case is open")
    since = max(closed_at, last_after_closure or closed_at)
    due_at = add_months(since, months)
    why = f"closed {closed_at:%Y-%m-%d}"
    if since > closed_at:
        why += f", last entry {since:%Y-%m-%d}"
    why += f"; {months} months end {due_at:%Y-%m-%d}"
    if due_at > now:
        return Retention("kept", due_at, why)
    if held:
        return Retention("held", due_at, why + "; held: " + "; ".join(held))
    return Retention("due", due_at, why)


def read_audit_retention(*, month: str, months: int, now: datetime, erased: bool = False) -> Retention:
    """The read records of a month (``YYYY-MM``: purposes, break-glass reasons, review notes) are kept
    for ``months`` after the month ended."""
    if erased:
        return Retention("erased", None, "the month's read records are already erased")
    year, number = (int(part) for part in month.split("-"))
    month_end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=now.tzinfo)
    due_at = add_months(month_end, months)
    why = f"reads of {month}; {months} months after the month end on {due_at:%Y-%m-%d}"
    return Retention("kept" if due_at > now else "due", due_at, why)
