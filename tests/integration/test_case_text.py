"""Free text under keys that erasure and retention destroy, on both stores (``case_text.py``).

Given a case whose concern note names the person (her address), a read of its history with a
purpose, and read models built from it, when she is erased, then the note, the closing reason and
the purpose read ``[erased]`` through every reader (the log, the replay, the read models, the
access log), the raw bytes of every table hold tokens and never the text, the chain verifies and
a rebuild equals the live read models. A case's own retention shreds its text while her other
cases stay readable; a concern recorded after that is sealed under the next key and stays
readable; a hold on a party keeps the text; a month of read records goes on its own period.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from domain.case.aggregate import Case
from domain.case.commands import CloseCase, RecordConcern
from domain.customer.aggregate import ERASED
from domain.customer.commands import EraseCustomer, RecordCustomerDetails
from domain.errors import CaseNotFound, IdempotencyKeyReused, NotPermitted, RuleViolation
from domain.retention.aggregate import TextErasures, erasures_id
from domain.retention.commands import EraseText, PlaceLegalHold
from domain.retention.rules import add_months
from domain.values import Actor, Role
from infrastructure.access.log import AccessLog
from infrastructure.audit.replay import replay_case
from infrastructure.audit.retention import apply_retention, retention_items
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.crypto import Keyring
from infrastructure.eventstore.integrity import verify_log
from infrastructure.readmodels.models import ReadModels
from infrastructure.readmodels.registry import PROJECTIONS
from infrastructure.readmodels.safeguarding_history import safeguarding_history_of
from infrastructure.settings import Settings
from tests.builders import ACSSL, CASEWORKER, open_case
from tests.conftest import FakeClock, seed_test_roster
from tests.integration.test_protection import raw_bytes, with_keys

RETENTION = Actor("svc-retention", Role.BACKEND_SERVICE)
AUDITOR = Actor("aud-eve", Role.AUDITOR)
NOTE = "She moved to 14 Juniper Row, Leeds after threats at the school gate"
CLOSING = "Maintenance arrangement ended at the family court"
PURPOSE = "Complaint review of the handover at the school gate"
START = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def concern(app: CaseJourney, case_id: UUID, note: str = NOTE, party: str = "pwc-ct") -> None:
    app.execute(
        RecordConcern(
            case_id=case_id,
            kind="threatened_violence",
            source="customer_disclosure",
            affected_party_id=party,
            note=note,
        ),
        CASEWORKER,
    )


def close(app: CaseJourney, case_id: UUID) -> None:
    app.execute(CloseCase(case_id=case_id, reason=CLOSING), CASEWORKER)


def closed_case(app: CaseJourney) -> UUID:
    """Her case, with a concern naming her, closed at the clock's time."""
    case_id = open_case(app, receiving_parent_id="pwc-ct", paying_parent_id="nrp-ct")
    concern(app, case_id)
    close(app, case_id)
    return case_id


def read_history(log: AccessLog, case_id: UUID, at: datetime) -> None:
    log.record_history_read(
        case_id, AUDITOR, basis="role", purpose=PURPOSE, as_of=None, at=at, request_id=f"r-{uuid4()}"
    )


def texts(app: CaseJourney, case_id: UUID) -> list[str]:
    """Every free-text value of the case's events, as the log gives them now."""
    return [
        value
        for e in app.case_events(case_id)
        for name in type(e).TEXT_FIELDS
        if isinstance(value := getattr(e, name, ""), str) and value
    ]


def history_text(app: CaseJourney, case_id: UUID) -> str:
    with ReadModels(app) as models:
        models.catch_up()
        with models.engine.connect() as conn:
            rows = safeguarding_history_of(conn, str(case_id), app.text_keys)
    return " ".join(str(row[c]) for row in rows for c in ("what", "why", "reasons"))


