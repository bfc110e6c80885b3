import Foundation
import GreffeCore
import GreffeDataDirectory
import GreffeLedger
import GreffeServer
import GreffeSQLite
import GreffeStore
import GreffeVerify
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

/// `greffe-shard-bundle/v1` (Schemas/shards.md, "Bundles across shards"): a bundle query at the root of a
/// sharded ledger answers every shard, and a doctored file fails offline.
@Suite("Bundles across shards")
struct ShardBundleTests {
    let keys: LogKeys
    let base: NoteVerifier

    init() throws {
        keys = LogKeys(signer: try NoteSigner(generatingFor: "bundle-shards.test/log"))
        base = keys.primary
    }

    func verify(_ bytes: [UInt8]) throws -> ShardBundleReport {
        try ShardBundleVerifier(verifiers: [base]).verify(MemoryByteSource(bytes))
    }

    /// The file with `change` applied to its parsed JSON, written back.
    func doctored(_ bytes: [UInt8], _ change: (inout JSONObject) -> Void) throws -> [UInt8] {
        var object = try #require(try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 128, maxBytes: Int.max)).objectValue)
        change(&object)
        return JSONValue.object(object).canonicalBytes()
    }

    /// The file with `change` applied to the `erased` claim of the first erased event in shard 0's part.
    func doctoredErasure(_ bytes: [UInt8], _ change: (inout JSONObject) -> Void) throws -> [UInt8] {
        try doctored(bytes) { object in
            var parts = object["shards"]!.arrayValue!
            var shard0 = parts[0].objectValue!
            var events = shard0["events"]!.arrayValue!
            let position = events.firstIndex { $0["erased"] != nil }!
            var event = events[position].objectValue!
            var erased = event["erased"]!.objectValue!
            change(&erased)
            event["erased"] = .object(erased)
            events[position] = .object(event)
            shard0["events"] = .array(events)
            parts[0] = .object(shard0)
            object["shards"] = .array(parts)
        }
    }

