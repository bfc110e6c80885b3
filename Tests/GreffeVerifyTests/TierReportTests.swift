import Foundation
import GreffeCore
import GreffeVerify
import Testing

/// The tier report's accumulator and its comparison with a stated report
/// (`greffe verify --report`): known figures, then mutation probes on the
/// stated JSON, every one of which must be named.
@Suite("TierReport")
struct TierReportTests {
    static let march1 = RFC3339Time.milliseconds("2026-03-01T00:00:00Z")!
    static let day: UInt64 = 86_400_000

    static func request(_ id: Int, day: Int, tier: String, outcome: String, realPerson: Bool = true, nudity: Bool? = true) -> JSONValue {
        var flags: JSONObject = ["real_person_detected": .bool(realPerson), "minor_suspected": false]
        if let nudity { flags["nudity_requested"] = .bool(nudity) }
        return [
            "event_id": .string("edit-\(id)"), "kind": "edit.requested",
            "occurred_at": .string(RFC3339Time.format(march1 + UInt64(day) * Self.day + 3_600_000)),
            "subscription_tier": .string(tier), "flags": .object(flags), "decision": ["outcome": .string(outcome)],
        ]
    }

    static func subscription(_ kind: String, day: Int, tier: String, previous: String? = nil, features: [String]) -> JSONValue {
        var body: JSONObject = [
            "kind": .string(kind), "occurred_at": .string(RFC3339Time.format(march1 + UInt64(day) * Self.day)), "tier": .string(tier),
            "features": .array(features.map { .string($0) }),
        ]
        if let previous { body["previous_tier"] = .string(previous) }
        return .object(body)
    }

    /// A month where real-person nudity edits move behind "pro" on 16 March: (kind, recorded time, body) in log order.
    static let events: [(String, UInt64, JSONValue?)] = {
        let recorded = march1 + 40 * day  // Greffe's clock, far from occurred_at: the basis must be occurred_at
        var events: [(String, UInt64, JSONValue?)] = []
        for n in 0..<6 { events.append(("edit.requested", recorded, request(n, day: 2 + n, tier: "free", outcome: "allowed"))) }
        events.append(("subscription.started", recorded, subscription("subscription.started", day: 15, tier: "pro", features: ["image.edit", "image.edit.real_person"])))
        events.append(
            ("subscription.changed", recorded,
                subscription("subscription.changed", day: 15, tier: "pro", previous: "free", features: ["image.edit", "image.edit.real_person"])))
        for n in 0..<4 { events.append(("edit.requested", recorded, request(10 + n, day: 16 + n, tier: "free", outcome: "blocked"))) }
        for n in 0..<3 { events.append(("edit.requested", recorded, request(20 + n, day: 16 + n, tier: "pro", outcome: "allowed"))) }
        events.append(("edit.requested", recorded, request(30, day: 17, tier: "free", outcome: "allowed", realPerson: false, nudity: nil)))
        events.append(("edit.requested", march1 + 20 * day, nil))  // erased
        return events
    }()

    static func sample(_ events: [(String, UInt64, JSONValue?)] = events) -> TierReport {
        var report = TierReport(period: .week, timeBasis: .occurred)
        for (kind, recorded, body) in events { report.add(kind: kind, sequencedAtMilliseconds: recorded, body: body) }
        return report
    }

    static let query: JSONValue = ["index_range": ["from": 0, "to": 17]]
    static let scope: JSONValue = ["index_range": ["from": 0, "to": 17], "tree_size": 17]

    static func stated(_ report: TierReport) -> JSONValue { report.json(scope: scope, bundleQuery: query) }

    @Test func periodsAreUTCDaysMondaysAndMonths() {
        let time = RFC3339Time.milliseconds("2026-03-15T23:59:59.999Z")!  // a Sunday
        #expect(TierReport.label(time, .day) == "2026-03-15")
        #expect(TierReport.label(time, .week) == "2026-03-09")
        #expect(TierReport.label(time + 1, .week) == "2026-03-16")
        #expect(TierReport.label(time, .month) == "2026-03")
        #expect(TierReport.label(RFC3339Time.milliseconds("2024-02-29T12:00:00Z")!, .day) == "2024-02-29")
        #expect(TierReport.label(0, .week) == "1969-12-29")
    }

    @Test func theFiguresShowThePaywall() {
        let report = Self.sample()
        func count(_ period: String, _ tier: String?, _ outcome: String?, _ flags: String? = "real_person_detected+nudity_requested") -> Int? {
            report.figures[.init(period: period, tier: tier, kind: "edit.requested", outcome: outcome, flags: flags, erased: false)]
        }
        #expect(report.eventCount == 17)
        #expect(count("2026-03-02", "free", "allowed") == 6)
        #expect(count("2026-03-16", "free", "blocked") == 4)
        #expect(count("2026-03-16", "pro", "allowed") == 3)
        #expect(count("2026-03-16", "free", "allowed", "none") == 1)
        #expect(count("2026-03-16", "free", "allowed") == nil)
        #expect(report.figures[.init(period: "2026-03-16", tier: nil, kind: "edit.requested", outcome: nil, flags: nil, erased: true)] == 1)
        #expect(report.tierChanges[.init(period: "2026-03-16", kind: "subscription.changed", previousTier: "free", tier: "pro")] == 1)
        #expect(report.tierFeatures[.init(period: "2026-03-16", tier: "pro")] == ["image.edit", "image.edit.real_person"])
        // By Greffe's clock every event falls in one week.
        var recorded = TierReport(period: .week, timeBasis: .recorded)
        recorded.add(kind: "edit.requested", sequencedAtMilliseconds: Self.march1 + 40 * Self.day, body: Self.request(1, day: 2, tier: "free", outcome: "allowed"))
        #expect(recorded.figures.keys.first?.period == "2026-04-06")
    }

