import Foundation
public import GreffeCore
public import GreffeStore

/// What investigators do, each act recorded in the log itself.
extension Ledger {
    static var nowMilliseconds: UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

    /// Appends an event that Greffe itself writes (`access.granted`, `erasure.executed`).
    func appendOwnEvent(kind: String, fields: [(String, JSONValue)]) async throws -> AppendReceipt {
        let eventID = "greffe-\(kind)-\(UUID().uuidString.lowercased())"
        var members: [(String, JSONValue)] = [
            ("event_id", .string(eventID)), ("kind", .string(kind)),
            ("occurred_at", .string(RFC3339Time.format(Ledger.nowMilliseconds))),
            ("platform", "greffe"), ("schema_version", 1),
        ]
        members += fields
        let body = JSONValue.object(JSONObject(members))
        return try await append([EventSubmission(eventID: eventID, kind: kind, canonicalBody: body.canonicalBytes())])[0]
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

    public func search(_ query: EventQuery) async throws -> [StoredEvent] {
        var events: [StoredEvent] = []
        for index in try await store.searchEvents(query) where index < treeSize {
            if let event = try await store.readEvent(index: index) { events.append(event) }
        }
        return events
    }

    /// Erases an event's body and salt under a legal order. The order is
    /// appended first (`erasure.executed`), so the log records it before the
    /// data disappears; the entry, the tree and every proof stay valid.
    public func erase(index: UInt64, legalReference: String, reason: String) async throws -> (record: ErasureRecord, entry: AppendReceipt) {
        guard let event = try await readEvent(index: index) else {
            throw LedgerError(.notFound, "no event at index \(index)")
        }
        if event.erasure != nil { throw LedgerError(.conflict, "the event at index \(index) was already erased") }
        let receipt = try await appendOwnEvent(
            kind: "erasure.executed",
            fields: [("target_index", .number(Double(index))), ("legal_reference", .string(legalReference)), ("reason", .string(reason))])
        let record = ErasureRecord(erasedAtMilliseconds: Ledger.nowMilliseconds, legalReference: legalReference, erasureEntryIndex: receipt.index)
        do {
            try await store.eraseEvent(index: index, record: record)
        } catch let error as StoreError where error.code == .duplicate {
            throw LedgerError(.conflict, error.message)
        }
        return (record, receipt)
    }

    /// For each report, whether and how fast a takedown of the same content followed.
    public func takedownReport(deadline: Duration = .seconds(48 * 3600)) async throws -> [TakedownLine] {
        let size = treeSize
        return TakedownLine.lines(
            for: try await store.takedownLinks().filter { $0.reportIndex < size && ($0.takedownIndex ?? 0) < size }, deadline: deadline,
            now: Ledger.nowMilliseconds)
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
