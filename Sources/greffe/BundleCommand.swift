import ArgumentParser
import Foundation
import GreffeCore
import GreffeVerify

struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Work with evidence bundles.",
        subcommands: [TLogProofs.self, Expand.self]
    )

    struct TLogProofs: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tlog-proof",
            abstract: "Write each event of a bundle as a C2SP tlog-proof file (the entry in its extra data)."
        )

        @Argument(help: "The bundle.")
        var bundle: String

        @Option(name: .long, help: "Folder for the .tlog-proof files (created if missing).")
        var out: String

        func run() throws {
            guard let data = FileManager.default.contents(atPath: bundle) else { throw CommandFailure("cannot read \(bundle)") }
            let parsed = try EvidenceBundle(parsing: Array(data))
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            for event in parsed.events {
                let proof = TLogProof(extra: event.entry, index: event.index, proof: event.inclusionProof, checkpoint: parsed.checkpoint)
                let path = URL(fileURLWithPath: out).appendingPathComponent("entry-\(event.index).tlog-proof").path
                try proof.text.write(toFile: path, atomically: true, encoding: .utf8)
                print(path)
            }
        }
    }

    struct Expand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "expand",
            abstract: "Rewrite a greffe-bundle/v3 bundle as greffe-bundle/v2, each event with its own RFC 9162 inclusion proof, for tools that read only v2.",
            discussion: "The proofs are derived from the v3 bundle's leaves, gaps and tail; v2 has no place for legal holds, which are left out (said on stderr). Verify the v3 file first: expanding checks the proof's shape, not its root."
        )

        @Argument(help: "The v3 bundle.")
        var bundle: String

        @Option(name: .long, help: "The v2 file to write.")
        var out: String

        func run() throws {
            guard let data = FileManager.default.contents(atPath: bundle) else { throw CommandFailure("cannot read \(bundle)") }
            var parsed = try EvidenceBundle(parsing: Array(data))
            guard parsed.format == .v3 else { throw CommandFailure("\(bundle) is \(parsed.format.rawValue), not greffe-bundle/v3") }
            if !parsed.holds.isEmpty {
                FileHandle.standardError.write(Data("greffe bundle expand: \(parsed.holds.count) legal hold(s) left out: v2 cannot carry them\n".utf8))
            }
            parsed.format = .v2
            parsed.holds = []
            guard FileManager.default.createFile(atPath: out, contents: Data(parsed.json.canonicalBytes())) else { throw CommandFailure("cannot write \(out)") }
        }
    }
}
