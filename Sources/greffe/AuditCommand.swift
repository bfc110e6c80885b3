import ArgumentParser
import AsyncHTTPClient
import Foundation
import Glibc
import GreffeCore
import GreffeVerify
import NIOCore
import Synchronization

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Replay the whole log from its tiles: every entry, prev link, hash tile and the root, against the signed checkpoint.",
        discussion: """
            Reads the checkpoint and tiles from a server (--url) or a directory in the C2SP \
            tlog-tiles layout (--tiles, e.g. made by `greffe mirror`). With --from-checkpoint, \
            an earlier audited checkpoint, only the entries after it are replayed, once the \
            earlier tree is proved to be a prefix of the current one. Ends with one verdict \
            line; exit status 1 when anything fails.
            """
    )

    @Option(name: .long, help: "The log's base URL (serves /checkpoint and /tile/...).")
    var url: String?

    @Option(name: .long, help: "A directory holding checkpoint and tile/... (the C2SP tlog-tiles layout).")
    var tiles: String?

    @Option(
        name: .long,
        help: "The ledger's verifier key: a file holding name+keyid+key (or several, one per line, as DIR/verifier-keys), or the key itself. Repeatable: across a key rotation, each checkpoint must be signed by at least one.")
    var vkey: [String] = []

    @Option(name: .long, help: "A signed checkpoint audited before: replay only the entries after it.")
    var fromCheckpoint: String?

    @Option(name: .long, help: "Tiles in flight / entry bundles per read-ahead window.")
    var readAhead: Int = 64

    @Flag(name: .long, help: "No progress lines on stderr.")
    var quiet = false

    @Flag(
        name: .long,
        help: "With --url and the ledger's base key: audit every temporal shard (GET /v1/shards, each under /v1/shards/<k>/ with its own key) and every link between them (Schemas/shards.md).")
    var allShards = false

    @OptionGroup var witnessOptions: WitnessPolicyOptions

    func validate() throws {
        guard (url == nil) != (tiles == nil) else { throw ValidationError("give exactly one of --url and --tiles") }
        guard (1...1024).contains(readAhead) else { throw ValidationError("--read-ahead must be between 1 and 1024") }
        guard !vkey.isEmpty else { throw ValidationError("give the ledger's verifier key: --vkey FILE (repeatable)") }
        if allShards {
            guard url != nil else { throw ValidationError("--all-shards reads the server's shard list: give --url") }
            guard fromCheckpoint == nil else { throw ValidationError("--all-shards audits every shard whole; --from-checkpoint is for one log") }
        }
        _ = try witnessOptions.policy()
    }

    func run() async throws {
        let verifiers = try loadVerifiers(vkey)
        let witnesses = try witnessOptions.policy()
        if allShards, let url {
            let ok = await ShardAudit(url: url, verifiers: verifiers, readAhead: readAhead, quiet: quiet, witnesses: witnesses).run()
            if !ok { throw ExitCode(1) }
            return
        }
        let log: any LogLocation = try url.map { try HTTPLog(url: $0, connections: min(readAhead, 32)) } ?? DirectoryLog(path: tiles!)
        defer { log.close() }
        let verdict = await AuditCommand.audit(
            log: log, verifiers: verifiers, earlierNotePath: fromCheckpoint, readAhead: readAhead, quiet: quiet, witnesses: witnesses)
        print(verdict.line)
        if !verdict.ok { throw ExitCode(1) }
    }

    struct Verdict {
        var ok: Bool
        var line: String
        /// The audited checkpoint, when the audit passed.
        var checkpoint: Checkpoint?
    }

    /// The whole audit, shared with `greffe bench audit` (which runs it in a child process).
    static func audit(
        log: any LogLocation, verifier: NoteVerifier, earlierNotePath: String?, readAhead: Int, quiet: Bool
    ) async -> Verdict {
        await audit(log: log, verifiers: [verifier], earlierNotePath: earlierNotePath, readAhead: readAhead, quiet: quiet)
    }

    /// With several keys of the log (a rotation): each checkpoint needs a valid signature by one of them.
    static func audit(
        log: any LogLocation, verifiers: [NoteVerifier], earlierNotePath: String?, readAhead: Int, quiet: Bool, witnesses: WitnessQuorum? = nil
    ) async -> Verdict {
        func failed(_ what: String) -> Verdict { Verdict(ok: false, line: "audit: FAILED — \(what)", checkpoint: nil) }
        let checkpoint: VerifiedCheckpoint
        do {
            checkpoint = try CheckpointVerifier.verify(note: try await log.checkpointNote(), verifiers: verifiers)
        } catch {
            return failed("checkpoint from \(log.checkpointLocation): \(error)")
        }
        let size = checkpoint.checkpoint.size
        var cosigned = ""
        if let witnesses {
            // The quorum is checked before the replay: without it the checkpoint is not one this auditor trusts.
            let check = witnesses.check(noteText: checkpoint.noteText)
            guard check.meetsQuorum, check.invalid.isEmpty else {
                return failed("checkpoint from \(log.checkpointLocation) lacks the witness cosignatures required: \(check.shortfall)")
            }
            cosigned = "; cosigned by " + check.cosigned.map { "\($0.witness) at \($0.time)" }.joined(separator: ", ")
        }
        var earlier: EarlierCheckpoint?
        if let earlierNotePath {
            let old: VerifiedCheckpoint
            do {
                guard let data = FileManager.default.contents(atPath: earlierNotePath) else { return failed("cannot read \(earlierNotePath)") }
                old = try CheckpointVerifier.verify(note: String(decoding: data, as: UTF8.self), verifiers: verifiers)
            } catch {
                return failed("earlier checkpoint \(earlierNotePath): \(error)")
            }
            earlier = EarlierCheckpoint(old)
            // A server proves consistency itself; a directory has no proof endpoint, and the
            // replay recomputes the earlier root from the tiles instead.
            if log.servesProofs, old.checkpoint.size > 0, old.checkpoint.size < size {
                do {
                    earlier?.consistencyProof = try await log.consistencyProof(first: old.checkpoint.size, second: size)
                } catch {
                    return failed("consistency proof from \(old.checkpoint.size) to \(size): \(error)")
                }
            }
        }
        let meter = ProgressMeter(label: "audit", quiet: quiet)
        let replay = LogReplay(source: log, readAhead: readAhead)
        do {
            let report = try await replay.audit(checkpoint, from: earlier, progress: { meter.update($0) })
            meter.finish(report)
            let replayed = earlier.map { " (\(report.entriesReplayed) replayed after the audited checkpoint of size \($0.size))" } ?? ""
            // Consistent, yet worth a reader's eye: the log says part of it came back without its events.
            let restores = report.restoreRecords.map {
                "\naudit: note — entry \($0) records a restore (ledger.restored): entries before it were put back from a copy of the log and their events are lost; the record's body gives the range"
            }
            return Verdict(
                ok: true,
                line:
                    "audit: OK — \(size) entries\(replayed), root \(checkpoint.checkpoint.root), checkpoint signed by \(checkpoint.signedBy.joined(separator: ", "))\(cosigned)"
                    + restores.joined(), checkpoint: checkpoint.checkpoint)
        } catch {
            meter.clear()
            return failed(error.message)
        }
    }
}

