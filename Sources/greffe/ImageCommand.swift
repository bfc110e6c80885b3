import ArgumentParser
import Foundation
import GreffeImage

/// `greffe image`: what a platform records of an image.
struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Image hashes for events' content hashes.",
        subcommands: [ImageHashCommand.self]
    )
}

/// `greffe image hash FILE...`: one JSON object a line,
/// `{"file", "sha256", "pdq", "pdq_quality"}`, the fields of an event's image
/// reference (Schemas/events/envelope.schema.json, $defs/image_ref).
struct ImageHashCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash",
        abstract: "Print the SHA-256, PDQ hash and PDQ quality of PNG and JPEG files, one JSON object a line.",
        discussion: """
            PDQ is Meta's perceptual hash, computed as the reference (ThreatExchange pdq/cpp, via the pdqhash \
            package) computes it; EXIF orientation is not applied, as in the reference's tools. Images over \
            \(ImageDecoding.defaultMaximumPixels / 1_000_000) megapixels or files over \
            \(ImageHashCommand.maximumFileBytes >> 20) MiB are refused. A file that cannot be read or decoded \
            gets one line on standard error; the others are still hashed, and the exit status is then 1.
            """
    )

    static let maximumFileBytes = 256 << 20

    @Argument(help: "PNG or JPEG files.")
    var files: [String]

    struct Line: Encodable {
        let file: String
        let sha256: String
        let pdq: String
        let pdqQuality: Int
        enum CodingKeys: String, CodingKey {
            case file, sha256, pdq
            case pdqQuality = "pdq_quality"
        }
    }

    func run() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        var failures = 0
        for file in files {
            do {
                let hashes = try ImageHashes.compute(fileBytes: try Self.read(file))
                let line = Line(file: file, sha256: hashes.sha256, pdq: hashes.pdq.description, pdqQuality: hashes.pdqQuality)
                print(String(decoding: try encoder.encode(line), as: UTF8.self))
            } catch {
                failures += 1
                FileHandle.standardError.write(Data("greffe image hash: \(file): \(error)\n".utf8))
            }
        }
        if failures > 0 { throw ExitCode.failure }
    }

    /// The whole file, refusing what is not a regular file or is too big to be an image worth hashing.
    static func read(_ path: String) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CommandFailure("cannot open the file") }
        defer { try? handle.close() }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        guard attributes[.type] as? FileAttributeType == .typeRegular else { throw CommandFailure("not a regular file") }
        let data = try handle.read(upToCount: maximumFileBytes + 1) ?? Data()
        guard data.count <= maximumFileBytes else { throw CommandFailure("larger than \(maximumFileBytes >> 20) MiB") }
        return [UInt8](data)
    }
}
