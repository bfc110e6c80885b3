/// C2SP tlog-tiles arithmetic (height 8) and paths: pure, no I/O.
///
/// A hash tile at level L, index N holds the hashes of the level-8L tree nodes
/// N·256 … N·256+W−1; an entry bundle (level `entries`) holds the entries of
/// leaves N·256 … N·256+W−1. A tile of width 256 is full and never changes; a
/// partial tile of width W is a prefix of it, so it is immutable too.
public struct Tile: Sendable, Hashable, CustomStringConvertible {
    public static let height = 8
    public static let fullWidth = 1 << height

    public enum Kind: Sendable, Hashable {
        case hashes(level: Int)
        case entries
    }

    public var kind: Kind
    public var index: UInt64
    /// 1…256; 256 means full.
    public var width: Int

    public init(kind: Kind, index: UInt64, width: Int) {
        precondition(width >= 1 && width <= Tile.fullWidth, "tile width out of range")
        self.kind = kind
        self.index = index
        self.width = width
    }

    public var isFull: Bool { width == Tile.fullWidth }

    /// The tree level whose nodes the tile lists (0 for entry bundles, whose leaves they are).
    public var nodeLevel: Int {
        switch kind {
        case .hashes(let level): return level * Tile.height
        case .entries: return 0
        }
    }

    /// Index of the first node at `nodeLevel`.
    public var firstNode: UInt64 { index << UInt64(Tile.height) }

    /// How many nodes of `nodeLevel` a tree of `size` leaves has completed.
    public static func nodeCount(level: Int, treeSize: UInt64) -> UInt64 {
        level >= 64 ? 0 : treeSize >> UInt64(level)
    }

    /// True when a tree of `treeSize` leaves contains this tile at this width.
    public func exists(inTreeOfSize treeSize: UInt64) -> Bool {
        let available = Tile.nodeCount(level: nodeLevel, treeSize: treeSize)
        // Overflow-free form of: firstNode + width <= available.
        guard index <= (UInt64.max >> UInt64(Tile.height)) else { return false }
        return available >= firstNode && available - firstNode >= UInt64(width)
    }

    /// The tiles a tree of `treeSize` leaves publishes at one level: every full tile and the partial one at its end.
    public static func tiles(kind: Kind, treeSize: UInt64) -> [Tile] {
        let level: Int
        switch kind {
        case .hashes(let l): level = l * height
        case .entries: level = 0
        }
        let count = nodeCount(level: level, treeSize: treeSize)
        var tiles: [Tile] = []
        let full = count >> UInt64(height)
        for n in 0..<full { tiles.append(Tile(kind: kind, index: n, width: fullWidth)) }
        let rest = Int(count & UInt64(fullWidth - 1))
        if rest > 0 { tiles.append(Tile(kind: kind, index: full, width: rest)) }
        return tiles
    }

    /// The path below the log's prefix: `tile/0/x001/234`, `tile/entries/005.p/17`.
    public var path: String {
        let levelPart: String
        switch kind {
        case .hashes(let level): levelPart = String(level)
        case .entries: levelPart = "entries"
        }
        var path = "tile/\(levelPart)/\(Tile.encodeIndex(index))"
        if !isFull { path += ".p/\(width)" }
        return path
    }

    public var description: String { path }

    /// `x001/x234/067`: three-digit groups, all but the last prefixed with `x`.
    public static func encodeIndex(_ n: UInt64) -> String {
        var groups: [String] = []
        var rest = n
        repeat {
            let group = Int(rest % 1000)
            groups.append(group < 10 ? "00\(group)" : group < 100 ? "0\(group)" : "\(group)")
            rest /= 1000
        } while rest > 0
        return groups.reversed().enumerated().map { position, group in
            position == groups.count - 1 ? group : "x" + group
        }.joined(separator: "/")
    }

    /// Parses a tile path exactly as `path` writes it (with or without a leading
    /// `/`); anything else, including non-canonical spellings such as
    /// `x000/001` or `.p/256`, is rejected.
    public init?(path: some StringProtocol) {
        var parts = String(path).split(separator: "/", omittingEmptySubsequences: false)
        if parts.first == "" { parts.removeFirst() }
        guard parts.count >= 3, parts[0] == "tile" else { return nil }
        let kind: Kind
        if parts[1] == "entries" {
            kind = .entries
        } else {
            guard let level = Tile.parseCanonicalDecimal(parts[1]), level < 64 / Tile.height else { return nil }
            kind = .hashes(level: Int(level))
        }
        var indexParts = Array(parts[2...])
        var width = Tile.fullWidth
        // A partial tile ends in `NNN.p/W`.
        if indexParts.count >= 2, indexParts[indexParts.count - 2].hasSuffix(".p") {
            guard let w = Tile.parseCanonicalDecimal(indexParts.removeLast()), w >= 1, w < UInt64(Tile.fullWidth)
            else { return nil }
            width = Int(w)
            let last = indexParts.removeLast()
            indexParts.append(last.dropLast(2))
        }
        guard let index = Tile.decodeIndex(indexParts) else { return nil }
        self.init(kind: kind, index: index, width: width)
    }

    private static func decodeIndex(_ groups: [Substring]) -> UInt64? {
        guard !groups.isEmpty, groups.count <= 7 else { return nil }
        var value: UInt64 = 0
        for (position, group) in groups.enumerated() {
            var digits = group
            if position < groups.count - 1 {
                guard digits.first == "x" else { return nil }
                digits = digits.dropFirst()
                // A leading group of zeros would be a second spelling of the same index.
                if position == 0 && digits == "000" { return nil }
            }
            guard digits.utf8.count == 3, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            let (scaled, overflow) = value.multipliedReportingOverflow(by: 1000)
            guard !overflow else { return nil }
            let (sum, overflow2) = scaled.addingReportingOverflow(UInt64(digits)!)
            guard !overflow2 else { return nil }
            value = sum
        }
        return value
    }

    /// Decimal without sign, leading zeros or other characters.
    public static func parseCanonicalDecimal(_ text: some StringProtocol) -> UInt64? {
        guard let first = text.utf8.first, text.utf8.count <= 20,
            text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            first != 0x30 || text.utf8.count == 1
        else { return nil }
        return UInt64(text)
    }
}

/// C2SP entry bundles: each entry as a big-endian uint16 length and its bytes.
public enum EntryBundle {
    public static let maxEntryLength = Int(UInt16.max)

    public static func encode(_ entries: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(entries.reduce(0) { $0 + 2 + $1.count })
        for entry in entries {
            precondition(entry.count <= maxEntryLength, "entry longer than an entry bundle can carry")
            out.append(UInt8(entry.count >> 8))
            out.append(UInt8(entry.count & 0xff))
            out.append(contentsOf: entry)
        }
        return out
    }

    /// nil when the bytes are not exactly a sequence of length-prefixed entries.
    public static func decode(_ bytes: some Collection<UInt8>) -> [[UInt8]]? {
        let bytes = Array(bytes)
        var entries: [[UInt8]] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 2 else { return nil }
            let length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
            offset += 2
            guard bytes.count - offset >= length else { return nil }
            entries.append(Array(bytes[offset..<offset + length]))
            offset += length
        }
        return entries
    }
}
