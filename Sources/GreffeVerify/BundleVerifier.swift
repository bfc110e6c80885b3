import Foundation
public import GreffeCore
public import GreffeTimestamp

/// What `greffe verify` found, part by part.
public struct BundleReport: Sendable {
    public struct Failure: Sendable, Equatable, CustomStringConvertible {
        public enum Code: String, Sendable {
            case checkpoint, signature, entryFormat, entryIndex, leafHash, commitment, eventMismatch, inclusionProof
            case prevLink, time, earlierCheckpoint, consistencyProof, duplicateEvent
            /// An RFC 3161 timestamp: its checkpoint, its consistency proof or its token (`TimestampCheck.swift`).
            case timestamp
            /// Fewer valid cosignatures by the given witnesses than the quorum asked for.
            case witnessQuorum
            /// A line by a given witness that does not verify (the note or the line was changed).
            case cosignature
            /// A null body without a valid proof of its erasure (`BundleVerifier.checkErasure`).
            case bodyWithheld
            /// A body shown together with a claim that it was erased.
            case erasureClaim
            /// A v3 bundle's hold record that does not hold (`Schemas/bundle.md`, v3: Holds).
            case hold
        }

        public let code: Code
        /// Where: "checkpoint", "event 2 (index 17)", "earlier checkpoint 0".
        public let location: String
        public let message: String

        public var description: String { "\(location): \(message)" }
    }

    public struct EventLine: Sendable {
        public var index: UInt64
        public var eventID: String
        public var sentence: String
        public var verified: Bool
        public var bodyErased: Bool
        /// For a null body with an erasure claim: proven (v2, every check held) or unproven (v1, or a failed proof).
        public var erasure: ErasureFinding? = nil
        public var erasureLegalReference: String? = nil
        public var erasureEntryIndex: UInt64? = nil
        /// As the bundle states it: covered by no proof.
        public var appendedBy: String? = nil
    }

    /// Verified events whose missing content the bundle claims, but does not prove, was erased (v1 bundles).
    public var unprovenErasures: Int { events.filter { $0.verified && $0.erasure == .unproven }.count }

    public enum ErasureFinding: String, Sendable {
        case proven, unproven
    }

    public var origin: String?
    public var checkpointSize: UInt64?
    public var checkpointRoot: Hash?
    public var keyName: String
    /// How many verifier keys were given (key rotation: several keys of one log).
    public var keysGiven = 1
    /// The given keys (`name+hexkeyid`) whose signature on the bundle's checkpoint verified.
    public var signedBy: [String] = []
    /// One line per event for small bundles; empty when `summary` stands for them.
    public var events: [EventLine] = []
    /// How many events the bundle holds (v3: the line list may be replaced by `summary`).
    public var eventCount = 0
    /// For large v3 bundles, in place of one sentence per event.
    public var summary: BundleSummary?
    /// Failures beyond those listed (v3 keeps a bounded number in memory).
    public var failuresNotListed = 0
    /// The query the bundle says it answers (covered by no proof: the server's statement).
    public var query: JSONValue?
    /// v3: the legal holds the bundle lists, as sentences (large bundles keep them in `summary`).
    public var holds: [String] = []
    public var prevLinksChecked = 0
    public var earlierCheckpointsChecked = 0
    public var failures: [Failure] = []
    public var notes: [String] = []
    /// The bundle's RFC 3161 timestamps, checked or not (`TimestampCheck.swift`).
    public var timestamps: [TimeAttestation] = []
    /// Set when the bundle's events have no timestamp token covering them: why, in words.
    public var timestampGap: String?
    /// With `--witness`: which of the given witnesses cosigned the checkpoint, and when.
    public var cosignatures: CosignatureCheck?
    /// In a shard bundle's element: bodies dropped by another shard's record, each still to be proved in
    /// that shard's checkpoint (`ShardBundleVerifier`).
    struct CrossShardErasure: Sendable {
        var location: String
        var eventIndex: UInt64
        var shard: Int
        var claim: InclusionClaim
    }
    var crossShardErasures: [CrossShardErasure] = []

