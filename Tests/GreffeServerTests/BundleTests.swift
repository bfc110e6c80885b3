import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import GreffeVerify
import Hummingbird
import HummingbirdTesting
import Testing

/// A schema-shaped edit request naming one input image.
func editRequest(_ id: String, account: Int, image: Int, second: Int = 1) -> String {
    """
    {"event_id":"\(id)","kind":"edit.requested","occurred_at":"2026-11-25T10:00:\(String(format: "%02d", second))Z","platform":"example-ai",\
    "schema_version":1,"account":"hmac-sha256:\(String(format: "%064x", account))","subscription_tier":"premium",\
    "model":{"name":"imagine","version":"3.1"},"prompt":{"sha256":"\(String(repeating: "ab", count: 32))"},\
    "input_images":[{"sha256":"\(String(format: "%064x", image))"}],"flags":{"real_person_detected":true,"minor_suspected":false},\
    "decision":{"outcome":"blocked","classifiers":[{"label":"nudity","score":0.97}]}}
    """
}

/// Makes a ledger with a few edit requests and returns a bundle of them as the server streams it.
func serverBundle(query: String = "{\"index_range\":{\"from\":0,\"to\":6}}") async throws -> (bundle: [UInt8], verifier: NoteVerifier, test: TestLedger) {
    let test = try await TestLedger.make()
    let bytes = try await test.withClient { client in
        for i in 0..<6 {
            let response = try await client.execute(
                uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(editRequest("edit-\(i)", account: i % 2, image: 100 + i, second: i)))
            #expect(response.status == .created)
        }
        // Later events, so that the checkpoint that first covered the bundled ones is an earlier one.
        let later = try await client.execute(
            uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken),
            body: jsonBody(batch([event("later-1"), event("later-2")])))
        #expect(later.status == .created)
        let response = try await client.execute(uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken), body: jsonBody(query))
        #expect(response.status == .ok)
        return Array(buffer: response.body)
    }
    return (bytes, test.signer.verifier, test)
}

