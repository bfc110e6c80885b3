import ArgumentParser
import Foundation
import GreffeCore
import GreffeVerify
import Synchronization

/// `greffe mirror`: a verified local copy of a log in the C2SP tlog-tiles
/// layout, which `greffe audit --tiles DIR` (and any tlog-tiles client) reads.
///
/// Nothing unverified is published in DIR:
/// 1. the server's checkpoint must carry the key's signature;
/// 2. the replay (the audit's code) checks every tile against the tree
///    recomputed from the entries; each checked tile is written to
///    DIR/.incoming (temp file + rename);
/// 3. only when the recomputed root is the checkpoint's are the tiles moved
///    into DIR, then DIR/checkpoint is replaced (temp + rename), then
///    partial tiles of the old size are removed. A crash at any point leaves
///    DIR consistent with the checkpoint it holds.
/// Resuming: with a DIR/checkpoint, only the entries after it are replayed
/// (the server's consistency proof must verify, and the old root must be
/// the tiles' own). Full tiles already in DIR or DIR/.incoming are read
/// from disk, not downloaded (those in .incoming are checked again);
/// partial tiles are always fetched afresh.
struct MirrorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mirror",
        abstract: "Download and verify a log's checkpoint, tiles and entry bundles into a directory (resumable)."
    )

    @Option(name: .long, help: "The log's base URL.")
    var url: String

    @Option(name: .long, help: "The mirror directory (created if missing).")
    var out: String

    @Option(
        name: .long,
        help: "The ledger's verifier key: a file holding name+keyid+key (or several, one per line, as DIR/verifier-keys), or the key itself. Repeatable: across a key rotation, the checkpoint must be signed by at least one.")
    var vkey: [String] = []

    @Option(name: .long, help: "Entry bundles per read-ahead window.")
    var readAhead: Int = 64

    @Flag(name: .long, help: "No progress lines on stderr.")
    var quiet = false

    @Flag(
        name: .long,
        help: "Mirror every shard of a ledger with temporal shards (GET /v1/shards): shard 0 into --out, shard k into OUT/v1/shards/k (the server's paths), each verified with --vkey renamed to the shard's origin.")
    var allShards = false

    func validate() throws {
        guard (1...1024).contains(readAhead) else { throw ValidationError("--read-ahead must be between 1 and 1024") }
        guard !vkey.isEmpty else { throw ValidationError("give the ledger's verifier key: --vkey FILE (repeatable)") }
    }

    func run() async throws {
        let verifiers = try loadVerifiers(vkey)
        if allShards {
            try await mirrorAllShards(verifiers: verifiers)
            return
        }
        let remote = try HTTPLog(url: url, connections: min(readAhead, 32))
        defer { remote.close() }
        let line = await mirror(remote: remote, verifiers: verifiers, into: out)
        print(line.text)
        if !line.ok { throw ExitCode(1) }
    }

    /// Each shard listed by `GET /v1/shards`, as a log of its own under its own name (Schemas/shards.md).
    private func mirrorAllShards(verifiers: [NoteVerifier]) async throws {
        guard let base = verifiers.first?.name else { throw CommandFailure("no verifier key") }
        let server = try HTTPLog(url: url, connections: 1)
        let listing: JSONValue
        do {
            listing = try JSONParser.parse(try await server.get("v1/shards", limit: 64 << 20))
            server.close()
        } catch {
            server.close()
            throw CommandFailure("GET \(url)/v1/shards: \(error)")
        }
        guard let entries = listing["shards"]?.arrayValue, !entries.isEmpty else { throw CommandFailure("GET /v1/shards lists no shard") }
        var ok = true
        for (position, entry) in entries.enumerated() {
            guard entry["shard"]?.intValue == position else { throw CommandFailure("GET /v1/shards does not list shards 0 to n in order") }
            let origin = Shards.origin(base: base, shard: position)
            let shardVerifiers = try verifiers.map { try $0.renamed(origin) }
            let remote = try HTTPLog(url: "\(url)/v1/shards/\(position)", connections: min(readAhead, 32))
            let line = await mirror(remote: remote, verifiers: shardVerifiers, into: position == 0 ? out : "\(out)/v1/shards/\(position)")
            remote.close()
            print("shard \(position) (\(origin)): \(line.text)")
            ok = ok && line.ok
        }
        if !ok { throw ExitCode(1) }
    }

    private func mirror(remote: HTTPLog, verifiers: [NoteVerifier], into out: String) async -> (ok: Bool, text: String) {
        func failed(_ what: String) -> (Bool, String) { (false, "mirror: FAILED — \(what)") }
        let directory = URL(fileURLWithPath: out, isDirectory: true)
        let staging = directory.appendingPathComponent(".incoming", isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        } catch {
            return failed("cannot create \(staging.path): \(error)")
        }

        let checkpoint: VerifiedCheckpoint
        let note: String
        do {
            note = try await remote.checkpointNote()
            checkpoint = try CheckpointVerifier.verify(note: note, verifiers: verifiers)
        } catch {
            return failed("checkpoint from \(remote.checkpointLocation): \(error)")
        }
        let size = checkpoint.checkpoint.size
        let root = checkpoint.checkpoint.root
        let checkpointFile = directory.appendingPathComponent("checkpoint")

        // Where the mirror stands.
        var earlier: EarlierCheckpoint?
        if FileManager.default.fileExists(atPath: checkpointFile.path) {
            let held: VerifiedCheckpoint
            do {
                held = try CheckpointVerifier.verify(
                    note: String(decoding: try DirectoryLog.readFile(checkpointFile.path), as: UTF8.self), verifiers: verifiers)
            } catch {
                return failed("\(checkpointFile.path) is not a checkpoint signed by \(verifiers.map(\.keyName).joined(separator: " or ")): \(error)")
            }
            let heldSize = held.checkpoint.size
            if heldSize > size {
                return failed("the mirror holds \(heldSize) entries but the server's checkpoint only \(size): the server is behind or has rolled back")
            }
            if heldSize == size {
                guard held.checkpoint.root == root else {
                    return failed("the server's checkpoint of size \(size) has root \(root), the mirror's \(held.checkpoint.root): the log has forked")
                }
                return (true, "mirror: OK — up to date at \(size) entries, root \(root), checkpoint signed by \(checkpoint.signedBy.joined(separator: ", "))")
            }
            earlier = EarlierCheckpoint(held)
            if heldSize > 0 {
                do {
                    earlier?.consistencyProof = try await remote.consistencyProof(first: heldSize, second: size)
                } catch {
                    return failed("consistency proof from \(heldSize) to \(size): \(error)")
                }
            }
        }

        let source = MirrorSource(directory: directory, staging: staging, remote: remote)
        let meter = ProgressMeter(label: "mirror", quiet: quiet)
        let report: AuditReport
        do {
            report = try await LogReplay(source: source, readAhead: readAhead).audit(
                checkpoint, from: earlier, progress: { meter.update($0) },
                onChecked: { tile, bytes in try source.stage(tile, bytes) })
        } catch {
            meter.clear()
            switch error.code {
            case .tileUnavailable, .cancelled, .storeFailed:
                // Nothing failed verification: keep what was checked for the next run.
                break
            default:
                // Tiles checked against a tree that turned out wrong must not be reused.
                try? FileManager.default.removeItem(at: staging)
            }
            return failed(error.message)
        }
        meter.finish(report)

        // Publish: tiles first, then the checkpoint, then the old size's partial tiles.
        do {
            let published = try source.publishStaged()
            try MirrorSource.writeAtomically(Array(note.utf8), to: checkpointFile)
            source.removeSupersededPartials(published)
            try? FileManager.default.removeItem(at: staging)
        } catch {
            return failed("publishing into \(directory.path): \(error)")
        }
        let counts = source.counts
        let from = earlier.map { " (\(report.entriesReplayed) new since \($0.size))" } ?? ""
        return (
            true,
            "mirror: OK — \(size) entries\(from), root \(root), checkpoint signed by \(checkpoint.signedBy.joined(separator: ", ")); \(counts.downloaded) tiles downloaded, \(counts.reused) reused from disk"
        )
    }
}

