import ArgumentParser
import Foundation
import GreffeCore

/// `--witness VKEY` (repeatable) and `--witness-quorum K` of `greffe verify`
/// and `greffe audit`: the checkpoint must carry valid cosignatures by at
/// least K of these witnesses (c2sp.org/tlog-cosignature).
struct WitnessPolicyOptions: ParsableArguments {
    @Option(
        name: .customLong("witness"),
        help: "A witness's cosignature/v1 verifier key (name+keyid+key), or a file holding it. Repeatable.")
    var witnesses: [String] = []

    @Option(name: .long, help: "How many of the --witness keys must have cosigned the checkpoint (default: all given).")
    var witnessQuorum: Int?

    /// nil when no witness is given.
    func policy() throws -> WitnessQuorum? {
        guard !witnesses.isEmpty else {
            if witnessQuorum != nil { throw ValidationError("--witness-quorum needs at least one --witness") }
            return nil
        }
        var verifiers: [CosignatureVerifier] = []
        for argument in witnesses {
            var text = argument
            if FileManager.default.fileExists(atPath: argument) {
                guard let data = FileManager.default.contents(atPath: argument) else { throw ValidationError("cannot read \(argument)") }
                text = String(decoding: data, as: UTF8.self)
            }
            do { verifiers.append(try CosignatureVerifier(verifierKey: text)) } catch {
                throw ValidationError("--witness \(argument.prefix(100)): \(error)")
            }
        }
        do { return try WitnessQuorum(witnesses: verifiers, quorum: witnessQuorum) } catch { throw ValidationError("--witness-quorum: \(error)") }
    }
}
