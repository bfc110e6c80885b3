#!/usr/bin/env python3
"""Failover test: three `greffe serve` nodes on one PostgreSQL.

Every node takes appends; the one holding the sequencer lease sequences and
signs. Client threads append through all three nodes while monitors keep
every checkpoint any node serves. The sequencing node is killed with SIGKILL
mid-load; another node must take over within seconds and continue the same
tree. Then the killed node is restarted (it must come back as a follower) and
the independent Go checker (Tests/Interop/tlogcheck) verifies, against each
node: every acknowledged event at its acknowledged index with its leaf hash,
every checkpoint ever served by any node consistent with the final one, the
prev chain and every tile.

  ops/tests/failover.py [--kills 1] [--stops 0] [--seed N]
Env: GREFFE (binary, default .build/debug/greffe); GREFFE_TEST_POSTGRES (a
server URL; without it a throwaway PostgreSQL 15 is started with pg.sh).
"""
import argparse, json, os, random, signal, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from crash import event, free_port  # noqa: E402  (one event shape and port picker for the reliability tests)


def fail(message):
    print("FAIL " + message, flush=True)
    print("failover: 0 passed, 1 failed", flush=True)
    sys.exit(1)


class Node:
    def __init__(self, greffe, work, name, url):
        self.greffe, self.work, self.name, self.url_base = greffe, work, name, url
        self.data = os.path.join(work, name)
        self.proc = None
        self.port = free_port()

    def start(self):
        self.log = open(os.path.join(self.work, self.name + ".log"), "ab")
        self.proc = subprocess.Popen(
            [self.greffe, "serve", "--data", self.data, "--postgres", self.url_base, "--node-name", self.name,
             "--listen", "127.0.0.1:%d" % self.port, "--checkpoint-interval", "0.1", "--log-level", "notice", "--anonymous-rate", "0"],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail("node %s exited with %s at start (see %s/%s.log)" % (self.name, self.proc.returncode, self.work, self.name))
            try:
                return self.health()
            except OSError:
                time.sleep(0.05)
        fail("node %s did not start within 30 s" % self.name)

    def health(self):
        return json.loads(urllib.request.urlopen(self.url("/healthz"), timeout=2).read())

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def freeze(self):
        self.frozen = True
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)
        self.frozen = False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None and not getattr(self, "frozen", False)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)


class Client(threading.Thread):
    """Appends small batches to the nodes in turn; an unanswered batch is re-sent to the next node."""

    def __init__(self, nodes, token, number, acks, lock, rng):
        super().__init__(daemon=True)
        self.nodes, self.token, self.number, self.acks, self.lock, self.rng = nodes, token, number, acks, lock, rng
        self.next, self.turn, self.pending = 0, number, None
        self.stop = threading.Event()
        self.failures = []

    def run(self):
        while not self.stop.is_set() or self.pending is not None:
            if self.pending is None:
                if self.stop.is_set():
                    return
                size = self.rng.randint(1, 20)
                self.pending = [event("failover", self.number, self.next + i) for i in range(size)]
                self.next += size
            node = self.nodes[self.turn % len(self.nodes)]
            self.turn += 1
            body = json.dumps({"events": self.pending}).encode()
            request = urllib.request.Request(node.url("/v1/events"), data=body, method="POST",
                                             headers={"Authorization": "Bearer " + self.token, "Content-Type": "application/json"})
            try:
                # A frozen node never answers: re-send to the next (appends are idempotent).
                with urllib.request.urlopen(request, timeout=8) as response:
                    results = json.loads(response.read())["results"]
            except urllib.error.HTTPError as error:
                if error.code == 503:
                    time.sleep(0.05)
                    continue
                self.failures.append("HTTP %d from %s: %s" % (error.code, node.name, error.read()[:300]))
                self.stop.set()
                self.pending = None
                continue
            except OSError:
                time.sleep(0.02)
                continue
            with self.lock:
                for result, sent in zip(results, self.pending):
                    if result["event_id"] != sent["event_id"]:
                        self.failures.append("answer out of order from %s" % node.name)
                    previous = self.acks.get(result["event_id"])
                    if previous and (previous["index"], previous["leaf_hash"]) != (result["index"], result["leaf_hash"]):
                        self.failures.append("event %s acknowledged at two places" % result["event_id"])
                    self.acks[result["event_id"]] = result
            self.pending = None


