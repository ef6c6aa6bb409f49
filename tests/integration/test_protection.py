"""Encryption at rest, key rotation, and erasure under per-person keys, read from the raw bytes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import psycopg
import pytest

from domain.case.commands import CloseCase, RecordConcern
from domain.customer.aggregate import ERASED
from domain.customer.commands import EraseCustomer, RecordCustomerDetails
from domain.errors import NotPermitted, RuleViolation
from domain.values import Actor, Role
from infrastructure.access.log import AccessLog
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.crypto import Keyring
from infrastructure.eventstore.integrity import verify_log
from infrastructure.eventstore.keys import StoreKeyError
from infrastructure.readmodels.models import ReadModels
from infrastructure.readmodels.registry import PROJECTIONS
from infrastructure.readmodels.safeguarding_history import safeguarding_history_of
from infrastructure.settings import Settings
from tests.builders import CASEWORKER, opening
from tests.conftest import POSTGRES_URL, FakeClock

RETENTION = Actor("svc-retention", Role.BACKEND_SERVICE)
NOTE = "Police called about threats at the school gate"
PURPOSE = "Complaint review of the handover at the school gate"
DETAILS = {
    "name": "Harriet Quill",
    "address": "14 Juniper Row, Leeds",
    "phone": "07700 900123",
    "email": "harriet.quill@example.org",
    "bank_account": "20-00-00 55779911",
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))


def with_keys(settings: Settings, keys: str | None) -> Settings:
    return settings.model_copy(update={"cipher_keys": None if keys is None else Settings(cipher_keys=keys).cipher_keys})


def raw_bytes(settings: Settings) -> bytes:
    """Every byte the store has on disk for this test's data."""
    if settings.store == "sqlite":
        folder = settings.sqlite_path.parent  # the store, its WAL, the access log beside it, the keys
        return b"".join(f.read_bytes() for f in folder.rglob("*") if f.is_file())
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        [(data_dir,)] = conn.execute("SHOW data_directory").fetchall()
        paths = [
            row[0]
            for row in conn.execute(
                "SELECT pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relkind IN ('r', 't', 'i')",
                (settings.postgres_schema,),
            )
            if row[0]
        ]
        toast = conn.execute(
            "SELECT pg_relation_filepath(c.reltoastrelid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.reltoastrelid <> 0",
            (settings.postgres_schema,),
        ).fetchall()
    try:
        return b"".join((Path(data_dir) / p).read_bytes() for p in paths + [t[0] for t in toast])
    except PermissionError as exc:  # pragma: no cover - only where tests cannot read the server's files
        pytest.skip(f"cannot read PostgreSQL's data files as this user: {exc}")


def write_sample(app: CaseJourney) -> None:
    case = app.execute(opening(receiving_parent_id="pwc-hq", paying_parent_id="nrp-hq"), CASEWORKER)
    app.execute(
        RecordConcern(
            case_id=case.case_id,
            kind="threatened_violence",
            source="customer_disclosure",
            affected_party_id="pwc-hq",
            police_involved=True,
            note=NOTE,
        ),
        CASEWORKER,
    )
    app.record_customer_details(RecordCustomerDetails(party_id="pwc-hq", **DETAILS), CASEWORKER)


def close_all(app: CaseJourney) -> None:
    """Closes every case: a party's data is erased only once the service's live interest has ended."""
    for case_id in list(app.all_case_ids()):
        app.execute(CloseCase(case_id=case_id, reason="Maintenance arrangement ended"), CASEWORKER)


def test_with_payload_encryption_off_payload_text_is_readable_in_the_raw_bytes(
    make_app: Callable[..., CaseJourney],
) -> None:
    """The negative control: it shows the raw-byte search below would see plaintext if it were there."""
    app = make_app(payload_encryption=False)
    write_sample(app)
    app.close()
    raw = raw_bytes(app.settings)
    assert b"threatened_violence" in raw  # the payload's structured values, in clear
    assert NOTE.encode() not in raw  # free text is sealed under the case's text key regardless
    assert DETAILS["name"].encode() not in raw  # and personal data under the person's own key


def test_with_the_default_settings_no_payload_text_or_personal_data_is_in_the_raw_bytes(
    make_app: Callable[..., CaseJourney],
) -> None:
    app = make_app()  # no key configured: the keyring is made on first use, in the key folder
    write_sample(app)
    assert app.customer("pwc-hq").details == DETAILS  # type: ignore[union-attr]
    with ReadModels(app) as models:  # the read models live in the same database: sealed too
        models.catch_up()
        case_id = str(next(app.all_case_ids()))
        with models.engine.connect() as conn:
            history = safeguarding_history_of(conn, case_id, app.text_keys)
    assert any(NOTE in row["why"] for row in history)  # readable through the application...
    log = AccessLog(app.settings)  # and the purposes of reads, in the access log
    log.record_history_read(
        UUID(case_id),
        Actor("aud-eve", Role.AUDITOR),
        basis="role",
        purpose=PURPOSE,
        as_of=None,
        at=datetime(2026, 12, 1, tzinfo=UTC),
        request_id="r-1",
    )
    assert [r.purpose for r in log.reads(UUID(case_id))] == [PURPOSE]
    log.close()
    app.close()
    raw = raw_bytes(app.settings)
    for secret in [NOTE, "Police called", "affected_party_id", PURPOSE, *DETAILS.values()]:
        assert secret.encode() not in raw, secret  # ...and nowhere in the files
    if app.settings.store == "sqlite":  # the files are the service user's alone
        folder = app.settings.sqlite_path.parent
        stores = [f for f in folder.glob("*.sqlite*") if not f.name.endswith(".lock")]
        assert stores and all(f.stat().st_mode & 0o777 == 0o600 for f in stores), stores
    keys = app.settings.key_folder()
    assert keys.stat().st_mode & 0o777 == 0o700
    assert (keys / "keyring.json").stat().st_mode & 0o777 == 0o600


