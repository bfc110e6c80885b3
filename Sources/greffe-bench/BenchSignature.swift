import Foundation
import GreffeCore

/// `signature`: what the optional ML-DSA-65 line (Schemas/pq-signatures.md) costs per checkpoint
/// against the Ed25519 line every checkpoint already carries: signing, verifying, and the note's size.
/// Once per checkpoint, not per event.
struct SignatureBenchmark: Benchmark {
    let name = "signature"
    let summary = "checkpoint signing: ML-DSA-65 line vs Ed25519 line (sign, verify, note bytes)"

    func run(_ context: BenchContext) async throws -> [BenchRow] {
        let origin = "bench.greffe.test/log"
        let ed25519 = try NoteSigner(generatingFor: origin)
        let pq = try MLDSANoteSigner(generatingFor: origin)
        let count = 300
        // Distinct checkpoints (sizes and roots), as a serving ledger signs them.
        let texts = (0..<count).map { index in
            Checkpoint(origin: origin, size: UInt64(1_000_000 + index), root: MerkleHash.sha256(Array("root \(index)".utf8))).text
        }
        var edNotes: [SignedNote] = []
        var pqNotes: [SignedNote] = []
        let edSign = CommitmentBenchmark.seconds(rounds: 3) { edNotes = texts.map { try! ed25519.sign(text: $0) } }
        let pqSign = CommitmentBenchmark.seconds(rounds: 3) {
            pqNotes = texts.map { SignedNote(text: $0, signatures: [try! pq.signature(text: $0)]) }
        }
        let edVerifier = ed25519.verifier
        let pqVerifier = pq.verifier
        var valid = 0
        let edVerify = CommitmentBenchmark.seconds(rounds: 3) { valid = edNotes.filter { edVerifier.hasValidSignature(on: $0) }.count }
        guard valid == count else { throw BenchFailure("an Ed25519 signature did not verify") }
        let pqVerify = CommitmentBenchmark.seconds(rounds: 3) { valid = pqNotes.filter { pqVerifier.hasValidSignature(on: $0) }.count }
        guard valid == count else { throw BenchFailure("an ML-DSA-65 signature did not verify") }
        let edBytes = Double(edNotes[0].formatted.utf8.count)
        var both = edNotes[0]
        both.signatures.append(pqNotes[0].signatures[0])
        let bothBytes = Double(both.formatted.utf8.count)
        context.say("signature: \(count) checkpoints; note \(Int(edBytes)) B with Ed25519, \(Int(bothBytes)) B with both lines")
        let perCheckpoint = { (seconds: Double) in seconds / Double(count) * 1e6 }
        return [
            BenchRow("signature.mldsa65-sign", perCheckpoint(pqSign), "µs/checkpoint", reference: "Ed25519 sign", referenceValue: perCheckpoint(edSign),
                note: "one core; best of 3 rounds of \(count)"),
            BenchRow("signature.mldsa65-verify", perCheckpoint(pqVerify), "µs/checkpoint", reference: "Ed25519 verify", referenceValue: perCheckpoint(edVerify),
                note: "one core; best of 3 rounds of \(count)"),
            BenchRow("signature.note-bytes", bothBytes, "bytes", reference: "Ed25519-only checkpoint note", referenceValue: edBytes,
                note: "what GET /checkpoint, receipts and witnesses carry"),
        ]
    }
}
