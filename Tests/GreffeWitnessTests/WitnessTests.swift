// The built-in witness against c2sp.org/tlog-witness: each refusal with the
// spec's status, the fork (same size, another root) refused, nothing stored
// on refusal, state that survives a restart, and the HTTP answers' exact shape.

import Foundation
import GreffeCore
import GreffeServer
import GreffeStore
import GreffeWitness
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

/// A log in memory: its leaves, its key, its signed checkpoints and proofs.
struct TestLog {
    let signer: NoteSigner
    var leaves: [Hash]

    init(signer: NoteSigner, leafCount: Int, seed: String = "") {
        self.signer = signer
        self.leaves = (0..<leafCount).map { MerkleHash.sha256(Array("\(seed)leaf \($0)".utf8)) }
    }

    var origin: String { signer.name }

    struct Nodes: NodeReader {
        let leaves: [Hash]
        func node(level: Int, index: UInt64) throws -> Hash {
            if level == 0 { return leaves[Int(index)] }
            return MerkleHash.node(
                try node(level: level - 1, index: 2 * index), try node(level: level - 1, index: 2 * index + 1))
        }
    }

    func root(_ size: UInt64) throws -> Hash { try MerkleTree.root(size: size, reader: Nodes(leaves: leaves)) }

    func checkpoint(_ size: UInt64) throws -> String {
        try signer.sign(text: Checkpoint(origin: origin, size: size, root: root(size)).text).formatted
    }

    func proof(_ first: UInt64, _ second: UInt64) throws -> [Hash] {
        first == 0 || first == second ? [] : try MerkleTree.consistencyProof(first: first, second: second, reader: Nodes(leaves: leaves))
    }

    func request(old: UInt64, size: UInt64) throws -> [UInt8] {
        Array(try AddCheckpointRequest(oldSize: old, consistencyProof: proof(old, size), noteText: checkpoint(size)).body.utf8)
    }
}

