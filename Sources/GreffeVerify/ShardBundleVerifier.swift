import Foundation
public import GreffeCore
public import GreffeTimestamp

/// What `greffe verify` found in a `greffe-shard-bundle/v1` (Schemas/shards.md, "Bundles across shards"):
/// each shard's v3 bundle report, and the links between them.
public struct ShardBundleReport: Sendable {
    public struct Link: Sendable {
        public var shard: Int
        public var reason: Shards.Reason
        /// For a restore's seal: the previous shard's entries that were lost, and the operator's account.
        public var lostEntries: Range<UInt64>?
        public var lostBecause: String?
    }

    public var baseOrigin: String
    public var keyName: String
    /// Element k is shard k's report.
    public var shards: [BundleReport] = []
    public var links: [Link] = []
    /// Failures of the file as a whole and of the links, each naming its shard.
    public var failures: [String] = []
    public var query: JSONValue?

    public var verified: Bool { failures.isEmpty && shards.allSatisfy(\.verified) }
    public var eventCount: Int { shards.reduce(0) { $0 + $1.eventCount } }
}

/// Checks a `greffe-shard-bundle/v1` offline with the ledger's base key(s): each shard's bundle as a v3
/// bundle with that shard's key, streamed from its place in the file, then each shard's link to the one before.
public struct ShardBundleVerifier {
    public static let format = "greffe-shard-bundle/v1"
    static let members: Set = ["format", "origin", "verifier_key", "created_at", "query", "shards"]

    /// The base keys (named by the base origin).
    public var verifiers: [NoteVerifier]
    public var timestampTrust: TimestampTrust?
    public var witnesses: WitnessQuorum?
    /// Every event of every shard, in file order, with its shard.
    public var onEvent: ((Int, CheckedEventLine) -> Void)?
    public var onProgress: ((UInt64, UInt64?, Int) -> Void)?

    public init(verifiers: [NoteVerifier], timestampTrust: TimestampTrust? = nil, witnesses: WitnessQuorum? = nil) {
        precondition(!verifiers.isEmpty, "a bundle is verified against at least one key")
        self.verifiers = verifiers
        self.timestampTrust = timestampTrust
        self.witnesses = witnesses
    }

    /// True when the file's top-level `format` is this one: `greffe verify` dispatches on it. Members before
    /// it are skipped as they stream (servers write them in JCS order, `created_at` first).
    public static func claims(file path: String) -> Bool {
        guard let source = try? FileByteSource(path: path) else { return false }
        defer { source.close() }
        var reader = BundleFileReader(source: source)
        do {
            try reader.expect(UInt8(ascii: "{"), "{")
            repeat {
                let name = try JSONParser.parse(try reader.nextValue()).stringValue
                try reader.expect(UInt8(ascii: ":"), ":")
                if name == "format" { return try JSONParser.parse(try reader.nextValue()).stringValue == format }
                try reader.skipValue()
            } while try reader.take(UInt8(ascii: ","))
        } catch {}
        return false
    }

    /// Throws `EvidenceBundle.FormatError` when the file is not a readable shard bundle.
    public func verify(file path: String) throws -> ShardBundleReport {
        let source = try FileByteSource(path: path)
        defer { source.close() }
        return try verify(source)
    }

