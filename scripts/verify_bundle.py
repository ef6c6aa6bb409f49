#!/usr/bin/env python3
"""Check a case-journey evidence bundle, on its own: one file, Python 3.11+ and `cryptography`.

    python3 verify_bundle.py BUNDLE.json --public-key 'casejourney.example/log+1a2b3c4d+AW...'
    python3 verify_bundle.py BUNDLE.json --public-key-file verifier.key [--case CASE_ID]

For people outside the service (an auditor, a complaints reviewer, the Independent Case Examiner):
copy this file, get the service's verifier key from its operator through a channel of your own
(never from the bundle), and run it. Exit 0: every event of the bundle is, byte for byte, in the
log the service signed, and what the bundle shows of each is what the service sealed. Exit 1: the
first thing that does not hold is named. Exit 2: no key, or no file.

It is written apart from the service's own code on purpose (from the format in the service's
`infrastructure/audit/bundle.py` and RFC 9162), so that a mistake in one is not repeated in the
other; the service's tests run both on the same bundles and require them to agree.

What it checks, in order:
1. the checkpoint (a C2SP signed note: origin, tree size, root hash, time) is signed by the key;
2. the seal (a signed note over SHA-256 hashes of the bundle's header and of each event's entry,
   canonical JSON) is signed by the key and is of this case;
3. each event, in order: it is version 1, 2, 3... of the case, later in the log than the one
   before, its leaf hash is that of its stored bytes (RFC 9162 leaf of the service's leaf
   encoding), the checkpoint covers it, its inclusion proof leads to the checkpoint's root, and its
   entry is the one sealed;
4. no sealed event is missing, the header is the one sealed, and the service found the record
   verified when it wrote the bundle.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import struct
import sys
import uuid
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "casejourney-evidence-bundle/1"
DASH = "\u2014 "


class Broken(Exception):
    pass


# --------------------------------------------------------------------------- keys and signed notes


def parse_verifier_key(text: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """``name+hash+base64(0x01 || public key)``: the C2SP verifier key of an Ed25519 signer."""
    name, _, rest = text.strip().partition("+")
    key_hash, _, encoded = rest.partition("+")  # base64 may hold a "+": split twice only
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise ValueError("a verifier key is name+hash+key (base64)") from None
    if len(raw) != 33 or raw[0] != 1:
        raise ValueError("not an Ed25519 verifier key")
    expected = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if key_hash != expected.hex():
        raise ValueError("the key's hash does not match its name and key")
    return name, expected, Ed25519PublicKey.from_public_bytes(raw[1:])


def open_note(note: str, key: tuple[str, bytes, Ed25519PublicKey], what: str) -> str:
    """The text of a signed note, if the key signed it."""
    name, key_hash, public = key
    text, sep, signatures = note.rpartition("\n\n")
    if not sep:
        raise Broken(f"{what} is not a signed note")
    for line in signatures.splitlines():
        if not line.startswith(DASH):
            raise Broken(f"{what} has a line that is not a signature")
        signer, _, encoded = line[len(DASH) :].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise Broken(f"{what} has a signature that is not base64") from None
        if signer != name or raw[:4] != key_hash:
            continue
        try:
            public.verify(raw[4:], (text + "\n").encode())
        except InvalidSignature:
            raise Broken(f"{what} has an invalid signature by the trusted key {name}+{key_hash.hex()}") from None
        return text + "\n"
    raise Broken(f"{what} is not signed by the trusted key {name}+{key_hash.hex()} (another key signed it?)")


# --------------------------------------------------------------------------- the Merkle tree (RFC 9162)


def leaf_hash(position: int, case: uuid.UUID, version: int, topic: str, stored: bytes) -> bytes:
    t = topic.encode()
    leaf = b"cj-leaf-v1" + struct.pack(">q", position) + case.bytes + struct.pack(">qI", version, len(t)) + t + stored
    return hashlib.sha256(b"\x00" + leaf).digest()


def root_from_proof(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes | None:
    """RFC 9162 section 2.1.3.2: the root an inclusion proof leads to, or None if it cannot."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


# --------------------------------------------------------------------------- the bundle


