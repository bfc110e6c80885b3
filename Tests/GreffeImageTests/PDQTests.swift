import Foundation
import GreffeImage
import Testing

/// The pattern the fixed vectors were made from: R = (7x + 3y) mod 256,
/// G = xy mod 256, B = 5 (x XOR y) mod 256.
private func pattern(width: Int, height: Int) -> [UInt8] {
    var rgb: [UInt8] = []
    rgb.reserveCapacity(width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            rgb += [UInt8((x * 7 + y * 3) % 256), UInt8((x * y) % 256), UInt8(((x ^ y) * 5) % 256)]
        }
    }
    return rgb
}

@Suite struct PDQHashTests {
    @Test func hexRoundTrips() throws {
        let text = "0daa49fb6f9d4c48effd2efdffe8cbe01dc8f950978ab6485708bc0039411208"
        let hash = try #require(PDQHash(hex: text))
        #expect(hash.description == text)
        #expect(PDQHash(hex: text.uppercased())?.description == text)
        #expect(PDQHash.zero.description == String(repeating: "0", count: 64))
    }

    @Test func malformedHexIsRefused() {
        let good = String(repeating: "a", count: 64)
        for bad in ["", String(good.dropLast()), good + "0", String(good.dropLast()) + "g", String(good.dropLast()) + " ", "0x" + String(good.dropFirst(2)),
            String(good.dropLast()) + "é"]
        {
            #expect(PDQHash(hex: bad) == nil, "accepted \(bad)")
        }
    }

    /// Bit k is bit k of the 256-bit number the reference writes in hex.
    @Test func bitNumberingFollowsTheReference() throws {
        var low = PDQHash.zero
        low.setBit(0)
        #expect(low.description == String(repeating: "0", count: 63) + "1")
        var high = PDQHash.zero
        high.setBit(255)
        #expect(high.description == "8" + String(repeating: "0", count: 63))
        var middle = PDQHash.zero
        middle.setBit(17)  // word 1 of the reference's Hash256, bit 1
        #expect(middle.description == String(repeating: "0", count: 59) + "20000")
        #expect(middle.bit(17) && !middle.bit(16) && !middle.bit(18))
    }

    @Test func distanceIsHammingDistance() throws {
        let a = try #require(PDQHash(hex: String(repeating: "0", count: 64)))
        let b = try #require(PDQHash(hex: String(repeating: "f", count: 64)))
        let c = try #require(PDQHash(hex: "1" + String(repeating: "0", count: 62) + "3"))
        #expect(a.distance(to: b) == 256)
        #expect(a.distance(to: a) == 0)
        #expect(a.distance(to: c) == 3)
        #expect(c.distance(to: a) == 3)
        #expect(b.distance(to: c) == 253)
        var random = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            var x = PDQHash.zero
            var y = PDQHash.zero
            var expected = 0
            for k in 0..<256 {
                let (u, v) = (Bool.random(using: &random), Bool.random(using: &random))
                if u { x.setBit(k) }
                if v { y.setBit(k) }
                if u != v { expected += 1 }
            }
            #expect(x.distance(to: y) == expected)
        }
    }
}

@Suite struct PDQReferenceTests {
    /// Made with the reference: pdqhash 0.2.8 (PyPI, ThreatExchange pdq/cpp),
    /// `pdqhash.compute(pattern)` on the uint8 RGB array of `pattern` above,
    /// the returned bit vector packed most significant bit first.
    /// 64×64 takes the reference's no-filter path; 1000×20 a window of 8 along rows.
    static let vectors: [(width: Int, height: Int, hash: String, quality: Int)] = [
        (200, 120, "0daa49fb6f9d4c48effd2efdffe8cbe01dc8f950978ab6485708bc0039411208", 100),
        (64, 64, "9999331b6713c6338c63386370e3e186038f1e0e6a0ed41ec07c03d47fbcfff8", 100),
        (37, 53, "888a09aab5526a15d6b5ad259b6d26c9c99933334e7338e3c36e1f0b60769fe4", 100),
        (1000, 20, "a0538875b25d0c77627d4a537475725f7d757fdf77a27d0c8baaa1a08d888100", 100),
    ]

    @Test(arguments: 0..<4) func matchesTheReference(_ index: Int) {
        let vector = Self.vectors[index]
        let (hash, quality) = PDQ.hash(rgb: pattern(width: vector.width, height: vector.height), width: vector.width, height: vector.height)
        #expect(hash.description == vector.hash)
        #expect(quality == vector.quality)
    }

    /// As in the reference: below 5 pixels on a side, the zero hash and quality 0.
    @Test func tinyImagesHashToZero() {
        for (width, height) in [(4, 100), (100, 4), (0, 0), (1, 1)] {
            let (hash, quality) = PDQ.hash(rgb: pattern(width: width, height: height), width: width, height: height)
            #expect(hash == .zero && quality == 0)
        }
        let (hash, _) = PDQ.hash(rgb: pattern(width: 5, height: 5), width: 5, height: 5)
        #expect(hash != .zero)
    }

