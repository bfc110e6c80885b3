import GreffeCore

/// What a platform records of an image in an event's content hashes
/// (`Schemas/events/envelope.schema.json`, `$defs/image_ref`): the file's
/// SHA-256 and the PDQ hash and quality of its pixels.
public struct ImageHashes: Sendable, Equatable {
    /// SHA-256 of the file's bytes, 64 lowercase hex digits.
    public let sha256: String
    public let pdq: PDQHash
    /// PDQ's quality score, 0…100; below 50 the reference's tools treat the
    /// hash as unreliable (flat or tiny images).
    public let pdqQuality: Int

    /// Decodes the PNG or JPEG in `fileBytes` and hashes it.
    public static func compute(fileBytes: [UInt8], maximumPixels: Int = ImageDecoding.defaultMaximumPixels) throws(ImageDecodingError) -> ImageHashes {
        let image = try ImageDecoding.decode(fileBytes: fileBytes, maximumPixels: maximumPixels)
        let (pdq, quality) = PDQ.hash(rgb: image.rgb, width: image.width, height: image.height)
        return ImageHashes(sha256: MerkleHash.sha256(fileBytes).hex, pdq: pdq, pdqQuality: quality)
    }
}
