import Foundation
import GreffeCore
import GreffeVerify

/// `greffe audit --url URL --all-shards`: every shard of `GET /v1/shards` audited as a log of its own
/// (under `/v1/shards/<k>/`, with the base key renamed to the shard's origin), then every link
/// (`ShardChainCheck`) from public data: the published opening record, proofs at the audited sizes.
/// Nothing the listing says is trusted beyond what the audited logs prove.
struct ShardAudit {
    let url: String
    let verifiers: [NoteVerifier]
    let readAhead: Int
    let quiet: Bool
    let witnesses: WitnessQuorum?

    func run() async -> Bool {
        do {
            return try await audit()
        } catch {
            print("audit: FAILED — \(error)")
            return false
        }
    }

    struct Listed {
        var shard: Int
        var opening: ShardChainCheck.Opening?
    }

    func audit() async throws -> Bool {
        guard let base = verifiers.first?.name else { throw CommandFailure("no verifier key") }
        let server = try HTTPLog(url: url, connections: 4)
        defer { server.close() }
        let listing = try JSONParser.parse(try await server.get("v1/shards", limit: 64 << 20))
        guard let entries = listing["shards"]?.arrayValue, !entries.isEmpty else { throw CommandFailure("GET /v1/shards lists no shard") }
        var listed: [Listed] = []
        for (position, entry) in entries.enumerated() {
            guard entry["shard"]?.intValue == position else { throw CommandFailure("GET /v1/shards does not list shards 0 to n in order") }
            var opening: ShardChainCheck.Opening?
            if position > 0 {
                guard let opened = entry["opened_by"], let entryText = opened["entry"]?.stringValue, let entryBytes = Data(base64Encoded: entryText),
                    let body = opened["body"], let saltText = opened["salt"]?.stringValue, let salt = Data(base64Encoded: saltText)
                else { throw CommandFailure("GET /v1/shards gives no opening record (entry, body, salt) for shard \(position)") }
                opening = ShardChainCheck.Opening(entry: Array(entryBytes), body: body, salt: Array(salt), inclusionProof: [])
            }
            listed.append(Listed(shard: position, opening: opening))
        }
        var audited: [Checkpoint] = []
        var ok = true
        var gaps = 0
        for shard in listed {
            let origin = Shards.origin(base: base, shard: shard.shard)
            let shardVerifiers = try verifiers.map { try $0.renamed(origin) }
            let log = try HTTPLog(url: "\(url)/v1/shards/\(shard.shard)", connections: min(readAhead, 32))
            defer { log.close() }
            let verdict = await AuditCommand.audit(
                log: log, verifiers: shardVerifiers, earlierNotePath: nil, readAhead: readAhead, quiet: quiet, witnesses: witnesses)
            print("shard \(shard.shard) (\(origin)): \(verdict.line)")
            guard let checkpoint = verdict.checkpoint else {
                ok = false
                break
            }
            audited.append(checkpoint)
            guard var opening = shard.opening else { continue }
            let previous = audited[shard.shard - 1]
            do {
                opening.inclusionProof = try await inclusionProof(log, index: 0, size: checkpoint.size).proof
                let previousLog = try HTTPLog(url: "\(url)/v1/shards/\(shard.shard - 1)", connections: 1)
                defer { previousLog.close() }
                // An empty restored shard has no last leaf; a restore's seal names none anyway.
                let last = previous.size == 0 ? (Hash.zero, []) : try await inclusionProof(previousLog, index: previous.size - 1, size: previous.size)
                let link = try ShardChainCheck.check(
                    shard: shard.shard, opening: opening, checkpoint: checkpoint, previous: previous, previousLastLeaf: last,
                    baseOrigin: base, verifiers: verifiers)
                if let lost = link.lostEntries {
                    gaps += 1
                    print(
                        "link \(shard.shard - 1) → \(shard.shard): OK, WITH A GAP — shard \(shard.shard - 1) was restored from a backup of \(lost.lowerBound) entries "
                            + "and sealed at its last published checkpoint (size \(lost.upperBound), root \(link.previousCheckpoint.root)): entries \(lost.lowerBound) "
                            + "to \(lost.upperBound - 1) are lost and cannot be checked; the operator's account: \(link.lostBecause ?? "")")
                } else {
                    print("link \(shard.shard - 1) → \(shard.shard): OK — shard \(shard.shard)'s entry 0 seals shard \(shard.shard - 1) at size \(previous.size), root \(previous.root) (\(link.reason.rawValue))")
                }
            } catch {
                print("link \(shard.shard - 1) → \(shard.shard): FAILED — \(error)")
                ok = false
            }
        }
        print(
            ok
                ? "audit: OK — \(audited.count) shards and \(audited.count - 1) links, \(audited.reduce(0) { $0 + $1.size }) entries in all"
                    + (gaps == 0 ? "" : "; \(gaps) link\(gaps == 1 ? "" : "s") with a gap of lost entries (see above)")
                : "audit: FAILED — see the shard or link above")
        return ok
    }

    /// `GET /v1/proofs/inclusion` of a shard at an audited size; the caller checks it against the audited root.
    func inclusionProof(_ log: HTTPLog, index: UInt64, size: UInt64) async throws -> (leafHash: Hash, proof: [Hash]) {
        let answer = try JSONParser.parse(try await log.get("v1/proofs/inclusion?index=\(index)&tree_size=\(size)", limit: 1 << 16))
        guard let leaf = answer["leaf_hash"]?.stringValue.flatMap(Hash.init(base64:)), let proof = answer["proof"]?.arrayValue else {
            throw CommandFailure("the inclusion proof of entry \(index) at size \(size) is malformed")
        }
        return (leaf, try proof.map { item in
            guard let hash = item.stringValue.flatMap(Hash.init(base64:)) else { throw CommandFailure("a proof hash is not base64 of 32 bytes") }
            return hash
        })
    }
}
