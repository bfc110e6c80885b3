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
        if count > limits.maxBytes { throw Parser.tooLarge(count: count, limits: limits) }
        let copy = Array(bytes)
        return try copy.withUnsafeBufferPointer { parse(buffer: $0, limits: limits) }.get()
    }

    /// Parses the UTF-8 encoding of `text`.
    public static func parse(_ text: String, limits: JSONLimits = JSONLimits()) throws(JSONParseError) -> JSONValue {
        try parse(text.utf8, limits: limits)
    }

    private static func parse(buffer: UnsafeBufferPointer<UInt8>, limits: JSONLimits) -> Result<JSONValue, JSONParseError> {
        if buffer.count > limits.maxBytes {
            return .failure(Parser.tooLarge(count: buffer.count, limits: limits))
        }
        return Result { () throws(JSONParseError) -> JSONValue in
            var parser = Parser(input: buffer, limits: limits)
            return try parser.parseDocument()
        }
    }
}

// MARK: - Implementation

private enum ASCII {
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
private final class Container {
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

private struct Parser {
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
        var stack: [Container] = []
        skipWhitespace()
        while true {
            // At the start of a value, whitespace skipped.
            guard pos < input.count else { throw unexpectedEnd("expected a value") }
            var value: JSONValue
            let byte = input[pos]
            switch byte {
            case ASCII.openBrace, ASCII.openBracket:
                let isObject = byte == ASCII.openBrace
                if stack.count >= limits.maxDepth {
                    throw JSONParseError(code: .tooDeep, offset: pos,
                                         message: "nesting deeper than \(limits.maxDepth) levels")
                }
                pos += 1
                skipWhitespace()
                if pos < input.count, input[pos] == (isObject ? ASCII.closeBrace : ASCII.closeBracket) {
                    pos += 1
                    value = isObject ? .object(JSONObject()) : .array([])
                } else {
                    let container = Container(isObject: isObject)
                    if isObject { try parseMemberName(into: container) }
                    stack.append(container)
                    continue
                }
            case ASCII.quote:
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
            case ASCII.minus, ASCII.plus, ASCII.dot, ASCII.zero...ASCII.nine:
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
                if next == ASCII.comma {
                    pos += 1
                    skipWhitespace()
                    if top.isObject { try parseMemberName(into: top) }
                    break // parse the next value
                }
                if next == (top.isObject ? ASCII.closeBrace : ASCII.closeBracket) {
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
    mutating func parseMemberName(into container: Container) throws(JSONParseError) {
        guard pos < input.count else { throw unexpectedEnd("expected a member name") }
        guard input[pos] == ASCII.quote else { throw unexpected("expected a member name in double quotes") }
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
                                 message: "duplicate member name \(Self.quoteForMessage(key))")
        }
        container.pendingKey = key
        skipWhitespace()
        guard pos < input.count else { throw unexpectedEnd("expected ':'") }
        guard input[pos] == ASCII.colon else { throw unexpected("expected ':' after member name") }
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
        case ASCII.plus:
            throw JSONParseError(code: .invalidNumber, offset: pos, message: "a number must not start with '+'")
        case ASCII.dot:
            throw JSONParseError(code: .invalidNumber, offset: pos, message: "a number must have a digit before '.'")
        default: break
        }
        let negative = input[pos] == ASCII.minus
        if negative { pos += 1 }
        guard pos < input.count, ASCII.isDigit(input[pos]) else {
            throw JSONParseError(code: .invalidNumber, offset: pos, message: "expected a digit after '-'")
        }
        if input[pos] == ASCII.zero {
            pos += 1
            if pos < input.count, ASCII.isDigit(input[pos]) {
                throw JSONParseError(code: .invalidNumber, offset: pos - 1, message: "a number must not have a leading zero")
            }
        } else {
            while pos < input.count, ASCII.isDigit(input[pos]) { pos += 1 }
        }
        let integerEnd = pos
        var isInteger = true
        if pos < input.count, input[pos] == ASCII.dot {
            isInteger = false
            pos += 1
            guard pos < input.count, ASCII.isDigit(input[pos]) else {
                throw JSONParseError(code: .invalidNumber, offset: pos, message: "expected a digit after '.'")
            }
            while pos < input.count, ASCII.isDigit(input[pos]) { pos += 1 }
        }
        if pos < input.count, input[pos] == ASCII.lowerE || input[pos] == ASCII.upperE {
            isInteger = false
            pos += 1
            if pos < input.count, input[pos] == ASCII.plus || input[pos] == ASCII.minus { pos += 1 }
            guard pos < input.count, ASCII.isDigit(input[pos]) else {
                throw JSONParseError(code: .invalidNumber, offset: pos, message: "expected a digit in the exponent")
            }
            while pos < input.count, ASCII.isDigit(input[pos]) { pos += 1 }
        }

        // Fast path: up to 15 digits are exact in an Int and in a Double.
        let digitsStart = negative ? start + 1 : start
        if isInteger, integerEnd - digitsStart <= 15 {
            var n = 0
            for i in digitsStart..<integerEnd { n = n * 10 + Int(input[i] &- ASCII.zero) }
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

    // MARK: Strings

    /// RFC 8259 §7, with UTF-8 validated per RFC 3629 and surrogate escapes
    /// paired per RFC 7493 §2.1. `pos` is at the opening quote.
    mutating func parseString() throws(JSONParseError) -> String {
        let open = pos
        pos += 1
        let start = pos
        // Fast path: printable ASCII without escapes needs no decoding.
        if let base = input.baseAddress {
            let raw = UnsafeRawPointer(base)
            while pos + 8 <= input.count,
                !SWAR.hasQuoteBackslashControlOrNonASCII(raw.loadUnaligned(fromByteOffset: pos, as: UInt64.self))
            {
                pos += 8
            }
        }
        while pos < input.count {
            let b = input[pos]
            if b == ASCII.quote || b == ASCII.backslash || b < 0x20 || b >= 0x80 { break }
            pos += 1
        }
        if pos < input.count, input[pos] == ASCII.quote {
            try checkStringLength(pos - start, open: open)
            pos += 1
            return String(decoding: UnsafeBufferPointer(rebasing: input[start..<pos - 1]), as: UTF8.self)
        }

        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: input[start..<pos]))
        while true {
            guard pos < input.count else {
                throw JSONParseError(code: .unexpectedEnd, offset: pos, message: "unterminated string starting at byte \(open)")
            }
            let b = input[pos]
            if b == ASCII.quote {
                pos += 1
                return String(decoding: scratch, as: UTF8.self)
            } else if b == ASCII.backslash {
                try parseEscape()
            } else if b < 0x20 {
                throw JSONParseError(code: .controlCharacter, offset: pos,
                                     message: "unescaped control character U+00\(Self.hex2(b)) in a string")
            } else if b < 0x80 {
                scratch.append(b)
                pos += 1
            } else {
                try copyUTF8Sequence()
            }
            try checkStringLength(scratch.count, open: open)
        }
    }

