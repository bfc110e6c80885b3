/// The subset of CBOR (RFC 8949) that COSE receipts need: unsigned and
/// negative integers, byte and text strings, arrays, maps, tags and the simple
/// values false, true and null. Pure, no I/O.
///
/// Encoding is deterministic (RFC 8949 §4.2.1): shortest-form argument heads,
/// definite lengths only, map keys sorted by the bytewise order of their
/// encodings. Decoding is strict: it accepts only what this encoder would
/// write (so a receipt has exactly one byte form), and refuses floats,
/// indefinite lengths, non-shortest heads, unsorted or duplicate map keys,
/// invalid UTF-8, undefined simple values, trailing bytes, and nesting deeper
/// than `maxDepth`.
public indirect enum CBOR: Sendable, Hashable {
    case unsigned(UInt64)
    /// The integer −1 − n (major type 1 carries n).
    case negative(UInt64)
    case bytes([UInt8])
    case text(String)
    case array([CBOR])
    /// Pairs in any order; the encoder sorts them (§4.2.1).
    case map([Pair])
    case tagged(UInt64, CBOR)
    case bool(Bool)
    case null

    public struct Pair: Sendable, Hashable {
        public var key: CBOR
        public var value: CBOR
        public init(_ key: CBOR, _ value: CBOR) {
            self.key = key
            self.value = value
        }
    }

    /// An integer in the range CBOR can carry in major types 0 and 1 that fits an Int64.
    public static func int(_ value: Int64) -> CBOR {
        value >= 0 ? .unsigned(UInt64(value)) : .negative(UInt64(-(value + 1)))
    }

    /// The value as an Int64, when it is an integer that fits.
    public var int64: Int64? {
        switch self {
        case .unsigned(let n): return n <= UInt64(Int64.max) ? Int64(n) : nil
        case .negative(let n): return n <= UInt64(Int64.max) ? -1 - Int64(n) : nil
        default: return nil
        }
    }

    public struct DecodingError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        /// Where in the input the problem is.
        public let offset: Int
        init(_ description: String, at offset: Int) {
            self.description = "CBOR at byte \(offset): \(description)"
            self.offset = offset
        }
    }

    // MARK: - Encoding

    /// The deterministic encoding (RFC 8949 §4.2.1).
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        append(to: &out)
        return out
    }

    public func append(to out: inout [UInt8]) {
        switch self {
        case .unsigned(let n): CBOR.appendHead(major: 0, n, to: &out)
        case .negative(let n): CBOR.appendHead(major: 1, n, to: &out)
        case .bytes(let bytes):
            CBOR.appendHead(major: 2, UInt64(bytes.count), to: &out)
            out.append(contentsOf: bytes)
        case .text(let text):
            let utf8 = Array(text.utf8)
            CBOR.appendHead(major: 3, UInt64(utf8.count), to: &out)
            out.append(contentsOf: utf8)
        case .array(let items):
            CBOR.appendHead(major: 4, UInt64(items.count), to: &out)
            for item in items { item.append(to: &out) }
        case .map(let pairs):
            // §4.2.1: keys sorted by the bytewise lexicographic order of their deterministic encodings.
            let encoded = pairs.map { ($0.key.encoded, $0.value) }.sorted { $0.0.lexicographicallyPrecedes($1.0) }
            CBOR.appendHead(major: 5, UInt64(pairs.count), to: &out)
            for (key, value) in encoded {
                out.append(contentsOf: key)
                value.append(to: &out)
            }
        case .tagged(let tag, let item):
            CBOR.appendHead(major: 6, tag, to: &out)
            item.append(to: &out)
        case .bool(let value): out.append(value ? 0xF5 : 0xF4)
        case .null: out.append(0xF6)
        }
    }

    /// The shortest head for the argument (§4.2.1 "preferred serialization" of integers and lengths).
    static func appendHead(major: UInt8, _ argument: UInt64, to out: inout [UInt8]) {
        let type = major << 5
        switch argument {
        case 0..<24: out.append(type | UInt8(argument))
        case 24...0xFF: out.append(contentsOf: [type | 24, UInt8(argument)])
        case 0x100...0xFFFF: out.append(type | 25); appendBigEndian(argument, bytes: 2, to: &out)
        case 0x1_0000...0xFFFF_FFFF: out.append(type | 26); appendBigEndian(argument, bytes: 4, to: &out)
        default: out.append(type | 27); appendBigEndian(argument, bytes: 8, to: &out)
        }
    }

    private static func appendBigEndian(_ value: UInt64, bytes: Int, to out: inout [UInt8]) {
        for shift in stride(from: (bytes - 1) * 8, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    // MARK: - Decoding

    /// Nesting deeper than this is refused, so hostile input cannot exhaust the stack.
    public static let maxDepth = 16

    /// Decodes exactly one data item that fills `bytes`, refusing anything not in deterministic form.
    public init(decoding bytes: some Collection<UInt8>) throws(DecodingError) {
        var reader = Reader(bytes: Array(bytes))
        self = try reader.item(depth: 0)
        guard reader.position == reader.bytes.count else {
            throw DecodingError("\(reader.bytes.count - reader.position) trailing bytes after the data item", at: reader.position)
        }
    }

    struct Reader {
        let bytes: [UInt8]
        var position = 0

        mutating func byte() throws(DecodingError) -> UInt8 {
            guard position < bytes.count else { throw DecodingError("input ends inside a data item", at: position) }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func take(_ count: UInt64) throws(DecodingError) -> ArraySlice<UInt8> {
            guard count <= UInt64(bytes.count - position) else {
                throw DecodingError("a length of \(count) runs past the end of the input", at: position)
            }
            defer { position += Int(count) }
            return bytes[position..<position + Int(count)]
        }

        /// The head's major type and argument; non-shortest arguments and indefinite lengths are refused.
        mutating func head() throws(DecodingError) -> (major: UInt8, argument: UInt64, start: Int) {
            let start = position
            let initial = try byte()
            let major = initial >> 5
            let info = initial & 0x1F
            let argument: UInt64
            switch info {
            case 0..<24: argument = UInt64(info)
            case 24...27:
                let length = 1 << (info - 24)
                var value: UInt64 = 0
                for _ in 0..<length {
                    let next = try byte()
                    value = value << 8 | UInt64(next)
                }
                let smallest: UInt64 = [24, 0x100, 0x1_0000, 0x1_0000_0000][Int(info - 24)]
                // Major type 7 with 1-byte argument is a simple value, checked by the caller; 2/4/8 are floats.
                if major != 7 && value < smallest {
                    throw DecodingError("integer or length \(value) is not in its shortest form", at: start)
                }
                argument = value
            case 31: throw DecodingError("indefinite-length items are not deterministic CBOR", at: start)
            default: throw DecodingError("reserved additional information \(info)", at: start)
            }
            return (major, argument, start)
        }

        mutating func item(depth: Int) throws(DecodingError) -> CBOR {
            guard depth <= CBOR.maxDepth else { throw DecodingError("nested deeper than \(CBOR.maxDepth)", at: position) }
            let (major, argument, start) = try head()
            switch major {
            case 0: return .unsigned(argument)
            case 1: return .negative(argument)
            case 2: return .bytes(Array(try take(argument)))
            case 3:
                let raw = try take(argument)
                guard let text = String(validating: raw, as: UTF8.self) else { throw DecodingError("text string is not valid UTF-8", at: start) }
                return .text(text)
            case 4:
                // Every item is at least one byte: a count beyond the remaining input is refused before allocating.
                guard argument <= UInt64(bytes.count - position) else { throw DecodingError("array of \(argument) items runs past the end", at: start) }
                var items: [CBOR] = []
                items.reserveCapacity(Int(argument))
                for _ in 0..<argument { items.append(try item(depth: depth + 1)) }
                return .array(items)
            case 5:
                guard argument <= UInt64(bytes.count - position) / 2 else { throw DecodingError("map of \(argument) pairs runs past the end", at: start) }
                var pairs: [Pair] = []
                var previousKey: ArraySlice<UInt8>?
                for _ in 0..<argument {
                    let keyStart = position
                    let key = try item(depth: depth + 1)
                    let keyBytes = bytes[keyStart..<position]
                    if let previousKey {
                        guard previousKey != keyBytes else { throw DecodingError("duplicate map key", at: keyStart) }
                        guard previousKey.lexicographicallyPrecedes(keyBytes) else {
                            throw DecodingError("map keys are not in deterministic (bytewise) order", at: keyStart)
                        }
                    }
                    previousKey = keyBytes
                    pairs.append(Pair(key, try item(depth: depth + 1)))
                }
                return .map(pairs)
            case 6: return .tagged(argument, try item(depth: depth + 1))
            default:
                switch (bytes[start], argument) {
                case (0xF4, _): return .bool(false)
                case (0xF5, _): return .bool(true)
                case (0xF6, _): return .null
                case (0xF9...0xFB, _): throw DecodingError("floating-point values are not supported here", at: start)
                default: throw DecodingError("simple value \(argument) is not supported here", at: start)
                }
            }
        }
    }
}
