import Foundation

/// Meta's PDQ perceptual hash, computed as the reference computes it.
///
/// The reference is ThreatExchange's `pdq/cpp` (`hashing/pdqhashing.cpp`,
/// `downscaling/downscaling.cpp`, `hashing/torben.cpp`) as the `pdqhash`
/// package on PyPI builds and calls it; the algorithm is described in
/// "The TMK+PDQF and PDQ hashing algorithms" (Meta, 2017). Every float
/// operation below keeps the reference's type (Float or Double) and order,
/// so that identical pixels give identical bits, not merely close ones:
///
/// 1. luminance Y = 0.299 R + 0.587 G + 0.114 B, computed in Double and
///    rounded to Float, as `pdqhash.compute` does with numpy before calling
///    the C++ (the C++'s own `fillFloatLumaFromRGB` uses Float coefficients,
///    which can differ in the last bit; `pdqhash` is what platforms run);
/// 2. two passes of a box filter along rows then columns (a Jarosz filter,
///    i.e. an approximate tent), window ⌈side / 128⌉, then decimation to
///    64×64 sampling the centres of the cells; a 64×64 input is used as is;
/// 3. a quality score from the 64×64 gradients (0…100);
/// 4. the 2-D DCT's coefficients 1…16 in each direction (16×16);
/// 5. bit k set when coefficient k is above the median (Torben's method).
///
/// Images narrower or shorter than 5 pixels hash to zero with quality 0, as
/// in the reference.
public enum PDQ {
    /// Hash and quality of an 8-bit RGB image (3 bytes per pixel, row-major,
    /// no padding). Memory: two Float copies of the image (8 bytes a pixel).
    public static func hash(rgb pixels: [UInt8], width: Int, height: Int) -> (hash: PDQHash, quality: Int) {
        pixels.withUnsafeBufferPointer { hash(rgb: $0, width: width, height: height) }
    }

