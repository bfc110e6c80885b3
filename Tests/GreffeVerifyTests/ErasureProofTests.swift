// Issue 16, point 1: a null body is accepted only with the proof of its
// erasure (greffe-bundle/v2), never on the word of whoever hands the bundle
// over. A log built here, signed by a test key: every forgery, removal,
// addition and downgrade of an erasure claim is refused or reported unproven.

import Foundation
import GreffeCore
@testable import GreffeVerify
import Testing

@Suite("erasure proofs in bundles")
struct ErasureProofTests {
    /// Entries: 0 legal request, 1 report (erased under R1), 2 report (kept),
    /// 3 erasure.executed of 1, 4 report (erased under R2), 5 erasure.executed
    /// of 4, 6 access.granted, 7 erasure.executed of 8 (out of order: no
    /// Greffe writes that, a test key can), 8 report (erased under R3).
    struct Fixture {
        static let r1 = "TJ Paris 26/123"
        static let r2 = "CNIL 2026-77"
        static let r3 = "TJ Lyon 26/9"

        let signer: NoteSigner
        var verifier: NoteVerifier { signer.verifier }
        var entries: [[UInt8]] = []
        var bodies: [JSONValue] = []
        var salts: [[UInt8]] = []
        let tree: MemoryTree

        init() throws {
            signer = try NoteSigner(generatingFor: "erasure.greffe.test/log")
            func report(_ id: String) -> JSONValue {
                ["event_id": .string(id), "kind": "report.received", "occurred_at": "2026-11-25T10:00:00Z", "platform": "example-ai", "schema_version": 1]
            }
            func erasure(_ target: Int, _ reference: String) -> JSONValue {
                [
                    "event_id": .string("greffe-erasure.executed-\(target)"), "kind": "erasure.executed", "occurred_at": "2026-11-25T10:00:00Z",
                    "platform": "greffe", "schema_version": 1, "target_index": .number(Double(target)), "legal_reference": .string(reference),
                    "reason": "data-protection order",
                ]
            }
            let legal: JSONValue = [
                "event_id": "legal-0", "kind": "legal.request", "occurred_at": "2026-11-25T10:00:00Z", "platform": "example-ai", "schema_version": 1,
            ]
            let access: JSONValue = [
                "event_id": "greffe-access.granted-6", "kind": "access.granted", "occurred_at": "2026-11-25T10:00:00Z", "platform": "greffe",
                "schema_version": 1,
            ]
            bodies = [
                legal, report("report-1"), report("report-2"), erasure(1, Self.r1), report("report-4"), erasure(4, Self.r2), access,
                erasure(8, Self.r3), report("report-8"),
            ]
            var prev = Hash.zero
            var leaves: [Hash] = []
            for (index, body) in bodies.enumerated() {
                var salt = [UInt8](repeating: 0, count: 32)
                salt[0] = UInt8(index + 1)
                let entry = LedgerEntry(
                    index: UInt64(index), sequencedAtMilliseconds: 1_796_000_000_000 + UInt64(index), prev: prev,
                    commitment: Commitment.commit(salt: salt, canonicalBody: body.canonicalBytes()), kind: body["kind"]!.stringValue!
                ).encoded
                salts.append(salt)
                entries.append(entry)
                prev = MerkleHash.leaf(entry)
                leaves.append(prev)
            }
            tree = MemoryTree(leaves: leaves)
        }

        func checkpoint(size: UInt64) throws -> String {
            try signer.sign(text: Checkpoint(origin: signer.name, size: size, root: tree.root(size: size)).text).formatted
        }

