import Foundation
import GreffeHTTP
import GreffeLedger
public import Hummingbird
public import NIOCore

/// The request context of `greffe serve`: Hummingbird's basic one plus the
/// peer address, which the per-client rate limit keys on.
public struct GreffeRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Requests without a valid token — every public read, and every failed
/// attempt at an authenticated one — are charged to their client's bucket
/// (`ClientRateLimiter`), 429 past it. A request with a valid token, of any
/// role, is the token's to budget (`RateLimiter`) and is not charged here,
/// so a platform appending from one address is never limited by it.
/// `/healthz` is free: load balancers poll it, and it reads no storage.
/// Contexts without a peer address (in-process tests) are not limited.
struct AnonymousRateLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let limiter: ClientRateLimiter
    let tokens: TokenAuthority

    /// What a `leaf_hash` lookup costs: the store probes one index entry per
    /// 4,096-entry chunk of the log (O(n / 4096)), not one as for an index.
    static var leafHashLookupCost: Double { 50 }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path != "/healthz", let address = (context as? any RemoteAddressRequestContext)?.remoteAddress,
            let client = ClientRateLimiter.Client(address)
        else { return try await next(request, context) }
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            switch try await tokens.check(token: String(header.dropFirst(7)), for: .append) {
            case .granted, .wrongRole: return try await next(request, context)
            case .unknown, .revoked: break
            }
        }
        let isLeafHashLookup = request.uri.path == "/v1/proofs/inclusion" && request.uri.queryParameters.get("leaf_hash") != nil
        let isImageLookup = request.uri.path == "/v1/lookup"
        let cost = isLeafHashLookup ? Self.leafHashLookupCost : isImageLookup ? LedgerAPI.lookupCost : 1
        if let wait = limiter.take(client, cost: cost) {
            let what =
                isLeafHashLookup ? "leaf_hash lookups (each costs \(Int(cost)) requests)"
                : isImageLookup ? "image lookups (each costs \(Int(cost)) requests)" : "requests without a valid token"
            throw APIError(
                .tooManyRequests,
                "too many \(what) from \(client): at most \(Int(limiter.limit.perSecond)) a second, bursts of \(Int(limiter.limit.burst)); "
                    + "retry in \(String(format: "%.1f", wait)) s",
                retryAfter: max(1, Int(wait.rounded(.up))))
        }
        return try await next(request, context)
    }
}
