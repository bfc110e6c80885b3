import Foundation
@testable import GreffeCore
import Testing

@Suite("RFC 3339 times: one reader and writer for the whole code base")
struct RFC3339TimeTests {
    @Test("lower-case t and z (RFC 3339 §5.6 NOTE) read as upper-case")
    func lowerCase() {
        #expect(RFC3339Time.signedMilliseconds("2026-11-25t10:00:00z") == RFC3339Time.signedMilliseconds("2026-11-25T10:00:00Z"))
        #expect(RFC3339Time.signedMilliseconds("2026-11-25t10:00:00.250z") == 1_795_600_800_250)
    }

    @Test("times before 1970 are negative, not refused; the unsigned form still refuses them")
    func before1970() {
        #expect(RFC3339Time.signedMilliseconds("1969-12-31T23:59:59Z") == -1_000)
        #expect(RFC3339Time.signedMilliseconds("1969-07-20T20:17:40+00:00") == -14_182_940_000)
        #expect(RFC3339Time.milliseconds("1969-12-31T23:59:59Z") == nil)
        #expect(RFC3339Time.milliseconds("1970-01-01T00:00:01Z") == 1_000)
    }

    @Test("a fraction finer than a millisecond is truncated toward negative infinity")
    func truncation() {
        #expect(RFC3339Time.signedMilliseconds("2026-03-14T09:26:53.5899999Z") == 1_773_480_413_589)
        #expect(RFC3339Time.signedMilliseconds("2026-03-14T09:26:53.5895Z") == 1_773_480_413_589)
        #expect(RFC3339Time.signedMilliseconds("1969-12-31T23:59:59.9995Z") == -1)
        #expect(RFC3339Time.signedMilliseconds("1969-12-31T23:59:59.0001Z") == -1_000)
        #expect(RFC3339Time.signedMilliseconds("1970-01-01T00:00:00.0009Z") == 0)
        let long = "2026-01-01T00:00:00." + String(repeating: "9", count: 1000) + "Z"
        #expect(RFC3339Time.signedMilliseconds(long) == 1_767_225_600_999)
    }

    @Test("a leap second is the next minute's first second; :61 does not exist")
    func leapSecond() {
        #expect(RFC3339Time.signedMilliseconds("2016-12-31T23:59:60Z") == RFC3339Time.signedMilliseconds("2017-01-01T00:00:00Z"))
        #expect(RFC3339Time.signedMilliseconds("2016-12-31T23:59:60.500Z") == 1_483_228_800_500)
        #expect(RFC3339Time.signedMilliseconds("2016-12-31T23:59:61Z") == nil)
    }

