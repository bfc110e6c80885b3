import Foundation
public import GreffeCore
public import GreffeStore
public import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The store for deployments that outgrow one machine: PostgreSQL, shared by
/// several `greffe serve` nodes (`Schemas/postgres.sql`).
///
/// Durability is PostgreSQL's: a transaction's commit returns once its WAL is
/// flushed (and replicated, with synchronous replication), so an acknowledged
/// batch survives a crash of greffe, of the database or of its machine.
/// Batches go in with one `unnest` insert per table, all in one statement (one
/// round trip) when they settle no handovers, so a batch costs a fixed number
/// of round trips whatever its size.
public final class PostgresStore: SharedLedgerStore, Sendable {
    /// The layout this code reads and writes (`greffe_meta.schema_version`).
    public static let schemaVersion = 3
    /// Serialises schema creation and checkpoint compare-and-swaps across nodes
    /// (`pg_advisory_xact_lock`); the sequencer lease is the session lock `leaseLockKey`.
    static let schemaLockKey: Int64 = 0x6772_6566_6665_0001
    static let checkpointLockKey: Int64 = 0x6772_6566_6665_0002
    static let leaseLockKey: Int64 = 0x6772_6566_6665_0003

    public let location: PostgresLocation
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger
    private let lease = Mutex(LeaseState())

