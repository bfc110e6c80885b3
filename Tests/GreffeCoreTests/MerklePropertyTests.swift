// The tree code against RFC 9162 §2.1 written out in the test, definition by
// definition: MTH, PATH and PROOF as the RFC's recursive equations, with
// leaf and node hashes taken as plain SHA-256 over the prefixed bytes. Every
// size 1…300 exhaustively, then random sizes up to ~5000. The incremental
// frontier, the store-backed MerkleTree and the definition must agree.

import Foundation
@testable import GreffeCore
import Testing

/// RFC 9162 §2.1.1–§2.1.4.1 verbatim, memoized so exhaustive runs stay fast.
/// Hashing goes through MerkleHash.sha256 with the domain-separation prefix
/// spelled out, not through MerkleHash.leaf/node (whose fast C paths are
/// under test too).
private final class DefinitionalTree {
    let entries: [[UInt8]]
    let leafHashes: [Hash]
    private struct Range: Hashable { let lo: Int, hi: Int }
    private var memo: [Range: Hash] = [:]

    init(entries: [[UInt8]]) {
        self.entries = entries
        leafHashes = entries.map { DefinitionalTree.leafHash($0) }
    }

    static func leafHash(_ entry: [UInt8]) -> Hash { MerkleHash.sha256([0x00] + entry) }
    static func nodeHash(_ left: Hash, _ right: Hash) -> Hash { MerkleHash.sha256([0x01] + left.bytes, right.bytes) }

    /// "the largest power of two smaller than n", by counting.
    static func k(_ n: Int) -> Int {
        var k = 1
        while k * 2 < n { k *= 2 }
        return k
    }

    /// MTH(D[lo:hi]).
    func mth(_ lo: Int, _ hi: Int) -> Hash {
        let n = hi - lo
        if n == 0 { return MerkleHash.sha256([UInt8]()) }
        if n == 1 { return leafHashes[lo] }
        if let known = memo[Range(lo: lo, hi: hi)] { return known }
        let k = DefinitionalTree.k(n)
        let hash = DefinitionalTree.nodeHash(mth(lo, lo + k), mth(lo + k, hi))
        memo[Range(lo: lo, hi: hi)] = hash
        return hash
    }

    /// PATH(m, D[lo:hi]) with m relative to lo.
    func path(_ m: Int, _ lo: Int, _ hi: Int) -> [Hash] {
        let n = hi - lo
        if n == 1 { return [] }
        let k = DefinitionalTree.k(n)
        return m < k ? path(m, lo, lo + k) + [mth(lo + k, hi)] : path(m - k, lo + k, hi) + [mth(lo, lo + k)]
    }

    /// PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
    func proof(_ m: Int, _ n: Int) -> [Hash] { subproof(m, 0, n, true) }

    private func subproof(_ m: Int, _ lo: Int, _ hi: Int, _ b: Bool) -> [Hash] {
        let n = hi - lo
        if m == n { return b ? [] : [mth(lo, hi)] }
        let k = DefinitionalTree.k(n)
        return m <= k
            ? subproof(m, lo, lo + k, b) + [mth(lo + k, hi)]
            : subproof(m - k, lo + k, hi, false) + [mth(lo, lo + k)]
    }
}

/// A store of every complete node of `tree`, filled through MerkleFrontier.
private func storedNodes(_ tree: DefinitionalTree) -> MemoryNodeReader {
    MemoryNodeReader(leafHashes: tree.entries.map { MerkleHash.leaf($0) })
}

