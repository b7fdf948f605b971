/* evchain/proof.h: the RFC 9162 Merkle tree kept beside a chain, inclusion and consistency
 * proofs, and the C2SP signed-note / tlog-checkpoint / tlog-proof formats (docs/FORMAT.md
 * section 5) with Ed25519 keys. Sits above the store: it reads chains through chain.h only. */
#ifndef EVCHAIN_PROOF_H
#define EVCHAIN_PROOF_H

#include "chain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- RFC 9162 section 2.1 Merkle hashing (always SHA-256) ---- */

#define EC_MERKLE_HASH_LEN 32
/* Longest inclusion path (a tree of 2^64 leaves) and longest consistency proof. */
#define EC_MERKLE_PROOF_MAX 65

/* SHA-256(0x00 || data). The leaf data of an evchain tree is an event's hash (FORMAT.md 5). */
void ec_merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[EC_MERKLE_HASH_LEN]);
/* SHA-256(0x01 || left || right). */
void ec_merkle_node_hash(const uint8_t left[EC_MERKLE_HASH_LEN],
                         const uint8_t right[EC_MERKLE_HASH_LEN], uint8_t out[EC_MERKLE_HASH_LEN]);
/* The root of the empty tree: SHA-256 of no bytes. */
void ec_merkle_empty_root(uint8_t out[EC_MERKLE_HASH_LEN]);

/* A compact range over leaves [0, size): the roots of the perfect subtrees the size
 * decomposes into, hash[l] holding the one of 2^l leaves when bit l of size is set. O(log n)
 * state from which the root follows and to which a leaf is added in O(1) amortized time. */
typedef struct ec_merkle_frontier {
    uint64_t size;
    uint8_t hash[64][EC_MERKLE_HASH_LEN];
} ec_merkle_frontier;

void ec_merkle_frontier_init(ec_merkle_frontier *f);
/* Called for each perfect subtree an append completes (level 0 is the leaf itself), lowest
 * level first; index is the subtree's position among those of its level. */
typedef void (*ec_merkle_node_cb)(void *ctx, unsigned level, uint64_t index,
                                  const uint8_t hash[EC_MERKLE_HASH_LEN]);
/* Add a leaf whose leaf hash is already computed. cb may be NULL. EC_EINVAL when full. */
int ec_merkle_frontier_push(ec_merkle_frontier *f, const uint8_t leaf_hash[EC_MERKLE_HASH_LEN],
                            ec_merkle_node_cb cb, void *cb_ctx);
void ec_merkle_frontier_root(const ec_merkle_frontier *f, uint8_t out[EC_MERKLE_HASH_LEN]);

/* Where proof generation gets interior hashes: the root of the perfect subtree of 2^level
 * leaves [index << level, (index + 1) << level), which the caller guarantees is complete. */
typedef int (*ec_merkle_node_fn)(void *ctx, unsigned level, uint64_t index,
                                 uint8_t out[EC_MERKLE_HASH_LEN]);

/* Root of the tree of the first `size` leaves (MTH(D[0:size])). */
int ec_merkle_root_from(ec_merkle_node_fn get, void *ctx, uint64_t size,
                        uint8_t out[EC_MERKLE_HASH_LEN]);
/* RFC 9162 2.1.3.1 PATH(index, D[0:size]): *count hashes into out (EC_MERKLE_PROOF_MAX
 * rows), leaf's sibling first. EC_EINVAL unless index < size. */
int ec_merkle_inclusion_from(ec_merkle_node_fn get, void *ctx, uint64_t index, uint64_t size,
                             uint8_t out[][EC_MERKLE_HASH_LEN], size_t *count);
/* RFC 9162 2.1.4.1 PROOF(m, D[0:n]); empty when m == n or m == 0. EC_EINVAL unless m <= n. */
int ec_merkle_consistency_from(ec_merkle_node_fn get, void *ctx, uint64_t m, uint64_t n,
                               uint8_t out[][EC_MERKLE_HASH_LEN], size_t *count);

/* RFC 9162 2.1.3.2: 0 when `leaf_hash` is leaf `index` of the tree of `size` leaves with
 * this root; EC_EVERIFY (with the reason) when not; EC_EINVAL when index >= size. */
