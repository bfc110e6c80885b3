import ArgumentParser
import Crypto
import Foundation
import GreffeCore
import GreffeImage
import GreffeVerify

/// `greffe lookup`: the public lookup from the command line, with every certificate checked
/// locally against the key the user gives (the server is not trusted to say "verified").
struct LookupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookup",
        abstract: "Ask a ledger whether an image was recorded as the input or output of a generation or edit (GET /v1/lookup, no token).",
        discussion: """
            The image is hashed here; only its hash is sent. Each entry found comes with a certificate that proves the \
            image's hash and the decision's outcome and nothing else of the event; with --vkey each is verified here, \
            and with --out each is saved as INDEX.greffe-certificate.json (shard-K-INDEX… on a ledger with temporal shards) for `greffe verify`.
            """)

    @Option(name: .long, help: "The ledger's base URL, e.g. https://ledger.example.")
    var url: String

    @Option(name: .long, help: "An image file: its SHA-256 is asked (PNG or JPEG files also by PDQ when greffe can decode them).")
    var image: String?

    @Option(name: .long, help: "An image's SHA-256 (64 hex digits).")
    var sha256: String?

    @Option(name: .long, help: "An image's PDQ hash (64 hex digits): matches within Hamming distance 31.")
    var pdq: String?

    @Option(name: .long, help: "An image's C2PA manifest SHA-256 (64 hex digits).")
    var c2pa: String?

    @Option(name: .long, help: "The ledger's verifier key (file or key): verify every certificate here.")
    var vkey: String?

    @Option(name: .long, help: "Save each certificate into this directory as INDEX.greffe-certificate.json (shard-K-INDEX.greffe-certificate.json on a ledger with temporal shards).")
    var out: String?

    @Option(name: .long, help: "text or json (the server's answers, one per hash asked).")
    var format: String = "text"

    func validate() throws {
        let given = [image, sha256, pdq, c2pa].compactMap { $0 }.count
        guard given == 1 else { throw ValidationError("give one of --image, --sha256, --pdq, --c2pa") }
        for (name, value) in [("--sha256", sha256), ("--pdq", pdq), ("--c2pa", c2pa)] {
            if let value, value.utf8.count != 64 || !value.allSatisfy(\.isHexDigit) { throw ValidationError("\(name) must be 64 hex digits") }
        }
        guard ["text", "json"].contains(format) else { throw ValidationError("--format must be text or json") }
    }

    func run() async throws {
        let verifiers = try vkey.map { try loadVerifiers([$0]) }
        var queries: [(parameter: String, hash: String)] = []
        if let image {
            guard let data = FileManager.default.contents(atPath: image) else { throw CommandFailure("cannot read \(image)") }
            queries.append(("sha256", SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()))
            // PDQ finds the picture after re-encoding, resizing or a small crop; only PNG and JPEG are decoded.
            do {
                queries.append(("pdq", try ImageHashes.compute(fileBytes: Array(data)).pdq.description))
            } catch {
                if format == "text" { print("(not asked by PDQ: \(error))") }
            }
        }
        if let sha256 { queries.append(("sha256", sha256.lowercased())) }
        if let pdq { queries.append(("pdq", pdq.lowercased())) }
        if let c2pa { queries.append(("c2pa_manifest_sha256", c2pa.lowercased())) }
        if let out { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) }

        let ledger = try HTTPLog(url: url, connections: 2)
        let failures: Int
        do {
            failures = try await ask(ledger, queries: queries, verifiers: verifiers)
        } catch {
            try? await ledger.client.shutdown()
            throw error
        }
        try? await ledger.client.shutdown()
        if failures > 0 { throw ExitCode(1) }
    }

    /// Asks each query, prints what was found, verifies and saves certificates; returns how many failed.
    private func ask(_ ledger: HTTPLog, queries: [(parameter: String, hash: String)], verifiers: [NoteVerifier]?) async throws -> Int {
        var seen = Set<UInt64>()
        var failures = 0
        for (parameter, hash) in queries {
            let bytes = try await ledger.get("v1/lookup?\(parameter)=\(hash)", limit: 16 << 20)
            if format == "json" {
                print(String(decoding: bytes, as: UTF8.self))
            }
            let answer = try JSONParser.parse(bytes)
            let matches = answer["matches"]?.arrayValue ?? []
            if format == "text" {
                print(matches.isEmpty ? "By \(parameter): nothing recorded." : "By \(parameter): \(matches.count) entr\(matches.count == 1 ? "y" : "ies") found.")
            }
            for match in matches {
                guard let index = match["index"]?.doubleValue.map({ UInt64($0) }), seen.insert(index).inserted else { continue }
                let kind = match["kind"]?.stringValue ?? "?"
                // A sharded ledger's match names its shard: the index is that shard's.
                let shard = match["shard"]?.intValue
                var line = "  \(shard.map { "shard \($0) " } ?? "")entry \(index): \(kind), recorded \(match["recorded_at"]?.stringValue ?? "?")"
                if let roles = match["roles"]?.arrayValue?.compactMap(\.stringValue) { line += ", the image as \(roles.joined(separator: " and "))" }
                if let distance = match["distance"]?.doubleValue { line += ", PDQ distance \(Int(distance))" }
                if let outcome = match["outcome"]?.stringValue { line += ", outcome \(outcome)" }
                guard let certificate = match["certificate"], certificate.objectValue != nil else {
                    if format == "text" { print(line + " (no certificate: \(match["no_certificate"]?.stringValue ?? "none given"))") }
                    continue
                }
                if let verifiers {
                    do {
                        let verified = try DisclosureCertificate(parsing: certificate).verify(verifiers: verifiers)
                        guard verified.index == index, verified.kind == kind else { throw CommandFailure("the certificate is for entry \(verified.index), not \(index)") }
                        if let shard, let base = verifiers.first?.name, Shards.number(origin: verified.origin, base: base) != shard {
                            throw CommandFailure("the certificate is of the log \(verified.origin), not of shard \(shard)")
                        }
                        line += ": certificate VERIFIED"
                    } catch {
                        failures += 1
                        line += ": certificate NOT VERIFIED (\(error))"
                    }
                }
                if let out {
                    let path = (out as NSString).appendingPathComponent("\(shard.map { "shard-\($0)-" } ?? "")\(index).greffe-certificate.json")
                    try Data(certificate.canonicalBytes()).write(to: URL(fileURLWithPath: path))
                    line += " → \(path)"
                }
                if format == "text" { print(line) }
            }
        }
        return failures
    }
}
