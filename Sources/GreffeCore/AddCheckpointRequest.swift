// The body of C2SP tlog-witness `POST <prefix>/add-checkpoint`:
//
//     old <decimal size>\n
//     <base64 consistency proof hash>\n      (0 to 63 lines)
//     \n
//     <signed checkpoint note>
//
// Parsed strictly (canonical numbers and base64 only, size caps) by the
// witness; formatted by log clients.

/// One add-checkpoint request. The checkpoint is parsed, its signatures are not checked here.
public struct AddCheckpointRequest: Sendable, Equatable {
    /// tlog-witness: "The client MUST NOT send more than 63 consistency proof lines."
    public static let maxProofLines = 63
    /// Room for a checkpoint with many signatures (signed-note asks to accept at
    /// least 16, post-quantum ones up to ~5 kB) and a full proof; far below
    /// `SignedNote.maxNoteBytes`, since a witness takes requests from anyone.
    public static let maxBodyBytes = 128 * 1024
    /// The `Content-Type` of a 409 answer carrying the witness's size.
    public static let sizeContentType = "text/x.tlog.size"

    /// The size of the previous checkpoint the client believes the witness holds (0: none).
    public var oldSize: UInt64
    public var consistencyProof: [Hash]
    /// The signed checkpoint as sent (the note: body, blank line, signatures).
    public var noteText: String
    public var note: SignedNote
    public var checkpoint: Checkpoint

    public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// A request for `noteText`, a signed checkpoint note.
    public init(oldSize: UInt64, consistencyProof: [Hash], noteText: String) throws(FormatError) {
        guard consistencyProof.count <= AddCheckpointRequest.maxProofLines else {
            throw FormatError("consistency proof has more than \(AddCheckpointRequest.maxProofLines) hashes")
        }
        let note: SignedNote
        do { note = try SignedNote(parsing: noteText) } catch { throw FormatError("checkpoint note: \(error)") }
        let checkpoint: Checkpoint
        do { checkpoint = try Checkpoint(parsing: note.text) } catch { throw FormatError("\(error)") }
        self.oldSize = oldSize
        self.consistencyProof = consistencyProof
        self.noteText = noteText
        self.note = note
        self.checkpoint = checkpoint
    }

    /// Strict parse of a request body. Nothing about the log is checked here:
    /// the origin, signatures, sizes and proof are the witness's to judge.
    public init(parsing body: some Collection<UInt8>) throws(FormatError) {
        guard body.count <= AddCheckpointRequest.maxBodyBytes else {
            throw FormatError("request body is larger than \(AddCheckpointRequest.maxBodyBytes) bytes")
        }
        guard let text = String(validating: Array(body), as: UTF8.self) else { throw FormatError("request body is not UTF-8") }
        var rest = Substring(text)
        func nextLine() throws(FormatError) -> Substring {
            guard let newline = rest.firstIndex(of: "\n") else { throw FormatError("request ends before the empty line that precedes the checkpoint") }
            let line = rest[..<newline]
            rest = rest[rest.index(after: newline)...]
            return line
        }
        let oldLine = try nextLine()
        guard oldLine.hasPrefix("old "), let oldSize = Tile.parseCanonicalDecimal(oldLine.dropFirst(4)) else {
            throw FormatError("first line is not \"old <size>\" with a canonical decimal size: \(oldLine.prefix(40))")
        }
        var proof: [Hash] = []
        while true {
            let line = try nextLine()
            if line.isEmpty { break }
            guard proof.count < AddCheckpointRequest.maxProofLines else {
                throw FormatError("more than \(AddCheckpointRequest.maxProofLines) consistency proof lines")
            }
            // Canonical base64 only (as checkpoint roots): one hash, one spelling.
            guard let hash = Hash(base64: String(line)), hash.base64 == line else {
                throw FormatError("consistency proof line \(proof.count + 1) is not the base64 of 32 bytes")
            }
            proof.append(hash)
        }
        try self.init(oldSize: oldSize, consistencyProof: proof, noteText: String(rest))
    }

    /// The request body, as a log client sends it.
    public var body: String {
        "old \(oldSize)\n" + consistencyProof.map { $0.base64 + "\n" }.joined() + "\n" + noteText
    }

    /// The body of a 409 answer: the witness's latest cosigned size and a newline.
    public static func conflictBody(size: UInt64) -> String { "\(size)\n" }

    /// Parses a 409 answer's body (`text/x.tlog.size`); nil unless it is exactly
    /// a canonical decimal and a newline.
    public static func parseConflictBody(_ body: some Collection<UInt8>) -> UInt64? {
        let body = Array(body)
        guard body.count <= 21, body.last == UInt8(ascii: "\n"), let text = String(validating: body.dropLast(), as: UTF8.self)
        else { return nil }
        return Tile.parseCanonicalDecimal(Substring(text))
    }
}
