import Foundation
import GreffeCore
import GreffeVerify

/// Issue 17: what a court runs, `greffe verify` on a large bundle, beside the
/// floor of reading and hashing the same file (`sha256sum`), the proof core
/// alone on the same events' proofs, and the v2 format of the same events.
struct VerifyBundleBenchmark: Benchmark {
    let name = "verify-bundle"
    let summary = "greffe verify on a large greffe-bundle/v3 bundle of realistic events: wall, CPU, peak memory, vs sha256sum of the file and the proof core"

    func run(_ context: BenchContext) async throws -> [BenchRow] {
        let count = UInt64(context.options.bundleEvents)
        let signer = try NoteSigner(generatingFor: "bench.greffe.test/bundle")
        let vkey = context.scratch.appendingPathComponent("bundle.vkey")
        try Data(signer.verifier.verifierKey.utf8).write(to: vkey)
        context.say("verify-bundle: making \(count) realistic events (not timed)")
        guard let layout = LedgerEntry.Layout(rawValue: UInt8(clamping: context.options.entryLayout)) else {
            throw BenchFailure("--entry-layout must be 1 or 2")
        }
        let log = RealisticLog(events: count, seed: count, layout: layout)
        let v3 = context.scratch.appendingPathComponent("bundle-v3.json")
        let bodyBytes = try log.writeV3(to: v3, signer: signer)
        let fileBytes = (try FileManager.default.attributesOfItem(atPath: v3.path)[.size] as? NSNumber)?.doubleValue ?? 0

        sync()
        context.say("verify-bundle: sha256sum \(v3.path)")
        let floor = try ChildRun.run(["sha256sum", v3.path], scratch: context.scratch, check: true)
        context.say("verify-bundle: greffe verify \(v3.path)")
        let run = try ChildRun.greffe(["verify", v3.path, "--vkey", vkey.path, "--progress"], scratch: context.scratch)
        guard run.status == 0, run.stdout.contains("RESULT: VERIFIED") else {
            throw BenchFailure("greffe verify did not verify the benchmark bundle: \(run.stdout.suffix(2000)) \(run.stderr.suffix(1000))")
        }

        context.say("verify-bundle: the proof core alone on the same events' \(count) inclusion proofs")
        let claims = log.claims()
        let core = ContinuousClock.now
        let errors = BatchVerifier.verify(claims, treeSize: log.treeSize, root: log.tree.root)
        let coreElapsed = ContinuousClock.now - core
        guard errors.allSatisfy({ $0 == nil }) else { throw BenchFailure("the proof core refused a valid proof") }
        let coreSeconds = Double(coreElapsed.components.seconds) + Double(coreElapsed.components.attoseconds) * 1e-18

        var rows = [
            BenchRow(
                "verify-bundle.wall", run.seconds, "s", reference: "sha256sum of the same file", referenceValue: floor.seconds,
                note: "\(count) events, entry layout \(layout.rawValue), \(String(format: "%.0f", fileBytes / 1e6)) MB; issue 17 targets ≤ 10 s and ≤ 10× sha256sum"),
            BenchRow("verify-bundle.rate", Double(count) / run.seconds, "events/s", reference: "proof core alone, same proofs", referenceValue: Double(count) / coreSeconds),
            BenchRow(
                "verify-bundle.cpu", run.cpuSeconds, "CPU s", reference: "wall", referenceValue: run.seconds,
                note: "ratio = cores kept busy on average"),
            BenchRow(
                "verify-bundle.peak-memory", Double(run.peakKilobytes) / 1024, "MiB", reference: "the bundle's size", referenceValue: fileBytes / 1_048_576,
                note: "greffe verify's VmHWM; issue 17 targets ≤ 256 MiB"),
            BenchRow(
                "verify-bundle.size", fileBytes, "bytes", reference: "the events' canonical bodies", referenceValue: Double(bodyBytes),
                note: "issue 17 targets ≤ 1.5×"),
        ]
        if !context.options.keep { try? FileManager.default.removeItem(at: v3) }

        let v2Count = min(UInt64(context.options.v2Events), count)
        if v2Count > 0 {
            context.say("verify-bundle: the first \(v2Count) events as greffe-bundle/v2, one inclusion proof each (not timed)")
            let v2 = context.scratch.appendingPathComponent("bundle-v2.json")
            let v2Bodies = try log.writeV2(to: v2, events: v2Count, signer: signer)
            let v2Bytes = (try FileManager.default.attributesOfItem(atPath: v2.path)[.size] as? NSNumber)?.doubleValue ?? 0
            sync()
            let old = try ChildRun.greffe(["verify", v2.path, "--vkey", vkey.path, "--progress"], scratch: context.scratch)
            guard old.status == 0 else { throw BenchFailure("greffe verify did not verify the v2 bundle: \(old.stdout.suffix(1000))") }
            let sameV3 = Double(v2Count) / (Double(count) / run.seconds)
            rows += [
                BenchRow(
                    "verify-bundle.v2-wall", old.seconds, "s", reference: "v3 at the same rate", referenceValue: sameV3,
                    note: "\(v2Count) events in the per-event-proof format, read whole"),
                BenchRow("verify-bundle.v2-peak-memory", Double(old.peakKilobytes) / 1024, "MiB"),
                BenchRow("verify-bundle.v2-size", v2Bytes, "bytes", reference: "the events' canonical bodies", referenceValue: Double(v2Bodies)),
            ]
            if !context.options.keep { try? FileManager.default.removeItem(at: v2) }
        }
        return rows
    }
}

