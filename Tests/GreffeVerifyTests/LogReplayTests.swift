// The audit replays a generated log (tiles in a dictionary) and must pass it
// untouched, and name the exact tile — and entry — for each way of breaking
// it: a flipped byte in a hash tile at level 0, 1 or 2, in an entry bundle,
// a broken prev link, time going backwards, a missing tile, a truncated or
// padded tile, a root that is not the checkpoint's. Incremental audits from
// an earlier checkpoint replay only the new part and refuse a forked or
// inconsistent start.

import Foundation
import GreffeCore
@testable import GreffeVerify
import Synchronization
import Testing

/// 3000 entries: bundles 000…010 full, 011.p/184 partial; level 1: 000.p/11.
private let small = GeneratedLog(size: 3000, rootsAt: [1, 2, 255, 256, 257, 1234, 2816, 2817, 2999, 3000])
/// 66,049 entries: a full level-1 tile and a partial level-2 tile.
private let large = GeneratedLog(size: 65_536 + 513, seed: 9)

@Suite("LogReplay")
struct LogReplayTests {
    // MARK: - Valid logs

    @Test("valid logs of every shape pass, whatever the parallelism", arguments: [UInt64(0), 1, 2, 255, 256, 257, 511, 512, 3000])
    func validLogs(size: UInt64) async throws {
        let log = size == 3000 ? small : GeneratedLog(size: size, seed: size)
        for (threads, readAhead) in [(1, 1), (2, 4), (3, 64)] {
            let report = try await log.replay(threads: threads, readAhead: readAhead).audit(treeSize: log.size, root: log.root)
            #expect(report.treeSize == size)
            #expect(report.entriesReplayed == size)
            #expect(report.root == log.root)
            #expect(report.tilesRead == log.tiles.count, "every tile read once")
        }
    }

    @Test("a log with full level-1 and partial level-2 tiles passes")
    func largeLog() async throws {
        let report = try await large.replay(readAhead: 32).audit(treeSize: large.size, root: large.root)
        #expect(report.entriesReplayed == large.size)
        #expect(large.tiles["tile/1/000"] != nil && large.tiles["tile/2/000.p/1"] != nil)
    }

    @Test("every tile is handed to onChecked exactly once, with the served bytes")
    func checkedTiles() async throws {
        let seen = Mutex<[String: [UInt8]]>([:])
        let duplicates = Mutex(0)
        _ = try await small.replay().audit(treeSize: small.size, root: small.root, onChecked: { tile, bytes in
            seen.withLock { if $0.updateValue(bytes, forKey: tile.path) != nil { duplicates.withLock { $0 += 1 } } }
        })
        #expect(seen.withLock { $0 } == small.tiles)
        #expect(duplicates.withLock { $0 } == 0)
    }

    @Test("progress reaches the total")
    func progress() async throws {
        let last = Mutex<ReplayProgress?>(nil)
        _ = try await small.replay(readAhead: 2).audit(treeSize: small.size, root: small.root, progress: { p in last.withLock { $0 = p } })
        let final = try #require(last.withLock { $0 })
        #expect(final.entriesDone == 3000 && final.entriesTotal == 3000)
    }

    // MARK: - Hash tiles

    @Test("a flipped byte in a full level-0 tile is named, with its entry")
    func level0Tile() async throws {
        let failure = try #require(await auditFailure(small.source.flipping("tile/0/004", byte: 32 * 100 + 5), size: 3000, root: small.root))
        #expect(failure.code == .hashTileMismatch)
        #expect(failure.tile == "tile/0/004")
        #expect(failure.entryIndex == 4 * 256 + 100)
    }

    @Test("a flipped byte at the last position of a full level-0 tile is named")
    func level0TileLastPosition() async throws {
        let failure = try #require(await auditFailure(small.source.flipping("tile/0/002", byte: 32 * 255 + 31, bit: 7), size: 3000, root: small.root))
        #expect(failure.code == .hashTileMismatch)
        #expect(failure.tile == "tile/0/002")
        #expect(failure.entryIndex == 2 * 256 + 255)
    }

    @Test("a flipped byte in the partial level-0 tile is named (the root settles it)")
    func partialLevel0Tile() async throws {
        let failure = try #require(await auditFailure(small.source.flipping("tile/0/011.p/184", byte: 32 * 50), size: 3000, root: small.root))
        #expect(failure.code == .hashTileMismatch)
        #expect(failure.tile == "tile/0/011.p/184")
        #expect(failure.entryIndex == 11 * 256 + 50)
    }

    @Test("a flipped byte in a level-1 tile is named", arguments: [0, 3, 10])
    func level1Tile(position: Int) async throws {
        let failure = try #require(await auditFailure(small.source.flipping("tile/1/000.p/11", byte: 32 * position + 9), size: 3000, root: small.root))
        #expect(failure.code == .hashTileMismatch)
        #expect(failure.tile == "tile/1/000.p/11")
        #expect(failure.message.contains("position \(position)"))
    }

