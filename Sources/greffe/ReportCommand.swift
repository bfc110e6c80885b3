import ArgumentParser
import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Reports over the ledger's data.",
        subcommands: [Takedowns.self, ReportTiersCommand.self, ReportStatementsOfReasonsCommand.self]
    )

    struct Takedowns: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "For each report.received, when (and whether) a takedown.executed of the same content or report followed, against a deadline.",
            discussion: """
                Reads the data directory directly (the operator's view). Investigators use GET /v1/reports/takedowns,
                which is recorded in the log as access.granted. Each line names the entry indices whose inclusion
                proofs back it.
                """
        )

        @OptionGroup var storeOptions: StoreOptions

        @Option(name: .long, help: "The deadline in hours.")
        var deadlineHours: Int = 48

        @Option(name: .long, help: "text or json.")
        var format: String = "text"

        func validate() throws {
            guard (1...8760).contains(deadlineHours) else { throw ValidationError("--deadline-hours must be between 1 and 8760") }
            guard ["text", "json"].contains(format) else { throw ValidationError("--format must be text or json") }
        }

        func run() async throws {
            let store = try await storeOptions.openStore()
            let size = try await store.treeSize()
            let links = try await store.takedownLinks().filter { $0.reportIndex < size }
            let lines = TakedownLine.lines(
                for: links, deadline: .seconds(deadlineHours * 3600), now: UInt64(Date().timeIntervalSince1970 * 1000))
            if format == "json" {
                print(String(decoding: JSONValue.array(lines.map(LedgerAPI.takedownJSON)).canonicalBytes(), as: UTF8.self))
                return
            }
            print("report entry  report id            reported at                takedown entry  delay        status (deadline \(deadlineHours) h)")
            for line in lines {
                let delay = line.delayMilliseconds.map { String(format: "%.1f h", Double($0) / 3_600_000) } ?? "—"
                print(
                    [
                        String(line.link.reportIndex).padding(toLength: 13, withPad: " ", startingAt: 0),
                        (line.link.reportID ?? "—").padding(toLength: 20, withPad: " ", startingAt: 0),
                        RFC3339Time.format(line.link.reportedAtMilliseconds).padding(toLength: 26, withPad: " ", startingAt: 0),
                        (line.link.takedownIndex.map(String.init) ?? "—").padding(toLength: 15, withPad: " ", startingAt: 0),
                        delay.padding(toLength: 12, withPad: " ", startingAt: 0),
                        line.status.rawValue,
                    ].joined(separator: " "))
            }
            let late = lines.filter { $0.status == .late || $0.status == .overdue }.count
            print("\(lines.count) report(s); \(late) past the deadline")
        }
    }
}
