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
    public static let schemaVersion = migrations.version
    /// Serialises schema creation and checkpoint compare-and-swaps across nodes
    /// (`pg_advisory_xact_lock`); the sequencer lease is the session lock `leaseLockKey`.
    static let schemaLockKey: Int64 = 0x6772_6566_6665_0001
    static let checkpointLockKey: Int64 = 0x6772_6566_6665_0002
    static let leaseLockKey: Int64 = 0x6772_6566_6665_0003

    /// The lease's lock for this store's schema: each temporal shard's log has a lease (and epoch) of its own.
    var leaseLock: Int64 {
        guard let schema = location.schema, let shard = PostgresShardStorage.number(ofSchema: schema) else { return Self.leaseLockKey }
        return 0x6772_6566_6600_0000 | Int64(shard)
    }

    public let location: PostgresLocation
    let client: PostgresClient
    let runner: Task<Void, Never>
    let logger: Logger
    let lease = Mutex(LeaseState())

    struct LeaseState {
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
        configuration.options.additionalStartupParameters += [
            ("idle_in_transaction_session_timeout", "\(leaseIdleTimeout.components.seconds * 1000)")
        ]
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let store = PostgresStore(location: location, client: client, logger: logger)
        do {
            // The pool retries a refused connection forever; start-up must fail instead. The deadline is for
            // reaching the server, not for the migration after it: an upgrade that rewrites a large table takes
            // minutes, and cancelling it at the deadline would leave the node unable to start at all.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await store.mapped("reaching the server") { _ = try await store.client.query("SELECT 1", logger: logger).collect() }
                }
                group.addTask {
                    try await Task.sleep(for: connectDeadline)
                    throw StoreError(.unavailable, "PostgreSQL at \(location.host):\(location.port) did not answer within \(connectDeadline)")
                }
                try await group.next()
                group.cancelAll()
            }
            try await store.migrate()
        } catch {
            store.close()
            throw error
        }
        return store
    }

    init(location: PostgresLocation, client: PostgresClient, logger: Logger) {
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
        if let connection { Self.closeInBackground(connection) }
    }

    deinit {
        runner.cancel()
        // A store dropped without close() (a shard's, at the end of a test) must not leave its lease connection open.
        if let connection = lease.withLock({ $0.connection }) { Self.closeInBackground(connection) }
    }

    func migrate() async throws {
        try await mapped("creating or checking the schema") {
            try await client.withTransaction(logger: logger) { db in
                try await db.query("SELECT pg_advisory_xact_lock(\(Self.schemaLockKey))", logger: logger)
                if let schema = location.schema {
                    // A shard's schema: made by `PostgresShardStorage.createStore`, or here if a crash came between the two.
                    try await db.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \"\(schema)\""), logger: logger)
                }
                let exists = try await db.query("SELECT to_regclass('greffe_meta') IS NOT NULL", logger: logger)
                    .decode(Bool.self).reduce(false) { $1 }
                if !exists {
                    for (_, step) in try Self.migrations.pending(from: nil, database: "database \(location.database)") {
                        for statement in Self.statements(of: step) {
                            try await db.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                    }
                    return
                }
                let rows = try await db.query("SELECT value FROM greffe_meta WHERE key = 'schema_version'", logger: logger)
                var version: String?
                for try await value in rows.decode(String.self) { version = value }
                // No readable version is version 0: refused like any version this code does not know.
                for (_, step) in try Self.migrations.pending(from: version.flatMap { Int64($0) } ?? 0, database: "database \(location.database)") {
                    for statement in Self.statements(of: step) {
                        try await db.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                }
            }
        }
    }

    /// `Schemas/postgres.sql` cut at its "-- @version N" markers: what precedes the first creates
    /// version 1, the section after marker N brings version N-1 to N. The markers must be 2, 3, …
    /// in order (`PostgresStoreTests` holds them so), or the sections would not be the versions.
    static let migrations = SchemaMigrations<String>(sections(of: schema))

    static func sections(of schema: String) -> [String] {
        var sections = [""]
        for line in schema.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("-- @version ") {
                sections.append("")
            }
            sections[sections.count - 1] += line + "\n"
        }
        return sections
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
    func mapped<T>(_ what: String, _ body: () async throws -> sending T) async throws -> sending T {
        do {
            return try await body()
        } catch {
            throw mapError(error, what)
        }
    }

    func mapError(_ error: any Error, _ what: String) -> StoreError {
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

    func rows<each Column: PostgresDecodable & Sendable>(
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
    func checkFence(_ db: PostgresConnection) async throws {
        let (held, lost) = lease.withLock { ($0.epoch, $0.lost) }
        if lost { throw StoreError(.inconsistent, "this node lost the sequencer lease; it no longer writes the log") }
        guard let held else { return }
        let current = try await db.query("SELECT epoch FROM sequencer_lease WHERE id = 1 FOR SHARE", logger: logger)
            .decode(Int64.self).reduce(Int64(-1)) { $1 }
        guard current == held else {
            throw StoreError(.inconsistent, "another node took the sequencer lease (epoch \(current), ours \(held)); this node no longer writes the log")
        }
    }

    static func treeSize(_ db: PostgresConnection, logger: Logger, lock: Bool) async throws -> UInt64 {
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
        // Pairs by position; an erased event of unknown platform (before schema 3) matches its ID for every platform,
        // after an exact match. One index probe per key (LATERAL … LIMIT 1): with a plain join, statistics that lag
        // behind a fast-growing log (a new database, before autovacuum's ANALYZE) made the planner scan every leaf
        // and event for each batch (86 ms at 53,200 events instead of 1.8 ms).
        let found = try await prepared(
            "locating events", LocateEventsStatement(eventIDs: keys.map(\.eventID), platforms: keys.map(\.platform)))
        var located: [EventKey: EventLocation] = [:]
        for (id, platform, index, leaf, digest) in found where located[EventKey(platform: platform, eventID: id)] == nil {
            located[EventKey(platform: platform, eventID: id)] = EventLocation(
                index: UInt64(index), leafHash: try Self.hash(leaf, "leaf hash"), bodyDigest: try digest.map { try Self.hash($0, "body digest") })
        }
        return located
    }

    public func eventIDs(fromIndex: UInt64, limit: Int) async throws -> [String] {
        try await rows(
            "reading event IDs", "SELECT event_id FROM events WHERE idx >= \(Int64(fromIndex)) ORDER BY idx LIMIT \(Int64(limit))", as: String.self)
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
            let outcome = try await prepared(
                "storing a batch of \(batch.events.count) entries",
                StoreBatchStatement(
                    newSize: newSize, firstIndex: String(firstIndex), epoch: epoch, entryIndices: entryIndices, entries: entries,
                    eventIDs: eventIDs, kinds: kinds, bodies: bodies, salts: salts, digests: digests, sequencedAt: sequencedAt,
                    accounts: accounts, occurredAt: occurredAt, reportIDs: reportIDs, platforms: platforms, appendedBy: appendedBy,
                    terms: terms, termIndices: termIndices, nodeLevels: nodeLevels, nodeIndices: nodeIndices, nodeHashes: nodeHashes))
            guard let (stored, current, size) = outcome.first else { throw StoreError(.unavailable, "PostgreSQL answered a batch with no row") }
            if stored == 1 { return }
            if epoch != -1 && current != epoch {
                throw StoreError(
                    .inconsistent, "another node took the sequencer lease (epoch \(current ?? -1), ours \(epoch)); this node no longer writes the log")
            }
            try batch.checkStart(treeSize: size.flatMap { UInt64($0) })
            throw StoreError(.inconsistent, "the batch at \(firstIndex) was not stored, and nothing says why")
        }

        try await mapped("storing a batch of \(batch.events.count) entries") {
            try await client.withTransaction(logger: logger) { db in
                try await checkFence(db)
                let size = try await Self.treeSize(db, logger: logger, lock: true)
                try batch.checkStart(treeSize: size)
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

    static func checkpoints(_ sequence: PostgresRowSequence) async throws -> [StoredCheckpoint] {
        var result: [StoredCheckpoint] = []
        for try await (size, root, note, signedAt) in sequence.decode((Int64, ByteBuffer, String, Int64).self) {
            result.append(
                StoredCheckpoint(size: UInt64(size), root: try hash(root, "checkpoint root"), note: note, signedAtMilliseconds: UInt64(signedAt)))
        }
        return result
    }

    func checkpoint(_ what: String, _ query: PostgresQuery) async throws -> StoredCheckpoint? {
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
                let admission = try CheckpointAdmission.decide(
                    size: checkpoint.size, root: checkpoint.root, latest: latest.map { ($0.size, $0.root) },
                    treeSize: try await Self.treeSize(db, logger: logger, lock: false))
                if admission == .alreadyStored { return }
                try await db.query(
                    """
                    INSERT INTO checkpoints (size, root, note, signed_at)
                    VALUES (\(Int64(checkpoint.size)), \(Self.buffer(checkpoint.root)), \(checkpoint.note), \(Int64(checkpoint.signedAtMilliseconds)))
                    """, logger: logger)
            }
        }
    }

    // MARK: - Encoding

    static func buffer(_ hash: Hash) -> ByteBuffer {
        hash.withUnsafeBytes { ByteBuffer(bytes: $0) }
    }

    static func hash(_ buffer: ByteBuffer, _ what: String) throws -> Hash {
        guard let hash = Hash(bytes: buffer.readableBytesView) else {
            throw StoreError(.inconsistent, "a stored \(what) is \(buffer.readableBytes) bytes, not 32")
        }
        return hash
    }
}