    @Test("flipped bytes in a full level-1 tile and a level-2 tile are named")
    func upperTiles() async throws {
        var failure = try #require(await auditFailure(large.source.flipping("tile/1/000", byte: 32 * 200 + 1), size: large.size, root: large.root))
        #expect(failure.code == .hashTileMismatch)
        #expect(failure.tile == "tile/1/000")
        #expect(failure.message.contains("position 200"))
        failure = try #require(await auditFailure(large.source.flipping("tile/2/000.p/1", byte: 17), size: large.size, root: large.root))
        #expect(failure.code == .hashTileMismatch)
        #expect(failure.tile == "tile/2/000.p/1")
    }

    @Test("a hash tile of the wrong length is malformed")
    func malformedTiles() async throws {
        var source = small.source
        source.tiles["tile/0/003"]!.append(0)
        var failure = try #require(await auditFailure(source, size: 3000, root: small.root))
        #expect(failure.code == .tileMalformed && failure.tile == "tile/0/003")
        source = small.source
        source.tiles["tile/1/000.p/11"]!.removeLast(32)
        failure = try #require(await auditFailure(source, size: 3000, root: small.root))
        #expect(failure.code == .tileMalformed && failure.tile == "tile/1/000.p/11")
    }

    // MARK: - Entry bundles

    /// Byte offset of entry `position`'s first byte in a bundle (after its length prefix).
    private func entryOffset(_ bundle: [UInt8], position: Int) -> Int {
        var offset = 0
        for _ in 0..<position { offset += 2 + (Int(bundle[offset]) << 8 | Int(bundle[offset + 1])) }
        return offset + 2
    }

    @Test("a flipped byte in each field of an entry names the entry bundle and the entry")
    func entryFields() async throws {
        let path = "tile/entries/005"
        let bundle = small.tiles[path]!
        let position = 17
        let start = entryOffset(bundle, position: position)
        let entry = UInt64(5 * 256 + position)
        let cases: [(String, Int, UInt8, AuditFailure.Code)] = [
            ("version", 0, 0, .entryInvalid),
            ("index", 8, 0, .entryIndexMismatch),
            ("prev", 17 + 4, 2, .prevMismatch),
            ("commitment", 49 + 31, 7, .entryMismatch),
            ("sequenced at (later)", 10, 0, .entryMismatch),
            ("kind length", 81, 3, .entryInvalid),
            ("kind", 82, 7, .entryInvalid),
        ]
        for (field, offset, bit, code) in cases {
            let failure = try #require(await auditFailure(small.source.flipping(path, byte: start + offset, bit: bit), size: 3000, root: small.root))
            #expect(failure.code == code, "\(field): \(failure.message)")
            #expect(failure.tile == path, "\(field): \(failure.message)")
            #expect(failure.entryIndex == entry, "\(field): \(failure.message)")
        }
    }

