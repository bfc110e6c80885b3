public import Foundation
public import GreffeCore
public import GreffeStore
public import Logging
public import Metrics

/// Writes the log's read path as static files in the C2SP tlog-tiles layout
/// (`checkpoint`, `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`), so
/// that any static web server or CDN can serve it (`ops/nginx/`).
///
/// Ordering, so that a reader of the directory never sees a checkpoint whose
/// tiles are missing: for each checkpoint, every tile and entry bundle it
/// needs is written first, the `checkpoint` file last. Each file is written
/// to `.staging/`, fsynced and renamed into place, and the directories are
/// fsynced before the checkpoint is written, so a crash leaves either the old
/// file or the new one, never a torn one, and never a checkpoint without its
/// tiles.
///
/// Tiles are immutable (C2SP: a partial tile of width W is a prefix of the
/// full tile and never changes either), so a file already present is never
/// rewritten; its bytes are compared with the store's instead, and a
/// difference (another log's directory, tampering, a restored older store)
/// stops the export — the checkpoint file is then not replaced — rather than
/// publishing a tree that disagrees with its tiles. Once a full tile and the
/// checkpoint that needs it are written, its partial tiles (`N.p/`) are
/// deleted, as C2SP allows (clients of older checkpoints fall back to the
/// full tile); otherwise one checkpoint a second would leave hundreds of
/// thousands of partial files a day.
///
/// Export failures never stop the ledger: `export` logs them and counts them
/// in `greffe_tile_export_failures_total`, and the next checkpoint retries
/// everything not yet exported.
public actor TileExporter {
    public nonisolated let directory: URL
    private let store: any LedgerStore
    /// The log's keys (all of them: after a rotation the directory may hold a checkpoint only an older key signed).
    private let verifiers: [NoteVerifier]
    private let logger: Logger
    /// The size of the last checkpoint written to the directory by this
    /// process or verified there at start; nil while the directory holds none.
    private var exportedSize: UInt64?
    private var directoryChecked = false

    private let failures: Counter
    private let exportedSizeGauge: Gauge
    private let exportTimer: Metrics.Timer
    private let filesWritten: Counter

    public init(
        directory: String, store: any LedgerStore, verifier: NoteVerifier, logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.init(directory: directory, store: store, verifiers: [verifier], logger: logger, metricsFactory: metricsFactory)
    }

    public init(
        directory: String, store: any LedgerStore, verifiers: [NoteVerifier], logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        precondition(!verifiers.isEmpty, "a tile export checks checkpoints against at least one key")
        self.directory = URL(fileURLWithPath: directory, isDirectory: true)
        self.store = store
        self.verifiers = verifiers
        self.logger = logger
        let factory = metricsFactory ?? MetricsSystem.factory
        failures = Counter(label: "greffe_tile_export_failures_total", factory: factory)
        exportedSizeGauge = Gauge(label: "greffe_tile_export_tree_size", factory: factory)
        exportTimer = Metrics.Timer(label: "greffe_tile_export_seconds", factory: factory)
        filesWritten = Counter(label: "greffe_tile_export_files_total", factory: factory)
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// `export` in the shape `Ledger.open(checkpointStored:)` takes.
    public nonisolated var checkpointStoredHook: @Sendable (StoredCheckpoint) async -> Void {
        { checkpoint in await self.export(checkpoint) }
    }

    /// Exports `checkpoint` and everything before it that the directory lacks.
    /// Returns false (after logging and counting) when it could not.
    @discardableResult
    public func export(_ checkpoint: StoredCheckpoint) async -> Bool {
        let start = ContinuousClock.now
        do {
            try await exportThrowing(checkpoint)
            exportTimer.recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
            return true
        } catch {
            failures.increment()
            logger.error(
                "static tile export failed; appends continue, the next checkpoint retries",
                metadata: ["tiles_dir": "\(directory.path)", "checkpoint_size": "\(checkpoint.size)", "error": "\(error)"])
            return false
        }
    }

    func exportThrowing(_ checkpoint: StoredCheckpoint) async throws {
        let present = try await startingSize()
        if present == checkpoint.size { return }
        let from = present ?? 0
        guard from <= checkpoint.size else {
            // Publishing a smaller checkpoint would show readers a log going back in time.
            throw Failure(
                "\(directory.path)/checkpoint has size \(from), larger than the store's checkpoint \(checkpoint.size) "
                    + "(a store restored from an older backup?); not rolling the published log back")
        }
        let tiles = TileExporter.tilesToWrite(from: from, to: checkpoint.size)
        var renamedInto: Set<String> = []
        for tile in tiles {
            let bytes = try await tileBytes(tile)
            if let parent = try writeOnce(relativePath: tile.path, bytes: bytes) { renamedInto.insert(parent) }
        }
        // Every tile's rename is durable before the checkpoint that needs it
        // (one fsync per directory rather than per file).
        for parent in renamedInto.sorted() { try syncDirectory(parent) }
        try syncDirectory(try writeAtomically(relativePath: "checkpoint", bytes: Array(checkpoint.note.utf8)))
        exportedSize = checkpoint.size
        directoryChecked = true
        exportedSizeGauge.record(Double(checkpoint.size))
        for tile in tiles where tile.isFull {
            removePartials(of: tile)
        }
    }

    /// Deletes `tile/L/N.p/` once the full tile N is published. Best effort:
    /// a leftover only costs disk space.
    private func removePartials(of tile: Tile) {
        let partials = directory.appendingPathComponent(tile.path + ".p")
        guard FileManager.default.fileExists(atPath: partials.path) else { return }
        do {
            try FileManager.default.removeItem(at: partials)
        } catch {
            logger.warning("could not delete partial tiles", metadata: ["path": "\(partials.path)", "error": "\(error)"])
        }
    }

    /// The tiles and bundles a checkpoint of size `to` needs beyond one of size
    /// `from`: at every level, the full tiles completed since `from` and the
    /// partial tile at the right edge of `to`. Pure; tested on its own.
    public static func tilesToWrite(from: UInt64, to: UInt64) -> [Tile] {
        precondition(from <= to, "tilesToWrite: from > to")
        var kinds: [Tile.Kind] = [.entries]
        var level = 0
        while Tile.nodeCount(level: level * Tile.height, treeSize: to) > 0 {
            kinds.append(.hashes(level: level))
            level += 1
        }
        var tiles: [Tile] = []
        for kind in kinds {
            let nodeLevel = Tile(kind: kind, index: 0, width: 1).nodeLevel
            let before = Tile.nodeCount(level: nodeLevel, treeSize: from)
            let after = Tile.nodeCount(level: nodeLevel, treeSize: to)
            let height = UInt64(Tile.height)
            // The tile that was partial (or empty) at `from` is the first that may have become full.
            for index in (before >> height)..<(after >> height) {
                tiles.append(Tile(kind: kind, index: index, width: Tile.fullWidth))
            }
            let rest = Int(after & UInt64(Tile.fullWidth - 1))
            if rest > 0 && after != before {
                tiles.append(Tile(kind: kind, index: after >> height, width: rest))
            }
        }
        return tiles
    }

    /// Where the directory stands: the size of its checkpoint file, which must
    /// verify under our key with our tree's root at that size; nil when there
    /// is none, and every tile is then compared with the store as it is
    /// (re)written.
    private func startingSize() async throws -> UInt64? {
        if directoryChecked { return exportedSize }
        try prepareDirectory()
        let path = directory.appendingPathComponent("checkpoint").path
        guard let data = FileManager.default.contents(atPath: path) else {
            directoryChecked = true
            return nil
        }
        let text = String(decoding: data, as: UTF8.self)
        let verified: VerifiedCheckpoint
        do {
            verified = try CheckpointVerifier.verify(note: text, verifiers: verifiers)
        } catch {
            throw Failure("\(path) does not verify under this log's key (\(error)): is --tiles-dir another log's directory?")
        }
        let size = verified.checkpoint.size
        guard size <= (try await store.treeSize()) else {
            throw Failure(
                "\(path) has size \(size), beyond the store's tree (a store restored from an older backup?); not rolling the published log back")
        }
        let root = try await store.withNodes { try MerkleTree.root(size: size, reader: $0) }
        guard root == verified.checkpoint.root else {
            throw Failure("\(path) (size \(size)) has another root than the store's tree at that size: the directory holds a fork; refusing to write")
        }
        exportedSize = size
        directoryChecked = true
        exportedSizeGauge.record(Double(size))
        return size
    }

    private func tileBytes(_ tile: Tile) async throws -> [UInt8] {
        try await store.tileBytes(tile)
    }

    // MARK: - Files

    private var stagingPath: String { directory.appendingPathComponent(".staging").path }

    /// Creates the directory and an empty `.staging/` (files left there by a crash are removed).
    private func prepareDirectory() throws {
        try makeDirectories(directory.path)
        let files = FileManager.default
        if let leftovers = try? files.contentsOfDirectory(atPath: stagingPath) {
            for name in leftovers { try? files.removeItem(atPath: stagingPath + "/" + name) }
        }
        try makeDirectories(stagingPath)
    }

    /// Writes a tile unless present; a present one must hold the same bytes.
    /// Returns the directory it renamed into (to fsync), nil when already there.
    private func writeOnce(relativePath: String, bytes: [UInt8]) throws -> String? {
        let path = directory.appendingPathComponent(relativePath).path
        if let existing = FileManager.default.contents(atPath: path) {
            guard existing.elementsEqual(bytes) else {
                throw Failure("\(path) on disk differs from the store's \(relativePath) (another log, tampering or a fork); not overwriting it")
            }
            return nil
        }
        return try writeAtomically(relativePath: relativePath, bytes: bytes)
    }

    /// Temp file in `.staging/`, fsync, rename into place. Returns the
    /// directory renamed into: the caller fsyncs it to make the rename durable.
    private func writeAtomically(relativePath: String, bytes: [UInt8]) throws -> String {
        let target = directory.appendingPathComponent(relativePath)
        let parent = target.deletingLastPathComponent().path
        try makeDirectories(parent)
        let temp = stagingPath + "/" + relativePath.replacingOccurrences(of: "/", with: "_") + ".\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure("cannot create \(temp): \(String(cString: strerror(errno)))") }
        var ok = false
        defer {
            close(fd)
            if !ok { unlink(temp) }
        }
        // Public data: readable by the web server's user whatever the service's umask.
        guard fchmod(fd, 0o644) == 0 else { throw Failure("chmod \(temp): \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure("writing \(temp): \(String(cString: strerror(errno)))") }
            offset += n
        }
        guard fsync(fd) == 0 else { throw Failure("fsync \(temp): \(String(cString: strerror(errno)))") }
        guard rename(temp, target.path) == 0 else {
            throw Failure("rename to \(target.path): \(String(cString: strerror(errno)))")
        }
        ok = true
        filesWritten.increment()
        return parent
    }

    /// mkdir -p with mode 0755, fsyncing the parent of each directory it creates.
    private func makeDirectories(_ path: String) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw Failure("\(path) exists and is not a directory") }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try makeDirectories(parent) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw Failure("cannot create directory \(path): \(String(cString: strerror(errno)))")
        }
        chmod(path, 0o755)
        try syncDirectory(parent.isEmpty ? "." : parent)
    }

    private func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure("cannot open directory \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Failure("fsync directory \(path): \(String(cString: strerror(errno)))") }
    }
}
