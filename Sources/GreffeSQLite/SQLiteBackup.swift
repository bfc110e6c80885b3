import CSQLite
import Foundation
public import GreffeCore
public import GreffeStore

/// What a database file holds, as checked by `SQLiteStore.verifyDatabaseFile`.
public struct DatabaseFileSummary: Sendable, Equatable {
    public let schemaVersion: Int64
    public let treeSize: UInt64
    /// The latest stored checkpoint, whose root was recomputed from the file's nodes.
    public let latestCheckpoint: StoredCheckpoint?
    /// The root of the whole stored tree (every node it needs is present).
    public let treeRoot: Hash
    public let bytes: UInt64
}

/// Online backup and offline checking of a SQLite ledger file.
///
/// The copy is taken with SQLite's online backup API in one step
/// (`sqlite3_backup_step(-1)`): the source connection holds one WAL read
/// snapshot for the whole copy, so the copy is exactly the database as of one
/// committed transaction — never half a batch — while the serving process
/// keeps appending (WAL readers do not block the writer, nor it them).
/// Everything committed before the backup started is in the copy; batches
/// committed during it may or may not be, and are never partly there.
///
/// Commit points of a backup (a crash before the last one leaves no file at
/// the destination, only a `.partial` file nobody uses):
/// 1. pages copied into `DEST.partial` and committed by SQLite (journalled);
/// 2. `DEST.partial` checked (integrity, schema, tree against checkpoint), fsynced;
/// 3. renamed to `DEST`, and the directory fsynced.
///
/// The signing key is not in the database and so not in the copy.
extension SQLiteStore {
    /// Copies the live database at `source` into a new file `destination`
    /// (which must not exist), checks the copy and makes it durable.
    @discardableResult
    public static func backup(databaseAt source: String, to destination: String) throws -> DatabaseFileSummary {
        let files = FileManager.default
        guard files.fileExists(atPath: source) else {
            throw StoreError(.notFound, "no database at \(source)")
        }
        guard !files.fileExists(atPath: destination) else {
            throw StoreError(.duplicate, "\(destination) already exists; refusing to overwrite it")
        }
        let partial = destination + ".partial"
        for leftover in [partial, partial + "-journal", partial + "-wal", partial + "-shm"] {
            try? files.removeItem(atPath: leftover)
        }
        // The copy holds event bodies and salts: mode 0600 from the start (SQLite
        // gives its journal the same mode), and O_EXCL so no one else's file is reused.
        let fd = open(partial, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw StoreError(.unavailable, "cannot create \(partial): \(String(cString: strerror(errno)))") }
        close(fd)
        do {
            try copyOnline(from: source, to: partial)
            let summary = try verifyDatabaseFile(at: partial)
            try DurableFile.fsyncFile(partial)
            guard rename(partial, destination) == 0 else {
                throw StoreError(.unavailable, "cannot rename \(partial) to \(destination): \(String(cString: strerror(errno)))")
            }
            try DurableFile.fsyncDirectory(of: destination)
            return summary
        } catch {
            for leftover in [partial, partial + "-journal", partial + "-wal", partial + "-shm"] {
                try? files.removeItem(atPath: leftover)
            }
            throw error
        }
    }

    /// `sqlite3_backup_init/step/finish` from `source` into a new file `destination`.
    static func copyOnline(from source: String, to destination: String) throws {
        // Opened read-write because a WAL reader needs the -shm file; it exists
        // (checked above), so nothing is created, and query_only keeps it a reader.
        let from = try SQLiteConnection(path: source)
        try from.execute("PRAGMA busy_timeout = 5000")
        try from.execute("PRAGMA query_only = 1")
        let to = try SQLiteConnection(path: destination)
        try to.execute("PRAGMA busy_timeout = 5000")
        guard let backup = sqlite3_backup_init(to.handle, "main", from.handle, "main") else {
            throw to.error(sqlite3_errcode(to.handle), "sqlite3_backup_init")
        }
        var rc: Int32 = SQLITE_OK
        var attempts = 0
        repeat {
            // -1: every page in one step, under one read snapshot of the source.
            rc = sqlite3_backup_step(backup, -1)
            if rc == SQLITE_BUSY || rc == SQLITE_LOCKED {
                attempts += 1
                if attempts > 200 { break }
                usleep(25_000)
            }
        } while rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED
        let finished = sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE else {
            throw SQLiteConnection.storeError(code: rc, message: "online backup step failed: \(String(cString: sqlite3_errstr(rc)))")
        }
        guard finished == SQLITE_OK else {
            throw to.error(finished, "sqlite3_backup_finish")
        }
    }

