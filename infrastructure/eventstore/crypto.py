"""Keys: payload encryption at rest with rotation, and signing keys for log digests.

Payloads. The ``eventsourcing`` mapper encrypts each event's state with the configured cipher
(ids and topics stay plaintext, as the library stores them). ``KeyringCipher`` is AES-256-GCM
with a keyring: every ciphertext starts with the id of the key that sealed it, new events are
sealed with the first (current) key, and older keys stay in the ring to read older events.
Rotation is adding a new key at the front; events are never re-encrypted (they are immutable
and the hash chain covers their stored bytes), so a retired key must stay in the ring for as long
as events sealed with it are kept. A key is never taken from code: only from settings.

Digests. A digest is signed with Ed25519: the private key stays with whoever issues digests, and
anyone holding the public key can check one.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Cipher
from eventsourcing.utils import Environment

MAGIC = b"CJ1"
NONCE_BYTES = 12


class KeyringError(ValueError):
    """Raised when a key setting is malformed or a ciphertext names a key not in the ring."""


@dataclass(frozen=True)
class Keyring:
    """Key ids and AES keys, current key first. Text form: ``id:base64key,id2:base64key``."""

    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def parse(cls, text: str) -> Keyring:
        keys: list[tuple[str, bytes]] = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            key_id, sep, encoded = item.partition(":")
            if not sep or not key_id or len(key_id.encode()) > 255:
                raise KeyringError("each cipher key is 'id:base64key' (id of 1 to 255 bytes)")
            try:
                key = base64.b64decode(encoded, validate=True)
            except ValueError:
                raise KeyringError(f"cipher key {key_id!r} is not valid base64") from None
            if len(key) != 32:
                raise KeyringError(f"cipher key {key_id!r} must be 32 bytes (AES-256), not {len(key)}")
            keys.append((key_id, key))
        if not keys:
            raise KeyringError("the keyring is empty")
        if len({k for k, _ in keys}) != len(keys):
            raise KeyringError("key ids in the keyring must be unique")
        return cls(tuple(keys))

    @staticmethod
    def new_key_text(key_id: str) -> str:
        return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class KeyringCipher(Cipher):
    """AES-256-GCM with a keyring; configured by the ``CIPHER_KEY`` setting (the keyring text)."""

    CIPHER_KEY = "CIPHER_KEY"

    def __init__(self, environment: Environment) -> None:
        text = environment.get(self.CIPHER_KEY)
        if not text:
            raise KeyringError("no cipher keyring configured")
        ring = Keyring.parse(text)
        self.current_id = ring.keys[0][0].encode()
        self.current = AESGCM(ring.keys[0][1])
        self.by_id = {k.encode(): AESGCM(v) for k, v in ring.keys}

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        header = MAGIC + bytes([len(self.current_id)]) + self.current_id
        # The header is authenticated too: a ciphertext cannot be relabelled with another key id.
        return header + nonce + self.current.encrypt(nonce, plaintext, header)

    def decrypt(self, ciphertext: bytes) -> bytes:
        if not ciphertext.startswith(MAGIC):
            raise KeyringError(
                "this event was stored without encryption (written before encryption was turned on for this"
                " store, or placed there by hand); it cannot be read under a keyring"
            )
        id_len = ciphertext[len(MAGIC)]
        start = len(MAGIC) + 1
        key_id = ciphertext[start : start + id_len]
        header = ciphertext[: start + id_len]
        nonce = ciphertext[start + id_len : start + id_len + NONCE_BYTES]
        try:
            key = self.by_id[key_id]
        except KeyError:
            raise KeyringError(f"key {key_id.decode(errors='replace')!r} is not in the keyring") from None
        try:
            return key.decrypt(nonce, ciphertext[start + id_len + NONCE_BYTES :], header)
        except InvalidTag:
            raise KeyringError("ciphertext failed authentication (wrong key or altered bytes)") from None


def new_signing_key() -> tuple[str, str]:
    """A new Ed25519 key pair as (private, public), base64 of the raw 32 bytes each."""
    private = Ed25519PrivateKey.generate()
    return (
        base64.b64encode(private.private_bytes_raw()).decode(),
        base64.b64encode(private.public_key().public_bytes_raw()).decode(),
    )


def signing_key(text: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text))


def verify_key(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text))
