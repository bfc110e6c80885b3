import Foundation

/// RFC 3339 times ↔ Unix milliseconds (UTC).
public enum RFC3339Time {
    public static func milliseconds(_ text: String) -> UInt64? {
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: text), date.timeIntervalSince1970 >= 0 {
                return UInt64((date.timeIntervalSince1970 * 1000).rounded())
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
