import Foundation
public import GreffeCore

// greffe-bundle/v3 (`Schemas/bundle.md`, v3): events carry no member their
// entry already holds, and no per-event proof; the bundle proves them all at
// once with the subtrees covering the entries between them (each event's
// `gap`) and after the last (`tail`).

extension EvidenceBundle {
    /// One v3 event as written in the file.
    public struct CompactEvent: Sendable, Equatable {
        public var entry: [UInt8]
        public var body: JSONValue?
        public var salt: [UInt8]?
        /// Hashes of the cover of the entries between the previous bundled event and this one.
        public var gap: [Hash]
        public var appendedBy: String?
        public var erasure: Erasure?
        /// Some fields of a layout-2 body instead of the body and salt (`disclose` in the bundle query).
        public var disclosed: [DisclosedField]?

        public init(
            entry: [UInt8], body: JSONValue?, salt: [UInt8]?, gap: [Hash] = [], appendedBy: String? = nil, erasure: Erasure? = nil,
            disclosed: [DisclosedField]? = nil
        ) {
            self.disclosed = disclosed
            self.entry = entry
            self.body = body
            self.salt = salt
            self.gap = gap
            self.appendedBy = appendedBy
            self.erasure = erasure
        }

        static let knownMembers: Set = ["entry", "body", "salt", "gap", "appended_by", "erased", "disclosed"]

        public var json: JSONValue {
            var object: JSONObject = ["entry": .string(Data(entry).base64EncodedString())]
            if let disclosed {
                object["disclosed"] = .array(disclosed.map(\.json))
            } else {
                object["body"] = body ?? .null
                object["salt"] = salt.map { .string(Data($0).base64EncodedString()) } ?? .null
            }
            // Absent when empty: inside a contiguous range every gap is.
            if !gap.isEmpty { object["gap"] = .array(gap.map { .string($0.base64) }) }
            if let appendedBy { object["appended_by"] = .string(appendedBy) }
            if let erasure { object["erased"] = erasure.json }
            return .object(object)
        }

        /// Strict, as v2: unknown members refused, `body` and `salt` present even when null, unless
        /// `disclosed` stands in their place (then neither may appear).
        public init(parsing item: JSONValue, at path: String) throws(FormatError) {
            guard let event = item.objectValue else { throw FormatError("\(path) is not an object") }
            try EvidenceBundle.refuseUnknown(event, known: Self.knownMembers, at: path)
            if let value = event["disclosed"] {
                guard event["body"] == nil, event["salt"] == nil, event["erased"] == nil else {
                    throw FormatError("\(path) has disclosed fields and also body, salt or erased: one or the other")
                }
                guard let items = value.arrayValue, items.count <= 4_096 else { throw FormatError("\(path)/disclosed is not an array of at most 4096 fields") }
                var fields: [DisclosedField] = []
                for (i, item) in items.enumerated() {
                    do { fields.append(try DisclosedField(parsing: item)) } catch { throw FormatError("\(path)/disclosed/\(i): \(error.description)") }
                }
                disclosed = fields
                entry = try EvidenceBundle.base64Bytes(event["entry"], at: "\(path)/entry")
                gap = try event["gap"].map { value throws(FormatError) in try EvidenceBundle.hashes(value, at: "\(path)/gap") } ?? []
                if let value = event["appended_by"], !value.isNull {
                    guard let name = value.stringValue else { throw FormatError("\(path)/appended_by is not a string or null") }
                    appendedBy = name
                }
                return
            }
            guard let body = event["body"] else { throw FormatError("\(path)/body is missing") }
            guard body.isNull || body.objectValue != nil else { throw FormatError("\(path)/body is not an object or null") }
            guard let saltValue = event["salt"] else { throw FormatError("\(path)/salt is missing") }
            entry = try EvidenceBundle.base64Bytes(event["entry"], at: "\(path)/entry")
            self.body = body.isNull ? nil : body
            salt = saltValue.isNull ? nil : try EvidenceBundle.base64Bytes(saltValue, at: "\(path)/salt")
            gap = try event["gap"].map { value throws(FormatError) in try EvidenceBundle.hashes(value, at: "\(path)/gap") } ?? []
            if let value = event["appended_by"], !value.isNull {
                guard let name = value.stringValue else { throw FormatError("\(path)/appended_by is not a string or null") }
                appendedBy = name
            }
            if let value = event["erased"] {
                erasure = try EvidenceBundle.parseErasure(value, at: "\(path)/erased", format: .v3)
            }
        }
    }

