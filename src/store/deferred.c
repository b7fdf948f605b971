/* store/deferred.c: a backend wrapper whose appends can return at commit, before they are
 * durable, so that a caller (the actor runtime serving HTTP) waits for durability later and
 * once for many events: docs/HTTP.md "Durable before sent". */
#include <stdatomic.h>
#include <stdlib.h>

#include "core/internal.h"
#include "store/disk_internal.h"
#include <evchain/store.h>

/* What must stay true: every call except wait_durable goes straight to the inner backend, so
 * the records stored are exactly the inner backend's; while deferring is off, wait_durable is
 * the inner one too, so the wrapper changes nothing. `defer` is read by the appending thread
 * only, but set by the same thread that appends (the runtime's lock holder): atomic anyway,
 * since ec_backend_deferred_wait runs on another thread and reads nothing else. */
typedef struct deferred {
    ec_backend base;
    ec_backend *in;
    atomic_int defer;
} deferred;

#define IN(b) (((deferred *)(b))->in)

static int df_get_alg(ec_backend *b, ec_hash_alg *o)
{
    return IN(b)->get_alg(IN(b), o);
}
static int df_set_alg(ec_backend *b, ec_hash_alg a)
{
    return IN(b)->set_alg(IN(b), a);
}
static int df_count(ec_backend *b, uint64_t *o)
{
    return IN(b)->count(IN(b), o);
}
static int df_reserve(ec_backend *b, size_t len, uint8_t **o)
{
    return IN(b)->reserve(IN(b), len, o);
}
static int df_commit(ec_backend *b, uint64_t seq, size_t off)
{
    return IN(b)->commit(IN(b), seq, off);
}
static int df_get(ec_backend *b, uint64_t seq, const uint8_t **r, size_t *l)
{
    return IN(b)->get(IN(b), seq, r, l);
}
static int df_find(ec_backend *b, const uint8_t *h, size_t hl, uint64_t *o)
{
    return IN(b)->find_hash(IN(b), h, hl, o);
}
static int df_iter_new(ec_backend *b, uint64_t from, ec_backend_iter **o)
{
    return IN(b)->iter_new(IN(b), from, o);
}
static int df_wait(ec_backend *b, uint64_t seq)
{
    deferred *d = (deferred *)b;
    if (atomic_load(&d->defer) || !d->in->wait_durable)
        return 0; /* the caller waits later, with ec_backend_deferred_wait */
    return d->in->wait_durable(d->in, seq);
}
static int df_sync(ec_backend *b)
{
    return IN(b)->sync ? IN(b)->sync(IN(b)) : 0;
}
static void df_free(ec_backend *b)
{
    IN(b)->free(IN(b));
    free(b);
}

int ec_backend_deferred(ec_backend **out, ec_backend *inner)
{
    if (!out || !inner)
        return ec_error_set(EC_EINVAL, "ec_backend_deferred: out and inner are required");
    deferred *d = calloc(1, sizeof *d);
    if (!d)
        return ec_error_set(EC_ENOMEM, "ec_backend_deferred: out of memory");
    d->in = inner;
    atomic_init(&d->defer, 0);
    d->base = (ec_backend){EC_BACKEND_VERSION,
                           df_get_alg,
                           df_set_alg,
                           df_count,
                           df_reserve,
                           df_commit,
                           df_get,
                           inner->find_hash ? df_find : NULL,
                           df_iter_new,
                           inner->iter_next,
                           inner->iter_free,
                           df_wait,
                           df_sync,
                           df_free};
    *out = &d->base;
    return 0;
}

static int is_deferred(ec_backend *b)
{
    return b && b->wait_durable == df_wait;
}

int ec_backend_deferred_set(ec_backend *b, int on)
{
    if (!is_deferred(b))
        return ec_error_set(EC_EINVAL, "ec_backend_deferred_set: not a deferred backend");
    return atomic_exchange(&((deferred *)b)->defer, on ? 1 : 0);
}

ec_backend *ec_backend_deferred_inner_(ec_backend *b)
{
    return is_deferred(b) ? IN(b) : NULL;
}

int ec_backend_deferred_wait(ec_backend *b, uint64_t seq)
{
    if (!is_deferred(b))
        return b && b->wait_durable ? b->wait_durable(b, seq) : 0;
    ec_backend *in = IN(b);
    return in->wait_durable ? in->wait_durable(in, seq) : 0;
}
