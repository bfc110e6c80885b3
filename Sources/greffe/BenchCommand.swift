import ArgumentParser
import CGreffeSHA256
import Dispatch
import Foundation
import GreffeCore
import GreffeVerify

/// `greffe bench`: Greffe's performance figures, each beside a reference
/// measured in the same run on the same machine (issue 5).
///
/// Adding a benchmark: write a type conforming to `Benchmark` in its own
/// file and add one instance to `BenchCommand.registry`. A benchmark
/// returns rows; the command prints them as a table and writes them as JSON.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run the performance benchmarks; each figure is printed beside its reference, measured in the same run.",
        discussion: "Benchmarks: " + BenchCommand.registry.map { "\($0.name) (\($0.summary))" }.joined(separator: "; ")
            + ". Single-thread hash figures are per CPU second (as openssl speed counts); all others are wall-clock: run on an otherwise idle machine."
    )

    /// Every benchmark, in the order they run when none is named.
    static let registry: [any Benchmark] = [HashBenchmark(), VerifyBenchmark(), AuditBenchmark(), AppendBenchmark(), ServeBenchmark(), SearchBenchmark(), VerifyBundleBenchmark(), CommitmentBenchmark(), LookupBenchmark(), SignatureBenchmark(), RelayBenchmark()]

    @Argument(help: "Benchmarks to run (default: all).")
    var names: [String] = []

    @Option(name: .long, help: "Also write the results as JSON to this file.")
    var json: String?

    @Option(name: .long, help: "verify: inclusion proofs to check.")
    var proofs: Int = 1_000_000

    @Option(name: .long, help: "verify: log₂ of the tree's leaf count.")
    var treeLog2: Int = 20

    @Option(name: .long, help: "audit: entries in the synthetic log.")
    var entries: Int = 1_000_000

    @Option(name: .long, help: "verify-bundle: events in the greffe-bundle/v3 bundle.")
    var bundleEvents: Int = 1_000_000

    @Option(name: .long, help: "verify-bundle: the entries' layout, 2 (field tree: what the ledger writes) or 1 (whole-body commitment, entries written before).")
    var entryLayout: Int = 2

    @Option(name: .long, help: "verify-bundle: events in the greffe-bundle/v2 bundle measured beside it (0: none).")
    var v2Events: Int = 100_000

    @Option(name: .long, help: "lookup: corpus sizes of stored PDQ hashes, one run each (repeat the option).")
    var pdqHashes: [Int] = [1_000_000, 10_000_000]

    @Option(name: .long, help: "Seconds each hash measurement (ours and openssl speed) runs.")
    var seconds: Int = 3

    @Option(name: .long, help: "Threads for the all-threads figures (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "The Greffe source tree (for Tests/Interop/tlogbench); found from the working directory by default.")
    var sourceRoot: String?

    @Option(
        name: .long,
        help: "append: also run on PostgreSQL, in a new database created on this server (postgres://user@host:port/postgres?sslmode=disable).")
    var postgres: String?

    @Flag(name: .long, help: "Keep the temporary directory (proof file, synthetic logs).")
    var keep = false

    func validate() throws {
        let known = Set(BenchCommand.registry.map(\.name))
        for name in names where !known.contains(name) {
            throw ValidationError("unknown benchmark \(name); known: \(BenchCommand.registry.map(\.name).joined(separator: ", "))")
        }
        guard proofs >= 1, proofs <= 50_000_000 else { throw ValidationError("--proofs must be between 1 and 50,000,000") }
        guard (1...30).contains(treeLog2) else { throw ValidationError("--tree-log2 must be between 1 and 30") }
        guard entries >= 1, entries <= 100_000_000 else { throw ValidationError("--entries must be between 1 and 100,000,000") }
        guard bundleEvents >= 1, bundleEvents <= 50_000_000 else { throw ValidationError("--bundle-events must be between 1 and 50,000,000") }
        guard v2Events >= 0, v2Events <= 1_000_000 else { throw ValidationError("--v2-events must be between 0 and 1,000,000") }
        guard pdqHashes.allSatisfy({ (1_000...100_000_000).contains($0) }) else { throw ValidationError("--pdq-hashes must be between 1,000 and 100,000,000") }
        guard (1...60).contains(seconds) else { throw ValidationError("--seconds must be between 1 and 60") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() async throws {
        let selected = names.isEmpty ? BenchCommand.registry : BenchCommand.registry.filter { names.contains($0.name) }
        let context = try BenchContext(options: self)
        defer { context.cleanUp(keep: keep) }
        var rows: [BenchRow] = []
        for benchmark in selected {
            // The previous benchmark's files (a million-entry log, tiles, a database) are
            // written back now rather than during this one's measurements.
            sync()
            context.say("\(benchmark.name): \(benchmark.summary)")
            rows += try await benchmark.run(context)
        }
        print(BenchRow.table(rows))
        if let json {
            let document = BenchDocument(
                date: RFC3339Time.formatWholeSeconds(UInt64(Date().timeIntervalSince1970)), cores: ProcessInfo.processInfo.activeProcessorCount,
                cpu: BenchContext.cpuModel(), results: rows)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(document).write(to: URL(fileURLWithPath: json))
            context.say("wrote \(json)")
        }
    }
}

// MARK: - Rows, the table, the JSON

/// One figure: `value` beside `referenceValue`, `ratio` = value ÷ reference.
struct BenchRow: Codable, Sendable {
    var name: String
    var value: Double
    var unit: String
    var reference: String?
    var referenceValue: Double?
    var ratio: Double?
    var note: String?

    init(_ name: String, _ value: Double, _ unit: String, reference: String? = nil, referenceValue: Double? = nil, note: String? = nil) {
        self.name = name
        self.value = value
        self.unit = unit
        self.reference = reference
        self.referenceValue = referenceValue
        self.ratio = referenceValue.flatMap { $0 > 0 ? value / $0 : nil }
        self.note = note
    }

    static func table(_ rows: [BenchRow]) -> String {
        let header = ["benchmark", "value", "unit", "reference", "ref. value", "ratio"]
        var lines = rows.map { row in
            [
                row.name, format(row.value), row.unit, row.reference ?? "—", row.referenceValue.map(format) ?? "—",
                row.ratio.map { String(format: "%.2f×", $0) } ?? "—",
            ]
        }
        lines.insert(header, at: 0)
        let widths = (0..<header.count).map { column in lines.map { $0[column].count }.max() ?? 0 }
        var out = lines.map { line in
            zip(line, widths).enumerated().map { column, cell in
                let padding = String(repeating: " ", count: cell.1 - cell.0.count)
                return column == 1 || column == 4 || column == 5 ? padding + cell.0 : cell.0 + padding
            }.joined(separator: "  ")
        }
        out.insert(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "), at: 1)
        let notes = rows.compactMap { row in row.note.map { "  \(row.name): \($0)" } }
        return out.joined(separator: "\n") + (notes.isEmpty ? "" : "\nnotes:\n" + notes.joined(separator: "\n"))
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 {
            let formatter = NumberFormatter()
            formatter.numberStyle = .decimal
            formatter.groupingSeparator = ","
            formatter.maximumFractionDigits = 0
            return formatter.string(from: NSNumber(value: value)) ?? String(value)
        }
        if abs(value) >= 1000 { return format(value.rounded()) }
        return String(format: abs(value) >= 10 ? "%.1f" : "%.2f", value)
    }
}

struct BenchDocument: Codable {
    var date: String
    var cores: Int
    var cpu: String
    var results: [BenchRow]
}

// MARK: - Benchmarks

/// A named benchmark.
protocol Benchmark: Sendable {
    var name: String { get }
    var summary: String { get }
    func run(_ context: BenchContext) async throws -> [BenchRow]
}

/// What benchmarks share: options, a scratch directory, figures measured
/// earlier in the run, helpers to run tools.
final class BenchContext: @unchecked Sendable {
    let options: BenchCommand
    let scratch: URL
    /// Node-hash rates measured in this run (hashes/s), by thread count.
    var nodeHashRates: [Int: Double] = [:]
    /// SHA-256 compression time (ns per 64-byte block) from openssl's bulk rate.
    var compressionNanoseconds: Double?

    init(options: BenchCommand) throws {
        self.options = options
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-bench-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    func cleanUp(keep: Bool) {
        if keep { say("kept \(scratch.path)") } else { try? FileManager.default.removeItem(at: scratch) }
    }

    func say(_ text: String) {
        FileHandle.standardError.write(Data("bench \(text)\n".utf8))
    }

    var threads: Int { options.threads }

    /// The node-hash rate on `threads` threads, measured once per run.
    func nodeHashRate(threads: Int) -> Double {
        if let rate = nodeHashRates[threads] { return rate }
        let rate = NodeHashMeter.rate(threads: threads, seconds: Double(options.seconds))
        nodeHashRates[threads] = rate
        return rate
    }

    /// `openssl speed -mr -bytes N -evp sha256 -seconds S`: bytes per second
    /// of user CPU time (openssl's own measure), or nil without openssl.
    /// (Run through posix_spawn with a clean signal mask: it stops on SIGALRM.)
    /// With `processes` > 1, `-multi`: the total over that many processes.
    func opensslSpeed(bytes: Int, seconds: Int, processes: Int = 1) -> Double? {
        let multi = processes > 1 ? ["-multi", "\(processes)"] : []
        guard BenchContext.onPath("openssl"),
            let run = try? ChildRun.run(
                ["openssl", "speed", "-mr"] + multi + ["-bytes", "\(bytes)", "-evp", "sha256", "-seconds", "\(seconds)"],
                scratch: scratch, check: true)
        else { return nil }
        // Machine-readable result line: +F:<n>:sha256:<bytes per second>
        for line in (run.stdout + run.stderr).split(separator: "\n") where line.hasPrefix("+F:") {
            if let value = line.split(separator: ":").last.flatMap({ Double($0) }) { return value }
        }
        return nil
    }

    /// Runs a command found on PATH and waits for it: its stdout followed by
    /// its stderr, or an error naming it when it does not exit 0.
    /// `environment` replaces the whole environment when given.
    static func capture(_ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil) throws -> String {
        let run = try ChildRun.run(
            arguments, environment: environment, directory: directory, scratch: FileManager.default.temporaryDirectory, check: true)
        return run.stdout + run.stderr
    }

    static func onPath(_ tool: String) -> Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)")
        }
    }

    /// The source tree: --source-root, else the nearest ancestor of the
    /// working directory or of this file's build path that has Tests/Interop/tlogbench.
    func sourceRoot() -> URL? {
        var candidates: [URL] = []
        if let root = options.sourceRoot { candidates.append(URL(fileURLWithPath: root)) }
        var directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        for _ in 0..<6 {
            candidates.append(directory)
            directory = directory.deletingLastPathComponent()
        }
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent())
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("Tests/Interop/tlogbench/main.go").path) }
    }

    static func cpuModel() -> String {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in info.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        }
        return "unknown"
    }

    /// Wall time of `body` in seconds.
    static func time(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }
}

