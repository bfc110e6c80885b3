import Foundation
public import GreffeStore
import Synchronization

/// Per-token token buckets: each token may make `perSecond` requests a second
/// on average, in bursts of up to `burst`. A limit of 0 means unlimited.
public final class RateLimiter: Sendable {
    public struct Limit: Sendable, Equatable {
        public var perSecond: Double
        public var burst: Double

        public init(perSecond: Double, burst: Double? = nil) {
            self.perSecond = perSecond
            self.burst = burst ?? max(1, perSecond * 2)
        }

        public static let unlimited = Limit(perSecond: 0, burst: 0)
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let limits: [TokenRole: Limit]
    private let buckets = Mutex<[Int64: Bucket]>([:])

    /// Platforms append at volume; investigators and admins are people or their tools.
    public static let defaultLimits: [TokenRole: Limit] = [
        .append: .unlimited, .investigate: Limit(perSecond: 20, burst: 40), .admin: Limit(perSecond: 20, burst: 40),
    ]

    public init(limits: [TokenRole: Limit] = RateLimiter.defaultLimits) {
        self.limits = limits
    }

    /// `greffe serve --token-rate`: investigators' and admins' tokens `perSecond` each, in bursts of twice
    /// as many (0: no limit); platforms' append tokens are never limited.
    public static func tokenRate(perSecond: Double) -> RateLimiter {
        let limit = perSecond > 0 ? Limit(perSecond: perSecond) : .unlimited
        return RateLimiter(limits: [.append: .unlimited, .investigate: limit, .admin: limit])
    }

    /// Takes one request from the token's bucket; returns the seconds to wait when it is empty.
    public func take(_ token: TokenRecord, now: ContinuousClock.Instant = .now) -> Double? {
        guard let limit = limits[token.role], limit.perSecond > 0 else { return nil }
        return buckets.withLock { buckets in
            var bucket = buckets[token.id] ?? Bucket(tokens: limit.burst, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            bucket.tokens = min(limit.burst, bucket.tokens + max(0, seconds) * limit.perSecond)
            bucket.updated = now
            defer { buckets[token.id] = bucket }
            guard bucket.tokens >= 1 else { return (1 - bucket.tokens) / limit.perSecond }
            bucket.tokens -= 1
            return nil
        }
    }
}