    /// A legal hold covering bundled events (v3 `holds`): its `hold.placed`
    /// record and, once lifted, the `hold.lifted` record, each proved against
    /// the bundle's checkpoint.
    public struct Hold: Sendable, Equatable {
        public var placed: Event
        public var lifted: Event?

        public init(placed: Event, lifted: Event?) {
            self.placed = placed
            self.lifted = lifted
        }

        public var json: JSONValue { ["placed": placed.json, "lifted": lifted?.json ?? .null] }

        init(parsing item: JSONValue, at path: String) throws(FormatError) {
            guard let object = item.objectValue else { throw FormatError("\(path) is not an object") }
            try EvidenceBundle.refuseUnknown(object, known: ["placed", "lifted"], at: path)
            guard let placed = object["placed"] else { throw FormatError("\(path)/placed is missing") }
            guard let lifted = object["lifted"] else { throw FormatError("\(path)/lifted is missing") }
            self.placed = try EvidenceBundle.parseEvent(placed, at: "\(path)/placed", format: .v3, isRecord: true)
            self.lifted = lifted.isNull ? nil : try EvidenceBundle.parseEvent(lifted, at: "\(path)/lifted", format: .v3, isRecord: true)
        }
    }

    static func parseHolds(_ value: JSONValue?) throws(FormatError) -> [Hold] {
        guard let value else { return [] }
        guard let items = value.arrayValue else { throw FormatError("/holds is not an array") }
        var holds: [Hold] = []
        for (position, item) in items.enumerated() { holds.append(try Hold(parsing: item, at: "/holds/\(position)")) }
        return holds
    }

    /// A v3 file read whole into the v2 in-memory form: each event's own
    /// inclusion proof is derived from the bundle's leaves, gaps and tail, so
    /// tools that need one event proved alone (`greffe bundle tlog-proof`)
    /// work on either format. A multi-leaf proof that does not fit together
    /// (events out of order, a gap of the wrong length) is a format error
    /// here; `CompactBundleVerifier` reports the same as failures.
    static func parseCompact(_ object: JSONObject, items: [JSONValue], checkpoint: String) throws(FormatError) -> ([Event], [Hold]) {
        guard let treeSize = try? Checkpoint(parsing: SignedNote(parsing: checkpoint).text).size else {
            throw FormatError("/checkpoint is not a checkpoint note, so the events' tree size is unknown")
        }
        var pieces: [Subtree: Hash] = [:]
        var events: [Event] = []
        var next: UInt64 = 0
        for (position, item) in items.enumerated() {
            let path = "/events/\(position)"
            let compact = try CompactEvent(parsing: item, at: path)
            guard compact.disclosed == nil else { throw FormatError("\(path) shows disclosed fields, which greffe-bundle/v2 cannot hold") }
            guard let entry = try? LedgerEntry(decoding: compact.entry) else { throw FormatError("\(path)/entry is not a valid entry") }
            guard entry.index >= next, entry.index < treeSize else {
                throw FormatError("\(path): index \(entry.index) is not after the previous event's and below the tree size \(treeSize)")
            }
            let cover = SubtreeCover.cover(from: next, to: entry.index)
            guard cover.count == compact.gap.count else {
                throw FormatError("\(path)/gap holds \(compact.gap.count) hashes; the entries before index \(entry.index) need \(cover.count)")
            }
            for (subtree, hash) in zip(cover, compact.gap) { pieces[subtree] = hash }
            let leafHash = MerkleHash.leaf(compact.entry)
            pieces[Subtree(level: 0, position: entry.index)] = leafHash
            events.append(
                Event(
                    index: entry.index, eventID: compact.body?["event_id"]?.stringValue ?? "", kind: entry.kind, body: compact.body,
                    salt: compact.salt, entry: compact.entry, leafHash: leafHash, inclusionProof: [], erasure: compact.erasure,
                    appendedBy: compact.appendedBy))
            next = entry.index + 1
        }
        let tail = try hashes(object["tail"], at: "/tail")
        let cover = SubtreeCover.cover(from: next, to: treeSize)
        guard cover.count == tail.count else { throw FormatError("/tail holds \(tail.count) hashes; the entries after the last event need \(cover.count)") }
        for (subtree, hash) in zip(cover, tail) { pieces[subtree] = hash }
        let reader = PieceReader(pieces: pieces)
        for position in events.indices {
            // Cannot fail: every node a path needs is a piece or made of pieces.
            events[position].inclusionProof = (try? MerkleTree.inclusionProof(index: events[position].index, size: treeSize, reader: reader)) ?? []
        }
        return (events, try parseHolds(object["holds"]))
    }
}

