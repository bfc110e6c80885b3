import ArgumentParser
import CGreffeSHA256
import Dispatch
import Foundation
import GreffeCore
import GreffeVerify

/// `greffe bench`: Greffe's performance figures, each beside a reference
/// measured in the same run on the same machine (issue 5).
///
/// Its own executable, `greffe-bench`, so the product binary carries no
/// benchmark code; `greffe bench …` runs the `greffe-bench` beside it.
///
/// Adding a benchmark: write a type conforming to `Benchmark` in its own
/// file and add one instance to `BenchCommand.registry`. A benchmark
/// returns rows; the command prints them as a table and writes them as JSON.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "greffe bench",
        abstract: "Run the performance benchmarks; each figure is printed beside its reference, measured in the same run.",
        discussion: "Benchmarks: " + BenchCommand.registry.map { "\($0.name) (\($0.summary))" }.joined(separator: "; ")
            + ". Single-thread hash figures are per CPU second (as openssl speed counts); all others are wall-clock: run on an otherwise idle machine."
    )

    /// Every benchmark, in the order they run when none is named.
    static let registry: [any Benchmark] = [HashBenchmark(), VerifyBenchmark(), AuditBenchmark(), AppendBenchmark(), ServeBenchmark(), SearchBenchmark(), ShardLookupBenchmark(), VerifyBundleBenchmark(), CommitmentBenchmark(), LookupBenchmark(), SignatureBenchmark(), RelayBenchmark()]

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

    @Option(
        name: .long,
        help: "append with --postgres: rounds of each load, alternated between SQLite and PostgreSQL; the ratios are their medians.")
    var postgresRounds: Int = 3

    @Option(
        name: .long,
        help: "search: the SQLite file to fill (kept afterwards), or to reuse if it already holds --entries events; a temporary file by default.")
    var searchStore: String?

    @Option(
        name: .long,
        help: "search: lookups of each kind per pass; a p99 rests on its 1% slowest, 20 of the default 2,000 (more: steadier tails).")
    var searchLookups: Int = 2_000

    @Option(name: .long, help: "shard-lookup: sealed shards of 20,000 events to search across.")
    var lookupShards: Int = 40

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
        guard (1...15).contains(postgresRounds) else { throw ValidationError("--postgres-rounds must be between 1 and 15") }
        guard (100...1_000_000).contains(searchLookups) else { throw ValidationError("--search-lookups must be between 100 and 1,000,000") }
        guard (2...1_000).contains(lookupShards) else { throw ValidationError("--lookup-shards must be between 2 and 1,000") }
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

    /// The `greffe` measured: the one built beside this `greffe-bench`.
    static var greffeExecutable: String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("greffe").path
    }

    /// Runs `greffe` with `arguments`.
    static func greffe(_ arguments: [String], scratch: URL) throws -> ChildRun {
        try run([greffeExecutable] + arguments, scratch: scratch)
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
        guard spawned == 0 else { throw BenchFailure("cannot start \(arguments[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw BenchFailure("wait4: \(String(cString: strerror(errno)))") }
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
            throw BenchFailure("\(arguments.joined(separator: " ")) exited with \(result.status): \((result.stderr + result.stdout).suffix(2000))")
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
