import Testing

@testable import GreffePostgres
@testable import GreffeSQLite
@testable import GreffeStore

@Suite("Schema migrations")
struct SchemaMigrationsTests {
    let migrations = SchemaMigrations(["create", "to 2", "to 3"])

    @Test("a new database runs every step; one at version V runs the steps after V; a current one none")
    func pendingSteps() throws {
        #expect(try migrations.pending(from: nil, database: "new").map(\.version) == [1, 2, 3])
        #expect(try migrations.pending(from: nil, database: "new").map(\.step) == ["create", "to 2", "to 3"])
        #expect(try migrations.pending(from: 1, database: "v1").map(\.step) == ["to 2", "to 3"])
        #expect(try migrations.pending(from: 2, database: "v2").map(\.version) == [3])
        #expect(try migrations.pending(from: 3, database: "v3").isEmpty)
    }

    @Test("a version the code does not know is refused, naming the database; a newer one says so", arguments: [Int64(0), -1, 4, 99, .max, .min])
    func unknownVersions(version: Int64) {
        do {
            _ = try migrations.pending(from: version, database: "database X")
            Issue.record("version \(version) was accepted")
        } catch let error as StoreError {
            #expect(error.code == .incompatibleSchema)
            #expect(error.message.contains("database X has schema version \(version)"))
            #expect(error.message.contains("newer greffe") == (version > 3))
        } catch {
            Issue.record("not a store error: \(error)")
        }
    }

    @Test("both stores number their steps from 1 to their schema version; PostgreSQL's sections are its @version markers in order")
    func storesFollowTheRule() {
        #expect(SQLiteStore.schemaVersion == Int64(SQLiteStore.migrations.steps.count))
        let sections = PostgresStore.migrations.steps
        #expect(sections.count == PostgresStore.schemaVersion)
        #expect(sections.joined() == PostgresStore.schema + "\n")
        for (offset, section) in sections.enumerated().dropFirst() {
            let version = offset + 1
            #expect(section.trimmingCharacters(in: .whitespaces).hasPrefix("-- @version \(version)\n"), "section \(version)")
            // Each step records the version it brings the database to, in its own transaction.
            #expect(section.contains("UPDATE greffe_meta SET value = '\(version)' WHERE key = 'schema_version';"), "section \(version)")
        }
        #expect(sections[0].contains("('schema_version', '1')"))
        // A marker out of order would shift every later section onto the wrong version.
        let shuffled = PostgresStore.sections(of: "a\n-- @version 3\nb\n-- @version 2\nc")
        #expect(shuffled.count == 3 && shuffled[1].hasPrefix("-- @version 3"))
    }
}
