import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import GreffeVerify
import Hummingbird
import Logging
import HummingbirdTesting
import Testing

/// `GET /v1/lookup` (issue 19): anyone may ask whether an image was made or edited here and
/// gets, per entry, a certificate disclosing the image's field and the decision only.
@Suite("public lookup")
struct LookupTests {
    static let input = String(repeating: "1a", count: 32)
    static let output = String(repeating: "2b", count: 32)
    static let pdq = String(repeating: "3c", count: 32)
    static let manifest = String(repeating: "4d", count: 32)

    static func completed(_ id: String) -> String {
        """
        {"event_id":"\(id)","kind":"edit.completed","occurred_at":"2026-11-25T10:00:02Z","platform":"example-ai","schema_version":1,\
        "account":"hmac-sha256:\(String(repeating: "9", count: 64))","subscription_tier":"premium","model":{"name":"imagine","version":"3.1"},\
        "request_event_id":"req-1","input_images":[{"sha256":"\(input)"}],\
        "output_images":[{"sha256":"\(output)","pdq":"\(pdq)","pdq_quality":90,"c2pa_manifest_sha256":"\(manifest)"}],\
        "flags":{"real_person_detected":true,"minor_suspected":false,"nudity_requested":true},\
        "decision":{"outcome":"allowed","policy":"none","classifiers":[{"label":"nudity","score":0.91}]}}
        """
    }

