import Foundation
import GreffeCore
import GreffeHTTP
import GreffeLedger
import GreffeStore
import GreffeVerify
import Hummingbird

/// `POST /v1/bundles`: an investigator's query → a self-contained evidence bundle.
extension LedgerAPI {
    /// Events are fetched and proved this many at a time while the bundle streams out.
    static let bundleChunk = 256

    func makeBundle(_ request: Request) async throws -> Response {
        let token = try await authorize(request, role: .investigate)
        var request = request
        let body = try await request.collectBody(upTo: 1 << 20)
        let queryJSON: JSONValue
        do { queryJSON = try JSONParser.parse(Array(buffer: body)) } catch {
            throw APIError.badRequest("bundle query is not valid JSON: \(error)")
        }
        var (query, recordedRange) = try LedgerAPI.bundleQuery(queryJSON)
        let disclose = try LedgerAPI.disclosePaths(queryJSON)
        query.limit = maxBundleEvents + 1
        // At the root of a ledger with several shards, the bundle spans them all (Schemas/shards.md).
        let spansShards = ShardRouting.pinned == nil && shards.shards.count > 1
        if spansShards && query.indexRange != nil {
            throw APIError(
                .unprocessableContent,
                "/index_range: indices are per shard; ask POST /v1/shards/<k>/v1/bundles for a range of shard k (GET /v1/shards lists them)")
        }
        let searched: [(ledger: Ledger, shard: Int?, indices: [UInt64])]
        if spansShards {
            var found: [(ledger: Ledger, shard: Int?, indices: [UInt64])] = []
            var total = 0
            for shard in shards.shards {
                let indices = try await bundleIndices(query, recordedRange: recordedRange, in: shard.ledger, linkedShard: shard.number > 0)
                total += indices.count
                guard total <= maxBundleEvents else {
                    throw APIError(.unprocessableContent, "the query matches more than \(maxBundleEvents) events across the shards; narrow it")
                }
                found.append((shard.ledger, shard.number, indices))
            }
            searched = found
        } else {
            searched = [(ledger, ShardRouting.pinned, try await bundleIndices(query, recordedRange: recordedRange, in: ledger, linkedShard: false))]
        }
        // The chain of custody is written before any evidence leaves.
        let (access, accessLedger) = try await mapLedgerErrors {
            try await recordAccessAnswering(
                token: token, action: "bundle", query: queryJSON, resultCount: searched.reduce(0) { $0 + $1.indices.count })
        }
        let createdAt = RFC3339Time.format(UInt64(Date().timeIntervalSince1970 * 1000))
        var parts: [BundlePart] = []
        for (partLedger, shard, indices) in searched {
            let checkpoint: StoredCheckpoint
            // The shard that holds the access record; any other was sealed before it was written.
            if partLedger === accessLedger {
                // A checkpoint covering the access record covers every erasure.executed appended before it, so each
                // erasure already visible is proved by its record (greffe-bundle/v2). The wait is that of ?wait=checkpoint.
                checkpoint = try await mapLedgerErrors {
                    try await withCheckpointTimeout(
                        "the access was recorded but no checkpoint covered it within \(receiptTimeout); ask for the bundle again"
                    ) { try await partLedger.waitForCheckpoint(covering: access.index + 1) }
                }
            } else {
                // A sealed shard never changes: its final checkpoint.
                guard let final = partLedger.latestCheckpoint else { throw APIError(.serviceUnavailable, "shard \(shard ?? 0) has no checkpoint") }
                checkpoint = final
            }
            let (earlier, timestamps) = try await ShardRouting.$pinned.withValue(shard) {
                var earlier: [EvidenceBundle.EarlierCheckpoint] = []
                if let last = indices.last { earlier = try await earlierCheckpoints(before: checkpoint, covering: last + 1) }
                let timestamps = try await mapLedgerErrors { try await bundleTimestamps(indices: indices, checkpoint: checkpoint) }
                return (earlier, timestamps)
            }
            let opening = CompactBundleWriter.head(
                verifierKey: partLedger.verifier.verifierKey, checkpoint: checkpoint.note, createdAt: createdAt, query: queryJSON,
                earlierCheckpoints: earlier, timestamps: timestamps)
            parts.append(
                BundlePart(
                    ledger: partLedger, treeSize: checkpoint.size, indices: indices, opening: opening, keepWhole: shard.map { $0 > 0 } ?? false,
                    shard: shard))
        }
        // Each part learns the shards after its own, and the tree size each is proved at here.
        let provedAt = Dictionary(uniqueKeysWithValues: parts.compactMap { part in part.shard.map { ($0, part.treeSize) } })
        for position in parts.indices {
            guard let shard = parts[position].shard else { continue }
            parts[position].later = shards.shards.filter { $0.number > shard }.map { ($0.number, $0.ledger, spansShards ? provedAt[$0.number] : nil) }
        }
        var setHead: [UInt8]?
        if spansShards {
            let head: JSONObject = [
                "format": .string(LedgerAPI.shardBundleFormat), "origin": .string(shards.keys.origin),
                "verifier_key": .string(shards.shards[0].ledger.verifier.verifierKey), "created_at": .string(createdAt), "query": queryJSON,
            ]
            var bytes = JSONValue.object(head).canonicalBytes()
            bytes.removeLast()  // the closing "}": the shards follow
            setHead = bytes + Array(",\"shards\":[".utf8)
        }
        let gzip = LedgerAPI.acceptsGzip(request.headers[.acceptEncoding])
        let responseBody = ResponseBody { [parts, setHead] writer in
            let compressor = gzip ? try GzipStream() : nil
            func send(_ bytes: [UInt8], last: Bool = false) async throws {
                let out = compressor?.compress(bytes, finish: last) ?? bytes
                if !out.isEmpty { try await writer.write(ByteBuffer(bytes: out)) }
            }
            if let setHead { try await send(setHead) }
            for (position, part) in parts.enumerated() {
                if position > 0 { try await send([UInt8(ascii: ",")]) }
                try await LedgerAPI.streamBundle(part, disclose: disclose, send: send)
            }
            if setHead != nil { try await send(Array("]}".utf8)) }
            try await send([], last: true)
            try await writer.finish(nil)
        }
        var headers: HTTPFields = [.contentType: "application/json", .contentDisposition: "attachment; filename=\"greffe-bundle.json\""]
        if gzip {
            headers[.contentEncoding] = "gzip"
            headers[.vary] = "Accept-Encoding"
        }
        return Response(status: .ok, headers: headers, body: responseBody)
    }

