"""Tamper evidence on each store: every class of mutation of the stored log is found, at its position."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.crypto import new_signing_key
from infrastructure.eventstore.digests import DigestError, check_signature, sign
from infrastructure.eventstore.integrity import GENESIS, chain_hash, verify_case, verify_log
from infrastructure.samples.scenarios import SCENARIOS, run_scenario
from infrastructure.settings import Settings
from tests.conftest import POSTGRES_URL, FakeClock

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))


class RawLog:
    """Direct SQL on the events table, as someone with database access (not the application) would."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.store == "sqlite":
            self.table, self.id = "stored_events", "rowid"
        else:
            schema = settings.postgres_schema
            self.table, self.id = f'"{schema}".casejourney_events', "notification_id"

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        sql = sql.format(t=self.table, id=self.id)
        if self.settings.store == "sqlite":
            with sqlite3.connect(self.settings.sqlite_path) as conn:
                return conn.execute(sql.replace("%s", "?"), params).fetchall()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def ids(self) -> list[int]:
        return [r[0] for r in self.run("SELECT {id} FROM {t} ORDER BY {id}")]

    def row(self, position: int) -> tuple[Any, ...]:
        [row] = self.run(
            "SELECT originator_id, originator_version, topic, state, chain_hash FROM {t} WHERE {id} = %s", (position,)
        )
        return row

    def insert(self, position: int, row: tuple[Any, ...]) -> None:
        self.run(
            "INSERT INTO {t} ({id}, originator_id, originator_version, topic, state, chain_hash)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (position, *row),
        )


@pytest.fixture
def logged(app: CaseJourney, store_settings: Settings) -> Iterator[tuple[CaseJourney, RawLog]]:
    for scenario in SCENARIOS[:4]:
        run_scenario(app, scenario, START)
    yield app, RawLog(store_settings)


def first_break(app: CaseJourney) -> tuple[int | None, int]:
    result = verify_log(app.recorder.chain_rows())  # type: ignore[attr-defined]
    return (result.first_break.position if result.first_break else None), result.checked


def test_an_untouched_log_verifies_and_the_writer_hashes_what_python_recomputes(logged) -> None:  # type: ignore[no-untyped-def]
    app, raw = logged
    position, checked = first_break(app)
    assert position is None
    assert checked == len(raw.ids()) > 20
    # Recompute the first event's hash from its raw row: the store's writer (PL/pgSQL on
    # PostgreSQL) and the verifier agree byte for byte.
    originator_id, version, topic, state, stored = raw.row(raw.ids()[0])
    expected = chain_hash(GENESIS, GENESIS, UUID(str(originator_id)), version, topic, bytes(state))
    assert bytes(stored) == expected


