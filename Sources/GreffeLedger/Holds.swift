import Foundation
public import GreffeCore
import GreffeStore

/// A preservation order (legal hold) as the log records it: a `hold.placed`
/// record, known by its index, lifted by a later `hold.lifted` naming that
/// index. The log is the only register of holds, so a hold cannot be dropped
/// or changed without it showing.
public struct LegalHold: Sendable, Equatable {
    public var index: UInt64
    public var authority: String
    public var reference: String
    /// The `scope` object as recorded (`Schemas/events/hold.placed.schema.json`).
    public var scope: JSONValue
    public var placedAtMilliseconds: UInt64
    /// The `hold.lifted` record's index, once lifted.
    public var liftedBy: UInt64?
    /// On a ledger with temporal shards: the shard holding the `hold.placed` record, and the one holding
    /// its `hold.lifted` (a later one, when the hold was lifted after its shard was sealed).
    public var shard: Int?
    public var liftedInShard: Int?

    public var isActive: Bool { liftedBy == nil }

    public init(
        index: UInt64, authority: String, reference: String, scope: JSONValue, placedAtMilliseconds: UInt64, liftedBy: UInt64? = nil
    ) {
        self.index = index
        self.authority = authority
        self.reference = reference
        self.scope = scope
        self.placedAtMilliseconds = placedAtMilliseconds
        self.liftedBy = liftedBy
    }

    /// Whether the hold covers an event with these terms and kind: every
    /// criterion given must match; within a list, any item.
    public func covers(kind: String, terms: EventIndexTerms) -> Bool {
        if let accounts = scope["accounts"]?.arrayValue {
            guard let account = terms.account, accounts.contains(where: { $0.stringValue == account }) else { return false }
        }
        // Images by SHA-256 or PDQ: one criterion, as the terms hold both.
        let sha256 = scope["image_sha256"]?.arrayValue.map { $0.compactMap(\.stringValue).map { "sha256:" + $0 } }
        let pdq = scope["image_pdq"]?.arrayValue.map { $0.compactMap(\.stringValue).map { "pdq:" + $0 } }
        if sha256 != nil || pdq != nil {
            let wanted = Set((sha256 ?? []) + (pdq ?? []))
            guard terms.contentHashes.contains(where: wanted.contains) else { return false }
        }
        if let kinds = scope["kinds"]?.arrayValue {
            guard kinds.contains(where: { $0.stringValue == kind }) else { return false }
        }
        if let range = scope["occurred_range"] {
            guard let from = range["from"]?.stringValue.flatMap(RFC3339Time.signedMilliseconds),
                let to = range["to"]?.stringValue.flatMap(RFC3339Time.signedMilliseconds),
                let occurred = terms.occurredAtMilliseconds, Int64(clamping: occurred) >= from, Int64(clamping: occurred) < to
            else { return false }
        }
        return true
    }
}

extension Ledger {
    /// Records a preservation order; from then on no event it covers can be erased until it is lifted.
    public func placeHold(authority: String, reference: String, scope: JSONValue) async throws -> AppendReceipt {
        try await appendOwnEvent(
            kind: "hold.placed", fields: [("authority", .string(authority)), ("reference", .string(reference)), ("scope", scope)])
    }

    /// Lifts an active hold, recording who decided it and why.
    public func liftHold(index: UInt64, reference: String, reason: String) async throws -> AppendReceipt {
        guard let hold = try await legalHolds().first(where: { $0.index == index }) else {
            throw LedgerError(.notFound, "no legal hold was placed at index \(index)")
        }
        if let liftedBy = hold.liftedBy { throw LedgerError(.conflict, "the legal hold at index \(index) was already lifted at index \(liftedBy)") }
        return try await appendOwnEvent(
            kind: "hold.lifted",
            fields: [("hold_index", .number(Double(index))), ("reference", .string(reference)), ("reason", .string(reason))])
    }

    /// Every hold the log records, oldest first, lifted or not. Only records
    /// Greffe wrote count (`platform` "greffe"): platforms cannot send these kinds.
    public func legalHolds() async throws -> [LegalHold] {
        var holds: [LegalHold] = []
        var lifted: [UInt64: UInt64] = [:]
        for (index, body) in try await ownRecords(kind: "hold.placed") {
            guard let authority = body["authority"]?.stringValue, let reference = body["reference"]?.stringValue, let scope = body["scope"],
                let entry = try? LedgerEntry(decoding: try await store.readEntries(first: index, count: 1)[0])
            else { continue }
            holds.append(
                LegalHold(
                    index: index, authority: authority, reference: reference, scope: scope, placedAtMilliseconds: entry.sequencedAtMilliseconds))
        }
        // A lift naming a shard lifts a hold of that (earlier) shard, not this log's (`ShardedLedger.legalHolds`).
        for (index, body) in try await ownRecords(kind: "hold.lifted") where body["shard"] == nil {
            if let target = body["hold_index"]?.intValue, target >= 0, lifted[UInt64(target)] == nil { lifted[UInt64(target)] = index }
        }
        for position in holds.indices { holds[position].liftedBy = lifted[holds[position].index] }
        return holds
    }

    /// This log's lifts of the holds of shard `shard` (an earlier one): hold index → lift's index.
    func liftsOfShard(_ shard: Int) async throws -> [UInt64: UInt64] {
        var lifted: [UInt64: UInt64] = [:]
        for (index, body) in try await ownRecords(kind: "hold.lifted") where body["shard"]?.intValue == shard {
            if let target = body["hold_index"]?.intValue, target >= 0, lifted[UInt64(target)] == nil { lifted[UInt64(target)] = index }
        }
        return lifted
    }

    /// Records the lift of the hold placed at `index` in shard `shard`, sealed since: the record goes in this
    /// log, the active shard, naming the shard. `hold`: that hold as every shard knows it (`ShardedLedger.legalHolds`).
    func liftHold(_ hold: LegalHold, ofShard shard: Int, reference: String, reason: String) async throws -> AppendReceipt {
        if let liftedBy = hold.liftedBy {
            throw LedgerError(.conflict, "the legal hold at index \(hold.index) of shard \(shard) was already lifted at index \(liftedBy) of shard \(hold.liftedInShard ?? shard)")
        }
        return try await appendOwnEvent(
            kind: "hold.lifted",
            fields: [("hold_index", .number(Double(hold.index))), ("shard", .number(Double(shard))), ("reference", .string(reference)), ("reason", .string(reason))])
    }

    /// The active hold among `holds` (this log's, or every shard's) that covers `event`, if any.
    func holdCovering(_ event: StoredEvent, holds: () async throws -> [LegalHold]) async throws -> LegalHold? {
        guard let body = event.canonicalBody, let value = try? JSONParser.parse(body) else { return nil }
        let terms = EventIndexTerms.extract(from: value)
        return try await holds().first { $0.isActive && $0.covers(kind: event.kind, terms: terms) }
    }

    /// The bodies of the records of `kind` that Greffe itself wrote, by index.
    private func ownRecords(kind: String) async throws -> [(UInt64, JSONValue)] {
        var records: [(UInt64, JSONValue)] = []
        var after: UInt64?
        while true {
            let page = try await searchIndices(EventQuery(kinds: [kind], afterIndex: after, limit: 1_000))
            for index in page {
                guard let stored = try await store.readEvent(index: index), let body = stored.canonicalBody,
                    let value = try? JSONParser.parse(body), value["platform"]?.stringValue == Ledger.ownPlatform
                else { continue }
                records.append((index, value))
            }
            guard page.count == 1_000, let last = page.last else { return records }
            after = last
        }
    }
}
