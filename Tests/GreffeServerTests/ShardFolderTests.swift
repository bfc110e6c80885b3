import Foundation
import GreffeCore
import GreffeDataDirectory
import GreffeLedger
import GreffeSQLite
import GreffeStore
import GreffeTestStores
import Logging
import Testing

/// Shard folders in a data directory (`shards/<k>/greffe.sqlite`) across a rollover cut short by a crash:
/// every state a kill can leave opens, and a shard whose database is gone is a loss start-up refuses.
@Suite("Shard folders after a crash")
struct ShardFolderTests {
    static let keys = LogKeys(signer: try! NoteSigner(generatingFor: "shard-folders.test/log"))

    static func submission(_ id: String) -> EventSubmission {
        let body = JSONValue.object(["event_id": .string(id), "kind": "generation.requested", "account": "acct-1"])
        return try! EventSubmission(eventID: id, platform: "example-ai", kind: "generation.requested", canonicalBody: body.canonicalBytes())
    }

    static func open(_ directory: DataDirectory) async throws -> ShardedLedger {
        try await whileLocked {
            try await ShardedLedger.open(
                storage: SQLiteShardStorage(directory: directory), keys: keys, policy: .init(), logger: Logger(label: "test")
            ) { store, keys in
                try await Ledger.open(store: store, keys: keys, checkpointInterval: .milliseconds(5))
            }
        }
    }

    /// A data directory with shards 0 and 1, one event in each, closed again.
    static func twoShards() async throws -> DataDirectory {
        let directory = DataDirectory(path: FileManager.default.temporaryDirectory.appendingPathComponent("greffe-folders-\(UUID().uuidString)").path)
        try FileManager.default.createDirectory(at: directory.url, withIntermediateDirectories: true)
        _ = try SQLiteStore(path: directory.databasePath)
        let shards = try await open(directory)
        let running = Task { await shards.run() }
        _ = try await shards.append([submission("a")])
        try await shards.rollover(reason: .size)
        _ = try await shards.append([submission("b")])
        shards.shutdown()
        await running.value
        return directory
    }

    func entries(_ url: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
    }

    @Test("a rollover leaves only shards/<k> with its database, never its unfinished folder")
    func rolloverLeavesNoUnfinishedFolder() async throws {
        let directory = try await Self.twoShards()
        defer { try? FileManager.default.removeItem(at: directory.url) }
        let shardsFolder = directory.url.appendingPathComponent("shards")
        #expect(try entries(shardsFolder) == ["1"])
        #expect(try entries(shardsFolder.appendingPathComponent("1")).contains("greffe.sqlite"))
    }

    /// A folder with an empty `greffe.sqlite` in it: what a kill mid-rollover leaves, before or after the rename.
    static func leaveEmptyDatabase(in folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        FileManager.default.createFile(atPath: folder.appendingPathComponent("greffe.sqlite").path, contents: Data())
    }

    /// Opens the shard set in `directory`, runs it through `body`, and stops it.
    static func whileRunning(_ directory: DataDirectory, _ body: (ShardedLedger) async throws -> Void) async throws {
        let shards = try await open(directory)
        let running = Task { await shards.run() }
        let outcome: Result<Void, any Error>
        do { outcome = .success(try await body(shards)) } catch { outcome = .failure(error) }
        shards.shutdown()
        await running.value
        try outcome.get()
    }

    @Test("killed before the rename: the unfinished folder is ignored, and the next rollover makes that shard")
    func killedBeforeRename() async throws {
        let directory = try await Self.twoShards()
        defer { try? FileManager.default.removeItem(at: directory.url) }
        try Self.leaveEmptyDatabase(in: directory.url.appendingPathComponent("shards/.new-2"))
        try await Self.whileRunning(directory) { shards in
            #expect(shards.shards.map(\.number) == [0, 1])
            try await shards.rollover(reason: .size)
            #expect(try await shards.append([Self.submission("c")]).map(\.shard) == [2])
            #expect(try entries(directory.url.appendingPathComponent("shards")) == ["1", "2"])
        }
    }

