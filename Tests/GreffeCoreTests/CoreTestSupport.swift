// Shared fixtures for the core tests: the RFC 9162 vector file decoded with
// Codable (as swift-crypto's Wycheproof tests do), the vector file's entry
// generator, an in-memory NodeReader, and a seeded PRNG so every random test
// replays the same cases on every run.

import Foundation
@testable import GreffeCore
import Testing

// MARK: - Locating and decoding the vectors

/// `shared/testvectors`: `$GREFFE_TESTVECTORS` if set, else the directory
/// beside the repository root (this file is `<root>/Tests/GreffeCoreTests/…`),
/// else `/work/shared/testvectors`. Same rule as the JSON tests use.
func coreTestVectorsDirectory() -> URL {
    if let env = ProcessInfo.processInfo.environment["GREFFE_TESTVECTORS"], !env.isEmpty {
        return URL(fileURLWithPath: env, isDirectory: true)
    }
    let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent() // GreffeCoreTests
        .deletingLastPathComponent() // Tests
        .deletingLastPathComponent() // repository root
    let beside = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/testvectors", isDirectory: true)
    if FileManager.default.fileExists(atPath: beside.path) { return beside }
    return URL(fileURLWithPath: "/work/shared/testvectors", isDirectory: true)
}

/// A hash as the vector file writes it (standard base64). Decoding fails on
/// anything that is not exactly 32 bytes, so a damaged vector file cannot
/// silently turn into "no hash to compare".
struct VectorHash: Decodable, Sendable, Equatable, CustomStringConvertible {
    let hash: Hash

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        // Decoded with Foundation, not with Hash(base64:), so the vector side
        // does not depend on the code under test.
        guard let data = Data(base64Encoded: text), data.count == 32, let hash = Hash(bytes: data) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not the base64 of 32 bytes: \(text)")
        }
        self.hash = hash
    }

    var description: String { hash.base64 }
}

/// Bytes as the vector file writes them (standard base64).
struct VectorBytes: Decodable, Sendable, Equatable {
    let bytes: [UInt8]

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let data = Data(base64Encoded: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not base64")
        }
        bytes = [UInt8](data)
    }
}

/// `rfc9162-seed1.json`, computed by Go's golang.org/x/mod/sumdb/tlog.
struct RFC9162VectorFile: Decodable, Sendable {
    struct Root: Decodable, Sendable {
        let treeSize: UInt64
        let root: VectorHash
        enum CodingKeys: String, CodingKey {
            case treeSize = "tree_size"
            case root
        }
    }

    struct Inclusion: Decodable, Sendable, CustomStringConvertible {
        let index: UInt64
        let treeSize: UInt64
        let leafHash: VectorHash
        let root: VectorHash
        let proof: [VectorHash]
        /// Only on invalid vectors: why the vector must be rejected.
        let reason: String?
        enum CodingKeys: String, CodingKey {
            case index
            case treeSize = "tree_size"
            case leafHash = "leaf_hash"
            case root, proof, reason
        }
        var proofHashes: [Hash] { proof.map(\.hash) }
        var description: String { "inclusion(index \(index), size \(treeSize)\(reason.map { ", \($0)" } ?? ""))" }
    }

    struct Consistency: Decodable, Sendable, CustomStringConvertible {
        let first: UInt64
        let second: UInt64
        let firstRoot: VectorHash
        let secondRoot: VectorHash
        let proof: [VectorHash]
        let reason: String?
        enum CodingKeys: String, CodingKey {
            case first, second
            case firstRoot = "first_root"
            case secondRoot = "second_root"
            case proof, reason
        }
        var proofHashes: [Hash] { proof.map(\.hash) }
        var description: String { "consistency(\(first) → \(second)\(reason.map { ", \($0)" } ?? ""))" }
    }

    struct TileSet: Decodable, Sendable {
        let treeSize: UInt64
        /// Tile path → tile bytes.
        let tiles: [String: VectorBytes]
        enum CodingKeys: String, CodingKey {
            case treeSize = "tree_size"
            case tiles
        }
    }

    struct Checkpoints: Decodable, Sendable {
        struct Note: Decodable, Sendable {
            let treeSize: UInt64
            let note: String
            enum CodingKeys: String, CodingKey {
                case treeSize = "tree_size"
                case note
            }
        }
        let verifierKey: String
        let signerKey: String
        let notes: [Note]
        enum CodingKeys: String, CodingKey {
            case verifierKey = "verifier_key"
            case signerKey = "signer_key"
            case notes
        }
    }

    let description: String
    let generator: String
    let seed: UInt64
    let emptyRoot: VectorHash
    let entries: [VectorBytes]
    let leafHashes: [VectorHash]
    /// Leaf index (decimal string) → leaf hash, for indices beyond `entries`.
    let spotLeafHashes: [String: VectorHash]
    let roots: [Root]
    let inclusion: [Inclusion]
    let inclusionInvalid: [Inclusion]
    let consistency: [Consistency]
    let consistencyInvalid: [Consistency]
    let tiles: [TileSet]
    let checkpoints: Checkpoints

    enum CodingKeys: String, CodingKey {
        case description, generator, seed
        case emptyRoot = "empty_root"
        case entries
        case leafHashes = "leaf_hashes"
        case spotLeafHashes = "spot_leaf_hashes"
        case roots, inclusion
        case inclusionInvalid = "inclusion_invalid"
        case consistency
        case consistencyInvalid = "consistency_invalid"
        case tiles, checkpoints
    }

    /// Tree size → root, from `roots`.
    var rootsBySize: [UInt64: Hash] {
        Dictionary(roots.map { ($0.treeSize, $0.root.hash) }, uniquingKeysWith: { first, _ in first })
    }

