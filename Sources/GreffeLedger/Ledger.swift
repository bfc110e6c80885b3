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
/// 2. Only then are its appends acknowledged, and only after every batch
///    before it (the next batch may be sequenced on top of one still being
///    written, on a shared store only if it settles no handovers: see
///    `advance`). A crash before 1
///    completes loses only unacknowledged events; the client retries with the
///    same `event_id` and gets one entry.
/// 3. A checkpoint's root is computed from committed nodes, signed, and stored
///    with a compare-and-swap that refuses a second root for a signed size.
/// 4. Only then is it served or put into receipts. A crash between signing
///    and storing loses a signature nobody saw; on restart the same root is
///    recomputed from the same nodes, so no two roots exist for one size.
///    The `checkpointStored` hook (static tiles) runs between storing and
///    serving, so no static file shows a checkpoint the store lacks; it never
///    throws, and its failures do not hold back checkpoints or appends.
///    With witnesses (a `cosigner`), a stored checkpoint is published only
///    once a quorum cosigned it and the cosigned note is stored as an
///    attestation; until then it stays stored but unserved, appends go on,
///    and the next tick tries again with the then-latest checkpoint. What
///    is served, after a restart and on followers too, is then the latest
///    stored cosigned note that carries the quorum.
/// On open, the latest stored checkpoint's root must equal the root recomputed
/// from the store, and its signature must verify with one of the ledger's keys
/// (signing or retired: see `LogKeys`); otherwise the ledger refuses to start
/// rather than sign anything. Every checkpoint is signed by every signing key.
///
/// On a shared store (PostgreSQL, several nodes) a node sequences and signs
/// only while it holds the store's sequencer lease. Until then it is a
/// follower: it hands appends over through the store, waits for the
/// sequencer's outcome, and reads the tree and checkpoints the sequencer
/// committed. It tries for the lease every second; on taking it, it reloads
/// the tree from the store (whatever the last sequencer committed is the
/// truth, and the lease's epoch fences that sequencer's later writes) and
/// settles the queued handovers. A sequencer that loses its lease stops
/// (`stoppedBecauseLeaseLost`) rather than guess: its supervisor restarts it
/// as a follower.
public final class Ledger: Sendable {
    public let store: any LedgerStore
    public let origin: String
    /// The newest signing key's verifier (bundles name it).
    public let verifier: NoteVerifier
    /// Every key of the log: the signing ones and the retired ones.
    public let keys: LogKeys
    private let checkpointInterval: Duration
    private let maxBatchEvents: Int
    let logger: Logger

    private struct PendingAppend {
        var events: [EventSubmission]
        var requester: Requester
        var enqueuedAt: ContinuousClock.Instant

        var isLocal: Bool {
            if case .local = requester { return true }
            return false
        }
    }

    private enum Requester {
        /// An HTTP request on this node, waiting.
        case local(CheckedContinuation<[AppendReceipt], any Error>)
        /// A request another node queued in the shared store; settled in the store.
        case handover(Int64)
    }

    /// A node on a shared store: sequencer while it holds the lease, follower otherwise.
    private final class Cluster: Sendable {
        let store: any SharedLedgerStore
        let node: String
        let state = Mutex(State())

        struct State {
            var isSequencer = false
            var leaseLost = false
            /// Handovers queued here and not yet settled, so a poll does not take them twice.
            var inFlight: Set<Int64> = []
            /// Handovers settled lately, with the settlement's number: a poll whose read began
            /// before their commit may still list them as pending.
            var settled: [Int64: UInt64] = [:]
            var settlements: UInt64 = 0
        }

        /// A batch's handovers leave flight: settled (committed), or back to the queue for the next poll.
        func finish(_ ids: [Int64], settled: Bool) {
            state.withLock { state in
                state.inFlight.subtract(ids)
                guard settled else { return }
                state.settlements += 1
                for id in ids { state.settled[id] = state.settlements }
            }
        }

        init(store: any SharedLedgerStore, node: String) {
            self.store = store
            self.node = node
        }
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

