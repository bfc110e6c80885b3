import Foundation
import GreffeCore
import GreffePostgres
@testable import GreffeSQLite
@testable import GreffeStore
import Testing

/// The `LedgerStore` contract, one body for every backend.
enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// SQLite always; PostgreSQL when `GREFFE_TEST_POSTGRES` names a server
    /// (`ops/test.sh` starts one, and sets `GREFFE_REQUIRE_POSTGRES` so that
    /// a missing server fails the run instead of skipping these).
    static var available: [StoreBackend] { PostgresTestServer.url == nil ? [.sqlite] : allCases }

    func make() async throws -> any LedgerStore {
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-store-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return try SQLiteStore(path: directory.appendingPathComponent("greffe.sqlite").path)
        case .postgres:
            return try await PostgresStore.connect(try await PostgresTestServer.freshDatabase(), logger: PostgresTestServer.logger)
        }
    }
}

/// The platform of the events `BatchBuilder` makes unless told otherwise.
let contractPlatform = "contract.example"

func contractKey(_ id: String) -> EventKey { EventKey(platform: contractPlatform, eventID: id) }

/// Builds consecutive batches the way the sequencer does.
struct BatchBuilder {
    var frontier = MerkleFrontier()
    var lastLeaf = Hash.zero
    /// Every entry built so far, by index.
    var entries: [[UInt8]] = []

    mutating func batch(_ ids: [String], platform: String = contractPlatform) -> AppendBatch {
        batch(ids.map { (id: $0, kind: "test.event", terms: EventSearchTerms()) }, platform: platform)
    }

    mutating func batch(_ items: [(id: String, kind: String, terms: EventSearchTerms)], platform: String = contractPlatform) -> AppendBatch {
        let first = frontier.size
        var events: [SequencedEvent] = []
        var nodes: [MerkleFrontier.Node] = []
        for (id, kind, terms) in items {
            let body = Array("{\"event_id\":\"\(id)\"}".utf8)
            let salt = Commitment.newSalt()
            let entry = LedgerEntry(
                index: frontier.size, sequencedAtMilliseconds: 1_700_000_000_000, prev: lastLeaf,
                commitment: Commitment.commit(salt: salt, canonicalBody: body), kind: kind)
            let leaf = entry.leafHash
            events.append(
                SequencedEvent(
                    index: entry.index, eventID: id, platform: platform, appendedBy: "token-of-\(platform)", kind: entry.kind, canonicalBody: body, salt: salt, bodyDigest: MerkleHash.sha256(body),
                    entry: entry.encoded, leafHash: leaf, sequencedAtMilliseconds: entry.sequencedAtMilliseconds, terms: terms))
            frontier.append(leaf) { nodes.append($0) }
            lastLeaf = leaf
            entries.append(entry.encoded)
        }
        return AppendBatch(firstIndex: first, events: events, nodes: nodes)
    }
}