/// Answers for any complete subtree made of the bundle's pieces.
private final class PieceReader: NodeReader {
    struct Missing: Error {}
    var pieces: [Subtree: Hash]

    init(pieces: [Subtree: Hash]) { self.pieces = pieces }

    func node(level: Int, index: UInt64) throws -> Hash {
        let subtree = Subtree(level: level, position: index)
        if let hash = pieces[subtree] { return hash }
        guard level > 0 else { throw Missing() }
        let hash = MerkleHash.node(try node(level: level - 1, index: 2 * index), try node(level: level - 1, index: 2 * index + 1))
        pieces[subtree] = hash
        return hash
    }
}

/// Writes a v3 bundle as a stream: the head (everything but the events and
/// what follows them), then events one by one with their gaps, then the tail.
/// It holds no event: a bundle of any size is written in constant memory.
public struct CompactBundleWriter: Sendable {
    public let treeSize: UInt64
    /// The index after the last event written (0 before the first).
    public private(set) var next: UInt64 = 0
    private var wroteEvent = false

    public init(treeSize: UInt64) { self.treeSize = treeSize }

    /// The bundle's members other than `events`, `tail` and `holds`, opened for the events to follow.
    public static func head(
        verifierKey: String, checkpoint: String, createdAt: String, query: JSONValue, earlierCheckpoints: [EvidenceBundle.EarlierCheckpoint],
        timestamps: [EvidenceBundle.CheckpointTimestamp]
    ) -> [UInt8] {
        var bundle = EvidenceBundle(
            verifierKey: verifierKey, checkpoint: checkpoint, createdAt: createdAt, query: query, events: [], earlierCheckpoints: earlierCheckpoints,
            timestamps: timestamps, format: .v3)
        bundle.events = []
        var object = bundle.json.objectValue!
        object["events"] = nil
        var head = object.canonicalBytes()
        head.removeLast()  // the closing "}": the events follow
        head += Array(",\"events\":[".utf8)
        return head
    }

    /// The subtrees whose hashes the next event at `index` carries as its gap.
    public func gap(before index: UInt64) -> [Subtree] {
        precondition(index >= next && index < treeSize, "events are written in increasing index order, within the tree")
        return SubtreeCover.cover(from: next, to: index)
    }

    /// Appends one event (its gap already filled from `gap(before:)`).
    public mutating func append(_ event: EvidenceBundle.CompactEvent, index: UInt64, to out: inout [UInt8]) {
        precondition(index >= next && index < treeSize && event.gap.count == SubtreeCover.count(from: next, to: index), "gap does not fit")
        if wroteEvent { out.append(UInt8(ascii: ",")) }
        wroteEvent = true
        event.json.appendCanonicalBytes(to: &out)
        next = index + 1
    }

    /// The subtrees whose hashes `tail` holds.
    public var tail: [Subtree] { SubtreeCover.cover(from: next, to: treeSize) }

    /// Closes the events and the bundle.
    public func finish(tail hashes: [Hash], holds: [EvidenceBundle.Hold]) -> [UInt8] {
        precondition(hashes.count == tail.count, "tail does not fit")
        var out = Array("],\"tail\":".utf8)
        JSONValue.array(hashes.map { .string($0.base64) }).appendCanonicalBytes(to: &out)
        if !holds.isEmpty {
            out += Array(",\"holds\":".utf8)
            JSONValue.array(holds.map(\.json)).appendCanonicalBytes(to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}
