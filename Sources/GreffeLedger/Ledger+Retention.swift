import Foundation
public import GreffeCore
public import GreffeStore
import Logging

/// The end of a retention period (`greffe serve --retention-days`): bodies are
/// dropped, the entries, the tree and every proof stay. Each batch is one
/// `retention.applied` record, appended before anything is deleted, naming the
/// range, the cut-off and the legal basis; a bundle proves a dropped body with it
/// (Schemas/bundle.md, "Erasures"). Greffe's own records and events under an
/// active legal hold keep their bodies.
extension Ledger {
    public static let retentionKind = "retention.applied"

    public struct RetentionPolicy: Sendable, Equatable {
        public var days: Int
        /// The law or policy: the record's `legal_basis`, each dropped event's legal reference.
        public var legalBasis: String
        /// Events looked at, and so at most dropped, per record.
        public var batchSize: Int

        public init(days: Int, legalBasis: String, batchSize: Int = 10_000) {
            self.days = days
            self.legalBasis = legalBasis
            self.batchSize = batchSize
        }

        /// The events recorded before this time, in Unix ms, are past retention at `now`.
        public func cutoff(now: UInt64) -> UInt64 {
            now - min(now, UInt64(days) * 86_400_000)
        }
    }

    public struct RetentionOutcome: Sendable, Equatable {
        public var recordIndex: UInt64
        public var range: Range<UInt64>
        /// Bodies dropped now.
        public var dropped: Int
        /// Kept: under an active legal hold.
        public var held: Int
    }

    /// Where the next `retention.applied` record of this log's own entries starts: the end of the
    /// latest one's range (each starts where the one before ended), 0 before the first. Records with a
    /// `shard` member name a sealed shard's entries (`applySealedRetention`) and are not counted.
    public func retentionEnd() async throws -> UInt64 {
        try await retentionEnd(forShard: nil)
    }

    /// The end of the latest `retention.applied` record in this log naming `shard`'s entries (nil: its own).
    public func retentionEnd(forShard shard: Int?) async throws -> UInt64 {
        guard let latest = try await latestRetentionRecord(forShard: shard), let record = try await retentionRecord(at: latest) else { return 0 }
        return record.range.upperBound
    }

    /// The index of the latest `retention.applied` entry naming `shard`'s entries (nil: this log's own):
    /// an index-only walk of that kind, then the records read from the newest back.
    func latestRetentionRecord(forShard shard: Int? = nil) async throws -> UInt64? {
        var all: [UInt64] = []
        var after: UInt64?
        while true {
            let page = try await searchIndices(EventQuery(kinds: [Ledger.retentionKind], afterIndex: after, limit: 1_000))
            all += page
            guard page.count == 1_000, let last = page.last else { break }
            after = last
        }
        for index in all.reversed() {
            if let record = try await retentionRecord(at: index), record.shard == shard { return index }
        }
        return nil
    }

    /// One batch from `start`: the events recorded before the policy's cut-off at
    /// `now`, at most `batchSize` of them, lose their bodies under one record. Nil
    /// when none is due. The record comes first, naming the events a legal hold
    /// keeps (so no bundle can pass one off as dropped); if the deletion is
    /// interrupted, the next start finishes it (`reapplyLatestRetention`).
    /// `holds`: every shard's active holds on a ledger with temporal shards (nil: this log's).
    public func applyRetention(
        from start: UInt64, policy: RetentionPolicy, now: UInt64? = nil, holds: (@Sendable () async throws -> [LegalHold])? = nil
    ) async throws -> RetentionOutcome? {
        let holds = holds ?? { try await self.legalHolds().filter(\.isActive) }
        let cutoff = policy.cutoff(now: now ?? clock.nowMilliseconds())
        let size = treeSize
        guard start < size else { return nil }
        let due = try await indexRange(recordedFrom: 0, to: cutoff).upperBound
        let end = min(due, start + UInt64(policy.batchSize))
        guard end > start else { return nil }
        let plan = try await retentionPlan(start..<end, cutoff: cutoff, kept: [], holds: try await holds())
        let receipt = try await appendOwnEvent(
            kind: Ledger.retentionKind,
            fields: [
                ("retention_days", .number(Double(policy.days))), ("legal_basis", .string(policy.legalBasis)),
                ("recorded_before", .string(RFC3339Time.format(cutoff))), ("from_index", .number(Double(start))),
                ("to_index", .number(Double(end))), ("kept_under_hold", .array(plan.held.map { .number(Double($0)) })),
            ])
        let record = ErasureRecord(erasedAtMilliseconds: clock.nowMilliseconds(), legalReference: policy.legalBasis, erasureEntryIndex: receipt.index)
        let dropped = try await dropBodies(plan.due, record: record, plannedHolds: plan.holds, currentHolds: holds)
        return RetentionOutcome(recordIndex: receipt.index, range: start..<end, dropped: dropped, held: plan.held.count)
    }

