import ArgumentParser
import GreffeCore
import GreffeLedger
import Logging

/// `greffe serve`'s witness options: checkpoints are published once a quorum
/// of these witnesses cosigned them (c2sp.org/tlog-witness).
struct ServeWitnessOptions: ParsableArguments {
    @Option(
        name: .customLong("witness"),
        help: "NAME+KEYID+KEY=URL: a witness's cosignature/v1 verifier key and its URL prefix (POST URL/add-checkpoint). Repeatable.")
    var witnesses: [String] = []

    @Option(name: .long, help: "How many witnesses must cosign a checkpoint before it is published (default: all given).")
    var witnessQuorum: Int?

    @Option(name: .long, help: "Seconds one witness has to answer one request.")
    var witnessTimeout: Double = 5

    func endpoints() throws -> [WitnessEndpoint] {
        guard !witnesses.isEmpty else {
            if witnessQuorum != nil { throw ValidationError("--witness-quorum needs at least one --witness") }
            return []
        }
        guard witnessTimeout >= 0.1, witnessTimeout <= 600 else { throw ValidationError("--witness-timeout must be between 0.1 and 600 seconds") }
        let endpoints: [WitnessEndpoint]
        do { endpoints = try witnesses.map { try WitnessEndpoint(parsing: $0) } } catch { throw ValidationError("--witness: \(error)") }
        do { _ = try WitnessQuorum(witnesses: endpoints.map(\.verifier), quorum: witnessQuorum) } catch {
            throw ValidationError("--witness-quorum: \(error)")
        }
        return endpoints
    }

    func client(transport: any WitnessTransport, logger: Logger) throws -> WitnessClient {
        do {
            return try WitnessClient(
                witnesses: try endpoints(), quorum: witnessQuorum, timeout: .milliseconds(Int(witnessTimeout * 1000)), transport: transport,
                logger: logger)
        } catch { throw ValidationError("\(error)") }
    }
}
