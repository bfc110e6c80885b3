import Foundation
import GreffeCore
import GreffeTestTSA
import GreffeTimestamp
@testable import GreffeVerify
import Testing

/// Renewed timestamps (Schemas/bundle.md, "Renewed timestamps"): a token whose
/// certificate nears its end is covered by a later token over the checkpoint and
/// every token before it. The chains here start with a token from a TSA whose
/// certificate lasts an hour (`hour`), renewed by `tsa.pem` (ten years), then by
/// `decades` (twenty).
@Suite struct RenewalTests {
    let tsa: TestTSA
    let original: EvidenceBundle
    let verifier: NoteVerifier
    let checkpoint: Checkpoint

    init() throws {
        tsa = try TestTSA.make()
        try tsa.issueTSA("hour", validForSeconds: 3_600)
        try tsa.issueTSA("decades", validForSeconds: 20 * 365 * 86_400)
        original = try EvidenceBundle(parsing: Array(try Data(contentsOf: BundleTimestampTests.seedURL)))
        verifier = try NoteVerifier(verifierKey: original.verifierKey)
        checkpoint = try CheckpointVerifier.verify(note: original.checkpoint, verifiers: [verifier]).checkpoint
    }

    /// The bundle checkpoint's token from `first`, renewed by each of `renewers` in turn.
    func chain(first: String, renewers: [String]) throws -> EvidenceBundle.CheckpointTimestamp {
        let note = original.checkpoint
        var tokens = [try tsa.token(imprint: Timestamp.imprint(ofCheckpointNote: note), as: first).token]
        for name in renewers {
            tokens.append(try tsa.token(imprint: Timestamp.renewalImprint(ofCheckpointNote: note, earlier: tokens), as: name).token)
        }
        return .init(treeSize: 26, checkpoint: note, token: tokens[0], consistencyProof: [], renewals: Array(tokens.dropFirst()))
    }

    /// `BundleVerifier`'s timestamp step alone, as of `now`.
    func check(_ stamp: EvidenceBundle.CheckpointTimestamp, now: Date = Date()) throws -> BundleReport {
        var report = BundleReport(keyName: "test")
        BundleVerifier.checkTimestamps(
            [stamp], needed: nil, latestRecorded: { _ in nil }, checkpoint: checkpoint, verifiers: [verifier], trust: try tsa.trust(),
            report: &report, nowSeconds: Int64(now.timeIntervalSince1970))
        return report
    }

    @Test func aRenewedTokenVerifiesAndTheReportNamesEveryRenewal() throws {
        var bundle = original
        bundle.timestamps = [try chain(first: "hour", renewers: ["tsa", "decades"])]
        let report = BundleVerifier.verify(bundle, verifier: verifier, timestampTrust: try tsa.trust())
        #expect(report.verified, "\(report.failures)")
        let stamp = try #require(report.timestamps.first)
        #expect(stamp.status == .verified)
        #expect(stamp.attestedBy == "CN=Greffe Test TSA hour,O=Greffe Test")
        #expect(stamp.renewals.map(\.attestedBy) == ["CN=Greffe Test TSA,O=Greffe Test", "CN=Greffe Test TSA decades,O=Greffe Test"])
        #expect(stamp.lastCertificateExpired == false)
        let text = BundleReportRendering.text(report, file: "b.json")
        #expect(text.contains("renewed at 20") && text.contains("by CN=Greffe Test TSA decades,O=Greffe Test"))
        let json = BundleReportRendering.json(report)
        #expect(json["timestamps"]?.arrayValue?.first?["renewals"]?.arrayValue?.count == 2)
        // The renewals survive the bundle's own JSON, in order.
        #expect(try EvidenceBundle(parsing: bundle.json.canonicalBytes()) == bundle)
    }

