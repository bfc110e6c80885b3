import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import Hummingbird
import HummingbirdTesting
import Testing

func report(_ id: String, reportID: String, image: Int, at time: String) -> String {
    """
    {"event_id":"\(id)","kind":"report.received","occurred_at":"\(time)","platform":"example-ai","schema_version":1,\
    "report_id":"\(reportID)","reporter_type":"victim","content_hashes":[{"sha256":"\(String(format: "%064x", image))"}],\
    "category":"non_consensual_intimate_imagery"}
    """
}

func takedown(_ id: String, reportID: String?, image: Int, at time: String) -> String {
    let link = reportID.map { "\"report_id\":\"\($0)\"," } ?? ""
    return """
        {"event_id":"\(id)","kind":"takedown.executed","occurred_at":"\(time)","platform":"example-ai","schema_version":1,\(link)\
        "content_hashes":[{"sha256":"\(String(format: "%064x", image))"}],"action":"removed"}
        """
}

@Suite("takedown timeliness")
struct TakedownTests {
    @Test("each report is matched to the first later takedown of the same report or content, against the deadline")
    func takedownReport() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            let events = [
                report("r1", reportID: "R-1", image: 1, at: "2026-11-20T10:00:00Z"),
                report("r2", reportID: "R-2", image: 2, at: "2026-11-20T11:00:00Z"),
                report("r3", reportID: "R-3", image: 3, at: "2026-11-20T12:00:00Z"),
                report("r4", reportID: "R-4", image: 4, at: RFC3339Time.format(UInt64(Date().timeIntervalSince1970 * 1000) - 3_600_000)),
                // Same content as r1, no report_id: matched by hash, 5 hours later.
                takedown("t1", reportID: nil, image: 1, at: "2026-11-20T15:00:00Z"),
                // Names r2 by report_id, 3 days later: late.
                takedown("t2", reportID: "R-2", image: 99, at: "2026-11-23T11:00:00Z"),
            ]
            let response = try await client.execute(uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(batch(events)))
            #expect(response.status == .created)
            let forbidden = try await client.execute(uri: "/v1/reports/takedowns", method: .get, headers: bearer(test.appendToken))
            #expect(forbidden.status == .forbidden)
            let answer = try await client.execute(uri: "/v1/reports/takedowns", method: .get, headers: bearer(test.investigateToken))
            #expect(answer.status == .ok)
            let lines = try #require(try answer.json["reports"]?.arrayValue)
            #expect(lines.map { $0["report_id"]?.stringValue } == ["R-1", "R-2", "R-3", "R-4"])
            #expect(lines.map { $0["status"]?.stringValue } == ["in_time", "late", "overdue", "open"])
            #expect(lines.map { $0["takedown_index"]?.uint64 } == [4, 5, nil, nil])
            #expect(lines[0]["delay_seconds"]?.doubleValue == Double(5 * 3600))
            #expect(lines[1]["delay_seconds"]?.doubleValue == Double(72 * 3600))
            let strict = try await client.execute(uri: "/v1/reports/takedowns?deadline_hours=4", method: .get, headers: bearer(test.investigateToken))
            #expect(try strict.json["reports"]?.arrayValue?.first?["status"]?.stringValue == "late")
            let bad = try await client.execute(uri: "/v1/reports/takedowns?deadline_hours=0", method: .get, headers: bearer(test.investigateToken))
            #expect(bad.status == .badRequest)
        }
    }
}
