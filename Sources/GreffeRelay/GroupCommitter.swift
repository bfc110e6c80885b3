import Dispatch
import Foundation
import GreffeStore
import Synchronization

/// Group commit for the relay's queue: requests that arrive while a commit is
/// being fsynced wait and go together into the next transaction, so the disk
/// sees one fsync per round, not one per producer request. Each request is
/// still answered only after the transaction holding it committed.
final class GroupCommitter: Sendable {
    typealias Events = [(eventID: String, body: [UInt8])]
    private struct Waiter: Sendable {
        let events: [Event]
        let continuation: CheckedContinuation<[RelayQueue.EnqueueOutcome], any Error>
    }
    /// Sendable copy of one event.
    private struct Event: Sendable {
        let eventID: String
        let body: [UInt8]
    }
    private struct State {
        var waiting: [Waiter] = []
        var committing = false
    }

    private let queue: RelayQueue
    private let state = Mutex(State())
    /// The commits (blocking SQLite calls with fsync) run here, off the cooperative pool.
    private let committer = DispatchQueue(label: "greffe.relay.group-commit")

    init(queue: RelayQueue) {
        self.queue = queue
    }

    /// Durable when this returns; throws `StoreError` (`.duplicate` for this request alone).
    func enqueue(_ events: Events) async throws -> [RelayQueue.EnqueueOutcome] {
        let copied = events.map { Event(eventID: $0.eventID, body: $0.body) }
        return try await withCheckedThrowingContinuation { continuation in
            let startCommitting = state.withLock { state -> Bool in
                state.waiting.append(Waiter(events: copied, continuation: continuation))
                guard !state.committing else { return false }
                state.committing = true
                return true
            }
            if startCommitting { committer.async { self.commitRounds() } }
        }
    }

    /// Commits everything waiting, round after round, until nothing waits.
    private func commitRounds() {
        while true {
            let round = state.withLock { state -> [Waiter] in
                let round = state.waiting
                state.waiting = []
                if round.isEmpty { state.committing = false }
                return round
            }
            guard !round.isEmpty else { return }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            do {
                let results = try queue.enqueueGroups(round.map { $0.events.map { (eventID: $0.eventID, body: $0.body) } }, receivedAtMilliseconds: now)
                for (waiter, result) in zip(round, results) {
                    waiter.continuation.resume(with: result.mapError { $0 as any Error })
                }
            } catch {
                for waiter in round { waiter.continuation.resume(throwing: error) }
            }
        }
    }
}
