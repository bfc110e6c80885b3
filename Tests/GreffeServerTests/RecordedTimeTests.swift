import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import Hummingbird
import HummingbirdTesting
import Testing

/// Searches by the time Greffe recorded an event, which no platform chooses.
@Suite("recorded time")
struct RecordedTimeTests {
    static func backdated(_ id: String, occurredAt: String) -> String {
        event(id).replacingOccurrences(of: "\"occurred_at\":\"2026-11-25T10:00:00Z\"", with: "\"occurred_at\":\"\(occurredAt)\"")
    }

    @Test("a backdated event escapes a search by occurred_at but not one by recorded time, and is marked as disagreeing")
    func backdatedEventsFound() async throws {
        let test = try await TestLedger.make()
        let start = Date()
        try await test.withClient { client in
            let sent = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(batch([Self.backdated("old-1", occurredAt: "2019-01-01T00:00:00Z"), event("new-1")])))
            #expect(sent.status == .created)
            func search(_ query: String) async throws -> [String] {
                let response = try await client.execute(uri: "/v1/events?\(query)", method: .get, headers: bearer(test.investigateToken))
                #expect(response.status == .ok)
                return try response.json["events"]?.arrayValue?.compactMap { $0["event_id"]?.stringValue } ?? []
            }
            let now = Date()
            let from = RFC3339Time.format(UInt64(start.timeIntervalSince1970 * 1000) - 1_000)
            let to = RFC3339Time.format(UInt64(now.timeIntervalSince1970 * 1000) + 60_000)
            #expect(try await search("from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z&kind=legal.request") == ["new-1"])
            #expect(try await search("recorded_from=\(from)&recorded_to=\(to)&kind=legal.request") == ["old-1", "new-1"])
            #expect(try await search("recorded_to=\(from)&kind=legal.request").isEmpty)
            let bad = try await client.execute(
                uri: "/v1/events?recorded_from=\(to)&recorded_to=\(from)", method: .get, headers: bearer(test.investigateToken))
            #expect(bad.status == .badRequest)

            let read = try await client.execute(uri: "/v1/events/0", method: .get, headers: bearer(test.investigateToken))
            let disagreement = try #require(try read.json["time_disagreement"])
            #expect(disagreement["occurred_at"]?.stringValue == "2019-01-01T00:00:00Z")
            #expect((disagreement["recorded_minus_occurred_seconds"]?.intValue ?? 0) > 200_000_000)
            #expect(try read.json["recorded_at"]?.stringValue != nil)

            // A bundle by recorded time holds the backdated event too, each with the token that appended it.
            let bundle = try await client.execute(
                uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken),
                body: jsonBody("{\"recorded_range\":{\"from\":\"\(from)\",\"to\":\"\(to)\"},\"kind\":\"legal.request\"}"))
            #expect(bundle.status == .ok)
            let events = try #require(try bundle.json["events"]?.arrayValue)
            #expect(events.compactMap { $0["body"]?["event_id"]?.stringValue } == ["old-1", "new-1"])
            #expect(events.allSatisfy { $0["appended_by"]?.stringValue?.hasPrefix("platform-") == true })
            let extra = try await client.execute(
                uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken),
                body: jsonBody("{\"recorded_range\":{\"from\":\"\(from)\",\"to\":\"\(to)\",\"x\":1}}"))
            #expect(extra.status == .unprocessableContent)
        }
    }
}
