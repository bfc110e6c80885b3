import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing
import GreffeSQLite

/// Bearer tokens and the signing key never appear in a response (body or
/// header) or a log line, whatever token a request carries. `ops/tests/secrets.sh`
/// does the same against a real `greffe serve` at `--log-level trace`, with /metrics.
@Suite("Secrets never leak")
struct SecretsTests {
    @Test("no response body or header, and no log line, holds a token or the signing key")
    func noSecretInResponsesOrLogs() async throws {
        let capture = LogCapture()
        var logger = Logger(label: "greffe.secrets-test") { _ in CapturingLogHandler(capture: capture) }
        logger.logLevel = .trace

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("greffe.sqlite").path)
        let signer = try NoteSigner(generatingFor: "secrets.example/log")
        let ledger = try await Ledger.open(store: store, signer: signer, checkpointInterval: .milliseconds(20), logger: logger)
        let running = Task { await ledger.run() }

        let authority = TokenAuthority(store: store)
        let append = try await authority.create(name: "platform", role: .append, platform: "example-ai").token
        let investigate = try await authority.create(name: "investigator", role: .investigate).token
        let admin = try await authority.create(name: "admin", role: .admin).token
        let revoked = try await authority.create(name: "former", role: .admin).token
        try await store.revokeToken(name: "former", atMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000))

        let secrets = SecretList(signer: signer, tokens: [append, investigate, admin, revoked])

        // Every way a token can arrive: valid of each role, revoked, near misses, other schemes, none.
        let apiKey = HTTPField.Name("X-Api-Key")!
        let authorizations: [(String, HTTPFields)] = [
            ("append", [.authorization: "Bearer \(append)"]),
            ("investigate", [.authorization: "Bearer \(investigate)"]),
            ("admin", [.authorization: "Bearer \(admin)"]),
            ("revoked", [.authorization: "Bearer \(revoked)"]),
            ("plus one character", [.authorization: "Bearer \(admin)x"]),
            ("minus its last character", [.authorization: "Bearer \(admin.dropLast())"]),
            ("lower-case scheme", [.authorization: "bearer \(investigate)"]),
            ("basic", [.authorization: "Basic \(Data("user:\(admin)".utf8).base64EncodedString())"]),
            ("two spaces", [.authorization: "Bearer  \(append)"]),
            ("token as the scheme", [.authorization: admin]),
            ("token in another header", [apiKey: admin]),
            ("none", [:]),
        ]
        let requests: [(HTTPRequest.Method, String, String?)] = [
            (.post, "/v1/events", event("s-single")),
            (.post, "/v1/events?wait=checkpoint", batch([event("s-b1"), event("s-b2")])),
            (.post, "/v1/events", "{\"events\":[{\"event_id\":\"bad\"}]}"),
            (.post, "/v1/events", "{not json"),
            (.get, "/v1/events?kind=legal.request&limit=5", nil),
            (.get, "/v1/events?kind=NOT%20A%20KIND", nil),
            (.get, "/v1/events/0", nil),
            (.get, "/v1/events/999999", nil),
            (.post, "/v1/bundles", "{\"index_range\":{\"from\":0,\"to\":5}}"),
            (.post, "/v1/bundles", "{\"nonsense\":true}"),
            (.get, "/v1/reports/takedowns", nil),
            (.post, "/v1/events/1/erasure", "{\"legal_reference\":\"x\"}"),
            (.get, "/checkpoint", nil),
            (.get, "/tile/0/000.p/1", nil),
            (.get, "/tile/entries/000.p/1", nil),
            (.get, "/tile/9/000", nil),
            (.get, "/v1/proofs/inclusion?index=0&tree_size=1", nil),
            (.get, "/v1/proofs/consistency?first=1&second=2", nil),
            (.get, "/healthz", nil),
            (.get, "/metrics", nil),
            (.delete, "/v1/events", nil),
        ]

        let app = try buildApplication(api: LedgerAPI(ledger: ledger), configuration: ServeConfiguration(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        let seen = try await app.test(.router) { client in
            var seen: [String: HTTPResponse.Status] = [:]
            // A first event so that reads, proofs and tiles have something to answer with.
            let first = try await client.execute(uri: "/v1/events", method: .post, headers: bearer(append), body: jsonBody(event("s-0")))
            #expect(first.status == .created)
            for (label, authorization) in authorizations {
                for (position, (method, uri, body)) in requests.enumerated() {
                    var headers = authorization
                    headers[.contentType] = "application/json"
                    let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map(jsonBody))
                    let where_ = "\(method) \(uri) with \(label)"
                    seen["\(position) \(label)"] = response.status
                    #expect(response.status.code < 500 || response.status == .serviceUnavailable, "\(where_) answered \(response.status.code)")
                    for field in response.headers {
                        secrets.expectAbsent(in: "\(field.name.rawName): \(field.value)", where: "a header of \(where_)")
                    }
                    secrets.expectAbsent(in: String(buffer: response.body), where: "the body of \(where_)")
                }
            }
            let erased = try await client.execute(
                uri: "/v1/events/0/erasure", method: .post, headers: bearer(admin),
                body: jsonBody("{\"legal_reference\":\"TJ Paris 2026/1\",\"reason\":\"court order\"}"))
            #expect(erased.status == .ok)
            secrets.expectAbsent(in: String(buffer: erased.body), where: "the erasure answer")
            return seen
        }
        ledger.shutdown()
        await running.value

        // The tokens were really exercised: granted, refused for the role, refused as unknown or revoked.
        // (request 0 is the single POST /v1/events, request 6 is GET /v1/events/0)
        #expect(seen["0 append"] == .created)
        #expect(seen["0 admin"] == .forbidden)  // appends need an append token bound to a platform
        #expect(seen["0 investigate"] == .forbidden)
        #expect(seen["6 investigate"] == .ok)
        #expect(seen["6 append"] == .forbidden)
        #expect(seen["6 revoked"] == .unauthorized)
        #expect(seen["6 plus one character"] == .unauthorized)
        #expect(seen["6 minus its last character"] == .unauthorized)
        #expect(seen["6 none"] == .unauthorized)
        #expect(seen.count == authorizations.count * requests.count)

        // Whatever the ledger and the router log at trace (today: nothing on these
        // paths; error paths log the error), none of it may hold a secret.
        for line in capture.lines {
            secrets.expectAbsent(in: line, where: "the log line \"\(line.prefix(120))\"")
        }
    }

    @Test("printing a signer, a token record or the ledger shows no key material")
    func descriptionsHoldNoSecret() async throws {
        let signer = try NoteSigner(generatingFor: "secrets.example/log")
        let secrets = SecretList(signer: signer, tokens: [])
        var dumped = ""
        dump(signer, to: &dumped)
        for (what, text) in [
            ("String(describing: signer)", String(describing: signer)), ("String(reflecting: signer)", String(reflecting: signer)),
            ("dump(signer)", dumped), ("\"\\(signer)\"", "\(signer)"),
        ] {
            secrets.expectAbsent(in: text, where: what)
        }
        let record = TokenRecord(id: 1, name: "n", role: .admin, createdAtMilliseconds: 0, revokedAtMilliseconds: nil)
        let token = BearerToken.generate()
        #expect(!String(describing: record).contains(token))
    }
}

