#!/usr/bin/env python3
"""The relay's crash and outage test (`greffe relay`).

Soak: producer threads POST single events and small batches to a relay, and a
spool producer drops NAME.jsonl files, while the ledger is stopped for a
while (--outage s) and the relay is killed with SIGKILL several times
(--relay-kills) and restarted at once. Then every event a producer had
acknowledged (a 202, or a spool file moved to done/) must hold a receipt at
the relay that verifies independently (greffe_client: the ledger's Ed25519
note signature, the RFC 9162 inclusion proof), be in the ledger exactly once
(investigator search), and the ledger's tree must hold exactly the events the
relay ever queued; the relay's trusted head must be a prefix of the ledger's
final tree (consistency proof, and `greffe audit --from-checkpoint`).

Adversary (at the same time, a second ledger): a proxy between a second relay
and the ledger (a) corrupts one hash of an inclusion proof, (b) answers with a
checkpoint signed with the ledger's real key over another root (a fork),
(c) serves an older checkpoint the ledger can no longer prove (a rollback).
Each must raise the matching alarm, keep the event suspect and stop
forwarding; `greffe relay resume` must clear it.

Refusals (a third relay, its ledger unreachable): invalid event, another
platform, the quota, the same event ID with another body, a bad spool file.

  ops/tests/relay.py [--seed N] [--duration 90] [--outage 30] [--relay-kills 3] [--only PART] [--keep]
Env: GREFFE (binary, default .build/debug/greffe).
"""
import argparse, base64, hashlib, http.client, http.server, json, os, random, re, signal, socket, sqlite3, subprocess
import sys, tempfile, threading, time, uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "clients", "python", "src"))
from greffe_client.errors import VerificationError  # noqa: E402
from greffe_client.entry import check_body, decode_entry  # noqa: E402
from greffe_client.merkle import leaf_hash, verify_consistency  # noqa: E402
from greffe_client.note import key_id, open_checkpoint  # noqa: E402
from greffe_client.receipt import Receipt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

PLATFORM = "example-ai"
GREFFE = os.environ.get("GREFFE", os.path.join(ROOT, ".build", "debug", "greffe"))

results = {"passed": 0, "failed": 0}
# Every process started, so that none outlives the test whatever happens.
processes = []
print_lock = threading.Lock()


