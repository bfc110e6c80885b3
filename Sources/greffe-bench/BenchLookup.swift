import Foundation
import GreffeImage

/// `lookup`: PDQ near-duplicate search (PDQIndex, multi-index hashing) over
/// synthetic corpora of 10⁶ and 10⁷ hashes, against a linear scan of the same
/// hashes (a flat array of 64-bit words, four popcounts a hash) in the same run.
///
/// The corpus: 80% independent random hashes, 20% in clusters of 2–50
/// near-duplicates at distance 0–31 from their cluster's first hash (the
/// re-encodings and crops a real corpus holds). Queries: half hits (a stored
/// hash with 1–31 bits flipped), half misses (fresh random hashes).
struct LookupBenchmark: Benchmark {
    let name = "lookup"
    let summary = "PDQ lookup p50/p99 (distance ≤ 31) over --pdq-hashes (1,000,000 and 10,000,000) vs a linear popcount scan of the same hashes"

    func run(_ context: BenchContext) async throws -> [BenchRow] {
        var rows: [BenchRow] = []
        for count in context.options.pdqHashes {
            rows += measure(count: count, context)
        }
        return rows
    }

    private func measure(count: Int, _ context: BenchContext) -> [BenchRow] {
        let label = count % 1_000_000 == 0 ? "\(count / 1_000_000)M" : "\(count)"
        context.say("lookup: generating \(count) hashes (20% in near-duplicate clusters)")
        var random = BenchRandom(seed: 0x7064_7131 &+ UInt64(count))
        var hashes: [PDQHash] = []
        hashes.reserveCapacity(count)
        while hashes.count < count {
            let centre = Self.randomHash(&random)
            hashes.append(centre)
            // One in 25 hashes starts a cluster of 2–50: about 20% of the corpus clustered.
            if random.next() % 25 == 0 {
                for _ in 0..<min(Int(1 + random.next() % 49), count - hashes.count) {
                    hashes.append(Self.flip(centre, bits: Int(random.next() % 32), &random))
                }
            }
        }

        let residentBefore = Self.residentBytes()
        var index = PDQIndex()
        let buildSeconds = BenchContext.time {
            index = PDQIndex(hashes.enumerated().lazy.map { (hash: $0.element, entryIndex: UInt64($0.offset)) })
        }
        let indexBytes = Double(Self.residentBytes() - residentBefore)
        context.say("lookup: index of \(label) built in \(String(format: "%.2f", buildSeconds)) s")
        // Appends as the server makes them: timed over the last 100,000 (crossing a table rebuild or not, as it falls).
        let appended = min(100_000, count / 10)
        var incremental = PDQIndex(hashes.prefix(count - appended).enumerated().map { (hash: $0.element, entryIndex: UInt64($0.offset)) })
        let appendSeconds = BenchContext.time {
            for ordinal in (count - appended)..<count { incremental.insert(hashes[ordinal], entryIndex: UInt64(ordinal)) }
        }
        incremental = PDQIndex()

        var flat = [UInt64]()
        flat.reserveCapacity(4 * count)
        for hash in hashes { flat += [hash.words.0, hash.words.1, hash.words.2, hash.words.3] }

        let queryCount = 2_000
        let queries: [PDQHash] = (0..<queryCount).map { i in
            i % 2 == 0 ? Self.flip(hashes[Int(random.next() % UInt64(count))], bits: 1 + Int(random.next() % 31), &random) : Self.randomHash(&random)
        }
        context.say("lookup: \(queryCount) PDQIndex queries over \(label)")
        var indexTimes: [Double] = []
        var indexFound = 0
        for query in queries {
            let start = ContinuousClock.now
            let matches = index.search(query)
            indexTimes.append(Self.milliseconds(since: start))
            indexFound += matches.count
        }
        // A scan reads every hash: fewer samples at 10⁷ keep the run short; its spread is small.
        let scanCount = count >= 5_000_000 ? 200 : 1_000
        context.say("lookup: \(scanCount) linear scans over \(label)")
        var scanTimes: [Double] = []
        var agree = true
        for (number, query) in queries.prefix(scanCount).enumerated() {
            let start = ContinuousClock.now
            let found = Self.scan(flat, query)
            scanTimes.append(Self.milliseconds(since: start))
            if number % 20 == 0 { agree = agree && found.sorted() == index.search(query).map { Int($0.entryIndex) }.sorted() }
        }
        let peak = Self.peakResidentBytes()
        let index50 = Self.percentile(indexTimes, 50), index99 = Self.percentile(indexTimes, 99)
        let scan50 = Self.percentile(scanTimes, 50), scan99 = Self.percentile(scanTimes, 99)
        let correctness = agree ? "" : "; THE INDEX AND THE SCAN DISAGREED"
        return [
            BenchRow(
                "lookup.pdq.\(label).p50", index50, "ms", reference: "linear scan p50 (ms)", referenceValue: scan50,
                note: "\(queryCount) queries, half hits at distance 1–31; hardware popcount: \(PDQIndex.usesHardwarePopcount); \(String(format: "%.1f", Double(indexFound) / Double(queryCount))) matches a query\(correctness)"),
            BenchRow(
                "lookup.pdq.\(label).p99", index99, "ms", reference: "linear scan p99 (ms)", referenceValue: scan99,
                note: count >= 10_000_000 ? "issue 19 target: ≤ 10 ms" : nil),
            BenchRow("lookup.pdq.\(label).build", buildSeconds, "s", note: "bulk build (one counting sort a table)"),
            BenchRow(
                "lookup.pdq.\(label).append", appendSeconds / Double(max(appended, 1)) * 1e6, "µs/insert",
                note: "mean over the last \(appended) hashes inserted one by one, table rebuilds included"),
            BenchRow(
                "lookup.pdq.\(label).memory", indexBytes / Double(count), "bytes/hash",
                note: "resident growth while building (design: 104); peak RSS of the process so far \(String(format: "%.0f", Double(peak) / 1_048_576)) MiB"),
        ]
    }

    /// Entry ordinals within distance 31: a linear scan of a flat word array (PDQIndex.linearScan, the same popcount kernel).
    @inline(never)
    static func scan(_ flat: [UInt64], _ query: PDQHash) -> [Int] {
        PDQIndex.linearScan(flat, query)
    }

    static func randomHash(_ random: inout BenchRandom) -> PDQHash {
        PDQHash(words: (random.next(), random.next(), random.next(), random.next()))
    }

    /// `hash` with `bits` distinct random bits inverted.
    static func flip(_ hash: PDQHash, bits: Int, _ random: inout BenchRandom) -> PDQHash {
        let original = [hash.words.0, hash.words.1, hash.words.2, hash.words.3]
        var words = original
        var flipped = 0
        while flipped < bits {
            let k = Int(random.next() % 256)
            let mask = UInt64(1) << UInt64(k % 64)
            if words[k / 64] & mask == original[k / 64] & mask {
                words[k / 64] ^= mask
                flipped += 1
            }
        }
        return PDQHash(words: (words[0], words[1], words[2], words[3]))
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) * 1e-15
    }

    static func percentile(_ values: [Double], _ p: Int) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, sorted.count * p / 100)]
    }

    /// VmRSS / VmHWM from /proc/self/status, in bytes (0 where unavailable).
    static func residentBytes() -> Int { procStatus("VmRSS:") }
    static func peakResidentBytes() -> Int { procStatus("VmHWM:") }

    private static func procStatus(_ field: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(field) {
            let kilobytes = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } ?? 0
            return kilobytes * 1024
        }
        return 0
    }
}
