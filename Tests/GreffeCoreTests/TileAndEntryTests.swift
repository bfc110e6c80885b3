// The byte and path formats a log publishes: C2SP tlog-tiles paths and entry
// bundles, and the version-1 ledger entry (LedgerEntry.swift's layout table).
// Expected bytes and paths are written out by hand from the specifications.
// Parsers must accept exactly one spelling of each value, so a seeded fuzz
// run ends the file: whatever a mutated input parses to must re-encode to that
// very input, nothing may crash, and no mutated signed checkpoint may verify
// with content other than what was signed.

import Foundation
@testable import GreffeCore
import Testing

// MARK: - Tile paths

/// Paths a tlog-tiles client must never be served under: non-canonical
/// spellings of a valid tile, and plain garbage.
private let hostileTilePaths: [String] = [
    // Non-canonical index spellings.
    "tile/0/x000/001", "tile/0/1", "tile/0/01", "tile/0/0001", "tile/0/x1/000", "tile/0/x0001/000",
    "tile/0/X001/000", "tile/0/x001", "tile/0/001/x002", "tile/0/x001/x002", "tile/1/x000/000",
    // Non-canonical or impossible widths.
    "tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/07", "tile/0/000.p/", "tile/0/000.p", "tile/0/000.p/1000",
    "tile/0/000.p/-1", "tile/0/000.p/+5", "tile/0/000.p/5 ", "tile/0/001.P/5", "tile/entries/000.p/256",
    "tile/0/000.p/18446744073709551617", "tile/0/000.p/5.p/6", "tile/0/000.p/5/000", "tile/0/x001.p/5/000",
    // Levels: canonical decimal below 8 (level 8 would be node level 64).
    "tile/08/000", "tile/8/000", "tile/9/000", "tile/64/000", "tile/-1/000", "tile/+1/000", "tile/0x1/000",
    "tile/ENTRIES/000", "tile/entry/000", "tile/18446744073709551616/000",
    // Missing or empty parts.
    "tile/entries/", "tile//000", "tile/0/", "tile/0//000", "tile/0/000/", "tile/entries", "tile", "", "/", "//tile/0/000",
    "tiles/0/000", "Tile/0/000", " tile/0/000", "tile/0/000\n", "../tile/0/000", "tile/0/../000", "tile/0/000?x=1",
    // Signs, letters, overflow.
    "tile/0/-01", "tile/0/x-01/000", "tile/0/00a", "tile/0/0x1",
    "tile/0/x018/x446/x744/x073/x709/x551/616", // UInt64.max + 1
    "tile/0/x999/x999/x999/x999/x999/x999/999",
    "tile/0/x001/x000/x000/x000/x000/x000/x000/000", // eight groups
    // Digits that are digits only to Unicode.
    "tile/0/٠٠٠", "tile/٠/000", "tile/0/００１", "tile/0/x٠٠١/000", "tile/0/000.p/٥",
]

@Suite("Tiles, entry bundles and ledger entries")
struct TileAndEntryTests {
    @Test("index encoding: three-digit groups, all but the last prefixed with x")
    func indexEncoding() {
        let cases: [(UInt64, String)] = [
            (0, "000"), (5, "005"), (42, "042"), (999, "999"), (1000, "x001/000"), (1_234_067, "x001/x234/067"),
            (1_000_000, "x001/x000/000"), (UInt64.max, "x018/x446/x744/x073/x709/x551/615"),
        ]
        for (index, expected) in cases {
            #expect(Tile.encodeIndex(index) == expected, "\(index)")
        }
    }

