import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import Hummingbird
import HummingbirdTesting
import Testing
import GreffeVerify

/// Preservation orders: an erasure of a held event is refused until the hold is lifted.
@Suite("legal holds")
struct HoldsTests {
    static let account = "hmac-sha256:2b2768b8ead709e0993626a534385c0df9f791a827739d601b1476dca1b75e42"

    /// A legal.request with an account (the hold's criterion) at the given time.
    static func accountEvent(_ id: String, account: String = account, occurredAt: String = "2026-11-25T10:00:00Z") -> String {
        event(id).replacingOccurrences(of: "\"occurred_at\":\"2026-11-25T10:00:00Z\"", with: "\"occurred_at\":\"\(occurredAt)\"")
            .replacingOccurrences(of: "\"request_type\":\"preservation\"}", with: "\"request_type\":\"preservation\",\"account\":\"\(account)\"}")
    }

    @Test("a bundle of held events carries the hold's records, proved; lifted, the lift too; a doctored record fails")
    func bundlesListHolds() async throws {
        let test = try await TestLedger.make()
        let admin = try await TokenAuthority(store: test.store).create(name: "court-officer", role: .admin).token
        let other = "hmac-sha256:" + String(repeating: "0", count: 64)
        struct NotV3: Error {}
        let verifier = test.signer.verifier
        @Sendable func verify(_ bytes: [UInt8]) throws -> BundleReport {
            guard case .verified(let report) = try CompactBundleVerifier(verifiers: [verifier]).verify(MemoryByteSource(bytes)) else {
                throw NotV3()
            }
            return report
        }
        try await test.withClient { client in
            let appended = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(batch([Self.accountEvent("held"), Self.accountEvent("other-account", account: other)])))
            #expect(appended.status == .created)
            let placed = try await client.execute(
                uri: "/v1/holds", method: .post, headers: bearer(admin),
                body: jsonBody("{\"authority\":\"Parquet de Paris\",\"reference\":\"EPOC-PR 2026/0815\",\"scope\":{\"accounts\":[\"\(Self.account)\"]}}"))
            let holdIndex = try #require(try placed.json["hold_index"]?.uint64)
            func bundle(_ from: Int, _ to: Int) async throws -> [UInt8] {
                let response = try await client.execute(
                    uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken),
                    body: jsonBody("{\"index_range\":{\"from\":\(from),\"to\":\(to)}}"))
                #expect(response.status == .ok)
                return Array(buffer: response.body)
            }
            // Only bundles holding a covered event list the hold.
            let unrelated = try JSONParser.parse(try await bundle(1, 2), limits: JSONLimits(maxDepth: 128, maxBytes: 1 << 30))
            #expect(unrelated["holds"] == nil)
            let bytes = try await bundle(0, 2)
            let report = try verify(bytes)
            #expect(report.verified, "\(report.failures)")
            #expect(report.holds == ["Legal hold \"EPOC-PR 2026/0815\" by Parquet de Paris, recorded as entry \(holdIndex), active at the bundle's checkpoint"])

            let lift = try await client.execute(
                uri: "/v1/holds/\(holdIndex)/lift", method: .post, headers: bearer(admin), body: jsonBody("{\"reference\":\"mainlevée\",\"reason\":\"case closed\"}"))
            let liftIndex = try #require(try lift.json["lifted_at_index"]?.uint64)
            let lifted = try verify(try await bundle(0, 2))
            #expect(lifted.verified, "\(lifted.failures)")
            #expect(lifted.holds.first?.contains("lifted by entry \(liftIndex)") == true, "\(lifted.holds)")

