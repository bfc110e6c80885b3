import Foundation
public import GreffeCore
import GreffeHTTP
import GreffeImage
import GreffeLedger
import GreffeStore
import GreffeVerify
import Hummingbird
import Metrics

/// The public lookup's settings (`greffe serve --public-lookup`, `--lookup-help`).
public struct PublicLookupSettings: Sendable {
    /// Off: `GET /v1/lookup` answers 404 saying so.
    public var enabled = true
    /// Where to turn next, as the operator words it: `[{title, url, description}]`, shown by the page.
    public var help: JSONValue = .array([])
    /// Matches one answer lists (nearest or earliest first); the rest are counted.
    public var maxMatches = 20
    /// Near matches by PDQ; nil matches PDQ hashes exactly only.
    public var pdqIndex: (any PDQNeighbours)?
    /// On a ledger with temporal shards: each shard's PDQ index (`pdqIndex` is then unused).
    public var shardPDQIndexes: ShardPDQIndexes?

    public init() {}

    public struct HelpError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The operator's help lines: a JSON array of at most 12 `{title, url, description?}`, URLs
    /// `https:`, `mailto:` or `tel:` only (the page links them; nothing else may run from a click).
    public static func parseHelp(_ bytes: [UInt8]) throws -> JSONValue {
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch { throw HelpError(description: "not JSON: \(error)") }
        guard let items = value.arrayValue, items.count <= 12 else { throw HelpError(description: "must be a JSON array of at most 12 objects") }
        for (i, item) in items.enumerated() {
            guard let object = item.objectValue else { throw HelpError(description: "item \(i) is not an object") }
            for key in object.keys where !["title", "url", "description"].contains(key) {
                throw HelpError(description: "item \(i) has a member \"\(key)\"; only title, url, description")
            }
            guard let title = object["title"]?.stringValue, (1...200).contains(title.count) else {
                throw HelpError(description: "item \(i) needs a title of 1 to 200 characters")
            }
            guard let url = object["url"]?.stringValue, url.count <= 500, ["https://", "mailto:", "tel:"].contains(where: { url.hasPrefix($0) }) else {
                throw HelpError(description: "item \(i) needs a url starting with https://, mailto: or tel: (at most 500 characters)")
            }
            if let description = object["description"], (description.stringValue?.count ?? 1001) > 1000 {
                throw HelpError(description: "item \(i)'s description must be a string of at most 1000 characters")
            }
        }
        return value
    }
}

/// Stored events whose images' PDQ hashes lie near a given one.
public protocol PDQNeighbours: Sendable {
    /// Events naming a PDQ hash within `maxDistance` bits of `hash`, nearest first (then by index).
    /// Throws `APIError(.serviceUnavailable)` while the index is still being built.
    func neighbours(of hex: String, maxDistance: Int, limit: Int) async throws -> [(index: UInt64, distance: Int)]
}

/// The PDQ indexes of a sharded ledger's shards, one per shard, made when first needed (a shard opened by a
/// rollover gets its own at its first lookup; it is small then).
public actor ShardPDQIndexes {
    private let make: @Sendable (Int) -> PDQLookupIndex?
    private var indexes: [Int: PDQLookupIndex] = [:]

    public init(make: @escaping @Sendable (Int) -> PDQLookupIndex?) {
        self.make = make
    }

    /// Shard `shard`'s index; loading (lookups by PDQ in it answer 503) until its first load is done.
    public func index(_ shard: Int) async -> PDQLookupIndex? {
        if let known = indexes[shard] { return known }
        guard let made = make(shard) else { return nil }
        indexes[shard] = made
        await made.load()
        return made
    }

    /// Loads the indexes of `shards` (at start-up, in the background).
    public func load(_ shards: [Int]) async {
        for shard in shards { _ = await index(shard) }
    }
}

/// `GET /v1/lookup`: "was this picture made or edited here?" for anyone, without a token
/// (`Schemas/disclosure.md`). Each entry found comes with a certificate that discloses the
/// field naming the image and the decision's outcome, nothing else. Lookups are counted in
/// metrics, never recorded in the log (no investigator is involved) and never logged: the
/// hashes asked for appear in no log line and no error message.
extension LedgerAPI {
    /// PDQ's authors' threshold for "the same picture" (pdq/README: distance ≤ 31 of 256 bits).
    static let pdqMatchDistance = 31
    /// What a lookup costs in the anonymous budget: it reads and proves up to `maxMatches` events.
    static let lookupCost: Double = 10

