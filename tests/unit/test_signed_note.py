"""Signed notes and checkpoints, against the vectors of Go's golang.org/x/mod/sumdb/note tests.

Given the published key pair and text, signing gives byte for byte the published note (Ed25519 is
deterministic), the note opens with the published verifier key, and every mangling of the key, the
text or the signature is refused; a checkpoint round-trips through its text form and a changed
size or root fails its signature.
"""

from __future__ import annotations

import base64

import pytest

from infrastructure.eventstore.signed_note import Checkpoint, NoteError, Signer, Verifier, open_note, sign_note

# golang.org/x/mod sumdb/note/note_test.go (TestNewVerifier, TestSign, TestOpen).
VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
SIGNED = (
    TEXT
    + "\n\u2014 PeterNeumann "
    + "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_the_published_keys_parse_and_agree() -> None:
    signer = Signer.parse(SKEY)
    assert signer.verifier().text() == VKEY == Verifier.parse(VKEY).text()
    assert signer.text() == SKEY


def test_signing_the_published_text_gives_the_published_note_and_it_opens() -> None:
    assert sign_note(TEXT, Signer.parse(SKEY)) == SIGNED
    assert open_note(SIGNED, Verifier.parse(VKEY)) == TEXT


def test_every_mangling_of_the_verifier_key_is_refused() -> None:
    manglings = {VKEY[i:j] for i in range(len(VKEY) + 1) for j in range(i + 1, len(VKEY) + 1)} - {VKEY}
    manglings |= {VKEY[:i] + chr(ord(VKEY[i]) + 1) + VKEY[i + 1 :] for i in range(len(VKEY))}
    manglings |= {
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # wrong length
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown algorithm
    }
    for bad in manglings:
        with pytest.raises(NoteError):
            Verifier.parse(bad)


def test_an_altered_text_or_signature_or_another_key_is_refused() -> None:
    trusted = Verifier.parse(VKEY)
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(SIGNED.replace("answer", "Answer"), trusted)
    sig = SIGNED.rsplit(" ", 1)[1].strip()
    raw = bytearray(base64.b64decode(sig))
    raw[10] ^= 1
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(SIGNED.replace(sig, base64.b64encode(bytes(raw)).decode()), trusted)
    with pytest.raises(NoteError, match="no signature by the trusted key"):
        open_note(SIGNED, Signer.generate("PeterNeumann").verifier())  # same name, another key
    with pytest.raises(NoteError, match="no signature by the trusted key"):
        open_note(SIGNED.replace("PeterNeumann", "CarmenSandiego"), trusted)
    with pytest.raises(NoteError):
        open_note(TEXT, trusted)  # no signature at all


def test_a_checkpoint_round_trips_and_its_signature_covers_size_and_root() -> None:
    signer = Signer.generate("casejourney.example/log")
    checkpoint = Checkpoint("casejourney.example/log", 1234, bytes(range(32)), ("time 2026-12-04T20:00:00+00:00",))
    note = sign_note(checkpoint.text(), signer)
    opened = Checkpoint.parse(open_note(note, signer.verifier()))
    assert opened == checkpoint and opened.extension("time") == "2026-12-04T20:00:00+00:00"
    assert note.splitlines()[:3] == ["casejourney.example/log", "1234", base64.b64encode(bytes(range(32))).decode()]
    for forged in (note.replace("\n1234\n", "\n1235\n"), note.replace("AAECAwQF", "AAECAwQG")):
        with pytest.raises(NoteError, match="invalid signature"):
            open_note(forged, signer.verifier())
    for bad in ("origin\n12\n", "origin\n012\n" + base64.b64encode(bytes(32)).decode() + "\n", "o\n1\nAAAA\n"):
        with pytest.raises(NoteError):
            Checkpoint.parse(bad)
