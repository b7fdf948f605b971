/* actor/http_actor.c: HTTP wired into the actor runtime (docs/ABI.md section 8): one
 * ec_http_server per serving actor whose handler records http/request, runs the actor's
 * ec_handle_http through the executor and lets the reply go once recorded (and durable);
 * and the work behind the http_request / http_respond imports (host.c calls them). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evchain/http.h>
#include "core/internal.h"
#include "actor/actor_int.h"

/* Per serving actor. `reply` is set only while its ec_handle_http runs (under the runtime
 * lock). Whether http_respond is allowed is the actor's in_http/http_responded, kept by the
 * executor, so that a replay (no server, no reply) refuses exactly as the live run did. */
typedef struct ec_actor_http {
    ec_actor *a;
    ec_http_server *srv;
    ec_http_reply *reply;
    uint64_t synced; /* sync_effects: records below this were synced (the releaser's own) */
} ec_actor_http;

struct ec_http_rt {
    char **allow;
    size_t nallow;
    /* Lists replaced by ec_runtime_http_allow, kept until the runtime is freed: a request
     * in flight (which runs without the runtime lock) may still be reading one. */
    char ***retired;
    size_t nretired;
    ec_http_client_options copts;
    ec_actor_http **served;
    size_t nserved;
};

int ec_http_rt_new(ec_runtime *rt)
{
    struct ec_http_rt *h = calloc(1, sizeof *h);
    if (!h)
        return ec_error_set(EC_ENOMEM, "ec_runtime_new: out of memory");
    ec_http_client_options co = EC_HTTP_CLIENT_OPTIONS_INIT;
    h->copts = co;
    rt->http = h;
    return 0;
}

static void free_list(char **l)
{
    for (size_t k = 0; l && l[k]; k++)
        free(l[k]);
    free(l);
}

void ec_runtime_stop_http(ec_runtime *rt)
{
    struct ec_http_rt *h = rt ? rt->http : NULL;
    if (!h)
        return;
    /* Not under the lock: stopping waits for a running handler, which takes it. */
    for (size_t k = 0; k < h->nserved; k++) {
        ec_http_server_stop(h->served[k]->srv);
        ec_runtime_lock(rt);
        h->served[k]->a->http = NULL;
        ec_runtime_unlock(rt);
        free(h->served[k]);
    }
    ec_runtime_lock(rt);
    free(h->served);
    h->served = NULL;
    h->nserved = 0;
    ec_runtime_unlock(rt);
}

void ec_http_rt_free(ec_runtime *rt)
{
    struct ec_http_rt *h = rt->http;
    if (!h)
        return;
    ec_runtime_stop_http(rt);
    free_list(h->allow);
    for (size_t k = 0; k < h->nretired; k++)
        free_list(h->retired[k]);
    free(h->retired);
    free(h);
    rt->http = NULL;
}

int ec_runtime_http_allow(ec_runtime *rt, const char *const *hosts, size_t n, unsigned timeout_ms)
{
    if (!rt || (n && !hosts))
        return ec_error_set(EC_EINVAL, "ec_runtime_http_allow: rt and hosts are required");
    struct ec_http_rt *h = rt->http;
    char **copy = calloc(n + 1, sizeof *copy); /* NULL-terminated */
    if (!copy)
        return ec_error_set(EC_ENOMEM, "ec_runtime_http_allow: out of memory");
    for (size_t k = 0; k < n; k++) {
        /* A malformed entry could never match: refused, not kept as a silent deny. */
        if (ec_http_allow_check(hosts[k])) {
            free_list(copy);
            return ec_error_set(EC_EINVAL, "ec_runtime_http_allow: host %zu: %s", k,
                                ec_error_last()->message);
        }
        if (!(copy[k] = strdup(hosts[k]))) {
            free_list(copy);
            return ec_error_set(EC_ENOMEM, "ec_runtime_http_allow: out of memory");
        }
    }
    ec_runtime_lock(rt);
    if (h->allow) {
        char ***r = realloc(h->retired, (h->nretired + 1) * sizeof *r);
        if (!r) {
            ec_runtime_unlock(rt);
            free_list(copy);
            return ec_error_set(EC_ENOMEM, "ec_runtime_http_allow: out of memory");
        }
        h->retired = r;
        h->retired[h->nretired++] = h->allow;
    }
    h->allow = copy;
    h->nallow = n;
    h->copts.allow = (const char *const *)h->allow;
    h->copts.allow_count = n;
    h->copts.timeout_ms = timeout_ms;
    ec_runtime_unlock(rt);
    return 0;
}