private func hexBytes(_ hex: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        bytes.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

@Suite("Merkle tree properties against the RFC 9162 definitions")
struct MerklePropertyTests {
    @Test("MerkleHash.sha256 meets the FIPS 180-4 examples (the oracle's own primitive)")
    func sha256KnownAnswers() {
        let cases: [([UInt8], String)] = [
            ([], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (Array("abc".utf8), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
            ([UInt8](repeating: 0x61, count: 1_000_000), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
        ]
        for (message, expected) in cases {
            #expect(MerkleHash.sha256(message).bytes == hexBytes(expected), "\(message.count)-byte message")
            // The two-part form hashes the concatenation, wherever it is cut.
            for cut in [0, message.count / 3, message.count] {
                #expect(MerkleHash.sha256(Array(message[..<cut]), Array(message[cut...])).bytes == hexBytes(expected))
            }
        }
        #expect(MerkleHash.emptyRoot.bytes == hexBytes(cases[0].1))
    }

    @Test("MerkleHash.leaf and .node are SHA-256 over 0x00 ‖ entry and 0x01 ‖ left ‖ right, for every length and container")
    func leafAndNodeHashing() {
        var rng = SplitMix64(seed: 11)
        for length in Array(0...300) + [1000, 65_535, 70_000] {
            let entry = rng.bytes(length)
            let expected = MerkleHash.sha256([0x00] + entry)
            #expect(MerkleHash.leaf(entry) == expected, "leaf of \(length) bytes")
            #expect(MerkleHash.leaf(Data(entry)) == expected, "leaf of \(length) bytes as Data")
            #expect(MerkleHash.leaf(([0xAA] + entry + [0xBB])[1..<(1 + length)]) == expected, "leaf of a \(length)-byte slice")
        }
        // Empty containers may have no base address at all.
        #expect(MerkleHash.leaf(Data()) == MerkleHash.sha256([UInt8(0)]))
        #expect(MerkleHash.leaf([UInt8]()) == MerkleHash.sha256([UInt8(0)]))
        for _ in 0..<200 {
            let left = rng.hash()
            let right = rng.hash()
            #expect(MerkleHash.node(left, right) == MerkleHash.sha256([0x01] + left.bytes + right.bytes))
            #expect(MerkleHash.node(left, right) != MerkleHash.node(right, left))
        }
        // Domain separation: a leaf whose entry looks like two child hashes is not that node.
        let a = rng.hash()
        let b = rng.hash()
        #expect(MerkleHash.leaf(a.bytes + b.bytes) != MerkleHash.node(a, b))
    }

    @Test("Hash: 32 bytes exactly, every bit counts for equality, base64 and base64url forms")
    func hashValueType() throws {
        var rng = SplitMix64(seed: 12)
        let bytes = rng.bytes(32)
        let hash = try #require(Hash(bytes: bytes))
        #expect(hash.bytes == bytes)
        #expect(Array(hash.data) == bytes)
        #expect(hash.hex == bytes.map { String(format: "%02x", $0) }.joined())
        #expect(Hash(bytes: bytes.dropLast()) == nil)
        #expect(Hash(bytes: bytes + [0]) == nil)
        #expect(Hash(bytes: []) == nil)
        #expect(Hash.zero.bytes == [UInt8](repeating: 0, count: 32))
        // Equality and Hashable see every one of the 256 bits.
        var seen: Set<Hash> = [hash]
        for bit in 0..<256 {
            let flipped = hash.flippingBit(bit)
            #expect(flipped != hash, "bit \(bit)")
            #expect(flipped.bytes.enumerated().filter { $0.element != bytes[$0.offset] }.count == 1)
            seen.insert(flipped)
        }
        #expect(seen.count == 257)
        // Standard base64 as in checkpoints; URL-safe base64 with optional padding as in query strings.
        let standard = Data(bytes).base64EncodedString()
        #expect(hash.base64 == standard)
        #expect(Hash(base64: standard) == hash)
        #expect(Hash(base64: Data(bytes.dropLast()).base64EncodedString()) == nil)
        #expect(Hash(base64: Data(bytes + [1]).base64EncodedString()) == nil)
        #expect(Hash(base64: "not base64!") == nil)
        let url = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        #expect(Hash(base64URL: url) == hash)
        #expect(Hash(base64URL: url.filter { $0 != "=" }) == hash)
        // A hash whose base64 has both '+' and '/' must not be accepted in the URL form.
        let plusSlash = try #require(Hash(base64: "+/" + String(repeating: "A", count: 41) + "="))
        #expect(Hash(base64URL: plusSlash.base64) == nil)
        #expect(Hash(base64URL: "-_" + String(repeating: "A", count: 41)) == plusSlash)
    }

    @Test("sizes 0…300: frontier root == definitional MTH == MerkleTree.root over stored nodes")
    func rootsExhaustive() throws {
        var rng = SplitMix64(seed: 13)
        let tree = DefinitionalTree(entries: randomEntries(count: 300, rng: &rng))
        let reader = storedNodes(tree)
        var frontier = MerkleFrontier()
        for size in 0...300 {
            if size > 0 { frontier.append(MerkleHash.leaf(tree.entries[size - 1])) { _ in } }
            let expected = tree.mth(0, size)
            #expect(frontier.root == expected, "frontier root of \(size)")
            #expect(try MerkleTree.root(size: UInt64(size), reader: reader.limited(to: UInt64(size))) == expected, "root of \(size)")
        }
    }

    @Test("random sizes up to 5000 and every power-of-two boundary: the three roots agree")
    func rootsLarge() throws {
        var rng = SplitMix64(seed: 14)
        let tree = DefinitionalTree(entries: randomEntries(count: 5000, rng: &rng))
        let reader = storedNodes(tree)
        var sizes = Set((0..<40).map { _ in 1 + Int(rng.next() % 5000) })
        for p in 8...12 { sizes.formUnion([(1 << p) - 1, 1 << p, (1 << p) + 1]) }
        var frontier = MerkleFrontier()
        for size in sizes.sorted() {
            while frontier.size < UInt64(size) { frontier.append(MerkleHash.leaf(tree.entries[Int(frontier.size)])) { _ in } }
            let expected = tree.mth(0, size)
            #expect(frontier.root == expected, "frontier root of \(size)")
            #expect(try MerkleTree.root(size: UInt64(size), reader: reader.limited(to: UInt64(size))) == expected, "root of \(size)")
        }
    }

    @Test("sizes 1…300, every index: inclusion proof == PATH(m, D[n]) and verifies against MTH")
    func inclusionExhaustive() throws {
        var rng = SplitMix64(seed: 15)
        let tree = DefinitionalTree(entries: randomEntries(count: 300, rng: &rng))
        let reader = storedNodes(tree)
        var failures: [String] = []
        for size in 1...300 {
            let limited = reader.limited(to: UInt64(size))
            let root = tree.mth(0, size)
            for index in 0..<size {
                let proof = try MerkleTree.inclusionProof(index: UInt64(index), size: UInt64(size), reader: limited)
                if proof != tree.path(index, 0, size) { failures.append("proof of \(index) in \(size)") }
                let computed = try? ProofVerifier.rootFromInclusionProof(
                    index: UInt64(index), size: UInt64(size), leafHash: tree.leafHashes[index], proof: proof)
                if computed != root { failures.append("verification of \(index) in \(size)") }
            }
        }
        let failureCount = failures.count // not the array itself: #expect would print all of it
        #expect(failureCount == 0, "e.g. \(failures.prefix(10))")
    }

    @Test("sizes 1…300, every first ≤ second: consistency proof == PROOF(m, D[n]) and verifies")
    func consistencyExhaustive() throws {
        var rng = SplitMix64(seed: 16)
        let tree = DefinitionalTree(entries: randomEntries(count: 300, rng: &rng))
        let reader = storedNodes(tree)
        var failures: [String] = []
        for second in 1...300 {
            let limited = reader.limited(to: UInt64(second))
            let secondRoot = tree.mth(0, second)
            for first in 1...second {
                let proof = try MerkleTree.consistencyProof(first: UInt64(first), second: UInt64(second), reader: limited)
                if proof != tree.proof(first, second) { failures.append("proof \(first) → \(second)") }
                do {
                    try ProofVerifier.verifyConsistency(
                        first: UInt64(first), second: UInt64(second), firstRoot: tree.mth(0, first), secondRoot: secondRoot, proof: proof)
                } catch {
                    failures.append("verification \(first) → \(second): \(error)")
                }
            }
        }
        let failureCount = failures.count // not the array itself: #expect would print all of it
        #expect(failureCount == 0, "e.g. \(failures.prefix(10))")
    }

    @Test("random (index, size) and (first, second) up to 5000: proofs match the definitions and verify")
    func proofsLarge() throws {
        var rng = SplitMix64(seed: 17)
        let tree = DefinitionalTree(entries: randomEntries(count: 5000, rng: &rng))
        let reader = storedNodes(tree)
        for _ in 0..<400 {
            let size = 1 + Int(rng.next() % 5000)
            let index = Int(rng.next() % UInt64(size))
            let limited = reader.limited(to: UInt64(size))
            let proof = try MerkleTree.inclusionProof(index: UInt64(index), size: UInt64(size), reader: limited)
            #expect(proof == tree.path(index, 0, size), "inclusion \(index) in \(size)")
            #expect(throws: Never.self) {
                try ProofVerifier.verifyInclusion(
                    index: UInt64(index), size: UInt64(size), leafHash: tree.leafHashes[index], proof: proof, root: tree.mth(0, size))
            }
            let first = 1 + Int(rng.next() % UInt64(size))
            let consistency = try MerkleTree.consistencyProof(first: UInt64(first), second: UInt64(size), reader: limited)
            #expect(consistency == tree.proof(first, size), "consistency \(first) → \(size)")
            #expect(throws: Never.self) {
                try ProofVerifier.verifyConsistency(
                    first: UInt64(first), second: UInt64(size), firstRoot: tree.mth(0, first), secondRoot: tree.mth(0, size), proof: consistency)
            }
        }
    }

    @Test("append reports exactly the nodes it completes, lowest level first, each equal to MTH of its range")
    func completedNodes() {
        var rng = SplitMix64(seed: 18)
        let tree = DefinitionalTree(entries: randomEntries(count: 1030, rng: &rng))
        var frontier = MerkleFrontier()
        var all = Set<NodeKey>()
        for (position, entry) in tree.entries.enumerated() {
            var completed: [MerkleFrontier.Node] = []
            frontier.append(MerkleHash.leaf(entry)) { completed.append($0) }
            // Appending leaf i completes one node per trailing 1 bit of i, plus the leaf.
            #expect(completed.count == 1 + (~position).trailingZeroBitCount, "after leaf \(position)")
            #expect(completed.map(\.level) == Array(0..<completed.count), "after leaf \(position)")
            for node in completed {
                let lo = Int(node.index) << node.level
                let hi = lo + (1 << node.level)
                #expect(hi == position + 1, "node (\(node.level), \(node.index)) should end at the new leaf")
                #expect(node.hash == tree.mth(lo, hi), "node (\(node.level), \(node.index))")
                #expect(all.insert(NodeKey(level: node.level, index: node.index)).inserted, "node reported twice")
            }
        }
        // A tree of n leaves has n + n/2 + n/4 + … complete nodes.
        var expectedCount = 0
        var n = 1030
        while n > 0 { expectedCount += n; n >>= 1 }
        #expect(all.count == expectedCount)
    }

    @Test("MerkleFrontier(size:reader:) rebuilds the incremental frontier, one read per set bit of the size")
    func frontierRebuild() throws {
        var rng = SplitMix64(seed: 19)
        let leaves = (0..<5000).map { _ in rng.hash() }
        let reader = MemoryNodeReader(leafHashes: leaves)
        var sizes = Array(0...300)
        sizes += (0..<30).map { _ in Int(rng.next() % 5001) }
        sizes += [511, 512, 513, 1023, 1024, 1025, 4095, 4096, 4097, 5000]
        var incremental = MerkleFrontier()
        for size in Set(sizes).sorted() {
            while incremental.size < UInt64(size) { incremental.append(leaves[Int(incremental.size)]) { _ in } }
            let counting = CountingNodeReader(reader.limited(to: UInt64(size)))
            let rebuilt = try MerkleFrontier(size: UInt64(size), reader: counting)
            #expect(rebuilt == incremental, "frontier of \(size)")
            #expect(counting.reads == size.nonzeroBitCount, "reads for \(size)")
            // And it keeps growing identically.
            var a = rebuilt
            var b = incremental
            let extra = rng.hash()
            a.append(extra) { _ in }
            b.append(extra) { _ in }
            #expect(a == b && a.root == b.root)
        }
    }

    @Test("read costs stated in the doc comments: root reads popcount(n) nodes, proofs O(log n)")
    func readCosts() throws {
        var rng = SplitMix64(seed: 20)
        let leaves = (0..<4100).map { _ in rng.hash() }
        let reader = MemoryNodeReader(leafHashes: leaves)
        for _ in 0..<300 {
            let size = 1 + rng.next() % 4100
            let bound = 2 * (64 - size.leadingZeroBitCount) // two per level: one sibling, one split of an incomplete one
            let limited = reader.limited(to: size)
            let root = CountingNodeReader(limited)
            _ = try MerkleTree.root(size: size, reader: root)
            #expect(root.reads == size.nonzeroBitCount, "root of \(size)")
            let inclusion = CountingNodeReader(limited)
            _ = try MerkleTree.inclusionProof(index: rng.next() % size, size: size, reader: inclusion)
            #expect(inclusion.reads <= bound, "inclusion in \(size): \(inclusion.reads) reads")
            let consistency = CountingNodeReader(limited)
            _ = try MerkleTree.consistencyProof(first: 1 + rng.next() % size, second: size, reader: consistency)
            #expect(consistency.reads <= bound, "consistency to \(size): \(consistency.reads) reads")
        }
    }

    @Test("a failing store's error reaches the caller from every reading function")
    func readerErrorsPropagate() {
        struct BrokenStore: NodeReader {
            struct Failure: Error {}
            func node(level: Int, index: UInt64) throws -> Hash { throw Failure() }
        }
        #expect(throws: BrokenStore.Failure.self) { try MerkleTree.root(size: 5, reader: BrokenStore()) }
        #expect(throws: BrokenStore.Failure.self) { try MerkleTree.inclusionProof(index: 1, size: 5, reader: BrokenStore()) }
        #expect(throws: BrokenStore.Failure.self) { try MerkleTree.consistencyProof(first: 3, second: 5, reader: BrokenStore()) }
        #expect(throws: BrokenStore.Failure.self) { try MerkleFrontier(size: 5, reader: BrokenStore()) }
        // The empty tree needs no read at all.
        #expect((try? MerkleTree.root(size: 0, reader: BrokenStore())) == MerkleHash.emptyRoot)
        #expect((try? MerkleFrontier(size: 0, reader: BrokenStore())) == MerkleFrontier())
    }

    @Test("split(n) is the largest power of two strictly below n, up to 2^64 − 1")
    func split() {
        for n in 2...2000 as ClosedRange<UInt64> {
            #expect(MerkleTree.split(n) == UInt64(DefinitionalTree.k(Int(n))), "\(n)")
        }
        #expect(MerkleTree.split(UInt64.max) == 1 << 63)
        #expect(MerkleTree.split((1 << 63) + 1) == 1 << 63)
        #expect(MerkleTree.split(1 << 63) == 1 << 62)
    }
}
