import Foundation
public import GreffeCore
public import GreffeStore
import Logging
import Metrics
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
    let checkpointInterval: Duration
    let clock: WallClock
    let maxBatchEvents: Int
    let logger: Logger

    struct PendingAppend {
        var events: [EventSubmission]
        var requester: Requester
        var enqueuedAt: ContinuousClock.Instant

        var isLocal: Bool {
            if case .local = requester { return true }
            return false
        }
    }

    enum Requester {
        /// An HTTP request on this node, waiting.
        case local(CheckedContinuation<[AppendReceipt], any Error>)
        /// A request another node queued in the shared store; settled in the store.
        case handover(Int64)
    }

    /// A node on a shared store: sequencer while it holds the lease, follower otherwise.
    final class Cluster: Sendable {
        let store: any SharedLedgerStore
        let node: String
        let state = Mutex(State())

        struct State {
            /// Following, sequencing or stopped: every change of role goes through it, under this lock.
            var role = ClusterRole(sequencing: false, now: .now)
            /// Handovers queued here and not yet settled, so a poll does not take them twice.
            var inFlight: Set<Int64> = []
            /// Handovers settled lately, with the settlement's number: a poll whose read began
            /// before their commit may still list them as pending.
            var settled: [Int64: UInt64] = [:]
            var settlements: UInt64 = 0
            /// The follower's read of the shared store under way, and since when: one that never
            /// completes (a connection the database side dropped silently) would leave the node
            /// serving an old checkpoint forever, so the process watchdog exits it past a limit.
            var followerStep: (name: String, since: ContinuousClock.Instant)?
        }

        /// Runs one of the follower's reads, known to the watchdog while it runs.
        func following<T: Sendable>(_ step: String, _ body: () async throws -> T) async throws -> T {
            state.withLock { $0.followerStep = (step, .now) }
            defer { state.withLock { $0.followerStep = nil } }
            return try await body()
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

    struct Queue {
        var requests: [PendingAppend] = []
        var closed = false
    }

    /// Only the sequencer task touches it; the lock makes that checkable.
    struct SequencerState {
        var frontier: MerkleFrontier
        var lastLeafHash: Hash
        var lastSequencedAt: UInt64
    }

    struct Published {
        var treeSize: UInt64
        var root: Hash
        /// The checkpoint served; nil until one is signed (and, with witnesses, cosigned).
        var checkpoint: StoredCheckpoint?
        var waiters: [(size: UInt64, continuation: CheckedContinuation<StoredCheckpoint, any Error>)] = []
        /// Set when the ledger must stop signing (a fork attempt or a wrong key); appends then fail.
        var fatal: String?
        var stopped = false
    }

    let cluster: Cluster?
    let queue = Mutex(Queue())
    let nodeCache = NodeCache()
    let sequencer: Mutex<SequencerState>
    let published: Mutex<Published>
    let sequencerWake: AsyncStream<Void>
    let sequencerWakeContinuation: AsyncStream<Void>.Continuation
    let checkpointWake: AsyncStream<Void>
    let checkpointWakeContinuation: AsyncStream<Void>.Continuation
    /// The checkpointer's wait between two signatures, cut short by `shutdown`: the last checkpoint (a shard's
    /// seal, whose rollover holds appends at the gate) is then signed at once.
    let checkpointPause = Mutex<Task<Void, Never>?>(nil)
    /// Sequenced batches for the writer task, in order.
    let writeJobs: AsyncStream<WriteJob>
    let writeJobsContinuation: AsyncStream<WriteJob>.Continuation

    /// Runs after a checkpoint is stored and before it is published (step 4 above): the static tile export.
    let checkpointStored: (@Sendable (StoredCheckpoint) async -> Void)?
    /// Witnesses whose quorum must cosign a checkpoint before it is published (nil: published once stored).
    let cosigner: (any CheckpointCosigner)?
    /// Signed and stored, not yet published for want of cosignatures (only with a cosigner).
    let uncosigned = Mutex<StoredCheckpoint?>(nil)
    /// Commit instant and tree size of each committed batch not yet covered by a published checkpoint.
    let awaitingCheckpoint = Mutex<[(size: UInt64, ackedAt: ContinuousClock.Instant)]>([])

    // Metrics (ops/prometheus/greffe-rules.yml alerts on them). Appends are counted in events.
    // The factory is the global one except in tests, which read their own registry.
    let appendedEvents: Counter
    let duplicateEvents: Counter
    let conflictEvents: Counter
    let failedAppends: Counter
    let batchSizes: Recorder
    let commitTimer: Metrics.Timer
    let checkpointStoreTimer: Metrics.Timer
    let locateTimer: Metrics.Timer
    let ackToCheckpointTimer: Metrics.Timer
    let treeSizeGauge: Gauge
    let checkpointSizeGauge: Gauge
    let checkpointTimeGauge: Gauge
    let cosignedSizeGauge: Gauge
    let isSequencerGauge: Gauge
    let leaseChanges: Counter

    init(
        store: any LedgerStore, keys: LogKeys, checkpointInterval: Duration, maxBatchEvents: Int, logger: Logger,
        metricsFactory factory: any MetricsFactory, checkpointStored: (@Sendable (StoredCheckpoint) async -> Void)?,
        cluster: Cluster?, state: SequencerState, checkpoint: StoredCheckpoint?, cosigner: (any CheckpointCosigner)?,
        clock: WallClock
    ) {
        self.clock = clock
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
        if let checkpoint {
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

    /// Runs the ledger while `body` does (an offline command's own record: a restore's), then stops it,
    /// so that what `body` appended is committed and signed before this returns, whether `body` threw or not.
    public func whileRunning<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let running = Task { await self.run() }
        do {
            let result = try await body()
            shutdown()
            await running.value
            return result
        } catch {
            shutdown()
            await running.value
            throw error
        }
    }

    /// Stops taking appends; `run()` finishes the queued ones and returns.
    public func shutdown() {
        queue.withLock { $0.closed = true }
        sequencerWakeContinuation.finish()
        checkpointPause.withLock { $0?.cancel() }
    }

    func runSequencer() async {
        var pipeline = WritePipeline<InFlightWrite>(sharedStore: cluster != nil)
        for await _ in sequencerWake {
            await advance(&pipeline, draining: false)
        }
        await advance(&pipeline, draining: true)
        writeJobsContinuation.finish()
        checkpointWakeContinuation.finish()
    }

    /// Stores the sequenced batches one after the other, in the order sequenced.
    func runWriter() async {
        for await job in writeJobs {
            let written = await write(job.batch)
            job.completion.result.withLock { $0 = written }
            sequencerWakeContinuation.yield()
        }
    }

    /// A batch handed to the writer, and where the writer puts the result of its write.
    struct InFlightWrite {
        var batch: SequencedBatch
        var completion: WriteCompletion
    }

    struct WriteJob: Sendable {
        var batch: AppendBatch
        var completion: WriteCompletion
    }

    final class WriteCompletion: Sendable {
        let result = Mutex<Result<Void, any Error>?>(nil)
    }

    /// Moves the pipeline on until nothing can move before the next wake (a new
    /// request, or a write finishing); `draining`: until it is empty. The
    /// decisions are `WritePipeline`'s; this carries them out: it answers,
    /// requeues or halts on what settled, and sequences queued requests and
    /// hands them to the writer when the pipeline says so.
    func advance(_ pipeline: inout WritePipeline<InFlightWrite>, draining: Bool) async {
        while true {
            while let next = pipeline.oldestUnfinished, let written = next.completion.result.withLock({ $0 }) {
                if case .success = written { pipeline.writeFinished(.stored) } else { pipeline.writeFinished(.failed) }
            }
            let settled = pipeline.settle()
            for settlement in settled {
                switch settlement {
                case .finish(let write, _):
                    _ = finish(write.batch, written: write.completion.result.withLock { $0 }!)
                case .requeue(let write):
                    logger.notice(
                        "a batch sequenced on a failed write goes back to the queue", metadata: ["events": "\(write.batch.appendBatch.events.count)"])
                    queue.withLock { $0.requests.insert(contentsOf: write.batch.requests, at: 0) }
                case .storedOnAFailedWrite(let write):
                    // The store took a batch that did not start at its size: its view and ours differ.
                    published.withLock { $0.fatal = "the store accepted a batch sequenced on a failed one; restart greffe serve" }
                    logger.critical("store inconsistent with the sequencer; refusing further appends")
                    fail(write.batch.requests, with: StoreError(.inconsistent, "a batch sequenced on a failed one was stored"))
                }
            }
            let localOnly = pipeline.localOnly
            let (queuedRequests, queuedEvents) = queue.withLock { queue in
                let eligible = localOnly ? queue.requests.filter(\.isLocal) : queue.requests
                return (eligible.count, eligible.reduce(0) { $0 + $1.events.count })
            }
            switch pipeline.decide(queuedRequests: queuedRequests, queuedEvents: queuedEvents, draining: draining, moved: !settled.isEmpty) {
            case .sequence(let localOnly):
                let requests = takeQueued(localOnly: localOnly)
                let base = pipeline.inFlight.last?.batch.batch.after ?? sequencer.withLock { $0 }
                guard let sequenced = await sequence(requests, on: base, unstored: pipeline.inFlight.map(\.batch.batch.locations)) else { continue }
                if cluster != nil && !sequenced.appendBatch.handoverOutcomes.isEmpty {
                    // Nothing is in flight (see localOnly): written and settled before anything else is sequenced.
                    _ = finish(sequenced, written: await write(sequenced.appendBatch))
                } else {
                    // Also a batch of re-sends only (nothing to store): answered in turn, after
                    // the writes of the events its receipts may name.
                    let completion = WriteCompletion()
                    pipeline.handedToWriter(InFlightWrite(batch: sequenced, completion: completion))
                    writeJobsContinuation.yield(WriteJob(batch: sequenced.appendBatch, completion: completion))
                }
            case .lookAgain:
                continue
            case .pollShortly:
                // The wake stream has ended: look again shortly.
                try? await Task.sleep(for: .milliseconds(1))
            case .wait:
                return
            }
        }
    }

    /// Queued requests, oldest first, up to `maxBatchEvents` events (at least one request);
    /// `localOnly`: this node's own, the handovers staying queued in their order.
    func takeQueued(localOnly: Bool = false) -> [PendingAppend] {
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

    func runCheckpointer() async {
        var lastSigned = ContinuousClock.now
        for await _ in checkpointWake {
            if let delay = CheckpointSchedule.delay(lastSigned: lastSigned, interval: checkpointInterval, now: .now) {
                let pause = Task { _ = try? await Task.sleep(for: delay) }
                checkpointPause.withLock { $0 = pause }
                // A shutdown before the pause was stored above found nothing to cancel.
                if queue.withLock({ $0.closed }) { pause.cancel() }
                await pause.value
                checkpointPause.withLock { $0 = nil }
            }
            lastSigned = .now
            await signLatestLogged()
        }
        await signLatestLogged()
    }

    func signLatestLogged() async {
        do {
            try await signLatest()
        } catch {
            logger.error("could not sign a checkpoint", metadata: ["error": "\(error)"])
        }
    }
}
