// MARK: - Patterns

/// A regular expression in the portable subset of ECMA-262 (the dialect JSON
/// Schema names, Validation §6.3.3 and Core §6.4) that also means the same in
/// Python's `re`, which python-jsonschema uses. Matching is a search (the
/// pattern is not implicitly anchored) over Unicode code points.
///
/// Supported: literal characters; escaped syntax characters
/// (`\^ \$ \\ \. \* \+ \? \( \) \[ \] \{ \} \| \/ \-`) and `\n \r \t`;
/// character classes `[...]` / `[^...]` with ranges; `^` and `$` (start and
/// end of the input: no multiline mode); groups `(...)` and `(?:...)`;
/// alternation `|`; greedy quantifiers `* + ? {n} {n,} {n,m}`.
///
/// Refused at load time, because ECMA-262 and Python disagree on them or
/// they are not needed: `.`, `\d \w \s \b` and other class escapes,
/// backreferences, lookaround, named groups, lazy quantifiers, flags.
///
/// One difference remains that a pattern cannot avoid: in Python `$` also
/// matches before a final line feed, so `^[a-z]+$` accepts "abc\n" there and
/// not here (nor in ECMA-262). Schemas guard against it with a length bound
/// or a `not` clause (see `Schemas/events/README.md`).
public struct SchemaPattern: Sendable {
    public struct SyntaxError: Error, Sendable, Equatable {
        public let message: String
    }

    /// The pattern as written in the schema.
    public let source: String
    private let root: PatternNode
    private let anchoredAtStart: Bool

    /// The shapes the event schemas use, matched without backtracking.
    private enum Shape: Sendable {
        /// `^` literal prefix, one repeated class or character, `$`: e.g. `^hmac-sha256:[0-9a-f]{64}$`.
        case anchoredRun(prefix: [UInt32], unit: PatternNode, min: Int, max: Int)
        /// Literals, each anchored at the start or not, as alternatives: e.g. `^0000|:60|\n`.
        case literals([(anchored: Bool, scalars: [UInt32])])
    }

    private let shape: Shape?

    public init(_ source: String) throws(SyntaxError) {
        self.source = source
        var parser = PatternParser(scalars: Array(source.unicodeScalars.map(\.value)))
        self.root = try parser.parse()
        self.anchoredAtStart = root.isAnchoredAtStart
        self.shape = SchemaPattern.shape(of: root)
    }

    private static func shape(of root: PatternNode) -> Shape? {
        if case .sequence(let nodes) = root, nodes.count >= 3, case .start = nodes.first!, case .end = nodes.last! {
            var prefix: [UInt32] = []
            for node in nodes.dropFirst().dropLast(2) {
                guard case .scalar(let c) = node else { return nil }
                prefix.append(c)
            }
            switch nodes[nodes.count - 2] {
            case .repetition(let unit, let min, let max) where unit.isSingleScalar:
                return .anchoredRun(prefix: prefix, unit: unit, min: min, max: max)
            case .scalar, .set:
                return .anchoredRun(prefix: prefix, unit: nodes[nodes.count - 2], min: 1, max: 1)
            default:
                return nil
            }
        }
        func literal(_ node: PatternNode) -> (anchored: Bool, scalars: [UInt32])? {
            switch node {
            case .scalar(let c): return (false, [c])
            case .sequence(let nodes):
                var anchored = false
                var scalars: [UInt32] = []
                for (i, node) in nodes.enumerated() {
                    switch node {
                    case .start where i == 0: anchored = true
                    case .scalar(let c): scalars.append(c)
                    default: return nil
                    }
                }
                return scalars.isEmpty ? nil : (anchored, scalars)
            default: return nil
            }
        }
        let alternatives: [PatternNode]
        if case .alternation(let nodes) = root { alternatives = nodes } else { alternatives = [root] }
        var literals: [(anchored: Bool, scalars: [UInt32])] = []
        for alternative in alternatives {
            guard let found = literal(alternative) else { return nil }
            literals.append(found)
        }
        return .literals(literals)
    }