    /// One batch of a sealed shard's retention (Schemas/shards.md, "Retention across shards"), from
    /// `start` in `sealed` (shard `shard`): the record goes in this log, the active shard, with
    /// `"shard": shard` and the sealed shard's indices, before the sealed shard's bodies are dropped.
    /// `holds`: every shard's active legal holds, read again before the deletion.
    public func applySealedRetention(
        to sealed: Ledger, shard: Int, from start: UInt64, policy: RetentionPolicy, holds: @Sendable () async throws -> [LegalHold], now: UInt64? = nil
    ) async throws -> RetentionOutcome? {
        precondition(sealed !== self, "a sealed shard's retention is recorded in another shard")
        let cutoff = policy.cutoff(now: now ?? clock.nowMilliseconds())
        let size = sealed.treeSize
        guard start < size else { return nil }
        let due = try await sealed.indexRange(recordedFrom: 0, to: cutoff).upperBound
        let end = min(due, start + UInt64(policy.batchSize), size)
        guard end > start else { return nil }
        let plan = try await sealed.retentionPlan(start..<end, cutoff: cutoff, kept: [], holds: try await holds())
        let receipt = try await appendOwnEvent(
            kind: Ledger.retentionKind,
            fields: [
                ("retention_days", .number(Double(policy.days))), ("legal_basis", .string(policy.legalBasis)),
                ("recorded_before", .string(RFC3339Time.format(cutoff))), ("shard", .number(Double(shard))), ("from_index", .number(Double(start))),
                ("to_index", .number(Double(end))), ("kept_under_hold", .array(plan.held.map { .number(Double($0)) })),
            ])
        // The sealed store names the record by its index in the shard that holds it; a bundle finds that shard
        // (`LedgerAPI.erasureClaim`): the one whose entry there is a retention.applied naming this shard.
        let record = ErasureRecord(erasedAtMilliseconds: clock.nowMilliseconds(), legalReference: policy.legalBasis, erasureEntryIndex: receipt.index)
        let dropped = try await sealed.dropBodies(plan.due, record: record, plannedHolds: plan.holds, currentHolds: holds)
        return RetentionOutcome(recordIndex: receipt.index, range: start..<end, dropped: dropped, held: plan.held.count)
    }

    /// Applies this log's latest record for `sealed` (shard `shard`) again: a sealed shard's retention
    /// interrupted between its record and the deletion is finished at the next round.
    public func reapplyLatestSealedRetention(to sealed: Ledger, shard: Int, holds: @Sendable () async throws -> [LegalHold]) async throws -> Int {
        guard let latest = try await latestRetentionRecord(forShard: shard), let record = try await retentionRecord(at: latest) else { return 0 }
        let plan = try await sealed.retentionPlan(record.range, cutoff: record.cutoff, kept: record.kept, holds: try await holds())
        guard !plan.due.isEmpty else { return 0 }
        return try await sealed.dropBodies(
            plan.due, record: ErasureRecord(erasedAtMilliseconds: record.recordedAt, legalReference: record.basis, erasureEntryIndex: latest),
            plannedHolds: plan.holds, currentHolds: holds)
    }

    /// Which bodies of `range` a retention drops (`due`) and which an active hold
    /// keeps (`held`): only platform events recorded before `cutoff` with a body, not in `kept`.
    func retentionPlan(
        _ range: Range<UInt64>, cutoff: UInt64, kept: Set<UInt64>, holds: [LegalHold]
    ) async throws -> (due: [UInt64], held: [UInt64], holds: [LegalHold]) {
        var due: [UInt64] = []
        var held: [UInt64] = []
        for index in range where !kept.contains(index) {
            guard let event = try await store.readEvent(index: index), event.erasure == nil, !Ledger.ownKinds.contains(event.kind),
                let body = event.canonicalBody, let entry = try? LedgerEntry(decoding: event.entry), entry.sequencedAtMilliseconds < cutoff
            else { continue }
            if !holds.isEmpty, let value = try? JSONParser.parse(body) {
                let terms = EventIndexTerms.extract(from: value)
                if holds.contains(where: { $0.covers(kind: event.kind, terms: terms) }) {
                    held.append(index)
                    continue
                }
            }
            due.append(index)
        }
        return (due, held, holds)
    }