    /// A flat image has no gradients: quality 0.
    @Test func flatImageHasQualityZero() {
        let (_, quality) = PDQ.hash(rgb: [UInt8](repeating: 128, count: 300 * 200 * 3), width: 300, height: 200)
        #expect(quality == 0)
    }
}

@Suite struct ImageDecodingTests {
    /// pattern(40, 30) saved by Pillow 13 as PNG and as JPEG quality 90.
    static let png = [UInt8](Data(base64Encoded: "iVBORw0KGgoAAAANSUhEUgAAACgAAAAeCAIAAADRv8uKAAACcklEQVR4nL2VwW7aUBBFCYfLC0NsiMEGG9KkSdOu+ln9xH4OH+H1bLowhkeCE6MmkUajo+uRrNHxyFeDwSAM9PU1YiCunCv74t682BjWDMVQDD+XQ8vtxkOBw9f1w8YCMdoxUlTWwsfkIcoPGxs4IyFHhhx9LkeOESMhY1wzFmMx/kgOp/mp42bjsQhO+Nz+wrGQGIsgrv9yrY6yc2G/+ec9vHBsyBkbwbkWE2dir/qF+YOYeHiVdzgO4lpMDKsxYcIu5Lt3ZrodNxubmDrT3r06k4dzk6/u+Oi42VhMxc2OG0VlLUT5uiPvmD93x7FjM6bOjUicxEic5BUXHXliJB468h6Op+JGJEZak4pUpC0vI04v436Om41TMXNmbV9E3L8/7/mNOxYTtY5FIlIxE/M/zEUm5u9X2IMxF08nj964Y4scG4mTGjNnLm6dW+vbH+L5I1/oeCYycWtkNZnIRNbJIau575y50PGi3TgTC2fR3e/efLrof8eJWDaOm43FQix3LBWVsRQbsdyFk/xQx/lL7jh2nBkLZylyJzdyJxe5U0Wcd/Ov/o6L1vG8dbwQS5EbRU0hClFGXHTw854vv+PYcbNxIVbOWqyclVh5WB352J9Okjf/x4c7Xsd3HDsWuSjEWqz/slZHGY8N/D6E7/2Pu+5479jIndL2G5dOaaF0SuPQH8SLpDTKPo6r0zt+4bgyipqVWIvSqGoqUYnKqGruRTXZc5xX/+l4c+q49FCJjbMRG+dbw+kxifold3zG8W7v+Lix2IjtjjuxPZS1sGMrfoqthh/5VZdOs/FW3DnfxL3zIL47j+LJ+SGenZ/il/8DaxzTkxnx+LMAAAAASUVORK5CYII=")!)
    static let jpeg = [UInt8](Data(base64Encoded: "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMUFRUVDA8XGBYUGBIUFRT/2wBDAQMEBAUEBQkFBQkUDQsNFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBT/wAARCAAeACgDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD83vDOifaNny5z+ley+Gfhz9o2fus59ulYvwu0T7R5Xy5zj8K+sfhd8OftHk/us5x26V89xDnf+r/Nr+nLb773v8vy92GP+o9bWOM8M/A/7Rs/0fOfbpXsvhn9mT7Rs/0TOf8AZ6V6J4h8ceG/g/eRaQNOl8QeIzGsjWFs6xx24JXAmkIOwspLKoVjwMhQyseei8R/EfxVZXF7capPo2n26/a/segJ9l2eXGchZAfMYHk7WkIye2BjqxGc5pQj7WElCEtnJ2+5K7le+7suz7fomQ5jmuKofXZTVGilfmm7XXdJXdra3dk1s2ed/HX4FaNo0tjpmq3VjpFhDIrSz6hMkEbTspKIGfAJCbm4JzuPHy0Vz1x8MvCnhTVRf+MdUtrC+v5BKLYK80wVt20iJA7iMbGUMRtG0DOcCiv6dw1LEYKhCjTxdVpdY0m1frrd3+/y6WP5AzriTH8S5jXzNV61WE5PkcaT5eRaRX2ldJK9nq7vqeVfATRPtH2b5c5x+FfYXi3xZcfB/wAE6aNJjibxHrEjQWbTRlhboqgyT42lWK7owFYjlwcMFZT4J+y3pSTfY845xXoV0YvH3xx1Vy7m00uQaTbJNGqtGISVkHy/eBmMzAk5ww6dB/P2fyjQzSUa3vU4Jya9LJLre7km/JW66fttHL6eYZy4YhXp0k5yX81mkl6Xab6NJrqWfgj8G7e1sxd3gitrSCMyzTzsEjiRRlmZjwAACST0xWd8cvi/rutwReDvh6F0nQ7xsTaosYF9cRqCCVDAmFHZgVYBZAYc7l3Mi9t48vJ9W8XwfD+yuGtdFsY4JL+MJtN1OyiVcsCd0aq0ZCkD59xIO1CPCPjV4juvCvjKTwlo7G01e9jO7U1JH2W0WR4lSDklZGMbktxtySvzMCn87ZZCSx8MTiEqkpLmjF/DBLVSe/M3e6XS2137v1XHWY1qGRxUvfr433YJ/DCnbmnKXduKty2eknvLZdH8L+D/AApKunXVrLe+I7WNWGk2SbypkVmQyyHCxg7FyPmcCRWCEGinQaJYfBHQfDw03T7W/wBa1eRxbtdqxt4Ui2GRnCkMxPmKFAI6kk/LtYr9pqcQZVm0njc9y143Ey+Os69SjzW0VqdK0YpRSj1btdu7Pw3AZXVxNBVaKdWLuuaUpRu1o7KL0V76O782rM//2Q==")!)

