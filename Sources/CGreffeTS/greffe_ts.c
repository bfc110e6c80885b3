// RFC 3161 over OpenSSL's TS API (see include/greffe_ts.h for the contract).
#include "greffe_ts.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

// Caps on hostile input: a token or answer is a few kilobytes; a trust file a few certificates.
#define MAX_DER_BYTES (1 << 20)
#define MAX_NONCE_BYTES 64

static void say(char *message, size_t cap, const char *format, ...) {
    if (message == NULL || cap == 0) return;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, cap, format, arguments);
    va_end(arguments);
}

/// Appends libcrypto's first queued reason (if any) to `message`, then clears the queue.
static void append_openssl_reason(char *message, size_t cap) {
    unsigned long code = ERR_peek_error();
    if (code != 0 && message != NULL && cap > 0) {
        char reason[256];
        ERR_error_string_n(code, reason, sizeof reason);
        size_t used = strlen(message);
        if (used + 3 < cap) snprintf(message + used, cap - used, " (%s)", reason);
    }
    ERR_clear_error();
}

static ASN1_INTEGER *nonce_integer(const uint8_t *nonce, size_t nonce_len) {
    BIGNUM *number = BN_bin2bn(nonce, (int)nonce_len, NULL);
    if (number == NULL) return NULL;
    ASN1_INTEGER *integer = BN_to_ASN1_INTEGER(number, NULL);
    BN_free(number);
    return integer;
}

/// The TimeStampReq both the request and the verification context are made from.
static greffe_ts_result build_request(
    const uint8_t imprint[32], const uint8_t *nonce, size_t nonce_len, const char *policy_oid, TS_REQ **out,
    char *message, size_t cap) {
    *out = NULL;
    if (nonce != NULL && (nonce_len == 0 || nonce_len > MAX_NONCE_BYTES)) {
        say(message, cap, "the nonce must be 1 to %d bytes", MAX_NONCE_BYTES);
        return GREFFE_TS_BAD_ARGUMENT;
    }
    ASN1_OBJECT *policy = NULL;
    if (policy_oid != NULL) {
        // no_name = 1: only dotted numbers, never a short or long name.
        policy = OBJ_txt2obj(policy_oid, 1);
        if (policy == NULL) {
            ERR_clear_error();
            say(message, cap, "the policy is not a dotted OID");
            return GREFFE_TS_BAD_ARGUMENT;
        }
    }
    greffe_ts_result result = GREFFE_TS_INTERNAL;
    TS_REQ *request = TS_REQ_new();
    TS_MSG_IMPRINT *message_imprint = TS_MSG_IMPRINT_new();
    X509_ALGOR *algorithm = X509_ALGOR_new();
    ASN1_INTEGER *nonce_value = nonce != NULL ? nonce_integer(nonce, nonce_len) : NULL;
    if (request == NULL || message_imprint == NULL || algorithm == NULL || (nonce != NULL && nonce_value == NULL)) goto done;
    // SHA-256 with NULL parameters, as `openssl ts -query -sha256` writes it.
    if (!X509_ALGOR_set0(algorithm, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL)) goto done;
    if (!TS_MSG_IMPRINT_set_algo(message_imprint, algorithm)) goto done;
    if (!TS_MSG_IMPRINT_set_msg(message_imprint, (unsigned char *)imprint, 32)) goto done;
    if (!TS_REQ_set_version(request, 1) || !TS_REQ_set_msg_imprint(request, message_imprint)) goto done;
    if (policy != NULL && !TS_REQ_set_policy_id(request, policy)) goto done;
    if (nonce_value != NULL && !TS_REQ_set_nonce(request, nonce_value)) goto done;
    // certReq TRUE: the token then carries the TSA's certificate, so it verifies alone.
    if (!TS_REQ_set_cert_req(request, 1)) goto done;
    *out = request;
    request = NULL;
    result = GREFFE_TS_OK;
done:
    if (result != GREFFE_TS_OK) {
        say(message, cap, "cannot build the time-stamp request");
        append_openssl_reason(message, cap);
    }
    // The setters copy their arguments.
    TS_REQ_free(request);
    TS_MSG_IMPRINT_free(message_imprint);
    X509_ALGOR_free(algorithm);
    ASN1_INTEGER_free(nonce_value);
    ASN1_OBJECT_free(policy);
    return result;
}

