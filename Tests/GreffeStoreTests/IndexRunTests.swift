import Foundation
import GreffeCore
import Testing

@testable import GreffeSQLite
@testable import GreffeStore

@Suite("Index runs: the plan")
struct IndexRunPlanTests {
    /// Runs the plan as the writer does (every due merge formed at once) up to `chunks` complete chunks,
    /// checking after each step that the spans cover every chunk once and lookups stay logarithmic.
    @Test("the spans cover each chunk exactly once, in order, and stay within 15 runs a level as merges catch up")
    func spansPartitionTheChunks() {
        var plan = IndexRunPlan.initial
        var formedOrder: [IndexRun] = []
        for completed in UInt64(1)...5_000 {
            while plan.isDue(completedChunks: completed) {
                formedOrder.append(plan.next)
                plan.advance()
            }
            // The chunk being written is `completed` (partly filled).
            let spans = plan.spans(lastChunk: completed)
            var chunk: UInt64 = 0
            for span in spans {
                let outer = span[0]
                #expect(outer.firstChunk == chunk, "span \(span) starts at chunk \(chunk)")
                // The runs of a merge in progress lie inside its target.
                for inner in span.dropFirst() { #expect(outer.level == inner.level + 1 && outer.covers(chunk: inner.firstChunk)) }
                chunk = min(outer.endChunk, completed + 1)
            }
            #expect(chunk == completed + 1, "spans end at \(chunk), not after chunk \(completed)")
            // 15 formed runs per level at most, plus the merge in progress (target and 16 sources).
            #expect(spans.joined().count <= 15 * IndexRun.maximumLevel + 17, "\(spans.joined().count) runs at \(completed) chunks")
            for probe in [0, completed / 2, completed] {
                let holding = plan.runs(holding: probe)
                #expect(!holding.isEmpty && holding.allSatisfy { $0.covers(chunk: probe) })
                #expect(Set(holding) == Set(spans.joined().filter { $0.covers(chunk: probe) }))
            }
        }
        // Merges form runs in order of their last chunk, each from 16 runs formed before it.
        var formed = Set((0..<5_000).map { IndexRun.chunk(UInt64($0)) })
        for run in formedOrder {
            #expect(run.sources.allSatisfy(formed.contains), "\(run) formed before its sources")
            formed.insert(run)
        }
        #expect(formedOrder.contains(IndexRun(level: 3, firstChunk: 0)))
        #expect(formedOrder.count == 5_000 / 16 + 5_000 / 256 + 1)
    }

    @Test("a run's key names its level and first chunk; a chunk's key is its number; other keys name no run")
    func keys() {
        #expect(IndexRun.chunk(77).key == 77)
        let run = IndexRun(level: 2, firstChunk: 512)
        #expect(IndexRun(key: run.key) == run)
        #expect(IndexRun(key: IndexRun.chunk(77).key) == IndexRun.chunk(77))
        #expect(IndexRun(key: -1) == nil)
        #expect(IndexRun(key: Int64(2) << 40 | 100) == nil, "misaligned for its level")
        #expect(IndexRun(key: Int64(IndexRun.maximumLevel + 1) << 40) == nil)
        #expect(IndexRunPlan(stored: "2/256") == IndexRunPlan(next: IndexRun(level: 2, firstChunk: 256)))
        for garbage in ["", "2/100", "0/5", "9/0", "1/-16", "1/16/2", "x/16", "1 /16"] {
            #expect(IndexRunPlan(stored: garbage) == nil, "\(garbage)")
        }
    }
}

@Suite("Index runs: the SQLite store")
struct IndexRunStoreTests {
    static let entries = 2 * 65_536 + 4_500

    static let accounts: [String?] = (0..<entries).map { $0 % 13 == 0 ? nil : "acct-\($0 % 89)" }
    static let terms: [[String]] = (0..<entries).map { n in
        ["sha256:\(String(n % 1_009, radix: 16))"] + (n % 5 == 0 ? ["pdq:\(String(n % 7, radix: 16))"] : [])
    }
    static func account(_ n: Int) -> String? { accounts[n] }
    static func terms(_ n: Int) -> [String] { terms[n] }

