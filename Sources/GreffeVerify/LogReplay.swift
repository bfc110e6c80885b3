public import Foundation
public import GreffeCore

/// An earlier checkpoint, already audited, to start an audit from: only the
/// entries after it are replayed.
public struct EarlierCheckpoint: Sendable, Hashable {
    public var size: UInt64
    public var root: Hash
    /// The RFC 9162 consistency proof from `size` to the audited size, when
    /// the source serves one. Without it the replay still proves that the
    /// earlier tree is the audited tree's prefix: it rebuilds the earlier
    /// root from the audited tiles and compares.
    public var consistencyProof: [Hash]?

    public init(size: UInt64, root: Hash, consistencyProof: [Hash]? = nil) {
        self.size = size
        self.root = root
        self.consistencyProof = consistencyProof
    }

    public init(_ checkpoint: VerifiedCheckpoint, consistencyProof: [Hash]? = nil) {
        self.init(size: checkpoint.checkpoint.size, root: checkpoint.checkpoint.root, consistencyProof: consistencyProof)
    }
}

/// How far a replay has come.
public struct ReplayProgress: Sendable {
    /// Entries replayed so far in this run (an incremental run counts from its start).
    public var entriesDone: UInt64
    public var entriesTotal: UInt64
    public var seconds: Double

    /// Entries per second so far.
    public var rate: Double { seconds > 0 ? Double(entriesDone) / seconds : 0 }
    /// Seconds left at the rate so far.
    public var etaSeconds: Double? { rate > 0 ? Double(entriesTotal - entriesDone) / rate : nil }
}

/// What a successful audit established.
public struct AuditReport: Sendable {
    public var treeSize: UInt64
    public var root: Hash
    /// 0 for a full replay; the earlier checkpoint's size for an incremental one.
    public var startSize: UInt64
    public var tilesRead: Int
    public var bytesRead: Int
    public var seconds: Double
    /// The time of the last entry (Unix milliseconds), when the log is not empty.
    public var lastSequencedAtMilliseconds: UInt64?
    /// The replayed entries of kind `ledger.restored`: each records a restore that put back the entries
    /// before it from a copy of the log, their events lost (the record's body, readable by investigators, gives the range).
    public var restoreRecords: [UInt64] = []

    public var entriesReplayed: UInt64 { treeSize - startSize }
}

/// Replays a log from its published tiles and proves that they are the log
/// a checkpoint commits to.
///
/// For a tree of `n` leaves with root `R` (from a checkpoint whose signature
/// the caller has checked), `audit` reads every entry bundle and:
/// - decodes every entry (layout 1), checks its index field, that its `prev`
///   is the leaf hash of the entry before it (RFC 9162 leaf hash; zeros for
///   entry 0) and that `sequencedAt` never decreases;
/// - recomputes every leaf hash and compares it with the level-0 hash tile;
/// - recomputes every hash tile of every level from the level below and
///   compares it with the served tile, full and partial;
/// - recomputes the root and compares it with `R`.
/// The first failure in log order ends the audit; it names the tile (and
/// position, and entry) at fault. When an entry and its level-0 hash differ,
/// the tree above decides which of the two was altered.
///
/// Memory is flat in `n`: tiles are streamed in windows of `readAhead`
/// bundles (read concurrently, the next window while the current one is
/// checked), and besides that window only the unfinished tile of each level
/// is kept — at most 256 hashes per level, the tiled form of the tree's
/// right edge. Bundles within a window are checked on `threads` cores.
///
/// From an earlier audited checkpoint `(m, Rm)`, only entries `m..<n` are
/// replayed: the right edge at `m` is rebuilt from one tile per level
/// (`MerkleTree.root(size: m)` over them must give `Rm`, and leaf `m − 1`
/// must prove its inclusion in it), and the consistency proof `m → n`, when
/// given, must verify.
public struct LogReplay: Sendable {
    public var source: any TileSource
    /// Entry bundles per read-ahead window (each with its level-0 tile).
    public var readAhead: Int
    /// Cores that check bundles in parallel.
    public var threads: Int

