// The log's witness client (c2sp.org/tlog-witness, client side) against
// in-process built-in witnesses: quorum met and not met, the 409 size
// handshake, answers that do not count (bad cosignatures, garbage), a down or
// hanging witness that delays nothing below the quorum, real HTTP, and the
// ledger publishing only cosigned checkpoints (and serving them after a restart).

import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import GreffeWitness
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import Synchronization
import Testing
import GreffeSQLite

typealias WitnessHandler = @Sendable ([UInt8]) async throws -> WitnessAnswer

/// add-checkpoint without sockets: each URL answered by a closure, with the client's timeout applied.
struct InProcessTransport: WitnessTransport {
    let handlers: [String: WitnessHandler]

    struct Unreachable: Error {}

    func post(url: String, body: [UInt8], timeout: Duration) async throws -> WitnessAnswer {
        guard let handler = handlers[url] else { throw Unreachable() }
        return try await withThrowingTaskGroup(of: WitnessAnswer.self) { group in
            group.addTask { try await handler(body) }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw WitnessTimeout(timeout: timeout)
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}

/// A built-in witness answering as WitnessAPI does over HTTP.
/// Whether an in-process witness answers.
final class Switch: Sendable {
    private let state: Mutex<Bool>
    init(_ on: Bool) { state = Mutex(on) }
    var isOn: Bool { state.withLock { $0 } }
    func set(_ on: Bool) { state.withLock { $0 = on } }
}

func serving(_ witness: Witness, up: Switch? = nil) -> WitnessHandler {
    { body in
        if let up, !up.isOn { throw InProcessTransport.Unreachable() }
        do {
            let cosignatures = try await witness.addCheckpoint(body: body)
            return WitnessAnswer(status: 200, contentType: "text/plain; charset=utf-8", body: Array(cosignatures.map(\.line).joined().utf8))
        } catch let refusal as WitnessRefusal {
            if case .oldSizeMismatch(let size) = refusal.code {
                return WitnessAnswer(status: 409, contentType: AddCheckpointRequest.sizeContentType, body: Array("\(size)\n".utf8))
            }
            return WitnessAnswer(status: refusal.status, contentType: "application/json", body: Array(refusal.message.utf8))
        }
    }
}

/// Two built-in witnesses, each with its own store, following one in-memory log (and `ledger`'s, if given).
struct TwoWitnesses {
    let directory: URL
    let log: TestLog
    let signers: [CosignatureSigner]
    let witness1: Witness
    let witness2: Witness

    init(log ledger: NoteSigner? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-witness-client-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        log = TestLog(signer: try NoteSigner(generatingFor: "example.com/witnessed-log"), leafCount: 40)
        var logs = WitnessedLogs()
        logs.trust(log.signer.verifier, for: log.origin)
        if let ledger { logs.trust(ledger.verifier, for: ledger.name) }
        signers = [try CosignatureSigner(generatingFor: "witness.example/w1"), try CosignatureSigner(generatingFor: "witness.example/w2")]
        witness1 = Witness(signer: signers[0], logs: logs, store: try SQLiteWitnessStore(path: directory.appendingPathComponent("w1.sqlite").path))
        witness2 = Witness(signer: signers[1], logs: logs, store: try SQLiteWitnessStore(path: directory.appendingPathComponent("w2.sqlite").path))
    }

    func endpoints() throws -> [WitnessEndpoint] {
        [
            try WitnessEndpoint(verifier: signers[0].verifier, url: "http://w1.test"),
            try WitnessEndpoint(verifier: signers[1].verifier, url: "http://w2.test"),
        ]
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

func proofs(_ log: TestLog) -> @Sendable (UInt64, UInt64) async throws -> [Hash] {
    { try log.proof($0, $1) }
}

func stored(_ log: TestLog, _ size: UInt64) throws -> StoredCheckpoint {
    StoredCheckpoint(size: size, root: try log.root(size), note: try log.checkpoint(size), signedAtMilliseconds: 0)
}

@Suite("witness client")
struct WitnessClientTests {
    @Test func quorumMetGivesAVerifiableCosignedNote() async throws {
        let witnesses = try TwoWitnesses()
        defer { witnesses.remove() }
        let log = witnesses.log
        let transport = InProcessTransport(handlers: [
            "http://w1.test/add-checkpoint": serving(witnesses.witness1), "http://w2.test/add-checkpoint": serving(witnesses.witness2),
        ])
        let registry = PrometheusCollectorRegistry()
        let client = try WitnessClient(
            witnesses: witnesses.endpoints(), quorum: nil, transport: transport, metricsFactory: ServerMetrics.factory(registry: registry))
        #expect(client.policy.quorum == 2)
        for size: UInt64 in [3, 8, 8, 20, 40] {
            let note = try #require(await client.cosign(try stored(log, size), consistencyProof: proofs(log)))
            // The log's note first, then both cosignatures; the log's signature still verifies.
            #expect(note.hasPrefix(try log.checkpoint(size)))
            _ = try CheckpointVerifier.verify(note: note, verifier: log.signer.verifier)
            let check = client.check(cosignedNote: note)
            #expect(check.meetsQuorum && check.cosigned.count == 2 && check.invalid.isEmpty, "\(check)")
            #expect(client.knownSizes == [size, size])
            #expect(try await witnesses.witness1.state(of: log.origin)?.size == size)
            #expect(try await witnesses.witness2.state(of: log.origin)?.size == size)
        }
        var text: [UInt8] = []
        registry.emit(into: &text)
        let metrics = String(decoding: text, as: UTF8.self)
        #expect(metrics.contains(#"greffe_witness_requests_total{witness="witness.example/w1",outcome="cosigned"} 5"#), "\(metrics)")
        #expect(metrics.contains(#"greffe_witness_cosigned_size{witness="witness.example/w2"} 40"#))
    }

    @Test func learnsTheWitnessSizeFrom409AndRetriesOnce() async throws {
        let witnesses = try TwoWitnesses()
        defer { witnesses.remove() }
        let log = witnesses.log
        // The witnesses already hold sizes this client does not know: 8 and 30.
        _ = try await witnesses.witness1.addCheckpoint(body: log.request(old: 0, size: 8))
        _ = try await witnesses.witness2.addCheckpoint(body: log.request(old: 0, size: 30))
        let registry = PrometheusCollectorRegistry()
        let client = try WitnessClient(
            witnesses: witnesses.endpoints(), quorum: 1,
            transport: InProcessTransport(handlers: [
                "http://w1.test/add-checkpoint": serving(witnesses.witness1), "http://w2.test/add-checkpoint": serving(witnesses.witness2),
            ]), metricsFactory: ServerMetrics.factory(registry: registry))
        let note = try #require(await client.cosign(try stored(log, 20), consistencyProof: proofs(log)))
        let check = client.check(cosignedNote: note)
        #expect(check.cosigned.map { $0.witness } == [witnesses.signers[0].verifier.keyName])
        // w1: 409 "8", then old 8 with the proof 8 → 20: cosigned. w2 holds 30 > 20: it cannot cosign 20, and says so.
        #expect(try await witnesses.witness1.state(of: log.origin)?.size == 20)
        #expect(try await witnesses.witness2.state(of: log.origin)?.size == 30)
        // Wait for the straggler's outcome before reading sizes (it may answer after the quorum).
        for _ in 0..<1000 where client.knownSizes[1] == nil { try await Task.sleep(for: .milliseconds(10)) }
        #expect(client.knownSizes == [20, 30])
        // The next checkpoint goes from the learnt sizes with no 409.
        let next = try #require(await client.cosign(try stored(log, 40), consistencyProof: proofs(log)))
        for _ in 0..<1000 where client.knownSizes != [40, 40] { try await Task.sleep(for: .milliseconds(10)) }
        #expect(client.check(cosignedNote: next).meetsQuorum)
        #expect(client.knownSizes == [40, 40])
        var text: [UInt8] = []
        registry.emit(into: &text)
        let metrics = String(decoding: text, as: UTF8.self)
        #expect(metrics.contains(#"greffe_witness_requests_total{witness="witness.example/w1",outcome="stale_size"} 1"#), "\(metrics)")
        #expect(metrics.contains(#"greffe_witness_requests_total{witness="witness.example/w2",outcome="stale_size"} 1"#))
        #expect(metrics.contains(#"greffe_witness_requests_total{witness="witness.example/w2",outcome="cosigned"} 1"#))
    }

    @Test func quorumNotMetPublishesNothing() async throws {
        let witnesses = try TwoWitnesses()
        defer { witnesses.remove() }
        let log = witnesses.log
        let up = Switch(false)
        let client = try WitnessClient(
            witnesses: witnesses.endpoints(), quorum: 2,
            transport: InProcessTransport(handlers: [
                "http://w1.test/add-checkpoint": serving(witnesses.witness1), "http://w2.test/add-checkpoint": serving(witnesses.witness2, up: up),
            ]))
        #expect(await client.cosign(try stored(log, 8), consistencyProof: proofs(log)) == nil)
        // w1 cosigned (and stored 8) even though the quorum failed; w2 is back for the next one.
        #expect(try await witnesses.witness1.state(of: log.origin)?.size == 8)
        up.set(true)
        let note = try #require(await client.cosign(try stored(log, 12), consistencyProof: proofs(log)))
        #expect(client.check(cosignedNote: note).cosigned.count == 2)
    }

    @Test func answersWithoutAValidCosignatureDoNotCount() async throws {
        let witnesses = try TwoWitnesses()
        defer { witnesses.remove() }
        let log = witnesses.log
        let w2Signer = witnesses.signers[1]
        let impostor = try CosignatureSigner(generatingFor: w2Signer.name)
        let good = serving(witnesses.witness1)
        let bad: [(String, WitnessHandler)] = [
            ("over another checkpoint", { _ in
                let other = try SignedNote(parsing: try log.checkpoint(9))
                return WitnessAnswer(status: 200, contentType: nil, body: Array(try w2Signer.cosign(checkpointText: other.text, timestamp: 1).line.utf8))
            }),
            ("a flipped signature byte", { body in
                let request = try AddCheckpointRequest(parsing: body)
                var line = Array(try w2Signer.cosign(checkpointText: request.note.text, timestamp: 1).line)
                line[line.count - 5] = line[line.count - 5] == "A" ? "B" : "A"
                return WitnessAnswer(status: 200, contentType: nil, body: Array(String(line).utf8))
            }),
            ("another key under the witness's name", { body in
                let request = try AddCheckpointRequest(parsing: body)
                return WitnessAnswer(status: 200, contentType: nil, body: Array(try impostor.cosign(checkpointText: request.note.text, timestamp: 1).line.utf8))
            }),
            ("a blank line and another text", { body in
                let request = try AddCheckpointRequest(parsing: body)
                let text = "example.com/witnessed-log\n1\n\(try log.root(1).base64)\n"
                let line = try w2Signer.cosign(checkpointText: text, timestamp: 1).line
                _ = request
                return WitnessAnswer(status: 200, contentType: nil, body: Array(("\n" + text + "\n" + line).utf8))
            }),
            ("garbage", { _ in WitnessAnswer(status: 200, contentType: nil, body: Array("ok\n".utf8)) }),
            ("a 409 without a size", { _ in WitnessAnswer(status: 409, contentType: "application/json", body: Array("{}".utf8)) }),
            ("a 409 with a malformed size", { _ in WitnessAnswer(status: 409, contentType: "text/x.tlog.size", body: Array("08\n".utf8)) }),
            ("a 422", { _ in WitnessAnswer(status: 422, contentType: nil, body: []) }),
            ("a 500", { _ in WitnessAnswer(status: 500, contentType: nil, body: []) }),
        ]
        for (what, handler) in bad {
            let client = try WitnessClient(
                witnesses: witnesses.endpoints(), quorum: 2,
                transport: InProcessTransport(handlers: ["http://w1.test/add-checkpoint": good, "http://w2.test/add-checkpoint": handler]))
            let size = UInt64(10 + bad.firstIndex { $0.0 == what }!)
            #expect(await client.cosign(try stored(log, size), consistencyProof: proofs(log)) == nil, "\(what)")
            // With quorum 1 the good witness alone publishes, and the bad answer adds no line.
            let one = try WitnessClient(
                witnesses: witnesses.endpoints(), quorum: 1,
                transport: InProcessTransport(handlers: ["http://w1.test/add-checkpoint": good, "http://w2.test/add-checkpoint": handler]))
            let note = try #require(await one.cosign(try stored(log, size), consistencyProof: proofs(log)), "\(what)")
            #expect(try SignedNote(parsing: note).signatures.count == 2, "\(what)")
            #expect(one.check(cosignedNote: note).cosigned.map { $0.witness } == [witnesses.signers[0].verifier.keyName], "\(what)")
        }
    }

    /// Causal rather than timed (the suite runs on a loaded machine): the hanging
    /// witness answers only once the test opens its gate, at the end, and the
    /// client's timeout is longer than the test; so every cosign that returns
    /// did not wait for it.
    @Test func aDownOrHangingWitnessDelaysNothingBelowTheQuorum() async throws {
        let witnesses = try TwoWitnesses()
        defer { witnesses.remove() }
        let log = witnesses.log
        let gate = Switch(false)
        let asked = Mutex(0)
        let hanging: WitnessHandler = { _ in
            asked.withLock { $0 += 1 }
            while !gate.isOn { try await Task.sleep(for: .milliseconds(10)) }
            return WitnessAnswer(status: 500, contentType: nil, body: [])
        }
        let client = try WitnessClient(
            witnesses: witnesses.endpoints(), quorum: 1, timeout: .seconds(600),
            transport: InProcessTransport(handlers: ["http://w1.test/add-checkpoint": serving(witnesses.witness1), "http://w2.test/add-checkpoint": hanging]))
        for size: UInt64 in [5, 9, 17] {
            let note = try #require(await client.cosign(try stored(log, size), consistencyProof: proofs(log)))
            #expect(client.check(cosignedNote: note).cosigned.count == 1)
            #expect(!gate.isOn)
        }
        // Asked once: while its first request hangs, later checkpoints are not piled onto it.
        #expect(asked.withLock { $0 } == 1)
        #expect(client.knownSizes == [17, nil])
        // A witness that is not even reachable: the same.
        let down = try WitnessClient(
            witnesses: witnesses.endpoints(), quorum: 1,
            transport: InProcessTransport(handlers: ["http://w1.test/add-checkpoint": serving(witnesses.witness1)]))
        #expect(await down.cosign(try stored(log, 25), consistencyProof: proofs(log)) != nil)
        // At the quorum, a hanging witness costs the timeout, then the checkpoint is not published.
        let atQuorum = try WitnessClient(
            witnesses: witnesses.endpoints(), quorum: 2, timeout: .milliseconds(300),
            transport: InProcessTransport(handlers: ["http://w1.test/add-checkpoint": serving(witnesses.witness1), "http://w2.test/add-checkpoint": hanging]))
        let clock = ContinuousClock()
        let before = clock.now
        #expect(await atQuorum.cosign(try stored(log, 30), consistencyProof: proofs(log)) == nil)
        #expect(clock.now - before >= .milliseconds(300))
        #expect(!gate.isOn)
        gate.set(true)
    }

    @Test func aWitnessStillAnsweringIsAskedAgainOnceItHasAnswered() async throws {
        let witnesses = try TwoWitnesses()
        defer { witnesses.remove() }
        let log = witnesses.log
        let gate = Switch(false)
        let asked = Mutex(0)
        let w2 = serving(witnesses.witness2)
        let slow: WitnessHandler = { body in
            asked.withLock { $0 += 1 }
            while !gate.isOn { try await Task.sleep(for: .milliseconds(10)) }
            return try await w2(body)
        }
        let client = try WitnessClient(
            witnesses: witnesses.endpoints(), quorum: 2, timeout: .seconds(600),
            transport: InProcessTransport(handlers: ["http://w1.test/add-checkpoint": serving(witnesses.witness1), "http://w2.test/add-checkpoint": slow]))
        let first = Task { await client.cosign(try stored(log, 10), consistencyProof: proofs(log)) }
        for _ in 0..<1000 where asked.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(10)) }
        // w2 still busy with 10: the quorum cannot be met, so nobody is asked for 12, and nothing stays marked busy.
        #expect(await client.cosign(try stored(log, 12), consistencyProof: proofs(log)) == nil)
        #expect(asked.withLock { $0 } == 1)
        gate.set(true)
        let note = try #require(await first.value)
        #expect(client.check(cosignedNote: note).cosigned.count == 2)
        let next = try #require(await client.cosign(try stored(log, 14), consistencyProof: proofs(log)))
        #expect(client.check(cosignedNote: next).cosigned.count == 2)
        #expect(client.knownSizes == [14, 14])
    }

    @Test func parsesWitnessArguments() throws {
        let verifier = try CosignatureSigner(generatingFor: "witness.example/w1").verifier
        let endpoint = try WitnessEndpoint(parsing: "\(verifier.verifierKey)=https://witness.example/prefix/")
        #expect(endpoint.verifier.verifierKey == verifier.verifierKey)
        #expect(endpoint.url == "https://witness.example/prefix")
        for bad in [
            verifier.verifierKey, "\(verifier.verifierKey)=", "\(verifier.verifierKey)=ftp://x", "\(verifier.verifierKey)=http://x/?q=1",
            "name+00000000+AAAA=http://x", "=http://x", "\(verifier.verifierKey)=https://user:secret@witness.example",
            // A note (log) key is not a cosignature key.
            "\(try NoteSigner(generatingFor: "w").verifier.verifierKey)=http://x",
        ] {
            #expect(throws: WitnessEndpoint.FormatError.self, "\(bad)") { try WitnessEndpoint(parsing: bad) }
        }
    }

    static func app(_ witness: Witness) -> some ApplicationProtocol {
        let router = Router()
        WitnessAPI(witness: witness).addRoutes(to: router)
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    @Test func overHTTPWithTheBuiltInWitnessServer() async throws {
        let witnesses = try TwoWitnesses()
        defer { witnesses.remove() }
        let log = witnesses.log
        let transport = HTTPWitnessTransport()
        try await Self.app(witnesses.witness1).test(.live) { client1 in
            try await Self.app(witnesses.witness2).test(.live) { client2 in
                let endpoints = [
                    try WitnessEndpoint(verifier: witnesses.signers[0].verifier, url: "http://127.0.0.1:\(client1.port!)"),
                    try WitnessEndpoint(verifier: witnesses.signers[1].verifier, url: "http://127.0.0.1:\(client2.port!)/"),
                    // Nothing listens there: refused at once.
                    try WitnessEndpoint(verifier: try CosignatureSigner(generatingFor: "witness.example/w3").verifier, url: "http://127.0.0.1:1"),
                ]
                let client = try WitnessClient(witnesses: endpoints, quorum: 2, transport: transport)
                // w1 starts ahead, so the first exchange with it is a real 409 with text/x.tlog.size.
                _ = try await witnesses.witness1.addCheckpoint(body: log.request(old: 0, size: 4))
                for size: UInt64 in [7, 21] {
                    let note = try #require(await client.cosign(try stored(log, size), consistencyProof: proofs(log)))
                    let check = client.check(cosignedNote: note)
                    #expect(check.cosigned.count == 2 && check.missing == [endpoints[2].verifier.keyName], "\(check)")
                }
                #expect(client.knownSizes == [21, 21, nil])
            }
        }
        try await transport.shutdown()
    }
}

/// A ledger with witnesses: appends never wait for them; only cosigned checkpoints are served.
@Suite("ledger with witnesses")
struct WitnessedLedgerTests {
    static func event(_ id: String) -> EventSubmission {
        try! EventSubmission(eventID: id, platform: "example-ai", kind: "test.event", canonicalBody: Array("{\"event_id\":\"\(id)\"}".utf8))
    }

    @Test func publishesOnlyCosignedCheckpointsAndServesThemAfterARestart() async throws {
        let signer = try NoteSigner(generatingFor: "example.com/witnessed-ledger")
        let witnesses = try TwoWitnesses(log: signer)
        defer { witnesses.remove() }
        let up = Switch(true)
        let transport = InProcessTransport(handlers: [
            "http://w1.test/add-checkpoint": serving(witnesses.witness1), "http://w2.test/add-checkpoint": serving(witnesses.witness2, up: up),
        ])
        let client = try WitnessClient(witnesses: witnesses.endpoints(), quorum: 2, timeout: .seconds(2), transport: transport)
        let path = witnesses.directory.appendingPathComponent("ledger.sqlite").path
        let store = try SQLiteStore(path: path)
        var ledger = try await Ledger.open(store: store, signer: signer, checkpointInterval: .milliseconds(20), cosigner: client)
        var running = Task { [ledger] in await ledger.run() }

        _ = try await ledger.append((0..<5).map { Self.event("a\($0)") })
        let first = try await ledger.waitForCheckpoint(covering: 5)
        #expect(client.check(cosignedNote: first.note).cosigned.count == 2)
        #expect(first.note == ledger.latestCheckpoint?.note)
        let storedAttestation = try await store.latestAttestation(kind: .cosignedNote)
        #expect(storedAttestation.map { String(decoding: $0.data, as: UTF8.self) } == first.note)

        // w2 down, quorum 2: appends are still acknowledged at once; nothing new is published.
        up.set(false)
        let receipts = try await ledger.append((0..<3).map { Self.event("b\($0)") })
        #expect(receipts.map(\.index) == [5, 6, 7])
        // Acknowledged although nothing covering it could be published.
        #expect(ledger.latestCheckpoint?.size == first.size)
        // Signed and stored, not published.
        for _ in 0..<1000 where try await store.latestCheckpoint()?.size != 8 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try await store.latestCheckpoint()?.size == 8)
        try await Task.sleep(for: .milliseconds(200))
        #expect(ledger.latestCheckpoint?.size == first.size)
        // Back up: the retry publishes 8 without any new append.
        up.set(true)
        let second = try await ledger.waitForCheckpoint(covering: 8)
        #expect(second.size == 8 && client.check(cosignedNote: second.note).meetsQuorum)

        // Restart: the cosigned checkpoint is what is served, before any witness is asked.
        ledger.shutdown()
        await running.value
        ledger = try await Ledger.open(store: store, signer: signer, checkpointInterval: .milliseconds(20), cosigner: client)
        #expect(ledger.latestCheckpoint?.note == second.note)
        // Without witnesses the same store serves the log's own note.
        let plain = try await Ledger.open(store: try SQLiteStore(path: path), signer: signer, checkpointInterval: .milliseconds(20))
        #expect(try SignedNote(parsing: try #require(plain.latestCheckpoint).note).signatures.count == 1)
        // A stricter policy than the stored note meets: nothing is served until a new cosigning.
        let w3 = try CosignatureSigner(generatingFor: "witness.example/w3")
        let strict = try WitnessClient(
            witnesses: witnesses.endpoints() + [try WitnessEndpoint(verifier: w3.verifier, url: "http://w3.test")], quorum: 3, transport: transport)
        let unserved = try await Ledger.open(store: try SQLiteStore(path: path), signer: signer, checkpointInterval: .milliseconds(20), cosigner: strict)
        #expect(unserved.latestCheckpoint == nil)
        running = Task { [ledger] in await ledger.run() }
        ledger.shutdown()
        await running.value
    }
}
