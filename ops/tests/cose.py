#!/usr/bin/env python3
"""COSE receipts (Schemas/cose-receipt.md) checked by an independent implementation.

  cose.py [--greffe BIN]

Starts a ledger, appends events, fetches a COSE receipt for each from
GET /v1/receipts/cose, and verifies it with pycose (COSE_Sign1, EdDSA over the
ledger's Ed25519 key) with the inclusion proof decoded by cbor2 and the root
recomputed here from the leaf hash the append answered (RFC 9162 §2.1.3.2):
that root is the detached payload, and must be the signed checkpoint's root.
Then each doctored copy — a byte of the proof, the root, the signature; a
header member added, removed or reordered — is refused by pycose and by
`greffe verify`. Wrong requests get a 4xx JSON error.
"""
import argparse
import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import cbor2
from pycose.headers import KID
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import Sign1Message

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VDS, VDP, INCLUSION_PROOFS = 395, 396, -1


def http(url, data=None, headers=None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion_proof(index, size, leaf, path):
    """RFC 9162 §2.1.3.2, step for step."""
    if index >= size:
        raise ValueError("leaf index not below tree size")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return r


def pycose_verify(receipt, leaf, public_key, kid, expected_root=None):
    """The receipt as a standard verifier sees it; returns the root it proves or raises."""
    outer = cbor2.loads(receipt)
    if not isinstance(outer, cbor2.CBORTag) or outer.tag != 18:
        raise ValueError("not a tagged COSE_Sign1")
    message = Sign1Message.decode(receipt)
    if message.phdr.get(VDS) != 1:
        raise ValueError("vds is not RFC9162_SHA256")
    if message.payload is not None:
        raise ValueError("the payload is not detached")
    proofs = message.uhdr[VDP][INCLUSION_PROOFS]
    size, index, path = cbor2.loads(proofs[0])
    root = root_from_inclusion_proof(index, size, leaf, path)
    if expected_root is not None and root != expected_root:
        raise ValueError("the proof does not lead to the expected root")
    message.payload = root
    message.key = OKPKey(crv=Ed25519, x=public_key)
    if message.phdr.get(KID) != kid:
        raise ValueError("kid is not the ledger key's ID")
    if not message.verify_signature():
        raise ValueError("signature does not verify")
    return size, index, root


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--greffe", default=os.environ.get("GREFFE", os.path.join(ROOT, ".build/debug/greffe")))
    greffe = parser.parse_args().greffe
    work = tempfile.mkdtemp(prefix="greffe-cose-")
    passed, failed = 0, 0

    def check(ok, what):
        nonlocal passed, failed
        print(("ok   " if ok else "FAIL ") + what)
        passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)

    def refused_by_pycose(receipt, leaf, expected_root=None):
        try:
            pycose_verify(receipt, leaf, public_key, kid, expected_root)
            return False
        except Exception:
            return True

    def greffe_verify(receipt, leaf, name):
        path = os.path.join(work, name + ".cbor")
        with open(path, "wb") as f:
            f.write(receipt)
        result = subprocess.run([greffe, "verify", path, "--vkey", vkey_file, "--leaf-hash", base64.b64encode(leaf).decode()],
                                capture_output=True, text=True)
        return result.returncode, result.stdout.strip()

    data = os.path.join(work, "data")
    subprocess.run([greffe, "init", "--data", data, "--origin", "cose.test/log"], check=True, capture_output=True)
    token = subprocess.run([greffe, "token", "create", "--data", data, "--role", "append", "--platform", "pixelforge.example", "--name", "p"],
                           check=True, capture_output=True, text=True).stdout.strip().split("\n")[-1]
    vkey_file = os.path.join(data, "verifier.vkey")
    name, key_id_hex, key_b64 = open(vkey_file).read().strip().split("+", 2)
    raw_key = base64.b64decode(key_b64)
    public_key, kid = raw_key[1:], bytes.fromhex(key_id_hex)
    port = free_port()
    server = subprocess.Popen([greffe, "serve", "--data", data, "--listen", "127.0.0.1:%d" % port, "--checkpoint-interval", "0.2"],
                              stdout=open(os.path.join(work, "serve.log"), "w"), stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % port
    try:
        for _ in range(200):
            try:
                if http(base + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        template = json.load(open(os.path.join(ROOT, "Schemas/events/examples/edit.requested/valid-undress-real-person-blocked.json")))
        events = []
        for number in range(7):
            event = dict(template)
            event["event_id"] = "cose-%d" % number
            events.append(event)
        status, _, body = http(base + "/v1/events?wait=checkpoint", json.dumps({"events": events}).encode(),
                               {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        results = json.loads(body)["results"] if status == 201 else []
        check(status == 201 and len(results) == 7, "seven events appended (%d)" % status)
        leaves = {r["index"]: base64.b64decode(r["leaf_hash"]) for r in results}
        checkpoint = http(base + "/checkpoint")[2].decode().split("\n")
        size, root = int(checkpoint[1]), base64.b64decode(checkpoint[2])

        receipts = {}
        for index, leaf in sorted(leaves.items()):
            status, headers, receipt = http(base + "/v1/receipts/cose?index=%d" % index)
            if status != 200:
                check(False, "receipt for entry %d (%d %s)" % (index, status, receipt[:200]))
                continue
            receipts[index] = receipt
            try:
                proved = pycose_verify(receipt, leaf, public_key, kid, expected_root=root)
                ok = proved == (size, index, root)
            except Exception as error:
                ok, proved = False, error
            check(ok and headers["Content-Type"].startswith("application/cose"),
                  "pycose verifies entry %d's receipt; the proof leads from its leaf to the checkpoint's root (%s)" % (index, proved if not ok else size))
            code, out = greffe_verify(receipt, leaf, "genuine-%d" % index)
            check(code == 0 and out.startswith("VERIFIED"), "greffe verify accepts entry %d's receipt" % index)

        index = max(receipts)
        receipt, leaf = receipts[index], leaves[index]
        decoded = cbor2.loads(receipt).value
        protected = cbor2.loads(decoded[0])
        path = cbor2.loads(decoded[1][VDP][INCLUSION_PROOFS][0])[2]

        def flip(data, offset):
            changed = bytearray(data)
            changed[offset] ^= 0x01
            return bytes(changed)

        # A byte of each proof hash, changed in place in the receipt's bytes.
        for position, element in enumerate(path):
            doctored = flip(receipt, receipt.index(element) + 5)
            check(refused_by_pycose(doctored, leaf), "pycose refuses a changed byte in proof hash %d" % position)
            code, out = greffe_verify(doctored, leaf, "proof-%d" % position)
            check(code == 1 and "NOT VERIFIED" in out, "greffe verify refuses a changed byte in proof hash %d (%s)" % (position, out[:160]))
        # The root: the detached payload one byte off, and the proof of another entry's leaf.
        check(refused_by_pycose(receipt, leaf, expected_root=flip(root, 0)), "pycose refuses the receipt over a root with one byte changed")
        other = leaves[(index + 1) % len(leaves)]
        check(refused_by_pycose(receipt, other), "pycose refuses the receipt for another entry's leaf (another root)")
        code, out = greffe_verify(receipt, other, "other-leaf")
        check(code == 1 and "NOT VERIFIED" in out, "greffe verify refuses the receipt for another entry's leaf (%s)" % out[:160])
        # The signature: a byte of it.
        for offset in (len(receipt) - 64, len(receipt) - 1):
            doctored = flip(receipt, offset)
            check(refused_by_pycose(doctored, leaf), "pycose refuses a changed signature byte at %d" % offset)
            code, out = greffe_verify(doctored, leaf, "sig-%d" % offset)
            check(code == 1 and "NOT VERIFIED" in out, "greffe verify refuses a changed signature byte (%s)" % out[:160])

        # Header members added, removed, reordered.
        def rebuild(protected_bytes=None, unprotected=None, payload=None):
            parts = list(decoded)
            if protected_bytes is not None:
                parts[0] = protected_bytes
            if unprotected is not None:
                parts[1] = unprotected
            if payload is not None:
                parts[2] = payload
            return cbor2.dumps(cbor2.CBORTag(18, parts), canonical=True)

        check(rebuild() == receipt, "the receipt is in canonical CBOR (cbor2 re-encodes it to the same bytes)")
        doctored_headers = {
            "a content type added to the protected header": rebuild(protected_bytes=cbor2.dumps({**protected, 3: "application/json"}, canonical=True)),
            "kid removed from the protected header": rebuild(protected_bytes=cbor2.dumps({1: -8, VDS: 1}, canonical=True)),
            "vds removed from the protected header": rebuild(protected_bytes=cbor2.dumps({1: -8, 4: kid}, canonical=True)),
            "the protected header reordered (vds, alg, kid)": rebuild(protected_bytes=cbor2.dumps({VDS: 1, 1: -8, 4: kid})),
            "a kid added to the unprotected header": rebuild(unprotected={**decoded[1], 4: kid}),
            "vdp removed from the unprotected header": rebuild(unprotected={}),
            "a second inclusion proof added": rebuild(unprotected={VDP: {INCLUSION_PROOFS: decoded[1][VDP][INCLUSION_PROOFS] * 2}}),
            "the root attached as payload": rebuild(payload=root),
        }
        for what, doctored in doctored_headers.items():
            code, out = greffe_verify(doctored, leaf, "header")
            check(code == 1 and "NOT VERIFIED" in out, "greffe verify refuses %s (%s)" % (what, out[:160]))
        for what in ("a content type added to the protected header", "kid removed from the protected header", "the protected header reordered (vds, alg, kid)"):
            check(refused_by_pycose(doctored_headers[what], leaf), "pycose refuses %s" % what)
        check(refused_by_pycose(doctored_headers["vds removed from the protected header"], leaf), "the pycose check refuses vds removed")

        # The append option: the receipt comes with the append answer, over the checkpoint that covers it.
        event = dict(template)
        event["event_id"] = "cose-append"
        headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        status, _, body = http(base + "/v1/events?wait=checkpoint&receipt=cose", json.dumps(event).encode(), headers)
        answer = json.loads(body) if status == 201 else {}
        try:
            appended = base64.b64decode(answer["cose_receipt"])
            note = answer["checkpoint"].split("\n")
            proved = pycose_verify(appended, base64.b64decode(answer["leaf_hash"]), public_key, kid, expected_root=base64.b64decode(note[2]))
            ok = proved[:2] == (int(note[1]), answer["index"])
        except Exception as error:
            ok, proved = False, error
        check(status == 201 and ok, "POST /v1/events?wait=checkpoint&receipt=cose answers a receipt pycose verifies against the answer's checkpoint (%s)" % (proved,))
        event["event_id"] = "cose-append-2"
        for query in ("receipt=cose", "wait=checkpoint&receipt=json"):
            status, _, body = http(base + "/v1/events?" + query, json.dumps(event).encode(), headers)
            check(status == 400 and b"receipt" in body, "POST /v1/events?%s is refused with 400 before anything is appended (%d)" % (query, status))
        tree_size = json.loads(http(base + "/healthz")[2])["tree_size"]
        check(tree_size == answer.get("index", -2) + 1, "no event was appended by the refused requests (tree size %d)" % tree_size)

        # Wrong requests: a clear 4xx JSON error, never a receipt.
        for query, expect in (("index=%d" % tree_size, 404), ("index=99999999", 404), ("index=-1", 400), ("index=01", 400), ("index=x", 400),
                              ("", 400), ("index=0&index_2=1", 400)):
            status, headers, body = http(base + "/v1/receipts/cose?" + query)
            try:
                message = json.loads(body).get("error", "")
            except ValueError:
                message = ""
            check(status == expect and message != "", "GET /v1/receipts/cose?%s answers %d with a JSON error (%s)" % (query, status, message[:100]))
    finally:
        server.terminate()
        server.wait()
    shutil.rmtree(work, ignore_errors=True)
    print("cose: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
