import Foundation
public import GreffeLedger
import GreffeCore
import GreffeStore
public import GreffeTimestamp
public import Logging
public import Metrics
public import ServiceLifecycle
import Synchronization

/// Obtains RFC 3161 timestamp tokens for the log's checkpoints from a TSA
/// (`greffe serve --tsa-url`), at most one request per `interval`, always
/// for the latest signed checkpoint not yet timestamped: a token dates its
/// checkpoint and, through consistency proofs, every smaller one.
///
/// The token's message imprint is SHA-256 of the checkpoint's signed body
/// ("origin\nsize\nroot\n" and any extension lines), not of the whole note:
/// the note's signature lines grow when witnesses cosign, its body never
/// changes for a size (`Timestamp.imprint(ofCheckpointNote:)`).
///
/// A reply is stored only after it verified: imprint, our nonce, signature
/// and chain to the configured TSA certificate, policy. Nothing here ever
/// holds back appends or checkpoints: a TSA that is down, slow or answers
/// garbage costs a warning, a metric and a retry at the next interval.
///
/// Metrics: `greffe_tsa_requests_total{outcome}` (success, unreachable,
/// rejected, invalid, store_error), `greffe_tsa_last_success_timestamp_seconds`,
/// `greffe_tsa_timestamped_tree_size`, and `greffe_tsa_gap_entries`: entries
/// of the latest checkpoint that no token covers yet.
public final class CheckpointTimestamper: Sendable {
    /// Sends a DER TimeStampReq, returns the DER TimeStampResp (HTTP in `greffe serve`).
    public typealias Transport = @Sendable (_ request: [UInt8]) async throws -> [UInt8]

    public enum Outcome: Sendable, Equatable {
        case stamped(size: UInt64)
        /// The latest checkpoint already has a token.
        case upToDate
        /// A follower on a shared store: the sequencer timestamps.
        case notSequencer
        case failed(outcome: String, reason: String)
    }

    public let ledger: Ledger
    public let trust: TimestampTrust
    public let interval: Duration
    private let transport: Transport
    private let logger: Logger
    /// Size of the latest checkpoint known to have a token (nil: ask the store).
    private let stampedSize = Mutex<UInt64?>(nil)

    private let requests: [String: Counter]
    private let lastSuccess: Gauge
    private let stampedSizeGauge: Gauge
    private let gapEntries: Gauge

    static let outcomes = ["success", "unreachable", "rejected", "invalid", "store_error"]

    public init(
        ledger: Ledger, trust: TimestampTrust, interval: Duration = .seconds(10), transport: @escaping Transport, logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.ledger = ledger
        self.trust = trust
        self.interval = interval
        self.transport = transport
        self.logger = logger
        let factory = metricsFactory ?? MetricsSystem.factory
        var requests: [String: Counter] = [:]
        for outcome in CheckpointTimestamper.outcomes {
            requests[outcome] = Counter(label: "greffe_tsa_requests_total", dimensions: [("outcome", outcome)], factory: factory)
        }
        self.requests = requests
        lastSuccess = Gauge(label: "greffe_tsa_last_success_timestamp_seconds", factory: factory)
        stampedSizeGauge = Gauge(label: "greffe_tsa_timestamped_tree_size", factory: factory)
        gapEntries = Gauge(label: "greffe_tsa_gap_entries", factory: factory)
    }

    /// Requests until cancelled: one round, then `interval`, and so on.
    public func run() async {
        while !Task.isCancelled {
            _ = await stampLatest()
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }

    /// One round: a token for the latest checkpoint unless it has one.
    @discardableResult
    public func stampLatest() async -> Outcome {
        guard ledger.isSequencer else { return .notSequencer }
        guard let checkpoint = ledger.latestCheckpoint else { return .upToDate }
        var known = stampedSize.withLock { $0 }
        do {
            if known == nil { known = try await ledger.latestAttestation(kind: .rfc3161Token)?.size }
        } catch {
            return failed("store_error", "cannot read the latest timestamp token: \(error)", size: checkpoint.size)
        }
        if let known {
            stampedSize.withLock { $0 = max($0 ?? 0, known) }
            stampedSizeGauge.record(known)
            gapEntries.record(checkpoint.size > known ? checkpoint.size - known : 0)
            if known >= checkpoint.size { return .upToDate }
        } else {
            gapEntries.record(checkpoint.size)
        }

        let imprint: Hash
        let request: TimestampRequest
        do {
            imprint = try Timestamp.imprint(ofCheckpointNote: checkpoint.note)
            request = try Timestamp.request(imprint: imprint, policy: trust.policy)
        } catch {
            return failed("invalid", "cannot build the request: \(error)", size: checkpoint.size)
        }
        let reply: [UInt8]
        do {
            reply = try await transport(request.der)
        } catch {
            return failed("unreachable", "\(error)", size: checkpoint.size)
        }
        let token: [UInt8]
        let info: TimestampInfo
        do {
            token = try Timestamp.token(fromResponse: reply)
            // Our nonce too: a replayed or misrouted answer is refused.
            info = try Timestamp.verify(token: token, imprint: imprint, nonce: request.nonce, trust: trust)
        } catch {
            return failed(error.code == .notGranted ? "rejected" : "invalid", "\(error.code.rawValue): \(error.message)", size: checkpoint.size)
        }
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        do {
            try await ledger.storeAttestation(
                CheckpointAttestation(size: checkpoint.size, kind: .rfc3161Token, data: token, createdAtMilliseconds: now))
        } catch {
            return failed("store_error", "cannot store the token: \(error)", size: checkpoint.size)
        }
        stampedSize.withLock { $0 = max($0 ?? 0, checkpoint.size) }
        requests["success"]?.increment()
        lastSuccess.record(Double(now) / 1000)
        stampedSizeGauge.record(checkpoint.size)
        let latest = ledger.latestCheckpoint?.size ?? 0
        gapEntries.record(latest > checkpoint.size ? latest - checkpoint.size : 0)
        logger.info(
            "checkpoint timestamped",
            metadata: [
                "tree_size": "\(checkpoint.size)", "gen_time": "\(info.genTimeRFC3339)", "serial": "\(info.serialHex)",
                "tsa": "\(info.signerSubject ?? "")",
            ])
        return .stamped(size: checkpoint.size)
    }

    private func failed(_ outcome: String, _ reason: String, size: UInt64) -> Outcome {
        requests[outcome]?.increment()
        // The reason is ours or the TSA's (status text, libcrypto's reason): never a credential.
        logger.warning(
            "timestamp request failed; appends and checkpoints go on, retrying at the next interval",
            metadata: ["tree_size": "\(size)", "outcome": "\(outcome)", "reason": "\(reason.prefix(300))"])
        return .failed(outcome: outcome, reason: reason)
    }
}

/// Runs a `CheckpointTimestamper` beside the ledger; stops at shutdown.
public struct TimestampService: Service {
    public let timestamper: CheckpointTimestamper

    public init(timestamper: CheckpointTimestamper) {
        self.timestamper = timestamper
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await timestamper.run() }
    }
}
