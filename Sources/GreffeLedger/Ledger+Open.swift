import Foundation
public import GreffeCore
public import GreffeStore
public import Logging
public import Metrics
import Synchronization

// Opening a ledger: recovery checks before anything is signed or served.
extension Ledger {
    /// Opens the ledger over a store, checking that the store and the key agree
    /// (see the crash ordering above). Signs a first checkpoint on a new log.
    ///
    /// With `node` on a `SharedLedgerStore`, the ledger joins the nodes sharing
    /// it: it sequences only while it holds the lease (see above).
    public static func open(
        store: any LedgerStore, signer: NoteSigner, checkpointInterval: Duration = .seconds(1),
        maxBatchEvents: Int = 10_000, node: String? = nil, logger: Logger = Logger(label: "greffe.ledger"),
        metricsFactory: (any MetricsFactory)? = nil, checkpointStored: (@Sendable (StoredCheckpoint) async -> Void)? = nil,
        cosigner: (any CheckpointCosigner)? = nil, clock: WallClock = .system
    ) async throws -> Ledger {
        try await open(
            store: store, keys: LogKeys(signer: signer), checkpointInterval: checkpointInterval, maxBatchEvents: maxBatchEvents, node: node,
            logger: logger, metricsFactory: metricsFactory, checkpointStored: checkpointStored, cosigner: cosigner, clock: clock)
    }

    /// `open` with several keys (key rotation): all signing keys sign each checkpoint.
    public static func open(
        store: any LedgerStore, keys: LogKeys, checkpointInterval: Duration = .seconds(1),
        maxBatchEvents: Int = 10_000, node: String? = nil, logger: Logger = Logger(label: "greffe.ledger"),
        metricsFactory: (any MetricsFactory)? = nil, checkpointStored: (@Sendable (StoredCheckpoint) async -> Void)? = nil,
        cosigner: (any CheckpointCosigner)? = nil, clock: WallClock = .system
    ) async throws -> Ledger {
        var cluster: Cluster?
        if let node {
            guard let shared = store as? any SharedLedgerStore else {
                throw LedgerError(.unavailable, "this store is not shared between nodes; run one greffe serve on it")
            }
            cluster = Cluster(store: shared, node: node)
        }
        let leads = try await cluster?.store.acquireSequencerLease(node: cluster!.node) ?? true
        if leads {
            let (state, latest) = try await loadSequencerState(store: store, keys: keys)
            let served = try await servable(latest, store: store, keys: keys, cosigner: cosigner, logger: logger)
            let ledger = Ledger(
                store: store, keys: keys, checkpointInterval: checkpointInterval, maxBatchEvents: maxBatchEvents, logger: logger,
                metricsFactory: metricsFactory ?? MetricsSystem.factory, checkpointStored: checkpointStored, cluster: cluster, state: state,
                checkpoint: served, cosigner: cosigner, clock: clock)
            if let cluster { ledger.becameSequencer(cluster) }
            // Before serving: no body that the log says was erased is handed out again.
            try await ledger.reapplyRecordedErasures()
            if cosigner != nil {
                // Witnesses may be slow or down: the checkpointer asks them, not start-up.
                if let latest, latest.size > served?.size ?? 0 { ledger.uncosigned.withLock { $0 = latest } }
                ledger.checkpointWakeContinuation.yield()
            } else if latest == nil || latest!.size < state.frontier.size {
                try await ledger.signLatest()
            }
            return ledger
        }
        // A follower: what the sequencer has committed and signed, checked against our key.
        var latest = try await store.latestCheckpoint()
        if let latest { try checkKeys(keys, verify: latest) }
        latest = try await servable(latest, store: store, keys: keys, cosigner: cosigner, logger: logger)
        let ledger = Ledger(
            store: store, keys: keys, checkpointInterval: checkpointInterval, maxBatchEvents: maxBatchEvents, logger: logger,
            metricsFactory: metricsFactory ?? MetricsSystem.factory, checkpointStored: checkpointStored, cluster: cluster,
            state: SequencerState(frontier: MerkleFrontier(), lastLeafHash: .zero, lastSequencedAt: 0),
            checkpoint: latest, cosigner: cosigner, clock: clock)
        try await ledger.refreshFromStore()
        logger.info("following the sequencer", metadata: ["node": "\(node ?? "")", "tree_size": "\(ledger.treeSize)"])
        return ledger
    }

