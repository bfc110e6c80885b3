public import GreffeCore

/// What each subscription tier did, per period: the figures of
/// `GET /v1/reports/tiers` and `greffe report tiers`, and the same figures
/// recomputed from an evidence bundle by `greffe verify --report`.
///
/// An accumulator over events, in any order: the server feeds it the events of
/// an index range as it streams them from the store, the verifier the events
/// of a bundle as it checks them. Memory grows with the number of distinct
/// figures (periods × tiers × kinds × outcomes × flag combinations), never with
/// the number of events. No I/O.
///
/// Definitions (`tierSource`, `Schemas/events/`):
/// - tier: `subscription_tier` of the request and completion events (the tier
///   the platform states was in force for the account when it happened); `tier`
///   of `subscription.*` events; none for other kinds. Request events carry
///   their tier, so none is derived from earlier subscription events.
/// - outcome: `decision.outcome` of requests (allowed, blocked, modified), the
///   `decision` of `moderation.decision`, the `action` of `takedown.executed`.
/// - flags: the classifier flags set to true, in the order
///   real_person_detected, nudity_requested, minor_suspected, joined by `+`;
///   `none` when all are false (an absent `nudity_requested` is false); none
///   for events without `flags`.
/// - period: by the platform's `occurred_at` (`TimeBasis.occurred`) or by
///   Greffe's clock (`.recorded`), in UTC. An erased event has no body: it is
///   counted by kind in the period of its recorded time, marked erased.
public struct TierReport: Sendable {
    public static let format = "greffe-tier-report/v1"
    public static let tierSource =
        "subscription_tier of request and completion events as the platform sent them; tier of subscription.* events; none for other kinds"

    public enum Period: String, Sendable, CaseIterable {
        case day, week, month
    }

    public enum TimeBasis: String, Sendable, CaseIterable {
        /// The platform's `occurred_at`; erased events by Greffe's clock.
        case occurred
        /// Greffe's clock (`sequenced_at` of the entry): what no platform can backdate.
        case recorded
    }

    /// One figure's coordinates.
    public struct FigureKey: Sendable, Hashable, Comparable {
        public var period: String
        public var tier: String?
        public var kind: String
        public var outcome: String?
        public var flags: String?
        public var erased: Bool

        public init(period: String, tier: String?, kind: String, outcome: String?, flags: String?, erased: Bool) {
            (self.period, self.tier, self.kind, self.outcome, self.flags, self.erased) = (period, tier, kind, outcome, flags, erased)
        }

        public static func < (a: Self, b: Self) -> Bool {
            (a.period, a.tier ?? "", a.kind, a.outcome ?? "", a.flags ?? "", a.erased ? 1 : 0)
                < (b.period, b.tier ?? "", b.kind, b.outcome ?? "", b.flags ?? "", b.erased ? 1 : 0)
        }

        var description: String {
            "period \(period), tier \(tier ?? "none"), kind \(kind), outcome \(outcome ?? "none"), flags \(flags ?? "none")" + (erased ? ", erased" : "")
        }
    }

    /// One kind of tier change: a subscription event's kind and tiers.
    public struct ChangeKey: Sendable, Hashable, Comparable {
        public var period: String
        public var kind: String
        public var previousTier: String?
        public var tier: String?

        public init(period: String, kind: String, previousTier: String?, tier: String?) {
            (self.period, self.kind, self.previousTier, self.tier) = (period, kind, previousTier, tier)
        }

        public static func < (a: Self, b: Self) -> Bool {
            (a.period, a.kind, a.previousTier ?? "", a.tier ?? "") < (b.period, b.kind, b.previousTier ?? "", b.tier ?? "")
        }

        var description: String {
            "period \(period), kind \(kind), previous tier \(previousTier ?? "none"), tier \(tier ?? "none")"
        }
    }

    public struct FeatureKey: Sendable, Hashable, Comparable {
        public var period: String
        public var tier: String

        public init(period: String, tier: String) {
            (self.period, self.tier) = (period, tier)
        }

        public static func < (a: Self, b: Self) -> Bool { (a.period, a.tier) < (b.period, b.tier) }
    }

    public let period: Period
    public let timeBasis: TimeBasis
    public private(set) var eventCount = 0
    public private(set) var figures: [FigureKey: Int] = [:]
    /// Subscription events per period: started, changed (from → to), renewed, cancelled, payment failed.
    public private(set) var tierChanges: [ChangeKey: Int] = [:]
    /// The features subscription events said each tier unlocks, per period: where a paywall shows.
    public private(set) var tierFeatures: [FeatureKey: Set<String>] = [:]

