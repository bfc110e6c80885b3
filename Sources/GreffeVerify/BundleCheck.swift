import GreffeCore

/// The checks of one entry bundle against its level-0 hash tile that need
/// nothing from other bundles, so that many bundles are checked at once on
/// all cores. The links to the bundle before it (`prev` and time of its
/// first entry) and everything above level 0 are left to the sequential
/// merge in `LogReplay`.
///
/// Per entry, in log order, the checks are: layout, index field, `prev`
/// link, time, then leaf hash against the level-0 tile. A bundle reports
/// only its first failure.
struct BundleCheck: Sendable {
    var index: UInt64
    /// Entries in the bundle (and hashes in the level-0 tile) at the audited size.
    var width: Int
    var bundle: [UInt8]
    var leafTile: [UInt8]
    /// Entries before this position are already audited (incremental replay):
    /// their leaf hashes are `knownLeaves`, they are not decoded again.
    var firstPosition = 0
    var knownLeaves: [Hash] = []

    var bundleTile: Tile { Tile(kind: .entries, index: index, width: width) }
    var leafHashTile: Tile { Tile(kind: .hashes(level: 0), index: index, width: width) }

    func entryIndex(_ position: Int) -> UInt64 { index << UInt64(Tile.height) + UInt64(position) }

    struct Outcome: Sendable {
        /// The first failure and the position of the entry it concerns.
        var failure: AuditFailure?
        var failurePosition = -1
        /// The failure is a level-0 disagreement between an entry and the tile,
        /// to be settled by the tree above (`LogReplay.settleLeafMismatch`).
        var leafMismatch = false
        /// `prev` and time of the entry at `firstPosition`, checked by the merge.
        var firstPrev: Hash?
        var firstSequencedAt: UInt64 = 0
        var lastLeaf = Hash.zero
        var lastSequencedAt: UInt64 = 0
        /// MTH of the bundle's 256 leaf hashes: the level-8 node it completes.
        var subtreeRoot: Hash?
        /// The recomputed leaf hashes, kept for a partial bundle (the root
        /// needs them) and for a leaf mismatch (the tree above settles it).
        var leaves: [Hash] = []
        /// All `width` leaf hashes could be recomputed (the bundle's framing held).
        var leavesComplete = false
        /// Indices of the `ledger.restored` entries checked: the log's own records of a restore whose tail lost its events.
        var restoreRecords: [UInt64] = []
    }

    static let restoredKind = Array("ledger.restored".utf8)