    @Test("killed after the rename, before the schema: the empty database is removed as a rollover cut short")
    func killedAfterRename() async throws {
        let directory = try await Self.twoShards()
        defer { try? FileManager.default.removeItem(at: directory.url) }
        let folder = directory.url.appendingPathComponent("shards/2")
        try Self.leaveEmptyDatabase(in: folder)
        try await Self.whileRunning(directory) { shards in
            #expect(shards.shards.map(\.number) == [0, 1])
            #expect(!FileManager.default.fileExists(atPath: folder.path))
            // Shard 1 is active again: its sealed checkpoint is a past size, and appends go on in it.
            let receipts = try await shards.append([Self.submission("c")])
            #expect(receipts.map(\.shard) == [1])
        }
    }

    @Test("a shard folder whose database is gone is a loss: start-up refuses it rather than dropping the shard")
    func missingDatabaseIsRefused() async throws {
        let directory = try await Self.twoShards()
        defer { try? FileManager.default.removeItem(at: directory.url) }
        let folder = directory.url.appendingPathComponent("shards/1")
        for name in try entries(folder) { try FileManager.default.removeItem(at: folder.appendingPathComponent(name)) }

        await #expect {
            _ = try await Self.open(directory)
        } throws: { error in
            "\(error)".contains("shard 1's database") && "\(error)".contains("is missing")
        }
        #expect(FileManager.default.fileExists(atPath: folder.path), "the folder stays for the operator to look at")
    }

    @Test("a rollover refuses to reuse an existing shard folder, even an empty one")
    func existingFolderIsNeverReused() async throws {
        let directory = try await Self.twoShards()
        defer { try? FileManager.default.removeItem(at: directory.url) }
        let storage = SQLiteShardStorage(directory: directory)
        await #expect(throws: (any Error).self) { _ = try await storage.createStore(shard: 1) }
        try FileManager.default.createDirectory(at: directory.url.appendingPathComponent("shards/2"), withIntermediateDirectories: false)
        await #expect(throws: (any Error).self) { _ = try await storage.createStore(shard: 2) }
        #expect(try entries(directory.url.appendingPathComponent("shards/2")).isEmpty, "nothing written into it")
    }

    @Test("a sealed shard's store keeps no run filters in memory (its shard filter does their job), the active one does, and both find every event by content hash")
    func sealedShardStoresKeepNoRunFilters() async throws {
        let directory = DataDirectory(path: FileManager.default.temporaryDirectory.appendingPathComponent("greffe-folders-\(UUID().uuidString)").path)
        try FileManager.default.createDirectory(at: directory.url, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory.url) }
        _ = try SQLiteStore(path: directory.databasePath)
        let image = "sha256:" + String(repeating: "ab", count: 32)
        func event(_ n: Int) throws -> EventSubmission {
            let body = JSONValue.object(["event_id": .string("s\(n)"), "kind": "edit.requested"])
            return try EventSubmission(
                eventID: "s\(n)", platform: "example-ai", kind: "edit.requested", canonicalBody: body.canonicalBytes(),
                terms: EventSearchTerms(contentHashes: n % 1_000 == 7 ? [image] : ["sha256:own-\(n)"]))
        }
        // Shard 0 gets two complete chunks of 4,096 entries: closed runs, which an active store filters.
        let shards = try await Self.open(directory)
        let running = Task { await shards.run() }
        for start in stride(from: 0, to: 8_400, by: 700) { _ = try await shards.append(try (start..<start + 700).map(event)) }
        try await shards.rollover(reason: .size)
        _ = try await shards.append([Self.submission("after")])
        shards.shutdown()
        await running.value

        let expected = (0..<8_400).filter { $0 % 1_000 == 7 }.count
        let storage = SQLiteShardStorage(directory: directory)
        try await whileLocked {
            let sealed = try #require(try await storage.openStore(shard: 0) as? SQLiteStore)
            let active = try #require(try await storage.openStore(shard: 1) as? SQLiteStore)
            #expect(!sealed.keepsRunFilters && active.keepsRunFilters)
            #expect(try await sealed.buildRunFilters() == 0, "a sealed store makes no run filter")
            #expect(sealed.runFiltersInMemory == 0)
            #expect(try await sealed.searchEvents(EventQuery(contentHash: image, limit: 100)).count == expected)
            #expect(try await sealed.searchEvents(EventQuery(contentHash: "sha256:own-4100", limit: 100)).count == 1)
        }
        // The same file as the store of the last shard (the data directory's own, opened directly) has closed runs to filter.
        try await whileLocked {
            let asActive = try SQLiteStore(path: directory.databasePath)
            _ = try await asActive.buildRunFilters()
            #expect(asActive.runFiltersInMemory >= 2, "\(asActive.runFiltersInMemory) run filters in memory")
            #expect(try await asActive.searchEvents(EventQuery(contentHash: image, limit: 100)).count == expected)
        }
    }

    @Test("a sealed shard's event-ID filter is saved beside its database and used at the next start; a damaged or foreign file is not")
    func savedEventIDFilters() async throws {
        let directory = try await Self.twoShards()
        defer { try? FileManager.default.removeItem(at: directory.url) }
        let file = directory.url.appendingPathComponent("event-ids.filter").path  // shard 0's
        /// Opens the set, has its sealed filters made or loaded, appends `count` new IDs and answers how many
        /// of them the sealed shard was asked for.
        func lookupsForNewIDs(_ tag: String, count: Int = 40) async throws -> Int {
            var asked = -1
            try await Self.whileRunning(directory) { shards in
                _ = await shards.buildSealedFilters()
                #expect(shards.filteredShards == [0])
                let before = shards.sealedShardLookups
                _ = try await shards.append((0..<count).map { Self.submission("\(tag)-\($0)") })
                asked = shards.sealedShardLookups - before
            }
            return asked
        }
        #expect(try await lookupsForNewIDs("first") < 5)
        // Shard 0's sealed tree, read from a store closed again before the next open.
        let (size, root) = try await whileLocked { () async throws -> (UInt64, Hash) in
            let sealedZero = try SQLiteStore(path: directory.databasePath)
            return (try await sealedZero.treeSize(), try #require(try await sealedZero.latestCheckpoint()).root)
        }
        let saved = try #require(FileManager.default.contents(atPath: file).map { Array($0) })
        #expect(SealedIDFilterFile.decode(saved, treeSize: size, root: root) != nil, "the file holds shard 0's filter")

        // A valid file whose filter rules nothing out: used as it is, so every new ID is asked (a rebuilt one asks ~none).
        let everything = BloomFilter(bits: [UInt8](repeating: 0xff, count: 64), hashes: BloomFilter.hashCount)
        try Data(SealedIDFilterFile.encode(everything, treeSize: size, root: root)).write(to: URL(fileURLWithPath: file))
        #expect(try await lookupsForNewIDs("second") == 40)

        // Damaged (one bit), or made for another tree (size, root): not used; made again from the store, and saved.
        // (The damaged one would be used, and ask for every ID, if its checksum were not checked.)
        var damaged = SealedIDFilterFile.encode(everything, treeSize: size, root: root)
        damaged[damaged.count - 40] ^= 1  // a bit of the filter, before the 32-byte checksum
        // Layout 1 held the event IDs alone: used now, it would rule out content hashes the shard holds.
        var layoutOne = SealedIDFilterFile.encode(everything, treeSize: size, root: root)
        layoutOne.replaceSubrange(0..<16, with: Array("greffe-idfilter1".utf8))
        layoutOne.replaceSubrange((layoutOne.count - 32)..., with: MerkleHash.sha256(Array(layoutOne.dropLast(32))).bytes)
        let foreign = [
            damaged, SealedIDFilterFile.encode(everything, treeSize: size + 1, root: root),
            SealedIDFilterFile.encode(everything, treeSize: size, root: MerkleHash.emptyRoot), layoutOne,
        ]
        for (position, bytes) in foreign.enumerated() {
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            #expect(try await lookupsForNewIDs("third-\(position)") < 5)
            let rewritten = try #require(FileManager.default.contents(atPath: file).map { Array($0) })
            #expect(SealedIDFilterFile.decode(rewritten, treeSize: size, root: root) != nil)
        }
    }
}

