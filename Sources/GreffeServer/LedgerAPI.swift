import Foundation
public import GreffeCore
import GreffeHTTP
public import GreffeLedger
import GreffeStore
public import Hummingbird
import Logging
import NIOCore

/// The HTTP API of the contract, thin over `Ledger`: parse, call, encode.
public struct LedgerAPI: Sendable {
    /// The ledger's shards (one, unless `greffe serve --shard-*`).
    public let shards: ShardedLedger
    /// The shard a request addresses: the active one, or under `/v1/shards/<k>/` shard k (`ShardsAPI.swift`).
    public var ledger: Ledger { ShardRouting.pinned.flatMap { shards.shard($0)?.ledger } ?? shards.active }
    /// Where Greffe's own records of requests (access, holds) go: the active shard, which alone takes appends.
    var activeLedger: Ledger { shards.active }
    /// True for the copy of the API mounted under `/v1/shards/<k>/`: it adds no middleware of its own.
    var isShardView = false
    public let tokens: TokenAuthority
    public var intake = EventIntake()
    /// Renders `/metrics`; nil answers 404.
    public var metricsText: (@Sendable () -> [UInt8])?
    /// How long `?wait=checkpoint` waits before answering 503.
    public var receiptTimeout: Duration = .seconds(30)

    /// Per-token request budgets (429 past them).
    public var rateLimiter = RateLimiter()
    /// Per-client budgets for requests without a valid token (429 past them); nil: unlimited.
    public var clientRateLimiter: ClientRateLimiter? = ClientRateLimiter()
    /// Events one bundle may hold (422 past it: narrow the query). A v3 bundle streams in constant
    /// memory but for its list of indices (8 bytes an event), so the bound is the search's, not the writer's.
    public var maxBundleEvents = 5_000_000

    /// Appends per minute for the status page (`Web/WebAPI.swift`).
    public var activity = ActivityCounter()

    /// `GET /v1/lookup`, the public lookup by image hash (`LookupAPI.swift`).
    public var lookupSettings = PublicLookupSettings()

    /// The data directory's key list, published at `GET /v1/keys` (`KeysAPI.swift`).
    public var keyList: LogKeyList?

    public init(ledger: Ledger, metricsText: (@Sendable () -> [UInt8])? = nil) {
        self.init(shards: ShardedLedger(single: ledger), metricsText: metricsText)
    }

    public init(shards: ShardedLedger, metricsText: (@Sendable () -> [UInt8])? = nil) {
        self.shards = shards
        // Tokens live in shard 0's store, where `greffe token` writes them.
        self.tokens = shards.shards[0].ledger.tokenAuthority()
        self.metricsText = metricsText
    }