/// A log whose middle is the bundle: `events` entries of realistic edit
/// requests (random UUID event IDs, random image hashes, ~800-byte canonical
/// bodies) after 1,000 earlier entries and before 1,000 later ones, so the
/// bundle has a gap and a tail.
struct RealisticLog {
    static let before: UInt64 = 1_000
    static let after: UInt64 = 1_000
    let events: UInt64
    let seed: UInt64
    let layout: LedgerEntry.Layout
    let tree: BenchTree
    var treeSize: UInt64 { events + Self.before + Self.after }

    init(events: UInt64, seed: UInt64, layout: LedgerEntry.Layout) {
        self.layout = layout
        self.events = events
        self.seed = seed
        var leaves: [Hash] = []
        leaves.reserveCapacity(Int(events + Self.before + Self.after))
        var generator = Generator(seed: seed, layout: layout)
        for index in 0..<(events + Self.before + Self.after) { leaves.append(MerkleHash.leaf(generator.event(index: index).entry)) }
        tree = BenchTree(leaves: leaves)
    }

    /// Deterministic: the same events each time it runs from the same seed.
    struct Generator {
        var random: BenchRandom
        var prev = Hash.zero
        var time: UInt64 = 1_796_000_000_000
        static let words = ["portrait", "beach", "remove", "clothing", "studio", "light", "make", "her", "him", "wearing", "swimsuit", "photo",
            "realistic", "style", "change", "background", "dress", "outfit", "skin", "pose", "smile", "evening", "city", "night"]
        static let tiers = ["free", "plus", "pro"]
        static let outcomes = ["allowed", "refused", "allowed_with_edits"]

        let layout: LedgerEntry.Layout

        init(seed: UInt64, layout: LedgerEntry.Layout) {
            random = BenchRandom(seed: seed)
            self.layout = layout
        }

        func hex(_ hash: Hash) -> String { hash.hex }

        mutating func uuid() -> String {
            let a = random.next(), b = random.next()
            let text = String(format: "%016llx%016llx", a, b)
            let chars = Array(text)
            return String(chars[0..<8]) + "-" + String(chars[8..<12]) + "-4" + String(chars[13..<16]) + "-a" + String(chars[17..<20]) + "-" + String(chars[20..<32])
        }

        mutating func event(index: UInt64) -> (entry: [UInt8], body: JSONValue, salt: [UInt8]) {
            var prompt: [String] = []
            let length = 28 + Int(random.next() % 16)
            for _ in 0..<length { prompt.append(Self.words[Int(random.next() % UInt64(Self.words.count))]) }
            time += random.next() % 50
            let body: JSONValue = [
                "event_id": .string(uuid()), "kind": "edit.requested", "occurred_at": .string(RFC3339Time.format(time - 20)),
                "platform": "example-ai", "schema_version": 1, "account": .string(random.hash().hex.prefix(32).description),
                "subscription_tier": .string(Self.tiers[Int(random.next() % 3)]),
                "input_images": [["sha256": .string(random.hash().hex), "role": "source"]],
                "prompt": .string(prompt.joined(separator: " ")),
                "model": ["name": "image-edit", "version": "2026.11"],
                "flags": ["real_person_detected": .bool(random.next() % 2 == 0), "nudity_requested": .bool(random.next() % 3 == 0), "minor_suspected": false],
                "decision": ["outcome": .string(Self.outcomes[Int(random.next() % 3)]), "policy": "adult-content-v4"],
                "client": ["ip_hash": .string(random.hash().hex), "app": "web"],
            ]
            let salt = random.hash().bytes
            // The bench's own bodies: objects of a few dozen fields, always a valid field tree.
            let commitment =
                layout == .fieldTree
                ? try! FieldCommitment.root(salt: salt, body: body) : Commitment.commit(salt: salt, canonicalBody: body.canonicalBytes())
            let entry = LedgerEntry(index: index, sequencedAtMilliseconds: time, prev: prev, commitment: commitment, kind: "edit.requested", layout: layout).encoded
            prev = MerkleHash.leaf(entry)
            return (entry, body, salt)
        }
    }

