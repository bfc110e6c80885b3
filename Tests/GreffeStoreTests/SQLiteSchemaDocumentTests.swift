import Foundation
import Testing

@testable import GreffeSQLite
@testable import GreffeStore

/// `Schemas/sqlite.sql` is what auditors read to query a ledger's file directly; it is kept by
/// hand, so this holds it equal to what the code creates: the same tables, columns (name,
/// type, NOT NULL, primary key position), indexes (columns, uniqueness, partial or not),
/// triggers and views, and the same `user_version`.
@Suite("Schemas/sqlite.sql")
struct SQLiteSchemaDocumentTests {
    static func schemaDocument() throws -> String {
        var directory = URL(fileURLWithPath: #filePath)
        while directory.path != "/" {
            directory.deleteLastPathComponent()
            let candidate = directory.appendingPathComponent("Schemas/sqlite.sql")
            if FileManager.default.fileExists(atPath: candidate.path) { return try String(contentsOf: candidate, encoding: .utf8) }
        }
        throw CocoaError(.fileNoSuchFile)
    }

    /// Every object of the database at `path`, described by what the engine reports about it.
    static func describe(_ db: SQLiteConnection) throws -> [String] {
        var lines: [String] = []
        let objects = try db.statement("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
        var found: [(type: String, name: String, table: String, sql: String)] = []
        while try objects.step() {
            found.append((objects.string(0), objects.string(1), objects.string(2), objects.isNull(3) ? "" : objects.string(3)))
        }
        db.releaseStatements()
        for object in found {
            switch object.type {
            case "table":
                let columns = try db.statement("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid")
                columns.bind(1, object.name)
                var described: [String] = []
                while try columns.step() { described.append("\(columns.string(0)) \(columns.string(1).uppercased()) notnull=\(columns.int64(2)) pk=\(columns.int64(3))") }
                db.releaseStatements()
                let withoutRowID = object.sql.uppercased().contains("WITHOUT ROWID")
                lines.append("table \(object.name)\(withoutRowID ? " without rowid" : ""): " + described.joined(separator: ", "))
            case "index":
                let columns = try db.statement("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
                columns.bind(1, object.name)
                var names: [String] = []
                while try columns.step() { names.append(columns.isNull(0) ? "<expression>" : columns.string(0)) }
                db.releaseStatements()
                let unique = object.sql.uppercased().hasPrefix("CREATE UNIQUE")
                let partial = object.sql.uppercased().contains(" WHERE ")
                lines.append("index \(object.name) on \(object.table)(\(names.joined(separator: ", ")))\(unique ? " unique" : "")\(partial ? " partial" : "")")
            default:
                lines.append("\(object.type) \(object.name) on \(object.table)")
            }
        }
        let version = try db.statement("PRAGMA user_version")
        _ = try version.step()
        lines.append("user_version \(version.int64(0))")
        db.releaseStatements()
        return lines
    }

    @Test("Schemas/sqlite.sql creates exactly the tables, columns, indexes and triggers the code creates")
    func documentMatchesCode() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let storePath = directory.appendingPathComponent("greffe.sqlite").path
        do { _ = try SQLiteStore(path: storePath) }
        let fromCode = try Self.describe(try SQLiteConnection(path: storePath, readOnly: true))

        let documented = try SQLiteConnection(path: directory.appendingPathComponent("document.sqlite").path)
        let text = try Self.schemaDocument()
        try documented.execute(text)
        // The document states the version in its first line; the code sets it with a PRAGMA.
        if let line = text.split(separator: "\n").first, let range = line.range(of: "user_version = ") {
            let number = line[range.upperBound...].prefix { $0.isNumber }
            try documented.execute("PRAGMA user_version = \(number)")
        }
        let fromDocument = try Self.describe(documented)
        let missing = fromCode.filter { !fromDocument.contains($0) }
        let extra = fromDocument.filter { !fromCode.contains($0) }
        #expect(missing.isEmpty, "in the code's database, not as Schemas/sqlite.sql says: \(missing)")
        #expect(extra.isEmpty, "in Schemas/sqlite.sql, not in the code's database: \(extra)")
    }
}
