import Crypto

/// A COSE Receipt (draft-ietf-cose-merkle-tree-proofs, now RFC 9942) of
/// inclusion for one ledger entry: a COSE_Sign1 (RFC 9052 §4.2, tag 18) whose
/// detached payload is the root of the signed checkpoint's tree, with the
/// RFC 9162 inclusion proof in the unprotected header. The exact bytes are
/// specified in `Schemas/cose-receipt.md`.
///
/// Greffe issues one form only, and the verifier accepts that form only
/// (deterministic CBOR, exactly these header members): anything added,
/// removed or reordered is refused rather than ignored.
public struct COSEReceipt: Sendable, Equatable {
    /// COSE header labels (RFC 9052 §3.1; draft §4 / IANA COSE Header Parameters).
    public enum Label {
        public static let alg: Int64 = 1
        public static let kid: Int64 = 4
        public static let vds: Int64 = 395
        public static let vdp: Int64 = 396
        /// Inside `vdp`: the inclusion proofs (draft §5.2, RFC9162_SHA256).
        public static let inclusionProofs: Int64 = -1
    }
    /// EdDSA (RFC 9053 §2.2); the key is Ed25519 (RFC 8032).
    public static let algorithmEdDSA: Int64 = -8
    /// The verifiable data structure RFC9162_SHA256 (draft §5).
    public static let vdsRFC9162SHA256: Int64 = 1
    public static let coseSign1Tag: UInt64 = 18
    /// Receipts are small (a logarithmic proof); anything larger is refused before decoding.
    public static let maxBytes = 16 << 10

    public var treeSize: UInt64
    public var leafIndex: UInt64
    public var inclusionPath: [Hash]
    /// The signed-note key ID of the signing key (4 bytes, big-endian) as `kid`.
    public var keyID: UInt32
    public var signature: [UInt8]

