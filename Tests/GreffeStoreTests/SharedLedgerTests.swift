import Foundation
import GreffeCore
import GreffeLedger
import GreffePostgres
import GreffeStore
import Synchronization
import Testing

/// Two ledgers on one PostgreSQL database, as two `greffe serve` nodes:
/// the lease holder sequences, the other hands over, and takes over when
/// the first one goes away.
@Suite("Ledgers sharing a PostgreSQL store", .enabled(if: PostgresTestServer.url != nil, "needs GREFFE_TEST_POSTGRES"))
struct SharedLedgerTests {
    func event(_ id: String, _ body: String = "{}") -> EventSubmission {
        try! EventSubmission(eventID: id, platform: "example-ai", kind: "test.event", canonicalBody: Array("{\"event_id\":\"\(id)\",\"x\":\(body)}".utf8))
    }

    /// Two nodes on a fresh database: `a` opens first and holds the lease.
    func twoNodes(_ origin: String) async throws -> (PostgresLocation, NoteSigner, PostgresStore, PostgresStore, Ledger, Ledger) {
        let location = try await PostgresTestServer.freshDatabase()
        let logger = PostgresTestServer.logger
        let signer = try NoteSigner(generatingFor: origin)
        let storeA = try await PostgresStore.connect(location, logger: logger)
        let storeB = try await PostgresStore.connect(location, logger: logger)
        let a = try await Ledger.open(store: storeA, signer: signer, checkpointInterval: .milliseconds(20), node: "a", logger: logger)
        let b = try await Ledger.open(store: storeB, signer: signer, checkpointInterval: .milliseconds(20), node: "b", logger: logger)
        return (location, signer, storeA, storeB, a, b)
    }

    @Test("a follower hands appends over, gets the sequencer's receipts and checkpoints, and takes over when the sequencer stops")
    func followerAndTakeover() async throws {
        let (location, signer, storeA, storeB, a, b) = try await twoNodes("shared.greffe.test/log")
        #expect(a.isSequencer)
        #expect(!b.isSequencer)
        let runA = Task { await a.run() }
        let runB = Task { await b.run() }

        let handedOver = try await b.append([event("e1"), event("e2")])
        #expect(handedOver.map(\.index) == [0, 1])
        let allNew = handedOver.allSatisfy { $0.isNew }
        #expect(allNew)
        // The same events through the sequencer: the original places.
        let again = try await a.append([event("e1"), event("e2")])
        let noneNew = again.allSatisfy { !$0.isNew }
        #expect(again.map(\.index) == [0, 1] && noneNew)
        #expect(again.map(\.leafHash) == handedOver.map(\.leafHash))
        // A conflicting re-send through the follower is refused as it would be on the sequencer.
        await #expect(throws: LedgerError.self) { _ = try await b.append([event("e1", "1")]) }

        // The follower serves the sequencer's signed checkpoint and proofs up to it.
        let checkpoint = try await b.waitForCheckpoint(covering: 2)
        let verified = try CheckpointVerifier.verify(note: checkpoint.note, verifier: signer.verifier)
        #expect(verified.checkpoint.size >= 2)
        let proof = try await b.inclusionProof(index: 1, treeSize: 2)
        #expect(proof.leafHash == handedOver[1].leafHash)

        // The sequencer stops and releases its connections: the follower takes over and continues the same tree.
        a.shutdown()
        await runA.value
        storeA.close()
        for _ in 0..<100 where !b.isSequencer { try await Task.sleep(for: .milliseconds(50)) }
        #expect(b.isSequencer)
        let after = try await b.append([event("e3")])
        #expect(after.map(\.index) == [2])
        let signed = try await b.waitForCheckpoint(covering: 3)
        let reader = try await MapReader(store: storeB, size: 3).reader()
        #expect(try MerkleTree.root(size: 3, reader: reader) == signed.root)
        b.shutdown()
        await runB.value
        storeB.close()
    }

