"""`casejourney checkpoint` as an operator runs it, with no configuration.

Given the demo's store, when `checkpoint` runs, then a signing key is made once in `var/keys`
(0600), the checkpoint is a C2SP signed note that opens with the key `checkpoint --verifier-key`
prints, over a tree of every stored event whose root is recomputed here from the raw rows; a
later checkpoint is consistent with the first (the log only grew); and a log with one edited byte
is refused, with nothing signed.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from infrastructure.eventstore import merkle
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.crypto import new_signing_key
from infrastructure.eventstore.digests import sign
from infrastructure.eventstore.integrity import verify_log
from infrastructure.eventstore.merkle_log import MerkleLog
from infrastructure.eventstore.signed_note import Checkpoint, Signer, Verifier, open_note, sign_note
from infrastructure.settings import Settings
from tests.builders import open_case
from tests.conftest import seed_test_roster
from tests.e2e.test_cli import CLI, run


def checkpoint_in(folder: Path) -> Checkpoint:
    made = run("checkpoint", cwd=folder)
    assert made.returncode == 0, made.stderr
    key = run("checkpoint", "--verifier-key", cwd=folder)
    assert key.returncode == 0, key.stderr
    return Checkpoint.parse(open_note(made.stdout, Verifier.parse(key.stdout)))


def test_a_checkpoint_is_signed_by_default_and_a_later_one_is_consistent(tmp_path: Path) -> None:
    assert run("demo", cwd=tmp_path).returncode == 0
    first = checkpoint_in(tmp_path)
    key_file = tmp_path / "var" / "keys" / "checkpoint-signer.key"
    assert key_file.stat().st_mode & 0o777 == 0o600

    settings = Settings(sqlite_path=tmp_path / "var" / "casejourney.sqlite")
    app = CaseJourney(settings)
    rows = list(app.recorder.chain_rows())  # type: ignore[attr-defined]
    leaves = [
        merkle.leaf_hash(merkle.event_leaf(r.position, r.originator_id, r.version, r.topic, r.state)) for r in rows
    ]
    assert (first.origin, first.size, first.root) == ("casejourney.local/log", len(rows), merkle.root(leaves))
    assert first.extension("time") is not None
    seed_test_roster(app)
    open_case(app, receiving_parent_id="pwc-later", paying_parent_id="nrp-later")
    app.close()

    second = checkpoint_in(tmp_path)
    assert second.size > first.size
    app = CaseJourney(settings)
    proof = MerkleLog(app.recorder).consistency_proof(first.size, second.size)
    assert merkle.verify_consistency(first.size, second.size, proof, first.root, second.root)
    app.close()
    assert run("checkpoint", cwd=tmp_path).stderr.count("created a checkpoint signing key") == 0  # made once


def test_a_log_with_an_edited_byte_is_refused_and_nothing_is_signed(tmp_path: Path) -> None:
    assert run("demo", cwd=tmp_path).returncode == 0
    store = tmp_path / "var" / "casejourney.sqlite"
    whole = run("verify", "--format", "json", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    good = json.loads(whole.stdout)  # one document, for an operator's script
    assert good["ok"] is True and good["case_log"]["first_break"] is None
    assert good["case_log"]["checked"] == good["case_log"]["tree_size"] > 5
    assert {r["record"] for r in good["records"]} >= {"the access log", "the keys"} and all(
        r["ok"] for r in good["records"]
    )
    with sqlite3.connect(store) as conn:
        [(state,)] = conn.execute("SELECT state FROM stored_events WHERE rowid = 5").fetchall()
        edited = bytearray(state)
        edited[len(edited) // 2] ^= 0x01
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = 5", (bytes(edited),))
    refused = run("checkpoint", cwd=tmp_path)
    assert refused.returncode == 1 and "refusing to sign a broken store" in refused.stderr
    assert "position 5" in refused.stderr and not refused.stdout
    broken = run("verify", "--format", "json", cwd=tmp_path)
    found = json.loads(broken.stdout)
    assert broken.returncode == 1 and found["ok"] is False and "position 5" in found["case_log"]["first_break"]
    assert found["case_log"]["checked"] == 4
    wrong = run("verify", "--format", "yaml", cwd=tmp_path)
    assert wrong.returncode == 2 and "--format must be text or json" in wrong.stderr


def test_verify_walks_every_record_and_trusts_only_keys_it_is_given(tmp_path: Path) -> None:
    """The attacks that passed the old `verify` (issue 14, part 8), from the command line."""
    assert run("demo", cwd=tmp_path).returncode == 0
    kept = tmp_path / "kept-elsewhere.checkpoint"
    assert run("checkpoint", "--out", str(kept), cwd=tmp_path).returncode == 0
    ok = run("verify", "--since", str(kept), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    for record in ("the case log", "the checkpoints", "the access log", "the keys", "the checkpoint you gave"):
        assert f"OK {record}:" in ok.stdout

    # A checkpoint re-signed by someone else's key does not verify against ours.
    attacker = Signer.generate("casejourney.local/log")
    forged = tmp_path / "forged.checkpoint"
    forged.write_text(sign_note(kept.read_text().split("\n\n")[0] + "\n", attacker))
    refused = run("verify", "--since", str(forged), cwd=tmp_path)
    assert refused.returncode == 1 and "does not verify against" in refused.stderr

    # An old JSON digest is checked only against a key the operator gives, never the one it carries.
    private, _ = new_signing_key()
    with CaseJourney(Settings(sqlite_path=tmp_path / "var" / "casejourney.sqlite")) as app:
        head = verify_log(app.recorder.chain_rows())  # type: ignore[attr-defined]
        digest = sign(app.name, head.head_position, head.head_hash, head.checked, datetime.now(UTC), private)
    (tmp_path / "d.json").write_text(digest.model_dump_json())
    untrusted = run("verify", "--since", str(tmp_path / "d.json"), cwd=tmp_path)
    assert untrusted.returncode == 2 and "no key to trust it by" in untrusted.stderr

    # A key row deleted (a case's text key here: a silent erasure of its notes, no event) is found.
    store = tmp_path / "var" / "casejourney.sqlite"
    with sqlite3.connect(store) as conn:
        [(subject,)] = conn.execute("SELECT subject FROM casejourney_person_keys ORDER BY subject LIMIT 1").fetchall()
        conn.execute("DELETE FROM casejourney_person_keys WHERE subject = ?", (subject,))
    broken = run("verify", cwd=tmp_path)
    assert broken.returncode == 1
    assert f"BROKEN the keys: the key of {subject}" in " ".join(broken.stderr.split())


def test_serve_signs_checkpoints_by_itself_as_the_log_grows(tmp_path: Path) -> None:
    assert run("demo", cwd=tmp_path).returncode == 0
    store = tmp_path / "var" / "casejourney.sqlite"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CASEJOURNEY_CHECKPOINT_EVERY": "0.5"}
    server = subprocess.Popen(
        [CLI, "serve", "--port", str(port)], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        first = wait_for_checkpoint(store, above=0)
        settings = Settings(sqlite_path=store)
        app = CaseJourney(settings)
        seed_test_roster(app)
        open_case(app, receiving_parent_id="pwc-served", paying_parent_id="nrp-served")
        grown = len(list(app.recorder.chain_rows()))  # type: ignore[attr-defined]
        app.close()
        assert wait_for_checkpoint(store, above=first) == grown
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert "checkpoints signed every 0.5s" in stderr and "checkpoint signed:" in stderr
    assert run("verify", cwd=tmp_path).returncode == 0  # each was signed over a store that verified


def wait_for_checkpoint(store: Path, *, above: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(sqlite3.OperationalError), sqlite3.connect(store) as conn:
            [(size,)] = conn.execute("SELECT coalesce(max(size), 0) FROM casejourney_checkpoints").fetchall()
            if size > above:
                return int(size)
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint larger than {above} within a minute")
