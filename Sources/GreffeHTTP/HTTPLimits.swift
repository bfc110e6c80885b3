public import Hummingbird
public import HummingbirdCore
import Logging
import NIOCore

/// What one client may ask of the HTTP server before its request reaches the
/// router. Past each limit the client gets a 4xx (or 503) with a JSON
/// `{"error": …}` body and the connection is closed; see `ConnectionGuard`.
public struct HTTPLimits: Sendable {
    /// Longest request line or header line, in bytes (the URL counts here). Past it: 431.
    public var maxHeaderLineBytes = 16 * 1024
    /// The request line and all header lines together, in bytes. Past it: 431.
    public var maxHeadBytes = 64 * 1024
    /// Header fields in one request. Past it: 431.
    public var maxHeaderFields = 100
    /// From the first byte of a request to the end of its head (slow headers, "slowloris"). Past it: 408.
    public var headTimeout: Duration = .seconds(10)
    /// From the end of a request's head to the end of its body (slow bodies). Past it: 408.
    public var bodyTimeout: Duration = .seconds(60)
    /// A connection with no request in progress is closed after this.
    public var idleTimeout: Duration = .seconds(30)
    /// Open connections at once, and never more than the open-file limit
    /// allows less `ConnectionRegistry.reservedDescriptors`. Past it the
    /// oldest idle connection is closed to make room, or, when none is idle,
    /// the new one is answered 503.
    public var maxConnections = 2_000

    public init() {}
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with Greffe's request limits (`HTTPLimits`). Wrap it in `.tls(…)` for HTTPS.
    public static func guardedHTTP1(limits: HTTPLimits = HTTPLimits()) -> HTTPServerBuilder {
        let registry = ConnectionRegistry(maxConnections: limits.maxConnections)
        return HTTPServerBuilder { responder in
            GuardedHTTP1Channel(responder: responder, limits: limits, registry: registry)
        }
    }
}

/// Hummingbird's HTTP/1 channel with a `ConnectionGuard` in front of the HTTP
/// decoder (it sees the raw bytes, after TLS) and a `RequestPartObserver`
/// behind it (it sees request and response parts).
struct GuardedHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = HTTP1Channel.Value

    let responder: HTTPChannelHandler.Responder
    let limits: HTTPLimits
    let registry: ConnectionRegistry

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture { () throws -> NIOLoopBound<RequestPartObserver> in
            let connectionGuard = ConnectionGuard(limits: limits, registry: registry, admission: registry.admit(channel))
            try channel.pipeline.syncOperations.addHandler(connectionGuard)
            return NIOLoopBound(RequestPartObserver(connectionGuard), eventLoop: channel.eventLoop)
        }.flatMap { observer in
            let configuration = HTTP1Channel.Configuration(
                additionalChannelHandlers: [observer.value],
                idleTimeout: TimeAmount(limits.idleTimeout),
                httpDecoderConfiguration: .init(
                    maxHeaderFieldSize: limits.maxHeaderLineBytes, maxHeaderListSize: limits.maxHeadBytes,
                    maxHeaderFieldCount: limits.maxHeaderFields))
            return HTTP1Channel(responder: responder, configuration: configuration).setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: value, logger: logger)
    }
}

/// An error the app's body read throws when the connection guard gave up on
/// the request (body too slow, malformed chunked encoding, connection lost);
/// `JSONErrorMiddleware` answers it with its status.
public struct RequestReadError: Error, Sendable, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let message: String
    public var description: String { message }
}
