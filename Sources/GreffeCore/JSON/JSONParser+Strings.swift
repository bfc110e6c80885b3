// Strings for JSONParser.swift: RFC 8259 §7 with UTF-8 validated (RFC 3629) and surrogate escapes paired (RFC 7493 §2.1).

extension JSONByteParser {
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
            if b == JSONASCII.quote || b == JSONASCII.backslash || b < 0x20 || b >= 0x80 { break }
            pos += 1
        }
        if pos < input.count, input[pos] == JSONASCII.quote {
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
            if b == JSONASCII.quote {
                pos += 1
                return String(decoding: scratch, as: UTF8.self)
            } else if b == JSONASCII.backslash {
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
        case JSONASCII.quote: scratch.append(JSONASCII.quote)
        case JSONASCII.backslash: scratch.append(JSONASCII.backslash)
        case JSONASCII.slash: scratch.append(JSONASCII.slash)
        case 0x62: scratch.append(0x08) // \b
        case 0x66: scratch.append(0x0C) // \f
        case 0x6E: scratch.append(0x0A) // \n
        case 0x72: scratch.append(0x0D) // \r
        case 0x74: scratch.append(0x09) // \t
        case JSONASCII.lowerU:
            let unit = try parseHex4()
            var scalar = UInt32(unit)
            switch unit {
            case 0xD800...0xDBFF:
                // A high surrogate must be followed by an escaped low one.
                guard pos + 1 < input.count, input[pos] == JSONASCII.backslash, input[pos + 1] == JSONASCII.lowerU else {
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
}
