// The strict parser: RFC 8259 grammar, the I-JSON (RFC 7493) rules RFC 8785
// relies on, resource limits, and robustness against mutated input.

import Foundation
import GreffeCore
import Testing

private func parse(_ text: String, limits: JSONLimits = JSONLimits()) throws(JSONParseError) -> JSONValue {
    try JSONParser.parse(Array(text.utf8), limits: limits)
}

/// The error `bytes` is rejected with, or nil if it parses.
private func parseError(_ bytes: [UInt8], limits: JSONLimits = JSONLimits()) -> JSONParseError? {
    do {
        _ = try JSONParser.parse(bytes, limits: limits)
        return nil
    } catch {
        return error
    }
}

private func parseError(_ text: String, limits: JSONLimits = JSONLimits()) -> JSONParseError? {
    parseError(Array(text.utf8), limits: limits)
}

/// One rejected document with the expected code and byte offset.
struct JSONRejectCase: Sendable, CustomTestStringConvertible {
    let bytes: [UInt8]
    let code: JSONParseError.Code
    let offset: Int

    init(_ text: String, _ code: JSONParseError.Code, at offset: Int) {
        self.init(Array(text.utf8), code, at: offset)
    }

    init(_ bytes: [UInt8], _ code: JSONParseError.Code, at offset: Int) {
        self.bytes = bytes
        self.code = code
        self.offset = offset
    }

    var testDescription: String {
        let text = String(decoding: bytes, as: UTF8.self)
        return "\(text.debugDescription) → \(code) at \(offset)"
    }
}