/// The strings that must never be shown: each token, its secret part, the
/// signing key line, its key part, and the 32-byte seed in base64 and hex.
struct SecretList {
    let values: [(name: String, value: String)]

    init(signer: NoteSigner, tokens: [String]) {
        var values: [(String, String)] = []
        let key = signer.signerKey
        values.append(("the signing key", key))
        // PRIVATE+KEY+<name>+<id>+<base64>: the base64 itself may hold '+', so split at the first four only.
        let fields = key.split(separator: "+", maxSplits: 4)
        if fields.count == 5, let keyPart = fields.last {
            values.append(("the signing key's key part", String(keyPart)))
            if let raw = Data(base64Encoded: String(keyPart)), raw.count == 33 {
                let seed = raw.dropFirst()
                values.append(("the seed in base64", seed.base64EncodedString()))
                values.append(("the seed in base64 (prefix)", String(seed.base64EncodedString().prefix(24))))
                values.append(("the seed in hex", seed.map { String(format: "%02x", $0) }.joined()))
                values.append(("the seed's bytes as a Swift array", "\(Array(seed).prefix(8))".dropLast().description))
            }
        }
        for (number, token) in tokens.enumerated() {
            values.append(("token \(number)", token))
            values.append(("token \(number)'s secret part", String(token.dropFirst(4))))
        }
        self.values = values
    }

    func expectAbsent(in text: String, where place: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for (name, value) in values where !value.isEmpty && text.contains(value) {
            Issue.record("\(name) appears in \(place)", sourceLocation: sourceLocation)
        }
    }
}

/// Collects every log line (message, metadata, source) in memory.
final class LogCapture: Sendable {
    private let storage = Mutex<[String]>([])

    func append(_ line: String) { storage.withLock { $0.append(line) } }

    var lines: [String] { storage.withLock { $0 } }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String, file: String,
        function: String, line: UInt
    ) {
        let merged = metadata.merging(explicit ?? [:]) { $1 }
        capture.append("\(level) [\(source)] \(message) \(merged)")
    }
}
