"""Signed checkpoints of the log's Merkle tree: tree size, root hash and time, under an Ed25519 key.

``make_checkpoint`` grows the stored tree (``merkle_log``) to the log's head, writes the C2SP
checkpoint text (origin, size, base64 root, ``time <ISO 8601>``), signs it as a note
(``signed_note``), and keeps it in ``casejourney_checkpoints``, one per tree size. The signing key
comes from the settings (``CASEJOURNEY_CHECKPOINT_SIGNING_KEY``, a ``PRIVATE+KEY+...`` signer
key) or, by default, from ``checkpoint-signer.key`` in the key folder, made there on first use
(0600, beside the keyring, never in the database). Auditors are given its verifier key
(``casejourney checkpoint --verifier-key``) once, through a channel of their own: a checkpoint is
checked only against a key the checker already trusts, never one it carries.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from infrastructure.eventstore.merkle_log import MerkleLog
from infrastructure.eventstore.personal_data import SideTable
from infrastructure.eventstore.signed_note import Checkpoint, Signer, Verifier, sign_note
from infrastructure.files import make_private_folder, write_private
from infrastructure.settings import Settings

log = logging.getLogger("casejourney.keys")
SIGNER_FILE = "checkpoint-signer.key"


def checkpoint_signer(settings: Settings) -> Signer:
    """The checkpoint signing key: from the settings, or the key folder's file (made on first use)."""
    if settings.checkpoint_signing_key is not None:
        return Signer.parse(settings.checkpoint_signing_key.get_secret_value())
    folder = settings.key_folder()
    path = folder / SIGNER_FILE
    if not path.exists():
        make_private_folder(folder)
        if write_private(path, Signer.generate(settings.checkpoint_origin).text() + "\n", exclusive=True):
            log.warning("created a checkpoint signing key in %s: give auditors its verifier key", path)
    return Signer.parse(path.read_text())


def trusted_verifier(settings: Settings) -> Verifier:
    """The key the operator's own tools check checkpoints against: the configured verifier key, or
    the signer's (kept outside the database: someone who can write to the store cannot re-sign)."""
    if settings.checkpoint_verifier_key:
        return Verifier.parse(settings.checkpoint_verifier_key)
    try:
        return checkpoint_signer(settings).verifier()
    except OSError as exc:  # no key yet, and a read-only folder (an evidence copy) where none can be made
        log.warning(
            "no checkpoint key in %s and none can be made there (%s): no stored checkpoint is trusted;"
            " give this reader the verifier key (CASEJOURNEY_CHECKPOINT_VERIFIER_KEY)",
            settings.key_folder(),
            exc.strerror or exc,
        )
        return Signer.generate(settings.checkpoint_origin).verifier()  # trusts nothing stored


class Checkpoints(SideTable):
    """The checkpoints made of this log, one per tree size."""

    NAME = "casejourney_checkpoints"

    def __init__(self, recorder: Any) -> None:
        super().__init__(recorder)
        if not self.ddl:
            return
        with self._cursor() as c:
            if self.postgres:  # processes starting at once would race on CREATE TABLE: one at a time
                c.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ddl:{recorder.datastore.schema}.cp",))
            c.execute(
                self._sql(
                    "CREATE TABLE IF NOT EXISTS {t}"
                    " (size BIGINT PRIMARY KEY, issued_at TEXT NOT NULL, note TEXT NOT NULL)"
                )
            )

    def add(self, size: int, issued_at: datetime, note: str) -> str:
        """Keeps ``note`` for ``size``, unless one is kept already; returns the one kept."""
        with self._cursor() as c:
            c.execute(
                self._sql("INSERT INTO {t} (size, issued_at, note) VALUES (?, ?, ?) ON CONFLICT (size) DO NOTHING"),
                (size, issued_at.isoformat(), note),
            )
        kept = self.at(size)
        assert kept is not None
        return kept

    def at(self, size: int) -> str | None:
        with self._cursor() as c:
            c.execute(self._sql("SELECT note FROM {t} WHERE size = ?"), (size,))
            row = c.fetchone()
        return None if row is None else str(row["note"] if self.postgres else row[0])

    def all(self) -> list[tuple[int, str, str]]:
        """Every checkpoint kept, smallest first: (size, issued at, note)."""
        with self._cursor() as c:
            c.execute(self._sql("SELECT size, issued_at, note FROM {t} ORDER BY size"))
            rows = c.fetchall()
        if self.postgres:
            return [(int(r["size"]), str(r["issued_at"]), str(r["note"])) for r in rows]
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def latest(self) -> str | None:
        with self._cursor() as c:
            c.execute(self._sql("SELECT note FROM {t} ORDER BY size DESC LIMIT 1"))
            row = c.fetchone()
        return None if row is None else str(row["note"] if self.postgres else row[0])


def make_checkpoint(
    recorder: Any,
    signer: Signer,
    origin: str,
    at: datetime,
    *,
    until: int | None = None,
    reads: tuple[int, bytes] | None = None,
) -> str:
    """Grows the tree to the head (or to position ``until``: the head a verification of the chain
    saw), then signs and keeps a checkpoint of it; returns the note.

    ``reads``, the access log's verified head (position, chain hash), is signed too, as the
    extension line ``reads <position> <hex>``: the reads recorded before the checkpoint cannot be
    deleted afterwards without ``verify`` finding it."""
    tree = MerkleLog(recorder)
    tree.grow(until=until)
    size, _ = tree.head()
    extensions = [f"time {at.isoformat()}"]
    if reads is not None:
        extensions.append(f"reads {reads[0]} {reads[1].hex()}")
    checkpoint = Checkpoint(origin, size, tree.root(size), tuple(extensions))
    return Checkpoints(recorder).add(size, at, sign_note(checkpoint.text(), signer))
