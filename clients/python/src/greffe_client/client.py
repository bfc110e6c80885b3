"""The HTTP client: appends with idempotent retries, receipts, proofs, checkpoints and bundles.

The same API is served by a ledger (`greffe serve`) and by a relay
(`greffe relay`): give either's base URL. Every answer that can be checked is
checked against the verifier key(s) given here, never against keys the server
hands out.
"""
import base64
import http.client
import json
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .bundle import VerifiedBundle, verify_bundle
from .errors import ApiError, GreffeError, TransportError, VerificationError
from .merkle import verify_consistency
from .note import Checkpoint, KeyInput, VerifierKey, b64decode_strict, open_checkpoint
from .receipt import InclusionProof, Receipt, verify_receipt

# Statuses that say "nothing was done, try again later". 502/504 come from a proxy in front of the ledger.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
MAX_BATCH = 1000  # Schemas/openapi.yaml: events maxItems


@dataclass(frozen=True)
class AppendResult:
    event_id: str
    # None when a relay took the event (`queued`): the ledger has not placed it yet.
    index: Optional[int]
    leaf_hash: Optional[bytes]
    # False when the ledger (or relay) had the event already (a retry or a re-send): it answered the original.
    new: bool
    receipt: Optional[Receipt] = None
    # True when a relay (`greffe relay`) answered: the event is durable in its queue; ask it for
    # the receipt later with GreffeClient.relay_receipt(event_id).
    queued: bool = False


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuses redirects: urllib would otherwise carry the bearer token to wherever a redirect points."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        raise urllib.error.HTTPError(req.full_url, code, "redirect to %s refused" % newurl, headers, fp)