// MARK: - Where a log is read from

/// A published log: its checkpoint, its tiles, and (for a server) its proofs.
protocol LogLocation: TileSource {
    var checkpointLocation: String { get }
    var servesProofs: Bool { get }
    func checkpointNote() async throws -> String
    func consistencyProof(first: UInt64, second: UInt64) async throws -> [Hash]
    func close()
}

/// A directory in the C2SP tlog-tiles layout: DIR/checkpoint, DIR/tile/0/000, ….
struct DirectoryLog: LogLocation {
    let root: URL

    init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CommandFailure("\(path) is not a directory")
        }
        root = URL(fileURLWithPath: path, isDirectory: true)
    }

    var checkpointLocation: String { root.appendingPathComponent("checkpoint").path }
    var servesProofs: Bool { false }

    func checkpointNote() async throws -> String {
        String(decoding: try DirectoryLog.readFile(checkpointLocation), as: UTF8.self)
    }

    func consistencyProof(first: UInt64, second: UInt64) async throws -> [Hash] {
        throw CommandFailure("a tile directory serves no proofs")
    }

    func read(_ tile: Tile) async throws -> [UInt8] {
        try DirectoryLog.readFile(root.appendingPathComponent(tile.path).path)
    }

    func close() {}

    struct Missing: Error, CustomStringConvertible {
        let path: String
        let errno: Int32
        var description: String { "\(path): \(String(cString: strerror(errno)))" }
    }

    /// The whole file, with plain POSIX calls (tiles are small and many).
    static func readFile(_ path: String, limit: Int = 32 << 20) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Missing(path: path, errno: errno) }
        defer { Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Missing(path: path, errno: errno) }
        let size = Int(info.st_size)
        guard size <= limit else { throw CommandFailure("\(path) is larger than \(limit) bytes") }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, size - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Missing(path: path, errno: n == 0 ? EIO : errno) }
            done += n
        }
        return bytes
    }
}

/// A Greffe server: C2SP tlog-tiles plus `/v1/proofs/consistency`, over
/// AsyncHTTPClient with several connections (tiles are read many at a time).
final class HTTPLog: LogLocation {
    let base: String
    let client: HTTPClient

