/// A complete subtree of a log's Merkle tree: `level` h and `position` j
/// cover entries `[j·2^h, (j+1)·2^h)`. Level 0 subtrees are leaves.
public struct Subtree: Sendable, Hashable {
    public var level: Int
    public var position: UInt64

    public init(level: Int, position: UInt64) {
        self.level = level
        self.position = position
    }

    public var firstEntry: UInt64 { position << UInt64(level) }
    public var entryCount: UInt64 { 1 << UInt64(level) }
}

/// The multi-leaf proof of `greffe-bundle/v3` (`Schemas/bundle.md`, v3): the
/// entries between bundled events are covered by the fewest aligned complete
/// subtrees, so a bundle lists every part of `[0, N)` once, left to right,
/// and a verifier folds them into the root in O(log N) memory.
public enum SubtreeCover {
    /// The cover of `[from, to)`: repeatedly the largest aligned subtree starting at `from` that fits.
    public static func cover(from: UInt64, to: UInt64) -> [Subtree] {
        var subtrees: [Subtree] = []
        var start = from
        while start < to {
            let level = largestLevel(at: start, limit: to)
            subtrees.append(Subtree(level: level, position: start >> UInt64(level)))
            start += 1 << UInt64(level)
        }
        return subtrees
    }

    /// `cover(from:to:).count`, without building the list.
    public static func count(from: UInt64, to: UInt64) -> Int {
        var count = 0
        var start = from
        while start < to {
            start += 1 << UInt64(largestLevel(at: start, limit: to))
            count += 1
        }
        return count
    }

    private static func largestLevel(at start: UInt64, limit: UInt64) -> Int {
        // Aligned: no larger than the lowest set bit of `start` (any size at 0); fitting: no larger than what is left.
        var level = start == 0 ? 63 : start.trailingZeroBitCount
        let left = limit - start
        level = min(level, 63 - left.leadingZeroBitCount)
        return level
    }
}

/// Folds leaves and subtrees given left to right, from entry 0 on, into the
/// RFC 9162 root of the tree they cover: siblings are merged as they meet
/// (a compact range), so memory stays O(log N) whatever the tree's size.
public struct RootFold: Sendable {
    private var stack: [(subtree: Subtree, hash: Hash)] = []
    /// How many entries, from 0, the subtrees given so far cover.
    public private(set) var covered: UInt64 = 0

    public init() {}

    /// Adds the next subtree; false (and nothing added) unless it starts exactly where the previous one ended.
    @discardableResult
    public mutating func push(_ subtree: Subtree, _ hash: Hash) -> Bool {
        guard subtree.level < 64, subtree.firstEntry == covered, subtree.firstEntry >> UInt64(subtree.level) == subtree.position else {
            return false
        }
        covered += subtree.entryCount
        var top = (subtree: subtree, hash: hash)
        while let last = stack.last, last.subtree.level == top.subtree.level, last.subtree.position % 2 == 0,
            last.subtree.position + 1 == top.subtree.position
        {
            stack.removeLast()
            top = (Subtree(level: top.subtree.level + 1, position: last.subtree.position / 2), MerkleHash.node(last.hash, top.hash))
        }
        stack.append(top)
        return true
    }

    /// MTH(D[0:covered]): the right fold of the compact range; the empty tree's root when nothing was given.
    public var root: Hash {
        guard var root = stack.last?.hash else { return MerkleHash.emptyRoot }
        for element in stack.dropLast().reversed() { root = MerkleHash.node(element.hash, root) }
        return root
    }
}
