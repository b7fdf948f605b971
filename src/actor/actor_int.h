/* actor/actor_int.h: the actor layer's private types: the runtime, its actors, loaded
 * modules, the work queue, and the functions module.c, host.c and runtime.c share. */
#ifndef EVCHAIN_ACTOR_INT_H
#define EVCHAIN_ACTOR_INT_H

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include "actor/wasm_tls.h" /* before <wasm-rt.h>: its call depth per thread */
#include <wasm-rt.h>

#include <evchain/actor.h>
#include "actor/cbor.h"

/* Compile-time limits of the wasm2c pipeline. The host's copy of the wasm2c runtime and every
 * compiled module must agree on them (layer.cmake passes the same values). */
#ifndef EC_WASM_MAX_CALL_DEPTH
#error "EC_WASM_MAX_CALL_DEPTH must come from src/actor/layer.cmake"
#endif

/* ABI error codes returned (negative) by host functions: docs/ABI.md section 2. */
enum {
    ABI_OK = 0,
    ABI_EINVAL = -1, /* malformed argument (bad name, bad path syntax) */
    ABI_ENOTFOUND = -2,
    ABI_EDENIED = -3, /* refused by policy: sandbox, allow-list, not your child */
    ABI_ETOOBIG = -4, /* output buffer too small or message over the limit */
    ABI_EBUSY = -5,   /* target actor is on the call stack or not running */
    ABI_EIO = -6,
    ABI_ESTATE = -7, /* not valid now (reply outside a request...) */
};

/* One compiled module, shared by every actor running it. */
typedef struct ec_module {
    uint8_t sha[32];
    char hex[65];
    char *path; /* where it was loaded from (for errors and child lookups) */
    void *dl;
    size_t inst_size;
    void (*instantiate)(void *inst, void *env);
    void (*free_inst)(void *inst);
    wasm_rt_memory_t *(*memory)(void *inst);
    uint32_t (*ex_alloc)(void *, uint32_t);
    uint32_t (*ex_init)(void *, uint32_t, uint32_t);
    uint32_t (*ex_message)(void *, uint32_t, uint32_t);
    uint32_t (*ex_request)(void *, uint32_t, uint32_t);
    uint32_t (*ex_timer)(void *, uint64_t);
    uint32_t (*ex_child)(void *, uint32_t, uint32_t, uint32_t);
    uint32_t (*ex_http)(void *, uint32_t, uint32_t);
    uint32_t initial_pages, max_pages;
    uint32_t call_depth; /* the module's own limit (module.c), at most EC_WASM_MAX_CALL_DEPTH */
    int refs;
    struct ec_module *next;
} ec_module;

#include "actor/wasm_check.h"

/* Work queued for delivery by ec_runtime_run. */
typedef enum work_kind { WORK_MESSAGE, WORK_TIMER, WORK_CHILD } work_kind;
typedef struct work {
    work_kind kind;
    char *to;      /* actor id */
    char *from;    /* sender id (messages), child name (notices) */
    uint8_t *body; /* message body / child name */
    size_t body_len;
    uint8_t link[32]; /* hash of the causing event (send, timer/set, child's last event) */
    size_t link_len;
    uint64_t tag;    /* timer tag */
    uint32_t event;  /* child notice: 1 trapped, 2 stopped */
    uint64_t due_ns; /* timers: monotonic due time */
    /* A message sent in a call that an automatic recovery abandoned (replay.c): dropped at
     * delivery, recorded (message/dropped), as a timer set there is cancelled. 1: in a line a
     * recovery abandoned; 2: queued again by a recovery (requeue.c) from a call of its
     * sender's live line that did not complete (trapped, or cut short: abandoned by the
     * sender's own recovery). */
    int abandoned;
    struct work *next;
} work;

/* A thread's part in the runtime (runtime.c), one per thread: the actor it waits to own, read
 * by other threads under the runtime lock to find a wait that would close a cycle, and its
 * nesting of executor calls. */
typedef struct ec_exec_thread {
    struct ec_actor *waiting_for;
    int depth;
} ec_exec_thread;

/* The runtime lock (runtime.c). Every read or write of runtime state (actors, their chains,
 * the queue and timers, modules, the store) is made holding it; wasm code runs without it,
 * so that actors run in parallel on different threads, and each host call takes it back.
 * Recursive, with its count kept here so that the executor can give it up entirely around a
 * call and take it back as it was. owner: the holder's ec_exec_thread (atomic: a thread
 * compares it to itself without holding the mutex). */
typedef struct ec_rt_lock {
    pthread_mutex_t m;
    pthread_cond_t actor_free; /* broadcast when an actor is left by its owning thread */
    _Atomic(ec_exec_thread *) owner;
    unsigned count;
} ec_rt_lock_t;