    private struct LeaseState {
        /// The epoch this store set when it took the lease; its writes are fenced by it.
        var epoch: Int64?
        var connection: PostgresConnection?
        var lost = false
        /// When the lease's session last answered: past `leaseIdleTimeout` plus a margin without an answer,
        /// the server may have ended it and another node taken the lease.
        var confirmedAt: ContinuousClock.Instant = .now
        var lossWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Connects, creates the schema on an empty database and checks its version otherwise.
    public static func connect(
        _ location: PostgresLocation, maximumConnections: Int = 16, connectDeadline: Duration = .seconds(10), logger: Logger
    ) async throws -> PostgresStore {
        var configuration: PostgresClient.Configuration
        do { configuration = try location.clientConfiguration() } catch { throw StoreError(.unavailable, "\(error)") }
        configuration.options.maximumConnections = maximumConnections
        // A node frozen mid-transaction (SIGSTOP, a partition) holds its row locks, among them the share lock of
        // the fence on the lease row, which would stall the next sequencer's epoch bump: the server ends such a
        // session, and its locks, after this long idle inside a transaction (greffe's statements follow each other at once).
        configuration.options.additionalStartupParameters = [
            ("idle_in_transaction_session_timeout", "\(leaseIdleTimeout.components.seconds * 1000)")
        ]
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let store = PostgresStore(location: location, client: client, logger: logger)
        do {
            // The pool retries a refused connection forever; start-up must fail instead.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.migrate() }
                group.addTask {
                    try await Task.sleep(for: connectDeadline)
                    throw StoreError(.unavailable, "PostgreSQL at \(location.host):\(location.port) did not answer within \(connectDeadline)")
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            store.close()
            throw error
        }
        return store
    }

    private init(location: PostgresLocation, client: PostgresClient, logger: Logger) {
        self.location = location
        self.client = client
        self.logger = logger
        self.runner = Task { await client.run() }
    }

    /// Closes every connection, the lease's included (which releases it).
    public func close() {
        runner.cancel()
        let connection = lease.withLock { state -> PostgresConnection? in
            defer { state.connection = nil }
            return state.connection
        }
        connection?.close().whenComplete { _ in }
    }

    deinit {
        runner.cancel()
    }

    private func migrate() async throws {
        try await mapped("creating or checking the schema") {
            try await client.withTransaction(logger: logger) { db in
                try await db.query("SELECT pg_advisory_xact_lock(\(Self.schemaLockKey))", logger: logger)
                let exists = try await db.query("SELECT to_regclass('greffe_meta') IS NOT NULL", logger: logger)
                    .decode(Bool.self).reduce(false) { $1 }
                if !exists {
                    for statement in Self.statements(of: Self.schema) {
                        try await db.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    return
                }
                let rows = try await db.query("SELECT value FROM greffe_meta WHERE key = 'schema_version'", logger: logger)
                var version: String?
                for try await value in rows.decode(String.self) { version = value }
                guard let found = version.flatMap({ Int($0) }), (1...Self.schemaVersion).contains(found) else {
                    throw StoreError(
                        .incompatibleSchema,
                        "database \(location.database) has greffe schema version \(version ?? "none"), not a version (1 to \(Self.schemaVersion)) this greffe understands")
                }
                for statement in Self.statements(of: Self.upgrade(from: found)) {
                    try await db.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
        }
    }

    /// The part of the schema that brings a database of `version` up to date:
    /// everything after its "-- @version N" marker for N = version + 1.
    static func upgrade(from version: Int) -> String {
        guard version < schemaVersion, let marker = schema.range(of: "\n-- @version \(version + 1)\n") else { return "" }
        return String(schema[marker.lowerBound...])
    }

    /// The schema's statements one by one (the extended protocol runs one per
    /// query): comments removed, split at semicolons.
    static func statements(of script: String) -> [String] {
        let code = script.split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in line.range(of: "--").map { line[..<$0.lowerBound] } ?? line }
            .joined(separator: "\n")
        return code.split(separator: ";").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }

    // MARK: - Errors

    /// Every failure leaves as a `StoreError` whose message names what failed
    /// and PostgreSQL's reason, never a value or the connection's password.
    private func mapped<T>(_ what: String, _ body: () async throws -> sending T) async throws -> sending T {
        do {
            return try await body()
        } catch {
            throw mapError(error, what)
        }
    }

    private func mapError(_ error: any Error, _ what: String) -> StoreError {
        switch error {
        case let error as StoreError:
            return error
        case let error as PostgresTransactionError:
            // The first failure is the one that matters; a rollback after it changes nothing.
            return mapError(error.beginError ?? error.closureError ?? error.commitError ?? error.rollbackError ?? error, what)
        case let error as PSQLError:
            let state = error.serverInfo?[.sqlState] ?? ""
            let reason = error.serverInfo?[.message] ?? "\(error.code)"
            switch state {
            case "23505": return StoreError(.duplicate, "\(what): \(reason)")
            case _ where state.hasPrefix("23"): return StoreError(.inconsistent, "\(what): \(reason)")
            default: return StoreError(.unavailable, "PostgreSQL at \(location.host):\(location.port) could not complete \(what): \(reason)")
            }
        default:
            return StoreError(.unavailable, "PostgreSQL at \(location.host):\(location.port) could not complete \(what): \(error)")
        }
    }

    private func rows<each Column: PostgresDecodable & Sendable>(
        _ what: String, _ query: PostgresQuery, as type: (repeat each Column).Type
    ) async throws -> [(repeat each Column)] {
        do {
            var result: [(repeat each Column)] = []
            for try await row in try await client.query(query, logger: logger) {
                result.append(try row.decode((repeat each Column).self))
            }
            return result
        } catch {
            try await mapped(what) { () throws -> Void in throw error }
            throw error
        }
    }

    // MARK: - Fencing

    /// Inside a write transaction: the tree may only be written by the lease
    /// holder whose epoch is still current. Locks the lease row against a new
    /// holder's epoch bump until this transaction ends.
    private func checkFence(_ db: PostgresConnection) async throws {
        let (held, lost) = lease.withLock { ($0.epoch, $0.lost) }
        if lost { throw StoreError(.inconsistent, "this node lost the sequencer lease; it no longer writes the log") }
        guard let held else { return }
        let current = try await db.query("SELECT epoch FROM sequencer_lease WHERE id = 1 FOR SHARE", logger: logger)
            .decode(Int64.self).reduce(Int64(-1)) { $1 }
        guard current == held else {
            throw StoreError(.inconsistent, "another node took the sequencer lease (epoch \(current), ours \(held)); this node no longer writes the log")
        }
    }

    private static func treeSize(_ db: PostgresConnection, logger: Logger, lock: Bool) async throws -> UInt64 {
        let sql = "SELECT value FROM greffe_meta WHERE key = 'tree_size'" + (lock ? " FOR UPDATE" : "")
        var size: UInt64?
        for try await value in try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(String.self) { size = UInt64(value) }
        guard let size else { throw StoreError(.inconsistent, "tree size is missing from the store") }
        return size
    }

    // MARK: - LedgerStore: reads

    public func treeSize() async throws -> UInt64 {
        try await mapped("reading the tree size") {
            try await client.withConnection { try await Self.treeSize($0, logger: logger, lock: false) }
        }
    }

    public func readNodes(_ ids: [NodeID]) async throws -> [Hash] {
        if ids.isEmpty { return [] }
        let levels = ids.map { Int32($0.level) }
        let indices = ids.map { Int64($0.index) }
        let found = try await rows(
            "reading tree nodes",
            """
            SELECT q.ord, n.hash FROM unnest(\(levels)::integer[], \(indices)::bigint[]) WITH ORDINALITY AS q(level, idx, ord)
            JOIN nodes n ON n.level = q.level AND n.idx = q.idx ORDER BY q.ord
            """, as: (Int64, ByteBuffer).self)
        var hashes = [Hash](repeating: .zero, count: ids.count)
        var seen = [Bool](repeating: false, count: ids.count)
        for (ordinal, buffer) in found {
            let position = Int(ordinal - 1)
            hashes[position] = try Self.hash(buffer, "tree node")
            seen[position] = true
        }
        if let missing = seen.firstIndex(of: false) {
            throw StoreError(.inconsistent, "tree node at level \(ids[missing].level), index \(ids[missing].index) is not stored")
        }
        return hashes
    }

    public func readNodeRange(level: Int, first: UInt64, count: Int) async throws -> [Hash] {
        let found = try await rows(
            "reading a tile",
            "SELECT idx, hash FROM nodes WHERE level = \(Int32(level)) AND idx >= \(Int64(first)) AND idx < \(Int64(first) + Int64(count)) ORDER BY idx",
            as: (Int64, ByteBuffer).self)
        var hashes: [Hash] = []
        hashes.reserveCapacity(count)
        for (index, buffer) in found {
            guard UInt64(index) == first + UInt64(hashes.count) else {
                throw StoreError(.inconsistent, "tree nodes at level \(level) have a gap at \(first + UInt64(hashes.count))")
            }
            hashes.append(try Self.hash(buffer, "tree node"))
        }
        guard hashes.count == count else {
            throw StoreError(.inconsistent, "only \(hashes.count) of \(count) tree nodes at level \(level) from \(first) are stored")
        }
        return hashes
    }

    public func readEntries(first: UInt64, count: Int) async throws -> [[UInt8]] {
        let found = try await rows(
            "reading entries",
            "SELECT idx, entry FROM entries WHERE idx >= \(Int64(first)) AND idx < \(Int64(first) + Int64(count)) ORDER BY idx",
            as: (Int64, ByteBuffer).self)
        var entries: [[UInt8]] = []
        entries.reserveCapacity(count)
        for (index, buffer) in found {
            guard UInt64(index) == first + UInt64(entries.count) else {
                throw StoreError(.inconsistent, "entries have a gap at \(first + UInt64(entries.count))")
            }
            entries.append(Array(buffer.readableBytesView))
        }
        guard entries.count == count else {
            throw StoreError(.inconsistent, "only \(entries.count) of \(count) entries from \(first) are stored")
        }
        return entries
    }

    public func leafIndex(of leafHash: Hash) async throws -> UInt64? {
        try await rows(
            "finding a leaf", "SELECT idx FROM nodes WHERE level = 0 AND hash = \(Self.buffer(leafHash)) ORDER BY idx LIMIT 1", as: Int64.self
        ).first.map { UInt64($0) }
    }

    public func locateEvents(_ keys: [EventKey]) async throws -> [EventKey: EventLocation] {
        if keys.isEmpty { return [:] }
        // Pairs by position; an erased event of unknown platform (before schema 3) matches its ID for every platform.
        let found = try await rows(
            "locating events",
            """
            SELECT k.id, k.p, e.idx, n.hash, e.body_digest
            FROM unnest(\(keys.map(\.eventID))::text[], \(keys.map(\.platform))::text[]) AS k(id, p)
            JOIN events e ON e.event_id = k.id AND (e.platform = k.p OR e.platform IS NULL)
            JOIN nodes n ON n.level = 0 AND n.idx = e.idx
            ORDER BY e.platform IS NULL
            """, as: (String, String, Int64, ByteBuffer, ByteBuffer?).self)
        var located: [EventKey: EventLocation] = [:]
        for (id, platform, index, leaf, digest) in found where located[EventKey(platform: platform, eventID: id)] == nil {
            located[EventKey(platform: platform, eventID: id)] = EventLocation(
                index: UInt64(index), leafHash: try Self.hash(leaf, "leaf hash"), bodyDigest: try digest.map { try Self.hash($0, "body digest") })
        }
        return located
    }

    // MARK: - LedgerStore: appends

    public func append(_ batch: AppendBatch) async throws {
        var entryIndices: [Int64] = []
        var entries: [ByteBuffer] = []
        var eventIDs: [String] = []
        var platforms: [String] = []
        var appendedBy: [String] = []
        var kinds: [String] = []
        var bodies: [ByteBuffer] = []
        var salts: [ByteBuffer] = []
        var digests: [ByteBuffer] = []
        var sequencedAt: [Int64] = []
        // unnest cannot take arrays with NULLs from this driver: '' and -1 stand for NULL.
        var accounts: [String] = []
        var occurredAt: [Int64] = []
        var reportIDs: [String] = []
        var terms: [String] = []
        var termIndices: [Int64] = []
        for event in batch.events {
            let index = Int64(event.index)
            entryIndices.append(index)
            entries.append(ByteBuffer(bytes: event.entry))
            eventIDs.append(event.eventID)
            platforms.append(event.platform)
            appendedBy.append(event.appendedBy ?? "")
            kinds.append(event.kind)
            bodies.append(ByteBuffer(bytes: event.canonicalBody))
            salts.append(ByteBuffer(bytes: event.salt))
            digests.append(Self.buffer(event.bodyDigest))
            sequencedAt.append(Int64(event.sequencedAtMilliseconds))
            accounts.append(event.terms.account ?? "")
            occurredAt.append(event.terms.occurredAtMilliseconds.map { Int64($0) } ?? -1)
            reportIDs.append(event.terms.reportID ?? "")
            for term in event.terms.contentHashes {
                terms.append(term)
                termIndices.append(index)
            }
        }
        let nodeLevels = batch.nodes.map { Int32($0.level) }
        let nodeIndices = batch.nodes.map { Int64($0.index) }
        let nodeHashes = batch.nodes.map { Self.buffer($0.hash) }
        let handoverIDs = batch.handoverOutcomes.map(\.id)
        let handoverOutcomes = batch.handoverOutcomes.map { ByteBuffer(bytes: $0.outcome) }
        let firstIndex = batch.firstIndex
        let newSize = String(batch.newTreeSize)
        let logger = logger

        if handoverIDs.isEmpty && !entryIndices.isEmpty {
            // One statement, so one round trip and one implicit transaction: its commit returns once
            // the WAL is flushed (and on the synchronous standby, with replication), as below. The
            // tree-size compare-and-swap runs first and gates every insert, so a refused batch writes
            // nothing; the fence's share lock on the lease row is held until the commit.
            let (held, lost) = lease.withLock { ($0.epoch, $0.lost) }
            if lost { throw StoreError(.inconsistent, "this node lost the sequencer lease; it no longer writes the log") }
            let epoch = held ?? -1
            let outcome = try await rows(
                "storing a batch of \(batch.events.count) entries",
                """
                WITH fence AS (SELECT epoch FROM sequencer_lease WHERE id = 1 FOR SHARE),
                size AS (
                    UPDATE greffe_meta SET value = \(newSize)
                    WHERE key = 'tree_size' AND value = \(String(firstIndex)) AND (\(epoch) = -1 OR \(epoch) = (SELECT epoch FROM fence))
                    RETURNING 1),
                new_entries AS (
                    INSERT INTO entries (idx, entry) SELECT * FROM unnest(\(entryIndices)::bigint[], \(entries)::bytea[])
                    WHERE EXISTS (SELECT 1 FROM size)),
                new_events AS (
                    INSERT INTO events (
                        idx, event_id, kind, body, salt, body_digest, sequenced_at, account, occurred_at, report_id, platform, appended_by)
                    SELECT i, id, k, b, s, d, t, NULLIF(a, ''), NULLIF(o, -1), NULLIF(r, ''), p, NULLIF(ab, '')
                    FROM unnest(\(entryIndices)::bigint[], \(eventIDs)::text[], \(kinds)::text[], \(bodies)::bytea[], \(salts)::bytea[],
                        \(digests)::bytea[], \(sequencedAt)::bigint[], \(accounts)::text[], \(occurredAt)::bigint[], \(reportIDs)::text[],
                        \(platforms)::text[], \(appendedBy)::text[])
                        AS u(i, id, k, b, s, d, t, a, o, r, p, ab)
                    WHERE EXISTS (SELECT 1 FROM size)),
                new_terms AS (
                    INSERT INTO content_terms (term, idx) SELECT * FROM unnest(\(terms)::text[], \(termIndices)::bigint[])
                    WHERE EXISTS (SELECT 1 FROM size) ON CONFLICT DO NOTHING),
                new_nodes AS (
                    INSERT INTO nodes (level, idx, hash)
                    SELECT * FROM unnest(\(nodeLevels)::integer[], \(nodeIndices)::bigint[], \(nodeHashes)::bytea[])
                    WHERE EXISTS (SELECT 1 FROM size))
                SELECT (SELECT count(*) FROM size), (SELECT epoch FROM fence), (SELECT value FROM greffe_meta WHERE key = 'tree_size')
                """, as: (Int64, Int64?, String?).self)
            guard let (stored, current, size) = outcome.first else { throw StoreError(.unavailable, "PostgreSQL answered a batch with no row") }
            if stored == 1 { return }
            if epoch != -1 && current != epoch {
                throw StoreError(
                    .inconsistent, "another node took the sequencer lease (epoch \(current ?? -1), ours \(epoch)); this node no longer writes the log")
            }
            throw StoreError(.inconsistent, "batch starts at \(firstIndex) but the tree has \(size ?? "no") entries")
        }

        try await mapped("storing a batch of \(batch.events.count) entries") {
            try await client.withTransaction(logger: logger) { db in
                try await checkFence(db)
                let size = try await Self.treeSize(db, logger: logger, lock: true)
                guard size == firstIndex else {
                    throw StoreError(.inconsistent, "batch starts at \(firstIndex) but the tree has \(size) entries")
                }
                if !entryIndices.isEmpty {
                    try await db.query(
                        "INSERT INTO entries (idx, entry) SELECT * FROM unnest(\(entryIndices)::bigint[], \(entries)::bytea[])", logger: logger)
                    try await db.query(
                        """
                        INSERT INTO events (
                            idx, event_id, kind, body, salt, body_digest, sequenced_at, account, occurred_at, report_id, platform, appended_by)
                        SELECT i, id, k, b, s, d, t, NULLIF(a, ''), NULLIF(o, -1), NULLIF(r, ''), p, NULLIF(ab, '')
                        FROM unnest(\(entryIndices)::bigint[], \(eventIDs)::text[], \(kinds)::text[], \(bodies)::bytea[], \(salts)::bytea[],
                            \(digests)::bytea[], \(sequencedAt)::bigint[], \(accounts)::text[], \(occurredAt)::bigint[], \(reportIDs)::text[],
                            \(platforms)::text[], \(appendedBy)::text[])
                            AS u(i, id, k, b, s, d, t, a, o, r, p, ab)
                        """, logger: logger)
                }
                if !terms.isEmpty {
                    try await db.query(
                        "INSERT INTO content_terms (term, idx) SELECT * FROM unnest(\(terms)::text[], \(termIndices)::bigint[]) ON CONFLICT DO NOTHING",
                        logger: logger)
                }
                if !nodeLevels.isEmpty {
                    try await db.query(
                        "INSERT INTO nodes (level, idx, hash) SELECT * FROM unnest(\(nodeLevels)::integer[], \(nodeIndices)::bigint[], \(nodeHashes)::bytea[])",
                        logger: logger)
                }
                if !handoverIDs.isEmpty {
                    try await Self.settle(db, ids: handoverIDs, outcomes: handoverOutcomes, logger: logger)
                }
                try await db.query("UPDATE greffe_meta SET value = \(newSize) WHERE key = 'tree_size'", logger: logger)
            }
        }
    }

    // MARK: - LedgerStore: checkpoints

    private static func checkpoints(_ sequence: PostgresRowSequence) async throws -> [StoredCheckpoint] {
        var result: [StoredCheckpoint] = []
        for try await (size, root, note, signedAt) in sequence.decode((Int64, ByteBuffer, String, Int64).self) {
            result.append(
                StoredCheckpoint(size: UInt64(size), root: try hash(root, "checkpoint root"), note: note, signedAtMilliseconds: UInt64(signedAt)))
        }
        return result
    }

    private func checkpoint(_ what: String, _ query: PostgresQuery) async throws -> StoredCheckpoint? {
        try await mapped(what) {
            try await Self.checkpoints(try await client.query(query, logger: logger)).first
        }
    }

    public func latestCheckpoint() async throws -> StoredCheckpoint? {
        try await checkpoint("reading the latest checkpoint", "SELECT size, root, note, signed_at FROM checkpoints ORDER BY size DESC LIMIT 1")
    }

    public func checkpoint(size: UInt64) async throws -> StoredCheckpoint? {
        try await checkpoint("reading a checkpoint", "SELECT size, root, note, signed_at FROM checkpoints WHERE size = \(Int64(size))")
    }

    public func firstCheckpoint(atLeast size: UInt64) async throws -> StoredCheckpoint? {
        try await checkpoint(
            "reading a checkpoint", "SELECT size, root, note, signed_at FROM checkpoints WHERE size >= \(Int64(size)) ORDER BY size LIMIT 1")
    }

    public func storeCheckpoint(_ checkpoint: StoredCheckpoint) async throws {
        let logger = logger
        try await mapped("storing the checkpoint of size \(checkpoint.size)") {
            try await client.withTransaction(logger: logger) { db in
                // One compare-and-swap at a time across every node sharing the database.
                try await db.query("SELECT pg_advisory_xact_lock(\(Self.checkpointLockKey))", logger: logger)
                try await checkFence(db)
                let latest = try await Self.checkpoints(
                    try await db.query("SELECT size, root, note, signed_at FROM checkpoints ORDER BY size DESC LIMIT 1", logger: logger)
                ).first
                if let latest {
                    if latest.size == checkpoint.size {
                        guard latest.root == checkpoint.root else {
                            throw StoreError(.fork, "refusing a second root for tree size \(checkpoint.size)")
                        }
                        return
                    }
                    guard latest.size < checkpoint.size else {
                        throw StoreError(.inconsistent, "checkpoint of size \(checkpoint.size) would go back from \(latest.size)")
                    }
                }
                let treeSize = try await Self.treeSize(db, logger: logger, lock: false)
                guard checkpoint.size <= treeSize else {
                    throw StoreError(.inconsistent, "checkpoint of size \(checkpoint.size) is beyond the stored tree of \(treeSize)")
                }
                try await db.query(
                    """
                    INSERT INTO checkpoints (size, root, note, signed_at)
                    VALUES (\(Int64(checkpoint.size)), \(Self.buffer(checkpoint.root)), \(checkpoint.note), \(Int64(checkpoint.signedAtMilliseconds)))
                    """, logger: logger)
            }
        }
    }

    // MARK: - LedgerStore: attestations

    private func attestation(_ query: PostgresQuery) async throws -> CheckpointAttestation? {
        try await mapped("reading a checkpoint attestation") {
            let rows = try await client.query(query, logger: logger)
            for try await (size, kind, data, createdAt) in rows.decode((Int64, String, ByteBuffer, Int64).self) {
                guard let kind = AttestationKind(rawValue: kind) else {
                    throw StoreError(.inconsistent, "checkpoint attestation of size \(size) has an unknown kind")
                }
                return CheckpointAttestation(
                    size: UInt64(size), kind: kind, data: Array(data.readableBytesView), createdAtMilliseconds: UInt64(createdAt))
            }
            return nil
        }
    }

    public func storeAttestation(_ attestation: CheckpointAttestation) async throws {
        let logger = logger
        try await mapped("storing a \(attestation.kind.rawValue) for the checkpoint of size \(attestation.size)") {
            try await client.withTransaction(logger: logger) { db in
                let exists = try await db.query("SELECT 1 FROM checkpoints WHERE size = \(Int64(attestation.size))", logger: logger)
                var found = false
                for try await _ in exists { found = true }
                guard found else {
                    throw StoreError(.notFound, "no checkpoint of size \(attestation.size) is stored to attach a \(attestation.kind.rawValue) to")
                }
                try await db.query(
                    """
                    INSERT INTO checkpoint_attestations (size, kind, data, created_at)
                    VALUES (\(Int64(attestation.size)), \(attestation.kind.rawValue), \(ByteBuffer(bytes: attestation.data)), \(Int64(attestation.createdAtMilliseconds)))
                    ON CONFLICT (kind, size) DO UPDATE SET data = excluded.data, created_at = excluded.created_at
                    """, logger: logger)
            }
        }
    }

    public func attestation(kind: AttestationKind, size: UInt64) async throws -> CheckpointAttestation? {
        try await attestation(
            "SELECT size, kind, data, created_at FROM checkpoint_attestations WHERE kind = \(kind.rawValue) AND size = \(Int64(size))")
    }

    public func latestAttestation(kind: AttestationKind) async throws -> CheckpointAttestation? {
        try await attestation(
            "SELECT size, kind, data, created_at FROM checkpoint_attestations WHERE kind = \(kind.rawValue) ORDER BY size DESC LIMIT 1")
    }

    public func firstAttestation(kind: AttestationKind, atLeast size: UInt64) async throws -> CheckpointAttestation? {
        try await attestation(
            """
            SELECT size, kind, data, created_at FROM checkpoint_attestations
            WHERE kind = \(kind.rawValue) AND size >= \(Int64(size)) ORDER BY size LIMIT 1
            """)
    }

    // MARK: - LedgerStore: tokens

    private static func tokens(_ sequence: PostgresRowSequence) async throws -> [TokenRecord] {
        var result: [TokenRecord] = []
        for try await (id, name, role, createdAt, revokedAt, platform) in sequence.decode((Int64, String, String, Int64, Int64?, String?).self) {
            guard let role = TokenRole(rawValue: role) else { throw StoreError(.inconsistent, "token has an unknown role") }
            result.append(
                TokenRecord(
                    id: id, name: name, role: role, platform: platform, createdAtMilliseconds: UInt64(createdAt),
                    revokedAtMilliseconds: revokedAt.map { UInt64($0) }))
        }
        return result
    }

    public func createToken(
        name: String, role: TokenRole, platform: String?, secretHash: Hash, createdAtMilliseconds: UInt64
    ) async throws -> TokenRecord {
        do {
            let created = try await mapped("creating a token") {
                try await Self.tokens(
                    try await client.query(
                        """
                        INSERT INTO tokens (name, role, secret_hash, created_at, platform)
                        VALUES (\(name), \(role.rawValue), \(Self.buffer(secretHash)), \(Int64(createdAtMilliseconds)), \(platform))
                        RETURNING id, name, role, created_at, revoked_at, platform
                        """, logger: logger))
            }
            guard let token = created.first else { throw StoreError(.unavailable, "PostgreSQL returned no token row") }
            return token
        } catch let error as StoreError where error.code == .duplicate {
            throw StoreError(.duplicate, "a token named \"\(name)\" already exists")
        }
    }

    public func token(secretHash: Hash) async throws -> TokenRecord? {
        try await mapped("reading a token") {
            try await Self.tokens(
                try await client.query(
                    "SELECT id, name, role, created_at, revoked_at, platform FROM tokens WHERE secret_hash = \(Self.buffer(secretHash))", logger: logger)
            ).first
        }
    }

    public func listTokens() async throws -> [TokenRecord] {
        try await mapped("listing tokens") {
            try await Self.tokens(try await client.query("SELECT id, name, role, created_at, revoked_at, platform FROM tokens ORDER BY id", logger: logger))
        }
    }

    public func bindToken(name: String, platform: String) async throws {
        let bound = try await rows(
            "binding a token",
            """
            UPDATE tokens SET platform = \(platform) WHERE name = \(name) AND role = 'append' AND platform IS NULL AND revoked_at IS NULL
            RETURNING id
            """, as: Int64.self)
        guard bound.count == 1 else { throw StoreError(.notFound, "no active, unbound append token named \"\(name)\"") }
    }

    public func revokeToken(name: String, atMilliseconds: UInt64) async throws {
        let revoked = try await rows(
            "revoking a token",
            "UPDATE tokens SET revoked_at = \(Int64(atMilliseconds)) WHERE name = \(name) AND revoked_at IS NULL RETURNING id", as: Int64.self)
        guard revoked.count == 1 else { throw StoreError(.notFound, "no active token named \"\(name)\"") }
    }

    // MARK: - LedgerStore: investigation

    public func readEvent(index: UInt64) async throws -> StoredEvent? {
        let found = try await rows(
            "reading an event",
            """
            SELECT ev.event_id, ev.kind, ev.body, ev.salt, en.entry, ev.erased_at, ev.erasure_reference, ev.erasure_index, ev.platform, ev.appended_by
            FROM events ev JOIN entries en ON en.idx = ev.idx WHERE ev.idx = \(Int64(index))
            """, as: (String, String, ByteBuffer?, ByteBuffer?, ByteBuffer, Int64?, String?, Int64?, String?, String?).self)
        guard let (eventID, kind, body, salt, entry, erasedAt, reference, erasureIndex, platform, appendedBy) = found.first else { return nil }
        var erasure: ErasureRecord?
        if let erasedAt, let reference, let erasureIndex {
            erasure = ErasureRecord(erasedAtMilliseconds: UInt64(erasedAt), legalReference: reference, erasureEntryIndex: UInt64(erasureIndex))
        }
        return StoredEvent(
            index: index, eventID: eventID, platform: platform, appendedBy: appendedBy, kind: kind, canonicalBody: body.map { Array($0.readableBytesView) },
            salt: salt.map { Array($0.readableBytesView) }, entry: Array(entry.readableBytesView), erasure: erasure)
    }

    public func searchEvents(_ query: EventQuery) async throws -> [UInt64] {
        var conditions: [String] = []
        var bindings = PostgresBindings()
        func parameter(_ value: some PostgresDynamicTypeEncodable) -> String {
            bindings.append(value)
            return "$\(bindings.count)"
        }
        var from = "events e"
        var order = "e.idx"
        if let term = query.contentHash {
            from = "content_terms t JOIN events e ON e.idx = t.idx"
            order = "t.idx"
            conditions.append("t.term = \(parameter(term))")
        }
        if let ids = query.eventIDs {
            if ids.isEmpty { return [] }
            conditions.append("e.event_id = ANY(\(parameter(ids))::text[])")
        }
        if let range = query.indexRange {
            conditions.append("\(order) >= \(parameter(Int64(clamping: range.lowerBound))) AND \(order) < \(parameter(Int64(clamping: range.upperBound)))")
        }
        if let after = query.afterIndex {
            conditions.append("\(order) > \(parameter(Int64(clamping: after)))")
        }
        if let account = query.account {
            conditions.append("e.account = \(parameter(account))")
        }
        if let kinds = query.kinds {
            if kinds.isEmpty { return [] }
            conditions.append("e.kind = ANY(\(parameter(kinds))::text[])")
        }
        if let range = query.timeRange {
            conditions.append(
                "e.occurred_at >= \(parameter(Int64(clamping: range.lowerBound))) AND e.occurred_at < \(parameter(Int64(clamping: range.upperBound)))")
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT e.idx FROM \(from) \(whereClause) ORDER BY \(order) LIMIT \(parameter(Int64(max(0, query.limit))))"
        return try await rows("searching events", PostgresQuery(unsafeSQL: sql, binds: bindings), as: Int64.self).map { (index: Int64) in UInt64(index) }
    }

    /// `erasure_index = -1` with no `erased_at` marks a claimed erasure.
    public func claimErasure(index: UInt64) async throws {
        let claimed = try await rows(
            "claiming an erasure",
            "UPDATE events SET erasure_index = -1 WHERE idx = \(Int64(index)) AND erased_at IS NULL AND erasure_index IS NULL RETURNING idx",
            as: Int64.self)
        guard claimed.isEmpty else { return }
        let state = try await rows("reading an event", "SELECT erased_at FROM events WHERE idx = \(Int64(index))", as: Int64?.self)
        guard let erasedAt = state.first else { throw StoreError(.notFound, "no event at index \(index)") }
        throw StoreError(
            .duplicate, erasedAt == nil ? "the event at index \(index) is being erased by another request" : "the event at index \(index) was already erased")
    }

    public func releaseErasureClaims(index: UInt64?) async throws {
        let target = index.map { Int64($0) } ?? -1
        _ = try await rows(
            "releasing erasure claims",
            """
            UPDATE events SET erasure_index = NULL WHERE erasure_index = -1 AND erased_at IS NULL AND (\(target) = -1 OR idx = \(target))
            RETURNING idx
            """, as: Int64.self)
    }

    public func eraseEvent(index: UInt64, record: ErasureRecord) async throws {
        let logger = logger
        try await mapped("erasing the event at index \(index)") {
            try await client.withTransaction(logger: logger) { db in
                var state: [Int64?] = []
                for try await erasedAt in try await db.query(
                    "SELECT erased_at FROM events WHERE idx = \(Int64(index)) FOR UPDATE", logger: logger
                ).decode(Int64?.self) {
                    state.append(erasedAt)
                }
                guard let erasedAt = state.first else { throw StoreError(.notFound, "no event at index \(index)") }
                guard erasedAt == nil else { throw StoreError(.duplicate, "the event at index \(index) was already erased") }
                try await db.query(
                    """
                    UPDATE events SET body = NULL, salt = NULL, body_digest = NULL, account = NULL, occurred_at = NULL, report_id = NULL,
                        erased_at = \(Int64(record.erasedAtMilliseconds)), erasure_reference = \(record.legalReference),
                        erasure_index = \(Int64(record.erasureEntryIndex))
                    WHERE idx = \(Int64(index))
                    """, logger: logger)
                try await db.query("DELETE FROM content_terms WHERE idx = \(Int64(index))", logger: logger)
            }
        }
    }

    /// The old row versions still hold the body until VACUUM prunes them
    /// (handover rows hold no body once settled: `settle` clears their payload).
    public func purgeErasedCopies() async throws {
        do {
            try await client.query("VACUUM events, content_terms, handovers", logger: logger)
        } catch {
            throw StoreError(
                .unavailable,
                "VACUUM failed, so dead row versions may still hold erased bodies: \(String(reflecting: error)); greffe tries again at its next erasure and at start-up, or run VACUUM events, content_terms, handovers"
            )
        }
    }

    public func contentTerms(prefix: String, fromIndex: UInt64, limit: Int) async throws -> [(index: UInt64, term: String)] {
        guard limit > 0 else { return [] }
        let pattern = prefix.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%"
        let found = try await rows(
            "reading content terms",
            "SELECT idx, term FROM content_terms WHERE idx >= \(Int64(clamping: fromIndex)) AND term LIKE \(pattern) ORDER BY idx LIMIT \(limit)",
            as: (Int64, String).self)
        return found.map { (UInt64($0.0), $0.1) }
    }

    public func takedownLinks() async throws -> [TakedownLink] {
        let found = try await rows(
            "reading takedown links",
            """
            SELECT r.idx, r.report_id, COALESCE(r.occurred_at, r.sequenced_at),
                (SELECT MIN(t.idx) FROM events t
                 WHERE t.kind = 'takedown.executed' AND t.idx > r.idx
                   AND ((r.report_id IS NOT NULL AND t.report_id = r.report_id)
                        OR t.idx IN (SELECT b.idx FROM content_terms a JOIN content_terms b ON b.term = a.term WHERE a.idx = r.idx))) AS takedown,
                NULL::bigint
            FROM events r WHERE r.kind = 'report.received' ORDER BY r.idx
            """, as: (Int64, String?, Int64, Int64?, Int64?).self)
        var links: [TakedownLink] = []
        for (reportIndex, reportID, reportedAt, takedown, _) in found {
            var link = TakedownLink(
                reportIndex: UInt64(reportIndex), reportID: reportID, reportedAtMilliseconds: UInt64(reportedAt),
                takedownIndex: takedown.map { UInt64($0) }, takedownAtMilliseconds: nil)
            if let takedown {
                link.takedownAtMilliseconds = try await rows(
                    "reading a takedown time", "SELECT COALESCE(occurred_at, sequenced_at) FROM events WHERE idx = \(takedown)", as: Int64.self
                ).first.map { UInt64($0) }
            }
            links.append(link)
        }
        return links
    }

    public func metadata(_ key: String) async throws -> String? {
        try await rows("reading metadata", "SELECT value FROM greffe_meta WHERE key = \(key)", as: String.self).first
    }

    public func setMetadata(_ key: String, _ value: String) async throws {
        _ = try await rows(
            "writing metadata",
            "INSERT INTO greffe_meta (key, value) VALUES (\(key), \(value)) ON CONFLICT (key) DO UPDATE SET value = excluded.value RETURNING 1",
            as: Int32.self)
    }

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
                try await connection.query("SELECT pg_try_advisory_lock(\(Self.leaseLockKey))", logger: logger).decode(Bool.self)
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
    private func watchLease(_ connection: PostgresConnection) async {
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
                    connection.close().whenComplete { _ in }
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            if alive {
                lease.withLock { $0.confirmedAt = .now }
            } else {
                connection.close().whenComplete { _ in }
                leaseLost()
                return
            }
        }
    }

    private func leaseLost() {
        let waiters = lease.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.epoch != nil, !state.lost else { return [] }
            state.lost = true
            defer { state.lossWaiters = [] }
            return state.lossWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// How long the lease may go unconfirmed before this node counts it lost, though no error said so:
    /// the server ends a silent session after `leaseIdleTimeout`, and a second lets the last ping answer.
    static let leaseConfirmationDeadline: Duration = leaseIdleTimeout + .seconds(1)

    public var holdsSequencerLease: Bool {
        lease.withLock { state in
            state.epoch != nil && !state.lost && ContinuousClock.now - state.confirmedAt < Self.leaseConfirmationDeadline
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
    private static func settle(_ db: PostgresConnection, ids: [Int64], outcomes: [ByteBuffer], logger: Logger) async throws {
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

    // MARK: - Encoding

    private static func buffer(_ hash: Hash) -> ByteBuffer {
        hash.withUnsafeBytes { ByteBuffer(bytes: $0) }
    }

    private static func hash(_ buffer: ByteBuffer, _ what: String) throws -> Hash {
        guard let hash = Hash(bytes: buffer.readableBytesView) else {
            throw StoreError(.inconsistent, "a stored \(what) is \(buffer.readableBytes) bytes, not 32")
        }
        return hash
    }
}
