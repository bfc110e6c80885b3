import Foundation
import GreffeCore
import GreffeHTTP
import GreffeLedger
@testable import GreffeRelay
import GreffeStore
import Logging
import Synchronization
import Testing

/// A ledger in memory that keeps a real RFC 9162 tree and signs real checkpoints, and can be told to lie.
final class FakeLedger: RelayLedgerClient, @unchecked Sendable {
    enum Lie: Sendable {
        case none
        /// One hash of the next inclusion proof changed.
        case inclusionProof
        /// The next answer's leaf hash is another event's.
        case otherLeaf
        /// Checkpoints signed by another key.
        case otherKey
        /// Checkpoints over a different root at the real size (a fork signed with the real key).
        case forkedRoot
        /// The ledger lost its last `n` entries (restored from an old backup).
        case rolledBack(Int)
        /// Drops the receipt of the last event of the next batch.
        case missingReceipt
    }

    let signer: NoteSigner
    let otherSigner: NoteSigner
    private let lock = Mutex(())
    private(set) var leaves: [Hash] = []
    private(set) var indexByID: [String: UInt64] = [:]
    var lie: Lie = .none
    /// Answers (status) given instead of appending, one per call, before behaving.
    var failures: [Int] = []
    /// Event IDs refused with 422.
    var refusedIDs: Set<String> = []
    private(set) var appendCalls = 0

    init() throws {
        signer = try NoteSigner(generatingFor: "relay.test/log")
        otherSigner = try NoteSigner(generatingFor: "relay.test/log")
    }

    func with<T>(_ body: (FakeLedger) throws -> T) rethrows -> T {
        try lock.withLock { _ in try body(self) }
    }

    private var visibleSize: Int {
        if case .rolledBack(let n) = lie { return max(0, leaves.count - n) }
        return leaves.count
    }

    private struct Reader: NodeReader {
        let leaves: [Hash]
        func node(level: Int, index: UInt64) throws -> Hash {
            if level == 0 { return leaves[Int(index)] }
            return MerkleHash.node(try node(level: level - 1, index: 2 * index), try node(level: level - 1, index: 2 * index + 1))
        }
    }

    private func note(size: Int) throws -> String {
        var root = try MerkleTree.root(size: UInt64(size), reader: Reader(leaves: leaves))
        if case .forkedRoot = lie { root = MerkleHash.sha256(Array("forked".utf8) + root.bytes) }
        let text = Checkpoint(origin: "relay.test/log", size: UInt64(size), root: root).text
        if case .otherKey = lie { return try otherSigner.sign(text: text).formatted }
        return try signer.sign(text: text).formatted
    }