        /// Entry `index` as a bundle event, proved at `size`, with its body (or erased under `reference`, proved by `record`).
        func event(_ index: Int, size: UInt64 = 9, erasedBy record: Int? = nil, reference: String? = nil) -> EvidenceBundle.Event {
            let entry = entries[index]
            var event = EvidenceBundle.Event(
                index: UInt64(index), eventID: bodies[index]["event_id"]!.stringValue!, kind: bodies[index]["kind"]!.stringValue!, body: bodies[index],
                salt: salts[index], entry: entry, leafHash: MerkleHash.leaf(entry),
                inclusionProof: UInt64(index) < size ? tree.proof(UInt64(index), size: size) : [])
            if let record {
                event.body = nil
                event.salt = nil
                event.erasure = .init(
                    erasedAt: "2026-11-26T09:00:00.000Z", legalReference: reference ?? bodies[record]["legal_reference"]!.stringValue!,
                    erasureEntryIndex: UInt64(record), record: self.event(record, size: size))
            }
            return event
        }

        /// Events 1 and 4, each erased and proved by its record; 2 kept; at size 9.
        func bundle(size: UInt64 = 9) throws -> EvidenceBundle {
            EvidenceBundle(
                verifierKey: verifier.verifierKey, checkpoint: try checkpoint(size: size), createdAt: "2026-11-26T10:00:00.000Z",
                query: ["index_range": ["from": 1, "to": 5]], events: [event(1, size: size, erasedBy: 3), event(2, size: size), event(4, size: size, erasedBy: 5)],
                earlierCheckpoints: [])
        }

        func verify(_ bundle: EvidenceBundle) -> BundleReport { BundleVerifier.verify(bundle, verifier: verifier) }
    }