    static let fullTileCache = "public, max-age=31536000, immutable"
    /// Partial tiles are immutable too, but clients should move on to the full tile once it exists.
    static let partialTileCache = "public, max-age=60"
    static let checkpointCache = "public, max-age=1"

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        if !isShardView {
            // Outermost: it also marks the refusals the inner middlewares answer (429, 404 when off).
            router.middlewares.add(PublicLookupCORSMiddleware<Context>())
            router.middlewares.add(JSONErrorMiddleware<Context>())
            if let clientRateLimiter {
                router.middlewares.add(AnonymousRateLimitMiddleware<Context>(limiter: clientRateLimiter, tokens: tokens))
            }
            addShardRoutes(to: router)
        }
        router.get("/checkpoint") { _, _ in try await checkpoint() }
        router.get("/tile/**") { request, _ in try await tile(request.uri.path) }
        router.get("/v1/proofs/inclusion") { request, _ in try await inclusion(request) }
        router.get("/v1/proofs/consistency") { request, _ in try await consistency(request) }
        addCOSEReceiptRoutes(to: router)
        router.post("/v1/events") { request, context in try await appendEvents(request, context: context) }
        router.get("/healthz") { _, _ in healthz() }
        router.get("/metrics") { _, _ in try metrics() }
        addInvestigatorRoutes(to: router)
        addHoldRoutes(to: router)
        router.post("/v1/bundles") { request, _ in try await makeBundle(request) }
        addTimestampRoutes(to: router)
        addWebRoutes(to: router)
        addKeyRoutes(to: router)
        addLookupRoutes(to: router)
    }

    // MARK: - Read API

    func checkpoint() async throws -> Response {
        // Only with witnesses, before their quorum cosigned a first checkpoint.
        guard let checkpoint = ledger.latestCheckpoint else { throw APIError(.serviceUnavailable, "no checkpoint has been cosigned by the witness quorum yet") }
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: LedgerAPI.checkpointCache],
            body: .init(byteBuffer: ByteBuffer(string: checkpoint.note)))
    }

    func tile(_ path: String) async throws -> Response {
        guard let tile = Tile(path: path) else {
            throw APIError.notFound("not a tile path: \(path.prefix(100))")
        }
        guard let bytes = try await ledger.tileData(tile) else {
            throw APIError.notFound("tile \(tile.path) is beyond the tree of size \(ledger.treeSize)")
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/octet-stream",
                .cacheControl: tile.isFull ? LedgerAPI.fullTileCache : LedgerAPI.partialTileCache,
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    func inclusion(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let treeSize = try LedgerAPI.number(query.get("tree_size"), name: "tree_size")
        let index: UInt64
        switch (query.get("index"), query.get("leaf_hash")) {
        case (let text?, nil):
            index = try LedgerAPI.number(text, name: "index")
        case (nil, let text?):
            guard let leafHash = Hash(base64URL: text) else {
                throw APIError.badRequest("leaf_hash must be 32 bytes in URL-safe base64 (RFC 4648 §5)")
            }
            guard let found = try await ledger.leafIndex(of: leafHash) else {
                throw APIError.notFound("no entry has leaf hash \(leafHash.base64)")
            }
            guard found < treeSize else {
                throw APIError.notFound("the entry with that leaf hash (index \(found)) is not in the tree of size \(treeSize)")
            }
            index = found
        case (nil, nil):
            throw APIError.badRequest("give index or leaf_hash")
        case (_?, _?):
            throw APIError.badRequest("give index or leaf_hash, not both")
        }
        let (leafHash, proof) = try await mapLedgerErrors { try await ledger.inclusionProof(index: index, treeSize: treeSize) }
        return JSONResponses.json(LedgerAPI.inclusionJSON(index: index, treeSize: treeSize, leafHash: leafHash, proof: proof))
    }

    static func inclusionJSON(index: UInt64, treeSize: UInt64, leafHash: Hash, proof: [Hash]) -> JSONValue {
        [
            "index": .number(Double(index)), "tree_size": .number(Double(treeSize)), "leaf_hash": .string(leafHash.base64),
            "proof": .array(proof.map { .string($0.base64) }),
        ]
    }

    func consistency(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let first = try LedgerAPI.number(query.get("first"), name: "first")
        let second = try LedgerAPI.number(query.get("second"), name: "second")
        let proof = try await mapLedgerErrors { try await ledger.consistencyProof(first: first, second: second) }
        return JSONResponses.json([
            "first": .number(Double(first)), "second": .number(Double(second)), "proof": .array(proof.map { .string($0.base64) }),
        ])
    }

    func healthz() -> Response {
        // A node that lost the lease serves a view that no longer moves: out of the load balancer until it restarts.
        if ledger.stoppedBecauseLeaseLost {
            return JSONResponses.json(
                ["status": "stopping", "origin": .string(ledger.origin), "role": "none", "error": "this node lost the sequencer lease and is stopping"],
                status: .serviceUnavailable)
        }
        return JSONResponses.json([
            "status": "ok", "origin": .string(ledger.origin), "tree_size": .number(Double(ledger.treeSize)),
            "checkpoint_size": .number(Double(ledger.latestCheckpoint?.size ?? 0)),
            "role": .string(ledger.isSequencer ? "sequencer" : "follower"),
        ])
    }

    func metrics() throws -> Response {
        guard let metricsText else { throw APIError.notFound("metrics are not enabled") }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: metricsText())))
    }

    // MARK: - Appends

    func appendEvents(_ request: Request, context: some RequestContext) async throws -> Response {
        let token = try await authorize(request, role: .append)
        // Each event is written in the name of the one platform its token is bound to; not even an
        // admin token writes in a platform's name, so every event names the token that vouched for it.
        guard token.role == .append else {
            throw APIError(.forbidden, "appends need an append token bound to a platform; token \(token.name) has role \(token.role.rawValue)")
        }
        guard let platform = token.platform else {
            throw APIError(
                .forbidden,
                "token \(token.name) is bound to no platform, so it cannot append; bind it with `greffe token bind \(token.name) --platform NAME`")
        }
        let waitForCheckpoint: Bool
        switch request.uri.queryParameters.get("wait") {
        case nil: waitForCheckpoint = false
        case "checkpoint": waitForCheckpoint = true
        case let other?: throw APIError.badRequest("wait must be \"checkpoint\", not \"\(other.prefix(40))\"")
        }
        let withCOSEReceipts: Bool
        switch request.uri.queryParameters.get("receipt") {
        case nil: withCOSEReceipts = false
        case "cose" where waitForCheckpoint: withCOSEReceipts = true
        case "cose": throw APIError.badRequest("receipt=cose needs wait=checkpoint: a receipt is over a signed checkpoint")
        case let other?: throw APIError.badRequest("receipt must be \"cose\", not \"\(other.prefix(40))\"")
        }
        let body = try await JSONResponses.appendBody(of: request)
        let parsed: (events: [EventSubmission], isBatch: Bool)
        do {
            parsed = try intake.parse(Array(buffer: body), appendedBy: token.name)
        } catch {
            throw APIError(error.isMalformed ? .badRequest : .unprocessableContent, error.message)
        }
        if let position = parsed.events.firstIndex(where: { $0.platform != platform }) {
            let path = parsed.isBatch ? "/events/\(position)/platform" : "/platform"
            throw APIError(
                .forbidden,
                "\(path): the event is for platform \"\(parsed.events[position].platform)\", but token \(token.name) is bound to platform \"\(platform)\"; nothing was appended")
        }
        let sharded = try await mapLedgerErrors { try await shards.append(parsed.events) }
        let receipts = sharded.map(\.receipt)
        let status: HTTPResponse.Status = receipts.contains(where: \.isNew) ? .created : .ok
        // A sharded ledger names each event's log: its index means something only there.
        let origins: [String]? = shards.isSharded ? sharded.map { Shards.origin(base: shards.keys.origin, shard: $0.shard) } : nil
        if !waitForCheckpoint {
            return Response(
                status: status, headers: [.contentType: "application/json"],
                body: .init(
                    byteBuffer: ByteBuffer(
                        bytes: LedgerAPI.receiptsJSON(receipts, shards: origins.map { zip($0, sharded.map(\.shard)).map { $0 } }, isBatch: parsed.isBatch))))
        }
        var results: [JSONValue] = sharded.map { item in
            var object: JSONObject = [
                "index": .number(Double(item.receipt.index)), "leaf_hash": .string(item.receipt.leafHash.base64), "event_id": .string(item.receipt.eventID),
            ]
            if shards.isSharded {
                object["origin"] = .string(Shards.origin(base: shards.keys.origin, shard: item.shard))
                object["shard"] = .number(Double(item.shard))
            }
            return .object(object)
        }
        // One checkpoint per shard the events are in (several only for a re-sent batch that spans a rollover).
        var checkpoints: [Int: StoredCheckpoint] = [:]
        for number in Set(sharded.map(\.shard)) {
            guard let holder = shards.shard(number)?.ledger else { continue }
            let needed = sharded.filter { $0.shard == number }.map(\.receipt.index).max()! + 1
            checkpoints[number] = try await withCheckpointTimeout(
                "the events are durable but no checkpoint covered them within \(receiptTimeout); ask again for a proof later"
            ) { try await holder.waitForCheckpoint(covering: needed) }
        }
        for (position, item) in sharded.enumerated() {
            guard let holder = shards.shard(item.shard)?.ledger, let checkpoint = checkpoints[item.shard] else { continue }
            let receipt = item.receipt
            let (leafHash, proof) = try await holder.inclusionProof(index: receipt.index, treeSize: checkpoint.size)
            guard case .object(var object) = results[position] else { continue }
            object["inclusion_proof"] = LedgerAPI.inclusionJSON(index: receipt.index, treeSize: checkpoint.size, leafHash: leafHash, proof: proof)
            if withCOSEReceipts {
                object["cose_receipt"] = .string(
                    Data(try await coseReceipt(index: receipt.index, checkpoint: checkpoint, ledger: holder).encoded).base64EncodedString())
            }
            if checkpoints.count > 1 { object["checkpoint"] = .string(checkpoint.note) }
            results[position] = .object(object)
        }
        var answer: JSONObject
        if parsed.isBatch {
            answer = ["results": .array(results)]
        } else {
            answer = results[0].objectValue!
        }
        if checkpoints.count == 1, let only = checkpoints.values.first { answer["checkpoint"] = .string(only.note) }
        return JSONResponses.json(.object(answer), status: status)
    }

    /// The canonical JSON of the receipts without a JSONValue per receipt: `{"results":[…]}` for a
    /// batch, else the one receipt, each `{"event_id":…,"index":…,"leaf_hash":…}` (RFC 8785 member order), with `origin` and `shard` on a sharded ledger.
    static func receiptsJSON(_ receipts: [AppendReceipt], shards: [(origin: String, shard: Int)]? = nil, isBatch: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(receipts.count * 128 + 16)
        if isBatch { out.append(contentsOf: #"{"results":["#.utf8) }
        for (position, receipt) in receipts.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"event_id":"#.utf8)
            JSONValue.string(receipt.eventID).appendCanonicalBytes(to: &out)
            out.append(contentsOf: #","index":"#.utf8)
            JSONValue.number(Double(receipt.index)).appendCanonicalBytes(to: &out)
            out.append(contentsOf: #","leaf_hash":""#.utf8)
            out.append(contentsOf: receipt.leafHash.base64.utf8)
            out.append(UInt8(ascii: "\""))
            if let shard = shards?[position] {
                out.append(contentsOf: #","origin":"#.utf8)
                JSONValue.string(shard.origin).appendCanonicalBytes(to: &out)
                out.append(contentsOf: #","shard":"#.utf8)
                JSONValue.number(Double(shard.shard)).appendCanonicalBytes(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        if isBatch { out.append(contentsOf: "]}".utf8) }
        return out
    }

    /// `body` (a wait for a checkpoint), or 503 with `message` after `receiptTimeout`.
    func withCheckpointTimeout<T: Sendable>(_ message: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = receiptTimeout
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next()
            group.cancelAll()
            guard let finished = first, let value = finished else {
                throw APIError(.serviceUnavailable, message)
            }
            return value
        }
    }

    // MARK: - Helpers

    /// Checks the bearer token: 401 when missing, unknown or revoked; 403 for the wrong role.
    func authorize(_ request: Request, role: TokenRole) async throws -> TokenRecord {
        guard let header = request.headers[.authorization] else {
            throw APIError(.unauthorized, "this endpoint needs an Authorization: Bearer token")
        }
        guard header.hasPrefix("Bearer ") else { throw APIError(.unauthorized, "the Authorization header must be \"Bearer <token>\"") }
        switch try await tokens.check(token: String(header.dropFirst(7)), for: role) {
        case .granted(let record):
            if let wait = rateLimiter.take(record) {
                throw APIError(
                    .tooManyRequests, "token \(record.name) is over its request budget; retry in \(String(format: "%.1f", wait)) s",
                    retryAfter: Int(wait.rounded(.up)))
            }
            return record
        case .unknown: throw APIError(.unauthorized, "unknown token")
        case .revoked: throw APIError(.unauthorized, "this token has been revoked")
        case .wrongRole(let record): throw APIError(.forbidden, "a token of role \(record.role.rawValue) cannot do this; it needs role \(role.rawValue)")
        }
    }

    static func number(_ text: String?, name: String) throws -> UInt64 {
        guard let text else { throw APIError.badRequest("missing query parameter \(name)") }
        guard let value = Tile.parseCanonicalDecimal(text), value < 1 << 53 else {
            throw APIError.badRequest("\(name) must be a non-negative decimal integer without leading zeros")
        }
        return value
    }

    /// Ledger and store errors as API errors: out of range 400, unknown 404, conflicts 409, store trouble 503.
    @discardableResult
    func mapLedgerErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as LedgerError {
            throw APIError(error)
        }
        // A StoreError goes on as it is: the error middleware logs it before answering 503.
    }
}
