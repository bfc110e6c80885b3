import Foundation
import GreffeCore
import GreffeServer
import Hummingbird
import HummingbirdTesting
import Testing

/// The embedded web pages: in step with `web/`, self-contained where they must
/// be, served under a strict CSP. The browser behaviour itself is tested in
/// Chromium by ops/tests/browser.sh.
@Suite("web pages")
struct WebPageTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the embedded assets equal web/* and Schemas/openapi.yaml byte for byte (run ops/gen-web-assets.py)")
    func embeddedCopiesAreCurrent() throws {
        let web = WebPageTests.root.appendingPathComponent("web")
        var expected = try FileManager.default.contentsOfDirectory(atPath: web.path)
            .filter { $0.hasSuffix(".html") || $0.hasSuffix(".js") || $0.hasSuffix(".css") }.sorted()
            .map { (name: $0, bytes: Array(try Data(contentsOf: web.appendingPathComponent($0)))) }
        expected.append((name: "openapi.yaml", bytes: Array(try Data(contentsOf: WebPageTests.root.appendingPathComponent("Schemas/openapi.yaml")))))
        #expect(WebPages.assets.map(\.name) == expected.map(\.name), "run ops/gen-web-assets.py")
        for (copy, file) in zip(WebPages.assets, expected) {
            #expect(Array(copy.text.utf8) == file.bytes, "\(file.name) differs from its embedded copy: run ops/gen-web-assets.py")
        }
    }

    @Test("verify.html is one file: inline script and style allowed by their hashes, no external reference, the key escaped in")
    func verifierPageIsSelfContained() throws {
        let page = WebPages.verifierPage(verifierKey: "example.org/log+0123abcd+AQ\"<x>")
        let html = page.html
        #expect(!html.contains("{{"), "a placeholder was left")
        let script = try #require(WebPageTests.between(html, "<script>", "</script>"))
        let style = try #require(WebPageTests.between(html, "<style>", "</style>"))
        #expect(page.policy.contains("script-src 'sha256-\(MerkleHash.sha256(Array(script.utf8)).base64)'"))
        #expect(page.policy.contains("style-src 'sha256-\(MerkleHash.sha256(Array(style.utf8)).base64)'"))
        #expect(page.policy.hasPrefix("default-src 'none'"))
        #expect(!page.policy.contains("connect-src"), "the offline verifier must not be allowed to send anything")
        #expect(html.contains("<meta name=\"greffe-lookup-url\" content=\"\">"))
        // Its worker only from a blob of its own script, inheriting this policy (no connect-src either).
        #expect(page.policy.hasSuffix("; worker-src blob:") && page.policy.components(separatedBy: "worker-src").count == 2)
        #expect(html.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"\(page.policy)\">"))
        #expect(html.components(separatedBy: "<script").count == 2, "exactly one script element")
        // In-page anchors (href="#…") are the only links; no URL is quoted anywhere (prose may name a scheme).
        for external in ["src=", "href=\"/", "href=\"h", "href=\"d", "@import", "url(", "\"http", "'http", "`http"] {
            #expect(!html.contains(external), "verify.html refers to something outside itself: \(external)")
        }
        #expect(html.contains("content=\"example.org/log+0123abcd+AQ&quot;&lt;x&gt;\""))
        #expect(WebPages.verifierPage(verifierKey: nil).html.contains("name=\"greffe-verifier-key\" content=\"\""))
    }

    @Test("verify.html's picture lookup may reach its one ledger and nothing else; only a plain http(s) origin is taken")
    func verifierPageLookupTarget() throws {
        for (lookup, source, meta) in [(WebPages.VerifierPageLookup.ledger(origin: "https://ledger.example:8443"), "https://ledger.example:8443", "https://ledger.example:8443"),
                                       (.sameOrigin, "'self'", "self")] {
            let page = WebPages.verifierPage(verifierKey: nil, lookup: lookup)
            #expect(page.policy.contains("; connect-src \(source); "), "\(lookup)")
            #expect(page.policy.components(separatedBy: "connect-src").count == 2 && page.policy.hasPrefix("default-src 'none'"))
            #expect(page.html.contains("<meta name=\"greffe-lookup-url\" content=\"\(meta)\">"))
            #expect(page.html.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"\(page.policy)\">"))
        }
        #expect(WebPages.lookupOrigin("https://Ledger.Example:8443/") == "https://ledger.example:8443")
        #expect(WebPages.lookupOrigin("http://127.0.0.1:8080") == "http://127.0.0.1:8080")
        #expect(WebPages.lookupOrigin("https://ledger.example") == "https://ledger.example")
        // Each of these would widen the policy, inject a directive or break the meta tag.
        for bad in ["https://ledger.example/greffe", "https://ledger.example;script-src *", "https://ledger.example 'unsafe-inline'",
                    "https://ledger.example\"><script>", "javascript:alert(1)", "ftp://ledger.example", "https://", "https://:443",
                    "https://user@ledger.example", "https://ledger.example:99999", "https://ledger.example:+80", "https://*.example",
                    "https://ledger.example?x", "https://ledger.example#x", "https://[::1]:80", "ledger.example", "https://lédger.example"] {
            #expect(WebPages.lookupOrigin(bad) == nil, "\(bad)")
        }
    }

    @Test("the pages are served with a strict CSP; /v1/status counts the appends of the last minutes")
    func servedPages() async throws {
        let test = try await TestLedger.make()
        try await test.withClient { client in
            let appended = try await client.execute(
                uri: "/v1/events?wait=checkpoint", method: .post, headers: bearer(test.appendToken),
                body: jsonBody(batch((0..<7).map { event("web-\($0)") })))
            #expect(appended.status == .created)

            for path in ["/", "/console"] {
                let page = try await client.execute(uri: path, method: .get)
                #expect(page.status == .ok)
                #expect(page.headers[.contentType] == "text/html; charset=utf-8")
                let policy = try #require(page.headers[.contentSecurityPolicy])
                #expect(policy == WebPages.servedPolicy)
                #expect(!policy.contains("unsafe"), "no unsafe-inline or unsafe-eval")
                #expect(!page.text.contains("<script>") && !page.text.contains("style="), "\(path) has inline code the CSP would block")
                #expect(!page.text.contains("//"), "\(path) refers to another origin")
            }
            for (path, type) in [("/assets/greffe.css", "text/css"), ("/assets/status.js", "text/javascript"), ("/assets/console.js", "text/javascript"),
                ("/openapi.yaml", "application/yaml")] {
                let asset = try await client.execute(uri: path, method: .get)
                #expect(asset.status == .ok, "\(path)")
                #expect(asset.headers[.contentType]?.hasPrefix(type) == true, "\(path)")
            }
            let verify = try await client.execute(uri: "/verify.html", method: .get)
            #expect(verify.text.contains("content=\"\(test.signer.verifier.verifierKey)\""), "the served verifier carries the ledger's key")
            #expect(verify.headers[.contentSecurityPolicy] == WebPages.verifierPage(verifierKey: nil, lookup: .sameOrigin).policy)

            let status = try await client.execute(uri: "/v1/status", method: .get)
            #expect(status.status == .ok)
            let json = try status.json
            #expect(json["tree_size"]?.intValue == 7)
            #expect(json["verifier_key"]?.stringValue == test.signer.verifier.verifierKey)
            #expect(json["checkpoint"]?.stringValue?.hasPrefix("test.example/log\n7\n") == true)
            let counts = try #require(json["appends_per_minute"]?["counts"]?.arrayValue).compactMap(\.intValue)
            #expect(counts.count == 180)
            #expect(counts.reduce(0, +) == 7, "all seven appends fall in the last three hours: \(counts.suffix(3))")
            #expect(counts.last! + counts[counts.count - 2] == 7, "and in the last two minutes")
        }
    }

    @Test("/lookup: connections to this origin only, the picture's preview from blob: only, no inline code, no form, no frame; served when the lookup is off")
    func lookupPagePolicy() async throws {
        let policy = WebPages.lookupPolicy
        let directives = Dictionary(
            uniqueKeysWithValues: policy.split(separator: ";").map { part in
                let words = part.split(separator: " ").map(String.init)
                return (words[0], Set(words.dropFirst()))
            })
        // "The picture never leaves the device" rests on these: only this origin may be reached.
        #expect(directives["default-src"] == ["'none'"])
        #expect(directives["connect-src"] == ["'self'"])
        #expect(directives["script-src"] == ["'self'"])
        #expect(directives["style-src"] == ["'self'"])
        #expect(directives["img-src"] == ["'self'", "blob:"])
        #expect(directives["form-action"] == ["'none'"])
        #expect(directives["frame-ancestors"] == ["'none'"])
        #expect(directives["base-uri"] == ["'none'"])
        #expect(directives["worker-src"] == nil && directives["frame-src"] == nil, "falls back to default-src 'none'")
        #expect(!policy.contains("unsafe") && !policy.contains("data:") && !policy.contains("*") && !policy.contains("http"))

        let test = try await TestLedger.make()
        try await test.withClient(configure: { $0.lookupSettings.enabled = false }) { client in
            let page = try await client.execute(uri: "/lookup", method: .get)
            #expect(page.status == .ok, "the page explains that the lookup is off rather than vanishing")
            #expect(page.headers[.contentSecurityPolicy] == policy)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(!page.text.contains("<script>") && !page.text.contains("style="), "inline code the CSP would block")
            #expect(!page.text.contains("//"), "the page refers to another origin")
            #expect(page.text.contains("src=\"/assets/pdq.js\"") && page.text.contains("src=\"/assets/lookup.js\""))
            for path in ["/assets/pdq.js", "/assets/lookup.js"] {
                let asset = try await client.execute(uri: path, method: .get)
                #expect(asset.status == .ok, "\(path)")
                #expect(asset.headers[.contentType] == "text/javascript; charset=utf-8", "\(path)")
                #expect(asset.text == WebPages.asset(String(path.dropFirst("/assets/".count))), "\(path)")
            }
            let index = try await client.execute(uri: "/", method: .get)
            #expect(index.text.contains("href=\"/lookup\""), "the status page links the lookup")
        }
    }

    static func between(_ text: String, _ start: String, _ end: String) -> String? {
        guard let open = text.range(of: start), let close = text.range(of: end, range: open.upperBound..<text.endIndex) else { return nil }
        return String(text[open.upperBound..<close.lowerBound])
    }
}
