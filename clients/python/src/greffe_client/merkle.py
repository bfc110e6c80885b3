"""RFC 9162 §2.1 Merkle tree hashing and proof verification (SHA-256), no I/O.

Written from the RFC's verification algorithms (§2.1.3.2 inclusion,
§2.1.4.2 consistency); pinned by the Go x/mod/sumdb/tlog vectors in the tests.
"""
import hashlib
from typing import List, Sequence, Tuple

from .errors import VerificationError

HASH_SIZE = 32


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x00 ‖ entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _check_hashes(hashes: Sequence[bytes], what: str) -> None:
    for h in hashes:
        if not isinstance(h, (bytes, bytearray)) or len(h) != HASH_SIZE:
            raise VerificationError("%s holds a hash that is not %d bytes" % (what, HASH_SIZE))


def root_from_inclusion_proof(index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root RFC 9162 §2.1.3.2 computes for `leaf` at `index` in a tree of `tree_size` leaves.

    Raises VerificationError when the proof's length cannot fit that position
    (too short or too long): such a proof proves nothing.
    """
    if not 0 <= index < tree_size:
        raise VerificationError("inclusion proof: index %d is not below tree size %d" % (index, tree_size))
    _check_hashes([leaf], "inclusion proof leaf")
    _check_hashes(proof, "inclusion proof")
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the tree allows")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # §2.1.3.2 step 5.2.2: skip the levels where this node has no right sibling.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof is shorter than the tree needs")
    return r


def verify_inclusion(index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raises VerificationError unless `proof` proves `leaf` at `index` in the tree with `root`."""
    if root_from_inclusion_proof(index, tree_size, leaf, proof) != root:
        raise VerificationError("inclusion proof does not lead to the root (index %d, tree size %d)" % (index, tree_size))


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> None:
    """Raises VerificationError unless `proof` shows the tree of `first` leaves is a prefix of the one of `second` (RFC 9162 §2.1.4.2)."""
    _check_hashes(proof, "consistency proof")
    _check_hashes([first_root, second_root], "consistency roots")
    if not 0 <= first <= second:
        raise VerificationError("consistency proof: first size %d is not at most second size %d" % (first, second))
    if first == second:
        if proof:
            raise VerificationError("consistency proof between equal sizes must be empty")
        if first_root != second_root:
            raise VerificationError("two roots of the same tree size differ")
        return
    if first == 0:
        # Every tree extends the empty tree; the API answers an empty proof.
        if proof:
            raise VerificationError("consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise VerificationError("consistency proof is empty")
    path: List[bytes] = list(proof)
    # Step 1: when `first` is a power of two its root is a node of the new tree and the proof omits it.
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is longer than the trees allow")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency proof is shorter than the trees need")
    if fr != first_root:
        raise VerificationError("consistency proof does not lead to the first root")
    if sr != second_root:
        raise VerificationError("consistency proof does not lead to the second root")


def merkle_tree_hash(leaves: Sequence[bytes]) -> bytes:
    """MTH of RFC 9162 §2.1.1 over leaf hashes (split at the largest power of two below n)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(merkle_tree_hash(leaves[:k]), merkle_tree_hash(leaves[k:]))


def cover(start: int, end: int) -> List[Tuple[int, int]]:
    """The (level, position) subtrees covering [start, end), largest aligned first (Schemas/bundle.md, v3)."""
    out: List[Tuple[int, int]] = []
    while start < end:
        h = 0
        while start % (1 << (h + 1)) == 0 and start + (1 << (h + 1)) <= end:
            h += 1
        out.append((h, start >> h))
        start += 1 << h
    return out


class SubtreeFold:
    """Folds complete subtrees pushed left to right into the tree's root (Schemas/bundle.md, v3, steps 3–4)."""

    def __init__(self) -> None:
        self._stack: List[Tuple[int, int, bytes]] = []

    def push(self, level: int, position: int, digest: bytes) -> None:
        top = (level, position, digest)
        while self._stack:
            lvl, pos, d = self._stack[-1]
            if lvl == top[0] and pos % 2 == 0 and pos + 1 == top[1]:
                self._stack.pop()
                top = (lvl + 1, pos // 2, node_hash(d, top[2]))
            else:
                break
        self._stack.append(top)

    def root(self) -> bytes:
        if not self._stack:
            return hashlib.sha256(b"").digest()
        root = self._stack[-1][2]
        for _, _, d in reversed(self._stack[:-1]):
            root = node_hash(d, root)
        return root
