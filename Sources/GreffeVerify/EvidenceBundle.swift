import Foundation
public import GreffeCore
public import GreffeTimestamp

/// An evidence bundle (`Schemas/bundle.schema.json`): everything a court needs
/// to check a set of events offline against one signed checkpoint.
public struct EvidenceBundle: Sendable, Equatable {
    /// `greffe-bundle/v2` proves each erasure it claims; v1 files still parse, their erasure claims unproven.
    public enum Format: String, Sendable, CaseIterable {
        case v1 = "greffe-bundle/v1"
        case v2 = "greffe-bundle/v2"
        /// Events proved together by one multi-leaf proof (`CompactBundle.swift`); what the server writes.
        case v3 = "greffe-bundle/v3"
    }

    /// The format of bundles built in memory with a per-event proof (`json`); the server streams v3 (`CompactBundleWriter`).
    public static let format = Format.v2

    public struct Event: Sendable, Equatable {
        public var index: UInt64
        public var eventID: String
        public var kind: String
        /// The event as the platform sent it; nil once erased.
        public var body: JSONValue?
        public var salt: [UInt8]?
        public var entry: [UInt8]
        public var leafHash: Hash
        /// Inclusion proof against the bundle's checkpoint.
        public var inclusionProof: [Hash]
        /// Why the body is missing, if it is: a claim the verifier checks.
        public var erasure: Erasure?
        /// v2: the name of the token that appended the event. Not covered by
        /// the entry's commitment: informational, never verified.
        public var appendedBy: String?
        /// v3 with `disclose` in the query: the fields shown instead of the body (entry layout 2).
        public var disclosed: [DisclosedField]?

        public init(
            index: UInt64, eventID: String, kind: String, body: JSONValue?, salt: [UInt8]?, entry: [UInt8], leafHash: Hash,
            inclusionProof: [Hash], erasure: Erasure? = nil, appendedBy: String? = nil, disclosed: [DisclosedField]? = nil
        ) {
            self.disclosed = disclosed
            self.index = index
            self.eventID = eventID
            self.kind = kind
            self.body = body
            self.salt = salt
            self.entry = entry
            self.leafHash = leafHash
            self.inclusionProof = inclusionProof
            self.erasure = erasure
            self.appendedBy = appendedBy
        }
    }

    /// An event's `erased` member: the claim that its body and salt were
    /// deleted under a legal order. In v2 it carries `record`, the
    /// `erasure.executed` event Greffe appended before deleting them, with
    /// its body, salt and inclusion proof to the bundle's checkpoint: the
    /// proof that the log itself recorded this order for this event.
    public struct Erasure: Sendable, Equatable {
        /// When the store deleted the body: informational, covered by nothing.
        public var erasedAt: String
        public var legalReference: String
        public var erasureEntryIndex: UInt64
        /// v3 in a shard bundle: the shard whose retention record dropped the body, when not the event's own
        /// (Schemas/shards.md, "Retention across shards"); the record is proved against that shard's checkpoint.
        public var shard: Int?
        // An array: a struct cannot hold a value of its own type inline.
        private var records: [Event]

        /// The `erasure.executed` event (v2); nil in v1, or when the bundle left it out.
        public var record: Event? {
            get { records.first }
            set { records = newValue.map { [$0] } ?? [] }
        }

        public init(erasedAt: String, legalReference: String, erasureEntryIndex: UInt64, record: Event? = nil) {
            self.erasedAt = erasedAt
            self.legalReference = legalReference
            self.erasureEntryIndex = erasureEntryIndex
            self.records = record.map { [$0] } ?? []
        }

        public var json: JSONValue {
            var object: JSONObject = [
                "erased_at": .string(erasedAt), "legal_reference": .string(legalReference),
                "erasure_entry_index": .number(Double(erasureEntryIndex)),
            ]
            if let record { object["record"] = record.json }
            if let shard { object["shard"] = .number(Double(shard)) }
            return .object(object)
        }
    }

    public struct EarlierCheckpoint: Sendable, Equatable {
        public var note: String
        /// From this checkpoint's tree to the bundle's checkpoint's tree.
        public var consistencyProof: [Hash]

        public init(note: String, consistencyProof: [Hash]) {
            self.note = note
            self.consistencyProof = consistencyProof
        }
    }

    /// An RFC 3161 token over an earlier (or the same) signed checkpoint, with
    /// the consistency proof from that checkpoint to the bundle's: the token
    /// dates that state of the log, and the proof shows the bundle's state
    /// grew from it. The token's message imprint is SHA-256 of the checkpoint's
    /// signed body (`Timestamp.imprint(ofCheckpointNote:)`).
    public struct CheckpointTimestamp: Sendable, Equatable {
        public var treeSize: UInt64
        public var checkpoint: String
        /// DER TimeStampToken (RFC 3161 §2.4.2).
        public var token: [UInt8]
        public var consistencyProof: [Hash]
        /// The renewals of `token`, oldest first (Schemas/bundle.md, "Renewed timestamps"); empty if never renewed.
        public var renewals: [TimestampRenewal]