def sha(value: object) -> str:
    return hashlib.sha256(
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()


def get(obj: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or name not in obj:
        raise Broken(f"not a complete bundle: {where} has no {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Broken(f"not a well-formed bundle: {where}.{name} has the wrong type")
    return value


def digest32(text: Any, what: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except (TypeError, ValueError):
        raise Broken(f"{what} is not hexadecimal") from None
    if len(value) != 32:
        raise Broken(f"{what} is not a 32-byte hash")
    return value


def check(text: str, key: tuple[str, bytes, Ed25519PublicKey], case: str | None = None) -> str:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise Broken(f"not a bundle: not valid JSON ({exc}); is the file truncated?") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise Broken(f"not a bundle: its format is not {FORMAT}")
    body = get(data, "body", dict, "the bundle")
    seal = get(data, "seal", str, "the bundle")
    note = get(body, "checkpoint", (str, type(None)), "the body")
    if note is None:
        raise Broken("the bundle has no checkpoint: nothing proves its events are in the log")
    lines = open_note(note, key, "the checkpoint").split("\n")
    if len(lines) < 4 or not lines[1].isdigit():
        raise Broken("the checkpoint is not an origin, a size and a root hash")
    size, root = int(lines[1]), base64.b64decode(lines[2])
    signed_at = next((line[5:] for line in lines[3:] if line.startswith("time ")), "(no time)")
    sealed = open_note(seal, key, "the bundle's seal").splitlines()
    case_id = get(body, "case_id", str, "the body")
    if sealed[:2] != [FORMAT, f"case {case_id}"]:
        raise Broken(f"the seal is not of this bundle's case {case_id}")
    if case is not None and case_id != case:
        raise Broken(f"this bundle is of case {case_id}, not of case {case}")
    try:
        case_uuid = uuid.UUID(case_id)
    except ValueError:
        raise Broken("the bundle's case id is not a UUID") from None
    sealed_events = {}
    for line in sealed[3:]:
        parts = line.split(" ")
        if len(parts) == 3:
            sealed_events[parts[1]] = parts[2]
    events = get(body, "events", list, "the body")
    last_position = 0
    for place, entry in enumerate(events, 1):
        where = f"event {place}"
        version = get(entry, "version", int, where)
        position = get(entry, "position", int, where)
        label = f"event {version} (position {position})"
        if version != place:
            raise Broken(f"{where} of the bundle is version {version}: events missing or reordered")
        if position <= last_position:
            raise Broken(f"{label} comes before the event preceding it in the log: events reordered")
        last_position = position
        try:
            stored = base64.b64decode(get(entry, "stored", str, where), validate=True)
        except ValueError:
            raise Broken(f"{label}: its stored bytes are not base64") from None
        leaf = leaf_hash(position, case_uuid, version, get(entry, "topic", str, where), stored)
        if leaf != digest32(get(entry, "leaf_hash", str, where), f"{label}: its leaf hash"):
            raise Broken(f"{label}: its leaf hash is not that of its stored bytes, case, place and topic")
        index = get(entry, "leaf_index", (int, type(None)), where)
        if index is None or index >= size:
            raise Broken(
                f"{label} is not in the checkpoint of {size} events: the checkpoint is older than the events"
                " it is given for"
            )
        proof = [digest32(p, f"{label}: its inclusion proof") for p in get(entry, "inclusion_proof", list, where)]
        if root_from_proof(index, size, leaf, proof) != root:
            raise Broken(
                f"{label}: its inclusion proof does not lead to the checkpoint's root: these are not the bytes"
                " the log signed"
            )
        if sealed_events.get(str(version)) != sha(entry):
            raise Broken(f"{label}: what the bundle shows of it was changed after the bundle was sealed")
    if len(events) < len(sealed_events):
        raise Broken(
            f"event {len(events) + 1} is missing: the seal lists {len(sealed_events)} events, the bundle holds"
            f" {len(events)} (truncated)"
        )
    header = {k: v for k, v in body.items() if k != "events"}
    if len(sealed) < 3 or sealed[2] != f"header {sha(header)}":
        raise Broken("the bundle's header (its reader, checkpoint, views or integrity) was changed after it was sealed")
    integrity = get(body, "integrity", dict, "the body")
    if integrity.get("verified") is not True:
        problems = integrity.get("problems") or ["(no reason given)"]
        raise Broken(f"the service found this record broken when it wrote the bundle: {problems[0]}")
    return (
        f"case {case_id}: {len(events)} events, each proved in the checkpoint of {size} events"
        f" signed {signed_at} by {key[0]}+{key[1].hex()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a case-journey evidence bundle offline.")
    parser.add_argument("bundle", help="the bundle file (JSON)")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--public-key", help="the service's verifier key: name+hash+key")
    group.add_argument("--public-key-file", help="a file holding the verifier key")
    parser.add_argument("--case", help="refuse a bundle that is not of this case id")
    args = parser.parse_args(argv)
    try:
        if args.public_key:
            key_text = args.public_key
        else:
            with open(args.public_key_file, encoding="utf-8") as f:
                key_text = f.read()
        key = parse_verifier_key(key_text)
    except (OSError, ValueError) as exc:
        print(f"error: the verifier key cannot be used: {exc}", file=sys.stderr)
        return 2
    try:
        with open(args.bundle, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.bundle}: {exc}", file=sys.stderr)
        return 2
    try:
        print(f"OK {check(text, key, args.case)}")
    except Broken as exc:
        print(f"BROKEN {args.bundle}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
