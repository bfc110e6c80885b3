public import GreffeCore
public import GreffeStore

// A restore that put back a lost tail's public entries (`greffe restore --tail-from`), recorded in the log.
extension Ledger {
    /// The Greffe-written record of a restore that recovered a lost tail (`Schemas/events/ledger.restored.schema.json`).
    public static let restoredKind = "ledger.restored"
    /// Kinds whose lost bodies were orders the ledger must keep obeying: a restore names them for re-entry.
    public static let orderKinds: Set = ["erasure.executed", "hold.placed", "hold.lifted"]

    /// An entry of the lost tail that recorded an order (an erasure, a hold): its body is lost with the
    /// rest, so the order must be entered again from its source.
    public struct LostOrder: Sendable, Equatable {
        public var index: UInt64
        public var kind: String

        public init(index: UInt64, kind: String) {
            self.index = index
            self.kind = kind
        }
    }

    /// Appends the `ledger.restored` record: entries `[backupTreeSize, treeSize)` are in the tree (their
    /// entries were recovered from the copy of the log that `checkpointNote`, signed by this ledger,
    /// vouches for) but their events (bodies, event IDs, search terms) are lost. The record is the
    /// log's own statement of that gap, so an auditor reading the log learns it from the log itself.
    public func recordRestoredTail(
        backupTreeSize: UInt64, checkpointNote: String, reason: String, lostOrders: [LostOrder]
    ) async throws -> AppendReceipt {
        let end = treeSize
        guard backupTreeSize <= end else {
            throw LedgerError(.outOfRange, "the backup's tree size \(backupTreeSize) is beyond the tree (\(end))")
        }
        let fields: [(String, JSONValue)] = [
            ("backup_tree_size", .number(Double(backupTreeSize))),
            ("lost_bodies", .object(JSONObject([("first_index", .number(Double(backupTreeSize))), ("end_index", .number(Double(end)))]))),
            ("recovered_from_checkpoint", .string(checkpointNote)),
            ("reason", .string(reason)),
            (
                "lost_orders",
                .array(lostOrders.map { .object(JSONObject([("index", .number(Double($0.index))), ("kind", .string($0.kind))])) })
            ),
        ]
        return try await appendOwnEvent(kind: Ledger.restoredKind, fields: fields)
    }

    /// The index of the `ledger.restored` record whose lost range holds `index`, if any: the entry is in the
    /// tree, its event is not in the store. Records are few (one per disaster), so they are read whole.
    public func restoreRecord(losing index: UInt64) async throws -> UInt64? {
        let records = try await searchIndices(EventQuery(kinds: [Ledger.restoredKind], limit: 1_000))
        for record in records where record > index {
            guard let event = try await store.readEvent(index: record), let body = event.canonicalBody,
                let lost = try? JSONParser.parse(body)["lost_bodies"],
                let first = lost["first_index"]?.intValue, let end = lost["end_index"]?.intValue
            else { continue }
            if index >= UInt64(first), index < UInt64(end) { return record }
        }
        return nil
    }
}
