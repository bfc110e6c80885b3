#!/usr/bin/env python3
"""Crash test: nothing acknowledged is ever lost, the log never forks.

Starts `greffe serve`, drives concurrent appends from several client threads,
kills the server with SIGKILL at random moments (mid-batch, mid-checkpoint),
restarts it, and after every cycle checks with the independent Go checker
(Tests/Interop/tlogcheck, built on golang.org/x/mod/sumdb/tlog and note):
every acknowledged event is present at its acknowledged index with the same
leaf hash, every checkpoint ever served is consistent with the newest one,
the prev chain and every tile are intact. Requests that got no answer are
re-sent after the restart: they must land exactly once.

  ops/tests/crash.py --cycles 100            # the long run (own command)
  ops/tests/crash.py --cycles 5              # the short run in CI
  ops/tests/crash.py --shard-max-entries 300 # the same across temporal shards
  ops/tests/crash.py --shard-max-entries 300 --postgres  # on PostgreSQL (GREFFE_TEST_POSTGRES, ops/tests/pg.sh)

On PostgreSQL with shards, cycles 2 and 3 end differently: PostgreSQL ends the
session holding a lease (the shard set's under load, then the active shard's
with the load paused) under the running node, which must exit with 75 by
itself within 20 s; the restarted node must lose nothing.

With --shard-max-entries the server rolls over to a new shard every N
entries, so kills land before, during and after rollovers. Each cycle then
also checks every shard with tlogcheck (under /v1/shards/<k>/, with that
shard's key) and every link between shards with outside code only: the
Python client (clients/python) verifies a bundle of shard k's entry 0 (the
shard.opened record, its body checked against its entry's commitment), Go's
note verifies the sealed checkpoint it holds with shard k-1's key, and that
checkpoint must be the one shard k-1 serves, naming its last leaf.
Env: GREFFE (binary, default .build/debug/greffe). Loopback only; bounded.
"""
import argparse, json, os, random, shutil, signal, socket, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


RUNNING = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def event(run, client, n):
    """A valid legal.request (Schemas/events/)."""
    return {"event_id": "crash-%s-%d-%d" % (run, client, n), "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z",
            "platform": "crash.example", "schema_version": 1, "authority": "Parquet de Paris", "reference": "ref-%d" % n,
            "direction": "received", "request_type": "preservation"}


class Cluster:
    def __init__(self, greffe, work, shard_max_entries=None, postgres=None):
        self.greffe, self.work, self.shard_max_entries = greffe, work, shard_max_entries
        self.data = os.path.join(work, "data")
        # With --postgres the log (and the tokens) live in that database; the data directory keeps the keys.
        self.store = ["--postgres", postgres] if postgres else []
        self.postgres = postgres
        self.vkey = subprocess.check_output([greffe, "init", "--data", self.data, "--origin", "crash.greffe.test/log"] + self.store, text=True).strip()
        self.token = subprocess.check_output(
            [greffe, "token", "create", "--data", self.data, "--role", "append", "--platform", "crash.example", "--name", "crash"] + self.store,
            text=True).strip()
        self.investigator = subprocess.check_output(
            [greffe, "token", "create", "--data", self.data, "--role", "investigate", "--name", "crash-investigator"] + self.store, text=True).strip()
        self.proc = None
        self.port = None

    def start(self):
        self.port = free_port()
        self.log = open(os.path.join(self.work, "serve.log"), "ab")
        self.proc = subprocess.Popen(
            [self.greffe, "serve", "--data", self.data, "--listen", "127.0.0.1:%d" % self.port, "--checkpoint-interval", "0.05", "--anonymous-rate", "0",
             "--log-level", "warning"] + self.store + self.shard_arguments(), stdout=self.log, stderr=self.log)
        RUNNING.append(self.proc)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() == 75 and self.store:
                # The killed node's lease lives on in PostgreSQL until its session times out (about 4 s): the new
                # process refuses to serve the shards meanwhile, and exits to be restarted, as under systemd.
                time.sleep(0.5)
                self.proc = subprocess.Popen(self.proc.args, stdout=self.log, stderr=self.log)
                RUNNING.append(self.proc)
                continue
            if self.proc.poll() is not None:
                raise SystemExit("FAIL: greffe serve exited with %s on restart (see %s/serve.log)" % (self.proc.returncode, self.work))
            try:
                urllib.request.urlopen(self.url("/healthz"), timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("FAIL: greffe serve did not come back within 30 s")

    def shard_arguments(self):
        if self.shard_max_entries is None:
            return []
        return ["--shard-max-entries", str(self.shard_max_entries), "--no-public-lookup"]

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def cut_lease(self, shard):
        """Ends, from PostgreSQL's side, the session that holds a lease: shard 0's is the whole shard set's (the
        node serves the shards while it holds it), the active shard's lets it sequence. The node must notice and
        exit with 75 by itself, for its supervisor to restart it; serving on without the lease could fork the log."""
        # The advisory-lock keys of PostgresStore.leaseLock: 0x6772_6566_6665_0003 for shard 0, 0x6772_6566_6600_0000 | k after.
        key = 0x6772656666650003 if shard == 0 else 0x6772656666000000 | shard
        ended = subprocess.check_output(
            ["psql", "-qAt", self.postgres, "-c",
             "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
             " AND classid = %d AND objid = %d AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
             % (key >> 32, key & 0xFFFFFFFF)], text=True).strip()
        if ended != "1":
            raise SystemExit("FAIL: no session held shard %d's lease (%s ended)" % (shard, ended))
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            try:
                listing = ", ".join("%d %s" % (log["shard"], log["state"]) for log in shard_logs(self)[-3:])
            except (OSError, SystemExit) as error:
                listing = "unlisted: %s" % error
            raise SystemExit("FAIL: greffe serve went on for 20 s after losing shard %d's lease (last shards now: %s)" % (shard, listing))
        self.log.close()
        if code != 75:
            raise SystemExit("FAIL: greffe serve exited with %s after losing shard %d's lease, not 75" % (code, shard))

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)


