import Foundation
import GreffeCore
import GreffeLedger
import GreffeStore
import GreffeTestStores
import Synchronization
import Testing
import GreffeSQLite

/// A shared store for one node: the log in SQLite, the lease and the handover
/// queue under the test's control, so a lease can be lost while a poll of the
/// queue hangs, the way a PostgreSQL connection that died with the lease does.
final class ControlledSharedStore: SharedLedgerStore, DelegatingLedgerStore {
    let base: SQLiteStore
    var inner: any LedgerStore { base }
    private let control = Mutex(Control())

    struct Control {
        var holds = false
        var lossWaiters: [CheckedContinuation<Void, Never>] = []
        var pollsHang = false
        var hungPolls: [CheckedContinuation<Void, Never>] = []
        var polls = 0
        var refusesLease = false
        var readsHang = false
        var hungReads: [CheckedContinuation<Void, Never>] = []
        var treeSizeReads = 0
    }

    init() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-lease-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        base = try SQLiteStore(path: directory.appendingPathComponent("greffe.sqlite").path)
    }

    /// From now on a poll of the handover queue never answers (until `releaseHungPolls`).
    func hangPolls() { control.withLock { $0.pollsHang = true } }

    var polls: Int { control.withLock { $0.polls } }

    /// The lease's session ends: waiters learn it at once, as PostgresStore's connection close does.
    func loseLease() {
        let waiters = control.withLock { control -> [CheckedContinuation<Void, Never>] in
            control.holds = false
            defer { control.lossWaiters = [] }
            return control.lossWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Another node holds the lease: this one follows.
    func refuseLease() { control.withLock { $0.refusesLease = true } }

    /// From now on a read of the tree size never answers (until `releaseHungReads`), the way a pooled
    /// PostgreSQL query did once after the primary died.
    func hangReads() { control.withLock { $0.readsHang = true } }

    var treeSizeReads: Int { control.withLock { $0.treeSizeReads } }

    func releaseHungReads() {
        let hung = control.withLock { control -> [CheckedContinuation<Void, Never>] in
            control.readsHang = false
            defer { control.hungReads = [] }
            return control.hungReads
        }
        for read in hung { read.resume() }
    }

    func treeSize() async throws -> UInt64 {
        await withCheckedContinuation { continuation in
            let hang = control.withLock { control in
                control.treeSizeReads += 1
                if control.readsHang { control.hungReads.append(continuation) }
                return control.readsHang
            }
            if !hang { continuation.resume() }
        }
        return try await base.treeSize()
    }

    func releaseHungPolls() {
        let hung = control.withLock { control -> [CheckedContinuation<Void, Never>] in
            control.pollsHang = false
            defer { control.hungPolls = [] }
            return control.hungPolls
        }
        for poll in hung { poll.resume() }
    }

    // MARK: SharedLedgerStore

    func acquireSequencerLease(node: String) async throws -> Bool {
        control.withLock { control in
            if !control.refusesLease { control.holds = true }
            return !control.refusesLease
        }
    }

    func waitForLeaseLoss() async {
        await withCheckedContinuation { continuation in
            let lost = control.withLock { control in
                if !control.holds { return true }
                control.lossWaiters.append(continuation)
                return false
            }
            if lost { continuation.resume() }
        }
    }

    var holdsSequencerLease: Bool { control.withLock { $0.holds } }
    var sequencerLeaseUnconfirmed: Bool { false }

    func sequencerLeaseHolder() async throws -> (node: String, epoch: Int64)? { nil }

    func handOver(_ payload: [UInt8]) async throws -> Int64 {
        throw StoreError(.unavailable, "this test hands nothing over")
    }

    func pendingHandovers(limit: Int) async throws -> [Handover] {
        await withCheckedContinuation { continuation in
            let hang = control.withLock { control in
                control.polls += 1
                if control.pollsHang { control.hungPolls.append(continuation) }
                return control.pollsHang
            }
            if !hang { continuation.resume() }
        }
        return []
    }

    func resolveHandovers(_ outcomes: [HandoverOutcome]) async throws {}
    func takeHandoverOutcome(id: Int64) async throws -> [UInt8]? { nil }
}

/// Waits for `condition`, polling; false if it does not hold within `limit`
/// (a bound on a hang, not a measurement: the naive code never gets there).
func eventually(within limit: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: limit)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

@Suite struct LeaseLossTests {
    @Test func aLeaseLostWhileAPollHangsStopsTheSequencer() async throws {
        let store = try ControlledSharedStore()
        let ledger = try await Ledger.open(
            store: store, signer: try NoteSigner(generatingFor: "lease.test/log"), checkpointInterval: .milliseconds(20), node: "n1")
        let running = Task { await ledger.run() }
        #expect(ledger.isSequencer)
        #expect(await eventually { store.polls > 0 })
        store.hangPolls()
        let hungAt = store.polls
        #expect(await eventually { store.polls > hungAt })  // a poll is now stuck in the store
        store.loseLease()
        // Only the lease's loss can tell it: the sequencing loop is stuck in the poll.
        #expect(await eventually { ledger.stoppedBecauseLeaseLost }, "a lost lease went unnoticed behind a hung poll")
        #expect(!ledger.isSequencer)
        #expect(ledger.sequencerLeaseGone)
        store.releaseHungPolls()
        await running.value
    }

    @Test func aStoreThatNoLongerHoldsTheLeaseIsSeenFromAnyThread() async throws {
        let store = try ControlledSharedStore()
        let ledger = try await Ledger.open(
            store: store, signer: try NoteSigner(generatingFor: "lease.test/log"), checkpointInterval: .milliseconds(20), node: "n1")
        #expect(!ledger.sequencerLeaseGone)
        // Not running: nothing reacts to the loss, yet the watchdog's synchronous view sees it.
        store.loseLease()
        #expect(ledger.sequencerLeaseGone)
        #expect(!ledger.stoppedBecauseLeaseLost)
    }

    @Test func aLeaseReleasedByAShutdownIsNotReportedLost() async throws {
        let store = try ControlledSharedStore()
        let ledger = try await Ledger.open(
            store: store, signer: try NoteSigner(generatingFor: "lease.test/log"), checkpointInterval: .milliseconds(20), node: "n1")
        let running = Task { await ledger.run() }
        #expect(await eventually { store.polls > 0 })
        ledger.shutdown()
        await running.value
        store.loseLease()  // as closing the store ends the lease's session
        try? await Task.sleep(for: .milliseconds(100))
        #expect(!ledger.stoppedBecauseLeaseLost, "a clean stop must not exit as a lost lease (code 75)")
    }

    @Test func aFollowerReadThatNeverCompletesIsSeenFromAnyThread() async throws {
        let store = try ControlledSharedStore()
        store.refuseLease()
        let ledger = try await Ledger.open(
            store: store, signer: try NoteSigner(generatingFor: "lease.test/log"), checkpointInterval: .milliseconds(20), node: "n2")
        #expect(!ledger.isSequencer)
        let running = Task { await ledger.run() }
        // Bounds of two minutes: with the whole suite in parallel on two cores, other tests' synchronous work
        // can hold the cooperative threads for tens of seconds, and this loop gets no turn meanwhile
        // (seen in ops/test.sh). They bound a hang; nothing here is timed.
        let before = store.treeSizeReads
        #expect(await eventually(within: .seconds(120)) { store.treeSizeReads > before })  // the follower reads, pass after pass
        store.hangReads()
        // The watchdog's synchronous view names the read that hangs, once it has run past the limit.
        #expect(await eventually(within: .seconds(120)) { ledger.followerReadStalled(longerThan: .milliseconds(200)) != nil })
        #expect(ledger.followerReadStalled(longerThan: .milliseconds(200))?.step == "reading the committed tree and checkpoint")
        store.releaseHungReads()
        // No false alarm: once the read completes, the follower is no longer stalled.
        #expect(
            await eventually(within: .seconds(120)) { ledger.followerReadStalled(longerThan: .milliseconds(200)) == nil },
            "a read that completed is no longer stalled")
        ledger.shutdown()
        await running.value
    }

    @Test func aSingleNodeLedgerNeverReportsALostLease() async throws {
        let store = try ControlledSharedStore()
        let ledger = try await Ledger.open(store: store.base, signer: try NoteSigner(generatingFor: "lease.test/log"))
        #expect(!ledger.sequencerLeaseGone)
        #expect(ledger.isSequencer)
    }
}