    /// Every search the store answers by run, checked against what was appended.
    func checkSearches(_ store: SQLiteStore, size: Int, leaves: [Hash], erased: Set<Int>, sample: Int) async throws {
        func expected(_ keep: (Int) -> Bool) -> [UInt64] { (0..<size).filter { !erased.contains($0) && keep($0) }.map(UInt64.init) }
        let who = "acct-\(sample % 89)"
        #expect(try await store.searchEvents(EventQuery(account: who, limit: 1_000_000)) == expected { Self.account($0) == who }, "\(who) at \(size)")
        // Pages of 97 across run boundaries and the merge in progress.
        let paged = try await searchInPages(store, of: 97) { EventQuery(account: who, afterIndex: $0, limit: $1) }
        #expect(paged == expected { Self.account($0) == who }, "\(who) paged at \(size)")
        let image = "sha256:\(String(sample % 1_009, radix: 16))"
        let range = UInt64(size / 3)..<UInt64(size / 3 + 70_000)
        #expect(
            try await store.searchEvents(EventQuery(indexRange: range, contentHash: image, limit: 1_000_000))
                == expected { range.contains(UInt64($0)) && Self.terms($0).contains(image) }, "\(image) at \(size)")
        #expect(try await store.searchEvents(EventQuery(contentHash: image, limit: 5)) == Array(expected { Self.terms($0).contains(image) }.prefix(5)))
        #expect(try await store.searchEvents(EventQuery(contentHash: "pdq:3", limit: 1_000_000)) == expected { Self.terms($0).contains("pdq:3") })
        for index in [0, sample, size / 2, size - 1] where index < size {
            #expect(try await store.leafIndex(of: leaves[index]) == UInt64(index), "leaf \(index) at \(size)")
        }
        #expect(try await store.leafIndex(of: MerkleHash.sha256(Array("no such leaf".utf8))) == nil)
        let pdq = try await store.contentTerms(prefix: "pdq:", fromIndex: UInt64(size / 2), limit: 10)
        #expect(Array(pdq.map(\.index).prefix(10)) == Array(expected { $0 >= size / 2 && $0 % 5 == 0 }.prefix(10)))
    }

    /// Every filter the store uses, in memory and stored, is of a closed run and answers yes for every row of it.
    func checkFilters(_ store: SQLiteStore) throws {
        let db = try SQLiteConnection(path: store.path)
        defer { db.releaseStatements() }
        let inMemory = store.runFilters.withLock { $0[RunIndex.contentTerms.table] ?? [:] }
        let stored = try SQLiteStore.loadRunFilters(db)[RunIndex.contentTerms.table] ?? [:]
        let closed = try SQLiteStore.closedRuns(db, .contentTerms).closed.map(\.key)
        // (Memory may still hold filters of runs merged onwards, which lookups no longer probe.)
        #expect(Set(inMemory.keys.filter(closed.contains)).isSubset(of: Set(stored.keys)), "a filter used in memory is not stored")
        for (run, filter) in stored {
            #expect(closed.contains(run), "a filter of run \(run), which is not closed (or no longer probed)")
            #expect(inMemory[run] == nil || inMemory[run]!.bits == filter.bits)
            let rows = try db.statement("SELECT term FROM content_terms WHERE run = ?")
            rows.bind(1, run)
            var missed = 0
            while try rows.step() {
                if !filter.mayContain(rows.string(0)) { missed += 1 }
            }
            rows.reset()
            #expect(missed == 0, "the filter of run \(run) misses \(missed) of its rows")
        }
    }