    public func verify<Source: BundleByteSource>(_ source: Source) throws -> ShardBundleReport {
        let (members, ranges) = try Self.readOutline(source)
        let baseOrigin = verifiers[0].name
        var report = ShardBundleReport(baseOrigin: baseOrigin, keyName: verifiers.map(\.verifierKey).joined(separator: ", "))
        report.query = members["query"]
        if let origin = members["origin"]?.stringValue, origin != baseOrigin {
            report.failures.append("the file names the ledger \(origin.prefix(200)), but the key given is of \(baseOrigin)")
        }
        var eventsBefore = 0
        var previousCheckpoint: (size: UInt64, root: Hash)?
        for (shard, range) in ranges.enumerated() {
            let origin = Shards.origin(base: baseOrigin, shard: shard)
            let shardVerifiers: [NoteVerifier]
            do { shardVerifiers = try verifiers.map { try $0.renamed(origin) } } catch {
                throw EvidenceBundle.FormatError("shard \(shard): the key cannot be named \(origin): \(error)")
            }
            var inner = CompactBundleVerifier(verifiers: shardVerifiers, timestampTrust: timestampTrust, witnesses: witnesses)
            inner.listEventsUpTo = max(1, inner.listEventsUpTo)
            inner.shard = shard
            if let onEvent { inner.onEvent = { onEvent(shard, $0) } }
            let progress = onProgress
            let offset = range.lowerBound
            let before = eventsBefore
            inner.onProgress = { bytes, _, events in progress?(offset + bytes, source.size, before + events) }
            nonisolated(unsafe) var first: CheckedEventLine?
            inner.onFirstEvent = { first = $0 }
            let outcome: CompactBundleVerifier.Outcome
            do { outcome = try inner.verify(try SliceByteSource(source, range: range)) } catch let error as EvidenceBundle.FormatError {
                throw EvidenceBundle.FormatError("shard \(shard)'s bundle: \(error.description)")
            }
            guard case .verified(let shardReport) = outcome else {
                throw EvidenceBundle.FormatError("shard \(shard)'s bundle is not greffe-bundle/v3")
            }
            eventsBefore += shardReport.eventCount
            report.shards.append(shardReport)
            if let query = members["query"], shardReport.query != query {
                report.failures.append("shard \(shard): its bundle answers another query than the file's")
            }
            let checkpoint = shardReport.checkpointSize.flatMap { size in shardReport.checkpointRoot.map { (size: size, root: $0) } }
            defer { previousCheckpoint = checkpoint }
            guard shard > 0 else { continue }
            // The link: entry 0 of this shard, a shard.opened record sealing the previous shard's checkpoint.
            guard let first, first.index == 0, first.kind == Shards.openedKind else {
                report.failures.append("shard \(shard): its bundle does not hold its entry 0, the \(Shards.openedKind) record that links it to shard \(shard - 1)")
                continue
            }
            guard first.checksHeld, let body = first.body else {
                report.failures.append("shard \(shard): its entry 0 (\(Shards.openedKind)) is not shown whole with its body, or its own checks failed")
                continue
            }
            let link: ShardLink
            do { link = try ShardLink(body: body, baseOrigin: baseOrigin, verifiers: verifiers) } catch {
                report.failures.append("shard \(shard): its \(Shards.openedKind) record: \(error)")
                continue
            }
            guard link.shard == shard else {
                report.failures.append("shard \(shard): its \(Shards.openedKind) record names shard \(link.shard): the shards are out of order or one is missing")
                continue
            }
            report.links.append(.init(shard: shard, reason: link.reason, lostEntries: link.lostEntries, lostBecause: link.lostBecause))
            guard let previousCheckpoint else {
                report.failures.append("shard \(shard): shard \(shard - 1)'s checkpoint did not verify, so the link between them cannot be checked")
                continue
            }
            if let lost = link.lostEntries {
                if previousCheckpoint.size > lost.lowerBound {
                    report.failures.append(
                        "shard \(shard): its seal says shard \(shard - 1) was restored to \(lost.lowerBound) entries, but shard \(shard - 1)'s bundle is proved at \(previousCheckpoint.size)")
                }
            } else if link.previousCheckpoint.size != previousCheckpoint.size || link.previousCheckpoint.root != previousCheckpoint.root {
                report.failures.append(
                    "shard \(shard): it seals shard \(shard - 1) at size \(link.previousCheckpoint.size), root \(link.previousCheckpoint.root), but shard \(shard - 1)'s bundle is proved at size \(previousCheckpoint.size), root \(previousCheckpoint.root): the chain of shards is broken")
            }
        }
        checkCrossShardErasures(&report)
        return report
    }

