/* evchain/actor.h: the WebAssembly actor runtime. Actors run from wasm2c-compiled modules in
 * one process; every call into an actor and every host call it makes is recorded in the
 * actor's own chain before it takes effect. The host interface is docs/ABI.md. */
#ifndef EVCHAIN_ACTOR_H
#define EVCHAIN_ACTOR_H

#include "chain.h"
#include "store.h"
#include "proof.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EC_ABI_VERSION 1

/* A runtime is driven by one thread at a time unless its lock (ec_runtime_lock) is held
 * around each call; its HTTP servers call into its actors from their own threads. Actors
 * run in parallel on those threads, each one call at a time (docs/ABI.md section 1).
 * Runtimes may live on different threads, and their wasm runs in parallel too. */
typedef struct ec_runtime ec_runtime;
typedef struct ec_actor ec_actor;

/* Where actor chains are kept. */
typedef enum ec_chain_store {
    EC_CHAIN_STORE_DISK = 0,   /* <data_dir>/actors/<id>/chain, the durable disk backend */
    EC_CHAIN_STORE_MEMORY = 1, /* in memory only (tests, benchmarks): lost at exit */
} ec_chain_store;

#define EC_RUNTIME_OPTIONS_VERSION 1
/* The largest memory_pages: one page short of wasm32's 4 GiB, whose byte size does not fit
 * the 32 bits the wasm2c runtime computes it in (a memory.grow to it would free the memory). */
#define EC_MEMORY_PAGES_MAX 65535u
typedef struct ec_runtime_options {
    unsigned version;
    const char *data_dir;       /* NULL: "./evchain-data" */
    const char *cache_dir;      /* compiled modules; NULL: <data_dir>/cache */
    ec_chain_store chain_store; /* default disk */
    ec_durability durability;   /* disk chains; default batch */
    ec_hash_alg alg;            /* new chains; 0: SHA-256 */
    uint64_t fuel;              /* per call into an actor; 0: 1e9 */
    uint32_t memory_pages;      /* per actor cap in 64 KiB pages, at most EC_MEMORY_PAGES_MAX
                                   (EC_EINVAL above it); 0: 256 (16 MiB) */
    uint32_t max_message;       /* bytes; 0: 1 MiB */
    int quiet;                  /* 1: do not echo actor log lines to stderr */
    /* Capacity hints for memory chains (see ec_memory_options); 0: grow as needed. */
    uint64_t memory_expected_events;
    size_t memory_expected_bytes;
    /* 1: instead of `durability`, sync an actor's chain before each effect that leaves the
     * actor (file, store, message, reply, log, supervision) and when it stops or traps; pure
     * host calls (time, random, reads) and calls into the actor are not synced on their own.
     * A crash can then lose only events whose consequences never left the process. */
    int sync_effects;
    /* When set, makes each actor's backend (instead of chain_store): a user's own storage, or
     * a test's instrumented one. chain_dir is where a disk chain would go. */
    int (*backend_new)(ec_backend **out, const char *actor_id, const char *chain_dir, void *ctx);
    void *backend_ctx;
    /* Messages and notices waiting for delivery, all actors together; a send beyond it is
     * refused (EBUSY to an actor, EC_EDENIED to ec_runtime_send). 0: 65536. */
    uint32_t max_queue;
    /* Actors in the runtime, children included: a spawn beyond it is refused. 0: 1024. */
    uint32_t max_actors;
    /* Bytes an actor may write (fs_write and store_put together, over its life): a disk
     * bomb is refused like a memory bomb. 0: 256 MiB. */
    uint64_t write_budget;
    /* Signed checkpoints of every actor chain (docs/FORMAT.md section 5): with a signer, each
     * actor keeps its chain's Merkle tree and signs a C2SP checkpoint every N events or T ns
     * (whichever comes first) and when it stops; disk chains write them to
     * <chain>/checkpoints/. The signer is borrowed: it must outlive the runtime. NULL: none. */
    ec_signer *checkpoint_signer;
    uint64_t checkpoint_every_events; /* 0: 100000 */
    uint64_t checkpoint_every_ns;     /* 0: 10 s */
    /* Numbered checkpoint files kept in each <chain>/checkpoints/: the newest N (`latest`
     * always stays). 0: 1000; UINT64_MAX: all. */
    uint64_t checkpoint_keep;
    /* Bytes of message bodies waiting for delivery, all actors together: a send that would
     * go past it is refused like one past max_queue (EBUSY to an actor, recorded; EC_EDENIED
     * to ec_runtime_send). 0: 256 MiB. */
    uint64_t max_queued_bytes;
    /* Linear memory the runtime's actors may reach together, in bytes, each counted at its
     * cap (the module's declared maximum, at most memory_pages): a spawn or restart that
     * would go past it is refused (EBUSY to a supervisor, EC_EDENIED to ec_runtime_spawn).
     * Checked only when an instance is made, so that memory.grow stays a function of the
     * actor's own limits (a replay reproduces it). 0: 4 GiB. */
    uint64_t max_memory_bytes;
} ec_runtime_options;
#define EC_RUNTIME_OPTIONS_INIT                                                                    \
    {                                                                                              \
        EC_RUNTIME_OPTIONS_VERSION, NULL, NULL, EC_CHAIN_STORE_DISK, EC_DURABLE_BATCH, 0, 0, 0, 0, \
            0, 0, 0, 0, NULL, NULL, 0, 0, 0, NULL, 0, 0, 0, 0, 0                                   \
    }

