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

    @Option(name: .long, help: "The ledger's verifier key: a file holding name+keyid+key, or the key itself.")
    var vkey: String

    @Option(name: .long, help: "text (a report a lawyer can read) or json.")
    var format: String = "text"

    @Option(name: .long, help: "Also write a printable HTML report to this file.")
    var html: String?

    @Option(name: .long, help: "Check the bundle's RFC 3161 timestamp tokens against this TSA certificate (PEM; the TSA's own or its CA's). Without it they are reported as not checked.")
    var tsaCert: String?

    @Option(name: .long, help: "With --tsa-cert: the TSA policy OID every token must carry.")
    var tsaPolicy: String?

    func validate() throws {
        guard ["text", "json"].contains(format) else { throw ValidationError("--format must be text or json") }
        if tsaPolicy != nil && tsaCert == nil { throw ValidationError("--tsa-policy needs --tsa-cert") }
    }

    func run() throws {
        let verifier = try loadVerifier(vkey)
        guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read \(file)") }
        let bytes = Array(data)
        if bytes.starts(with: Array(TLogProof.header.utf8)) {
            try verifyTLogProof(String(decoding: bytes, as: UTF8.self), verifier: verifier)
            return
        }
        let bundle: EvidenceBundle
        do { bundle = try EvidenceBundle(parsing: bytes) } catch {
            print("NOT VERIFIED: \(file) is not a readable evidence bundle: \(error)")
            throw ExitCode(1)
        }
        let trust = try tsaCert.map { try loadTimestampTrust(certificateFile: $0, policy: tsaPolicy) }
        let report = BundleVerifier.verify(bundle, verifier: verifier, timestampTrust: trust)
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

    private func verifyTLogProof(_ text: String, verifier: NoteVerifier) throws {
        do {
            let proof = try TLogProof(parsing: text)
            let (checkpoint, entry) = try proof.verify(verifier: verifier)
            let result: String =
                "Entry \(entry.index) (kind \(entry.kind), recorded \(RFC3339Time.format(entry.sequencedAtMilliseconds))) is included "
                + "in the ledger \(checkpoint.origin) as signed at size \(checkpoint.size): VERIFIED"
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
