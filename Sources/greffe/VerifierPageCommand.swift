import ArgumentParser
import Foundation
import GreffeCore
import GreffeServer

/// `greffe verifier-page`: the one-file verifier (verify.html) to hand to a
/// court, e.g. on a USB stick; it checks bundles in the browser, offline.
struct VerifierPageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verifier-page",
        abstract: "Write verify.html: a self-contained page that checks evidence bundles in a browser, offline, as `greffe verify` does."
    )

    @Option(name: .long, help: "Where to write the page.")
    var out: String

    @Option(name: .long, help: "A verifier key (file or key) to write into the page; without it, the person checking pastes one.")
    var vkey: String?

    @Option(name: .long, help: ArgumentHelp(
        "The ledger the page's picture lookup asks (http(s)://host[:port]); its policy lets it reach that origin and no other.",
        discussion: "Without it the page connects nowhere: it works out a picture's fingerprints and says where to take them."))
    var lookupURL: String?

    func run() throws {
        // Only a key that parses is embedded: the page must not carry a broken one to court.
        let key = try vkey.map { try loadVerifier($0).verifierKey }
        var lookup = WebPages.VerifierPageLookup.offline
        if let lookupURL {
            guard let origin = WebPages.lookupOrigin(lookupURL) else {
                throw CommandFailure("--lookup-url must be http(s)://host[:port] with nothing after it, not \(lookupURL.prefix(100))")
            }
            lookup = .ledger(origin: origin)
        }
        let page = WebPages.verifierPage(verifierKey: key, lookup: lookup)
        do {
            try Data(page.html.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
        } catch {
            throw CommandFailure("cannot write \(out): \(error.localizedDescription)")
        }
        let asks = if case .ledger(let origin) = lookup { "its picture lookup asks \(origin)" } else { "its picture lookup works offline" }
        print("wrote \(out)\(key.map { " (verifier key \($0) embedded" } ?? " (no key embedded: the person checking pastes it"); \(asks))")
    }
}