    /// Called with each tile once it has been checked against the tree
    /// recomputed from the entries (a mirror stores it). Only when the audit
    /// returns is the whole tree proved to be the checkpoint's.
    public typealias CheckedTileHandler = @Sendable (Tile, [UInt8]) async throws -> Void

    public init(source: any TileSource, readAhead: Int = 64, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.source = source
        self.readAhead = max(1, readAhead)
        self.threads = max(1, threads)
    }

    public func audit(
        treeSize: UInt64, root: Hash, from earlier: EarlierCheckpoint? = nil,
        progress: (@Sendable (ReplayProgress) -> Void)? = nil,
        onChecked: CheckedTileHandler? = nil
    ) async throws(AuditFailure) -> AuditReport {
        let run = ReplayRun(replay: self, treeSize: treeSize, root: root, onChecked: onChecked, progress: progress)
        do {
            return try await run.run(from: earlier)
        } catch let failure as AuditFailure {
            throw failure
        } catch is CancellationError {
            throw AuditFailure(.cancelled, "the audit was cancelled")
        } catch {
            throw AuditFailure(.tileUnavailable, "audit stopped: \(error)")
        }
    }

    /// `audit` of a checkpoint whose signature has been verified.
    public func audit(
        _ checkpoint: VerifiedCheckpoint, from earlier: EarlierCheckpoint? = nil,
        progress: (@Sendable (ReplayProgress) -> Void)? = nil,
        onChecked: CheckedTileHandler? = nil
    ) async throws(AuditFailure) -> AuditReport {
        try await audit(
            treeSize: checkpoint.checkpoint.size, root: checkpoint.checkpoint.root, from: earlier,
            progress: progress, onChecked: onChecked)
    }

    /// The tile of `kind` and `index` at the width a tree of `treeSize` gives it, or nil when it has none.
    public static func tile(_ kind: Tile.Kind, index: UInt64, treeSize: UInt64) -> Tile? {
        let probe = Tile(kind: kind, index: 0, width: 1)
        let count = Tile.nodeCount(level: probe.nodeLevel, treeSize: treeSize)
        let tiles = count >> UInt64(Tile.height) + (count & UInt64(Tile.fullWidth - 1) == 0 ? 0 : 1)
        guard index < tiles else { return nil }
        let width = min(UInt64(Tile.fullWidth), count - index << UInt64(Tile.height))
        return Tile(kind: kind, index: index, width: Int(width))
    }

    static func prevFailure(entry: UInt64, bundle: Tile, prev: Hash, expected: Hash) -> AuditFailure {
        let link = entry == 0 ? "the first entry's prev must be 32 zero bytes" : "the leaf hash of entry \(entry - 1) is \(expected)"
        return AuditFailure(
            .prevMismatch,
            "entry \(entry) in \(bundle.path) has prev \(prev), but \(link): the hash chain is broken",
            tile: bundle, entryIndex: entry)
    }

    static func timeFailure(entry: UInt64, bundle: Tile, time: UInt64, previous: UInt64) -> AuditFailure {
        AuditFailure(
            .timeWentBackwards,
            "entry \(entry) in \(bundle.path) was sequenced at \(time) ms, before entry \(entry - 1) (\(previous) ms)",
            tile: bundle, entryIndex: entry)
    }
}

/// The unfinished tile of one level: the hashes of its nodes so far.
struct LevelBuffer: Sendable {
    var tileIndex: UInt64 = 0
    var hashes: [Hash] = []
}

/// Tree nodes from one tile per level (the right edge of a tree): a node at
/// a multiple-of-8 level is read from its level's tile, any other is hashed
/// from its children.
struct EdgeReader: NodeReader {
    var levels: [LevelBuffer]

    struct Missing: Error, CustomStringConvertible {
        let level: Int
        let index: UInt64
        var description: String { "node \(index) of level \(level) is not on the tiles read" }
    }

