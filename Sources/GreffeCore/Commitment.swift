import CGreffeSHA256

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

    /// `count` salts of 32 bytes, from one CSPRNG call for all of them
    /// (`SystemRandomNumberGenerator` makes one `getrandom` call per 8 bytes).
    public static func newSalts(count: Int) -> [[UInt8]] {
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count * saltLength)
        bytes.withUnsafeMutableBytes { fillRandom($0) }
        return (0..<count).map { Array(bytes[$0 * saltLength..<($0 + 1) * saltLength]) }
    }

    /// Fills `buffer` from the system CSPRNG.
    static func fillRandom(_ buffer: UnsafeMutableRawBufferPointer) {
        var filled = 0
        if buffer.count > 0, greffe_random_bytes(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), buffer.count) == 0 {
            filled = buffer.count
        }
        // Elsewhere, or if that failed: the standard library's generator (the same source).
        var generator = SystemRandomNumberGenerator()
        while filled < buffer.count {
            let word = generator.next() as UInt64
            withUnsafeBytes(of: word) { raw in
                let n = min(8, buffer.count - filled)
                (buffer.baseAddress! + filled).copyMemory(from: raw.baseAddress!, byteCount: n)
                filled += n
            }
        }
    }

    public static func commit(salt: [UInt8], canonicalBody: [UInt8]) -> Hash {
        MerkleHash.sha256(salt, canonicalBody)
    }
}
