import CSQLite
package import GreffeCore
package import GreffeStore

/// SQLITE_TRANSIENT: SQLite copies bound bytes before the call returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A thin owner of one `sqlite3*`. Not thread-safe: each is used under a lock.
package final class SQLiteConnection {
    package let handle: OpaquePointer
    package let path: String
    private var statements: [String: SQLiteStatement] = [:]
    /// Statements handed out since the last `releaseStatements()`: a statement
    /// left mid-step would hold its read transaction, and so an old snapshot.
    private var inUse: [SQLiteStatement] = []

    package init(path: String, readOnly: Bool = false) throws {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw StoreError(.unavailable, "cannot open SQLite database \(path): \(message)")
        }
        sqlite3_extended_result_codes(db, 1)
        self.handle = db
        self.path = path
    }

    /// A connection whose commits survive a crash or a power loss: write-ahead logging (readers beside
    /// the writer), every commit fsynced (`synchronous = FULL`), and up to `busyTimeoutMilliseconds` of
    /// waiting for a lock. Every greffe database that acknowledges something (the ledger, the witness's
    /// state, the relay's queue) opens this way. Where WAL cannot be set (`:memory:`, a file system
    /// without shared memory), SQLite silently keeps another journal mode: that is refused here.
    package static func durable(path: String, busyTimeoutMilliseconds: Int32 = 5_000) throws -> SQLiteConnection {
        let connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA busy_timeout = \(busyTimeoutMilliseconds)")
        let journal = try connection.statement("PRAGMA journal_mode = WAL")
        let mode = try journal.step() ? journal.string(0).lowercased() : ""
        journal.reset()
        guard mode == "wal" else {
            throw StoreError(.unavailable, "SQLite database \(path) cannot use write-ahead logging (journal mode \(mode.isEmpty ? "unknown" : mode)); greffe needs it to make commits durable")
        }
        try connection.execute("PRAGMA synchronous = FULL")
        connection.releaseStatements()
        return connection
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    package func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? "code \(rc)"
            sqlite3_free(error)
            throw SQLiteConnection.storeError(code: rc, message: "\(message) (in: \(sql.prefix(60)))")
        }
    }

    /// A cached prepared statement, reset and cleared for reuse.
    package func statement(_ sql: String) throws -> SQLiteStatement {
        if let cached = statements[sql] {
            cached.reset()
            inUse.append(cached)
            return cached
        }
        var raw: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard rc == SQLITE_OK, let raw else { throw error(rc, sql) }
        let statement = SQLiteStatement(raw: raw, connection: self)
        statements[sql] = statement
        inUse.append(statement)
        return statement
    }

    /// Resets every statement used since the last call, ending their implicit read transactions.
    package func releaseStatements() {
        for statement in inUse { statement.reset() }
        inUse.removeAll(keepingCapacity: true)
    }

    package func error(_ code: Int32, _ context: String) -> StoreError {
        SQLiteConnection.storeError(code: code, message: "\(String(cString: sqlite3_errmsg(handle))) (in: \(context.prefix(60)))")
    }

    /// Maps SQLite's result codes to the store's: disk full, read-only, I/O
    /// and corruption all mean the database cannot be used now.
    package static func storeError(code: Int32, message: String) -> StoreError {
        switch code & 0xff {
        case SQLITE_CONSTRAINT: return StoreError(.duplicate, "SQLite constraint: \(message)")
        case SQLITE_FULL: return StoreError(.unavailable, "disk full: \(message)")
        case SQLITE_READONLY: return StoreError(.unavailable, "database is read-only: \(message)")
        case SQLITE_CORRUPT, SQLITE_NOTADB: return StoreError(.unavailable, "database file is corrupt: \(message)")
        case SQLITE_IOERR, SQLITE_CANTOPEN: return StoreError(.unavailable, "database I/O error: \(message)")
        default: return StoreError(.unavailable, "SQLite error \(code): \(message)")
        }
    }

    /// Runs `body` in one IMMEDIATE transaction: committed if it returns, rolled back if it throws.
    package func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            // A statement left mid-step (a SELECT that returned its row) keeps the
            // connection in a read transaction past COMMIT, and SQLite refuses to
            // checkpoint from a connection in a transaction: the WAL would grow for good.
            releaseStatements()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

package final class SQLiteStatement {
    package let raw: OpaquePointer
    unowned let connection: SQLiteConnection

    package init(raw: OpaquePointer, connection: SQLiteConnection) {
        self.raw = raw
        self.connection = connection
    }

    deinit { sqlite3_finalize(raw) }

    package func reset() {
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
    }

    package func bind(_ position: Int32, _ value: Int64) {
        sqlite3_bind_int64(raw, position, value)
    }

    package func bind(_ position: Int32, _ value: UInt64) {
        // Indices and sizes stay far below 2^63.
        sqlite3_bind_int64(raw, position, Int64(bitPattern: value))
    }

    package func bind(_ position: Int32, _ value: String) {
        sqlite3_bind_text(raw, position, value, -1, transient)
    }

    package func bind(_ position: Int32, _ value: [UInt8]) {
        // A failed bind (only SQLITE_TOOBIG or a wrong position, both programming errors) surfaces at step().
        _ = value.withUnsafeBytes { sqlite3_bind_blob(raw, position, $0.baseAddress, Int32($0.count), transient) }
    }

    package func bind(_ position: Int32, _ value: Hash) {
        _ = value.withUnsafeBytes { sqlite3_bind_blob(raw, position, $0.baseAddress, 32, transient) }
    }

    /// The first `byteCount` bytes of `value`.
    package func bind(_ position: Int32, prefix byteCount: Int32, of value: Hash) {
        _ = value.withUnsafeBytes { sqlite3_bind_blob(raw, position, $0.baseAddress, min(byteCount, 32), transient) }
    }

    package func bindNull(_ position: Int32) {
        sqlite3_bind_null(raw, position)
    }

    /// Steps once: true when a row is available, false when done.
    package func step() throws -> Bool {
        let rc = sqlite3_step(raw)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error(rc, String(cString: sqlite3_sql(raw)))
        }
    }

    /// Steps a statement that returns no row.
    package func run() throws {
        while try step() {}
    }

    package func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(raw, column) }
    package func uint64(_ column: Int32) -> UInt64 { UInt64(bitPattern: sqlite3_column_int64(raw, column)) }
    package func isNull(_ column: Int32) -> Bool { sqlite3_column_type(raw, column) == SQLITE_NULL }

    package func string(_ column: Int32) -> String {
        guard let text = sqlite3_column_text(raw, column) else { return "" }
        return String(cString: text)
    }

    package func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(raw, column))
        guard count > 0, let pointer = sqlite3_column_blob(raw, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    package func hash(_ column: Int32) throws -> Hash {
        let count = Int(sqlite3_column_bytes(raw, column))
        guard count == 32, let pointer = sqlite3_column_blob(raw, column),
            let hash = Hash(bytes: UnsafeRawBufferPointer(start: pointer, count: count))
        else { throw StoreError(.inconsistent, "stored hash is not 32 bytes") }
        return hash
    }
}
