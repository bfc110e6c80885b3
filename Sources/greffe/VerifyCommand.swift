import ArgumentParser
import Foundation
import Synchronization
import GreffeCore
import GreffeTimestamp
import GreffeVerify

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check an evidence bundle, a disclosure certificate, a C2SP .tlog-proof or a COSE receipt offline against a verifier key. Exit 0 only if everything holds."
    )

    @Argument(help: "The bundle (JSON), disclosure certificate (JSON, from GET /v1/lookup), .tlog-proof file or COSE receipt (CBOR, from GET /v1/receipts/cose).")
    var file: String

    @Option(name: .long, help: "For a COSE receipt: the file holding the entry's bytes as the ledger hashed them (its leaf hash is SHA-256(0x00 ‖ entry)).")
    var entry: String?

    @Option(name: .long, help: "For a COSE receipt: the entry's leaf hash (base64, as the append answer's leaf_hash), instead of --entry.")
    var leafHash: String?

    @Option(
        name: .long,
        help: "The ledger's verifier key: a file holding name+keyid+key (or several, one per line, as DIR/verifier-keys), or the key itself. Repeatable: across a key rotation, the checkpoint must be signed by at least one.")
    var vkey: [String] = []

    @Option(
        name: .long,
        help: "The ledger's ML-DSA-65 verifier key (DIR/verifier-mldsa65.vkey, or the key itself): with a checkpoint file (GET /checkpoint), its post-quantum signature line must verify too (Schemas/pq-signatures.md).")
    var pqVkey: String?

    @Option(name: .long, help: "text (a report a lawyer can read) or json.")
    var format: String = "text"

    @Option(name: .long, help: "Also write a printable HTML report to this file.")
    var html: String?

    @Option(name: .long, help: "Check the bundle's RFC 3161 timestamp tokens against this TSA certificate (PEM; the TSA's own or its CA's). Without it they are reported as not checked.")
    var tsaCert: String?

    @Option(name: .long, help: "With --tsa-cert: the TSA policy OID every token must carry.")
    var tsaPolicy: String?

    @OptionGroup var witnessOptions: WitnessPolicyOptions

    @Option(name: .long, help: "Write one CSV line per event (index, event id, kind, recorded time, own checks, erasure, problems) to this file. Large bundles' reports summarise instead of listing events.")
    var eventsCsv: String?

    @Option(name: .customLong("report"), help: "A tier report (GET /v1/reports/tiers, greffe report tiers --format json) to recompute from the bundle's events: exit 1 naming each figure that differs.")
    var tierReport: String?

    @Flag(name: .long, help: "No progress line on stderr.")
    var quiet = false

    @Flag(name: .long, help: "A progress line on stderr even when it is not a terminal.")
    var progress = false

    func validate() throws {
        guard ["text", "json"].contains(format) else { throw ValidationError("--format must be text or json") }
        guard !vkey.isEmpty else { throw ValidationError("give the ledger's verifier key: --vkey FILE (repeatable)") }
        if tsaPolicy != nil && tsaCert == nil { throw ValidationError("--tsa-policy needs --tsa-cert") }
        _ = try witnessOptions.policy()
        if entry != nil && leafHash != nil { throw ValidationError("give --entry or --leaf-hash, not both") }
    }

    func run() throws {
        let verifiers = try loadVerifiers(vkey)
        let witnesses = try witnessOptions.policy()
        guard let handle = FileHandle(forReadingAtPath: file) else { throw CommandFailure("cannot read \(file)") }
        let start = (try? handle.read(upToCount: TLogProof.header.utf8.count)) ?? nil
        try? handle.close()
        // 0xD2 is the head of CBOR tag 18, COSE_Sign1: no JSON document or .tlog-proof starts with it.
        if start?.first == 0xD2 {
            try verifyCOSEReceipt(verifiers: verifiers)
            return
        }
        if entry != nil || leafHash != nil { throw CommandFailure("--entry and --leaf-hash are for COSE receipts; \(file) is not one (it does not start with tag 18, COSE_Sign1)") }
        if Array(start ?? Data()).starts(with: Array(TLogProof.header.utf8)) {
            if pqVkey != nil { throw CommandFailure("--pq-vkey checks a checkpoint file (GET /checkpoint); a .tlog-proof carries no ML-DSA line") }
            guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read \(file)") }
            try verifyTLogProof(String(decoding: data, as: UTF8.self), verifiers: verifiers, witnesses: witnesses)
            return
        }
        // A bare checkpoint (a signed note, e.g. GET /checkpoint): small, read whole.
        if let size = (try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int, size <= SignedNote.maxNoteBytes,
            let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8),
            (try? SignedNote(parsing: text)) != nil
        {
            try verifyCheckpoint(text, verifiers: verifiers, pqVerifier: try pqVkey.map(loadPQVerifier))
            return
        }
        // Bundles and certificates carry no ML-DSA line yet: refuse --pq-vkey rather than pretend it was checked.
        if pqVkey != nil {
            throw CommandFailure("--pq-vkey checks a checkpoint file (GET /checkpoint); bundles, certificates and .tlog-proof files carry no ML-DSA line yet")
        }
        // A certificate is small (its proofs are logarithmic); bundles of that size are read whole anyway.
        if let size = (try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int, size <= 1 << 20,
            let data = FileManager.default.contents(atPath: file), let value = try? JSONParser.parse(Array(data)), DisclosureCertificate.claims(value)
        {
            try verifyCertificate(value, verifiers: verifiers, witnesses: witnesses)
            return
        }
        let trust = try tsaCert.map { try loadTimestampTrust(certificateFile: $0, policy: tsaPolicy) }
        // --report: read before the bundle, so that a bad report file fails at once.
        let tierCheck = try tierReport.map { try TierReportCheck(path: $0) }
        if ShardBundleVerifier.claims(file: file) {
            try verifyShardBundle(verifiers: verifiers, trust: trust, witnesses: witnesses, tierCheck: tierCheck)
            return
        }
        let csv = try eventsCsv.map { try EventsCSVWriter(path: $0) }
        // v3 is verified as it is read; v1 and v2 files are read whole.
        var streaming = CompactBundleVerifier(verifiers: verifiers, timestampTrust: trust, witnesses: witnesses)
        if csv != nil || tierCheck != nil {
            streaming.onEvent = { line in
                csv?.write(line)
                tierCheck?.add(kind: line.kind, sequencedAtMilliseconds: line.recordedAtMilliseconds, body: line.body)
            }
        }
        let progressLine = ProgressLine(enabled: !quiet && (progress || isatty(2) != 0), forced: progress)
        streaming.onProgress = { progressLine.update(bytes: $0, total: $1, events: $2) }
        var report: BundleReport
        do {
            switch try streaming.verify(file: file) {
            case .verified(let streamed):
                report = streamed
            case .otherFormat:
                guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read \(file)") }
                let bundle = try EvidenceBundle(parsing: Array(data))
                report = BundleVerifier.verify(bundle, verifiers: verifiers, timestampTrust: trust, witnesses: witnesses)
                report.query = bundle.query
                if let csv { for line in EventsCSVWriter.lines(of: bundle, report: report) { csv.write(line) } }
                if let tierCheck {
                    for event in bundle.events {
                        let recorded = (try? LedgerEntry(decoding: event.entry))?.sequencedAtMilliseconds ?? 0
                        tierCheck.add(kind: event.kind, sequencedAtMilliseconds: recorded, body: event.body)
                    }
                }
            }
        } catch let error as EvidenceBundle.FormatError {
            progressLine.finish()
            print("NOT VERIFIED: \(file) is not a readable evidence bundle: \(error)")
            throw ExitCode(1)
        }
        progressLine.finish(events: report.eventCount)
        try csv?.close()
        try publish(
            verified: report.verified, text: { BundleReportRendering.text(report, file: file) }, json: { BundleReportRendering.json(report) },
            html: { BundleReportRendering.html(report, file: file) }, query: report.query, tierCheck: tierCheck)
    }

    /// The report on stdout (text or JSON) and in `--html`, then the exit status; `--report`'s figures
    /// are recomputed only from a bundle whose every proof held.
    private func publish(
        verified: Bool, text: () -> String, json: () -> JSONValue, html page: () -> String, query: JSONValue?, tierCheck: TierReportCheck?
    ) throws {
        if format == "json" {
            print(String(decoding: json().canonicalBytes(), as: UTF8.self))
        } else {
            print(text())
        }
        if let html { try page().write(toFile: html, atomically: true, encoding: .utf8) }
        if !verified { throw ExitCode(1) }
        if let tierCheck, !tierCheck.finish(file: tierReport!, json: format == "json", bundleQuery: query) { throw ExitCode(1) }
    }

    /// A `greffe-shard-bundle/v1` (Schemas/shards.md, "Bundles across shards"): each shard's bundle, then the links.
    private func verifyShardBundle(verifiers: [NoteVerifier], trust: TimestampTrust?, witnesses: WitnessQuorum?, tierCheck: TierReportCheck?) throws {
        let csv = try eventsCsv.map { try EventsCSVWriter(path: $0, shardColumn: true) }
        var verifier = ShardBundleVerifier(verifiers: verifiers, timestampTrust: trust, witnesses: witnesses)
        if csv != nil || tierCheck != nil {
            verifier.onEvent = { shard, line in
                csv?.write(line, shard: shard)
                tierCheck?.add(kind: line.kind, sequencedAtMilliseconds: line.recordedAtMilliseconds, body: line.body)
            }
        }
        let progressLine = ProgressLine(enabled: !quiet && (progress || isatty(2) != 0), forced: progress)
        verifier.onProgress = { progressLine.update(bytes: $0, total: $1, events: $2) }
        let report: ShardBundleReport
        do { report = try verifier.verify(file: file) } catch let error as EvidenceBundle.FormatError {
            progressLine.finish()
            print("NOT VERIFIED: \(file) is not a readable evidence bundle: \(error)")
            throw ExitCode(1)
        }
        progressLine.finish(events: report.eventCount)
        try csv?.close()
        // One printable page per shard, in order.
        try publish(
            verified: report.verified, text: { BundleReportRendering.text(report, file: file) }, json: { BundleReportRendering.json(report) },
            html: { report.shards.enumerated().map { BundleReportRendering.html($0.element, file: "\(file), shard \($0.offset)") }.joined(separator: "\n") },
            query: report.query, tierCheck: tierCheck)
    }

    /// A COSE Receipt (`Schemas/cose-receipt.md`) of the entry given by `--entry` or `--leaf-hash`.
    private func verifyCOSEReceipt(verifiers: [NoteVerifier]) throws {
        let leaf: Hash
        if let entry {
            guard let bytes = FileManager.default.contents(atPath: entry) else { throw CommandFailure("cannot read --entry \(entry)") }
            leaf = MerkleHash.leaf(Array(bytes))
        } else if let leafHash {
            guard let hash = Hash(base64: leafHash) else { throw CommandFailure("--leaf-hash must be 32 bytes in base64") }
            leaf = hash
        } else {
            throw CommandFailure("a COSE receipt proves the inclusion of one entry: give it with --entry FILE or --leaf-hash BASE64")
        }
        guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read \(file)") }
        do {
            let verified = try COSEReceipt(parsing: Array(data)).verify(leafHash: leaf, verifiers: verifiers)
            if format == "json" {
                let report: JSONValue = [
                    "verified": true, "leaf_hash": .string(leaf.base64), "leaf_index": .number(Double(verified.leafIndex)),
                    "tree_size": .number(Double(verified.treeSize)), "root": .string(verified.root.base64), "key": .string(verified.verifierKeyName),
                ]
                print(String(decoding: report.canonicalBytes(), as: UTF8.self))
            } else {
                print("VERIFIED: \(file) is a COSE receipt, signed by \(verified.verifierKeyName), that the entry with leaf hash \(leaf.base64) is entry \(verified.leafIndex) of the ledger's tree of size \(verified.treeSize) with root \(verified.root.base64).")
            }
        } catch let failure {  // typed: always a COSEReceipt.Failure
            if format == "json" {
                let report: JSONValue = ["verified": false, "code": .string(failure.code.rawValue), "error": .string(failure.description)]
                print(String(decoding: report.canonicalBytes(), as: UTF8.self))
            } else {
                print("NOT VERIFIED: \(file): \(failure.description)")
            }
            throw ExitCode(1)
        }
    }

    /// A `greffe-disclosure/v1` certificate (`Schemas/disclosure.md`): what it proves, in words, or why not.
    private func verifyCertificate(_ value: JSONValue, verifiers: [NoteVerifier], witnesses: WitnessQuorum?) throws {
        do {
            let certificate = try DisclosureCertificate(parsing: value)
            let verified = try certificate.verify(verifiers: verifiers)
            var cosigned = ""
            if let witnesses {
                let check = witnesses.check(noteText: certificate.checkpoint)
                guard check.meetsQuorum, check.invalid.isEmpty else { throw CommandFailure("witness cosignatures: \(check.shortfall)") }
                cosigned = ", cosigned by " + check.cosigned.map { "\($0.witness) at \($0.time)" }.joined(separator: ", ")
            }
            if format == "json" {
                let fields = JSONValue.array(verified.fields.map { ["path": $0.path.json, "value": $0.value] })
                let answer: JSONValue = [
                    "verified": true, "origin": .string(verified.origin), "tree_size": .number(Double(verified.treeSize)),
                    "index": .number(Double(verified.index)), "kind": .string(verified.kind),
                    "recorded_at": .string(RFC3339Time.format(verified.recordedAtMilliseconds)), "fields": fields,
                ]
                print(String(decoding: answer.canonicalBytes(), as: UTF8.self))
                return
            }
            let shard = verifiers.lazy.compactMap { key in Shards.number(origin: verified.origin, base: key.name).map { (key.name, $0) } }.first
            let log = shard.map { $0.1 >= 1 ? "shard \($0.1) (\(verified.origin)) of the ledger \($0.0)" : "the ledger \(verified.origin)" } ?? "the ledger \(verified.origin)"
            print("Disclosure certificate: entry \(verified.index) of \(log), as signed at size \(verified.treeSize)\(cosigned).")
            print("The ledger recorded an event of kind \(verified.kind) at \(RFC3339Time.format(verified.recordedAtMilliseconds)) whose body held:")
            for field in verified.fields { print("  \(field.path) = \(field.value.canonicalString())") }
            print("Nothing else of the event is shown or proved: the other \(verified.fields.first.map { $0.fieldCount - UInt64(verified.fields.count) } ?? 0) field(s) stay hidden.")
            print("RESULT: VERIFIED — the signature, the entry's inclusion and every disclosed field hold.")
        } catch {
            if format == "json" {
                print(String(decoding: JSONValue.object(["verified": false, "error": .string("\(error)")]).canonicalBytes(), as: UTF8.self))
            } else {
                print("NOT VERIFIED: \(file) is a disclosure certificate that does not hold: \(error)")
            }
            throw ExitCode(1)
        }
    }

    private func verifyTLogProof(_ text: String, verifiers: [NoteVerifier], witnesses: WitnessQuorum?) throws {
        do {
            let proof = try TLogProof(parsing: text)
            let (checkpoint, entry) = try proof.verify(verifiers: verifiers)
            var cosigned = ""
            if let witnesses {
                let check = witnesses.check(noteText: proof.checkpoint)
                guard check.meetsQuorum, check.invalid.isEmpty else { throw CommandFailure("witness cosignatures: \(check.shortfall)") }
                cosigned = ", cosigned by " + check.cosigned.map { "\($0.witness) at \($0.time)" }.joined(separator: ", ")
            }
            let result: String =
                "Entry \(entry.index) (kind \(entry.kind), recorded \(RFC3339Time.format(entry.sequencedAtMilliseconds))) is included "
                + "in the ledger \(checkpoint.origin) as signed at size \(checkpoint.size)\(cosigned): VERIFIED"
            if format == "json" {
                print(String(decoding: JSONValue.object(["verified": true, "index": .number(Double(entry.index)), "kind": .string(entry.kind)]).canonicalBytes(), as: UTF8.self))
            } else {
                print(result)
            }
        } catch {
            if format == "json" {
                print(String(decoding: JSONValue.object(["verified": false, "error": .string("\(error)")]).canonicalBytes(), as: UTF8.self))
            } else {
                print("NOT VERIFIED: \(error)")
            }
            throw ExitCode(1)
        }
    }
}