def test_keys_rotate_old_events_stay_readable_and_a_missing_key_is_a_clear_error(
    store_settings: Settings, clock: FakeClock
) -> None:
    k1, k2 = Keyring.new_key_text("k1"), Keyring.new_key_text("k2")
    first = CaseJourney(with_keys(store_settings, k1), clock=clock)
    write_sample(first)
    first.close()
    rotated = CaseJourney(with_keys(store_settings, f"{k2},{k1}"), clock=clock)
    case_id = next(rotated.all_case_ids())
    rotated.execute(
        RecordConcern(
            case_id=case_id, kind="coercive_control", source="customer_disclosure", affected_party_id="pwc-hq"
        ),
        CASEWORKER,
    )
    assert [e.originator_version for e in rotated.case_events(case_id)] == [1, 2, 3]
    sealed_with = [n.state[4 : 4 + n.state[3]] for n in rotated.recorder.select_notifications(1, 100)]
    assert set(sealed_with[:-1]) == {b"k1"} and sealed_with[-1] == b"k2"
    rotated.close()
    with pytest.raises(StoreKeyError, match="sealed with key 'k1', which is not in the keyring"):
        CaseJourney(with_keys(store_settings, k2), clock=clock)  # refused at open, before any read


def test_erasure_hides_personal_data_everywhere_and_keeps_the_chain(store_settings: Settings, clock: FakeClock) -> None:
    settings = with_keys(store_settings, Keyring.new_key_text("k1"))
    app = CaseJourney(settings, clock=clock)
    write_sample(app)
    with pytest.raises(RuleViolation) as still_open:
        app.erase_customer(EraseCustomer(party_id="pwc-hq", reason="retention ended"), RETENTION)
    assert still_open.value.code == "case_open"  # refused while a case of hers is open...
    assert app.customer("pwc-hq").details == DETAILS  # type: ignore[union-attr]  # ...and nothing went
    close_all(app)
    with pytest.raises(NotPermitted):
        app.erase_customer(EraseCustomer(party_id="pwc-hq", reason="retention ended"), CASEWORKER)
    app.erase_customer(EraseCustomer(party_id="pwc-hq", reason="retention period ended 2026-11-30"), RETENTION)
    app.erase_customer(EraseCustomer(party_id="pwc-hq", reason="run again: completes, changes nothing"), RETENTION)
    app.close()

    again = CaseJourney(settings, clock=clock)  # a fresh process: nothing cached
    customer = again.customer("pwc-hq")
    assert customer is not None and customer.erased
    assert customer.details == dict.fromkeys(DETAILS, ERASED)
    events = list(again.events.get(customer.id))
    # the marker is set on the write path, by the concern that raised it (before her details)
    assert [type(e).__name__ for e in events] == ["Registered", "SafetyMarkerSet", "DetailsRecorded", "Erased"]
    assert events[2].name == ERASED  # type: ignore[attr-defined]  # the history replays; the data reads as erased
    # Its stored fingerprint was keyed by her own (now destroyed) key: a guess of her details,
    # fingerprinted as an unkeyed digest would be, does not match it.
    guess = RecordCustomerDetails(party_id="pwc-hq", **DETAILS)
    assert events[2].command_digest.startswith("h")  # type: ignore[attr-defined]
    assert events[2].command_digest not in (guess.digest(), guess.digest(key=b"\0" * 32))  # type: ignore[attr-defined]
    assert events[3].reason == "retention period ended 2026-11-30"  # type: ignore[attr-defined]
    assert events[3].actor_id == RETENTION.id
    assert again.safety_markers("pwc-hq")  # the safety marker is not personal data: it outlives erasure
    assert verify_log(again.recorder.chain_rows()).ok  # type: ignore[attr-defined]  # stored bytes untouched
    with ReadModels(again) as models:  # projections rebuild cleanly: they never held personal data
        models.rebuild(list(PROJECTIONS))
        assert all(v.differences == 0 for v in (models.verify(name) for name in PROJECTIONS))
    with pytest.raises(RuleViolation) as refused:
        again.record_customer_details(RecordCustomerDetails(party_id="pwc-hq", name="Harriet Quill"), CASEWORKER)
    assert refused.value.code == "customer_erased"  # a key is never made again for her
    again.close()


