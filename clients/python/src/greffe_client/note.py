"""C2SP signed notes and tlog checkpoints, verified with Ed25519 note verifier keys. No I/O.

Verifier key: `name+hexkeyid+base64(0x01 ‖ pubkey)`, key ID = first 4 bytes of
SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pubkey) (C2SP signed-note). A note is its text,
a blank line, then signature lines `— name base64(keyid ‖ signature)`.
"""
import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any, Iterable, List, Sequence, Tuple, Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import VerificationError

_ED25519 = 0x01
_EM_DASH_PREFIX = "\u2014 "
# Generous but bounded: a checkpoint is a few hundred bytes; refuse to parse megabytes.
MAX_NOTE_SIZE = 1 << 20


def b64decode_strict(text: Any, what: str) -> bytes:
    """Standard base64 (RFC 4648 §4), canonical only: re-encoding must give the same text."""
    if not isinstance(text, str):
        raise VerificationError("%s is not a base64 string" % what)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("%s is not base64" % what) from None
    if base64.b64encode(data).decode() != text:
        raise VerificationError("%s is not canonical base64" % what)
    return data


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> "VerifierKey":
        # The name holds no "+" (C2SP signed-note); the base64 key may.
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise VerificationError("verifier key is not name+keyid+key")
        name, hexid, encoded = parts
        if not name or any(c.isspace() for c in name):
            raise VerificationError("verifier key name is empty or holds white space")
        if len(hexid) != 8 or any(c not in "0123456789abcdef" for c in hexid):
            raise VerificationError("verifier key ID is not 8 lower-case hex digits")
        raw = b64decode_strict(encoded, "verifier key")
        if len(raw) != 33 or raw[0] != _ED25519:
            raise VerificationError("verifier key is not an Ed25519 (type 0x01) key")
        key = cls(name, bytes.fromhex(hexid), raw[1:])
        if key_id(name, raw[1:]) != key.key_id:
            raise VerificationError("verifier key ID does not match its name and public key")
        return key

    def __str__(self) -> str:
        return "%s+%s+%s" % (self.name, self.key_id.hex(), base64.b64encode(bytes([_ED25519]) + self.public_key).decode())


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([_ED25519]) + public_key).digest()[:4]


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint whose signature has been verified (only `open_checkpoint` makes one)."""
    origin: str
    tree_size: int
    root_hash: bytes
    extensions: Tuple[str, ...]
    note: str


KeyInput = Union[str, VerifierKey]


def _keys(keys: Union[KeyInput, Iterable[KeyInput]]) -> List[VerifierKey]:
    if isinstance(keys, (str, VerifierKey)):
        keys = [keys]
    out = [k if isinstance(k, VerifierKey) else VerifierKey.parse(k) for k in keys]
    if not out:
        raise VerificationError("no verifier key given")
    return out


def verify_note(note: str, keys: Union[KeyInput, Sequence[KeyInput]]) -> str:
    """Returns the note's signed text (ending in a newline) once a signature by one of `keys` verifies.

    Lines signed by other keys (witness cosignatures, a rotated key) are
    ignored, as C2SP signed-note prescribes; a line naming one of our keys
    with a bad signature is a failure, not skipped.
    """
    verifiers = _keys(keys)
    if not isinstance(note, str) or len(note) > MAX_NOTE_SIZE:
        raise VerificationError("note is not a string of reasonable size")
    if not note.endswith("\n"):
        raise VerificationError("note does not end with a newline")
    text, sep, block = note.rpartition("\n\n")
    if not sep or not text:
        raise VerificationError("note has no signature block")
    text += "\n"
    for c in text:
        if c != "\n" and (ord(c) < 0x20 or ord(c) == 0x7F):
            raise VerificationError("note text holds a control character")
    verified = 0
    for line in block[:-1].split("\n"):
        if not line.startswith(_EM_DASH_PREFIX):
            raise VerificationError("note signature line does not start with an em dash")
        signer, space, blob = line[len(_EM_DASH_PREFIX):].partition(" ")
        if not space:
            raise VerificationError("note signature line is malformed")
        raw = b64decode_strict(blob, "note signature")
        if len(raw) < 5:
            raise VerificationError("note signature is too short")
        for key in verifiers:
            if signer == key.name and raw[:4] == key.key_id:
                if len(raw) != 4 + 64:
                    raise VerificationError("Ed25519 note signature is not 64 bytes")
                try:
                    Ed25519PublicKey.from_public_bytes(key.public_key).verify(raw[4:], text.encode())
                except InvalidSignature:
                    raise VerificationError("note signature by %s+%s does not verify" % (key.name, key.key_id.hex())) from None
                verified += 1
    if not verified:
        raise VerificationError("note carries no signature by the verifier key")
    return text


def open_checkpoint(note: str, keys: Union[KeyInput, Sequence[KeyInput]]) -> Checkpoint:
    """Verifies the note's signature, then parses the C2SP tlog-checkpoint body it signs."""
    verifiers = _keys(keys)
    text = verify_note(note, verifiers)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise VerificationError("checkpoint has fewer than three lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if origin not in {k.name for k in verifiers}:
        raise VerificationError("checkpoint origin %r is not the verifier key's name" % origin)
    if not size_text.isascii() or not size_text.isdigit() or str(int(size_text)) != size_text:
        raise VerificationError("checkpoint tree size is not a canonical decimal number")
    root = b64decode_strict(root_text, "checkpoint root hash")
    if len(root) != 32:
        raise VerificationError("checkpoint root hash is not 32 bytes")
    if any(line == "" for line in lines[3:]):
        raise VerificationError("checkpoint has an empty extension line")
    return Checkpoint(origin, int(size_text), root, tuple(lines[3:]), note)
