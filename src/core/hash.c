/* core/hash.c: the hasher: one EVP context and one fetched digest reused for every event,
 * and Theater's hashing rule (SHA-1 over compact JSON, FORMAT.md section 3) for
 * theater-sha1 chains. */
#include <stdio.h>
#include <stdlib.h>
#include <openssl/evp.h>

#include "core/internal.h"

struct ec_hasher {
    ec_hash_alg alg;
    EVP_MD *md;
    EVP_MD_CTX *ctx;
};

int ec_hasher_new(ec_hasher **out, ec_hash_alg alg)
{
    *out = NULL;
    const char *name = alg == EC_HASH_SHA256                                  ? "SHA2-256"
                       : (alg == EC_HASH_SHA1 || alg == EC_HASH_THEATER_SHA1) ? "SHA1"
                                                                              : NULL;
    if (!name)
        return ec_error_set(EC_EUNSUPPORTED, "unknown hash algorithm %d", (int)alg);
    ec_hasher *h = calloc(1, sizeof *h);
    if (!h)
        return ec_error_set(EC_ENOMEM, "out of memory");
    h->alg = alg;
    h->md = EVP_MD_fetch(NULL, name, NULL);
    h->ctx = EVP_MD_CTX_new();
    if (!h->md || !h->ctx) {
        ec_hasher_free(h);
        return ec_error_set(EC_ERROR, "OpenSSL: cannot fetch digest %s", name);
    }
    *out = h;
    return 0;
}

void ec_hasher_free(ec_hasher *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    free(h);
}

int ec_hasher_bytes(ec_hasher *h, const void *data, size_t len, uint8_t *out)
{
    unsigned int n;
    if (!EVP_DigestInit_ex2(h->ctx, h->md, NULL) || !EVP_DigestUpdate(h->ctx, data, len) ||
        !EVP_DigestFinal_ex(h->ctx, out, &n))
        return ec_error_set(EC_ERROR, "OpenSSL digest failed");
    return 0;
}

/* Buffered writer feeding a digest: Theater's JSON is produced and hashed in one pass,
 * never materialised whole. */
struct jbuf {
    EVP_MD_CTX *ctx;
    size_t n;
    char b[1024];
};

static void jflush(struct jbuf *j)
{
    EVP_DigestUpdate(j->ctx, j->b, j->n);
    j->n = 0;
}

static void jput(struct jbuf *j, const char *s, size_t n)
{
    if (j->n + n > sizeof j->b)
        jflush(j);
    if (n > sizeof j->b) {
        EVP_DigestUpdate(j->ctx, s, n);
        return;
    }
    memcpy(j->b + j->n, s, n);
    j->n += n;
}

static void jbytes(struct jbuf *j, const uint8_t *p, size_t n)
{
    char num[8];
    jput(j, "[", 1);
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(num, sizeof num, i ? ",%u" : "%u", p[i]);
        jput(j, num, (size_t)k);
    }
    jput(j, "]", 1);
}

/* serde_json's string escaping: '"' and '\\' escaped, control characters as \b \t \n \f \r
 * or \u00xx (lower-case hex), everything else (UTF-8 included) raw. */
static void jstring(struct jbuf *j, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    jput(j, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[6];
        switch (c) {
        case '"':
            jput(j, "\\\"", 2);
            break;
        case '\\':
            jput(j, "\\\\", 2);
            break;
        case '\b':
            jput(j, "\\b", 2);
            break;
        case '\t':
            jput(j, "\\t", 2);
            break;
        case '\n':
            jput(j, "\\n", 2);
            break;
        case '\f':
            jput(j, "\\f", 2);
            break;
        case '\r':
            jput(j, "\\r", 2);
            break;
        default:
            if (c < 0x20) {
                memcpy(e, "\\u00", 4);
                e[4] = hex[c >> 4];
                e[5] = hex[c & 15];
                jput(j, e, 6);
            } else {
                jput(j, (const char *)&c, 1);
            }
        }
    }
    jput(j, "\"", 1);
}

static int theater_hash(ec_hasher *h, const uint8_t *enc, size_t len, uint8_t *out)
{
    ec_event ev;
    int rc = ec_encoding_decode(&ev, enc, len);
    if (rc)
        return rc;
    struct jbuf j = {.ctx = h->ctx, .n = 0};
    unsigned int n;
    if (!EVP_DigestInit_ex2(h->ctx, h->md, NULL))
        return ec_error_set(EC_ERROR, "OpenSSL digest failed");
    jput(&j, "{\"hash\":[],\"parent_hash\":", 25);
    if (ev.parent_hash)
        jbytes(&j, ev.parent_hash, 20);
    else
        jput(&j, "null", 4);
    jput(&j, ",\"event_type\":", 14);
    jstring(&j, ev.type, ev.type_len);
    jput(&j, ",\"data\":", 8);
    jbytes(&j, ev.data, ev.data_len);
    jput(&j, "}", 1);
    jflush(&j);
    if (!EVP_DigestFinal_ex(h->ctx, out, &n))
        return ec_error_set(EC_ERROR, "OpenSSL digest failed");
    return 0;
}

int ec_hasher_encoding(ec_hasher *h, const uint8_t *enc, size_t len, uint8_t *out)
{
    if (h->alg == EC_HASH_THEATER_SHA1)
        return theater_hash(h, enc, len, out);
    return ec_hasher_bytes(h, enc, len, out);
}

int ec_hash_encoding(ec_hash_alg alg, const uint8_t *enc, size_t len, uint8_t *out)
{
    ec_hasher *h;
    int rc = ec_hasher_new(&h, alg);
    if (rc)
        return rc;
    rc = ec_hasher_encoding(h, enc, len, out);
    ec_hasher_free(h);
    return rc;
}