    @Test("the altered entry is found at a bundle's last position and in the partial bundle")
    func entryEdges() async throws {
        let full = "tile/entries/003"
        var failure = try #require(await auditFailure(
            small.source.flipping(full, byte: entryOffset(small.tiles[full]!, position: 255) + 60), size: 3000, root: small.root))
        #expect(failure.code == .entryMismatch && failure.tile == full && failure.entryIndex == 3 * 256 + 255, "\(failure)")
        let partial = "tile/entries/011.p/184"
        failure = try #require(await auditFailure(
            small.source.flipping(partial, byte: entryOffset(small.tiles[partial]!, position: 183) + 60), size: 3000, root: small.root))
        #expect(failure.code == .entryMismatch && failure.tile == partial && failure.entryIndex == 2999, "\(failure)")
    }

    @Test("any flipped byte of an entry bundle names that bundle", arguments: [UInt64(21), 22, 23])
    func anyBundleByte(seed: UInt64) async throws {
        var rng = SplitMix64(seed: seed)
        let path = "tile/entries/007"
        let count = small.tiles[path]!.count
        for _ in 0..<12 {
            let byte = Int(rng.next() % UInt64(count))
            let failure = try #require(await auditFailure(
                small.source.flipping(path, byte: byte, bit: UInt8(rng.next() % 8)), size: 3000, root: small.root))
            #expect(failure.tile == path, "byte \(byte): \(failure.code) \(failure.message)")
        }
    }

    @Test("an entry bundle with bytes after its entries, or cut short, is malformed")
    func malformedBundles() async throws {
        var source = small.source
        source.tiles["tile/entries/002"]!.append(contentsOf: [0, 0])
        var failure = try #require(await auditFailure(source, size: 3000, root: small.root))
        #expect(failure.code == .entryBundleMalformed && failure.tile == "tile/entries/002")
        source = small.source
        source.tiles["tile/entries/002"]!.removeLast(10)
        failure = try #require(await auditFailure(source, size: 3000, root: small.root))
        #expect(failure.tile == "tile/entries/002", "\(failure)")
    }

    @Test("a broken prev link is named, inside a bundle and across bundles", arguments: [UInt64(0), 1234, 1280, 2999])
    func brokenPrev(at entry: UInt64) async throws {
        let log = GeneratedLog(size: 3000, breakPrevAt: entry)
        let failure = try #require(await auditFailure(log.source, size: log.size, root: log.root))
        #expect(failure.code == .prevMismatch)
        #expect(failure.entryIndex == entry)
        #expect(failure.tile == LogReplay.tile(.entries, index: entry >> 8, treeSize: 3000)!.path)
    }

    @Test("time going backwards is named", arguments: [UInt64(1500), 1536])
    func timeBackwards(at entry: UInt64) async throws {
        let log = GeneratedLog(size: 3000, timeBackAt: entry)
        let failure = try #require(await auditFailure(log.source, size: log.size, root: log.root))
        #expect(failure.code == .timeWentBackwards)
        #expect(failure.entryIndex == entry)
    }

    // MARK: - Missing tiles and roots

    @Test("a missing tile is named", arguments: ["tile/1/000.p/11", "tile/entries/007", "tile/0/011.p/184"])
    func missingTile(path: String) async throws {
        let failure = try #require(await auditFailure(small.source.removing(path), size: 3000, root: small.root))
        #expect(failure.code == .tileUnavailable)
        #expect(failure.tile == path)
    }

    @Test("a root that is not the checkpoint's fails")
    func wrongRoot() async throws {
        let failure = try #require(await auditFailure(small.source, size: 3000, root: small.root.flippingBit(100)))
        #expect(failure.code == .rootMismatch)
        let other = GeneratedLog(size: 3000, seed: 2)
        #expect(try #require(await auditFailure(small.source, size: 3000, root: other.root)).code == .rootMismatch)
        #expect(try #require(await auditFailure(MemoryTileSource(), size: 0, root: small.root)).code == .rootMismatch)
    }

    // MARK: - Incremental

    @Test("from an earlier checkpoint only the new part is replayed", arguments: [UInt64(1), 2, 255, 256, 257, 1234, 2816, 2817, 2999])
    func incremental(from m: UInt64) async throws {
        let root = try #require(small.roots[m])
        for proof in [small.consistencyProof(from: m), nil] {
            let report = try await small.replay().audit(
                treeSize: 3000, root: small.root, from: EarlierCheckpoint(size: m, root: root, consistencyProof: proof))
            #expect(report.startSize == m)
            #expect(report.entriesReplayed == 3000 - m)
            if m >= 2816 { #expect(report.tilesRead <= 6, "\(report.tilesRead) tiles for \(3000 - m) entries") }
        }
    }

    @Test("an incremental audit still catches tampering in the new part")
    func incrementalTampering() async throws {
        let failure = try #require(await auditFailure(
            small.source.flipping("tile/0/008", byte: 64), size: 3000, root: small.root,
            from: EarlierCheckpoint(size: 1234, root: small.roots[1234]!)))
        #expect(failure.code == .hashTileMismatch && failure.tile == "tile/0/008")
        let prefix = try #require(await auditFailure(
            small.source.flipping("tile/0/004", byte: 32 * 200), size: 3000, root: small.root,
            from: EarlierCheckpoint(size: 1234, root: small.roots[1234]!)))
        // The already-audited prefix of the first bundle is the earlier tree's right edge: it must hash to the earlier root.
        #expect(prefix.code == .earlierRootMismatch && prefix.message.contains("tile/0/004"), "\(prefix)")
    }

    @Test("equal sizes: nothing to replay, the roots must agree")
    func incrementalSameSize() async throws {
        let report = try await small.replay().audit(treeSize: 3000, root: small.root, from: EarlierCheckpoint(size: 3000, root: small.root, consistencyProof: []))
        #expect(report.entriesReplayed == 0)
        let failure = try #require(await auditFailure(small.source, size: 3000, root: small.root, from: EarlierCheckpoint(size: 3000, root: small.roots[2999]!)))
        #expect(failure.code == .earlierRootMismatch)
    }

    @Test("a forked, inconsistent or larger earlier checkpoint is refused")
    func incrementalRefusals() async throws {
        let fork = GeneratedLog(size: 1234, seed: 5)
        var failure = try #require(await auditFailure(small.source, size: 3000, root: small.root, from: EarlierCheckpoint(size: 1234, root: fork.root)))
        #expect(failure.code == .earlierRootMismatch)
        var proof = small.consistencyProof(from: 1234)
        proof[1] = proof[1].flippingBit(0)
        failure = try #require(await auditFailure(
            small.source, size: 3000, root: small.root, from: EarlierCheckpoint(size: 1234, root: small.roots[1234]!, consistencyProof: proof)))
        #expect(failure.code == .inconsistent)
        failure = try #require(await auditFailure(small.source, size: 2999, root: small.roots[2999]!, from: EarlierCheckpoint(size: 3000, root: small.root)))
        #expect(failure.code == .sizeRegression)
        // A leaf hash tile that hides another entry m − 1 under the same earlier root cannot: the root differs.
        failure = try #require(await auditFailure(
            small.source.flipping("tile/0/004", byte: 32 * 209), size: 3000, root: small.root,
            from: EarlierCheckpoint(size: 1234, root: small.roots[1234]!)))
        #expect(failure.code == .earlierRootMismatch)
    }
}

