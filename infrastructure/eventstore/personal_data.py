"""Personal data under per-person keys, and erasure that keeps the audit trail intact.

Each customer gets their own AES-256-GCM key the first time personal data about them is stored.
The mapper seals every field an event class names in ``PERSONAL_DATA_FIELDS`` with that key
(authenticated with the customer's id and the field's name, so a sealed value cannot be moved to
another person or field), before the event is transcoded, encrypted as a whole under the store's
keyring, hashed into the chain and written.

Erasure destroys the key and leaves a tombstone. The events are untouched, so the chain still
verifies and every history still replays; the sealed fields just read as ``[erased]``. The
tombstone means a key is never made again for that customer: recording new personal data about
them is refused.

Per-person keys are kept in the database, always wrapped by the wrapping keyring
(``keys.py``), so a copy of the database alone reveals no key. A key stored unwrapped by a build
from before wrapping was the default is read once as it is and wrapped in place.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import Environment
from psycopg.sql import SQL, Identifier

from domain.customer.aggregate import ERASED
from domain.errors import RuleViolation
from infrastructure.eventstore.case_text import TextKeys, open_event_text, seal_event_text
from infrastructure.eventstore.crypto import MAGIC, KeyringCipher

SEALED_PREFIX = "pd1:"


class SideTable:
    """A table of the service's own beside the events, used on the store's own connections."""

    NAME: ClassVar[str]

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.postgres = isinstance(recorder, PostgresApplicationRecorder)
        if self.postgres:
            self.table = SQL("{}.{}").format(Identifier(recorder.datastore.schema), Identifier(self.NAME))
        #: Whether this table may be created here: only by ``db upgrade`` (``schema.py``), or by a
        #: recorder the service did not open (a benchmark's, a test's own).
        self.ddl: bool = getattr(recorder, "schema_ddl", True)

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if self.postgres:
            with self.recorder.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
                yield curs
        else:
            with self.recorder.datastore.transaction(commit=True) as curs:
                yield curs

    def _sql(self, text: str) -> Any:
        """``text`` with ``{t}`` for the table and ``?`` for parameters, for this store."""
        if self.postgres:
            return SQL(text.replace("?", "%s")).format(t=self.table)
        return text.format(t=self.NAME)


class PersonKeys(SideTable):
    """Per-person keys in the event store's database: create, read, destroy (with a tombstone)."""

    NAME = "casejourney_person_keys"

    def __init__(self, recorder: Any, keyring_text: str) -> None:
        super().__init__(recorder)
        self.wrapper = KeyringCipher(Environment(env={"CIPHER_KEY": keyring_text}))
        self._create_table()

    # ------------------------------------------------------------------ storage

    def _create_table(self) -> None:
        if not self.ddl:
            return
        with self._cursor() as c:
            if self.postgres:  # processes starting at once would race on CREATE TABLE: one at a time
                c.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ddl:{self.recorder.datastore.schema}.keys",))
            c.execute(
                self._sql(
                    "CREATE TABLE IF NOT EXISTS {t} (subject TEXT PRIMARY KEY, wrapped_key "
                    + ("bytea" if self.postgres else "BLOB")
                    + ", erased_at TEXT, erased_by TEXT, erasure_reason TEXT)"
                )
            )

    def _wrap(self, key: bytes) -> bytes:
        return self.wrapper.encrypt(key)

    def _unwrap(self, wrapped: bytes, subject: str) -> bytes:
        if len(wrapped) == 32 and not wrapped.startswith(MAGIC):  # stored unwrapped by an older build
            with self._cursor() as c:
                c.execute(
                    self._sql("UPDATE {t} SET wrapped_key = ? WHERE subject = ? AND wrapped_key = ?"),
                    (self._wrap(wrapped), subject, wrapped),
                )
            return wrapped
        return self.wrapper.decrypt(wrapped)

    def key_for(self, subject: str) -> bytes | None:
        """The subject's key, or None when they have none (never had one, or erased).

        Not cached: an erasure by any process must take effect for every reader at once.
        """
        with self._cursor() as c:
            c.execute(self._sql("SELECT wrapped_key FROM {t} WHERE subject = ?"), (subject,))
            row = c.fetchone()
        wrapped = (row["wrapped_key"] if self.postgres else row[0]) if row else None
        return self._unwrap(bytes(wrapped), subject) if wrapped is not None else None

    def ensure_key(self, subject: str, *, likely_new: bool = False) -> bytes:
        """The subject's key, made on first use; refused for an erased subject, forever.

        ``likely_new`` (a case's first free text) skips the first look and makes the key in one
        transaction. On PostgreSQL that transaction does not wait for its own WAL flush: a key is used
        only by an event committed after it, whose commit flushes the WAL past the key's, so a key is
        durable whenever anything sealed with it is (and one lost with no such event is just made again).
        """
        if not likely_new:
            key = self.key_for(subject)
            if key is not None:
                return key
        fresh = AESGCM.generate_key(bit_length=256)
        with self._cursor() as c:
            if self.postgres:
                c.execute("SET LOCAL synchronous_commit TO OFF")
            insert = "INSERT INTO {t} (subject, wrapped_key) VALUES (?, ?) ON CONFLICT (subject) DO NOTHING"
            c.execute(self._sql(insert), (subject, self._wrap(fresh)))
            c.execute(self._sql("SELECT wrapped_key, erased_at FROM {t} WHERE subject = ?"), (subject,))
            row = c.fetchone()
        wrapped, erased_at = (row["wrapped_key"], row["erased_at"]) if self.postgres else (row[0], row[1])
        if erased_at is not None or wrapped is None:
            raise RuleViolation(
                f"The personal data of {subject} was erased; no key is ever made for them again.",
                code="customer_erased",
            )
        return self._unwrap(bytes(wrapped), subject)  # another writer may have won the race: use the stored key

    def destroy(self, subject: str, *, at: datetime, by: str, reason: str) -> None:
        """Destroys the key (idempotent) and leaves a tombstone so it is never made again."""
        self.destroy_many([subject], at=at, by=by, reason=reason)

    def destroy_many(self, subjects: Sequence[str], *, at: datetime, by: str, reason: str) -> None:
        """Destroys several keys in one transaction, then makes sure no copy of them lingers."""
        if not subjects:
            return
        upsert = (
            "INSERT INTO {t} (subject, wrapped_key, erased_at, erased_by, erasure_reason) VALUES (?, NULL, ?, ?, ?)"
            " ON CONFLICT (subject) DO UPDATE SET wrapped_key = NULL,"
            " erased_at = COALESCE({t}.erased_at, excluded.erased_at),"
            " erased_by = COALESCE({t}.erased_by, excluded.erased_by),"
            " erasure_reason = COALESCE({t}.erasure_reason, excluded.erasure_reason)"
        )
        rows = [(subject, at.isoformat(), by, reason) for subject in subjects]
        if self.postgres:
            with self._cursor() as c:
                c.executemany(self._sql(upsert), rows)
            # The old row version still holds the key until vacuumed: rewrite the (small) table now.
            with self.recorder.datastore.get_connection() as conn:
                conn.execute(SQL("VACUUM (FULL) {}").format(self.table))
        else:
            with self.recorder.datastore.transaction(commit=True) as c:
                # secure_delete overwrites the freed cell, so the old key bytes do not linger in the file.
                c.execute("PRAGMA secure_delete = ON")
                c.executemany(
                    upsert.replace("{t}.", "casejourney_person_keys.").format(t="casejourney_person_keys"), rows
                )
            with self.recorder.datastore.get_connection(commit=True) as conn:
                conn.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")  # and none stay in the write-ahead log

    def subjects(self, prefix: str) -> list[str]:
        """The subjects ``prefix`` itself and ``prefix/<generation>`` that have a row (a key or a tombstone)."""
        with self._cursor() as c:
            c.execute(
                self._sql("SELECT subject FROM {t} WHERE subject = ? OR subject LIKE ? ORDER BY subject"),
                (prefix, prefix + "/%"),  # subjects here are ids and months: no LIKE wildcard in them
            )
            rows = c.fetchall()
        found = [r["subject"] if self.postgres else r[0] for r in rows]
        return sorted(found, key=lambda s: int(s.rpartition("/")[2]) if "/" in s[len(prefix) :] else 1)

    def subjects_starting(self, prefix: str) -> dict[str, bool]:
        """Every subject starting with ``prefix`` (a key or a tombstone) -> whether it is destroyed (its
        key gone or its erasure stamped: either way it reads as erased)."""
        with self._cursor() as c:
            c.execute(
                self._sql(
                    "SELECT subject, (wrapped_key IS NULL OR erased_at IS NOT NULL) AS gone FROM {t}"
                    " WHERE subject LIKE ? ORDER BY subject"
                ),
                (prefix + "%",),
            )
            rows = c.fetchall()
        if self.postgres:
            return {r["subject"]: bool(r["gone"]) for r in rows}
        return {r[0]: bool(r[1]) for r in rows}

    def erased(self, subject: str) -> bool:
        with self._cursor() as c:
            c.execute(self._sql("SELECT erased_at FROM {t} WHERE subject = ?"), (subject,))
            row = c.fetchone()
        return bool(row) and (row["erased_at"] if self.postgres else row[0]) is not None


