import CSQLite
import Dispatch
import GreffeStore

/// A lookup index kept as runs (`IndexRun`): a table `(run, <key>, idx)` whose primary key is
/// in that order.
struct RunIndex: Sendable {
    let table: String
    let keyColumn: String
    let keyIsBlob: Bool
    /// Key ranges `[lower, upper)` (nil: unbounded) the writer merges; keys outside them stay in
    /// their chunk. `pdq:` terms stay: the public lookup reads them all, in index order, into
    /// memory, and never looks one up by its key.
    let mergedRanges: [(lower: String?, upper: String?)]
    /// Whether closed runs get a Bloom filter (`BloomFilter`, `run_filters`), so that a lookup by a
    /// merged key skips the runs that cannot hold it. Content hashes: a lookup finds a handful of
    /// rows, so without filters it probes every run of a log-sized B-tree for nothing.
    var filtered = false

    static let leafHashes = RunIndex(table: "leaf_hashes", keyColumn: "prefix", keyIsBlob: true, mergedRanges: [(nil, nil)])
    static let accounts = RunIndex(table: "account_index", keyColumn: "account", keyIsBlob: false, mergedRanges: [(nil, nil)])
    static let contentTerms = RunIndex(
        table: "content_terms", keyColumn: "term", keyIsBlob: false, mergedRanges: [(nil, "pdq:"), ("pdq;", nil)], filtered: true)
    static let all = [leafHashes, accounts, contentTerms]

    var metaKey: String { "runs.\(table)" }

    /// Whether rows with this (text) key are merged out of their chunks.
    func merges(key: String) -> Bool {
        mergedRanges.contains { range in
            (range.lower.map { key >= $0 } ?? true) && (range.upper.map { key < $0 } ?? true)
        }
    }
}

extension SQLiteStore {
    /// Merges run while the writer is idle: `idleMergeDelay` after an append, if no other came,
    /// one transaction of `idleMergeRows` rows per index, then the next. Under appends without
    /// pause they wait until `IndexMerging.backlogChunks` complete chunks are unmerged; then each append moves
    /// `mergeRowsPerEvent` rows per index and appended event (at least `mergeRowsPerAppend`):
    /// the levels below `IndexRun.maximumLevel` move each row at most four times, so merges
    /// keep up and lookups probe at most that many chunks more.
    static let idleMergeDelay: DispatchTimeInterval = .milliseconds(20)
    static let idleMergeRows = 4_096
    static let mergeRowsPerAppend = 4_096
    static let mergeRowsPerEvent = 8

    /// In the append's transaction: merges only past the backlog; whether a merge is due at all.
    static func mergeBacklog(_ db: SQLiteConnection, completedChunks: UInt64, events: Int, backlogChunks: UInt64) throws -> Bool {
        var due = false
        for index in RunIndex.all {
            let plan = try runPlan(db, index)
            guard plan.isDue(completedChunks: completedChunks) else { continue }
            due = true
            if completedChunks >= plan.next.endChunk + backlogChunks {
                try mergeRuns(db, index, plan: plan, completedChunks: completedChunks, budget: max(mergeRowsPerAppend, mergeRowsPerEvent * events))
            }
        }
        return due
    }

    /// One idle step: up to `rows` rows per index; whether a merge is still due.
    static func mergeStep(_ db: SQLiteConnection, rows: Int) throws -> Bool {
        let completedChunks = try treeSize(db) / chunkEntries
        var due = false
        for index in RunIndex.all where try mergeRuns(db, index, completedChunks: completedChunks, budget: rows) { due = true }
        return due
    }

    /// Runs merge steps on the writer's queue while no append comes between them.
    func scheduleIdleMerges() {
        guard !mergeScheduled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let appendsBefore = appendCount.load(ordering: .relaxed)
        writerQueue.asyncAfter(deadline: .now() + Self.idleMergeDelay) { [self] in
            mergeScheduled.store(false, ordering: .releasing)
            // The writer is busy: look again once it may not be. The append path merges past the backlog meanwhile.
            guard appendCount.load(ordering: .relaxed) == appendsBefore else { return scheduleIdleMerges() }
            let stillDue = writer.withLock { db -> Bool in
                defer {
                    db.releaseStatements()
                    checkpointer.restartIfDue(writer: db)
                }
                // A failure (a full disk) leaves the runs as they were; the next append schedules again.
                return (try? db.transaction { try Self.mergeStep(db, rows: Self.idleMergeRows) }) ?? false
            }
            checkpointer.walGrew()
            if stillDue { scheduleIdleMerges() } else { scheduleFilterBuilds() }
        }
    }