            // The hold's reference changed in its record: the record no longer matches its entry.
            var object = try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 128, maxBytes: 1 << 30)).objectValue!
            var hold = object["holds"]!.arrayValue![0].objectValue!
            var record = hold["placed"]!.objectValue!
            var body = record["body"]!.objectValue!
            body["reference"] = "EPOC-PR 2026/9999"
            record["body"] = .object(body)
            hold["placed"] = .object(record)
            object["holds"] = .array([.object(hold)])
            let doctored = try verify(JSONValue.object(object).canonicalBytes())
            #expect(doctored.failures.map(\.code) == [.hold])
            #expect(doctored.failures.first?.message.contains("do not match its entry's commitment") == true)
        }
    }

    @Test("a held event cannot be erased until the hold is lifted; events outside its scope can; every act is logged")
    func holdBlocksErasure() async throws {
        let test = try await TestLedger.make()
        let admin = try await TokenAuthority(store: test.store).create(name: "court-officer", role: .admin).token
        let erase = "{\"legal_reference\":\"TJ Paris 26/1\",\"reason\":\"GDPR art. 17\"}"
        try await test.withClient { client in
            let other = "hmac-sha256:" + String(repeating: "0", count: 64)
            let appended = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(batch([
                    Self.accountEvent("held"), Self.accountEvent("too-early", occurredAt: "2026-01-01T00:00:00Z"),
                    Self.accountEvent("other-account", account: other),
                ])))
            #expect(appended.status == .created)
            let hold = """
                {"authority":"Parquet de Paris","reference":"EPOC-PR 2026/0815",\
                "scope":{"accounts":["\(Self.account)"],"occurred_range":{"from":"2026-06-01T00:00:00Z","to":"2027-01-01T00:00:00Z"}}}
                """
            let forbidden = try await client.execute(uri: "/v1/holds", method: .post, headers: bearer(test.investigateToken), body: jsonBody(hold))
            #expect(forbidden.status == .forbidden)
            let placed = try await client.execute(uri: "/v1/holds", method: .post, headers: bearer(admin), body: jsonBody(hold))
            #expect(placed.status == .created)
            let holdIndex = try #require(try placed.json["hold_index"]?.uint64)

            let refused = try await client.execute(uri: "/v1/events/0/erasure", method: .post, headers: bearer(admin), body: jsonBody(erase))
            #expect(refused.status == .conflict)
            let message = try #require(try refused.json["error"]?.stringValue)
            #expect(message.contains("index \(holdIndex)") && message.contains("EPOC-PR 2026/0815"), "\(message)")
            // Outside the scope: another period, another account.
            for index in [1, 2] {
                let erased = try await client.execute(uri: "/v1/events/\(index)/erasure", method: .post, headers: bearer(admin), body: jsonBody(erase))
                #expect(erased.status == .ok)
            }
            // The hold record itself is part of the chain of custody.
            let custody = try await client.execute(uri: "/v1/events/\(holdIndex)/erasure", method: .post, headers: bearer(admin), body: jsonBody(erase))
            #expect(custody.status == .unprocessableContent)

            let listed = try await client.execute(uri: "/v1/holds", method: .get, headers: bearer(test.investigateToken))
            let holds = try #require(try listed.json["holds"]?.arrayValue)
            #expect(holds.count == 1 && holds[0]["active"]?.boolValue == true)

            let lift = try await client.execute(
                uri: "/v1/holds/\(holdIndex)/lift", method: .post, headers: bearer(admin),
                body: jsonBody("{\"reference\":\"EPOC-PR 2026/0815 mainlevée\",\"reason\":\"case closed\"}"))
            #expect(lift.status == .ok)
            let again = try await client.execute(
                uri: "/v1/holds/\(holdIndex)/lift", method: .post, headers: bearer(admin),
                body: jsonBody("{\"reference\":\"x\",\"reason\":\"y\"}"))
            #expect(again.status == .conflict)
            let erased = try await client.execute(uri: "/v1/events/0/erasure", method: .post, headers: bearer(admin), body: jsonBody(erase))
            #expect(erased.status == .ok)
        }
        let actions = try await test.store.searchEvents(EventQuery(kinds: ["access.granted"], limit: 100)).asyncMap { index in
            try await test.store.readEvent(index: index)?.canonicalBody.flatMap { try? JSONParser.parse($0) }?["action"]?.stringValue
        }
        #expect(actions.contains("hold") && actions.contains("lift_hold") && actions.contains("list_holds"))
        // Greffe's own records satisfy the schemas it publishes, so an outside verifier can check them too.
        let size = try await test.store.treeSize()
        for index in 0..<size {
            let body = try #require(try await test.store.readEvent(index: index)?.canonicalBody.flatMap { try? JSONParser.parse($0) } ?? .object([:]))
            guard body["platform"]?.stringValue == Ledger.ownPlatform else { continue }
            #expect(throws: Never.self, "record \(index)") { try EventSchemaSet.builtIn.validate(body) }
        }
    }

    @Test("a hold's body is checked strictly: unknown or empty criteria, unknown members, and platforms sending hold records are refused")
    func strictHolds() async throws {
        let test = try await TestLedger.make()
        let admin = try await TokenAuthority(store: test.store).create(name: "court-officer", role: .admin).token
        try await test.withClient { client in
            for body in [
                "{\"authority\":\"A\",\"reference\":\"R\",\"scope\":{}}",
                "{\"authority\":\"A\",\"reference\":\"R\",\"scope\":{\"platforms\":[\"x\"]}}",
                "{\"authority\":\"A\",\"reference\":\"R\",\"scope\":{\"image_sha256\":[\"00\"]}}",
                "{\"authority\":\"A\",\"reference\":\"R\",\"scope\":{\"kinds\":[\"edit.requested\"]},\"extra\":1}",
                "{\"authority\":\"A\",\"scope\":{\"kinds\":[\"edit.requested\"]}}",
            ] {
                let response = try await client.execute(uri: "/v1/holds", method: .post, headers: bearer(admin), body: jsonBody(body))
                #expect(response.status == .unprocessableContent, "\(body)")
            }
            // A platform cannot forge a hold (nor a lift) in Greffe's name.
            let forged = event("forged-hold").replacingOccurrences(of: "\"kind\":\"legal.request\"", with: "\"kind\":\"hold.lifted\"")
            let response = try await client.execute(uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(forged))
            #expect(response.status == .unprocessableContent)
        }
        #expect(try await test.store.searchEvents(EventQuery(kinds: ["hold.placed"])).isEmpty)
    }

    @Test("a hold covers an event only when every criterion matches")
    func coverage() {
        let hold = LegalHold(
            index: 9, authority: "A", reference: "R",
            scope: [
                "image_sha256": .array([.string(String(repeating: "a", count: 64))]), "kinds": ["edit.requested", "edit.completed"],
            ], placedAtMilliseconds: 0)
        let image = EventIndexTerms(contentHashes: ["pdq:" + String(repeating: "b", count: 64), "sha256:" + String(repeating: "a", count: 64)])
        #expect(hold.covers(kind: "edit.requested", terms: image))
        #expect(!hold.covers(kind: "generation.requested", terms: image))
        #expect(!hold.covers(kind: "edit.requested", terms: EventIndexTerms(contentHashes: ["sha256:" + String(repeating: "c", count: 64)])))
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
