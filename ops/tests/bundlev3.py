#!/usr/bin/env python3
"""greffe-bundle/v3, independently: a generator and a verifier written from
Schemas/bundle.md and Schemas/entry.md alone (no Greffe code), so that the
browser verifier and `greffe verify` can be checked against a third reading
of the specification.

  bundlev3.py make --events N --out FILE --key-out VKEYFILE [--seed S] [--sparse]
                   [--erase K] [--hold [--hold-lift-shard N]]
      A signed, valid v3 bundle of N edit.requested events (~800 canonical
      bytes each) inside a larger tree: entries before the first event and
      after the last are not bundled, so the first event's gap and the tail
      are non-trivial. --sparse scatters the events (gaps between them);
      --erase K erases K bodies (their erasure.executed records sit after
      the events, with RFC 9162 inclusion proofs); --hold adds one legal hold,
      placed and lifted; --hold-lift-shard N writes the lift's body with
      "shard": N (committed by its entry, as a sealed shard's lift is recorded
      in a later shard, Schemas/shards.md "Legal holds across shards"), which
      no verifier may count as a lift of this log's hold. The key pair is new
      each run (seeded: reproducible).
  bundlev3.py verify FILE --vkey VKEYFILE
      The v3 checks: strict members, the signed checkpoint, each event's
      entry and commitment, the prev links, the stack fold of gaps, leaves
      and tail into the root, erasure and hold records. Exit 0 when it
      verifies; prints the problems otherwise.
  bundlev3.py make-set --out FILE --key-out VKEYFILE [--seed S] [--shards K]
                       [--restore] [--mutate NAME] [--drop-sealed K [--drop-shard J]]
                       [--erase-sealed [--drop-shard J]]
      A signed greffe-shard-bundle/v1 (Schemas/shards.md): K shards (3) with
      a few events each, shard k >= 1 opened by its shard.opened link to
      shard k-1's final checkpoint; --restore seals the last link by a
      restore (lost entries); --mutate makes one of SET_MUTATIONS.
      --drop-sealed K (--drop-shard J, 0): K bodies of shard J dropped after it was
      sealed by a retention.applied record of the last shard ("shard": J), their
      claims with erased.shard; and one body of the last shard dropped by a record
      of its own (Schemas/shards.md, "Retention across shards").
      --erase-sealed (--drop-shard J, 0): the first bundled body of shard J erased
      after it was sealed by an erasure.executed order recorded in the last shard
      ("shard": J, target_index in shard J), its claim with erased.shard; and one
      body of the last shard erased by an order of its own, with no shard member
      (Schemas/shards.md, "Erasure orders in a sealed shard").
  bundlev3.py element FILE --shard J --vkey VKEYFILE --out FILE2 --key-out VKEYFILE2
      Element J of a shard bundle, alone as the v3 bundle it is, and shard J's key.
  bundlev3.py verify-set FILE --vkey VKEYFILE
      Exact members, each element verified as v3 with its shard's key (the
      base key renamed), its query the file's, and each link. Exit 0 when it
      verifies.
  bundlev3.py to-v2 FILE --out FILE2
      The same events as greffe-bundle/v2 (each with its own inclusion proof,
      derived from the pieces of the multi-leaf proof).

Canonical bodies: RFC 8785 (JCS). The bodies made here hold only ASCII
strings, integers, booleans, arrays and objects, and for such values JCS is
exactly json.dumps(sort_keys=True, separators=(',', ':'), ensure_ascii=False)
(no floats, whose JCS form differs from Python's repr, and no non-ASCII
member names, whose JCS order is by UTF-16 code units). `verify` refuses
bodies outside that subset rather than guess.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import random
import re
import struct
import sys
import time
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT = "greffe-bundle/v3"
ORIGIN = "example.org/greffe-v3-test"


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def leaf_hash(entry):
    return sha256(b"\x00", entry)  # RFC 9162 §2.1.1


def node_hash(left, right):
    return sha256(b"\x01", left, right)


def b64(data):
    return base64.b64encode(data).decode()


def unb64(text, what):
    if not isinstance(text, str):
        raise Problem("%s is not a base64 string" % what)
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError:
        raise Problem("%s is not base64" % what)
    if b64(data) != text:
        raise Problem("%s is not canonical base64" % what)
    return data


def jcs(body):
    """RFC 8785 for the subset described in the module comment."""
    def check(value):
        if isinstance(value, float):
            raise Problem("a body holds a floating-point number (outside this tool's JCS subset)")
        if isinstance(value, dict):
            for k, v in value.items():
                if not k.isascii():
                    raise Problem("a body holds a non-ASCII member name (outside this tool's JCS subset)")
                check(v)
        elif isinstance(value, list):
            for v in value:
                check(v)
    check(body)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Problem(Exception):
    pass


# --- entries (Schemas/entry.md, layouts 1 and 2) ----------------------------
def make_entry(index, sequenced_at, prev, commitment, kind, layout=1):
    k = kind.encode()
    return bytes([layout]) + struct.pack(">QQ", index, sequenced_at) + prev + commitment + bytes([len(k)]) + k


def decode_entry(entry):
    if len(entry) < 83 or entry[0] not in (1, 2) or len(entry) != 82 + entry[81] or not 1 <= entry[81] <= 64:
        raise Problem("not a layout-1 or layout-2 entry")
    kind = entry[82:].decode("ascii", "replace")
    if any(c not in "abcdefghijklmnopqrstuvwxyz0123456789._-" for c in kind):
        raise Problem("entry kind is not a valid kind name")
    index, sequenced_at = struct.unpack(">QQ", entry[1:17])
    return {"layout": entry[0], "index": index, "sequenced_at": sequenced_at, "prev": entry[17:49], "commitment": entry[49:81], "kind": kind}


def field_path(path):
    """P(path) of layout 2: 0x01 ‖ uint32 length ‖ name, or 0x02 ‖ uint32 position, per step; then 0x00."""
    out = b""
    for step in path:
        if isinstance(step, str):
            name = step.encode()
            out += b"\x01" + struct.pack(">I", len(name)) + name
        else:
            out += b"\x02" + struct.pack(">I", step)
    return out + b"\x00"


def field_tree_root(salt, body):
    """Layout 2's commitment: SHA-256(0x02 ‖ uint32(n) ‖ the RFC 9162 root over the body's n salted fields in P(path) order)."""
    fields = []

    def walk(value, path):
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, path + [k])
        elif isinstance(value, list) and value:
            for i, v in enumerate(value):
                walk(v, path + [i])
        else:
            fields.append((field_path(path), value))
    walk(body, [])
    fields.sort(key=lambda f: f[0])
    leaves = []
    for encoded, value in fields:
        field_salt = hmac.new(salt, b"greffe/field-salt/v1\x00" + encoded, hashlib.sha256).digest()
        leaves.append(leaf_hash(field_salt + encoded + jcs(value)))

    def root(hashes):
        if len(hashes) == 1:
            return hashes[0]
        k = 1
        while k * 2 < len(hashes):
            k *= 2
        return node_hash(root(hashes[:k]), root(hashes[k:]))
    return hashlib.sha256(b"\x02" + struct.pack(">I", len(leaves)) + root(leaves)).digest()


def field_root(index, size, leaf, proof):
    """The root RFC 9162 §2.1.3.2 computes from an inclusion proof, or None when it does not fit the position."""
    if index >= size or size > 16384:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def field_problems(fields, commitment):
    """Schemas/entry.md, "Proving one field", for each disclosed field; and no path twice."""
    if not isinstance(fields, list):
        return ["not an array"]
    problems, seen = [], set()
    for i, f in enumerate(fields):
        if not isinstance(f, dict) or set(f) != FIELD_MEMBERS:
            problems.append("%d: its members are not exactly %s" % (i, sorted(FIELD_MEMBERS)))
            continue
        path, value, position, count = f["path"], f["value"], f["position"], f["count"]
        if not isinstance(path, list) or not all(isinstance(s, str) or (type(s) is int and 0 <= s <= 0xFFFFFFFF) for s in path):
            problems.append("%d: path is not an array of names and positions" % i)
            continue
        if json.dumps(path) in seen:
            problems.append("%d: path %s disclosed twice" % (i, path))
            continue
        seen.add(json.dumps(path))
        if (isinstance(value, (dict, list)) and value) or type(position) is not int or type(count) is not int or position < 0:
            problems.append("%d: value, position or count malformed" % i)
            continue
        try:
            salt = unb64(f["salt"], "salt")
            proof = [unb64(h, "proof") for h in f["proof"]]
            data = salt + field_path(path) + jcs(value)
        except Problem as error:
            problems.append("%d: %s" % (i, error))
            continue
        tree = field_root(position, count, leaf_hash(data), proof) if len(salt) == 32 else None
        if tree is None or hashlib.sha256(b"\x02" + struct.pack(">I", count) + tree).digest() != commitment:
            problems.append("%d: %s is not a field of the committed body" % (i, path))
    return problems


def commits(entry, salt, body):
    """Whether body and salt are what the entry's commitment commits to, by its layout."""
    if not isinstance(body, dict):
        return False
    if entry["layout"] == 2:
        return field_tree_root(salt, body) == entry["commitment"]
    return sha256(salt, jcs(body)) == entry["commitment"]


