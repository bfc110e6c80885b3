// A strict JSON parser for hostile input (HTTP request bodies).
//
// Grammar: RFC 8259 exactly. On top of it, the I-JSON (RFC 7493) rules that
// RFC 8785 canonicalization relies on (RFC 8785 §3.1): input must be valid
// UTF-8 (RFC 7493 §2.1), strings must not contain lone surrogates (§2.1),
// member names must be unique (§2.3), and numbers must fit in a finite
// IEEE 754 double (§2.2). Anything a canonical form cannot represent is
// rejected here, at the door, rather than altered later.
//
// Robustness: the parser is iterative (an explicit stack, no recursion), runs
// in time linear in the input, checks every index, and enforces `JSONLimits`
// before allocating for them. The depth limit also protects code that walks
// the result recursively (including Swift's own deallocation of nested
// values).

/// Resource limits applied while parsing untrusted input.
public struct JSONLimits: Sendable, Equatable {
    /// Maximum number of nested arrays/objects. A top-level scalar has depth
    /// 0, `[]` depth 1, `[[]]` depth 2.
    public var maxDepth: Int
    /// Maximum size of the whole input, in bytes.
    public var maxBytes: Int
    /// Maximum size of one decoded string or member name, in UTF-8 bytes.
    public var maxStringBytes: Int
    /// Maximum number of members of one object, or elements of one array.
    public var maxMembers: Int

    /// Defaults: depth 64 and 1 MiB of input; strings and containers are
    /// bounded only by `maxBytes` unless limited separately.
    public init(maxDepth: Int = 64, maxBytes: Int = 1 << 20, maxStringBytes: Int = .max, maxMembers: Int = .max) {
        self.maxDepth = maxDepth
        self.maxBytes = maxBytes
        self.maxStringBytes = maxStringBytes
        self.maxMembers = maxMembers
    }
}

/// Why a document was rejected, and where.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure, stable for programmatic checks and tests.
    public enum Code: String, Sendable, Equatable, CaseIterable {
        /// Nesting exceeds `JSONLimits.maxDepth`.
        case tooDeep
        /// The input exceeds `JSONLimits.maxBytes`.
        case tooLarge
        /// A string or member name exceeds `JSONLimits.maxStringBytes`.
        case stringTooLong
        /// An object or array exceeds `JSONLimits.maxMembers`.
        case tooManyMembers
        /// An object repeats a member name (RFC 7493 §2.3).
        case duplicateKey
        /// A string holds bytes that are not well-formed UTF-8 (RFC 8259 §8.1,
        /// RFC 3629 §4): stray continuation bytes, overlong forms, encoded
        /// surrogates, code points above U+10FFFF, truncated sequences.
        case invalidUTF8
        /// A backslash escape that RFC 8259 §7 does not define, or a `\u`
        /// escape without four hex digits.
        case invalidEscape
        /// A `\u` escape for a surrogate that is not part of a valid
        /// high-low pair (RFC 7493 §2.1).
        case loneSurrogate
        /// An unescaped control character (U+0000–U+001F) in a string
        /// (RFC 8259 §7).
        case controlCharacter
        /// A byte that cannot appear here in the grammar.
        case unexpectedCharacter
        /// The input ended in the middle of a value.
        case unexpectedEnd
        /// Malformed number: leading zero, missing digits, `+` or `.` first
        /// (RFC 8259 §6).
        case invalidNumber
        /// A well-formed number whose magnitude overflows a double to
        /// infinity (RFC 7493 §2.2, RFC 8785 §3.2.2.3).
        case numberOutOfRange
        /// Something other than whitespace follows the top-level value.
        case trailingData
    }

    /// The kind of failure.
    public let code: Code
    /// Zero-based byte offset into the input where the problem was found
    /// (for `.tooLarge`, the first byte beyond `maxBytes`).
    public let offset: Int
    /// A human-readable explanation, without the position.
    public let message: String

    public init(code: Code, offset: Int, message: String) {
        self.code = code
        self.offset = offset
        self.message = message
    }

    /// E.g. `duplicate member name "kind" at byte 57`.
    public var description: String { "\(message) at byte \(offset)" }
}

