import AsyncHTTPClient
import Foundation
import GreffeCore
public import NIOCore
import NIOHTTP1

/// What the relay needs of a ledger: the three calls of its HTTP API it makes.
/// A protocol so that tests stand in a ledger that lies.
public protocol RelayLedgerClient: Sendable {
    /// `POST /v1/events?wait=checkpoint` with `body` (`{"events":[…]}`).
    func append(body: [UInt8]) async throws -> RelayLedgerAnswer
    /// `GET /checkpoint`: the signed note.
    func checkpoint() async throws -> RelayLedgerAnswer
    /// `GET /v1/proofs/consistency?first=&second=`.
    func consistency(first: UInt64, second: UInt64) async throws -> RelayLedgerAnswer
}

public struct RelayLedgerAnswer: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// Seconds, from a Retry-After header.
    public var retryAfter: Int?

    public init(status: Int, body: [UInt8], retryAfter: Int? = nil) {
        self.status = status
        self.body = body
        self.retryAfter = retryAfter
    }
}

/// The ledger over HTTP(S) with an append token bound to the relay's platform.
public final class HTTPRelayLedgerClient: RelayLedgerClient {
    let baseURL: String
    let token: String
    let client: HTTPClient
    let timeout: TimeAmount

    /// `timeout` covers the ledger's wait for a checkpoint (30 s by default) and some.
    public init(baseURL: String, token: String, timeout: TimeAmount = .seconds(45)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.timeout = timeout
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: timeout)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async throws {
        try await client.shutdown()
    }

    public func append(body: [UInt8]) async throws -> RelayLedgerAnswer {
        var request = HTTPClientRequest(url: baseURL + "/v1/events?wait=checkpoint")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer " + token)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        return try await send(request)
    }

    public func checkpoint() async throws -> RelayLedgerAnswer {
        try await send(HTTPClientRequest(url: baseURL + "/checkpoint"))
    }

    public func consistency(first: UInt64, second: UInt64) async throws -> RelayLedgerAnswer {
        try await send(HTTPClientRequest(url: baseURL + "/v1/proofs/consistency?first=\(first)&second=\(second)"))
    }

    private func send(_ request: HTTPClientRequest) async throws -> RelayLedgerAnswer {
        let response = try await client.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 64 << 20)
        return RelayLedgerAnswer(
            status: Int(response.status.code), body: Array(buffer: body),
            retryAfter: response.headers.first(name: "Retry-After").flatMap { Int($0) })
    }
}
