import Foundation
import GreffeCore

/// `shard-lookup`: an investigator's search by image hash at the root of a ledger of many sealed shards
/// (every shard searched, oldest first), against the same search in the one shard that holds the answer
/// (`/v1/shards/K/…`) on the same server. Sealed shards' filters let the root search skip the shards that
/// cannot hold the hash; without them it would search every shard's store.
struct ShardLookupBenchmark: Benchmark {
    let name = "shard-lookup"
    let summary =
        "content-hash search (GET /v1/events?content_hash=) at the root of --lookup-shards sealed shards of 20,000 realistic events vs the same search in the one shard that holds the answer"

    private let shardEntries = 20_000
    private let connections = 2

    func run(_ context: BenchContext) async throws -> [BenchRow] {
        guard BenchContext.onPath("wrk") else {
            return [BenchRow("shard-lookup", 0, "ms", note: "skipped: wrk is not installed (apt-get install wrk; ops/bench.sh does it)")]
        }
        let sealedWanted = context.options.lookupShards
        let server = try BenchServer.start(
            context, name: "shardlookup", serveArguments: ["--shard-max-entries", "\(shardEntries)", "--no-public-lookup", "--token-rate", "0"])
        defer { server.stop() }
        context.say("shard-lookup: appending random-key events (100/request) until \(sealedWanted) shards of \(shardEntries) are sealed")
        var round = 0
        while try Self.shardCount(server) <= sealedWanted {
            round += 1
            guard round <= 100 else { throw BenchFailure("shard-lookup: \(try Self.shardCount(server)) shards after 100 load runs") }
            let environment = ["GREFFE_TOKEN": server.appendToken, "GREFFE_BATCH": "100", "GREFFE_KEYS": "random", "GREFFE_RUN": "k\(round)-\(getpid())"]
            _ = try WrkResult.run(context, script: "append.lua", connections: 32, url: server.url, environment: environment)
        }
        let shards = try Self.shardCount(server)
        let sealed = shards - 1
        // The filters are made in the background after each rollover; wait for every sealed shard's.
        let deadline = Date().addingTimeInterval(300)
        while try Self.filteredShards(server) < sealed {
            guard Date() < deadline else { throw BenchFailure("shard-lookup: \(try Self.filteredShards(server)) of \(sealed) sealed shards have a filter after 5 minutes") }
            try await Task.sleep(for: .milliseconds(500))
        }

        // Hashes that are there: input images of events read back from a shard in the middle; and hashes no event has.
        let holder = sealed / 2
        let listing = try Self.get(server, "/v1/shards/\(holder)/v1/events?kind=generation.requested&limit=200")
        let present = try (JSONParser.parse(Array(listing.utf8))["events"]?.arrayValue ?? []).compactMap { event -> String? in
            guard let body = event["body"]?.objectValue, let images = body["input_images"]?.arrayValue else { return nil }
            return images.first?["sha256"]?.stringValue
        }
        guard present.count >= 100 else { throw BenchFailure("shard-lookup: only \(present.count) image hashes read back from shard \(holder)") }
        var random = BenchRandom(seed: 7)
        let absent = (0..<500).map { _ in (0..<4).map { _ in String(random.next(), radix: 16).leftPadded(to: 16) }.joined() }

        let loads: [(label: String, hashes: [String], prefix: String, expect: String)] = [
            ("absent hash, root (\(shards) shards)", absent, "/v1/events", "empty"),
            ("absent hash, one shard", absent, "/v1/shards/\(holder)/v1/events", "empty"),
            ("present hash, root (\(shards) shards)", present, "/v1/events", "found"),
            ("present hash, its shard", present, "/v1/shards/\(holder)/v1/events", "found"),
        ]
        var results: [WrkResult] = []
        for load in loads {
            let file = context.scratch.appendingPathComponent("paths-\(results.count).txt")
            try load.hashes.map { "\(load.prefix)?content_hash=sha256:\($0)&limit=10" }.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
            context.say("shard-lookup: \(load.label), \(connections) connections")
            results.append(
                try WrkResult.run(
                    context, script: "search.lua", connections: connections, url: server.url,
                    environment: ["GREFFE_TOKEN": server.investigateToken, "GREFFE_PATHS": file.path, "GREFFE_EXPECT": load.expect]))
        }
        let skipped = try Self.metric(server, "greffe_sealed_shards_skipped_total")
        func row(_ k: Int, reference: Int) -> BenchRow {
            BenchRow(
                "shard-lookup: \(loads[k].label) p99", results[k].p99Milliseconds, "ms", reference: loads[reference].label + " p99",
                referenceValue: results[reference].p99Milliseconds,
                note: String(
                    format: "p50 %.2f ms (%.2f ms in one shard), %.0f searches/s, %d connections", results[k].p50Milliseconds,
                    results[reference].p50Milliseconds, results[k].rate, connections)
                    + (k == 0 ? "; \(sealed) sealed shards of \(shardEntries) events, \(Int(skipped)) sealed-shard searches skipped by their filters" : ""))
        }
        return [row(0, reference: 1), row(2, reference: 3)]
    }

    static func get(_ server: BenchServer, _ path: String) throws -> String {
        try BenchContext.capture(["curl", "-sf", "-H", "Authorization: Bearer \(server.investigateToken)", "\(server.url)\(path)"])
    }

    static func shardCount(_ server: BenchServer) throws -> Int {
        (try JSONParser.parse(Array(try BenchContext.capture(["curl", "-sf", "\(server.url)/v1/shards"]).utf8)))["shards"]?.arrayValue?.count ?? 0
    }

    static func filteredShards(_ server: BenchServer) throws -> Int { Int(try metric(server, "greffe_sealed_shard_filters")) }

    /// A metric's value from /metrics (0 when not there yet).
    static func metric(_ server: BenchServer, _ name: String) throws -> Double {
        let text = try BenchContext.capture(["curl", "-sf", "\(server.url)/metrics"])
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") || line.hasPrefix(name + "{") {
            return Double(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }
}
