import Foundation
import GreffeCore
import GreffeStore
import Synchronization

// Appending: sequencing requests onto the tree, writing a batch, answering its requests.
extension Ledger {
    // MARK: - Appending

    /// Appends a request's events all or nothing. Returns once they are durable,
    /// in request order; re-sent events get their original place.
    public func append(_ events: [EventSubmission]) async throws -> [AppendReceipt] {
        if let fatal = published.withLock({ $0.fatal }) {
            failedAppends.increment(by: events.count)
            throw LedgerError(.unavailable, fatal)
        }
        if let cluster, cluster.state.withLock({ $0.role.state == .following }) {
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
    struct SequencedBatch {
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
    func sequence(_ requests: [PendingAppend], on base: SequencerState, unstored: [[EventKey: EventLocation]]) async -> SequencedBatch? {
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
        let now = max(clock.nowMilliseconds(), state.lastSequencedAt)
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
    func write(_ batch: AppendBatch) async -> Result<Void, any Error> {
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
    func finish(_ batch: SequencedBatch, written: Result<Void, any Error>) -> Bool {
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

    func fail(_ requests: [PendingAppend], with error: any Error) {
        logger.error("append batch failed; nothing of it was stored", metadata: ["error": "\(error)"])
        let failure = LedgerError(.unavailable, "the store could not take the events (\(error)); nothing was written, retry later")
        for request in requests {
            failedAppends.increment(by: request.events.count)
            // A handover stays queued in the store; the next poll retries it.
            if case .local(let continuation) = request.requester { continuation.resume(throwing: failure) }
        }
    }
}