@Suite("LedgerStore contract")
struct StoreContractTests {
    @Test(arguments: StoreBackend.available)
    func appendAndRead(backend: StoreBackend) async throws {
        let store = try await backend.make()
        #expect(try await store.treeSize() == 0)
        var builder = BatchBuilder()
        let first = builder.batch((0..<300).map { "e\($0)" })
        try await store.append(first)
        try await store.append(builder.batch((300..<520).map { "e\($0)" }))
        #expect(try await store.treeSize() == 520)

        let root = try await store.withNodes { try MerkleTree.root(size: 520, reader: $0) }
        #expect(root == builder.frontier.root)
        let leaves = try await store.readNodeRange(level: 0, first: 256, count: 256)
        let entries = try await store.readEntries(first: 256, count: 256)
        #expect(entries.map { MerkleHash.leaf($0) } == leaves)
        #expect(try await store.readNodeRange(level: 8, first: 0, count: 2).count == 2)
        await #expect(throws: StoreError.self) { _ = try await store.readNodeRange(level: 8, first: 0, count: 3) }
        await #expect(throws: StoreError.self) { _ = try await store.readEntries(first: 500, count: 21) }
        #expect(try await store.leafIndex(of: leaves[10]) == 266)
        let located = try await store.locateEvents([contractKey("e3"), contractKey("e400"), contractKey("missing")])
        #expect(located[contractKey("e3")]?.index == 3)
        #expect(located[contractKey("e3")]?.leafHash == first.events[3].leafHash)
        #expect(located[contractKey("e400")]?.bodyDigest == MerkleHash.sha256(Array("{\"event_id\":\"e400\"}".utf8)))
        #expect(located[contractKey("missing")] == nil)
        // Event IDs are unique per platform: another platform's e3 is not this one.
        #expect(try await store.locateEvents([EventKey(platform: "other.example", eventID: "e3")]).isEmpty)
        let event = try #require(try await store.readEvent(index: 5))
        #expect(event.eventID == "e5")
        #expect(event.entry == first.events[5].entry)
        // Event IDs in index order, a page at a time (a sealed shard's event-ID filter is made of them).
        #expect(try await store.eventIDs(fromIndex: 0, limit: 3) == ["e0", "e1", "e2"])
        #expect(try await store.eventIDs(fromIndex: 517, limit: 10) == ["e517", "e518", "e519"])
        #expect(try await store.eventIDs(fromIndex: 520, limit: 10).isEmpty)
        var paged: [String] = []
        while paged.count < 520 { paged += try await store.eventIDs(fromIndex: UInt64(paged.count), limit: 128) }
        #expect(paged == (0..<520).map { "e\($0)" })
    }

    @Test("event IDs are unique per platform: two platforms store the same ID, each finds only its own", arguments: StoreBackend.available)
    func eventIDsPerPlatform(backend: StoreBackend) async throws {
        let store = try await backend.make()
        var builder = BatchBuilder()
        try await store.append(builder.batch(["shared-1", "a-only"], platform: "a.example"))
        try await store.append(builder.batch(["shared-1"], platform: "b.example"))
        let a = EventKey(platform: "a.example", eventID: "shared-1")
        let b = EventKey(platform: "b.example", eventID: "shared-1")
        let located = try await store.locateEvents([a, b, EventKey(platform: "b.example", eventID: "a-only")])
        #expect(located[a]?.index == 0)
        #expect(located[b]?.index == 2)
        #expect(located.count == 2)
        let stored = try #require(try await store.readEvent(index: 2))
        #expect(stored.platform == "b.example")
        #expect(stored.appendedBy == "token-of-b.example")
        // The same (platform, ID) twice is refused by the store itself, whatever the sequencer does.
        await #expect(throws: (any Error).self) { try await store.append(builder.batch(["shared-1"], platform: "a.example")) }
        #expect(try await store.treeSize() == 3)
    }

    @Test("every leaf is found by its hash, across chunks; an unknown hash, even one sharing a prefix, is not", arguments: StoreBackend.available)
    func leafIndexAcrossChunks(backend: StoreBackend) async throws {
        let store = try await backend.make()
        #expect(try await store.leafIndex(of: Hash.zero) == nil)
        var builder = BatchBuilder()
        var leaves: [Hash] = []
        for batchNumber in 0..<9 {
            let batch = builder.batch((0..<1_000).map { "c\(batchNumber)-\($0)" })
            leaves += batch.events.map(\.leafHash)
            try await store.append(batch)
        }
        for index in [0, 1, 4_095, 4_096, 4_097, 8_191, 8_192, 8_999] {
            #expect(try await store.leafIndex(of: leaves[index]) == UInt64(index), "leaf \(index)")
        }
        var samePrefix = leaves[4_096].bytes
        samePrefix[31] ^= 1
        #expect(try await store.leafIndex(of: try #require(Hash(bytes: samePrefix))) == nil)
        #expect(try await store.leafIndex(of: MerkleHash.sha256(Array("not a leaf".utf8))) == nil)
    }

