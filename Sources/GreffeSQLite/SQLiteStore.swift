import CSQLite
import Dispatch
public import GreffeCore
import Synchronization
public import GreffeStore

/// The embedded default store: one SQLite file in WAL mode.
///
/// Durability: `synchronous = FULL` makes every commit fsync the WAL before
/// it returns, so an acknowledged batch survives `kill -9` and power loss.
/// One writer connection, on its own thread so that fsyncs never block the
/// Swift concurrency pool; several reader connections, which WAL lets run
/// beside the writer on a consistent snapshot each.
public final class SQLiteStore: LedgerStore, Sendable {
    /// The layout this code reads and writes (`PRAGMA user_version`).
    public static let schemaVersion = Int64(migrations.version)
    static let busyTimeoutMilliseconds: Int32 = 5_000

    let writer: Mutex<SQLiteConnection>
    let writerQueue = DispatchQueue(label: "greffe.sqlite.writer")
    let checkpointer: SQLiteCheckpointer
    let readers: [ReaderSlot]
    let nextReader = Atomic<Int>(0)
    public let path: String
    /// Index merges (`IndexRun`) run when the writer is idle: counted appends tell a busy writer.
    let appendCount = Atomic<Int>(0)
    let mergeScheduled = Atomic<Bool>(false)
    let indexMerging: IndexMerging
    /// The Bloom filters of closed runs (`BloomFilter`), by index table and run key, as in `run_filters`.
    let runFilters: Mutex<[String: [Int64: BloomFilter]]>
    /// Counts erasures: a filter scanned before one is not stored (it may hold an erased term).
    let erasureGeneration = Atomic<Int>(0)
    let filterQueue = DispatchQueue(label: "greffe.sqlite.filters")
    let filterBuildScheduled = Atomic<Bool>(false)
    /// Whether the closed runs' filters are made and kept in memory. A sealed shard's store does without
    /// (about 1.3 bytes per content term): its shard's own filter (Schemas/shards.md) keeps searches away
    /// from it unless it may hold the hash, and then it probes its runs without filters, as a filter is
    /// only ever a shortcut.
    public let keepsRunFilters: Bool

    public convenience init(path: String, readerCount: Int = 4, keepsRunFilters: Bool = true) throws {
        try self.init(
            path: path, readerCount: readerCount, walRestartFrames: SQLiteCheckpointer.defaultRestartFrames, keepsRunFilters: keepsRunFilters)
    }

    /// `walRestartFrames`: see `SQLiteCheckpointer` (tests make it small); `indexMerging`: tests merge in every append.
    init(
        path: String, readerCount: Int, walRestartFrames: Int32, indexMerging: IndexMerging = .whenIdle, keepsRunFilters: Bool = true
    ) throws {
        let writer = try SQLiteConnection.durable(path: path, busyTimeoutMilliseconds: SQLiteStore.busyTimeoutMilliseconds)
        // Appends insert into the event ID index at random places (event IDs are UUIDs, and a
        // re-send must be found anywhere in the log). SQLite's default 2 MiB page cache re-reads
        // its pages from the OS for nearly every insert once the log is large; 64 MiB keeps the
        // hot interior pages of every index in memory.
        try writer.execute("PRAGMA cache_size = -65536")
        // Checkpoints run beside the writer (SQLiteCheckpointer), not inside its commits.
        try writer.execute("PRAGMA wal_autocheckpoint = 0")
        // The WAL file is reused from its start once checkpointed; this truncates it
        // back after a burst (or a long read) made it grow.
        try writer.execute("PRAGMA journal_size_limit = \(64 << 20)")
        // Erased bodies must not linger in free pages of the file.
        try writer.execute("PRAGMA secure_delete = ON")
        try SQLiteStore.migrate(writer)
        guard sqlite3_db_readonly(writer.handle, "main") == 0 else {
            throw StoreError(.unavailable, "database \(path) is read-only; greffe needs to write it")
        }
        var readers: [ReaderSlot] = []
        for _ in 0..<max(1, readerCount) {
            let reader = try SQLiteConnection(path: path)
            try reader.execute("PRAGMA busy_timeout = \(SQLiteStore.busyTimeoutMilliseconds)")
            try reader.execute("PRAGMA query_only = 1")
            readers.append(ReaderSlot(reader))
        }
        self.runFilters = Mutex(keepsRunFilters ? try SQLiteStore.loadRunFilters(writer) : [:])
        self.keepsRunFilters = keepsRunFilters
        writer.releaseStatements()
        self.writer = Mutex(writer)
        self.readers = readers
        self.checkpointer = try SQLiteCheckpointer(path: path, restartFrames: walRestartFrames)
        self.path = path
        self.indexMerging = indexMerging
        if indexMerging.idle { scheduleFilterBuilds() }
    }

