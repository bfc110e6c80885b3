import ArgumentParser
import Foundation
import GreffeDataDirectory
import GreffePostgres
import GreffeServer
import GreffeStore
import Logging

/// Where a command finds the ledger: the data directory (signing key, and the
/// SQLite database by default) and, with `--postgres`, the shared PostgreSQL store.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The ledger's data directory (signing key; the SQLite database unless --postgres).")
    var data: String

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Keep the log in PostgreSQL: postgres://user@host:5432/database[?sslmode=verify-full|disable][&sslrootcert=CA.pem].",
            discussion:
                "TLS is verified (certificate and host name) unless sslmode=disable; unverified modes are refused. Give the password in PGPASSWORD rather than in the URL, where ps would show it."
        ))
    var postgres: String?

    @Option(name: .long, help: "PEM file of the CA that signs the PostgreSQL server's certificate (as sslrootcert in the URL).")
    var postgresCA: String?

    var directory: DataDirectory { DataDirectory(path: data) }

    func postgresLocation() throws -> PostgresLocation? {
        guard let postgres else { return nil }
        var location: PostgresLocation
        do { location = try PostgresLocation(url: postgres) } catch { throw ValidationError(error.description) }
        if let postgresCA {
            guard location.tlsMode == .verifyFull else { throw ValidationError("--postgres-ca goes with sslmode=verify-full, not disable") }
            location.rootCertificatePath = postgresCA
        }
        if location.password == nil, let password = ProcessInfo.processInfo.environment["PGPASSWORD"], !password.isEmpty {
            location.password = password
        }
        return location
    }

    func validate() throws {
        _ = try postgresLocation()
    }

    /// The store: PostgreSQL with `--postgres`, else the directory's SQLite file.
    func openStore(logger: Logger = Logger(label: "greffe.store")) async throws -> any LedgerStore {
        if let location = try postgresLocation() {
            return try await PostgresStore.connect(location, logger: logger)
        }
        return try directory.openStore()
    }
}
