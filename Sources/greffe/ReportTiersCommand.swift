import ArgumentParser
import Foundation
import GreffeCore
import GreffeServer
import GreffeVerify

/// `greffe report tiers`: the tier report from the data directory (the operator's view).
struct ReportTiersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tiers",
        abstract: "Per period, subscription tier, event kind, decision outcome and flag combination: the number of events; and the tier changes.",
        discussion: """
            Reads the data directory directly (the operator's view). Investigators use GET /v1/reports/tiers, which is
            recorded in the log as access.granted. Counts the events within the latest checkpoint, and names the bundle
            query (POST /v1/bundles) whose bundle holds exactly them: greffe verify --report REPORT.json BUNDLE recomputes
            every figure from it. Save the report with --format json for that.
            """
    )

    @OptionGroup var storeOptions: StoreOptions

    @Option(name: .long, help: "day, week (from Monday) or month, in UTC.")
    var period: String = "month"

    @Option(name: .long, help: "occurred: periods by the platform's occurred_at (erased events by Greffe's clock); recorded: by Greffe's clock.")
    var time: String = "occurred"

    @Option(name: .long, help: "Only events Greffe recorded at or after this time (RFC 3339).")
    var from: String?

    @Option(name: .long, help: "Only events Greffe recorded before this time (RFC 3339).")
    var to: String?

    @Option(name: .long, help: "text or json.")
    var format: String = "text"

    func options() throws -> TierReportScan.Options {
        var options = TierReportScan.Options()
        guard let period = TierReport.Period(rawValue: period) else { throw ValidationError("--period must be day, week or month") }
        guard let basis = TierReport.TimeBasis(rawValue: time) else { throw ValidationError("--time must be occurred or recorded") }
        options.period = period
        options.timeBasis = basis
        if let from {
            guard let value = RFC3339Time.milliseconds(from) else { throw ValidationError("--from must be an RFC 3339 time such as 2026-03-01T00:00:00Z") }
            options.recordedFrom = value
        }
        if let to {
            guard let value = RFC3339Time.milliseconds(to) else { throw ValidationError("--to must be an RFC 3339 time such as 2026-04-01T00:00:00Z") }
            options.recordedTo = value
        }
        if let lower = options.recordedFrom, let upper = options.recordedTo, lower > upper { throw ValidationError("--from is after --to") }
        return options
    }

    func validate() throws {
        guard ["text", "json"].contains(format) else { throw ValidationError("--format must be text or json") }
        _ = try options()
    }

    func run() async throws {
        let store = try await storeOptions.openStore()
        guard let checkpoint = try await store.latestCheckpoint() else { throw CommandFailure("the ledger has no signed checkpoint yet") }
        let (report, json) = try await TierReportScan.run(store: store, treeSize: checkpoint.size, options: try options())
        if format == "json" {
            print(String(decoding: json.canonicalBytes(), as: UTF8.self))
            return
        }
        print(Self.text(report, json: json))
    }

    /// The report as a person reads it: figures by period, then tier changes, then what each tier unlocked, a change marked.
    static func text(_ report: TierReport, json: JSONValue) -> String {
        func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0) }
        var lines: [String] = []
        let query = String(decoding: (json["bundle_query"] ?? .null).canonicalBytes(), as: UTF8.self)
        lines.append("\(report.eventCount) event(s), periods of one \(report.period.rawValue) by \(report.timeBasis == .occurred ? "the platform's occurred_at" : "Greffe's clock") (UTC)")
        lines.append("Evidence: POST /v1/bundles \(query); check with greffe verify --report")
        lines.append("Tiers: \(TierReport.tierSource)")
        lines.append("")
        lines.append([pad("period", 11), pad("tier", 12), pad("kind", 26), pad("outcome", 18), pad("flags", 50), "count"].joined(separator: " "))
        for key in report.figures.keys.sorted() {
            lines.append(
                [
                    pad(key.period, 11), pad(key.erased ? "(erased)" : key.tier ?? "—", 12), pad(key.kind, 26), pad(key.outcome ?? "—", 18),
                    pad(key.flags ?? "—", 50), String(report.figures[key]!),
                ].joined(separator: " "))
        }
        lines.append("")
        lines.append("Tier changes")
        for key in report.tierChanges.keys.sorted() {
            let move = key.previousTier.map { "\($0) → \(key.tier ?? "—")" } ?? (key.tier ?? "—")
            lines.append([pad(key.period, 11), pad(key.kind, 30), pad(move, 24), String(report.tierChanges[key]!)].joined(separator: " "))
        }
        lines.append("")
        lines.append("What each tier was said to unlock (← where it changed)")
        var previous: [String: Set<String>] = [:]
        for key in report.tierFeatures.keys.sorted() {
            let features = report.tierFeatures[key]!
            let changed = previous[key.tier].map { $0 != features } ?? false
            previous[key.tier] = features
            lines.append(pad(key.period, 11) + " " + pad(key.tier, 12) + " " + features.sorted().joined(separator: ", ") + (changed ? "   ← changed" : ""))
        }
        return lines.joined(separator: "\n")
    }
}
