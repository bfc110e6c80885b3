// greffe-bundle/v3 (issue 17): events proved together by one multi-leaf
// proof spread through the file. Bundles written here by CompactBundleWriter
// over an in-memory log and checked by the streaming verifier: every subset
// of events verifies and yields RFC 9162's proofs; every removal, addition,
// reordering and change of a member, an event, a gap or the tail is refused
// or named.

import Foundation
import GreffeCore
@testable import GreffeVerify
import Testing

@Suite("compact bundles (greffe-bundle/v3)")
struct CompactBundleTests {
    struct Fixture {
        let signer: NoteSigner
        var entries: [[UInt8]] = []
        var bodies: [JSONValue] = []
        var salts: [[UInt8]] = []
        let tree: MemoryTree

        init(size: Int = 37) throws {
            signer = try NoteSigner(generatingFor: "compact.greffe.test/log")
            var prev = Hash.zero
            var leaves: [Hash] = []
            for index in 0..<size {
                let body: JSONValue = [
                    "event_id": .string("edit-\(index)"), "kind": "edit.requested", "occurred_at": "2026-11-25T10:00:00Z", "platform": "example-ai",
                    "schema_version": 1, "account": .string("acct-\(index % 3)"), "subscription_tier": index % 2 == 0 ? "free" : "plus",
                    "decision": ["outcome": index % 4 == 0 ? "refused" : "allowed"],
                ]
                var salt = [UInt8](repeating: 7, count: 32)
                salt[0] = UInt8(index & 0xff)
                let entry = LedgerEntry(
                    index: UInt64(index), sequencedAtMilliseconds: 1_796_000_000_000 + UInt64(index) * 1000, prev: prev,
                    commitment: Commitment.commit(salt: salt, canonicalBody: body.canonicalBytes()), kind: "edit.requested"
                ).encoded
                bodies.append(body)
                salts.append(salt)
                entries.append(entry)
                prev = MerkleHash.leaf(entry)
                leaves.append(prev)
            }
            tree = MemoryTree(leaves: leaves)
        }

        var verifier: NoteVerifier { signer.verifier }

        func checkpoint(size: UInt64) throws -> String {
            try signer.sign(text: Checkpoint(origin: signer.name, size: size, root: tree.root(size: size)).text).formatted
        }

        /// The bundle of `indices` (increasing) at tree size `size`, as the server writes it.
        func bundle(_ indices: [UInt64], size: UInt64? = nil) throws -> [UInt8] {
            let size = size ?? tree.size
            var out = CompactBundleWriter.head(
                verifierKey: verifier.verifierKey, checkpoint: try checkpoint(size: size), createdAt: "2026-12-05T10:00:00Z",
                query: ["index_range": ["from": 0, "to": .number(Double(size))]], earlierCheckpoints: [], timestamps: [])
            var writer = CompactBundleWriter(treeSize: size)
            for index in indices {
                let gap = try writer.gap(before: index).map { try tree.node(level: $0.level, index: $0.position) }
                let event = EvidenceBundle.CompactEvent(
                    entry: entries[Int(index)], body: bodies[Int(index)], salt: salts[Int(index)], gap: gap, appendedBy: "platform-a")
                writer.append(event, index: index, to: &out)
            }
            out += writer.finish(tail: try writer.tail.map { try tree.node(level: $0.level, index: $0.position) }, holds: [])
            return out
        }

        func verify(_ bytes: [UInt8], workers: Int = 3, listUpTo: Int = 1000) throws -> BundleReport {
            var verifier = CompactBundleVerifier(verifiers: [self.verifier])
            verifier.workers = workers
            verifier.listEventsUpTo = listUpTo
            guard case .verified(let report) = try verifier.verify(MemoryByteSource(bytes)) else {
                Issue.record("not read as v3")
                throw EvidenceBundle.FormatError("not v3")
            }
            return report
        }
    }