struct ec_actor {
    struct ec_runtime *rt;
    /* The thread running or about to run a call into this actor (NULL: none), and how many
     * times it took it (nested: on_http, then the executor). Only that thread calls into
     * the actor or appends to its chain; others wait (ec_actor_acquire). Under the lock. */
    ec_exec_thread *owner;
    unsigned owned;
    char *id;
    char *dir; /* <data>/actors/<id> */
    char *fs_root;
    /* What its spawn made in the data directory (runtime.c, MADE_*): removed again when the
     * spawn fails before its ec_init ran, so that the name can be spawned there again. */
    unsigned made;
    int fs_fd; /* the sandbox directory, opened once; every path resolves beneath it */
    ec_module *mod;
    void *inst; /* wasm2c instance, NULL when not running */
    wasm_rt_memory_t *mem;
    ec_chain *chain;
    int unlocked_wait;   /* its appends wait for durability without the runtime lock (open_chain) */
    int wait_each;       /* `always`: every append waits for its own sync; none is deferred */
    int deferring;       /* a served HTTP request runs: its appends return at commit (http_actor.c
                            defer_begin), so an effect waits for durability itself (ec_actor_sync) */
    ec_checkpointer *cp; /* signs checkpoints of chain; NULL when the runtime has no signer */
    ec_actor_state state;
    char reason[256];
    struct ec_actor *parent; /* NULL for top-level actors */
    char *child_name;        /* name under the parent */
    uint8_t *args;
    size_t args_len;
    char **env_allow;
    size_t env_allow_count;
    uint64_t fuel;
    /* The interrupt the fuel hook checks (host.c): &rt->interrupted for a live call, a flag
     * never set for a replayed one (exec_owned sets it per call; the owning thread alone
     * reads it). Next to fuel: the hook touches one cache line. */
    const atomic_int *interrupt;
    /* fuel_start - fuel: the units the current call has used. fuel_interrupts (replay):
     * running out of fuel is the recorded interruption (ec_replay_arm_interrupt), whose
     * trap the hook makes instead of "out of fuel". trap_interrupted, trap_fuel: set by the
     * hook when it ends a call as interrupted, read by the executor to record it. */
    uint64_t fuel_start, trap_fuel;
    int fuel_interrupts, trap_interrupted;
    uint64_t written;   /* fs_write and store_put bytes so far, against rt->write_budget */
    int on_stack;       /* a call into this actor is running: no re-entry, no stop */
    int stop_requested; /* shutdown() called, or stopped while busy: stop after the call */
    int stop_notify;    /* with stop_requested: tell the parent (not for a supervisor's stop) */
    char *stop_reason;
    int in_request; /* inside ec_handle_request: msg_reply allowed */
    uint8_t *reply;
    size_t reply_len;
    int replied;
    uint8_t reply_hash[32];
    /* Set by a host function before wasm_rt_trap so that the recorded trap says why. */
    char host_trap[200];
    struct ec_actor_http *http; /* http_actor.c: its server and the reply being built */
    /* Inside ec_handle_http (set by the executor, live or in a replay): http_respond allowed,
     * once; http_responded says it was. */
    int in_http, http_responded;
    /* The seq of the request event of the last host call this actor made (host.c): its result
     * need not follow it directly (ABI.md section 8: a late refusal may come between). */
    uint64_t host_request_seq;
    uint32_t recoveries;           /* automatic recoveries after a trap so far (replay.c) */
    uint32_t calls_since_snapshot; /* snapshot.c */
    /* The timers pending in the chain's live line: each timer/set whose result is 0 and whose
     * delivery (a wasm/call from @timer linking it) has not been recorded, by seq. Kept from
     * the events alone, the same live and in a replay, so that a snapshot carries them and a
     * recovery re-arms them without reading the chain back (ec_ptimer_*). ptimers_unknown:
     * restored from a version 1 snapshot, which did not carry them. */
    struct ec_ptimer {
        uint64_t seq;
        uint8_t hash[EC_HASH_MAX];
        uint8_t hl;
    } * ptimers;
    size_t nptimers, ptimers_cap;
    int ptimers_unknown;
};