    public var verified: Bool { failures.isEmpty && failuresNotListed == 0 }
}

/// Checks an evidence bundle with no network, no database and no trust in
/// whoever made it: only the verifier key given by the person checking.
public enum BundleVerifier {
    /// Events may be stamped by the platform a little after Greffe sequenced
    /// them (clock skew); beyond this the bundle is inconsistent.
    public static let clockSkewMilliseconds: UInt64 = 5 * 60 * 1000

    public static func verify(
        _ bundle: EvidenceBundle, verifier: NoteVerifier, timestampTrust: TimestampTrust? = nil, witnesses: WitnessQuorum? = nil
    ) -> BundleReport {
        verify(bundle, verifiers: [verifier], timestampTrust: timestampTrust, witnesses: witnesses)
    }

    /// With several keys of the log (a rotation): the checkpoint (and each
    /// earlier one) must carry a valid signature by at least one of them.
    /// With `timestampTrust` (`--tsa-cert`), the bundle's RFC 3161 tokens are
    /// checked too; without, they are reported as not checked.
    /// With `witnesses`, the checkpoint must also carry valid cosignatures by
    /// at least their quorum, and no invalid one by any of them.
    public static func verify(
        _ bundle: EvidenceBundle, verifiers: [NoteVerifier], timestampTrust: TimestampTrust? = nil, witnesses: WitnessQuorum? = nil
    ) -> BundleReport {
        precondition(!verifiers.isEmpty, "a bundle is verified against at least one key")
        var report = BundleReport(keyName: verifiers.map(\.verifierKey).joined(separator: ", "))
        report.keysGiven = verifiers.count
        func fail(_ code: BundleReport.Failure.Code, _ location: String, _ message: String) {
            report.failures.append(BundleReport.Failure(code: code, location: location, message: message))
        }
        if !verifiers.contains(where: { $0.verifierKey == bundle.verifierKey }) {
            report.notes.append(
                "the bundle names the key \(bundle.verifierKey); it was checked against the key\(verifiers.count == 1 ? "" : "s") you gave, \(report.keyName)")
        }

        // 1. The signed checkpoint: the only thing trusted is the given keys.
        let checkpoint: Checkpoint
        do {
            let verified = try CheckpointVerifier.verify(note: bundle.checkpoint, verifiers: verifiers)
            checkpoint = verified.checkpoint
            report.signedBy = verified.signedBy
        } catch {
            fail(.signature, "checkpoint", "\(error)")
            // Without a trusted root no event can be checked.
            return report
        }
        report.origin = checkpoint.origin
        report.checkpointSize = checkpoint.size
        report.checkpointRoot = checkpoint.root
        if let witnesses {
            checkCosignatures(of: bundle.checkpoint, location: "checkpoint", required: true, witnesses: witnesses, verifiers: verifiers, into: &report)
        }

        // 2. Each event: entry layout, commitment, proof; for a null body, the proof of its erasure.
        var seen: [UInt64: Int] = [:]
        // Inclusion proofs are checked together by the batch core (shared nodes hashed once, all cores),
        // erasure records' with the events'.
        var claims: [InclusionClaim] = []
        var claimLocations: [(location: String, line: Int, isErasureRecord: Bool)] = []
        var leafByIndex: [UInt64: Hash] = [:]
        var entryByIndex: [UInt64: LedgerEntry] = [:]
        // Sentences are written once the proofs are checked: an erasure is proven only if its record's proof holds.
        var described: [(line: Int, event: EvidenceBundle.Event, entry: LedgerEntry)] = []
        for (position, event) in bundle.events.enumerated() {
            let location = "event \(position) (index \(event.index))"
            let failuresBefore = report.failures.count
            if let earlier = seen[event.index] {
                fail(.duplicateEvent, location, "index \(event.index) appears twice (also event \(earlier))")
            }
            seen[event.index] = position
            let entry: LedgerEntry
            do {
                entry = try LedgerEntry(decoding: event.entry)
            } catch {
                fail(.entryFormat, location, "the entry is not a valid entry: \(error)")
                report.events.append(.init(index: event.index, eventID: event.eventID, sentence: "", verified: false, bodyErased: event.body == nil))
                continue
            }
            if entry.index != event.index {
                fail(.entryIndex, location, "the entry says index \(entry.index), the bundle says \(event.index)")
            }
            let leafHash = MerkleHash.leaf(event.entry)
            if leafHash != event.leafHash {
                fail(.leafHash, location, "the entry hashes to leaf \(leafHash), not to the stated \(event.leafHash)")
            }
            if entry.kind != event.kind {
                fail(.eventMismatch, location, "the entry records kind \(entry.kind), the bundle says \(event.kind)")
            }
            var line = BundleReport.EventLine(
                index: event.index, eventID: event.eventID, sentence: "", verified: false, bodyErased: event.body == nil, appendedBy: event.appendedBy)
            if let body = event.body {
                if let salt = event.salt {
                    if !entry.commits(to: body, salt: salt) {
                        fail(.commitment, location, "the body and salt do not match the entry's commitment: the body or the salt was changed")
                    }
                } else {
                    fail(.commitment, location, "the body has no salt, so it cannot be checked against the entry")
                }
                if body["event_id"]?.stringValue != event.eventID {
                    fail(.eventMismatch, location, "the body's event_id is not \(event.eventID)")
                }
                if body["kind"]?.stringValue != entry.kind {
                    fail(.eventMismatch, location, "the body's kind is not the entry's kind \(entry.kind)")
                }
                if let occurred = body["occurred_at"]?.stringValue {
                    if let occurredAt = RFC3339Time.signedMilliseconds(occurred) {
                        // Signed and clamped: a tampered entry's time may be anything.
                        if occurredAt - Int64(clockSkewMilliseconds) > Int64(clamping: entry.sequencedAtMilliseconds) {
                            fail(.time, location, "the event claims to have happened at \(occurred), after Greffe recorded it at \(RFC3339Time.format(entry.sequencedAtMilliseconds))")
                        }
                    } else {
                        fail(.time, location, "occurred_at \(occurred) is not an RFC 3339 time")
                    }
                }
                if let erasure = event.erasure {
                    fail(.erasureClaim, location, "the body is shown, yet the bundle claims it was erased under \"\(erasure.legalReference)\": one of the two is false")
                }
            } else {
                line.erasureLegalReference = event.erasure?.legalReference
                line.erasureEntryIndex = event.erasure?.erasureEntryIndex
                switch checkErasure(of: event, format: bundle.format, treeSize: checkpoint.size) {
                case .withheld(let problem):
                    fail(.bodyWithheld, location, "body withheld: \(problem)")
                    if event.erasure != nil { line.erasure = .unproven }
                case .unproven:
                    line.erasure = .unproven
                case .provenIfIncluded(let record):
                    line.erasure = .proven
                    claims.append(record)
                    claimLocations.append((location, report.events.count, true))
                case .provenInShard:
                    // v2 bundles hold no shard claim (the parser refuses `shard` outside v3).
                    fail(.bodyWithheld, location, "body withheld: the erasure record is claimed in another shard")
                    line.erasure = .unproven
                }
            }
            claims.append(InclusionClaim(index: event.index, leafHash: leafHash, proof: event.inclusionProof))
            claimLocations.append((location, report.events.count, false))
            leafByIndex[event.index] = leafHash
            entryByIndex[event.index] = entry
            line.verified = report.failures.count == failuresBefore
            described.append((report.events.count, event, entry))
            report.events.append(line)
        }

        report.eventCount = bundle.events.count
        let proofErrors = BatchVerifier.verify(claims, treeSize: checkpoint.size, root: checkpoint.root)
        for ((location, line, isErasureRecord), error) in zip(claimLocations, proofErrors) {
            guard let error else { continue }
            if isErasureRecord {
                fail(.bodyWithheld, location, "body withheld: the erasure record's inclusion proof does not hold: \(error)")
                report.events[line].erasure = .unproven
            } else {
                fail(.inclusionProof, location, "the inclusion proof does not hold: \(error)")
            }
            report.events[line].verified = false
        }
        for (line, event, entry) in described {
            report.events[line].sentence = describe(event, entry: entry, origin: checkpoint.origin, format: bundle.format, finding: report.events[line].erasure)
        }

        // 3. The hash chain between adjacent bundled entries.
        for (index, entry) in entryByIndex.sorted(by: { $0.key < $1.key }) where index > 0 {
            guard let previousLeaf = leafByIndex[index - 1], let previous = entryByIndex[index - 1] else { continue }
            report.prevLinksChecked += 1
            if entry.prev != previousLeaf {
                fail(.prevLink, "event at index \(index)", "its prev link is not the leaf hash of entry \(index - 1)")
            }
            if entry.sequencedAtMilliseconds < previous.sequencedAtMilliseconds {
                fail(.time, "event at index \(index)", "it was sequenced before entry \(index - 1)")
            }
        }

        // 4. Earlier checkpoints: the log only grew from them to this one.
        checkEarlierCheckpoints(bundle.earlierCheckpoints, checkpoint: checkpoint, verifiers: verifiers, witnesses: witnesses, report: &report)

        // 5. RFC 3161 timestamps: when this state of the log existed at the latest.
        checkTimestamps(
            bundle.timestamps, needed: bundle.events.map(\.index).max().map { $0 + 1 },
            latestRecorded: { size in
                entryByIndex.filter { $0.key < size }.max { $0.value.sequencedAtMilliseconds < $1.value.sequencedAtMilliseconds }
                    .map { ($0.key, $0.value.sequencedAtMilliseconds) }
            }, checkpoint: checkpoint, verifiers: verifiers, trust: timestampTrust, report: &report)
        return report
    }