    /// As `hash(rgb:width:height:)`, on pixels the caller holds (a decoder's buffer).
    public static func hash(rgb pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int) -> (hash: PDQHash, quality: Int) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3, "RGB buffer size does not match width × height × 3")
        guard height >= minimumSide, width >= minimumSide else { return (.zero, 0) }
        var luma = [Float](repeating: 0, count: width * height)
        luma.withUnsafeMutableBufferPointer { luma in
            for i in 0..<luma.count {
                // numpy: image[:,:,0]*0.299 + image[:,:,1]*0.587 + image[:,:,2]*0.114, float64, then astype(float32).
                let red: Double = Double(pixels[3 * i]) * 0.299
                let green: Double = Double(pixels[3 * i + 1]) * 0.587
                let blue: Double = Double(pixels[3 * i + 2]) * 0.114
                luma[i] = Float(red + green + blue)
            }
        }
        return hash(luma: &luma, width: width, height: height)
    }

    /// Hash and quality of a luminance image (`width × height` Floats,
    /// row-major), which is overwritten (blurred in place, as in the reference).
    public static func hash(luma: inout [Float], width: Int, height: Int) -> (hash: PDQHash, quality: Int) {
        precondition(width >= 0 && height >= 0 && luma.count == width * height, "luma buffer size does not match width × height")
        guard height >= minimumSide, width >= minimumSide else { return (.zero, 0) }
        var block = [Float](repeating: 0, count: 64 * 64)
        if width == 64 && height == 64 {
            block = luma
        } else {
            var scratch = [Float](repeating: 0, count: width * height)
            let windowAlongRows = jaroszWindowSize(oldDimension: width, newDimension: 64)
            let windowAlongColumns = jaroszWindowSize(oldDimension: height, newDimension: 64)
            luma.withUnsafeMutableBufferPointer { first in
                scratch.withUnsafeMutableBufferPointer { second in
                    for _ in 0..<jaroszPasses {
                        for row in 0..<height {
                            box1D(first.baseAddress! + row * width, second.baseAddress! + row * width, length: width, stride: 1, window: windowAlongRows)
                        }
                        for column in 0..<width {
                            box1D(second.baseAddress! + column, first.baseAddress! + column, length: height, stride: width, window: windowAlongColumns)
                        }
                    }
                }
            }
            // decimateFloat: "target centers not corners", index arithmetic in Double.
            for outRow in 0..<64 {
                let inRow = Int((Double(outRow) + 0.5) * Double(height) / 64)
                for outColumn in 0..<64 {
                    let inColumn = Int((Double(outColumn) + 0.5) * Double(width) / 64)
                    block[outRow * 64 + outColumn] = luma[inRow * width + inColumn]
                }
            }
        }
        let quality = imageDomainQuality(block)
        let coefficients = dct64To16(block)
        let median = torbenMedian(coefficients)
        var hash = PDQHash.zero
        for k in 0..<256 where coefficients[k] > median { hash.setBit(k) }
        return (hash, quality)
    }

    /// MIN_HASHABLE_DIM in the reference.
    static let minimumSide = 5
    /// PDQ_NUM_JAROSZ_XY_PASSES: two box passes approximate a tent filter.
    static let jaroszPasses = 2

    /// computeJaroszFilterWindowSize: ⌈old / (2 new)⌉.
    static func jaroszWindowSize(oldDimension: Int, newDimension: Int) -> Int {
        (oldDimension + 2 * newDimension - 1) / (2 * newDimension)
    }

    /// box1DFloat: a running-sum box filter whose window shrinks at both
    /// ends (the average of what is inside the image), in Float.
    @inline(__always)
    static func box1D(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, length: Int, stride: Int, window: Int) {
        let half = (window + 2) / 2
        let phase1 = half - 1
        let phase2 = window - half + 1
        let phase3 = length - window
        let phase4 = half - 1
        var left = 0
        var right = 0
        var out = 0
        var sum: Float = 0
        var current = 0
        for _ in 0..<max(phase1, 0) {
            sum += input[right]
            current += 1
            right += stride
        }
        for _ in 0..<max(phase2, 0) {
            sum += input[right]
            current += 1
            output[out] = sum / Float(current)
            right += stride
            out += stride
        }
        for _ in 0..<max(phase3, 0) {
            sum += input[right]
            sum -= input[left]
            output[out] = sum / Float(current)
            left += stride
            right += stride
            out += stride
        }
        for _ in 0..<max(phase4, 0) {
            sum -= input[left]
            current -= 1
            output[out] = sum / Float(current)
            left += stride
            out += stride
        }
    }

    /// pdqImageDomainQualityMetric: the sum of quantised vertical and
    /// horizontal gradients of the 64×64 image, scaled to 0…100.
    static func imageDomainQuality(_ block: [Float]) -> Int {
        var gradientSum = 0
        for i in 0..<63 {
            for j in 0..<64 {
                let d = Int((block[i * 64 + j] - block[(i + 1) * 64 + j]) * 100 / 255)
                gradientSum += abs(d)
            }
        }
        for i in 0..<64 {
            for j in 0..<63 {
                let d = Int((block[i * 64 + j] - block[i * 64 + j + 1]) * 100 / 255)
                gradientSum += abs(d)
            }
        }
        return min(gradientSum / 90, 100)
    }

    /// dct_matrix_64: rows 1…16 of the 64-point DCT-II, scale √(2/64) held as
    /// a Float, each product taken in Double and stored as Float.
    static let dctMatrix: [Float] = {
        let scale = Float((2.0 / 64.0).squareRoot())
        var matrix = [Float](repeating: 0, count: 16 * 64)
        for i in 0..<16 {
            for j in 0..<64 {
                matrix[i * 64 + j] = Float(Double(scale) * cos((Double.pi / 2.0 / 64.0) * Double(i + 1) * Double(2 * j + 1)))
            }
        }
        return matrix
    }()

    /// dct64To16: B = D A Dᵀ through T = D A, each sum accumulated in Float in index order.
    static func dct64To16(_ a: [Float]) -> [Float] {
        let d = dctMatrix
        var t = [Float](repeating: 0, count: 16 * 64)
        for i in 0..<16 {
            for j in 0..<64 {
                var sum: Float = 0
                for k in 0..<64 { sum += d[i * 64 + k] * a[k * 64 + j] }
                t[i * 64 + j] = sum
            }
        }
        var b = [Float](repeating: 0, count: 16 * 16)
        for i in 0..<16 {
            for j in 0..<16 {
                var sum: Float = 0
                for k in 0..<64 { sum += t[i * 64 + k] * d[j * 64 + k] }
                b[i * 16 + j] = sum
            }
        }
        return b
    }

    /// torben: Torben Mogensen's median by repeated bisection of the value
    /// range, exactly as N. Devillard's implementation the reference uses.
    static func torbenMedian(_ m: [Float]) -> Float {
        let n = m.count
        var minimum = m[0]
        var maximum = m[0]
        for value in m.dropFirst() {
            if value < minimum { minimum = value }
            if value > maximum { maximum = value }
        }
        var guess: Float = 0
        var less = 0
        var greater = 0
        var equal = 0
        var maxLessThanGuess: Float = 0
        var minGreaterThanGuess: Float = 0
        while true {
            guess = (minimum + maximum) / 2
            less = 0
            greater = 0
            equal = 0
            maxLessThanGuess = minimum
            minGreaterThanGuess = maximum
            for value in m {
                if value < guess {
                    less += 1
                    if value > maxLessThanGuess { maxLessThanGuess = value }
                } else if value > guess {
                    greater += 1
                    if value < minGreaterThanGuess { minGreaterThanGuess = value }
                } else {
                    equal += 1
                }
            }
            if less <= (n + 1) / 2 && greater <= (n + 1) / 2 { break }
            if less > greater { maximum = maxLessThanGuess } else { minimum = minGreaterThanGuess }
        }
        if less >= (n + 1) / 2 { return maxLessThanGuess }
        if less + equal >= (n + 1) / 2 { return guess }
        return minGreaterThanGuess
    }
}