    @Test("paths: full and partial hash tiles and entry bundles, parsed back exactly")
    func pathExamples() throws {
        let cases: [(Tile, String)] = [
            (Tile(kind: .hashes(level: 0), index: 0, width: 256), "tile/0/000"),
            (Tile(kind: .hashes(level: 0), index: 1_234_067, width: 256), "tile/0/x001/x234/067"),
            (Tile(kind: .hashes(level: 0), index: 1_234_067, width: 8), "tile/0/x001/x234/067.p/8"),
            (Tile(kind: .hashes(level: 3), index: 0, width: 1), "tile/3/000.p/1"),
            (Tile(kind: .hashes(level: 7), index: 1000, width: 255), "tile/7/x001/000.p/255"),
            (Tile(kind: .entries, index: 5, width: 17), "tile/entries/005.p/17"),
            (Tile(kind: .entries, index: 1_234_067, width: 256), "tile/entries/x001/x234/067"),
            (Tile(kind: .entries, index: UInt64.max, width: 256), "tile/entries/x018/x446/x744/x073/x709/x551/615"),
        ]
        for (tile, path) in cases {
            #expect(tile.path == path)
            #expect(tile.description == path)
            #expect(Tile(path: path) == tile, "\(path)")
            #expect(Tile(path: "/" + path) == tile, "/\(path)")
            #expect(Tile(path: Substring(path)) == tile, "\(path) as a Substring")
        }
        #expect(Tile(kind: .hashes(level: 2), index: 0, width: 256).nodeLevel == 16)
        #expect(Tile(kind: .entries, index: 3, width: 256).nodeLevel == 0)
        #expect(Tile(kind: .entries, index: 3, width: 256).firstNode == 768)
        #expect(Tile(kind: .hashes(level: 0), index: 0, width: 256).isFull)
        #expect(!Tile(kind: .hashes(level: 0), index: 0, width: 255).isFull)
    }

    @Test("non-canonical and hostile paths are rejected", arguments: hostileTilePaths)
    func rejectsHostilePath(_ path: String) {
        #expect(Tile(path: path) == nil, "\(path.debugDescription) parsed as \(Tile(path: path).map(\.path) ?? "")")
    }

    @Test("every 1…3-group index and every width round-trips through its path")
    func pathRoundTrip() throws {
        var rng = SplitMix64(seed: 21)
        var indices: [UInt64] = Array(0...2100) + [999_999, 1_000_000, 1_000_001, UInt64.max, UInt64.max >> 8]
        indices += (0..<500).map { _ in rng.next() >> (rng.next() % 64) }
        for index in indices {
            for kind in [Tile.Kind.entries, .hashes(level: Int(index % 8))] {
                let width = 1 + Int(rng.next() % 256)
                let tile = Tile(kind: kind, index: index, width: width)
                #expect(Tile(path: tile.path) == tile, "\(tile.path)")
            }
        }
    }

    @Test("exists: full tiles need 256 nodes of their level, partial ones their width, without overflow")
    func exists() {
        func tile(_ level: Int?, _ index: UInt64, _ width: Int) -> Tile {
            Tile(kind: level.map { .hashes(level: $0) } ?? .entries, index: index, width: width)
        }
        for kind in [nil, 0] as [Int?] {
            #expect(!tile(kind, 0, 1).exists(inTreeOfSize: 0))
            #expect(tile(kind, 0, 1).exists(inTreeOfSize: 1))
            #expect(!tile(kind, 0, 256).exists(inTreeOfSize: 255))
            #expect(tile(kind, 0, 256).exists(inTreeOfSize: 256))
            #expect(!tile(kind, 1, 1).exists(inTreeOfSize: 256))
            #expect(tile(kind, 1, 1).exists(inTreeOfSize: 257))
            #expect(!tile(kind, 1, 5).exists(inTreeOfSize: 260))
            #expect(tile(kind, 1, 5).exists(inTreeOfSize: 261))
        }
        // Level 1 lists level-8 nodes: one per 256 leaves.
        #expect(!tile(1, 0, 1).exists(inTreeOfSize: 255))
        #expect(tile(1, 0, 1).exists(inTreeOfSize: 256))
        #expect(!tile(1, 0, 256).exists(inTreeOfSize: 65535))
        #expect(tile(1, 0, 256).exists(inTreeOfSize: 65536))
        #expect(!tile(2, 0, 1).exists(inTreeOfSize: 65535))
        #expect(tile(2, 0, 1).exists(inTreeOfSize: 65536))
        // The top: level 7 lists level-56 nodes, of which 2^64 − 1 leaves complete 255.
        #expect(tile(7, 0, 255).exists(inTreeOfSize: UInt64.max))
        #expect(!tile(7, 0, 256).exists(inTreeOfSize: UInt64.max))
        #expect(!tile(7, 1, 1).exists(inTreeOfSize: UInt64.max))
        // Indices whose first node would not fit in 64 bits exist in no tree.
        let last = UInt64.max >> 8
        #expect(tile(0, last, 255).exists(inTreeOfSize: UInt64.max))
        #expect(!tile(0, last, 256).exists(inTreeOfSize: UInt64.max))
        #expect(!tile(0, last + 1, 1).exists(inTreeOfSize: UInt64.max))
        #expect(!tile(nil, UInt64.max, 256).exists(inTreeOfSize: UInt64.max))
        #expect(!tile(3, UInt64.max, 1).exists(inTreeOfSize: UInt64.max))
    }