private let grammarRejects: [JSONRejectCase] = [
    // Empty input and stray characters.
    JSONRejectCase("", .unexpectedEnd, at: 0),
    JSONRejectCase(" \t\r\n", .unexpectedEnd, at: 4),
    JSONRejectCase("'a'", .unexpectedCharacter, at: 0),
    JSONRejectCase("True", .unexpectedCharacter, at: 0),
    JSONRejectCase("NaN", .unexpectedCharacter, at: 0),
    JSONRejectCase("Infinity", .unexpectedCharacter, at: 0),
    JSONRejectCase("\u{FEFF}1", .unexpectedCharacter, at: 0), // no BOM
    JSONRejectCase("\u{A0}1", .unexpectedCharacter, at: 0), // NBSP is not JSON whitespace
    JSONRejectCase("\u{0C}1", .unexpectedCharacter, at: 0), // nor is form feed
    JSONRejectCase([0xC3, 0xA9], .unexpectedCharacter, at: 0),
    // Literals.
    JSONRejectCase("tru", .unexpectedEnd, at: 3),
    JSONRejectCase("nul", .unexpectedEnd, at: 3),
    JSONRejectCase("trux", .unexpectedCharacter, at: 3),
    JSONRejectCase("fals e", .unexpectedCharacter, at: 4),
    // Trailing data.
    JSONRejectCase("1 2", .trailingData, at: 2),
    JSONRejectCase("{}x", .trailingData, at: 2),
    JSONRejectCase("[]]", .trailingData, at: 2),
    JSONRejectCase("[1,2,3]//", .trailingData, at: 7),
    JSONRejectCase("truex", .trailingData, at: 4),
    JSONRejectCase("0x10", .trailingData, at: 1),
    JSONRejectCase("\"a\"\"b\"", .trailingData, at: 3),
    JSONRejectCase("1\u{0}", .trailingData, at: 1),
    // Structure.
    JSONRejectCase("[", .unexpectedEnd, at: 1),
    JSONRejectCase("[1", .unexpectedEnd, at: 2),
    JSONRejectCase("[1,", .unexpectedEnd, at: 3),
    JSONRejectCase("{", .unexpectedEnd, at: 1),
    JSONRejectCase("{\"a\"", .unexpectedEnd, at: 4),
    JSONRejectCase("{\"a\":", .unexpectedEnd, at: 5),
    JSONRejectCase("{\"a\":1", .unexpectedEnd, at: 6),
    JSONRejectCase("[1,]", .unexpectedCharacter, at: 3),
    JSONRejectCase("[,1]", .unexpectedCharacter, at: 1),
    JSONRejectCase("[1 2]", .unexpectedCharacter, at: 3),
    JSONRejectCase("[1}", .unexpectedCharacter, at: 2),
    JSONRejectCase("{\"a\":1]", .unexpectedCharacter, at: 6),
    JSONRejectCase("{\"a\" 1}", .unexpectedCharacter, at: 5),
    JSONRejectCase("{\"a\":1,}", .unexpectedCharacter, at: 7),
    JSONRejectCase("{a:1}", .unexpectedCharacter, at: 1),
    JSONRejectCase("{,}", .unexpectedCharacter, at: 1),
    JSONRejectCase("{1:1}", .unexpectedCharacter, at: 1),
    // Numbers (RFC 8259 §6).
    JSONRejectCase("01", .invalidNumber, at: 0),
    JSONRejectCase("-01", .invalidNumber, at: 1),
    JSONRejectCase("[00]", .invalidNumber, at: 1),
    JSONRejectCase("1.", .invalidNumber, at: 2),
    JSONRejectCase("1.e5", .invalidNumber, at: 2),
    JSONRejectCase(".5", .invalidNumber, at: 0),
    JSONRejectCase("-", .invalidNumber, at: 1),
    JSONRejectCase("-a", .invalidNumber, at: 1),
    JSONRejectCase("- 1", .invalidNumber, at: 1),
    JSONRejectCase("-Infinity", .invalidNumber, at: 1),
    JSONRejectCase("+1", .invalidNumber, at: 0),
    JSONRejectCase("1e", .invalidNumber, at: 2),
    JSONRejectCase("1e+", .invalidNumber, at: 3),
    JSONRejectCase("1E-x", .invalidNumber, at: 3),
    JSONRejectCase("[1.]", .invalidNumber, at: 3),
    // Numbers that overflow a double (RFC 7493 §2.2).
    JSONRejectCase("1e400", .numberOutOfRange, at: 0),
    JSONRejectCase("-1e400", .numberOutOfRange, at: 0),
    JSONRejectCase("[1e309]", .numberOutOfRange, at: 1),
    JSONRejectCase("1.8e308", .numberOutOfRange, at: 0),
    JSONRejectCase(String(repeating: "9", count: 400), .numberOutOfRange, at: 0),
    // Strings: escapes (RFC 8259 §7).
    JSONRejectCase("\"a\\x\"", .invalidEscape, at: 2),
    JSONRejectCase("\"\\U0041\"", .invalidEscape, at: 1),
    JSONRejectCase("\"\\'\"", .invalidEscape, at: 1),
    JSONRejectCase("\"\\u12G4\"", .invalidEscape, at: 5),
    JSONRejectCase("\"\\u004\"", .invalidEscape, at: 6),
    JSONRejectCase("\"\\u00", .unexpectedEnd, at: 5),
    JSONRejectCase("\"\\", .unexpectedEnd, at: 2),
    JSONRejectCase("\"abc", .unexpectedEnd, at: 4),
    // Strings: surrogates (RFC 7493 §2.1).
    JSONRejectCase("\"\\ud800\"", .loneSurrogate, at: 1),
    JSONRejectCase("\"\\uDBFF\"", .loneSurrogate, at: 1),
    JSONRejectCase("\"\\udc00\"", .loneSurrogate, at: 1),
    JSONRejectCase("\"x\\udfff\\ud800\"", .loneSurrogate, at: 2),
    JSONRejectCase("\"\\ud800\\u0041\"", .loneSurrogate, at: 1),
    JSONRejectCase("\"\\ud800\\ud800\"", .loneSurrogate, at: 1),
    JSONRejectCase("\"\\ud800x\"", .loneSurrogate, at: 1),
    JSONRejectCase("\"\\ud800\\n\"", .loneSurrogate, at: 1),
    JSONRejectCase("\"\\ud800", .loneSurrogate, at: 1),
    JSONRejectCase("\"\\ud800\\uZZZZ\"", .invalidEscape, at: 9),
    // Strings: unescaped control characters (RFC 8259 §7).
    JSONRejectCase("\"a\u{1}b\"", .controlCharacter, at: 2),
    JSONRejectCase("\"a\tb\"", .controlCharacter, at: 2),
    JSONRejectCase("\"a\nb\"", .controlCharacter, at: 2),
    JSONRejectCase("\"\u{0}\"", .controlCharacter, at: 1),
    JSONRejectCase("\"é\u{1F}\"", .controlCharacter, at: 3),
    JSONRejectCase("{\"a\u{1F}\":1}", .controlCharacter, at: 3),
    // Strings: invalid UTF-8 (RFC 3629, RFC 7493 §2.1).
    JSONRejectCase([0x22, 0xFF, 0x22], .invalidUTF8, at: 1),
    JSONRejectCase([0x22, 0x80, 0x22], .invalidUTF8, at: 1), // stray continuation
    JSONRejectCase([0x22, 0xC0, 0x80, 0x22], .invalidUTF8, at: 1), // overlong NUL
    JSONRejectCase([0x22, 0xC1, 0xBF, 0x22], .invalidUTF8, at: 1), // overlong
    JSONRejectCase([0x22, 0xE0, 0x80, 0xAF, 0x22], .invalidUTF8, at: 1), // overlong '/'
    JSONRejectCase([0x22, 0xED, 0xA0, 0x80, 0x22], .invalidUTF8, at: 1), // encoded D800
    JSONRejectCase([0x22, 0xED, 0xBF, 0xBF, 0x22], .invalidUTF8, at: 1), // encoded DFFF
    JSONRejectCase([0x22, 0xF0, 0x8F, 0xBF, 0xBF, 0x22], .invalidUTF8, at: 1), // overlong 4-byte
    JSONRejectCase([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], .invalidUTF8, at: 1), // U+110000
    JSONRejectCase([0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], .invalidUTF8, at: 1),
    JSONRejectCase([0x22, 0x61, 0xE2, 0x82, 0x22], .invalidUTF8, at: 2), // truncated before quote
    JSONRejectCase([0x22, 0xE2, 0x82], .invalidUTF8, at: 1), // truncated at end
    JSONRejectCase([0x22, 0xC3], .invalidUTF8, at: 1),
    JSONRejectCase([0x22, 0xC3, 0x41, 0x22], .invalidUTF8, at: 1),
    JSONRejectCase([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D], .invalidUTF8, at: 2), // in a member name
    // Duplicate member names (RFC 7493 §2.3), compared after unescaping.
    JSONRejectCase("{\"kind\":1,\"kind\":2}", .duplicateKey, at: 10),
    JSONRejectCase("{\"a\":1,\"\\u0061\":2}", .duplicateKey, at: 7),
    JSONRejectCase("{\"\":1,\"\":1}", .duplicateKey, at: 6),
    JSONRejectCase("[{\"x\":{\"y\":1,\"y\":1}}]", .duplicateKey, at: 13),
    JSONRejectCase("{\"😂\":1,\"\\ud83d\\ude02\":2}", .duplicateKey, at: 10),
]