greffe_ts_result greffe_ts_make_request(
    const uint8_t imprint[32], const uint8_t *nonce, size_t nonce_len, const char *policy_oid,
    uint8_t **der, size_t *der_len, char *message, size_t message_cap) {
    *der = NULL;
    *der_len = 0;
    if (nonce == NULL) {
        say(message, message_cap, "a request needs a nonce");
        return GREFFE_TS_BAD_ARGUMENT;
    }
    TS_REQ *request = NULL;
    greffe_ts_result result = build_request(imprint, nonce, nonce_len, policy_oid, &request, message, message_cap);
    if (result != GREFFE_TS_OK) return result;
    unsigned char *buffer = NULL;
    int length = i2d_TS_REQ(request, &buffer);
    TS_REQ_free(request);
    if (length <= 0) {
        say(message, message_cap, "cannot encode the time-stamp request");
        append_openssl_reason(message, message_cap);
        return GREFFE_TS_INTERNAL;
    }
    *der = buffer;
    *der_len = (size_t)length;
    return GREFFE_TS_OK;
}

static const char *status_name(long status) {
    switch (status) {
    case 0: return "granted";
    case 1: return "grantedWithMods";
    case 2: return "rejection";
    case 3: return "waiting";
    case 4: return "revocationWarning";
    case 5: return "revocationNotification";
    default: return "unknown status";
    }
}

greffe_ts_result greffe_ts_parse_response(
    const uint8_t *der, size_t der_len, int *pki_status, uint8_t **token, size_t *token_len,
    char *message, size_t message_cap) {
    *pki_status = -1;
    *token = NULL;
    *token_len = 0;
    ERR_clear_error();
    if (der_len == 0 || der_len > MAX_DER_BYTES) {
        say(message, message_cap, "the answer is %zu bytes, not a TimeStampResp", der_len);
        return GREFFE_TS_MALFORMED;
    }
    const unsigned char *cursor = der;
    TS_RESP *response = d2i_TS_RESP(NULL, &cursor, (long)der_len);
    if (response == NULL || cursor != der + der_len) {
        say(message, message_cap, response == NULL ? "the answer is not a DER TimeStampResp" : "the TimeStampResp is followed by other bytes");
        append_openssl_reason(message, message_cap);
        TS_RESP_free(response);
        return GREFFE_TS_MALFORMED;
    }
    greffe_ts_result result = GREFFE_TS_MALFORMED;
    TS_STATUS_INFO *info = TS_RESP_get_status_info(response);
    long status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(info));
    *pki_status = (int)status;
    PKCS7 *signed_token = TS_RESP_get_token(response);
    if (status == 0 || status == 1) {
        if (signed_token == NULL) {
            say(message, message_cap, "the answer is %s but holds no token", status_name(status));
            goto done;
        }
        unsigned char *buffer = NULL;
        int length = i2d_PKCS7(signed_token, &buffer);
        if (length <= 0) {
            say(message, message_cap, "cannot encode the token");
            append_openssl_reason(message, message_cap);
            result = GREFFE_TS_INTERNAL;
            goto done;
        }
        *token = buffer;
        *token_len = (size_t)length;
        result = GREFFE_TS_OK;
    } else {
        // The TSA's words, as far as they fit: statusString then failInfo bits (RFC 3161 §2.4.2).
        char text[256] = "";
        const STACK_OF(ASN1_UTF8STRING) *strings = TS_STATUS_INFO_get0_text(info);
        if (strings != NULL && sk_ASN1_UTF8STRING_num(strings) > 0) {
            const ASN1_UTF8STRING *first = sk_ASN1_UTF8STRING_value(strings, 0);
            int length = ASN1_STRING_length(first);
            if (length > 200) length = 200;
            // Only printable ASCII of the TSA's text goes on (it ends up in logs).
            int out = 0;
            for (int i = 0; i < length; i++) {
                unsigned char c = ASN1_STRING_get0_data(first)[i];
                text[out++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
            }
            text[out] = 0;
        }
        long failure = 0;
        const ASN1_BIT_STRING *bits = TS_STATUS_INFO_get0_failure_info(info);
        for (int bit = 0; bits != NULL && bit < 32; bit++) {
            if (ASN1_BIT_STRING_get_bit(bits, bit)) failure |= 1L << bit;
        }
        say(message, message_cap, "the TSA answered %s (status %ld, failInfo 0x%lx)%s%s", status_name(status), status, failure,
            text[0] ? ": " : "", text);
        result = GREFFE_TS_OK;
    }
done:
    TS_RESP_free(response);
    return result;
}

