/* core/internal.h: private helpers shared by every layer (not installed): error raising,
 * big-endian byte access, the reusable hasher, and the record layout constants. */
#ifndef EVCHAIN_CORE_INTERNAL_H
#define EVCHAIN_CORE_INTERNAL_H

#include <stdint.h>
#include <string.h>
#include <evchain/chain.h>

/* Raise an error on this thread: sets ec_error_last() and returns code, so that callers can
 * write `return ec_error_set(EC_EFORMAT, "%s: event %llu: bad base64", file, seq);`. */
int ec_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, with strerror(errno_value) appended as ": <text>". */
int ec_error_set_errno(int code, int errno_value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Raise EC_EFORMAT for a stored record that does not check (damage): the message is
 * "<where>: event <seq>: <reason>", and ec_error_damage_reason(seq) then gives <reason>
 * alone, so that verification reports the finding as "event <seq>: <reason>" (the one form
 * of docs/FORMAT.md section 4) instead of wrapping the whole message again. */
int ec_error_set_damage(const char *where, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The <reason> of the last error when it was raised by ec_error_set_damage for seq, else
 * NULL. Valid until the next error is raised on this thread. */
const char *ec_error_damage_reason(uint64_t seq);

/* Refuse a NULL argument of a public function: EC_EINVAL, "<function>: <argument> is NULL".
 * One predictable branch (the pair form tests both at once), so hot paths (append, get,
 * iter_next) can afford it. */
#define EC_REFUSE_NULL(p)                                                                          \
    do {                                                                                           \
        if (__builtin_expect((p) == NULL, 0))                                                      \
            return ec_error_set(EC_EINVAL, "%s: %s is NULL", __func__, #p);                        \
    } while (0)
#define EC_REFUSE_NULL2(p, q)                                                                      \
    do {                                                                                           \
        if (__builtin_expect(((p) == NULL) | ((q) == NULL), 0))                                    \
            return ec_error_set(EC_EINVAL, "%s: %s is NULL", __func__, (p) == NULL ? #p : #q);     \
    } while (0)

static inline void ec_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void ec_put_u64(uint8_t *p, uint64_t v)
{
    ec_put_u32(p, (uint32_t)(v >> 32));
    ec_put_u32(p + 4, (uint32_t)v);
}
static inline uint32_t ec_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t ec_get_u64(const uint8_t *p)
{
    return (uint64_t)ec_get_u32(p) << 32 | ec_get_u32(p + 4);
}

/* Record layout (docs/FORMAT.md section 1). */
#define EC_TAG         "evchain\x01"
#define EC_TAG_LEN     8
#define EC_OFF_ALG     8
#define EC_OFF_FLAGS   9
#define EC_OFF_SEQ     10
#define EC_OFF_TS      18
#define EC_OFF_PARENT  26
#define EC_FLAG_PARENT 1u
#define EC_FLAG_DESC   2u
#define EC_TYPE_MAX    65535u
#define EC_DATA_MAX    (64u << 20)

/* A hasher holds an EVP context and the digest fetched once, reused for every event
 * (OpenSSL 3's one-shot calls fetch the algorithm each time: 3x slower on small events). */
typedef struct ec_hasher ec_hasher;
int ec_hasher_new(ec_hasher **out, ec_hash_alg alg);
void ec_hasher_free(ec_hasher *h);
/* Hash one canonical encoding (for theater-sha1: Theater's JSON rule over its fields). */
int ec_hasher_encoding(ec_hasher *h, const uint8_t *enc, size_t len, uint8_t *out);
/* Plain digest of bytes with the hasher's underlying function (SHA-256 or SHA-1). */
int ec_hasher_bytes(ec_hasher *h, const void *data, size_t len, uint8_t *out);

/* Length of the encoding part of a well-formed record of this length and algorithm. */
static inline size_t ec_record_enc_len(size_t rec_len, ec_hash_alg alg)
{
    return rec_len - ec_hash_len(alg);
}

/* Base64 (RFC 4648, with padding). Encoded length of n bytes, without NUL. */
static inline size_t ec_base64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}
void ec_base64_encode(char *out, const uint8_t *in, size_t n); /* writes a NUL */
/* Decode; strict (padding required, no whitespace). *outlen gets the byte count; out needs
 * room for len/4*3 bytes. EC_EFORMAT on bad input. */
int ec_base64_decode(uint8_t *out, size_t *outlen, const char *in, size_t len);

/* Valid UTF-8 (no overlongs, no surrogates)? */
int ec_utf8_valid(const char *s, size_t n);
/* Why s (n bytes) cannot be a shown name: "not valid UTF-8", "a control character" (C0 with
 * NUL, DEL, C1), or NULL when it can. The rule sandbox names follow in the fs_* host calls
 * and in bundles (docs/FORMAT.md section 8), one function so that the two cannot drift. */
const char *ec_name_text_problem(const char *s, size_t n);
/* Replaces each byte of s (NUL-terminated) that is not part of well-formed UTF-8 with '?'. */
void ec_utf8_scrub(char *s);

/* Make room in a growable array of elem-byte items for at least need of them (capacity
 * doubling from 16; *p and *cap updated only on success). Nonzero, with nothing changed and
 * no error set, when memory runs out or the size would overflow: the caller says what for. */
int ec_grow(void **p, size_t *cap, size_t need, size_t elem);

/* An event type: non-empty is checked by the caller; valid UTF-8 without NUL. Types are
 * short and almost always ASCII, and this runs on every append and every verified record,
 * so plain ASCII is decided in one pass. */
static inline int ec_type_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0)
            return 0;
        if (c >= 0x80)
            return ec_utf8_valid(s + i, n - i) && !memchr(s + i, 0, n - i);
    }
    return 1;
}

