// A throwaway RFC 3161 PKI and TSA for the tests, made at test time with the
// openssl CLI (ops/tests/tsa-ca.sh): CA, TSA certificate, an unrelated CA,
// and `openssl ts -reply` answering our DER requests.

import Foundation
import GreffeCore
import GreffeTimestamp
import Synchronization

/// Where this test process keeps its PKI.
let testPKIDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-tsa-\(UUID().uuidString)")

struct TestTSA: Sendable {
    let directory: URL

    static let defaultPolicy = "1.3.6.1.4.1.59999.1"
    static let otherPolicy = "1.3.6.1.4.1.59999.2"

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// One PKI for the whole run: made once, on first use (half a second).
    static let shared: Result<TestTSA, Failure> = {
        do { return .success(try TestTSA()) } catch let error as Failure { return .failure(error) } catch {
            return .failure(Failure(description: "\(error)"))
        }
    }()

    static func make() throws -> TestTSA { try shared.get() }

    private init() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        directory = testPKIDirectory
        try TestTSA.run("/bin/bash", [root.appendingPathComponent("ops/tests/tsa-ca.sh").path, directory.path])
        // Removed when the test process ends (a closure that captures nothing is a C function pointer).
        atexit { try? FileManager.default.removeItem(at: testPKIDirectory) }
    }

    func pem(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    func trust(_ name: String = "ca.pem", policy: String? = nil) throws -> TimestampTrust {
        try TimestampTrust(pem: pem(name), policy: policy)
    }

    /// `openssl ts -reply` rewrites its serial file: one at a time, or two answers race for it.
    private static let serialFile = Mutex(())

    /// The DER TimeStampResp `openssl ts -reply` gives for `request`.
    func reply(to request: [UInt8]) throws -> [UInt8] {
        try TestTSA.serialFile.withLock { _ in try replyAlone(to: request) }
    }

    private func replyAlone(to request: [UInt8]) throws -> [UInt8] {
        let name = UUID().uuidString
        let query = directory.appendingPathComponent("\(name).tsq")
        let answer = directory.appendingPathComponent("\(name).tsr")
        try Data(request).write(to: query)
        defer {
            try? FileManager.default.removeItem(at: query)
            try? FileManager.default.removeItem(at: answer)
        }
        try TestTSA.run(
            "/usr/bin/env",
            ["openssl", "ts", "-reply", "-config", directory.appendingPathComponent("tsa.cnf").path, "-queryfile", query.path, "-out", answer.path])
        return Array(try Data(contentsOf: answer))
    }

    /// A verified token over `imprint` (the happy path every tamper test starts from).
    func token(imprint: Hash, policy: String? = nil) throws -> (token: [UInt8], request: TimestampRequest) {
        let request = try Timestamp.request(imprint: imprint, policy: policy)
        return (try Timestamp.token(fromResponse: try reply(to: request.der)), request)
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(arguments.prefix(3).joined(separator: " ")) failed: \(text.suffix(500))")
        }
        return text
    }
}

/// Bytes of `needle` in `haystack`, or nil.
func position(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard needle.count <= haystack.count else { return nil }
    for start in 0...(haystack.count - needle.count) where haystack[start..<start + needle.count].elementsEqual(needle) { return start }
    return nil
}
