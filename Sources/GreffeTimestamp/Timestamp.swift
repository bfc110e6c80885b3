import CGreffeTS
public import Foundation
public import GreffeCore

/// What a time-stamp token says (RFC 3161 §2.4.2 TSTInfo).
public struct TimestampInfo: Sendable, Equatable {
    /// genTime, whole seconds since 1970 (fractions dropped).
    public var genTimeSeconds: Int64
    /// genTime as written in the token (GeneralizedTime).
    public var genTimeText: String
    public var serialHex: String
    /// TSAPolicyId, dotted.
    public var policy: String
    /// The name the TSA gives itself in the token, if any (not authenticated by itself).
    public var tsaName: String?
    /// The subject of the certificate whose signature verified; nil for a token only inspected.
    public var signerSubject: String?
    /// When the signer's certificate stops being valid (Unix seconds): a token must be
    /// renewed before then. Read from the certificates the token carries; nil if none.
    public var signerNotAfterSeconds: Int64?

    public var genTime: Date { Date(timeIntervalSince1970: TimeInterval(genTimeSeconds)) }
    /// RFC 3339, UTC, whole seconds.
    public var genTimeRFC3339: String { RFC3339Time.format(UInt64(max(0, genTimeSeconds)) * 1000) }
}

/// A DER TimeStampReq and the nonce it carries (needed to check the answer).
public struct TimestampRequest: Sendable {
    public let der: [UInt8]
    public let imprint: Hash
    public let nonce: [UInt8]
    public let policy: String?
}

/// The TSA certificate(s) a token must chain to, and the policy it must carry.
/// Every certificate in the PEM text is a trust anchor of its own: the TSA's
/// certificate or its CA's both work.
public struct TimestampTrust: Sendable {
    public let pem: [UInt8]
    public let policy: String?
    public let certificateCount: Int

    /// Refuses a PEM text with no certificate and a policy that is not a dotted OID.
    public init(pem: [UInt8], policy: String? = nil) throws(TimestampError) {
        var count: Int32 = 0
        var message = [CChar](repeating: 0, count: 512)
        let result = pem.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { greffe_ts_check_trust($0.baseAddress, $0.count, &count, &message, message.count) }
        }
        guard result == GREFFE_TS_OK else { throw TimestampError(.badTrustStore, Timestamp.string(message)) }
        if let policy {
            guard Timestamp.isDottedOID(policy) else { throw TimestampError(.badArgument, "the policy \(policy.prefix(80)) is not a dotted OID") }
        }
        self.pem = pem
        self.policy = policy
        self.certificateCount = Int(count)
    }
}

/// RFC 3161 requests, answers and tokens, over the system libcrypto's TS API
/// (Sources/CGreffeTS). No I/O: bytes in, bytes or typed errors out.
public enum Timestamp {
    /// The message a checkpoint's token is over: SHA-256 of the checkpoint's
    /// signed body (origin, size, root and extension lines, ending in "\n"),
    /// never of the whole note, whose signature lines grow as witnesses cosign.
    public static func imprint(ofCheckpointNote note: String) throws(TimestampError) -> Hash {
        do {
            return MerkleHash.sha256(Array(try SignedNote(parsing: note).text.utf8))
        } catch {
            throw TimestampError(.malformed, "the checkpoint is not a signed note: \(error)")
        }
    }

    /// The message renewal k of a chain stands for (Schemas/bundle.md, "Renewed timestamps"):
    /// SHA-256 of the checkpoint body's SHA-256 (the first token's imprint) followed by
    /// every earlier token of the chain, DER, in order, the checkpoint's own token first.
    /// A renewal thus covers the body and every signature before it, so it proves they
    /// all existed at its time, while their algorithms and keys were still sound.
    public static func renewalMessage(ofCheckpointNote note: String, earlier: [[UInt8]]) throws(TimestampError) -> Hash {
        guard !earlier.isEmpty else { throw TimestampError(.badArgument, "a renewal renews at least the checkpoint's own token") }
        var message = try imprint(ofCheckpointNote: note).bytes
        for token in earlier { message += token }
        return MerkleHash.sha256(message)
    }

