import CSQLite
import Dispatch
public import GreffeCore
import Synchronization

/// The embedded default store: one SQLite file in WAL mode.
///
/// Durability: `synchronous = FULL` makes every commit fsync the WAL before
/// it returns, so an acknowledged batch survives `kill -9` and power loss.
/// One writer connection, on its own thread so that fsyncs never block the
/// Swift concurrency pool; several reader connections, which WAL lets run
/// beside the writer on a consistent snapshot each.
public final class SQLiteStore: LedgerStore, Sendable {
    /// The layout this code reads and writes (`PRAGMA user_version`).
    public static let schemaVersion: Int64 = 7
    static let busyTimeoutMilliseconds: Int32 = 5_000

    private let writer: Mutex<SQLiteConnection>
    private let writerQueue = DispatchQueue(label: "greffe.sqlite.writer")
    private let checkpointer: SQLiteCheckpointer
    private let readers: [ReaderSlot]
    private let nextReader = Atomic<Int>(0)
    public let path: String

    public convenience init(path: String, readerCount: Int = 4) throws {
        try self.init(path: path, readerCount: readerCount, walRestartFrames: SQLiteCheckpointer.defaultRestartFrames)
    }

    /// `walRestartFrames`: see `SQLiteCheckpointer` (tests make it small).
    init(path: String, readerCount: Int, walRestartFrames: Int32) throws {
        let writer = try SQLiteConnection(path: path)
        try writer.execute("PRAGMA busy_timeout = \(SQLiteStore.busyTimeoutMilliseconds)")
        try writer.execute("PRAGMA journal_mode = WAL")
        try writer.execute("PRAGMA synchronous = FULL")
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
        self.writer = Mutex(writer)
        self.readers = readers
        self.checkpointer = try SQLiteCheckpointer(path: path, restartFrames: walRestartFrames)
        self.path = path
    }

    private static func migrate(_ db: SQLiteConnection) throws {
        let versionStatement = try db.statement("PRAGMA user_version")
        _ = try versionStatement.step()
        let version = versionStatement.int64(0)
        versionStatement.reset()
        if version == schemaVersion { return }
        guard version >= 0, version < schemaVersion else {
            throw StoreError(.incompatibleSchema, "database schema version \(version) is not the version \(schemaVersion) this greffe understands")
        }
        // Upgrades run in one transaction: a crash leaves the old version intact.
        try db.transaction {
            if version < 1 { try db.execute(schemaV1) }
            if version < 2 { try db.execute(migrationV2) }
            if version < 3 { try db.execute(migrationV3) }
            if version < 4 { try db.execute(migrationV4) }
            if version < 5 { try db.execute(migrationV5) }
            if version < 6 {
                // Leaves and entries must pair up: the upgrade stores each leaf hash in its entry's row.
                let unpaired = try db.statement(
                    """
                    SELECT (SELECT COUNT(*) FROM nodes n WHERE n.level = 0 AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.idx = n.idx)),
                        (SELECT COUNT(*) FROM entries e WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.level = 0 AND n.idx = e.idx))
                    """)
                _ = try unpaired.step()
                let (leavesAlone, entriesAlone) = (unpaired.int64(0), unpaired.int64(1))
                unpaired.reset()
                guard leavesAlone == 0, entriesAlone == 0 else {
                    throw StoreError(
                        .inconsistent,
                        "\(leavesAlone) leaf hashes without an entry and \(entriesAlone) entries without a leaf hash: the database is damaged; it was left at schema version \(version)"
                    )
                }
                try db.execute(migrationV6)
            }
            if version < 7 { try db.execute(migrationV7) }
            try db.execute("PRAGMA user_version = \(schemaVersion)")
        }
    }

    /// Version 1 → 2: attestations of checkpoints (cosigned notes, RFC 3161 tokens).
    static let migrationV2 = """
        CREATE TABLE checkpoint_attestations (
            size INTEGER NOT NULL REFERENCES checkpoints (size), kind TEXT NOT NULL,
            data BLOB NOT NULL, created_at INTEGER NOT NULL,
            PRIMARY KEY (kind, size)) WITHOUT ROWID;
        """