@Suite("EntryLayout")
struct EntryLayoutTests {
    @Test("the in-place layout check accepts exactly what LedgerEntry(decoding:) accepts")
    func agreesWithDecoder() {
        var rng = SplitMix64(seed: 42)
        let base = LedgerEntry(index: 7, sequencedAtMilliseconds: 9, prev: rng.hash(), commitment: rng.hash(), kind: "edit.requested").encoded
        var accepted = 0
        for trial in 0..<20_000 {
            var bytes = base
            switch trial % 4 {
            case 0: bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            case 1: bytes.removeLast(Int(rng.next() % 4))
            case 2: bytes.append(contentsOf: [UInt8](repeating: 0x61, count: Int(rng.next() % 3)))
            default:
                let length = Int(rng.next() % 70)
                bytes = Array(bytes.prefix(81)) + [UInt8(truncatingIfNeeded: length)]
                    + (0..<length).map { _ in [0x61, 0x2e, 0x30, 0x5f, 0x2d, 0x41, 0x20][Int(rng.next() % 7)] }
            }
            let decoded = (try? LedgerEntry(decoding: bytes)) != nil
            let fast = bytes.withUnsafeBytes { EntryLayout.isValid($0) }
            #expect(decoded == fast, "trial \(trial): \(bytes.count) bytes")
            if decoded { accepted += 1 }
        }
        #expect(accepted > 100, "the mutations must also produce valid entries")
    }

    @Test("the leaf hash in place is RFC 9162's")
    func leafHash() {
        let entry = LedgerEntry(index: 1, sequencedAtMilliseconds: 2, prev: .zero, commitment: .zero, kind: "a").encoded
        #expect(entry.withUnsafeBytes { EntryLayout.leafHash($0) } == MerkleHash.leaf(entry))
    }
}

@Suite("TiledLogBuilder")
struct TiledLogBuilderTests {
    /// The C2SP contents of a hash tile, straight from the tree's nodes.
    private func expectedTile(_ tile: Tile, tree: MemoryTree) -> [UInt8] {
        (0..<UInt64(tile.width)).flatMap { offset in
            try! tree.node(level: tile.nodeLevel, index: tile.firstNode + offset).bytes
        }
    }

    @Test("tiles and root agree with MerkleTree over every node, for every size up to 600 and past a level-1 tile")
    func agreesWithTree() {
        var rng = SplitMix64(seed: 17)
        let entries = (0..<(65_536 + 300)).map { i in [UInt8](repeating: UInt8(i & 0xff), count: 1 + Int(rng.next() % 40)) }
        let tree = MemoryTree(leaves: entries.map { MerkleHash.leaf($0) })
        var builder = TiledLogBuilder()
        var emitted: [String: [UInt8]] = [:]
        for (i, entry) in entries.enumerated() {
            builder.append(entry) { tile, bytes in
                #expect(emitted.updateValue(bytes, forKey: tile.path) == nil, "\(tile.path) emitted twice")
                if case .hashes = tile.kind { #expect(bytes == expectedTile(tile, tree: tree), "\(tile.path)") }
            }
            let size = UInt64(i + 1)
            if size <= 600 || size == UInt64(entries.count) || size % 4099 == 0 {
                #expect(builder.root == tree.root(size: size), "root at size \(size)")
                for (tile, bytes) in builder.partialTiles {
                    #expect(tile.exists(inTreeOfSize: size) && !tile.isFull)
                    if case .hashes = tile.kind { #expect(bytes == expectedTile(tile, tree: tree), "\(tile.path) at size \(size)") }
                    else { #expect(EntryBundle.decode(bytes) == Array(entries[Int(tile.firstNode)..<Int(tile.firstNode) + tile.width])) }
                }
            }
        }
        #expect(emitted["tile/1/000"] != nil)
        #expect(EntryBundle.decode(emitted["tile/entries/100"]!) == Array(entries[25_600..<25_856]))
    }
}
