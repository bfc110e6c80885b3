import CGreffeImage

/// The entries whose PDQ hash lies within a Hamming radius of a query:
/// multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming
/// Space with Multi-Index Hashing", CVPR 2012).
///
/// A hash's 256 bits are cut into 16 substrings of 16 bits, and each
/// substring indexes a table of 65,536 buckets. By pigeonhole, two hashes at
/// distance ≤ 31 agree within distance ⌊31 / 16⌋ = 1 on at least one
/// substring, so probing each table at the query's substring and its 16
/// one-bit neighbours (16 × 17 = 272 buckets) finds every match; each
/// candidate is then checked on all 256 bits. Searches with a radius up to
/// 47 stay exact (probing radius 2), larger radii fall back to a scan.
///
/// Layout: the hashes and entry indexes in insertion order, and per table
/// the insertion ordinals sorted by bucket (compressed rows: an offset array
/// and one UInt32 array). Inserts append to a tail that searches scan
/// linearly, and the tables are rebuilt (a counting sort, O(16 n)) once the
/// tail reaches 1/64 of the indexed hashes (at least 16,384): amortised
/// O(1) per insert, and the tail stays small beside the 272 buckets.
///
/// Memory: 32 (hash) + 8 (entry index) + 16 × 4 (one ordinal per table)
/// = 104 bytes a stored hash, plus 4 MiB of bucket offsets; a rebuild
/// allocates the new tables (64 bytes a hash) before freeing the old.
/// At most 2³² − 1 hashes.
///
/// Not thread-safe: a value type; callers serialise inserts (e.g. in an actor)
/// and may search a copy concurrently.
public struct PDQIndex: Sendable {
    public struct Match: Sendable, Equatable {
        public let entryIndex: UInt64
        public let distance: Int
        public let hash: PDQHash

        public init(entryIndex: UInt64, distance: Int, hash: PDQHash) {
            self.entryIndex = entryIndex
            self.distance = distance
            self.hash = hash
        }
    }

    static let substringCount = 16
    static let bucketCount = 1 << 16

    /// Every stored hash and its entry, by insertion ordinal.
    private(set) var hashes: [PDQHash] = []
    private(set) var entries: [UInt64] = []
    /// Per table t: ordinals of hashes[0..<indexedCount] grouped by substring t.
    private var postings: [[UInt32]] = Array(repeating: [], count: substringCount)
    /// Per table t: postings[t][offsets[t][key]..<offsets[t][key + 1]] have substring t == key.
    private var offsets: [[UInt32]] = Array(repeating: [UInt32](repeating: 0, count: bucketCount + 1), count: substringCount)
    /// hashes[indexedCount...] are the tail: not in the tables yet.
    private(set) var indexedCount = 0
    /// The most ordinals any one bucket holds (the kernels' output size).
    private var largestBucket = 0

    public init() {}

    /// Builds the index over many pairs at once (one table build).
    public init(_ pairs: some Sequence<(hash: PDQHash, entryIndex: UInt64)>) {
        for (hash, entry) in pairs {
            hashes.append(hash)
            entries.append(entry)
        }
        precondition(hashes.count < Int(UInt32.max), "PDQIndex holds at most 2^32 - 1 hashes")
        rebuildTables()
    }

    public var count: Int { hashes.count }

    /// Adds one hash for `entryIndex`. The same hash may be stored for many entries.
    public mutating func insert(_ hash: PDQHash, entryIndex: UInt64) {
        precondition(hashes.count < Int(UInt32.max) - 1, "PDQIndex holds at most 2^32 - 1 hashes")
        hashes.append(hash)
        entries.append(entryIndex)
        if hashes.count - indexedCount >= max(16_384, indexedCount / 64) { rebuildTables() }
    }

