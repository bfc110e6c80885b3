import GreffeCore
import GreffeHTTP
import GreffeStore
import GreffeTimestamp
import GreffeVerify
public import Hummingbird
import NIOCore

/// `GET /v1/checkpoints/<size>/timestamp`: the RFC 3161 token the log holds for
/// its checkpoint of that size (`CheckpointTimestamper`).
extension LedgerAPI {
    /// The DER TimeStampToken: a CMS ContentInfo holding SignedData (RFC 3161
    /// §2.4.2, RFC 5652), hence the CMS media type. Check it with
    /// `openssl ts -verify -token_in -in FILE -digest <SHA-256 of the checkpoint body> -CAfile TSA.pem`.
    static let timestampTokenMediaType = "application/pkcs7-mime"
    /// A stored token never changes for its size.
    static let timestampCache = "public, max-age=86400"

    public func addTimestampRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/v1/checkpoints/:size/timestamp") { _, context in
            try await checkpointTimestamp(size: context.parameters.get("size") ?? "")
        }
    }

    func checkpointTimestamp(size text: String) async throws -> Response {
        let size = try LedgerAPI.number(text, name: "size")
        guard let token = try await mapLedgerErrors({ try await ledger.attestation(kind: .rfc3161Token, size: size) }) else {
            throw APIError.notFound("no timestamp token for the checkpoint of size \(size)")
        }
        return Response(
            status: .ok, headers: [.contentType: LedgerAPI.timestampTokenMediaType, .cacheControl: LedgerAPI.timestampCache],
            body: .init(byteBuffer: ByteBuffer(bytes: token.data)))
    }
}

extension LedgerAPI {
    /// The tokens a bundle carries (`Schemas/bundle.schema.json`, `timestamps`):
    /// the earliest token on a checkpoint that holds every bundled event (the
    /// tightest "no later than" for them), and the token of the bundle's own
    /// checkpoint if it has one; each with its checkpoint and a consistency
    /// proof to the bundle's checkpoint. None when the log has no such token:
    /// the verifier reports that gap.
    func bundleTimestamps(indices: [UInt64], checkpoint: StoredCheckpoint) async throws -> [EvidenceBundle.CheckpointTimestamp] {
        var tokens: [CheckpointAttestation] = []
        if let last = indices.max(),
            let covering = try await ledger.firstAttestation(kind: .rfc3161Token, atLeast: last + 1), covering.size <= checkpoint.size
        {
            tokens.append(covering)
        }
        if tokens.first?.size != checkpoint.size, let own = try await ledger.attestation(kind: .rfc3161Token, size: checkpoint.size) {
            tokens.append(own)
        }
        var timestamps: [EvidenceBundle.CheckpointTimestamp] = []
        for token in tokens {
            let note: String
            if token.size == checkpoint.size {
                note = checkpoint.note
            } else {
                guard let stored = try await ledger.checkpoint(size: token.size) else { continue }
                note = stored.note
            }
            let proof = try await ledger.consistencyProof(first: token.size, second: checkpoint.size)
            var renewals: [TimestampRenewal] = []
            if let stored = try await ledger.attestation(kind: .rfc3161Renewals, size: token.size) {
                do { renewals = try TimestampRenewal.decode(stored.data) } catch {
                    // Stored only after it verified: unreadable now means a damaged store, not a token to leave out quietly.
                    throw StoreError(.inconsistent, "the stored renewals of the timestamp of size \(token.size) are unreadable: \(error.message)")
                }
            }
            timestamps.append(.init(treeSize: token.size, checkpoint: note, token: token.data, consistencyProof: proof, renewals: renewals))
        }
        return timestamps
    }
}
