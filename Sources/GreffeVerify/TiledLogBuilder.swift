public import GreffeCore

/// Builds the C2SP tlog-tiles of a log entry by entry, in memory order and
/// flat memory: complete tiles are handed out as soon as they are final, the
/// right edge (partial tiles and the root) on request. For tests,
/// benchmarks and tools that make a log without a server; it shares the
/// replay's tile arithmetic, so both must agree with Go's tlog (the
/// interop test checks the server's tiles, the replay tests check these).
public struct TiledLogBuilder: Sendable {
    public private(set) var size: UInt64 = 0
    /// The unfinished tile of each level (level 0: leaf hashes).
    private var levels = [LevelBuffer](repeating: LevelBuffer(), count: 64 / Tile.height)
    private var bundle: [UInt8] = []

    public init() {}

    /// Appends one entry; `emit` receives each tile that becomes full:
    /// the entry bundle and level-0 tile, then any tiles above them it closes.
    public mutating func append(_ entry: [UInt8], emit: (Tile, [UInt8]) throws -> Void) rethrows {
        precondition(entry.count <= EntryBundle.maxEntryLength, "entry longer than an entry bundle can carry")
        bundle.append(UInt8(entry.count >> 8))
        bundle.append(UInt8(entry.count & 0xff))
        bundle.append(contentsOf: entry)
        var node = MerkleHash.leaf(entry)
        size += 1
        var level = 0
        while true {
            levels[level].hashes.append(node)
            guard levels[level].hashes.count == Tile.fullWidth else { return }
            let index = levels[level].tileIndex
            if level == 0 {
                try emit(Tile(kind: .entries, index: index, width: Tile.fullWidth), bundle)
                bundle.removeAll(keepingCapacity: true)
            }
            try emit(Tile(kind: .hashes(level: level), index: index, width: Tile.fullWidth), Self.bytes(levels[level].hashes))
            node = subtreeRoot(levels[level].hashes)
            levels[level].hashes.removeAll(keepingCapacity: true)
            levels[level].tileIndex += 1
            level += 1
        }
    }

    /// The partial tiles at the current size (the entry bundle and each level's unfinished tile).
    public var partialTiles: [(tile: Tile, bytes: [UInt8])] {
        var tiles: [(Tile, [UInt8])] = []
        for (level, buffer) in levels.enumerated() where !buffer.hashes.isEmpty {
            if level == 0 {
                tiles.append((Tile(kind: .entries, index: buffer.tileIndex, width: buffer.hashes.count), bundle))
            }
            tiles.append((Tile(kind: .hashes(level: level), index: buffer.tileIndex, width: buffer.hashes.count), Self.bytes(buffer.hashes)))
        }
        return tiles
    }

    /// MTH of the entries so far.
    public var root: Hash {
        do {
            return try MerkleTree.root(size: size, reader: EdgeReader(levels: levels))
        } catch {
            preconditionFailure("bad math: the right edge is incomplete: \(error)")
        }
    }

    static func bytes(_ hashes: [Hash]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(hashes.count * Hash.byteCount)
        for hash in hashes { withUnsafeBytes(of: hash) { out.append(contentsOf: $0) } }
        return out
    }
}