    @Test("tiles(kind:treeSize:) lists every full tile and the partial one at the end, per level")
    func listing() {
        func paths(_ kind: Tile.Kind, _ size: UInt64) -> [String] { Tile.tiles(kind: kind, treeSize: size).map(\.path) }
        for kind in [Tile.Kind.entries, .hashes(level: 0), .hashes(level: 1), .hashes(level: 7)] {
            #expect(paths(kind, 0).isEmpty)
        }
        #expect(paths(.entries, 1) == ["tile/entries/000.p/1"])
        #expect(paths(.hashes(level: 0), 1) == ["tile/0/000.p/1"])
        #expect(paths(.hashes(level: 1), 1).isEmpty)
        #expect(paths(.hashes(level: 0), 256) == ["tile/0/000"])
        #expect(paths(.hashes(level: 1), 256) == ["tile/1/000.p/1"])
        #expect(paths(.hashes(level: 0), 257) == ["tile/0/000", "tile/0/001.p/1"])
        #expect(paths(.entries, 512) == ["tile/entries/000", "tile/entries/001"])
        #expect(paths(.hashes(level: 1), 65535) == ["tile/1/000.p/255"])
        #expect(paths(.hashes(level: 1), 65536) == ["tile/1/000"])
        #expect(paths(.hashes(level: 2), 65536) == ["tile/2/000.p/1"])
        let level0 = paths(.hashes(level: 0), 65537)
        #expect(level0.count == 257 && level0[255] == "tile/0/255" && level0[256] == "tile/0/256.p/1")
        // 2^24 + 5 leaves: 65536 full level-0 tiles, exactly 256 full level-1 tiles.
        let big: UInt64 = (1 << 24) + 5
        let bigLevel0 = paths(.hashes(level: 0), big)
        #expect(bigLevel0.count == 65537)
        #expect(bigLevel0.suffix(2) == ["tile/0/x065/535", "tile/0/x065/536.p/5"])
        #expect(paths(.hashes(level: 1), big).count == 256)
        #expect(paths(.hashes(level: 1), big).last == "tile/1/255")
        #expect(paths(.hashes(level: 2), big) == ["tile/2/000"])
        #expect(paths(.hashes(level: 3), big) == ["tile/3/000.p/1"])
        #expect(paths(.hashes(level: 7), UInt64.max) == ["tile/7/000.p/255"])
        // Every listed tile exists in its tree, and the next width of the last one does not.
        for size in [1, 255, 256, 257, 1000, 65537] as [UInt64] {
            for kind in [Tile.Kind.entries, .hashes(level: 0), .hashes(level: 1), .hashes(level: 2)] {
                let tiles = Tile.tiles(kind: kind, treeSize: size)
                #expect(tiles.allSatisfy { $0.exists(inTreeOfSize: size) })
                if let last = tiles.last, !last.isFull {
                    #expect(!Tile(kind: kind, index: last.index, width: last.width + 1).exists(inTreeOfSize: size))
                }
            }
        }
    }

    // MARK: - Entry bundles