@Suite("Strict JSON parser")
struct JSONParserTests {
    @Test("rejects malformed documents with the right code and offset", arguments: grammarRejects)
    func rejects(_ reject: JSONRejectCase) {
        let error = parseError(reject.bytes)
        #expect(error?.code == reject.code, "\(String(describing: error))")
        #expect(error?.offset == reject.offset, "\(String(describing: error))")
    }

    @Test("error messages are specific and name the byte offset")
    func errorMessages() throws {
        let duplicate = try #require(parseError(#"{"kind":"a","n":1,"kind":"b"}"#))
        #expect(duplicate == JSONParseError(code: .duplicateKey, offset: 18, message: #"duplicate member name "kind""#))
        #expect(duplicate.description == #"duplicate member name "kind" at byte 18"#)

        // Hostile names are truncated and their control characters escaped.
        let longName = String(repeating: "x", count: 500)
        let long = try #require(parseError("{\"\(longName)\":1,\"\(longName)\":2}"))
        #expect(long.code == .duplicateKey)
        #expect(long.description.count < 120)
        let forged = try #require(parseError(#"{"a\nFAKE LOG LINE":1,"a\nFAKE LOG LINE":2}"#))
        #expect(!forged.description.contains("\n"))

        #expect(parseError("[1,]")?.description == "unexpected ']' (expected a value) at byte 3")
        #expect(parseError("01")?.description == "a number must not have a leading zero at byte 0")
        #expect(parseError("\"\\ud800\"")?.description.contains("d800") == true)
        #expect(parseError([0x22, 0xFF, 0x22])?.description == "invalid UTF-8 byte 0xFF at byte 1")
        #expect(parseError("\"a\u{1}\"")?.description == "unescaped control character U+0001 in a string at byte 2")
        #expect(parseError("1e400")?.description == "number is too large for an IEEE 754 double at byte 0")
    }