static void name_text(const X509_NAME *name, char *out, size_t cap) {
    out[0] = 0;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) return;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
        int length = BIO_read(bio, out, (int)cap - 1);
        out[length > 0 ? length : 0] = 0;
    }
    BIO_free(bio);
}

/// genTime, serial, policy and tsa name into `info`; 0 when the TSTInfo lacks a readable genTime.
static int describe(TS_TST_INFO *tst, greffe_ts_info *info) {
    const ASN1_GENERALIZEDTIME *time = TS_TST_INFO_get_time(tst);
    struct tm parts;
    if (time == NULL || !ASN1_TIME_to_tm(time, &parts)) return 0;
    info->gen_time = (int64_t)timegm(&parts);
    int length = ASN1_STRING_length(time);
    if (length > (int)sizeof info->gen_time_text - 1) length = (int)sizeof info->gen_time_text - 1;
    memcpy(info->gen_time_text, ASN1_STRING_get0_data(time), (size_t)length);
    info->gen_time_text[length] = 0;

    BIGNUM *serial = ASN1_INTEGER_to_BN(TS_TST_INFO_get_serial(tst), NULL);
    if (serial != NULL) {
        char *hex = BN_bn2hex(serial);
        if (hex != NULL) {
            snprintf(info->serial_hex, sizeof info->serial_hex, "%s", hex);
            OPENSSL_free(hex);
        }
        BN_free(serial);
    }
    ASN1_OBJECT *policy = TS_TST_INFO_get_policy_id(tst);
    if (policy != NULL) OBJ_obj2txt(info->policy, sizeof info->policy, policy, 1);
    GENERAL_NAME *tsa = TS_TST_INFO_get_tsa(tst);
    if (tsa != NULL && tsa->type == GEN_DIRNAME) name_text(tsa->d.directoryName, info->tsa_name, sizeof info->tsa_name);
    ERR_clear_error();
    return 1;
}

/// The end of validity of the certificate the token names as its signer (among the
/// certificates it carries), for renewal: 0 when it carries none. Authenticated only
/// once the token verified.
static void signer_not_after(PKCS7 *p7, greffe_ts_info *info) {
    info->signer_not_after = 0;
    STACK_OF(X509) *signers = PKCS7_get0_signers(p7, NULL, 0);
    if (signers != NULL && sk_X509_num(signers) > 0) {
        struct tm parts;
        const ASN1_TIME *end = X509_get0_notAfter(sk_X509_value(signers, 0));
        if (end != NULL && ASN1_TIME_to_tm(end, &parts)) info->signer_not_after = (int64_t)timegm(&parts);
    }
    sk_X509_free(signers);
    ERR_clear_error();
}

/// The token as a PKCS7 and its TSTInfo, or GREFFE_TS_MALFORMED with the reason.
static greffe_ts_result read_token(const uint8_t *token, size_t token_len, PKCS7 **p7, TS_TST_INFO **tst, greffe_ts_info *info) {
    *p7 = NULL;
    *tst = NULL;
    if (token_len == 0 || token_len > MAX_DER_BYTES) {
        say(info->message, sizeof info->message, "the token is %zu bytes", token_len);
        return GREFFE_TS_MALFORMED;
    }
    const unsigned char *cursor = token;
    *p7 = d2i_PKCS7(NULL, &cursor, (long)token_len);
    if (*p7 == NULL || cursor != token + token_len) {
        say(info->message, sizeof info->message,
            *p7 == NULL ? "the token is not a DER CMS SignedData" : "the token is followed by other bytes");
        append_openssl_reason(info->message, sizeof info->message);
        return GREFFE_TS_MALFORMED;
    }
    *tst = PKCS7_to_TS_TST_INFO(*p7);
    if (*tst == NULL || !describe(*tst, info)) {
        say(info->message, sizeof info->message, "the token does not hold a readable TSTInfo");
        append_openssl_reason(info->message, sizeof info->message);
        return GREFFE_TS_MALFORMED;
    }
    signer_not_after(*p7, info);
    return GREFFE_TS_OK;
}

