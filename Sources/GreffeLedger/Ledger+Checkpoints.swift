import Foundation
public import GreffeCore
public import GreffeStore
import Logging
import Metrics
import Synchronization

// Signing and publishing checkpoints; proofs and tiles from the committed tree.
extension Ledger {
    // MARK: - Checkpoints

    /// Signs the committed tree if no checkpoint covers it yet.
    func signLatest() async throws {
        // A follower's tree size comes from the store and it has no root of its own: only the sequencer signs.
        let sequencing = cluster?.state.withLock { $0.role.isSequencing } ?? true
        let (size, root, latest) = published.withLock { ($0.treeSize, $0.root, $0.checkpoint) }
        let pending = uncosigned.withLock { $0 }
        switch CheckpointSchedule.step(
            sequencing: sequencing, treeSize: size, servedSize: latest?.size, uncosignedSize: pending?.size, witnesses: cosigner != nil)
        {
        case .nothing:
            return
        case .cosignAgain:
            if let cosigner, let pending { try await publishCosigned(pending, cosigner: cosigner) }
            return
        case .sign:
            break
        }
        let checkpoint = Checkpoint(origin: origin, size: size, root: root)
        let note = try keys.sign(text: checkpoint.text).formatted
        let stored = StoredCheckpoint(size: size, root: root, note: note, signedAtMilliseconds: clock.nowMilliseconds())
        do {
            let start = ContinuousClock.now
            try await store.storeCheckpoint(stored)
            checkpointStoreTimer.recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
        } catch let error as StoreError where error.code == .fork {
            published.withLock { $0.fatal = "refused to sign a forked tree: \(error.message)" }
            logger.critical("fork refused; no further checkpoints will be signed", metadata: ["error": "\(error)"])
            throw error
        }
        if let cosigner {
            uncosigned.withLock { $0 = stored }
            try await publishCosigned(stored, cosigner: cosigner)
            return
        }
        await checkpointStored?(stored)
        publish(stored)
    }

    /// With witnesses: asks them to cosign `stored` (signed and stored), stores
    /// the cosigned note, then publishes it. When the quorum is not met,
    /// publishes nothing and wakes the checkpointer again after an interval
    /// (at least a second), so that a witness coming back is noticed even
    /// while no append arrives.
    func publishCosigned(_ stored: StoredCheckpoint, cosigner: any CheckpointCosigner) async throws {
        guard let note = await cosigner.cosign(stored, consistencyProof: { [self] in try await consistencyProof(first: $0, second: $1) }) else {
            let wake = checkpointWakeContinuation
            let pause = CheckpointSchedule.quorumRetry(interval: checkpointInterval)
            Task {
                try? await Task.sleep(for: pause)
                wake.yield()
            }
            return
        }
        let now = clock.nowMilliseconds()
        // Stored before it is served, as the checkpoint itself: a restart serves what was served.
        try await store.storeAttestation(CheckpointAttestation(size: stored.size, kind: .cosignedNote, data: Array(note.utf8), createdAtMilliseconds: now))
        let cosigned = StoredCheckpoint(size: stored.size, root: stored.root, note: note, signedAtMilliseconds: stored.signedAtMilliseconds)
        uncosigned.withLock { if $0?.size ?? 0 <= stored.size { $0 = nil } }
        await checkpointStored?(cosigned)
        publish(cosigned)
    }

    /// Serves `stored` from now on and answers the receipts waiting for it.
    func publish(_ stored: StoredCheckpoint) {
        let size = stored.size
        let ready = published.withLock { published -> [(size: UInt64, continuation: CheckedContinuation<StoredCheckpoint, any Error>)] in
            if let served = published.checkpoint, stored.size < served.size { return [] }
            published.checkpoint = stored
            let ready = published.waiters.filter { $0.size <= stored.size }
            published.waiters.removeAll { $0.size <= stored.size }
            return ready
        }
        checkpointSizeGauge.record(Double(stored.size))
        checkpointTimeGauge.record(Double(stored.signedAtMilliseconds) / 1000)
        if cosigner != nil { cosignedSizeGauge.record(Double(stored.size)) }
        let covered = awaitingCheckpoint.withLock { awaiting in
            defer { awaiting.removeAll { $0.size <= size } }
            return awaiting.filter { $0.size <= size }.map(\.ackedAt)
        }
        let now = ContinuousClock.now
        for ackedAt in covered {
            ackToCheckpointTimer.recordNanoseconds(Int64((now - ackedAt) / .nanoseconds(1)))
        }
        for waiter in ready {
            waiter.continuation.resume(returning: stored)
        }
    }