int ec_runtime_new(ec_runtime **out, const ec_runtime_options *opts);
/* Stops every running actor (recording actor/stop) and frees everything. */
void ec_runtime_free(ec_runtime *rt);
/* The stop of ec_runtime_free without the free: the HTTP servers stop (ec_runtime_stop_http),
 * then every running actor is stopped as ec_runtime_free stops it (what is queued for it
 * recorded as message/dropped, then actor/stop "runtime shutdown"), so that its chain holds
 * what it will hold once the runtime is freed while the actors, their chains and
 * ec_runtime_dropped_external can still be read. ec_runtime_free then stops nothing more.
 * Returns the first recording failure (every actor is stopped all the same). Not under
 * ec_runtime_lock. */
int ec_runtime_shutdown(ec_runtime *rt);

#define EC_ACTOR_OPTIONS_VERSION 1
typedef struct ec_actor_options {
    unsigned version;
    const char *id;   /* required: [A-Za-z0-9_.-], 1..64, not starting with '.' */
    const void *args; /* initial arguments given to ec_init, recorded in event 0 */
    size_t args_len;
    const char *const *env_allow; /* names the actor may read with env_get */
    size_t env_allow_count;
} ec_actor_options;
#define EC_ACTOR_OPTIONS_INIT                                                                      \
    {                                                                                              \
        EC_ACTOR_OPTIONS_VERSION, NULL, NULL, 0, NULL, 0                                           \
    }

/* Load (compiling once, cached by SHA-256), check the imports against ABI v1, instantiate,
 * record actor/start and call ec_init. A trap in ec_init is recorded and leaves the actor
 * trapped (returns 0: see ec_actor_state); a module that cannot run returns an error, and so
 * does an actor whose memory cap would take the runtime past max_memory_bytes (EC_EDENIED)
 * or whose ec_init could not be called (the runtime stopping): no actor is then left, nor
 * anything the spawn made in the data directory (a chain begun for it is removed again, so
 * that the id can be spawned there later; a memory chain, or one of backend_new, ends with
 * actor/stop "spawn failed: ..." instead). */
int ec_runtime_spawn(ec_runtime *rt, const char *module_path, const ec_actor_options *opts,
                     ec_actor **out);

typedef enum ec_actor_state {
    EC_ACTOR_RUNNING = 0,
    EC_ACTOR_STOPPED = 1,
    EC_ACTOR_TRAPPED = 2,
} ec_actor_state;
const char *ec_actor_state_name(ec_actor_state s);

/* 1 when the len bytes at id can name an actor (ec_actor_options.id): 1 to 64 characters of
 * A-Z a-z 0-9 _ - . not starting with '.'; 0 otherwise. */
int ec_actor_id_valid(const char *id, size_t len);

ec_actor *ec_runtime_find(ec_runtime *rt, const char *id);
const char *ec_actor_id(const ec_actor *a);
ec_actor_state ec_actor_get_state(const ec_actor *a);
/* Why the actor last trapped or stopped ("" when running). */
const char *ec_actor_reason(const ec_actor *a);
/* The actor's chain (owned by the runtime; valid until ec_runtime_free). */
ec_chain *ec_actor_chain(ec_actor *a);
/* Number of actors known to the runtime, and the i-th (spawn order). */
size_t ec_runtime_actor_count(const ec_runtime *rt);
ec_actor *ec_runtime_actor_at(ec_runtime *rt, size_t i);

