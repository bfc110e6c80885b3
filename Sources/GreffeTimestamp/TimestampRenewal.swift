public import GreffeCore

import Foundation

/// One renewal of a timestamp chain (Schemas/bundle.md, "Renewed timestamps"): an
/// RFC 3161 token over the root of the batch tree in which this chain's renewal
/// message is leaf `leafIndex` of `treeSize`, with that leaf's inclusion proof.
public struct TimestampRenewal: Sendable, Equatable {
    public var token: [UInt8]
    public var leafIndex: UInt64
    public var treeSize: UInt64
    public var inclusionProof: [Hash]

    /// A batch holds at most this many chains (one TSA request); its proofs are at most 20 hashes.
    public static let maxBatch: UInt64 = 1 << 20
    public static let maxTokenBytes = 64 * 1024

    public init(token: [UInt8], leafIndex: UInt64, treeSize: UInt64, inclusionProof: [Hash]) {
        self.token = token
        self.leafIndex = leafIndex
        self.treeSize = treeSize
        self.inclusionProof = inclusionProof
    }

    public var json: JSONValue {
        .object(
            JSONObject([
                ("token", .string(Data(token).base64EncodedString())), ("leaf_index", .number(Double(leafIndex))),
                ("tree_size", .number(Double(treeSize))), ("inclusion_proof", .array(inclusionProof.map { .string($0.base64) })),
            ]))
    }

    /// Strict: exactly the four members, a leaf inside a tree of at most `maxBatch`, a
    /// proof of at most 64 hashes; `path` names the place in messages.
    public init(json value: JSONValue, at path: String) throws(TimestampError) {
        guard let object = value.objectValue else { throw TimestampError(.malformed, "\(path) is not an object") }
        let known: Set = ["token", "leaf_index", "tree_size", "inclusion_proof"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw TimestampError(.malformed, "\(path) has the unknown field \"\(unknown.prefix(40))\"")
        }
        guard let text = object["token"]?.stringValue, let token = Data(base64Encoded: text), !token.isEmpty, token.count <= Self.maxTokenBytes else {
            throw TimestampError(.malformed, "\(path)/token is not base64 of at most \(Self.maxTokenBytes) bytes")
        }
        guard let size = object["tree_size"]?.intValue, size >= 1, UInt64(size) <= Self.maxBatch else {
            throw TimestampError(.malformed, "\(path)/tree_size is not an integer from 1 to \(Self.maxBatch)")
        }
        guard let leaf = object["leaf_index"]?.intValue, leaf >= 0, leaf < size else {
            throw TimestampError(.malformed, "\(path)/leaf_index is not an integer below tree_size")
        }
        guard let items = object["inclusion_proof"]?.arrayValue, items.count <= 64 else {
            throw TimestampError(.malformed, "\(path)/inclusion_proof is not an array of at most 64 hashes")
        }
        var proof: [Hash] = []
        for (position, item) in items.enumerated() {
            guard let hash = item.stringValue.flatMap({ Hash(base64: $0) }) else {
                throw TimestampError(.malformed, "\(path)/inclusion_proof/\(position) is not a base64 SHA-256 hash")
            }
            proof.append(hash)
        }
        self.init(token: Array(token), leafIndex: UInt64(leaf), treeSize: UInt64(size), inclusionProof: proof)
    }

    /// A chain as stored (the `rfc3161_renewals` attestation): its JSON array, canonical.
    public static func encode(_ chain: [TimestampRenewal]) -> [UInt8] {
        JSONValue.array(chain.map(\.json)).canonicalBytes()
    }

    public static func decode(_ bytes: [UInt8]) throws(TimestampError) -> [TimestampRenewal] {
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch { throw TimestampError(.malformed, "stored renewals are not JSON: \(error)") }
        guard let items = value.arrayValue else { throw TimestampError(.malformed, "stored renewals are not an array") }
        var chain: [TimestampRenewal] = []
        for (position, item) in items.enumerated() { chain.append(try TimestampRenewal(json: item, at: "renewal \(position + 1)")) }
        return chain
    }
}
