import ArgumentParser
import GreffeServer

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a new ledger: a signing key (mode 0600, never printed), the database, and the verifier key (printed and written to DIR/verifier.vkey)."
    )

    @OptionGroup var storeOptions: StoreOptions

    @Option(name: .long, help: "The log's origin, e.g. greffe.example.com/log: the first line of every checkpoint and the key's name.")
    var origin: String

    func run() async throws {
        let verifier = try storeOptions.directory.initialize(origin: origin, createSQLite: storeOptions.postgres == nil)
        if storeOptions.postgres != nil {
            // Creates the schema now, so that a wrong URL shows at init and not at the first serve.
            let store = try await storeOptions.openStore()
            if let existing = try await store.latestCheckpoint(), !existing.note.hasPrefix(origin + "\n") {
                throw CommandFailure("the PostgreSQL database already holds a log with another origin; use an empty database")
            }
        }
        print(verifier.verifierKey)
    }
}