/// Node hashes (SHA-256 of 65 bytes) through the hot path, CGreffeSHA256,
/// chained so that no hash can be skipped or reordered.
enum NodeHashMeter {
    /// Hashes per second for about `seconds`: on one thread per second of
    /// the thread's CPU time (as `openssl speed` counts, so a busy machine
    /// does not skew the comparison); on several threads per second of wall
    /// time (the throughput all cores give together).
    static func rate(threads: Int, seconds: Double) -> Double {
        // Calibrate a per-thread count on one thread.
        let probe = 200_000
        let probeTime = threadCPUTime { chain(probe, seed: 1) }
        let perThread = max(probe, Int(Double(probe) / probeTime * seconds))
        if threads == 1 {
            return Double(perThread) / threadCPUTime { chain(perThread, seed: 2) }
        }
        let elapsed = BenchContext.time {
            DispatchQueue.concurrentPerform(iterations: threads) { chain(perThread, seed: UInt8(truncatingIfNeeded: $0 + 3)) }
        }
        return Double(perThread * threads) / elapsed
    }

    /// CPU seconds the calling thread spends in `body`.
    static func threadCPUTime(_ body: () -> Void) -> Double {
        var start = timespec()
        var end = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start)
        body()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end)
        return Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) * 1e-9
    }

    @inline(never)
    static func chain(_ count: Int, seed: UInt8) {
        var left = [UInt8](repeating: seed, count: 32)
        let right = [UInt8](repeating: 0xA5, count: 32)
        left.withUnsafeMutableBufferPointer { l in
            right.withUnsafeBufferPointer { r in
                for _ in 0..<count { greffe_node_hash(l.baseAddress!, r.baseAddress!, l.baseAddress!) }
            }
        }
        if left[0] == 0 && left[1] == 0 && left[2] == 0 && left[3] == 0 { FileHandle.standardError.write(Data(".".utf8)) }
    }
}