    /// The checkpoint served, nil until one is signed (and, with witnesses, cosigned by their quorum).
    public var latestCheckpoint: StoredCheckpoint? {
        published.withLock { $0.checkpoint }
    }

    /// True when no checkpoint is served yet, or the one served is smaller than `size`.
    func servesLessThan(_ size: UInt64) -> Bool {
        published.withLock { published in published.checkpoint.map { $0.size < size } ?? true }
    }

    /// Number of entries committed (and so acknowledged); proofs may use any size up to it.
    public var treeSize: UInt64 {
        published.withLock { $0.treeSize }
    }

    /// Waits until a signed checkpoint covers the first `size` entries.
    public func waitForCheckpoint(covering size: UInt64) async throws -> StoredCheckpoint {
        try await withCheckedThrowingContinuation { continuation in
            let ready: StoredCheckpoint? = published.withLock { published in
                if let served = published.checkpoint, served.size >= size { return served }
                if published.stopped {
                    continuation.resume(throwing: LedgerError(.shuttingDown, "the ledger has stopped"))
                    return nil
                }
                published.waiters.append((size, continuation))
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    // MARK: - Proofs and tiles

    func checkSize(_ size: UInt64, _ what: String) throws -> UInt64 {
        let current = treeSize
        guard size <= current else {
            throw LedgerError(.outOfRange, "\(what) \(size) is beyond the current tree size \(current)")
        }
        return current
    }

    /// RFC 9162 inclusion proof of entry `index` in the tree of `treeSize` entries.
    public func inclusionProof(index: UInt64, treeSize: UInt64) async throws -> (leafHash: Hash, proof: [Hash]) {
        let current = try checkSize(treeSize, "tree_size")
        guard index < treeSize else {
            throw LedgerError(.outOfRange, "index \(index) is not below tree_size \(treeSize)")
        }
        return try await nodeCache.withNodes(store: store, treeSize: current) { reader in
            (try reader.node(level: 0, index: index), try MerkleTree.inclusionProof(index: index, size: treeSize, reader: reader))
        }
    }

    /// Hashes of complete subtrees of the tree of `treeSize` entries (a v3 bundle's gaps and tail), in one store round trip.
    public func subtreeHashes(_ subtrees: [Subtree], treeSize: UInt64) async throws -> [Hash] {
        let current = try checkSize(treeSize, "tree_size")
        guard !subtrees.isEmpty else { return [] }
        precondition(subtrees.allSatisfy { $0.firstEntry + $0.entryCount <= treeSize }, "a subtree beyond the tree")
        return try await nodeCache.withNodes(store: store, treeSize: current) { reader in
            try subtrees.map { try reader.node(level: $0.level, index: $0.position) }
        }
    }

    /// RFC 9162 consistency proof from the tree of `first` entries to the one of `second`.
    public func consistencyProof(first: UInt64, second: UInt64) async throws -> [Hash] {
        let current = try checkSize(second, "second")
        guard first <= second else {
            throw LedgerError(.outOfRange, "first \(first) is larger than second \(second)")
        }
        guard first > 0, first < second else { return [] }
        return try await nodeCache.withNodes(store: store, treeSize: current) { try MerkleTree.consistencyProof(first: first, second: second, reader: $0) }
    }

    public func root(treeSize size: UInt64) async throws -> Hash {
        let current = try checkSize(size, "tree_size")
        return try await nodeCache.withNodes(store: store, treeSize: current) { try MerkleTree.root(size: size, reader: $0) }
    }

    public func leafIndex(of leafHash: Hash) async throws -> UInt64? {
        guard let index = try await store.leafIndex(of: leafHash), index < treeSize else { return nil }
        return index
    }

    /// The tile's bytes, or nil when the tree does not (yet) contain it at that width.
    public func tileData(_ tile: Tile) async throws -> [UInt8]? {
        let size = treeSize
        guard tile.exists(inTreeOfSize: size) else { return nil }
        // Hash tiles of the levels the node cache holds are read from it, like proofs.
        if case .hashes = tile.kind, tile.nodeLevel >= NodeCache.lowestCachedLevel(treeSize: size, capacity: nodeCache.capacity) {
            return try await nodeCache.withNodes(store: store, treeSize: size) { reader in
                var bytes: [UInt8] = []
                bytes.reserveCapacity(tile.width * Hash.byteCount)
                for offset in 0..<UInt64(tile.width) {
                    try reader.node(level: tile.nodeLevel, index: tile.firstNode + offset).withUnsafeBytes { bytes.append(contentsOf: $0) }
                }
                return bytes
            }
        }
        return try await store.tileBytes(tile)
    }
}
