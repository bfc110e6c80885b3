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
        await withGracefulShutdownHandler {
            await ledger.run()
        } onGracefulShutdown: {
            ledger.shutdown()
        }
        if ledger.stoppedBecauseLeaseLost {
            // Ends the whole service with an error, so the supervisor restarts this node as a follower.
            throw LeaseLost()
        }
    }
}

public struct LeaseLost: Error, CustomStringConvertible {
    public var description: String { "this node lost the sequencer lease; restart it and it will follow the new sequencer" }
}
