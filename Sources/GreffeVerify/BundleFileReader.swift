import Foundation
import GreffeCore

/// Where a bundle's bytes come from: a file read in chunks, or memory.
public protocol BundleByteSource {
    /// Fills `buffer` from the current position; 0 at the end.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    mutating func seek(to offset: UInt64) throws
    /// The total size when known (for progress).
    var size: UInt64? { get }
}

public struct FileByteSource: BundleByteSource {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private let descriptor: Int32
    public let size: UInt64?

    public init(path: String) throws {
        descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw Failure(description: "cannot read \(path): \(String(cString: strerror(errno)))") }
        var status = stat()
        size = fstat(descriptor, &status) == 0 ? UInt64(status.st_size) : nil
    }

    public func close() { _ = Foundation.close(descriptor) }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let count = Foundation.read(descriptor, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw Failure(description: "reading the bundle failed: \(String(cString: strerror(errno)))")
        }
    }

    public mutating func seek(to offset: UInt64) throws {
        guard lseek(descriptor, off_t(offset), SEEK_SET) >= 0 else { throw Failure(description: "cannot seek in the bundle") }
    }
}

/// The bytes `[range)` of another source, read as a whole file (one shard's bundle inside a `greffe-shard-bundle/v1`).
public struct SliceByteSource<Base: BundleByteSource>: BundleByteSource {
    private var base: Base
    private let range: Range<UInt64>
    private var position: UInt64

    public init(_ base: Base, range: Range<UInt64>) throws {
        self.base = base
        self.range = range
        position = range.lowerBound
        try self.base.seek(to: range.lowerBound)
    }

    public var size: UInt64? { UInt64(range.count) }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let wanted = Int(min(UInt64(buffer.count), range.upperBound - position))
        guard wanted > 0 else { return 0 }
        let count = try base.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<wanted]))
        position += UInt64(count)
        return count
    }

    public mutating func seek(to offset: UInt64) throws {
        position = range.lowerBound + min(offset, UInt64(range.count))
        try base.seek(to: position)
    }
}

public struct MemoryByteSource: BundleByteSource {
    private let bytes: [UInt8]
    private var position = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var size: UInt64? { UInt64(bytes.count) }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, bytes.count - position)
        bytes.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + position, byteCount: count)
        }
        position += count
        return count
    }

    public mutating func seek(to offset: UInt64) throws { position = Int(min(offset, UInt64(bytes.count))) }
}

/// Reads a bundle's top-level JSON object member by member, in constant
/// memory: members other than `events` are handed over whole (they are
/// small, and bounded), the elements of `events` one by one as raw bytes,
/// for the caller to parse strictly (`JSONParser`) on any thread. Only the
/// structure between values is checked here; every value is parsed in full
/// by its consumer, so nothing unchecked gets through.
struct BundleFileReader<Source: BundleByteSource> {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static var chunkSize: Int { 8 << 20 }
    /// No single value (a member, one event) may be larger.
    static var maxValueBytes: Int { 64 << 20 }

    private var source: Source
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var atEnd = false
    /// File offset of `buffer[0]`.
    private var bufferOffset: UInt64 = 0
    private(set) var bytesRead: UInt64 = 0

    init(source: Source) {
        self.source = source
        buffer = [UInt8](repeating: 0, count: Self.chunkSize)
    }

    var size: UInt64? { source.size }

    /// The file offset of the next unread byte.
    var offset: UInt64 { bufferOffset + UInt64(start) }