/* ---- serving ---- */

/* Append an HTTP payload (FORMAT.md section 7 bytes, recorded as they are). */
static int record_msg(ec_actor *a, const char *type, const ec_http_msg *m, uint8_t *hash_out)
{
    uint8_t *enc = NULL;
    size_t n = 0;
    int rc = ec_http_encode_alloc(m, &enc, &n);
    if (rc)
        return rc;
    cbuf b;
    cb_init(&b, enc, n);
    b.len = n;
    rc = ec_actor_record(a, type, &b, hash_out);
    free(enc);
    return rc;
}

/* Appends made on a server thread return at commit; the reply waits for durability on the
 * releaser thread instead (held), so one sync covers several requests. Returns the previous
 * setting, or -1 when the chain is not deferrable (memory: nothing to wait for). */
static int defer_begin(ec_actor *a)
{
    ec_backend *be = ec_chain_backend(a->chain);
    if (!be || be->wait_durable == NULL || a->wait_each)
        return -1;
    int prev = ec_backend_deferred_set(be, 1);
    if (prev < 0) {
        ec_error_clear();
        return -1;
    }
    a->deferring = 1; /* effects the handler makes wait for themselves (ec_actor_sync) */
    return prev;
}

static void defer_end(ec_actor *a, int prev)
{
    if (prev >= 0) {
        ec_backend_deferred_set(ec_chain_backend(a->chain), prev);
        a->deferring = prev;
    }
}

static int on_http(void *ctx, const ec_http_msg *req, ec_http_reply *reply)
{
    ec_actor_http *h = ctx;
    ec_actor *a = h->a;
    ec_runtime *rt = a->rt;
    ec_runtime_lock(rt);
    /* Owned from the request's record to the reply's: one unbroken stretch of its chain,
     * whatever other threads call into it (they wait). */
    int rc = ec_actor_acquire(a);
    if (rc) {
        ec_runtime_unlock(rt);
        return rc;
    }
    if (a->state != EC_ACTOR_RUNNING || !a->inst) {
        /* Answered 500 by the server and recorded by on_refused with this reason. */
        rc = ec_error_set(EC_EINVAL, "actor %s is %s", a->id, ec_actor_state_name(a->state));
        ec_actor_release(a);
        ec_runtime_unlock(rt);
        return rc;
    }
    if (atomic_load_explicit(&rt->interrupted, memory_order_relaxed)) {
        /* Stopping: the call would be refused. Answered 500 and recorded as a refusal. */
        rc = ec_error_set(EC_EDENIED, "actor %s: the runtime is stopping (interrupted)", a->id);
        ec_actor_release(a);
        ec_runtime_unlock(rt);
        return rc;
    }
    /* The deadline may have passed while this waited for the actor (busy on another thread):
     * the client then had a 504 for a request not handled, recorded by on_late as a lone
     * http/refused, and nothing of the request is recorded or run now. Otherwise a 504 at the
     * deadline is recorded by on_late only after this returned, and it takes the runtime
     * lock, held from here until event 1 is appended: the refusal follows its request. */
    if ((rc = ec_http_reply_begin(reply)) != 0) {
        ec_actor_release(a);
        ec_runtime_unlock(rt);
        return rc;
    }
    int prev = defer_begin(a);
    uint8_t *enc = NULL;
    size_t n = 0;
    uint8_t hash[EC_HASH_MAX];
    size_t hl = ec_hash_len(ec_chain_alg(a->chain));
    rc = ec_http_encode_alloc(req, &enc, &n);
    if (rc == 0) {
        cbuf b;
        cb_init(&b, enc, n);
        b.len = n;
        rc = ec_actor_record(a, EC_HTTP_EV_REQUEST, &b, hash);
    }
    int32_t ret = 0;
    if (rc == 0) {
        /* The actor gets the recorded payload itself; its wasm/call links the record. */
        h->reply = reply;
        rc = ec_exec_call(a, FN_HTTP, enc, n, 0, "@http", hash, hl, &ret);
        h->reply = NULL;
    }
    free(enc);
    if (rc == 0 && !a->http_responded)
        rc = ec_error_set(EC_EINVAL, "actor %s: ec_handle_http returned %d without http_respond",
                          a->id, ret);
    if (rc == 0 && prev >= 0)
        ec_http_reply_hold(reply, ec_chain_count(a->chain) - 1);
    defer_end(a, prev);
    ec_actor_release(a);
    ec_runtime_unlock(rt);
    return rc;
}

