import Foundation
import GreffeCore
@testable import GreffeHTTP
import GreffeLedger
import GreffeServer
import Hummingbird
import HummingbirdTesting
import Testing

/// Every request limit of the API, each answered with a 4xx (or 503) and a
/// JSON `{"error": …}`. Router-level limits run in-process; limits the HTTP
/// server enforces before the router (head sizes, slow clients, connection
/// count) run against a live server on a loopback port with raw sockets.
@Suite("request limits")
struct LimitsTests {
    // MARK: - Limits the router enforces

    @Test("JSON nested deeper than 32 levels is 400, in an event and in a batch")
    func jsonDepth() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
            for body in [
                "{\"event_id\":\"d-1\",\"kind\":\"legal.request\",\"extra\":\(deep)}",
                "{\"events\":[\(deep)]}",
            ] {
                let response = try await client.execute(uri: "/v1/events", method: .post, headers: bearer(test.appendToken), body: jsonBody(body))
                #expect(response.status == .badRequest)
                #expect(try response.json["error"]?.stringValue?.contains("deep") == true, "\(response.text)")
            }
            // At the limit it parses, and is judged by the schema instead.
            let nested = String(repeating: "[", count: 30) + String(repeating: "]", count: 30)
            let shallow = try await client.execute(
                uri: "/v1/events", method: .post, headers: bearer(test.appendToken),
                body: jsonBody("{\"event_id\":\"d-2\",\"kind\":\"legal.request\",\"extra\":\(nested)}"))
            #expect(shallow.status == .unprocessableContent)
        }
        #expect(try await test.store.treeSize() == 0)
    }

    @Test("bodies past each endpoint's size are 413 with a JSON error: bundle query 1 MiB, erasure order 64 KiB")
    func bodySizes() async throws {
        let test = try await TestLedger.make()
        let admin = try await TokenAuthority(store: test.store).create(name: "admin-limits", role: .admin).token
        try await test.withClient { client in
            let bigQuery = "{\"event_ids\":[\"" + String(repeating: "x", count: 1 << 20) + "\"]}"
            let bundle = try await client.execute(
                uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken), body: jsonBody(bigQuery))
            #expect(bundle.status == .contentTooLarge)
            #expect(try bundle.json["error"]?.stringValue?.isEmpty == false)
            let bigOrder = "{\"legal_reference\":\"" + String(repeating: "x", count: 70_000) + "\",\"reason\":\"r\"}"
            let erasure = try await client.execute(
                uri: "/v1/events/0/erasure", method: .post, headers: bearer(admin), body: jsonBody(bigOrder))
            #expect(erasure.status == .contentTooLarge)
            #expect(try erasure.json["error"]?.stringValue?.isEmpty == false)
        }
    }

    @Test("search pages are 1 to 1000 events: limit=0 and limit=1001 are 400")
    func searchPageSize() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            for limit in ["0", "1001", "99999999999999999999"] {
                let response = try await client.execute(
                    uri: "/v1/events?kind=legal.request&limit=\(limit)", method: .get, headers: bearer(test.investigateToken))
                #expect(response.status == .badRequest, "limit=\(limit)")
                #expect(try response.json["error"]?.stringValue?.isEmpty == false)
            }
        }
    }

    @Test("a bundle query matching more events than a bundle may hold is 422 with a JSON error; at the limit it is served")
    func bundleSize() async throws {
        let test = try await TestLedger.make()
        var api = LedgerAPI(ledger: test.ledger)
        api.maxBundleEvents = 3
        try await buildApplication(api: api, configuration: ServeConfiguration(address: .hostname("127.0.0.1", port: 0))).test(.router) { client in
            _ = try await appendEvents(5, prefix: "b", client: client, token: test.appendToken)
            _ = try await waitForCheckpoint(size: 5, client: client)
            let tooMany = try await client.execute(
                uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken), body: jsonBody("{\"index_range\":{\"from\":0,\"to\":5}}"))
            #expect(tooMany.status == .unprocessableContent)
            #expect(try tooMany.json["error"]?.stringValue?.contains("more than 3 events") == true)
            let atLimit = try await client.execute(
                uri: "/v1/bundles", method: .post, headers: bearer(test.investigateToken), body: jsonBody("{\"index_range\":{\"from\":0,\"to\":3}}"))
            #expect(atLimit.status == .ok)
        }
        await test.stop()
    }

    // MARK: - Limits the HTTP server enforces before the router

    static func limits() -> HTTPLimits {
        var limits = HTTPLimits()
        limits.maxHeaderLineBytes = 4096
        limits.maxHeadBytes = 16 * 1024
        limits.maxHeaderFields = 20
        limits.headTimeout = .seconds(1)
        limits.bodyTimeout = .seconds(1)
        limits.maxConnections = 6
        return limits
    }

    /// Runs `body` with the port of a live server built as `greffe serve` builds it, with `limits()`.
    func withLiveServer(
        _ test: TestLedger, limits: HTTPLimits = LimitsTests.limits(), _ body: @escaping @Sendable (Int) async throws -> Void
    ) async throws {
        let app = try buildApplication(
            api: LedgerAPI(ledger: test.ledger), configuration: ServeConfiguration(address: .hostname("127.0.0.1", port: 0), limits: limits))
        try await app.test(.live) { client in try await body(try #require(client.port)) }
        await test.stop()
    }

    @Test("an oversized request line, header line or header count is 431 with a JSON error, then the connection closes")
    func oversizedHeads() async throws {
        let test = try await TestLedger.make()
        try await withLiveServer(test) { port in
            let heads: [String: String] = [
                "long header line": "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "a", count: 5000))\r\n\r\n",
                "long URL": "GET /v1/proofs/consistency?first=1&second=2&x=\(String(repeating: "a", count: 5000)) HTTP/1.1\r\nHost: t\r\n\r\n",
                "too many header fields": "GET /healthz HTTP/1.1\r\n" + (0..<30).map { "X-H\($0): v\r\n" }.joined() + "\r\n",
                "too many bytes in all": "GET /healthz HTTP/1.1\r\n" + (0..<5).map { "X-H\($0): \(String(repeating: "b", count: 4000))\r\n" }.joined() + "\r\n",
            ]
            for (name, head) in heads {
                let answer = try RawConnection(port: port).exchange(Array(head.utf8))
                #expect(answer.status == 431, "\(name): \(answer.raw.prefix(200))")
                #expect(answer.jsonError?.contains("too large") == true, "\(name)")
                #expect(answer.closed, "\(name): the connection stays open")
            }
            // Just under every limit is served.
            let fine = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + (0..<15).map { "X-H\($0): \(String(repeating: "c", count: 900))\r\n" }.joined() + "\r\n"
            // Served, not refused: under the whole suite's load the answer may take longer than a refusal.
            let fineAnswer = try RawConnection(port: port).exchange(Array(fine.utf8), seconds: 30)
            #expect(fineAnswer.status == 200, "\(fineAnswer.raw.prefix(300))")
            // A malformed request line is 400, also with a JSON error.
            let garbage = try RawConnection(port: port).exchange(Array("NOT HTTP AT ALL\r\n\r\n".utf8))
            #expect(garbage.status == 400)
            #expect(garbage.jsonError?.isEmpty == false)
        }
    }

    @Test("headers sent slowly are cut off at the head deadline with 408 and a JSON error")
    func slowHeaders() async throws {
        let test = try await TestLedger.make()
        try await withLiveServer(test) { port in
            let connection = try RawConnection(port: port)
            let start = ContinuousClock.now
            try connection.send(Array("GET /healthz HTTP/1.1\r\nHost: t\r\n".utf8))
            // One header byte every 100 ms: the connection is never idle, but the head never ends.
            var sent = 0
            while connection.peekClosedOrData(timeoutMilliseconds: 100) == false, sent < 30 {
                try? connection.send(Array("X".utf8))
                sent += 1
            }
            let answer = connection.readAll()
            let elapsed = ContinuousClock.now - start
            #expect(answer.status == 408, "\(answer.raw.prefix(200))")
            #expect(answer.jsonError?.contains("head not received") == true)
            #expect(answer.closed)
            #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(5), "cut off after \(elapsed)")
        }
    }

    @Test("a body sent slowly is cut off at the body deadline with 408 and a JSON error; nothing is appended")
    func slowBody() async throws {
        let test = try await TestLedger.make()
        let token = test.appendToken
        try await withLiveServer(test) { port in
            let body = Array(event("slow-1").utf8)
            let connection = try RawConnection(port: port)
            try connection.send(Array(
                ("POST /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.count)\r\n\r\n").utf8))
            var offset = 0
            let start = ContinuousClock.now
            while offset < body.count - 1, connection.peekClosedOrData(timeoutMilliseconds: 100) == false {
                try? connection.send([body[offset]])
                offset += 1
            }
            let answer = connection.readAll()
            let elapsed = ContinuousClock.now - start
            #expect(answer.status == 408, "\(answer.raw.prefix(200))")
            #expect(answer.jsonError?.contains("body not received") == true)
            #expect(answer.closed)
            #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(5), "cut off after \(elapsed)")
        }
        #expect(try await test.store.treeSize() == 0)
    }

    @Test("past the connection cap the oldest idle connection, or the oldest still sending its head, is closed; when every one is busy the new one gets 503 with a JSON error")
    func connectionCap() async throws {
        let test = try await TestLedger.make()
        let token = test.appendToken
        // Deadlines long enough that no head or body reaches one while the slots fill, even on a loaded machine.
        var slowLimits = LimitsTests.limits()
        slowLimits.headTimeout = .seconds(3)
        slowLimits.bodyTimeout = .seconds(3)
        let cap = slowLimits.maxConnections
        try await withLiveServer(test, limits: slowLimits) { port in
            // The test framework's own client holds one idle connection, the oldest: the last of these displaces it.
            try await Task.sleep(for: .milliseconds(200))
            var idle: [RawConnection] = []
            for _ in 0..<cap {
                idle.append(try RawConnection(port: port))
                try await Task.sleep(for: .milliseconds(50))  // admitted in connect order, though on several event loops
            }
            // One more: served, and the oldest idle connection makes room.
            let extra = try RawConnection(port: port).exchange(Array("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".utf8))
            #expect(extra.status == 200)
            // The displaced connection sees its end within moments.
            _ = idle[0].peekClosedOrData(timeoutMilliseconds: 2000)
            let closed = idle.indices.filter { idle[$0].peekClosedOrData(timeoutMilliseconds: 0) }
            #expect(closed == [0], "closed: \(closed)")
            idle.forEach { $0.close() }
            try await Task.sleep(for: .milliseconds(200))

            // Every slot taken by a request head in progress: a head proves nothing, so the one at it longest makes room.
            let heads = try (0..<cap).map { _ in try RawConnection(port: port) }
            for connection in heads {
                try connection.send(Array("GET /healthz HTTP/1.1\r\nHost: t\r\n".utf8))
                try await Task.sleep(for: .milliseconds(50))
            }
            try await Task.sleep(for: .milliseconds(200))  // every head under way, none yet at its deadline
            let served = try RawConnection(port: port).exchange(Array("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".utf8))
            #expect(served.status == 200, "\(served.raw.prefix(200))")
            _ = heads[0].peekClosedOrData(timeoutMilliseconds: 2000)
            let cut = heads.indices.filter { heads[$0].peekClosedOrData(timeoutMilliseconds: 0) }
            #expect(cut == [0], "closed: \(cut)")
            heads.forEach { $0.close() }
            try await Task.sleep(for: .milliseconds(200))

            // Every slot busy with an authenticated request whose body is still coming: the next connection is refused.
            let busy = try (0..<cap).map { _ in try RawConnection(port: port) }
            for connection in busy {
                try connection.send(Array(
                    "POST /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{".utf8))
            }
            try await Task.sleep(for: .milliseconds(300))  // every body under way, none yet at its deadline
            let refused = try RawConnection(port: port).exchange(Array("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n".utf8))
            #expect(refused.status == 503, "\(refused.raw.prefix(200))")
            #expect(refused.jsonError?.contains("connections") == true)
            #expect(refused.closed)
            // The busy ones end at their body deadline (the clients keep their side open), and the server takes new clients again.
            for connection in busy { #expect(connection.readAll().status == 408) }
            try await Task.sleep(for: .milliseconds(100))
            let after = try RawConnection(port: port).exchange(Array("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".utf8))
            #expect(after.status == 200, "\(after.raw.prefix(300))")
        }
    }
}

/// A blocking loopback TCP connection (Linux): what a hostile client sends is exactly what it writes.
final class RawConnection: @unchecked Sendable {
    struct Answer {
        let raw: String
        /// The connection was closed by the server (end of stream) after the answer.
        let closed: Bool
        var status: Int? {
            guard raw.hasPrefix("HTTP/1.1 ") else { return nil }
            return Int(raw.dropFirst(9).prefix(3))
        }
        /// The `error` member of a JSON body served as application/json.
        var jsonError: String? {
            guard let split = raw.range(of: "\r\n\r\n"), raw[..<split.lowerBound].lowercased().contains("content-type: application/json") else { return nil }
            return (try? JSONParser.parse(String(raw[split.upperBound...])))?["error"]?.stringValue
        }
    }

    private let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    deinit { Glibc.close(fd) }

    func close() { shutdown(fd, Int32(SHUT_RDWR)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw POSIXError(.EPIPE) }
            offset += sent
        }
    }

    /// True once the server has sent something or closed; waits up to the timeout.
    func peekClosedOrData(timeoutMilliseconds: Int32) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, timeoutMilliseconds) > 0
    }

    /// Everything the server sends until it closes, or `seconds` pass.
    func readAll(seconds: Int = 5) -> Answer {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return Answer(raw: String(decoding: data, as: UTF8.self), closed: true) }
            if count < 0 { return Answer(raw: String(decoding: data, as: UTF8.self), closed: errno == ECONNRESET) }
            data += buffer[..<count]
        }
    }

    /// Sends `request` (the server may answer before reading all of it) and reads the answer.
    func exchange(_ request: [UInt8], seconds: Int = 5) throws -> Answer {
        try? send(request)
        return readAll(seconds: seconds)
    }
}