    public init(treeSize: UInt64, leafIndex: UInt64, inclusionPath: [Hash], keyID: UInt32, signature: [UInt8]) {
        self.treeSize = treeSize
        self.leafIndex = leafIndex
        self.inclusionPath = inclusionPath
        self.keyID = keyID
        self.signature = signature
    }

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public enum Code: String, Sendable {
            case malformed, unknownKey, badSignature, proofMismatch
        }
        public let code: Code
        public let description: String
        init(_ code: Code, _ description: String) {
            self.code = code
            self.description = description
        }
    }

    // MARK: - Issuing

    /// Signs a receipt for `leafIndex` in the tree of `treeSize` whose root is `root`, with `signer`.
    /// The caller supplies the proof from its tree; it is checked against nothing here.
    public static func issue(treeSize: UInt64, leafIndex: UInt64, inclusionPath: [Hash], root: Hash, signer: NoteSigner) throws -> COSEReceipt {
        let protected = protectedHeader(keyID: signer.keyID).encoded
        let signature = try signer.privateKey.signature(for: toBeSigned(protected: protected, root: root))
        return COSEReceipt(treeSize: treeSize, leafIndex: leafIndex, inclusionPath: inclusionPath, keyID: signer.keyID, signature: Array(signature))
    }

    /// The receipt's bytes: `18([protected, unprotected, nil, signature])`.
    public var encoded: [UInt8] {
        let proof = CBOR.array([.unsigned(treeSize), .unsigned(leafIndex), .array(inclusionPath.map { .bytes($0.bytes) })])
        let unprotected = CBOR.map([
            .init(.int(Label.vdp), .map([.init(.int(Label.inclusionProofs), .array([.bytes(proof.encoded)]))]))
        ])
        return CBOR.tagged(
            COSEReceipt.coseSign1Tag,
            .array([.bytes(COSEReceipt.protectedHeader(keyID: keyID).encoded), unprotected, .null, .bytes(signature)])
        ).encoded
    }

    static func protectedHeader(keyID: UInt32) -> CBOR {
        let kid = (0..<4).map { UInt8(truncatingIfNeeded: keyID >> (24 - 8 * UInt32($0))) }
        return .map([
            .init(.int(Label.alg), .int(algorithmEdDSA)),
            .init(.int(Label.kid), .bytes(kid)),
            .init(.int(Label.vds), .int(vdsRFC9162SHA256)),
        ])
    }

    /// RFC 9052 §4.4 Sig_structure for COSE_Sign1 with a detached payload: the root.
    static func toBeSigned(protected: [UInt8], root: Hash) -> [UInt8] {
        CBOR.array([.text("Signature1"), .bytes(protected), .bytes([]), .bytes(root.bytes)]).encoded
    }

    // MARK: - Parsing and verification

    /// Parses the one form Greffe issues; anything else is `malformed` with the reason.
    public init(parsing bytes: some Collection<UInt8>) throws(Failure) {
        guard bytes.count <= COSEReceipt.maxBytes else { throw Failure(.malformed, "a receipt is at most \(COSEReceipt.maxBytes) bytes; this one has \(bytes.count)") }
        let item: CBOR
        do { item = try CBOR(decoding: bytes) } catch { throw Failure(.malformed, "not deterministic CBOR: \(error)") }
        guard case .tagged(COSEReceipt.coseSign1Tag, .array(let parts)) = item else {
            throw Failure(.malformed, "not a tagged COSE_Sign1: expected tag 18 around an array")
        }
        guard parts.count == 4 else { throw Failure(.malformed, "a COSE_Sign1 has 4 members, this one \(parts.count)") }
        guard case .bytes(let protectedBytes) = parts[0] else { throw Failure(.malformed, "the protected header is not a byte string") }
        let protected: CBOR
        do { protected = try CBOR(decoding: protectedBytes) } catch { throw Failure(.malformed, "protected header: \(error)") }
        guard case .map(let members) = protected else { throw Failure(.malformed, "the protected header is not a map") }
        let labels = members.map { $0.key.int64 }
        guard labels == [Label.alg, Label.kid, Label.vds] else {
            throw Failure(.malformed, "the protected header must hold exactly alg (1), kid (4) and vds (395); it holds labels \(members.map { describe($0.key) })")
        }
        guard members[0].value.int64 == COSEReceipt.algorithmEdDSA else {
            throw Failure(.malformed, "alg must be EdDSA (-8), not \(describe(members[0].value))")
        }
        guard case .bytes(let kid) = members[1].value, kid.count == 4 else { throw Failure(.malformed, "kid must be the 4-byte signed-note key ID") }
        guard members[2].value.int64 == COSEReceipt.vdsRFC9162SHA256 else {
            throw Failure(.malformed, "vds must be RFC9162_SHA256 (1), not \(describe(members[2].value))")
        }
        guard case .map(let unprotected) = parts[1], unprotected.count == 1, unprotected[0].key.int64 == Label.vdp,
            case .map(let proofs) = unprotected[0].value
        else { throw Failure(.malformed, "the unprotected header must hold exactly vdp (396), a map") }
        guard proofs.count == 1, proofs[0].key.int64 == Label.inclusionProofs, case .array(let inclusionProofs) = proofs[0].value else {
            throw Failure(.malformed, "vdp must hold exactly inclusion proofs (-1), an array")
        }
        guard inclusionProofs.count == 1, case .bytes(let proofBytes) = inclusionProofs[0] else {
            throw Failure(.malformed, "a Greffe receipt carries exactly one inclusion proof, as a byte string")
        }
        let proof: CBOR
        do { proof = try CBOR(decoding: proofBytes) } catch { throw Failure(.malformed, "inclusion proof: \(error)") }
        guard case .array(let fields) = proof, fields.count == 3, case .unsigned(let treeSize) = fields[0], case .unsigned(let leafIndex) = fields[1],
            case .array(let path) = fields[2]
        else { throw Failure(.malformed, "the inclusion proof must be [tree_size, leaf_index, [path…]]") }
        var hashes: [Hash] = []
        for (position, element) in path.enumerated() {
            guard case .bytes(let raw) = element, raw.count == 32, let hash = Hash(bytes: raw) else {
                throw Failure(.malformed, "inclusion path element \(position) is not a 32-byte hash")
            }
            hashes.append(hash)
        }
        guard parts[2] == .null else { throw Failure(.malformed, "the payload must be detached (nil): it is the tree root") }
        guard case .bytes(let signature) = parts[3], signature.count == 64 else { throw Failure(.malformed, "the signature must be 64 bytes (Ed25519)") }
        self.treeSize = treeSize
        self.leafIndex = leafIndex
        self.inclusionPath = hashes
        self.keyID = kid.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        self.signature = signature
    }

    /// What a verified receipt proves: the entry with `leafHash` is at `leafIndex` in the tree of
    /// `treeSize` whose root is `root`, and the ledger's key `verifier` signed that root.
    public struct Verified: Sendable, Equatable {
        public let treeSize: UInt64
        public let leafIndex: UInt64
        public let root: Hash
        public let verifierKeyName: String
    }

    /// Recomputes the root from `leafHash` and the proof (RFC 9162 §2.1.3.2), then checks the
    /// signature over it with the verifier whose key ID is the receipt's kid.
    public func verify(leafHash: Hash, verifiers: [NoteVerifier]) throws(Failure) -> Verified {
        guard let verifier = verifiers.first(where: { $0.keyID == keyID }) else {
            throw Failure(.unknownKey, "the receipt is signed by key ID \(Ed25519NoteKey.hex(keyID)), which is none of the given verifier keys (\(verifiers.map(\.keyIDHex).joined(separator: ", ")))")
        }
        let root: Hash
        do { root = try ProofVerifier.rootFromInclusionProof(index: leafIndex, size: treeSize, leafHash: leafHash, proof: inclusionPath) } catch {
            throw Failure(.proofMismatch, "the inclusion proof does not fit: \(error)")
        }
        let message = COSEReceipt.toBeSigned(protected: COSEReceipt.protectedHeader(keyID: keyID).encoded, root: root)
        guard verifier.publicKey.isValidSignature(signature, for: message) else {
            throw Failure(
                .badSignature,
                "the signature of key \(verifier.keyName) does not hold over root \(root.base64) of tree \(treeSize) computed from leaf \(leafIndex): the proof, the leaf or the signature was changed, or this is not the entry's receipt")
        }
        return Verified(treeSize: treeSize, leafIndex: leafIndex, root: root, verifierKeyName: verifier.keyName)
    }
}

private func describe(_ item: CBOR) -> String {
    switch item {
    case .unsigned(let n): return String(n)
    case .negative(let n): return n == .max ? "-2^64" : "-\(n + 1)"
    case .text(let text): return "\"\(text.prefix(40))\""
    default: return "a non-integer"
    }
}