@Suite("evidence bundles")
struct BundleTests {
    @Test("a bundle from the server verifies with no server and no database")
    func untouchedBundleVerifies() async throws {
        let (bytes, verifier, test) = try await serverBundle()
        try? FileManager.default.removeItem(at: test.directory)
        let bundle = try EvidenceBundle(parsing: bytes)
        #expect(bundle.events.map(\.index) == [0, 1, 2, 3, 4, 5])
        #expect(bundle.earlierCheckpoints.count == 1)
        let report = BundleVerifier.verify(bundle, verifier: verifier)
        #expect(report.verified, "\(report.failures)")
        #expect(report.prevLinksChecked == 5)
        // The streamed file is what Schemas/bundle.schema.json documents.
        let schemaURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Schemas/bundle.schema.json")
        let schema = try JSONParser.parse(Array(try Data(contentsOf: schemaURL)))
        try JSONSchemaValidator(schema: schema).validate(try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 128, maxBytes: 1 << 30)))
        #expect(report.earlierCheckpointsChecked == 1)
        #expect(report.events[2].sentence.contains("an edit request on image sha256:\(String(format: "%064x", 102))"))
        #expect(report.events[2].sentence.contains("entry 2 of the ledger test.example/log"))
    }

    @Test("an erased event's bundle carries the erasure.executed record, proved by the bundle's checkpoint, and verifies as proven")
    func erasureIsProven() async throws {
        let test = try await TestLedger.make()
        let admin = try await TokenAuthority(store: test.store).create(name: "court-officer", role: .admin).token
        let (bytes, erasureIndex) = try await test.withClient { client in
            for i in 0..<4 {
                let response = try await client.execute(
                    uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken),
                    body: jsonBody(editRequest("edit-\(i)", account: i % 2, image: 100 + i, second: i)))
                #expect(response.status == .created)
            }
            let erased = try await client.execute(
                uri: "/v1/events/1/erasure", method: .post, headers: bearer(admin),
                body: jsonBody("{\"legal_reference\":\"TJ Paris 2026/123\",\"reason\":\"GDPR art. 17\"}"))
            #expect(erased.status == .ok)
            let erasureIndex = try #require(try erased.json["erasure_entry_index"]?.uint64)
            // At once: no checkpoint covers the erasure record yet; the server waits for one.
            let response = try await client.execute(
                uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken), body: jsonBody("{\"index_range\":{\"from\":0,\"to\":4}}"))
            #expect(response.status == .ok)
            return (Array(buffer: response.body), erasureIndex)
        }
        let bundle = try EvidenceBundle(parsing: bytes)
        #expect(bundle.format == .v3)
        let claim = try #require(bundle.events[1].erasure)
        #expect(bundle.events[1].body == nil && claim.legalReference == "TJ Paris 2026/123" && claim.erasureEntryIndex == erasureIndex)
        #expect(claim.record?.kind == "erasure.executed" && claim.record?.body?["target_index"]?.intValue == 1)
        let report = BundleVerifier.verify(bundle, verifier: test.signer.verifier)
        #expect(report.verified, "\(report.failures)")
        #expect(report.events.map(\.erasure) == [nil, .proven, nil, nil])
        #expect(report.events[1].sentence.contains("erased under the legal order \"TJ Paris 2026/123\", which the ledger recorded as entry \(erasureIndex)"))
        let schemaURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Schemas/bundle.schema.json")
        try JSONSchemaValidator(schema: try JSONParser.parse(Array(try Data(contentsOf: schemaURL))))
            .validate(try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 128, maxBytes: 1 << 30)))
        // The kept event 2 doctored into an "erasure" with event 1's genuine record: body withheld.
        var forged = bundle
        forged.events[2].body = nil
        forged.events[2].salt = nil
        forged.events[2].erasure = claim
        let refused = BundleVerifier.verify(forged, verifier: test.signer.verifier)
        #expect(refused.failures.map(\.code) == [.bodyWithheld])
        #expect(refused.failures.first?.message.contains("body withheld: the erasure record erased entry 1, not this one (2)") == true)
    }

    @Test("bundle queries: by account, by content hash; bad queries are 422; creating one is logged")
    func queries() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            for i in 0..<6 {
                _ = try await client.execute(
                    uri: "/v1/events", method: .post, headers: bearer(test.appendToken),
                    body: jsonBody(editRequest("q-\(i)", account: i % 2, image: 100 + i, second: i)))
            }
            _ = try await waitForCheckpoint(size: 6, client: client)
            func bundle(_ query: String) async throws -> (HTTPResponse.Status, EvidenceBundle?) {
                let response = try await client.execute(uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken), body: jsonBody(query))
                return (response.status, response.status == .ok ? try EvidenceBundle(parsing: Array(buffer: response.body)) : nil)
            }
            let byEventIDs = try await bundle("{\"event_ids\":[\"q-4\",\"q-1\"]}")
            #expect(byEventIDs.1?.events.map(\.eventID) == ["q-1", "q-4"])
            for bad in ["{}", "[]", "{\"colour\":\"red\"}", "{\"index_range\":{\"from\":5,\"to\":1}}", "{\"content_hash\":\"md5:abc\"}",
                "{\"time_range\":{\"from\":\"yesterday\",\"to\":\"today\"}}", "{\"event_ids\":[]}"] {
                #expect(try await bundle(bad).0 == .unprocessableContent, "\(bad)")
            }
            let forbidden = try await client.execute(
                uri: "/v1/bundles", method: .post, headers: bearer(test.appendToken), body: jsonBody("{\"event_ids\":[\"q-1\"]}"))
            #expect(forbidden.status == .forbidden)
        }
        // Every bundle made above (one) is in the log as access.granted.
        let access = try await test.store.searchEvents(EventQuery(kinds: ["access.granted"]))
        #expect(access.count == 1)
        let record = try #require(try await test.store.readEvent(index: access[0]))
        let body = try JSONParser.parse(try #require(record.canonicalBody))
        #expect(body["action"]?.stringValue == "bundle")
        #expect(body["token_name"]?.stringValue?.hasPrefix("investigator-") == true)
        #expect(body["query"]?["event_ids"] != nil)
    }

    /// transparency-dev/merkle-style mutation probes on a real bundle: every
    /// change must be caught and named.
    @Test("every mutation of a real bundle fails verification, naming the part")
    func mutations() async throws {
        let (bytes, verifier, _) = try await serverBundle()
        let original = try EvidenceBundle(parsing: bytes)
        #expect(BundleVerifier.verify(original, verifier: verifier).verified)

        func expectFailure(_ code: BundleReport.Failure.Code, _ what: String, _ mutate: (inout EvidenceBundle) -> Void) {
            var bundle = original
            mutate(&bundle)
            let report = BundleVerifier.verify(bundle, verifier: verifier)
            #expect(!report.verified, "\(what) was not caught")
            #expect(report.failures.contains { $0.code == code }, "\(what): expected \(code), got \(report.failures)")
        }
        func flip(_ hash: Hash, bit: Int) -> Hash {
            var bytes = hash.bytes
            bytes[bit / 8] ^= UInt8(1 << (bit % 8))
            return Hash(bytes: bytes)!
        }

        for event in original.events.indices {
            for element in original.events[event].inclusionProof.indices {
                for bit in [0, 77, 255] {
                    expectFailure(.inclusionProof, "bit \(bit) of proof element \(element) of event \(event)") {
                        $0.events[event].inclusionProof[element] = flip($0.events[event].inclusionProof[element], bit: bit)
                    }
                }
            }
            expectFailure(.inclusionProof, "extra proof element") { $0.events[event].inclusionProof.append(.zero) }
            expectFailure(.inclusionProof, "missing proof element") { $0.events[event].inclusionProof.removeLast() }
            expectFailure(.leafHash, "leaf hash of event \(event)") { $0.events[event].leafHash = flip($0.events[event].leafHash, bit: 3) }
            expectFailure(.commitment, "salt of event \(event)") { $0.events[event].salt![0] ^= 1 }
            expectFailure(.commitment, "body value of event \(event)") {
                guard case .object(var body) = $0.events[event].body! else { return }
                body["subscription_tier"] = "free"
                $0.events[event].body = .object(body)
            }
            expectFailure(.commitment, "a bit of the entry's commitment of event \(event)") { $0.events[event].entry[60] ^= 0x10 }
            expectFailure(.entryIndex, "index of event \(event)") { $0.events[event].index += 1 }
            expectFailure(.bodyWithheld, "body removed without erasure") { $0.events[event].body = nil }
            expectFailure(.bodyWithheld, "body and salt removed, an erasure claimed without its record") {
                $0.events[event].body = nil
                $0.events[event].salt = nil
                $0.events[event].erasure = .init(erasedAt: "2026-11-26T00:00:00Z", legalReference: "TJ Nowhere 1/1", erasureEntryIndex: 7)
            }
        }
        expectFailure(.inclusionProof, "swapped proofs of two events") {
            ($0.events[1].inclusionProof, $0.events[4].inclusionProof) = ($0.events[4].inclusionProof, $0.events[1].inclusionProof)
        }
        expectFailure(.prevLink, "an entry's prev link") { $0.events[3].entry[20] ^= 1 }
        expectFailure(.signature, "a bit of the checkpoint signature") {
            let note = try! SignedNote(parsing: $0.checkpoint)
            var signature = note.signatures[0]
            signature.signature[10] ^= 4
            $0.checkpoint = SignedNote(text: note.text, signatures: [signature]).formatted
        }
        expectFailure(.signature, "the checkpoint's size") {
            let note = try! SignedNote(parsing: $0.checkpoint)
            var checkpoint = try! Checkpoint(parsing: note.text)
            checkpoint.size += 1
            $0.checkpoint = SignedNote(text: checkpoint.text, signatures: note.signatures).formatted
        }
        expectFailure(.consistencyProof, "the earlier checkpoint's consistency proof") {
            $0.earlierCheckpoints[0].consistencyProof[0] = flip($0.earlierCheckpoints[0].consistencyProof[0], bit: 9)
        }
        // A bundle re-signed by another key fails against the real key.
        let impostor = try NoteSigner(generatingFor: "test.example/log")
        expectFailure(.signature, "a checkpoint signed by another key") {
            let text = try! SignedNote(parsing: $0.checkpoint).text
            $0.checkpoint = try! impostor.sign(text: text).formatted
            $0.verifierKey = impostor.verifier.verifierKey
        }
        // And the untouched bundle fails against another key.
        #expect(!BundleVerifier.verify(original, verifier: impostor.verifier).verified)
    }

    @Test("tlog-proof files round-trip and fail when tampered")
    func tlogProofs() async throws {
        let (bytes, verifier, _) = try await serverBundle()
        let bundle = try EvidenceBundle(parsing: bytes)
        for event in bundle.events {
            let proof = TLogProof(extra: event.entry, index: event.index, proof: event.inclusionProof, checkpoint: bundle.checkpoint)
            let parsed = try TLogProof(parsing: proof.text)
            #expect(parsed == proof)
            #expect(try parsed.verify(verifier: verifier).entry.index == event.index)
            var wrongIndex = parsed
            wrongIndex.index += 1
            #expect(throws: (any Error).self) { try wrongIndex.verify(verifier: verifier) }
            var tamperedEntry = parsed
            tamperedEntry.extra![50] ^= 1
            #expect(throws: (any Error).self) { try tamperedEntry.verify(verifier: verifier) }
        }
    }
}

