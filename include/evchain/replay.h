/* evchain/replay.h: deterministic replay of an actor from its chain (docs/ABI.md section 7):
 * the actor runs again, every host call is answered from the chain, and every event it makes
 * is checked against the recorded one; plus recovery and migration built on it. */
#ifndef EVCHAIN_REPLAY_H
#define EVCHAIN_REPLAY_H

#include "actor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EC_REPLAY_OPTIONS_VERSION 2
typedef struct ec_replay_options {
    unsigned version;
    /* The module to run. NULL: <cache_dir>/<sha256>.wasm, the copy the runtime keeps of each
     * module it loads. A module whose SHA-256 differs from the chain's is refused unless
     * any_module is set (then actor/start and actor/restart are taken as recorded and the
     * replay shows where the new module behaves differently). */
    const char *module_path;
    const char *cache_dir; /* compiled modules; NULL: evchain-data/cache */
    int any_module;
    /* Reproduce events 0..until only (UINT64_MAX: the whole chain). */
    uint64_t until;
    /* 1: start from the newest state/snapshot before `until`, read from
     * <store_dir>/objects/<hash> and checked against its recorded hash, instead of event 0;
     * the events before it are copied as recorded, those after are replayed and checked. */
    int from_snapshot;
    const char *store_dir;
    /* Version 2. When set: the actor's linear memory where the replay stopped (at `until`,
     * even inside a call; at a divergence; or at the end of the chain), written to this file
     * atomically, byte k at wasm address k: to look at an actor's state at any event, such as
     * the one before its trap (`until` = trap_seq - 1 stops with the trap's memory). Nothing
     * is written when the actor had no instance there (stopped, or trapped before it). */
    const char *memory_out;
} ec_replay_options;
#define EC_REPLAY_OPTIONS_INIT                                                                     \
    {                                                                                              \
        EC_REPLAY_OPTIONS_VERSION, NULL, NULL, 0, UINT64_MAX, 0, NULL, NULL                        \
    }

/* What a replay found. On a divergence, expected_* is the recorded event at `seq` (type
 * "(end of chain)" when the actor went on past it) and actual_* what the replayed actor
 * produced there ("(idle)" when it made no event where the chain has one). */
typedef struct ec_replay_report {
    uint64_t events; /* events reproduced and identical (the replayed chain's count) */
    uint8_t head[EC_HASH_MAX];
    size_t head_len;
    int diverged;
    uint64_t seq;
    char *expected_type, *actual_type;
    uint8_t *expected_data, *actual_data;
    size_t expected_len, actual_len;
    char why[256];         /* one line: what differs */
    int trapped;           /* the replayed actor ended trapped */
    int cut;               /* the chain ends inside a call (cut short by a crash, or still
                              being written): reproduced up to its end */
    uint64_t trap_seq;     /* the seq of its last wasm/trap */
    uint64_t snapshot_seq; /* from_snapshot: the state/snapshot event started from, or UINT64_MAX */
    int memory_written;    /* memory_out was written: */
    uint64_t memory_at;    /* the state after this many events reproduced (inside the call of
                              the last of them when it is not a call's end) */
    uint64_t memory_len;   /* its size in bytes (64 KiB pages) */
    char memory_why[200];  /* memory_out given, nothing written: why */
} ec_replay_report;
void ec_replay_report_free(ec_replay_report *r);

/* Replay `chain` (an actor chain, event 0 actor/start). Returns 0 when every event was
 * reproduced identically (same type, payload, timestamp and hash), EC_EDIVERGE with the
 * report filled on the first divergence, another error when the replay cannot start (no
 * module, wrong module, not an actor chain). `replayed` (may be NULL) receives a chain the
 * events are written to; NULL: a memory chain, discarded. Nothing outside the process is
 * touched: no file, message, clock or randomness. */
int ec_actor_replay(ec_chain *chain, ec_chain *replayed, const ec_replay_options *opts,
                    ec_replay_report *out);

/* Recovery and migration: rebuild an actor by replaying its chain up to `to` (a call
 * boundary: a wasm/result event), record a marker (runtime/recovered, or runtime/migrated)
 * naming that point, and leave the actor running, live, in a new runtime that appends to the
 * same chain. Events between the point and the marker stay in the chain as an abandoned line
 * (docs/ABI.md section 7). Timers pending at the point are queued again (due when they were
 * due, or at once; EC_EDENIED, the chain unchanged, when they would exceed the runtime's
 * queue); the parent link does not survive: a recovered actor runs on its own. */
