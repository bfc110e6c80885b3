import GreffeCore
import Testing

@Suite("RFC 3339 times as the verifier reads them")
struct RFC3339TimeTests {
    @Test("lower-case t and z (RFC 3339 §5.6) read as upper-case")
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

    @Test("not a time", arguments: ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-25 10:00"])
    func garbage(text: String) {
        #expect(RFC3339Time.signedMilliseconds(text) == nil)
    }
}