    private static func matchesShape<Unit: FixedWidthInteger>(_ shape: Shape, _ input: UnsafeBufferPointer<Unit>) -> Bool {
        switch shape {
        case .anchoredRun(let prefix, let unit, let min, let max):
            guard input.count >= prefix.count else { return false }
            for i in 0..<prefix.count where UInt32(input[i]) != prefix[i] { return false }
            let run = input.count - prefix.count
            guard run >= min, run <= max else { return false }
            switch unit {
            case .scalar(let c):
                for i in prefix.count..<input.count where UInt32(input[i]) != c { return false }
            case .set(let set):
                for i in prefix.count..<input.count where !set.contains(UInt32(input[i])) { return false }
            default:
                return false
            }
            return true
        case .literals(let literals):
            for (anchored, scalars) in literals {
                let lastStart = anchored ? (input.count >= scalars.count ? 0 : -1) : input.count - scalars.count
                if lastStart < 0 { continue }
                search: for start in 0...lastStart {
                    for k in 0..<scalars.count where UInt32(input[start + k]) != scalars[k] { continue search }
                    return true
                }
            }
            return false
        }
    }

    /// Whether the pattern matches anywhere in `string` (ECMA-262
    /// `RegExp.prototype.test`, Python `re.search`).
    public func matches(_ string: String) -> Bool {
        // ASCII text is matched on its bytes in place (each byte is its code point).
        let ascii: Bool?? = string.utf8.withContiguousStorageIfAvailable { bytes -> Bool? in
            for byte in bytes where byte >= 0x80 { return nil }
            return search(PatternMatcher(input: bytes))
        }
        if let ascii, let matched = ascii { return matched }
        let scalars = string.unicodeScalars.map(\.value)
        return scalars.withUnsafeBufferPointer { search(PatternMatcher(input: $0)) }
    }

    private func search<Unit: FixedWidthInteger>(_ matcher: PatternMatcher<Unit>) -> Bool {
        if let shape { return SchemaPattern.matchesShape(shape, matcher.input) }
        let lastStart = anchoredAtStart ? 0 : matcher.input.count
        for start in 0...lastStart where matcher.match(root, start, { _ in true }) {
            return true
        }
        return false
    }
}

indirect enum PatternNode: Sendable {
    case scalar(UInt32)
    case set(PatternSet)
    case start
    case end
    case sequence([PatternNode])
    case alternation([PatternNode])
    case repetition(PatternNode, min: Int, max: Int)

    var isSingleScalar: Bool {
        switch self {
        case .scalar, .set: return true
        default: return false
        }
    }

    var isAnchoredAtStart: Bool {
        switch self {
        case .start: return true
        case .sequence(let nodes): return nodes.first?.isAnchoredAtStart ?? false
        case .alternation(let nodes): return nodes.allSatisfy(\.isAnchoredAtStart)
        default: return false
        }
    }
}

struct PatternSet: Sendable {
    let ranges: [ClosedRange<UInt32>]
    let negated: Bool
    /// Membership of U+0000–U+007F as a bitmap (negation applied).
    private let ascii: (UInt64, UInt64)

    init(ranges: [ClosedRange<UInt32>], negated: Bool) {
        self.ranges = ranges
        self.negated = negated
        var ascii: (UInt64, UInt64) = (0, 0)
        for c in UInt32(0)..<128 where ranges.contains(where: { $0.contains(c) }) != negated {
            if c < 64 { ascii.0 |= 1 << UInt64(c) } else { ascii.1 |= 1 << UInt64(c - 64) }
        }
        self.ascii = ascii
    }

    @inline(__always)
    func contains(_ scalar: UInt32) -> Bool {
        if scalar < 64 { return ascii.0 >> UInt64(scalar) & 1 != 0 }
        if scalar < 128 { return ascii.1 >> UInt64(scalar - 64) & 1 != 0 }
        return ranges.contains { $0.contains(scalar) } != negated
    }
}

struct PatternParser {
    let scalars: [UInt32]
    var position = 0

    init(scalars: [UInt32]) { self.scalars = scalars }

    typealias SyntaxError = SchemaPattern.SyntaxError

    static let syntaxCharacters: Set<UInt32> = Set("^$\\.*+?()[]{}|/-".unicodeScalars.map(\.value))

    mutating func parse() throws(SyntaxError) -> PatternNode {
        let node = try parseAlternation()
        if position < scalars.count {
            throw error("unexpected \(show(scalars[position]))")
        }
        return node
    }

