import Foundation
import GreffeCore
import GreffePostgres
import GreffeStore
import GreffeSQLite

/// A `greffe serve` child on a fresh ledger, for the HTTP benchmarks.
struct BenchServer {
    let process: Process
    let url: String
    let appendToken: String
    /// For the investigators' routes (searches).
    let investigateToken: String
    let data: URL

    /// With `postgresServer`, the ledger lives in a new database created on that server.
    /// `serveArguments`: more options for `greffe serve` (temporal shards).
    static func start(_ context: BenchContext, name: String, postgresServer: String? = nil, serveArguments: [String] = []) throws -> BenchServer {
        let data = context.scratch.appendingPathComponent("server-\(name)")
        let executable = ChildRun.greffeExecutable
        var storeArguments = ["--data", data.path]
        if let postgresServer {
            let location = try PostgresLocation(url: postgresServer)
            let database = "greffe_bench_\(name)_\(getpid())"
            _ = try BenchContext.capture(["psql", "-q", postgresServer, "-c", "CREATE DATABASE \(database)"])
            var url = "postgres://\(location.username)@\(location.host):\(location.port)/\(database)?sslmode=\(location.tlsMode.rawValue)"
            if location.password != nil { url = postgresServer.replacingOccurrences(of: "/\(location.database)", with: "/\(database)") }
            storeArguments += ["--postgres", url]
        }
        _ = try BenchContext.capture([executable, "init"] + storeArguments + ["--origin", "bench.greffe.test/\(name)"])
        let token = try BenchContext.capture([executable, "token", "create"] + storeArguments + ["--role", "append", "--platform", "bench.example", "--name", "bench"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let investigateToken = try BenchContext.capture([executable, "token", "create"] + storeArguments + ["--role", "investigate", "--name", "bench-investigator"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve"] + storeArguments + ["--listen", "127.0.0.1:\(port)", "--log-level", "error"] + serveArguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let server = BenchServer(process: process, url: "http://127.0.0.1:\(port)", appendToken: token, investigateToken: investigateToken, data: data)
        try waitUntilHealthy(process: process, url: server.url, name: "greffe serve")
        return server
    }

    /// A port no one listens on now, as the kernel picks it (two servers of one run must not share one:
    /// the second would fail to bind while the health check reached the first).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchFailure("bench: socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw BenchFailure("bench: could not find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Until `url`/healthz answers (10 s at most); the process is stopped if it never does.
    static func waitUntilHealthy(process: Process, url: String, name: String) throws {
        for _ in 0..<200 {
            if (try? BenchContext.capture(["curl", "-sf", "\(url)/healthz"])) != nil { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.terminate()
        throw BenchFailure("bench: \(name) did not start on \(url)")
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }

    func treeSize() throws -> Int {
        let health = try BenchContext.capture(["curl", "-sf", "\(url)/healthz"])
        let value = try JSONParser.parse(Array(health.utf8))
        return value["tree_size"]?.intValue ?? 0
    }
}

/// One wrk run: the figures our Lua scripts print, or wrk's own summary.
struct WrkResult {
    var rate: Double
    var p50Milliseconds: Double
    var p99Milliseconds: Double
    /// The slowest request (our scripts print it; 0 from wrk's own summary).
    var maxMilliseconds: Double = 0

    static func run(_ context: BenchContext, script: String?, connections: Int, url: String, environment: [String: String] = [:]) throws -> WrkResult {
        var arguments = ["wrk", "-t\(min(2, connections))", "-c\(connections)", "-d\(context.options.seconds * 3)s", "--latency"]
        if let script, let root = context.sourceRoot() {
            arguments += ["-s", root.appendingPathComponent("ops/bench/\(script)").path]
        }
        arguments.append(url)
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        let output = try BenchContext.capture(arguments, environment: env)
        // Our scripts print: "requests N, non-2xx M, <rate label> R, p50 X ms, p99 Y ms"; any refusal makes the figure void.
        if let line = output.split(separator: "\n").first(where: { $0.hasPrefix("requests ") }),
            let refused = line.split(separator: ",").dropFirst().first?.split(separator: " ").last.flatMap({ Int($0) }), refused > 0
        {
            throw BenchFailure("bench: \(refused) requests were refused: \(output.suffix(600))")
        }
        if let line = output.split(separator: "\n").last(where: { $0.contains("p99") && $0.contains("p50") }) {
            let numbers = line.split(whereSeparator: { $0 == "," }).map { part in
                Double(part.split(separator: " ").filter { Double($0) != nil }.last ?? "") ?? 0
            }
            if numbers.count >= 5 {
                return WrkResult(rate: numbers[2], p50Milliseconds: numbers[3], p99Milliseconds: numbers[4], maxMilliseconds: numbers.count >= 6 ? numbers[5] : 0)
            }
        }
        // wrk's summary: "Requests/sec: N" and the latency distribution.
        var result = WrkResult(rate: 0, p50Milliseconds: 0, p99Milliseconds: 0)
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            if fields.first == "Requests/sec:", let value = Double(fields[1]) { result.rate = value }
            if fields.first == "50%" { result.p50Milliseconds = milliseconds(fields[1]) }
            if fields.first == "99%" { result.p99Milliseconds = milliseconds(fields[1]) }
        }
        return result
    }

    static func milliseconds(_ text: String) -> Double {
        if text.hasSuffix("ms") { return Double(text.dropLast(2)) ?? 0 }
        if text.hasSuffix("us") { return (Double(text.dropLast(2)) ?? 0) / 1000 }
        if text.hasSuffix("s") { return (Double(text.dropLast(1)) ?? 0) * 1000 }
        return 0
    }
}

/// `append`: acknowledged durable appends/s over HTTP, batched and single,
/// and the time from acknowledgement to a covering checkpoint, against the
/// rate of a trivial route of the same server (the HTTP floor of this machine).
struct AppendBenchmark: Benchmark {
    let name = "append"
    let summary = "acknowledged appends/s over HTTP (wrk; 100/request and single) and ack→checkpoint latency, vs GET /healthz on the same server"

    func run(_ context: BenchContext) async throws -> [BenchRow] {
        guard BenchContext.onPath("wrk") else {
            return [BenchRow("append", 0, "events/s", note: "skipped: wrk is not installed (apt-get install wrk; ops/bench.sh does it)")]
        }
        var stores = [(name: "SQLite", server: try BenchServer.start(context, name: "append"))]
        if let postgres = context.options.postgres {
            stores.append((name: "PostgreSQL", server: try BenchServer.start(context, name: "appendpg", postgresServer: postgres)))
        }
        var rows: [BenchRow]
        do {
            defer { for store in stores { store.server.stop() } }
            rows = try measure(context, stores: stores, rounds: stores.count > 1 ? context.options.postgresRounds : 1)
        }
        rows += try measureRollovers(context, unsharded: rows)
        return rows
    }

    /// Concurrent clients posting batches of 100.
    private let batchClients = 32

    /// One wrk load of the append benchmark.
    private struct Load {
        let label: String
        let connections: Int
        let batch: Int
        let randomKeys: Bool
        /// Tells the event IDs of this load's runs apart from every other run's.
        let runTag: String
    }

    // With 8 clients, each batch's requests come back as one burst of parsing while the
    // writer waits; the 8-client row stays for comparison with earlier runs.
    private var loads: [Load] {
        [
            Load(label: "100 events per request, \(batchClients) connections", connections: batchClients, batch: 100, randomKeys: false, runTag: "b"),
            Load(label: "100 events per request, 8 connections", connections: 8, batch: 100, randomKeys: false, runTag: "e"),
            Load(label: "100 events per request with random keys, \(batchClients) connections", connections: batchClients, batch: 100, randomKeys: true, runTag: "r"),
            Load(label: "one event per request, 64 connections", connections: 64, batch: 1, randomKeys: false, runTag: "s"),
            Load(label: "one event per request with random keys, 64 connections", connections: 64, batch: 1, randomKeys: true, runTag: "u"),
        ]
    }

    /// Each load on each store, `rounds` times. With two stores the runs alternate (SQLite then PostgreSQL,
    /// then the other way round), so a machine that speeds up or slows down during the benchmark weighs on
    /// both alike; each store's figure is its median, and the ratio rows give the median of the rounds' ratios.
    private func measure(_ context: BenchContext, stores: [(name: String, server: BenchServer)], rounds: Int) throws -> [BenchRow] {
        var rates: [[[WrkResult]]] = Array(repeating: Array(repeating: [], count: loads.count), count: stores.count)
        for round in 0..<rounds {
            for (l, load) in loads.enumerated() {
                let order = round % 2 == 0 ? Array(stores.indices) : stores.indices.reversed()
                for s in order {
                    let (name, server) = stores[s]
                    context.say("append on \(name), round \(round + 1)/\(rounds): \(load.label)")
                    var environment = ["GREFFE_TOKEN": server.appendToken, "GREFFE_BATCH": "\(load.batch)"]
                    environment["GREFFE_RUN"] = "\(load.runTag)\(name.prefix(1))\(round)-\(getpid())"
                    if load.randomKeys { environment["GREFFE_KEYS"] = "random" }
                    rates[s][l].append(try WrkResult.run(context, script: "append.lua", connections: load.connections, url: server.url, environment: environment))
                }
            }
        }
        var rows: [BenchRow] = []
        for (s, store) in stores.enumerated() {
            rows += try storeRows(context, store: store.name, server: store.server, runs: rates[s], rounds: rounds)
        }
        guard stores.count == 2 else { return rows }
        for (l, load) in loads.enumerated() {
            let ratios = zip(rates[1][l], rates[0][l]).map { $1.rate > 0 ? $0.rate / $1.rate : 0 }
            let medianPostgres = Self.median(rates[1][l]).rate
            let medianSQLite = Self.median(rates[0][l]).rate
            rows.append(
                BenchRow(
                    "append PostgreSQL / SQLite: \(load.label)", medianPostgres, "events/s", reference: "SQLite, same load", referenceValue: medianSQLite,
                    note: "median rates of \(rounds) alternated rounds; the rounds' own ratios: "
                        + ratios.map { String(format: "%.2f", $0) }.joined(separator: ", ")
                        + String(format: " (median %.2f)", ratios.sorted()[ratios.count / 2])))
        }
        return rows
    }

    /// The run at the median rate.
    private static func median(_ runs: [WrkResult]) -> WrkResult {
        runs.sorted { $0.rate < $1.rate }[runs.count / 2]
    }

    /// One store's rows: the HTTP floor and ack → checkpoint latency measured once, the loads at their median.
    private func storeRows(_ context: BenchContext, store: String, server: BenchServer, runs: [[WrkResult]], rounds: Int) throws -> [BenchRow] {
        context.say("append on \(store): GET /healthz (the HTTP floor), 64 connections")
        let floor = try WrkResult.run(context, script: nil, connections: 64, url: "\(server.url)/healthz")
        context.say("append on \(store): ack → checkpoint, receipts under batched load")
        let environment = [
            "GREFFE_TOKEN": server.appendToken, "GREFFE_BATCH": "100", "GREFFE_RUN": "c\(store.prefix(1))\(getpid())",
        ]
        let latencies = try checkpointLatencies(context, server: server, environment: environment)
        let sorted = latencies.sorted()
        let p50 = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        let p99 = sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
        let (batched, batchedFewClients, random, single) = (Self.median(runs[0]), Self.median(runs[1]), Self.median(runs[2]), Self.median(runs[3]))
        let singleRandom = Self.median(runs[4])
        let of = rounds > 1 ? ", median of \(rounds) rounds" : ""
        return [
            BenchRow("append [\(store)]: HTTP floor (GET /healthz)", floor.rate, "req/s", note: "p99 \(String(format: "%.2f", floor.p99Milliseconds)) ms"),
            BenchRow(
                "append [\(store)]: batched (100/request, \(batchClients) clients), durable", batched.rate, "events/s", reference: "target",
                referenceValue: 50_000,
                note: "p50 \(String(format: "%.1f", batched.p50Milliseconds)) ms, p99 \(String(format: "%.1f", batched.p99Milliseconds)) ms per request\(of)"),
            BenchRow(
                "append [\(store)]: batched (100/request, 8 clients), durable", batchedFewClients.rate, "events/s",
                reference: "\(batchClients) clients", referenceValue: batched.rate,
                note: "p50 \(String(format: "%.1f", batchedFewClients.p50Milliseconds)) ms, p99 \(String(format: "%.1f", batchedFewClients.p99Milliseconds)) ms per request\(of)"),
            BenchRow(
                "append [\(store)]: batched, random keys, durable", random.rate, "events/s", reference: "batched, counting keys",
                referenceValue: batched.rate,
                note: "event IDs, prompt and image hashes random (as UUIDs and SHA-256 are), so their index inserts scatter; p99 \(String(format: "%.1f", random.p99Milliseconds)) ms per request\(of)"),
            BenchRow(
                "append [\(store)]: single-event requests, durable", single.rate, "events/s", reference: "GET /healthz", referenceValue: floor.rate,
                note: "target 15,000/s; p99 \(String(format: "%.1f", single.p99Milliseconds)) ms\(of)"),
            BenchRow(
                "append [\(store)]: single-event requests, random keys, durable", singleRandom.rate, "events/s", reference: "single-event requests, counting keys",
                referenceValue: single.rate, note: "p99 \(String(format: "%.1f", singleRandom.p99Milliseconds)) ms\(of)"),
            BenchRow(
                "append [\(store)]: ack → checkpoint p50", p50 * 1000, "ms", reference: "p99 target (ms)", referenceValue: 1000,
                note: "request → signed receipt (an upper bound of ack → checkpoint), \(latencies.count) receipts (?wait=checkpoint) under batched load; p99 \(String(format: "%.0f", p99 * 1000)) ms"),
        ]
    }

    /// Entries per shard in the rollover run: several rollovers within one measurement at this machine's rates.
    private let shardEntries = 50_000

    /// The random-keys load again on a server that seals its shard every `shardEntries` entries: what the
    /// rollovers cost in throughput and in the slowest requests (appends wait at the gate while a shard is sealed).
    private func measureRollovers(_ context: BenchContext, unsharded rows: [BenchRow]) throws -> [BenchRow] {
        let server = try BenchServer.start(
            context, name: "appendshards", serveArguments: ["--shard-max-entries", "\(shardEntries)", "--no-public-lookup"])
        defer { server.stop() }
        context.say("append: 100 events per request with random keys, \(batchClients) connections, a new shard every \(shardEntries) entries")
        var environment = ["GREFFE_TOKEN": server.appendToken, "GREFFE_RUN": "x\(getpid())", "GREFFE_BATCH": "100", "GREFFE_KEYS": "random"]
        environment["GREFFE_RUN"] = "x\(getpid())"
        let sharded = try WrkResult.run(context, script: "append.lua", connections: batchClients, url: server.url, environment: environment)
        let shards = try BenchContext.capture(["curl", "-sf", "\(server.url)/v1/shards"])
        let count = (try JSONParser.parse(Array(shards.utf8)))["shards"]?.arrayValue?.count ?? 0
        let unshardedRate = rows.first { $0.name.contains("random keys") }?.value ?? 0
        return [
            BenchRow(
                "append [SQLite]: batched, random keys, a new shard every \(shardEntries) entries", sharded.rate, "events/s",
                reference: "the same load, one log", referenceValue: unshardedRate,
                note: "\(count - 1) rollovers during the run; p50 \(String(format: "%.1f", sharded.p50Milliseconds)) ms, p99 \(String(format: "%.1f", sharded.p99Milliseconds)) ms, max \(String(format: "%.1f", sharded.maxMilliseconds)) ms per request"),
        ]
    }

    /// Times `?wait=checkpoint` requests minus plain appends sent beside them under load: seconds from ack to checkpoint.
    private func checkpointLatencies(_ context: BenchContext, server: BenchServer, environment: [String: String]) throws -> [Double] {
        guard let root = context.sourceRoot() else { return [] }
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        let load = Process()
        load.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        load.arguments = ["wrk", "-t1", "-c4", "-d\(context.options.seconds * 3)s", "-s", root.appendingPathComponent("ops/bench/append.lua").path, server.url]
        load.environment = env
        load.standardOutput = FileHandle.nullDevice
        try load.run()
        defer { load.waitUntilExit() }
        var latencies: [Double] = []
        let deadline = Date().addingTimeInterval(Double(context.options.seconds * 3) - 0.5)
        var n = 0
        while Date() < deadline {
            n += 1
            let body = """
                {"event_id":"receipt-\(getpid())-\(n)","kind":"legal.request","occurred_at":"2026-11-25T10:00:00Z","platform":"bench.example",\
                "schema_version":1,"authority":"bench","reference":"r\(n)","direction":"received","request_type":"preservation"}
                """
            // curl's timings: the answer comes when the checkpoint is signed; the ack (durable commit) is measured by the store timer.
            let output = try BenchContext.capture([
                "curl", "-sf", "-o", "/dev/null", "-w", "%{time_total}", "-X", "POST", "-H", "Authorization: Bearer \(server.appendToken)",
                "-d", body, "\(server.url)/v1/events?wait=checkpoint",
            ])
            if let seconds = Double(output.trimmingCharacters(in: .whitespacesAndNewlines)) { latencies.append(seconds) }
        }
        return latencies
    }
}

/// `serve`: inclusion proofs and full tiles served per second with p99, vs GET /healthz.
struct ServeBenchmark: Benchmark {
    let name = "serve"
    let summary = "inclusion proofs and tiles served/s (wrk) with p99, in a tree of at least 100,000 entries (its size is printed), vs GET /healthz"

    func run(_ context: BenchContext) async throws -> [BenchRow] {
        guard BenchContext.onPath("wrk") else {
            return [BenchRow("serve", 0, "proofs/s", note: "skipped: wrk is not installed")]
        }
        let server = try BenchServer.start(context, name: "serve")
        defer { server.stop() }
        context.say("serve: filling the log (100,000 events)")
        var environment = ["GREFFE_TOKEN": server.appendToken, "GREFFE_RUN": "f\(getpid())", "GREFFE_BATCH": "100"]
        while try server.treeSize() < 100_000 {
            let before = try server.treeSize()
            _ = try WrkResult.run(context, script: "append.lua", connections: 8, url: server.url, environment: environment)
            guard try server.treeSize() > before else { throw BenchFailure("bench serve: appends do not land (see append.lua's HTTP error above)") }
        }
        let size = try server.treeSize()
        environment = ["GREFFE_SIZE": "\(size)"]
        let floor = try WrkResult.run(context, script: nil, connections: 32, url: "\(server.url)/healthz")
        context.say("serve: inclusion proofs, 32 connections")
        let proofs = try WrkResult.run(context, script: "proofs.lua", connections: 32, url: server.url, environment: environment)
        // A full tile inside the tree, whatever its size (a fixed path past its end measured 404s).
        let tile = Tile(kind: .hashes(level: 0), index: UInt64(size) / UInt64(Tile.fullWidth) / 2, width: Tile.fullWidth)
        let tileBytes = try BenchContext.capture(["curl", "-sf", "-o", "/dev/null", "-w", "%{size_download}", "\(server.url)/\(tile.path)"])
        guard tileBytes == "\(Tile.fullWidth * Hash.byteCount)" else {
            throw BenchFailure("bench serve: \(tile.path) answered \(tileBytes) bytes, not a full tile")
        }
        context.say("serve: full tiles (\(tile.path)), 32 connections")
        let tiles = try WrkResult.run(context, script: nil, connections: 32, url: "\(server.url)/\(tile.path)")
        return [
            BenchRow(
                "serve: inclusion proofs (tree \(size))", proofs.rate, "proofs/s", reference: "GET /healthz", referenceValue: floor.rate,
                note: "target 30,000/s with p99 ≤ 10 ms; p50 \(String(format: "%.2f", proofs.p50Milliseconds)) ms, p99 \(String(format: "%.2f", proofs.p99Milliseconds)) ms"),
            BenchRow(
                "serve: full level-0 tile (8 KiB)", tiles.rate, "tiles/s", reference: "GET /healthz", referenceValue: floor.rate,
                note: "p99 \(String(format: "%.2f", tiles.p99Milliseconds)) ms"),
        ]
    }
}

/// `search`: investigator searches over 1,000,000 stored events, in the store.
struct SearchBenchmark: Benchmark {
    let name = "search"
    let summary =
        "lookup latency (leaf hash, event ID, account, content hash, time range) over --entries (1,000,000) stored events vs one event read by index"

    /// Event IDs, image hashes and accounts are random-looking and recomputable from their number.
    static func hex(_ seed: UInt64, words: Int) -> String {
        var random = BenchRandom(seed: seed)
        return (0..<words).map { _ in String(random.next(), radix: 16).leftPadded(to: 16) }.joined()
    }
    static func eventID(_ index: Int) -> String {
        let h = hex(UInt64(index) | 1 << 62, words: 2)
        let c = Array(h)
        return "\(String(c[0..<8]))-\(String(c[8..<12]))-4\(String(c[13..<16]))-a\(String(c[17..<20]))-\(String(c[20..<32]))"
    }
    static func image(_ number: UInt64) -> String { "sha256:" + hex(number | 1 << 61, words: 4) }
    static func account(_ number: Int) -> String { "hmac-sha256:" + hex(UInt64(number) | 1 << 60, words: 4) }

    func run(_ context: BenchContext) async throws -> [BenchRow] {
        let count = context.options.entries
        // Every image is named by about five events and every account by count / 10,000, whatever the size:
        // the answers are the same size at 10^6 and 10^7, only the history around them grows.
        let images = UInt64(max(1, count / 5))
        let path = context.options.searchStore ?? context.scratch.appendingPathComponent("search.sqlite").path
        let reuse = FileManager.default.fileExists(atPath: path)
        let store = try SQLiteStore(path: path)
        let samples = context.options.searchLookups
        let batchSize = min(10_000, count)
        let stored = count - count % batchSize
        var fillNote = "reused \(path)"
        if reuse {
            guard try await store.treeSize() == UInt64(stored) else {
                throw BenchFailure("\(path) holds \(try await store.treeSize()) events, not \(stored): remove it or give its --entries")
            }
        } else {
            context.say("search: storing \(count) events (UUID-like IDs, random image hashes, ~800-byte bodies) with search terms (not timed)")
            let filling = ContinuousClock.now
            try await Self.fill(store, count: stored, batchSize: batchSize, images: images)
            fillNote = "filled in \(ContinuousClock.now - filling)"
            context.say("search: \(fillNote)")
        }
        let filtering = ContinuousClock.now
        let filters = try await store.buildRunFilters()
        fillNote += "; \(filters) run filters made in \(ContinuousClock.now - filtering)"
        context.say("search: \(fillNote)")
        // Spread over the whole log (one sample in each of `samples` equal slices), so that at 10^7 as at
        // 10^6 a lookup by leaf, ID or index finds entries in every run, not only in the oldest.
        let slice = stored / samples
        func sample(_ i: Int) -> Int { slice > 0 ? i * slice + i * 487 % slice : i * 487 % stored }
        var sampledLeaves: [Int: Hash] = [:]
        for i in 0..<samples { sampledLeaves[sample(i)] = MerkleHash.leaf(try await store.readEntries(first: UInt64(sample(i)), count: 1)[0]) }

        func measure(_ body: (Int) async throws -> Void) async throws -> Pass {
            var times: [Double] = []
            let readBefore = Self.blocksReadFromDisk()
            for i in 0..<samples {
                let start = ContinuousClock.now
                try await body(i)
                let elapsed = ContinuousClock.now - start
                times.append(Double(elapsed.components.attoseconds) * 1e-15 + Double(elapsed.components.seconds) * 1000)
            }
            times.sort()
            // 512-byte blocks, as getrusage counts them, into 4 KiB pages per lookup.
            let pages = Double(Self.blocksReadFromDisk() - readBefore) / 8 / Double(samples)
            return Pass(p50: times[samples / 2], p99: times[samples * 99 / 100], diskPagesPerLookup: pages)
        }
        var matches = 0
        let lookups: [(name: String, body: (Int) async throws -> Void)] = [
            ("one event by index", { i in _ = try await store.readEvent(index: UInt64(sample(i))) }),
            ("by leaf hash", { i in
                guard try await store.leafIndex(of: sampledLeaves[sample(i)]!) == UInt64(sample(i)) else { throw BenchFailure("a stored leaf was not found") }
            }),
            ("by event ID (+ body)", { i in
                let key = EventKey(platform: "bench.example", eventID: Self.eventID(sample(i)))
                guard let found = try await store.locateEvents([key])[key] else { throw BenchFailure("a stored event ID was not found") }
                _ = try await store.readEvent(index: found.index)
            }),
            ("by account, index only (100 indices)", { i in
                _ = try await store.searchEvents(EventQuery(account: Self.account(i * 11 % 10_000), limit: 100))
            }),
            ("by account (+ 100 bodies)", { i in
                let ids = try await store.searchEvents(EventQuery(account: Self.account(i * 7 % 10_000), limit: 100))
                for index in ids { _ = try await store.readEvent(index: index) }
            }),
            ("by content hash, index only", { i in
                _ = try await store.searchEvents(EventQuery(contentHash: Self.image(UInt64(i * 17) % images), limit: 100))
            }),
            ("by content hash (+ bodies)", { i in
                let ids = try await store.searchEvents(EventQuery(contentHash: Self.image(UInt64(i * 13) % images), limit: 100))
                matches += ids.count
                for index in ids { _ = try await store.readEvent(index: index) }
            }),
            ("kind + 1 s time range", { i in
                let start = 1_790_000_000_000 + UInt64(i * 499 % stored)
                _ = try await store.searchEvents(EventQuery(kinds: ["edit.requested"], timeRange: start..<start + 1000, limit: 100))
            }),
        ]
        // First as the file is (what the page cache holds after filling or from earlier runs), then
        // each kind right after reading the whole file and a quarter pass: the second pass shows the lookups' own cost,
        // the first what a server whose memory holds less of the file pays on top. Each kind reads
        // the file again because a kernel may page out file pages left untouched for a while (this
        // VM's DAMON pageout does after 60 s) while the kinds before it run. Both passes count the
        // pages read from disk, so a tail that comes from the disk shows as such.
        context.say("search: \(samples) lookups of each kind, as the file is")
        var first: [Pass] = []
        for lookup in lookups { first.append(try await measure(lookup.body)) }
        var warm: [Pass] = []
        var bytes = 0
        for lookup in lookups {
            context.say("search: reading \(path) into the page cache, then \(samples) lookups \(lookup.name)")
            bytes = try Self.readThrough(path)
            // The kernel reclaims memory for a moment after a read of many GiB (kswapd, on the cores the lookups use).
            try await Task.sleep(for: .seconds(2))
            // A quarter pass first, not timed: the readers' own page caches hold this kind's inner pages, as a serving node's do.
            for i in stride(from: 0, to: samples, by: 4) { try await lookup.body(i) }
            warm.append(try await measure(lookup.body))
        }
        let physical = ProcessInfo.processInfo.physicalMemory
        return lookups.indices.map { k in
            var note =
                "p99 \(String(format: "%.3f", warm[k].p99)) ms, \(String(format: "%.2f", warm[k].diskPagesPerLookup)) pages from disk per lookup; "
                + "first pass p50 / p99 \(String(format: "%.3f / %.3f", first[k].p50, first[k].p99)) ms, "
                + "\(String(format: "%.2f", first[k].diskPagesPerLookup)) pages from disk per lookup"
            if k == 0 {
                note += "; \(count) events, \(bytes >> 20) MiB file (RAM \(physical >> 20) MiB), \(fillNote)"
            }
            if lookups[k].name == "by content hash (+ bodies)" {
                note += "; \(String(format: "%.1f", Double(matches) / Double(2 * samples))) matches per lookup"
            }
            return BenchRow(
                "search: \(lookups[k].name) p50", warm[k].p50, "ms", reference: k == 0 ? nil : "read by index",
                referenceValue: k == 0 ? nil : warm[0].p50, note: note)
        }
    }

    static func fill(_ store: SQLiteStore, count: Int, batchSize: Int, images: UInt64) async throws {
        var frontier = MerkleFrontier()
        var previous = Hash.zero
        var random = BenchRandom(seed: 42)
        let prompt = String(repeating: "a photo-realistic edit of the uploaded picture, ", count: 13)
        for first in stride(from: 0, to: count, by: batchSize) {
            var events: [SequencedEvent] = []
            var nodes: [MerkleFrontier.Node] = []
            for index in first..<first + batchSize {
                let account = Self.account(index % 10_000)
                let image = Self.image(random.next() % images)
                let id = Self.eventID(index)
                let body = Array(
                    "{\"account\":\"\(account)\",\"event_id\":\"\(id)\",\"image\":\"\(image)\",\"kind\":\"edit.requested\",\"platform\":\"bench.example\",\"prompt\":\"\(prompt)\"}".utf8)
                let salt = Commitment.newSalt()
                let entry = LedgerEntry(
                    index: UInt64(index), sequencedAtMilliseconds: 1_790_000_000_000 + UInt64(index), prev: previous,
                    commitment: Commitment.commit(salt: salt, canonicalBody: body), kind: "edit.requested")
                let encoded = entry.encoded
                let leaf = MerkleHash.leaf(encoded)
                frontier.append(leaf) { nodes.append($0) }
                previous = leaf
                events.append(
                    SequencedEvent(
                        index: UInt64(index), eventID: id, platform: "bench.example", kind: "edit.requested", canonicalBody: body, salt: salt,
                        bodyDigest: MerkleHash.sha256(body), entry: encoded, leafHash: leaf, sequencedAtMilliseconds: entry.sequencedAtMilliseconds,
                        terms: EventSearchTerms(account: account, contentHashes: [image], occurredAtMilliseconds: entry.sequencedAtMilliseconds)))
            }
            try await store.append(AppendBatch(firstIndex: UInt64(first), events: events, nodes: nodes))
        }
    }

    struct Pass {
        let p50: Double
        let p99: Double
        let diskPagesPerLookup: Double
    }

    /// 512-byte blocks this process has read from storage (not from the page cache) so far.
    static func blocksReadFromDisk() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_inblock
    }

    /// Reads the file from start to end (into the page cache); its size.
    static func readThrough(_ path: String) throws -> Int {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw BenchFailure("cannot read \(path)") }
        defer { try? handle.close() }
        var total = 0
        while let chunk = try handle.read(upToCount: 8 << 20), !chunk.isEmpty { total += chunk.count }
        return total
    }
}

/// A benchmark whose store gave a wrong answer: its timings would measure a bug.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
