/* actor/runtime.c: the actor runtime: actors and their chains, the one executor through which
 * every call into an actor is recorded (wasm/call before, wasm/result or wasm/trap after),
 * traps contained with wasm_rt_impl_try, and the queue of messages, timers and notices. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "actor/wasm_tls.h" /* before the runtime's headers: its state per thread */
#include <wasm-rt-impl.h>

#include "core/internal.h"
#include "actor/actor_int.h"

/* wasm2c's per-call state, one copy per thread (wasm_tls.h): exported, every module's
 * prologue and epilogue count calls in ec_wasm_depth_tls. */
__thread uint32_t ec_wasm_depth_tls EC_WASM_TLS;
__thread uint32_t ec_wasm_saved_depth_tls EC_WASM_TLS;
__thread jmp_buf ec_wasm_jmp_buf_tls EC_WASM_TLS;
__thread jmp_buf *ec_wasm_unwind_target_tls EC_WASM_TLS;

int ec_mkdir_p(const char *path);
int ec_host_anchor(void);

static const char *const fn_names[] = {"ec_init",         "ec_handle_message", "ec_handle_request",
                                       "ec_handle_timer", "ec_handle_child",   "ec_handle_http"};

/* Nested executor calls (a request, a spawn's init, inside a call) past this are refused:
 * it bounds the host stack whatever the actors do. */
#define MAX_NESTING 8

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ec_actor_id_valid(const char *id, size_t len)
{
    return id ? ec_valid_id(id, len) : 0;
}

