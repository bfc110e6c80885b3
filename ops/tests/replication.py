#!/usr/bin/env python3
"""Replication test: greffe on a PostgreSQL primary with a synchronous standby.

Two throwaway PostgreSQL 15 clusters: a primary and a standby made from it
with `pg_basebackup -R`, named `s1` in the primary's
`synchronous_standby_names` (`synchronous_commit = on`, the default: a
commit returns once the standby has flushed its WAL; see ops/RUNBOOK.md,
"PostgreSQL replication"). Two `greffe serve` nodes reach the database
through one address, a TCP relay standing in for the virtual IP / DNS name /
proxy that production moves to the new primary. Client threads append
through both nodes and keep every acknowledged receipt; monitors keep every
checkpoint any node serves.

Mid-load:
  1. the primary's WAL sender is frozen (SIGSTOP) for a moment: with a
     synchronous standby, acknowledgements must stop (a commit waits for it);
  2. the primary is killed (SIGKILL, every process) and its data directory
     deleted, so whatever was committed on the primary alone is gone with it;
  3. the standby is promoted (`pg_ctl promote`), the
     relay points at it, and greffe nodes that exited (the sequencer does, on
     losing its lease) are restarted as systemd's Restart= would.
Then: appends continue; the Go checker (Tests/Interop/tlogcheck) checks
against every node that every acknowledged event is at its acknowledged
index with its leaf hash and that every checkpoint ever served, before and
after, is consistent with the final one (no fork); the tree holds exactly
the acknowledged events.

With --async (no synchronous standby) the same run shows why the setting
matters: acknowledgements go on while the standby is cut off, and after the
promotion the events acknowledged meanwhile are missing. That mode passes
when it finds the loss (it is a demonstration, not a property of greffe).

  ops/tests/replication.py [--async] [--seed N]
Env: GREFFE (binary, default .build/debug/greffe).
"""
import argparse, json, os, random, select, shutil, signal, socket, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import failover  # noqa: E402  (nodes, load clients and checkpoint monitors of the failover test)
from crash import free_port  # noqa: E402

BINDIR = "/usr/lib/postgresql/15/bin"
NAME = "replication"


def fail(message):
    print("FAIL " + message, flush=True)
    print("%s: 0 passed, 1 failed" % NAME, flush=True)
    sys.exit(1)


failover.fail = fail  # Node.start reports through it


def as_postgres(args, **kwargs):
    if os.getuid() == 0:
        args = ["runuser", "-u", "postgres", "--"] + args
    return subprocess.run(args, **kwargs)


class Postgres:
    """One throwaway cluster in its own folder, on a free loopback port."""

    def __init__(self, work, name):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.url = "postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable" % self.port

    def initdb(self):
        out = as_postgres([BINDIR + "/initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8"], capture_output=True, text=True)
        if out.returncode != 0:
            fail("initdb: " + out.stderr[-1000:])

    def start(self, *settings):
        options = "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=on -c max_connections=100 %s" % (
            self.port, self.dir, " ".join("-c " + s for s in settings))
        out = as_postgres([BINDIR + "/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "server.log"), "-w", "-t", "30", "-o", options, "start"],
                          capture_output=True, text=True)
        if out.returncode != 0:
            fail("pg_ctl start %s: %s" % (self.dir, open(os.path.join(self.dir, "server.log")).read()[-2000:]))

    def sql(self, query, database="postgres"):
        return subprocess.check_output(["psql", "-qAtX", self.url.replace("/postgres?", "/%s?" % database), "-c", query], text=True).strip()

    def processes(self):
        """The postmaster and its children (only these were started by this test)."""
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                postmaster = int(f.readline())
        except OSError:
            return []
        pids = [postmaster]
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open("/proc/%s/stat" % pid) as f:
                        stat = f.read()
                except OSError:
                    continue
                if int(stat[stat.rindex(")") + 2:].split()[1]) == postmaster:
                    pids.append(int(pid))
        return pids

    def stop(self):
        as_postgres([BINDIR + "/pg_ctl", "-D", self.data, "-m", "immediate", "stop"], capture_output=True)


class Relay(threading.Thread):
    """A TCP relay to the current primary: the address greffe is given.

    Production moves a virtual IP, a DNS name or a proxy's backend to the
    promoted standby; `point` does the same here and drops the connections
    made to the old target."""

    def __init__(self, target):
        super().__init__(daemon=True)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.target, self.lock, self.pairs = target, threading.Lock(), []

    def point(self, target):
        with self.lock:
            self.target, old, self.pairs = target, self.pairs, []
        for pair in old:
            for s in pair:
                try:
                    s.close()
                except OSError:
                    pass

    def run(self):
        while True:
            client, _ = self.listener.accept()
            with self.lock:
                target = self.target
            try:
                upstream = socket.create_connection(("127.0.0.1", target), timeout=2)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, upstream))
            threading.Thread(target=self.pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def pump(a, b):
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 1)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    (b if s is a else a).sendall(data)
        except (OSError, ValueError):
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass


