public import GreffeHTTP
public import Hummingbird
public import HummingbirdCore
public import Logging
public import ServiceLifecycle

/// Where and how the ledger's HTTP server listens.
public struct ServeConfiguration {
    public var address: BindAddress
    /// Request and connection limits, enforced by the connection guard.
    public var limits: HTTPLimits
    /// TLS wraps the guarded HTTP/1 server built from `limits` (see `HTTPServerBuilder.guardedHTTP1`).
    public var wrap: (HTTPServerBuilder) throws -> HTTPServerBuilder

    public init(
        address: BindAddress = .hostname("127.0.0.1", port: 8080), limits: HTTPLimits = HTTPLimits(),
        wrap: @escaping (HTTPServerBuilder) throws -> HTTPServerBuilder = { $0 }
    ) {
        self.address = address
        self.limits = limits
        self.wrap = wrap
    }
}

/// The ledger's HTTP application, the one assembly `greffe serve` runs and the
/// tests drive: every route on `GreffeRequestContext` (the client's address
/// for the anonymous rate limit), the guarded HTTP/1 server with `limits`
/// (slow and idle clients cut off, connections capped), and past twice that
/// cap no more accepts at all.
public func buildApplication(
    api: LedgerAPI, configuration: ServeConfiguration, services: [any Service] = [], logger: Logger = Logger(label: "greffe")
) throws -> some ApplicationProtocol {
    let router = Router(context: GreffeRequestContext.self)
    api.addRoutes(to: router)
    return Application(
        router: router,
        server: try configuration.wrap(.guardedHTTP1(limits: configuration.limits)),
        configuration: .init(
            address: configuration.address, serverName: "greffe",
            availableConnectionsDelegate: MaximumAvailableConnections(2 * configuration.limits.maxConnections)),
        services: services,
        logger: logger
    )
}
