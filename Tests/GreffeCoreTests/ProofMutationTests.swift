// Proof verification under attack, after transparency-dev/merkle's
// proof/verify_test.go: a correct proof verifies, and every corruption of it
// (wrong index or size, garbage before or after, a missing or extra element, a
// flipped bit anywhere, a wrong leaf or root, swapped roots or sizes) fails.
//
// One subtlety the Go suite sidesteps by mutating sizes only by ×2 and /2:
// RFC 9162 verification (§2.1.3.2, §2.1.4.2) looks at the sizes only through
// the *shape* of the proof (how many siblings, on which side, which of them
// fold into the first root). Two sizes whose shapes coincide for the same
// index — leaf 5 in trees of 7 and 8 leaves, say — accept the same proof
// against the same root; no verifier can tell them apart. So a size mutation
// must be rejected exactly when the shape the RFC's recursive definition gives
// for the mutated size differs, and accepted when it is the same. The shape is
// computed below straight from PATH and SUBPROOF (§2.1.3.1, §2.1.4.1), not
// from the verifier's bit arithmetic.

import Foundation
@testable import GreffeCore
import Testing

// MARK: - Shapes from the RFC's recursive definitions

/// k of RFC 9162 §2.1.1: the largest power of two smaller than n (n > 1), by counting, not bit tricks.
private func definitionSplit(_ n: UInt64) -> UInt64 {
    var k: UInt64 = 1
    while k < n - k { k *= 2 } // k * 2 < n, without overflowing near 2^64
    return k
}

/// For PATH(m, D[n]), leaf to root: true where the sibling is on the left.
private func inclusionShape(_ m: UInt64, _ n: UInt64) -> [Bool] {
    if n <= 1 { return [] }
    let k = definitionSplit(n)
    return m < k ? inclusionShape(m, k) + [false] : inclusionShape(m - k, n - k) + [true]
}

/// For SUBPROOF(m, D[n], b): where the recursion bottoms out (the old tree
/// itself when b, a proof node otherwise), then each sibling, leaf to root:
/// "R" extends only the new tree, "L" folds into both.
private func consistencyShape(_ m: UInt64, _ n: UInt64, complete: Bool = true) -> [String] {
    if m == n { return [complete ? "old root" : "node"] }
    let k = definitionSplit(n)
    return m <= k
        ? consistencyShape(m, k, complete: complete) + ["R"]
        : consistencyShape(m - k, n - k, complete: false) + ["L"]
}

// MARK: - Probes

private struct InclusionProbe: CustomStringConvertible {
    var name: String
    var index: UInt64
    var size: UInt64
    var leafHash: Hash
    var proof: [Hash]
    var root: Hash
    /// Whether RFC 9162 verification must accept it (see the file comment).
    var mustVerify = false

    var verifies: Bool {
        (try? ProofVerifier.verifyInclusion(index: index, size: size, leafHash: leafHash, proof: proof, root: root)) != nil
    }

    var description: String { "\(name): index \(index), size \(size), \(proof.count) hashes" }
}

private struct ConsistencyProbe: CustomStringConvertible {
    var name: String
    var first: UInt64
    var second: UInt64
    var firstRoot: Hash
    var secondRoot: Hash
    var proof: [Hash]
    var mustVerify = false

    var verifies: Bool {
        (try? ProofVerifier.verifyConsistency(
            first: first, second: second, firstRoot: firstRoot, secondRoot: secondRoot, proof: proof)) != nil
    }

    var description: String { "\(name): \(first) → \(second), \(proof.count) hashes" }
}

