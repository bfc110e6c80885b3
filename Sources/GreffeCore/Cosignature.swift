import Foundation
import Crypto

// C2SP tlog-cosignature, Ed25519 type (`cosignature/v1`): a witness's note
// signature on a checkpoint, timestamped. Used by the built-in witness to
// sign, and by log clients and verifiers to check witnesses' signatures.

/// The key identity of c2sp.org/tlog-cosignature for Ed25519 cosigners:
/// key ID = first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key), and
/// vkeys `name+hexkeyid+base64(0x04 ‖ public key)` (signed-note's vkey form
/// with signature type 0x04).
enum CosignatureKey {
    /// signed-note §"Signature types": 0x04, timestamped Ed25519 witness cosignatures.
    static let algorithm: UInt8 = 0x04

    static func keyID(name: String, publicKey: some ContiguousBytes) -> UInt32 {
        Ed25519NoteKey.keyID(name: name, algorithm: algorithm, publicKey: publicKey)
    }
}

/// One verified or freshly made Ed25519 cosignature: the payload of its note
/// signature line is `timestamp (u64, big-endian) ‖ Ed25519 signature (64 bytes)`.
public struct Cosignature: Sendable, Equatable {
    public static let payloadByteCount = 8 + 64
    /// tlog-cosignature: the timestamp "MUST NOT exceed 2^63 - 1".
    public static let maxTimestamp = UInt64(Int64.max)

    public let name: String
    public let keyID: UInt32
    /// POSIX seconds at which the cosigner signed.
    public let timestamp: UInt64
    public let signature: [UInt8]

    init(name: String, keyID: UInt32, timestamp: UInt64, signature: [UInt8]) {
        self.name = name
        self.keyID = keyID
        self.timestamp = timestamp
        self.signature = signature
    }

    /// The note signature it is carried in.
    public var noteSignature: SignedNote.Signature {
        var payload = withUnsafeBytes(of: timestamp.bigEndian) { Array($0) }
        payload.append(contentsOf: signature)
        return SignedNote.Signature(name: name, keyID: keyID, signature: payload)
    }

    /// `— <name> base64(keyID ‖ timestamp ‖ signature)\n`: a line of the
    /// witness's add-checkpoint answer, or of a cosigned checkpoint.
    public var line: String { noteSignature.line }

    /// The exact message an Ed25519 cosignature signs (tlog-cosignature
    /// §"Ed25519 signed message"): `cosignature/v1\ntime <t>\n` followed by the
    /// whole checkpoint body, final newline included, no signature lines.
    public static func signedMessage(checkpointText: String, timestamp: UInt64) -> [UInt8] {
        Array("cosignature/v1\ntime \(timestamp)\n".utf8) + Array(checkpointText.utf8)
    }
}

public struct CosignatureError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The note has no signature line with this cosigner's name and key ID.
        case missing
        /// A line with this cosigner's name and key ID is not 8 + 64 bytes,
        /// or its timestamp is past 2^63 - 1.
        case malformed
        /// A line with this cosigner's name and key ID does not verify.
        case invalidSignature
    }

    public let code: Code
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Checks `cosignature/v1` signatures by one Ed25519 cosigner, given as its
/// vkey `name+hexkeyid+base64(0x04 ‖ public key)`.
public struct CosignatureVerifier: Sendable {
    public let name: String
    public let keyID: UInt32
    let publicKey: Curve25519.Signing.PublicKey

    public init(verifierKey: some StringProtocol) throws(NoteKeyError) {
        let text = try VerifierKeyText(parsing: verifierKey)
        self.publicKey = try text.ed25519PublicKey(.cosignatureV1) { CosignatureKey.keyID(name: $0, publicKey: $1) }
        self.name = text.name
        self.keyID = text.keyID
    }

    init(name: String, publicKey: Curve25519.Signing.PublicKey) {
        self.name = name
        self.publicKey = publicKey
        self.keyID = CosignatureKey.keyID(name: name, publicKey: publicKey.rawRepresentation)
    }

    public var verifierKey: String {
        var raw: [UInt8] = [CosignatureKey.algorithm]
        raw.append(contentsOf: publicKey.rawRepresentation)
        return "\(name)+\(Ed25519NoteKey.hex(keyID))+\(Data(raw).base64EncodedString())"
    }

    /// Whether `signature` claims to be by this cosigner (name and key ID, as
    /// bytes); signed-note: lines that do not are ignored, not failed.
    public func claims(_ signature: SignedNote.Signature) -> Bool {
        signature.keyID == keyID && signature.name.utf8.elementsEqual(name.utf8)
    }

