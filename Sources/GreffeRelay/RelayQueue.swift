import CSQLite
import Foundation
public import GreffeCore
import Synchronization
public import GreffeStore
import GreffeSQLite

/// `greffe relay`'s durable queue: every event a producer handed over, until
/// the ledger has it and its receipt verified, and the receipt after that.
///
/// One SQLite file in WAL mode with `synchronous = FULL`: `enqueue` returns
/// only once its transaction is on disk, so an event the relay acknowledged
/// survives `kill -9` and power loss. Event IDs are unique (a relay forwards
/// for one platform): handing over the same event again is a no-op, a
/// different body under the same ID is refused.
public final class RelayQueue: Sendable {
    /// Where an event is in its life in the relay.
    public enum State: Int64, Sendable {
        /// Durable here, not yet acknowledged by the ledger with a verified receipt.
        case queued = 0
        /// The ledger acknowledged it and its receipt verified against the ledger's key.
        case receipted = 1
        /// The ledger refused it for good (4xx): kept, never re-sent.
        case refused = 2
        /// The ledger answered for it with a proof or checkpoint that did not verify: kept, not re-sent until the operator looks.
        case suspect = 3
    }

    public struct Pending: Sendable, Equatable {
        public let sequence: Int64
        public let eventID: String
        public let body: [UInt8]
        public let attempts: Int

        public init(sequence: Int64, eventID: String, body: [UInt8], attempts: Int) {
            self.sequence = sequence
            self.eventID = eventID
            self.body = body
            self.attempts = attempts
        }
    }

    public struct Stored: Sendable, Equatable {
        public let eventID: String
        public let state: State
        public let receivedAtMilliseconds: Int64
        /// The ledger's receipt as the relay verified it (`Schemas/relay.md`), once receipted.
        public let receipt: String?
        public let logIndex: UInt64?
        public let lastError: String?
    }

    /// The trusted head: the latest checkpoint whose signature and consistency with every earlier one verified.
    public struct Head: Sendable, Equatable {
        public let size: UInt64
        public let root: Hash
        public let note: String
        public init(size: UInt64, root: Hash, note: String) {
            self.size = size
            self.root = root
            self.note = note
        }
    }

    public struct Alarm: Sendable, Equatable {
        public let atMilliseconds: Int64
        public let kind: String
        public let message: String
        /// The operator ran `greffe relay resume` after it.
        public let resolved: Bool
    }

    public struct Counts: Sendable, Equatable {
        public var queued = 0
        public var receipted = 0
        public var refused = 0
        public var suspect = 0
        /// Receive time of the oldest event not yet receipted (queued or suspect), if any.
        public var oldestUnacknowledgedMilliseconds: Int64?
        /// The queue file's size (bodies, receipts and indexes; the WAL apart).
        public var databaseBytes: Int64 = 0
        /// Bytes of the bodies not yet receipted: what the quota bounds.
        public var unreceiptedBytes: Int64 = 0
    }

    public enum EnqueueOutcome: Sendable, Equatable {
        case queued
        /// The same event was already handed over: nothing written.
        case duplicate
    }

    private let connection: Mutex<SQLiteConnectionBox>
    public let path: String

    public init(path: String) throws {
        let connection = try SQLiteConnection.durable(path: path)
        try connection.execute(
            """
            CREATE TABLE IF NOT EXISTS relay_events (
              seq INTEGER PRIMARY KEY AUTOINCREMENT,
              event_id TEXT NOT NULL UNIQUE,
              body BLOB NOT NULL,
              body_sha256 BLOB NOT NULL,
              received_ms INTEGER NOT NULL,
              state INTEGER NOT NULL DEFAULT 0,
              attempts INTEGER NOT NULL DEFAULT 0,
              log_index INTEGER,
              receipt TEXT,
              last_error TEXT
            );
            CREATE INDEX IF NOT EXISTS relay_events_state ON relay_events(state, seq);
            CREATE TABLE IF NOT EXISTS relay_head (
              id INTEGER PRIMARY KEY CHECK (id = 1),
              size INTEGER NOT NULL,
              root BLOB NOT NULL,
              note TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS relay_counters (
              name TEXT PRIMARY KEY,
              value INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS relay_alarms (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              at_ms INTEGER NOT NULL,
              kind TEXT NOT NULL,
              message TEXT NOT NULL,
              resolved INTEGER NOT NULL DEFAULT 0
            );
            """)
        self.connection = Mutex(SQLiteConnectionBox(connection))
        self.path = path
    }

