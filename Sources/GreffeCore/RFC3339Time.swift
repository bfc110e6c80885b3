// The one RFC 3339 reader and writer in Greffe: intake's `format: date-time`
// check, the verifier, the API's time ranges, key lists and every report go
// through it, so a time is read and shown by one rule everywhere. No
// Foundation: ISO8601DateFormatter cost `greffe verify` most of its time,
// and it read more than RFC 3339 (a day past a month's end rolled over).

/// RFC 3339 date-times ↔ Unix milliseconds.
///
/// Reading accepts exactly RFC 3339 §5.6 `date-time` (see `RFC3339Timestamp`)
/// and gives the instant in milliseconds since 1970-01-01T00:00:00Z, with two
/// rules that hold wherever a time is read:
/// - a fraction finer than a millisecond is truncated toward negative
///   infinity (the instant's floor): `…:59.9999Z` is `…:59.999Z`, and
///   `1969-12-31T23:59:59.9995Z` is -1 ms;
/// - a leap second `:60` is the first second of the next minute, as POSIX
///   time counts it: `2016-12-31T23:59:60Z` is `2017-01-01T00:00:00Z`.
///
/// Writing gives `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, three fraction digits;
/// years past 9999 with more digits), the form bundles and reports carry.
public enum RFC3339Time {
    /// Milliseconds since 1970, nil for a time before 1970 or not RFC 3339.
    public static func milliseconds(_ text: String) -> UInt64? {
        signedMilliseconds(text).flatMap { $0 >= 0 ? UInt64($0) : nil }
    }