    @Test func pngDecodesToTheExactPixels() throws {
        let image = try ImageDecoding.decode(fileBytes: Self.png)
        #expect(image.width == 40 && image.height == 30)
        #expect(image.rgb == pattern(width: 40, height: 30))
    }

    @Test func jpegDecodesCloseToThePixels() throws {
        let image = try ImageDecoding.decode(fileBytes: Self.jpeg)
        #expect(image.width == 40 && image.height == 30)
        let original = pattern(width: 40, height: 30)
        let meanError = zip(image.rgb, original).map { abs(Int($0) - Int($1)) }.reduce(0, +) / original.count
        #expect(meanError < 24)
    }

    @Test func imageHashesNameTheFileAndItsPixels() throws {
        let hashes = try ImageHashes.compute(fileBytes: Self.png)
        #expect(hashes.sha256.count == 64 && hashes.sha256.allSatisfy { "0123456789abcdef".contains($0) })
        let (pdq, quality) = PDQ.hash(rgb: pattern(width: 40, height: 30), width: 40, height: 30)
        #expect(hashes.pdq == pdq && hashes.pdqQuality == quality)
    }

    private func refusal(_ bytes: [UInt8], maximumPixels: Int = ImageDecoding.defaultMaximumPixels) -> ImageDecodingError.Code? {
        do {
            _ = try ImageDecoding.decode(fileBytes: bytes, maximumPixels: maximumPixels)
            return nil
        } catch {
            #expect(!error.message.isEmpty)
            return error.code
        }
    }

    @Test func hostileFilesAreRefused() {
        #expect(refusal([]) == .unknownFormat)
        #expect(refusal(Array("GIF89a".utf8) + [UInt8](repeating: 0, count: 100)) == .unknownFormat)
        #expect(refusal(Array(Self.png.prefix(8))) == .malformed)
        #expect(refusal(Array(Self.jpeg.prefix(3))) == .malformed)
        // Cut anywhere past the signature: an error, never a padded image.
        for cut in stride(from: 9, to: Self.png.count - 12, by: 37) {
            #expect(refusal(Array(Self.png.prefix(cut))) == .malformed, "PNG cut at \(cut)")
        }
        for cut in stride(from: 4, to: Self.jpeg.count - 2, by: 41) {
            #expect(refusal(Array(Self.jpeg.prefix(cut))) == .malformed, "JPEG cut at \(cut)")
        }
        // One flipped byte in the IDAT: the CRC (or zlib) catches it.
        var corrupt = Self.png
        corrupt[corrupt.count / 2] ^= 0x55
        #expect(refusal(corrupt) == .malformed)
        // Garbage after a valid signature.
        #expect(refusal(Array(Self.png.prefix(8)) + [UInt8](repeating: 0xAB, count: 500)) == .malformed)
        #expect(refusal([0xFF, 0xD8, 0xFF] + [UInt8](repeating: 0x00, count: 500)) == .malformed)
    }

    @Test func hugeDimensionsAreRefusedBeforeDecoding() throws {
        // A valid PNG header claiming 60,000 × 60,000 pixels (3.6 gigapixels) over a tiny IDAT.
        let huge = [UInt8](Data(base64Encoded: "iVBORw0KGgoAAAANSUhEUgAA6mAAAOpgCAIAAAAPsOIVAAAAEUlEQVR4nGNgGAWjYBQMdwAAA+gAAbOm00YAAAAASUVORK5CYII=")!)
        #expect(refusal(huge) == .tooLarge)
        // The JPEG's frame header (SOF0) rewritten to 65,280 × 65,280 (libjpeg itself refuses sides over 65,500).
        var jpeg = Self.jpeg
        let sof = try #require((0..<jpeg.count - 1).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        for offset in [5, 7] { (jpeg[sof + offset], jpeg[sof + offset + 1]) = (0xFF, 0x00) }
        #expect(refusal(jpeg) == .tooLarge)
        // The caller's cap applies to small images too.
        #expect(refusal(Self.png, maximumPixels: 40 * 30 - 1) == .tooLarge)
        #expect(refusal(Self.png, maximumPixels: 40 * 30) == nil)
    }
}