    static let shardBundleFormat = "greffe-shard-bundle/v1"

    /// One log's part of a bundle: the events to prove, in increasing index order, against the tree of `treeSize`.
    struct BundlePart: Sendable {
        var ledger: Ledger
        var treeSize: UInt64
        var indices: [UInt64]
        /// The v3 bundle's members up to its events.
        var opening: [UInt8]
        /// Entry 0 is a shard's link: always shown whole, even with `disclose`.
        var keepWhole: Bool
        /// The part's shard (nil: a ledger without shards), and the shards after it with the tree size each is
        /// proved at in this bundle (nil: not in it): a body of a sealed shard may have been dropped by a
        /// record in a later one (Schemas/shards.md, "Retention across shards").
        var shard: Int?
        var later: [(shard: Int, ledger: Ledger, treeSize: UInt64?)] = []
    }

    /// The indices a bundle of `ledger` holds: the query's matches within its latest checkpoint, the log's
    /// records of events lost in a restore, and for a shard after the first its link (entry 0).
    func bundleIndices(_ query: EventQuery, recordedRange: Range<UInt64>?, in ledger: Ledger, linkedShard: Bool) async throws -> [UInt64] {
        var query = query
        if let recordedRange {
            // Greffe's clock, as an index range: a backdated occurred_at does not take an event out of the bundle.
            let recorded = try await mapLedgerErrors { try await ledger.indexRange(recordedFrom: recordedRange.lowerBound, to: recordedRange.upperBound) }
            query.indexRange = query.indexRange.map { $0.clamped(to: recorded) } ?? recorded
        }
        // Events are chosen within the latest checkpoint; the bundle's own checkpoint is chosen later.
        guard let chosenWithin = ledger.latestCheckpoint else { throw APIError(.serviceUnavailable, "no checkpoint has been cosigned by the witness quorum yet") }
        query.indexRange = query.indexRange.map { $0.clamped(to: 0..<chosenWithin.size) } ?? 0..<chosenWithin.size
        let matched = try await mapLedgerErrors { try await ledger.searchIndices(query) }
        guard matched.count <= maxBundleEvents else {
            throw APIError(.unprocessableContent, "the query matches more than \(maxBundleEvents) events; narrow it")
        }
        // Every bundle carries the log's records of events lost in a restore (ledger.restored, one per disaster):
        // events among them may have matched the query, and whoever reads the bundle must learn it from the bundle.
        let restores = try await mapLedgerErrors { try await ledger.searchIndices(EventQuery(kinds: [Ledger.restoredKind], limit: 1_000)) }
        var indices = Set(matched).union(restores)
        // A shard after the first has its entry 0 from its rollover on; the part's checkpoint, chosen later, covers
        // it even when the latest one here (just after the rollover) did not yet.
        if linkedShard { indices.insert(0) }
        return indices.sorted()
    }

