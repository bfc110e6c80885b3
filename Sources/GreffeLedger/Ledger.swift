import Foundation
public import GreffeCore
public import GreffeStore
public import Logging
public import Metrics
import Synchronization

/// The log: sequences appends into batches, extends the tree, signs checkpoints.
///
/// Crash ordering (each step's effects are durable before the next starts):
/// 1. A batch's entries, events, tree nodes and new tree size commit in one
///    store transaction (`LedgerStore.append`, fsynced).
/// 2. Only then are its appends acknowledged. A crash before 1 completes
///    loses only unacknowledged events; the client retries with the same
///    `event_id` and gets one entry.
/// 3. A checkpoint's root is computed from committed nodes, signed, and stored
///    with a compare-and-swap that refuses a second root for a signed size.
/// 4. Only then is it served or put into receipts. A crash between signing
///    and storing loses a signature nobody saw; on restart the same root is
///    recomputed from the same nodes, so no two roots exist for one size.
///    The `checkpointStored` hook (static tiles) runs between storing and
///    serving, so no static file shows a checkpoint the store lacks; it never
///    throws, and its failures do not hold back checkpoints or appends.
/// On open, the latest stored checkpoint's root must equal the root recomputed
/// from the store, and its signature must verify with the configured key;
/// otherwise the ledger refuses to start rather than sign anything.
public final class Ledger: Sendable {
    public let store: any LedgerStore
    public let origin: String
    public let verifier: NoteVerifier
    private let signer: NoteSigner
    private let checkpointInterval: Duration
    private let maxBatchEvents: Int
    private let logger: Logger

    private struct PendingAppend {
        var events: [EventSubmission]
        var continuation: CheckedContinuation<[AppendReceipt], any Error>
        var enqueuedAt: ContinuousClock.Instant
    }

    private struct Queue {
        var requests: [PendingAppend] = []
        var closed = false
    }

    /// Only the sequencer task touches it; the lock makes that checkable.
    private struct SequencerState {
        var frontier: MerkleFrontier
        var lastLeafHash: Hash
        var lastSequencedAt: UInt64
    }

    private struct Published {
        var treeSize: UInt64
        var root: Hash
        var checkpoint: StoredCheckpoint
        var waiters: [(size: UInt64, continuation: CheckedContinuation<StoredCheckpoint, any Error>)] = []
        /// Set when the ledger must stop signing (a fork attempt or a wrong key); appends then fail.
        var fatal: String?
        var stopped = false
    }

    private let queue = Mutex(Queue())
    private let nodeCache = NodeCache()
    private let sequencer: Mutex<SequencerState>
    private let published: Mutex<Published>
    private let sequencerWake: AsyncStream<Void>
    private let sequencerWakeContinuation: AsyncStream<Void>.Continuation
    private let checkpointWake: AsyncStream<Void>
    private let checkpointWakeContinuation: AsyncStream<Void>.Continuation

    /// Runs after a checkpoint is stored and before it is published (step 4 above): the static tile export.
    private let checkpointStored: (@Sendable (StoredCheckpoint) async -> Void)?
    /// Commit instant and tree size of each committed batch not yet covered by a published checkpoint.
    private let awaitingCheckpoint = Mutex<[(size: UInt64, ackedAt: ContinuousClock.Instant)]>([])

    // Metrics (ops/prometheus/greffe-rules.yml alerts on them). Appends are counted in events.
    // The factory is the global one except in tests, which read their own registry.
    private let appendedEvents: Counter
    private let duplicateEvents: Counter
    private let conflictEvents: Counter
    private let failedAppends: Counter
    private let batchSizes: Recorder
    private let commitTimer: Metrics.Timer
    private let checkpointStoreTimer: Metrics.Timer
    private let locateTimer: Metrics.Timer
    private let ackToCheckpointTimer: Metrics.Timer
    private let treeSizeGauge: Gauge
    private let checkpointSizeGauge: Gauge
    private let checkpointTimeGauge: Gauge

