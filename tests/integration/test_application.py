"""The application on each store: idempotency, optimistic concurrency, typed errors, upcasting."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from domain.case.commands import AssignCaseworker, RecordConcern
from domain.errors import CaseNotFound, ConcurrencyConflict, IdempotencyKeyReused, NotPermitted, RuleViolation
from infrastructure.eventstore.application import CaseJourney
from tests.builders import AUDITOR, CASEWORKER, open_case, opening, seal
from tests.conftest import FakeClock

FIXTURES = Path(__file__).parent.parent / "fixtures"


def concern(case_id: UUID, **fields: object) -> RecordConcern:
    fields.setdefault("affected_party_id", "pwc-1")
    return RecordConcern(
        case_id=case_id,
        kind="coercive_control",
        source="customer_disclosure",
        **fields,  # type: ignore[arg-type]
    )


def test_the_same_command_twice_appends_once_and_returns_the_first_result(app: CaseJourney) -> None:
    case_id = open_case(app)
    command = concern(case_id)
    first = app.execute(command, CASEWORKER)
    again = app.execute(command, CASEWORKER)
    assert again.replayed and not first.replayed
    assert again.model_dump(exclude={"replayed"}) == first.model_dump(exclude={"replayed"})
    assert len(app.case_events(case_id)) == 2


def test_a_retry_through_another_instance_finds_the_first_result(make_app: Callable[..., CaseJourney]) -> None:
    """A second application instance has its own connections and cache, like another process."""
    writer, other = make_app(), make_app()
    case_id = open_case(writer)
    command = concern(case_id)
    first = writer.execute(command, CASEWORKER)
    again = other.execute(command, CASEWORKER)
    assert again.replayed
    assert again.ids == first.ids
    assert len(other.case_events(case_id)) == 2


def test_opening_a_case_is_idempotent_by_command_id(app: CaseJourney) -> None:
    command = opening(
        applicant_role="paying_parent", service_type="direct_pay", receiving_parent_id="a", paying_parent_id="b"
    )
    first = app.execute(command, CASEWORKER)
    again = app.execute(command, CASEWORKER)
    assert again.replayed and again.case_id == first.case_id
    assert len(app.case_events(first.case_id)) == 1


def test_a_command_id_reused_for_different_content_is_refused(app: CaseJourney) -> None:
    case_id = open_case(app)
    command_id = uuid4()
    app.execute(concern(case_id, command_id=command_id), CASEWORKER)
    with pytest.raises(IdempotencyKeyReused) as refused:
        app.execute(concern(case_id, command_id=command_id, police_involved=True), CASEWORKER)
    assert refused.value.code == "command_id_reused"
    assert len(app.case_events(case_id)) == 2


def test_a_stale_expected_version_is_a_typed_conflict_with_the_current_version(app: CaseJourney) -> None:
    case_id = open_case(app)
    app.execute(concern(case_id, expected_version=1), CASEWORKER)
    with pytest.raises(ConcurrencyConflict) as conflict:
        app.execute(concern(case_id, expected_version=1), CASEWORKER)
    assert conflict.value.current_version == 2
    assert conflict.value.as_dict()["expected_version"] == 1
    assert len(app.case_events(case_id)) == 2


def test_a_stale_cache_never_refuses_or_overwrites(make_app: Callable[..., CaseJourney]) -> None:
    first, second = make_app(), make_app()
    case_id = open_case(first)
    first.execute(concern(case_id), CASEWORKER)  # first now caches version 2
    second.execute(concern(case_id), CASEWORKER)  # the store moves to version 3 behind first's back
    # Expected version 3 is right for the store, though first's cache says 2: accepted.
    result = first.execute(AssignCaseworker(case_id=case_id, caseworker_id="cw-bob", expected_version=3), CASEWORKER)
    assert result.version == 4
    second.execute(concern(case_id), CASEWORKER)  # version 5, first's cache is stale again
    assert first.execute(concern(case_id), CASEWORKER).version == 6  # no expected version: decided on fresh state
    assert [e.originator_version for e in first.case_events(case_id)] == [1, 2, 3, 4, 5, 6]


def test_unknown_case_and_forbidden_role_are_their_own_errors(app: CaseJourney) -> None:
    with pytest.raises(CaseNotFound):
        app.execute(concern(uuid4()), CASEWORKER)
    case_id = open_case(app)
    with pytest.raises(NotPermitted):
        app.execute(concern(case_id), AUDITOR)
    assert len(app.case_events(case_id)) == 1


def test_business_time_after_the_recording_time_is_refused(app: CaseJourney, clock: FakeClock) -> None:
    case_id = open_case(app)
    with pytest.raises(RuleViolation) as refused:
        app.execute(concern(case_id, occurred_at=clock.now + timedelta(days=1)), CASEWORKER)
    assert refused.value.code == "occurred_at_in_future"
    assert len(app.case_events(case_id)) == 1


def test_concurrent_racers_on_one_case_each_land_exactly_once(make_app: Callable[..., CaseJourney]) -> None:
    apps = [make_app(), make_app()]
    case_id = open_case(apps[0])
    commands = [concern(case_id) for _ in range(20)]
    errors: list[BaseException] = []

    def worker(app: CaseJourney) -> None:
        try:
            for command in commands:  # both instances send every command: each must land once
                app.execute(command, CASEWORKER)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = apps[0].case_events(case_id)
    assert [e.originator_version for e in events] == list(range(1, 22))
    assert sorted(str(e.command_id) for e in events[1:]) == sorted(str(c.command_id) for c in commands)


def test_a_stored_v1_concern_is_upcast_when_read(app: CaseJourney) -> None:
    fixture = json.loads((FIXTURES / "stored_events_v1.json").read_text())
    stored = [
        StoredEvent(
            originator_id=UUID(e["originator_id"]),
            originator_version=e["originator_version"],
            topic=e["topic"],
            state=seal(app, json.dumps(e["state"]).encode()),
        )
        for e in fixture["events"]
    ]
    app.recorder.insert_events(stored)
    case_id = UUID(fixture["events"][0]["originator_id"])
    [_, recorded] = app.case_events(case_id)
    assert recorded.kind == "coercive_control"  # type: ignore[attr-defined]
    assert recorded.note == ""  # type: ignore[attr-defined]
    case = app.get_case(case_id)
    [kept] = case.concerns.values()
    assert kept.kind == "coercive_control" and kept.police_involved
    # The old event is read, never rewritten: a new event goes after it.
    assert app.execute(concern(case_id, affected_party_id="pwc-proto"), CASEWORKER).version == 3
