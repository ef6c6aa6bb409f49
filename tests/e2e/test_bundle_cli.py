"""The auditor's three commands, run as an auditor would, and one edited event seen everywhere.

Given the demo's store: `export --bundle` records the read and writes a sealed bundle (0600);
`verify-bundle` checks it with no store at all (exit 0), refuses to trust a key it is not given
(exit 2), and names the first bad event of an edited bundle (exit 1); the standalone
`scripts/verify_bundle.py`, copied alone into an empty folder and run in isolated mode, agrees.
Then one stored event is edited in the database: `replay`, `history`, `export` (HTML and bundle),
`verify-bundle`, the HTTP timeline and the HTTP bundle all report it, and never a traceback.
Over HTTP, the bundle route is the auditors' only, with a purpose, and the read is recorded.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from fastapi.testclient import TestClient

from domain.values import Actor, Role
from infrastructure.cli.common import demo_case_id
from infrastructure.http import create_app
from infrastructure.settings import Settings
from tests.conftest import FakeClock, seed_test_roster
from tests.e2e.conftest import AUD, CW, TL, Api, http_settings
from tests.e2e.test_cli import run

SCRIPT = Path(__file__).parents[2] / "scripts" / "verify_bundle.py"
CASEWORKER_OF_CASE = Actor("scw-chloe", Role.SPECIALIST_CASEWORKER)  # the demo's case 1 is hers
PURPOSE = ("--auditor", "aud-ines", "--purpose", "independent case examiner review")


def flat(text: str) -> str:
    """Output as one line: the console wraps long lines to the terminal's width."""
    return " ".join(text.split())


def standalone(folder: Path, bundle: Path, key: str) -> subprocess.CompletedProcess[str]:
    """The standalone verifier, alone in ``folder``, in isolated mode: nothing of the service importable."""
    copy = folder / "verify_bundle.py"
    if not copy.exists():
        shutil.copy(SCRIPT, copy)
    return subprocess.run(
        [sys.executable, "-I", str(copy), str(bundle), "--public-key", key],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=60,
    )


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[Api]:
    """The HTTP service on the store as it is now (a new one: nothing cached from before)."""
    asgi = create_app(settings, clock=FakeClock())
    seed_test_roster(asgi.state.services.app)
    with TestClient(asgi) as client:
        yield Api(client, settings, FakeClock())
    asgi.state.services.close()


