import Foundation
import GreffeCore
import GreffeStore
import Logging
import Metrics
import Synchronization

// Nodes sharing a store: the lease, handovers, following the sequencer.
extension Ledger {
    // MARK: - Nodes sharing a store

    /// True while this ledger sequences and signs (always, on a store of its own).
    public var isSequencer: Bool {
        cluster?.state.withLock { $0.role.isSequencing } ?? true
    }

    /// Set once a sequencer lost its store lease: it stopped, and must be restarted (as a follower).
    public var stoppedBecauseLeaseLost: Bool {
        cluster?.state.withLock { $0.role.isStopped } ?? false
    }

    /// True once this node sequenced and its store no longer holds the lease, even before the ledger has
    /// reacted: read without Swift concurrency, by a watchdog thread that must work when tasks do not run.
    public var sequencerLeaseGone: Bool {
        guard let cluster else { return false }
        let role = cluster.state.withLock { $0.role.state }
        return role == .stopped || (role == .sequencing && (!cluster.store.holdsSequencerLease || cluster.store.sequencerLeaseUnconfirmed))
    }

    /// A follower's read of the shared store that has run for longer than `limit` without completing, if
    /// any: read without Swift concurrency, by the watchdog thread, like `sequencerLeaseGone`.
    public func followerReadStalled(longerThan limit: Duration) -> (step: String, running: Duration)? {
        guard let cluster, let step = cluster.state.withLock({ $0.role.state == .following ? $0.followerStep : nil }) else { return nil }
        let running = ContinuousClock.now - step.since
        return running > limit ? (step.name, running) : nil
    }

    func becameSequencer(_ cluster: Cluster) {
        guard cluster.state.withLock({ $0.role.promoted() }) else { return }
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

    /// Carries out `ClusterRole`'s steps. Follower: serve what the sequencer committed and signed, try
    /// for the lease every second. Sequencer: take queued handovers, watch the lease.
    func runClusterNode(_ cluster: Cluster) async {
        while true {
            let closed = queue.withLock { $0.closed }
            let holdsLease = cluster.store.holdsSequencerLease
            let action = cluster.state.withLock { $0.role.next(now: .now, closed: closed, storeHoldsLease: holdsLease) }
            var foundWork = false
            switch action {
            case .end:
                return
            case .stopSequencing:
                leaseWasLost(cluster)
                return
            case .takeHandovers:
                foundWork = await takeHandovers(cluster)
            case .follow(let tryLease):
                isSequencerGauge.record(0)
                do {
                    do {
                        try await cluster.following("reading the committed tree and checkpoint") { try await refreshFromStore() }
                    } catch {
                        if tryLease { cluster.state.withLock { $0.role.leaseTryNotMade(now: .now) } }
                        throw error
                    }
                    if tryLease, try await cluster.following("trying the sequencer lease", { try await cluster.store.acquireSequencerLease(node: cluster.node) }) {
                        try await promote(cluster)
                        foundWork = true
                    }
                } catch {
                    logger.error("follower could not read the shared store or take the lease", metadata: ["error": "\(error)"])
                }
            }
            if let pause = ClusterRole.pause(after: action, foundWork: foundWork) { try? await Task.sleep(for: pause) }
        }
    }

    /// Loads the tree the last sequencer committed and starts sequencing it.
    func promote(_ cluster: Cluster) async throws {
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
            if let latest, servesLessThan(latest.size) { uncosigned.withLock { $0 = latest } }
        } else if let latest {
            publish(latest)
        }
        becameSequencer(cluster)
        treeSizeGauge.record(Double(state.frontier.size))
        checkpointWakeContinuation.yield()
    }

    func leaseWasLost(_ cluster: Cluster) {
        guard cluster.state.withLock({ $0.role.leaseLost() }) else { return }
        isSequencerGauge.record(0)
        leaseChanges.increment()
        published.withLock { $0.fatal = $0.fatal ?? "this node lost the sequencer lease and stopped; it restarts as a follower" }
        logger.critical("lost the sequencer lease; stopping so that only the new sequencer writes", metadata: ["node": "\(cluster.node)"])
        shutdown()
    }

    /// Queues handovers not yet taken; true if there were any.
    func takeHandovers(_ cluster: Cluster) async -> Bool {
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
    func refreshFromStore() async throws {
        let size = try await store.treeSize()
        published.withLock { $0.treeSize = max($0.treeSize, size) }
        treeSizeGauge.record(Double(size))
        if cosigner != nil {
            // With witnesses, what the sequencer published: the latest cosigned note, checked as at start.
            if let attestation = try await store.latestAttestation(kind: .cosignedNote), servesLessThan(attestation.size),
                let served = try await Self.servable(nil, store: store, keys: keys, cosigner: cosigner, logger: logger)
            {
                publish(served)
            }
        } else if let latest = try await store.latestCheckpoint(), servesLessThan(latest.size) {
            // Served only if our key verifies it: a follower relays, it does not vouch blindly.
            _ = try CheckpointVerifier.verify(note: latest.note, verifiers: keys.verifiers)
            publish(latest)
        }
    }

    /// Follower: queue the request in the shared store and wait until the sequencer settled it.
    func handOver(_ events: [EventSubmission], cluster: Cluster) async throws -> [AppendReceipt] {
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
}
