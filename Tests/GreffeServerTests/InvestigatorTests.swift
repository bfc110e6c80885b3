import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("investigators")
struct InvestigatorTests {
    @Test("erasure removes the body from the database file and keeps every proof valid")
    func erasure() async throws {
        let test = try await TestLedger.make()
        let admin = try await TokenAuthority(store: test.store).create(name: "court-officer", role: .admin).token
        let secret = "UNIQUE-ERASE-ME-\(UUID().uuidString)"
        try await test.withClient { client in
            for i in 0..<5 {
                let response = try await client.execute(
                    uri: "/v1/events", method: .post, headers: bearer(test.appendToken),
                    body: jsonBody(event("er-\(i)", reference: i == 2 ? secret : "REF-\(i)")))
                #expect(response.status == .created)
            }
            let before = try CheckpointVerifier.verify(note: try await waitForCheckpoint(size: 5, client: client), verifier: test.signer.verifier).checkpoint
            let forbidden = try await client.execute(
                uri: "/v1/events/2/erasure", method: .post, headers: bearer(test.investigateToken),
                body: jsonBody("{\"legal_reference\":\"TJ Paris 2026/123\",\"reason\":\"GDPR art. 17\"}"))
            #expect(forbidden.status == .forbidden)
            let bad = try await client.execute(uri: "/v1/events/2/erasure", method: .post, headers: bearer(admin), body: jsonBody("{\"reason\":\"x\"}"))
            #expect(bad.status == .unprocessableContent)
            let erased = try await client.execute(
                uri: "/v1/events/2/erasure", method: .post, headers: bearer(admin),
                body: jsonBody("{\"legal_reference\":\"TJ Paris 2026/123\",\"reason\":\"GDPR art. 17\"}"))
            #expect(erased.status == .ok)
            let erasureIndex = try #require(try erased.json["erasure_entry_index"]?.uint64)
            let again = try await client.execute(
                uri: "/v1/events/2/erasure", method: .post, headers: bearer(admin),
                body: jsonBody("{\"legal_reference\":\"TJ Paris 2026/123\",\"reason\":\"GDPR art. 17\"}"))
            #expect(again.status == .conflict)

            // Reading it says when and why; the entry is intact.
            let read = try await client.execute(uri: "/v1/events/2", method: .get, headers: bearer(test.investigateToken))
            #expect(read.status == .ok)
            let answer = try read.json
            #expect(answer["body"]?.isNull == true)
            #expect(answer["erased"]?["legal_reference"]?.stringValue == "TJ Paris 2026/123")
            #expect(answer["erased"]?["erasure_entry_index"]?.uint64 == erasureIndex)

            // Proofs: old and new checkpoints, the erased entry included.
            let after = try CheckpointVerifier.verify(
                note: try await waitForCheckpoint(size: erasureIndex + 1, client: client), verifier: test.signer.verifier
            ).checkpoint
            let consistency = try await client.execute(uri: "/v1/proofs/consistency?first=\(before.size)&second=\(after.size)", method: .get)
            try ProofVerifier.verifyConsistency(
                first: before.size, second: after.size, firstRoot: before.root, secondRoot: after.root,
                proof: try #require(try consistency.json["proof"]?.hashes))
            let inclusion = try await client.execute(uri: "/v1/proofs/inclusion?index=2&tree_size=\(after.size)", method: .get)
            try ProofVerifier.verifyInclusion(
                index: 2, size: after.size, leafHash: try #require(try inclusion.json["leaf_hash"]?.hash),
                proof: try #require(try inclusion.json["proof"]?.hashes), root: after.root)
            // The erasure order itself is an entry of the log, valid against its schema.
            let order = try #require(try await test.store.readEvent(index: erasureIndex))
            #expect(order.kind == "erasure.executed")
            let orderBody = try JSONParser.parse(try #require(order.canonicalBody))
            #expect(orderBody["target_index"]?.intValue == 2)
            try EventSchemaSet.builtIn.validate(orderBody)
        }
        // The raw SQLite files no longer hold the body anywhere.
        for name in ["greffe.sqlite", "greffe.sqlite-wal"] {
            let path = test.directory.appendingPathComponent(name).path
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            #expect(data.range(of: Data(secret.utf8)) == nil, "\(name) still contains the erased body")
        }
    }

    @Test("search by account and content hash is paginated and logged as access.granted")
    func search() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            for i in 0..<12 {
                let response = try await client.execute(
                    uri: "/v1/events", method: .post, headers: bearer(test.appendToken),
                    body: jsonBody(editRequest("s-\(i)", account: i % 3, image: i % 2 == 0 ? 7 : 8, second: i)))
                #expect(response.status == .created)
            }
            let noToken = try await client.execute(uri: "/v1/events?account=x", method: .get)
            #expect(noToken.status == .unauthorized)
            let wrongRole = try await client.execute(uri: "/v1/events?account=x", method: .get, headers: bearer(test.appendToken))
            #expect(wrongRole.status == .forbidden)
            let noFilter = try await client.execute(uri: "/v1/events", method: .get, headers: bearer(test.investigateToken))
            #expect(noFilter.status == .badRequest)
            let badHash = try await client.execute(uri: "/v1/events?content_hash=zz", method: .get, headers: bearer(test.investigateToken))
            #expect(badHash.status == .badRequest)

            let account1 = "hmac-sha256:\(String(format: "%064x", 1))"
            let byAccount = try await client.execute(uri: "/v1/events?account=\(account1)", method: .get, headers: bearer(test.investigateToken))
            #expect(byAccount.status == .ok)
            let found = try #require(try byAccount.json["events"]?.arrayValue)
            #expect(found.compactMap { $0["event_id"]?.stringValue } == ["s-1", "s-4", "s-7", "s-10"])
            #expect(found.allSatisfy { $0["body"]?["account"]?.stringValue == account1 })

            let image8 = String(format: "%064x", 8)
            var pages: [[String]] = []
            var after = ""
            repeat {
                let page = try await client.execute(
                    uri: "/v1/events?content_hash=sha256:\(image8)&limit=4\(after)", method: .get, headers: bearer(test.investigateToken))
                let answer = try page.json
                pages.append(try #require(answer["events"]?.arrayValue).compactMap { $0["event_id"]?.stringValue })
                after = answer["next_after"]?.uint64.map { "&after=\($0)" } ?? ""
            } while !after.isEmpty
            #expect(pages.flatMap { $0 } == ["s-1", "s-3", "s-5", "s-7", "s-9", "s-11"])
            #expect(pages.first?.count == 4)

            let timed = try await client.execute(
                uri: "/v1/events?from=2026-11-25T10:00:03Z&to=2026-11-25T10:00:06Z&kind=edit.requested", method: .get,
                headers: bearer(test.investigateToken))
            #expect(try timed.json["events"]?.arrayValue?.compactMap { $0["event_id"]?.stringValue } == ["s-3", "s-4", "s-5"])
        }
        // 12 events, then one access.granted per successful search (1 + 2 pages + 1).
        let access = try await test.store.searchEvents(EventQuery(kinds: ["access.granted"]))
        #expect(access.count == 4)
        for index in access {
            let body = try JSONParser.parse(try #require(try await test.store.readEvent(index: index)?.canonicalBody))
            // Greffe's own events satisfy the published schema too.
            try EventSchemaSet.builtIn.validate(body)
            #expect(body["role"]?.stringValue == "investigate")
        }
    }
}
