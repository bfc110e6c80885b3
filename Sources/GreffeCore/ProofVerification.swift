/// Why a proof did not verify. `code` is stable for tests and reports.
public struct ProofError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case indexOutOfRange
        case sizeOutOfRange
        case wrongProofLength
        case rootMismatch
        case firstRootMismatch
        case secondRootMismatch
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// RFC 9162 §2.1.3.2 and §2.1.4.2 verification, step for step.
public enum ProofVerifier {
    /// The root an inclusion proof leads to; throws when the proof's length does not fit the position.
    public static func rootFromInclusionProof(
        index: UInt64, size: UInt64, leafHash: Hash, proof: [Hash]
    ) throws(ProofError) -> Hash {
        guard index < size else {
            throw ProofError(.indexOutOfRange, "leaf index \(index) is not below tree size \(size)")
        }
        var fn = index
        var sn = size - 1
        var r = leafHash
        for p in proof {
            guard sn != 0 else {
                throw ProofError(.wrongProofLength, "inclusion proof for leaf \(index) in tree \(size) is too long")
            }
            if fn & 1 == 1 || fn == sn {
                r = MerkleHash.node(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = MerkleHash.node(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else {
            throw ProofError(.wrongProofLength, "inclusion proof for leaf \(index) in tree \(size) is too short")
        }
        return r
    }

    public static func verifyInclusion(
        index: UInt64, size: UInt64, leafHash: Hash, proof: [Hash], root: Hash
    ) throws(ProofError) {
        let computed = try rootFromInclusionProof(index: index, size: size, leafHash: leafHash, proof: proof)
        guard computed == root else {
            throw ProofError(.rootMismatch, "inclusion proof for leaf \(index) leads to \(computed), not to the root \(root) of tree \(size)")
        }
    }

    /// Checks that the tree of size `first` with root `firstRoot` is a prefix of
    /// the tree of size `second` with root `secondRoot`.
    public static func verifyConsistency(
        first: UInt64, second: UInt64, firstRoot: Hash, secondRoot: Hash, proof: [Hash]
    ) throws(ProofError) {
        guard first <= second else {
            throw ProofError(.sizeOutOfRange, "first size \(first) is larger than second size \(second)")
        }
        if first == second {
            guard proof.isEmpty else {
                throw ProofError(.wrongProofLength, "consistency proof between equal sizes must be empty")
            }
            guard firstRoot == secondRoot else {
                throw ProofError(.rootMismatch, "two different roots for the same tree size \(first)")
            }
            return
        }
        if first == 0 {
            // Every tree extends the empty tree; RFC 9162 defines no proof for it.
            guard proof.isEmpty else {
                throw ProofError(.wrongProofLength, "consistency proof from the empty tree must be empty")
            }
            guard firstRoot == MerkleHash.emptyRoot else {
                throw ProofError(.firstRootMismatch, "the root of the empty tree is not \(firstRoot)")
            }
            return
        }
        guard !proof.isEmpty else {
            throw ProofError(.wrongProofLength, "consistency proof from \(first) to \(second) is empty")
        }
        var path = proof[...]
        // Step 1: a power-of-two first tree is itself a node of the second one.
        if first & (first - 1) == 0 {
            path = [firstRoot] + path
        }
        var fn = first - 1
        var sn = second - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path.first!
        var sr = fr
        for c in path.dropFirst() {
            guard sn != 0 else {
                throw ProofError(.wrongProofLength, "consistency proof from \(first) to \(second) is too long")
            }
            if fn & 1 == 1 || fn == sn {
                fr = MerkleHash.node(c, fr)
                sr = MerkleHash.node(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = MerkleHash.node(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else {
            throw ProofError(.wrongProofLength, "consistency proof from \(first) to \(second) is too short")
        }
        guard fr == firstRoot else {
            throw ProofError(.firstRootMismatch, "consistency proof does not lead to the root of tree \(first)")
        }
        guard sr == secondRoot else {
            throw ProofError(.secondRootMismatch, "consistency proof does not lead to the root of tree \(second)")
        }
    }
}
