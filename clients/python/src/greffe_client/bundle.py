"""Evidence bundles (Schemas/bundle.md, greffe-bundle/v3 and v2), verified offline. No I/O.

The checks follow Schemas/bundle.md "Checking it" in order; the first failure
raises VerificationError naming what failed. Timestamps (RFC 3161 tokens) are
not checked here: use `greffe verify` for those.
"""
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Sequence, Set, Union

from .entry import Entry, check_body, check_disclosed_field, decode_entry
from .errors import VerificationError
from .merkle import SubtreeFold, cover, verify_consistency, verify_inclusion
from .note import Checkpoint, KeyInput, b64decode_strict, open_checkpoint

_V3_BUNDLE = {"format", "verifier_key", "checkpoint", "created_at", "query", "earlier_checkpoints", "timestamps", "events", "tail", "holds"}
_V2_BUNDLE = {"format", "verifier_key", "checkpoint", "created_at", "query", "earlier_checkpoints", "timestamps", "events"}
_V3_EVENT = {"entry", "body", "salt", "gap", "appended_by", "erased", "disclosed"}
_RECORD = {"index", "event_id", "kind", "body", "salt", "entry", "leaf_hash", "inclusion_proof", "appended_by"}
_RECORD_REQUIRED = ("index", "event_id", "kind", "body", "salt", "entry", "leaf_hash", "inclusion_proof")
_V2_EVENT = _RECORD | {"erased"}
_ERASED = {"erased_at", "legal_reference", "erasure_entry_index", "record"}
_FIELD = {"path", "value", "salt", "position", "count", "proof"}
_EARLIER = {"checkpoint", "consistency_proof"}
_HOLD = {"placed", "lifted"}
# Schemas/bundle.md §2: a body may claim to have occurred at most 5 minutes after Greffe sequenced it.
_CLOCK_SKEW_MS = 5 * 60 * 1000


@dataclass(frozen=True)
class BundleEvent:
    index: int
    kind: str
    sequenced_at_ms: int
    event_id: Optional[str]
    body: Optional[Dict[str, Any]]
    disclosed: Optional[List[Dict[str, Any]]]
    erasure_legal_reference: Optional[str]
    erasure_record_index: Optional[int]


@dataclass(frozen=True)
class VerifiedBundle:
    format: str
    checkpoint: Checkpoint
    events: List[BundleEvent]
    earlier_checkpoints: List[Checkpoint] = field(default_factory=list)
    holds: int = 0