    /// Writes one v3 bundle: events in increasing index order, each with the subtrees covering the entries before it.
    static func streamBundle(_ part: BundlePart, disclose: [FieldPath]?, send: ([UInt8], Bool) async throws -> Void) async throws {
        let bundleLedger = part.ledger
        let treeSize = part.treeSize
        try await send(part.opening, false)
        var bundle = CompactBundleWriter(treeSize: treeSize)
        var holds = HoldCollector(ledger: bundleLedger)
        var recordsSeen: [RecordKey: Bool] = [:]
        let ordered = part.indices
        for chunk in stride(from: 0, to: ordered.count, by: LedgerAPI.bundleChunk) {
            var out: [UInt8] = []
            for index in ordered[chunk..<min(ordered.count, chunk + LedgerAPI.bundleChunk)] {
                guard let stored = try await bundleLedger.readEvent(index: index) else { continue }
                var erasure: EvidenceBundle.Erasure?
                if let record = stored.erasure {
                    erasure = try await LedgerAPI.erasureClaim(record, of: index, in: part, seen: &recordsSeen)
                }
                let body = try LedgerAPI.parseBody(stored.canonicalBody)
                try await holds.note(kind: stored.kind, body: body, index: index)
                let gap = try await bundleLedger.subtreeHashes(bundle.gap(before: index), treeSize: treeSize)
                var event = EvidenceBundle.CompactEvent(
                    entry: stored.entry, body: body, salt: stored.salt, gap: gap, appendedBy: stored.appendedBy, erasure: erasure)
                // Cut down to the case's fields where the entry allows it (layout 2); a layout-1 body is
                // all or nothing, so it stays whole (Schemas/bundle.md, v3: disclosed fields).
                if let disclose, !(part.keepWhole && index == 0), let body, let salt = stored.salt,
                    (try? LedgerEntry(decoding: stored.entry))?.layout == .fieldTree
                {
                    event.disclosed = try FieldCommitment.FieldTree(salt: salt, body: body).disclose(disclose)
                    event.body = nil
                    event.salt = nil
                }
                bundle.append(event, index: index, to: &out)
            }
            try await send(out, false)
        }
        let tail = try await bundleLedger.subtreeHashes(bundle.tail, treeSize: treeSize)
        try await send(bundle.finish(tail: tail, holds: try await holds.records(treeSize: treeSize)), false)
    }

    /// True when `Accept-Encoding` lists gzip with a non-zero weight.
    static func acceptsGzip(_ header: String?) -> Bool {
        guard let header else { return false }
        for part in header.lowercased().split(separator: ",") {
            let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.first == "gzip" || fields.first == "x-gzip" else { continue }
            if let weight = fields.dropFirst().first(where: { $0.hasPrefix("q=") }), Double(weight.dropFirst(2)) == 0 { return false }
            return true
        }
        return false
    }

    static func parseBody(_ canonicalBody: [UInt8]?) throws -> JSONValue? {
        try canonicalBody.map { try JSONParser.parse($0, limits: JSONLimits(maxDepth: 128, maxBytes: Int.max)) }
    }

    struct RecordKey: Hashable {
        var shard: Int
        var index: UInt64
    }

