import CGreffeSHA256
import GreffeCore

/// Layout-1 and layout-2 entries (which differ only in what the commitment commits to) read in place inside an entry bundle, for the replay's
/// hot loop: the same acceptance rule as `LedgerEntry(decoding:)` (a test
/// holds them equal) without copying each entry into an array and a string.
///
///     0 version = 1 or 2 · 1 index (u64 BE) · 9 sequencedAt (u64 BE) · 17 prev (32)
///     49 commitment (32) · 81 kind length k (1…64) · 82 kind (k bytes of a–z 0–9 . _ -)
enum EntryLayout {
    static let fixedLength = 82

    @inline(__always)
    static func isValid(_ entry: UnsafeRawBufferPointer) -> Bool {
        let count = entry.count
        guard count > fixedLength, LedgerEntry.Layout(rawValue: entry[0]) != nil else { return false }
        let kindLength = Int(entry[81])
        guard kindLength >= 1, kindLength <= LedgerEntry.maxKindLength, count == fixedLength + kindLength else { return false }
        for i in fixedLength..<count {
            let c = entry[i]
            guard (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2e || c == 0x5f || c == 0x2d else {
                return false
            }
        }
        return true
    }

    /// Why `LedgerEntry(decoding:)` rejects the entry (for the report; off the hot path).
    static func rejection(_ entry: UnsafeRawBufferPointer) -> String {
        do {
            _ = try LedgerEntry(decoding: Array(entry))
            return "entry is not a layout-1 or layout-2 entry"
        } catch {
            return error.description
        }
    }

    /// Whether a valid entry's kind is `kind` (ASCII bytes): its length byte first, so most entries cost one compare.
    @inline(__always)
    static func hasKind(_ entry: UnsafeRawBufferPointer, _ kind: [UInt8]) -> Bool {
        guard Int(entry[81]) == kind.count else { return false }
        for i in 0..<kind.count where entry[fixedLength + i] != kind[i] { return false }
        return true
    }

    @inline(__always)
    static func index(_ entry: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(bigEndian: entry.loadUnaligned(fromByteOffset: 1, as: UInt64.self))
    }

    @inline(__always)
    static func sequencedAt(_ entry: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(bigEndian: entry.loadUnaligned(fromByteOffset: 9, as: UInt64.self))
    }

    @inline(__always)
    static func prev(_ entry: UnsafeRawBufferPointer) -> Hash {
        loadHash(entry.baseAddress! + 17)
    }

    /// RFC 9162 leaf hash SHA-256(0x00 ‖ entry).
    @inline(__always)
    static func leafHash(_ entry: UnsafeRawBufferPointer) -> Hash {
        var out = Hash.zero
        withUnsafeMutableBytes(of: &out) { o in
            greffe_leaf_hash(
                entry.baseAddress?.assumingMemoryBound(to: UInt8.self), entry.count,
                o.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return out
    }
}

/// The entries of a C2SP entry bundle, in place: each a big-endian uint16
/// length and that many bytes.
struct EntryBundleCursor {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var remaining: Int { bytes.count - offset }

    /// The next entry, or nil when the bundle ends (cleanly or inside a length or an entry).
    @inline(__always)
    mutating func next() -> UnsafeRawBufferPointer? {
        guard bytes.count - offset >= 2 else { return nil }
        let length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
        guard bytes.count - offset - 2 >= length else { return nil }
        let entry = UnsafeRawBufferPointer(rebasing: bytes[(offset + 2)..<(offset + 2 + length)])
        offset += 2 + length
        return entry
    }
}