static int on_refusal(void *ctx, const ec_http_msg *refusal, uint64_t *hold)
{
    ec_actor_http *h = ctx;
    ec_actor *a = h->a;
    ec_runtime_lock(a->rt);
    /* Not inside another thread's call: the refusal goes between two of them. This thread
     * owns nothing else, so the wait cannot close a cycle. */
    if (ec_actor_acquire(a) != 0) {
        ec_runtime_unlock(a->rt);
        return 0;
    }
    /* A refusal not sent yet (hold: 400, 413, a trap's 500) must not leave before its record
     * is durable, any more than a reply may (HTTP.md section 1). It is held like a reply: the
     * append returns at commit and the releaser's wait (or, under effects, its sync) covers
     * it with the replies around it. Where appends are not deferred (always: each has its own
     * sync; memory) the append itself waited. One already sent is recorded at commit: a wait
     * would protect nothing. */
    int prev = defer_begin(a);
    int rc = record_msg(a, EC_HTTP_EV_REFUSED, refusal, NULL);
    int held = rc == 0 && hold && prev >= 0;
    if (held)
        *hold = ec_chain_count(a->chain) - 1;
    defer_end(a, prev);
    if (rc == 0 && hold && !held)
        rc = ec_actor_sync(a);
    if (rc != 0) {
        /* Nothing to undo: the answer goes out regardless; say the record failed. */
        const ec_error *e = ec_error_last();
        fprintf(stderr, "evchain: actor %s: recording an HTTP refusal (%u): %s\n", a->id,
                refusal->status, e ? e->message : "failed");
    }
    ec_actor_release(a);
    ec_runtime_unlock(a->rt);
    return held;
}

/* An answer the server gives off its worker (the 504 of a call still running or of a request
 * whose call had not begun, the answers of requests queued behind it, a held reply's 504, a
 * failed release's 500, a stopping server's 503s), on the server's late thread, before it is
 * sent (HTTP.md section 1). The worker (or another thread) may own the actor and its call may
 * be appending right now: this does not wait for the actor (the call may run for as long as
 * its fuel lasts) but appends under the runtime lock alone, which every append of the call is
 * made under too, so the refusal lands between two of its events (ABI.md section 8: a replay
 * copies it there). on_http holds that lock from ec_http_reply_begin to its http/request, so
 * a refusal of a request that began follows the request. Then, without the lock, it waits
 * until the record is durable, as a held reply does. */
static void on_late(void *ctx, const ec_http_msg *refusal)
{
    ec_actor_http *h = ctx;
    ec_actor *a = h->a;
    ec_runtime_lock(a->rt);
    ec_backend *be = ec_chain_backend(a->chain);
    /* Deferred where the owner's own appends may wait unlocked (batch, and always through the
     * disk's batch writer): the append returns at commit and the wait runs below. Otherwise
     * (none, effects, memory) the append is all there is to wait for, or the sync below. */
    int prev = a->unlocked_wait ? ec_backend_deferred_set(be, 1) : -1;
    if (prev < 0)
        ec_error_clear();
    uint64_t seq = 0;
    int rc = record_msg(a, EC_HTTP_EV_REFUSED, refusal, NULL);
    if (rc == 0)
        seq = ec_chain_count(a->chain) - 1; /* the lock is still held: this append's seq */
    if (prev >= 0)
        ec_backend_deferred_set(be, prev);
    ec_runtime_unlock(a->rt);
    if (rc == 0 && prev >= 0)
        rc = ec_backend_deferred_wait(be, seq);
    else if (rc == 0 && a->rt->sync_effects && be->sync)
        rc = be->sync(be); /* an effect that leaves the actor (not counted in h->synced, which
                              is the releaser's alone) */
    if (rc != 0) {
        /* Nothing to undo: the answer goes out regardless; say the record failed. */
        const ec_error *e = ec_error_last();
        fprintf(stderr, "evchain: actor %s: recording an HTTP refusal (%u) before it is sent: %s\n",
                a->id, refusal->status, e ? e->message : "failed");
    }
}

