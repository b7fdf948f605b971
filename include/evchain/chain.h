/* evchain/chain.h: events, the hash-linked chain over a storage backend, and verification.
 * The byte format behind every call here is specified in docs/FORMAT.md. */
#ifndef EVCHAIN_CHAIN_H
#define EVCHAIN_CHAIN_H

#include "common.h"
#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A decoded event: a view into a stored record. Pointers borrow from the record and are
 * valid only as long as that record's pointer is (see backend.h); copy what you keep.
 * type, description and data are NOT NUL-terminated: use the lengths. */
typedef struct ec_event {
    uint64_t seq;
    uint64_t timestamp; /* ns since the Unix epoch */
    ec_hash_alg alg;
    const char *type;
    size_t type_len;
    const char *description; /* NULL when absent (absent is not empty) */
    size_t description_len;
    const uint8_t *data;
    size_t data_len;
    const uint8_t *parent_hash; /* NULL for seq 0 */
    const uint8_t *hash;        /* hash_len bytes */
    size_t hash_len;
} ec_event;

/* What a caller supplies to append. */
typedef struct ec_event_input {
    const char *type; /* UTF-8, required */
    size_t type_len;  /* 0: strlen(type) */
    const void *data;
    size_t data_len;
    const char *description; /* NULL: absent */
    size_t description_len;  /* 0 with non-NULL description: strlen */
    uint64_t timestamp;      /* 0: the library takes the real-time clock */
} ec_event_input;

/* Sizes the canonical encoding of one event will take (without its hash). SIZE_MAX when the
 * lengths add up to more than a size_t holds. */
size_t ec_event_encoded_size(ec_hash_alg alg, int has_parent, size_t type_len,
                             size_t description_len, int has_description, size_t data_len);

/* Decode a stored record (encoding || hash). EC_EFORMAT with the reason when malformed.
 * Checks structure only; the hash is not recomputed (ec_record_check does). */
int ec_record_decode(ec_event *out, const uint8_t *rec, size_t len);
/* Recompute a decoded record's hash and compare. 0 or EC_EVERIFY. Not for hot loops. */
int ec_record_check(const uint8_t *rec, size_t len);
/* Compute the hash of a canonical encoding under alg into out (ec_hash_len(alg) bytes). */
int ec_hash_encoding(ec_hash_alg alg, const uint8_t *enc, size_t len, uint8_t *out);

typedef struct ec_chain ec_chain;

#define EC_CHAIN_OPTIONS_VERSION 1
typedef struct ec_chain_options {
    unsigned version;
    ec_hash_alg alg;         /* 0: the backend's recorded algorithm, SHA-256 for a new one.
                                Non-zero and different from the one a backend records (even
                                with no events yet): EC_EINVAL */
    unsigned verify_threads; /* 0: number of online CPUs */
} ec_chain_options;
#define EC_CHAIN_OPTIONS_INIT                                                                      \
    {                                                                                              \
        EC_CHAIN_OPTIONS_VERSION, 0, 0                                                             \
    }

/* Open a chain over a backend; the chain owns the backend from then on (freed with it, also
 * on failure). opts may be NULL. A head record the backend reports damaged (EC_EFORMAT: a
 * read-only chain directory whose last segment is damaged, docs/FORMAT.md section 4) still
 * opens, so that the events before it can be read: then ec_chain_head and every append
 * return that error. */
int ec_chain_open(ec_chain **out, ec_backend *backend, const ec_chain_options *opts);
void ec_chain_free(ec_chain *chain);

/* The accessors below return 0 (NULL for the backend) when chain is NULL. */
ec_hash_alg ec_chain_alg(const ec_chain *chain);
/* Number of events (head seq + 1). */
uint64_t ec_chain_count(const ec_chain *chain);
/* The head's hash into out (EC_HASH_MAX bytes); EC_ENOTFOUND for an empty chain, EC_EFORMAT
 * when the head record is damaged. */
int ec_chain_head(ec_chain *chain, uint8_t *hash_out, uint64_t *seq_out);
ec_backend *ec_chain_backend(ec_chain *chain);

/* Append one event. Appends may come from many threads at once (they are serialised, and a
 * durable backend syncs them in groups); reads of the same handle (get, find, iterators,
 * verify) must not overlap appends: a reader in another process, or a handle opened
 * read-only on a chain directory, follows a live writer instead. seq_out and hash_out
 * (EC_HASH_MAX bytes) may be NULL. 0 means stored under the backend's durability policy: a
 * chain directory under `none` has not written it yet (ec_backend_flush, store.h). */
