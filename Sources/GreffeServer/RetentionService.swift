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
    /// The ledger's shards: the active one drops its own bodies, each sealed one its own too, recorded
    /// in the active one (Schemas/shards.md, "Retention across shards").
    public let shards: ShardedLedger
    public var ledger: Ledger { shards.active }
    public let policy: Ledger.RetentionPolicy
    public let interval: Duration
    /// Batches (records) in one round at most, so one round never runs for hours.
    public let batchesPerRound: Int
    private let logger: Logger
    /// Where each shard's next record starts, by shard; read from the logs on the first round (and after a failure).
    private let next = Mutex<[Int: UInt64]>([:])
    private let dropped: Counter
    private let held: Counter
    private let rounds: [String: Counter]

    public convenience init(
        ledger: Ledger, policy: Ledger.RetentionPolicy, interval: Duration = .seconds(3_600), batchesPerRound: Int = 100, logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.init(
            shards: ShardedLedger(single: ledger), policy: policy, interval: interval, batchesPerRound: batchesPerRound, logger: logger,
            metricsFactory: metricsFactory)
    }

    public init(
        shards: ShardedLedger, policy: Ledger.RetentionPolicy, interval: Duration = .seconds(3_600), batchesPerRound: Int = 100, logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.shards = shards
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

    /// One round: batches until nothing is due or `batchesPerRound` were recorded: the sealed shards'
    /// first, oldest first (their bodies are the oldest), then the active shard's.
    /// `now`: Unix ms (the ledger's clock by default).
    @discardableResult
    public func applyDue(now: UInt64? = nil) async -> [Ledger.RetentionOutcome] {
        let active = shards.active
        guard active.isSequencer else { return [] }
        let all = shards.shards
        let activeNumber = all.count - 1
        var outcomes: [Ledger.RetentionOutcome] = []
        // A hold placed in any shard keeps a body, whatever shard holds the body, until lifted in any shard.
        let sharded = all.count > 1
        let holds: @Sendable () async throws -> [LegalHold] = { [shards] in
            sharded ? try await shards.legalHolds().filter(\.isActive) : try await active.legalHolds().filter(\.isActive)
        }
        do {
            for shard in all where outcomes.count < batchesPerRound {
                let isActive = shard.number == activeNumber
                var start: UInt64
                if let known = next.withLock({ $0[shard.number] }) {
                    start = known
                } else if isActive {
                    // First round, or after a failure: finish the latest record first (a deletion it left undone).
                    let finished = try await active.reapplyLatestRetention(holds: holds)
                    if finished > 0 { dropped.increment(by: finished) }
                    start = try await active.retentionEnd()
                } else {
                    start = try await sealedRetentionStart(shard.number, all: all, holds: holds)
                }
                while outcomes.count < batchesPerRound {
                    let outcome =
                        isActive
                        ? try await active.applyRetention(from: start, policy: policy, now: now, holds: holds)
                        : try await active.applySealedRetention(to: shard.ledger, shard: shard.number, from: start, policy: policy, holds: holds, now: now)
                    guard let outcome else { break }
                    outcomes.append(outcome)
                    start = outcome.range.upperBound
                    dropped.increment(by: outcome.dropped)
                    held.increment(by: outcome.held)
                    logger.info(
                        "retention applied",
                        metadata: [
                            "shard": "\(shard.number)", "record_index": "\(outcome.recordIndex)", "from_index": "\(outcome.range.lowerBound)",
                            "to_index": "\(outcome.range.upperBound)", "bodies_dropped": "\(outcome.dropped)", "kept_under_hold": "\(outcome.held)",
                        ])
                }
                next.withLock { $0[shard.number] = start }
            }
            rounds["done"]?.increment()
        } catch {
            // The record is in the log before any deletion: the next round, or the next start, finishes it.
            rounds["failed"]?.increment()
            logger.error("retention failed; retrying at the next interval", metadata: ["error": "\(error)"])
            next.withLock { $0 = [:] }
        }
        return outcomes
    }

    /// Where sealed shard `number`'s next batch starts: the end of its latest record, in the shard itself
    /// (from while it was active) or in a later one (naming it), after finishing that later record's
    /// deletion if it was interrupted.
    private func sealedRetentionStart(_ number: Int, all: [ShardedLedger.Shard], holds: @escaping @Sendable () async throws -> [LegalHold]) async throws -> UInt64 {
        let sealed = all[number].ledger
        var start = try await sealed.retentionEnd()
        for later in all[(number + 1)...].reversed() {
            let end = try await later.ledger.retentionEnd(forShard: number)
            guard end > 0 else { continue }
            // Batches run in order, so only the latest record can have been left unfinished.
            if later.ledger === shards.active {
                let finished = try await later.ledger.reapplyLatestSealedRetention(to: sealed, shard: number, holds: holds)
                if finished > 0 { dropped.increment(by: finished) }
            }
            start = max(start, end)
            break
        }
        return start
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
