"""Turning stored case events back into domain events, fast enough for a rebuild of a million.

The library's mapper (``app.mapper.to_domain_event``) decodes JSON with a Python ``object_hook``
called for every object in every event: about 20 µs an event, more than three times the cost of
reading the row. A rebuild spends most of its time there, so this module does the same work in a
cheaper order, for the common case only:

- ``orjson.loads`` without a hook (``json.loads`` if orjson refuses a document), then the typed
  values (``{"_type_": "uuid_hex", ...}``, ``datetime_iso``) converted where the transcoder put them,
  at the top level of the event;
- the same id conversion, the same upcasting (``class_version`` and ``upcast_vN_vN+1``), and the
  same construction (``object.__new__`` and the state as ``__dict__``) as the mapper.

A state sealed under the store's keyring (``KeyringCipher``, on by default) is opened first, as
the mapper would. Anything else goes to the library's mapper unchanged: another cipher or a
compressor configured, a transcoder with other types, an event class with personal-data fields sealed per person (the
application's mapper unseals them), a typed value nested below the top level (found by counting
``"_type_"`` in the bytes), or a type name it does not know. A test holds the two paths equal on
every event the stories write and on stored fixtures of old event versions.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID, SafeUUID

import orjson
from eventsourcing.persistence import JSONTranscoder

from domain.case.aggregate import Case
from infrastructure.eventstore.application import CaseJourney
from infrastructure.eventstore.crypto import KeyringCipher

_TYPED = b'"_type_"'
_KNOWN_TRANSCODINGS = {"uuid_hex", "decimal_str", "datetime_iso"}


_loads = orjson.loads
_datetime = datetime.fromisoformat
_UNKNOWN = SafeUUID.unknown  # looked up once: an enum member's attribute access is slow
_new, _set = object.__new__, object.__setattr__


def _uuid(hex_digits: str) -> UUID:
    """A UUID from 32 hex digits without ``UUID.__init__``'s parsing (same value, same hash)."""
    value = _new(UUID)
    _set(value, "int", int(hex_digits, 16))
    _set(value, "is_safe", _UNKNOWN)
    return value


class CaseEventDecoder:
    """``decode(notification) -> Case.Event``, equal to ``app.mapper.to_domain_event_sealed`` (free
    text still sealed: the projections fold tokens, and what is shown opens them)."""

    def __init__(self, app: CaseJourney) -> None:
        mapper: Any = app.mapper
        # Free text stays sealed here, as the projections fold it (``case_text.py``): the fallback too.
        self.fallback: Callable[[Any], Any] = mapper.to_domain_event_sealed
        transcoder = mapper.transcoder
        cipher = mapper.cipher
        self.decrypt: Callable[[bytes], bytes] | None = cipher.decrypt if cipher is not None else None
        self.fast = (
            (cipher is None or type(cipher) is KeyringCipher)
            and mapper.compressor is None
            and isinstance(transcoder, JSONTranscoder)
            and set(transcoder.names) <= _KNOWN_TRANSCODINGS
        )
        self.classes: dict[str, type[Case.Event]] = {cls.TOPIC: cls for cls in Case.EVENT_CLASSES.values()}
        self.fallbacks = 0
        self._keys: dict[type, tuple[str, ...]] = {}
        self._known: dict[str, tuple[type[Case.Event] | None, tuple[str, ...], int]] = {}

    def decode(self, notification: Any) -> Case.Event:
        known = self._known.get(notification.topic)
        if known is None:
            known = self._learn(notification.topic)
        cls, typed_keys, class_version = known
        # Fields sealed per person (infrastructure.eventstore.personal_data) are the mapper's to unseal.
        if cls is None:
            return self._slow(notification)
        raw = notification.state if self.decrypt is None else self.decrypt(notification.state)
        try:
            state: dict[str, Any] = _loads(raw)
        except orjson.JSONDecodeError:  # e.g. NaN, or an integer beyond 64 bits: the standard parser
            state = json.loads(raw)
        converted = 0
        for key in typed_keys:  # only the fields whose type is encoded as a typed object
            value = state.get(key)
            if type(value) is dict and len(value) == 2 and "_type_" in value and "_data_" in value:
                kind, data = value["_type_"], value["_data_"]
                if kind == "uuid_hex":
                    state[key] = _uuid(data) if len(data) == 32 else UUID(data)
                elif kind == "datetime_iso":
                    state[key] = _datetime(data)
                else:
                    return self._slow(notification)
                converted += 1
        if converted != raw.count(_TYPED):
            return self._slow(notification)  # a typed value deeper down: the library knows best
        originator_id = notification.originator_id
        state["originator_id"] = originator_id if type(originator_id) is UUID else UUID(str(originator_id))
        state["originator_version"] = notification.originator_version
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        event = _new(cls)
        _set(event, "__dict__", state)
        return event

    def _learn(self, topic: str) -> tuple[type[Case.Event] | None, tuple[str, ...], int]:
        """What decoding events of ``topic`` needs: (class or None for the mapper, typed keys, version)."""
        cls = self.classes.get(topic)
        if not self.fast or cls is None or hasattr(cls, "PERSONAL_DATA_FIELDS"):
            known: tuple[type[Case.Event] | None, tuple[str, ...], int] = (None, (), 0)
        else:
            known = (cls, self._typed_keys(cls), getattr(cls, "class_version", 1))
        self._known[topic] = known
        return known

    def _typed_keys(self, cls: type[Case.Event]) -> tuple[str, ...]:
        keys = self._keys.get(cls)
        if keys is None:
            hints = {
                name: str(hint)
                for klass in reversed(cls.__mro__)
                for name, hint in vars(klass).get("__annotations__", {}).items()
            }
            keys = tuple(n for n, h in hints.items() if "UUID" in h or "datetime" in h or "Any" in h)
            keys = tuple(dict.fromkeys(("timestamp", *keys)))
            self._keys[cls] = keys
        return keys

    def _slow(self, notification: Any) -> Case.Event:
        self.fallbacks += 1
        event: Case.Event = self.fallback(notification)
        return event


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while many events are decoded (rebuilds, catch-up, impact).

    Decoding makes millions of short-lived, acyclic objects that reference counting frees; but
    each burst of allocations also triggers collections that walk every live object, which more
    than doubled the cost of decoding an event (12 against 5 µs, measured) and grows with what the
    caller keeps. Objects alive before are frozen out of collections meanwhile; callers that run
    long collect the young generation themselves now and then (``gc.collect(1)``). The collector
    is the process's: this is for processes that do bulk reading (a rebuild, a runner, an impact
    assessment), not for a block inside a threaded server.
    """
    was_enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.unfreeze()