    func checkStringLength(_ length: Int, open: Int) throws(JSONParseError) {
        if length > limits.maxStringBytes {
            throw JSONParseError(code: .stringTooLong, offset: open,
                                 message: "string longer than \(limits.maxStringBytes) bytes")
        }
    }

    /// Validates one multi-byte UTF-8 sequence at `pos` (Unicode Table 3-7,
    /// "well-formed UTF-8 byte sequences") and copies it to `scratch`.
    mutating func copyUTF8Sequence() throws(JSONParseError) {
        let lead = input[pos]
        let length: Int
        var secondLow: UInt8 = 0x80
        var secondHigh: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondLow = 0xA0 // no overlongs
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondHigh = 0x9F // no surrogates D800–DFFF
        case 0xF0: length = 4; secondLow = 0x90 // no overlongs
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondHigh = 0x8F // nothing above U+10FFFF
        default:
            throw JSONParseError(code: .invalidUTF8, offset: pos, message: "invalid UTF-8 byte 0x\(Self.hex2(lead))")
        }
        for i in 1..<length {
            guard pos + i < input.count else {
                throw JSONParseError(code: .invalidUTF8, offset: pos, message: "truncated UTF-8 sequence")
            }
            let b = input[pos + i]
            let low = i == 1 ? secondLow : 0x80
            let high = i == 1 ? secondHigh : 0xBF
            guard b >= low, b <= high else {
                throw JSONParseError(code: .invalidUTF8, offset: pos,
                                     message: "invalid UTF-8 sequence starting with byte 0x\(Self.hex2(lead))")
            }
        }
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: input[pos..<pos + length]))
        pos += length
    }

    /// RFC 8259 §7 escapes. `pos` is at the backslash.
    mutating func parseEscape() throws(JSONParseError) {
        let escapeStart = pos
        pos += 1
        guard pos < input.count else { throw unexpectedEnd("unterminated escape sequence") }
        let c = input[pos]
        pos += 1
        switch c {
        case ASCII.quote: scratch.append(ASCII.quote)
        case ASCII.backslash: scratch.append(ASCII.backslash)
        case ASCII.slash: scratch.append(ASCII.slash)
        case 0x62: scratch.append(0x08) // \b
        case 0x66: scratch.append(0x0C) // \f
        case 0x6E: scratch.append(0x0A) // \n
        case 0x72: scratch.append(0x0D) // \r
        case 0x74: scratch.append(0x09) // \t
        case ASCII.lowerU:
            let unit = try parseHex4()
            var scalar = UInt32(unit)
            switch unit {
            case 0xD800...0xDBFF:
                // A high surrogate must be followed by an escaped low one.
                guard pos + 1 < input.count, input[pos] == ASCII.backslash, input[pos + 1] == ASCII.lowerU else {
                    throw JSONParseError(code: .loneSurrogate, offset: escapeStart,
                                         message: "high surrogate \\u\(Self.hex4(unit)) not followed by a low surrogate escape")
                }
                pos += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw JSONParseError(code: .loneSurrogate, offset: escapeStart,
                                         message: "high surrogate \\u\(Self.hex4(unit)) followed by \\u\(Self.hex4(low)), not a low surrogate")
                }
                scalar = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            case 0xDC00...0xDFFF:
                throw JSONParseError(code: .loneSurrogate, offset: escapeStart,
                                     message: "low surrogate \\u\(Self.hex4(unit)) without a preceding high surrogate")
            default:
                break
            }
            appendUTF8(scalar)
        default:
            throw JSONParseError(code: .invalidEscape, offset: escapeStart,
                                 message: "invalid escape sequence '\\\(Self.printable(c))'")
        }
    }

    /// Four hex digits after `\u`.
    mutating func parseHex4() throws(JSONParseError) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard pos < input.count else { throw unexpectedEnd("unterminated \\u escape") }
            let b = input[pos]
            let digit: UInt8
            switch b {
            case 0x30...0x39: digit = b - 0x30
            case 0x41...0x46: digit = b - 0x41 + 10
            case 0x61...0x66: digit = b - 0x61 + 10
            default:
                throw JSONParseError(code: .invalidEscape, offset: pos,
                                     message: "expected four hex digits after \\u, found \(Self.show(b))")
            }
            value = value << 4 | UInt16(digit)
            pos += 1
        }
        return value
    }

    /// Appends the UTF-8 encoding of a scalar (never a surrogate here).
    mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(0xC0 | UInt8(scalar >> 6))
            scratch.append(0x80 | UInt8(scalar & 0x3F))
        case 0x800..<0x10000:
            scratch.append(0xE0 | UInt8(scalar >> 12))
            scratch.append(0x80 | UInt8((scalar >> 6) & 0x3F))
            scratch.append(0x80 | UInt8(scalar & 0x3F))
        default:
            scratch.append(0xF0 | UInt8(scalar >> 18))
            scratch.append(0x80 | UInt8((scalar >> 12) & 0x3F))
            scratch.append(0x80 | UInt8((scalar >> 6) & 0x3F))
            scratch.append(0x80 | UInt8(scalar & 0x3F))
        }
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

    /// Quotes attacker-controlled text for an error message: at most 64
    /// scalars, with control and bidirectional-formatting characters escaped
    /// so the message cannot forge log lines or reorder text.
    static func quoteForMessage(_ s: String) -> String {
        var out = "\""
        var n = 0
        for scalar in s.unicodeScalars {
            if n == 64 { out += "…"; break }
            n += 1
            switch scalar.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0..<0x20, 0x7F..<0xA0, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069:
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