    @Test("entry bundles: big-endian uint16 length prefixes, written out by hand")
    func entryBundleEncoding() {
        #expect(EntryBundle.encode([]) == [])
        #expect(EntryBundle.encode([[]]) == [0x00, 0x00])
        #expect(EntryBundle.encode([[], [0x01], [0x02, 0x03]]) == [0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x02, 0x02, 0x03])
        let long = [UInt8](repeating: 0x5A, count: 300)
        #expect(EntryBundle.encode([long]) == [0x01, 0x2C] + long)
        let longest = [UInt8](repeating: 0xA5, count: 65535)
        #expect(EntryBundle.encode([longest]) == [0xFF, 0xFF] + longest)
        #expect(EntryBundle.decode([0xFF, 0xFF] + longest) == [longest])
        #expect(EntryBundle.decode([UInt8]()) == [])
        #expect(EntryBundle.decode([0x00, 0x00]) == [[]])
    }

    @Test("entry bundles: every truncation inside an entry is rejected; cuts between entries decode to a prefix")
    func entryBundleTruncation() {
        var rng = SplitMix64(seed: 22)
        let entries = randomEntries(count: 40, maxLength: 300, rng: &rng) + [[]]
        let bundle = EntryBundle.encode(entries)
        #expect(EntryBundle.decode(bundle) == entries)
        #expect(EntryBundle.decode(bundle[...]) == entries, "as a slice")
        var boundaries: [Int: Int] = [0: 0] // byte offset → entries before it
        var offset = 0
        for (n, entry) in entries.enumerated() {
            offset += 2 + entry.count
            boundaries[offset] = n + 1
        }
        for cut in 0..<bundle.count {
            let decoded = EntryBundle.decode(bundle.prefix(cut))
            if let count = boundaries[cut] {
                #expect(decoded == Array(entries.prefix(count)), "cut at \(cut)")
            } else {
                #expect(decoded == nil, "cut at \(cut) inside an entry")
            }
        }
        // A length prefix promising more than there is.
        #expect(EntryBundle.decode([0x00]) == nil)
        #expect(EntryBundle.decode([0x00, 0x05, 1, 2, 3, 4]) == nil)
        #expect(EntryBundle.decode([0xFF, 0xFF] + [UInt8](repeating: 0, count: 100)) == nil)
        #expect(EntryBundle.decode(bundle + [0x00]) == nil)
    }

    // MARK: - Ledger entries

    private static func sampleHash(_ start: UInt8) -> Hash {
        Hash(bytes: (0..<32).map { start &+ UInt8($0) })!
    }

    private static let sample = LedgerEntry(
        index: 0x0102_0304_0506_0708, sequencedAtMilliseconds: 0x1122_3344_5566_7788,
        prev: sampleHash(0x20), commitment: sampleHash(0xA0), kind: "edit.requested")

    /// The sample entry, byte by byte from the layout table in LedgerEntry.swift.
    private static let sampleBytes: [UInt8] =
        [0x01] // version
        + [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08] // index, big-endian
        + [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88] // sequencedAt ms, big-endian
        + (0x20..<0x40).map { UInt8($0) } // prev
        + (0xA0..<0xC0).map { UInt8($0) } // commitment
        + [14] // kind length
        + [0x65, 0x64, 0x69, 0x74, 0x2E, 0x72, 0x65, 0x71, 0x75, 0x65, 0x73, 0x74, 0x65, 0x64] // "edit.requested"

    @Test("ledger entry layout v1: fields at the documented offsets")
    func entryLayout() throws {
        let bytes = Self.sample.encoded
        #expect(bytes == Self.sampleBytes)
        #expect(bytes.count == 82 + 14)
        #expect(bytes[0] == 0x01 && bytes[81] == 14)
        #expect(Array(bytes[17..<49]) == Self.sample.prev.bytes)
        #expect(Array(bytes[49..<81]) == Self.sample.commitment.bytes)
        #expect(Self.sample.leafHash == MerkleHash.sha256([0x00] + Self.sampleBytes))
        #expect(try LedgerEntry(decoding: Self.sampleBytes) == Self.sample)
        // Entry 0: prev is 32 zero bytes.
        let first = LedgerEntry(index: 0, sequencedAtMilliseconds: 0, prev: .zero, commitment: .zero, kind: "a")
        #expect(first.encoded == [0x01] + [UInt8](repeating: 0, count: 80) + [1, 0x61])
    }

