import Dispatch
import Foundation
public import GreffeCore
public import GreffeTimestamp

/// What a large bundle's report states instead of one sentence per event.
public struct BundleSummary: Sendable {
    public var events = 0
    public var byKind: [String: Int] = [:]
    /// `decision.outcome` of the events that carry one.
    public var byOutcome: [String: Int] = [:]
    /// `subscription_tier` (or `tier`) of the events that carry one.
    public var byTier: [String: Int] = [:]
    /// Greffe's `sequenced_at` of the first and last bundled entries (milliseconds).
    public var recordedFrom: UInt64?
    public var recordedTo: UInt64?
    public var bodiesShown = 0
    public var erasuresProven = 0
    public var erasuresUnproven = 0
    public var bodiesWithheld = 0
    /// Events whose own checks (entry, commitment, body, erasure record) held.
    public var eventsChecked = 0
    public var holds: [String] = []

    mutating func count(kind: String, hasBody: Bool, outcome: String?, tier: String?, recorded: UInt64) {
        events += 1
        byKind[kind, default: 0] += 1
        if recordedFrom == nil { recordedFrom = recorded }
        recordedTo = recorded
        guard hasBody else { return }
        bodiesShown += 1
        if let outcome { byOutcome[outcome, default: 0] += 1 }
        if let tier { byTier[tier, default: 0] += 1 }
    }

    static func outcome(of body: JSONValue) -> String? { body["decision"]?["outcome"]?.stringValue.map { String($0.prefix(64)) } }
    static func tier(of body: JSONValue) -> String? { (body["subscription_tier"]?.stringValue ?? body["tier"]?.stringValue).map { String($0.prefix(64)) } }
}

/// One event of a v3 bundle as the verifier found it, handed to `--events-csv` in file order.
public struct CheckedEventLine: Sendable {
    public var position: Int
    public var index: UInt64
    public var eventID: String?
    public var kind: String
    public var recordedAtMilliseconds: UInt64
    /// The event's own checks held: its entry, commitment and body, and for a null body its erasure record.
    /// Inclusion in the checkpoint's tree is proved for the bundle as a whole (the report's result).
    public var checksHeld: Bool
    public var erasure: BundleReport.ErasureFinding?
    public var appendedBy: String?
    public var problems: [String]
    /// The event's body, for callers that recompute figures from it (`greffe verify --report`).
    public var body: JSONValue?

    public init(
        position: Int, index: UInt64, eventID: String?, kind: String, recordedAtMilliseconds: UInt64, checksHeld: Bool,
        erasure: BundleReport.ErasureFinding?, appendedBy: String?, problems: [String], body: JSONValue?
    ) {
        self.position = position
        self.index = index
        self.eventID = eventID
        self.kind = kind
        self.recordedAtMilliseconds = recordedAtMilliseconds
        self.checksHeld = checksHeld
        self.erasure = erasure
        self.appendedBy = appendedBy
        self.problems = problems
        self.body = body
    }
}

/// Verifies a `greffe-bundle/v3` file as a stream: read once, events checked
/// on all cores as they arrive, the multi-leaf proof folded in order, memory
/// bounded by a window of events whatever the bundle's size. Same checks,
/// failures and words as `BundleVerifier` (which v1 and v2 files still go
/// through), with the inclusion proved for the bundle as a whole.
public struct CompactBundleVerifier {
    public var verifiers: [NoteVerifier]
    public var timestampTrust: TimestampTrust?
    public var witnesses: WitnessQuorum?
    /// Bundles of at most this many events get one sentence per event; larger ones a summary.
    public var listEventsUpTo = 1000
    /// Failures kept in the report; beyond, counted (each is also in the events CSV).
    public var maxFailures = 10_000
    /// Every event, in file order (`--events-csv`).
    public var onEvent: ((CheckedEventLine) -> Void)?
    /// The event at position 0 alone, with its body (a shard's link: `ShardBundleVerifier`).
    public var onFirstEvent: ((CheckedEventLine) -> Void)?
    /// After each window of events: bytes read, total bytes if known, events so far.
    public var onProgress: ((UInt64, UInt64?, Int) -> Void)?
    public var workers = ProcessInfo.processInfo.activeProcessorCount
    /// The shard this bundle is of, inside a `greffe-shard-bundle/v1`: a body dropped by another shard's
    /// record is then handed to `ShardBundleVerifier` to prove; alone (nil), such a claim fails.
    public var shard: Int?
    /// Events handed to one worker at a time.
    static let batchSize = 512

