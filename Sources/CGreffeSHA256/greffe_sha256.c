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

// HMAC-SHA-256 with the key's inner and outer pads hashed once: layout 2 derives one field salt per
// field of every event from the same key, so the two pad blocks are not recomputed each time.
struct greffe_hmac_state {
    SHA256_CTX inner;
    SHA256_CTX outer;
};
_Static_assert(sizeof(struct greffe_hmac_state) <= sizeof(greffe_hmac_sha256_key), "greffe_hmac_sha256_key too small");

void greffe_hmac_sha256_init(greffe_hmac_sha256_key *key, const uint8_t *secret, size_t length) {
    struct greffe_hmac_state *state = (struct greffe_hmac_state *)key->opaque;
    uint8_t block[64] = {0};
    if (length > sizeof block) {
        greffe_sha256_concat(secret, length, NULL, 0, block);
    } else if (length > 0) {
        memcpy(block, secret, length);
    }
    uint8_t pad[64];
    for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&state->inner);
    SHA256_Update(&state->inner, pad, sizeof pad);
    for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&state->outer);
    SHA256_Update(&state->outer, pad, sizeof pad);
}

void greffe_hmac_sha256(const greffe_hmac_sha256_key *key,
                        const uint8_t *first, size_t firstLength,
                        const uint8_t *second, size_t secondLength,
                        uint8_t out[32]) {
    const struct greffe_hmac_state *state = (const struct greffe_hmac_state *)key->opaque;
    SHA256_CTX ctx = state->inner;
    if (firstLength > 0) SHA256_Update(&ctx, first, firstLength);
    if (secondLength > 0) SHA256_Update(&ctx, second, secondLength);
    uint8_t inner[32];
    SHA256_Final(inner, &ctx);
    ctx = state->outer;
    SHA256_Update(&ctx, inner, sizeof inner);
    SHA256_Final(out, &ctx);
}