    func node(level: Int, index: UInt64) throws -> Hash {
        let tileLevel = level / Tile.height
        if level % Tile.height == 0 {
            guard tileLevel < levels.count else { throw Missing(level: level, index: index) }
            let buffer = levels[tileLevel]
            let position = Int(index & UInt64(Tile.fullWidth - 1))
            guard index >> UInt64(Tile.height) == buffer.tileIndex, position < buffer.hashes.count else {
                throw Missing(level: level, index: index)
            }
            return buffer.hashes[position]
        }
        return nodeHash(try node(level: level - 1, index: 2 * index), try node(level: level - 1, index: 2 * index + 1))
    }
}

/// One audit's state. Lives in the audit's task only; the parallel bundle
/// checks get Sendable copies of their inputs.
final class ReplayRun {
    static let maxTileLevel = 64 / Tile.height - 1

    let replay: LogReplay
    let n: UInt64
    let root: Hash
    let onChecked: LogReplay.CheckedTileHandler?
    let progress: (@Sendable (ReplayProgress) -> Void)?
    let started = ContinuousClock.now

    /// The unfinished tile of levels 1…7 (index 0 unused: level 0 is per bundle).
    var levels = [LevelBuffer](repeating: LevelBuffer(), count: ReplayRun.maxTileLevel + 1)
    /// Leaf hashes of the last bundle when it is partial.
    var lastLeaves: [Hash] = []
    var startSize: UInt64 = 0
    /// Leaf hashes before the start inside the first bundle (incremental).
    var startLeaves: [Hash] = []
    var prevLeaf = Hash.zero
    var lastSequencedAt: UInt64 = 0
    var restoreRecords: [UInt64] = []
    var tilesRead = 0
    var bytesRead = 0
    /// The upper tiles fetched with the last window (the partial ones are checked at the end).
    var finalUpperTiles: [Tile: [UInt8]] = [:]

    init(replay: LogReplay, treeSize: UInt64, root: Hash, onChecked: LogReplay.CheckedTileHandler?,
         progress: (@Sendable (ReplayProgress) -> Void)?) {
        self.replay = replay
        self.n = treeSize
        self.root = root
        self.onChecked = onChecked
        self.progress = progress
    }