    func append(body: [UInt8]) async throws -> RelayLedgerAnswer {
        try with { ledger in
            ledger.appendCalls += 1
            if !ledger.failures.isEmpty {
                let status = ledger.failures.removeFirst()
                return RelayLedgerAnswer(status: status, body: Array(#"{"error":"try later"}"#.utf8), retryAfter: status == 429 ? 1 : nil)
            }
            let events = try JSONParser.parse(body)["events"]!.arrayValue!
            let ids = events.map { $0["event_id"]!.stringValue! }
            if let refused = ids.first(where: { ledger.refusedIDs.contains($0) }) {
                return RelayLedgerAnswer(status: 422, body: Array("{\"error\":\"/kind: \(refused) breaks a rule\"}".utf8))
            }
            for (id, event) in zip(ids, events) where ledger.indexByID[id] == nil {
                ledger.indexByID[id] = UInt64(ledger.leaves.count)
                ledger.leaves.append(MerkleHash.leaf(event.canonicalBytes()))
            }
            let size = ledger.visibleSize
            var results: [JSONValue] = []
            for id in ids {
                let index = ledger.indexByID[id]!
                var leaf = ledger.leaves[Int(index)]
                if case .otherLeaf = ledger.lie { leaf = ledger.leaves[Int(index) == 0 ? 1 : 0] }
                var proof = try MerkleTree.inclusionProof(index: index, size: UInt64(size), reader: Reader(leaves: ledger.leaves))
                if case .inclusionProof = ledger.lie, !proof.isEmpty { proof[0] = MerkleHash.sha256(proof[0].bytes) }
                results.append([
                    "event_id": .string(id), "index": .number(Double(index)), "leaf_hash": .string(leaf.base64),
                    "inclusion_proof": [
                        "index": .number(Double(index)), "tree_size": .number(Double(size)), "leaf_hash": .string(leaf.base64),
                        "proof": .array(proof.map { .string($0.base64) }),
                    ],
                ])
            }
            if case .missingReceipt = ledger.lie { results.removeLast() }
            let answer: JSONValue = ["results": .array(results), "checkpoint": .string(try ledger.note(size: size))]
            return RelayLedgerAnswer(status: 201, body: answer.canonicalBytes())
        }
    }

    func checkpoint() async throws -> RelayLedgerAnswer {
        try with { ledger in RelayLedgerAnswer(status: 200, body: Array(try ledger.note(size: ledger.visibleSize).utf8)) }
    }

    func consistency(first: UInt64, second: UInt64) async throws -> RelayLedgerAnswer {
        try with { ledger in
            guard second <= UInt64(ledger.visibleSize), first <= second else {
                return RelayLedgerAnswer(status: 400, body: Array(#"{"error":"second is beyond the tree"}"#.utf8))
            }
            let proof = try MerkleTree.consistencyProof(first: first, second: second, reader: Reader(leaves: ledger.leaves))
            let answer: JSONValue = ["first": .number(Double(first)), "second": .number(Double(second)), "proof": .array(proof.map { .string($0.base64) })]
            return RelayLedgerAnswer(status: 200, body: answer.canonicalBytes())
        }
    }
}

/// A relay on a fresh queue in a temporary directory, in front of a fake ledger.
struct RelayHarness {
    let directory: URL
    let queue: RelayQueue
    let ledger: FakeLedger
    let forwarder: RelayForwarder
    let api: RelayAPI

    init(batchSize: Int = 50, inFlight: Int = 4, quotaBytes: Int64 = 1 << 30, ledger: FakeLedger? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-relay-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        queue = try RelayQueue(path: directory.appendingPathComponent("relay.sqlite").path)
        self.ledger = try ledger ?? FakeLedger()
        forwarder = try RelayForwarder(
            queue: queue, ledger: self.ledger, verifier: self.ledger.signer.verifier, batchSize: batchSize, inFlight: inFlight, rollbackStrikes: 3,
            logger: Logger(label: "relay-test"))
        api = try RelayAPI(queue: queue, forwarder: forwarder, platform: "example-ai", quotaBytes: quotaBytes) { [] }
    }

    /// Steps until the queue is empty or `limit` steps.
    func drain(limit: Int = 20) async -> [RelayForwarder.Outcome] {
        var outcomes: [RelayForwarder.Outcome] = []
        for _ in 0..<limit {
            let outcome = await forwarder.step()
            outcomes.append(outcome)
            if outcome == .idle || outcome == .halted { break }
            if case .alarm = outcome { break }
        }
        return outcomes
    }
}

func relayEvent(_ id: String, reference: String = "REF-1", platform: String = "example-ai") -> String {
    "{\"event_id\":\"\(id)\",\"kind\":\"legal.request\",\"occurred_at\":\"2026-11-25T10:00:00Z\",\"platform\":\"\(platform)\","
        + "\"schema_version\":1,\"authority\":\"Parquet de Paris\",\"reference\":\"\(reference)\",\"direction\":\"received\","
        + "\"request_type\":\"preservation\"}"
}

func admit(_ harness: RelayHarness, _ text: String) async throws -> RelayAPI.Admitted {
    try await harness.api.admit(Array(text.utf8))
}

@Suite("greffe relay")
struct RelayTests {
    @Test("events are delivered in batches, one or several requests at once; each receipt verifies against the signed root; the head follows the ledger",
          arguments: [1, 4])
    func delivers(inFlight: Int) async throws {
        let relay = try RelayHarness(batchSize: 4, inFlight: inFlight)
        for i in 0..<10 { _ = try await admit(relay, relayEvent("ev-\(i)")) }
        #expect(try relay.queue.counts().queued == 10)
        let outcomes = await relay.drain()
        #expect(outcomes == (inFlight == 1 ? [.delivered(4), .delivered(4), .delivered(2), .idle] : [.delivered(10), .idle]))
        #expect(relay.ledger.appendCalls == 3)
        let counts = try relay.queue.counts()
        #expect(counts.queued == 0 && counts.receipted == 10 && counts.oldestUnacknowledgedMilliseconds == nil)
        #expect(try relay.queue.head()?.size == 10)
        // The stored receipt stands on its own: its proof leads to the root of its signed checkpoint.
        let stored = try #require(try relay.queue.event(id: "ev-7"))
        #expect(stored.state == .receipted && stored.logIndex == 7)
        let receipt = try JSONParser.parse(try #require(stored.receipt))
        let checkpoint = try CheckpointVerifier.verify(note: try #require(receipt["checkpoint"]?.stringValue), verifier: relay.ledger.signer.verifier)
        let proof = try #require(receipt["inclusion_proof"]?["proof"]?.arrayValue).map { Hash(base64: $0.stringValue!)! }
        try ProofVerifier.verifyInclusion(
            index: 7, size: checkpoint.checkpoint.size, leafHash: Hash(base64: receipt["leaf_hash"]!.stringValue!)!, proof: proof,
            root: checkpoint.checkpoint.root)
    }

    @Test("validation before the queue: malformed 400, rule broken 422, other platform 403, same ID other body 409, nothing queued; same event again is a duplicate")
    func refusesAtOnce() async throws {
        let relay = try RelayHarness()
        func status(_ text: String) async -> Int? {
            do { _ = try await admit(relay, text); return nil } catch let error as APIError { return Int(error.status.code) } catch { return -1 }
        }
        #expect(await status("{\"event_id\":") == 400)
        #expect(await status(relayEvent("x").replacingOccurrences(of: "\"schema_version\":1", with: "\"schema_version\":\"1\"")) == 422)
        #expect(await status(relayEvent("x").replacingOccurrences(of: ",\"authority\":\"Parquet de Paris\"", with: "")) == 422, "a required field removed")
        #expect(await status(relayEvent("x").replacingOccurrences(of: "}", with: ",\"extra\":1}")) == 422, "a field added")
        #expect(await status("{\"events\":[\(relayEvent("ok-1")),\(relayEvent("other", platform: "other-ai"))]}") == 403)
        #expect(try relay.queue.counts().queued == 0, "a batch with one bad event queues none of it")
        let first = try await admit(relay, relayEvent("same"))
        #expect(first.items.map(\.isNew) == [true])
        // Member order does not matter: the canonical body is what is compared.
        let reordered = "{\"platform\":\"example-ai\"," + relayEvent("same").dropFirst().replacingOccurrences(of: ",\"platform\":\"example-ai\"", with: "")
        #expect(try await admit(relay, reordered).items.map(\.isNew) == [false])
        #expect(await status(relayEvent("same", reference: "REF-2")) == 409)
        #expect(try relay.queue.counts().queued == 1)
    }

    @Test("group commit: 200 producers at once, each answered after the commit holding it; one conflicting request fails alone")
    func groupCommit() async throws {
        let relay = try RelayHarness()
        _ = try await admit(relay, relayEvent("taken"))
        let outcomes = await withTaskGroup(of: (Int, Int).self) { group in
            for i in 0..<200 {
                group.addTask {
                    // Request 57 reuses a held ID under another body; request 58 repeats a held event exactly.
                    let text = i == 57 ? relayEvent("taken", reference: "OTHER") : i == 58 ? relayEvent("taken") : "{\"events\":[\(relayEvent("g-\(i)-a")),\(relayEvent("g-\(i)-b"))]}"
                    do {
                        let admitted = try await admit(relay, text)
                        return (i, admitted.items.filter(\.isNew).count)
                    } catch let error as APIError {
                        return (i, -Int(error.status.code))
                    } catch {
                        return (i, -1)
                    }
                }
            }
            var all: [Int: Int] = [:]
            for await (i, outcome) in group { all[i] = outcome }
            return all
        }
        #expect(outcomes[57] == -409 && outcomes[58] == 0)
        #expect(outcomes.filter { $0.key != 57 && $0.key != 58 }.allSatisfy { $0.value == 2 })
        let counts = try relay.queue.counts()
        #expect(counts.queued == 1 + 198 * 2)
        #expect(try relay.queue.event(id: "taken").map { _ in true } == true)
    }

    @Test("at the quota producers get 503 with Retry-After and nothing is queued")
    func quota() async throws {
        let relay = try RelayHarness(quotaBytes: 1000)
        _ = try await admit(relay, relayEvent("a"))
        _ = try await admit(relay, relayEvent("b"))
        do {
            for i in 0..<10 { _ = try await admit(relay, relayEvent("c-\(i)")) }
            Issue.record("the quota was never reached")
        } catch let error as APIError {
            #expect(error.status == .serviceUnavailable && error.retryAfter == 30)
        }
        let held = try relay.queue.counts()
        #expect(held.unreceiptedBytes <= 1000 && held.queued >= 2)
    }

    @Test("receipts free the quota; receipted bodies are dropped after the retention period, and a re-sent event is still a duplicate")
    func quotaFreedAndRetention() async throws {
        let relay = try RelayHarness(quotaBytes: 1000)
        var accepted = 0
        for i in 0..<12 {
            _ = try await admit(relay, relayEvent("q-\(i)"))
            accepted += 1
            #expect(await relay.forwarder.step() == .delivered(1))
        }
        #expect(accepted == 12, "receipted events no longer count against the quota")
        #expect(try relay.queue.counts().unreceiptedBytes == 0)
        #expect(try relay.queue.pruneDeliveredBodies(receivedBeforeMilliseconds: Int64(Date().timeIntervalSince1970 * 1000) + 1000) == 12)
        #expect(try relay.queue.pruneDeliveredBodies(receivedBeforeMilliseconds: Int64(Date().timeIntervalSince1970 * 1000) + 1000) == 0, "already dropped")
        #expect(try relay.queue.event(id: "q-3")?.receipt != nil, "the receipt stays")
        #expect(try await admit(relay, relayEvent("q-3")).items.map(\.isNew) == [false])
        do {
            _ = try await admit(relay, relayEvent("q-3", reference: "OTHER"))
            Issue.record("another body under a pruned ID was taken")
        } catch let error as APIError {
            #expect(error.status == .conflict)
        }
    }

    @Test("a ledger that is down, busy or failing: events stay queued, then are delivered once")
    func retries() async throws {
        let relay = try RelayHarness()
        for i in 0..<3 { _ = try await admit(relay, relayEvent("r-\(i)")) }
        relay.ledger.with { $0.failures = [503, 429, 500] }
        for expected in [503, 429, 500] {
            guard case .retryLater(let message, _) = await relay.forwarder.step() else { Issue.record("not a retry"); return }
            #expect(message.contains("\(expected)"))
            #expect(try relay.queue.counts().queued == 3)
        }
        #expect(try relay.queue.event(id: "r-0")?.lastError?.contains("500") == true)
        #expect(await relay.drain().first == .delivered(3))
        #expect(relay.ledger.leaves.count == 3)
    }

    @Test("a crash after the ledger appended but before the relay recorded it: the re-send gets the same receipt, no second entry")
    func resendAfterCrash() async throws {
        let ledger = try FakeLedger()
        let first = try RelayHarness(ledger: ledger)
        _ = try await admit(first, relayEvent("crash-1"))
        // The ledger took it; the relay's answer was lost (as if killed before its commit).
        _ = try await ledger.append(body: Array("{\"events\":[\(relayEvent("crash-1"))]}".utf8))
        #expect(ledger.leaves.count == 1)
        #expect(await first.drain().first == .delivered(1))
        #expect(ledger.leaves.count == 1, "the ledger holds it once")
        #expect(try first.queue.event(id: "crash-1")?.logIndex == 0)
    }

    @Test("a batch the ledger refuses is split: the bad event is kept as refused, the others delivered")
    func refusedEvent() async throws {
        let relay = try RelayHarness()
        for i in 0..<5 { _ = try await admit(relay, relayEvent("b-\(i)")) }
        relay.ledger.with { $0.refusedIDs = ["b-2"] }
        #expect(await relay.forwarder.step() == .delivered(4))
        let counts = try relay.queue.counts()
        #expect(counts.receipted == 4 && counts.refused == 1 && counts.queued == 0)
        #expect(try relay.queue.event(id: "b-2")?.lastError?.contains("422") == true)
        #expect(!relay.forwarder.isHalted)
    }

    @Test("lies are alarms: a wrong inclusion proof, another leaf, a missing receipt, another key; the events stay suspect and forwarding stops")
    func alarms() async throws {
        for (lie, kind) in [(FakeLedger.Lie.inclusionProof, "inclusion"), (.otherLeaf, "inclusion"), (.missingReceipt, "receipt"), (.otherKey, "signature")] {
            let relay = try RelayHarness()
            // An honest first batch makes the head.
            _ = try await admit(relay, relayEvent("honest-0"))
            _ = try await admit(relay, relayEvent("honest-1"))
            #expect(await relay.forwarder.step() == .delivered(2))
            relay.ledger.with { $0.lie = lie }
            _ = try await admit(relay, relayEvent("lied-about"))
            _ = try await admit(relay, relayEvent("lied-about-2"))
            guard case .alarm(let raised, _) = await relay.forwarder.step() else { Issue.record("\(lie): no alarm"); continue }
            #expect(raised == kind, "\(lie)")
            #expect(relay.forwarder.isHalted)
            #expect(try relay.queue.event(id: "lied-about")?.state == .suspect, "\(lie)")
            #expect(try relay.queue.event(id: "lied-about")?.receipt == nil, "\(lie): no receipt recorded from a lie")
            #expect(try relay.queue.alarms().map(\.kind) == [kind])
            // Nothing more is handed to it.
            let calls = relay.ledger.appendCalls
            _ = try await admit(relay, relayEvent("after"))
            #expect(await relay.forwarder.step() == .halted)
            #expect(relay.ledger.appendCalls == calls)
            // The operator's resume, once the ledger behaves: the suspect events go through.
            relay.ledger.with { $0.lie = .none }
            #expect(try relay.queue.resume(forgetHead: false) == 2)
            let resumed = try RelayForwarder(
                queue: relay.queue, ledger: relay.ledger, verifier: relay.ledger.signer.verifier, logger: Logger(label: "relay-test"))
            #expect(!resumed.isHalted)
            #expect(await resumed.step() == .delivered(3))
            #expect(try relay.queue.alarms().allSatisfy(\.resolved))
        }
    }

    @Test("a fork signed with the ledger's own key is caught by the consistency check, idle or sending")
    func fork() async throws {
        for whileIdle in [true, false] {
            let relay = try RelayHarness()
            for i in 0..<3 { _ = try await admit(relay, relayEvent("f-\(i)")) }
            #expect(await relay.forwarder.step() == .delivered(3))
            _ = try await admit(relay, relayEvent("f-3"))
            #expect(await relay.forwarder.step() == .delivered(1))
            relay.ledger.with { $0.lie = .forkedRoot }
            let outcome: RelayForwarder.Outcome
            if whileIdle {
                outcome = await relay.forwarder.checkHead()
            } else {
                _ = try await admit(relay, relayEvent("f-4"))
                outcome = await relay.forwarder.step()
            }
            guard case .alarm(let kind, let message) = outcome else { Issue.record("no alarm (idle: \(whileIdle)): \(outcome)"); continue }
            // Same size: two roots; a larger size: no consistency proof leads from the head to it.
            #expect(kind == "fork" && message.contains(whileIdle ? "two different roots for tree size 4" : "does not extend"), "\(message)")
            #expect(try relay.queue.head()?.size == 4, "the head stays the last verified one")
        }
    }

    @Test("a rollback (the ledger cannot prove the head any more) is an alarm after repeated strikes, not at the first lag")
    func rollback() async throws {
        let relay = try RelayHarness()
        for i in 0..<6 { _ = try await admit(relay, relayEvent("k-\(i)")) }
        #expect(await relay.forwarder.step() == .delivered(6))
        relay.ledger.with { $0.lie = .rolledBack(2) }
        for _ in 0..<2 {
            guard case .retryLater(let message, _) = await relay.forwarder.checkHead() else { Issue.record("a single lag is not a rollback"); return }
            #expect(message.contains("behind"))
        }
        // A restart between checks (a new forwarder on the same queue) does not start the count again.
        let restarted = try RelayForwarder(
            queue: relay.queue, ledger: relay.ledger, verifier: relay.ledger.signer.verifier, rollbackStrikes: 3, logger: Logger(label: "relay-test"))
        guard case .alarm(let kind, let message) = await restarted.checkHead() else { Issue.record("no rollback alarm"); return }
        #expect(kind == "rollback" && message.contains("from tree size 6 to 4"))
        // A lag that recovers resets the strikes.
        let lagging = try RelayHarness()
        for i in 0..<4 { _ = try await admit(lagging, relayEvent("l-\(i)")) }
        #expect(await lagging.forwarder.step() == .delivered(4))
        for round in 0..<3 {
            lagging.ledger.with { $0.lie = .rolledBack(1) }
            if case .alarm = await lagging.forwarder.checkHead() { Issue.record("alarm at round \(round)") }
            lagging.ledger.with { $0.lie = .none }
            #expect(await lagging.forwarder.checkHead() == .idle)
        }
    }

    @Test("batches stay under the ledger's request limits: count and bytes, in queue order")
    func batchLimits() {
        let pending = (0..<10).map { RelayQueue.Pending(sequence: Int64($0), eventID: "e\($0)", body: [UInt8](repeating: 0x20, count: $0 == 4 ? 900 : 100), attempts: 0) }
        let batches = RelayForwarder.batches(of: pending, maxEvents: 3, maxBytes: 400)
        #expect(batches.map { $0.map(\.eventID) } == [["e0", "e1", "e2"], ["e3"], ["e4"], ["e5", "e6", "e7"], ["e8", "e9"]])
        #expect(batches.joined().map(\.eventID) == pending.map(\.eventID))
    }

    @Test("the queue survives reopening: what was acknowledged is there, with its state")
    func durableAcrossReopen() async throws {
        let relay = try RelayHarness()
        _ = try await admit(relay, "{\"events\":[\(relayEvent("d-1")),\(relayEvent("d-2"))]}")
        #expect(await relay.forwarder.step() == .delivered(2))
        _ = try await admit(relay, relayEvent("d-3"))
        let reopened = try RelayQueue(path: relay.queue.path)
        #expect(try reopened.counts().queued == 1 && reopened.counts().receipted == 2)
        #expect(try reopened.pending(limit: 10).map(\.eventID) == ["d-3"])
        #expect(try reopened.head()?.size == 2)
    }

    @Test("spool: a good file is queued whole and moved to done/; a file with one bad line is queued not at all, moved to rejected/ with the reasons")
    func spool() async throws {
        let relay = try RelayHarness()
        let spool = relay.directory.appendingPathComponent("spool")
        try FileManager.default.createDirectory(at: spool, withIntermediateDirectories: true)
        let watcher = try SpoolWatcher(directory: spool, api: relay.api, logger: Logger(label: "spool-test"))
        try Data((relayEvent("s-1") + "\n\n" + relayEvent("s-2") + "\r\n").utf8).write(to: spool.appendingPathComponent("a.jsonl"))
        try Data((relayEvent("s-3") + "\n{\"event_id\": 5}\n" + relayEvent("s-4", platform: "other-ai") + "\n").utf8)
            .write(to: spool.appendingPathComponent("b.jsonl"))
        // Not complete yet: left alone.
        try Data(relayEvent("s-5").utf8).write(to: spool.appendingPathComponent("c.jsonl.tmp"))
        #expect(await watcher.scanOnce() == 2)
        #expect(try relay.queue.pending(limit: 10).map(\.eventID) == ["s-1", "s-2"])
        #expect(FileManager.default.fileExists(atPath: spool.appendingPathComponent("done/a.jsonl").path))
        #expect(FileManager.default.fileExists(atPath: spool.appendingPathComponent("c.jsonl.tmp").path))
        let report = try String(contentsOf: spool.appendingPathComponent("rejected/b.jsonl.error"), encoding: .utf8)
        #expect(report.contains("line 2:") && report.contains("line 3:") && report.contains("other-ai") && !report.contains("line 1:"), "\(report)")
        // The same file again (a crash before the move): duplicates, nothing doubled.
        try Data((relayEvent("s-1") + "\n").utf8).write(to: spool.appendingPathComponent("a.jsonl"))
        #expect(await watcher.scanOnce() == 1)
        #expect(try relay.queue.counts().queued == 2)
    }
}
