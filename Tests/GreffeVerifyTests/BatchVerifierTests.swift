// The batch verifier must be the per-proof verifier, only faster: on every
// claim, valid or mutated in the ways transparency-dev/merkle's
// verify_test.go probes (a flipped bit in any element, the leaf, the index
// ±1, another tree size, a proof cut short or extended), it fails exactly
// when ProofVerifier.verifyInclusion fails, with the same error.

import GreffeCore
@testable import GreffeVerify
import Testing

/// What ProofVerifier says about one claim.
private func reference(_ claim: InclusionClaim, size: UInt64, root: Hash) -> ProofError? {
    do {
        try ProofVerifier.verifyInclusion(index: claim.index, size: size, leafHash: claim.leafHash, proof: claim.proof, root: root)
        return nil
    } catch {
        return error
    }
}

/// Asserts that BatchVerifier agrees with ProofVerifier on every claim, for several thread counts.
private func expectAgreement(
    _ claims: [InclusionClaim], size: UInt64, root: Hash, sourceLocation: SourceLocation = #_sourceLocation
) -> [ProofError?] {
    let expected = claims.map { reference($0, size: size, root: root) }
    for threads in [1, 2, 5] {
        let got = BatchVerifier.verify(claims, treeSize: size, root: root, threads: threads)
        #expect(got.count == claims.count, sourceLocation: sourceLocation)
        for (i, (g, e)) in zip(got, expected).enumerated() where g != e {
            Issue.record(
                "claim \(i) (index \(claims[i].index), \(claims[i].proof.count) hashes, size \(size), threads \(threads)): batch says \(g.map { "\($0.code): \($0.message)" } ?? "verified"), ProofVerifier says \(e.map { "\($0.code): \($0.message)" } ?? "verified")",
                sourceLocation: sourceLocation)
            break
        }
    }
    return expected
}

/// Every way to spoil one valid claim.
private func mutations(of claim: InclusionClaim, rng: inout SplitMix64) -> [InclusionClaim] {
    var out: [InclusionClaim] = []
    for (i, element) in claim.proof.enumerated() {
        var m = claim
        m.proof[i] = element.flippingBit(Int(rng.next() % 256))
        out.append(m)
    }
    var m = claim
    m.leafHash = claim.leafHash.flippingBit(Int(rng.next() % 256))
    out.append(m)
    for delta: Int64 in [-1, 1, 2] where Int64(claim.index) + delta >= 0 {
        m = claim
        m.index = UInt64(Int64(claim.index) + delta)
        out.append(m)
    }
    m = claim
    m.index ^= 1 << 40
    out.append(m)
    if !claim.proof.isEmpty {
        m = claim
        m.proof.removeLast()
        out.append(m)
        m = claim
        m.proof.removeFirst()
        out.append(m)
    }
    m = claim
    m.proof.append(rng.hash())
    out.append(m)
    m = claim
    m.proof.insert(rng.hash(), at: 0)
    out.append(m)
    if claim.proof.count >= 2 {
        m = claim
        m.proof.swapAt(0, claim.proof.count - 1)
        out.append(m)
    }
    return out
}

@Suite("BatchVerifier")
struct BatchVerifierTests {
    @Test("every leaf of every tree up to 130 leaves verifies, and every interior node is hashed exactly once")
    func exhaustiveSmallTrees() {
        var rng = SplitMix64(seed: 7)
        for size in UInt64(1)...130 {
            let tree = MemoryTree(leaves: (0..<size).map { _ in rng.hash() })
            let root = tree.root(size: size)
            let claims = (0..<size).map { InclusionClaim(index: $0, leafHash: tree.levels[0][Int($0)], proof: tree.proof($0, size: size)) }
            let outcome = BatchVerifier.verifyCounting(claims, treeSize: size, root: root, threads: 1)
            #expect(outcome.errors.allSatisfy { $0 == nil }, "size \(size)")
            #expect(outcome.nodeHashes == Int(size) - 1, "size \(size): an RFC 9162 tree has n − 1 interior nodes")
            #expect(outcome.verifiedCount == Int(size))
        }
    }

