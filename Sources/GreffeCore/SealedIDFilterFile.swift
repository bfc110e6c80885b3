/// A sealed shard's key filter as saved beside its store (Schemas/shards.md, "Event IDs across shards"),
/// so that a start-up loads it instead of reading every event ID and content term of every sealed shard again:
///
///     "greffe-idfilter2"  16 bytes
///     tree size           8 bytes, big-endian: the sealed shard's entries, every one's ID in the filter
///     root hash           32 bytes: the root of the shard's final checkpoint, at that size
///     hashes              4 bytes, big-endian: k
///     bit bytes           8 bytes, big-endian: n, then n bytes (the filter's layout, BloomFilter)
///     SHA-256             32 bytes, of everything before it
///
/// The filter holds every event ID and every `sha256:` content term of the shard. Layout 1
/// ("greffe-idfilter1") held the IDs alone; such a file is not used, since it would rule out
/// content hashes the shard holds, and is made again as layout 2.
/// A file that does not parse, fails its checksum or names another tree than the shard's is not used:
/// a wrong filter would let a re-sent event ID through as new, so the filter is rebuilt from the store.
public enum SealedIDFilterFile {
    static let magic = Array("greffe-idfilter2".utf8)

    public static func encode(_ filter: BloomFilter, treeSize: UInt64, root: Hash) -> [UInt8] {
        var bytes = magic
        bytes.reserveCapacity(magic.count + 52 + filter.bits.count + 32)
        append(treeSize, to: &bytes)
        bytes += root.bytes
        append(UInt32(filter.hashes), to: &bytes)
        append(UInt64(filter.bits.count), to: &bytes)
        bytes += filter.bits
        bytes += MerkleHash.sha256(bytes).bytes
        return bytes
    }

    /// The filter the file holds for a sealed shard of `treeSize` entries and root `root`; nil otherwise.
    public static func decode(_ bytes: [UInt8], treeSize: UInt64, root: Hash) -> BloomFilter? {
        let header = magic.count + 8 + 32 + 4 + 8
        guard bytes.count >= header + 32, Array(bytes[0..<magic.count]) == magic else { return nil }
        let body = bytes[0..<(bytes.count - 32)]
        guard MerkleHash.sha256(Array(body)).bytes == Array(bytes[(bytes.count - 32)...]) else { return nil }
        var offset = magic.count
        func read(_ count: Int) -> UInt64 {
            defer { offset += count }
            return bytes[offset..<(offset + count)].reduce(0) { $0 << 8 | UInt64($1) }
        }
        guard read(8) == treeSize else { return nil }
        guard Array(bytes[offset..<(offset + 32)]) == root.bytes else { return nil }
        offset += 32
        let hashes = read(4)
        let length = read(8)
        // The layout this code makes: the same number of hashes, at least 64 bytes, and the bits exactly to the checksum.
        guard hashes == UInt64(BloomFilter.hashCount), length >= 64, length == UInt64(body.count - offset) else { return nil }
        return BloomFilter(bits: Array(bytes[offset..<body.count]), hashes: Int(hashes))
    }

    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes += $0 }
    }
}