/* Write a whole file atomically: tmp in the same dir, fsync, rename, fsync dir. */
int ec_write_file_atomic(const char *path, const void *data, size_t len);
/* Open a file a chain directory holds (flags as open(2)), refusing anything but a regular
 * file planted there: a FIFO is opened without waiting for a writer (O_NONBLOCK), then
 * checked, so that it can neither hang nor feed a reader. Returns the descriptor (blocking
 * again); -1 with errno when open failed; -2 with the error raised (EC_EFORMAT). */
int ec_open_regular(const char *path, int flags);
/* Raise the error for a file of mode `mode` found where a regular file must be; returns
 * EC_EFORMAT. */
int ec_error_not_regular(const char *path, unsigned mode);
/* Write output the user named (ec_output_resolve): in place for a device or FIFO, otherwise
 * atomically onto the file the name resolves to. For our own files use the above. */
int ec_write_output(const char *path, const void *data, size_t len);

#endif

/* ---- record internals (core/record.c) ---- */
/* Write a canonical encoding at p (room for ec_event_encoded_size bytes); returns its size.
 * parent NULL: no parent; desc NULL: no description. */
size_t ec_encoding_write(uint8_t *p, ec_hash_alg alg, uint64_t seq, uint64_t ts,
                         const uint8_t *parent, const char *type, size_t type_len, const char *desc,
                         size_t desc_len, const void *data, size_t data_len);
/* Strictly decode an encoding of exactly enc_len bytes (no hash). */
int ec_encoding_decode(ec_event *ev, const uint8_t *enc, size_t enc_len);
/* Check one record against the chain rules: structure, alg, seq, parent (prev_hash NULL
 * skips the link check), hash. Fills res on failure. */
int ec_check_one(ec_hasher *h, ec_hash_alg alg, const uint8_t *rec, size_t len, uint64_t expect_seq,
                 const uint8_t *prev_hash, ec_verify_result *res);
int ec_verify_fail(ec_verify_result *res, ec_verify_status st, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The backend could not read record seq (EC_EFORMAT, the last error): an unreadable-record
 * finding whose reason is the backend's damage reason (ec_error_set_damage), else
 * "unreadable record: <the error's message>". */
int ec_verify_unreadable(ec_verify_result *res, uint64_t seq);
/* The chain's backend and default verify thread count (core/chain.c). */
ec_backend *ec_chain_be_(ec_chain *c, unsigned *threads);
