/* core/verify.c: full or ranged verification of a chain, split across threads. Each thread
 * checks a contiguous slice with its own hasher and iterator; the first failure of the
 * lowest failing slice is the chain's first failure, so the answer does not depend on the
 * number of threads. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/internal.h"

const char *ec_verify_status_name(ec_verify_status s)
{
    switch (s) {
    case EC_VERIFY_OK:
        return "ok";
    case EC_VERIFY_HASH_MISMATCH:
        return "hash mismatch";
    case EC_VERIFY_PARENT_MISMATCH:
        return "parent link broken";
    case EC_VERIFY_SEQ:
        return "seq gap or repeat";
    case EC_VERIFY_ALGORITHM:
        return "algorithm mismatch";
    case EC_VERIFY_UNREADABLE:
        return "unreadable record";
    }
    return "unknown";
}

struct slice {
    ec_backend *be;
    ec_hash_alg alg;
    uint64_t from, to;
    int rc;           /* 0, EC_EVERIFY/EC_EFORMAT (res filled), or another error */
    char errmsg[512]; /* message of a non-verification error */
    ec_verify_result res;
    _Atomic uint64_t *done;
    _Atomic int *lowest_failed; /* index of the lowest slice that failed so far */
    int index;
    const ec_verify_options *opts;
    uint64_t total;
};

#define PROGRESS_EVERY 65536

static void *run_slice(void *arg)
{
    struct slice *s = arg;
    ec_hasher *h = NULL;
    ec_backend_iter *it = NULL;
    uint8_t prev[EC_HASH_MAX];
    size_t hl = ec_hash_len(s->alg);
    const uint8_t *rec;
    size_t len;
    int have_prev = 0, rc;
    uint64_t local = 0;

    memset(&s->res, 0, sizeof s->res);
    if ((rc = ec_hasher_new(&h, s->alg)))
        goto out;
    /* Start one record early so the first record's parent link is checked too. */
    uint64_t start = s->from > 0 ? s->from - 1 : 0;
    if ((rc = s->be->iter_new(s->be, start, &it)))
        goto out;
    if (s->from > 0) {
        rc = s->be->iter_next(it, &rec, &len);
        if (rc == 0 && len >= hl) {
            memcpy(prev, rec + len - hl, hl);
            have_prev = 1;
        } else if (rc == 0 || rc == EC_ITEROVER) {
            /* The previous record is unreadable: its own slice reports it. */
            rc = 0;
        } else {
            goto out;
        }
    }
    for (uint64_t seq = s->from; seq < s->to; seq++) {
        rc = s->be->iter_next(it, &rec, &len);
        if (rc == EC_ITEROVER) {
            rc = ec_verify_fail(&s->res, EC_VERIFY_UNREADABLE, seq,
                                "unreadable record: chain ends early");
            goto out;
        }
        if (rc == EC_EFORMAT) { /* a damaged record (bad checksum, bad frame): a finding */
            rc = ec_verify_unreadable(&s->res, seq);
            goto out;
        }
        if (rc) /* I/O error, out of memory: verification could not run; keep the code */
            goto out;
        /* seq 0 has no parent; a slice whose predecessor was unreadable skips the link. */
        if ((rc = ec_check_one(h, s->alg, rec, len, seq, have_prev ? prev : NULL, &s->res)))
            goto out;
        memcpy(prev, rec + len - hl, hl);
        have_prev = 1;
        s->res.checked++;
        if (++local == PROGRESS_EVERY) {
            atomic_fetch_add(s->done, local);
            local = 0;
            /* A lower slice failed: nothing here can be the first failure any more. */
            int lf = atomic_load(s->lowest_failed);
            if (lf >= 0 && lf < s->index)
                break;
            if (s->index == 0 && s->opts->progress)
                s->opts->progress(atomic_load(s->done), s->total, s->opts->progress_ctx);
        }
    }
    rc = 0;
out:
    atomic_fetch_add(s->done, local);
    if (rc) {
        const ec_error *e = ec_error_last();
        snprintf(s->errmsg, sizeof s->errmsg, "%s", e ? e->message : "verification failed");
        int lf = atomic_load(s->lowest_failed);
        while ((lf < 0 || lf > s->index) &&
               !atomic_compare_exchange_weak(s->lowest_failed, &lf, s->index))
            ;
    }
    s->rc = rc;
    if (it)
        s->be->iter_free(it);
    ec_hasher_free(h);
    return NULL;
}

