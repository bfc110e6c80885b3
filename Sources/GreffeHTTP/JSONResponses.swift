public import GreffeCore
public import Hummingbird
import NIOCore

/// The JSON answers and the bounded append body, the same for the ledger's API and the relay's.
package enum JSONResponses {
    /// Largest append request body (413 beyond): 1,000 events of the schemas' longest fields fit.
    package static let maxAppendBodyBytes = 8 << 20

    /// `value` as canonical JSON (RFC 8785), so equal answers are equal bytes.
    package static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: value.canonicalBytes())))
    }

    /// An append request's body, at most `maxAppendBodyBytes` (413 beyond).
    package static func appendBody(of request: Request) async throws -> ByteBuffer {
        var request = request
        do {
            return try await request.collectBody(upTo: maxAppendBodyBytes)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "request body is larger than \(maxAppendBodyBytes) bytes")
        }
    }
}
