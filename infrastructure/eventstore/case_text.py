"""Free text under keys that retention and erasure destroy: a case's own key, a month's key for reads.

Free text typed by a person (a concern's note, a reason, a reviewer's note, a correction: the
``TEXT_FIELDS`` of each event class) is the part of the record most likely to name someone, and
no structure says whom. So it is sealed, before the event is stored, under a key of its own:

- the **case's text key** (subject ``case:<case id>``) for every free-text field of a case event,
  and for the purpose of every read of that case in the access log; destroyed when the case's
  retention period ends, or when a party of the case is erased;
- a **month's read key** (``reads:YYYY-MM``) under it for what the access log holds (purposes,
  break-glass reasons, review notes), destroyed when the read-audit retention ends.

A sealed value is a **token**, ``{{ct1:<subject>:<field>:<base64url>}}``: AES-256-GCM under the
subject's key, authenticated with the subject and the field (a token cannot be moved to another
case or field). Tokens travel as they are through everything derived from the log: the
projections fold events whose text is still sealed, and the read models store the tokens. So
destroying one key makes the text unreadable everywhere it was copied at once (the log, the read
models, a rebuild, a replay) without a byte being rewritten: the hash chain, the projections and
their rebuilds stay exactly as they were. The text is opened only when it is shown
(``TextKeys.open``), and reads as ``[erased]`` once its key is gone.

A key is destroyed with a tombstone and never made again; a case that still records text after its
key went (a concern after closure, say) gets the next generation (``case:<id>/2``), so a
safeguarding concern is never refused for want of a key.

Keys live in the person-keys table (``PersonKeys``), wrapped by the wrapping keyring like the
per-person keys. Writers keep the key of an open case in memory (a case's text key is destroyed
only once it is closed: retention waits for closure and erasure refuses a party with an open case);
for a closed case the key is read afresh. Readers keep a key for at most ``READ_TTL`` seconds, so an
erasure in another process takes effect for every reader within that time, and at once in this one.
"""

from __future__ import annotations

import base64
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.case.aggregate import Case
from domain.customer.aggregate import ERASED
from domain.errors import RuleViolation

TOKEN = re.compile(r"\{\{ct1:([a-z]+:[0-9A-Za-z/._-]+):([a-z_]+):([A-Za-z0-9_-]+)\}\}")
READ_TTL = 0.5
WRITE_CACHE = 4096
#: Keys inside structured values that stay as they are (a doubt's code); every other string is sealed.
STRUCTURED_KEYS = frozenset({"code"})


def case_subject(case_id: UUID | str, generation: int = 1) -> str:
    return f"case:{case_id}" if generation == 1 else f"case:{case_id}/{generation}"


def month_subject(at: datetime) -> str:
    return f"reads:{at:%Y-%m}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal_text(key: bytes | AESGCM, subject: str, field: str, text: str) -> str:
    nonce = os.urandom(12)
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    sealed = aead.encrypt(nonce, text.encode(), f"{subject}\x00{field}".encode())
    return f"{{{{ct1:{subject}:{field}:{_b64(nonce + sealed)}}}}}"


