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
from infrastructure.application import CaseJourney
from infrastructure.event_decoding import CaseEventDecoder

DEFAULT_BATCH = 5000


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

        Stopping at the head seen at the start makes one read a consistent prefix of the log.
        """
        stop = until if until is not None else (self.app.recorder.max_notification_id() or 0)
        decode = self.decoder.decode
        while self.position < stop:
            batch = self.app.recorder.select_notifications(
                self.position + 1, self.batch_size, stop=stop, topics=self.topics
            )
            if not batch:
                self.position = stop
                return
            for notification in batch:
                yield LoggedEvent(notification.id, decode(notification))
            self.position = batch[-1].id