    /// Checks a ledger database file without changing its contents: it opens,
    /// passes `PRAGMA integrity_check`, has this code's schema version, and the
    /// whole tree recomputed from its entries (the prev chain, every stored
    /// node, the number of nodes) gives its latest checkpoint's root. O(n) in
    /// the entries: a restore is rare, and a backup is checked before it is trusted. Does not check signatures (the file
    /// holds no key): callers verify `latestCheckpoint.note` with the verifier key.
    public static func verifyDatabaseFile(at path: String) throws -> DatabaseFileSummary {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(.notFound, "no database file at \(path)")
        }
        let db = try SQLiteConnection(path: path)
        try db.execute("PRAGMA busy_timeout = 5000")
        try db.execute("PRAGMA query_only = 1")

        let version = try db.statement("PRAGMA user_version")
        guard try version.step() else { throw StoreError(.inconsistent, "\(path): no user_version") }
        let schema = version.int64(0)
        // Older versions are upgraded when the restored file is first opened.
        _ = try migrations.pending(from: schema, database: path + (schema == 0 ? " (not a greffe ledger database)" : ""))

        let integrity = try db.statement("PRAGMA integrity_check")
        var problems: [String] = []
        while try integrity.step() { problems.append(integrity.string(0)) }
        guard problems == ["ok"] else {
            throw StoreError(.inconsistent, "\(path) fails PRAGMA integrity_check: \(problems.prefix(5).joined(separator: "; "))")
        }

        db.releaseStatements()
        try db.execute("BEGIN")
        defer {
            db.releaseStatements()
            try? db.execute("COMMIT")
        }
        let sizeStatement = try db.statement("SELECT value FROM meta WHERE key = 'tree_size'")
        guard try sizeStatement.step(), let treeSize = UInt64(sizeStatement.string(0)) else {
            throw StoreError(.inconsistent, "\(path): the tree size is missing")
        }
        let entryCount = try db.statement("SELECT COUNT(*), COALESCE(MAX(idx), -1) FROM entries")
        _ = try entryCount.step()
        guard entryCount.uint64(0) == treeSize, entryCount.int64(1) == Int64(treeSize) - 1 else {
            throw StoreError(
                .inconsistent, "\(path): tree size \(treeSize) but \(entryCount.int64(0)) entries up to index \(entryCount.int64(1))")
        }

        // From schema 6 the leaves are stored in `entries`, beside their entries.
        let leavesInEntries = schema >= 6
        let reader = FileNodeReader(
            interior: try db.statement("SELECT hash FROM nodes WHERE level = ? AND idx = ?"),
            leaf: leavesInEntries ? try db.statement("SELECT leaf_hash FROM entries WHERE idx = ?") : nil)
        let latestRoot = try db.statement("SELECT size, root FROM checkpoints ORDER BY size DESC LIMIT 1")
        let checkpointSize: UInt64? = try latestRoot.step() ? latestRoot.uint64(0) : nil
        let checkpointRoot: Hash? = checkpointSize == nil ? nil : try latestRoot.hash(1)
        latestRoot.reset()
        if let checkpointSize, checkpointSize > treeSize {
            throw StoreError(.inconsistent, "\(path): checkpoint of size \(checkpointSize) is beyond the stored tree of \(treeSize)")
        }