    /// The sequencer's state from the store, after checking that its latest
    /// checkpoint matches the stored tree and verifies with one of `keys`.
    static func loadSequencerState(store: any LedgerStore, keys: LogKeys) async throws -> (SequencerState, StoredCheckpoint?) {
        let size = try await store.treeSize()
        let frontier = try await store.withNodes { try MerkleFrontier(size: size, reader: $0) }
        var lastLeafHash = Hash.zero
        var lastSequencedAt: UInt64 = 0
        if size > 0 {
            lastLeafHash = try await store.readNodes([NodeID(level: 0, index: size - 1)])[0]
            let lastEntry = try LedgerEntry(decoding: try await store.readEntries(first: size - 1, count: 1)[0])
            guard lastEntry.leafHash == lastLeafHash, lastEntry.index == size - 1 else {
                throw LedgerError(.unavailable, "the store's last entry does not match its leaf hash: refusing to start")
            }
            lastSequencedAt = lastEntry.sequencedAtMilliseconds
        }
        let latest = try await store.latestCheckpoint()
        if let latest {
            let root = try await store.withNodes { try MerkleTree.root(size: latest.size, reader: $0) }
            guard root == latest.root else {
                throw LedgerError(.unavailable, "stored checkpoint of size \(latest.size) does not match the stored tree: refusing to start")
            }
            try checkKeys(keys, verify: latest)
        }
        return (SequencerState(frontier: frontier, lastLeafHash: lastLeafHash, lastSequencedAt: lastSequencedAt), latest)
    }

    /// The latest stored checkpoint must verify with one of the ledger's keys (any, retired included:
    /// a rotation takes effect at the next start, when the latest checkpoint predates the new key).
    static func checkKeys(_ keys: LogKeys, verify latest: StoredCheckpoint) throws {
        do {
            _ = try CheckpointVerifier.verify(note: latest.note, verifiers: keys.verifiers)
        } catch {
            if keys.verifiers.count == 1 {
                throw LedgerError(.unavailable, "the signing key does not verify the stored checkpoints (\(error)): refusing to start")
            }
            throw LedgerError(
                .unavailable,
                "none of the ledger's keys (\(keys.verifiers.map(\.keyName).joined(separator: ", "))) verifies the stored checkpoints "
                    + "(\(error)): refusing to start; every node needs the same key files (keys.json and signing*.key)")
        }
    }

    /// What may be served given the latest stored signed checkpoint: that
    /// one without witnesses; with them, the latest stored cosigned note,
    /// if it carries the log's signature, the stored root of its size and
    /// the quorum of the configured witnesses (which may have changed since
    /// it was stored: then nothing is served until a new one is cosigned).
    static func servable(
        _ latest: StoredCheckpoint?, store: any LedgerStore, keys: LogKeys, cosigner: (any CheckpointCosigner)?, logger: Logger
    ) async throws -> StoredCheckpoint? {
        guard let cosigner else { return latest }
        guard let attestation = try await store.latestAttestation(kind: .cosignedNote) else { return nil }
        let note = String(decoding: attestation.data, as: UTF8.self)
        let verified: VerifiedCheckpoint
        do {
            verified = try CheckpointVerifier.verify(note: note, verifiers: keys.verifiers)
        } catch {
            throw LedgerError(.unavailable, "none of the ledger's keys verifies the stored cosigned checkpoint (\(error)): refusing to start")
        }
        guard let signed = try await store.checkpoint(size: attestation.size), signed.root == verified.checkpoint.root,
            verified.checkpoint.size == attestation.size
        else {
            throw LedgerError(.unavailable, "the stored cosigned checkpoint of size \(attestation.size) is not the stored checkpoint of that size: refusing to start")
        }
        let check = cosigner.check(cosignedNote: note)
        guard check.meetsQuorum else {
            logger.warning(
                "the latest stored cosigned checkpoint lacks the configured witness quorum; serving none until one is cosigned",
                metadata: ["size": "\(attestation.size)", "cosignatures": "\(check.shortfall)"])
            return nil
        }
        return StoredCheckpoint(size: signed.size, root: signed.root, note: note, signedAtMilliseconds: signed.signedAtMilliseconds)
    }
}
