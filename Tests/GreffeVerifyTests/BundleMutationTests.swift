// Seeded random mutations of a real evidence bundle (the fuzz seed
// Tests/Fuzz/corpus/bundle/three-events.json, made by `greffe serve`): the
// libFuzzer harness FuzzBundle runs the same invariants for as long as one
// likes (ops/fuzz.sh); this replays a fixed 2,000 cases in every test run.

import Foundation
import GreffeCore
import GreffeVerify
import Testing

@Suite("evidence bundle mutations")
struct BundleMutationTests {
    static let corpusURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus/bundle")
    static let seedURL = corpusURL.appendingPathComponent("three-events.json")

    /// Replaces one node somewhere in the document, or removes an object member.
    static func mutate(_ value: JSONValue, rng: inout SplitMix64, depth: Int = 0) -> JSONValue? {
        let replacements: [JSONValue] = [
            .null, .bool(true), .number(0), .number(-1), .number(1e300), .number(18_446_744_073_709_551_616), .string(""),
            .string("AAAA"), .string("x"), .array([]), .object(JSONObject()),
        ]
        switch value {
        case .object(let object) where !object.isEmpty && (depth == 0 || rng.next() % 4 != 0):
            let position = Int(rng.next() % UInt64(object.count))
            var members = object.members
            if rng.next() % 6 == 0 {
                members.remove(at: position)
            } else if let child = mutate(members[position].value, rng: &rng, depth: depth + 1) {
                members[position].value = child
            }
            return .object(JSONObject(members.map { ($0.key, $0.value) }))
        case .array(var elements) where !elements.isEmpty && rng.next() % 4 != 0:
            let position = Int(rng.next() % UInt64(elements.count))
            switch rng.next() % 5 {
            case 0: elements.remove(at: position)
            case 1: elements.append(elements[position])
            case 2: elements.swapAt(position, Int(rng.next() % UInt64(elements.count)))
            default: if let child = mutate(elements[position], rng: &rng, depth: depth + 1) { elements[position] = child }
            }
            return .array(elements)
        case .string(let text) where !text.isEmpty && rng.next() % 2 == 0:
            // One character changed: a flipped base64 digit, a digit in an index, a letter in a note.
            var characters = Array(text)
            characters[Int(rng.next() % UInt64(characters.count))] = ["A", "/", "+", "=", "0", "9", "\n", "é"][Int(rng.next() % 8)]
            return .string(String(characters))
        default:
            return replacements[Int(rng.next() % UInt64(replacements.count))]
        }
    }

    static let jsonBytes = Array("\"{}[],:0\\ ".utf8)

    /// Byte-level: bit flips, inserted and deleted bytes.
    static func mutate(_ bytes: [UInt8], rng: inout SplitMix64) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<(1 + Int(rng.next() % 3)) {
            let at = Int(rng.next() % UInt64(bytes.count))
            switch rng.next() % 3 {
            case 0: bytes[at] ^= UInt8(1) << UInt8(rng.next() % 8)
            case 1: bytes.insert(BundleMutationTests.jsonBytes[Int(rng.next() % UInt64(BundleMutationTests.jsonBytes.count))], at: at)
            default: bytes.remove(at: at)
            }
        }
        return bytes
    }

    /// An event without what no proof covers: when the store deleted an erased body, the appending token's name.
    static func proved(_ event: EvidenceBundle.Event) -> EvidenceBundle.Event {
        var event = event
        event.erasure?.erasedAt = ""
        event.appendedBy = nil
        return event
    }

    /// three-events.json: v1, made by `greffe serve` before erasure proofs; erased-v2.json: v2 from
    /// ops/tests/adversary-erasure.sh, event 1 erased and proved by its erasure.executed record.
    @Test(
        "2,000 seeded mutations: no crash; what parses re-encodes to the same bundle; nothing proved or signed changes and still verifies",
        arguments: ["three-events.json", "erased-v2.json"])
    func mutations(seedFile: String) throws {
        let seed = Array(try Data(contentsOf: BundleMutationTests.corpusURL.appendingPathComponent(seedFile)))
        let original = try EvidenceBundle(parsing: seed)
        let verifier = try NoteVerifier(verifierKey: original.verifierKey)
        #expect(BundleVerifier.verify(original, verifier: verifier).verified, "the seed bundle itself must verify")
        let document = try JSONParser.parse(seed, limits: JSONLimits(maxDepth: 64, maxBytes: 1 << 24))
        var rng = SplitMix64(seed: 0x6275_6e64_6c65)  // "bundle"
        var counts = (parsed: 0, verified: 0, rejectedByVerifier: 0)
        for round in 0..<2_000 {
            let bytes = round % 2 == 0
                ? BundleMutationTests.mutate(seed, rng: &rng)
                : (BundleMutationTests.mutate(document, rng: &rng) ?? document).canonicalBytes()
            guard let bundle = try? EvidenceBundle(parsing: bytes) else { continue }
            counts.parsed += 1
            let again = try EvidenceBundle(parsing: bundle.json.canonicalBytes())
            #expect(again == bundle, "round \(round): re-encoded bundle parses to another bundle")
            let report = BundleVerifier.verify(bundle, verifier: verifier)
            guard report.verified else {
                counts.rejectedByVerifier += 1
                #expect(!report.failures.isEmpty && report.failures.allSatisfy { !$0.message.isEmpty })
                continue
            }
            counts.verified += 1
            // A verified mutant holds only proved originals: the same checkpoint, some of the same events and
            // earlier checkpoints; what nothing covers (query, creation time, spelling) may differ.
            #expect(bundle.checkpoint == original.checkpoint, "round \(round): another checkpoint verified")
            #expect(bundle.events.map(Self.proved).allSatisfy(original.events.map(Self.proved).contains), "round \(round): a changed event verified")
            #expect(
                bundle.format == .v1 || report.events.allSatisfy { !$0.bodyErased || $0.erasure == .proven },
                "round \(round): a null body verified without a proven erasure")
            #expect(bundle.earlierCheckpoints.allSatisfy(original.earlierCheckpoints.contains), "round \(round): a changed earlier checkpoint verified")
            // The key named inside the bundle is not trusted; a different one is pointed out to the reader.
            if bundle.verifierKey != original.verifierKey {
                #expect(report.notes.contains { $0.contains("names the key") }, "round \(round): another named key went unremarked")
            }
        }
        // Both outcomes are exercised: many mutants parse, and the verifier, not the parser, rejects most of those.
        #expect(counts.parsed > 500, "only \(counts.parsed) mutants parsed")
        #expect(counts.rejectedByVerifier > 200, "only \(counts.rejectedByVerifier) parsed mutants failed verification")
        #expect(counts.verified > 100, "only \(counts.verified) harmless mutants verified")
    }
}