    static let certificateSchema = try! JSONParser.parse(Array(try! Data(contentsOf: URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Schemas/disclosure.schema.json"))))

    static func lookup(_ client: some TestClientProtocol, _ query: String) async throws -> (HTTPResponse.Status, JSONValue, String?) {
        let response = try await client.execute(uri: "/v1/lookup?\(query)", method: .get)
        return (response.status, try response.json, response.headers[.cacheControl])
    }

    @Test("found by input SHA-256, output SHA-256, PDQ and C2PA manifest hash; each certificate proves the image and the outcome, and nothing else")
    func findsAndCertifies() async throws {
        let test = try await TestLedger.make()
        let verifier = test.signer.verifier
        try await test.withClient { client in
            let appended = try await client.execute(
                uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(batch([editRequest("req-1", account: 7, image: 0x1a), Self.completed("done-1"), report("rep-1", reportID: "R1", image: 0x1a, at: "2026-11-25T11:00:00Z")])))
            #expect(appended.status == .created)
            let inputHex = String(format: "%064x", 0x1a)
            let cases: [(String, [String], [(Int, String)])] = [
                ("sha256=\(inputHex)", ["input"], [(0, "input_images/0/sha256")]),
                ("sha256=\(Self.input)", ["input"], [(1, "input_images/0/sha256")]),
                ("sha256=\(Self.output.uppercased())", ["output"], [(1, "output_images/0/sha256")]),
                ("pdq=\(Self.pdq)", ["output"], [(1, "output_images/0/pdq")]),
                ("c2pa_manifest_sha256=\(Self.manifest)", ["output"], [(1, "output_images/0/c2pa_manifest_sha256")]),
            ]
            for (query, roles, expected) in cases {
                let (status, answer, cache) = try await Self.lookup(client, query)
                #expect(status == .ok, "\(query)")
                #expect(cache == "no-store")
                let matches = try #require(answer["matches"]?.arrayValue)
                // The report naming the same image is not a generation or an edit: not listed.
                #expect(matches.count == expected.count, "\(query): \(matches.count) matches")
                for (match, (index, path)) in zip(matches, expected) {
                    #expect(match["index"]?.uint64 == UInt64(index))
                    #expect(match["roles"]?.arrayValue?.compactMap(\.stringValue) == roles)
                    // What Schemas/disclosure.schema.json documents.
                    try JSONSchemaValidator(schema: Self.certificateSchema).validate(try #require(match["certificate"]))
                    let certificate = try DisclosureCertificate(parsing: try #require(match["certificate"]))
                    let verified = try certificate.verify(verifiers: [verifier])
                    #expect(verified.index == UInt64(index))
                    #expect(Set(verified.fields.map { $0.path.description }) == ["/\(path)", "/decision/outcome"])
                    #expect(verified.fields.first { $0.path.description == "/decision/outcome" }?.value == .string(index == 0 ? "blocked" : "allowed"))
                    let text = String(decoding: try #require(match["certificate"]).canonicalBytes(), as: UTF8.self)
                    for hidden in ["hmac-sha256", "imagine", "premium", "req-1", "done-1", "nudity", "example-ai"] {
                        #expect(!text.contains(hidden), "\(query): \(hidden) leaked")
                    }
                }
            }
            let (status, answer, _) = try await Self.lookup(client, "sha256=\(String(repeating: "0", count: 64))")
            #expect(status == .ok)
            #expect(answer["matches"]?.arrayValue?.isEmpty == true)
        }
        // Lookups write nothing to the log: no investigator is involved.
        #expect(try await test.store.treeSize() == 3)
    }

    @Test("refused queries: none, two, repeated, unknown or malformed parameters; switched off; answers and refusals readable cross-origin, other routes not")
    func refusals() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            let hash = String(repeating: "a", count: 64)
            for query in ["", "sha256=\(hash)&pdq=\(hash)", "sha256=\(hash)&sha256=\(hash)", "sha256=\(hash)&limit=5", "sha256=abc",
                          "pdq=\(String(repeating: "g", count: 64))", "c2pa=\(hash)"] {
                let response = try await client.execute(uri: "/v1/lookup?\(query)", method: .get)
                #expect(response.status == .badRequest, "\(query)")
                // The error never repeats the hash asked for.
                #expect(!response.text.contains(hash), "\(query)")
                // A one-file verifier opened from a file reads the refusal too.
                #expect(response.headers[.accessControlAllowOrigin] == "*", "\(query)")
            }
            let answer = try await client.execute(uri: "/v1/lookup?sha256=\(hash)", method: .get)
            #expect(answer.status == .ok && answer.headers[.accessControlAllowOrigin] == "*")
            #expect(answer.headers[.accessControlExposeHeaders] == "Retry-After")
            for path in ["/checkpoint", "/v1/status", "/v1/lookupx?sha256=\(hash)", "/v1/events/search?content_hash=sha256:\(hash)"] {
                let other = try await client.execute(uri: path, method: .get)
                #expect(other.headers[.accessControlAllowOrigin] == nil, "\(path) must stay same-origin")
            }
        }
        let off = try await TestLedger.make()
        try await off.withClient(configure: { $0.lookupSettings.enabled = false }) { client in
            let response = try await client.execute(uri: "/v1/lookup?sha256=\(String(repeating: "a", count: 64))", method: .get)
            #expect(response.status == .notFound)
            #expect(response.text.contains("switched off"))
            #expect(response.headers[.accessControlAllowOrigin] == "*")
        }
    }

    @Test("an erased event is no longer found")
    func erasedNotFound() async throws {
        let test = try await TestLedger.make()
        let admin = try await TokenAuthority(store: test.store).create(name: "dpo", role: .admin).token
        try await test.withClient { client in
            _ = try await client.execute(
                uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken), body: jsonBody(Self.completed("done-9")))
            #expect(try await Self.lookup(client, "sha256=\(Self.output)").1["matches"]?.arrayValue?.count == 1)
            let erased = try await client.execute(
                uri: "/v1/events/0/erasure", method: .post, headers: bearer(admin),
                body: jsonBody("{\"legal_reference\":\"TJ Paris 2026/123\",\"reason\":\"GDPR art. 17\"}"))
            #expect(erased.status == .ok, "\(erased.text)")
            #expect(try await Self.lookup(client, "sha256=\(Self.output)").1["matches"]?.arrayValue?.count == 0)
        }
    }
}

/// `"disclose"` in a bundle query: investigator bundles cut down to the fields a case needs.
@Suite("bundles with disclosed fields")
struct DisclosedBundleTests {
    @Test("a bundle shows only the fields asked for, each proved; doctored, removed or added fields fail; whole bodies stay hidden")
    func disclosedBundle() async throws {
        let test = try await TestLedger.make()
        let verifier = test.signer.verifier
        struct NotV3: Error {}
        @Sendable func verify(_ bytes: [UInt8]) throws -> BundleReport {
            guard case .verified(let report) = try CompactBundleVerifier(verifiers: [verifier]).verify(MemoryByteSource(bytes)) else { throw NotV3() }
            return report
        }
        let bytes = try await test.withClient { client in
            let appended = try await client.execute(
                uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(batch([editRequest("req-1", account: 7, image: 0x1a), LookupTests.completed("done-1")])))
            #expect(appended.status == .created)
            for bad in ["[]", "[[1.5]]", "\"decision\"", "[{\"a\":1}]"] {
                let refused = try await client.execute(
                    uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken),
                    body: jsonBody("{\"index_range\":{\"from\":0,\"to\":2},\"disclose\":\(bad)}"))
                #expect(refused.status == .unprocessableContent, "\(bad)")
            }
            let alone = try await client.execute(
                uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken), body: jsonBody("{\"disclose\":[[\"kind\"]]}"))
            #expect(alone.status == .unprocessableContent)
            let response = try await client.execute(
                uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken),
                body: jsonBody("{\"index_range\":{\"from\":0,\"to\":2},\"disclose\":[[\"decision\",\"outcome\"],[\"input_images\"],[\"event_id\"]]}"))
            #expect(response.status == .ok)
            return Array(buffer: response.body)
        }
        let text = String(decoding: bytes, as: UTF8.self)
        for hidden in ["hmac-sha256", "imagine", "premium", "nudity", "\"body\""] { #expect(!text.contains(hidden), "\(hidden) leaked") }
        let report = try verify(bytes)
        #expect(report.verified, "\(report.failures)")
        #expect(report.events.map(\.eventID) == ["req-1", "done-1"])
        #expect(report.events[0].sentence.contains("only these fields of its content are disclosed: /decision/outcome = \"blocked\""))
        // The schema documents it.
        let schema = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Schemas/bundle.schema.json"))))
        try JSONSchemaValidator(schema: schema).validate(try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 128, maxBytes: 1 << 30)))

