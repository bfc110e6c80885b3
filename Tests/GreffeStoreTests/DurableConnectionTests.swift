import Foundation
import Testing

@testable import GreffeSQLite
@testable import GreffeStore

/// Every greffe database that acknowledges something opens through `SQLiteConnection.durable`:
/// what it sets is read back from SQLite, and a database where WAL cannot be set is refused.
@Suite struct DurableConnectionTests {
    static func pragma(_ connection: SQLiteConnection, _ name: String) throws -> String {
        let statement = try connection.statement("PRAGMA \(name)")
        defer { connection.releaseStatements() }
        return try statement.step() ? statement.string(0) : ""
    }

    @Test func commitsAreFsyncedInWriteAheadLogging() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-durable-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let connection = try SQLiteConnection.durable(path: path, busyTimeoutMilliseconds: 1_234)
        #expect(try Self.pragma(connection, "journal_mode") == "wal")
        #expect(try Self.pragma(connection, "synchronous") == "2")  // FULL
        #expect(try Self.pragma(connection, "busy_timeout") == "1234")
        // The ledger's store, which sets more on top, goes through the same door.
        _ = try SQLiteStore(path: path)
        #expect(try Self.pragma(SQLiteConnection(path: path), "journal_mode") == "wal", "WAL is the file's mode, kept across connections")
    }

    @Test func aDatabaseWithoutWriteAheadLoggingIsRefused() throws {
        // An in-memory database keeps journal mode "memory" whatever is asked: SQLite does not say no.
        let error = #expect(throws: StoreError.self) { try SQLiteConnection.durable(path: ":memory:") }
        #expect(error?.description.contains("cannot use write-ahead logging (journal mode memory)") == true)
    }
}