    /// Lookups by a random key (a leaf hash, an account, an image hash) are indexed within
    /// chunks of this many consecutive entries (`idx >> 12` in the schema), so
    /// that a commit writes into the few index pages of its current chunk.
    static let chunkEntries: UInt64 = 4_096
    /// `leaf_hashes` keys: this many leading bytes of the hash (`substr(hash, 1, 8)` in `migrationV3`).
    static let leafHashPrefixBytes: Int32 = 8

    /// Version 2 → 3: lookups by leaf hash go through `leaf_hashes`, sorted by
    /// hash within each chunk of 4,096 entries. The index on `nodes (hash)` it
    /// replaces took each append's leaf hashes at random places of one B-tree
    /// the size of the log, so about one whole page per event was rewritten in
    /// the WAL and then in the database file; now each commit writes into the
    /// few pages of its current chunk. A lookup probes every chunk (245 for a
    /// million entries), which suits the rare lookups by hash.
    static let migrationV3 = """
        CREATE TABLE leaf_hashes (
            chunk INTEGER NOT NULL, prefix BLOB NOT NULL, idx INTEGER NOT NULL,
            PRIMARY KEY (chunk, prefix, idx)) WITHOUT ROWID;
        INSERT INTO leaf_hashes (chunk, prefix, idx) SELECT idx >> 12, substr(hash, 1, 8), idx FROM nodes WHERE level = 0;
        DROP INDEX nodes_by_leaf_hash;
        """

    /// Version 3 → 4: the account index by chunk, for the reason of version 3:
    /// accounts recur in no order, so `(account, idx)` took each event at a
    /// random place. A search by account probes each chunk in index order
    /// (`searchEvents`), stopping once its page is full.
    static let migrationV4 = """
        DROP INDEX events_by_account;
        CREATE INDEX events_by_account_chunk ON events (idx >> 12, account) WHERE account IS NOT NULL;
        """

    /// Version 4 → 5: content terms (image hashes, random) by chunk, for the
    /// same reason; searches by content hash probe the chunks like searches by
    /// account.
    static let migrationV5 = """
        CREATE TABLE content_terms_by_chunk (
            chunk INTEGER NOT NULL, term TEXT NOT NULL, idx INTEGER NOT NULL,
            PRIMARY KEY (chunk, term, idx)) WITHOUT ROWID;
        INSERT INTO content_terms_by_chunk (chunk, term, idx) SELECT idx >> 12, term, idx FROM content_terms;
        DROP TABLE content_terms;
        ALTER TABLE content_terms_by_chunk RENAME TO content_terms;
        CREATE INDEX content_terms_by_event ON content_terms (idx);
        """

    /// Version 5 → 6: about two B-tree rows fewer per appended event, since
    /// the single writer's time goes mostly to inserting rows (about 13 per
    /// event before). Leaf hashes move from `nodes` (level 0) into their
    /// entry's row (`entries.leaf_hash`); `nodes` keeps the interior nodes.
    /// The index of every content term by event goes: erasure deletes an
    /// event's terms by its chunk, and takedown links read the terms of reports
    /// and takedowns (`linkedKinds`, few) from `link_terms`. The LEFT JOIN
    /// makes an entry without a leaf node fail the upgrade (leaf_hash NOT
    /// NULL) instead of dropping the entry; `migrate` checks the converse.
    static let migrationV6 = """
        CREATE TABLE entries_v6 (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL, leaf_hash BLOB NOT NULL);
        INSERT INTO entries_v6 (idx, entry, leaf_hash)
            SELECT e.idx, e.entry, n.hash FROM entries e LEFT JOIN nodes n ON n.level = 0 AND n.idx = e.idx ORDER BY e.idx;
        DROP TABLE entries;
        ALTER TABLE entries_v6 RENAME TO entries;
        DELETE FROM nodes WHERE level = 0;
        CREATE TABLE link_terms (idx INTEGER NOT NULL, term TEXT NOT NULL, PRIMARY KEY (idx, term)) WITHOUT ROWID;
        INSERT INTO link_terms (idx, term)
            SELECT t.idx, t.term FROM content_terms t JOIN events e ON e.idx = t.idx
            WHERE e.kind IN ('report.received', 'takedown.executed');
        DROP INDEX content_terms_by_event;
        """

