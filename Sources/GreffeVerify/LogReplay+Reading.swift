import Foundation
import GreffeCore

// Reading tiles ahead of the check: the windows of level-0 tiles, entry bundles and the upper tiles they complete.
extension ReplayRun {
    static func read(_ tile: Tile, from source: any TileSource) async throws -> [UInt8] {
        do {
            return try await source.read(tile)
        } catch is CancellationError {
            throw AuditFailure(.cancelled, "the audit was cancelled")
        } catch {
            throw AuditFailure(.tileUnavailable, "\(tile.path) could not be read: \(error)", tile: tile)
        }
    }

    func read(_ tile: Tile) async throws -> [UInt8] {
        let bytes = try await ReplayRun.read(tile, from: replay.source)
        tilesRead += 1
        bytesRead += bytes.count
        return bytes
    }

    /// One read-ahead window: its bundles, their level-0 tiles, and the
    /// upper tiles that the window completes.
    struct Window: Sendable {
        var bundles: [[UInt8]]
        var leafTiles: [[UInt8]]
        var upper: [Tile: [UInt8]]
    }

    /// The hash tiles above level 0 whose last node the bundles `range` complete.
    static func upperTiles(completedBy range: Range<UInt64>, treeSize n: UInt64) -> [Tile] {
        var tiles: [Tile] = []
        let bundleCount = (n + UInt64(Tile.fullWidth) - 1) >> UInt64(Tile.height)
        for k in range {
            // A full tile at level L closes after bundle k when (k + 1) is a multiple of 256^L.
            for level in 1...maxTileLevel {
                let span = UInt64(1) << UInt64(Tile.height * level)
                guard (k + 1) % span == 0 else { break }
                let tile = Tile(kind: .hashes(level: level), index: (k + 1) / span - 1, width: Tile.fullWidth)
                if tile.exists(inTreeOfSize: n) { tiles.append(tile) }
            }
        }
        if range.upperBound == bundleCount {
            // The partial tiles of the right edge are checked at the end.
            for level in 1...maxTileLevel {
                let count = Tile.nodeCount(level: level * Tile.height, treeSize: n)
                let width = Int(count & UInt64(Tile.fullWidth - 1))
                if width > 0 { tiles.append(Tile(kind: .hashes(level: level), index: count >> UInt64(Tile.height), width: width)) }
            }
        }
        return tiles
    }

    static func fetch(_ range: Range<UInt64>, treeSize n: UInt64, source: any TileSource) async throws -> Window {
        enum Slot: Sendable { case bundle(Int), leafTile(Int), upper(Tile) }
        var window = Window(
            bundles: Array(repeating: [], count: range.count), leafTiles: Array(repeating: [], count: range.count), upper: [:])
        try await withThrowingTaskGroup(of: (Slot, [UInt8]).self) { group in
            for (offset, k) in range.enumerated() {
                let bundle = LogReplay.tile(.entries, index: k, treeSize: n)!
                let leafTile = LogReplay.tile(.hashes(level: 0), index: k, treeSize: n)!
                group.addTask { (.bundle(offset), try await read(bundle, from: source)) }
                group.addTask { (.leafTile(offset), try await read(leafTile, from: source)) }
            }
            for tile in upperTiles(completedBy: range, treeSize: n) {
                group.addTask { (.upper(tile), try await read(tile, from: source)) }
            }
            for try await (slot, bytes) in group {
                switch slot {
                case .bundle(let i): window.bundles[i] = bytes
                case .leafTile(let i): window.leafTiles[i] = bytes
                case .upper(let tile): window.upper[tile] = bytes
                }
            }
        }
        return window
    }
}
