import CGreffeSHA256
import Foundation

/// One step from an event body's root to a field: a member name or an array position.
public enum FieldPathStep: Sendable, Hashable {
    case member(String)
    case position(Int)
}

/// Where a field sits in an event body, e.g. `["input_images", 0, "sha256"]`.
public struct FieldPath: Sendable, Hashable, CustomStringConvertible, Comparable {
    public var steps: [FieldPathStep]

    public init(_ steps: [FieldPathStep]) {
        self.steps = steps
    }

    /// `P(path)` of `Schemas/entry.md` (layout 2): per step, `0x01 ‖ uint32 length ‖ UTF-8 name` or
    /// `0x02 ‖ uint32 position`, then `0x00`. No encoding is a prefix of another, so distinct paths
    /// never meet in a field salt or a leaf.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        for step in steps {
            switch step {
            case .member(let name):
                out.append(0x01)
                appendUInt32(UInt32(name.utf8.count), to: &out)
                out.append(contentsOf: name.utf8)
            case .position(let position):
                out.append(0x02)
                appendUInt32(UInt32(position), to: &out)
            }
        }
        out.append(0x00)
        return out
    }

    /// The path as JSON: an array of member names (strings) and positions (integers).
    public var json: JSONValue {
        .array(steps.map {
            switch $0 {
            case .member(let name): .string(name)
            case .position(let position): .number(Double(position))
            }
        })
    }

    /// Reads the JSON form; nil unless every step is a string or an integer in 0…2³²−1.
    public init?(json: JSONValue) {
        guard let items = json.arrayValue else { return nil }
        var steps: [FieldPathStep] = []
        for item in items {
            if let name = item.stringValue {
                guard name.utf8.count <= FieldCommitment.maxNameBytes else { return nil }
                steps.append(.member(name))
            } else if case .number(let value) = item, value >= 0, value <= Double(UInt32.max), value.rounded() == value {
                steps.append(.position(Int(value)))
            } else {
                return nil
            }
        }
        self.steps = steps
    }

    /// `/input_images/0/sha256`, for people (RFC 6901 escaping); the JSON form is what proofs use.
    public var description: String {
        steps.isEmpty ? "(the whole body)" : steps.map {
            switch $0 {
            case .member(let name): "/" + name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
            case .position(let position): "/\(position)"
            }
        }.joined()
    }

    /// Whether `self` is `other` or lies inside it.
    public func isWithin(_ other: FieldPath) -> Bool {
        steps.count >= other.steps.count && Array(steps.prefix(other.steps.count)) == other.steps
    }

    /// The order of the field tree's leaves: by `encoded`, byte by byte.
    public static func < (lhs: FieldPath, rhs: FieldPath) -> Bool {
        lhs.encoded.lexicographicallyPrecedes(rhs.encoded)
    }
}

/// The commitment of entry layout 2 (`Schemas/entry.md`): an RFC 9162 Merkle tree whose
/// leaves are the body's fields, each salted with its own key derived from the event's salt.
/// Proving one field reveals its path, its value, its salt and sibling hashes: nothing that
/// lets anyone confirm a guess about another field (each sits behind a salt of its own).
public enum FieldCommitment {
    /// A body's fields stay few (events are at most 64 KiB); the bound keeps a hostile body's tree small.
    public static let maxFields = 16_384
    static let maxNameBytes = 1_024
    /// Prefix of the message each field salt is the HMAC of, so the key serves this purpose only.
    static let saltLabel = Array("greffe/field-salt/v1".utf8) + [0x00]

    /// One field: its path, its value (a scalar, `{}` or `[]`) and its place in the tree.
    public struct Field: Sendable {
        public let path: FieldPath
        public let value: JSONValue
        let encodedPath: [UInt8]
    }

    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String