/// `--report`: a tier report's figures, recomputed from the bundle's events with the accumulator that made them.
final class TierReportCheck {
    let stated: JSONValue
    private var recomputed: TierReport

    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read --report \(path)") }
        do { stated = try JSONParser.parse(Array(data)) } catch { throw CommandFailure("--report \(path) is not valid JSON: \(error)") }
        do { recomputed = try TierReport(recomputing: stated) } catch { throw CommandFailure("--report \(path): \(error)") }
    }

    func add(kind: String, sequencedAtMilliseconds: UInt64, body: JSONValue?) {
        recomputed.add(kind: kind, sequencedAtMilliseconds: sequencedAtMilliseconds, body: body)
    }

    /// Prints the outcome (on stderr with --format json, whose stdout is the bundle's report); true when every figure matches.
    /// `bundleQuery`: the query the bundle says it answers, which must be the report's: the same figures
    /// recomputed from another selection of events would prove nothing about the report.
    func finish(file: String, json: Bool, bundleQuery: JSONValue?) -> Bool {
        var problems = recomputed.compare(stated: stated)
        if let named = stated["bundle_query"], named != bundleQuery {
            let asked = bundleQuery.map { String(decoding: $0.canonicalBytes(), as: UTF8.self) } ?? "none"
            problems.insert(
                "bundle_query: the report's figures come from the bundle of \(String(decoding: named.canonicalBytes(), as: UTF8.self)); this bundle answers \(asked)",
                at: 0)
        }
        var text: String
        if problems.isEmpty {
            text = "REPORT MATCHES: every figure of \(file) (\(recomputed.figures.count) figures, \(recomputed.tierChanges.count) tier changes) "
                + "recomputed from the bundle's \(recomputed.eventCount) verified events\n"
        } else {
            text = "REPORT DOES NOT MATCH: \(problems.count) difference(s) between \(file) and the bundle's \(recomputed.eventCount) verified events\n"
            text += problems.map { "  - \($0)\n" }.joined()
        }
        if json { FileHandle.standardError.write(Data(text.utf8)) } else { print(text, terminator: "") }
        return problems.isEmpty
    }
}

