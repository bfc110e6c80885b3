import Foundation
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
public struct TokenAuthority: Sendable {
    public let store: any LedgerStore

    public init(store: any LedgerStore) {
        self.store = store
    }

    public enum Outcome: Sendable, Equatable {
        case granted(TokenRecord)
        case unknown
        case revoked
        case wrongRole(TokenRecord)
    }

    /// `admin` tokens may do everything; other roles only their own.
    public func check(token: String, for role: TokenRole) async throws -> Outcome {
        guard BearerToken.isPlausible(token), let record = try await store.token(secretHash: BearerToken.secretHash(token)) else {
            return .unknown
        }
        if record.revokedAtMilliseconds != nil { return .revoked }
        guard record.role == role || record.role == .admin else { return .wrongRole(record) }
        return .granted(record)
    }

    public func create(name: String, role: TokenRole) async throws -> (token: String, record: TokenRecord) {
        let token = BearerToken.generate()
        let record = try await store.createToken(
            name: name, role: role, secretHash: BearerToken.secretHash(token),
            createdAtMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000))
        return (token, record)
    }
}
