#ifndef GREFFE_IMAGE_H
#define GREFFE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/// Outcome of a decode. Anything but GREFFE_IMAGE_OK leaves `pixels` NULL and
/// a sentence in `message`.
enum greffe_image_status {
    GREFFE_IMAGE_OK = 0,
    /// Not a PNG/JPEG at all, or malformed or truncated data.
    GREFFE_IMAGE_MALFORMED = 1,
    /// Width × height above the caller's cap (checked before any pixel buffer is allocated).
    GREFFE_IMAGE_TOO_LARGE = 2,
    /// A valid file this decoder does not convert (e.g. CMYK JPEG).
    GREFFE_IMAGE_UNSUPPORTED = 3,
    /// malloc failed.
    GREFFE_IMAGE_NO_MEMORY = 4,
};

/// A decoded image: 8-bit RGB, row-major, no padding (width × height × 3 bytes),
/// owned by the caller (free with greffe_image_free).
typedef struct {
    uint8_t *pixels;
    uint32_t width;
    uint32_t height;
    char message[200];
} greffe_image;

/// Decodes a PNG held in memory. Palette, grey and sub-byte depths become RGB,
/// 16-bit samples keep their high byte, alpha is dropped (not composited), and
/// no gamma or colour-profile correction is applied: the stored samples, as PIL's
/// convert("RGB") gives them.
int greffe_decode_png(const uint8_t *data, size_t length, uint64_t max_pixels, greffe_image *out);

/// Decodes a baseline or progressive JPEG held in memory to RGB with
/// libjpeg's defaults (islow IDCT, fancy upsampling). Grey JPEGs become RGB;
/// CMYK/YCCK are refused. Truncated data is an error (libjpeg would pad
/// with grey). EXIF orientation is not applied.
int greffe_decode_jpeg(const uint8_t *data, size_t length, uint64_t max_pixels, greffe_image *out);

void greffe_image_free(greffe_image *image);

// MARK: - PDQ Hamming kernels (greffe_pdq.c)

/// Hamming search over PDQ hashes stored as 4 uint64 words each (32 bytes a
/// hash, any word order as long as the query uses the same). These are the
/// hot loops of PDQIndex and of the linear scan it is measured against: here
/// in C so that the hardware POPCNT instruction is used where the CPU has it
/// (chosen once at run time; Swift's nonzeroBitCount compiles for baseline
/// x86-64, without it).

/// Checks hashes[ordinals[i]] for i < count; writes each ordinal within
/// `max_distance` and its distance; returns how many (at most count).
size_t greffe_pdq_check(const uint64_t *hashes, const uint32_t *ordinals, size_t count, const uint64_t query[4],
                        int max_distance, uint32_t *found_ordinals, uint8_t *found_distances);

/// Checks hashes[first..<first + count]; same output (ordinals are absolute).
size_t greffe_pdq_scan(const uint64_t *hashes, uint32_t first, size_t count, const uint64_t query[4], int max_distance,
                       uint32_t *found_ordinals, uint8_t *found_distances);

/// 1 when the hardware popcount is in use.
int greffe_pdq_hardware_popcount(void);


#endif
