/* proof/tree.c: the Merkle tree of a chain, kept incrementally beside it: a frontier for the
 * root, every perfect subtree of 2^K leaves or more in memory and in an append-only file
 * (FORMAT.md 5.4), lower subtrees recomputed from the chain's event hashes on demand. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <evchain/proof.h>
#include "core/internal.h"
#include "proof/proof_internal.h"

#define TREE_MAGIC      "evctree\x01"
#define TREE_HEADER     32
#define TREE_ALG_SHA256 1
#define TREE_LEVEL_MAX  16
#define FLUSH_EVERY     4096 /* stored subtrees buffered before a write */
#define BATCH           8192 /* leaves handed to the background worker at a time */

struct ec_tree {
    ec_chain *chain;
    unsigned level; /* K: subtrees of 2^K leaves and more are stored */
    ec_merkle_frontier f;
    uint8_t (*nodes)[EC_MERKLE_HASH_LEN]; /* stored subtrees, post-order (see mmr_pos) */
    uint64_t count, cap;
    uint64_t flushed; /* nodes[0 .. flushed) are in the file */
    int fd;           /* -1: memory only */
    int read_only;
    int checked; /* every stored subtree and the frontier derive from the chain (ec_tree_check) */
    char *path;
    uint64_t pushed; /* leaves added, including those the worker has not hashed yet */
    /* Background worker: the user thread fills buf[cur]; a full batch is handed over as
     * `pending` and the worker hashes it while the other buffer fills. Everything above is
     * the worker's while it is busy; the user thread touches it only after drain(). */
    int background;
    pthread_t worker;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint8_t (*buf[2])[EC_MERKLE_HASH_LEN];
    size_t fill, hlen;
    int cur;
    uint8_t (*pending)[EC_MERKLE_HASH_LEN];
    size_t pending_n;
    int busy, stop, worker_rc;
    char worker_msg[256];
};

/* Stored subtrees are kept in the order appends complete them: the post-order of the tree
 * whose leaves are the blocks of 2^K events (a "Merkle mountain range" layout). Block x sits
 * at 2x - popcount(x); a subtree of 2^h blocks right after its last block's h ancestors. */
static uint64_t leaf_pos(uint64_t x)
{
    return 2 * x - (uint64_t)__builtin_popcountll(x);
}

static uint64_t mmr_pos(unsigned h, uint64_t j)
{
    return leaf_pos(((j + 1) << h) - 1) + h;
}

/* Number of stored subtrees once `blocks` whole blocks exist. */
static uint64_t mmr_size(uint64_t blocks)
{
    return 2 * blocks - (uint64_t)__builtin_popcountll(blocks);
}

static int store_node(ec_tree *t, const uint8_t h[EC_MERKLE_HASH_LEN])
{
    if (t->count == t->cap) {
        uint64_t cap = t->cap ? t->cap * 2 : 64;
        void *p = realloc(t->nodes, cap * EC_MERKLE_HASH_LEN);
        if (!p)
            return ec_error_set(EC_ENOMEM, "merkle tree: no memory for %llu subtrees",
                                (unsigned long long)cap);
        t->nodes = p;
        t->cap = cap;
    }
    memcpy(t->nodes[t->count++], h, EC_MERKLE_HASH_LEN);
    return 0;
}

static int write_nodes(ec_tree *t);

/* What the node callbacks of ec_merkle_frontier_push (on_node, on_check) get: the tree and
 * the first error. */
struct node_ctx {
    ec_tree *t;
    int rc;
};

static void on_node(void *ctx, unsigned level, uint64_t index,
                    const uint8_t hash[EC_MERKLE_HASH_LEN])
{
    struct node_ctx *p = ctx;
    (void)index;
    if (level >= p->t->level && p->rc == 0)
        p->rc = store_node(p->t, hash);
}

static int hash_leaf(ec_tree *t, const uint8_t *event_hash, size_t len)
{
    uint8_t leaf[EC_MERKLE_HASH_LEN];
    ec_merkle_leaf_hash(event_hash, len, leaf);
    struct node_ctx p = {t, 0};
    int rc = ec_merkle_frontier_push(&t->f, leaf, on_node, &p);
    if (rc == 0 && p.rc == 0 && t->fd >= 0 && t->count - t->flushed >= FLUSH_EVERY)
        rc = write_nodes(t); /* on the worker thread in background mode: it owns the file */
    return rc ? rc : p.rc;
}

