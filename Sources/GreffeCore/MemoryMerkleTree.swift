/// A whole RFC 9162 tree held in memory, every complete node of it: for small
/// trees built at once (a batch of timestamp renewals, a benchmark's log).
public struct MemoryMerkleTree: NodeReader, Sendable {
    /// `levels[0]` the leaf hashes; `levels[l][i]` the root of leaves `[i·2^l, (i+1)·2^l)`.
    public private(set) var levels: [[Hash]]

    /// At least one leaf.
    public init(leafHashes: [Hash]) {
        precondition(!leafHashes.isEmpty, "a Merkle tree needs a leaf")
        levels = [leafHashes]
        while levels[levels.count - 1].count > 1 {
            let below = levels[levels.count - 1]
            levels.append((0..<(below.count / 2)).map { MerkleHash.node(below[2 * $0], below[2 * $0 + 1]) })
        }
    }

    public var size: UInt64 { UInt64(levels[0].count) }

    public func node(level: Int, index: UInt64) throws -> Hash { levels[level][Int(index)] }

    // Every node read is complete, so neither can fail.
    public var root: Hash { try! MerkleTree.root(size: size, reader: self) }

    public func inclusionProof(_ index: UInt64) -> [Hash] { try! MerkleTree.inclusionProof(index: index, size: size, reader: self) }
}
