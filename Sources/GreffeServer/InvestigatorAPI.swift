import Foundation
public import GreffeCore
import GreffeHTTP
public import GreffeLedger
import GreffeStore
import GreffeVerify
public import Hummingbird

/// Investigator reads, search, erasure and the reports (takedowns, tiers). Every
/// investigator request is appended to the log as `access.granted` before
/// any data is returned.
extension LedgerAPI {
    public func addInvestigatorRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/v1/events") { request, _ in try await searchEvents(request) }
        router.get("/v1/events/:index") { request, context in try await readEvent(request, index: context.parameters.get("index") ?? "") }
        router.post("/v1/events/:index/erasure") { request, context in
            try await eraseEvent(request, index: context.parameters.get("index") ?? "")
        }
        router.get("/v1/reports/takedowns") { request, _ in try await takedowns(request) }
        router.get("/v1/reports/tiers") { request, _ in try await tierReport(request) }
    }

    func readEvent(_ request: Request, index text: String) async throws -> Response {
        let token = try await authorize(request, role: .investigate)
        let index = try LedgerAPI.number(text, name: "index")
        try await mapLedgerErrors {
            _ = try await recordAccess(token: token, action: "read_event", query: ["index": .number(Double(index))])
        }
        guard let event = try await ledger.readEvent(index: index) else {
            if let record = try await mapLedgerErrors({ try await ledger.restoreRecord(losing: index) }) {
                throw APIError.notFound(
                    "entry \(index) is in the log, but its event is lost: a restore put back its public entry without it "
                        + "(the ledger.restored record at entry \(record))")
            }
            throw APIError.notFound("no event at index \(index)")
        }
        var answer = try LedgerAPI.eventJSON(event)
        if let checkpoint = ledger.latestCheckpoint, index < checkpoint.size {
            let (leafHash, proof) = try await ledger.inclusionProof(index: index, treeSize: checkpoint.size)
            answer["inclusion_proof"] = LedgerAPI.inclusionJSON(index: index, treeSize: checkpoint.size, leafHash: leafHash, proof: proof)
            answer["checkpoint"] = .string(checkpoint.note)
        }
        return JSONResponses.json(.object(answer))
    }

    /// An event as investigators see it: body, salt and entry, or why the body is gone.
    static func eventJSON(_ event: StoredEvent) throws -> JSONObject {
        var answer: JSONObject = [
            "index": .number(Double(event.index)), "event_id": .string(event.eventID), "kind": .string(event.kind),
            "entry": .string(Data(event.entry).base64EncodedString()), "leaf_hash": .string(MerkleHash.leaf(event.entry).base64),
            // Who vouched for it: not covered by the entry's commitment, as the store recorded it.
            "appended_by": event.appendedBy.map { .string($0) } ?? .null,
        ]
        if let platform = event.platform { answer["platform"] = .string(platform) }
        if let entry = try? LedgerEntry(decoding: event.entry) {
            answer["recorded_at"] = .string(RFC3339Time.format(entry.sequencedAtMilliseconds))
            if let body = event.canonicalBody, let occurred = (try? JSONParser.parse(body))?["occurred_at"]?.stringValue,
                let occurredAt = RFC3339Time.signedMilliseconds(occurred)
            {
                // Beyond the clock skew a bundle allows, the platform's time and Greffe's disagree: say by how much.
                let gap = Int64(clamping: entry.sequencedAtMilliseconds) - occurredAt
                if gap.magnitude > BundleVerifier.clockSkewMilliseconds {
                    answer["time_disagreement"] = [
                        "occurred_at": .string(occurred), "recorded_at": .string(RFC3339Time.format(entry.sequencedAtMilliseconds)),
                        "recorded_minus_occurred_seconds": .number(Double(gap / 1000)),
                    ]
                }
            }
        }
        if let body = event.canonicalBody, let salt = event.salt {
            answer["body"] = try JSONParser.parse(body, limits: JSONLimits(maxDepth: 128, maxBytes: Int.max))
            answer["salt"] = .string(Data(salt).base64EncodedString())
        } else {
            answer["body"] = .null
            answer["salt"] = .null
        }
        if let erasure = event.erasure {
            answer["erased"] = [
                "erased_at": .string(RFC3339Time.format(erasure.erasedAtMilliseconds)),
                "legal_reference": .string(erasure.legalReference),
                "erasure_entry_index": .number(Double(erasure.erasureEntryIndex)),
            ]
        }
        return answer
    }

    func searchEvents(_ request: Request) async throws -> Response {
        let token = try await authorize(request, role: .investigate)
        let parameters = request.uri.queryParameters
        // Refused rather than ignored: a misspelt filter would otherwise widen the search silently.
        if let unknown = parameters.first(where: { !LedgerAPI.searchParameters.contains(String($0.key)) }) {
            throw APIError.badRequest(
                "unknown query parameter \"\(unknown.key.prefix(40))\"; known: \(LedgerAPI.searchParameters.joined(separator: ", "))")
        }
        var query = EventQuery()
        var recorded: JSONObject = [:]
        if let account = parameters.get("account") {
            guard !account.isEmpty, account.utf8.count <= 200 else { throw APIError.badRequest("account must be 1 to 200 characters") }
            query.account = account
            recorded["account"] = .string(account)
        }
        if let hash = parameters.get("content_hash") {
            query.contentHash = try LedgerAPI.contentHashTerm(hash)
            recorded["content_hash"] = .string(query.contentHash!)
        }
        if let kind = parameters.get("kind") {
            guard LedgerEntry.isValidKind(kind) else { throw APIError.badRequest("kind is not a valid event kind") }
            query.kinds = [kind]
            recorded["kind"] = .string(kind)
        }
        let from = try parameters.get("from").map { try LedgerAPI.time($0, name: "from") }
        let to = try parameters.get("to").map { try LedgerAPI.time($0, name: "to") }
        if from != nil || to != nil {
            let lower = from ?? 0
            let upper = to ?? UInt64(1) << 62
            guard lower <= upper else { throw APIError.badRequest("from is after to") }
            query.timeRange = lower..<upper
            recorded["time_range"] = ["from": .number(Double(lower)), "to": .number(Double(upper))]
        }
        // By Greffe's own clock: a platform that backdates occurred_at cannot hide an event from these.
        let recordedFrom = try parameters.get("recorded_from").map { try LedgerAPI.time($0, name: "recorded_from") }
        let recordedTo = try parameters.get("recorded_to").map { try LedgerAPI.time($0, name: "recorded_to") }
        // At the root of a ledger with several shards, every shard is searched, oldest first (Schemas/shards.md).
        let spansShards = ShardRouting.pinned == nil && shards.shards.count > 1
        var recordedRange: Range<UInt64>?
        if recordedFrom != nil || recordedTo != nil {
            let lower = recordedFrom ?? 0
            let upper = recordedTo ?? UInt64(1) << 62
            guard lower <= upper else { throw APIError.badRequest("recorded_from is after recorded_to") }
            recordedRange = lower..<upper
            if !spansShards { query.indexRange = try await mapLedgerErrors { try await ledger.indexRange(recordedFrom: lower, to: upper) } }
            recorded["recorded_range"] = ["from": .number(Double(lower)), "to": .number(Double(upper))]
        }
        if let after = parameters.get("after") {
            query.afterIndex = try LedgerAPI.number(after, name: "after")
        }
        var afterShard = 0
        if let text = parameters.get("after_shard") {
            guard spansShards else { throw APIError.badRequest("after_shard goes with a search across the shards of a ledger that has several (at the root)") }
            guard query.afterIndex != nil else { throw APIError.badRequest("after_shard goes with after: the two are the cursor next_after_shard and next_after") }
            let value = try LedgerAPI.number(text, name: "after_shard")
            guard value < UInt64(shards.shards.count) else { throw APIError.badRequest("there is no shard \(value)") }
            afterShard = Int(value)
        }
        query.limit = 100
        if let limit = parameters.get("limit") {
            let value = try LedgerAPI.number(limit, name: "limit")
            guard value >= 1, value <= 1000 else { throw APIError.badRequest("limit must be between 1 and 1000") }
            query.limit = Int(value)
        }
        guard query.account != nil || query.contentHash != nil || query.kinds != nil || query.timeRange != nil || query.indexRange != nil
            || recordedRange != nil
        else {
            throw APIError.badRequest("give at least one of account, content_hash, kind, from, to, recorded_from, recorded_to")
        }
        if spansShards {
            return try await searchShards(query, recordedRange: recordedRange, afterShard: afterShard, token: token, recorded: recorded)
        }
        // The chain of custody is written before any body is read.
        let indices = try await mapLedgerErrors { try await ledger.searchIndices(query) }
        try await mapLedgerErrors {
            _ = try await recordAccess(token: token, action: "search", query: .object(recorded), resultCount: indices.count)
        }
        let events = try await mapLedgerErrors { try await ledger.readEvents(indices) }
        var answer: JSONObject = ["events": .array(try events.map { .object(try LedgerAPI.eventJSON($0)) })]
        if events.count == query.limit, let last = events.last {
            answer["next_after"] = .number(Double(last.index))
        }
        return JSONResponses.json(.object(answer))
    }

    static let searchParameters = ["account", "content_hash", "kind", "from", "to", "recorded_from", "recorded_to", "after", "after_shard", "limit"]

    /// A search across every shard, oldest first, each event naming its shard; the cursor is the pair
    /// (`next_after_shard`, `next_after`), the latter an index of the former.
    func searchShards(_ query: EventQuery, recordedRange: Range<UInt64>?, afterShard: Int, token: TokenRecord, recorded: JSONObject) async throws -> Response {
        var found: [(shard: ShardedLedger.Shard, index: UInt64)] = []
        for shard in shards.shards where shard.number >= afterShard && found.count < query.limit {
            // A sealed shard whose filter rules the content hash out holds none of its events.
            if let term = query.contentHash, !shards.mayHold(contentTerm: term, shard: shard.number) { continue }
            var shardQuery = query
            shardQuery.limit = query.limit - found.count
            if shard.number != afterShard { shardQuery.afterIndex = nil }
            if let recordedRange {
                shardQuery.indexRange = try await mapLedgerErrors {
                    try await shard.ledger.indexRange(recordedFrom: recordedRange.lowerBound, to: recordedRange.upperBound)
                }
            }
            let indices = try await mapLedgerErrors { try await shard.ledger.searchIndices(shardQuery) }
            found += indices.map { (shard, $0) }
        }
        var recordedQuery = recorded
        recordedQuery["shards"] = "all"
        // The chain of custody is written before any body is read.
        try await mapLedgerErrors {
            _ = try await recordAccess(token: token, action: "search", query: .object(recordedQuery), resultCount: found.count)
        }
        var events: [JSONValue] = []
        for (shard, index) in found {
            guard let event = try await mapLedgerErrors({ try await shard.ledger.readEvent(index: index) }) else { continue }
            var object = try LedgerAPI.eventJSON(event)
            object["shard"] = .number(Double(shard.number))
            events.append(.object(object))
        }
        var answer: JSONObject = ["events": .array(events)]
        if found.count == query.limit, let last = found.last {
            answer["next_after"] = .number(Double(last.index))
            answer["next_after_shard"] = .number(Double(last.shard.number))
        }
        return JSONResponses.json(.object(answer))
    }

    func eraseEvent(_ request: Request, index text: String) async throws -> Response {
        let token = try await authorize(request, role: .admin)
        let index = try LedgerAPI.number(text, name: "index")
        var request = request
        let body = try await request.collectBody(upTo: 64 * 1024)
        let order: JSONValue
        do { order = try JSONParser.parse(Array(buffer: body)) } catch {
            throw APIError.badRequest("erasure body is not valid JSON: \(error)")
        }
        guard let legalReference = order["legal_reference"]?.stringValue, !legalReference.isEmpty, legalReference.utf8.count <= 500,
            let reason = order["reason"]?.stringValue, !reason.isEmpty, reason.utf8.count <= 2000,
            order.objectValue?.keys.count == 2
        else {
            throw APIError(.unprocessableContent, "erasure needs exactly {\"legal_reference\": \"…\", \"reason\": \"…\"} (non-empty strings)")
        }
        try await mapLedgerErrors {
            _ = try await recordAccess(
                token: token, action: "erasure", query: ["index": .number(Double(index)), "legal_reference": .string(legalReference)])
        }
        let target = ledger
        let (record, receipt): (ErasureRecord, AppendReceipt)
        var recordedIn = target
        if let shard = ShardRouting.pinned, target !== activeLedger {
            // A sealed shard takes no appends: the order is recorded in the active shard, naming the shard.
            // The claim on the target is released if the record cannot be appended, so a rollover's retry is clean.
            let ((erased, entry), ledger) = try await mapLedgerErrors {
                try await shards.appendingToActive { active in
                    try await active.erase(
                        index: index, inSealedShard: target, shard: shard, legalReference: legalReference, reason: reason,
                        holds: { try await shards.legalHolds() })
                }
            }
            (record, receipt, recordedIn) = (erased, entry, ledger)
        } else {
            // With shards, a hold placed in an earlier shard outranks the order too.
            let holds: (() async throws -> [LegalHold])? = shards.shards.count > 1 ? { try await shards.legalHolds() } : nil
            (record, receipt) = try await mapLedgerErrors {
                try await target.erase(index: index, legalReference: legalReference, reason: reason, holds: holds)
            }
        }
        var answer: JSONObject = [
            "index": .number(Double(index)), "erased_at": .string(RFC3339Time.format(record.erasedAtMilliseconds)),
            "legal_reference": .string(legalReference), "erasure_entry_index": .number(Double(receipt.index)),
            "erasure_leaf_hash": .string(receipt.leafHash.base64),
        ]
        if shards.shards.count > 1 {
            // Where each of the two is: the event's shard, and the active shard that holds the order.
            func number(of ledger: Ledger) -> Int { shards.shards.first { $0.ledger === ledger }?.number ?? shards.activeShard }
            answer["shard"] = .number(Double(ShardRouting.pinned ?? number(of: target)))
            answer["erasure_shard"] = .number(Double(number(of: recordedIn)))
        }
        return JSONResponses.json(.object(answer))
    }

    func takedowns(_ request: Request) async throws -> Response {
        let token = try await authorize(request, role: .investigate)
        var hours: UInt64 = 48
        if let text = request.uri.queryParameters.get("deadline_hours") {
            hours = try LedgerAPI.number(text, name: "deadline_hours")
            guard hours >= 1, hours <= 24 * 365 else { throw APIError.badRequest("deadline_hours must be between 1 and 8760") }
        }
        let lines = try await mapLedgerErrors { try await ledger.takedownReport(deadline: .seconds(Int64(hours) * 3600)) }
        try await mapLedgerErrors {
            _ = try await recordAccess(
                token: token, action: "takedown_report", query: ["deadline_hours": .number(Double(hours))], resultCount: lines.count)
        }
        return JSONResponses.json([
            "deadline_hours": .number(Double(hours)),
            "reports": .array(lines.map(LedgerAPI.takedownJSON)),
        ])
    }

    public static func takedownJSON(_ line: TakedownLine) -> JSONValue {
        var object: JSONObject = [
            "report_index": .number(Double(line.link.reportIndex)),
            "reported_at": .string(RFC3339Time.format(line.link.reportedAtMilliseconds)),
            "status": .string(line.status.rawValue),
        ]
        if let reportID = line.link.reportID { object["report_id"] = .string(reportID) }
        if let index = line.link.takedownIndex { object["takedown_index"] = .number(Double(index)) }
        if let at = line.link.takedownAtMilliseconds { object["takedown_at"] = .string(RFC3339Time.format(at)) }
        if let delay = line.delayMilliseconds { object["delay_seconds"] = .number(Double(delay) / 1000) }
        return .object(object)
    }

    /// `sha256:<hex>` or `pdq:<hex>` (64 lowercase hex digits); bare hex is SHA-256.
    static func contentHashTerm(_ text: String) throws -> String {
        let lowered = text.lowercased()
        let (scheme, hex): (String, Substring)
        if lowered.hasPrefix("sha256:") {
            (scheme, hex) = ("sha256", lowered.dropFirst(7))
        } else if lowered.hasPrefix("pdq:") {
            (scheme, hex) = ("pdq", lowered.dropFirst(4))
        } else {
            (scheme, hex) = ("sha256", lowered[...])
        }
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw APIError.badRequest("content_hash must be sha256:<64 hex> or pdq:<64 hex>")
        }
        return "\(scheme):\(hex)"
    }

    static func time(_ text: String, name: String) throws -> UInt64 {
        guard let milliseconds = RFC3339Time.milliseconds(text) else {
            throw APIError.badRequest("\(name) must be an RFC 3339 time such as 2026-11-25T10:00:00Z")
        }
        return milliseconds
    }
}

