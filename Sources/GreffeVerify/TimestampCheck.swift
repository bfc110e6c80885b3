import Foundation
import GreffeCore
import GreffeTimestamp

/// One RFC 3161 timestamp of a bundle, as `greffe verify` found it.
public struct TimeAttestation: Sendable, Equatable {
    public enum Status: String, Sendable {
        /// Token, its checkpoint's log signature and the consistency proof all hold.
        case verified
        /// The token was not checked (no `--tsa-cert`): it attests nothing yet.
        case notChecked = "not_checked"
        /// Some part does not hold; the report's failures say which.
        case failed
    }

    public var treeSize: UInt64
    public var status: Status
    /// genTime, RFC 3339 UTC; as the token states it (checked only when `verified`).
    public var genTime: String?
    /// The subject of the certificate whose signature verified; nil unless `verified`.
    public var attestedBy: String?
    public var policy: String?
    /// The checkpoint holds every bundled event (its size is past the highest index).
    public var coversEvents: Bool
    /// The tokens renewing it, oldest first: each over the checkpoint and every token before it.
    public var renewals: [Renewal] = []
    /// When the certificate of the chain's last token stops (stopped) being valid, RFC 3339;
    /// the time holds as long as that token's key and algorithms do, so renew before then.
    public var lastCertificateExpiry: String?
    public var lastCertificateExpired = false

    public struct Renewal: Sendable, Equatable {
        public var genTime: String?
        public var attestedBy: String?
    }

    /// The report's sentence for it.
    public var sentence: String {
        let state = "this state of the ledger (size \(BundleVerifier.grouped(treeSize)))"
        switch status {
        case .verified:
            let renewed = renewals.map { "; renewed at \($0.genTime ?? "?") by \($0.attestedBy ?? "?")" }.joined()
            let expiry =
                lastCertificateExpired
                ? "; the certificate of its \(renewals.isEmpty ? "token" : "last renewal") expired on \(lastCertificateExpiry ?? "?") and it was not renewed before: the time holds only while that key is trusted"
                : ""
            return "Trusted time: \(state) existed no later than \(genTime ?? "?"), attested by \(attestedBy ?? "?")"
                + (policy.map { " under policy \($0)" } ?? "") + renewed + expiry + (coversEvents ? "; it holds every event above." : ".")
        case .notChecked:
            return "Trusted time NOT CHECKED: the bundle carries an RFC 3161 token saying \(state) existed no later than \(genTime ?? "?"), "
                + (renewals.isEmpty ? "" : "renewed \(renewals.count) times, ")
                + "but no TSA certificate was given (--tsa-cert), so this claim is unverified and attests nothing."
        case .failed:
            return "Trusted time FAILED for \(state): see the problems below."
        }
    }
}

