import Foundation
import GreffeCore
import GreffeLedger
import GreffeStore
import Synchronization
import Testing
import GreffeSQLite

/// The sequencer hands a second batch to the writer while the first is being
/// written (Ledger.advance): what happens to it when the first fails.
@Suite("Sequencer pipeline")
struct PipelineTests {
    @Test("a batch sequenced on a write that fails goes back to the queue and is stored in its place; nothing is lost or forked")
    func batchOnFailedWriteIsRequeued() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-pipeline-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = GatedStore(try SQLiteStore(path: directory.appendingPathComponent("greffe.sqlite").path))
        let ledger = try await Ledger.open(store: store, signer: try NoteSigner(generatingFor: "pipeline.example/log"), checkpointInterval: .milliseconds(20))
        let running = Task { await ledger.run() }

        #expect(try await ledger.append([submission("warm-up")]).map(\.index) == [0])
        // The next write (entries 1 to 10) is held, then fails.
        store.control.withLock { $0.holdAndFail = 1 }
        let failing = Task { try await ledger.append((0..<10).map { submission("a-\($0)") }) }
        try await store.waitUntil { $0.held != nil }
        // Enough events to be sequenced behind the held write (on top of it, from entry 11).
        let behind = Task { try await ledger.append((0..<300).map { submission("b-\($0)") }) }
        try await store.waitUntil { $0.located.contains("b-0") }
        try await Task.sleep(for: .milliseconds(100))
        store.release()

        await #expect(throws: LedgerError.self) { _ = try await failing.value }
        let receipts = try await behind.value
        #expect(receipts.map(\.index) == Array(1...300))
        #expect(receipts.allSatisfy { $0.isNew })
        #expect(try await ledger.append([submission("after")]).map(\.index) == [301])
        #expect(try await store.treeSize() == 302)

        let firstIndices = store.control.withLock { $0.appendedFirstIndices }
        // 11: the batch sequenced on the failed write, refused by the store (it does not start at its size).
        #expect(firstIndices == [0, 1, 11, 1, 301])
        let checkpoint = try await ledger.waitForCheckpoint(covering: 302)
        for index: UInt64 in [1, 150, 300, 301] {
            let (leafHash, proof) = try await ledger.inclusionProof(index: index, treeSize: checkpoint.size)
            try ProofVerifier.verifyInclusion(index: index, size: checkpoint.size, leafHash: leafHash, proof: proof, root: checkpoint.root)
        }
        ledger.shutdown()
        await running.value
    }
}

/// A SQLite store whose appends can be held and then failed.
private final class GatedStore: LedgerStore {
    struct Control {
        /// The append starting at this index is held until `release()`, then fails.
        var holdAndFail: UInt64?
        var held: CheckedContinuation<Void, Never>?
        var released = false
        var appendedFirstIndices: [UInt64] = []
        var located: Set<String> = []
    }

    let inner: SQLiteStore
    let control = Mutex(Control())

    init(_ inner: SQLiteStore) { self.inner = inner }

    func waitUntil(_ condition: (Control) -> Bool) async throws {
        for _ in 0..<1_000 {
            if control.withLock({ condition($0) }) { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        Issue.record("timed out waiting on the store")
    }

    func release() {
        control.withLock { control in
            control.released = true
            control.held?.resume()
            control.held = nil
        }
    }

    func append(_ batch: AppendBatch) async throws {
        let hold = control.withLock { control in
            control.appendedFirstIndices.append(batch.firstIndex)
            return control.holdAndFail == batch.firstIndex
        }
        if hold {
            await withCheckedContinuation { continuation in
                let resumeNow = control.withLock { control in
                    if control.released { return true }
                    control.held = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
            control.withLock { $0.holdAndFail = nil }
            throw StoreError(.unavailable, "injected failure")
        }
        try await inner.append(batch)
    }

    func locateEvents(_ keys: [EventKey]) async throws -> [EventKey: EventLocation] {
        control.withLock { $0.located.formUnion(keys.map(\.eventID)) }
        return try await inner.locateEvents(keys)
    }

    func treeSize() async throws -> UInt64 { try await inner.treeSize() }
    func readNodes(_ ids: [NodeID]) async throws -> [Hash] { try await inner.readNodes(ids) }
    func readNodeRange(level: Int, first: UInt64, count: Int) async throws -> [Hash] {
        try await inner.readNodeRange(level: level, first: first, count: count)
    }
    func readEntries(first: UInt64, count: Int) async throws -> [[UInt8]] { try await inner.readEntries(first: first, count: count) }
    func leafIndex(of leafHash: Hash) async throws -> UInt64? { try await inner.leafIndex(of: leafHash) }
    func latestCheckpoint() async throws -> StoredCheckpoint? { try await inner.latestCheckpoint() }
    func checkpoint(size: UInt64) async throws -> StoredCheckpoint? { try await inner.checkpoint(size: size) }
    func firstCheckpoint(atLeast size: UInt64) async throws -> StoredCheckpoint? { try await inner.firstCheckpoint(atLeast: size) }
    func storeCheckpoint(_ checkpoint: StoredCheckpoint) async throws { try await inner.storeCheckpoint(checkpoint) }
    func storeAttestation(_ attestation: CheckpointAttestation) async throws { try await inner.storeAttestation(attestation) }
    func attestation(kind: AttestationKind, size: UInt64) async throws -> CheckpointAttestation? {
        try await inner.attestation(kind: kind, size: size)
    }
    func latestAttestation(kind: AttestationKind) async throws -> CheckpointAttestation? { try await inner.latestAttestation(kind: kind) }
    func firstAttestation(kind: AttestationKind, atLeast size: UInt64) async throws -> CheckpointAttestation? {
        try await inner.firstAttestation(kind: kind, atLeast: size)
    }
    func createToken(name: String, role: TokenRole, platform: String?, secretHash: Hash, createdAtMilliseconds: UInt64) async throws -> TokenRecord {
        try await inner.createToken(name: name, role: role, platform: platform, secretHash: secretHash, createdAtMilliseconds: createdAtMilliseconds)
    }
    func bindToken(name: String, platform: String) async throws { try await inner.bindToken(name: name, platform: platform) }
    func token(secretHash: Hash) async throws -> TokenRecord? { try await inner.token(secretHash: secretHash) }
    func listTokens() async throws -> [TokenRecord] { try await inner.listTokens() }
    func revokeToken(name: String, atMilliseconds: UInt64) async throws { try await inner.revokeToken(name: name, atMilliseconds: atMilliseconds) }
    func readEvent(index: UInt64) async throws -> StoredEvent? { try await inner.readEvent(index: index) }
    func searchEvents(_ query: EventQuery) async throws -> [UInt64] { try await inner.searchEvents(query) }
    func contentTerms(prefix: String, fromIndex: UInt64, limit: Int) async throws -> [(index: UInt64, term: String)] {
        try await inner.contentTerms(prefix: prefix, fromIndex: fromIndex, limit: limit)
    }
    func eraseEvent(index: UInt64, record: ErasureRecord) async throws { try await inner.eraseEvent(index: index, record: record) }
    func claimErasure(index: UInt64) async throws { try await inner.claimErasure(index: index) }
    func releaseErasureClaims(index: UInt64?) async throws { try await inner.releaseErasureClaims(index: index) }
    func purgeErasedCopies() async throws { try await inner.purgeErasedCopies() }
    func takedownLinks() async throws -> [TakedownLink] { try await inner.takedownLinks() }
    func metadata(_ key: String) async throws -> String? { try await inner.metadata(key) }
    func setMetadata(_ key: String, _ value: String) async throws { try await inner.setMetadata(key, value) }
}
