#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import NIOCore
import Synchronization

/// Per-client token buckets for requests made without a valid token, keyed by
/// peer address: an IPv4 address, or the /64 prefix of an IPv6 one (what one
/// subscriber gets). Each client may make `perSecond` requests a second on
/// average, in bursts of `burst`; a request may cost more than one.
///
/// The table holds at most `capacity` clients. When it is full, clients whose
/// bucket has refilled are forgotten (a full bucket is what a new client gets
/// anyway), at most once per refill time so that the sweep costs O(capacity)
/// per refill time whatever the request rate. Clients that still find no
/// room share one overflow bucket: an attacker with more addresses than the
/// table holds gets one client's budget for all of them.
public final class ClientRateLimiter: Sendable {
    public struct Limit: Sendable, Equatable {
        public var perSecond: Double
        public var burst: Double

        public init(perSecond: Double, burst: Double) {
            self.perSecond = perSecond
            self.burst = burst
        }
    }

    /// An IPv4 address, or the first 64 bits of an IPv6 address (IPv4-mapped ones count as IPv4).
    public enum Client: Hashable, Sendable, CustomStringConvertible {
        case v4(UInt32)
        case v6Prefix(UInt64)

        public init?(_ address: SocketAddress) {
            switch address {
            case .v4(let v4):
                self = .v4(UInt32(bigEndian: v4.address.sin_addr.s_addr))
            case .v6(let v6):
                let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
                if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                    self = .v4(bytes[12..<16].reduce(0) { $0 << 8 | UInt32($1) })
                } else {
                    self = .v6Prefix(bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) })
                }
            case .unixDomainSocket:
                return nil
            }
        }

        public var description: String {
            switch self {
            case .v4(let a): return "\(a >> 24).\(a >> 16 & 0xFF).\(a >> 8 & 0xFF).\(a & 0xFF)"
            case .v6Prefix(let p): return (0..<4).map { String(p >> (48 - 16 * $0) & 0xFFFF, radix: 16) }.joined(separator: ":") + "::/64"
            }
        }
    }

    /// Generous for a monitor (it polls the checkpoint and fetches a few tiles
    /// a second; catching up on a million entries takes ~8,200 requests) and
    /// far below a flood.
    public static let defaultLimit = Limit(perSecond: 100, burst: 1_000)
    /// About 64 bytes a client: a few megabytes at most.
    public static let defaultCapacity = 65_536

    public let limit: Limit
    public let capacity: Int

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private struct State {
        var buckets: [Client: Bucket] = [:]
        var overflow: Bucket?
        var lastSweep: ContinuousClock.Instant?
    }

    private let state = Mutex(State())

    public init(limit: Limit = ClientRateLimiter.defaultLimit, capacity: Int = ClientRateLimiter.defaultCapacity) {
        precondition(limit.perSecond > 0 && limit.burst >= 1 && capacity >= 1)
        self.limit = limit
        self.capacity = capacity
    }

    /// Clients in the table now.
    public var trackedClients: Int { state.withLock { $0.buckets.count } }

    /// Seconds to refill an empty bucket.
    private var refillSeconds: Double { limit.burst / limit.perSecond }

    /// Takes `cost` from the client's bucket; returns the seconds to wait when it holds less.
    public func take(_ client: Client, cost: Double = 1, now: ContinuousClock.Instant = .now) -> Double? {
        let cost = min(cost, limit.burst)
        return state.withLock { state in
            if let bucket = state.buckets[client] {
                return charge(&state.buckets[client, default: bucket], cost: cost, now: now)
            }
            if state.buckets.count >= capacity { sweep(&state, now: now) }
            if state.buckets.count < capacity {
                var bucket = Bucket(tokens: limit.burst, updated: now)
                defer { state.buckets[client] = bucket }
                return charge(&bucket, cost: cost, now: now)
            }
            var overflow = state.overflow ?? Bucket(tokens: limit.burst, updated: now)
            defer { state.overflow = overflow }
            return charge(&overflow, cost: cost, now: now)
        }
    }

    private func charge(_ bucket: inout Bucket, cost: Double, now: ContinuousClock.Instant) -> Double? {
        bucket.tokens = min(limit.burst, bucket.tokens + max(0, ClientRateLimiter.seconds(now - bucket.updated)) * limit.perSecond)
        bucket.updated = now
        guard bucket.tokens >= cost else { return (cost - bucket.tokens) / limit.perSecond }
        bucket.tokens -= cost
        return nil
    }

    /// Forgets the clients whose bucket is full again, at most once per refill time.
    private func sweep(_ state: inout State, now: ContinuousClock.Instant) {
        if let last = state.lastSweep, ClientRateLimiter.seconds(now - last) < refillSeconds { return }
        state.lastSweep = now
        state.buckets = state.buckets.filter { _, bucket in
            bucket.tokens + ClientRateLimiter.seconds(now - bucket.updated) * limit.perSecond < limit.burst
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }
}