def test_an_erased_key_leaves_no_bytes_in_the_sqlite_file(tmp_path: Path, clock: FakeClock) -> None:
    settings = Settings(sqlite_path=tmp_path / "log.sqlite")  # no keyring: keys stored unwrapped, easy to look for
    app = CaseJourney(settings, clock=clock)
    write_sample(app)
    close_all(app)
    with sqlite3.connect(settings.sqlite_path) as conn:
        [(key,)] = conn.execute("SELECT wrapped_key FROM casejourney_person_keys WHERE subject = 'pwc-hq'").fetchall()
    assert key in raw_bytes(settings)
    app.erase_customer(EraseCustomer(party_id="pwc-hq", reason="retention ended"), RETENTION)
    app.close()
    assert key not in raw_bytes(settings)


def test_erase_from_the_command_line(tmp_path: Path, clock: FakeClock) -> None:
    import os
    import subprocess
    import sys

    settings = Settings(sqlite_path=tmp_path / "log.sqlite")
    app = CaseJourney(settings, clock=clock)
    write_sample(app)
    close_all(app)
    app.close()
    exe = str(Path(sys.executable).parent / "casejourney")
    env = {**os.environ, "CASEJOURNEY_SQLITE_PATH": str(settings.sqlite_path)}
    done = subprocess.run(
        [exe, "erase", "pwc-hq", "--reason", "retention ended", "--actor", "ops-retention-job", "--yes"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "[erased]" in done.stdout
    verify = subprocess.run([exe, "verify"], capture_output=True, text=True, env=env, timeout=60)
    assert verify.returncode == 0
    reread = CaseJourney(settings, clock=clock)
    assert reread.customer("pwc-hq").erased  # type: ignore[union-attr]
    reread.close()


def test_erasure_cannot_be_mistyped(tmp_path: Path, clock: FakeClock) -> None:
    """An unknown party is refused (exit 1), a dry run shows what would go, no terminal needs --yes:
    and none of them appends anything."""
    import os
    import subprocess
    import sys

    settings = Settings(sqlite_path=tmp_path / "log.sqlite")
    app = CaseJourney(settings, clock=clock)
    write_sample(app)
    with pytest.raises(RuleViolation) as refused:  # the library refuses it too, not only the command line
        app.erase_customer(EraseCustomer(party_id="nobody-xyz", reason="retention ended"), RETENTION)
    assert refused.value.code == "unknown_party"
    head = app.recorder.max_notification_id()
    app.close()
    exe = str(Path(sys.executable).parent / "casejourney")
    env = {**os.environ, "CASEJOURNEY_SQLITE_PATH": str(settings.sqlite_path), "COLUMNS": "200"}

    def erase(*args: str) -> subprocess.CompletedProcess[str]:
        base = [exe, "erase", *args, "--reason", "retention ended", "--actor", "ops-retention-job"]
        return subprocess.run(base, capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)

    unknown = erase("nobody-xyz", "--yes")
    assert unknown.returncode == 1 and "No party nobody-xyz is known" in unknown.stderr
    assert "Erased" not in unknown.stdout
    dry = erase("pwc-hq", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "named on 1 case(s)" in dry.stdout and "recorded 1 time(s)" in dry.stdout
    assert "Dry run: nothing was erased." in dry.stdout
    unasked = erase("pwc-hq")
    assert unasked.returncode == 2 and "--yes" in unasked.stderr
    again = CaseJourney(settings, clock=clock)
    assert again.recorder.max_notification_id() == head  # nothing appended by any of them
    assert again.customer("pwc-hq").details == DETAILS  # type: ignore[union-attr]
    again.close()


def test_processes_starting_at_once_on_a_fresh_folder_agree_on_one_keyring(tmp_path: Path) -> None:
    import threading

    from infrastructure.eventstore.keys import FileKeyProvider

    folder, seen, start = tmp_path / "keys", [], threading.Barrier(8)

    def load() -> None:
        start.wait()
        seen.append(FileKeyProvider(folder).load())

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({(m.payload, m.wrapping) for m in seen}) == 1  # one keyring, whoever won
    assert sum(m.created is not None for m in seen) == 1  # made (and said) once
    assert [p.name for p in folder.iterdir()] == ["keyring.json"]  # no temporary file left


def test_the_access_log_opened_without_its_key_is_refused_naming_the_key(store_settings: Settings) -> None:
    first = AccessLog(with_keys(store_settings, Keyring.new_key_text("k1")))
    first.record_history_read(
        UUID(int=5),
        Actor("aud-eve", Role.AUDITOR),
        basis="role",
        purpose=PURPOSE,
        as_of=None,
        at=datetime(2026, 12, 1, tzinfo=UTC),
        request_id="r-1",
    )
    first.close()
    with pytest.raises(StoreKeyError, match="The events of the access log are sealed with key 'k1'"):
        AccessLog(with_keys(store_settings, Keyring.new_key_text("k2")))
