import GreffeCore

/// Why an audit failed: a stable `code` for tests and machines, a message a
/// person can act on, and where: the tile path at fault and the entry index,
/// when there is one.
public struct AuditFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A tile could not be read from the source.
        case tileUnavailable
        /// A hash tile whose length is not its width × 32 bytes.
        case tileMalformed
        /// A hash tile that differs from the hashes recomputed from the level below.
        case hashTileMismatch
        /// An entry bundle that is not exactly `width` length-prefixed entries.
        case entryBundleMalformed
        /// An entry that is not a valid layout-1 entry.
        case entryInvalid
        /// An entry whose index field is not its position in the log.
        case entryIndexMismatch
        /// An entry whose leaf hash the tree above disowns: the bundle was altered.
        case entryMismatch
        /// An entry and its level-0 hash disagree and the tree above backs neither.
        case leafHashMismatch
        /// An entry whose `prev` is not the leaf hash of the entry before it.
        case prevMismatch
        /// An entry sequenced earlier than the entry before it.
        case timeWentBackwards
        /// The recomputed root is not the checkpoint's root.
        case rootMismatch
        /// The tiles do not hash to the root of the earlier checkpoint.
        case earlierRootMismatch
        /// The consistency proof between the two checkpoints does not verify.
        case inconsistent
        /// The earlier checkpoint is larger than the one audited.
        case sizeRegression
        /// Storing a verified tile failed (mirror).
        case storeFailed
        /// The audit was cancelled.
        case cancelled
    }

    public let code: Code
    public let message: String
    /// The path of the tile at fault (`tile/1/000`, `tile/entries/005.p/17`).
    public let tile: String?
    /// The entry concerned, when one is.
    public let entryIndex: UInt64?

    public init(_ code: Code, _ message: String, tile: String? = nil, entryIndex: UInt64? = nil) {
        self.code = code
        self.message = message
        self.tile = tile
        self.entryIndex = entryIndex
    }

    init(_ code: Code, _ message: String, tile: Tile, entryIndex: UInt64? = nil) {
        self.init(code, message, tile: tile.path, entryIndex: entryIndex)
    }

    public var description: String { message }
}
