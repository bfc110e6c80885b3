"""RFC 9162 proofs against Go x/mod/sumdb/tlog's vectors, plus mutation probes (each must fail)."""
import base64

import pytest

from greffe_client import VerificationError, leaf_hash, root_from_inclusion_proof, verify_consistency, verify_inclusion
from greffe_client.merkle import merkle_tree_hash


def d(text):
    return base64.b64decode(text)


def test_leaf_hashes_and_roots(rfc9162):
    entries = [d(e) for e in rfc9162["entries"]]
    leaves = [leaf_hash(e) for e in entries]
    assert [base64.b64encode(h).decode() for h in leaves] == rfc9162["leaf_hashes"][:len(entries)]
    all_leaves = [d(h) for h in rfc9162["leaf_hashes"]]
    checked = 0
    for r in rfc9162["roots"]:
        if r["tree_size"] <= len(all_leaves) and r["tree_size"] <= 1100:
            assert merkle_tree_hash(all_leaves[:r["tree_size"]]) == d(r["root"]), r["tree_size"]
            checked += 1
    assert checked > 50


def test_inclusion_vectors(rfc9162):
    for v in rfc9162["inclusion"]:
        verify_inclusion(v["index"], v["tree_size"], d(v["leaf_hash"]), [d(p) for p in v["proof"]], d(v["root"]))


def test_invalid_inclusion_vectors(rfc9162):
    for v in rfc9162["inclusion_invalid"]:
        with pytest.raises(VerificationError):
            verify_inclusion(v["index"], v["tree_size"], d(v["leaf_hash"]), [d(p) for p in v["proof"]], d(v["root"]))


def test_inclusion_mutations(rfc9162):
    probes = 0
    for v in rfc9162["inclusion"]:
        if not v["proof"]:
            continue
        i, n, leaf, proof, root = v["index"], v["tree_size"], d(v["leaf_hash"]), [d(p) for p in v["proof"]], d(v["root"])
        mutations = [
            (i + 1, n, leaf, proof, root), (i - 1, n, leaf, proof, root) if i else None, (i, n * 2, leaf, proof, root),
            (i, n, leaf, proof + [proof[0]], root), (i, n, leaf, [proof[0]] + proof, root), (i, n, leaf, proof[:-1], root),
            (i, n, leaf, proof, leaf), (i, n, root, proof, leaf),
        ]
        for k in range(len(proof)):
            flipped = list(proof)
            flipped[k] = bytes([flipped[k][0] ^ 1]) + flipped[k][1:]
            mutations.append((i, n, leaf, flipped, root))
        for m in mutations:
            if m is None:
                continue
            try:
                verify_inclusion(*m)
            except VerificationError:
                probes += 1
                continue
            pytest.fail("a mutated inclusion proof verified: %r" % ((m[0], m[1]),))
    assert probes > 1000


def test_inclusion_refuses_bad_positions():
    leaf = leaf_hash(b"x")
    with pytest.raises(VerificationError):
        root_from_inclusion_proof(1, 1, leaf, [])
    with pytest.raises(VerificationError):
        root_from_inclusion_proof(0, 0, leaf, [])
    with pytest.raises(VerificationError):
        root_from_inclusion_proof(0, 2, leaf, [b"short"])
    assert root_from_inclusion_proof(0, 1, leaf, []) == leaf


def test_consistency_vectors(rfc9162):
    for v in rfc9162["consistency"]:
        verify_consistency(v["first"], v["second"], d(v["first_root"]), d(v["second_root"]), [d(p) for p in v["proof"]])


def test_invalid_consistency_vectors(rfc9162):
    for v in rfc9162["consistency_invalid"]:
        with pytest.raises(VerificationError):
            verify_consistency(v["first"], v["second"], d(v["first_root"]), d(v["second_root"]), [d(p) for p in v["proof"]])


def test_consistency_mutations(rfc9162):
    probes = 0
    for v in rfc9162["consistency"]:
        m, n, r1, r2, proof = v["first"], v["second"], d(v["first_root"]), d(v["second_root"]), [d(p) for p in v["proof"]]
        if not proof or m == 0:
            continue
        # No size-only mutations: a proof for (m, n) may legitimately verify for (m, n + 1) against the *old* root,
        # a tree whose last node is a leaf; the roots are what pins the sizes (the invalid vectors cover sizes).
        mutations = [(m, n, r2, r1, proof), (m, n, r1, r2, proof[:-1]),
                     (m, n, r1, r2, proof + [proof[0]]), (m, n, r1, r2, [proof[0]] + proof)]
        for k in range(len(proof)):
            flipped = list(proof)
            flipped[k] = flipped[k][:-1] + bytes([flipped[k][-1] ^ 0x80])
            mutations.append((m, n, r1, r2, flipped))
        for mutation in mutations:
            if mutation[0] > mutation[1]:
                continue
            try:
                verify_consistency(*mutation)
            except VerificationError:
                probes += 1
                continue
            pytest.fail("a mutated consistency proof verified: %r" % ((mutation[0], mutation[1]),))
    assert probes > 1000


def test_consistency_edge_cases():
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    verify_consistency(3, 3, a, a, [])
    with pytest.raises(VerificationError):
        verify_consistency(3, 3, a, b, [])
    with pytest.raises(VerificationError):
        verify_consistency(3, 3, a, a, [b])
    with pytest.raises(VerificationError):
        verify_consistency(4, 3, a, b, [])
    with pytest.raises(VerificationError):
        verify_consistency(2, 3, a, b, [])
