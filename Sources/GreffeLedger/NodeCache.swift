import GreffeCore
import GreffeStore
import Synchronization

/// Complete tree nodes never change once stored, so they can be cached
/// forever. Proofs of random leaves share their upper nodes; keeping the
/// nodes at level ≥ `minimumLevel` (1/2^level of all nodes) in memory turns most
/// of a proof's reads into lookups. Bounded: when full it starts over, which
/// costs one re-warming, never a wrong answer.
final class NodeCache: Sendable {
    let minimumLevel: Int
    let capacity: Int
    private let nodes = Mutex<[NodeID: Hash]>([:])

    init(minimumLevel: Int = 4, capacity: Int = 1 << 20) {
        self.minimumLevel = minimumLevel
        self.capacity = capacity
    }

    /// Like `LedgerStore.withNodes`, answering cached nodes from memory and
    /// the rest in one store round trip.
    func withNodes<T>(store: any LedgerStore, _ compute: (any NodeReader) throws -> T) async throws -> T {
        let recorder = RecordingNodeReader()
        _ = try compute(recorder)
        var known: [NodeID: Hash] = [:]
        var missing: [NodeID] = []
        nodes.withLock { cache in
            for id in recorder.ids {
                if let hash = cache[id] { known[id] = hash } else { missing.append(id) }
            }
        }
        if !missing.isEmpty {
            let hashes = try await store.readNodes(missing)
            var cacheable: [(NodeID, Hash)] = []
            for (id, hash) in zip(missing, hashes) {
                known[id] = hash
                if id.level >= minimumLevel { cacheable.append((id, hash)) }
            }
            if !cacheable.isEmpty {
                nodes.withLock { cache in
                    if cache.count + cacheable.count > capacity { cache.removeAll(keepingCapacity: true) }
                    for (id, hash) in cacheable { cache[id] = hash }
                }
            }
        }
        return try compute(MapNodeReader(known: known))
    }
}

