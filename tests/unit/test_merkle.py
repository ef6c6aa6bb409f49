"""The Merkle tree of RFC 9162 section 2.1, against the published test vectors and by properties.

Given the vectors the Go reference implementation is tested with (tests/fixtures/merkle: happy
paths and their mutations), every one verifies or fails as it says; the proofs this module makes
for the same tree are exactly the published ones; and for random trees every leaf proves its
inclusion and every smaller size its consistency, while any altered byte fails.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infrastructure.eventstore import merkle

VECTORS = Path(__file__).parents[1] / "fixtures" / "merkle"
#: The leaves of RFC 6962's reference tests (certificate-transparency), from which the vectors' 8-leaf tree is made.
CT_LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657")] + [
    bytes.fromhex("606162636465666768696a6b6c6d6e6f")
]
CT_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


def b64(value: str) -> bytes:
    return base64.b64decode(value)


def cases(kind: str) -> list[Any]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert len(files) > 50  # the vectors are really there
    return [pytest.param(json.loads(f.read_text()), id=str(f.relative_to(VECTORS))) for f in files]


def ct_hashes(n: int) -> list[bytes]:
    return [merkle.leaf_hash(leaf) for leaf in CT_LEAVES[:n]]


def test_the_tree_heads_of_the_reference_tests() -> None:
    assert merkle.root([]) == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert {n: merkle.root(ct_hashes(n)).hex() for n in CT_ROOTS} == CT_ROOTS


@pytest.mark.parametrize("case", cases("inclusion"))
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    proof = [b64(p) for p in case["proof"] or []]
    ok = merkle.verify_inclusion(case["leafIdx"], case["treeSize"], b64(case["leafHash"]), proof, b64(case["root"]))
    assert ok is not case["wantErr"], case["desc"]
    if case["desc"] == "happy path":  # and the proof made here for the same tree is the published one
        assert merkle.inclusion_proof(case["leafIdx"], ct_hashes(case["treeSize"])) == proof


@pytest.mark.parametrize("case", cases("consistency"))
def test_consistency_vectors(case: dict[str, Any]) -> None:
    proof = [b64(p) for p in case["proof"] or []]
    ok = merkle.verify_consistency(case["size1"], case["size2"], proof, b64(case["root1"]), b64(case["root2"]))
    assert ok is not case["wantErr"], case["desc"]
    if case["desc"] == "happy path" and case["size2"] <= len(CT_LEAVES):
        assert merkle.consistency_proof(case["size1"], ct_hashes(case["size2"])) == proof


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_every_leaf_of_a_random_tree_proves_and_any_altered_byte_fails(data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(x) for x in data.draw(st.lists(st.binary(max_size=40), min_size=1, max_size=70))]
    head = merkle.root(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = merkle.inclusion_proof(index, leaves)
    assert merkle.verify_inclusion(index, len(leaves), leaves[index], proof, head)
    assert not merkle.verify_inclusion(
        index, len(leaves), _flip(leaves[index], data.draw(st.integers(0, 31))), proof, head
    )
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1))
        altered = [*proof[:at], _flip(proof[at], data.draw(st.integers(0, 31))), *proof[at + 1 :]]
        assert not merkle.verify_inclusion(index, len(leaves), leaves[index], altered, head)
        assert not merkle.verify_inclusion(index, len(leaves), leaves[index], proof[:-1], head)
    if len(leaves) > 1:  # the same proof does not pass for another leaf or another size
        other = (index + 1) % len(leaves)
        assert (
            not merkle.verify_inclusion(other, len(leaves), leaves[index], proof, head)
            or leaves[other] == leaves[index]
        )


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_every_smaller_size_of_a_random_tree_is_consistent_and_any_altered_byte_fails(data: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(x) for x in data.draw(st.lists(st.binary(max_size=40), min_size=1, max_size=70))]
    size1 = data.draw(st.integers(1, len(leaves)))
    old, new = merkle.root(leaves[:size1]), merkle.root(leaves)
    proof = merkle.consistency_proof(size1, leaves)
    assert merkle.verify_consistency(size1, len(leaves), proof, old, new)
    assert not merkle.verify_consistency(size1, len(leaves), proof, _flip(old, data.draw(st.integers(0, 31))), new)
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1))
        altered = [*proof[:at], _flip(proof[at], data.draw(st.integers(0, 31))), *proof[at + 1 :]]
        assert not merkle.verify_consistency(size1, len(leaves), altered, old, new)
    if size1 < len(leaves):  # a rewritten past is caught: change one of the old leaves
        at = data.draw(st.integers(0, size1 - 1))
        rewritten = [*leaves[:at], merkle.leaf_hash(b"rewritten" + leaves[at]), *leaves[at + 1 :]]
        assert not merkle.verify_consistency(
            size1, len(leaves), merkle.consistency_proof(size1, rewritten), old, merkle.root(rewritten)
        )


def test_proofs_are_refused_outside_the_tree() -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_proof(3, ct_hashes(3))
    with pytest.raises(ValueError):
        merkle.consistency_proof(0, ct_hashes(3))
    assert not merkle.verify_inclusion(0, 0, ct_hashes(1)[0], [], merkle.EMPTY_ROOT)


@given(st.integers(min_value=0, max_value=130))
def test_a_frontier_has_the_root_of_every_size(n: int) -> None:
    leaves = [merkle.leaf_hash(bytes([i % 256, i // 256])) for i in range(n)]
    frontier = merkle.Frontier()
    assert frontier.root() == merkle.EMPTY_ROOT
    for i, leaf in enumerate(leaves):
        frontier.append(leaf)
        assert frontier.size == i + 1
        assert frontier.root() == merkle.root(leaves[: i + 1])
