// Fixtures for the verification tests: a seeded PRNG (every random test
// replays the same cases), an in-memory tree that answers NodeReader, and a
// generator of valid (or deliberately broken) logs as tiles in a dictionary.

import Foundation
import GreffeCore
@testable import GreffeVerify
import Testing

/// SplitMix64: small, fast, seeded.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func hash() -> Hash {
        var bytes: [UInt8] = []
        for _ in 0..<4 { withUnsafeBytes(of: next()) { bytes.append(contentsOf: $0) } }
        return Hash(bytes: bytes)!
    }
}

extension Hash {
    func flippingBit(_ bit: Int) -> Hash {
        var bytes = self.bytes
        bytes[bit / 8] ^= 1 << UInt8(bit % 8)
        return Hash(bytes: bytes)!
    }
}

/// Every complete node of a tree, level by level.
struct MemoryTree: NodeReader {
    var levels: [[Hash]]

    init(leaves: [Hash]) {
        levels = [leaves]
        while levels.last!.count > 1 {
            let below = levels.last!
            levels.append((0..<(below.count / 2)).map { MerkleHash.node(below[2 * $0], below[2 * $0 + 1]) })
        }
    }

    var size: UInt64 { UInt64(levels[0].count) }

    func node(level: Int, index: UInt64) throws -> Hash { levels[level][Int(index)] }

    func root(size: UInt64) -> Hash { try! MerkleTree.root(size: size, reader: self) }

    func proof(_ index: UInt64, size: UInt64) -> [Hash] { try! MerkleTree.inclusionProof(index: index, size: size, reader: self) }
}

/// A log of layout-1 entries and all its tiles, in memory.
struct GeneratedLog {
    var tiles: [String: [UInt8]] = [:]
    var size: UInt64
    var root: Hash
    var leaves: [Hash]
    /// Roots of every prefix size asked for when generating.
    var roots: [UInt64: Hash]

    /// `size` entries; `breakPrevAt` gives that entry a wrong `prev` (the
    /// tiles still hash it faithfully), `timeBackAt` an earlier time.
    init(size: UInt64, seed: UInt64 = 1, breakPrevAt: UInt64? = nil, timeBackAt: UInt64? = nil, rootsAt: [UInt64] = []) {
        var rng = SplitMix64(seed: seed)
        var builder = TiledLogBuilder()
        var tiles: [String: [UInt8]] = [:]
        var prev = Hash.zero
        var time: UInt64 = 1_760_000_000_000
        var leaves: [Hash] = []
        var roots: [UInt64: Hash] = [:]
        let kinds = ["generation.requested", "generation.completed", "content.flagged", "access.granted", "erasure.executed"]
        if rootsAt.contains(0) { roots[0] = MerkleHash.emptyRoot }
        for index in 0..<size {
            time += rng.next() % 3
            let entry = LedgerEntry(
                index: index,
                sequencedAtMilliseconds: index == timeBackAt ? time - 10 : time,
                prev: index == breakPrevAt ? rng.hash() : prev,
                commitment: rng.hash(),
                kind: kinds[Int(rng.next() % UInt64(kinds.count))])
            let bytes = entry.encoded
            builder.append(bytes) { tile, data in tiles[tile.path] = data }
            prev = MerkleHash.leaf(bytes)
            leaves.append(prev)
            if rootsAt.contains(index + 1) { roots[index + 1] = builder.root }
        }
        for (tile, data) in builder.partialTiles { tiles[tile.path] = data }
        self.tiles = tiles
        self.size = size
        self.root = builder.root
        self.leaves = leaves
        self.roots = roots
    }

    var source: MemoryTileSource { MemoryTileSource(tiles: tiles) }

    func replay(threads: Int = 2, readAhead: Int = 4) -> LogReplay {
        LogReplay(source: source, readAhead: readAhead, threads: threads)
    }

    /// The tiles of the tree at an earlier size, as a server would have served them then.
    func consistencyProof(from m: UInt64) -> [Hash] {
        let tree = MemoryTree(leaves: leaves)
        return try! MerkleTree.consistencyProof(first: m, second: size, reader: tree)
    }
}

extension MemoryTileSource {
    /// Flips one bit of the tile at `path`.
    func flipping(_ path: String, byte: Int, bit: UInt8 = 0) -> MemoryTileSource {
        var copy = self
        precondition(copy.tiles[path] != nil, "no tile \(path)")
        copy.tiles[path]![byte] ^= 1 << bit
        return copy
    }

    func removing(_ path: String) -> MemoryTileSource {
        var copy = self
        precondition(copy.tiles.removeValue(forKey: path) != nil, "no tile \(path)")
        return copy
    }
}

/// Runs an audit expected to fail and returns its failure.
func auditFailure(
    _ source: MemoryTileSource, size: UInt64, root: Hash, from earlier: EarlierCheckpoint? = nil, threads: Int = 2,
    sourceLocation: SourceLocation = #_sourceLocation
) async -> AuditFailure? {
    do {
        _ = try await LogReplay(source: source, readAhead: 4, threads: threads).audit(treeSize: size, root: root, from: earlier)
        Issue.record("the audit passed; expected a failure", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}
