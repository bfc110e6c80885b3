import Foundation
public import Logging
public import Metrics
public import Prometheus
public import ServiceLifecycle

/// The Prometheus setup `greffe serve` uses (and the metrics test, on its own registry).
public enum ServerMetrics {
    /// The factory with histogram buckets fitted to what each metric measures;
    /// swift-prometheus' defaults stop at 10 s, too short for alerting on a
    /// stalled checkpointer.
    public static func factory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        let seconds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
        let durations = seconds.map { Duration.milliseconds(Int64($0 * 1000)) }
        factory.durationHistogramBuckets["greffe_ack_to_checkpoint_seconds"] = durations
        factory.durationHistogramBuckets["greffe_store_seconds"] = durations
        factory.durationHistogramBuckets["greffe_tile_export_seconds"] = durations
        // Batch sizes run from 1 to Ledger's maxBatchEvents (10,000 by default).
        factory.valueHistogramBuckets["greffe_batch_events"] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
        return factory
    }
}

/// Samples free and total bytes of the file systems holding the data (and
/// the static tiles) every `interval`, as `greffe_disk_free_bytes{volume}`
/// and `greffe_disk_size_bytes{volume}`: a full disk stops appends, so it is
/// alerted on before it happens. With `walPath`, also the size of the SQLite
/// WAL (`greffe_sqlite_wal_bytes`): it stays near 64 MiB while checkpoints
/// work, so a WAL that keeps growing means they do not (a long reader, or
/// failing checkpoints).
public struct DiskSpaceMonitor: Service {
    public let volumes: [(name: String, path: String)]
    public let walPath: String?
    public let interval: Duration
    private let free: [Metrics.Gauge]
    private let size: [Metrics.Gauge]
    private let walSize: Metrics.Gauge?
    private let logger: Logger

    public init(
        volumes: [(name: String, path: String)], walPath: String? = nil, interval: Duration = .seconds(15), logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.volumes = volumes
        self.walPath = walPath
        self.interval = interval
        self.logger = logger
        let factory = metricsFactory ?? MetricsSystem.factory
        free = volumes.map { Metrics.Gauge(label: "greffe_disk_free_bytes", dimensions: [("volume", $0.name)], factory: factory) }
        size = volumes.map { Metrics.Gauge(label: "greffe_disk_size_bytes", dimensions: [("volume", $0.name)], factory: factory) }
        walSize = walPath.map { _ in Metrics.Gauge(label: "greffe_sqlite_wal_bytes", factory: factory) }
    }

    /// Bytes available to an unprivileged process (f_bavail) and the file system's size.
    public static func sample(path: String) -> (free: UInt64, size: UInt64)? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let unit = UInt64(info.f_frsize)
        return (UInt64(info.f_bavail) * unit, UInt64(info.f_blocks) * unit)
    }

    public func sampleOnce() {
        for (position, volume) in volumes.enumerated() {
            guard let sample = DiskSpaceMonitor.sample(path: volume.path) else {
                logger.warning("cannot read free disk space", metadata: ["path": "\(volume.path)", "errno": "\(errno)"])
                continue
            }
            free[position].record(Double(sample.free))
            size[position].record(Double(sample.size))
        }
        if let walPath, let walSize {
            // No WAL file (every connection closed it cleanly) is an empty WAL.
            var info = stat()
            walSize.record(stat(walPath, &info) == 0 ? Double(info.st_size) : 0)
        }
    }

    /// Samples until graceful shutdown (returning earlier would stop the whole service group).
    public func run() async throws {
        sampleOnce()
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                sampleOnce()
            }
        }
    }
}