    @Test("concurrent erasures of one event on two nodes record one order; the body is gone and VACUUM ran")
    func erasureOnceAcrossNodes() async throws {
        let (location, _, storeA, storeB, a, b) = try await twoNodes("shared.greffe.test/erasure")
        let runA = Task { await a.run() }
        let runB = Task { await b.run() }
        _ = try await a.append([event("keep"), event("target", "\"secret\"")])
        _ = try await b.waitForCheckpoint(covering: 2)
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for n in 0..<6 {
                let node = n % 2 == 0 ? a : b
                group.addTask { (try? await node.erase(index: 1, legalReference: "order-\(n)", reason: "r")) != nil }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
        #expect(try await storeA.searchEvents(EventQuery(kinds: ["erasure.executed"])).count == 1)
        let erased = try #require(try await storeB.readEvent(index: 1))
        #expect(erased.canonicalBody == nil && erased.erasure != nil)
        #expect(try await PostgresTestServer.integer("SELECT count(*) FROM events WHERE erasure_index = -1", on: location) == 0)
        a.shutdown()
        b.shutdown()
        await runA.value
        await runB.value
        storeA.close()
        storeB.close()
    }

    @Test("key rotation across nodes: a node on the transition keys follows, one left on the old key after retirement refuses to start")
    func rotationAcrossNodes() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let logger = PostgresTestServer.logger
        let old = try NoteSigner(generatingFor: "shared.greffe.test/rotation")
        let new = try NoteSigner(generatingFor: "shared.greffe.test/rotation")
        let storeA = try await PostgresStore.connect(location, logger: logger)
        // Node a: the transition (both keys sign).
        let a = try await Ledger.open(store: storeA, keys: try LogKeys(signers: [old, new]), checkpointInterval: .milliseconds(20), node: "a", logger: logger)
        let runA = Task { await a.run() }
        _ = try await a.append([event("r1")])
        let both = try await a.waitForCheckpoint(covering: 1)
        #expect(try SignedNote(parsing: both.note).signatures.map(\.keyID) == [old.keyID, new.keyID])
        // A node still on the old key alone verifies the two-signature checkpoints and follows.
        let storeB = try await PostgresStore.connect(location, logger: logger)
        let b = try await Ledger.open(store: storeB, signer: old, checkpointInterval: .milliseconds(20), node: "b", logger: logger)
        #expect(!b.isSequencer && b.latestCheckpoint?.size == 1)
        b.shutdown()
        storeB.close()
        a.shutdown()
        await runA.value
        storeA.close()

        // After retirement: only the new key signs.
        let storeC = try await PostgresStore.connect(location, logger: logger)
        let c = try await Ledger.open(
            store: storeC, keys: try LogKeys(signers: [new], retired: [old.verifier]), checkpointInterval: .milliseconds(20), node: "c", logger: logger)
        let runC = Task { await c.run() }
        _ = try await c.append([event("r2")])
        let newOnly = try await c.waitForCheckpoint(covering: 2)
        #expect(try SignedNote(parsing: newOnly.note).signatures.map(\.keyID) == [new.keyID])
        // A node whose key files were not updated refuses to start rather than serve or sign.
        let storeD = try await PostgresStore.connect(location, logger: logger)
        do {
            _ = try await Ledger.open(store: storeD, signer: old, checkpointInterval: .milliseconds(20), node: "d", logger: logger)
            Issue.record("a node with only the retired key started")
        } catch {
            #expect("\(error)".contains("does not verify the stored checkpoints") && "\(error)".contains("refusing to start"))
        }
        storeD.close()
        c.shutdown()
        await runC.value
        storeC.close()
    }
}

/// Witnesses without a network: cosigns with its own keys while `answering`.
final class DirectCosigner: CheckpointCosigner {
    let signers: [CosignatureSigner]
    let policy: WitnessQuorum
    let answering = Mutex(true)

    init(witnesses: Int) throws {
        signers = try (0..<witnesses).map { try CosignatureSigner(generatingFor: "witness.greffe.test/w\($0)") }
        policy = try WitnessQuorum(witnesses: signers.map(\.verifier))
    }

    func cosign(_ checkpoint: StoredCheckpoint, consistencyProof: @escaping @Sendable (UInt64, UInt64) async throws -> [Hash]) async -> String? {
        guard answering.withLock({ $0 }), let note = try? SignedNote(parsing: checkpoint.note) else { return nil }
        return checkpoint.note + signers.map { try! $0.cosign(checkpointText: note.text, timestamp: 1_764_000_000).line }.joined()
    }

    func check(cosignedNote: String) -> CosignatureCheck { policy.check(noteText: cosignedNote) }
}

extension SharedLedgerTests {
    @Test("with witnesses, the follower serves the cosigned checkpoint the sequencer stored, and nothing the witnesses did not cosign")
    func followerServesCosignedCheckpoints() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let logger = PostgresTestServer.logger
        let signer = try NoteSigner(generatingFor: "shared.greffe.test/witnessed")
        let cosigner = try DirectCosigner(witnesses: 2)
        let storeA = try await PostgresStore.connect(location, logger: logger)
        let storeB = try await PostgresStore.connect(location, logger: logger)
        let a = try await Ledger.open(store: storeA, signer: signer, checkpointInterval: .milliseconds(20), node: "a", logger: logger, cosigner: cosigner)
        let b = try await Ledger.open(store: storeB, signer: signer, checkpointInterval: .milliseconds(20), node: "b", logger: logger, cosigner: cosigner)
        let runA = Task { await a.run() }
        let runB = Task { await b.run() }

        _ = try await b.append([event("w1"), event("w2")])
        let first = try await b.waitForCheckpoint(covering: 2)
        #expect(cosigner.check(cosignedNote: first.note).cosigned.count == 2)
        #expect(try await storeB.latestAttestation(kind: .cosignedNote).map { String(decoding: $0.data, as: UTF8.self) } == first.note)

        // Witnesses silent: the sequencer signs and stores, the follower serves none of it.
        cosigner.answering.withLock { $0 = false }
        _ = try await b.append([event("w3")])
        for _ in 0..<500 where try await storeB.latestCheckpoint()?.size != 3 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try await storeB.latestCheckpoint()?.size == 3)
        try await Task.sleep(for: .milliseconds(300))
        #expect(b.latestCheckpoint?.note == first.note)
        cosigner.answering.withLock { $0 = true }
        let second = try await b.waitForCheckpoint(covering: 3)
        #expect(second.size == 3 && cosigner.check(cosignedNote: second.note).meetsQuorum)

        a.shutdown()
        b.shutdown()
        await runA.value
        await runB.value
        storeA.close()
        storeB.close()
    }
}

/// The stored tree's nodes, read once, for a root computed by the test itself.
private struct MapReader {
    let store: any LedgerStore
    let size: UInt64

    func reader() async throws -> any NodeReader {
        ComputingReader(leaves: try await store.readNodeRange(level: 0, first: 0, count: Int(size)))
    }
}

/// Answers any complete subtree from the leaves, independently of the stored interior nodes.
private struct ComputingReader: NodeReader {
    let leaves: [Hash]

    func node(level: Int, index: UInt64) throws -> Hash {
        if level == 0 { return leaves[Int(index)] }
        return MerkleHash.node(try node(level: level - 1, index: 2 * index), try node(level: level - 1, index: 2 * index + 1))
    }
}