    /// One TSA request renews a batch of chains: the token is over the root of an
    /// RFC 9162 tree whose leaves are their messages (leaf hash SHA-256(0x00 ‖ message)).
    /// The root, and each message's inclusion proof, in order.
    public static func renewalBatch(_ messages: [Hash]) -> (root: Hash, proofs: [[Hash]]) {
        let tree = MemoryMerkleTree(leafHashes: messages.map { MerkleHash.leaf($0.bytes) })
        return (tree.root, (0..<tree.size).map { tree.inclusionProof($0) })
    }

    /// The imprint `renewal`'s token must be over: the root its inclusion proof leads to
    /// from `message`'s leaf. Throws when the proof does not fit its position.
    public static func renewalImprint(message: Hash, renewal: TimestampRenewal) throws(TimestampError) -> Hash {
        do {
            return try ProofVerifier.rootFromInclusionProof(
                index: renewal.leafIndex, size: renewal.treeSize, leafHash: MerkleHash.leaf(message.bytes), proof: renewal.inclusionProof)
        } catch {
            throw TimestampError(.imprintMismatch, "its inclusion proof does not hold: \(error)")
        }
    }

    /// The time rule of a renewal chain, on its links' verified times, the checkpoint's
    /// own token first: each renewal is no older than the link it renews and was made
    /// while that link's signing certificate was still valid (a renewal made later
    /// proves nothing the expired key could not have forged). Nil when it holds, else
    /// the renewal's position (1 for the first renewal) and what is wrong.
    public static func renewalTimeViolation(_ links: [(genTime: Int64, signerNotAfter: Int64?)]) -> (position: Int, message: String)? {
        for position in links.indices.dropFirst() {
            let (renewed, renewal) = (links[position - 1], links[position])
            let when = RFC3339Time.formatWholeSeconds(UInt64(max(0, renewal.genTime)))
            if renewal.genTime < renewed.genTime {
                return (position, "it was made at \(when), before the token it renews (\(RFC3339Time.formatWholeSeconds(UInt64(max(0, renewed.genTime))))))")
            }
            guard let end = renewed.signerNotAfter else {
                return (position, "the token it renews names no signing certificate, so nothing shows it was renewed in time")
            }
            if renewal.genTime > end {
                return (
                    position,
                    "it was made at \(when), after the certificate of the token it renews expired (\(RFC3339Time.formatWholeSeconds(UInt64(max(0, end))))): it proves nothing about that token"
                )
            }
        }
        return nil
    }

    /// A request over `imprint` with a fresh 128-bit nonce and certReq TRUE.
    public static func request(imprint: Hash, policy: String? = nil) throws(TimestampError) -> TimestampRequest {
        if let policy, !isDottedOID(policy) { throw TimestampError(.badArgument, "the policy \(policy.prefix(80)) is not a dotted OID") }
        var generator = SystemRandomNumberGenerator()
        var nonce = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        // A leading zero byte would be dropped by the INTEGER encoding; keep the 16 bytes as sent.
        if nonce[0] == 0 { nonce[0] = 1 }
        var der: UnsafeMutablePointer<UInt8>?
        var length = 0
        var message = [CChar](repeating: 0, count: 512)
        let digest = imprint.bytes
        let result = withOptionalCString(policy) { policyPointer in
            greffe_ts_make_request(digest, nonce, nonce.count, policyPointer, &der, &length, &message, message.count)
        }
        guard result == GREFFE_TS_OK, let der else { throw error(result, message) }
        defer { greffe_ts_free(der) }
        return TimestampRequest(der: Array(UnsafeBufferPointer(start: der, count: length)), imprint: imprint, nonce: nonce, policy: policy)
    }

