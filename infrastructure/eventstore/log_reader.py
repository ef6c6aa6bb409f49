"""Reading chosen event types straight from the log, in notification order, without loading cases.

Reports, the impact assessment and the deadline clock ask questions about a few event types across
every case. Replaying every case for that would read the whole log and rebuild every aggregate;
instead the log is filtered by topic where it is stored (``select_notifications(..., topics=...)``)
and only the matching events are decoded, with the projections' fast decoder.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from domain.case.aggregate import Case
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.decoding import CaseEventDecoder

DEFAULT_BATCH = 20_000


def topics_of(*names: str) -> list[str]:
    """Stored topics of case events, by their short names (``"ReferralNotMade"``, ...)."""
    return [Case.EVENT_CLASSES[name].TOPIC for name in names]


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """A decoded case event with its position in the log."""

    position: int
    event: Case.Event

    @property
    def name(self) -> str:
        return type(self.event).__name__


class TopicReader:
    """Reads events of the given types after a position; remembers where it stopped."""

    def __init__(self, app: CaseJourney, names: Iterable[str], *, batch_size: int = DEFAULT_BATCH) -> None:
        self.app = app
        self.topics = topics_of(*names)
        self.batch_size = batch_size
        self.decoder = CaseEventDecoder(app)
        self.position = 0

    def read(self, *, until: int | None = None) -> Iterator[LoggedEvent]:
        """Events after the last position read, up to ``until`` (default: the head as the read starts).

        Stopping at the head seen at the start makes one read a consistent prefix of the log. The
        log is read in windows of ``batch_size`` notification ids, each asked for its matching
        topics: every query is bounded by its window, so a read is linear in the log whatever plan
        the database picks (an open-ended ``id >= start`` with a topic filter may be planned as a
        scan of the whole rest of the log per batch, which is quadratic).
        """
        stop = until if until is not None else (self.app.recorder.max_notification_id() or 0)
        decode = self.decoder.decode
        select = self.app.recorder.select_notifications
        while self.position < stop:
            window_end = min(self.position + self.batch_size, stop)
            # The limit is the window's size: every match in the window comes back in one query.
            batch = select(self.position + 1, self.batch_size, stop=window_end, topics=self.topics)
            for notification in batch:
                yield LoggedEvent(notification.id, decode(notification))
            self.position = window_end
