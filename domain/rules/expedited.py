"""Expedited pathway deadlines (seed 2): target times per reason are configuration.

A target is missed when the clock is strictly past the due time: at the due time itself the
target is still met. The clock is always passed in; nothing here reads the wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from domain.errors import RuleViolation
from domain.values import PathwayReason


def due_at(opened_at: datetime, reason: PathwayReason, targets: Mapping[PathwayReason, timedelta]) -> datetime:
    try:
        target = targets[reason]
    except KeyError:
        raise RuleViolation(
            f"No target time is configured for the {reason} pathway.", code="pathway_target_missing"
        ) from None
    return opened_at + target


def is_missed(due: datetime, now: datetime) -> bool:
    return now > due
