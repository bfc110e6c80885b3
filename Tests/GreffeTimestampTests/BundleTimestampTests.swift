import Foundation
import GreffeCore
import GreffeTestTSA
import GreffeTimestamp
@testable import GreffeVerify
import Testing

/// Bundles carrying RFC 3161 tokens: verified offline with `--tsa-cert`,
/// reported as not checked without it, every tampering caught and named.
/// The bundle is the real three-event fuzz seed (checkpoint of size 26, an
/// earlier one of size 3 with its consistency proof); the tokens come from the
/// test TSA.
@Suite struct BundleTimestampTests {
    let tsa: TestTSA
    let original: EvidenceBundle
    let verifier: NoteVerifier

    static let seedURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus/bundle/three-events.json")

    init() throws {
        tsa = try TestTSA.make()
        original = try EvidenceBundle(parsing: Array(try Data(contentsOf: BundleTimestampTests.seedURL)))
        verifier = try NoteVerifier(verifierKey: original.verifierKey)
    }

    /// Tokens over the size-3 checkpoint (covers the events) and the bundle's own (size 26).
    func stamped(policy: String? = nil) throws -> EvidenceBundle {
        var bundle = original
        let earlier = try #require(original.earlierCheckpoints.first)
        let early = try tsa.token(imprint: Timestamp.imprint(ofCheckpointNote: earlier.note), policy: policy).token
        let own = try tsa.token(imprint: Timestamp.imprint(ofCheckpointNote: original.checkpoint), policy: policy).token
        bundle.timestamps = [
            .init(treeSize: 3, checkpoint: earlier.note, token: early, consistencyProof: earlier.consistencyProof),
            .init(treeSize: 26, checkpoint: original.checkpoint, token: own, consistencyProof: []),
        ]
        return bundle
    }

    @Test func tokensVerifyAndTheReportStatesTheTime() throws {
        let bundle = try stamped()
        let report = BundleVerifier.verify(bundle, verifier: verifier, timestampTrust: try tsa.trust())
        #expect(report.verified, "\(report.failures)")
        #expect(report.timestamps.map(\.status) == [.verified, .verified])
        #expect(report.timestamps.allSatisfy { $0.coversEvents })
        #expect(report.timestampGap == nil)
        let text = BundleReportRendering.text(report, file: "b.json")
        #expect(text.contains("this state of the ledger (size 3) existed no later than 20"))
        #expect(text.contains("attested by CN=Greffe Test TSA,O=Greffe Test"))
        #expect(text.contains("RESULT: VERIFIED"))
        #expect(!text.contains("NOT CHECKED"))
        let json = BundleReportRendering.json(report)
        #expect(json["timestamps"]?.arrayValue?.first?["status"]?.stringValue == "verified")
        // The bundle survives its own JSON.
        #expect(try EvidenceBundle(parsing: bundle.json.canonicalBytes()) == bundle)
    }

    @Test func withoutTheTSACertificateTokensAreNotCheckedAndSaySo() throws {
        let report = BundleVerifier.verify(try stamped(), verifier: verifier)
        // Not checked is not failed: the log's proofs hold; the time is claimed, not attested.
        #expect(report.verified)
        #expect(report.timestamps.map(\.status) == [.notChecked, .notChecked])
        #expect(report.timestamps.allSatisfy { $0.attestedBy == nil })
        let text = BundleReportRendering.text(report, file: "b.json")
        #expect(text.contains("Trusted time NOT CHECKED"))
        #expect(text.contains("were NOT checked: give --tsa-cert"))
        #expect(!text.contains("attested by"))
    }

    @Test func aBundleWithoutTokensShowsTheGap() throws {
        let report = BundleVerifier.verify(original, verifier: verifier, timestampTrust: try tsa.trust())
        #expect(report.verified)
        #expect(report.timestampGap?.contains("no RFC 3161 timestamp covers these events") == true)
        #expect(BundleReportRendering.text(report, file: "b.json").contains("NO TRUSTED TIME"))
        // Without --tsa-cert an old bundle reads as before: no timestamp talk at all.
        let plain = BundleVerifier.verify(original, verifier: verifier)
        #expect(plain.timestampGap == nil && plain.timestamps.isEmpty)
        #expect(original.json["timestamps"] == nil)
    }