    @Test func aTokenPastItsCertificateWithoutRenewalSaysSoAndARenewedOneDoesNot() throws {
        let twoHoursOn = Date().addingTimeInterval(7_200)
        let alone = try check(try chain(first: "hour", renewers: []), now: twoHoursOn)
        #expect(alone.failures.isEmpty)
        #expect(alone.timestamps.first?.lastCertificateExpired == true)
        #expect(alone.timestamps.first?.sentence.contains("expired on") == true)
        #expect(alone.timestamps.first?.sentence.contains("was not renewed before") == true)

        let renewed = try check(try chain(first: "hour", renewers: ["tsa"]), now: twoHoursOn)
        #expect(renewed.failures.isEmpty, "\(renewed.failures)")
        #expect(renewed.timestamps.first?.lastCertificateExpired == false)
        #expect(renewed.timestamps.first?.sentence.contains("expired") == false)
    }

    @Test func doctoredRenewalsAreRefusedAndNamed() throws {
        let good = try chain(first: "hour", renewers: ["tsa", "decades"])
        #expect(try check(good).failures.isEmpty)
        func failure(_ edit: (inout EvidenceBundle.CheckpointTimestamp) -> Void) throws -> String? {
            var stamp = good
            edit(&stamp)
            let report = try check(stamp)
            #expect(report.timestamps.first?.status == .failed)
            return report.failures.first?.message
        }
        // Reordered: each renewal is over the tokens before it, so order is part of what is signed.
        #expect(try failure { $0.renewals.swapAt(0, 1) }?.contains("renewal 1 does not hold (imprint mismatch") == true)
        // One removed.
        #expect(try failure { $0.renewals.removeFirst() }?.contains("renewal 1 does not hold (imprint mismatch") == true)
        // One added: a valid token, but over the checkpoint alone.
        let stray = try tsa.token(imprint: Timestamp.imprint(ofCheckpointNote: original.checkpoint)).token
        #expect(try failure { $0.renewals.append(stray) }?.contains("renewal 3 does not hold (imprint mismatch") == true)
        // Replaced by the token it renews.
        #expect(try failure { $0.renewals[0] = $0.token }?.contains("renewal 1 does not hold") == true)
        // A flipped bit in a renewal's signature.
        #expect(try failure { $0.renewals[1][$0.renewals[1].count - 10] ^= 0x20 }?.contains("renewal 2 does not hold (bad signature") == true)
        // The first token swapped for another over the same checkpoint: the renewals no longer cover it.
        let other = try tsa.token(imprint: Timestamp.imprint(ofCheckpointNote: original.checkpoint), as: "hour").token
        #expect(try failure { $0.token = other }?.contains("renewal 1 does not hold (imprint mismatch") == true)
        // Not garbage either: a renewal that is no token at all.
        #expect(try failure { $0.renewals[0] = Array("junk".utf8) }?.contains("renewal 1 does not hold (malformed token") == true)
    }

    @Test func aRenewalMadeAfterTheCertificateExpiredProvesNothing() throws {
        // A certificate that ends two seconds after it is issued; its token is made at once.
        let name = "brief-\(UInt32.random(in: 0...UInt32.max))"
        try tsa.issueTSA(name, validForSeconds: 2)
        let note = original.checkpoint
        let first = try tsa.token(imprint: Timestamp.imprint(ofCheckpointNote: note), as: name).token
        let end = try #require(try Timestamp.inspect(token: first).signerNotAfterSeconds)
        // Wait (bounded) until that certificate has expired, then renew: too late.
        let deadline = Date().addingTimeInterval(30)
        while Int64(Date().timeIntervalSince1970) <= end + 1 && Date() < deadline { Thread.sleep(forTimeInterval: 0.25) }
        let late = try tsa.token(imprint: Timestamp.renewalImprint(ofCheckpointNote: note, earlier: [first])).token
        let report = try check(.init(treeSize: 26, checkpoint: note, token: first, consistencyProof: [], renewals: [late]))
        #expect(report.failures.count == 1)
        #expect(report.failures.first?.message.contains("renewal 1 does not renew the token before it") == true)
        #expect(report.failures.first?.message.contains("after the certificate of the token it renews expired") == true)
    }

