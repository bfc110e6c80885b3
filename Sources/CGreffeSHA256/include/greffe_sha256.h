#ifndef GREFFE_SHA256_H
#define GREFFE_SHA256_H

#include <stddef.h>
#include <stdint.h>

/// RFC 9162 §2.1.1 interior node: SHA-256(0x01 || left || right).
void greffe_node_hash(const uint8_t left[32], const uint8_t right[32], uint8_t out[32]);

/// RFC 9162 §2.1.1 leaf: SHA-256(0x00 || entry).
void greffe_leaf_hash(const uint8_t *entry, size_t length, uint8_t out[32]);

/// SHA-256(first || second); either part may be empty.
void greffe_sha256_concat(const uint8_t *first, size_t firstLength,
                          const uint8_t *second, size_t secondLength,
                          uint8_t out[32]);

/// An HMAC-SHA-256 key with its pads already hashed (opaque: two SHA256_CTX).
typedef struct {
    _Alignas(8) uint8_t opaque[256];
} greffe_hmac_sha256_key;

/// Prepares `key` from `secret` (RFC 2104: a secret over 64 bytes is hashed first).
void greffe_hmac_sha256_init(greffe_hmac_sha256_key *key, const uint8_t *secret, size_t length);

/// HMAC-SHA-256(key, first || second); either part may be empty.
void greffe_hmac_sha256(const greffe_hmac_sha256_key *key,
                        const uint8_t *first, size_t firstLength,
                        const uint8_t *second, size_t secondLength,
                        uint8_t out[32]);

/// Fills `out` with `length` bytes from the system CSPRNG (getrandom on Linux).
/// Returns 0, or -1 where that is unavailable or failed (the caller falls back).
int greffe_random_bytes(uint8_t *out, size_t length);

#endif