def is_token(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{{ct1:") and TOKEN.fullmatch(value) is not None


class TextKeys:
    """The text keys of cases and months, over the person-keys table: make, find, open, destroy."""

    def __init__(self, store: Any) -> None:
        self.store = store  # PersonKeys: ensure_key, key_for, destroy, erased, subjects
        self._lock = threading.Lock()
        self._writing: OrderedDict[Any, tuple[str, AESGCM]] = OrderedDict()
        self._reading: dict[str, tuple[float, bytes | None]] = {}

    # ------------------------------------------------------------------ writing

    def for_case(self, case_id: UUID | str, *, fresh: bool = False) -> tuple[str, AESGCM]:
        """(subject, cipher) to seal new text of a case with: the current generation, made on first use."""
        return self._for_writing(case_id, lambda g: case_subject(case_id, g), fresh=fresh)

    def for_month(self, at: datetime) -> tuple[str, AESGCM]:
        subject = month_subject(at)
        return self._for_writing(subject, lambda g: subject if g == 1 else f"{subject}/{g}", fresh=False)

    def _for_writing(self, name: Any, subject_of: Callable[[int], str], *, fresh: bool) -> tuple[str, AESGCM]:
        if not fresh:
            with self._lock:
                hit = self._writing.get(name)
            if hit is not None:
                return hit
        generation = 1
        while True:
            subject = subject_of(generation)
            try:
                key: bytes = self.store.ensure_key(subject, likely_new=not fresh)
            except RuleViolation as exc:
                if exc.code != "customer_erased":
                    raise
                generation += 1  # that generation was destroyed: text from now on gets the next
                continue
            break
        found = (subject, AESGCM(key))
        with self._lock:
            self._writing[name] = found
            self._writing.move_to_end(name)
            while len(self._writing) > WRITE_CACHE:
                self._writing.popitem(last=False)
        return found

    def seal(self, layers: Iterable[tuple[str, AESGCM]], field: str, value: Any) -> Any:
        """``value`` with every string in it sealed, layer by layer (the first innermost); empty stays empty."""
        if isinstance(value, str):
            if not value:
                return value
            for subject, key in layers:
                value = seal_text(key, subject, field, value)
            return value
        layers = list(layers)
        if isinstance(value, list):
            return [self.seal(layers, field, v) for v in value]
        if isinstance(value, dict):
            return {k: v if k in STRUCTURED_KEYS else self.seal(layers, field, v) for k, v in value.items()}
        return value

    # ------------------------------------------------------------------ reading

    def key_for(self, subject: str) -> bytes | None:
        now = time.monotonic()
        with self._lock:
            hit = self._reading.get(subject)
        if hit is not None and now - hit[0] < READ_TTL:
            return hit[1]
        key: bytes | None = self.store.key_for(subject)
        with self._lock:
            if len(self._reading) > WRITE_CACHE:
                self._reading.clear()
            self._reading[subject] = (now, key)
        return key

    def open(self, value: Any) -> Any:
        """``value`` with every token in it opened (recursively, in lists, dicts and composed
        sentences); a token whose key is gone, or that fails authentication, reads ``[erased]``."""
        if isinstance(value, str):
            if "{{ct1:" not in value:
                return value
            if is_token(value):
                return self._open_one(value)
            return TOKEN.sub(lambda m: self._open_one(m.group(0)), value)
        if isinstance(value, list):
            return [self.open(v) for v in value]
        if isinstance(value, dict):
            return {k: self.open(v) for k, v in value.items()}
        return value

    def _open_one(self, token: str) -> str:
        match = TOKEN.fullmatch(token)
        assert match is not None
        subject, field, data = match.groups()
        key = self.key_for(subject)
        if key is None:
            return ERASED
        raw = _unb64(data)
        try:
            text = AESGCM(key).decrypt(raw[:12], raw[12:], f"{subject}\x00{field}".encode()).decode()
        except InvalidTag:
            return ERASED  # altered: never shown as if it were what was recorded
        if is_token(text) and text.startswith("{{ct1:reads:"):
            return self._open_one(text)  # the month's layer, under the case's
        return text

    # ------------------------------------------------------------------ destroying

    def subjects_of_case(self, case_id: UUID | str) -> list[str]:
        """Every generation of the case's text key that exists (destroyed or not), oldest first."""
        found: list[str] = self.store.subjects(f"case:{case_id}")
        return found

    def destroy(self, subjects: Iterable[str], *, at: datetime, by: str, reason: str) -> None:
        self.store.destroy_many(list(subjects), at=at, by=by, reason=reason)
        self.forget()

    def forget(self) -> None:
        """Drops what this process keeps in memory (after a destruction, so it takes effect at once)."""
        with self._lock:
            self._writing.clear()
            self._reading.clear()


def text_layers(keys: TextKeys, event: Any) -> list[tuple[str, AESGCM]]:
    """The keys an event's free text is sealed with, innermost first: a case event's, its case's;
    the access log's, the month's (read-audit retention) under the case's, if it names one."""
    if isinstance(event, Case.Event):
        return [keys.for_case(event.originator_id)]
    layers = [keys.for_month(event.timestamp)]
    case_id = getattr(event, "case_id", None)
    if case_id is not None:
        layers.append(keys.for_case(case_id))
    return layers


def seal_event_text(keys: TextKeys, event: Any) -> Any:
    """A copy of ``event`` with its free-text fields sealed (the event itself when it has none)."""
    fields: tuple[str, ...] = getattr(type(event), "TEXT_FIELDS", ())
    state = vars(event)
    if not fields or not any(state.get(f) for f in fields):
        return event
    layers = text_layers(keys, event)
    sealed_state = dict(state)
    for field in fields:
        value = sealed_state.get(field)
        if value:
            sealed_state[field] = keys.seal(layers, field, value)
    sealed = object.__new__(type(event))
    object.__setattr__(sealed, "__dict__", sealed_state)
    return sealed


def open_event_text(keys: TextKeys, event: Any) -> Any:
    """Opens the sealed free text of a decoded event, in place."""
    fields: tuple[str, ...] = getattr(type(event), "TEXT_FIELDS", ())
    if fields:
        state = vars(event)
        for field in fields:
            value = state.get(field)
            if value:
                state[field] = keys.open(value)
    return event


__all__ = [
    "TOKEN",
    "TextKeys",
    "case_subject",
    "is_token",
    "month_subject",
    "open_event_text",
    "seal_event_text",
    "seal_text",
]
