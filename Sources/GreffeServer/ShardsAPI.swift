import Foundation
import GreffeCore
import GreffeHTTP
import GreffeLedger
import GreffeStore
import HTTPTypes
import Hummingbird
import NIOCore

/// The shard a request addresses, set under `/v1/shards/<k>/`.
enum ShardRouting {
    @TaskLocal static var pinned: Int?
}

// Temporal shards over HTTP (Schemas/shards.md): `GET /v1/shards` lists them, and every
// shard's log is served whole under `/v1/shards/<k>/` (checkpoint, tiles, proofs, events,
// bundles), with the same paths as the active shard's at the root.
extension LedgerAPI {
    func addShardRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/v1/shards") { _, _ in try await shardList() }
        var view = self
        view.isShardView = true
        let inner = Router(context: Context.self)
        view.addRoutes(to: inner)
        let responder = inner.buildResponder()
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/v1/shards/:shard/**", method: method) { request, context in
                try await shardRequest(request, context: context, responder: responder)
            }
        }
    }

    func shardRequest<Context: RequestContext>(
        _ request: Request, context: Context, responder: some HTTPResponder<Context>
    ) async throws -> Response {
        let path = request.uri.path
        let prefix = "/v1/shards/"
        let afterPrefix = path.dropFirst(prefix.count)
        let digits = afterPrefix.prefix { $0 != "/" }
        guard let number = Tile.parseCanonicalDecimal(String(digits)), number < 1 << 31 else {
            throw APIError.badRequest("the shard must be a decimal number without leading zeros")
        }
        guard let shard = shards.shard(Int(number)) else {
            throw APIError.notFound("there is no shard \(number); GET /v1/shards lists them")
        }
        let rest = String(afterPrefix.dropFirst(digits.count))
        let isActive = shard.number == shards.activeShard
        if request.method == .post {
            // Only the active shard takes appends and orders, at the root paths; a sealed shard never changes.
            // An erasure order for a sealed shard's event is taken here and recorded in the active shard.
            let isErasure = rest.hasPrefix("/v1/events/") && rest.hasSuffix("/erasure")
            let isLift = rest.hasPrefix("/v1/holds/") && rest.hasSuffix("/lift")
            guard rest == "/v1/bundles" || ((isErasure || isLift) && !isActive) else {
                throw APIError(
                    .conflict,
                    isActive
                        ? "send appends and orders to the root paths (\(rest.prefix(60))), not under /v1/shards/\(number)/"
                        : "shard \(number) is sealed: it takes no appends, and no orders but erasures and lifts of its holds (POST /v1/shards/\(number)/v1/events/<index>/erasure, …/v1/holds/<index>/lift)")
            }
        }
        var head = request.head
        let query = request.uri.query.map { "?\($0)" } ?? ""
        head.path = rest + query
        let inner = Request(head: head, body: request.body)
        return try await ShardRouting.$pinned.withValue(shard.number) {
            try await responder.respond(to: inner, context: context)
        }
    }

    func shardList() async throws -> Response {
        var list: [JSONValue] = []
        let active = shards.activeShard
        for shard in shards.shards {
            let keys = try Shards.keys(shards.keys, shard: shard.number)
            var object: JSONObject = [
                "shard": .number(Double(shard.number)),
                "origin": .string(shard.ledger.origin),
                "verifier_key": .string(keys.primary.verifierKey),
                "state": .string(shard.number == active ? "active" : "sealed"),
                "tree_size": .number(Double(shard.ledger.treeSize)),
                "opened_at": .string(RFC3339Time.format(shard.openedAt)),
                "url": .string("/v1/shards/\(shard.number)/"),
            ]
            if let checkpoint = shard.ledger.latestCheckpoint { object["checkpoint"] = .string(checkpoint.note) }
            if let link = shard.link {
                // The record is public in full (entry, body, salt): it names only checkpoints and a leaf hash, and
                // with it anyone can check the link without a token (`greffe audit --all-shards`).
                var opened: JSONObject = ["index": 0, "reason": .string(link.reason.rawValue)]
                if let event = try await shard.ledger.readEvent(index: 0), let body = event.canonicalBody, let salt = event.salt {
                    opened["entry"] = .string(Data(event.entry).base64EncodedString())
                    opened["body"] = try JSONParser.parse(body)
                    opened["salt"] = .string(Data(salt).base64EncodedString())
                }
                object["opened_by"] = .object(opened)
            }
            list.append(.object(object))
        }
        return JSONResponses.json(["origin": .string(shards.keys.origin), "active": .number(Double(active)), "shards": .array(list)])
    }

    /// Records an investigator's access in the active shard, naming the shard the request addressed.
    @discardableResult
    func recordAccess(token: TokenRecord, action: String, query: JSONValue, resultCount: Int? = nil) async throws -> AppendReceipt {
        try await recordAccessAnswering(token: token, action: action, query: query, resultCount: resultCount).receipt
    }

    /// `recordAccess`, with the ledger the record went to: the active shard when the request came, or the next one
    /// if a rollover sealed it meanwhile.
    func recordAccessAnswering(
        token: TokenRecord, action: String, query: JSONValue, resultCount: Int? = nil
    ) async throws -> (receipt: AppendReceipt, ledger: Ledger) {
        var query = query
        if let pinned = ShardRouting.pinned, case .object(var object) = query {
            object["shard"] = .number(Double(pinned))
            query = .object(object)
        }
        let recorded = query
        return try await shards.appendingToActive { active in
            try await active.recordAccess(token: token, action: action, query: recorded, resultCount: resultCount)
        }
    }
}
