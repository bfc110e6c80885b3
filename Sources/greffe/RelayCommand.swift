import ArgumentParser
import Foundation
import GreffeCore
import GreffeHTTP
import GreffeRelay
import GreffeServer
import GreffeStore
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// `greffe relay`: beside a platform's services, a durable queue in front of the ledger.
struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Queue a platform's events durably and forward them to the ledger, verifying every receipt and checkpoint.",
        subcommands: [RelayRunCommand.self, RelayResumeCommand.self],
        defaultSubcommand: RelayRunCommand.self
    )
}

struct RelayRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Accept events (HTTP and spool directory), answer once they are on disk, forward them to the ledger.",
        discussion: """
            Producers POST the ledger's append body to http://LISTEN/v1/events and get 202 once the events are \
            fsynced in DATA/relay.sqlite; or drop NAME.jsonl files (one event per line, renamed into place when \
            complete) in --spool. The relay sends them to the ledger with --token-file, checks every checkpoint \
            against --vkey and the previous one, and every inclusion proof; it stops forwarding and raises an alarm \
            (log, /metrics, /v1/relay/status) when one does not verify. See ops/RUNBOOK.md, "The relay".
            """
    )

    @Option(name: .long, help: "The relay's own directory (its queue relay.sqlite). Created if missing.")
    var data: String

    @Option(name: .long, help: "The ledger's base URL, e.g. https://ledger.example.")
    var ledger: String

    @Option(name: .long, help: "File holding an append token bound to the platform (never on the command line).")
    var tokenFile: String

    @Option(name: .long, help: "The ledger's verifier key (file or key): every checkpoint must verify with it.")
    var vkey: String

    @Option(name: .long, help: "The platform the token is bound to; events for another are refused at once.")
    var platform: String

    @Option(name: .long, help: "HOST:PORT for producers (keep it on the loopback or a private network).")
    var listen: String = "127.0.0.1:8081"

    @Option(name: .long, help: "A spool directory to take NAME.jsonl files from (done/ and rejected/ are made in it).")
    var spool: String?

    @Option(name: .long, help: "Bytes of event bodies not yet receipted the relay may hold; producers get 503 beyond (default 1 GiB).")
    var quotaBytes: Int64 = 1 << 30

    @Option(name: .long, help: "Seconds between checks of the ledger's checkpoint when there is nothing to send.")
    var headCheckSeconds: Double = 10

    @Option(name: .long, help: "Hours a receipted event's body is kept (its receipt for good).")
    var keepDeliveredHours: Double = 168

    @Option(name: .long, help: "Events per request to the ledger.")
    var batchSize: Int = 1000

    @Option(name: .long, help: "Requests to the ledger at once (each waits for a checkpoint).")
    var inFlight: Int = 8

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard (1...16).contains(inFlight) else { throw ValidationError("--in-flight must be between 1 and 16") }
        guard (1...1000).contains(batchSize) else { throw ValidationError("--batch-size must be between 1 and 1000 (the ledger's limit per request)") }
        guard headCheckSeconds >= 0.1, headCheckSeconds <= 3600 else { throw ValidationError("--head-check-seconds must be between 0.1 and 3600") }
        guard keepDeliveredHours >= 0, keepDeliveredHours <= 24 * 365 * 100 else { throw ValidationError("--keep-delivered-hours must be between 0 and 876000") }
        guard quotaBytes >= 1 << 20 else { throw ValidationError("--quota-bytes must be at least 1 MiB") }
        guard ledger.hasPrefix("http://") || ledger.hasPrefix("https://") else { throw ValidationError("--ledger must be an http:// or https:// URL") }
        _ = try parseHostPort(listen, option: "--listen")
    }

    func run() async throws {
        var logger = Logger(label: "greffe-relay")
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(ServerMetrics.factory(registry: registry))

        let verifier = try loadVerifier(vkey)
        let token = try readRelayToken(tokenFile)
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let lock = try lockRelayDirectory(data)
        defer { close(lock) }
        let queue = try RelayQueue(path: (data as NSString).appendingPathComponent("relay.sqlite"))
        let client = HTTPRelayLedgerClient(baseURL: ledger, token: token)
        let forwarder = try RelayForwarder(queue: queue, ledger: client, verifier: verifier, batchSize: batchSize, inFlight: inFlight,
            headCheckInterval: headCheckSeconds, keepDeliveredBodies: .seconds(keepDeliveredHours * 3600), logger: logger)
        let api = try RelayAPI(queue: queue, forwarder: forwarder, platform: platform, quotaBytes: quotaBytes) {
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return buffer
        }
        var services: [any Service] = [forwarder]
        if let spool {
            services.append(try SpoolWatcher(directory: URL(fileURLWithPath: spool), api: api, logger: logger))
        }
        let router = Router()
        api.addRoutes(to: router)
        let (host, port) = try parseHostPort(listen, option: "--listen")
        let app = Application(
            router: router, server: .guardedHTTP1(limits: HTTPLimits()),
            configuration: .init(address: .hostname(host, port: port), serverName: "greffe-relay"),
            services: services, logger: logger)
        let counts = try queue.counts()
        if forwarder.isHalted {
            logger.critical("forwarding is stopped by an unresolved alarm: see /v1/relay/status, then `greffe relay resume`")
        }
        logger.info(
            "relay serving",
            metadata: [
                "listen": "\(listen)", "ledger": "\(ledger)", "platform": "\(platform)", "queued": "\(counts.queued)",
                "receipted": "\(counts.receipted)", "spool": "\(spool ?? "none")",
            ])
        try await app.runService()
        try? await client.shutdown()
        logger.info("relay stopped", metadata: ["queued": "\((try? queue.counts().queued) ?? -1)"])
    }
}

