import Foundation
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

    /// How long a node that lost the lease may take to stop cleanly before it exits.
    static let leaseLossGrace: Duration = .seconds(2)

    public func run() async throws {
        // A node frozen (SIGSTOP) or cut off while it sequenced may find, once it runs again, requests and
        // connections that hang: it must not go on serving a stale view as if it followed. Nothing it
        // acknowledged is lost by exiting (acknowledged means stored); its supervisor restarts it as a follower.
        let ledger = self.ledger
        let watchdog = Task.detached {
            while !Task.isCancelled && !ledger.stoppedBecauseLeaseLost { try? await Task.sleep(for: .milliseconds(100)) }
            guard !Task.isCancelled else { return }
            try? await Task.sleep(for: LedgerService.leaseLossGrace)
            guard !Task.isCancelled else { return }
            FileHandle.standardError.write(Data("greffe: \(LeaseLost()); it did not stop within \(LedgerService.leaseLossGrace), exiting\n".utf8))
            exit(75)  // EX_TEMPFAIL
        }
        defer { watchdog.cancel() }
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
