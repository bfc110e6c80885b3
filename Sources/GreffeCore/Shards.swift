/// Temporal shards (Schemas/shards.md): the ledger rolls over from one log to
/// the next, each an ordinary RFC 9162 / tlog-tiles log of its own. Shard 0
/// is the ledger's first log, under the base origin; shard k ≥ 1 has origin
/// `<base>/<k>` and is signed by the same key under that name. Entry 0 of
/// shard k ≥ 1 is the Greffe-written `shard.opened` record, whose body holds
/// shard k−1's final signed checkpoint: the chain of shards is a chain of
/// roots, each committing to everything before it.
public enum Shards {
    /// The record that opens every shard after the first.
    public static let openedKind = "shard.opened"

    /// Shard `shard`'s origin: the base origin for shard 0, `<base>/<shard>` after it.
    public static func origin(base: String, shard: Int) -> String {
        shard == 0 ? base : "\(base)/\(shard)"
    }

    /// The number of the shard whose origin is `origin`, for the ledger of base origin `base`; nil for another log.
    public static func number(origin: String, base: String) -> Int? {
        if origin == base { return 0 }
        guard origin.hasPrefix(base + "/") else { return nil }
        let digits = origin.dropFirst(base.count + 1)
        guard let number = Int(digits), number >= 1, String(number) == digits else { return nil }
        return number
    }

    /// The keys of `base` that are a ledger's base keys, renamed for `origin` when it is one of their
    /// ledger's shards (`O/k`): a shard's checkpoint then verifies with the ledger's key, as the shard's.
    public static func verifiers(for origin: String, base: [NoteVerifier]) -> [NoteVerifier] {
        base + base.compactMap { key in
            guard let number = number(origin: origin, base: key.name), number >= 1 else { return nil }
            return try? key.renamed(origin)
        }
    }

    /// Shard `shard`'s key ring: every key of the log under the shard's origin.
    public static func keys(_ keys: LogKeys, shard: Int) throws -> LogKeys {
        guard shard > 0 else { return keys }
        let name = origin(base: keys.origin, shard: shard)
        var renamed = try LogKeys(
            signers: keys.signers.map { try $0.renamed(name) },
            retired: keys.verifiers.filter { verifier in !keys.signers.contains { $0.keyID == verifier.keyID } }.map { try $0.renamed(name) })
        renamed.pqSigner = try keys.pqSigner?.renamed(name)
        return renamed
    }

    /// Why a shard was sealed and the next one opened.
    public enum Reason: String, Sendable, CaseIterable {
        /// It reached `--shard-max-entries`.
        case size
        /// It was opened `--shard-period` ago.
        case period
        /// Its disk was lost and it was restored from a backup behind its last published checkpoint
        /// (`greffe restore --seal-lost-tail`): the entries in between are lost, and the shard is sealed
        /// at that checkpoint rather than re-signing sizes the world has seen.
        case restore
    }
}

/// The `shard.opened` record's claims, read from its canonical body
/// (Schemas/events/shard.opened.schema.json) and checked against the key of
/// the log: what a verifier needs to tie shard k to shard k−1.
public struct ShardLink: Sendable, Equatable {
    public var shard: Int
    public var origin: String
    public var previousOrigin: String
    /// Shard k−1's final checkpoint, signed by the log's key under `previousOrigin`.
    public var previousCheckpoint: Checkpoint
    public var previousCheckpointNote: String
    /// Leaf hash of shard k−1's last entry: the `prev` chain of entries, carried over (nil when that entry is lost).
    public var previousLastLeafHash: Hash?
    public var reason: Shards.Reason
    /// With `reason` restore: the entries of shard k−1 that are lost, `[first, end)`: from the restored backup's
    /// tree size to the sealed checkpoint's; and the operator's account of the loss.
    public var lostEntries: Range<UInt64>?
    public var lostBecause: String?

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The members of the body beyond those every Greffe-written record has.
    public static let members: Set = [
        "shard", "origin", "previous_origin", "previous_checkpoint", "previous_last_leaf_hash", "reason", "lost_entries", "lost_because",
    ]

