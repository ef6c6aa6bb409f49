"""``casejourney verify``: every authoritative record of the store checked, not only the case log.

An operator's verification walks, in one pass each:

- **the case log**: its hash chain (``integrity.verify_log``), and, leaf by leaf, the Merkle tree
  of RFC 9162 over the same stored bytes (``merkle.Frontier``), whose root at each stored
  checkpoint's size must be the root that checkpoint signed;
- **the checkpoints**: each signed by the trusted key, none larger than the log, times in order of
  size, and the stored tree (which answers auditors' proofs) agreeing with the recomputed roots;
- **the access log** (reads of safeguarding histories and contact details, break-glass alerts):
  its own hash chain, so a deleted read is found like a deleted case event;
- **the chain heads** (SQLite keeps one row per log that the next append links to): at the last
  event, so a zeroed head is found before a genuine event is written after it;
- **the keys** (per-person and text keys): a key may disappear only with its recorded erasure. The
  log says which keys must exist (every party with personal data recorded, every text key a stored
  token names, every month of reads with text), and which were erased (``Customer.Erased``,
  ``TextErasures.TextErased``): a key row missing, or destroyed with no erasure recorded, is a break;
  an erasure recorded but its key still there (a run stopped between the two) is reported too.

The key check reads each stored event that can name a key through the store's cipher (payloads are
encrypted as a whole), never opening personal data or free text: it needs the operator's keys, as
``verify`` always has. Derived tables (read models, projection tracking) are not evidence and are
checked by ``projections verify`` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.access.aggregate import BreakGlassAlerts, CaseReads
from domain.customer.aggregate import Customer
from domain.retention.aggregate import TextErasures
from infrastructure.eventstore import merkle
from infrastructure.eventstore.case_text import TOKEN
from infrastructure.eventstore.catalogue import event_classes
from infrastructure.eventstore.checkpoints import Checkpoints
from infrastructure.eventstore.integrity import ChainRow, Verification, verify_log
from infrastructure.eventstore.merkle_log import MerkleLog
from infrastructure.eventstore.personal_data import PersonKeys
from infrastructure.eventstore.signed_note import Checkpoint, NoteError, Verifier, open_note

Rows = Callable[[Iterator[ChainRow], int], Iterator[ChainRow]]


@dataclass(frozen=True, slots=True)
class Finding:
    """One record's verdict: ``ok``, or the first thing wrong with it, in words."""

    record: str
    ok: bool
    detail: str


@dataclass
class StoreVerification:
    log: Verification
    findings: list[Finding] = field(default_factory=list)
    #: The Merkle root of the case log at each stored checkpoint's size, recomputed from the stored bytes.
    roots: dict[int, bytes] = field(default_factory=dict)
    tree_size: int = 0
    tree_root: bytes = merkle.EMPTY_ROOT
    #: The access log's head (position, chain hash) when it verified: what a checkpoint signs of it.
    access_head: tuple[int, bytes] | None = None

    @property
    def ok(self) -> bool:
        return self.log.ok and all(f.ok for f in self.findings)

    def first_problem(self) -> str | None:
        if not self.log.ok:
            assert self.log.first_break is not None
            return f"the case log: {self.log.first_break.describe()}"
        for finding in self.findings:
            if not finding.ok:
                return f"{finding.record}: {finding.detail}"
        return None


# ---------------------------------------------------------------------------- which events name keys

_PERSONAL = {c.TOPIC for c in event_classes().values() if getattr(c, "PERSONAL_DATA_FIELDS", ())}
_TEXT = {c.TOPIC for c in event_classes().values() if getattr(c, "TEXT_FIELDS", ())}
_ACCESS_TEXT = {
    c.TOPIC
    for c in (CaseReads.HistoryRead, CaseReads.ContactDetailsRead, BreakGlassAlerts.Raised, BreakGlassAlerts.Reviewed)
    if getattr(c, "TEXT_FIELDS", ())
}
_PERSON_ERASED = Customer.Erased.TOPIC
_TEXT_ERASED = TextErasures.TextErased.TOPIC


@dataclass
class _Keys:
    """What the log says about keys: which must exist, which were erased (and where that was said)."""

    needed: dict[str, int] = field(default_factory=dict)  # subject -> first position naming it
    erased: set[str] = field(default_factory=set)
    months: dict[str, int] = field(default_factory=dict)  # "reads:YYYY-MM" -> first position

    unreadable: list[str] = field(default_factory=list)  # events whose stored bytes do not decode

    def need(self, subject: str, position: int) -> None:
        self.needed.setdefault(subject, position)

    def collect(
        self, collect: Callable[[ChainRow, _Reader, _Keys], None], row: ChainRow, reader: _Reader, log: str
    ) -> None:
        """``collect`` what the row says of keys; a row that does not decode is noted, not fatal: an
        edited event is the chain's to name, and one whose chain holds is the keyring's problem."""
        try:
            collect(row, reader, self)
        except Exception:
            self.unreadable.append(f"position {row.position} of the {log}")


