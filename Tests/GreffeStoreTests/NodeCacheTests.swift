import GreffeCore
@testable import GreffeLedger
import GreffeStore
import Testing

@Suite("Node cache")
struct NodeCacheTests {
    @Test("the cached levels hold the top of any tree within half the capacity")
    func lowestCachedLevel() {
        let capacity = 1 << 20
        #expect(NodeCache.lowestCachedLevel(treeSize: 0, capacity: capacity) == 0)
        #expect(NodeCache.lowestCachedLevel(treeSize: 100_000, capacity: capacity) == 0)
        #expect(NodeCache.lowestCachedLevel(treeSize: 1_000_000, capacity: capacity) == 2)
        #expect(NodeCache.lowestCachedLevel(treeSize: 100_000_000, capacity: capacity) == 9)
        for size: UInt64 in [1, 1000, 262_144, 262_145, 1 << 40, UInt64.max / 4] {
            let level = NodeCache.lowestCachedLevel(treeSize: size, capacity: capacity)
            #expect((2 * size) >> level <= UInt64(capacity / 2), "size \(size): level \(level) holds too many nodes")
            if level > 0 { #expect((2 * size) >> (level - 1) > UInt64(capacity / 2), "size \(size): level \(level) is higher than needed") }
        }
    }

    @Test("proofs through a cache that holds only the top of the tree equal proofs read from the store; it stays within half its capacity")
    func proofsThroughASmallCache() async throws {
        let store = try await StoreBackend.sqlite.make()
        var builder = BatchBuilder()
        for batch in 0..<10 { try await store.append(builder.batch((0..<100).map { "n\(batch)-\($0)" })) }
        let cache = NodeCache(capacity: 64)
        #expect(NodeCache.lowestCachedLevel(treeSize: 1000, capacity: 64) == 6)
        for size: UInt64 in [1, 2, 100, 513, 1000] {
            for index in stride(from: UInt64(0), to: size, by: 7) {
                let cached = try await cache.withNodes(store: store, treeSize: 1000) { try MerkleTree.inclusionProof(index: index, size: size, reader: $0) }
                let direct = try await store.withNodes { try MerkleTree.inclusionProof(index: index, size: size, reader: $0) }
                #expect(cached == direct, "inclusion proof of \(index) in \(size)")
            }
            for first in stride(from: UInt64(1), to: size, by: 37) {
                let cached = try await cache.withNodes(store: store, treeSize: 1000) { try MerkleTree.consistencyProof(first: first, second: size, reader: $0) }
                let direct = try await store.withNodes { try MerkleTree.consistencyProof(first: first, second: size, reader: $0) }
                #expect(cached == direct, "consistency proof \(first) → \(size)")
            }
        }
        let root = try await cache.withNodes(store: store, treeSize: 1000) { try MerkleTree.root(size: 1000, reader: $0) }
        #expect(root == builder.frontier.root)
        #expect(cache.slotCount > 0)
        #expect(cache.slotCount <= 32, "\(cache.slotCount) slots for a capacity of 64")

        // A cache big enough for the whole tree answers the same.
        let roomy = NodeCache(capacity: 1 << 12)
        for index: UInt64 in [0, 1, 499, 998, 999] {
            let cached = try await roomy.withNodes(store: store, treeSize: 1000) { try MerkleTree.inclusionProof(index: index, size: 1000, reader: $0) }
            let again = try await roomy.withNodes(store: store, treeSize: 1000) { try MerkleTree.inclusionProof(index: index, size: 1000, reader: $0) }
            let direct = try await store.withNodes { try MerkleTree.inclusionProof(index: index, size: 1000, reader: $0) }
            #expect(cached == direct && again == direct)
        }
    }

    @Test("recorded reads are fetched once each and replayed only in their recorded order")
    func recordAndReplay() throws {
        let a = NodeID(level: 0, index: 3), b = NodeID(level: 2, index: 1)
        let (distinct, slots) = NodeID.distinct([a, b, a, a, b])
        #expect(distinct == [a, b])
        #expect(slots == [0, 1, 0, 0, 1])
        let one = MerkleHash.sha256([1]), two = MerkleHash.sha256([2])
        let replay = ReplayNodeReader(ids: [a, b], hashes: [one, two])
        #expect(try replay.node(level: 0, index: 3) == one)
        #expect(throws: StoreError.self) { try replay.node(level: 2, index: 2) }
        let exhausted = ReplayNodeReader(ids: [a], hashes: [one])
        _ = try exhausted.node(level: 0, index: 3)
        #expect(throws: StoreError.self) { try exhausted.node(level: 0, index: 3) }
    }
}
