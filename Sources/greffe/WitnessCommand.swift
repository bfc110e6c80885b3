import ArgumentParser
import Foundation
import GreffeCore
import GreffeHTTP
import GreffeServer
import GreffeWitness
import Hummingbird
import HummingbirdCore
import Logging

/// `greffe witness`: the built-in C2SP tlog-witness (`serve`, the default) and its key (`init`).
struct WitnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness",
        abstract: "The built-in witness (C2SP tlog-witness): checks logs' checkpoints for consistency and cosigns them.",
        subcommands: [WitnessServeCommand.self, WitnessInitCommand.self],
        defaultSubcommand: WitnessServeCommand.self
    )
}

struct WitnessInitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a witness: a cosigning key (mode 0600, never printed) and its state database; prints the witness's vkey (also written to DIR/witness.vkey)."
    )

    @Option(name: .long, help: "The witness's data directory.")
    var data: String

    @Option(name: .long, help: "The witness's name, e.g. witness.example.org/w1: the key name of its cosignatures.")
    var name: String

    func run() async throws {
        let verifier: CosignatureVerifier
        do { verifier = try WitnessDirectory(path: data).initialize(name: name) } catch { throw CommandFailure("\(error)") }
        print(verifier.verifierKey)
    }
}

struct WitnessServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the witness: POST /add-checkpoint (C2SP tlog-witness). SIGTERM stops it cleanly."
    )

    @Option(name: .long, help: "The witness's data directory (made by greffe witness init).")
    var data: String

    @Option(name: .long, help: "HOST:PORT to listen on.")
    var listen: String = "127.0.0.1:8090"

    @Option(
        name: .customLong("log"),
        help: "ORIGIN=VKEY: follow the log with this origin, trusting checkpoints signed by this verifier key (repeatable; several keys per origin allowed).")
    var logs: [String] = []

    @Option(
        name: .customLong("log-with-shards"),
        help: "ORIGIN=VKEY: as --log, and also every temporal shard of that ledger: the logs ORIGIN/1, ORIGIN/2, … signed by the same key under their own names (Schemas/shards.md).")
    var shardedLogs: [String] = []

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        _ = try parseListen()
        _ = try witnessedLogs()
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    private func parseListen() throws -> (host: String, port: Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port)
        else { throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:8090") }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ValidationError("--listen needs a host, e.g. 127.0.0.1:8090") }
        return (host, port)
    }

    /// `--log ORIGIN=VKEY`, split at the first `=` (a vkey's base64 may end in `=`, an origin has none).
    private func witnessedLogs() throws -> WitnessedLogs {
        guard !logs.isEmpty || !shardedLogs.isEmpty else { throw ValidationError("give at least one --log ORIGIN=VKEY") }
        var witnessed = WitnessedLogs()
        for (entries, option, withShards) in [(logs, "--log", false), (shardedLogs, "--log-with-shards", true)] {
            for entry in entries {
                guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                    throw ValidationError("\(option) \(entry.prefix(80)): expected ORIGIN=VKEY")
                }
                let origin = String(entry[..<equals])
                do {
                    let verifier = try NoteVerifier(verifierKey: entry[entry.index(after: equals)...])
                    if withShards { witnessed.trustWithShards(verifier, for: origin) } else { witnessed.trust(verifier, for: origin) }
                } catch {
                    throw ValidationError("\(option) \(origin): \(error)")
                }
            }
        }
        return witnessed
    }

    func run() async throws {
        var logger = Logger(label: "greffe.witness")
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        let directory = WitnessDirectory(path: data)
        let lock: Int32
        let signer: CosignatureSigner
        do {
            lock = try directory.lock()
            signer = try directory.loadSigner()
        } catch { throw CommandFailure("\(error)") }
        defer { close(lock) }
        let store = try directory.openStore()
        let logs = try witnessedLogs()
        let witness = Witness(signer: signer, logs: logs, store: store, logger: logger)

        let router = Router()
        WitnessAPI(witness: witness).addRoutes(to: router)
        let (host, port) = try parseListen()
        let limits = HTTPLimits()
        let app = Application(
            router: router,
            // The same guard as serve: header limits, slow clients cut off, connections capped.
            server: .guardedHTTP1(limits: limits),
            configuration: .init(
                address: .hostname(host, port: port), serverName: "greffe-witness",
                availableConnectionsDelegate: MaximumAvailableConnections(2 * limits.maxConnections)),
            logger: logger
        )
        logger.info(
            "witnessing",
            metadata: [
                "witness": "\(signer.verifier.verifierKey)", "listen": "\(listen)",
                "logs": "\(logs.keys.keys.sorted().joined(separator: ", "))",
            ])
        try await app.runService()
        logger.info("stopped")
    }
}
