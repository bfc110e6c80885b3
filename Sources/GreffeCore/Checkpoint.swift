/// A C2SP tlog-checkpoint body (c2sp.org/tlog-checkpoint):
///
///     <origin>\n<decimal tree size>\n<base64 root hash>\n[<extension line>\n…]
public struct Checkpoint: Sendable, Hashable {
    public var origin: String
    public var size: UInt64
    public var root: Hash
    /// Opaque extension lines, kept in order (verifiers must keep or ignore them).
    public var extensions: [String]

    public init(origin: String, size: UInt64, root: Hash, extensions: [String] = []) {
        self.origin = origin
        self.size = size
        self.root = root
        self.extensions = extensions
    }

    public var text: String {
        "\(origin)\n\(size)\n\(root.base64)\n" + extensions.map { $0 + "\n" }.joined()
    }

    public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Strict parse of a checkpoint body (the note text, ending in a newline).
    public init(parsing text: some StringProtocol) throws(FormatError) {
        let text = String(text)
        guard text.hasSuffix("\n") else { throw FormatError("checkpoint does not end with a newline") }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 3 else { throw FormatError("checkpoint has fewer than three lines") }
        guard !lines[0].isEmpty else { throw FormatError("checkpoint origin line is empty") }
        guard let size = Tile.parseCanonicalDecimal(lines[1]) else {
            throw FormatError("checkpoint tree size \"\(lines[1].prefix(24))\" is not a canonical decimal number")
        }
        guard let root = Hash(base64: String(lines[2])), root.base64 == lines[2] else {
            throw FormatError("checkpoint root is not the base64 of 32 bytes")
        }
        let extensions = lines.dropFirst(3).map(String.init)
        guard !extensions.contains(where: { $0.isEmpty }) else { throw FormatError("checkpoint has an empty extension line") }
        self.init(origin: String(lines[0]), size: size, root: root, extensions: extensions)
    }
}

/// A checkpoint whose signature has been checked against a trusted key.
/// The only way to make one is `CheckpointVerifier.verify`.
public struct VerifiedCheckpoint: Sendable, Hashable {
    public let checkpoint: Checkpoint
    /// The whole signed note as received.
    public let noteText: String
    /// The trusted keys whose signature verified, as `name+hexkeyid`, in the order they were given.
    public let signedBy: [String]

    fileprivate init(checkpoint: Checkpoint, noteText: String, signedBy: [String]) {
        self.checkpoint = checkpoint
        self.noteText = noteText
        self.signedBy = signedBy
    }
}

public enum CheckpointVerifier {
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Parses a signed checkpoint and checks it is signed by `verifier`, whose
    /// name must also be the checkpoint's origin.
    public static func verify(note noteText: String, verifier: NoteVerifier) throws(Failure) -> VerifiedCheckpoint {
        try verify(note: noteText, verifiers: [verifier])
    }

    /// Parses a signed checkpoint and checks it against several trusted keys
    /// of one log (key rotation: its current and earlier keys), as
    /// c2sp.org/signed-note says: lines by keys not given are ignored; every
    /// line by a given key (name and key ID) must verify, else the whole note
    /// is refused; at least one given key must have signed. Each key that
    /// verified must be named after the checkpoint's origin.
    public static func verify(note noteText: String, verifiers: [NoteVerifier]) throws(Failure) -> VerifiedCheckpoint {
        precondition(!verifiers.isEmpty, "a checkpoint is verified against at least one key")
        let note: SignedNote
        do { note = try SignedNote(parsing: noteText) } catch { throw Failure("checkpoint note: \(error)") }
        let checkpoint: Checkpoint
        do { checkpoint = try Checkpoint(parsing: note.text) } catch { throw Failure("checkpoint: \(error)") }
        var verified: [NoteVerifier] = []
        var failed: [NoteVerifier] = []
        for verifier in verifiers {
            if verifier.hasValidSignature(on: note) {
                verified.append(verifier)
            } else if note.signatures.contains(where: { $0.keyID == verifier.keyID && $0.name.utf8.elementsEqual(verifier.name.utf8) }) {
                failed.append(verifier)
            }
        }
        guard !verified.isEmpty else {
            let names = verifiers.map(\.keyName)
            throw Failure(
                "checkpoint of size \(checkpoint.size) carries no valid signature by "
                    + (names.count == 1 ? names[0] : "any of the given keys (\(names.joined(separator: ", ")))"))
        }
        if let bad = failed.first {
            throw Failure("checkpoint of size \(checkpoint.size) carries an invalid signature by \(bad.keyName): the note was altered or forged")
        }
        if let stranger = verified.first(where: { !checkpoint.origin.utf8.elementsEqual($0.name.utf8) }) {
            throw Failure("checkpoint origin \"\(checkpoint.origin)\" is not the key's name \"\(stranger.name)\"")
        }
        return VerifiedCheckpoint(checkpoint: checkpoint, noteText: noteText, signedBy: verified.map(\.keyName))
    }
}