class _Reader:
    """The stored JSON of an event (decrypted, decompressed: never its sealed fields opened)."""

    def __init__(self, mapper: Any) -> None:
        self.mapper = mapper

    def raw(self, state: bytes) -> bytes:
        if self.mapper.cipher is not None:
            state = self.mapper.cipher.decrypt(state)
        if self.mapper.compressor is not None:
            state = self.mapper.compressor.decompress(state)
        return state

    def decode(self, state: bytes) -> dict[str, Any]:
        decoded: dict[str, Any] = self.mapper.transcoder.decode(self.raw(state))
        return decoded


def _collect_case_log(row: ChainRow, reader: _Reader, keys: _Keys) -> None:
    topic = row.topic
    if topic in _TEXT:
        for match in TOKEN.finditer(reader.raw(row.state).decode("utf-8", "replace")):
            keys.need(match.group(1), row.position)
    if topic in _PERSONAL:
        keys.need(str(reader.decode(row.state)["party_id"]), row.position)
    elif topic == _PERSON_ERASED:
        keys.erased.add(str(reader.decode(row.state)["party_id"]))
    elif topic == _TEXT_ERASED:
        keys.erased.update(str(k) for k in reader.decode(row.state)["keys"])


def _collect_access_log(row: ChainRow, reader: _Reader, keys: _Keys) -> None:
    if row.topic not in _ACCESS_TEXT:
        return
    found = False
    for match in TOKEN.finditer(reader.raw(row.state).decode("utf-8", "replace")):
        keys.need(match.group(1), row.position)  # the outer layer: the case's key
        found = True
    if found:
        month = _month(reader.decode(row.state).get("timestamp"))
        if month is not None:
            keys.months.setdefault(f"reads:{month}", row.position)


def _month(stamp: Any) -> str | None:
    if isinstance(stamp, datetime):
        return f"{stamp:%Y-%m}"
    if isinstance(stamp, str) and len(stamp) >= 7:
        return stamp[:7]
    return None


# ---------------------------------------------------------------------------- the walk


def verify_store(
    app: Any,
    access_log: Any,
    trusted: Verifier,
    *,
    rows: Rows | None = None,
    since: Checkpoint | None = None,
) -> StoreVerification:
    """Verifies the case log, its checkpoints and tree, the access log, the chain heads and the keys.

    ``app`` is the case journey, ``access_log`` the access-log application (``None``: not checked,
    said so), ``trusted`` the key checkpoints must be signed by; ``rows`` wraps a row iterator (and
    its expected total) to show progress; ``since``, a checkpoint kept elsewhere (already opened
    with a trusted key): the log must only have grown since it, as the stored ones.
    """
    recorder = app.recorder
    reader = _Reader(app.mapper)
    keys = _Keys()
    stored = Checkpoints(recorder).all()
    wanted = {size for size, _, _ in stored} | ({since.size} if since is not None else set())
    frontier = merkle.Frontier()
    roots: dict[int, bytes] = {}
    if 0 in wanted:
        roots[0] = merkle.EMPTY_ROOT

    def tapped(source: Iterable[ChainRow]) -> Iterator[ChainRow]:
        for row in source:
            frontier.append(
                merkle.leaf_hash(
                    merkle.event_leaf(row.position, row.originator_id, row.version, row.topic, bytes(row.state))
                )
            )
            if frontier.size in wanted:
                roots[frontier.size] = frontier.root()
            keys.collect(_collect_case_log, row, reader, "case log")
            yield row

    source: Iterator[ChainRow] = recorder.chain_rows()
    if rows is not None:
        source = rows(source, recorder.max_notification_id() or 0)
    log = verify_log(tapped(source))
    result = StoreVerification(log=log, roots=roots, tree_size=frontier.size, tree_root=frontier.root())
    if not log.ok:
        return result  # what follows would only repeat the break in other words
    result.findings.append(_check_head(recorder, log, "the case log's chain head"))
    opened = _open_checkpoints(stored, trusted)
    result.findings.append(_check_checkpoints(recorder, opened, roots, frontier.size, trusted))
    signed_reads = {position: (what, value) for what, position, value in _signed_reads(opened, since)}
    access_hashes: dict[int, bytes] = {}
    if access_log is None:
        result.findings.append(Finding("the access log", True, "not checked (no access log opened)"))
    else:
        access_reader = _Reader(access_log.mapper)
        tapped_access = _tap_access(access_log.recorder.chain_rows(), access_reader, keys, signed_reads, access_hashes)
        checked = verify_log(tapped_access)
        if checked.ok:
            result.access_head = (checked.head_position, checked.head_hash)
            result.findings.append(_check_signed_reads(checked, signed_reads, access_hashes))
            result.findings.append(_check_head(access_log.recorder, checked, "the access log's chain head"))
        else:
            assert checked.first_break is not None
            result.findings.append(Finding("the access log", False, checked.first_break.describe()))
    if keys.unreadable:
        result.findings.append(
            Finding(
                "the stored events",
                False,
                f"{len(keys.unreadable)} event(s) chained but not decodable (first at {keys.unreadable[0]}):"
                " the keyring is not the one they were written with",
            )
        )
    result.findings.append(_check_keys(app.person_keys, keys))
    if since is not None:
        result.findings.append(_check_since(since, roots, frontier.size))
    return result