/// `hash`: node hashes/s on 1 and all threads against `openssl speed`.
struct HashBenchmark: Benchmark {
    let name = "hash"
    let summary = "RFC 9162 node hashes/s (1 and all threads) vs openssl speed -evp sha256 on 65-byte messages"

    func run(_ context: BenchContext) async throws -> [BenchRow] {
        let seconds = context.options.seconds
        context.say("hash: openssl speed -bytes 65 -evp sha256 -seconds \(seconds)")
        let openssl65 = context.opensslSpeed(bytes: 65, seconds: seconds).map { $0 / 65 }
        context.say("hash: openssl speed -bytes 16384 -evp sha256 -seconds \(seconds) (compression floor)")
        let bulk = context.opensslSpeed(bytes: 16384, seconds: seconds)
        let blockNanoseconds = bulk.map { 64 / $0 * 1e9 }
        context.compressionNanoseconds = blockNanoseconds
        var opensslMulti: Double?
        if context.threads > 1 {
            context.say("hash: openssl speed -multi \(context.threads) -bytes 65 -evp sha256 -seconds \(seconds) (the hardware's scaling)")
            opensslMulti = context.opensslSpeed(bytes: 65, seconds: seconds, processes: context.threads).map { $0 / 65 }
        }
        context.say("hash: 1 thread")
        let one = context.nodeHashRate(threads: 1)
        context.say("hash: \(context.threads) threads")
        let all = context.nodeHashRate(threads: context.threads)
        let opensslNote = openssl65 == nil ? "openssl not found: no reference" : nil
        return [
            BenchRow(
                "hash.node.1-thread", one, "hashes/s",
                reference: "openssl speed -evp sha256, 65-byte msgs/s", referenceValue: openssl65, note: opensslNote),
            BenchRow(
                "hash.node.ns", 1e9 / one, "ns/hash",
                reference: "floor: 2 blocks at openssl's 16 KiB rate (ns)", referenceValue: blockNanoseconds.map { 2 * $0 },
                note: "issue 5 target: ratio ≤ 1.25"),
            BenchRow(
                "hash.node.\(context.threads)-threads", all, "hashes/s",
                reference: "hash.node.1-thread", referenceValue: one,
                note: "scaling; issue 5 target on 2 threads: ratio ≥ 1.8"),
        ] + (opensslMulti.map { multi in
            [
                BenchRow(
                    "hash.openssl.scaling", multi, "msgs/s",
                    reference: "openssl speed, 1 process", referenceValue: openssl65,
                    note: "openssl speed -multi \(context.threads): how far this machine's SHA-256 scales at all"),
            ]
        } ?? [])
    }
}

