// Bundles whose checkpoints carry witness cosignatures (c2sp.org/tlog-cosignature),
// checked with `--witness` keys and a quorum: the untouched bundle verifies and
// names each cosigner and its time; every tampering is caught and names the
// witness concerned.

import Foundation
import GreffeCore
import GreffeVerify
import Testing

@Suite("bundles with witness cosignatures")
struct CosignedBundleTests {
    static let time: UInt64 = 1_764_000_000

    struct Fixture {
        var bundle: EvidenceBundle
        let log: NoteVerifier
        let w1: CosignatureSigner
        let w2: CosignatureSigner

        init() throws {
            let bytes = Array(try Data(contentsOf: BundleMutationTests.seedURL))
            bundle = try EvidenceBundle(parsing: bytes)
            log = try NoteVerifier(verifierKey: bundle.verifierKey)
            w1 = try CosignatureSigner(generatingFor: "witness.example/w1")
            w2 = try CosignatureSigner(generatingFor: "witness.example/w2")
            bundle.checkpoint = try Self.cosign(bundle.checkpoint, by: [w1, w2], at: CosignedBundleTests.time)
        }

        static func cosign(_ noteText: String, by signers: [CosignatureSigner], at time: UInt64) throws -> String {
            let note = try SignedNote(parsing: noteText)
            return try noteText + signers.enumerated().map { try $1.cosign(checkpointText: note.text, timestamp: time + UInt64($0)).line }.joined()
        }

        func policy(_ quorum: Int? = nil, _ witnesses: [CosignatureSigner]? = nil) throws -> WitnessQuorum {
            try WitnessQuorum(witnesses: (witnesses ?? [w1, w2]).map(\.verifier), quorum: quorum)
        }

        func verify(_ bundle: EvidenceBundle, _ policy: WitnessQuorum) -> BundleReport {
            BundleVerifier.verify(bundle, verifier: log, witnesses: policy)
        }
    }

    /// The checkpoint's signature lines, the log's first.
    static func lines(_ note: String) -> [String] {
        let block = note[note.range(of: "\n\n")!.upperBound...]
        return block.split(separator: "\n").map(String.init)
    }

    static func replacingLines(_ note: String, _ edit: (inout [String]) -> Void) -> String {
        let text = String(note[..<note.range(of: "\n\n")!.upperBound])
        var lines = lines(note)
        edit(&lines)
        return text + lines.map { $0 + "\n" }.joined()
    }

    @Test func untouchedBundleVerifiesAndNamesEachCosigner() throws {
        let fixture = try Fixture()
        let report = fixture.verify(fixture.bundle, try fixture.policy())
        #expect(report.verified, "\(report.failures)")
        #expect(report.cosignatures?.cosigned.map(\.witness) == [fixture.w1.verifier.keyName, fixture.w2.verifier.keyName])
        #expect(report.cosignatures?.cosigned.map(\.timestamp) == [Self.time, Self.time + 1])
        let text = BundleReportRendering.text(report, file: "b.json")
        #expect(text.contains("\(fixture.w1.verifier.keyName) at 2025-11-24T16:00:00Z"))
        #expect(text.contains("\(fixture.w2.verifier.keyName) at 2025-11-24T16:00:01Z"))
        let json = BundleReportRendering.json(report)
        #expect(json["witnesses"]?["quorum_met"] == .bool(true))
        #expect(json["witnesses"]?["cosigned"]?.arrayValue?.count == 2)
        // Without --witness the cosignature lines are ignored, as any unknown signature.
        #expect(BundleVerifier.verify(fixture.bundle, verifier: fixture.log).verified)
        // The bundle round-trips through its JSON with the lines intact.
        let reparsed = try EvidenceBundle(parsing: fixture.bundle.json.canonicalBytes())
        #expect(fixture.verify(reparsed, try fixture.policy()).verified)
    }

    @Test func removedCosignatureIsNamed() throws {
        var fixture = try Fixture()
        fixture.bundle.checkpoint = Self.replacingLines(fixture.bundle.checkpoint) { $0.remove(at: 2) }
        let report = fixture.verify(fixture.bundle, try fixture.policy())
        #expect(!report.verified)
        #expect(report.failures.map(\.code) == [.witnessQuorum])
        #expect(report.failures[0].message.contains("no cosignature by \(fixture.w2.verifier.keyName)"))
        #expect(report.cosignatures?.missing == [fixture.w2.verifier.keyName])
        // Quorum 1 of the two keys still holds.
        #expect(fixture.verify(fixture.bundle, try fixture.policy(1)).verified)
    }

    @Test func flippedByteInEveryCosignatureIsCaught() throws {
        let fixture = try Fixture()
        for line in 1...2 {
            let original = Self.lines(fixture.bundle.checkpoint)[line]
            let prefix = original.prefix(while: { $0 != " " }).count + 1 + original.dropFirst(2).prefix(while: { $0 != " " }).count + 1
            // Every base64 digit of the payload after the key ID (timestamp and signature).
            for position in (prefix + 8)..<(original.count - 3) {
                var bundle = fixture.bundle
                bundle.checkpoint = Self.replacingLines(bundle.checkpoint) { lines in
                    var characters = Array(lines[line])
                    characters[position] = characters[position] == "A" ? "B" : "A"
                    lines[line] = String(characters)
                }
                let report = fixture.verify(bundle, try fixture.policy(1))
                let witness = (line == 1 ? fixture.w1 : fixture.w2).verifier.keyName
                #expect(!report.verified, "line \(line) position \(position)")
                #expect(report.failures.contains { $0.code == .cosignature && $0.message.contains(witness) }, "line \(line) position \(position)")
            }
        }
    }

