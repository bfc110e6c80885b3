// A throwaway RFC 3161 PKI and TSA for the tests, made at test time with the
// openssl CLI (ops/tests/tsa-ca.sh): CA, TSA certificate, an unrelated CA,
// and `openssl ts -reply` answering our DER requests.

public import Foundation
public import GreffeCore
public import GreffeTimestamp
import Synchronization

/// Where this test process keeps its PKI.
let testPKIDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-tsa-\(UUID().uuidString)")

public struct TestTSA: Sendable {
    public let directory: URL
    private let script: String

    public static let defaultPolicy = "1.3.6.1.4.1.59999.1"
    public static let otherPolicy = "1.3.6.1.4.1.59999.2"

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// One PKI for the whole run: made once, on first use (half a second).
    public static let shared: Result<TestTSA, Failure> = {
        do { return .success(try TestTSA()) } catch let error as Failure { return .failure(error) } catch {
            return .failure(Failure(description: "\(error)"))
        }
    }()

    public static func make() throws -> TestTSA { try shared.get() }

    private init() throws {
        // Tests/Support/GreffeTestTSA/TestTSA.swift → the repository root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        directory = testPKIDirectory
        script = root.appendingPathComponent("ops/tests/tsa-ca.sh").path
        try TestTSA.run("/bin/bash", [script, directory.path])
        // Removed when the test process ends (a closure that captures nothing is a C function pointer).
        atexit { try? FileManager.default.removeItem(at: testPKIDirectory) }
    }

    public func pem(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    public func trust(_ name: String = "ca.pem", policy: String? = nil) throws -> TimestampTrust {
        try TimestampTrust(pem: pem(name), policy: policy)
    }

    /// `openssl ts -reply` rewrites its serial file: one at a time, or two answers race for it.
    private static let serialFile = Mutex(())

    /// Another TSA certificate from the same CA, `NAME.pem`, valid from an hour ago to
    /// `seconds` from now, answering with `reply(to:as: NAME)`; the same name is issued once.
    public func issueTSA(_ name: String, validForSeconds seconds: Int) throws {
        try TestTSA.serialFile.withLock { _ in
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("\(name).cnf").path) { return }
            try TestTSA.run("/bin/bash", [script, directory.path, "--tsa", name, String(seconds)])
        }
    }

    /// The DER TimeStampResp `openssl ts -reply` gives for `request`, signed by `tsa.pem`
    /// or by the TSA `issueTSA` made under `name`.
    public func reply(to request: [UInt8], as name: String = "tsa") throws -> [UInt8] {
        try TestTSA.serialFile.withLock { _ in try replyAlone(to: request, config: "\(name).cnf") }
    }

    private func replyAlone(to request: [UInt8], config: String) throws -> [UInt8] {
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
            ["openssl", "ts", "-reply", "-config", directory.appendingPathComponent(config).path, "-queryfile", query.path, "-out", answer.path])
        return Array(try Data(contentsOf: answer))
    }

    /// A verified token over `imprint` (the happy path every tamper test starts from).
    public func token(imprint: Hash, policy: String? = nil, as name: String = "tsa") throws -> (token: [UInt8], request: TimestampRequest) {
        let request = try Timestamp.request(imprint: imprint, policy: policy)
        return (try Timestamp.token(fromResponse: try reply(to: request.der, as: name)), request)
    }

    @discardableResult
    public static func run(_ executable: String, _ arguments: [String]) throws -> String {
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