    /// Version 6 → 7: tenancy. Event IDs are unique per platform, not per
    /// ledger (`(event_id, platform)`), so one platform can neither squat nor
    /// probe another's IDs; each event keeps the name of the token that
    /// appended it; append tokens are bound to a platform. SQLite cannot drop
    /// the old UNIQUE constraint, so `events` is rebuilt. An event's platform
    /// is read from its body; one erased before this version has none (NULL),
    /// and `locateEvents` matches its ID for every platform, so its body can
    /// never be appended again.
    static let migrationV7 = """
        CREATE TABLE events_v7 (
            idx INTEGER PRIMARY KEY, event_id TEXT NOT NULL, platform TEXT, appended_by TEXT, kind TEXT NOT NULL,
            body BLOB, salt BLOB, body_digest BLOB, sequenced_at INTEGER NOT NULL,
            account TEXT, occurred_at INTEGER, report_id TEXT,
            erased_at INTEGER, erasure_reference TEXT, erasure_index INTEGER);
        INSERT INTO events_v7 (
            idx, event_id, platform, kind, body, salt, body_digest, sequenced_at, account, occurred_at, report_id,
            erased_at, erasure_reference, erasure_index)
            SELECT idx, event_id, CASE WHEN body IS NULL THEN NULL ELSE json_extract(CAST(body AS TEXT), '$.platform') END,
                kind, body, salt, body_digest, sequenced_at, account, occurred_at, report_id, erased_at, erasure_reference, erasure_index
            FROM events ORDER BY idx;
        DROP TABLE events;
        ALTER TABLE events_v7 RENAME TO events;
        CREATE UNIQUE INDEX events_by_event_id ON events (event_id, platform);
        CREATE INDEX events_by_account_chunk ON events (idx >> 12, account) WHERE account IS NOT NULL;
        CREATE INDEX events_by_kind ON events (kind, idx);
        CREATE INDEX events_by_occurred_at ON events (occurred_at, idx) WHERE occurred_at IS NOT NULL;
        CREATE INDEX events_by_report ON events (report_id, idx) WHERE report_id IS NOT NULL;
        ALTER TABLE tokens ADD COLUMN platform TEXT;
        """

    /// The kinds whose content terms `takedownLinks` joins (also in `migrationV6`).
    static let linkedKinds: Set = ["report.received", "takedown.executed"]

    /// Schema version 1; `Schemas/sqlite.sql` is the commented copy of it (and of the migrations).
    static let schemaV1 = """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE entries (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL);
        CREATE TABLE nodes (
            level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
            PRIMARY KEY (level, idx)) WITHOUT ROWID;
        CREATE INDEX nodes_by_leaf_hash ON nodes (hash) WHERE level = 0;
        CREATE TABLE events (
            idx INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
            body BLOB, salt BLOB, body_digest BLOB, sequenced_at INTEGER NOT NULL,
            account TEXT, occurred_at INTEGER, report_id TEXT,
            erased_at INTEGER, erasure_reference TEXT, erasure_index INTEGER);
        CREATE INDEX events_by_account ON events (account, idx) WHERE account IS NOT NULL;
        CREATE INDEX events_by_kind ON events (kind, idx);
        CREATE INDEX events_by_occurred_at ON events (occurred_at, idx) WHERE occurred_at IS NOT NULL;
        CREATE INDEX events_by_report ON events (report_id, idx) WHERE report_id IS NOT NULL;
        CREATE TABLE content_terms (term TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (term, idx)) WITHOUT ROWID;
        CREATE INDEX content_terms_by_event ON content_terms (idx);
        CREATE TABLE checkpoints (
            size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL, signed_at INTEGER NOT NULL);
        CREATE TABLE tokens (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
            secret_hash BLOB NOT NULL UNIQUE, created_at INTEGER NOT NULL, revoked_at INTEGER);
        INSERT INTO meta (key, value) VALUES ('tree_size', '0');
        """

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

