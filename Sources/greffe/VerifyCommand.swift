import ArgumentParser
import Foundation
import GreffeCore
import GreffeTimestamp
import GreffeVerify

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check an evidence bundle (or a C2SP .tlog-proof) offline against a verifier key. Exit 0 only if everything holds."
    )

    @Argument(help: "The bundle (JSON) or .tlog-proof file.")
    var file: String

    @Option(
        name: .long,
        help: "The ledger's verifier key: a file holding name+keyid+key (or several, one per line, as DIR/verifier-keys), or the key itself. Repeatable: across a key rotation, the checkpoint must be signed by at least one.")
    var vkey: [String] = []

    @Option(name: .long, help: "text (a report a lawyer can read) or json.")
    var format: String = "text"

    @Option(name: .long, help: "Also write a printable HTML report to this file.")
    var html: String?

    @Option(name: .long, help: "Check the bundle's RFC 3161 timestamp tokens against this TSA certificate (PEM; the TSA's own or its CA's). Without it they are reported as not checked.")
    var tsaCert: String?

    @Option(name: .long, help: "With --tsa-cert: the TSA policy OID every token must carry.")
    var tsaPolicy: String?

    @OptionGroup var witnessOptions: WitnessPolicyOptions

    func validate() throws {
        guard ["text", "json"].contains(format) else { throw ValidationError("--format must be text or json") }
        guard !vkey.isEmpty else { throw ValidationError("give the ledger's verifier key: --vkey FILE (repeatable)") }
        if tsaPolicy != nil && tsaCert == nil { throw ValidationError("--tsa-policy needs --tsa-cert") }
        _ = try witnessOptions.policy()
    }

    func run() throws {
        let verifiers = try loadVerifiers(vkey)
        let witnesses = try witnessOptions.policy()
        guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read \(file)") }
        let bytes = Array(data)
        if bytes.starts(with: Array(TLogProof.header.utf8)) {
            try verifyTLogProof(String(decoding: bytes, as: UTF8.self), verifiers: verifiers, witnesses: witnesses)
            return
        }
        let bundle: EvidenceBundle
        do { bundle = try EvidenceBundle(parsing: bytes) } catch {
            print("NOT VERIFIED: \(file) is not a readable evidence bundle: \(error)")
            throw ExitCode(1)
        }
        let trust = try tsaCert.map { try loadTimestampTrust(certificateFile: $0, policy: tsaPolicy) }
        let report = BundleVerifier.verify(bundle, verifiers: verifiers, timestampTrust: trust, witnesses: witnesses)
        if format == "json" {
            print(String(decoding: BundleReportRendering.json(report).canonicalBytes(), as: UTF8.self))
        } else {
            print(BundleReportRendering.text(report, file: file))
        }
        if let html {
            try BundleReportRendering.html(report, file: file).write(toFile: html, atomically: true, encoding: .utf8)
        }
        if !report.verified { throw ExitCode(1) }
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
