import Foundation

/// Where the ledger reads the time it records (entries' recorded times,
/// checkpoints' signing times, erasure records): the system clock in
/// production, a clock a test sets (stepping back, standing still) otherwise.
public struct WallClock: Sendable {
    /// Milliseconds since the Unix epoch.
    public let nowMilliseconds: @Sendable () -> UInt64

    public init(_ nowMilliseconds: @escaping @Sendable () -> UInt64) {
        self.nowMilliseconds = nowMilliseconds
    }

    public static let system = WallClock { UInt64(Date().timeIntervalSince1970 * 1000) }
}