struct RelayResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "After an alarm has been investigated: mark it resolved and queue the suspect events again.",
        discussion: """
            Run it with the relay stopped. The alarms stay on record. With --trust-current-checkpoint the relay \
            also forgets its trusted head and takes the ledger's next checkpoint as it is: only after you have \
            established why the ledger's history changed (see ops/RUNBOOK.md).
            """
    )

    @Option(name: .long, help: "The relay's directory.")
    var data: String

    @Flag(name: .long, help: "Forget the trusted head (after a fork or rollback you have judged).")
    var trustCurrentCheckpoint = false

    func run() throws {
        let lock = try lockRelayDirectory(data)
        defer { close(lock) }
        let path = (data as NSString).appendingPathComponent("relay.sqlite")
        guard FileManager.default.fileExists(atPath: path) else { throw CommandFailure("no relay queue at \(path)") }
        let queue = try RelayQueue(path: path)
        let open = try queue.alarms().filter { !$0.resolved }
        let requeued = try queue.resume(forgetHead: trustCurrentCheckpoint)
        print("resolved \(open.count) alarm(s); \(requeued) suspect event(s) queued again\(trustCurrentCheckpoint ? "; trusted head forgotten" : "")")
    }
}

/// The token from its file: one line, nothing else; never printed.
func readRelayToken(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read --token-file \(path)") }
    let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard !token.isEmpty, !token.contains(where: { $0.isWhitespace || $0.isNewline }) else {
        throw CommandFailure("--token-file \(path) must hold one token on one line")
    }
    return token
}

/// One relay per directory: a second one would send the same queue twice over.
func lockRelayDirectory(_ directory: String) throws -> Int32 {
    let path = (directory as NSString).appendingPathComponent("relay.lock")
    let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { throw CommandFailure("cannot open \(path): \(String(cString: strerror(errno)))") }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
        close(descriptor)
        throw CommandFailure("another greffe relay is using \(directory)")
    }
    return descriptor
}

func parseHostPort(_ text: String, option: String) throws -> (host: String, port: Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
    else { throw ValidationError("\(option) must be HOST:PORT, e.g. 127.0.0.1:8081") }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard !host.isEmpty else { throw ValidationError("\(option) needs a host, e.g. 127.0.0.1:8081") }
    return (host, port)
}
