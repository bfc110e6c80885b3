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

    /// A renewal of the chain `earlier` by the TSA `name`, in a batch where this chain's message is
    /// leaf `position` among `others` other messages (which stand for other checkpoints' chains).
    func renewal(of earlier: [UInt8]..., by name: String, position: Int = 0, others: Int = 0) throws -> TimestampRenewal {
        try renewal(chain: earlier, by: name, position: position, others: others)
    }

    func renewal(chain earlier: [[UInt8]], by name: String, position: Int = 0, others: Int = 0) throws -> TimestampRenewal {
        let message = try Timestamp.renewalMessage(ofCheckpointNote: original.checkpoint, earlier: earlier)
        var messages = (0..<others).map { MerkleHash.sha256(Array("another chain \($0)".utf8)) }
        messages.insert(message, at: position)
        let (root, proofs) = Timestamp.renewalBatch(messages)
        let token = try tsa.token(imprint: root, as: name).token
        return TimestampRenewal(token: token, leafIndex: UInt64(position), treeSize: UInt64(messages.count), inclusionProof: proofs[position])
    }

    /// The bundle checkpoint's token from `first`, renewed by each of `renewers` in turn
    /// (the second renewal in a batch of five, at leaf 3, so proofs are not trivial).
    func chain(first: String, renewers: [String]) throws -> EvidenceBundle.CheckpointTimestamp {
        let note = original.checkpoint
        let token = try tsa.token(imprint: Timestamp.imprint(ofCheckpointNote: note), as: first).token
        var renewals: [TimestampRenewal] = []
        for (number, name) in renewers.enumerated() {
            renewals.append(
                try renewal(chain: [token] + renewals.map(\.token), by: name, position: number == 1 ? 3 : 0, others: number == 1 ? 4 : 0))
        }
        return .init(treeSize: 26, checkpoint: note, token: token, consistencyProof: [], renewals: renewals)
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
        #expect(
            try failure { $0.renewals.append(TimestampRenewal(token: stray, leafIndex: 0, treeSize: 1, inclusionProof: [])) }?
                .contains("renewal 3 does not hold (imprint mismatch") == true)
        // Its token replaced by the token it renews.
        #expect(try failure { $0.renewals[0].token = $0.token }?.contains("renewal 1 does not hold") == true)
        // A flipped bit in a renewal's signature.
        #expect(
            try failure { $0.renewals[1].token[$0.renewals[1].token.count - 10] ^= 0x20 }?.contains("renewal 2 does not hold (bad signature") == true)
        // The batch proof moved to another leaf, cut short, or changed: it no longer leads to the signed root.
        #expect(try failure { $0.renewals[1].leafIndex = 2 }?.contains("renewal 2 does not hold (imprint mismatch") == true)
        #expect(try failure { $0.renewals[1].inclusionProof.removeLast() }?.contains("renewal 2 does not hold (imprint mismatch") == true)
        #expect(
            try failure { $0.renewals[1].inclusionProof[0] = MerkleHash.sha256([0]) }?.contains("renewal 2 does not hold (imprint mismatch") == true)
        // The first token swapped for another over the same checkpoint: the renewals no longer cover it.
        let other = try tsa.token(imprint: Timestamp.imprint(ofCheckpointNote: original.checkpoint), as: "hour").token
        #expect(try failure { $0.token = other }?.contains("renewal 1 does not hold (imprint mismatch") == true)
        // Not garbage either: a renewal whose token is no token at all.
        #expect(try failure { $0.renewals[0].token = Array("junk".utf8) }?.contains("renewal 1 does not hold (malformed token") == true)
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
        let late = try renewal(of: first, by: "tsa")
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
        let good0 = good["timestamps"]!.arrayValue![0]["renewals"]!.arrayValue![0].objectValue!
        func edited(_ edit: (inout JSONObject) -> Void) -> JSONValue {
            var item = good0
            edit(&item)
            return .array([.object(item)])
        }
        #expect(parse(.array([.string("AAAA")]))?.description.contains("/timestamps/0/renewals/0 is not an object") == true)
        #expect(parse(edited { $0["token"] = .string("***") })?.description.contains("/timestamps/0/renewals/0/token") == true)
        #expect(parse(edited { $0["leaf_index"] = .number(1) })?.description.contains("/timestamps/0/renewals/0/leaf_index") == true)
        #expect(parse(edited { $0["tree_size"] = .number(0) })?.description.contains("/timestamps/0/renewals/0/tree_size") == true)
        #expect(parse(edited { $0["inclusion_proof"] = .array([.string("x")]) })?.description.contains("inclusion_proof/0") == true)
        #expect(parse(edited { $0["inclusion_proof"] = nil })?.description.contains("inclusion_proof") == true)
        #expect(parse(edited { $0["signed_by"] = .string("me") })?.description.contains("unknown field \"signed_by\"") == true)
        let many = JSONValue.array(Array(repeating: .object(good0), count: EvidenceBundle.CheckpointTimestamp.maxRenewals + 1))
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

    @Test func storedChainsReadBackAsWritten() throws {
        let renewals = try chain(first: "tsa", renewers: ["decades", "decades"]).renewals
        #expect(try TimestampRenewal.decode(TimestampRenewal.encode(renewals)) == renewals)
        #expect(try TimestampRenewal.decode(TimestampRenewal.encode([])) == [])
        #expect(throws: TimestampError.self) { try TimestampRenewal.decode(Array("[{\"token\":1}]".utf8)) }
        #expect(throws: TimestampError.self) { try TimestampRenewal.decode(Array("not json".utf8)) }
    }

    @Test func theRenewalMessageIsOverTheBodysDigestThenEveryEarlierTokenAndTheImprintIsItsBatchRoot() throws {
        let note = original.checkpoint
        let (a, b): ([UInt8], [UInt8]) = ([0x30, 0x01, 0xAA], [0x30, 0x02, 0xBB, 0xCC])
        let body = Array(try SignedNote(parsing: note).text.utf8)
        // Written out from the schema's words (timestamp.sh checks it with Python's hashlib and openssl).
        let expected = MerkleHash.sha256(MerkleHash.sha256(body).bytes + a + b)
        #expect(try Timestamp.renewalMessage(ofCheckpointNote: note, earlier: [a, b]) == expected)
        #expect(try Timestamp.renewalMessage(ofCheckpointNote: note, earlier: [b, a]) != expected)
        #expect(throws: TimestampError.self) { try Timestamp.renewalMessage(ofCheckpointNote: note, earlier: []) }
        // Alone in its batch, the imprint is the message's RFC 9162 leaf hash; in a batch of two, their node.
        let alone = TimestampRenewal(token: [], leafIndex: 0, treeSize: 1, inclusionProof: [])
        #expect(try Timestamp.renewalImprint(message: expected, renewal: alone) == MerkleHash.sha256([0] + expected.bytes))
        let other = MerkleHash.sha256([1])
        let (root, proofs) = Timestamp.renewalBatch([other, expected])
        #expect(root == MerkleHash.sha256([1] + MerkleHash.sha256([0] + other.bytes).bytes + MerkleHash.sha256([0] + expected.bytes).bytes))
        let second = TimestampRenewal(token: [], leafIndex: 1, treeSize: 2, inclusionProof: proofs[1])
        #expect(try Timestamp.renewalImprint(message: expected, renewal: second) == root)
    }
}