    public init(period: Period, timeBasis: TimeBasis) {
        self.period = period
        self.timeBasis = timeBasis
    }

    /// Counts one event. `body` is nil for an erased event.
    public mutating func add(kind: String, sequencedAtMilliseconds: UInt64, body: JSONValue?) {
        eventCount += 1
        guard let body else {
            let key = FigureKey(
                period: Self.label(sequencedAtMilliseconds, period), tier: nil, kind: kind, outcome: nil, flags: nil, erased: true)
            figures[key, default: 0] += 1
            return
        }
        var time = sequencedAtMilliseconds
        if timeBasis == .occurred, let text = body["occurred_at"]?.stringValue, let occurred = RFC3339Time.milliseconds(text) {
            time = occurred
        }
        let periodLabel = Self.label(time, period)
        let isSubscription = kind.hasPrefix("subscription.")
        let tier = body["subscription_tier"]?.stringValue ?? (isSubscription ? body["tier"]?.stringValue : nil)
        var outcome: String?
        if let decision = body["decision"] {
            outcome = decision["outcome"]?.stringValue ?? decision.stringValue
        } else if kind == "takedown.executed" {
            outcome = body["action"]?.stringValue
        }
        let key = FigureKey(period: periodLabel, tier: tier, kind: kind, outcome: outcome, flags: Self.flags(body["flags"]), erased: false)
        figures[key, default: 0] += 1
        guard isSubscription else { return }
        tierChanges[ChangeKey(period: periodLabel, kind: kind, previousTier: body["previous_tier"]?.stringValue, tier: tier), default: 0] += 1
        if let tier, let features = body["features"]?.arrayValue {
            tierFeatures[FeatureKey(period: periodLabel, tier: tier), default: []].formUnion(features.compactMap(\.stringValue))
        }
    }

    static let flagNames = ["real_person_detected", "nudity_requested", "minor_suspected"]

    static func flags(_ value: JSONValue?) -> String? {
        guard let object = value?.objectValue else { return nil }
        let set = flagNames.filter { object[$0]?.boolValue == true }
        return set.isEmpty ? "none" : set.joined(separator: "+")
    }

    // MARK: Periods (UTC)

    /// The period holding `milliseconds` (Unix time): `2026-03-14` (day), the
    /// Monday starting its ISO week (week), `2026-03` (month).
    public static func label(_ milliseconds: UInt64, _ period: Period) -> String {
        var days = Int64(milliseconds / 86_400_000)
        if period == .week {
            // 1970-01-01 was a Thursday: (days + 3) mod 7 is 0 on Mondays.
            days -= (days + 3) % 7
        }
        let (year, month, day) = RFC3339Time.civil(fromDays: Int(days))
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let prefix = "\(year)-\(two(month))"
        return period == .month ? prefix : prefix + "-" + two(day)
    }


    // MARK: JSON form

    static let members = ["format", "period", "time_basis", "tier_source", "scope", "bundle_query", "event_count", "figures", "tier_changes", "tier_features"]
    static let figureMembers = ["period", "tier", "kind", "outcome", "flags", "erased", "count"]
    static let changeMembers = ["period", "kind", "previous_tier", "tier", "count"]
    static let featureMembers = ["period", "tier", "features"]

    /// The report as JSON. `scope` says which events were counted (index and
    /// recorded ranges); `bundleQuery` is the `POST /v1/bundles` query whose
    /// bundle holds exactly those events.
    public func json(scope: JSONValue, bundleQuery: JSONValue) -> JSONValue {
        func optional(_ text: String?) -> JSONValue { text.map { .string($0) } ?? .null }
        let figureRows: [JSONValue] = figures.keys.sorted().map { key in
            .object(
                JSONObject([
                    ("period", .string(key.period)), ("tier", optional(key.tier)), ("kind", .string(key.kind)), ("outcome", optional(key.outcome)),
                    ("flags", optional(key.flags)), ("erased", .bool(key.erased)), ("count", .number(Double(figures[key]!))),
                ]))
        }
        let changeRows: [JSONValue] = tierChanges.keys.sorted().map { key in
            .object(
                JSONObject([
                    ("period", .string(key.period)), ("kind", .string(key.kind)), ("previous_tier", optional(key.previousTier)),
                    ("tier", optional(key.tier)), ("count", .number(Double(tierChanges[key]!))),
                ]))
        }
        let featureRows: [JSONValue] = tierFeatures.keys.sorted().map { key in
            .object(
                JSONObject([
                    ("period", .string(key.period)), ("tier", .string(key.tier)),
                    ("features", .array(tierFeatures[key]!.sorted().map { .string($0) })),
                ]))
        }
        return .object(
            JSONObject([
                ("format", .string(Self.format)), ("period", .string(period.rawValue)), ("time_basis", .string(timeBasis.rawValue)),
                ("tier_source", .string(Self.tierSource)), ("scope", scope), ("bundle_query", bundleQuery),
                ("event_count", .number(Double(eventCount))), ("figures", .array(figureRows)), ("tier_changes", .array(changeRows)),
                ("tier_features", .array(featureRows)),
            ]))
    }