    struct LoadError: Error, Sendable, CustomStringConvertible {
        let description: String
    }

    /// Decoded once per test process; every suite shares it.
    private static let loaded: Result<RFC9162VectorFile, LoadError> = {
        let url = coreTestVectorsDirectory().appendingPathComponent("rfc9162-seed1.json")
        do {
            let data = try Data(contentsOf: url)
            return .success(try JSONDecoder().decode(RFC9162VectorFile.self, from: data))
        } catch {
            return .failure(LoadError(description: "cannot load \(url.path): \(error)"))
        }
    }()

    static func load() throws -> RFC9162VectorFile {
        try loaded.get()
    }
}

// MARK: - The vector file's entry generator

/// The `generator` of rfc9162-seed1.json, implemented from its text:
///
///     d0 = SHA-256("greffe-peer-vectors" || 0x00 || uint64be(s) || uint64be(i))
///     d(k+1) = SHA-256(d(k)); len = d0[0] mod 120; entry = (d0 || d1 || d2 || d3)[0:len]
///
/// Uses only MerkleHash.sha256, which the property tests check against
/// FIPS 180-4 known answers, and the vector test checks against `entries`.
enum PeerVectorGenerator {
    static func entry(seed: UInt64, index: UInt64) -> [UInt8] {
        var input = Array("greffe-peer-vectors".utf8)
        input.append(0x00)
        input.append(contentsOf: bigEndianBytes(seed))
        input.append(contentsOf: bigEndianBytes(index))
        var digest = MerkleHash.sha256(input).bytes
        let length = Int(digest[0]) % 120
        var stream = digest
        while stream.count < length {
            digest = MerkleHash.sha256(digest).bytes
            stream.append(contentsOf: digest)
        }
        return Array(stream.prefix(length))
    }
}

func bigEndianBytes(_ value: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) }
}

// MARK: - An in-memory store of complete nodes

struct NodeKey: Hashable, Sendable {
    let level: Int
    let index: UInt64
}

struct MissingNodeError: Error, Sendable, CustomStringConvertible {
    let level: Int
    let index: UInt64
    let treeSize: UInt64
    var description: String { "node (level \(level), index \(index)) is not a complete node of a tree of size \(treeSize)" }
}

/// Every complete node of a tree, recorded from `MerkleFrontier.append`'s
/// `completed` callback, the way a store keeps them.
///
/// `treeSize` bounds what the reader answers: asking for a node that is not
/// complete in a tree of that size throws, so a test over a reader limited to
/// N catches any read a store of size N could not answer (the NodeReader
/// contract: proofs read only complete subtrees).
struct MemoryNodeReader: NodeReader, Sendable {
    private(set) var nodes: [NodeKey: Hash] = [:]
    private(set) var frontier = MerkleFrontier()
    private(set) var treeSize: UInt64 = 0

    init() {}

    init(leafHashes: some Sequence<Hash>) {
        for leaf in leafHashes { append(leaf) }
    }

    mutating func append(_ leaf: Hash) {
        var completed: [MerkleFrontier.Node] = []
        frontier.append(leaf) { completed.append($0) }
        for node in completed { nodes[NodeKey(level: node.level, index: node.index)] = node.hash }
        treeSize = frontier.size
    }

    /// The same nodes, answering only as a store of `size` leaves could.
    func limited(to size: UInt64) -> MemoryNodeReader {
        precondition(size <= treeSize)
        var copy = self
        copy.treeSize = size
        return copy
    }

    func node(level: Int, index: UInt64) throws -> Hash {
        guard level >= 0, level < 64, index < UInt64.max >> UInt64(level),
            (index + 1) << UInt64(level) <= treeSize,
            let hash = nodes[NodeKey(level: level, index: index)]
        else { throw MissingNodeError(level: level, index: index, treeSize: treeSize) }
        return hash
    }
}

/// Counts reads, to check the costs the doc comments promise.
final class CountingNodeReader<Base: NodeReader>: NodeReader {
    let base: Base
    private(set) var reads = 0

    init(_ base: Base) { self.base = base }

    func node(level: Int, index: UInt64) throws -> Hash {
        reads += 1
        return try base.node(level: level, index: index)
    }
}

// MARK: - The seed-1 tree, up to the largest size the vectors use

/// Entries 0..<65537 of seed 1 (from the generator), their leaf hashes and
/// every complete node: enough for every size in rfc9162-seed1.json.
struct Seed1Tree: Sendable {
    static let size: UInt64 = 65537
    let entries: [[UInt8]]
    let leafHashes: [Hash]
    let reader: MemoryNodeReader

    static let shared: Seed1Tree = {
        let entries = (0..<size).map { PeerVectorGenerator.entry(seed: 1, index: $0) }
        let leafHashes = entries.map { MerkleHash.leaf($0) }
        return Seed1Tree(entries: entries, leafHashes: leafHashes, reader: MemoryNodeReader(leafHashes: leafHashes))
    }()
}

// MARK: - Seeded randomness

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and the same sequence on
/// every platform, so a failing random case can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }

    mutating func hash() -> Hash {
        Hash(bytes: bytes(Hash.byteCount))!
    }
}

extension Hash {
    /// This hash with one bit flipped (bit 0 is the low bit of byte 0).
    func flippingBit(_ bit: Int) -> Hash {
        var bytes = self.bytes
        bytes[bit / 8] ^= UInt8(1) << UInt8(bit % 8)
        return Hash(bytes: bytes)!
    }
}

/// Random entries of 0…`maxLength` bytes, for trees whose content does not matter.
func randomEntries(count: Int, maxLength: Int = 64, rng: inout SplitMix64) -> [[UInt8]] {
    (0..<count).map { _ in rng.bytes(Int(rng.next() % UInt64(maxLength + 1))) }
}
