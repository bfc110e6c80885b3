public import GreffeCore
public import GreffeStore

/// What the ledger asks of its witnesses (`Ledger.open(cosigner:)`): with a
/// cosigner, a signed and stored checkpoint is published only once a quorum
/// of witnesses cosigned it, and what is published (`GET /checkpoint`,
/// receipts, bundles) is the cosigned note: the log's note with the
/// witnesses' `cosignature/v1` lines added (c2sp.org/tlog-cosignature).
public protocol CheckpointCosigner: Sendable {
    /// Collects cosignatures on `checkpoint` (signed by the log and stored).
    /// Returns the cosigned note as soon as the quorum is met, nil when it
    /// cannot be met now (the checkpoint then stays unpublished; the ledger
    /// tries again with its then-latest checkpoint). Never throws: a witness
    /// that is down or refuses is logged and counted, not fatal.
    /// `consistencyProof(first, second)` proves the log's tree of `first`
    /// entries a prefix of the one of `second`.
    func cosign(
        _ checkpoint: StoredCheckpoint, consistencyProof: @escaping @Sendable (UInt64, UInt64) async throws -> [Hash]
    ) async -> String?

    /// Whether a cosigned note read back from the store (at restart, or by a
    /// follower) carries the quorum: a node publishes nothing it would not
    /// have published itself.
    func check(cosignedNote: String) -> CosignatureCheck
}