    /// Reads and checks a `shard.opened` body: its members exactly, the origins derived from `baseOrigin`,
    /// and the previous checkpoint's signature by one of `keys` renamed to the previous shard's origin.
    public init(body: JSONValue, baseOrigin: String, verifiers: [NoteVerifier]) throws(Failure) {
        guard case .object(let object) = body else { throw Failure("the shard.opened body is not a JSON object") }
        guard object["kind"]?.stringValue == Shards.openedKind else { throw Failure("the record is not of kind \(Shards.openedKind)") }
        let common: Set = ["event_id", "kind", "occurred_at", "platform", "schema_version"]
        for member in object.keys where !common.contains(member) && !ShardLink.members.contains(member) {
            throw Failure("the shard.opened body has an unknown member \"\(member)\"")
        }
        guard let shard = object["shard"]?.intValue, shard >= 1 else { throw Failure("shard must be an integer of at least 1") }
        guard let origin = object["origin"]?.stringValue, origin == Shards.origin(base: baseOrigin, shard: shard) else {
            throw Failure("origin must be \(Shards.origin(base: baseOrigin, shard: shard)) for shard \(shard)")
        }
        let expectedPrevious = Shards.origin(base: baseOrigin, shard: shard - 1)
        guard let previousOrigin = object["previous_origin"]?.stringValue, previousOrigin == expectedPrevious else {
            throw Failure("previous_origin must be \(expectedPrevious)")
        }
        guard let note = object["previous_checkpoint"]?.stringValue else { throw Failure("previous_checkpoint is missing") }
        guard let reason = object["reason"]?.stringValue.flatMap(Shards.Reason.init(rawValue:)) else {
            throw Failure("reason must be one of \(Shards.Reason.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var leaf: Hash?
        var lost: Range<UInt64>?
        var because: String?
        if reason == .restore {
            // The previous shard's last entry is among the lost ones: no leaf to name.
            guard object["previous_last_leaf_hash"] == nil else { throw Failure("a restore's seal names no last leaf: that entry is lost") }
            guard let range = object["lost_entries"], case .object(let members) = range, Set(members.keys) == ["first_index", "end_index"],
                let first = members["first_index"]?.intValue, let end = members["end_index"]?.intValue, first >= 0, first < end
            else { throw Failure("lost_entries must be {\"first_index\", \"end_index\"} with first_index < end_index") }
            guard let text = object["lost_because"]?.stringValue, (1...2000).contains(text.count) else {
                throw Failure("lost_because must be the operator's account of the loss (1 to 2000 characters)")
            }
            lost = UInt64(first)..<UInt64(end)
            because = text
        } else {
            guard object["lost_entries"] == nil, object["lost_because"] == nil else {
                throw Failure("lost_entries and lost_because go only with reason restore")
            }
            guard let hash = object["previous_last_leaf_hash"]?.stringValue.flatMap(Hash.init(base64:)) else {
                throw Failure("previous_last_leaf_hash must be 32 bytes in base64")
            }
            leaf = hash
        }
        let renamed: [NoteVerifier]
        do { renamed = try verifiers.map { try $0.renamed(previousOrigin) } } catch { throw Failure("previous_origin is not a key name: \(error)") }
        let verified: VerifiedCheckpoint
        do { verified = try CheckpointVerifier.verify(note: note, verifiers: renamed) } catch {
            throw Failure("previous_checkpoint: \(error)")
        }
        guard verified.checkpoint.origin == previousOrigin else {
            throw Failure("previous_checkpoint is for origin \(verified.checkpoint.origin), not \(previousOrigin)")
        }
        guard verified.checkpoint.size >= 1 else { throw Failure("previous_checkpoint is of an empty tree: no shard is sealed empty") }
        self.shard = shard
        self.origin = origin
        self.previousOrigin = previousOrigin
        self.previousCheckpoint = verified.checkpoint
        self.previousCheckpointNote = note
        self.previousLastLeafHash = leaf
        self.reason = reason
        self.lostEntries = lost
        self.lostBecause = because
        if let lost, lost.upperBound != verified.checkpoint.size {
            throw Failure("lost_entries ends at \(lost.upperBound), not at the sealed checkpoint's size \(verified.checkpoint.size)")
        }
    }

    /// The body of a restore's seal (`Shards.Reason.restore`): shard `shard` − 1 was restored to `restoredSize`
    /// entries, behind `previousCheckpointNote`, the last checkpoint the world may hold.
    public static func restoreFields(
        shard: Int, baseOrigin: String, previousCheckpointNote: String, restoredSize: UInt64, sealedSize: UInt64, lostBecause: String
    ) -> [(String, JSONValue)] {
        [
            ("shard", .number(Double(shard))), ("origin", .string(Shards.origin(base: baseOrigin, shard: shard))),
            ("previous_origin", .string(Shards.origin(base: baseOrigin, shard: shard - 1))),
            ("previous_checkpoint", .string(previousCheckpointNote)), ("reason", .string(Shards.Reason.restore.rawValue)),
            ("lost_entries", .object(JSONObject([("first_index", .number(Double(restoredSize))), ("end_index", .number(Double(sealedSize)))]))),
            ("lost_because", .string(lostBecause)),
        ]
    }

    /// The body's own members, in the order the ledger writes them.
    public static func fields(
        shard: Int, baseOrigin: String, previousCheckpointNote: String, previousLastLeafHash: Hash, reason: Shards.Reason
    ) -> [(String, JSONValue)] {
        [
            ("shard", .number(Double(shard))), ("origin", .string(Shards.origin(base: baseOrigin, shard: shard))),
            ("previous_origin", .string(Shards.origin(base: baseOrigin, shard: shard - 1))),
            ("previous_checkpoint", .string(previousCheckpointNote)), ("previous_last_leaf_hash", .string(previousLastLeafHash.base64)),
            ("reason", .string(reason.rawValue)),
        ]
    }
}
