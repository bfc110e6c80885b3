import Foundation
import GreffeServer
import Hummingbird
import Testing

@Suite("Schemas/openapi.yaml")
struct OpenAPITests {
    /// Every route the server registers is documented and every documented path is served.
    @Test func documentedRoutesMatchTheRouter() async throws {
        let test = try await TestLedger.make()
        let router = Router()
        LedgerAPI(ledger: test.ledger).addRoutes(to: router)
        await test.stop()
        let served = Set(router.routes.map { "\($0.method.rawValue) \(OpenAPITests.normalise("\($0.path)"))" })

        let specURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Schemas/openapi.yaml")
        let spec = try String(contentsOf: specURL, encoding: .utf8)
        var documented: Set<String> = []
        var path: String?
        for line in spec.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /") && line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if !line.hasPrefix("   ") && !line.hasPrefix("  /") {
                path = nil
            } else if let current = path, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast().uppercased()
                if ["GET", "POST", "PUT", "DELETE", "PATCH"].contains(method) {
                    documented.insert("\(method) \(OpenAPITests.normalise(current))")
                }
            }
        }
        #expect(!documented.isEmpty)
        #expect(served == documented)
    }

    /// The tile routes are one wildcard route in the router and two templated paths in OpenAPI; a
    /// shard's mount (`/v1/shards/<k>/…`) is one wildcard route and one templated path.
    static func normalise(_ path: String) -> String {
        let path = path.hasPrefix("/") ? path : "/" + path
        if path.hasPrefix("/v1/shards/") { return "/v1/shards/{shard}/**" }
        return path.hasPrefix("/tile/") ? "/tile/**" : path
    }
}
