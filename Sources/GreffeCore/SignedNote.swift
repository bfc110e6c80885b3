import Foundation
import Crypto

/// A C2SP signed note (c2sp.org/signed-note): UTF-8 text ending in a newline,
/// a blank line, then signature lines `— <name> <base64(keyID ‖ signature)>`.
public struct SignedNote: Sendable, Equatable {
    public struct Signature: Sendable, Equatable {
        public var name: String
        public var keyID: UInt32
        public var signature: [UInt8]

        public init(name: String, keyID: UInt32, signature: [UInt8]) {
            self.name = name
            self.keyID = keyID
            self.signature = signature
        }

        var line: String {
            var blob = withUnsafeBytes(of: keyID.bigEndian) { Array($0) }
            blob.append(contentsOf: signature)
            return "— \(name) \(Data(blob).base64EncodedString())\n"
        }
    }

    /// The signed text, ending in `\n`.
    public var text: String
    public var signatures: [Signature]

    /// Limits from Go's sumdb/note: enough for every real note, small enough for hostile input.
    public static let maxNoteBytes = 1_000_000
    public static let maxSignatures = 100

    public init(text: String, signatures: [Signature]) {
        self.text = text
        self.signatures = signatures
    }

    public var formatted: String {
        text + "\n" + signatures.map(\.line).joined()
    }

    public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Strict parse; signatures are not checked here (see `NoteVerifier`).
    public init(parsing note: some StringProtocol) throws(FormatError) {
        let note = String(note)
        guard note.utf8.count <= SignedNote.maxNoteBytes else { throw FormatError("note is larger than \(SignedNote.maxNoteBytes) bytes") }
        // C2SP: no control characters but newline; Go also rejects them.
        for scalar in note.unicodeScalars where scalar.value < 0x20 && scalar != "\n" || scalar.value == 0x7f {
            throw FormatError("note contains the control character U+\(String(scalar.value, radix: 16, uppercase: true))")
        }
        guard let split = note.range(of: "\n\n", options: .backwards) else {
            throw FormatError("note has no blank line before its signatures")
        }
        let text = String(note[..<split.lowerBound]) + "\n"
        let signatureBlock = note[split.upperBound...]
        guard signatureBlock.hasSuffix("\n") else { throw FormatError("note does not end with a newline") }
        var signatures: [Signature] = []
        for line in signatureBlock.dropLast().split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("— ") else { throw FormatError("signature line does not start with \"— \": \(line.prefix(80))") }
            let fields = line.dropFirst(2).split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, SignedNote.isValidKeyName(fields[0]) else {
                throw FormatError("malformed signature line: \(line.prefix(80))")
            }
            // Canonical base64 only: one note, one spelling.
            guard let blob = Data(base64Encoded: String(fields[1])), blob.count >= 5, blob.base64EncodedString() == fields[1] else {
                throw FormatError("signature of \(fields[0]) is not canonical base64 of a key ID and a signature")
            }
            let keyID = blob.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            signatures.append(Signature(name: String(fields[0]), keyID: keyID, signature: Array(blob.dropFirst(4))))
            guard signatures.count <= SignedNote.maxSignatures else { throw FormatError("note has more than \(SignedNote.maxSignatures) signatures") }
        }
        guard !signatures.isEmpty else { throw FormatError("note has no signature") }
        self.init(text: text, signatures: signatures)
    }

    /// Key names: non-empty, no whitespace or `+` (signed-note §"Signatures").
    public static func isValidKeyName(_ name: some StringProtocol) -> Bool {
        !name.isEmpty && !name.unicodeScalars.contains { $0 == "+" || $0.properties.isWhitespace }
    }
}

/// The Ed25519 key identity of signed-note: key ID = first 4 bytes of
/// SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).
enum Ed25519NoteKey {
    static let algorithm: UInt8 = 0x01

    static func keyID(name: String, publicKey: some ContiguousBytes) -> UInt32 {
        keyID(name: name, algorithm: algorithm, publicKey: publicKey)
    }