struct ec_runtime {
    ec_rt_lock_t lock;
    char *data_dir, *cache_dir;
    ec_chain_store chain_store;
    ec_durability durability;
    ec_hash_alg alg;
    uint64_t fuel;
    /* ec_runtime_interrupt: set once, never cleared. Running calls trap at their next fuel
     * point, no new call starts (exec_owned), queued work stays queued (ec_runtime_run). */
    atomic_int interrupted;
    uint32_t memory_pages, max_message;
    int quiet;
    int sync_effects;
    int (*backend_new)(ec_backend **out, const char *actor_id, const char *chain_dir, void *ctx);
    void *backend_ctx;
    ec_memory_options mem_hint;
    ec_actor **actors;
    size_t nactors, cap;
    ec_module *modules;
    /* Work to deliver, in order. ec_runtime_run takes it from the head; work for an actor
     * running a call on another thread is set aside in held (in its order, all of it before
     * anything in queue) while the rest is delivered, and put back at the head of queue
     * before ec_runtime_run waits or returns. Held work is still queued: queued and
     * queued_bytes count both lists, and whatever looks at queued work (a trap's or stop's
     * drop, a recovery's abandon and re-arm, next_wake, free) looks at held, then queue. */
    work *queue, *queue_tail, *held, *held_tail;
    size_t queued, ntimers, max_queue;       /* floods are refused, not memory bombs */
    uint64_t queued_bytes, max_queued_bytes; /* bodies in held and queue, and their cap */
    uint64_t max_memory_pages;               /* all actors' memory caps together */
    size_t dropped_external;                 /* messages from outside dropped (recorded) */
    /* What ec_runtime_recover queued again from the chains (requeue.c): to deliver, and to
     * record as dropped (ec_runtime_recovered_messages). */
    size_t requeued_deliver, requeued_drop;
    size_t max_actors;
    uint64_t write_budget;
    ec_signer *signer; /* borrowed; NULL: no checkpoints */
    uint64_t cp_every_events, cp_every_ns, cp_keep;
    work *timers; /* sorted by due_ns */
    char *store_dir;
    struct ec_http_rt *http; /* http_actor.c: the runtime lock, servers, client allow-list */
    /* Set while the runtime replays a chain (replay.c): every event is checked against the
     * recorded one and every host call answered from the chain, with no effect. */
    struct ec_replay_state *replay;
    /* In a replay, a directory (borrowed) where each snapshot taken again is written under
     * its SHA-256, its hash then checked against the chain like any other: an import
     * (bundle.c) rebuilds the snapshots a bundle does not carry. NULL: none kept. */
    const char *snapshot_keep;
    uint32_t recover_max;    /* automatic recoveries per actor after a trap (0: none) */
    uint32_t snapshot_every; /* a state/snapshot every N calls into an actor (0: none) */
};

/* module.c */
int ec_module_load(ec_runtime *rt, const char *path, ec_module **out, int *compiled);
/* ec_module_load of a replay's module: want_sha (NULL: any module, no check) is the SHA-256
 * its chain names (EC_EDENIED otherwise) and want_depth the call depth it was recorded with
 * (EC_EUNSUPPORTED otherwise), both checked before anything is compiled or written. */
int ec_module_load_as(ec_runtime *rt, const char *path, const uint8_t *want_sha,
                      uint64_t want_depth, ec_module **out, int *compiled);
/* The module cache (docs/ABI.md section 7): ec_cache_dir_check refuses (EC_EDENIED, saying
 * why and what to do) a cache directory owned by another user (root aside) or writable by
 * its group or others; one that does not exist passes. ec_cache_dir_make makes it (0700,
 * its parents as mkdir -p does) when it does not exist, then checks it. */
int ec_cache_dir_check(const char *dir);
int ec_cache_dir_make(const char *dir);
/* Where m's compiled object is (or goes) in rt's cache. */
int ec_module_cache_path(const ec_runtime *rt, const ec_module *m, char *out, size_t n);
void ec_module_release(ec_runtime *rt, ec_module *m);
void ec_module_free_all(ec_runtime *rt);

/* runtime.c: the runtime lock (struct ec_rt_lock). drop: give it up entirely if this thread
 * holds it, returning how many times it was taken (0: not held); restore: hold it exactly n
 * times again (whatever a trap unwound past). */
void ec_rt_lock(ec_runtime *rt);
void ec_rt_unlock(ec_runtime *rt);
unsigned ec_rt_lock_drop(ec_runtime *rt);
void ec_rt_lock_restore(ec_runtime *rt, unsigned n);
int ec_rt_lock_mine(ec_runtime *rt); /* this thread holds it */
/* Own actor a for this thread (nested: counted), waiting while another thread owns it.
 * EC_EDENIED, without waiting, when that wait would close a cycle (the owner waits, directly
 * or through others, for an actor this thread owns). Takes the runtime lock itself. */
int ec_actor_acquire(ec_actor *a);
void ec_actor_release(ec_actor *a);
/* This thread owns a (and is therefore the only one to call into it or append to it). */
int ec_actor_mine(const ec_actor *a);

