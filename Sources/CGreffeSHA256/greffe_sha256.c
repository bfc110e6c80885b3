// SHA-256 for the Merkle hot paths, on the system libcrypto.
//
// Measured on this machine (see issue 5): OpenSSL 3's one-shot SHA256() costs
// ~342 ns for a 65-byte node and does not scale across threads, EVP ~125 ns,
// swift-crypto ~175 ns, while driving the compression function directly with
// SHA256_Transform over two blocks costs ~88 ns (the floor is ~72 ns). Both
// blocks, padding included, in one SHA256_Update on a fresh context go to the
// block function in one call and need no SHA256_Final: ~5 ns less again
// (greffe bench hash: 1.27-1.30x the floor before, 1.20-1.21x after). The
// low-level API is deprecated in OpenSSL 3 but still exported and uses the
// same SHA-NI code path; the tests pin it to the RFC 9162 vectors.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include <string.h>
#include "greffe_sha256.h"

static inline void store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void greffe_node_hash(const uint8_t left[32], const uint8_t right[32], uint8_t out[32]) {
    uint8_t blocks[128] = {0};
    blocks[0] = 0x01;
    memcpy(blocks + 1, left, 32);
    memcpy(blocks + 33, right, 32);
    blocks[65] = 0x80;
    blocks[126] = 0x02;
    blocks[127] = 0x08;

    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, blocks, sizeof blocks);
    for (int i = 0; i < 8; i++) {
        store_be32(out + 4 * i, ctx.h[i]);
    }
}

void greffe_leaf_hash(const uint8_t *entry, size_t length, uint8_t out[32]) {
    static const uint8_t leafPrefix = 0x00;
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, &leafPrefix, 1);
    if (length > 0) {
        SHA256_Update(&ctx, entry, length);
    }
    SHA256_Final(out, &ctx);
}

void greffe_sha256_concat(const uint8_t *first, size_t firstLength,
                          const uint8_t *second, size_t secondLength,
                          uint8_t out[32]) {
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    if (firstLength > 0) {
        SHA256_Update(&ctx, first, firstLength);
    }
    if (secondLength > 0) {
        SHA256_Update(&ctx, second, secondLength);
    }
    SHA256_Final(out, &ctx);
}