        public init(description: String) {
            self.description = description
        }
    }

    /// The body's fields in leaf order: every scalar and every empty object or array, with its path.
    public static func fields(of body: JSONValue) throws(Error) -> [Field] {
        guard case .object = body else { throw Error(description: "an event body is a JSON object") }
        var fields: [Field] = []
        var steps: [FieldPathStep] = []
        try collect(body, steps: &steps, into: &fields)
        fields.sort { $0.encodedPath.lexicographicallyPrecedes($1.encodedPath) }
        return fields
    }

    private static func collect(_ value: JSONValue, steps: inout [FieldPathStep], into fields: inout [Field]) throws(Error) {
        switch value {
        case .object(let object) where !object.isEmpty:
            for (name, member) in object.members {
                guard name.utf8.count <= maxNameBytes else { throw Error(description: "a member name is longer than \(maxNameBytes) bytes") }
                steps.append(.member(name))
                try collect(member, steps: &steps, into: &fields)
                steps.removeLast()
            }
        case .array(let items) where !items.isEmpty:
            for (position, item) in items.enumerated() {
                steps.append(.position(position))
                try collect(item, steps: &steps, into: &fields)
                steps.removeLast()
            }
        default:
            guard fields.count < maxFields else { throw Error(description: "the body has more than \(maxFields) fields") }
            let path = FieldPath(steps)
            fields.append(Field(path: path, value: value, encodedPath: path.encoded))
        }
    }

    /// The event salt as an HMAC key, its pads hashed once for all the body's fields.
    struct FieldSaltKey {
        private var key = greffe_hmac_sha256_key()

        init(salt: [UInt8]) {
            salt.withUnsafeBufferPointer { greffe_hmac_sha256_init(&key, $0.baseAddress, $0.count) }
        }

        /// `s_f = HMAC-SHA-256(salt, "greffe/field-salt/v1" ‖ 0x00 ‖ P(path))`.
        func fieldSalt(encodedPath: [UInt8]) -> Hash {
            withUnsafePointer(to: key) { key in
                saltLabel.withUnsafeBufferPointer { label in
                    encodedPath.withUnsafeBufferPointer { path in
                        Hash.computing { greffe_hmac_sha256(key, label.baseAddress, label.count, path.baseAddress, path.count, $0) }
                    }
                }
            }
        }
    }

    /// The leaf hash `SHA-256(0x00 ‖ s_f ‖ P(path) ‖ JCS(value))`.
    public static func leafHash(fieldSalt: [UInt8], path: FieldPath, value: JSONValue) -> Hash {
        leafHash(fieldSalt: fieldSalt, encodedPath: path.encoded, value: value)
    }

    static func leafHash(fieldSalt: [UInt8], encodedPath: [UInt8], value: JSONValue) -> Hash {
        var data = fieldSalt + encodedPath
        value.appendCanonicalBytes(to: &data)
        return MerkleHash.leaf(data)
    }

    /// Wraps the field tree's RFC 9162 root with the number of its leaves (0x02: neither a leaf nor a node).
    public static func commitment(treeHash: Hash, fieldCount: UInt64) -> Hash {
        var prefix: [UInt8] = [0x02]
        appendUInt32(UInt32(truncatingIfNeeded: fieldCount), to: &prefix)
        return treeHash.withUnsafeBytes { MerkleHash.sha256(prefix, Array($0)) }
    }

    /// The layout-2 commitment of `body` under the event's `salt`.
    public static func root(salt: [UInt8], body: JSONValue) throws(Error) -> Hash {
        try FieldTree(salt: salt, body: body).root
    }

    /// The leaves of one body, ready to prove any of its fields.
    public struct FieldTree: Sendable {
        public let fields: [Field]
        let saltHashes: [Hash]
        let leafHashes: [Hash]

        /// Each field's `s_f`, in leaf order.
        public var fieldSalts: [[UInt8]] { saltHashes.map(\.bytes) }

        public init(salt: [UInt8], body: JSONValue) throws(Error) {
            guard salt.count == Commitment.saltLength else { throw Error(description: "a salt is \(Commitment.saltLength) bytes") }
            fields = try FieldCommitment.fields(of: body)
            let key = FieldSaltKey(salt: salt)
            saltHashes = fields.map { key.fieldSalt(encodedPath: $0.encodedPath) }
            // One buffer for every leaf's bytes: a body has dozens of fields, each hashed once.
            var leafBytes: [UInt8] = []
            leafBytes.reserveCapacity(512)
            var leafHashes: [Hash] = []
            leafHashes.reserveCapacity(fields.count)
            for (field, fieldSalt) in zip(fields, saltHashes) {
                leafBytes.removeAll(keepingCapacity: true)
                fieldSalt.withUnsafeBytes { leafBytes.append(contentsOf: $0) }
                leafBytes.append(contentsOf: field.encodedPath)
                field.value.appendCanonicalBytes(to: &leafBytes)
                leafHashes.append(MerkleHash.leaf(leafBytes))
            }
            self.leafHashes = leafHashes
        }

        /// `SHA-256(0x02 ‖ uint32(n) ‖ MTH)`: the commitment binds the number of fields too, which
        /// an RFC 9162 proof alone does not (a proof may verify for two tree sizes).
        public var root: Hash { FieldCommitment.commitment(treeHash: subtreeHash(leafHashes[...]), fieldCount: UInt64(leafHashes.count)) }

        /// RFC 9162 PATH of leaf `position`, leaf to root.
        public func inclusionProof(position: Int) -> [Hash] {
            var proof: [Hash] = []
            path(position, leafHashes[...], into: &proof)
            return proof
        }

        /// The disclosure of every field at or inside one of `paths` (none for a path the body lacks).
        public func disclose(_ paths: [FieldPath]) -> [DisclosedField] {
            fields.indices.filter { position in paths.contains { fields[position].path.isWithin($0) } }.map {
                DisclosedField(
                    path: fields[$0].path, value: fields[$0].value, fieldSalt: saltHashes[$0].bytes, position: UInt64($0),
                    fieldCount: UInt64(fields.count), proof: inclusionProof(position: $0))
            }
        }

        private func subtreeHash(_ leaves: ArraySlice<Hash>) -> Hash {
            if leaves.count == 1 { return leaves.first! }
            let k = Int(MerkleTree.split(UInt64(leaves.count)))
            return MerkleHash.node(subtreeHash(leaves.prefix(k)), subtreeHash(leaves.dropFirst(k)))
        }

        private func path(_ m: Int, _ leaves: ArraySlice<Hash>, into proof: inout [Hash]) {
            guard leaves.count > 1 else { return }
            let k = Int(MerkleTree.split(UInt64(leaves.count)))
            if m < k {
                path(m, leaves.prefix(k), into: &proof)
                proof.append(subtreeHash(leaves.dropFirst(k)))
            } else {
                path(m - k, leaves.dropFirst(k), into: &proof)
                proof.append(subtreeHash(leaves.prefix(k)))
            }
        }
    }
}

