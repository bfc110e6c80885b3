import Foundation
import NIOSSL
import PostgresNIO

/// Where the PostgreSQL store lives, from a `postgres://user:password@host:port/database?sslmode=…` URL.
///
/// `sslmode` follows libpq's names: `disable`, `prefer` (the default: TLS when
/// the server offers it, unverified), `require` (TLS, unverified) and
/// `verify-full` (TLS, certificate and host name verified against the system roots).
public struct PostgresLocation: Sendable, CustomStringConvertible {
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tlsMode: TLSMode

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
        var tlsMode = TLSMode.prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = TLSMode(rawValue: value) else {
                    throw PostgresLocationError("--postgres sslmode must be disable, prefer, require or verify-full")
                }
                tlsMode = mode
            default:
                throw PostgresLocationError("--postgres URL has an unknown parameter \"\(item.name)\"; only sslmode is understood")
            }
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = components.user?.removingPercentEncoding ?? user
        self.password = components.password?.removingPercentEncoding
        self.database = database.removingPercentEncoding ?? database
        self.tlsMode = tlsMode
    }

    /// The URL without its password: safe for logs and error messages.
    public var description: String {
        "postgres://\(username)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)?sslmode=\(tlsMode.rawValue)"
    }

    var clientConfiguration: PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch tlsMode {
            case .disable: .disable
            case .prefer: .prefer(Self.unverifiedTLS)
            case .require: .require(Self.unverifiedTLS)
            case .verifyFull: .require(.makeClientConfiguration())
            }
        return PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
    }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS =
            switch tlsMode {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: Self.unverifiedTLS))
            case .require: .require(try NIOSSLContext(configuration: Self.unverifiedTLS))
            case .verifyFull: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        return PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
    }

    /// libpq's `prefer` and `require` encrypt without checking who answers.
    private static var unverifiedTLS: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        return configuration
    }
}

public struct PostgresLocationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
