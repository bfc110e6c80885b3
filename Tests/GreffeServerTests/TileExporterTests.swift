import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import Logging
import Testing

@Suite("static tile export (--tiles-dir)")
struct TileExporterTests {
    @Test("tilesToWrite: the C2SP examples and the edges of tiles")
    func tilesToWriteExamples() {
        func paths(_ from: UInt64, _ to: UInt64) -> Set<String> { Set(TileExporter.tilesToWrite(from: from, to: to).map(\.path)) }
        #expect(paths(0, 0).isEmpty)
        #expect(paths(0, 1) == ["tile/entries/000.p/1", "tile/0/000.p/1"])
        // C2SP: "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1".
        #expect(paths(0, 256) == ["tile/entries/000", "tile/0/000", "tile/1/000.p/1"])
        // Level 1 does not change between 256 and 300: nothing to write there.
        #expect(paths(256, 300) == ["tile/entries/001.p/44", "tile/0/001.p/44"])
        #expect(paths(300, 512) == ["tile/entries/001", "tile/0/001", "tile/1/000.p/2"])
        #expect(paths(5, 5).isEmpty)
        // C2SP: size 70,000 is 273 full level-0 tiles, a partial of 112, one full level-1 tile,
        // a partial level-1 tile of width 17, a partial level-2 tile of width 1 (and the bundles of level 0).
        let all = TileExporter.tilesToWrite(from: 0, to: 70_000)
        let level0 = all.filter { $0.kind == .hashes(level: 0) }
        #expect(level0.filter(\.isFull).count == 273)
        #expect(level0.filter { !$0.isFull }.map(\.width) == [112])
        #expect(all.filter { $0.kind == .hashes(level: 1) }.map(\.width) == [256, 17])
        #expect(all.filter { $0.kind == .hashes(level: 2) }.map(\.width) == [1])
        #expect(all.filter { $0.kind == .entries }.count == 274)
        #expect(all.count == 274 + 274 + 2 + 1)
    }

    @Test("along any chain of checkpoints, every tile a checkpoint needs was written by then, each full tile once")
    func tilesToWriteChains() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var written: [Tile: Int] = [:]
            var size: UInt64 = 0
            while size < 140_000 {
                let step = [UInt64(1), 3, 255, 256, 257, 1000, 65_536].randomElement(using: &generator)!
                let next = size + UInt64.random(in: 1...step, using: &generator)
                for tile in TileExporter.tilesToWrite(from: size, to: next) { written[tile, default: 0] += 1 }
                var kinds: [Tile.Kind] = [.entries]
                for level in 0..<3 { kinds.append(.hashes(level: level)) }
                for kind in kinds {
                    for tile in Tile.tiles(kind: kind, treeSize: next) {
                        #expect(written[tile] != nil, "size \(next) needs \(tile.path)")
                    }
                }
                size = next
            }
            #expect(written.allSatisfy { $0.value == 1 }, "a tile written twice")
        }
    }

    @Test("the directory holds exactly the served bytes; the checkpoint file last; a fresh directory is caught up")
    func exportMatchesLedger() async throws {
        let test = try await MeteredLedger.make(exportTiles: true)
        let intake = EventIntake()
        var next = 0
        for count in [1, 2, 300, 1, 255, 100] {
            let events = (next..<next + count).map { event("x-\($0)", reference: "r-\($0)") }
            next += count
            let parsed = try intake.parse(Array("{\"events\":[\(events.joined(separator: ","))]}".utf8))
            let receipts = try await test.ledger.append(parsed.events)
            _ = try await test.ledger.waitForCheckpoint(covering: receipts.last!.index + 1)
        }
        let checkpoint = try #require(test.ledger.latestCheckpoint)
        #expect(checkpoint.size == UInt64(next))
        let tiles = try #require(test.exporter).directory
        #expect(try String(contentsOf: tiles.appendingPathComponent("checkpoint"), encoding: .utf8) == checkpoint.note)
        try await Self.expectDirectory(tiles, matches: test.ledger, size: checkpoint.size)

        // A new directory over the same store: one export of the latest checkpoint writes everything.
        let fresh = test.directory.appendingPathComponent("fresh")
        let exporter = TileExporter(directory: fresh.path, store: test.store, verifier: test.ledger.verifier, logger: Logger(label: "test"))
        #expect(await exporter.export(checkpoint))
        try await Self.expectDirectory(fresh, matches: test.ledger, size: checkpoint.size)
        await test.stop()
    }

    @Test("a tile on disk that differs from the store stops the export; the checkpoint file is not replaced")
    func tamperedTileRefused() async throws {
        let test = try await MeteredLedger.make(exportTiles: true)
        let intake = EventIntake()
        let events = (0..<300).map { event("t-\($0)", reference: "r-\($0)") }
        let parsed = try intake.parse(Array("{\"events\":[\(events.joined(separator: ","))]}".utf8))
        _ = try await test.ledger.append(parsed.events)
        let checkpoint = try await test.ledger.waitForCheckpoint(covering: 300)
        await test.stop()
        let tiles = try #require(test.exporter).directory
        let tile = tiles.appendingPathComponent("tile/0/000")
        var bytes = try Data(contentsOf: tile)
        bytes[77] ^= 0x01
        try bytes.write(to: tile)
        try FileManager.default.removeItem(at: tiles.appendingPathComponent("checkpoint"))

        let exporter = TileExporter(directory: tiles.path, store: test.store, verifier: test.ledger.verifier, logger: Logger(label: "test"))
        #expect(await exporter.export(checkpoint) == false)
        #expect(!FileManager.default.fileExists(atPath: tiles.appendingPathComponent("checkpoint").path))
        #expect(try Data(contentsOf: tile) == bytes, "the tampered file must be left for inspection, not overwritten")

        // A checkpoint file signed by another key: not this log's directory.
        let other = try NoteSigner(generatingFor: "metrics.example/log")
        try other.sign(text: Checkpoint(origin: "metrics.example/log", size: 1, root: MerkleHash.emptyRoot).text).formatted
            .write(to: tiles.appendingPathComponent("checkpoint"), atomically: true, encoding: .utf8)
        let again = TileExporter(directory: tiles.path, store: test.store, verifier: test.ledger.verifier, logger: Logger(label: "test"))
        #expect(await again.export(checkpoint) == false)
    }

    /// Every tile the checkpoint of `size` needs is in `directory` with the bytes the live server serves, and nothing else.
    static func expectDirectory(_ directory: URL, matches ledger: Ledger, size: UInt64) async throws {
        var needed: [Tile] = Tile.tiles(kind: .entries, treeSize: size)
        for level in 0..<3 { needed += Tile.tiles(kind: .hashes(level: level), treeSize: size) }
        for tile in needed {
            let onDisk = try Data(contentsOf: directory.appendingPathComponent(tile.path))
            let served = try #require(try await ledger.tileData(tile))
            #expect(Array(onDisk) == served, "\(tile.path)")
        }
        let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey])!
        for case let url as URL in files where (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true {
            let relative = String(url.path.dropFirst(directory.path.count + 1))
            if relative == "checkpoint" { continue }
            let tile = try #require(Tile(path: relative), "unexpected file \(relative)")
            if !tile.isFull {
                // Partial tiles of a tile now full are deleted (C2SP allows it); narrower ones of the last tile stay.
                let full = Tile(kind: tile.kind, index: tile.index, width: Tile.fullWidth)
                #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent(full.path).path), "\(relative) beside its full tile")
            }
            let served = try #require(try await ledger.tileData(tile))
            #expect(Array(try Data(contentsOf: url)) == served, "\(relative)")
        }
    }
}
