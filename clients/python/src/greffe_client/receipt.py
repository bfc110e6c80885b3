"""Receipts: a signed checkpoint plus an RFC 9162 inclusion proof of one entry against it. No I/O."""
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Union

from .errors import VerificationError
from .merkle import verify_inclusion
from .note import Checkpoint, KeyInput, b64decode_strict, open_checkpoint


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    proof: List[bytes]

    @classmethod
    def from_json(cls, value: Any) -> "InclusionProof":
        """Parses the API's `{"index","tree_size","leaf_hash","proof"}` strictly (hashes are 32-byte canonical base64)."""
        if not isinstance(value, dict):
            raise VerificationError("inclusion proof is not an object")
        for name in ("index", "tree_size"):
            if type(value.get(name)) is not int or value[name] < 0:
                raise VerificationError("inclusion proof %s is not a non-negative integer" % name)
        proof = value.get("proof")
        if not isinstance(proof, list):
            raise VerificationError("inclusion proof has no proof array")
        leaf = b64decode_strict(value.get("leaf_hash"), "inclusion proof leaf_hash")
        hashes = [b64decode_strict(h, "inclusion proof hash") for h in proof]
        if len(leaf) != 32 or any(len(h) != 32 for h in hashes):
            raise VerificationError("inclusion proof holds a hash that is not 32 bytes")
        return cls(value["index"], value["tree_size"], leaf, hashes)


@dataclass(frozen=True)
class Receipt:
    """What a platform keeps to prove later that the ledger recorded an event."""
    event_id: Optional[str]
    index: int
    leaf_hash: bytes
    checkpoint: str
    inclusion_proof: InclusionProof

    def verify(self, keys: Union[KeyInput, Sequence[KeyInput]]) -> Checkpoint:
        """Raises VerificationError unless the checkpoint is signed by `keys` and the proof leads to its root."""
        return verify_receipt(self, keys)

    def to_json(self) -> Dict[str, Any]:
        import base64
        p = self.inclusion_proof
        return {"event_id": self.event_id, "index": self.index, "leaf_hash": base64.b64encode(self.leaf_hash).decode(),
                "checkpoint": self.checkpoint,
                "inclusion_proof": {"index": p.index, "tree_size": p.tree_size, "leaf_hash": base64.b64encode(p.leaf_hash).decode(),
                                    "proof": [base64.b64encode(h).decode() for h in p.proof]}}

    @classmethod
    def from_json(cls, value: Any) -> "Receipt":
        if not isinstance(value, dict) or not isinstance(value.get("checkpoint"), str) or type(value.get("index")) is not int:
            raise VerificationError("receipt is not an object with index and checkpoint")
        return cls(value.get("event_id"), value["index"], b64decode_strict(value.get("leaf_hash"), "receipt leaf_hash"),
                   value["checkpoint"], InclusionProof.from_json(value.get("inclusion_proof")))


def verify_receipt(receipt: Receipt, keys: Union[KeyInput, Sequence[KeyInput]]) -> Checkpoint:
    checkpoint = open_checkpoint(receipt.checkpoint, keys)
    proof = receipt.inclusion_proof
    # The proof must be about this entry and this checkpoint, not merely some valid proof.
    if proof.index != receipt.index or proof.leaf_hash != receipt.leaf_hash:
        raise VerificationError("receipt's inclusion proof is about another entry")
    if proof.tree_size != checkpoint.tree_size:
        raise VerificationError("receipt's inclusion proof is for tree size %d, its checkpoint has %d" % (proof.tree_size, checkpoint.tree_size))
    verify_inclusion(proof.index, proof.tree_size, proof.leaf_hash, proof.proof, checkpoint.root_hash)
    return checkpoint
