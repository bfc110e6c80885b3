import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import Hummingbird
import HummingbirdTesting
import Testing

/// Every append token writes for one platform; event IDs are unique per platform.
@Suite("Tenancy")
struct TenancyTests {
    /// `event(_:reference:)` for another platform.
    static func platformEvent(_ id: String, platform: String, reference: String = "REF-1") -> String {
        GreffeServerTests.event(id, reference: reference).replacingOccurrences(of: "\"platform\":\"example-ai\"", with: "\"platform\":\"\(platform)\"")
    }

    @Test("a token bound to one platform cannot write in another's name, alone or hidden in a batch; nothing is appended")
    func crossPlatformWriteRefused() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            let single = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(Self.platformEvent("x-1", platform: "other.example")))
            #expect(single.status == .forbidden)
            let message = try #require(try single.json["error"]?.stringValue)
            #expect(message.contains("other.example") && message.contains("example-ai"))

            let mixed = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(batch([event("x-2"), Self.platformEvent("x-3", platform: "other.example")])))
            #expect(mixed.status == .forbidden)
            #expect(try mixed.json["error"]?.stringValue?.contains("/events/1/platform") == true)
        }
        #expect(try await test.store.treeSize() == 0)
    }

    @Test("an admin token, an unbound legacy append token and Greffe's own platform cannot append")
    func onlyBoundAppendTokensAppend() async throws {
        let test = try await TestLedger.make()
        let authority = TokenAuthority(store: test.store)
        let admin = try await authority.create(name: "admin", role: .admin).token
        // An append token as an older greffe made it: no platform.
        let legacySecret = BearerToken.generate()
        _ = try await test.store.createToken(
            name: "legacy", role: .append, platform: nil, secretHash: BearerToken.secretHash(legacySecret), createdAtMilliseconds: 0)
        await #expect(throws: TokenAuthority.InvalidToken.self) { _ = try await authority.create(name: "g", role: .append, platform: "greffe") }
        await #expect(throws: TokenAuthority.InvalidToken.self) { _ = try await authority.create(name: "n", role: .append) }
        await #expect(throws: TokenAuthority.InvalidToken.self) { _ = try await authority.create(name: "i", role: .investigate, platform: "x") }
        try await test.withClient { client in
            for token in [admin, legacySecret] {
                let response = try await client.execute(uri: "/v1/events", method: .post, headers: bearer(token), body: jsonBody(event("y-1")))
                #expect(response.status == .forbidden)
            }
            // Binding the legacy token lets it append for its platform, and only for it.
            try await authority.bind(name: "legacy", platform: "example-ai")
            try await Task.sleep(for: .milliseconds(1_100))  // past the token cache's lifetime
            let bound = try await client.execute(uri: "/v1/events", method: .post, headers: bearer(legacySecret), body: jsonBody(event("y-1")))
            #expect(bound.status == .created)
        }
        #expect(try await test.store.treeSize() == 1)
        #expect(try await test.store.readEvent(index: 0)?.appendedBy == "legacy")
    }

    @Test("one platform cannot squat another's event IDs, nor learn anything of its events from 200 or 409")
    func idSquattingHarmless() async throws {
        let test = try await TestLedger.make()
        let other = try await TokenAuthority(store: test.store).create(name: "other", role: .append, platform: "other.example").token
        try await test.withClient { client in
            // The squatter takes IDs the victim will use, with bodies of its own.
            let squat = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(other),
                body: jsonBody(batch([Self.platformEvent("victim-1", platform: "other.example"), Self.platformEvent("victim-2", platform: "other.example")])))
            #expect(squat.status == .created)
            // The victim's whole batch goes in, at new indices.
            let victim = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(batch([event("victim-1"), event("victim-2")])))
            #expect(victim.status == .created)
            let indices = try #require(try victim.json["results"]?.arrayValue?.compactMap { $0["index"]?.uint64 })
            #expect(indices == [2, 3])
            // Sending the victim's exact body under the squatter's token reveals nothing: it is refused as another platform's event.
            let probe = try await client.execute(uri: "/v1/events", method: .post, headers: bearer(other), body: jsonBody(event("victim-1")))
            #expect(probe.status == .forbidden)
            #expect(try probe.json["error"]?.stringValue?.contains("index") == false)
            // And its own ID with another body conflicts with its own event only.
            let conflict = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(other), body: jsonBody(Self.platformEvent("victim-1", platform: "other.example", reference: "R2")))
            #expect(conflict.status == .conflict)
            #expect(try conflict.json["error"]?.stringValue?.contains("index 0") == true)
        }
        let stored = try #require(try await test.store.readEvent(index: 2))
        #expect(stored.platform == "example-ai")
        #expect(stored.appendedBy?.hasPrefix("platform-") == true)
    }

    @Test("Greffe's own records cannot be erased, and concurrent erasures of one event record one order")
    func custodyAndErasureOnce() async throws {
        let test = try await TestLedger.make()
        let investigator = TokenRecord(id: 0, name: "inv", role: .investigate, createdAtMilliseconds: 0, revokedAtMilliseconds: nil)
        _ = try await test.ledger.append([submission("target")])
        let access = try await test.ledger.recordAccess(token: investigator, action: "search", query: [:])
        await #expect(throws: LedgerError.self) { _ = try await test.ledger.erase(index: access.index, legalReference: "order-1", reason: "r") }
        let results = await withTaskGroup(of: Bool.self) { group in
            for n in 0..<8 {
                group.addTask { (try? await test.ledger.erase(index: 0, legalReference: "order-\(n)", reason: "r")) != nil }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 1)
        let orders = try await test.store.searchEvents(EventQuery(kinds: ["erasure.executed"]))
        #expect(orders.count == 1)
        #expect(try await test.store.readEvent(index: 0)?.erasure?.erasureEntryIndex == orders.first)
        await test.stop()
    }

    @Test("an erasure recorded in the log but not applied (a crash, an old backup) is applied before the ledger serves")
    func recordedErasuresReapplied() async throws {
        let first = try await TestLedger.make()
        _ = try await first.ledger.append([submission("keep"), submission("gone")])
        // The order as `erase` records it, then a crash before the body is deleted.
        let order = JSONValue.object(JSONObject([
            ("event_id", "greffe-erasure.executed-test"), ("kind", "erasure.executed"), ("occurred_at", "2026-11-25T10:00:00.000Z"),
            ("platform", "greffe"), ("schema_version", 1), ("target_index", 1), ("legal_reference", "TJ Paris 26/123"), ("reason", "order"),
        ]))
        let recorded = try await first.ledger.append([
            try! EventSubmission(eventID: "greffe-erasure.executed-test", platform: "greffe", kind: "erasure.executed", canonicalBody: order.canonicalBytes())
        ])[0]
        // A look-alike order not written by Greffe (platform "example-ai") is not obeyed.
        let lookAlike = JSONValue.object(JSONObject([
            ("event_id", "fake-order"), ("kind", "erasure.executed"), ("occurred_at", "2026-11-25T10:00:00.000Z"),
            ("platform", "example-ai"), ("schema_version", 1), ("target_index", 0), ("legal_reference", "none"), ("reason", "forged"),
        ]))
        _ = try await first.ledger.append([
            try! EventSubmission(eventID: "fake-order", platform: "example-ai", kind: "erasure.executed", canonicalBody: lookAlike.canonicalBytes())
        ])
        await first.stop()
        #expect(try await first.store.readEvent(index: 1)?.canonicalBody != nil)
        let reopened = try await Ledger.open(store: first.store, signer: first.signer)
        let event = try #require(try await reopened.readEvent(index: 1))
        #expect(event.canonicalBody == nil && event.salt == nil)
        #expect(event.erasure?.legalReference == "TJ Paris 26/123")
        #expect(event.erasure?.erasureEntryIndex == recorded.index)
        #expect(try await reopened.readEvent(index: 0)?.canonicalBody != nil)
    }
}
