/* evchain/common.h: error codes, the last-error call and hash algorithm names shared by
 * every part of the public API. */
#ifndef EVCHAIN_COMMON_H
#define EVCHAIN_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EC_VERSION_STRING "0.1.0"

/* Every public function returns 0 or one of these (negative). The message of the last error
 * raised on the calling thread is one call away: ec_error_last(). A NULL where a pointer is
 * required is refused with EC_EINVAL ("<function>: <argument> is NULL"), not dereferenced;
 * options structs of a version this build does not know are refused (EC_EUNSUPPORTED, or
 * EC_EINVAL for the older memory, chain and verify options). */
typedef enum ec_error_code {
    EC_OK = 0,
    EC_ERROR = -1,         /* generic failure */
    EC_ENOMEM = -2,        /* out of memory */
    EC_EINVAL = -3,        /* bad argument from the caller */
    EC_ENOTFOUND = -4,     /* no such event, file, key... */
    EC_EIO = -5,           /* an operating system I/O call failed */
    EC_EFORMAT = -6,       /* malformed input: bad JSON, bad record, bad encoding */
    EC_EVERIFY = -7,       /* well-formed but tampered: a hash or link does not check */
    EC_ELOCKED = -8,       /* another writer holds the chain */
    EC_EEXISTS = -9,       /* refusing to overwrite */
    EC_ITEROVER = -10,     /* an iterator has no more items (not an error) */
    EC_EUNSUPPORTED = -11, /* unknown algorithm, version or operation */
    EC_ENOSPC = -12,       /* the disk is full */
    EC_ETRAP = -13,        /* a WebAssembly actor trapped */
    EC_EDIVERGE = -14,     /* a replay diverged from its chain */
    EC_EDENIED = -15,      /* refused by policy: sandbox, allow-list, limit */
    EC_ETIMEOUT = -16,     /* an operation did not finish in time */
} ec_error_code;

typedef struct ec_error {
    int code;            /* one of ec_error_code */
    const char *message; /* human-readable, names what and where */
} ec_error;

/* The last error raised on this thread, or NULL if none. Valid until the next evchain call
 * on this thread. */
const ec_error *ec_error_last(void);
void ec_error_clear(void);
/* Short name of a code ("EC_EFORMAT") for logs and tests. */
const char *ec_error_name(int code);

/* Hash algorithms. The algorithm is a property of a chain, recorded in every record and in
 * every file header: never guessed. Values are part of the byte format (docs/FORMAT.md). */
typedef enum ec_hash_alg {
    EC_HASH_SHA256 = 1,       /* default */
    EC_HASH_SHA1 = 2,         /* the design document's choice, kept for compatibility */
    EC_HASH_THEATER_SHA1 = 3, /* Theater's rule: SHA-1 over compact JSON (FORMAT.md) */
} ec_hash_alg;

#define EC_HASH_MAX 32 /* the largest digest any algorithm produces */

/* Digest length in bytes, or 0 for an unknown algorithm. */
size_t ec_hash_len(ec_hash_alg alg);
/* "sha256", "sha1", "theater-sha1"; NULL when unknown. */
const char *ec_hash_name(ec_hash_alg alg);
/* Parse a name as above into *out; EC_EUNSUPPORTED when unknown. */
int ec_hash_from_name(ec_hash_alg *out, const char *name);

/* Lower-case hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void ec_hex_encode(char *out, const uint8_t *in, size_t len);
/* Parse exactly 2*outlen hex digits; EC_EFORMAT otherwise. */
int ec_hex_decode(uint8_t *out, size_t outlen, const char *hex, size_t hexlen);

/* Where output named `path` (a command's -o, an export) must go so that writing it never
 * replaces what the name points at. Into out (out_size bytes): the file to replace atomically
 * (a temporary file beside it, synced, then renamed onto it): `path` itself, or the regular
 * file a symbolic link names, so that the link stays a link. *stream is set to 1 when `path`
 * is a device, FIFO or socket (/dev/null; /dev/stdout on a pipe or terminal): it is written in
 * place, with no temporary file and no rename. EC_EINVAL for a directory, EC_ENOTFOUND for a
 * symbolic link to nothing (neither followed nor replaced). */
int ec_output_resolve(const char *path, char *out, size_t out_size, int *stream);

/* Nanoseconds since the Unix epoch from the real-time clock. */
uint64_t ec_time_now_ns(void);

#ifdef __cplusplus
}
#endif
#endif