int ec_chain_verify(ec_chain *c, const ec_verify_options *opts, ec_verify_result *out)
{
    ec_verify_options defaults = EC_VERIFY_OPTIONS_INIT;
    ec_verify_result scratch;
    unsigned threads;
    if (!opts)
        opts = &defaults;
    if (!out)
        out = &scratch;
    memset(out, 0, sizeof *out);
    EC_REFUSE_NULL(c);
    ec_backend *be = ec_chain_be_(c, &threads);
    if (opts->version != EC_VERIFY_OPTIONS_VERSION)
        return ec_error_set(EC_EINVAL, "verify: options of another version");
    uint64_t n;
    int rc = be->count(be, &n);
    if (rc)
        return rc;
    uint64_t from = opts->from, to = opts->to ? opts->to : n;
    if (to > n || from > to)
        return ec_error_set(EC_EINVAL, "verify: range %llu..%llu outside the chain (%llu events)",
                            (unsigned long long)from, (unsigned long long)to,
                            (unsigned long long)n);
    if (opts->threads)
        threads = opts->threads;
    uint64_t total = to - from;
    /* Small ranges are not worth a thread. */
    if (total < 4096)
        threads = 1;
    if (threads > 64)
        threads = 64;
    struct slice *sl = calloc(threads, sizeof *sl);
    pthread_t *tid = calloc(threads, sizeof *tid);
    if (!sl || !tid) {
        free(sl);
        free(tid);
        return ec_error_set(EC_ENOMEM, "out of memory");
    }
    _Atomic uint64_t done = 0;
    _Atomic int lowest = -1;
    for (unsigned i = 0; i < threads; i++) {
        sl[i] = (struct slice){.be = be,
                               .alg = ec_chain_alg(c),
                               .from = from + total * i / threads,
                               .to = from + total * (i + 1) / threads,
                               .done = &done,
                               .lowest_failed = &lowest,
                               .index = (int)i,
                               .opts = opts,
                               .total = total};
    }
    unsigned started = 1;
    for (unsigned i = 1; i < threads; i++, started++)
        if (pthread_create(&tid[i], NULL, run_slice, &sl[i]) != 0)
            break;
    /* Slices whose thread did not start run here, after slice 0. */
    run_slice(&sl[0]);
    for (unsigned i = started; i < threads; i++)
        run_slice(&sl[i]);
    for (unsigned i = 1; i < started; i++)
        pthread_join(tid[i], NULL);
    if (opts->progress)
        opts->progress(atomic_load(&done), total, opts->progress_ctx);

    /* checked counts events before the first failure, whatever the thread split: every
     * slice below the lowest failing one ran to its end, so the sum up to and including it
     * is exact (and is seq - from for a verification finding). */
    rc = 0;
    uint64_t checked = 0;
    for (unsigned i = 0; i < threads && !rc; i++) {
        checked += sl[i].res.checked;
        if (sl[i].rc) {
            rc = sl[i].rc;
            if (rc == EC_EFORMAT) /* unreadable is a verification finding */
                rc = EC_EVERIFY;
            if (rc == EC_EVERIFY)
                *out = sl[i].res;
            ec_error_set(rc, "%s", sl[i].errmsg);
        }
    }
    if (rc != EC_EVERIFY) { /* intact, or could not run: no finding, where it stopped */
        memset(out, 0, sizeof *out);
        out->status = EC_VERIFY_OK;
        out->seq = rc ? from + checked : 0;
    }
    out->checked = checked;
    free(sl);
    free(tid);
    return rc;
}
