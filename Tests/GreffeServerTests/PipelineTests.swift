import Foundation
import GreffeCore
import GreffeLedger
import GreffeStore
import GreffeTestStores
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
private final class GatedStore: DelegatingLedgerStore {
    struct Control {
        /// The append starting at this index is held until `release()`, then fails.
        var holdAndFail: UInt64?
        var held: CheckedContinuation<Void, Never>?
        var released = false
        var appendedFirstIndices: [UInt64] = []
        var located: Set<String> = []
    }

    let sqlite: SQLiteStore
    var inner: any LedgerStore { sqlite }
    let control = Mutex(Control())

    init(_ sqlite: SQLiteStore) { self.sqlite = sqlite }

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
}
