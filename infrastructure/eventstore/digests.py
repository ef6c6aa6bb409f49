"""Digests: small signed statements of the log's head, to keep outside the database.

A digest says "at this time the log had its head at position P with chain hash H", signed with
an Ed25519 key that the database never holds. Because every chain hash commits to everything
before it, ``verify --since DIGEST`` proves that the log has only grown since: the whole chain
verifies and the event at P still has hash H. This is what catches someone able to rewrite the
database wholesale (a superuser recomputing every hash): they cannot recompute the signature on a
digest already kept elsewhere.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from pydantic import AwareDatetime, BaseModel, ConfigDict

from infrastructure.eventstore.crypto import signing_key, verify_key


class Digest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    log: str
    position: int
    head_hash: str  # hex
    events: int
    issued_at: AwareDatetime
    public_key: str  # base64 of the Ed25519 public key that signed it
    signature: str = ""  # base64

    def signed_bytes(self) -> bytes:
        body = self.model_dump(mode="json", exclude={"signature"})
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


class DigestError(ValueError):
    """Raised when a digest is malformed, its signature does not hold, or the log contradicts it."""


def sign(log: str, position: int, head_hash: bytes, events: int, at: datetime, private_key_text: str) -> Digest:
    key = signing_key(private_key_text)
    public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    unsigned = Digest(
        log=log, position=position, head_hash=head_hash.hex(), events=events, issued_at=at, public_key=public
    )
    signature = base64.b64encode(key.sign(unsigned.signed_bytes())).decode()
    return unsigned.model_copy(update={"signature": signature})


def check_signature(digest: Digest, trusted_public_key: str | None) -> None:
    """Checks the signature; with a trusted key, also that the digest was signed by that key."""
    if trusted_public_key and digest.public_key != trusted_public_key:
        raise DigestError("the digest was signed by a key other than the trusted one")
    try:
        verify_key(digest.public_key).verify(base64.b64decode(digest.signature), digest.signed_bytes())
    except (InvalidSignature, ValueError) as exc:
        raise DigestError(f"the digest's signature does not hold: {exc or 'invalid signature'}") from None