    static func checkEarlierCheckpoints(
        _ earlierCheckpoints: [EvidenceBundle.EarlierCheckpoint], checkpoint: Checkpoint, verifiers: [NoteVerifier], witnesses: WitnessQuorum?,
        report: inout BundleReport
    ) {
        for (position, earlier) in earlierCheckpoints.enumerated() {
            let location = "earlier checkpoint \(position)"
            do {
                let old = try CheckpointVerifier.verify(note: earlier.note, verifiers: verifiers).checkpoint
                try ProofVerifier.verifyConsistency(
                    first: old.size, second: checkpoint.size, firstRoot: old.root, secondRoot: checkpoint.root, proof: earlier.consistencyProof)
                report.earlierCheckpointsChecked += 1
                if let witnesses {
                    checkCosignatures(of: earlier.note, location: location, required: false, witnesses: witnesses, verifiers: verifiers, into: &report)
                }
            } catch let error as ProofError {
                report.failures.append(.init(code: .consistencyProof, location: location, message: "the consistency proof to the bundle's checkpoint does not hold: \(error)"))
            } catch {
                report.failures.append(.init(code: .earlierCheckpoint, location: location, message: "\(error)"))
            }
        }
    }

    /// What a null body's erasure claim comes to before the record's inclusion proof is checked.
    enum ErasureCheck: Equatable {
        /// Not accepted; what exactly is wrong.
        case withheld(String)
        /// A v1 claim: nothing to check it against.
        case unproven
        /// Every check holds; proven once this inclusion claim of the record holds too.
        case provenIfIncluded(InclusionClaim)
        /// A sealed shard's body dropped by a record of shard `shard`, naming shard `namesShard`: proven once the
        /// record is proved in that shard's checkpoint, in a bundle across shards (`ShardBundleVerifier`).
        case provenInShard(shard: Int, namesShard: Int, InclusionClaim)
    }