/// Parses JSON text into `JSONValue`.
public enum JSONParser {
    /// Parses exactly one JSON text (RFC 8259 §2): optional whitespace, one
    /// value of any type, optional whitespace, end of input.
    ///
    /// No byte-order mark is accepted (RFC 8259 §8.1 allows refusing it).
    /// Noncharacters such as U+FFFF are accepted: Unicode Corrigendum #9
    /// permits them in interchange and canonicalization passes them through.
    /// Numbers that underflow (e.g. `1e-400`) become the nearest double,
    /// which may be zero; numbers that overflow are rejected.
    public static func parse(_ bytes: some Collection<UInt8>, limits: JSONLimits = JSONLimits()) throws(JSONParseError) -> JSONValue {
        let contiguous: Result<JSONValue, JSONParseError>? = bytes.withContiguousStorageIfAvailable { buffer in
            parse(buffer: buffer, limits: limits)
        }
        if let contiguous { return try contiguous.get() }
        let count = bytes.count
        if count > limits.maxBytes { throw JSONByteParser.tooLarge(count: count, limits: limits) }
        let copy = Array(bytes)
        return try copy.withUnsafeBufferPointer { parse(buffer: $0, limits: limits) }.get()
    }

    /// Parses the UTF-8 encoding of `text`.
    public static func parse(_ text: String, limits: JSONLimits = JSONLimits()) throws(JSONParseError) -> JSONValue {
        try parse(text.utf8, limits: limits)
    }

    private static func parse(buffer: UnsafeBufferPointer<UInt8>, limits: JSONLimits) -> Result<JSONValue, JSONParseError> {
        if buffer.count > limits.maxBytes {
            return .failure(JSONByteParser.tooLarge(count: buffer.count, limits: limits))
        }
        return Result { () throws(JSONParseError) -> JSONValue in
            var parser = JSONByteParser(input: buffer, limits: limits)
            return try parser.parseDocument()
        }
    }
}

// MARK: - Implementation

enum JSONASCII {
    static let quote: UInt8 = 0x22 // "
    static let backslash: UInt8 = 0x5C // \
    static let slash: UInt8 = 0x2F // /
    static let comma: UInt8 = 0x2C // ,
    static let colon: UInt8 = 0x3A // :
    static let openBracket: UInt8 = 0x5B // [
    static let closeBracket: UInt8 = 0x5D // ]
    static let openBrace: UInt8 = 0x7B // {
    static let closeBrace: UInt8 = 0x7D // }
    static let minus: UInt8 = 0x2D // -
    static let plus: UInt8 = 0x2B // +
    static let dot: UInt8 = 0x2E // .
    static let zero: UInt8 = 0x30
    static let nine: UInt8 = 0x39
    static let lowerE: UInt8 = 0x65
    static let upperE: UInt8 = 0x45
    static let lowerU: UInt8 = 0x75

    static func isDigit(_ b: UInt8) -> Bool { b &- zero < 10 }
}

/// An array or object being filled. A class so that appending to the top of
/// the stack mutates in place instead of copying.
final class JSONContainer {
    let isObject: Bool
    var elements: [JSONValue] = []
    var members: [JSONObject.Member] = []
    /// Positions by name, once the object is too large to scan (`JSONObject.indexedCount`).
    var index: [JSONMemberName: Int]?
    /// Name of the member whose value is being parsed.
    var pendingKey: String = ""

    init(isObject: Bool) { self.isObject = isObject }

    var count: Int { isObject ? members.count : elements.count }
}

struct JSONByteParser {
    let input: UnsafeBufferPointer<UInt8>
    let limits: JSONLimits
    var pos = 0
    /// Reused buffer for strings that need decoding.
    var scratch: [UInt8] = []

    init(input: UnsafeBufferPointer<UInt8>, limits: JSONLimits) {
        self.input = input
        self.limits = limits
    }

    static func tooLarge(count: Int, limits: JSONLimits) -> JSONParseError {
        JSONParseError(code: .tooLarge, offset: limits.maxBytes,
                       message: "input of \(count) bytes exceeds the limit of \(limits.maxBytes) bytes")
    }