static int on_release(void *ctx, uint64_t seq)
{
    ec_actor_http *h = ctx;
    /* No runtime lock: the disk backend's wait (and sync) is meant to run beside appends. A
     * reply is an effect that leaves the actor: under sync_effects (the chain written as
     * `none`, whose wait syncs nothing) the chain is synced before it is sent. */
    ec_backend *be = ec_chain_backend(h->a->chain);
    if (!h->a->rt->sync_effects || !be->sync)
        return ec_backend_deferred_wait(be, seq);
    /* One sync covers every record committed before it: the replies held behind this one
     * go out without another (only the releaser reads or writes h->synced). */
    if (seq < h->synced)
        return 0;
    uint64_t n = 0;
    int rc = be->count(be, &n);
    if (rc == 0 && (rc = be->sync(be)) == 0)
        h->synced = n;
    return rc;
}

int ec_actor_serve_http(ec_actor *a, const ec_actor_http_options *opts, unsigned *port_out)
{
    ec_actor_http_options def = EC_ACTOR_HTTP_OPTIONS_INIT;
    if (!a)
        return ec_error_set(EC_EINVAL, "ec_actor_serve_http: actor is NULL");
    if (!opts)
        opts = &def;
    if (opts->version != EC_ACTOR_HTTP_OPTIONS_VERSION)
        return ec_error_set(EC_EUNSUPPORTED, "ec_actor_serve_http: options version %u unknown",
                            opts->version);
    if (!a->mod || !a->mod->ex_http)
        return ec_error_set(EC_EINVAL, "actor %s: serving HTTP needs an ec_handle_http export",
                            a->id);
    if (a->http)
        return ec_error_set(EC_EEXISTS, "actor %s: already serves HTTP", a->id);
    struct ec_http_rt *rh = a->rt->http;
    ec_actor_http *h = calloc(1, sizeof *h);
    ec_actor_http **grown = realloc(rh->served, (rh->nserved + 1) * sizeof *grown);
    if (!h || !grown) {
        free(h);
        if (grown)
            rh->served = grown;
        return ec_error_set(EC_ENOMEM, "actor %s: out of memory", a->id);
    }
    rh->served = grown;
    h->a = a;
    ec_http_server_options so = EC_HTTP_SERVER_OPTIONS_INIT;
    so.bind_address = opts->bind_address;
    so.port = opts->port;
    so.body_limit = opts->body_limit;
    so.timeout_ms = opts->timeout_ms;
    so.max_connections = opts->max_connections;
    so.on_refusal = on_refusal;
    so.on_late = on_late;
    so.handler_begins = 1;
    so.release = on_release;
    int rc = ec_http_server_start(&h->srv, &so, on_http, h);
    if (rc) {
        free(h);
        const ec_error *e = ec_error_last();
        return ec_error_set(rc, "actor %s: %s", a->id, e ? e->message : "HTTP server failed");
    }
    ec_runtime_lock(a->rt);
    a->http = h;
    rh->served[rh->nserved++] = h;
    ec_runtime_unlock(a->rt);
    if (port_out)
        *port_out = ec_http_server_port(h->srv);
    return 0;
}

/* ---- the imports ---- */

