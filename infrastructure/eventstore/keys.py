"""Where the keys come from: key providers, and a keyring made on first use so a store is sealed by default.

The service holds two keyrings (``crypto.Keyring`` text, current key first):

- the **payload** keyring seals every stored event's state (the library's cipher) and the free
  text of the read models;
- the **wrapping** keyring seals the per-person keys in ``casejourney_person_keys``, so a copy
  of the database alone opens no one's personal data.

A ``KeyProvider`` says where they come from. Two are built in:

- ``EnvironmentKeyProvider``: ``CASEJOURNEY_CIPHER_KEYS`` (and ``CASEJOURNEY_WRAPPING_KEYS``;
  unset, the payload keyring wraps the person keys too, as stores configured before had it);
- ``FileKeyProvider``: ``keyring.json`` in a key directory (``CASEJOURNEY_KEY_DIR``; default
  ``keys/`` beside the SQLite file, i.e. ``var/keys``). If the file does not exist it is made on
  first use (folder 0700, file 0600, created exclusively so two processes starting at once agree
  on one keyring) and its path is logged once. This is what a fresh clone runs on: no
  configuration, and nothing readable in the database file.

A KMS or a Vault plugs in as a third provider: a class with ``load() -> KeyMaterial`` that fetches
(or unwraps, with the KMS) the two keyring texts, chosen in ``key_provider``. Nothing else in the
service sees where a key came from.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from infrastructure.eventstore.crypto import MAGIC, Keyring, KeyringError
from infrastructure.files import make_private_folder, write_private
from infrastructure.settings import Settings

log = logging.getLogger("casejourney.keys")

KEYRING_FILE = "keyring.json"


@dataclass(frozen=True)
class KeyMaterial:
    """The keyrings the service runs with, and where they came from (said in errors, never the keys)."""

    payload: str | None  # None: payload encryption turned off (a store written before it was the default)
    wrapping: str
    source: str
    created: Path | None = None  # the key file made by this process, if it made one

    def payload_key_ids(self) -> list[str]:
        return [key_id for key_id, _ in Keyring.parse(self.payload).keys] if self.payload else []


class KeyProvider(Protocol):
    def load(self) -> KeyMaterial: ...


class EnvironmentKeyProvider:
    """Keys from settings (``CASEJOURNEY_CIPHER_KEYS``, ``CASEJOURNEY_WRAPPING_KEYS``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def load(self) -> KeyMaterial:
        assert self.settings.cipher_keys is not None
        payload = self.settings.cipher_keys.get_secret_value()
        wrapping = self.settings.wrapping_keys.get_secret_value() if self.settings.wrapping_keys else payload
        return KeyMaterial(
            payload if self.settings.payload_encryption else None, wrapping, "the settings (CASEJOURNEY_CIPHER_KEYS)"
        )


class FileKeyProvider:
    """Keys from ``keyring.json`` in a key directory, made there on first use."""

    def __init__(self, folder: Path, *, payload_encryption: bool = True) -> None:
        self.folder = folder
        self.path = folder / KEYRING_FILE
        self.payload_encryption = payload_encryption

    def load(self) -> KeyMaterial:
        created = None
        if not self.path.exists():
            created = self._create()
        try:
            data = json.loads(self.path.read_text())
            payload, wrapping = str(data["payload"]), str(data["wrapping"])
            Keyring.parse(payload), Keyring.parse(wrapping)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyringError(f"the key file {self.path} cannot be read as a keyring: {exc}") from None
        return KeyMaterial(
            payload if self.payload_encryption else None,
            wrapping,
            f"the key file {self.path}",
            created=created,
        )

    def _create(self) -> Path | None:
        """Writes a new keyring unless another process has just done so; returns the path if this one did."""
        make_private_folder(self.folder)
        text = json.dumps(
            {
                "payload": Keyring.new_key_text(f"p-{secrets.token_hex(4)}"),
                "wrapping": Keyring.new_key_text(f"w-{secrets.token_hex(4)}"),
                "note": "casejourney keys: without this file the store cannot be read. Keep it apart from backups"
                " of the database, and back it up on its own.",
            },
            indent=1,
        )
        if not write_private(self.path, text, exclusive=True):
            return None  # another process made one first: use it
        log.warning("created a new keyring in %s: keep it safe, without it the store cannot be read", self.path)
        return self.path

    def forget(self, created: Path) -> None:
        """Removes a key file this process made in error (the store already held events under other keys)."""
        with contextlib.suppress(FileNotFoundError):
            created.unlink()


DIGEST_KEY_INFO = b"casejourney command digest v1"


def digest_keys(wrapping: str) -> tuple[bytes, ...]:
    """The service's command-digest keys, current first: one per key of the wrapping keyring, derived
    with HKDF-SHA256 (a key of its own purpose; the wrapping key itself is never used to digest)."""
    return tuple(
        HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=DIGEST_KEY_INFO).derive(key)
        for _, key in Keyring.parse(wrapping).keys
    )


def key_provider(settings: Settings) -> KeyProvider:
    if settings.cipher_keys is not None:
        return EnvironmentKeyProvider(settings)
    return FileKeyProvider(settings.key_folder(), payload_encryption=settings.payload_encryption)


def key_material(settings: Settings) -> KeyMaterial:
    """The keys of the configured store, from its provider (a new keyring on first use)."""
    return key_provider(settings).load()


class StoreKeyError(KeyringError):
    """The store's events cannot be opened with the keys configured: one sentence naming the key."""


def sealing_key_id(state: bytes) -> str | None:
    """The id of the key that sealed a stored state, or ``None`` if it was stored in clear."""
    if not state.startswith(MAGIC):
        return None
    length = state[len(MAGIC)]
    return state[len(MAGIC) + 1 : len(MAGIC) + 1 + length].decode(errors="replace")


def check_store_keys(recorder: Any, keys: KeyMaterial, *, what: str = "this store") -> None:
    """Refuses, before anything is read or written, a store whose events the keys cannot open.

    Looks at the first and the last stored event: a store written in clear while encryption is on,
    a sealed store opened with encryption off, or events sealed with a key the keyring lacks
    (a lost key file, another server's keyring). A keyring made by this process for a store that
    already holds events is removed again, so the next attempt does not meet a wrong one.
    """
    head = recorder.max_notification_id() or 0
    if head == 0:
        return
    problem = None
    for position in dict.fromkeys((1, head)):
        found = recorder.select_notifications(start=position, limit=1)
        if not found:
            continue
        key_id = sealing_key_id(bytes(found[0].state))
        if keys.payload is None and key_id is not None:
            problem = (
                f"The events of {what} are sealed with key '{key_id}', but payload encryption is turned off"
                " (CASEJOURNEY_PAYLOAD_ENCRYPTION=false): turn it on, with the keyring that holds that key."
            )
        elif keys.payload is not None and key_id is None:
            problem = (
                f"The events of {what} were stored in clear (before encryption was on by default): set"
                " CASEJOURNEY_PAYLOAD_ENCRYPTION=false to open it as it is (docs/threat-model.md)."
            )
        elif key_id is not None and key_id not in keys.payload_key_ids():
            problem = (
                f"The events of {what} are sealed with key '{key_id}', which is not in the keyring of"
                f" {keys.source}: restore the keyring that holds it, or configure it (CASEJOURNEY_CIPHER_KEYS)."
            )
        if problem:
            break
    if problem:
        if keys.created is not None:
            FileKeyProvider(keys.created.parent).forget(keys.created)
        raise StoreKeyError(problem)