/// Tiles for the mirror's replay: full tiles already on disk (published or
/// staged by an interrupted run) are read from disk, everything else from
/// the server. Checked tiles are staged under DIR/.incoming.
final class MirrorSource: TileSource {
    let directory: URL
    let staging: URL
    let remote: HTTPLog
    private let tally = Mutex<(downloaded: Int, reused: Int)>((0, 0))

    init(directory: URL, staging: URL, remote: HTTPLog) {
        self.directory = directory
        self.staging = staging
        self.remote = remote
    }

    var counts: (downloaded: Int, reused: Int) { tally.withLock { ($0.downloaded, $0.reused) } }

    func read(_ tile: Tile) async throws -> [UInt8] {
        if tile.isFull {
            for base in [directory, staging] {
                if let bytes = try? DirectoryLog.readFile(base.appendingPathComponent(tile.path).path) {
                    tally.withLock { $0.reused += 1 }
                    return bytes
                }
            }
        }
        let bytes = try await remote.read(tile)
        tally.withLock { $0.downloaded += 1 }
        return bytes
    }

    /// Keeps a checked tile in the staging area, unless it is already published.
    /// Keeps a checked tile in the staging area, unless it is already there or published.
    func stage(_ tile: Tile, _ bytes: [UInt8]) throws {
        let staged = staging.appendingPathComponent(tile.path)
        if tile.isFull {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent(tile.path).path) { return }
            if FileManager.default.fileExists(atPath: staged.path) { return }
        }
        // Not synced one by one: publishing syncs the file system once before the checkpoint moves.
        try MirrorSource.writeAtomically(bytes, to: staged, sync: false)
    }

    /// Moves every staged tile into the published layout, durably; returns their paths.
    func publishStaged() throws -> [String] {
        let prefix = staging.standardizedFileURL.path + "/"
        var paths: [String] = []
        if let walker = FileManager.default.enumerator(at: staging, includingPropertiesForKeys: [.isRegularFileKey]) {
            for case let file as URL in walker where (try? file.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
                let path = String(file.standardizedFileURL.path.dropFirst(prefix.count))
                if Tile(path: path) != nil { paths.append(path) } // skips temp files of an interrupted write
            }
        }
        try MirrorSource.syncFileSystem(of: directory)
        for path in paths {
            let target = directory.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard rename(staging.appendingPathComponent(path).path, target.path) == 0 else {
                throw CommandFailure("rename into \(target.path): \(String(cString: strerror(errno)))")
            }
        }
        try MirrorSource.syncFileSystem(of: directory)
        return paths
    }

    /// Every write and rename so far reaches the disk: one sync(2) for all
    /// the staged tiles instead of an fsync per file (Glibc's module map
    /// does not export syncfs).
    static func syncFileSystem(of directory: URL) throws {
        sync()
    }

    /// After the checkpoint moved on: partial tiles of other widths at the
    /// published positions (and all partials of tiles now full) are stale.
    func removeSupersededPartials(_ published: [String]) {
        for path in published {
            guard let tile = Tile(path: path) else { continue }
            let full = Tile(kind: tile.kind, index: tile.index, width: Tile.fullWidth)
            let partials = directory.appendingPathComponent(full.path + ".p", isDirectory: true)
            if tile.isFull {
                try? FileManager.default.removeItem(at: partials)
            } else if let widths = try? FileManager.default.contentsOfDirectory(atPath: partials.path) {
                for width in widths where width != String(tile.width) {
                    try? FileManager.default.removeItem(at: partials.appendingPathComponent(width))
                }
            }
        }
    }

    /// Writes to a temporary file beside `target`, syncs it (unless told not to), and renames it into place.
    static func writeAtomically(_ bytes: [UInt8], to target: URL, sync: Bool = true) throws {
        let folder = target.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let temp = folder.appendingPathComponent(".\(target.lastPathComponent).\(UUID().uuidString).tmp")
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CommandFailure("create \(temp.path): \(String(cString: strerror(errno)))") }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let message = String(cString: strerror(errno))
                close(fd)
                unlink(temp.path)
                throw CommandFailure("write \(temp.path): \(message)")
            }
            done += n
        }
        guard !sync || fsync(fd) == 0, close(fd) == 0 else {
            unlink(temp.path)
            throw CommandFailure("sync \(temp.path): \(String(cString: strerror(errno)))")
        }
        guard rename(temp.path, target.path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temp.path)
            throw CommandFailure("rename \(temp.path) → \(target.path): \(message)")
        }
        if sync {
            // The rename itself is durable once the directory is.
            let folderFD = open(folder.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if folderFD >= 0 {
                _ = fsync(folderFD)
                close(folderFD)
            }
        }
    }
}