    /// The claim of an erased event of `part`: its record is in the part's own log, or, for a sealed
    /// shard's body dropped after the seal, a `retention.applied` in a later shard naming this one. The
    /// store keeps only the record's index, so the shard is the one whose entry there names this event.
    static func erasureClaim(
        _ erasure: ErasureRecord, of eventIndex: UInt64, in part: BundlePart, seen: inout [RecordKey: Bool]
    ) async throws -> EvidenceBundle.Erasure {
        guard let shard = part.shard, !part.later.isEmpty,
            try await !names(part.ledger, erasure.erasureEntryIndex, event: eventIndex, ofShard: nil, key: RecordKey(shard: shard, index: erasure.erasureEntryIndex), seen: &seen)
        else {
            return try await erasureClaim(erasure, ledger: part.ledger, treeSize: part.treeSize)
        }
        for later in part.later {
            let key = RecordKey(shard: later.shard, index: erasure.erasureEntryIndex)
            guard try await names(later.ledger, erasure.erasureEntryIndex, event: eventIndex, ofShard: shard, key: key, seen: &seen) else { continue }
            // Proved against that shard's part of this bundle; with no such part (a shard's bundle alone), sent unproved,
            // and the verifier says a bundle across shards proves it.
            var claim = try await erasureClaim(erasure, ledger: later.ledger, treeSize: later.treeSize ?? 0)
            claim.shard = later.shard
            return claim
        }
        return try await erasureClaim(erasure, ledger: part.ledger, treeSize: part.treeSize)
    }

    /// True when entry `index` of `ledger` is Greffe's record that dropped the body of `event` in
    /// `ofShard` (nil: in the same log). Remembered per record: one record covers many events.
    static func names(
        _ ledger: Ledger, _ index: UInt64, event: UInt64, ofShard: Int?, key: RecordKey, seen: inout [RecordKey: Bool]
    ) async throws -> Bool {
        if let known = seen[key], known == false { return false }
        guard let stored = try await ledger.readEvent(index: index), let body = try parseBody(stored.canonicalBody) else {
            seen[key] = false
            return false
        }
        let shardMember = body["shard"]?.intValue
        switch stored.kind {
        case Ledger.retentionKind:
            guard shardMember == ofShard, let from = body["from_index"]?.intValue, let to = body["to_index"]?.intValue else {
                seen[key] = false
                return false
            }
            return UInt64(max(0, from)) <= event && event < UInt64(max(0, to))
        case "erasure.executed":
            return shardMember == ofShard && body["target_index"]?.intValue.map { UInt64(max(0, $0)) == event } == true
        default:
            seen[key] = false
            return false
        }
    }

    /// An erased event's claim with its proof: the `erasure.executed` record, proved at `treeSize`. A record
    /// the bundle's checkpoint does not cover (an erasure during streaming) goes out with no proof, and the
    /// verifier says exactly that.
    static func erasureClaim(_ erasure: ErasureRecord, ledger: Ledger, treeSize: UInt64) async throws -> EvidenceBundle.Erasure {
        var claim = EvidenceBundle.Erasure(
            erasedAt: RFC3339Time.format(erasure.erasedAtMilliseconds), legalReference: erasure.legalReference,
            erasureEntryIndex: erasure.erasureEntryIndex)
        guard let stored = try await ledger.readEvent(index: erasure.erasureEntryIndex) else { return claim }
        var leafHash = MerkleHash.leaf(stored.entry)
        var proof: [Hash] = []
        if erasure.erasureEntryIndex < treeSize {
            (leafHash, proof) = try await ledger.inclusionProof(index: erasure.erasureEntryIndex, treeSize: treeSize)
        }
        claim.record = EvidenceBundle.Event(
            index: erasure.erasureEntryIndex, eventID: stored.eventID, kind: stored.kind, body: try parseBody(stored.canonicalBody),
            salt: stored.salt, entry: stored.entry, leafHash: leafHash, inclusionProof: proof)
        return claim
    }