    /// Milliseconds since 1970, negative before it (a platform may record old
    /// events); nil for text that is not an RFC 3339 date-time.
    public static func signedMilliseconds(_ text: String) -> Int64? {
        (try? RFC3339Timestamp.parse(text))?.millisecondsSinceEpoch
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func format(_ milliseconds: UInt64) -> String {
        format(days: Int(milliseconds / 86_400_000), millisecondOfDay: Int(milliseconds % 86_400_000), fraction: true)
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`; before year 0 the year is negative
    /// (ISO 8601's expanded form), which RFC 3339 cannot read back.
    public static func format(signedMilliseconds milliseconds: Int64) -> String {
        // Floor division: -1 ms is 1969-12-31T23:59:59.999Z.
        let (quotient, remainder) = milliseconds.quotientAndRemainder(dividingBy: 86_400_000)
        let days = remainder < 0 ? quotient - 1 : quotient
        return format(days: Int(days), millisecondOfDay: Int(remainder < 0 ? remainder + 86_400_000 : remainder), fraction: true)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, for times kept in whole seconds (witness
    /// cosignatures, benchmark dates).
    public static func formatWholeSeconds(_ seconds: UInt64) -> String {
        format(days: Int(seconds / 86_400), millisecondOfDay: Int(seconds % 86_400) * 1000, fraction: false)
    }

    private static func format(days: Int, millisecondOfDay: Int, fraction: Bool) -> String {
        let (year, month, day) = civil(fromDays: days)
        var yearDigits = 4
        var rest = year.magnitude / 10_000
        while rest > 0 { yearDigits += 1; rest /= 10 }
        let count = (year < 0 ? 1 : 0) + yearDigits + 15 + (fraction ? 5 : 1)
        return String(unsafeUninitializedCapacity: count) { buffer in
            var position = 0
            func put(_ byte: UInt8) { buffer[position] = byte; position += 1 }
            func put(_ value: UInt, digits: Int) {
                var value = value
                for k in stride(from: digits - 1, through: 0, by: -1) {
                    buffer[position + k] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
                position += digits
            }
            if year < 0 { put(UInt8(ascii: "-")) }
            put(year.magnitude, digits: yearDigits)
            put(UInt8(ascii: "-"))
            put(UInt(month), digits: 2)
            put(UInt8(ascii: "-"))
            put(UInt(day), digits: 2)
            put(UInt8(ascii: "T"))
            put(UInt(millisecondOfDay / 3_600_000), digits: 2)
            put(UInt8(ascii: ":"))
            put(UInt(millisecondOfDay / 60_000 % 60), digits: 2)
            put(UInt8(ascii: ":"))
            put(UInt(millisecondOfDay / 1000 % 60), digits: 2)
            if fraction {
                put(UInt8(ascii: "."))
                put(UInt(millisecondOfDay % 1000), digits: 3)
            }
            put(UInt8(ascii: "Z"))
            return position
        }
    }

    /// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
    /// (Howard Hinnant's `days_from_civil`).
    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date `days` after 1970-01-01 (Hinnant's `civil_from_days`).
    public static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// A date-time as RFC 3339 §5.6 defines it:
///
///     date-time    = full-date "T" full-time
///     full-date    = date-fullyear "-" date-month "-" date-mday
///     full-time    = partial-time time-offset
///     partial-time = time-hour ":" time-minute ":" time-second [time-secfrac]
///     time-secfrac = "." 1*DIGIT
///     time-offset  = "Z" / time-numoffset ;  time-numoffset = ("+" / "-") time-hour ":" time-minute
///
/// with the §5.7 ranges: month 01–12, day 01–28/29/30/31 by month and
/// (Gregorian) leap year, hour 00–23, minute 00–59, second 00–60 (a leap
/// second, in any minute: no leap-second table is consulted, as JSON
/// Schema's `format: date-time` check does not), offset hour 00–23 and
/// minute 00–59. "T" and "Z" may be lower case (§5.6 NOTE). Digits are ASCII
/// only. Nothing else is accepted: no space separator, no missing offset, no
/// trailing characters.
struct RFC3339Timestamp: Sendable, Equatable {
    var year: Int
    var month: Int
    var day: Int
    var hour: Int
    var minute: Int
    var second: Int
    /// Fraction of a second, in nanoseconds (digits beyond 9 truncated).
    var nanosecond: Int
    /// Offset from UTC in minutes (east positive).
    var offsetMinutes: Int

    struct ParseError: Error, Sendable, Equatable {
        let reason: String
    }

    static func parse(_ text: String) throws(ParseError) -> RFC3339Timestamp {
        var text = text
        return try text.withUTF8 { bytes in
            Result { () throws(ParseError) -> RFC3339Timestamp in try parse(bytes: bytes) }
        }.get()
    }

    static func parse(bytes: UnsafeBufferPointer<UInt8>) throws(ParseError) -> RFC3339Timestamp {
        var position = 0

        func fail(_ reason: String) -> ParseError { ParseError(reason: reason) }
        func digits(_ count: Int, _ what: StaticString) throws(ParseError) -> Int {
            guard position + count <= bytes.count else { throw fail("it ends before the \(what)") }
            var value = 0
            for k in 0..<count {
                let digit = bytes[position + k] &- UInt8(ascii: "0")
                guard digit <= 9 else { throw fail("the \(what) must be \(count) digits") }
                value = value * 10 + Int(digit)
            }
            position += count
            return value
        }
        func expect(_ byte: UInt8, _ what: StaticString) throws(ParseError) {
            guard position < bytes.count, bytes[position] == byte else { throw fail("expected \(what)") }
            position += 1
        }

        let year = try digits(4, "year")
        try expect(UInt8(ascii: "-"), "'-' after the year")
        let month = try digits(2, "month")
        try expect(UInt8(ascii: "-"), "'-' after the month")
        let day = try digits(2, "day")
        guard (1...12).contains(month) else { throw fail("month \(month) is out of range (01-12)") }
        let monthDays = daysInMonth(year: year, month: month)
        guard (1...monthDays).contains(day) else {
            throw fail("day \(day) does not exist in month \(month) of \(year) (01-\(monthDays))")
        }
        guard position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "t") else {
            throw fail("expected 'T' between the date and the time")
        }
        position += 1
        let hour = try digits(2, "hour")
        try expect(UInt8(ascii: ":"), "':' after the hour")
        let minute = try digits(2, "minute")
        try expect(UInt8(ascii: ":"), "':' after the minute (seconds are required)")
        let second = try digits(2, "second")
        guard hour <= 23 else { throw fail("hour \(hour) is out of range (00-23)") }
        guard minute <= 59 else { throw fail("minute \(minute) is out of range (00-59)") }
        guard second <= 60 else { throw fail("second \(second) is out of range (00-60)") }
        var nanosecond = 0
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            var count = 0
            while position < bytes.count, case let digit = bytes[position] &- UInt8(ascii: "0"), digit <= 9 {
                if count < 9 { nanosecond = nanosecond * 10 + Int(digit) }
                count += 1
                position += 1
            }
            guard count > 0 else { throw fail("'.' must be followed by the fraction's digits") }
            for _ in count..<max(count, 9) { nanosecond *= 10 }
        }
        guard position < bytes.count else { throw fail("the time zone offset (Z or +hh:mm / -hh:mm) is missing") }
        var offset = 0
        switch bytes[position] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            position += 1
        case let sign where sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-"):
            position += 1
            let offsetHour = try digits(2, "offset hour")
            try expect(UInt8(ascii: ":"), "':' in the offset (+hh:mm)")
            let offsetMinute = try digits(2, "offset minute")
            guard offsetHour <= 23 else { throw fail("offset hour \(offsetHour) is out of range (00-23)") }
            guard offsetMinute <= 59 else { throw fail("offset minute \(offsetMinute) is out of range (00-59)") }
            offset = (offsetHour * 60 + offsetMinute) * (sign == UInt8(ascii: "-") ? -1 : 1)
        default:
            throw fail("expected a time zone offset (Z or +hh:mm / -hh:mm)")
        }
        guard position == bytes.count else { throw fail("unexpected characters after the time zone offset") }
        return RFC3339Timestamp(year: year, month: month, day: day, hour: hour, minute: minute, second: second,
                                nanosecond: nanosecond, offsetMinutes: offset)
    }

    static func isLeapYear(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Milliseconds since 1970-01-01T00:00:00Z, by `RFC3339Time`'s rules:
    /// the fraction truncated (the instant's floor, as the fraction only adds),
    /// `:60` counted as the next minute's first second.
    var millisecondsSinceEpoch: Int64 {
        let days = Int64(RFC3339Time.days(fromCivil: year, month, day))
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        return seconds * 1000 + Int64(nanosecond / 1_000_000)
    }
}