    var elapsed: Double {
        let d = ContinuousClock.now - started
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    func report() -> AuditReport {
        AuditReport(
            treeSize: n, root: root, startSize: startSize, tilesRead: tilesRead, bytesRead: bytesRead,
            seconds: elapsed, lastSequencedAtMilliseconds: n == 0 ? nil : lastSequencedAt, restoreRecords: restoreRecords)
    }

    // MARK: - The run

    func run(from earlier: EarlierCheckpoint?) async throws -> AuditReport {
        if let earlier {
            guard earlier.size <= n else {
                throw AuditFailure(
                    .sizeRegression,
                    "the earlier checkpoint has \(earlier.size) entries, more than the \(n) of the checkpoint audited")
            }
            if let proof = earlier.consistencyProof {
                do {
                    try ProofVerifier.verifyConsistency(
                        first: earlier.size, second: n, firstRoot: earlier.root, secondRoot: root, proof: proof)
                } catch {
                    throw AuditFailure(
                        .inconsistent,
                        "the consistency proof from size \(earlier.size) to \(n) does not verify: \(error.message)")
                }
            }
            if earlier.size == n {
                guard earlier.root == root else {
                    throw AuditFailure(
                        .earlierRootMismatch,
                        "the earlier checkpoint has root \(earlier.root) for size \(n), the audited one \(root): two trees of one size")
                }
                startSize = n
                lastSequencedAt = 0
                return report()
            }
            if earlier.size == 0 {
                guard earlier.root == MerkleHash.emptyRoot else {
                    throw AuditFailure(.earlierRootMismatch, "the earlier checkpoint of size 0 has root \(earlier.root), not the empty tree's")
                }
            } else {
                try await start(from: earlier)
            }
        }
        if n == 0 {
            guard root == MerkleHash.emptyRoot else {
                throw AuditFailure(.rootMismatch, "the checkpoint of size 0 has root \(root), not the empty tree's \(MerkleHash.emptyRoot)")
            }
            return report()
        }

        let bundleCount = (n + UInt64(Tile.fullWidth) - 1) >> UInt64(Tile.height)
        let firstBundle = startSize >> UInt64(Tile.height)
        let step = UInt64(replay.readAhead)
        let source = replay.source
        let n = self.n
        func window(_ k: UInt64) -> Range<UInt64> { k..<min(k + step, bundleCount) }
        var next: Task<Window, any Error>? = { let r = window(firstBundle); return Task { try await ReplayRun.fetch(r, treeSize: n, source: source) } }()
        defer { next?.cancel() }
        var k = firstBundle
        while k < bundleCount {
            let range = window(k)
            let current = try await next!.value
            next = range.upperBound < bundleCount
                ? { let r = window(range.upperBound); return Task { try await ReplayRun.fetch(r, treeSize: n, source: source) } }()
                : nil
            tilesRead += current.bundles.count + current.leafTiles.count + current.upper.count
            bytesRead += current.bundles.reduce(0) { $0 + $1.count } + current.leafTiles.reduce(0) { $0 + $1.count }
                + current.upper.values.reduce(0) { $0 + $1.count }
            try await check(current, range: range)
            if range.upperBound == bundleCount { finalUpperTiles = current.upper }
            k = range.upperBound
            if let progress {
                let done = min(k << UInt64(Tile.height), n) - startSize
                progress(ReplayProgress(entriesDone: done, entriesTotal: n - startSize, seconds: elapsed))
            }
        }
        try await finish()
        return report()
    }

    /// Rebuilds the state at the earlier checkpoint from one tile per level.
    func start(from earlier: EarlierCheckpoint) async throws {
        let m = earlier.size
        // Per level, the tile holding the last complete node of the tree of size m.
        var edgeTiles: [Tile] = []
        for level in 0...ReplayRun.maxTileLevel {
            let count = Tile.nodeCount(level: level * Tile.height, treeSize: m)
            guard count > 0 else { break }
            edgeTiles.append(LogReplay.tile(.hashes(level: level), index: (count - 1) >> UInt64(Tile.height), treeSize: n)!)
        }
        let source = replay.source
        let fetched = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            for (level, tile) in edgeTiles.enumerated() {
                group.addTask { (level, try await ReplayRun.read(tile, from: source)) }
            }
            var fetched = [[UInt8]](repeating: [], count: edgeTiles.count)
            for try await (level, bytes) in group { fetched[level] = bytes }
            return fetched
        }
        var reader = EdgeReader(levels: [])
        for (tile, bytes) in zip(edgeTiles, fetched) {
            tilesRead += 1
            bytesRead += bytes.count
            reader.levels.append(LevelBuffer(tileIndex: tile.index, hashes: try hashes(of: tile, bytes)))
        }
        let earlierRoot: Hash
        let lastLeaf: Hash
        let proof: [Hash]
        do {
            earlierRoot = try MerkleTree.root(size: m, reader: reader)
            lastLeaf = try reader.node(level: 0, index: m - 1)
            proof = try MerkleTree.inclusionProof(index: m - 1, size: m, reader: reader)
        } catch {
            preconditionFailure("bad math: the right edge at \(m) is not on its tiles: \(error)")
        }
        guard earlierRoot == earlier.root else {
            throw AuditFailure(
                .earlierRootMismatch,
                "the tiles (\(edgeTiles.map(\.path).joined(separator: ", "))) hash to \(earlierRoot) for the first \(m) entries, but the earlier checkpoint says \(earlier.root)")
        }
        let lastLeafTile = edgeTiles[0]
        do {
            try ProofVerifier.verifyInclusion(index: m - 1, size: m, leafHash: lastLeaf, proof: proof, root: earlier.root)
        } catch {
            throw AuditFailure(
                .earlierRootMismatch,
                "\(lastLeafTile.path): the leaf hash of entry \(m - 1) is not in the earlier tree: \(error.message)",
                tile: lastLeafTile, entryIndex: m - 1)
        }
        // The last earlier entry: its leaf hash is now proven; its time bounds the next one's.
        let bundleTile = LogReplay.tile(.entries, index: (m - 1) >> UInt64(Tile.height), treeSize: n)!
        let bundle = try await read(bundleTile)
        let position = Int((m - 1) & UInt64(Tile.fullWidth - 1))
        let time: UInt64? = bundle.withUnsafeBytes { raw in
            var cursor = EntryBundleCursor(raw)
            for _ in 0..<position { guard cursor.next() != nil else { return nil } }
            guard let entry = cursor.next(), EntryLayout.isValid(entry), EntryLayout.index(entry) == m - 1,
                same(EntryLayout.leafHash(entry), lastLeaf)
            else { return nil }
            return EntryLayout.sequencedAt(entry)
        }
        guard let time else {
            throw AuditFailure(
                .entryMismatch,
                "entry \(m - 1) in \(bundleTile.path) is not the entry whose leaf hash \(lastLeaf) the earlier tree holds",
                tile: bundleTile, entryIndex: m - 1)
        }
        prevLeaf = lastLeaf
        lastSequencedAt = time
        startSize = m
        // The unfinished tile of each level at m: a proven prefix of the edge tile.
        for level in 1...ReplayRun.maxTileLevel {
            let count = Tile.nodeCount(level: level * Tile.height, treeSize: m)
            let filled = Int(count & UInt64(Tile.fullWidth - 1))
            levels[level] = LevelBuffer(
                tileIndex: count >> UInt64(Tile.height),
                hashes: filled > 0 ? Array(reader.levels[level].hashes[0..<filled]) : [])
        }
        let filled = Int(m & UInt64(Tile.fullWidth - 1))
        startLeaves = filled > 0 ? Array(reader.levels[0].hashes[0..<filled]) : []
    }

