"""``verify_store``: every authoritative record checked, on both stores, as an attacker would test it.

Given four stories, a customer's details, a recorded read of a safeguarding history, an erasure and
a signed checkpoint, the untouched store verifies. Then each tampering that passed the old
``verify`` (issue 14, part 8) is found and named: a deleted access-log row (a hidden read), a
deleted key row (a silent erasure), a key destroyed with no erasure recorded, a zeroed chain head,
a checkpoint re-signed with another key, and a checkpoint larger than the log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from domain.case.commands import CloseCase
from domain.customer.commands import EraseCustomer, RecordCustomerDetails
from domain.values import Actor, Role
from infrastructure.access.log import AccessLog
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.checkpoints import Checkpoints
from infrastructure.eventstore.signed_note import Checkpoint, Signer, sign_note
from infrastructure.eventstore.store_check import StoreVerification, sign_verified, verify_store
from infrastructure.samples.scenarios import SCENARIOS, run_scenario
from infrastructure.settings import Settings
from tests.builders import CASEWORKER, SPECIALIST
from tests.conftest import POSTGRES_URL, FakeClock
from tests.integration.test_integrity import RawLog

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SIGNER = Signer.generate("case-journey.test/log")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))


class Store:
    """The application, its access log, and direct SQL on any of their tables (as an attacker would)."""

    def __init__(self, app: CaseJourney, settings: Settings) -> None:
        self.app, self.settings = app, settings
        self.access = AccessLog(settings, text_keys=app.text_keys)
        self.events = RawLog(settings)

    def sql(self, statement: str, params: tuple[Any, ...] = (), *, access_log: bool = False) -> list[Any]:
        if self.settings.store == "sqlite":
            path = self.settings.sqlite_path
            if access_log:
                path = path.with_name(f"{path.stem}-access-log{path.suffix}")
            with sqlite3.connect(path) as conn:
                return conn.execute(statement.replace("%s", "?").format(s=""), params).fetchall()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            cur = conn.execute(statement.format(s=f'"{self.settings.postgres_schema}".'), params)
            return cur.fetchall() if cur.description else []

    def access_table(self) -> tuple[str, str]:
        if self.settings.store == "sqlite":
            return "stored_events", "rowid"
        return "{s}accesslog_events", "notification_id"

    def verify(self, signer: Signer = SIGNER) -> StoreVerification:
        return verify_store(self.app, self.access, signer.verifier())


@pytest.fixture
def store(app: CaseJourney, store_settings: Settings) -> Iterator[Store]:
    journeys = [run_scenario(app, scenario, START) for scenario in SCENARIOS[:4]]
    app.record_customer_details(RecordCustomerDetails(party_id="pwc-s1", name="Ann Example"), CASEWORKER)
    s = Store(app, store_settings)
    for n in (1, 2):  # two recorded reads of a safeguarding history
        s.access.record_history_read(
            journeys[0].case_id,
            SPECIALIST,
            basis="named_caseworker",
            purpose=f"complaint review {n}",
            as_of=None,
            at=datetime(2026, 12, 1, 9, n, tzinfo=UTC),
            request_id=f"r-{n}",
        )
    app.execute(CloseCase(case_id=journeys[0].case_id, reason="Arrangement ended"), SPECIALIST)
    app.record_customer_details(RecordCustomerDetails(party_id="pwc-gone", name="Bea Example"), CASEWORKER)
    app.erase_customer(EraseCustomer(party_id="pwc-gone", reason="retention ended"), Actor("svc", Role.BACKEND_SERVICE))
    note, verified = sign_verified(
        app,
        s.access,
        store_settings.model_copy(
            update={"checkpoint_signing_key": SecretStr(SIGNER.text()), "checkpoint_origin": "case-journey.test/log"}
        ),
        app.clock(),
    )
    assert note is not None and verified.access_head is not None
    yield s
    s.access.close()


def problem(result: StoreVerification) -> str:
    found = result.first_problem()
    assert found is not None, "the tampering was not found"
    return found


def test_an_untouched_store_verifies_every_record(store: Store) -> None:
    result = store.verify()
    assert result.first_problem() is None, result.first_problem()
    records = {f.record: f.detail for f in result.findings}
    assert records["the access log"].startswith("3 events chained")
    assert "1 destroyed" in records["the keys"]
    assert "signed by case-journey.test/log" in records["the checkpoints"]
    assert result.tree_size == len(store.events.ids())


@pytest.mark.parametrize("which", ["middle", "last"])
def test_a_deleted_access_log_row_is_a_hidden_read_and_is_found(store: Store, which: str) -> None:
    table, key = store.access_table()
    ids = [r[0] for r in store.sql(f"SELECT {key} FROM {table} ORDER BY {key}", access_log=True)]
    assert len(ids) == 3  # the case's reads opened, then two reads
    store.sql(f"DELETE FROM {table} WHERE {key} = %s", (ids[1] if which == "middle" else ids[-1],), access_log=True)
    found = problem(store.verify())
    assert found.startswith("the access log:")
    if which == "last":  # the chain alone cannot see a cut tail: the checkpoint signed the head
        assert "signed its head at position" in found


def test_a_deleted_key_row_is_a_silent_erasure_and_is_found(store: Store) -> None:
    store.sql("DELETE FROM {s}casejourney_person_keys WHERE subject = %s", ("pwc-s1",))
    found = problem(store.verify())
    assert found.startswith("the keys:") and "pwc-s1" in found and "deleted" in found


def test_a_key_destroyed_with_no_erasure_recorded_is_found(store: Store) -> None:
    store.sql("UPDATE {s}casejourney_person_keys SET wrapped_key = NULL WHERE subject = %s", ("pwc-s1",))
    found = problem(store.verify())
    assert "pwc-s1 was destroyed, but no erasure of it is recorded" in found


def test_a_zeroed_chain_head_is_found_before_the_next_event_is_linked_to_it(store: Store) -> None:
    if store.settings.store != "sqlite":
        pytest.skip("PostgreSQL keeps no head row: each append links to the last stored event")
    store.sql("UPDATE {s}stored_events_chain_head SET head_position = 0, head_hash = zeroblob(32)")
    assert problem(store.verify()).startswith("the case log's chain head:")


def test_a_checkpoint_re_signed_with_another_key_is_refused(store: Store) -> None:
    assert store.verify().ok
    attacker = Signer.generate("case-journey.test/log")  # the same name: only the key differs
    [(size, _, note)] = Checkpoints(store.app.recorder).all()
    forged = sign_note(note.split("\n\n")[0] + "\n", attacker)
    store.sql("UPDATE {s}casejourney_checkpoints SET note = %s WHERE size = %s", (forged, size))
    assert "does not verify" in problem(store.verify())
    assert store.verify(attacker).ok  # with the attacker's key it would pass: the key must be the verifier's own


def test_a_checkpoint_larger_than_the_log_means_signed_events_were_deleted(store: Store) -> None:
    size = len(store.events.ids())
    text = Checkpoint("case-journey.test/log", size + 3, b"\x00" * 32, ("time 2026-12-01T10:00:00+00:00",)).text()
    Checkpoints(store.app.recorder).add(size + 3, datetime(2026, 12, 1, 10, tzinfo=UTC), sign_note(text, SIGNER))
    assert "covers more events than the log holds" in problem(store.verify())


def test_an_edited_event_breaks_the_log_and_its_checkpoint(store: Store) -> None:
    position = store.events.ids()[5]
    state = bytearray(store.events.row(position)[3])
    state[len(state) // 2] ^= 0x01
    store.events.run("UPDATE {t} SET state = %s WHERE {id} = %s", (bytes(state), position))
    assert problem(store.verify()).startswith("the case log:")
