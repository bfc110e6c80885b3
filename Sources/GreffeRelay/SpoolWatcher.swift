public import Foundation
import GreffeHTTP
public import Logging
import Metrics
public import ServiceLifecycle

/// Takes JSON-lines files dropped in a spool directory (`Schemas/relay.md`):
/// one event per non-empty line, a file taken whole or not at all.
///
/// A producer writes `NAME.jsonl.tmp` (or any name starting with `.`) and
/// renames it to `NAME.jsonl` when complete, so a half-written file is never
/// read. A file whose every line is a valid event is queued in one durable
/// transaction, then moved to `done/`; a file with a bad line is queued not at
/// all and moved to `rejected/` with `NAME.jsonl.error` beside it saying which
/// lines and why. A crash between the queueing and the move re-reads the file:
/// its events are then duplicates of what is queued, and nothing is doubled.
public struct SpoolWatcher: Service {
    let directory: URL
    let api: RelayAPI
    let logger: Logger
    /// A file larger than this is rejected unread (a spool is for batches, not archives).
    public static let maxFileBytes = 64 << 20
    let interval: Duration
    private let taken = Counter(label: "greffe_relay_spool_files_total", dimensions: [("outcome", "queued")])
    private let rejectedFiles = Counter(label: "greffe_relay_spool_files_total", dimensions: [("outcome", "rejected")])

    public init(directory: URL, api: RelayAPI, logger: Logger, interval: Duration = .milliseconds(500)) throws {
        self.directory = directory
        self.api = api
        self.logger = logger
        self.interval = interval
        for sub in ["done", "rejected"] {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.scanOnce()
                try? await Task.sleep(for: self.interval)
            }
        }
    }

    /// Takes every complete file now in the directory, oldest name first; returns how many files it handled.
    @discardableResult
    public func scanOnce() async -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else {
            logger.error("cannot read the spool directory", metadata: ["spool": "\(directory.path)"])
            return 0
        }
        var handled = 0
        for name in names.sorted() where name.hasSuffix(".jsonl") && !name.hasPrefix(".") {
            let file = directory.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            if await take(file, name: name) { handled += 1 } else { break }
        }
        return handled
    }

    /// False when the file must be tried again later (the queue could not be written).
    private func take(_ file: URL, name: String) async -> Bool {
        let problems: [String]
        do {
            let size = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.intValue ?? 0
            if size > Self.maxFileBytes {
                problems = ["the file has \(size) bytes; at most \(Self.maxFileBytes) are taken (split it)"]
            } else {
                problems = try await queueLines(of: try Data(contentsOf: file))
            }
        } catch let error as APIError where error.status == .serviceUnavailable {
            // The quota or the disk: the file stays where it is and is tried again.
            logger.warning("spool file left for later", metadata: ["file": "\(name)", "reason": "\(error.message)"])
            return false
        } catch {
            problems = ["the file cannot be read: \(error)"]
        }
        let outcome = problems.isEmpty ? "done" : "rejected"
        let target = directory.appendingPathComponent(outcome).appendingPathComponent(name)
        do {
            if !problems.isEmpty {
                let report = problems.joined(separator: "\n") + "\n"
                try Data(report.utf8).write(to: target.appendingPathExtension("error"), options: .atomic)
            }
            try? FileManager.default.removeItem(at: target)
            try FileManager.default.moveItem(at: file, to: target)
        } catch {
            logger.error("cannot move a spool file", metadata: ["file": "\(name)", "error": "\(error)"])
            return false
        }
        if problems.isEmpty {
            taken.increment()
        } else {
            rejectedFiles.increment()
            logger.warning("spool file rejected: nothing of it was queued", metadata: ["file": "\(name)", "problems": "\(problems.count)"])
        }
        return true
    }

    /// Every line checked first; then all events queued together. The problems, one per bad line, or none.
    private func queueLines(of data: Data) async throws -> [String] {
        let bytes = [UInt8](data)
        var problems: [String] = []
        var events: [[UInt8]] = []
        var lineNumber = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            var text = Array(line)
            if text.last == UInt8(ascii: "\r") { text.removeLast() }
            if text.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            do {
                let parsed = try api.intake.parse(text)
                guard !parsed.isBatch else {
                    problems.append("line \(lineNumber): one event per line, not a batch object")
                    continue
                }
                guard parsed.events[0].platform == api.platform else {
                    problems.append("line \(lineNumber): the event is for platform \"\(parsed.events[0].platform.prefix(64))\", but this relay forwards for \"\(api.platform)\"")
                    continue
                }
                events.append(text)
            } catch {
                problems.append("line \(lineNumber): \(error.message)")
            }
            if problems.count >= 100 {
                problems.append("(stopped after 100 problems)")
                break
            }
        }
        if !problems.isEmpty { return problems }
        if events.isEmpty { return [] }
        // In batches the ledger's limits allow: one transaction each (a file of more than
        // maxEventsPerRequest is queued in parts; a crash between parts re-reads it as duplicates).
        let chunk = api.intake.maxEventsPerRequest
        for start in stride(from: 0, to: events.count, by: chunk) {
            var body: [UInt8] = Array(#"{"events":["#.utf8)
            for (position, event) in events[start..<min(start + chunk, events.count)].enumerated() {
                if position > 0 { body.append(UInt8(ascii: ",")) }
                body += event
            }
            body += Array("]}".utf8)
            do {
                _ = try await api.admit(body)
            } catch let error as APIError where error.status == .serviceUnavailable {
                throw error
            } catch let error as APIError {
                // Within the file (an ID twice with different bodies, or already queued differently).
                return ["events \(start + 1)–\(min(start + chunk, events.count)): \(error.message)"]
            }
        }
        return []
    }
}