    public init(verifiers: [NoteVerifier], timestampTrust: TimestampTrust? = nil, witnesses: WitnessQuorum? = nil) {
        precondition(!verifiers.isEmpty, "a bundle is verified against at least one key")
        self.verifiers = verifiers
        self.timestampTrust = timestampTrust
        self.witnesses = witnesses
    }

    /// The outcome: a report, or the bundle's format when it is not v3 (the caller reads it whole).
    public enum Outcome {
        case verified(BundleReport)
        case otherFormat(EvidenceBundle.Format)
    }

    public func verify(file path: String) throws -> Outcome {
        let source = try FileByteSource(path: path)
        defer { source.close() }
        return try verify(source)
    }

    /// Throws `EvidenceBundle.FormatError` when the file is not a readable bundle.
    public func verify<Source: BundleByteSource>(_ source: Source) throws -> Outcome {
        var run = Run(options: self)
        var reader = BundleFileReader(source: source)
        do {
            return try run.read(&reader)
        } catch let error as BundleFileReader<Source>.Failure {
            throw EvidenceBundle.FormatError(error.description)
        }
    }
}

extension CompactBundleVerifier {
    /// One event as a worker checked it.
    struct CheckedEvent {
        var formatError: EvidenceBundle.FormatError?
        var entry: LedgerEntry?
        var entryBytes: [UInt8] = []
        var leafHash = Hash.zero
        var gap: [Hash] = []
        var event: EvidenceBundle.Event?
        var failures: [(BundleReport.Failure.Code, String)] = []
        var erasure: BundleVerifier.ErasureCheck?
        var hasBody = false
        /// Some fields shown instead of the body (`disclose`): neither a body nor an erasure.
        var isDisclosure = false
        /// What the summary counts, read by the worker.
        var outcome: String?
        var tier: String?
    }

    /// The state of one verification.
    struct Run {
        let options: CompactBundleVerifier
        var report: BundleReport
        var members: [String: JSONValue] = [:]
        var format: EvidenceBundle.Format?
        var checkpoint: Checkpoint?
        var checkpointFailed = false
        var timestamps: [EvidenceBundle.CheckpointTimestamp]?
        // The multi-leaf proof, folded in file order.
        var fold = RootFold()
        var foldBroken = false
        var next: UInt64 = 0
        var previous: (index: UInt64, leaf: Hash, recorded: UInt64)?
        var position = 0
        /// The position of the first event not yet handed to the workers.
        var nextPosition = 0
        var summary = BundleSummary()
        var failuresDropped = 0
        // Kept while the bundle is small enough to describe event by event.
        var listed: [(line: BundleReport.EventLine, event: EvidenceBundle.Event, entry: LedgerEntry)] = []
        var recordClaims: [(claim: InclusionClaim, location: String, listedLine: Int?)] = []
        /// With a TSA: the latest `sequenced_at` below each size a timestamp names, or, when the
        /// timestamps come after the events in the file, every rise of the running latest.
        var latestBelow: [UInt64: (UInt64, UInt64)] = [:]
        var rises: [(index: UInt64, milliseconds: UInt64)] = []

        init(options: CompactBundleVerifier) {
            self.options = options
            report = BundleReport(keyName: options.verifiers.map(\.verifierKey).joined(separator: ", "))
            report.keysGiven = options.verifiers.count
        }

        mutating func fail(_ code: BundleReport.Failure.Code, _ location: String, _ message: String) {
            guard report.failures.count < options.maxFailures else {
                failuresDropped += 1
                return
            }
            report.failures.append(.init(code: code, location: location, message: message))
        }

