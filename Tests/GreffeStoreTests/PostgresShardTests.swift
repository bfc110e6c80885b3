import Foundation
import GreffeCore
import GreffeLedger
import GreffePostgres
import GreffeStore
import Synchronization
import Testing

/// A flag shared by the tasks of a test.
final class Flag: Sendable {
    let value = Atomic(false)
}

/// Temporal shards on PostgreSQL (Schemas/shards.md, "On PostgreSQL"): shard k ≥ 1 is schema `greffe_shard_<k>`
/// of the same database, with a lease of its own; rollovers under load, start-up after a rollover cut short.
@Suite("Shards on PostgreSQL", .enabled(if: PostgresTestServer.url != nil, "needs GREFFE_TEST_POSTGRES"))
struct PostgresShardTests {
    static let signer = try! NoteSigner(generatingFor: "pg-shards.test/log")

    static func event(_ id: String) -> EventSubmission {
        let body = JSONValue.object(["event_id": .string(id), "kind": "generation.requested", "account": "acct-1"])
        return try! EventSubmission(eventID: id, platform: "example-ai", kind: "generation.requested", canonicalBody: body.canonicalBytes())
    }

    /// The shard set as `greffe serve --postgres` opens it: the last shard sequences under its lease, the sealed ones have none.
    func open(_ base: PostgresStore, node: String = "n1") async throws -> (ShardedLedger, PostgresShardStorage) {
        let storage = PostgresShardStorage(base: base, logger: PostgresTestServer.logger)
        let keys = LogKeys(signer: Self.signer)
        let shards = try await ShardedLedger.open(storage: storage, keys: keys, policy: .init(), logger: PostgresTestServer.logger) { store, shardKeys in
            let number = Shards.number(origin: shardKeys.origin, base: keys.origin) ?? 0
            let last = try await storage.existingShards().last == number
            return try await Ledger.open(
                store: store, keys: shardKeys, checkpointInterval: .milliseconds(10), node: last ? node : nil, logger: PostgresTestServer.logger)
        }
        return (shards, storage)
    }

    /// A shard set opened as a new `greffe serve --postgres` process would, and running.
    struct RunningShards {
        let base: PostgresStore
        let storage: PostgresShardStorage
        let shards: ShardedLedger
        let running: Task<Void, Never>

        /// Stops the set as SIGTERM would, then closes its stores.
        func stop() async {
            shards.shutdown()
            await running.value
            storage.close()
            base.close()
        }
    }

    func start(_ location: PostgresLocation) async throws -> RunningShards {
        let base = try await PostgresStore.connect(location, logger: PostgresTestServer.logger)
        let (shards, storage) = try await open(base)
        return RunningShards(base: base, storage: storage, shards: shards, running: Task { await shards.run() })
    }

    func schemas(_ location: PostgresLocation) async throws -> Int64 {
        try await PostgresTestServer.integer("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'greffe\\_shard\\_%'", on: location)
    }

    @Test("appends go on across three rollovers with nothing lost or doubled; each shard is a schema, and the set reopens")
    func rolloversUnderLoad() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let set = try await start(location)
        let shards = set.shards

        // The clients append until the three rollovers are done (25 batches each at least), so that every shard
        // takes some of their events however fast or slow the server is: the test erases one in shard 1 below.
        let rolledOver = Flag()
        let answered = try await withThrowingTaskGroup(of: [String: ShardedLedger.Receipt].self) { group in
            for client in 0..<4 {
                group.addTask {
                    var receipts: [String: ShardedLedger.Receipt] = [:]
                    var batch = 0
                    while batch < 25 || !rolledOver.value.load(ordering: .acquiring) {
                        defer { batch += 1 }
                        let ids = (0..<4).map { "c\(client)-b\(batch)-\($0)" }
                        let answered = try await shards.append(ids.map(Self.event))
                        for (id, receipt) in zip(ids, answered) { receipts[id] = receipt }
                    }
                    return receipts
                }
            }
            group.addTask {
                for reason in [Shards.Reason.size, .period, .size] {
                    try await Task.sleep(for: .milliseconds(40))
                    // A shard k ≥ 1 opens with its shard.opened record: wait for a client's event after it.
                    while shards.active.treeSize < (shards.activeShard == 0 ? 1 : 2) { try await Task.sleep(for: .milliseconds(5)) }
                    try await shards.rollover(reason: reason)
                }
                rolledOver.value.store(true, ordering: .releasing)
                return [:]
            }
            var all: [String: ShardedLedger.Receipt] = [:]
            for try await receipts in group { all.merge(receipts) { first, _ in first } }
            return all
        }
        #expect(shards.shards.map(\.number) == [0, 1, 2, 3])
        #expect(try await schemas(location) == 3)
        #expect(answered.count >= 400 && answered.count % 4 == 0)
        // Each receipt names the entry that holds its event, in its shard's own tables; no event is stored twice.
        var seen: [String: Int] = [:]
        for shard in shards.shards {
            for index in 0..<shard.ledger.treeSize {
                guard let stored = try await shard.ledger.store.readEvent(index: index), stored.platform == "example-ai" else { continue }
                seen[stored.eventID, default: 0] += 1
                let receipt = try #require(answered[stored.eventID])
                #expect(receipt.shard == shard.number && receipt.receipt.index == index)
            }
        }
        #expect(seen.count == answered.count && seen.values.allSatisfy { $0 == 1 })
        // Shard 0's tables (the default schema) hold only shard 0's events.
        let inShardZero = answered.values.filter { $0.shard == 0 }.count
        #expect(try await PostgresTestServer.integer("SELECT count(*) FROM public.events WHERE platform = 'example-ai'", on: location) == Int64(inShardZero))