def test_the_auditors_three_commands_and_every_report_of_an_edited_event(tmp_path: Path) -> None:
    assert run("demo", cwd=tmp_path).returncode == 0
    case = str(demo_case_id(1))
    key = run("checkpoint", "--verifier-key", cwd=tmp_path).stdout.strip()
    outside = tmp_path / "outside"
    outside.mkdir()

    made = run("export", case, *PURPOSE, "--bundle", "case.json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "OK case" in made.stdout and "proved in the checkpoint" in flat(made.stdout)
    bundle = tmp_path / "case.json"
    assert bundle.stat().st_mode & 0o777 == 0o600
    body = json.loads(bundle.read_text())["body"]
    assert body["reader"]["id"] == "aud-ines" and body["integrity"]["verified"] is True
    # history shows each event's place in the evidence: its position and the leaf the bundle proves
    listed = flat(run("history", case, cwd=tmp_path).stdout)
    for entry in body["events"]:
        assert f"position {entry['position']}, leaf {entry['leaf_hash'][:16]}…, proved in the checkpoint" in listed

    # offline: an empty folder, no store settings, the key given on the command line
    checked = run("verify-bundle", str(bundle), "--public-key", key, "--case", case, cwd=outside)
    assert checked.returncode == 0, checked.stderr
    assert f"OK evidence bundle of case {case}" in checked.stdout
    assert not (outside / "var").exists(), "verify-bundle opened or made a store"
    pages = [outside / "one.html", outside / "two.html"]
    for page_file in pages:  # the page from the bundle alone: the same bundle renders the same page
        assert (
            run("verify-bundle", str(bundle), "--public-key", key, "--html", str(page_file), cwd=outside).returncode
            == 0
        )
        assert page_file.stat().st_mode & 0o777 == 0o600
    assert pages[0].read_bytes() == pages[1].read_bytes()
    assert "Verified offline against the trusted key" in pages[0].read_text()
    assert standalone(outside, bundle, key).returncode == 0
    no_key = run("verify-bundle", str(bundle), cwd=outside)
    assert no_key.returncode == 2 and "no key to trust the bundle by" in flat(no_key.stderr)
    assert run("verify-bundle", str(outside / "missing.json"), "--public-key", key).returncode == 2
    other = run("checkpoint", "--verifier-key", cwd=outside).stdout.strip()  # another machine's key
    wrong = run("verify-bundle", str(bundle), "--public-key", other, cwd=outside)
    assert wrong.returncode == 1 and "not signed by the trusted key" in flat(wrong.stderr)

    edited = json.loads(bundle.read_text())
    edited["body"]["events"][2]["shown"]["why"] = "Police NOT called"
    (outside / "edited.json").write_text(json.dumps(edited))
    refused = run("verify-bundle", str(outside / "edited.json"), "--public-key", key, cwd=outside)
    assert refused.returncode == 1 and "event 3 (position" in flat(refused.stderr)
    assert "Traceback" not in refused.stderr
    marked = run(
        "verify-bundle", str(outside / "edited.json"), "--public-key", key, "--html", "edited.html", cwd=outside
    )
    assert marked.returncode == 1 and "marked FAILED VERIFICATION" in flat(marked.stderr)
    edited_page = (outside / "edited.html").read_text()
    assert "FAILED VERIFICATION" in edited_page and "event 3 (position" in edited_page
    (outside / "cut.json").write_text(bundle.read_text()[:200])
    cut = run("verify-bundle", str(outside / "cut.json"), "--public-key", key, "--html", "cut.html", cwd=outside)
    assert cut.returncode == 1 and "No page written" in flat(cut.stderr) and not (outside / "cut.html").exists()
    theirs = standalone(outside, outside / "edited.json", key)
    assert theirs.returncode == 1 and "event 3 (position" in flat(theirs.stderr)

    db = tmp_path / "var" / "casejourney.sqlite"
    settings = http_settings(Settings(sqlite_path=db))
    with serving(settings) as api:
        assert api.get(f"/cases/{case}/safeguarding-history", CASEWORKER_OF_CASE, purpose="my case").status_code == 200

    # one stored event edited in the database, after the checkpoint the bundle was proved in
    with sqlite3.connect(db) as conn:
        position, state = conn.execute(
            "SELECT rowid, state FROM stored_events WHERE originator_id = ? AND originator_version = 3",
            (case.replace("-", ""),),
        ).fetchone()
        state = bytearray(state)
        state[len(state) // 2] ^= 0x01
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (bytes(state), position))
    named = f"event 3 (position {position})"
    verify = run("verify", cwd=tmp_path)  # the operator's check names it too, and does not crash decoding it
    assert verify.returncode == 1 and f"chain broken at position {position}" in flat(verify.stderr)
    assert "error:" not in verify.stderr
    for args in (("replay", case), ("history", case)):
        shown = run(*args, cwd=tmp_path)
        assert shown.returncode == 1, (args, shown.stderr)
        said = flat(shown.stderr)
        assert named in said and "FAILED VERIFICATION" in said and "Traceback" not in said
        if args[0] == "history":  # every stored event listed, the edited one with its failed proof
            assert f"position {position}, leaf" in flat(shown.stdout)
            assert "NOT PROVED by the checkpoint" in flat(shown.stdout)
    page = run("export", case, *PURPOSE, "--out", "case.html", cwd=tmp_path)
    assert page.returncode == 1 and named in flat(page.stderr)
    html = (tmp_path / "case.html").read_text()
    assert "FAILED VERIFICATION" in html and named in html
    again = run("export", case, *PURPOSE, "--bundle", "broken.json", cwd=tmp_path)
    assert again.returncode == 1 and named in flat(again.stderr)
    broken = run("verify-bundle", str(tmp_path / "broken.json"), "--public-key", key, cwd=outside)
    assert broken.returncode == 1 and named in flat(broken.stderr)
    assert standalone(outside, tmp_path / "broken.json", key).returncode == 1

    with serving(settings) as api:
        timeline = api.get(f"/cases/{case}/timeline.html", AUD, purpose="independent case examiner review")
        assert timeline.status_code == 200 and timeline.headers["verification"] == "failed"
        assert "FAILED VERIFICATION" in timeline.text and named in timeline.text
        over_http = api.get(f"/cases/{case}/evidence-bundle", AUD, purpose="independent case examiner review")
        assert over_http.status_code == 200 and over_http.headers["verification"] == "failed"
        assert over_http.json()["body"]["integrity"]["verified"] is False
        history = api.get(f"/cases/{case}/safeguarding-history", CASEWORKER_OF_CASE, purpose="my case")
        assert history.status_code == 403, history.text  # a tampered record names no one its caseworker
        refused = api.get(f"/cases/{case}", CW)  # nothing is shown from an untrusted record but to auditors
        assert refused.status_code == 500 and refused.json()["code"] == "record_fails_verification"


def test_the_bundle_route_is_for_auditors_with_a_purpose_and_records_the_read(api: Api) -> None:
    case_id = api.open_case()
    api.command(case_id, "assign_caseworker", {"caseworker_id": CW.id}, TL)
    response = api.get(f"/cases/{case_id}/evidence-bundle", AUD, purpose="complaint review")
    assert response.status_code == 200, response.text
    assert response.headers["verification"] == "verified"
    assert response.headers["cache-control"] == "no-store"
    bundle = response.json()
    assert [e["version"] for e in bundle["body"]["events"]] == [1, 2]
    assert bundle["body"]["reader"]["purpose"] == "complaint review"
    assert api.get(f"/cases/{case_id}/evidence-bundle", CW, purpose="complaint review").status_code == 403
    assert api.get(f"/cases/{case_id}/evidence-bundle", AUD).status_code == 422  # no purpose, no read
    reads = api.get(f"/cases/{case_id}/safeguarding-history/reads", AUD).json()["reads"]
    assert [r["purpose"] for r in reads] == ["complaint review"]
    view = api.get(f"/cases/{case_id}", AUD)  # the auditor's case view is verified, and says so
    assert view.headers["verification"] == "verified"
    integrity = view.json()["integrity"]
    assert integrity["verified"] is True and [e["version"] for e in integrity["events"]] == [1, 2]
    assert all(e["proved"] for e in integrity["events"]) and integrity["checkpoint"]["size"] >= 2
    assert "integrity" not in api.get(f"/cases/{case_id}", CW).json()