def acked(acks, lock):
    with lock:
        return len(acks)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--async", dest="asynchronous", action="store_true", help="standby asynchronous: demonstrate the loss")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    global NAME
    NAME = "replication" + (" --async" if args.asynchronous else "")
    rng = random.Random(args.seed)
    greffe = os.environ.get("GREFFE", os.path.join(ROOT, ".build", "debug", "greffe"))
    work = tempfile.mkdtemp(prefix="greffe-replication.")
    os.chmod(work, 0o755)  # the clusters' folders inside belong to the postgres user
    primary, standby = Postgres(work, "primary"), Postgres(work, "standby")
    nodes = []
    try:
        primary.initdb()
        # synchronous_commit = on (the default): a commit returns once the standby has flushed the WAL, so
        # an acknowledged append is on two disks, and promotion replays all flushed WAL before it takes writes.
        primary.start("synchronous_standby_names=''" if args.asynchronous else "synchronous_standby_names='FIRST 1 (s1)'",
                      "synchronous_commit=on")
        out = as_postgres([BINDIR + "/pg_basebackup", "-d", "host=127.0.0.1 port=%d user=postgres application_name=s1" % primary.port,
                           "-D", standby.data, "-R", "-X", "stream", "-c", "fast"], capture_output=True, text=True)
        if out.returncode != 0:
            fail("pg_basebackup: " + out.stderr[-1000:])
        # The standby gets no synchronous_standby_names: promoted, it must take writes without a standby of its own.
        standby.start("synchronous_standby_names=''")
        deadline = time.time() + 20
        expected = "async" if args.asynchronous else "sync"
        while primary.sql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 's1'") != expected:
            if time.time() > deadline:
                fail("the standby is not streaming as %s: %s" % (expected, primary.sql("SELECT * FROM pg_stat_replication")))
            time.sleep(0.1)
        relay = Relay(primary.port)
        relay.start()

        database = "greffe_replication"
        primary.sql("CREATE DATABASE %s" % database)
        url = "postgres://postgres@127.0.0.1:%d/%s?sslmode=disable" % (relay.port, database)
        checker = os.path.join(work, "tlogcheck")
        subprocess.check_call(["go", "build", "-o", checker, "./Tests/Interop/tlogcheck"], cwd=ROOT,
                              env=dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOCACHE=os.path.join(work, "gocache")))
        first = os.path.join(work, "n1")
        subprocess.check_call([greffe, "init", "--data", first, "--postgres", url, "--origin", "replication.greffe.test/log"], stdout=subprocess.DEVNULL)
        token = subprocess.check_output([greffe, "token", "create", "--data", first, "--postgres", url, "--role", "append",
                                         "--platform", "crash.example", "--name", "load"], text=True).strip()
        os.makedirs(os.path.join(work, "n2"), mode=0o700)
        for file in ("signing.key", "verifier.vkey"):
            shutil.copyfile(os.path.join(first, file), os.path.join(work, "n2", file))
        os.chmod(os.path.join(work, "n2", "signing.key"), 0o600)
        nodes = [failover.Node(greffe, work, name, url) for name in ("n1", "n2")]
        for node in nodes:
            node.start()

        acks, checkpoints, lock = {}, {}, threading.Lock()
        clients = [failover.Client(nodes, token, n, acks, lock, random.Random(rng.random())) for n in range(args.clients)]
        monitor = failover.Monitor(nodes, checkpoints, lock)
        monitor.start()
        for client in clients:
            client.start()
        time.sleep(rng.uniform(1.5, 2.5))
        if acked(acks, lock) < 50:
            fail("only %d events acknowledged before the fault" % acked(acks, lock))

        # 1. Freeze the primary's WAL sender: the primary goes on alone (asynchronous) or its commits wait (synchronous).
        # (Freezing the standby's receiver instead is not enough: the WAL already in its socket buffers still lands.)
        sender = int(primary.sql("SELECT pid FROM pg_stat_replication WHERE application_name = 's1'") or 0)
        if not sender:
            fail("the primary has no WAL sender")
        os.kill(sender, signal.SIGSTOP)
        time.sleep(0.3)  # commits already on the standby's disk may still be answered
        during_start = acked(acks, lock)
        time.sleep(1.2)
        during = acked(acks, lock) - during_start
        with lock:
            acked_at_kill = dict(acks)
        # 2. The primary dies with its disk: every process at once, then its data directory.
        for pid in primary.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(primary.data)
        killed_at = time.time()
        print("primary killed and its data directory deleted with %d events acknowledged; %d acknowledged in the 1.2 s the standby "
              "was cut off" % (len(acked_at_kill), during), flush=True)
        if not args.asynchronous and during:
            fail("%d appends were acknowledged while the synchronous standby could not receive them" % during)

        # 3. The standby is promoted (after replaying all the WAL it received); the address now leads to it.
        out = as_postgres([BINDIR + "/pg_ctl", "-D", standby.data, "-w", "-t", "30", "promote"], capture_output=True, text=True)
        if out.returncode != 0:
            fail("pg_ctl promote: " + out.stderr[-1000:])
        if args.asynchronous:
            for node in nodes:
                node.kill()  # nothing more is written: the point is what the new primary lacks
            nodes = []
            ids = list(acked_at_kill)
            present = set(standby.sql("SELECT event_id FROM events WHERE event_id = ANY(ARRAY[%s])" % ",".join("'%s'" % i for i in ids),
                                      database=database).split())
            lost = sorted((acked_at_kill[i]["index"], i) for i in ids if i not in present)
            if not lost:
                fail("the asynchronous standby had every acknowledged event (the loss this mode shows did not happen this run)")
            print("%s: 1 passed, 0 failed (asynchronous standby: %d of %d acknowledged events missing after the promotion, indices %d–%d)"
                  % (NAME, len(lost), len(ids), lost[0][0], lost[-1][0]), flush=True)
            return
        relay.point(standby.port)
        promoted_at = time.time()
        print("standby promoted %.2f s after the kill; greffe reaches it through the same address" % (promoted_at - killed_at), flush=True)

        # Nodes that stopped (the sequencer, on losing its lease with its session) come back as systemd restarts them.
        deadline = time.time() + 40
        while True:
            for node in nodes:
                if node.proc.poll() is not None:
                    node.log.close()
                    node.start()
            if failover.sequencer_of(nodes) is not None and acked(acks, lock) > len(acked_at_kill) + 50:
                break
            if time.time() > deadline:
                fail("appends did not resume within 40 s of the promotion (see %s/n*.log)" % work)
            time.sleep(0.1)
        resumed = time.time() - promoted_at
        print("appends flowing again %.2f s after the promotion (sequencer %s)" % (resumed, failover.sequencer_of(nodes).name), flush=True)
        time.sleep(1)
        for client in clients:
            client.stop.set()
        for client in clients:
            client.join(timeout=60)
        failures = [f for c in clients for f in c.failures]
        if failures:
            fail("; ".join(failures[:5]))
        def covered(node):
            # A sequencer may lose its lease again on a loaded machine after the promotion: it exits (code 75)
            # and systemd restarts it as a follower; so does this loop.
            if node.proc.poll() is not None:
                print("node %s exited with %s after the resume; restarted as systemd would" % (node.name, node.proc.returncode), flush=True)
                node.log.close()
                node.start()
            try:
                return node.health()["checkpoint_size"] >= len(acks)
            except OSError:
                return False

        # 45 s: a follower whose read of the store hung when the primary died exits after 20 s (its
        # watchdog, code 75) and is restarted by covered(); that must fit in the wait.
        deadline = time.time() + 45
        while not all([covered(node) for node in nodes]):
            if time.time() > deadline:
                states = []
                for node in nodes:
                    try:
                        states.append("%s %s" % (node.name, node.health()))
                    except OSError as error:
                        states.append("%s: %s" % (node.name, error))
                    node.log.flush()
                    with open(os.path.join(work, node.name + ".log"), "rb") as log:
                        states.append(log.read()[-2000:].decode("utf-8", "replace"))
                fail("checkpoints do not cover the %d acknowledged events within 45 s:\n%s" % (len(acks), "\n".join(states)))
            time.sleep(0.05)
        monitor.stop.set()
        monitor.join()
        for event_id, before in acked_at_kill.items():
            if (acks[event_id]["index"], acks[event_id]["leaf_hash"]) != (before["index"], before["leaf_hash"]):
                fail("event %s was acknowledged at %d before the failover and at %d after" % (event_id, before["index"], acks[event_id]["index"]))
        acks_file = os.path.join(work, "acks.jsonl")
        with open(acks_file, "w") as f:
            f.writelines(json.dumps(result) + "\n" for result in acks.values())
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
        print("%s: 1 passed, 0 failed (%d events acknowledged, %d of them before the primary and its disk were lost, none missing; "
              "none acknowledged while the synchronous standby was cut off; %d checkpoints served before and after all consistent "
              "with the final one; appends resumed %.2f s after the promotion)"
              % (NAME, len(acks), len(acked_at_kill), len(checkpoints), resumed), flush=True)
    finally:
        for node in nodes:
            if node.alive():
                node.kill()
        for cluster in (primary, standby):
            if os.path.isdir(cluster.data):
                cluster.stop()
        for pid in primary.processes():
            os.kill(pid, signal.SIGKILL)
        if os.environ.get("KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
