"""Idempotency across processes: two real processes send the same commands; each lands once."""

from __future__ import annotations

import multiprocessing
from uuid import UUID, uuid4

from domain.case.commands import RecordConcern
from infrastructure.eventstore.application import CaseJourney
from infrastructure.settings import Settings
from tests.builders import CASEWORKER, open_case


def _send_all(settings_json: str, case_id: str, command_ids: list[str]) -> int:
    app = CaseJourney(Settings.model_validate_json(settings_json))
    replayed = 0
    for command_id in command_ids:
        result = app.execute(
            RecordConcern(
                command_id=UUID(command_id),
                case_id=UUID(case_id),
                kind="threatened_violence",
                source="customer_disclosure",
                affected_party_id="pwc-1",
            ),
            CASEWORKER,
        )
        replayed += result.replayed
    app.close()
    return replayed


def test_two_processes_sending_the_same_commands_append_each_once(store_settings: Settings) -> None:
    app = CaseJourney(store_settings)
    case_id = open_case(app)
    command_ids = [str(uuid4()) for _ in range(25)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        replays = pool.starmap(_send_all, [(store_settings.model_dump_json(), str(case_id), command_ids)] * 2)
    events = app.case_events(case_id)
    assert [e.originator_version for e in events] == list(range(1, 27))
    assert sorted(str(e.command_id) for e in events[1:]) == sorted(command_ids)
    assert sum(replays) == 25  # every command was acknowledged twice, appended once
    app.close()
