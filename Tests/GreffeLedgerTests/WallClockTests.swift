import Foundation
import GreffeCore
import GreffeLedger
import GreffeSQLite
import GreffeStore
import Synchronization
import Testing

/// The time the ledger records comes from its injected clock, so what a
/// wrong or stepped-back system clock does is tested without waiting for one.
@Suite struct WallClockTests {
    static func submission(_ id: String) -> EventSubmission {
        let body = JSONValue.object(["event_id": .string(id), "kind": "generation.requested"])
        return try! EventSubmission(eventID: id, platform: "example-ai", kind: "generation.requested", canonicalBody: body.canonicalBytes())
    }

    @Test func recordedTimesNeverGoBackWhenTheClockDoesAndCheckpointsCarryTheClocksTime() async throws {
        let time = Mutex<UInt64>(1_800_000_000_000)
        let clock = WallClock { time.withLock { $0 } }
        let store = try ControlledSharedStore().base
        let ledger = try await Ledger.open(
            store: store, signer: try NoteSigner(generatingFor: "clock.test/log"), checkpointInterval: .milliseconds(10), clock: clock)
        let running = Task { await ledger.run() }
        _ = try await ledger.append([Self.submission("a")])
        time.withLock { $0 -= 3_600_000 }  // the system clock steps back an hour
        _ = try await ledger.append([Self.submission("b")])
        time.withLock { $0 += 7_200_000 }  // and then forward past where it was
        _ = try await ledger.append([Self.submission("c")])
        let checkpoint = try await ledger.waitForCheckpoint(covering: 3)
        ledger.shutdown()
        await running.value

        let entries = try await store.readEntries(first: 0, count: 3).map { try LedgerEntry(decoding: $0) }
        #expect(entries.map(\.sequencedAtMilliseconds) == [1_800_000_000_000, 1_800_000_000_000, 1_800_003_600_000])
        #expect(checkpoint.signedAtMilliseconds == 1_800_003_600_000)
    }

    @Test func anErasureRecordsTheClocksTime() async throws {
        let clock = WallClock { 1_900_000_000_123 }
        let store = try ControlledSharedStore().base
        let ledger = try await Ledger.open(
            store: store, signer: try NoteSigner(generatingFor: "clock.test/log"), checkpointInterval: .milliseconds(10), clock: clock)
        let running = Task { await ledger.run() }
        let receipt = try await ledger.append([Self.submission("x")])[0]
        _ = try await ledger.waitForCheckpoint(covering: 1)
        let (record, entry) = try await ledger.erase(index: receipt.index, legalReference: "court order 1", reason: "test")
        ledger.shutdown()
        await running.value
        #expect(record.erasedAtMilliseconds == 1_900_000_000_123)
        let order = try #require(try await store.readEvent(index: entry.index))
        #expect(String(decoding: try #require(order.canonicalBody), as: UTF8.self).contains("\"occurred_at\":\"2030-03-17T17:46:40.123Z\""))
    }
}