    func error(_ message: String) -> SyntaxError {
        SyntaxError(message: "\(message) at character \(position) (supported: literals, [classes], ^, $, (groups), |, * + ? {n,m})")
    }

    func show(_ scalar: UInt32) -> String {
        "'" + String(Unicode.Scalar(scalar).map { Character($0) } ?? "?") + "'"
    }

    var atEnd: Bool { position >= scalars.count }
    var current: UInt32 { scalars[position] }

    func isChar(_ c: Character) -> Bool { !atEnd && current == c.unicodeScalars.first!.value }

    mutating func parseAlternation() throws(SyntaxError) -> PatternNode {
        var alternatives = [try parseSequence()]
        while isChar("|") {
            position += 1
            alternatives.append(try parseSequence())
        }
        return alternatives.count == 1 ? alternatives[0] : .alternation(alternatives)
    }

    mutating func parseSequence() throws(SyntaxError) -> PatternNode {
        var nodes: [PatternNode] = []
        while !atEnd && !isChar("|") && !isChar(")") {
            let atom = try parseAtom()
            nodes.append(try parseQuantifier(atom))
        }
        return nodes.count == 1 ? nodes[0] : .sequence(nodes)
    }

    mutating func parseQuantifier(_ atom: PatternNode) throws(SyntaxError) -> PatternNode {
        guard !atEnd else { return atom }
        var min = 0
        var max = Int.max
        switch current {
        case UInt32(UInt8(ascii: "*")):
            position += 1
        case UInt32(UInt8(ascii: "+")):
            min = 1
            position += 1
        case UInt32(UInt8(ascii: "?")):
            max = 1
            position += 1
        case UInt32(UInt8(ascii: "{")):
            position += 1
            guard let low = parseDecimal() else { throw error("expected a number after '{'") }
            min = low
            max = low
            if isChar(",") {
                position += 1
                if isChar("}") {
                    max = Int.max
                } else {
                    guard let high = parseDecimal() else { throw error("expected a number or '}' after ','") }
                    max = high
                }
            }
            guard isChar("}") else { throw error("expected '}'") }
            position += 1
            guard min <= max else { throw error("quantifier {\(min),\(max)} has min > max") }
        default:
            return atom
        }
        if case .start = atom { throw error("a quantifier cannot follow '^'") }
        if case .end = atom { throw error("a quantifier cannot follow '$'") }
        if !atEnd, isChar("?") || isChar("*") || isChar("+") || isChar("{") {
            throw error("lazy or repeated quantifiers are not supported")
        }
        return .repetition(atom, min: min, max: max)
    }

    mutating func parseDecimal() -> Int? {
        var value = 0
        var digits = 0
        while !atEnd, current >= 0x30, current <= 0x39, digits < 6 {
            value = value * 10 + Int(current - 0x30)
            digits += 1
            position += 1
        }
        return digits == 0 ? nil : value
    }

    mutating func parseAtom() throws(SyntaxError) -> PatternNode {
        let c = current
        switch c {
        case UInt32(UInt8(ascii: "^")):
            position += 1
            return .start
        case UInt32(UInt8(ascii: "$")):
            position += 1
            return .end
        case UInt32(UInt8(ascii: "(")):
            position += 1
            if isChar("?") {
                guard position + 1 < scalars.count, scalars[position + 1] == UInt32(UInt8(ascii: ":")) else {
                    throw error("lookaround and named groups are not supported")
                }
                position += 2
            }
            let inner = try parseAlternation()
            guard isChar(")") else { throw error("missing ')'") }
            position += 1
            return inner
        case UInt32(UInt8(ascii: "[")):
            return .set(try parseClass())
        case UInt32(UInt8(ascii: "\\")):
            return .scalar(try parseEscape())
        case UInt32(UInt8(ascii: ".")):
            throw error("'.' is not supported (ECMA-262 and Python disagree on which line terminators it excludes); use a class")
        case UInt32(UInt8(ascii: "*")), UInt32(UInt8(ascii: "+")), UInt32(UInt8(ascii: "?")), UInt32(UInt8(ascii: "{")):
            throw error("nothing to repeat")
        case UInt32(UInt8(ascii: ")")), UInt32(UInt8(ascii: "]")), UInt32(UInt8(ascii: "}")):
            throw error("unescaped \(show(c))")
        default:
            position += 1
            return .scalar(c)
        }
    }