    @Test("a batch that does not start at the tree size, or breaks a constraint, stores nothing", arguments: StoreBackend.available)
    func atomicity(backend: StoreBackend) async throws {
        let store = try await backend.make()
        var builder = BatchBuilder()
        try await store.append(builder.batch(["a", "b"]))
        var skipping = builder
        _ = skipping.batch(["gap"])
        await #expect(throws: StoreError.self) { try await store.append(skipping.batch(["c"])) }
        // The second event reuses an ID: the constraint fails after the first row was inserted.
        var reuse = builder
        await #expect(throws: StoreError.self) { try await store.append(reuse.batch(["c", "a"])) }
        #expect(try await store.treeSize() == 2)
        #expect(try await store.locateEvents([contractKey("c")]).isEmpty)
        try await store.append(builder.batch(["c"]))
        #expect(try await store.treeSize() == 3)
    }

    @Test("checkpoints: never two roots for one size, never backwards, never beyond the tree", arguments: StoreBackend.available)
    func checkpointCompareAndSwap(backend: StoreBackend) async throws {
        let store = try await backend.make()
        var builder = BatchBuilder()
        try await store.append(builder.batch((0..<10).map { "c\($0)" }))
        let root = builder.frontier.root
        let good = StoredCheckpoint(size: 10, root: root, note: "note", signedAtMilliseconds: 1)
        try await store.storeCheckpoint(good)
        try await store.storeCheckpoint(good)
        var forked = good
        forked.root = MerkleHash.emptyRoot
        await #expect(throws: StoreError(.fork, "refusing a second root for tree size 10")) { try await store.storeCheckpoint(forked) }
        await #expect(throws: StoreError.self) {
            try await store.storeCheckpoint(StoredCheckpoint(size: 5, root: root, note: "older", signedAtMilliseconds: 2))
        }
        await #expect(throws: StoreError.self) {
            try await store.storeCheckpoint(StoredCheckpoint(size: 11, root: root, note: "beyond", signedAtMilliseconds: 2))
        }
        #expect(try await store.latestCheckpoint() == good)
        #expect(try await store.checkpoint(size: 10) == good)
        #expect(try await store.checkpoint(size: 5) == nil)
    }

    @Test("attestations: only on stored checkpoints, one per size and kind, replaced, found first and latest", arguments: StoreBackend.available)
    func attestations(backend: StoreBackend) async throws {
        let store = try await backend.make()
        var builder = BatchBuilder()
        try await store.append(builder.batch((0..<4).map { "a\($0)" }))
        let firstRoot = builder.frontier.root
        try await store.storeCheckpoint(StoredCheckpoint(size: 4, root: firstRoot, note: "n4", signedAtMilliseconds: 1))
        try await store.append(builder.batch((4..<9).map { "a\($0)" }))
        try await store.storeCheckpoint(StoredCheckpoint(size: 9, root: builder.frontier.root, note: "n9", signedAtMilliseconds: 2))

        let token = CheckpointAttestation(size: 4, kind: .rfc3161Token, data: [0x30, 0x82, 0x00, 0xFF], createdAtMilliseconds: 10)
        await #expect(throws: StoreError.self) {
            try await store.storeAttestation(CheckpointAttestation(size: 5, kind: .rfc3161Token, data: [1], createdAtMilliseconds: 10))
        }
        #expect(try await store.latestAttestation(kind: .rfc3161Token) == nil)
        try await store.storeAttestation(token)
        let cosigned = CheckpointAttestation(size: 9, kind: .cosignedNote, data: Array("n9\n— w1".utf8), createdAtMilliseconds: 11)
        try await store.storeAttestation(cosigned)
        #expect(try await store.attestation(kind: .rfc3161Token, size: 4) == token)
        #expect(try await store.attestation(kind: .cosignedNote, size: 4) == nil)
        #expect(try await store.latestAttestation(kind: .cosignedNote) == cosigned)
        #expect(try await store.firstAttestation(kind: .rfc3161Token, atLeast: 1) == token)
        #expect(try await store.firstAttestation(kind: .rfc3161Token, atLeast: 5) == nil)
        #expect(try await store.firstAttestation(kind: .cosignedNote, atLeast: 5) == cosigned)

        var more = cosigned
        more.data += Array("\n— w2".utf8)
        more.createdAtMilliseconds = 12
        try await store.storeAttestation(more)
        #expect(try await store.attestation(kind: .cosignedNote, size: 9) == more)
        try await store.storeAttestation(CheckpointAttestation(size: 9, kind: .rfc3161Token, data: [2], createdAtMilliseconds: 13))
        #expect(try await store.latestAttestation(kind: .rfc3161Token)?.size == 9)
        #expect(try await store.firstAttestation(kind: .rfc3161Token, atLeast: 0) == token)
    }

    @Test("tokens are found by secret hash, unique by name, revocable", arguments: StoreBackend.available)
    func tokens(backend: StoreBackend) async throws {
        let store = try await backend.make()
        let secret = MerkleHash.sha256(Array("secret".utf8))
        let created = try await store.createToken(name: "p", role: .append, platform: "p.example", secretHash: secret, createdAtMilliseconds: 5)
        #expect(created.platform == "p.example")
        #expect(try await store.token(secretHash: secret) == created)
        #expect(try await store.token(secretHash: MerkleHash.sha256(Array("other".utf8))) == nil)
        await #expect(throws: StoreError.self) {
            _ = try await store.createToken(name: "p", role: .investigate, platform: nil, secretHash: MerkleHash.emptyRoot, createdAtMilliseconds: 6)
        }
        // Only an active, unbound append token can be bound, once.
        await #expect(throws: StoreError.self) { try await store.bindToken(name: "p", platform: "q.example") }
        let legacy = MerkleHash.sha256(Array("legacy".utf8))
        _ = try await store.createToken(name: "legacy", role: .append, platform: nil, secretHash: legacy, createdAtMilliseconds: 7)
        #expect(try await store.token(secretHash: legacy)?.platform == nil)
        try await store.bindToken(name: "legacy", platform: "l.example")
        #expect(try await store.token(secretHash: legacy)?.platform == "l.example")
        await #expect(throws: StoreError.self) { try await store.bindToken(name: "legacy", platform: "m.example") }
        try await store.revokeToken(name: "p", atMilliseconds: 9)
        #expect(try await store.token(secretHash: secret)?.revokedAtMilliseconds == 9)
        await #expect(throws: StoreError.self) { try await store.revokeToken(name: "p", atMilliseconds: 10) }
        #expect(try await store.listTokens().map(\.name) == ["p", "legacy"])
    }
}

