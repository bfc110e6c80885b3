import GreffeCore
import GreffeHTTP
import GreffeLedger
import GreffeStore
import Hummingbird
import NIOCore

/// `GET /v1/receipts/cose?index=N`: a COSE Receipt (`Schemas/cose-receipt.md`) of entry N's
/// inclusion in the tree of the latest signed checkpoint, signed with the ledger's newest
/// checkpoint key. Public, like the proofs it carries.
extension LedgerAPI {
    /// The receipt of entry `index` (below `checkpoint.size`) over `checkpoint`'s root.
    func coseReceipt(index: UInt64, checkpoint: StoredCheckpoint, ledger holder: Ledger? = nil) async throws -> COSEReceipt {
        let ledger = holder ?? self.ledger
        let (leafHash, proof) = try await mapLedgerErrors { try await ledger.inclusionProof(index: index, treeSize: checkpoint.size) }
        // The signature vouches for this root: never sign a proof the signed checkpoint does not confirm.
        do {
            try ProofVerifier.verifyInclusion(index: index, size: checkpoint.size, leafHash: leafHash, proof: proof, root: checkpoint.root)
        } catch {
            throw APIError(.internalServerError, "the inclusion proof of entry \(index) does not lead to the signed checkpoint's root; no receipt was signed")
        }
        let receipt = try COSEReceipt.issue(
            treeSize: checkpoint.size, leafIndex: index, inclusionPath: proof, root: checkpoint.root, signer: ledger.keys.signers.last!)
        return receipt
    }

    static let coseReceiptContentType = "application/cose; cose-type=\"cose-sign1\""

    func addCOSEReceiptRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/v1/receipts/cose") { request, _ in try await coseReceipt(request) }
    }

    func coseReceipt(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        if let unknown = query.first(where: { $0.key != "index" }) {
            throw APIError.badRequest("unknown query parameter \(unknown.key.prefix(40)); give only index")
        }
        let index = try LedgerAPI.number(query.get("index"), name: "index")
        guard let checkpoint = ledger.latestCheckpoint else { throw APIError(.serviceUnavailable, "no checkpoint has been cosigned by the witness quorum yet") }
        guard index < checkpoint.size else {
            throw APIError.notFound(
                "entry \(index) is not in the latest signed checkpoint (tree size \(checkpoint.size)); if it was appended just now, ask again after the next checkpoint")
        }
        let receipt = try await coseReceipt(index: index, checkpoint: checkpoint)
        return Response(
            status: .ok, headers: [.contentType: LedgerAPI.coseReceiptContentType],
            body: .init(byteBuffer: ByteBuffer(bytes: receipt.encoded)))
    }
}
