"""The access log on both stores: every read recorded however many read at once, old reads still read.

Given readers of one case at the same moment (threads of one process, and a second process's
access log on the same store), when each records a read, then every read is there exactly once, in
a gapless order; a stored read from before relationships were recorded reads back as allowed by
role.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from domain.access.aggregate import CaseReads, reads_id
from domain.values import Actor, Role
from infrastructure.access.log import AccessLog, BreakGlass, ContactRead
from infrastructure.eventstore.group_append import GroupAppend
from infrastructure.settings import Settings
from tests.builders import SPECIALIST, seal
from tests.conftest import postgres_settings

READER = SPECIALIST  # the specialist named caseworker of the stories
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_many_readers_of_one_case_at_once_are_all_recorded_in_a_gapless_order(store_settings: Settings) -> None:
    logs = [AccessLog(store_settings), AccessLog(store_settings)]  # two processes' worth of writers
    case_id = uuid4()
    errors: list[BaseException] = []

    def read(log: AccessLog, n: int) -> None:
        try:
            for i in range(n):
                log.record_contact_reads(
                    case_id,
                    READER,
                    [
                        ContactRead("pwc-1", "protected", "named_caseworker"),
                        ContactRead("nrp-1", "paying_parent", "named_caseworker"),
                    ],
                    at=AT,
                    request_id=f"{threading.get_ident()}-{i}",
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(logs[t % 2], 15)) for t in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        reads = logs[0].reads(case_id)
        assert len(reads) == 8 * 15 * 2
        assert [r.sequence for r in reads] == list(range(1, 241))
        stored = logs[0].recorder.select_events(reads_id(case_id))
        assert [e.originator_version for e in stored] == list(range(1, 242))  # opened, then every read
        # A read's parties are recorded together: both or neither.
        by_request: dict[str, int] = {}
        for r in reads:
            by_request[r.request_id] = by_request.get(r.request_id, 0) + 1
        assert set(by_request.values()) == {2}
    finally:
        for log in logs:
            log.close()


def test_an_append_to_a_stream_another_process_is_appending_to_waits_its_turn(store_settings: Settings) -> None:
    """The store's lock on a stream (``append_at_heads``): the second of two writers (two
    applications: two connections, as two processes) waits while the first holds the stream,
    then reads the head the first left: it is not refused, and no version is taken twice."""
    first, second = AccessLog(store_settings), AccessLog(store_settings)
    stream = reads_id(uuid4())
    inside, release, second_done = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def events(heads: Mapping[UUID, int], who: str, n: int) -> list[StoredEvent]:
        seen[who] = heads[stream]
        return [StoredEvent(stream, heads[stream] + 1 + i, "bench.Event", b"{}") for i in range(n)]

    def held(heads: Mapping[UUID, int]) -> list[StoredEvent]:
        inside.set()
        assert release.wait(10)
        return events(heads, "first", 3)

    def later() -> None:
        second.recorder.append_at_heads(lambda: ([stream], lambda heads: events(heads, "second", 2)))  # type: ignore[attr-defined]
        second_done.set()

    try:
        holder = threading.Thread(target=first.recorder.append_at_heads, args=(lambda: ([stream], held),))  # type: ignore[attr-defined]
        holder.start()
        assert inside.wait(10)
        waiter = threading.Thread(target=later)
        waiter.start()
        assert not second_done.wait(0.5)  # it waits for the first to commit
        release.set()
        holder.join(10)
        waiter.join(10)
        assert second_done.is_set() and seen == {"first": 0, "second": 3}
        stored = first.recorder.select_events(stream)
        assert [e.originator_version for e in stored] == [1, 2, 3, 4, 5]
    finally:
        release.set()
        first.close()
        second.close()


def test_an_append_at_the_heads_stores_every_value_as_it_was_given(store_settings: Settings) -> None:
    """The PostgreSQL path writes its values into the statement: a topic that needs quoting, any
    byte of a state, two streams at once, each at its own head."""
    log = AccessLog(store_settings)
    one, two = uuid4(), uuid4()
    awkward = "a topic with 'quotes'; and -- a comment"
    state = bytes(range(256))
    try:
        log.recorder.append_at_heads(lambda: ([one], lambda h: [StoredEvent(one, h[one] + 1, "x.Y", b"1")]))  # type: ignore[attr-defined]

        def both(heads: Mapping[UUID, int]) -> list[StoredEvent]:
            return [StoredEvent(one, heads[one] + 1, awkward, state), StoredEvent(two, heads[two] + 1, "x.Y", b"")]

        ids = log.recorder.append_at_heads(lambda: ([one, two], both), [one])  # type: ignore[attr-defined]
        assert len(ids) == 2 and ids[0] < ids[1]
        stored = log.recorder.select_events(one)
        assert [(e.originator_version, e.topic, e.state) for e in stored] == [(1, "x.Y", b"1"), (2, awkward, state)]
        assert [(e.originator_version, e.state) for e in log.recorder.select_events(two)] == [(1, b"")]
    finally:
        log.close()


def test_appends_queued_behind_a_transaction_go_in_the_next_one_together(store_settings: Settings) -> None:
    """``GroupAppend``: while one append is being written, five more queue; they are written in one
    transaction, each at the head the one before it left, and none is answered before it commits."""
    log = AccessLog(store_settings)
    group = GroupAppend(log.recorder.append_at_heads)  # type: ignore[attr-defined]
    stream = reads_id(uuid4())
    inside, release = threading.Event(), threading.Event()
    answered: list[int] = []

    def one(heads: Mapping[UUID, int], *, hold: bool = False) -> list[StoredEvent]:
        if hold:
            inside.set()
            assert release.wait(10)
        return [StoredEvent(stream, heads[stream] + 1, "bench.Event", b"{}")]

    def append(hold: bool) -> None:
        group.append([stream], lambda heads: one(heads, hold=hold))
        answered.append(len(log.recorder.select_events(stream)))  # what was stored when it was answered

    try:
        first = threading.Thread(target=append, args=(True,))
        first.start()
        assert inside.wait(10)
        others = [threading.Thread(target=append, args=(False,)) for _ in range(5)]
        for t in others:
            t.start()
        deadline = time.monotonic() + 10
        while group.waiting() < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert group.waiting() == 5 and answered == []
        release.set()
        for t in [first, *others]:
            t.join(10)
        assert (group.transactions, group.appends) == (2, 6)
        assert [e.originator_version for e in log.recorder.select_events(stream)] == [1, 2, 3, 4, 5, 6]
        assert min(answered) >= 1 and sorted(answered)[1:] == [6] * 5
    finally:
        release.set()
        log.close()


def test_a_break_glass_read_and_its_alert_are_one_transaction(store_settings: Settings) -> None:
    log = AccessLog(store_settings)
    try:
        case_id = uuid4()
        sequence = log.record_history_read(
            case_id,
            Actor("cw-ada", Role.CASEWORKER),
            basis="break_glass",
            purpose="urgent call",
            as_of=None,
            at=AT,
            request_id="r-1",
            break_glass=BreakGlass("She rang in distress.", "safeguarding_history"),
        )
        [alert] = log.alerts(open_only=True)
        assert sequence == 1 and (alert.case_id, alert.actor_id, alert.read) == (
            str(case_id),
            "cw-ada",
            "safeguarding_history",
        )
        assert [(r.what, r.basis) for r in log.reads(case_id)] == [("safeguarding_history", "break_glass")]
    finally:
        log.close()


def test_a_read_stored_before_relationships_reads_back_as_allowed_by_role(store_settings: Settings) -> None:
    log = AccessLog(store_settings)
    try:
        case_id = uuid4()
        opened = log.mapper.to_stored_event(CaseReads.started(case_id, AT))
        v1_read = {  # HistoryRead as the first access log stored it: no basis, no class_version
            "timestamp": {"_type_": "datetime_iso", "_data_": AT.isoformat()},
            "case_id": {"_type_": "uuid_hex", "_data_": case_id.hex},
            "actor_id": "aud-eve",
            "actor_role": "auditor",
            "purpose": "complaint review",
            "as_of": None,
            "request_id": "old-1",
        }
        log.recorder.insert_events(
            [
                opened,
                StoredEvent(reads_id(case_id), 2, CaseReads.HistoryRead.TOPIC, seal(log, json.dumps(v1_read).encode())),
            ]
        )

        [read] = log.reads(case_id)

        assert (read.actor_id, read.purpose, read.basis, read.what) == (
            "aud-eve",
            "complaint review",
            "role",
            "safeguarding_history",
        )
        assert (
            log.record_history_read(
                case_id, READER, basis="named_caseworker", purpose="review", as_of=None, at=AT, request_id="new-1"
            )
            == 2
        )
    finally:
        log.close()


@pytest.mark.postgres
def test_appends_on_postgresql_never_scan_the_log_however_it_was_when_the_session_began(pg_schema: str) -> None:
    """The writer session keeps the append functions' plans: planned on an access log analysed
    while empty (a new store after routine upkeep), they scanned the whole table on every append,
    so each cost more as the log grew. Counted by PostgreSQL's own statistics: appends to a log
    that has grown make no sequential scan of it."""
    settings = postgres_settings(pg_schema)
    log = AccessLog(settings)
    with psycopg.connect(settings.postgres_url or "", autocommit=True) as conn:  # routine upkeep, on a new store
        conn.execute(f'VACUUM (ANALYZE) "{pg_schema}".accesslog_events')  # type: ignore[arg-type]
    case_id = uuid4()
    parties = [ContactRead("pwc-1", "protected", "named_caseworker")]
    try:
        for i in range(20):  # the session's plans are made while the log is nearly empty
            log.record_contact_reads(case_id, READER, parties, at=AT, request_id=f"early-{i}")
        before = _seq_scans(settings, pg_schema)
        for i in range(200):
            log.record_contact_reads(case_id, READER, parties, at=AT, request_id=f"later-{i}")
        after = _seq_scans(settings, pg_schema)
        assert len(log.reads(case_id)) == 220
        assert after == before, f"{after - before} sequential scans of the access log in 200 appends"
    finally:
        log.close()


def _seq_scans(settings: Settings, schema: str) -> int:
    time.sleep(1.2)  # the server publishes a session's counters at most once a second
    with psycopg.connect(settings.postgres_url or "", autocommit=True) as conn:
        row = conn.execute(
            "SELECT seq_scan FROM pg_stat_user_tables WHERE schemaname = %s AND relname = 'accesslog_events'",
            (schema,),
        ).fetchone()
    assert row is not None
    return int(row[0])