    @Test("Bloom filters of closed runs: a content hash in a merged run, a complete chunk, a chunk being merged and the chunk being written is found; filters follow merges, erasures and a reopening")
    func runFiltersNeverMiss() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-filters-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("greffe.sqlite").path
        let store = try SQLiteStore(path: path, readerCount: 2, walRestartFrames: 16_384, indexMerging: .inEveryAppend)
        var builder = BatchBuilder()
        // Every event its own image, and one image shared by events in different runs.
        let shared: Set<Int> = [5, 16 * 4_096 + 3, 17 * 4_096 + 9, 20 * 4_096 + 1, 31 * 4_096 + 7, 33 * 4_096 + 2]
        func terms(_ n: Int) -> [String] { ["sha256:own-\(n)"] + (shared.contains(n) ? ["sha256:shared"] : []) }
        func append(upTo end: Int) async throws {
            let first = builder.entries.count
            for start in stride(from: first, to: end, by: 4_000) {
                try await store.append(
                    builder.batch((start..<min(start + 4_000, end)).map { (id: "f\($0)", kind: "test.event", terms: EventSearchTerms(contentHashes: terms($0))) }))
            }
        }
        func sharedUpTo(_ size: Int, without erased: Set<Int> = []) -> [UInt64] { shared.filter { $0 < size && !erased.contains($0) }.sorted().map(UInt64.init) }
        func filteredRuns() throws -> Set<Int64> { Set(store.runFilters.withLock { $0[RunIndex.contentTerms.table] ?? [:] }.keys) }

        // L1@0 formed, chunks 16 and 17 complete, chunk 18 being written.
        try await append(upTo: 18 * 4_096 + 100)
        #expect(try await store.buildRunFilters() == 3)
        #expect(try filteredRuns() == [IndexRun(level: 1, firstChunk: 0).key, 16, 17], "no filter for the chunk still written")
        try checkFilters(store)
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:shared")) == sharedUpTo(18 * 4_096 + 100))
        for n in [0, 5, 4_095, 40_000, 65_535, 65_536, 16 * 4_096 + 3, 17 * 4_096 + 4_095, 18 * 4_096, 18 * 4_096 + 99] {
            #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:own-\(n)")) == [UInt64(n)], "event \(n)")
        }
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:own-\(18 * 4_096 + 100)")) == [])
        // The filters rule out most keys a run does not hold (they are used at all).
        let merged = try #require(store.runFilters.withLock { $0[RunIndex.contentTerms.table]?[IndexRun(level: 1, firstChunk: 0).key] })
        let falsePositives = (0..<1_000).filter { merged.mayContain("sha256:own-\(100_000 + $0)") }.count
        #expect(falsePositives < 50, "\(falsePositives) of 1,000 absent keys pass")