int ec_merkle_verify_inclusion(const uint8_t leaf_hash[EC_MERKLE_HASH_LEN], uint64_t index,
                               uint64_t size, const uint8_t root[EC_MERKLE_HASH_LEN],
                               const uint8_t proof[][EC_MERKLE_HASH_LEN], size_t count);
/* RFC 9162 2.1.4.2: 0 when the tree (m, root_m) is a prefix of (n, root_n). m == n needs an
 * empty proof and equal roots; m == 0 needs an empty proof and the empty tree's root. */
int ec_merkle_verify_consistency(uint64_t m, const uint8_t root_m[EC_MERKLE_HASH_LEN], uint64_t n,
                                 const uint8_t root_n[EC_MERKLE_HASH_LEN],
                                 const uint8_t proof[][EC_MERKLE_HASH_LEN], size_t count);

/* ---- the tree of a chain ---- */

/* An ec_tree keeps the Merkle tree of a chain's events: a frontier for the root, and every
 * perfect subtree of 2^store_level leaves or more (stored in memory and, with a path, in an
 * append-only file, FORMAT.md 5.4). Lower subtrees are recomputed from the chain's event
 * hashes when a proof needs them, so proofs cost O(2^store_level + log n) and the file holds
 * about 64 / 2^store_level bytes per event. Rebuildable from the chain at any time. One
 * thread uses a tree at a time (with `background`, plus its own worker). */
typedef struct ec_tree ec_tree;

#define EC_TREE_OPTIONS_VERSION     1
#define EC_TREE_STORE_LEVEL_DEFAULT 6
typedef struct ec_tree_options {
    unsigned version;
    const char *path;     /* tree file; NULL: memory only */
    int read_only;        /* never write the file (catch up in memory only) */
    unsigned store_level; /* for a new file; 0: EC_TREE_STORE_LEVEL_DEFAULT; max 16 */
    int background;       /* hash pushed leaves on a worker thread, in batches: appends then
                             cost a copy, and the tree's hashing runs on another core. Reads
                             (root, proofs, flush) first wait for the worker to catch up. */
} ec_tree_options;
#define EC_TREE_OPTIONS_INIT                                                                       \
    {                                                                                              \
        EC_TREE_OPTIONS_VERSION, NULL, 0, 0, 0                                                     \
    }

/* Open (or create) the tree of `chain` and catch it up with the chain's events. The chain
 * must outlive the tree. A file that does not match the chain (a different or rewritten
 * chain, a torn tail after a crash) is repaired from the chain, never trusted blindly: its
 * last stored subtree is recomputed from the chain and compared. */
int ec_tree_open(ec_tree **out, ec_chain *chain, const ec_tree_options *opts);
void ec_tree_free(ec_tree *t);
uint64_t ec_tree_size(const ec_tree *t);
/* Add the chain's events appended since the tree last looked. */
int ec_tree_sync(ec_tree *t);
/* Add the next event's hash directly (what ec_chain_append returned): the fast path for a
 * writer that appends and maintains the tree in one loop. The hash must be the one of event
 * number ec_tree_size(t); EC_EINVAL when the chain has no such event. */
int ec_tree_push(ec_tree *t, const uint8_t *event_hash, size_t hash_len);
/* Write buffered subtrees to the file. Not fsynced: the file is derived data that
 * ec_tree_open repairs. */
int ec_tree_flush(ec_tree *t);
/* Root of the first `size` leaves (size <= ec_tree_size). */
int ec_tree_root(ec_tree *t, uint64_t size, uint8_t out[EC_MERKLE_HASH_LEN]);
int ec_tree_inclusion(ec_tree *t, uint64_t index, uint64_t size, uint8_t out[][EC_MERKLE_HASH_LEN],
                      size_t *count);
int ec_tree_consistency(ec_tree *t, uint64_t m, uint64_t n, uint8_t out[][EC_MERKLE_HASH_LEN],
                        size_t *count);

/* ---- keys (C2SP signed-note, Ed25519) ---- */

