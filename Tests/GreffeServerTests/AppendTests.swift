import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("POST /v1/events")
struct AppendTests {
    @Test("intake gives each event its own salt, and the digest and commitment its entry will hold")
    func intakeSaltsAndCommitments() throws {
        let batch = try EventIntake().parse(Array("{\"events\":[\(event("s-1")),\(event("s-2")),\(event("s-3"))]}".utf8)).events
        let single = try EventIntake().parse(Array(event("s-4").utf8)).events
        let events = batch + single
        #expect(events.count == 4)
        #expect(Set(events.map(\.salt)).count == 4)
        for submission in events {
            #expect(submission.salt.count == Commitment.saltLength)
            #expect(submission.bodyDigest == MerkleHash.sha256(submission.canonicalBody))
            // Layout 2: the field tree's root (its own vectors are FieldCommitmentTests').
            #expect(submission.layout == .fieldTree)
            #expect(submission.commitment == (try FieldCommitment.root(salt: submission.salt, body: JSONParser.parse(submission.canonicalBody))))
        }
    }

    @Test("a single event is 201 with its index and leaf hash; sent again it is 200 with the same")
    func singleAndIdempotent() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            let first = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(event("a-1", reference: "n-1")))
            #expect(first.status == .created)
            let answer = try first.json
            #expect(answer["index"]?.uint64 == 0)
            #expect(answer["event_id"]?.stringValue == "a-1")
            let leafHash = try #require(answer["leaf_hash"]?.hash)

            // Member order and spacing do not change the canonical body.
            let again = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(
                    "{ \"request_type\":\"preservation\", \"reference\" : \"n-1\", \"direction\":\"received\", \"authority\":\"Parquet de Paris\","
                        + " \"schema_version\":1, \"platform\":\"example-ai\", \"occurred_at\":\"2026-11-25T10:00:00Z\", \"kind\":\"legal.request\", \"event_id\":\"a-1\" }"))
            #expect(again.status == .ok)
            #expect(try again.json["index"]?.uint64 == 0)
            #expect(try again.json["leaf_hash"]?.hash == leafHash)

            let conflict = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(event("a-1", reference: "n-2")))
            #expect(conflict.status == .conflict)
            #expect(try conflict.json["error"]?.stringValue?.contains("a-1") == true)
        }
        #expect(try await test.store.treeSize() == 1)
    }

    @Test("a batch answers one result per event in order; the entry commits to the salted canonical body")
    func batchResultsAndCommitment() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            let response = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(batch((0..<5).map { event("b-\($0)", reference: "é/\u{1F600}") })))
            #expect(response.status == .created)
            let results = try #require(try response.json["results"]?.arrayValue)
            #expect(results.map { $0["index"]?.uint64 } == [0, 1, 2, 3, 4])
            #expect(results.map { $0["event_id"]?.stringValue } == (0..<5).map { "b-\($0)" })
        }
        let stored = try #require(try await test.store.readEvent(index: 3))
        let entry = try LedgerEntry(decoding: stored.entry)
        let body = try #require(stored.canonicalBody)
        let salt = try #require(stored.salt)
        #expect(salt.count == 32)
        #expect(
            String(decoding: body, as: UTF8.self)
                == "{\"authority\":\"Parquet de Paris\",\"direction\":\"received\",\"event_id\":\"b-3\",\"kind\":\"legal.request\","
                + "\"occurred_at\":\"2026-11-25T10:00:00Z\",\"platform\":\"example-ai\",\"reference\":\"é/\u{1F600}\","
                + "\"request_type\":\"preservation\",\"schema_version\":1}")
        #expect(entry.layout == .fieldTree)
        #expect(entry.commits(to: try JSONParser.parse(body), salt: salt))
        #expect(!entry.commits(to: try JSONParser.parse(Array(String(decoding: body, as: UTF8.self).replacingOccurrences(of: "b-3", with: "b-4").utf8)), salt: salt))
        #expect(entry.index == 3)
        let previous = try LedgerEntry(decoding: try #require(try await test.store.readEvent(index: 2)).entry)
        #expect(entry.prev == previous.leafHash)
        #expect(try LedgerEntry(decoding: try #require(try await test.store.readEvent(index: 0)).entry).prev == .zero)
    }

    @Test("a batch with one bad event writes nothing", arguments: [
        ("{\"event_id\":\"ok\"}", 422),
        ("{\"event_id\":\"x\",\"kind\":\"Bad Kind\"}", 422),
        (event("extra-field").replacingOccurrences(of: "}", with: ",\"colour\":\"red\"}"), 422),
        (event("bad-time").replacingOccurrences(of: "2026-11-25T10:00:00Z", with: "2026-13-25T10:00:00Z"), 422),
        ("{\"event_id\":\"\",\"kind\":\"edit.requested\"}", 422),
        ("[1]", 422),
    ])
    func batchAllOrNothing(bad: String, status: Int) async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            let response = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(batch([event("good-1"), bad, event("good-2")])))
            #expect(response.status.code == status)
            #expect(try response.json["error"]?.stringValue?.contains("/events/1") == true)
        }
        #expect(try await test.store.treeSize() == 0)
    }

    @Test("a batch that reuses an event_id with another body is 409 and writes nothing")
    func batchConflict() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            let first = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(event("c-1", reference: "v-1")))
            #expect(first.status == .created)
            let response = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(batch([event("c-2"), event("c-1", reference: "v-2")])))
            #expect(response.status == .conflict)
            let inBatch = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(batch([event("c-3", reference: "v-1"), event("c-3", reference: "v-2")])))
            #expect(inBatch.status == .conflict)
        }
        #expect(try await test.store.treeSize() == 1)
    }

    @Test("malformed bodies are 4xx with a JSON error", arguments: [
        ("", 400), ("{", 400), ("{\"event_id\":\"a\",\"event_id\":\"b\",\"kind\":\"k\"}", 400), ("\"text\"", 400),
        ("{\"events\":[]}", 422), ("{\"events\":{}}", 422), ("{\"events\":[{\"event_id\":\"a\",\"kind\":\"k\"}],\"more\":1}", 422),
        ("{\"event_id\":7,\"kind\":\"k\"}", 422), ("{\"event_id\":\"a b\",\"kind\":\"k\"}", 422),
        (String(repeating: "[", count: 100) + String(repeating: "]", count: 100), 400),
    ])
    func malformed(body: String, status: Int) async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            let response = try await client.execute(uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(body))
            #expect(response.status.code == status)
            #expect(try response.json["error"]?.stringValue?.isEmpty == false)
        }
        #expect(try await test.store.treeSize() == 0)
    }

    @Test("too many events or too large a body is refused")
    func limits() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            let many = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(batch((0..<1001).map { event("m-\($0)") })))
            #expect(many.status == .unprocessableContent)
            let huge = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(event("h-1", reference: String(repeating: "x", count: 9 << 20))))
            #expect(huge.status == .contentTooLarge)
            #expect(try huge.json["error"] != nil)
            let bigEvent = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(event("h-2", reference: String(repeating: "x", count: 140_000))))
            #expect(bigEvent.status == .unprocessableContent)
        }
        #expect(try await test.store.treeSize() == 0)
    }

    @Test("appends need an append token: 401 without or with an unknown or revoked one, 403 for another role")
    func authorization() async throws {
        let test = try await TestLedger.make()
        let revoked = try await TokenAuthority(store: test.store).create(name: "gone", role: .append, platform: "example-ai").token
        try await test.store.revokeToken(name: "gone", atMilliseconds: 1)
        try await test.withClient { client in
            let body = jsonBody(event("t-1"))
            let none = try await client.execute(uri: "/v1/events", method: .post, body: body)
            #expect(none.status == .unauthorized)
            #expect(try none.json["error"] != nil)
            let unknown = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("grf_not-a-real-token"), body: body)
            #expect(unknown.status == .unauthorized)
            let basic = try await client.execute(uri: "/v1/events", method: .post, headers: [.authorization: "Basic abc"], body: body)
            #expect(basic.status == .unauthorized)
            let gone = try await client.execute(uri: "/v1/events", method: .post, headers: bearer(revoked), body: body)
            #expect(gone.status == .unauthorized)
            let wrongRole = try await client.execute(uri: "/v1/events", method: .post, headers: bearer(test.investigateToken), body: body)
            #expect(wrongRole.status == .forbidden)
            // The secret never comes back in an answer.
            #expect(!wrongRole.text.contains(test.investigateToken))
        }
        #expect(try await test.store.treeSize() == 0)
    }

    @Test("?wait=checkpoint answers with a signed checkpoint and inclusion proofs that verify offline")
    func receipts() async throws {
        let test = try await TestLedger.make()
        let verifier = test.signer.verifier
        try await test.withClient { client in
            let single = try await client.execute(
                uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken), body: jsonBody(event("r-0")))
            #expect(single.status == .created)
            try verifyReceipt(try single.json, checkpoint: try single.json["checkpoint"]?.stringValue, verifier: verifier)

            let response = try await client.execute(
                uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(batch((1..<20).map { event("r-\($0)") })))
            #expect(response.status == .created)
            let answer = try response.json
            let note = try #require(answer["checkpoint"]?.stringValue)
            for result in try #require(answer["results"]?.arrayValue) {
                try verifyReceipt(result, checkpoint: note, verifier: verifier)
            }
            let bad = try await client.execute(
                uri: "/v1/events?wait=forever", method: .post, headers: bearer(test.appendToken), body: jsonBody(event("r-x")))
            #expect(bad.status == .badRequest)
        }
    }
}

func verifyReceipt(_ result: JSONValue, checkpoint note: String?, verifier: NoteVerifier) throws {
    let note = try #require(note)
    let checkpoint = try CheckpointVerifier.verify(note: note, verifier: verifier).checkpoint
    let proof = try #require(result["inclusion_proof"])
    let index = try #require(result["index"]?.uint64)
    let leafHash = try #require(result["leaf_hash"]?.hash)
    #expect(proof["index"]?.uint64 == index)
    #expect(proof["leaf_hash"]?.hash == leafHash)
    #expect(proof["tree_size"]?.uint64 == checkpoint.size)
    try ProofVerifier.verifyInclusion(
        index: index, size: checkpoint.size, leafHash: leafHash, proof: try #require(proof["proof"]?.hashes), root: checkpoint.root)
}
