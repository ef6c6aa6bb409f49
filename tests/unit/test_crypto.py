"""The payload keyring cipher: rotation by key id, authenticated headers, clear refusals."""

from __future__ import annotations

import pytest
from eventsourcing.utils import Environment

from infrastructure.eventstore.crypto import Keyring, KeyringCipher, KeyringError


def cipher(text: str) -> KeyringCipher:
    return KeyringCipher(Environment(env={"CIPHER_KEY": text}))


def test_new_events_are_sealed_with_the_first_key_and_older_keys_still_open() -> None:
    k1, k2 = Keyring.new_key_text("k1"), Keyring.new_key_text("k2")
    old = cipher(k1).encrypt(b"before rotation")
    rotated = cipher(f"{k2},{k1}")
    assert rotated.decrypt(old) == b"before rotation"
    assert rotated.encrypt(b"after")[3:6] == b"\x02k2"


@pytest.mark.parametrize("flip", [3, 5, 10, -1], ids=["key-id-length", "key-id", "nonce", "tag"])
def test_any_altered_byte_is_refused(flip: int) -> None:
    c = cipher(Keyring.new_key_text("k1"))
    sealed = bytearray(c.encrypt(b"payload"))
    sealed[flip] ^= 0x01
    with pytest.raises(KeyringError):
        c.decrypt(bytes(sealed))


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "empty"), ("k1", "id:base64key"), ("k1:!!!", "base64"), ("k1:AAAA", "32 bytes"), ("k:{0},k:{0}", "unique")],
)
def test_a_malformed_keyring_is_refused_with_the_reason(text: str, problem: str) -> None:
    key = Keyring.new_key_text("x").split(":")[1]
    with pytest.raises(KeyringError, match=problem):
        Keyring.parse(text.format(key))


def test_plaintext_is_never_taken_for_a_ciphertext() -> None:
    with pytest.raises(KeyringError, match="without encryption"):
        cipher(Keyring.new_key_text("k1")).decrypt(b'{"topic": "x"}')