struct WitnessFixture {
    let directory: URL
    let log: TestLog
    let witnessSigner: CosignatureSigner
    var logs = WitnessedLogs()
    static let now: UInt64 = 1_764_000_000

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-witness-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let logSigner = try NoteSigner(generatingFor: "example.com/witnessed-log")
        log = TestLog(signer: logSigner, leafCount: 40)
        witnessSigner = try CosignatureSigner(generatingFor: "witness.example/w1")
        logs.trust(logSigner.verifier, for: logSigner.name)
    }

    var storePath: String { directory.appendingPathComponent("witness.sqlite").path }

    /// A witness over the fixture's store file; a second call is a restart.
    func witness(clock: @escaping @Sendable () -> UInt64 = { WitnessFixture.now }) throws -> Witness {
        Witness(signer: witnessSigner, logs: logs, store: try SQLiteWitnessStore(path: storePath), clock: clock)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

func refusal(_ body: @autoclosure () async throws -> [Cosignature]) async -> WitnessRefusal? {
    do {
        _ = try await body()
        return nil
    } catch let error as WitnessRefusal {
        return error
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

@Suite("built-in witness")
struct WitnessTests {
    @Test func cosignsAndAdvances() async throws {
        let fixture = try WitnessFixture()
        defer { fixture.remove() }
        let witness = try fixture.witness()
        let log = fixture.log

        let first = try await witness.addCheckpoint(body: log.request(old: 0, size: 3))
        #expect(first.count == 1)
        let noteWithCosignature = try SignedNote(parsing: try log.checkpoint(3) + first.map(\.line).joined())
        let verified = try fixture.witnessSigner.verifier.verify(note: noteWithCosignature)
        #expect(verified.timestamp == WitnessFixture.now)
        #expect(try await witness.state(of: log.origin)?.size == 3)

        for (old, new) in [(3, 4), (4, 8), (8, 8), (8, 13), (13, 40)] as [(UInt64, UInt64)] {
            let cosignatures = try await witness.addCheckpoint(body: log.request(old: old, size: new))
            let cosigned = try SignedNote(parsing: try log.checkpoint(new) + cosignatures.map(\.line).joined())
            _ = try fixture.witnessSigner.verifier.verify(note: cosigned)
            #expect(try await witness.state(of: log.origin)?.size == new)
            #expect(try await witness.state(of: log.origin)?.root == log.root(new))
        }
    }

    @Test func refusesWithTheSpecsStatuses() async throws {
        var fixture = try WitnessFixture()
        defer { fixture.remove() }
        let log = fixture.log
        // A second log the witness follows, never advanced: its state stays absent.
        let otherSigner = try NoteSigner(generatingFor: "example.com/other-log")
        fixture.logs.trust(otherSigner.verifier, for: otherSigner.name)
        let witness = try fixture.witness()
        _ = try await witness.addCheckpoint(body: log.request(old: 0, size: 8))

        // 409 with the witness's size: stale old size (too small, too large, zero).
        for old: UInt64 in [0, 3, 9] {
            let error = await refusal(try await witness.addCheckpoint(body: log.request(old: old, size: 20)))
            #expect(error?.code == .oldSizeMismatch(witnessSize: 8), "old \(old)")
            #expect(error?.status == 409)
        }
        // 400: old size past the checkpoint's size.
        let backwards = Array(try AddCheckpointRequest(oldSize: 9, consistencyProof: [], noteText: log.checkpoint(8)).body.utf8)
        #expect(await refusal(try await witness.addCheckpoint(body: backwards))?.status == 400)
        // 400: malformed bodies.
        for body in ["", "old 8\n", "old 08\n\n" + (try log.checkpoint(8)), "garbage"] {
            #expect(await refusal(try await witness.addCheckpoint(body: Array(body.utf8)))?.code == .malformed)
        }
        // 422: a proof with one hash flipped, a truncated proof, a proof with an extra hash.
        let good = try log.proof(8, 20)
        var flipped = good
        flipped[0] = MerkleHash.node(flipped[0], flipped[0])
        for proof in [flipped, Array(good.dropLast()), good + [good[0]]] {
            let body = Array(try AddCheckpointRequest(oldSize: 8, consistencyProof: proof, noteText: log.checkpoint(20)).body.utf8)
            let error = await refusal(try await witness.addCheckpoint(body: body))
            #expect(error?.code == .badProof)
            #expect(error?.status == 422)
        }
        // 422: a non-empty proof for equal sizes.
        let padded = Array(try AddCheckpointRequest(oldSize: 8, consistencyProof: [good[0]], noteText: log.checkpoint(8)).body.utf8)
        #expect(await refusal(try await witness.addCheckpoint(body: padded))?.status == 422)
        // 422: a non-empty proof from size 0 (a log the witness has no state for).
        let other = TestLog(signer: otherSigner, leafCount: 4)
        let fromZero = Array(try AddCheckpointRequest(oldSize: 0, consistencyProof: [good[0]], noteText: other.checkpoint(4)).body.utf8)
        #expect(await refusal(try await witness.addCheckpoint(body: fromZero))?.status == 422)
        #expect(try await witness.state(of: other.origin) == nil)

        // 403: signed by another key with the log's name (and the real signature's key ID unknown).
        let impostor = TestLog(signer: try NoteSigner(generatingFor: log.origin), leafCount: 40)
        let forged = try impostor.request(old: 8, size: 20)
        #expect(await refusal(try await witness.addCheckpoint(body: forged))?.code == .untrustedSignature)
        // 403: the log's own signature line on another root (a flipped signature byte).
        var tampered = try SignedNote(parsing: log.checkpoint(20))
        tampered.signatures[0].signature[5] ^= 1
        let tamperedBody = Array(try AddCheckpointRequest(oldSize: 8, consistencyProof: good, noteText: tampered.formatted).body.utf8)
        #expect(await refusal(try await witness.addCheckpoint(body: tamperedBody))?.status == 403)
        // 404: a log the witness does not follow (even validly signed by its own key).
        let stranger = TestLog(signer: try NoteSigner(generatingFor: "example.com/stranger"), leafCount: 4)
        let error = await refusal(try await witness.addCheckpoint(body: stranger.request(old: 0, size: 4)))
        #expect(error?.code == .unknownLog)
        #expect(error?.status == 404)

        // Nothing above moved the state.
        #expect(try await witness.state(of: log.origin)?.size == 8)
        #expect(try await witness.state(of: log.origin)?.root == log.root(8))
        // Signatures by unknown keys beside the trusted one are ignored.
        var extra = try SignedNote(parsing: log.checkpoint(20))
        extra.signatures.insert(try impostor.signer.sign(text: extra.text).signatures[0], at: 0)
        let body = Array(try AddCheckpointRequest(oldSize: 8, consistencyProof: good, noteText: extra.formatted).body.utf8)
        #expect(try await witness.addCheckpoint(body: body).count == 1)
        #expect(try await witness.state(of: log.origin)?.size == 20)
    }

    /// A log that signs two roots for one size (a fork) is refused: at the
    /// witness's size with 409 (tlog-witness: "If the old size matches the
    /// checkpoint size … root hashes … don't match … 409 Conflict"), beyond it
    /// with 422 (no consistency proof can link the fork to the cosigned tree).
    /// `--log-with-shards`: each shard `<origin>/<k>` is a log of its own, signed by the same key under its
    /// name; a look-alike origin (leading zero, shard 0, another base) and the base-named key are refused.
    @Test func followsALedgersShardsUnderTheirOwnNames() async throws {
        var fixture = try WitnessFixture()
        defer { fixture.remove() }
        let base = try NoteSigner(generatingFor: "example.com/sharded")
        fixture.logs.trustWithShards(base.verifier, for: base.name)
        let witness = try fixture.witness()
        let shard2 = TestLog(signer: try base.renamed("example.com/sharded/2"), leafCount: 8, seed: "s2")
        _ = try await witness.addCheckpoint(body: shard2.request(old: 0, size: 5))
        _ = try await witness.addCheckpoint(body: shard2.request(old: 5, size: 8))
        #expect(try await witness.state(of: "example.com/sharded/2")?.size == 8)
        let shard0 = TestLog(signer: base, leafCount: 4, seed: "s0")
        _ = try await witness.addCheckpoint(body: shard0.request(old: 0, size: 4))
        #expect(try await witness.state(of: "example.com/sharded")?.size == 4, "the base origin is shard 0, followed as a log of its own")

        for origin in ["example.com/sharded/02", "example.com/sharded/0", "example.com/sharded/x", "example.com/other/3"] {
            let lookalike = TestLog(signer: try base.renamed(origin), leafCount: 2)
            #expect(await refusal(try await witness.addCheckpoint(body: lookalike.request(old: 0, size: 2)))?.status == 404, "\(origin)")
        }
        // Shard 3's checkpoint signed under the base name: the key a witness trusts for a shard is the shard-named one.
        let misnamed = try base.sign(text: Checkpoint(origin: "example.com/sharded/3", size: 2, root: try shard2.root(2)).text).formatted
        let body = Array(try AddCheckpointRequest(oldSize: 0, consistencyProof: [], noteText: misnamed).body.utf8)
        #expect(await refusal(try await witness.addCheckpoint(body: body))?.status == 403)
    }

    @Test func refusesAFork() async throws {
        let fixture = try WitnessFixture()
        defer { fixture.remove() }
        let log = fixture.log
        let fork = TestLog(signer: log.signer, leafCount: 40, seed: "fork ")
        let witness = try fixture.witness()
        _ = try await witness.addCheckpoint(body: log.request(old: 0, size: 8))

        let sameSize = await refusal(try await witness.addCheckpoint(body: fork.request(old: 8, size: 8)))
        #expect(sameSize?.code == .rootMismatch)
        #expect(sameSize?.status == 409)
        // The fork's own proof from its size 8 to 20 does not link our root to its root.
        let larger = await refusal(try await witness.addCheckpoint(body: fork.request(old: 8, size: 20)))
        #expect(larger?.code == .badProof)
        // A fork sharing the first 8 leaves but diverging after: consistent with 8, so cosigned at 12...
        var late = fork
        late.leaves.replaceSubrange(0..<8, with: log.leaves[0..<8])
        _ = try await witness.addCheckpoint(body: late.request(old: 8, size: 12))
        // ... and then the true log's 12 is the fork: refused.
        #expect(await refusal(try await witness.addCheckpoint(body: log.request(old: 12, size: 12)))?.code == .rootMismatch)
        #expect(await refusal(try await witness.addCheckpoint(body: log.request(old: 12, size: 20)))?.code == .badProof)
        #expect(try await witness.state(of: log.origin)?.root == late.root(12))
    }

    @Test func stateSurvivesARestart() async throws {
        let fixture = try WitnessFixture()
        defer { fixture.remove() }
        let log = fixture.log
        do {
            let witness = try fixture.witness()
            _ = try await witness.addCheckpoint(body: log.request(old: 0, size: 5))
            _ = try await witness.addCheckpoint(body: log.request(old: 5, size: 17))
        }
        let restarted = try fixture.witness()
        #expect(try await restarted.state(of: log.origin)?.size == 17)
        #expect(try await restarted.state(of: log.origin)?.note == log.checkpoint(17))
        #expect(await refusal(try await restarted.addCheckpoint(body: log.request(old: 5, size: 20)))?.code == .oldSizeMismatch(witnessSize: 17))
        #expect(await refusal(try await restarted.addCheckpoint(body: log.request(old: 0, size: 20)))?.code == .oldSizeMismatch(witnessSize: 17))
        _ = try await restarted.addCheckpoint(body: log.request(old: 17, size: 20))
    }

    /// A clock that steps back never dates a cosignature before the log's previous one, across restarts too.
    @Test func timestampsNeverGoBack() async throws {
        let fixture = try WitnessFixture()
        defer { fixture.remove() }
        let log = fixture.log
        let now = Mutex<UInt64>(1_000)
        let clock: @Sendable () -> UInt64 = { now.withLock { $0 } }
        var witness = try fixture.witness(clock: clock)
        #expect(try await witness.addCheckpoint(body: log.request(old: 0, size: 4))[0].timestamp == 1_000)
        now.withLock { $0 = 500 }
        #expect(try await witness.addCheckpoint(body: log.request(old: 4, size: 9))[0].timestamp == 1_000)
        witness = try fixture.witness(clock: clock)
        #expect(try await witness.addCheckpoint(body: log.request(old: 9, size: 9))[0].timestamp == 1_000)
        now.withLock { $0 = 2_000 }
        let later = try await witness.addCheckpoint(body: log.request(old: 9, size: 12))[0]
        #expect(later.timestamp == 2_000)
        _ = try fixture.witnessSigner.verifier.verify(note: SignedNote(parsing: log.checkpoint(12) + later.line))
    }

    /// Every pair of sizes in a 33-leaf tree: the real proof is accepted, every
    /// one-hash flip, a truncation and a swapped pair of roots are refused (pure policy).
    @Test func exhaustiveSmallTrees() throws {
        let fixture = try WitnessFixture()
        defer { fixture.remove() }
        let log = fixture.log
        for first: UInt64 in 1...33 {
            let stored = WitnessLogState(size: first, root: try log.root(first), note: "")
            for second in first...33 {
                let proof = try log.proof(first, second)
                let good = try AddCheckpointRequest(oldSize: first, consistencyProof: proof, noteText: log.checkpoint(second))
                #expect(try WitnessPolicy.check(good, logs: fixture.logs, stored: stored).size == second)
                for i in proof.indices {
                    var bad = good
                    bad.consistencyProof[i] = MerkleHash.node(proof[i], proof[i])
                    #expect(throws: WitnessRefusal.self) { try WitnessPolicy.check(bad, logs: fixture.logs, stored: stored) }
                }
                if !proof.isEmpty {
                    var short = good
                    short.consistencyProof.removeLast()
                    #expect(throws: WitnessRefusal.self) { try WitnessPolicy.check(short, logs: fixture.logs, stored: stored) }
                }
                if first < second {
                    let swapped = WitnessLogState(size: first, root: try log.root(second), note: "")
                    #expect(throws: WitnessRefusal.self) { try WitnessPolicy.check(good, logs: fixture.logs, stored: swapped) }
                }
            }
        }
    }

    /// The store's compare-and-swap: a stale expectation changes nothing.
    @Test func storeIsCompareAndSwap() throws {
        let fixture = try WitnessFixture()
        defer { fixture.remove() }
        let store = try SQLiteWitnessStore(path: fixture.storePath)
        let a = WitnessLogState(size: 3, root: try fixture.log.root(3), note: "a", timestamp: 1)
        let b = WitnessLogState(size: 5, root: try fixture.log.root(5), note: "b", timestamp: 2)
        #expect(try store.advance(origin: "o", from: nil, to: a))
        #expect(try !store.advance(origin: "o", from: nil, to: b))
        #expect(try !store.advance(origin: "o", from: WitnessLogState(size: 3, root: .zero, note: "a", timestamp: 1), to: b))
        #expect(try !store.advance(origin: "o", from: WitnessLogState(size: 3, root: a.root, note: "a", timestamp: 0), to: b))
        #expect(throws: StoreError.self) { try store.advance(origin: "o", from: b, to: a) }
        #expect(try store.advance(origin: "o", from: a, to: b))
        #expect(try store.latest(origin: "o") == b)
        #expect(try store.latest(origin: "p") == nil)
    }
}

@Suite("witness HTTP")
struct WitnessHTTPTests {
    @Test func answersAsTheSpecSays() async throws {
        let fixture = try WitnessFixture()
        defer { fixture.remove() }
        let log = fixture.log
        let router = Router()
        WitnessAPI(witness: try fixture.witness()).addRoutes(to: router)
        let verifier = fixture.witnessSigner.verifier
        try await Application(router: router).test(.router) { client in
            let checkpoint3 = try log.checkpoint(3)
            try await client.execute(uri: "/add-checkpoint", method: .post, body: ByteBuffer(bytes: log.request(old: 0, size: 3))) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(text.hasPrefix("— witness.example/w1 "))
                #expect(text.hasSuffix("\n"))
                let note = try SignedNote(parsing: checkpoint3 + text)
                #expect(try verifier.verify(note: note).timestamp == WitnessFixture.now)
            }
            try await client.execute(uri: "/add-checkpoint", method: .post, body: ByteBuffer(bytes: log.request(old: 1, size: 9))) { response in
                #expect(response.status == .conflict)
                #expect(response.headers[.contentType] == "text/x.tlog.size")
                #expect(String(buffer: response.body) == "3\n")
            }
            let fork = TestLog(signer: log.signer, leafCount: 3, seed: "fork ")
            try await client.execute(uri: "/add-checkpoint", method: .post, body: ByteBuffer(bytes: fork.request(old: 3, size: 3))) { response in
                #expect(response.status == .conflict)
                #expect(response.headers[.contentType] == "application/json")
                #expect(String(buffer: response.body).contains("forked"))
            }
            var badProof = try log.proof(3, 9)
            badProof[0] = .zero
            let badBody = try AddCheckpointRequest(oldSize: 3, consistencyProof: badProof, noteText: log.checkpoint(9)).body
            try await client.execute(uri: "/add-checkpoint", method: .post, body: ByteBuffer(string: badBody)) { response in
                #expect(response.status == .unprocessableContent)
            }
            let stranger = TestLog(signer: try NoteSigner(generatingFor: "example.com/stranger"), leafCount: 4)
            try await client.execute(uri: "/add-checkpoint", method: .post, body: ByteBuffer(bytes: stranger.request(old: 0, size: 4))) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("\"error\""))
            }
            let impostor = TestLog(signer: try NoteSigner(generatingFor: log.origin), leafCount: 9)
            try await client.execute(uri: "/add-checkpoint", method: .post, body: ByteBuffer(bytes: impostor.request(old: 3, size: 9))) { response in
                #expect(response.status == .forbidden)
            }
            try await client.execute(uri: "/add-checkpoint", method: .post, body: ByteBuffer(string: "old x\n\n")) { response in
                #expect(response.status == .badRequest)
            }
            let huge = ByteBuffer(repeating: UInt8(ascii: "a"), count: AddCheckpointRequest.maxBodyBytes + 1)
            try await client.execute(uri: "/add-checkpoint", method: .post, body: huge) { response in
                #expect(response.status == .contentTooLarge)
            }
            try await client.execute(uri: "/add-checkpoint", method: .get) { response in
                #expect(response.status == .methodNotAllowed || response.status == .notFound)
            }
            try await client.execute(uri: "/add-checkpoint", method: .post, body: ByteBuffer(bytes: log.request(old: 3, size: 9))) { response in
                #expect(response.status == .ok)
            }
        }
    }
}

