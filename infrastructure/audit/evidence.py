"""One case's record, verified before it is shown: its chain, its events' inclusion in a checkpoint.

Every auditor artefact (``replay``, ``history``, ``export``, the evidence bundle, the HTTP case
view and timeline) starts here instead of trusting the decoded events. ``case_evidence`` reads the
case's stored rows raw, and for each one:

- checks the hash chain of the case (``integrity.verify_case``: an edited, deleted, inserted or
  moved event breaks it);
- decodes it separately, so an event whose stored bytes no longer decrypt is shown as such rather
  than stopping the page (a broken case still shows what is stored, marked as failed);
- recomputes its Merkle leaf from the stored bytes and, if the latest checkpoint (opened with the
  trusted key only) covers it, checks its inclusion proof against that checkpoint's root.

Proof nodes for all the case's events are fetched in a few batched queries, not one per event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.case.aggregate import Case
from domain.errors import CaseNotFound
from infrastructure.eventstore import merkle
from infrastructure.eventstore.checkpoints import Checkpoints
from infrastructure.eventstore.integrity import ChainRow, Verification, verify_case
from infrastructure.eventstore.merkle_log import MerkleLog
from infrastructure.eventstore.signed_note import Checkpoint, NoteError, Verifier, open_note
from projections.describe import readable_time


@dataclass(frozen=True)
class EventEvidence:
    """One stored event of the case, with what was found checking it."""

    row: ChainRow
    event: Case.Event | None  # None: the stored bytes do not decode
    decode_problem: str | None
    leaf_hash: bytes  # recomputed from the stored bytes
    leaf_index: int | None  # None: the tree does not have it yet
    proof: list[bytes] = field(default_factory=list)
    included: bool | None = None  # None: no checkpoint covers it yet

    @property
    def label(self) -> str:
        return f"event {self.row.version} (position {self.row.position})"


@dataclass(frozen=True)
class CaseEvidence:
    case_id: UUID
    events: list[EventEvidence]
    chain: Verification
    checkpoint: Checkpoint | None
    note: str | None  # the checkpoint's signed note, as stored
    key: str  # name+hash of the trusted key
    checkpoint_problem: str | None = None

    @property
    def checkpoint_time(self) -> str | None:
        return self.checkpoint.extension("time") if self.checkpoint else None

    def problems(self) -> list[str]:
        """What does not hold, the first event first (empty when verified)."""
        found: list[str] = []
        if self.checkpoint_problem:
            found.append(self.checkpoint_problem)
        if self.chain.first_break is not None:
            b = self.chain.first_break
            found.append(f"event {b.version} (position {b.position}): {b.problem}")
        for e in self.events:
            if e.included is False:
                found.append(
                    f"{e.label}: its stored bytes are not those the checkpoint of {self.checkpoint_size} events"
                    " signed (the inclusion proof fails): it was edited after it was signed"
                )
            if e.decode_problem:
                found.append(f"{e.label}: {e.decode_problem}")
        return found

    @property
    def ok(self) -> bool:
        return not self.problems()

    @property
    def checkpoint_size(self) -> int:
        return self.checkpoint.size if self.checkpoint else 0

    def uncovered(self) -> list[EventEvidence]:
        return [e for e in self.events if e.included is None]

    def decoded(self) -> list[Case.Event]:
        return [e.event for e in self.events if e.event is not None]

    def as_record(self) -> dict[str, Any]:
        """The verification as JSON: the verdict, the checkpoint, and each event's place and proof."""
        return {
            "verified": self.ok,
            "summary": self.summary(),
            "problems": self.problems(),
            "checkpoint": {"size": self.checkpoint.size, "time": self.checkpoint_time, "key": self.key}
            if self.checkpoint
            else None,
            "events": [
                {
                    "version": e.row.version,
                    "position": e.row.position,
                    "leaf_hash": e.leaf_hash.hex(),
                    "proved": e.included,
                    "problem": e.decode_problem,
                }
                for e in self.events
            ],
        }

    def summary(self) -> str:
        """One line: verified, and against what; or the first problem."""
        problems = self.problems()
        if problems:
            return f"FAILED VERIFICATION: {problems[0]}" + (
                f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            )
        covered = len(self.events) - len(self.uncovered())
        text = f"verified: {len(self.events)} events chained"
        if self.checkpoint is not None:
            text += (
                f"; {covered} of them proved in the checkpoint of {self.checkpoint.size} events"
                f" signed {readable_time(self.checkpoint_time)} by {self.key}"
            )
        if self.checkpoint is None:
            text += "; no checkpoint covers them yet (`casejourney checkpoint` signs one)"
        elif self.uncovered():
            text += f"; {len(self.uncovered())} recorded since, not yet in a checkpoint"
        return text


def _decoder(app: Any) -> Callable[[ChainRow], tuple[Case.Event | None, str | None]]:
    def decode(row: ChainRow) -> tuple[Case.Event | None, str | None]:
        stored = StoredEvent(
            originator_id=row.originator_id,
            originator_version=row.version,
            topic=row.topic,
            state=bytes(row.state),
        )
        try:
            return app.mapper.to_domain_event(stored), None
        except Exception as exc:  # any failure to decode is a finding about the stored bytes
            reason = str(exc).rsplit(": ", 1)[-1] or type(exc).__name__
            return None, f"its stored bytes cannot be decoded ({reason[:160]}): they were altered"

    return decode


def case_evidence(app: Any, case_id: UUID, trusted: Verifier) -> CaseEvidence:
    """The case's stored events, checked (chain, decoding, inclusion in the latest checkpoint)."""
    recorder = app.recorder
    rows: Sequence[tuple[ChainRow, bytes]] = recorder.case_chain_rows(case_id)
    if not rows:
        raise CaseNotFound(case_id)
    chain = verify_case(rows)
    checkpoint: Checkpoint | None = None
    note = Checkpoints(recorder).latest()
    problem = None
    if note is not None:
        try:
            checkpoint = Checkpoint.parse(open_note(note, trusted))
        except NoteError as exc:
            problem = f"the latest checkpoint does not verify against {trusted.name}+{trusted.hash.hex()}: {exc}"
            checkpoint = None
    tree = MerkleLog(recorder)
    indexes = tree.leaf_indexes([row.position for row, _ in rows])
    size = checkpoint.size if checkpoint else 0
    proofs = tree.inclusion_proofs([i for i in indexes.values() if i < size], size) if size else {}
    decode = _decoder(app)
    events = []
    for row, _ in rows:
        leaf = merkle.leaf_hash(merkle.event_leaf(row.position, row.originator_id, row.version, row.topic, row.state))
        index = indexes.get(row.position)
        event, decode_problem = decode(row)
        included = None
        proof: list[bytes] = []
        if checkpoint is not None and index is not None and index < size:
            proof = proofs[index]
            included = merkle.verify_inclusion(index, size, leaf, proof, checkpoint.root)
        events.append(EventEvidence(row, event, decode_problem, leaf, index, proof, included))
    return CaseEvidence(case_id, events, chain, checkpoint, note if checkpoint else None, _key_id(trusted), problem)


def _key_id(key: Verifier) -> str:
    return f"{key.name}+{key.hash.hex()}"
