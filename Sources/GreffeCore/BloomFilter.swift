/// A Bloom filter: "may hold" or "certainly does not hold" a key, in about 10 bits per key
/// (about 1% false positives with 7 hashes), so that a lookup skips a store or a run that cannot
/// hold its key. False negatives cannot happen for a key that was added; a filter is therefore
/// only ever made over a set that no key enters afterwards (a closed index run, a sealed shard).
///
/// The bit layout is part of the SQLite file format (`run_filters`, Schemas/sqlite.sql): bit `i`
/// is bit `i % 8` of byte `i / 8`; a key's bits are `((h1 + j·h2) mod 2⁶⁴) mod m`, j = 0 … k-1, where h1
/// and h2 are SplitMix64 finalizations of the key's 64-bit FNV-1a hash (of its bytes: UTF-8 for
/// text) and of it xor 0x9E3779B97F4A7C15 (h2 made odd).
public final class BloomFilter: Sendable {
    public static let bitsPerKey = 10
    public static let hashCount = 7
    /// Bits of the filter (`bits.count * 8`).
    public let bitCount: UInt64
    public let hashes: Int
    public let bits: [UInt8]

    public init(bits: [UInt8], hashes: Int) {
        self.bits = bits
        self.bitCount = UInt64(bits.count) * 8
        self.hashes = hashes
    }

    /// A filter for about `keys` keys, filled by `fill` (called with an adder).
    public static func build(keys: Int, _ fill: ((UnsafeRawBufferPointer) -> Void) throws -> Void) rethrows -> BloomFilter {
        var builder = Builder(keys: keys)
        try fill { builder.add($0) }
        return builder.filter()
    }

    /// Fills a filter for about `keys` keys one key at a time (a sealed shard read page by page).
    public struct Builder {
        var bits: [UInt8]
        let bitCount: UInt64

        public init(keys: Int) {
            let bytes = max(64, (max(keys, 1) * BloomFilter.bitsPerKey + 7) / 8)
            bits = [UInt8](repeating: 0, count: bytes)
            bitCount = UInt64(bytes) * 8
        }

        public mutating func add(_ key: UnsafeRawBufferPointer) {
            let (first, h2) = BloomFilter.hashPair(key)
            var h1 = first
            for _ in 0..<BloomFilter.hashCount {
                let bit = h1 % bitCount
                bits[Int(bit >> 3)] |= 1 << UInt8(bit & 7)
                h1 &+= h2
            }
        }

        public mutating func add(_ key: String) {
            var key = key
            key.withUTF8 { add(UnsafeRawBufferPointer($0)) }
        }

        public func filter() -> BloomFilter { BloomFilter(bits: bits, hashes: BloomFilter.hashCount) }
    }

    /// A key's hashes, the same for every filter: a key checked against many filters (every run
    /// of an index, every sealed shard) is hashed once.
    public struct Probe: Sendable {
        let h1: UInt64
        let h2: UInt64

        /// Bytes as stored: UTF-8 for text keys.
        public init(_ key: UnsafeRawBufferPointer) { (h1, h2) = BloomFilter.hashPair(key) }

        public init(_ key: String) {
            var key = key
            self = key.withUTF8 { Probe(UnsafeRawBufferPointer($0)) }
        }
    }

    /// Whether the set may hold the probe's key.
    public func mayContain(_ probe: Probe) -> Bool {
        guard bitCount > 0 else { return true }
        var h1 = probe.h1
        return bits.withUnsafeBufferPointer { bits in
            for _ in 0..<hashes {
                let bit = h1 % bitCount
                if bits[Int(bit >> 3)] & (1 << UInt8(bit & 7)) == 0 { return false }
                h1 &+= probe.h2
            }
            return true
        }
    }

    /// Whether the set may hold `key` (bytes as stored: UTF-8 for text keys).
    public func mayContain(_ key: UnsafeRawBufferPointer) -> Bool { mayContain(Probe(key)) }

    public func mayContain(_ key: String) -> Bool { mayContain(Probe(key)) }

    static func hashPair(_ key: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key {
            h ^= UInt64(byte)
            h &*= 0x0000_0100_0000_01b3
        }
        return (mix(h), mix(h ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