extension BundleVerifier {
    /// Step 5 of `verify`: each timestamp's checkpoint must verify with the log's
    /// key, grow into the bundle's checkpoint (consistency proof), and, with
    /// `trust`, its token must hold over that checkpoint's body (imprint,
    /// signature, chain to the trusted TSA certificate, policy). Without
    /// `trust` the token is read, reported as not checked, and is no failure:
    /// the bundle's other proofs are no weaker for it, and the report never
    /// presents its time as checked.
    /// `needed`: the size of tree that holds every bundled event (nil without events);
    /// `latestRecorded(size)`: the bundled entry below `size` with the latest `sequenced_at`.
    static func checkTimestamps(
        _ timestamps: [EvidenceBundle.CheckpointTimestamp], needed: UInt64?, latestRecorded: (UInt64) -> (index: UInt64, milliseconds: UInt64)?,
        checkpoint: Checkpoint, verifiers: [NoteVerifier], trust: TimestampTrust?, report: inout BundleReport,
        nowSeconds: Int64 = Int64(Date().timeIntervalSince1970)
    ) {
        var covered = false
        for (position, stamp) in timestamps.enumerated() {
            let location = "timestamp \(position) (size \(stamp.treeSize))"
            let failuresBefore = report.failures.count
            func fail(_ message: String) {
                report.failures.append(.init(code: .timestamp, location: location, message: message))
            }
            var attestation = TimeAttestation(
                treeSize: stamp.treeSize, status: .failed, genTime: nil, attestedBy: nil, policy: nil,
                coversEvents: needed.map { stamp.treeSize >= $0 } ?? true)
            defer { report.timestamps.append(attestation) }

            // The log's side: a checkpoint it signed, of the stated size, that the bundle's grew from.
            let stamped: Checkpoint
            do {
                stamped = try CheckpointVerifier.verify(note: stamp.checkpoint, verifiers: verifiers).checkpoint
            } catch {
                fail("its checkpoint: \(error)")
                continue
            }
            if stamped.size != stamp.treeSize { fail("its checkpoint is of size \(stamped.size), not the stated \(stamp.treeSize)") }
            if stamped.origin != checkpoint.origin { fail("its checkpoint is of the log \(stamped.origin), not \(checkpoint.origin)") }
            if stamped.size > checkpoint.size {
                fail("its checkpoint (size \(stamped.size)) is larger than the bundle's (size \(checkpoint.size))")
            } else {
                do {
                    try ProofVerifier.verifyConsistency(
                        first: stamped.size, second: checkpoint.size, firstRoot: stamped.root, secondRoot: checkpoint.root,
                        proof: stamp.consistencyProof)
                } catch {
                    fail("the consistency proof from its checkpoint to the bundle's does not hold: \(error)")
                }
            }

            // The TSA's side.
            let imprint: Hash
            do { imprint = try Timestamp.imprint(ofCheckpointNote: stamp.checkpoint) } catch {
                fail("\(error)")
                continue
            }
            if let trust {
                do {
                    let info = try Timestamp.verify(token: stamp.token, imprint: imprint, trust: trust)
                    attestation.genTime = info.genTimeRFC3339
                    attestation.attestedBy = info.signerSubject
                    attestation.policy = info.policy
                    // The TSA says this state existed by genTime; an entry in it that the log says it
                    // recorded later means the log's clock ran ahead (beyond the allowed skew).
                    let genTimeMilliseconds = Int64(clamping: info.genTimeSeconds) * 1000
                    if let (index, recorded) = latestRecorded(stamped.size),
                        Int64(clamping: recorded) - Int64(clockSkewMilliseconds) > genTimeMilliseconds
                    {
                        fail(
                            "the ledger says it recorded entry \(index) at \(RFC3339Time.format(recorded)), "
                                + "after the TSA's time \(info.genTimeRFC3339) for a state that already held it: the ledger's clock is not trustworthy")
                    }
                    checkRenewals(stamp, first: info, trust: trust, nowSeconds: nowSeconds, attestation: &attestation, fail: fail)
                } catch {
                    fail("the token does not hold (\(TimestampCheck.phrase(error.code))): \(error.message)")
                }
                if report.failures.count == failuresBefore {
                    attestation.status = .verified
                    if attestation.coversEvents { covered = true }
                }
            } else {
                do {
                    let info = try Timestamp.inspect(token: stamp.token)
                    attestation.genTime = info.genTimeRFC3339
                    attestation.policy = info.policy
                    for renewal in stamp.renewals {
                        attestation.renewals.append(.init(genTime: (try? Timestamp.inspect(token: renewal.token))?.genTimeRFC3339, attestedBy: nil))
                    }
                    if report.failures.count == failuresBefore { attestation.status = .notChecked }
                } catch {
                    fail("the token is not readable (\(TimestampCheck.phrase(error.code))): \(error.message)")
                }
            }
        }
        guard trust != nil || !timestamps.isEmpty, let needed else { return }
        if !covered && !timestamps.contains(where: { $0.treeSize >= needed }) {
            report.timestampGap =
                "no RFC 3161 timestamp covers these events: the ledger had no token for any signed state of at least "
                + "\(BundleVerifier.grouped(needed)) entries when the bundle was made (its TSA was not configured, down, or not yet asked); "
                + "their time rests on the ledger's own clock"
        }
    }
}

extension BundleVerifier {
    /// Each renewal must hold over the checkpoint and every token before it
    /// (`Timestamp.renewalImprint`), chain to `trust` at its own genTime, and
    /// have been made while the token it renews was still under a valid
    /// certificate (`Timestamp.renewalTimeViolation`). The first failure ends the chain.
    static func checkRenewals(
        _ stamp: EvidenceBundle.CheckpointTimestamp, first: TimestampInfo, trust: TimestampTrust, nowSeconds: Int64,
        attestation: inout TimeAttestation, fail: (String) -> Void
    ) {
        var links: [(genTime: Int64, signerNotAfter: Int64?)] = [(first.genTimeSeconds, first.signerNotAfterSeconds)]
        var earlier = [stamp.token]
        for (number, renewal) in stamp.renewals.enumerated() {
            do {
                let message = try Timestamp.renewalMessage(ofCheckpointNote: stamp.checkpoint, earlier: earlier)
                let imprint = try Timestamp.renewalImprint(message: message, renewal: renewal)
                let info = try Timestamp.verify(token: renewal.token, imprint: imprint, trust: trust)
                links.append((info.genTimeSeconds, info.signerNotAfterSeconds))
                attestation.renewals.append(.init(genTime: info.genTimeRFC3339, attestedBy: info.signerSubject))
            } catch {
                fail("renewal \(number + 1) does not hold (\(TimestampCheck.phrase(error.code))): \(error.message)")
                return
            }
            earlier.append(renewal.token)
        }
        if let violation = Timestamp.renewalTimeViolation(links) {
            fail("renewal \(violation.position) does not renew the token before it: \(violation.message)")
            return
        }
        if let end = links.last?.signerNotAfter {
            attestation.lastCertificateExpiry = RFC3339Time.formatWholeSeconds(UInt64(max(0, end)))
            attestation.lastCertificateExpired = end < nowSeconds
        }
    }
}

enum TimestampCheck {
    /// The failing part in words, for the report.
    static func phrase(_ code: TimestampError.Code) -> String {
        switch code {
        case .malformed: return "malformed token"
        case .imprintMismatch: return "imprint mismatch: it is over another checkpoint"
        case .nonceMismatch: return "nonce mismatch"
        case .wrongPolicy: return "wrong policy"
        case .badSignature: return "bad signature: the token was altered"
        case .untrustedChain: return "untrusted chain: not signed by the given TSA"
        case .badTrustStore: return "unreadable TSA certificate"
        case .notGranted: return "not granted"
        case .badArgument: return "bad argument"
        case .internal: return "libcrypto failure"
        }
    }
}
