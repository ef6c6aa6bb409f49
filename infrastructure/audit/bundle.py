"""The evidence bundle: one case's record in one file an auditor checks offline, with a public key.

``casejourney export CASE --bundle FILE`` and ``GET /cases/{id}/evidence-bundle`` write it;
``casejourney verify-bundle FILE`` and the standalone ``scripts/verify_bundle.py`` check it. A
bundle (``casejourney-evidence-bundle/1``) is JSON, ``{"format", "body", "seal"}``:

- ``body.checkpoint``: the signed checkpoint (C2SP signed note: origin, tree size, root, time,
  access-log head) the events are proved against; ``body.key``: the id (name+hash) of its key;
- ``body.events``: every event of the case in order (versions 1..n, or those recorded by
  ``as_of``), each with its position in the log, its topic, its stored bytes (base64: ciphertext
  where encrypted), its leaf hash, its leaf index and its inclusion proof (RFC 9162), and what the
  reader was shown of it (``shown``: kind, times, actor, what, why, and for a correction the
  version it corrects; free text ``[erased]`` after an erasure), or the problem found decoding it;
- ``body.reader``: who read it, in which role, for what purpose and when (the read is recorded in
  the access log before the bundle is written); ``body.as_of`` and ``body.views``: the team
  assignment and safeguarding history replayed at that moment;
- ``body.integrity``: what the service found verifying the case when it wrote the bundle;
- ``seal``: a signed note, under the checkpoint key, over the SHA-256 of the body's header (all
  but the events) and of each event's entry (canonical JSON: sorted keys, no spaces, UTF-8). The
  proofs tie the stored bytes to the signed log; the seal ties what was shown to them, so an edit
  anywhere in the file is found and named.

What a bundle proves, and what it does not, is in ``docs/threat-model.md``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.case.aggregate import Case
from infrastructure.audit.evidence import CaseEvidence, EventEvidence
from infrastructure.eventstore import merkle
from infrastructure.eventstore.signed_note import Checkpoint, NoteError, Signer, Verifier, open_note, sign_note
from projections.describe import what, why

FORMAT = "casejourney-evidence-bundle/1"


def canonical(value: Any) -> bytes:
    """The bytes the seal hashes: JSON with sorted keys and no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def _plain(value: Any) -> Any:
    """``value`` as JSON types only (times as ISO 8601 with their offset)."""

    def default(obj: Any) -> Any:
        if isinstance(obj, datetime):
            return obj.isoformat()
        if isinstance(obj, set | frozenset | tuple):
            return sorted(obj, key=str)
        return str(obj)

    return json.loads(json.dumps(value, default=default))


def _shown(e: EventEvidence) -> dict[str, Any] | None:
    event = e.event
    if event is None:
        return None
    return {
        "kind": type(event).__name__,
        "occurred_at": event.occurred_at.isoformat(),
        "recorded_at": event.timestamp.isoformat(),
        "actor": event.actor_id,
        "role": str(event.actor_role),
        "what": what(event),
        "why": why(event),
        **({"corrects": event.corrected_version} if isinstance(event, Case.EntryRecordedInError) else {}),
    }


def _entry(e: EventEvidence) -> dict[str, Any]:
    return {
        "position": e.row.position,
        "version": e.row.version,
        "topic": e.row.topic,
        "stored": base64.b64encode(bytes(e.row.state)).decode(),
        "leaf_hash": e.leaf_hash.hex(),
        "leaf_index": e.leaf_index if e.included is not None else None,
        "inclusion_proof": [p.hex() for p in e.proof],
        "shown": _shown(e),
        "problem": e.decode_problem,
    }


def seal_text(body: dict[str, Any]) -> str:
    """The text the seal signs: the header's hash, then one hash per event entry."""
    header = {k: v for k, v in body.items() if k != "events"}
    lines = [FORMAT, f"case {body['case_id']}", f"header {_digest(header)}"]
    lines += [f"event {entry['version']} {_digest(entry)}" for entry in body["events"]]
    return "\n".join(lines) + "\n"