#define EC_RECOVER_OPTIONS_VERSION 3 /* versions 1 (up to checkpoint_keep) and 2 still read */
typedef struct ec_recover_options {
    unsigned version;
    const char *module_path; /* NULL: <cache>/<sha256>.wasm */
    const char *cache_dir;   /* NULL: <data_dir>/cache */
    const char *data_dir;    /* NULL: <chain_dir>/../../.. (the runtime's data directory) */
    uint64_t to;             /* UINT64_MAX: the chain's last wasm/result */
    int migrated;            /* 1: record runtime/migrated (evchain resume), else recovered */
    int quiet;               /* do not echo actor logs */
    int from_snapshot;       /* 1: rebuild from the newest snapshot before `to` (<data>/store) */
    /* Going on live, sign checkpoints of the chain as `evchain run` does (its tree kept in
     * <chain_dir>/proof/tree, catching up with the whole chain first). NULL: none. */
    ec_signer *checkpoint_signer;
    uint64_t checkpoint_every_events; /* 0: 100000 */
    uint64_t checkpoint_every_ns;     /* 0: 10 s */
    uint64_t checkpoint_keep;         /* numbered checkpoint files kept; 0: 1000; MAX: all */
    /* Version 2. When checkpoint_signer is NULL and this is set: called once the recovery goes
     * live (the replay went through, nothing written yet) to give the signer, into *out (the
     * caller's, kept until ec_runtime_free; NULL: none), or an error code, which refuses the
     * recovery as any other refusal. So a key made on first use (`evchain resume`'s
     * <data>/runtime.key) is not made by a recovery that is refused. */
    int (*checkpoint_signer_make)(void *ctx, ec_signer **out);
    void *checkpoint_signer_ctx;
    /* Version 3: the recovered runtime's queue limits (ec_runtime_options' max_queue and
     * max_queued_bytes; 0: their defaults, 65536 and 256 MiB). The timers re-armed and the
     * messages queued again count against them: past them, the recovery is refused as a whole
     * (EC_EDENIED) before anything is written. */
    size_t max_queue;
    uint64_t max_queued_bytes;
} ec_recover_options;
#define EC_RECOVER_OPTIONS_INIT                                                                    \
    {                                                                                              \
        EC_RECOVER_OPTIONS_VERSION, NULL, NULL, NULL, UINT64_MAX, 0, 0, 0, NULL, 0, 0, 0, NULL,    \
            NULL, 0, 0                                                                             \
    }

/* The runtime data directory that holds an actor chain directory (<data>/actors/<id>/chain),
 * into out (n bytes): the default data_dir of ec_runtime_recover. The path is resolved
 * (".", "chain" from inside the actor's directory, symbolic links), spelt as given when that
 * names the same directory. EC_EINVAL when the resolved directory is not
 * <something>/actors/<id>/chain, EC_ENOTFOUND when it does not exist. */
int ec_actor_data_dir_of(char *out, size_t n, const char *chain_dir);

/* *rt_out: the runtime holding the recovered actor (*actor_out), to be driven with
 * ec_runtime_send/ec_runtime_run and freed with ec_runtime_free. *marker_seq (may be NULL):
 * the seq of the marker. On a divergence returns EC_EDIVERGE with rep filled. A refused
 * recovery (a divergence, a damaged chain, another module, ...) leaves the chain, the data
 * directory and the cache as they were: a module another than the chain's is refused before
 * it is compiled, and what the replay compiled into the cache is removed again. The chain's
 * files stay byte-identical, a torn last record included: every refusal is decided on the
 * chain read-only (its writer lock held), and the writer's open, which cuts a torn last
 * record (never acknowledged), comes only once the recovery goes live (docs/ABI.md 7). Held
 * by another writer: EC_ELOCKED. */
int ec_runtime_recover(ec_runtime **rt_out, ec_actor **actor_out, const char *chain_dir,
                       const ec_recover_options *opts, ec_replay_report *rep, uint64_t *marker_seq);

