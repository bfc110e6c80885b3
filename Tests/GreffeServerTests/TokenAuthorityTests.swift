import Foundation
import GreffeCore
import GreffeLedger
import GreffeStore
import Testing
import GreffeSQLite

@Suite("Token checks")
struct TokenAuthorityTests {
    @Test("a found token is remembered for the cache lifetime, so a revocation holds from then on; unknown tokens are not remembered")
    func cacheLifetime() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("greffe-tokens-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("greffe.sqlite").path)
        let shortLived = TokenAuthority(store: store, cacheLifetime: .milliseconds(200))
        let longLived = TokenAuthority(store: store, cacheLifetime: .seconds(60))

        let (token, record) = try await shortLived.create(name: "platform", role: .append, platform: "example-ai")
        #expect(try await shortLived.check(token: token, for: .append) == .granted(record))
        #expect(try await longLived.check(token: token, for: .append) == .granted(record))
        try await store.revokeToken(name: "platform", atMilliseconds: 1)
        // Remembered: the store is not read again within the lifetime.
        #expect(try await longLived.check(token: token, for: .append) == .granted(record))
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await shortLived.check(token: token, for: .append) == .revoked)

        // A miss is not remembered: the token works as soon as it exists.
        let later = BearerToken.generate()
        #expect(try await longLived.check(token: later, for: .append) == .unknown)
        let created = try await store.createToken(
            name: "later", role: .investigate, platform: nil, secretHash: BearerToken.secretHash(later), createdAtMilliseconds: 2)
        #expect(try await longLived.check(token: later, for: .investigate) == .granted(created))
        #expect(try await longLived.check(token: later, for: .append) == .wrongRole(created))
    }
}
