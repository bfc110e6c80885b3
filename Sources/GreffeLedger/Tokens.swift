import Foundation
import Synchronization
public import GreffeCore
public import GreffeStore

/// Bearer tokens: 32 random bytes shown once; the store keeps only SHA-256 of the token.
public enum BearerToken {
    static let prefix = "grf_"

    /// A new secret token string. Print it once; never log it.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<4).flatMap { _ in withUnsafeBytes(of: generator.next() as UInt64) { Array($0) } }
        let base64URL = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return prefix + base64URL
    }

    /// What the store keeps: lookups by this hash reveal nothing about other tokens.
    public static func secretHash(_ token: String) -> Hash {
        MerkleHash.sha256(Array(token.utf8))
    }

    /// Tokens are short printable ASCII; anything else is rejected before any lookup.
    public static func isPlausible(_ token: some StringProtocol) -> Bool {
        token.utf8.count >= 8 && token.utf8.count <= 256 && token.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f }
    }
}

/// Checks bearer tokens against the store.
///
/// Tokens found are remembered for `cacheLifetime` (1 s by default), so that a
/// busy server reads the token table about once a second per token rather
/// than on every request; a token revoked with `greffe token revoke` (another
/// process, writing the store) stops working within that time. Unknown tokens
/// are never remembered: a guess costs a lookup and takes no memory.
public struct TokenAuthority: Sendable {
    public let store: any LedgerStore
    private let cache: TokenCache

    public init(store: any LedgerStore, cacheLifetime: Duration = .seconds(1)) {
        self.store = store
        self.cache = TokenCache(lifetime: cacheLifetime)
    }

    public enum Outcome: Sendable, Equatable {
        case granted(TokenRecord)
        case unknown
        case revoked
        case wrongRole(TokenRecord)
    }

    /// `admin` tokens may do everything; other roles only their own.
    public func check(token: String, for role: TokenRole) async throws -> Outcome {
        guard BearerToken.isPlausible(token) else { return .unknown }
        let secretHash = BearerToken.secretHash(token)
        let record: TokenRecord
        if let remembered = cache.record(secretHash) {
            record = remembered
        } else {
            guard let stored = try await store.token(secretHash: secretHash) else { return .unknown }
            cache.remember(stored, secretHash)
            record = stored
        }
        if record.revokedAtMilliseconds != nil { return .revoked }
        guard record.role == role || record.role == .admin else { return .wrongRole(record) }
        return .granted(record)
    }

    /// Why a token cannot be made as asked.
    public struct InvalidToken: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// `platform`: required for append tokens (the one platform whose events it may write), refused for the other roles.
    public func create(name: String, role: TokenRole, platform: String? = nil) async throws -> (token: String, record: TokenRecord) {
        try Self.checkPlatform(platform, for: role)
        let token = BearerToken.generate()
        let record = try await store.createToken(
            name: name, role: role, platform: platform, secretHash: BearerToken.secretHash(token),
            createdAtMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000))
        return (token, record)
    }

    /// Binds an append token made before tokens had platforms.
    public func bind(name: String, platform: String) async throws {
        try Self.checkPlatform(platform, for: .append)
        try await store.bindToken(name: name, platform: platform)
    }

    public static func checkPlatform(_ platform: String?, for role: TokenRole) throws {
        guard role == .append else {
            if platform != nil { throw InvalidToken(description: "only append tokens are bound to a platform; a \(role.rawValue) token is not") }
            return
        }
        guard let platform else { throw InvalidToken(description: "an append token must be bound to the platform it writes for (--platform NAME)") }
        // The events' schema allows 1 to 200 characters (Schemas/events/envelope.schema.json).
        guard !platform.isEmpty, platform.count <= 200 else { throw InvalidToken(description: "a platform name is 1 to 200 characters") }
        guard platform != Ledger.ownPlatform else {
            throw InvalidToken(description: "\"\(Ledger.ownPlatform)\" is the platform of Greffe's own records; no token may write in its name")
        }
    }
}

/// Token records by secret hash, each for a limited time.
private final class TokenCache: Sendable {
    let lifetime: Duration
    private let entries = Mutex<[Hash: (record: TokenRecord, expires: ContinuousClock.Instant)]>([:])
    /// Tokens are few; past this many (all valid), the cache starts over.
    private static let capacity = 4_096

    init(lifetime: Duration) { self.lifetime = lifetime }

    func record(_ secretHash: Hash) -> TokenRecord? {
        let now = ContinuousClock.now
        return entries.withLock { entries in
            guard let entry = entries[secretHash] else { return nil }
            guard entry.expires > now else {
                entries[secretHash] = nil
                return nil
            }
            return entry.record
        }
    }

    func remember(_ record: TokenRecord, _ secretHash: Hash) {
        let expires = ContinuousClock.now.advanced(by: lifetime)
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[secretHash] = (record, expires)
        }
    }
}