    static func runPlan(_ db: SQLiteConnection, _ index: RunIndex) throws -> IndexRunPlan {
        let statement = try db.statement("SELECT value FROM meta WHERE key = ?")
        statement.bind(1, index.metaKey)
        guard try statement.step() else { return .initial }
        let stored = statement.string(0)
        guard let plan = IndexRunPlan(stored: stored) else {
            throw StoreError(.inconsistent, "meta \(index.metaKey) = \(stored) is not a run of the \(index.table) index")
        }
        return plan
    }

    /// Moves up to about `budget` rows of `index` into the runs due, in the writer's transaction.
    /// Returns whether a merge is still due afterwards. `plan`: the index's, if the caller just read it.
    @discardableResult
    static func mergeRuns(
        _ db: SQLiteConnection, _ index: RunIndex, plan stored: IndexRunPlan? = nil, completedChunks: UInt64, budget: Int
    ) throws -> Bool {
        var plan = try stored ?? runPlan(db, index)
        var remaining = budget
        var advanced = false
        while remaining > 0, plan.isDue(completedChunks: completedChunks) {
            let moved = try moveSlice(db, index, into: plan.next, budget: remaining)
            if moved == 0 {
                // Its sources are no longer probed: their filters go in the transaction that forms it.
                if index.filtered { try deleteFilters(db, index, runs: plan.next.sources) }
                plan.advance()
                advanced = true
            }
            remaining -= max(moved, 1)
        }
        if advanced {
            let save = try db.statement("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            save.bind(1, index.metaKey)
            save.bind(2, plan.stored)
            try save.run()
        }
        return plan.isDue(completedChunks: completedChunks)
    }

    /// Moves the next slice (by key, then index) of `target`'s sources into it; 0 once none is left.
    private static func moveSlice(_ db: SQLiteConnection, _ index: RunIndex, into target: IndexRun, budget: Int) throws -> Int {
        let (table, key) = (index.table, index.keyColumn)
        let sources = target.sources
        for range in index.mergedRanges {
            var bounds: [String] = []
            if range.lower != nil { bounds.append("\(key) >= ?2") }
            if range.upper != nil { bounds.append("\(key) < ?3") }
            let inRange = bounds.isEmpty ? "" : " AND " + bounds.joined(separator: " AND ")
            func bindRange(_ statement: SQLiteStatement) {
                if let lower = range.lower { statement.bind(2, lower) }
                if let upper = range.upper { statement.bind(3, upper) }
            }
            // The slice ends at a source's row `budget / 16` rows in, so the 16 sources give about `budget`.
            let probe = try db.statement("SELECT \(key), idx FROM \(table) WHERE run = ?1\(inRange) ORDER BY \(key), idx LIMIT 1 OFFSET ?4")
            var holder: IndexRun?
            var end: (key: SQLiteKey, idx: Int64)?
            for source in sources {
                probe.reset()
                probe.bind(1, source.key)
                bindRange(probe)
                probe.bind(4, Int64(0))
                guard try probe.step() else { continue }
                holder = source
                probe.reset()
                probe.bind(1, source.key)
                bindRange(probe)
                probe.bind(4, Int64(max(1, budget >> IndexRun.fanoutBits)))
                if try probe.step() { end = (SQLiteKey(probe, 0, blob: index.keyIsBlob), probe.int64(1)) }
                break
            }
            guard holder != nil else { continue }
            let slice = inRange + (end == nil ? "" : " AND (\(key), idx) < (?4, ?5)")
            let copy = try db.statement("INSERT INTO \(table) (run, \(key), idx) SELECT ?6, \(key), idx FROM \(table) WHERE run = ?1\(slice)")
            let delete = try db.statement("DELETE FROM \(table) WHERE run = ?1\(slice)")
            var moved = 0
            for source in sources {
                for statement in [copy, delete] {
                    statement.reset()
                    statement.bind(1, source.key)
                    bindRange(statement)
                    if let end {
                        end.key.bind(statement, 4)
                        statement.bind(5, end.idx)
                    }
                    if statement === copy { statement.bind(6, target.key) }
                    try statement.run()
                }
                moved += Int(sqlite3_changes(db.handle))
            }
            return moved
        }
        return 0
    }

    /// Characters of each content term kept in `events.terms`: the scheme and about 9 hex digits.
    static let erasureTermPrefix = 16

    /// Deletes an erased event's account and content-term rows from every run that may hold them:
    /// by key, or, for terms not known (events stored before schema 8), by scanning those runs.
    static func deleteIndexRows(_ db: SQLiteConnection, index: UInt64, account: String?, terms: [String]?) throws {
        let chunk = index / chunkEntries
        if let account {
            let delete = try db.statement("DELETE FROM account_index WHERE run = ? AND account = ? AND idx = ?")
            for run in try runPlan(db, .accounts).runs(holding: chunk) {
                delete.reset()
                delete.bind(1, run.key)
                delete.bind(2, account)
                delete.bind(3, index)
                try delete.run()
            }
        }
        let runs = Set(try runPlan(db, .contentTerms).runs(holding: chunk) + [IndexRun.chunk(chunk)])
        if let terms {
            // Each kept prefix bounds a range of the run's keys; the index picks the event's rows in it.
            let delete = try db.statement("DELETE FROM content_terms WHERE run = ? AND term >= ? AND term < ? AND idx = ?")
            for run in runs {
                for prefix in terms where !prefix.isEmpty {
                    delete.reset()
                    delete.bind(1, run.key)
                    delete.bind(2, prefix)
                    delete.bind(3, prefix + "\u{10FFFF}")
                    delete.bind(4, index)
                    try delete.run()
                }
            }
        } else {
            let delete = try db.statement("DELETE FROM content_terms WHERE run = ? AND idx = ?")
            for run in runs {
                delete.reset()
                delete.bind(1, run.key)
                delete.bind(2, index)
                try delete.run()
            }
        }
    }

    /// The runs to probe for rows with `key` of entries in chunks `0...lastChunk`, in chunk order.
    static func runSpans(_ db: SQLiteConnection, _ index: RunIndex, key: String?, lastChunk: UInt64) throws -> [[IndexRun]] {
        if let key, !index.merges(key: key) { return (0...lastChunk).map { [IndexRun.chunk($0)] } }
        return try runPlan(db, index).spans(lastChunk: lastChunk)
    }

    /// Checks that every row of `index` is in a run that holds its entry's chunk and that lookups
    /// probe for its key: a row elsewhere would be silently missed by every lookup.
    static func checkRuns(_ db: SQLiteConnection, _ index: RunIndex, treeSize: UInt64, path: String) throws {
        let lastChunk = treeSize == 0 ? nil : (treeSize - 1) / chunkEntries
        let live: Set<IndexRun> = try lastChunk.map { Set(try runPlan(db, index).spans(lastChunk: $0).joined()) } ?? []
        // Keys outside the merged ranges stay in every chunk; keys inside them only in live runs.
        let mergedKeys = index.mergedRanges.map { range in
            ([range.lower.map { "\(index.keyColumn) >= '\($0)'" }, range.upper.map { "\(index.keyColumn) < '\($0)'" }].compactMap { $0 } + ["1"])
                .joined(separator: " AND ")
        }.map { "(\($0))" }.joined(separator: " OR ")
        let keysStayInChunks = index.mergedRanges.contains { $0.lower != nil || $0.upper != nil }
        let runs = try db.statement("SELECT run, MIN(idx), MAX(idx) FROM \(index.table) GROUP BY run")
        let mergedRows = try db.statement("SELECT COUNT(*) FROM \(index.table) WHERE run = ? AND (\(mergedKeys))")
        var unmergedChunks: [IndexRun] = []
        while try runs.step() {
            let problem = "\(path): \(index.table) has rows in run \(runs.int64(0)) for entries \(runs.int64(1))–\(runs.int64(2)), where lookups do not find them"
            guard let run = IndexRun(key: runs.int64(0)), let lastChunk, run.covers(chunk: runs.uint64(1) / chunkEntries),
                run.covers(chunk: runs.uint64(2) / chunkEntries)
            else { throw StoreError(.inconsistent, problem) }
            if live.contains(run) { continue }
            guard keysStayInChunks, run.level == 0, run.firstChunk <= lastChunk else { throw StoreError(.inconsistent, problem) }
            unmergedChunks.append(run)
        }
        runs.reset()
        for run in unmergedChunks {
            mergedRows.reset()
            mergedRows.bind(1, run.key)
            _ = try mergedRows.step()
            guard mergedRows.int64(0) == 0 else {
                throw StoreError(
                    .inconsistent, "\(path): \(index.table) has \(mergedRows.int64(0)) rows left in chunk \(run.firstChunk), which lookups no longer probe for their keys")
            }
        }
    }
}

/// When the writer merges index runs: while idle, and in appends past a backlog of unmerged chunks.
struct IndexMerging: Sendable {
    let backlogChunks: UInt64
    let idle: Bool

    static let whenIdle = IndexMerging(backlogChunks: 32, idle: true)
    /// Deterministic, for tests: every append merges what is due.
    static let inEveryAppend = IndexMerging(backlogChunks: 0, idle: false)
}

/// A key read back from an index row, bound again as what it was.
private enum SQLiteKey {
    case text(String)
    case blob([UInt8])

    init(_ statement: SQLiteStatement, _ column: Int32, blob: Bool) {
        self = blob ? .blob(statement.blob(column)) : .text(statement.string(column))
    }

    func bind(_ statement: SQLiteStatement, _ position: Int32) {
        switch self {
        case .text(let value): statement.bind(position, value)
        case .blob(let value): statement.bind(position, value)
        }
    }
}