        // The whole tree, recomputed from the entries: every entry decodes at its
        // index, its prev is the previous leaf hash, every stored node (leaves and
        // interior) equals the recomputed one and no other node is stored.
        var frontier = MerkleFrontier()
        var previous = Hash.zero
        var completed: [MerkleFrontier.Node] = []
        var nodeCount: UInt64 = 0
        var rootAtCheckpoint: Hash? = checkpointSize == 0 ? MerkleHash.emptyRoot : nil
        let entries = try db.statement("SELECT idx, entry FROM entries ORDER BY idx")
        while try entries.step() {
            let index = entries.uint64(0)
            guard index == frontier.size else {
                throw StoreError(.inconsistent, "\(path): entry \(frontier.size) is missing (next stored is \(index))")
            }
            let bytes = entries.blob(1)
            let entry: LedgerEntry
            do { entry = try LedgerEntry(decoding: bytes) } catch {
                throw StoreError(.inconsistent, "\(path): entry \(index) does not decode: \(error)")
            }
            guard entry.index == index else { throw StoreError(.inconsistent, "\(path): entry \(index) says it is entry \(entry.index)") }
            guard entry.prev == previous else { throw StoreError(.inconsistent, "\(path): entry \(index) breaks the prev hash chain") }
            previous = MerkleHash.leaf(bytes)
            completed.removeAll(keepingCapacity: true)
            frontier.append(previous) { completed.append($0) }
            for node in completed {
                guard try reader.node(level: node.level, index: node.index) == node.hash else {
                    throw StoreError(.inconsistent, "\(path): stored node at level \(node.level), index \(node.index) differs from the one recomputed from the entries")
                }
            }
            nodeCount += UInt64(leavesInEntries ? completed.count - 1 : completed.count)
            if frontier.size == checkpointSize { rootAtCheckpoint = frontier.root }
        }
        guard frontier.size == treeSize else {
            throw StoreError(.inconsistent, "\(path): tree size \(treeSize) but \(frontier.size) entries")
        }
        let storedNodes = try db.statement("SELECT COUNT(*) FROM nodes")
        _ = try storedNodes.step()
        guard storedNodes.uint64(0) == nodeCount else {
            throw StoreError(.inconsistent, "\(path): \(storedNodes.uint64(0)) tree nodes stored, \(nodeCount) expected")
        }
        if schema >= 3 {
            // The lookup table by leaf hash (schema 3): one row per leaf, in its chunk (a run that lookups probe
            // from schema 8), with its hash's prefix.
            let leafRows = try db.statement(
                schema >= 8
                    ? """
                    SELECT COUNT(*), SUM(l.prefix = substr(n.leaf_hash, 1, 8)) FROM leaf_hashes l LEFT JOIN entries n ON n.idx = l.idx
                    """
                    : leavesInEntries
                    ? """
                    SELECT COUNT(*), SUM(l.chunk = l.idx >> 12 AND l.prefix = substr(n.leaf_hash, 1, 8))
                    FROM leaf_hashes l LEFT JOIN entries n ON n.idx = l.idx
                    """
                    : """
                    SELECT COUNT(*), SUM(l.chunk = l.idx >> 12 AND l.prefix = substr(n.hash, 1, 8))
                    FROM leaf_hashes l LEFT JOIN nodes n ON n.level = 0 AND n.idx = l.idx
                    """)
            _ = try leafRows.step()
            guard leafRows.uint64(0) == treeSize, leafRows.uint64(1) == treeSize else {
                throw StoreError(
                    .inconsistent, "\(path): leaf_hashes holds \(leafRows.uint64(0)) rows, \(leafRows.uint64(1)) matching a leaf, for \(treeSize) leaves")
            }
            leafRows.reset()
            if schema >= 8 {
                for index in RunIndex.all { try SQLiteStore.checkRuns(db, index, treeSize: treeSize, path: path) }
                if schema >= 9 { try SQLiteStore.checkRunFilters(db, path: path) }
                // Accounts are held twice (events.account decides): a row added, dropped or changed would make
                // searches by account name the wrong events or miss one.
                let accounts = try db.statement(
                    """
                    SELECT (SELECT COUNT(*) FROM account_index a LEFT JOIN events e ON e.idx = a.idx WHERE e.account IS NOT a.account),
                        (SELECT COUNT(*) FROM account_index), (SELECT COUNT(*) FROM events WHERE account IS NOT NULL)
                    """)
                _ = try accounts.step()
                guard accounts.int64(0) == 0, accounts.int64(1) == accounts.int64(2) else {
                    throw StoreError(
                        .inconsistent,
                        "\(path): account_index holds \(accounts.int64(1)) rows, \(accounts.int64(0)) of them not the event's account, for \(accounts.int64(2)) events with an account")
                }
                accounts.reset()
            }
        }
        let treeRoot = frontier.root
        guard try MerkleTree.root(size: treeSize, reader: reader) == treeRoot else {
            throw StoreError(.inconsistent, "\(path): the stored nodes give another root than the entries")
        }
        if let checkpointRoot, let checkpointSize, rootAtCheckpoint != checkpointRoot {
            throw StoreError(
                .inconsistent,
                "\(path): the entries recompute to \(rootAtCheckpoint?.base64 ?? "?") at size \(checkpointSize), but the latest checkpoint says \(checkpointRoot.base64)")
        }