    /// Checks one signature line that `claims` is by this cosigner against the
    /// note text (the checkpoint body) it is attached to.
    public func verify(_ signature: SignedNote.Signature, checkpointText: String) throws(CosignatureError) -> Cosignature {
        guard claims(signature) else {
            throw CosignatureError(.missing, "signature by \(signature.name) is not by the cosigner \(name)+\(Ed25519NoteKey.hex(keyID))")
        }
        guard signature.signature.count == Cosignature.payloadByteCount else {
            throw CosignatureError(
                .malformed, "cosignature by \(name) is \(signature.signature.count) bytes, not a timestamp and an Ed25519 signature (72)")
        }
        let timestamp = signature.signature.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard timestamp <= Cosignature.maxTimestamp else {
            throw CosignatureError(.malformed, "cosignature by \(name) has a timestamp past 2^63 - 1")
        }
        let ed25519 = Array(signature.signature.dropFirst(8))
        let message = Cosignature.signedMessage(checkpointText: checkpointText, timestamp: timestamp)
        guard publicKey.isValidSignature(ed25519, for: message) else {
            throw CosignatureError(.invalidSignature, "cosignature by \(name)+\(Ed25519NoteKey.hex(keyID)) does not verify")
        }
        return Cosignature(name: name, keyID: keyID, timestamp: timestamp, signature: ed25519)
    }

    /// The cosignature this cosigner put on `note` (the latest, if several).
    /// As signed-note asks: lines by other keys are ignored; any line by this
    /// key that fails makes the whole call fail; none at all is `.missing`.
    public func verify(note: SignedNote) throws(CosignatureError) -> Cosignature {
        var latest: Cosignature?
        for signature in note.signatures where claims(signature) {
            let cosignature = try verify(signature, checkpointText: note.text)
            if latest.map({ cosignature.timestamp > $0.timestamp }) ?? true { latest = cosignature }
        }
        guard let latest else {
            throw CosignatureError(.missing, "note carries no cosignature by \(name)+\(Ed25519NoteKey.hex(keyID))")
        }
        return latest
    }
}

/// Makes `cosignature/v1` signatures with an Ed25519 key. The key string
/// follows Go's note signer form with the cosignature type byte,
/// `PRIVATE+KEY+name+hexkeyid+base64(0x04 ‖ seed)`; it must never be logged.
public struct CosignatureSigner: Sendable {
    public let name: String
    public let keyID: UInt32
    let privateKey: Curve25519.Signing.PrivateKey

    /// A new random key for `name`.
    public init(generatingFor name: String) throws(NoteKeyError) {
        guard SignedNote.isValidKeyName(name) else { throw NoteKeyError("cosigner name must be non-empty, without spaces or '+'") }
        self.init(name: name, privateKey: Curve25519.Signing.PrivateKey())
    }

    init(name: String, privateKey: Curve25519.Signing.PrivateKey) {
        self.name = name
        self.privateKey = privateKey
        self.keyID = CosignatureKey.keyID(name: name, publicKey: privateKey.publicKey.rawRepresentation)
    }

    public init(signerKey: some StringProtocol) throws(NoteKeyError) {
        let parts = signerKey.trimmingCharacters(in: .whitespacesAndNewlines).split(
            separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY", SignedNote.isValidKeyName(parts[2]) else {
            throw NoteKeyError("cosigner signing key is not of the form PRIVATE+KEY+name+keyid+key")
        }
        guard let raw = Data(base64Encoded: String(parts[4])), raw.count == 33, raw.first == CosignatureKey.algorithm,
            let privateKey = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw.dropFirst())
        else { throw NoteKeyError("cosigner signing key is not an Ed25519 seed with the cosignature type (0x04 ‖ 32 bytes)") }
        let name = String(parts[2])
        self.init(name: name, privateKey: privateKey)
        guard parts[3].utf8.count == 8, parts[3].allSatisfy(\.isHexDigit), UInt32(parts[3], radix: 16) == keyID else {
            throw NoteKeyError("cosigner signing key ID does not match its name and key")
        }
    }

    public var signerKey: String {
        var raw: [UInt8] = [CosignatureKey.algorithm]
        raw.append(contentsOf: privateKey.rawRepresentation)
        return "PRIVATE+KEY+\(name)+\(Ed25519NoteKey.hex(keyID))+\(Data(raw).base64EncodedString())"
    }

    public var verifier: CosignatureVerifier { CosignatureVerifier(name: name, publicKey: privateKey.publicKey) }

    /// Cosigns a checkpoint body (the note text, final newline included) as of
    /// `timestamp` (POSIX seconds). The caller states what the cosignature
    /// means (for a witness: it has verified consistency and stored the state).
    public func cosign(checkpointText: String, timestamp: UInt64) throws -> Cosignature {
        precondition(checkpointText.hasSuffix("\n"), "checkpoint text must end with a newline")
        precondition(timestamp <= Cosignature.maxTimestamp, "cosignature timestamp past 2^63 - 1")
        let message = Cosignature.signedMessage(checkpointText: checkpointText, timestamp: timestamp)
        let signature = try privateKey.signature(for: message)
        return Cosignature(name: name, keyID: keyID, timestamp: timestamp, signature: Array(signature))
    }
}
