import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import Testing
import GreffeSQLite

@Suite("restart")
struct RestartTests {
    @Test("after a restart every acknowledged event is in place and new checkpoints extend every earlier one")
    func restartKeepsEverything() async throws {
        let first = try await TestLedger.make()
        var receipts: [AppendReceipt] = []
        var checkpoints: [StoredCheckpoint] = []
        for round in 0..<3 {
            receipts += try await first.ledger.append((0..<50).map { submission("one-\(round)-\($0)") })
            checkpoints.append(try await first.ledger.waitForCheckpoint(covering: UInt64(receipts.count)))
        }
        // Racing the stop: if the append was queued it must be committed and covered by the
        // last checkpoint; if it came too late it must be refused and leave nothing behind.
        let late = Task { try await first.ledger.append((0..<10).map { submission("late-\($0)") }) }
        try await Task.sleep(for: .milliseconds(1))
        await first.stop()
        var lateRefused = false
        switch await late.result {
        case .success(let lateReceipts): receipts += lateReceipts
        case .failure(let error):
            #expect((error as? LedgerError)?.code == .shuttingDown)
            lateRefused = true
        }

        let second = try await TestLedger.make(directory: first.directory, signer: first.signer)
        if lateRefused {
            #expect(try await second.store.locateEvents((0..<10).map { EventKey(platform: "example-ai", eventID: "late-\($0)") }).isEmpty)
        }
        #expect(second.ledger.treeSize == UInt64(receipts.count))
        #expect(second.ledger.latestCheckpoint?.size == UInt64(receipts.count))
        receipts += try await second.ledger.append((0..<70).map { submission("two-\($0)") })
        let final = try await second.ledger.waitForCheckpoint(covering: UInt64(receipts.count))
        checkpoints.append(final)

        for old in checkpoints {
            let proof = try await second.ledger.consistencyProof(first: old.size, second: final.size)
            try ProofVerifier.verifyConsistency(first: old.size, second: final.size, firstRoot: old.root, secondRoot: final.root, proof: proof)
        }
        for receipt in receipts {
            let (leafHash, proof) = try await second.ledger.inclusionProof(index: receipt.index, treeSize: final.size)
            #expect(leafHash == receipt.leafHash)
            try ProofVerifier.verifyInclusion(index: receipt.index, size: final.size, leafHash: leafHash, proof: proof, root: final.root)
        }
        // Re-sending an event from before the restart still answers its original place.
        let again = try await second.ledger.append([submission("one-0-7")])
        #expect(again == [AppendReceipt(eventID: "one-0-7", index: receipts[7].index, leafHash: receipts[7].leafHash, isNew: false)])
        await second.stop()
    }

    @Test("a ledger refuses to start with a key that did not sign its checkpoints")
    func wrongKeyRefused() async throws {
        let first = try await TestLedger.make()
        _ = try await first.ledger.append([submission("k-1")])
        await first.stop()
        await #expect(throws: LedgerError.self) {
            _ = try await Ledger.open(
                store: try SQLiteStore(path: first.directory.appendingPathComponent("greffe.sqlite").path),
                signer: try NoteSigner(generatingFor: "test.example/log"))
        }
    }
}

func submission(_ id: String) -> EventSubmission {
    let body = JSONValue.object(["event_id": .string(id), "kind": "generation.requested"])
    return try! EventSubmission(eventID: id, platform: "example-ai", kind: "generation.requested", canonicalBody: body.canonicalBytes())
}