#define EC_NOTE_NAME_MAX 256
#define EC_NOTE_MAX_SIGS 100
#define EC_NOTE_MAX_LEN  (1u << 20)

typedef struct ec_signer ec_signer; /* a private key and its name */
typedef struct ec_vkey ec_vkey;     /* a verifier (public) key and its name */

/* New random Ed25519 key. Name: non-empty UTF-8, no spaces, no '+', < EC_NOTE_NAME_MAX. */
int ec_signer_generate(ec_signer **out, const char *name);
/* Parse the private key text "PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>". */
int ec_signer_parse(ec_signer **out, const char *text, size_t len);
/* The private key text, NUL-terminated, malloc'd (caller frees); no trailing newline. */
int ec_signer_text(const ec_signer *s, char **out);
/* The verifier key text "<name>+<hex id>+<base64(0x01 || public key)>", malloc'd. */
int ec_signer_vkey_text(const ec_signer *s, char **out);
const char *ec_signer_name(const ec_signer *s);
void ec_signer_free(ec_signer *s);

/* Parse a verifier key text (surrounding whitespace ignored). The key ID must be the one the
 * key hashes to: EC_EFORMAT otherwise. */
int ec_vkey_parse(ec_vkey **out, const char *text, size_t len);
const char *ec_vkey_name(const ec_vkey *k);
uint32_t ec_vkey_id(const ec_vkey *k);
void ec_vkey_free(ec_vkey *k);

/* key ID = first 4 bytes, big-endian, of SHA-256(name || 0x0A || type || public key). */
uint32_t ec_note_key_id(const char *name, uint8_t type, const uint8_t *key, size_t key_len);

/* ---- signed notes ---- */

/* Sign a note text (must end in a newline, no control characters but newline, valid UTF-8)
 * with each signer: *out is text, blank line, one signature line per signer (malloc'd,
 * NUL-terminated, *out_len bytes). */
int ec_note_sign(char **out, size_t *out_len, const char *text, size_t text_len,
                 ec_signer *const *signers, size_t nsigners);

typedef struct ec_note_result {
    size_t text_len;   /* the signed text is note[0 .. text_len) */
    unsigned verified; /* signatures by known keys that verified */
    unsigned unknown;  /* signatures by keys not given (ignored, as the spec requires) */
    char signer[EC_NOTE_NAME_MAX]; /* name of the first known key that verified */
} ec_note_result;

/* Open a signed note: EC_EFORMAT when malformed (no blank line, a bad signature line, bad
 * base64, control characters...), EC_EVERIFY when a signature by a known key fails or no
 * known key signed it; 0 when at least one known key's signature verified and none failed. */
int ec_note_open(const char *note, size_t len, ec_vkey *const *keys, size_t nkeys,
                 ec_note_result *res);

/* ---- checkpoints (C2SP tlog-checkpoint) ---- */

typedef struct ec_checkpoint {
    char origin[EC_NOTE_NAME_MAX];
    uint64_t size;
    uint8_t root[EC_MERKLE_HASH_LEN];
    char signer[EC_NOTE_NAME_MAX]; /* set by ec_checkpoint_open */
} ec_checkpoint;

/* Note text "<origin>\n<size>\n<base64 root>\n" (malloc'd, NUL-terminated). */
int ec_checkpoint_text(char **out, const char *origin, uint64_t size,
                       const uint8_t root[EC_MERKLE_HASH_LEN]);
/* Parse a checkpoint's note text (extension lines allowed and ignored). */
int ec_checkpoint_parse(ec_checkpoint *out, const char *text, size_t len);
/* ec_note_open, then ec_checkpoint_parse of the verified text. */
int ec_checkpoint_open(ec_checkpoint *out, const char *note, size_t len, ec_vkey *const *keys,
                       size_t nkeys);
/* Sign the tree's current root: a signed note, malloc'd. origin NULL: the signer's name. */
int ec_checkpoint_sign(char **out, size_t *out_len, ec_tree *t, const char *origin,
                       ec_signer *signer);

/* ---- offline proofs (C2SP tlog-proof) ---- */

