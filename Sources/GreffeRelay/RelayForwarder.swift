import Foundation
public import GreffeCore
import GreffeStore
public import Logging
import Metrics
public import ServiceLifecycle
import Synchronization

/// Forwards the relay's queue to the ledger and trusts nothing it answers
/// until it verifies (`Schemas/relay.md`):
///
/// - every checkpoint (in append answers and from `GET /checkpoint`, polled
///   when idle) must carry a valid signature of the ledger's key and be
///   consistent with the relay's trusted head (an RFC 9162 consistency proof
///   either way); a ledger whose tree shrank below the head raises a rollback
///   alarm once it cannot prove the head for `rollbackStrikes` checks in a row;
/// - every event's receipt must name it, and its inclusion proof lead from its
///   leaf hash to that checkpoint's root.
///
/// An answer that fails any of these raises an alarm: the events concerned
/// stay in the queue as `suspect`, forwarding stops (nothing more is handed to
/// a ledger that lies) and producers are still accepted until the quota.
/// `greffe relay resume` is the operator's way out. Events are re-sent with
/// their event IDs until a verified receipt is recorded: the ledger answers a
/// re-sent event with its first receipt, so a crash between the ledger's
/// answer and the relay's commit costs one more round trip, not a duplicate.
public final class RelayForwarder: Service, Sendable {
    public enum Outcome: Sendable, Equatable {
        case idle
        case delivered(Int)
        /// Nothing lost: the batch waits in the queue (network, 429, 5xx, an answer not understood).
        case retryLater(String, retryAfter: Int?)
        /// The ledger refused events for good (4xx); they are kept as `refused`.
        case refused(Int)
        case alarm(kind: String, message: String)
        case halted
    }

    let queue: RelayQueue
    let ledger: any RelayLedgerClient
    let verifier: NoteVerifier
    let batchSize: Int
    /// Requests to the ledger at once.
    let inFlight: Int
    let logger: Logger
    /// How many times in a row the ledger may fail to prove the head from a smaller tree before it is a rollback.
    let rollbackStrikes: Int
    /// Seconds between checks of the ledger's checkpoint when there is nothing to send.
    let headCheckInterval: Double
    /// How long a receipted event's body is kept (its receipt and digest are kept for good).
    let keepDeliveredBodies: Duration
    private let halted: Atomic<Bool>
    private let nudged = Atomic<Bool>(false)

    private let receiptsVerified = Counter(label: "greffe_relay_receipts_verified_total")
    private let sendFailures = Counter(label: "greffe_relay_send_failures_total")
    private let refusedCounter = Counter(label: "greffe_relay_refused_total")
    private let alarmCounter = Counter(label: "greffe_relay_alarms_total")
    private let depthGauge = Gauge(label: "greffe_relay_queue_depth")
    private let oldestGauge = Gauge(label: "greffe_relay_oldest_unacknowledged_seconds")
    private let suspectGauge = Gauge(label: "greffe_relay_suspect_events")
    private let bytesGauge = Gauge(label: "greffe_relay_queue_bytes")
    private let haltedGauge = Gauge(label: "greffe_relay_halted")
    private let headGauge = Gauge(label: "greffe_relay_trusted_tree_size")

    public init(
        queue: RelayQueue, ledger: any RelayLedgerClient, verifier: NoteVerifier, batchSize: Int = 1000, inFlight: Int = 8,
        rollbackStrikes: Int = 3, headCheckInterval: Double = 10, keepDeliveredBodies: Duration = .seconds(7 * 86_400), logger: Logger
    ) throws {
        self.keepDeliveredBodies = keepDeliveredBodies
        self.inFlight = max(1, inFlight)
        self.queue = queue
        self.ledger = ledger
        self.verifier = verifier
        self.batchSize = batchSize
        self.rollbackStrikes = rollbackStrikes
        self.headCheckInterval = headCheckInterval
        self.logger = logger
        halted = Atomic(try queue.alarms().contains { !$0.resolved })
    }

    public var isHalted: Bool { halted.load(ordering: .acquiring) }

    /// New events are in the queue: send without waiting for the next poll.
    public func nudge() {
        nudged.store(true, ordering: .releasing)
    }

