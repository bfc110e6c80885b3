#!/usr/bin/env python3
"""greffe-bundle/v3, independently: a generator and a verifier written from
Schemas/bundle.md and Schemas/entry.md alone (no Greffe code), so that the
browser verifier and `greffe verify` can be checked against a third reading
of the specification.

  bundlev3.py make --events N --out FILE --key-out VKEYFILE [--seed S] [--sparse]
                   [--erase K] [--hold]
      A signed, valid v3 bundle of N edit.requested events (~800 canonical
      bytes each) inside a larger tree: entries before the first event and
      after the last are not bundled, so the first event's gap and the tail
      are non-trivial. --sparse scatters the events (gaps between them);
      --erase K erases K bodies (their erasure.executed records sit after
      the events, with RFC 9162 inclusion proofs); --hold adds one legal hold,
      placed and lifted. The key pair is new each run (seeded: reproducible).
  bundlev3.py verify FILE --vkey VKEYFILE
      The v3 checks: strict members, the signed checkpoint, each event's
      entry and commitment, the prev links, the stack fold of gaps, leaves
      and tail into the root, erasure and hold records. Exit 0 when it
      verifies; prints the problems otherwise.
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
import hashlib
import hmac
import json
import os
import random
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


def make(n, seed, sparse, erase, hold):
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
ERASED_MEMBERS = {"erased_at", "legal_reference", "erasure_entry_index", "record"}


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


def verify(path, vkey):
    """Returns (problems, event count); raises Problem when the file is not a readable v3 bundle."""
    with open(path, "rb") as f:
        bundle = json.loads(f.read().decode("utf-8"), object_pairs_hook=strict_object)
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
            erased = event.get("erased")
            if salt is not None or erased is None or "record" not in erased:
                problems.append("%s: body withheld with no erasure record" % where)
                continue
            members(erased, ERASED_MEMBERS, where + "/erased", ["erased_at", "legal_reference", "erasure_entry_index"])
            try:
                rec_entry, rec_body = check_record(erased["record"], "erasure.executed", size, root, where + "/erased/record")
                if (rec_entry["index"] != erased["erasure_entry_index"] or rec_body.get("target_index") != i
                        or rec_body.get("legal_reference") != erased["legal_reference"] or rec_entry["index"] <= i):
                    problems.append("%s: the erasure record does not order this erasure" % where)
            except Problem as error:
                problems.append(str(error))
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
        except Problem as error:
            problems.append(str(error))
    return problems, len(bundle["events"])


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
    v = sub.add_parser("verify")
    v.add_argument("file")
    v.add_argument("--vkey", required=True)
    c = sub.add_parser("to-v2")
    c.add_argument("file")
    c.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.command == "make":
        started = time.monotonic()
        bundle, vkey = make(args.events, args.seed, args.sparse, args.erase, args.hold)
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