    func addLookupRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/v1/lookup") { request, _ in try await lookup(request) }
    }

    /// Lets pages of other origins read the public lookup's answers, refusals included: a
    /// one-file verifier opened from a file (origin `null`) made by `greffe verifier-page
    /// --lookup-url`. Safe for an endpoint that needs no token and sets no cookie: any
    /// page's script learns only what `curl` would. Only `/v1/lookup` gets it.
    struct PublicLookupCORSMiddleware<Context: RequestContext>: RouterMiddleware {
        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            guard request.uri.path == "/v1/lookup" else { return try await next(request, context) }
            var response: Response
            do {
                response = try await next(request, context)
            } catch let error as any HTTPResponseError {
                response = try error.response(from: request, context: context)
            }
            response.headers[.accessControlAllowOrigin] = "*"
            // A refusal's Retry-After, so that a page can say when to try again.
            response.headers[.accessControlExposeHeaders] = "Retry-After"
            return response
        }
    }

    enum LookupKey: String, CaseIterable {
        case sha256, pdq
        case c2pa = "c2pa_manifest_sha256"

        /// The image member that holds this hash, and the store's term prefix (`EventIndexTerms`).
        var field: String { rawValue }
        var termPrefix: String { self == .c2pa ? "c2pa:" : "\(rawValue):" }
    }

    func lookup(_ request: Request) async throws -> Response {
        guard lookupSettings.enabled else { throw APIError.notFound("the public lookup is switched off on this ledger") }
        let query = request.uri.queryParameters
        for (name, _) in query where LookupKey(rawValue: String(name)) == nil {
            throw APIError.badRequest("unknown parameter \(String(name).prefix(40)); give one of sha256, pdq, c2pa_manifest_sha256")
        }
        let given = LookupKey.allCases.compactMap { key in query.get(key.rawValue).map { (key, $0) } }
        guard given.count == 1, let (key, text) = given.first, query.getAll(key.rawValue).count == 1 else {
            throw APIError.badRequest("give exactly one of sha256, pdq, c2pa_manifest_sha256 (64 hex digits)")
        }
        guard let hex = Self.hex64(text) else { throw APIError.badRequest("\(key.rawValue) must be 64 hex digits") }

        guard let checkpoint = ledger.latestCheckpoint else { throw APIError(.serviceUnavailable, "no checkpoint has been cosigned by the witness quorum yet") }
        // Every shard is searched, oldest first: an image's first record may be years old (Schemas/shards.md).
        let all = ShardRouting.pinned.flatMap { shards.shard($0) }.map { [$0] } ?? shards.shards
        let sharded = shards.shards.count > 1
        var candidates: [(shard: Shard, index: UInt64, distance: Int?)] = []
        var counted = 0
        let wanted = lookupSettings.maxMatches * 4
        if key == .pdq, lookupSettings.pdqIndex != nil || lookupSettings.shardPDQIndexes != nil {
            for shard in all {
                let index: (any PDQNeighbours)?
                if let indexes = lookupSettings.shardPDQIndexes { index = await indexes.index(shard.number) } else { index = lookupSettings.pdqIndex }
                guard let index else { continue }
                let near = try await index.neighbours(of: hex, maxDistance: Self.pdqMatchDistance, limit: wanted)
                candidates += near.map { (shard, $0.index, $0.distance) }
                counted += near.count
            }
            // Nearest first across shards, then oldest.
            candidates.sort { ($0.distance ?? 0, $0.shard.number, $0.index) < ($1.distance ?? 0, $1.shard.number, $1.index) }
        } else {
            for shard in all where candidates.count < wanted && shards.mayHold(contentTerm: key.termPrefix + hex, shard: shard.number) {
                let found = try await mapLedgerErrors {
                    try await shard.ledger.searchIndices(EventQuery(contentHash: key.termPrefix + hex, limit: wanted - candidates.count))
                }
                candidates += found.map { (shard, $0, key == .pdq ? 0 : nil) }
                counted += found.count
            }
        }
        var matches: [JSONValue] = []
        for candidate in candidates where matches.count < lookupSettings.maxMatches {
            // A sealed shard's matches are proved against its final checkpoint, under its own key.
            guard let shardCheckpoint = candidate.shard.ledger === ledger ? checkpoint : candidate.shard.ledger.latestCheckpoint else { continue }
            if var match = try await lookupMatch(
                index: candidate.index, key: key, hex: hex, distance: candidate.distance, ledger: candidate.shard.ledger, checkpoint: shardCheckpoint)
            {
                if sharded, case .object(var object) = match {
                    object["shard"] = .number(Double(candidate.shard.number))
                    match = .object(object)
                }
                matches.append(match)
            }
        }
        counted = max(counted, matches.count)
        Counter(label: "greffe_public_lookups_total", dimensions: [("by", key.rawValue), ("found", matches.isEmpty ? "no" : "yes")]).increment()
        let answer: JSONValue = [
            "by": .string(key.rawValue),
            "checkpoint": .string(checkpoint.note),
            "matches": .array(matches),
            // Candidates seen beyond those listed (an image used very often, or only in reports).
            "truncated": .bool(candidates.count > matches.count && matches.count == lookupSettings.maxMatches),
            "help": lookupSettings.help,
        ]
        var response = JSONResponses.json(answer)
        // A person's lookup is nobody else's business: no shared cache keeps it.
        response.headers[.cacheControl] = "no-store"
        return response
    }

    typealias Shard = ShardedLedger.Shard

    /// One entry found, with its certificate; nil when the event names the image only outside
    /// `input_images` and `output_images` (reports, takedowns: not what the public lookup answers),
    /// is Greffe's own, or was erased.
    private func lookupMatch(
        index: UInt64, key: LookupKey, hex: String, distance: Int?, ledger: Ledger, checkpoint: StoredCheckpoint
    ) async throws -> JSONValue? {
        guard let event = try await mapLedgerErrors({ try await ledger.readEvent(index: index) }),
            let canonical = event.canonicalBody, let salt = event.salt, event.platform != Ledger.ownPlatform,
            let body = try? JSONParser.parse(canonical, limits: JSONLimits(maxDepth: 128, maxBytes: Int.max)),
            let entry = try? LedgerEntry(decoding: event.entry)
        else { return nil }
        var paths: [FieldPath] = []
        var roles: [String] = []
        for (member, role) in [("input_images", "input"), ("output_images", "output")] {
            for (position, image) in (body[member]?.arrayValue ?? []).enumerated() {
                guard let value = image[key.field]?.stringValue, let imageHex = Self.hex64(value) else { continue }
                let matches = distance == nil || key != .pdq ? imageHex == hex : Self.hamming(imageHex, hex) <= Self.pdqMatchDistance
                guard matches else { continue }
                paths.append(FieldPath([.member(member), .position(position), .member(key.field)]))
                if !roles.contains(role) { roles.append(role) }
            }
        }
        guard !paths.isEmpty else { return nil }
        var match: JSONObject = [
            "index": .number(Double(index)), "kind": .string(entry.kind),
            "recorded_at": .string(RFC3339Time.format(entry.sequencedAtMilliseconds)),
            "roles": .array(roles.map { .string($0) }),
        ]
        if let distance { match["distance"] = .number(Double(distance)) }
        guard entry.layout == .fieldTree else {
            match["certificate"] = .null
            match["no_certificate"] = .string(
                "recorded before this ledger committed to fields one by one (entry layout 1): the entry is public, "
                    + "but no part of the event can be proved without showing all of it; an investigator can obtain the whole record")
            return .object(match)
        }
        guard index < checkpoint.size else {
            match["certificate"] = .null
            match["no_certificate"] = .string("recorded after the latest signed checkpoint; ask again in a few seconds")
            return .object(match)
        }
        let outcomePath = FieldPath([.member("decision"), .member("outcome")])
        if let outcome = body["decision"]?["outcome"]?.stringValue {
            match["outcome"] = .string(outcome)
            paths.append(outcomePath)
        }
        let fields = try FieldCommitment.FieldTree(salt: salt, body: body).disclose(paths)
        guard !fields.isEmpty else { return nil }
        let (_, proof) = try await mapLedgerErrors { try await ledger.inclusionProof(index: index, treeSize: checkpoint.size) }
        let certificate = DisclosureCertificate(
            verifierKey: ledger.verifier.verifierKey, checkpoint: checkpoint.note, entry: event.entry, inclusionProof: proof, fields: fields,
            createdAt: RFC3339Time.format(UInt64(Date().timeIntervalSince1970 * 1000)))
        match["certificate"] = certificate.json
        return .object(match)
    }

    /// `text` lowercased if it is 64 hex digits.
    static func hex64(_ text: String) -> String? {
        guard text.utf8.count == 64, text.utf8.allSatisfy({ $0.isHexDigit }) else { return nil }
        return text.lowercased()
    }

    static func hamming(_ a: String, _ b: String) -> Int {
        guard let a = PDQHash(hex: a), let b = PDQHash(hex: b) else { return PDQHash.bitCount }
        return a.distance(to: b)
    }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        (self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9")) || (self >= UInt8(ascii: "a") && self <= UInt8(ascii: "f"))
            || (self >= UInt8(ascii: "A") && self <= UInt8(ascii: "F"))
    }
}
