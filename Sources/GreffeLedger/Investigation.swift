import Foundation
public import GreffeCore
public import GreffeStore
public import Logging

/// What investigators do, each act recorded in the log itself.
extension Ledger {
    /// The `platform` of the events Greffe writes itself; no append token may be bound to it.
    public static let ownPlatform = "greffe"
    /// The kinds only Greffe writes: the chain of custody, which no platform may send and no order may erase.
    public static let ownKinds = LedgerEntry.greffeWrittenKinds

    /// Appends an event that Greffe itself writes (`access.granted`, `erasure.executed`).
    func appendOwnEvent(kind: String, fields: [(String, JSONValue)]) async throws -> AppendReceipt {
        let eventID = "greffe-\(kind)-\(UUID().uuidString.lowercased())"
        var members: [(String, JSONValue)] = [
            ("event_id", .string(eventID)), ("kind", .string(kind)),
            ("occurred_at", .string(RFC3339Time.format(clock.nowMilliseconds()))),
            ("platform", .string(Ledger.ownPlatform)), ("schema_version", 1),
        ]
        members += fields
        let body = JSONValue.object(JSONObject(members))
        return try await append([try EventSubmission(eventID: eventID, platform: Ledger.ownPlatform, kind: kind, canonicalBody: body.canonicalBytes(), body: body)])[0]
    }

    /// Records an investigator's access before any data is handed over, so the
    /// chain of custody is complete even if the answer never arrives.
    @discardableResult
    public func recordAccess(token: TokenRecord, action: String, query: JSONValue, resultCount: Int? = nil) async throws -> AppendReceipt {
        var fields: [(String, JSONValue)] = [
            ("token_name", .string(token.name)), ("role", .string(token.role.rawValue)), ("action", .string(action)), ("query", query),
        ]
        if let resultCount { fields.append(("result_count", .number(Double(resultCount)))) }
        return try await appendOwnEvent(kind: "access.granted", fields: fields)
    }

    public func readEvent(index: UInt64) async throws -> StoredEvent? {
        guard index < treeSize else { return nil }
        return try await store.readEvent(index: index)
    }

    /// The indices of the events matching `query` within the tree; reads no body,
    /// so that the access can be recorded before any is read.
    public func searchIndices(_ query: EventQuery) async throws -> [UInt64] {
        let size = treeSize
        return try await store.searchEvents(query).filter { $0 < size }
    }

    public func readEvents(_ indices: [UInt64]) async throws -> [StoredEvent] {
        var events: [StoredEvent] = []
        for index in indices {
            if let event = try await store.readEvent(index: index) { events.append(event) }
        }
        return events
    }

    /// The entries Greffe recorded in `[from, to)` (Unix ms), by its own clock:
    /// entries' times never decrease along the log, so two binary searches
    /// over the entries find them (O(log n) reads), whatever the events claim.
    public func indexRange(recordedFrom from: UInt64, to: UInt64) async throws -> Range<UInt64> {
        try await Ledger.indexRange(store: store, size: treeSize, recordedFrom: from, to: to)
    }

    /// `indexRange(recordedFrom:to:)` over the first `size` entries of a store no ledger serves (`greffe report`).
    public static func indexRange(store: any LedgerStore, size: UInt64, recordedFrom from: UInt64, to: UInt64) async throws -> Range<UInt64> {
        func firstIndex(recordedAtOrAfter time: UInt64) async throws -> UInt64 {
            var low: UInt64 = 0
            var high = size
            while low < high {
                let middle = low + (high - low) / 2
                let entry = try LedgerEntry(decoding: try await store.readEntries(first: middle, count: 1)[0])
                if entry.sequencedAtMilliseconds < time { low = middle + 1 } else { high = middle }
            }
            return low
        }
        let lower = try await firstIndex(recordedAtOrAfter: from)
        return lower..<max(lower, try await firstIndex(recordedAtOrAfter: to))
    }

    /// Erases an event's body and salt under a legal order. The order is
    /// appended first (`erasure.executed`), so the log records it before the
    /// data disappears; the entry, the tree and every proof stay valid.
    /// Greffe's own records (the chain of custody) cannot be erased, and an
    /// event is erased at most once: the store's claim lets one of concurrent
    /// requests (on any node) record an order, the others get a conflict.
    /// `holds`: every shard's holds on a ledger with temporal shards (a hold placed in any shard outranks the order).
    public func erase(
        index: UInt64, legalReference: String, reason: String, holds: (() async throws -> [LegalHold])? = nil
    ) async throws -> (record: ErasureRecord, entry: AppendReceipt) {
        try await erase(index: index, in: self, shard: nil, legalReference: legalReference, reason: reason, holds: holds ?? { try await self.legalHolds() })
    }