def _no_duplicate_members(pairs: List[Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise VerificationError("the member %r appears twice in one object" % name)
        out[name] = value
    return out


def parse_bundle(data: Union[bytes, str]) -> Dict[str, Any]:
    """Decodes a bundle file under the I-JSON rules the spec asks for (no duplicate member, finite numbers)."""
    def no_constant(name: str) -> Any:
        raise VerificationError("the bundle holds %s, which JSON does not allow" % name)
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicate_members, parse_constant=no_constant)
    except (ValueError, RecursionError) as error:
        raise VerificationError("the bundle is not valid JSON: %s" % error) from None
    if not isinstance(value, dict):
        raise VerificationError("the bundle is not a JSON object")
    return value


def _members(value: Any, known: Set[str], where: str, required: Sequence[str] = ()) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise VerificationError("%s is not an object" % where)
    unknown = sorted(set(value) - known)
    if unknown:
        raise VerificationError("%s has the unknown member %r" % (where, unknown[0]))
    for name in required:
        if name not in value:
            raise VerificationError("%s/%s is missing" % (where, name))
    return value


def _hashes(value: Any, where: str) -> List[bytes]:
    if not isinstance(value, list):
        raise VerificationError("%s is not an array of hashes" % where)
    out = [b64decode_strict(h, where) for h in value]
    if any(len(h) != 32 for h in out):
        raise VerificationError("%s holds a hash that is not 32 bytes" % where)
    return out


def _int(value: Any, where: str) -> int:
    if type(value) is not int or not 0 <= value <= 2 ** 53 - 1:
        raise VerificationError("%s is not a non-negative integer" % where)
    return value


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# The kinds only Greffe writes: a retention keeps their bodies (Schemas/bundle.md "Erasures").
_OWN_KINDS = {"access.granted", "erasure.executed", "hold.placed", "hold.lifted", "ledger.restored", "retention.applied", "shard.opened"}


def _rfc3339_ms(text: Any) -> Optional[int]:
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    # Integer arithmetic: a float timestamp can land a millisecond low, which matters at a cut-off.
    since = when - _EPOCH
    return since.days * 86_400_000 + since.seconds * 1000 + since.microseconds // 1000


def _index(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _check_event_body(entry: Entry, body: Any, salt_text: Any, where: str) -> None:
    if salt_text is None:
        raise VerificationError("%s: a body without its salt" % where)
    check_body(entry, b64decode_strict(salt_text, where + "/salt"), body)
    occurred = _rfc3339_ms(body.get("occurred_at"))
    if "occurred_at" in body and occurred is not None and occurred > entry.sequenced_at_ms + _CLOCK_SKEW_MS:
        raise VerificationError("%s: occurred_at is more than 5 minutes after Greffe recorded it" % where)


def _check_record(record: Any, kind: str, checkpoint: Checkpoint, where: str) -> Entry:
    """A v2-shaped record (an erasure or hold record, or a v2 event): entry, leaf, index, kind, commitment, proof."""
    _members(record, _RECORD, where, _RECORD_REQUIRED)
    entry = decode_entry(b64decode_strict(record["entry"], where + "/entry"))
    if entry.leaf_hash != b64decode_strict(record["leaf_hash"], where + "/leaf_hash") or entry.index != record["index"]:
        raise VerificationError("%s: its entry does not match its leaf_hash and index" % where)
    if entry.kind != kind or record["kind"] != kind:
        raise VerificationError("%s is not of kind %s" % (where, kind))
    body, salt = record["body"], record["salt"]
    if body is None or salt is None:
        raise VerificationError("%s: its body or salt is missing" % where)
    check_body(entry, b64decode_strict(salt, where + "/salt"), body)
    if body.get("event_id") != record["event_id"] or body.get("platform") != "greffe":
        raise VerificationError("%s: its body is not Greffe's %s record %s" % (where, kind, record["event_id"]))
    if entry.index >= checkpoint.tree_size:
        raise VerificationError("%s lies beyond the checkpoint" % where)
    verify_inclusion(entry.index, checkpoint.tree_size, entry.leaf_hash, _hashes(record["inclusion_proof"], where + "/inclusion_proof"),
                     checkpoint.root_hash)
    return entry


def _check_erasure(event: Dict[str, Any], entry: Entry, checkpoint: Checkpoint, where: str) -> BundleEvent:
    """Schemas/bundle.md "Erasures", steps 1 to 12 (and their retention variant)."""
    if event.get("salt") is not None:
        raise VerificationError("%s: body withheld: its salt is not null" % where)
    if "erased" not in event:
        raise VerificationError("%s: body withheld with no erasure claim" % where)
    erased = _members(event["erased"], _ERASED, where + "/erased")
    if "record" not in erased:
        raise VerificationError("%s: body withheld: the erasure claim carries no record" % where)
    # An order for this one event, or the end of a retention period over a range holding it.
    record = erased["record"]
    kind = "retention.applied" if isinstance(record, dict) and record.get("kind") == "retention.applied" else "erasure.executed"
    record_entry = _check_record(record, kind, checkpoint, where + "/erased/record")
    if record_entry.index != erased.get("erasure_entry_index"):
        raise VerificationError("%s: body withheld: the record is not the entry the claim names" % where)
    order = record["body"]
    if order.get("kind") != kind:
        raise VerificationError("%s: body withheld: the record's body is not of kind %s" % (where, kind))
    if kind == "retention.applied":
        first, end = _index(order.get("from_index")), _index(order.get("to_index"))
        if first is None or end is None or end < first:
            raise VerificationError("%s: body withheld: the retention record names no valid range" % where)
        if not first <= entry.index < end:
            raise VerificationError("%s: body withheld: the retention record covers entries %d to %d, not this one" % (where, first, end - 1))
        cutoff = _rfc3339_ms(order.get("recorded_before"))
        if cutoff is None:
            raise VerificationError("%s: body withheld: the retention record names no valid recorded_before" % where)
        if entry.kind in _OWN_KINDS:
            raise VerificationError("%s: body withheld: Greffe's own %s records keep their bodies" % (where, entry.kind))
        kept = order.get("kept_under_hold")
        if not isinstance(kept, list):
            raise VerificationError("%s: body withheld: the retention record names no kept_under_hold" % where)
        if any(_index(i) == entry.index for i in kept):
            raise VerificationError("%s: body withheld: the retention record lists this event as kept under a legal hold" % where)
        if entry.sequenced_at_ms >= cutoff:
            raise VerificationError("%s: body withheld: the event was recorded after the retention record's cut-off" % where)
        if order.get("legal_basis") != erased.get("legal_reference"):
            raise VerificationError("%s: body withheld: the legal reference differs from the record's legal_basis" % where)
    else:
        if order.get("target_index") != entry.index:
            raise VerificationError("%s: body withheld: the erasure record targets another entry" % where)
        if order.get("legal_reference") != erased.get("legal_reference"):
            raise VerificationError("%s: body withheld: the legal reference differs from the record's" % where)
    if record_entry.index <= entry.index:
        raise VerificationError("%s: body withheld: the erasure record precedes the event" % where)
    return BundleEvent(entry.index, entry.kind, entry.sequenced_at_ms, None, None, None, erased.get("legal_reference"), record_entry.index)


def _check_disclosed(fields: Any, entry: Entry, where: str) -> List[Dict[str, Any]]:
    if not isinstance(fields, list):
        raise VerificationError("%s/disclosed is not an array" % where)
    seen = set()
    for i, f in enumerate(fields):
        fw = "%s/disclosed/%d" % (where, i)
        _members(f, _FIELD, fw, sorted(_FIELD))
        path = f["path"]
        if not isinstance(path, list):
            raise VerificationError("%s/path is not an array" % fw)
        key = json.dumps(path)
        if key in seen:
            raise VerificationError("%s: path %s disclosed twice" % (fw, path))
        seen.add(key)
        check_disclosed_field(entry, path, f["value"], b64decode_strict(f["salt"], fw + "/salt"), _int(f["position"], fw + "/position"),
                              _int(f["count"], fw + "/count"), _hashes(f["proof"], fw + "/proof"))
        if path == ["kind"] and f["value"] != entry.kind:
            raise VerificationError("%s: the disclosed kind is not the entry's" % fw)
    return fields


def verify_bundle(bundle: Union[bytes, str, Dict[str, Any]], keys: Union[KeyInput, Sequence[KeyInput]]) -> VerifiedBundle:
    """Checks a greffe-bundle/v3 or /v2 against the ledger's verifier key(s), trusting nothing else in it."""
    try:
        return _verify_bundle(bundle, keys)
    except RecursionError:
        # A body nested deeper than Python's stack allows cannot be canonicalized here: refuse, never crash.
        raise VerificationError("the bundle nests values too deeply to be checked") from None


def _verify_bundle(bundle: Union[bytes, str, Dict[str, Any]], keys: Union[KeyInput, Sequence[KeyInput]]) -> VerifiedBundle:
    b = parse_bundle(bundle) if isinstance(bundle, (bytes, str)) else bundle
    fmt = b.get("format")
    if fmt not in ("greffe-bundle/v3", "greffe-bundle/v2"):
        raise VerificationError("unsupported bundle format %r (this client reads v2 and v3; `greffe verify` reads v1)" % fmt)
    v3 = fmt == "greffe-bundle/v3"
    _members(b, _V3_BUNDLE if v3 else _V2_BUNDLE, "bundle",
             ["format", "checkpoint", "events", "earlier_checkpoints"] + (["tail"] if v3 else []))
    checkpoint = open_checkpoint(b["checkpoint"], keys)
    n = checkpoint.tree_size
    events_in = b["events"]
    if not isinstance(events_in, list):
        raise VerificationError("bundle/events is not an array")

    entries: List[Entry] = []
    out: List[BundleEvent] = []
    fold = SubtreeFold()
    previous = -1
    seen_indices = set()
    for p, event in enumerate(events_in):
        where = "events/%d" % p
        if v3:
            _members(event, _V3_EVENT, where, ["entry"])
            if "disclosed" in event:
                if set(event) & {"body", "salt", "erased"}:
                    raise VerificationError("%s: disclosed together with body, salt or erased" % where)
            elif "body" not in event or "salt" not in event:
                raise VerificationError("%s: body and salt are required" % where)
        else:
            _members(event, _V2_EVENT, where, _RECORD_REQUIRED)
        entry = decode_entry(b64decode_strict(event["entry"], where + "/entry"))
        if v3:
            # Schemas/bundle.md v3 "Checking inclusion", steps 1–3.
            if entry.index <= previous or entry.index >= n:
                raise VerificationError("%s: entry %d is out of order or beyond the checkpoint's tree" % (where, entry.index))
            gap_cover = cover(previous + 1, entry.index)
            gap = _hashes(event.get("gap", []), where + "/gap")
            if len(gap) != len(gap_cover):
                raise VerificationError("%s: its gap holds %d hashes, the cover needs %d" % (where, len(gap), len(gap_cover)))
            for (level, position), digest in zip(gap_cover, gap):
                fold.push(level, position, digest)
            fold.push(0, entry.index, entry.leaf_hash)
        else:
            if entry.index in seen_indices:
                raise VerificationError("%s: index %d appears twice" % (where, entry.index))
            if entry.index != event["index"] or entry.leaf_hash != b64decode_strict(event["leaf_hash"], where + "/leaf_hash") \
                    or entry.kind != event["kind"]:
                raise VerificationError("%s: its entry does not match its index, leaf_hash and kind" % where)
            verify_inclusion(entry.index, n, entry.leaf_hash, _hashes(event["inclusion_proof"], where + "/inclusion_proof"), checkpoint.root_hash)
        seen_indices.add(entry.index)
        previous = entry.index

        if v3 and "disclosed" in event:
            fields = _check_disclosed(event["disclosed"], entry, where)
            event_id = next((f["value"] for f in fields if f["path"] == ["event_id"]), None)
            out.append(BundleEvent(entry.index, entry.kind, entry.sequenced_at_ms, event_id, None, fields, None, None))
        elif event["body"] is None:
            out.append(_check_erasure(event, entry, checkpoint, where))
        else:
            if "erased" in event:
                raise VerificationError("%s: a body is shown but claimed erased" % where)
            _check_event_body(entry, event["body"], event["salt"], where)
            if not v3 and event["body"].get("event_id") != event["event_id"]:
                raise VerificationError("%s: the body's event_id is not the event's" % where)
            out.append(BundleEvent(entry.index, entry.kind, entry.sequenced_at_ms, event["body"].get("event_id"), event["body"], None, None, None))
        entries.append(entry)

    if v3:
        tail_cover = cover(previous + 1, n)
        tail = _hashes(b["tail"], "tail")
        if len(tail) != len(tail_cover):
            raise VerificationError("tail holds %d hashes, the cover needs %d" % (len(tail), len(tail_cover)))
        for (level, position), digest in zip(tail_cover, tail):
            fold.push(level, position, digest)
        if fold.root() != checkpoint.root_hash:
            raise VerificationError("the bundle's events, gaps and tail do not lead to the checkpoint's root")

    # Hash chain between bundled neighbours (§3).
    by_index = {e.index: e for e in entries}
    for e in entries:
        before = by_index.get(e.index - 1)
        if before is not None:
            if e.prev != before.leaf_hash:
                raise VerificationError("entry %d's prev is not the leaf hash of entry %d" % (e.index, before.index))
            if e.sequenced_at_ms < before.sequenced_at_ms:
                raise VerificationError("entry %d was sequenced before entry %d" % (e.index, before.index))

    earlier: List[Checkpoint] = []
    if not isinstance(b["earlier_checkpoints"], list):
        raise VerificationError("earlier_checkpoints is not an array")
    for i, item in enumerate(b["earlier_checkpoints"]):
        where = "earlier_checkpoints/%d" % i
        _members(item, _EARLIER, where, sorted(_EARLIER))
        old = open_checkpoint(item["checkpoint"], keys)
        verify_consistency(old.tree_size, n, old.root_hash, checkpoint.root_hash, _hashes(item["consistency_proof"], where + "/consistency_proof"))
        earlier.append(old)

    holds = b.get("holds", [])
    if not isinstance(holds, list):
        raise VerificationError("holds is not an array")
    for i, hold in enumerate(holds):
        where = "holds/%d" % i
        _members(hold, _HOLD, where, sorted(_HOLD))
        placed = _check_record(hold["placed"], "hold.placed", checkpoint, where + "/placed")
        if hold["lifted"] is not None:
            lifted = _check_record(hold["lifted"], "hold.lifted", checkpoint, where + "/lifted")
            if hold["lifted"]["body"].get("hold_index") != placed.index or lifted.index <= placed.index:
                raise VerificationError("%s: the lift does not follow and name its hold" % where)
    return VerifiedBundle(fmt, checkpoint, out, earlier, len(holds))