def _aad(subject: str, field: str) -> bytes:
    return f"{subject}\x00{field}".encode()


def seal(key: bytes, subject: str, field: str, value: Any) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, json.dumps(value).encode(), _aad(subject, field))
    return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode()


def unseal(key: bytes, subject: str, field: str, text: str) -> Any:
    raw = base64.b64decode(text[len(SEALED_PREFIX) :])
    try:
        return json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], _aad(subject, field)))
    except InvalidTag:
        raise RuleViolation(f"sealed {field} of {subject} failed authentication", code="sealed_field_invalid") from None


class PersonalDataMapper(Mapper):  # type: ignore[type-arg]
    """The library's mapper, plus sealing of personal-data fields under the subject's own key and
    of free text under the case's text key (``case_text.py``); both opened again on the way out."""

    keys: PersonKeys | None = None  # set by the application once its recorder exists
    text: TextKeys | None = None

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        fields: tuple[str, ...] = getattr(type(domain_event), "PERSONAL_DATA_FIELDS", ())
        if fields:
            assert self.keys is not None, "the application sets the key store"
            subject = domain_event.party_id
            key = self.keys.ensure_key(subject)
            state = dict(vars(domain_event))
            for field in fields:
                state[field] = seal(key, subject, field, state[field])
            sealed = object.__new__(type(domain_event))
            object.__setattr__(sealed, "__dict__", state)
            domain_event = sealed
        if self.text is not None:
            domain_event = seal_event_text(self.text, domain_event)
        return super().to_stored_event(domain_event)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = self.to_domain_event_sealed(stored_event)
        if self.text is not None:
            open_event_text(self.text, event)
        return event

    def to_domain_event_sealed(self, stored_event: StoredEvent) -> Any:
        """The event with personal data unsealed and its free text still sealed (as projections fold it)."""
        event: Any = super().to_domain_event(stored_event)
        fields: tuple[str, ...] = getattr(type(event), "PERSONAL_DATA_FIELDS", ())
        if fields:
            assert self.keys is not None, "the application sets the key store"
            subject = event.party_id
            key = self.keys.key_for(subject)
            state = vars(event)
            for field in fields:
                value = state[field]
                if isinstance(value, str) and value.startswith(SEALED_PREFIX):
                    state[field] = unseal(key, subject, field, value) if key is not None else ERASED
        return event
