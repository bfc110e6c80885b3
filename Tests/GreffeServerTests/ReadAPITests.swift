import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import Hummingbird
import HummingbirdTesting
import Testing

/// Appends `count` events in batches of 100 and returns their leaf hashes in order.
func appendEvents(_ count: Int, prefix: String, client: some TestClientProtocol, token: String) async throws -> [Hash] {
    var leafHashes: [Hash] = []
    var next = 0
    while next < count {
        let ids = (next..<min(count, next + 100)).map { "\(prefix)-\($0)" }
        let response = try await client.execute(uri: "/v1/events", method: .post, headers: bearer(token), body: jsonBody(batch(ids.map { event($0) })))
        #expect(response.status == .created)
        for result in try #require(try response.json["results"]?.arrayValue) {
            leafHashes.append(try #require(result["leaf_hash"]?.hash))
        }
        next += ids.count
    }
    return leafHashes
}

@Suite("read API: checkpoint, tiles, proofs")
struct ReadAPITests {
    @Test("tiles hold the tree's hashes and entries; partial tiles while the tree ends inside them; beyond is 404")
    func tiles() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            let leaves = try await appendEvents(600, prefix: "tile", client: client, token: test.appendToken)
            var reference = MerkleFrontier()
            var level8: [Hash] = []
            for leaf in leaves { reference.append(leaf) { if $0.level == 8 { level8.append($0.hash) } } }

            let full = try await client.execute(uri: "/tile/0/001", method: .get)
            #expect(full.status == .ok)
            #expect(Array(buffer: full.body) == leaves[256..<512].flatMap(\.bytes))
            #expect(full.headers[.cacheControl] == "public, max-age=31536000, immutable")

            let partial = try await client.execute(uri: "/tile/0/002.p/88", method: .get)
            #expect(Array(buffer: partial.body) == leaves[512..<600].flatMap(\.bytes))
            #expect(partial.headers[.cacheControl] != "public, max-age=31536000, immutable")
            // An older, narrower view of the same tile (what a client of an older checkpoint asks for).
            let narrower = try await client.execute(uri: "/tile/0/002.p/10", method: .get)
            #expect(Array(buffer: narrower.body) == leaves[512..<522].flatMap(\.bytes))

            let upper = try await client.execute(uri: "/tile/1/000.p/2", method: .get)
            #expect(Array(buffer: upper.body) == level8.flatMap(\.bytes))

            let entries = try await client.execute(uri: "/tile/entries/000", method: .get)
            let bundle = try #require(EntryBundle.decode(Array(buffer: entries.body)))
            #expect(bundle.count == 256)
            #expect(bundle.map { MerkleHash.leaf($0) } == Array(leaves[0..<256]))