    static let valid: [(String, Int64)] = [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T01:00:00+01:00", 0),
        ("1969-12-31T19:00:00-05:00", 0),
        ("2026-03-14T09:26:53.589Z", 1_773_480_413_589),
        ("2026-03-14T21:20:09.5-05:00", 1_773_541_209_500),
        ("2000-02-29T12:00:00+01:00", 951_822_000_000),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000),
        ("2400-02-29T00:00:00Z", 13_574_563_200_000),
        ("2026-01-01T00:00:00+23:59", 1_767_139_260_000),
        ("2026-01-01T00:00:00-23:59", 1_767_311_940_000),
        ("2026-01-01T00:00:00-00:00", 1_767_225_600_000),
        ("0000-01-01T00:00:00Z", -62_167_219_200_000),
        ("9999-12-31T23:59:59.999999999Z", 253_402_300_799_999),
    ]

    @Test("known answers", arguments: valid)
    func knownAnswers(text: String, expected: Int64) {
        #expect(RFC3339Time.signedMilliseconds(text) == expected)
    }

    @Test("not RFC 3339 §5.6", arguments: [
        "", "yesterday", "2026-11-25 10:00", "2026-01-01", "T", "Z",
        // month and day against the month and leap years
        "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z",
        "2026-04-31T00:00:00Z", "2026-06-31T00:00:00Z", "2026-09-31T00:00:00Z", "2026-11-31T00:00:00Z",
        "2027-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2026-02-30T00:00:00Z",
        // time of day
        "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z", "2026-01-01T00:00:61Z", "2026-01-01T1:00:00Z",
        // offsets
        "2026-01-01T00:00:00", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+05:60", "2026-01-01T00:00:00+0500",
        "2026-01-01T00:00:00+05", "2026-01-01T00:00:00+05:00:00", "2026-01-01T00:00:00GMT", "2026-01-01T00:00:00UTC",
        "2026-01-01T00:00:00 Z",
        // missing or malformed parts
        "2026-01-01T00:00Z", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00,5Z", "2026-01-01T00:00:00.5",
        "26-01-01T00:00:00Z", "2026-1-01T00:00:00Z", "+2026-01-01T00:00:00Z", "12026-01-01T00:00:00Z",
        "2026-01-01 00:00:00Z", "2026/01/01T00:00:00Z", "2026-01-01T00.00.00Z",
        // extra characters
        "2026-01-01T00:00:00Z\n", "2026-01-01T00:00:00Z ", " 2026-01-01T00:00:00Z", "2026-01-01T00:00:00ZZ",
        "2026-01-01T00:00:00Z\u{0}",
        // non-ASCII digits and letters that upper-case to ASCII
        "\u{FF12}026-01-01T00:00:00Z", "2026-01-01T00:00:0\u{0663}Z", "2026-01-01T00:00:00.\u{0663}Z",
        "2026-01-01T00:00:00\u{1E97}", "2026-01-01\u{FB06}00:00:00Z", "2026-01-01T00:00:00\u{212A}",
    ])
    func refused(text: String) {
        #expect(RFC3339Time.signedMilliseconds(text) == nil)
        #expect(RFC3339Time.milliseconds(text) == nil)
    }

    @Test("the parser's reasons name the part at fault (the schema check shows them)")
    func reasons() {
        func reason(_ text: String) -> String {
            do {
                _ = try RFC3339Timestamp.parse(text)
                return "accepted"
            } catch {
                return error.reason
            }
        }
        #expect(reason("2026-13-01T00:00:00Z").contains("month 13"))
        #expect(reason("2027-02-29T00:00:00Z").contains("day 29"))
        #expect(reason("2026-01-01T24:00:00Z").contains("hour 24"))
        #expect(reason("2026-01-01T00:00:00").contains("offset"))
        #expect(reason("2026-01-01T00:00:00+24:00").contains("offset hour 24"))
        #expect(reason("2026-01-01T00:00:00Zx").contains("after the time zone offset"))
    }

    // MARK: Writing

    @Test("format: YYYY-MM-DDTHH:MM:SS.mmmZ, known answers (Foundation's output before the rewrite)")
    func formatKnownAnswers() {
        let cases: [(UInt64, String)] = [
            (0, "1970-01-01T00:00:00.000Z"), (1, "1970-01-01T00:00:00.001Z"), (999, "1970-01-01T00:00:00.999Z"),
            (1000, "1970-01-01T00:00:01.000Z"), (59_999, "1970-01-01T00:00:59.999Z"), (86_399_999, "1970-01-01T23:59:59.999Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"), (1_773_480_413_589, "2026-03-14T09:26:53.589Z"),
            (1_483_228_799_999, "2016-12-31T23:59:59.999Z"), (4_102_444_800_000, "2100-01-01T00:00:00.000Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"), (253_402_300_800_000, "10000-01-01T00:00:00.000Z"),
            (8_640_000_000_000_000, "275760-09-13T00:00:00.000Z"),
        ]
        for (milliseconds, text) in cases {
            #expect(RFC3339Time.format(milliseconds) == text)
            #expect(RFC3339Time.format(signedMilliseconds: Int64(milliseconds)) == text)
        }
        #expect(RFC3339Time.format(signedMilliseconds: -1) == "1969-12-31T23:59:59.999Z")
        #expect(RFC3339Time.format(signedMilliseconds: -62_167_219_200_000) == "0000-01-01T00:00:00.000Z")
        #expect(RFC3339Time.format(signedMilliseconds: -62_167_219_200_001) == "-0001-12-31T23:59:59.999Z")
        #expect(RFC3339Time.format(UInt64.max) == "584556019-04-03T14:25:51.615Z")
        #expect(RFC3339Time.formatWholeSeconds(0) == "1970-01-01T00:00:00Z")
        #expect(RFC3339Time.formatWholeSeconds(253_402_300_799) == "9999-12-31T23:59:59Z")
    }

    /// The formatter it replaces; up to year 9999 the output must not move a
    /// byte (bundles and reports carry it). Past 9999 Foundation's Double
    /// loses a millisecond now and then; Greffe's integer arithmetic does not.
    @Test("format matches Foundation's ISO8601DateFormatter byte for byte on seeded values up to 9999-12-31")
    func formatMatchesFoundation() {
        let foundation = ISO8601DateFormatter()
        foundation.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var random = SplitMix64(seed: 3339)
        var mismatches: [String] = []
        for k in 0..<20_000 {
            let milliseconds = k % 2 == 0 ? random.next() % 253_402_300_800_000 : random.next() % 4_102_444_800_000
            let expected = foundation.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
            if RFC3339Time.format(milliseconds) != expected { mismatches.append("\(milliseconds): \(expected) vs \(RFC3339Time.format(milliseconds))") }
            let seconds = milliseconds / 1000
            if RFC3339Time.formatWholeSeconds(seconds) != RFC3339Time.format(seconds * 1000).replacingOccurrences(of: ".000Z", with: "Z") {
                mismatches.append("whole seconds \(seconds)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches: \(mismatches.prefix(5))")
    }

    @Test("round trip: every written time reads back to the same millisecond, 0000 to 9999, before 1970 too")
    func roundTrip() {
        var random = SplitMix64(seed: 17)
        let first: Int64 = -62_167_219_200_000 // 0000-01-01T00:00:00Z
        let last: Int64 = 253_402_300_799_999 // 9999-12-31T23:59:59.999Z
        var failures: [Int64] = [first, last, -1, 0, 1]
        for k in 0..<50_000 {
            let span = k % 3 == 0 ? UInt64(last - first + 1) : 8_000_000_000_000 // 1716 to 2223, densely
            let offset = k % 3 == 0 ? first : -4_000_000_000_000
            failures.append(offset + Int64(random.next() % span))
        }
        failures.removeAll { RFC3339Time.signedMilliseconds(RFC3339Time.format(signedMilliseconds: $0)) == $0 }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
    }

    @Test("days_from_civil and civil_from_days agree on every day from 0000-01-01 to 9999-12-31")
    func civilDaysExhaustive() {
        var expected = RFC3339Time.days(fromCivil: 0, 1, 1)
        #expect(expected == -719_528)
        var failures = 0
        for year in 0...9999 {
            for month in 1...12 {
                for day in 1...RFC3339Timestamp.daysInMonth(year: year, month: month) {
                    let days = RFC3339Time.days(fromCivil: year, month, day)
                    let civil = RFC3339Time.civil(fromDays: days)
                    if days != expected || civil != (year, month, day) { failures += 1 }
                    expected += 1
                }
            }
        }
        #expect(failures == 0)
        #expect(expected == RFC3339Time.days(fromCivil: 10000, 1, 1))
    }

    // MARK: The independent oracle

    struct Vectors: Decodable {
        struct Vector: Decodable {
            let text: String
            let valid: Bool
            let milliseconds: Int64?
        }
        let vectors: [Vector]

        /// Tests/Vectors/rfc3339.json, written by ops/tests/rfc3339_vectors.py.
        static func load() throws -> Vectors {
            let url = EventSchemaFixtures.repositoryRoot.appendingPathComponent("Tests/Vectors/rfc3339.json")
            return try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url))
        }
    }

    @Test("verdicts and milliseconds agree with Python (rfc3339-validator, datetime) on edge cases, random times and mutations")
    func pythonVectors() throws {
        let vectors = try Vectors.load().vectors
        #expect(vectors.count > 2000)
        #expect(vectors.filter(\.valid).count > 1000)
        #expect(vectors.filter { !$0.valid }.count > 500)
        var disagreements: [String] = []
        for vector in vectors {
            let ours = RFC3339Time.signedMilliseconds(vector.text)
            let theirs = vector.valid ? vector.milliseconds : nil
            if ours != theirs { disagreements.append("\(vector.text.debugDescription): Python \(theirs.map(String.init) ?? "invalid"), Greffe \(ours.map(String.init) ?? "invalid")") }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements: \(disagreements.prefix(10))")
    }
}