    @Test func theBundleCheckpointsOwnTokenAloneCoversTheEvents() throws {
        var bundle = try stamped()
        bundle.timestamps = [bundle.timestamps[1]]
        let report = BundleVerifier.verify(bundle, verifier: verifier, timestampTrust: try tsa.trust())
        #expect(report.verified && report.timestampGap == nil && report.timestamps[0].coversEvents)
        #expect(BundleReportRendering.text(report, file: "b.json").contains("(size 26) existed no later than"))
    }

    func failures(_ bundle: EvidenceBundle, trust: TimestampTrust) -> [BundleReport.Failure] {
        let report = BundleVerifier.verify(bundle, verifier: verifier, timestampTrust: trust)
        #expect(!report.verified)
        #expect(!BundleReportRendering.text(report, file: "b.json").contains("RESULT: VERIFIED"))
        return report.failures
    }

    @Test func tamperingIsCaughtAndNamed() throws {
        let good = try stamped()
        let trust = try tsa.trust()

        // A token of another checkpoint.
        var swapped = good
        swapped.timestamps[0].token = good.timestamps[1].token
        var found = failures(swapped, trust: trust)
        #expect(found.count == 1 && found[0].code == .timestamp && found[0].location == "timestamp 0 (size 3)")
        #expect(found[0].message.contains("imprint mismatch"))

        // A flipped bit in the token's signature.
        var flipped = good
        flipped.timestamps[1].token[flipped.timestamps[1].token.count - 10] ^= 0x20
        found = failures(flipped, trust: trust)
        #expect(found.first?.location == "timestamp 1 (size 26)")
        #expect(found.first?.message.contains("bad signature") == true)

        // Another TSA's CA.
        found = failures(good, trust: try tsa.trust("other-ca.pem"))
        #expect(found.count == 2 && found.allSatisfy { $0.message.contains("untrusted chain") })

        // Another policy required.
        found = failures(good, trust: try tsa.trust(policy: TestTSA.otherPolicy))
        #expect(found.count == 2 && found.allSatisfy { $0.message.contains("wrong policy") })

        // The stamped checkpoint changed: its log signature no longer holds.
        var forged = good
        forged.timestamps[0].checkpoint = forged.timestamps[0].checkpoint.replacingOccurrences(of: "\n3\n", with: "\n4\n")
        found = failures(forged, trust: trust)
        #expect(found.first?.message.contains("its checkpoint") == true)

        // A broken consistency proof from the stamped checkpoint to the bundle's.
        var unproved = good
        unproved.timestamps[0].consistencyProof[0] = unproved.timestamps[0].consistencyProof[1]
        found = failures(unproved, trust: trust)
        #expect(found.count == 1 && found[0].message.contains("consistency proof"))

        // A stated size that is not the checkpoint's.
        var misstated = good
        misstated.timestamps[0].treeSize = 2
        found = failures(misstated, trust: trust)
        #expect(found.first?.message.contains("not the stated 2") == true)

        // A garbled token, unchecked: still a failure (it is not even a token).
        var garbled = good
        garbled.timestamps[0].token = Array("junk".utf8)
        let report = BundleVerifier.verify(garbled, verifier: verifier)
        #expect(!report.verified && report.failures.first?.message.contains("malformed token") == true)
    }

    @Test func theTimestampsFieldIsParsedStrictly() throws {
        let good = try stamped().json
        func parse(_ edit: (inout JSONObject) -> Void) -> EvidenceBundle.FormatError? {
            var object = good["timestamps"]!.arrayValue![0].objectValue!
            edit(&object)
            var document = good.objectValue!
            document["timestamps"] = .array([.object(object)])
            do {
                _ = try EvidenceBundle(parsing: JSONValue.object(document).canonicalBytes())
                return nil
            } catch { return error }
        }
        #expect(parse { _ in } == nil)
        #expect(parse { $0["extra"] = .bool(true) }?.description.contains("unknown field") == true)
        #expect(parse { $0["token"] = .string("***") }?.description.contains("/timestamps/0/token") == true)
        #expect(parse { $0["tree_size"] = .number(-1) }?.description.contains("/timestamps/0/tree_size") == true)
        #expect(parse { $0["checkpoint"] = nil }?.description.contains("/timestamps/0/checkpoint") == true)
        #expect(parse { $0["consistency_proof"] = .string("x") }?.description.contains("consistency_proof") == true)
        var document = good.objectValue!
        document["timestamps"] = .string("none")
        #expect(throws: EvidenceBundle.FormatError.self) { try EvidenceBundle(parsing: JSONValue.object(document).canonicalBytes()) }
    }
}
