import Crypto
import Foundation

/// A verifier key as text, `name+hexkeyid+base64(type ‖ public key)`
/// (c2sp.org/signed-note), read by one parser with one strictness for every
/// signature type: the log's Ed25519 key (0x01), a witness's cosignature key
/// (0x04) and the log's ML-DSA-65 key (0xff "greffe/ML-DSA-65"). Each
/// verifier checks the type and key it needs, so a key of another type is
/// named as such instead of reported as garbled.
///
/// Rules: surrounding white space is ignored; the name is non-empty with no
/// `+` or white space; the key ID is exactly 8 hex digits (either case, no
/// sign, as Go's `strconv.ParseUint(_, 16, 32)` on 8 characters); the key is
/// canonical padded base64 (one text per key: re-encoding gives it back).
public struct VerifierKeyText: Sendable, Equatable {
    public enum SignatureType: Sendable, Equatable, CustomStringConvertible {
        case ed25519
        case cosignatureV1
        case mldsa65
        case unknown(UInt8)

        public var description: String {
            switch self {
            case .ed25519: "an Ed25519 note key (0x01)"
            case .cosignatureV1: "an Ed25519 cosignature key (0x04)"
            case .mldsa65: "an ML-DSA-65 note key (0xff \"greffe/ML-DSA-65\")"
            case .unknown(let byte): "a key of unknown signature type 0x\(String(byte, radix: 16))"
            }
        }
    }

    public let name: String
    public let keyID: UInt32
    /// The decoded key: the signature type byte(s), then the public key.
    public let encodedKey: [UInt8]

    public var signatureType: SignatureType {
        switch encodedKey.first {
        case Ed25519NoteKey.algorithm: return .ed25519
        case CosignatureKey.algorithm: return .cosignatureV1
        case MLDSANoteKey.signatureType[0] where encodedKey.starts(with: MLDSANoteKey.signatureType): return .mldsa65
        case let byte: return .unknown(byte ?? 0)
        }
    }

    public init(parsing text: some StringProtocol) throws(NoteKeyError) {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, SignedNote.isValidKeyName(parts[0]) else {
            throw NoteKeyError("a verifier key is of the form name+keyid+key")
        }
        guard parts[1].utf8.count == 8, parts[1].utf8.allSatisfy({ Self.isHexDigit($0) }), let keyID = UInt32(parts[1], radix: 16) else {
            throw NoteKeyError("the key ID of a verifier key is 8 hex digits")
        }
        guard let decoded = Data(base64Encoded: String(parts[2])), !decoded.isEmpty, decoded.base64EncodedString() == parts[2] else {
            throw NoteKeyError("the key of a verifier key is canonical base64")
        }
        self.name = String(parts[0])
        self.keyID = keyID
        self.encodedKey = [UInt8](decoded)
    }

    /// The key after its type, if it is of `type` and `length` bytes long; otherwise an error naming what it is.
    func publicKey(of type: SignatureType, typeLength: Int = 1, length: Int) throws(NoteKeyError) -> [UInt8] {
        guard signatureType == type else { throw NoteKeyError("the verifier key is \(signatureType), not \(type)") }
        guard encodedKey.count == typeLength + length else {
            throw NoteKeyError("the verifier key's public key is \(encodedKey.count - typeLength) bytes, not \(length)")
        }
        return Array(encodedKey.dropFirst(typeLength))
    }

    /// The Ed25519 public key of a key of `type` (0x01 or 0x04), whose ID must be `derivedID(name, key)`.
    func ed25519PublicKey(_ type: SignatureType, derivedID: (String, Data) -> UInt32) throws(NoteKeyError) -> Curve25519.Signing.PublicKey {
        let raw = try publicKey(of: type, length: 32)
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
            throw NoteKeyError("the verifier key's Ed25519 public key is not valid")
        }
        try checkKeyID(derivedID(name, key.rawRepresentation))
        return key
    }

    /// The key ID must be the one derived from the name and key: a typo in either is caught.
    func checkKeyID(_ derived: UInt32) throws(NoteKeyError) {
        guard derived == keyID else { throw NoteKeyError("the verifier key's ID does not match its name and key") }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
    }
}
