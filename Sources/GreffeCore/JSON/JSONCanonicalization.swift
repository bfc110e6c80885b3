// RFC 8785 — JSON Canonicalization Scheme (JCS).
//
// The canonical form is the only serialization Greffe produces: it is what is
// hashed and signed, and what the server returns. Its rules (RFC 8785 §3.2):
// - no whitespace between tokens (§3.2.1);
// - literals as `null`, `true`, `false` (§3.2.2.1);
// - strings escaped minimally, everything else raw UTF-8 (§3.2.2.2);
// - numbers as ECMAScript `Number.prototype.toString` (§3.2.2.3);
// - object members sorted by the UTF-16 code units of their names (§3.2.3);
// - output encoded as UTF-8 (§3.2.4).

extension JSONValue {
    /// The RFC 8785 canonical UTF-8 encoding of this value.
    ///
    /// - Precondition: every number is finite (RFC 8785 §3.2.2.3). Values
    ///   from `JSONParser` always are.
    public func canonicalBytes() -> [UInt8] {
        canonicalBytes(reservingCapacity: 64)
    }

    /// The canonical encoding, in a buffer that starts with `capacity` bytes
    /// (a good guess saves regrowing it).
    public func canonicalBytes(reservingCapacity capacity: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(capacity)
        appendCanonicalBytes(to: &out)
        return out
    }

    /// The RFC 8785 canonical form as a `String`.
    public func canonicalString() -> String {
        String(decoding: canonicalBytes(), as: UTF8.self)
    }

    /// Appends the RFC 8785 canonical encoding of this value to `out`.
    public func appendCanonicalBytes(to out: inout [UInt8]) {
        switch self {
        case .null:
            out.append(contentsOf: "null".utf8)
        case .bool(let b):
            out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let d):
            JCS.appendNumber(d, to: &out)
        case .string(let s):
            JCS.appendString(s, to: &out)
        case .array(let elements):
            out.append(0x5B) // [
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(0x2C) } // ,
                element.appendCanonicalBytes(to: &out)
            }
            out.append(0x5D) // ]
        case .object(let object):
            object.appendCanonicalBytes(to: &out)
        }
    }
}

extension JSONObject {
    /// The RFC 8785 canonical UTF-8 encoding of this object.
    public func canonicalBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        appendCanonicalBytes(to: &out)
        return out
    }

    /// Appends the RFC 8785 canonical encoding of this object to `out`.
    public func appendCanonicalBytes(to out: inout [UInt8]) {
        out.append(0x7B) // {
        let members = storage
        let count = members.count
        if count > 0 {
            // Sort positions, not members: no copies of names and values.
            withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { order in
                for i in 0..<count { order[i] = i }
                members.withUnsafeBufferPointer { members in
                    // O(n log n) whatever the input (a client may send 100,000 members); the
                    // standard sort also runs small or already sorted inputs in linear time.
                    var order = order
                    order.sort { JCS.precedesInUTF16Order(members[$0].key, members[$1].key) }
                    for k in 0..<count {
                        if k > 0 { out.append(0x2C) } // ,
                        let member = members[order[k]]
                        JCS.appendString(member.key, to: &out)
                        out.append(0x3A) // :
                        member.value.appendCanonicalBytes(to: &out)
                    }
                }
            }
        }
        out.append(0x7D) // }
    }
}

extension JSONValue: CustomStringConvertible {
    /// The canonical JSON text.
    public var description: String { canonicalString() }
}

extension JSONObject: CustomStringConvertible {
    /// The canonical JSON text.
    public var description: String { String(decoding: canonicalBytes(), as: UTF8.self) }
}