    @Test func cosignatureByAnUnknownKeyDoesNotCount() throws {
        var fixture = try Fixture()
        // w2's line replaced by one from another key with the same name: another key ID, so ignored.
        let impostor = try CosignatureSigner(generatingFor: "witness.example/w2")
        let note = try SignedNote(parsing: fixture.bundle.checkpoint)
        let forged = try impostor.cosign(checkpointText: note.text, timestamp: Self.time).line
        fixture.bundle.checkpoint = Self.replacingLines(fixture.bundle.checkpoint) { $0[2] = String(forged.dropLast()) }
        let report = fixture.verify(fixture.bundle, try fixture.policy())
        #expect(!report.verified)
        #expect(report.failures.map(\.code) == [.witnessQuorum])
        #expect(report.failures[0].message.contains(fixture.w2.verifier.keyName))
        #expect(report.notes.contains { $0.contains("keys you did not give were ignored") && $0.contains("witness.example/w2") })

        // A cosignature by the right key over another checkpoint, moved onto this one: invalid, named.
        var moved = try Fixture()
        let other = try SignedNote(parsing: moved.bundle.earlierCheckpoints[0].note)
        let elsewhere = try moved.w2.cosign(checkpointText: other.text, timestamp: Self.time).line
        moved.bundle.checkpoint = Self.replacingLines(moved.bundle.checkpoint) { $0[2] = String(elsewhere.dropLast()) }
        let movedReport = moved.verify(moved.bundle, try moved.policy())
        #expect(movedReport.failures.map(\.code) == [.cosignature, .witnessQuorum])
        #expect(movedReport.failures[0].message.contains(moved.w2.verifier.keyName))
    }

    @Test func quorumNotMetIsNamed() throws {
        var fixture = try Fixture()
        let w3 = try CosignatureSigner(generatingFor: "witness.example/w3")
        // Three keys given, two cosigned: quorum 3 fails naming w3; 2 holds.
        let report = fixture.verify(fixture.bundle, try fixture.policy(3, [fixture.w1, fixture.w2, w3]))
        #expect(report.failures.map(\.code) == [.witnessQuorum])
        #expect(report.failures[0].message.contains("2 of the given witnesses cosigned it validly; 3 required"))
        #expect(report.failures[0].message.contains(w3.verifier.keyName))
        #expect(fixture.verify(fixture.bundle, try fixture.policy(2, [fixture.w1, fixture.w2, w3])).verified)
        // No cosignature at all.
        fixture.bundle.checkpoint = Self.replacingLines(fixture.bundle.checkpoint) { $0.removeLast(2) }
        let bare = fixture.verify(fixture.bundle, try fixture.policy(1))
        #expect(bare.failures.map(\.code) == [.witnessQuorum])
        #expect(BundleReportRendering.text(bare, file: "b").contains("No given witness cosigned this state"))
    }

    @Test func earlierCheckpointsCosignaturesAreReportedAndChecked() throws {
        var fixture = try Fixture()
        fixture.bundle.earlierCheckpoints[0].note = try Fixture.cosign(fixture.bundle.earlierCheckpoints[0].note, by: [fixture.w1], at: Self.time - 60)
        let report = fixture.verify(fixture.bundle, try fixture.policy())
        #expect(report.verified, "\(report.failures)")
        #expect(report.notes.contains { $0.contains("earlier checkpoint 0 was cosigned by \(fixture.w1.verifier.keyName)") })
        // A forged line on the earlier checkpoint is a failure even though no quorum is asked of it.
        fixture.bundle.earlierCheckpoints[0].note = Self.replacingLines(fixture.bundle.earlierCheckpoints[0].note) { lines in
            lines[1] = String(lines[1].dropLast(4)) + "AAA="
        }
        let tampered = fixture.verify(fixture.bundle, try fixture.policy())
        #expect(tampered.failures.map(\.code) == [.cosignature])
        #expect(tampered.failures[0].location == "earlier checkpoint 0")
    }

    @Test func policyRefusesBadQuorums() throws {
        let w1 = try CosignatureSigner(generatingFor: "w1").verifier
        let w2 = try CosignatureSigner(generatingFor: "w2").verifier
        #expect(throws: WitnessQuorum.ConfigurationError.self) { try WitnessQuorum(witnesses: [w1, w2], quorum: 0) }
        #expect(throws: WitnessQuorum.ConfigurationError.self) { try WitnessQuorum(witnesses: [w1, w2], quorum: 3) }
        #expect(throws: WitnessQuorum.ConfigurationError.self) { try WitnessQuorum(witnesses: [w1, w1], quorum: 1) }
        #expect(throws: WitnessQuorum.ConfigurationError.self) { try WitnessQuorum(witnesses: [], quorum: nil) }
        #expect(try WitnessQuorum(witnesses: [w1, w2]).quorum == 2)
    }
}
