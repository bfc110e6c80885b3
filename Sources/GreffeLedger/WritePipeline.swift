/// The sequencer's write pipeline as a value: the batches handed to the
/// writer, in order, and what to do when a write finishes or requests wait.
/// No tasks, locks, clock or store: `Ledger.advance` feeds it what happened
/// and carries out what it answers, so every interleaving the integration
/// tests needed timing for is a sequence of calls here (`WritePipelineTests`).
///
/// Rules (see the crash ordering in `Ledger.swift`):
/// - Batches are answered in the order they were sequenced, each only once it
///   and every batch before it are written.
/// - A batch may be sequenced on top of one still being written, only from
///   `minimumQueuedWrite` queued events and with at most `writesInFlight`
///   batches handed over; on a shared store, only this node's own requests
///   (a batch settling handovers is written alone).
/// - When a write fails, the batches sequenced on top of it cannot be stored
///   (they do not start at the store's size): their requests go back to the
///   front of the queue, to be sequenced again on the tree as it is. Nothing
///   is sequenced until they have all come back. If the store took one of
///   them anyway, its view and the sequencer's differ: the ledger halts.
struct WritePipeline<Batch> {
    enum Outcome: Equatable, Sendable {
        case stored
        case failed
    }

    /// What to do with a batch whose write, and every write before it, has finished.
    enum Settlement {
        /// Answer its requests: receipts if stored, the write's error if not.
        case finish(Batch, Outcome)
        /// Sequenced on a write that failed, and not stored: its requests go back to the front of the queue.
        case requeue(Batch)
        /// Sequenced on a write that failed, yet stored: the store and the sequencer disagree; halt.
        case storedOnAFailedWrite(Batch)
    }

    enum Decision: Equatable, Sendable {
        /// Take queued requests (only this node's own if `localOnly`), sequence them and hand them to the writer.
        case sequence(localOnly: Bool)
        /// Something settled: look again at once.
        case lookAgain
        /// Nothing can move before the next wake (a request or a finished write); draining, nothing is left.
        case wait
        /// Draining: writes or requests remain but the wake stream has ended; look again shortly.
        case pollShortly
    }

    /// At most this many batches handed to the writer and not yet answered: one being
    /// written and one waiting, so the writer need not wait for the sequencer.
    static var writesInFlight: Int { 2 }
    /// A batch waits in line behind a write only from this many queued events: fewer
    /// (single-event requests) gain more from growing until the writer is free.
    static var minimumQueuedWrite: Int { 256 }

    private(set) var inFlight: [(batch: Batch, outcome: Outcome?)] = []
    /// Set when a write failed while later ones were in flight, until they have all come back.
    private(set) var discarding = false
    /// On a store shared between nodes, handovers settle in their batch's transaction.
    let sharedStore: Bool

    init(sharedStore: Bool) {
        self.sharedStore = sharedStore
    }

    var isEmpty: Bool { inFlight.isEmpty }

    /// The oldest batch whose write has not finished (the writer takes them in order).
    var oldestUnfinished: Batch? { inFlight.first { $0.outcome == nil }?.batch }

    /// A batch handed to the writer.
    mutating func handedToWriter(_ batch: Batch) {
        inFlight.append((batch, nil))
    }

    /// The writer finished the oldest unfinished batch.
    mutating func writeFinished(_ outcome: Outcome) {
        guard let position = inFlight.firstIndex(where: { $0.outcome == nil }) else {
            preconditionFailure("a write finished that was never handed to the writer")
        }
        inFlight[position].outcome = outcome
    }

    /// The batches that can be answered now, in order, with what to do with each.
    mutating func settle() -> [Settlement] {
        var settled: [Settlement] = []
        while let first = inFlight.first, let outcome = first.outcome {
            inFlight.removeFirst()
            if discarding {
                settled.append(outcome == .stored ? .storedOnAFailedWrite(first.batch) : .requeue(first.batch))
            } else {
                settled.append(.finish(first.batch, outcome))
                if outcome == .failed { discarding = !inFlight.isEmpty }
            }
            if inFlight.isEmpty { discarding = false }
        }
        return settled
    }

    /// Behind a write, a shared store's sequencer takes only its own requests.
    var localOnly: Bool { sharedStore && !inFlight.isEmpty }

    /// What the sequencer does next, given the requests it may take now (see `localOnly`).
    /// `moved`: whether anything settled in this round.
    func decide(queuedRequests: Int, queuedEvents: Int, draining: Bool, moved: Bool) -> Decision {
        let canSequence =
            !discarding && queuedRequests > 0
            && (inFlight.isEmpty || (inFlight.count < Self.writesInFlight && queuedEvents >= Self.minimumQueuedWrite))
        if canSequence { return .sequence(localOnly: localOnly) }
        if moved { return .lookAgain }
        return draining && !(inFlight.isEmpty && queuedRequests == 0) ? .pollShortly : .wait
    }
}
