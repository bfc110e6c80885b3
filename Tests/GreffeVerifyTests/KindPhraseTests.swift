import Foundation
import GreffeCore
import Testing

@testable import GreffeVerify

/// A bundle's report names each event in words ("an edit request"); a kind without words reads
/// "an event of kind …". The command line and verify.html must say the same.
@Suite("kind phrases")
struct KindPhraseTests {
    @Test("every built-in event kind has words in greffe verify, and verify.html uses the same words")
    func everyKindHasWords() throws {
        let kinds = EventSchemaSet.builtIn.kinds
        #expect(kinds.count >= 17)
        let missing = kinds.filter { BundleVerifier.kindPhrases[$0] == nil }
        #expect(missing.isEmpty, "kinds without words in BundleVerifier.kindPhrases: \(missing)")
        var directory = URL(fileURLWithPath: #filePath)
        var page: String?
        while directory.path != "/", page == nil {
            directory.deleteLastPathComponent()
            page = try? String(contentsOf: directory.appendingPathComponent("web/verify-core.js"), encoding: .utf8)
        }
        let script = try #require(page)
        for (kind, phrase) in BundleVerifier.kindPhrases {
            let quoted = phrase.contains("'") ? "\"\(phrase)\"" : "'\(phrase)'"
            #expect(script.contains("'\(kind)': \(quoted)"), "verify-core.js words \(kind) otherwise than greffe verify (\(phrase))")
        }
    }
}
