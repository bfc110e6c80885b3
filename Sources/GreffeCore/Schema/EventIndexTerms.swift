// What the store indexes of an event's body, for investigator search (by
// account, by any content hash, by time) and for takedown timeliness (reports
// and takedowns joined by report or content hash).

/// The searchable terms of one event.
public struct EventIndexTerms: Sendable, Equatable {
    /// The `account` pseudonym, when the event has one.
    public var account: String?
    /// Every `sha256`, `pdq` and `c2pa_manifest_sha256` of the images in
    /// `input_images`, `output_images` and `content_hashes`, as `"sha256:<hex>"`,
    /// `"pdq:<hex>"` and `"c2pa:<hex>"` (64 lowercase hex digits), each once,
    /// in order of first appearance.
    public var contentHashes: [String]
    /// `occurred_at` in milliseconds since 1970-01-01T00:00:00Z, when it is
    /// a valid RFC 3339 date-time not before 1970.
    public var occurredAtMilliseconds: UInt64?
    /// The `report_id`, when the event has one.
    public var reportID: String?
    /// The `request_event_id` (of a `*.completed` event), when present.
    public var requestEventID: String?

    public init(account: String? = nil, contentHashes: [String] = [], occurredAtMilliseconds: UInt64? = nil,
                reportID: String? = nil, requestEventID: String? = nil) {
        self.account = account
        self.contentHashes = contentHashes
        self.occurredAtMilliseconds = occurredAtMilliseconds
        self.reportID = reportID
        self.requestEventID = requestEventID
    }

    /// The members holding image references.
    public static let imageMembers = ["input_images", "output_images", "content_hashes"]
    /// An image's hashes and the prefixes of their terms.
    public static let imageHashFields = [("sha256", "sha256:"), ("pdq", "pdq:"), ("c2pa_manifest_sha256", "c2pa:")]

    /// Extracts the terms of `event`. Meant for events that passed
    /// validation, but total on any value: members of the wrong type, and
    /// hashes that are not 64 hex digits, are skipped (hex is lowercased).
    public static func extract(from event: JSONValue) -> EventIndexTerms {
        var terms = EventIndexTerms()
        guard let object = event.objectValue else { return terms }
        terms.account = object["account"]?.stringValue
        terms.reportID = object["report_id"]?.stringValue
        terms.requestEventID = object["request_event_id"]?.stringValue
        if let text = object["occurred_at"]?.stringValue {
            terms.occurredAtMilliseconds = RFC3339Time.milliseconds(text)
        }
        var seen: Set<String> = []
        for member in imageMembers {
            guard let images = object[member]?.arrayValue else { continue }
            for image in images {
                guard case .object(let image) = image else { continue }
                for (field, prefix) in imageHashFields {
                    guard let hex = image[field]?.stringValue, let normalized = normalizedHex64(hex) else { continue }
                    let term = prefix + normalized
                    // Usually a few terms: a scan beats hashing them, until there are many.
                    if terms.contentHashes.count < 16 {
                        if terms.contentHashes.contains(term) { continue }
                        if terms.contentHashes.count == 15 { seen = Set(terms.contentHashes + [term]) }
                    } else if !seen.insert(term).inserted {
                        continue
                    }
                    terms.contentHashes.append(term)
                }
            }
        }
        return terms
    }

    /// `hex` lowercased if it is exactly 64 hex digits.
    static func normalizedHex64(_ hex: String) -> String? {
        let utf8 = hex.utf8
        guard utf8.count == 64 else { return nil }
        // Usually already lowercase hex (the schemas require it): the same string, no copy.
        let isLowerHex: Bool? = utf8.withContiguousStorageIfAvailable { bytes in
            for byte in bytes where !((byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66)) { return false }
            return true
        }
        if isLowerHex == true { return hex }
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): out.append(byte)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): out.append(byte + 0x20)
            default: return nil
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
