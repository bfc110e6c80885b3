public import GreffeLedger
public import ServiceLifecycle

/// Runs the ledger's sequencer and signer as a service. Listed before the HTTP
/// server, it stops after it: on SIGTERM the server drains its requests
/// (whose appends still need the sequencer), then the ledger commits what is
/// queued and signs a last checkpoint.
public struct LedgerService: Service {
    public let ledger: Ledger

    public init(ledger: Ledger) {
        self.ledger = ledger
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            await ledger.run()
        } onGracefulShutdown: {
            ledger.shutdown()
        }
    }
}
