import Foundation
public import GreffeLedger
import GreffeStore
public import Logging
public import Metrics
public import ServiceLifecycle
import Synchronization

/// Drops the bodies of events past their retention period (`greffe serve
/// --retention-days`), a batch at a time, each batch recorded in the log first
/// (`Ledger.applyRetention`). Runs on the sequencer only; never holds back appends.
///
/// Metrics: `greffe_retention_bodies_dropped_total`, `greffe_retention_bodies_held_total`
/// (kept under a legal hold), `greffe_retention_rounds_total{outcome}` (done, failed).
public final class RetentionKeeper: Sendable {
    public let ledger: Ledger
    public let policy: Ledger.RetentionPolicy
    public let interval: Duration
    /// Batches (records) in one round at most, so one round never runs for hours.
    public let batchesPerRound: Int
    private let logger: Logger
    /// Where the next record starts; read from the log on the first round.
    private let next = Mutex<UInt64?>(nil)
    private let dropped: Counter
    private let held: Counter
    private let rounds: [String: Counter]

    public init(
        ledger: Ledger, policy: Ledger.RetentionPolicy, interval: Duration = .seconds(3_600), batchesPerRound: Int = 100, logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.ledger = ledger
        self.policy = policy
        self.interval = interval
        self.batchesPerRound = batchesPerRound
        self.logger = logger
        let factory = metricsFactory ?? MetricsSystem.factory
        dropped = Counter(label: "greffe_retention_bodies_dropped_total", factory: factory)
        held = Counter(label: "greffe_retention_bodies_held_total", factory: factory)
        var rounds: [String: Counter] = [:]
        for outcome in ["done", "failed"] {
            rounds[outcome] = Counter(label: "greffe_retention_rounds_total", dimensions: [("outcome", outcome)], factory: factory)
        }
        self.rounds = rounds
    }

    public func run() async {
        while !Task.isCancelled {
            _ = await applyDue()
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }

    /// One round: batches until nothing is due or `batchesPerRound` were recorded.
    /// `now`: Unix ms (the ledger's clock by default).
    @discardableResult
    public func applyDue(now: UInt64? = nil) async -> [Ledger.RetentionOutcome] {
        guard ledger.isSequencer else { return [] }
        var outcomes: [Ledger.RetentionOutcome] = []
        do {
            var start: UInt64
            if let known = next.withLock({ $0 }) {
                start = known
            } else {
                // First round, or after a failure: finish the latest record first (a deletion it left undone).
                let finished = try await ledger.reapplyLatestRetention()
                if finished > 0 { dropped.increment(by: finished) }
                start = try await ledger.retentionEnd()
            }
            while outcomes.count < batchesPerRound, let outcome = try await ledger.applyRetention(from: start, policy: policy, now: now) {
                outcomes.append(outcome)
                start = outcome.range.upperBound
                next.withLock { $0 = start }
                dropped.increment(by: outcome.dropped)
                held.increment(by: outcome.held)
                logger.info(
                    "retention applied",
                    metadata: [
                        "record_index": "\(outcome.recordIndex)", "from_index": "\(outcome.range.lowerBound)", "to_index": "\(outcome.range.upperBound)",
                        "bodies_dropped": "\(outcome.dropped)", "kept_under_hold": "\(outcome.held)",
                    ])
            }
            rounds["done"]?.increment()
        } catch {
            // The record is in the log before any deletion: the next round, or the next start, finishes it.
            rounds["failed"]?.increment()
            logger.error("retention failed; retrying at the next interval", metadata: ["error": "\(error)"])
            next.withLock { $0 = nil }
        }
        return outcomes
    }
}

/// Runs a `RetentionKeeper` beside the ledger; stops at shutdown.
public struct RetentionService: Service {
    public let keeper: RetentionKeeper

    public init(keeper: RetentionKeeper) {
        self.keeper = keeper
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await keeper.run() }
    }
}