    init(url: String, connections: Int = 16) throws {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        guard let parsed = URL(string: base), let scheme = parsed.scheme, ["http", "https"].contains(scheme), parsed.host != nil else {
            throw CommandFailure("--url must be an http(s) URL, e.g. http://127.0.0.1:8080")
        }
        self.base = base
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, connections))
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    var checkpointLocation: String { base + "/checkpoint" }
    var servesProofs: Bool { true }

    struct Status: Error, CustomStringConvertible {
        let url: String
        let status: UInt
        let body: String
        var description: String { "GET \(url): HTTP \(status)\(body.isEmpty ? "" : " \(body)")" }
    }

    /// GET `path` below the base URL; retries transport errors and 5xx twice.
    func get(_ path: String, limit: Int) async throws -> [UInt8] {
        let url = base + "/" + path
        var attempt = 0
        while true {
            attempt += 1
            do {
                let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
                let body = try await response.body.collect(upTo: limit)
                let bytes = Array(body.readableBytesView)
                guard response.status.code == 200 else {
                    let error = Status(url: url, status: response.status.code, body: String(decoding: bytes.prefix(200), as: UTF8.self))
                    if response.status.code >= 500 && attempt < 3 { throw error }
                    throw Final(error: error)
                }
                return bytes
            } catch let final as Final {
                throw final.error
            } catch {
                if attempt >= 3 || error is CancellationError { throw error }
                try await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
    }

    private struct Final: Error { let error: any Error }

    func checkpointNote() async throws -> String {
        String(decoding: try await get("checkpoint", limit: SignedNote.maxNoteBytes), as: UTF8.self)
    }

    func read(_ tile: Tile) async throws -> [UInt8] {
        // The largest bundle: 256 entries of at most 65,535 bytes, each with its 2-byte length.
        try await get(tile.path, limit: Tile.fullWidth * (2 + EntryBundle.maxEntryLength))
    }

    struct ConsistencyAnswer: Decodable {
        let first: UInt64
        let second: UInt64
        let proof: [String]
    }

    func consistencyProof(first: UInt64, second: UInt64) async throws -> [Hash] {
        let bytes = try await get("v1/proofs/consistency?first=\(first)&second=\(second)", limit: 1 << 20)
        let answer = try JSONDecoder().decode(ConsistencyAnswer.self, from: Data(bytes))
        guard answer.first == first, answer.second == second else {
            throw CommandFailure("the server answered a consistency proof from \(answer.first) to \(answer.second), not \(first) to \(second)")
        }
        return try answer.proof.map { text in
            guard let hash = Hash(base64: text) else { throw CommandFailure("consistency proof element \(text.prefix(60)) is not base64 of 32 bytes") }
            return hash
        }
    }

    func close() {
        try? client.syncShutdown()
    }
}

// MARK: - Progress

/// Progress on stderr at most once a second, with rate and ETA, overwritten in place on a terminal.
final class ProgressMeter: Sendable {
    let label: String
    let quiet: Bool
    let interactive = isatty(STDERR_FILENO) == 1
    private let state = Mutex<(lastPrint: Double, printed: Bool)>((0, false))

    init(label: String, quiet: Bool) {
        self.label = label
        self.quiet = quiet
    }

    func update(_ progress: ReplayProgress) {
        guard !quiet, progress.seconds >= 1, progress.entriesDone < progress.entriesTotal else { return }
        let due = state.withLock { state -> Bool in
            guard progress.seconds - state.lastPrint >= 1 else { return false }
            state = (progress.seconds, true)
            return true
        }
        guard due else { return }
        let percent = Double(progress.entriesDone) / Double(max(progress.entriesTotal, 1)) * 100
        let eta = progress.etaSeconds.map { "ETA \(ProgressMeter.duration($0))" } ?? "ETA ?"
        let line = "\(label): \(progress.entriesDone)/\(progress.entriesTotal) entries (\(String(format: "%.1f", percent))%), \(ProgressMeter.rate(progress.rate)) entries/s, \(eta)"
        write(interactive ? "\r\u{1B}[K" + line : line + "\n")
    }

    func clear() {
        if interactive && state.withLock({ $0.printed }) { write("\r\u{1B}[K") }
    }

    func finish(_ report: AuditReport) {
        clear()
        guard !quiet else { return }
        let rate = report.seconds > 0 ? Double(report.entriesReplayed) / report.seconds : 0
        let memory = ProgressMeter.peakResidentKilobytes().map { String(format: ", peak memory %.1f MiB", Double($0) / 1024) } ?? ""
        write(
            "\(label): replayed \(report.entriesReplayed) entries in \(String(format: "%.3f", report.seconds)) s (\(ProgressMeter.rate(rate)) entries/s), read \(report.tilesRead) tiles (\(String(format: "%.1f", Double(report.bytesRead) / 1e6)) MB)\(memory)\n")
    }

    /// This process's peak resident set (VmHWM, Linux). Unlike getrusage's
    /// ru_maxrss it is not inherited across exec from a spawning parent.
    static func peakResidentKilobytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func rate(_ value: Double) -> String {
        value >= 1e6 ? String(format: "%.2fM", value / 1e6) : value >= 1e3 ? String(format: "%.1fk", value / 1e3) : String(format: "%.0f", value)
    }

    static func duration(_ seconds: Double) -> String {
        seconds < 60 ? String(format: "%.0f s", seconds.rounded(.up)) : String(format: "%d min %02d s", Int(seconds) / 60, Int(seconds) % 60)
    }
}
