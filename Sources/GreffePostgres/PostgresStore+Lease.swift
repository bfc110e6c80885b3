import Foundation
import GreffeCore
public import GreffeStore
import NIOCore
import PostgresNIO
import Synchronization

// The sequencer lease (a session advisory lock, fenced by an epoch) and the handover queue between nodes.
extension PostgresStore {
    // MARK: - SharedLedgerStore

    public func acquireSequencerLease(node: String) async throws -> Bool {
        if lease.withLock({ $0.epoch != nil }) { return true }
        let logger = logger
        let connection = try await mapped("connecting for the sequencer lease") {
            try await PostgresConnection.connect(configuration: try location.connectionConfiguration(), id: 1, logger: logger)
        }
        do {
            // A holder that stops talking (SIGSTOP, a partition) must lose the lock on the server's side too, whatever
            // its own clock thinks: the server ends this session after `leaseIdleTimeout` without a query (`watchLease`
            // pings every second) or after a few unanswered TCP keepalives, and the lock goes with the session.
            for setting in [
                "SET idle_session_timeout = '\(Self.leaseIdleTimeout.components.seconds)s'", "SET tcp_keepalives_idle = 1",
                "SET tcp_keepalives_interval = 1", "SET tcp_keepalives_count = 2",
            ] {
                _ = try await mapped("configuring the sequencer lease session") {
                    try await connection.query(PostgresQuery(unsafeSQL: setting), logger: logger)
                }
            }
            let acquired = try await mapped("trying the sequencer lease") {
                try await connection.query("SELECT pg_try_advisory_lock(\(leaseLock))", logger: logger).decode(Bool.self)
                    .reduce(false) { $1 }
            }
            guard acquired else {
                try? await connection.close()
                return false
            }
            // The lock is ours; the epoch bump fences every earlier holder's writes.
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let epoch = try await mapped("taking the sequencer lease") {
                try await connection.query(
                    "UPDATE sequencer_lease SET epoch = epoch + 1, node = \(node), acquired_at = \(now) WHERE id = 1 RETURNING epoch", logger: logger
                ).decode(Int64.self).reduce(Int64(-1)) { $1 }
            }
            lease.withLock { state in
                state.epoch = epoch
                state.connection = connection
                state.lost = false
                state.confirmedAt = .now
            }
            connection.closeFuture.whenComplete { [weak self] _ in self?.leaseLost() }
            Task { [weak self] in await self?.watchLease(connection) }
            return true
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// How long the server keeps the lease of a holder that sent nothing: with
    /// followers trying every second, another node sequences within about 4 s.
    static let leaseIdleTimeout: Duration = .seconds(3)

    /// A lease is only as good as its connection: check it every second, with
    /// a deadline, so a silently dead network does not leave two sequencers.
    func watchLease(_ connection: PostgresConnection) async {
        let logger = logger
        while !Task.isCancelled, lease.withLock({ $0.connection === connection && !$0.lost }) {
            try? await Task.sleep(for: .seconds(1))
            let alive = await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    (try? await connection.query("SELECT 1", logger: logger).decode(Int32.self).reduce(0) { $1 }) == 1
                }
                group.addTask {
                    try? await Task.sleep(for: .seconds(3))
                    guard !Task.isCancelled else { return true }
                    // A query does not end on cancellation; closing its connection ends it, and lets the group return.
                    Self.closeInBackground(connection)
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            if alive {
                lease.withLock { $0.confirmedAt = .now }
            } else {
                Self.closeInBackground(connection)
                leaseLost()
                return
            }
        }
    }

    /// Gives the lease up on purpose, for a shard sealed for good: its lock's session ends, and this store's writes
    /// (erasures, retention; never an entry again) are no longer fenced by an epoch. Whoever waits for a loss is
    /// woken (a closed ledger's watcher, which then ends); nothing counts it as lost.
    public func releaseSequencerLease() {
        let (connection, waiters) = lease.withLock { state -> (PostgresConnection?, [CheckedContinuation<Void, Never>]) in
            defer {
                state.connection = nil
                state.epoch = nil
                state.lost = false
                state.lossWaiters = []
            }
            return (state.connection, state.lossWaiters)
        }
        if let connection { Self.closeInBackground(connection) }
        for waiter in waiters { waiter.resume() }
    }

    /// Closes without waiting, keeping the connection alive until it is closed: PostgresNIO asserts that a connection
    /// is closed before it goes, and the lease watcher may let go of it first.
    static func closeInBackground(_ connection: PostgresConnection) {
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    func leaseLost() {
        let waiters = lease.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.epoch != nil, !state.lost else { return [] }
            state.lost = true
            defer { state.lossWaiters = [] }
            return state.lossWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// How long the lease may go unconfirmed before the process watchdog counts it lost, though no error
    /// said so: the server ends a silent session after `leaseIdleTimeout`, and a second lets the last ping answer.
    static let leaseConfirmationDeadline: Duration = leaseIdleTimeout + .seconds(1)

    public var holdsSequencerLease: Bool {
        lease.withLock { $0.epoch != nil && !$0.lost }
    }

    /// Held, but no ping answered for `leaseConfirmationDeadline`: read by the watchdog thread, which exits
    /// a node whose tasks are stuck (a frozen process, resumed). Not a loss by itself: the session, and
    /// its lock, may still be alive.
    public var sequencerLeaseUnconfirmed: Bool {
        lease.withLock { state in
            state.epoch != nil && !state.lost && ContinuousClock.now - state.confirmedAt >= Self.leaseConfirmationDeadline
        }
    }

    public func waitForLeaseLoss() async {
        await withCheckedContinuation { continuation in
            let lostAlready = lease.withLock { state in
                if state.lost { return true }
                state.lossWaiters.append(continuation)
                return false
            }
            if lostAlready { continuation.resume() }
        }
    }

    public func sequencerLeaseHolder() async throws -> (node: String, epoch: Int64)? {
        let found = try await rows("reading the sequencer lease", "SELECT node, epoch FROM sequencer_lease WHERE id = 1", as: (String, Int64).self)
        guard let (node, epoch) = found.first, epoch > 0 else { return nil }
        return (node, epoch)
    }

    public func handOver(_ payload: [UInt8]) async throws -> Int64 {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        guard
            let id = try await rows(
                "queueing an append for the sequencer",
                "INSERT INTO handovers (payload, created_at) VALUES (\(ByteBuffer(bytes: payload)), \(now)) RETURNING id", as: Int64.self
            ).first
        else { throw StoreError(.unavailable, "PostgreSQL returned no handover id") }
        return id
    }

    public func pendingHandovers(limit: Int) async throws -> [Handover] {
        try await rows(
            "reading queued appends", "SELECT id, payload FROM handovers WHERE outcome IS NULL ORDER BY id LIMIT \(Int64(limit))",
            as: (Int64, ByteBuffer).self
        ).map { Handover(id: $0.0, payload: Array($0.1.readableBytesView)) }
    }

    public func resolveHandovers(_ outcomes: [HandoverOutcome]) async throws {
        if outcomes.isEmpty { return }
        let ids = outcomes.map(\.id)
        let values = outcomes.map { ByteBuffer(bytes: $0.outcome) }
        let logger = logger
        try await mapped("settling queued appends") {
            try await client.withTransaction(logger: logger) { db in
                try await checkFence(db)
                try await Self.settle(db, ids: ids, outcomes: values, logger: logger)
            }
        }
    }

    /// The payload (the events, bodies included) is dropped once settled: a
    /// node that never collects its outcome must not keep a body that is later erased.
    static func settle(_ db: PostgresConnection, ids: [Int64], outcomes: [ByteBuffer], logger: Logger) async throws {
        let settled = try await db.query(
            """
            UPDATE handovers h SET outcome = u.outcome, payload = ''::bytea
            FROM unnest(\(ids)::bigint[], \(outcomes)::bytea[]) AS u(id, outcome)
            WHERE h.id = u.id AND h.outcome IS NULL RETURNING h.id
            """, logger: logger
        ).decode(Int64.self).reduce(0) { count, _ in count + 1 }
        guard settled == ids.count else {
            throw StoreError(.inconsistent, "only \(settled) of \(ids.count) queued appends were still waiting to be settled")
        }
    }

    public func takeHandoverOutcome(id: Int64) async throws -> [UInt8]? {
        try await rows(
            "reading a queued append's outcome", "DELETE FROM handovers WHERE id = \(id) AND outcome IS NOT NULL RETURNING outcome",
            as: ByteBuffer.self
        ).first.map { Array($0.readableBytesView) }
    }
}