@Suite("SQLite specifics")
struct SQLiteStoreTests {
    /// `greffe.sqlite` in a new temporary directory (the caller removes the directory).
    func newDatabasePath(_ prefix: String) throws -> (directory: URL, path: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return (directory, directory.appendingPathComponent("greffe.sqlite").path)
    }

    @Test("data survives reopening the file")
    func reopen() async throws {
        let (directory, path) = try newDatabasePath("greffe-reopen")
        defer { try? FileManager.default.removeItem(at: directory) }
        var builder = BatchBuilder()
        do {
            let store = try SQLiteStore(path: path)
            try await store.append(builder.batch(["x", "y", "z"]))
        }
        let reopened = try SQLiteStore(path: path)
        #expect(try await reopened.treeSize() == 3)
        #expect(try await reopened.withNodes { try MerkleTree.root(size: 3, reader: $0) } == builder.frontier.root)
    }

    @Test("an erased body left in the WAL by a reader that never finishes is an error naming the WAL, and is purged once the reader goes")
    func erasureWALPurge() async throws {
        let (directory, path) = try newDatabasePath("greffe-erase-wal")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        var builder = BatchBuilder()
        try await store.append(builder.batch(["keep", "erase-me"]))
        // Another process's long read: the WAL cannot be folded back past its snapshot.
        let reader = try SQLiteConnection(path: path)
        try reader.execute("BEGIN")
        let hold = try reader.statement("SELECT COUNT(*) FROM events")
        _ = try hold.step()
        try await store.eraseEvent(index: 1, record: ErasureRecord(erasedAtMilliseconds: 1, legalReference: "order", erasureEntryIndex: 2))
        do {
            try await store.purgeErasedCopies()
            Issue.record("the WAL was truncated under a reader's snapshot")
        } catch let error as StoreError {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("-wal"), "\(error.message)")
        }
        hold.reset()
        try reader.execute("COMMIT")
        try await store.purgeErasedCopies()
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        #expect(wal == 0)
    }

    @Test("appends are checkpointed into the database file beside the writer, and the WAL stays bounded")
    func walIsCheckpointed() async throws {
        let (directory, path) = try newDatabasePath("greffe-wal")
        defer { try? FileManager.default.removeItem(at: directory) }
        // A WAL restarted past 1,024 frames (4 MiB) instead of 64 MiB, so that a small test crosses it often.
        let store = try SQLiteStore(path: path, readerCount: 2, walRestartFrames: 1_024)
        func size(_ suffix: String) -> Int {
            (try? FileManager.default.attributesOfItem(atPath: path + suffix)[.size] as? Int) ?? 0
        }
        var builder = BatchBuilder()
        let batches = (0..<40).map { batchNumber in builder.batch((0..<1_000).map { "wal-\(batchNumber)-\($0)" }) }
        // Commits back to back, with reads all along (as under load): a passive
        // checkpoint alone seldom catches up with the writer, so the WAL could not start over.
        let appending = Task {
            for batch in batches { try await store.append(batch) }
        }
        var largestWAL = 0
        let deadline = ContinuousClock.now + .seconds(60)  // a failed append ends the loop here, and throws below
        while try await store.treeSize() < 40_000, ContinuousClock.now < deadline {
            _ = try await store.locateEvents([contractKey("wal-0-0")])
            largestWAL = max(largestWAL, size("-wal"))
            // The reads run on this thread without suspending: leave the pool to the other tests.
            try await Task.sleep(for: .milliseconds(1))
        }
        try await appending.value
        // About 58 MB of WAL frames were written: without checkpoints the WAL held
        // them all and the database file stayed at a few pages.
        var database = size("")
        for _ in 0..<200 where database < 4 << 20 {
            try await Task.sleep(for: .milliseconds(10))
            database = size("")
        }
        #expect(database > 4 << 20, "database file \(database) bytes")
        #expect(largestWAL < 16 << 20, "the WAL reached \(largestWAL) bytes")
        #expect(try await store.treeSize() == 40_000)
    }

    @Test("a version 1 database is upgraded in place and keeps its data")
    func upgradeFromVersion1() async throws {
        let (directory, path) = try newDatabasePath("greffe-upgrade")
        defer { try? FileManager.default.removeItem(at: directory) }
        var builder = BatchBuilder()
        do {
            // A version 1 file, as an earlier greffe left it.
            let db = try SQLiteConnection(path: path)
            try db.execute(SQLiteStore.schemaV1)
            try db.execute("PRAGMA user_version = 1")
        }
        do {
            let store = try SQLiteStore(path: path)
            try await store.append(builder.batch(["u0", "u1"]))
            try await store.storeCheckpoint(StoredCheckpoint(size: 2, root: builder.frontier.root, note: "n2", signedAtMilliseconds: 1))
            try await store.storeAttestation(CheckpointAttestation(size: 2, kind: .rfc3161Token, data: [9], createdAtMilliseconds: 2))
        }
        let reopened = try SQLiteStore(path: path)
        #expect(try await reopened.treeSize() == 2)
        #expect(try await reopened.attestation(kind: .rfc3161Token, size: 2)?.data == [9])
    }

    @Test("a version 2 database keeps finding its leaves by hash, accounts and content hashes after the upgrades")
    func upgradeFromVersion2() async throws {
        let (directory, path) = try newDatabasePath("greffe-upgrade2")
        defer { try? FileManager.default.removeItem(at: directory) }
        var builder = BatchBuilder()
        let batch = builder.batch((0..<5_000).map { "v2-\($0)" })
        do {
            // A version 2 file, as an earlier greffe left it: leaf hashes only in `nodes`.
            let db = try SQLiteConnection(path: path)
            try db.execute(SQLiteStore.schemaV1)
            try db.execute(SQLiteStore.migrationV2)
            try db.execute("PRAGMA user_version = 2")
            try db.transaction {
                try Self.insertBeforeVersion6(db, batch.events)
                try db.execute("UPDATE meta SET value = '5000' WHERE key = 'tree_size'")
                // Search terms in the version 1 to 4 layouts (content_terms without a chunk).
                try db.execute(
                    """
                    INSERT INTO events (idx, event_id, kind, sequenced_at, account) VALUES (4097, 'v2-4097', 'test.event', 0, 'acct-x');
                    INSERT INTO content_terms (term, idx) VALUES ('sha256:aa', 4097);
                    """)
            }
        }
        let store = try SQLiteStore(path: path)
        for index in [0, 4_095, 4_096, 4_999] {
            #expect(try await store.leafIndex(of: batch.events[index].leafHash) == UInt64(index))
        }
        #expect(try await store.searchEvents(EventQuery(account: "acct-x")) == [4_097])
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:aa")) == [4_097])
        // Schema 6 keeps the leaves beside their entries.
        #expect(try await store.readNodeRange(level: 0, first: 4_090, count: 10) == batch.events[4_090..<4_100].map(\.leafHash))
        #expect(try await store.readNodes([NodeID(level: 0, index: 4_999)]) == [batch.events[4_999].leafHash])
        #expect(try await store.readEntries(first: 4_999, count: 1) == [batch.events[4_999].entry])
    }

    /// Entries, and their leaves as level-0 nodes, as schemas 1 to 5 stored them.
    private static func insertBeforeVersion6(_ db: SQLiteConnection, _ events: [SequencedEvent], withoutLeaf: Set<UInt64> = []) throws {
        let insertEntry = try db.statement("INSERT INTO entries (idx, entry) VALUES (?, ?)")
        let insertLeaf = try db.statement("INSERT INTO nodes (level, idx, hash) VALUES (0, ?, ?)")
        for event in events {
            insertEntry.reset()
            insertEntry.bind(1, event.index)
            insertEntry.bind(2, event.entry)
            try insertEntry.run()
            guard !withoutLeaf.contains(event.index) else { continue }
            insertLeaf.reset()
            insertLeaf.bind(1, event.index)
            insertLeaf.bind(2, event.leafHash)
            try insertLeaf.run()
        }
    }

    @Test("an upgrade to schema 6 refuses a file whose leaves and entries do not pair up, and leaves it as it was")
    func upgradeRefusesUnpairedLeaves() async throws {
        let (directory, path) = try newDatabasePath("greffe-upgrade6")
        defer { try? FileManager.default.removeItem(at: directory) }
        var builder = BatchBuilder()
        let batch = builder.batch(["a", "b", "c"])
        do {
            let db = try SQLiteConnection(path: path)
            for migration in [SQLiteStore.schemaV1, SQLiteStore.migrationV2, SQLiteStore.migrationV3, SQLiteStore.migrationV4, SQLiteStore.migrationV5] {
                try db.execute(migration)
            }
            try db.execute("PRAGMA user_version = 5")
            // Entry 2's leaf hash is missing.
            try Self.insertBeforeVersion6(db, batch.events, withoutLeaf: [2])
        }
        #expect(throws: StoreError.self) { _ = try SQLiteStore(path: path) }
        let db = try SQLiteConnection(path: path)
        let version = try db.statement("PRAGMA user_version")
        _ = try version.step()
        #expect(version.int64(0) == 5)
        let leaves = try db.statement("SELECT COUNT(*) FROM nodes WHERE level = 0")
        _ = try leaves.step()
        #expect(leaves.int64(0) == 2)
    }

    @Test("a schema 6 ledger upgrades in place to per-platform event IDs: platforms read from the bodies, an erased event's ID blocked for every platform")
    func upgradeToTenancy() async throws {
        let (directory, path) = try newDatabasePath("greffe-upgrade7")
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let db = try SQLiteConnection(path: path)
            for migration in [
                SQLiteStore.schemaV1, SQLiteStore.migrationV2, SQLiteStore.migrationV3, SQLiteStore.migrationV4, SQLiteStore.migrationV5,
                SQLiteStore.migrationV6,
            ] {
                try db.execute(migration)
            }
            try db.execute("PRAGMA user_version = 6")
            // Two events with bodies, one erased (no body: its platform cannot be known), and an unbound append token.
            try db.execute(
                """
                INSERT INTO events (idx, event_id, kind, body, body_digest, sequenced_at)
                    VALUES (0, 'e-0', 'legal.request', CAST('{"event_id":"e-0","platform":"a.example"}' AS BLOB), zeroblob(32), 0),
                           (1, 'e-1', 'legal.request', CAST('{"event_id":"e-1","platform":"b.example"}' AS BLOB), zeroblob(32), 0),
                           (2, 'e-2', 'legal.request', NULL, NULL, 0);
                INSERT INTO entries (idx, entry, leaf_hash) VALUES (0, x'00', zeroblob(32)), (1, x'01', zeroblob(32)), (2, x'02', zeroblob(32));
                INSERT INTO tokens (name, role, secret_hash, created_at) VALUES ('old-platform', 'append', x'aa', 0);
                UPDATE meta SET value = '3' WHERE key = 'tree_size';
                """)
        }
        let store = try SQLiteStore(path: path)
        #expect(try await store.readEvent(index: 0)?.platform == "a.example")
        #expect(try await store.readEvent(index: 1)?.platform == "b.example")
        #expect(try await store.readEvent(index: 2)?.platform == nil)
        let located = try await store.locateEvents([
            EventKey(platform: "a.example", eventID: "e-0"), EventKey(platform: "b.example", eventID: "e-0"),
            EventKey(platform: "z.example", eventID: "e-2"),
        ])
        #expect(located[EventKey(platform: "a.example", eventID: "e-0")]?.index == 0)
        #expect(located[EventKey(platform: "b.example", eventID: "e-0")] == nil)
        // Erased before platforms were stored: matched for any platform, so its body is never appended again.
        #expect(located[EventKey(platform: "z.example", eventID: "e-2")]?.index == 2)
        let token = try #require(try await store.listTokens().first)
        #expect(token.role == .append && token.platform == nil)
    }

    @Test("a database from a newer greffe is refused")
    func newerSchemaRefused() async throws {
        let (directory, path) = try newDatabasePath("greffe-schema")
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try SQLiteStore(path: path)
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        sqlite.arguments = ["python3", "-c", "import sqlite3; c = sqlite3.connect('\(path)'); c.execute('PRAGMA user_version = 99'); c.commit()"]
        try sqlite.run()
        sqlite.waitUntilExit()
        #expect(sqlite.terminationStatus == 0)
        #expect(throws: StoreError.self) { _ = try SQLiteStore(path: path) }
    }
}