/// `verify`: the batch verifier on random proofs into a perfect tree, against
/// the node-hash floor and Go's tlog.CheckRecord on the same proofs.
struct VerifyBenchmark: Benchmark {
    let name = "verify"
    let summary = "batch inclusion proofs/s vs the node-hash floor and Go's tlog.CheckRecord on the same proofs"

    func run(_ context: BenchContext) async throws -> [BenchRow] {
        let height = context.options.treeLog2
        let size = UInt64(1) << UInt64(height)
        let count = context.options.proofs
        context.say("verify: building a tree of 2^\(height) random leaves and \(count) random proofs")
        var rng = BenchRandom(seed: 0x6772_6566_6665)
        var levels: [[Hash]] = [(0..<size).map { _ in rng.hash() }]
        for _ in 0..<height {
            let below = levels.last!
            levels.append((0..<(below.count / 2)).map { MerkleHash.node(below[2 * $0], below[2 * $0 + 1]) })
        }
        let root = levels[height][0]
        let claims: [InclusionClaim] = (0..<count).map { _ in
            let index = rng.next() % size
            // A perfect tree's PATH is the sibling at every level.
            let proof = (0..<height).map { level in levels[level][Int((index >> UInt64(level)) ^ 1)] }
            return InclusionClaim(index: index, leafHash: levels[0][Int(index)], proof: proof)
        }
        levels = []
        for claim in claims.prefix(100) {
            try ProofVerifier.verifyInclusion(index: claim.index, size: size, leafHash: claim.leafHash, proof: claim.proof, root: root)
        }

        context.say("verify: BatchVerifier on \(context.threads) threads")
        var outcome = BatchVerifier.Outcome(errors: [], nodeHashes: 0)
        let allTime = BenchContext.time { outcome = BatchVerifier.verifyCounting(claims, treeSize: size, root: root, threads: context.threads) }
        guard outcome.verifiedCount == count else { throw CommandFailure("the batch verifier rejected \(count - outcome.verifiedCount) valid proofs") }
        context.say("verify: BatchVerifier on 1 thread")
        var single = BatchVerifier.Outcome(errors: [], nodeHashes: 0)
        let oneTime = BenchContext.time { single = BatchVerifier.verifyCounting(claims, treeSize: size, root: root, threads: 1) }
        guard single.verifiedCount == count else { throw CommandFailure("the batch verifier rejected valid proofs on 1 thread") }

        let rate = Double(count) / allTime
        let rateOne = Double(count) / oneTime
        let hashRate = context.nodeHashRate(threads: context.threads)
        let floor = Double(count) / (Double(outcome.nodeHashes) / hashRate)
        var rows = [
            BenchRow(
                "verify.batch.\(context.threads)t/floor", rate, "proofs/s",
                reference: "node-hash floor: distinct nodes ÷ hash rate", referenceValue: floor,
                note: "\(outcome.nodeHashes) node hashes for \(count) proofs at \(BenchRow.format(hashRate)) hashes/s (\(context.threads) threads); the rest is sorting and walking"),
            BenchRow(
                "verify.nodes-per-proof", Double(outcome.nodeHashes) / Double(count), "hashes",
                reference: "proof-by-proof hashes per proof", referenceValue: Double(height)),
        ]

        // Go's reference verifier on the same proofs.
        guard BenchContext.onPath("go") else {
            rows.insert(BenchRow("verify.batch.1t", rateOne, "proofs/s", note: "go not found: Go's tlog.CheckRecord skipped"), at: 1)
            return rows
        }
        guard let source = context.sourceRoot() else {
            rows.insert(BenchRow("verify.batch.1t", rateOne, "proofs/s", note: "Tests/Interop/tlogbench not found (use --source-root): Go skipped"), at: 1)
            return rows
        }
        let file = context.scratch.appendingPathComponent("proofs.bin")
        context.say("verify: writing the proofs for Go (\(file.path))")
        try writeProofs(claims, size: size, root: root, to: file)
        let binary = context.scratch.appendingPathComponent("tlogbench")
        var environment = ProcessInfo.processInfo.environment
        environment["GO111MODULE"] = "off"
        environment["GOPATH"] = "/usr/share/gocode"
        environment["GOFLAGS"] = ""
        if environment["HOME"] == nil && environment["GOCACHE"] == nil { environment["GOCACHE"] = context.scratch.appendingPathComponent("gocache").path }
        context.say("verify: building Tests/Interop/tlogbench (GOPATH mode)")
        _ = try ChildRun.run(
            ["go", "build", "-o", binary.path, "./Tests/Interop/tlogbench"], environment: environment, directory: source,
            scratch: context.scratch, check: true)
        context.say("verify: Go tlog.CheckRecord on the same \(count) proofs")
        let output = try ChildRun.run([binary.path, "-threads", "\(context.threads)", file.path], scratch: context.scratch, check: true).stdout
        try? FileManager.default.removeItem(at: file)
        struct GoResult: Decodable { let threads: Int; let rate: Double; let failures: Int }
        let results = try output.split(separator: "\n").filter { $0.hasPrefix("{") }.map {
            try JSONDecoder().decode(GoResult.self, from: Data($0.utf8))
        }
        guard let goOne = results.first(where: { $0.threads == 1 }), results.allSatisfy({ $0.failures == 0 }) else {
            throw CommandFailure("tlogbench: unexpected output: \(output.prefix(500))")
        }
        rows.insert(
            BenchRow(
                "verify.batch.\(context.threads)t/go-1", rate, "proofs/s",
                reference: "Go tlog.CheckRecord, 1 goroutine", referenceValue: goOne.rate, note: "issue 5 target: ratio ≥ 10"),
            at: 1)
        if let goAll = results.first(where: { $0.threads == context.threads && $0.threads > 1 }) {
            rows.insert(
                BenchRow(
                    "verify.batch.\(context.threads)t/go-\(goAll.threads)", rate, "proofs/s",
                    reference: "Go tlog.CheckRecord, \(goAll.threads) goroutines", referenceValue: goAll.rate),
                at: 2)
        }
        rows.append(BenchRow("verify.batch.1t/go-1", rateOne, "proofs/s", reference: "Go tlog.CheckRecord, 1 goroutine", referenceValue: goOne.rate))
        return rows
    }

