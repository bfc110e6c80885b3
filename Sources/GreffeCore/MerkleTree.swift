/// Reads the hash of a complete subtree: the node at `level` and `index`
/// covers leaves `[index·2^level, (index+1)·2^level)`. Level 0 nodes are leaf hashes.
///
/// Stores implement this with one indexed lookup; every function below
/// states how many it makes.
public protocol NodeReader {
    func node(level: Int, index: UInt64) throws -> Hash
}

/// A log's shape questions and RFC 9162 §2.1 proof generation over stored nodes.
///
/// Every function reads only complete subtrees, so a store that keeps every
/// complete node can answer for any tree size up to its own without
/// recomputing the tree.
public enum MerkleTree {
    /// The largest power of two strictly less than `n` (n ≥ 2): the split point `k` of RFC 9162 §2.1.1.
    @inlinable
    public static func split(_ n: UInt64) -> UInt64 {
        precondition(n >= 2, "split of a tree of fewer than two leaves")
        return 1 << (63 - (n - 1).leadingZeroBitCount)
    }

    /// MTH(D[lo:hi]): for the aligned ranges the RFC recursion produces (`lo`
    /// a multiple of the left part's size), one read per set bit of `hi − lo` at most.
    public static func hash(lo: UInt64, hi: UInt64, reader: some NodeReader) throws -> Hash {
        precondition(lo < hi, "empty range")
        let n = hi - lo
        if n & (n - 1) == 0 && lo % n == 0 {
            return try reader.node(level: n.trailingZeroBitCount, index: lo / n)
        }
        let k = split(n)
        let left = try hash(lo: lo, hi: lo + k, reader: reader)
        let right = try hash(lo: lo + k, hi: hi, reader: reader)
        return MerkleHash.node(left, right)
    }

    /// The root of the tree of the first `size` leaves; the empty tree's root for 0.
    public static func root(size: UInt64, reader: some NodeReader) throws -> Hash {
        size == 0 ? MerkleHash.emptyRoot : try hash(lo: 0, hi: size, reader: reader)
    }

    /// PATH(m, D[n]) of RFC 9162 §2.1.3.1, leaf to root. O(log n) reads.
    public static func inclusionProof(index: UInt64, size: UInt64, reader: some NodeReader) throws -> [Hash] {
        precondition(index < size, "index beyond the tree")
        var proof: [Hash] = []
        try path(index, lo: 0, hi: size, reader: reader, into: &proof)
        return proof
    }

    private static func path(_ m: UInt64, lo: UInt64, hi: UInt64, reader: some NodeReader, into proof: inout [Hash]) throws {
        let n = hi - lo
        guard n > 1 else { return }
        let k = split(n)
        if m < k {
            try path(m, lo: lo, hi: lo + k, reader: reader, into: &proof)
            proof.append(try hash(lo: lo + k, hi: hi, reader: reader))
        } else {
            try path(m - k, lo: lo + k, hi: hi, reader: reader, into: &proof)
            proof.append(try hash(lo: lo, hi: lo + k, reader: reader))
        }
    }

    /// PROOF(m, D[n]) of RFC 9162 §2.1.4.1, for 0 < m ≤ n; empty when m == n. O(log n) reads.
    public static func consistencyProof(first m: UInt64, second n: UInt64, reader: some NodeReader) throws -> [Hash] {
        precondition(0 < m && m <= n, "consistency needs 0 < first ≤ second")
        var proof: [Hash] = []
        try subproof(m, lo: 0, hi: n, complete: true, reader: reader, into: &proof)
        return proof
    }

    private static func subproof(
        _ m: UInt64, lo: UInt64, hi: UInt64, complete: Bool, reader: some NodeReader, into proof: inout [Hash]
    ) throws {
        let n = hi - lo
        if m == n {
            if !complete { proof.append(try hash(lo: lo, hi: hi, reader: reader)) }
            return
        }
        let k = split(n)
        if m <= k {
            try subproof(m, lo: lo, hi: lo + k, complete: complete, reader: reader, into: &proof)
            proof.append(try hash(lo: lo + k, hi: hi, reader: reader))
        } else {
            try subproof(m - k, lo: lo + k, hi: hi, complete: false, reader: reader, into: &proof)
            proof.append(try hash(lo: lo, hi: lo + k, reader: reader))
        }
    }
}

/// The right edge of a growing tree: one complete subtree root per set bit of
/// its size (a compact range starting at 0). Appending a leaf yields the new
/// complete nodes a store must keep; the root needs no reads.
public struct MerkleFrontier: Sendable, Equatable {
    public private(set) var size: UInt64
    /// Roots of the complete subtrees, largest (leftmost) first.
    public private(set) var hashes: [Hash]

    public init() {
        size = 0
        hashes = []
    }

    /// Rebuilds the frontier of a stored tree: one read per set bit of `size`.
    public init(size: UInt64, reader: some NodeReader) throws {
        var hashes: [Hash] = []
        var start: UInt64 = 0
        for level in stride(from: 63, through: 0, by: -1) where size & (1 << UInt64(level)) != 0 {
            hashes.append(try reader.node(level: level, index: start >> UInt64(level)))
            start += 1 << UInt64(level)
        }
        self.size = size
        self.hashes = hashes
    }

    /// A node completed by an append.
    public struct Node: Sendable, Equatable {
        public var level: Int
        public var index: UInt64
        public var hash: Hash
    }

    /// Appends one leaf hash; `completed` receives the leaf itself (level 0)
    /// and every interior node it completes, lowest level first.
    public mutating func append(_ leaf: Hash, completed: (Node) -> Void) {
        var hash = leaf
        var level = 0
        var index = size
        completed(Node(level: 0, index: index, hash: hash))
        // Each trailing 1 bit of the old size is a left sibling waiting on the edge.
        while index & 1 == 1 {
            hash = MerkleHash.node(hashes.removeLast(), hash)
            level += 1
            index >>= 1
            completed(Node(level: level, index: index, hash: hash))
        }
        hashes.append(hash)
        size += 1
    }

    public var root: Hash {
        guard var root = hashes.last else { return MerkleHash.emptyRoot }
        for left in hashes.dropLast().reversed() {
            root = MerkleHash.node(left, root)
        }
        return root
    }
}