    func run() -> Outcome {
        var outcome = Outcome()
        guard leafTile.count == width * Hash.byteCount else {
            outcome.failure = AuditFailure(
                .tileMalformed,
                "\(leafHashTile.path) is \(leafTile.count) bytes, not \(width) hashes of 32 bytes",
                tile: leafHashTile)
            return outcome
        }
        var leaves = [Hash](repeating: .zero, count: width)
        var sequencedAt: UInt64 = 0
        var complete = true
        bundle.withUnsafeBytes { raw in
            leafTile.withUnsafeBytes { served in
                var cursor = EntryBundleCursor(raw)
                for position in 0..<width {
                    guard let entry = cursor.next() else {
                        complete = false
                        if outcome.failure == nil {
                            outcome.failure = AuditFailure(
                                .entryBundleMalformed,
                                "\(bundleTile.path) ends inside entry \(entryIndex(position)): it holds \(position) whole entries, not \(width)",
                                tile: bundleTile, entryIndex: entryIndex(position))
                            outcome.failurePosition = position
                        }
                        return
                    }
                    let servedLeaf = loadHash(served.baseAddress! + position * Hash.byteCount)
                    if outcome.failure != nil {
                        // Past a leaf mismatch: only hash, for the tree above to settle it.
                        leaves[position] = EntryLayout.leafHash(entry)
                        continue
                    }
                    if position < firstPosition {
                        leaves[position] = knownLeaves[position]
                        if !same(servedLeaf, knownLeaves[position]) {
                            outcome.failure = AuditFailure(
                                .hashTileMismatch,
                                "\(leafHashTile.path) position \(position) holds \(servedLeaf), but entry \(entryIndex(position)) of the earlier audited tree has leaf hash \(knownLeaves[position])",
                                tile: leafHashTile, entryIndex: entryIndex(position))
                            outcome.failurePosition = position
                            return
                        }
                        continue
                    }
                    guard EntryLayout.isValid(entry) else {
                        outcome.failure = AuditFailure(
                            .entryInvalid,
                            "entry \(entryIndex(position)) in \(bundleTile.path) (position \(position)) is not a valid entry: \(EntryLayout.rejection(entry))",
                            tile: bundleTile, entryIndex: entryIndex(position))
                        outcome.failurePosition = position
                        return
                    }
                    let claimed = EntryLayout.index(entry)
                    guard claimed == entryIndex(position) else {
                        outcome.failure = AuditFailure(
                            .entryIndexMismatch,
                            "entry at position \(position) of \(bundleTile.path) carries index \(claimed), not \(entryIndex(position))",
                            tile: bundleTile, entryIndex: entryIndex(position))
                        outcome.failurePosition = position
                        return
                    }
                    if EntryLayout.hasKind(entry, Self.restoredKind) { outcome.restoreRecords.append(entryIndex(position)) }
                    let prev = EntryLayout.prev(entry)
                    let time = EntryLayout.sequencedAt(entry)
                    if position == firstPosition {
                        outcome.firstPrev = prev
                        outcome.firstSequencedAt = time
                    } else {
                        guard same(prev, leaves[position - 1]) else {
                            outcome.failure = LogReplay.prevFailure(
                                entry: entryIndex(position), bundle: bundleTile, prev: prev, expected: leaves[position - 1])
                            outcome.failurePosition = position
                            return
                        }
                        guard time >= sequencedAt else {
                            outcome.failure = LogReplay.timeFailure(
                                entry: entryIndex(position), bundle: bundleTile, time: time, previous: sequencedAt)
                            outcome.failurePosition = position
                            return
                        }
                    }
                    sequencedAt = time
                    let leaf = EntryLayout.leafHash(entry)
                    leaves[position] = leaf
                    if !same(leaf, servedLeaf) {
                        // Provisional: which of the two is wrong is settled by the tree above.
                        outcome.failure = AuditFailure(
                            .leafHashMismatch,
                            "entry \(entryIndex(position)) in \(bundleTile.path) hashes to \(leaf), but \(leafHashTile.path) position \(position) holds \(servedLeaf)",
                            tile: leafHashTile, entryIndex: entryIndex(position))
                        outcome.failurePosition = position
                        outcome.leafMismatch = true
                    }
                }
                if outcome.failure == nil && cursor.remaining != 0 {
                    outcome.failure = AuditFailure(
                        .entryBundleMalformed,
                        "\(bundleTile.path) has \(cursor.remaining) bytes after its \(width) entries",
                        tile: bundleTile)
                    outcome.failurePosition = width
                }
            }
        }
        outcome.leavesComplete = complete
        outcome.lastLeaf = leaves[width - 1]
        outcome.lastSequencedAt = sequencedAt
        if outcome.failure == nil && width == Tile.fullWidth {
            outcome.subtreeRoot = subtreeRoot(leaves)
        } else {
            outcome.leaves = leaves
        }
        return outcome
    }
}

/// MTH of a power-of-two number of hashes (a full tile): count − 1 node hashes.
func subtreeRoot(_ hashes: [Hash]) -> Hash {
    precondition(!hashes.isEmpty && hashes.count & (hashes.count - 1) == 0, "subtree of a power of two")
    var level = hashes
    var count = level.count
    level.withUnsafeMutableBufferPointer { level in
        while count > 1 {
            for i in 0..<(count / 2) {
                level[i] = nodeHash(level[2 * i], level[2 * i + 1])
            }
            count /= 2
        }
    }
    return level[0]
}