    private let cluster: Cluster?
    private let queue = Mutex(Queue())
    private let nodeCache = NodeCache()
    private let sequencer: Mutex<SequencerState>
    private let published: Mutex<Published>
    private let sequencerWake: AsyncStream<Void>
    private let sequencerWakeContinuation: AsyncStream<Void>.Continuation
    private let checkpointWake: AsyncStream<Void>
    private let checkpointWakeContinuation: AsyncStream<Void>.Continuation
    /// Sequenced batches for the writer task, in order.
    private let writeJobs: AsyncStream<WriteJob>
    private let writeJobsContinuation: AsyncStream<WriteJob>.Continuation

    /// Runs after a checkpoint is stored and before it is published (step 4 above): the static tile export.
    private let checkpointStored: (@Sendable (StoredCheckpoint) async -> Void)?
    /// Witnesses whose quorum must cosign a checkpoint before it is published (nil: published once stored).
    private let cosigner: (any CheckpointCosigner)?
    /// Signed and stored, not yet published for want of cosignatures (only with a cosigner).
    private let uncosigned = Mutex<StoredCheckpoint?>(nil)
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
    private let cosignedSizeGauge: Gauge
    private let isSequencerGauge: Gauge
    private let leaseChanges: Counter

    /// Opens the ledger over a store, checking that the store and the key agree
    /// (see the crash ordering above). Signs a first checkpoint on a new log.
    ///
    /// With `node` on a `SharedLedgerStore`, the ledger joins the nodes sharing
    /// it: it sequences only while it holds the lease (see above).
    public static func open(
        store: any LedgerStore, signer: NoteSigner, checkpointInterval: Duration = .seconds(1),
        maxBatchEvents: Int = 10_000, node: String? = nil, logger: Logger = Logger(label: "greffe.ledger"),
        metricsFactory: (any MetricsFactory)? = nil, checkpointStored: (@Sendable (StoredCheckpoint) async -> Void)? = nil,
        cosigner: (any CheckpointCosigner)? = nil
    ) async throws -> Ledger {
        try await open(
            store: store, keys: LogKeys(signer: signer), checkpointInterval: checkpointInterval, maxBatchEvents: maxBatchEvents, node: node,
            logger: logger, metricsFactory: metricsFactory, checkpointStored: checkpointStored, cosigner: cosigner)
    }

