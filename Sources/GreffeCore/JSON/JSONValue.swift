// The JSON data model Greffe parses, stores and canonicalizes.
//
// Only values that RFC 8785 (JSON Canonicalization Scheme) can represent
// exist here: I-JSON (RFC 7493) strings, IEEE 754 double numbers, and objects
// whose member names are unique.

/// A JSON value (RFC 8259 §3).
///
/// Numbers are IEEE 754 binary64, as I-JSON (RFC 7493 §2.2) and RFC 8785
/// §3.2.2.3 require, so `1`, `1.0` and `10e-1` are the same value.
///
/// Equality and hashing are those of the canonical form: two values are `==`
/// exactly when their ``canonicalBytes()`` are equal. In particular:
/// - strings and member names compare by their exact code units, **not** by
///   Swift's Unicode canonical equivalence — `"\u{C5}"` and `"A\u{30A}"` are
///   different JSON strings (RFC 8785 §3.2.2.2 does no normalization), even
///   though Swift `String` calls them equal;
/// - objects compare regardless of member order (RFC 8259 §4: objects are
///   unordered; RFC 8785 §3.2.3 sorts them);
/// - `0` and `-0` are equal (both serialize as `0`).
///
/// `.number` must hold a finite value: NaN and ±infinity are not JSON. The
/// parser never produces them; building one by hand and canonicalizing it is
/// a programming error that traps (RFC 8785 §3.2.2.3).
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

// MARK: - Accessors

extension JSONValue {
    /// The string, if this is a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The object, if this is an object.
    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The elements, if this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The number, if this is a number.
    public var doubleValue: Double? {
        if case .number(let d) = self { return d }
        return nil
    }

    /// The Boolean, if this is `true` or `false`.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// Whether this is `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The number as an integer, if it is integral and a "safe integer"
    /// (|n| ≤ 2^53 − 1, ECMAScript `Number.isSafeInteger`).
    ///
    /// Larger magnitudes are refused because the text they came from may
    /// already have been rounded to a neighbouring double (RFC 7493 §2.2).
    public var intValue: Int? {
        guard case .number(let d) = self else { return nil }
        // The magnitude check also rejects NaN and infinities. Truncating
        // conversion rather than `rounded()`, which would need libm.
        guard d.magnitude <= 9_007_199_254_740_991 else { return nil }
        let i = Int(d)
        return Double(i) == d ? i : nil
    }

    /// The member named `key`, if this is an object that has one.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
}

// MARK: - Equality and hashing (canonical-form semantics)

extension JSONValue: Hashable {
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null):
            return true
        case (.bool(let a), .bool(let b)):
            return a == b
        case (.number(let a), .number(let b)):
            return a == b
        case (.string(let a), .string(let b)):
            return utf8Equal(a, b)
        case (.array(let a), .array(let b)):
            return a == b
        case (.object(let a), .object(let b)):
            return a == b
        default:
            return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null:
            hasher.combine(0 as UInt8)
        case .bool(let b):
            hasher.combine(1 as UInt8)
            hasher.combine(b)
        case .number(let d):
            hasher.combine(2 as UInt8)
            hasher.combine(d) // Double hashes 0 and -0 alike, matching ==.
        case .string(let s):
            hasher.combine(3 as UInt8)
            hashUTF8(s, into: &hasher)
        case .array(let a):
            hasher.combine(4 as UInt8)
            hasher.combine(a.count)
            for element in a { element.hash(into: &hasher) }
        case .object(let o):
            hasher.combine(5 as UInt8)
            o.hash(into: &hasher)
        }
    }
}

/// Code-unit equality of two strings. Swift's `==` on `String` applies
/// Unicode canonical equivalence, which JSON (and RFC 8785) does not.
@inline(__always)
func utf8Equal(_ a: String, _ b: String) -> Bool {
    let count = a.utf8.count
    guard count == b.utf8.count else { return false }
    if count == 0 { return true }
    // Native strings (small or large) expose their UTF-8 without copying.
    let fast: Bool?? = a.utf8.withContiguousStorageIfAvailable { x in
        b.utf8.withContiguousStorageIfAvailable { y in
            for i in 0..<count where x[i] != y[i] { return false }
            return true
        }
    }
    if let fast, let equal = fast { return equal }
    return a.utf8.elementsEqual(b.utf8)
}

/// Feeds the exact UTF-8 bytes of `s` (length-prefixed) to `hasher`.
func hashUTF8(_ s: String, into hasher: inout Hasher) {
    let utf8 = s.utf8
    hasher.combine(utf8.count)
    let done: Void? = utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    if done == nil {
        for byte in utf8 { hasher.combine(byte) }
    }
}