extension VerifyCommand {
    /// A checkpoint: its Ed25519 signature by one of the keys, and with
    /// `pqVerifier` its ML-DSA-65 line too. Prints each signature it checked.
    func verifyCheckpoint(_ text: String, verifiers: [NoteVerifier], pqVerifier: MLDSANoteVerifier?) throws {
        let verified: VerifiedCheckpoint
        do { verified = try CheckpointVerifier.verify(note: text, verifiers: verifiers) } catch {
            print("NOT VERIFIED: \(file): \(error)")
            throw ExitCode(1)
        }
        print("checkpoint \(verified.checkpoint.origin) size \(verified.checkpoint.size) root \(verified.checkpoint.root.base64)")
        print("  Ed25519 signature by \(verified.signedBy.joined(separator: ", ")): valid")
        guard let pqVerifier else {
            print("  ML-DSA-65 signature: not checked (no --pq-vkey)")
            return
        }
        // Parsed above, so it parses here.
        let note = try! SignedNote(parsing: text)
        guard note.signatures.contains(where: { $0.keyID == pqVerifier.keyID && $0.name.utf8.elementsEqual(pqVerifier.name.utf8) }) else {
            print("NOT VERIFIED: \(file): the checkpoint carries no ML-DSA-65 signature by \(pqVerifier.keyName)")
            throw ExitCode(1)
        }
        guard pqVerifier.hasValidSignature(on: note) else {
            print("NOT VERIFIED: \(file): the ML-DSA-65 signature by \(pqVerifier.keyName) is invalid: the note was altered or forged")
            throw ExitCode(1)
        }
        print("  ML-DSA-65 signature by \(pqVerifier.keyName): valid")
    }
}

