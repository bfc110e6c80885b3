// SHA-256 for the Merkle hot paths, on the system libcrypto.
//
// Measured on this machine (see issue 5): OpenSSL 3's one-shot SHA256() costs
// ~342 ns for a 65-byte node and does not scale across threads, EVP ~125 ns,
// swift-crypto ~175 ns, while driving the compression function directly with
// SHA256_Transform over two blocks costs ~88 ns (the floor is ~72 ns). The
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
    // 65 bytes of message span two 64-byte blocks: the second holds the last
    // byte of `right`, the 0x80 pad marker and the bit length 520 (0x208).
    uint8_t block1[64];
    uint8_t block2[64] = {0};
    block1[0] = 0x01;
    memcpy(block1 + 1, left, 32);
    memcpy(block1 + 33, right, 31);
    block2[0] = right[31];
    block2[1] = 0x80;
    block2[62] = 0x02;
    block2[63] = 0x08;

    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Transform(&ctx, block1);
    SHA256_Transform(&ctx, block2);
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
