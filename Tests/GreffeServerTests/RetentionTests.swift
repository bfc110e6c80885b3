import Foundation
import GreffeCore
@testable import GreffeLedger
import GreffeServer
import GreffeStore
@testable import GreffeVerify
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// The end of a retention period (`greffe serve --retention-days`): bodies go,
/// each batch recorded first; held events and Greffe's own records stay; bundles
/// prove each dropped body with its `retention.applied` record, in both verifiers.
@Suite struct RetentionTests {
    static let day: UInt64 = 86_400_000
    static let basis = "retention policy RP-3 (30 days)"

    /// A report that a hold on its kind keeps.
    static func report(_ id: String) -> String {
        "{\"event_id\":\"\(id)\",\"kind\":\"report.received\",\"occurred_at\":\"2026-11-25T10:00:00Z\",\"platform\":\"example-ai\","
            + "\"schema_version\":1,\"report_id\":\"r-\(id)\",\"reporter_type\":\"user\",\"category\":\"non_consensual_intimate_imagery\","
            + "\"content_hashes\":[{\"sha256\":\"\(String(repeating: "ab", count: 32))\"}]}"
    }

    /// Runs a command found on PATH; its exit status and everything it printed.
    static func run(_ arguments: [String]) throws -> (status: Int32, printed: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, printed)
    }

    @Test("a hold placed between a batch's plan and its deletion keeps the bodies it covers")
    func holdPlacedMidBatch() async throws {
        let test = try await TestLedger.make()
        try await test.application().test(.router) { client in
            for i in 0..<3 {
                let body = i == 1 ? Self.report("m-\(i)") : event("m-\(i)", reference: "M-\(i)")
                let response = try await client.execute(uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken), body: jsonBody(body))
                #expect(response.status == .created)
            }
            try await Task.sleep(for: .milliseconds(5))
            let plan = try await test.ledger.retentionPlan(
                0..<3, cutoff: UInt64(Date().timeIntervalSince1970 * 1000), kept: [], holds: try await test.ledger.legalHolds().filter(\.isActive))
            #expect(plan.due == [0, 1, 2] && plan.held.isEmpty)
            // The hold arrives after the plan: the deletion must see it.
            _ = try await test.ledger.placeHold(authority: "Parquet de Paris", reference: "PNF 26/2", scope: ["kinds": ["report.received"]])
            let record = ErasureRecord(erasedAtMilliseconds: 1, legalReference: Self.basis, erasureEntryIndex: 3)
            #expect(
                try await test.ledger.dropBodies(
                    plan.due, record: record, plannedHolds: plan.holds, currentHolds: { try await test.ledger.legalHolds().filter(\.isActive) }) == 2)
            #expect(try await test.store.readEvent(index: 1)?.canonicalBody != nil)
            #expect(try await test.store.readEvent(index: 0)?.canonicalBody == nil)
            #expect(try await test.store.readEvent(index: 2)?.canonicalBody == nil)
        }
        await test.stop()
        try? FileManager.default.removeItem(at: test.directory)
    }

    @Test("bodies past retention are dropped under records, held ones and Greffe's own kept; bundles prove it; doctored claims are refused")
    func retention() async throws {
        let test = try await TestLedger.make()
        let holdScope: JSONValue = ["kinds": ["report.received"]]
        try await test.application().test(.router) { client in
            // Indices 0–5: legal requests but 3, a report.
            for i in 0..<6 {
                let body = i == 3 ? Self.report("e-\(i)") : event("e-\(i)", reference: "R-\(i)")
                let response = try await client.execute(uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken), body: jsonBody(body))
                #expect(response.status == .created)
            }
            // 6: a hold on reports; 7: the court's erasure of event 1.
            _ = try await test.ledger.placeHold(authority: "Parquet de Paris", reference: "PNF 26/1", scope: holdScope)
            let order = try await test.ledger.erase(index: 1, legalReference: "TJ Paris 26/123", reason: "court order")
            #expect(order.entry.index == 7)
            try await Task.sleep(for: .milliseconds(5))
            // Everything so far is 30 days old, as of this moment and the keeper's "now".
            let cutoff = UInt64(Date().timeIntervalSince1970 * 1000)
            let policy = Ledger.RetentionPolicy(days: 30, legalBasis: Self.basis, batchSize: 3)
            let keeper = RetentionKeeper(ledger: test.ledger, policy: policy, logger: Logger(label: "test"))
            let outcomes = await keeper.applyDue(now: cutoff + 30 * Self.day)
            // Three batches of at most three entries: [0,3), [3,6), [6,8); each record after its range.
            #expect(outcomes.map(\.range) == [0..<3, 3..<6, 6..<8], "\(outcomes)")
            #expect(outcomes.map(\.dropped) == [2, 2, 0])
            #expect(outcomes.map(\.held) == [0, 1, 0])
            #expect(outcomes.allSatisfy { $0.recordIndex >= $0.range.upperBound })
            // Nothing more is due: the records themselves are younger than the cut-off.
            #expect(await keeper.applyDue(now: cutoff + 30 * Self.day).isEmpty)

            for index: UInt64 in [0, 2, 4, 5] {
                let stored = try #require(try await test.store.readEvent(index: index))
                let batch = try #require(outcomes.first { $0.range.contains(index) })
                #expect(stored.canonicalBody == nil && stored.salt == nil)
                #expect(stored.erasure?.legalReference == Self.basis && stored.erasure?.erasureEntryIndex == batch.recordIndex)
            }
            #expect(try await test.store.readEvent(index: 1)?.erasure?.legalReference == "TJ Paris 26/123")
            #expect(try await test.store.readEvent(index: 3)?.canonicalBody != nil, "held")
            #expect(try await test.store.readEvent(index: 6)?.canonicalBody != nil, "Greffe's own record")
            let record = try #require(try await test.store.readEvent(index: outcomes[1].recordIndex))
            let recordBody = try JSONParser.parse(try #require(record.canonicalBody))
            #expect(record.kind == "retention.applied" && recordBody["platform"]?.stringValue == "greffe")
            #expect(recordBody["from_index"]?.intValue == 3 && recordBody["to_index"]?.intValue == 6 && recordBody["retention_days"]?.intValue == 30)
            #expect(recordBody["recorded_before"]?.stringValue == RFC3339Time.format(cutoff))
            #expect(recordBody["kept_under_hold"]?.arrayValue?.compactMap(\.intValue) == [3])
            try EventSchemaSet.builtIn.validate(recordBody)
            // A platform cannot send one of its own.
            var forged = recordBody.objectValue!
            forged["platform"] = "example-ai"
            forged["event_id"] = "forged-retention"
            let refused = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(String(decoding: JSONValue.object(forged).canonicalBytes(), as: UTF8.self)))
            #expect(refused.status == .unprocessableContent)

            // The bundle over the six events proves each missing body.
            let response = try await client.execute(
                uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken), body: jsonBody("{\"index_range\":{\"from\":0,\"to\":6}}"))
            #expect(response.status == .ok)
            let bytes = Array(buffer: response.body)
            let bundle = try EvidenceBundle(parsing: bytes)
            let report = BundleVerifier.verify(bundle, verifier: test.signer.verifier)
            #expect(report.verified, "\(report.failures)")
            let text = BundleReportRendering.text(report, file: "b.json")
            #expect(text.contains("its content was dropped at the end of its retention period under \"\(Self.basis)\", which the ledger recorded as entry \(outcomes[0].recordIndex)"))
            #expect(text.contains("its content was erased under the legal order \"TJ Paris 26/123\""))

            // Doctored: event 4 claims the first batch's record (which covers 0–2).
            func withheld(_ edit: (inout [JSONValue]) -> Void) throws -> String? {
                var document = try JSONParser.parse(bytes).objectValue!
                var events = document["events"]!.arrayValue!
                edit(&events)
                document["events"] = .array(events)
                let doctored = try EvidenceBundle(parsing: JSONValue.object(document).canonicalBytes())
                let report = BundleVerifier.verify(doctored, verifier: test.signer.verifier)
                #expect(!report.verified)
                return report.failures.first { $0.location.hasPrefix("event") }?.message
            }
            #expect(
                try withheld { events in
                    var four = events[4].objectValue!
                    four["erased"] = events[0]["erased"]
                    events[4] = .object(four)
                }?.contains("the retention record covers entries 0 to 2, not this one (4)") == true)
            // Another basis than the record's.
            #expect(
                try withheld { events in
                    var zero = events[0].objectValue!
                    var erased = zero["erased"]!.objectValue!
                    erased["legal_reference"] = "no retention at all"
                    zero["erased"] = .object(erased)
                    events[0] = .object(zero)
                }?.contains("legal reference is \"\(Self.basis)\"") == true)
            // The held report's body passed off as dropped (body and salt nulled, its neighbour's claim borrowed).
            #expect(
                try withheld { events in
                    var three = events[3].objectValue!
                    three["body"] = .null
                    three["salt"] = .null
                    three["erased"] = events[4]["erased"]
                    events[3] = .object(three)
                }?.contains("the retention record lists this event as kept under a legal hold") == true)

            // verify.html's code, under node, agrees.
            let file = test.directory.appendingPathComponent("retention-bundle.json")
            try Data(bytes).write(to: file)
            let vkey = test.directory.appendingPathComponent("retention.vkey")
            try Data(test.signer.verifier.verifierKey.utf8).write(to: vkey)
            let script = """
                const fs = require("fs"); const V = require(process.argv[1]);
                V.check(new Uint8Array(fs.readFileSync(process.argv[2])), fs.readFileSync(process.argv[3], "utf8"), "b.json")
                  .then((r) => { console.log(r.status); console.log(r.text || r.message); process.exit(r.status === "verified" ? 0 : 1); });
                """
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let node = try Self.run(["node", "-e", script, root.appendingPathComponent("web/verify-core.js").path, file.path, vkey.path])
            #expect(node.status == 0, "\(node.printed)")
            #expect(node.printed.contains("dropped at the end of its retention period under \"\(Self.basis)\""), "\(node.printed)")

            // So does the Python client's verifier (clients/python), on the same file.
            let python = """
                import sys
                sys.path.insert(0, sys.argv[1])
                from greffe_client.bundle import verify_bundle
                verified = verify_bundle(open(sys.argv[2], "rb").read(), open(sys.argv[3]).read().strip())
                for event in verified.events:
                    print(event.index, event.erasure_legal_reference, event.erasure_record_index)
                """
            func pythonClient(_ bundle: URL) throws -> (status: Int32, printed: String) {
                try Self.run(["python3", "-c", python, root.appendingPathComponent("clients/python/src").path, bundle.path, vkey.path])
            }
            let genuine = try pythonClient(file)
            #expect(genuine.status == 0, "\(genuine.printed)")
            #expect(genuine.printed.contains("0 \(Self.basis) \(outcomes[0].recordIndex)"), "\(genuine.printed)")
            #expect(genuine.printed.contains("3 None None"), "\(genuine.printed)")
            // The held report passed off as dropped: the client refuses it too.
            var document = try JSONParser.parse(bytes).objectValue!
            var events = document["events"]!.arrayValue!
            var three = events[3].objectValue!
            three["body"] = .null
            three["salt"] = .null
            three["erased"] = events[4]["erased"]
            events[3] = .object(three)
            document["events"] = .array(events)
            let doctored = test.directory.appendingPathComponent("retention-held.json")
            try Data(JSONValue.object(document).canonicalBytes()).write(to: doctored)
            let refusedByClient = try pythonClient(doctored)
            #expect(refusedByClient.status != 0)
            #expect(refusedByClient.printed.contains("kept under a legal hold"), "\(refusedByClient.printed)")
        }
        await test.stop()
        try? FileManager.default.removeItem(at: test.directory)
    }
}
