"""Python client for the Greffe evidence ledger (or a Greffe relay): append events, verify receipts and bundles."""
from .bundle import BundleEvent, VerifiedBundle, parse_bundle, verify_bundle
from .client import AppendResult, GreffeClient
from .entry import Entry, decode_entry
from .errors import ApiError, GreffeError, TransportError, VerificationError
from .jcs import canonicalize
from .merkle import leaf_hash, node_hash, root_from_inclusion_proof, verify_consistency, verify_inclusion
from .note import Checkpoint, VerifierKey, open_checkpoint, verify_note
from .receipt import InclusionProof, Receipt, verify_receipt

__all__ = [
    "ApiError", "AppendResult", "BundleEvent", "Checkpoint", "Entry", "GreffeClient", "GreffeError", "InclusionProof",
    "Receipt", "TransportError", "VerificationError", "VerifiedBundle", "VerifierKey", "canonicalize", "decode_entry",
    "leaf_hash", "node_hash", "open_checkpoint", "parse_bundle", "root_from_inclusion_proof", "verify_bundle",
    "verify_consistency", "verify_inclusion", "verify_note", "verify_receipt",
]
