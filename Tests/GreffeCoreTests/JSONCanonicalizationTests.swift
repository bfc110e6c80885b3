// RFC 8785 canonicalization against independent vectors: the RFC reference
// implementations' input/output pairs and 35,000 numbers serialized by V8.

import Foundation
import GreffeCore
import Testing

/// Locates `shared/testvectors`: `$GREFFE_TESTVECTORS` if set, else the
/// directory beside the repository root (this file is
/// `<root>/Tests/GreffeCoreTests/…`), else `/work/shared/testvectors`.
private func testVectorsDirectory() -> URL {
    if let env = ProcessInfo.processInfo.environment["GREFFE_TESTVECTORS"], !env.isEmpty {
        return URL(fileURLWithPath: env, isDirectory: true)
    }
    let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent() // GreffeCoreTests
        .deletingLastPathComponent() // Tests
        .deletingLastPathComponent() // repository root
    let beside = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/testvectors", isDirectory: true)
    if FileManager.default.fileExists(atPath: beside.path) { return beside }
    return URL(fileURLWithPath: "/work/shared/testvectors", isDirectory: true)
}

private func rfc8785Directory() -> URL {
    testVectorsDirectory().appendingPathComponent("rfc8785", isDirectory: true)
}

/// Names (without extension) of the `rfc8785/input/*.json` vectors.
private func vectorNames() throws -> [String] {
    let input = rfc8785Directory().appendingPathComponent("input", isDirectory: true)
    return try FileManager.default.contentsOfDirectory(atPath: input.path)
        .filter { $0.hasSuffix(".json") }
        .map { String($0.dropLast(".json".count)) }
        .sorted()
}

private func readBytes(_ url: URL) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: url))
}

private func hexDecode(_ text: String) -> [UInt8]? {
    var bytes: [UInt8] = []
    for token in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }) {
        guard token.count == 2, let b = UInt8(token, radix: 16) else { return nil }
        bytes.append(b)
    }
    return bytes
}

private func canonical(_ d: Double) -> String {
    JSONValue.number(d).canonicalString()
}

