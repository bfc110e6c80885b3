import Foundation
import GreffeCore
import GreffeDataDirectory
import GreffeLedger
import GreffeServer
import GreffeSQLite
import GreffeStore
import GreffeTestTSA
import GreffeTimestamp
import GreffeVerify
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import Synchronization
import Testing

/// What the transport answers, switchable during a test.
final class TSABehaviour: Sendable {
    enum Mode: Sendable { case answer, down, garbage, replay }
    let mode: Mutex<Mode> = Mutex(.answer)
    let lastReply = Mutex<[UInt8]?>(nil)
}

/// Which test TSA answers (`TestTSA.issueTSA`), switchable during a test.
final class TSASigner: Sendable {
    let name = Mutex("hour")
    /// Requests the TSA answered.
    let requests = Atomic(0)
}

@Suite("RFC 3161 timestamps in the service")
struct TimestampServerTests {
    let tsa: TestTSA

    init() throws { tsa = try TestTSA.make() }

    func timestamper(_ test: TestLedger, behaviour: TSABehaviour, registry: PrometheusCollectorRegistry) throws -> CheckpointTimestamper {
        let tsa = self.tsa
        return CheckpointTimestamper(
            ledger: test.ledger, trust: try tsa.trust(), interval: .milliseconds(50),
            transport: { query in
                switch behaviour.mode.withLock({ $0 }) {
                case .down: throw TestTSA.Failure(description: "connection refused")
                case .garbage: return Array("<html>gateway</html>".utf8)
                case .replay:
                    // A genuine answer, but to an earlier request: its nonce is not ours.
                    return try #require(behaviour.lastReply.withLock { $0 })
                case .answer:
                    let reply = try tsa.reply(to: query)
                    behaviour.lastReply.withLock { $0 = reply }
                    return reply
                }
            }, logger: Logger(label: "test"), metricsFactory: ServerMetrics.factory(registry: registry))
    }