    @Test("ledger entries round-trip for random fields and every valid kind length")
    func entryRoundTrip() throws {
        var rng = SplitMix64(seed: 23)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789._-")
        for n in 0..<500 {
            let kindLength = n < 64 ? n + 1 : 1 + Int(rng.next() % 64)
            let kind = String((0..<kindLength).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
            let entry = LedgerEntry(
                index: n % 3 == 0 ? UInt64.max : rng.next(), sequencedAtMilliseconds: rng.next(),
                prev: rng.hash(), commitment: rng.hash(), kind: kind)
            let bytes = entry.encoded
            #expect(bytes.count == 82 + kindLength)
            #expect(try LedgerEntry(decoding: bytes) == entry)
            #expect(try LedgerEntry(decoding: bytes[...]) == entry, "from a slice")
        }
    }

    @Test("kind names: lowercase ASCII letters, digits, '.', '_', '-'; 1…64 bytes")
    func kindNames() {
        for valid in ["a", "0", "edit.requested", "a_b-c.d", "takedown.v2", String(repeating: "z", count: 64)] {
            #expect(LedgerEntry.isValidKind(valid), "\(valid)")
        }
        for invalid in ["", "Edit", "edit requested", "edit/x", "é", "e\u{301}", "edit\n", "a+b", "a:b", "\u{0}", "\u{7f}",
                        String(repeating: "z", count: 65), "ａ", "edit.requesteD"] {
            #expect(!LedgerEntry.isValidKind(invalid), "\(invalid.debugDescription)")
        }
    }

    @Test("strict decoding: wrong version, every truncation, trailing bytes, bad kind length or kind")
    func entryStrictDecoding() {
        func rejects(_ bytes: [UInt8], _ why: String) {
            #expect(throws: LedgerEntry.DecodingError.self, "\(why)") { try LedgerEntry(decoding: bytes) }
        }
        let good = Self.sampleBytes
        rejects([], "empty")
        for version: UInt8 in [0x00, 0x03, 0x7F, 0xFF] {
            rejects([version] + good.dropFirst(), "version \(version)")
        }
        for cut in 0..<good.count { rejects(Array(good.prefix(cut)), "truncated to \(cut) bytes") }
        rejects(good + [0x61], "one trailing byte")
        rejects(good + good, "two entries")
        // The kind length byte must describe exactly the rest.
        for length: UInt8 in [0, 13, 15, 255] {
            var bytes = good
            bytes[81] = length
            rejects(bytes, "kind length \(length) for 14 bytes")
        }
        rejects(Array(good.prefix(82)), "no kind at all")
        var zeroKind = Array(good.prefix(81))
        zeroKind.append(0)
        rejects(zeroKind, "kind length 0")
        // Kinds the constructor would refuse must not come in through decoding.
        let prefix = Array(good.prefix(81))
        for kind in [[UInt8](repeating: 0x61, count: 65), Array("Edit".utf8), Array("a b".utf8), Array("é".utf8),
                     [0xFF], [0xC3], [0x61, 0x00], [0x7F], Array("a/b".utf8)] {
            rejects(prefix + [UInt8(kind.count)] + kind, "kind \(kind)")
        }
        // And a 64-byte kind is the largest accepted.
        let longest = [UInt8](repeating: 0x61, count: 64)
        #expect(throws: Never.self) { try LedgerEntry(decoding: prefix + [64] + longest) }
    }

    // MARK: - Mutation fuzzing of every parser

    private enum Mutation {
        /// Bytes that matter to the formats: separators, digits, base64 padding, the em dash's lead byte.
        static let interesting: [UInt8] = Array("\n /.x0179p+=-—".utf8) + [0x00, 0x7F, 0xFF, 0xC3]

        static func mutate(_ input: [UInt8], rng: inout SplitMix64) -> [UInt8] {
            var bytes = input
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                switch rng.next() % 3 {
                case 0 where !bytes.isEmpty:
                    let at = Int(rng.next() % UInt64(bytes.count))
                    bytes[at] ^= UInt8(1) << UInt8(rng.next() % 8)
                case 1:
                    let at = Int(rng.next() % UInt64(bytes.count + 1))
                    let byte = rng.next() % 2 == 0 ? interesting[Int(rng.next() % UInt64(interesting.count))] : UInt8(truncatingIfNeeded: rng.next())
                    bytes.insert(byte, at: at)
                default:
                    if !bytes.isEmpty { bytes.remove(at: Int(rng.next() % UInt64(bytes.count))) }
                }
            }
            return bytes
        }
    }

