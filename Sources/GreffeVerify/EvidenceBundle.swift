import Foundation
public import GreffeCore

/// An evidence bundle (`Schemas/bundle.schema.json`): everything a court needs
/// to check a set of events offline against one signed checkpoint.
public struct EvidenceBundle: Sendable, Equatable {
    public static let format = "greffe-bundle/v1"

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
        /// Why the body is missing, if it is.
        public var erasure: JSONValue?

        public init(
            index: UInt64, eventID: String, kind: String, body: JSONValue?, salt: [UInt8]?, entry: [UInt8], leafHash: Hash,
            inclusionProof: [Hash], erasure: JSONValue? = nil
        ) {
            self.index = index
            self.eventID = eventID
            self.kind = kind
            self.body = body
            self.salt = salt
            self.entry = entry
            self.leafHash = leafHash
            self.inclusionProof = inclusionProof
            self.erasure = erasure
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

    public var verifierKey: String
    public var checkpoint: String
    public var createdAt: String
    public var query: JSONValue
    public var events: [Event]
    public var earlierCheckpoints: [EarlierCheckpoint]

    public init(
        verifierKey: String, checkpoint: String, createdAt: String, query: JSONValue, events: [Event], earlierCheckpoints: [EarlierCheckpoint]
    ) {
        self.verifierKey = verifierKey
        self.checkpoint = checkpoint
        self.createdAt = createdAt
        self.query = query
        self.events = events
        self.earlierCheckpoints = earlierCheckpoints
    }

    // MARK: - JSON

    public var json: JSONValue {
        [
            "format": .string(EvidenceBundle.format),
            "verifier_key": .string(verifierKey),
            "checkpoint": .string(checkpoint),
            "created_at": .string(createdAt),
            "query": query,
            "events": .array(events.map(\.json)),
            "earlier_checkpoints": .array(
                earlierCheckpoints.map { ["checkpoint": .string($0.note), "consistency_proof": .array($0.consistencyProof.map { .string($0.base64) })] }),
        ]
    }

    /// Why a file is not a well-formed bundle (before any cryptographic check).
    public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public init(parsing bytes: [UInt8]) throws(FormatError) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 128, maxBytes: 1 << 30))
        } catch {
            throw FormatError("the bundle is not valid JSON: \(error)")
        }
        guard let object = value.objectValue else { throw FormatError("the bundle is not a JSON object") }
        guard object["format"]?.stringValue == EvidenceBundle.format else {
            throw FormatError("the bundle's format is not \(EvidenceBundle.format)")
        }
        func string(_ key: String, in object: JSONObject, at path: String) throws(FormatError) -> String {
            guard let text = object[key]?.stringValue else { throw FormatError("\(path)/\(key) is missing or not a string") }
            return text
        }
        func hashes(_ value: JSONValue?, at path: String) throws(FormatError) -> [Hash] {
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
        func base64Bytes(_ value: JSONValue?, at path: String) throws(FormatError) -> [UInt8] {
            guard let text = value?.stringValue, let data = Data(base64Encoded: text) else { throw FormatError("\(path) is not base64") }
            return Array(data)
        }
        func index(_ value: JSONValue?, at path: String) throws(FormatError) -> UInt64 {
            guard let number = value?.intValue, number >= 0 else { throw FormatError("\(path) is not a non-negative integer") }
            return UInt64(number)
        }

        verifierKey = try string("verifier_key", in: object, at: "")
        checkpoint = try string("checkpoint", in: object, at: "")
        createdAt = try string("created_at", in: object, at: "")
        query = object["query"] ?? .null
        guard let items = object["events"]?.arrayValue else { throw FormatError("/events is missing or not an array") }
        var events: [Event] = []
        for (position, item) in items.enumerated() {
            let path = "/events/\(position)"
            guard let event = item.objectValue else { throw FormatError("\(path) is not an object") }
            let body = event["body"].flatMap { $0.isNull ? nil : $0 }
            let salt = try event["salt"].flatMap { value throws(FormatError) -> [UInt8]? in
                value.isNull ? nil : try base64Bytes(value, at: "\(path)/salt")
            }
            guard let leafText = event["leaf_hash"]?.stringValue, let leafHash = Hash(base64: leafText) else {
                throw FormatError("\(path)/leaf_hash is not a base64 SHA-256 hash")
            }
            events.append(
                Event(
                    index: try index(event["index"], at: "\(path)/index"), eventID: try string("event_id", in: event, at: path),
                    kind: try string("kind", in: event, at: path), body: body, salt: salt, entry: try base64Bytes(event["entry"], at: "\(path)/entry"),
                    leafHash: leafHash, inclusionProof: try hashes(event["inclusion_proof"], at: "\(path)/inclusion_proof"),
                    erasure: event["erased"]))
        }
        self.events = events
        var earlier: [EarlierCheckpoint] = []
        for (position, item) in (object["earlier_checkpoints"]?.arrayValue ?? []).enumerated() {
            let path = "/earlier_checkpoints/\(position)"
            guard let entry = item.objectValue else { throw FormatError("\(path) is not an object") }
            earlier.append(
                EarlierCheckpoint(
                    note: try string("checkpoint", in: entry, at: path),
                    consistencyProof: try hashes(entry["consistency_proof"], at: "\(path)/consistency_proof")))
        }
        earlierCheckpoints = earlier
    }
}

extension EvidenceBundle.Event {
    public var json: JSONValue {
        var object: JSONObject = [
            "index": .number(Double(index)), "event_id": .string(eventID), "kind": .string(kind), "body": body ?? .null,
            "salt": salt.map { .string(Data($0).base64EncodedString()) } ?? .null, "entry": .string(Data(entry).base64EncodedString()),
            "leaf_hash": .string(leafHash.base64), "inclusion_proof": .array(inclusionProof.map { .string($0.base64) }),
        ]
        if let erasure { object["erased"] = erasure }
        return .object(object)
    }
}
