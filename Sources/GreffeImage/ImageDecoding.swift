import CGreffeImage

/// An 8-bit RGB image decoded from a PNG or JPEG file.
public struct DecodedImage: Sendable {
    public let width: Int
    public let height: Int
    /// width × height × 3 bytes, row-major, R G B.
    public let rgb: [UInt8]
}

/// Why a file could not be decoded. `code` is for callers and tests to match.
public struct ImageDecodingError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// Neither PNG's nor JPEG's signature.
        case unknownFormat
        /// Malformed or truncated data.
        case malformed
        /// More pixels than the decoder accepts.
        case tooLarge
        /// A valid file this decoder does not handle (CMYK JPEG).
        case unsupported
        case outOfMemory
    }

    public let code: Code
    public let message: String
    public var description: String { message }
}

/// PNG and JPEG decoding from bytes in memory (Debian's libpng 1.6 and
/// libjpeg-turbo; see Sources/CGreffeImage).
///
/// Hostile input gets an `ImageDecodingError`, never a crash: signatures are
/// checked first, the header's dimensions against `maximumPixels` before any
/// pixel buffer exists, and the libraries' fatal errors come back as errors
/// (their handlers longjmp out instead of printing or calling exit()).
/// Peak memory is the file plus 3 bytes a pixel (11 with PDQ's Float
/// buffers): about 550 MB at the default cap.
///
/// EXIF orientation is not applied, as in Meta's reference tooling (the C++
/// `pdq-photo-hasher` reads pixels with CImg, ThreatExchange's Python with
/// PIL's `Image.open`; neither rotates): the hash is of the pixels as stored.
public enum ImageDecoding {
    /// 50 megapixels: more than any camera or platform upload, small enough
    /// that a decompression bomb cannot take the machine's memory.
    public static let defaultMaximumPixels = 50_000_000

    public enum Format: String, Sendable { case png, jpeg }

    /// The format by magic number, or nil.
    public static func format(of bytes: [UInt8]) -> Format? {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        return nil
    }

    public static func decode(fileBytes bytes: [UInt8], maximumPixels: Int = defaultMaximumPixels) throws(ImageDecodingError) -> DecodedImage {
        guard let format = format(of: bytes) else {
            throw ImageDecodingError(code: .unknownFormat, message: "not a PNG or JPEG file")
        }
        var image = greffe_image()
        let status = bytes.withUnsafeBufferPointer { buffer in
            switch format {
            case .png: greffe_decode_png(buffer.baseAddress, buffer.count, UInt64(max(maximumPixels, 0)), &image)
            case .jpeg: greffe_decode_jpeg(buffer.baseAddress, buffer.count, UInt64(max(maximumPixels, 0)), &image)
            }
        }
        defer { greffe_image_free(&image) }
        guard status == Int32(GREFFE_IMAGE_OK.rawValue), let pixels = image.pixels else {
            let message = withUnsafeBytes(of: image.message) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            let code: ImageDecodingError.Code
            switch UInt32(status) {
            case GREFFE_IMAGE_TOO_LARGE.rawValue: code = .tooLarge
            case GREFFE_IMAGE_UNSUPPORTED.rawValue: code = .unsupported
            case GREFFE_IMAGE_NO_MEMORY.rawValue: code = .outOfMemory
            default: code = .malformed
            }
            throw ImageDecodingError(code: code, message: message.isEmpty ? "could not decode the image" : message)
        }
        let width = Int(image.width)
        let height = Int(image.height)
        return DecodedImage(width: width, height: height, rgb: Array(UnsafeBufferPointer(start: pixels, count: width * height * 3)))
    }
}
