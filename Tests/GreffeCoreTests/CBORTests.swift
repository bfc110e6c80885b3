// The CBOR subset of COSE receipts against RFC 8949 Appendix A: every example
// of the kinds it supports encodes to the appendix's bytes and decodes back;
// the appendix's non-deterministic forms (indefinite lengths, floats) are refused.

import Foundation
@testable import GreffeCore
import Testing

private func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

struct CBORExample: Sendable, CustomTestStringConvertible {
    let value: CBOR
    let hex: String
    var testDescription: String { hex }
}

private let t = CBOR.text
private func m(_ pairs: (CBOR, CBOR)...) -> CBOR { .map(pairs.map { CBOR.Pair($0.0, $0.1) }) }

/// RFC 8949 Appendix A, Table 6: the examples within the subset.
private let appendixA: [CBORExample] = [
    .init(value: .unsigned(0), hex: "00"), .init(value: .unsigned(1), hex: "01"), .init(value: .unsigned(10), hex: "0a"),
    .init(value: .unsigned(23), hex: "17"), .init(value: .unsigned(24), hex: "1818"), .init(value: .unsigned(25), hex: "1819"),
    .init(value: .unsigned(100), hex: "1864"), .init(value: .unsigned(1000), hex: "1903e8"),
    .init(value: .unsigned(1_000_000), hex: "1a000f4240"), .init(value: .unsigned(1_000_000_000_000), hex: "1b000000e8d4a51000"),
    .init(value: .unsigned(18_446_744_073_709_551_615), hex: "1bffffffffffffffff"),
    .init(value: .negative(18_446_744_073_709_551_615), hex: "3bffffffffffffffff"),
    .init(value: .int(-1), hex: "20"), .init(value: .int(-10), hex: "29"), .init(value: .int(-100), hex: "3863"),
    .init(value: .int(-1000), hex: "3903e7"),
    .init(value: .bool(false), hex: "f4"), .init(value: .bool(true), hex: "f5"), .init(value: .null, hex: "f6"),
    .init(value: .tagged(0, t("2013-03-21T20:04:00Z")), hex: "c074323031332d30332d32315432303a30343a30305a"),
    .init(value: .tagged(1, .unsigned(1_363_896_240)), hex: "c11a514b67b0"),
    .init(value: .tagged(23, .bytes([1, 2, 3, 4])), hex: "d74401020304"),
    .init(value: .tagged(24, .bytes(hex("6449455446"))), hex: "d818456449455446"),
    .init(value: .tagged(32, t("http://www.example.com")), hex: "d82076687474703a2f2f7777772e6578616d706c652e636f6d"),
    .init(value: .bytes([]), hex: "40"), .init(value: .bytes([1, 2, 3, 4]), hex: "4401020304"),
    .init(value: t(""), hex: "60"), .init(value: t("a"), hex: "6161"), .init(value: t("IETF"), hex: "6449455446"),
    .init(value: t("\"\\"), hex: "62225c"), .init(value: t("\u{00fc}"), hex: "62c3bc"), .init(value: t("\u{6c34}"), hex: "63e6b0b4"),
    .init(value: t("\u{10151}"), hex: "64f0908591"),
    .init(value: .array([]), hex: "80"), .init(value: .array([.unsigned(1), .unsigned(2), .unsigned(3)]), hex: "83010203"),
    .init(value: .array([.unsigned(1), .array([.unsigned(2), .unsigned(3)]), .array([.unsigned(4), .unsigned(5)])]), hex: "8301820203820405"),
    .init(value: .array((1...25).map { .unsigned($0) }), hex: "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    .init(value: m(), hex: "a0"), .init(value: m((.unsigned(1), .unsigned(2)), (.unsigned(3), .unsigned(4))), hex: "a201020304"),
    .init(value: m((t("a"), .unsigned(1)), (t("b"), .array([.unsigned(2), .unsigned(3)]))), hex: "a26161016162820203"),
    .init(value: .array([t("a"), m((t("b"), t("c")))]), hex: "826161a161626163"),
    .init(
        value: m((t("a"), t("A")), (t("b"), t("B")), (t("c"), t("C")), (t("d"), t("D")), (t("e"), t("E"))),
        hex: "a56161614161626142616361436164614461656145"),
]

@Suite("CBOR (RFC 8949)")
struct CBORTests {
    @Test("Appendix A examples encode to the appendix's bytes and decode back", arguments: appendixA)
    func appendixExample(_ example: CBORExample) throws {
        #expect(example.value.encoded == hex(example.hex))
        #expect(try CBOR(decoding: hex(example.hex)) == example.value)
    }

    @Test("map keys are sorted bytewise whatever order they are given in (§4.2.1)")
    func mapKeysSorted() {
        let given = m((.int(395), .unsigned(1)), (t("a"), .unsigned(0)), (.int(-1), .unsigned(0)), (.unsigned(4), .unsigned(0)), (.unsigned(1), .unsigned(0)))
        // 01 < 04 < 19018b < 20 < 6161
        #expect(given.encoded == hex("a5010004001901 8b01 2000 616100".replacingOccurrences(of: " ", with: "")))
    }

    @Test(
        "non-deterministic or unsupported forms are refused",
        arguments: [
            "5f42010243030405ff",  // indefinite-length byte string (Appendix A)
            "7f657374726561646d696e67ff",  // indefinite-length text string
            "9fff", "bf61610161629f0203ffff",  // indefinite array and map
            "f93c00", "fb3ff199999999999a",  // floats 1.0 and 1.1
            "f7", "f0", "f820",  // undefined, simple(16), simple(32)
            "1817", "190017", "1a00000017", "1b0000000000000017",  // 23 not in shortest form
            "3817",  // −24 not shortest
            "5800", "7800", "9800", "b800",  // zero lengths not shortest
            "a203040102",  // map keys out of order
            "a201020103",  // duplicate key
            "0000",  // trailing byte
            "62c3",  // text ends early
            "62c328",  // invalid UTF-8
            "9b00000000ffffffff",  // array longer than the input
            "1c", "5c", "ff",  // reserved additional information and a lone break
            "",
        ])
    func refused(_ input: String) {
        #expect(throws: CBOR.DecodingError.self) { try CBOR(decoding: hex(input)) }
    }

    @Test("nesting past maxDepth is refused, not a stack overflow")
    func deepNesting() throws {
        let deep = [UInt8](repeating: 0x81, count: 100_000) + [0x00]
        #expect(throws: CBOR.DecodingError.self) { try CBOR(decoding: deep) }
        let allowed = [UInt8](repeating: 0x81, count: CBOR.maxDepth) + [0x00]
        #expect(try CBOR(decoding: allowed).encoded == allowed)
    }
}
