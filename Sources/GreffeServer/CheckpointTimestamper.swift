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

    /// What one round of renewals did.
    public struct RenewalRound: Sendable, Equatable {
        /// Tokens looked at, and the sizes of those renewed now.
        public var examined = 0
        public var renewed: [UInt64] = []
        /// Tokens whose chain's last certificate expired before it was renewed: too late to renew.
        public var expired = 0
        /// Why the round stopped early, if it did (the TSA, the store).
        public var stopped: String?

        public init() {}
    }

    /// The ledger's shards: new checkpoints are the active shard's; each sealed shard's seal gets a token once;
    /// renewals go over every shard's tokens.
    public let shards: ShardedLedger
    public var ledger: Ledger { shards.active }
    public let trust: TimestampTrust
    public let interval: Duration
    /// Renew a token whose chain ends in a certificate expiring within this; nil: never.
    public let renewWithin: Duration?
    /// Tokens looked at, and chains renewed (by one TSA request), in one round at most.
    public let renewalScanPerRound: Int
    public let renewalsPerRound: Int
    /// After a TSA answered with a certificate no longer-lived than one to renew, no
    /// renewal is asked for this long: each such token is thrown away (and may be billed).
    public let staleCertificateBackoff: Duration
    private let renewalsPausedUntil = Mutex<ContinuousClock.Instant?>(nil)
    private let transport: Transport
    private let logger: Logger
    /// The active shard and the size of its latest checkpoint known to have a token (nil: ask the store).
    private let stampedSize = Mutex<(shard: Int, size: UInt64)?>(nil)
    /// Sealed shards whose seal (final checkpoint) is known to have a token.
    private let sealsStamped = Mutex<Set<Int>>([])
    /// The shard and size the next renewal round starts looking from; back to the start after the last token.
    private let renewalCursor = Mutex<(shard: Int, size: UInt64)>((0, 0))
    private let renewals: [String: Counter]

    private let requests: [String: Counter]
    private let lastSuccess: Gauge
    private let stampedSizeGauge: Gauge
    private let gapEntries: Gauge

    static let outcomes = ["success", "unreachable", "rejected", "invalid", "store_error"]
    /// `greffe_tsa_renewals_total{outcome}`: `stale_certificate` when the TSA's certificate
    /// expires no later than the one it would renew, `expired` when a chain's last certificate
    /// expired before it could be renewed.
    static let renewalOutcomes = ["success", "unreachable", "rejected", "invalid", "store_error", "stale_certificate", "expired"]

    public convenience init(
        ledger: Ledger, trust: TimestampTrust, interval: Duration = .seconds(10), renewWithin: Duration? = nil,
        renewalScanPerRound: Int = 10_000, renewalsPerRound: Int = 1_000, staleCertificateBackoff: Duration = .seconds(3_600),
        transport: @escaping Transport, logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.init(
            shards: ShardedLedger(single: ledger), trust: trust, interval: interval, renewWithin: renewWithin, renewalScanPerRound: renewalScanPerRound,
            renewalsPerRound: renewalsPerRound, staleCertificateBackoff: staleCertificateBackoff, transport: transport, logger: logger,
            metricsFactory: metricsFactory)
    }

    public init(
        shards: ShardedLedger, trust: TimestampTrust, interval: Duration = .seconds(10), renewWithin: Duration? = nil,
        renewalScanPerRound: Int = 10_000, renewalsPerRound: Int = 1_000, staleCertificateBackoff: Duration = .seconds(3_600),
        transport: @escaping Transport, logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.shards = shards
        self.trust = trust
        self.interval = interval
        self.renewWithin = renewWithin
        self.renewalScanPerRound = renewalScanPerRound
        self.renewalsPerRound = renewalsPerRound
        self.staleCertificateBackoff = staleCertificateBackoff
        self.transport = transport
        self.logger = logger
        let factory = metricsFactory ?? MetricsSystem.factory
        var renewals: [String: Counter] = [:]
        for outcome in CheckpointTimestamper.renewalOutcomes {
            renewals[outcome] = Counter(label: "greffe_tsa_renewals_total", dimensions: [("outcome", outcome)], factory: factory)
        }
        self.renewals = renewals
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
            if renewWithin != nil { _ = await renewExpiring() }
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }

    /// One round: a token for each sealed shard's seal that has none (once), then for the active shard's
    /// latest checkpoint unless it has one.
    @discardableResult
    public func stampLatest() async -> Outcome {
        guard ledger.isSequencer else { return .notSequencer }
        let all = shards.shards
        for sealed in all.dropLast() where !sealsStamped.withLock({ $0.contains(sealed.number) }) {
            switch await stamp(sealed.ledger, shard: sealed.number, active: false) {
            case .failed(let outcome, let reason): return .failed(outcome: outcome, reason: reason)
            default: sealsStamped.withLock { _ = $0.insert(sealed.number) }
            }
        }
        return await stamp(all.last!.ledger, shard: all.last!.number, active: true)
    }

    /// A token for `ledger`'s latest checkpoint unless it has one; the gauges follow the active shard only.
    private func stamp(_ ledger: Ledger, shard: Int, active: Bool) async -> Outcome {
        guard let checkpoint = ledger.latestCheckpoint else { return .upToDate }
        var known = active ? stampedSize.withLock { $0?.shard == shard ? $0?.size : nil } : nil
        do {
            if known == nil { known = try await ledger.latestAttestation(kind: .rfc3161Token)?.size }
        } catch {
            return failed("store_error", "cannot read the latest timestamp token: \(error)", size: checkpoint.size)
        }
        if let known {
            if active {
                stampedSize.withLock { $0 = (shard, max($0?.shard == shard ? $0!.size : 0, known)) }
                stampedSizeGauge.record(known)
                gapEntries.record(checkpoint.size > known ? checkpoint.size - known : 0)
            }
            if known >= checkpoint.size { return .upToDate }
        } else if active {
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
        requests["success"]?.increment()
        lastSuccess.record(Double(now) / 1000)
        if active {
            stampedSize.withLock { $0 = (shard, max($0?.shard == shard ? $0!.size : 0, checkpoint.size)) }
            stampedSizeGauge.record(checkpoint.size)
            let latest = ledger.latestCheckpoint?.size ?? 0
            gapEntries.record(latest > checkpoint.size ? latest - checkpoint.size : 0)
        }
        logger.info(
            "checkpoint timestamped",
            metadata: [
                "origin": "\(ledger.origin)", "tree_size": "\(checkpoint.size)", "gen_time": "\(info.genTimeRFC3339)", "serial": "\(info.serialHex)",
                "tsa": "\(info.signerSubject ?? "")",
            ])
        return .stamped(size: checkpoint.size)
    }

    /// One round of renewals (`Schemas/bundle.md`, "Renewed timestamps"): from the
    /// cursor, the stored tokens whose chain (the token, then its renewals) ends in a
    /// certificate that expires within `renewWithin`, up to `renewalsPerRound`, are
    /// renewed together by **one** TSA token over the root of a tree of their renewal
    /// messages (each over the checkpoint and its whole chain); each chain gets that
    /// token with its leaf's inclusion proof. The token is verified like any other and
    /// kept only if its certificate outlives every one it renews: otherwise the round
    /// gains nothing and stops with a warning.
    @discardableResult
    public func renewExpiring(nowSeconds now: Int64? = nil) async -> RenewalRound {
        let nowSeconds = now ?? Int64(Date().timeIntervalSince1970)
        var round = RenewalRound()
        guard let renewWithin, ledger.isSequencer else { return round }
        if let until = renewalsPausedUntil.withLock({ $0 }), ContinuousClock.now < until {
            round.stopped = "paused: the TSA's certificate did not outlive the ones to renew; asking again later"
            return round
        }
        let horizon = nowSeconds + renewWithin.components.seconds
        var cursor = renewalCursor.withLock { $0 }
        defer {
            renewalCursor.withLock { $0 = cursor }
            if round.expired > 0 {
                // One line a round, not one per token.
                logger.error(
                    "timestamp chains expired before they were renewed: their time now rests on keys past their validity",
                    metadata: ["tokens": "\(round.expired)"])
            }
        }
        let startCursor = cursor
        let all = shards.shards
        var due: [DueChain] = []
        while round.examined < renewalScanPerRound && due.count < renewalsPerRound {
            // Every shard's tokens, shard after shard: a sealed shard's tokens need renewing as much as the active one's.
            guard cursor.shard < all.count else {
                cursor = (0, 0)
                break
            }
            let ledger = all[cursor.shard].ledger
            let stored: CheckpointAttestation
            let chain: [TimestampRenewal]
            do {
                guard let next = try await ledger.firstAttestation(kind: .rfc3161Token, atLeast: cursor.size) else {
                    cursor = (cursor.shard + 1, 0)
                    continue
                }
                stored = next
                chain = try await ledger.attestation(kind: .rfc3161Renewals, size: next.size).map { try TimestampRenewal.decode($0.data) } ?? []
            } catch {
                round.stopped = "cannot read the stored tokens: \(error)"
                renewalFailed("store_error", round.stopped!, size: cursor.size)
                cursor = startCursor
                return round
            }
            round.examined += 1
            cursor = (cursor.shard, stored.size + 1)
            let last = chain.last?.token ?? stored.data
            guard let lastInfo = try? Timestamp.inspect(token: last), let end = lastInfo.signerNotAfterSeconds, end <= horizon else { continue }
            if end < nowSeconds {
                // Too late: a renewal now proves nothing the expired key could not have forged.
                renewals["expired"]?.increment()
                round.expired += 1
                continue
            }
            due.append(DueChain(ledger: ledger, shard: cursor.shard, size: stored.size, token: stored.data, chain: chain, lastEnd: end))
        }
        guard !due.isEmpty else { return round }
        switch await renew(due) {
        case .success: round.renewed = due.map(\.size)
        case .failure(let reason):
            // The TSA or the store is the trouble, not these tokens: the next round retries them.
            cursor = (due[0].shard, due[0].size)
            round.stopped = reason
        }
        return round
    }

    /// A stored token due for renewal, with its chain so far.
    private struct DueChain {
        /// The shard whose token it is.
        var ledger: Ledger
        var shard: Int
        var size: UInt64
        var token: [UInt8]
        var chain: [TimestampRenewal]
        var lastEnd: Int64
    }

    private enum RenewalResult { case success, failure(String) }

    private func renew(_ due: [DueChain]) async -> RenewalResult {
        let size = due[0].size
        var messages: [Hash] = []
        let request: TimestampRequest
        let root: Hash
        let proofs: [[Hash]]
        do {
            for item in due {
                guard let checkpoint = try await item.ledger.checkpoint(size: item.size) else {
                    return failure("store_error", "no checkpoint of size \(item.size)", item.size)
                }
                messages.append(try Timestamp.renewalMessage(ofCheckpointNote: checkpoint.note, earlier: [item.token] + item.chain.map(\.token)))
            }
            (root, proofs) = Timestamp.renewalBatch(messages)
            request = try Timestamp.request(imprint: root, policy: trust.policy)
        } catch {
            return failure("invalid", "cannot build the renewal request: \(error)", size)
        }
        let token: [UInt8]
        let info: TimestampInfo
        do {
            let reply = try await transport(request.der)
            do {
                token = try Timestamp.token(fromResponse: reply)
                info = try Timestamp.verify(token: token, imprint: root, nonce: request.nonce, trust: trust)
            } catch {
                return failure(error.code == .notGranted ? "rejected" : "invalid", "\(error.code.rawValue): \(error.message)", size)
            }
        } catch {
            return failure("unreachable", "\(error)", size)
        }
        let lastEnd = due.map(\.lastEnd).max() ?? 0
        guard let newEnd = info.signerNotAfterSeconds, newEnd > lastEnd else {
            renewalsPausedUntil.withLock { $0 = ContinuousClock.now + staleCertificateBackoff }
            return failure(
                "stale_certificate",
                "the TSA signs with a certificate valid until \(info.signerNotAfterSeconds.map { RFC3339Time.formatWholeSeconds(UInt64(max(0, $0))) } ?? "?"), no later than one to renew (\(RFC3339Time.formatWholeSeconds(UInt64(max(0, lastEnd))))): configure a TSA whose certificate outlives it",
                size)
        }
        for (position, item) in due.enumerated() {
            let link = TimestampRenewal(token: token, leafIndex: UInt64(position), treeSize: UInt64(due.count), inclusionProof: proofs[position])
            do {
                try await item.ledger.storeAttestation(
                    CheckpointAttestation(
                        size: item.size, kind: .rfc3161Renewals, data: TimestampRenewal.encode(item.chain + [link]),
                        createdAtMilliseconds: UInt64(max(0, info.genTimeSeconds)) * 1000))
            } catch {
                return failure("store_error", "cannot store the renewal: \(error)", item.size)
            }
            renewals["success"]?.increment()
        }
        logger.info(
            "timestamps renewed",
            metadata: ["tokens": "\(due.count)", "first_tree_size": "\(size)", "gen_time": "\(info.genTimeRFC3339)", "tsa": "\(info.signerSubject ?? "")"])
        return .success
    }

    private func failure(_ outcome: String, _ reason: String, _ size: UInt64) -> RenewalResult {
        renewalFailed(outcome, reason, size: size)
        return .failure(reason)
    }

    private func renewalFailed(_ outcome: String, _ reason: String, size: UInt64) {
        renewals[outcome]?.increment()
        logger.warning(
            "timestamp renewal failed; retrying at the next interval",
            metadata: ["tree_size": "\(size)", "outcome": "\(outcome)", "reason": "\(reason.prefix(300))"])
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
