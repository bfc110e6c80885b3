// Known answers from an independent implementation: rfc9162-seed1.json was
// computed by Go's golang.org/x/mod/sumdb/tlog. Every hash, proof, tile and
// checkpoint we produce for the same entries must equal it byte for byte, and
// every deliberately broken proof in it must be rejected.

import Foundation
@testable import GreffeCore
import Testing

@Suite("RFC 9162 vectors from Go's sumdb/tlog")
struct MerkleVectorTests {
    @Test("the vector file is the one described: seed 1, SHA-256 conventions, non-trivial content")
    func vectorFileShape() throws {
        let vectors = try RFC9162VectorFile.load()
        #expect(vectors.seed == 1)
        #expect(vectors.description.contains("SHA-256(0x00||entry)"))
        #expect(vectors.entries.count == vectors.leafHashes.count)
        #expect(vectors.entries.count > 4096)
        #expect(!vectors.inclusion.isEmpty && !vectors.inclusionInvalid.isEmpty)
        #expect(!vectors.consistency.isEmpty && !vectors.consistencyInvalid.isEmpty)
        #expect(vectors.tiles.count >= 2 && vectors.checkpoints.notes.count >= 2)
        // SHA-256 of nothing is the well-known e3b0c442…; RFC 9162 §2.1.1 MTH({}).
        #expect(vectors.emptyRoot.hash.hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(MerkleHash.emptyRoot == vectors.emptyRoot.hash)
    }

    @Test("MerkleHash.leaf of every entry is the vector's leaf hash")
    func leafHashes() throws {
        let vectors = try RFC9162VectorFile.load()
        for (index, (entry, expected)) in zip(vectors.entries, vectors.leafHashes).enumerated() {
            #expect(MerkleHash.leaf(entry.bytes) == expected.hash, "leaf \(index)")
        }
    }

    @Test("the generator, implemented from its description, reproduces every entry and the spot leaf hashes")
    func generator() throws {
        let vectors = try RFC9162VectorFile.load()
        #expect(vectors.generator.contains("greffe-peer-vectors"))
        for (index, entry) in vectors.entries.enumerated() {
            #expect(PeerVectorGenerator.entry(seed: vectors.seed, index: UInt64(index)) == entry.bytes, "entry \(index)")
        }
        // The description promises some empty entries: the empty leaf must be covered.
        #expect(vectors.entries.contains { $0.bytes.isEmpty })
        #expect(vectors.spotLeafHashes.count >= 3)
        for (key, expected) in vectors.spotLeafHashes {
            let index = try #require(UInt64(key), "spot index \(key)")
            #expect(index >= UInt64(vectors.entries.count))
            let entry = PeerVectorGenerator.entry(seed: vectors.seed, index: index)
            #expect(MerkleHash.leaf(entry) == expected.hash, "spot leaf \(index)")
            if index < Seed1Tree.size {
                #expect(Seed1Tree.shared.leafHashes[Int(index)] == expected.hash, "shared tree leaf \(index)")
            }
        }
    }

    @Test("every root: incremental MerkleFrontier and MerkleTree.root over stored nodes agree with Go")
    func roots() throws {
        let vectors = try RFC9162VectorFile.load()
        let tree = Seed1Tree.shared
        let sizes = vectors.roots.map(\.treeSize)
        #expect(sizes.contains(0) && sizes.contains(Seed1Tree.size))
        #expect(sizes.max()! <= Seed1Tree.size)

        // One frontier grown leaf by leaf, checked whenever it reaches a vector size.
        var frontier = MerkleFrontier()
        for vector in vectors.roots.sorted(by: { $0.treeSize < $1.treeSize }) {
            while frontier.size < vector.treeSize {
                frontier.append(tree.leafHashes[Int(frontier.size)]) { _ in }
            }
            #expect(frontier.root == vector.root.hash, "frontier root of size \(vector.treeSize)")
            // Only nodes complete at this size may be read.
            let stored = try MerkleTree.root(size: vector.treeSize, reader: tree.reader.limited(to: vector.treeSize))
            #expect(stored == vector.root.hash, "MerkleTree.root of size \(vector.treeSize)")
        }
    }