    /// The bundle of the middle events, written as the server writes it; returns the bodies' total canonical size.
    func writeV3(to url: URL, signer: NoteSigner) throws -> Int {
        let output = try BufferedFile(url: url)
        let checkpoint = try signer.sign(text: Checkpoint(origin: signer.name, size: treeSize, root: tree.root).text).formatted
        output.write(
            CompactBundleWriter.head(
                verifierKey: signer.verifier.verifierKey, checkpoint: checkpoint, createdAt: "2026-12-05T12:00:00Z",
                query: ["index_range": ["from": .number(Double(Self.before)), "to": .number(Double(Self.before + events))]], earlierCheckpoints: [],
                timestamps: []))
        var writer = CompactBundleWriter(treeSize: treeSize)
        var generator = Generator(seed: seed, layout: layout)
        var bodies = 0
        var out: [UInt8] = []
        for index in 0..<(Self.before + events) {
            let event = generator.event(index: index)
            guard index >= Self.before else { continue }
            bodies += event.body.canonicalBytes().count
            let gap = writer.gap(before: index).map { tree.node($0) }
            writer.append(EvidenceBundle.CompactEvent(entry: event.entry, body: event.body, salt: event.salt, gap: gap, appendedBy: "example-ai-intake"), index: index, to: &out)
            if out.count > 1 << 22 {
                output.write(out)
                out.removeAll(keepingCapacity: true)
            }
        }
        output.write(out)
        output.write(writer.finish(tail: writer.tail.map { tree.node($0) }, holds: []))
        try output.close()
        return bodies
    }

    /// The first `count` middle events with one RFC 9162 proof each (greffe-bundle/v2).
    func writeV2(to url: URL, events count: UInt64, signer: NoteSigner) throws -> Int {
        let output = try BufferedFile(url: url)
        let checkpoint = try signer.sign(text: Checkpoint(origin: signer.name, size: treeSize, root: tree.root).text).formatted
        var head = EvidenceBundle(
            verifierKey: signer.verifier.verifierKey, checkpoint: checkpoint, createdAt: "2026-12-05T12:00:00Z", query: ["kind": "edit.requested"],
            events: [], earlierCheckpoints: []
        ).json.objectValue!
        head["events"] = nil
        var opening = head.canonicalBytes()
        opening.removeLast()
        output.write(opening + Array(",\"events\":[".utf8))
        var generator = Generator(seed: seed, layout: layout)
        var bodies = 0
        var out: [UInt8] = []
        for index in 0..<(Self.before + count) {
            let event = generator.event(index: index)
            guard index >= Self.before else { continue }
            bodies += event.body.canonicalBytes().count
            let full = EvidenceBundle.Event(
                index: index, eventID: event.body["event_id"]!.stringValue!, kind: "edit.requested", body: event.body, salt: event.salt, entry: event.entry,
                leafHash: MerkleHash.leaf(event.entry), inclusionProof: tree.proof(index), appendedBy: "example-ai-intake")
            if index > Self.before { out.append(UInt8(ascii: ",")) }
            full.json.appendCanonicalBytes(to: &out)
            if out.count > 1 << 22 {
                output.write(out)
                out.removeAll(keepingCapacity: true)
            }
        }
        output.write(out + Array("]}".utf8))
        try output.close()
        return bodies
    }

    /// Each middle event's own inclusion claim (for the proof core alone).
    func claims() -> [InclusionClaim] {
        (Self.before..<(Self.before + events)).map { InclusionClaim(index: $0, leafHash: tree.levels[0][Int($0)], proof: tree.proof($0)) }
    }
}

/// Every complete node of the benchmark's tree.
struct BenchTree {
    let tree: MemoryMerkleTree

    init(leaves: [Hash]) { tree = MemoryMerkleTree(leafHashes: leaves) }

    var levels: [[Hash]] { tree.levels }
    func node(_ subtree: Subtree) -> Hash { tree.levels[subtree.level][Int(subtree.position)] }
    var root: Hash { tree.root }
    func proof(_ index: UInt64) -> [Hash] { tree.inclusionProof(index) }
}

/// Appends to a file in large writes.
final class BufferedFile {
    private let handle: FileHandle

    init(url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil), let handle = try? FileHandle(forWritingTo: url) else {
            throw BenchFailure("cannot write \(url.path)")
        }
        self.handle = handle
    }

    func write(_ bytes: [UInt8]) { handle.write(Data(bytes)) }
    func close() throws { try handle.close() }
}
