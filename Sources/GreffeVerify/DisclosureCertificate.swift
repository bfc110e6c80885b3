import Foundation
public import GreffeCore

/// `greffe-disclosure/v1` (`Schemas/disclosure.md`): one entry of layout 2, its inclusion in a
/// signed checkpoint, and some of its body's fields with their proofs; nothing else of the event.
public struct DisclosureCertificate: Sendable, Equatable {
    public static let format = "greffe-disclosure/v1"
    public static let maxFields = 64
    static let members: Set = ["format", "verifier_key", "checkpoint", "entry", "inclusion_proof", "fields", "created_at"]

    public var verifierKey: String
    public var checkpoint: String
    public var entry: [UInt8]
    public var inclusionProof: [Hash]
    public var fields: [DisclosedField]
    public var createdAt: String

    public init(verifierKey: String, checkpoint: String, entry: [UInt8], inclusionProof: [Hash], fields: [DisclosedField], createdAt: String) {
        self.verifierKey = verifierKey
        self.checkpoint = checkpoint
        self.entry = entry
        self.inclusionProof = inclusionProof
        self.fields = fields
        self.createdAt = createdAt
    }

    public var json: JSONValue {
        [
            "format": .string(Self.format), "verifier_key": .string(verifierKey), "checkpoint": .string(checkpoint),
            "entry": .string(Data(entry).base64EncodedString()), "inclusion_proof": .array(inclusionProof.map { .string($0.base64) }),
            "fields": .array(fields.map(\.json)),
            "created_at": .string(createdAt),
        ]
    }

    public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Whether a parsed JSON document claims to be a certificate (then `init(parsing:)` decides whether it is one).
    public static func claims(_ value: JSONValue) -> Bool {
        value["format"]?.stringValue == format
    }

    /// Strict: exactly the members of the format, of their types; a member not in the format is refused.
    public init(parsing value: JSONValue) throws(FormatError) {
        guard let object = value.objectValue else { throw FormatError("a certificate is a JSON object") }
        try Self.exactMembers(object, Self.members, at: "the certificate")
        guard object["format"]?.stringValue == Self.format else { throw FormatError("format is not \(Self.format)") }
        verifierKey = try Self.string(object, "verifier_key", at: "")
        checkpoint = try Self.string(object, "checkpoint", at: "")
        createdAt = try Self.string(object, "created_at", at: "")
        guard let entryBytes = Data(base64Encoded: try Self.string(object, "entry", at: "")) else { throw FormatError("/entry is not base64") }
        entry = Array(entryBytes)
        inclusionProof = try Self.hashes(object["inclusion_proof"], at: "/inclusion_proof")
        guard let items = object["fields"]?.arrayValue else { throw FormatError("/fields is not an array") }
        guard (1...Self.maxFields).contains(items.count) else { throw FormatError("/fields holds \(items.count) fields; 1 to \(Self.maxFields)") }
        var fields: [DisclosedField] = []
        for (i, item) in items.enumerated() {
            do { fields.append(try DisclosedField(parsing: item)) } catch { throw FormatError("/fields/\(i) \(error.description)") }
        }
        self.fields = fields
    }

    /// What a verified certificate establishes, for the report.
    public struct Verified: Sendable, Equatable {
        public let origin: String
        public let treeSize: UInt64
        public let index: UInt64
        public let kind: String
        public let recordedAtMilliseconds: UInt64
        public let fields: [DisclosedField]
    }

    /// The checks of `Schemas/disclosure.md`, in its order; throws naming the first that fails.
    public func verify(verifiers: [NoteVerifier]) throws(FormatError) -> Verified {
        let checkpoint: VerifiedCheckpoint
        // A sharded ledger's lookup answers with certificates of its shards (`O/k`): the ledger's key, renamed, signs them.
        let origin = self.checkpoint.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
        do { checkpoint = try CheckpointVerifier.verify(note: self.checkpoint, verifiers: Shards.verifiers(for: origin, base: verifiers)) } catch {
            throw FormatError("the checkpoint does not verify: \(error.description)")
        }
        let entry: LedgerEntry
        do { entry = try LedgerEntry(decoding: self.entry) } catch { throw FormatError("the entry is not a valid entry: \(error.description)") }
        guard entry.layout == .fieldTree else {
            throw FormatError("the entry is of layout \(entry.layout.rawValue); only layout 2 commits to fields one by one")
        }
        do {
            try ProofVerifier.verifyInclusion(
                index: entry.index, size: checkpoint.checkpoint.size, leafHash: MerkleHash.leaf(self.entry), proof: inclusionProof,
                root: checkpoint.checkpoint.root)
        } catch {
            throw FormatError("the entry is not in the signed checkpoint: \(error.description)")
        }
        var seen = Set<FieldPath>()
        for field in fields {
            guard seen.insert(field.path).inserted else { throw FormatError("the field \(field.path) is disclosed twice") }
            do { try field.verify(commitment: entry.commitment) } catch { throw FormatError(error.description) }
        }
        return Verified(
            origin: checkpoint.checkpoint.origin, treeSize: checkpoint.checkpoint.size, index: entry.index, kind: entry.kind,
            recordedAtMilliseconds: entry.sequencedAtMilliseconds, fields: fields)
    }

    private static func exactMembers(_ object: JSONObject, _ members: Set<String>, at path: String) throws(FormatError) {
        for key in object.keys where !members.contains(key) { throw FormatError("\(path) has a member \"\(key)\" the format does not define") }
        for key in members.sorted() where object[key] == nil { throw FormatError("\(path) lacks the member \"\(key)\"") }
    }

    private static func string(_ object: JSONObject, _ key: String, at path: String) throws(FormatError) -> String {
        guard let text = object[key]?.stringValue else { throw FormatError("\(path)/\(key) is not a string") }
        return text
    }

    private static func integer(_ object: JSONObject, _ key: String, at path: String) throws(FormatError) -> UInt64 {
        guard case .number(let value) = object[key], value >= 0, value <= 9_007_199_254_740_991, value.rounded() == value else {
            throw FormatError("\(path)/\(key) is not a non-negative integer")
        }
        return UInt64(value)
    }

    private static func hashes(_ value: JSONValue?, at path: String) throws(FormatError) -> [Hash] {
        guard let items = value?.arrayValue, items.count <= 64 else { throw FormatError("\(path) is not an array of at most 64 hashes") }
        var hashes: [Hash] = []
        for (i, item) in items.enumerated() {
            guard let text = item.stringValue, let hash = Hash(base64: text) else { throw FormatError("\(path)/\(i) is not a base64 SHA-256 hash") }
            hashes.append(hash)
        }
        return hashes
    }
}