        public init(treeSize: UInt64, checkpoint: String, token: [UInt8], consistencyProof: [Hash], renewals: [TimestampRenewal] = []) {
            self.treeSize = treeSize
            self.checkpoint = checkpoint
            self.token = token
            self.consistencyProof = consistencyProof
            self.renewals = renewals
        }

        /// A bundle carries at most the covering token and the bundle checkpoint's own.
        public static let maxPerBundle = 16
        public static let maxTokenBytes = TimestampRenewal.maxTokenBytes
        /// One renewal every few years for a century.
        public static let maxRenewals = 32

        public var json: JSONValue {
            var members: [(String, JSONValue)] = [
                ("tree_size", .number(Double(treeSize))), ("checkpoint", .string(checkpoint)), ("token", .string(Data(token).base64EncodedString())),
                ("consistency_proof", .array(consistencyProof.map { .string($0.base64) })),
            ]
            // Absent when never renewed: bundles without renewals are what they were before.
            if !renewals.isEmpty { members.append(("renewals", .array(renewals.map(\.json)))) }
            return .object(JSONObject(members))
        }
    }

    public var format: Format
    public var verifierKey: String
    public var checkpoint: String
    public var createdAt: String
    public var query: JSONValue
    public var events: [Event]
    public var earlierCheckpoints: [EarlierCheckpoint]
    /// Optional (absent from bundles made without a TSA): oldest first.
    public var timestamps: [CheckpointTimestamp]
    /// v3: the legal holds covering bundled events, as the server found them.
    public var holds: [Hold] = []

    public init(
        verifierKey: String, checkpoint: String, createdAt: String, query: JSONValue, events: [Event], earlierCheckpoints: [EarlierCheckpoint],
        timestamps: [CheckpointTimestamp] = [], format: Format = EvidenceBundle.format
    ) {
        self.format = format
        self.verifierKey = verifierKey
        self.checkpoint = checkpoint
        self.createdAt = createdAt
        self.query = query
        self.events = events
        self.earlierCheckpoints = earlierCheckpoints
        self.timestamps = timestamps
    }

    // MARK: - JSON

    public var json: JSONValue {
        var object: JSONObject = [
            "format": .string(format.rawValue),
            "verifier_key": .string(verifierKey),
            "checkpoint": .string(checkpoint),
            "created_at": .string(createdAt),
            "query": query,
            "events": .array(events.map(\.json)),
            "earlier_checkpoints": .array(
                earlierCheckpoints.map { ["checkpoint": .string($0.note), "consistency_proof": .array($0.consistencyProof.map { .string($0.base64) })] }),
        ]
        // Absent rather than empty: a bundle made without a TSA is byte for byte what it was before timestamps existed.
        if !timestamps.isEmpty { object["timestamps"] = .array(timestamps.map(\.json)) }
        return .object(object)
    }

    /// Why a file is not a well-formed bundle (before any cryptographic check).
    public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    static let knownMembers: Set = ["format", "verifier_key", "checkpoint", "created_at", "query", "events", "earlier_checkpoints", "timestamps"]
    static let knownEventMembers: Set = [
        "index", "event_id", "kind", "body", "salt", "entry", "leaf_hash", "inclusion_proof", "appended_by", "erased",
    ]

