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

    fileprivate init(checkpoint: Checkpoint, noteText: String) {
        self.checkpoint = checkpoint
        self.noteText = noteText
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
        let note: SignedNote
        do { note = try SignedNote(parsing: noteText) } catch { throw Failure("checkpoint note: \(error)") }
        let checkpoint: Checkpoint
        do { checkpoint = try Checkpoint(parsing: note.text) } catch { throw Failure("checkpoint: \(error)") }
        guard verifier.hasValidSignature(on: note) else {
            throw Failure("checkpoint of size \(checkpoint.size) carries no valid signature by \(verifier.name)+\(Ed25519NoteKey.hex(verifier.keyID))")
        }
        guard checkpoint.origin.utf8.elementsEqual(verifier.name.utf8) else {
            throw Failure("checkpoint origin \"\(checkpoint.origin)\" is not the key's name \"\(verifier.name)\"")
        }
        return VerifiedCheckpoint(checkpoint: checkpoint, noteText: noteText)
    }
}
