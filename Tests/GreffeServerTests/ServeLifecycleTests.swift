import Foundation
import GreffeLedger
import GreffeServer
import Hummingbird
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import Testing

@Suite("serve lifecycle")
struct ServeLifecycleTests {
    /// A server that cannot listen must end `greffe serve` with its error, not leave a process that serves nothing.
    @Test("an address already in use ends the application with its error instead of leaving it running, serving nothing")
    func addressInUse() async throws {
        let test = try await TestLedger.make()
        // The in-process ledger of TestLedger is not the one under test: the service runs its own.
        await test.stop()
        let ledger = try await Ledger.open(store: test.store, signer: test.signer, checkpointInterval: .milliseconds(20))
        let taken = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(taken.localAddress?.port)
        let application = try buildApplication(
            api: LedgerAPI(ledger: ledger), configuration: ServeConfiguration(address: .hostname("127.0.0.1", port: port)),
            services: [LedgerService(ledger: ledger)])
        // Unstructured, and polled: if the application hangs, the test fails instead of hanging with it.
        let outcome = Mutex<String?>(nil)
        Task {
            do {
                try await ServiceGroup(configuration: .init(services: [application], logger: application.logger)).run()
                outcome.withLock { $0 = "returned without an error" }
            } catch {
                outcome.withLock { $0 = "failed: \(error)" }
            }
        }
        for _ in 0..<200 where outcome.withLock({ $0 == nil }) { try await Task.sleep(for: .milliseconds(100)) }
        try await taken.close()
        let result = outcome.withLock { $0 } ?? "still running after 20 s"
        #expect(result.hasPrefix("failed"), "\(result)")
        #expect(result.lowercased().contains("address"), "\(result)")
    }
}
