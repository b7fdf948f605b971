/* core/chain.c: the chain: appends encode each event straight into the backend's storage,
 * hash it there and link it to the head; reads decode views of stored records. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/internal.h"

struct ec_chain {
    ec_backend *be;
    ec_hash_alg alg;
    size_t hlen;
    unsigned verify_threads;
    pthread_mutex_t lock; /* serialises appends: seq, head and the hasher */
    uint64_t count;
    uint8_t head[EC_HASH_MAX];
    /* The head record is damaged (a reader of a chain directory whose last segment has
     * damage: the backend counts the damaged record, the last one it can name, so that
     * reading stops there with the finding). No head hash: nothing can be appended and
     * ec_chain_head raises the damage; everything before it reads as usual. */
    int head_bad;
    ec_hasher *hasher;
};

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

int ec_chain_open(ec_chain **out, ec_backend *be, const ec_chain_options *opts)
{
    ec_chain_options defaults = EC_CHAIN_OPTIONS_INIT;
    if (!out) { /* the chain owns be also on failure: free it here too */
        if (be)
            be->free(be);
        return ec_error_set(EC_EINVAL, "ec_chain_open: out is NULL");
    }
    *out = NULL;
    if (!be)
        return ec_error_set(EC_EINVAL, "ec_chain_open: no backend");
    if (!opts)
        opts = &defaults;
    if (opts->version != EC_CHAIN_OPTIONS_VERSION || be->version != EC_BACKEND_VERSION) {
        be->free(be);
        return ec_error_set(EC_EINVAL, "ec_chain_open: options or backend of another version");
    }
    ec_chain *c = calloc(1, sizeof *c);
    if (!c) {
        be->free(be);
        return ec_error_set(EC_ENOMEM, "out of memory");
    }
    c->be = be;
    pthread_mutex_init(&c->lock, NULL);
    int rc = be->count(be, &c->count);
    ec_hash_alg stored = 0;
    if (!rc)
        rc = be->get_alg(be, &stored);
    if (rc)
        goto fail;
    ec_hash_alg want = opts->alg ? opts->alg : EC_HASH_SHA256;
    if (!stored) {
        if (!ec_hash_len(want)) {
            rc = ec_error_set(EC_EUNSUPPORTED, "unknown hash algorithm %d", (int)want);
            goto fail;
        }
        if ((rc = be->set_alg(be, want)))
            goto fail;
        stored = want;
    } else if (opts->alg && opts->alg != stored) {
        /* Also when empty: a created chain directory records its algorithm for good. */
        rc = ec_error_set(EC_EINVAL, "chain uses %s, not %s", ec_hash_name(stored),
                          ec_hash_name(opts->alg));
        goto fail;
    }
    c->alg = stored;
    c->hlen = ec_hash_len(stored);
    c->verify_threads = opts->verify_threads ? opts->verify_threads : online_cpus();
    if ((rc = ec_hasher_new(&c->hasher, stored)))
        goto fail;
    if (c->count > 0) {
        const uint8_t *rec;
        size_t len;
        rc = be->get(be, c->count - 1, &rec, &len);
        if (rc == EC_EFORMAT) { /* open for reading up to it */
            c->head_bad = 1;
            ec_error_clear();
            *out = c;
            return 0;
        }
        if (rc)
            goto fail;
        if (len < c->hlen) {
            rc = ec_error_set(EC_EFORMAT, "head record %llu is truncated",
                              (unsigned long long)(c->count - 1));
            goto fail;
        }
        memcpy(c->head, rec + len - c->hlen, c->hlen);
    }
    *out = c;
    return 0;
fail:
    ec_chain_free(c);
    return rc;
}

