import Foundation
import GreffeCore
import GreffeLedger
import GreffeSQLite
import GreffeStore
import GreffeTestStores
import GreffeVerify
import Synchronization
import Testing

/// Temporal shards (`ShardedLedger`): rollover under load, deduplication across shards, the chain
/// checked at start-up, and a rollover that fails or is cut short.
@Suite struct ShardTests {
    /// Shards as SQLite files in a temporary folder; `failCreate` makes the next shard's creation fail.
    final class FolderStorage: ShardStorage {
        let folder: URL
        let failCreate = Mutex(false)

        init() throws {
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-shards-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }

        func path(_ shard: Int) -> String { folder.appendingPathComponent("shard-\(shard).sqlite").path }

        func existingShards() throws -> [Int] {
            (0..<1000).prefix { FileManager.default.fileExists(atPath: path($0)) || $0 == 0 }.map { $0 }
        }

        func openStore(shard: Int) async throws -> any LedgerStore { try SQLiteStore(path: path(shard)) }

        func createStore(shard: Int) async throws -> any LedgerStore {
            if failCreate.withLock({ $0 }) { throw StoreError(.unavailable, "disk full (test)") }
            guard !FileManager.default.fileExists(atPath: path(shard)) else { throw StoreError(.unavailable, "shard \(shard) exists") }
            return try SQLiteStore(path: path(shard))
        }