    static func json(_ bytes: [UInt8]) throws -> JSONObject { try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 128, maxBytes: 1 << 30)).objectValue! }
    static func bytes(_ object: JSONObject) -> [UInt8] { JSONValue.object(object).canonicalBytes() }
    static func events(_ object: JSONObject) -> [JSONValue] { object["events"]!.arrayValue! }

    @Test("every subset of events, at every tree size, verifies and yields RFC 9162's own proof for each event")
    func subsetsVerify() throws {
        let fixture = try Fixture(size: 37)
        var random = SplitMix64(seed: 17)
        for size in [UInt64(1), 2, 3, 5, 8, 13, 16, 17, 31, 32, 33, 37] {
            for _ in 0..<6 {
                let indices = (0..<size).filter { _ in random.next() % 3 == 0 }
                let bytes = try fixture.bundle(indices, size: size)
                let report = try fixture.verify(bytes)
                #expect(report.verified, "size \(size), \(indices): \(report.failures)")
                #expect(report.events.map(\.index) == indices)
                #expect(report.prevLinksChecked == zip(indices, indices.dropFirst()).filter { $0 + 1 == $1 }.count)
                // Read whole, each event's own proof is derived from the pieces: RFC 9162's.
                let whole = try EvidenceBundle(parsing: bytes)
                #expect(whole.format == .v3)
                for event in whole.events { #expect(event.inclusionProof == fixture.tree.proof(event.index, size: size)) }
                #expect(BundleVerifier.verify(whole, verifier: fixture.verifier).verified)
            }
        }
    }

    @Test("a contiguous range carries no gap at all, and the bundle is far smaller than with per-event proofs")
    func contiguousRangeIsCompact() throws {
        let fixture = try Fixture(size: 37)
        let bytes = try fixture.bundle(Array(3..<30))
        let events = Self.events(try Self.json(bytes))
        #expect(events[0]["gap"] != nil)
        #expect(events.dropFirst().allSatisfy { $0["gap"] == nil })
        #expect(try fixture.verify(bytes).verified)
    }

    @Test("the same report on one worker and on several")
    func parallelIsDeterministic() throws {
        let fixture = try Fixture(size: 37)
        var object = try Self.json(try fixture.bundle(Array(0..<37)))
        var events = Self.events(object)
        var changed = events[20].objectValue!
        changed["body"] = .object(JSONObject(changed["body"]!.objectValue!.members.map { $0.key == "account" ? ($0.key, "someone-else") : $0 }))
        events[20] = .object(changed)
        object["events"] = .array(events)
        let bytes = Self.bytes(object)
        let one = try fixture.verify(bytes, workers: 1)
        let many = try fixture.verify(bytes, workers: 4)
        #expect(one.failures == many.failures)
        #expect(one.failures.map(\.code) == [.commitment])
        #expect(one.failures.first?.location == "event 20 (index 20)")
    }

    @Test("member order is immaterial: the checkpoint or the format after the events still verifies")
    func memberOrder() throws {
        let fixture = try Fixture(size: 37)
        let object = try Self.json(try fixture.bundle([2, 3, 9, 30]))
        // Canonical (JCS) order puts "events" before "format" and "tail": the verifier must come back to them.
        let canonical = Self.bytes(object)
        #expect(try fixture.verify(canonical).verified)
        var reversed = "{"
        for (position, member) in object.members.reversed().enumerated() {
            reversed += (position > 0 ? ",\n  " : "") + String(decoding: JSONValue.string(member.key).canonicalBytes(), as: UTF8.self) + " : "
                + String(decoding: member.value.canonicalBytes(), as: UTF8.self)
        }
        reversed += "\n}\n"
        #expect(try fixture.verify(Array(reversed.utf8)).verified)
    }

    @Test("removed, added and misplaced members are refused, naming them")
    func strictMembers() throws {
        let fixture = try Fixture(size: 37)
        let object = try Self.json(try fixture.bundle([4, 5, 6]))
        func refused(_ mutate: (inout JSONObject) -> Void, _ words: String) throws {
            var copy = object
            mutate(&copy)
            var verifier = CompactBundleVerifier(verifiers: [fixture.verifier])
            verifier.workers = 2
            #expect(throws: EvidenceBundle.FormatError.self, "\(words)") { _ = try verifier.verify(MemoryByteSource(Self.bytes(copy))) }
            do { _ = try verifier.verify(MemoryByteSource(Self.bytes(copy))) } catch {
                #expect("\(error)".contains(words), "\(error)")
            }
        }
        func event(_ position: Int, _ change: @escaping (inout JSONObject) -> Void) -> (inout JSONObject) -> Void {
            { bundle in
                var events = Self.events(bundle)
                var item = events[position].objectValue!
                change(&item)
                events[position] = .object(item)
                bundle["events"] = .array(events)
            }
        }
        try refused({ $0["tail"] = nil }, "/tail is missing")
        try refused({ $0["checkpoint"] = nil }, "/checkpoint is missing")
        try refused({ $0["index"] = 3 }, "unknown field \"index\"")
        try refused(event(1, { $0["salt"] = nil }), "/events/1/salt is missing")
        try refused(event(1, { $0["body"] = nil }), "/events/1/body is missing")
        try refused(event(2, { $0["inclusion_proof"] = .array([]) }), "/events/2 has the unknown field \"inclusion_proof\"")
        try refused(event(0, { $0["gap"] = "not hashes" }), "/events/0/gap is missing or not an array")
        try refused({ $0["holds"] = .array([["placed": .null]]) }, "/holds/0/lifted is missing")
    }

    @Test("reordered, duplicated, dropped-without-a-gap and out-of-tree events fail the bundle's inclusion, named")
    func structuralForgeries() throws {
        let fixture = try Fixture(size: 37)
        let object = try Self.json(try fixture.bundle([4, 5, 6, 20]))
        func failures(_ mutate: (inout [JSONValue]) -> Void) throws -> [BundleReport.Failure] {
            var copy = object
            var events = Self.events(copy)
            mutate(&events)
            copy["events"] = .array(events)
            let report = try fixture.verify(Self.bytes(copy))
            #expect(!report.verified)
            #expect(report.events.allSatisfy { !$0.verified } || report.failures.contains { $0.code != .inclusionProof })
            return report.failures
        }
        let swapped = try failures { $0.swapAt(1, 2) }
        #expect(swapped.contains { $0.code == .duplicateEvent && $0.message.contains("not after the previous event's index 6") })
        let duplicated = try failures { $0.insert($0[1], at: 2) }
        #expect(duplicated.contains { $0.code == .duplicateEvent })
        let dropped = try failures { $0.remove(at: 1) }
        #expect(dropped.contains { $0.code == .inclusionProof && $0.message.contains("its gap holds 0 hashes; the entries between index 5 and 6 need 1") })
        // A gap hash changed, or moved to another event: the root differs.
        let changedGap = try failures { events in
            var last = events[3].objectValue!
            var gap = last["gap"]!.arrayValue!
            gap[0] = .string(Hash(base64: gap[0].stringValue!)!.flippingBit(3).base64)
            last["gap"] = .array(gap)
            events[3] = .object(last)
        }
        #expect(changedGap.map(\.code) == [.inclusionProof] && changedGap[0].message.contains("not to the checkpoint's"))
    }

    @Test("a changed tail or an event beyond the checkpoint is a failure of the whole bundle")
    func tailAndTreeSize() throws {
        let fixture = try Fixture(size: 37)
        var object = try Self.json(try fixture.bundle([4, 5, 6], size: 20))
        var tail = object["tail"]!.arrayValue!
        tail[tail.count - 1] = .string(Hash(base64: tail.last!.stringValue!)!.flippingBit(0).base64)
        object["tail"] = .array(tail)
        var report = try fixture.verify(Self.bytes(object))
        #expect(report.failures.map(\.code) == [.inclusionProof])
        #expect(report.events.count == 3 && report.events.allSatisfy { !$0.verified })
        tail.removeLast()
        object["tail"] = .array(tail)
        report = try fixture.verify(Self.bytes(object))
        #expect(report.failures.first?.location == "tail" && report.failures.first?.message.contains("need") == true)
        // An event of a bigger tree in a bundle signed at 20 entries.
        let bigger = try Self.json(try fixture.bundle([30], size: 37))
        var small = try Self.json(try fixture.bundle([], size: 20))
        small["events"] = bigger["events"]
        report = try fixture.verify(Self.bytes(small))
        #expect(report.failures.contains { $0.code == .inclusionProof && $0.message.contains("beyond the checkpoint's 20 entries") })
    }

    @Test("a changed entry breaks the next entry's prev link, which names it, and the root")
    func changedEntryIsNamed() throws {
        let fixture = try Fixture(size: 37)
        var object = try Self.json(try fixture.bundle(Array(10..<15)))
        var events = Self.events(object)
        var second = events[1].objectValue!
        var entry = Array(Data(base64Encoded: second["entry"]!.stringValue!)!)
        entry[8] ^= 1  // the index's last byte: 11 becomes 10
        entry[16] ^= 1  // and the time
        second["entry"] = .string(Data(entry).base64EncodedString())
        events[1] = .object(second)
        object["events"] = .array(events)
        let report = try fixture.verify(Self.bytes(object))
        #expect(!report.verified)
        #expect(report.failures.contains { $0.code == .duplicateEvent || $0.code == .prevLink })
    }

    @Test("large bundles are summarised: counts by kind, outcome and tier; every event still reaches the events sink")
    func summaryForLargeBundles() throws {
        let fixture = try Fixture(size: 37)
        let bytes = try fixture.bundle(Array(0..<37))
        var verifier = CompactBundleVerifier(verifiers: [fixture.verifier])
        verifier.listEventsUpTo = 10
        let lines = LineCollector()
        verifier.onEvent = { lines.add($0) }
        guard case .verified(let report) = try verifier.verify(MemoryByteSource(bytes)) else { Issue.record("not v3"); return }
        #expect(report.verified)
        #expect(report.events.isEmpty && report.eventCount == 37)
        let summary = try #require(report.summary)
        #expect(summary.byKind == ["edit.requested": 37])
        #expect(summary.byTier == ["free": 19, "plus": 18])
        #expect(summary.byOutcome == ["refused": 10, "allowed": 27])
        #expect(lines.positions == Array(0..<37))
        let text = BundleReportRendering.text(report, file: "big.json")
        #expect(text.contains("The bundle holds 37 events") && text.contains("By subscription tier: free: 19, plus: 18"))
        #expect(text.contains("RESULT: VERIFIED"))
    }

    @Test("cut short anywhere or with a byte changed, a bundle never crashes the verifier and never verifies")
    func truncationsAndFlips() throws {
        let fixture = try Fixture(size: 9)
        let bytes = try fixture.bundle([1, 2, 5])
        var verifier = CompactBundleVerifier(verifiers: [fixture.verifier])
        verifier.workers = 2
        for cut in stride(from: 0, to: bytes.count - 1, by: 7) {
            if case .verified(let report)? = try? verifier.verify(MemoryByteSource(Array(bytes[..<cut]))) {
                #expect(!report.verified, "cut at \(cut)")
            }
        }
        var random = SplitMix64(seed: 3)
        for _ in 0..<200 {
            var copy = bytes
            let position = Int(random.next() % UInt64(copy.count))
            copy[position] ^= UInt8(1 << (random.next() % 8))
            if case .verified(let report)? = try? verifier.verify(MemoryByteSource(copy)), report.verified {
                // Only what no proof covers may change and still verify: when and by what query the bundle was
                // made, the key's name as the file states it, the token names, or base64 padding bits.
                #expect(try Self.provable(EvidenceBundle(parsing: copy)) == Self.provable(EvidenceBundle(parsing: bytes)), "flip at \(position)")
            }
        }
    }

    static func provable(_ bundle: EvidenceBundle) -> EvidenceBundle {
        var bundle = bundle
        bundle.createdAt = ""
        bundle.query = .null
        bundle.verifierKey = ""
        for position in bundle.events.indices { bundle.events[position].appendedBy = nil }
        return bundle
    }

    @Test("v1 and v2 files are handed back to the whole-file verifier")
    func otherFormats() throws {
        var verifier = CompactBundleVerifier(verifiers: [try Fixture(size: 2).verifier])
        verifier.workers = 1
        let v2 = Array(#"{"format":"greffe-bundle/v2","events":[]}"#.utf8)
        guard case .otherFormat(.v2) = try verifier.verify(MemoryByteSource(v2)) else { Issue.record("v2 not recognised"); return }
        #expect(throws: EvidenceBundle.FormatError.self) { try verifier.verify(MemoryByteSource(Array(#"{"format":"greffe-bundle/v9"}"#.utf8))) }
    }

    @Test("the cover of a range is its fewest aligned subtrees, and folding covers gives RFC 9162's root at every size")
    func coverAndFold() throws {
        let fixture = try Fixture(size: 37)
        for size in UInt64(0)...37 {
            var fold = RootFold()
            for subtree in SubtreeCover.cover(from: 0, to: size) {
                let pushed = fold.push(subtree, try fixture.tree.node(level: subtree.level, index: subtree.position))
                #expect(pushed)
            }
            #expect(fold.root == (size == 0 ? MerkleHash.emptyRoot : fixture.tree.root(size: size)))
            #expect(SubtreeCover.count(from: 0, to: size) == size.nonzeroBitCount)
        }
        #expect(SubtreeCover.cover(from: 5, to: 16) == [.init(level: 0, position: 5), .init(level: 1, position: 3), .init(level: 3, position: 1)])
        var fold = RootFold()
        let pushed = fold.push(Subtree(level: 1, position: 1), .zero)
        #expect(!pushed)  // does not start at 0
    }
}

final class LineCollector: @unchecked Sendable {
    private(set) var positions: [Int] = []
    func add(_ line: CheckedEventLine) { positions.append(line.position) }
}