void ec_chain_free(ec_chain *c)
{
    if (!c)
        return;
    if (c->be)
        c->be->free(c->be);
    ec_hasher_free(c->hasher);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

ec_hash_alg ec_chain_alg(const ec_chain *c)
{
    return c ? c->alg : 0;
}

uint64_t ec_chain_count(const ec_chain *c)
{
    return c ? c->count : 0;
}

ec_backend *ec_chain_backend(ec_chain *c)
{
    return c ? c->be : NULL;
}

/* The damaged head's own error (the backend's message: where and what), EC_EFORMAT. */
static int head_damaged(ec_chain *c)
{
    const uint8_t *rec;
    size_t len;
    int rc = c->be->get(c->be, c->count - 1, &rec, &len);
    return rc ? rc
              : ec_error_set(EC_EFORMAT, "the head record %llu is damaged",
                             (unsigned long long)(c->count - 1));
}

int ec_chain_head(ec_chain *c, uint8_t *hash_out, uint64_t *seq_out)
{
    EC_REFUSE_NULL(c);
    pthread_mutex_lock(&c->lock);
    uint64_t n = c->count;
    if (n && hash_out)
        memcpy(hash_out, c->head, c->hlen);
    pthread_mutex_unlock(&c->lock);
    if (!n)
        return ec_error_set(EC_ENOTFOUND, "the chain is empty");
    if (c->head_bad)
        return head_damaged(c);
    if (seq_out)
        *seq_out = n - 1;
    return 0;
}

int ec_chain_append(ec_chain *c, const ec_event_input *in, uint64_t *seq_out, uint8_t *hash_out)
{
    EC_REFUSE_NULL2(c, in);
    if (!in->type)
        return ec_error_set(EC_EINVAL, "append: event type is required");
    size_t tl = in->type_len ? in->type_len : strlen(in->type);
    const char *desc = in->description;
    size_t dl = desc ? (in->description_len ? in->description_len : strlen(desc)) : 0;
    if (tl == 0 || tl > EC_TYPE_MAX)
        return ec_error_set(EC_EINVAL, "append: event type length %zu not in 1..%u", tl,
                            EC_TYPE_MAX);
    if (in->data_len > EC_DATA_MAX)
        return ec_error_set(EC_EINVAL, "append: data of %zu bytes exceeds the %u-byte limit",
                            in->data_len, EC_DATA_MAX);
    if (in->data_len && !in->data)
        return ec_error_set(EC_EINVAL, "append: data pointer is NULL");
    if (dl > UINT32_MAX)
        return ec_error_set(EC_EINVAL, "append: description too long");
    if (!ec_type_valid(in->type, tl))
        return ec_error_set(EC_EINVAL, "append: event type is not valid UTF-8");
    if (desc && !ec_utf8_valid(desc, dl))
        return ec_error_set(EC_EINVAL, "append: description is not valid UTF-8");
    uint64_t ts = in->timestamp;
    if (c->alg == EC_HASH_THEATER_SHA1) {
        if (desc || ts)
            return ec_error_set(EC_EINVAL, "append: a theater-sha1 chain records no timestamp "
                                           "or description (Theater's hash would not cover them)");
    } else if (!ts) {
        ts = ec_time_now_ns();
    }

    if (c->head_bad) /* (never cleared: no lock needed) */
        return head_damaged(c);
    pthread_mutex_lock(&c->lock);
    uint64_t seq = c->count;
    int has_parent = seq > 0;
    size_t enc = ec_event_encoded_size(c->alg, has_parent, tl, dl, desc != NULL, in->data_len);
    uint8_t *p;
    int rc = c->be->reserve(c->be, enc + c->hlen, &p);
    if (rc)
        goto out;
    ec_encoding_write(p, c->alg, seq, ts, has_parent ? c->head : NULL, in->type, tl, desc, dl,
                      in->data, in->data_len);
    if ((rc = ec_hasher_encoding(c->hasher, p, enc, p + enc)))
        goto out;
    /* The head moves only once the backend has accepted the record. */
    if ((rc = c->be->commit(c->be, seq, enc)))
        goto out;
    memcpy(c->head, p + enc, c->hlen);
    c->count = seq + 1;
    if (hash_out)
        memcpy(hash_out, c->head, c->hlen);
out:
    pthread_mutex_unlock(&c->lock);
    if (rc)
        return rc;
    if (c->be->wait_durable && (rc = c->be->wait_durable(c->be, seq)))
        return rc;
    if (seq_out)
        *seq_out = seq;
    return 0;
}

int ec_chain_append_record(ec_chain *c, const uint8_t *rec, size_t len)
{
    ec_verify_result res;
    EC_REFUSE_NULL(c);
    if (!rec && len)
        return ec_error_set(EC_EINVAL, "ec_chain_append_record: rec is NULL");
    if (c->head_bad)
        return head_damaged(c);
    pthread_mutex_lock(&c->lock);
    uint64_t seq = c->count;
    int rc = ec_check_one(c->hasher, c->alg, rec, len, seq, seq ? c->head : NULL, &res);
    uint8_t *p;
    if (!rc)
        rc = c->be->reserve(c->be, len, &p);
    if (!rc) {
        memcpy(p, rec, len);
        rc = c->be->commit(c->be, seq, len - c->hlen);
    }
    if (!rc) {
        memcpy(c->head, rec + len - c->hlen, c->hlen);
        c->count = seq + 1;
    }
    pthread_mutex_unlock(&c->lock);
    if (!rc && c->be->wait_durable)
        rc = c->be->wait_durable(c->be, seq);
    return rc;
}

int ec_chain_get(ec_chain *c, uint64_t seq, ec_event *out)
{
    const uint8_t *rec;
    size_t len;
    EC_REFUSE_NULL2(c, out);
    if (seq >= c->count)
        return ec_error_set(EC_ENOTFOUND, "no event %llu (chain has %llu)", (unsigned long long)seq,
                            (unsigned long long)c->count);
    int rc = c->be->get(c->be, seq, &rec, &len);
    if (rc)
        return rc;
    if ((rc = ec_record_decode(out, rec, len))) {
        const ec_error *e = ec_error_last();
        return ec_error_set(rc, "event %llu: %s", (unsigned long long)seq, e->message);
    }
    return 0;
}

int ec_chain_find(ec_chain *c, const uint8_t *hash, size_t hash_len, uint64_t *seq_out)
{
    EC_REFUSE_NULL2(c, hash);
    if (hash_len != c->hlen)
        return ec_error_set(EC_EINVAL, "hash of %zu bytes, chain uses %zu", hash_len, c->hlen);
    if (!c->be->find_hash)
        return ec_error_set(EC_EUNSUPPORTED, "this backend cannot find events by hash");
    return c->be->find_hash(c->be, hash, hash_len, seq_out);
}

int ec_chain_find_prefix(ec_chain *c, const char *prefix, uint64_t *seq_out)
{
    EC_REFUSE_NULL2(c, prefix);
    size_t n = strlen(prefix);
    if (n == 0 || n > 2 * c->hlen)
        return ec_error_set(EC_EINVAL, "hash prefix must have 1..%zu hex digits", 2 * c->hlen);
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdefABCDEF", prefix[i]))
            return ec_error_set(EC_EINVAL, "'%s' is not a hex hash prefix", prefix);
    if (n == 2 * c->hlen) {
        uint8_t h[EC_HASH_MAX];
        int rc = ec_hex_decode(h, c->hlen, prefix, n);
        return rc ? rc : ec_chain_find(c, h, c->hlen, seq_out);
    }
    /* A short prefix needs a scan; fine for interactive use. */
    ec_iter *it;
    ec_event ev;
    int rc = ec_iter_new(&it, c, 0), found = 0;
    if (rc)
        return rc;
    char hex[2 * EC_HASH_MAX + 1];
    while ((rc = ec_iter_next(it, &ev)) == 0) {
        ec_hex_encode(hex, ev.hash, ev.hash_len);
        if (strncasecmp(hex, prefix, n) == 0) {
            if (found++) {
                ec_iter_free(it);
                return ec_error_set(EC_EINVAL, "hash prefix '%s' is ambiguous", prefix);
            }
            *seq_out = ev.seq;
        }
    }
    ec_iter_free(it);
    if (rc != EC_ITEROVER)
        return rc;
    return found ? 0 : ec_error_set(EC_ENOTFOUND, "no event with hash prefix '%s'", prefix);
}

struct ec_iter {
    ec_chain *chain;
    ec_backend_iter *bi;
    uint64_t next;
    /* ec_iter_verify: each record is checked before it is decoded; once one fails, every
     * later call fails the same way (nothing past a broken link can be trusted). */
    ec_hasher *h;
    ec_verify_result *res;
    int failed; /* 0, or the code of the first failure */
    int have_prev;
    uint8_t prev[EC_HASH_MAX];
};

int ec_iter_new(ec_iter **out, ec_chain *c, uint64_t from)
{
    EC_REFUSE_NULL2(out, c);
    ec_iter *it = calloc(1, sizeof *it);
    if (!it)
        return ec_error_set(EC_ENOMEM, "out of memory");
    int rc = c->be->iter_new(c->be, from, &it->bi);
    if (rc) {
        free(it);
        return rc;
    }
    it->chain = c;
    it->next = from;
    *out = it;
    return 0;
}

int ec_iter_verify(ec_iter *it, ec_verify_result *res)
{
    if (!it || it->h)
        return ec_error_set(EC_EINVAL, "ec_iter_verify: no iterator, or already verifying");
    if (res)
        memset(res, 0, sizeof *res);
    if (it->next > 0) { /* the first event's parent link is checked against its predecessor */
        const uint8_t *rec;
        size_t len;
        ec_verify_result scratch;
        int rc = it->chain->be->get(it->chain->be, it->next - 1, &rec, &len);
        if (rc == 0 && len < it->chain->hlen)
            rc = ec_error_set(EC_EFORMAT, "record too short");
        if (rc == EC_EFORMAT) { /* a damaged predecessor is a finding, as in verify */
            ec_verify_unreadable(res ? res : &scratch, it->next - 1);
            const ec_error *e = ec_error_last();
            return ec_error_set(EC_EVERIFY, "%s", e ? e->message : "unreadable record");
        }
        if (rc)
            return rc;
        memcpy(it->prev, rec + len - it->chain->hlen, it->chain->hlen);
        it->have_prev = 1;
    }
    int rc = ec_hasher_new(&it->h, it->chain->alg);
    if (rc)
        return rc;
    it->res = res;
    return 0;
}

/* Check the record the iterator just read (or the read error it got) as event it->next. */
static int iter_check(ec_iter *it, int rc, const uint8_t *rec, size_t len)
{
    ec_verify_result scratch, *res = it->res ? it->res : &scratch;
    if (rc == EC_EFORMAT) { /* a damaged record is a finding about the chain, as in verify */
        rc = ec_verify_unreadable(res, it->next);
    } else if (rc == 0) {
        rc = ec_check_one(it->h, it->chain->alg, rec, len, it->next,
                          it->have_prev ? it->prev : NULL, res);
    }
    if (rc == EC_EFORMAT || rc == EC_EVERIFY) {
        /* ec_verify_fail raised "event N: reason"; an unreadable record is a finding too */
        it->failed = EC_EVERIFY;
        const ec_error *e = ec_error_last();
        return ec_error_set(EC_EVERIFY, "%s", e ? e->message : "verification failed");
    }
    if (rc)
        return rc;
    memcpy(it->prev, rec + len - it->chain->hlen, it->chain->hlen);
    it->have_prev = 1;
    res->checked++;
    return 0;
}

int ec_iter_next(ec_iter *it, ec_event *out)
{
    const uint8_t *rec = NULL;
    size_t len = 0;
    EC_REFUSE_NULL2(it, out);
    if (it->failed)
        return ec_error_set(it->failed, "event %llu: not read: an earlier event is broken",
                            (unsigned long long)it->next);
    int rc = it->chain->be->iter_next(it->bi, &rec, &len);
    if (it->h && rc != EC_ITEROVER && (rc = iter_check(it, rc, rec, len)) != 0)
        return rc;
    if (rc)
        return rc;
    if ((rc = ec_record_decode(out, rec, len))) {
        const ec_error *e = ec_error_last();
        return ec_error_set(rc, "event %llu: %s", (unsigned long long)it->next, e->message);
    }
    it->next++;
    return 0;
}

void ec_iter_free(ec_iter *it)
{
    if (!it)
        return;
    it->chain->be->iter_free(it->bi);
    ec_hasher_free(it->h);
    free(it);
}

/* Accessors for verify.c. */
ec_backend *ec_chain_be_(ec_chain *c, unsigned *threads)
{
    *threads = c->verify_threads;
    return c->be;
}