        mutating func read<Source>(_ reader: inout BundleFileReader<Source>) throws -> Outcome {
            try reader.expect(UInt8(ascii: "{"), "the bundle's opening {")
            var eventsOffset: UInt64?
            var seen: Set<String> = []
            if try !reader.take(UInt8(ascii: "}")) {
                repeat {
                    let nameBytes = try reader.nextValue()
                    guard let name = (try? JSONParser.parse(nameBytes))?.stringValue else {
                        throw EvidenceBundle.FormatError("the bundle is not valid JSON: a member name is not a string")
                    }
                    guard seen.insert(name).inserted else {
                        throw EvidenceBundle.FormatError("the bundle is not valid JSON: the member \"\(name.prefix(40))\" appears twice")
                    }
                    try reader.expect(UInt8(ascii: ":"), "a colon")
                    if name == "events" {
                        if format == .v3 {
                            try streamEvents(&reader)
                        } else {
                            // The format comes later in the file: come back once it is known.
                            eventsOffset = reader.offset
                            _ = try reader.nextValue()
                        }
                    } else {
                        let bytes = try reader.nextValue()
                        let value: JSONValue
                        do { value = try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 128, maxBytes: Int.max)) } catch {
                            throw EvidenceBundle.FormatError("the bundle is not valid JSON: \(error)")
                        }
                        try take(member: name, value)
                        if case .v1? = format { return .otherFormat(.v1) }
                        if case .v2? = format { return .otherFormat(.v2) }
                    }
                } while try reader.take(UInt8(ascii: ","))
                try reader.expect(UInt8(ascii: "}"), "a comma or the bundle's closing }")
            }
            guard try reader.peekSignificant() == nil else { throw EvidenceBundle.FormatError("the bundle is not valid JSON: data follows the bundle") }
            guard format == .v3 else { throw EvidenceBundle.FormatError("the bundle's format is none of greffe-bundle/v3, greffe-bundle/v2, greffe-bundle/v1") }
            guard seen.contains("events") else { throw EvidenceBundle.FormatError("/events is missing or not an array") }
            if let eventsOffset {
                try reader.seek(to: eventsOffset)
                try streamEvents(&reader)
            }
            return .verified(try finish())
        }

        /// A member other than `events`, checked as `EvidenceBundle(parsing:)` checks it.
        mutating func take(member name: String, _ value: JSONValue) throws {
            switch name {
            case "format":
                guard let text = value.stringValue, let parsed = EvidenceBundle.Format(rawValue: text) else {
                    throw EvidenceBundle.FormatError("the bundle's format is none of greffe-bundle/v3, greffe-bundle/v2, greffe-bundle/v1")
                }
                format = parsed
                return
            case "verifier_key", "created_at":
                guard value.stringValue != nil else { throw EvidenceBundle.FormatError("/\(name) is missing or not a string") }
            case "checkpoint":
                guard let note = value.stringValue else { throw EvidenceBundle.FormatError("/checkpoint is missing or not a string") }
                verifyCheckpoint(note)
            case "timestamps":
                // Parsed as in memory, with the same limits and words.
                timestamps = try EvidenceBundle.parseTimestamps(value)
            case "query", "earlier_checkpoints", "tail", "holds":
                break
            default:
                // Unknown members are refused in v3; before the format is known, held until it is.
                break
            }
            members[name] = value
        }

        mutating func verifyCheckpoint(_ note: String) {
            let verifiers = options.verifiers
            do {
                let verified = try CheckpointVerifier.verify(note: note, verifiers: verifiers)
                checkpoint = verified.checkpoint
                report.signedBy = verified.signedBy
                report.origin = verified.checkpoint.origin
                report.checkpointSize = verified.checkpoint.size
                report.checkpointRoot = verified.checkpoint.root
                if let witnesses = options.witnesses {
                    BundleVerifier.checkCosignatures(of: note, location: "checkpoint", required: true, witnesses: witnesses, verifiers: verifiers, into: &report)
                }
            } catch {
                checkpointFailed = true
                fail(.signature, "checkpoint", "\(error)")
            }
        }

        /// The events array: batches parsed and checked in parallel, merged in order.
        mutating func streamEvents<Source>(_ reader: inout BundleFileReader<Source>) throws {
            try reader.expect(UInt8(ascii: "["), "/events to be an array")
            if try reader.take(UInt8(ascii: "]")) { return }
            let window = max(1, options.workers) * 4
            var done = false
            // Reading the next window and merging the last overlap with the workers checking the current one.
            var running: (group: DispatchGroup, slots: ResultSlots)?
            while true {
                var batches: [Batch] = []
                var firstPosition = nextPosition
                while batches.count < window && !done {
                    var batch = Batch(firstPosition: firstPosition)
                    while batch.ends.count < CompactBundleVerifier.batchSize {
                        _ = try reader.appendNextValue(to: &batch.bytes)
                        batch.ends.append(batch.bytes.count)
                        if try reader.take(UInt8(ascii: "]")) {
                            done = true
                            break
                        }
                        try reader.expect(UInt8(ascii: ","), "a comma or the end of /events")
                    }
                    firstPosition += batch.ends.count
                    batches.append(batch)
                }
                nextPosition = firstPosition
                let previous = running
                running = batches.isEmpty ? nil : Self.start(batches, workers: options.workers, fullBodies: options.onEvent != nil, listUpTo: options.listEventsUpTo)
                if let previous {
                    previous.group.wait()
                    for checked in previous.slots.all() { try merge(checked) }
                    options.onProgress?(reader.bytesRead, reader.size, position)
                    // Without a trusted root nothing more can be shown: stop reading.
                    if checkpointFailed {
                        running?.group.wait()
                        return
                    }
                }
                if running == nil { return }
            }
        }

        /// Folds one checked event into the bundle's state, in file order.
        mutating func merge(_ checked: CheckedEvent) throws {
            if let error = checked.formatError { throw error }
            let position = self.position
            self.position += 1
            guard let entry = checked.entry, let event = checked.event else {
                // Its index is unknown: the multi-leaf proof cannot be followed past it.
                for (code, message) in checked.failures { fail(code, "event \(position)", message) }
                if !foldBroken {
                    foldBroken = true
                    fail(.inclusionProof, "event \(position)", "its entry cannot be read, so the bundle's inclusion proof cannot be followed past it")
                }
                options.onEvent?(
                    CheckedEventLine(
                        position: position, index: 0, eventID: nil, kind: "", recordedAtMilliseconds: 0, checksHeld: false, erasure: nil, appendedBy: nil,
                        problems: checked.failures.map(\.1), body: nil))
                return
            }
            let location = "event \(position) (index \(entry.index))"
            let failuresBefore = report.failures.count + failuresDropped
            for (code, message) in checked.failures { fail(code, location, message) }
            var line = BundleReport.EventLine(
                index: entry.index, eventID: event.eventID, sentence: "", verified: false, bodyErased: !checked.hasBody && !checked.isDisclosure, appendedBy: event.appendedBy)
            if !checked.hasBody && !checked.isDisclosure {
                line.erasureLegalReference = event.erasure?.legalReference
                line.erasureEntryIndex = event.erasure?.erasureEntryIndex
                switch checked.erasure {
                case .withheld(let problem)?:
                    fail(.bodyWithheld, location, "body withheld: \(problem)")
                    if event.erasure != nil { line.erasure = .unproven }
                    summary.bodiesWithheld += 1
                case .provenIfIncluded(let claim)?:
                    line.erasure = .proven
                    recordClaims.append((claim, location, listed.count))
                    summary.erasuresProven += 1
                case .provenInShard(let shard, let names, let claim)?:
                    if let problem = crossShardProblem(recordShard: shard, names: names) {
                        fail(.bodyWithheld, location, "body withheld: \(problem)")
                        line.erasure = .unproven
                        summary.bodiesWithheld += 1
                    } else {
                        // Proved by the shard bundle's verifier, against that shard's checkpoint.
                        line.erasure = .proven
                        report.crossShardErasures.append(.init(location: location, eventIndex: entry.index, shard: shard, claim: claim))
                        summary.erasuresProven += 1
                    }
                case .unproven?, nil:
                    line.erasure = .unproven
                    summary.erasuresUnproven += 1
                }
            }

            // The multi-leaf proof: strictly increasing indices, gaps of the right length.
            if let previous, entry.index <= previous.index {
                fail(.duplicateEvent, location, "index \(entry.index) is not after the previous event's index \(previous.index): v3 events are in increasing index order")
                if !foldBroken { foldBroken = true }
            } else if let checkpoint, entry.index >= checkpoint.size {
                fail(.inclusionProof, location, "index \(entry.index) is beyond the checkpoint's \(checkpoint.size) entries")
                foldBroken = true
            } else if !foldBroken {
                let cover = SubtreeCover.cover(from: next, to: entry.index)
                if cover.count != checked.gap.count {
                    fail(.inclusionProof, location, "its gap holds \(checked.gap.count) hashes; the entries between index \(next) and \(entry.index) need \(cover.count)")
                    foldBroken = true
                } else {
                    for (subtree, hash) in zip(cover, checked.gap) { fold.push(subtree, hash) }
                    fold.push(Subtree(level: 0, position: entry.index), checked.leafHash)
                    next = entry.index + 1
                }
            }

            // The hash chain between adjacent bundled entries.
            if let previous, previous.index + 1 == entry.index {
                report.prevLinksChecked += 1
                if entry.prev != previous.leaf {
                    fail(.prevLink, "event at index \(entry.index)", "its prev link is not the leaf hash of entry \(previous.index)")
                }
                if entry.sequencedAtMilliseconds < previous.recorded {
                    fail(.time, "event at index \(entry.index)", "it was sequenced before entry \(previous.index)")
                }
            }
            if previous == nil || entry.index > previous!.index {
                previous = (entry.index, checked.leafHash, entry.sequencedAtMilliseconds)
            }
            noteRecorded(index: entry.index, milliseconds: entry.sequencedAtMilliseconds)

            let held = report.failures.count + failuresDropped == failuresBefore
            line.verified = held
            if held { summary.eventsChecked += 1 }
            summary.count(kind: entry.kind, hasBody: checked.hasBody, outcome: checked.outcome, tier: checked.tier, recorded: entry.sequencedAtMilliseconds)
            if listed.count < options.listEventsUpTo { listed.append((line, event, entry)) }
            if options.onEvent != nil || (position == 0 && options.onFirstEvent != nil) {
                let checkedLine = CheckedEventLine(
                    position: position, index: entry.index, eventID: checked.hasBody ? event.eventID : nil, kind: entry.kind,
                    recordedAtMilliseconds: entry.sequencedAtMilliseconds, checksHeld: held, erasure: line.erasure, appendedBy: event.appendedBy,
                    problems: report.failures.count > failuresBefore ? report.failures[failuresBefore...].map(\.message) : checked.failures.map(\.1),
                    body: event.body)
                options.onEvent?(checkedLine)
                if position == 0 { options.onFirstEvent?(checkedLine) }
            }
        }

        /// Why a body of this shard cannot be proved dropped by a record of shard `recordShard` naming shard `names`.
        func crossShardProblem(recordShard: Int, names: Int) -> String? {
            guard let own = options.shard else {
                return "its record is in shard \(recordShard): ask for the bundle across shards (POST /v1/bundles) to prove it"
            }
            if recordShard == own { return "the claim names this event's own shard \(own) as another shard" }
            if names != own { return "the record in shard \(recordShard) covers shard \(names)'s entries, not shard \(own)'s" }
            if recordShard < own { return "the record is in shard \(recordShard), before this event's shard \(own) was opened" }
            return nil
        }

        /// For the timestamps' check of the ledger's clock: the latest `sequenced_at` below each size.
        mutating func noteRecorded(index: UInt64, milliseconds: UInt64) {
            guard options.timestampTrust != nil else { return }
            if let timestamps {
                for stamp in timestamps where index < stamp.treeSize {
                    if let latest = latestBelow[stamp.treeSize], latest.1 >= milliseconds { continue }
                    latestBelow[stamp.treeSize] = (index, milliseconds)
                }
            } else if rises.isEmpty || milliseconds > rises.last!.milliseconds {
                rises.append((index, milliseconds))
            }
        }

        func latestRecorded(below size: UInt64) -> (index: UInt64, milliseconds: UInt64)? {
            if timestamps != nil { return latestBelow[size] }
            return rises.last { $0.index < size }
        }

        /// After the whole file: the root, the records, the earlier checkpoints and timestamps, the report.
        mutating func finish() throws -> BundleReport {
            for required in ["verifier_key", "checkpoint", "created_at", "earlier_checkpoints", "tail"] where members[required] == nil {
                throw EvidenceBundle.FormatError(required == "tail" ? "/tail is missing or not an array" : "/\(required) is missing")
            }
            if let unknown = members.keys.sorted().first(where: { !EvidenceBundle.knownMembers.union(["tail", "holds"]).contains($0) }) {
                throw EvidenceBundle.FormatError("the bundle has the unknown field \"\(unknown.prefix(40))\"")
            }
            let earlier = try EvidenceBundle.parseEarlierCheckpoints(members["earlier_checkpoints"], format: .v3)
            let tail = try EvidenceBundle.hashes(members["tail"], at: "/tail")
            let holds = try EvidenceBundle.parseHolds(members["holds"])
            if let verifierKey = members["verifier_key"]?.stringValue, !options.verifiers.contains(where: { $0.verifierKey == verifierKey }) {
                report.notes.append(
                    "the bundle names the key \(verifierKey); it was checked against the key\(options.verifiers.count == 1 ? "" : "s") you gave, \(report.keyName)")
            }
            guard let checkpoint else {
                // Without a trusted root no event can be checked.
                report.events = []
                return report
            }

            // The multi-leaf proof's end: the tail, then the root.
            if !foldBroken {
                let cover = SubtreeCover.cover(from: next, to: checkpoint.size)
                if let previous, previous.index >= checkpoint.size {
                    fail(.inclusionProof, "events", "the last event's index \(previous.index) is beyond the checkpoint's \(checkpoint.size) entries")
                    foldBroken = true
                } else if cover.count != tail.count {
                    fail(.inclusionProof, "tail", "it holds \(tail.count) hashes; the entries after the last event need \(cover.count)")
                    foldBroken = true
                } else {
                    for (subtree, hash) in zip(cover, tail) { fold.push(subtree, hash) }
                    if fold.root != checkpoint.root {
                        fail(
                            .inclusionProof, "events",
                            "the events' entries with the bundle's gap and tail hashes lead to the root \(fold.root), not to the checkpoint's: an entry, an index or a proof hash was changed, so no event of this bundle is shown to be in the log")
                        foldBroken = true
                    }
                }
            }

            // Erasure and hold records: each proved alone, as in v2.
            var claims: [InclusionClaim] = []
            var locations: [(String, Int?, Bool)] = []
            for (claim, location, listedLine) in recordClaims {
                if claim.index >= checkpoint.size {
                    fail(.bodyWithheld, location, "body withheld: the erasure record is entry \(claim.index), beyond the checkpoint's \(checkpoint.size) entries: the checkpoint does not cover it")
                    if let listedLine, listedLine < listed.count { listed[listedLine].line.erasure = .unproven; listed[listedLine].line.verified = false }
                    continue
                }
                claims.append(claim)
                locations.append((location, listedLine, true))
            }
            for (position, hold) in holds.enumerated() {
                for (record, role) in [(hold.placed, "placed"), (hold.lifted, "lifted")] {
                    guard let record else { continue }
                    let location = "hold \(position) (\(role))"
                    if let problem = Self.checkHoldRecord(record, role: role, placed: hold.placed, treeSize: checkpoint.size) {
                        fail(.hold, location, problem)
                        continue
                    }
                    claims.append(InclusionClaim(index: record.index, leafHash: record.leafHash, proof: record.inclusionProof))
                    locations.append((location, nil, false))
                }
                summary.holds.append(Self.describe(hold))
            }
            let errors = BatchVerifier.verify(claims, treeSize: checkpoint.size, root: checkpoint.root)
            for ((location, listedLine, isErasure), error) in zip(locations, errors) {
                guard let error else { continue }
                if isErasure {
                    fail(.bodyWithheld, location, "body withheld: the erasure record's inclusion proof does not hold: \(error)")
                    if let listedLine, listedLine < listed.count {
                        listed[listedLine].line.erasure = .unproven
                        listed[listedLine].line.verified = false
                    }
                } else {
                    fail(.hold, location, "the record's inclusion proof does not hold: \(error)")
                }
            }

            if position <= options.listEventsUpTo {
                for item in listed {
                    var line = item.line
                    if foldBroken { line.verified = false }
                    line.sentence = BundleVerifier.describe(item.event, entry: item.entry, origin: checkpoint.origin, format: .v3, finding: line.erasure)
                    report.events.append(line)
                }
            } else {
                report.summary = summary
            }
            if report.summary == nil { report.holds = summary.holds }
            report.eventCount = position
            report.query = members["query"]
            if failuresDropped > 0 {
                report.notes.append("\(failuresDropped) more failures are not listed here; --events-csv lists every event's problems")
            }

            BundleVerifier.checkEarlierCheckpoints(earlier, checkpoint: checkpoint, verifiers: options.verifiers, witnesses: options.witnesses, report: &report)
            let needed = previous.map { $0.index + 1 }
            let recorded = self
            BundleVerifier.checkTimestamps(
                timestamps ?? [], needed: needed, latestRecorded: { recorded.latestRecorded(below: $0) }, checkpoint: checkpoint,
                verifiers: options.verifiers, trust: options.timestampTrust, report: &report)
            report.failuresNotListed = failuresDropped
            return report
        }

        /// The checks of `Schemas/bundle.md`, v3: Holds; nil when they hold (the inclusion proof is checked after).
        static func checkHoldRecord(_ record: EvidenceBundle.Event, role: String, placed: EvidenceBundle.Event, treeSize: UInt64) -> String? {
            let kind = role == "placed" ? "hold.placed" : "hold.lifted"
            guard let entry = try? LedgerEntry(decoding: record.entry) else { return "the record's entry is not a valid entry" }
            if MerkleHash.leaf(record.entry) != record.leafHash { return "the record's entry does not hash to its leaf_hash" }
            if entry.index != record.index { return "the record's entry says index \(entry.index), the record says \(record.index)" }
            if entry.kind != kind || record.kind != kind { return "the record is of kind \(entry.kind), not \(kind)" }
            guard let body = record.body, let salt = record.salt else { return "the record carries no body and salt" }
            if !entry.commits(to: body, salt: salt) {
                return "the record's body and salt do not match its entry's commitment: the record was changed"
            }
            if body["kind"]?.stringValue != kind || body["event_id"]?.stringValue != record.eventID { return "the record's body does not match its kind and event_id" }
            if body["platform"]?.stringValue != "greffe" { return "the record was not written by Greffe (its platform is not \"greffe\")" }
            if record.index >= treeSize { return "the record is entry \(record.index), beyond the checkpoint's \(treeSize) entries" }
            if role == "lifted" {
                guard let target = body["hold_index"]?.intValue, target >= 0, UInt64(target) == placed.index else {
                    return "the hold.lifted record does not name the hold.placed record (entry \(placed.index))"
                }
                if record.index <= placed.index { return "the hold.lifted record is not later than the hold it lifts" }
                // A lift naming a shard lifted a hold of that (earlier) shard, not this log's (Schemas/shards.md).
                if body["shard"] != nil { return "the hold.lifted record names shard \(body["shard"]?.intValue.map(String.init) ?? "?"): it lifted another shard's hold, not this log's" }
            }
            return nil
        }

        static func describe(_ hold: EvidenceBundle.Hold) -> String {
            let body = hold.placed.body
            let authority = body?["authority"]?.stringValue ?? "?"
            let reference = body?["reference"]?.stringValue ?? "?"
            var text = "Legal hold \"\(reference)\" by \(authority), recorded as entry \(BundleVerifier.grouped(hold.placed.index))"
            if let lifted = hold.lifted {
                text += ", lifted by entry \(BundleVerifier.grouped(lifted.index))"
            } else {
                text += ", active at the bundle's checkpoint"
            }
            return text
        }
    }
}