        func edited(_ edit: (inout [JSONValue]) -> Void) throws -> [UInt8] {
            var object = try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 128, maxBytes: 1 << 30)).objectValue!
            var events = object["events"]!.arrayValue!
            var event = events[0].objectValue!
            var disclosed = event["disclosed"]!.arrayValue!
            edit(&disclosed)
            event["disclosed"] = .array(disclosed)
            events[0] = .object(event)
            object["events"] = .array(events)
            return JSONValue.object(object).canonicalBytes()
        }
        let outcome = { (fields: [JSONValue]) in fields.firstIndex { $0["path"] == ["decision", "outcome"] }! }
        let cases: [(String, (inout [JSONValue]) -> Void)] = [
            ("the outcome turned to allowed", { f in var o = f[outcome(f)].objectValue!; o["value"] = "allowed"; f[outcome(f)] = .object(o) }),
            ("the outcome's path renamed", { f in var o = f[outcome(f)].objectValue!; o["path"] = ["decision", "policy"]; f[outcome(f)] = .object(o) }),
            ("a field disclosed twice", { f in f.append(f[0]) }),
            ("a field of the other event", { _ in }),
        ]
        for (name, edit) in cases.dropLast() {
            let report = try verify(try edited(edit))
            #expect(!report.verified, "\(name)")
        }
        // A field taken from the other event's disclosure does not belong to this one.
        var object = try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 128, maxBytes: 1 << 30)).objectValue!
        var events = object["events"]!.arrayValue!
        var first = events[0].objectValue!
        first["disclosed"] = .array(first["disclosed"]!.arrayValue! + [events[1]["disclosed"]!.arrayValue!.first { $0["path"] == ["event_id"] }!].map { field in
            var f = field.objectValue!
            f["path"] = ["event_id"]
            return .object(f)
        })
        events[0] = .object(first)
        object["events"] = .array(events)
        #expect(!(try verify(JSONValue.object(object).canonicalBytes())).verified)
        // Body and disclosed fields together are refused as a format error.
        var both = try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 128, maxBytes: 1 << 30)).objectValue!
        var bothEvents = both["events"]!.arrayValue!
        var event = bothEvents[0].objectValue!
        event["body"] = ["event_id": "req-1"]
        bothEvents[0] = .object(event)
        both["events"] = .array(bothEvents)
        #expect(throws: (any Error).self) { _ = try verify(JSONValue.object(both).canonicalBytes()) }
    }
}

@Suite("public lookup by PDQ")
struct PDQLookupTests {
    /// `hex` with its first `bits` bits flipped.
    static func flipping(_ hex: String, bits: Int) -> String {
        var digits = Array(hex.utf8).map { Int(String(UnicodeScalar($0)), radix: 16)! }
        for bit in 0..<bits { digits[bit / 4] ^= 8 >> (bit % 4) }
        return digits.map { String($0, radix: 16) }.joined()
    }

    @Test("near hashes match within distance 31, nearest first, with the distance; farther ones do not; 503 until the index is loaded")
    func nearMatches() async throws {
        let test = try await TestLedger.make()
        let index = PDQLookupIndex(store: test.store, logger: Logger(label: "test"))
        try await test.withClient(configure: { $0.lookupSettings.pdqIndex = index }) { client in
            let early = try await client.execute(uri: "/v1/lookup?pdq=\(LookupTests.pdq)", method: .get)
            #expect(early.status == .serviceUnavailable)
            _ = try await client.execute(
                uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken), body: jsonBody(LookupTests.completed("done-1")))
            await index.load()
            // Appended after loading: found too (the index catches up from the store).
            let near = LookupTests.completed("done-2").replacingOccurrences(of: LookupTests.pdq, with: Self.flipping(LookupTests.pdq, bits: 20))
                .replacingOccurrences(of: LookupTests.output, with: String(repeating: "5e", count: 32))
            _ = try await client.execute(uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken), body: jsonBody(near))
            let query = Self.flipping(LookupTests.pdq, bits: 8)
            let (status, answer, _) = try await LookupTests.lookup(client, "pdq=\(query)")
            #expect(status == .ok)
            let matches = try #require(answer["matches"]?.arrayValue)
            #expect(matches.map { $0["index"]?.uint64 } == [0, 1])
            #expect(matches.map { $0["distance"]?.uint64 } == [8, 12])
            // The certificate discloses the stored PDQ hash, not the one asked for.
            let certificate = try DisclosureCertificate(parsing: try #require(matches[1]["certificate"])).verify(verifiers: [test.signer.verifier])
            #expect(certificate.fields.contains { $0.value.stringValue == Self.flipping(LookupTests.pdq, bits: 20) })
            let far = try await LookupTests.lookup(client, "pdq=\(Self.flipping(LookupTests.pdq, bits: 52))")
            #expect(far.1["matches"]?.arrayValue?.count == 0)
        }
    }
}