    /// The proof file tlogbench reads (see its doc comment): little-endian.
    private func writeProofs(_ claims: [InclusionClaim], size: UInt64, root: Hash, to url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else { throw CommandFailure("cannot create \(url.path)") }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var buffer: [UInt8] = Array("GRFTLOG1".utf8)
        func put(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) } }
        func put(_ hash: Hash) { withUnsafeBytes(of: hash) { buffer.append(contentsOf: $0) } }
        put(size)
        put(root)
        put(UInt64(claims.count))
        for claim in claims {
            put(claim.index)
            put(claim.leafHash)
            buffer.append(UInt8(claim.proof.count))
            for hash in claim.proof { put(hash) }
            if buffer.count >= 8 << 20 {
                try handle.write(contentsOf: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try handle.write(contentsOf: buffer)
    }
}

/// `audit`: a full replay of a synthetic log from tiles on disk, run as
/// `greffe audit --tiles` in a child process so that its peak memory is its own.
struct AuditBenchmark: Benchmark {
    let name = "audit"
    let summary = "entries/s of a full replay from tiles on disk, and peak memory (vs a log 10× smaller)"

    func run(_ context: BenchContext) async throws -> [BenchRow] {
        let entries = UInt64(context.options.entries)
        let small = max(1, entries / 10)
        let signer = try NoteSigner(generatingFor: "bench.greffe.test/audit")
        let vkey = context.scratch.appendingPathComponent("bench.vkey")
        try Data(signer.verifier.verifierKey.utf8).write(to: vkey)

        var results: [UInt64: ChildRun] = [:]
        for size in [small, entries] {
            let directory = context.scratch.appendingPathComponent("log-\(size)")
            context.say("audit: writing a valid \(size)-entry log and its tiles to \(directory.path) (not timed)")
            try SyntheticLog.write(entries: size, to: directory, signer: signer)
            context.say("audit: greffe audit --tiles \(directory.path)")
            let run = try ChildRun.greffe(["audit", "--tiles", directory.path, "--vkey", vkey.path], scratch: context.scratch)
            guard run.status == 0, run.stdout.contains("audit: OK") else {
                throw CommandFailure("greffe audit failed on the synthetic log: \(run.stdout) \(run.stderr.suffix(1000))")
            }
            results[size] = run
            if !context.options.keep { try? FileManager.default.removeItem(at: directory) }
        }
        let big = results[entries]!
        let replaySeconds = big.replaySeconds ?? big.seconds
        let rate = Double(entries) / replaySeconds
        // 4 compression blocks per entry: its leaf hash (~100 bytes: 2 blocks) and one node (2 blocks).
        var floor: Double?
        if let block = context.compressionNanoseconds ?? context.opensslSpeed(bytes: 16384, seconds: 1).map({ 64 / $0 * 1e9 }) {
            floor = Double(context.threads) * 1e9 / (4 * block)
        }
        return [
            BenchRow(
                "audit.replay", rate, "entries/s",
                reference: "SHA-256 floor: 4 blocks/entry on \(context.threads) cores", referenceValue: floor,
                note: "\(entries) entries replayed in \(String(format: "%.3f", replaySeconds)) s; issue 5 target ≥ 3,000,000 entries/s"),
            BenchRow(
                "audit.end-to-end", Double(entries) / big.seconds, "entries/s",
                note: "the whole greffe audit process: start-up, signature, replay"),
            BenchRow(
                "audit.peak-memory", Double(big.peakKilobytes) / 1024, "MiB",
                reference: "peak memory at \(small) entries", referenceValue: Double(results[small]!.peakKilobytes) / 1024,
                note: "the audit process's VmHWM; flat memory: ratio ≈ 1"),
        ]
    }
}

/// A valid log on disk: layout-1 entries with their hash chain, all tiles in
/// the C2SP layout, a signed checkpoint.
enum SyntheticLog {
    static func write(entries: UInt64, to directory: URL, signer: NoteSigner) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var created = Set<String>()
        func store(_ tile: Tile, _ bytes: [UInt8]) throws {
            let url = directory.appendingPathComponent(tile.path)
            let folder = url.deletingLastPathComponent().path
            if !created.contains(folder) {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                created.insert(folder)
            }
            guard FileManager.default.createFile(atPath: url.path, contents: Data(bytes)) else {
                throw CommandFailure("cannot write \(url.path)")
            }
        }
        var rng = BenchRandom(seed: entries)
        var builder = TiledLogBuilder()
        var prev = Hash.zero
        var time: UInt64 = 1_760_000_000_000
        let kinds = ["generation.requested", "generation.completed", "content.flagged", "edit.requested"]
        for index in 0..<entries {
            time += rng.next() & 1
            let entry = LedgerEntry(
                index: index, sequencedAtMilliseconds: time, prev: prev, commitment: rng.hash(),
                kind: kinds[Int(index % UInt64(kinds.count))]
            ).encoded
            prev = MerkleHash.leaf(entry)
            try builder.append(entry, emit: store)
        }
        for (tile, bytes) in builder.partialTiles { try store(tile, bytes) }
        let checkpoint = Checkpoint(origin: signer.name, size: entries, root: builder.root)
        try Data(try signer.sign(text: checkpoint.text).formatted.utf8).write(to: directory.appendingPathComponent("checkpoint"))
    }
}

