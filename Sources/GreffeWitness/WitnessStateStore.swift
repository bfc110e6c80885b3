import CSQLite
public import GreffeCore
import Synchronization
import GreffeStore
import GreffeSQLite

/// What a witness remembers of one log: the latest checkpoint it cosigned.
public struct WitnessLogState: Sendable, Equatable {
    public var size: UInt64
    public var root: Hash
    /// The signed checkpoint note as the log sent it (evidence, not used for decisions).
    public var note: String
    /// The timestamp (POSIX seconds) of the latest cosignature on this state:
    /// the witness never signs an earlier one for this log, even if its clock steps back.
    public var timestamp: UInt64

    public init(size: UInt64, root: Hash, note: String, timestamp: UInt64 = 0) {
        self.size = size
        self.root = root
        self.note = note
        self.timestamp = timestamp
    }
}

/// A witness's durable state (c2sp.org/tlog-witness: "The witness MUST
/// persist the new checkpoint before responding"), in its own SQLite file.
///
/// Contract:
/// - `latest(origin:)` returns the state stored by the last `advance` that
///   returned true for that origin, or nil if there was none.
/// - `advance(origin:from:to:)` is a compare-and-swap: it stores `to` only if
///   the stored state is still `from` (nil: no state yet), and returns whether
///   it did. When it returns true the new state is on disk (WAL,
///   `synchronous = FULL`: the commit is fsynced), so a cosignature made after
///   it can never outlive its state in a crash.
/// - It never stores a smaller size than the stored one (the caller decides;
///   the store refuses such a swap as a broken invariant).
/// - Safe to call from any thread (one connection behind a lock); one process
///   per file (the witness command locks its directory).
public final class SQLiteWitnessStore: Sendable {
    static let schemaVersion: Int64 = 1
    private let connection: Mutex<SQLiteConnection>
    public let path: String

    public init(path: String) throws {
        let db = try SQLiteConnection.durable(path: path)
        let versionStatement = try db.statement("PRAGMA user_version")
        _ = try versionStatement.step()
        let version = versionStatement.int64(0)
        versionStatement.reset()
        if version != SQLiteWitnessStore.schemaVersion {
            guard version == 0 else {
                throw StoreError(.incompatibleSchema, "witness database schema version \(version) is not the version \(SQLiteWitnessStore.schemaVersion) this greffe understands")
            }
            try db.transaction {
                // One row per log origin: the latest cosigned size, root and note.
                try db.execute(
                    """
                    CREATE TABLE log_state (
                        origin TEXT PRIMARY KEY,
                        size INTEGER NOT NULL CHECK (size >= 0),
                        root BLOB NOT NULL CHECK (length(root) = 32),
                        note TEXT NOT NULL,
                        cosigned_at INTEGER NOT NULL CHECK (cosigned_at >= 0)
                    ) WITHOUT ROWID;
                    PRAGMA user_version = 1;
                    """)
            }
        }
        self.connection = Mutex(db)
        self.path = path
    }

    public func latest(origin: String) throws -> WitnessLogState? {
        try connection.withLock { db in
            defer { db.releaseStatements() }
            let select = try db.statement("SELECT size, root, note, cosigned_at FROM log_state WHERE origin = ?")
            select.bind(1, origin)
            guard try select.step() else { return nil }
            return WitnessLogState(size: select.uint64(0), root: try select.hash(1), note: select.string(2), timestamp: select.uint64(3))
        }
    }

    public func advance(origin: String, from expected: WitnessLogState?, to new: WitnessLogState) throws -> Bool {
        guard new.size <= UInt64(Int64.max), new.timestamp <= UInt64(Int64.max) else {
            throw StoreError(.inconsistent, "tree size \(new.size) or time \(new.timestamp) does not fit the witness database")
        }
        if let expected, new.size < expected.size {
            throw StoreError(.inconsistent, "witness state of \(origin) would go back from \(expected.size) to \(new.size)")
        }
        return try connection.withLock { db in
            defer { db.releaseStatements() }
            return try db.transaction {
                let statement: SQLiteStatement
                if let expected {
                    statement = try db.statement(
                        "UPDATE log_state SET size = ?, root = ?, note = ?, cosigned_at = ? WHERE origin = ? AND size = ? AND root = ? AND cosigned_at = ?")
                    statement.bind(5, origin)
                    statement.bind(6, expected.size)
                    statement.bind(7, expected.root)
                    statement.bind(8, expected.timestamp)
                } else {
                    statement = try db.statement(
                        "INSERT INTO log_state (size, root, note, cosigned_at, origin) VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO NOTHING")
                    statement.bind(5, origin)
                }
                statement.bind(1, new.size)
                statement.bind(2, new.root)
                statement.bind(3, new.note)
                statement.bind(4, new.timestamp)
                try statement.run()
                return sqlite3_changes(db.handle) == 1
            }
        }
    }
}
