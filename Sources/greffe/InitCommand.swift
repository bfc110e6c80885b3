import ArgumentParser
import GreffeServer

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a new ledger: a signing key (mode 0600, never printed), the database, and the verifier key (printed and written to DIR/verifier.vkey)."
    )

    @Option(name: .long, help: "The ledger's data directory (created if missing; must not hold a ledger).")
    var data: String

    @Option(name: .long, help: "The log's origin, e.g. greffe.example.com/log: the first line of every checkpoint and the key's name.")
    var origin: String

    func run() throws {
        let verifier = try DataDirectory(path: data).initialize(origin: origin)
        print(verifier.verifierKey)
    }
}