        // A shard sealed for good gave its lease (its connection) up; shard 0's and the active shard's are held.
        let leaseHolders = shards.shards.map { ($0.ledger.store as? PostgresStore)?.holdsSequencerLease }
        #expect(leaseHolders == [true, false, false, true])
        #expect(try await PostgresTestServer.integer("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = current_database()", on: location) == 2)
        // Without its lease, a sealed shard still takes an erasure order (recorded in the active shard).
        let target = try #require(answered.values.first { $0.shard == 1 })
        let sealedOne = try #require(shards.shard(1)).ledger
        _ = try await shards.appendingToActive { active in
            try await active.erase(
                index: target.receipt.index, inSealedShard: sealedOne, shard: 1, legalReference: "order-1", reason: "test",
                holds: { try await shards.legalHolds() })
        }
        #expect(try await sealedOne.store.readEvent(index: target.receipt.index)?.canonicalBody == nil)

        await set.stop()

        // Reopened by a new process: every link checked, a re-send finds its event in a sealed shard.
        let again = try await start(location)
        let reopened = again.shards
        #expect(reopened.shards.map(\.number) == [0, 1, 2, 3])
        #expect(reopened.shards.dropFirst().allSatisfy { $0.link != nil })
        let sealed = try #require(answered.first { $0.value.shard == 1 && $0.key != target.receipt.eventID })
        let resent = try await reopened.append([Self.event(sealed.key)])
        #expect(resent.map(\.shard) == [1] && resent.map(\.receipt.index) == [sealed.value.receipt.index] && resent.allSatisfy { !$0.receipt.isNew })
        await again.stop()
    }

    /// Opens the shard set of `location` as a new process would, runs `body` on it, and stops it.
    func whileOpen<T: Sendable>(_ location: PostgresLocation, _ body: (ShardedLedger) async throws -> T) async throws -> T {
        let set = try await start(location)
        let result: Result<T, any Error>
        do { result = .success(try await body(set.shards)) } catch { result = .failure(error) }
        await set.stop()
        return try result.get()
    }

    @Test("a sealed shard's event-ID filter is saved in its schema and used at the next start; a damaged or foreign one is made again")
    func savedEventIDFilters() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        try await whileOpen(location) { shards in
            _ = try await shards.append((0..<30).map { Self.event("z-\($0)") })
            try await shards.rollover(reason: .size)
        }
        /// Has the sealed filters made or loaded, appends `count` new IDs and answers how many of them shard 0 was asked for.
        func lookupsForNewIDs(_ tag: String, count: Int = 40) async throws -> Int {
            try await whileOpen(location) { shards in
                _ = await shards.buildSealedFilters()
                #expect(shards.filteredShards == [0])
                let before = shards.sealedShardLookups
                _ = try await shards.append((0..<count).map { Self.event("\(tag)-\($0)") })
                return shards.sealedShardLookups - before
            }
        }
        #expect(try await lookupsForNewIDs("first") < 5)
        let sealedZero = try await PostgresStore.connect(location, logger: PostgresTestServer.logger)
        defer { sealedZero.close() }
        let (size, root) = (try await sealedZero.treeSize(), try #require(try await sealedZero.latestCheckpoint()).root)
        let saved = try #require(try await sealedZero.savedEventIDFilter())
        #expect(SealedIDFilterFile.decode(saved, treeSize: size, root: root) != nil, "shard 0's schema holds its filter")

        // A valid filter that rules nothing out: used as it is, so every new ID is asked (a rebuilt one asks ~none).
        let everything = BloomFilter(bits: [UInt8](repeating: 0xff, count: 64), hashes: BloomFilter.hashCount)
        try await sealedZero.saveEventIDFilter(SealedIDFilterFile.encode(everything, treeSize: size, root: root))
        #expect(try await lookupsForNewIDs("second") == 40)

        // Damaged (one bit), or made for another tree: not used; made again from the store, and saved.
        var damaged = SealedIDFilterFile.encode(everything, treeSize: size, root: root)
        damaged[damaged.count - 40] ^= 1
        for (position, bytes) in [damaged, SealedIDFilterFile.encode(everything, treeSize: size + 1, root: root)].enumerated() {
            try await sealedZero.saveEventIDFilter(bytes)
            #expect(try await lookupsForNewIDs("third-\(position)") < 5, "case \(position)")
            let remade = try #require(try await sealedZero.savedEventIDFilter())
            #expect(remade != bytes && SealedIDFilterFile.decode(remade, treeSize: size, root: root) != nil, "case \(position)")
        }
    }

    @Test("a rollover cut short leaves an empty schema, or one with an empty log: start-up removes it; a shard with entries is never removed")
    func rolloverCutShort() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let set = try await start(location)
        let shards = set.shards
        _ = try await shards.append([Self.event("a")])
        try await shards.rollover(reason: .size)
        _ = try await shards.append([Self.event("b")])
        await #expect(throws: StoreError.self) { try await set.storage.removeEmptyStore(shard: 1) }
        await set.stop()
        #expect(try await schemas(location) == 1)

        // Killed after CREATE SCHEMA, before its tables: an empty schema.
        try await PostgresTestServer.execute("CREATE SCHEMA greffe_shard_2", on: location)
        let again = try await start(location)
        let reopened = again.shards
        #expect(reopened.shards.map(\.number) == [0, 1])
        #expect(try await schemas(location) == 1)
        // Shard 1 is active again, and the next rollover makes shard 2 anew.
        #expect(try await reopened.append([Self.event("c")]).map(\.shard) == [1])
        try await reopened.rollover(reason: .size)
        #expect(try await reopened.append([Self.event("d")]).map(\.shard) == [2])
        await again.stop()

        // A schema whose name is not a shard's is refused, not guessed at.
        try await PostgresTestServer.execute("CREATE SCHEMA greffe_shard_03", on: location)
        let third = try await PostgresStore.connect(location, logger: PostgresTestServer.logger)
        await #expect(throws: StoreError.self) { _ = try await PostgresShardStorage(base: third, logger: PostgresTestServer.logger).existingShards() }
        third.close()
    }

    @Test("the active shard's lease taken away (its session ended by PostgreSQL) stops the shard set, saying so")
    func activeLeaseLost() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let set = try await start(location)
        let shards = set.shards
        _ = try await shards.append((0..<5).map { Self.event("l-\($0)") })
        try await shards.rollover(reason: .size)
        _ = try await shards.append((5..<10).map { Self.event("l-\($0)") })
        #expect(shards.activeShard == 1 && shards.active.isSequencer)
        // Shard 1's lease key (PostgresStore.leaseLock): its session is ended as an administrator or a failover would.
        let ended = try await PostgresTestServer.integer(
            """
            SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
            AND classid = \(0x6772_6566_6600_0001 >> 32) AND objid = \(0x6772_6566_6600_0001 & 0xFFFF_FFFF)
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """, on: location)
        #expect(ended == 1)
        let stopped = Mutex(false)
        Task {
            await set.running.value
            stopped.withLock { $0 = true }
        }
        for _ in 0..<100 where !stopped.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(stopped.withLock { $0 }, "the shard set still runs 10 s after its active shard lost its lease")
        #expect(shards.active.stoppedBecauseLeaseLost)
        await #expect(throws: (any Error).self) { _ = try await shards.append([Self.event("after")]) }
        await set.stop()
    }

    @Test("each shard has a lease of its own, and shard 0's lease keeps a second node out")
    func leases() async throws {
        let location = try await PostgresTestServer.freshDatabase()
        let first = try await PostgresStore.connect(location, logger: PostgresTestServer.logger)
        let second = try await PostgresStore.connect(location, logger: PostgresTestServer.logger)
        #expect(try await first.acquireSequencerLease(node: "n1"))
        #expect(try await !second.acquireSequencerLease(node: "n2"), "one node serves the shard set")
        let storage = PostgresShardStorage(base: first, logger: PostgresTestServer.logger)
        let shardOne = try #require(try await storage.createStore(shard: 1) as? any SharedLedgerStore)
        #expect(try await shardOne.acquireSequencerLease(node: "n1"), "shard 1's lease is not shard 0's")
        await #expect(throws: StoreError.self) { _ = try await storage.createStore(shard: 1) }
        storage.close()
        first.close()
        // Once the first node is gone, the second takes shard 0's lease.
        var taken = false
        for _ in 0..<50 where !taken {
            taken = try await second.acquireSequencerLease(node: "n2")
            if !taken { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(taken)
        second.close()
    }
}

