import GreffeCore
import Testing

/// The filter layout is part of the SQLite file format (Schemas/sqlite.sql, `run_filters`): these bit
/// positions were computed by an independent Python implementation written from that text alone.
@Suite struct BloomFilterTests {
    /// The bits set by one key in a filter sized for 52 keys (65 bytes, m = 520: not a power of two, so
    /// the sum's 64-bit wrap-around shows).
    static let vectors: [(key: String, bits: Set<Int>)] = [
        ("sha256:abc", [70, 109, 164, 251, 306, 448, 487]),
        ("550e8400-e29b-41d4-a716-446655440000", [86, 191, 235, 324, 368, 473, 517]),
    ]

    static func setBits(_ filter: BloomFilter) -> Set<Int> {
        Set((0..<filter.bits.count * 8).filter { filter.bits[$0 / 8] & (1 << UInt8($0 % 8)) != 0 })
    }

    @Test("each key sets exactly the bits Schemas/sqlite.sql defines", arguments: vectors.indices)
    func layoutMatchesTheSchema(vector: Int) {
        var builder = BloomFilter.Builder(keys: 52)
        builder.add(Self.vectors[vector].key)
        let filter = builder.filter()
        #expect(filter.bits.count == 65 && filter.hashes == 7)
        #expect(Self.setBits(filter) == Self.vectors[vector].bits)
        #expect(filter.mayContain(Self.vectors[vector].key))
    }

    @Test("no added key is ever ruled out; about 1% of absent keys pass")
    func neverMissesAndRulesOutMost() {
        let keys = (0..<20_000).map { "event-\($0)" }
        var builder = BloomFilter.Builder(keys: keys.count)
        for key in keys { builder.add(key) }
        let filter = builder.filter()
        #expect(keys.allSatisfy(filter.mayContain))
        let passing = (0..<20_000).filter { filter.mayContain("absent-\($0)") }.count
        #expect(passing < 600, "\(passing) of 20,000 absent keys pass (about 1% expected)")
        // A filter with no bits set rules everything out; one with every bit set, nothing.
        #expect(!BloomFilter(bits: [UInt8](repeating: 0, count: 64), hashes: 7).mayContain("event-1"))
        #expect(BloomFilter(bits: [UInt8](repeating: 0xff, count: 64), hashes: 7).mayContain("anything"))
    }
}