def test_after_erasure_nothing_about_her_is_readable_anywhere_and_everything_still_verifies(
    make_app: Callable[..., CaseJourney], clock: FakeClock
) -> None:
    app = make_app()
    hers = open_case(app, receiving_parent_id="pwc-ct", paying_parent_id="nrp-ct")
    other = open_case(app, receiving_parent_id="pwc-other", paying_parent_id="nrp-other")
    concern(app, hers)
    concern(app, other, note="Threats by text message", party="pwc-other")
    app.record_customer_details(RecordCustomerDetails(party_id="pwc-ct", name="Harriet Quill"), CASEWORKER)
    log = AccessLog(app.settings, text_keys=app.text_keys)
    read_history(log, hers, clock.now)
    assert NOTE in texts(app, hers) and NOTE in history_text(app, hers)  # readable while kept
    assert [r.purpose for r in log.reads(hers)] == [PURPOSE]
    with pytest.raises(RuleViolation) as still_open:
        app.erase_customer(EraseCustomer(party_id="pwc-ct", reason="asked"), RETENTION)
    assert still_open.value.code == "case_open"
    close(app, hers)
    head = app.recorder.max_notification_id()

    app.erase_customer(EraseCustomer(party_id="pwc-ct", reason="right to erasure, request 88"), RETENTION)

    [erased] = [e for e in app.events.get(erasures_id("case", str(hers))) if isinstance(e, TextErasures.TextErased)]
    assert erased.keys == [f"case:{hers}"] and erased.actor_id == RETENTION.id
    assert erased.reason == "erasure of pwc-ct: right to erasure, request 88"
    assert app.recorder.max_notification_id() == head + 3  # her Erased, the text erasure's stream (2)
    assert set(texts(app, hers)) == {ERASED}  # the note, the closing reason, in the log
    shown = history_text(app, hers)
    assert NOTE not in shown and ERASED in shown  # in the read model, which holds only the token
    replayed = str(replay_case(app, hers).as_record())
    assert NOTE not in replayed and CLOSING not in replayed and ERASED in replayed
    log.close()
    log = AccessLog(app.settings, text_keys=app.text_keys)
    assert [r.purpose for r in log.reads(hers)] == [ERASED]  # and the purpose of the read
    assert "Threats by text message" in texts(app, other)  # another family's case is untouched
    assert verify_log(app.recorder.chain_rows()).ok  # type: ignore[attr-defined]
    with ReadModels(app) as models:
        models.rebuild(list(PROJECTIONS))
        assert all(models.verify(name).differences == 0 for name in PROJECTIONS)
    assert ERASED in history_text(app, hers)  # a rebuild from the log holds the same token
    with ReadModels(app) as models, models.engine.connect() as conn:
        stored = " ".join(str(row["why"]) for row in safeguarding_history_of(conn, str(hers)))
    assert "{{ct1:case:" in stored and NOTE not in stored  # the rows hold tokens (then sealed again)
    log.close()
    app.close()
    raw = raw_bytes(app.settings)
    for secret in (NOTE, "14 Juniper Row", CLOSING, PURPOSE, "Threats by text message"):
        assert secret.encode() not in raw, secret  # and no file holds the text


def test_a_cases_retention_shreds_its_text_while_her_other_case_stays_readable(
    make_app: Callable[..., CaseJourney], clock: FakeClock
) -> None:
    app = make_app()
    old = closed_case(app)
    closed_at = clock.now
    clock.now = add_months(closed_at, 10)
    current = open_case(app, receiving_parent_id="pwc-ct", paying_parent_id="nrp-new")
    concern(app, current, note="New partner threatened her at the station")

    def case_status() -> dict[str, str]:
        return {i.subject: i.status for i in retention_items(app) if i.kind == "case"}

    clock.now = add_months(closed_at, 14) - timedelta(seconds=1)
    assert case_status() == {str(old): "kept", str(current): "kept"}
    clock.now = add_months(closed_at, 14)
    assert case_status() == {str(old): "due", str(current): "kept"}

    result = apply_retention(app, RETENTION)

    assert [(i.kind, i.subject) for i in result.erased] == [("case", str(old))]
    assert set(texts(app, old)) == {ERASED}
    assert "New partner threatened her at the station" in texts(app, current)  # her open case is kept
    assert app.customer("pwc-ct") is None or not app.customer("pwc-ct").erased  # type: ignore[union-attr]
    assert {i.subject: i.status for i in retention_items(app) if i.kind == "person"}["pwc-ct"] == "kept"
    assert case_status()[str(old)] == "erased"
    head = app.recorder.max_notification_id()
    assert apply_retention(app, RETENTION).erased == [] and app.recorder.max_notification_id() == head