typedef struct ec_tlog_proof {
    uint64_t index;
    size_t count;
    uint8_t hashes[EC_MERKLE_PROOF_MAX][EC_MERKLE_HASH_LEN];
    uint8_t *extra; /* NULL when absent; evchain puts the event's record here */
    size_t extra_len;
    char *checkpoint; /* the signed checkpoint note, verbatim */
    size_t checkpoint_len;
} ec_tlog_proof;

/* Serialize (malloc'd, NUL-terminated). */
int ec_tlog_proof_format(char **out, size_t *out_len, const ec_tlog_proof *p);
/* Parse into *out (free with ec_tlog_proof_free). Structure only: nothing verified. */
int ec_tlog_proof_parse(ec_tlog_proof **out, const char *text, size_t len);
void ec_tlog_proof_free(ec_tlog_proof *p);
/* Build the proof of event `seq` against a signed checkpoint (whose root must be the
 * tree's root at its size: EC_EVERIFY otherwise). The event's record goes into extra. */
int ec_tlog_proof_build(ec_tlog_proof **out, ec_tree *t, uint64_t seq, const char *checkpoint,
                        size_t checkpoint_len);
/* Verify: the checkpoint's signature by one of keys, then the inclusion of leaf data
 * `event_hash` at p->index. cp_out (may be NULL) receives the checkpoint. */
int ec_tlog_proof_verify(const ec_tlog_proof *p, const uint8_t *event_hash, size_t hash_len,
                         ec_vkey *const *keys, size_t nkeys, ec_checkpoint *cp_out);

/* ---- a chain against a checkpoint it must extend ---- */

typedef enum ec_since_status {
    EC_SINCE_OK = 0,
    EC_SINCE_TRUNCATED, /* the chain has fewer events than the checkpoint covers */
    EC_SINCE_FORKED,    /* the first checkpoint.size events differ from the signed tree */
    EC_SINCE_BROKEN,    /* the chain itself does not verify (ec_chain_verify) */
} ec_since_status;

typedef struct ec_since_result {
    ec_since_status status;
    ec_checkpoint checkpoint;
    uint64_t chain_size;
    size_t proof_count; /* length of the consistency proof checked */
    char reason[512];
} ec_since_result;

/* Version 2 added `signature_unchecked`; a version 1 struct is still accepted (signatures
 * checked). */
#define EC_SINCE_OPTIONS_VERSION 2
typedef struct ec_since_options {
    unsigned version;
    int chain_verified;      /* the caller already ran ec_chain_verify over the whole chain */
    int signature_unchecked; /* the note's signatures are not checked (keys may be NULL,
                                nkeys 0): for the checkpoint a chain directory keeps of itself
                                (checkpoints/latest), whose signer the caller cannot trust
                                without a key. Only the chain's consistency with the signed
                                text is checked; res->checkpoint.signer is then the name on
                                its first signature line, unchecked ("" when none), and
                                res->reason says "signature not checked". Never an audit:
                                whoever can rewrite the chain can write that file too */
} ec_since_options;
#define EC_SINCE_OPTIONS_INIT                                                                      \
    {                                                                                              \
        EC_SINCE_OPTIONS_VERSION, 0, 0                                                             \
    }

/* Check that `chain` extends the signed checkpoint `note`: the signature (unless
 * opts->signature_unchecked), the chain's own hashes, then the Merkle root of its first
 * checkpoint.size events against the signed root, and an RFC 9162 consistency proof from that
 * size to the chain's. 0 when it extends it, EC_EVERIFY with res->status and res->reason when
 * not, another code when it cannot tell. */
int ec_proof_verify_since(ec_chain *chain, const char *note, size_t len, ec_vkey *const *keys,
                          size_t nkeys, const ec_since_options *opts, ec_since_result *res);

/* ---- the checkpoints a chain directory keeps of itself ---- */

