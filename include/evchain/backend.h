/* evchain/backend.h: the storage backend interface. A backend stores the records of one
 * chain (record = canonical event encoding || hash, docs/FORMAT.md) by sequence number.
 * Memory and disk backends are peers behind this struct; a user can add a third. */
#ifndef EVCHAIN_BACKEND_H
#define EVCHAIN_BACKEND_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ec_backend ec_backend;
typedef struct ec_backend_iter ec_backend_iter;

#define EC_BACKEND_VERSION 1

/* What must stay true of every backend:
 * - records are numbered 0..count-1 with no gaps; append only ever adds record `count`;
 * - a record is stored byte for byte as given; the backend never interprets it beyond the
 *   length and (for find_hash) the trailing hash bytes;
 * - pointers returned by reserve stay valid until commit; a reservation that is never
 *   committed (the append failed half way) is discarded by the next reserve; pointers returned by
 * get stay valid until the next call on the same backend; pointers returned by iter_next stay valid
 * until the next iter_next or iter_free of that iterator;
 * - several iterators may be used at once from different threads while no append runs
 *   (parallel verification relies on this). */
struct ec_backend {
    unsigned version; /* EC_BACKEND_VERSION */
    /* Hash algorithm the stored chain uses (a backend that persists records it). Written by
     * ec_chain_open on a new, empty backend; read back when reopening. */
    int (*get_alg)(ec_backend *b, ec_hash_alg *out);
    int (*set_alg)(ec_backend *b, ec_hash_alg alg);
    /* Number of records stored. */
    int (*count)(ec_backend *b, uint64_t *out);
    /* Room for one record of exactly len bytes, to be filled in place by the caller and then
     * committed: avoids a copy between encoding and storage. */
    int (*reserve)(ec_backend *b, size_t len, uint8_t **out);
    /* Make the reserved record number `seq` (== count). hash_off is where its hash starts
     * inside the record (for find_hash). Durable per the backend's policy on return. */
    int (*commit)(ec_backend *b, uint64_t seq, size_t hash_off);
    /* Record number seq. EC_ENOTFOUND past the end. */
    int (*get)(ec_backend *b, uint64_t seq, const uint8_t **rec, size_t *len);
    /* Sequence number of the record whose trailing hash is `hash` (O(1) expected).
     * EC_ENOTFOUND when none. May be NULL: the chain then reports EC_EUNSUPPORTED. */
    int (*find_hash)(ec_backend *b, const uint8_t *hash, size_t hash_len, uint64_t *out);
    /* Forward iteration from seq `from`. get and iter_next return EC_EFORMAT for a record
     * stored damaged (bad checksum or frame): verification reports it as a broken chain.
     * Any other code (EC_EIO...) means it could not be read: verification returns it. */
    int (*iter_new)(ec_backend *b, uint64_t from, ec_backend_iter **out);
    int (*iter_next)(ec_backend_iter *it, const uint8_t **rec, size_t *len); /* EC_ITEROVER */
    void (*iter_free)(ec_backend_iter *it);
    /* Wait until record seq is durable under the backend's policy. The chain calls it after
     * commit with its own lock released, so that appends from many threads share one sync
     * (group commit). May be NULL when commit is already durable. */
    int (*wait_durable)(ec_backend *b, uint64_t seq);
    /* Make everything committed durable (no-op for memory). May be NULL. */
    int (*sync)(ec_backend *b);
    void (*free)(ec_backend *b);
};

#ifdef __cplusplus
}
#endif
#endif