/// One field shown out of a layout-2 entry's body, with what proves it belongs there.
public struct DisclosedField: Sendable, Equatable {
    public let path: FieldPath
    public let value: JSONValue
    /// `s_f`: this field's salt only; the event's salt stays with the ledger.
    public let fieldSalt: [UInt8]
    /// The leaf's position among the body's fields, in leaf order, and their number.
    public let position: UInt64
    public let fieldCount: UInt64
    /// RFC 9162 inclusion proof of the leaf in the field tree, whose root (wrapped with `fieldCount`) is the entry's commitment.
    public let proof: [Hash]

    public init(path: FieldPath, value: JSONValue, fieldSalt: [UInt8], position: UInt64, fieldCount: UInt64, proof: [Hash]) {
        self.path = path
        self.value = value
        self.fieldSalt = fieldSalt
        self.position = position
        self.fieldCount = fieldCount
        self.proof = proof
    }

    /// The JSON object of `Schemas/disclosure.md` (a certificate's `fields` item, a v3 bundle's `disclosed` item).
    public var json: JSONValue {
        [
            "path": path.json, "value": value, "salt": .string(Data(fieldSalt).base64EncodedString()), "position": .number(Double(position)),
            "count": .number(Double(fieldCount)), "proof": .array(proof.map { .string($0.base64) }),
        ]
    }