    /// A body may be missing only because Greffe erased it under a legal
    /// order, and Greffe appends `erasure.executed` before it deletes
    /// anything (`Ledger.erase`); intake refuses that kind from platforms
    /// (`EventIntake.reservedKinds`). So a v2 claim is proven by that record:
    /// a Greffe-written `erasure.executed` entry, later than the event, in
    /// the checkpoint's tree, whose committed body names this event and the
    /// claimed legal reference. The first check that fails is reported.
    static func checkErasure(of event: EvidenceBundle.Event, format: EvidenceBundle.Format, treeSize: UInt64) -> ErasureCheck {
        if format != .v1 && event.salt != nil { return .withheld("the body is null but a salt is given") }
        guard let erasure = event.erasure else { return .withheld("the body is null and no erasure is claimed for it") }
        if format == .v1 { return .unproven }
        let reference = "\"\(erasure.legalReference)\""
        guard let record = erasure.record else {
            return .withheld("the bundle claims an erasure under \(reference) but carries no erasure record to prove it")
        }
        let entry: LedgerEntry
        do { entry = try LedgerEntry(decoding: record.entry) } catch {
            return .withheld("the erasure record's entry is not a valid entry: \(error)")
        }
        let leafHash = MerkleHash.leaf(record.entry)
        if leafHash != record.leafHash { return .withheld("the erasure record's entry hashes to leaf \(leafHash), not to the stated \(record.leafHash)") }
        if entry.index != record.index { return .withheld("the erasure record's entry says index \(entry.index), the record says \(record.index)") }
        if record.index != erasure.erasureEntryIndex {
            return .withheld("the erasure record is entry \(record.index), not entry \(erasure.erasureEntryIndex) as the claim states")
        }
        // An order for one event, or the end of a retention period for a range of them.
        let isRetention = entry.kind == "retention.applied"
        if entry.kind != "erasure.executed" && !isRetention {
            return .withheld("the erasure record's entry is of kind \(entry.kind), not erasure.executed or retention.applied")
        }
        if record.kind != entry.kind { return .withheld("the erasure record says kind \(record.kind), its entry records \(entry.kind)") }
        guard let body = record.body, let salt = record.salt else {
            return .withheld("the erasure record carries no body and salt, so what it orders cannot be checked")
        }
        if !entry.commits(to: body, salt: salt) {
            return .withheld("the erasure record's body and salt do not match its entry's commitment: the record was changed")
        }
        if body["kind"]?.stringValue != entry.kind { return .withheld("the erasure record's body is not of kind \(entry.kind)") }
        if body["event_id"]?.stringValue != record.eventID { return .withheld("the erasure record's body's event_id is not \(record.eventID)") }
        if body["platform"]?.stringValue != "greffe" { return .withheld("the erasure record was not written by Greffe (its platform is not \"greffe\")") }
        let ordered: String
        if isRetention {
            guard let from = body["from_index"]?.intValue, let to = body["to_index"]?.intValue, from >= 0, to >= from else {
                return .withheld("the retention record names no valid from_index and to_index")
            }
            if event.index < UInt64(from) || event.index >= UInt64(to) {
                return .withheld("the retention record covers entries \(from) to \(to - 1), not this one (\(event.index))")
            }
            guard let cutoffText = body["recorded_before"]?.stringValue, let cutoff = RFC3339Time.signedMilliseconds(cutoffText) else {
                return .withheld("the retention record names no valid recorded_before")
            }
            guard let recorded = try? LedgerEntry(decoding: event.entry) else { return .withheld("the event's entry is not a valid entry") }
            // What the record says it kept cannot be claimed dropped.
            if LedgerEntry.greffeWrittenKinds.contains(recorded.kind) { return .withheld("the event is Greffe's own record (\(recorded.kind)), which a retention keeps whole") }
            guard let kept = body["kept_under_hold"]?.arrayValue else { return .withheld("the retention record names no kept_under_hold") }
            if kept.contains(where: { $0.intValue.map { $0 >= 0 && UInt64($0) == event.index } ?? false }) {
                return .withheld("the retention record lists this event as kept under a legal hold: its body was not dropped")
            }
            if Int64(clamping: recorded.sequencedAtMilliseconds) >= cutoff {
                return .withheld(
                    "the event was recorded at \(RFC3339Time.format(recorded.sequencedAtMilliseconds)), not before the retention record's cut-off \(cutoffText): its retention had not run out"
                )
            }
            guard let basis = body["legal_basis"]?.stringValue else { return .withheld("the retention record names no legal_basis") }
            ordered = basis
            // A record naming a shard covers that shard's indices, never its own log's; one without, only its own.
            if erasure.shard == nil && body["shard"] != nil {
                return .withheld("the retention record names shard \(body["shard"]?.intValue.map(String.init) ?? "?"): it covers another shard's entries, not this log's")
            }
        } else {
            guard let target = body["target_index"]?.intValue, target >= 0 else {
                return .withheld("the erasure record names no target_index")
            }
            if UInt64(target) != event.index { return .withheld("the erasure record erased entry \(target), not this one (\(event.index))") }
            guard let reference = body["legal_reference"]?.stringValue else { return .withheld("the erasure record names no legal_reference") }
            ordered = reference
            if erasure.shard == nil && body["shard"] != nil {
                return .withheld("the erasure record names shard \(body["shard"]?.intValue.map(String.init) ?? "?"): it erased another shard's entry, not this log's")
            }
        }
        if ordered != erasure.legalReference {
            return .withheld("the erasure record's legal reference is \"\(ordered)\", not \(reference) as the claim states")
        }
        if let shard = erasure.shard {
            // In another log: the order of the two is that of their shards, checked with the shards' numbers.
            guard let names = body["shard"]?.intValue, names >= 0 else {
                return .withheld("the \(isRetention ? "retention" : "erasure") record claimed in shard \(shard) names no shard: it covers that shard's own entries, not this one")
            }
            return .provenInShard(shard: shard, namesShard: names, InclusionClaim(index: record.index, leafHash: leafHash, proof: record.inclusionProof))
        }
        if record.index <= event.index { return .withheld("the erasure record (entry \(record.index)) is not later than the erased event") }
        if record.index >= treeSize {
            return .withheld("the erasure record is entry \(record.index), beyond the checkpoint's \(treeSize) entries: the checkpoint does not cover it")
        }
        return .provenIfIncluded(InclusionClaim(index: record.index, leafHash: leafHash, proof: record.inclusionProof))
    }

