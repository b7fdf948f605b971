/* store/memory.c: the memory backend. Records live back to back in large arena chunks that
 * never move (so views stay valid for the chain's life), with a seq -> record index and an
 * open-addressing hash -> seq table. Appends allocate only when a chunk or table fills:
 * no per-event malloc. */
#include <stdlib.h>
#include <sys/mman.h>

#include <evchain/store.h>
#include "core/internal.h"

#define CHUNK_MIN (32u << 20) /* 32 MiB: huge-page friendly, amortises first-touch faults */

struct chunk {
    struct chunk *next;
    size_t size, used;
    uint8_t *data;
};

struct tslot {
    uint64_t key;
    uint64_t seqp1; /* seq + 1; 0 = empty */
};

struct slot {
    uint8_t *rec;
    uint32_t len;
    uint32_t hash_off;
};

typedef struct mem_backend {
    ec_backend base;
    ec_hash_alg alg;
    struct chunk *chunks, *cur;
    struct slot *idx;
    uint64_t count, cap;
    /* hash -> seq table, open addressing keyed by the hash's first 8 bytes. The key is kept
     * in the slot so that growing never touches the records. Inserts are made in batches of
     * INDEX_BATCH: every slot of a batch is prefetched before any is written, so the cache
     * and TLB misses of random slots overlap instead of stalling each append in turn.
     * Records [indexed, count) are not in the table yet; find_hash inserts them first. */
    struct tslot *tab;
    uint64_t tab_cap; /* power of two */
    uint64_t indexed;
    uint8_t *reserved;
    size_t reserved_len;
} mem_backend;

static struct chunk *chunk_new(size_t need, int populate)
{
    size_t size = need > CHUNK_MIN ? need : CHUNK_MIN;
    struct chunk *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    /* populate: fault the whole chunk in now (capacity hint given) rather than page by page
     * on the append path. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        free(c);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE);
#endif
    if (populate) {
#ifdef MADV_POPULATE_WRITE
        if (madvise(p, size, MADV_POPULATE_WRITE) != 0)
#endif
            for (size_t off = 0; off < size; off += 4096)
                ((volatile uint8_t *)p)[off] = 0;
    }
    c->next = NULL;
    c->size = size;
    c->used = 0;
    c->data = p;
    return c;
}

static int m_get_alg(ec_backend *b, ec_hash_alg *out)
{
    *out = ((mem_backend *)b)->alg;
    return 0;
}

static int m_set_alg(ec_backend *b, ec_hash_alg alg)
{
    ((mem_backend *)b)->alg = alg;
    return 0;
}

static int m_count(ec_backend *b, uint64_t *out)
{
    *out = ((mem_backend *)b)->count;
    return 0;
}

static int m_reserve(ec_backend *b, size_t len, uint8_t **out)
{
    mem_backend *m = (mem_backend *)b;
    if (len > UINT32_MAX)
        return ec_error_set(EC_EINVAL, "record of %zu bytes is too large", len);
    /* 8-byte alignment keeps fixed-width reads cheap; an uncommitted reservation is simply
     * overwritten by the next one. */
    size_t need = (len + 7) & ~(size_t)7;
    if (!m->cur || m->cur->size - m->cur->used < need) {
        struct chunk *c = chunk_new(need, 0);
        if (!c)
            return ec_error_set(EC_ENOMEM, "out of memory for a %zu-byte record", len);
        if (m->cur)
            m->cur->next = c;
        else
            m->chunks = c;
        m->cur = c;
    }
    m->reserved = m->cur->data + m->cur->used;
    m->reserved_len = len;
    *out = m->reserved;
    return 0;
}

static inline uint64_t key_of(const uint8_t *h)
{
    uint64_t k;
    memcpy(&k, h, 8);
    return k;
}

/* Zeroed memory for the hash table, on huge pages where the kernel allows: every insert and
 * lookup lands on a random slot, and with 4 KiB pages each one is also a TLB miss (a nested
 * page walk under virtualisation) that costs more than the probe. */