Opened = list[tuple[int, str, Checkpoint | NoteError]]


def _open_checkpoints(stored: list[tuple[int, str, str]], trusted: Verifier) -> Opened:
    """Each stored checkpoint opened once with the trusted key: (size, issued at, checkpoint or why not)."""
    opened: Opened = []
    for size, issued_at, note in stored:
        try:
            opened.append((size, issued_at, Checkpoint.parse(open_note(note, trusted))))
        except NoteError as exc:
            opened.append((size, issued_at, exc))
    return opened


def _signed_reads(opened: Opened, since: Checkpoint | None) -> Iterator[tuple[str, int, bytes]]:
    """The access-log heads the checkpoints signed (``reads <position> <hash>``): (which, position, hash)."""
    trusted = [(f"the checkpoint of size {size}", c) for size, _, c in opened if isinstance(c, Checkpoint)]
    if since is not None:  # those that do not open are reported by the checkpoints' own check
        trusted.append(("the checkpoint you gave", since))
    for what, checkpoint in trusted:
        value = checkpoint.extension("reads")
        if value is None:
            continue
        position_text, _, hash_text = value.partition(" ")
        try:
            yield what, int(position_text), bytes.fromhex(hash_text)
        except ValueError:
            yield what, -1, b""


def _tap_access(
    source: Iterable[ChainRow],
    reader: _Reader,
    keys: _Keys,
    wanted: dict[int, Any],
    hashes: dict[int, bytes],
) -> Iterator[ChainRow]:
    for row in source:
        keys.collect(_collect_access_log, row, reader, "access log")
        if row.position in wanted and row.chain_hash is not None:
            hashes[row.position] = bytes(row.chain_hash)
        yield row


def _check_signed_reads(
    checked: Verification, signed: dict[int, tuple[str, bytes]], hashes: dict[int, bytes]
) -> Finding:
    record = "the access log"
    for position, (what, value) in sorted(signed.items()):
        if position == 0:
            continue  # signed when the access log was empty: nothing to lose
        if hashes.get(position) != value:
            return Finding(
                record,
                False,
                f"{what} signed its head at position {position}, which it no longer has: reads recorded"
                " before that checkpoint were deleted or changed",
            )
    return Finding(record, True, f"{checked.checked} events chained; head at position {checked.head_position}")


def _check_since(since: Checkpoint, roots: dict[int, bytes], size: int) -> Finding:
    record = "the checkpoint you gave"
    if since.size > size:
        return Finding(
            record, False, f"it covers {since.size} events but the log holds {size}: events it signed were deleted"
        )
    if roots.get(since.size) != since.root:
        return Finding(
            record,
            False,
            f"the first {since.size} stored events no longer give the root it signed: history before it was rewritten",
        )
    return Finding(record, True, f"the log has only grown since it ({since.size} events then, {size} now)")


def _check_head(recorder: Any, log: Verification, record: str) -> Finding:
    head = recorder.chain_head() if hasattr(recorder, "chain_head") else None
    if head is None:  # PostgreSQL links each append to the last stored row: no head row to keep
        return Finding(record, True, "none kept (each append links to the last stored event)")
    position, value = head
    if position != log.head_position or value != log.head_hash:
        return Finding(
            record,
            False,
            f"the stored head (position {position}, hash {value.hex()[:16]}...) is not the last event"
            f" (position {log.head_position}, hash {log.head_hash.hex()[:16]}...): it was edited, and the"
            " next event appended would be linked to the wrong place",
        )
    return Finding(record, True, f"at the last event (position {position})")


