public import Foundation
import CGreffeSHA256

/// A SHA-256 digest: a Merkle tree node, a leaf hash, a root or a commitment.
///
/// Stored inline (no heap allocation) because trees move millions of them.
public struct Hash: Sendable, Hashable, CustomStringConvertible {
    public static let byteCount = 32

    internal var storage: (UInt64, UInt64, UInt64, UInt64)

    /// The 32 zero bytes: `prev` of entry 0.
    public static let zero = Hash(storage: (0, 0, 0, 0))

    internal init(storage: (UInt64, UInt64, UInt64, UInt64)) {
        self.storage = storage
    }

    /// Exactly 32 bytes, or nil.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Hash.byteCount else { return nil }
        var hash = Hash.zero
        hash.withUnsafeMutableBytes { target in
            target.copyBytes(from: bytes)
        }
        self = hash
    }

    /// Standard base64 (RFC 4648 §4), as in checkpoints and proofs; nil unless it decodes to 32 bytes.
    public init?(base64: String) {
        guard let data = Data(base64Encoded: base64) else { return nil }
        self.init(bytes: data)
    }

    /// URL-safe base64 (RFC 4648 §5), padding optional, as in query strings.
    public init?(base64URL: String) {
        // The standard alphabet's '+' and '/' are not part of the URL-safe one.
        guard !base64URL.contains("+"), !base64URL.contains("/") else { return nil }
        var standard = String(base64URL.map { $0 == "-" ? "+" : ($0 == "_" ? "/" : $0) })
        while standard.utf8.count % 4 != 0 { standard.append("=") }
        self.init(base64: standard)
    }

    /// Fills a hash from a C routine that writes 32 bytes.
    public static func computing(_ body: (UnsafeMutablePointer<UInt8>) -> Void) -> Hash {
        var hash = Hash.zero
        Swift.withUnsafeMutableBytes(of: &hash.storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return hash
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: storage, body)
    }

    public mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeMutableBytes(of: &storage, body)
    }

    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
    public var data: Data { withUnsafeBytes { Data($0) } }
    /// Standard base64 with padding (44 characters), without going through `Data`.
    public var base64: String {
        withUnsafeBytes { raw in
            String(unsafeUninitializedCapacity: 44) { out in
                let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                let table = alphabet.utf8Start
                var o = 0
                var i = 0
                while i + 3 <= 32 {
                    let n = UInt32(raw[i]) << 16 | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2])
                    out[o] = table[Int(n >> 18)]
                    out[o + 1] = table[Int((n >> 12) & 63)]
                    out[o + 2] = table[Int((n >> 6) & 63)]
                    out[o + 3] = table[Int(n & 63)]
                    o += 4
                    i += 3
                }
                // 32 = 30 + 2: the last two bytes make three characters and one '='.
                let n = UInt32(raw[30]) << 16 | UInt32(raw[31]) << 8
                out[o] = table[Int(n >> 18)]
                out[o + 1] = table[Int((n >> 12) & 63)]
                out[o + 2] = table[Int((n >> 6) & 63)]
                out[o + 3] = UInt8(ascii: "=")
                return 44
            }
        }
    }
    public var hex: String { bytes.map { String(format: "%02x", $0) }.joined() }
    public var description: String { base64 }

    public static func == (lhs: Hash, rhs: Hash) -> Bool {
        lhs.storage.0 == rhs.storage.0 && lhs.storage.1 == rhs.storage.1
            && lhs.storage.2 == rhs.storage.2 && lhs.storage.3 == rhs.storage.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.0)
        hasher.combine(storage.1)
        hasher.combine(storage.2)
        hasher.combine(storage.3)
    }
}

/// RFC 9162 §2.1.1 hashing with domain separation between leaves and nodes.
public enum MerkleHash {
    /// MTH({}) = SHA-256() for the empty tree.
    public static let emptyRoot: Hash = sha256([UInt8]())

    /// SHA-256(0x00 ‖ entry).
    public static func leaf(_ entry: some ContiguousBytes) -> Hash {
        entry.withUnsafeBytes { raw in
            Hash.computing { out in
                greffe_leaf_hash(raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count, out)
            }
        }
    }

    /// SHA-256(0x01 ‖ left ‖ right).
    public static func node(_ left: Hash, _ right: Hash) -> Hash {
        left.withUnsafeBytes { l in
            right.withUnsafeBytes { r in
                Hash.computing { out in
                    greffe_node_hash(
                        l.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        r.baseAddress!.assumingMemoryBound(to: UInt8.self), out)
                }
            }
        }
    }

    /// Plain SHA-256 of `first ‖ second`.
    public static func sha256(_ first: some ContiguousBytes, _ second: some ContiguousBytes = [UInt8]()) -> Hash {
        first.withUnsafeBytes { a in
            second.withUnsafeBytes { b in
                Hash.computing { out in
                    greffe_sha256_concat(
                        a.baseAddress?.assumingMemoryBound(to: UInt8.self), a.count,
                        b.baseAddress?.assumingMemoryBound(to: UInt8.self), b.count, out)
                }
            }
        }
    }
}