greffe_ts_result greffe_ts_inspect_token(const uint8_t *token, size_t token_len, greffe_ts_info *info) {
    memset(info, 0, sizeof *info);
    ERR_clear_error();
    PKCS7 *p7;
    TS_TST_INFO *tst;
    greffe_ts_result result = read_token(token, token_len, &p7, &tst, info);
    TS_TST_INFO_free(tst);
    PKCS7_free(p7);
    return result;
}

/// The certificates of a PEM text, as a store whose every certificate is an anchor.
static greffe_ts_result trust_store(const char *pem, size_t pem_len, int64_t at, X509_STORE **out, int *read, char *message, size_t cap) {
    *out = NULL;
    *read = 0;
    if (pem == NULL || pem_len == 0 || pem_len > MAX_DER_BYTES) {
        say(message, cap, "the trusted TSA certificate file is empty or too large");
        return GREFFE_TS_BAD_TRUST_STORE;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
    X509_STORE *store = X509_STORE_new();
    if (bio == NULL || store == NULL) {
        BIO_free(bio);
        X509_STORE_free(store);
        return GREFFE_TS_INTERNAL;
    }
    int count = 0;
    X509 *certificate;
    while ((certificate = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        int added = X509_STORE_add_cert(store, certificate);
        X509_free(certificate);
        if (!added) break;
        count++;
    }
    // The end of the PEM text is an error too (PEM_R_NO_START_LINE): not a failure once something was read.
    ERR_clear_error();
    BIO_free(bio);
    if (count == 0) {
        X509_STORE_free(store);
        say(message, cap, "the trusted TSA certificate file holds no PEM certificate");
        return GREFFE_TS_BAD_TRUST_STORE;
    }
    *read = count;
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
    X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), (time_t)at);
    *out = store;
    return GREFFE_TS_OK;
}