        let latest = try db.statement("SELECT size, root, note, signed_at FROM checkpoints ORDER BY size DESC LIMIT 1")
        var checkpoint: StoredCheckpoint?
        if try latest.step() {
            let stored = StoredCheckpoint(
                size: latest.uint64(0), root: try latest.hash(1), note: latest.string(2), signedAtMilliseconds: latest.uint64(3))
            guard stored.size <= treeSize else {
                throw StoreError(.inconsistent, "\(path): checkpoint of size \(stored.size) is beyond the stored tree of \(treeSize)")
            }
            let parsed: Checkpoint
            do {
                parsed = try Checkpoint(parsing: try SignedNote(parsing: stored.note).text)
            } catch {
                throw StoreError(.inconsistent, "\(path): the latest checkpoint note does not parse: \(error)")
            }
            guard parsed.size == stored.size, parsed.root == stored.root else {
                throw StoreError(.inconsistent, "\(path): the latest checkpoint's note disagrees with its stored size and root")
            }
            checkpoint = stored
        }
        var info = stat()
        let bytes = stat(path, &info) == 0 ? UInt64(info.st_size) : 0
        return DatabaseFileSummary(schemaVersion: schema, treeSize: treeSize, latestCheckpoint: checkpoint, treeRoot: treeRoot, bytes: bytes)
    }

    /// Copies a checked backup into place at `destination` (which must not
    /// exist): through `DEST.restoring`, checked again there, fsynced, renamed.
    @discardableResult
    public static func restore(backup: String, to destination: String) throws -> DatabaseFileSummary {
        let staging = try Staging(destination: destination)
        do {
            let summary = try staging.copy(backup)
            try staging.commit()
            return summary
        } catch {
            staging.removeLeftovers()
            throw error
        }
    }

    /// `restore`, with `finish` run on the checked copy before it takes the database's name: what it
    /// writes (a recovered tail, its record) lands whole or not at all, since a restore that stops
    /// half-way leaves no database behind. The copy is checked again after `finish`, as the backup was.
    /// Returns the summary of the backup (before `finish`) and of the result.
    public static func restore(
        backup: String, to destination: String, finishing finish: (_ staging: String, _ backup: DatabaseFileSummary) async throws -> Void
    ) async throws -> (backup: DatabaseFileSummary, restored: DatabaseFileSummary) {
        let staging = try Staging(destination: destination)
        do {
            let before = try staging.copy(backup)
            try await finish(staging.path, before)
            // Everything `finish` committed goes into the file itself: the WAL is not renamed with it.
            let connection = try SQLiteConnection(path: staging.path)
            let checkpoint = try connection.statement("PRAGMA wal_checkpoint(TRUNCATE)")
            guard try checkpoint.step(), checkpoint.int64(0) == 0 else {
                throw StoreError(.unavailable, "\(staging.path): the write-ahead log could not be folded into the file (a connection is still busy)")
            }
            connection.releaseStatements()
            let after = try verifyDatabaseFile(at: staging.path)
            try staging.commit()
            return (before, after)
        } catch {
            staging.removeLeftovers()
            throw error
        }
    }

    /// `DEST.restoring`: where a restore is checked before it takes the database's name.
    private struct Staging {
        let destination: String
        let path: String
        var leftovers: [String] { [path, path + "-journal", path + "-wal", path + "-shm"] }

        init(destination: String) throws {
            for existing in [destination, destination + "-wal", destination + "-journal"] where FileManager.default.fileExists(atPath: existing) {
                throw StoreError(.duplicate, "\(existing) already exists; restore only into a directory without a database")
            }
            self.destination = destination
            path = destination + ".restoring"
            removeLeftovers()
        }

        /// The backup file itself is only read (it may sit on read-only media): the copy is what gets checked.
        func copy(_ backup: String) throws -> DatabaseFileSummary {
            try DurableFile.copyFile(from: backup, to: path)
            return try verifyDatabaseFile(at: path)
        }

        func commit() throws {
            try DurableFile.fsyncFile(path)
            guard rename(path, destination) == 0 else {
                throw StoreError(.unavailable, "cannot rename \(path) to \(destination): \(String(cString: strerror(errno)))")
            }
            try DurableFile.fsyncDirectory(of: destination)
            removeLeftovers()
        }

        func removeLeftovers() {
            for leftover in leftovers { try? FileManager.default.removeItem(atPath: leftover) }
        }
    }
}

