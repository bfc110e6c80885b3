import ArgumentParser
import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeVerify

/// `greffe report dsa-sor`: moderation decisions and takedowns as DSA statements of reasons (`StatementOfReasons`).
struct ReportStatementsOfReasonsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dsa-sor",
        abstract: "A platform's moderation.decision and takedown.executed events as statements of reasons for the DSA Transparency Database.",
        discussion: """
            Reads the data directory directly (the operator's view), the entries within the latest checkpoint. Prints one JSON
            object: "statements", each valid against Schemas/dsa-sor.schema.json and ready for the Database's API
            (POST /api/v1/statements takes {"statements": [...]}), its puid naming the ledger entry it comes from
            (greffe-<index>-<leaf hash hex>, also listed in "ledger_entries"); and "not_exported": the events that are no
            statement (no_action, a takedown carrying out a decision already stated, an erased body) or lack fields the
            statement needs, with the statement_of_reasons members to add (Schemas/events/README.md).
            """
    )

    @OptionGroup var storeOptions: StoreOptions

    @Option(name: .long, help: "The platform whose statements to export (the events' platform member); the Database takes each platform's statements under its own token.")
    var platform: String

    @Option(name: .long, help: "Only events Greffe recorded at or after this time (RFC 3339).")
    var from: String?

    @Option(name: .long, help: "Only events Greffe recorded before this time (RFC 3339).")
    var to: String?

    func validate() throws {
        guard !platform.isEmpty, platform.utf8.count <= 200 else { throw ValidationError("--platform must be 1 to 200 characters") }
        if let from, RFC3339Time.milliseconds(from) == nil { throw ValidationError("--from must be an RFC 3339 time such as 2026-03-01T00:00:00Z") }
        if let to, RFC3339Time.milliseconds(to) == nil { throw ValidationError("--to must be an RFC 3339 time such as 2026-04-01T00:00:00Z") }
    }

    func run() async throws {
        let store = try await storeOptions.openStore()
        guard let checkpoint = try await store.latestCheckpoint() else { throw CommandFailure("the ledger has no signed checkpoint yet") }
        var range: Range<UInt64> = 0..<checkpoint.size
        if from != nil || to != nil {
            range = try await Ledger.indexRange(
                store: store, size: checkpoint.size, recordedFrom: from.flatMap(RFC3339Time.milliseconds) ?? 0,
                to: to.flatMap(RFC3339Time.milliseconds) ?? UInt64(1) << 62)
        }
        // Reports are remembered from the start of the log, so that a decision in range finds the report it answers.
        var reports: [String: StatementOfReasons.ReportFacts] = [:]
        var decided: [String: UInt64] = [:]
        var statements: [JSONValue] = []
        var entries: [JSONValue] = []
        var notExported: [JSONValue] = []
        for index in 0..<range.upperBound {
            guard let event = try await store.readEvent(index: index), ["report.received", "moderation.decision", "takedown.executed"].contains(event.kind)
            else { continue }
            let leafHash = MerkleHash.leaf(event.entry)
            func skip(_ reason: String, missing: [String] = []) {
                notExported.append([
                    "index": .number(Double(index)), "leaf_hash": .string(leafHash.base64), "event_id": .string(event.eventID), "kind": .string(event.kind),
                    "reason": .string(reason), "missing": .array(missing.map { .string("statement_of_reasons." + $0) }),
                ])
            }
            guard let canonical = event.canonicalBody, let body = try? JSONParser.parse(canonical) else {
                if range.contains(index) && event.kind != "report.received" && event.platform == platform { skip("the body was erased") }
                continue
            }
            guard body["platform"]?.stringValue == platform else { continue }
            let reportID = body["report_id"]?.stringValue
            if event.kind == "report.received" {
                if let reportID {
                    reports[reportID] = .init(reporterType: body["reporter_type"]?.stringValue, category: body["category"]?.stringValue)
                }
                continue
            }
            // A takedown that carries out a decision is the same decision: one statement, the decision's.
            if event.kind == "moderation.decision", let reportID, body["decision"]?.stringValue != "no_action" { decided[reportID] = index }
            guard range.contains(index) else { continue }
            if event.kind == "takedown.executed", let reportID, let decision = decided[reportID], body["statement_of_reasons"] == nil {
                skip("carries out the moderation.decision at index \(decision), whose statement covers it")
                continue
            }
            switch StatementOfReasons.make(kind: event.kind, body: body, index: index, leafHash: leafHash, report: reportID.flatMap { reports[$0] }) {
            case .statement(let statement):
                statements.append(statement)
                entries.append([
                    "puid": statement["puid"] ?? .null, "index": .number(Double(index)), "leaf_hash": .string(leafHash.base64),
                    "event_id": .string(event.eventID), "kind": .string(event.kind),
                ])
            case .notExported(let reason, let missing):
                skip(reason, missing: missing)
            }
        }
        let export: JSONValue = [
            "format": "greffe-dsa-sor-export/v1",
            "platform": .string(platform),
            "schema": "Schemas/dsa-sor.schema.json",
            "scope": ["index_range": ["from": .number(Double(range.lowerBound)), "to": .number(Double(range.upperBound))], "tree_size": .number(Double(checkpoint.size))],
            "statements": .array(statements),
            "ledger_entries": .array(entries),
            "not_exported": .array(notExported),
        ]
        print(String(decoding: export.canonicalBytes(), as: UTF8.self))
        FileHandle.standardError.write(Data("\(statements.count) statement(s) of reasons; \(notExported.count) event(s) not exported (see not_exported)\n".utf8))
    }
}
