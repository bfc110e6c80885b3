"""The client against a live `greffe serve` (fixture `ledger` in conftest.py)."""
import base64
import copy
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import replace

import pytest

from conftest import ROOT
from greffe_client import ApiError, GreffeClient, GreffeError, InclusionProof, Receipt, VerificationError, verify_bundle, verify_receipt
from greffe_client.note import key_id

EXAMPLE = os.path.join(ROOT, "Schemas", "events", "examples", "generation.requested", "valid-text-prompt-allowed.json")


def event(prompt="a lighthouse"):
    with open(EXAMPLE) as f:
        e = json.load(f)
    e["event_id"] = "py-" + uuid.uuid4().hex
    e["prompt"] = {"text": prompt}
    return e


class DroppingProxy:
    """Forwards each HTTP request to the ledger; for the first `drop` requests it reads the ledger's
    answer and then closes the client's connection without passing it on (a response lost on the way)."""

    def __init__(self, upstream_port, drop):
        self.upstream_port, self.drop, self.requests = upstream_port, drop, 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _read_request(self, conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            body += conn.recv(65536)
        return head + b"\r\n\r\n" + body

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                request = self._read_request(conn)
                if request is None:
                    continue
                self.requests += 1
                with socket.create_connection(("127.0.0.1", self.upstream_port)) as up:
                    up.sendall(request)
                    answer = b""
                    while True:
                        chunk = up.recv(65536)
                        if not chunk:
                            break
                        answer += chunk
                if self.requests <= self.drop:
                    continue  # the ledger acted; the client never hears of it
                conn.sendall(answer)

    def close(self):
        self.listener.close()


def client(ledger, token=None, **kw):
    return GreffeClient(ledger.base_url, ledger.append_token if token is None else token, ledger.vkey, **kw)


def test_batch_append_with_verified_receipts(ledger):
    c = client(ledger)
    events = [event("batch %d" % i) for i in range(5)]
    results = c.append_batch(events, wait_for_checkpoint=True)
    assert [r.event_id for r in results] == [e["event_id"] for e in events]
    assert all(r.new for r in results)
    indices = [r.index for r in results]
    assert indices == list(range(indices[0], indices[0] + 5))
    for r in results:
        checkpoint = r.receipt.verify(ledger.vkey)
        assert checkpoint.tree_size > r.index
        # A receipt survives a round trip through JSON (what a platform stores) and still verifies.
        assert verify_receipt(Receipt.from_json(json.loads(json.dumps(r.receipt.to_json()))), ledger.vkey) == checkpoint
    # Later receipts against newer checkpoints verify too, and the client checks each new checkpoint's consistency.
    more = c.append(event("after the batch"), wait_for_checkpoint=True)
    later = c.receipt(results[0])
    assert later.inclusion_proof.tree_size > more.index
    assert c.latest_checkpoint.tree_size >= later.inclusion_proof.tree_size


def test_resent_event_is_answered_with_its_original_index(ledger):
    c = client(ledger)
    e = event("once")
    first = c.append(e)
    size = ledger.tree_size()
    again = c.append(copy.deepcopy(e))
    assert (again.index, again.leaf_hash, again.new) == (first.index, first.leaf_hash, False)
    assert ledger.tree_size() == size


def test_retry_after_a_lost_answer_records_nothing_twice(ledger):
    port = int(ledger.base_url.rsplit(":", 1)[1])
    proxy = DroppingProxy(port, drop=2)
    sleeps = []
    try:
        c = GreffeClient("http://127.0.0.1:%d" % proxy.port, ledger.append_token, ledger.vkey, sleep=sleeps.append)
        events = [event("lost answer %d" % i) for i in range(3)]
        size = ledger.tree_size()
        results = c.append_batch(events)
        assert proxy.requests == 3 and len(sleeps) == 2
        # The ledger appended the batch on the first try; the third try is answered 200 with the same entries.
        assert all(not r.new for r in results)
        assert [r.index for r in results] == list(range(size, size + 3))
        assert ledger.tree_size() == size + 3
        single = event("lost single answer")
        proxy.requests, proxy.drop = 0, 1
        r = c.append(single)
        assert proxy.requests == 2 and not r.new and r.index == size + 3 and ledger.tree_size() == size + 4
    finally:
        proxy.close()


def _receipt(ledger):
    c = client(ledger)
    return c.append(event("to tamper with"), wait_for_checkpoint=True).receipt


def _flip(data, at=0):
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


def test_receipt_verification_fails_on_tampering(ledger):
    receipt = _receipt(ledger)
    receipt.verify(ledger.vkey)
    proof = receipt.inclusion_proof
    assert proof.proof, "the tree should be large enough for a non-empty proof"
    lines = receipt.checkpoint.split("\n")
    root = base64.b64decode(lines[2])
    tampered_root_note = "\n".join(lines[:2] + [base64.b64encode(_flip(root)).decode()] + lines[3:])
    sig_line = [l for l in lines if l.startswith("\u2014 ")][0]
    blob = sig_line.rsplit(" ", 1)[1]
    raw = base64.b64decode(blob)
    tampered_sig_note = receipt.checkpoint.replace(blob, base64.b64encode(raw[:4] + _flip(raw[4:], 7)).decode())
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    name = ledger.vkey.split("+")[0]
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    wrong_key = "%s+%s+%s" % (name, key_id(name, other).hex(), base64.b64encode(b"\x01" + other).decode())
    cases = {
        "a proof hash": (replace(receipt, inclusion_proof=replace(proof, proof=[_flip(proof.proof[0])] + proof.proof[1:])), ledger.vkey),
        "a proof hash dropped": (replace(receipt, inclusion_proof=replace(proof, proof=proof.proof[:-1])), ledger.vkey),
        "the proof's index": (replace(receipt, index=receipt.index ^ 1, inclusion_proof=replace(proof, index=proof.index ^ 1)), ledger.vkey),
        "the leaf hash": (replace(receipt, leaf_hash=_flip(receipt.leaf_hash), inclusion_proof=replace(proof, leaf_hash=_flip(proof.leaf_hash))),
                          ledger.vkey),
        "the checkpoint's root": (replace(receipt, checkpoint=tampered_root_note), ledger.vkey),
        "the signature": (replace(receipt, checkpoint=tampered_sig_note), ledger.vkey),
        "the key": (receipt, wrong_key),
    }
    for what, (r, key) in cases.items():
        with pytest.raises(VerificationError):
            r.verify(key)
            pytest.fail("a receipt with %s changed verified" % what)


def test_validation_error_surfaces_the_servers_message_and_is_not_retried(ledger):
    port = int(ledger.base_url.rsplit(":", 1)[1])
    proxy = DroppingProxy(port, drop=0)
    sleeps = []
    try:
        c = GreffeClient("http://127.0.0.1:%d" % proxy.port, ledger.append_token, ledger.vkey, sleep=sleeps.append)
        bad = event("bad")
        bad["flags"]["minor_suspected"] = "no"
        size = ledger.tree_size()
        with pytest.raises(ApiError) as caught:
            c.append_batch([event("good"), bad])
        assert caught.value.status == 422
        assert "minor_suspected" in caught.value.message, caught.value.message
        assert proxy.requests == 1 and sleeps == []
        assert ledger.tree_size() == size  # all or nothing
        with pytest.raises(ApiError) as caught:
            GreffeClient("http://127.0.0.1:%d" % proxy.port, "not-a-token", sleep=sleeps.append).append(event())
        assert caught.value.status == 401 and proxy.requests == 2 and sleeps == []
    finally:
        proxy.close()
    with pytest.raises(ValueError):
        client(ledger).append({"kind": "generation.requested"})  # no event_id: refused before sending


def test_conflicting_resend_is_a_409_with_the_servers_message(ledger):
    c = client(ledger)
    e = event("first body")
    c.append(e)
    with pytest.raises(ApiError) as caught:
        c.append(dict(e, prompt={"text": "another body"}))
    assert caught.value.status == 409 and caught.value.message


def test_bundle_fetched_and_verified(ledger):
    appender = client(ledger)
    events = [event("bundled %d" % i) for i in range(3)]
    appender.append_batch(events, wait_for_checkpoint=True)
    investigator = client(ledger, token=ledger.investigate_token)
    raw, report = investigator.bundle({"event_ids": [e["event_id"] for e in events]})
    assert report.format == "greffe-bundle/v3"
    assert [e.event_id for e in report.events] == [e["event_id"] for e in events]
    assert [e.body for e in report.events] == events
    bundle = json.loads(raw)
    doctored = copy.deepcopy(bundle)
    doctored["events"][1]["body"]["prompt"]["text"] = "something else"
    with pytest.raises(VerificationError):
        verify_bundle(json.dumps(doctored), ledger.vkey)
    doctored = copy.deepcopy(bundle)
    doctored["tail"] = doctored["tail"][:-1] if doctored["tail"] else [base64.b64encode(bytes(32)).decode()]
    with pytest.raises(VerificationError):
        verify_bundle(json.dumps(doctored), ledger.vkey)


def test_fork_between_checkpoints_is_detected(ledger):
    c = client(ledger)
    c.append(event("before the fork check"), wait_for_checkpoint=True)
    genuine = c.checkpoint()
    forged = replace(genuine, root_hash=_flip(genuine.root_hash))
    with pytest.raises(VerificationError):
        c.verify_consistency(forged, c.checkpoint())
    c.append(event("grow the tree"), wait_for_checkpoint=True)
    newer = c.checkpoint()
    assert newer.tree_size > genuine.tree_size
    c.verify_consistency(genuine, newer)
    with pytest.raises(VerificationError):
        c.verify_consistency(forged, newer)


@pytest.mark.parametrize("readme", ["clients/python/README.md", "README.md"])
def test_readme_examples_run(ledger, readme, monkeypatch):
    """The documented examples, run as written against the live ledger."""
    with open(os.path.join(ROOT, readme)) as f:
        text = f.read()
    code = [block.split("```", 1)[0] for block in text.split("```python\n")[1:] if "GreffeClient(" in block][0]
    monkeypatch.chdir(os.path.dirname(ledger.data))
    stored = []
    scope = {"APPEND_TOKEN": ledger.append_token, "INVESTIGATE_TOKEN": ledger.investigate_token,
             "events": [event("readme %d" % i) for i in range(2)], "store": lambda *a: stored.append(a), "save": lambda *a: stored.append(a)}
    exec(compile(code.replace("http://127.0.0.1:8080", ledger.base_url), readme, "exec"), scope)
    assert len(stored) == 2
    if "bundle" in scope:
        assert [e.event_id for e in scope["bundle"].events] == [e["event_id"] for e in scope["events"]]


def test_through_a_relay_queued_then_receipted_and_verified(ledger, relay):
    """A platform that talks to `greffe relay`: 202 once on the relay's disk, then the ledger's receipt, verified here."""
    c = GreffeClient(relay.base_url, None, ledger.vkey)
    events = [event("through the relay %d" % i) for i in range(3)]
    results = c.append_batch(events)
    assert [r.queued for r in results] == [True, True, True] and all(r.new and r.index is None for r in results)
    # The same event again is a duplicate, not a second copy.
    again = c.append(events[0])
    assert again.queued and not again.new
    with pytest.raises(GreffeError, match="relay_receipt"):
        c.append(event("wants a receipt at once"), wait_for_checkpoint=True)
    receipts = {}
    for _ in range(200):
        for e in events:
            if e["event_id"] not in receipts:
                r = c.relay_receipt(e["event_id"])
                if r is not None:
                    receipts[e["event_id"]] = r
        if len(receipts) == len(events):
            break
        time.sleep(0.1)
    assert len(receipts) == len(events), "the relay did not deliver within 20 s"
    direct = client(ledger)
    for e in events:
        r = receipts[e["event_id"]]
        # The ledger itself answers a re-send with the same place in the log.
        resent = direct.append(e)
        assert (resent.index, resent.leaf_hash, resent.new) == (r.index, r.leaf_hash, False)
    # A receipt doctored on the way (here: its proof's leaf hash) is refused by the client, not trusted.
    forged = replace(receipts[events[0]["event_id"]], leaf_hash=bytes(32))
    with pytest.raises(VerificationError):
        direct.verify_receipt(forged)
    with pytest.raises(ApiError) as missing:
        c.relay_receipt("never-sent-" + uuid.uuid4().hex)
    assert missing.value.status == 404
