import CSQLite
import Dispatch
import GreffeCore
import GreffeStore
import Synchronization

// Bloom filters of closed runs (`BloomFilter`): made off the writer once a run closes, kept in
// `run_filters` and in memory, dropped with the run (once merged onwards) and on an erasure in it.
extension SQLiteStore {
    /// Rows read per read transaction while scanning a run for its filter.
    static let filterScanRows = 65_536
    /// How long after an append that completed a chunk the filters are brought up to date.
    static let filterBuildDelay: DispatchTimeInterval = .milliseconds(200)

    static func loadRunFilters(_ db: SQLiteConnection) throws -> [String: [Int64: BloomFilter]] {
        var filters: [String: [Int64: BloomFilter]] = [:]
        let statement = try db.statement("SELECT index_table, run, hashes, bits FROM run_filters")
        while try statement.step() {
            let hashes = Int(statement.int64(2))
            guard hashes >= 1, hashes <= 32 else { throw StoreError(.inconsistent, "run_filters: a filter with \(hashes) hashes") }
            filters[statement.string(0), default: [:]][statement.int64(1)] = BloomFilter(bits: statement.blob(3), hashes: hashes)
        }
        return filters
    }

    /// The runs of `index` no row will enter again, among those lookups probe: the formed runs, and
    /// complete chunks (level-0 runs) — not the run being formed (`plan.next`), which still receives rows.
    static func closedRuns(_ db: SQLiteConnection, _ index: RunIndex) throws -> (closed: [IndexRun], live: Set<Int64>) {
        let size = try treeSize(db)
        guard size > 0 else { return ([], []) }
        let completed = size / chunkEntries
        let plan = try runPlan(db, index)
        let live = Array(plan.spans(lastChunk: (size - 1) / chunkEntries).joined())
        return (live.filter { $0 != plan.next && $0.endChunk <= completed }, Set(live.map(\.key)))
    }

