import Foundation
import NIOSSL
import PostgresNIO

/// Where the PostgreSQL store lives, from a `postgres://user:password@host:port/database?sslmode=…` URL.
///
/// `sslmode` follows libpq's names, but only two of them: `verify-full` (the
/// default: TLS, the server's certificate and host name verified, against
/// `sslrootcert=FILE` (PEM) when given, else the system roots) and `disable`
/// (no TLS: a local socket or a private link you trust). libpq's `prefer`
/// and `require` encrypt without checking who answers, so whoever sits on
/// the path could read the bodies and write the log: they are refused.
public struct PostgresLocation: Sendable, CustomStringConvertible {
    public enum TLSMode: String, Sendable {
        case disable
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tlsMode: TLSMode
    /// PEM file of the CA(s) that sign the server's certificate (`sslrootcert`, `--postgres-ca`).
    public var rootCertificatePath: String?
    /// The schema that holds the store's tables, when not the database's default (`public`): a temporal shard
    /// k ≥ 1 lives in schema `greffe_shard_<k>` (`PostgresShardStorage`). Set in code, never from the URL; it is
    /// every connection's `search_path`, so the store's SQL, all unqualified, reads and writes only that schema.
    public var schema: String?

    public init(url: String) throws(PostgresLocationError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw PostgresLocationError("--postgres must be a URL like postgres://user:password@host:5432/database")
        }
        guard let host = components.host, !host.isEmpty else {
            throw PostgresLocationError("--postgres URL has no host")
        }
        guard let user = components.user, !user.isEmpty else {
            throw PostgresLocationError("--postgres URL has no user name")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw PostgresLocationError("--postgres URL must name one database, e.g. postgres://greffe@db:5432/greffe")
        }
        var tlsMode = TLSMode.verifyFull
        var rootCertificatePath: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                if item.value == "prefer" || item.value == "require" || item.value == "verify-ca" {
                    throw PostgresLocationError(
                        "--postgres sslmode=\(item.value!) would not check the server's certificate and host name: use verify-full (with sslrootcert=FILE or --postgres-ca FILE for a private CA), or disable on a link you trust")
                }
                guard let value = item.value, let mode = TLSMode(rawValue: value) else {
                    throw PostgresLocationError("--postgres sslmode must be verify-full (the default) or disable")
                }
                tlsMode = mode
            case "sslrootcert":
                guard let value = item.value, !value.isEmpty else { throw PostgresLocationError("--postgres sslrootcert needs a file") }
                rootCertificatePath = value
            default:
                throw PostgresLocationError("--postgres URL has an unknown parameter \"\(item.name)\"; only sslmode and sslrootcert are understood")
            }
        }
        if rootCertificatePath != nil && tlsMode == .disable {
            throw PostgresLocationError("--postgres sslrootcert goes with sslmode=verify-full, not disable")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = components.user?.removingPercentEncoding ?? user
        self.password = components.password?.removingPercentEncoding
        self.database = database.removingPercentEncoding ?? database
        self.tlsMode = tlsMode
        self.rootCertificatePath = rootCertificatePath
    }

    /// The URL without its password: safe for logs and error messages.
    public var description: String {
        "postgres://\(username)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)?sslmode=\(tlsMode.rawValue)"
            + (rootCertificatePath.map { "&sslrootcert=\($0)" } ?? "") + (schema.map { " (schema \($0))" } ?? "")
    }

    func clientConfiguration() throws -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch tlsMode {
            case .disable: .disable
            case .verifyFull: .require(try verifiedTLS())
            }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }

    /// What every connection to this store sets at start-up: the schema, when it is not the default.
    var startupParameters: [(String, String)] {
        schema.map { [("search_path", "\"\($0)\"")] } ?? []
    }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS =
            switch tlsMode {
            case .disable: .disable
            case .verifyFull: .require(try NIOSSLContext(configuration: try verifiedTLS()))
            }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }

    /// Certificate and host name checked (NIOSSL's default), TLS 1.2 at least.
    func verifiedTLS() throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        if let rootCertificatePath {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(rootCertificatePath))
            } catch {
                throw PostgresLocationError("cannot read the PostgreSQL CA certificate \(rootCertificatePath): \(error)")
            }
        }
        return configuration
    }
}

public struct PostgresLocationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