    func hashes(of tile: Tile, _ bytes: [UInt8]) throws -> [Hash] {
        guard bytes.count == tile.width * Hash.byteCount else {
            throw AuditFailure(
                .tileMalformed, "\(tile.path) is \(bytes.count) bytes, not \(tile.width) hashes of 32 bytes", tile: tile)
        }
        return bytes.withUnsafeBytes { raw in
            (0..<tile.width).map { loadHash(raw.baseAddress! + $0 * Hash.byteCount) }
        }
    }

    /// Checks one window: the bundles in parallel, then their links and the levels above in order.
    func check(_ window: Window, range: Range<UInt64>) async throws {
        var jobs: [BundleCheck] = []
        jobs.reserveCapacity(range.count)
        let firstBundle = startSize >> UInt64(Tile.height)
        for (offset, k) in range.enumerated() {
            var job = BundleCheck(
                index: k, width: LogReplay.tile(.entries, index: k, treeSize: n)!.width,
                bundle: window.bundles[offset], leafTile: window.leafTiles[offset])
            if k == firstBundle && !startLeaves.isEmpty {
                job.firstPosition = startLeaves.count
                job.knownLeaves = startLeaves
            }
            jobs.append(job)
        }
        let outcomes = await ReplayRun.runInParallel(jobs, threads: replay.threads)
        for (job, outcome) in zip(jobs, outcomes) {
            try await merge(job, outcome, window: window)
        }
    }

    static func runInParallel(_ jobs: [BundleCheck], threads: Int) async -> [BundleCheck.Outcome] {
        if threads == 1 || jobs.count == 1 { return jobs.map { $0.run() } }
        let chunk = (jobs.count + threads - 1) / threads
        return await withTaskGroup(of: (Int, [BundleCheck.Outcome]).self) { group in
            for start in stride(from: 0, to: jobs.count, by: chunk) {
                let part = Array(jobs[start..<min(start + chunk, jobs.count)])
                group.addTask { (start, part.map { $0.run() }) }
            }
            var outcomes = [BundleCheck.Outcome](repeating: .init(), count: jobs.count)
            for await (start, part) in group {
                for (i, outcome) in part.enumerated() { outcomes[start + i] = outcome }
            }
            return outcomes
        }
    }

