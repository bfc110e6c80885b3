import Foundation
import GreffeCore
import GreffeHTTP
public import GreffeLedger
import GreffeStore
public import Hummingbird
import Logging
import Metrics
import NIOCore
import Synchronization

/// What producers see of the relay (`Schemas/relay.md`, `Schemas/openapi.yaml`):
///
/// - `POST /v1/events`: the ledger's append body (one event or `{"events": […]}`),
///   validated as the ledger validates it; `202` once every event is on the
///   relay's disk, `4xx` for an event the ledger would refuse, `503` at the quota;
/// - `GET /v1/relay/receipt?event_id=…`: where the event is, and its verified receipt;
/// - `GET /v1/relay/status`, `GET /healthz`, `GET /metrics`.
public final class RelayAPI: Sendable {
    public let queue: RelayQueue
    public let forwarder: RelayForwarder
    /// The platform the relay's ledger token is bound to: events for another are refused here.
    public let platform: String
    /// Bytes of event bodies not yet receipted the relay holds at most; producers get 503 past it.
    public let quotaBytes: Int64
    public let intake: EventIntake
    let metrics: @Sendable () -> [UInt8]
    /// Bytes not yet receipted, kept in memory (read from the queue at start and whenever the
    /// quota seems reached, since receipts free it; plus what was accepted since).
    let heldBytes: Atomic<Int64>
    private let committer: GroupCommitter
    private let accepted = Counter(label: "greffe_relay_accepted_events_total")
    private let overQuota = Counter(label: "greffe_relay_quota_refusals_total")

