"""What the runner and the builds read: the log's notifications, decoded to case events.

Events of other aggregates (topics outside ``casejourney.case:``) are skipped by topic, explicitly;
a ``casejourney.case:`` topic this code does not know stops every projection (it must not be skipped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.case.aggregate import TOPIC_PREFIX, Case
from infrastructure.eventstore.decoding import CaseEventDecoder
from infrastructure.readmodels.errors import ProjectionStopped, report_failure

#: Topics this code can read. A ``casejourney.case:`` topic outside this set is a newer event
#: type than the code knows: the runner stops (it must not skip it); other prefixes are skipped.
CASE_TOPICS: frozenset[str] = frozenset(cls.TOPIC for cls in Case.EVENT_CLASSES.values())


def decode_notifications(
    decoder: CaseEventDecoder, notifications: Sequence[Any]
) -> list[tuple[int, str, Case.Event | None]]:
    """(id, topic, event) per notification; ``None`` for another aggregate's event (skipped by topic)."""
    decoded: list[tuple[int, str, Case.Event | None]] = []
    to_domain_event = decoder.decode
    for n in notifications:
        if n.topic in CASE_TOPICS:
            try:
                event: Any = to_domain_event(n)
            except Exception as exc:
                raise ProjectionStopped(report_failure("every projection", n, exc)) from exc
            decoded.append((n.id, n.topic, event))
        elif n.topic.startswith(TOPIC_PREFIX):
            raise ProjectionStopped(
                report_failure(
                    "every projection", n, ValueError(f"unknown case event type {n.topic}: upgrade this code")
                )
            )
        else:
            decoded.append((n.id, n.topic, None))
    return decoded
