"""Greffe entries (Schemas/entry.md, layouts 1 and 2) and the commitments they hold. No I/O."""
import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Any, List, Tuple, Union

from .errors import VerificationError
from .jcs import canonicalize
from .merkle import leaf_hash, merkle_tree_hash, root_from_inclusion_proof

_KIND_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
_FIELD_SALT_LABEL = b"greffe/field-salt/v1\x00"
MAX_FIELDS = 16384

PathStep = Union[str, int]


@dataclass(frozen=True)
class Entry:
    layout: int
    index: int
    sequenced_at_ms: int
    prev: bytes
    commitment: bytes
    kind: str
    raw: bytes

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.raw)


def decode_entry(raw: bytes) -> Entry:
    """Parses an entry strictly: a known layout byte, exact length, a valid kind."""
    if len(raw) < 83 or raw[0] not in (1, 2):
        raise VerificationError("entry is not of layout 1 or 2")
    k = raw[81]
    if not 1 <= k <= 64 or len(raw) != 82 + k:
        raise VerificationError("entry length does not match its kind length")
    kind_bytes = raw[82:]
    if any(chr(b) not in _KIND_CHARS for b in kind_bytes):
        raise VerificationError("entry kind is not a valid kind name")
    index, sequenced_at = struct.unpack(">QQ", raw[1:17])
    return Entry(raw[0], index, sequenced_at, raw[17:49], raw[49:81], kind_bytes.decode("ascii"), bytes(raw))


def encode_path(path: List[PathStep]) -> bytes:
    """P(path): 0x01 ‖ uint32 len ‖ name per member, 0x02 ‖ uint32 position per array step, then 0x00."""
    out = bytearray()
    for step in path:
        if isinstance(step, str):
            name = step.encode("utf-8")
            out += b"\x01" + struct.pack(">I", len(name)) + name
        elif isinstance(step, int) and not isinstance(step, bool) and 0 <= step <= 0xFFFFFFFF:
            out += b"\x02" + struct.pack(">I", step)
        else:
            raise VerificationError("a field path step is neither a name nor a position")
    return bytes(out) + b"\x00"


def field_salt(event_salt: bytes, encoded_path: bytes) -> bytes:
    return hmac.new(event_salt, _FIELD_SALT_LABEL + encoded_path, hashlib.sha256).digest()


def _fields(body: Any) -> List[Tuple[bytes, Any]]:
    out: List[Tuple[bytes, Any]] = []

    def walk(value: Any, path: List[PathStep]) -> None:
        if isinstance(value, dict) and value:
            for name, member in value.items():
                walk(member, path + [name])
        elif isinstance(value, list) and value:
            for position, item in enumerate(value):
                walk(item, path + [position])
        else:
            out.append((encode_path(path), value))
    walk(body, [])
    return out


def field_tree_root(event_salt: bytes, body: Any) -> bytes:
    """Layout 2's commitment: SHA-256(0x02 ‖ uint32(n) ‖ MTH of the body's salted fields in P(path) order)."""
    fields = sorted(_fields(body), key=lambda f: f[0])
    if len(fields) > MAX_FIELDS:
        raise VerificationError("body has more than %d fields" % MAX_FIELDS)
    leaves = [leaf_hash(field_salt(event_salt, p) + p + canonicalize(v)) for p, v in fields]
    return _wrap(len(leaves), merkle_tree_hash(leaves))


def _wrap(count: int, tree_hash: bytes) -> bytes:
    return hashlib.sha256(b"\x02" + struct.pack(">I", count) + tree_hash).digest()


def commitment_of(layout: int, salt: bytes, body: Any) -> bytes:
    if len(salt) != 32:
        raise VerificationError("salt is not 32 bytes")
    if layout == 1:
        return hashlib.sha256(salt + canonicalize(body)).digest()
    if layout == 2:
        return field_tree_root(salt, body)
    raise VerificationError("unknown entry layout %d" % layout)


def check_body(entry: Entry, salt: bytes, body: Any) -> None:
    """Schemas/entry.md "Checking an event against its entry", steps 2 and 3."""
    if not isinstance(body, dict):
        raise VerificationError("event body is not a JSON object")
    if commitment_of(entry.layout, salt, body) != entry.commitment:
        raise VerificationError("entry %d: body and salt do not match the entry's commitment" % entry.index)
    if body.get("kind") != entry.kind:
        raise VerificationError("entry %d: body kind %r is not the entry's %r" % (entry.index, body.get("kind"), entry.kind))


def check_disclosed_field(entry: Entry, path: List[PathStep], value: Any, salt: bytes, position: int, count: int,
                          proof: List[bytes]) -> None:
    """Schemas/entry.md "Proving one field": the field's leaf, through its proof, gives the entry's commitment."""
    if entry.layout != 2:
        raise VerificationError("entry %d is not of layout 2: it cannot prove single fields" % entry.index)
    if (isinstance(value, (dict, list)) and value) or len(salt) != 32 or not 1 <= count <= MAX_FIELDS:
        raise VerificationError("disclosed field %s is malformed" % (path,))
    encoded = encode_path(path)
    tree = root_from_inclusion_proof(position, count, leaf_hash(salt + encoded + canonicalize(value)), proof)
    if _wrap(count, tree) != entry.commitment:
        raise VerificationError("disclosed field %s is not a field of entry %d's body" % (path, entry.index))
