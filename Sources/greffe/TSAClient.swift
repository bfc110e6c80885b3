import AsyncHTTPClient
import Foundation
import GreffeServer
import NIOCore

/// The RFC 3161 HTTP transport (RFC 3161 §3.4): POST the DER request as
/// `application/timestamp-query`, read the DER `application/timestamp-reply`.
/// Errors name the HTTP status, never the URL (it may hold credentials).
struct TSAClient: Sendable {
    let url: String
    let timeout: TimeAmount
    let client: HTTPClient

    /// The largest answer read: a token with a few certificates is a few kilobytes.
    static let maxReplyBytes = 256 * 1024

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(url: String, timeoutSeconds: Double) throws {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme), parsed.host != nil else {
            throw CommandFailure("--tsa-url must be an http(s) URL")
        }
        self.url = url
        self.timeout = .milliseconds(Int64(timeoutSeconds * 1000))
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: timeout, read: timeout)
        // A TSA answers itself: a redirect would send our requests somewhere not configured.
        configuration.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// For logs: scheme, host and port only.
    static func redacted(_ url: String) -> String {
        guard let parsed = URL(string: url), let scheme = parsed.scheme, let host = parsed.host else { return "(unparsable URL)" }
        return "\(scheme)://\(host)\(parsed.port.map { ":\($0)" } ?? "")/…"
    }

    func send(_ request: [UInt8]) async throws -> [UInt8] {
        var http = HTTPClientRequest(url: url)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: "application/timestamp-query")
        http.headers.add(name: "Accept", value: "application/timestamp-reply")
        http.body = .bytes(ByteBuffer(bytes: request))
        let response = try await client.execute(http, timeout: timeout)
        guard response.status.code == 200 else {
            throw Failure(description: "the TSA answered HTTP \(response.status.code)")
        }
        let body = try await response.body.collect(upTo: TSAClient.maxReplyBytes)
        return Array(body.readableBytesView)
    }

    var transport: CheckpointTimestamper.Transport {
        { request in try await send(request) }
    }
}