    @Test("every inclusion vector: our proof equals Go's exactly and verifies")
    func inclusionProofs() throws {
        let vectors = try RFC9162VectorFile.load()
        let tree = Seed1Tree.shared
        let roots = vectors.rootsBySize
        for vector in vectors.inclusion {
            #expect(vector.leafHash.hash == tree.leafHashes[Int(vector.index)], "\(vector): leaf hash")
            #expect(roots[vector.treeSize].map { $0 == vector.root.hash } ?? true, "\(vector): root disagrees with roots")
            let proof = try MerkleTree.inclusionProof(
                index: vector.index, size: vector.treeSize, reader: tree.reader.limited(to: vector.treeSize))
            #expect(proof == vector.proofHashes, "\(vector): proof")
            #expect(throws: Never.self, "\(vector)") {
                try ProofVerifier.verifyInclusion(
                    index: vector.index, size: vector.treeSize, leafHash: vector.leafHash.hash,
                    proof: vector.proofHashes, root: vector.root.hash)
            }
            let computed = try ProofVerifier.rootFromInclusionProof(
                index: vector.index, size: vector.treeSize, leafHash: vector.leafHash.hash, proof: vector.proofHashes)
            #expect(computed == vector.root.hash, "\(vector): rootFromInclusionProof")
        }
    }

    @Test("every inclusion_invalid vector is rejected")
    func invalidInclusionProofs() throws {
        let vectors = try RFC9162VectorFile.load()
        for vector in vectors.inclusionInvalid {
            #expect(vector.reason != nil, "\(vector) has no reason")
            #expect(throws: ProofError.self, "\(vector) was accepted") {
                try ProofVerifier.verifyInclusion(
                    index: vector.index, size: vector.treeSize, leafHash: vector.leafHash.hash,
                    proof: vector.proofHashes, root: vector.root.hash)
            }
        }
    }

    @Test("every consistency vector: our proof equals Go's exactly and verifies")
    func consistencyProofs() throws {
        let vectors = try RFC9162VectorFile.load()
        let tree = Seed1Tree.shared
        let roots = vectors.rootsBySize
        for vector in vectors.consistency {
            #expect(roots[vector.first].map { $0 == vector.firstRoot.hash } ?? true, "\(vector): first root")
            #expect(roots[vector.second].map { $0 == vector.secondRoot.hash } ?? true, "\(vector): second root")
            if vector.first > 0 && vector.first <= vector.second {
                let proof = try MerkleTree.consistencyProof(
                    first: vector.first, second: vector.second, reader: tree.reader.limited(to: vector.second))
                #expect(proof == vector.proofHashes, "\(vector): proof")
            }
            #expect(throws: Never.self, "\(vector)") {
                try ProofVerifier.verifyConsistency(
                    first: vector.first, second: vector.second, firstRoot: vector.firstRoot.hash,
                    secondRoot: vector.secondRoot.hash, proof: vector.proofHashes)
            }
        }
    }

    @Test("every consistency_invalid vector is rejected")
    func invalidConsistencyProofs() throws {
        let vectors = try RFC9162VectorFile.load()
        for vector in vectors.consistencyInvalid {
            #expect(vector.reason != nil, "\(vector) has no reason")
            #expect(throws: ProofError.self, "\(vector) was accepted") {
                try ProofVerifier.verifyConsistency(
                    first: vector.first, second: vector.second, firstRoot: vector.firstRoot.hash,
                    secondRoot: vector.secondRoot.hash, proof: vector.proofHashes)
            }
        }
    }

    @Test("tiles: paths parse and round-trip, the listing matches, and our tile bytes equal Go's")
    func tiles() throws {
        let vectors = try RFC9162VectorFile.load()
        let tree = Seed1Tree.shared
        for set in vectors.tiles {
            let reader = tree.reader.limited(to: set.treeSize)
            // Every level that has at least one node in this tree, plus the entry bundles.
            var kinds: [Tile.Kind] = [.entries]
            for level in 0..<8 where set.treeSize >> UInt64(level * Tile.height) > 0 {
                kinds.append(.hashes(level: level))
            }
            let listed = kinds.flatMap { Tile.tiles(kind: $0, treeSize: set.treeSize) }
            #expect(Set(listed.map(\.path)) == Set(set.tiles.keys), "tile listing of tree \(set.treeSize)")
            #expect(listed.count == set.tiles.count, "duplicate tiles listed for tree \(set.treeSize)")

            for (path, expected) in set.tiles.sorted(by: { $0.key < $1.key }) {
                let tile = try #require(Tile(path: path), "\(path) does not parse")
                #expect(tile.path == path, "\(path) round-trips as \(tile.path)")
                #expect(Tile(path: "/" + path) == tile, "/\(path)")
                #expect(tile.exists(inTreeOfSize: set.treeSize), "\(path) in tree \(set.treeSize)")
                let first = tile.firstNode
                let range = first..<first + UInt64(tile.width)
                let built: [UInt8]
                switch tile.kind {
                case .entries:
                    built = EntryBundle.encode(range.map { tree.entries[Int($0)] })
                    #expect(EntryBundle.decode(expected.bytes) == range.map { tree.entries[Int($0)] }, "\(path) decodes")
                case .hashes:
                    built = try range.flatMap { try reader.node(level: tile.nodeLevel, index: $0).bytes }
                    #expect(expected.bytes.count == tile.width * Hash.byteCount, "\(path) length")
                }
                #expect(built == expected.bytes, "tile \(path) of tree \(set.treeSize)")
            }
        }
    }

    @Test("a level-1 tile hash is MTH of the 256 level-0 hashes below it (Go's tiles agree with each other)")
    func tileLevelsAgree() throws {
        let vectors = try RFC9162VectorFile.load()
        let set = try #require(vectors.tiles.first { $0.treeSize >= 4096 })
        let level1 = try #require(set.tiles.first { $0.key.hasPrefix("tile/1/") }).value.bytes
        for n in 0..<level1.count / Hash.byteCount {
            let level0 = try #require(set.tiles[Tile(kind: .hashes(level: 0), index: UInt64(n), width: 256).path]).bytes
            var hashes = stride(from: 0, to: level0.count, by: Hash.byteCount).map { Hash(bytes: level0[$0..<$0 + 32])! }
            while hashes.count > 1 {
                hashes = stride(from: 0, to: hashes.count, by: 2).map { MerkleHash.node(hashes[$0], hashes[$0 + 1]) }
            }
            #expect(hashes[0].bytes == Array(level1[n * 32..<n * 32 + 32]), "level-8 node \(n)")
        }
    }

    @Test("checkpoints: each note verifies with the vector key and names the vector root of its size")
    func checkpointsVerify() throws {
        let vectors = try RFC9162VectorFile.load()
        let verifier = try NoteVerifier(verifierKey: vectors.checkpoints.verifierKey)
        #expect(verifier.verifierKey == vectors.checkpoints.verifierKey)
        let roots = vectors.rootsBySize
        for vector in vectors.checkpoints.notes {
            let verified = try CheckpointVerifier.verify(note: vector.note, verifier: verifier)
            #expect(verified.noteText == vector.note)
            #expect(verified.checkpoint.origin == verifier.name)
            #expect(verified.checkpoint.size == vector.treeSize)
            let root = try #require(roots[vector.treeSize], "no root for checkpoint size \(vector.treeSize)")
            #expect(verified.checkpoint.root == root, "checkpoint \(vector.treeSize)")
        }
        // The note with an extension line keeps it, in order, and re-renders identically.
        let withExtension = try #require(vectors.checkpoints.notes.first { $0.note.contains("extension line") })
        let checkpoint = try CheckpointVerifier.verify(note: withExtension.note, verifier: verifier).checkpoint
        #expect(checkpoint.extensions == ["extension line: parsers must keep or ignore it"])
        #expect(checkpoint.text == (try SignedNote(parsing: withExtension.note)).text)
    }

    @Test("checkpoints: signing the same checkpoint with the vector key gives Go's note byte for byte")
    func checkpointsSignIdentically() throws {
        let vectors = try RFC9162VectorFile.load()
        let signer = try NoteSigner(signerKey: vectors.checkpoints.signerKey)
        #expect(signer.signerKey == vectors.checkpoints.signerKey)
        #expect(signer.verifier.verifierKey == vectors.checkpoints.verifierKey)
        let roots = vectors.rootsBySize
        for vector in vectors.checkpoints.notes {
            // Rebuild the body from the vector's own numbers, not from the note,
            // so Checkpoint.text is checked too; only the opaque extension lines
            // are taken from the note.
            let parsed = try SignedNote(parsing: vector.note)
            let extensions = parsed.text.split(separator: "\n", omittingEmptySubsequences: false).dropFirst(3).dropLast().map(String.init)
            let root = try #require(roots[vector.treeSize])
            let checkpoint = Checkpoint(origin: signer.name, size: vector.treeSize, root: root, extensions: extensions)
            #expect(checkpoint.text == parsed.text, "checkpoint text of size \(vector.treeSize)")
            // Ed25519 signatures are deterministic (RFC 8032 §5.1.6), so the whole note must match.
            let note = try signer.sign(text: checkpoint.text)
            #expect(note.formatted == vector.note, "signed note of size \(vector.treeSize)")
        }
    }
}