    @Test("accepts every kind of value, surrounded by JSON whitespace")
    func acceptsValues() throws {
        #expect(try parse("true") == .bool(true))
        #expect(try parse("false") == .bool(false))
        #expect(try parse("null") == .null)
        #expect(try parse("\"\"") == .string(""))
        #expect(try parse(" \t\r\n42 \t\r\n") == .number(42))
        #expect(try parse("[]") == .array([]))
        #expect(try parse("{}") == .object(JSONObject()))
        #expect(try parse("[ 1 , [ ] , { } , \"x\" ]") == [1, [], .object(JSONObject()), "x"])
        let object = try #require(try parse(#"{"b":1,"a":{"c":[true,null]}}"#).objectValue)
        #expect(object.keys == ["b", "a"]) // input order preserved
        #expect(object["a"]?["c"]?.arrayValue == [true, .null])
        #expect(object["missing"] == nil)
    }

    @Test("string escapes and raw UTF-8 decode exactly")
    func strings() throws {
        #expect(try parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{8}\u{C}\n\r\t"))
        #expect(try parse(#""\u0000\u001f\u0041\u00e9\u20AC""#) == .string("\u{0}\u{1F}Aé€"))
        #expect(try parse(#""\ud83d\ude02""#) == .string("😂"))
        #expect(try parse(#""\uD83D\uDE02x""#) == .string("😂x"))
        #expect(try parse(#""\udbff\udfff""#) == .string("\u{10FFFF}"))
        #expect(try parse("\"é€😂\u{7F}\u{FFFF}\u{10FFFF}\"") == .string("é€😂\u{7F}\u{FFFF}\u{10FFFF}"))
        // Decomposed text stays decomposed: no normalization.
        let decomposed = try #require(try parse(#""A\u030a""#).stringValue)
        #expect(Array(decomposed.utf8) == [0x41, 0xCC, 0x8A])
    }

    @Test("numbers are converted with correct rounding")
    func numbers() throws {
        let cases: [(String, Double)] = [
            ("0", 0), ("-0", -0.0), ("1", 1), ("-1", -1), ("0.1", 0.1), ("1E2", 100), ("1e+2", 100),
            ("-1.5e-3", -0.0015), ("123456789012345", 123456789012345), ("9999999999999999999", 1e19), ("-9223372036854775809", -0x1p63),
            ("9007199254740993", 9007199254740992), // halfway: round to even
            ("9007199254740995", 9007199254740996),
            ("123456789012345678901234567890", 1.2345678901234568e29),
            ("2.2250738585072011e-308", Double(bitPattern: 0x000F_FFFF_FFFF_FFFF)),
            ("4.9e-324", .leastNonzeroMagnitude), ("2e-324", 0), ("1e-400", 0),
            ("1.7976931348623157e308", .greatestFiniteMagnitude),
            ("333333333.33333329", 333333333.3333333),
            ("0." + String(repeating: "0", count: 5000) + "1e5000", 0.1),
        ]
        for (text, expected) in cases {
            let value = try #require(try parse(text).doubleValue, "\(text)")
            #expect(value.bitPattern == expected.bitPattern, "\(text) → \(value), expected \(expected)")
        }
        #expect(try parse("-0").doubleValue?.sign == .minus)
        #expect(try parse("7").intValue == 7)
        #expect(try parse("7.5").intValue == nil)
        #expect(try parse("1e300").intValue == nil)
    }

