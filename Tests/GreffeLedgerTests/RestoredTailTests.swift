import Foundation
import GreffeCore
import GreffeLedger
import GreffeSQLite
import GreffeStore
import Testing

/// A restore that puts back the entries after the backup from a copy of the public log
/// (`greffe restore --tail-from`): the store takes them only as the exact continuation of its
/// tree, and the ledger records the gap in the log itself.
@Suite struct RestoredTailTests {
    static func submission(_ id: String, kind: String = "generation.requested") -> EventSubmission {
        let body = JSONValue.object(["event_id": .string(id), "kind": .string(kind), "account": .string("acct-\(id.suffix(1))")])
        return try! EventSubmission(eventID: id, platform: "example-ai", kind: kind, canonicalBody: body.canonicalBytes())
    }

    static func temporaryPath(_ name: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-tail-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent(name).path
    }

    /// A ledger of `total` events, a backup of it taken at `backupSize`, and the public entries after it.
    struct Lost {
        let signer: NoteSigner
        let backupPath: String
        let tail: [[UInt8]]
        let rootAtEnd: Hash
        let end: UInt64
    }

    static func lostLedger(backupSize: Int, total: Int) async throws -> Lost {
        let signer = try NoteSigner(generatingFor: "tail.test/log")
        let path = try temporaryPath("lost.sqlite")
        let store = try SQLiteStore(path: path)
        let ledger = try await Ledger.open(store: store, signer: signer, checkpointInterval: .milliseconds(10))
        let running = Task { await ledger.run() }
        func appendUpTo(_ size: Int) async throws {
            var next = Int(ledger.treeSize)
            while next < size {
                let count = min(500, size - next)
                _ = try await ledger.append((next..<next + count).map { submission("e\($0)") })
                next += count
            }
        }
        try await appendUpTo(backupSize)
        let backupPath = try temporaryPath("backup.sqlite")
        _ = try SQLiteStore.backup(databaseAt: path, to: backupPath)
        try await appendUpTo(total)
        _ = try await ledger.waitForCheckpoint(covering: UInt64(total))
        ledger.shutdown()
        await running.value
        let tail = try await store.readEntries(first: UInt64(backupSize), count: total - backupSize)
        let root = try await store.withNodes { try MerkleTree.root(size: UInt64(total), reader: $0) }
        return Lost(signer: signer, backupPath: backupPath, tail: tail, rootAtEnd: root, end: UInt64(total))
    }

    @Test func theTailMakesTheLostTreeAgainAndIsRecorded() async throws {
        // Across a chunk boundary (4,096 entries), so the leaf-hash rows land in two runs.
        let lost = try await Self.lostLedger(backupSize: 4_000, total: 4_500)
        let store = try SQLiteStore.forOfflineCommand(path: lost.backupPath)
        #expect(try await store.appendRecoveredEntries(lost.tail) == lost.end)
        #expect(try await store.withNodes { try MerkleTree.root(size: lost.end, reader: $0) } == lost.rootAtEnd)
        for index in [4_000, 4_095, 4_096, 4_499] {
            let leaf = MerkleHash.leaf(lost.tail[index - 4_000])
            #expect(try await store.leafIndex(of: leaf) == UInt64(index), "a recovered leaf is found by its hash")
        }
        #expect(try await store.readEvent(index: 4_200) == nil, "a recovered entry has no event: its body is lost")
        #expect(try await store.readEvent(index: 3_999) != nil)

        let ledger = try await Ledger.open(store: store, signer: lost.signer, checkpointInterval: .milliseconds(10))
        let running = Task { await ledger.run() }
        let orders = [Ledger.LostOrder(index: 4_321, kind: "erasure.executed")]
        let receipt = try await ledger.recordRestoredTail(
            backupTreeSize: 4_000, checkpointNote: "the copy's note", reason: "disk lost", lostOrders: orders)
        #expect(receipt.index == lost.end)
        let after = try await ledger.append([Self.submission("after")])[0]
        let checkpoint = try await ledger.waitForCheckpoint(covering: after.index + 1)
        // What the lost ledger published at 4,500 is a prefix of what the restored one signs: no fork.
        let proof = try await ledger.consistencyProof(first: lost.end, second: checkpoint.size)
        try ProofVerifier.verifyConsistency(first: lost.end, second: checkpoint.size, firstRoot: lost.rootAtEnd, secondRoot: checkpoint.root, proof: proof)
        let record = try #require(try await ledger.readEvent(index: receipt.index))
        #expect(record.kind == "ledger.restored" && record.platform == "greffe")
        let body = try JSONParser.parse(try #require(record.canonicalBody))
        #expect(body["backup_tree_size"]?.intValue == 4_000)
        #expect(body["lost_bodies"]?["first_index"]?.intValue == 4_000 && body["lost_bodies"]?["end_index"]?.intValue == 4_500)
        #expect(body["lost_orders"]?.arrayValue?.first?["index"]?.intValue == 4_321)
        #expect(body["recovered_from_checkpoint"]?.stringValue == "the copy's note")
        // The record satisfies the schema Greffe publishes for it, so an outside verifier can check it too.
        #expect(throws: Never.self) { try EventSchemaSet.builtIn.validate(body) }
        ledger.shutdown()
        await running.value
        _ = try SQLiteStore.verifyDatabaseFile(at: lost.backupPath)
    }

    @Test func aTailThatIsNotTheContinuationIsRefusedWhole() async throws {
        let lost = try await Self.lostLedger(backupSize: 40, total: 60)
        let other = try await Self.lostLedger(backupSize: 40, total: 60)  // another log, same shape
        var changed = lost.tail
        changed[5][40] ^= 1  // a commitment byte: entry 45 decodes, but 46 no longer links to it
        var kindChanged = lost.tail
        kindChanged[19][kindChanged[19].count - 1] = UInt8(ascii: "x")  // the last entry's kind: nothing links to it, so its time and index hold
        let cases: [(String, [[UInt8]], String)] = [
            ("a changed entry", changed, "does not link to the leaf before it"),
            ("an entry removed", Array(lost.tail[0..<3] + lost.tail[4...]), "says it is entry"),
            ("two entries swapped", [lost.tail[1], lost.tail[0]] + Array(lost.tail[2...]), "says it is entry"),
            ("the tail without its first entry", Array(lost.tail.dropFirst()), "says it is entry"),
            ("another log's tail", other.tail, "does not link to the leaf before it"),
            ("bytes that are no entry", [Array(repeating: 7, count: 90)], "does not decode"),
        ]
        let store = try SQLiteStore.forOfflineCommand(path: lost.backupPath)
        for (what, tail, message) in cases {
            await #expect(throws: StoreError.self, "\(what) must be refused") { _ = try await store.appendRecoveredEntries(tail) }
            do { _ = try await store.appendRecoveredEntries(tail) } catch { #expect("\(error)".contains(message), "\(what): \(error)") }
            #expect(try await store.treeSize() == 40, "\(what): nothing of it stays")
        }
        // A changed kind is not caught by the store (the entry links, and nothing after it): the replay of the
        // copy against its signed checkpoint is what refuses it (ops/tests/disaster.sh). The store takes it,
        // but its root is then not the lost ledger's.
        #expect(try await store.appendRecoveredEntries(kindChanged) == 60)
        #expect(try await store.withNodes { try MerkleTree.root(size: 60, reader: $0) } != lost.rootAtEnd)
    }
}
