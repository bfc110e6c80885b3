import Foundation
public import GreffeCore
import GreffeHTTP
import GreffeLedger
public import GreffeStore
public import GreffeVerify
import Hummingbird

/// `GET /v1/reports/tiers`: what each subscription tier did, per period, with
/// the bundle query that backs every figure (`TierReport`).
extension LedgerAPI {
    static let tierReportParameters = ["period", "time", "from", "to"]

    func tierReport(_ request: Request) async throws -> Response {
        let token = try await authorize(request, role: .investigate)
        let parameters = request.uri.queryParameters
        // Refused rather than ignored: a misspelt parameter would otherwise change the report silently.
        if let unknown = parameters.first(where: { !LedgerAPI.tierReportParameters.contains(String($0.key)) }) {
            throw APIError.badRequest(
                "unknown query parameter \"\(unknown.key.prefix(40))\"; known: \(LedgerAPI.tierReportParameters.joined(separator: ", "))")
        }
        var options = TierReportScan.Options()
        var recorded: JSONObject = [:]
        if let text = parameters.get("period") {
            guard let period = TierReport.Period(rawValue: text) else { throw APIError.badRequest("period must be day, week or month") }
            options.period = period
        }
        recorded["period"] = .string(options.period.rawValue)
        if let text = parameters.get("time") {
            guard let basis = TierReport.TimeBasis(rawValue: text) else {
                throw APIError.badRequest("time must be occurred (the platform's occurred_at) or recorded (Greffe's clock)")
            }
            options.timeBasis = basis
        }
        recorded["time"] = .string(options.timeBasis.rawValue)
        options.recordedFrom = try parameters.get("from").map { try LedgerAPI.time($0, name: "from") }
        options.recordedTo = try parameters.get("to").map { try LedgerAPI.time($0, name: "to") }
        if let from = options.recordedFrom { recorded["from"] = .string(RFC3339Time.format(from)) }
        if let to = options.recordedTo { recorded["to"] = .string(RFC3339Time.format(to)) }
        if let from = options.recordedFrom, let to = options.recordedTo, from > to { throw APIError.badRequest("from is after to") }

        // Within the latest checkpoint, so that the named bundle query proves every event counted.
        guard let checkpoint = ledger.latestCheckpoint else { throw APIError(.serviceUnavailable, "no checkpoint has been signed yet") }
        let (report, answer) = try await mapLedgerErrors {
            try await TierReportScan.run(store: ledger.store, treeSize: checkpoint.size, options: options)
        }
        // The chain of custody is written before any figure leaves.
        try await mapLedgerErrors {
            _ = try await recordAccess(token: token, action: "tier_report", query: .object(recorded), resultCount: report.eventCount)
        }
        return JSONResponses.json(answer)
    }
}

/// The tier report over a store: the events of a recorded-time range, read
/// one at a time in index order (memory bounded by the number of figures).
/// Shared by the server and `greffe report tiers`.
public enum TierReportScan {
    public struct Options: Sendable {
        public var period = TierReport.Period.month
        public var timeBasis = TierReport.TimeBasis.occurred
        /// Greffe's clock (Unix ms), `to` exclusive; nil: from the first entry, to the tree's end.
        public var recordedFrom: UInt64?
        public var recordedTo: UInt64?

        public init() {}
    }

    /// The report over the first `treeSize` entries within the options' range, and its JSON form.
    public static func run(store: any LedgerStore, treeSize: UInt64, options: Options) async throws -> (TierReport, JSONValue) {
        var range: Range<UInt64> = 0..<treeSize
        if options.recordedFrom != nil || options.recordedTo != nil {
            range = try await Ledger.indexRange(
                store: store, size: treeSize, recordedFrom: options.recordedFrom ?? 0, to: options.recordedTo ?? UInt64(1) << 62)
        }
        var report = TierReport(period: options.period, timeBasis: options.timeBasis)
        for index in range {
            guard let event = try await store.readEvent(index: index) else {
                throw StoreError(.inconsistent, "entry \(index) is within the tree but its event is missing from the store")
            }
            let entry = try LedgerEntry(decoding: event.entry)
            let body = try event.canonicalBody.map { try JSONParser.parse($0, limits: JSONLimits(maxDepth: 128, maxBytes: Int.max)) }
            report.add(kind: entry.kind, sequencedAtMilliseconds: entry.sequencedAtMilliseconds, body: body)
        }
        var scope: JSONObject = [
            "index_range": ["from": .number(Double(range.lowerBound)), "to": .number(Double(range.upperBound))],
            "tree_size": .number(Double(treeSize)),
        ]
        if let from = options.recordedFrom { scope["recorded_from"] = .string(RFC3339Time.format(from)) }
        if let to = options.recordedTo { scope["recorded_to"] = .string(RFC3339Time.format(to)) }
        // An index range, not the recorded range: the bundle of a later request holds exactly these events.
        let query: JSONValue = ["index_range": ["from": .number(Double(range.lowerBound)), "to": .number(Double(range.upperBound))]]
        return (report, report.json(scope: .object(scope), bundleQuery: query))
    }
}
