import Foundation
import GreffeCore
import GreffeHTTP
import GreffeStore
public import Hummingbird
import Synchronization

/// The pages for people: the public status page (`/`), the investigator
/// console (`/console`), the public picture lookup (`/lookup`, served even
/// when the lookup is switched off, so that it can say so in words), the
/// verifier page (`/verify.html`), their assets,
/// the OpenAPI document, and `GET /v1/status` that the status page reads.
/// The console holds no privilege of its own: it calls the same investigator
/// endpoints with the token the investigator types, so every search, read and
/// bundle is logged as `access.granted` exactly as from the command line.
extension LedgerAPI {
    public func addWebRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/") { _, _ in LedgerAPI.page("index.html") }
        router.get("/console") { _, _ in LedgerAPI.page("console.html") }
        router.get("/lookup") { _, _ in LedgerAPI.page("lookup.html", policy: WebPages.lookupPolicy) }
        router.get("/verify.html") { _, _ in verifierPage() }
        router.get("/assets/greffe.css") { _, _ in LedgerAPI.asset("greffe.css", type: "text/css; charset=utf-8") }
        router.get("/assets/status.js") { _, _ in LedgerAPI.asset("status.js", type: "text/javascript; charset=utf-8") }
        router.get("/assets/console.js") { _, _ in LedgerAPI.asset("console.js", type: "text/javascript; charset=utf-8") }
        router.get("/assets/lookup.js") { _, _ in LedgerAPI.asset("lookup.js", type: "text/javascript; charset=utf-8") }
        router.get("/assets/pdq.js") { _, _ in LedgerAPI.asset("pdq.js", type: "text/javascript; charset=utf-8") }
        router.get("/openapi.yaml") { _, _ in LedgerAPI.asset("openapi.yaml", type: "application/yaml; charset=utf-8") }
        router.get("/v1/status") { _, _ in try await status() }
    }

    /// Headers every page carries: the CSP, no sniffing, no referrer (URLs
    /// never carry secrets, but search terms are personal data), no framing.
    static func pageHeaders(policy: String) -> HTTPFields {
        [
            .contentType: "text/html; charset=utf-8", .contentSecurityPolicy: policy, .xContentTypeOptions: "nosniff",
            LedgerAPI.referrerPolicy: "no-referrer", LedgerAPI.xFrameOptions: "DENY", .cacheControl: "no-cache",
        ]
    }

    static let referrerPolicy = HTTPFields.Element.Name("Referrer-Policy")!
    static let xFrameOptions = HTTPFields.Element.Name("X-Frame-Options")!

    static func page(_ name: String, policy: String = WebPages.servedPolicy) -> Response {
        Response(
            status: .ok, headers: pageHeaders(policy: policy),
            body: .init(byteBuffer: ByteBuffer(string: WebPages.asset(name) ?? "")))
    }

    static func asset(_ name: String, type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .xContentTypeOptions: "nosniff", .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(string: WebPages.asset(name) ?? "")))
    }

    /// The verifier page with this ledger's key written in (the status page publishes the same key),
    /// its lookup form asking this ledger (which says in words when the lookup is switched off).
    func verifierPage() -> Response {
        let page = WebPages.verifierPage(verifierKey: ledger.verifier.verifierKey, lookup: .sameOrigin)
        var headers = LedgerAPI.pageHeaders(policy: page.policy)
        headers[.contentDisposition] = "inline; filename=\"verify.html\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page.html)))
    }

    // MARK: - Status

    /// Minutes the appends chart covers, one bar each.
    static let activityMinutes = 180

    func status() async throws -> Response {
        let checkpoint = ledger.latestCheckpoint
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        let counts = try await mapLedgerErrors { try await activity.counts(store: ledger.store, treeSize: ledger.treeSize, now: now) }
        var answer: JSONObject = [
            "origin": .string(ledger.origin), "tree_size": .number(Double(ledger.treeSize)), "verifier_key": .string(ledger.verifier.verifierKey),
            // Before a first checkpoint (only with witnesses, until their quorum cosigns): empty, as the page expects.
            "checkpoint": .string(checkpoint?.note ?? ""), "checkpoint_size": .number(Double(checkpoint?.size ?? 0)),
            "checkpoint_signed_at": .string(RFC3339Time.format(checkpoint?.signedAtMilliseconds ?? 0)),
            "appends_per_minute": [
                "from": .string(RFC3339Time.format(counts.from)), "bucket_seconds": 60,
                "counts": .array(counts.counts.map { .number(Double($0)) }),
            ],
        ]
        let all = shards.shards
        if all.count > 1 {
            // The page shows the active shard; these say it is one of several (GET /v1/shards lists them).
            answer["shard"] = .number(Double(all.count - 1))
            answer["shards"] = .number(Double(all.count))
            answer["entries_all_shards"] = .number(Double(all.reduce(UInt64(0)) { $0 + $1.ledger.treeSize }))
        }
        return JSONResponses.json(.object(answer))
    }
}