/// Every corruption of a correct inclusion proof. `flipAllBits` flips each of
/// the 256 bits of every element in turn; otherwise one random bit per element.
private func corruptInclusion(_ good: InclusionProbe, rng: inout SplitMix64, flipAllBits: Bool = false) -> [InclusionProbe] {
    var probes: [InclusionProbe] = []
    func add(_ name: String, _ change: (inout InclusionProbe) -> Void) {
        var probe = good
        probe.name = name
        probe.mustVerify = false
        change(&probe)
        probes.append(probe)
    }
    let (index, size, proof, root) = (good.index, good.size, good.proof, good.root)

    // Wrong leaf index. Within one tree each index has its own shape, so these always fail.
    if index > 0 { add("index - 1") { $0.index = index - 1 } }
    add("index + 1") { $0.index = index + 1 }
    add("index ^ 2") { $0.index = index ^ 2 }
    add("index == size") { $0.index = size }
    // Wrong tree size: rejected unless the definition gives the very same shape.
    for (name, mutated) in [("size - 1", size - 1), ("size + 1", size + 1), ("size * 2", size * 2), ("size / 2", size / 2)] {
        add(name) {
            $0.size = mutated
            $0.mustVerify = index < mutated && inclusionShape(index, mutated) == inclusionShape(index, size)
        }
    }
    // Wrong leaf or root.
    add("wrong leaf") { $0.leafHash = good.leafHash.flippingBit(Int(rng.next() % 256)) }
    add("empty-tree hash as leaf") { $0.leafHash = MerkleHash.emptyRoot }
    add("wrong root") { $0.root = root.flippingBit(Int(rng.next() % 256)) }
    add("empty-tree root") { $0.root = MerkleHash.emptyRoot }
    if good.leafHash != root { add("leaf and root swapped") { $0.leafHash = root; $0.root = good.leafHash } }
    // Garbage at the end and at the front.
    let garbage = rng.hash()
    add("trailing garbage") { $0.proof = proof + [garbage] }
    add("trailing root") { $0.proof = proof + [root] }
    add("trailing leaf") { $0.proof = proof + [good.leafHash] }
    add("preceding garbage") { $0.proof = [garbage] + proof }
    add("preceding root") { $0.proof = [root] + proof }
    add("preceding leaf") { $0.proof = [good.leafHash] + proof }
    if !proof.isEmpty {
        add("last element removed") { $0.proof = Array(proof.dropLast()) }
        add("first element removed") { $0.proof = Array(proof.dropFirst()) }
        add("first element duplicated") { $0.proof = [proof[0]] + proof }
    }
    if proof.count > 1 {
        add("element inserted after the first") { $0.proof = [proof[0], garbage] + proof.dropFirst() }
        add("first two elements swapped") { $0.proof = [proof[1], proof[0]] + proof.dropFirst(2) }
        add("proof reversed") { $0.proof = proof.reversed() }
    }
    // A single flipped bit in each element.
    for i in proof.indices {
        let bits = flipAllBits ? Array(0..<256) : [Int(rng.next() % 256)]
        for bit in bits {
            add("proof[\(i)] bit \(bit) flipped") { $0.proof[i] = proof[i].flippingBit(bit) }
        }
    }
    return probes
}