static void *worker_main(void *arg)
{
    ec_tree *t = arg;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (!t->pending && !t->stop)
            pthread_cond_wait(&t->cv, &t->mu);
        if (!t->pending)
            break;
        uint8_t(*batch)[EC_MERKLE_HASH_LEN] = t->pending;
        size_t n = t->pending_n;
        t->pending = NULL;
        t->busy = 1;
        pthread_mutex_unlock(&t->mu);
        int rc = t->worker_rc;
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = hash_leaf(t, batch[i], t->hlen);
        pthread_mutex_lock(&t->mu);
        if (rc && !t->worker_rc) {
            /* The error was raised on this thread: keep its text for the user's thread. */
            const ec_error *e = ec_error_last();
            snprintf(t->worker_msg, sizeof t->worker_msg, "%s", e ? e->message : "");
            t->worker_rc = rc;
        }
        t->busy = 0;
        pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* Give the filled buffer to the worker once it is done with the other one. After a worker
 * error nothing more is hashed: the error is returned (and by every drain from then on). */
static int hand_off(ec_tree *t)
{
    pthread_mutex_lock(&t->mu);
    while (t->pending || t->busy)
        pthread_cond_wait(&t->cv, &t->mu);
    int rc = t->worker_rc;
    if (rc == 0) {
        t->pending = t->buf[t->cur];
        t->pending_n = t->fill;
        pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
    t->cur ^= 1;
    t->fill = 0;
    return rc ? ec_error_set(rc, "%s", t->worker_msg) : 0;
}

/* Wait until every pushed leaf is in the tree; the worker's first error, if any. */
static int drain(ec_tree *t)
{
    if (!t->background)
        return 0;
    if (t->fill)
        (void)hand_off(t); /* its error, if any, is the one returned below */
    pthread_mutex_lock(&t->mu);
    while (t->pending || t->busy)
        pthread_cond_wait(&t->cv, &t->mu);
    int rc = t->worker_rc;
    pthread_mutex_unlock(&t->mu);
    return rc ? ec_error_set(rc, "%s", t->worker_msg) : 0;
}

static int push_leaf(ec_tree *t, const uint8_t *event_hash, size_t len)
{
    if (t->pushed == UINT64_MAX)
        return ec_error_set(EC_EINVAL, "merkle tree: full at 2^64-1 leaves");
    if (!t->background) {
        int rc = hash_leaf(t, event_hash, len);
        if (rc == 0)
            t->pushed++;
        return rc;
    }
    /* Every leaf of a chain has the chain's hash length: t->hlen, set once at open (the
     * worker reads it unlocked). */
    memcpy(t->buf[t->cur][t->fill++], event_hash, len < t->hlen ? len : t->hlen);
    t->pushed++;
    return t->fill == BATCH ? hand_off(t) : 0;
}

/* The perfect subtree (level, index): stored, or recomputed from the chain's events. */
static int get_node(void *ctx, unsigned level, uint64_t index, uint8_t out[EC_MERKLE_HASH_LEN])
{
    ec_tree *t = ctx;
    if (level >= 64 || index >= (t->f.size >> level))
        return ec_error_set(EC_EINVAL, "merkle tree: subtree %u/%llu is not complete", level,
                            (unsigned long long)index);
    if (level >= t->level) {
        uint64_t pos = mmr_pos(level - t->level, index);
        if (pos >= t->count)
            return ec_error_set(EC_ERROR, "merkle tree: subtree %u/%llu missing", level,
                                (unsigned long long)index);
        memcpy(out, t->nodes[pos], EC_MERKLE_HASH_LEN);
        return 0;
    }
    ec_merkle_frontier f;
    ec_merkle_frontier_init(&f);
    uint64_t from = index << level, n = UINT64_C(1) << level;
    for (uint64_t i = 0; i < n; i++) {
        ec_event ev;
        int rc = ec_chain_get(t->chain, from + i, &ev);
        if (rc)
            return rc;
        uint8_t leaf[EC_MERKLE_HASH_LEN];
        ec_merkle_leaf_hash(ev.hash, ev.hash_len, leaf);
        ec_merkle_frontier_push(&f, leaf, NULL, NULL);
    }
    memcpy(out, f.hash[level], EC_MERKLE_HASH_LEN);
    return 0;
}

/* The block node (level K) of block b, recomputed from the chain. */
static int block_from_chain(ec_tree *t, uint64_t b, uint8_t out[EC_MERKLE_HASH_LEN])
{
    unsigned keep = t->level;
    t->level = 64; /* force recomputation below */
    int rc = get_node(t, keep, b, out);
    t->level = keep;
    return rc;
}

/* A subtree recomputed from the chain: the stored one must be the same. */
static void on_check(void *ctx, unsigned level, uint64_t index,
                     const uint8_t hash[EC_MERKLE_HASH_LEN])
{
    struct node_ctx *c = ctx;
    ec_tree *t = c->t;
    if (level < t->level || c->rc)
        return;
    uint64_t pos = mmr_pos(level - t->level, index);
    if (pos < t->count && memcmp(t->nodes[pos], hash, EC_MERKLE_HASH_LEN) == 0)
        return;
    char what[64];
    if (level == t->level)
        snprintf(what, sizeof what, "block %llu", (unsigned long long)index);
    else
        snprintf(what, sizeof what, "subtree %u/%llu", level, (unsigned long long)index);
    c->rc =
        ec_error_set(EC_EVERIFY,
                     "%s: %s (events %llu to %llu, stored at byte %llu) does not match the "
                     "chain: the tree file is damaged (rebuild it: `evchain checkpoint "
                     "--rebuild`)",
                     t->path ? t->path : "merkle tree", what, (unsigned long long)(index << level),
                     (unsigned long long)(((index + 1) << level) - 1),
                     (unsigned long long)(TREE_HEADER + pos * EC_MERKLE_HASH_LEN));
}

/* Everything pushed so far in the tree (drain), which must reach size: the prologue of every
 * query of a tree at a size. what names the query in the error. */
static int drain_to(ec_tree *t, uint64_t size, const char *what)
{
    int rc = drain(t);
    if (rc)
        return rc;
    if (size > t->f.size)
        return ec_error_set(EC_EINVAL, "%s: size %llu is past the tree's %llu", what,
                            (unsigned long long)size, (unsigned long long)t->f.size);
    return 0;
}

int ec_tree_check(ec_tree *t, uint64_t from)
{
    int rc = drain_to(t, from, "merkle tree");
    if (rc)
        return rc;
    /* Start from the subtrees the first `from` leaves decompose into (the caller vouches
     * for them: they hash to a signed root), then add the chain's later events: every stored
     * subtree that covers one of them is recomputed and compared as it completes. */
    ec_merkle_frontier f;
    ec_merkle_frontier_init(&f);
    f.size = from;
    for (unsigned l = 0; l < 64; l++)
        if ((from >> l & 1) && (rc = get_node(t, l, (from >> l) - 1, f.hash[l])) != 0)
            return rc;
    struct node_ctx c = {t, 0};
    if (from < t->f.size) {
        ec_iter *it;
        if ((rc = ec_iter_new(&it, t->chain, from)) != 0)
            return rc;
        ec_event ev;
        while (c.rc == 0 && f.size < t->f.size && (rc = ec_iter_next(it, &ev)) == 0) {
            uint8_t leaf[EC_MERKLE_HASH_LEN];
            ec_merkle_leaf_hash(ev.hash, ev.hash_len, leaf);
            rc = ec_merkle_frontier_push(&f, leaf, on_check, &c);
            if (rc)
                break;
        }
        ec_iter_free(it);
        if (rc == EC_ITEROVER)
            rc = f.size == t->f.size
                     ? 0
                     : ec_error_set(EC_EVERIFY,
                                    "merkle tree: the chain ends at %llu "
                                    "events, the tree has %llu",
                                    (unsigned long long)f.size, (unsigned long long)t->f.size);
        if (rc == 0)
            rc = c.rc;
        if (rc)
            return rc;
    }
    for (unsigned l = 0; l < 64; l++)
        if ((f.size >> l & 1) && memcmp(f.hash[l], t->f.hash[l], EC_MERKLE_HASH_LEN) != 0)
            return ec_error_set(EC_EVERIFY,
                                "%s: the root's subtree %u/%llu does not match the chain: the "
                                "tree file is damaged (rebuild it: `evchain checkpoint "
                                "--rebuild`)",
                                t->path ? t->path : "merkle tree", l,
                                (unsigned long long)((f.size >> l) - 1));
    t->checked = 1;
    return 0;
}

int ec_tree_checked(const ec_tree *t)
{
    return t->checked;
}

static int write_nodes(ec_tree *t)
{
    if (t->fd < 0 || t->read_only || t->flushed == t->count)
        return 0;
    const uint8_t *p = t->nodes[t->flushed];
    size_t left = (size_t)(t->count - t->flushed) * EC_MERKLE_HASH_LEN;
    off_t off = (off_t)(TREE_HEADER + t->flushed * EC_MERKLE_HASH_LEN);
    while (left) {
        ssize_t w = pwrite(t->fd, p, left, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return ec_error_set_errno(errno == ENOSPC ? EC_ENOSPC : EC_EIO, errno,
                                      "%s: writing the merkle tree", t->path);
        }
        p += w;
        off += w;
        left -= (size_t)w;
    }
    t->flushed = t->count;
    return 0;
}

int ec_tree_flush(ec_tree *t)
{
    int rc = drain(t);
    return rc ? rc : write_nodes(t);
}

static int read_full(int fd, void *buf, size_t len, off_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t r = pread(fd, p, len, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        off += r;
        len -= (size_t)r;
    }
    return 0;
}

/* Start over from an empty tree (file cut back to its header). */
static int reset(ec_tree *t)
{
    ec_merkle_frontier_init(&t->f);
    t->count = t->flushed = 0;
    t->pushed = 0;
    t->checked = 1;
    if (t->fd >= 0 && !t->read_only && ftruncate(t->fd, TREE_HEADER) != 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: truncating the merkle tree", t->path);
    return 0;
}

/* Load the stored subtrees of the file, keeping only whole blocks the chain still has and
 * checking the first and last block against the chain (the others: ec_tree_check). */
static int load(ec_tree *t, uint64_t file_size, uint64_t chain_count)
{
    uint64_t have = (file_size - TREE_HEADER) / EC_MERKLE_HASH_LEN;
    uint64_t blocks = chain_count >> t->level;
    while (blocks && mmr_size(blocks) > have)
        blocks--; /* a torn or lagging tail: keep what is whole */
    uint64_t n = mmr_size(blocks);
    if (n == 0)
        return reset(t);
    t->nodes = malloc(n * EC_MERKLE_HASH_LEN);
    if (!t->nodes)
        return ec_error_set(EC_ENOMEM, "%s: no memory for %llu subtrees", t->path,
                            (unsigned long long)n);
    t->cap = n;
    if (read_full(t->fd, t->nodes, n * EC_MERKLE_HASH_LEN, TREE_HEADER) != 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: reading the merkle tree", t->path);
    t->count = t->flushed = n;
    t->f.size = t->pushed = blocks << t->level;
    t->checked = 0; /* read from the file: ec_tree_check before a root of it is signed */
    for (unsigned l = t->level; l < 64; l++)
        if (t->f.size >> l & 1)
            memcpy(t->f.hash[l], t->nodes[mmr_pos(l - t->level, (t->f.size >> l) - 1)],
                   EC_MERKLE_HASH_LEN);
    /* The file is derived data: a file left from another chain, or from before the chain
     * was rewritten, must not produce roots the chain does not have. Comparing the first and
     * last blocks costs 2^(K+1) reads and catches a replaced chain and the usual rewrite of
     * recent events; `evchain verify --since` does not rely on this file at all, and no
     * root of it is signed before ec_tree_check has compared the rest. */
    uint64_t probe[2] = {0, blocks - 1};
    for (int i = 0; i < 2; i++) {
        uint8_t h[EC_MERKLE_HASH_LEN];
        int rc = block_from_chain(t, probe[i], h);
        if (rc)
            return rc;
        if (memcmp(h, t->nodes[mmr_pos(0, probe[i])], EC_MERKLE_HASH_LEN) != 0)
            return reset(t);
    }
    if (!t->read_only && file_size != TREE_HEADER + n * EC_MERKLE_HASH_LEN &&
        ftruncate(t->fd, (off_t)(TREE_HEADER + n * EC_MERKLE_HASH_LEN)) != 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: truncating the merkle tree", t->path);
    return 0;
}

static int open_file(ec_tree *t, unsigned want_level, uint64_t chain_count)
{
    int flags = t->read_only ? O_RDONLY : O_RDWR | O_CREAT;
    if (!t->read_only) {
        /* The tree lives in a folder of its own (a chain directory's proof/). */
        char *slash = strrchr(t->path, '/');
        if (slash && slash != t->path) {
            *slash = 0;
            int rc = mkdir(t->path, 0755);
            int err = errno;
            *slash = '/';
            if (rc != 0 && err != EEXIST)
                return ec_error_set_errno(EC_EIO, err, "%s: creating its folder", t->path);
        }
    }
    t->fd = ec_open_regular(t->path, flags);
    if (t->fd == -2)
        return ec_error_last()->code;
    if (t->fd < 0) {
        if (t->read_only && errno == ENOENT)
            return 0; /* nothing stored yet: build in memory */
        return ec_error_set_errno(EC_EIO, errno, "%s: opening the merkle tree", t->path);
    }
    if (!t->read_only && flock(t->fd, LOCK_EX | LOCK_NB) != 0)
        return ec_error_set(EC_ELOCKED, "%s: another process is writing this merkle tree", t->path);
    struct stat st;
    if (fstat(t->fd, &st) != 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: stat", t->path);
    uint8_t hdr[TREE_HEADER];
    if (st.st_size == 0) {
        t->level = want_level;
        if (t->read_only)
            return 0;
        memset(hdr, 0, sizeof hdr);
        memcpy(hdr, TREE_MAGIC, 8);
        hdr[8] = TREE_ALG_SHA256;
        hdr[9] = (uint8_t)want_level;
        if (pwrite(t->fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
            return ec_error_set_errno(EC_EIO, errno, "%s: writing the header", t->path);
        return 0;
    }
    if (st.st_size < TREE_HEADER || read_full(t->fd, hdr, sizeof hdr, 0) != 0 ||
        memcmp(hdr, TREE_MAGIC, 8) != 0)
        return ec_error_set(EC_EFORMAT, "%s: not an evchain merkle tree file (bad header)",
                            t->path);
    if (hdr[8] != TREE_ALG_SHA256 || hdr[9] > TREE_LEVEL_MAX)
        return ec_error_set(EC_EUNSUPPORTED, "%s: merkle tree hash %u / level %u unsupported",
                            t->path, hdr[8], hdr[9]);
    for (int i = 10; i < TREE_HEADER; i++)
        if (hdr[i])
            return ec_error_set(EC_EFORMAT, "%s: reserved header byte %d is not zero", t->path, i);
    t->level = hdr[9];
    return load(t, (uint64_t)st.st_size, chain_count);
}

int ec_tree_open(ec_tree **out, ec_chain *chain, const ec_tree_options *opts)
{
    ec_tree_options def = EC_TREE_OPTIONS_INIT;
    if (!opts)
        opts = &def;
    EC_REFUSE_NULL2(out, chain);
    *out = NULL;
    if (opts->version != EC_TREE_OPTIONS_VERSION)
        return ec_error_set(EC_EUNSUPPORTED, "ec_tree_open: options version %u", opts->version);
    unsigned level = opts->store_level ? opts->store_level : EC_TREE_STORE_LEVEL_DEFAULT;
    if (level > TREE_LEVEL_MAX)
        return ec_error_set(EC_EINVAL, "ec_tree_open: store level %u above %d", level,
                            TREE_LEVEL_MAX);
    ec_tree *t = calloc(1, sizeof *t);
    if (!t)
        return ec_error_set(EC_ENOMEM, "ec_tree_open: no memory");
    t->chain = chain;
    t->hlen = ec_hash_len(ec_chain_alg(chain));
    t->fd = -1;
    t->level = level;
    t->read_only = opts->read_only;
    t->checked = 1;
    ec_merkle_frontier_init(&t->f);
    int rc = 0;
    if (opts->path) {
        t->path = strdup(opts->path);
        rc = t->path ? open_file(t, level, ec_chain_count(chain))
                     : ec_error_set(EC_ENOMEM, "ec_tree_open: no memory");
    }
    if (rc == 0)
        rc = ec_tree_sync(t);
    if (rc == 0)
        rc = ec_tree_flush(t);
    if (rc == 0 && opts->background) {
        /* Started after the catch-up above: the worker only sees later pushes. */
        t->buf[0] = malloc(2 * BATCH * EC_MERKLE_HASH_LEN);
        if (!t->buf[0])
            rc = ec_error_set(EC_ENOMEM, "ec_tree_open: no memory for the worker's batches");
        else {
            t->buf[1] = t->buf[0] + BATCH;
            pthread_mutex_init(&t->mu, NULL);
            pthread_cond_init(&t->cv, NULL);
            if (pthread_create(&t->worker, NULL, worker_main, t) != 0) {
                pthread_mutex_destroy(&t->mu);
                pthread_cond_destroy(&t->cv);
                rc = ec_error_set(EC_ERROR, "ec_tree_open: cannot start the worker thread");
            } else {
                t->background = 1;
            }
        }
    }
    if (rc) {
        ec_tree_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void ec_tree_free(ec_tree *t)
{
    if (!t)
        return;
    ec_tree_flush(t); /* best effort: the file is repaired from the chain on next open */
    if (t->background) {
        pthread_mutex_lock(&t->mu);
        t->stop = 1;
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->worker, NULL);
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv);
    }
    free(t->buf[0]);
    if (t->fd >= 0)
        close(t->fd);
    free(t->nodes);
    free(t->path);
    free(t);
}

uint64_t ec_tree_size(const ec_tree *t)
{
    return t->pushed;
}

int ec_tree_sync(ec_tree *t)
{
    uint64_t n = ec_chain_count(t->chain);
    if (t->pushed > n)
        return ec_error_set(EC_EVERIFY, "merkle tree: the chain shrank from %llu to %llu events",
                            (unsigned long long)t->pushed, (unsigned long long)n);
    if (t->pushed == n)
        return 0;
    ec_iter *it;
    int rc = ec_iter_new(&it, t->chain, t->pushed);
    if (rc)
        return rc;
    ec_event ev;
    while ((rc = ec_iter_next(it, &ev)) == 0) {
        rc = push_leaf(t, ev.hash, ev.hash_len);
        if (rc)
            break;
    }
    ec_iter_free(it);
    return rc == EC_ITEROVER ? 0 : rc;
}

int ec_tree_push(ec_tree *t, const uint8_t *event_hash, size_t hash_len)
{
    if (t->pushed >= ec_chain_count(t->chain))
        return ec_error_set(EC_EINVAL, "merkle tree: no event %llu in the chain to add",
                            (unsigned long long)t->pushed);
    if (hash_len != ec_hash_len(ec_chain_alg(t->chain)))
        return ec_error_set(EC_EINVAL, "merkle tree: event hash of %zu bytes, chain uses %zu",
                            hash_len, ec_hash_len(ec_chain_alg(t->chain)));
    return push_leaf(t, event_hash, hash_len);
}

int ec_tree_root(ec_tree *t, uint64_t size, uint8_t out[EC_MERKLE_HASH_LEN])
{
    int rc = drain_to(t, size, "merkle tree");
    if (rc)
        return rc;
    if (size == t->f.size) {
        ec_merkle_frontier_root(&t->f, out);
        return 0;
    }
    return ec_merkle_root_from(get_node, t, size, out);
}

int ec_tree_inclusion(ec_tree *t, uint64_t index, uint64_t size, uint8_t out[][EC_MERKLE_HASH_LEN],
                      size_t *count)
{
    *count = 0;
    int rc = drain_to(t, size, "inclusion proof");
    if (rc)
        return rc;
    return ec_merkle_inclusion_from(get_node, t, index, size, out, count);
}

int ec_tree_consistency(ec_tree *t, uint64_t m, uint64_t n, uint8_t out[][EC_MERKLE_HASH_LEN],
                        size_t *count)
{
    *count = 0;
    int rc = drain_to(t, n, "consistency proof");
    if (rc)
        return rc;
    return ec_merkle_consistency_from(get_node, t, m, n, out, count);
}

ec_chain *ec_tree_chain(ec_tree *t)
{
    return t->chain;
}
