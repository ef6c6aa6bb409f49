"""Signed notes and checkpoints in the C2SP text forms (Go's ``sumdb/note``; ``c2sp.org/tlog-checkpoint``).

A **note** is UTF-8 text ending in a newline, a blank line, then one line per signature:
``— <key name> <base64(key hash (4 bytes) || Ed25519 signature of the text)>``. The key hash is
the first 4 bytes of ``SHA-256(name || "\\n" || 0x01 || public key)``, so a signature names its key
without carrying it: a verifier checks it only against a key it already trusts, given as
``<name>+<hex key hash>+<base64(0x01 || public key)>`` (a *verifier key*).

A **checkpoint** is a note whose text is the log's origin line, the tree size, the base64 root
hash, then extension lines (here ``time <ISO 8601>``). Only ``cryptography`` is needed, so the
standalone verifier can carry this module as it is.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = 0x01
DASH = "\u2014 "  # an em dash and a space begin each signature line


class NoteError(ValueError):
    """A note, key or checkpoint that is malformed, or whose signature does not hold."""


def key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"a key name has no spaces or '+': {name!r}")


@dataclass(frozen=True)
class Verifier:
    name: str
    hash: bytes
    key: Ed25519PublicKey

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """From ``<name>+<hex hash>+<base64(0x01 || public key)>``; the hash must match the key."""
        name, _, rest = text.strip().partition("+")
        hash_hex, _, encoded = rest.partition("+")
        try:
            raw = base64.b64decode(encoded, validate=True)
            stated = bytes.fromhex(hash_hex)
        except ValueError:
            raise NoteError(f"not a verifier key: {text!r}") from None
        _check_name(name)
        if len(raw) != 33 or raw[0] != ED25519 or len(stated) != 4:
            raise NoteError(f"not an Ed25519 verifier key: {text!r}")
        if key_hash(name, raw[1:]) != stated:
            raise NoteError(f"the verifier key's hash does not match its key: {text!r}")
        return cls(name, stated, Ed25519PublicKey.from_public_bytes(raw[1:]))

    def text(self) -> str:
        raw = bytes([ED25519]) + self.key.public_bytes_raw()
        return f"{self.name}+{self.hash.hex()}+{base64.b64encode(raw).decode()}"


@dataclass(frozen=True)
class Signer:
    name: str
    key: Ed25519PrivateKey

    @classmethod
    def parse(cls, text: str) -> Signer:
        """From ``PRIVATE+KEY+<name>+<hex hash>+<base64(0x01 || seed)>``."""
        parts = text.strip().split("+", 4)  # base64 may hold "+" too
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("not a signer key (PRIVATE+KEY+name+hash+key)")
        name, hash_hex, encoded = parts[2:]
        _check_name(name)
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise NoteError("the signer key is not base64") from None
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("not an Ed25519 signer key")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.verifier().hash.hex() != hash_hex:
            raise NoteError("the signer key's hash does not match its key")
        return signer

    @classmethod
    def generate(cls, name: str) -> Signer:
        _check_name(name)
        return cls(name, Ed25519PrivateKey.generate())

    def verifier(self) -> Verifier:
        public = self.key.public_key()
        return Verifier(self.name, key_hash(self.name, public.public_bytes_raw()), public)

    def text(self) -> str:
        seed = self.key.private_bytes_raw()
        encoded = base64.b64encode(bytes([ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier().hash.hex()}+{encoded}"


def sign_note(text: str, signer: Signer) -> str:
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("a note's text ends in a newline and has no blank line")
    signature = signer.key.sign(text.encode())
    line = base64.b64encode(signer.verifier().hash + signature).decode()
    return f"{text}\n{DASH}{signer.name} {line}\n"


def open_note(message: str, trusted: Verifier) -> str:
    """The text of ``message`` if ``trusted`` signed it; otherwise ``NoteError`` saying why."""
    text, sep, signatures = message.rpartition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise NoteError("not a signed note: no blank line before the signatures")
    text += "\n"
    for line in signatures.splitlines():
        if not line.startswith(DASH):
            raise NoteError(f"not a signature line: {line!r}")
        name, _, encoded = line[len(DASH) :].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise NoteError(f"a signature is not base64: {line!r}") from None
        if name != trusted.name or raw[:4] != trusted.hash:
            continue  # another key's signature: not one we can check
        try:
            trusted.key.verify(raw[4:], text.encode())
        except InvalidSignature:
            raise NoteError(f"invalid signature for key {trusted.name}+{trusted.hash.hex()}") from None
        return text
    raise NoteError(f"no signature by the trusted key {trusted.name}+{trusted.hash.hex()}")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = field(default=())

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or not lines[0]:
            raise NoteError("a checkpoint is an origin line, a size, a root hash, then extension lines")
        origin, size_text, root_text, *extensions = lines[:-1]
        if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
            raise NoteError(f"the tree size is not a number: {size_text!r}")
        try:
            root = base64.b64decode(root_text, validate=True)
        except ValueError:
            raise NoteError("the root hash is not base64") from None
        if len(root) != 32:
            raise NoteError("the root hash is not 32 bytes")
        return cls(origin, int(size_text), root, tuple(extensions))

    def extension(self, key: str) -> str | None:
        """The value of the extension line ``<key> <value>``, if there is one."""
        for line in self.extensions:
            name, _, value = line.partition(" ")
            if name == key:
                return value
        return None


__all__ = ["Checkpoint", "NoteError", "Signer", "Verifier", "key_hash", "open_note", "sign_note"]