    func metrics(_ registry: PrometheusCollectorRegistry) -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    @Test("tokens are obtained for the latest checkpoint, verified, stored, served and put into bundles")
    func endToEnd() async throws {
        let test = try await TestLedger.make()
        let registry = PrometheusCollectorRegistry()
        let behaviour = TSABehaviour()
        let stamper = try timestamper(test, behaviour: behaviour, registry: registry)
        let trust = try tsa.trust()
        try await test.application().test(.router) { client in
            for i in 0..<3 {
                let response = try await client.execute(
                    uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken), body: jsonBody(event("ts-\(i)")))
                #expect(response.status == .created)
            }
            let checkpoint = try #require(test.ledger.latestCheckpoint)
            #expect(await stamper.stampLatest() == .stamped(size: checkpoint.size))
            // One token per checkpoint: nothing more to ask until the log grows.
            #expect(await stamper.stampLatest() == .upToDate)

            let served = try await client.execute(uri: "/v1/checkpoints/\(checkpoint.size)/timestamp", method: .get)
            #expect(served.status == .ok)
            #expect(served.headers[.contentType] == "application/pkcs7-mime")
            let token = Array(buffer: served.body)
            let info = try Timestamp.verify(token: token, imprint: Timestamp.imprint(ofCheckpointNote: checkpoint.note), trust: trust)
            #expect(info.signerSubject?.contains("Greffe Test TSA") == true)
            for (path, status) in [("\(checkpoint.size + 100)", HTTPResponse.Status.notFound), ("x", .badRequest), ("007", .badRequest)] {
                let response = try await client.execute(uri: "/v1/checkpoints/\(path)/timestamp", method: .get)
                #expect(response.status == status)
                #expect(try response.json["error"]?.stringValue != nil)
            }

            // The bundle carries the token and verifies with it.
            let later = try await client.execute(
                uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken), body: jsonBody(event("ts-later")))
            #expect(later.status == .created)
            let response = try await client.execute(
                uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken), body: jsonBody("{\"event_ids\":[\"ts-0\",\"ts-2\"]}"))
            #expect(response.status == .ok)
            let bytes = Array(buffer: response.body)
            let bundle = try EvidenceBundle(parsing: bytes)
            #expect(bundle.timestamps.map(\.treeSize) == [checkpoint.size])
            let report = BundleVerifier.verify(bundle, verifier: test.signer.verifier, timestampTrust: trust)
            #expect(report.verified, "\(report.failures)")
            #expect(report.timestamps.first?.status == .verified && report.timestamps.first?.coversEvents == true)
            let schemaURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Schemas/bundle.schema.json")
            try JSONSchemaValidator(schema: try JSONParser.parse(Array(try Data(contentsOf: schemaURL))))
                .validate(try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 128, maxBytes: 1 << 30)))
        }
        await test.stop()
        let text = metrics(registry)
        #expect(text.contains("greffe_tsa_requests_total{outcome=\"success\"} 1"))
        try? FileManager.default.removeItem(at: test.directory)
    }

    @Test("a TSA that is down, answers garbage or replays an old answer stores nothing and stops nothing")
    func failuresAreCountedAndRetried() async throws {
        let test = try await TestLedger.make()
        let registry = PrometheusCollectorRegistry()
        let behaviour = TSABehaviour()
        let stamper = try timestamper(test, behaviour: behaviour, registry: registry)
        try await test.application().test(.router) { client in
            func append(_ id: String) async throws -> UInt64 {
                let response = try await client.execute(
                    uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken), body: jsonBody(event(id)))
                #expect(response.status == .created)
                return try #require(test.ledger.latestCheckpoint).size
            }
            _ = try await append("a")
            #expect(await stamper.stampLatest() == .stamped(size: try #require(test.ledger.latestCheckpoint).size))

            for (mode, outcome) in [(TSABehaviour.Mode.down, "unreachable"), (.garbage, "invalid"), (.replay, "invalid")] {
                behaviour.mode.withLock { $0 = mode }
                let size = try await append("during-\(outcome)-\(UUID().uuidString.prefix(4))")
                guard case .failed(let got, let reason) = await stamper.stampLatest() else {
                    Issue.record("\(mode): not a failure")
                    continue
                }
                #expect(got == outcome, "\(mode): \(reason)")
                if mode == .replay { #expect(reason.contains("nonceMismatch") || reason.contains("imprintMismatch")) }
                #expect(try await test.store.attestation(kind: .rfc3161Token, size: size) == nil)
            }
            let text = metrics(registry)
            #expect(text.contains("greffe_tsa_requests_total{outcome=\"unreachable\"} 1"))
            #expect(text.contains("greffe_tsa_requests_total{outcome=\"invalid\"} 2"))
            #expect(!text.contains("greffe_tsa_gap_entries 0"))

            // Back: the next round stamps the latest checkpoint, and the gap closes.
            behaviour.mode.withLock { $0 = .answer }
            let size = try #require(test.ledger.latestCheckpoint).size
            #expect(await stamper.stampLatest() == .stamped(size: size))
            #expect(metrics(registry).contains("greffe_tsa_gap_entries 0"))
        }
        await test.stop()
        try? FileManager.default.removeItem(at: test.directory)
    }

    @Test("tokens near their certificate's end are renewed over the whole chain, only by a longer-lived certificate, and bundles carry the renewals")
    func renewal() async throws {
        try tsa.issueTSA("hour", validForSeconds: 3_600)
        try tsa.issueTSA("decades", validForSeconds: 20 * 365 * 86_400)
        let test = try await TestLedger.make()
        let registry = PrometheusCollectorRegistry()
        let tsa = self.tsa
        let signer = TSASigner()
        @Sendable func stamper(renewWithin: Duration?, backoff: Duration = .zero) throws -> CheckpointTimestamper {
            CheckpointTimestamper(
                ledger: test.ledger, trust: try tsa.trust(), renewWithin: renewWithin, renewalsPerRound: 100, staleCertificateBackoff: backoff,
                transport: { query in
                    signer.requests.add(1, ordering: .relaxed)
                    return try tsa.reply(to: query, as: signer.name.withLock { $0 })
                }, logger: Logger(label: "test"),
                metricsFactory: ServerMetrics.factory(registry: registry))
        }
        let trust = try tsa.trust()
        try await test.application().test(.router) { client in
            // Two checkpoints stamped by a TSA whose certificate lasts an hour.
            let first = try stamper(renewWithin: nil)
            var stamped: [UInt64] = []
            for i in 0..<2 {
                let response = try await client.execute(
                    uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken), body: jsonBody(event("renew-\(i)")))
                #expect(response.status == .created)
                let size = try #require(test.ledger.latestCheckpoint).size
                #expect(await first.stampLatest() == .stamped(size: size))
                stamped.append(size)
            }
            // No renewal asked for: nothing renewed.
            #expect(await first.renewExpiring() == CheckpointTimestamper.RenewalRound())

            // Due (within a day), but the TSA still signs with the same hour-long certificate: nothing gained, nothing stored.
            let renewer = try stamper(renewWithin: .seconds(86_400))
            var round = await renewer.renewExpiring()
            #expect(round.renewed.isEmpty && round.stopped?.contains("no later than one to renew") == true, "\(round)")
            #expect(try await test.store.attestation(kind: .rfc3161Renewals, size: stamped[0]) == nil)
            #expect(metrics(registry).contains("greffe_tsa_renewals_total{outcome=\"stale_certificate\"} 1"))
            // With the default backoff, a stale answer pauses renewals: the next round asks the TSA nothing.
            let patient = try stamper(renewWithin: .seconds(86_400), backoff: .seconds(3_600))
            #expect(await patient.renewExpiring().stopped?.contains("no later than one to renew") == true)
            let asked = signer.requests.load(ordering: .relaxed)
            #expect(await patient.renewExpiring().stopped?.hasPrefix("paused") == true)
            #expect(signer.requests.load(ordering: .relaxed) == asked)

            // The TSA moves to a ten-year certificate: both renewed by one request, each over its checkpoint and first token.
            signer.name.withLock { $0 = "tsa" }
            let requestsBefore = signer.requests.load(ordering: .relaxed)
            round = await renewer.renewExpiring()
            #expect(round.renewed == stamped, "\(round)")
            #expect(signer.requests.load(ordering: .relaxed) == requestsBefore + 1)
            for (position, size) in stamped.enumerated() {
                let token = try #require(try await test.store.attestation(kind: .rfc3161Token, size: size)).data
                let chain = try TimestampRenewal.decode(try #require(try await test.store.attestation(kind: .rfc3161Renewals, size: size)).data)
                #expect(chain.count == 1 && chain[0].leafIndex == UInt64(position) && chain[0].treeSize == 2)
                let note = try #require(try await test.store.checkpoint(size: size)).note
                let message = try Timestamp.renewalMessage(ofCheckpointNote: note, earlier: [token])
                let info = try Timestamp.verify(token: chain[0].token, imprint: Timestamp.renewalImprint(message: message, renewal: chain[0]), trust: trust)
                #expect(info.signerSubject == "CN=Greffe Test TSA,O=Greffe Test")
            }
            // Ten years away is not within a day: the next round has nothing to do.
            round = await renewer.renewExpiring()
            #expect(round.renewed.isEmpty && round.stopped == nil && round.examined == 2, "\(round)")

            // Within twelve years, the ten-year link is due; a twenty-year TSA renews the chain again, after the first renewal.
            signer.name.withLock { $0 = "decades" }
            round = await try stamper(renewWithin: .seconds(12 * 365 * 86_400)).renewExpiring()
            #expect(round.renewed == stamped, "\(round)")
            #expect(try TimestampRenewal.decode(try #require(try await test.store.attestation(kind: .rfc3161Renewals, size: stamped[0])).data).count == 2)

            // A bundle over those events carries the chain, and it verifies link by link.
            let response = try await client.execute(
                uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken), body: jsonBody("{\"event_ids\":[\"renew-0\"]}"))
            #expect(response.status == .ok)
            let bytes = Array(buffer: response.body)
            let bundle = try EvidenceBundle(parsing: bytes)
            #expect(bundle.timestamps.first?.renewals.count == 2)
            let report = BundleVerifier.verify(bundle, verifier: test.signer.verifier, timestampTrust: trust)
            #expect(report.verified, "\(report.failures)")
            #expect(report.timestamps.first?.renewals.last?.attestedBy == "CN=Greffe Test TSA decades,O=Greffe Test")
            let schemaURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Schemas/bundle.schema.json")
            try JSONSchemaValidator(schema: try JSONParser.parse(Array(try Data(contentsOf: schemaURL))))
                .validate(try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 128, maxBytes: 1 << 30)))
        }
        await test.stop()
        #expect(metrics(registry).contains("greffe_tsa_renewals_total{outcome=\"success\"} 4"))
        #expect(metrics(registry).contains("greffe_tsa_renewals_total{outcome=\"stale_certificate\"} 2"))
        try? FileManager.default.removeItem(at: test.directory)
    }

    @Test("with temporal shards, each seal gets a token once, the active shard's checkpoints theirs, and one request renews tokens of several shards")
    func acrossShards() async throws {
        try tsa.issueTSA("hour", validForSeconds: 3_600)
        let directory = DataDirectory(path: FileManager.default.temporaryDirectory.appendingPathComponent("greffe-tsa-shards-\(UUID().uuidString)").path)
        defer { try? FileManager.default.removeItem(at: directory.url) }
        let signer = try NoteSigner(generatingFor: "tsa-shards.test/log")
        try FileManager.default.createDirectory(at: directory.url, withIntermediateDirectories: true)
        _ = try SQLiteStore(path: directory.databasePath)
        let shards = try await ShardedLedger.open(
            storage: SQLiteShardStorage(directory: directory), keys: LogKeys(signer: signer), policy: .init(), logger: Logger(label: "test")
        ) { store, keys in
            try await Ledger.open(store: store, keys: keys, checkpointInterval: .milliseconds(5))
        }
        let running = Task { await shards.run() }
        let tsa = self.tsa
        let name = Mutex("hour")
        let requests = Atomic(0)
        @Sendable func stamper(renewWithin: Duration?) throws -> CheckpointTimestamper {
            CheckpointTimestamper(
                shards: shards, trust: try tsa.trust(), renewWithin: renewWithin, renewalsPerRound: 100, staleCertificateBackoff: .zero,
                transport: { query in
                    requests.add(1, ordering: .relaxed)
                    return try tsa.reply(to: query, as: name.withLock { $0 })
                }, logger: Logger(label: "test"))
        }
        func submission(_ id: String) throws -> EventSubmission {
            let body = JSONValue.object(["event_id": .string(id), "kind": "legal.request"])
            return try EventSubmission(eventID: id, platform: "example", kind: "legal.request", canonicalBody: body.canonicalBytes())
        }
        let first = try stamper(renewWithin: nil)
        let a = try await shards.append([try submission("a")])[0]
        _ = try await shards.active.waitForCheckpoint(covering: a.receipt.index + 1)
        #expect(await first.stampLatest() == .stamped(size: 1))
        _ = try await shards.append([try submission("b")])
        // Sealed at size 2 before the timestamper saw that checkpoint: the seal still gets its token.
        try await shards.rollover(reason: .size)
        let c = try await shards.append([try submission("c")])[0]
        _ = try await shards.active.waitForCheckpoint(covering: c.receipt.index + 1)
        let before = requests.load(ordering: .relaxed)
        #expect(await first.stampLatest() == .stamped(size: 2), "the active shard's latest: shard.opened and c")
        #expect(requests.load(ordering: .relaxed) == before + 2, "one request for shard 0's seal, one for shard 1")
        let sealed = shards.shards[0].ledger
        #expect(try await sealed.attestation(kind: .rfc3161Token, size: 2) != nil, "shard 0's seal (size 2) has its token")
        #expect(await first.stampLatest() == .upToDate)
        #expect(requests.load(ordering: .relaxed) == before + 2, "a seal is stamped once")

        // The TSA moves to a ten-year certificate: one request renews the hour-long tokens of both shards.
        name.withLock { $0 = "tsa" }
        let renewalRequests = requests.load(ordering: .relaxed)
        let round = await try stamper(renewWithin: .seconds(86_400)).renewExpiring()
        #expect(round.renewed.count == 3 && round.stopped == nil, "shard 0's sizes 1 and 2 and shard 1's size 2: \(round)")
        #expect(requests.load(ordering: .relaxed) == renewalRequests + 1)
        for (ledger, size) in [(sealed, UInt64(1)), (sealed, 2), (shards.active, 2)] {
            let chain = try TimestampRenewal.decode(try #require(try await ledger.attestation(kind: .rfc3161Renewals, size: size)).data)
            #expect(chain.count == 1 && chain[0].treeSize == 3)
        }
        shards.shutdown()
        await running.value
    }

    @Test("the run loop stamps new checkpoints by itself, at most once an interval")
    func runLoop() async throws {
        let test = try await TestLedger.make()
        let registry = PrometheusCollectorRegistry()
        let stamper = try timestamper(test, behaviour: TSABehaviour(), registry: registry)
        let loop = Task { await stamper.run() }
        try await test.application().test(.router) { client in
            let response = try await client.execute(
                uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken), body: jsonBody(event("loop")))
            #expect(response.status == .created)
            let size = try #require(test.ledger.latestCheckpoint).size
            var found = false
            for _ in 0..<200 where !found {
                found = try await test.store.attestation(kind: .rfc3161Token, size: size) != nil
                if !found { try await Task.sleep(for: .milliseconds(25)) }
            }
            #expect(found)
        }
        loop.cancel()
        await loop.value
        await test.stop()
        try? FileManager.default.removeItem(at: test.directory)
    }
}