    func merge(_ job: BundleCheck, _ outcome: BundleCheck.Outcome, window: Window) async throws {
        // Failures up to the first new entry's own checks come first in log order.
        if let failure = outcome.failure, !outcome.leafMismatch, outcome.failurePosition <= job.firstPosition {
            throw failure
        }
        if let firstPrev = outcome.firstPrev {
            let entry = job.entryIndex(job.firstPosition)
            guard same(firstPrev, prevLeaf) else {
                throw LogReplay.prevFailure(entry: entry, bundle: job.bundleTile, prev: firstPrev, expected: prevLeaf)
            }
            guard entry == 0 || outcome.firstSequencedAt >= lastSequencedAt else {
                throw LogReplay.timeFailure(
                    entry: entry, bundle: job.bundleTile, time: outcome.firstSequencedAt, previous: lastSequencedAt)
            }
        }
        if let failure = outcome.failure {
            if outcome.leafMismatch { throw await settleLeafMismatch(job, outcome, provisional: failure) }
            throw failure
        }
        prevLeaf = outcome.lastLeaf
        lastSequencedAt = outcome.lastSequencedAt
        restoreRecords += outcome.restoreRecords
        if let onChecked {
            try await store(job.bundleTile, job.bundle, onChecked)
            try await store(job.leafHashTile, job.leafTile, onChecked)
        }
        if let subtreeRoot = outcome.subtreeRoot {
            try await push(subtreeRoot, level: 1, window: window)
        } else {
            lastLeaves = outcome.leaves
        }
    }

    func store(_ tile: Tile, _ bytes: [UInt8], _ handler: LogReplay.CheckedTileHandler) async throws {
        do {
            try await handler(tile, bytes)
        } catch {
            throw AuditFailure(.storeFailed, "storing \(tile.path) failed: \(error)", tile: tile)
        }
    }

    /// Appends a node to its level's unfinished tile; a tile that fills up
    /// is compared with the served one and its root goes one level up.
    func push(_ node: Hash, level: Int, window: Window) async throws {
        precondition(level <= ReplayRun.maxTileLevel, "bad math: a tile above level 7")
        levels[level].hashes.append(node)
        guard levels[level].hashes.count == Tile.fullWidth else { return }
        let tile = Tile(kind: .hashes(level: level), index: levels[level].tileIndex, width: Tile.fullWidth)
        let served: [UInt8]
        if let bytes = window.upper[tile] { served = bytes } else { served = try await read(tile) }
        try compare(tile, served, levels[level].hashes)
        if let onChecked { try await store(tile, served, onChecked) }
        let subtree = subtreeRoot(levels[level].hashes)
        levels[level].hashes.removeAll(keepingCapacity: true)
        levels[level].tileIndex += 1
        if level < ReplayRun.maxTileLevel { try await push(subtree, level: level + 1, window: window) }
    }

    func compare(_ tile: Tile, _ served: [UInt8], _ recomputed: [Hash]) throws {
        let hashes = try hashes(of: tile, served)
        precondition(hashes.count == recomputed.count, "bad math: \(tile.path) compared with \(recomputed.count) hashes")
        for position in 0..<hashes.count where !same(hashes[position], recomputed[position]) {
            let level = tile.nodeLevel / Tile.height
            let below = tile.index << UInt64(Tile.height) + UInt64(position)
            let source: String
            if level == 1 {
                let first = below << UInt64(Tile.height)
                source = "the entries \(first)–\(first + UInt64(Tile.fullWidth) - 1) (tile/0/\(Tile.encodeIndex(below)))"
            } else {
                source = "tile/\(level - 1)/\(Tile.encodeIndex(below))"
            }
            throw AuditFailure(
                .hashTileMismatch,
                "\(tile.path) position \(position) holds \(hashes[position]), but \(source) hash to \(recomputed[position])",
                tile: tile)
        }
    }