int ec_chain_append(ec_chain *chain, const ec_event_input *in, uint64_t *seq_out,
                    uint8_t *hash_out);
/* Append a record that already carries its hash and parent (import, replication): checked
 * in full (structure, seq, parent link, hash, algorithm) before it is stored. */
int ec_chain_append_record(ec_chain *chain, const uint8_t *rec, size_t len);

/* Event at seq; view valid until the next call on this chain. */
int ec_chain_get(ec_chain *chain, uint64_t seq, ec_event *out);
/* Seq of the event with this hash, O(1). EC_ENOTFOUND when none. */
int ec_chain_find(ec_chain *chain, const uint8_t *hash, size_t hash_len, uint64_t *seq_out);
/* Seq of the unique event whose hex hash starts with prefix; EC_EINVAL if ambiguous. */
int ec_chain_find_prefix(ec_chain *chain, const char *hex_prefix, uint64_t *seq_out);

typedef struct ec_iter ec_iter;
/* Iterate forward from seq `from`. Views valid until the next ec_iter_next. */
int ec_iter_new(ec_iter **out, ec_chain *chain, uint64_t from);
int ec_iter_next(ec_iter *it, ec_event *out); /* EC_ITEROVER at the end */
void ec_iter_free(ec_iter *it);

/* ---- verification ---- */

typedef enum ec_verify_status {
    EC_VERIFY_OK = 0,
    EC_VERIFY_HASH_MISMATCH,   /* recomputed hash differs from the stored one */
    EC_VERIFY_PARENT_MISMATCH, /* parent_hash is not the previous event's hash */
    EC_VERIFY_SEQ,             /* seq gap, repeat, or first event with a parent */
    EC_VERIFY_ALGORITHM,       /* record's algorithm differs from the chain's */
    EC_VERIFY_UNREADABLE,      /* truncated or malformed record */
} ec_verify_status;

const char *ec_verify_status_name(ec_verify_status s);

typedef struct ec_verify_result {
    ec_verify_status status;
    uint64_t seq;     /* first failing seq (when status != OK) */
    uint64_t checked; /* events checked */
    char reason[256]; /* one line: what failed and how */
} ec_verify_result;

typedef void (*ec_progress_cb)(uint64_t done, uint64_t total, void *ctx);

#define EC_VERIFY_OPTIONS_VERSION 1
typedef struct ec_verify_options {
    unsigned version;
    uint64_t from;           /* first seq to check */
    uint64_t to;             /* one past the last; 0: to the end */
    unsigned threads;        /* 0: the chain's verify_threads */
    ec_progress_cb progress; /* may be NULL; called from one thread */
    void *progress_ctx;
} ec_verify_options;
#define EC_VERIFY_OPTIONS_INIT                                                                     \
    {                                                                                              \
        EC_VERIFY_OPTIONS_VERSION, 0, 0, 0, NULL, NULL                                             \
    }

/* Verify a range. Returns 0 when intact, EC_EVERIFY when not (out says the first failing seq
 * and why; a damaged record the backend cannot decode is EC_VERIFY_UNREADABLE), another code
 * when verification could not run (e.g. EC_EIO from the backend; out->status is then
 * EC_VERIFY_OK, out->seq the seq it stopped at, out->checked the events checked before).
 * out (may be NULL) is filled on every return. The result for a given chain is the same
 * whatever the number of threads. */
int ec_chain_verify(ec_chain *chain, const ec_verify_options *opts, ec_verify_result *out);

/* Check every event from now on as it is read, as ec_chain_verify does (hash recomputed,
 * seq, parent link, algorithm; the first event's link against the event before it): in one
 * pass, for readers that must not hand out a broken event (export, log). Call it before the
 * first ec_iter_next. ec_iter_next then returns EC_EVERIFY at the first bad or unreadable
 * event, its error message "event <seq>: <reason>" and res (may be NULL; must outlive the
 * iterator) filled; every later call fails too. res->checked counts the events passed. */
int ec_iter_verify(ec_iter *it, ec_verify_result *res);

/* Incremental verifier for streams (import, follow): feed records in order. */
typedef struct ec_verifier {
    ec_hash_alg alg;
    uint64_t next_seq;
    int have_prev;
    uint8_t prev_hash[EC_HASH_MAX];
} ec_verifier;
void ec_verifier_init(ec_verifier *v, ec_hash_alg alg, uint64_t next_seq, const uint8_t *prev_hash);
/* 0, or EC_EVERIFY / EC_EFORMAT with res filled (res may be NULL). */
int ec_verifier_feed(ec_verifier *v, const uint8_t *rec, size_t len, ec_verify_result *res);

#ifdef __cplusplus
}
#endif
#endif