    /// Closed runs whose filter is in memory.
    public var runFiltersInMemory: Int { runFilters.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// The filters to use for a lookup of `key` in `index` (none for keys that stay in their chunks).
    func lookupFilters(_ index: RunIndex, key: String) -> [Int64: BloomFilter] {
        guard index.filtered, index.merges(key: key) else { return [:] }
        return runFilters.withLock { $0[index.table] ?? [:] }
    }

    /// Brings the filters up to date on the filter queue, soon (a store that merges when idle).
    func scheduleFilterBuilds() {
        guard keepsRunFilters, !filterBuildScheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        filterQueue.asyncAfter(deadline: .now() + Self.filterBuildDelay) { [self] in
            filterBuildScheduled.store(false, ordering: .releasing)
            // A failure (a full disk, a closing store) leaves lookups probing those runs; the next chunk tries again.
            _ = try? buildRunFiltersNow()
        }
    }

    /// Makes the filters of every closed run that has none, and drops those of runs merged onwards;
    /// returns how many it made. Waits for background builds (one builder at a time).
    public func buildRunFilters() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            filterQueue.async { continuation.resume(with: Result { try self.buildRunFiltersNow() }) }
        }
    }

    /// On the filter queue: reads on a reader connection, stores each filter in a short write.
    func buildRunFiltersNow() throws -> Int {
        dispatchPrecondition(condition: .onQueue(filterQueue))
        guard keepsRunFilters else { return 0 }
        var built = 0
        for index in RunIndex.all where index.filtered {
            var refused: Set<Int64> = []
            while true {
                // Read before the scan's snapshots: an erasure after it makes the scan's filter unusable.
                let generation = erasureGeneration.load(ordering: .acquiring)
                let (closed, live) = try snapshot { db in try Self.closedRuns(db, index) }
                let have = runFilters.withLock { $0[index.table] ?? [:] }
                let dead = have.keys.filter { !live.contains($0) }
                guard let run = closed.first(where: { have[$0.key] == nil && !refused.contains($0.key) }) else {
                    if !dead.isEmpty { try storeFilter(index, run: nil, filter: nil, dropping: dead, generation: nil) }
                    break
                }
                let filter = try scanFilter(index, run: run)
                if try storeFilter(index, run: run, filter: filter, dropping: dead, generation: generation) {
                    built += 1
                } else {
                    // An erasure came during the scan: scan again (at most once per run in this pass).
                    refused.insert(run.key)
                }
            }
        }
        return built
    }

    /// The filter of a closed run, from its rows read in key order a slice per read transaction.
    /// Rows only leave a closed run, so every row it holds at any later time is seen.
    func scanFilter(_ index: RunIndex, run: IndexRun) throws -> BloomFilter {
        let (table, key) = (index.table, index.keyColumn)
        let rows = try read { db -> Int in
            let count = try db.statement("SELECT COUNT(*) FROM \(table) WHERE run = ?")
            count.bind(1, run.key)
            _ = try count.step()
            return Int(count.int64(0))
        }
        return try BloomFilter.build(keys: rows) { add in
            var after: (key: [UInt8], idx: Int64)?
            while true {
                let slice = try read { db -> [(key: [UInt8], idx: Int64)] in
                    let statement = try db.statement(
                        after == nil
                            ? "SELECT \(key), idx FROM \(table) WHERE run = ?1 ORDER BY \(key), idx LIMIT ?2"
                            : "SELECT \(key), idx FROM \(table) WHERE run = ?1 AND (\(key), idx) > (?3, ?4) ORDER BY \(key), idx LIMIT ?2")
                    statement.bind(1, run.key)
                    statement.bind(2, Int64(Self.filterScanRows))
                    if let after {
                        if index.keyIsBlob { statement.bind(3, after.key) } else { statement.bind(3, String(decoding: after.key, as: UTF8.self)) }
                        statement.bind(4, after.idx)
                    }
                    var rows: [(key: [UInt8], idx: Int64)] = []
                    while try statement.step() {
                        // Text keys as their UTF-8 bytes, as a lookup hashes its key.
                        let bytes = sqlite3_column_blob(statement.raw, 0)
                        let length = Int(sqlite3_column_bytes(statement.raw, 0))
                        let keyBytes = bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
                        rows.append((keyBytes, statement.int64(1)))
                    }
                    return rows
                }
                for row in slice { row.key.withUnsafeBytes { add($0) } }
                guard slice.count == Self.filterScanRows, let last = slice.last else { return }
                after = last
            }
        }
    }

    /// Stores `run`'s filter (unless an erasure came since `generation`) and drops the filters of
    /// `dropping`, in one write; installs the change in memory under the writer's lock, so that an
    /// erasure (which drops filters there too) is ordered with it. Whether the filter was stored.
    @discardableResult
    func storeFilter(_ index: RunIndex, run: IndexRun?, filter: BloomFilter?, dropping: [Int64], generation: Int?) throws -> Bool {
        try writerQueue.sync {
            try writer.withLock { db -> Bool in
                defer {
                    db.releaseStatements()
                    checkpointer.walGrew()
                    checkpointer.restartIfDue(writer: db)
                }
                return try db.transaction {
                    // Not if an erasure came since the scan began, nor if the run was merged onwards meanwhile
                    // (a filter is only ever stored for a closed run that lookups probe).
                    var store = false
                    if let run, generation == erasureGeneration.load(ordering: .acquiring) {
                        store = try Self.closedRuns(db, index).closed.contains(run)
                    }
                    let drop = try db.statement("DELETE FROM run_filters WHERE index_table = ? AND run = ?")
                    for key in dropping {
                        drop.reset()
                        drop.bind(1, index.table)
                        drop.bind(2, key)
                        try drop.run()
                    }
                    if store, let run, let filter {
                        let insert = try db.statement(
                            "INSERT INTO run_filters (index_table, run, hashes, bits) VALUES (?, ?, ?, ?) ON CONFLICT (index_table, run) DO UPDATE SET hashes = excluded.hashes, bits = excluded.bits")
                        insert.bind(1, index.table)
                        insert.bind(2, run.key)
                        insert.bind(3, Int64(filter.hashes))
                        insert.bind(4, filter.bits)
                        try insert.run()
                    }
                    runFilters.withLock { filters in
                        for key in dropping { filters[index.table]?[key] = nil }
                        if store, let run, let filter { filters[index.table, default: [:]][run.key] = filter }
                    }
                    return store
                }
            }
        }
    }

    /// Deletes the stored filters of `runs` (in the caller's transaction).
    static func deleteFilters(_ db: SQLiteConnection, _ index: RunIndex, runs: [IndexRun]) throws {
        let delete = try db.statement("DELETE FROM run_filters WHERE index_table = ? AND run = ?")
        for run in runs {
            delete.reset()
            delete.bind(1, index.table)
            delete.bind(2, run.key)
            try delete.run()
        }
    }

    /// In an erasure's transaction: deletes the stored filters of the runs that may hold `index`'s rows
    /// (they may hold its terms); the caller forgets them in memory (`forgetFilters`).
    static func deleteFilters(_ db: SQLiteConnection, index: UInt64) throws -> [(table: String, run: Int64)] {
        var dropped: [(table: String, run: Int64)] = []
        let chunk = index / chunkEntries
        let delete = try db.statement("DELETE FROM run_filters WHERE index_table = ? AND run = ?")
        for runIndex in RunIndex.all where runIndex.filtered {
            for run in Set(try runPlan(db, runIndex).runs(holding: chunk) + [IndexRun.chunk(chunk)]) {
                delete.reset()
                delete.bind(1, runIndex.table)
                delete.bind(2, run.key)
                try delete.run()
                dropped.append((runIndex.table, run.key))
            }
        }
        return dropped
    }

    /// Before an erasure's transaction, under the writer's lock: a filter being made now is not stored,
    /// and lookups stop using the filters of the runs that may hold the erased events' terms.
    func forgetFilters(_ db: SQLiteConnection, indices: [UInt64]) throws {
        erasureGeneration.add(1, ordering: .acquiringAndReleasing)
        var runs: [(table: String, run: Int64)] = []
        for runIndex in RunIndex.all where runIndex.filtered {
            let plan = try Self.runPlan(db, runIndex)
            for chunk in Set(indices.map { $0 / Self.chunkEntries }) {
                for run in plan.runs(holding: chunk) + [IndexRun.chunk(chunk)] { runs.append((runIndex.table, run.key)) }
            }
        }
        runFilters.withLock { filters in
            for (table, run) in runs { filters[table]?[run] = nil }
        }
    }

    /// Checks that each stored filter is of a closed run lookups probe and holds every key of it: a filter
    /// that did not would make lookups skip its run and silently miss events.
    static func checkRunFilters(_ db: SQLiteConnection, path: String) throws {
        let filters = try loadRunFilters(db)
        db.releaseStatements()
        for (table, runs) in filters {
            guard let index = RunIndex.all.first(where: { $0.table == table && $0.filtered }) else {
                throw StoreError(.inconsistent, "\(path): run_filters has filters of \(table), which has none")
            }
            let closed = Set(try closedRuns(db, index).closed.map(\.key))
            let keys = try db.statement("SELECT \(index.keyColumn) FROM \(table) WHERE run = ?")
            defer { db.releaseStatements() }
            for (run, filter) in runs {
                guard closed.contains(run) else {
                    throw StoreError(.inconsistent, "\(path): run_filters has a filter of \(table) run \(run), which is not a closed run lookups probe")
                }
                keys.reset()
                keys.bind(1, run)
                while try keys.step() {
                    let length = Int(sqlite3_column_bytes(keys.raw, 0))
                    let present = filter.mayContain(UnsafeRawBufferPointer(start: sqlite3_column_blob(keys.raw, 0), count: length))
                    guard present else {
                        throw StoreError(.inconsistent, "\(path): the filter of \(table) run \(run) rules out a key the run holds, so lookups would miss it")
                    }
                }
            }
        }
    }
}
