import GreffeCore
import GreffeStore
import Synchronization

/// Complete tree nodes never change once stored, so they can be cached
/// forever. Proofs of random leaves share their upper nodes; keeping the
/// nodes at level ≥ `lowestCachedLevel` in memory turns most of a proof's
/// reads into lookups. That level adapts to the tree: all levels while the
/// whole tree fits in half the capacity (a tree has about two complete nodes
/// per leaf), one level fewer each time the tree doubles past it, so the
/// cache always holds the top of the tree and never more than `capacity`
/// nodes. Nodes sit in one array per level, indexed by position: a lookup
/// is an index, not a hash.
final class NodeCache: Sendable {
    let capacity: Int
    private let levels = Mutex(CachedLevels())

    private struct CachedLevels {
        var lowest = 0
        /// `hashes[level][index]`; levels below `lowest` are kept empty.
        var hashes: [[Hash?]] = []

        func lookup(_ id: NodeID) -> Hash? {
            guard id.level >= lowest, id.level < hashes.count, id.index < UInt64(hashes[id.level].count) else { return nil }
            return hashes[id.level][Int(id.index)]
        }

        mutating func insert(_ hash: Hash, at id: NodeID) {
            guard id.level >= lowest else { return }
            if hashes.count <= id.level { hashes += Array(repeating: [], count: id.level + 1 - hashes.count) }
            let index = Int(id.index)
            if hashes[id.level].count <= index {
                hashes[id.level] += repeatElement(nil, count: index + 1 - hashes[id.level].count)
            }
            hashes[id.level][index] = hash
        }

        mutating func raiseLowest(to level: Int) {
            guard level > lowest else { return }
            for dropped in lowest..<min(level, hashes.count) { hashes[dropped] = [] }
            lowest = level
        }
    }

    /// The default holds every node of a tree of up to 2^19 entries, and the
    /// top of any larger one, in at most 2^20 slots of 40 bytes (40 MiB).
    init(capacity: Int = 1 << 21) {
        self.capacity = capacity
    }

    /// Slots held (cached nodes and the gaps between them): what the memory bound is about.
    var slotCount: Int {
        levels.withLock { $0.hashes.reduce(0) { $0 + $1.count } }
    }

    /// The lowest level whose nodes fit, with every level above it, in half
    /// the capacity for a tree of `treeSize` leaves (at most `2·treeSize/2^level`
    /// nodes); the other half is the room the tree grows into before the level rises.
    static func lowestCachedLevel(treeSize: UInt64, capacity: Int) -> Int {
        var level = 0
        while level < 63, (2 * treeSize) >> level > UInt64(capacity / 2) { level += 1 }
        return level
    }

    /// Like `LedgerStore.withNodes`, answering cached nodes from memory and
    /// the rest in one store round trip.
    func withNodes<T>(store: any LedgerStore, treeSize: UInt64, _ compute: (any NodeReader) throws -> T) async throws -> T {
        let minimumLevel = NodeCache.lowestCachedLevel(treeSize: treeSize, capacity: capacity)
        let recorder = RecordingNodeReader()
        _ = try compute(recorder)
        let ids = recorder.ids
        var hashes = [Hash](repeating: .zero, count: ids.count)
        var missing: [Int] = []
        levels.withLock { cache in
            cache.raiseLowest(to: minimumLevel)
            for (position, id) in ids.enumerated() {
                if let hash = cache.lookup(id) { hashes[position] = hash } else { missing.append(position) }
            }
        }
        if !missing.isEmpty {
            let (distinct, slots) = NodeID.distinct(missing.map { ids[$0] })
            let read = try await store.readNodes(distinct)
            for (position, slot) in zip(missing, slots) { hashes[position] = read[slot] }
            let cacheable = zip(distinct, read).filter { $0.0.level >= minimumLevel }
            if !cacheable.isEmpty {
                levels.withLock { cache in
                    for (id, hash) in cacheable { cache.insert(hash, at: id) }
                }
            }
        }
        return try compute(ReplayNodeReader(ids: ids, hashes: hashes))
    }
}
