"""The write path's last hop, in code: which recorder and which cipher the ``eventsourcing`` library runs.

The library is configured by string keys; the settings say where the store is
(``Settings.store_env``), and this module names the classes that run on it, by import, so a reader
(and mypy, and a rename) can follow an append from ``CaseJourney.execute`` to the SQL of
``store.py``: ``ChainedSQLiteRecorder`` on SQLite, ``LockedAppendRecorder`` on PostgreSQL, and
``KeyringCipher`` with the payload keyring of ``keys.py`` (on by default: a fresh store is sealed).

The topics these classes had before ``infrastructure/`` was split into rooms
(``infrastructure.store:...``, ``infrastructure.crypto:KeyringCipher``) are registered as aliases,
so an environment that still names them keeps working.
"""

from __future__ import annotations

from eventsourcing.utils import get_topic, register_topic

from infrastructure.eventstore.crypto import KeyringCipher
from infrastructure.eventstore.keys import KeyMaterial, key_material
from infrastructure.eventstore.store import ChainedSQLiteRecorder, LockedAppendRecorder
from infrastructure.settings import Settings

#: Topics of the same classes before the split (documented aliases: README, "Where things moved").
OLD_TOPICS = {
    "infrastructure.store:ChainedSQLiteRecorder": ChainedSQLiteRecorder,
    "infrastructure.store:LockedAppendRecorder": LockedAppendRecorder,
    "infrastructure.crypto:KeyringCipher": KeyringCipher,
}
for _topic, _cls in OLD_TOPICS.items():
    register_topic(_topic, _cls)


def eventsourcing_env(settings: Settings, keys: KeyMaterial | None = None) -> dict[str, str]:
    """The ``env`` of an application on the configured store: the place, the recorder, the cipher."""
    keys = keys or key_material(settings)
    env = settings.store_env()
    recorder = ChainedSQLiteRecorder if settings.store == "sqlite" else LockedAppendRecorder
    env["APPLICATION_RECORDER_TOPIC"] = get_topic(recorder)
    if keys.payload is not None:
        env["CIPHER_TOPIC"] = get_topic(KeyringCipher)
        env["CIPHER_KEY"] = keys.payload
    return env