/// An ML-DSA-65 verifier key given as a file or inline.
func loadPQVerifier(_ argument: String) throws -> MLDSANoteVerifier {
    var text = argument
    if FileManager.default.fileExists(atPath: argument) {
        guard let data = FileManager.default.contents(atPath: argument) else { throw CommandFailure("cannot read \(argument)") }
        text = String(decoding: data, as: UTF8.self)
    }
    do { return try MLDSANoteVerifier(verifierKey: text) } catch { throw CommandFailure("--pq-vkey: \(error)") }
}

/// The verifier keys of `--vkey` (repeatable): each a key, or a file of
/// keys one per line (`#` comments and blank lines skipped, as in the data
/// directory's `verifier-keys`). The same key given twice counts once.
func loadVerifiers(_ arguments: [String]) throws -> [NoteVerifier] {
    var verifiers: [NoteVerifier] = []
    for argument in arguments {
        var text = argument
        // Named by its path, never by its text: a mistaken argument may be a private key.
        var source = "the --vkey text"
        if FileManager.default.fileExists(atPath: argument) {
            guard let data = FileManager.default.contents(atPath: argument) else { throw CommandFailure("cannot read \(argument)") }
            text = String(decoding: data, as: UTF8.self)
            source = argument
        }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !lines.isEmpty else { throw CommandFailure("verifier key: \(source) holds no key") }
        for (number, line) in lines.enumerated() {
            let verifier: NoteVerifier
            do { verifier = try NoteVerifier(verifierKey: line) } catch {
                throw CommandFailure(lines.count == 1 ? "verifier key: \(error)" : "verifier key \(number + 1) of \(source): \(error)")
            }
            if !verifiers.contains(where: { $0.verifierKey == verifier.verifierKey }) { verifiers.append(verifier) }
        }
    }
    guard verifiers.count <= LogKeyList.maxKeys else { throw CommandFailure("more than \(LogKeyList.maxKeys) verifier keys given") }
    return verifiers
}

