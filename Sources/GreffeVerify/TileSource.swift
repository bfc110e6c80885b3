public import GreffeCore

/// Where an audit reads a log's published tiles: a server's tlog-tiles
/// endpoint, a mirror directory, or memory in tests.
///
/// Contract:
/// - `read` returns the bytes published at `tile.path` for exactly that
///   width: `width × 32` bytes for a hash tile, `width` length-prefixed
///   entries for an entry bundle (C2SP tlog-tiles). The audit checks them
///   all; a source need not.
/// - It throws when the tile cannot be had (missing, unreachable); the
///   audit reports that as `AuditFailure.Code.tileUnavailable` naming the path.
/// - It is called concurrently from several tasks (a read-ahead window).
public protocol TileSource: Sendable {
    func read(_ tile: Tile) async throws -> [UInt8]
}

/// A tile source over a dictionary keyed by tile path, for tests and for
/// small in-memory logs.
public struct MemoryTileSource: TileSource {
    public var tiles: [String: [UInt8]]

    public init(tiles: [String: [UInt8]] = [:]) {
        self.tiles = tiles
    }

    public struct Missing: Error, CustomStringConvertible {
        public let path: String
        public var description: String { "no tile at \(path)" }
    }

    public func read(_ tile: Tile) async throws -> [UInt8] {
        guard let bytes = tiles[tile.path] else { throw Missing(path: tile.path) }
        return bytes
    }
}
