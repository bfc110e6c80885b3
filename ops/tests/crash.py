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
Env: GREFFE (binary, default .build/debug/greffe). Loopback only; bounded.
"""
import argparse, json, os, random, signal, socket, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


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
    def __init__(self, greffe, work):
        self.greffe, self.work = greffe, work
        self.data = os.path.join(work, "data")
        self.vkey = subprocess.check_output([greffe, "init", "--data", self.data, "--origin", "crash.greffe.test/log"], text=True).strip()
        self.token = subprocess.check_output(
            [greffe, "token", "create", "--data", self.data, "--role", "append", "--platform", "crash.example", "--name", "crash"], text=True).strip()
        self.proc = None
        self.port = None

    def start(self):
        self.port = free_port()
        self.log = open(os.path.join(self.work, "serve.log"), "ab")
        self.proc = subprocess.Popen(
            [self.greffe, "serve", "--data", self.data, "--listen", "127.0.0.1:%d" % self.port, "--checkpoint-interval", "0.05", "--anonymous-rate", "0",
             "--log-level", "warning"], stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("FAIL: greffe serve exited with %s on restart (see %s/serve.log)" % (self.proc.returncode, self.work))
            try:
                urllib.request.urlopen(self.url("/healthz"), timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("FAIL: greffe serve did not come back within 30 s")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

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
                if previous and (previous["index"], previous["leaf_hash"]) != (r["index"], r["leaf_hash"]):
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    greffe = os.environ.get("GREFFE", os.path.join(ROOT, ".build", "debug", "greffe"))
    work = tempfile.mkdtemp(prefix="greffe-crash.")
    checker = os.path.join(work, "tlogcheck")
    subprocess.check_call(["go", "build", "-o", checker, "./Tests/Interop/tlogcheck"], cwd=ROOT,
                          env=dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOCACHE=os.path.join(work, "gocache")))
    cluster = Cluster(greffe, work)
    vkey_file = os.path.join(cluster.data, "verifier.vkey")
    acks, lock = {}, threading.Lock()
    checkpoints = []
    clients = [Client(cluster, "r%d" % args.seed, n, acks, lock, random.Random(rng.random())) for n in range(args.clients)]
    started = time.time()
    passed = 0
    acknowledged_before = 0
    print("crash test: %d cycles, %d clients, seed %d, work %s" % (args.cycles, args.clients, args.seed, work), flush=True)
    cluster.start()
    for client in clients:
        client.start()
    for cycle in range(1, args.cycles + 1):
        # Let load run, sampling the checkpoint like a monitor would, then kill at a random moment.
        until = time.time() + rng.uniform(0.1, 1.2)
        while time.time() < until:
            try:
                note = urllib.request.urlopen(cluster.url("/checkpoint"), timeout=2).read().decode()
                if not checkpoints or checkpoints[-1] != note:
                    checkpoints.append(note)
            except OSError:
                pass
            time.sleep(rng.uniform(0.01, 0.15))
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
            health = json.loads(urllib.request.urlopen(cluster.url("/healthz"), timeout=2).read())
            if health["checkpoint_size"] >= health["tree_size"]:
                break
            if time.time() > deadline:
                print("FAIL cycle %d: no checkpoint covered the %d acknowledged entries within 10 s" % (cycle, health["tree_size"]))
                sys.exit(1)
            time.sleep(0.02)
        acks_file = os.path.join(work, "acks.jsonl")
        with open(acks_file, "w") as f:
            for r in snapshot:
                f.write(json.dumps(r) + "\n")
        old_file = os.path.join(work, "checkpoints.txt")
        with open(old_file, "w") as f:
            f.write("".join(c + "---\n" for c in checkpoints[-200:]))
        check = subprocess.run(
            # Every ack is checked against the authenticated level-0 tiles; inclusion proofs are
            # fetched for a sample so that a long run's cycles stay bounded.
            [checker, "-url", cluster.url(""), "-vkey", vkey_file, "-acks", acks_file, "-old-checkpoints", old_file, "-seed", str(cycle),
             "-ack-proofs", "2000"],
            capture_output=True, text=True)
        failures = [f for c in clients for f in c.failures]
        if check.returncode != 0 or failures:
            print(check.stdout[-3000:], check.stderr[-3000:])
            print("FAIL cycle %d: %s" % (cycle, failures or "tlogcheck failed"))
            print("crash: %d passed, 1 failed" % passed)
            sys.exit(1)
        if len(snapshot) <= acknowledged_before:
            print("FAIL cycle %d: no new event was acknowledged; the load did not reach the server" % cycle)
            print("crash: %d passed, 1 failed" % passed)
            sys.exit(1)
        acknowledged_before = len(snapshot)
        passed += 1
        size = json.loads(urllib.request.urlopen(cluster.url("/healthz")).read())["tree_size"]
        if size != len(snapshot):
            print("FAIL cycle %d: the tree has %d entries but %d events were acknowledged (an event landed twice or unasked)" % (cycle, size, len(snapshot)))
            sys.exit(1)
        for client in clients:
            client.idle.clear()
            client.running.set()
        print("cycle %3d: ok — %d events acknowledged and found, tree size %d, %d checkpoints consistent, %.0f s"
              % (cycle, len(snapshot), size, min(len(checkpoints), 200), time.time() - started), flush=True)
    for client in clients:
        client.stop.set()
    for client in clients:
        client.join(timeout=15)
    cluster.kill()
    print("crash: %d passed, 0 failed (%d kill -9 cycles, %d events acknowledged, zero lost, zero forks)" % (passed, args.cycles, len(acks)))


if __name__ == "__main__":
    main()
