"""Protected by default, as a newcomer runs it: no configuration, and nothing readable under ``var/``.

Given a fresh folder and no settings, when ``casejourney demo`` runs (then the read models and a
history), then the keyring is made once in ``var/keys`` (0700, the file 0600) and said once, the
store's files are 0600, and no free text the demo wrote (notes, reasons, corrections) is in any
file under ``var/``. With payload encryption turned off the same search finds the payloads' structured
fields, so it can fail, while free text stays sealed under its case's text key.
Opening the store without its keyring is then one sentence naming the key, for every command, and
a rebuild refuses before it starts.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from infrastructure.cli.common import demo_case_id
from tests.e2e.test_cli import run

#: Free text the stories write (infrastructure/samples/scenarios.py): notes, reasons, resolutions.
FREE_TEXT = [
    "Police called about the paying parent",
    "Signposting did not resolve the concern",
    "fears for her safety at handovers",
    "The child has left full-time education",
    "Customer already supported by DWP ACS",
]


def demo_in(folder: Path, **env: str) -> str:
    demo = run("demo", cwd=folder, env=env)
    assert demo.returncode == 0, demo.stderr
    built = run("projections", "run", "--once", cwd=folder, env=env)
    assert built.returncode == 0, built.stderr
    history = run("history", "--scenario", "3", "--format", "json", cwd=folder, env=env)
    assert history.returncode == 0, history.stderr
    assert FREE_TEXT[2] in history.stdout  # readable through the service
    return demo.stderr


def text_under(folder: Path) -> bytes:
    return b"".join(f.read_bytes() for f in folder.rglob("*") if f.is_file())


def test_a_fresh_demo_leaves_no_free_text_in_any_file_under_var(tmp_path: Path) -> None:
    said = demo_in(tmp_path)

    keys = tmp_path / "var" / "keys"
    assert said.count(f"created a new keyring in {keys / 'keyring.json'}:") == 1  # the path, whole, said once
    assert (keys.stat().st_mode & 0o777, (keys / "keyring.json").stat().st_mode & 0o777) == (0o700, 0o600)
    stores = [f for f in (tmp_path / "var").glob("casejourney*.sqlite*") if not f.name.endswith(".lock")]
    assert stores and {f.stat().st_mode & 0o777 for f in stores} == {0o600}
    raw = text_under(tmp_path / "var").lower()
    for text in FREE_TEXT:
        assert text.lower().encode() not in raw, text
    assert run("demo", cwd=tmp_path).stderr.count("created a new keyring") == 0  # not again


def test_the_same_search_finds_the_payloads_with_payload_encryption_off(tmp_path: Path) -> None:
    demo_in(tmp_path, CASEJOURNEY_PAYLOAD_ENCRYPTION="false")
    raw = text_under(tmp_path / "var")
    # The payloads are in clear (so the search can fail): a concern's structured fields are found...
    assert b'"kind":"threatened_violence"' in raw.replace(b" ", b"")
    # ...but free text is sealed under its case's text key even so (erasure must reach it).
    assert b"{{ct1:case:" in raw
    assert not any(text.lower().encode() in raw.lower() for text in FREE_TEXT)


@pytest.fixture
def store_without_its_keys(tmp_path: Path) -> tuple[Path, str]:
    demo_in(tmp_path)
    key_file = tmp_path / "var" / "keys" / "keyring.json"
    key_id = json.loads(key_file.read_text())["payload"].split(":")[0]
    shutil.move(key_file, tmp_path / "keyring.json.away")
    return tmp_path, key_id


@pytest.mark.parametrize(
    "command",
    [
        ["history", "--scenario", "3"],
        ["demo"],
        ["verify"],
        ["projections", "rebuild", "safeguarding_history"],
        ["projections", "status"],
        ["replay", str(demo_case_id(3))],
        ["report"],
    ],
    ids=lambda c: "-".join(c[:2]),
)
def test_without_its_keyring_every_command_says_which_key_is_missing(
    store_without_its_keys: tuple[Path, str], command: list[str]
) -> None:
    folder, key_id = store_without_its_keys
    done = run(*command, cwd=folder, env={"COLUMNS": "200"})
    assert done.returncode == 4, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert re.search(rf"sealed with key '{key_id}', which is not in the keyring of the key file \S*keyring.json", said)
    assert "Traceback" not in done.stderr and "codec" not in done.stderr
    # The keyring made on the way was removed again, so restoring the right one is all it takes.
    assert not (folder / "var" / "keys" / "keyring.json").exists()


def test_a_rebuild_without_the_keyring_refuses_before_it_starts_and_works_once_it_is_back(
    store_without_its_keys: tuple[Path, str],
) -> None:
    folder, _ = store_without_its_keys
    refused = run("projections", "rebuild", "safeguarding_history", cwd=folder)
    assert refused.returncode == 4
    shutil.move(folder / "keyring.json.away", folder / "var" / "keys" / "keyring.json")
    status = run("projections", "status", cwd=folder, env={"COLUMNS": "200"})
    assert status.returncode == 0, status.stderr
    assert "build in progress" not in status.stdout  # the refused rebuild left nothing half-done
    rebuilt = run("projections", "rebuild", "safeguarding_history", cwd=folder)
    assert rebuilt.returncode == 0, rebuilt.stderr


def test_a_store_written_in_clear_is_refused_under_encryption_with_the_way_to_open_it(tmp_path: Path) -> None:
    demo_in(tmp_path, CASEJOURNEY_PAYLOAD_ENCRYPTION="false")
    refused = run("history", "--scenario", "3", cwd=tmp_path)
    assert refused.returncode == 4
    assert "stored in clear" in refused.stderr and "CASEJOURNEY_PAYLOAD_ENCRYPTION=false" in refused.stderr
    sealed_off = run("history", "--scenario", "3", cwd=tmp_path, env={"CASEJOURNEY_PAYLOAD_ENCRYPTION": "false"})
    assert sealed_off.returncode == 0, sealed_off.stderr
