// See greffe_image.h. Each kernel is compiled twice, with and without the
// popcnt target feature, and the first call picks one for the process.
#include "greffe_image.h"

#define GREFFE_PDQ_DISTANCE(h, q)                                                                     \
    (__builtin_popcountll((h)[0] ^ (q)[0]) + __builtin_popcountll((h)[1] ^ (q)[1]) +                   \
     __builtin_popcountll((h)[2] ^ (q)[2]) + __builtin_popcountll((h)[3] ^ (q)[3]))

#define GREFFE_PDQ_KERNELS(suffix, attribute)                                                         \
    attribute static size_t check_##suffix(const uint64_t *hashes, const uint32_t *ordinals, size_t count, \
                                           const uint64_t query[4], int max_distance, uint32_t *found_ordinals, \
                                           uint8_t *found_distances) {                                \
        size_t found = 0;                                                                             \
        for (size_t i = 0; i < count; i++) {                                                         \
            const uint64_t *h = hashes + 4 * (size_t)ordinals[i];                                     \
            int d = GREFFE_PDQ_DISTANCE(h, query);                                                    \
            if (d <= max_distance) {                                                                  \
                found_ordinals[found] = ordinals[i];                                                  \
                found_distances[found] = (uint8_t)(d > 255 ? 255 : d);                                \
                found++;                                                                              \
            }                                                                                         \
        }                                                                                             \
        return found;                                                                                 \
    }                                                                                                 \
    attribute static size_t scan_##suffix(const uint64_t *hashes, uint32_t first, size_t count,        \
                                          const uint64_t query[4], int max_distance, uint32_t *found_ordinals, \
                                          uint8_t *found_distances) {                                 \
        size_t found = 0;                                                                             \
        const uint64_t *h = hashes + 4 * (size_t)first;                                               \
        for (size_t i = 0; i < count; i++, h += 4) {                                                  \
            int d = GREFFE_PDQ_DISTANCE(h, query);                                                    \
            if (d <= max_distance) {                                                                  \
                found_ordinals[found] = first + (uint32_t)i;                                          \
                found_distances[found] = (uint8_t)(d > 255 ? 255 : d);                                \
                found++;                                                                              \
            }                                                                                         \
        }                                                                                             \
        return found;                                                                                 \
    }

GREFFE_PDQ_KERNELS(generic, )
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
GREFFE_PDQ_KERNELS(popcnt, __attribute__((target("popcnt"))))
static int use_popcnt(void) {
    static int answer = -1;  // a benign race: every thread computes the same value
    if (answer < 0) {
        __builtin_cpu_init();
        answer = __builtin_cpu_supports("popcnt") ? 1 : 0;
    }
    return answer;
}
#else
#define check_popcnt check_generic
#define scan_popcnt scan_generic
static int use_popcnt(void) { return 0; }
#endif

size_t greffe_pdq_check(const uint64_t *hashes, const uint32_t *ordinals, size_t count, const uint64_t query[4],
                        int max_distance, uint32_t *found_ordinals, uint8_t *found_distances) {
    return use_popcnt() ? check_popcnt(hashes, ordinals, count, query, max_distance, found_ordinals, found_distances)
                        : check_generic(hashes, ordinals, count, query, max_distance, found_ordinals, found_distances);
}

size_t greffe_pdq_scan(const uint64_t *hashes, uint32_t first, size_t count, const uint64_t query[4], int max_distance,
                       uint32_t *found_ordinals, uint8_t *found_distances) {
    return use_popcnt() ? scan_popcnt(hashes, first, count, query, max_distance, found_ordinals, found_distances)
                        : scan_generic(hashes, first, count, query, max_distance, found_ordinals, found_distances);
}

int greffe_pdq_hardware_popcount(void) { return use_popcnt(); }
