import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import Testing
import GreffeSQLite

/// A ledger whose metrics go to a registry of its own (the global one is
/// shared by the tests running in parallel), optionally exporting static tiles.
struct MeteredLedger {
    let registry: PrometheusCollectorRegistry
    let directory: URL
    let store: SQLiteStore
    let ledger: Ledger
    let exporter: TileExporter?
    let running: Task<Void, Never>
    let appendToken: String

    static func make(exportTiles: Bool = false) async throws -> MeteredLedger {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let registry = PrometheusCollectorRegistry()
        let factory = ServerMetrics.factory(registry: registry)
        let store = try SQLiteStore(path: directory.appendingPathComponent("greffe.sqlite").path)
        let signer = try NoteSigner(generatingFor: "metrics.example/log")
        let exporter =
            exportTiles
            ? TileExporter(
                directory: directory.appendingPathComponent("tiles").path, store: store, verifier: signer.verifier,
                logger: Logger(label: "test"), metricsFactory: factory) : nil
        let ledger = try await Ledger.open(
            store: store, signer: signer, checkpointInterval: .milliseconds(20), metricsFactory: factory,
            checkpointStored: exporter?.checkpointStoredHook)
        let running = Task { await ledger.run() }
        let token = try await TokenAuthority(store: store).create(name: "platform", role: .append, platform: "example-ai").token
        return MeteredLedger(
            registry: registry, directory: directory, store: store, ledger: ledger, exporter: exporter, running: running,
            appendToken: token)
    }

    init(
        registry: PrometheusCollectorRegistry, directory: URL, store: SQLiteStore, ledger: Ledger, exporter: TileExporter?,
        running: Task<Void, Never>, appendToken: String
    ) {
        self.registry = registry
        self.directory = directory
        self.store = store
        self.ledger = ledger
        self.exporter = exporter
        self.running = running
        self.appendToken = appendToken
    }

    func application() throws -> some ApplicationProtocol {
        let registry = self.registry
        let api = LedgerAPI(ledger: ledger) {
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return buffer
        }
        return try buildApplication(api: api, configuration: ServeConfiguration(address: .hostname("127.0.0.1", port: 0)))
    }

    func stop() async {
        ledger.shutdown()
        await running.value
    }
}

/// The samples of a Prometheus text exposition, keyed by `name{labels}` as printed.
func parseSamples(_ text: String) -> [String: Double] {
    var samples: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        samples[String(line[..<space])] = value
    }
    return samples
}

@Suite("GET /metrics")
struct MetricsTests {
    @Test("appends by outcome, batch sizes, ack-to-checkpoint, store latency, tree and checkpoint, tile export, disk space")
    func familiesAndValues() async throws {
        let test = try await MeteredLedger.make(exportTiles: true)
        let scraped = try await test.application().test(.router) { client in
            let batch = "{\"events\":[\(event("m-1", reference: "1")),\(event("m-2", reference: "2")),\(event("m-3", reference: "3"))]}"
            let first = try await client.execute(uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(batch))
            #expect(first.status == .created)
            let single = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(event("m-4", reference: "4")))
            #expect(single.status == .created)
            let duplicate = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(event("m-4", reference: "4")))
            #expect(duplicate.status == .ok)
            let conflict = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(event("m-4", reference: "other")))
            #expect(conflict.status == .conflict)
            // A receipt: answered once a checkpoint covers all five entries.
            let receipt = try await client.execute(
                uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(event("m-5", reference: "5")))
            #expect(receipt.status == .created)
            #expect(try receipt.json["checkpoint"]?.stringValue?.contains("\n5\n") == true)
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(metrics.status == .ok)
            #expect(metrics.headers[.contentType]?.hasPrefix("text/plain") == true)
            return metrics.text
        }
        await test.stop()
        let samples = parseSamples(scraped)

        #expect(samples["greffe_appends_total{outcome=\"new\"}"] == 5)
        #expect(samples["greffe_appends_total{outcome=\"duplicate\"}"] == 1)
        #expect(samples["greffe_appends_total{outcome=\"conflict\"}"] == 1)
        #expect(samples["greffe_appends_total{outcome=\"failed\"}"] == 0)
        // Three commits (the batch of 3, two singles); re-sends and conflicts write nothing.
        #expect(samples["greffe_batch_events_count"] == 3)
        #expect(samples["greffe_batch_events_sum"] == 5)
        #expect(samples["greffe_batch_events_bucket{le=\"1.0\"}"] == 2)
        #expect(samples["greffe_store_seconds_count{operation=\"append\"}"] == 3)
        #expect(samples["greffe_store_seconds_count{operation=\"locate\"}"] == 5)
        #expect((samples["greffe_store_seconds_count{operation=\"checkpoint\"}"] ?? 0) >= 2)
        // Every commit was covered by a checkpoint before the receipt was answered.
        #expect(samples["greffe_ack_to_checkpoint_seconds_count"] == 3)
        #expect(samples["greffe_ack_to_checkpoint_seconds_bucket{le=\"+Inf\"}"] == 3)
        let ackSum = try #require(samples["greffe_ack_to_checkpoint_seconds_sum"])
        #expect(ackSum > 0 && ackSum < 10)
        #expect(samples["greffe_tree_size"] == 5)
        #expect(samples["greffe_checkpoint_tree_size"] == 5)
        let signedAt = try #require(samples["greffe_checkpoint_signed_timestamp_seconds"])
        #expect(abs(signedAt - Date().timeIntervalSince1970) < 60)
        #expect(samples["greffe_tile_export_tree_size"] == 5)
        #expect(samples["greffe_tile_export_failures_total"] == 0)
        #expect((samples["greffe_tile_export_files_total"] ?? 0) >= 3)
        #expect(scraped.contains("# TYPE greffe_ack_to_checkpoint_seconds histogram"))
        #expect(scraped.contains("# TYPE greffe_appends_total counter"))
    }

    @Test("free and total disk space of the data directory, and the SQLite WAL's size")
    func diskSpace() throws {
        let registry = PrometheusCollectorRegistry()
        let wal = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-wal-metric-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: wal) }
        let monitor = DiskSpaceMonitor(
            volumes: [(name: "data", path: FileManager.default.temporaryDirectory.path)], walPath: wal, logger: Logger(label: "test"),
            metricsFactory: ServerMetrics.factory(registry: registry))
        func scrape() -> [String: Double] {
            monitor.sampleOnce()
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return parseSamples(String(decoding: buffer, as: UTF8.self))
        }
        #expect(scrape()["greffe_sqlite_wal_bytes"] == 0)
        #expect(FileManager.default.createFile(atPath: wal, contents: Data(repeating: 7, count: 12_345)))
        let samples = scrape()
        #expect(samples["greffe_sqlite_wal_bytes"] == 12_345)
        let free = try #require(samples["greffe_disk_free_bytes{volume=\"data\"}"])
        let size = try #require(samples["greffe_disk_size_bytes{volume=\"data\"}"])
        let direct = try #require(DiskSpaceMonitor.sample(path: FileManager.default.temporaryDirectory.path))
        #expect(size > 0 && free <= size)
        #expect(size == Double(direct.size))
        // Free space moves a little between two samples on a busy machine.
        #expect(abs(free - Double(direct.free)) < 1e9)
    }
}
