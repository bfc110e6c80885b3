import Foundation

/// RFC 3339 times ↔ Unix milliseconds (UTC).
public enum RFC3339Time {
    /// Milliseconds since 1970, nil for a time before 1970 or not RFC 3339.
    public static func milliseconds(_ text: String) -> UInt64? {
        signedMilliseconds(text).flatMap { $0 >= 0 ? UInt64($0) : nil }
    }

    /// Milliseconds since 1970, negative before it (a platform may record old
    /// events). RFC 3339 §5.6 allows a lower-case "t" and "z", which
    /// Foundation's parser does not: the text is upper-cased first (every
    /// other character of a valid time is a digit or punctuation).
    public static func signedMilliseconds(_ text: String) -> Int64? {
        let text = text.uppercased()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: text) {
                return Int64((date.timeIntervalSince1970 * 1000).rounded())
            }
        }
        return nil
    }

    public static func format(_ milliseconds: UInt64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }
}