static struct tslot *tab_alloc(uint64_t cap)
{
    size_t bytes = cap * sizeof(struct tslot);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

static void tab_free(struct tslot *t, uint64_t cap)
{
    if (t)
        munmap(t, cap * sizeof(struct tslot));
}

static void tab_put(struct tslot *t, uint64_t cap, uint64_t key, uint64_t seqp1)
{
    uint64_t i = key & (cap - 1);
    while (t[i].seqp1)
        i = (i + 1) & (cap - 1);
    t[i].key = key;
    t[i].seqp1 = seqp1;
}

static int tab_grow(mem_backend *m)
{
    uint64_t ncap = m->tab_cap ? m->tab_cap * 2 : 1024;
    struct tslot *nt = tab_alloc(ncap);
    if (!nt)
        return ec_error_set(EC_ENOMEM, "out of memory for the hash index");
    for (uint64_t i = 0; i < m->tab_cap; i++)
        if (m->tab[i].seqp1)
            tab_put(nt, ncap, m->tab[i].key, m->tab[i].seqp1);
    tab_free(m->tab, m->tab_cap);
    m->tab = nt;
    m->tab_cap = ncap;
    return 0;
}

#define INDEX_BATCH 64

/* Insert every record not yet in the table. */
static void tab_flush(mem_backend *m)
{
    uint64_t mask = m->tab_cap - 1;
    for (uint64_t q = m->indexed; q < m->count; q++) {
        const struct slot *s = &m->idx[q];
        __builtin_prefetch(&m->tab[key_of(s->rec + s->hash_off) & mask], 1);
    }
    for (uint64_t q = m->indexed; q < m->count; q++) {
        const struct slot *s = &m->idx[q];
        tab_put(m->tab, m->tab_cap, key_of(s->rec + s->hash_off), q + 1);
    }
    m->indexed = m->count;
}

static int m_commit(ec_backend *b, uint64_t seq, size_t hash_off)
{
    mem_backend *m = (mem_backend *)b;
    if (!m->reserved || seq != m->count)
        return ec_error_set(EC_EINVAL, "commit of seq %llu without a reservation",
                            (unsigned long long)seq);
    if (m->count == m->cap) {
        uint64_t ncap = m->cap ? m->cap * 2 : 4096;
        struct slot *ni = realloc(m->idx, ncap * sizeof *ni);
        if (!ni)
            return ec_error_set(EC_ENOMEM, "out of memory for the index");
        m->idx = ni;
        m->cap = ncap;
    }
    /* Keep the table at most half full so probes stay short. */
    if ((m->count + 1) * 2 > m->tab_cap) {
        int rc = tab_grow(m);
        if (rc)
            return rc;
    }
    if (m->count - m->indexed >= INDEX_BATCH)
        tab_flush(m);
    struct slot *s = &m->idx[m->count];
    s->rec = m->reserved;
    s->len = (uint32_t)m->reserved_len;
    s->hash_off = (uint32_t)hash_off;
    m->cur->used += (m->reserved_len + 7) & ~(size_t)7;
    m->reserved = NULL;
    m->count++;
    return 0;
}

static int m_get(ec_backend *b, uint64_t seq, const uint8_t **rec, size_t *len)
{
    mem_backend *m = (mem_backend *)b;
    if (seq >= m->count)
        return ec_error_set(EC_ENOTFOUND, "no record %llu", (unsigned long long)seq);
    *rec = m->idx[seq].rec;
    *len = m->idx[seq].len;
    return 0;
}

static int m_find_hash(ec_backend *b, const uint8_t *hash, size_t hash_len, uint64_t *out)
{
    mem_backend *m = (mem_backend *)b;
    if (!m->tab_cap || hash_len < 8)
        return ec_error_set(EC_ENOTFOUND, "no event with that hash");
    tab_flush(m);
    uint64_t key = key_of(hash);
    for (uint64_t i = key & (m->tab_cap - 1); m->tab[i].seqp1; i = (i + 1) & (m->tab_cap - 1)) {
        struct slot *s = &m->idx[m->tab[i].seqp1 - 1];
        if (m->tab[i].key == key && s->len - s->hash_off == hash_len &&
            memcmp(s->rec + s->hash_off, hash, hash_len) == 0) {
            *out = m->tab[i].seqp1 - 1;
            return 0;
        }
    }
    return ec_error_set(EC_ENOTFOUND, "no event with that hash");
}

struct ec_backend_iter {
    mem_backend *m;
    uint64_t next;
};

static int m_iter_new(ec_backend *b, uint64_t from, ec_backend_iter **out)
{
    ec_backend_iter *it = malloc(sizeof *it);
    if (!it)
        return ec_error_set(EC_ENOMEM, "out of memory");
    it->m = (mem_backend *)b;
    it->next = from;
    *out = it;
    return 0;
}

static int m_iter_next(ec_backend_iter *it, const uint8_t **rec, size_t *len)
{
    if (it->next >= it->m->count)
        return EC_ITEROVER;
    struct slot *s = &it->m->idx[it->next++];
    *rec = s->rec;
    *len = s->len;
    return 0;
}

static void m_iter_free(ec_backend_iter *it)
{
    free(it);
}

static void m_free(ec_backend *b)
{
    mem_backend *m = (mem_backend *)b;
    for (struct chunk *c = m->chunks, *n; c; c = n) {
        n = c->next;
        munmap(c->data, c->size);
        free(c);
    }
    free(m->idx);
    tab_free(m->tab, m->tab_cap);
    free(m);
}

int ec_backend_memory(ec_backend **out, const ec_memory_options *opts)
{
    EC_REFUSE_NULL(out);
    *out = NULL;
    if (opts && opts->version != EC_MEMORY_OPTIONS_VERSION)
        return ec_error_set(EC_EINVAL, "memory backend: options of another version");
    mem_backend *m = calloc(1, sizeof *m);
    if (!m)
        return ec_error_set(EC_ENOMEM, "out of memory");
    m->base = (ec_backend){.version = EC_BACKEND_VERSION,
                           .get_alg = m_get_alg,
                           .set_alg = m_set_alg,
                           .count = m_count,
                           .reserve = m_reserve,
                           .commit = m_commit,
                           .get = m_get,
                           .find_hash = m_find_hash,
                           .iter_new = m_iter_new,
                           .iter_next = m_iter_next,
                           .iter_free = m_iter_free,
                           .free = m_free};
    /* The hint sizes the index (cap slots) and the hash table (a power of two >= 2x the
     * hint, so up to 4x): refuse a hint whose byte counts cannot even be computed, before
     * they wrap to a small allocation that appends would then overrun. */
    if (opts && (opts->expected_events > SIZE_MAX / sizeof(struct slot) ||
                 opts->expected_events > SIZE_MAX / 4 / sizeof(struct tslot))) {
        m_free(&m->base);
        return ec_error_set(EC_ENOMEM,
                            "memory backend: expected_events %llu: index would not fit in "
                            "the address space",
                            (unsigned long long)opts->expected_events);
    }
    if (opts && opts->expected_events) {
        m->cap = opts->expected_events;
        m->idx = malloc(m->cap * sizeof *m->idx);
        uint64_t t = 1024;
        while (t < opts->expected_events * 2)
            t *= 2;
        m->tab = tab_alloc(t);
        m->tab_cap = m->tab ? t : 0;
        if (m->idx && m->tab) { /* fault them in now, not on the append path */
            memset(m->idx, 0, m->cap * sizeof *m->idx);
            memset(m->tab, 0, t * sizeof *m->tab);
        }
        if (!m->idx || !m->tab) {
            m_free(&m->base);
            return ec_error_set(EC_ENOMEM, "out of memory");
        }
    }
    if (opts && opts->expected_bytes) {
        m->chunks = m->cur = chunk_new(opts->expected_bytes, 1);
        if (!m->cur) {
            m_free(&m->base);
            return ec_error_set(EC_ENOMEM, "out of memory");
        }
    }
    *out = &m->base;
    return 0;
}