int ec_valid_id(const char *s, size_t n)
{
    if (n == 0 || n > 64 || s[0] == '.')
        return 0;
    for (size_t k = 0; k < n; k++) {
        char c = s[k];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

const char *ec_actor_state_name(ec_actor_state s)
{
    switch (s) {
    case EC_ACTOR_RUNNING:
        return "running";
    case EC_ACTOR_STOPPED:
        return "stopped";
    case EC_ACTOR_TRAPPED:
        return "trapped";
    }
    return "unknown";
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- the runtime lock and actor ownership (actor_int.h) ---- */

static __thread ec_exec_thread exec_self;
static int actor_stop_locked(ec_actor *a, const char *reason, int notify);

void ec_rt_lock(ec_runtime *rt)
{
    ec_rt_lock_t *l = &rt->lock;
    if (atomic_load_explicit(&l->owner, memory_order_relaxed) == &exec_self) {
        l->count++;
        return;
    }
    pthread_mutex_lock(&l->m);
    atomic_store_explicit(&l->owner, &exec_self, memory_order_relaxed);
    l->count = 1;
}

void ec_rt_unlock(ec_runtime *rt)
{
    ec_rt_lock_t *l = &rt->lock;
    if (--l->count == 0) {
        atomic_store_explicit(&l->owner, NULL, memory_order_relaxed);
        pthread_mutex_unlock(&l->m);
    }
}

unsigned ec_rt_lock_drop(ec_runtime *rt)
{
    ec_rt_lock_t *l = &rt->lock;
    if (atomic_load_explicit(&l->owner, memory_order_relaxed) != &exec_self)
        return 0;
    unsigned n = l->count;
    l->count = 1;
    ec_rt_unlock(rt);
    return n;
}

void ec_rt_lock_restore(ec_runtime *rt, unsigned n)
{
    ec_rt_lock_t *l = &rt->lock;
    if (atomic_load_explicit(&l->owner, memory_order_relaxed) != &exec_self) {
        if (n == 0)
            return;
        ec_rt_lock(rt);
    }
    l->count = n ? n : 1;
    if (n == 0)
        ec_rt_unlock(rt);
}

/* Wait for rt->lock.actor_free, holding the lock however many times on return as before. */
static void rt_lock_wait(ec_runtime *rt)
{
    ec_rt_lock_t *l = &rt->lock;
    unsigned n = l->count;
    atomic_store_explicit(&l->owner, NULL, memory_order_relaxed);
    pthread_cond_wait(&l->actor_free, &l->m);
    atomic_store_explicit(&l->owner, &exec_self, memory_order_relaxed);
    l->count = n;
}

void ec_runtime_lock(ec_runtime *rt)
{
    ec_rt_lock(rt);
}

void ec_runtime_unlock(ec_runtime *rt)
{
    ec_rt_unlock(rt);
}

int ec_rt_lock_mine(ec_runtime *rt)
{
    return atomic_load_explicit(&rt->lock.owner, memory_order_relaxed) == &exec_self;
}

int ec_actor_mine(const ec_actor *a)
{
    return a->owner == &exec_self;
}

int ec_actor_acquire(ec_actor *a)
{
    ec_runtime *rt = a->rt;
    ec_rt_lock(rt);
    while (a->owner && a->owner != &exec_self) {
        /* Follow the owners' waits: reaching this thread means each would wait for the
         * next for ever. No cycle exists before (every wait checks), so this ends. */
        for (ec_exec_thread *t = a->owner; t; t = t->waiting_for ? t->waiting_for->owner : NULL) {
            if (t == &exec_self) {
                ec_rt_unlock(rt);
                return ec_error_set(EC_EDENIED,
                                    "actor %s: busy on another thread that waits for this one "
                                    "(a cycle of calls)",
                                    a->id);
            }
        }
        exec_self.waiting_for = a;
        rt_lock_wait(rt);
        exec_self.waiting_for = NULL;
    }
    a->owner = &exec_self;
    a->owned++;
    ec_rt_unlock(rt);
    return 0;
}

void ec_actor_release(ec_actor *a)
{
    ec_runtime *rt = a->rt;
    ec_rt_lock(rt);
    /* A stop asked for by another thread while this one owned the actor, and not made by
     * the executor (its call failed, or there was no call): made now, before letting go. */
    if (a->owned == 1 && a->stop_requested && !a->on_stack && a->state == EC_ACTOR_RUNNING &&
        actor_stop_locked(a, a->stop_reason ? a->stop_reason : "shutdown", a->stop_notify) &&
        !rt->quiet)
        fprintf(stderr, "evchain: stopping actor %s: %s\n", a->id,
                ec_error_last() ? ec_error_last()->message : "failed");
    if (--a->owned == 0) {
        a->owner = NULL;
        pthread_cond_broadcast(&rt->lock.actor_free);
    }
    ec_rt_unlock(rt);
}

int ec_runtime_new(ec_runtime **out, const ec_runtime_options *opts)
{
    ec_runtime_options def = EC_RUNTIME_OPTIONS_INIT;
    if (!out)
        return ec_error_set(EC_EINVAL, "ec_runtime_new: out is NULL");
    *out = NULL;
    if (!opts)
        opts = &def;
    if (opts->version != EC_RUNTIME_OPTIONS_VERSION)
        return ec_error_set(EC_EUNSUPPORTED, "ec_runtime_new: options version %u unknown",
                            opts->version);
    ec_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return ec_error_set(EC_ENOMEM, "ec_runtime_new: out of memory");
    pthread_mutex_init(&rt->lock.m, NULL);
    pthread_cond_init(&rt->lock.actor_free, NULL);
    const char *data = opts->data_dir ? opts->data_dir : "./evchain-data";
    char buf[4200];
    rt->data_dir = xstrdup(data);
    if (opts->cache_dir)
        rt->cache_dir = xstrdup(opts->cache_dir);
    else {
        snprintf(buf, sizeof buf, "%s/cache", data);
        rt->cache_dir = xstrdup(buf);
    }
    snprintf(buf, sizeof buf, "%s/store", data);
    rt->store_dir = xstrdup(buf);
    rt->chain_store = opts->chain_store;
    rt->durability = opts->durability;
    rt->alg = opts->alg ? opts->alg : EC_HASH_SHA256;
    rt->fuel = opts->fuel ? opts->fuel : 1000000000u;
    rt->memory_pages = opts->memory_pages ? opts->memory_pages : 256;
    rt->max_message = opts->max_message ? opts->max_message : (1u << 20);
    rt->quiet = opts->quiet;
    rt->sync_effects = opts->sync_effects;
    rt->max_queue = opts->max_queue ? opts->max_queue : 65536;
    rt->max_actors = opts->max_actors ? opts->max_actors : 1024;
    rt->max_queued_bytes = opts->max_queued_bytes ? opts->max_queued_bytes : (256u << 20);
    /* In pages, rounded down (a cap under one page admits no actor). */
    rt->max_memory_pages = (opts->max_memory_bytes ? opts->max_memory_bytes : (4ull << 30)) >> 16;
    rt->write_budget = opts->write_budget ? opts->write_budget : (256u << 20);
    rt->signer = opts->checkpoint_signer;
    rt->cp_every_events = opts->checkpoint_every_events ? opts->checkpoint_every_events : 100000;
    rt->cp_every_ns = opts->checkpoint_every_ns ? opts->checkpoint_every_ns : 10000000000ull;
    rt->cp_keep = ec_checkpoint_keep_of(opts->checkpoint_keep);
    rt->backend_new = opts->backend_new;
    rt->backend_ctx = opts->backend_ctx;
    ec_memory_options mo = EC_MEMORY_OPTIONS_INIT;
    mo.expected_events = opts->memory_expected_events;
    mo.expected_bytes = opts->memory_expected_bytes;
    rt->mem_hint = mo;
    if (!rt->data_dir || !rt->cache_dir || !rt->store_dir || ec_http_rt_new(rt)) {
        ec_runtime_free(rt);
        return ec_error_set(EC_ENOMEM, "ec_runtime_new: out of memory");
    }
    if (strlen(data) > 3000) {
        ec_runtime_free(rt);
        return ec_error_set(EC_EINVAL, "ec_runtime_new: data directory path too long");
    }
    if (rt->memory_pages > EC_MEMORY_PAGES_MAX) {
        uint32_t pages = rt->memory_pages;
        ec_runtime_free(rt);
        return ec_error_set(EC_EINVAL,
                            "ec_runtime_new: memory_pages %u over %u (a memory of 65536 pages, "
                            "4 GiB, is not supported)",
                            pages, EC_MEMORY_PAGES_MAX);
    }
    int rc = ec_mkdir_p(rt->data_dir);
    if (rc) {
        ec_runtime_free(rt);
        return rc;
    }
    if (!wasm_rt_is_initialized() && ec_host_anchor())
        wasm_rt_init();
    *out = rt;
    return 0;
}

static void work_free(work *w)
{
    free(w->to);
    free(w->from);
    free(w->body);
    free(w);
}

/* message/dropped in a's chain: a message queued for a that a will not be given (docs/ABI.md
 * section 6). A sender was told the message went (msg_send returned 0, recorded in its chain
 * with the hash `link` names), so its end is recorded too: `verify --links` resolves the
 * link like a delivery's. From outside (`@external`, no chain to record it), it is also
 * counted and said on stderr, whatever --quiet: the caller gave it and it did not arrive.
 * Recorded only where a is not in a call on another thread (its owner, or stopped). */
static int record_dropped(ec_actor *a, const work *w, const char *reason)
{
    uint8_t small[320];
    cbuf b;
    cb_init(&b, small, sizeof small);
    cb_map(&b, 4); /* keys in deterministic order: shorter first, then bytewise */
    cb_str(&b, "len");
    cb_uint(&b, w->body_len);
    cb_str(&b, "from");
    cb_str(&b, w->from ? w->from : "@external");
    cb_str(&b, "link");
    if (w->link_len)
        cb_bytes(&b, w->link, w->link_len);
    else
        cb_null(&b);
    cb_str(&b, "reason");
    cb_str(&b, reason);
    int rc = ec_actor_record(a, "message/dropped", &b, NULL);
    cb_free(&b);
    if (w->from && strcmp(w->from, "@external") == 0) {
        a->rt->dropped_external++;
        fprintf(stderr, "evchain: a message to %s (%zu bytes) was not delivered: %s\n", a->id,
                w->body_len, reason);
    }
    return rc;
}

/* Move the messages for id out of the list (*tail: its new last item), in their order, to
 * the end of the list whose end *mine_tail points to; they are no longer queued. */
static void take_messages(ec_runtime *rt, work **list, work **tail, const char *id,
                          work ***mine_tail)
{
    work **pp = list, *last = NULL;
    while (*pp) {
        work *w = *pp;
        if (w->kind != WORK_MESSAGE || strcmp(w->to, id) != 0) {
            last = w;
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        rt->queued--;
        rt->queued_bytes -= w->body_len;
        w->next = NULL;
        **mine_tail = w;
        *mine_tail = &w->next;
    }
    *tail = last;
}

/* Drop the messages queued for a, each recorded in its chain before anything else is (the
 * actor stops or trapped: nothing will take them), those set aside for it while it ran on
 * another thread (rt->held) first: they were queued before the rest. A replay has no queue
 * of its own: it copies the message/dropped events from the chain (replay.c). Under the
 * runtime lock. */
static int drop_queued(ec_actor *a, const char *reason)
{
    ec_runtime *rt = a->rt;
    if (rt->replay)
        return 0;
    /* Taken out of the queue first, then recorded: a record may give up the runtime lock
     * while it waits for durability, and another thread may then queue or deliver work. */
    work *mine = NULL, **mine_tail = &mine;
    take_messages(rt, &rt->held, &rt->held_tail, a->id, &mine_tail);
    take_messages(rt, &rt->queue, &rt->queue_tail, a->id, &mine_tail);
    int rc = 0;
    for (work *w = mine, *n; w; w = n) {
        n = w->next;
        int r = record_dropped(a, w, reason);
        if (rc == 0)
            rc = r;
        work_free(w);
    }
    return rc;
}

static void actor_discard_instance(ec_actor *a)
{
    if (a->inst) {
        a->mod->free_inst(a->inst);
        free(a->inst);
        a->inst = NULL;
        a->mem = NULL;
    }
}

int ec_ptimer_add(ec_actor *a, uint64_t seq, const uint8_t *h, size_t hl)
{
    if (a->nptimers == a->ptimers_cap) {
        size_t cap = a->ptimers_cap ? a->ptimers_cap * 2 : 8;
        struct ec_ptimer *p = realloc(a->ptimers, cap * sizeof *p);
        if (!p)
            return ec_error_set(EC_ENOMEM, "actor %s: out of memory for its timers", a->id);
        a->ptimers = p;
        a->ptimers_cap = cap;
    }
    /* Set in chain order: the array stays sorted by seq, which a snapshot relies on. */
    struct ec_ptimer *t = &a->ptimers[a->nptimers++];
    memset(t, 0, sizeof *t);
    t->seq = seq;
    t->hl = (uint8_t)(hl < EC_HASH_MAX ? hl : EC_HASH_MAX);
    memcpy(t->hash, h, t->hl);
    return 0;
}

void ec_ptimer_delivered(ec_actor *a, const uint8_t *link, size_t link_len)
{
    for (size_t k = 0; k < a->nptimers; k++)
        if (a->ptimers[k].hl == link_len && memcmp(a->ptimers[k].hash, link, link_len) == 0) {
            memmove(&a->ptimers[k], &a->ptimers[k + 1], (a->nptimers - k - 1) * sizeof *a->ptimers);
            a->nptimers--;
            return;
        }
}

void ec_ptimer_reset(ec_actor *a)
{
    a->nptimers = 0;
    a->ptimers_unknown = 0;
}

static void actor_free(ec_actor *a)
{
    actor_discard_instance(a);
    free(a->ptimers);
    if (a->mod)
        ec_module_release(a->rt, a->mod);
    if (a->cp) {
        /* The last events get a signed checkpoint too; a failure here has nowhere to go
         * but the log, the chain itself is intact. */
        if (ec_checkpointer_write(a->cp, 0) != 0 && !a->rt->quiet)
            fprintf(stderr, "evchain: actor %s: final checkpoint: %s\n", a->id,
                    ec_error_last() ? ec_error_last()->message : "failed");
        ec_checkpointer_free(a->cp);
    }
    if (!a->rt->replay)
        ec_chain_free(a->chain);
    if (a->fs_fd >= 0)
        close(a->fs_fd);
    free(a->id);
    free(a->dir);
    free(a->fs_root);
    free(a->child_name);
    free(a->args);
    for (size_t k = 0; k < a->env_allow_count; k++)
        free(a->env_allow[k]);
    free(a->env_allow);
    free(a->stop_reason);
    free(a->reply);
    free(a);
}

const atomic_int ec_never_interrupted = 0;

void ec_runtime_interrupt(ec_runtime *rt)
{
    /* Only an atomic store: callable from a signal handler. */
    if (rt)
        atomic_store_explicit(&rt->interrupted, 1, memory_order_relaxed);
}

int ec_runtime_interrupted(const ec_runtime *rt)
{
    return rt && atomic_load_explicit(&rt->interrupted, memory_order_relaxed);
}

int ec_runtime_shutdown(ec_runtime *rt)
{
    if (!rt)
        return ec_error_set(EC_EINVAL, "ec_runtime_shutdown: NULL runtime");
    ec_runtime_stop_http(rt); /* servers first: their handlers call into the actors */
    int rc = 0;
    for (size_t k = 0; k < rt->nactors; k++)
        if (rt->actors[k]->state == EC_ACTOR_RUNNING) {
            int r = ec_actor_stop(rt->actors[k], "runtime shutdown", 0);
            if (rc == 0)
                rc = r;
        }
    return rc;
}

void ec_runtime_free(ec_runtime *rt)
{
    if (!rt)
        return;
    /* Nothing left to stop after an ec_runtime_shutdown: what it did is done once. */
    (void)ec_runtime_shutdown(rt);
    ec_http_rt_free(rt);
    for (size_t k = 0; k < rt->nactors; k++)
        actor_free(rt->actors[k]);
    free(rt->actors);
    for (work *w = rt->held, *n; w; w = n) { /* empty outside ec_runtime_run */
        n = w->next;
        work_free(w);
    }
    for (work *w = rt->queue, *n; w; w = n) {
        n = w->next;
        work_free(w);
    }
    for (work *w = rt->timers, *n; w; w = n) {
        n = w->next;
        work_free(w);
    }
    ec_module_free_all(rt);
    free(rt->data_dir);
    free(rt->cache_dir);
    free(rt->store_dir);
    pthread_cond_destroy(&rt->lock.actor_free);
    pthread_mutex_destroy(&rt->lock.m);
    free(rt);
}

ec_actor *ec_runtime_lookup(ec_runtime *rt, const char *id)
{
    for (size_t k = 0; k < rt->nactors; k++)
        if (strcmp(rt->actors[k]->id, id) == 0)
            return rt->actors[k];
    return NULL;
}

ec_actor *ec_runtime_find(ec_runtime *rt, const char *id)
{
    return rt && id ? ec_runtime_lookup(rt, id) : NULL;
}
const char *ec_actor_id(const ec_actor *a)
{
    return a->id;
}
ec_actor_state ec_actor_get_state(const ec_actor *a)
{
    return a->state;
}
const char *ec_actor_reason(const ec_actor *a)
{
    return a->reason;
}
ec_chain *ec_actor_chain(ec_actor *a)
{
    return a->chain;
}
size_t ec_runtime_actor_count(const ec_runtime *rt)
{
    return rt->nactors;
}
ec_actor *ec_runtime_actor_at(ec_runtime *rt, size_t i)
{
    return i < rt->nactors ? rt->actors[i] : NULL;
}

int ec_actor_record(ec_actor *a, const char *type, const cbuf *payload, uint8_t *hash_out)
{
    return ec_actor_record_seq(a, type, payload, hash_out, NULL);
}

int ec_actor_record_seq(ec_actor *a, const char *type, const cbuf *payload, uint8_t *hash_out,
                        uint64_t *seq_out)
{
    if (payload->oom)
        return ec_error_set(EC_ENOMEM, "actor %s: %s: out of memory encoding the event", a->id,
                            type);
    if (a->rt->replay) {
        /* One thread, nothing appended beside it: the last event is this one. */
        int rc = ec_replay_record(a, type, payload, hash_out);
        if (rc == 0 && seq_out)
            *seq_out = ec_chain_count(a->chain) - 1;
        return rc;
    }
    ec_event_input in = {0};
    in.type = type;
    in.data = payload->p;
    in.data_len = payload->len;
    /* The wait for durability (batch) runs without the runtime lock, so that other actors'
     * host calls go on meanwhile: the event is appended under the lock, and only the owner
     * appends to this chain. Not when the chain's wait is deferred already (a served request
     * waits at its reply), nor for an actor this thread does not own (spawn, stop). */
    ec_backend *be = ec_chain_backend(a->chain);
    int prev = -1;
    if (a->unlocked_wait && ec_actor_mine(a) && ec_rt_lock_mine(a->rt) &&
        (prev = ec_backend_deferred_set(be, 1)) < 0)
        ec_error_clear();
    /* The seq comes from the append itself: once the lock is dropped for the wait, another
     * thread may append (a server's late refusal, http_actor.c on_late), and the chain must
     * not be read without the lock. */
    uint64_t seq = 0;
    int rc = ec_chain_append(a->chain, &in, &seq, hash_out);
    if (rc == 0 && seq_out)
        *seq_out = seq;
    if (prev == 0) {
        ec_backend_deferred_set(be, 0);
        if (rc == 0) {
            unsigned held = ec_rt_lock_drop(a->rt);
            rc = ec_backend_deferred_wait(be, seq);
            ec_rt_lock_restore(a->rt, held);
        }
    }
    if (rc == 0 && a->cp)
        rc = ec_checkpointer_tick(a->cp, NULL);
    if (rc) {
        const ec_error *e = ec_error_last();
        return ec_error_set(rc, "actor %s: recording %s: %s", a->id, type,
                            e ? e->message : "failed");
    }
    return 0;
}

/* Called before every effect that leaves the actor (host.c is_effect, a trap its parent hears
 * of, a stop, a refusal sent at once). Under sync_effects the chain is written as `none`: a
 * sync. Under batch (or a caller's backend with a wait) every append waits for itself,
 * except while a served request defers those waits to its reply (a->deferring): the effect
 * must not wait for the reply, so the real backend's wait for the last event, which also
 * covers the served request's earlier events and any reply held before. Replies held
 * behind it still share the releaser's sync. */
int ec_actor_sync(ec_actor *a)
{
    if (!a->chain)
        return 0;
    ec_backend *be = ec_chain_backend(a->chain);
    int sync = a->rt->sync_effects && be->sync;
    uint64_t n = ec_chain_count(a->chain);
    if (!sync && (a->rt->sync_effects || !a->deferring || n == 0))
        return 0;
    /* As for the wait in ec_actor_record: without the runtime lock, for an owned actor. */
    int drop = ec_actor_mine(a) && ec_rt_lock_mine(a->rt);
    unsigned held = drop ? ec_rt_lock_drop(a->rt) : 0;
    int rc = sync ? be->sync(be) : ec_backend_deferred_wait(be, n - 1);
    if (drop)
        ec_rt_lock_restore(a->rt, held);
    if (rc) {
        const ec_error *e = ec_error_last();
        return ec_error_set(rc, "actor %s: syncing its chain: %s", a->id,
                            e ? e->message : "failed");
    }
    return 0;
}

/* ---- instances ---- */

/* The runtime-wide cap (max_memory_bytes): an instance of m for actor id (self: the actor
 * itself when it exists, not counted twice) counts at its cap, as actor_instantiate lowers
 * it, and so does every instance there is. Checked before an instance is made (before a
 * spawn writes anything), never at memory.grow, whose outcome would then depend on other
 * actors (a replay of one chain could not reproduce it). A refused spawn or restart is
 * recorded by whoever asked (supervisor/spawn.result). A replay makes the instances its
 * chain already has. */
static int memory_admits(ec_runtime *rt, const ec_actor *self, const ec_module *m, const char *id)
{
    if (rt->replay)
        return 0;
    uint64_t cap = m->max_pages < rt->memory_pages ? m->max_pages : rt->memory_pages;
    if (cap > EC_MEMORY_PAGES_MAX)
        cap = EC_MEMORY_PAGES_MAX;
    uint64_t total = cap;
    for (size_t k = 0; k < rt->nactors; k++)
        if (rt->actors[k] != self && rt->actors[k]->mem)
            total += rt->actors[k]->mem->max_pages;
    if (total <= rt->max_memory_pages)
        return 0;
    return ec_error_set(EC_EDENIED,
                        "actor %s: its memory cap of %llu KiB would take the runtime's actors to "
                        "%llu MiB together, over max_memory of %llu MiB",
                        id, (unsigned long long)cap * 64, (unsigned long long)total / 16,
                        (unsigned long long)rt->max_memory_pages / 16);
}

static int actor_instantiate(ec_actor *a)
{
    ec_module *m = a->mod;
    void *inst = calloc(1, m->inst_size);
    if (!inst)
        return ec_error_set(EC_ENOMEM, "actor %s: out of memory for the instance", a->id);
    m->instantiate(inst, a); /* the env instance every import receives is the actor */
    wasm_rt_memory_t *mem = m->memory(inst);
    /* The per-actor cap: memory.grow past it returns -1 inside the actor. Never above
     * EC_MEMORY_PAGES_MAX whatever the module declares (or leaves undeclared: 65536): the
     * wasm2c runtime's grow computes the byte size in 32 bits, 0 for 65536 pages, and its
     * realloc(data, 0) would free the memory the actor goes on using. */
    if (mem->max_pages > a->rt->memory_pages)
        mem->max_pages = a->rt->memory_pages;
    if (mem->max_pages > EC_MEMORY_PAGES_MAX)
        mem->max_pages = EC_MEMORY_PAGES_MAX;
    a->inst = inst;
    a->mem = mem;
    return 0;
}

/* ---- the executor ---- */

static const char *trap_name(wasm_rt_trap_t t)
{
    switch (t) {
    case WASM_RT_TRAP_OOB:
        return "out of bounds";
    case WASM_RT_TRAP_INT_OVERFLOW:
        return "integer overflow";
    case WASM_RT_TRAP_DIV_BY_ZERO:
        return "division by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION:
        return "invalid conversion";
    case WASM_RT_TRAP_UNREACHABLE:
        return "unreachable";
    case WASM_RT_TRAP_CALL_INDIRECT:
        return "bad indirect call";
    case WASM_RT_TRAP_EXHAUSTION:
        return "call stack exhausted";
    default:
        return "trap";
    }
}

/* The depth limit of the module whose call is innermost on this thread (0: none). */
static __thread uint32_t depth_limit_tls;

/* Where a call into module m on this thread would start counting its calls (0 at the top).
 * The call depth is one count per thread, and each module's limit is its own (module.c: a
 * module with larger frames gets fewer). A nested call into another module starts at the
 * same fraction of its limit as its caller has used of its own, rounded up, so that the
 * native stack all the levels take together stays within the budget any one may use. */
static uint32_t nested_start_depth(const ec_module *m)
{
    uint32_t outer_depth = wasm_rt_call_stack_depth, outer_limit = depth_limit_tls;
    if (!outer_limit)
        return 0;
    uint64_t d = outer_limit == m->call_depth
                     ? outer_depth
                     : ((uint64_t)outer_depth * m->call_depth + outer_limit - 1) / outer_limit;
    return d < m->call_depth ? (uint32_t)d : m->call_depth;
}

/* The guarded call: everything between the setjmp in wasm_rt_impl_try and a trap's longjmp
 * stays inside this function, whose locals are not modified after the setjmp. The runtime's
 * jump buffer and saved depth are the thread's (wasm_tls.h): saved and restored so that a
 * nested call (a request inside a call) returns to its caller's handler. The call's count
 * starts at `start` (exec_owned: recorded in its wasm/call). */
static wasm_rt_trap_t guarded_call(ec_actor *a, int fn, const void *input, size_t in_len,
                                   uint64_t arg, uint32_t start, uint32_t *result)
{
    jmp_buf saved;
    memcpy(saved, wasm_rt_jmp_buf, sizeof saved);
    uint32_t saved_depth = wasm_rt_saved_call_stack_depth;
    uint32_t outer_depth = wasm_rt_call_stack_depth, outer_limit = depth_limit_tls;
    WASM_RT_UNWIND_TARGET *saved_target = wasm_rt_get_unwind_target();
    ec_module *m = a->mod;
    wasm_rt_call_stack_depth = start;
    depth_limit_tls = m->call_depth;
    wasm_rt_trap_t t = (wasm_rt_trap_t)wasm_rt_impl_try();
    if (t == WASM_RT_TRAP_NONE) {
        uint32_t ptr = 0;
        if (input) {
            ptr = m->ex_alloc(a->inst, (uint32_t)in_len);
            if ((uint64_t)ptr + in_len > a->mem->size || ptr == 0) {
                snprintf(a->host_trap, sizeof a->host_trap,
                         "ec_alloc(%zu) returned %u, outside memory of %u bytes", in_len, ptr,
                         a->mem->size);
                wasm_rt_trap(WASM_RT_TRAP_OOB);
            }
            if (in_len)
                memcpy(a->mem->data + ptr, input, in_len);
        }
        switch (fn) {
        case FN_INIT:
            *result = m->ex_init(a->inst, ptr, (uint32_t)in_len);
            break;
        case FN_MESSAGE:
            *result = m->ex_message(a->inst, ptr, (uint32_t)in_len);
            break;
        case FN_REQUEST:
            *result = m->ex_request(a->inst, ptr, (uint32_t)in_len);
            break;
        case FN_TIMER:
            *result = m->ex_timer(a->inst, arg);
            break;
        case FN_HTTP:
            *result = m->ex_http(a->inst, ptr, (uint32_t)in_len);
            break;
        default:
            *result = m->ex_child(a->inst, ptr, (uint32_t)in_len, (uint32_t)arg);
            break;
        }
    }
    memcpy(wasm_rt_jmp_buf, saved, sizeof saved);
    wasm_rt_saved_call_stack_depth = saved_depth;
    wasm_rt_call_stack_depth = outer_depth;
    depth_limit_tls = outer_limit;
    wasm_rt_set_unwind_target(saved_target);
    return t;
}

static int has_export(ec_module *m, int fn)
{
    switch (fn) {
    case FN_INIT:
        return m->ex_init != NULL;
    case FN_MESSAGE:
        return m->ex_message != NULL;
    case FN_REQUEST:
        return m->ex_request != NULL;
    case FN_TIMER:
        return m->ex_timer != NULL;
    case FN_HTTP:
        return m->ex_http != NULL;
    default:
        return m->ex_child != NULL;
    }
}

static void notify_parent(ec_actor *a, uint32_t event);

static int exec_owned(ec_actor *a, int fn, const void *input, size_t in_len, uint64_t arg,
                      const char *from, const uint8_t *link, size_t link_len, int32_t *ret);

/* Own the actor (waiting while another thread runs a call into it), hold the runtime lock
 * for everything but the wasm itself, and run the call. */
int ec_exec_call(ec_actor *a, int fn, const void *input, size_t in_len, uint64_t arg,
                 const char *from, const uint8_t *link, size_t link_len, int32_t *ret)
{
    int rc = ec_actor_acquire(a);
    if (rc)
        return rc;
    ec_rt_lock(a->rt);
    rc = exec_owned(a, fn, input, in_len, arg, from, link, link_len, ret);
    ec_rt_unlock(a->rt);
    ec_actor_release(a);
    return rc;
}

static int exec_owned(ec_actor *a, int fn, const void *input, size_t in_len, uint64_t arg,
                      const char *from, const uint8_t *link, size_t link_len, int32_t *ret)
{
    ec_runtime *rt = a->rt;
    if (a->state != EC_ACTOR_RUNNING || !a->inst)
        return ec_error_set(EC_EINVAL, "actor %s: not running (%s)", a->id,
                            ec_actor_state_name(a->state));
    if (a->on_stack)
        return ec_error_set(EC_EDENIED, "actor %s: already handling a call (no re-entry)", a->id);
    if (exec_self.depth >= MAX_NESTING)
        return ec_error_set(EC_EDENIED, "actor %s: calls nested deeper than %d", a->id,
                            MAX_NESTING);
    if (!has_export(a->mod, fn))
        return ec_error_set(EC_ENOTFOUND, "actor %s: module exports no %s", a->id, fn_names[fn]);
    /* Interrupted: the runtime is stopping, and a call started now would only be cut short.
     * Refused before anything is recorded. A replay (even one inside this runtime: an
     * automatic recovery) is not interrupted: it reproduces what was recorded. */
    if (!rt->replay && atomic_load_explicit(&rt->interrupted, memory_order_relaxed))
        return ec_error_set(EC_EDENIED,
                            "actor %s: the runtime is stopping (interrupted): %s not called", a->id,
                            fn_names[fn]);
    /* wasm/call: the call and everything the actor is given, before it runs. Keys in
     * deterministic order (docs/ABI.md section 3). */
    uint8_t small[512];
    cbuf b;
    cb_init(&b, small, sizeof small);
    /* The depth the call starts at: 0 at the top of a thread; inside another actor's call on
     * this thread (a spawn's ec_init, a request, a child notice) where that call's count
     * leaves it (nested_start_depth), so that the native stack of all the levels together
     * stays within one thread's. The actor can observe it (how deep it can recurse), and a
     * replay of its chain alone runs the call at the top of a thread: so it is recorded, as
     * `depth` (when not 0), and a replay starts the call there (docs/ABI.md section 1).
     * (Rather than running each nested call on a fresh thread of its own stack from 0, which
     * needs no record but a thread switch for every request, and moves the runtime lock,
     * actor ownership and the waits-for graph, all tied to the thread, to another one.)
     * A replay nested in a live call (an automatic recovery) starts no lower than the
     * thread's own count: its native stack stays bounded, and an actor whose recursion
     * reaches the difference traps there, a divergence, and the recovery fails. */
    uint32_t start = nested_start_depth(a->mod);
    uint64_t depth_rec = start;
    if (rt->replay) {
        if (ec_replay_recorded_uint(a, "wasm/call", "depth", &depth_rec))
            depth_rec = 0; /* absent: the top of a thread */
        if (depth_rec > start)
            start = depth_rec < a->mod->call_depth ? (uint32_t)depth_rec : a->mod->call_depth;
    }
    int with_arg = fn == FN_TIMER || fn == FN_CHILD;
    cb_map(&b, 1 + (size_t)with_arg + (from ? 2 : 0) + (depth_rec ? 1 : 0) + (input ? 1 : 0));
    cb_str(&b, "fn");
    cb_str(&b, fn_names[fn]);
    if (with_arg) {
        cb_str(&b, "arg");
        cb_uint(&b, arg);
    }
    if (from) {
        cb_str(&b, "from");
        cb_str(&b, from);
        cb_str(&b, "link");
        if (link_len)
            cb_bytes(&b, link, link_len);
        else
            cb_null(&b);
    }
    if (depth_rec) {
        cb_str(&b, "depth");
        cb_uint(&b, depth_rec);
    }
    if (input) {
        cb_str(&b, "input");
        cb_blob(&b, input, in_len);
    }
    int rc = ec_actor_record(a, "wasm/call", &b, NULL);
    cb_free(&b);
    if (rc)
        return rc;
    if (fn == FN_TIMER && from && strcmp(from, "@timer") == 0)
        ec_ptimer_delivered(a, link, link_len); /* delivered: in the chain from now on */

    a->on_stack = 1;
    if (fn == FN_HTTP) {
        a->in_http = 1;
        a->http_responded = 0;
    }
    a->fuel = a->fuel_start = rt->fuel;
    a->interrupt = rt->replay ? &ec_never_interrupted : &rt->interrupted;
    a->fuel_interrupts = a->trap_interrupted = 0;
    a->host_trap[0] = 0;
    if (rt->replay)
        ec_replay_arm_interrupt(a); /* an interrupted trap recorded as the call's next event */
    exec_self.depth++;
    uint32_t result = 0;
    /* The wasm runs without the runtime lock (other actors run meanwhile; its host calls take
     * the lock back), except in a replay, which holds it throughout: rt->replay is then
     * set for the whole runtime. A trap in a host call unwinds past its unlock: restored. */
    unsigned held = rt->lock.count;
    if (!rt->replay)
        ec_rt_lock_drop(rt);
    wasm_rt_trap_t t = guarded_call(a, fn, input, in_len, arg, start, &result);
    ec_rt_lock_restore(rt, held);
    exec_self.depth--;
    a->on_stack = 0;
    if (fn == FN_HTTP)
        a->in_http = 0;

    cb_init(&b, small, sizeof small);
    if (t != WASM_RT_TRAP_NONE) {
        const char *why = a->host_trap[0] ? a->host_trap : trap_name(t);
        /* An interruption is not a function of the module and its inputs: the fuel the call
         * had used is recorded, so that a replay stops it at the same point (ABI.md 3). */
        int interrupted = a->trap_interrupted;
        cb_map(&b, 3 + (size_t)interrupted);
        cb_str(&b, "fn");
        cb_str(&b, fn_names[fn]);
        cb_str(&b, "code");
        cb_uint(&b, (uint64_t)t);
        if (interrupted) {
            cb_str(&b, "fuel");
            cb_uint(&b, a->trap_fuel);
        }
        cb_str(&b, "reason");
        cb_str(&b, why);
        rc = ec_actor_record(a, "wasm/trap", &b, NULL);
        cb_free(&b);
        if (rc == 0)
            rc = ec_actor_sync(a); /* the parent hears of it: an effect */
        /* After a trap the instance is half-updated: it is discarded, never resumed. */
        actor_discard_instance(a);
        a->state = EC_ACTOR_TRAPPED;
        snprintf(a->reason, sizeof a->reason, "trap in %s: %s", fn_names[fn], why);
        if (!rt->quiet)
            fprintf(stderr, "evchain: actor %s trapped in %s: %s\n", a->id, fn_names[fn], why);
        /* Recovered from its last good state (replay.c): running again, nobody to tell. */
        if (rc == 0 && !interrupted && ec_actor_recover_in_place(a) == 0)
            return ec_error_set(EC_ETRAP, "actor %s: trap in %s: %s (recovered)", a->id,
                                fn_names[fn], why);
        /* Messages waiting for it go nowhere now: each recorded (after the trap). */
        int drc = drop_queued(a, "the receiver trapped");
        if (rc == 0)
            rc = drc;
        notify_parent(a, 1);
        /* Its children go with it: nothing supervises them any more. */
        for (size_t k = 0; k < rt->nactors && !rt->replay; k++) /* a replay touches no other */
            if (rt->actors[k]->parent == a)
                ec_actor_stop(rt->actors[k], "parent trapped", 0);
        if (rc)
            return rc;
        return ec_error_set(EC_ETRAP, "actor %s: trap in %s: %s", a->id, fn_names[fn], why);
    }
    cb_map(&b, 2);
    cb_str(&b, "fn");
    cb_str(&b, fn_names[fn]);
    cb_str(&b, "ret");
    cb_int(&b, (int32_t)result);
    rc = ec_actor_record(a, "wasm/result", &b, NULL);
    cb_free(&b);
    if (ret)
        *ret = (int32_t)result;
    if (rc == 0)
        rc = ec_actor_after_call(a); /* a state/snapshot every N calls (snapshot.c) */
    if (rc == 0 && a->stop_requested)
        rc = ec_actor_stop(a, a->stop_reason ? a->stop_reason : "shutdown", a->stop_notify);
    return rc;
}

/* ---- lifecycle ---- */

static int record_start(ec_actor *a, const char *type)
{
    uint8_t small[512];
    cbuf b;
    cb_init(&b, small, sizeof small);
    /* The binding event: who, what code, which interface and hash, with what inputs. */
    /* The limits too: what memory.grow returns, when fuel runs out and how deep calls go
     * are observable by the actor, so a replay must run under the same ones. */
    cb_map(&b, 10);
    cb_str(&b, "abi");
    cb_uint(&b, EC_ABI_VERSION);
    cb_str(&b, "alg");
    cb_str(&b, ec_hash_name(ec_chain_alg(a->chain)));
    cb_str(&b, "env");
    cb_array(&b, a->env_allow_count);
    for (size_t k = 0; k < a->env_allow_count; k++)
        cb_str(&b, a->env_allow[k]);
    cb_str(&b, "args");
    cb_blob(&b, a->args ? a->args : (const uint8_t *)"", a->args_len);
    cb_str(&b, "fuel");
    cb_uint(&b, a->rt->fuel);
    cb_str(&b, "actor");
    cb_str(&b, a->id);
    cb_str(&b, "parent");
    if (a->parent)
        cb_str(&b, a->parent->id);
    else
        cb_null(&b);
    cb_str(&b, "call_depth");
    cb_uint(&b, a->mod->call_depth);
    cb_str(&b, "memory_pages");
    cb_uint(&b, a->rt->memory_pages);
    cb_str(&b, "module_sha256");
    cb_bytes(&b, a->mod->sha, 32);
    int rc = ec_actor_record(a, type, &b, NULL);
    cb_free(&b);
    return rc;
}

static int open_chain(ec_actor *a)
{
    ec_runtime *rt = a->rt;
    ec_backend *be = NULL;
    int rc;
    if (rt->replay) /* the replay's chain, owned by replay.c */
        return (a->chain = ec_replay_target(rt)) ? 0 : EC_EINVAL;
    /* Checked before anything is created (a refused actor leaves no chain behind). Each
     * actor's chain is a log of its own, and a C2SP checkpoint's origin names its log:
     * "<key name>/<actor id>", so that a checkpoint (and a proof) of one actor is not taken
     * for one of another actor signed with the same key. The key name is a valid note name
     * (checked when the key was made or read) and an actor id is 1 to 64 of A-Z a-z 0-9 _ - .
     * (ec_valid_id): the origin has no space, '+' or control character; only its length can
     * be too much. A chain whose checkpoints/latest has another origin (one signed before
     * origins were per actor) keeps that one: the checkpointer never changes a log's origin. */
    char origin[EC_NOTE_NAME_MAX];
    int on = rt->signer
                 ? snprintf(origin, sizeof origin, "%s/%s", ec_signer_name(rt->signer), a->id)
                 : 0;
    if (on < 0 || (size_t)on >= sizeof origin)
        return ec_error_set(EC_EINVAL,
                            "actor %s: the checkpoint origin '<key name>/%s' would be over %d "
                            "bytes: use a checkpoint key with a shorter name",
                            a->id, a->id, EC_NOTE_NAME_MAX - 1);
    if (rt->backend_new) {
        char path[4300];
        snprintf(path, sizeof path, "%s/chain", a->dir);
        rc = rt->backend_new(&be, a->id, path, rt->backend_ctx);
        if (rc == 0 && !be)
            rc = ec_error_set(EC_EINVAL, "actor %s: backend_new gave no backend", a->id);
        /* A backend with a wait for durability gets the disk's wrapper too (below). */
        ec_backend *w = NULL;
        if (rc == 0 && be->wait_durable && (rc = ec_backend_deferred(&w, be)) != 0)
            be->free(be);
        else if (w)
            be = w;
        a->unlocked_wait = w != NULL;
    } else if (rt->chain_store == EC_CHAIN_STORE_MEMORY) {
        rc = ec_backend_memory(&be, &rt->mem_hint);
    } else {
        char path[4300];
        snprintf(path, sizeof path, "%s/chain", a->dir);
        struct stat st;
        if (stat(path, &st) == 0)
            return ec_error_set(EC_EEXISTS,
                                "actor %s: %s already holds a chain (use another data "
                                "directory or actor id)",
                                a->id, path);
        ec_disk_options o = EC_DISK_OPTIONS_INIT;
        o.create = 1;
        o.alg = rt->alg;
        /* sync_effects: the runtime decides when to sync (ec_actor_sync), not each append.
         * always: the disk's batch writer, every append waited for at once (ec_actor_record)
         * and none deferred (a->wait_each), which makes each record durable before its append
         * returns, as always says; but the write and fdatasync then run in the wait, without
         * the runtime lock, and not inside the append, under it, where they held up every
         * other actor's host calls. One appender, so each sync is of its one record and no
         * flusher lingers (a group of one never does). */
        o.durability = rt->sync_effects ? EC_DURABLE_NONE : rt->durability;
        a->wait_each = o.durability == EC_DURABLE_ALWAYS;
        if (a->wait_each)
            o.durability = EC_DURABLE_BATCH;
        rc = ec_backend_disk(&be, path, &o);
        /* Served HTTP requests defer the wait for durability to the reply (docs/HTTP.md);
         * everything else waits as the policy says: the wrapper is inert until then. */
        ec_backend *w = NULL;
        if (rc == 0 && (rc = ec_backend_deferred(&w, be)) != 0)
            be->free(be);
        be = w;
        /* Only batch waits in wait_durable (always syncs in the append, none never). */
        a->unlocked_wait = w != NULL && o.durability == EC_DURABLE_BATCH;
    }
    if (rc)
        return rc;
    ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
    co.alg = rt->alg;
    if ((rc = ec_chain_open(&a->chain, be, &co)))
        return rc;
    if (!rt->signer)
        return 0;
    ec_checkpointer_options cpo = EC_CHECKPOINTER_OPTIONS_INIT;
    cpo.origin = origin;
    cpo.every_events = rt->cp_every_events;
    cpo.every_ns = rt->cp_every_ns;
    cpo.keep = rt->cp_keep;
    char path[4300];
    snprintf(path, sizeof path, "%s/chain", a->dir);
    /* Only the runtime's own disk chains have a directory to keep the tree and checkpoints
     * in; a memory (or caller-provided) chain keeps them in memory. */
    int on_disk = !rt->backend_new && rt->chain_store == EC_CHAIN_STORE_DISK;
    return ec_checkpointer_open(&a->cp, a->chain, on_disk ? path : NULL, rt->signer, &cpo);
}

/* What a spawn made in the data directory (ec_actor.made), each only when it was not there
 * before: <data>/actors, <data>/actors/<id>, its sandbox fs/, its chain directory. */
enum { MADE_ACTORS = 1, MADE_DIR = 2, MADE_FS = 4, MADE_CHAIN = 8 };

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

/* Take back what a refused spawn of actor id made (once its chain is closed): the chain
 * directory it created, with everything in it (not followed through a symbolic link), then
 * the directories it made, each only when empty (rmdir: what anyone else put there stays).
 * Then nothing is left of it: the name can be spawned again in this data directory. */
static void actor_unmake(ec_runtime *rt, const char *id, unsigned made)
{
    char p[4400];
    if (made & MADE_CHAIN) {
        snprintf(p, sizeof p, "%s/actors/%s/chain", rt->data_dir, id);
        nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    if (made & MADE_FS) {
        snprintf(p, sizeof p, "%s/actors/%s/fs", rt->data_dir, id);
        rmdir(p);
    }
    if (made & MADE_DIR) {
        snprintf(p, sizeof p, "%s/actors/%s", rt->data_dir, id);
        rmdir(p);
    }
    if (made & MADE_ACTORS) {
        snprintf(p, sizeof p, "%s/actors", rt->data_dir);
        rmdir(p);
    }
}

static int actor_create(ec_runtime *rt, ec_module *mod, const char *id, ec_actor *parent,
                        const char *child_name, const void *args, size_t args_len,
                        const char *const *env, size_t nenv, ec_actor **out)
{
    int rc = memory_admits(rt, NULL, mod, id);
    if (rc)
        return rc;
    if (rt->nactors == rt->cap) {
        size_t nc = rt->cap ? rt->cap * 2 : 8;
        ec_actor **na = realloc(rt->actors, nc * sizeof *na);
        if (!na)
            return ec_error_set(EC_ENOMEM, "actor %s: out of memory", id);
        rt->actors = na;
        rt->cap = nc;
    }
    ec_actor *a = calloc(1, sizeof *a);
    if (!a)
        return ec_error_set(EC_ENOMEM, "actor %s: out of memory", id);
    a->rt = rt;
    a->interrupt = &ec_never_interrupted; /* set per call by the executor */
    a->fs_fd = -1;
    a->mod = mod;
    a->parent = parent;
    a->state = EC_ACTOR_RUNNING;
    char buf[4300];
    snprintf(buf, sizeof buf, "%s/actors/%s", rt->data_dir, id);
    a->id = strdup(id);
    a->dir = strdup(buf);
    snprintf(buf, sizeof buf, "%s/actors/%s/fs", rt->data_dir, id);
    a->fs_root = strdup(buf);
    a->child_name = child_name ? strdup(child_name) : NULL;
    a->args = malloc(args_len ? args_len : 1);
    a->env_allow = calloc(nenv ? nenv : 1, sizeof *a->env_allow);
    if (!a->id || !a->dir || !a->fs_root || (child_name && !a->child_name) || !a->args ||
        !a->env_allow) {
        actor_free(a);
        return ec_error_set(EC_ENOMEM, "actor %s: out of memory", id);
    }
    if (args_len)
        memcpy(a->args, args, args_len);
    a->args_len = args_len;
    for (size_t k = 0; k < nenv; k++) {
        if (!(a->env_allow[k] = strdup(env[k]))) {
            actor_free(a);
            return ec_error_set(EC_ENOMEM, "actor %s: out of memory", id);
        }
        a->env_allow_count++;
    }
    /* What is not there yet is noted before it is made: a refused spawn takes it back. The
     * chain directory is made only when absent (open_chain refuses one that is there). */
    if (!rt->replay) {
        struct stat st;
        snprintf(buf, sizeof buf, "%s/actors", rt->data_dir);
        a->made |= stat(buf, &st) != 0 ? MADE_ACTORS : 0;
        a->made |= stat(a->dir, &st) != 0 ? MADE_DIR : 0;
        a->made |= stat(a->fs_root, &st) != 0 ? MADE_FS : 0;
        snprintf(buf, sizeof buf, "%s/chain", a->dir);
        if (!rt->backend_new && rt->chain_store == EC_CHAIN_STORE_DISK && lstat(buf, &st) != 0)
            a->made |= MADE_CHAIN;
    }
    unsigned made = a->made;
    /* A replay has no sandbox: its fs calls are answered from the chain. */
    if (!rt->replay && (rc = ec_mkdir_p(a->fs_root))) {
        actor_free(a);
        actor_unmake(rt, id, made);
        return rc;
    }
    if (!rt->replay)
        a->fs_fd = open(a->fs_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!rt->replay && a->fs_fd < 0) {
        rc = ec_error_set_errno(EC_EIO, errno, "actor %s: sandbox %s", id, a->fs_root);
        actor_free(a);
        actor_unmake(rt, id, made);
        return rc;
    }
    if ((rc = open_chain(a))) {
        a->mod = NULL; /* the caller still owns its module reference */
        actor_free(a);
        actor_unmake(rt, id, made);
        return rc;
    }
    if ((rc = record_start(a, "actor/start")) || (rc = actor_instantiate(a))) {
        a->mod = NULL;
        actor_free(a);
        actor_unmake(rt, id, made);
        return rc;
    }
    rt->actors[rt->nactors++] = a;
    *out = a;
    return 0;
}

int ec_actor_create(ec_runtime *rt, ec_module *mod, const char *id, ec_actor *parent,
                    const char *child_name, const void *args, size_t args_len,
                    const char *const *env, size_t nenv, ec_actor **out)
{
    return actor_create(rt, mod, id, parent, child_name, args, args_len, env, nenv, out);
}

static int run_init(ec_actor *a)
{
    if (!a->mod->ex_init)
        return 0;
    int32_t ret = 0;
    int rc = ec_exec_call(a, FN_INIT, a->args, a->args_len, 0, NULL, NULL, 0, &ret);
    return rc == EC_ETRAP ? 0 : rc; /* a trap is recorded and is the actor's state */
}

/* A spawn whose ec_init was refused before it ran (calls nested deeper than MAX_NESTING, the
 * runtime stopping): the actor never ran, and the spawn fails. It must not stay behind as a
 * child that is listed, says running and holds its name: it leaves the runtime, and what its
 * spawn made in the data directory (its chain, holding only its actor/start, its sandbox) is
 * removed again, so that the name can be spawned there again; the refusal is recorded by
 * whoever asked (the parent's supervisor/spawn.result). A chain that is not the runtime's own
 * directory (memory, a caller's backend) records why it ended instead (actor/stop "spawn
 * failed: ..."). Only when nothing but its actor/start is in its chain (the refusal came
 * before wasm/call) and it has no child; an actor that did run stays as it ended. Returns rc,
 * with the refusal as the last error. */
static int spawn_failed(ec_actor *c, int rc)
{
    ec_runtime *rt = c->rt;
    char why[300];
    const ec_error *e = ec_error_last();
    snprintf(why, sizeof why, "%s", e ? e->message : "ec_init not called");
    if (rt->replay || ec_chain_count(c->chain) != 1)
        return ec_error_set(rc, "%s", why);
    for (size_t k = 0; k < rt->nactors; k++)
        if (rt->actors[k]->parent == c)
            return ec_error_set(rc, "%s", why);
    char reason[320], id[80];
    snprintf(reason, sizeof reason, "spawn failed: %s", why);
    snprintf(id, sizeof id, "%s", c->id);
    unsigned made = c->made;
    ec_rt_lock(rt);
    if (made & MADE_CHAIN) {
        /* Removed below: no actor/stop, and no last checkpoint, for a chain that goes. */
        ec_checkpointer_free(c->cp);
        c->cp = NULL;
    } else {
        actor_stop_locked(c, reason, 0);
    }
    for (size_t k = 0; k < rt->nactors; k++)
        if (rt->actors[k] == c) {
            memmove(&rt->actors[k], &rt->actors[k + 1], (rt->nactors - k - 1) * sizeof *rt->actors);
            rt->nactors--;
            break;
        }
    actor_free(c); /* under the lock: it releases its module, shared with the runtime */
    ec_rt_unlock(rt);
    actor_unmake(rt, id, made); /* its chain closed by actor_free */
    return ec_error_set(rc, "%s", why);
}

int ec_runtime_spawn(ec_runtime *rt, const char *module_path, const ec_actor_options *opts,
                     ec_actor **out)
{
    if (out)
        *out = NULL;
    if (!rt || !module_path || !opts)
        return ec_error_set(EC_EINVAL, "ec_runtime_spawn: NULL argument");
    if (opts->version != EC_ACTOR_OPTIONS_VERSION)
        return ec_error_set(EC_EUNSUPPORTED, "ec_runtime_spawn: options version %u unknown",
                            opts->version);
    if (!opts->id || !ec_valid_id(opts->id, strlen(opts->id)))
        return ec_error_set(EC_EINVAL,
                            "actor id '%s': use 1 to 64 of A-Z a-z 0-9 _ - . (not first)",
                            opts->id ? opts->id : "(null)");
    if (ec_runtime_lookup(rt, opts->id))
        return ec_error_set(EC_EEXISTS, "actor %s: already exists in this runtime", opts->id);
    for (size_t k = 0; k < opts->env_allow_count; k++)
        if (!opts->env_allow[k] || !*opts->env_allow[k] || strchr(opts->env_allow[k], '='))
            return ec_error_set(EC_EINVAL, "actor %s: env allow-list entry %zu is not a name",
                                opts->id, k);
    ec_module *m;
    int rc = ec_module_load(rt, module_path, &m, NULL);
    if (rc)
        return rc;
    ec_actor *a;
    rc = actor_create(rt, m, opts->id, NULL, NULL, opts->args, opts->args_len, opts->env_allow,
                      opts->env_allow_count, &a);
    if (rc) {
        ec_module_release(rt, m);
        return rc;
    }
    if ((rc = run_init(a)))
        return spawn_failed(a, rc);
    if (out)
        *out = a;
    return 0;
}

int ec_actor_spawn_child(ec_actor *parent, const char *module, const char *name, const void *args,
                         size_t args_len, int *abi_err)
{
    ec_runtime *rt = parent->rt;
    char id[200], path[4400];
    *abi_err = ABI_OK;
    if (!ec_valid_id(name, strlen(name)) || strchr(name, '.') ||
        !ec_valid_id(module, strlen(module)) || strchr(module, '.')) {
        /* Each refusal says why: the message is what the actor's error() and its chain get. */
        *abi_err = ABI_EINVAL;
        return ec_error_set(EC_EINVAL,
                            "actor %s: child and module names use 1 to 64 of A-Z a-z 0-9 _ - "
                            "(no '.')",
                            parent->id);
    }
    snprintf(id, sizeof id, "%s.%s", parent->id, name);
    if (strlen(id) > 64) {
        *abi_err = ABI_EINVAL;
        return ec_error_set(EC_EINVAL, "child %s: its id %s has %zu characters, over 64", name, id,
                            strlen(id));
    }
    if (ec_runtime_lookup(rt, id)) {
        *abi_err = ABI_EBUSY;
        return ec_error_set(EC_EEXISTS, "child %s: actor %s exists already", name, id);
    }
    /* Actors spawning actors: each may hold its memory cap, so their number is bounded. */
    if (rt->nactors >= rt->max_actors) {
        *abi_err = ABI_EBUSY;
        return ec_error_set(EC_EDENIED, "actor %s: the runtime already runs %zu actors", id,
                            rt->max_actors);
    }
    /* Children come from modules next to the parent's: a plain name, never a path. */
    const char *slash = strrchr(parent->mod->path, '/');
    int dl = slash ? (int)(slash - parent->mod->path) : 1;
    snprintf(path, sizeof path, "%.*s/%s.wasm", dl, slash ? parent->mod->path : ".", module);
    ec_module *m;
    int rc = ec_module_load(rt, path, &m, NULL);
    if (rc) {
        *abi_err = rc == EC_ENOTFOUND ? ABI_ENOTFOUND : ABI_EINVAL;
        return rc;
    }
    ec_actor *c;
    rc = actor_create(rt, m, id, parent, name, args, args_len, NULL, 0, &c);
    if (rc) {
        ec_module_release(rt, m);
        /* Over max_memory is a limit like max_actors; anything else the host failing. */
        *abi_err = rc == EC_EDENIED ? ABI_EBUSY : ABI_EIO;
        return rc;
    }
    if ((rc = run_init(c)) != 0) {
        *abi_err = ABI_EIO;
        return spawn_failed(c, rc);
    }
    return 0;
}

int ec_actor_stop(ec_actor *a, const char *reason, int notify)
{
    ec_rt_lock(a->rt);
    int rc = actor_stop_locked(a, reason, notify);
    ec_rt_unlock(a->rt);
    return rc;
}

static int actor_stop_locked(ec_actor *a, const char *reason, int notify)
{
    if (a->state != EC_ACTOR_RUNNING)
        return 0;
    if (a->owner && !ec_actor_mine(a)) {
        /* Busy on another thread: that thread stops it when it lets go (ec_actor_release),
         * as after shutdown(). Waiting here instead could close a cycle of waits. */
        if (!a->stop_requested) {
            char *r = strdup(reason);
            if (!r)
                return ec_error_set(EC_ENOMEM, "actor %s: out of memory", a->id);
            free(a->stop_reason);
            a->stop_reason = r;
            a->stop_requested = 1;
            a->stop_notify = notify;
        }
        return 0;
    }
    if (a->on_stack)
        return ec_error_set(EC_EDENIED, "actor %s: cannot stop while it is running a call", a->id);
    /* What is queued for it is dropped, recorded before its actor/stop: a stopped chain
     * accounts for every message it accepted. */
    int drc = drop_queued(a, "the receiver stopped");
    uint8_t small[320];
    cbuf b;
    cb_init(&b, small, sizeof small);
    cb_map(&b, 1);
    cb_str(&b, "reason");
    cb_str(&b, reason);
    int rc = ec_actor_record(a, "actor/stop", &b, NULL);
    if (rc == 0)
        rc = drc;
    cb_free(&b);
    if (rc == 0)
        rc = ec_actor_sync(a);
    actor_discard_instance(a);
    a->state = EC_ACTOR_STOPPED;
    a->stop_requested = 0;
    snprintf(a->reason, sizeof a->reason, "stopped: %s", reason);
    /* A stopped parent takes its children with it: they cannot outlive supervision. */
    for (size_t k = 0; k < a->rt->nactors && !a->rt->replay; k++)
        if (a->rt->actors[k]->parent == a)
            ec_actor_stop(a->rt->actors[k], "parent stopped", 0);
    if (notify)
        notify_parent(a, 2);
    return rc;
}

int ec_actor_restart(ec_actor *a)
{
    if (a->state == EC_ACTOR_RUNNING) {
        int rc = ec_actor_stop(a, "restart", 0);
        if (rc)
            return rc;
    }
    /* Over max_memory: refused before anything is recorded, the actor left as it was. */
    int rc = memory_admits(a->rt, a, a->mod, a->id);
    if (rc)
        return rc;
    a->state = EC_ACTOR_RUNNING;
    a->reason[0] = 0;
    /* A stop asked for before it trapped (shutdown(), or a supervisor's stop while it ran on
     * another thread) was for the old instance, not this one. */
    a->stop_requested = 0;
    rc = record_start(a, "actor/restart");
    if (rc == 0)
        rc = actor_instantiate(a);
    if (rc) {
        a->state = EC_ACTOR_STOPPED;
        snprintf(a->reason, sizeof a->reason, "restart failed");
        return rc;
    }
    return run_init(a);
}

int ec_runtime_stop(ec_runtime *rt, const char *id, const char *reason)
{
    ec_actor *a = rt && id ? ec_runtime_lookup(rt, id) : NULL;
    if (!a)
        return ec_error_set(EC_ENOTFOUND, "actor %s: no such actor", id ? id : "(null)");
    return ec_actor_stop(a, reason ? reason : "stopped by the operator", 1);
}

/* ---- the queue ---- */

static work *work_new(const char *to, const char *from, const void *body, size_t len,
                      const uint8_t *link, size_t link_len)
{
    work *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->to = strdup(to);
    w->from = from ? strdup(from) : NULL;
    w->body = malloc(len ? len : 1);
    if (!w->to || (from && !w->from) || !w->body) {
        work_free(w);
        return NULL;
    }
    if (len)
        memcpy(w->body, body, len);
    w->body_len = len;
    if (link_len > sizeof w->link)
        link_len = sizeof w->link;
    if (link_len)
        memcpy(w->link, link, link_len);
    w->link_len = link_len;
    return w;
}

static void enqueue(ec_runtime *rt, work *w)
{
    rt->queued++;
    rt->queued_bytes += w->body_len;
    if (rt->queue_tail)
        rt->queue_tail->next = w;
    else
        rt->queue = w;
    rt->queue_tail = w;
}

int ec_queue_message(ec_runtime *rt, const char *to, const char *from, const void *body, size_t len,
                     const uint8_t *link, size_t link_len)
{
    if (rt->queued >= rt->max_queue)
        return ec_error_set(EC_EDENIED, "message to %s: the queue is full (%zu waiting)", to,
                            rt->queued);
    if (rt->queued_bytes + len > rt->max_queued_bytes)
        return ec_error_set(EC_EDENIED,
                            "message to %s: the queue is full (%llu bytes of messages waiting, "
                            "%zu more would pass max_queued_bytes of %llu)",
                            to, (unsigned long long)rt->queued_bytes, len,
                            (unsigned long long)rt->max_queued_bytes);
    work *w = work_new(to, from, body, len, link, link_len);
    if (!w)
        return ec_error_set(EC_ENOMEM, "message to %s: out of memory", to);
    w->kind = WORK_MESSAGE;
    enqueue(rt, w);
    return 0;
}

static work *timer_new(const char *to, uint64_t tag, const uint8_t *link, size_t link_len,
                       uint64_t due_ns)
{
    work *w = work_new(to, NULL, NULL, 0, link, link_len);
    if (w) {
        w->kind = WORK_TIMER;
        w->tag = tag;
        w->due_ns = due_ns;
    }
    return w;
}

/* Into rt->timers by due time, after those due at the same time: timers due together are
 * delivered in the order they were set. */
static void timer_insert(ec_runtime *rt, work *w)
{
    rt->ntimers++;
    work **p = &rt->timers;
    while (*p && (*p)->due_ns <= w->due_ns)
        p = &(*p)->next;
    w->next = *p;
    *p = w;
}

int ec_queue_timer(ec_runtime *rt, const char *to, uint64_t delay_ms, uint64_t tag,
                   const uint8_t *link, size_t link_len)
{
    if (rt->ntimers >= rt->max_queue)
        return ec_error_set(EC_EDENIED, "timer for %s: %zu timers already pending", to,
                            rt->ntimers);
    work *w = timer_new(to, tag, link, link_len, mono_ns() + delay_ms * 1000000u);
    if (!w)
        return ec_error_set(EC_ENOMEM, "timer for %s: out of memory", to);
    timer_insert(rt, w);
    return 0;
}

/* Timer links, zero-padded to EC_HASH_MAX bytes, sorted: membership by bsearch. */
typedef uint8_t link_key[EC_HASH_MAX];

static int link_cmp(const void *x, const void *y)
{
    return memcmp(x, y, EC_HASH_MAX);
}

static void link_key_set(link_key k, const uint8_t *link, size_t len)
{
    memset(k, 0, EC_HASH_MAX);
    memcpy(k, link, len < EC_HASH_MAX ? len : EC_HASH_MAX);
}

static int link_in(link_key *sorted, size_t n, const uint8_t *link, size_t len)
{
    link_key k;
    link_key_set(k, link, len);
    return n && bsearch(k, sorted, n, EC_HASH_MAX, link_cmp) != NULL;
}

/* A timer of actor `to`, queued (in rt->timers, or due in rt->queue). */
static int timer_of(const work *w, const char *to)
{
    return w->kind == WORK_TIMER && strcmp(w->to, to) == 0;
}

/* Remove from list the timers of `to` whose link is in the sorted drop keys, counting them
 * off *n; returns the last item kept (a queue's new tail). */
static work *drop_timers(work **list, size_t *n, const char *to, link_key *drop, size_t ndrop)
{
    work *last = NULL;
    for (work **p = list; *p;) {
        work *w = *p;
        if (timer_of(w, to) && link_in(drop, ndrop, w->link, w->link_len)) {
            *p = w->next;
            (*n)--;
            work_free(w);
        } else {
            last = w;
            p = &w->next;
        }
    }
    return last;
}

int ec_timers_rearm(ec_runtime *rt, const char *to, const ec_timer_arm *drop, size_t ndrop,
                    const ec_timer_arm *arm, size_t narm)
{
    /* A replay has no queue: every delivery it makes comes from the chain. */
    if (rt->replay)
        return ec_error_set(EC_EINVAL, "actor %s: no timer is queued during a replay", to);
    int rc = 0;
    link_key *dropk = calloc(ndrop ? ndrop : 1, sizeof *dropk), *kept = NULL;
    work **fresh = calloc(narm ? narm : 1, sizeof *fresh);
    size_t nkept = 0, ndropped = 0, nfresh = 0;
    if (!dropk || !fresh)
        goto oom;
    for (size_t k = 0; k < ndrop; k++)
        link_key_set(dropk[k], drop[k].link, drop[k].link_len);
    qsort(dropk, ndrop, EC_HASH_MAX, link_cmp);
    /* What stays queued: this actor's timers not dropped, in rt->timers and (due, about to be
     * delivered) in rt->held and rt->queue. A timer to arm that is among them is not queued
     * twice. Two passes: count, then copy. */
    for (int pass = 0; pass < 2; pass++) {
        nkept = 0;
        for (int list = 0; list < 3; list++)
            for (work *w = list == 0   ? rt->timers
                           : list == 1 ? rt->held
                                       : rt->queue;
                 w; w = w->next) {
                if (!timer_of(w, to))
                    continue;
                if (link_in(dropk, ndrop, w->link, w->link_len))
                    ndropped += pass == 0 && list == 0; /* what leaves rt->ntimers */
                else if (pass == 1)
                    link_key_set(kept[nkept++], w->link, w->link_len);
                else
                    nkept++;
            }
        if (pass == 0 && !(kept = calloc(nkept ? nkept : 1, sizeof *kept)))
            goto oom;
    }
    qsort(kept, nkept, EC_HASH_MAX, link_cmp);
    /* Everything that can fail comes before the queue changes: all or nothing. */
    uint64_t now = mono_ns();
    for (size_t k = 0; k < narm; k++) {
        if (link_in(kept, nkept, arm[k].link, arm[k].link_len) ||
            link_in(dropk, ndrop, arm[k].link, arm[k].link_len))
            continue;
        if (!(fresh[nfresh] =
                  timer_new(to, arm[k].tag, arm[k].link, arm[k].link_len, now + arm[k].left_ns)))
            goto oom;
        nfresh++;
    }
    /* The limit timer_set has: refused as a whole, never some timers silently left out. */
    if (rt->ntimers - ndropped + nfresh > rt->max_queue) {
        rc = ec_error_set(EC_EDENIED,
                          "actor %s: %zu timers to re-arm, %zu others pending: over the "
                          "runtime's limit of %zu pending timers (max_queue)",
                          to, nfresh, rt->ntimers - ndropped, rt->max_queue);
        goto out;
    }
    drop_timers(&rt->timers, &rt->ntimers, to, dropk, ndrop);
    rt->held_tail = drop_timers(&rt->held, &rt->queued, to, dropk, ndrop);
    rt->queue_tail = drop_timers(&rt->queue, &rt->queued, to, dropk, ndrop);
    for (size_t k = 0; k < nfresh; k++) {
        timer_insert(rt, fresh[k]);
        fresh[k] = NULL;
    }
    goto out;
oom:
    rc = ec_error_set(EC_ENOMEM, "actor %s: re-arming timers: out of memory", to);
out:
    for (size_t k = 0; fresh && k < nfresh; k++)
        if (fresh[k])
            work_free(fresh[k]);
    free(fresh);
    free(dropk);
    free(kept);
    return rc;
}

static void notify_parent(ec_actor *a, uint32_t event)
{
    if (!a->parent || a->parent->state != EC_ACTOR_RUNNING || a->rt->replay)
        return;
    uint8_t head[EC_HASH_MAX];
    uint64_t seq;
    size_t hl = 0;
    if (ec_chain_head(a->chain, head, &seq) == 0)
        hl = ec_hash_len(ec_chain_alg(a->chain));
    work *w = work_new(a->parent->id, a->id, a->child_name, strlen(a->child_name), head, hl);
    if (!w)
        return; /* out of memory: the child's own chain still records what happened */
    w->kind = WORK_CHILD;
    w->event = event;
    enqueue(a->rt, w);
}

void ec_messages_abandon(ec_runtime *rt, const char *from, const ec_timer_arm *sends, size_t n)
{
    /* The work set aside for a busy receiver too (rt->held): still queued, not delivered. */
    for (int list = 0; list < 2; list++)
        for (work *w = list ? rt->queue : rt->held; w; w = w->next)
            if (w->kind == WORK_MESSAGE && w->from && strcmp(w->from, from) == 0)
                for (size_t k = 0; k < n; k++)
                    if (sends[k].link_len == w->link_len &&
                        memcmp(w->link, sends[k].link, w->link_len) == 0) {
                        w->abandoned = 1;
                        break;
                    }
}

size_t ec_runtime_dropped_external(const ec_runtime *rt)
{
    return rt ? rt->dropped_external : 0;
}

int ec_runtime_send(ec_runtime *rt, const char *to, const void *body, size_t len)
{
    if (!rt || !to || (!body && len))
        return ec_error_set(EC_EINVAL, "ec_runtime_send: NULL argument");
    ec_actor *a = ec_runtime_lookup(rt, to);
    if (!a)
        return ec_error_set(EC_ENOTFOUND, "message to %s: no such actor", to);
    if (len > rt->max_message)
        return ec_error_set(EC_EDENIED, "message to %s: %zu bytes, over the limit of %u", to, len,
                            rt->max_message);
    /* Refused now, as a send from an actor is (EBUSY): queued, it would be dropped unrecorded
     * at delivery while the sender was told it went. */
    if (a->state != EC_ACTOR_RUNNING)
        return ec_error_set(EC_EDENIED, "message to %s: actor %s is %s", to, to,
                            ec_actor_state_name(a->state));
    return ec_queue_message(rt, to, "@external", body, len, NULL, 0);
}

/* A message delivered as dropped: recorded in a's chain, which a owns meanwhile (no call of
 * another thread's in it), between its calls. */
static int deliver_dropped(ec_actor *a, work *w, const char *reason)
{
    int rc = ec_actor_acquire(a);
    if (rc)
        return rc;
    ec_rt_lock(a->rt);
    rc = record_dropped(a, w, reason);
    ec_rt_unlock(a->rt);
    ec_actor_release(a);
    return rc;
}

/* Deliver one work item to a, its recipient looked up (NULL: gone, never an actor that took
 * messages: actors leave the runtime only when a spawn failed, before any could be sent).
 * A message that is not given to a (not running any more: stopped or trapped while it was
 * held for another thread; no handler; sent in a line its sender's recovery abandoned) is
 * recorded as dropped in a's chain: the sender's chain says it was sent (docs/ABI.md 6). A
 * child notice or timer to an actor that is not running is dropped: the child's chain, or
 * the timer's (section 7), already says what became of them. */
static void deliver(ec_runtime *rt, ec_actor *a, work *w)
{
    if (!a)
        return;
    int32_t ret;
    int rc = 0;
    if (w->kind == WORK_MESSAGE &&
        (a->state != EC_ACTOR_RUNNING || w->abandoned || !a->mod->ex_message)) {
        rc = deliver_dropped(
            a, w,
            a->state != EC_ACTOR_RUNNING
                ? (a->state == EC_ACTOR_TRAPPED ? "the receiver trapped" : "the receiver stopped")
            : w->abandoned == 2
                ? "sent in a call that did not complete before its runtime ended (its sender's "
                  "recovery abandons it)"
            : w->abandoned ? "sent in a call its sender's recovery abandoned"
                           : "the receiver has no ec_handle_message");
        if (rc && !rt->quiet)
            fprintf(stderr, "evchain: delivering to %s: %s\n", w->to,
                    ec_error_last() ? ec_error_last()->message : "failed");
        return;
    }
    if (a->state != EC_ACTOR_RUNNING)
        return;
    switch (w->kind) {
    case WORK_MESSAGE:
        rc = ec_exec_call(a, FN_MESSAGE, w->body, w->body_len, 0, w->from, w->link, w->link_len,
                          &ret);
        break;
    case WORK_TIMER:
        if (a->mod->ex_timer)
            rc = ec_exec_call(a, FN_TIMER, NULL, 0, w->tag, "@timer", w->link, w->link_len, &ret);
        break;
    case WORK_CHILD:
        if (a->mod->ex_child)
            rc = ec_exec_call(a, FN_CHILD, w->body, w->body_len, w->event, w->from, w->link,
                              w->link_len, &ret);
        break;
    }
    if (rc && rc != EC_ETRAP && !rt->quiet)
        fprintf(stderr, "evchain: delivering to %s: %s\n", w->to,
                ec_error_last() ? ec_error_last()->message : "failed");
}

/* An actor running a call on another thread (an HTTP handler): work for it stays queued, in
 * its order, rather than hold up the work for every other actor. Under the runtime lock, or
 * with no other thread (then nobody else owns an actor). */
static int busy_elsewhere(const ec_actor *a)
{
    return a && a->owner && !ec_actor_mine(a);
}

static int held_for(const work *held, const char *id)
{
    for (; held; held = held->next)
        if (strcmp(held->to, id) == 0)
            return 1;
    return 0;
}

/* Wait up to ms for an actor to be let go, the runtime lock given up meanwhile. */
static void wait_actor_free(ec_runtime *rt, uint64_t ms)
{
    if (atomic_load_explicit(&rt->lock.owner, memory_order_relaxed) != &exec_self) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        return;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    uint64_t ns = (uint64_t)until.tv_nsec + ms * 1000000u;
    until.tv_sec += (time_t)(ns / 1000000000u);
    until.tv_nsec = (long)(ns % 1000000000u);
    ec_rt_lock_t *l = &rt->lock;
    unsigned n = l->count;
    atomic_store_explicit(&l->owner, NULL, memory_order_relaxed);
    pthread_cond_timedwait(&l->actor_free, &l->m, &until);
    atomic_store_explicit(&l->owner, &exec_self, memory_order_relaxed);
    l->count = n;
}

/* Put the work set aside (rt->held) back at the head of the queue, in front of whatever was
 * queued meanwhile or not yet looked at: it was queued before all of that. It was counted as
 * queued all along. Returns whether there was any. */
static int unhold(ec_runtime *rt)
{
    if (!rt->held)
        return 0;
    rt->held_tail->next = rt->queue;
    if (!rt->queue)
        rt->queue_tail = rt->held_tail;
    rt->queue = rt->held;
    rt->held = rt->held_tail = NULL;
    return 1;
}

int ec_runtime_run(ec_runtime *rt, uint64_t timeout_ms, size_t *pending_out)
{
    if (!rt)
        return ec_error_set(EC_EINVAL, "ec_runtime_run: NULL runtime");
    uint64_t deadline = mono_ns() + timeout_ms * 1000000u;
    /* Interrupted: nothing more is delivered (it would be refused); the queue stays. */
    while (!atomic_load_explicit(&rt->interrupted, memory_order_relaxed)) {
        /* Work for an actor busy on another thread, and any behind it for the same actor (its
         * order is kept), is set aside in rt->held, not in a list of this loop's own: it is
         * still queued, and a delivery below gives up the runtime lock while its actor runs,
         * when another thread's trap, stop or recovery may drop or mark queued work. */
        while (rt->queue && !atomic_load_explicit(&rt->interrupted, memory_order_relaxed)) {
            work *w = rt->queue;
            rt->queue = w->next;
            if (!rt->queue)
                rt->queue_tail = NULL;
            w->next = NULL;
            ec_actor *a = ec_runtime_lookup(rt, w->to);
            if (busy_elsewhere(a) || held_for(rt->held, w->to)) {
                if (rt->held_tail)
                    rt->held_tail->next = w;
                else
                    rt->held = w;
                rt->held_tail = w;
                continue;
            }
            rt->queued--;
            rt->queued_bytes -= w->body_len;
            deliver(rt, a, w);
            work_free(w);
        }
        /* Interrupted as well: in front of the rest of the queue, which was not looked at. */
        int held = unhold(rt);
        uint64_t now = mono_ns();
        if (rt->timers && rt->timers->due_ns <= now) {
            work *w = rt->timers;
            rt->timers = w->next;
            rt->ntimers--;
            w->next = NULL;
            enqueue(rt, w);
            continue;
        }
        if (now >= deadline || (!held && !rt->timers))
            break;
        uint64_t until =
            rt->timers && rt->timers->due_ns < deadline ? rt->timers->due_ns : deadline;
        if (held) {
            uint64_t ms = (until - now) / 1000000u;
            wait_actor_free(rt, ms < 1 ? 1 : ms > 10 ? 10 : ms);
            continue;
        }
        struct timespec ts = {(time_t)((until - now) / 1000000000u),
                              (long)((until - now) % 1000000000u)};
        nanosleep(&ts, NULL);
    }
    if (pending_out) {
        size_t n = 0;
        for (work *w = rt->timers; w; w = w->next)
            n++;
        *pending_out = n;
    }
    return 0;
}

int64_t ec_runtime_next_wake_ms(ec_runtime *rt)
{
    int held = 0;
    for (int list = 0; list < 2; list++)
        for (work *w = list ? rt->queue : rt->held; w; w = w->next) {
            if (!busy_elsewhere(ec_runtime_lookup(rt, w->to)))
                return 0;
            held = 1;
        }
    int64_t ms = -1;
    if (rt->timers) {
        uint64_t now = mono_ns();
        ms = rt->timers->due_ns <= now ? 0
                                       : (int64_t)((rt->timers->due_ns - now + 999999u) / 1000000u);
    }
    /* Only work for actors busy on other threads: look again soon. */
    return held && (ms < 0 || ms > 5) ? 5 : ms;
}
