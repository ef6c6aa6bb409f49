"""Tamper evidence: a hash chain over the bytes actually stored, and its verification.

Each stored event carries ``chain_hash``:

    H = SHA-256( "cj-chain-v1" || H(previous event in the log) || H(previous event of the case)
                 || originator_id (16 bytes) || originator_version (8 bytes, big-endian)
                 || len(topic) (4 bytes, big-endian) || topic (UTF-8) || state (stored bytes) )

with 32 zero bytes standing for "no previous event". Linking every event both to its
predecessor in the whole log and to its predecessor in its case means that an edited payload, a
deleted, inserted or reordered event breaks the chain at a position ``verify`` reports. A rewrite
of everything after a point by someone who can also recompute hashes is caught by a digest
(head position and hash, signed) kept outside the database: see ``infrastructure/eventstore/digests.py``.

The hash is computed by the writer inside the append transaction (in PL/pgSQL on PostgreSQL, in
Python under SQLite's write lock), so it covers exactly the stored bytes, ciphertext included.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple
from uuid import UUID

CHAIN_LABEL = b"cj-chain-v1"
GENESIS = bytes(32)


_LABELLED = hashlib.sha256(CHAIN_LABEL)


def chain_hash(log_prev: bytes, case_prev: bytes, originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    topic_bytes = topic.encode()
    digest = _LABELLED.copy()
    digest.update(log_prev)
    digest.update(case_prev)
    digest.update(originator_id.bytes)
    digest.update(struct.pack(">qI", version, len(topic_bytes)))
    digest.update(topic_bytes)
    digest.update(state)
    return digest.digest()


class ChainRow(NamedTuple):
    """One stored event as the verifier reads it (raw, never decrypted). A tuple: made by the million."""

    position: int  # notification id
    originator_id: UUID
    version: int
    topic: str
    state: bytes
    chain_hash: bytes | None


@dataclass(frozen=True, slots=True)
class Break:
    """The first place the chain does not hold."""

    position: int
    originator_id: UUID
    version: int
    problem: str

    def describe(self) -> str:
        where = f"position {self.position} (case {self.originator_id}, version {self.version})"
        return f"chain broken at {where}: {self.problem}"


@dataclass(slots=True)
class Verification:
    checked: int = 0
    head_position: int = 0
    head_hash: bytes = GENESIS
    first_break: Break | None = None
    case_heads: dict[UUID, tuple[int, bytes]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.first_break is None


def verify_log(rows: Iterable[ChainRow], *, log_prev: bytes = GENESIS) -> Verification:
    """Walks rows in log order and stops at the first break (edited, deleted, inserted, reordered).

    ``log_prev`` lets a caller start mid-log from a trusted hash (a digest's head).
    """
    result = Verification(head_hash=log_prev)
    heads = result.case_heads
    for row in rows:
        previous = heads.get(row.originator_id)
        if previous is None:
            case_prev = GENESIS
            if row.version != 1:
                return _broken(result, row, f"the case's events before version {row.version} are missing")
        else:
            if row.version != previous[0] + 1:
                return _broken(result, row, f"follows version {previous[0]} of its case: events missing or reordered")
            case_prev = previous[1]
        expected = chain_hash(result.head_hash, case_prev, row.originator_id, row.version, row.topic, row.state)
        if row.chain_hash is None:
            return _broken(result, row, "the event has no chain hash")
        if row.chain_hash != expected:
            return _broken(
                result,
                row,
                "stored hash does not match the stored bytes and their predecessors: this event was edited,"
                " or an event before it was deleted, inserted or moved",
            )
        heads[row.originator_id] = (row.version, expected)
        result.head_hash = expected
        result.head_position = row.position
        result.checked += 1
    return result


def _broken(result: Verification, row: ChainRow, problem: str) -> Verification:
    result.first_break = Break(row.position, row.originator_id, row.version, problem)
    return result


def verify_case(rows: Iterable[tuple[ChainRow, bytes]]) -> Verification:
    """Verifies one case's events, each given with the chain hash of the event before it in the log."""
    result = Verification()
    case_prev = GENESIS
    expected_version = 1
    for row, log_prev in rows:
        if row.version != expected_version:
            return _broken(result, row, f"expected version {expected_version}: events missing or reordered")
        expected = chain_hash(log_prev, case_prev, row.originator_id, row.version, row.topic, row.state)
        if row.chain_hash != expected:
            return _broken(result, row, "stored hash does not match the stored bytes and their predecessors")
        case_prev = expected
        expected_version += 1
        result.checked += 1
        result.head_hash = expected
        result.head_position = row.position
    return result