def check(condition, message, detail=""):
    with print_lock:
        if condition:
            results["passed"] += 1
            print("ok   " + message, flush=True)
        else:
            results["failed"] += 1
            print("FAIL " + message + (": " + str(detail)[:600] if detail != "" else ""), flush=True)
    return condition


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, method, path, body=None, headers=None, timeout=10):
    """(status, headers, body bytes); raises OSError when nothing answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        connection.request(method, path, body=data, headers=dict({"Content-Type": "application/json"} if data else {}, **(headers or {})))
        response = connection.getresponse()
        return response.status, dict((k.lower(), v) for k, v in response.getheaders()), response.read()
    except http.client.HTTPException as error:
        raise OSError(str(error))
    finally:
        connection.close()


def call_json(port, method, path, body=None, headers=None, timeout=10):
    status, _, payload = call(port, method, path, body, headers, timeout)
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload


def wait_until(predicate, timeout, interval=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except OSError:
            pass
        time.sleep(interval)
    return None


def event(event_id, padding_hashes=8, platform=PLATFORM, reference="REF-1"):
    """A valid legal.request of ~800 bytes (Schemas/events/legal.request.schema.json): the hashes make its size."""
    return {"event_id": event_id, "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z", "platform": platform,
            "schema_version": 1, "authority": "Parquet de Paris", "reference": reference, "direction": "received",
            "request_type": "preservation", "account": "hmac-sha256:" + hashlib.sha256(event_id.encode()).hexdigest(),
            "content_hashes": [{"sha256": hashlib.sha256(("%s/%d" % (event_id, n)).encode()).hexdigest()} for n in range(padding_hashes)]}


# MARK: - Processes

class Ledger:
    def __init__(self, work, name):
        self.work, self.name = work, name
        self.data = os.path.join(work, name)
        self.vkey = subprocess.check_output([GREFFE, "init", "--data", self.data, "--origin", "relay.test/%s" % name], text=True).strip()
        self.vkey_file = os.path.join(self.data, "verifier.vkey")
        self.token_file = os.path.join(work, name + ".append-token")
        token = subprocess.check_output(
            [GREFFE, "token", "create", "--data", self.data, "--role", "append", "--platform", PLATFORM, "--name", "relay"], text=True).strip()
        with open(os.open(self.token_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(token + "\n")
        self.investigator = subprocess.check_output(
            [GREFFE, "token", "create", "--data", self.data, "--role", "investigate", "--name", "relay-test"], text=True).strip()
        self.port = free_port()
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.work, self.name + ".log"), "ab")
        self.proc = subprocess.Popen(
            [GREFFE, "serve", "--data", self.data, "--listen", "127.0.0.1:%d" % self.port, "--checkpoint-interval", "0.2",
             "--anonymous-rate", "0", "--log-level", "warning"], stdout=self.log, stderr=self.log)
        processes.append(self.proc)
        if not wait_until(lambda: self.proc.poll() is None and call(self.port, "GET", "/healthz", timeout=2)[0] == 200, 60, 0.1):
            raise SystemExit("FAIL ledger %s did not start (see %s/%s.log)" % (self.name, self.work, self.name))

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(30)
        self.log.close()

    def checkpoint(self):
        status, _, note = call(self.port, "GET", "/checkpoint")
        assert status == 200, status
        return open_checkpoint(note.decode(), self.vkey)

    def signing_key(self):
        """The ledger's Ed25519 key from DATA/signing.key (PRIVATE+KEY+name+keyid+base64(0x01 || seed)): the forger's tool."""
        with open(os.path.join(self.data, "signing.key")) as f:
            text = f.read().strip()
        _, _, name, hexid, encoded = text.split("+", 4)
        raw = base64.b64decode(encoded)
        assert raw[0] == 1 and len(raw) == 33
        private = Ed25519PrivateKey.from_private_bytes(raw[1:])
        assert key_id(name, private.public_key().public_bytes_raw()).hex() == hexid
        return name, bytes.fromhex(hexid), private


class Relay:
    def __init__(self, work, name, ledger_url, ledger, extra=()):
        self.work, self.name, self.ledger_url, self.ledger = work, name, ledger_url, ledger
        self.data = os.path.join(work, name)
        self.spool = os.path.join(work, name + "-spool")
        os.makedirs(self.spool, exist_ok=True)
        self.port = free_port()
        self.extra = list(extra)
        self.proc = None
        self.log_path = os.path.join(work, name + ".log")

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [GREFFE, "relay", "--data", self.data, "--ledger", self.ledger_url, "--token-file", self.ledger.token_file,
             "--vkey", self.ledger.vkey_file, "--platform", PLATFORM, "--listen", "127.0.0.1:%d" % self.port, "--spool", self.spool,
             "--log-level", "notice"] + self.extra, stdout=self.log, stderr=self.log)
        processes.append(self.proc)
        # /healthz answers 503 while an alarm is unresolved: any answer means it is up.
        if not wait_until(lambda: self.proc.poll() is None and call(self.port, "GET", "/healthz", timeout=2)[0] in (200, 503), 60, 0.05):
            raise SystemExit("FAIL relay %s did not start (see %s)" % (self.name, self.log_path))

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(30)
        self.log.close()

    def resume(self, *flags):
        return subprocess.run([GREFFE, "relay", "resume", "--data", self.data] + list(flags), capture_output=True, text=True, timeout=60)

    def status(self):
        status, body = call_json(self.port, "GET", "/v1/relay/status")
        assert status == 200, (status, body)
        return body

    def receipt(self, event_id):
        return call_json(self.port, "GET", "/v1/relay/receipt?event_id=" + event_id)

    def post(self, body, timeout=10):
        return call(self.port, "POST", "/v1/events", body, timeout=timeout)

    def log_text(self, since=0):
        with open(self.log_path, errors="replace") as f:
            f.seek(since)
            return f.read()

    def log_size(self):
        return os.path.getsize(self.log_path)


def verify_receipt(receipt, ledger, checkpoints_seen):
    """Raises unless the checkpoint verifies with the ledger's key and the inclusion proof leads to its root (greffe_client)."""
    checkpoint = Receipt.from_json(receipt).verify(ledger.vkey)
    checkpoints_seen.add(receipt["checkpoint"])
    return checkpoint


# MARK: - Producers

class Producer(threading.Thread):
    """POSTs single events and small batches; an unanswered request is sent again with the same IDs."""

    def __init__(self, number, relay, rng, stop):
        super().__init__(daemon=True)
        self.number, self.relay, self.rng, self.stop = number, relay, rng, stop
        self.acknowledged = set()
        self.acknowledged_at = []
        self.resent_duplicates = 0
        self.unanswered = 0
        self.unexpected = []

    def run(self):
        while not self.stop.is_set():
            ids = [str(uuid.UUID(int=self.rng.getrandbits(128), version=4)) for _ in range(1 if self.rng.random() < 0.5 else self.rng.randint(2, 5))]
            events = [event(i) for i in ids]
            body = events[0] if len(events) == 1 else {"events": events}
            attempt = 0
            while True:
                attempt += 1
                try:
                    status, _, payload = self.relay.post(body, timeout=10)
                except OSError:
                    # The relay is down (killed) or did not answer: the same IDs again, later.
                    self.unanswered += 1
                    time.sleep(0.2)
                    continue
                if status == 202:
                    answer = json.loads(payload)
                    items = [answer] if len(events) == 1 else answer["results"]
                    for item in items:
                        self.acknowledged.add(item["event_id"])
                        self.acknowledged_at.append(time.time())
                        if attempt > 1 and item["status"] == "duplicate":
                            self.resent_duplicates += 1
                    break
                if status == 503:
                    time.sleep(0.5)
                    continue
                self.unexpected.append((status, payload[:300]))
                break
            time.sleep(self.rng.uniform(0.02, 0.12))