    /// `disclose`: the fields of each event's body the bundle shows (a path selects every field at or
    /// inside it); nil shows whole bodies. At most 64 paths.
    static func disclosePaths(_ value: JSONValue) throws -> [FieldPath]? {
        guard let disclose = value["disclose"] else { return nil }
        let shape = "an array of 1 to 64 field paths, each an array of member names and positions, e.g. [[\"decision\", \"outcome\"], [\"input_images\"]]"
        guard let items = disclose.arrayValue, (1...64).contains(items.count) else { throw APIError(.unprocessableContent, "/disclose must be \(shape)") }
        return try items.map { item in
            guard let path = FieldPath(json: item) else { throw APIError(.unprocessableContent, "/disclose must be \(shape)") }
            return path
        }
    }

    /// The contract's bundle query: fields combined with AND, unknown fields
    /// refused at every level, so that the query written to the log in the
    /// access record holds nothing but what was understood.
    /// `recorded_range` comes back apart: the store knows no recorded time, the ledger maps it to indices.
    static func bundleQuery(_ value: JSONValue) throws -> (EventQuery, recordedRange: Range<UInt64>?) {
        /// The members of an object that must have exactly `members`.
        func exactMembers(_ value: JSONValue, _ path: String, _ members: [String], _ shape: String) throws -> JSONObject {
            guard let object = value.objectValue, object.keys.count == members.count, members.allSatisfy({ object[$0] != nil }) else {
                let extra = value.objectValue?.keys.first { !members.contains($0) }
                throw APIError(
                    .unprocessableContent, "\(path) must be \(shape)" + (extra.map { "; unknown member \"\($0.prefix(40))\"" } ?? ""))
            }
            return object
        }
        guard let object = value.objectValue else { throw APIError(.unprocessableContent, "the bundle query must be a JSON object") }
        let known: Set = ["event_ids", "index_range", "account", "content_hash", "time_range", "recorded_range", "kind", "disclose"]
        if let unknown = object.keys.first(where: { !known.contains($0) }) {
            throw APIError(.unprocessableContent, "unknown query field \"\(unknown.prefix(40))\"; known: \(known.sorted().joined(separator: ", "))")
        }
        guard object.keys.contains(where: { $0 != "disclose" }) else { throw APIError(.unprocessableContent, "the bundle query needs at least one field") }
        var query = EventQuery()
        if let ids = object["event_ids"] {
            guard let items = ids.arrayValue, !items.isEmpty, items.count <= 10_000 else {
                throw APIError(.unprocessableContent, "/event_ids must be an array of 1 to 10000 strings")
            }
            query.eventIDs = try items.map { item in
                guard let id = item.stringValue else { throw APIError(.unprocessableContent, "/event_ids must hold strings") }
                return id
            }
        }
        if let value = object["index_range"] {
            let shape = "{\"from\": n, \"to\": m} with 0 ≤ from ≤ to (to exclusive)"
            let range = try exactMembers(value, "/index_range", ["from", "to"], shape)
            guard let from = range["from"]?.intValue, let to = range["to"]?.intValue, from >= 0, to >= from else {
                throw APIError(.unprocessableContent, "/index_range must be \(shape)")
            }
            query.indexRange = UInt64(from)..<UInt64(to)
        }
        if let account = object["account"] {
            guard let text = account.stringValue, !text.isEmpty else { throw APIError(.unprocessableContent, "/account must be a string") }
            query.account = text
        }
        if let hash = object["content_hash"] {
            guard let text = hash.stringValue else { throw APIError(.unprocessableContent, "/content_hash must be a string") }
            do { query.contentHash = try contentHashTerm(text) } catch { throw APIError(.unprocessableContent, "/content_hash must be sha256:<64 hex> or pdq:<64 hex>") }
        }
        if let kind = object["kind"] {
            guard let text = kind.stringValue, LedgerEntry.isValidKind(text) else { throw APIError(.unprocessableContent, "/kind is not a valid kind") }
            query.kinds = [text]
        }
        if let value = object["time_range"] {
            let shape = "{\"from\": RFC 3339, \"to\": RFC 3339} with from ≤ to"
            let range = try exactMembers(value, "/time_range", ["from", "to"], shape)
            guard let fromText = range["from"]?.stringValue, let toText = range["to"]?.stringValue,
                let from = RFC3339Time.milliseconds(fromText), let to = RFC3339Time.milliseconds(toText), from <= to
            else {
                throw APIError(.unprocessableContent, "/time_range must be \(shape)")
            }
            query.timeRange = from..<to
        }
        var recordedRange: Range<UInt64>?
        if let value = object["recorded_range"] {
            let shape = "{\"from\": RFC 3339, \"to\": RFC 3339} with from ≤ to (when Greffe recorded the events)"
            let range = try exactMembers(value, "/recorded_range", ["from", "to"], shape)
            guard let fromText = range["from"]?.stringValue, let toText = range["to"]?.stringValue,
                let from = RFC3339Time.milliseconds(fromText), let to = RFC3339Time.milliseconds(toText), from <= to
            else {
                throw APIError(.unprocessableContent, "/recorded_range must be \(shape)")
            }
            recordedRange = from..<to
        }
        return (query, recordedRange)
    }
}