    /// Opens the ledger over a store, checking that the store and the key agree
    /// (see the crash ordering above). Signs a first checkpoint on a new log.
    public static func open(
        store: any LedgerStore, signer: NoteSigner, checkpointInterval: Duration = .seconds(1),
        maxBatchEvents: Int = 10_000, logger: Logger = Logger(label: "greffe.ledger"),
        metricsFactory: (any MetricsFactory)? = nil, checkpointStored: (@Sendable (StoredCheckpoint) async -> Void)? = nil
    ) async throws -> Ledger {
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
            do {
                _ = try CheckpointVerifier.verify(note: latest.note, verifier: signer.verifier)
            } catch {
                throw LedgerError(.unavailable, "the signing key does not verify the stored checkpoints (\(error)): refusing to start")
            }
        }
        let ledger = Ledger(
            store: store, signer: signer, checkpointInterval: checkpointInterval, maxBatchEvents: maxBatchEvents, logger: logger,
            metricsFactory: metricsFactory ?? MetricsSystem.factory, checkpointStored: checkpointStored,
            state: SequencerState(frontier: frontier, lastLeafHash: lastLeafHash, lastSequencedAt: lastSequencedAt),
            checkpoint: latest ?? StoredCheckpoint(size: 0, root: MerkleHash.emptyRoot, note: "", signedAtMilliseconds: 0))
        if latest == nil || latest!.size < size {
            try await ledger.signLatest()
        }
        return ledger
    }

    private init(
        store: any LedgerStore, signer: NoteSigner, checkpointInterval: Duration, maxBatchEvents: Int, logger: Logger,
        metricsFactory factory: any MetricsFactory, checkpointStored: (@Sendable (StoredCheckpoint) async -> Void)?,
        state: SequencerState, checkpoint: StoredCheckpoint
    ) {
        self.checkpointStored = checkpointStored
        appendedEvents = Counter(label: "greffe_appends_total", dimensions: [("outcome", "new")], factory: factory)
        duplicateEvents = Counter(label: "greffe_appends_total", dimensions: [("outcome", "duplicate")], factory: factory)
        conflictEvents = Counter(label: "greffe_appends_total", dimensions: [("outcome", "conflict")], factory: factory)
        failedAppends = Counter(label: "greffe_appends_total", dimensions: [("outcome", "failed")], factory: factory)
        batchSizes = Recorder(label: "greffe_batch_events", factory: factory)
        commitTimer = Metrics.Timer(label: "greffe_store_seconds", dimensions: [("operation", "append")], factory: factory)
        checkpointStoreTimer = Metrics.Timer(label: "greffe_store_seconds", dimensions: [("operation", "checkpoint")], factory: factory)
        locateTimer = Metrics.Timer(label: "greffe_store_seconds", dimensions: [("operation", "locate")], factory: factory)
        ackToCheckpointTimer = Metrics.Timer(label: "greffe_ack_to_checkpoint_seconds", factory: factory)
        treeSizeGauge = Gauge(label: "greffe_tree_size", factory: factory)
        checkpointSizeGauge = Gauge(label: "greffe_checkpoint_tree_size", factory: factory)
        checkpointTimeGauge = Gauge(label: "greffe_checkpoint_signed_timestamp_seconds", factory: factory)
        self.store = store
        self.origin = signer.name
        self.signer = signer
        self.verifier = signer.verifier
        self.checkpointInterval = checkpointInterval
        self.maxBatchEvents = maxBatchEvents
        self.logger = logger
        self.sequencer = Mutex(state)
        self.published = Mutex(Published(treeSize: state.frontier.size, root: state.frontier.root, checkpoint: checkpoint))
        (sequencerWake, sequencerWakeContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        (checkpointWake, checkpointWakeContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        treeSizeGauge.record(Double(state.frontier.size))
        if !checkpoint.note.isEmpty {
            checkpointSizeGauge.record(Double(checkpoint.size))
            checkpointTimeGauge.record(Double(checkpoint.signedAtMilliseconds) / 1000)
        }
    }

    // MARK: - Running

    /// Runs the sequencer and the checkpoint signer until `shutdown()`; then
    /// sequences what was already queued, signs a last checkpoint and returns.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.runSequencer() }
            group.addTask { await self.runCheckpointer() }
        }
        let waiters = published.withLock { state in
            state.stopped = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: LedgerError(.shuttingDown, "the ledger stopped before a checkpoint covered tree size \(waiter.size)"))
        }
    }

    /// Stops taking appends; `run()` finishes the queued ones and returns.
    public func shutdown() {
        queue.withLock { $0.closed = true }
        sequencerWakeContinuation.finish()
    }

    private func runSequencer() async {
        for await _ in sequencerWake {
            await drainQueue()
        }
        await drainQueue()
        checkpointWakeContinuation.finish()
    }

    private func drainQueue() async {
        while true {
            let requests: [PendingAppend] = queue.withLock { queue in
                var taken: [PendingAppend] = []
                var events = 0
                while let next = queue.requests.first, taken.isEmpty || events + next.events.count <= maxBatchEvents {
                    events += next.events.count
                    taken.append(queue.requests.removeFirst())
                }
                return taken
            }
            if requests.isEmpty { return }
            await sequence(requests)
        }
    }

    private func runCheckpointer() async {
        var lastSigned = ContinuousClock.now
        for await _ in checkpointWake {
            let due = lastSigned.advanced(by: checkpointInterval)
            if due > .now {
                try? await Task.sleep(until: due, clock: .continuous)
            }
            lastSigned = .now
            await signLatestLogged()
        }
        await signLatestLogged()
    }

    private func signLatestLogged() async {
        do {
            try await signLatest()
        } catch {
            logger.error("could not sign a checkpoint", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Appending

    /// Appends a request's events all or nothing. Returns once they are durable,
    /// in request order; re-sent events get their original place.
    public func append(_ events: [EventSubmission]) async throws -> [AppendReceipt] {
        if let fatal = published.withLock({ $0.fatal }) {
            failedAppends.increment(by: events.count)
            throw LedgerError(.unavailable, fatal)
        }
        return try await withCheckedThrowingContinuation { continuation in
            let accepted = queue.withLock { queue in
                guard !queue.closed else { return false }
                queue.requests.append(PendingAppend(events: events, continuation: continuation, enqueuedAt: .now))
                return true
            }
            if accepted {
                sequencerWakeContinuation.yield()
            } else {
                continuation.resume(throwing: LedgerError(.shuttingDown, "the ledger is shutting down and takes no more appends"))
            }
        }
    }

    private func sequence(_ requests: [PendingAppend]) async {
        let located: [String: EventLocation]
        do {
            let start = ContinuousClock.now
            located = try await store.locateEvents(ids: requests.flatMap { $0.events.map(\.eventID) })
            locateTimer.recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
        } catch {
            fail(requests, with: error)
            return
        }
        let before = sequencer.withLock { $0 }
        var state = before
        var events: [SequencedEvent] = []
        var nodes: [MerkleFrontier.Node] = []
        var sequencedHere: [String: EventLocation] = [:]
        var outcomes: [Result<[AppendReceipt], LedgerError>] = []
        let now = max(UInt64(Date().timeIntervalSince1970 * 1000), state.lastSequencedAt)

        for request in requests {
            let rollback = (state, events.count, nodes.count, sequencedHere)
            var receipts: [AppendReceipt] = []
            var conflict: LedgerError?
            for event in request.events {
                let digest = event.bodyDigest
                if let earlier = located[event.eventID] ?? sequencedHere[event.eventID] {
                    guard let earlierDigest = earlier.bodyDigest else {
                        conflict = LedgerError(.conflict, "event \(event.eventID) was appended at index \(earlier.index) and its body has since been erased")
                        break
                    }
                    guard earlierDigest == digest else {
                        conflict = LedgerError(.conflict, "event \(event.eventID) was already appended at index \(earlier.index) with a different body")
                        break
                    }
                    receipts.append(AppendReceipt(eventID: event.eventID, index: earlier.index, leafHash: earlier.leafHash, isNew: false))
                    continue
                }
                let salt = Commitment.newSalt()
                let entry = LedgerEntry(
                    index: state.frontier.size, sequencedAtMilliseconds: now, prev: state.lastLeafHash,
                    commitment: Commitment.commit(salt: salt, canonicalBody: event.canonicalBody), kind: event.kind)
                let encoded = entry.encoded
                let leafHash = MerkleHash.leaf(encoded)
                events.append(
                    SequencedEvent(
                        index: entry.index, eventID: event.eventID, kind: event.kind, canonicalBody: event.canonicalBody, salt: salt,
                        bodyDigest: digest, entry: encoded, leafHash: leafHash, sequencedAtMilliseconds: now, terms: event.terms))
                state.frontier.append(leafHash) { nodes.append($0) }
                state.lastLeafHash = leafHash
                state.lastSequencedAt = now
                sequencedHere[event.eventID] = EventLocation(index: entry.index, leafHash: leafHash, bodyDigest: digest)
                receipts.append(AppendReceipt(eventID: event.eventID, index: entry.index, leafHash: leafHash, isNew: true))
            }
            if let conflict {
                (state, _, _, sequencedHere) = rollback
                events.removeLast(events.count - rollback.1)
                nodes.removeLast(nodes.count - rollback.2)
                outcomes.append(.failure(conflict))
            } else {
                outcomes.append(.success(receipts))
            }
        }

        if !events.isEmpty {
            let start = ContinuousClock.now
            do {
                try await store.append(AppendBatch(firstIndex: before.frontier.size, events: events, nodes: nodes))
            } catch let error as StoreError where error.code == .inconsistent {
                // The store no longer matches this sequencer's view: something else wrote to it.
                // Stop sequencing rather than guess; a restart re-reads the truth.
                published.withLock { $0.fatal = "the store changed underneath the sequencer (\(error.message)); restart greffe serve" }
                logger.critical("store inconsistent with the sequencer; refusing further appends", metadata: ["error": "\(error)"])
                fail(requests, with: error)
                return
            } catch {
                // Nothing was stored: the state before this batch is still the truth.
                fail(requests, with: error)
                return
            }
            commitTimer.recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
            batchSizes.record(events.count)
            sequencer.withLock { $0 = state }
            let (size, root) = (state.frontier.size, state.frontier.root)
            published.withLock { published in
                published.treeSize = size
                published.root = root
            }
            treeSizeGauge.record(Double(size))
            awaitingCheckpoint.withLock { awaiting in
                awaiting.append((size, .now))
                // Bounded if signing keeps failing (alerted on): the oldest go unmeasured.
                if awaiting.count > 100_000 { awaiting.removeFirst(awaiting.count - 100_000) }
            }
            checkpointWakeContinuation.yield()
        }
        for (request, outcome) in zip(requests, outcomes) {
            switch outcome {
            case .success(let receipts):
                let new = receipts.filter(\.isNew).count
                appendedEvents.increment(by: new)
                duplicateEvents.increment(by: receipts.count - new)
                request.continuation.resume(returning: receipts)
            case .failure(let error):
                conflictEvents.increment(by: request.events.count)
                request.continuation.resume(throwing: error)
            }
        }
    }

    private func fail(_ requests: [PendingAppend], with error: any Error) {
        logger.error("append batch failed; nothing of it was stored", metadata: ["error": "\(error)"])
        let failure = LedgerError(.unavailable, "the store could not take the events (\(error)); nothing was written, retry later")
        for request in requests {
            failedAppends.increment(by: request.events.count)
            request.continuation.resume(throwing: failure)
        }
    }

    // MARK: - Checkpoints

    /// Signs the committed tree if no checkpoint covers it yet.
    private func signLatest() async throws {
        let (size, root, latest) = published.withLock { ($0.treeSize, $0.root, $0.checkpoint) }
        if latest.size == size && !latest.note.isEmpty { return }
        let checkpoint = Checkpoint(origin: origin, size: size, root: root)
        let note = try signer.sign(text: checkpoint.text).formatted
        let stored = StoredCheckpoint(size: size, root: root, note: note, signedAtMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000))
        do {
            let start = ContinuousClock.now
            try await store.storeCheckpoint(stored)
            checkpointStoreTimer.recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
        } catch let error as StoreError where error.code == .fork {
            published.withLock { $0.fatal = "refused to sign a forked tree: \(error.message)" }
            logger.critical("fork refused; no further checkpoints will be signed", metadata: ["error": "\(error)"])
            throw error
        }
        await checkpointStored?(stored)
        let ready = published.withLock { published in
            published.checkpoint = stored
            let ready = published.waiters.filter { $0.size <= size }
            published.waiters.removeAll { $0.size <= size }
            return ready
        }
        checkpointSizeGauge.record(Double(size))
        checkpointTimeGauge.record(Double(stored.signedAtMilliseconds) / 1000)
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

    public var latestCheckpoint: StoredCheckpoint {
        published.withLock { $0.checkpoint }
    }

    /// Number of entries committed (and so acknowledged); proofs may use any size up to it.
    public var treeSize: UInt64 {
        published.withLock { $0.treeSize }
    }

    /// Waits until a signed checkpoint covers the first `size` entries.
    public func waitForCheckpoint(covering size: UInt64) async throws -> StoredCheckpoint {
        try await withCheckedThrowingContinuation { continuation in
            let ready: StoredCheckpoint? = published.withLock { published in
                if published.checkpoint.size >= size && !published.checkpoint.note.isEmpty { return published.checkpoint }
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

    private func checkSize(_ size: UInt64, _ what: String) throws -> UInt64 {
        let current = treeSize
        guard size <= current else {
            throw LedgerError(.outOfRange, "\(what) \(size) is beyond the current tree size \(current)")
        }
        return current
    }

    /// RFC 9162 inclusion proof of entry `index` in the tree of `treeSize` entries.
    public func inclusionProof(index: UInt64, treeSize: UInt64) async throws -> (leafHash: Hash, proof: [Hash]) {
        _ = try checkSize(treeSize, "tree_size")
        guard index < treeSize else {
            throw LedgerError(.outOfRange, "index \(index) is not below tree_size \(treeSize)")
        }
        return try await nodeCache.withNodes(store: store) { reader in
            (try reader.node(level: 0, index: index), try MerkleTree.inclusionProof(index: index, size: treeSize, reader: reader))
        }
    }

    /// RFC 9162 consistency proof from the tree of `first` entries to the one of `second`.
    public func consistencyProof(first: UInt64, second: UInt64) async throws -> [Hash] {
        _ = try checkSize(second, "second")
        guard first <= second else {
            throw LedgerError(.outOfRange, "first \(first) is larger than second \(second)")
        }
        guard first > 0, first < second else { return [] }
        return try await nodeCache.withNodes(store: store) { try MerkleTree.consistencyProof(first: first, second: second, reader: $0) }
    }

    public func root(treeSize size: UInt64) async throws -> Hash {
        _ = try checkSize(size, "tree_size")
        return try await nodeCache.withNodes(store: store) { try MerkleTree.root(size: size, reader: $0) }
    }

    public func leafIndex(of leafHash: Hash) async throws -> UInt64? {
        guard let index = try await store.leafIndex(of: leafHash), index < treeSize else { return nil }
        return index
    }

    /// The tile's bytes, or nil when the tree does not (yet) contain it at that width.
    public func tileData(_ tile: Tile) async throws -> [UInt8]? {
        guard tile.exists(inTreeOfSize: treeSize) else { return nil }
        switch tile.kind {
        case .hashes:
            let hashes = try await store.readNodeRange(level: tile.nodeLevel, first: tile.firstNode, count: tile.width)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(hashes.count * Hash.byteCount)
            for hash in hashes { hash.withUnsafeBytes { bytes.append(contentsOf: $0) } }
            return bytes
        case .entries:
            return EntryBundle.encode(try await store.readEntries(first: tile.firstNode, count: tile.width))
        }
    }
}
