import GreffeImage
import Testing

/// A small deterministic generator (SplitMix64), so that a failure reproduces.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func randomHash(_ random: inout SplitMix64) -> PDQHash {
    PDQHash(words: (random.next(), random.next(), random.next(), random.next()))
}

/// `base` with `flips` distinct bits inverted.
private func nearDuplicate(of base: PDQHash, flips: Int, _ random: inout SplitMix64) -> PDQHash {
    var bits = Array(0..<256)
    bits.shuffle(using: &random)
    var hash = base
    for k in bits.prefix(flips) {
        var one = PDQHash.zero
        one.setBit(k)
        hash = PDQHash(words: (hash.words.0 ^ one.words.0, hash.words.1 ^ one.words.1, hash.words.2 ^ one.words.2, hash.words.3 ^ one.words.3))
    }
    return hash
}

/// What the index must answer: every stored pair within the radius, nearest first, ties by entry.
private func linearScan(_ stored: [(hash: PDQHash, entryIndex: UInt64)], _ query: PDQHash, _ radius: Int) -> [PDQIndex.Match] {
    stored.compactMap { pair in
        let distance = pair.hash.distance(to: query)
        return distance <= radius ? PDQIndex.Match(entryIndex: pair.entryIndex, distance: distance, hash: pair.hash) : nil
    }.sorted { ($0.distance, $0.entryIndex) < ($1.distance, $1.entryIndex) }
}

@Suite struct PDQIndexTests {
    /// Random hashes plus clusters of near-duplicates at distances 0–40 (the
    /// threshold's both sides), inserted one by one so that the tail and
    /// several table rebuilds are crossed; queried with cluster members,
    /// fresh near-duplicates and random hashes, at several radii.
    @Test func equalsALinearScan() {
        var random = SplitMix64(state: 19)
        var stored: [(hash: PDQHash, entryIndex: UInt64)] = []
        var centres: [PDQHash] = []
        var index = PDQIndex()
        var entry: UInt64 = 0
        for _ in 0..<60_000 {
            let hash: PDQHash
            if !centres.isEmpty && random.next() % 3 == 0 {
                let centre = centres[Int(random.next() % UInt64(centres.count))]
                hash = nearDuplicate(of: centre, flips: Int(random.next() % 41), &random)
            } else {
                hash = randomHash(&random)
                if random.next() % 50 == 0 { centres.append(hash) }
            }
            // Entries are not the insertion order: some hashes repeat for a later entry.
            entry += 1 + random.next() % 3
            stored.append((hash, entry))
            index.insert(hash, entryIndex: entry)
        }
        #expect(index.count == stored.count)
        var nonEmpty = 0
        for queryNumber in 0..<300 {
            let query: PDQHash
            switch queryNumber % 3 {
            case 0: query = nearDuplicate(of: centres[Int(random.next() % UInt64(centres.count))], flips: Int(random.next() % 41), &random)
            case 1: query = stored[Int(random.next() % UInt64(stored.count))].hash
            default: query = randomHash(&random)
            }
            for radius in [31, 0, 15, 40] {
                let expected = linearScan(stored, query, radius)
                let found = index.search(query, maximumDistance: radius)
                #expect(found == expected, "query \(query) radius \(radius): \(found.count) found, \(expected.count) expected")
                if !expected.isEmpty { nonEmpty += 1 }
            }
        }
        #expect(nonEmpty > 300)  // the property was tested on real matches, not only on empty answers
    }

    @Test func bulkBuildEqualsInserts() {
        var random = SplitMix64(state: 7)
        let pairs = (0..<20_000).map { (hash: randomHash(&random), entryIndex: UInt64($0)) }
        let bulk = PDQIndex(pairs)
        var incremental = PDQIndex()
        for pair in pairs { incremental.insert(pair.hash, entryIndex: pair.entryIndex) }
        for pair in pairs.prefix(200) {
            let query = nearDuplicate(of: pair.hash, flips: 20, &random)
            #expect(bulk.search(query) == incremental.search(query))
            #expect(bulk.search(query).first?.entryIndex == pair.entryIndex)
        }
    }

    @Test func edgeCases() throws {
        var index = PDQIndex()
        #expect(index.search(.zero).isEmpty)
        let hash = try #require(PDQHash(hex: String(repeating: "5a", count: 32)))
        index.insert(hash, entryIndex: 9)
        index.insert(hash, entryIndex: 3)
        #expect(index.search(hash).map(\.entryIndex) == [3, 9])
        #expect(index.search(hash, maximumDistance: -1).isEmpty)
        // Radii beyond the probing scheme still answer exactly (by scan).
        #expect(index.search(.zero, maximumDistance: 256).count == 2)
        #expect(index.search(.zero, maximumDistance: 127).isEmpty)
    }
}