/// Appends per minute over the last hours, from the entries themselves:
/// `sequenced_at` never decreases along the log, so each minute's first
/// index is a binary search, and the cost is O(minutes × log n) one-entry
/// reads whatever the volume. An answer is reused for a few seconds, and
/// computed once however many requests ask at the same time (single
/// flight): the status page is public, and must not become load on the store.
public final class ActivityCounter: Sendable {
    struct Counts: Sendable {
        var from: UInt64
        var counts: [Int]
    }

    private struct State {
        /// Reused whatever was appended since: under steady appends the size
        /// always differs, and a chart a few seconds old is still true enough.
        var cached: (at: UInt64, counts: Counts)?
        /// The computation under way, which every request arriving meanwhile awaits.
        var inFlight: Task<Counts, any Error>?
        /// Computations started, for tests.
        var computations = 0
    }

    private let state = Mutex(State())
    static let reuseMilliseconds: UInt64 = 5_000

    public init() {}

    /// How many times the counts were computed.
    var computations: Int { state.withLock { $0.computations } }

    func counts(store: any LedgerStore, treeSize: UInt64, now: UInt64) async throws -> Counts {
        let task: Task<Counts, any Error>? = state.withLock { state in
            if let cached = state.cached, now >= cached.at, now - cached.at < ActivityCounter.reuseMilliseconds { return nil }
            if let inFlight = state.inFlight { return inFlight }
            state.computations += 1
            let task = Task { [self] in
                do {
                    let counts = try await compute(store: store, treeSize: treeSize, now: now)
                    self.state.withLock { state in
                        state.cached = (now, counts)
                        state.inFlight = nil
                    }
                    return counts
                } catch {
                    self.state.withLock { $0.inFlight = nil }
                    throw error
                }
            }
            state.inFlight = task
            return task
        }
        guard let task else { return state.withLock { $0.cached!.counts } }
        return try await task.value
    }

    private func compute(store: any LedgerStore, treeSize: UInt64, now: UInt64) async throws -> Counts {
        let minutes = UInt64(LedgerAPI.activityMinutes)
        let end = (now / 60_000 + 1) * 60_000
        let start = end - minutes * 60_000
        var boundaries: [UInt64] = []
        var low: UInt64 = 0
        for minute in 0...minutes {
            low = try await firstIndex(atOrAfter: start + minute * 60_000, from: low, to: treeSize, store: store)
            boundaries.append(low)
        }
        return Counts(from: start, counts: (0..<Int(minutes)).map { Int(boundaries[$0 + 1] - boundaries[$0]) })
    }

    /// The first index in `[low, high)` whose entry was sequenced at or after `time`, or `high`.
    private func firstIndex(atOrAfter time: UInt64, from low: UInt64, to high: UInt64, store: any LedgerStore) async throws -> UInt64 {
        var low = low
        var high = high
        while low < high {
            let middle = low + (high - low) / 2
            guard let entry = try await store.readEntries(first: middle, count: 1).first, let decoded = try? LedgerEntry(decoding: entry) else {
                return high
            }
            if decoded.sequencedAtMilliseconds < time { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