/// The RFC 8785 building blocks.
enum JCS {
    // MARK: Strings (RFC 8785 §3.2.2.2)

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Quotes `s`: `"` and `\` are escaped, control characters below U+0020
    /// use the short forms `\b \t \n \f \r` where JSON has them and `\u00xx`
    /// (lowercase hex) otherwise; every other code point — including U+007F,
    /// `/` and all non-ASCII — is copied as raw UTF-8.
    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { appendEscaped($0, to: &out) }
        if done == nil {
            Array(s.utf8).withUnsafeBufferPointer { appendEscaped($0, to: &out) }
        }
        out.append(0x22)
    }

    /// The string's bytes with the escapes above: runs that need none are copied whole.
    private static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        guard let base = bytes.baseAddress else { return }
        let raw = UnsafeRawPointer(base)
        let count = bytes.count
        var run = 0
        var i = 0
        while i < count {
            // Eight bytes at a time while none needs an escape.
            if i + 8 <= count, !SWAR.hasQuoteBackslashOrControl(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
                i += 8
                continue
            }
            let byte = bytes[i]
            i += 1
            if byte >= 0x20 && byte != 0x22 && byte != 0x5C { continue }
            let at = i - 1
            if run < at { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<at])) }
            run = at + 1
            switch byte {
            case 0x22: out.append(0x5C); out.append(0x22)
            case 0x5C: out.append(0x5C); out.append(0x5C)
            case 0x08: out.append(0x5C); out.append(0x62) // \b
            case 0x09: out.append(0x5C); out.append(0x74) // \t
            case 0x0A: out.append(0x5C); out.append(0x6E) // \n
            case 0x0C: out.append(0x5C); out.append(0x66) // \f
            case 0x0D: out.append(0x5C); out.append(0x72) // \r
            default:
                out.append(0x5C); out.append(0x75); out.append(0x30); out.append(0x30) // \u00
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        if run < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...])) }
    }

    // MARK: Member order (RFC 8785 §3.2.3)

    /// Whether `a` sorts before `b` comparing UTF-16 code units as unsigned
    /// integers, which is the order RFC 8785 §3.2.3 prescribes.
    ///
    /// Comparing scalars is equivalent, except that the scalars U+E000–U+FFFF
    /// (one code unit ≥ 0xE000) sort after the supplementary ones (lead code
    /// unit 0xD800–0xDBFF); mapping them above U+10FFFF restores UTF-16 order
    /// without transcoding. Two supplementary scalars keep their scalar order,
    /// which is also the order of their surrogate pairs.
    static func precedesInUTF16Order(_ a: String, _ b: String) -> Bool {
        let fast: Bool?? = a.utf8.withContiguousStorageIfAvailable { x in
            b.utf8.withContiguousStorageIfAvailable { y in precedesInUTF16Order(utf8: x, y) }
        }
        if let fast, let precedes = fast { return precedes }
        return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { x, y in
            utf16SortKey(x) < utf16SortKey(y)
        }
    }

    /// The same order on UTF-8 bytes. Up to their first difference both
    /// strings hold the same characters, so the differing bytes are either
    /// continuation bytes under one lead byte (same sequence length: byte
    /// order is scalar order is UTF-16 order) or two lead bytes, whose order
    /// is scalar order except that a lead byte of U+E000–U+FFFF (0xEE, 0xEF)
    /// sorts after one of a supplementary scalar (0xF0–0xF4) in UTF-16.
    static func precedesInUTF16Order(utf8 x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>) -> Bool {
        let common = min(x.count, y.count)
        var i = 0
        while i < common {
            let a = x[i]
            let b = y[i]
            if a != b {
                if a >= 0xF0 && (b == 0xEE || b == 0xEF) { return true }
                if b >= 0xF0 && (a == 0xEE || a == 0xEF) { return false }
                return a < b
            }
            i += 1
        }
        return x.count < y.count
    }

    private static func utf16SortKey(_ scalar: Unicode.Scalar) -> UInt32 {
        let v = scalar.value
        return (0xE000...0xFFFF).contains(v) ? v + 0x10_0000 : v
    }

    // MARK: Numbers (RFC 8785 §3.2.2.3, ECMA-262 Number::toString)

    /// Appends `d` exactly as ECMAScript's `Number.prototype.toString` would.
    ///
    /// ECMA-262 (7.1.12.1 in ES2015; Number::toString in later editions)
    /// takes the shortest decimal digits `s` (k of them) and exponent `n` with
    /// value = s × 10^(n−k), preferring the closest when several are
    /// shortest. Swift's `description` computes the same shortest,
    /// closest-round-trip digits; only the layout differs, so this extracts
    /// digits and exponent from it and lays them out per the ECMAScript
    /// steps:
    /// - k ≤ n ≤ 21: digits then n−k zeros (`100`, `1e+21` is the first
    ///   exponent form);
    /// - 0 < n ≤ 21: point inside the digits (`4.5`);
    /// - −6 < n ≤ 0: `0.` then −n zeros then digits (`0.000001`);
    /// - otherwise exponent form `d[.ddd]e±(n−1)` (`1e-7`, `1.5e+300`).
    ///
    /// - Precondition: `d` is finite.
    static func appendNumber(_ d: Double, to out: inout [UInt8]) {
        precondition(d.isFinite, "NaN and Infinity are not JSON numbers (RFC 8785 §3.2.2.3)")
        if d == 0 { // also -0 (ECMA-262: ToString(-0) is "0")
            out.append(0x30)
            return
        }
        // Fast path: integers below 2^53 print as themselves. (Truncating
        // conversion rather than `rounded()`, which would need libm.)
        if d.magnitude < 9_007_199_254_740_992 {
            let i = Int64(d)
            if Double(i) == d {
                out.append(contentsOf: String(i).utf8)
                return
            }
        }
        if d < 0 { out.append(0x2D) }

        // Swift renders e.g. "4.5", "100.0", "1e-05", "1.7976931348623157e+308".
        var digits: [UInt8] = []
        digits.reserveCapacity(24)
        var digitsBeforePoint = -1
        var exponent = 0
        var exponentNegative = false
        var inExponent = false
        for c in d.magnitude.description.utf8 {
            if inExponent {
                switch c {
                case 0x2D: exponentNegative = true
                case 0x2B: break
                default: exponent = exponent * 10 + Int(c &- 0x30)
                }
            } else if c == 0x2E { // .
                digitsBeforePoint = digits.count
            } else if c == 0x65 || c == 0x45 { // e, E
                inExponent = true
            } else {
                digits.append(c)
            }
        }
        if digitsBeforePoint < 0 { digitsBeforePoint = digits.count }
        if exponentNegative { exponent = -exponent }

        // Normalize to 0.d1d2…dk × 10^n with d1 ≠ 0 and dk ≠ 0.
        var first = 0
        while first < digits.count - 1, digits[first] == 0x30 { first += 1 }
        var last = digits.count
        while last > first + 1, digits[last - 1] == 0x30 { last -= 1 }
        let s = digits[first..<last]
        let k = s.count
        let n = digitsBeforePoint - first + exponent

        if k <= n, n <= 21 {
            out.append(contentsOf: s)
            out.append(contentsOf: repeatElement(0x30, count: n - k))
        } else if 0 < n, n <= 21 {
            out.append(contentsOf: s.prefix(n))
            out.append(0x2E)
            out.append(contentsOf: s.dropFirst(n))
        } else if -6 < n, n <= 0 {
            out.append(0x30)
            out.append(0x2E)
            out.append(contentsOf: repeatElement(0x30, count: -n))
            out.append(contentsOf: s)
        } else {
            out.append(s[s.startIndex])
            if k > 1 {
                out.append(0x2E)
                out.append(contentsOf: s.dropFirst())
            }
            out.append(0x65) // e
            let e = n - 1
            out.append(e < 0 ? 0x2D : 0x2B)
            out.append(contentsOf: String(e.magnitude).utf8)
        }
    }
}

/// Byte tests on eight bytes at once (SIMD within a register). Each says
/// exactly whether *some* byte of the word qualifies, not which.
enum SWAR {
    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highs: UInt64 = 0x8080_8080_8080_8080

    /// Some byte is zero.
    @inline(__always)
    static func hasZero(_ w: UInt64) -> Bool { (w &- ones) & ~w & highs != 0 }

    /// Some byte is below `n` (n ≤ 128).
    @inline(__always)
    static func hasLess(_ w: UInt64, _ n: UInt8) -> Bool { (w &- ones &* UInt64(n)) & ~w & highs != 0 }

    /// Some byte is `"`, `\\` or a control character below 0x20.
    @inline(__always)
    static func hasQuoteBackslashOrControl(_ w: UInt64) -> Bool {
        hasZero(w ^ (ones &* 0x22)) || hasZero(w ^ (ones &* 0x5C)) || hasLess(w, 0x20)
    }

    /// Some byte is `"`, `\\`, below 0x20 or above 0x7F.
    @inline(__always)
    static func hasQuoteBackslashControlOrNonASCII(_ w: UInt64) -> Bool {
        w & highs != 0 || hasQuoteBackslashOrControl(w)
    }
}