        // Chunks 16 … 31 complete: the merge into L1@16 moves rows out of the filtered chunks 16 and 17.
        // A filter made now (chunks 18 … 31) is for runs being drained; searches stay whole throughout.
        try await append(upTo: 32 * 4_096 + 50)
        try checkFilters(store)
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:shared")) == sharedUpTo(32 * 4_096 + 50))
        // What a sealed shard's filter is made from: every term once or more, merged runs, the merge in progress
        // and the chunk being written alike; in one snapshot, and by the pages every other store reads.
        let allTerms = Set((0..<(32 * 4_096 + 50)).flatMap(terms))
        var walked: [String] = []
        try await store.forEachContentTerm(prefix: "sha256:") { walked.append($0) }
        let sharedRows = shared.filter { $0 < 32 * 4_096 + 50 }.count
        #expect(Set(walked) == allTerms && walked.count == allTerms.count + sharedRows - 1, "\(walked.count) terms walked: each row once")
        // Pages of 1,000 end within events' terms (the shared ones have two): none is skipped.
        var paged = Set<String>()
        try await store.forEachContentTermInPages(prefix: "sha256:", page: 1_000) { paged.insert($0) }
        #expect(paged == allTerms)
        var none = 0
        try await store.forEachContentTerm(prefix: "pdq:") { _ in none += 1 }
        #expect(none == 0)
        _ = try await store.buildRunFilters()
        try checkFilters(store)
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:shared")) == sharedUpTo(32 * 4_096 + 50))
        try await append(upTo: 34 * 4_096 + 10)
        // Forming L1@16 deleted its chunks' stored filters at once (a backup taken now is accepted).
        try checkFilters(store)
        _ = try await store.buildRunFilters()
        try checkFilters(store)
        // L1@16 formed: the filters of its chunks went with them; every closed run has one.
        #expect(
            try filteredRuns() == [IndexRun(level: 1, firstChunk: 0).key, IndexRun(level: 1, firstChunk: 16).key, 32, 33],
            "the merged chunks' filters went with them")
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:shared")) == sharedUpTo(34 * 4_096 + 10))
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:shared", limit: 3)) == Array(sharedUpTo(34 * 4_096 + 10).prefix(3)))
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:own-\(20 * 4_096 + 1)")) == [UInt64(20 * 4_096 + 1)])

        // An erasure drops the stored and in-memory filters of the runs that held the event's terms at once;
        // the filter made again holds only what is left.
        try await store.eraseEvent(index: 5, record: ErasureRecord(erasedAtMilliseconds: 1, legalReference: "order", erasureEntryIndex: 0))
        #expect(try !filteredRuns().contains(IndexRun(level: 1, firstChunk: 0).key))
        #expect(try SQLiteStore.loadRunFilters(SQLiteConnection(path: path))[RunIndex.contentTerms.table]?[IndexRun(level: 1, firstChunk: 0).key] == nil)
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:shared")) == sharedUpTo(34 * 4_096 + 10, without: [5]))
        #expect(try await store.buildRunFilters() == 1)
        try checkFilters(store)
        let rebuilt = try #require(store.runFilters.withLock { $0[RunIndex.contentTerms.table]?[IndexRun(level: 1, firstChunk: 0).key] })
        #expect(!rebuilt.mayContain("sha256:own-5"), "the erased term is gone from the filter")
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:own-5")) == [])

        // A filter scanned before an erasure is not stored (it could hold the erased terms).
        let run = IndexRun(level: 1, firstChunk: 16)
        let generation = store.erasureGeneration.load(ordering: .acquiring)
        let scanned = try store.scanFilter(.contentTerms, run: run)
        try await store.eraseEvent(index: 16 * 4_096 + 3, record: ErasureRecord(erasedAtMilliseconds: 1, legalReference: "order 2", erasureEntryIndex: 0))
        #expect(try !store.storeFilter(.contentTerms, run: run, filter: scanned, dropping: [], generation: generation))
        #expect(try !filteredRuns().contains(run.key))
        _ = try await store.buildRunFilters()
        try checkFilters(store)

        // Reopened, the store uses the stored filters.
        let before = try filteredRuns()
        let reopened = try SQLiteStore(path: path, readerCount: 2, walRestartFrames: 16_384, indexMerging: .inEveryAppend)
        #expect(Set(reopened.runFilters.withLock { $0[RunIndex.contentTerms.table] ?? [:] }.keys) == before)
        #expect(try await reopened.searchEvents(EventQuery(contentHash: "sha256:shared")) == sharedUpTo(34 * 4_096 + 10, without: [5, 16 * 4_096 + 3]))
        #expect(try await reopened.buildRunFilters() == 0)
    }

    @Test("searches, leaf lookups and erasures give the same answers before, during and after merges of 16 chunks into runs")
    func mergesKeepEveryAnswer() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-runs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("greffe.sqlite").path
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path, readerCount: 4, walRestartFrames: 16_384, indexMerging: .inEveryAppend)
        var builder = BatchBuilder()
        var leaves: [Hash] = []
        var erased: Set<Int> = []
        var checks = 0
        for first in stride(from: 0, to: Self.entries, by: 1_500) {
            let batch = builder.batch(
                (first..<min(first + 1_500, Self.entries)).map { n in
                    (id: "r\(n)", kind: "test.event", terms: EventSearchTerms(account: Self.account(n), contentHashes: Self.terms(n)))
                })
            leaves += batch.events.map(\.leafHash)
            try await store.append(batch)
            let size = Int(batch.newTreeSize)
            // Erase events in chunks that are merged, being merged, and not yet merged.
            if size == 67_500 || size == 73_500 || size == 135_000 {
                for index in [size - 1_000, 70, 4_097 * 3] where !erased.contains(index) {
                    let stored = try await store.readEvent(index: UInt64(index))
                    #expect(stored?.erasure == nil)
                    try await store.eraseEvent(
                        index: UInt64(index), record: ErasureRecord(erasedAtMilliseconds: 1, legalReference: "order \(index)", erasureEntryIndex: 0))
                    erased.insert(index)
                }
            }
            if size % 9_000 == 0 || size == Self.entries || (66_000...76_000).contains(size) {
                // Half the checks with every closed run filtered, half with the filters as they were left.
                if size % 2 == 0 { _ = try await store.buildRunFilters() }
                try checkFilters(store)
                try await checkSearches(store, size: size, leaves: leaves, erased: erased, sample: size / 7)
                checks += 1
            }
        }
        #expect(checks > 15)
        // One level-1 run formed, the second being formed (the last batches did not finish it);
        // nothing of an erased event left in any run.
        let db = try SQLiteConnection(path: path)
        for index in RunIndex.all {
            let plan = try SQLiteStore.runPlan(db, index)
            #expect(plan.next == IndexRun(level: 1, firstChunk: 16), "\(index.table)")
            let runs = try db.statement("SELECT COUNT(DISTINCT run), SUM(run >= 1 << 40) FROM \(index.table)")
            _ = try runs.step()
            #expect(runs.int64(1) > 0, "\(index.table) has rows in merged runs")
            runs.reset()
        }
        let erasedList = erased.map(String.init).joined(separator: ", ")
        #expect(erased.count == 5)
        let leftovers = try db.statement(
            "SELECT (SELECT COUNT(*) FROM content_terms WHERE idx IN (\(erasedList))), (SELECT COUNT(*) FROM account_index WHERE idx IN (\(erasedList)))")
        _ = try leftovers.step()
        #expect(leftovers.int64(0) == 0 && leftovers.int64(1) == 0)
        leftovers.reset()
        // Each row in exactly one run: as many leaf rows as entries.
        let leafRows = try db.statement("SELECT COUNT(*), COUNT(DISTINCT idx) FROM leaf_hashes")
        _ = try leafRows.step()
        #expect(leafRows.int64(0) == Int64(Self.entries) && leafRows.int64(1) == Int64(Self.entries))
        leafRows.reset()

        // A backup check accepts the file, and refuses one whose leaf row sits in a run no lookup probes.
        let copy = directory.appendingPathComponent("copy.sqlite").path
        db.releaseStatements()
        try db.execute("VACUUM INTO '\(copy)'")
        #expect(try SQLiteStore.verifyDatabaseFile(at: copy).treeSize == UInt64(Self.entries))
        let tampered = try SQLiteConnection(path: copy)
        let merged = IndexRun(level: 1, firstChunk: 0).key
        // Each change in turn, refused or (putting a row back where it belongs) accepted again.
        let changes: [(sql: String, refused: Bool, what: String)] = [
            ("UPDATE leaf_hashes SET run = 0 WHERE idx = 5", true, "a leaf row moved back into its merged chunk"),
            ("UPDATE leaf_hashes SET run = \(IndexRun(level: 1, firstChunk: 16).key) WHERE idx = 5", true, "a leaf row in a run not holding its chunk"),
            ("UPDATE leaf_hashes SET run = \(merged) WHERE idx = 5", false, "the leaf row back"),
            ("UPDATE account_index SET run = 1 WHERE idx = 4100", true, "an account row left in a merged chunk"),
            ("UPDATE account_index SET run = \(merged) WHERE idx = 4100", false, "the account row back"),
            ("UPDATE account_index SET account = 'acct-1' WHERE idx = 4101", true, "an account row naming another account"),
            ("UPDATE account_index SET account = 'acct-7' WHERE idx = 4101", false, "the account back"),
            ("INSERT INTO account_index (run, account, idx) VALUES (\(merged), 'acct-1', 4103)", true, "an account row added"),
            ("DELETE FROM account_index WHERE idx = 4103 AND account = 'acct-1'", false, "the added row removed"),
            ("DELETE FROM account_index WHERE idx = 4104", true, "an account row removed"),
            ("INSERT INTO account_index (run, account, idx) VALUES (\(merged), 'acct-10', 4104)", false, "the account row restored"),
            ("UPDATE content_terms SET run = 1 WHERE idx = 4101", true, "a content-hash row put back in its merged chunk, where only pdq: terms stay"),
            ("UPDATE content_terms SET run = 40 WHERE idx = 4101", true, "a content-hash row in a run beyond the log"),
            ("UPDATE content_terms SET run = \(merged) WHERE idx = 4101", false, "the content-hash row back"),
            ("UPDATE run_filters SET bits = zeroblob(length(bits)) WHERE run = \(merged)", true, "a filter that rules out its run's keys"),
            ("DELETE FROM run_filters WHERE run = \(merged)", false, "the filter removed: its run is probed"),
            ("INSERT INTO run_filters VALUES ('content_terms', \(IndexRun(level: 1, firstChunk: 16).key), 7, x'ff')", true, "a filter of the run being formed"),
            ("DELETE FROM run_filters WHERE run = \(IndexRun(level: 1, firstChunk: 16).key)", false, "that filter removed"),
            ("UPDATE meta SET value = '2/0' WHERE key = 'runs.leaf_hashes'", true, "a plan that runs do not follow"),
            ("UPDATE meta SET value = 'garbage' WHERE key = 'runs.leaf_hashes'", true, "a plan that is no run"),
        ]
        #expect(Self.account(4101) == "acct-7" && Self.account(4104) == "acct-10" && Self.account(4103) == "acct-9")
        for change in changes {
            try tampered.execute(change.sql)
            if change.refused {
                #expect(throws: StoreError.self, "\(change.what)") { try SQLiteStore.verifyDatabaseFile(at: copy) }
            } else {
                #expect(try SQLiteStore.verifyDatabaseFile(at: copy).treeSize == UInt64(Self.entries), "\(change.what)")
            }
        }
    }

    @Test("a version 7 file keeps answering after the upgrade, its chunks are merged as appends arrive, and an erasure of an event stored before finds its rows in the merged run")
    func upgradeFromVersion7() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-runs7-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("greffe.sqlite").path
        var builder = BatchBuilder()
        let old = builder.batch((0..<5_000).map { "v7-\($0)" })
        do {
            // A version 7 file as the previous greffe wrote it: rows keyed by chunk, accounts in the events' index.
            let db = try SQLiteConnection(path: path)
            try db.transaction {
                for (_, step) in try SQLiteStore.migrations.pending(from: nil, database: "test").prefix(7) { try step(db, 0) }
                try db.execute("PRAGMA user_version = 7")
                let entry = try db.statement("INSERT INTO entries (idx, entry, leaf_hash) VALUES (?, ?, ?)")
                let leaf = try db.statement("INSERT INTO leaf_hashes (chunk, prefix, idx) VALUES (?, substr(?, 1, 8), ?)")
                let event = try db.statement(
                    "INSERT INTO events (idx, event_id, platform, kind, sequenced_at, account) VALUES (?, ?, 'v7.example', 'test.event', 0, ?)")
                for stored in old.events {
                    for statement in [entry, leaf, event] { statement.reset() }
                    entry.bind(1, stored.index)
                    entry.bind(2, stored.entry)
                    entry.bind(3, stored.leafHash)
                    try entry.run()
                    leaf.bind(1, stored.index >> 12)
                    leaf.bind(2, stored.leafHash)
                    leaf.bind(3, stored.index)
                    try leaf.run()
                    event.bind(1, stored.index)
                    event.bind(2, stored.eventID)
                    event.bind(3, "acct-\(stored.index % 3)")
                    try event.run()
                }
                try db.execute(
                    """
                    INSERT INTO content_terms (chunk, term, idx) VALUES (1, 'sha256:aa', 4097), (1, 'sha256:bb', 4097), (0, 'sha256:aa', 7);
                    UPDATE meta SET value = '5000' WHERE key = 'tree_size';
                    """)
            }
        }
        let store = try SQLiteStore(path: path, readerCount: 4, walRestartFrames: 16_384, indexMerging: .inEveryAppend)
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:aa")) == [7, 4_097])
        #expect(try await store.searchEvents(EventQuery(account: "acct-2", limit: 3)) == [2, 5, 8])
        #expect(try await store.leafIndex(of: old.events[4_097].leafHash) == 4_097)
        // 70,000 more entries: chunks 0 to 15, the old ones among them, are merged into one run.
        for first in stride(from: 5_000, to: 75_000, by: 5_000) {
            try await store.append(builder.batch((first..<first + 5_000).map { (id: "n\($0)", kind: "test.event", terms: EventSearchTerms(account: "acct-\($0 % 3)")) }))
        }
        let db = try SQLiteConnection(path: path)
        let rows = try db.statement("SELECT run FROM content_terms WHERE idx = 4097")
        var runs: Set<Int64> = []
        while try rows.step() { runs.insert(rows.int64(0)) }
        db.releaseStatements()
        #expect(runs == [IndexRun(level: 1, firstChunk: 0).key], "the old chunk's rows moved into the merged run")
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:bb")) == [4_097])
        #expect(try await store.searchEvents(EventQuery(account: "acct-2", afterIndex: 4_999, limit: 2)) == [5_000, 5_003])
        // Its terms were not kept (stored before schema 8): the erasure scans the runs that may hold them.
        try await store.eraseEvent(index: 4_097, record: ErasureRecord(erasedAtMilliseconds: 1, legalReference: "order", erasureEntryIndex: 0))
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:bb")) == [])
        #expect(try await store.searchEvents(EventQuery(contentHash: "sha256:aa")) == [7])
        let left = try db.statement("SELECT (SELECT COUNT(*) FROM content_terms WHERE idx = 4097), (SELECT COUNT(*) FROM account_index WHERE idx = 4097)")
        _ = try left.step()
        #expect(left.int64(0) == 0 && left.int64(1) == 0)
        db.releaseStatements()
    }

    @Test("by default the writer merges while idle: after a burst of appends, the runs form without another append")
    func mergesWhileIdle() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-idle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("greffe.sqlite").path
        let store = try SQLiteStore(path: path)
        var builder = BatchBuilder()
        // 17 chunks in back-to-back appends: the first 16 become due, below the backlog that makes appends merge.
        for first in stride(from: 0, to: 70_000, by: 10_000) {
            try await store.append(
                builder.batch((first..<first + 10_000).map { (id: "i\($0)", kind: "test.event", terms: EventSearchTerms(account: "acct-\($0 % 5)")) }))
        }
        let db = try SQLiteConnection(path: path)
        func formed() throws -> Bool {
            defer { db.releaseStatements() }
            return try RunIndex.all.allSatisfy { try SQLiteStore.runPlan(db, $0).next == IndexRun(level: 1, firstChunk: 16) }
        }
        var waited = 0
        while try !formed(), waited < 300 {
            try await Task.sleep(for: .milliseconds(50))
            waited += 1
        }
        #expect(try formed(), "the first run formed within 15 s of the last append")
        #expect(try await store.searchEvents(EventQuery(account: "acct-3", limit: 3)) == [3, 8, 13])
        #expect(try await store.leafIndex(of: MerkleHash.leaf(builder.entries[65_000])) == 65_000)
    }
}
