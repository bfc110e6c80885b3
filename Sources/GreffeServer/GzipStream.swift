import CZlib
import GreffeHTTP

/// Streaming gzip (RFC 1952) over the system zlib, for large bundles sent to
/// clients that accept it. One instance per response; not thread-safe.
final class GzipStream {
    private var stream = z_stream()
    private var finished = false

    init() throws {
        // windowBits 15 + 16 selects the gzip wrapper.
        let status = deflateInit2_(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw APIError(.internalServerError, "gzip is unavailable") }
    }

    deinit {
        deflateEnd(&stream)
    }

    /// Compresses `input`; with `finish`, also flushes and closes the gzip member.
    func compress(_ input: [UInt8], finish: Bool = false) -> [UInt8] {
        precondition(!finished, "gzip stream used after finish")
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var input = input
        input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(source.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = UInt32(target.count)
                    deflate(&stream, finish ? Z_FINISH : Z_NO_FLUSH)
                    output.append(contentsOf: target[0..<(target.count - Int(stream.avail_out))])
                }
            } while stream.avail_out == 0
        }
        stream.next_in = nil
        if finish { finished = true }
        return output
    }
}