    static let members: Set = ["path", "value", "salt", "position", "count", "proof"]

    /// Strict: exactly the six members, of their types.
    public init(parsing item: JSONValue) throws(FieldCommitment.Error) {
        guard let field = item.objectValue else { throw FieldCommitment.Error(description: "a disclosed field is not an object") }
        for key in field.keys where !Self.members.contains(key) { throw FieldCommitment.Error(description: "has a member \"\(key)\" the format does not define") }
        for key in Self.members.sorted() where field[key] == nil { throw FieldCommitment.Error(description: "lacks the member \"\(key)\"") }
        guard let path = FieldPath(json: field["path"]!) else { throw FieldCommitment.Error(description: "path is not an array of member names and positions") }
        guard let saltText = field["salt"]?.stringValue, let salt = Hash(base64: saltText) else {
            throw FieldCommitment.Error(description: "salt is not 32 bytes in base64")
        }
        func integer(_ key: String) throws(FieldCommitment.Error) -> UInt64 {
            guard case .number(let value) = field[key], value >= 0, value <= 9_007_199_254_740_991, value.rounded() == value else {
                throw FieldCommitment.Error(description: "\(key) is not a non-negative integer")
            }
            return UInt64(value)
        }
        guard let proofItems = field["proof"]?.arrayValue, proofItems.count <= 64 else { throw FieldCommitment.Error(description: "proof is not an array of at most 64 hashes") }
        var proof: [Hash] = []
        for (i, item) in proofItems.enumerated() {
            guard let text = item.stringValue, let hash = Hash(base64: text) else { throw FieldCommitment.Error(description: "proof/\(i) is not a base64 SHA-256 hash") }
            proof.append(hash)
        }
        self.init(path: path, value: field["value"]!, fieldSalt: salt.bytes, position: try integer("position"), fieldCount: try integer("count"), proof: proof)
    }

    /// Checks the field against a layout-2 commitment; throws saying what does not hold.
    public func verify(commitment: Hash) throws(FieldCommitment.Error) {
        guard fieldSalt.count == 32 else { throw FieldCommitment.Error(description: "the salt of \(path) is not 32 bytes") }
        switch value {
        case .object(let object) where !object.isEmpty:
            throw FieldCommitment.Error(description: "the value of \(path) is not a field (a non-empty object)")
        case .array(let items) where !items.isEmpty:
            throw FieldCommitment.Error(description: "the value of \(path) is not a field (a non-empty array)")
        default: break
        }
        let leaf = FieldCommitment.leafHash(fieldSalt: fieldSalt, path: path, value: value)
        guard fieldCount <= UInt64(FieldCommitment.maxFields) else {
            throw FieldCommitment.Error(description: "the count of \(path) is more than \(FieldCommitment.maxFields) fields")
        }
        let treeHash: Hash
        do {
            treeHash = try ProofVerifier.rootFromInclusionProof(index: position, size: fieldCount, leafHash: leaf, proof: proof)
        } catch {
            throw FieldCommitment.Error(description: "the proof of \(path) does not fit its position: \(error.description)")
        }
        guard FieldCommitment.commitment(treeHash: treeHash, fieldCount: fieldCount) == commitment else {
            throw FieldCommitment.Error(description: "\(path) = \(value.canonicalString()) is not a field of the committed body (its proof leads elsewhere)")
        }
    }
}

@inline(__always)
func appendUInt32(_ value: UInt32, to out: inout [UInt8]) {
    for shift in stride(from: 24, through: 0, by: -8) {
        out.append(UInt8(truncatingIfNeeded: value >> UInt32(shift)))
    }
}