/// Every corruption of a correct consistency proof between 0 < first < second.
private func corruptConsistency(_ good: ConsistencyProbe, rng: inout SplitMix64, flipAllBits: Bool = false) -> [ConsistencyProbe] {
    var probes: [ConsistencyProbe] = []
    func add(_ name: String, _ change: (inout ConsistencyProbe) -> Void) {
        var probe = good
        probe.name = name
        probe.mustVerify = false
        change(&probe)
        probes.append(probe)
    }
    let (first, second, root1, root2, proof) = (good.first, good.second, good.firstRoot, good.secondRoot, good.proof)
    precondition(0 < first && first < second && !proof.isEmpty)

    // Wrong sizes: rejected unless the definition gives the very same shape.
    let sizeMutations: [(String, UInt64, UInt64)] = [
        ("first - 1", first - 1, second), ("first + 1", first + 1, second), ("first ^ 2", first ^ 2, second),
        ("second - 1", first, second - 1), ("second + 1", first, second + 1),
        ("second * 2", first, second * 2), ("second / 2", first, second / 2),
        ("first and second swapped", second, first), ("first == second", second, second), ("first == 0", 0, second),
    ]
    for (name, m, n) in sizeMutations {
        add(name) {
            $0.first = m
            $0.second = n
            $0.mustVerify = 0 < m && m < n && consistencyShape(m, n) == consistencyShape(first, second)
        }
    }
    add("first/second and roots swapped") { $0.first = second; $0.second = first; $0.firstRoot = root2; $0.secondRoot = root1 }
    // Wrong roots.
    add("wrong first root") { $0.firstRoot = root1.flippingBit(Int(rng.next() % 256)) }
    add("wrong second root") { $0.secondRoot = root2.flippingBit(Int(rng.next() % 256)) }
    add("roots swapped") { $0.firstRoot = root2; $0.secondRoot = root1 }
    add("first root twice") { $0.secondRoot = root1 }
    add("second root twice") { $0.firstRoot = root2 }
    add("empty-tree first root") { $0.firstRoot = MerkleHash.emptyRoot }
    // Wrong proof length or content.
    let garbage = rng.hash()
    add("empty proof") { $0.proof = [] }
    add("trailing garbage") { $0.proof = proof + [garbage] }
    add("trailing first root") { $0.proof = proof + [root1] }
    add("trailing second root") { $0.proof = proof + [root2] }
    add("preceding garbage") { $0.proof = [garbage] + proof }
    add("preceding first root") { $0.proof = [root1] + proof }
    add("preceding second root") { $0.proof = [root2] + proof }
    add("preceding proof[0]") { $0.proof = [proof[0]] + proof }
    add("last element removed") { $0.proof = Array(proof.dropLast()) }
    add("first element removed") { $0.proof = Array(proof.dropFirst()) }
    if proof.count > 1 {
        add("element inserted after the first") { $0.proof = [proof[0], garbage] + proof.dropFirst() }
        add("first two elements swapped") { $0.proof = [proof[1], proof[0]] + proof.dropFirst(2) }
        add("proof reversed") { $0.proof = proof.reversed() }
    }
    for i in proof.indices {
        let bits = flipAllBits ? Array(0..<256) : [Int(rng.next() % 256)]
        for bit in bits {
            add("proof[\(i)] bit \(bit) flipped") { $0.proof[i] = proof[i].flippingBit(bit) }
        }
    }
    return probes
}

/// A random tree with every complete node stored and the root of every prefix.
private struct RandomTree {
    let leafHashes: [Hash]
    let reader: MemoryNodeReader
    /// roots[n] is the root of the first n leaves.
    let roots: [Hash]

    init(leaves count: Int, rng: inout SplitMix64) {
        leafHashes = randomEntries(count: count, rng: &rng).map { MerkleHash.leaf($0) }
        var reader = MemoryNodeReader()
        var roots = [reader.frontier.root]
        for leaf in leafHashes {
            reader.append(leaf)
            roots.append(reader.frontier.root)
        }
        self.reader = reader
        self.roots = roots
    }

    func inclusion(_ index: UInt64, _ size: UInt64) throws -> InclusionProbe {
        InclusionProbe(
            name: "correct proof", index: index, size: size, leafHash: leafHashes[Int(index)],
            proof: try MerkleTree.inclusionProof(index: index, size: size, reader: reader.limited(to: size)),
            root: roots[Int(size)], mustVerify: true)
    }

    func consistency(_ first: UInt64, _ second: UInt64) throws -> ConsistencyProbe {
        ConsistencyProbe(
            name: "correct proof", first: first, second: second, firstRoot: roots[Int(first)], secondRoot: roots[Int(second)],
            proof: try MerkleTree.consistencyProof(first: first, second: second, reader: reader.limited(to: second)),
            mustVerify: true)
    }
}