    private mutating func fill() throws -> Bool {
        if atEnd { return false }
        if start > 0 {
            // Keep the unread bytes, at the front.
            buffer.withUnsafeMutableBytes { raw in
                if end > start { raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: end - start) }
            }
            bufferOffset += UInt64(start)
            end -= start
            start = 0
        }
        if end == buffer.count {
            guard buffer.count < Self.maxValueBytes + Self.chunkSize else { throw Failure(description: "a value of the bundle is larger than \(Self.maxValueBytes >> 20) MiB") }
            buffer += [UInt8](repeating: 0, count: buffer.count)
        }
        let count = try buffer.withUnsafeMutableBytes { raw in
            try source.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[end...]))
        }
        if count == 0 {
            atEnd = true
            return false
        }
        end += count
        bytesRead += UInt64(count)
        return true
    }

    mutating func seek(to offset: UInt64) throws {
        try source.seek(to: offset)
        bufferOffset = offset
        start = 0
        end = 0
        atEnd = false
    }

    /// The next byte that is not JSON whitespace, not consumed; nil at the end.
    mutating func peekSignificant() throws -> UInt8? {
        while true {
            while start < end {
                let byte = buffer[start]
                if byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { start += 1 } else { return byte }
            }
            if try !fill() { return nil }
        }
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws {
        guard try peekSignificant() == byte else { throw Failure(description: "the bundle is not valid JSON: expected \(what) at byte \(offset)") }
        start += 1
    }

    /// Consumes `byte` if it is next.
    mutating func take(_ byte: UInt8) throws -> Bool {
        guard try peekSignificant() == byte else { return false }
        start += 1
        return true
    }

    /// The next value, whole, consumed: its raw bytes.
    mutating func nextValue() throws -> ArraySlice<UInt8> {
        guard try peekSignificant() != nil else { throw Failure(description: "the bundle is not valid JSON: it ends too early") }
        while true {
            if let length = Self.valueLength(buffer, from: start, to: end) {
                defer { start += length }
                return buffer[start..<(start + length)]
            }
            guard end - start <= Self.maxValueBytes else { throw Failure(description: "a value of the bundle is larger than \(Self.maxValueBytes >> 20) MiB") }
            if try !fill() {
                // A scalar may end at the end of the input; anything else is cut short.
                if let length = Self.valueLength(buffer, from: start, to: end, atEnd: true) {
                    defer { start += length }
                    return buffer[start..<(start + length)]
                }
                throw Failure(description: "the bundle is not valid JSON: it ends inside a value")
            }
        }
    }

    /// Consumes the next value without keeping it, however large (a shard's whole bundle in a
    /// `greffe-shard-bundle/v1`): strings and brackets are matched; the value's grammar is left to
    /// whoever reads it again from its offsets.
    mutating func skipValue() throws {
        guard let first = try peekSignificant() else { throw Failure(description: "the bundle is not valid JSON: it ends too early") }
        guard first == UInt8(ascii: "{") || first == UInt8(ascii: "[") else {
            _ = try nextValue()
            return
        }
        var depth = 0
        var inString = false
        var escaped = false
        while true {
            while start < end {
                let byte = buffer[start]
                start += 1
                if inString {
                    if escaped {
                        escaped = false
                    } else if byte == UInt8(ascii: "\\") {
                        escaped = true
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                    }
                    continue
                }
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return }
                default: break
                }
            }
            // Nothing unread is kept: the buffer does not grow with the value.
            bufferOffset += UInt64(end)
            start = 0
            end = 0
            if try !fill() { throw Failure(description: "the bundle is not valid JSON: it ends inside a value") }
        }
    }

    /// Copies the next value's bytes onto `out` without returning a slice (events, in bulk).
    mutating func appendNextValue(to out: inout [UInt8]) throws -> Int {
        let value = try nextValue()
        out.append(contentsOf: value)
        return value.count
    }

    /// The length of the JSON value starting at `from`, if it ends before `to`: strings and
    /// brackets are matched, escapes skipped; the value's grammar is its parser's to check.
    static func valueLength(_ bytes: [UInt8], from: Int, to: Int, atEnd: Bool = false) -> Int? {
        bytes.withUnsafeBufferPointer { valueLength($0, from: from, to: to, atEnd: atEnd) }
    }

    static func valueLength(_ buffer: UnsafeBufferPointer<UInt8>, from: Int, to: Int, atEnd: Bool = false) -> Int? {
        var position = from
        guard position < to, let base = buffer.baseAddress else { return nil }
        let first = buffer[position]
        if first == UInt8(ascii: "\"") {
            guard let end = stringEnd(base, from: position + 1, to: to) else { return nil }
            return end - from
        }
        if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
            var depth = 0
            while position < to {
                switch buffer[position] {
                case UInt8(ascii: "\""):
                    guard let end = stringEnd(base, from: position + 1, to: to) else { return nil }
                    position = end
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return position + 1 - from }
                default:
                    break
                }
                position += 1
            }
            return nil
        }
        // A number or literal: up to the next structural byte or whitespace.
        while position < to {
            switch buffer[position] {
            case UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), 0x20, 0x0A, 0x0D, 0x09: return position - from
            default: position += 1
            }
        }
        return atEnd ? position - from : nil
    }

    /// The index after the quote closing a string whose contents start at `from`: the next quote
    /// not escaped, found with memchr (strings are most of a bundle's bytes).
    @inline(__always)
    static func stringEnd(_ base: UnsafePointer<UInt8>, from: Int, to: Int) -> Int? {
        var position = from
        while position < to {
            guard let found = memchr(base + position, Int32(UInt8(ascii: "\"")), to - position) else { return nil }
            let quote = UnsafePointer<UInt8>(found.assumingMemoryBound(to: UInt8.self)) - base
            var backslashes = 0
            while quote - backslashes - 1 >= from && base[quote - backslashes - 1] == UInt8(ascii: "\\") { backslashes += 1 }
            if backslashes % 2 == 0 { return quote + 1 }
            position = quote + 1
        }
        return nil
    }
}
