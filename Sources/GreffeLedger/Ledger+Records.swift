public import GreffeStore

// What the HTTP layer reads and files beside the tree, through the ledger rather than its store: one place
// that knows the store, and where a rule about what may be served (within the tree, within a checkpoint) goes.
extension Ledger {
    /// The signed checkpoint of exactly `size`, if one was stored.
    public func checkpoint(size: UInt64) async throws -> StoredCheckpoint? {
        try await store.checkpoint(size: size)
    }

    /// The first stored checkpoint of at least `size`.
    public func firstCheckpoint(atLeast size: UInt64) async throws -> StoredCheckpoint? {
        try await store.firstCheckpoint(atLeast: size)
    }

    public func attestation(kind: AttestationKind, size: UInt64) async throws -> CheckpointAttestation? {
        try await store.attestation(kind: kind, size: size)
    }

    public func firstAttestation(kind: AttestationKind, atLeast size: UInt64) async throws -> CheckpointAttestation? {
        try await store.firstAttestation(kind: kind, atLeast: size)
    }

    public func latestAttestation(kind: AttestationKind) async throws -> CheckpointAttestation? {
        try await store.latestAttestation(kind: kind)
    }

    /// Files an attestation (an RFC 3161 token) of a stored checkpoint.
    public func storeAttestation(_ attestation: CheckpointAttestation) async throws {
        try await store.storeAttestation(attestation)
    }

    /// The tokens of this ledger's store, checked and cached by one authority.
    public func tokenAuthority() -> TokenAuthority {
        TokenAuthority(store: store)
    }
}
