"""The runner's fast decoder gives exactly the events the library's mapper gives."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

from eventsourcing.persistence import Notification, StoredEvent

from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.case_text import open_event_text
from infrastructure.eventstore.decoding import CaseEventDecoder
from infrastructure.readmodels.models import ReadModels
from scripts.bench.projections import write_synthetic_log
from tests.builders import opened, seal
from tests.integration.projection_helpers import run_all_stories

FIXTURE = Path(__file__).parents[1] / "fixtures" / "stored_events_v1.json"


def _same(decoder: CaseEventDecoder, app: CaseJourney, n: Notification) -> None:
    # The fast path leaves free text sealed, as the library's mapper does when asked to.
    fast, slow = decoder.decode(n), app.mapper.to_domain_event_sealed(n)
    assert type(fast) is type(slow)
    assert vars(fast) == vars(slow), n.topic
    assert {k: type(v) for k, v in vars(fast).items()} == {k: type(v) for k, v in vars(slow).items()}
    # Opened, it is the event the mapper gives.
    assert vars(open_event_text(app.text_keys, fast)) == vars(app.mapper.to_domain_event(n)), n.topic


def test_every_story_event_decodes_the_same_on_the_fast_path(app: CaseJourney) -> None:
    run_all_stories(app)
    decoder = CaseEventDecoder(app)
    # Case events only: the decoder is the case projections'; customers' events are the mapper's.
    notifications = [n for n in app.recorder.select_notifications(1, 1000) if n.topic.startswith("casejourney.case:")]
    for n in notifications:
        _same(decoder, app, n)
    assert decoder.fallbacks == 0  # the fast path was really taken


def test_old_event_versions_are_upcast_the_same_way(app: CaseJourney) -> None:
    decoder = CaseEventDecoder(app)
    for i, stored in enumerate(json.loads(FIXTURE.read_text())["events"], start=1):
        n = Notification(
            id=i,
            originator_id=stored["originator_id"],
            originator_version=stored["originator_version"],
            topic=stored["topic"],
            state=seal(app, json.dumps(stored["state"]).encode()),
        )
        _same(decoder, app, n)


def test_a_typed_value_below_the_top_level_goes_to_the_library(app: CaseJourney) -> None:
    run_all_stories(app)
    decoder = CaseEventDecoder(app)
    referral = next(
        n for n in app.recorder.select_notifications(1, 1000) if n.topic.endswith("ReferredToSpecialistTeam")
    )
    state = json.loads(opened(app, referral.state))
    state["facts"]["checked_at"] = {"_type_": "datetime_iso", "_data_": "2026-01-01T00:00:00+00:00"}
    odd = StoredEvent(uuid4(), 1, referral.topic, seal(app, json.dumps(state).encode()))
    _same(decoder, app, Notification(id=1, **vars(odd)))
    assert decoder.fallbacks == 1


def test_bulk_writes_equal_row_by_row_writes(app: CaseJourney) -> None:
    """Large batches go through COPY on PostgreSQL; small ones through INSERT: same rows."""
    write_synthetic_log(app, 1500)
    with ReadModels(app) as models:
        models.catch_up(batch_size=7)  # INSERT path
        for name in ("team_assignment", "safeguarding_history", "caseloads", "expedited_queue"):
            assert models.verify(name, batch_size=5000).differences == 0  # scratch built with COPY
