import Foundation
import GreffeCore

/// `relay`: what `greffe relay` costs a producer. The same wrk load (random
/// UUID-like IDs and image hashes, single events and batches of 100, several
/// client counts) goes straight to a ledger and through a relay in front of
/// it, in the same run: events/s and the producer's latency to an answer
/// (the ledger's durable ack, or the relay's fsync), then how long the relay
/// takes to hand everything over with verified receipts, and its memory.
struct RelayBenchmark: Benchmark {
    let name = "relay"
    let summary = "events/s and producer latency through greffe relay vs straight to the ledger (wrk, same run), drain to verified receipts, relay RSS"

    func run(_ context: BenchContext) async throws -> [BenchRow] {
        guard BenchContext.onPath("wrk") else {
            return [BenchRow("relay", 0, "events/s", note: "skipped: wrk is not installed (apt-get install wrk; ops/bench.sh does it)")]
        }
        let ledger = try BenchServer.start(context, name: "relay")
        defer { ledger.stop() }
        let relay = try BenchRelayProcess.start(context, ledger: ledger)
        defer { relay.stop() }
        var rows: [BenchRow] = []
        for (batch, clients) in [(1, 1), (1, 8), (1, 32), (100, 8)] {
            let label = batch == 1 ? "single events, \(clients) client\(clients == 1 ? "" : "s")" : "\(batch)/request, \(clients) clients"
            var environment = ["GREFFE_TOKEN": ledger.appendToken, "GREFFE_BATCH": "\(batch)", "GREFFE_KEYS": "random"]
            context.say("relay: \(label), straight to the ledger")
            environment["GREFFE_RUN"] = "d\(batch)c\(clients)p\(getpid())"
            let direct = try WrkResult.run(context, script: "append.lua", connections: clients, url: ledger.url, environment: environment)
            // The relay hands the ledger what it queued while the next run measures: let it drain first.
            _ = try relay.waitUntilDrained(timeout: 600)
            context.say("relay: \(label), through the relay")
            environment["GREFFE_RUN"] = "r\(batch)c\(clients)p\(getpid())"
            let started = Date()
            let through = try WrkResult.run(context, script: "append.lua", connections: clients, url: relay.url, environment: environment)
            let loadSeconds = Date().timeIntervalSince(started)
            let drained = try relay.waitUntilDrained(timeout: 600)
            let drainSeconds = Date().timeIntervalSince(started)
            let rate = "events acknowledged/s (append.lua counts events, not requests)"
            rows.append(
                BenchRow(
                    "relay: \(label): acknowledged by the relay (fsync)", through.rate, "events/s",
                    reference: "straight to the ledger", referenceValue: direct.rate,
                    note: "\(rate); producer p50 \(f(through.p50Milliseconds)) / p99 \(f(through.p99Milliseconds)) ms vs ledger \(f(direct.p50Milliseconds)) / \(f(direct.p99Milliseconds)) ms"))
            rows.append(
                BenchRow(
                    "relay: \(label): producer p99 latency through the relay", through.p99Milliseconds, "ms",
                    reference: "straight to the ledger", referenceValue: direct.p99Milliseconds,
                    note: "the relay answers after its own fsync; the ledger after its durable append"))
            rows.append(
                BenchRow(
                    "relay: \(label): drained with verified receipts", Double(relay.receipted() - relay.receiptedBefore) / drainSeconds, "events/s",
                    reference: "acknowledged by the relay", referenceValue: through.rate,
                    note: drained
                        ? "load \(String(format: "%.1f", loadSeconds)) s, queue empty with every receipt verified \(String(format: "%.1f", drainSeconds - loadSeconds)) s after"
                        : "NOT drained \(String(format: "%.0f", drainSeconds - loadSeconds)) s after the load"))
            relay.receiptedBefore = relay.receipted()
        }
        let rss = relay.peakResidentBytes()
        rows.append(
            BenchRow(
                "relay: peak resident memory", Double(rss) / 1_048_576, "MiB", reference: "ledger (greffe serve)",
                referenceValue: Double(BenchRelayProcess.peakResidentBytes(pid: ledger.process.processIdentifier)) / 1_048_576,
                note: "VmHWM of each process after the whole run"))
        return rows
    }

    private func f(_ value: Double) -> String { String(format: "%.2f", value) }
}

/// A `greffe relay` child in front of a bench ledger.
final class BenchRelayProcess: @unchecked Sendable {
    let process: Process
    let url: String
    var receiptedBefore = 0

    init(process: Process, url: String) {
        self.process = process
        self.url = url
    }

    static func start(_ context: BenchContext, ledger: BenchServer) throws -> BenchRelayProcess {
        let directory = context.scratch.appendingPathComponent("relay")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let tokenFile = directory.appendingPathComponent("token")
        try Data(ledger.appendToken.utf8).write(to: tokenFile)
        let executable = ChildRun.greffeExecutable
        let port = 20_000 + Int((getpid() + 7_919) % 20_000)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "relay", "--data", directory.appendingPathComponent("queue").path, "--ledger", ledger.url, "--token-file", tokenFile.path,
            "--vkey", ledger.data.appendingPathComponent("verifier.vkey").path, "--platform", "bench.example",
            "--listen", "127.0.0.1:\(port)", "--log-level", "error",
        ]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let relay = BenchRelayProcess(process: process, url: "http://127.0.0.1:\(port)")
        try BenchServer.waitUntilHealthy(process: process, url: relay.url, name: "greffe relay")
        return relay
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }

    private func status() throws -> JSONValue {
        try JSONParser.parse(Array(try BenchContext.capture(["curl", "-sf", "\(url)/v1/relay/status"]).utf8))
    }

    func receipted() -> Int { (try? status()["receipted"]?.intValue) ?? 0 }

    /// Until nothing is queued (false: not within `timeout`); an alarm or a refusal makes the figures void.
    func waitUntilDrained(timeout: Double) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let state = try status()
            if let alarms = state["alarms"]?.arrayValue, !alarms.isEmpty { throw BenchFailure("bench: the relay raised an alarm: \(alarms)") }
            if let refused = state["refused"]?.intValue, refused > 0 { throw BenchFailure("bench: the ledger refused \(refused) events") }
            if state["queued"]?.intValue == 0 { return true }
            // Often enough for the figure, seldom enough not to load the relay being measured.
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    func peakResidentBytes() -> Int { Self.peakResidentBytes(pid: process.processIdentifier) }

    static func peakResidentBytes(pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return 0 }
        return kilobytes * 1024
    }
}
