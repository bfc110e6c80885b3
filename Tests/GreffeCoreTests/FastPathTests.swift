// The append path's fast paths against their plain definitions: member
// order on UTF-8 bytes vs UTF-16 code units, objects without and with a
// hash index, patterns on ASCII bytes vs code points, base64 vs Foundation,
// batched salts.

import Foundation
@testable import GreffeCore
import Testing

@Suite("Append-path fast paths agree with the plain definitions")
struct FastPathTests {
    /// Scalars around every boundary the byte comparison cares about.
    static let scalars: [Unicode.Scalar] = [
        "\u{0}", "\u{1F}", "A", "a", "z", "\u{7F}", "\u{80}", "\u{7FF}", "\u{800}", "\u{D7FF}", "\u{E000}", "\u{EFFF}",
        "\u{F000}", "\u{FFFD}", "\u{FFFF}", "\u{10000}", "\u{1F600}", "\u{10FFFF}",
    ]

    static func randomKey(_ rng: inout SplitMix64) -> String {
        var s = ""
        for _ in 0..<(rng.next() % 4) { s.unicodeScalars.append(scalars[Int(rng.next() % UInt64(scalars.count))]) }
        return s
    }

    @Test("member names sort by UTF-16 code units in objects of every size")
    func memberOrderMatchesUTF16() throws {
        var rng = SplitMix64(seed: 9162)
        for round in 0..<400 {
            var keys: [String] = []
            for _ in 0..<(1 + round % 40) {
                let key = Self.randomKey(&rng)
                if !keys.contains(where: { Array($0.utf8) == Array(key.utf8) }) { keys.append(key) }
            }
            let object = JSONObject(keys.enumerated().map { ($0.element, JSONValue.number(Double($0.offset))) })
            let expected = keys.enumerated().sorted { $0.element.utf16.lexicographicallyPrecedes($1.element.utf16) }
            var text = "{"
            for (i, member) in expected.enumerated() {
                if i > 0 { text += "," }
                text += JSONValue.string(member.element).canonicalString() + ":" + String(member.offset)
            }
            text += "}"
            #expect(JSONValue.object(object).canonicalString() == text)
            // Parsed back: same members, found by name, duplicates refused, whatever the size.
            let reparsed = try #require(try JSONParser.parse(JSONValue.object(object).canonicalBytes()).objectValue)
            #expect(reparsed.count == keys.count)
            for (i, key) in keys.enumerated() { #expect(reparsed[key] == .number(Double(i))) }
            #expect(reparsed["\u{1}absent"] == nil)
            if let last = keys.last {
                var duplicated = Array(JSONValue.object(object).canonicalBytes().dropLast())
                duplicated += Array(("," + JSONValue.string(last).canonicalString() + ":0}").utf8)
                #expect(throws: JSONParseError.self) { try JSONParser.parse(duplicated) }
            }
        }
    }

    @Test("setting and removing members keeps lookups right across the index threshold")
    func mutationAcrossThreshold() {
        var object = JSONObject()
        for i in 0..<40 { object["k\(i)"] = .number(Double(i)) }
        for i in 0..<40 { #expect(object["k\(i)"] == .number(Double(i))) }
        for i in stride(from: 0, to: 40, by: 2) { object["k\(i)"] = nil }
        #expect(object.count == 20)
        for i in 0..<40 { #expect(object["k\(i)"] == (i % 2 == 0 ? nil : .number(Double(i)))) }
        for i in stride(from: 1, to: 40, by: 2) { object["k\(i)"] = nil }
        #expect(object.count == 0)
        object["x"] = true
        #expect(object["x"] == true)
    }

    @Test("patterns match ASCII text on bytes as on code points")
    func patternsOnBytes() throws {
        let patterns = ["^[!-~]+$", "\\n", "^0000|:60|\\n", "^[0-9a-f]{64}$", "^[A-Z]{3}$", "^hmac-sha256:[0-9a-f]{64}$", "(ab|a)*c", "^$"]
        let inputs = [
            "", "abc", "ab\n", "0000-01-01T00:00:00Z", "2026-01-01T00:00:60Z", String(repeating: "a", count: 64), "EUR", "EURO",
            "hmac-sha256:" + String(repeating: "0f", count: 32), "ababac", "é", "\u{7F}", "a b",
        ]
        for source in patterns {
            let pattern = try SchemaPattern(source)
            for input in inputs {
                // The reference: the same matcher over code points.
                let scalars = input.unicodeScalars.map(\.value)
                var parser = PatternParser(scalars: Array(source.unicodeScalars.map(\.value)))
                let root = try parser.parseForTest()
                let expected = scalars.withUnsafeBufferPointer { buffer in
                    let matcher = PatternMatcher(input: buffer)
                    return (0...buffer.count).contains { start in matcher.match(root, start) { _ in true } }
                }
                #expect(pattern.matches(input) == expected, "\(source) on \(input.debugDescription)")
            }
        }
    }

    @Test("Hash.base64 is Foundation's base64")
    func base64() {
        var rng = SplitMix64(seed: 4648)
        for _ in 0..<1_000 {
            var hash = Hash.zero
            hash.withUnsafeMutableBytes { raw in
                for i in 0..<4 { raw.storeBytes(of: rng.next(), toByteOffset: 8 * i, as: UInt64.self) }
            }
            #expect(hash.base64 == hash.data.base64EncodedString())
            #expect(Hash(base64: hash.base64) == hash)
        }
    }

    @Test("batched salts: 32 bytes each, all different")
    func salts() {
        let salts = Commitment.newSalts(count: 300)
        #expect(salts.count == 300)
        #expect(salts.allSatisfy { $0.count == Commitment.saltLength })
        #expect(Set(salts).count == 300)
        #expect(Commitment.newSalts(count: 0).isEmpty)
    }
}

extension PatternParser {
    mutating func parseForTest() throws -> PatternNode { try parse() }
}

extension FastPathTests {
    @Test("the pattern shapes matched without backtracking, on short and odd inputs")
    func patternShapes() throws {
        let cases: [(String, String, Bool)] = [
            ("^0000|:60|\n", "", false), ("^0000|:60|\n", "000", false), ("^0000|:60|\n", "0000", true), ("^0000|:60|\n", "x0000", false),
            ("^0000|:60|\n", "12:60", true), ("^0000|:60|\n", "a\n", true), ("\\n", "", false), ("\\n", "\n", true),
            ("^[A-Z]{3}$", "EUR", true), ("^[A-Z]{3}$", "EU", false), ("^[A-Z]{3}$", "EURO", false), ("^[A-Z]{3}$", "", false),
            ("^hmac-sha256:[0-9a-f]{64}$", "hmac-sha256:", false), ("^hmac-sha256:[0-9a-f]{64}$", "hmac-sha256", false),
            ("^hmac-sha256:[0-9a-f]{64}$", "hmac-sha256:" + String(repeating: "a", count: 64), true),
            ("^hmac-sha256:[0-9a-f]{64}$", "hmac-sha257:" + String(repeating: "a", count: 64), false),
            ("^[!-~]+$", "", false), ("^[!-~]+$", "a b", false), ("^[!-~]+$", "é", false), ("^[!-~]+$", "~!", true),
            ("^a$", "a", true), ("^a$", "aa", false), ("^ab[c]$", "abc", true),
        ]
        for (source, input, expected) in cases {
            #expect(try SchemaPattern(source).matches(input) == expected, "\(source) on \(input.debugDescription)")
        }
    }
}
