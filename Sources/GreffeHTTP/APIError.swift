import GreffeCore
package import GreffeLedger
package import GreffeStore
public import Hummingbird
import Logging
import Metrics
import NIOCore

/// Every error the API answers with: a status and `{"error": "<message>"}`.
public struct APIError: HTTPResponseError, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let message: String
    /// Seconds for a Retry-After header (429).
    public let retryAfter: Int?

    public init(_ status: HTTPResponse.Status, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status.code) \(message)" }

    /// The ledger's refusals as HTTP: out of range 400, unknown 404, conflict 409, unavailable 503.
    package init(_ error: LedgerError) {
        switch error.code {
        case .outOfRange: self.init(.badRequest, error.message)
        case .notFound: self.init(.notFound, error.message)
        case .conflict: self.init(.conflict, error.message)
        case .unavailable, .shuttingDown: self.init(.serviceUnavailable, error.message)
        case .refused: self.init(.unprocessableContent, error.message)
        case .erasureIncomplete: self.init(.internalServerError, error.message)
        }
    }

    /// Storage trouble is the service's state, not the request's fault: 503, nothing written.
    package init(_ error: StoreError) {
        self.init(.serviceUnavailable, "storage is unavailable: \(error.message)")
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        let body: JSONValue = ["error": .string(message)]
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body.canonicalBytes())))
    }

    package static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }
    package static func notFound(_ message: String) -> APIError { APIError(.notFound, message) }
}

/// Turns every failure into the API's JSON error shape: framework errors keep
/// their status, unexpected ones become a 500 whose details stay in the log.
package struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let rateLimited = Counter(label: "greffe_rate_limited_requests_total")

    package init() {}

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            if error.status == .tooManyRequests { rateLimited.increment() }
            // The service's own failures (an erasure that left a copy, a ledger that stopped) leave a line for the operator.
            if error.status.code >= 500 {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "status": "\(error.status.code)", "error": "\(error.message)"])
            }
            throw error
        } catch let error as StoreError {
            // Storage trouble is the service's state, not the request's fault: 503, nothing written.
            context.logger.error("store error", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            throw APIError(error)
        } catch let error as LedgerError {
            throw APIError(error)
        } catch let error as RequestReadError {
            // The connection guard gave up on the body (too slow, malformed); usually it has answered already.
            throw APIError(error.status, error.message)
        } catch is NIOTooManyBytesError {
            // `collectBody(upTo:)` past its limit.
            throw APIError(.contentTooLarge, "request body is too large")
        } catch let error as HTTPError {
            let message: String
            switch error.status {
            case .notFound: message = "no such resource: \(request.uri.path)"
            case .contentTooLarge: message = "request body is too large"
            case .methodNotAllowed: message = "method \(request.method) is not allowed on \(request.uri.path)"
            default: message = error.body ?? error.status.reasonPhrase
            }
            throw APIError(error.status, message)
        } catch {
            context.logger.error("unexpected error", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            throw APIError(.internalServerError, "internal error")
        }
    }
}