    /// Erases an event of a sealed shard (`sealed`, shard `shard`) under a legal order (Schemas/shards.md,
    /// "Erasure orders in a sealed shard"): the order is appended in this log, the active shard, with
    /// `"shard": shard` and the sealed shard's index, before the sealed shard's body and salt are deleted.
    /// `holds`: every shard's legal holds, a hold placed in any shard outranking the order.
    public func erase(
        index: UInt64, inSealedShard sealed: Ledger, shard: Int, legalReference: String, reason: String,
        holds: () async throws -> [LegalHold]
    ) async throws -> (record: ErasureRecord, entry: AppendReceipt) {
        precondition(sealed !== self, "a sealed shard's erasure is recorded in another shard")
        return try await erase(index: index, in: sealed, shard: shard, legalReference: legalReference, reason: reason, holds: holds)
    }

    /// The order recorded in this log, the event erased in `target` (this log, or sealed shard `shard`).
    private func erase(
        index: UInt64, in target: Ledger, shard: Int?, legalReference: String, reason: String, holds: () async throws -> [LegalHold]
    ) async throws -> (record: ErasureRecord, entry: AppendReceipt) {
        let place = shard.map { "the event at index \(index) of shard \($0)" } ?? "the event at index \(index)"
        guard let event = try await target.readEvent(index: index) else {
            throw LedgerError(.notFound, "no event at index \(index)\(shard.map { " in shard \($0)" } ?? "")")
        }
        guard !Ledger.ownKinds.contains(event.kind) else {
            throw LedgerError(.refused, "\(place) is a record of kind \(event.kind), part of Greffe's own chain of custody, which no order can erase")
        }
        if event.erasure != nil { throw LedgerError(.conflict, "\(place) was already erased") }
        // A preservation order outranks an erasure order until it is lifted.
        if let hold = try await holdCovering(event, holds: holds) {
            throw LedgerError(
                .conflict,
                "\(place) is under the legal hold recorded at index \(hold.index)\(hold.shard.map { " of shard \($0)" } ?? "") (\(hold.authority), \(hold.reference)); it cannot be erased until that hold is lifted"
            )
        }
        do {
            try await target.store.claimErasure(index: index)
        } catch let error as StoreError where error.code == .duplicate {
            throw LedgerError(.conflict, error.message)
        }
        var fields: [(String, JSONValue)] = [("target_index", .number(Double(index)))]
        if let shard { fields.append(("shard", .number(Double(shard)))) }
        fields += [("legal_reference", .string(legalReference)), ("reason", .string(reason))]
        let receipt: AppendReceipt
        do {
            receipt = try await appendOwnEvent(kind: "erasure.executed", fields: fields)
        } catch {
            try? await target.store.releaseErasureClaims(index: index)
            throw error
        }
        // From here the order is in the log: if deleting fails, start-up applies it (`reapplyRecordedErasures`, `reapplyErasures(of:into:)`).
        let record = ErasureRecord(erasedAtMilliseconds: clock.nowMilliseconds(), legalReference: legalReference, erasureEntryIndex: receipt.index)
        try await target.store.eraseEvent(index: index, record: record)
        do {
            try await target.store.purgeErasedCopies()
        } catch {
            logger.error("an erased body may remain in the store's files", metadata: ["index": "\(index)", "shard": "\(shard ?? 0)", "error": "\(error)"])
            throw LedgerError(
                .erasureIncomplete,
                "the erasure of \(place) is recorded at index \(receipt.index) and the body is gone from the ledger's tables, but: \(error)")
        }
        return (record, receipt)
    }

    /// Applies the orders this log records for `shard`'s events (`erase(index:inSealedShard:…)`) whose
    /// bodies `sealed` still stores: an erasure interrupted between its record and the deletion.
    @discardableResult
    public func reapplyErasures(of shard: Int, into sealed: Ledger) async throws -> [UInt64] {
        let erasedNow = try await Ledger.applyRecordedOrders(recordsIn: store, naming: shard, to: sealed.store)
        if !erasedNow.isEmpty {
            logger.warning("applied erasures of a sealed shard the log records but its store had not", metadata: ["shard": "\(shard)", "indices": "\(erasedNow)"])
            try await sealed.store.purgeErasedCopies()
        }
        return erasedNow
    }

