import Foundation
import GreffeCore
import GreffeHTTP
import GreffeLedger
import GreffeStore
import Hummingbird

/// Legal holds (preservation orders): placed and lifted by an admin, listed
/// for investigators; each act is recorded as `access.granted` first, and the
/// hold itself is a Greffe-written record of the log (`hold.placed`, `hold.lifted`).
extension LedgerAPI {
    func addHoldRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/v1/holds") { request, _ in try await listHolds(request) }
        router.post("/v1/holds") { request, _ in try await placeHold(request) }
        router.post("/v1/holds/:index/lift") { request, context in try await liftHold(request, index: context.parameters.get("index") ?? "") }
    }

    func placeHold(_ request: Request) async throws -> Response {
        let token = try await authorize(request, role: .admin)
        let order = try await LedgerAPI.exactObject(request, members: ["authority", "reference", "scope"], what: "a legal hold")
        guard let authority = order["authority"]?.stringValue, let reference = order["reference"]?.stringValue, let scope = order["scope"] else {
            throw APIError(.unprocessableContent, "a legal hold needs {\"authority\": \"…\", \"reference\": \"…\", \"scope\": {…}}")
        }
        // The record's own schema decides what a scope may hold (Schemas/events/hold.placed.schema.json).
        let record = JSONValue.object(
            JSONObject([
                ("event_id", "greffe-hold.placed-check"), ("kind", "hold.placed"), ("occurred_at", "2026-01-01T00:00:00Z"),
                ("platform", .string(Ledger.ownPlatform)), ("schema_version", 1), ("authority", .string(authority)),
                ("reference", .string(reference)), ("scope", scope),
            ]))
        do { try intake.schemas.validate(record) } catch {
            throw APIError(.unprocessableContent, "not a valid legal hold: \(error.message)")
        }
        try await mapLedgerErrors {
            _ = try await recordAccess(
                token: token, action: "hold", query: ["authority": .string(authority), "reference": .string(reference), "scope": scope])
        }
        let receipt = try await mapLedgerErrors { try await ledger.placeHold(authority: authority, reference: reference, scope: scope) }
        return JSONResponses.json(
            ["hold_index": .number(Double(receipt.index)), "leaf_hash": .string(receipt.leafHash.base64), "authority": .string(authority),
             "reference": .string(reference), "scope": scope],
            status: .created)
    }

    func liftHold(_ request: Request, index text: String) async throws -> Response {
        let token = try await authorize(request, role: .admin)
        let index = try LedgerAPI.number(text, name: "index")
        let decision = try await LedgerAPI.exactObject(request, members: ["reference", "reason"], what: "lifting a legal hold")
        guard let reference = decision["reference"]?.stringValue, !reference.isEmpty, reference.utf8.count <= 200,
            let reason = decision["reason"]?.stringValue, !reason.isEmpty, reason.utf8.count <= 2000
        else {
            throw APIError(.unprocessableContent, "lifting a legal hold needs {\"reference\": \"…\", \"reason\": \"…\"} (non-empty strings)")
        }
        try await mapLedgerErrors {
            _ = try await recordAccess(
                token: token, action: "lift_hold", query: ["hold_index": .number(Double(index)), "reference": .string(reference)])
        }
        // Under /v1/shards/k/, a hold of shard k; at the root, one of the active shard (the one that takes orders).
        let shard = ShardRouting.pinned ?? shards.activeShard
        let receipt = try await mapLedgerErrors { try await shards.liftHold(index: index, shard: shard, reference: reference, reason: reason) }
        var answer: JSONObject = ["hold_index": .number(Double(index)), "lifted_at_index": .number(Double(receipt.index))]
        if shards.shards.count > 1 {
            answer["shard"] = .number(Double(shard))
            answer["lifted_in_shard"] = .number(Double(shards.activeShard))
        }
        return JSONResponses.json(.object(answer))
    }

    func listHolds(_ request: Request) async throws -> Response {
        let token = try await authorize(request, role: .investigate)
        try await mapLedgerErrors { _ = try await recordAccess(token: token, action: "list_holds", query: [:]) }
        // At the root of a sharded ledger, every shard's holds (each in force in every shard until lifted).
        let sharded = ShardRouting.pinned == nil && shards.shards.count > 1
        let holds = try await mapLedgerErrors { sharded ? try await shards.legalHolds() : try await ledger.legalHolds() }
        return JSONResponses.json([
            "holds": .array(
                holds.map { hold in
                    var object: JSONObject = [
                        "hold_index": .number(Double(hold.index)), "authority": .string(hold.authority), "reference": .string(hold.reference),
                        "scope": hold.scope, "placed_at": .string(RFC3339Time.format(hold.placedAtMilliseconds)),
                        "active": .bool(hold.isActive), "lifted_at_index": hold.liftedBy.map { .number(Double($0)) } ?? .null,
                    ]
                    if sharded {
                        object["shard"] = .number(Double(hold.shard ?? 0))
                        object["lifted_in_shard"] = hold.liftedInShard.map { .number(Double($0)) } ?? .null
                    }
                    return .object(object)
                })
        ])
    }

    /// A small JSON object body with exactly these members (422 otherwise, naming what is wrong).
    static func exactObject(_ request: Request, members: [String], what: String) async throws -> JSONObject {
        var request = request
        let body = try await request.collectBody(upTo: 256 * 1024)
        let value: JSONValue
        do { value = try JSONParser.parse(Array(buffer: body)) } catch {
            throw APIError.badRequest("the body of \(what) is not valid JSON: \(error)")
        }
        guard let object = value.objectValue else { throw APIError(.unprocessableContent, "the body of \(what) must be a JSON object") }
        if let unknown = object.keys.sorted().first(where: { !members.contains($0) }) {
            throw APIError(.unprocessableContent, "unknown member \"\(unknown.prefix(40))\" in \(what); known: \(members.joined(separator: ", "))")
        }
        if let missing = members.first(where: { object[$0] == nil }) {
            throw APIError(.unprocessableContent, "\(what) needs \"\(missing)\"")
        }
        return object
    }
}