/* replay.c: in a replay, when the next recorded event of the call being replayed is an
 * interrupted wasm/trap (one with `fuel`), give the call exactly the fuel it had used there,
 * so that it traps at that same point (a->fuel_interrupts). Called once the call starts and
 * after every event it makes. */
void ec_replay_arm_interrupt(ec_actor *a);
/* The flag a replayed call's fuel hook reads: never set. */
extern const atomic_int ec_never_interrupted;

/* runtime.c: the executor. Every call into an actor goes through exec_call. */
int ec_actor_record(ec_actor *a, const char *type, const cbuf *payload, uint8_t *hash_out);
/* The same, giving the event's seq (taken at the append: other threads may append to the chain
 * as soon as the lock is dropped, http_actor.c on_late). */
int ec_actor_record_seq(ec_actor *a, const char *type, const cbuf *payload, uint8_t *hash_out,
                        uint64_t *seq_out);
/* Before an effect leaves the actor: make everything recorded so far durable where an append
 * may have returned before (sync_effects; a served request's deferred appends); else no-op. */
int ec_actor_sync(ec_actor *a);
int ec_exec_call(ec_actor *a, int fn, const void *input, size_t in_len, uint64_t arg,
                 const char *from, const uint8_t *link, size_t link_len, int32_t *ret);
enum { FN_INIT, FN_MESSAGE, FN_REQUEST, FN_TIMER, FN_CHILD, FN_HTTP };
ec_actor *ec_runtime_lookup(ec_runtime *rt, const char *id);
int ec_actor_spawn_child(ec_actor *parent, const char *module, const char *name, const void *args,
                         size_t args_len, int *abi_err);
int ec_actor_stop(ec_actor *a, const char *reason, int notify);
int ec_actor_restart(ec_actor *a);
int ec_queue_message(ec_runtime *rt, const char *to, const char *from, const void *body, size_t len,
                     const uint8_t *link, size_t link_len);
int ec_queue_timer(ec_runtime *rt, const char *to, uint64_t delay_ms, uint64_t tag,
                   const uint8_t *link, size_t link_len);
/* A timer a recovery puts back (replay.c): the hash of its timer/set event (the link its
 * delivery records), its tag, and the time left until it is due (ns, from now). */
typedef struct ec_timer_arm {
    uint8_t link[EC_HASH_MAX];
    size_t link_len;
    uint64_t tag, left_ns;
} ec_timer_arm;
/* After a recovery of actor `to` (docs/ABI.md section 7): remove its queued timers whose link
 * is in drop (set in the abandoned line), then queue each of arm in order unless a timer with
 * its link is queued already (a timer is never queued twice) or dropped. All or nothing:
 * EC_EDENIED when the result would hold more than max_queue pending timers, EC_ENOMEM; the
 * queue is then unchanged. Refused while rt->replay is set: a replay queues nothing. */
int ec_timers_rearm(ec_runtime *rt, const char *to, const ec_timer_arm *drop, size_t ndrop,
                    const ec_timer_arm *arm, size_t narm);
/* After a recovery of actor `from`: mark its messages still queued whose link (their
 * message/send event) is one of sends[n] (sent in the abandoned line; only link is used), so
 * that their delivery records message/dropped instead of calling the receiver. */
void ec_messages_abandon(ec_runtime *rt, const char *from, const ec_timer_arm *sends, size_t n);
/* replay.c: one step back along a chain's live line (docs/ABI.md section 7) from seq q,
 * whose event is ev: to a marker's point, else q-1 (UINT64_MAX past event 0). */
int ec_live_prev(const ec_event *ev, uint64_t q, uint64_t *next);
/* requeue.c, for ec_runtime_recover: queue for actor a (about to go live on chain, at
 * chain_dir, from `point`) the messages actors of the data directory `data` sent it that
 * were accepted and that its chain neither delivers nor drops; those whose send is not in a
 * completed call of its sender's live line are queued to be recorded as dropped (work
 * .abandoned). All or nothing: EC_EDENIED past the queue's limits, EC_EVERIFY when a chain
 * of the data directory cannot be read; the queue is then as it was. */
int ec_recover_requeue(ec_actor *a, ec_chain *chain, const char *chain_dir, uint64_t point,
                       const char *data);
int ec_valid_id(const char *s, size_t n);
/* The pending-timer set of an actor (see struct ec_actor): add the timer/set at seq (hash
 * h), remove the one a delivery links, forget all (a fresh instance). */