    /// The given witnesses' cosignatures on one checkpoint note. On the
    /// bundle's checkpoint (`required`) the quorum must be met; on earlier
    /// ones cosignatures are a bonus (stated in the notes), but a line by a
    /// given witness that does not verify is always a failure.
    static func checkCosignatures(
        of noteText: String, location: String, required: Bool, witnesses: WitnessQuorum, verifiers: [NoteVerifier], into report: inout BundleReport
    ) {
        guard let note = try? SignedNote(parsing: noteText) else { return }  // already failed as a checkpoint
        let check = witnesses.check(note)
        for invalid in check.invalid {
            report.failures.append(
                .init(code: .cosignature, location: location, message: "the cosignature of witness \(invalid.witness) does not hold: \(invalid.reason)"))
        }
        let ignored = note.signatures.filter { line in
            !verifiers.contains { line.keyID == $0.keyID && line.name == $0.name } && !witnesses.witnesses.contains { $0.claims(line) }
        }
        if !ignored.isEmpty {
            let names = ignored.map { "\($0.name)+\(String(format: "%08x", $0.keyID))" }.joined(separator: ", ")
            report.notes.append("\(location): signature lines by keys you did not give were ignored: \(names)")
        }
        if required {
            report.cosignatures = check
            if !check.meetsQuorum {
                var message = "\(check.cosigned.count) of the given witnesses cosigned it validly; \(check.quorum) required"
                if !check.missing.isEmpty { message += "; no cosignature by \(check.missing.joined(separator: ", "))" }
                if !check.invalid.isEmpty { message += "; invalid cosignature by \(check.invalid.map(\.witness).joined(separator: ", "))" }
                report.failures.append(.init(code: .witnessQuorum, location: location, message: message))
            }
        } else if !check.cosigned.isEmpty {
            let cosigners = check.cosigned.map { "\($0.witness) at \($0.time)" }.joined(separator: ", ")
            report.notes.append("\(location) was cosigned by \(cosigners)")
        }
    }