    /// The partial tiles of the right edge, then the root.
    func finish() async throws {
        for level in 1...ReplayRun.maxTileLevel {
            let count = Tile.nodeCount(level: level * Tile.height, treeSize: n)
            let width = Int(count & UInt64(Tile.fullWidth - 1))
            guard width > 0 else { continue }
            let tile = Tile(kind: .hashes(level: level), index: count >> UInt64(Tile.height), width: width)
            precondition(levels[level].tileIndex == tile.index && levels[level].hashes.count == width,
                         "bad math: level \(level) holds \(levels[level].hashes.count) nodes at its end, not \(width)")
            let served: [UInt8]
            if let bytes = finalUpperTiles[tile] { served = bytes } else { served = try await read(tile) }
            try compare(tile, served, levels[level].hashes)
            if let onChecked { try await store(tile, served, onChecked) }
        }
        let computed = rootOfEdge(leaves: lastLeaves)
        guard computed == root else {
            throw AuditFailure(
                .rootMismatch,
                "the \(n) entries and their tiles hash to root \(computed), but the checkpoint says \(root)")
        }
    }

    func rootOfEdge(leaves: [Hash]) -> Hash {
        var edge = levels
        edge[0] = LevelBuffer(tileIndex: n >> UInt64(Tile.height), hashes: leaves)
        do {
            return try MerkleTree.root(size: n, reader: EdgeReader(levels: edge))
        } catch {
            preconditionFailure("bad math: the right edge is incomplete: \(error)")
        }
    }

    /// An entry and its level-0 hash disagree: the served tree above decides
    /// which one was altered. For a full bundle that is its level-8 node in
    /// the level-1 tile; for the last, partial bundle, the checkpoint root.
    func settleLeafMismatch(_ job: BundleCheck, _ outcome: BundleCheck.Outcome, provisional: AuditFailure) async -> AuditFailure {
        let position = outcome.failurePosition
        let entry = job.entryIndex(position)
        guard let served = try? hashes(of: job.leafHashTile, job.leafTile) else { return provisional }
        let recomputed = outcome.leavesComplete ? outcome.leaves : nil
        var servedAgrees = false
        var entriesAgree = false
        var arbiter = ""
        if job.width == Tile.fullWidth {
            guard let parentTile = LogReplay.tile(.hashes(level: 1), index: job.index >> UInt64(Tile.height), treeSize: n),
                let bytes = try? await ReplayRun.read(parentTile, from: replay.source),
                let parents = try? hashes(of: parentTile, bytes)
            else { return provisional }
            let parent = parents[Int(job.index & UInt64(Tile.fullWidth - 1))]
            servedAgrees = subtreeRoot(served) == parent
            entriesAgree = recomputed.map { subtreeRoot($0) == parent } ?? false
            arbiter = "\(parentTile.path) position \(job.index & UInt64(Tile.fullWidth - 1))"
        } else {
            servedAgrees = rootOfEdge(leaves: served) == root
            entriesAgree = recomputed.map { rootOfEdge(leaves: $0) == root } ?? false
            arbiter = "the checkpoint root"
        }
        if servedAgrees && !entriesAgree {
            return AuditFailure(
                .entryMismatch,
                "entry \(entry) in \(job.bundleTile.path) (position \(position)) was altered: it hashes to \(outcome.leaves[position]), but \(job.leafHashTile.path) and \(arbiter) hold \(served[position])",
                tile: job.bundleTile, entryIndex: entry)
        }
        if entriesAgree && !servedAgrees {
            return AuditFailure(
                .hashTileMismatch,
                "\(job.leafHashTile.path) position \(position) holds \(served[position]), but entry \(entry) hashes to \(outcome.leaves[position]), as \(arbiter) confirms",
                tile: job.leafHashTile, entryIndex: entry)
        }
        return AuditFailure(
            .leafHashMismatch,
            provisional.message + "; \(arbiter) backs neither, so \(job.bundleTile.path) or \(job.leafHashTile.path) (or both) were altered",
            tile: job.leafHashTile.path, entryIndex: entry)
    }
}
