"""A Merkle tree over the log, as RFC 9162 section 2.1 defines it (the hashing of RFC 6962).

One leaf per stored event, in log order; a leaf is hashed ``SHA-256(0x00 || leaf)``, a node
``SHA-256(0x01 || left || right)``, and a tree of ``n`` leaves splits at the largest power of two
below ``n``. This module is the pure part: the tree head of a list of leaf hashes, the inclusion
proof of one leaf and the consistency proof between two sizes, and their verification. It uses
nothing beyond ``hashlib``, so the standalone verifier can carry it as it is.

Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2, with the edge cases of the published
test vectors (transparency-dev/merkle, ``tests/fixtures/merkle``): a consistency proof from an
empty tree is refused as meaningless; between equal sizes it is empty and the roots are equal.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence
from uuid import UUID

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
LEAF_LABEL = b"cj-leaf-v1"


def event_leaf(position: int, originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """The leaf of one stored event: its place in the log and in its case, its topic, and its state
    as stored (ciphertext where encrypted, so an erasure, which destroys keys, never changes a leaf).

        "cj-leaf-v1" || position (8 bytes) || originator_id (16) || version (8)
                     || len(topic) (4) || topic (UTF-8) || state
    """
    topic_bytes = topic.encode()
    return b"".join(
        (
            LEAF_LABEL,
            struct.pack(">q", position),
            originator_id.bytes,
            struct.pack(">qI", version, len(topic_bytes)),
            topic_bytes,
            state,
        )
    )


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH of the leaf hashes ``leaves`` (already hashed with ``leaf_hash``)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    # Bottom-up, pairing left to right; an odd node at the end is carried up as it is. This is the
    # same tree as the recursive definition (the left subtree is always perfect).
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


#: The root of the leaves ``[start, end)`` of a tree: from a list here, from stored nodes in ``merkle_log``.
RangeRoot = Callable[[int, int], bytes]


def inclusion_path(index: int, size: int, mth: RangeRoot, start: int = 0) -> list[bytes]:
    """PATH(index, D[start:start+size]) of RFC 9162 2.1.3.1, with ``mth`` giving subtree roots."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    if size == 1:
        return []
    k = _split(size)
    if index < k:
        return [*inclusion_path(index, k, mth, start), mth(start + k, start + size)]
    return [*inclusion_path(index - k, size - k, mth, start + k), mth(start, start + k)]


def consistency_path(size1: int, size2: int, mth: RangeRoot) -> list[bytes]:
    """PROOF(size1, D[size2]) of RFC 9162 2.1.4.1, with ``mth`` giving subtree roots."""
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from {size1} to {size2}")
    return _subproof(size1, 0, size2, True, mth)


def _subproof(m: int, start: int, n: int, whole: bool, mth: RangeRoot) -> list[bytes]:
    if m == n:
        return [] if whole else [mth(start, start + n)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, start, k, whole, mth), mth(start + k, start + n)]
    return [*_subproof(m - k, start + k, n - k, False, mth), mth(start, start + k)]


def _of(leaves: Sequence[bytes]) -> RangeRoot:
    return lambda start, end: root(leaves[start:end])


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the tree of ``leaves`` (leaf hashes)."""
    return inclusion_path(index, len(leaves), _of(leaves))


def consistency_proof(size1: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The consistency proof from the first ``size1`` of ``leaves`` to all of them."""
    return consistency_path(size1, len(leaves), _of(leaves))


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes | None:
    """The root that ``proof`` leads to from leaf hash ``leaf`` at ``index`` (RFC 9162 2.1.3.2), or
    ``None`` when the proof cannot be one of a tree of ``size``."""
    if not 0 <= index < size or len(leaf) != HASH_SIZE or any(len(p) != HASH_SIZE for p in proof):
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes) -> bool:
    found = root_from_inclusion(index, size, leaf, proof)
    return found is not None and found == expected_root


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> bool:
    """Whether ``proof`` shows the tree of ``size2`` with ``root2`` extends the one of ``size1`` with
    ``root1`` (RFC 9162 2.1.4.2)."""
    if size1 <= 0 or size2 < size1 or any(len(p) != HASH_SIZE for p in proof):
        return False  # from an empty tree, a proof says nothing
    if size1 == size2:
        return not proof and root1 == root2
    if not proof:
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == root1 and sr == root2


class Frontier:
    """A tree grown one leaf at a time, keeping only the roots of its perfect subtrees (one per set
    bit of its size): its root at every size costs O(log n) memory, as a verifier walking the log needs."""

    __slots__ = ("nodes", "size")

    def __init__(self) -> None:
        self.size = 0
        self.nodes: list[tuple[int, bytes]] = []  # (level, hash), left to right

    def append(self, leaf: bytes) -> None:
        """Adds a leaf hash (``leaf_hash`` of the leaf)."""
        level, carry, index = 0, leaf, self.size
        while index & 1:
            _, left = self.nodes.pop()
            carry = node_hash(left, carry)
            level, index = level + 1, index >> 1
        self.nodes.append((level, carry))
        self.size += 1

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        value = self.nodes[-1][1]
        for _, left in reversed(self.nodes[:-1]):
            value = node_hash(left, value)
        return value
