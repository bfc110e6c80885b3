#ifndef GREFFE_TS_H
#define GREFFE_TS_H

// RFC 3161 time-stamp requests, responses and tokens over the system
// libcrypto's TS API. OpenSSL's headers stay in the .c file, so that this
// module never meets the BoringSSL headers of swift-crypto and swift-nio-ssl.

#include <stddef.h>
#include <stdint.h>

/// What a call found. Verification checks run in this order and report the
/// first that fails, so each failure is named by the part that is wrong.
typedef enum {
    GREFFE_TS_OK = 0,
    /// Not DER, not a CMS SignedData holding a TSTInfo, not a TimeStampResp.
    GREFFE_TS_MALFORMED = 1,
    /// The token is over another message (or not over a SHA-256 digest).
    GREFFE_TS_IMPRINT_MISMATCH = 2,
    /// The token does not carry the request's nonce (a replayed answer).
    GREFFE_TS_NONCE_MISMATCH = 3,
    /// The token was issued under another policy than the one required.
    GREFFE_TS_WRONG_POLICY = 4,
    /// The CMS signature does not hold, or its signer is not the certificate it names (ESS).
    GREFFE_TS_BAD_SIGNATURE = 5,
    /// The signer's certificate does not chain to the trusted certificates, or is not a TSA's.
    GREFFE_TS_UNTRUSTED_CHAIN = 6,
    /// The trusted certificates (PEM) could not be read, or hold none.
    GREFFE_TS_BAD_TRUST_STORE = 7,
    /// A caller's argument is invalid (e.g. a policy that is not a dotted OID).
    GREFFE_TS_BAD_ARGUMENT = 8,
    /// Out of memory or an unexpected libcrypto failure.
    GREFFE_TS_INTERNAL = 9,
} greffe_ts_result;

/// What a token says, filled as far as the token could be read.
typedef struct {
    /// genTime as Unix seconds (fractions dropped), and its text as in the token.
    int64_t gen_time;
    /* notAfter of the signer's certificate, Unix seconds; 0 when the token carries none. */
    int64_t signer_not_after;
    char gen_time_text[40];
    /// serialNumber in hexadecimal.
    char serial_hex[130];
    /// TSAPolicyId, dotted.
    char policy[128];
    /// The optional tsa field (a name the TSA gives itself; not authenticated by itself).
    char tsa_name[512];
    /// The subject of the certificate whose signature verified (RFC 2253); empty unless verified.
    char signer_subject[512];
    /// Why a call failed, in words (libcrypto's reason included).
    char message[512];
} greffe_ts_info;

/// A DER TimeStampReq (RFC 3161 §2.4.1): version 1, SHA-256 `imprint`,
/// `nonce` (big-endian unsigned, 1–64 bytes), certReq TRUE, and `policy_oid`
/// when not NULL. On GREFFE_TS_OK `*der` holds `*der_len` bytes, to be freed with greffe_ts_free.
greffe_ts_result greffe_ts_make_request(
    const uint8_t imprint[32], const uint8_t *nonce, size_t nonce_len, const char *policy_oid,
    uint8_t **der, size_t *der_len, char *message, size_t message_cap);

/// Reads a DER TimeStampResp (RFC 3161 §2.4.2). `*pki_status` is its PKIStatus
/// (0 granted, 1 grantedWithMods, 2 rejection, ...). When granted, `*token` holds the
/// DER TimeStampToken (free with greffe_ts_free); otherwise NULL and `message` says why.
/// A granted answer without a token, or trailing bytes, is GREFFE_TS_MALFORMED.
greffe_ts_result greffe_ts_parse_response(
    const uint8_t *der, size_t der_len, int *pki_status, uint8_t **token, size_t *token_len,
    char *message, size_t message_cap);

/// Verifies a DER TimeStampToken with TS_RESP_verify_token: its imprint is
/// SHA-256 `imprint`, its nonce is `nonce` (skipped when NULL), its policy is
/// `policy_oid` (skipped when NULL), and its CMS signature holds with a signer
/// certificate (ESS-bound, extendedKeyUsage timeStamping) that chains to one of
/// the PEM certificates in `trust_pem`. Each trusted certificate is an anchor
/// of its own (X509_V_FLAG_PARTIAL_CHAIN): the TSA's certificate or its CA's.
/// The chain is checked at the token's genTime, so that a token stays
/// checkable after its TSA certificate expires.
greffe_ts_result greffe_ts_verify_token(
    const uint8_t *token, size_t token_len, const uint8_t imprint[32], const uint8_t *nonce, size_t nonce_len,
    const char *trust_pem, size_t trust_pem_len, const char *policy_oid, greffe_ts_info *info);

/// Reads what a token says without verifying anything (for display of a token
/// that was not checked). GREFFE_TS_OK or GREFFE_TS_MALFORMED.
greffe_ts_result greffe_ts_inspect_token(const uint8_t *token, size_t token_len, greffe_ts_info *info);

/// Reads the trusted certificates of a PEM text as greffe_ts_verify_token
/// would, so that a bad --tsa-cert stops start-up rather than every check.
/// GREFFE_TS_OK with `*count` certificates, or GREFFE_TS_BAD_TRUST_STORE.
greffe_ts_result greffe_ts_check_trust(const char *trust_pem, size_t trust_pem_len, int *count, char *message, size_t message_cap);

void greffe_ts_free(void *pointer);

#endif
