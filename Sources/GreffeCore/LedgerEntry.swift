/// The entry (Merkle leaf) of one event, layout version 1 or 2 (`Schemas/entry.md`):
///
///     offset  size  field
///     0       1     version = 0x01 or 0x02
///     1       8     index, uint64 big-endian
///     9       8     sequencedAt, Unix time in milliseconds, uint64 big-endian
///     17      32    prev: RFC 9162 leaf hash of entry index−1 (zeros for entry 0)
///     49      32    commitment: layout 1, SHA-256(salt ‖ RFC 8785 canonical event body);
///                         layout 2, the root of the body's field tree (`FieldCommitment`)
///     81      1     kind length k, 1…64
///     82      k     kind, ASCII a–z 0–9 . _ -
///
/// Fixed fields come first so a verifier can find `prev` without parsing the kind.
/// The entry reveals no event content: the body stays in the store.
public struct LedgerEntry: Sendable, Hashable {
    /// The kinds only Greffe itself writes (the chain of custody): no platform may send
    /// them, no order erases them and no retention drops their bodies.
    public static let greffeWrittenKinds: Set = [
        "access.granted", "erasure.executed", "hold.placed", "hold.lifted", "ledger.restored", "retention.applied", "shard.opened",
    ]

    /// What the commitment commits to; the layouts differ in nothing else.
    public enum Layout: UInt8, Sendable, Hashable {
        /// The whole canonical body at once: shown whole or not at all.
        case wholeBody = 1
        /// Each field on its own (selective disclosure); what the ledger writes.
        case fieldTree = 2
    }

    public static let maxKindLength = 64
    static let fixedLength = 82

    public var index: UInt64
    public var sequencedAtMilliseconds: UInt64
    public var prev: Hash
    public var commitment: Hash
    public var kind: String
    public var layout: Layout

    public init(index: UInt64, sequencedAtMilliseconds: UInt64, prev: Hash, commitment: Hash, kind: String, layout: Layout = .wholeBody) {
        precondition(LedgerEntry.isValidKind(kind), "invalid kind")
        self.layout = layout
        self.index = index
        self.sequencedAtMilliseconds = sequencedAtMilliseconds
        self.prev = prev
        self.commitment = commitment
        self.kind = kind
    }

    /// Kinds are short lowercase dotted names, e.g. `edit.requested`.
    public static func isValidKind(_ kind: String) -> Bool {
        let utf8 = kind.utf8
        return !utf8.isEmpty && utf8.count <= maxKindLength
            && utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2e || $0 == 0x5f || $0 == 0x2d }
    }

    public var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(LedgerEntry.fixedLength + kind.utf8.count)
        out.append(layout.rawValue)
        appendBigEndian(index, to: &out)
        appendBigEndian(sequencedAtMilliseconds, to: &out)
        prev.withUnsafeBytes { out.append(contentsOf: $0) }
        commitment.withUnsafeBytes { out.append(contentsOf: $0) }
        out.append(UInt8(kind.utf8.count))
        out.append(contentsOf: kind.utf8)
        return out
    }

    public var leafHash: Hash { MerkleHash.leaf(encoded) }

    /// Why bytes are not a valid entry.
    public struct DecodingError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Strict: the exact length, a known version, a valid kind; nothing trailing.
    public init(decoding bytes: some Collection<UInt8>) throws(DecodingError) {
        let bytes = Array(bytes)
        guard let version = bytes.first else { throw DecodingError(description: "entry is empty") }
        guard let layout = Layout(rawValue: version) else {
            throw DecodingError(description: "entry layout version \(version) is unknown (expected 1 or 2)")
        }
        guard bytes.count > LedgerEntry.fixedLength else {
            throw DecodingError(description: "entry of \(bytes.count) bytes is shorter than the \(LedgerEntry.fixedLength + 1) bytes of layout \(version)")
        }
        let kindLength = Int(bytes[81])
        guard bytes.count == LedgerEntry.fixedLength + kindLength else {
            throw DecodingError(description: "entry is \(bytes.count) bytes but its kind length says \(LedgerEntry.fixedLength + kindLength)")
        }
        let kind = String(decoding: bytes[82...], as: UTF8.self)
        guard LedgerEntry.isValidKind(kind) else { throw DecodingError(description: "entry kind is not a valid kind name") }
        self.index = readBigEndian(bytes, at: 1)
        self.sequencedAtMilliseconds = readBigEndian(bytes, at: 9)
        self.prev = Hash(bytes: bytes[17..<49])!
        self.commitment = Hash(bytes: bytes[49..<81])!
        self.kind = kind
        self.layout = layout
    }

    /// Whether `body` with `salt` is what the commitment commits to, under this entry's layout.
    public func commits(to body: JSONValue, salt: [UInt8]) -> Bool {
        switch layout {
        case .wholeBody: Commitment.commit(salt: salt, canonicalBody: body.canonicalBytes()) == commitment
        case .fieldTree: (try? FieldCommitment.root(salt: salt, body: body)) == commitment
        }
    }
}

@inline(__always)
func appendBigEndian(_ value: UInt64, to out: inout [UInt8]) {
    for shift in stride(from: 56, through: 0, by: -8) {
        out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
    }
}

@inline(__always)
func readBigEndian(_ bytes: [UInt8], at offset: Int) -> UInt64 {
    var value: UInt64 = 0
    for i in 0..<8 { value = value << 8 | UInt64(bytes[offset + i]) }
    return value
}