def _check_checkpoints(recorder: Any, stored: Opened, roots: dict[int, bytes], size: int, trusted: Verifier) -> Finding:
    record = "the checkpoints"
    if not stored:
        return Finding(record, True, "none made yet (casejourney checkpoint makes one)")
    last_time = ""
    for tree_size, issued_at, checkpoint in stored:
        if isinstance(checkpoint, NoteError):
            return Finding(record, False, f"the checkpoint of size {tree_size} does not verify: {checkpoint}")
        if checkpoint.size != tree_size:
            return Finding(record, False, f"the checkpoint kept as size {tree_size} says {checkpoint.size}")
        if tree_size > size:
            return Finding(
                record,
                False,
                f"the checkpoint of size {tree_size} covers more events than the log holds ({size}):"
                " events it signed were deleted",
            )
        if roots.get(tree_size) != checkpoint.root:
            return Finding(
                record,
                False,
                f"the checkpoint of size {tree_size} signed a root the stored events no longer give:"
                " events it covers were changed",
            )
        if issued_at < last_time:
            return Finding(record, False, f"the checkpoint of size {tree_size} is dated before a smaller one")
        last_time = issued_at
    tree = MerkleLog(recorder)
    grown, _ = tree.head()
    for tree_size, _, _ in stored:
        if tree_size <= grown and tree_size > 0 and tree.root(tree_size) != roots[tree_size]:
            return Finding(
                record,
                False,
                f"the stored Merkle tree gives another root at size {tree_size}: it was edited"
                " (rebuild it: it is derived from the log)",
            )
    last = stored[-1]
    return Finding(
        record,
        True,
        f"{len(stored)} signed by {trusted.name}; the latest covers {last[0]} events (signed {_when(last[1])})",
    )


def _when(stamp: str) -> str:
    """An ISO time as people read it: to the second, with its zone."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    return f"{moment:%Y-%m-%d %H:%M:%S} {moment.tzname() or ''}".rstrip()


def _check_keys(store: PersonKeys, keys: _Keys) -> Finding:
    record = "the keys"
    rows = store.subjects_starting("")
    for subject, position in sorted(keys.needed.items(), key=lambda kv: kv[1]):
        if subject not in rows:
            return Finding(
                record,
                False,
                f"the key of {subject} (named by the event at position {position}) is missing,"
                " and no erasure of it is recorded: its row was deleted",
            )
    for month, position in sorted(keys.months.items(), key=lambda kv: kv[1]):
        if not any(s == month or s.startswith(month + "/") for s in rows):
            return Finding(
                record,
                False,
                f"the read key {month} (needed by the access log's event at position {position}) is missing,"
                " and no erasure of it is recorded: its row was deleted",
            )
    for subject, destroyed in sorted(rows.items()):
        if destroyed and subject not in keys.erased:
            return Finding(record, False, f"the key of {subject} was destroyed, but no erasure of it is recorded")
    pending = sorted(s for s in keys.erased if s in rows and not rows[s])
    if pending:
        return Finding(
            record,
            False,
            f"an erasure is recorded but its key is still there: {', '.join(pending[:5])}"
            + (" ..." if len(pending) > 5 else "")
            + " (a run stopped half-way: run the erasure or `retention apply` again to complete it)",
        )
    erased = sum(1 for d in rows.values() if d)
    return Finding(record, True, f"{len(rows) - erased} kept, {erased} destroyed, each destruction recorded")


def sign_verified(app: Any, access_log: Any, settings: Any, at: datetime) -> tuple[str | None, StoreVerification]:
    """Verifies the whole store, then, only if it holds, signs and keeps a checkpoint of it (the
    case log's tree and the access log's head); returns (the note or ``None``, the verification).

    ``casejourney checkpoint`` and the service's periodic checkpoints both come through here: a
    broken store is never signed, so a checkpoint never vouches for a tampered record."""
    from infrastructure.eventstore.checkpoints import checkpoint_signer, make_checkpoint, trusted_verifier

    signer = checkpoint_signer(settings)
    result = verify_store(app, access_log, trusted_verifier(settings))
    if not result.ok:
        return None, result
    note = make_checkpoint(
        app.recorder,
        signer,
        settings.checkpoint_origin,
        at,
        until=result.log.head_position,
        reads=result.access_head,
    )
    return note, result