def build_bundle(
    evidence: CaseEvidence,
    *,
    reader: dict[str, Any],
    as_of: datetime | None,
    views: dict[str, Any],
    signer: Signer,
) -> dict[str, Any]:
    """The bundle of the case's events (those recorded by ``as_of``, if given), sealed by ``signer``."""
    events = evidence.events
    if as_of is not None:
        cut = next(
            (i for i, e in enumerate(events) if e.event is not None and e.event.timestamp > as_of),
            len(events),
        )
        events = events[:cut]
    problems = evidence.problems()
    body = {
        "format": FORMAT,
        "case_id": str(evidence.case_id),
        "checkpoint": evidence.note,
        "key": evidence.key,
        "reader": _plain(reader),
        "as_of": as_of.isoformat() if as_of else None,
        "events": [_entry(e) for e in events],
        "views": _plain(views),
        "integrity": {"verified": not problems, "summary": evidence.summary(), "problems": problems},
    }
    return {"format": FORMAT, "body": body, "seal": sign_note(seal_text(body), signer)}


def dump(bundle: dict[str, Any]) -> str:
    return json.dumps(bundle, indent=1, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------- checking, offline


class BundleBroken(Exception):
    """The first thing in a bundle that does not hold, in words."""


@dataclass(frozen=True)
class BundleCheck:
    case_id: str
    events: int
    checkpoint: Checkpoint
    key: str
    reader: dict[str, Any]


def _field(obj: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or name not in obj:
        raise BundleBroken(f"not a complete bundle: {where} has no {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BundleBroken(f"not a well-formed bundle: {where}.{name} has the wrong type")
    return value


def _hex(text: Any, what_: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except (TypeError, ValueError):
        raise BundleBroken(f"{what_} is not hexadecimal") from None
    if len(value) != merkle.HASH_SIZE:
        raise BundleBroken(f"{what_} is not a 32-byte hash")
    return value


def check_bundle(text: str, trusted: Verifier, *, case_id: UUID | None = None) -> BundleCheck:
    """Checks a bundle against ``trusted`` (never a key it carries); ``BundleBroken`` names the first
    thing that fails: the checkpoint's or the seal's signature, the case, then each event in order
    (its place, its leaf, its checkpoint coverage, its inclusion proof, its sealed content)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BundleBroken(f"not a bundle: not valid JSON ({exc}); is the file truncated?") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BundleBroken(f"not a bundle: its format is not {FORMAT}")
    body = _field(data, "body", dict, "the bundle")
    seal = _field(data, "seal", str, "the bundle")
    key = f"{trusted.name}+{trusted.hash.hex()}"
    note = _field(body, "checkpoint", (str, type(None)), "the body")
    if note is None:
        raise BundleBroken("the bundle has no checkpoint: nothing proves its events are in the log")
    try:
        checkpoint = Checkpoint.parse(open_note(note, trusted))
    except NoteError as exc:
        raise BundleBroken(f"the checkpoint is not signed by the trusted key {key}: {exc}") from None
    try:
        sealed = open_note(seal, trusted).splitlines()
    except NoteError as exc:
        raise BundleBroken(f"the bundle's seal is not signed by the trusted key {key}: {exc}") from None
    bundle_case = _field(body, "case_id", str, "the body")
    if sealed[:2] != [FORMAT, f"case {bundle_case}"]:
        raise BundleBroken(f"the seal is not of this bundle's case {bundle_case}")
    if case_id is not None and bundle_case != str(case_id):
        raise BundleBroken(f"this bundle is of case {bundle_case}, not of case {case_id}")
    try:
        case_uuid = UUID(bundle_case)
    except ValueError:
        raise BundleBroken("the bundle's case id is not a UUID") from None
    events: Sequence[Any] = _field(body, "events", list, "the body")
    sealed_events = {}
    for line in sealed[3:]:
        _, version, digest = [*line.split(" "), "", "", ""][:3]
        sealed_events[version] = digest
    previous_position = 0
    for place, entry in enumerate(events, 1):
        _check_event(place, entry, case_uuid, checkpoint, previous_position, sealed_events)
        previous_position = entry["position"]
    if len(events) < len(sealed_events):
        raise BundleBroken(
            f"event {len(events) + 1} is missing: the seal lists {len(sealed_events)} events, the bundle holds"
            f" {len(events)} (truncated)"
        )
    header = {k: v for k, v in body.items() if k != "events"}
    if len(sealed) < 3 or sealed[2] != f"header {_digest(header)}":
        raise BundleBroken(
            "the bundle's header (its reader, checkpoint, views or integrity) was changed after it was sealed"
        )
    integrity = _field(body, "integrity", dict, "the body")
    if integrity.get("verified") is not True:
        problems = integrity.get("problems") or ["(no reason given)"]
        raise BundleBroken(f"the service found this record broken when it wrote the bundle: {problems[0]}")
    return BundleCheck(bundle_case, len(events), checkpoint, key, _field(body, "reader", dict, "the body"))


def _check_event(
    place: int,
    entry: Any,
    case_id: UUID,
    checkpoint: Checkpoint,
    previous_position: int,
    sealed: dict[str, str],
) -> None:
    where = f"event {place}"
    version = _field(entry, "version", int, where)
    position = _field(entry, "position", int, where)
    label = f"event {version} (position {position})"
    if version != place:
        raise BundleBroken(f"{where} of the bundle is version {version}: events missing or reordered")
    if position <= previous_position:
        raise BundleBroken(f"{label} comes before the event preceding it in the log: events reordered")
    topic = _field(entry, "topic", str, where)
    try:
        stored = base64.b64decode(_field(entry, "stored", str, where), validate=True)
    except binascii.Error:
        raise BundleBroken(f"{label}: its stored bytes are not base64") from None
    leaf = merkle.leaf_hash(merkle.event_leaf(position, case_id, version, topic, stored))
    if leaf != _hex(_field(entry, "leaf_hash", str, where), f"{label}: its leaf hash"):
        raise BundleBroken(f"{label}: its leaf hash is not that of its stored bytes, case, place and topic")
    index = _field(entry, "leaf_index", (int, type(None)), where)
    if index is None or index >= checkpoint.size:
        raise BundleBroken(
            f"{label} is not in the checkpoint of {checkpoint.size} events: the checkpoint is older than the"
            " events it is given for"
        )
    proof = [_hex(p, f"{label}: its inclusion proof") for p in _field(entry, "inclusion_proof", list, where)]
    if not merkle.verify_inclusion(index, checkpoint.size, leaf, proof, checkpoint.root):
        raise BundleBroken(
            f"{label}: its inclusion proof does not lead to the checkpoint's root: these are not the bytes the"
            " log signed"
        )
    if sealed.get(str(version)) != _digest(entry):
        raise BundleBroken(f"{label}: what the bundle shows of it was changed after the bundle was sealed")


# ---------------------------------------------------------------------------- writing, in the service


def case_bundle(
    app: Any,
    settings: Any,
    access_log: Any,
    case_id: UUID,
    *,
    reader: dict[str, Any],
    as_of: datetime | None = None,
    evidence: CaseEvidence | None = None,
    primary: Any = None,
) -> dict[str, Any]:
    """The sealed bundle of ``case_id`` for ``reader`` (whose read the caller has recorded).

    If no checkpoint covers the case's events yet, one is signed first (``sign_verified``: only of a
    store that verifies whole); if the store does not verify, the bundle is still written, with the
    events no checkpoint covers and the problem found, so the auditor sees the failure. ``app`` may
    read a copy (a standby, a reader role): the checkpoint is then signed and kept on ``primary``,
    and the case's evidence taken there, so a copy's lag never leaves the events uncovered."""
    from infrastructure.audit.evidence import case_evidence
    from infrastructure.audit.replay import replay_case
    from infrastructure.eventstore.checkpoints import checkpoint_signer, trusted_verifier
    from infrastructure.eventstore.store_check import sign_verified

    trusted = trusted_verifier(settings)
    if evidence is None:
        evidence = case_evidence(app, case_id, trusted)
    if evidence.checkpoint is None or evidence.uncovered():
        signs = primary if primary is not None else app
        note, _ = sign_verified(signs, access_log, settings, signs.clock())
        if note is not None:
            evidence = case_evidence(signs, case_id, trusted)
    replay = replay_case(app, case_id, as_of=as_of, events=evidence.decoded())
    views = {
        "moment": replay.moment,
        "version": replay.version,
        "team_assignment": replay.assignment,
        "safeguarding_history": replay.history,
    }
    return build_bundle(evidence, reader=reader, as_of=as_of, views=views, signer=checkpoint_signer(settings))