def test_an_edited_payload_is_found_at_its_position(logged) -> None:  # type: ignore[no-untyped-def]
    app, raw = logged
    target = raw.ids()[7]
    state = bytearray(raw.row(target)[3])
    state[len(state) // 2] ^= 0x01
    raw.run("UPDATE {t} SET state = %s WHERE {id} = %s", (bytes(state), target))
    assert first_break(app)[0] == target


def test_a_deleted_event_is_found_where_the_chain_skips_it(logged) -> None:  # type: ignore[no-untyped-def]
    app, raw = logged
    ids = raw.ids()
    raw.run("DELETE FROM {t} WHERE {id} = %s", (ids[5],))
    assert first_break(app)[0] == ids[6]


def test_an_inserted_event_is_found_even_with_a_well_formed_hash(logged) -> None:  # type: ignore[no-untyped-def]
    app, raw = logged
    ids = raw.ids()
    last = raw.row(ids[-1])
    raw.run("DELETE FROM {t} WHERE {id} = %s", (ids[-1],))
    # The forger appends a plausible event with a correctly computed hash where the last one was...
    prev = raw.row(ids[-2])
    forged_id = uuid4()
    forged_hash = chain_hash(bytes(prev[4]), GENESIS, forged_id, 1, last[2], bytes(last[3]))
    raw.insert(
        ids[-1],
        (
            str(forged_id) if raw.settings.store == "postgres" else forged_id.hex,
            1,
            last[2],
            bytes(last[3]),
            forged_hash,
        ),
    )
    # ...and puts the real last event back after it, unchanged.
    raw.insert(ids[-1] + 1, last)
    assert first_break(app)[0] == ids[-1] + 1


def test_reordered_events_are_found(logged) -> None:  # type: ignore[no-untyped-def]
    app, raw = logged
    ids = raw.ids()
    a, b = ids[3], ids[9]
    raw.run("UPDATE {t} SET {id} = %s WHERE {id} = %s", (-1, a))
    raw.run("UPDATE {t} SET {id} = %s WHERE {id} = %s", (a, b))
    raw.run("UPDATE {t} SET {id} = %s WHERE {id} = %s", (b, -1))
    assert first_break(app)[0] == a


def test_a_truncated_tail_needs_a_digest_and_the_digest_finds_it(logged) -> None:  # type: ignore[no-untyped-def]
    app, raw = logged
    private, public = new_signing_key()
    before = verify_log(app.recorder.chain_rows())  # type: ignore[attr-defined]
    digest = sign(app.name, before.head_position, before.head_hash, before.checked, START, private)
    check_signature(digest, public)
    ids = raw.ids()
    raw.run("DELETE FROM {t} WHERE {id} >= %s", (ids[-3],))
    after = verify_log(app.recorder.chain_rows())  # type: ignore[attr-defined]
    assert after.ok  # what is left is a valid, shorter chain: only a digest kept elsewhere tells
    assert app.recorder.chain_row_at(digest.position) is None  # type: ignore[attr-defined]


def test_a_digest_whose_content_was_changed_fails_its_signature() -> None:
    private, public = new_signing_key()
    digest = sign("casejourney", 10, bytes(32), 10, START, private)
    with pytest.raises(DigestError):
        check_signature(digest.model_copy(update={"position": 9}), public)
    other_private, _ = new_signing_key()
    with pytest.raises(DigestError):
        check_signature(sign("casejourney", 10, bytes(32), 10, START, other_private), public)


def test_one_case_can_be_verified_alone(logged) -> None:  # type: ignore[no-untyped-def]
    app, raw = logged
    case_id = next(app.all_case_ids())
    assert verify_case(app.recorder.case_chain_rows(case_id)).ok  # type: ignore[attr-defined]
    [(position,)] = raw.run(
        "SELECT {id} FROM {t} WHERE originator_id = %s AND originator_version = 2",
        (str(case_id) if raw.settings.store == "postgres" else case_id.hex,),
    )
    raw.run("UPDATE {t} SET topic = %s WHERE {id} = %s", ("casejourney.case:CaseClosed", position))
    result = verify_case(app.recorder.case_chain_rows(case_id))  # type: ignore[attr-defined]
    assert result.first_break is not None and result.first_break.position == position


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "casejourney")
    return subprocess.run([exe, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=120)


def test_verify_and_digest_from_the_command_line(tmp_path: Path) -> None:
    env = {"CASEJOURNEY_SQLITE_PATH": str(tmp_path / "log.sqlite")}
    assert cli("demo", env=env).returncode == 0
    ok = cli("verify", env=env)
    assert ok.returncode == 0 and "OK the case log" in ok.stdout
    # The digest is the signed checkpoint now: the same note `checkpoint` writes.
    made = cli("digest", "--out", str(tmp_path / "d.txt"), env=env)
    assert made.returncode == 0 and "the digest is now the signed checkpoint" in made.stderr, made.stderr
    note = (tmp_path / "d.txt").read_text()
    assert note.startswith("casejourney.local/log\n") and "\n\n— casejourney.local/log " in note, note
    assert cli("verify", "--since", str(tmp_path / "d.txt"), env=env).returncode == 0
    # An older JSON digest held elsewhere is still checked, against the key the operator configures.
    private, public = new_signing_key()
    with CaseJourney(Settings(sqlite_path=tmp_path / "log.sqlite")) as app:
        head = verify_log(app.recorder.chain_rows())  # type: ignore[attr-defined]
        old = sign(app.name, head.head_position, head.head_hash, head.checked, datetime.now(UTC), private)
    (tmp_path / "d.json").write_text(old.model_dump_json())
    legacy = {**env, "CASEJOURNEY_DIGEST_PUBLIC_KEY": public}
    kept = cli("verify", "--since", str(tmp_path / "d.json"), "--public-key", public, env=env)
    assert kept.returncode == 0 and "only grown since the digest" in kept.stdout, kept.stdout + kept.stderr
    with sqlite3.connect(tmp_path / "log.sqlite") as conn:
        conn.execute("DELETE FROM stored_events WHERE rowid = (SELECT max(rowid) FROM stored_events)")
    truncated = cli("verify", "--since", str(tmp_path / "d.json"), env=legacy)
    assert truncated.returncode == 1 and "rewritten or truncated" in truncated.stderr
    cut = cli("verify", "--since", str(tmp_path / "d.txt"), env=env)
    assert cut.returncode == 1, cut.stdout + cut.stderr
    with sqlite3.connect(tmp_path / "log.sqlite") as conn:
        conn.execute("UPDATE stored_events SET state = x'00' WHERE rowid = 3")
    broken = cli("verify", env=env)
    assert broken.returncode == 1 and "position 3" in broken.stderr


def test_a_value_edited_in_with_the_wrong_type_is_a_finding_not_a_stop(tmp_path: Path) -> None:
    """SQLite keeps any value in any column: the same bytes written back as TEXT, or a case id that
    is no UUID, are edits, and `verify` names the event (exit 1), where it used to stop (exit 3)."""
    env = {"CASEJOURNEY_SQLITE_PATH": str(tmp_path / "log.sqlite")}
    assert cli("demo", env=env).returncode == 0
    with sqlite3.connect(tmp_path / "log.sqlite") as conn:
        conn.execute("UPDATE stored_events SET state = CAST(state AS TEXT) WHERE rowid = 5")
        assert conn.execute("SELECT typeof(state) FROM stored_events WHERE rowid = 5").fetchone() == ("text",)
    as_text = cli("verify", env=env)
    assert as_text.returncode == 1 and "position 5" in as_text.stderr, as_text.stdout + as_text.stderr
    assert "Traceback" not in as_text.stderr
    with sqlite3.connect(tmp_path / "log.sqlite") as conn:
        conn.execute("UPDATE stored_events SET state = CAST(state AS BLOB) WHERE rowid = 5")
    assert cli("verify", env=env).returncode == 0  # put back byte for byte: the log verifies again
    with sqlite3.connect(tmp_path / "log.sqlite") as conn:
        conn.execute("UPDATE stored_events SET originator_id = 'not-a-uuid' WHERE rowid = 4")
    no_case = cli("verify", env=env)
    assert no_case.returncode == 1 and "position 4" in no_case.stderr, no_case.stdout + no_case.stderr