    /// The token of a DER TimeStampResp; `.notGranted` with the TSA's words when it refused.
    public static func token(fromResponse der: [UInt8]) throws(TimestampError) -> [UInt8] {
        var status: Int32 = -1
        var token: UnsafeMutablePointer<UInt8>?
        var length = 0
        var message = [CChar](repeating: 0, count: 512)
        let result = greffe_ts_parse_response(der, der.count, &status, &token, &length, &message, message.count)
        guard result == GREFFE_TS_OK else { throw error(result, message) }
        guard let token else { throw TimestampError(.notGranted, string(message)) }
        defer { greffe_ts_free(token) }
        return Array(UnsafeBufferPointer(start: token, count: length))
    }

    /// Checks a token: over `imprint`, carrying `nonce` (when given: a fresh
    /// answer; stored tokens are checked without), under `trust.policy` (when
    /// given), signed by a certificate that chains to `trust` at the token's genTime.
    public static func verify(token: [UInt8], imprint: Hash, nonce: [UInt8]? = nil, trust: TimestampTrust) throws(TimestampError) -> TimestampInfo {
        var info = greffe_ts_info()
        let digest = imprint.bytes
        let result = withOptionalCString(trust.policy) { policyPointer in
            trust.pem.withUnsafeBufferPointer { pem in
                pem.withMemoryRebound(to: CChar.self) { pem in
                    if let nonce {
                        greffe_ts_verify_token(token, token.count, digest, nonce, nonce.count, pem.baseAddress, pem.count, policyPointer, &info)
                    } else {
                        greffe_ts_verify_token(token, token.count, digest, nil, 0, pem.baseAddress, pem.count, policyPointer, &info)
                    }
                }
            }
        }
        guard result == GREFFE_TS_OK else { throw error(result, message(of: info)) }
        return describe(info)
    }

    /// What a token says, with nothing verified (for a report that says so).
    public static func inspect(token: [UInt8]) throws(TimestampError) -> TimestampInfo {
        var info = greffe_ts_info()
        let result = greffe_ts_inspect_token(token, token.count, &info)
        guard result == GREFFE_TS_OK else { throw error(result, message(of: info)) }
        var described = describe(info)
        described.signerSubject = nil
        return described
    }

    // MARK: - Helpers

    static func isDottedOID(_ text: String) -> Bool {
        let arcs = text.split(separator: ".", omittingEmptySubsequences: false)
        return text.utf8.count <= 100 && arcs.count >= 2
            && arcs.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } }
    }

    private static func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let text else { return body(nil) }
        return text.withCString { body($0) }
    }

    static func string(_ buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func text<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func message(of info: greffe_ts_info) -> String { text(info.message) }

    private static func describe(_ info: greffe_ts_info) -> TimestampInfo {
        let tsaName = text(info.tsa_name)
        let signer = text(info.signer_subject)
        return TimestampInfo(
            genTimeSeconds: info.gen_time, genTimeText: text(info.gen_time_text), serialHex: text(info.serial_hex), policy: text(info.policy),
            tsaName: tsaName.isEmpty ? nil : tsaName, signerSubject: signer.isEmpty ? nil : signer,
            signerNotAfterSeconds: info.signer_not_after == 0 ? nil : info.signer_not_after)
    }

    private static func error(_ result: greffe_ts_result, _ message: [CChar]) -> TimestampError {
        error(result, string(message))
    }

    private static func error(_ result: greffe_ts_result, _ message: String) -> TimestampError {
        let code: TimestampError.Code
        switch result {
        case GREFFE_TS_MALFORMED: code = .malformed
        case GREFFE_TS_IMPRINT_MISMATCH: code = .imprintMismatch
        case GREFFE_TS_NONCE_MISMATCH: code = .nonceMismatch
        case GREFFE_TS_WRONG_POLICY: code = .wrongPolicy
        case GREFFE_TS_BAD_SIGNATURE: code = .badSignature
        case GREFFE_TS_UNTRUSTED_CHAIN: code = .untrustedChain
        case GREFFE_TS_BAD_TRUST_STORE: code = .badTrustStore
        case GREFFE_TS_BAD_ARGUMENT: code = .badArgument
        default: code = .internal
        }
        return TimestampError(code, message.isEmpty ? "libcrypto failed (\(result.rawValue))" : message)
    }
}