class SpoolProducer(threading.Thread):
    """Drops NAME.jsonl files (written as NAME.jsonl.tmp, then renamed); a file in done/ is acknowledged."""

    def __init__(self, relay, rng, stop):
        super().__init__(daemon=True)
        self.relay, self.rng, self.stop = relay, rng, stop
        self.files = {}

    def run(self):
        number = 0
        while not self.stop.is_set():
            number += 1
            name = "batch-%05d.jsonl" % number
            ids = [str(uuid.UUID(int=self.rng.getrandbits(128), version=4)) for _ in range(self.rng.randint(1, 8))]
            path = os.path.join(self.relay.spool, name)
            with open(path + ".tmp", "w") as f:
                for event_id in ids:
                    f.write(json.dumps(event(event_id)) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.rename(path + ".tmp", path)
            self.files[name] = ids
            time.sleep(self.rng.uniform(0.3, 0.7))

    def acknowledged(self):
        done = os.path.join(self.relay.spool, "done")
        return {i for name, ids in self.files.items() if os.path.exists(os.path.join(done, name)) for i in ids}


# MARK: - The soak

def soak(work, seed, duration, outage, kills):
    rng = random.Random(seed)
    start = time.time()
    ledger = Ledger(work, "ledger")
    ledger.start()
    relay = Relay(work, "relay", "http://127.0.0.1:%d" % ledger.port, ledger, ["--batch-size", "50"])
    relay.start()
    stop = threading.Event()
    producers = [Producer(n, relay, random.Random(rng.random()), stop) for n in range(4)]
    spooler = SpoolProducer(relay, random.Random(rng.random()), stop)
    for p in producers + [spooler]:
        p.start()
    depth = []  # (seconds since start, queued): how the backlog grows in the outage and drains after

    def watch():
        while not stop.is_set():
            try:
                status = relay.status()
                depth.append((time.time() - start, status["queued"], status["receipted"]))
            except (OSError, AssertionError):
                pass  # the relay is being restarted
            time.sleep(0.5)
    threading.Thread(target=watch, daemon=True).start()

    # The outage in the middle; the relay kills at random moments: before, during and after it.
    outage_from = (duration - outage) / 2
    window = [(3, outage_from), (outage_from, outage_from + outage), (outage_from + outage, duration - 3)]
    kill_times = sorted(rng.uniform(*window[n % 3]) for n in range(kills))
    events = [(outage_from, "ledger-stop"), (outage_from + outage, "ledger-start")] + [(t, "relay-kill") for t in kill_times]
    for at, what in sorted(events):
        time.sleep(max(0, start + at - time.time()))
        if what == "ledger-stop":
            ledger.stop(signal.SIGKILL)
            print("     t=%5.1fs ledger killed (SIGKILL) for %d s" % (time.time() - start, outage), flush=True)
        elif what == "ledger-start":
            ledger.start()
            print("     t=%5.1fs ledger restarted" % (time.time() - start), flush=True)
        else:
            relay.stop(signal.SIGKILL)
            relay.start()
            print("     t=%5.1fs relay killed (SIGKILL) and restarted" % (time.time() - start), flush=True)
    time.sleep(max(0, start + duration - time.time()))
    stop.set()
    back = outage_from + outage
    # While producers send, the queue is never quite empty: "drained" is back to what it held before the outage.
    steady = max([q for t, q, _ in depth if t < outage_from] + [20])
    peak = max((q for t, q, _ in depth if t <= back + 1), default=0)
    drained_at = next((t for t, q, _ in depth if t > back and q <= steady), None)
    after = [(t, r) for t, _, r in depth if back + 1 < t < back + 11]
    rate = (after[-1][1] - after[0][1]) / (after[-1][0] - after[0][0]) if len(after) > 1 and after[-1][0] > after[0][0] else 0
    print("     backlog: at most %d events queued in the outage (%d before it); back to %d or less %s; "
          "%.0f events/s receipted in the 10 s after the ledger's restart"
          % (peak, steady, steady, "%.1f s after the ledger's restart" % (drained_at - back) if drained_at else "only once the producers stopped",
             rate), flush=True)
    during = sum(1 for p in producers for at in p.acknowledged_at if start + outage_from + 1 < at < start + outage_from + outage - 1)
    check(during > 100, "producers were acknowledged while the ledger was down (%d events)" % during, during)
    for p in producers + [spooler]:
        p.join(30)

    acknowledged = set().union(*(p.acknowledged for p in producers))
    unexpected = [u for p in producers for u in p.unexpected]
    check(not unexpected, "every producer request was answered 202 or retried (no other refusal)", unexpected[:3])
    check(len(acknowledged) > 500, "producers had %d events acknowledged over HTTP" % len(acknowledged), len(acknowledged))
    resent = sum(p.resent_duplicates for p in producers)
    print("     %d requests went unanswered (relay down) and were sent again; %d of their events came back \"duplicate\""
          % (sum(p.unanswered for p in producers), resent), flush=True)

    # Drain: nothing queued, the spool empty.
    def drained():
        s = relay.status()
        pending = [n for n in os.listdir(relay.spool) if n.endswith(".jsonl")]
        return s if s["queued"] == 0 and not pending else None
    drain_from = time.time()
    status = wait_until(drained, 90, 0.5)
    check(status is not None, "the relay drained its queue and spool %.1f s after the producers stopped" % (time.time() - drain_from), relay.status())
    status = status or relay.status()
    check(not status["alarms"] and status["forwarding"] == "running" and status["suspect"] == 0 and status["refused"] == 0,
          "no alarm, nothing suspect or refused after crashes and the outage", status)
    spooled = spooler.acknowledged()
    rejected = [n for n in os.listdir(os.path.join(relay.spool, "rejected")) if not n.endswith(".error")]
    check(not rejected and len(spooled) > 0 and len(os.listdir(os.path.join(relay.spool, "done"))) == len(spooler.files),
          "every spool file was taken whole (done/), none rejected: %d files, %d events" % (len(spooler.files), len(spooled)), rejected[:3])
    acknowledged |= spooled

    # The relay's own record of every event it ever queued (read-only, beside the running relay).
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(relay.data, "relay.sqlite"), uri=True)
    relay_ids = {row[0] for row in db.execute("SELECT event_id FROM relay_events")}
    head_size, head_note = db.execute("SELECT size, note FROM relay_head WHERE id = 1").fetchone()
    db.close()
    check(acknowledged <= relay_ids, "the relay holds every acknowledged event", len(acknowledged - relay_ids))
    # Producers re-send until answered, so the relay holds nothing that was not in the end acknowledged.
    check(relay_ids == acknowledged, "the relay holds nothing beyond what producers sent", len(relay_ids - acknowledged))

    # Every acknowledged event: receipted at the relay, the receipt verifies on its own.
    bad = []
    receipts = {}
    checkpoints_seen = set()
    for event_id in sorted(acknowledged):
        status_code, answer = relay.receipt(event_id)
        try:
            assert status_code == 200 and answer["state"] == "receipted", (status_code, answer)
            receipt = answer["receipt"]
            assert receipt["event_id"] == event_id, receipt["event_id"]
            verify_receipt(receipt, ledger, checkpoints_seen)
            receipts[event_id] = receipt
        except (AssertionError, KeyError, VerificationError) as error:
            bad.append((event_id, str(error)[:200]))
    check(not bad, "all %d acknowledged events are receipted at the relay, each receipt verifying (signature, inclusion) "
          "against %d distinct checkpoints" % (len(acknowledged), len(checkpoints_seen)), bad[:3])

    # The ledger: its tree holds exactly the relay's events (read the size before the searches, which log access.granted).
    final = ledger.checkpoint()
    check(final.tree_size == len(relay_ids), "the ledger's tree size %d equals the %d distinct events the relay ever queued (no duplicates)"
          % (final.tree_size, len(relay_ids)), final.tree_size)
    indexes = {r["index"] for r in receipts.values()}
    check(len(indexes) == len(receipts), "no two acknowledged events share a log index", len(receipts) - len(indexes))
    found = {}
    altered = []
    after = None
    auth = {"Authorization": "Bearer " + ledger.investigator}
    while True:
        path = "/v1/events?kind=legal.request&limit=1000" + ("&after=%d" % after if after is not None else "")
        code, page = call_json(ledger.port, "GET", path, headers=auth, timeout=30)
        if code != 200:
            check(False, "the investigator search answers", (code, page))
            break
        for stored in page["events"]:
            found.setdefault(stored["event_id"], []).append((stored["index"], stored["leaf_hash"]))
            # The body the producer sent (event() is deterministic), committed to by the entry under that leaf hash.
            try:
                raw = base64.b64decode(stored["entry"])
                assert base64.b64encode(leaf_hash(raw)).decode() == stored["leaf_hash"], "leaf hash"
                assert stored["body"] == event(stored["event_id"]), "body"
                check_body(decode_entry(raw), base64.b64decode(stored["salt"]), stored["body"])
            except (AssertionError, KeyError, TypeError, ValueError, VerificationError) as error:
                altered.append((stored["event_id"], str(error)[:120]))
        after = page.get("next_after")
        if after is None or not page["events"]:
            break
    twice = {i: v for i, v in found.items() if len(v) > 1}
    missing = acknowledged - set(found)
    check(not twice and not missing, "the ledger holds every acknowledged event exactly once (investigator search, %d events)" % len(found),
          {"twice": list(twice.items())[:3], "missing": list(missing)[:3]})
    check(set(found) == relay_ids, "the ledger holds nothing the relay did not queue", len(set(found) ^ relay_ids))
    check(not altered, "each is the body the producer sent, committed to by its entry (greffe_client check_body)", altered[:3])
    mismatch = [i for i, r in receipts.items() if i in found and found[i][0] != (r["index"], r["leaf_hash"])]
    check(not mismatch, "every receipt's index and leaf hash are the ledger's for that event", mismatch[:3])

    # The relay's trusted head is a prefix of the ledger's final tree.
    head = open_checkpoint(head_note, ledger.vkey)
    check(head.tree_size == head_size and head.tree_size <= final.tree_size, "the relay's trusted head (size %d) verifies" % head_size)
    code, proof = call_json(ledger.port, "GET", "/v1/proofs/consistency?first=%d&second=%d" % (head.tree_size, final.tree_size))
    try:
        verify_consistency(head.tree_size, final.tree_size, head.root_hash, final.root_hash, [base64.b64decode(h) for h in proof["proof"]])
        consistent = True
    except (VerificationError, KeyError, TypeError) as error:
        consistent = error
    check(consistent is True, "the relay's head is consistent with the ledger's final checkpoint (RFC 9162 proof)", consistent)
    head_file = os.path.join(work, "relay-head.checkpoint")
    with open(head_file, "w") as f:
        f.write(head_note)
    audit = subprocess.run([GREFFE, "audit", "--url", "http://127.0.0.1:%d" % ledger.port, "--vkey", ledger.vkey_file,
                            "--from-checkpoint", head_file, "--quiet"], capture_output=True, text=True, timeout=120)
    check(audit.returncode == 0, "greffe audit --from-checkpoint (the relay's head) verifies the ledger's log after it",
          (audit.stdout + audit.stderr)[-400:])

    # The same ID sent again: "duplicate", and the ledger's tree does not grow.
    some = sorted(acknowledged)[:3]
    code, _, payload = relay.post({"events": [event(i) for i in some]})
    answer = json.loads(payload) if code == 202 else payload
    check(code == 202 and [r["status"] for r in answer["results"]] == ["duplicate"] * 3,
          "acknowledged events sent again are answered \"duplicate\"", (code, answer))
    time.sleep(1)
    check(relay.status()["queued"] == 0 and len(relay_ids) == len(set(relay_ids)), "a duplicate is not queued again")
    relay.stop()
    ledger.stop()


