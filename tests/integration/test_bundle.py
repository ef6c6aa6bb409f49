"""The evidence bundle on both stores: made from the log, checked offline by two verifiers.

Given stories on the store and a signed checkpoint, a case's bundle verifies with the service's
``check_bundle`` and with the standalone ``scripts/verify_bundle.py`` (written apart on purpose),
against the trusted key only. Then each bad input of the issue (truncated, reordered, re-signed,
partially edited, another case's, a checkpoint older than its events) fails in both, with the same
words naming what failed; an event edited in the store is found by the case's verification, the
bundle, the timeline page and both verifiers; an erasure leaves the bundle verifying.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from domain.case.commands import CloseCase, RecordConcern, RecordEntryInError
from domain.customer.commands import EraseCustomer
from domain.values import Actor, Role
from infrastructure.access.log import AccessLog
from infrastructure.audit.bundle import FORMAT, BundleBroken, case_bundle, check_bundle, dump, seal_text
from infrastructure.audit.evidence import case_evidence
from infrastructure.audit.html_pages import bundle_html, case_timeline_html
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.checkpoints import Checkpoints, checkpoint_signer, trusted_verifier
from infrastructure.eventstore.signed_note import Signer, sign_note
from infrastructure.eventstore.store_check import sign_verified
from infrastructure.samples.scenarios import SCENARIOS, run_scenario
from infrastructure.settings import Settings
from scripts import verify_bundle as standalone
from tests.builders import CASEWORKER, SPECIALIST
from tests.integration.test_integrity import RawLog

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
READER = {"id": "aud-ines", "role": "auditor", "purpose": "complaint review", "read_at": "2026-12-01T09:00:00+00:00"}
ATTACKER = Signer.generate("casejourney.local/log")  # the service's key name, another key


class Bundled:
    def __init__(self, app: CaseJourney, settings: Settings) -> None:
        self.app, self.settings = app, settings
        self.access = AccessLog(settings, text_keys=app.text_keys)
        self.trusted = trusted_verifier(settings)
        self.key = standalone.parse_verifier_key(self.trusted.text())

    def sign(self) -> str:
        note, result = sign_verified(self.app, self.access, self.settings, self.app.clock())
        assert note is not None, result.first_problem()
        return note

    def bundle(self, case_id: UUID, **kw: Any) -> dict[str, Any]:
        return case_bundle(self.app, self.settings, self.access, case_id, reader=READER, **kw)

    def both(self, bundle: dict[str, Any] | str, case_id: UUID | None = None) -> tuple[str | None, str | None]:
        """What each verifier says: ``None`` when it verifies, else its reason."""
        text = bundle if isinstance(bundle, str) else dump(bundle)
        try:
            check_bundle(text, self.trusted, case_id=case_id)
            ours = None
        except BundleBroken as exc:
            ours = str(exc)
        try:
            standalone.check(text, self.key, str(case_id) if case_id else None)
            theirs = None
        except standalone.Broken as exc:
            theirs = str(exc)
        return ours, theirs


@pytest.fixture
def bundled(app: CaseJourney, store_settings: Settings) -> Iterator[tuple[Bundled, list[UUID]]]:
    b = Bundled(app, store_settings)
    cases = [run_scenario(app, SCENARIOS[0], START).case_id]
    b.sign()  # an early checkpoint: older than what follows
    cases += [run_scenario(app, scenario, START).case_id for scenario in SCENARIOS[1:4]]
    b.sign()
    yield b, cases
    b.access.close()


def test_a_bundle_verifies_offline_with_both_verifiers_and_holds_the_views(bundled) -> None:  # type: ignore[no-untyped-def]
    b, cases = bundled
    case_id = cases[2]
    made = b.bundle(case_id)
    body = made["body"]
    assert made["format"] == body["format"] == FORMAT
    assert b.both(made) == (None, None)
    assert b.both(made, case_id) == (None, None)
    events = b.app.case_events(case_id)
    assert [e["version"] for e in body["events"]] == [e.originator_version for e in events]
    assert [e["shown"]["kind"] for e in body["events"]] == [type(e).__name__ for e in events]
    assert body["integrity"]["verified"] is True
    assert body["views"]["team_assignment"]["team"] == str(b.app.get_case(case_id).team)
    assert body["views"]["safeguarding_history"], "the history view is in the bundle"
    assert body["key"] == f"{b.trusted.name}+{b.trusted.hash.hex()}"
    # the seal is a note over the header and each event's entry, signed by the checkpoint key
    assert made["seal"].startswith(seal_text(body))
    checked = check_bundle(dump(made), b.trusted)
    assert checked.events == len(events) and checked.reader["purpose"] == "complaint review"


def test_a_case_recorded_after_the_last_checkpoint_gets_a_new_one(bundled) -> None:  # type: ignore[no-untyped-def]
    b, _ = bundled
    case_id = run_scenario(b.app, SCENARIOS[4], START).case_id
    before = len(Checkpoints(b.app.recorder).all())
    made = b.bundle(case_id)
    assert len(Checkpoints(b.app.recorder).all()) == before + 1
    assert b.both(made) == (None, None)


def test_as_of_keeps_the_events_recorded_by_then(bundled) -> None:  # type: ignore[no-untyped-def]
    b, cases = bundled
    events = b.app.case_events(cases[1])
    moment = events[2].timestamp
    made = b.bundle(cases[1], as_of=moment)
    kept = [e for e in events if e.timestamp <= moment]
    assert [e["version"] for e in made["body"]["events"]] == [e.originator_version for e in kept]
    assert made["body"]["views"]["version"] == len(kept)
    assert b.both(made) == (None, None)


def _edit(field: str, value: Any, event: int = 1) -> Callable[[dict[str, Any]], None]:
    def edit(bundle: dict[str, Any]) -> None:
        entry = bundle["body"]["events"][event]
        if field.startswith("shown."):
            entry["shown"][field[6:]] = value
        else:
            entry[field] = value

    return edit


def test_every_bad_bundle_fails_in_both_verifiers_naming_what_failed(bundled) -> None:  # type: ignore[no-untyped-def]
    b, cases = bundled
    case_id = cases[2]
    good = b.bundle(case_id)
    older = Checkpoints(b.app.recorder).all()[0][2]  # signed before this case existed
    other = b.bundle(cases[1])

    def swap(bundle: dict[str, Any]) -> None:
        events = bundle["body"]["events"]
        events[1], events[2] = events[2], events[1]

    def resign_checkpoint(bundle: dict[str, Any]) -> None:
        text = bundle["body"]["checkpoint"].split("\n\n")[0] + "\n"
        bundle["body"]["checkpoint"] = sign_note(text, ATTACKER)

    def reseal(bundle: dict[str, Any]) -> None:
        bundle["body"]["events"][1]["shown"]["what"] = "Police NOT called"
        bundle["seal"] = sign_note(seal_text(bundle["body"]), ATTACKER)

    def edit_stored(bundle: dict[str, Any]) -> None:
        entry = bundle["body"]["events"][1]
        entry["stored"] = entry["stored"][:-8] + ("A" * 8 if not entry["stored"].endswith("A" * 8) else "B" * 8)

    def edit_stored_and_leaf(bundle: dict[str, Any]) -> None:
        from infrastructure.eventstore import merkle

        edit_stored(bundle)
        entry = bundle["body"]["events"][1]
        import base64

        stored = base64.b64decode(entry["stored"])
        leaf = merkle.event_leaf(entry["position"], case_id, entry["version"], entry["topic"], stored)
        entry["leaf_hash"] = merkle.leaf_hash(leaf).hex()

    attacks: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
        ("last event dropped", lambda d: d["body"]["events"].pop(), "is missing: the seal lists"),
        ("events reordered", swap, "events missing or reordered"),
        ("checkpoint re-signed", resign_checkpoint, "the checkpoint is not signed by the trusted key"),
        ("content re-sealed", reseal, "the bundle's seal is not signed by the trusted key"),
        ("shown edited", _edit("shown.what", "Police NOT called"), "changed after the bundle was sealed"),
        ("stored bytes edited", edit_stored, "its leaf hash is not that of its stored bytes"),
        ("stored bytes and leaf edited", edit_stored_and_leaf, "inclusion proof does not lead to the checkpoint"),
        ("proof edited", _edit("inclusion_proof", ["00" * 32]), "inclusion proof does not lead to the checkpoint"),
        ("older checkpoint", lambda d: d["body"].update(checkpoint=older), "the checkpoint is older than the events"),
        ("reader edited", lambda d: d["body"]["reader"].update(id="someone-else"), "header"),
        ("views edited", lambda d: d["body"]["views"].update(version=1), "header"),
        ("another case's id", lambda d: d["body"].update(case_id=str(cases[1])), "the seal is not of this bundle's"),
        ("another case's events", lambda d: d["body"].update(events=other["body"]["events"]), "its leaf hash is not"),
        ("a broken record", lambda d: d["body"]["integrity"].update(verified=False, problems=["x"]), "header"),
        ("not a bundle", lambda d: d.update(format="zip"), "not a bundle"),
        ("an entry with no version", lambda d: d["body"]["events"][0].pop("version"), "has no 'version'"),
        ("a version as text", _edit("version", "2"), "has the wrong type"),
        ("a proof not hex", _edit("inclusion_proof", ["zz"]), "is not hexadecimal"),
        ("no checkpoint", lambda d: d["body"].update(checkpoint=None), "has no checkpoint"),
    ]
    for name, attack, expected in attacks:
        bad = copy.deepcopy(good)
        attack(bad)
        ours, theirs = b.both(bad)
        assert ours is not None and expected in ours, (name, ours)
        assert theirs is not None and expected in theirs, (name, "the two verifiers disagree", ours, theirs)

    truncated = dump(good)[: len(dump(good)) // 2]
    ours, theirs = b.both(truncated)
    assert ours is not None and "not valid JSON" in ours and "truncated" in ours
    assert theirs is not None and "not valid JSON" in theirs
    ours, theirs = b.both(good, cases[1])  # asked for another case
    assert ours == theirs == f"this bundle is of case {case_id}, not of case {cases[1]}"


def test_an_event_edited_in_the_store_is_named_by_the_case_the_bundle_and_the_page(bundled) -> None:  # type: ignore[no-untyped-def]
    b, cases = bundled
    case_id = cases[1]
    raw = RawLog(b.settings)
    stored = b.app.recorder.case_chain_rows(case_id)  # type: ignore[attr-defined]
    target = stored[2][0]
    state = bytearray(target.state)
    state[len(state) // 2] ^= 0x01
    raw.run("UPDATE {t} SET state = %s WHERE {id} = %s", (bytes(state), target.position))

    evidence = case_evidence(b.app, case_id, b.trusted)
    assert not evidence.ok
    assert evidence.problems()[0].startswith(f"event 3 (position {target.position})")
    assert [e.included for e in evidence.events].count(False) == 1
    page = case_timeline_html(
        case_id, evidence.decoded(), generated_at=START, generated_for="aud-ines", evidence=evidence
    )
    assert "FAILED VERIFICATION" in page and f"event 3 (position {target.position})" in page
    assert "cannot be decoded" in page and "proof FAILS" in page
    assert "Checked against: the checkpoint of" in page  # named in the failed state too

    made = b.bundle(case_id)  # still written: the failure is evidence too
    assert made["body"]["integrity"]["verified"] is False
    for said in b.both(made):
        assert said is not None and f"event 3 (position {target.position})" in said
        assert "inclusion proof does not lead" in said


def test_after_an_erasure_the_bundle_shows_erased_and_still_verifies(bundled) -> None:  # type: ignore[no-untyped-def]
    b, cases = bundled
    case_id = cases[0]
    case = b.app.get_case(case_id)
    b.app.execute(
        RecordConcern(
            case_id=case_id,
            kind="threatened_violence",
            source="customer_disclosure",
            affected_party_id=case.receiving_parent_id,
            note="She named the street she moved to.",
        ),
        CASEWORKER,
    )
    b.app.execute(CloseCase(case_id=case_id, reason="Arrangement ended"), SPECIALIST)
    before = b.bundle(case_id)
    assert "She named the street" in json.dumps(before)
    b.app.erase_customer(
        EraseCustomer(party_id=case.receiving_parent_id, reason="erasure requested"), Actor("svc", Role.BACKEND_SERVICE)
    )
    after = b.bundle(case_id)
    text = json.dumps(after)
    assert "She named the street" not in text and "[erased]" in text
    assert b.both(after) == (None, None)
    same = [(e["position"], e["leaf_hash"]) for e in before["body"]["events"]]
    assert [(e["position"], e["leaf_hash"]) for e in after["body"]["events"]][: len(same)] == same
    assert checkpoint_signer(b.settings).verifier().hash == b.trusted.hash


def test_the_bundle_renders_the_same_page_every_time_a_correction_legible(bundled) -> None:  # type: ignore[no-untyped-def]
    b, cases = bundled
    case_id = cases[0]
    b.app.execute(
        RecordEntryInError(case_id=case_id, corrected_version=3, correction="The concern was typed on the wrong case."),
        SPECIALIST,
    )
    bundle = b.bundle(case_id)
    correction = bundle["body"]["events"][-1]
    assert correction["shown"]["kind"] == "EntryRecordedInError" and correction["shown"]["corrects"] == 3
    text = dump(bundle)
    checked = check_bundle(text, b.trusted)
    verdict = f"Verified offline against the trusted key {checked.key}"
    page = bundle_html(json.loads(text), verified=verdict, broken=None)
    assert page == bundle_html(json.loads(text), verified=verdict, broken=None)  # no clock, no store: the same
    assert verdict in page and "FAILED VERIFICATION" not in page and str(case_id) in page
    corrected_row = page.split('id="v3"')[0].rsplit("<tr", 1)[1]
    assert "corrected" in corrected_row
    assert f'corrected by <a href="#v{correction["version"]}">event {correction["version"]}</a>' in page
    assert "The concern was typed on the wrong case." in page
    assert "aud-ines" in page and "complaint review" in page and "2026-12-01 09:00:00 UTC" in page
    assert "None" not in page and "False" not in page and "True" not in page  # words, never repr
    broken = bundle_html(json.loads(text), verified=None, broken="event 3 (position 9): changed")
    assert "FAILED VERIFICATION" in broken and "event 3 (position 9): changed" in broken
    assert '<span class="tag ok">proved</span>' not in broken
    hostile = json.loads(text)  # a bundle made to inject markup: its numbers must be numbers, its text escaped
    hostile["body"]["events"][-1]["version"] = '6"><b>x'
    with pytest.raises(ValueError):
        bundle_html(hostile, verified=None, broken="edited")
    hostile = json.loads(text)
    hostile["body"]["events"][0]["shown"]["what"] = "<script>alert(1)</script>"
    assert "<script>" not in bundle_html(hostile, verified=None, broken="edited")