    @Test("20,000 seeded mutations: no crash, strict parsers re-encode what they accept, no forged checkpoint verifies")
    func mutationFuzz() throws {
        let vectors = try RFC9162VectorFile.load()
        let verifier = try NoteVerifier(verifierKey: vectors.checkpoints.verifierKey)
        var rng = SplitMix64(seed: 0x6772_6566_6665) // "greffe"

        let entries = (0..<4).map { n in
            LedgerEntry(index: UInt64(n) * 1000, sequencedAtMilliseconds: rng.next(), prev: rng.hash(), commitment: rng.hash(),
                        kind: ["a", "edit.requested", "takedown.executed", String(repeating: "k", count: 64)][n]).encoded
        }
        let bundles = [EntryBundle.encode(entries), EntryBundle.encode(Seed1Tree.shared.entries.prefix(20).map { $0 })]
        let paths = ["tile/0/000", "tile/0/x001/x234/067", "tile/0/x001/x234/067.p/8", "tile/entries/005.p/17", "tile/7/000.p/255", "/tile/1/x018/000"]
        let notes = vectors.checkpoints.notes.map(\.note)
        let bodies = try notes.map { try SignedNote(parsing: $0).text }

        var counts = (accepted: 0, verified: 0)
        for round in 0..<20_000 {
            switch round % 5 {
            case 0:
                let mutated = Mutation.mutate(entries[round / 5 % entries.count], rng: &rng)
                if let entry = try? LedgerEntry(decoding: mutated) {
                    counts.accepted += 1
                    #expect(entry.encoded == mutated, "accepted a non-canonical entry \(mutated)")
                }
            case 1:
                let mutated = Mutation.mutate(bundles[round % 2], rng: &rng)
                if let decoded = EntryBundle.decode(mutated) {
                    counts.accepted += 1
                    #expect(EntryBundle.encode(decoded) == mutated)
                }
            case 2:
                let mutated = String(decoding: Mutation.mutate(Array(paths[round / 5 % paths.count].utf8), rng: &rng), as: UTF8.self)
                if let tile = Tile(path: mutated) {
                    counts.accepted += 1
                    let canonical = mutated.hasPrefix("/") ? String(mutated.dropFirst()) : mutated
                    #expect(tile.path == canonical, "\(mutated.debugDescription) parsed as \(tile.path)")
                    _ = tile.exists(inTreeOfSize: UInt64.max)
                }
            case 3:
                let mutated = String(decoding: Mutation.mutate(Array(bodies[round / 5 % bodies.count].utf8), rng: &rng), as: UTF8.self)
                if let checkpoint = try? Checkpoint(parsing: mutated) {
                    counts.accepted += 1
                    #expect(checkpoint.text == mutated, "accepted a non-canonical checkpoint \(mutated.debugDescription)")
                }
            default:
                let original = notes[round / 5 % notes.count]
                let mutated = String(decoding: Mutation.mutate(Array(original.utf8), rng: &rng), as: UTF8.self)
                if let note = try? SignedNote(parsing: mutated) {
                    counts.accepted += 1
                    // Whatever was accepted survives a format/parse round trip unchanged.
                    #expect((try? SignedNote(parsing: note.formatted)) == note, "\(mutated.debugDescription)")
                }
                if let verified = try? CheckpointVerifier.verify(note: mutated, verifier: verifier) {
                    counts.verified += 1
                    // The signed content must be exactly what was signed. (A note may still
                    // differ in how its signature's base64 is spelled: see NoteTests.)
                    let originalNote = try SignedNote(parsing: original)
                    #expect(verified.checkpoint == (try Checkpoint(parsing: originalNote.text)), "forged: \(mutated.debugDescription)")
                    #expect((try SignedNote(parsing: mutated)).formatted == original, "forged: \(mutated.debugDescription)")
                }
            }
        }
        // The mutations must reach the accepting paths at all, or the run proves nothing.
        #expect(counts.accepted > 100, "\(counts)")
    }
}