/* Queue a message from outside the runtime (recorded in the receiver's chain with sender
 * "@external"). Delivered by ec_runtime_run. EC_ENOTFOUND no such actor; EC_EDENIED a body
 * over max_message or one that would take the queued bodies past max_queued_bytes, or an
 * actor that is stopped or trapped (refused, as a send from an actor is with EBUSY, rather
 * than dropped). A message accepted and then not delivered is recorded as message/dropped
 * (see ec_runtime_dropped_external). */
int ec_runtime_send(ec_runtime *rt, const char *to, const void *body, size_t len);
/* Stop an actor (recorded), as a supervisor or operator would. */
int ec_runtime_stop(ec_runtime *rt, const char *id, const char *reason);
/* Deliver queued work (messages, due timers, supervisor notices) until none is left, waiting
 * for pending timers for at most timeout_ms (0: do not wait). Work for an actor running a
 * call on another thread (an HTTP handler) stays queued, in its order, while the rest is
 * delivered, and is waited for like a timer. *pending_out (may be NULL) gets the number of
 * timers still pending. */
int ec_runtime_run(ec_runtime *rt, uint64_t timeout_ms, size_t *pending_out);
/* Messages sent with ec_runtime_send that were accepted but not delivered: their receiver
 * stopped or trapped first, has no ec_handle_message, or the message was otherwise dropped.
 * Each is recorded in the receiver's chain (message/dropped, docs/ABI.md section 6) and
 * reported on stderr; this is their count so far. */
size_t ec_runtime_dropped_external(const ec_runtime *rt);
/* Milliseconds until the next timer is due (0 when one is due or work can be delivered; at
 * most 5 while work waits for a busy actor), or -1 when nothing is pending: for a caller's
 * poll() loop. */
int64_t ec_runtime_next_wake_ms(ec_runtime *rt);

/* Interrupt the runtime, which is stopping (docs/ABI.md section 1, "Interrupting"): every
 * call into one of its actors running now ends at its next fuel point (a function entry or
 * loop head) with a trap recorded as interrupted (wasm/trap with reason "interrupted (runtime
 * stopping)" and the fuel the call had used, so that a replay reproduces it); no new call
 * starts (refused, nothing recorded) and ec_runtime_run delivers nothing more. It cannot be
 * undone: stop the runtime with ec_runtime_free. Safe from any thread and from a signal
 * handler (one atomic store), as long as rt is not freed meanwhile. */
void ec_runtime_interrupt(ec_runtime *rt);
/* 1 once ec_runtime_interrupt was called. */
int ec_runtime_interrupted(const ec_runtime *rt);

/* Compile a module into the cache without running it; *compiled_out (may be NULL) is 1 when
 * a compile happened, 0 when the cache already held it. */
int ec_runtime_prepare(ec_runtime *rt, const char *module_path, int *compiled_out);

/* Check the chains of a group of actors against each other (docs/ABI.md section 3): every
 * message, request, reply, timer and child-notice link must name an event of the right type
 * (addressed to the right actor) in the named actor's chain. Each chain should have been
 * verified on its own first. 0 when every link resolves, EC_EVERIFY with out->reason naming
 * the actor, the event and the link otherwise, EC_EFORMAT when a chain is not an actor
 * chain. Links to actors outside the group are counted in out->unresolved. */
typedef struct ec_links_result {
    uint64_t checked;    /* links that resolved */
    uint64_t unresolved; /* links (and, with ec_links_options.unaccounted, accepted
                          * messages) naming an actor whose chain was not given */
    size_t actor;        /* index of the chain with the first broken link */
    uint64_t seq;        /* its event */
    char reason[512];
} ec_links_result;
int ec_actor_check_links(ec_chain *const *chains, size_t n, ec_links_result *out);

/* A message its sender's chain says was accepted (a message/send whose message/send.result
 * has ret 0) and its receiver's chain does not account for: neither delivered (a wasm/call
 * linking it) nor recorded as message/dropped. The runtime records one or the other for
 * every accepted message (docs/ABI.md section 2) except when its process ends with the
 * message still queued (killed, crashed) or still runs; from the chains alone that is not
 * told apart from a receiver's chain whose tail was cut off after the delivery. */