    @Test("accepts any Collection<UInt8>, contiguous or not")
    func inputCollections() throws {
        let bytes = Array(#"{"a":[1,"é"]}"#.utf8)
        let expected: JSONValue = ["a": [1, "é"]]
        #expect(try JSONParser.parse(bytes) == expected)
        #expect(try JSONParser.parse(Data(bytes)) == expected)
        #expect(try JSONParser.parse(([0x20] + bytes)[1...]) == expected)
        #expect(try JSONParser.parse(bytes.lazy.map { $0 }) == expected)
        #expect(try JSONParser.parse(#"{"a":[1,"é"]}"#) == expected)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array("[1,]".utf8).lazy.map { $0 }) }
    }

    @Test("depth limit")
    func depthLimit() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(parseError(ok) == nil)
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        let error = try #require(parseError(deep))
        #expect(error.code == .tooDeep)
        #expect(error.offset == 64)

        let objects = String(repeating: "{\"a\":", count: 65) + "1" + String(repeating: "}", count: 65)
        #expect(parseError(objects)?.code == .tooDeep)
        #expect(parseError(String(repeating: "{\"a\":", count: 64) + "1" + String(repeating: "}", count: 64)) == nil)

        // A megabyte of '[' fails fast at the limit, without recursion.
        let bomb = [UInt8](repeating: 0x5B, count: 1 << 20)
        #expect(parseError(bomb)?.code == .tooDeep)

        #expect(parseError("[[1]]", limits: JSONLimits(maxDepth: 1))?.code == .tooDeep)
        #expect(parseError("[1]", limits: JSONLimits(maxDepth: 1)) == nil)
        #expect(parseError("[]", limits: JSONLimits(maxDepth: 0))?.code == .tooDeep)
        #expect(parseError("1", limits: JSONLimits(maxDepth: 0)) == nil)
    }