    @Test func aReportMatchesItsOwnRecomputationInAnyOrder() throws {
        let stated = Self.stated(Self.sample())
        // Recomputed from the events in another order, with the stated period and basis.
        var again = try TierReport(recomputing: stated)
        for (kind, recorded, body) in Self.events.reversed() { again.add(kind: kind, sequencedAtMilliseconds: recorded, body: body) }
        #expect(again.compare(stated: stated) == [])
        // Reordered members and rows, and a round trip through text, change nothing.
        var object = JSONObject(stated.objectValue!.members.reversed().map { ($0.key, $0.value) })
        object["figures"] = .array(
            object["figures"]!.arrayValue!.reversed().map { row in .object(JSONObject(row.objectValue!.members.reversed().map { ($0.key, $0.value) })) })
        #expect(Self.sample().compare(stated: .object(object)) == [])
        #expect(Self.sample().compare(stated: try JSONParser.parse(stated.canonicalBytes())) == [])
    }

    @Test func everyTamperingIsNamed() throws {
        let report = Self.sample()
        let stated = Self.stated(report).objectValue!
        func problems(_ change: (inout JSONObject) -> Void) -> [String] {
            var copy = stated
            change(&copy)
            return report.compare(stated: .object(copy))
        }
        func figures(_ change: @escaping (inout [JSONValue]) -> Void) -> (inout JSONObject) -> Void {
            { object in
                var rows = object["figures"]!.arrayValue!
                change(&rows)
                object["figures"] = .array(rows)
            }
        }
        func row(_ rows: [JSONValue], tier: String, outcome: String, period: String) -> Int {
            rows.firstIndex { $0["tier"]?.stringValue == tier && $0["outcome"]?.stringValue == outcome && $0["period"]?.stringValue == period }!
        }

        // A tampered count names the figure, both numbers.
        let tampered = problems(figures { rows in
            let i = row(rows, tier: "free", outcome: "blocked", period: "2026-03-16")
            var fields = rows[i].objectValue!
            fields["count"] = 1
            rows[i] = .object(fields)
        })
        #expect(tampered == ["figure period 2026-03-16, tier free, kind edit.requested, outcome blocked, flags real_person_detected+nudity_requested: stated 1, recomputed 4"])
        // A figure left out of the report, and one added that the bundle lacks.
        let dropped = problems(figures { rows in rows.remove(at: row(rows, tier: "pro", outcome: "allowed", period: "2026-03-16")) })
        #expect(dropped.count == 1 && dropped[0].contains("tier pro") && dropped[0].contains("missing from the report"))
        let invented = problems(figures { rows in
            rows.append(["period": "2026-03-23", "tier": "plus", "kind": "edit.requested", "outcome": "allowed", "flags": "none", "erased": false, "count": 2])
        })
        #expect(invented.count == 1 && invented[0].contains("tier plus") && invented[0].contains("recomputed 0"))
        // The same figure twice.
        let doubled = problems(figures { rows in rows.append(rows[0]) })
        #expect(doubled.contains { $0.contains("stated twice") })
        // A member added to or removed from a row, or from the report.
        let extraMember = problems(figures { rows in
            var fields = rows[0].objectValue!
            fields["note"] = "trust me"
            rows[0] = .object(fields)
        })
        #expect(extraMember.contains { $0.contains("figures[0]") && $0.contains("unknown member \"note\"") })
        let lostMember = problems(figures { rows in
            var fields = rows[0].objectValue!
            fields["flags"] = nil
            rows[0] = .object(fields)
        })
        #expect(lostMember.contains { $0.contains("figures[0]") && $0.contains("no member \"flags\"") })
        #expect(problems { $0["summary"] = "all fine" }.contains("the report has an unknown member \"summary\""))
        #expect(problems { $0["tier_changes"] = nil }.contains { $0.contains("no member \"tier_changes\"") })
        // Counts that are not positive integers, the total, tier changes and features.
        #expect(!problems(figures { rows in
            var fields = rows[0].objectValue!
            fields["count"] = 2.5
            rows[0] = .object(fields)
        }).isEmpty)
        #expect(problems { $0["event_count"] = 16 } == ["event_count: stated 16, recomputed 17"])
        #expect(problems { $0["tier_changes"] = [] }.count == 2)
        #expect(problems { $0["tier_features"] = [["period": "2026-03-16", "tier": "pro", "features": ["image.edit"]]] }.contains {
            $0.contains("features of tier pro") && $0.contains("recomputed [image.edit, image.edit.real_person]")
        })
        // Another definition of the figures.
        #expect(problems { $0["period"] = "month" }.contains { $0.hasPrefix("period:") })
        #expect(problems { $0["time_basis"] = "recorded" }.contains { $0.hasPrefix("time_basis:") })
        #expect(report.compare(stated: "not a report") == ["the report is not a JSON object"])
        #expect(throws: TierReport.ReportFormatError.self) { try TierReport(recomputing: ["format": "greffe-tier-report/v0"]) }
    }

    @Test func aBundleMissingOneEventIsNamed() {
        let stated = Self.stated(Self.sample())
        // Drop the last pro edit after the paywall.
        var events = Self.events
        events.remove(at: events.lastIndex { $0.2?["subscription_tier"]?.stringValue == "pro" }!)
        #expect(
            Self.sample(events).compare(stated: stated) == [
                "event_count: stated 17, recomputed 16",
                "figure period 2026-03-16, tier pro, kind edit.requested, outcome allowed, flags real_person_detected+nudity_requested: stated 3, recomputed 2",
            ])
    }
}