    /// `open` with several keys (key rotation): all signing keys sign each checkpoint.
    public static func open(
        store: any LedgerStore, keys: LogKeys, checkpointInterval: Duration = .seconds(1),
        maxBatchEvents: Int = 10_000, node: String? = nil, logger: Logger = Logger(label: "greffe.ledger"),
        metricsFactory: (any MetricsFactory)? = nil, checkpointStored: (@Sendable (StoredCheckpoint) async -> Void)? = nil,
        cosigner: (any CheckpointCosigner)? = nil
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
                checkpoint: served ?? StoredCheckpoint(size: 0, root: MerkleHash.emptyRoot, note: "", signedAtMilliseconds: 0), cosigner: cosigner)
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
            checkpoint: latest ?? StoredCheckpoint(size: 0, root: MerkleHash.emptyRoot, note: "", signedAtMilliseconds: 0), cosigner: cosigner)
        try await ledger.refreshFromStore()
        logger.info("following the sequencer", metadata: ["node": "\(node ?? "")", "tree_size": "\(ledger.treeSize)"])
        return ledger
    }

    /// The sequencer's state from the store, after checking that its latest
    /// checkpoint matches the stored tree and verifies with one of `keys`.
    private static func loadSequencerState(store: any LedgerStore, keys: LogKeys) async throws -> (SequencerState, StoredCheckpoint?) {
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
    private static func checkKeys(_ keys: LogKeys, verify latest: StoredCheckpoint) throws {
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
    private static func servable(
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

    private init(
        store: any LedgerStore, keys: LogKeys, checkpointInterval: Duration, maxBatchEvents: Int, logger: Logger,
        metricsFactory factory: any MetricsFactory, checkpointStored: (@Sendable (StoredCheckpoint) async -> Void)?,
        cluster: Cluster?, state: SequencerState, checkpoint: StoredCheckpoint, cosigner: (any CheckpointCosigner)?
    ) {
        self.checkpointStored = checkpointStored
        self.cosigner = cosigner
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
        cosignedSizeGauge = Gauge(label: "greffe_checkpoint_cosigned_tree_size", factory: factory)
        isSequencerGauge = Gauge(label: "greffe_sequencer_is_leader", factory: factory)
        leaseChanges = Counter(label: "greffe_sequencer_lease_changes_total", factory: factory)
        self.store = store
        self.cluster = cluster
        self.origin = keys.origin
        self.keys = keys
        self.verifier = keys.primary
        self.checkpointInterval = checkpointInterval
        self.maxBatchEvents = maxBatchEvents
        self.logger = logger
        self.sequencer = Mutex(state)
        self.published = Mutex(Published(treeSize: state.frontier.size, root: state.frontier.root, checkpoint: checkpoint))
        (sequencerWake, sequencerWakeContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        (checkpointWake, checkpointWakeContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        (writeJobs, writeJobsContinuation) = AsyncStream.makeStream()
        treeSizeGauge.record(Double(state.frontier.size))
        // A ledger on a store of its own always sequences; a shared store's node until it takes the lease does not.
        isSequencerGauge.record(cluster == nil ? 1 : 0)
        if !checkpoint.note.isEmpty {
            checkpointSizeGauge.record(Double(checkpoint.size))
            checkpointTimeGauge.record(Double(checkpoint.signedAtMilliseconds) / 1000)
            if cosigner != nil { cosignedSizeGauge.record(Double(checkpoint.size)) }
        }
    }

    // MARK: - Running

    /// Runs the sequencer and the checkpoint signer until `shutdown()`; then
    /// sequences what was already queued, signs a last checkpoint and returns.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.runSequencer() }
            group.addTask { await self.runWriter() }
            group.addTask { await self.runCheckpointer() }
            if let cluster = self.cluster {
                group.addTask { await self.runClusterNode(cluster) }
            }
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
        var pipeline = Pipeline()
        for await _ in sequencerWake {
            await advance(&pipeline, draining: false)
        }
        await advance(&pipeline, draining: true)
        writeJobsContinuation.finish()
        checkpointWakeContinuation.finish()
    }

    /// Stores the sequenced batches one after the other, in the order sequenced.
    private func runWriter() async {
        for await job in writeJobs {
            let written = await write(job.batch)
            job.completion.result.withLock { $0 = written }
            sequencerWakeContinuation.yield()
        }
    }

    /// The batches handed to the writer, in order, not yet answered.
    private struct Pipeline {
        var writing: [InFlightWrite] = []
        /// Set when a write failed while a later one was in flight: that one
        /// cannot be stored (it does not start at the store's size).
        var discarding = false
    }

    private struct InFlightWrite {
        var batch: SequencedBatch
        var completion: WriteCompletion
    }

    private struct WriteJob: Sendable {
        var batch: AppendBatch
        var completion: WriteCompletion
    }

    private final class WriteCompletion: Sendable {
        let result = Mutex<Result<Void, any Error>?>(nil)
    }

    /// Writes handed to the writer and not yet answered, at most: one being
    /// written and one waiting, so that the writer need not wait for the
    /// sequencer to answer the one it finished.
    private static let writesInFlight = 2
    /// A batch is sequenced to wait in line behind a write only from this many
    /// queued events: fewer (single-event requests) gain more from growing
    /// until the writer is free, since each commit has a fixed cost.
    private static let minimumQueuedWrite = 256

    /// Moves the pipeline on until nothing can move before the next wake (a new
    /// request, or a write finishing); `draining`: until it is empty.
    ///
    /// When the writer is free, the queued requests are located, sequenced and
    /// handed to it. Once enough are queued they are also sequenced while it
    /// writes (on top of that write; on a shared store, this node's own requests only) and wait in line,
    /// so that the writer, the one serial resource, goes on to them without
    /// waiting for the sequencer to answer the requests it stored. A batch is
    /// answered only once it and every batch before it are stored. If a write
    /// fails, the batch sequenced on top of it goes back to the queue, to be
    /// sequenced again on the tree as it is.
    private func advance(_ pipeline: inout Pipeline, draining: Bool) async {
        while true {
            var moved = false
            while let first = pipeline.writing.first, let written = first.completion.result.withLock({ $0 }) {
                pipeline.writing.removeFirst()
                moved = true
                if pipeline.discarding {
                    if case .success = written {
                        // The store took a batch that did not start at its size: its view and ours differ.
                        published.withLock { $0.fatal = "the store accepted a batch sequenced on a failed one; restart greffe serve" }
                        logger.critical("store inconsistent with the sequencer; refusing further appends")
                        fail(first.batch.requests, with: StoreError(.inconsistent, "a batch sequenced on a failed one was stored"))
                    } else {
                        logger.notice(
                            "a batch sequenced on a failed write goes back to the queue",
                            metadata: ["events": "\(first.batch.appendBatch.events.count)"])
                        queue.withLock { $0.requests.insert(contentsOf: first.batch.requests, at: 0) }
                    }
                } else if !finish(first.batch, written: written) {
                    pipeline.discarding = !pipeline.writing.isEmpty
                }
                if pipeline.writing.isEmpty { pipeline.discarding = false }
            }
            // Behind a write, a shared store's sequencer takes only its own requests: handovers
            // settle in their batch's transaction, so a batch holding any is written alone.
            let localOnly = cluster != nil && !pipeline.writing.isEmpty
            let (queuedRequests, queuedEvents) = queue.withLock { queue in
                let eligible = localOnly ? queue.requests.filter(\.isLocal) : queue.requests
                return (eligible.count, eligible.reduce(0) { $0 + $1.events.count })
            }
            let sequenceNow =
                !pipeline.discarding && queuedRequests > 0
                && (pipeline.writing.isEmpty || (pipeline.writing.count < Self.writesInFlight && queuedEvents >= Self.minimumQueuedWrite))
            if sequenceNow {
                moved = true
                let requests = takeQueued(localOnly: localOnly)
                let base = pipeline.writing.last?.batch.after ?? sequencer.withLock { $0 }
                if let sequenced = await sequence(requests, on: base, unstored: pipeline.writing.map(\.batch.locations)) {
                    if cluster != nil && !sequenced.appendBatch.handoverOutcomes.isEmpty {
                        // Nothing is in flight (see localOnly): written and settled before anything else is sequenced.
                        _ = finish(sequenced, written: await write(sequenced.appendBatch))
                    } else {
                        // Also a batch of re-sends only (nothing to store): answered in turn, after
                        // the writes of the events its receipts may name.
                        let completion = WriteCompletion()
                        pipeline.writing.append(InFlightWrite(batch: sequenced, completion: completion))
                        writeJobsContinuation.yield(WriteJob(batch: sequenced.appendBatch, completion: completion))
                    }
                }
            }
            if !moved {
                guard draining, !pipeline.writing.isEmpty || queuedRequests > 0 else { return }
                // The wake stream has ended: look again shortly.
                try? await Task.sleep(for: .milliseconds(1))
            }
        }
    }

    /// Queued requests, oldest first, up to `maxBatchEvents` events (at least one request);
    /// `localOnly`: this node's own, the handovers staying queued in their order.
    private func takeQueued(localOnly: Bool = false) -> [PendingAppend] {
        queue.withLock { queue in
            var taken: [PendingAppend] = []
            var left: [PendingAppend] = []
            var events = 0
            var position = 0
            while position < queue.requests.count {
                let next = queue.requests[position]
                if localOnly && !next.isLocal {
                    left.append(next)
                } else if taken.isEmpty || events + next.events.count <= maxBatchEvents {
                    events += next.events.count
                    taken.append(next)
                } else {
                    break
                }
                position += 1
            }
            queue.requests.removeFirst(position)
            queue.requests.insert(contentsOf: left, at: 0)
            return taken
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
        if let cluster, !cluster.state.withLock({ $0.isSequencer }) {
            return try await handOver(events, cluster: cluster)
        }
        return try await withCheckedThrowingContinuation { continuation in
            let accepted = queue.withLock { queue in
                guard !queue.closed else { return false }
                queue.requests.append(PendingAppend(events: events, requester: .local(continuation), enqueuedAt: .now))
                return true
            }
            if accepted {
                sequencerWakeContinuation.yield()
            } else {
                continuation.resume(throwing: LedgerError(.shuttingDown, "the ledger is shutting down and takes no more appends"))
            }
        }
    }

    /// Requests sequenced on top of a tree, not yet stored.
    private struct SequencedBatch {
        var requests: [PendingAppend]
        var outcomes: [Result<[AppendReceipt], LedgerError>]
        var appendBatch: AppendBatch
        var after: SequencerState
        /// The new events' places: a re-send in the next batch finds them here before the store has them.
        var locations: [EventKey: EventLocation]
    }

    /// Gives each new event its entry on top of `base`; `unstored`: the places
    /// of events sequenced but not yet stored, which the store does not show.
    /// Nil when the store could not be read (the requests are then answered).
    private func sequence(_ requests: [PendingAppend], on base: SequencerState, unstored: [[EventKey: EventLocation]]) async -> SequencedBatch? {
        let located: [EventKey: EventLocation]
        do {
            let start = ContinuousClock.now
            located = try await store.locateEvents(requests.flatMap { $0.events.map(\.key) })
            locateTimer.recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
        } catch {
            fail(requests, with: error)
            return nil
        }
        var state = base
        var events: [SequencedEvent] = []
        var nodes: [MerkleFrontier.Node] = []
        var sequencedHere: [EventKey: EventLocation] = [:]
        var outcomes: [Result<[AppendReceipt], LedgerError>] = []
        let now = max(UInt64(Date().timeIntervalSince1970 * 1000), state.lastSequencedAt)
        let eventCount = requests.reduce(0) { $0 + $1.events.count }
        events.reserveCapacity(eventCount)
        nodes.reserveCapacity(2 * eventCount + 64)
        sequencedHere.reserveCapacity(eventCount)
        var addedHere: [EventKey] = []

        for request in requests {
            // What a conflict undoes. The IDs this request added are removed one by
            // one: a copy of `sequencedHere` would make every insert copy it whole.
            let rollback = (state, events.count, nodes.count)
            addedHere.removeAll(keepingCapacity: true)
            var receipts: [AppendReceipt] = []
            receipts.reserveCapacity(request.events.count)
            var conflict: LedgerError?
            for event in request.events {
                let digest = event.bodyDigest
                let key = event.key
                if let earlier = located[key] ?? sequencedHere[key] ?? unstored.lazy.compactMap({ $0[key] }).first {
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
                let entry = LedgerEntry(
                    index: state.frontier.size, sequencedAtMilliseconds: now, prev: state.lastLeafHash,
                    commitment: event.commitment, kind: event.kind, layout: event.layout)
                let encoded = entry.encoded
                let leafHash = MerkleHash.leaf(encoded)
                events.append(
                    SequencedEvent(
                        index: entry.index, eventID: event.eventID, platform: event.platform, appendedBy: event.appendedBy, kind: event.kind,
                        canonicalBody: event.canonicalBody, salt: event.salt, bodyDigest: digest, entry: encoded, leafHash: leafHash,
                        sequencedAtMilliseconds: now, terms: event.terms))
                state.frontier.append(leafHash) { nodes.append($0) }
                state.lastLeafHash = leafHash
                state.lastSequencedAt = now
                sequencedHere[key] = EventLocation(index: entry.index, leafHash: leafHash, bodyDigest: digest)
                addedHere.append(key)
                receipts.append(AppendReceipt(eventID: event.eventID, index: entry.index, leafHash: leafHash, isNew: true))
            }
            if let conflict {
                (state, _, _) = rollback
                for id in addedHere { sequencedHere[id] = nil }
                events.removeLast(events.count - rollback.1)
                nodes.removeLast(nodes.count - rollback.2)
                outcomes.append(.failure(conflict))
            } else {
                outcomes.append(.success(receipts))
            }
        }

        var handoverOutcomes: [HandoverOutcome] = []
        for (request, outcome) in zip(requests, outcomes) {
            if case .handover(let id) = request.requester {
                handoverOutcomes.append(HandoverOutcome(id: id, outcome: HandoverCodec.encode(outcome)))
            }
        }
        return SequencedBatch(
            requests: requests, outcomes: outcomes,
            appendBatch: AppendBatch(firstIndex: base.frontier.size, events: events, nodes: nodes, handoverOutcomes: handoverOutcomes),
            after: state, locations: sequencedHere)
    }

    /// Stores a sequenced batch (its events, and the outcomes of its handovers).
    private func write(_ batch: AppendBatch) async -> Result<Void, any Error> {
        do {
            if !batch.events.isEmpty {
                let start = ContinuousClock.now
                try await store.append(batch)
                commitTimer.recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
            } else if !batch.handoverOutcomes.isEmpty, let cluster {
                try await cluster.store.resolveHandovers(batch.handoverOutcomes)
            }
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    /// Publishes a written batch and answers its requests; false if it was not stored.
    private func finish(_ batch: SequencedBatch, written: Result<Void, any Error>) -> Bool {
        if let cluster, !batch.appendBatch.handoverOutcomes.isEmpty {
            let settled = if case .success = written { true } else { false }
            cluster.finish(batch.appendBatch.handoverOutcomes.map(\.id), settled: settled)
        }
        if case .failure(let error) = written {
            if let error = error as? StoreError, error.code == .inconsistent, !batch.appendBatch.events.isEmpty {
                // The store no longer matches this sequencer's view: something else wrote to it.
                // Stop sequencing rather than guess; a restart re-reads the truth.
                published.withLock { $0.fatal = "the store changed underneath the sequencer (\(error.message)); restart greffe serve" }
                logger.critical("store inconsistent with the sequencer; refusing further appends", metadata: ["error": "\(error)"])
            }
            // Nothing was stored: the state before this batch is still the truth.
            fail(batch.requests, with: error)
            return false
        }
        if !batch.appendBatch.events.isEmpty {
            batchSizes.record(batch.appendBatch.events.count)
            let state = batch.after
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
        for (request, outcome) in zip(batch.requests, batch.outcomes) {
            switch outcome {
            case .success(let receipts):
                let new = receipts.filter(\.isNew).count
                appendedEvents.increment(by: new)
                duplicateEvents.increment(by: receipts.count - new)
                if case .local(let continuation) = request.requester { continuation.resume(returning: receipts) }
            case .failure(let error):
                conflictEvents.increment(by: request.events.count)
                if case .local(let continuation) = request.requester { continuation.resume(throwing: error) }
            }
        }
        return true
    }

    private func fail(_ requests: [PendingAppend], with error: any Error) {
        logger.error("append batch failed; nothing of it was stored", metadata: ["error": "\(error)"])
        let failure = LedgerError(.unavailable, "the store could not take the events (\(error)); nothing was written, retry later")
        for request in requests {
            failedAppends.increment(by: request.events.count)
            // A handover stays queued in the store; the next poll retries it.
            if case .local(let continuation) = request.requester { continuation.resume(throwing: failure) }
        }
    }

    // MARK: - Nodes sharing a store

    /// True while this ledger sequences and signs (always, on a store of its own).
    public var isSequencer: Bool {
        cluster?.state.withLock { $0.isSequencer && !$0.leaseLost } ?? true
    }

    /// Set once a sequencer lost its store lease: it stopped, and must be restarted (as a follower).
    public var stoppedBecauseLeaseLost: Bool {
        cluster?.state.withLock { $0.leaseLost } ?? false
    }

    /// True once this node sequenced and its store no longer holds the lease, even before the ledger has
    /// reacted: read without Swift concurrency, by a watchdog thread that must work when tasks do not run.
    public var sequencerLeaseGone: Bool {
        guard let cluster else { return false }
        let (leads, lost) = cluster.state.withLock { ($0.isSequencer, $0.leaseLost) }
        return lost || (leads && !cluster.store.holdsSequencerLease)
    }

    private func becameSequencer(_ cluster: Cluster) {
        cluster.state.withLock { $0.isSequencer = true }
        isSequencerGauge.record(1)
        leaseChanges.increment()
        logger.notice("took the sequencer lease", metadata: ["node": "\(cluster.node)", "tree_size": "\(treeSize)"])
        // The sequencing loop checks the lease between polls, but a poll can hang on a connection that died
        // with the lease: the loss is acted on as soon as the store reports it.
        Task { [weak self] in
            await cluster.store.waitForLeaseLoss()
            guard let self, !self.queue.withLock({ $0.closed }) else { return }
            self.leaseWasLost(cluster)
        }
    }

    /// Follower: try for the lease every second, refresh the committed tree
    /// and checkpoint often. Sequencer: take queued handovers, watch the lease.
    private func runClusterNode(_ cluster: Cluster) async {
        var nextLeaseAttempt = ContinuousClock.now
        while !queue.withLock({ $0.closed }) {
            let (leads, lost) = cluster.state.withLock { ($0.isSequencer, $0.leaseLost) }
            if lost { return }
            if leads {
                guard cluster.store.holdsSequencerLease else {
                    leaseWasLost(cluster)
                    return
                }
                let taken = await takeHandovers(cluster)
                if !taken { try? await Task.sleep(for: .milliseconds(10)) }
                continue
            }
            isSequencerGauge.record(0)
            do {
                try await refreshFromStore()
                if ContinuousClock.now >= nextLeaseAttempt {
                    nextLeaseAttempt = .now.advanced(by: .seconds(1))
                    if try await cluster.store.acquireSequencerLease(node: cluster.node) {
                        try await promote(cluster)
                        continue
                    }
                }
            } catch {
                logger.error("follower could not read the shared store or take the lease", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Loads the tree the last sequencer committed and starts sequencing it.
    private func promote(_ cluster: Cluster) async throws {
        let state: SequencerState
        let latest: StoredCheckpoint?
        do {
            (state, latest) = try await Self.loadSequencerState(store: store, keys: keys)
        } catch {
            // The lease is ours but the store does not check out: sign nothing.
            published.withLock { $0.fatal = "took the sequencer lease but the shared store does not check out: \(error)" }
            leaseWasLost(cluster)
            throw error
        }
        sequencer.withLock { $0 = state }
        published.withLock { published in
            published.treeSize = state.frontier.size
            published.root = state.frontier.root
        }
        if cosigner != nil {
            if let served = try await Self.servable(latest, store: store, keys: keys, cosigner: cosigner, logger: logger) { publish(served) }
            if let latest, latest.size > self.latestCheckpoint.size { uncosigned.withLock { $0 = latest } }
        } else if let latest {
            publish(latest)
        }
        becameSequencer(cluster)
        treeSizeGauge.record(Double(state.frontier.size))
        checkpointWakeContinuation.yield()
    }

    private func leaseWasLost(_ cluster: Cluster) {
        let already = cluster.state.withLock { state in
            defer { state.leaseLost = true }
            return state.leaseLost
        }
        if already { return }
        isSequencerGauge.record(0)
        leaseChanges.increment()
        published.withLock { $0.fatal = $0.fatal ?? "this node lost the sequencer lease and stopped; it restarts as a follower" }
        logger.critical("lost the sequencer lease; stopping so that only the new sequencer writes", metadata: ["node": "\(cluster.node)"])
        shutdown()
    }

    /// Queues handovers not yet taken; true if there were any.
    private func takeHandovers(_ cluster: Cluster) async -> Bool {
        let pollStart = cluster.state.withLock { $0.settlements }
        let pending: [Handover]
        do {
            pending = try await cluster.store.pendingHandovers(limit: 1_000)
        } catch {
            logger.error("could not read queued appends from the shared store", metadata: ["error": "\(error)"])
            return false
        }
        let fresh = cluster.state.withLock { state in
            let fresh = pending.filter { !state.inFlight.contains($0.id) && state.settled[$0.id] == nil }
            state.inFlight.formUnion(fresh.map(\.id))
            // Settled before this read began: no read from now on lists them.
            state.settled = state.settled.filter { $0.value > pollStart }
            return fresh
        }
        if fresh.isEmpty { return false }
        var requests: [PendingAppend] = []
        var malformed: [HandoverOutcome] = []
        for handover in fresh {
            do {
                requests.append(
                    PendingAppend(events: try HandoverCodec.decodeRequest(handover.payload), requester: .handover(handover.id), enqueuedAt: .now))
            } catch {
                malformed.append(
                    HandoverOutcome(
                        id: handover.id,
                        outcome: HandoverCodec.encode(.failure(LedgerError(.unavailable, "the queued request could not be decoded: \(error)")))))
            }
        }
        if !malformed.isEmpty {
            let settled = (try? await cluster.store.resolveHandovers(malformed)) != nil
            cluster.finish(malformed.map(\.id), settled: settled)
        }
        queue.withLock { $0.requests.append(contentsOf: requests) }
        sequencerWakeContinuation.yield()
        return true
    }

    /// Follower: what the sequencer has committed and signed becomes what this node serves.
    private func refreshFromStore() async throws {
        let size = try await store.treeSize()
        published.withLock { $0.treeSize = max($0.treeSize, size) }
        treeSizeGauge.record(Double(size))
        if cosigner != nil {
            // With witnesses, what the sequencer published: the latest cosigned note, checked as at start.
            if let attestation = try await store.latestAttestation(kind: .cosignedNote), attestation.size > published.withLock({ $0.checkpoint.size }),
                let served = try await Self.servable(nil, store: store, keys: keys, cosigner: cosigner, logger: logger)
            {
                publish(served)
            }
        } else if let latest = try await store.latestCheckpoint(), latest.size > published.withLock({ $0.checkpoint.size }) {
            // Served only if our key verifies it: a follower relays, it does not vouch blindly.
            _ = try CheckpointVerifier.verify(note: latest.note, verifiers: keys.verifiers)
            publish(latest)
        }
    }

    /// Follower: queue the request in the shared store and wait until the sequencer settled it.
    private func handOver(_ events: [EventSubmission], cluster: Cluster) async throws -> [AppendReceipt] {
        let id: Int64
        do {
            id = try await cluster.store.handOver(try HandoverCodec.encode(events))
        } catch {
            failedAppends.increment(by: events.count)
            throw LedgerError(.unavailable, "the shared store could not queue the events (\(error)); nothing was written, retry later")
        }
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        var pause = Duration.milliseconds(2)
        while ContinuousClock.now < deadline {
            if let bytes = try? await cluster.store.takeHandoverOutcome(id: id) {
                switch try HandoverCodec.decodeOutcome(bytes) {
                case .success(let receipts):
                    if let last = receipts.map(\.index).max() {
                        published.withLock { $0.treeSize = max($0.treeSize, last + 1) }
                    }
                    let new = receipts.filter(\.isNew).count
                    appendedEvents.increment(by: new)
                    duplicateEvents.increment(by: receipts.count - new)
                    return receipts
                case .failure(let error):
                    if error.code == .conflict { conflictEvents.increment(by: events.count) } else { failedAppends.increment(by: events.count) }
                    throw error
                }
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(50))
        }
        failedAppends.increment(by: events.count)
        throw LedgerError(
            .unavailable,
            "no sequencer took the events within 30 s; they stay queued and will be appended: send them again with the same event_id for the receipt")
    }

    // MARK: - Checkpoints

    /// Signs the committed tree if no checkpoint covers it yet.
    private func signLatest() async throws {
        // A follower's tree size comes from the store and it has no root of its own: only the sequencer signs.
        if let cluster, !cluster.state.withLock({ $0.isSequencer && !$0.leaseLost }) { return }
        let (size, root, latest) = published.withLock { ($0.treeSize, $0.root, $0.checkpoint) }
        if latest.size == size && !latest.note.isEmpty { return }
        if let cosigner, let pending = uncosigned.withLock({ $0 }), pending.size == size {
            // Signed and stored at an earlier tick; only the witnesses' quorum was missing.
            try await publishCosigned(pending, cosigner: cosigner)
            return
        }
        let checkpoint = Checkpoint(origin: origin, size: size, root: root)
        let note = try keys.sign(text: checkpoint.text).formatted
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
    private func publishCosigned(_ stored: StoredCheckpoint, cosigner: any CheckpointCosigner) async throws {
        guard let note = await cosigner.cosign(stored, consistencyProof: { [self] in try await consistencyProof(first: $0, second: $1) }) else {
            let wake = checkpointWakeContinuation
            let pause = max(checkpointInterval, .seconds(1))
            Task {
                try? await Task.sleep(for: pause)
                wake.yield()
            }
            return
        }
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        // Stored before it is served, as the checkpoint itself: a restart serves what was served.
        try await store.storeAttestation(CheckpointAttestation(size: stored.size, kind: .cosignedNote, data: Array(note.utf8), createdAtMilliseconds: now))
        let cosigned = StoredCheckpoint(size: stored.size, root: stored.root, note: note, signedAtMilliseconds: stored.signedAtMilliseconds)
        uncosigned.withLock { if $0?.size ?? 0 <= stored.size { $0 = nil } }
        await checkpointStored?(cosigned)
        publish(cosigned)
    }

    /// Serves `stored` from now on and answers the receipts waiting for it.
    private func publish(_ stored: StoredCheckpoint) {
        let size = stored.size
        let ready = published.withLock { published -> [(size: UInt64, continuation: CheckedContinuation<StoredCheckpoint, any Error>)] in
            guard stored.size >= published.checkpoint.size else { return [] }
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