    @Test("property: agrees with ProofVerifier on valid and mutated claims", arguments: [UInt64(1), 2, 3, 4])
    func propertyAgreement(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        for _ in 0..<12 {
            let size = 1 + rng.next() % (seed == 4 ? 5000 : 300)
            let tree = MemoryTree(leaves: (0..<size).map { _ in rng.hash() })
            let root = tree.root(size: size)
            var claims: [InclusionClaim] = []
            for _ in 0..<40 {
                let index = rng.next() % size
                let valid = InclusionClaim(index: index, leafHash: tree.levels[0][Int(index)], proof: tree.proof(index, size: size))
                claims.append(valid)
                claims.append(contentsOf: mutations(of: valid, rng: &rng))
                claims.append(valid) // duplicates share every node
            }
            claims.shuffle(using: &rng)
            let expected = expectAgreement(claims, size: size, root: root)
            #expect(expected.contains { $0 == nil } && expected.contains { $0 != nil }, "the mix must hold both outcomes")
            // The same claims against other sizes and a wrong root.
            for other in [size + 1, size * 2, max(1, size - 1), size / 2 + 1] {
                _ = expectAgreement(claims, size: other, root: root)
            }
            _ = expectAgreement(claims, size: size, root: root.flippingBit(3))
            _ = expectAgreement(claims, size: 0, root: MerkleHash.emptyRoot)
        }
    }

    @Test("valid claims interleaved with forged ones at the same node still verify")
    func forgedNeighbours() {
        var rng = SplitMix64(seed: 11)
        let size: UInt64 = 1000
        let tree = MemoryTree(leaves: (0..<size).map { _ in rng.hash() })
        let root = tree.root(size: size)
        var claims: [InclusionClaim] = []
        for index in stride(from: UInt64(0), to: size, by: 7) {
            let valid = InclusionClaim(index: index, leafHash: tree.levels[0][Int(index)], proof: tree.proof(index, size: size))
            var forged = valid
            forged.proof[forged.proof.count / 2] = rng.hash()
            claims += [valid, forged, valid]
        }
        let errors = expectAgreement(claims, size: size, root: root)
        for (i, error) in errors.enumerated() {
            #expect((error == nil) == (i % 3 != 1))
        }
    }

    @Test("a large batch on all cores hashes far fewer nodes than proof elements")
    func sharing() {
        var rng = SplitMix64(seed: 3)
        let size: UInt64 = 1 << 14
        let tree = MemoryTree(leaves: (0..<size).map { _ in rng.hash() })
        let root = tree.root(size: size)
        let claims = (0..<20_000).map { _ -> InclusionClaim in
            let index = rng.next() % size
            return InclusionClaim(index: index, leafHash: tree.levels[0][Int(index)], proof: tree.proof(index, size: size))
        }
        let outcome = BatchVerifier.verifyCounting(claims, treeSize: size, root: root, threads: 4)
        #expect(outcome.verifiedCount == claims.count)
        // Distinct nodes ≤ n − 1, plus at most one path per bucket boundary (16 buckets, height 14).
        #expect(outcome.nodeHashes < Int(size) + 16 * 14)
        #expect(outcome.nodeHashes < claims.count * 14 / 10)
    }

    @Test("an empty batch")
    func empty() {
        #expect(BatchVerifier.verify([], treeSize: 5, root: .zero).isEmpty)
    }
}

@Suite("BatchVerifier.proofLength")
struct ProofLengthTests {
    @Test("the closed form equals running §2.1.3.2's steps")
    func closedForm() {
        for size in UInt64(1)...600 {
            for index in 0..<size {
                #expect(BatchVerifier.proofLength(index: index, size: size) == BatchVerifier.proofLengthBySteps(index: index, size: size))
            }
        }
        var rng = SplitMix64(seed: 99)
        for _ in 0..<100_000 {
            let size = 1 + rng.next() >> (rng.next() % 64)
            let index = rng.next() % size
            #expect(BatchVerifier.proofLength(index: index, size: size) == BatchVerifier.proofLengthBySteps(index: index, size: size))
        }
    }
}