/// A verifier key given as a file or inline.
func loadVerifier(_ argument: String) throws -> NoteVerifier {
    var text = argument
    if FileManager.default.fileExists(atPath: argument) {
        guard let data = FileManager.default.contents(atPath: argument) else { throw CommandFailure("cannot read \(argument)") }
        text = String(decoding: data, as: UTF8.self)
    }
    do { return try NoteVerifier(verifierKey: text) } catch { throw CommandFailure("verifier key: \(error)") }
}

/// The TSA certificate(s) of `--tsa-cert`, refused at once when unreadable.
func loadTimestampTrust(certificateFile: String, policy: String?) throws -> TimestampTrust {
    guard let data = FileManager.default.contents(atPath: certificateFile) else { throw CommandFailure("cannot read --tsa-cert \(certificateFile)") }
    do { return try TimestampTrust(pem: Array(data), policy: policy) } catch {
        throw CommandFailure("--tsa-cert \(certificateFile): \(error)")
    }
}

/// `--events-csv`: one line per event, in the bundle's order (RFC 4180).
final class EventsCSVWriter: @unchecked Sendable {
    private let handle: FileHandle
    private var pending: [UInt8] = []

    /// `shardColumn`: a last column names each event's shard (a `greffe-shard-bundle/v1`, whose indices are per shard).
    init(path: String, shardColumn: Bool = false) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw CommandFailure("cannot write --events-csv \(path)")
        }
        self.handle = handle
        pending += Array("position,index,event_id,kind,recorded_at,own_checks,erasure,appended_by,problems\(shardColumn ? ",shard" : "")\r\n".utf8)
    }

    static func field(_ text: String) -> String {
        text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }

    func write(_ line: CheckedEventLine, shard: Int? = nil) {
        var fields = [
            String(line.position), String(line.index), line.eventID ?? "", line.kind,
            line.recordedAtMilliseconds == 0 ? "" : RFC3339Time.format(line.recordedAtMilliseconds), line.checksHeld ? "held" : "failed",
            line.erasure?.rawValue ?? "", line.appendedBy ?? "", line.problems.joined(separator: "; "),
        ]
        if let shard { fields.append(String(shard)) }
        pending += Array((fields.map(Self.field).joined(separator: ",") + "\r\n").utf8)
        if pending.count > 1 << 20 { flush() }
    }

    private func flush() {
        handle.write(Data(pending))
        pending.removeAll(keepingCapacity: true)
    }

    func close() throws {
        flush()
        try handle.close()
    }

    /// The same lines for a v1 or v2 bundle, from its report.
    static func lines(of bundle: EvidenceBundle, report: BundleReport) -> [CheckedEventLine] {
        zip(bundle.events.indices, bundle.events).map { position, event in
            let line = report.events.first { $0.index == event.index }
            let location = "event \(position) (index \(event.index))"
            return CheckedEventLine(
                position: position, index: event.index, eventID: event.body == nil ? nil : event.eventID, kind: event.kind,
                recordedAtMilliseconds: (try? LedgerEntry(decoding: event.entry))?.sequencedAtMilliseconds ?? 0, checksHeld: line?.verified ?? false,
                erasure: line?.erasure, appendedBy: event.appendedBy, problems: report.failures.filter { $0.location == location }.map(\.message), body: event.body)
        }
    }
}

