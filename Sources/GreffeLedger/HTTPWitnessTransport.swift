import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// add-checkpoint over HTTP(S) with AsyncHTTPClient: keep-alive connections
/// (tlog-witness asks clients to use them), no redirects (a witness's answer
/// is its own or none), answers read up to `WitnessClient.maxAnswerBytes`.
public final class HTTPWitnessTransport: WitnessTransport {
    private let client: HTTPClient

    public init() {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout.connect = .seconds(5)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes the connections; call once no request is in flight any more.
    public func shutdown() async throws {
        try await client.shutdown()
    }

    public func post(url: String, body: [UInt8], timeout: Duration) async throws -> WitnessAnswer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        request.headers.add(name: "User-Agent", value: "greffe")
        request.body = .bytes(ByteBuffer(bytes: body))
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        // The deadline covers the whole exchange, the answer's body included.
        let deadline = NIODeadline.now() + .nanoseconds(nanoseconds)
        do {
            let response = try await client.execute(request, deadline: deadline)
            let answer = try await response.body.collect(upTo: WitnessClient.maxAnswerBytes)
            return WitnessAnswer(
                status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type"), body: Array(answer.readableBytesView))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw WitnessTimeout(timeout: timeout)
        }
    }
}