/// A member name compared and hashed by exact UTF-8 bytes, used to detect
/// duplicate names (RFC 7493 §2.3) and to look members up.
struct JSONMemberName: Hashable, Sendable {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (lhs: JSONMemberName, rhs: JSONMemberName) -> Bool {
        utf8Equal(lhs.string, rhs.string)
    }

    func hash(into hasher: inout Hasher) {
        hashUTF8(string, into: &hasher)
    }
}

// MARK: - JSONObject

/// A JSON object (RFC 8259 §4) with unique member names, as I-JSON requires
/// (RFC 7493 §2.3).
///
/// Members keep the order they were parsed or inserted in, so a value can be
/// shown as it arrived; that order carries no meaning — equality ignores it
/// and canonicalization (RFC 8785 §3.2.3) replaces it. Lookup by name is O(1)
/// and compares names by exact code units.
public struct JSONObject: Sendable {
    /// One member: a name and its value.
    public typealias Member = (key: String, value: JSONValue)

    /// Members in insertion order.
    private(set) var storage: [Member]
    /// Position of each member in `storage`, by exact name; built only for
    /// objects of more than `indexedCount` members (smaller ones are scanned,
    /// which costs less than hashing every name).
    private var index: [JSONMemberName: Int]?

    /// Objects up to this many members have no hash index.
    static let indexedCount = 16

    /// An empty object.
    public init() {
        storage = []
        index = nil
    }

    /// An object with `members` in the given order.
    ///
    /// - Precondition: member names are unique (compared by code units), as
    ///   with `Dictionary(uniqueKeysWithValues:)`; an object with duplicate
    ///   names is not I-JSON (RFC 7493 §2.3) and has no canonical form.
    public init(_ members: some Sequence<(String, JSONValue)>) {
        storage = []
        index = nil
        for (key, value) in members {
            precondition(position(of: key) == nil, "duplicate JSON member name \"\(key)\" (RFC 7493 §2.3)")
            appendUnchecked(key, value)
        }
    }

    /// Used by the parser, which has already rejected duplicates (and built
    /// the index of a large object).
    init(uncheckedMembers storage: [Member], index: [JSONMemberName: Int]?) {
        self.storage = storage
        self.index = storage.count > JSONObject.indexedCount ? (index ?? JSONObject.makeIndex(storage)) : nil
    }

    static func makeIndex(_ storage: [Member]) -> [JSONMemberName: Int] {
        var index: [JSONMemberName: Int] = [:]
        index.reserveCapacity(storage.count)
        for (i, member) in storage.enumerated() { index[JSONMemberName(member.key)] = i }
        return index
    }

    /// Where the member named `key` is in `storage`, matched by exact code units.
    @inline(__always)
    func position(of key: String) -> Int? {
        if let index { return index[JSONMemberName(key)] }
        return storage.firstIndex { utf8Equal($0.key, key) }
    }

    private mutating func appendUnchecked(_ key: String, _ value: JSONValue) {
        storage.append((key: key, value: value))
        if index != nil {
            index![JSONMemberName(key)] = storage.count - 1
        } else if storage.count > JSONObject.indexedCount {
            index = JSONObject.makeIndex(storage)
        }
    }

    /// Members in insertion order.
    public var members: [Member] { storage }

    /// Member names in insertion order.
    public var keys: [String] { storage.map(\.key) }

    /// The value of the member named `key`, matched by exact code units.
    ///
    /// Setting a value replaces an existing member in place or appends a new
    /// one; setting `nil` removes the member (O(n)).
    public subscript(key: String) -> JSONValue? {
        get {
            guard let i = position(of: key) else { return nil }
            return storage[i].value
        }
        set {
            if let i = position(of: key) {
                if let newValue {
                    storage[i].value = newValue
                } else {
                    storage.remove(at: i)
                    index = storage.count > JSONObject.indexedCount ? JSONObject.makeIndex(storage) : nil
                }
            } else if let newValue {
                appendUnchecked(key, newValue)
            }
        }
    }
}

extension JSONObject: RandomAccessCollection {
    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.count }
    public subscript(position: Int) -> Member { storage[position] }
}

extension JSONObject: Hashable {
    /// Same names with equal values, in any order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.storage.count == rhs.storage.count else { return false }
        for (key, value) in lhs.storage {
            guard let j = rhs.position(of: key), rhs.storage[j].value == value else { return false }
        }
        return true
    }

    /// Order-independent: a wrapping sum of per-member hashes.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.count)
        var sum: Int = 0
        for (key, value) in storage {
            var memberHasher = Hasher()
            hashUTF8(key, into: &memberHasher)
            value.hash(into: &memberHasher)
            sum = sum &+ memberHasher.finalize()
        }
        hasher.combine(sum)
    }
}

// MARK: - Literals

extension JSONValue: ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Members keep literal order. - Precondition: names are unique.
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    /// Members keep literal order. - Precondition: names are unique.
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self.init(elements) }
}