    /// Every stored (entry, hash) within `maximumDistance` of `query`,
    /// nearest first, ties by entry index.
    public func search(_ query: PDQHash, maximumDistance: Int = PDQHash.matchThreshold) -> [Match] {
        guard maximumDistance >= 0 else { return [] }
        var found: [(ordinal: UInt32, distance: Int)] = []
        let probeRadius = maximumDistance / PDQIndex.substringCount
        if probeRadius > 2 {
            for ordinal in 0..<hashes.count {
                let distance = hashes[ordinal].distance(to: query)
                if distance <= maximumDistance { found.append((UInt32(ordinal), distance)) }
            }
            return matches(found)
        }
        guard !hashes.isEmpty else { return [] }
        precondition(MemoryLayout<PDQHash>.stride == 32, "the kernels read PDQHash as 4 contiguous UInt64")
        // Candidates are checked by the C kernels (hardware popcount; see CGreffeImage/include/greffe_image.h).
        let query = [query.words.0, query.words.1, query.words.2, query.words.3]
        let scratchCount = max(largestBucket, hashes.count - indexedCount)
        var foundOrdinals = [UInt32](repeating: 0, count: scratchCount)
        var foundDistances = [UInt8](repeating: 0, count: scratchCount)
        let radius = Int32(maximumDistance)
        hashes.withUnsafeBufferPointer { hashes in
            let words = UnsafeRawPointer(hashes.baseAddress!).assumingMemoryBound(to: UInt64.self)
            foundOrdinals.withUnsafeMutableBufferPointer { outOrdinals in
                foundDistances.withUnsafeMutableBufferPointer { outDistances in
                    func collect(_ count: Int) {
                        for i in 0..<count { found.append((outOrdinals[i], Int(outDistances[i]))) }
                    }
                    for table in 0..<PDQIndex.substringCount {
                        let key = PDQIndex.substring(PDQHash(words: (query[0], query[1], query[2], query[3])), table)
                        postings[table].withUnsafeBufferPointer { postings in
                            offsets[table].withUnsafeBufferPointer { offsets in
                                func probe(_ bucket: Int) {
                                    let start = Int(offsets[bucket])
                                    let count = Int(offsets[bucket + 1]) - start
                                    guard count > 0 else { return }
                                    collect(
                                        greffe_pdq_check(
                                            words, postings.baseAddress! + start, count, query, radius, outOrdinals.baseAddress!,
                                            outDistances.baseAddress!))
                                }
                                probe(key)
                                if probeRadius >= 1 {
                                    for bit in 0..<16 {
                                        probe(key ^ (1 << bit))
                                        if probeRadius >= 2 {
                                            for other in (bit + 1)..<16 { probe(key ^ (1 << bit) ^ (1 << other)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    let tail = hashes.count - indexedCount
                    if tail > 0 {
                        collect(
                            greffe_pdq_scan(
                                words, UInt32(indexedCount), tail, query, radius, outOrdinals.baseAddress!, outDistances.baseAddress!))
                    }
                }
            }
        }
        return matches(found)
    }

    /// The baseline PDQIndex is measured against (`greffe bench lookup`): every
    /// hash of `words` (4 words a hash, PDQHash.words order) within
    /// `maximumDistance` (≤ 255), by a linear scan with the same popcount kernel.
    /// Returns the ordinals, in order.
    public static func linearScan(_ words: [UInt64], _ query: PDQHash, maximumDistance: Int = PDQHash.matchThreshold) -> [Int] {
        precondition(words.count % 4 == 0 && words.count / 4 < Int(UInt32.max) && (0...255).contains(maximumDistance))
        let count = words.count / 4
        guard count > 0 else { return [] }
        var ordinals = [UInt32](repeating: 0, count: count)
        var distances = [UInt8](repeating: 0, count: count)
        let queryWords = [query.words.0, query.words.1, query.words.2, query.words.3]
        let found = words.withUnsafeBufferPointer { words in
            greffe_pdq_scan(words.baseAddress!, 0, count, queryWords, Int32(maximumDistance), &ordinals, &distances)
        }
        return ordinals.prefix(found).map { Int($0) }
    }

    /// Whether the kernels use the CPU's popcount instruction.
    public static var usesHardwarePopcount: Bool { greffe_pdq_hardware_popcount() == 1 }

    /// Sorts nearest first, ties by entry then ordinal, and drops the repeats
    /// (a near-duplicate is found through several tables).
    private func matches(_ found: [(ordinal: UInt32, distance: Int)]) -> [Match] {
        let sorted = found.sorted {
            if $0.distance != $1.distance { return $0.distance < $1.distance }
            if entries[Int($0.ordinal)] != entries[Int($1.ordinal)] { return entries[Int($0.ordinal)] < entries[Int($1.ordinal)] }
            return $0.ordinal < $1.ordinal
        }
        var result: [Match] = []
        result.reserveCapacity(sorted.count)
        var previous: UInt32?
        for (ordinal, distance) in sorted where ordinal != previous {
            result.append(Match(entryIndex: entries[Int(ordinal)], distance: distance, hash: hashes[Int(ordinal)]))
            previous = ordinal
        }
        return result
    }

    /// Bits 16t…16t+15 of the hash (bit k as in `PDQHash.bit`).
    @inline(__always)
    static func substring(_ hash: PDQHash, _ table: Int) -> Int {
        let word: UInt64
        switch table / 4 {
        case 0: word = hash.words.3
        case 1: word = hash.words.2
        case 2: word = hash.words.1
        default: word = hash.words.0
        }
        return Int(truncatingIfNeeded: word >> UInt64(table % 4 * 16)) & 0xFFFF
    }

    /// Counting sort of every stored ordinal by each substring.
    private mutating func rebuildTables() {
        let n = hashes.count
        largestBucket = 0
        for table in 0..<PDQIndex.substringCount {
            var bucketOffsets = [UInt32](repeating: 0, count: PDQIndex.bucketCount + 1)
            var sorted = [UInt32](repeating: 0, count: n)
            hashes.withUnsafeBufferPointer { hashes in
                bucketOffsets.withUnsafeMutableBufferPointer { offsets in
                    for hash in hashes { offsets[PDQIndex.substring(hash, table) + 1] += 1 }
                    for bucket in 0..<PDQIndex.bucketCount { offsets[bucket + 1] += offsets[bucket] }
                    var next = Array(offsets.prefix(PDQIndex.bucketCount))
                    sorted.withUnsafeMutableBufferPointer { sorted in
                        for ordinal in 0..<n {
                            let key = PDQIndex.substring(hashes[ordinal], table)
                            sorted[Int(next[key])] = UInt32(ordinal)
                            next[key] += 1
                        }
                    }
                }
            }
            for bucket in 0..<PDQIndex.bucketCount {
                largestBucket = max(largestBucket, Int(bucketOffsets[bucket + 1] - bucketOffsets[bucket]))
            }
            postings[table] = []  // free the old table before the next one is built
            postings[table] = sorted
            offsets[table] = bucketOffsets
        }
        indexedCount = n
    }
}