/// File operations outside `SQLiteStore` (whose `read`/`write` methods would shadow the C calls).
enum DurableFile {
    /// A byte copy through a new file of mode 0600 (O_EXCL), fsynced.
    static func copyFile(from source: String, to destination: String) throws {
        let input = open(source, O_RDONLY)
        guard input >= 0 else { throw StoreError(.unavailable, "cannot open \(source): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard output >= 0 else { throw StoreError(.unavailable, "cannot create \(destination): \(String(cString: strerror(errno)))") }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw StoreError(.unavailable, "cannot read \(source): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            var written = 0
            while written < count {
                let step = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, count - written) }
                if step < 0 {
                    if errno == EINTR { continue }
                    throw StoreError(.unavailable, "cannot write \(destination): \(String(cString: strerror(errno)))")
                }
                written += step
            }
        }
        guard fsync(output) == 0 else {
            throw StoreError(.unavailable, "cannot fsync \(destination): \(String(cString: strerror(errno)))")
        }
    }

    static func fsyncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw StoreError(.unavailable, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StoreError(.unavailable, "cannot fsync \(path): \(String(cString: strerror(errno)))") }
    }

    /// Makes a rename in the file's directory durable.
    static func fsyncDirectory(of path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw StoreError(.unavailable, "cannot open directory \(directory): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StoreError(.unavailable, "cannot fsync directory \(directory): \(String(cString: strerror(errno)))") }
    }
}

/// Reads tree nodes from a file being checked, one statement reused.
struct FileNodeReader: NodeReader {
    let interior: SQLiteStatement
    /// Reads leaves where the schema keeps them apart (`entries.leaf_hash`); nil: in `nodes` too.
    let leaf: SQLiteStatement?

    func node(level: Int, index: UInt64) throws -> Hash {
        let statement: SQLiteStatement
        if level == 0, let leaf {
            statement = leaf
            statement.reset()
            statement.bind(1, index)
        } else {
            statement = interior
            statement.reset()
            statement.bind(1, Int64(level))
            statement.bind(2, index)
        }
        guard try statement.step() else {
            throw StoreError(.inconsistent, "tree node at level \(level), index \(index) is missing")
        }
        return try statement.hash(0)
    }
}