        func removeEmptyStore(shard: Int) throws {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path(shard) + suffix) }
        }
    }

    static let signer = try! NoteSigner(generatingFor: "shards.test/log")

    static func submission(_ id: String, body extra: String = "") -> EventSubmission {
        let body = JSONValue.object(["event_id": .string(id), "kind": "generation.requested", "account": .string("acct-\(extra)")])
        return try! EventSubmission(eventID: id, platform: "example-ai", kind: "generation.requested", canonicalBody: body.canonicalBytes())
    }

    /// Opened again while a file is still locked by a store of this process not yet released: these tests open
    /// one file several times in one process (`greffe serve` opens each once), and start-up truncates the WAL.
    static func open(_ storage: FolderStorage, maxEntries: UInt64? = nil) async throws -> ShardedLedger {
        try await whileLocked {
            try await ShardedLedger.open(
                storage: storage, keys: LogKeys(signer: signer), policy: .init(maxEntries: maxEntries),
                logger: .init(label: "test")
            ) { store, keys in
                try await Ledger.open(store: store, keys: keys, checkpointInterval: .milliseconds(5))
            }
        }
    }

    /// Every event of every shard (Greffe's own records left out), as event ID → (shard, index).
    static func contents(_ shards: ShardedLedger) async throws -> [String: [(Int, UInt64)]] {
        var found: [String: [(Int, UInt64)]] = [:]
        for shard in shards.shards {
            for index in 0..<shard.ledger.treeSize {
                guard let event = try await shard.ledger.store.readEvent(index: index), event.platform == "example-ai" else { continue }
                found[event.eventID, default: []].append((shard.number, index))
            }
        }
        return found
    }

    /// 8 clients append across rollovers; checks every receipt against the stores. Returns the number
    /// of shards, with the ledger closed (one SQLite connection set per file, as in a server).
    static func loadAndCheck(_ storage: FolderStorage) async throws -> Int {
        let shards = try await open(storage, maxEntries: 100)
        let running = Task { await shards.run() }
        // 8 clients, 80 requests of 10 events each; every fourth request re-sends the previous one
        // (a client retrying), so re-sends land in the shard after the one that holds them.
        let acknowledged = try await withThrowingTaskGroup(of: [(String, ShardedLedger.Receipt)].self) { group in
            for client in 0..<8 {
                group.addTask {
                    var out: [(String, ShardedLedger.Receipt)] = []
                    var previous: [EventSubmission] = []
                    for request in 0..<10 {
                        let batch = (0..<10).map { submission("c\(client)-r\(request)-e\($0)") }
                        for (event, receipt) in zip(batch, try await shards.append(batch)) { out.append((event.eventID, receipt)) }
                        if request % 4 == 3 {
                            for (event, receipt) in zip(previous, try await shards.append(previous)) {
                                #expect(!receipt.receipt.isNew, "a re-send is never a new entry")
                                out.append((event.eventID, receipt))
                            }
                        }
                        previous = batch
                    }
                    return out
                }
            }
            var all: [(String, ShardedLedger.Receipt)] = []
            for try await part in group { all += part }
            return all
        }
        shards.shutdown()
        await running.value

        let sizes = shards.shards.map(\.ledger.treeSize)
        #expect(shards.shards.count >= 4, "sizes \(sizes): 800 events at 100 entries a shard (a shard may overshoot by what was queued while it was sealed) roll over at least three times")
        let stored = try await contents(shards)
        #expect(stored.count == 800, "every acknowledged event is stored")
        #expect(stored.values.allSatisfy { $0.count == 1 }, "no event is stored twice, in one shard or across shards")
        for (eventID, receipt) in acknowledged {
            let place = stored[eventID]?.first
            #expect(place?.0 == receipt.shard && place?.1 == receipt.receipt.index, "\(eventID) is where its receipt says")
        }
        return shards.shards.count
    }

    @Test func appendsGoOnAcrossThreeRolloversWithNothingLostOrDoubled() async throws {
        let storage = try FolderStorage()
        let shardCount = try await Self.loadAndCheck(storage)
        // The chain: each shard after the first starts with shard.opened over the whole previous shard.
        let reopened = try await Self.open(storage, maxEntries: 100)
        #expect(reopened.shards.count == shardCount)
        for shard in reopened.shards.dropFirst() {
            let previous = reopened.shards[shard.number - 1].ledger
            #expect(shard.link?.previousCheckpoint.size == previous.treeSize)
            #expect(shard.link?.previousCheckpoint.root == (try await previous.root(treeSize: previous.treeSize)))
            #expect(shard.ledger.origin == "shards.test/log/\(shard.number)")
        }
    }

    @Test func aReSendFindsItsEventInASealedShardAndAConflictIsRefused() async throws {
        let storage = try FolderStorage()
        let shards = try await Self.open(storage)
        let running = Task { await shards.run() }
        let first = try await shards.append([Self.submission("e1"), Self.submission("e2")])
        try await shards.rollover(reason: .size)
        #expect(shards.activeShard == 1)

        let mixed = try await shards.append([Self.submission("e3"), Self.submission("e1")])
        #expect(mixed[0].shard == 1 && mixed[0].receipt.isNew)
        #expect(mixed[1].shard == 0 && !mixed[1].receipt.isNew && mixed[1].receipt.index == first[0].receipt.index)
        await #expect(throws: LedgerError.self, "the same event ID with another body, in a sealed shard") {
            try await shards.append([Self.submission("e4"), Self.submission("e2", body: "other")])
        }
        let stored = try await Self.contents(shards)
        #expect(stored["e4"] == nil, "a refused request writes nothing, not even its new events")
        // An empty shard is never sealed: the policy sees only its own shard.opened record.
        #expect(ShardedLedger.Policy(maxEntries: 2).due(size: 1, firstEventIndex: 1, openedAt: 0, now: 0) == nil)
        shards.shutdown()
        await running.value
    }

    @Test("sealed shards' filters hold their content hashes: a search skips the shards that cannot hold a hash and never one that does")
    func sealedShardFiltersHoldContentTerms() async throws {
        let storage = try FolderStorage()
        let shards = try await Self.open(storage)
        let running = Task { await shards.run() }
        func image(_ tag: String) -> String { "sha256:" + MerkleHash.sha256(Array(tag.utf8)).bytes.map { String(format: "%02x", $0) }.joined() }
        func withImages(_ id: String, _ images: [String]) throws -> EventSubmission {
            let body = JSONValue.object(["event_id": .string(id), "kind": "edit.requested"])
            return try EventSubmission(
                eventID: id, platform: "example-ai", kind: "edit.requested", canonicalBody: body.canonicalBytes(),
                terms: EventSearchTerms(contentHashes: images))
        }
        // Shard 0: 300 events with two images each; shard 1: 300 more. Shard 2 stays active.
        _ = try await shards.append(try (0..<300).map { try withImages("z\($0)", [image("zero-\($0)"), image("shared-\($0 % 7)")]) })
        try await shards.rollover(reason: .size)
        _ = try await shards.append(try (0..<300).map { try withImages("o\($0)", [image("one-\($0)")]) })
        try await shards.rollover(reason: .size)
        _ = try await shards.append([try withImages("active", [image("two-0")])])
        await shards.buildSealedFilters()
        #expect(shards.filteredShards == [0, 1])

        // No hash a sealed shard holds is ruled out: each one's own, and one held by many events.
        let inZero = (0..<300).map { image("zero-\($0)") } + (0..<7).map { image("shared-\($0)") }
        let missedInZero = inZero.filter { !shards.mayHold(contentTerm: $0, shard: 0) }.count
        let missedInOne = (0..<300).filter { !shards.mayHold(contentTerm: image("one-\($0)"), shard: 1) }.count
        #expect(missedInZero == 0 && missedInOne == 0, "hashes the sealed shards hold, ruled out: \(missedInZero) in shard 0, \(missedInOne) in shard 1")
        // Hashes a sealed shard does not hold are ruled out but for about 1% (a filter of IDs alone would rule out all).
        let before = shards.sealedShardsSkipped
        let zeroOnly = (0..<300).filter { shards.mayHold(contentTerm: image("one-\($0)"), shard: 0) }.count
        let fresh = (0..<1_000).filter { shards.mayHold(contentTerm: image("new-\($0)"), shard: 1) }.count
        #expect(zeroOnly < 15 && fresh < 40, "\(zeroOnly) of shard 1's hashes pass shard 0's filter, \(fresh) of 1,000 new ones pass shard 1's")
        #expect(shards.sealedShardsSkipped - before == 1_300 - zeroOnly - fresh)
        // The active shard is always searched, and so is any hash other than sha256 (pdq: terms are not in the filters).
        #expect((0..<100).allSatisfy { shards.mayHold(contentTerm: image("new-\($0)"), shard: 2) })
        #expect(shards.mayHold(contentTerm: "pdq:" + String(repeating: "0", count: 64), shard: 0))

        // What a skipped shard would have answered: nothing; what a kept one answers: its events.
        let shardZero = try #require(shards.shard(0))
        #expect(try await shardZero.ledger.searchIndices(EventQuery(contentHash: image("one-5"), limit: 10)).isEmpty)
        #expect(try await shardZero.ledger.searchIndices(EventQuery(contentHash: image("shared-3"), limit: 100)).count == 43)
        shards.shutdown()
        await running.value
    }

    @Test("sealed shards' event-ID filters: new IDs skip the sealed stores, re-sends and conflicts are still found, and the shard a failed rollover left active gets none")
    func sealedShardFiltersSkipStoresAndNeverMiss() async throws {
        let storage = try FolderStorage()
        let shards = try await Self.open(storage)
        let running = Task { await shards.run() }
        let inZero = try await shards.append((0..<300).map { Self.submission("z\($0)") })
        try await shards.rollover(reason: .size)
        let inOne = try await shards.append((0..<300).map { Self.submission("o\($0)") })
        // A rollover that fails leaves shard 1 active: it must never get a filter, since it takes appends again.
        storage.failCreate.withLock { $0 = true }
        await #expect(throws: (any Error).self) { try await shards.rollover(reason: .size) }
        storage.failCreate.withLock { $0 = false }
        await shards.buildSealedFilters()
        #expect(shards.filteredShards.isSubset(of: [0]), "shard 1 is active again: no filter")
        let late = try await shards.append([Self.submission("late-in-one")])
        #expect(late[0].shard == 1)
        try await shards.rollover(reason: .size)
        #expect(shards.activeShard == 2)
        await shards.buildSealedFilters()
        #expect(shards.filteredShards == [0, 1])

        // 1,000 new IDs: with the filters, the sealed stores are asked about a few false positives at most
        // (about 1% per shard); without them, 2,000 lookups.
        let before = shards.sealedShardLookups
        let fresh = try await shards.append((0..<1_000).map { Self.submission("n\($0)") })
        #expect(fresh.allSatisfy { $0.shard == 2 && $0.receipt.isNew })
        #expect(shards.sealedShardLookups - before < 60, "\(shards.sealedShardLookups - before) sealed-store lookups for 1,000 new IDs")

        // Every re-send is found where it is, including the one appended after the failed rollover.
        let resent = try await shards.append([Self.submission("z7"), Self.submission("o299"), Self.submission("late-in-one"), Self.submission("z0")])
        #expect(resent[0].shard == 0 && resent[0].receipt.index == inZero[7].receipt.index && !resent[0].receipt.isNew)
        #expect(resent[1].shard == 1 && resent[1].receipt.index == inOne[299].receipt.index && !resent[1].receipt.isNew)
        #expect(resent[2].shard == 1 && resent[2].receipt.index == late[0].receipt.index && !resent[2].receipt.isNew)
        #expect(resent[3].shard == 0 && resent[3].receipt.index == inZero[0].receipt.index)
        // The filters hold IDs of every platform; a sealed shard's event of another platform is not this one's.
        let otherPlatform = try EventSubmission(
            eventID: "z7", platform: "other-ai", kind: "generation.requested",
            canonicalBody: JSONValue.object(["event_id": "z7", "kind": "generation.requested"]).canonicalBytes())
        let foreign = try await shards.append([otherPlatform])
        #expect(foreign[0].shard == 2 && foreign[0].receipt.isNew, "another platform's z7 is a new event")
        for id in ["z\(Int.random(in: 0..<300))", "o\(Int.random(in: 0..<300))"] {
            await #expect(throws: LedgerError.self, "\(id) with another body") { try await shards.append([Self.submission(id, body: "other")]) }
        }
        shards.shutdown()
        await running.value
    }

    @Test func aSealedShardThatGrewStopsStartUp() async throws {
        let storage = try FolderStorage()
        try await Self.sealFirstShard(storage)
        try await Self.appendBehindTheLedgersBack(storage)
        await #expect {
            _ = try await Self.open(storage)
        } throws: { error in
            "\(error)".contains("must never change")
        }
    }

    // Each phase in its own function, so that its stores are closed when it returns (one opening of a file at a time).
    static func sealFirstShard(_ storage: FolderStorage) async throws {
        let shards = try await open(storage)
        let running = Task { await shards.run() }
        _ = try await shards.append([submission("e1")])
        try await shards.rollover(reason: .period)
        shards.shutdown()
        await running.value
    }

    static func appendBehindTheLedgersBack(_ storage: FolderStorage) async throws {
        let sealed = try await whileLocked {
            try await Ledger.open(store: try SQLiteStore(path: storage.path(0)), signer: signer, checkpointInterval: .milliseconds(5))
        }
        let sealedRun = Task { await sealed.run() }
        _ = try await sealed.append([submission("late")])
        sealed.shutdown()
        await sealedRun.value
    }

    @Test func aRolloverCutShortLeavesTheOldShardActive() async throws {
        let storage = try FolderStorage()
        try await Self.failARollover(storage)
        // A crash after creating the store and before shard.opened: an empty shard 1 on disk.
        _ = try SQLiteStore(path: storage.path(1))
        let reopened = try await Self.open(storage)
        #expect(reopened.shards.count == 1, "the empty store is removed at start-up")
        #expect(!FileManager.default.fileExists(atPath: storage.path(1)))
        let runningAgain = Task { await reopened.run() }
        try await reopened.rollover(reason: .size)
        #expect(reopened.shards[1].link?.previousCheckpoint.size == 2, "the seal covers what was appended after the failed rollover")
        reopened.shutdown()
        await runningAgain.value
    }

    static func failARollover(_ storage: FolderStorage) async throws {
        let shards = try await open(storage)
        let running = Task { await shards.run() }
        _ = try await shards.append([submission("e1")])
        // The next shard's store cannot be created: the old shard runs again and takes appends.
        storage.failCreate.withLock { $0 = true }
        await #expect(throws: (any Error).self) { try await shards.rollover(reason: .size) }
        #expect(shards.activeShard == 0)
        let after = try await shards.append([submission("e2")])
        #expect(after[0].shard == 0 && after[0].receipt.index == 1)
        shards.shutdown()
        await running.value
        storage.failCreate.withLock { $0 = false }
    }

    @Test func theShardOpenedRecordIsReadStrictly() async throws {
        let storage = try FolderStorage()
        let shards = try await Self.open(storage)
        let running = Task { await shards.run() }
        _ = try await shards.append([Self.submission("e1")])
        try await shards.rollover(reason: .size)
        shards.shutdown()
        await running.value
        let body = try #require(try await shards.shards[1].ledger.store.readEvent(index: 0)?.canonicalBody)
        let genuine = try JSONParser.parse(body)
        let verifiers = [Self.signer.verifier]
        let link = try ShardLink(body: genuine, baseOrigin: "shards.test/log", verifiers: verifiers)
        #expect(link.shard == 1 && link.previousOrigin == "shards.test/log" && link.reason == .size)

        guard case .object(let object) = genuine else { Issue.record("not an object"); return }
        func refused(_ change: (inout JSONObject) -> Void, _ why: String) {
            var changed = object
            change(&changed)
            #expect(throws: ShardLink.Failure.self, "\(why)") {
                try ShardLink(body: .object(changed), baseOrigin: "shards.test/log", verifiers: verifiers)
            }
        }
        refused({ $0["previous_checkpoint"] = nil }, "the checkpoint removed")
        refused({ $0["extra"] = "x" }, "a member added")
        refused({ $0["shard"] = 2 }, "another shard number")
        refused({ $0["origin"] = "shards.test/log/9" }, "another origin")
        refused({ $0["reason"] = "whim" }, "an unknown reason")
        refused({ $0["lost_entries"] = ["first_index": 0, "end_index": 1] }, "lost entries claimed on a size seal")
        refused({ $0["reason"] = "restore" }, "a restore seal that names a last leaf and no lost entries")
        refused(
            {
                $0["reason"] = "restore"
                $0["previous_last_leaf_hash"] = nil
                $0["lost_entries"] = ["first_index": 0, "end_index": 5]
                $0["lost_because"] = "disk lost"
            }, "lost entries that do not end at the sealed checkpoint's size")
        let note = object["previous_checkpoint"]!.stringValue!
        refused({ $0["previous_checkpoint"] = .string(note.replacingOccurrences(of: "\n1\n", with: "\n2\n")) }, "the size changed under the signature")
        // Signed by the right key but under shard 1's name: a shard's signature is not another's.
        let wrongName = try Self.signer.renamed("shards.test/log/1").sign(text: try SignedNote(parsing: note).text).formatted
        refused({ $0["previous_checkpoint"] = .string(wrongName) }, "a checkpoint signed under another shard's name")
        #expect(throws: ShardLink.Failure.self, "another log's key") {
            try ShardLink(body: genuine, baseOrigin: "shards.test/log", verifiers: [try NoteSigner(generatingFor: "shards.test/log").verifier])
        }
    }

    @Test func thePolicySealsBySizeOrAge() {
        let policy = ShardedLedger.Policy(maxEntries: 100, period: .seconds(3600))
        #expect(policy.due(size: 99, firstEventIndex: 1, openedAt: 0, now: 1_000) == nil)
        #expect(policy.due(size: 100, firstEventIndex: 1, openedAt: 0, now: 1_000) == .size)
        #expect(policy.due(size: 5, firstEventIndex: 1, openedAt: 0, now: 3_600_000) == .period)
        #expect(policy.due(size: 5, firstEventIndex: 1, openedAt: 10_000, now: 3_609_999) == nil)
        #expect(policy.due(size: 0, firstEventIndex: 0, openedAt: 0, now: 9_999_999) == nil, "an empty shard 0 is never sealed")
    }

    /// The link as an auditor checks it from public data (`ShardChainCheck`): the genuine one passes, and
    /// each doctored piece (body, salt, entry, proof, the previous shard's checkpoint or last leaf) fails.
    @Test func anAuditorChecksTheLinkFromPublicDataAndCatchesEachDoctoredPiece() async throws {
        let storage = try FolderStorage()
        let shards = try await Self.open(storage)
        let running = Task { await shards.run() }
        _ = try await shards.append((0..<5).map { Self.submission("e\($0)") })
        try await shards.rollover(reason: .size)
        _ = try await shards.append((5..<9).map { Self.submission("e\($0)") })
        shards.shutdown()
        await running.value

        let sealed = shards.shards[0].ledger, opened = shards.shards[1].ledger
        let event = try #require(try await opened.store.readEvent(index: 0))
        let checkpoint = try Checkpoint(parsing: try SignedNote(parsing: try #require(opened.latestCheckpoint).note).text)
        let previous = try Checkpoint(parsing: try SignedNote(parsing: try #require(sealed.latestCheckpoint).note).text)
        let (_, proof) = try await opened.inclusionProof(index: 0, treeSize: checkpoint.size)
        let last = try await sealed.inclusionProof(index: previous.size - 1, treeSize: previous.size)
        let genuine = ShardChainCheck.Opening(
            entry: event.entry, body: try JSONParser.parse(try #require(event.canonicalBody)), salt: try #require(event.salt), inclusionProof: proof)
        let verifiers = [Self.signer.verifier]
        func check(_ opening: ShardChainCheck.Opening, previous: Checkpoint = previous, last: (leafHash: Hash, proof: [Hash])? = nil) throws -> ShardLink {
            try ShardChainCheck.check(
                shard: 1, opening: opening, checkpoint: checkpoint, previous: previous, previousLastLeaf: last ?? (last0.leafHash, last0.proof),
                baseOrigin: "shards.test/log", verifiers: verifiers)
        }
        let last0 = last
        #expect(try check(genuine).previousCheckpoint.size == 5)

        func refused(_ why: String, _ body: () throws -> ShardLink) {
            #expect(throws: ShardChainCheck.Failure.self, "\(why)") { _ = try body() }
        }
        var changed = genuine
        guard case .object(var object) = genuine.body else { Issue.record("not an object"); return }
        object["reason"] = "period"
        changed.body = .object(object)
        refused("a body member changed (the commitment no longer holds)") { try check(changed) }
        object = genuine.body.objectValue!
        object["note"] = "added"
        changed.body = .object(object)
        refused("a body member added") { try check(changed) }
        changed = genuine
        changed.salt[0] ^= 1
        refused("another salt") { try check(changed) }
        changed = genuine
        changed.entry = try await opened.store.readEntries(first: 1, count: 1)[0]
        refused("another entry of the shard") { try check(changed) }
        changed = genuine
        changed.inclusionProof.removeLast()
        refused("a proof cut short") { try check(changed) }
        changed = genuine
        changed.inclusionProof.reverse()
        refused("a proof reordered") { try check(changed) }
        let grown = Checkpoint(origin: previous.origin, size: previous.size + 1, root: previous.root)
        refused("the previous shard serving another size than its seal") { try check(genuine, previous: grown) }
        let otherLeaf = try await sealed.inclusionProof(index: 0, treeSize: previous.size)
        refused("another leaf passed off as the previous shard's last") { try check(genuine, last: (otherLeaf.leafHash, last.proof)) }
    }

    /// Disaster recovery without a copy: the backup's shard sealed at the last published checkpoint, the
    /// ledger going on in shard 1, the gap exactly as recorded; refusals for a seal that gains nothing, a
    /// seal by another key, and a restored shard that holds more than the record says.
    @Test func aRestoreSealsTheLostTailInANewShard() async throws {
        let original = try FolderStorage()
        let (backupPath, published) = try await Self.ledgerWithBackup(original, backupAt: 6, total: 10)
        #expect(published.size == 10)

        let restored = try FolderStorage()
        try FileManager.default.copyItem(atPath: backupPath, toPath: restored.path(0))
        let keys = LogKeys(signer: Self.signer)
        await #expect(throws: ShardedLedger.Failure.self, "a seal at the backup's own size loses nothing") {
            _ = try await ShardedLedger.sealRestoredShard(
                storage: restored, keys: keys, shard: 0, restoredSize: 10, sealedNote: published.note, lostBecause: "x", logger: .init(label: "t"))
        }
        let stranger = try NoteSigner(generatingFor: "shards.test/log").sign(text: try SignedNote(parsing: published.note).text).formatted
        await #expect(throws: ShardedLedger.Failure.self, "a checkpoint signed by another key") {
            _ = try await ShardedLedger.sealRestoredShard(
                storage: restored, keys: keys, shard: 0, restoredSize: 6, sealedNote: stranger, lostBecause: "x", logger: .init(label: "t"))
        }
        #expect(!FileManager.default.fileExists(atPath: restored.path(1)), "a refused seal writes nothing")
        let link = try await ShardedLedger.sealRestoredShard(
            storage: restored, keys: keys, shard: 0, restoredSize: 6, sealedNote: published.note, lostBecause: "disk lost", logger: .init(label: "t"))
        #expect(link.lostEntries == 6..<10 && link.reason == .restore && link.previousLastLeafHash == nil && link.lostBecause == "disk lost")
        try await Self.appendAfterRestore(restored)

        // Shard 0 grows behind the ledger's back: it no longer holds what the record says; start-up refuses.
        try await Self.appendBehindTheLedgersBack(restored)
        await #expect {
            _ = try await Self.open(restored)
        } throws: { error in
            "\(error)".contains("restored to 6")
        }
    }

    /// A ledger of `total` events in `storage`'s shard 0, with a backup taken at `backupAt`; returns the backup's path
    /// and the last checkpoint published.
    static func ledgerWithBackup(_ storage: FolderStorage, backupAt: Int, total: Int) async throws -> (String, StoredCheckpoint) {
        let shards = try await open(storage)
        let running = Task { await shards.run() }
        _ = try await shards.append((0..<backupAt).map { submission("e\($0)") })
        let backupPath = storage.folder.appendingPathComponent("backup.sqlite").path
        _ = try SQLiteStore.backup(databaseAt: storage.path(0), to: backupPath)
        _ = try await shards.append((backupAt..<total).map { submission("e\($0)") })
        let published = try await shards.active.waitForCheckpoint(covering: UInt64(total))
        shards.shutdown()
        await running.value
        return (backupPath, published)
    }

    static func appendAfterRestore(_ storage: FolderStorage) async throws {
        let shards = try await open(storage)
        #expect(shards.shards.count == 2 && shards.activeShard == 1)
        let running = Task { await shards.run() }
        let after = try await shards.append([submission("e6"), submission("after")])
        #expect(after.allSatisfy { $0.shard == 1 }, "the lost events, re-sent, land in the new shard")
        #expect(after[0].receipt.isNew, "e6 was lost: its re-send is new")
        shards.shutdown()
        await running.value
    }

    /// A ledger that stops for another reason than a rollover (a lost lease on PostgreSQL, a shutdown) answers
    /// appends with the error: the retry that carries an append across a rollover must not spin on it.
    @Test func aLedgerStoppedOutsideARolloverAnswersTheError() async throws {
        let storage = try FolderStorage()
        let ledger = try await Ledger.open(store: try SQLiteStore(path: storage.path(0)), signer: Self.signer, checkpointInterval: .milliseconds(5))
        let shards = ShardedLedger(single: ledger)
        let running = Task { await ledger.run() }
        ledger.shutdown()
        await running.value
        // Polled rather than awaited: a spinning append never returns, and the test must fail, not hang.
        let outcome = Mutex<String?>(nil)
        Task {
            var answer = "appended"
            do { _ = try await shards.append([Self.submission("late")]) } catch let error as LedgerError { answer = error.code.rawValue } catch { answer = "\(error)" }
            outcome.withLock { $0 = answer }
        }
        for _ in 0..<100 where outcome.withLock({ $0 }) == nil {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(outcome.withLock { $0 } == LedgerError.Code.shuttingDown.rawValue, "answered within 10 s with the ledger's error")
    }
}