int ec_ptimer_add(ec_actor *a, uint64_t seq, const uint8_t *h, size_t hl);
void ec_ptimer_delivered(ec_actor *a, const uint8_t *link, size_t link_len);
void ec_ptimer_reset(ec_actor *a);
/* The runtime's checkpoint retention (checkpoint_keep in ec_runtime_options and
 * ec_recover_options: 0 is the default, UINT64_MAX all) as ec_checkpointer_options.keep. */
static inline uint64_t ec_checkpoint_keep_of(uint64_t opt)
{
    return opt == 0 ? 1000 : opt == UINT64_MAX ? 0 : opt;
}

/* http_actor.c: HTTP for actors (docs/ABI.md section 8). new/free with the runtime (free
 * first of all: it stops the servers, whose handlers take the runtime lock). */
int ec_http_rt_new(ec_runtime *rt);
void ec_http_rt_free(ec_runtime *rt);
/* The two HTTP imports, called from host.c. check: refuse (a negative ABI code) what depends
 * only on the actor's arguments and call state, before anything is recorded; effect: the
 * part between the request event and the result event (out is malloc'd, given to host.c). */
typedef struct ec_host_out {
    int64_t ret;
    uint8_t *out;
    size_t out_len;
    char error[200];
} ec_host_out;
int ec_http_request_check(ec_actor *a, const uint8_t *p, size_t n);
void ec_http_request_effect(ec_actor *a, const uint8_t *p, size_t n, ec_host_out *o);
int ec_http_respond_check(ec_actor *a, const uint8_t *p, size_t n);
void ec_http_respond_effect(ec_actor *a, const uint8_t *p, size_t n, ec_host_out *o);
/* runtime.c, for replay.c: create an actor (actor/start recorded, instance made) without
 * running its ec_init; the replay drives every call from the chain. */
int ec_actor_create(ec_runtime *rt, ec_module *mod, const char *id, ec_actor *parent,
                    const char *child_name, const void *args, size_t args_len,
                    const char *const *env, size_t nenv, ec_actor **out);

/* replay.c: the replay hooks. ec_replay_record stands in for the append of every event while
 * rt->replay is set; ec_replay_answer stands in for a host call's effect and result event: it
 * checks the recorded `<type>.result`, copies its `out` into the actor's memory and gives its
 * `ret`. Both return non-zero (with the divergence noted) to stop the replay. */
ec_chain *ec_replay_target(ec_runtime *rt);
/* After a trap (runtime.c): rebuild the actor at its last wasm/result by replay and record
 * runtime/recovered, when rt->recover_max allows. 0 when it is running again. */
int ec_actor_recover_in_place(ec_actor *a);
int ec_replay_record(ec_actor *a, const char *type, const cbuf *payload, uint8_t *hash_out);
struct ec_replay_options;
struct ec_replay_report;
/* ec_actor_replay, writing every snapshot the replay takes again (state/snapshot) into
 * snapshot_dir as <sha256> (rt->snapshot_keep); for bundle.c. */
int ec_actor_replay_keeping(ec_chain *chain, const struct ec_replay_options *opts,
                            const char *snapshot_dir, struct ec_replay_report *out);
/* The unsigned integer `key` of the recorded event at the replay's cursor when it is of
 * `type` (0), else -1: what a snapshot retaken in a replay must match (its size). */
int ec_replay_recorded_uint(ec_actor *a, const char *type, const char *key, uint64_t *out);
int ec_replay_answer(ec_actor *a, const char *rtype, uint32_t out_ptr, uint32_t out_cap,
                     int64_t *ret);
/* snapshot.c: encode an actor's memory and globals (taken after event seq), restore them into
 * a fresh instance of the same module, record a state/snapshot now (stored unless in a
 * replay), and the executor's hook after each wasm/result (every rt->snapshot_every calls). */
int ec_snapshot_encode(ec_actor *a, uint64_t seq, uint8_t **out, size_t *len);

int ec_snapshot_restore(ec_actor *a, const uint8_t *p, size_t n);
uint64_t ec_snapshot_seq(const uint8_t *p, size_t n);
int ec_actor_snapshot_now(ec_actor *a);
int ec_actor_after_call(ec_actor *a);

/* module.c keeps a copy of each module it loads as <cache>/<sha256>.wasm, so that a replay
 * finds the module a chain names by its hash. */
void ec_module_keep_wasm(ec_runtime *rt, const uint8_t sha[32], const uint8_t *wasm, size_t len);

/* module.c: the first missing directory of a path, and the removal of empty directories up to
 * it: what a refused import or recovery made, taken back (rmdir only). */
void ec_path_first_missing(const char *path, char *top, size_t cap);
void ec_rmdir_up(const char *path, const char *top);

#endif
