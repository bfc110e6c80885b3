import ArgumentParser
import Foundation
import GreffeLedger
import GreffeServer
import GreffeStore

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Manage bearer tokens (the store keeps only their hashes).",
        subcommands: [Create.self, Bind.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print it once.")

        @OptionGroup var storeOptions: StoreOptions

        @Option(name: .long, help: "append, investigate or admin.")
        var role: String

        @Option(name: .long, help: "A unique name for the token's holder.")
        var name: String

        @Option(
            name: .long,
            help: "For append tokens (required): the one platform whose events the token may write, as in the events' \"platform\" field.")
        var platform: String?

        func run() async throws {
            guard let role = TokenRole(rawValue: role) else {
                throw ValidationError("--role must be one of \(TokenRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard !name.isEmpty, name.count <= 100 else { throw ValidationError("--name must be 1 to 100 characters") }
            do { try TokenAuthority.checkPlatform(platform, for: role) } catch { throw ValidationError("\(error)") }
            let store = try await storeOptions.openStore()
            let (token, _) = try await TokenAuthority(store: store).create(name: name, role: role, platform: platform)
            print(token)
        }
    }

    struct Bind: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bind an append token made before tokens had platforms to its platform (it cannot append until then).")

        @OptionGroup var storeOptions: StoreOptions

        @Option(name: .long, help: "The token's name.")
        var name: String

        @Option(name: .long, help: "The one platform whose events the token may write.")
        var platform: String

        func run() async throws {
            do { try TokenAuthority.checkPlatform(platform, for: .append) } catch { throw ValidationError("\(error)") }
            let store = try await storeOptions.openStore()
            try await TokenAuthority(store: store).bind(name: name, platform: platform)
            print("bound \(name) to platform \(platform)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (names and roles, never secrets).")

        @OptionGroup var storeOptions: StoreOptions

        func run() async throws {
            let store = try await storeOptions.openStore()
            for token in try await store.listTokens() {
                let state = token.revokedAtMilliseconds == nil ? "active" : "revoked"
                let platform = token.role == .append ? token.platform ?? "(unbound: cannot append)" : "-"
                print("\(token.name)\t\(token.role.rawValue)\t\(platform)\t\(state)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by name.")

        @OptionGroup var storeOptions: StoreOptions

        @Option(name: .long, help: "The token's name.")
        var name: String

        func run() async throws {
            let store = try await storeOptions.openStore()
            try await store.revokeToken(name: name, atMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000))
            print("revoked \(name)")
        }
    }
}
