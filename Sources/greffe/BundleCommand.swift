import ArgumentParser
import Foundation
import GreffeCore
import GreffeVerify

struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Work with evidence bundles.",
        subcommands: [TLogProofs.self]
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
}