/* Copy a decoded response into a reply (each setter validates: a reply is always sendable). */
static int apply(ec_http_reply *r, const ec_http_msg *m)
{
    int rc = ec_http_reply_status(r, m->status);
    char name[EC_HTTP_NAME_MAX + 1];
    char *value = malloc(EC_HTTP_VALUE_MAX + 1);
    if (!value)
        return ec_error_set(EC_ENOMEM, "http_respond: out of memory");
    for (size_t k = 0; rc == 0 && k < m->header_count; k++) {
        memcpy(name, m->headers[k].name, m->headers[k].name_len);
        name[m->headers[k].name_len] = 0;
        memcpy(value, m->headers[k].value, m->headers[k].value_len);
        value[m->headers[k].value_len] = 0;
        rc = ec_http_reply_header(r, name, value);
    }
    free(value);
    if (rc == 0)
        rc = ec_http_reply_body(r, m->body, m->body_len);
    return rc;
}

int ec_http_request_check(ec_actor *a, const uint8_t *p, size_t n)
{
    (void)a;
    ec_http_msg m;
    int bad = ec_http_decode(&m, p, n) != 0;
    if (!bad) {
        bad = m.kind != EC_HTTP_CLIENT_REQUEST;
        ec_http_msg_clear(&m);
    }
    if (bad)
        ec_error_clear();
    return bad ? ABI_EINVAL : 0;
}

void ec_http_request_effect(ec_actor *a, const uint8_t *p, size_t n, ec_host_out *o)
{
    ec_http_msg m;
    ec_http_outcome out;
    int rc = ec_http_decode(&m, p, n); /* checked before: cannot fail */
    if (rc == 0) {
        /* The exchange runs without the runtime lock: other actors run meanwhile, among them
         * a service this actor requests in the same process. What it reads is its own: the
         * options copied, the allow-list kept alive (retired, never freed, when replaced). */
        ec_http_client_options co = a->rt->http->copts;
        unsigned held = ec_rt_lock_drop(a->rt);
        rc = ec_http_request(&out, &m, &co);
        ec_rt_lock_restore(a->rt, held);
        ec_http_msg_clear(&m);
    }
    if (rc) {
        const ec_error *e = ec_error_last();
        o->ret = ABI_EIO;
        snprintf(o->error, sizeof o->error, "%s", e ? e->message : "request failed");
        return;
    }
    /* The outcome's payload goes to the actor as it is (and into the .result event). */
    ec_http_msg_clear(&out.msg);
    o->out = out.data;
    o->out_len = out.len;
    o->ret = (int64_t)out.len;
}

/* Claims the one answer when it returns 0 (live and in a replay alike, where the effect does
 * not run): a second http_respond is then ESTATE. */
int ec_http_respond_check(ec_actor *a, const uint8_t *p, size_t n)
{
    if (!a->in_http || a->http_responded)
        return ABI_ESTATE;
    ec_http_msg m;
    if (ec_http_decode(&m, p, n) != 0) {
        ec_error_clear();
        return ABI_EINVAL;
    }
    int bad = m.kind != EC_HTTP_RESPONSE;
    ec_http_reply *scratch = NULL;
    if (!bad && ec_http_reply_new(&scratch) == 0)
        bad = apply(scratch, &m) != 0;
    ec_http_reply_free(scratch);
    ec_http_msg_clear(&m);
    if (bad)
        ec_error_clear();
    else
        a->http_responded = 1;
    return bad ? ABI_EINVAL : 0;
}

void ec_http_respond_effect(ec_actor *a, const uint8_t *p, size_t n, ec_host_out *o)
{
    ec_http_msg m;
    if (!a->http || !a->http->reply) {
        /* ec_handle_http called without a server (a caller of the executor other than
         * on_http): the answer has nowhere to go but the chain. */
        o->ret = 0;
        return;
    }
    int rc = ec_http_decode(&m, p, n);
    if (rc == 0) {
        rc = apply(a->http->reply, &m);
        ec_http_msg_clear(&m);
    }
    if (rc) {
        const ec_error *e = ec_error_last();
        o->ret = ABI_EIO;
        snprintf(o->error, sizeof o->error, "%s", e ? e->message : "respond failed");
        return;
    }
    o->ret = 0;
}