    @Test("bundles asked while the ledger rolls over all answer, and verify: the access record follows the active shard")
    func bundlesDuringRollovers() async throws {
        let test = try await ShardedTestLedger.make(keys: keys)
        let shards = test.shards
        let investigate = test.investigate
        let application = try test.application { $0.rateLimiter = RateLimiter(limits: [:]) }
        try await application.test(.router) { client in
            try await test.post(["a", "b"], client: client)
            try await shards.rollover(reason: .size)  // a bundle at the root of one shard is a plain one
            // A flag, not cancellation: a cancelled task would cancel the request it is in (the router runs in it).
            let done = Mutex(false)
            let asking = Task {
                var answers: [(HTTPResponse.Status, [UInt8])] = []
                while !done.withLock({ $0 }) {
                    let response = try await client.execute(
                        uri: "/v1/bundles", method: .post, headers: bearer(investigate), body: jsonBody(#"{"event_ids":["a"]}"#))
                    answers.append((response.status, Array(buffer: response.body)))
                }
                return answers
            }
            // Each rollover seals the shard a bundle request may have just taken for its access record.
            for _ in 0..<12 {
                try await Task.sleep(for: .milliseconds(15))
                try await shards.rollover(reason: .size)
            }
            try await Task.sleep(for: .milliseconds(30))
            done.withLock { $0 = true }
            let answers = try await asking.value
            #expect(answers.count >= 12)
            for (status, body) in answers {
                #expect(status == .ok, "\(String(decoding: body, as: UTF8.self))")
                guard status == .ok else { continue }
                let report = try verify(body)
                #expect(report.verified, "\(report.failures) \(report.shards.map(\.failures))")
            }
        }
        await test.stop()
    }

    @Test("a bundle spans three shards, linked; removed, reordered, stale or added parts fail")
    func spansShards() async throws {
        let test = try await ShardedTestLedger.make(keys: keys)
        let shards = test.shards
        let investigate = test.investigate
        let application = try test.application()
        let query = #"{"event_ids":["a","d"]}"#
        try await application.test(.router) { client in
            func post(_ ids: [String]) async throws { try await test.post(ids, client: client) }
            func bundle(_ uri: String = "/v1/bundles", _ body: String? = nil) async throws -> (HTTPResponse.Status, [UInt8]) {
                let response = try await client.execute(uri: uri, method: .post, headers: bearer(investigate), body: jsonBody(body ?? query))
                return (response.status, Array(buffer: response.body))
            }
            try await post(["a", "b"])
            // Shard 0's bundle before it is sealed: a true bundle, of a state shard 0 later grew past.
            let (staleStatus, stale) = try await bundle()
            #expect(staleStatus == .ok)
            try await post(["b2"])
            try await shards.rollover(reason: .size)
            try await post(["c"])
            try await shards.rollover(reason: .period)
            try await post(["d", "e"])

            let (status, file) = try await bundle()
            #expect(status == .ok)
            let report = try verify(file)
            #expect(report.verified, "\(report.failures) \(report.shards.map(\.failures))")
            #expect(report.shards.count == 3 && report.links.map(\.shard) == [1, 2] && report.links.map(\.reason) == [.size, .period])
            // a in shard 0; shard 1 shows only its link; d and the link in shard 2.
            #expect(report.shards.map(\.eventCount) == [1, 1, 2])
            #expect(report.shards.map(\.origin) == ["bundle-shards.test/log", "bundle-shards.test/log/1", "bundle-shards.test/log/2"])

            // Each mutation fails, offline, whatever it touches.
            func fails(_ what: Comment, _ change: (inout JSONObject) -> Void) throws {
                let bytes = try doctored(file, change)
                do {
                    let report = try verify(bytes)
                    #expect(!report.verified, what)
                } catch is EvidenceBundle.FormatError {}
            }
            try fails("a shard removed from the middle") { $0["shards"] = .array(Array($0["shards"]!.arrayValue!.enumerated().filter { $0.offset != 1 }.map(\.element))) }
            try fails("shard 0 left out") { $0["shards"] = .array(Array($0["shards"]!.arrayValue!.dropFirst())) }
            try fails("two shards swapped") {
                var parts = $0["shards"]!.arrayValue!
                parts.swapAt(1, 2)
                $0["shards"] = .array(parts)
            }
            try fails("a shard given twice") { $0["shards"] = .array($0["shards"]!.arrayValue! + [$0["shards"]!.arrayValue!.last!]) }
            try fails("an unknown member added") { $0["note"] = "trust me" }
            try fails("the query removed") { $0["query"] = nil }
            try fails("the format removed") { $0["format"] = nil }
            try fails("the query changed") { $0["query"] = ["event_ids": ["a"]] }
            try fails("shard 2's link event removed") {
                var parts = $0["shards"]!.arrayValue!
                var shard2 = parts[2].objectValue!
                shard2["events"] = .array(Array(shard2["events"]!.arrayValue!.dropFirst()))
                parts[2] = .object(shard2)
                $0["shards"] = .array(parts)
            }
            let staleBundle = try JSONParser.parse(stale, limits: JSONLimits(maxDepth: 128, maxBytes: Int.max))
            try fails("shard 0's part replaced by its true bundle of an earlier state (hiding what came after)") {
                var parts = $0["shards"]!.arrayValue!
                parts[0] = staleBundle
                $0["shards"] = .array(parts)
            }
            // The stale part alone still verifies as shard 0's bundle: only the link shows it is not the final state.
            var alone = CompactBundleVerifier(verifiers: [base])
            alone.listEventsUpTo = 10
            guard case .verified(let staleReport) = try alone.verify(MemoryByteSource(stale)) else { Issue.record("not v3"); return }
            #expect(staleReport.verified)

            // A search at the root walks every shard, oldest first, its cursor naming the shard.
            var seen: [String] = []
            var cursor = ""
            for _ in 0..<10 {
                let response = try await client.execute(uri: "/v1/events?kind=legal.request&limit=2\(cursor)", method: .get, headers: bearer(investigate))
                #expect(response.status == .ok)
                let answer = try response.json
                for event in answer["events"]?.arrayValue ?? [] {
                    seen.append("\(event["shard"]?.intValue ?? -1):\(event["body"]?["event_id"]?.stringValue ?? "?")")
                }
                guard let after = answer["next_after"]?.intValue, let shard = answer["next_after_shard"]?.intValue else { break }
                cursor = "&after=\(after)&after_shard=\(shard)"
            }
            #expect(seen == ["0:a", "0:b", "0:b2", "1:c", "2:d", "2:e"], "\(seen)")
            let cursorAlone = try await client.execute(uri: "/v1/events?kind=legal.request&after_shard=1", method: .get, headers: bearer(investigate))
            #expect(cursorAlone.status == .badRequest, "after_shard needs after")

            // Indices are per shard: a range at the root is refused, under /v1/shards/k/ it is shard k's.
            #expect(try await bundle("/v1/bundles", #"{"index_range":{"from":0,"to":2}}"#).0 == .unprocessableContent)
            // A sealed shard's own bundle, asked after the active shard's access records outgrew it.
            let (sealedStatus, sealed) = try await bundle("/v1/shards/1/v1/bundles", #"{"index_range":{"from":0,"to":2}}"#)
            #expect(sealedStatus == .ok)
            var shardOne = CompactBundleVerifier(verifiers: [try base.renamed("bundle-shards.test/log/1")])
            shardOne.listEventsUpTo = 10
            guard case .verified(let sealedReport) = try shardOne.verify(MemoryByteSource(sealed)) else { Issue.record("not v3"); return }
            #expect(sealedReport.verified && sealedReport.eventCount == 2 && sealedReport.checkpointSize == 2)
        }
        await test.stop()
    }

    @Test("a sealed shard's bodies dropped after its seal are proved by the active shard's record, only across shards")
    func retentionAcrossShards() async throws {
        let test = try await ShardedTestLedger.make(keys: keys)
        let shards = test.shards
        let investigate = test.investigate
        let application = try test.application()
        let policy = Ledger.RetentionPolicy(days: 1, legalBasis: "RGPD art. 5(1)(e)", batchSize: 2)
        try await application.test(.router) { client in
            func post(_ ids: [String]) async throws { try await test.post(ids, client: client) }
            func bundle(_ uri: String, _ body: String) async throws -> [UInt8] {
                let response = try await client.execute(uri: uri, method: .post, headers: bearer(investigate), body: jsonBody(body))
                #expect(response.status == .ok)
                return Array(buffer: response.body)
            }
            try await post(["a", "b", "b2"])
            try await shards.rollover(reason: .size)
            try await post(["c"])
            try await Task.sleep(for: .milliseconds(5))
            // A day on: every event so far is past retention, the records this round appends are not.
            let later = UInt64(Date().timeIntervalSince1970 * 1000) + 86_400_000
            let keeper = RetentionKeeper(shards: shards, policy: policy, logger: Logger(label: "test"))
            let outcomes = await keeper.applyDue(now: later)
            // Shard 0's three events in two batches (batch size 2), then shard 1's own c.
            #expect(outcomes.map(\.dropped) == [2, 1, 1], "\(outcomes)")
            let active = shards.active
            for outcome in outcomes.prefix(2) {
                let record = try #require(try await active.readEvent(index: outcome.recordIndex))
                let body = try JSONParser.parse(try #require(record.canonicalBody))
                #expect(record.kind == Ledger.retentionKind && body["shard"]?.intValue == 0, "the sealed shard's records are in the active one, naming shard 0")
            }
            #expect(try await shards.shards[0].ledger.readEvent(index: 0)?.canonicalBody == nil)
            // A new keeper (a restart) finds where each shard stopped: nothing is recorded twice.
            #expect(await RetentionKeeper(shards: shards, policy: policy, logger: Logger(label: "test")).applyDue(now: later).isEmpty)

            let file = try await bundle("/v1/bundles", #"{"event_ids":["a","c"]}"#)
            let report = try verify(file)
            #expect(report.verified, "\(report.failures) \(report.shards.flatMap(\.failures))")
            #expect(report.shards[0].events.first { $0.index == 0 }?.erasure == .proven)
            #expect(report.shards[1].events.first { $0.index == 1 }?.erasure == .proven)

            // Shard 0's bundle alone cannot prove it: the record is in shard 1.
            var alone = CompactBundleVerifier(verifiers: [try base.renamed("bundle-shards.test/log")])
            alone.listEventsUpTo = 10
            guard case .verified(let aloneReport) = try alone.verify(MemoryByteSource(try await bundle("/v1/shards/0/v1/bundles", #"{"event_ids":["a"]}"#)))
            else { Issue.record("not v3"); return }
            #expect(!aloneReport.verified && aloneReport.failures.contains { $0.message.contains("ask for the bundle across shards") })

            func fails(_ what: Comment, _ change: @escaping (inout JSONObject) -> Void) throws {
                let bytes = try doctoredErasure(file, change)
                do {
                    let report = try verify(bytes)
                    #expect(!report.verified, what)
                } catch is EvidenceBundle.FormatError {}
            }
            try fails("the claim's shard removed (the record then names another shard than its own log's)") { $0["shard"] = nil }
            try fails("the claim names the event's own shard") { $0["shard"] = 0 }
            try fails("the claim names a shard the file does not hold") { $0["shard"] = 7 }
            try fails("the record's inclusion proof cut") {
                var record = $0["record"]!.objectValue!
                record["inclusion_proof"] = .array(Array(record["inclusion_proof"]!.arrayValue!.dropLast()))
                $0["record"] = .object(record)
            }
        }
        await test.stop()
    }

    @Test("the public lookup searches every shard; each certificate verifies with the ledger's key as its shard's, and with no other key")
    func lookupAcrossShards() async throws {
        let test = try await ShardedTestLedger.make(keys: keys)
        let shards = test.shards
        let append = test.append
        let application = try test.application {
            $0.lookupSettings.shardPDQIndexes = ShardPDQIndexes { number in
                shards.shard(number).map { PDQLookupIndex(store: $0.ledger.store, logger: Logger(label: "test")) }
            }
        }
        try await application.test(.router) { client in
            func post(_ id: String) async throws {
                let response = try await client.execute(
                    uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(append), body: jsonBody(batch([LookupTests.completed(id)])))
                #expect(response.status == .created)
            }
            try await post("done-0")
            try await shards.rollover(reason: .size)
            try await post("done-1")
            for query in ["sha256=\(LookupTests.output)", "pdq=\(LookupTests.pdq)"] {
                let (status, answer, _) = try await LookupTests.lookup(client, query)
                #expect(status == .ok, "\(query)")
                let matches = answer["matches"]?.arrayValue ?? []
                #expect(matches.compactMap { $0["shard"]?.intValue } == [0, 1], "\(query): one match in each shard, oldest first")
                for match in matches {
                    let bytes = try #require(match["certificate"]).canonicalBytes()
                    let certificate = try DisclosureCertificate(parsing: try JSONParser.parse(bytes))
                    let verified = try certificate.verify(verifiers: [base])
                    #expect(verified.origin == Shards.origin(base: base.name, shard: match["shard"]!.intValue!))
                    #expect(throws: (any Error).self, "another ledger's key") {
                        _ = try certificate.verify(verifiers: [try NoteSigner(generatingFor: base.name).verifier])
                    }
                }
                // Shard 1's certificate does not pass for shard 0's (or the reverse): each shard's name is in its signature.
                var swapped = try #require(matches.last?["certificate"]?.objectValue)
                let note = swapped["checkpoint"]!.stringValue!
                swapped["checkpoint"] = .string(note.replacingOccurrences(of: "\(base.name)/1\n", with: "\(base.name)\n"))
                #expect(throws: (any Error).self) {
                    _ = try DisclosureCertificate(parsing: .object(swapped)).verify(verifiers: [base])
                }
            }

            // Both shards sealed for good, with their filters: a hash they hold is still found in each, and the
            // lookup and the investigators' search skip them for hashes neither holds (the active shard is always asked).
            try await shards.rollover(reason: .size)
            await shards.buildSealedFilters()
            #expect(shards.filteredShards == [0, 1])
            let before = shards.sealedShardsSkipped
            let (status, answer, _) = try await LookupTests.lookup(client, "sha256=\(LookupTests.output)")
            #expect(status == .ok)
            #expect((answer["matches"]?.arrayValue ?? []).compactMap { $0["shard"]?.intValue } == [0, 1])
            let search = try await client.execute(
                uri: "/v1/events?content_hash=sha256:\(LookupTests.output)", method: .get, headers: bearer(test.investigate))
            let found = try search.json["events"]?.arrayValue?.compactMap { $0["shard"]?.intValue }
            #expect(found == [0, 1])
            #expect(shards.sealedShardsSkipped == before, "a shard that holds the hash is never skipped")
            for n in 0..<10 {
                let absent = MerkleHash.sha256(Array("absent-\(n)".utf8)).bytes.map { String(format: "%02x", $0) }.joined()
                let (status, answer, _) = try await LookupTests.lookup(client, "sha256=\(absent)")
                #expect(status == .ok && answer["matches"]?.arrayValue?.isEmpty == true)
                let search = try await client.execute(uri: "/v1/events?content_hash=sha256:\(absent)", method: .get, headers: bearer(test.investigate))
                let events = try search.json["events"]?.arrayValue
                #expect(search.status == .ok && events?.isEmpty == true)
            }
            // 40 shard checks (10 hashes, 2 routes, 2 sealed shards), about 1% false positives.
            #expect(shards.sealedShardsSkipped - before >= 36, "\(shards.sealedShardsSkipped - before) of 40 sealed-shard searches skipped")
        }
        await test.stop()
    }

    @Test("an erasure order for a sealed shard's event is recorded in the active shard and proved across shards, never alone")
    func erasureInASealedShard() async throws {
        let test = try await ShardedTestLedger.make(keys: keys)
        let shards = test.shards
        let investigate = test.investigate
        let admin = test.admin
        let application = try test.application()
        try await application.test(.router) { client in
            func post(_ ids: [String]) async throws { try await test.post(ids, client: client) }
            func erase(_ uri: String) async throws -> (HTTPResponse.Status, JSONValue) {
                let response = try await client.execute(
                    uri: uri, method: .post, headers: bearer(admin), body: jsonBody(#"{"legal_reference":"TJ Paris 26/114","reason":"right to erasure"}"#))
                return (response.status, try response.json)
            }
            try await post(["a", "b"])
            try await shards.rollover(reason: .size)
            try await post(["c"])
            #expect(try await erase("/v1/shards/1/v1/events/1/erasure").0 == .conflict, "the active shard's orders go to the root")
            let (status, answer) = try await erase("/v1/shards/0/v1/events/0/erasure")
            #expect(status == .ok && answer["shard"]?.intValue == 0 && answer["erasure_shard"]?.intValue == 1, "\(answer)")
            #expect(try await shards.shards[0].ledger.readEvent(index: 0)?.canonicalBody == nil)
            let recordIndex = UInt64(try #require(answer["erasure_entry_index"]?.intValue))
            let record = try #require(try await shards.active.readEvent(index: recordIndex))
            let recordBody = try JSONParser.parse(try #require(record.canonicalBody))
            #expect(record.kind == "erasure.executed" && recordBody["shard"]?.intValue == 0 && recordBody["target_index"]?.intValue == 0)
            #expect(try await erase("/v1/shards/0/v1/events/0/erasure").0 == .conflict, "erased once")
            try await shards.rollover(reason: .size)
            #expect(try await erase("/v1/shards/1/v1/events/0/erasure").0 == .unprocessableContent, "shard 1's link is Greffe's own record")

            let response = try await client.execute(uri: "/v1/bundles", method: .post, headers: bearer(investigate), body: jsonBody(#"{"event_ids":["a","b"]}"#))
            #expect(response.status == .ok)
            let file = Array(buffer: response.body)
            let report = try verify(file)
            #expect(report.verified, "\(report.failures) \(report.shards.flatMap(\.failures))")
            let erased = try #require(report.shards[0].events.first { $0.index == 0 })
            #expect(erased.erasure == .proven && erased.erasureLegalReference == "TJ Paris 26/114")
            for (what, change) in [
                ("the claim's shard removed", { (erased: inout JSONObject) in erased["shard"] = nil }),
                ("the claim names the event's own shard", { (erased: inout JSONObject) in erased["shard"] = 0 }),
                ("another legal reference", { (erased: inout JSONObject) in erased["legal_reference"] = "TJ Paris 26/115" }),
            ] as [(String, (inout JSONObject) -> Void)] {
                #expect(!(try verify(try doctoredErasure(file, change))).verified, "\(what)")
            }
        }
        await test.stop()
    }

    @Test("a hold placed before a rollover keeps protecting the events of later shards until it is lifted, from any shard")
    func holdsAcrossShards() async throws {
        let test = try await ShardedTestLedger.make(keys: keys)
        let shards = test.shards
        let investigate = test.investigate
        let admin = test.admin
        let application = try test.application()
        try await application.test(.router) { client in
            func post(_ ids: [String]) async throws { try await test.post(ids, client: client) }
            func order(_ uri: String, _ body: String) async throws -> (HTTPResponse.Status, JSONValue) {
                let response = try await client.execute(uri: uri, method: .post, headers: bearer(admin), body: jsonBody(body))
                return (response.status, try response.json)
            }
            let erasure = #"{"legal_reference":"TJ Paris 26/7","reason":"right to erasure"}"#
            let placed = try await order("/v1/holds", #"{"authority":"Parquet de Paris","reference":"PNF 26/9","scope":{"kinds":["legal.request"]}}"#)
            #expect(placed.0 == .created)
            let holdIndex = try #require(placed.1["hold_index"]?.intValue)
            try await shards.rollover(reason: .size)
            try await post(["later"])
            let laterIndex = try #require(try await shards.active.searchIndices(EventQuery(eventIDs: ["later"])).first)
            // The hold is in shard 0; the event in shard 1: the order is still refused.
            #expect(try await order("/v1/events/\(laterIndex)/erasure", erasure).0 == .conflict)
            let listed = try await client.execute(uri: "/v1/holds", method: .get, headers: bearer(investigate))
            let hold = try #require(try listed.json["holds"]?.arrayValue?.first)
            #expect(hold["shard"]?.intValue == 0 && hold["active"] == .bool(true))

            #expect(try await order("/v1/shards/1/v1/holds/\(holdIndex)/lift", #"{"reference":"x","reason":"y"}"#).0 == .conflict, "shard 1 is active: lift at the root")
            let lifted = try await order("/v1/shards/0/v1/holds/\(holdIndex)/lift", #"{"reference":"PNF 26/9-L","reason":"case closed"}"#)
            #expect(lifted.0 == .ok && lifted.1["shard"]?.intValue == 0 && lifted.1["lifted_in_shard"]?.intValue == 1, "\(lifted.1)")
            #expect(try await order("/v1/shards/0/v1/holds/\(holdIndex)/lift", #"{"reference":"again","reason":"again"}"#).0 == .conflict, "lifted once")
            #expect(try await order("/v1/shards/0/v1/holds/999/lift", #"{"reference":"x","reason":"y"}"#).0 == .notFound)
            let after = try await client.execute(uri: "/v1/holds", method: .get, headers: bearer(investigate))
            let liftedHold = try #require(try after.json["holds"]?.arrayValue?.first)
            #expect(liftedHold["active"] == .bool(false) && liftedHold["lifted_in_shard"]?.intValue == 1)
            // The lift in shard 1 names shard 0: shard 1's own holds (none at that index) are not lifted by it.
            #expect(try await shards.active.legalHolds().isEmpty)
            #expect(try await order("/v1/events/\(laterIndex)/erasure", erasure).0 == .ok, "lifted: the order goes through")
        }
        await test.stop()
    }
}

/// A sharded ledger on a fresh data directory, its shard set running, with a token of each role.
struct ShardedTestLedger {
    let directory: DataDirectory
    let shards: ShardedLedger
    let running: Task<Void, Never>
    let append: String
    let investigate: String
    let admin: String

    static func make(keys: LogKeys) async throws -> ShardedTestLedger {
        let directory = DataDirectory(path: FileManager.default.temporaryDirectory.appendingPathComponent("greffe-shards-\(UUID().uuidString)").path)
        try FileManager.default.createDirectory(at: directory.url, withIntermediateDirectories: true)
        _ = try SQLiteStore(path: directory.databasePath)
        let shards = try await ShardedLedger.open(
            storage: SQLiteShardStorage(directory: directory), keys: keys, policy: .init(), logger: Logger(label: "test")
        ) { store, keys in
            try await Ledger.open(store: store, keys: keys, checkpointInterval: .milliseconds(5))
        }
        let running = Task { await shards.run() }
        let tokens = shards.shards[0].ledger.tokenAuthority()
        return ShardedTestLedger(
            directory: directory, shards: shards, running: running,
            append: try await tokens.create(name: "platform", role: .append, platform: "example-ai").token,
            investigate: try await tokens.create(name: "investigator", role: .investigate).token,
            admin: try await tokens.create(name: "dpo", role: .admin).token)
    }

    /// The application `greffe serve` runs, on these shards.
    func application(_ configure: (inout LedgerAPI) -> Void = { _ in }) throws -> some ApplicationProtocol {
        var api = LedgerAPI(shards: shards)
        configure(&api)
        return try buildApplication(api: api, configuration: ServeConfiguration(address: .hostname("127.0.0.1", port: 0)))
    }

    /// Appends a legal.request per id, waiting for a checkpoint that covers them.
    func post(_ ids: [String], client: some TestClientProtocol) async throws {
        let response = try await client.execute(
            uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(append), body: jsonBody(batch(ids.map { event($0) })))
        #expect(response.status == .created)
    }

    func stop() async {
        shards.shutdown()
        await running.value
        try? FileManager.default.removeItem(at: directory.url)
    }
}