    static let kindPhrases: [String: String] = [
        "generation.requested": "a generation request", "generation.completed": "a completed generation",
        "edit.requested": "an edit request", "edit.completed": "a completed edit",
        "subscription.started": "a subscription start", "subscription.renewed": "a subscription renewal",
        "subscription.changed": "a subscription change", "subscription.cancelled": "a subscription cancellation",
        "subscription.payment_failed": "a failed subscription payment", "report.received": "a report",
        "moderation.decision": "a moderation decision", "takedown.executed": "a takedown", "legal.request": "a legal request",
        "erasure.executed": "an erasure", "access.granted": "an investigator's access",
        "hold.placed": "a legal hold", "hold.lifted": "the lifting of a legal hold",
        "ledger.restored": "the ledger's record of a restore whose lost entries came back without their events",
        "retention.applied": "the ledger's record of bodies dropped at the end of their retention period",
        "shard.opened": "the ledger's record opening a new shard, sealing the previous one's final checkpoint",
    ]

    /// One sentence a lawyer can read.
    static func describe(_ event: EvidenceBundle.Event, entry: LedgerEntry, origin: String, format: EvidenceBundle.Format, finding: BundleReport.ErasureFinding?) -> String {
        var sentence = "Event \(event.eventID) — \(kindPhrases[entry.kind] ?? "an event of kind \(entry.kind)")"
        if let body = event.body {
            let images = (body["input_images"]?.arrayValue ?? []) + (body["content_hashes"]?.arrayValue ?? [])
            if let image = images.first?["sha256"]?.stringValue { sentence += " on image sha256:\(image)" }
            if let tier = body["subscription_tier"]?.stringValue ?? body["tier"]?.stringValue { sentence += " under the \(tier) tier" }
            if let account = body["account"]?.stringValue { sentence += " by account \(account)" }
            if let outcome = body["decision"]?["outcome"]?.stringValue { sentence += ", decided \(outcome)" }
            if let occurred = body["occurred_at"]?.stringValue { sentence += ", made at \(occurred)" }
            // Only Greffe writes this kind (intake refuses it): the log's own statement of a gap.
            if entry.kind == "ledger.restored", let first = body["lost_bodies"]?["first_index"]?.intValue,
                let end = body["lost_bodies"]?["end_index"]?.intValue, first >= 0, end > first
            {
                sentence += " (entries \(grouped(UInt64(first))) to \(grouped(UInt64(end - 1))) were put back from a copy of the log without their events, which are lost: events among them may have matched this bundle's query)"
            }
        } else if let disclosed = event.disclosed {
            sentence += disclosed.isEmpty
                ? " (no field of its content is disclosed)"
                : " (only these fields of its content are disclosed: " + disclosed.map { "\($0.path) = \($0.value.canonicalString())" }.joined(separator: "; ") + ")"
        } else if let erasure = event.erasure {
            switch finding {
            case .proven where erasure.record?.kind == "retention.applied":
                sentence += " (its content was dropped at the end of its retention period under \"\(erasure.legalReference)\", which the ledger recorded as entry \(grouped(erasure.erasureEntryIndex)); only its existence can be shown)"
            case .proven:
                sentence += " (its content was erased under the legal order \"\(erasure.legalReference)\", which the ledger recorded as entry \(grouped(erasure.erasureEntryIndex)); only its existence can be shown)"
            case .unproven? where format == .v1:
                sentence += " (the bundle claims an erasure under \"\(erasure.legalReference)\" but a greffe-bundle/v1 bundle carries no proof of it: unproven; only the event's existence can be shown)"
            default:
                sentence += " (its content is withheld: the bundle claims an erasure under \"\(erasure.legalReference)\" that it does not prove)"
            }
        } else {
            sentence += " (its content is withheld; no erasure is claimed)"
        }
        sentence += ", was recorded as entry \(grouped(entry.index)) of the ledger \(origin) at \(RFC3339Time.format(entry.sequencedAtMilliseconds))"
        if let name = event.appendedBy { sentence += " (appended with the token \"\(name)\", as the server states; no proof covers this name)" }
        return sentence
    }

    static func grouped(_ n: UInt64) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return out
    }
}