    /// Erases, in `target`, each event whose `erasure.executed` record `records` holds and whose body `target`
    /// still stores. `shard`: the orders naming that shard (another log's events); nil: those naming none (`records`' own).
    static func applyRecordedOrders(recordsIn records: any LedgerStore, naming shard: Int?, to target: any LedgerStore) async throws -> [UInt64] {
        var erasedNow: [UInt64] = []
        var after: UInt64?
        while true {
            let page = try await records.searchEvents(EventQuery(kinds: ["erasure.executed"], afterIndex: after, limit: 1_000))
            for recordIndex in page {
                guard let stored = try await records.readEvent(index: recordIndex), let body = stored.canonicalBody,
                    let order = try? JSONParser.parse(body), order["platform"]?.stringValue == Ledger.ownPlatform, order["shard"]?.intValue == shard,
                    shard != nil || order["shard"] == nil,
                    let index = order["target_index"]?.intValue, index >= 0, let reference = order["legal_reference"]?.stringValue,
                    let event = try await target.readEvent(index: UInt64(index)), event.erasure == nil, !Ledger.ownKinds.contains(event.kind)
                else { continue }
                let entry = try LedgerEntry(decoding: stored.entry)
                try await target.eraseEvent(
                    index: UInt64(index),
                    record: ErasureRecord(erasedAtMilliseconds: entry.sequencedAtMilliseconds, legalReference: reference, erasureEntryIndex: recordIndex))
                erasedNow.append(UInt64(index))
            }
            guard page.count == 1_000, let last = page.last else { break }
            after = last
        }
        return erasedNow
    }

    /// Applies every erasure the log records whose body is still stored: an
    /// erasure interrupted between its record and the deletion, or a backup
    /// restored from before the order. Run before the ledger serves. Returns
    /// the indices erased now.
    @discardableResult
    public func reapplyRecordedErasures() async throws -> [UInt64] {
        let erased = try await Ledger.reapplyRecordedErasures(store: store, logger: logger)
        let dropped = try await reapplyLatestRetention()
        if dropped > 0 { logger.warning("finished an interrupted retention", metadata: ["bodies_dropped": "\(dropped)"]) }
        return erased
    }

    /// `reapplyRecordedErasures` on a store no ledger serves yet (`greffe restore`).
    @discardableResult
    public static func reapplyRecordedErasures(store: any LedgerStore, logger: Logger) async throws -> [UInt64] {
        try await store.releaseErasureClaims(index: nil)
        // An order naming a shard erased an event of that (sealed) shard: `reapplyErasures(of:into:)`.
        let erasedNow = try await applyRecordedOrders(recordsIn: store, naming: nil, to: store)
        if !erasedNow.isEmpty {
            logger.warning("applied erasures the log records but the store had not", metadata: ["indices": "\(erasedNow)"])
        }
        try await store.purgeErasedCopies()
        return erasedNow
    }

    /// For each report, whether and how fast a takedown of the same content followed.
    public func takedownReport(deadline: Duration = .seconds(48 * 3600)) async throws -> [TakedownLine] {
        let size = treeSize
        return TakedownLine.lines(
            for: try await store.takedownLinks().filter { $0.reportIndex < size && ($0.takedownIndex ?? 0) < size }, deadline: deadline,
            now: clock.nowMilliseconds())
    }
}

public struct TakedownLine: Sendable, Equatable {
    public enum Status: String, Sendable {
        case inTime = "in_time"
        case late
        /// No takedown yet and the deadline has passed.
        case overdue
        /// No takedown yet, still within the deadline.
        case open
    }

    public var link: TakedownLink
    public var delayMilliseconds: UInt64?
    public var status: Status

    /// Delay and status of each report against `deadline`, as of `now` (Unix ms).
    public static func lines(for links: [TakedownLink], deadline: Duration, now: UInt64) -> [TakedownLine] {
        let deadlineMilliseconds = UInt64(deadline.components.seconds) * 1000
        return links.map { link in
            let delay = link.takedownAtMilliseconds.map { $0 >= link.reportedAtMilliseconds ? $0 - link.reportedAtMilliseconds : 0 }
            let status: Status
            if let delay {
                status = delay <= deadlineMilliseconds ? .inTime : .late
            } else {
                status = now - min(now, link.reportedAtMilliseconds) > deadlineMilliseconds ? .overdue : .open
            }
            return TakedownLine(link: link, delayMilliseconds: delay, status: status)
        }
    }
}
