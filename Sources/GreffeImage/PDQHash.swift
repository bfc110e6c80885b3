/// A 256-bit PDQ hash (Meta's perceptual image hash).
///
/// Bit k (0 ≤ k < 256) says whether DCT coefficient k — row k / 16, column
/// k % 16 of the 16×16 block — is above the median. The reference
/// (`pdq/cpp/common/pdqhashtypes.cpp`, `Hash256`) keeps bit k in 16-bit word
/// k / 16 and writes the words from 15 down to 0 as `%04hx`: the hex text is
/// the 256-bit number whose bit k is bit k, most significant digit first.
/// Here the same number is four 64-bit words, most significant first, so
/// that distance is four popcounts.
public struct PDQHash: Sendable, Hashable, CustomStringConvertible {
    public static let bitCount = 256
    /// Hamming distance at or below which PDQ's authors call two images a
    /// match (the PDQ hashing paper, §"Matching"; ThreatExchange's default).
    public static let matchThreshold = 31

    /// words[0] holds bits 255…192, words[3] bits 63…0.
    public var words: (UInt64, UInt64, UInt64, UInt64)

    public static let zero = PDQHash(words: (0, 0, 0, 0))

    public init(words: (UInt64, UInt64, UInt64, UInt64)) {
        self.words = words
    }

    /// Exactly 64 hex digits (either case, as the reference's `sscanf("%04hx")`
    /// reads them; `description` writes lowercase), or nil.
    public init?(hex: some StringProtocol) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var parsed: [UInt64] = [0, 0, 0, 0]
        for (position, character) in utf8.enumerated() {
            let nibble: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = character - UInt8(ascii: "A") + 10
            default: return nil
            }
            parsed[position / 16] = parsed[position / 16] << 4 | UInt64(nibble)
        }
        words = (parsed[0], parsed[1], parsed[2], parsed[3])
    }

    /// Sets bit k (0 ≤ k < 256) as the reference's `Hash256::setBit` does.
    public mutating func setBit(_ k: Int) {
        precondition((0..<256).contains(k), "PDQ bit index out of range")
        let mask = UInt64(1) << UInt64(k % 64)
        switch k / 64 {
        case 3: words.0 |= mask
        case 2: words.1 |= mask
        case 1: words.2 |= mask
        default: words.3 |= mask
        }
    }

    public func bit(_ k: Int) -> Bool {
        precondition((0..<256).contains(k), "PDQ bit index out of range")
        let word: UInt64
        switch k / 64 {
        case 3: word = words.0
        case 2: word = words.1
        case 1: word = words.2
        default: word = words.3
        }
        return word >> UInt64(k % 64) & 1 == 1
    }

    /// Number of differing bits (0…256).
    @inlinable
    public func distance(to other: PDQHash) -> Int {
        (words.0 ^ other.words.0).nonzeroBitCount + (words.1 ^ other.words.1).nonzeroBitCount
            + (words.2 ^ other.words.2).nonzeroBitCount + (words.3 ^ other.words.3).nonzeroBitCount
    }

    /// 64 lowercase hex digits, as the reference's `Hash256::format` writes them.
    public var description: String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(64)
        for word in [words.0, words.1, words.2, words.3] {
            for shift in stride(from: 60, through: 0, by: -4) { text.append(digits[Int(word >> UInt64(shift) & 0xF)]) }
        }
        return String(decoding: text, as: UTF8.self)
    }

    public static func == (lhs: PDQHash, rhs: PDQHash) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2 && lhs.words.3 == rhs.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}