    /// After a backslash: an escaped syntax character or \n \r \t.
    mutating func parseEscape() throws(SyntaxError) -> UInt32 {
        position += 1 // the backslash
        guard !atEnd else { throw error("pattern ends with '\\'") }
        let c = current
        position += 1
        switch c {
        case UInt32(UInt8(ascii: "n")): return 0x0A
        case UInt32(UInt8(ascii: "r")): return 0x0D
        case UInt32(UInt8(ascii: "t")): return 0x09
        default:
            if Self.syntaxCharacters.contains(c) { return c }
            position -= 2
            throw error("the escape \\\(String(Unicode.Scalar(c).map { Character($0) } ?? "?")) is not supported (\\d, \\w, \\s and \\b differ between ECMA-262 and Python)")
        }
    }

    mutating func parseClass() throws(SyntaxError) -> PatternSet {
        position += 1 // [
        var negated = false
        if isChar("^") {
            negated = true
            position += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while true {
            guard !atEnd else { throw error("missing ']'") }
            if isChar("]") {
                if first { throw error("an empty class [] is not supported") }
                position += 1
                break
            }
            first = false
            let low = try parseClassAtom()
            if isChar("-"), position + 1 < scalars.count, scalars[position + 1] != UInt32(UInt8(ascii: "]")) {
                position += 1
                let high = try parseClassAtom()
                guard low <= high else { throw error("class range out of order") }
                ranges.append(low...high)
            } else {
                ranges.append(low...low)
            }
        }
        return PatternSet(ranges: ranges, negated: negated)
    }

    mutating func parseClassAtom() throws(SyntaxError) -> UInt32 {
        let c = current
        if c == UInt32(UInt8(ascii: "\\")) { return try parseEscape() }
        if c == UInt32(UInt8(ascii: "[")) {
            throw error("'[' inside a class must be escaped (Python treats it as a nested set)")
        }
        position += 1
        return c
    }
}

/// Backtracking matcher over code points. Repetitions of a single
/// character are iterative (no recursion per input character), so long
/// inputs cannot exhaust the stack.
struct PatternMatcher<Unit: FixedWidthInteger> {
    /// Code points (or, for ASCII text, its bytes).
    let input: UnsafeBufferPointer<Unit>

    func match(_ node: PatternNode, _ i: Int, _ next: (Int) -> Bool) -> Bool {
        switch node {
        case .scalar(let c):
            return i < input.count && UInt32(input[i]) == c && next(i + 1)
        case .set(let set):
            return i < input.count && set.contains(UInt32(input[i])) && next(i + 1)
        case .start:
            return i == 0 && next(i)
        case .end:
            return i == input.count && next(i)
        case .sequence(let nodes):
            return matchSequence(nodes, 0, i, next)
        case .alternation(let alternatives):
            for alternative in alternatives where match(alternative, i, next) { return true }
            return false
        case .repetition(let inner, let min, let max):
            if inner.isSingleScalar {
                var count = 0
                while count < max, i + count < input.count, matchesOne(inner, UInt32(input[i + count])) { count += 1 }
                while count >= min {
                    if next(i + count) { return true }
                    count -= 1
                }
                return false
            }
            return matchRepetition(inner, min: min, max: max, count: 0, i, next)
        }
    }

    private func matchesOne(_ node: PatternNode, _ scalar: UInt32) -> Bool {
        switch node {
        case .scalar(let c): return c == scalar
        case .set(let set): return set.contains(scalar)
        default: return false
        }
    }

    private func matchSequence(_ nodes: [PatternNode], _ k: Int, _ i: Int, _ next: (Int) -> Bool) -> Bool {
        if k == nodes.count { return next(i) }
        return match(nodes[k], i) { j in matchSequence(nodes, k + 1, j, next) }
    }

    /// Greedy repetition of a complex node; an iteration that consumes
    /// nothing ends the loop (ECMA-262 RepeatMatcher step 2.b).
    private func matchRepetition(_ inner: PatternNode, min: Int, max: Int, count: Int, _ i: Int, _ next: (Int) -> Bool) -> Bool {
        if count < max {
            let advanced = match(inner, i) { j in
                (j != i || count < min) && matchRepetition(inner, min: min, max: max, count: count + 1, j, next)
            }
            if advanced { return true }
        }
        return count >= min && next(i)
    }
}