@Suite("witness directory")
struct WitnessDirectoryTests {
    @Test func initKeyModeLockAndRefusals() throws {
        let fixture = try WitnessFixture()
        defer { fixture.remove() }
        let directory = WitnessDirectory(path: fixture.directory.appendingPathComponent("w").path)
        let verifier = try directory.initialize(name: "witness.example/dir")
        var info = stat()
        #expect(stat(directory.keyPath, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(try String(contentsOfFile: directory.verifierKeyPath, encoding: .utf8) == verifier.verifierKey + "\n")
        #expect(try directory.loadSigner().verifier.verifierKey == verifier.verifierKey)
        #expect(throws: WitnessDirectory.Failure.self) { try directory.initialize(name: "witness.example/dir") }

        // A state without a key: init refuses to give it a new key.
        try FileManager.default.removeItem(atPath: directory.keyPath)
        #expect(throws: WitnessDirectory.Failure.self) { try directory.initialize(name: "witness.example/other") }

        // A key others can read is refused.
        let loose = WitnessDirectory(path: fixture.directory.appendingPathComponent("loose").path)
        _ = try loose.initialize(name: "witness.example/loose")
        chmod(loose.keyPath, 0o644)
        #expect(throws: WitnessDirectory.Failure.self) { try loose.loadSigner() }

        // One witness per directory.
        let lock = try loose.lock()
        defer { close(lock) }
        #expect(throws: WitnessDirectory.Failure.self) { try loose.lock() }
    }
}
