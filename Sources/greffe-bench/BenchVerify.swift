import CGreffeSHA256
import Dispatch
import Foundation
import GreffeCore
import GreffeVerify

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
        guard outcome.verifiedCount == count else { throw BenchFailure("the batch verifier rejected \(count - outcome.verifiedCount) valid proofs") }
        context.say("verify: BatchVerifier on 1 thread")
        var single = BatchVerifier.Outcome(errors: [], nodeHashes: 0)
        let oneTime = BenchContext.time { single = BatchVerifier.verifyCounting(claims, treeSize: size, root: root, threads: 1) }
        guard single.verifiedCount == count else { throw BenchFailure("the batch verifier rejected valid proofs on 1 thread") }

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
            throw BenchFailure("tlogbench: unexpected output: \(output.prefix(500))")
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
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else { throw BenchFailure("cannot create \(url.path)") }
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
                throw BenchFailure("greffe audit failed on the synthetic log: \(run.stdout) \(run.stderr.suffix(1000))")
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
                throw BenchFailure("cannot write \(url.path)")
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