extension LedgerAPI {
    /// The earliest signed state covering the first `size` entries, when older
    /// than the bundle's checkpoint. With witnesses, also the earliest
    /// cosigned one — a state the witnesses vouched for at the times their
    /// cosignatures state — or, when both have one size, the cosigned note alone.
    func earlierCheckpoints(before checkpoint: StoredCheckpoint, covering size: UInt64) async throws -> [EvidenceBundle.EarlierCheckpoint] {
        var notes: [(size: UInt64, note: String)] = []
        if let first = try await ledger.firstCheckpoint(atLeast: size), first.size < checkpoint.size {
            notes.append((first.size, first.note))
        }
        if let cosigned = try await ledger.firstAttestation(kind: .cosignedNote, atLeast: size), cosigned.size < checkpoint.size {
            let note = String(decoding: cosigned.data, as: UTF8.self)
            if notes.first?.size == cosigned.size { notes[0].note = note } else { notes.append((cosigned.size, note)) }
        }
        var earlier: [EvidenceBundle.EarlierCheckpoint] = []
        for (size, note) in notes {
            earlier.append(.init(note: note, consistencyProof: try await ledger.consistencyProof(first: size, second: checkpoint.size)))
        }
        return earlier
    }
}

/// The legal holds whose scope covers a bundled event, gathered while the
/// bundle streams and written after the events with their records proved
/// (`Schemas/bundle.md`, v3: Holds).
struct HoldCollector {
    let ledger: Ledger
    private var holds: [LegalHold]?
    private var covering: Set<UInt64> = []

    init(ledger: Ledger) { self.ledger = ledger }

    mutating func note(kind: String, body: JSONValue?, index: UInt64) async throws {
        guard let body else { return }
        if holds == nil { holds = try await ledger.legalHolds() }
        guard let holds, !holds.isEmpty else { return }
        let terms = EventIndexTerms.extract(from: body)
        for hold in holds where !covering.contains(hold.index) && hold.covers(kind: kind, terms: terms) { covering.insert(hold.index) }
    }

    /// Holds placed within the tree, each with its lift when the tree holds it too.
    func records(treeSize: UInt64) async throws -> [EvidenceBundle.Hold] {
        var records: [EvidenceBundle.Hold] = []
        for hold in holds ?? [] where covering.contains(hold.index) && hold.index < treeSize {
            guard let placed = try await LedgerAPI.provedRecord(index: hold.index, ledger: ledger, treeSize: treeSize) else { continue }
            var lifted: EvidenceBundle.Event?
            if let liftedBy = hold.liftedBy, liftedBy < treeSize {
                lifted = try await LedgerAPI.provedRecord(index: liftedBy, ledger: ledger, treeSize: treeSize)
            }
            records.append(EvidenceBundle.Hold(placed: placed, lifted: lifted))
        }
        return records
    }
}

extension LedgerAPI {
    /// A Greffe-written record in the bundle's record shape, proved at `treeSize`.
    static func provedRecord(index: UInt64, ledger: Ledger, treeSize: UInt64) async throws -> EvidenceBundle.Event? {
        guard let stored = try await ledger.readEvent(index: index) else { return nil }
        let (leafHash, proof) = try await ledger.inclusionProof(index: index, treeSize: treeSize)
        return EvidenceBundle.Event(
            index: index, eventID: stored.eventID, kind: stored.kind, body: try parseBody(stored.canonicalBody), salt: stored.salt, entry: stored.entry,
            leafHash: leafHash, inclusionProof: proof)
    }
}
