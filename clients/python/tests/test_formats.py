"""Signed notes, RFC 8785, and entry commitments (layouts 1 and 2) against the repository's vectors."""
import base64
import hashlib
import json
import os
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import ROOT, vector_file
from greffe_client import VerificationError, VerifierKey, canonicalize, decode_entry, open_checkpoint
from greffe_client.entry import check_body, check_disclosed_field, encode_path, field_salt, field_tree_root
from greffe_client.merkle import leaf_hash, node_hash


def test_vector_checkpoints_verify(rfc9162):
    cps = rfc9162["checkpoints"]
    roots = {r["tree_size"]: r["root"] for r in rfc9162["roots"]}
    assert len(cps["notes"]) >= 3
    for n in cps["notes"]:
        cp = open_checkpoint(n["note"], cps["verifier_key"])
        assert cp.tree_size == n["tree_size"] and cp.origin == "example.com/vectors"
        assert base64.b64encode(cp.root_hash).decode() == roots[n["tree_size"]]


def _tamper(note, old, new):
    assert old in note
    return note.replace(old, new, 1)


def test_checkpoint_refusals(rfc9162):
    cps = rfc9162["checkpoints"]
    note = cps["notes"][2]["note"]
    key = cps["verifier_key"]
    text, sig_line = note.split("\n\n")
    lines = text.split("\n")
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    from greffe_client.note import key_id
    wrong_key = "example.com/vectors+%s+%s" % (key_id("example.com/vectors", other).hex(), base64.b64encode(b"\x01" + other).decode())
    blob = sig_line.split(" ")[-1].strip()
    raw = bytearray(base64.b64decode(blob))
    raw[10] ^= 1
    tampered_sig = note.replace(blob, base64.b64encode(bytes(raw)).decode())
    root = base64.b64decode(lines[2])
    tampered_root = _tamper(note, lines[2], base64.b64encode(bytes([root[0] ^ 1]) + root[1:]).decode())
    cases = {
        "wrong key": (note, wrong_key),
        "tampered signature": (tampered_sig, key),
        "tampered root": (tampered_root, key),
        "tampered size": (_tamper(note, "\n%s\n" % lines[1], "\n%d\n" % (int(lines[1]) + 1)), key),
        "non-canonical size": (_tamper(note, "\n%s\n" % lines[1], "\n0%s\n" % lines[1]), key),
        "no signature block": (text + "\n", key),
        "no trailing newline": (note.rstrip("\n"), key),
    }
    for name, (n, k) in cases.items():
        with pytest.raises(VerificationError):
            open_checkpoint(n, k)
            pytest.fail(name)


def test_verifier_key_parsing(rfc9162):
    key = rfc9162["checkpoints"]["verifier_key"]
    assert str(VerifierKey.parse(key)) == key
    name, hexid, b = key.split("+")
    for bad in ["%s+%s" % (name, hexid), "%s+00000000+%s" % (name, b), "other.name+%s+%s" % (hexid, b),
                "%s+%s+%s" % (name, hexid, base64.b64encode(b"\x02" + base64.b64decode(b)[1:]).decode())]:
        with pytest.raises(VerificationError):
            VerifierKey.parse(bad)


def test_rfc8785_vectors():
    directory = vector_file("rfc8785")
    names = sorted(os.listdir(os.path.join(directory, "input")))
    assert names
    for name in names:
        with open(os.path.join(directory, "input", name), encoding="utf-8") as f:
            value = json.load(f)
        with open(os.path.join(directory, "output", name), "rb") as f:
            assert canonicalize(value) == f.read(), name


def test_es6_numbers():
    import math
    from greffe_client.jcs import format_number
    count = 0
    with open(vector_file("rfc8785", "es6-numbers.txt")) as f:
        for line in f:
            bits, expected = line.strip().split(",", 1)
            value = struct.unpack(">d", bytes.fromhex(bits.zfill(16)))[0]
            if math.isnan(value) or math.isinf(value):
                continue
            assert format_number(value) == expected, bits
            count += 1
    assert count > 30000


def test_field_tree_vectors():
    with open(os.path.join(ROOT, "Tests", "Vectors", "field-tree.json")) as f:
        vectors = json.load(f)["vectors"]
    assert vectors
    for v in vectors:
        salt = base64.b64decode(v["salt"])
        for fld in v["fields"]:
            p = encode_path(fld["path"])
            assert p.hex() == fld["encoded_path"]
            assert field_salt(salt, p).hex() == fld["field_salt"]
            assert leaf_hash(field_salt(salt, p) + p + canonicalize(fld["value"])).hex() == fld["leaf_hash"]
        assert field_tree_root(salt, v["body"]).hex() == v["commitment"]


def _entry(layout, index, commitment, kind, prev=bytes(32), t=1764000000000):
    k = kind.encode()
    return bytes([layout]) + struct.pack(">QQ", index, t) + prev + commitment + bytes([len(k)]) + k


def test_entry_commitments_and_single_fields():
    body = {"event_id": "e-1", "kind": "generation.requested", "decision": {"outcome": "allowed", "classifiers": [{"score": 0.02}]}}
    salt = bytes(range(32))
    e1 = decode_entry(_entry(1, 7, hashlib.sha256(salt + canonicalize(body)).digest(), "generation.requested"))
    check_body(e1, salt, body)
    with pytest.raises(VerificationError):
        check_body(e1, salt, dict(body, event_id="e-2"))
    with pytest.raises(VerificationError):
        check_body(e1, bytes(32), body)
    e2 = decode_entry(_entry(2, 8, field_tree_root(salt, body), "generation.requested"))
    check_body(e2, salt, body)
    with pytest.raises(VerificationError):
        check_body(e2, salt, dict(body, decision={"outcome": "blocked", "classifiers": [{"score": 0.02}]}))
    # One field proved alone: the fields in P(path) order are decision/classifiers/0/score, decision/outcome, event_id, kind.
    fields = sorted([(["decision", "classifiers", 0, "score"], 0.02), (["decision", "outcome"], "allowed"),
                     (["event_id"], "e-1"), (["kind"], "generation.requested")], key=lambda f: encode_path(f[0]))
    leaves = [leaf_hash(field_salt(salt, encode_path(p)) + encode_path(p) + canonicalize(v)) for p, v in fields]
    position = [f[0] for f in fields].index(["decision", "outcome"])
    proof = [leaves[position ^ 1], node_hash(*leaves[(position ^ 2) & ~1:((position ^ 2) & ~1) + 2])]
    s_f = field_salt(salt, encode_path(["decision", "outcome"]))
    check_disclosed_field(e2, ["decision", "outcome"], "allowed", s_f, position, 4, proof)
    with pytest.raises(VerificationError):
        check_disclosed_field(e2, ["decision", "outcome"], "blocked", s_f, position, 4, proof)
    with pytest.raises(VerificationError):
        check_disclosed_field(e2, ["decision", "outcome"], "allowed", s_f, position, 5, proof)
    with pytest.raises(VerificationError):
        check_disclosed_field(e1, ["decision", "outcome"], "allowed", s_f, position, 4, proof)


def test_entry_decoding_refusals():
    good = _entry(1, 0, bytes(32), "edit.requested")
    decode_entry(good)
    for bad in [b"\x03" + good[1:], good + b"\x00", good[:-1], good[:81] + bytes([0]) , good[:82] + b"Edit.requested"[:len(good) - 82]]:
        with pytest.raises(VerificationError):
            decode_entry(bad)
