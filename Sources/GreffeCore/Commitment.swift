/// The entry's commitment to an event: SHA-256(salt ‖ RFC 8785 canonical body).
///
/// The random salt makes the commitment hiding: without it, anyone could
/// confirm a guessed body (an account pseudonym, an image hash) against the
/// public tiles. With body and salt, anyone can check the commitment.
public enum Commitment {
    public static let saltLength = 32

    /// 32 bytes from the system CSPRNG (`getrandom` on Linux).
    public static func newSalt() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<saltLength / 8).flatMap { _ in
            withUnsafeBytes(of: generator.next() as UInt64) { Array($0) }
        }
    }

    public static func commit(salt: [UInt8], canonicalBody: [UInt8]) -> Hash {
        MerkleHash.sha256(salt, canonicalBody)
    }
}
