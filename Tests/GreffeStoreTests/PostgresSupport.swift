import Foundation
import GreffePostgres
import Logging
import PostgresNIO
import Testing

/// The PostgreSQL server the tests may use, and a new database per test.
enum PostgresTestServer {
    static let url = ProcessInfo.processInfo.environment["GREFFE_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
    static let logger = Logger(label: "greffe.test.postgres")

    /// Creates an empty database on the test server and returns where it is.
    static func freshDatabase() async throws -> PostgresLocation {
        let server = try PostgresLocation(url: try #require(url, "GREFFE_TEST_POSTGRES is not set"))
        let name = "greffe_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await withAdminConnection(server) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        }
        var location = server
        location.database = name
        return location
    }

    /// Runs SQL as the test server's user on `location`'s database (to damage it on purpose).
    static func execute(_ sql: String, on location: PostgresLocation) async throws {
        try await withAdminConnection(location) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }

    /// The one integer a query answers (a count).
    static func integer(_ sql: String, on location: PostgresLocation) async throws -> Int64 {
        var value: Int64 = -1
        try await withAdminConnection(location) { connection in
            for try await found in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int64.self) { value = found }
        }
        return value
    }

    private static func withAdminConnection(_ location: PostgresLocation, _ body: (PostgresConnection) async throws -> Void) async throws {
        let configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.username, password: location.password,
            database: location.database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        do {
            try await body(connection)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

@Suite("PostgreSQL test server")
struct PostgresTestServerTests {
    @Test("the PostgreSQL backend is tested whenever the test command requires it")
    func requiredServerPresent() {
        if ProcessInfo.processInfo.environment["GREFFE_REQUIRE_POSTGRES"] == "1" {
            #expect(PostgresTestServer.url != nil, "GREFFE_REQUIRE_POSTGRES=1 but GREFFE_TEST_POSTGRES is not set")
            #expect(StoreBackend.available.contains(.postgres))
        }
    }
}
