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

    func run() throws {
        // Only a key that parses is embedded: the page must not carry a broken one to court.
        let key = try vkey.map { try loadVerifier($0).verifierKey }
        let page = WebPages.verifierPage(verifierKey: key)
        do {
            try Data(page.html.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
        } catch {
            throw CommandFailure("cannot write \(out): \(error.localizedDescription)")
        }
        print("wrote \(out)\(key.map { " (verifier key \($0) embedded)" } ?? " (no key embedded: the person checking pastes it)")")
    }
}