    public init(
        queue: RelayQueue, forwarder: RelayForwarder, platform: String, quotaBytes: Int64, intake: EventIntake = EventIntake(),
        metrics: @escaping @Sendable () -> [UInt8]
    ) throws {
        self.intake = intake
        self.queue = queue
        self.forwarder = forwarder
        self.platform = platform
        self.quotaBytes = quotaBytes
        self.metrics = metrics
        heldBytes = Atomic(try queue.unreceiptedBytes())
        committer = GroupCommitter(queue: queue)
        Gauge(label: "greffe_relay_quota_bytes").record(quotaBytes)
    }

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.middlewares.add(JSONErrorMiddleware<Context>())
        router.post("/v1/events") { request, _ in try await self.accept(request) }
        router.get("/v1/relay/receipt") { request, _ in try self.receipt(request) }
        router.get("/v1/relay/status") { _, _ in try self.status() }
        router.get("/healthz") { _, _ in
            let halted = self.forwarder.isHalted
            return JSONResponses.json(["status": .string(halted ? "alarm" : "ok")], status: halted ? .serviceUnavailable : .ok)
        }
        router.get("/metrics") { _, _ in
            self.forwarder.updateGauges()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: self.metrics())))
        }
    }

    /// Validates the events and writes them to the queue; the answer comes after the fsync.
    public func accept(_ request: Request) async throws -> Response {
        let body = try await JSONResponses.appendBody(of: request)
        let admitted = try await admit(Array(buffer: body))
        let results: [JSONValue] = admitted.items.map { ["event_id": .string($0.eventID), "status": .string($0.isNew ? "queued" : "duplicate")] }
        let answer: JSONValue = admitted.isBatch ? ["results": .array(results)] : results[0]
        return JSONResponses.json(answer, status: .accepted)
    }

    public struct Admitted: Sendable {
        public struct Item: Sendable {
            public let eventID: String
            /// False: the same event was already held; nothing was written.
            public let isNew: Bool
        }
        public let items: [Item]
        public let isBatch: Bool
    }

    private func parseEvents(_ body: [UInt8]) throws -> (events: [EventSubmission], isBatch: Bool) {
        do {
            return try intake.parse(body)
        } catch {
            throw APIError(error.isMalformed ? .badRequest : .unprocessableContent, error.message)
        }
    }

    /// Validates `body` (one event or a batch) and makes it durable: the HTTP endpoint's and the spool's path.
    public func admit(_ body: [UInt8]) async throws -> Admitted {
        let parsed = try parseEvents(body)
        var size: Int64 = 0
        for (position, event) in parsed.events.enumerated() {
            guard event.platform == platform else {
                let path = parsed.isBatch ? "/events/\(position)/platform" : "/platform"
                throw APIError(
                    .forbidden,
                    "\(path): the event is for platform \"\(event.platform.prefix(64))\", but this relay forwards for \"\(platform)\"; nothing was queued")
            }
            size += Int64(event.canonicalBody.count)
        }
        if heldBytes.load(ordering: .relaxed) + size > quotaBytes, let waiting = try? queue.unreceiptedBytes() {
            heldBytes.store(waiting, ordering: .relaxed)
        }
        guard heldBytes.load(ordering: .relaxed) + size <= quotaBytes else {
            overQuota.increment()
            throw APIError(
                .serviceUnavailable, "the relay's queue is at its quota (\(quotaBytes) bytes); nothing was queued; try again later", retryAfter: 30)
        }
        let outcomes = try await enqueue(parsed.events)
        var added: Int64 = 0
        var items: [Admitted.Item] = []
        for (event, outcome) in zip(parsed.events, outcomes) {
            let isNew = outcome == .queued
            if isNew { added += Int64(event.canonicalBody.count) }
            items.append(Admitted.Item(eventID: event.eventID, isNew: isNew))
        }
        heldBytes.add(added, ordering: .relaxed)
        accepted.increment(by: items.filter(\.isNew).count)
        forwarder.nudge()
        return Admitted(items: items, isBatch: parsed.isBatch)
    }

    private func enqueue(_ events: [EventSubmission]) async throws -> [RelayQueue.EnqueueOutcome] {
        do {
            return try await committer.enqueue(events.map { (eventID: $0.eventID, body: $0.canonicalBody) })
        } catch let error as StoreError {
            if error.code == .duplicate { throw APIError(.conflict, "\(error.message); nothing was queued") }
            throw APIError(.serviceUnavailable, "the relay's queue cannot be written: \(error.message); nothing was queued", retryAfter: 5)
        }
    }

    func receipt(_ request: Request) throws -> Response {
        guard let id = request.uri.queryParameters.get("event_id"), !id.isEmpty, id.utf8.count <= 128 else {
            throw APIError.badRequest("give event_id (1 to 128 characters)")
        }
        guard let stored = try queue.event(id: id) else { throw APIError.notFound("this relay holds no event with that event_id") }
        var answer: JSONObject = [
            "event_id": .string(stored.eventID), "state": .string(Self.stateName(stored.state)),
            "received_at": .string(RFC3339Time.format(UInt64(max(0, stored.receivedAtMilliseconds)))),
        ]
        if let receipt = stored.receipt, let value = try? JSONParser.parse(receipt) { answer["receipt"] = value }
        if let error = stored.lastError { answer["last_error"] = .string(error) }
        return JSONResponses.json(.object(answer))
    }

    static func stateName(_ state: RelayQueue.State) -> String {
        switch state {
        case .queued: "queued"
        case .receipted: "receipted"
        case .refused: "refused"
        case .suspect: "suspect"
        }
    }

    func status() throws -> Response {
        let counts = try queue.counts()
        let head = try queue.head()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let alarms: [JSONValue] = try queue.alarms().filter { !$0.resolved }.map {
            ["at": .string(RFC3339Time.format(UInt64(max(0, $0.atMilliseconds)))), "kind": .string($0.kind), "message": .string($0.message)]
        }
        let answer: JSONValue = [
            "platform": .string(platform),
            "forwarding": .string(forwarder.isHalted ? "stopped by an alarm" : "running"),
            "queued": .number(Double(counts.queued)), "receipted": .number(Double(counts.receipted)),
            "refused": .number(Double(counts.refused)), "suspect": .number(Double(counts.suspect)),
            "oldest_unacknowledged_seconds": counts.oldestUnacknowledgedMilliseconds.map { .number(Double(max(0, now - $0)) / 1000) } ?? .null,
            "database_bytes": .number(Double(counts.databaseBytes)), "bytes_unreceipted": .number(Double(counts.unreceiptedBytes)),
            "quota_bytes": .number(Double(quotaBytes)),
            "trusted_tree_size": head.map { .number(Double($0.size)) } ?? .null,
            "alarms": .array(alarms),
        ]
        return JSONResponses.json(answer)
    }
}
