"""`casejourney checkpoint` as an operator runs it, with no configuration.

Given the demo's store, when `checkpoint` runs, then a signing key is made once in `var/keys`
(0600), the checkpoint is a C2SP signed note that opens with the key `checkpoint --verifier-key`
prints, over a tree of every stored event whose root is recomputed here from the raw rows; a
later checkpoint is consistent with the first (the log only grew); and a log with one edited byte
is refused, with nothing signed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from infrastructure.eventstore import merkle
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.merkle_log import MerkleLog
from infrastructure.eventstore.signed_note import Checkpoint, Verifier, open_note
from infrastructure.settings import Settings
from tests.builders import open_case
from tests.conftest import seed_test_roster
from tests.e2e.test_cli import run


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
    with sqlite3.connect(store) as conn:
        [(state,)] = conn.execute("SELECT state FROM stored_events WHERE rowid = 5").fetchall()
        edited = bytearray(state)
        edited[len(edited) // 2] ^= 0x01
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = 5", (bytes(edited),))
    refused = run("checkpoint", cwd=tmp_path)
    assert refused.returncode == 1 and "refusing to sign a broken log" in refused.stderr
    assert "position 5" in refused.stderr and not refused.stdout
