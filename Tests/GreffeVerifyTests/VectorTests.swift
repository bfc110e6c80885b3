// Known answers from Go: rfc9162-seed1.json (shared/testvectors), computed by
// golang.org/x/mod/sumdb/tlog. The batch verifier must accept every valid
// inclusion vector and reject every invalid one; the tiles this package
// builds (the same arithmetic the replay checks tiles with) must be Go's,
// byte for byte, entry bundles included.

import Foundation
import GreffeCore
@testable import GreffeVerify
import Testing

/// The parts of the vector file these tests use.
private struct Vectors: Decodable {
    struct Inclusion: Decodable {
        let index: UInt64
        let treeSize: UInt64
        let leafHash: String
        let root: String
        let proof: [String]
        let reason: String?
        enum CodingKeys: String, CodingKey {
            case index, proof, reason, root
            case treeSize = "tree_size"
            case leafHash = "leaf_hash"
        }
    }

    struct Root: Decodable {
        let treeSize: UInt64
        let root: String
        enum CodingKeys: String, CodingKey {
            case root
            case treeSize = "tree_size"
        }
    }

    struct TileSet: Decodable {
        let treeSize: UInt64
        let tiles: [String: String]
        enum CodingKeys: String, CodingKey {
            case tiles
            case treeSize = "tree_size"
        }
    }

    let roots: [Root]
    let inclusion: [Inclusion]
    let inclusionInvalid: [Inclusion]
    let tiles: [TileSet]
    enum CodingKeys: String, CodingKey {
        case roots, inclusion, tiles
        case inclusionInvalid = "inclusion_invalid"
    }

    /// `$GREFFE_TESTVECTORS`, else shared/testvectors beside the repository, else /work/shared/testvectors.
    static func load() throws -> Vectors {
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["GREFFE_TESTVECTORS"], !env.isEmpty {
            candidates.append(URL(fileURLWithPath: env, isDirectory: true))
        }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(repository.deletingLastPathComponent().appendingPathComponent("shared/testvectors", isDirectory: true))
        candidates.append(URL(fileURLWithPath: "/work/shared/testvectors", isDirectory: true))
        let file = try #require(
            candidates.map { $0.appendingPathComponent("rfc9162-seed1.json") }.first { FileManager.default.fileExists(atPath: $0.path) },
            "rfc9162-seed1.json not found (set GREFFE_TESTVECTORS)")
        return try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: file))
    }
}

private func hash(_ base64: String) -> Hash { Hash(base64: base64)! }

@Suite("Go vectors")
struct VectorTests {
    @Test("the batch verifier accepts every valid inclusion vector and rejects every invalid one")
    func inclusionVectors() throws {
        let vectors = try Vectors.load()
        let all = vectors.inclusion.map { ($0, true) } + vectors.inclusionInvalid.map { ($0, false) }
        #expect(all.count > 400)
        // One batch per (tree size, root): the batch verifier checks against one root.
        let batches = Dictionary(grouping: all) { "\($0.0.treeSize) \($0.0.root)" }
        for (_, batch) in batches {
            let first = batch[0].0
            let claims = batch.map { InclusionClaim(index: $0.0.index, leafHash: hash($0.0.leafHash), proof: $0.0.proof.map(hash)) }
            for threads in [1, 2] {
                let errors = BatchVerifier.verify(claims, treeSize: first.treeSize, root: hash(first.root), threads: threads)
                for ((vector, valid), error) in zip(batch, errors) {
                    #expect((error == nil) == valid, "index \(vector.index) in \(vector.treeSize): \(vector.reason ?? "valid"), got \(error?.message ?? "verified")")
                }
            }
        }
    }

    @Test("TiledLogBuilder makes Go's tiles and roots from the vector entries")
    func goTiles() throws {
        let vectors = try Vectors.load()
        let roots = Dictionary(vectors.roots.map { ($0.treeSize, hash($0.root)) }, uniquingKeysWith: { a, _ in a })
        #expect(vectors.tiles.count >= 2)
        for set in vectors.tiles {
            let served = set.tiles.mapValues { [UInt8](Data(base64Encoded: $0)!) }
            // The entries, from Go's own entry bundles.
            var entries: [[UInt8]] = []
            for tile in Tile.tiles(kind: .entries, treeSize: set.treeSize) {
                let bundle = try #require(served[tile.path], "\(tile.path) missing")
                entries += try #require(EntryBundle.decode(bundle), "\(tile.path) is not an entry bundle")
            }
            #expect(UInt64(entries.count) == set.treeSize)
            var builder = TiledLogBuilder()
            var built: [String: [UInt8]] = [:]
            for entry in entries {
                builder.append(entry) { tile, bytes in built[tile.path] = bytes }
                if let root = roots[builder.size] { #expect(builder.root == root, "root at \(builder.size)") }
            }
            for (tile, bytes) in builder.partialTiles { built[tile.path] = bytes }
            #expect(Set(built.keys) == Set(served.keys), "tree \(set.treeSize): paths")
            for (path, bytes) in served { #expect(built[path] == bytes, "tree \(set.treeSize): \(path)") }
        }
    }
}