    /// An empty accumulator with the period and time basis a stated report
    /// names, to recompute it; throws when they are missing or unknown.
    public init(recomputing stated: JSONValue) throws(ReportFormatError) {
        guard let object = stated.objectValue else { throw ReportFormatError("the report is not a JSON object") }
        guard object["format"]?.stringValue == Self.format else {
            throw ReportFormatError("the report's format is not \(Self.format) (a report of GET /v1/reports/tiers or greffe report tiers --format json)")
        }
        guard let period = object["period"]?.stringValue.flatMap(Period.init(rawValue:)) else {
            throw ReportFormatError("the report's period must be one of \(Period.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let basis = object["time_basis"]?.stringValue.flatMap(TimeBasis.init(rawValue:)) else {
            throw ReportFormatError("the report's time_basis must be one of \(TimeBasis.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.init(period: period, timeBasis: basis)
    }

    public struct ReportFormatError: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: Comparison

    /// Every difference between a stated report and these figures, one
    /// sentence each; empty when every figure matches. Members and rows are
    /// matched by name and coordinates, so their order does not matter; a
    /// member added or missing, a row repeated or malformed, a figure missing
    /// on either side or with another count is a difference. `scope` and
    /// `bundle_query` are checked for shape only: the caller checks that the
    /// bundle answers that query.
    public func compare(stated: JSONValue) -> [String] {
        var problems: [String] = []
        guard let object = stated.objectValue else { return ["the report is not a JSON object"] }
        for key in object.keys where !Self.members.contains(key) { problems.append("the report has an unknown member \"\(key.prefix(60))\"") }
        for key in Self.members where object[key] == nil { problems.append("the report has no member \"\(key)\"") }
        if object["format"]?.stringValue != Self.format { problems.append("format: stated \(Self.describe(object["format"])), expected \(Self.format)") }
        if object["period"]?.stringValue != period.rawValue { problems.append("period: stated \(Self.describe(object["period"])), recomputed with \(period.rawValue)") }
        if object["time_basis"]?.stringValue != timeBasis.rawValue {
            problems.append("time_basis: stated \(Self.describe(object["time_basis"])), recomputed with \(timeBasis.rawValue)")
        }
        if let source = object["tier_source"], source.stringValue != Self.tierSource {
            problems.append("tier_source: stated \(Self.describe(source)), which is not how this verifier derives tiers (\(Self.tierSource))")
        }
        if let scope = object["scope"], scope.objectValue == nil { problems.append("scope: not an object") }
        if let query = object["bundle_query"], query.objectValue == nil { problems.append("bundle_query: not an object") }
        if let count = object["event_count"] {
            if let stated = Self.count(count) {
                if stated != eventCount { problems.append("event_count: stated \(stated), recomputed \(eventCount)") }
            } else {
                problems.append("event_count: stated \(Self.describe(count)), not a non-negative integer")
            }
        }

        // Figures.
        var statedFigures: [FigureKey: Int] = [:]
        for (position, row) in (object["figures"]?.arrayValue ?? []).enumerated() {
            let here = "figures[\(position)]"
            guard let fields = Self.row(row, Self.figureMembers, here, &problems) else { continue }
            guard let period = fields["period"]?.stringValue, let kind = fields["kind"]?.stringValue, let erased = fields["erased"]?.boolValue,
                let tier = Self.optionalString(fields["tier"]), let outcome = Self.optionalString(fields["outcome"]),
                let flags = Self.optionalString(fields["flags"]), let count = Self.count(fields["count"]!), count > 0
            else {
                problems.append("\(here): period and kind must be strings, tier, outcome and flags strings or null, erased a Boolean, count a positive integer")
                continue
            }
            let key = FigureKey(period: period, tier: tier, kind: kind, outcome: outcome, flags: flags, erased: erased)
            if statedFigures[key] != nil {
                problems.append("\(here): the figure \(key.description) is stated twice")
                continue
            }
            statedFigures[key] = count
        }
        if object["figures"] != nil && object["figures"]?.arrayValue == nil { problems.append("figures: not an array") }
        for key in Set(statedFigures.keys).union(figures.keys).sorted() {
            switch (statedFigures[key], figures[key]) {
            case let (stated?, recomputed?) where stated != recomputed:
                problems.append("figure \(key.description): stated \(stated), recomputed \(recomputed)")
            case let (stated?, nil):
                problems.append("figure \(key.description): stated \(stated), but no such event in the bundle (recomputed 0)")
            case let (nil, recomputed?):
                problems.append("figure \(key.description): recomputed \(recomputed), missing from the report")
            default: break
            }
        }

        // Tier changes.
        var statedChanges: [ChangeKey: Int] = [:]
        for (position, row) in (object["tier_changes"]?.arrayValue ?? []).enumerated() {
            let here = "tier_changes[\(position)]"
            guard let fields = Self.row(row, Self.changeMembers, here, &problems) else { continue }
            guard let period = fields["period"]?.stringValue, let kind = fields["kind"]?.stringValue,
                let previous = Self.optionalString(fields["previous_tier"]), let tier = Self.optionalString(fields["tier"]),
                let count = Self.count(fields["count"]!), count > 0
            else {
                problems.append("\(here): period and kind must be strings, previous_tier and tier strings or null, count a positive integer")
                continue
            }
            let key = ChangeKey(period: period, kind: kind, previousTier: previous, tier: tier)
            if statedChanges[key] != nil {
                problems.append("\(here): the tier change \(key.description) is stated twice")
                continue
            }
            statedChanges[key] = count
        }
        if object["tier_changes"] != nil && object["tier_changes"]?.arrayValue == nil { problems.append("tier_changes: not an array") }
        for key in Set(statedChanges.keys).union(tierChanges.keys).sorted() {
            let (stated, recomputed) = (statedChanges[key] ?? 0, tierChanges[key] ?? 0)
            if stated != recomputed { problems.append("tier change \(key.description): stated \(stated), recomputed \(recomputed)") }
        }

        // Features per tier.
        var statedFeatures: [FeatureKey: Set<String>] = [:]
        for (position, row) in (object["tier_features"]?.arrayValue ?? []).enumerated() {
            let here = "tier_features[\(position)]"
            guard let fields = Self.row(row, Self.featureMembers, here, &problems) else { continue }
            guard let period = fields["period"]?.stringValue, let tier = fields["tier"]?.stringValue, let list = fields["features"]?.arrayValue,
                list.allSatisfy({ $0.stringValue != nil })
            else {
                problems.append("\(here): period and tier must be strings, features an array of strings")
                continue
            }
            let key = FeatureKey(period: period, tier: tier)
            if statedFeatures[key] != nil {
                problems.append("\(here): the features of tier \(tier) in period \(period) are stated twice")
                continue
            }
            statedFeatures[key] = Set(list.compactMap(\.stringValue))
        }
        if object["tier_features"] != nil && object["tier_features"]?.arrayValue == nil { problems.append("tier_features: not an array") }
        for key in Set(statedFeatures.keys).union(tierFeatures.keys).sorted() {
            let (stated, recomputed) = (statedFeatures[key] ?? [], tierFeatures[key] ?? [])
            if stated != recomputed {
                problems.append(
                    "features of tier \(key.tier) in period \(key.period): stated [\(stated.sorted().joined(separator: ", "))], recomputed [\(recomputed.sorted().joined(separator: ", "))]"
                )
            }
        }
        return problems
    }

    /// A row's members when it has exactly `members`; otherwise the problem is noted.
    static func row(_ row: JSONValue, _ members: [String], _ here: String, _ problems: inout [String]) -> JSONObject? {
        guard let fields = row.objectValue else {
            problems.append("\(here): not an object")
            return nil
        }
        let unknown = fields.keys.filter { !members.contains($0) }
        let missing = members.filter { fields[$0] == nil }
        guard unknown.isEmpty && missing.isEmpty else {
            problems.append(
                "\(here): " + (unknown.map { "unknown member \"\($0.prefix(60))\"" } + missing.map { "no member \"\($0)\"" }).joined(separator: ", "))
            return nil
        }
        return fields
    }

    /// `.some(nil)` for null, `.some(text)` for a string, nil otherwise.
    static func optionalString(_ value: JSONValue?) -> String?? {
        guard let value else { return nil }
        if value.isNull { return .some(nil) }
        return value.stringValue.map { .some($0) }
    }

    static func count(_ value: JSONValue) -> Int? {
        guard let n = value.intValue, n >= 0 else { return nil }
        return n
    }

    static func describe(_ value: JSONValue?) -> String {
        guard let value else { return "nothing" }
        return String(String(decoding: value.canonicalBytes(), as: UTF8.self).prefix(80))
    }
}