    private func withConnection<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try connection.withLock { box in
            defer { box.connection.releaseStatements() }
            return try body(box.connection)
        }
    }

    /// Writes the events in one transaction, durable when this returns. An event ID already held
    /// with the same body is a duplicate (nothing written); with another body the whole call is
    /// refused (`StoreError.duplicate`) and nothing is written.
    public func enqueue(_ events: [(eventID: String, body: [UInt8])], receivedAtMilliseconds: Int64) throws -> [EnqueueOutcome] {
        try enqueueGroups([events], receivedAtMilliseconds: receivedAtMilliseconds)[0].get()
    }

    /// Several producers' requests in one transaction, so one fsync covers them all (group
    /// commit). Each group is all or nothing on its own (a savepoint each): a group with an event
    /// ID already held under another body fails alone with `StoreError.duplicate`, the others are
    /// written. Durable when this returns; a failed commit fails every group.
    public func enqueueGroups(_ groups: [[(eventID: String, body: [UInt8])]], receivedAtMilliseconds: Int64) throws -> [Result<[EnqueueOutcome], StoreError>] {
        try withConnection { db in
            try db.transaction {
                var results: [Result<[EnqueueOutcome], StoreError>] = []
                results.reserveCapacity(groups.count)
                let find = try db.statement("SELECT body_sha256 FROM relay_events WHERE event_id = ?1")
                let insert = try db.statement("INSERT INTO relay_events (event_id, body, body_sha256, received_ms) VALUES (?1, ?2, ?3, ?4)")
                for group in groups {
                    try db.execute("SAVEPOINT relay_group")
                    do {
                        var outcomes: [EnqueueOutcome] = []
                        outcomes.reserveCapacity(group.count)
                        var seen: [String: Hash] = [:]
                        for event in group {
                            let digest = MerkleHash.sha256(event.body)
                            find.reset()
                            find.bind(1, event.eventID)
                            var existing: Hash? = seen[event.eventID]
                            if existing == nil, try find.step() { existing = try find.hash(0) }
                            find.reset()
                            if let existing {
                                guard existing == digest else {
                                    throw StoreError(.duplicate, "event \(event.eventID.prefix(128)) was already handed over with a different body")
                                }
                                outcomes.append(.duplicate)
                                continue
                            }
                            insert.reset()
                            insert.bind(1, event.eventID)
                            insert.bind(2, event.body)
                            insert.bind(3, digest)
                            insert.bind(4, receivedAtMilliseconds)
                            try insert.run()
                            seen[event.eventID] = digest
                            outcomes.append(.queued)
                        }
                        try db.execute("RELEASE relay_group")
                        results.append(.success(outcomes))
                    } catch let error as StoreError where error.code == .duplicate {
                        try db.execute("ROLLBACK TO relay_group")
                        try db.execute("RELEASE relay_group")
                        results.append(.failure(error))
                    }
                }
                return results
            }
        }
    }

    /// The oldest queued events, at most `limit`, in the order they were handed over.
    public func pending(limit: Int) throws -> [Pending] {
        try withConnection { db in
            let statement = try db.statement("SELECT seq, event_id, body, attempts FROM relay_events WHERE state = 0 ORDER BY seq LIMIT ?1")
            statement.bind(1, Int64(limit))
            var out: [Pending] = []
            while try statement.step() {
                out.append(Pending(sequence: statement.int64(0), eventID: statement.string(1), body: statement.blob(2), attempts: Int(statement.int64(3))))
            }
            return out
        }
    }

    /// Counts one more attempt at sending these events (a failure), with what went wrong.
    public func recordAttempt(eventIDs: [String], error: String) throws {
        try withConnection { db in
            try db.transaction {
                let statement = try db.statement("UPDATE relay_events SET attempts = attempts + 1, last_error = ?2 WHERE event_id = ?1 AND state = 0")
                for id in eventIDs {
                    statement.reset()
                    statement.bind(1, id)
                    statement.bind(2, String(error.prefix(500)))
                    try statement.run()
                }
            }
        }
    }

    /// Records verified receipts and the new trusted head in one transaction.
    public func recordReceipts(_ receipts: [(eventID: String, logIndex: UInt64, receipt: String)], head: Head) throws {
        try withConnection { db in
            try db.transaction {
                let statement = try db.statement(
                    "UPDATE relay_events SET state = 1, log_index = ?2, receipt = ?3, last_error = NULL WHERE event_id = ?1")
                for receipt in receipts {
                    statement.reset()
                    statement.bind(1, receipt.eventID)
                    statement.bind(2, receipt.logIndex)
                    statement.bind(3, receipt.receipt)
                    try statement.run()
                }
                try Self.writeHead(head, db: db)
            }
        }
    }

    /// Marks events the ledger refused for good, or answered for with proofs that did not verify.
    public func mark(eventIDs: [String], state: State, error: String) throws {
        try withConnection { db in
            try db.transaction {
                let statement = try db.statement("UPDATE relay_events SET state = ?2, last_error = ?3 WHERE event_id = ?1 AND state != 1")
                for id in eventIDs {
                    statement.reset()
                    statement.bind(1, id)
                    statement.bind(2, state.rawValue)
                    statement.bind(3, String(error.prefix(500)))
                    try statement.run()
                }
            }
        }
    }

    public func event(id: String) throws -> Stored? {
        try withConnection { db in
            let statement = try db.statement("SELECT event_id, state, received_ms, receipt, log_index, last_error FROM relay_events WHERE event_id = ?1")
            statement.bind(1, id)
            guard try statement.step() else { return nil }
            return Stored(
                eventID: statement.string(0), state: State(rawValue: statement.int64(1)) ?? .queued, receivedAtMilliseconds: statement.int64(2),
                receipt: statement.isNull(3) ? nil : statement.string(3), logIndex: statement.isNull(4) ? nil : statement.uint64(4),
                lastError: statement.isNull(5) ? nil : statement.string(5))
        }
    }

    /// The queue's figures. Read through the state index: the per-state counts from the index
    /// alone, sizes and ages from the rows not yet receipted only, the file's size from SQLite's
    /// page count; so a relay holding years of receipts answers its status without reading them.
    public func counts() throws -> Counts {
        try withConnection { db in
            var counts = Counts()
            let perState = try db.statement("SELECT state, count(*) FROM relay_events GROUP BY state")
            while try perState.step() {
                let number = Int(perState.int64(1))
                switch State(rawValue: perState.int64(0)) {
                case .queued: counts.queued = number
                case .receipted: counts.receipted = number
                case .refused: counts.refused = number
                case .suspect: counts.suspect = number
                case nil: break
                }
            }
            let waiting = try db.statement(
                "SELECT state, coalesce(sum(length(body)), 0), min(received_ms) FROM relay_events WHERE state IN (0, 2, 3) GROUP BY state")
            while try waiting.step() {
                counts.unreceiptedBytes += waiting.int64(1)
                if waiting.int64(0) != State.refused.rawValue {
                    let oldest = waiting.int64(2)
                    counts.oldestUnacknowledgedMilliseconds = min(counts.oldestUnacknowledgedMilliseconds ?? oldest, oldest)
                }
            }
            let pages = try db.statement("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
            if try pages.step() { counts.databaseBytes = pages.int64(0) }
            return counts
        }
    }

    /// Bytes of the bodies not yet receipted (queued, refused, suspect): what the quota bounds.
    public func unreceiptedBytes() throws -> Int64 {
        try withConnection { db in
            let statement = try db.statement("SELECT coalesce(sum(length(body)), 0) FROM relay_events WHERE state IN (0, 2, 3)")
            _ = try statement.step()
            return statement.int64(0)
        }
    }

    /// Drops the bodies of events receipted and received before `receivedBefore` (their receipts,
    /// IDs and body digests stay: a re-sent event is still a duplicate). Returns how many.
    public func pruneDeliveredBodies(receivedBeforeMilliseconds: Int64) throws -> Int {
        try withConnection { db in
            let statement = try db.statement("UPDATE relay_events SET body = x'' WHERE state = 1 AND received_ms < ?1 AND length(body) > 0")
            statement.bind(1, receivedBeforeMilliseconds)
            try statement.run()
            return Int(sqlite3_changes(db.handle))
        }
    }

    public func head() throws -> Head? {
        try withConnection { db in
            let statement = try db.statement("SELECT size, root, note FROM relay_head WHERE id = 1")
            guard try statement.step() else { return nil }
            return Head(size: statement.uint64(0), root: try statement.hash(1), note: statement.string(2))
        }
    }

    public func setHead(_ head: Head) throws {
        try withConnection { db in try Self.writeHead(head, db: db) }
    }

    private static func writeHead(_ head: Head, db: SQLiteConnection) throws {
        let statement = try db.statement("INSERT OR REPLACE INTO relay_head (id, size, root, note) VALUES (1, ?1, ?2, ?3)")
        statement.bind(1, head.size)
        statement.bind(2, head.root)
        statement.bind(3, head.note)
        try statement.run()
    }

    /// A small durable counter (the forwarder's rollback strikes), 0 when never set.
    public func counter(_ name: String) throws -> Int {
        try withConnection { db in
            let statement = try db.statement("SELECT value FROM relay_counters WHERE name = ?1")
            statement.bind(1, name)
            return try statement.step() ? Int(statement.int64(0)) : 0
        }
    }

    public func setCounter(_ name: String, _ value: Int) throws {
        try withConnection { db in
            let statement = try db.statement("INSERT OR REPLACE INTO relay_counters (name, value) VALUES (?1, ?2)")
            statement.bind(1, name)
            statement.bind(2, Int64(value))
            try statement.run()
        }
    }

    public func raiseAlarm(kind: String, message: String, atMilliseconds: Int64) throws {
        try withConnection { db in
            let statement = try db.statement("INSERT INTO relay_alarms (at_ms, kind, message) VALUES (?1, ?2, ?3)")
            statement.bind(1, atMilliseconds)
            statement.bind(2, kind)
            statement.bind(3, String(message.prefix(2000)))
            try statement.run()
        }
    }

    public func alarms() throws -> [Alarm] {
        try withConnection { db in
            let statement = try db.statement("SELECT at_ms, kind, message, resolved FROM relay_alarms ORDER BY id")
            var out: [Alarm] = []
            while try statement.step() {
                out.append(Alarm(atMilliseconds: statement.int64(0), kind: statement.string(1), message: statement.string(2), resolved: statement.int64(3) != 0))
            }
            return out
        }
    }

    /// The operator's `greffe relay resume`: alarms resolved (kept), suspect events queued again,
    /// and with `forgetHead` the trusted head dropped so that the ledger's next checkpoint is trusted
    /// as it is (after a fork the operator has judged). Returns the number of events queued again.
    public func resume(forgetHead: Bool) throws -> Int {
        try withConnection { db in
            try db.transaction {
                try db.execute("UPDATE relay_alarms SET resolved = 1 WHERE resolved = 0")
                try db.execute("UPDATE relay_events SET state = 0 WHERE state = 3")
                let requeued = Int(sqlite3_changes(db.handle))
                if forgetHead { try db.execute("DELETE FROM relay_head") }
                return requeued
            }
        }
    }
}

/// `SQLiteConnection` is used only under the queue's mutex.
private final class SQLiteConnectionBox: @unchecked Sendable {
    let connection: SQLiteConnection
    init(_ connection: SQLiteConnection) { self.connection = connection }
}