    /// Bodies of a sealed shard dropped by a later shard's retention record: each record proved in the
    /// checkpoint of that shard's element (Schemas/shards.md, "Proving a body dropped after its shard was sealed").
    func checkCrossShardErasures(_ report: inout ShardBundleReport) {
        for shard in report.shards.indices {
            for pending in report.shards[shard].crossShardErasures {
                var problem: String?
                if pending.shard >= report.shards.count {
                    problem = "its record is in shard \(pending.shard), which the file does not hold"
                } else if let size = report.shards[pending.shard].checkpointSize, let root = report.shards[pending.shard].checkpointRoot {
                    if pending.claim.index >= size {
                        problem = "its record is entry \(pending.claim.index) of shard \(pending.shard), beyond that shard's checkpoint (\(size) entries)"
                    } else {
                        do {
                            try ProofVerifier.verifyInclusion(
                                index: pending.claim.index, size: size, leafHash: pending.claim.leafHash, proof: pending.claim.proof, root: root)
                        } catch {
                            problem = "its record's inclusion proof does not hold in shard \(pending.shard)'s checkpoint: \(error)"
                        }
                    }
                } else {
                    problem = "shard \(pending.shard)'s checkpoint did not verify, so its record cannot be proved"
                }
                guard let problem else { continue }
                report.failures.append("shard \(shard), \(pending.location): body withheld: \(problem)")
                if let line = report.shards[shard].events.firstIndex(where: { $0.index == pending.eventIndex }) {
                    report.shards[shard].events[line].erasure = .unproven
                    report.shards[shard].events[line].verified = false
                }
            }
        }
    }

    /// The file's members but `shards`, parsed, and the byte range of each shard's bundle, in order.
    static func readOutline<Source: BundleByteSource>(_ source: Source) throws -> (JSONObject, [Range<UInt64>]) {
        var reader = BundleFileReader(source: source)
        var members = JSONObject()
        var ranges: [Range<UInt64>]?
        do {
            try reader.expect(UInt8(ascii: "{"), "the file's opening {")
            if try !reader.take(UInt8(ascii: "}")) {
                repeat {
                    guard let name = (try? JSONParser.parse(try reader.nextValue()))?.stringValue else {
                        throw EvidenceBundle.FormatError("the file is not valid JSON: a member name is not a string")
                    }
                    guard members[name] == nil, !(name == "shards" && ranges != nil) else {
                        throw EvidenceBundle.FormatError("the file is not valid JSON: the member \"\(name.prefix(40))\" appears twice")
                    }
                    guard Self.members.contains(name) else {
                        throw EvidenceBundle.FormatError("the file has the unknown member \"\(name.prefix(40))\"; a \(format) has exactly \(Self.members.sorted().joined(separator: ", "))")
                    }
                    try reader.expect(UInt8(ascii: ":"), "a colon")
                    if name == "shards" {
                        var found: [Range<UInt64>] = []
                        try reader.expect(UInt8(ascii: "["), "/shards to be an array")
                        if try !reader.take(UInt8(ascii: "]")) {
                            repeat {
                                guard try reader.peekSignificant() == UInt8(ascii: "{") else {
                                    throw EvidenceBundle.FormatError("/shards/\(found.count) is not a bundle (a JSON object)")
                                }
                                let start = reader.offset
                                try reader.skipValue()
                                found.append(start..<reader.offset)
                            } while try reader.take(UInt8(ascii: ","))
                            try reader.expect(UInt8(ascii: "]"), "a comma or the end of /shards")
                        }
                        ranges = found
                    } else {
                        do { members[name] = try JSONParser.parse(try reader.nextValue(), limits: JSONLimits(maxDepth: 128, maxBytes: Int.max)) } catch {
                            throw EvidenceBundle.FormatError("the file is not valid JSON: /\(name): \(error)")
                        }
                    }
                } while try reader.take(UInt8(ascii: ","))
                try reader.expect(UInt8(ascii: "}"), "a comma or the file's closing }")
            }
            guard try reader.peekSignificant() == nil else { throw EvidenceBundle.FormatError("the file is not valid JSON: data follows the bundle") }
        } catch let error as BundleFileReader<Source>.Failure {
            throw EvidenceBundle.FormatError(error.description)
        }
        guard members["format"]?.stringValue == format else { throw EvidenceBundle.FormatError("/format is not \(format)") }
        for name in ["origin", "verifier_key", "created_at"] where members[name]?.stringValue == nil {
            throw EvidenceBundle.FormatError("/\(name) is missing or not a string")
        }
        guard members["query"] != nil else { throw EvidenceBundle.FormatError("/query is missing") }
        guard let ranges, !ranges.isEmpty else { throw EvidenceBundle.FormatError("/shards is missing or empty: it holds one bundle per shard, from shard 0") }
        return (members, ranges)
    }
}
