import ArgumentParser

@main
struct Greffe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "greffe",
        abstract: "An evidence ledger: an append-only RFC 9162 Merkle log with signed C2SP checkpoints.",
        subcommands: [InitCommand.self, KeyCommand.self, TokenCommand.self, ServeCommand.self, VerifyCommand.self, LookupCommand.self, ImageCommand.self, BundleCommand.self, ReportCommand.self, AuditCommand.self, MirrorCommand.self, BenchCommand.self, BackupCommand.self, RestoreCommand.self, ShardCommand.self, VerifierPageCommand.self, WitnessCommand.self, RelayCommand.self]
    )
}

/// Errors the commands print as one clear line and exit 1 on.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