    /// Drops the bodies of `indices` under `record`, a thousand per transaction, then
    /// purges the copies. If the active holds changed since the plan (`plannedHolds`),
    /// an event one of them covers now is left alone.
    func dropBodies(
        _ indices: [UInt64], record: ErasureRecord, plannedHolds: [LegalHold], currentHolds: () async throws -> [LegalHold]
    ) async throws -> Int {
        let current = try await currentHolds()
        // Only holds placed since the plan need each event read again.
        let holds = current.filter { !plannedHolds.contains($0) }
        var dropped = 0
        var start = 0
        while start < indices.count {
            let slice = indices[start..<min(indices.count, start + 1_000)]
            var due: [UInt64] = []
            for index in slice {
                if !holds.isEmpty, let event = try await store.readEvent(index: index), let body = event.canonicalBody,
                    let value = try? JSONParser.parse(body),
                    holds.contains(where: { $0.covers(kind: event.kind, terms: EventIndexTerms.extract(from: value)) })
                {
                    continue
                }
                due.append(index)
            }
            dropped += try await store.eraseEvents(due, record: record).count
            start += 1_000
        }
        do {
            try await store.purgeErasedCopies()
        } catch {
            logger.error("a body dropped at the end of its retention may remain in the store's files", metadata: ["error": "\(error)"])
            throw LedgerError(
                .erasureIncomplete,
                "the retention recorded at index \(record.erasureEntryIndex) dropped the bodies from the ledger's tables, but: \(error)")
        }
        return dropped
    }

    /// The record at `index` if it is a `retention.applied` Greffe wrote: its basis,
    /// range, cut-off, the events it kept under a hold, and when it was recorded.
    /// `shard`: the sealed shard whose entries it names, nil for this log's own.
    func retentionRecord(
        at index: UInt64
    ) async throws -> (basis: String, range: Range<UInt64>, cutoff: UInt64, kept: Set<UInt64>, recordedAt: UInt64, shard: Int?)? {
        guard let stored = try await store.readEvent(index: index), stored.kind == Ledger.retentionKind, let body = stored.canonicalBody,
            let value = try? JSONParser.parse(body), value["platform"]?.stringValue == Ledger.ownPlatform,
            let basis = value["legal_basis"]?.stringValue, let from = value["from_index"]?.intValue, let to = value["to_index"]?.intValue,
            from >= 0, to >= from, let cutoffText = value["recorded_before"]?.stringValue, let cutoff = RFC3339Time.milliseconds(cutoffText),
            let keptList = value["kept_under_hold"]?.arrayValue, let entry = try? LedgerEntry(decoding: stored.entry)
        else { return nil }
        let kept = Set(keptList.compactMap { $0.intValue }.filter { $0 >= 0 }.map { UInt64($0) })
        var shard: Int?
        if let member = value["shard"] {
            guard let number = member.intValue, number >= 0 else { return nil }
            shard = number
        }
        return (basis, UInt64(from)..<UInt64(to), cutoff, kept, entry.sequencedAtMilliseconds, shard)
    }

    /// Applies the latest `retention.applied` record again: a retention interrupted
    /// between its record and the deletion is finished at the next start. Only the
    /// latest, so that start-up does not grow with history; batches run in order, so an
    /// interruption can only have left the latest one unfinished. Returns the bodies dropped now.
    public func reapplyLatestRetention(holds: (@Sendable () async throws -> [LegalHold])? = nil) async throws -> Int {
        let holds = holds ?? { try await self.legalHolds().filter(\.isActive) }
        guard let latest = try await latestRetentionRecord(), let record = try await retentionRecord(at: latest) else { return 0 }
        let plan = try await retentionPlan(record.range, cutoff: record.cutoff, kept: record.kept, holds: try await holds())
        guard !plan.due.isEmpty else { return 0 }
        return try await dropBodies(
            plan.due, record: ErasureRecord(erasedAtMilliseconds: record.recordedAt, legalReference: record.basis, erasureEntryIndex: latest),
            plannedHolds: plan.holds, currentHolds: holds)
    }
}