greffe_ts_result greffe_ts_verify_token(
    const uint8_t *token, size_t token_len, const uint8_t imprint[32], const uint8_t *nonce, size_t nonce_len,
    const char *trust_pem, size_t trust_pem_len, const char *policy_oid, greffe_ts_info *info) {
    memset(info, 0, sizeof *info);
    ERR_clear_error();
    char *message = info->message;
    size_t cap = sizeof info->message;
    PKCS7 *p7 = NULL;
    TS_TST_INFO *tst = NULL;
    TS_REQ *request = NULL;
    X509_STORE *store = NULL;
    TS_VERIFY_CTX *context = NULL;
    greffe_ts_result result = build_request(imprint, nonce, nonce_len, policy_oid, &request, message, cap);
    if (result != GREFFE_TS_OK) goto done;
    if ((result = read_token(token, token_len, &p7, &tst, info)) != GREFFE_TS_OK) goto done;

    // The parts a verifier most needs named are compared here first; TS_RESP_verify_token
    // below checks them again, together with the signature, as the authority.
    TS_MSG_IMPRINT *stated = TS_TST_INFO_get_msg_imprint(tst);
    X509_ALGOR *algorithm = TS_MSG_IMPRINT_get_algo(stated);
    ASN1_OCTET_STRING *digest = TS_MSG_IMPRINT_get_msg(stated);
    const ASN1_OBJECT *algorithm_oid = NULL;
    X509_ALGOR_get0(&algorithm_oid, NULL, NULL, algorithm);
    if (OBJ_obj2nid(algorithm_oid) != NID_sha256) {
        say(message, cap, "the token's message imprint is not a SHA-256 digest");
        result = GREFFE_TS_IMPRINT_MISMATCH;
        goto done;
    }
    if (ASN1_STRING_length(digest) != 32 || memcmp(ASN1_STRING_get0_data(digest), imprint, 32) != 0) {
        say(message, cap, "the token is over another message: its imprint is not the expected SHA-256");
        result = GREFFE_TS_IMPRINT_MISMATCH;
        goto done;
    }
    if (nonce != NULL) {
        const ASN1_INTEGER *stated_nonce = TS_TST_INFO_get_nonce(tst);
        const ASN1_INTEGER *expected = TS_REQ_get_nonce(request);
        if (stated_nonce == NULL || ASN1_INTEGER_cmp(stated_nonce, expected) != 0) {
            say(message, cap, stated_nonce == NULL ? "the token has no nonce" : "the token's nonce is not the request's");
            result = GREFFE_TS_NONCE_MISMATCH;
            goto done;
        }
    }
    if (policy_oid != NULL) {
        ASN1_OBJECT *stated_policy = TS_TST_INFO_get_policy_id(tst);
        if (stated_policy == NULL || OBJ_cmp(stated_policy, TS_REQ_get_policy_id(request)) != 0) {
            say(message, cap, "the token was issued under policy %s, not %s", info->policy, policy_oid);
            result = GREFFE_TS_WRONG_POLICY;
            goto done;
        }
    }

    int trusted = 0;
    if ((result = trust_store(trust_pem, trust_pem_len, info->gen_time, &store, &trusted, message, cap)) != GREFFE_TS_OK) goto done;
    result = GREFFE_TS_INTERNAL;
    context = TS_VERIFY_CTX_new();
    if (context == NULL) goto done;
    // Version, imprint, and nonce / policy when the request has them.
    if (TS_REQ_to_TS_VERIFY_CTX(request, context) == NULL) goto done;
    TS_VERIFY_CTX_add_flags(context, TS_VFY_SIGNATURE);
    TS_VERIFY_CTX_set_store(context, store);  // the context owns it from here
    store = NULL;
    if (TS_RESP_verify_token(context, p7) != 1) {
        // The queue's TS reasons tell a broken chain from a broken signature; the
        // first reason's text (e.g. "Verify error:unsuitable certificate purpose") goes along.
        result = GREFFE_TS_BAD_SIGNATURE;
        const char *what = "the token's signature does not hold";
        char reason[300] = "";
        const char *data = NULL;
        int data_flags = 0;
        unsigned long code;
        while ((code = ERR_get_error_all(NULL, NULL, NULL, &data, &data_flags)) != 0) {
            int chain = ERR_GET_LIB(code) == ERR_LIB_TS && ERR_GET_REASON(code) == TS_R_CERTIFICATE_VERIFY_ERROR;
            int ess = ERR_GET_LIB(code) == ERR_LIB_TS && ERR_GET_REASON(code) == TS_R_ESS_SIGNING_CERTIFICATE_ERROR;
            if (reason[0] == 0 || chain || ess) {
                char text[200];
                ERR_error_string_n(code, text, sizeof text);
                int has_data = (data_flags & ERR_TXT_STRING) && data != NULL && data[0] != 0;
                snprintf(reason, sizeof reason, "%s%s%s", text, has_data ? ": " : "", has_data ? data : "");
            }
            if (chain) {
                result = GREFFE_TS_UNTRUSTED_CHAIN;
                what = "the TSA's certificate does not chain to the trusted TSA certificate, or is not a time-stamping certificate";
                break;
            }
            if (ess) {
                what = "the token's signer is not the certificate its signature names (ESS signing certificate)";
                break;
            }
        }
        say(message, cap, "%s%s%s%s", what, reason[0] ? " (" : "", reason, reason[0] ? ")" : "");
        ERR_clear_error();
        goto done;
    }
    STACK_OF(X509) *signers = PKCS7_get0_signers(p7, NULL, 0);
    if (signers != NULL && sk_X509_num(signers) > 0) {
        name_text(X509_get_subject_name(sk_X509_value(signers, 0)), info->signer_subject, sizeof info->signer_subject);
    }
    sk_X509_free(signers);
    ERR_clear_error();
    result = GREFFE_TS_OK;
done:
    if (result == GREFFE_TS_INTERNAL && message[0] == 0) {
        say(message, cap, "libcrypto failed while verifying the token");
        append_openssl_reason(message, cap);
    }
    ERR_clear_error();
    TS_VERIFY_CTX_free(context);
    X509_STORE_free(store);
    TS_REQ_free(request);
    TS_TST_INFO_free(tst);
    PKCS7_free(p7);
    return result;
}

greffe_ts_result greffe_ts_check_trust(const char *trust_pem, size_t trust_pem_len, int *count, char *message, size_t message_cap) {
    ERR_clear_error();
    X509_STORE *store = NULL;
    greffe_ts_result result = trust_store(trust_pem, trust_pem_len, 0, &store, count, message, message_cap);
    X509_STORE_free(store);
    return result;
}

void greffe_ts_free(void *pointer) { OPENSSL_free(pointer); }