/* The signed checkpoint a chain directory's writers keep to (docs/FORMAT.md 5.5): of
 * <chain_dir>/checkpoints/latest and the newest numbered checkpoint there whose text parses
 * and covers the size its file name says, the one of more events (`latest` when of the same
 * size): `latest` normally, a newer numbered one after a crash between storing it and
 * linking `latest`, the newest numbered one when `latest` was removed. Signatures are not
 * checked. *note (malloc'd, NUL-terminated, *len bytes) and *cp get it, and file (file_cap
 * bytes, may be NULL) its path; *note NULL and file "" when there is none (no checkpoints/
 * folder: none signed yet, or set aside by `evchain checkpoint --set-aside`). Its size is
 * the ec_disk_options.min_count a writer passes. EC_EFORMAT when a file there is not a
 * regular file, EC_EIO when one cannot be read. */
int ec_checkpoint_stored(const char *chain_dir, char **note, size_t *len, ec_checkpoint *cp,
                         char *file, size_t file_cap);

/* ---- periodic checkpoints ---- */

typedef struct ec_checkpointer ec_checkpointer;

/* Version 2 added `keep`, version 3 `replace`, version 4 `no_store`; a struct of an earlier
 * version (without them) is still accepted: keep all, replace nothing, store. */
#define EC_CHECKPOINTER_OPTIONS_VERSION 4
typedef struct ec_checkpointer_options {
    unsigned version;
    uint64_t every_events; /* sign when this many events were added since the last; 0: off */
    uint64_t every_ns;     /* sign when this long has passed and events were added; 0: off */
    const char *dir;       /* write checkpoints here (created): <size 20 digits>.checkpoint
                              and `latest`, each atomically; NULL: keep in memory only */
    const char *origin;    /* NULL: the signer's name. With dir, a `latest` already there
                              fixes it: its origin is kept (a log's origin never changes) */
    uint64_t keep;         /* with dir: after each write, remove all but the newest `keep`
                              numbered checkpoints there (`latest` stays); 0: keep all */
    int replace;           /* with dir: a different checkpoint of the size being signed
                              already there (another key, origin or root; the numbered file,
                              or `latest` at that size) is replaced. 0: the write is refused
                              (EC_EEXISTS, naming both) and nothing is written: one size, one
                              signed checkpoint, unless the caller says otherwise */
    int no_store;          /* with dir: read `latest` there (its origin, and the checkpoint
                              every one signed must be consistent with: EC_EVERIFY from
                              ec_checkpointer_write otherwise) but create, write and remove
                              nothing there: checkpoints are kept in memory only (a reader
                              that signs: `evchain checkpoint --no-store`, `prove --key`) */
} ec_checkpointer_options;
#define EC_CHECKPOINTER_OPTIONS_INIT                                                               \
    {                                                                                              \
        EC_CHECKPOINTER_OPTIONS_VERSION, 0, 0, NULL, NULL, 0, 0, 0                                 \
    }

/* The checkpointer borrows the tree and the signer: both must outlive it. */
int ec_checkpointer_new(ec_checkpointer **out, ec_tree *tree, ec_signer *signer,
                        const ec_checkpointer_options *opts);
/* The one-call set-up for a writer (the actor runtime): a checkpointer with its own tree of
 * `chain`, kept in <chain_dir>/proof/tree, writing checkpoints to <chain_dir>/checkpoints/
 * (opts->dir is ignored). chain_dir NULL: a memory chain, tree and checkpoints in memory.
 * The chain and the signer must outlive it; ec_checkpointer_free frees the tree. */
int ec_checkpointer_open(ec_checkpointer **out, ec_chain *chain, const char *chain_dir,
                         ec_signer *signer, const ec_checkpointer_options *opts);
void ec_checkpointer_free(ec_checkpointer *c);
/* Call after appends: brings the tree up to date with the chain and signs a checkpoint when
 * one is due. *written (may be NULL) is set to 1 when a checkpoint was written. */
int ec_checkpointer_tick(ec_checkpointer *c, int *written);
/* Sign one now (when the tree grew since the last one, or force). EC_EVERIFY (nothing
 * signed) when the tree no longer has the last checkpoint's root at its size; EC_EEXISTS
 * (nothing written) when dir holds a different checkpoint of this size and not `replace`. */
int ec_checkpointer_write(ec_checkpointer *c, int force);
/* The last checkpoint signed (NULL before the first); valid until the next tick/write. */
const char *ec_checkpointer_last(const ec_checkpointer *c, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
