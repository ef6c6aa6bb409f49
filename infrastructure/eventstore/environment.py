"""The write path's last hop, in code: which recorder and which cipher the ``eventsourcing`` library runs.

The library is configured by string keys; the settings say where the store is
(``Settings.store_env``), and this module names the classes that run on it, by import, so a reader
(and mypy, and a rename) can follow an append from ``CaseJourney.execute`` to the SQL of
``store.py``: ``ChainedSQLiteRecorder`` on SQLite, ``LockedAppendRecorder`` on PostgreSQL, and
``KeyringCipher`` with the payload keyring of ``keys.py`` (on by default: a fresh store is sealed).

The topics these classes had before ``infrastructure/`` was split into rooms
(``infrastructure.store:...``, ``infrastructure.crypto:KeyringCipher``) are registered as aliases,
so an environment that still names them keeps working.

The library's own environment variables (``PERSISTENCE_MODULE``, ``COMPRESSOR_TOPIC``,
``CASEJOURNEY_CIPHER_KEY`` and the rest) are ignored entirely: ``library_env`` builds an
application's environment from the settings alone, so a stray variable can neither redirect the
store nor change how its bytes are read. The CLI names any that are set (``library_variables``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from eventsourcing.utils import Environment, get_topic, register_topic

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


#: Every variable the ``eventsourcing`` library (9.5) reads from the environment, as its source names
#: them; it also reads each with an application's name before it (``CASEJOURNEY_``, ``ACCESSLOG_``).
LIBRARY_VARIABLES = frozenset(
    {
        "AGGREGATE_CACHE_FASTFORWARD",
        "AGGREGATE_CACHE_FASTFORWARD_SKIPPING",
        "AGGREGATE_CACHE_MAXSIZE",
        "APPLICATION_RECORDER_TOPIC",
        "CIPHER_KEY",
        "CIPHER_TOPIC",
        "COMPRESSOR_TOPIC",
        "CREATE_TABLE",
        "DEEPCOPY_FROM_AGGREGATE_CACHE",
        "INFRASTRUCTURE_FACTORY",
        "IS_SNAPSHOTTING_ENABLED",
        "MAPPER_TOPIC",
        "ORIGINATOR_ID_TYPE",
        "PERSISTENCE_MODULE",
        "POSTGRES_CONNECT_TIMEOUT",
        "POSTGRES_CONN_MAX_AGE",
        "POSTGRES_DBNAME",
        "POSTGRES_ENABLE_DB_FUNCTIONS",
        "POSTGRES_GET_PASSWORD_TOPIC",
        "POSTGRES_HOST",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT",
        "POSTGRES_LOCK_TIMEOUT",
        "POSTGRES_MAX_OVERFLOW",
        "POSTGRES_MAX_WAITING",
        "POSTGRES_PASSWORD",
        "POSTGRES_POOL_SIZE",
        "POSTGRES_PORT",
        "POSTGRES_PRE_PING",
        "POSTGRES_SCHEMA",
        "POSTGRES_USER",
        "PROCESS_RECORDER_TOPIC",
        "SINGLE_ROW_TRACKING",
        "SQLITE_DBNAME",
        "SQLITE_LOCK_TIMEOUT",
        "TRACKING_RECORDER_TOPIC",
        "TRANSCODER_TOPIC",
        "TZINFO_TOPIC",
    }
)
APPLICATION_NAMES = ("CASEJOURNEY_", "ACCESSLOG_")


def library_variables(environ: Mapping[str, str], settings: Collection[str] = ()) -> list[str]:
    """The library's variables set in ``environ``: each is ignored (``library_env``), and said so.
    ``settings``: the service's own variable names, never among them (``CASEJOURNEY_POSTGRES_SCHEMA``
    is a setting of ours, though ``POSTGRES_SCHEMA`` is the library's)."""
    names = set()
    for name in environ:
        if name.upper() in settings:
            continue
        bare = name
        for prefix in APPLICATION_NAMES:
            bare = bare.removeprefix(prefix)
        if bare in LIBRARY_VARIABLES:
            names.add(name)
    return sorted(names)


def library_env(app: Any, name: str, env: Mapping[str, str] | None) -> Environment:
    """``Application.construct_env`` without ``os.environ``: the class's defaults and the settings'
    keys, nothing else (``TZINFO_TOPIC``, which the library reads at import, changes no stored time:
    every event's time comes from the service's clock)."""
    values = dict(type(app).env)
    if type(app).is_snapshotting_enabled or type(app).snapshotting_intervals:
        values["IS_SNAPSHOTTING_ENABLED"] = "y"
    values.update(env or {})
    return Environment(name, values)