    // MARK: Document and containers

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        var stack: [JSONContainer] = []
        skipWhitespace()
        while true {
            // At the start of a value, whitespace skipped.
            guard pos < input.count else { throw unexpectedEnd("expected a value") }
            var value: JSONValue
            let byte = input[pos]
            switch byte {
            case JSONASCII.openBrace, JSONASCII.openBracket:
                let isObject = byte == JSONASCII.openBrace
                if stack.count >= limits.maxDepth {
                    throw JSONParseError(code: .tooDeep, offset: pos,
                                         message: "nesting deeper than \(limits.maxDepth) levels")
                }
                pos += 1
                skipWhitespace()
                if pos < input.count, input[pos] == (isObject ? JSONASCII.closeBrace : JSONASCII.closeBracket) {
                    pos += 1
                    value = isObject ? .object(JSONObject()) : .array([])
                } else {
                    let container = JSONContainer(isObject: isObject)
                    if isObject { try parseMemberName(into: container) }
                    stack.append(container)
                    continue
                }
            case JSONASCII.quote:
                value = .string(try parseString())
            case 0x74: // t
                try expectLiteral("true")
                value = .bool(true)
            case 0x66: // f
                try expectLiteral("false")
                value = .bool(false)
            case 0x6E: // n
                try expectLiteral("null")
                value = .null
            case JSONASCII.minus, JSONASCII.plus, JSONASCII.dot, JSONASCII.zero...JSONASCII.nine:
                value = .number(try parseNumber())
            default:
                throw unexpected("expected a value")
            }

            // A value is complete: hand it to the enclosing containers,
            // closing as many as the input closes.
            while true {
                guard let top = stack.last else {
                    skipWhitespace()
                    if pos < input.count {
                        throw JSONParseError(code: .trailingData, offset: pos,
                                             message: "unexpected \(Self.show(input[pos])) after the JSON value")
                    }
                    return value
                }
                if top.count >= limits.maxMembers {
                    throw JSONParseError(code: .tooManyMembers, offset: pos,
                                         message: "more than \(limits.maxMembers) \(top.isObject ? "members in an object" : "elements in an array")")
                }
                if top.isObject {
                    top.members.append((key: top.pendingKey, value: value))
                } else {
                    top.elements.append(value)
                }
                skipWhitespace()
                guard pos < input.count else {
                    throw unexpectedEnd(top.isObject ? "expected ',' or '}'" : "expected ',' or ']'")
                }
                let next = input[pos]
                if next == JSONASCII.comma {
                    pos += 1
                    skipWhitespace()
                    if top.isObject { try parseMemberName(into: top) }
                    break // parse the next value
                }
                if next == (top.isObject ? JSONASCII.closeBrace : JSONASCII.closeBracket) {
                    pos += 1
                    stack.removeLast()
                    value = top.isObject
                        ? .object(JSONObject(uncheckedMembers: top.members, index: top.index))
                        : .array(top.elements)
                    continue
                }
                throw unexpected(top.isObject ? "expected ',' or '}'" : "expected ',' or ']'")
            }
        }
    }

    /// Parses `"name"` `:` and leaves `pos` at the member's value. Rejects a
    /// repeated name (RFC 7493 §2.3), compared by exact code units.
    mutating func parseMemberName(into container: JSONContainer) throws(JSONParseError) {
        guard pos < input.count else { throw unexpectedEnd("expected a member name") }
        guard input[pos] == JSONASCII.quote else { throw unexpected("expected a member name in double quotes") }
        let start = pos
        let key = try parseString()
        let isDuplicate: Bool
        if container.index != nil {
            isDuplicate = container.index!.updateValue(container.members.count, forKey: JSONMemberName(key)) != nil
        } else {
            isDuplicate = container.members.contains { utf8Equal($0.key, key) }
            if !isDuplicate, container.members.count >= JSONObject.indexedCount {
                container.index = JSONObject.makeIndex(container.members)
                container.index![JSONMemberName(key)] = container.members.count
            }
        }
        if isDuplicate {
            throw JSONParseError(code: .duplicateKey, offset: start,
                                 message: "duplicate member name \(SchemaText.quote(key))")
        }
        container.pendingKey = key
        skipWhitespace()
        guard pos < input.count else { throw unexpectedEnd("expected ':'") }
        guard input[pos] == JSONASCII.colon else { throw unexpected("expected ':' after member name") }
        pos += 1
        skipWhitespace()
    }

    /// RFC 8259 §2: whitespace is space, tab, line feed, carriage return.
    mutating func skipWhitespace() {
        while pos < input.count {
            switch input[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let bytes = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        for expected in bytes {
            guard pos < input.count else { throw unexpectedEnd("expected '\(literal)'") }
            guard input[pos] == expected else { throw unexpected("expected '\(literal)'") }
            pos += 1
        }
    }

    // MARK: Numbers

    /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`,
    /// converted with correct rounding (Swift's `Double(_: String)`).
    mutating func parseNumber() throws(JSONParseError) -> Double {
        let start = pos
        switch input[pos] {
        case JSONASCII.plus:
            throw JSONParseError(code: .invalidNumber, offset: pos, message: "a number must not start with '+'")
        case JSONASCII.dot:
            throw JSONParseError(code: .invalidNumber, offset: pos, message: "a number must have a digit before '.'")
        default: break
        }
        let negative = input[pos] == JSONASCII.minus
        if negative { pos += 1 }
        guard pos < input.count, JSONASCII.isDigit(input[pos]) else {
            throw JSONParseError(code: .invalidNumber, offset: pos, message: "expected a digit after '-'")
        }
        if input[pos] == JSONASCII.zero {
            pos += 1
            if pos < input.count, JSONASCII.isDigit(input[pos]) {
                throw JSONParseError(code: .invalidNumber, offset: pos - 1, message: "a number must not have a leading zero")
            }
        } else {
            while pos < input.count, JSONASCII.isDigit(input[pos]) { pos += 1 }
        }
        let integerEnd = pos
        var isInteger = true
        if pos < input.count, input[pos] == JSONASCII.dot {
            isInteger = false
            pos += 1
            guard pos < input.count, JSONASCII.isDigit(input[pos]) else {
                throw JSONParseError(code: .invalidNumber, offset: pos, message: "expected a digit after '.'")
            }
            while pos < input.count, JSONASCII.isDigit(input[pos]) { pos += 1 }
        }
        if pos < input.count, input[pos] == JSONASCII.lowerE || input[pos] == JSONASCII.upperE {
            isInteger = false
            pos += 1
            if pos < input.count, input[pos] == JSONASCII.plus || input[pos] == JSONASCII.minus { pos += 1 }
            guard pos < input.count, JSONASCII.isDigit(input[pos]) else {
                throw JSONParseError(code: .invalidNumber, offset: pos, message: "expected a digit in the exponent")
            }
            while pos < input.count, JSONASCII.isDigit(input[pos]) { pos += 1 }
        }

        // Fast path: up to 15 digits are exact in an Int and in a Double.
        let digitsStart = negative ? start + 1 : start
        if isInteger, integerEnd - digitsStart <= 15 {
            var n = 0
            for i in digitsStart..<integerEnd { n = n * 10 + Int(input[i] &- JSONASCII.zero) }
            if negative { return n == 0 ? -0.0 : -Double(n) }
            return Double(n)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: input[start..<pos]), as: UTF8.self)
        guard let value = Double(text) else {
            throw JSONParseError(code: .invalidNumber, offset: start, message: "malformed number")
        }
        guard value.isFinite else {
            throw JSONParseError(code: .numberOutOfRange, offset: start,
                                 message: "number is too large for an IEEE 754 double")
        }
        return value
    }

    // MARK: Errors

    func unexpected(_ expectation: String) -> JSONParseError {
        JSONParseError(code: .unexpectedCharacter, offset: pos,
                       message: "unexpected \(Self.show(input[pos])) (\(expectation))")
    }

    func unexpectedEnd(_ expectation: String) -> JSONParseError {
        JSONParseError(code: .unexpectedEnd, offset: pos, message: "unexpected end of input (\(expectation))")
    }

    /// `'x'` for printable ASCII, `byte 0xNN` otherwise.
    static func show(_ b: UInt8) -> String {
        (0x21...0x7E).contains(b) ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x\(hex2(b))"
    }

    static func printable(_ b: UInt8) -> String {
        (0x21...0x7E).contains(b) ? String(Character(Unicode.Scalar(b))) : "0x\(hex2(b))"
    }

    static func hex2(_ b: UInt8) -> String {
        let s = String(b, radix: 16, uppercase: true)
        return s.count == 1 ? "0" + s : s
    }

    static func hex4(_ u: UInt16) -> String {
        let s = String(u, radix: 16, uppercase: false)
        return String(repeating: "0", count: 4 - s.count) + s
    }
}
