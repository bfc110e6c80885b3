import Foundation
import GreffeCore
import GreffeLedger
import GreffeServer
import GreffeStore
import Hummingbird
import HummingbirdTesting
import Testing
import GreffeSQLite

/// A ledger on a fresh SQLite file with its sequencer running, plus tokens of every role.
struct TestLedger {
    let directory: URL
    let store: SQLiteStore
    let signer: NoteSigner
    let ledger: Ledger
    let running: Task<Void, Never>
    var appendToken = ""
    var investigateToken = ""

    static func make(directory: URL? = nil, signer: NoteSigner? = nil, interval: Duration = .milliseconds(20)) async throws -> TestLedger {
        let directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("greffe-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: directory.appendingPathComponent("greffe.sqlite").path)
        let signer = try signer ?? NoteSigner(generatingFor: "test.example/log")
        let ledger = try await Ledger.open(store: store, signer: signer, checkpointInterval: interval)
        let running = Task { await ledger.run() }
        var test = TestLedger(directory: directory, store: store, signer: signer, ledger: ledger, running: running)
        let authority = TokenAuthority(store: store)
        let suffix = UUID().uuidString.prefix(8)
        test.appendToken = try await authority.create(name: "platform-\(suffix)", role: .append, platform: "example-ai").token
        test.investigateToken = try await authority.create(name: "investigator-\(suffix)", role: .investigate).token
        return test
    }

    /// Stops the ledger as SIGTERM would: queued appends commit, a last checkpoint is signed.
    func stop() async {
        ledger.shutdown()
        await running.value
    }

    /// The application `greffe serve` runs (`buildApplication`), on this ledger.
    func application(rateLimiter: RateLimiter = RateLimiter(), configure: (inout LedgerAPI) -> Void = { _ in }) throws -> some ApplicationProtocol {
        var api = LedgerAPI(ledger: ledger)
        api.rateLimiter = rateLimiter
        configure(&api)
        return try buildApplication(api: api, configuration: ServeConfiguration(address: .hostname("127.0.0.1", port: 0)))
    }

    /// Runs `body` against the API in-process, then stops the ledger.
    func withClient<T: Sendable>(
        rateLimiter: RateLimiter = RateLimiter(), configure: (inout LedgerAPI) -> Void = { _ in }, _ body: @Sendable (any TestClientProtocol) async throws -> T
    ) async throws -> T {
        let result = try await application(rateLimiter: rateLimiter, configure: configure).test(.router, body)
        await stop()
        return result
    }
}

extension TestResponse {
    var json: JSONValue {
        get throws { try JSONParser.parse(Array(buffer: body)) }
    }

    var text: String { String(buffer: body) }
}

func bearer(_ token: String) -> HTTPFields {
    [.authorization: "Bearer \(token)", .contentType: "application/json"]
}

func jsonBody(_ text: String) -> ByteBuffer {
    ByteBuffer(string: text)
}

/// A minimal valid event (a `legal.request`); `reference` varies its body.
func event(_ id: String, reference: String = "REF-1") -> String {
    "{\"event_id\":\"\(id)\",\"kind\":\"legal.request\",\"occurred_at\":\"2026-11-25T10:00:00Z\",\"platform\":\"example-ai\","
        + "\"schema_version\":1,\"authority\":\"Parquet de Paris\",\"reference\":\"\(reference)\",\"direction\":\"received\","
        + "\"request_type\":\"preservation\"}"
}

func batch(_ events: [String]) -> String {
    "{\"events\":[\(events.joined(separator: ","))]}"
}

extension JSONValue {
    var uint64: UInt64? { intValue.map { UInt64($0) } }
    var hash: Hash? { stringValue.flatMap { Hash(base64: $0) } }
    var hashes: [Hash]? {
        guard let items = arrayValue else { return nil }
        let hashes = items.compactMap(\.hash)
        return hashes.count == items.count ? hashes : nil
    }
}
