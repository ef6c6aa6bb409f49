"""The Merkle tree over a real log, on both stores (issue 14's foundation: ``merkle.event_leaf``).

Given the first four stories in the store, every stored event's leaf (its position, case, version,
topic and stored bytes) proves its inclusion in the tree head; the log grown by more commands is
consistent with the head it had; an erasure changes no leaf (the leaves cover ciphertext, and
erasure only destroys keys); and one edited stored byte changes that event's leaf, so its proof
no longer reaches the head.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from domain.case.commands import CloseCase
from domain.customer.commands import EraseCustomer, RecordCustomerDetails
from domain.values import Actor, Role
from infrastructure.eventstore import merkle, merkle_log
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.merkle_log import MerkleLog
from infrastructure.samples.scenarios import SCENARIOS, run_scenario
from infrastructure.settings import Settings
from tests.builders import CASEWORKER, SPECIALIST
from tests.conftest import FakeClock
from tests.integration.test_integrity import RawLog

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))


def leaves(app: CaseJourney) -> list[bytes]:
    return [
        merkle.leaf_hash(merkle.event_leaf(r.position, r.originator_id, r.version, r.topic, bytes(r.state)))
        for r in app.recorder.chain_rows()  # type: ignore[attr-defined]
    ]


@pytest.fixture
def logged(app: CaseJourney, store_settings: Settings) -> Iterator[tuple[CaseJourney, RawLog]]:
    journeys = [run_scenario(app, scenario, START) for scenario in SCENARIOS[:4]]
    app.record_customer_details(RecordCustomerDetails(party_id="pwc-s1", name="Ann Example"), CASEWORKER)
    app.execute(CloseCase(case_id=journeys[0].case_id, reason="Arrangement ended"), SPECIALIST)
    yield app, RawLog(store_settings)


def test_every_event_of_the_log_proves_its_inclusion_and_the_grown_log_is_consistent(logged) -> None:  # type: ignore[no-untyped-def]
    app, raw = logged
    before = leaves(app)
    assert len(before) == len(raw.ids()) > 20
    head = merkle.root(before)
    for index, leaf in enumerate(before):
        assert merkle.verify_inclusion(index, len(before), leaf, merkle.inclusion_proof(index, before), head)

    for scenario in SCENARIOS[4:6]:
        run_scenario(app, scenario, START)
    after = leaves(app)
    assert after[: len(before)] == before  # the log only grew
    proof = merkle.consistency_proof(len(before), after)
    assert merkle.verify_consistency(len(before), len(after), proof, head, merkle.root(after))


def test_an_erasure_changes_no_leaf(logged) -> None:  # type: ignore[no-untyped-def]
    app, _ = logged
    before = leaves(app)
    app.erase_customer(
        EraseCustomer(party_id="pwc-s1", reason="retention ended"), Actor("svc-ret", Role.BACKEND_SERVICE)
    )
    after = leaves(app)
    assert after[: len(before)] == before  # her data and her case's text are unreadable; every proof still holds
    assert len(after) > len(before)  # the erasure itself is recorded


def test_one_edited_stored_byte_breaks_that_events_proof(logged) -> None:  # type: ignore[no-untyped-def]
    app, raw = logged
    before = leaves(app)
    head = merkle.root(before)
    target = 7
    position = raw.ids()[target]
    state = bytearray(raw.row(position)[3])
    state[len(state) // 2] ^= 0x01
    raw.run("UPDATE {t} SET state = %s WHERE {id} = %s", (bytes(state), position))
    edited = leaves(app)
    assert [i for i, (a, b) in enumerate(zip(before, edited, strict=True)) if a != b] == [target]
    proof = merkle.inclusion_proof(target, before)  # the proof as it was issued
    assert not merkle.verify_inclusion(target, len(edited), edited[target], proof, head)
    assert merkle.root(edited) != head


class Stop(Exception):
    pass


def test_the_stored_tree_answers_as_the_tree_of_the_leaves_and_grows_resumably(logged, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app, _ = logged
    monkeypatch.setattr(merkle_log, "BATCH", 7)
    tree = MerkleLog(app.recorder)

    def stop_after_first_batch(size: int) -> None:
        raise Stop  # as if killed once the first batch was written

    with pytest.raises(Stop):
        tree.grow(progress=stop_after_first_batch)
    partly = tree.head()[0]
    assert 0 < partly < len(leaves(app))
    tree.grow()  # resumes from the last leaf written
    expected = leaves(app)
    assert tree.head()[0] == len(expected) and tree.grow() == 0  # complete; nothing more to add
    assert tree.root(len(expected)) == merkle.root(expected)
    for index in range(len(expected)):
        assert tree.inclusion_proof(index, len(expected)) == merkle.inclusion_proof(index, expected)
    for size1 in range(1, len(expected) + 1):
        assert tree.consistency_proof(size1, len(expected)) == merkle.consistency_proof(size1, expected)
        assert tree.root(size1) == merkle.root(expected[:size1])  # every earlier head, too

    for scenario in SCENARIOS[4:6]:  # the log grows; so does the tree, from where it was
        run_scenario(app, scenario, START)
    added = MerkleLog(app.recorder).grow()
    grown = leaves(app)
    assert added == len(grown) - len(expected) > 0
    assert tree.root(len(grown)) == merkle.root(grown)
    last = app.recorder.max_notification_id()
    assert tree.leaf_index(last) == len(grown) - 1 and tree.leaf(len(grown) - 1) == grown[-1]


def test_batched_proofs_and_leaf_indexes_equal_the_proofs_one_at_a_time(logged) -> None:  # type: ignore[no-untyped-def]
    app, raw = logged
    tree = MerkleLog(app.recorder)
    tree.grow()
    positions = raw.ids()
    indexes = tree.leaf_indexes([*positions, 10**9])  # a position the log does not have is left out
    assert indexes == {p: tree.leaf_index(p) for p in positions}
    everything = leaves(app)
    for size in (1, 7, len(everything) - 3, len(everything)):
        wanted = [i for i in range(0, size, 3)]
        batched = tree.inclusion_proofs(wanted, size)
        assert batched == {i: merkle.inclusion_proof(i, everything[:size]) for i in wanted}
    with pytest.raises(LookupError, match="grow it first"):
        tree.inclusion_proofs([0], len(everything) + 5)
