import Foundation
import Synchronization
public import GreffeLedger
public import GreffeStore
public import ServiceLifecycle

/// Runs the ledger's sequencer and signer as a service. Listed before the HTTP
/// server, it stops after it: on SIGTERM the server drains its requests
/// (whose appends still need the sequencer), then the ledger commits what is
/// queued and signs a last checkpoint.
public struct LedgerService: Service {
    public let shards: ShardedLedger
    /// On PostgreSQL with shards, the store whose lease makes this node the one that serves them (shard 0's).
    let shardSetLease: (any SharedLedgerStore)?
    var ledger: Ledger { shards.active }

    public init(ledger: Ledger) {
        self.shards = ShardedLedger(single: ledger)
        self.shardSetLease = nil
    }

    /// A sharded ledger; on PostgreSQL, `shardSetLease` is the store whose lease this node holds for the set.
    public init(shards: ShardedLedger, shardSetLease: (any SharedLedgerStore)? = nil) {
        self.shards = shards
        self.shardSetLease = shardSetLease
    }

    /// How long a node that lost the lease may take to stop cleanly before it exits.
    static let leaseLossGrace: Duration = .seconds(2)

    /// How long one read of a follower (two queries, or a lease attempt whose connect times out after
    /// 10 s) may run before the node counts itself stuck and exits to be restarted.
    static let followerStallLimit: Duration = .seconds(20)

    public func run() async throws {
        // A node frozen (SIGSTOP) or cut off while it sequenced may find, once it runs again, requests and
        // connections that hang: it must not go on serving a stale view as if it followed. Nothing it
        // acknowledged is lost by exiting (acknowledged means stored); its supervisor restarts it as a follower.
        // The watchdog is a thread of its own: it must fire when no task gets to run.
        // A follower whose read of the store never completes (seen once in ops/tests/replication.py, after the
        // primary died: no error, no answer) would serve its old checkpoint forever: it exits too.
        // It watches the active shard, whichever that is by now, and the lease of the shard set.
        let watchdog = LeaseLossWatchdog(
            shards: shards, shardSetLease: shardSetLease, grace: Self.leaseLossGrace, followerStallLimit: Self.followerStallLimit)
        watchdog.start()
        // Cancellation stops it too: the service group cancels every service when one fails (the HTTP
        // server that cannot bind its address), and a ledger that ignored it kept the process up, serving nothing.
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await shards.run()
            } onGracefulShutdown: {
                shards.shutdown()
            }
        } onCancel: {
            shards.shutdown()
        }
        if ledger.stoppedBecauseLeaseLost || shardSetLease.map({ !$0.holdsSequencerLease }) == true {
            // Exit now, for the supervisor to restart this node as a follower. Everything acknowledged is
            // stored; requests still open get a closed connection and retry (appends are idempotent). A
            // graceful HTTP shutdown would wait on clients' open connections, and could end in NIO's
            // "NIOAsyncWriter deinited without finish()" trap (seen in ops/tests/replication.py).
            LeaseLossWatchdog.exitLeaseLost("stopped sequencing")
        }
        watchdog.stop()
    }
}

public struct LeaseLost: Error, CustomStringConvertible {
    public var description: String { "this node lost the sequencer lease; restart it and it will follow the new sequencer" }
}

/// Exits the process once the ledger's lease has been gone for `grace`, or a follower's read of the
/// shared store has hung for `followerStallLimit`, on a plain thread that polls (Swift tasks may be
/// the thing that is stuck).
final class LeaseLossWatchdog: Sendable {
    private let shards: ShardedLedger
    private let shardSetLease: (any SharedLedgerStore)?
    private let grace: Duration
    private let followerStallLimit: Duration
    private let stopped = Mutex(false)

    init(shards: ShardedLedger, shardSetLease: (any SharedLedgerStore)?, grace: Duration, followerStallLimit: Duration) {
        self.shards = shards
        self.shardSetLease = shardSetLease
        self.grace = grace
        self.followerStallLimit = followerStallLimit
    }

    func start() {
        let thread = Thread { [self] in watch() }
        thread.name = "greffe-lease-watchdog"
        thread.start()
    }

    func stop() {
        stopped.withLock { $0 = true }
    }

    /// Says why on standard error and exits with EX_TEMPFAIL (75), running no atexit handler (they could
    /// wait on threads that are stuck).
    static func exitLeaseLost(_ detail: String) -> Never {
        exitForRestart("\(LeaseLost()); \(detail)")
    }

    static func exitForRestart(_ reason: String) -> Never {
        FileHandle.standardError.write(Data("greffe: \(reason), exiting\n".utf8))
        fflush(nil)
        _exit(75)
    }

    private func watch() {
        var goneSince: ContinuousClock.Instant?
        while !stopped.withLock({ $0 }) {
            Thread.sleep(forTimeInterval: 0.1)
            let ledger = shards.active
            if let stalled = ledger.followerReadStalled(longerThan: followerStallLimit), !stopped.withLock({ $0 }) {
                Self.exitForRestart(
                    "this follower's read of the shared store (\(stalled.step)) has not completed in \(stalled.running); "
                        + "restarted, it reconnects and follows the sequencer")
            }
            let setLeaseGone = shardSetLease.map { !$0.holdsSequencerLease || $0.sequencerLeaseUnconfirmed } ?? false
            guard ledger.sequencerLeaseGone || setLeaseGone else { continue }
            let now = ContinuousClock.now
            guard let since = goneSince else {
                goneSince = now
                continue
            }
            if now - since >= grace, !stopped.withLock({ $0 }) {
                Self.exitLeaseLost("it did not stop within \(grace)")
            }
        }
    }
}