/* What ec_runtime_recover put in the queue of the actor it brought live, besides its timers:
 * the messages actors of its data directory (itself included) sent it that were accepted and
 * that its chain neither delivers nor drops (still queued when the runtime that held them
 * ended: kill -9, a crash; docs/ABI.md section 7). *to_deliver (may be NULL): sent in a call
 * of the sender's live line that completed, delivered as any message; *to_drop (may be
 * NULL): sent in a call that did not complete or that a recovery abandoned, recorded as
 * message/dropped where they would have been delivered. 0 and 0 for any other runtime. */
void ec_runtime_recovered_messages(const ec_runtime *rt, size_t *to_deliver, size_t *to_drop);

/* Automatic recovery: when an actor of rt traps, rebuild it from its last good state (its
 * last wasm/result, by replay of its own chain), record runtime/recovered and keep it
 * running, at most max_per_actor times per actor; past that (or when the rebuild fails) the
 * trap takes its course: the actor stays trapped and its parent is told. 0 turns it off. */
int ec_runtime_set_recover(ec_runtime *rt, uint32_t max_per_actor);

/* Snapshots: an actor's linear memory and globals at a call boundary, stored in the
 * runtime's store (objects/<sha256>) and named by a state/snapshot event {seq, hash, size}.
 * ec_actor_snapshot takes one now (the actor must be running, between calls);
 * ec_runtime_set_snapshot_every takes one after every N calls into each actor (0: never). */
int ec_actor_snapshot(ec_actor *a);
int ec_runtime_set_snapshot_every(ec_runtime *rt, uint32_t calls);

/* Migration bundles (docs/FORMAT.md section 8). Export: one file with the actor's chain (its
 * records as stored), its module, the store objects and labels the chain used, and the files
 * and directories of its sandbox <data_dir>/actors/<id>/fs; data_dir NULL: the one holding
 * chain_dir; cache_dir NULL: <data_dir>/cache. Written atomically. A sandbox holding
 * anything but regular files and directories (a symlink: changed from outside the actor), or
 * a name or size a bundle cannot carry, is refused (EC_EDENIED, naming the path); so is an
 * object the actor had or a label it set that the store lacks or holds damaged (EC_EVERIFY,
 * naming it). Snapshots are not carried: the import rebuilds them. */
int ec_bundle_export(const char *chain_dir, const char *data_dir, const char *cache_dir,
                     const char *out_path);
/* Import into data_dir: every entry's digest, the file's digest, every sandbox name (the
 * rules of FORMAT.md section 8), every record of the chain, every object's hash, that every
 * object and label the chain needs is there (EC_EVERIFY) and none twice (EC_EFORMAT), and a
 * full replay of the chain with the bundled module are checked before anything is written;
 * then the actor appears as <data_dir>/actors/<id> with its sandbox in fs/ (its id into
 * id_out), the module (compiled) in the cache, the objects, the snapshots the replay took
 * again, and the labels in the store. An existing actor of that id, or a label naming
 * another object, is refused. Imports into one data_dir take turns (flock on it); a refused
 * one leaves nothing (not the directories it made). Bundle versions 1 and 2 are read. */
/* Check a bundle's bytes without importing: the digests, the entries (sandbox names
 * included; the objects and labels the chain needs, none twice), every record of the chain
 * (not the replay, which needs the module run). 0, EC_EFORMAT, EC_EVERIFY, or
 * EC_EUNSUPPORTED (a format version other than 1 and 2). */
int ec_bundle_check(const void *data, size_t len);
/* The chain a bundle file carries, after the checks of ec_bundle_check (not the replay), as
 * a memory chain for the caller to verify, prove against or free (ec_chain_free); its actor
 * id into id_out (may be NULL). EC_EVERIFY for a digest or a record that does not check,
 * EC_EFORMAT for a malformed bundle, EC_ENOTFOUND or EC_EIO when it cannot be read. */
int ec_bundle_open_chain(ec_chain **out, const char *bundle_path, char *id_out, size_t id_cap);
int ec_bundle_import(const char *bundle_path, const char *data_dir, const char *cache_dir,
                     char *id_out, size_t id_cap);

#ifdef __cplusplus
}
#endif
#endif