/// (index, size) pairs: every pair in small trees, then random ones with the
/// interesting indices (first, last, around powers of two) over-represented.
private func inclusionPairs(maxSize: UInt64, exhaustiveUpTo: UInt64, random: Int, rng: inout SplitMix64) -> [(UInt64, UInt64)] {
    var pairs: [(UInt64, UInt64)] = []
    for size in 1...exhaustiveUpTo { for index in 0..<size { pairs.append((index, size)) } }
    for _ in 0..<random {
        let size = 1 + rng.next() % maxSize
        let index: UInt64
        switch rng.next() % 4 {
        case 0: index = 0
        case 1: index = size - 1
        case 2: index = min(size - 1, UInt64(1) << (rng.next() % UInt64(64 - size.leadingZeroBitCount)))
        default: index = rng.next() % size
        }
        pairs.append((index, size))
    }
    return pairs
}

@Suite("Proof verification: known answers and mutation probes")
struct ProofMutationTests {
    @Test("inclusion: correct proofs verify; every corruption fails (shape-equal size mutations aside)")
    func inclusionMutations() throws {
        var rng = SplitMix64(seed: 0x1_9162)
        let tree = RandomTree(leaves: 1100, rng: &rng)
        var misjudged: [String] = []
        var (sizeProbes, sizeProbesVerified, probesRun) = (0, 0, 0)
        for (index, size) in inclusionPairs(maxSize: 1100, exhaustiveUpTo: 40, random: 600, rng: &rng) {
            let good = try tree.inclusion(index, size)
            #expect(good.verifies, "\(good)")
            for probe in corruptInclusion(good, rng: &rng) {
                probesRun += 1
                if probe.verifies != probe.mustVerify {
                    misjudged.append("\(probe) [proof of \(index) in \(size)]: verified \(probe.verifies), expected \(probe.mustVerify)")
                }
                if probe.name.hasPrefix("size") {
                    sizeProbes += 1
                    if probe.mustVerify { sizeProbesVerified += 1 }
                }
            }
        }
        let misjudgedCount = misjudged.count // not the array itself: #expect would print all of it
        #expect(misjudgedCount == 0, "of \(probesRun) probes, e.g. \(misjudged.prefix(10))")
        // The shape exception is real, but it must not swallow the size probes.
        #expect(sizeProbesVerified > 0 && sizeProbesVerified * 2 < sizeProbes, "\(sizeProbesVerified) of \(sizeProbes)")
    }

    @Test("consistency: correct proofs verify; every corruption fails (shape-equal size mutations aside)")
    func consistencyMutations() throws {
        var rng = SplitMix64(seed: 0x2_9162)
        let tree = RandomTree(leaves: 1100, rng: &rng)
        var pairs: [(UInt64, UInt64)] = []
        for second in 2...40 as ClosedRange<UInt64> { for first in 1..<second { pairs.append((first, second)) } }
        for _ in 0..<600 {
            let second = 2 + rng.next() % 1099
            let first: UInt64
            switch rng.next() % 4 {
            case 0: first = 1
            case 1: first = second - 1
            case 2: first = min(second - 1, UInt64(1) << (rng.next() % UInt64(64 - second.leadingZeroBitCount)))
            default: first = 1 + rng.next() % (second - 1)
            }
            pairs.append((first, second))
        }
        var misjudged: [String] = []
        var probesRun = 0
        for (first, second) in pairs {
            let good = try tree.consistency(first, second)
            #expect(good.verifies, "\(good)")
            for probe in corruptConsistency(good, rng: &rng) {
                probesRun += 1
                if probe.verifies != probe.mustVerify {
                    misjudged.append("\(probe) [proof \(first) → \(second)]: verified \(probe.verifies), expected \(probe.mustVerify)")
                }
            }
        }
        let misjudgedCount = misjudged.count // not the array itself: #expect would print all of it
        #expect(misjudgedCount == 0, "of \(probesRun) probes, e.g. \(misjudged.prefix(10))")
    }