    /// Reads every page (`PRAGMA quick_check`); throws `.unavailable` naming the damage.
    public func checkIntegrity() throws {
        try writer.withLock { db in
            defer { db.releaseStatements() }
            let check = try db.statement("PRAGMA quick_check")
            var problems: [String] = []
            while try check.step() { problems.append(check.string(0)) }
            guard problems == ["ok"] else {
                throw StoreError(.unavailable, "database file \(path) is damaged: \(problems.prefix(3).joined(separator: "; "))")
            }
        }
    }

    // MARK: - Connections

    func read<T: Sendable>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        let slot = nextReader.wrappingAdd(1, ordering: .relaxed).oldValue % readers.count
        return try readers[slot].connection.withLock { connection in
            defer { connection.releaseStatements() }
            return try body(connection)
        }
    }

    /// Runs on the writer thread; the caller's task waits without holding a pool thread.
    func write<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            writerQueue.async {
                let result = Result {
                    try self.writer.withLock { connection in
                        defer {
                            connection.releaseStatements()
                            self.checkpointer.restartIfDue(writer: connection)
                        }
                        return try body(connection)
                    }
                }
                self.checkpointer.walGrew()
                continuation.resume(with: result)
            }
        }
    }

    /// Reads consistently: one snapshot for all the statements of `body`.
    func snapshot<T: Sendable>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try read { db in
            try db.execute("BEGIN")
            defer {
                db.releaseStatements()
                try? db.execute("COMMIT")
            }
            return try body(db)
        }
    }

    static func treeSize(_ db: SQLiteConnection) throws -> UInt64 {
        let statement = try db.statement("SELECT value FROM meta WHERE key = 'tree_size'")
        guard try statement.step(), let size = UInt64(statement.string(0)) else {
            throw StoreError(.inconsistent, "tree size is missing from the store")
        }
        return size
    }

    // MARK: - LedgerStore

    public func treeSize() async throws -> UInt64 {
        try read(SQLiteStore.treeSize)
    }

    public func readNodes(_ ids: [NodeID]) async throws -> [Hash] {
        try snapshot { db in
            let interior = try db.statement("SELECT hash FROM nodes WHERE level = ? AND idx = ?")
            let leaf = try db.statement("SELECT leaf_hash FROM entries WHERE idx = ?")
            return try ids.map { id in
                let statement = id.level == 0 ? leaf : interior
                statement.reset()
                if id.level == 0 {
                    statement.bind(1, id.index)
                } else {
                    statement.bind(1, Int64(id.level))
                    statement.bind(2, id.index)
                }
                guard try statement.step() else {
                    throw StoreError(.inconsistent, "tree node at level \(id.level), index \(id.index) is not stored")
                }
                return try statement.hash(0)
            }
        }
    }

    public func readNodeRange(level: Int, first: UInt64, count: Int) async throws -> [Hash] {
        try read { db in
            // Leaves (level 0) are stored with their entries.
            let statement = try db.statement(
                level == 0
                    ? "SELECT idx, leaf_hash FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx"
                    : "SELECT idx, hash FROM nodes WHERE level = ?3 AND idx >= ?1 AND idx < ?2 ORDER BY idx")
            statement.bind(1, first)
            statement.bind(2, first + UInt64(count))
            if level > 0 { statement.bind(3, Int64(level)) }
            var hashes: [Hash] = []
            hashes.reserveCapacity(count)
            while try statement.step() {
                guard statement.uint64(0) == first + UInt64(hashes.count) else {
                    throw StoreError(.inconsistent, "tree nodes at level \(level) have a gap at \(first + UInt64(hashes.count))")
                }
                hashes.append(try statement.hash(1))
            }
            guard hashes.count == count else {
                throw StoreError(.inconsistent, "only \(hashes.count) of \(count) tree nodes at level \(level) from \(first) are stored")
            }
            return hashes
        }
    }

    public func readEntries(first: UInt64, count: Int) async throws -> [[UInt8]] {
        try read { db in
            let statement = try db.statement("SELECT idx, entry FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx")
            statement.bind(1, first)
            statement.bind(2, first + UInt64(count))
            var entries: [[UInt8]] = []
            entries.reserveCapacity(count)
            while try statement.step() {
                guard statement.uint64(0) == first + UInt64(entries.count) else {
                    throw StoreError(.inconsistent, "entries have a gap at \(first + UInt64(entries.count))")
                }
                entries.append(statement.blob(1))
            }
            guard entries.count == count else {
                throw StoreError(.inconsistent, "only \(entries.count) of \(count) entries from \(first) are stored")
            }
            return entries
        }
    }

    public func leafIndex(of leafHash: Hash) async throws -> UInt64? {
        try snapshot { db in
            let size = try SQLiteStore.treeSize(db)
            guard size > 0 else { return nil }
            // The prefix narrows each run to (almost always) one candidate; the full hash decides.
            let statement = try db.statement(
                """
                SELECT l.idx FROM leaf_hashes l JOIN entries n ON n.idx = l.idx
                WHERE l.run = ? AND l.prefix = ? AND n.leaf_hash = ? ORDER BY l.idx LIMIT 1
                """)
            for run in try SQLiteStore.runSpans(db, .leafHashes, key: nil, lastChunk: (size - 1) / SQLiteStore.chunkEntries).joined() {
                statement.reset()
                statement.bind(1, run.key)
                statement.bind(2, prefix: SQLiteStore.leafHashPrefixBytes, of: leafHash)
                statement.bind(3, leafHash)
                if try statement.step() { return statement.uint64(0) }
            }
            return nil
        }
    }

    public func locateEvents(_ keys: [EventKey]) async throws -> [EventKey: EventLocation] {
        try snapshot { db in
            // The platform's own event first; an erased event of unknown platform (before schema 7) otherwise.
            let statement = try db.statement(
                """
                SELECT e.idx, n.leaf_hash, e.body_digest FROM events e JOIN entries n ON n.idx = e.idx
                WHERE e.event_id = ?1 AND (e.platform = ?2 OR e.platform IS NULL) ORDER BY e.platform IS NULL LIMIT 1
                """)
            var found: [EventKey: EventLocation] = [:]
            for key in keys where found[key] == nil {
                statement.reset()
                statement.bind(1, key.eventID)
                statement.bind(2, key.platform)
                if try statement.step() {
                    found[key] = EventLocation(
                        index: statement.uint64(0), leafHash: try statement.hash(1),
                        bodyDigest: statement.isNull(2) ? nil : try statement.hash(2))
                }
            }
            return found
        }
    }

    public func eventIDs(fromIndex: UInt64, limit: Int) async throws -> [String] {
        try read { db in
            let statement = try db.statement("SELECT event_id FROM events WHERE idx >= ? ORDER BY idx LIMIT ?")
            statement.bind(1, fromIndex)
            statement.bind(2, Int64(limit))
            var ids: [String] = []
            while try statement.step() { ids.append(statement.string(0)) }
            return ids
        }
    }

    public func append(_ batch: AppendBatch) async throws {
        guard batch.handoverOutcomes.isEmpty else {
            throw StoreError(.inconsistent, "the SQLite store is not shared: it has no handed-over appends to settle")
        }
        appendCount.add(1, ordering: .relaxed)
        let mergeDue = try await write { db in
            try db.transaction {
                let size = try SQLiteStore.treeSize(db)
                try batch.checkStart(treeSize: size)
                let insertEntry = try db.statement("INSERT INTO entries (idx, entry, leaf_hash) VALUES (?, ?, ?)")
                let insertEvent = try db.statement(
                    """
                    INSERT INTO events (idx, event_id, kind, body, salt, body_digest, sequenced_at, account, occurred_at, report_id, platform, appended_by, terms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                let insertTerm = try db.statement("INSERT OR IGNORE INTO content_terms (run, term, idx) VALUES (?, ?, ?)")
                let insertLeafHash = try db.statement("INSERT INTO leaf_hashes (run, prefix, idx) VALUES (?, ?, ?)")
                let insertAccount = try db.statement("INSERT INTO account_index (run, account, idx) VALUES (?, ?, ?)")
                let insertLinkTerm = try db.statement("INSERT OR IGNORE INTO link_terms (idx, term) VALUES (?, ?)")
                for event in batch.events {
                    insertEntry.reset()
                    insertEntry.bind(1, event.index)
                    insertEntry.bind(2, event.entry)
                    insertEntry.bind(3, event.leafHash)
                    try insertEntry.run()
                    insertLeafHash.reset()
                    insertLeafHash.bind(1, event.index / SQLiteStore.chunkEntries)
                    insertLeafHash.bind(2, prefix: SQLiteStore.leafHashPrefixBytes, of: event.leafHash)
                    insertLeafHash.bind(3, event.index)
                    try insertLeafHash.run()
                    insertEvent.reset()
                    insertEvent.bind(1, event.index)
                    insertEvent.bind(2, event.eventID)
                    insertEvent.bind(3, event.kind)
                    insertEvent.bind(4, event.canonicalBody)
                    insertEvent.bind(5, event.salt)
                    insertEvent.bind(6, event.bodyDigest)
                    insertEvent.bind(7, event.sequencedAtMilliseconds)
                    if let account = event.terms.account { insertEvent.bind(8, account) }
                    if let occurredAt = event.terms.occurredAtMilliseconds { insertEvent.bind(9, occurredAt) }
                    if let reportID = event.terms.reportID { insertEvent.bind(10, reportID) }
                    insertEvent.bind(11, event.platform)
                    if let appendedBy = event.appendedBy { insertEvent.bind(12, appendedBy) }
                    // Where an erasure finds the event's rows in the run indexes: each term's first characters (the
                    // full terms made rows ~20% longer, and appends slower); a newline (none the intake makes) leaves it to a scan.
                    let terms = event.terms.contentHashes
                    // (On UTF-8 bytes: Foundation's String.contains(_:) goes through CFStringFind, ~2% of an append's CPU.)
                    if !terms.contains(where: { $0.utf8.contains(UInt8(ascii: "\n")) }) {
                        insertEvent.bind(13, terms.map { $0.prefix(SQLiteStore.erasureTermPrefix) }.joined(separator: "\n"))
                    }
                    try insertEvent.run()
                    if let account = event.terms.account {
                        insertAccount.reset()
                        insertAccount.bind(1, event.index / SQLiteStore.chunkEntries)
                        insertAccount.bind(2, account)
                        insertAccount.bind(3, event.index)
                        try insertAccount.run()
                    }
                    let isLinked = SQLiteStore.linkedKinds.contains(event.kind)
                    for term in event.terms.contentHashes {
                        insertTerm.reset()
                        insertTerm.bind(1, event.index / SQLiteStore.chunkEntries)
                        insertTerm.bind(2, term)
                        insertTerm.bind(3, event.index)
                        try insertTerm.run()
                        if isLinked {
                            insertLinkTerm.reset()
                            insertLinkTerm.bind(1, event.index)
                            insertLinkTerm.bind(2, term)
                            try insertLinkTerm.run()
                        }
                    }
                }
                let insertNode = try db.statement("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)")
                // Leaves went into `entries` with their entries.
                for node in batch.nodes where node.level > 0 {
                    insertNode.reset()
                    insertNode.bind(1, Int64(node.level))
                    insertNode.bind(2, node.index)
                    insertNode.bind(3, node.hash)
                    try insertNode.run()
                }
                let setSize = try db.statement("UPDATE meta SET value = ? WHERE key = 'tree_size'")
                setSize.bind(1, String(batch.newTreeSize))
                try setSize.run()
                return try SQLiteStore.mergeBacklog(
                    db, completedChunks: batch.newTreeSize / SQLiteStore.chunkEntries, events: batch.events.count,
                    backlogChunks: self.indexMerging.backlogChunks)
            }
        }
        if mergeDue, indexMerging.idle { scheduleIdleMerges() }
        // A chunk completed: it (and any run its merge formed) can get a filter.
        if indexMerging.idle, batch.firstIndex / SQLiteStore.chunkEntries != batch.newTreeSize / SQLiteStore.chunkEntries {
            scheduleFilterBuilds()
        }
    }

    static let checkpointColumns = "size, root, note, signed_at"

    static func checkpoint(from statement: SQLiteStatement) throws -> StoredCheckpoint {
        StoredCheckpoint(
            size: statement.uint64(0), root: try statement.hash(1), note: statement.string(2),
            signedAtMilliseconds: statement.uint64(3))
    }

    public func latestCheckpoint() async throws -> StoredCheckpoint? {
        try read { db in
            let statement = try db.statement("SELECT \(SQLiteStore.checkpointColumns) FROM checkpoints ORDER BY size DESC LIMIT 1")
            return try statement.step() ? try SQLiteStore.checkpoint(from: statement) : nil
        }
    }

    public func checkpoint(size: UInt64) async throws -> StoredCheckpoint? {
        try read { db in
            let statement = try db.statement("SELECT \(SQLiteStore.checkpointColumns) FROM checkpoints WHERE size = ?")
            statement.bind(1, size)
            return try statement.step() ? try SQLiteStore.checkpoint(from: statement) : nil
        }
    }

    public func firstCheckpoint(atLeast size: UInt64) async throws -> StoredCheckpoint? {
        try read { db in
            let statement = try db.statement("SELECT \(SQLiteStore.checkpointColumns) FROM checkpoints WHERE size >= ? ORDER BY size LIMIT 1")
            statement.bind(1, size)
            return try statement.step() ? try SQLiteStore.checkpoint(from: statement) : nil
        }
    }

    public func storeCheckpoint(_ checkpoint: StoredCheckpoint) async throws {
        try await write { db in
            try db.transaction {
                let latest = try db.statement("SELECT size, root FROM checkpoints ORDER BY size DESC LIMIT 1")
                let stored = try latest.step() ? (size: latest.uint64(0), root: try latest.hash(1)) : nil
                let admission = try CheckpointAdmission.decide(
                    size: checkpoint.size, root: checkpoint.root, latest: stored, treeSize: try SQLiteStore.treeSize(db))
                if admission == .alreadyStored { return }
                let insert = try db.statement("INSERT INTO checkpoints (\(SQLiteStore.checkpointColumns)) VALUES (?, ?, ?, ?)")
                insert.bind(1, checkpoint.size)
                insert.bind(2, checkpoint.root)
                insert.bind(3, checkpoint.note)
                insert.bind(4, checkpoint.signedAtMilliseconds)
                try insert.run()
            }
        }
    }

}

/// One reader connection behind its lock (a `Mutex` cannot live in an array).
final class ReaderSlot: Sendable {
    let connection: Mutex<SQLiteConnection>

    init(_ connection: sending SQLiteConnection) {
        self.connection = Mutex(connection)
    }
}