typedef struct ec_links_unaccounted {
    size_t sender;           /* index of the sender's chain */
    uint64_t seq;            /* its message/send event */
    size_t receiver;         /* index of the receiver's chain */
    const char *sender_id;   /* valid during the callback only */
    const char *receiver_id; /* valid during the callback only */
} ec_links_unaccounted;

#define EC_LINKS_OPTIONS_VERSION 1
typedef struct ec_links_options {
    unsigned version;
    /* When set, every accepted message to an actor of the group must also be accounted for
     * in its receiver's chain: called once for each one that is not, in the order of the
     * chains given and of their seqs, once every link resolved (not when one is broken: the
     * call then returns EC_EVERIFY as without options). Accepted messages to actors outside
     * the group are counted in out->unresolved. NULL: sends are not checked. */
    void (*unaccounted)(void *ctx, const ec_links_unaccounted *u);
    void *ctx;
} ec_links_options;
#define EC_LINKS_OPTIONS_INIT                                                                      \
    {                                                                                              \
        EC_LINKS_OPTIONS_VERSION, NULL, NULL                                                       \
    }
/* ec_actor_check_links with options (NULL: the same as ec_actor_check_links). Returns 0 when
 * every link resolves, unaccounted messages or not: they go to opt->unaccounted. */
int ec_actor_check_links_opts(ec_chain *const *chains, size_t n, const ec_links_options *opt,
                              ec_links_result *out);

/* ---- HTTP (docs/ABI.md section 8, docs/HTTP.md) ---- */

/* The runtime's lock. HTTP servers call into actors from their own threads, taking it; while
 * any actor serves HTTP, a caller driving the runtime (ec_runtime_send, ec_runtime_run,
 * ec_runtime_stop...) holds it around each call. Recursive. A call into an actor gives it
 * up while the wasm runs (other threads' actors run meanwhile) and takes it back as it was.
 * Never hold it around ec_runtime_free (which stops the servers and waits for their
 * handlers). */
void ec_runtime_lock(ec_runtime *rt);
void ec_runtime_unlock(ec_runtime *rt);

/* Hosts every actor of the runtime may reach with http_request (docs/HTTP.md section 2 gives
 * the entry syntax); copied. timeout_ms: per request (0: 10 s). Call before spawning. */
int ec_runtime_http_allow(ec_runtime *rt, const char *const *hosts, size_t n, unsigned timeout_ms);

#define EC_ACTOR_HTTP_OPTIONS_VERSION 1
typedef struct ec_actor_http_options {
    unsigned version;
    const char *bind_address; /* IPv4 or IPv6 literal; NULL: 127.0.0.1 */
    unsigned port;            /* 0: ephemeral (see *port_out) */
    size_t body_limit;        /* request bodies over it get 413; 0: 1 MiB */
    unsigned timeout_ms;      /* arrival to reply, then 504; 0: 10 s */
    unsigned max_connections; /* 0: 1024 (docs/HTTP.md section 1) */
} ec_actor_http_options;
#define EC_ACTOR_HTTP_OPTIONS_INIT                                                                 \
    {                                                                                              \
        EC_ACTOR_HTTP_OPTIONS_VERSION, NULL, 0, 0, 0, 0                                            \
    }

/* Serve HTTP for actor a (which must export ec_handle_http): each request is recorded as
 * http/request, handed to the actor, and its http_respond answer sent once recorded (and,
 * on a durable chain, once durable). One server per actor. *port_out (may be NULL): the
 * port bound. The server stops with the runtime. */
int ec_actor_serve_http(ec_actor *a, const ec_actor_http_options *opts, unsigned *port_out);

/* Stop every actor's HTTP server now (ec_runtime_free otherwise does it): each stops
 * accepting, answers what waits 503, and is waited for until the request it is handling
 * ends, which ec_runtime_interrupt from another thread bounds. Not under ec_runtime_lock. */
void ec_runtime_stop_http(ec_runtime *rt);

/* Render an actor event's payload (deterministic CBOR, docs/ABI.md) as JSON. json_out is
 * malloc'd, NUL-terminated. EC_EUNSUPPORTED when event_type is not an actor event type,
 * EC_EFORMAT when the payload is not well-formed deterministic CBOR. */
int ec_payload_to_json(const char *event_type, const uint8_t *data, size_t len, char **json_out);
/* 1 when event_type names an actor event category (wasm/, fs/, message/...). */
int ec_payload_is_actor_type(const char *event_type, size_t len);

#ifdef __cplusplus
}
#endif
#endif