# MARK: - The adversary

def verifies(receipt, ledger, signature_only=False):
    try:
        if signature_only:
            open_checkpoint(receipt["checkpoint"], ledger.vkey)
        else:
            verify_receipt(receipt, ledger, set())
        return True
    except (KeyError, VerificationError):
        return False


class LyingProxy:
    """A proxy between a relay and the ledger that lies on demand (one `mode` at a time)."""

    def __init__(self, ledger):
        self.ledger = ledger
        self.mode = "honest"
        self.appends = 0
        self.old_checkpoint = None
        self.lies = 0
        self.lie_verifies = None
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.relay()

            def do_POST(self):
                self.relay()

            def relay(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                try:
                    status, answer_headers, payload = call(proxy.ledger.port, self.command, self.path, body, headers, timeout=60)
                except OSError:
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, payload = proxy.rewrite(self.command, self.path, status, payload)
                self.send_response(status)
                self.send_header("Content-Type", answer_headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def rewrite(self, method, path, status, payload):
        if method == "POST" and path.startswith("/v1/events"):
            self.appends += 1
            if status in (200, 201) and self.mode in ("inclusion", "fork"):
                answer = json.loads(payload)
                if self.mode == "inclusion":
                    result = answer["results"][0]
                    proof = result["inclusion_proof"]["proof"]
                    flipped = bytearray(base64.b64decode(proof[0]))
                    flipped[0] ^= 0x01
                    proof[0] = base64.b64encode(bytes(flipped)).decode()
                    # The lie is real: a relay that trusted it would keep a receipt that does not verify.
                    self.lie_verifies = verifies(dict(result, checkpoint=answer["checkpoint"]), self.ledger)
                else:
                    answer["checkpoint"] = self.forge(answer["checkpoint"])
                    # The forgery carries a valid signature: only the consistency check can catch it.
                    self.lie_verifies = verifies(dict(answer["results"][0], checkpoint=answer["checkpoint"]), self.ledger, signature_only=True)
                self.mode = "honest"
                self.lies += 1
                return status, json.dumps(answer).encode()
        if self.mode == "fork-checkpoint" and path == "/checkpoint" and status == 200:
            self.lies += 1
            return status, self.forge(payload.decode()).encode()
        if self.mode == "rollback":
            if path == "/checkpoint":
                self.lies += 1
                return 200, self.old_checkpoint.encode()
            if path.startswith("/v1/proofs/consistency"):
                # A ledger that lost its history cannot prove the tree it showed before.
                return 400, json.dumps({"error": "second is larger than the tree"}).encode()
        return status, payload

    def forge(self, note):
        """The same checkpoint, same size, another root, signed with the ledger's own key: a fork."""
        name, key_id_bytes, private = self.ledger.signing_key()
        text = note.split("\n\n")[0] + "\n"
        lines = text.split("\n")
        lines[2] = base64.b64encode(hashlib.sha256(b"forked history " + lines[2].encode()).digest()).decode()
        text = "\n".join(lines)
        signature = private.sign(text.encode())
        return text + "\n\u2014 %s %s\n" % (name, base64.b64encode(key_id_bytes + signature).decode())


def wait_alarm(relay, kind, timeout=60):
    return wait_until(lambda: next((a for a in relay.status()["alarms"] if a["kind"] == kind), None), timeout, 0.2)


def receipted(relay, ids, timeout=60):
    return wait_until(lambda: all(relay.receipt(i)[1].get("state") == "receipted" for i in ids), timeout, 0.2)


def adversary(work):
    ledger = Ledger(work, "ledger-b")
    ledger.start()
    proxy = LyingProxy(ledger)
    relay = Relay(work, "relay-b", "http://127.0.0.1:%d" % proxy.port, ledger, ["--head-check-seconds", "2"])
    relay.start()
    warmup = ["warm-%d" % n for n in range(4)]
    for i in warmup:
        relay.post(event(i))
    check(receipted(relay, warmup), "adversary: an honest ledger behind the proxy: events receipted")
    proxy.old_checkpoint = call(ledger.port, "GET", "/checkpoint")[2].decode()

    def assert_halted(kind, suspect_id, what, slug, log_from, says=""):
        alarm = wait_alarm(relay, kind)
        check(alarm is not None and says in alarm["message"], "adversary %s: the relay raises an alarm of kind \"%s\"" % (what, kind),
              alarm or relay.status())
        status = relay.status()
        check(status["forwarding"] == "stopped by an alarm", "adversary %s: forwarding stopped" % what, status["forwarding"])
        code = call(relay.port, "GET", "/healthz")[0]
        check(code == 503, "adversary %s: /healthz 503" % what, code)
        if suspect_id:
            code, answer = relay.receipt(suspect_id)
            check(answer.get("state") == "suspect" and "receipt" not in answer, "adversary %s: the event stays suspect, without a receipt" % what, answer)
        metrics = call(relay.port, "GET", "/metrics")[2].decode()
        alarms = re.search(r"^greffe_relay_alarms_total(?:\{[^}]*\})? (\S+)$", metrics, re.M)
        halted = re.search(r"^greffe_relay_halted(?:\{[^}]*\})? (\S+)$", metrics, re.M)
        check(alarms and float(alarms.group(1)) >= 1 and halted and float(halted.group(1)) == 1,
              "adversary %s: /metrics greffe_relay_alarms_total >= 1, greffe_relay_halted 1" % what,
              (alarms and alarms.group(0), halted and halted.group(0)))
        logged = relay.log_text(log_from)
        check("ALARM" in logged and kind in logged, "adversary %s: the log says ALARM and its kind" % what, logged[-400:])
        # Nothing more goes to a ledger that lied: a new event is accepted and stays queued.
        before = proxy.appends
        held = "held-" + slug
        code = relay.post(event(held))[0]
        time.sleep(2)
        state = relay.receipt(held)[1].get("state")
        check(code == 202 and state == "queued" and proxy.appends == before,
              "adversary %s: later events are still accepted, and held back" % what, (code, state, proxy.appends - before))
        # The alarm survives a crash: killed and restarted, the relay still holds back.
        relay.stop(signal.SIGKILL)
        relay.start()
        status = relay.status()
        time.sleep(1)
        check(status["forwarding"] == "stopped by an alarm" and any(a["kind"] == kind for a in status["alarms"])
              and relay.receipt(held)[1].get("state") == "queued" and proxy.appends == before,
              "adversary %s: after kill -9 and a restart, the alarm stands and nothing is sent" % what, status)
        # The operator's way out: resume (relay stopped), the proxy honest again; forwarding goes on.
        relay.stop()
        proxy.mode = "honest"
        resumed = relay.resume()
        check(resumed.returncode == 0 and "resolved 1 alarm" in resumed.stdout,
              "adversary %s: greffe relay resume clears the alarm" % what, resumed.stdout + resumed.stderr)
        relay.start()
        ids = [held] + ([suspect_id] if suspect_id else [])
        check(receipted(relay, ids) and call(relay.port, "GET", "/healthz")[0] == 200 and not relay.status()["alarms"],
              "adversary %s: after resume, the held%s events are receipted and /healthz is 200" % (what, " and suspect" if suspect_id else ""),
              [relay.receipt(i)[1].get("state") for i in ids])
        verified = set()
        try:
            for i in ids:
                verify_receipt(relay.receipt(i)[1]["receipt"], ledger, verified)
            ok = True
        except (KeyError, VerificationError) as error:
            ok = error
        check(ok is True, "adversary %s: their receipts verify" % what, ok)

    # (a) One hash of an inclusion proof corrupted in an append answer.
    proxy.mode = "inclusion"
    log_from = relay.log_size()
    relay.post(event("lied-inclusion"))
    check(wait_until(lambda: proxy.lie_verifies is False, 30) is not None, "adversary (a): the corrupted receipt does not verify (greffe_client)")
    assert_halted("inclusion", "lied-inclusion", "(a) wrong inclusion proof", "a", log_from)
    # (b) A checkpoint over another root, signed with the ledger's real key.
    proxy.lie_verifies = None
    proxy.mode = "fork"
    log_from = relay.log_size()
    relay.post(event("lied-fork"))
    check(wait_until(lambda: proxy.lie_verifies is True, 30) is not None, "adversary (b): the forged checkpoint's signature verifies with the ledger's key")
    assert_halted("fork", "lied-fork", "(b) forked checkpoint", "b", log_from)
    # (b') /checkpoint answers the relay's head size with another root (checked at once after a start, then when idle).
    proxy.mode = "fork-checkpoint"
    relay.stop()
    log_from = relay.log_size()
    relay.start()
    assert_halted("fork", None, "(b') forked /checkpoint at the head's size", "b2", log_from, says="two different roots")
    # (c) /checkpoint goes back to an old tree the ledger cannot prove any more (the relay checks it when idle).
    proxy.mode = "rollback"
    relay.stop()
    log_from = relay.log_size()
    served_before = proxy.lies
    relay.start()  # the head check comes at once after a start, then every 2 s (--head-check-seconds): three strikes in ~4 s
    alarm = wait_alarm(relay, "rollback")
    check(alarm is not None and proxy.lies - served_before >= 3,
          "adversary (c) rollback: the alarm comes after strikes, not at the first lagging checkpoint (%d served)" % (proxy.lies - served_before))
    assert_halted("rollback", None, "(c) rollback", "c", log_from)
    check(proxy.lies >= 1 + 1 + 1 + 3, "adversary: the proxy did lie (%d answers)" % proxy.lies)
    relay.stop()
    ledger.stop()
    proxy.server.shutdown()


# MARK: - The quota once the ledger has the events

def quota_release(work):
    """The quota bounds what waits for the ledger: events receipted since must make room again
    (a relay that counted receipted bodies for ever would refuse everything after its quota of traffic)."""
    ledger = Ledger(work, "ledger-q")
    ledger.start()
    relay = Relay(work, "relay-q", "http://127.0.0.1:%d" % ledger.port, ledger, ["--quota-bytes", "1048576"])
    relay.start()
    codes = []
    for n in range(30):  # ~1.7 MiB in all, ~57 KB at a time, each receipted before the next
        codes.append(relay.post(event("quota-%d" % n, padding_hashes=800))[0])
        if codes[-1] != 202:
            break
        receipted(relay, ["quota-%d" % n], 20)
    status = relay.status()
    check(codes == [202] * 30, "quota: with the ledger taking every event, 1.7 MiB pass a 1 MiB quota (it bounds what waits)",
          (codes, status["queued"], status["bytes_unreceipted"]))
    relay.stop()
    ledger.stop()


# MARK: - Refusals

def refusals(work):
    ledger = Ledger(work, "ledger-c")  # never started: nothing drains, so the quota fills
    relay = Relay(work, "relay-c", "http://127.0.0.1:%d" % free_port(), ledger, ["--quota-bytes", "1048576"])
    relay.start()
    queued = lambda: relay.status()["queued"]

    bad = event("refused-invalid")
    del bad["authority"]
    code, _, payload = relay.post(bad)
    check(code in (400, 422) and queued() == 0 and relay.receipt("refused-invalid")[0] == 404,
          "refusals: an invalid event is refused at once (%d), nothing queued" % code, payload[:200])
    code, _, payload = relay.post({"events": [event("refused-batch-ok"), bad]})
    check(code in (400, 422) and queued() == 0 and relay.receipt("refused-batch-ok")[0] == 404,
          "refusals: a batch with one invalid event is refused whole (%d)" % code, payload[:200])
    code, _, payload = relay.post(event("refused-other", platform="other.example"))
    check(code == 403 and queued() == 0, "refusals: an event for another platform is 403, nothing queued", (code, payload[:200]))
    code, _, payload = relay.post(b'{"event_id": "x", ')
    check(code == 400 and queued() == 0, "refusals: malformed JSON is 400", (code, payload[:200]))

    # Hostile bodies and queries: a clear 4xx each, nothing queued, the relay still up.
    hostile = [
        ("a body over 8 MiB", b'{"events":["' + b"x" * (9 << 20) + b'"]}', (413,)),
        ("JSON nested 100000 deep", b"[" * 100000 + b"]" * 100000, (400, 422)),
        ("bytes that are not UTF-8", b'{"event_id": "\xff\xfe"}', (400, 422)),
        ("an empty batch", b'{"events": []}', (400, 422)),
        ("a batch of 1001 events", json.dumps({"events": [event("many-%d" % n, 1) for n in range(1001)]}).encode(), (400, 413, 422)),
        ("an event ID of 129 characters", json.dumps(event("x" * 129)).encode(), (400, 422)),
    ]
    for what, body, expected in hostile:
        try:
            code = relay.post(body, timeout=30)[0]
        except OSError as error:
            code = error
        check(code in expected and relay.proc.poll() is None and queued() == 0, "refusals: %s is %s, nothing queued" % (what, code), code)
    for query, expected in (("", 400), ("?event_id=", 400), ("?event_id=" + "y" * 129, 400), ("?event_id=nobody", 404)):
        code = call(relay.port, "GET", "/v1/relay/receipt" + query)[0]
        check(code == expected, "refusals: GET /v1/relay/receipt%s is %d" % (query[:20] + ("…" if len(query) > 20 else ""), expected), code)

    code, _, _ = relay.post(event("same-id", reference="REF-A"))
    code2, _, payload = relay.post(event("same-id", reference="REF-B"))
    stored = relay.receipt("same-id")[1]
    check(code == 202 and code2 == 409 and queued() == 1, "refusals: the same event ID with another body is 409 and the first is kept",
          (code, code2, payload[:200], stored))

    # Big events (~57 KB each: 800 content hashes) until the 1 MiB quota answers 503 with Retry-After.
    answers = []
    for n in range(40):
        code, headers, payload = relay.post(event("big-%d" % n, padding_hashes=800))
        answers.append(code)
        if code != 202:
            break
    before = queued()
    code, headers, payload = relay.post(event("big-over", padding_hashes=800))
    check(answers[-1] == 503 and code == 503 and headers.get("retry-after", "").isdigit() and queued() == before
          and relay.receipt("big-over")[0] == 404, "refusals: at the quota, 503 with Retry-After and nothing queued (after %d accepted)"
          % answers.count(202), (answers, code, headers.get("retry-after")))
    status = relay.status()
    check(status["bytes_unreceipted"] <= status["quota_bytes"], "refusals: bytes not yet receipted stay within the quota", status)

    # A spool file with one bad line is refused whole.
    path = os.path.join(relay.spool, "mixed.jsonl")
    with open(path + ".tmp", "w") as f:
        f.write(json.dumps(event("spool-good", padding_hashes=1)) + "\n" + json.dumps(bad) + "\n")
    os.rename(path + ".tmp", path)
    rejected = os.path.join(relay.spool, "rejected", "mixed.jsonl")
    moved = wait_until(lambda: os.path.exists(rejected) and os.path.exists(rejected + ".error"), 15)
    error_text = open(rejected + ".error").read() if moved else ""
    check(moved and "line 2" in error_text and relay.receipt("spool-good")[0] == 404,
          "refusals: a spool file with a bad line goes to rejected/ whole, with its .error", error_text[:200])
    relay.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=90)
    parser.add_argument("--outage", type=float, default=30)
    parser.add_argument("--relay-kills", type=int, default=3)
    parser.add_argument("--only", choices=["refusals", "adversary", "soak", "quota-release"], help="one part alone (while working on it)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if not os.access(GREFFE, os.X_OK):
        raise SystemExit("FAIL no greffe binary at %s (set GREFFE)" % GREFFE)
    work = tempfile.mkdtemp(prefix="greffe-relay-test-")
    print("     work directory %s, seed %d" % (work, args.seed), flush=True)
    started = time.time()
    try:
        run(work, args)
    finally:
        for proc in processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    print("     %.0f s in all" % (time.time() - started), flush=True)
    print("relay: %d passed, %d failed" % (results["passed"], results["failed"]), flush=True)
    if results["failed"] == 0 and not args.keep:
        subprocess.run(["rm", "-rf", work])
    sys.exit(1 if results["failed"] else 0)


def run(work, args):
    if args.only:
        return guarded({"refusals": refusals, "quota-release": quota_release, "adversary": adversary, "soak": lambda w: soak(w, args.seed, args.duration, args.outage, args.relay_kills)}[args.only], work)
    guarded(refusals, work)
    guarded(quota_release, work)
    # The adversary runs beside the soak: its rollback waits on the relay's head checks.
    side = threading.Thread(target=lambda: guarded(adversary, work), daemon=True)
    side.start()
    guarded(soak, work, args.seed, args.duration, args.outage, args.relay_kills)
    side.join(240)
    check(not side.is_alive(), "the adversary scenarios finished")


def guarded(function, *args):
    """A scenario that raises is a failure, not a crash of the whole test."""
    try:
        function(*args)
    except BaseException as error:  # noqa: B902 (SystemExit from a start failure too)
        check(False, "%s ended with an error" % function.__name__, "%s: %s" % (type(error).__name__, error))


if __name__ == "__main__":
    main()