def test_a_concern_after_the_text_was_erased_gets_the_next_key_stays_readable_and_renews_the_period(
    make_app: Callable[..., CaseJourney], clock: FakeClock
) -> None:
    app = make_app()
    case_id = closed_case(app)
    clock.now = add_months(clock.now, 15)
    app.erase_text(EraseText(kind="case", subject=str(case_id), reason="retention ended"), RETENTION)
    assert set(texts(app, case_id)) == {ERASED}

    later = "After closure: she reports he found her new address"
    concern(app, case_id, note=later)  # a safeguarding concern is never refused for want of a key

    assert texts(app, case_id)[-1] == later and texts(app, case_id).count(ERASED) == 2
    assert app.person_keys.subjects(f"case:{case_id}") == [f"case:{case_id}", f"case:{case_id}/2"]
    [item] = [i for i in retention_items(app) if i.kind == "case"]
    assert item.status == "kept" and item.due_at == add_months(clock.now, 14)  # from the last entry
    assert "last entry" in item.why
    clock.now = add_months(clock.now, 14)
    [erased] = apply_retention(app, RETENTION).erased
    assert erased.subject == str(case_id)
    assert set(texts(app, case_id)) == {ERASED}
    events = app.events.get(erasures_id("case", str(case_id)))
    assert [e.keys for e in events if isinstance(e, TextErasures.TextErased)] == [  # type: ignore[attr-defined]
        [f"case:{case_id}"],
        [f"case:{case_id}/2"],
    ]


def test_a_hold_on_the_case_or_a_party_keeps_its_text_and_a_refusal_appends_nothing(
    make_app: Callable[..., CaseJourney], clock: FakeClock
) -> None:
    app = make_app()
    case_id = closed_case(app)
    app.place_legal_hold(PlaceLegalHold(kind="person", subject="nrp-ct", reason="Complaint CMS-2024-9."), ACSSL)
    clock.now = add_months(clock.now, 30)
    [item] = [i for i in retention_items(app) if i.kind == "case"]
    assert item.status == "held" and "Complaint CMS-2024-9." in item.why
    head = app.recorder.max_notification_id()
    with pytest.raises(RuleViolation) as held:
        app.erase_text(EraseText(kind="case", subject=str(case_id), reason="retention"), RETENTION)
    assert held.value.code == "legal_hold"
    # Erasing the other parent goes ahead for her personal data, and says the held case's text stays.
    kept = app.erase_customer(EraseCustomer(party_id="pwc-ct", reason="right to erasure"), RETENTION)
    assert list(kept) == [case_id] and "Complaint CMS-2024-9." in kept[case_id][0]
    assert NOTE in texts(app, case_id)
    # her Erased only: her stream was opened already, by the marker her concern set on the write path
    assert app.recorder.max_notification_id() == head + 1


def test_erasing_text_is_refused_for_an_open_or_unknown_case_a_wrong_role_or_a_blank_reason(
    make_app: Callable[..., CaseJourney],
) -> None:
    app = make_app()
    case_id = open_case(app, receiving_parent_id="pwc-ct", paying_parent_id="nrp-ct")
    concern(app, case_id)
    head = app.recorder.max_notification_id()
    with pytest.raises(RuleViolation) as still_open:
        app.erase_text(EraseText(kind="case", subject=str(case_id), reason="retention"), RETENTION)
    assert still_open.value.code == "case_open"
    with pytest.raises(CaseNotFound):
        app.erase_text(EraseText(kind="case", subject=str(uuid4()), reason="retention"), RETENTION)
    with pytest.raises(RuleViolation) as not_a_case:
        app.erase_text(EraseText(kind="case", subject="nobody", reason="retention"), RETENTION)
    assert not_a_case.value.code == "invalid_subject"
    close(app, case_id)
    head = app.recorder.max_notification_id()
    with pytest.raises(NotPermitted):
        app.erase_text(EraseText(kind="case", subject=str(case_id), reason="retention"), CASEWORKER)
    with pytest.raises(ValueError):
        EraseText(kind="case", subject=str(case_id), reason="  ")
    [judged] = [i for i in retention_items(app) if i.kind == "case"]
    concern(app, case_id, note="After closure: he came to her door")  # lands after it was judged
    head = app.recorder.max_notification_id()
    stale = EraseText(kind="case", subject=str(case_id), reason="retention", expected_version=judged.version)
    with pytest.raises(RuleViolation) as moved:
        app.erase_text(stale, RETENTION)
    assert moved.value.code == "case_changed"  # the new concern renews the period: nothing goes
    with pytest.raises(ValueError):
        RecordCustomerDetails(party_id=f"case:{case_id}", name="A key's name, not a person")
    assert app.recorder.max_notification_id() == head and NOTE in texts(app, case_id)
    assert "After closure: he came to her door" in texts(app, case_id)


