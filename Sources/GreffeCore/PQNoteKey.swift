import Foundation
import Crypto

/// Post-quantum (ML-DSA-65, FIPS 204) signatures on signed notes, beside the
/// Ed25519 ones. c2sp.org/signed-note assigns no type byte to a plain ML-DSA
/// note signature (0x06 is ML-DSA-44 *cosignatures* of tlog-cosignature, a
/// different message), so this uses its escape: type `0xff` followed by a
/// long identifier. The format is in Schemas/pq-signatures.md.
///
/// ML-DSA-65, not ML-DSA-44: the swift-crypto in this build (4.5.x) exposes
/// only MLDSA65 and MLDSA87.
public enum MLDSANoteKey {
    /// The signature type: 0xff ‖ ASCII "greffe/ML-DSA-65" (signed-note: "0xff
    /// followed by a longer identifier that is unlikely to collide").
    public static let signatureType: [UInt8] = [0xff] + Array("greffe/ML-DSA-65".utf8)
    public static let publicKeyBytes = 1952
    public static let signatureBytes = 3309
    public static let seedBytes = 32

    /// SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4], as signed-note derives every key ID.
    static func keyID(name: String, publicKey: some ContiguousBytes) -> UInt32 {
        var material = Array(name.utf8)
        material.append(0x0A)
        material.append(contentsOf: signatureType)
        publicKey.withUnsafeBytes { material.append(contentsOf: $0) }
        let digest = MerkleHash.sha256(material).bytes
        return digest.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    /// `raw` without the type prefix, or nil when it does not start with it.
    static func strippingType(_ raw: Data) -> Data? {
        guard raw.starts(with: signatureType) else { return nil }
        return raw.dropFirst(signatureType.count)
    }
}

/// Checks the ML-DSA-65 signature of a note, given the verifier key
/// `name+hexkeyid+base64(type ‖ 1952-byte public key)`.
public struct MLDSANoteVerifier: Sendable {
    public let name: String
    public let keyID: UInt32
    let publicKey: MLDSA65.PublicKey

    public init(verifierKey: some StringProtocol) throws(NoteKeyError) {
        let text = try VerifierKeyText(parsing: verifierKey)
        let raw = try text.publicKey(of: .mldsa65, typeLength: MLDSANoteKey.signatureType.count, length: MLDSANoteKey.publicKeyBytes)
        guard let publicKey = try? MLDSA65.PublicKey(rawRepresentation: raw) else {
            throw NoteKeyError("the verifier key's ML-DSA-65 public key is not valid")
        }
        try text.checkKeyID(MLDSANoteKey.keyID(name: text.name, publicKey: publicKey.rawRepresentation))
        self.name = text.name
        self.keyID = text.keyID
        self.publicKey = publicKey
    }

    public var verifierKey: String {
        let raw = MLDSANoteKey.signatureType + Array(publicKey.rawRepresentation)
        return "\(name)+\(Ed25519NoteKey.hex(keyID))+\(Data(raw).base64EncodedString())"
    }

    public var keyName: String { "\(name)+\(Ed25519NoteKey.hex(keyID))" }

    /// True when `note` has a valid signature by this key and no invalid one
    /// claiming to be by it (the rule of Go's note.Open).
    public func hasValidSignature(on note: SignedNote) -> Bool {
        let message = Array(note.text.utf8)
        let mine = note.signatures.filter { $0.keyID == keyID && $0.name.utf8.elementsEqual(name.utf8) }
        return !mine.isEmpty
            && mine.allSatisfy { $0.signature.count == MLDSANoteKey.signatureBytes && publicKey.isValidSignature($0.signature, for: message) }
    }
}

/// Signs notes with ML-DSA-65. The key string is
/// `PRIVATE+KEY+name+hexkeyid+base64(type ‖ 32-byte seed)`; never logged.
public struct MLDSANoteSigner: Sendable {
    public let name: String
    public let keyID: UInt32
    let privateKey: MLDSA65.PrivateKey

    public init(generatingFor name: String) throws(NoteKeyError) {
        guard SignedNote.isValidKeyName(name) else { throw NoteKeyError("key name must be non-empty, without spaces or '+'") }
        guard let key = try? MLDSA65.PrivateKey() else { throw NoteKeyError("ML-DSA-65 key generation failed") }
        self.name = name
        self.privateKey = key
        self.keyID = MLDSANoteKey.keyID(name: name, publicKey: key.publicKey.rawRepresentation)
    }

    public init(signerKey: some StringProtocol) throws(NoteKeyError) {
        let parts = signerKey.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY", SignedNote.isValidKeyName(parts[2]) else {
            throw NoteKeyError("ML-DSA signing key is not of the form PRIVATE+KEY+name+keyid+key")
        }
        guard let raw = Data(base64Encoded: String(parts[4])), let seed = MLDSANoteKey.strippingType(raw), seed.count == MLDSANoteKey.seedBytes,
            let key = try? MLDSA65.PrivateKey(seedRepresentation: seed, publicKey: nil)
        else { throw NoteKeyError("signing key is not an ML-DSA-65 seed (0xff \"greffe/ML-DSA-65\" ‖ 32 bytes)") }
        let name = String(parts[2])
        let keyID = MLDSANoteKey.keyID(name: name, publicKey: key.publicKey.rawRepresentation)
        guard parts[3].utf8.count == 8, UInt32(parts[3], radix: 16) == keyID else {
            throw NoteKeyError("ML-DSA signing key ID does not match its name and key")
        }
        self.name = name
        self.keyID = keyID
        self.privateKey = key
    }

    public var signerKey: String {
        let raw = MLDSANoteKey.signatureType + Array(privateKey.seedRepresentation)
        return "PRIVATE+KEY+\(name)+\(Ed25519NoteKey.hex(keyID))+\(Data(raw).base64EncodedString())"
    }

    public var verifier: MLDSANoteVerifier {
        let raw = MLDSANoteKey.signatureType + Array(privateKey.publicKey.rawRepresentation)
        // Built from this key, so it always parses.
        return try! MLDSANoteVerifier(verifierKey: "\(name)+\(Ed25519NoteKey.hex(keyID))+\(Data(raw).base64EncodedString())")
    }

    /// The signature line for `text` (pure ML-DSA, empty context).
    public func signature(text: String) throws -> SignedNote.Signature {
        precondition(text.hasSuffix("\n"), "note text must end with a newline")
        let signature = try privateKey.signature(for: Array(text.utf8))
        return SignedNote.Signature(name: name, keyID: keyID, signature: Array(signature))
    }
}

extension MLDSANoteSigner {
    /// The same ML-DSA key under another name (see `NoteSigner.renamed`).
    public func renamed(_ name: String) throws(NoteKeyError) -> MLDSANoteSigner {
        let raw = MLDSANoteKey.signatureType + Array(privateKey.seedRepresentation)
        let keyID = MLDSANoteKey.keyID(name: name, publicKey: privateKey.publicKey.rawRepresentation)
        return try MLDSANoteSigner(signerKey: "PRIVATE+KEY+\(name)+\(Ed25519NoteKey.hex(keyID))+\(Data(raw).base64EncodedString())")
    }
}