    /// The one failure expected: code, location and words.
    static func expectWithheld(
        _ report: BundleReport, at location: String, _ words: String, code: BundleReport.Failure.Code = .bodyWithheld,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(!report.verified, sourceLocation: sourceLocation)
        #expect(report.failures.count == 1, "\(report.failures)", sourceLocation: sourceLocation)
        guard let failure = report.failures.first else { return }
        #expect(failure.code == code, "\(failure)", sourceLocation: sourceLocation)
        #expect(failure.location == location, "\(failure)", sourceLocation: sourceLocation)
        #expect(failure.message.contains(words), "\(failure)", sourceLocation: sourceLocation)
        if code == .bodyWithheld { #expect(failure.message.hasPrefix("body withheld: "), sourceLocation: sourceLocation) }
    }

    @Test func provenErasuresVerifyAndNameTheirLegalReferenceAndRecord() throws {
        let fixture = try Fixture()
        let bundle = try fixture.bundle()
        let report = fixture.verify(bundle)
        #expect(report.verified, "\(report.failures)")
        #expect(report.events.map(\.erasure) == [.proven, nil, .proven])
        #expect(report.events.map(\.erasureLegalReference) == [Fixture.r1, nil, Fixture.r2])
        #expect(report.events.map(\.erasureEntryIndex) == [3, nil, 5])
        #expect(report.unprovenErasures == 0)
        let text = BundleReportRendering.text(report, file: "b.json")
        #expect(text.contains("its content was erased under the legal order \"\(Fixture.r1)\", which the ledger recorded as entry 3"))
        #expect(text.contains("its content was erased under the legal order \"\(Fixture.r2)\", which the ledger recorded as entry 5"))
        #expect(!text.contains("UNPROVEN"))
        let json = BundleReportRendering.json(report)
        let first = json["events"]?.arrayValue?.first
        #expect(first?["erasure"] == "proven" && first?["erasure_legal_reference"] == .string(Fixture.r1) && first?["erasure_entry_index"] == 3)
        #expect(json["events"]?.arrayValue?[1]["erasure"] == .null)
        #expect(BundleReportRendering.html(report, file: "b.json").contains("which the ledger recorded as entry 3"))
        // What the encoder writes, the parser reads back to the same bundle, and it says v2.
        let bytes = bundle.json.canonicalBytes()
        #expect(try EvidenceBundle(parsing: bytes) == bundle)
        #expect(String(decoding: bytes, as: UTF8.self).contains("\"format\":\"greffe-bundle/v2\""))
    }

    @Test func forgedErasureOfAKeptEventIsBodyWithheld() throws {
        let fixture = try Fixture()
        // Whoever hands the bundle over nulls body and salt of event 2 and claims an erasure.
        var bundle = try fixture.bundle()
        bundle.events[1].body = nil
        bundle.events[1].salt = nil
        bundle.events[1].erasure = .init(erasedAt: "2026-11-26T09:00:00.000Z", legalReference: "TJ Nowhere 1/1", erasureEntryIndex: 3)
        let report = fixture.verify(bundle)
        Self.expectWithheld(report, at: "event 1 (index 2)", "claims an erasure under \"TJ Nowhere 1/1\" but carries no erasure record")
        #expect(report.events[1].erasure == .unproven && !report.events[1].verified)
        let text = BundleReportRendering.text(report, file: "b.json")
        #expect(text.contains("body withheld") && !text.contains("(its content was erased under the legal order \"TJ Nowhere"))
        #expect(text.contains("its content is withheld: the bundle claims an erasure under \"TJ Nowhere 1/1\" that it does not prove"))
        // With nothing claimed at all.
        bundle.events[1].erasure = nil
        Self.expectWithheld(fixture.verify(bundle), at: "event 1 (index 2)", "no erasure is claimed")
    }

    @Test func recordOfAnotherEventsErasureIsRefused() throws {
        let fixture = try Fixture()
        var bundle = try fixture.bundle()
        // Event 1's genuine record (entry 3, target 1), presented for event 2.
        bundle.events[1].body = nil
        bundle.events[1].salt = nil
        bundle.events[1].erasure = bundle.events[0].erasure
        Self.expectWithheld(fixture.verify(bundle), at: "event 1 (index 2)", "erased entry 1, not this one (2)")
        // And event 4's record given to event 1 (claim, index and all).
        bundle = try fixture.bundle()
        bundle.events[0].erasure = bundle.events[2].erasure
        Self.expectWithheld(fixture.verify(bundle), at: "event 0 (index 1)", "erased entry 4, not this one (1)")
    }

    @Test func legalReferenceMismatchIsRefused() throws {
        let fixture = try Fixture()
        var bundle = try fixture.bundle()
        bundle.events[0].erasure!.legalReference = "TJ Paris 26/999"
        Self.expectWithheld(
            fixture.verify(bundle), at: "event 0 (index 1)", "legal reference is \"\(Fixture.r1)\", not \"TJ Paris 26/999\" as the claim states")
    }

    @Test func recordRemovedOrItsIndexChangedIsRefused() throws {
        let fixture = try Fixture()
        var bundle = try fixture.bundle()
        bundle.events[2].erasure!.record = nil
        Self.expectWithheld(fixture.verify(bundle), at: "event 2 (index 4)", "carries no erasure record to prove it")
        bundle = try fixture.bundle()
        bundle.events[2].erasure!.erasureEntryIndex = 6
        Self.expectWithheld(fixture.verify(bundle), at: "event 2 (index 4)", "is entry 5, not entry 6 as the claim states")
        bundle = try fixture.bundle()
        bundle.events[2].erasure!.record!.index = 6
        Self.expectWithheld(fixture.verify(bundle), at: "event 2 (index 4)", "the erasure record's entry says index 5, the record says 6")
    }

    @Test func recordBodySaltOrKindAlteredIsRefused() throws {
        let fixture = try Fixture()
        let location = "event 0 (index 1)"
        var bundle = try fixture.bundle()
        // Any member of the committed body: the reference, the target, the platform, a removed or an added member.
        let edits: [(String, (inout JSONValue) -> Void)] = [
            ("legal_reference", { $0 = Self.setting($0, "legal_reference", "TJ Nowhere 1/1") }),
            ("target_index", { $0 = Self.setting($0, "target_index", 2) }),
            ("platform", { $0 = Self.setting($0, "platform", "example-ai") }),
            ("reason removed", { $0 = Self.setting($0, "reason", nil) }),
            ("member added", { $0 = Self.setting($0, "court", "elsewhere") }),
        ]
        for (name, edit) in edits {
            bundle = try fixture.bundle()
            edit(&bundle.events[0].erasure!.record!.body!)
            Self.expectWithheld(fixture.verify(bundle), at: location, "do not match its entry's commitment", sourceLocation: #_sourceLocation)
            _ = name
        }
        bundle = try fixture.bundle()
        bundle.events[0].erasure!.record!.salt![5] ^= 1
        Self.expectWithheld(fixture.verify(bundle), at: location, "do not match its entry's commitment")
        bundle = try fixture.bundle()
        bundle.events[0].erasure!.record!.body = nil
        Self.expectWithheld(fixture.verify(bundle), at: location, "carries no body and salt")
        bundle = try fixture.bundle()
        bundle.events[0].erasure!.record!.kind = "report.received"
        Self.expectWithheld(fixture.verify(bundle), at: location, "says kind report.received, its entry records erasure.executed")
        bundle = try fixture.bundle()
        bundle.events[0].erasure!.record!.entry[60] ^= 1
        Self.expectWithheld(fixture.verify(bundle), at: location, "the erasure record's entry hashes to leaf")
    }

    @Test func recordThatIsNotAnErasureIsRefused() throws {
        let fixture = try Fixture()
        var bundle = try fixture.bundle()
        // Entry 0, a genuine legal request with a valid proof, as the "record".
        bundle.events[0].erasure = .init(erasedAt: "2026-11-26T09:00:00.000Z", legalReference: Fixture.r1, erasureEntryIndex: 0, record: fixture.event(0))
        Self.expectWithheld(fixture.verify(bundle), at: "event 0 (index 1)", "entry is of kind legal.request, not erasure.executed")
        // Entry 6 (access.granted, written by Greffe too).
        bundle.events[0].erasure = .init(erasedAt: "2026-11-26T09:00:00.000Z", legalReference: Fixture.r1, erasureEntryIndex: 6, record: fixture.event(6))
        Self.expectWithheld(fixture.verify(bundle), at: "event 0 (index 1)", "entry is of kind access.granted, not erasure.executed")
    }

    @Test func recordNotLaterThanItsTargetIsRefused() throws {
        let fixture = try Fixture()
        var bundle = try fixture.bundle()
        // Entry 7 orders the erasure of entry 8, yet precedes it: no Greffe wrote that.
        bundle.events.append(fixture.event(8, erasedBy: 7))
        Self.expectWithheld(fixture.verify(bundle), at: "event 3 (index 8)", "the erasure record (entry 7) is not later than the erased event")
    }

    @Test func recordProofWrongOrBeyondTheCheckpointIsRefused() throws {
        let fixture = try Fixture()
        var bundle = try fixture.bundle()
        for (position, element) in bundle.events[0].erasure!.record!.inclusionProof.enumerated() {
            bundle = try fixture.bundle()
            bundle.events[0].erasure!.record!.inclusionProof[position] = element.flippingBit(position)
            let report = fixture.verify(bundle)
            Self.expectWithheld(report, at: "event 0 (index 1)", "the erasure record's inclusion proof does not hold")
            #expect(report.events[0].erasure == .unproven)
            #expect(BundleReportRendering.text(report, file: "b").contains("that it does not prove"))
        }
        bundle = try fixture.bundle()
        bundle.events[0].erasure!.record!.inclusionProof.removeLast()
        Self.expectWithheld(fixture.verify(bundle), at: "event 0 (index 1)", "the erasure record's inclusion proof does not hold")
        // The proof of another entry (5) given to the record of entry 3.
        bundle = try fixture.bundle()
        bundle.events[0].erasure!.record!.inclusionProof = fixture.tree.proof(5, size: 9)
        Self.expectWithheld(fixture.verify(bundle), at: "event 0 (index 1)", "the erasure record's inclusion proof does not hold")
        // A checkpoint of 5 entries covers record 3 but not record 5 (an erasure while the bundle streamed).
        bundle = try fixture.bundle(size: 5)
        Self.expectWithheld(fixture.verify(bundle), at: "event 2 (index 4)", "entry 5, beyond the checkpoint's 5 entries")
    }

    @Test func bodyShownWithAnErasureClaimIsRefused() throws {
        let fixture = try Fixture()
        var bundle = try fixture.bundle()
        bundle.events[1].erasure = bundle.events[0].erasure
        Self.expectWithheld(fixture.verify(bundle), at: "event 1 (index 2)", "the body is shown, yet the bundle claims it was erased", code: .erasureClaim)
        // A salt kept beside a null body.
        bundle = try fixture.bundle()
        bundle.events[0].salt = fixture.salts[1]
        Self.expectWithheld(fixture.verify(bundle), at: "event 0 (index 1)", "the body is null but a salt is given")
    }

    @Test func v1BundleVerifiesWithItsErasureClaimsReportedUnproven() throws {
        let fixture = try Fixture()
        var bundle = try fixture.bundle()
        bundle.format = .v1
        for position in [0, 2] { bundle.events[position].erasure!.record = nil }
        // What an old server wrote parses as such.
        let reparsed = try EvidenceBundle(parsing: bundle.json.canonicalBytes())
        #expect(reparsed == bundle && reparsed.format == .v1)
        let report = fixture.verify(reparsed)
        #expect(report.verified, "\(report.failures)")
        #expect(report.events.map(\.erasure) == [.unproven, nil, .unproven])
        #expect(report.unprovenErasures == 2)
        let text = BundleReportRendering.text(report, file: "b.json")
        #expect(text.contains("the bundle claims an erasure under \"\(Fixture.r1)\" but a greffe-bundle/v1 bundle carries no proof of it: unproven"))
        #expect(!text.contains("erased by legal order") && !text.contains("its content was erased"))
        #expect(text.contains("UNPROVEN ERASURE: 2 event(s)"))
        #expect(BundleReportRendering.json(report)["events"]?.arrayValue?[0]["erasure"] == "unproven")
        #expect(BundleReportRendering.json(report)["unproven_erasures"] == 2)
        // The downgrade of the forged bundle: it verifies, and says unproven, never "erased".
        bundle.events[1].body = nil
        bundle.events[1].salt = nil
        bundle.events[1].erasure = .init(erasedAt: "2026-11-26T09:00:00.000Z", legalReference: "TJ Nowhere 1/1", erasureEntryIndex: 3)
        let forged = fixture.verify(bundle)
        #expect(forged.events[1].erasure == .unproven)
        #expect(BundleReportRendering.text(forged, file: "b").contains("claims an erasure under \"TJ Nowhere 1/1\" but a greffe-bundle/v1 bundle carries no proof of it: unproven"))
        // A v1 file cannot carry a record: v1 never had one.
        var withRecord = try fixture.bundle().json.objectValue!
        withRecord["format"] = "greffe-bundle/v1"
        #expect(throws: EvidenceBundle.FormatError.self) { try EvidenceBundle(parsing: JSONValue.object(withRecord).canonicalBytes()) }
    }

    // MARK: - Strict v2 parsing: removed, added and reordered members

    /// The bundle's JSON with `edit` applied to it, parsed.
    static func parse(_ bundle: EvidenceBundle, _ edit: (inout JSONValue) -> Void) throws(EvidenceBundle.FormatError) -> EvidenceBundle {
        var value = bundle.json
        edit(&value)
        return try EvidenceBundle(parsing: value.canonicalBytes())
    }

    static func setting(_ value: JSONValue, _ key: String, _ member: JSONValue?) -> JSONValue {
        var object = value.objectValue!
        object[key] = member
        return .object(object)
    }

    /// `edit` applied to the object at `path` (keys and array positions).
    static func editing(_ value: JSONValue, _ path: [String], _ edit: (JSONValue) -> JSONValue) -> JSONValue {
        guard let head = path.first else { return edit(value) }
        if let position = Int(head), var items = value.arrayValue {
            items[position] = editing(items[position], Array(path.dropFirst()), edit)
            return .array(items)
        }
        return setting(value, head, editing(value[head]!, Array(path.dropFirst()), edit))
    }

    @Test func unknownRemovedAndMisplacedMembersAreRefused() throws {
        let fixture = try Fixture()
        let bundle = try fixture.bundle()
        let erased = ["events", "0", "erased"]
        let record = erased + ["record"]
        let cases: [(String, [String], String, JSONValue?, String)] = [
            ("a member added to erased", erased, "court", "TJ Paris", "/events/0/erased has the unknown field \"court\""),
            ("a member added to the record", record, "note", "x", "/events/0/erased/record has the unknown field \"note\""),
            ("erased inside the record", record, "erased", bundle.events[0].erasure!.json, "/events/0/erased/record has the unknown field \"erased\""),
            ("a member added to an event", ["events", "1"], "erasure_note", "x", "/events/1 has the unknown field \"erasure_note\""),
            ("a member added to the bundle", [], "erasures", .array([]), "the bundle has the unknown field \"erasures\""),
            ("legal_reference removed", erased, "legal_reference", nil, "/events/0/erased/legal_reference is missing or not a string"),
            ("erasure_entry_index removed", erased, "erasure_entry_index", nil, "/events/0/erased/erasure_entry_index is not a non-negative integer"),
            ("erased_at removed", erased, "erased_at", nil, "/events/0/erased/erased_at is missing or not a string"),
            ("the record's salt removed", record, "salt", nil, "/events/0/erased/record/salt is missing"),
            ("the record's inclusion proof removed", record, "inclusion_proof", nil, "/events/0/erased/record/inclusion_proof is missing or not an array"),
            ("an event's body removed (not nulled)", ["events", "1"], "body", nil, "/events/1/body is missing"),
            ("an erased event's salt removed", ["events", "0"], "salt", nil, "/events/0/salt is missing"),
            ("erased made a string", ["events", "0"], "erased", "by court order", "/events/0/erased is not an object"),
            ("the record made an array", erased, "record", .array([]), "/events/0/erased/record is not an object"),
            ("appended_by a number", ["events", "1"], "appended_by", 7, "/events/1/appended_by is not a string or null"),
        ]
        for (name, path, key, member, words) in cases {
            do {
                _ = try Self.parse(bundle) { $0 = Self.editing($0, path) { Self.setting($0, key, member) } }
                Issue.record("\(name): parsed")
            } catch {
                #expect(error.description == words, "\(name)")
            }
        }
        // Members in another order are the same JSON: still proven.
        let reordered = try Self.parse(bundle) { value in
            value = Self.editing(value, erased) { .object(JSONObject($0.objectValue!.members.reversed().map { ($0.key, $0.value) })) }
            value = Self.editing(value, record) { .object(JSONObject($0.objectValue!.members.reversed().map { ($0.key, $0.value) })) }
        }
        #expect(reordered == bundle)
        #expect(fixture.verify(reordered).verified)
        // A record given where the claim is null-free but the record missing parses, and fails verification (not the parser).
        let noRecord = try Self.parse(bundle) { $0 = Self.editing($0, erased) { Self.setting($0, "record", nil) } }
        Self.expectWithheld(fixture.verify(noRecord), at: "event 0 (index 1)", "carries no erasure record")
    }

    @Test func appendedByIsParsedEmittedAndShownButProvesNothing() throws {
        let fixture = try Fixture()
        var bundle = try fixture.bundle()
        bundle.events[1].appendedBy = "platform-a"
        let reparsed = try EvidenceBundle(parsing: bundle.json.canonicalBytes())
        #expect(reparsed.events[1].appendedBy == "platform-a")
        let report = fixture.verify(reparsed)
        #expect(report.verified)
        #expect(BundleReportRendering.text(report, file: "b").contains("appended with the token \"platform-a\", as the server states; no proof covers this name"))
        #expect(BundleReportRendering.json(report)["events"]?.arrayValue?[1]["appended_by"] == "platform-a")
        // Another name still verifies: nothing commits to it.
        bundle.events[1].appendedBy = "someone-else"
        #expect(fixture.verify(bundle).verified)
        // null is the same as absent.
        let null = try Self.parse(bundle) { $0 = Self.editing($0, ["events", "1"]) { Self.setting($0, "appended_by", .null) } }
        #expect(null.events[1].appendedBy == nil)
    }
}