class GreffeClient:
    """A client for one ledger or relay.

    `token` is a bearer token (append for appends, investigate for bundles).
    `verifier_key` (one note verifier key string or several, e.g. during a key
    rotation) is what every checkpoint, receipt and bundle is verified with;
    without it, methods that need it raise GreffeError.

    Retries: connection failures, timeouts and 429/502/503/504 are retried up
    to `max_attempts` times in all, sleeping `Retry-After` when the server
    gives one and otherwise an exponential backoff with full jitter. Appends
    are safe to retry because every event carries its `event_id`: the ledger
    answers a re-sent event with its original index. Any other 4xx raises
    ApiError at once with the server's message.
    """

    def __init__(self, base_url: str, token: Optional[str] = None,
                 verifier_key: Union[None, KeyInput, Sequence[KeyInput]] = None, *,
                 timeout: float = 30.0, max_attempts: int = 8, backoff_initial: float = 0.2, backoff_max: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep, rng: Optional[random.Random] = None) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("base_url must be an http:// or https:// URL")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._token = token
        if verifier_key is None:
            self._keys: List[VerifierKey] = []
        else:
            keys = [verifier_key] if isinstance(verifier_key, (str, VerifierKey)) else list(verifier_key)
            self._keys = [k if isinstance(k, VerifierKey) else VerifierKey.parse(k) for k in keys]
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._opener = urllib.request.build_opener(_NoRedirects())
        # The newest checkpoint this client verified: each later one must be consistent with it.
        self.latest_checkpoint: Optional[Checkpoint] = None

    def __repr__(self) -> str:  # never shows the token
        return "GreffeClient(%r)" % self.base_url

    @property
    def verifier_keys(self) -> List[VerifierKey]:
        if not self._keys:
            raise GreffeError("no verifier key given to the client: it cannot verify anything")
        return self._keys

    # --- transport ----------------------------------------------------------
    def _backoff(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.backoff_max)
        return self._rng.uniform(0, min(self.backoff_max, self.backoff_initial * (2 ** attempt)))

    def request(self, method: str, path: str, body: Any = None, query: Optional[Mapping[str, Any]] = None,
                accept: str = "application/json") -> Tuple[int, bytes]:
        """One API call with the retry policy above; returns (status, body) of a 2xx answer or raises."""
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = None if body is None else json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        headers = {"Accept": accept}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = "Bearer " + self._token
        last: Optional[Exception] = None
        for attempt in range(self.max_attempts):
            retry_after: Optional[float] = None
            try:
                request = urllib.request.Request(url, data=data, headers=headers, method=method)
                with self._opener.open(request, timeout=self.timeout) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as error:
                status = error.code
                try:
                    payload = error.read()
                except (OSError, http.client.HTTPException):
                    payload = b""
                message = _error_message(payload, error.reason)
                retry_after = _retry_after(error.headers.get("Retry-After") if error.headers else None)
                if status not in RETRYABLE_STATUSES:
                    raise ApiError(status, message) from None
                last = ApiError(status, message, retry_after)
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError) as error:
                # The request may or may not have reached the ledger: re-sending is safe only because appends are idempotent.
                last = error
            if attempt + 1 < self.max_attempts:
                self._sleep(self._backoff(attempt, retry_after))
        if isinstance(last, ApiError):
            raise last
        raise TransportError("%s %s failed after %d attempts: %s" % (method, path, self.max_attempts, last))

    def _json(self, method: str, path: str, body: Any = None, query: Optional[Mapping[str, Any]] = None) -> Tuple[int, Any]:
        status, payload = self.request(method, path, body, query)
        try:
            return status, json.loads(payload)
        except ValueError:
            raise GreffeError("%s %s answered %d with a body that is not JSON" % (method, path, status)) from None

    # --- appends ------------------------------------------------------------
    def append(self, event: Mapping[str, Any], wait_for_checkpoint: bool = False) -> AppendResult:
        """Appends one event; with `wait_for_checkpoint` the result carries a receipt, already verified."""
        _check_event(event, 0)
        status, answer = self._json("POST", "/v1/events", dict(event), {"wait": "checkpoint"} if wait_for_checkpoint else None)
        note = answer.get("checkpoint") if isinstance(answer, dict) else None
        return self._result(answer, status, note, event["event_id"], wait_for_checkpoint)

    def append_batch(self, events: Sequence[Mapping[str, Any]], wait_for_checkpoint: bool = False) -> List[AppendResult]:
        """Appends up to 1000 events all or nothing; results are in the events' order."""
        if not 1 <= len(events) <= MAX_BATCH:
            raise ValueError("a batch holds 1 to %d events" % MAX_BATCH)
        ids = set()
        for i, event in enumerate(events):
            _check_event(event, i)
            if event["event_id"] in ids:
                raise ValueError("event_id %r appears twice in the batch" % event["event_id"])
            ids.add(event["event_id"])
        status, answer = self._json("POST", "/v1/events", {"events": [dict(e) for e in events]},
                                    {"wait": "checkpoint"} if wait_for_checkpoint else None)
        if not isinstance(answer, dict) or not isinstance(answer.get("results"), list) or len(answer["results"]) != len(events):
            raise GreffeError("the batch answer does not hold one result per event")
        note = answer.get("checkpoint")
        return [self._result(r, status, r.get("checkpoint", note) if isinstance(r, dict) else None, e["event_id"], wait_for_checkpoint)
                for r, e in zip(answer["results"], events)]

    def _result(self, r: Any, status: int, note: Optional[str], event_id: str, wait: bool) -> AppendResult:
        if status == 202:
            # A relay (Schemas/relay.md): durable in its queue, not yet in the ledger.
            if not isinstance(r, dict) or r.get("event_id") != event_id or r.get("status") not in ("queued", "duplicate"):
                raise GreffeError("the relay's answer does not name event %r as queued" % event_id)
            if wait:
                raise GreffeError("a relay answers once the event is on its disk, before the ledger has it: "
                                  "ask it for the receipt later with relay_receipt(%r)" % event_id)
            return AppendResult(event_id, None, None, r["status"] == "queued", None, queued=True)
        if not isinstance(r, dict) or type(r.get("index")) is not int:
            raise GreffeError("the append answer has no index")
        if r.get("event_id") != event_id:
            raise GreffeError("the append answer names event %r, not %r" % (r.get("event_id"), event_id))
        leaf = b64decode_strict(r.get("leaf_hash"), "append answer leaf_hash")
        receipt = None
        if wait:
            if not isinstance(note, str) or "inclusion_proof" not in r:
                raise GreffeError("the ledger answered without the receipt asked for (?wait=checkpoint)")
            receipt = Receipt(event_id, r["index"], leaf, note, InclusionProof.from_json(r["inclusion_proof"]))
            self._accept_checkpoint(verify_receipt(receipt, self.verifier_keys))
        # 201 means at least one event of the request was new; for one event that is this event.
        return AppendResult(event_id, r["index"], leaf, status == 201, receipt)

    # --- checkpoints, proofs, receipts -----------------------------------------
    def checkpoint(self) -> Checkpoint:
        """The latest checkpoint, verified, and consistent with the previous one this client saw (a fork raises)."""
        _, payload = self.request("GET", "/checkpoint", accept="text/plain")
        try:
            note = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise VerificationError("the checkpoint is not UTF-8") from None
        checkpoint = open_checkpoint(note, self.verifier_keys)
        self._accept_checkpoint(checkpoint)
        return checkpoint

    def _accept_checkpoint(self, checkpoint: Checkpoint) -> None:
        old = self.latest_checkpoint
        if old is not None:
            if checkpoint.tree_size >= old.tree_size:
                self.verify_consistency(old, checkpoint)
            else:
                self.verify_consistency(checkpoint, old)
        if old is None or checkpoint.tree_size > old.tree_size:
            self.latest_checkpoint = checkpoint

    def inclusion_proof(self, index: int, tree_size: int) -> InclusionProof:
        _, answer = self._json("GET", "/v1/proofs/inclusion", query={"index": index, "tree_size": tree_size})
        proof = InclusionProof.from_json(answer)
        if proof.index != index or proof.tree_size != tree_size:
            raise VerificationError("the ledger answered a proof for another index or tree size")
        return proof

    def consistency_proof(self, first: int, second: int) -> List[bytes]:
        _, answer = self._json("GET", "/v1/proofs/consistency", query={"first": first, "second": second})
        if not isinstance(answer, dict) or answer.get("first") != first or answer.get("second") != second \
                or not isinstance(answer.get("proof"), list):
            raise VerificationError("the ledger answered a consistency proof for other sizes")
        return [b64decode_strict(h, "consistency proof hash") for h in answer["proof"]]

    def verify_consistency(self, old: Checkpoint, new: Checkpoint) -> None:
        """Raises VerificationError unless the tree of `new` extends the tree of `old` (fetches the proof)."""
        if old.tree_size == new.tree_size:
            if old.root_hash != new.root_hash:
                raise VerificationError("two signed checkpoints of size %d have different roots: the log forked" % old.tree_size)
            return
        verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash, self.consistency_proof(old.tree_size, new.tree_size))

    def receipt(self, result: Union[AppendResult, int], leaf_hash: Optional[bytes] = None) -> Receipt:
        """A receipt for an appended entry against the latest checkpoint, verified before it is returned.

        Give an AppendResult (its leaf hash is checked against the proof), or an
        index with the leaf hash you hold. Raises GreffeError when no checkpoint
        covers the entry yet: ask again after the checkpoint interval.
        """
        if isinstance(result, AppendResult):
            index, leaf, event_id = result.index, result.leaf_hash, result.event_id
        else:
            if leaf_hash is None:
                raise ValueError("give the leaf hash with an index")
            index, leaf, event_id = result, leaf_hash, None
        checkpoint = self.checkpoint()
        if index >= checkpoint.tree_size:
            raise GreffeError("no checkpoint covers entry %d yet (checkpoint size %d)" % (index, checkpoint.tree_size))
        proof = self.inclusion_proof(index, checkpoint.tree_size)
        receipt = Receipt(event_id, index, leaf, checkpoint.note, proof)
        verify_receipt(receipt, self.verifier_keys)
        return receipt

    def verify_receipt(self, receipt: Receipt) -> Checkpoint:
        return verify_receipt(receipt, self.verifier_keys)

    def relay_receipt(self, event_id: str) -> Optional[Receipt]:
        """From a relay: the event's receipt once the ledger has it, verified here (signature and
        inclusion proof, against this client's keys, not the relay's word); None while it is queued.
        Raises GreffeError when the ledger refused the event or the relay holds it as suspect."""
        _, answer = self._json("GET", "/v1/relay/receipt", query={"event_id": event_id})
        if not isinstance(answer, dict) or answer.get("event_id") != event_id:
            raise GreffeError("the relay's answer does not name event %r" % event_id)
        state = answer.get("state")
        if state == "queued":
            return None
        if state != "receipted":
            raise GreffeError("the relay holds event %r as %s: %s" % (event_id, state, answer.get("last_error", "")))
        receipt = Receipt.from_json(answer.get("receipt"))
        if receipt.event_id != event_id:
            raise VerificationError("the relay's receipt names event %r, not %r" % (receipt.event_id, event_id))
        # A relay serves no consistency proofs (it checks them itself against the ledger): the
        # receipt stands on the ledger's signature and its inclusion proof alone.
        verify_receipt(receipt, self.verifier_keys)
        return receipt

    # --- bundles --------------------------------------------------------------
    def fetch_bundle(self, query: Mapping[str, Any]) -> bytes:
        """The raw evidence bundle for a query (investigate token); keep these bytes as the evidence."""
        _, payload = self.request("POST", "/v1/bundles", dict(query))
        return payload

    def bundle(self, query: Mapping[str, Any]) -> Tuple[bytes, VerifiedBundle]:
        """Fetches a bundle and verifies it offline against the client's key(s); returns the bytes and what they prove."""
        payload = self.fetch_bundle(query)
        return payload, verify_bundle(payload, self.verifier_keys)


def _check_event(event: Any, position: int) -> None:
    # Without an event_id a retried append could be recorded twice: refuse before sending anything.
    if not isinstance(event, Mapping):
        raise ValueError("event %d is not a JSON object" % position)
    event_id = event.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError("event %d has no event_id: appends are idempotent only by event_id" % position)


def _error_message(payload: bytes, reason: Any) -> str:
    try:
        value = json.loads(payload)
        if isinstance(value, dict) and isinstance(value.get("error"), str):
            return str(value["error"])
    except ValueError:
        pass
    text = payload.decode("utf-8", "replace").strip()
    return text[:500] if text else str(reason)


def _retry_after(value: Optional[str]) -> Optional[float]:
    # Retry-After may also be an HTTP date (RFC 9110 §10.2.3); Greffe sends seconds, a date falls back to backoff.
    if value is None:
        return None
    try:
        return float(int(value.strip()))
    except ValueError:
        return None