class Client(threading.Thread):
    """Appends batches until told to stop; keeps acknowledged results and the in-flight batch."""

    def __init__(self, cluster, run, number, acks, lock, rng):
        super().__init__(daemon=True)
        self.cluster, self.run_id, self.number, self.acks, self.lock, self.rng = cluster, run, number, acks, lock, rng
        self.next = 0
        self.pending = None
        self.stop = threading.Event()
        self.running = threading.Event()
        self.running.set()
        self.idle = threading.Event()
        self.failures = []

    def send(self, events):
        body = json.dumps({"events": events}).encode()
        request = urllib.request.Request(
            self.cluster.url("/v1/events"), data=body, method="POST",
            headers={"Authorization": "Bearer " + self.cluster.token, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())

    def run_once(self):
        if self.pending is None:
            size = self.rng.randint(1, 40)
            self.pending = [event(self.run_id, self.number, self.next + i) for i in range(size)]
            self.next += size
        try:
            status, answer = self.send(self.pending)
        except urllib.error.HTTPError as error:
            if error.code == 503:
                time.sleep(0.05)
                return
            self.failures.append("HTTP %d: %s" % (error.code, error.read()[:200]))
            self.stop.set()
            return
        except OSError:
            # The server died mid-request: the batch may or may not be durable; re-send it later.
            time.sleep(0.02)
            return
        results = answer["results"]
        if len(results) != len(self.pending) or any(r["event_id"] != e["event_id"] for r, e in zip(results, self.pending)):
            self.failures.append("answer does not match the batch: %r" % answer)
        with self.lock:
            for r in results:
                previous = self.acks.get(r["event_id"])
                if previous and (previous.get("origin"), previous["index"], previous["leaf_hash"]) != (r.get("origin"), r["index"], r["leaf_hash"]):
                    self.failures.append("event %s acknowledged at two places: %r and %r" % (r["event_id"], previous, r))
                self.acks[r["event_id"]] = r
        self.pending = None

    def run(self):
        while not self.stop.is_set():
            if not self.running.is_set():
                # Paused for a check: finish the in-flight batch first, then wait.
                if self.pending is None:
                    self.idle.set()
                    self.running.wait(0.1)
                    continue
            self.idle.clear()
            self.run_once()


def open_within_budget(request, timeout):
    """urlopen that waits out a 429: an investigator token has a request budget (20/s, bursts of 40), and with
    dozens of shards the link check asks for more bundles than one burst. A client that honours Retry-After is
    what the server expects; any other error, or a 429 that never ends, still fails the test."""
    for attempt in range(20):
        try:
            return urllib.request.urlopen(request, timeout=timeout).read()
        except urllib.error.HTTPError as error:
            if error.code != 429 or attempt == 19:
                raise SystemExit("FAIL: %s answered %d: %s" % (request.full_url, error.code, error.read()[:500].decode(errors="replace")))
            time.sleep(min(5.0, float(error.headers.get("Retry-After") or 1)))


def shard_logs(cluster):
    """GET /v1/shards: each shard's base URL, its verifier key (in a file), size and served checkpoint."""
    listing = json.loads(urllib.request.urlopen(cluster.url("/v1/shards"), timeout=10).read())
    logs = []
    for shard in listing["shards"]:
        vkey_file = os.path.join(cluster.work, "shard-%d.vkey" % shard["shard"])
        with open(vkey_file, "w") as f:
            f.write(shard["verifier_key"] + "\n")
        logs.append({"shard": shard["shard"], "origin": shard["origin"], "url": cluster.url("/v1/shards/%d" % shard["shard"]),
                     "vkey": shard["verifier_key"], "vkey_file": vkey_file, "tree_size": shard["tree_size"],
                     "checkpoint": shard.get("checkpoint"), "state": shard["state"]})
    if [log["shard"] for log in logs] != list(range(len(logs))):
        raise SystemExit("FAIL: /v1/shards does not list shards 0 to n in order")
    return logs


def check_links(cluster, logs, notecheck, work):
    """Shard k's entry 0 must be a shard.opened record holding shard k-1's final checkpoint: checked with the
    Python client (bundle and commitment) and Go's note (signature), against what shard k-1 serves."""
    sys.path.insert(0, os.path.join(ROOT, "clients", "python", "src"))
    from greffe_client.bundle import verify_bundle
    problems = []
    for log in logs[1:]:
        previous = logs[log["shard"] - 1]
        if previous["state"] != "sealed":
            problems.append("shard %d is not sealed although shard %d exists" % (previous["shard"], log["shard"]))
            continue
        request = urllib.request.Request(
            log["url"] + "/v1/bundles", data=json.dumps({"index_range": {"from": 0, "to": 1}}).encode(), method="POST",
            headers={"Authorization": "Bearer " + cluster.investigator, "Content-Type": "application/json"})
        bundle = open_within_budget(request, timeout=30)
        try:
            verified = verify_bundle(bundle, log["vkey"])
        except Exception as error:  # VerificationError, or a malformed answer
            problems.append("shard %d: the bundle of its entry 0 does not verify: %s" % (log["shard"], error))
            continue
        opened = verified.events[0] if verified.events else None
        if opened is None or opened.index != 0 or opened.kind != "shard.opened" or opened.body is None:
            problems.append("shard %d does not begin with a shard.opened record" % log["shard"])
            continue
        body = opened.body
        note = body.get("previous_checkpoint", "")
        if (body.get("shard"), body.get("previous_origin"), body.get("origin")) != (log["shard"], previous["origin"], log["origin"]):
            problems.append("shard %d: its shard.opened names shard %r, origins %r → %r" % (
                log["shard"], body.get("shard"), body.get("previous_origin"), body.get("origin")))
        if note != previous["checkpoint"]:
            problems.append("shard %d holds a seal that is not shard %d's served final checkpoint" % (log["shard"], previous["shard"]))
        lines = note.split("\n")
        if len(lines) < 3 or lines[1] != str(previous["tree_size"]):
            problems.append("shard %d's seal is not of shard %d's whole tree (%d entries)" % (log["shard"], previous["shard"], previous["tree_size"]))
            continue
        note_file = os.path.join(work, "seal-%d.txt" % log["shard"])
        with open(note_file, "w") as f:
            f.write(note)
        go = subprocess.run([notecheck, note_file, previous["vkey"]], capture_output=True, text=True)
        if go.returncode != 0:
            problems.append("shard %d: Go's note refuses its seal with shard %d's key: %s" % (log["shard"], previous["shard"], go.stdout.strip()))
        size = previous["tree_size"]
        proof = json.loads(urllib.request.urlopen(
            previous["url"] + "/v1/proofs/inclusion?index=%d&tree_size=%d" % (size - 1, size), timeout=10).read())
        if proof["leaf_hash"] != body.get("previous_last_leaf_hash"):
            problems.append("shard %d's seal names another last leaf than shard %d's" % (log["shard"], previous["shard"]))
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--shard-max-entries", type=int, default=None)
    parser.add_argument("--postgres", action="store_true",
                        help="keep the log in a new database of the PostgreSQL at $GREFFE_TEST_POSTGRES (ops/tests/pg.sh)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    greffe = os.environ.get("GREFFE", os.path.join(ROOT, ".build", "debug", "greffe"))
    work = tempfile.mkdtemp(prefix="greffe-crash.")
    checker = os.path.join(work, "tlogcheck")
    subprocess.check_call(["go", "build", "-o", checker, "./Tests/Interop/tlogcheck"], cwd=ROOT,
                          env=dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOCACHE=os.path.join(work, "gocache")))
    postgres = None
    if args.postgres:
        server = os.environ.get("GREFFE_TEST_POSTGRES") or sys.exit("FAIL: --postgres needs GREFFE_TEST_POSTGRES (eval \"$(ops/tests/pg.sh start)\")")
        database = "greffe_crash_%d" % os.getpid()
        subprocess.check_call(["psql", "-q", server, "-c", "CREATE DATABASE %s" % database], stdout=subprocess.DEVNULL)
        postgres = server.replace("/postgres?", "/%s?" % database)
    cluster = Cluster(greffe, work, args.shard_max_entries, postgres)
    notecheck = os.path.join(work, "notecheck")
    if args.shard_max_entries is not None:
        subprocess.check_call(["go", "build", "-o", notecheck, "./Tests/Interop/notecheck"], cwd=ROOT,
                              env=dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOCACHE=os.path.join(work, "gocache")))
    vkey_file = os.path.join(cluster.data, "verifier.vkey")
    acks, lock = {}, threading.Lock()
    checkpoints = {}  # by origin: each shard is a log of its own
    clients = [Client(cluster, "r%d" % args.seed, n, acks, lock, random.Random(rng.random())) for n in range(args.clients)]
    started = time.time()
    passed = 0
    acknowledged_before = 0
    access_records = 0
    leases_cut = []
    print("crash test: %d cycles, %d clients, seed %d, work %s" % (args.cycles, args.clients, args.seed, work), flush=True)
    cluster.start()
    if postgres and args.shard_max_entries is not None:
        # One node serves a sharded ledger on PostgreSQL: a second one on the same database must refuse (75, for its
        # supervisor to retry), never sequence beside the first.
        # Its own data directory with the same keys, as every node has (ops/RUNBOOK.md).
        second_data = os.path.join(work, "second")
        shutil.copytree(cluster.data, second_data)
        second = subprocess.run(
            [greffe, "serve", "--data", second_data, "--listen", "127.0.0.1:%d" % free_port(), "--node-name", "second", "--log-level", "warning"]
            + cluster.store + cluster.shard_arguments(), capture_output=True, text=True, timeout=60)
        if second.returncode != 75 or "another greffe node serves the shards" not in second.stderr:
            raise SystemExit("FAIL: a second node on the sharded database exited %d: %s" % (second.returncode, second.stderr[-500:]))
        print("a second node on the sharded database refuses to serve beside the first (exit 75)", flush=True)
    for client in clients:
        client.start()
    for cycle in range(1, args.cycles + 1):
        # Let load run, sampling the checkpoint like a monitor would, then kill at a random moment.
        until = time.time() + rng.uniform(0.1, 1.2)
        while time.time() < until:
            try:
                note = urllib.request.urlopen(cluster.url("/checkpoint"), timeout=2).read().decode()
                seen = checkpoints.setdefault(note.split("\n", 1)[0], [])
                if not seen or seen[-1] != note:
                    seen.append(note)
            except OSError:
                pass
            time.sleep(rng.uniform(0.01, 0.15))
        if postgres and args.shard_max_entries is not None and cycle in (2, 3):
            # Not a kill: the lease is taken from a running node (cycle 2: the shard set's, cycle 3: the active shard's).
            shard = 0
            if cycle == 3:
                # With the load paused, so that no rollover seals the shard meanwhile: a sealed shard gives its lease
                # up anyway, and losing it then rightly changes nothing.
                for client in clients:
                    client.running.clear()
                for client in clients:
                    client.idle.wait(30)
                # A rollover set off by the last batches may still be sealing the shard: wait until none is under way.
                shards, settle_until = len(shard_logs(cluster)), time.time() + 30
                while time.time() < settle_until:
                    time.sleep(1.0)
                    now = shard_logs(cluster)
                    if len(now) == shards and now[-1]["state"] == "active":
                        break
                    shards = len(now)
                shard = shards - 1
            cluster.cut_lease(shard)
            leases_cut.append(shard)
        else:
            cluster.kill()
        cluster.start()
        # Clients re-send their in-flight batches against the new process, then pause for the check.
        for client in clients:
            client.running.clear()
        for client in clients:
            if not client.idle.wait(30):
                print("FAIL cycle %d: a client could not land its in-flight batch after the restart" % cycle)
                sys.exit(1)
        with lock:
            snapshot = list(acks.values())
        # Acknowledged means durable; a signed checkpoint must cover it within moments.
        deadline = time.time() + 10
        while True:
            health = json.loads(urllib.request.urlopen(cluster.url("/healthz"), timeout=10).read())
            if health["checkpoint_size"] >= health["tree_size"]:
                break
            if time.time() > deadline:
                print("FAIL cycle %d: no checkpoint covered the %d acknowledged entries within 10 s" % (cycle, health["tree_size"]))
                sys.exit(1)
            time.sleep(0.02)
        logs = shard_logs(cluster) if args.shard_max_entries is not None else [
            {"shard": 0, "origin": None, "url": cluster.url(""), "vkey_file": vkey_file, "tree_size": None}]
        problems = []
        for log in logs:
            acks_file = os.path.join(work, "acks-%d.jsonl" % log["shard"])
            with open(acks_file, "w") as f:
                for r in snapshot:
                    if r.get("shard", 0) == log["shard"]:
                        f.write(json.dumps(r) + "\n")
            old_file = os.path.join(work, "checkpoints-%d.txt" % log["shard"])
            with open(old_file, "w") as f:
                seen = checkpoints.get(log["origin"], []) if log["origin"] else [c for cs in checkpoints.values() for c in cs]
                f.write("".join(c + "---\n" for c in seen[-200:]))
            check = subprocess.run(
                # Every ack is checked against the authenticated level-0 tiles; inclusion proofs are
                # fetched for a sample so that a long run's cycles stay bounded.
                [checker, "-url", log["url"], "-vkey", log["vkey_file"], "-acks", acks_file, "-old-checkpoints", old_file, "-seed", str(cycle),
                 "-ack-proofs", "2000"],
                capture_output=True, text=True)
            if check.returncode != 0:
                print(check.stdout[-3000:], check.stderr[-3000:])
                problems.append("tlogcheck failed on shard %d" % log["shard"])
        if args.shard_max_entries is not None:
            problems += check_links(cluster, logs, notecheck, work)
            # Each bundle request is recorded in the log (access.granted), after this cycle's listing.
            access_records_after_listing = len(logs) - 1
        failures = [f for c in clients for f in c.failures] + problems
        if failures:
            print("FAIL cycle %d: %s" % (cycle, failures))
            print("crash: %d passed, 1 failed" % passed)
            sys.exit(1)
        if len(snapshot) <= acknowledged_before:
            print("FAIL cycle %d: no new event was acknowledged; the load did not reach the server" % cycle)
            print("crash: %d passed, 1 failed" % passed)
            sys.exit(1)
        acknowledged_before = len(snapshot)
        passed += 1
        if args.shard_max_entries is None:
            size = json.loads(urllib.request.urlopen(cluster.url("/healthz")).read())["tree_size"]
            expected = len(snapshot)
        else:
            # Each shard after the first holds one entry more than its events: its shard.opened record; and
            # every earlier cycle's bundle requests added their access.granted records.
            size = sum(log["tree_size"] for log in logs)
            expected = len(snapshot) + len(logs) - 1 + access_records
            access_records += access_records_after_listing
        if size != expected:
            print("FAIL cycle %d: the tree has %d entries but %d were expected from %d acknowledged events (an event landed twice or unasked)"
                  % (cycle, size, expected, len(snapshot)))
            sys.exit(1)
        for client in clients:
            client.idle.clear()
            client.running.set()
        print("cycle %3d: ok — %d events acknowledged and found, %d entries in %d log%s, %d checkpoints consistent, %.0f s"
              % (cycle, len(snapshot), size, len(logs), "" if len(logs) == 1 else "s (shards, every link checked)",
                 sum(min(len(c), 200) for c in checkpoints.values()), time.time() - started), flush=True)
    for client in clients:
        client.stop.set()
    for client in clients:
        client.join(timeout=15)
    cluster.kill()
    extra = ""
    if args.shard_max_entries is not None:
        cluster.start()
        shards = len(shard_logs(cluster))
        cluster.kill()
        with open(os.path.join(work, "serve.log"), errors="replace") as f:
            cut_short = f.read().count("removing an empty shard")
        if shards < 4:
            print("FAIL: only %d shards: the run did not roll over three times (more cycles, or a smaller --shard-max-entries)" % shards)
            sys.exit(1)
        extra = ", %d shards (%d rollovers; %d cut short by a kill and undone at restart)" % (shards, shards - 1, cut_short)
        if leases_cut:
            extra += "; leases taken from the running node (it exited 75 each time): shard %s" % ", ".join(map(str, leases_cut))
    print("crash: %d passed, 0 failed (%d kill -9 cycles, %d events acknowledged, zero lost, zero forks%s)"
          % (passed, args.cycles - len(leases_cut), len(acks), extra))


if __name__ == "__main__":
    try:
        main()
    finally:
        # A failure (or an exception) must not leave a server behind.
        for proc in RUNNING:
            if proc.poll() is None:
                proc.kill()