@Suite("RFC 8785 canonicalization")
struct JSONCanonicalizationTests {
    @Test("every rfc8785/input vector canonicalizes to output and outhex byte for byte")
    func referenceVectors() throws {
        let names = try vectorNames()
        #expect(names.count >= 6, "expected the six RFC 8785 reference vectors, found \(names)")
        let dir = rfc8785Directory()
        for name in names {
            let input = try readBytes(dir.appendingPathComponent("input/\(name).json"))
            let expected = try readBytes(dir.appendingPathComponent("output/\(name).json"))
            let hexText = try String(contentsOf: dir.appendingPathComponent("outhex/\(name).txt"), encoding: .utf8)
            let expectedFromHex = try #require(hexDecode(hexText), "bad hex in outhex/\(name).txt")
            #expect(expected == expectedFromHex, "output/\(name).json and outhex/\(name).txt disagree")

            let value = try JSONParser.parse(input)
            let actual = value.canonicalBytes()
            #expect(actual == expected, """
                \(name): got \(String(decoding: actual, as: UTF8.self))
                expected \(String(decoding: expected, as: UTF8.self))
                """)
        }
    }

    @Test("parse(canonicalBytes(v)) == v, and canonicalization is idempotent, for every vector")
    func referenceVectorsRoundTrip() throws {
        let names = try vectorNames()
        #expect(!names.isEmpty)
        for name in names {
            let input = try readBytes(rfc8785Directory().appendingPathComponent("input/\(name).json"))
            let value = try JSONParser.parse(input)
            let bytes = value.canonicalBytes()
            let reparsed = try JSONParser.parse(bytes)
            #expect(reparsed == value, "\(name) did not round-trip")
            #expect(reparsed.canonicalBytes() == bytes, "\(name): canonical form is not a fixed point")
        }
    }

    @Test("35,000 V8 number serializations (es6-numbers.txt), and the parser reads each back to the same double")
    func es6Numbers() throws {
        let url = rfc8785Directory().appendingPathComponent("es6-numbers.txt")
        let text = try String(contentsOf: url, encoding: .utf8)
        var checked = 0
        var skippedNonFinite = 0
        var mismatches: [String] = []
        var misparsed: [String] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            try #require(fields.count == 2, "malformed line: \(line)")
            let bits = try #require(UInt64(fields[0], radix: 16), "malformed hex: \(line)")
            let expected = String(fields[1])
            let d = Double(bitPattern: bits)
            guard d.isFinite else {
                skippedNonFinite += 1
                continue
            }
            checked += 1
            let actual = canonical(d)
            if actual != expected, mismatches.count < 20 {
                mismatches.append("\(fields[0]): got \(actual), expected \(expected)")
            }
            // The V8 text must parse back to the same double (-0 prints as "0").
            let parsed = try JSONParser.parse(expected)
            if parsed != .number(d), misparsed.count < 20 {
                misparsed.append("\(expected) parsed as \(parsed)")
            }
        }
        #expect(checked >= 35_000, "only \(checked) finite numbers checked")
        #expect(skippedNonFinite <= 10, "skipped \(skippedNonFinite) NaN/Infinity bit patterns")
        if skippedNonFinite > 0 {
            print("es6-numbers.txt: skipped \(skippedNonFinite) NaN/Infinity bit patterns of \(checked + skippedNonFinite)")
        }
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
        #expect(misparsed.isEmpty, "\(misparsed.joined(separator: "\n"))")
    }

    @Test("ECMAScript number layout at the format boundaries")
    func numberFormattingBoundaries() {
        let cases: [(Double, String)] = [
            (0, "0"), (-0.0, "0"), (1, "1"), (-1, "-1"), (4.5, "4.5"), (-4.5, "-4.5"),
            (0.1, "0.1"), (0.002, "0.002"), (100, "100"),
            (1e20, "100000000000000000000"), (1e21, "1e+21"), (-1e21, "-1e+21"),
            (0x1.ac53a7e04bcdap+66, "123456789012345680000"),
            (0.000001, "0.000001"), (1e-7, "1e-7"), (1.5e-7, "1.5e-7"), (0.0000015, "0.0000015"),
            (1e30, "1e+30"), (1.5e300, "1.5e+300"), (.leastNonzeroMagnitude, "5e-324"),
            (9007199254740992, "9007199254740992"), (9007199254740994, "9007199254740994"),
            (333333333.33333329, "333333333.3333333"), (1e-27, "1e-27"),
            (Double.greatestFiniteMagnitude, "1.7976931348623157e+308"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
            (0x1p68, "295147905179352830000"),
        ]
        for (value, expected) in cases {
            #expect(canonical(value) == expected, "\(value)")
        }
    }

    @Test("string escaping per RFC 8785 §3.2.2.2")
    func stringEscaping() {
        var expected = "\""
        var raw = ""
        for u in 0..<0x20 {
            raw.unicodeScalars.append(Unicode.Scalar(UInt8(u)))
            switch u {
            case 0x08: expected += "\\b"
            case 0x09: expected += "\\t"
            case 0x0A: expected += "\\n"
            case 0x0C: expected += "\\f"
            case 0x0D: expected += "\\r"
            default: expected += String(format: "\\u%04x", u)
            }
        }
        raw += "\"\\/\u{7F}\u{80}é€😂\u{2028}<>&'"
        expected += "\\\"\\\\/\u{7F}\u{80}é€😂\u{2028}<>&'\""
        #expect(JSONValue.string(raw).canonicalString() == expected)
        #expect(JSONValue.string("").canonicalString() == "\"\"")
    }

    @Test("member names sort by UTF-16 code units, not by code points or locale")
    func memberOrder() throws {
        // U+10000 is D800 DC00 in UTF-16, which sorts before U+E000 and
        // U+FFFD even though its code point is larger.
        let value: JSONValue = ["\u{FFFD}": 1, "\u{E000}": 2, "\u{10000}": 3, "\u{D7FF}": 4, "b": 5, "B": 6, "": 7, "aa": 8, "a": 9]
        #expect(value.canonicalString() == "{\"\":7,\"B\":6,\"a\":9,\"aa\":8,\"b\":5,\"\u{D7FF}\":4,\"\u{10000}\":3,\"\u{E000}\":2,\"\u{FFFD}\":1}")
        // Same result whatever the input order.
        let parsed = try JSONParser.parse(#"{"\ue000":2,"a":9,"\ud800\udc00":3}"#)
        #expect(parsed.canonicalString() == "{\"a\":9,\"\u{10000}\":3,\"\u{E000}\":2}")
    }

    @Test("canonically equivalent but different strings stay distinct")
    func noUnicodeNormalization() throws {
        let precomposed = "\u{C5}"
        let decomposed = "A\u{30A}"
        #expect(precomposed == decomposed) // Swift's String equality…
        #expect(JSONValue.string(precomposed) != JSONValue.string(decomposed)) // …is not JSON's.
        #expect(JSONValue.string(precomposed).canonicalBytes() != JSONValue.string(decomposed).canonicalBytes())
        let object = try #require(try JSONParser.parse(#"{"\u00c5":1,"A\u030a":2}"#).objectValue)
        #expect(object.count == 2)
        #expect(object[precomposed] == .number(1))
        #expect(object[decomposed] == .number(2))
        var set = Set<JSONValue>()
        set.insert(.string(precomposed))
        set.insert(.string(decomposed))
        #expect(set.count == 2)
    }

    @Test("literals, nesting and empty containers")
    func structure() throws {
        let value = try JSONParser.parse(" { \"z\" : [ true , false , null , { } , [ ] ] , \"a\" : -0 } ")
        #expect(value.canonicalString() == #"{"a":0,"z":[true,false,null,{},[]]}"#)
        #expect(JSONValue.null.canonicalString() == "null")
        #expect(JSONValue.array([]).canonicalString() == "[]")
        #expect(JSONValue.object(JSONObject()).canonicalString() == "{}")
    }

    @Test("equality and hashing agree with canonical bytes")
    func equalityMatchesCanonicalForm() throws {
        let a = try JSONParser.parse(#"{"x":1.0,"y":[1e2,"s"],"z":{"q":null,"p":true}}"#)
        let b = try JSONParser.parse(#"{"z":{"p":true,"q":null},"y":[100,"s"],"x":1}"#)
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a.canonicalBytes() == b.canonicalBytes())
        let c = try JSONParser.parse(#"{"x":1,"y":[100,"s"],"z":{"p":true,"q":false}}"#)
        #expect(a != c)
        #expect(a.canonicalBytes() != c.canonicalBytes())
    }

    @Test("random values round-trip through canonical bytes (seeded)")
    func randomRoundTrip() throws {
        var rng = JSONTestRNG(seed: 0x8785)
        for _ in 0..<2_000 {
            let value = randomValue(depth: 0, rng: &rng)
            let bytes = value.canonicalBytes()
            let reparsed = try JSONParser.parse(bytes)
            #expect(reparsed == value)
            #expect(reparsed.canonicalBytes() == bytes)
        }
    }

    private func randomValue(depth: Int, rng: inout JSONTestRNG) -> JSONValue {
        switch rng.next() % (depth < 4 ? 7 : 5) {
        case 0: return .null
        case 1: return .bool(rng.next() & 1 == 0)
        case 2:
            var d: Double
            repeat { d = Double(bitPattern: rng.next()) } while !d.isFinite
            return .number(d)
        case 3: return .number(Double(Int64(bitPattern: rng.next()) >> 40))
        case 4: return .string(randomString(rng: &rng))
        case 5: return .array((0..<Int(rng.next() % 5)).map { _ in randomValue(depth: depth + 1, rng: &rng) })
        default:
            var object = JSONObject()
            for _ in 0..<Int(rng.next() % 5) {
                object[randomString(rng: &rng)] = randomValue(depth: depth + 1, rng: &rng)
            }
            return .object(object)
        }
    }

    private func randomString(rng: inout JSONTestRNG) -> String {
        let pool: [Unicode.Scalar] = ["a", "b", "\"", "\\", "/", "\u{0}", "\u{1F}", "\n", "\u{7F}", "é", "\u{E000}", "\u{FFFF}", "😂", "\u{10000}", "\u{30A}"]
        var s = ""
        for _ in 0..<Int(rng.next() % 6) {
            s.unicodeScalars.append(pool[Int(rng.next() % UInt64(pool.count))])
        }
        return s
    }
}

/// SplitMix64: tiny, seedable, identical on every platform.
struct JSONTestRNG {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("RFC 8785 member order at scale")
struct JSONCanonicalizationOrderTests {
    /// Names mixing ASCII, U+0080–U+D7FF, U+E000–U+FFFF and supplementary
    /// scalars: the last two are where UTF-16 order differs from scalar order.
    static func names(count: Int) -> [String] {
        var generator = SystemRandomNumberGenerator()
        let pools: [ClosedRange<UInt32>] = [0x20...0x7E, 0x80...0xD7FF, 0xE000...0xFFFF, 0x1_0000...0x10_FFFF]
        var seen = Set<String>()
        var names: [String] = []
        while names.count < count {
            var name = ""
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                let pool = pools.randomElement(using: &generator)!
                name.unicodeScalars.append(Unicode.Scalar(UInt32.random(in: pool, using: &generator))!)
            }
            if seen.insert(name).inserted { names.append(name) }
        }
        return names
    }

    @Test("a 100,000-member object canonicalizes with its members in UTF-16 code unit order")
    func hundredThousandMembers() throws {
        let names = Self.names(count: 100_000)
        let object = JSONObject(names.enumerated().map { ($0.element, JSONValue.number(Double($0.offset))) })
        // The reference order: RFC 8785 §3.2.3, UTF-16 code units compared as unsigned integers.
        let expected = names.enumerated().map { (utf16: Array($0.element.utf16), member: $0) }
            .sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }.map(\.member)
        var reference: [UInt8] = [UInt8(ascii: "{")]
        for (position, member) in expected.enumerated() {
            if position > 0 { reference.append(UInt8(ascii: ",")) }
            reference += JSONValue.string(member.element).canonicalBytes()
            reference.append(UInt8(ascii: ":"))
            reference += Array(String(member.offset).utf8)
        }
        reference.append(UInt8(ascii: "}"))
        let canonical = JSONValue.object(object).canonicalBytes()
        #expect(canonical == reference)
        // And the canonical text parses back to the same members.
        let parsed = try #require(try JSONParser.parse(canonical, limits: JSONLimits(maxDepth: 4, maxBytes: Int.max)).objectValue)
        #expect(parsed.keys == expected.map(\.element))
    }
}
