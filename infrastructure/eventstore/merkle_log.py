"""The log's Merkle tree, kept in a table so that roots and proofs are answered fast.

``casejourney_merkle`` holds every leaf hash (level 0, with the stored event's position) and the
hash of every **perfect** subtree above them: node ``(level, idx)`` covers the leaves
``[idx * 2**level, (idx + 1) * 2**level)``. Any root or proof of RFC 9162 is made of such nodes
(``merkle.inclusion_path`` and ``consistency_path`` only ever ask for ranges that start at a
multiple of a power of two at least their length), so a proof reads O(log² n) nodes and no
leaf beyond them.

``grow()`` follows the log: it reads the stored events after the last leaf (raw rows, never
decrypted: the leaves cover ciphertext, so an erasure never changes one), hashes each leaf with
``merkle.event_leaf``, and inserts the leaf and the nodes it completes, a batch per transaction.
Every row is a pure function of the log, so two processes growing it at once insert the same rows
(``ON CONFLICT DO NOTHING``), and a grow killed mid-way is resumed by the next from its last leaf.
It is a follower, off the write path: the commands pay nothing for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from psycopg.sql import SQL, Identifier

from infrastructure.eventstore import merkle
from infrastructure.eventstore.personal_data import SideTable

BATCH = 5_000
T = TypeVar("T")


class MerkleLog(SideTable):
    """The stored tree of the log of ``recorder`` (a chained recorder: ``chain_rows``)."""

    NAME = "casejourney_merkle"

    def __init__(self, recorder: Any) -> None:
        super().__init__(recorder)
        blob = "bytea" if self.postgres else "BLOB"
        if not self.ddl:
            return
        with self._cursor() as c:
            if self.postgres:  # processes starting at once would race on CREATE TABLE: one at a time
                c.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ddl:{recorder.datastore.schema}.merkle",))
            c.execute(
                self._sql(
                    "CREATE TABLE IF NOT EXISTS {t} (level INTEGER NOT NULL, idx BIGINT NOT NULL,"
                    f" hash {blob} NOT NULL, position BIGINT, PRIMARY KEY (level, idx))"
                )
            )
            if self.postgres:
                c.execute(
                    SQL("CREATE UNIQUE INDEX IF NOT EXISTS {i} ON {t} (position) WHERE level = 0").format(
                        i=Identifier(f"{self.NAME}_position"), t=self.table
                    )
                )
            else:
                c.execute(
                    "CREATE UNIQUE INDEX IF NOT EXISTS casejourney_merkle_position ON casejourney_merkle (position)"
                    " WHERE level = 0"
                )

    # ------------------------------------------------------------------ reading

    @property
    def _by_position(self) -> str:
        """SQLite's planner takes the primary key (level = 0: every leaf) over the partial index on
        position once an IN list is long (222 ms against 3 ms for 500 positions in a 1M-leaf tree)."""
        return "" if self.postgres else " INDEXED BY casejourney_merkle_position"

    def head(self) -> tuple[int, int]:
        """(number of leaves, position of the last leaf's event); (0, 0) for an empty tree."""
        with self._cursor() as c:
            c.execute(self._sql("SELECT idx, position FROM {t} WHERE level = 0 ORDER BY idx DESC LIMIT 1"))
            row = c.fetchone()
        if row is None:
            return 0, 0
        idx, position = (row["idx"], row["position"]) if self.postgres else row
        return int(idx) + 1, int(position)

    def _nodes(self, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored hashes of the nodes ``wanted``, by index lookups: on PostgreSQL one query (a join
        with the wanted pairs, unnested), on SQLite one per level (in-process, each a few µs). An
        ``OR`` of (level, idx) pairs would scan the table on both once it is large."""
        keys = list(dict.fromkeys(wanted))
        found: dict[tuple[int, int], bytes] = {}
        if not keys:
            return found
        with self._cursor() as c:
            if self.postgres:
                c.execute(
                    SQL(
                        "SELECT t.level, t.idx, t.hash FROM {t} t"
                        " JOIN unnest(%s::integer[], %s::bigint[]) AS w(level, idx) USING (level, idx)"
                    ).format(t=self.table),
                    ([k[0] for k in keys], [k[1] for k in keys]),
                )
                for row in c.fetchall():
                    found[(int(row["level"]), int(row["idx"]))] = bytes(row["hash"])
                return found
            by_level: dict[int, list[int]] = {}
            for level, idx in keys:
                by_level.setdefault(level, []).append(idx)
            for level, indexes in by_level.items():
                for i in range(0, len(indexes), 500):
                    chunk = indexes[i : i + 500]
                    marks = ", ".join("?" * len(chunk))
                    c.execute(
                        f"SELECT idx, hash FROM {self.NAME} WHERE level = ? AND idx IN ({marks})", [level, *chunk]
                    )
                    for idx, value in c.fetchall():
                        found[(level, int(idx))] = bytes(value)
        return found

    def _computed(self, compute: Callable[[Callable[[int, int], bytes]], T]) -> T:
        """``compute(mth)`` over the stored nodes, every node it needs read in a few batched queries:
        a first pass with placeholder hashes finds which nodes those are (the ranges a root or a
        proof asks for depend only on the sizes and indexes, never on the hashes)."""
        wanted: set[tuple[int, int]] = set()

        def plan(level: int, idx: int) -> bytes:
            wanted.add((level, idx))
            return merkle.EMPTY_ROOT

        compute(_range_root(plan))
        found = self._nodes(wanted)

        def node(level: int, idx: int) -> bytes:
            try:
                return found[(level, idx)]
            except KeyError:
                raise LookupError(f"the tree has no node {level}/{idx}: grow it first") from None

        return compute(_range_root(node))

    def inclusion_proofs(self, indexes: Iterable[int], size: int) -> dict[int, list[bytes]]:
        """The inclusion proof of each leaf of ``indexes`` in the tree of ``size`` leaves (a case's
        proofs share most of their nodes: each is read once)."""
        indexes = list(indexes)
        return self._computed(lambda mth: {i: merkle.inclusion_path(i, size, mth) for i in indexes})

    def root(self, size: int) -> bytes:
        return self._computed(lambda mth: mth(0, size))

    def leaf_index(self, position: int) -> int | None:
        """The leaf of the event stored at ``position``, if the tree has it."""
        with self._cursor() as c:
            c.execute(
                self._sql("SELECT idx FROM {t}" + self._by_position + " WHERE level = 0 AND position = ?"), (position,)
            )
            row = c.fetchone()
        return None if row is None else int(row["idx"] if self.postgres else row[0])

    def leaf_indexes(self, positions: Iterable[int]) -> dict[int, int]:
        """The leaf of each event stored at ``positions`` that the tree has: {position: index}."""
        positions = list(dict.fromkeys(positions))
        found: dict[int, int] = {}
        for i in range(0, len(positions), 500):
            chunk = positions[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            with self._cursor() as c:
                c.execute(
                    self._sql(
                        f"SELECT position, idx FROM {{t}}{self._by_position} WHERE level = 0 AND position IN ({marks})"
                    ),
                    chunk,
                )
                for row in c.fetchall():
                    position, idx = (row["position"], row["idx"]) if self.postgres else row
                    found[int(position)] = int(idx)
        return found

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self.inclusion_proofs([index], size)[index]

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return self._computed(lambda mth: merkle.consistency_path(size1, size2, mth))

    def leaf(self, index: int) -> bytes:
        return self._computed(lambda mth: mth(index, index + 1))

    # ------------------------------------------------------------------ growing

    def grow(self, *, until: int | None = None, progress: Callable[[int], None] | None = None) -> int:
        """Adds the events stored since the last leaf (up to position ``until``, if given: the head a
        verification saw); returns how many leaves it added."""
        size, last_position = self.head()
        # The frontier: the roots of the perfect subtrees that make up the tree of ``size`` leaves
        # (one per set bit of ``size``), left to right, as (level, idx, hash).
        wanted = []
        start = 0
        for level in reversed(range(size.bit_length())):
            if size >> level & 1:
                wanted.append((level, start >> level))
                start += 1 << level
        stored = self._nodes(wanted)
        frontier = [(level, idx, stored[(level, idx)]) for level, idx in wanted]
        added = 0
        rows: list[tuple[int, int, bytes, int | None]] = []
        for event in self.recorder.chain_rows(after=last_position):
            if until is not None and event.position > until:
                break
            value = merkle.leaf_hash(
                merkle.event_leaf(event.position, event.originator_id, event.version, event.topic, bytes(event.state))
            )
            index = size + added
            rows.append((0, index, value, event.position))
            level, idx, carry = 0, index, value
            while idx & 1:  # a right child: it completes its parent, and maybe more above
                left_level, _, left = frontier.pop()
                assert left_level == level
                carry = merkle.node_hash(left, carry)
                level, idx = level + 1, idx >> 1
                rows.append((level, idx, carry, None))
            frontier.append((level, idx, carry))
            added += 1
            if len(rows) >= BATCH:
                self._insert(rows)
                rows = []
                if progress is not None:
                    progress(size + added)
        if rows:
            self._insert(rows)
        if progress is not None and added:
            progress(size + added)
        return added

    def _insert(self, rows: list[tuple[int, int, bytes, int | None]]) -> None:
        if self.postgres:
            # One statement of four arrays, sent in binary: a row-by-row ``executemany`` (even pipelined) cost a
            # follower 13 ms per 180 new events, mostly in the driver, taken from the command path.
            levels, idxs, hashes, positions = (list(column) for column in zip(*rows, strict=True))
            insert = SQL(
                "INSERT INTO {t} (level, idx, hash, position)"
                " SELECT * FROM unnest(%b::integer[], %b::bigint[], %b::bytea[], %b::bigint[]) ON CONFLICT DO NOTHING"
            ).format(t=self.table)
            with self._cursor() as c:
                c.execute(insert, (levels, idxs, hashes, positions))
            return
        insert = self._sql("INSERT INTO {t} (level, idx, hash, position) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
        with self._cursor() as c:
            c.executemany(insert, rows)


def _range_root(node: Callable[[int, int], bytes]) -> Callable[[int, int], bytes]:
    """``mth(start, end)`` of RFC 9162 made of perfect subtrees, each ``node(level, idx)``; the
    composed ranges are memoised, as the proofs of one case share most of them."""
    memo: dict[tuple[int, int], bytes] = {}

    def mth(start: int, end: int) -> bytes:
        size = end - start
        if size <= 0:
            return merkle.EMPTY_ROOT
        if size & (size - 1) == 0 and start % size == 0:
            level = size.bit_length() - 1
            return node(level, start >> level)
        found = memo.get((start, end))
        if found is None:
            k = 1 << ((size - 1).bit_length() - 1)
            found = memo[(start, end)] = merkle.node_hash(mth(start, start + k), mth(start + k, end))
        return found

    return mth