def test_a_month_of_read_records_goes_on_its_own_period_and_the_case_text_stays(
    make_app: Callable[..., CaseJourney], clock: FakeClock
) -> None:
    app = make_app()
    case_id = open_case(app, receiving_parent_id="pwc-ct", paying_parent_id="nrp-ct")
    concern(app, case_id)
    log = AccessLog(app.settings, text_keys=app.text_keys)
    read_history(log, case_id, clock.now)  # January 2024
    read_history(log, case_id, datetime(2024, 2, 3, 9, 0, tzinfo=UTC))

    def months() -> dict[str, str]:
        return {i.subject: i.status for i in retention_items(app) if i.kind == "reads"}

    clock.now = datetime(2026, 1, 31, 23, 0, tzinfo=UTC)  # 24 months after the end of January 2024, nearly
    assert months() == {"2024-01": "kept", "2024-02": "kept"}
    clock.now = datetime(2026, 2, 1, tzinfo=UTC)
    assert months() == {"2024-01": "due", "2024-02": "kept"}

    result = apply_retention(app, RETENTION)

    assert [(i.kind, i.subject) for i in result.erased] == [("reads", "2024-01")]
    log.close()
    log = AccessLog(app.settings, text_keys=app.text_keys)
    assert [r.purpose for r in log.reads(case_id)] == [ERASED, PURPOSE]
    assert NOTE in texts(app, case_id)  # the case is open: its own text is kept
    assert months() == {"2024-01": "erased", "2024-02": "kept"}
    log.close()
    assert Case.ConcernRecorded.TEXT_FIELDS == ("note",)


def test_command_digests_are_keyed_so_they_confirm_a_retry_but_not_a_guess(
    store_settings: Settings, clock: FakeClock
) -> None:
    w1, w2 = Keyring.new_key_text("w1"), Keyring.new_key_text("w2")
    settings = with_keys(store_settings, Keyring.new_key_text("k1")).model_copy(
        update={"wrapping_keys": Settings(wrapping_keys=w1).wrapping_keys}
    )
    app = CaseJourney(settings, clock=clock)
    seed_test_roster(app)
    case_id = open_case(app, receiving_parent_id="pwc-ct", paying_parent_id="nrp-ct")
    command = RecordConcern(
        case_id=case_id, kind="threatened_violence", source="customer_disclosure", affected_party_id="pwc-ct", note=NOTE
    )
    app.execute(command, CASEWORKER)
    stored = next(e for e in app.case_events(case_id) if isinstance(e, Case.ConcernRecorded)).command_digest
    guess = RecordConcern(**command.model_dump(exclude={"command_id"}))  # the same words, guessed
    assert stored.startswith("k") and stored not in (guess.digest(), guess.digest(key=b"\0" * 32))
    assert app.execute(command.model_copy(), CASEWORKER).replayed  # a retry is still recognised
    with pytest.raises(IdempotencyKeyReused):
        app.execute(command.model_copy(update={"note": "Something else"}), CASEWORKER)
    app.close()

    rotated = CaseJourney(  # the wrapping keyring rotated: w2 current, w1 kept for what it wrapped
        settings.model_copy(update={"wrapping_keys": Settings(wrapping_keys=f"{w2},{w1}").wrapping_keys}), clock=clock
    )
    assert rotated.execute(command.model_copy(), CASEWORKER).replayed  # recognised under the older key
    rotated.close()
    legacy = hashlib.sha256(guess._content()).hexdigest()[:32]  # a store written before keyed digests
    assert command.model_copy().keyed(rotated.digest_keys).matches_digest(legacy)
    assert not command.model_copy().keyed(rotated.digest_keys).matches_digest("k" + "0" * 31)