    @Test("size limit on the whole input")
    func sizeLimit() throws {
        let limits = JSONLimits(maxBytes: 10)
        #expect(parseError("[1,2,3,45]", limits: limits) == nil)
        let error = try #require(parseError("[1,2,3,4,5]", limits: limits))
        #expect(error.code == .tooLarge)
        #expect(error.offset == 10)
        // Counted before anything is parsed, also for non-contiguous input.
        #expect(throws: JSONParseError(code: .tooLarge, offset: 10, message: "input of 11 bytes exceeds the limit of 10 bytes")) {
            try JSONParser.parse(Array("[1,2,3,4,5]".utf8).lazy.map { $0 }, limits: limits)
        }
        let whitespace = [UInt8](repeating: 0x20, count: 1 << 20) + [0x31]
        #expect(parseError(whitespace)?.code == .tooLarge)
        #expect(parseError(Array(whitespace.dropFirst())) == nil)
        // Raising maxBytes alone is enough for a larger string: the string
        // and member limits default to "bounded by maxBytes".
        let big = "\"" + String(repeating: "x", count: 2 << 20) + "\""
        #expect(parseError(big)?.code == .tooLarge)
        #expect(try parse(big, limits: JSONLimits(maxBytes: 4 << 20)).stringValue?.utf8.count == 2 << 20)
    }

    @Test("string and member-count limits")
    func stringAndMemberLimits() throws {
        let strings = JSONLimits(maxStringBytes: 4)
        #expect(parseError("\"abcd\"", limits: strings) == nil)
        #expect(parseError("\"\\u00e9\\u00e9\"", limits: strings) == nil) // 4 bytes decoded
        #expect(parseError("\"abcde\"", limits: strings) == JSONParseError(code: .stringTooLong, offset: 0, message: "string longer than 4 bytes"))
        #expect(parseError("[\"ab\\u00e9\\u00e9\"]", limits: strings)?.code == .stringTooLong)
        #expect(parseError("{\"abcde\":1}", limits: strings)?.code == .stringTooLong)

        let members = JSONLimits(maxMembers: 2)
        #expect(parseError("[1,2]", limits: members) == nil)
        #expect(parseError("{\"a\":1,\"b\":2}", limits: members) == nil)
        #expect(parseError("[1,2,3]", limits: members)?.code == .tooManyMembers)
        #expect(parseError("{\"a\":1,\"b\":2,\"c\":3}", limits: members)?.code == .tooManyMembers)
    }

    @Test("large inputs parse in linear time")
    func largeInputs() throws {
        // Each of these would take minutes if any step were quadratic.
        let escapes = "\"" + String(repeating: "\\u00e9", count: 170_000) + "\""
        #expect(try parse(escapes).stringValue?.utf8.count == 340_000)
        let wide = "[" + Array(repeating: "0", count: 500_000).joined(separator: ",") + "]"
        #expect(try parse(wide).arrayValue?.count == 500_000)
        let members = "{" + (0..<60_000).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}"
        #expect(try parse(members).objectValue?.count == 60_000)
        let longNumber = "0." + String(repeating: "3", count: 1_000_000)
        #expect(try parse(longNumber).doubleValue == 1.0 / 3.0)
    }

    @Test("JSONObject API: order, lookup, mutation, order-insensitive equality")
    func objectAPI() {
        var object: JSONObject = ["b": 1, "a": "x"]
        #expect(object.keys == ["b", "a"])
        #expect(object.count == 2)
        #expect(object["a"] == "x")
        object["c"] = true
        object["b"] = 2
        #expect(object.keys == ["b", "a", "c"])
        #expect(object["b"] == 2)
        object["a"] = nil
        #expect(object.keys == ["b", "c"])
        #expect(object["c"] == true)
        #expect(object.members.map(\.key) == ["b", "c"])
        #expect(object == JSONObject([("c", true), ("b", 2)]))
        #expect(object.hashValue == JSONObject([("c", true), ("b", 2)]).hashValue)
        #expect(object != JSONObject([("c", true), ("b", 3)]))
        #expect(object != JSONObject([("c", true)]))
        var seen: [String] = []
        for (key, _) in object { seen.append(key) }
        #expect(seen == ["b", "c"])
    }

    @Test("seeded mutation fuzzing: never crashes; accepted documents round-trip")
    func mutationFuzz() throws {
        let seeds: [String] = [
            #"{"kind":"evidence","n":[1,-2.5e-3,0,true,false,null],"s":"a\"b\\c\u00e9\ud83d\ude02","o":{"x":{},"y":[]}}"#,
            #"[0,1e+21,-0.000001,123456789012345678,"\u0000\u001f","é€😂",{"a":{"b":{"c":[[[]]]}}}]"#,
            #"{"\u00c5":1,"A\u030a":2,"":"",  "z" : [ 1 , 2 ]  }"#,
            #""just a string with \n\t\r\b\f\/ escapes""#,
            "-12.75E-2",
            "  true  ",
        ]
        let alphabet = Array(#"{}[]:,"\/-+.0123456789eEtrufalsn u"#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xBF, 0xC3, 0xE2, 0xED, 0xF0, 0xF4, 0xFF]
        let small = JSONLimits(maxDepth: 3, maxBytes: 256, maxStringBytes: 16, maxMembers: 4)
        var rng = JSONTestRNG(seed: 0x6772_6566_6665) // "greffe"
        var accepted = 0
        var rejected = 0
        var codes = Set<JSONParseError.Code>()
        for iteration in 0..<20_000 {
            var bytes: [UInt8]
            if iteration % 50 == 0 {
                bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                bytes = Array(seeds[Int(rng.next() % UInt64(seeds.count))].utf8)
                for _ in 0...Int(rng.next() % 4) {
                    let position = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
                    let byte = rng.next() % 3 == 0
                        ? UInt8(truncatingIfNeeded: rng.next())
                        : alphabet[Int(rng.next() % UInt64(alphabet.count))]
                    switch rng.next() % 4 {
                    case 0 where !bytes.isEmpty: bytes[position] = byte
                    case 1: bytes.insert(byte, at: position)
                    case 2 where !bytes.isEmpty: bytes.remove(at: position)
                    default:
                        let end = min(bytes.count, position + Int(rng.next() % 8))
                        bytes.insert(contentsOf: bytes[position..<end], at: position)
                    }
                }
            }
            let limits = iteration % 3 == 0 ? small : JSONLimits()
            let value: JSONValue
            do {
                value = try JSONParser.parse(bytes, limits: limits)
            } catch {
                rejected += 1
                codes.insert(error.code)
                #expect((0...bytes.count).contains(error.offset), "offset \(error.offset) outside \(bytes.count)-byte input: \(error)")
                continue
            }
            accepted += 1
            // Whatever was accepted must have a canonical form that parses
            // back to the same value.
            let canonical = value.canonicalBytes()
            do {
                let reparsed = try JSONParser.parse(canonical)
                #expect(reparsed == value, "round trip changed \(String(decoding: bytes, as: UTF8.self).debugDescription)")
                #expect(reparsed.canonicalBytes() == canonical)
            } catch {
                Issue.record("canonical form of \(String(decoding: bytes, as: UTF8.self).debugDescription) does not parse: \(error)")
            }
        }
        // The mutations must exercise both outcomes and many error kinds.
        #expect(accepted > 500, "only \(accepted) mutated documents parsed")
        #expect(rejected > 5_000, "only \(rejected) mutated documents were rejected")
        #expect(codes.count >= 10, "error codes seen: \(codes.map(\.rawValue).sorted())")
    }
}
