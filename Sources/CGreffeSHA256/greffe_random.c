// The system CSPRNG in one call for many bytes (salts of a whole batch):
// Swift's SystemRandomNumberGenerator makes one getrandom(2) call per 8 bytes.
#include <errno.h>
#include "greffe_sha256.h"

#if defined(__linux__)
#include <sys/random.h>

int greffe_random_bytes(uint8_t *out, size_t length) {
    size_t filled = 0;
    while (filled < length) {
        // Above 256 bytes a signal may cut the answer short: ask again for the rest.
        ssize_t got = getrandom(out + filled, length - filled, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        filled += (size_t)got;
    }
    return 0;
}
#else
int greffe_random_bytes(uint8_t *out, size_t length) {
    (void)out;
    (void)length;
    return -1;
}
#endif
