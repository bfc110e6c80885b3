import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import GreffeVerify
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("tier report API")
struct TierReportAPITests {
    @Test("GET /v1/reports/tiers: investigators only, every parameter checked, erased events counted as such, logged as access.granted valid against its schema")
    func tierReport() async throws {
        let test = try await TestLedger.make()
        let admin = try await TokenAuthority(store: test.store).create(name: "court-officer", role: .admin).token
        try await test.withClient { client in
            let appended = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(batch((0..<4).map { event("t-\($0)", reference: "R\($0)") })))
            #expect(appended.status == .created)
            let erased = try await client.execute(
                uri: "/v1/events/1/erasure", method: .post, headers: bearer(admin), body: jsonBody("{\"legal_reference\":\"TJ 1\",\"reason\":\"order\"}"))
            #expect(erased.status == .ok)
            _ = try await waitForCheckpoint(size: 5, client: client)

            #expect(try await client.execute(uri: "/v1/reports/tiers", method: .get, headers: bearer(test.appendToken)).status == .forbidden)
            #expect(try await client.execute(uri: "/v1/reports/tiers", method: .get).status == .unauthorized)
            for bad in ["period=quarter", "time=utc", "from=2026-13-01T00:00:00Z", "limit=3", "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"] {
                let response = try await client.execute(uri: "/v1/reports/tiers?\(bad)", method: .get, headers: bearer(test.investigateToken))
                #expect(response.status == .badRequest, "\(bad)")
                #expect(try response.json["error"]?.stringValue != nil)
            }

            let response = try await client.execute(uri: "/v1/reports/tiers?period=day&time=recorded", method: .get, headers: bearer(test.investigateToken))
            #expect(response.status == .ok)
            let report = try response.json
            let size = try #require(report["scope"]?["index_range"]?["to"]?.uint64)
            #expect(size >= 5)
            #expect(report["bundle_query"] == ["index_range": ["from": 0, "to": .number(Double(size))]])
            let figures = try #require(report["figures"]?.arrayValue)
            #expect(figures.contains { $0["kind"] == "legal.request" && $0["erased"] == true && $0["count"] == 1 && $0["tier"]?.isNull == true })
            #expect(figures.contains { $0["kind"] == "legal.request" && $0["erased"] == false && $0["count"] == 3 })
            // The figures recomputed from the same events agree with what was served.
            var recomputed = try TierReport(recomputing: report)
            for index in 0..<size {
                let stored = try #require(try await test.store.readEvent(index: index))
                let entry = try LedgerEntry(decoding: stored.entry)
                recomputed.add(kind: entry.kind, sequencedAtMilliseconds: entry.sequencedAtMilliseconds, body: try stored.canonicalBody.map { try JSONParser.parse($0) })
            }
            #expect(recomputed.compare(stated: report) == [])

            // The access is in the log, before the answer left, and valid against access.granted's schema.
            let accesses = try await test.store.searchEvents(EventQuery(kinds: ["access.granted"], limit: 100))
            var found = false
            for index in accesses {
                let body = try JSONParser.parse(try #require(try await test.store.readEvent(index: index)?.canonicalBody))
                guard body["action"] == "tier_report" else { continue }
                try EventSchemaSet.builtIn.validate(body)
                #expect(body["query"] == ["period": "day", "time": "recorded"])
                #expect(body["result_count"]?.uint64 == size)
                found = true
            }
            #expect(found)
        }
    }
}
