public import GreffeCore

/// The link between two temporal shards (Schemas/shards.md, "Checking a link"), checked from public data
/// only: shard k's entry 0 with the body and salt it commits to (published by `GET /v1/shards`), its
/// inclusion proof in shard k's audited checkpoint, and shard k−1's audited checkpoint.
public enum ShardChainCheck {
    /// Shard k's opening record as published: the entry bytes, the body and salt, the inclusion proof of index 0.
    public struct Opening: Sendable {
        public var entry: [UInt8]
        public var body: JSONValue
        public var salt: [UInt8]
        public var inclusionProof: [Hash]

        public init(entry: [UInt8], body: JSONValue, salt: [UInt8], inclusionProof: [Hash]) {
            self.entry = entry
            self.body = body
            self.salt = salt
            self.inclusionProof = inclusionProof
        }
    }

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Checks that `opening` is entry 0 of shard `shard` under its audited `checkpoint`, that it is a
    /// `shard.opened` record whose body the entry commits to, and that it seals exactly `previous`
    /// (shard k−1's audited checkpoint: a sealed shard's final one), naming its last leaf
    /// (`previousLastLeaf`, proved in `previous`). `verifiers`: the log's keys, base-named.
    public static func check(
        shard: Int, opening: Opening, checkpoint: Checkpoint, previous: Checkpoint, previousLastLeaf: (leafHash: Hash, proof: [Hash]),
        baseOrigin: String, verifiers: [NoteVerifier]
    ) throws(Failure) -> ShardLink {
        let entry: LedgerEntry
        do { entry = try LedgerEntry(decoding: opening.entry) } catch { throw Failure("shard \(shard)'s entry 0 does not decode: \(error)") }
        guard entry.index == 0 else { throw Failure("shard \(shard)'s opening entry has index \(entry.index), not 0") }
        guard entry.kind == Shards.openedKind else { throw Failure("shard \(shard)'s entry 0 is of kind \(entry.kind), not \(Shards.openedKind)") }
        do {
            try ProofVerifier.verifyInclusion(
                index: 0, size: checkpoint.size, leafHash: MerkleHash.leaf(opening.entry), proof: opening.inclusionProof, root: checkpoint.root)
        } catch {
            throw Failure("shard \(shard)'s entry 0 is not in its audited checkpoint (size \(checkpoint.size)): \(error)")
        }
        guard entry.commits(to: opening.body, salt: opening.salt) else {
            throw Failure("shard \(shard)'s entry 0 does not commit to the published shard.opened body and salt")
        }
        let link: ShardLink
        do { link = try ShardLink(body: opening.body, baseOrigin: baseOrigin, verifiers: verifiers) } catch {
            throw Failure("shard \(shard)'s shard.opened record: \(error)")
        }
        guard link.shard == shard else { throw Failure("shard \(shard)'s shard.opened record names shard \(link.shard)") }
        guard link.origin == checkpoint.origin else {
            throw Failure("shard \(shard)'s shard.opened record names origin \(link.origin), but its checkpoint is of \(checkpoint.origin)")
        }
        if let lost = link.lostEntries {
            // A restore's seal (Schemas/shards.md, "Disaster recovery"): the previous shard serves the restored backup's
            // tree, and the seal is the last checkpoint the world may hold, beyond it. The lost entries cannot be checked.
            // It may serve less than the backup held: with witnesses, only a cosigned checkpoint is served, and none can
            // be cosigned between the backup's last one and the seal (the witnesses hold the seal's size).
            guard link.previousCheckpoint.origin == previous.origin, previous.size <= lost.lowerBound else {
                throw Failure(
                    "shard \(shard)'s seal says shard \(shard - 1) was restored to \(lost.lowerBound) entries, but it serves \(previous.size)")
            }
            return link
        }
        guard link.previousCheckpoint.origin == previous.origin, link.previousCheckpoint.size == previous.size,
            link.previousCheckpoint.root == previous.root
        else {
            throw Failure(
                "shard \(shard) seals shard \(shard - 1) at size \(link.previousCheckpoint.size), root \(link.previousCheckpoint.root), "
                    + "but shard \(shard - 1) serves size \(previous.size), root \(previous.root): the chain of shards is broken")
        }
        do {
            try ProofVerifier.verifyInclusion(
                index: previous.size - 1, size: previous.size, leafHash: previousLastLeaf.leafHash, proof: previousLastLeaf.proof, root: previous.root)
        } catch {
            throw Failure("shard \(shard - 1)'s last leaf is not proved in its checkpoint: \(error)")
        }
        guard link.previousLastLeafHash == previousLastLeaf.leafHash else {
            throw Failure("shard \(shard)'s shard.opened record names another last leaf than shard \(shard - 1)'s")
        }
        return link
    }
}
