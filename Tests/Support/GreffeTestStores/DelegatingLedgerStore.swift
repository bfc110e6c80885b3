public import GreffeCore
public import GreffeStore

/// A test store that hands every `LedgerStore` call to `inner` unless it
/// implements the call itself: a failing or controlled store then writes only
/// the calls it changes (`PipelineTests`' failing store, `LeaseLossTests`'
/// controlled shared store).
public protocol DelegatingLedgerStore: LedgerStore {
    var inner: any LedgerStore { get }
}

extension DelegatingLedgerStore {
    public func treeSize() async throws -> UInt64 { try await inner.treeSize() }
    public func readNodes(_ ids: [NodeID]) async throws -> [Hash] { try await inner.readNodes(ids) }
    public func readNodeRange(level: Int, first: UInt64, count: Int) async throws -> [Hash] {
        try await inner.readNodeRange(level: level, first: first, count: count)
    }
    public func readEntries(first: UInt64, count: Int) async throws -> [[UInt8]] { try await inner.readEntries(first: first, count: count) }
    public func leafIndex(of leafHash: Hash) async throws -> UInt64? { try await inner.leafIndex(of: leafHash) }
    public func locateEvents(_ keys: [EventKey]) async throws -> [EventKey: EventLocation] { try await inner.locateEvents(keys) }
    public func eventIDs(fromIndex: UInt64, limit: Int) async throws -> [String] { try await inner.eventIDs(fromIndex: fromIndex, limit: limit) }
    public func append(_ batch: AppendBatch) async throws { try await inner.append(batch) }
    public func latestCheckpoint() async throws -> StoredCheckpoint? { try await inner.latestCheckpoint() }
    public func checkpoint(size: UInt64) async throws -> StoredCheckpoint? { try await inner.checkpoint(size: size) }
    public func firstCheckpoint(atLeast size: UInt64) async throws -> StoredCheckpoint? { try await inner.firstCheckpoint(atLeast: size) }
    public func storeCheckpoint(_ checkpoint: StoredCheckpoint) async throws { try await inner.storeCheckpoint(checkpoint) }
    public func storeAttestation(_ attestation: CheckpointAttestation) async throws { try await inner.storeAttestation(attestation) }
    public func attestation(kind: AttestationKind, size: UInt64) async throws -> CheckpointAttestation? {
        try await inner.attestation(kind: kind, size: size)
    }
    public func latestAttestation(kind: AttestationKind) async throws -> CheckpointAttestation? { try await inner.latestAttestation(kind: kind) }
    public func firstAttestation(kind: AttestationKind, atLeast size: UInt64) async throws -> CheckpointAttestation? {
        try await inner.firstAttestation(kind: kind, atLeast: size)
    }
    public func createToken(name: String, role: TokenRole, platform: String?, secretHash: Hash, createdAtMilliseconds: UInt64) async throws
        -> TokenRecord
    {
        try await inner.createToken(name: name, role: role, platform: platform, secretHash: secretHash, createdAtMilliseconds: createdAtMilliseconds)
    }
    public func bindToken(name: String, platform: String) async throws { try await inner.bindToken(name: name, platform: platform) }
    public func token(secretHash: Hash) async throws -> TokenRecord? { try await inner.token(secretHash: secretHash) }
    public func listTokens() async throws -> [TokenRecord] { try await inner.listTokens() }
    public func revokeToken(name: String, atMilliseconds: UInt64) async throws { try await inner.revokeToken(name: name, atMilliseconds: atMilliseconds) }
    public func readEvent(index: UInt64) async throws -> StoredEvent? { try await inner.readEvent(index: index) }
    public func searchEvents(_ query: EventQuery) async throws -> [UInt64] { try await inner.searchEvents(query) }
    public func contentTerms(prefix: String, fromIndex: UInt64, limit: Int) async throws -> [(index: UInt64, term: String)] {
        try await inner.contentTerms(prefix: prefix, fromIndex: fromIndex, limit: limit)
    }
    public func claimErasure(index: UInt64) async throws { try await inner.claimErasure(index: index) }
    public func releaseErasureClaims(index: UInt64?) async throws { try await inner.releaseErasureClaims(index: index) }
    public func eraseEvent(index: UInt64, record: ErasureRecord) async throws { try await inner.eraseEvent(index: index, record: record) }
    public func eraseEvents(_ indices: [UInt64], record: ErasureRecord) async throws -> [UInt64] { try await inner.eraseEvents(indices, record: record) }
    public func purgeErasedCopies() async throws { try await inner.purgeErasedCopies() }
    public func takedownLinks() async throws -> [TakedownLink] { try await inner.takedownLinks() }
    public func metadata(_ key: String) async throws -> String? { try await inner.metadata(key) }
    public func setMetadata(_ key: String, _ value: String) async throws { try await inner.setMetadata(key, value) }
}