            for path in [
                "/tile/0/002", "/tile/0/002.p/89", "/tile/0/003.p/1", "/tile/1/000", "/tile/2/000.p/1", "/tile/entries/002",
                "/tile/0/x000/001", "/tile/0/1", "/tile/0/000.p/0", "/tile/0/000.p/256", "/tile/9/000", "/tile/entries", "/tile/0/abc",
            ] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .notFound, "\(path)")
                #expect(try response.json["error"] != nil, "\(path)")
            }
        }
    }

    @Test("inclusion proofs by index and by leaf hash verify against the signed checkpoint")
    func inclusion() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            let leaves = try await appendEvents(300, prefix: "inc", client: client, token: test.appendToken)
            let note = try await waitForCheckpoint(size: 300, client: client)
            let checkpoint = try CheckpointVerifier.verify(note: note, verifier: test.signer.verifier).checkpoint
            for index in [0, 1, 127, 255, 256, 299] {
                let response = try await client.execute(uri: "/v1/proofs/inclusion?index=\(index)&tree_size=300", method: .get)
                #expect(response.status == .ok)
                let answer = try response.json
                #expect(answer["leaf_hash"]?.hash == leaves[index])
                try ProofVerifier.verifyInclusion(
                    index: UInt64(index), size: 300, leafHash: leaves[index], proof: try #require(answer["proof"]?.hashes), root: checkpoint.root)
            }
            let urlSafe = leaves[77].base64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            let byHash = try await client.execute(uri: "/v1/proofs/inclusion?leaf_hash=\(urlSafe)&tree_size=300", method: .get)
            #expect(byHash.status == .ok)
            #expect(try byHash.json["index"]?.uint64 == 77)
            try ProofVerifier.verifyInclusion(
                index: 77, size: 300, leafHash: leaves[77], proof: try #require(try byHash.json["proof"]?.hashes), root: checkpoint.root)
            let notInSmallerTree = try await client.execute(uri: "/v1/proofs/inclusion?leaf_hash=\(urlSafe)&tree_size=50", method: .get)
            #expect(notInSmallerTree.status == .notFound)
            let unknown = try await client.execute(uri: "/v1/proofs/inclusion?leaf_hash=\(String(repeating: "A", count: 43))&tree_size=300", method: .get)
            #expect(unknown.status == .notFound)
        }
    }

    @Test("bad proof queries are 400 with a JSON error", arguments: [
        "/v1/proofs/inclusion?index=0", "/v1/proofs/inclusion?tree_size=10", "/v1/proofs/inclusion?index=10&tree_size=10",
        "/v1/proofs/inclusion?index=0&tree_size=11", "/v1/proofs/inclusion?index=-1&tree_size=10",
        "/v1/proofs/inclusion?index=01&tree_size=10", "/v1/proofs/inclusion?index=1&leaf_hash=AAAA&tree_size=10",
        "/v1/proofs/inclusion?leaf_hash=not*base64&tree_size=10", "/v1/proofs/inclusion?index=99999999999999999999999&tree_size=10",
        "/v1/proofs/consistency?first=5", "/v1/proofs/consistency?first=6&second=5", "/v1/proofs/consistency?first=1&second=11",
        "/v1/proofs/consistency?first=a&second=5", "/v1/proofs/inclusion?index=0&tree_size=0",
    ])
    func badQueries(uri: String) async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            _ = try await appendEvents(10, prefix: "q", client: client, token: test.appendToken)
            let response = try await client.execute(uri: uri, method: .get)
            #expect(response.status == .badRequest)
            #expect(try response.json["error"]?.stringValue?.isEmpty == false)
        }
    }

    @Test("consistency proofs link every checkpoint to the later ones")
    func consistency() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            var checkpoints: [Checkpoint] = []
            for round in 0..<5 {
                _ = try await appendEvents(37 * (round + 1), prefix: "cons\(round)", client: client, token: test.appendToken)
                let size = checkpoints.last.map { $0.size } ?? 0
                let note = try await waitForCheckpoint(size: size + UInt64(37 * (round + 1)), client: client)
                checkpoints.append(try CheckpointVerifier.verify(note: note, verifier: test.signer.verifier).checkpoint)
            }
            for (i, old) in checkpoints.enumerated() {
                for new in checkpoints[i...] {
                    let response = try await client.execute(uri: "/v1/proofs/consistency?first=\(old.size)&second=\(new.size)", method: .get)
                    #expect(response.status == .ok)
                    try ProofVerifier.verifyConsistency(
                        first: old.size, second: new.size, firstRoot: old.root, secondRoot: new.root,
                        proof: try #require(try response.json["proof"]?.hashes))
                }
            }
        }
    }

    @Test("unknown paths and methods are 404/405 with a JSON error; healthz and checkpoint answer")
    func misc() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            let missing = try await client.execute(uri: "/nothing/here", method: .get)
            #expect(missing.status == .notFound)
            #expect(try missing.json["error"] != nil)
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(try health.json["status"]?.stringValue == "ok")
            let checkpoint = try await client.execute(uri: "/checkpoint", method: .get)
            #expect(checkpoint.headers[.contentType]?.hasPrefix("text/plain") == true)
            let verified = try CheckpointVerifier.verify(note: checkpoint.text, verifier: test.signer.verifier)
            #expect(verified.checkpoint.size == 0)
            #expect(verified.checkpoint.root == MerkleHash.emptyRoot)
        }
    }
}

/// Polls /checkpoint until it covers `size` entries (the signer runs every 20 ms in tests).
func waitForCheckpoint(size: UInt64, client: some TestClientProtocol) async throws -> String {
    for _ in 0..<500 {
        let note = try await client.execute(uri: "/checkpoint", method: .get).text
        if let text = try? SignedNote(parsing: note).text, let checkpoint = try? Checkpoint(parsing: text), checkpoint.size >= size {
            return note
        }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("no checkpoint covered \(size) entries")
    throw CancellationError()
}
