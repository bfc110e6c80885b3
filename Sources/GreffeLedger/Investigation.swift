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
        guard let event = try await readEvent(index: index) else {
            throw LedgerError(.notFound, "no event at index \(index)")
        }
        guard !Ledger.ownKinds.contains(event.kind) else {
            throw LedgerError(
                .refused, "the event at index \(index) is a record of kind \(event.kind), part of Greffe's own chain of custody, which no order can erase")
        }
        if event.erasure != nil { throw LedgerError(.conflict, "the event at index \(index) was already erased") }
        // A preservation order outranks an erasure order until it is lifted.
        if let hold = try await holdCovering(event, holds: holds) {
            throw LedgerError(
                .conflict,
                "the event at index \(index) is under the legal hold recorded at index \(hold.index) (\(hold.authority), \(hold.reference)); it cannot be erased until that hold is lifted"
            )
        }
        do {
            try await store.claimErasure(index: index)
        } catch let error as StoreError where error.code == .duplicate {
            throw LedgerError(.conflict, error.message)
        }
        let receipt: AppendReceipt
        do {
            receipt = try await appendOwnEvent(
                kind: "erasure.executed",
                fields: [("target_index", .number(Double(index))), ("legal_reference", .string(legalReference)), ("reason", .string(reason))])
        } catch {
            try? await store.releaseErasureClaims(index: index)
            throw error
        }
        // From here the order is in the log: if deleting fails, start-up applies it (`reapplyRecordedErasures`).
        let record = ErasureRecord(erasedAtMilliseconds: clock.nowMilliseconds(), legalReference: legalReference, erasureEntryIndex: receipt.index)
        try await store.eraseEvent(index: index, record: record)
        do {
            try await store.purgeErasedCopies()
        } catch {
            logger.error("an erased body may remain in the store's files", metadata: ["index": "\(index)", "error": "\(error)"])
            throw LedgerError(
                .erasureIncomplete,
                "the erasure of index \(index) is recorded at index \(receipt.index) and the body is gone from the ledger's tables, but: \(error)")
        }
        return (record, receipt)
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
        guard let event = try await sealed.readEvent(index: index) else {
            throw LedgerError(.notFound, "no event at index \(index) in shard \(shard)")
        }
        guard !Ledger.ownKinds.contains(event.kind) else {
            throw LedgerError(
                .refused, "the event at index \(index) of shard \(shard) is a record of kind \(event.kind), part of Greffe's own chain of custody, which no order can erase")
        }
        if event.erasure != nil { throw LedgerError(.conflict, "the event at index \(index) of shard \(shard) was already erased") }
        if let body = event.canonicalBody, let value = try? JSONParser.parse(body) {
            let terms = EventIndexTerms.extract(from: value)
            if let hold = try await holds().first(where: { $0.isActive && $0.covers(kind: event.kind, terms: terms) }) {
                throw LedgerError(
                    .conflict,
                    "the event at index \(index) of shard \(shard) is under the legal hold recorded at index \(hold.index) (\(hold.authority), \(hold.reference)); it cannot be erased until that hold is lifted"
                )
            }
        }
        do {
            try await sealed.store.claimErasure(index: index)
        } catch let error as StoreError where error.code == .duplicate {
            throw LedgerError(.conflict, error.message)
        }
        let receipt: AppendReceipt
        do {
            receipt = try await appendOwnEvent(
                kind: "erasure.executed",
                fields: [
                    ("target_index", .number(Double(index))), ("shard", .number(Double(shard))), ("legal_reference", .string(legalReference)),
                    ("reason", .string(reason)),
                ])
        } catch {
            try? await sealed.store.releaseErasureClaims(index: index)
            throw error
        }
        // From here the order is in the log: if deleting fails, the next start applies it (`reapplyErasures(of:into:)`).
        let record = ErasureRecord(erasedAtMilliseconds: clock.nowMilliseconds(), legalReference: legalReference, erasureEntryIndex: receipt.index)
        try await sealed.store.eraseEvent(index: index, record: record)
        do {
            try await sealed.store.purgeErasedCopies()
        } catch {
            logger.error("an erased body may remain in a sealed shard's files", metadata: ["shard": "\(shard)", "index": "\(index)", "error": "\(error)"])
            throw LedgerError(
                .erasureIncomplete,
                "the erasure of index \(index) of shard \(shard) is recorded at index \(receipt.index) and the body is gone from the shard's tables, but: \(error)")
        }
        return (record, receipt)
    }

    /// Applies the orders this log records for `shard`'s events (`erase(index:inSealedShard:…)`) whose
    /// bodies `sealed` still stores: an erasure interrupted between its record and the deletion.
    @discardableResult
    public func reapplyErasures(of shard: Int, into sealed: Ledger) async throws -> [UInt64] {
        var erasedNow: [UInt64] = []
        var after: UInt64?
        while true {
            let records = try await store.searchEvents(EventQuery(kinds: ["erasure.executed"], afterIndex: after, limit: 1_000))
            for recordIndex in records {
                guard let stored = try await store.readEvent(index: recordIndex), let body = stored.canonicalBody,
                    let order = try? JSONParser.parse(body), order["platform"]?.stringValue == Ledger.ownPlatform, order["shard"]?.intValue == shard,
                    let target = order["target_index"]?.intValue, target >= 0, let reference = order["legal_reference"]?.stringValue,
                    let event = try await sealed.store.readEvent(index: UInt64(target)), event.erasure == nil, !Ledger.ownKinds.contains(event.kind)
                else { continue }
                let entry = try LedgerEntry(decoding: stored.entry)
                try await sealed.store.eraseEvent(
                    index: UInt64(target),
                    record: ErasureRecord(erasedAtMilliseconds: entry.sequencedAtMilliseconds, legalReference: reference, erasureEntryIndex: recordIndex))
                erasedNow.append(UInt64(target))
            }
            guard records.count == 1_000, let last = records.last else { break }
            after = last
        }
        if !erasedNow.isEmpty {
            logger.warning("applied erasures of a sealed shard the log records but its store had not", metadata: ["shard": "\(shard)", "indices": "\(erasedNow)"])
            try await sealed.store.purgeErasedCopies()
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
        var erasedNow: [UInt64] = []
        var after: UInt64?
        while true {
            let records = try await store.searchEvents(EventQuery(kinds: ["erasure.executed"], afterIndex: after, limit: 1_000))
            for recordIndex in records {
                // An order naming a shard erased an event of that (sealed) shard: `reapplyErasures(of:into:)`.
                guard let stored = try await store.readEvent(index: recordIndex), let body = stored.canonicalBody,
                    let order = try? JSONParser.parse(body), order["platform"]?.stringValue == Ledger.ownPlatform, order["shard"] == nil,
                    let target = order["target_index"]?.intValue, target >= 0, let reference = order["legal_reference"]?.stringValue,
                    let event = try await store.readEvent(index: UInt64(target)), event.erasure == nil, !Ledger.ownKinds.contains(event.kind)
                else { continue }
                let entry = try LedgerEntry(decoding: stored.entry)
                try await store.eraseEvent(
                    index: UInt64(target),
                    record: ErasureRecord(erasedAtMilliseconds: entry.sequencedAtMilliseconds, legalReference: reference, erasureEntryIndex: recordIndex))
                erasedNow.append(UInt64(target))
            }
            guard records.count == 1_000, let last = records.last else { break }
            after = last
        }
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
