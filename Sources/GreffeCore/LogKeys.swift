/// The keys of one log: the ones that sign its checkpoints now, and every
/// public key it ever signed with (key rotation, see `LogKeyList`).
///
/// During a rotation two keys sign: each checkpoint is one note with a
/// signature line per signing key (c2sp.org/signed-note allows several), so a
/// verifier holding either key accepts it, and ignores the line it does not
/// know. A retired key signs nothing, but its public key stays here: the
/// checkpoints it signed must still verify.
public struct LogKeys: Sendable {
    /// The checkpoint origin: every key's name.
    public let origin: String
    /// Sign every checkpoint, in this order (oldest first). Never empty.
    public let signers: [NoteSigner]
    /// Every public key of the log, signing and retired, oldest first.
    public let verifiers: [NoteVerifier]
    /// An optional ML-DSA-65 key that adds a post-quantum line to every
    /// checkpoint (Schemas/pq-signatures.md). Ed25519 stays the key that
    /// start-up checks, witnesses and bundles rely on; verifiers that know
    /// only Ed25519 skip this line.
    public var pqSigner: MLDSANoteSigner?

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// One key that signs and verifies everything: a log that was never rotated.
    public init(signer: NoteSigner) {
        origin = signer.name
        signers = [signer]
        verifiers = [signer.verifier]
    }

    /// `retired` are public keys that no longer sign; signers' own public keys are added.
    public init(signers: [NoteSigner], retired: [NoteVerifier] = []) throws(Failure) {
        guard let first = signers.first else { throw Failure("a log needs at least one signing key") }
        var verifiers = retired
        verifiers.append(contentsOf: signers.map(\.verifier))
        for verifier in verifiers where !verifier.name.utf8.elementsEqual(first.name.utf8) {
            throw Failure("key \(verifier.keyName) is not named after the log's origin \(first.name)")
        }
        var seen: Set<UInt32> = []
        for verifier in verifiers where !seen.insert(verifier.keyID).inserted {
            // Name and ID identify a key in a note: two keys with both equal could not be told apart.
            throw Failure("two keys of the log share the key ID \(verifier.keyIDHex)")
        }
        self.origin = first.name
        self.signers = signers
        self.verifiers = verifiers
    }

    /// The newest signing key's verifier: the one bundles name and `verifier.vkey` holds.
    public var primary: NoteVerifier { signers.last!.verifier }

    /// One note signed by every signing key.
    public func sign(text: String) throws -> SignedNote {
        var note = SignedNote(text: text, signatures: [])
        for signer in signers {
            note.signatures.append(contentsOf: try signer.sign(text: text).signatures)
        }
        if let pqSigner {
            note.signatures.append(try pqSigner.signature(text: text))
        }
        return note
    }
}