    /// The checks, and their order, are those of web/verify-core.js `parseBundle`: both refuse a file with the same words.
    public init(parsing bytes: [UInt8]) throws(FormatError) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 128, maxBytes: 1 << 30))
        } catch {
            throw FormatError("the bundle is not valid JSON: \(error)")
        }
        guard let object = value.objectValue else { throw FormatError("the bundle is not a JSON object") }
        guard let formatText = object["format"]?.stringValue, let format = Format(rawValue: formatText) else {
            throw FormatError("the bundle's format is none of \(Format.v3.rawValue), \(Format.v2.rawValue), \(Format.v1.rawValue)")
        }
        self.format = format
        // v2 and v3 are strict: a member this verifier does not know could carry a meaning it would silently ignore.
        if format == .v2 { try Self.refuseUnknown(object, known: Self.knownMembers, at: "the bundle") }
        if format == .v3 { try Self.refuseUnknown(object, known: Self.knownMembers.union(["tail", "holds"]), at: "the bundle") }
        verifierKey = try Self.string("verifier_key", in: object, at: "")
        checkpoint = try Self.string("checkpoint", in: object, at: "")
        createdAt = try Self.string("created_at", in: object, at: "")
        query = object["query"] ?? .null
        guard let items = object["events"]?.arrayValue else { throw FormatError("/events is missing or not an array") }
        if format == .v3 {
            (events, holds) = try Self.parseCompact(object, items: items, checkpoint: checkpoint)
        } else {
            var events: [Event] = []
            for (position, item) in items.enumerated() {
                events.append(try Self.parseEvent(item, at: "/events/\(position)", format: format, isRecord: false))
            }
            self.events = events
        }
        earlierCheckpoints = try Self.parseEarlierCheckpoints(object["earlier_checkpoints"], format: format)
        timestamps = try EvidenceBundle.parseTimestamps(object["timestamps"])
    }

    static func parseEarlierCheckpoints(_ earlierValue: JSONValue?, format: Format) throws(FormatError) -> [EarlierCheckpoint] {
        var earlier: [EarlierCheckpoint] = []
        if format != .v1 && earlierValue?.arrayValue == nil { throw FormatError("/earlier_checkpoints is missing or not an array") }
        for (position, item) in (earlierValue?.arrayValue ?? []).enumerated() {
            let path = "/earlier_checkpoints/\(position)"
            guard let entry = item.objectValue else { throw FormatError("\(path) is not an object") }
            if format != .v1 { try Self.refuseUnknown(entry, known: ["checkpoint", "consistency_proof"], at: path) }
            earlier.append(
                EarlierCheckpoint(
                    note: try Self.string("checkpoint", in: entry, at: path),
                    consistencyProof: try Self.hashes(entry["consistency_proof"], at: "\(path)/consistency_proof")))
        }
        return earlier
    }

    /// One bundled event, or (`isRecord`) the `erasure.executed` event inside an `erased` claim, which has no `erased` of its own.
    static func parseEvent(_ item: JSONValue, at path: String, format: Format, isRecord: Bool) throws(FormatError) -> Event {
        guard let event = item.objectValue else { throw FormatError("\(path) is not an object") }
        if format != .v1 {
            try refuseUnknown(event, known: isRecord ? knownEventMembers.subtracting(["erased"]) : knownEventMembers, at: path)
            // Present even when null: a removed member is a changed file, not an erased body.
            guard let body = event["body"] else { throw FormatError("\(path)/body is missing") }
            guard body.isNull || body.objectValue != nil else { throw FormatError("\(path)/body is not an object or null") }
            guard event["salt"] != nil else { throw FormatError("\(path)/salt is missing") }
        }
        let body = event["body"].flatMap { $0.isNull ? nil : $0 }
        let salt = try event["salt"].flatMap { value throws(FormatError) -> [UInt8]? in
            value.isNull ? nil : try base64Bytes(value, at: "\(path)/salt")
        }
        guard let leafText = event["leaf_hash"]?.stringValue, let leafHash = Hash(base64: leafText) else {
            throw FormatError("\(path)/leaf_hash is not a base64 SHA-256 hash")
        }
        let index = try index(event["index"], at: "\(path)/index")
        let eventID = try string("event_id", in: event, at: path)
        let kind = try string("kind", in: event, at: path)
        let entry = try base64Bytes(event["entry"], at: "\(path)/entry")
        let proof = try hashes(event["inclusion_proof"], at: "\(path)/inclusion_proof")
        var appendedBy: String?
        if format != .v1, let value = event["appended_by"], !value.isNull {
            guard let name = value.stringValue else { throw FormatError("\(path)/appended_by is not a string or null") }
            appendedBy = name
        }
        var erasure: Erasure?
        if let value = event["erased"] {
            erasure = try parseErasure(value, at: "\(path)/erased", format: format)
        }
        return Event(
            index: index, eventID: eventID, kind: kind, body: body, salt: salt, entry: entry, leafHash: leafHash, inclusionProof: proof,
            erasure: erasure, appendedBy: appendedBy)
    }

    static func parseErasure(_ value: JSONValue, at path: String, format: Format) throws(FormatError) -> Erasure {
        guard let object = value.objectValue else { throw FormatError("\(path) is not an object") }
        var known: Set = ["erased_at", "legal_reference", "erasure_entry_index"]
        if format != .v1 { known.insert("record") }
        if format == .v3 { known.insert("shard") }
        try refuseUnknown(object, known: known, at: path)
        var erasure = Erasure(
            erasedAt: try string("erased_at", in: object, at: path), legalReference: try string("legal_reference", in: object, at: path),
            erasureEntryIndex: try index(object["erasure_entry_index"], at: "\(path)/erasure_entry_index"))
        if let shard = object["shard"] {
            guard let number = shard.intValue, number >= 0, number < 1 << 31 else { throw FormatError("\(path)/shard is not a shard number") }
            erasure.shard = number
        }
        // A missing record is the verifier's to report ("body withheld"), naming the event.
        if let record = object["record"] {
            erasure.record = try parseEvent(record, at: "\(path)/record", format: format, isRecord: true)
        }
        return erasure
    }

    static func refuseUnknown(_ object: JSONObject, known: Set<String>, at path: String) throws(FormatError) {
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw FormatError("\(path) has the unknown field \"\(unknown.prefix(40))\"")
        }
    }

    static func string(_ key: String, in object: JSONObject, at path: String) throws(FormatError) -> String {
        guard let text = object[key]?.stringValue else { throw FormatError("\(path)/\(key) is missing or not a string") }
        return text
    }

    static func hashes(_ value: JSONValue?, at path: String) throws(FormatError) -> [Hash] {
        guard let items = value?.arrayValue else { throw FormatError("\(path) is missing or not an array") }
        var hashes: [Hash] = []
        for (position, item) in items.enumerated() {
            guard let text = item.stringValue, let hash = Hash(base64: text) else {
                throw FormatError("\(path)/\(position) is not a base64 SHA-256 hash")
            }
            hashes.append(hash)
        }
        return hashes
    }

    static func base64Bytes(_ value: JSONValue?, at path: String) throws(FormatError) -> [UInt8] {
        guard let text = value?.stringValue, let data = Data(base64Encoded: text) else { throw FormatError("\(path) is not base64") }
        return Array(data)
    }

    static func index(_ value: JSONValue?, at path: String) throws(FormatError) -> UInt64 {
        guard let number = value?.intValue, number >= 0 else { throw FormatError("\(path) is not a non-negative integer") }
        return UInt64(number)
    }

    /// `/timestamps`: strict, since its absence and its presence mean different things.
    static func parseTimestamps(_ value: JSONValue?) throws(FormatError) -> [CheckpointTimestamp] {
        guard let value else { return [] }
        guard let items = value.arrayValue else { throw FormatError("/timestamps is not an array") }
        guard items.count <= CheckpointTimestamp.maxPerBundle else {
            throw FormatError("/timestamps holds \(items.count) tokens, more than \(CheckpointTimestamp.maxPerBundle)")
        }
        var timestamps: [CheckpointTimestamp] = []
        for (position, item) in items.enumerated() {
            let path = "/timestamps/\(position)"
            guard let object = item.objectValue else { throw FormatError("\(path) is not an object") }
            let known: Set = ["tree_size", "checkpoint", "token", "consistency_proof", "renewals"]
            if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
                throw FormatError("\(path) has the unknown field \"\(unknown.prefix(40))\"")
            }
            guard let note = object["checkpoint"]?.stringValue else { throw FormatError("\(path)/checkpoint is missing or not a string") }
            guard let text = object["token"]?.stringValue, let token = Data(base64Encoded: text), !token.isEmpty else {
                throw FormatError("\(path)/token is not base64")
            }
            guard token.count <= CheckpointTimestamp.maxTokenBytes else {
                throw FormatError("\(path)/token is larger than \(CheckpointTimestamp.maxTokenBytes) bytes")
            }
            var renewals: [TimestampRenewal] = []
            if let value = object["renewals"] {
                // Present means renewed: an empty list is a claim with nothing behind it.
                guard let list = value.arrayValue, !list.isEmpty else { throw FormatError("\(path)/renewals is not a non-empty array") }
                guard list.count <= CheckpointTimestamp.maxRenewals else {
                    throw FormatError("\(path)/renewals holds \(list.count) renewals, more than \(CheckpointTimestamp.maxRenewals)")
                }
                for (number, item) in list.enumerated() {
                    do { renewals.append(try TimestampRenewal(json: item, at: "\(path)/renewals/\(number)")) } catch { throw FormatError(error.message) }
                }
            }
            timestamps.append(
                CheckpointTimestamp(
                    treeSize: try index(object["tree_size"], at: "\(path)/tree_size"), checkpoint: note, token: Array(token),
                    consistencyProof: try hashes(object["consistency_proof"], at: "\(path)/consistency_proof"), renewals: renewals))
        }
        return timestamps
    }
}

extension EvidenceBundle.Event {
    public var json: JSONValue {
        var object: JSONObject = [
            "index": .number(Double(index)), "event_id": .string(eventID), "kind": .string(kind), "body": body ?? .null,
            "salt": salt.map { .string(Data($0).base64EncodedString()) } ?? .null, "entry": .string(Data(entry).base64EncodedString()),
            "leaf_hash": .string(leafHash.base64), "inclusion_proof": .array(inclusionProof.map { .string($0.base64) }),
        ]
        if let appendedBy { object["appended_by"] = .string(appendedBy) }
        if let erasure { object["erased"] = erasure.json }
        return .object(object)
    }
}