/// The progress of a long verification on stderr: share read, events, rate, time left.
final class ProgressLine: Sendable {
    private let enabled: Bool
    /// `--progress`: the final line even after a short run (benchmarks read it).
    private let forced: Bool
    private let started = ContinuousClock.now
    private let state = Mutex((shown: false, last: ContinuousClock.now))

    init(enabled: Bool, forced: Bool = false) {
        self.enabled = enabled
        self.forced = forced
    }

    func update(bytes: UInt64, total: UInt64?, events: Int) {
        guard enabled else { return }
        let now = ContinuousClock.now
        let show = state.withLock { state -> Bool in
            // Quiet for short runs, then a few updates a second.
            guard now - started > .seconds(1), now - state.last > .milliseconds(250) else { return false }
            state.last = now
            state.shown = true
            return true
        }
        guard show else { return }
        let elapsed = Double((now - started).components.seconds) + Double((now - started).components.attoseconds) / 1e18
        var line = "\r\(events) events checked, \(Int(Double(events) / max(elapsed, 0.001))) events/s"
        if let total, total > 0 {
            let share = Double(bytes) / Double(total)
            line += String(format: ", %.0f%% read", share * 100)
            if share > 0 { line += String(format: ", about %.0f s left", elapsed / share - elapsed) }
        }
        FileHandle.standardError.write(Data((line + "    ").utf8))
    }

    /// Ends the line; after a long run (or when asked), states the whole run's rate and peak memory.
    func finish(events: Int? = nil) {
        guard enabled else { return }
        let shown = state.withLock { $0.shown }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        if let events, shown || forced {
            let memory = ProgressMeter.peakResidentKilobytes().map { String(format: ", peak memory %.1f MiB", Double($0) / 1024) } ?? ""
            FileHandle.standardError.write(
                Data("\r\(events) events checked in \(String(format: "%.3f", seconds)) s (\(Int(Double(events) / max(seconds, 0.001))) events/s)\(memory)    \n".utf8))
        } else if shown {
            FileHandle.standardError.write(Data("\n".utf8))
        }
    }
}