    @Test("the shape oracle is not vacuous: leaf 5 of 8 really verifies as leaf 5 of 7 (RFC 9162 cannot tell)")
    func shapeExceptionIsReal() throws {
        var rng = SplitMix64(seed: 3)
        let tree = RandomTree(leaves: 8, rng: &rng)
        let good = try tree.inclusion(5, 8)
        #expect(inclusionShape(5, 7) == inclusionShape(5, 8))
        #expect((try? ProofVerifier.verifyInclusion(index: 5, size: 7, leafHash: good.leafHash, proof: good.proof, root: good.root)) != nil)
        // And the same for consistency: 6 → 8 and 6 → 7 share a shape.
        let consistency = try tree.consistency(6, 8)
        #expect(consistencyShape(6, 7) == consistencyShape(6, 8))
        #expect((try? ProofVerifier.verifyConsistency(
            first: 6, second: 7, firstRoot: consistency.firstRoot, secondRoot: consistency.secondRoot, proof: consistency.proof)) != nil)
    }

    // The RFC 6962 reference test data of the certificate-transparency
    // implementations (as carried by transparency-dev/merkle's verify_test.go):
    // eight leaves, the roots of every prefix, some proofs. Hex, SHA-256.
    private static let referenceLeaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
    private static let referenceRoots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    /// (leaf index, tree size, proof).
    private static let referenceInclusion: [(UInt64, UInt64, [String])] = [
        (0, 8, [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ]),
        (5, 8, [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]),
        (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (1, 5, [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ]),
    ]
    /// (first, second, proof).
    private static let referenceConsistency: [(UInt64, UInt64, [String])] = [
        (1, 1, []),
        (1, 8, [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ]),
        (6, 8, [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]),
        (2, 5, [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ]),
        (6, 7, [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]),
    ]

    private static func hex(_ text: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(try #require(UInt8(text[index..<next], radix: 16)))
            index = next
        }
        return bytes
    }

    private static func hexHash(_ text: String) throws -> Hash {
        try #require(Hash(bytes: try hex(text)))
    }

    @Test("RFC 6962 reference data: roots, proofs equal the reference, and every bit of every element matters")
    func referenceVectors() throws {
        var reader = MemoryNodeReader()
        for (size, (leaf, root)) in zip(Self.referenceLeaves, Self.referenceRoots).enumerated() {
            reader.append(MerkleHash.leaf(try Self.hex(leaf)))
            #expect(reader.frontier.root == (try Self.hexHash(root)), "root of \(size + 1)")
            #expect(try MerkleTree.root(size: UInt64(size + 1), reader: reader.limited(to: UInt64(size + 1))) == (try Self.hexHash(root)))
        }
        var rng = SplitMix64(seed: 6962)
        for (index, size, expected) in Self.referenceInclusion {
            let proof = try MerkleTree.inclusionProof(index: index, size: size, reader: reader.limited(to: size))
            #expect(proof == (try expected.map(Self.hexHash)), "inclusion \(index) in \(size)")
            let good = InclusionProbe(
                name: "reference", index: index, size: size, leafHash: MerkleHash.leaf(try Self.hex(Self.referenceLeaves[Int(index)])),
                proof: proof, root: try Self.hexHash(Self.referenceRoots[Int(size) - 1]), mustVerify: true)
            #expect(good.verifies)
            let misjudged = corruptInclusion(good, rng: &rng, flipAllBits: true).filter { $0.verifies != $0.mustVerify }
            #expect(misjudged.count == 0, "inclusion \(index) in \(size): \(misjudged.prefix(10))")
        }
        for (first, second, expected) in Self.referenceConsistency {
            let proof = try MerkleTree.consistencyProof(first: first, second: second, reader: reader.limited(to: second))
            #expect(proof == (try expected.map(Self.hexHash)), "consistency \(first) → \(second)")
            let good = ConsistencyProbe(
                name: "reference", first: first, second: second,
                firstRoot: try Self.hexHash(Self.referenceRoots[Int(first) - 1]),
                secondRoot: try Self.hexHash(Self.referenceRoots[Int(second) - 1]), proof: proof, mustVerify: true)
            #expect(good.verifies)
            guard first < second else { continue }
            let misjudged = corruptConsistency(good, rng: &rng, flipAllBits: true).filter { $0.verifies != $0.mustVerify }
            #expect(misjudged.count == 0, "consistency \(first) → \(second): \(misjudged.prefix(10))")
        }
    }

    // MARK: Edge cases, handled up front by the verifier

    @Test("inclusion edge cases: index == size, size 0, index beyond size, proofs for a single leaf")
    func inclusionEdgeCases() throws {
        var rng = SplitMix64(seed: 7)
        let leaf = rng.hash()
        let other = rng.hash()

        func code(_ index: UInt64, _ size: UInt64, _ proof: [Hash], root: Hash, leafHash: Hash? = nil) -> ProofError.Code? {
            do {
                try ProofVerifier.verifyInclusion(index: index, size: size, leafHash: leafHash ?? leaf, proof: proof, root: root)
                return nil
            } catch {
                return error.code
            }
        }

        // Size 0: nothing is included in the empty tree, whatever the root.
        #expect(code(0, 0, [], root: MerkleHash.emptyRoot) == .indexOutOfRange)
        #expect(code(0, 0, [], root: leaf) == .indexOutOfRange)
        #expect(code(1, 0, [], root: leaf) == .indexOutOfRange)
        // index == size and beyond, including a proof that would be right for index size-1.
        var reader = MemoryNodeReader()
        for _ in 0..<10 { reader.append(rng.hash()) }
        for size in 1...10 as ClosedRange<UInt64> {
            let limited = reader.limited(to: size)
            let root = try MerkleTree.root(size: size, reader: limited)
            let lastProof = try MerkleTree.inclusionProof(index: size - 1, size: size, reader: limited)
            let lastLeaf = try limited.node(level: 0, index: size - 1)
            #expect(code(size - 1, size, lastProof, root: root, leafHash: lastLeaf) == nil)
            #expect(code(size, size, lastProof, root: root, leafHash: lastLeaf) == .indexOutOfRange)
            #expect(code(size + 1, size, lastProof, root: root, leafHash: lastLeaf) == .indexOutOfRange)
            #expect(code(UInt64.max, size, lastProof, root: root, leafHash: lastLeaf) == .indexOutOfRange)
        }
        // One leaf: the root is the leaf and the proof is empty (RFC 9162 §2.1.3.2 step 6).
        #expect(code(0, 1, [], root: leaf) == nil)
        #expect((try? ProofVerifier.rootFromInclusionProof(index: 0, size: 1, leafHash: leaf, proof: [])) == leaf)
        #expect(code(0, 1, [], root: other) == .rootMismatch)
        #expect(code(0, 1, [other], root: leaf) == .wrongProofLength)
        #expect(code(0, 1, [other], root: MerkleHash.node(leaf, other)) == .wrongProofLength)
        // Two leaves: one-element proofs only.
        #expect(code(0, 2, [other], root: MerkleHash.node(leaf, other)) == nil)
        #expect(code(1, 2, [other], root: MerkleHash.node(other, leaf)) == nil)
        #expect(code(0, 2, [], root: leaf) == .wrongProofLength)
        #expect(code(0, 2, [other, other], root: MerkleHash.node(leaf, other)) == .wrongProofLength)
        // Extremes of the index space must be handled without overflow or traps.
        // The lengths come from the definition: the last leaf of 2^64 − 1 is alone on
        // its level all the way up (63 siblings); leaf 0 has a sibling at every level (64).
        let deep = (0..<70).map { _ in rng.hash() }
        #expect(inclusionShape(UInt64.max - 1, UInt64.max).count == 63)
        #expect(inclusionShape(0, UInt64.max).count == 64)
        #expect(code(UInt64.max, UInt64.max, Array(deep.prefix(64)), root: leaf) == .indexOutOfRange)
        for (index, length) in [(UInt64.max - 1, 63), (0, 64), (1 << 63, 64), ((1 << 63) - 1, 64)] as [(UInt64, Int)] {
            #expect(inclusionShape(index, UInt64.max).count == length)
            #expect(code(index, UInt64.max, Array(deep.prefix(length)), root: leaf) == .rootMismatch, "\(index)")
            #expect(code(index, UInt64.max, Array(deep.prefix(length - 1)), root: leaf) == .wrongProofLength, "\(index)")
            #expect(code(index, UInt64.max, Array(deep.prefix(length + 1)), root: leaf) == .wrongProofLength, "\(index)")
        }
    }

    @Test("consistency edge cases: first == second, first == 0, first > second, empty proofs")
    func consistencyEdgeCases() throws {
        var rng = SplitMix64(seed: 8)
        let a = rng.hash()
        let b = rng.hash()

        func code(_ first: UInt64, _ second: UInt64, _ firstRoot: Hash, _ secondRoot: Hash, _ proof: [Hash]) -> ProofError.Code? {
            do {
                try ProofVerifier.verifyConsistency(first: first, second: second, firstRoot: firstRoot, secondRoot: secondRoot, proof: proof)
                return nil
            } catch {
                return error.code
            }
        }

        // Equal sizes: the proof is empty and the roots are equal (RFC 9162 §2.1.4.2 step 1 covers only first < second).
        for size in [0, 1, 2, 7, 8, 1 << 40, UInt64.max] as [UInt64] {
            #expect(code(size, size, a, a, []) == nil, "\(size) == \(size)")
            #expect(code(size, size, a, b, []) == .rootMismatch, "different roots at \(size)")
            #expect(code(size, size, a, a, [a]) == .wrongProofLength, "non-empty proof at \(size)")
            #expect(code(size, size, a, a, [b, b]) == .wrongProofLength, "non-empty proof at \(size)")
        }
        // From the empty tree: every tree extends it; there is nothing to prove, but the first root must be MTH({}).
        #expect(code(0, 1, MerkleHash.emptyRoot, a, []) == nil)
        #expect(code(0, UInt64.max, MerkleHash.emptyRoot, b, []) == nil)
        #expect(code(0, 5, a, b, []) == .firstRootMismatch)
        #expect(code(0, 5, MerkleHash.emptyRoot, b, [a]) == .wrongProofLength)
        #expect(code(0, 5, MerkleHash.emptyRoot, MerkleHash.emptyRoot, [MerkleHash.emptyRoot]) == .wrongProofLength)
        // Going back in time.
        #expect(code(1, 0, a, b, []) == .sizeOutOfRange)
        #expect(code(2, 1, a, b, [a]) == .sizeOutOfRange)
        #expect(code(UInt64.max, 0, a, b, []) == .sizeOutOfRange)
        // A real step forward needs a proof (§2.1.4.2: "If consistency_path is an empty array, stop and fail").
        #expect(code(1, 2, a, b, []) == .wrongProofLength)
        #expect(code(3, 4, a, b, []) == .wrongProofLength)
        // One leaf to two: the proof is the new leaf.
        #expect(code(1, 2, a, MerkleHash.node(a, b), [b]) == nil)
        #expect(code(1, 2, a, MerkleHash.node(b, a), [b]) == .secondRootMismatch)
        #expect(code(1, 2, a, MerkleHash.node(a, b), [b, b]) == .wrongProofLength)
        // Extremes of the size space must be handled without overflow or traps.
        let deep = (0..<70).map { _ in rng.hash() }
        for (first, second) in [(UInt64.max - 1, UInt64.max), (1 << 63, UInt64.max), (1, UInt64.max), (UInt64.max >> 1, 1 << 63)] {
            for count in [0, 1, 2, 63, 64, 65, 70] {
                #expect(code(first, second, a, b, Array(deep.prefix(count))) != nil, "\(first) → \(second), \(count) hashes")
            }
        }
    }
}