class Monitor(threading.Thread):
    """Keeps every distinct checkpoint any live node serves."""

    def __init__(self, nodes, checkpoints, lock):
        super().__init__(daemon=True)
        self.nodes, self.checkpoints, self.lock = nodes, checkpoints, lock
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for node in self.nodes:
                if not node.alive():
                    continue
                try:
                    note = urllib.request.urlopen(node.url("/checkpoint"), timeout=2).read().decode()
                except OSError:
                    continue
                with self.lock:
                    self.checkpoints.setdefault(note, node.name)
            time.sleep(0.03)


def sequencer_of(nodes):
    for node in nodes:
        if node.alive():
            try:
                if node.health().get("role") == "sequencer":
                    return node
            except OSError:
                pass
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=1, help="how many times to kill the sequencing node")
    parser.add_argument("--stops", type=int, default=0, help="how many times to freeze it (SIGSTOP), then resume it")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    greffe = os.environ.get("GREFFE", os.path.join(ROOT, ".build", "debug", "greffe"))
    work = tempfile.mkdtemp(prefix="greffe-failover.")
    server = os.environ.get("GREFFE_TEST_POSTGRES")
    pgdata = None
    if not server:
        exports = subprocess.check_output([os.path.join(HERE, "pg.sh"), "start"], text=True)
        values = dict(line.split(" ", 1)[1].split("=", 1) for line in exports.splitlines())
        server, pgdata = values["GREFFE_TEST_POSTGRES"], values["GREFFE_TEST_PGDATA"]
    nodes = []
    try:
        database = "greffe_failover_%d" % os.getpid()
        subprocess.check_call(["psql", "-q", server, "-c", "CREATE DATABASE %s" % database], stdout=subprocess.DEVNULL)
        url = server.replace("/postgres?", "/%s?" % database)
        checker = os.path.join(work, "tlogcheck")
        subprocess.check_call(["go", "build", "-o", checker, "./Tests/Interop/tlogcheck"], cwd=ROOT,
                              env=dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOCACHE=os.path.join(work, "gocache")))

        # One key, copied to every node's data directory (as ops/RUNBOOK.md says); tokens live in PostgreSQL.
        first = os.path.join(work, "n1")
        subprocess.check_call([greffe, "init", "--data", first, "--postgres", url, "--origin", "failover.greffe.test/log"], stdout=subprocess.DEVNULL)
        token = subprocess.check_output([greffe, "token", "create", "--data", first, "--postgres", url, "--role", "append", "--platform", "crash.example", "--name", "load"],
                                        text=True).strip()
        for name in ("n2", "n3"):
            os.makedirs(os.path.join(work, name), mode=0o700)
            for file in ("signing.key", "verifier.vkey"):
                with open(os.path.join(first, file), "rb") as src, open(os.path.join(work, name, file), "wb") as dst:
                    dst.write(src.read())
            os.chmod(os.path.join(work, name, "signing.key"), 0o600)
        nodes = [Node(greffe, work, name, url) for name in ("n1", "n2", "n3")]
        for node in nodes:
            node.start()
        roles = sorted(node.health()["role"] for node in nodes)
        if roles != ["follower", "follower", "sequencer"]:
            fail("expected one sequencer and two followers, got %s" % roles)

        acks, checkpoints, lock = {}, {}, threading.Lock()
        clients = [Client(nodes, token, n, acks, lock, random.Random(rng.random())) for n in range(args.clients)]
        monitor = Monitor(nodes, checkpoints, lock)
        monitor.start()
        for client in clients:
            client.start()
        takeovers = []
        for round in range(args.kills + args.stops):
            freeze = round >= args.kills
            what = "frozen (SIGSTOP)" if freeze else "killed"
            time.sleep(rng.uniform(1.5, 3.0))
            victim = sequencer_of(nodes)
            if victim is None:
                fail("no node reports itself the sequencer before round %d" % (round + 1))
            with lock:
                acked_before = len(acks)
                served_before = set(checkpoints)
            hit_at = time.time()
            if freeze:
                victim.freeze()
            else:
                victim.kill()
            # Takeover: a surviving node reports sequencer and a new checkpoint covers more than before.
            new = None
            while time.time() - hit_at < 30:
                new = sequencer_of(nodes)
                if new is not None:
                    break
                time.sleep(0.02)
            if new is None:
                fail("no node took over within 30 s after %s was %s" % (victim.name, what))
            took_over = time.time() - hit_at
            if freeze and took_over > 5:
                fail("%s was frozen and %s took over only after %.2f s (at most 5 s)" % (victim.name, new.name, took_over))
            while time.time() - hit_at < 30:
                with lock:
                    if len(acks) > acked_before + 50:
                        break
                time.sleep(0.02)
            else:
                fail("appends did not resume within 30 s after the takeover by %s" % new.name)
            resumed = time.time() - hit_at
            takeovers.append((victim.name, new.name, took_over, resumed))
            print("round %d: %s %s mid-load; %s sequencing after %.2f s, appends flowing again after %.2f s"
                  % (round + 1, victim.name, what, new.name, took_over, resumed), flush=True)
            if freeze:
                # Resumed, the old sequencer finds its lease gone: it must stop sequencing (greffe exits, for its
                # supervisor to restart it as a follower), never sign or serve a checkpoint of its own.
                victim.thaw()
                thawed_at = time.time()
                deadline = thawed_at + 15
                while time.time() < deadline and victim.proc.poll() is None:
                    try:
                        role = victim.health().get("role")
                        # It learns of the loss at its next lease check (a dead session answers at once): a moment.
                        if role != "none" and time.time() - thawed_at > 1.0:
                            fail("%s, resumed after losing its lease, still reports role %s after 1 s" % (victim.name, role))
                    except urllib.error.HTTPError as error:
                        if error.code != 503:
                            fail("%s, resumed after losing its lease, answers /healthz %d" % (victim.name, error.code))
                    except OSError:
                        pass
                    time.sleep(0.1)
                if victim.proc.poll() is None:
                    victim.log.flush()
                    with open(os.path.join(work, victim.name + ".log"), "rb") as log:
                        tail = log.read()[-3000:].decode("utf-8", "replace")
                    fail("%s, resumed after losing its lease, did not stop within 15 s; the end of its log:\n%s" % (victim.name, tail))
                stopped_in, code = time.time() - thawed_at, victim.proc.returncode
                victim.log.close()
                with open(os.path.join(work, victim.name + ".log"), "rb") as log:
                    if b"lost the sequencer lease" not in log.read():
                        fail("%s exited after SIGCONT without saying it lost the lease" % victim.name)
                victim.start()  # as systemd's Restart= would
                if victim.health()["role"] != "follower":
                    fail("%s, restarted after SIGSTOP, did not come back as a follower" % victim.name)
                print("round %d: %s resumed, stopped within %.1f s (exit %d) and came back as a follower; every checkpoint it served is checked below"
                      % (round + 1, victim.name, stopped_in, code), flush=True)
            else:
                victim.start()
                if victim.health()["role"] != "follower":
                    fail("restarted node %s did not come back as a follower" % victim.name)
        time.sleep(1)
        for client in clients:
            client.stop.set()
        for client in clients:
            client.join(timeout=60)
        failures = [f for c in clients for f in c.failures]
        if failures:
            fail("; ".join(failures[:5]))
        # Every node must serve a checkpoint covering every acknowledged event.
        deadline = time.time() + 15
        while True:
            sizes = [node.health() for node in nodes]
            if all(h["checkpoint_size"] >= len(acks) for h in sizes):
                break
            if time.time() > deadline:
                fail("checkpoints do not cover the %d acknowledged events within 15 s: %s" % (len(acks), sizes))
            time.sleep(0.05)
        monitor.stop.set()
        monitor.join()
        acks_file = os.path.join(work, "acks.jsonl")
        with open(acks_file, "w") as f:
            for result in acks.values():
                f.write(json.dumps(result) + "\n")
        old_file = os.path.join(work, "checkpoints.txt")
        with open(old_file, "w") as f:
            f.write("".join(note + "---\n" for note in checkpoints))
        for node in nodes:
            check = subprocess.run([checker, "-url", node.url(""), "-vkey", os.path.join(node.data, "verifier.vkey"), "-acks", acks_file,
                                    "-old-checkpoints", old_file, "-ack-proofs", "2000"], capture_output=True, text=True)
            if check.returncode != 0:
                print(check.stdout[-3000:], check.stderr[-3000:])
                fail("tlogcheck against %s" % node.name)
        size = nodes[0].health()["tree_size"]
        if size != len(acks):
            fail("the tree has %d entries but %d events were acknowledged" % (size, len(acks)))
        served_by = sorted(set(checkpoints.values()))
        print("failover: 1 passed, 0 failed (%d events acknowledged through 3 nodes, zero lost; %d checkpoints served by %s all "
              "consistent with the final one; takeover %s)"
              % (len(acks), len(checkpoints), ",".join(served_by),
                 ", ".join("%.2f s (appends resumed %.2f s)" % (t[2], t[3]) for t in takeovers)), flush=True)
    finally:
        for node in nodes:
            if node.alive():
                node.kill()
        if pgdata:
            subprocess.call([os.path.join(HERE, "pg.sh"), "stop", pgdata])


if __name__ == "__main__":
    main()
