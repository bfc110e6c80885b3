import ArgumentParser
import Foundation
import GreffeCore
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

    @OptionGroup var witnessOptions: WitnessPolicyOptions

    func validate() throws {
        guard ["text", "json"].contains(format) else { throw ValidationError("--format must be text or json") }
        _ = try witnessOptions.policy()
    }

    func run() throws {
        let verifier = try loadVerifier(vkey)
        let witnesses = try witnessOptions.policy()
        guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read \(file)") }
        let bytes = Array(data)
        if bytes.starts(with: Array(TLogProof.header.utf8)) {
            try verifyTLogProof(String(decoding: bytes, as: UTF8.self), verifier: verifier, witnesses: witnesses)
            return
        }
        let bundle: EvidenceBundle
        do { bundle = try EvidenceBundle(parsing: bytes) } catch {
            print("NOT VERIFIED: \(file) is not a readable evidence bundle: \(error)")
            throw ExitCode(1)
        }
        let report = BundleVerifier.verify(bundle, verifier: verifier, witnesses: witnesses)
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

    private func verifyTLogProof(_ text: String, verifier: NoteVerifier, witnesses: WitnessQuorum?) throws {
        do {
            let proof = try TLogProof(parsing: text)
            let (checkpoint, entry) = try proof.verify(verifier: verifier)
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

/// A verifier key given as a file or inline.
func loadVerifier(_ argument: String) throws -> NoteVerifier {
    var text = argument
    if FileManager.default.fileExists(atPath: argument) {
        guard let data = FileManager.default.contents(atPath: argument) else { throw CommandFailure("cannot read \(argument)") }
        text = String(decoding: data, as: UTF8.self)
    }
    do { return try NoteVerifier(verifierKey: text) } catch { throw CommandFailure("verifier key: \(error)") }
}