    private func read<T: Sendable>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        let slot = nextReader.wrappingAdd(1, ordering: .relaxed).oldValue % readers.count
        return try readers[slot].connection.withLock { connection in
            defer { connection.releaseStatements() }
            return try body(connection)
        }
    }

    /// Runs on the writer thread; the caller's task waits without holding a pool thread.
    private func write<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
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
    private func snapshot<T: Sendable>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try read { db in
            try db.execute("BEGIN")
            defer {
                db.releaseStatements()
                try? db.execute("COMMIT")
            }
            return try body(db)
        }
    }

    private static func treeSize(_ db: SQLiteConnection) throws -> UInt64 {
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
            // The prefix narrows each chunk to (almost always) one candidate; the full hash decides.
            let statement = try db.statement(
                """
                SELECT l.idx FROM leaf_hashes l JOIN entries n ON n.idx = l.idx
                WHERE l.chunk = ? AND l.prefix = ? AND n.leaf_hash = ? ORDER BY l.idx LIMIT 1
                """)
            for chunk in 0...((size - 1) / SQLiteStore.chunkEntries) {
                statement.reset()
                statement.bind(1, chunk)
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

    public func append(_ batch: AppendBatch) async throws {
        guard batch.handoverOutcomes.isEmpty else {
            throw StoreError(.inconsistent, "the SQLite store is not shared: it has no handed-over appends to settle")
        }
        try await write { db in
            try db.transaction {
                let size = try SQLiteStore.treeSize(db)
                guard size == batch.firstIndex else {
                    throw StoreError(.inconsistent, "batch starts at \(batch.firstIndex) but the tree has \(size) entries")
                }
                let insertEntry = try db.statement("INSERT INTO entries (idx, entry, leaf_hash) VALUES (?, ?, ?)")
                let insertEvent = try db.statement(
                    """
                    INSERT INTO events (idx, event_id, kind, body, salt, body_digest, sequenced_at, account, occurred_at, report_id, platform, appended_by)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                let insertTerm = try db.statement("INSERT OR IGNORE INTO content_terms (chunk, term, idx) VALUES (?, ?, ?)")
                let insertLeafHash = try db.statement("INSERT INTO leaf_hashes (chunk, prefix, idx) VALUES (?, ?, ?)")
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
                    try insertEvent.run()
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
            }
        }
    }

    private static let checkpointColumns = "size, root, note, signed_at"

    private static func checkpoint(from statement: SQLiteStatement) throws -> StoredCheckpoint {
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
                if try latest.step() {
                    let latestSize = latest.uint64(0)
                    if latestSize == checkpoint.size {
                        guard try latest.hash(1) == checkpoint.root else {
                            throw StoreError(.fork, "refusing a second root for tree size \(checkpoint.size)")
                        }
                        return
                    }
                    guard latestSize < checkpoint.size else {
                        throw StoreError(.inconsistent, "checkpoint of size \(checkpoint.size) would go back from \(latestSize)")
                    }
                }
                let treeSize = try SQLiteStore.treeSize(db)
                guard checkpoint.size <= treeSize else {
                    throw StoreError(.inconsistent, "checkpoint of size \(checkpoint.size) is beyond the stored tree of \(treeSize)")
                }
                let insert = try db.statement("INSERT INTO checkpoints (\(SQLiteStore.checkpointColumns)) VALUES (?, ?, ?, ?)")
                insert.bind(1, checkpoint.size)
                insert.bind(2, checkpoint.root)
                insert.bind(3, checkpoint.note)
                insert.bind(4, checkpoint.signedAtMilliseconds)
                try insert.run()
            }
        }
    }

    // MARK: - Attestations

    private static let attestationColumns = "size, kind, data, created_at"

    private static func attestation(from statement: SQLiteStatement) throws -> CheckpointAttestation {
        guard let kind = AttestationKind(rawValue: statement.string(1)) else {
            throw StoreError(.inconsistent, "checkpoint attestation of size \(statement.uint64(0)) has an unknown kind")
        }
        return CheckpointAttestation(size: statement.uint64(0), kind: kind, data: statement.blob(2), createdAtMilliseconds: statement.uint64(3))
    }

    private func readAttestation(_ whereClause: String, kind: AttestationKind, size: UInt64?) throws -> CheckpointAttestation? {
        try read { db in
            let statement = try db.statement("SELECT \(SQLiteStore.attestationColumns) FROM checkpoint_attestations WHERE \(whereClause)")
            statement.bind(1, kind.rawValue)
            if let size { statement.bind(2, size) }
            return try statement.step() ? try SQLiteStore.attestation(from: statement) : nil
        }
    }

    public func storeAttestation(_ attestation: CheckpointAttestation) async throws {
        try await write { db in
            try db.transaction {
                let exists = try db.statement("SELECT 1 FROM checkpoints WHERE size = ?")
                exists.bind(1, attestation.size)
                guard try exists.step() else {
                    throw StoreError(.notFound, "no checkpoint of size \(attestation.size) is stored to attach a \(attestation.kind.rawValue) to")
                }
                let upsert = try db.statement(
                    """
                    INSERT INTO checkpoint_attestations (\(SQLiteStore.attestationColumns)) VALUES (?, ?, ?, ?)
                    ON CONFLICT (kind, size) DO UPDATE SET data = excluded.data, created_at = excluded.created_at
                    """)
                upsert.bind(1, attestation.size)
                upsert.bind(2, attestation.kind.rawValue)
                upsert.bind(3, attestation.data)
                upsert.bind(4, attestation.createdAtMilliseconds)
                try upsert.run()
            }
        }
    }

    public func attestation(kind: AttestationKind, size: UInt64) async throws -> CheckpointAttestation? {
        try readAttestation("kind = ? AND size = ?", kind: kind, size: size)
    }

    public func latestAttestation(kind: AttestationKind) async throws -> CheckpointAttestation? {
        try readAttestation("kind = ? ORDER BY size DESC LIMIT 1", kind: kind, size: nil)
    }

    public func firstAttestation(kind: AttestationKind, atLeast size: UInt64) async throws -> CheckpointAttestation? {
        try readAttestation("kind = ? AND size >= ? ORDER BY size LIMIT 1", kind: kind, size: size)
    }

    private static let tokenColumns = "id, name, role, created_at, revoked_at, platform"

    private static func token(from statement: SQLiteStatement) throws -> TokenRecord {
        guard let role = TokenRole(rawValue: statement.string(2)) else {
            throw StoreError(.inconsistent, "token has an unknown role")
        }
        return TokenRecord(
            id: statement.int64(0), name: statement.string(1), role: role, platform: statement.isNull(5) ? nil : statement.string(5),
            createdAtMilliseconds: statement.uint64(3), revokedAtMilliseconds: statement.isNull(4) ? nil : statement.uint64(4))
    }

    public func createToken(
        name: String, role: TokenRole, platform: String?, secretHash: Hash, createdAtMilliseconds: UInt64
    ) async throws -> TokenRecord {
        try await write { db in
            let insert = try db.statement("INSERT INTO tokens (name, role, secret_hash, created_at, platform) VALUES (?, ?, ?, ?, ?)")
            insert.bind(1, name)
            insert.bind(2, role.rawValue)
            insert.bind(3, secretHash)
            insert.bind(4, createdAtMilliseconds)
            if let platform { insert.bind(5, platform) }
            do { try insert.run() } catch let error as StoreError where error.code == .duplicate {
                throw StoreError(.duplicate, "a token named \"\(name)\" already exists")
            }
            return TokenRecord(
                id: sqlite3_last_insert_rowid(db.handle), name: name, role: role, platform: platform, createdAtMilliseconds: createdAtMilliseconds,
                revokedAtMilliseconds: nil)
        }
    }

    public func bindToken(name: String, platform: String) async throws {
        try await write { db in
            let update = try db.statement(
                "UPDATE tokens SET platform = ? WHERE name = ? AND role = 'append' AND platform IS NULL AND revoked_at IS NULL")
            update.bind(1, platform)
            update.bind(2, name)
            try update.run()
            guard sqlite3_changes(db.handle) == 1 else {
                throw StoreError(.notFound, "no active, unbound append token named \"\(name)\"")
            }
        }
    }

    public func token(secretHash: Hash) async throws -> TokenRecord? {
        try read { db in
            let statement = try db.statement("SELECT \(SQLiteStore.tokenColumns) FROM tokens WHERE secret_hash = ?")
            statement.bind(1, secretHash)
            return try statement.step() ? try SQLiteStore.token(from: statement) : nil
        }
    }

    public func listTokens() async throws -> [TokenRecord] {
        try read { db in
            let statement = try db.statement("SELECT \(SQLiteStore.tokenColumns) FROM tokens ORDER BY id")
            var tokens: [TokenRecord] = []
            while try statement.step() { tokens.append(try SQLiteStore.token(from: statement)) }
            return tokens
        }
    }

    public func revokeToken(name: String, atMilliseconds: UInt64) async throws {
        try await write { db in
            let update = try db.statement("UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL")
            update.bind(1, atMilliseconds)
            update.bind(2, name)
            try update.run()
            guard sqlite3_changes(db.handle) == 1 else {
                throw StoreError(.notFound, "no active token named \"\(name)\"")
            }
        }
    }

    public func readEvent(index: UInt64) async throws -> StoredEvent? {
        try snapshot { db in
            let statement = try db.statement(
                """
                SELECT ev.event_id, ev.kind, ev.body, ev.salt, en.entry, ev.erased_at, ev.erasure_reference, ev.erasure_index,
                    ev.platform, ev.appended_by
                FROM events ev JOIN entries en ON en.idx = ev.idx WHERE ev.idx = ?
                """)
            statement.bind(1, index)
            guard try statement.step() else { return nil }
            let erasure =
                statement.isNull(5)
                ? nil
                : ErasureRecord(
                    erasedAtMilliseconds: statement.uint64(5), legalReference: statement.string(6), erasureEntryIndex: statement.uint64(7))
            return StoredEvent(
                index: index, eventID: statement.string(0), platform: statement.isNull(8) ? nil : statement.string(8),
                appendedBy: statement.isNull(9) ? nil : statement.string(9), kind: statement.string(1),
                canonicalBody: statement.isNull(2) ? nil : statement.blob(2), salt: statement.isNull(3) ? nil : statement.blob(3),
                entry: statement.blob(4), erasure: erasure)
        }
    }

    public func searchEvents(_ query: EventQuery) async throws -> [UInt64] {
        // Bounds past 2^63 are clamped (as on PostgreSQL), not wrapped to negative numbers.
        var conditions: [String] = []
        var binders: [(SQLiteStatement, Int32) -> Void] = []
        // With a content hash, walk that term in each chunk of content_terms in idx order and join the
        // events; otherwise walk events by the most selective index. A unary + keeps SQLite
        // from choosing the broad kind index when a narrower one applies.
        let narrowed = query.contentHash != nil || query.account != nil || query.timeRange != nil || query.eventIDs != nil
        var from = "events e"
        var order = "e.idx"
        if let term = query.contentHash {
            from = "content_terms t JOIN events e ON e.idx = t.idx"
            order = "t.idx"
            conditions.append("t.term = ?")
            binders.append { $0.bind($1, term) }
        }
        if let ids = query.eventIDs {
            if ids.isEmpty { return [] }
            conditions.append("e.event_id IN (\(Array(repeating: "?", count: ids.count).joined(separator: ", ")))")
            for id in ids { binders.append { $0.bind($1, id) } }
        }
        if let range = query.indexRange {
            conditions.append("\(order) >= ? AND \(order) < ?")
            binders.append { $0.bind($1, Int64(clamping: range.lowerBound)) }
            binders.append { $0.bind($1, Int64(clamping: range.upperBound)) }
        }
        if let after = query.afterIndex {
            conditions.append("\(order) > ?")
            binders.append { $0.bind($1, Int64(clamping: after)) }
        }
        if let account = query.account {
            conditions.append(query.contentHash == nil ? "e.account = ?" : "+e.account = ?")
            binders.append { $0.bind($1, account) }
        }
        if let kinds = query.kinds {
            if kinds.isEmpty { return [] }
            conditions.append("\(narrowed ? "+" : "")e.kind IN (\(Array(repeating: "?", count: kinds.count).joined(separator: ", ")))")
            for kind in kinds { binders.append { $0.bind($1, kind) } }
        }
        if let range = query.timeRange {
            let column = query.contentHash == nil && query.account == nil ? "e.occurred_at" : "+e.occurred_at"
            conditions.append("\(column) >= ? AND \(column) < ?")
            binders.append { $0.bind($1, Int64(clamping: range.lowerBound)) }
            binders.append { $0.bind($1, Int64(clamping: range.upperBound)) }
        }
        let limit = max(0, query.limit)
        // Accounts and content terms are indexed by chunk (schema versions 4 and 5).
        if query.contentHash != nil {
            return try searchByChunk(
                query, from: from, chunkCondition: "t.chunk = ?", order: order, conditions: conditions, binders: binders, limit: limit)
        }
        if query.account != nil, query.eventIDs == nil {
            return try searchByChunk(
                query, from: "events e INDEXED BY events_by_account_chunk", chunkCondition: "(e.idx >> 12) = ?", order: order,
                conditions: conditions, binders: binders, limit: limit)
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT e.idx FROM \(from) \(whereClause) ORDER BY \(order) LIMIT ?"
        return try read { db in
            let statement = try db.statement(sql)
            for (position, bind) in binders.enumerated() { bind(statement, Int32(position + 1)) }
            statement.bind(Int32(binders.count + 1), Int64(limit))
            var indices: [UInt64] = []
            while try statement.step() { indices.append(statement.uint64(0)) }
            return indices
        }
    }

    /// A search through an index by chunk: chunk by chunk, in index order, until `limit`.
    private func searchByChunk(
        _ query: EventQuery, from: String, chunkCondition: String, order: String, conditions: [String],
        binders: [(SQLiteStatement, Int32) -> Void], limit: Int
    ) throws -> [UInt64] {
        guard limit > 0 else { return [] }
        let sql = """
            SELECT e.idx FROM \(from)
            WHERE \(chunkCondition) AND \(conditions.joined(separator: " AND ")) ORDER BY \(order) LIMIT ?
            """
        return try snapshot { db in
            let size = try SQLiteStore.treeSize(db)
            var first = query.indexRange?.lowerBound ?? 0
            if let after = query.afterIndex {
                guard after < UInt64.max else { return [] }
                first = max(first, after + 1)
            }
            let end = min(size, query.indexRange?.upperBound ?? size)
            guard first < end else { return [] }
            let statement = try db.statement(sql)
            var indices: [UInt64] = []
            for chunk in (first / SQLiteStore.chunkEntries)...((end - 1) / SQLiteStore.chunkEntries) {
                statement.reset()
                statement.bind(1, chunk)
                for (position, bind) in binders.enumerated() { bind(statement, Int32(position + 2)) }
                statement.bind(Int32(binders.count + 2), Int64(limit - indices.count))
                while try statement.step() { indices.append(statement.uint64(0)) }
                if indices.count == limit { break }
            }
            return indices
        }
    }

    /// `erasure_index = -1` with no `erased_at` marks a claimed erasure.
    public func claimErasure(index: UInt64) async throws {
        try await write { db in
            let claim = try db.statement("UPDATE events SET erasure_index = -1 WHERE idx = ? AND erased_at IS NULL AND erasure_index IS NULL")
            claim.bind(1, index)
            try claim.run()
            guard sqlite3_changes(db.handle) == 1 else {
                let exists = try db.statement("SELECT erased_at FROM events WHERE idx = ?")
                exists.bind(1, index)
                guard try exists.step() else { throw StoreError(.notFound, "no event at index \(index)") }
                throw StoreError(
                    .duplicate,
                    exists.isNull(0) ? "the event at index \(index) is being erased by another request" : "the event at index \(index) was already erased")
            }
        }
    }

    public func releaseErasureClaims(index: UInt64?) async throws {
        try await write { db in
            let release = try db.statement(
                "UPDATE events SET erasure_index = NULL WHERE erasure_index = -1 AND erased_at IS NULL AND (?1 IS NULL OR idx = ?1)")
            if let index { release.bind(1, index) }
            try release.run()
        }
    }

    public func eraseEvent(index: UInt64, record: ErasureRecord) async throws {
        try await write { db in
            try db.transaction {
                let check = try db.statement("SELECT erased_at FROM events WHERE idx = ?")
                check.bind(1, index)
                guard try check.step() else { throw StoreError(.notFound, "no event at index \(index)") }
                guard check.isNull(0) else { throw StoreError(.duplicate, "the event at index \(index) was already erased") }
                let erase = try db.statement(
                    """
                    UPDATE events SET body = NULL, salt = NULL, body_digest = NULL, account = NULL, occurred_at = NULL, report_id = NULL,
                        erased_at = ?, erasure_reference = ?, erasure_index = ? WHERE idx = ?
                    """)
                erase.bind(1, record.erasedAtMilliseconds)
                erase.bind(2, record.legalReference)
                erase.bind(3, record.erasureEntryIndex)
                erase.bind(4, index)
                try erase.run()
                // A scan of the event's chunk (a few thousand rows): erasures are rare, an index by event was not.
                let terms = try db.statement("DELETE FROM content_terms WHERE chunk = ? AND idx = ?")
                terms.bind(1, index / SQLiteStore.chunkEntries)
                terms.bind(2, index)
                try terms.run()
                let linkTerms = try db.statement("DELETE FROM link_terms WHERE idx = ?")
                linkTerms.bind(1, index)
                try linkTerms.run()
            }
        }
    }

    /// The WAL still holds the page images with an erased body: fold it into
    /// the database (where secure_delete zeroed the old cells) and truncate it.
    public func purgeErasedCopies() async throws {
        try await write { db in
            do {
                try self.checkpointer.truncate(writer: db)
            } catch {
                throw StoreError(
                    .unavailable,
                    "the WAL (\(self.path)-wal) could not be truncated, so it may still hold erased bodies: \(error); greffe tries again at its next erasure and at start-up"
                )
            }
        }
    }

    public func contentTerms(prefix: String, fromIndex: UInt64, limit: Int) async throws -> [(index: UInt64, term: String)] {
        // Terms are keyed by chunk (schema version 5): walk the chunks from `fromIndex`'s, each by its term range.
        try read { db in
            let size = try Self.treeSize(db)
            guard fromIndex < size, limit > 0 else { return [] }
            let statement = try db.statement(
                "SELECT idx, term FROM content_terms WHERE chunk = ? AND term >= ? AND term < ? AND idx >= ? ORDER BY idx")
            // Every term below the prefix's successor: the prefix with its last byte incremented ("pdq:" → "pdq;").
            let upper = String(prefix.dropLast()) + String(UnicodeScalar(prefix.unicodeScalars.last!.value + 1)!)
            var found: [(index: UInt64, term: String)] = []
            for chunk in (fromIndex / Self.chunkEntries)...((size - 1) / Self.chunkEntries) where found.count < limit {
                statement.reset()
                statement.bind(1, chunk)
                statement.bind(2, prefix)
                statement.bind(3, upper)
                statement.bind(4, fromIndex)
                while try statement.step() { found.append((statement.uint64(0), statement.string(1))) }
            }
            return found
        }
    }

    public func takedownLinks() async throws -> [TakedownLink] {
        try snapshot { db in
            let statement = try db.statement(
                """
                SELECT r.idx, r.report_id, COALESCE(r.occurred_at, r.sequenced_at),
                    (SELECT MIN(t.idx) FROM events t
                     WHERE t.kind = 'takedown.executed' AND t.idx > r.idx
                       AND ((r.report_id IS NOT NULL AND t.report_id = r.report_id)
                            OR EXISTS (SELECT 1 FROM link_terms a JOIN link_terms b ON b.idx = t.idx AND b.term = a.term WHERE a.idx = r.idx)))
                FROM events r WHERE r.kind = 'report.received' ORDER BY r.idx
                """)
            let time = try db.statement("SELECT COALESCE(occurred_at, sequenced_at) FROM events WHERE idx = ?")
            var links: [TakedownLink] = []
            while try statement.step() {
                var link = TakedownLink(
                    reportIndex: statement.uint64(0), reportID: statement.isNull(1) ? nil : statement.string(1),
                    reportedAtMilliseconds: statement.uint64(2), takedownIndex: statement.isNull(3) ? nil : statement.uint64(3),
                    takedownAtMilliseconds: nil)
                if let takedown = link.takedownIndex {
                    time.reset()
                    time.bind(1, takedown)
                    if try time.step() { link.takedownAtMilliseconds = time.uint64(0) }
                }
                links.append(link)
            }
            return links
        }
    }

    public func metadata(_ key: String) async throws -> String? {
        try read { db in
            let statement = try db.statement("SELECT value FROM meta WHERE key = ?")
            statement.bind(1, key)
            return try statement.step() ? statement.string(0) : nil
        }
    }

    public func setMetadata(_ key: String, _ value: String) async throws {
        try await write { db in
            let statement = try db.statement("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            statement.bind(1, key)
            statement.bind(2, value)
            try statement.run()
        }
    }
}

/// One reader connection behind its lock (a `Mutex` cannot live in an array).
private final class ReaderSlot: Sendable {
    let connection: Mutex<SQLiteConnection>

    init(_ connection: sending SQLiteConnection) {
        self.connection = Mutex(connection)
    }
}
