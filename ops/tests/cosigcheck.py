"""Shared by the witness drivers (witness.sh, witnessed-log.sh), independent
of greffe: results in lib.sh's "ok"/"FAIL" lines, HTTP GET, the parts of a
signed note, and C2SP cosignature/v1 verifier keys with their key IDs
recomputed, for Python's `cryptography` to check cosignatures with."""
import base64, hashlib, urllib.request
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

failures = 0


def ok(msg):
    print("ok   " + msg)


def fail(msg):
    global failures
    failures += 1
    print("FAIL " + msg)


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def size_of(note):
    return int(note.split(b"\n")[1])


def body_of(note):
    """The note's text: everything up to and including the newline before its blank line."""
    return note[: note.index(b"\n\n") + 1]


def witness_vkey(path):
    """(name, key ID, public key) of a vkey name+hexkeyid+base64(0x04 || Ed25519 key),
    the key ID recomputed as SHA-256(name || 0x0A || 0x04 || key)[:4]."""
    name, hexid, keyb64 = open(path).read().strip().split("+", 2)
    raw = base64.b64decode(keyb64)
    if len(raw) != 33 or raw[0] != 0x04:
        raise ValueError(path + " is not a cosignature/v1 (type 0x04) vkey")
    key_id = hashlib.sha256(name.encode() + b"\n\x04" + raw[1:]).digest()[:4]
    if key_id.hex() != hexid:
        raise ValueError("%s: key ID %s is not SHA-256(name || 0x0A || 0x04 || key)[:4] = %s" % (path, hexid, key_id.hex()))
    return name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:])
