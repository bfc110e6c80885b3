/// One run of a lookup index (`leaf_hashes`, `account_index`, `content_terms`): the rows
/// of `chunkCount` consecutive chunks of 4,096 entries, sorted by key. Level 0 is one chunk,
/// where appends write; 16 complete runs of one level are merged into one run of the next,
/// so a lookup probes at most 15 runs per level plus the chunks not merged yet: O(log n)
/// B-tree probes instead of one per chunk. The writer merges in the append's transaction,
/// a slice at a time, moving rows (insert, then delete from the sources) so that at every
/// commit each row is in exactly one run.
struct IndexRun: Hashable, Comparable, CustomStringConvertible {
    /// Runs per level merged into one of the next.
    static let fanoutBits: UInt64 = 4
    /// Runs stop growing at this level (16⁴ chunks, 268 million entries): an erasure of an event
    /// stored before schema 8 scans its run.
    static let maximumLevel = 4
    /// The level sits above the first chunk in the stored key; level 0 keys are chunk numbers.
    static let levelShift: UInt64 = 40

    let level: Int
    let firstChunk: UInt64

    init(level: Int, firstChunk: UInt64) {
        precondition(level >= 0 && level <= Self.maximumLevel && firstChunk % (1 << (Self.fanoutBits * UInt64(level))) == 0)
        self.level = level
        self.firstChunk = firstChunk
    }

    /// The run a stored key names, or nil for a key no run has.
    init?(key: Int64) {
        guard key >= 0 else { return nil }
        let level = Int(UInt64(key) >> Self.levelShift)
        let first = UInt64(key) & ((1 << Self.levelShift) - 1)
        guard level <= Self.maximumLevel, first % (1 << (Self.fanoutBits * UInt64(level))) == 0 else { return nil }
        self.init(level: level, firstChunk: first)
    }

    static func chunk(_ chunk: UInt64) -> IndexRun { IndexRun(level: 0, firstChunk: chunk) }

    var key: Int64 { Int64(UInt64(level) << Self.levelShift | firstChunk) }
    var chunkCount: UInt64 { 1 << (Self.fanoutBits * UInt64(level)) }
    var endChunk: UInt64 { firstChunk + chunkCount }
    func covers(chunk: UInt64) -> Bool { chunk >= firstChunk && chunk < endChunk }

    /// The 16 runs of the level below that merge into this one.
    var sources: [IndexRun] {
        precondition(level > 0)
        let step = chunkCount >> Self.fanoutBits
        return (0..<(1 << Self.fanoutBits)).map { IndexRun(level: level - 1, firstChunk: firstChunk + $0 * step) }
    }

    static func < (a: IndexRun, b: IndexRun) -> Bool { (a.firstChunk, -a.level) < (b.firstChunk, -b.level) }
    var description: String { "L\(level)@\(firstChunk)" }
}

/// Which runs an index has, from one fact kept in `meta`: the run the writer forms next.
/// Merges happen in one order (each run as soon as its 16 sources exist, lowest level first),
/// so every run before that one is formed, the chunks after it are not merged yet, and
/// the runs it is formed from hold what it does not hold yet.
struct IndexRunPlan: Equatable {
    /// The run being formed, or to be formed once all its chunks are complete.
    var next: IndexRun

    static let initial = IndexRunPlan(next: IndexRun(level: 1, firstChunk: 0))

    /// Whether `next` can be formed: all its chunks are complete.
    func isDue(completedChunks: UInt64) -> Bool { next.endChunk <= completedChunks }

    /// After forming `next`: its parent once it closes a group of 16, else the next level-1 run.
    mutating func advance() {
        let end = next.endChunk
        let parentSize = next.chunkCount << IndexRun.fanoutBits
        if next.level < IndexRun.maximumLevel, end % parentSize == 0 {
            next = IndexRun(level: next.level + 1, firstChunk: end - parentSize)
        } else {
            next = IndexRun(level: 1, firstChunk: end)
        }
    }

    /// The formed runs before `next`, in chunk order: the largest aligned runs that fit.
    private var formed: [IndexRun] {
        var runs: [IndexRun] = []
        var chunk: UInt64 = 0
        while chunk < next.firstChunk {
            var level = IndexRun.maximumLevel
            while level > 0 {
                let run = IndexRun(level: level, firstChunk: chunk & ~((1 << (IndexRun.fanoutBits * UInt64(level))) - 1))
                if run.firstChunk == chunk, run.endChunk <= next.firstChunk { break }
                level -= 1
            }
            precondition(level > 0, "chunks before the next merge are all merged")
            let run = IndexRun(level: level, firstChunk: chunk)
            runs.append(run)
            chunk = run.endChunk
        }
        return runs
    }

    /// The runs that may hold rows of chunks `0...lastChunk`, grouped into spans of chunks in
    /// order: one run per span, except the span of the merge in progress, whose rows are in its
    /// target and its sources.
    func spans(lastChunk: UInt64) -> [[IndexRun]] {
        var spans = formed.filter { $0.firstChunk <= lastChunk }.map { [$0] }
        guard next.firstChunk <= lastChunk else { return spans }
        spans.append([next] + next.sources.filter { $0.firstChunk <= lastChunk })
        if next.endChunk <= lastChunk {
            spans += (next.endChunk...lastChunk).map { [IndexRun.chunk($0)] }
        }
        return spans
    }

    /// The runs that may hold rows of entries in `chunk`.
    func runs(holding chunk: UInt64) -> [IndexRun] {
        if chunk < next.firstChunk { return formed.filter { $0.covers(chunk: chunk) } }
        if next.covers(chunk: chunk) { return [next] + next.sources.filter { $0.covers(chunk: chunk) } }
        return [IndexRun.chunk(chunk)]
    }

    /// Stored in `meta` as "level/first chunk".
    init(next: IndexRun) { self.next = next }

    init?(stored: String) {
        let parts = stored.split(separator: "/")
        guard parts.count == 2, let level = Int(parts[0]), let first = UInt64(parts[1]), level >= 1, level <= IndexRun.maximumLevel,
            first % (1 << (IndexRun.fanoutBits * UInt64(level))) == 0, first < 1 << IndexRun.levelShift
        else { return nil }
        self.init(next: IndexRun(level: level, firstChunk: first))
    }

    var stored: String { "\(next.level)/\(next.firstChunk)" }
}