# --- subtrees, covers, the fold (Schemas/bundle.md, v3) ---------------------
def cover(a, b):
    """The cover of [a, b): (level, position) of the largest aligned subtree that fits, repeatedly."""
    out = []
    while a < b:
        h = 0
        while (a % (1 << (h + 1)) == 0) and a + (1 << (h + 1)) <= b:
            h += 1
        out.append((h, a >> h))
        a += 1 << h
    return out


class Fold:
    """The stack of step 3; root() is the right fold of step 4."""
    def __init__(self):
        self.stack = []

    def push(self, level, position, digest):
        top = (level, position, digest)
        while self.stack:
            l, p, d = self.stack[-1]
            if l == top[0] and p % 2 == 0 and p + 1 == top[1]:
                self.stack.pop()
                top = (l + 1, p // 2, node_hash(d, top[2]))
            else:
                break
        self.stack.append(top)

    def root(self):
        if not self.stack:
            return sha256()
        root = self.stack[-1][2]
        for _, _, d in reversed(self.stack[:-1]):
            root = node_hash(d, root)
        return root


class Tree:
    """A whole tree from its leaf hashes (for the generator): levels[h][j] is the
    subtree at level h, position j whenever that subtree is complete."""
    def __init__(self, leaves):
        self.n = len(leaves)
        self.levels = [leaves]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
                               + ([below[-1]] if len(below) % 2 else []))

    def subtree(self, level, position):
        assert (position + 1) << level <= self.n
        return self.levels[level][position]

    def mth(self, a, b):
        """MTH(D[a:b]) for the ranges RFC 9162's recursion meets."""
        n = b - a
        if n & (n - 1) == 0 and a % n == 0:
            return self.subtree(n.bit_length() - 1, a // n)
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(self.mth(a, a + k), self.mth(a + k, b))

    def root(self):
        return self.mth(0, self.n) if self.n else sha256()

    def inclusion(self, m, a=0, b=None):
        """RFC 9162 §2.1.3.1 PATH(m, D[a:b])."""
        b = self.n if b is None else b
        if b - a == 1:
            return []
        k = 1 << ((b - a - 1).bit_length() - 1)
        if m - a < k:
            return self.inclusion(m, a, a + k) + [self.mth(a + k, b)]
        return self.inclusion(m, a + k, b) + [self.mth(a, a + k)]


class Pieces(Tree):
    """The tree known only through a v3 bundle's pieces (gaps, leaves, tail): every
    subtree a path needs is a piece or made of pieces."""
    def __init__(self, pieces, n):
        self.pieces, self.n = dict(pieces), n

    def subtree(self, level, position):
        if (level, position) not in self.pieces:
            if level == 0:
                raise Problem("no piece covers entry %d" % position)
            self.pieces[(level, position)] = node_hash(self.subtree(level - 1, 2 * position), self.subtree(level - 1, 2 * position + 1))
        return self.pieces[(level, position)]


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# --- keys and signed notes (C2SP signed-note, Ed25519 type 0x01) ------------
def key_id(name, public):
    return sha256(name.encode(), b"\n\x01", public)[:4]


def vkey_of(name, public):
    return "%s+%s+%s" % (name, key_id(name, public).hex(), b64(b"\x01" + public))


def sign_checkpoint(private, name, size, root):
    text = "%s\n%d\n%s\n" % (name, size, b64(root))
    public = private.public_key().public_bytes_raw()
    signature = private.sign(text.encode())
    return text + "\n\u2014 %s %s\n" % (name, b64(key_id(name, public) + signature))


def open_checkpoint(note, vkey):
    name, hexid, key = vkey.strip().split("+", 2)
    raw = base64.b64decode(key)
    if raw[0] != 1 or len(raw) != 33:
        raise Problem("the verifier key is not an Ed25519 key")
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    if key_id(name, raw[1:]).hex() != hexid:
        raise Problem("the verifier key's ID does not match its name and key")
    text, sep, block = note.rpartition("\n\n")
    if not sep or not block.endswith("\n"):
        raise Problem("the checkpoint is not a signed note")
    text += "\n"
    valid = 0
    for line in block[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise Problem("a signature line does not start with an em dash")
        signer, _, blob = line[2:].partition(" ")
        raw_sig = base64.b64decode(blob)
        if signer == name and raw_sig[:4].hex() == hexid:
            public.verify(raw_sig[4:], text.encode())  # raises InvalidSignature
            valid += 1
    if not valid:
        raise Problem("the checkpoint carries no signature by the key")
    lines = text[:-1].split("\n")
    if lines[0] != name:
        raise Problem("the checkpoint's origin is not the key's name")
    if not lines[1].isdigit() or str(int(lines[1])) != lines[1]:
        raise Problem("the checkpoint's size is not a canonical decimal number")
    return int(lines[1]), unb64(lines[2], "the checkpoint's root")


# --- the generator ----------------------------------------------------------
PLATFORM = "example-ai"


def edit_requested(rng, occurred_ms):
    """A realistic edit.requested body (Schemas/events/edit.requested.schema.json), ~800 canonical bytes."""
    hexes = lambda: "%064x" % rng.getrandbits(256)
    when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(occurred_ms // 1000)) + ".%03dZ" % (occurred_ms % 1000)
    outcome = rng.choices(["allowed", "blocked", "modified"], [70, 20, 10])[0]
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "kind": "edit.requested",
        "occurred_at": when,
        "platform": PLATFORM,
        "schema_version": 1,
        "account": "hmac-sha256:" + hexes(),
        "subscription_tier": rng.choice(["free", "plus", "pro"]),
        "model": {"name": "imagine-edit", "version": "3.%d" % rng.randrange(4)},
        "prompt": {"sha256": hexes()},
        "input_images": [{"sha256": hexes()} for _ in range(rng.choice([1, 2, 3]))],
        "flags": {"real_person_detected": rng.random() < 0.3, "minor_suspected": rng.random() < 0.02,
                  "nudity_requested": rng.random() < 0.1},
        "decision": {"outcome": outcome, "policy": "ncii.real-person-nudity" if outcome != "allowed" else "default",
                     # Integers only (per mille), to stay in the JCS subset.
                     "classifiers": [{"label": label, "score_permille": rng.randrange(1000)}
                                     for label in ["nudity", "real-person", "minor"]]},
    }


def make(n, seed, sparse, erase, hold, hold_lift_shard=None):
    rng = random.Random(seed)
    private = Ed25519PrivateKey.from_private_bytes(rng.getrandbits(256).to_bytes(32, "big"))
    public = private.public_key().public_bytes_raw()
    before = rng.randrange(1000, 70000)          # entries before the first bundled event
    step = (lambda: 1 + rng.choice([0, 0, 1, 2, 5, 13])) if sparse else (lambda: 1)
    event_indices, i = [], before
    for _ in range(n):
        event_indices.append(i)
        i += step()
    records_start = (event_indices[-1] + 1 if n else before) + rng.randrange(1, 50)
    extra = erase + (2 if hold else 0)
    size = records_start + extra + rng.randrange(1, 3000)
    bundled = dict.fromkeys(event_indices)
    erased = set(rng.sample(event_indices, erase)) if erase else set()
    records_at = list(range(records_start, records_start + extra))

    leaves, entries, bodies, salts = [], {}, {}, {}
    t = 1764000000000 + rng.randrange(10 ** 8)
    prev = bytes(32)

    def append(kind, body):
        nonlocal prev, t
        index = len(leaves)
        t += rng.randrange(0, 40)
        salt = rng.getrandbits(256).to_bytes(32, "big")
        # Both entry layouts, as a ledger upgraded from layout 1 holds them.
        layout = 2 if index % 2 else 1
        if body is None:
            commitment = rng.getrandbits(256).to_bytes(32, "big")
        else:
            commitment = field_tree_root(salt, body) if layout == 2 else sha256(salt, jcs(body))
        entry = make_entry(index, t, prev, commitment, kind, layout)
        prev = leaf_hash(entry)
        leaves.append(prev)
        return index, entry, salt

    erasure_of, hold_records = {}, []
    pending_erasures = sorted(erased)
    while len(leaves) < size:
        index = len(leaves)
        if index in bundled:
            body = edit_requested(rng, t - rng.randrange(0, 2000))
            _, entry, salt = append("edit.requested", body)
            entries[index], bodies[index], salts[index] = entry, body, salt
        elif index in records_at and pending_erasures:
            target = pending_erasures.pop(0)
            body = {"event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "kind": "erasure.executed",
                    "occurred_at": "2026-11-30T09:00:00Z", "platform": "greffe", "schema_version": 1, "target_index": target,
                    "legal_reference": "TJ Paris 26/%d" % target, "reason": "data-protection order"}
            _, entry, salt = append("erasure.executed", body)
            erasure_of[target] = (index, entry, body, salt)
        elif index in records_at:
            kind = "hold.placed" if not hold_records else "hold.lifted"
            body = {"event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "kind": kind,
                    "occurred_at": "2026-11-30T09:00:00Z", "platform": "greffe", "schema_version": 1}
            if kind == "hold.placed":
                body.update({"authority": "Parquet de Paris", "reference": "HOLD-2026-%d" % seed,
                             "scope": {"kinds": ["edit.requested"]}})
            else:
                body.update({"hold_index": hold_records[0][0], "reason": "case closed"})
                if hold_lift_shard is not None:
                    # Before append: the entry commits to the body with its shard member.
                    body["shard"] = hold_lift_shard
            _, entry, salt = append(kind, body)
            hold_records.append((index, entry, body, salt))
        else:
            append("generation.completed", None)   # not bundled: only its leaf matters
    tree = Tree(leaves)
    root = tree.root()

    def record(index, entry, body, salt):
        return {"index": index, "event_id": body["event_id"], "kind": body["kind"], "body": body, "salt": b64(salt),
                "entry": b64(entry), "leaf_hash": b64(leaves[index]), "inclusion_proof": [b64(h) for h in tree.inclusion(index)]}

    events, previous = [], -1
    for index in event_indices:
        event = {"entry": b64(entries[index]), "body": bodies[index], "salt": b64(salts[index])}
        gap = cover(previous + 1, index)
        if gap:
            event["gap"] = [b64(tree.subtree(h, j)) for h, j in gap]
        if index in erased:
            rec_index, rec_entry, rec_body, rec_salt = erasure_of[index]
            event["body"] = event["salt"] = None
            event["erased"] = {"erased_at": "2026-11-30T09:00:01.000Z", "legal_reference": rec_body["legal_reference"],
                               "erasure_entry_index": rec_index, "record": record(rec_index, rec_entry, rec_body, rec_salt)}
        events.append(event)
        previous = index
    bundle = {
        "format": FORMAT, "verifier_key": vkey_of(ORIGIN, public), "checkpoint": sign_checkpoint(private, ORIGIN, size, root),
        "created_at": "2026-12-01T10:00:00.000Z", "query": {"index_range": {"from": before, "to": previous + 1}},
        "earlier_checkpoints": [], "events": events,
        "tail": [b64(tree.subtree(h, j)) for h, j in cover(previous + 1, size)],
    }
    if hold:
        (pi, pe, pb, ps), (li, le, lb, ls) = hold_records
        bundle["holds"] = [{"placed": record(pi, pe, pb, ps), "lifted": record(li, le, lb, ls)}]
    return bundle, vkey_of(ORIGIN, public)


def write_bundle(bundle, out):
    """Events first and tail last, as servers write; one event per line keeps files diffable."""
    with open(out, "w", encoding="utf-8") as f:
        head = {k: v for k, v in bundle.items() if k not in ("events", "tail", "holds")}
        f.write(json.dumps(head, separators=(",", ":"), ensure_ascii=False)[:-1] + ',"events":[')
        for position, event in enumerate(bundle["events"]):
            f.write(("," if position else "") + "\n" + json.dumps(event, separators=(",", ":"), ensure_ascii=False))
        f.write('\n],"tail":' + json.dumps(bundle["tail"]))
        if "holds" in bundle:
            f.write(',"holds":' + json.dumps(bundle["holds"], separators=(",", ":"), ensure_ascii=False))
        f.write("}\n")


# --- the verifier -----------------------------------------------------------
BUNDLE_MEMBERS = {"format", "verifier_key", "checkpoint", "created_at", "query", "earlier_checkpoints", "timestamps", "events", "tail", "holds"}
EVENT_MEMBERS = {"entry", "body", "salt", "gap", "appended_by", "erased", "disclosed"}
FIELD_MEMBERS = {"path", "value", "salt", "position", "count", "proof"}
RECORD_MEMBERS = {"index", "event_id", "kind", "body", "salt", "entry", "leaf_hash", "inclusion_proof", "appended_by"}
ERASED_MEMBERS = {"erased_at", "legal_reference", "erasure_entry_index", "record", "shard"}
# The kinds only Greffe writes: a retention keeps their bodies (Schemas/bundle.md, "Retention").
OWN_KINDS = {"access.granted", "erasure.executed", "hold.placed", "hold.lifted", "ledger.restored", "retention.applied", "shard.opened"}
RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$")


def rfc3339_ms(text):
    """Milliseconds since 1970 of an RFC 3339 §5.6 date-time (fraction truncated, :60 read as the next minute's first second), or None."""
    m = RFC3339.match(text) if isinstance(text, str) else None
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        days = (datetime.date(year, month, day) - datetime.date(1970, 1, 1)).days
    except ValueError:
        return None
    if hour > 23 or minute > 59 or second > 60:
        return None
    offset = 0
    if m.group(8):
        if int(m.group(9)) > 23 or int(m.group(10)) > 59:
            return None
        offset = (-1 if m.group(8) == "-" else 1) * (int(m.group(9)) * 60 + int(m.group(10)))
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset * 60
    return seconds * 1000 + (int((m.group(7) + "00")[:3]) if m.group(7) else 0)


def is_index(value):
    return type(value) is int and 0 <= value <= 2 ** 53 - 1


def erasure_problem(event, entry, shard):
    """Schemas/bundle.md, "Erasures" (steps 1 to 11, less the record's place in a checkpoint) for an event with a
    null body, with Schemas/shards.md's "Proving a body dropped after its shard was sealed" when `shard` is
    (j, element count) — an element of a shard bundle — rather than None (a v3 bundle alone).
    Returns (problem, None) or (None, (m, record index, leaf, proof, "erasure" or "retention")): m is None for a
    record of this very log, else the shard whose element's checkpoint must include the record (steps 11 and 12)."""
    i = entry["index"]
    if event["salt"] is not None:
        return "the body is null but a salt is given", None
    erased = event.get("erased")
    if erased is None:
        return "the body is null and no erasure is claimed for it", None
    across = erased.get("shard")
    if across is not None:
        if not is_index(across):
            return "erased.shard is not a non-negative integer", None
        if shard is None:
            return "its record is in shard %d: ask for the bundle across shards (POST /v1/bundles) to prove it" % across, None
        if across == shard[0]:
            return "the claim names the event's own shard %d as its record's: a record of its own shard is proved against its own checkpoint, with no erased.shard" % across, None
    record = erased.get("record")
    if record is None:
        return "an erasure is claimed with no record to prove it", None
    members(record, RECORD_MEMBERS, "the record", ["index", "event_id", "kind", "body", "salt", "entry", "leaf_hash", "inclusion_proof"])
    try:
        entry_bytes = unb64(record["entry"], "the record's entry")
        rec = decode_entry(entry_bytes)
    except Problem as error:
        return "the record's entry cannot be read: %s" % error, None
    leaf = leaf_hash(entry_bytes)
    if leaf != unb64(record["leaf_hash"], "the record's leaf_hash") or rec["index"] != record["index"]:
        return "the record's entry does not match its leaf_hash and index", None
    if record["index"] != erased["erasure_entry_index"]:
        return "the record is entry %r, not erasure_entry_index %r" % (record["index"], erased["erasure_entry_index"]), None
    kind = rec["kind"]
    if kind not in ("erasure.executed", "retention.applied") or record["kind"] != kind:
        return "the record is of kind %s (stated %r), not erasure.executed or retention.applied" % (kind, record["kind"]), None
    body, salt = record["body"], record["salt"]
    if body is None or salt is None or not commits(rec, unb64(salt, "the record's salt"), body):
        return "the record's body and salt do not match its entry's commitment", None
    if body.get("kind") != kind or body.get("event_id") != record["event_id"] or body.get("platform") != "greffe":
        return "the record's body is not Greffe's %s record %s" % (kind, record["event_id"]), None
    what = "erasure" if kind == "erasure.executed" else "retention"
    if kind == "erasure.executed":
        # Step 9 of an order (Schemas/bundle.md, "Erasures"; Schemas/shards.md, "Erasure orders in a sealed shard"):
        # target_index is an index of the event's shard; the order's shard member says which shard that is.
        if body.get("target_index") != i or not is_index(body.get("target_index")):
            return "the erasure record orders the erasure of entry %r, not %d" % (body.get("target_index"), i), None
        ordered = body.get("legal_reference")
        if not isinstance(ordered, str):
            return "the erasure record names no legal_reference", None
        if across is None and "shard" in body:
            return "the erasure record names shard %r: such an order erases a sealed shard's entry from a later shard, and never proves a body of its own shard" % body["shard"], None
    else:
        # Step 9 of a retention record, its shard first: it says whose indices the others are.
        if across is None and "shard" in body:
            return "the retention record names shard %r: such a record drops a sealed shard's bodies from a later shard, and never proves a body of its own shard" % body["shard"], None
        if across is not None and "shard" not in body:
            return "the retention record has no shard member: it names entries of its own shard %d, not of this event's shard %d" % (across, shard[0]), None
        if across is not None and (type(body["shard"]) is not int or body["shard"] != shard[0]):
            return "the retention record names entries of shard %r, not of this event's shard %d" % (body["shard"], shard[0]), None
        low, high = body.get("from_index"), body.get("to_index")
        if not is_index(low) or not is_index(high) or low > high:
            return "the retention record names no valid from_index and to_index", None
        if not low <= i < high:
            return "the retention record covers entries %d to %d, not %d" % (low, high - 1, i), None
        cutoff = rfc3339_ms(body.get("recorded_before"))
        if cutoff is None:
            return "the retention record names no valid recorded_before", None
        if entry["kind"] in OWN_KINDS:
            return "the event is Greffe's own record (%s), which a retention keeps whole" % entry["kind"], None
        kept = body.get("kept_under_hold")
        if not isinstance(kept, list):
            return "the retention record names no kept_under_hold", None
        if any(is_index(k) and k == i for k in kept):
            return "the retention record lists this event as kept under a legal hold", None
        if entry["sequenced_at"] >= cutoff:
            return "the event was recorded at or after the retention record's cut-off %s" % body["recorded_before"], None
        ordered = body.get("legal_basis")
    if not isinstance(ordered, str) or ordered != erased["legal_reference"]:
        return "the record states %r, not the claim's legal_reference %r" % (ordered, erased["legal_reference"]), None
    proof = [unb64(h, "the record's inclusion_proof") for h in record["inclusion_proof"]]
    if across is None:
        if record["index"] <= i:
            return "the record (entry %d) is not later than the event" % record["index"], None
        return None, (None, record["index"], leaf, proof, what)
    # Step 11 across shards: the record names the event's shard, comes after it was sealed, in an element of the file.
    if kind == "erasure.executed":
        if "shard" not in body:
            return "the erasure record has no shard member: its target_index is an entry of its own shard %d, not of this event's shard %d" % (across, shard[0]), None
        if type(body["shard"]) is not int or body["shard"] != shard[0]:
            return "the erasure record erased an entry of shard %r, not of this event's shard %d" % (body["shard"], shard[0]), None
    if across < shard[0]:
        return "the %s record is said to be in shard %d, before this event's shard %d: a record of another shard comes after the shard was sealed" % (what, across, shard[0]), None
    if across >= shard[1]:
        return "the %s record is said to be in shard %d, but the file holds shards 0 to %d only" % (what, across, shard[1] - 1), None
    return None, (across, record["index"], leaf, proof, what)


def record_in(claim, size, root, checkpoints):
    """Steps 11 (the record's index within the checkpoint) and 12 (its inclusion proof): None or the problem."""
    m, index, leaf, proof, kind = claim
    what = "the checkpoint" if m is None else "shard %d's checkpoint" % m
    if m is not None:
        if checkpoints[m] is None:
            return "shard %d's checkpoint does not verify, so the %s record cannot be proved in it" % (m, kind)
        size, root = checkpoints[m]
    if index >= size:
        return "the record is entry %d, beyond %s's %d entries" % (index, what, size)
    if not verify_inclusion(index, size, leaf, proof, root):
        return "the %s record's inclusion proof does not hold in %s" % ("erasure" if m is None else kind, what)
    return None


def strict_object(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise Problem("the member %r appears twice" % k)
        out[k] = v
    return out


def members(value, known, path, required=()):
    if not isinstance(value, dict):
        raise Problem("%s is not an object" % path)
    unknown = sorted(set(value) - known)
    if unknown:
        raise Problem("%s has the unknown member %r" % (path, unknown[0]))
    for name in required:
        if name not in value:
            raise Problem("%s/%s is missing" % (path, name))


def check_record(record, kind, size, root, path):
    """A v2-shaped record (erasure or hold): entry, leaf, index, kind, commitment, body, proof."""
    members(record, RECORD_MEMBERS, path, ["index", "event_id", "kind", "body", "salt", "entry", "leaf_hash", "inclusion_proof"])
    entry_bytes = unb64(record["entry"], path + "/entry")
    entry = decode_entry(entry_bytes)
    leaf = leaf_hash(entry_bytes)
    if leaf != unb64(record["leaf_hash"], path + "/leaf_hash") or entry["index"] != record["index"]:
        raise Problem("%s: its entry does not match its leaf_hash and index" % path)
    if entry["kind"] != kind or record["kind"] != kind:
        raise Problem("%s is not of kind %s" % (path, kind))
    body, salt = record["body"], record["salt"]
    if body is None or salt is None or not commits(entry, unb64(salt, path + "/salt"), body):
        raise Problem("%s: its body and salt do not match its entry's commitment" % path)
    if body.get("kind") != kind or body.get("event_id") != record["event_id"] or body.get("platform") != "greffe":
        raise Problem("%s: its body is not Greffe's %s record %s" % (path, kind, record["event_id"]))
    proof = [unb64(h, path + "/inclusion_proof") for h in record["inclusion_proof"]]
    if not verify_inclusion(record["index"], size, leaf, proof, root):
        raise Problem("%s: its inclusion proof does not hold" % path)
    return entry, body


def load_strict(path):
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"), object_pairs_hook=strict_object)


def verify(path, vkey):
    """Returns (problems, event count); raises Problem when the file is not a readable v3 bundle."""
    return verify_bundle(load_strict(path), vkey)


def verify_bundle(bundle, vkey, shard=None, checkpoints=None):
    """verify() of a bundle already read. For element j of a shard bundle of n elements: shard (j, n), and
    checkpoints[k] element k's (size, root) as its key proves it (None when it does not)."""
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise Problem("not a %s bundle" % FORMAT)
    members(bundle, BUNDLE_MEMBERS, "the bundle", ["verifier_key", "checkpoint", "created_at", "earlier_checkpoints", "events", "tail"])
    size, root = open_checkpoint(bundle["checkpoint"], vkey)
    problems, fold, previous = [], Fold(), None
    for position, event in enumerate(bundle["events"]):
        where = "/events/%d" % position
        members(event, EVENT_MEMBERS, where, ["entry"] if "disclosed" in event else ["entry", "body", "salt"])
        entry_bytes = unb64(event["entry"], where + "/entry")
        entry = decode_entry(entry_bytes)
        i, leaf = entry["index"], leaf_hash(entry_bytes)
        after = -1 if previous is None else previous[0]
        if i <= after or i >= size:
            raise Problem("%s: index %d is not after %d and below %d: the fold cannot go on" % (where, i, after, size))
        gap = [unb64(h, where + "/gap") for h in event.get("gap", [])]
        subtrees = cover(after + 1, i)
        if len(gap) != len(subtrees):
            raise Problem("%s: its gap holds %d hashes, the cover of [%d, %d) has %d" % (where, len(gap), after + 1, i, len(subtrees)))
        for (h, j), digest in zip(subtrees, gap):
            fold.push(h, j, digest)
        fold.push(0, i, leaf)
        if previous is not None and previous[0] == i - 1:
            if entry["prev"] != previous[1]:
                problems.append("%s: its prev link is not the leaf hash of entry %d" % (where, i - 1))
            if entry["sequenced_at"] < previous[2]:
                problems.append("%s: sequenced before entry %d" % (where, i - 1))
        previous = (i, leaf, entry["sequenced_at"])
        if "disclosed" in event:
            if any(m in event for m in ("body", "salt", "erased")):
                problems.append("%s: disclosed fields beside a body, salt or erasure claim" % where)
            elif entry["layout"] != 2:
                problems.append("%s: fields disclosed from a layout-1 entry" % where)
            else:
                problems.extend("%s/disclosed: %s" % (where, p) for p in field_problems(event["disclosed"], entry["commitment"]))
            continue
        body, salt = event["body"], event["salt"]
        if body is not None:
            if "erased" in event:
                problems.append("%s: a body is shown and claimed erased" % where)
            if salt is None or not commits(entry, unb64(salt, where + "/salt"), body):
                problems.append("%s: body and salt do not match the entry's commitment" % where)
            if body.get("kind") != entry["kind"] or not isinstance(body.get("event_id"), str):
                problems.append("%s: the body's kind or event_id does not match" % where)
        else:
            if "erased" in event:
                members(event["erased"], ERASED_MEMBERS, where + "/erased", ["erased_at", "legal_reference", "erasure_entry_index"])
                if "shard" in event["erased"] and not is_index(event["erased"]["shard"]):
                    raise Problem("%s/erased/shard is not a non-negative integer" % where)
            try:
                problem, claim = erasure_problem(event, entry, shard)
                if problem is None:
                    problem = record_in(claim, size, root, checkpoints)
            except Problem as error:
                problem = str(error)
            if problem is not None:
                problems.append("%s: body withheld: %s" % (where, problem))
    after = -1 if previous is None else previous[0]
    tail = [unb64(h, "/tail") for h in bundle["tail"]]
    subtrees = cover(after + 1, size)
    if len(tail) != len(subtrees):
        raise Problem("/tail holds %d hashes, the cover of [%d, %d) has %d" % (len(tail), after + 1, size, len(subtrees)))
    for (h, j), digest in zip(subtrees, tail):
        fold.push(h, j, digest)
    if fold.root() != root:
        problems.append("the fold of gaps, leaves and tail leads to %s, not to the checkpoint's root %s: no event is shown to be in the log"
                        % (b64(fold.root()), b64(root)))
    for position, hold in enumerate(bundle.get("holds", [])):
        where = "/holds/%d" % position
        members(hold, {"placed", "lifted"}, where, ["placed", "lifted"])
        try:
            placed_entry, _ = check_record(hold["placed"], "hold.placed", size, root, where + "/placed")
            if hold["lifted"] is not None:
                lifted_entry, lifted_body = check_record(hold["lifted"], "hold.lifted", size, root, where + "/lifted")
                if lifted_body.get("hold_index") != placed_entry["index"] or lifted_entry["index"] <= placed_entry["index"]:
                    problems.append("%s: the lifted record does not lift the placed one" % where)
                elif "shard" in lifted_body:
                    # A lift naming a shard lifted a hold of that shard, not of this log (Schemas/shards.md).
                    problems.append("%s: the lifted record names shard %r: it lifted another shard's hold" % (where, lifted_body["shard"]))
        except Problem as error:
            problems.append(str(error))
    return problems, len(bundle["events"])


# --- greffe-shard-bundle/v1 (Schemas/shards.md, "Bundles across shards") ---
SET_FORMAT = "greffe-shard-bundle/v1"
SET_ORIGIN = "example.org/greffe-shard-test"
SET_MEMBERS = {"format", "origin", "verifier_key", "created_at", "query", "shards"}
SET_QUERY = {"kind": "edit.requested"}
LINK_REQUIRED = {"event_id", "kind", "occurred_at", "platform", "schema_version", "shard", "origin", "previous_origin",
                 "previous_checkpoint", "reason"}
LINK_OPTIONAL = {"previous_last_leaf_hash", "lost_entries", "lost_because"}
# Changes made after generation (to the file) and during it (to a link, re-signed and re-committed, so that
# only the link check can catch them).
SET_MUTATIONS = ["drop-middle", "swap", "other-origin", "other-shard-checkpoint", "base-named-checkpoint", "drop-link", "link-other-root",
                 "link-wrong-shard", "extra-member", "missing-member", "query-differs", "empty-shards", "restore-past-first"]
# Retention across shards (Schemas/shards.md): changes to a --drop-sealed set (made with one body dropped when
# --drop-sealed is not given). Records are changed before they are committed (their entries commit to the change).
#   ret-shard-other             the cross-shard record's body names another shard than the dropped bodies'
#   ret-no-shard                the cross-shard record's body has no shard member
#   erased-shard-earlier        erased.shard names an earlier shard than the event's (bodies dropped in shard 1)
#   erased-shard-same           erased.shard names the event's own shard
#   erased-shard-missing        erased.shard names a shard the file does not hold
#   erased-shard-wrong-element  erased.shard names a later element that does not hold the record
#   ret-same-shard-with-shard   the last shard's own retention record (same shard) has a shard member
RETENTION_MUTATIONS = ["ret-shard-other", "ret-no-shard", "erased-shard-earlier", "erased-shard-same", "erased-shard-missing",
                       "erased-shard-wrong-element", "ret-same-shard-with-shard"]
SET_MUTATIONS += RETENTION_MUTATIONS
# Erasure orders across shards (Schemas/shards.md, "Erasure orders in a sealed shard"): the same changes to an
# --erase-sealed set (made with it when not given), whose records are erasure.executed orders.
#   order-shard-other                 the cross-shard order's body names another shard than the erased body's
#   order-no-shard                    the cross-shard order's body has no shard member
#   order-same-shard-with-shard       the last shard's own order (same shard) has a shard member
#   order-erased-shard-wrong-element  erased.shard names a later element that does not hold the order
#   order-erased-shard-earlier        erased.shard names an earlier shard than the event's (body erased in shard 1)
ORDER_MUTATIONS = {"order-shard-other": "ret-shard-other", "order-no-shard": "ret-no-shard",
                   "order-same-shard-with-shard": "ret-same-shard-with-shard",
                   "order-erased-shard-wrong-element": "erased-shard-wrong-element", "order-erased-shard-earlier": "erased-shard-earlier"}
SET_MUTATIONS += list(ORDER_MUTATIONS)
RETENTION_BASIS = "Art. 6 GDPR; retention policy R-7 (30 days)"
ORDER_REFERENCE = "TJ Paris, ordonnance de référé 26/%d"


def shard_origin(base, k):
    return base if k == 0 else "%s/%d" % (base, k)


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def build_shard(rng, t, size, bundled, link, records=None):
    """One shard's log: entry 0 the link body (k >= 1), edit.requested events at `bundled`, fillers elsewhere;
    `records` {index: Greffe-written body} (their occurred_at set here, and a recorded_before of None set to
    just after the entry before)."""
    leaves, entries, bodies, salts, prev, times = [], {}, {}, {}, bytes(32), []
    for index in range(size):
        t += rng.randrange(1, 40)
        times.append(t)
        salt = rng.getrandbits(256).to_bytes(32, "big")
        layout = 2 if index % 2 == 0 else 1
        if index == 0 and link is not None:
            body, kind = dict(link, occurred_at=iso(t)), "shard.opened"
        elif records and index in records:
            body = dict(records[index], occurred_at=iso(t))
            if body.get("recorded_before", "") is None:
                body["recorded_before"] = iso(times[-2] + 1)
            kind = body["kind"]
        elif index in bundled:
            body, kind = edit_requested(rng, t - rng.randrange(0, 2000)), "edit.requested"
        else:
            body, kind = None, "generation.completed"
        if body is None:
            commitment = rng.getrandbits(256).to_bytes(32, "big")  # not bundled: only its leaf matters
        else:
            commitment = field_tree_root(salt, body) if layout == 2 else sha256(salt, jcs(body))
            bodies[index], salts[index] = body, salt
        entry = make_entry(index, t, prev, commitment, kind, layout)
        entries[index] = entry
        prev = leaf_hash(entry)
        leaves.append(prev)
    return {"leaves": leaves, "entries": entries, "bodies": bodies, "salts": salts, "tree": Tree(leaves), "t": t}


def shard_element(shard, indices, private, origin, public):
    """The v3 bundle of the given entries of one shard, against its whole tree."""
    tree, n = shard["tree"], len(shard["leaves"])
    events, previous = [], -1
    for index in indices:
        event = {"entry": b64(shard["entries"][index]), "body": shard["bodies"][index], "salt": b64(shard["salts"][index])}
        gap = cover(previous + 1, index)
        if gap:
            event["gap"] = [b64(tree.subtree(h, j)) for h, j in gap]
        events.append(event)
        previous = index
    return {"format": FORMAT, "verifier_key": vkey_of(origin, public), "checkpoint": sign_checkpoint(private, origin, n, tree.root()),
            "created_at": None, "query": json.loads(json.dumps(SET_QUERY)), "earlier_checkpoints": [],
            "events": events, "tail": [b64(tree.subtree(h, j)) for h, j in cover(previous + 1, n)]}


def retention_record(n, shard=None, **fields):
    body = {"event_id": "greffe-retention-%06d" % n, "kind": "retention.applied", "platform": "greffe", "schema_version": 1,
            "retention_days": 30, "legal_basis": RETENTION_BASIS, **fields}
    if shard is not None:
        body["shard"] = shard
    return body


def erasure_order(n, target, shard=None):
    body = {"event_id": "greffe-erasure-%06d" % n, "kind": "erasure.executed", "platform": "greffe", "schema_version": 1,
            "target_index": target, "legal_reference": ORDER_REFERENCE % n, "reason": "data-protection order"}
    if shard is not None:
        body["shard"] = shard
    return body


def v2_record(shard, index):
    """A record of one shard in the v2 record shape, proved against that shard's whole tree."""
    body = shard["bodies"][index]
    return {"index": index, "event_id": body["event_id"], "kind": body["kind"], "body": body, "salt": b64(shard["salts"][index]),
            "entry": b64(shard["entries"][index]), "leaf_hash": b64(shard["leaves"][index]),
            "inclusion_proof": [b64(h) for h in shard["tree"].inclusion(index)]}


def make_set(seed, shards=3, mutate=None, restore=False, drop_sealed=0, drop_shard=0, erase_sealed=False):
    """A signed shard bundle: shard k >= 1 opens with its shard.opened link to shard k-1's final checkpoint.
    With restore, the last link seals its previous shard by a restore: 5 entries lost after what it keeps.
    With drop_sealed K, the first K bundled events of shard drop_shard had their bodies dropped after that
    shard was sealed, by a retention.applied record of the last shard ("shard": drop_shard, Schemas/shards.md,
    "Retention across shards"); the last shard's first bundled event's body is dropped by a record of its own
    (no shard member), its last entry. With erase_sealed, the same with erasure.executed orders, one body each
    (Schemas/shards.md, "Erasure orders in a sealed shard")."""
    if mutate in ORDER_MUTATIONS:
        erase_sealed, mutate = True, ORDER_MUTATIONS[mutate]
    if erase_sealed:
        if drop_sealed > 1:
            raise ValueError("--erase-sealed erases one body of the sealed shard: no --drop-sealed K > 1")
        drop_sealed = 1
    if mutate in RETENTION_MUTATIONS:
        drop_sealed = max(drop_sealed, 1)
        if mutate == "erased-shard-earlier":
            drop_shard = max(drop_shard, 1)
    last = shards - 1
    if drop_sealed and not (0 <= drop_shard < last and 1 <= drop_sealed <= 3):
        raise ValueError("--drop-sealed K needs 1 <= K <= 3 and a --drop-shard before the last shard")
    if mutate == "erased-shard-wrong-element" and drop_shard + 1 >= last:
        raise ValueError("erased-shard-wrong-element needs an element between the dropped bodies' shard and the last one")
    rng = random.Random(seed)
    private = Ed25519PrivateKey.from_private_bytes(rng.getrandbits(256).to_bytes(32, "big"))
    public = private.public_key().public_bytes_raw()
    restore = restore or mutate == "restore-past-first"
    t = 1765000000000 + rng.randrange(10 ** 8)
    elements, previous, built, dropped = [], None, [], {}
    for k in range(shards):
        origin = shard_origin(SET_ORIGIN, k)
        size = rng.randrange(6, 14)
        bundled = set(rng.sample(range(1, size), 3))
        records = {}
        if drop_sealed and k == last:
            # The sealed shard's record (at the first entry after the link that is not bundled), then the
            # last shard's own record, appended as its last entry, of its first bundled event.
            j, target = drop_shard, built[drop_shard]
            gone = sorted(target["bundled"])[:drop_sealed]
            # The batch runs to the shard's end; the bundled bodies it did not drop are those a hold kept.
            kept = [i for i in sorted(target["bundled"]) if i > gone[0] and i not in gone]
            across = {"ret-shard-other": j + 1, "ret-no-shard": None}.get(mutate, j)
            at = min(set(range(1, size)) - bundled)
            own = min(bundled)
            own_shard = last if mutate == "ret-same-shard-with-shard" else None
            if erase_sealed:
                records[at] = erasure_order(1, gone[0], across)
                records[size] = erasure_order(2, own, own_shard)
                dropped = {j: (gone, at, ORDER_REFERENCE % 1), last: ([own], size, ORDER_REFERENCE % 2)}
            else:
                records[at] = retention_record(1, across, recorded_before=iso(target["t"] + 1), from_index=gone[0], to_index=len(target["leaves"]),
                                               kept_under_hold=kept)
                records[size] = retention_record(2, own_shard, recorded_before=None, from_index=own, to_index=own + 1, kept_under_hold=[])
                dropped = {j: (gone, at, RETENTION_BASIS), last: ([own], size, RETENTION_BASIS)}
            size += 1
        link = None
        if k >= 1:
            before = shard_origin(SET_ORIGIN, k - 1)
            n_prev, root_prev = len(previous["leaves"]), previous["tree"].root()
            link = {"event_id": "greffe-shard-opened-%06d" % k, "kind": "shard.opened", "platform": "greffe", "schema_version": 1,
                    "shard": k, "origin": origin, "previous_origin": before, "reason": "size",
                    "previous_checkpoint": sign_checkpoint(private, before, n_prev, root_prev),
                    "previous_last_leaf_hash": b64(previous["leaves"][-1])}
            if restore and k == shards - 1:
                # The world saw 5 more entries than the restored shard keeps: their tree, signed, is the seal.
                lost = [rng.getrandbits(256).to_bytes(32, "big") for _ in range(5)]
                first = n_prev - 2 if mutate == "restore-past-first" else n_prev
                sealed = Tree(previous["leaves"][:first] + lost)
                del link["previous_last_leaf_hash"]
                link.update(reason="restore", previous_checkpoint=sign_checkpoint(private, before, sealed.n, sealed.root()),
                            lost_entries={"first_index": first, "end_index": sealed.n}, lost_because="disk lost; restored from the 03:00 backup")
            if mutate == "link-other-root" and k == 2:
                link["previous_checkpoint"] = sign_checkpoint(private, before, n_prev, sha256(b"another root"))
            if mutate == "link-wrong-shard" and k == 2:
                link["shard"] = 3
        shard = build_shard(rng, t, size, bundled, link, records)
        shard["bundled"] = bundled
        built.append(shard)
        t = shard["t"] + 1000
        indices = sorted(bundled | ({0} if k >= 1 and not (mutate == "drop-link" and k == 2) else set()))
        elements.append(shard_element(shard, indices, private, origin, public))
        previous = shard
    for k, (gone, at, reference) in dropped.items():
        # The bodies gone, each claim with the record proved against the record's shard's (the last) checkpoint.
        erased_as = {"erased-shard-earlier": 0, "erased-shard-same": k, "erased-shard-missing": shards,
                     "erased-shard-wrong-element": k + 1}.get(mutate, last) if k != last else None
        for event in elements[k]["events"]:
            index = decode_entry(base64.b64decode(event["entry"]))["index"]
            if index not in gone:
                continue
            event["body"] = event["salt"] = None
            event["erased"] = {"erased_at": iso(built[last]["t"] + 500), "legal_reference": reference, "erasure_entry_index": at,
                               "record": v2_record(built[last], at)}
            if erased_as is not None:
                event["erased"]["shard"] = erased_as
    for element in elements:
        element["created_at"] = iso(t)
    bundle = {"format": SET_FORMAT, "origin": SET_ORIGIN, "verifier_key": vkey_of(SET_ORIGIN, public), "created_at": iso(t), "query": SET_QUERY, "shards": elements}
    s = bundle["shards"]
    if mutate == "drop-middle":
        del s[1]
    elif mutate == "swap":
        s[1], s[2] = s[2], s[1]
    elif mutate in ("other-shard-checkpoint", "base-named-checkpoint"):
        # Same tree, signed under another shard's name (shard 2's, or the base origin's).
        name = shard_origin(SET_ORIGIN, 2 if mutate == "other-shard-checkpoint" else 0)
        _, size, root = s[1]["checkpoint"].split("\n")[:3]
        s[1]["checkpoint"] = sign_checkpoint(private, name, int(size), base64.b64decode(root))
    elif mutate == "other-origin":
        bundle["origin"] = "evil.example"
    elif mutate == "extra-member":
        bundle["comment"] = "added"
    elif mutate == "missing-member":
        del bundle["created_at"]
    elif mutate == "query-differs":
        s[1]["query"] = {"kind": "generation.completed"}
    elif mutate == "empty-shards":
        bundle["shards"] = []
    return bundle, vkey_of(SET_ORIGIN, public)


def canonical(value):
    """Equality of JSON values (Python's == has True == 1)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def link_problem(k, element, base, vkey_k, vkey_before, before):
    """Step 3 for shard k: (problem, None) or (None, lost range sentence or None). `before` is shard k-1's (size, root)."""
    events = element.get("events")
    if not isinstance(events, list) or not events:
        return "holds no event, so not its entry 0", None
    event = events[0]
    try:
        entry_bytes = unb64(event["entry"], "entry")
        entry = decode_entry(entry_bytes)
    except (Problem, KeyError, TypeError) as error:
        return "its first event cannot be read: %s" % error, None
    if entry["index"] != 0:
        return "its first event is entry %d: entry 0 (the shard.opened link) is missing" % entry["index"], None
    if entry["kind"] != "shard.opened":
        return "its entry 0 is of kind %s, not shard.opened" % entry["kind"], None
    body, salt = event.get("body"), event.get("salt")
    if "disclosed" in event or "erased" in event or not isinstance(body, dict) or salt is None:
        return "its entry 0 carries no whole body and salt", None
    if not commits(entry, unb64(salt, "salt"), body) or body.get("kind") != "shard.opened" or not isinstance(body.get("event_id"), str):
        return "its entry 0's body is not the one its entry commits to", None
    if set(body) - LINK_REQUIRED - LINK_OPTIONAL or LINK_REQUIRED - set(body):
        return "its body's members are not those of the shard.opened schema", None
    if body["platform"] != "greffe" or body["schema_version"] != 1 or type(body["schema_version"]) is not int:
        return "its body is not Greffe's (platform greffe, schema_version 1)", None
    if type(body["shard"]) is not int or body["shard"] != k:
        return "its body names shard %r, not %d" % (body["shard"], k), None
    if body["origin"] != shard_origin(base, k) or body["previous_origin"] != shard_origin(base, k - 1):
        return "its body names the origins %r after %r, not %r after %r" % (
            body["origin"], body["previous_origin"], shard_origin(base, k), shard_origin(base, k - 1)), None
    try:
        size, root = open_checkpoint(body["previous_checkpoint"], vkey_before)
    except Exception as error:  # noqa: BLE001 — a bad note or signature, whatever raised it
        return "its previous_checkpoint is not signed by shard %d's key: %s %s" % (k - 1, type(error).__name__, error), None
    if before is None:
        return "shard %d's bundle does not verify, so the link cannot be compared with it" % (k - 1), None
    reason = body["reason"]
    if reason in ("size", "period"):
        leaf = body.get("previous_last_leaf_hash")
        if not isinstance(leaf, str) or len(leaf) != 44 or "lost_entries" in body or "lost_because" in body:
            return "its body (reason %s) lacks previous_last_leaf_hash or names lost entries" % reason, None
        if (size, root) != before:
            return "it seals shard %d at %d entries (root %s), but shard %d's bundle is proved at %d (root %s)" % (
                k - 1, size, b64(root), k - 1, before[0], b64(before[1])), None
        return None, None
    if reason != "restore":
        return "its body's reason %r is none of size, period, restore" % reason, None
    lost = body.get("lost_entries")
    if ("previous_last_leaf_hash" in body or not isinstance(lost, dict) or set(lost) != {"first_index", "end_index"}
            or not all(type(v) is int and v >= 0 for v in lost.values()) or not isinstance(body.get("lost_because"), str)):
        return "its body (reason restore) has no valid lost_entries and lost_because", None
    first, end = lost["first_index"], lost["end_index"]
    if not first < end == size:
        return "its lost_entries [%d, %d) do not end at the sealed size %d" % (first, end, size), None
    if before[0] > first:
        return "shard %d's bundle is proved at %d entries, past the first lost entry %d" % (k - 1, before[0], first), None
    return None, "entries %d to %d of shard %d were lost in a restore (%s)" % (first, end - 1, k - 1, body["lost_because"])


def verify_set(path, vkey):
    """Returns (problems, lost ranges, per-shard lines); raises Problem when the file is not a readable shard bundle."""
    bundle = load_strict(path)
    if not isinstance(bundle, dict) or bundle.get("format") != SET_FORMAT:
        raise Problem("not a %s file" % SET_FORMAT)
    if set(bundle) != SET_MEMBERS:
        raise Problem("its members are not exactly %s: extra %s, missing %s" % (
            sorted(SET_MEMBERS), sorted(set(bundle) - SET_MEMBERS), sorted(SET_MEMBERS - set(bundle))))
    if not all(isinstance(bundle[m], str) for m in ("origin", "verifier_key", "created_at")) or not isinstance(bundle["query"], dict):
        raise Problem("origin, verifier_key, created_at are not strings, or query is not an object")
    if not isinstance(bundle["shards"], list) or not bundle["shards"]:
        raise Problem("shards is not a non-empty array")
    base, _, key = vkey.strip().split("+", 2)
    public = base64.b64decode(key)[1:]
    keys = [vkey_of(shard_origin(base, k), public) for k in range(len(bundle["shards"]))]
    problems, lost, lines, proved = [], [], [], []
    # Each element's checkpoint as its own key proves it: a record of shard m is proved against element m's.
    checkpoints = []
    for k, element in enumerate(bundle["shards"]):
        try:
            checkpoints.append(open_checkpoint(element["checkpoint"], keys[k]))
        except Exception:  # noqa: BLE001 — reported with the element below
            checkpoints.append(None)
    if bundle["origin"] != base:
        problems.append("the file names the ledger %r, not the key's %r" % (bundle["origin"], base))
    for k, element in enumerate(bundle["shards"]):
        proved.append(None)
        if not isinstance(element, dict) or element.get("format") != FORMAT:
            problems.append("shard %d: not a %s bundle" % (k, FORMAT))
            continue
        if "query" not in element or canonical(element["query"]) != canonical(bundle["query"]):
            problems.append("shard %d: its query is not the file's" % k)
        try:
            found, count = verify_bundle(element, keys[k], (k, len(bundle["shards"])), checkpoints)
            size, root = open_checkpoint(element["checkpoint"], keys[k])
        except Exception as error:  # noqa: BLE001 — a refusal of the element, whatever raised it
            why = str(error) if isinstance(error, Problem) else "%s %s" % (type(error).__name__, error)
            problems.append("shard %d: NOT VERIFIED as a v3 bundle with key %s: %s" % (k, keys[k], why))
            continue
        problems.extend("shard %d: %s" % (k, p) for p in found)
        if not found:
            proved[k] = (size, root)
        # Bodies dropped after the shard was sealed (checked above with the rest of the element).
        across = sorted({e["erased"]["shard"] for e in element["events"] if e.get("body") is None and isinstance(e.get("erased"), dict) and "shard" in e["erased"]})
        dropped = sum(1 for e in element["events"] if e.get("body") is None and isinstance(e.get("erased"), dict) and "shard" in e["erased"])
        lines.append("shard %d (%s): %d events%s, checkpoint of %d entries" % (
            k, shard_origin(base, k), count,
            " (%d bodies dropped or erased after the shard was sealed, by a record of shard %s)" % (dropped, ", ".join(map(str, across))) if dropped and not found else "",
            size))
    for k in range(1, len(bundle["shards"])):
        element = bundle["shards"][k]
        if not isinstance(element, dict):
            continue
        problem, gap = link_problem(k, element, base, keys[k], keys[k - 1], proved[k - 1])
        if problem:
            problems.append("shard %d: link to shard %d: %s" % (k, k - 1, problem))
        elif gap:
            lost.append(gap)
    return problems, lost, lines


def to_v2(bundle):
    """v3 → v2: each event's own inclusion proof from the pieces."""
    size, _ = int(bundle["checkpoint"].split("\n")[1]), None
    pieces, previous, events = {}, -1, []
    for event in bundle["events"]:
        entry_bytes = base64.b64decode(event["entry"])
        entry = decode_entry(entry_bytes)
        for (h, j), digest in zip(cover(previous + 1, entry["index"]), event.get("gap", [])):
            pieces[(h, j)] = base64.b64decode(digest)
        pieces[(0, entry["index"])] = leaf_hash(entry_bytes)
        events.append((entry, entry_bytes, event))
        previous = entry["index"]
    for (h, j), digest in zip(cover(previous + 1, size), bundle["tail"]):
        pieces[(h, j)] = base64.b64decode(digest)
    tree = Pieces(pieces, size)
    out = {k: v for k, v in bundle.items() if k not in ("events", "tail", "holds")}
    out["format"] = "greffe-bundle/v2"
    out["events"] = []
    for entry, entry_bytes, event in events:
        v2 = {"index": entry["index"], "event_id": (event["body"] or {}).get("event_id", ""), "kind": entry["kind"],
              "body": event["body"], "salt": event["salt"], "entry": event["entry"], "leaf_hash": b64(leaf_hash(entry_bytes)),
              "inclusion_proof": [b64(h) for h in tree.inclusion(entry["index"])]}
        for name in ("appended_by", "erased"):
            if name in event:
                v2[name] = event[name]
        out["events"].append(v2)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("--events", type=int, required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--key-out", required=True)
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--sparse", action="store_true")
    m.add_argument("--erase", type=int, default=0)
    m.add_argument("--hold", action="store_true")
    m.add_argument("--hold-lift-shard", type=int, metavar="N",
                   help="with --hold: the hold.lifted body names shard N (committed), as a lift recorded for another shard")
    v = sub.add_parser("verify")
    v.add_argument("file")
    v.add_argument("--vkey", required=True)
    c = sub.add_parser("to-v2")
    c.add_argument("file")
    c.add_argument("--out", required=True)
    ms = sub.add_parser("make-set")
    ms.add_argument("--out", required=True)
    ms.add_argument("--key-out", required=True)
    ms.add_argument("--seed", type=int, default=1)
    ms.add_argument("--shards", type=int, default=3)
    ms.add_argument("--restore", action="store_true")
    ms.add_argument("--mutate", choices=SET_MUTATIONS)
    ms.add_argument("--drop-sealed", type=int, default=0, metavar="K",
                    help="K (1 to 3) bodies of shard --drop-shard dropped by a retention record of the last shard")
    ms.add_argument("--drop-shard", type=int, default=0, metavar="J")
    ms.add_argument("--erase-sealed", action="store_true",
                    help="one body of shard --drop-shard erased by an erasure.executed order recorded in the last shard")
    el = sub.add_parser("element")
    el.add_argument("file")
    el.add_argument("--shard", type=int, required=True)
    el.add_argument("--vkey", required=True)
    el.add_argument("--out", required=True)
    el.add_argument("--key-out", required=True)
    vs = sub.add_parser("verify-set")
    vs.add_argument("file")
    vs.add_argument("--vkey", required=True)
    args = parser.parse_args()
    if args.command == "make-set":
        if args.shards < 3 and args.mutate and args.mutate != "empty-shards":
            parser.error("--mutate needs --shards 3 or more")
        try:
            bundle, vkey = make_set(args.seed, args.shards, args.mutate, args.restore, args.drop_sealed, args.drop_shard, args.erase_sealed)
        except ValueError as error:
            parser.error(str(error))
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(bundle, f, ensure_ascii=False)
        with open(args.key_out, "w") as f:
            f.write(vkey + "\n")
        print("wrote %s: %d shards%s" % (args.out, len(bundle["shards"]), ", mutated: " + args.mutate if args.mutate else ""))
        return 0
    if args.command == "element":
        # Element J of a shard bundle as the v3 bundle it is, with shard J's key (the base key renamed).
        with open(args.vkey) as f:
            base, _, key = f.read().strip().split("+", 2)
        with open(args.file, encoding="utf-8") as f:
            element = json.load(f)["shards"][args.shard]
        write_bundle(element, args.out)
        with open(args.key_out, "w") as f:
            f.write(vkey_of(shard_origin(base, args.shard), base64.b64decode(key)[1:]) + "\n")
        return 0
    if args.command == "verify-set":
        with open(args.vkey) as f:
            vkey = f.read().strip()
        try:
            problems, lost, lines = verify_set(args.file, vkey)
        except Exception as error:  # noqa: BLE001 — any refusal or malformed input is a NOT VERIFIED with its cause
            print("NOT VERIFIED: %s: %s" % (type(error).__name__, error))
            return 1
        for line in lines + ["LOST: " + gap for gap in lost]:
            print(line)
        if problems:
            print("NOT VERIFIED: %d problem(s):" % len(problems))
            for p in problems[:50]:
                print("  - " + p)
            return 1
        print("VERIFIED: %d shards and their links" % (len(lines)))
        return 0
    if args.command == "make":
        if args.hold_lift_shard is not None and not args.hold:
            parser.error("--hold-lift-shard needs --hold")
        started = time.monotonic()
        bundle, vkey = make(args.events, args.seed, args.sparse, args.erase, args.hold, args.hold_lift_shard)
        write_bundle(bundle, args.out)
        with open(args.key_out, "w") as f:
            f.write(vkey + "\n")
        print("wrote %s: %d events, tree size %s, %d bytes, in %.1f s" % (
            args.out, args.events, bundle["checkpoint"].split("\n")[1], os.path.getsize(args.out), time.monotonic() - started))
        return 0
    if args.command == "to-v2":
        with open(args.file, encoding="utf-8") as f:
            bundle = json.load(f)
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(to_v2(bundle), f, ensure_ascii=False)
        return 0
    with open(args.vkey) as f:
        vkey = f.read().strip()
    started = time.monotonic()
    try:
        problems, count = verify(args.file, vkey)
    except Exception as error:  # noqa: BLE001 — any refusal or malformed input is a NOT VERIFIED with its cause
        print("NOT VERIFIED: %s: %s" % (type(error).__name__, error))
        return 1
    if problems:
        print("NOT VERIFIED: %d problem(s):" % len(problems))
        for p in problems[:50]:
            print("  - " + p)
        return 1
    print("VERIFIED: %d events, in %.1f s" % (count, time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