/// A finished child process: exit status, output, wall time and memory.
struct ChildRun {
    var status: Int32
    var stdout: String
    var stderr: String
    var seconds: Double
    /// wait4's ru_maxrss. After posix_spawn it also counts the spawning
    /// parent's pages (Linux carries the old mm's high-water mark across exec).
    var maxResidentKilobytes: Int
    /// User plus system CPU time.
    var cpuSeconds: Double = 0

    var peakKilobytes: Int { reportedPeakKilobytes ?? maxResidentKilobytes }

    /// The replay time the audit reports on stderr ("replayed N entries in X s").
    var replaySeconds: Double? {
        guard let range = stderr.range(of: #"replayed \d+ entries in ([0-9.]+) s"#, options: .regularExpression) else { return nil }
        let match = stderr[range]
        return match.split(separator: " ").dropLast().last.flatMap { Double($0) }
    }

    /// The peak memory the audit reports on stderr ("peak memory X MiB"), in KiB.
    var reportedPeakKilobytes: Int? {
        guard let range = stderr.range(of: #"peak memory [0-9.]+ MiB"#, options: .regularExpression) else { return nil }
        return stderr[range].split(separator: " ")[2...].first.flatMap { Double($0) }.map { Int($0 * 1024) }
    }

    /// Runs this very executable with `arguments`.
    static func greffe(_ arguments: [String], scratch: URL) throws -> ChildRun {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return try run([executable] + arguments, scratch: scratch)
    }

    /// Runs `arguments` (the first found on PATH) and waits for it; fails unless it exits 0 when `check`.
    ///
    /// posix_spawn with the signal mask emptied and SIGALRM/SIGPIPE at their
    /// defaults: a child must not inherit this process's blocked signals
    /// (`openssl speed` stops on SIGALRM and would otherwise spin forever).
    static func run(
        _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil, scratch: URL, check: Bool = false
    ) throws -> ChildRun {
        var arguments = arguments
        if let directory {
            arguments = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory.path] + arguments
        }
        let tag = UUID().uuidString.prefix(8)
        let out = scratch.appendingPathComponent("child-\(tag).out").path
        let err = scratch.appendingPathComponent("child-\(tag).err").path
        defer {
            unlink(out)
            unlink(err)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGALRM)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let environment = environment ?? ProcessInfo.processInfo.environment
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let start = ContinuousClock.now
        let spawned = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard spawned == 0 else { throw CommandFailure("cannot start \(arguments[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw CommandFailure("wait4: \(String(cString: strerror(errno)))") }
        }
        let elapsed = ContinuousClock.now - start
        let exited = status & 0x7f == 0
        let result = ChildRun(
            status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f),
            stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "",
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18,
            maxResidentKilobytes: Int(usage.ru_maxrss),
            cpuSeconds: Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6)
        if check && result.status != 0 {
            throw CommandFailure("\(arguments.joined(separator: " ")) exited with \(result.status): \((result.stderr + result.stdout).suffix(2000))")
        }
        return result
    }
}

/// SplitMix64: seeded, so every run measures the same inputs.
struct BenchRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func hash() -> Hash {
        var hash = Hash.zero
        hash.withUnsafeMutableBytes { raw in
            for i in 0..<4 { raw.storeBytes(of: next(), toByteOffset: 8 * i, as: UInt64.self) }
        }
        return hash
    }
}
