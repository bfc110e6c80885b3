import ArgumentParser
import Foundation
import GreffeCore
import GreffeDataDirectory
import GreffeHTTP
import GreffeLedger
import GreffePostgres
import GreffeSQLite
import GreffeServer
import GreffeStore
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import Metrics
import NIOSSL
import Prometheus
import ServiceLifecycle

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the ledger service: appends, checkpoints, tiles and proofs over HTTP. SIGTERM stops it cleanly."
    )

    @OptionGroup var storeOptions: StoreOptions

    @Option(
        name: .long,
        help: "With --postgres: this node's name in the sequencer lease (default: host name and --listen port). Every node needs its own.")
    var nodeName: String?

    @Option(name: .long, help: "HOST:PORT to listen on.")
    var listen: String = "127.0.0.1:8080"

    // 0.5 s keeps acknowledgement → signed checkpoint within 1 s at p99 (issue 5): an event waits at most one
    // interval plus one store commit. The cost: at most two Ed25519 signatures and two checkpoint rows a second, only while appends arrive.
    @Option(name: .long, help: "Seconds between signed checkpoints at most (decimal allowed).")
    var checkpointInterval: Double = 0.5

    @Option(name: .long, help: "Serve HTTPS with this PEM certificate chain (needs --tls-key).")
    var tlsCert: String?

    @Option(name: .long, help: "The PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(name: .long, help: "Also write checkpoint, tiles and entry bundles as static files (C2SP tlog-tiles layout) into this directory, for nginx or a CDN (ops/nginx/).")
    var tilesDir: String?

    @Option(name: .long, help: "Seconds a client has from the first byte of a request to the end of its headers (408 past it).")
    var headerTimeout: Double = 10

    @Option(name: .long, help: "Seconds a client has from the end of a request's headers to the end of its body (408 past it).")
    var bodyTimeout: Double = 60

    @Option(name: .long, help: "Open connections at most (fewer if the open-file limit is lower); past it idle ones are closed, else 503.")
    var maxConnections: Int = 2_000

    @Option(
        name: .long,
        help: "Requests a second each client address (IPv6: each /64) may make without a valid token, on average; 429 past it. 0 turns the limit off (behind a proxy every client has the proxy's address).")
    var anonymousRate: Double = ClientRateLimiter.defaultLimit.perSecond

    @Option(name: .long, help: "Burst of requests each client address may make without a valid token (a leaf_hash lookup costs 50, or the whole burst if smaller).")
    var anonymousBurst: Double = ClientRateLimiter.defaultLimit.burst

    @Option(
        name: .long,
        help: "Requests a second each investigator's (and admin's) token may make, on average, in bursts of twice as many; 429 past it. 0 turns the limit off.")
    var tokenRate: Double = RateLimiter.defaultLimits[.investigate]!.perSecond

    @Flag(name: .long, help: "Skip SQLite's quick_check of the whole database file at start-up (it reads every page).")
    var skipIntegrityCheck = false

    @Option(name: .long, help: "RFC 3161 time-stamping authority: POST each new checkpoint's body digest here for a timestamp token (needs --tsa-cert).")
    var tsaUrl: String?

    @Option(name: .long, help: "The TSA's certificate or its CA's (PEM): every token is verified against it before it is stored.")
    var tsaCert: String?

    @Option(name: .long, help: "The TSA policy OID to ask for and require in every token.")
    var tsaPolicy: String?

    @Option(name: .long, help: "Seconds between timestamp requests at most (each for the latest checkpoint not yet timestamped).")
    var tsaInterval: Double = 10

    @Option(name: .long, help: "Seconds a timestamp request may take.")
    var tsaTimeout: Double = 10

    @Option(
        name: .long,
        help: "Drop the bodies of events recorded more than this many days ago (each batch recorded in the log first as retention.applied; Greffe's own records and events under a legal hold keep theirs). Needs --retention-basis. Default: keep them.")
    var retentionDays: Int?

    @Option(name: .long, help: "The law or policy behind --retention-days, recorded with each batch and given as each dropped body's legal reference.")
    var retentionBasis: String?

    @Option(name: .long, help: "Seconds between retention rounds.")
    var retentionInterval: Double = 3_600

    @Option(
        name: .long,
        help: "Renew a stored timestamp token (RFC 3161) whose certificate expires within this many days: a new token from the TSA over the checkpoint and every earlier token, carried in bundles (0: never).")
    var tsaRenewWithin: Int = 30

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Flag(inversion: .prefixedNo, help: "Answer GET /v1/lookup (and the /lookup page): anyone may ask whether an image was recorded, by its hash, rate-limited per client address.")
    var publicLookup = true

    @Option(name: .long, help: "A JSON file of where people should turn next, shown with every lookup answer: [{\"title\", \"url\", \"description\"}] (the platform's reporting form, the regulator, victims' help lines).")
    var lookupHelp: String?

    @OptionGroup var witnessOptions: ServeWitnessOptions

    @Option(
        name: .long,
        help: "Seal the active shard once it holds this many entries and go on in a new one (origin <origin>/<n>, its own SQLite file under shards/, or its own schema greffe_shard_<n> with --postgres; Schemas/shards.md). Default: never.")
    var shardMaxEntries: UInt64?

    @Option(
        name: .long,
        help: "Seal the active shard this long after it opened, e.g. 30d, 12h, 90m, 3600s (see --shard-max-entries). Default: never.")
    var shardPeriod: String?

    func validate() throws {
        guard checkpointInterval >= 0.01, checkpointInterval <= 3600 else {
            throw ValidationError("--checkpoint-interval must be between 0.01 and 3600 seconds")
        }
        _ = try parseListen()
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard headerTimeout >= 0.1, headerTimeout <= 3600, bodyTimeout >= 0.1, bodyTimeout <= 3600 else {
            throw ValidationError("--header-timeout and --body-timeout must be between 0.1 and 3600 seconds")
        }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        guard tokenRate >= 0, tokenRate <= 1_000_000 else { throw ValidationError("--token-rate must be between 0 and 1,000,000") }
        guard anonymousRate >= 0, anonymousRate <= 1_000_000, anonymousBurst >= 1, anonymousBurst <= 10_000_000 else {
            throw ValidationError("--anonymous-rate must be between 0 and 1000000, --anonymous-burst between 1 and 10000000")
        }
        guard (tsaUrl == nil) == (tsaCert == nil) else { throw ValidationError("--tsa-url and --tsa-cert go together") }
        if tsaPolicy != nil && tsaUrl == nil { throw ValidationError("--tsa-policy needs --tsa-url") }
        guard tsaInterval >= 0.1, tsaInterval <= 86400 else { throw ValidationError("--tsa-interval must be between 0.1 and 86400 seconds") }
        guard tsaTimeout >= 0.1, tsaTimeout <= 300 else { throw ValidationError("--tsa-timeout must be between 0.1 and 300 seconds") }
        guard (0...3650).contains(tsaRenewWithin) else { throw ValidationError("--tsa-renew-within must be between 0 and 3650 days") }
        if let retentionDays {
            guard (1...36_500).contains(retentionDays) else { throw ValidationError("--retention-days must be between 1 and 36500") }
            guard let retentionBasis, (1...200).contains(retentionBasis.count) else {
                throw ValidationError("--retention-days needs --retention-basis: the law or policy behind it (1 to 200 characters), recorded in the log")
            }
        } else if retentionBasis != nil {
            throw ValidationError("--retention-basis goes with --retention-days")
        }
        guard retentionInterval >= 0.1, retentionInterval <= 86_400 else { throw ValidationError("--retention-interval must be between 0.1 and 86400 seconds") }
        _ = try witnessOptions.endpoints()
        try validateSharding()
    }

    /// `--shard-period`'s duration: a whole number and a unit (s, m, h, d).
    static func parsePeriod(_ text: String) throws -> Duration {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = text.last, let seconds = units[unit], let count = Int64(text.dropLast()), count > 0, String(count) == text.dropLast(),
            count <= 36_500 * 86_400 / seconds
        else { throw ValidationError("--shard-period must be a whole number and a unit, e.g. 30d, 12h, 90m or 3600s (at most 100 years)") }
        return .seconds(count * seconds)
    }

    var shardPolicy: ShardedLedger.Policy? {
        guard shardMaxEntries != nil || shardPeriod != nil else { return nil }
        return ShardedLedger.Policy(maxEntries: shardMaxEntries, period: try? shardPeriod.map(Self.parsePeriod))
    }

    /// The shard options are well formed.
    func validateSharding() throws {
        if let shardMaxEntries, shardMaxEntries < 2 { throw ValidationError("--shard-max-entries must be at least 2") }
        if let shardPeriod { _ = try Self.parsePeriod(shardPeriod) }
    }

    private func parseListen() throws -> (host: String, port: Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port)
        else { throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:8080") }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ValidationError("--listen needs a host, e.g. 127.0.0.1:8080") }
        return (host, port)
    }

    /// The address, the request limits of `HTTPLimits` (header sizes, slow
    /// clients, connection count), and TLS when a certificate is given.
    private func serveConfiguration() throws -> ServeConfiguration {
        var limits = HTTPLimits()
        limits.headTimeout = .milliseconds(Int(headerTimeout * 1000))
        limits.bodyTimeout = .milliseconds(Int(bodyTimeout * 1000))
        limits.maxConnections = maxConnections
        let (host, port) = try parseListen()
        var configuration = ServeConfiguration(address: .hostname(host, port: port), limits: limits)
        guard let tlsCert, let tlsKey else { return configuration }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(tlsCert).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: tlsKey, format: .pem)
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            // TLS 1.0 and 1.1 are broken and deprecated (RFC 8996).
            tls.minimumTLSVersion = .tlsv12
            // Built once here so that a key that does not match the certificate stops start-up, not the first connection.
            _ = try NIOSSLContext(configuration: tls)
            configuration.wrap = { try .tls($0, tlsConfiguration: tls) }
            return configuration
        } catch {
            // The key's contents never go into the message, only the file names.
            throw CommandFailure("cannot use --tls-cert \(tlsCert) / --tls-key \(tlsKey): \(error)")
        }
    }

    func run() async throws {
        var logger = Logger(label: "greffe")
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(ServerMetrics.factory(registry: registry))

        let directory = storeOptions.directory
        let lock = try directory.lockForServing()
        defer { close(lock) }
        // Every key of keys.json (or signing.key alone): read once, here; a rotation takes effect at the next start.
        let keys = try directory.loadLogKeys()
        let keyList = try directory.loadKeyList()
        let store = try await storeOptions.openStore(logger: logger)
        // On PostgreSQL, shard k ≥ 1 is schema greffe_shard_<k> of the same database.
        let postgresShards = (store as? PostgresStore).map { PostgresShardStorage(base: $0, logger: logger) }
        let hasShards = try await (postgresShards?.existingShards() ?? SQLiteShardStorage(directory: directory).existingShards()).count > 1
        if let sqlite = store as? SQLiteStore, !skipIntegrityCheck, shardPolicy == nil, !hasShards {
            // A damaged file must stop the service before it signs anything.
            try sqlite.checkIntegrity()
        }
        // On PostgreSQL every node joins the lease: one sequences, the others follow.
        let listenPort = try parseListen().port
        let node = storeOptions.postgres == nil ? nil : (nodeName ?? "\(ProcessInfo.processInfo.hostName):\(listenPort)")
        let storeName = try storeOptions.postgresLocation()?.description ?? directory.databasePath
        let exporter = tilesDir.map { TileExporter(directory: $0, store: store, verifiers: keys.verifiers, logger: logger) }
        let witnessTransport = witnessOptions.witnesses.isEmpty ? nil : HTTPWitnessTransport()
        let cosigner = try witnessTransport.map { try witnessOptions.client(transport: $0, logger: logger) }
        let interval = Duration.milliseconds(Int(checkpointInterval * 1000))
        let shards: ShardedLedger
        // A directory that has shards (rolled over, or sealed by a restore) is always served as shards:
        // appending to shard 0 again would fork it.
        var policy = shardPolicy
        if policy == nil, hasShards {
            policy = ShardedLedger.Policy()
        }
        if let shardPolicy = policy {
            // Shard 0's store was opened (and checked) above; the others are opened by the shard set, the active one checked.
            let storage: any ShardStorage = postgresShards ?? SQLiteShardStorage(directory: directory, shardZero: store)
            if let base = store as? PostgresStore, let node {
                // One node serves a sharded ledger: it holds shard 0's lease for its whole life, and another node
                // refuses to start (under a supervisor it retries, and takes over once this one is gone). The active
                // shard's writes are also fenced by that shard's own lease; a sealed shard is opened without one.
                guard try await base.acquireSequencerLease(node: node) else {
                    // EX_TEMPFAIL, as a node that lost its lease: a supervisor restarts it, and it serves once the other is gone.
                    FileHandle.standardError.write(
                        Data("greffe: another greffe node serves the shards in \(storeName) (it holds shard 0's sequencer lease); on PostgreSQL a sharded ledger runs on one node at a time\n".utf8))
                    throw ExitCode(75)
                }
            }
            // Each shard is a log of its own to the witnesses (greffe witness serve --log-with-shards): a cosigner each.
            let makeCosigner: @Sendable () throws -> (any CheckpointCosigner)? = { [witnessOptions, logger] in
                try witnessTransport.map { try witnessOptions.client(transport: $0, logger: logger) }
            }
            // With --tiles-dir, shard 0 keeps the directory itself (as before it had shards) and shard k is exported
            // under DIR/v1/shards/k/: the static paths are the server's.
            let baseOrigin = keys.origin
            shards = try await ShardedLedger.open(storage: storage, keys: keys, policy: shardPolicy, logger: logger) { [logger, tilesDir, node] shardStore, shardKeys in
                let number = Shards.number(origin: shardKeys.origin, base: baseOrigin) ?? 0
                // Only the last shard (the active one, or one a rollover just made) sequences under a lease.
                var leaseNode: String?
                if shardStore is PostgresStore, try await storage.existingShards().last == number { leaseNode = node }
                let shardExporter = tilesDir.map {
                    TileExporter(
                        directory: number == 0 ? $0 : "\($0)/v1/shards/\(number)", store: shardStore, verifiers: shardKeys.verifiers, logger: logger)
                }
                let ledger = try await Ledger.open(
                    store: shardStore, keys: shardKeys, checkpointInterval: interval, node: leaseNode, logger: logger,
                    checkpointStored: shardExporter?.checkpointStoredHook, cosigner: try makeCosigner())
                if let shardExporter, let latest = ledger.latestCheckpoint {
                    // Catch up, shard by shard: a sealed shard's final checkpoint once, the active one's latest.
                    await shardExporter.export(latest)
                }
                return ledger
            }
            // Only the active shard, which alone is written: a sealed shard was checked while it was active, so start-up is bounded by a shard.
            if !skipIntegrityCheck, let active = shards.active.store as? SQLiteStore { try active.checkIntegrity() }
            logger.info("shards", metadata: ["shards": "\(shards.shards.count)", "active": "\(shards.activeShard)"])
        } else {
            shards = ShardedLedger(
                single: try await Ledger.open(
                    store: store, keys: keys, checkpointInterval: interval, node: node, logger: logger,
                    checkpointStored: exporter?.checkpointStoredHook, cosigner: cosigner))
        }
        let ledger = shards.active
        if let exporter, policy == nil, ledger.isSequencer, let latest = ledger.latestCheckpoint {
            // Catch up: whatever the store has signed that the directory lacks (a new --tiles-dir, or one behind after a failure).
            // Only the sequencer writes tiles, so a follower starting beside it never puts back an older checkpoint.
            let caughtUp = await exporter.export(latest)
            logger.info(
                "static tiles", metadata: ["tiles_dir": "\(exporter.directory.path)", "up_to_date": "\(caughtUp)"])
        }
        let shardSetLease = policy != nil ? store as? PostgresStore : nil
        var services: [any Service] = [LedgerService(shards: shards, shardSetLease: shardSetLease)]
        if let retentionDays, let retentionBasis {
            let keeper = RetentionKeeper(
                shards: shards, policy: Ledger.RetentionPolicy(days: retentionDays, legalBasis: retentionBasis),
                interval: .milliseconds(Int(retentionInterval * 1000)), logger: logger)
            services.append(RetentionService(keeper: keeper))
            logger.info("retention", metadata: ["days": "\(retentionDays)", "basis": "\(retentionBasis)"])
        }
        var tsaClient: TSAClient?
        if let tsaUrl, let tsaCert {
            // Read and checked before serving: a bad certificate file stops start-up, not every request.
            let trust = try loadTimestampTrust(certificateFile: tsaCert, policy: tsaPolicy)
            let client = try TSAClient(url: tsaUrl, timeoutSeconds: tsaTimeout)
            tsaClient = client
            let timestamper = CheckpointTimestamper(
                shards: shards, trust: trust, interval: .milliseconds(Int(tsaInterval * 1000)),
                renewWithin: tsaRenewWithin == 0 ? nil : .seconds(tsaRenewWithin * 86_400), transport: client.transport, logger: logger)
            services.append(TimestampService(timestamper: timestamper))
            logger.info(
                "trusted time", metadata: ["tsa": "\(TSAClient.redacted(tsaUrl))", "interval_seconds": "\(tsaInterval)", "policy": "\(tsaPolicy ?? "any")"])
        }
        var volumes = [(name: "data", path: directory.url.path)]
        if let exporter { volumes.append((name: "tiles", path: exporter.directory.path)) }

        var api = LedgerAPI(shards: shards) {
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return buffer
        }
        api.keyList = keyList
        api.lookupSettings.enabled = publicLookup
        if publicLookup {
            // Near matches by PDQ: loaded in the background; PDQ lookups answer 503 until then.
            if policy != nil {
                // One index per shard: a shard opened later gets its own at its first lookup.
                let indexes = ShardPDQIndexes { [shards, logger] number in
                    shards.shard(number).map { PDQLookupIndex(store: $0.ledger.store, logger: logger) }
                }
                api.lookupSettings.shardPDQIndexes = indexes
                let numbers = shards.shards.map(\.number)
                Task { await indexes.load(numbers) }
            } else {
                let pdqIndex = PDQLookupIndex(store: store, logger: logger)
                api.lookupSettings.pdqIndex = pdqIndex
                Task { await pdqIndex.load() }
            }
        }
        if let lookupHelp {
            guard let data = FileManager.default.contents(atPath: lookupHelp) else { throw CommandFailure("cannot read --lookup-help \(lookupHelp)") }
            do { api.lookupSettings.help = try PublicLookupSettings.parseHelp(Array(data)) } catch {
                throw CommandFailure("--lookup-help \(lookupHelp): \(error)")
            }
        }
        api.rateLimiter = RateLimiter.tokenRate(perSecond: tokenRate)
        api.clientRateLimiter = anonymousRate > 0 ? ClientRateLimiter(limit: .init(perSecond: anonymousRate, burst: anonymousBurst)) : nil
        let app = try buildApplication(
            api: api, configuration: try serveConfiguration(),
            services: services + [
                DiskSpaceMonitor(volumes: volumes, walPath: storeOptions.postgres == nil ? directory.databasePath + "-wal" : nil, logger: logger)
            ],
            logger: logger)
        logger.info(
            "serving",
            metadata: [
                "origin": "\(ledger.origin)", "tree_size": "\(ledger.treeSize)", "listen": "\(listen)",
                "store": "\(storeName)",
                "role": "\(ledger.isSequencer ? "sequencer" : "follower")",
                "signing_keys": "\(keys.signers.map(\.verifier.keyName).joined(separator: " "))",
            ])
        if let cosigner {
            logger.info(
                "witnesses", metadata: ["witnesses": "\(cosigner.witnesses.map { "\($0.verifier.keyName)=\($0.url)" })", "quorum": "\(cosigner.policy.quorum)"])
        }
        try await app.runService()
        try? await tsaClient?.client.shutdown()
        try? await witnessTransport?.shutdown()
        logger.info("stopped", metadata: ["tree_size": "\(shards.active.treeSize)", "checkpoint_size": "\(shards.active.latestCheckpoint?.size ?? 0)", "shard": "\(shards.activeShard)"])
    }
}
