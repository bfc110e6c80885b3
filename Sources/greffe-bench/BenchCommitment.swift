import Foundation
import GreffeCore

/// `commitment`: what entry layout 2 costs per event, where the ledger pays it (the edge, once per
/// append) and where a court pays it (every whole body `greffe verify` checks): the field tree's
/// root (one HMAC, one leaf hash per field, the tree) against layout 1's one salted SHA-256 of the
/// canonical body, on the same realistic bodies in the same run.
struct CommitmentBenchmark: Benchmark {
    let name = "commitment"
    let summary = "entry commitments per event: layout 2 (field tree, selective disclosure) vs layout 1 (one SHA-256), realistic ~900-byte bodies"

    func run(_ context: BenchContext) async throws -> [BenchRow] {
        let count = 20_000
        var generator = RealisticLog.Generator(seed: 0x636f_6d6d, layout: .wholeBody)
        var samples: [(body: JSONValue, canonical: [UInt8], salt: [UInt8])] = []
        for index in 0..<count {
            let (_, body, salt) = generator.event(index: UInt64(index))
            samples.append((body, body.canonicalBytes(), salt))
        }
        let fields = try FieldCommitment.fields(of: samples[0].body).count
        context.say("commitment: \(count) bodies of ~\(samples[0].canonical.count) bytes, \(fields) fields each")
        var sink = Hash.zero
        let wholeBody = Self.seconds(rounds: 5) {
            for sample in samples { sink = Commitment.commit(salt: sample.salt, canonicalBody: sample.canonical) }
        }
        let fieldTree = Self.seconds(rounds: 5) {
            for sample in samples { sink = (try? FieldCommitment.root(salt: sample.salt, body: sample.body)) ?? sink }
        }
        // What the ledger's edge does per event beyond the commitment: parse and canonicalise the body.
        let texts = samples.map { $0.canonical }
        let parse = Self.seconds(rounds: 5) {
            for text in texts { sink = (try? JSONParser.parse(text)).map { MerkleHash.sha256($0.canonicalBytes()) } ?? sink }
        }
        _ = sink
        let perEvent = { (seconds: Double) in seconds / Double(count) * 1e6 }
        return [
            BenchRow(
                "commitment.layout2", perEvent(fieldTree), "µs/event", reference: "layout 1 (SHA-256 of salt and body)", referenceValue: perEvent(wholeBody),
                note: "\(fields) fields a body; one core; best of 5 rounds of \(count)"),
            BenchRow(
                "commitment.layout2-vs-parse", perEvent(fieldTree), "µs/event", reference: "parsing and canonicalising the body", referenceValue: perEvent(parse),
                note: "what the edge already spends on each event"),
        ]
    }

    /// The fastest of `rounds` runs of `body`, in seconds.
    static func seconds(rounds: Int, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<rounds {
            let start = ContinuousClock.now
            body()
            let elapsed = ContinuousClock.now - start
            best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        }
        return best
    }
}
