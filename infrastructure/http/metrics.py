"""Prometheus metrics at ``GET /metrics`` (issue 16, item 3), with ``prometheus-client``.

- ``http_requests_total{method,route,status}`` and ``http_request_duration_seconds{method,route}``
  (a histogram), the conventional names, counted by ``observe.RequestLog`` (the route is its
  template: a case id never becomes a label);
- ``casejourney_commands_total{command,outcome}``: outcome ``appended``, ``replayed`` or ``refused``;
- ``casejourney_problems_total{code,status}``: every problem answered, by its stable code (the
  refusals among them);
- ``casejourney_store_errors_total``: the store could not be reached (answered 503);
- ``casejourney_projection_lag_events{projection}`` and ``casejourney_projection_lag_seconds``:
  how far each read model's tracking position is behind the log's head, in events and in the age
  of the oldest event it has not applied yet (0 when it is at the head). Read at each scrape from
  the tracking table the projection runner keeps (none before a runner has ever run).

With several workers (``serve --workers N``) each is its own process: ``serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before they start, each worker writes its counts
there, and whichever worker answers a scrape adds them all up (the library's multiprocess mode).
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger("casejourney.http")

REQUESTS = Counter("http_requests_total", "HTTP requests answered.", ["method", "route", "status"])
DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request, from its first byte in to its last byte out.",
    ["method", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
COMMANDS = Counter("casejourney_commands", "Commands received, by type and outcome.", ["command", "outcome"])
PROBLEMS = Counter("casejourney_problems", "Problems answered (RFC 9457), by stable code.", ["code", "status"])
STORE_ERRORS = Counter("casejourney_store_errors", "Requests answered 503: the event store could not be reached.")

MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ProjectionLag:
    """A collector asked at each scrape: each read model's lag, read from its tracking row."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self._engine: Any = None

    def collect(self) -> Any:
        events = GaugeMetricFamily(
            "casejourney_projection_lag_events",
            "Events in the log a read model has not applied yet.",
            labels=["projection"],
        )
        seconds = GaugeMetricFamily(
            "casejourney_projection_lag_seconds",
            "Age of the oldest event a read model has not applied yet (0: at the head).",
            labels=["projection"],
        )
        for name, behind, age in self.lags():
            events.add_metric([name], behind)
            seconds.add_metric([name], age)
        yield events
        yield seconds

    def lags(self) -> list[tuple[str, int, float]]:
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        from infrastructure.readmodels.engine import make_engine, reading, tracking

        app = self.services.reader
        try:
            if self._engine is None:
                self._engine = make_engine(app.settings)
            with reading(self._engine.connect()) as conn:
                rows = conn.execute(select(tracking.c.name, tracking.c.position)).all()
        except SQLAlchemyError:  # no runner has made its tracking table yet: nothing to report
            return []
        head = app.recorder.max_notification_id() or 0
        found = []
        for name, position in sorted(rows):
            behind = max(head - int(position), 0)
            found.append((name, behind, self._age_of(int(position) + 1) if behind else 0.0))
        return found

    def _age_of(self, position: int) -> float:
        app = self.services.reader
        try:
            [notification] = app.recorder.select_notifications(start=position, limit=1)
            recorded = app.mapper.to_domain_event(notification).timestamp
        except Exception as exc:  # an event that does not decode: `verify` names it; lag still in events
            log.warning("projection lag: the event at position %s does not decode: %s", position, exc)
            return float("nan")
        return max(float((datetime.now(UTC) - recorded).total_seconds()), 0.0)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def exposition(lag: ProjectionLag) -> bytes:
    """The text a scrape reads: this process's counts (or every worker's), and the lags."""
    if os.environ.get(MULTIPROCESS):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(lag)
        return generate_latest(registry)
    registry = CollectorRegistry()
    registry.register(lag)
    return generate_latest(REGISTRY) + generate_latest(registry)