    @Test func theRenewalsMemberIsParsedStrictly() throws {
        var bundle = original
        bundle.timestamps = [try chain(first: "hour", renewers: ["tsa"])]
        let good = bundle.json
        func parse(_ renewals: JSONValue?) -> EvidenceBundle.FormatError? {
            var object = good["timestamps"]!.arrayValue![0].objectValue!
            object["renewals"] = renewals
            var document = good.objectValue!
            document["timestamps"] = .array([.object(object)])
            do {
                _ = try EvidenceBundle(parsing: JSONValue.object(document).canonicalBytes())
                return nil
            } catch { return error }
        }
        #expect(parse(good["timestamps"]!.arrayValue![0]["renewals"]) == nil)
        // Absent is "never renewed"; present must say something.
        #expect(parse(nil) == nil)
        #expect(parse(.array([]))?.description.contains("/timestamps/0/renewals is not a non-empty array") == true)
        #expect(parse(.string("x"))?.description.contains("/timestamps/0/renewals") == true)
        #expect(parse(.array([.string("***")]))?.description.contains("/timestamps/0/renewals/0 is not base64") == true)
        #expect(parse(.array([.number(1)]))?.description.contains("/timestamps/0/renewals/0") == true)
        let many = JSONValue.array(Array(repeating: .string("AAAA"), count: EvidenceBundle.CheckpointTimestamp.maxRenewals + 1))
        #expect(parse(many)?.description.contains("more than \(EvidenceBundle.CheckpointTimestamp.maxRenewals)") == true)
    }

    @Test func theTimeRuleOnItsOwn() {
        let hour: Int64 = 3_600
        #expect(Timestamp.renewalTimeViolation([(1_000, 1_000 + hour)]) == nil)
        #expect(Timestamp.renewalTimeViolation([(1_000, 1_000 + hour), (1_500, 9_999_999)]) == nil)
        // Renewed at the last second of validity: still in time.
        #expect(Timestamp.renewalTimeViolation([(1_000, 2_000), (2_000, 9_999_999)]) == nil)
        #expect(Timestamp.renewalTimeViolation([(1_000, 2_000), (2_001, 9_999_999)])?.position == 1)
        #expect(Timestamp.renewalTimeViolation([(1_000, 2_000), (999, 9_999_999)])?.message.contains("before the token it renews") == true)
        #expect(Timestamp.renewalTimeViolation([(1_000, nil), (1_001, 9_999_999)])?.message.contains("names no signing certificate") == true)
        // The second renewal late for the first.
        #expect(Timestamp.renewalTimeViolation([(1_000, 2_000), (1_500, 3_000), (3_001, 9_999_999)])?.position == 2)
    }

    @Test func storedRenewalsSplitBackIntoTheirTokens() throws {
        let tokens = try [chain(first: "tsa", renewers: ["decades"])].flatMap { [$0.token] + $0.renewals }
        #expect(try Timestamp.split(concatenated: Timestamp.concatenate(tokens)) == tokens)
        #expect(try Timestamp.split(concatenated: []) == [])
        let joined = Timestamp.concatenate(tokens)
        #expect(throws: TimestampError.self) { try Timestamp.split(concatenated: Array(joined.dropLast())) }
        #expect(throws: TimestampError.self) { try Timestamp.split(concatenated: [0x04, 0x01, 0x00]) }
        // Indefinite length is BER, not DER.
        #expect(throws: TimestampError.self) { try Timestamp.split(concatenated: [0x30, 0x80, 0x00, 0x00]) }
        #expect(throws: TimestampError.self) { try Timestamp.split(concatenated: joined + [0x30]) }
    }

    @Test func theRenewalImprintIsOverTheBodysDigestThenEveryEarlierToken() throws {
        let note = original.checkpoint
        let (a, b): ([UInt8], [UInt8]) = ([0x30, 0x01, 0xAA], [0x30, 0x02, 0xBB, 0xCC])
        let body = Array(try SignedNote(parsing: note).text.utf8)
        // Written out from the schema's words (timestamp.sh checks it with Python's hashlib and openssl).
        let expected = MerkleHash.sha256(MerkleHash.sha256(body).bytes + a + b)
        #expect(try Timestamp.renewalImprint(ofCheckpointNote: note, earlier: [a, b]) == expected)
        #expect(try Timestamp.renewalImprint(ofCheckpointNote: note, earlier: [b, a]) != expected)
        #expect(throws: TimestampError.self) { try Timestamp.renewalImprint(ofCheckpointNote: note, earlier: []) }
    }
}