    // MARK: - The loop

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failures = 0
            var lastHeadCheck = ContinuousClock.now - .seconds(self.headCheckInterval)
            var lastGauges = ContinuousClock.now - .seconds(10)
            var lastPrune = ContinuousClock.now - .seconds(3600)
            while !Task.isCancelled {
                if ContinuousClock.now - lastPrune > .seconds(600) {
                    self.pruneDeliveredBodies()
                    lastPrune = .now
                }
                if ContinuousClock.now - lastGauges > .seconds(2) {
                    self.updateGauges()
                    lastGauges = .now
                }
                self.nudged.store(false, ordering: .relaxed)
                let outcome = await self.step()
                switch outcome {
                case .delivered, .refused:
                    failures = 0
                case .idle:
                    failures = 0
                    if ContinuousClock.now - lastHeadCheck >= .seconds(self.headCheckInterval) {
                        lastHeadCheck = .now
                        if case .retryLater = await self.checkHead() { failures += 1 }
                    }
                    // Polls in short steps so that a producer's nudge is taken up within a few milliseconds.
                    let until = ContinuousClock.now + .seconds(1)
                    while ContinuousClock.now < until, !self.nudged.load(ordering: .acquiring), !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                case .retryLater(_, let retryAfter):
                    failures += 1
                    // Exponential with jitter, capped; a Retry-After from the ledger wins (within a minute).
                    let backoff = min(30, 0.25 * pow(2, Double(min(failures, 8)))) * Double.random(in: 0.5...1)
                    try? await Task.sleep(for: .milliseconds(Int64(1000 * (retryAfter.map { Double(min($0, 60)) } ?? backoff))))
                case .alarm, .halted:
                    try? await Task.sleep(for: .seconds(5))
                }
            }
        }
    }

    /// Drops bodies receipted longer ago than `keepDeliveredBodies` (the disk is bounded by
    /// traffic × that period, not by history).
    public func pruneDeliveredBodies() {
        let cutoff = Self.nowMilliseconds() - Int64(keepDeliveredBodies.components.seconds) * 1000
        do {
            let pruned = try queue.pruneDeliveredBodies(receivedBeforeMilliseconds: cutoff)
            if pruned > 0 { logger.info("bodies of receipted events dropped after the retention period", metadata: ["events": "\(pruned)"]) }
        } catch {
            logger.error("cannot drop old receipted bodies", metadata: ["error": "\(error)"])
        }
    }

    /// Queue depth, age of the oldest unacknowledged event, bytes held, head: read from the queue now.
    public func updateGauges() {
        guard let counts = try? queue.counts() else { return }
        depthGauge.record(counts.queued)
        suspectGauge.record(counts.suspect)
        bytesGauge.record(counts.unreceiptedBytes)
        let now = Self.nowMilliseconds()
        oldestGauge.record(counts.oldestUnacknowledgedMilliseconds.map { Double(max(0, now - $0)) / 1000 } ?? 0)
        haltedGauge.record(isHalted ? 1 : 0)
        if let head = try? queue.head() { headGauge.record(Double(head.size)) }
    }

    static func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: - One step

    /// Sends the oldest queued events (up to `inFlight` batches at once) and records what comes
    /// back. The requests run concurrently (the ledger answers each after its next checkpoint, so
    /// one at a time would cap the relay at a batch per checkpoint interval); their answers are
    /// verified one after the other, in the order sent, each against the head the previous one left.
    public func step() async -> Outcome {
        if isHalted { return .halted }
        let pending: [RelayQueue.Pending]
        do {
            pending = try queue.pending(limit: batchSize * inFlight)
        } catch {
            return .retryLater("the relay's queue cannot be read: \(error)", retryAfter: nil)
        }
        guard !pending.isEmpty else { return .idle }
        let batches = Self.batches(of: pending, maxEvents: batchSize, maxBytes: Self.maxBatchBytes)
        let answers = await withTaskGroup(of: (Int, Result<RelayLedgerAnswer, any Error>).self) { group in
            for (position, batch) in batches.enumerated() {
                group.addTask {
                    do { return (position, .success(try await self.ledger.append(body: Self.batchBody(batch)))) } catch { return (position, .failure(error)) }
                }
            }
            var answers = [Result<RelayLedgerAnswer, any Error>?](repeating: nil, count: batches.count)
            for await (position, answer) in group { answers[position] = answer }
            return answers.map { $0! }
        }
        var delivered = 0
        var refused = 0
        var firstProblem: Outcome?
        for (batch, answer) in zip(batches, answers) {
            var outcome = await record(answer, for: batch)
            // A batch the ledger refused as a whole: one event at a time, so only the bad ones stay behind.
            if case .refused = outcome, batch.count > 1 {
                outcome = await oneByOne(batch)
            }
            switch outcome {
            case .delivered(let n): delivered += n
            case .refused(let n): refused += n
            case .alarm: return outcome
            default: firstProblem = firstProblem ?? outcome
            }
        }
        if delivered > 0 { return .delivered(delivered) }
        if let firstProblem { return firstProblem }
        return .refused(refused)
    }

    /// Below the ledger's 8 MiB request limit, with room for the batch's brackets and commas.
    static let maxBatchBytes = 7 << 20

    /// Consecutive batches of at most `maxEvents` events and `maxBytes` bytes (an event larger
    /// than `maxBytes` alone in its batch), in queue order.
    static func batches(of pending: [RelayQueue.Pending], maxEvents: Int, maxBytes: Int) -> [[RelayQueue.Pending]] {
        var batches: [[RelayQueue.Pending]] = []
        var current: [RelayQueue.Pending] = []
        var bytes = 0
        for event in pending {
            if !current.isEmpty, current.count == maxEvents || bytes + event.body.count + 1 > maxBytes {
                batches.append(current)
                current = []
                bytes = 0
            }
            current.append(event)
            bytes += event.body.count + 1
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }

    private func oneByOne(_ batch: [RelayQueue.Pending]) async -> Outcome {
        var delivered = 0
        var refused = 0
        for event in batch {
            let answer: Result<RelayLedgerAnswer, any Error>
            do { answer = .success(try await ledger.append(body: Self.batchBody([event]))) } catch { answer = .failure(error) }
            switch await record(answer, for: [event]) {
            case .delivered(let n): delivered += n
            case .refused(let n): refused += n
            case let other: return delivered > 0 ? .delivered(delivered) : other
            }
        }
        return refused > 0 && delivered == 0 ? .refused(refused) : .delivered(delivered)
    }

    static func batchBody(_ batch: [RelayQueue.Pending]) -> [UInt8] {
        var body: [UInt8] = Array(#"{"events":["#.utf8)
        body.reserveCapacity(batch.reduce(16) { $0 + $1.body.count + 1 })
        for (position, event) in batch.enumerated() {
            if position > 0 { body.append(UInt8(ascii: ",")) }
            body += event.body
        }
        body += Array("]}".utf8)
        return body
    }

    /// What one answer means for its batch: receipts recorded, a retry, a refusal, or an alarm.
    private func record(_ result: Result<RelayLedgerAnswer, any Error>, for batch: [RelayQueue.Pending]) async -> Outcome {
        let ids = batch.map(\.eventID)
        let answer: RelayLedgerAnswer
        switch result {
        case .success(let received): answer = received
        case .failure(let error): return failed(ids, "the ledger could not be reached: \(error)", retryAfter: nil)
        }
        switch answer.status {
        case 200, 201:
            return await recordAnswer(answer.body, for: batch)
        case 401:
            logger.error("the ledger refused the relay's token (401): check --token-file; events stay queued")
            return failed(ids, "the ledger refused the relay's token (401)", retryAfter: 30)
        case 400, 403, 404, 409, 413, 422:
            let message = Self.errorMessage(answer.body) ?? "status \(answer.status)"
            guard batch.count == 1 else { return .refused(batch.count) }
            try? queue.mark(eventIDs: ids, state: .refused, error: "the ledger refused it (\(answer.status)): \(message)")
            refusedCounter.increment()
            logger.warning("the ledger refused an event for good", metadata: ["event_id": "\(ids[0].prefix(128))", "status": "\(answer.status)", "error": "\(message.prefix(300))"])
            return .refused(1)
        default:
            let message = Self.errorMessage(answer.body) ?? "status \(answer.status)"
            return failed(ids, "the ledger answered \(answer.status): \(message)", retryAfter: answer.retryAfter)
        }
    }

    private func failed(_ ids: [String], _ message: String, retryAfter: Int?) -> Outcome {
        sendFailures.increment()
        try? queue.recordAttempt(eventIDs: ids, error: message)
        logger.notice("forwarding failed; the events stay queued", metadata: ["events": "\(ids.count)", "error": "\(message.prefix(300))"])
        return .retryLater(message, retryAfter: retryAfter)
    }

    static func errorMessage(_ body: [UInt8]) -> String? {
        (try? JSONParser.parse(body))?["error"]?.stringValue.map { String($0.prefix(500)) }
    }

    // MARK: - Verification

    enum Failure: Error {
        case transient(String)
        case alarm(kind: String, message: String)
    }

    private func recordAnswer(_ body: [UInt8], for batch: [RelayQueue.Pending]) async -> Outcome {
        let ids = batch.map(\.eventID)
        do {
            let (receipts, head) = try await verifyAnswer(body, for: ids)
            try queue.recordReceipts(receipts, head: head)
            receiptsVerified.increment(by: receipts.count)
            return .delivered(receipts.count)
        } catch Failure.transient(let message) {
            return failed(ids, message, retryAfter: nil)
        } catch Failure.alarm(let kind, let message) {
            return raise(kind: kind, message: message, suspect: ids)
        } catch {
            return failed(ids, "the receipts could not be recorded: \(error)", retryAfter: nil)
        }
    }

    /// The receipts of `ids` in the ledger's answer, each verified, and the head after it.
    func verifyAnswer(_ body: [UInt8], for ids: [String]) async throws -> ([(eventID: String, logIndex: UInt64, receipt: String)], RelayQueue.Head) {
        // An answer that is not the API's shape may be a proxy's page: the events are durable at
        // the ledger or not, and sending them again tells which. Not an alarm.
        guard let answer = try? JSONParser.parse(body, limits: JSONLimits(maxDepth: 16, maxBytes: 64 << 20)),
            let note = answer["checkpoint"]?.stringValue, let results = answer["results"]?.arrayValue
        else { throw Failure.transient("the ledger's answer is not a receipt list with a checkpoint") }
        let checkpoint = try verifySignature(note)
        let head = try await reconcile(checkpoint)
        var byID: [String: JSONValue] = [:]
        for result in results {
            guard let id = result["event_id"]?.stringValue else { throw Failure.alarm(kind: "receipt", message: "a receipt in the ledger's answer names no event") }
            byID[id] = result
        }
        var receipts: [(eventID: String, logIndex: UInt64, receipt: String)] = []
        let root = checkpoint.checkpoint.root
        let size = checkpoint.checkpoint.size
        for id in ids {
            guard let result = byID[id] else {
                throw Failure.alarm(kind: "receipt", message: "the ledger acknowledged a batch without a receipt for event \(id.prefix(128))")
            }
            guard let index = result["index"]?.doubleValue.flatMap({ UInt64(exactly: $0) }),
                let leafText = result["leaf_hash"]?.stringValue, let leafHash = Hash(base64: leafText),
                let proofObject = result["inclusion_proof"],
                proofObject["index"]?.doubleValue == Double(index), proofObject["tree_size"]?.doubleValue == Double(size),
                proofObject["leaf_hash"]?.stringValue == leafText,
                let proofTexts = proofObject["proof"]?.arrayValue
            else {
                throw Failure.alarm(kind: "receipt", message: "the receipt for event \(id.prefix(128)) is malformed or not for the answer's checkpoint (size \(size))")
            }
            guard let proof = Self.hashes(proofTexts) else {
                throw Failure.alarm(kind: "inclusion", message: "the inclusion proof for event \(id.prefix(128)) holds something that is not a hash")
            }
            do {
                try ProofVerifier.verifyInclusion(index: index, size: size, leafHash: leafHash, proof: proof, root: root)
            } catch {
                throw Failure.alarm(
                    kind: "inclusion", message: "the inclusion proof for event \(id.prefix(128)) at index \(index) does not lead to the signed root of tree \(size): \(error)")
            }
            let receipt: JSONValue = [
                "checkpoint": .string(note), "event_id": .string(id), "index": .number(Double(index)), "leaf_hash": .string(leafText),
                "inclusion_proof": proofObject,
            ]
            receipts.append((id, index, String(decoding: receipt.canonicalBytes(), as: UTF8.self)))
        }
        return (receipts, head)
    }

    /// A proof's hashes (base64), or nil if any element is not one.
    static func hashes(_ texts: [JSONValue]) -> [Hash]? {
        var hashes: [Hash] = []
        hashes.reserveCapacity(texts.count)
        for text in texts {
            guard let hash = text.stringValue.flatMap({ Hash(base64: $0) }) else { return nil }
            hashes.append(hash)
        }
        return hashes
    }

    func verifySignature(_ note: String) throws -> VerifiedCheckpoint {
        do {
            return try CheckpointVerifier.verify(note: note, verifier: verifier)
        } catch {
            throw Failure.alarm(kind: "signature", message: "a checkpoint from the ledger does not verify with its key \(verifier.keyName): \(error)")
        }
    }

    /// Checks `checkpoint` against the trusted head and returns the head after it (the larger
    /// of the two, once proved consistent). The first checkpoint ever seen becomes the head.
    func reconcile(_ checkpoint: VerifiedCheckpoint) async throws -> RelayQueue.Head {
        let new = RelayQueue.Head(size: checkpoint.checkpoint.size, root: checkpoint.checkpoint.root, note: checkpoint.noteText)
        let stored: RelayQueue.Head?
        do { stored = try queue.head() } catch { throw Failure.transient("the relay's head cannot be read: \(error)") }
        guard let head = stored else {
            logger.info("first checkpoint from the ledger trusted as the head", metadata: ["tree_size": "\(new.size)"])
            return new
        }
        if new.size == head.size {
            guard new.root == head.root else {
                throw Failure.alarm(kind: "fork", message: "the ledger signed two different roots for tree size \(new.size): \(head.root) and \(new.root)")
            }
            try? queue.setCounter("behind_strikes", 0)
            return head
        }
        let (first, second) = new.size < head.size ? (new, head) : (head, new)
        let answer: RelayLedgerAnswer
        do {
            answer = try await ledger.consistency(first: first.size, second: second.size)
        } catch {
            throw Failure.transient("the ledger could not be reached for a consistency proof: \(error)")
        }
        if new.size < head.size, (400..<500).contains(answer.status) {
            // The ledger cannot prove a tree it showed before: a lagging replica, or history lost.
            // Kept in the queue: a relay restarted between checks must not start counting again.
            let strikes = ((try? queue.counter("behind_strikes")) ?? 0) + 1
            try? queue.setCounter("behind_strikes", strikes)
            guard strikes >= rollbackStrikes else {
                throw Failure.transient("the ledger's checkpoint (size \(new.size)) is behind the relay's head (size \(head.size)) and it cannot prove the head yet")
            }
            throw Failure.alarm(
                kind: "rollback",
                message: "the ledger went back from tree size \(head.size) to \(new.size) and cannot prove the larger tree \(strikes) times in a row: acknowledged events may be lost")
        }
        guard answer.status == 200 else {
            throw Failure.transient("the ledger answered \(answer.status) for a consistency proof")
        }
        guard let proofTexts = (try? JSONParser.parse(answer.body))?["proof"]?.arrayValue else {
            throw Failure.transient("the ledger's consistency proof answer is not understood")
        }
        guard let proof = Self.hashes(proofTexts) else {
            throw Failure.alarm(kind: "fork", message: "the consistency proof from \(first.size) to \(second.size) holds something that is not a hash")
        }
        do {
            try ProofVerifier.verifyConsistency(first: first.size, second: second.size, firstRoot: first.root, secondRoot: second.root, proof: proof)
        } catch {
            throw Failure.alarm(
                kind: "fork", message: "the ledger's tree of size \(second.size) does not extend its tree of size \(first.size) (a fork, or history rewritten): \(error)")
        }
        try? queue.setCounter("behind_strikes", 0)
        return second
    }

    /// Verifies the ledger's current checkpoint against the head (when there is nothing to send).
    public func checkHead() async -> Outcome {
        if isHalted { return .halted }
        let answer: RelayLedgerAnswer
        do {
            answer = try await ledger.checkpoint()
        } catch {
            return .retryLater("the ledger could not be reached: \(error)", retryAfter: nil)
        }
        guard answer.status == 200 else { return .retryLater("the ledger answered \(answer.status) for its checkpoint", retryAfter: answer.retryAfter) }
        do {
            let checkpoint = try verifySignature(String(decoding: answer.body, as: UTF8.self))
            let head = try await reconcile(checkpoint)
            try queue.setHead(head)
            return .idle
        } catch Failure.transient(let message) {
            return .retryLater(message, retryAfter: nil)
        } catch Failure.alarm(let kind, let message) {
            return raise(kind: kind, message: message, suspect: [])
        } catch {
            return .retryLater("the head could not be recorded: \(error)", retryAfter: nil)
        }
    }

    private func raise(kind: String, message: String, suspect ids: [String]) -> Outcome {
        halted.store(true, ordering: .releasing)
        alarmCounter.increment()
        haltedGauge.record(1)
        try? queue.mark(eventIDs: ids, state: .suspect, error: "\(kind): \(message)")
        try? queue.raiseAlarm(kind: kind, message: message, atMilliseconds: Self.nowMilliseconds())
        logger.critical(
            "ALARM: the ledger's answer does not verify; forwarding stopped, every event kept",
            metadata: ["alarm": "\(kind)", "detail": "\(message)", "suspect_events": "\(ids.count)"])
        return .alarm(kind: kind, message: message)
    }
}
