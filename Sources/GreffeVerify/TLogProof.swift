import Foundation
public import GreffeCore

/// A C2SP tlog-proof (c2sp.org/tlog-proof@v1): a checkpoint, an index and an
/// inclusion proof in one text file. Greffe puts the entry itself in `extra`,
/// so the proof carries what its leaf hash is computed from.
public struct TLogProof: Sendable, Equatable {
    public static let header = "c2sp.org/tlog-proof@v1"

    public var extra: [UInt8]?
    public var index: UInt64
    public var proof: [Hash]
    /// The signed checkpoint, verbatim.
    public var checkpoint: String

    public init(extra: [UInt8]?, index: UInt64, proof: [Hash], checkpoint: String) {
        self.extra = extra
        self.index = index
        self.proof = proof
        self.checkpoint = checkpoint
    }

    public var text: String {
        var lines = [TLogProof.header]
        if let extra { lines.append("extra \(Data(extra).base64EncodedString())") }
        lines.append("index \(index)")
        lines += proof.map(\.base64)
        return lines.joined(separator: "\n") + "\n\n" + checkpoint
    }

    public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public init(parsing text: String) throws(FormatError) {
        guard let split = text.range(of: "\n\n") else { throw FormatError("tlog-proof has no blank line before its checkpoint") }
        let lines = text[..<split.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first == Substring(TLogProof.header) else { throw FormatError("not a \(TLogProof.header) file") }
        var position = 1
        if position < lines.count, lines[position].hasPrefix("extra ") {
            guard let data = Data(base64Encoded: String(lines[position].dropFirst(6))) else { throw FormatError("extra is not base64") }
            extra = Array(data)
            position += 1
        } else {
            extra = nil
        }
        guard position < lines.count, lines[position].hasPrefix("index "),
            let index = Tile.parseCanonicalDecimal(lines[position].dropFirst(6))
        else { throw FormatError("missing or non-canonical index line") }
        self.index = index
        position += 1
        var proof: [Hash] = []
        for line in lines[position...] {
            guard let hash = Hash(base64: String(line)) else { throw FormatError("proof line \(proof.count) is not a base64 SHA-256 hash") }
            proof.append(hash)
        }
        self.proof = proof
        checkpoint = String(text[split.upperBound...])
    }

    /// Checks signature, entry and inclusion; returns the entry.
    public func verify(verifier: NoteVerifier) throws -> (checkpoint: Checkpoint, entry: LedgerEntry) {
        try verify(verifiers: [verifier])
    }

    /// As `verify(verifier:)`, the checkpoint signed by at least one of `verifiers` (a log's keys across a rotation).
    public func verify(verifiers: [NoteVerifier]) throws -> (checkpoint: Checkpoint, entry: LedgerEntry) {
        let checkpoint = try CheckpointVerifier.verify(note: checkpoint, verifiers: verifiers).checkpoint
        guard let extra else { throw FormatError("this tlog-proof carries no entry in its extra data") }
        let entry = try LedgerEntry(decoding: extra)
        guard entry.index == index else { throw FormatError("the entry says index \(entry.index), the proof says \(index)") }
        try ProofVerifier.verifyInclusion(index: index, size: checkpoint.size, leafHash: MerkleHash.leaf(extra), proof: proof, root: checkpoint.root)
        return (checkpoint, entry)
    }
}
