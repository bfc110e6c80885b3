#!/usr/bin/env python3
"""Writes Tests/Vectors/field-tree.json: entry layout 2's field trees
(Schemas/entry.md, "Layout 2"), computed from the specification alone with
Python's hashlib and hmac, for FieldCommitmentTests to compare with Swift.

  ops/tests/field_tree_vectors.py [OUT]

Bodies hold strings (with escapes and non-ASCII), integers, decimals whose
Python repr is their ECMAScript form, booleans, null, empty and nested
containers. Salts are fixed, so the file is reproducible.
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import sys


def jcs(value):
    # RFC 8785 for these values: Python's repr of the decimals used equals ECMAScript's.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def encode_path(path):
    out = b""
    for step in path:
        if isinstance(step, str):
            name = step.encode()
            out += b"\x01" + struct.pack(">I", len(name)) + name
        else:
            out += b"\x02" + struct.pack(">I", step)
    return out + b"\x00"


def fields(body):
    found = []

    def walk(value, path):
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, path + [k])
        elif isinstance(value, list) and value:
            for i, v in enumerate(value):
                walk(v, path + [i])
        else:
            found.append((path, value))
    walk(body, [])
    return sorted(found, key=lambda f: encode_path(f[0]))


def mth(leaves):
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


BODIES = [
    {},
    {"a": [True, {}], "b": "x"},
    {"event_id": "edit-req-01J8Q3", "kind": "edit.requested", "schema_version": 1,
     "input_images": [{"sha256": "6987740fb624e3e9943ec5d9ac5519b72cea1b35fb4bde5719df3923a36c08f7",
                       "pdq": "7582c2eb1683dc9673b50bac03ebe085bb7f903d949841bb203e267e956ea5dd", "pdq_quality": 100}],
     "decision": {"outcome": "blocked", "classifiers": [{"label": "real_person", "score": 0.97}, {"label": "minor", "score": 0.04}]},
     "flags": {"minor_suspected": False}, "note": None, "tags": []},
    {"é": "ü\u00e9\U0001F600", "quote\"and\\": "line\nbreak\ttab\u001f", "0": [[], [[1, 2], 3]], "10": 123.5, "2": -7},
    {"deep": {"er": {"still": [{"x": [[[["bottom"]]]]}]}}},
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Vectors", "field-tree.json")
    vectors = []
    for n, body in enumerate(BODIES):
        salt = hashlib.sha256(b"field-tree vector %d" % n).digest()
        leaves, listed = [], []
        for path, value in fields(body):
            p = encode_path(path)
            s_f = hmac.new(salt, b"greffe/field-salt/v1\x00" + p, hashlib.sha256).digest()
            data = s_f + p + jcs(value)
            leaves.append(data)
            listed.append({"path": path, "value": value, "encoded_path": p.hex(), "field_salt": s_f.hex(),
                           "leaf_hash": hashlib.sha256(b"\x00" + data).hexdigest()})
        tree = mth(leaves)
        commitment = hashlib.sha256(b"\x02" + struct.pack(">I", len(leaves)) + tree).digest()
        vectors.append({"body": body, "salt": base64.b64encode(salt).decode(), "fields": listed, "tree_hash": tree.hex(),
                        "commitment": commitment.hex()})
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"source": "ops/tests/field_tree_vectors.py (Python hashlib/hmac, from Schemas/entry.md alone)", "vectors": vectors},
                  f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote %s: %d bodies" % (out, len(vectors)))


if __name__ == "__main__":
    main()