    /// signed-note's key ID for any signature type: SHA-256(name ‖ 0x0A ‖ type ‖ key)[:4], big-endian.
    static func keyID(name: String, algorithm: UInt8, publicKey: some ContiguousBytes) -> UInt32 {
        var material = Array(name.utf8)
        material.append(0x0A)
        material.append(algorithm)
        publicKey.withUnsafeBytes { material.append(contentsOf: $0) }
        let digest = MerkleHash.sha256(material).bytes
        return digest.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    static func hex(_ keyID: UInt32) -> String {
        let hex = String(keyID, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }
}

public struct NoteKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Checks note signatures by one Ed25519 key, given as a verifier key string
/// `name+hexkeyid+base64(0x01 ‖ public key)` (the form Go's sumdb/note uses).
public struct NoteVerifier: Sendable {
    public let name: String
    public let keyID: UInt32
    let publicKey: Curve25519.Signing.PublicKey

    public init(verifierKey: some StringProtocol) throws(NoteKeyError) {
        let text = try VerifierKeyText(parsing: verifierKey)
        self.publicKey = try text.ed25519PublicKey(.ed25519) { Ed25519NoteKey.keyID(name: $0, publicKey: $1) }
        self.name = text.name
        self.keyID = text.keyID
    }

    public var verifierKey: String {
        var raw: [UInt8] = [Ed25519NoteKey.algorithm]
        raw.append(contentsOf: publicKey.rawRepresentation)
        return "\(name)+\(Ed25519NoteKey.hex(keyID))+\(Data(raw).base64EncodedString())"
    }

    /// `name+hexkeyid`, as a signature line names its key (name and key ID identify a key).
    public var keyName: String { "\(name)+\(Ed25519NoteKey.hex(keyID))" }

    /// The key ID as 8 lower-case hex digits.
    public var keyIDHex: String { Ed25519NoteKey.hex(keyID) }

    /// True when `note` carries a valid signature by this key and no invalid
    /// one claiming to be by it (as Go's note.Open). Names compare as bytes.
    public func hasValidSignature(on note: SignedNote) -> Bool {
        let message = Array(note.text.utf8)
        let mine = note.signatures.filter { $0.keyID == keyID && $0.name.utf8.elementsEqual(name.utf8) }
        return !mine.isEmpty && mine.allSatisfy { publicKey.isValidSignature($0.signature, for: message) }
    }
}

/// Signs notes with an Ed25519 key. The key string is Go's form,
/// `PRIVATE+KEY+name+hexkeyid+base64(0x01 ‖ seed)`; it must never be logged.
public struct NoteSigner: Sendable {
    public let name: String
    public let keyID: UInt32
    let privateKey: Curve25519.Signing.PrivateKey

    /// A new random key for `name`.
    public init(generatingFor name: String) throws(NoteKeyError) {
        guard SignedNote.isValidKeyName(name) else { throw NoteKeyError("key name must be non-empty, without spaces or '+'") }
        self.name = name
        self.privateKey = Curve25519.Signing.PrivateKey()
        self.keyID = Ed25519NoteKey.keyID(name: name, publicKey: privateKey.publicKey.rawRepresentation)
    }

    public init(signerKey: some StringProtocol) throws(NoteKeyError) {
        let parts = signerKey.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY", SignedNote.isValidKeyName(parts[2]) else {
            throw NoteKeyError("signing key is not of the form PRIVATE+KEY+name+keyid+key")
        }
        guard let raw = Data(base64Encoded: String(parts[4])), raw.count == 33, raw.first == Ed25519NoteKey.algorithm,
            let privateKey = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw.dropFirst())
        else { throw NoteKeyError("signing key is not an Ed25519 seed (0x01 ‖ 32 bytes)") }
        let name = String(parts[2])
        let keyID = Ed25519NoteKey.keyID(name: name, publicKey: privateKey.publicKey.rawRepresentation)
        guard parts[3].utf8.count == 8, UInt32(parts[3], radix: 16) == keyID else {
            throw NoteKeyError("signing key ID does not match its name and key")
        }
        self.name = name
        self.keyID = keyID
        self.privateKey = privateKey
    }

    public var signerKey: String {
        var raw: [UInt8] = [Ed25519NoteKey.algorithm]
        raw.append(contentsOf: privateKey.rawRepresentation)
        return "PRIVATE+KEY+\(name)+\(Ed25519NoteKey.hex(keyID))+\(Data(raw).base64EncodedString())"
    }

    public var verifier: NoteVerifier {
        var raw: [UInt8] = [Ed25519NoteKey.algorithm]
        raw.append(contentsOf: privateKey.publicKey.rawRepresentation)
        // The string is built from this key, so it always parses.
        return try! NoteVerifier(verifierKey: "\(name)+\(Ed25519NoteKey.hex(keyID))+\(Data(raw).base64EncodedString())")
    }

    public func sign(text: String) throws -> SignedNote {
        precondition(text.hasSuffix("\n"), "note text must end with a newline")
        let signature = try privateKey.signature(for: Array(text.utf8))
        return SignedNote(text: text, signatures: [.init(name: name, keyID: keyID, signature: Array(signature))])
    }
}

extension NoteSigner {
    /// The same private key under another name (a temporal shard's origin,
    /// `Shards.origin`): the key ID follows the name, so each shard's
    /// checkpoints verify with a key of that shard's name, and no shard's
    /// signature can be replayed as another's.
    public func renamed(_ name: String) throws(NoteKeyError) -> NoteSigner {
        guard SignedNote.isValidKeyName(name) else { throw NoteKeyError("key name must be non-empty, without spaces or '+'") }
        return NoteSigner(name: name, privateKey: privateKey)
    }

    init(name: String, privateKey: Curve25519.Signing.PrivateKey) {
        self.name = name
        self.privateKey = privateKey
        self.keyID = Ed25519NoteKey.keyID(name: name, publicKey: privateKey.publicKey.rawRepresentation)
    }
}

extension NoteVerifier {
    /// The same public key under another name (see `NoteSigner.renamed`).
    public func renamed(_ name: String) throws(NoteKeyError) -> NoteVerifier {
        var raw: [UInt8] = [Ed25519NoteKey.algorithm]
        raw.append(contentsOf: publicKey.rawRepresentation)
        let keyID = Ed25519NoteKey.keyID(name: name, publicKey: publicKey.rawRepresentation)
        return try NoteVerifier(verifierKey: "\(name)+\(Ed25519NoteKey.hex(keyID))+\(Data(raw).base64EncodedString())")
    }
}