@Suite("bundle transport")
struct BundleTransportTests {
    @Test("a client that accepts gzip gets a gzip stream of the same bundle")
    func gzip() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            _ = try await client.execute(
                uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(batch((0..<300).map { event("gz-\($0)") })))
            var headers = bearer(test.investigateToken)
            headers[.acceptEncoding] = "br;q=1.0, gzip;q=0.8"
            let compressed = try await client.execute(uri: "/v1/bundles", method: .post, headers: headers, body: jsonBody("{\"kind\":\"legal.request\"}"))
            #expect(compressed.status == .ok)
            #expect(compressed.headers[.contentEncoding] == "gzip")
            let plain = try await client.execute(
                uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken), body: jsonBody("{\"kind\":\"legal.request\"}"))
            #expect(plain.headers[.contentEncoding] == nil)
            #expect(compressed.body.readableBytes < plain.body.readableBytes / 2)

            let file = test.directory.appendingPathComponent("bundle.json.gz")
            try Data(Array(buffer: compressed.body)).write(to: file)
            let gunzip = Process()
            gunzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
            gunzip.arguments = ["-dc", file.path]
            let pipe = Pipe()
            gunzip.standardOutput = pipe
            try gunzip.run()
            let decompressed = pipe.fileHandleForReading.readDataToEndOfFile()
            gunzip.waitUntilExit()
            #expect(gunzip.terminationStatus == 0)
            let fromGzip = try EvidenceBundle(parsing: Array(decompressed))
            let fromPlain = try EvidenceBundle(parsing: Array(buffer: plain.body))
            // Proofs differ (each bundle is logged, so the tree grew between them); the evidence is the same.
            #expect(fromGzip.events.map(\.entry) == fromPlain.events.map(\.entry))
            #expect(fromGzip.events.map(\.body) == fromPlain.events.map(\.body))
            #expect(fromGzip.events.count == 300)
            #expect(BundleVerifier.verify(fromGzip, verifier: test.signer.verifier).verified)
        }
    }
}
