/* tests/test_actor_util.h: what the actor tests share: paths of the built actors, a scratch
 * data directory, a runtime over memory chains, and reading an actor's chain back as
 * (type, JSON payload) pairs, and replaying a chain to check it is reproduced. */
#ifndef TEST_ACTOR_UTIL_H
#define TEST_ACTOR_UTIL_H

#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>
#include <evchain/replay.h>
#include "test.h"

static char t_data[256];

static inline const char *build_dir(void)
{
    const char *b = getenv("EVCHAIN_BUILD");
    return b && *b ? b : "build";
}

static inline const char *actor_path(const char *name)
{
    static char buf[8][512];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/actors/%s.wasm", build_dir(), name);
    return buf[i];
}

static inline int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static inline void scratch_begin(void)
{
    snprintf(t_data, sizeof t_data, "/tmp/evchain-actor-XXXXXX");
    if (!mkdtemp(t_data)) {
        perror("mkdtemp");
        exit(2);
    }
}

static inline void scratch_end(void)
{
    nftw(t_data, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A quiet runtime in the test's data folder, sharing the build's module cache across tests,
 * with whatever else o sets (its chains on disk unless it says otherwise). */
static inline ec_runtime *new_runtime_with(ec_runtime_options *o)
{
    char cache[512];
    snprintf(cache, sizeof cache, "%s/actor-cache", build_dir());
    o->data_dir = t_data;
    o->cache_dir = cache;
    o->quiet = 1;
    ec_runtime *rt = NULL;
    int rc = ec_runtime_new(&rt, o);
    o->cache_dir = NULL; /* copied; cache goes out of scope */
    return rc == 0 ? rt : NULL;
}

/* A runtime over memory chains. */
static inline ec_runtime *new_runtime(uint64_t fuel)
{
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
    o.chain_store = EC_CHAIN_STORE_MEMORY;
    o.fuel = fuel;
    return new_runtime_with(&o);
}

static inline ec_actor *spawn(ec_runtime *rt, const char *module, const char *id, const char *args)
{
    ec_actor_options o = EC_ACTOR_OPTIONS_INIT;
    o.id = id;
    o.args = args;
    o.args_len = args ? strlen(args) : 0;
    ec_actor *a = NULL;
    if (ec_runtime_spawn(rt, actor_path(module), &o, &a) != 0)
        return NULL;
    return a;
}

/* The n-th event of a chain whose type is `type` (n from 0), its payload as JSON in json
 * (malloc'd), its seq in *seq. -1 when there is none. */
static inline int find_event(ec_chain *c, const char *type, int n, char **json, uint64_t *seq)
{
    ec_iter *it;
    ec_event ev;
    if (ec_iter_new(&it, c, 0))
        return -1;
    int found = -1;
    while (ec_iter_next(it, &ev) == 0) {
        if (ev.type_len == strlen(type) && memcmp(ev.type, type, ev.type_len) == 0 && n-- == 0) {
            char t[128];
            snprintf(t, sizeof t, "%.*s", (int)ev.type_len, ev.type);
            if (json && ec_payload_to_json(t, ev.data, ev.data_len, json) != 0)
                break;
            if (seq)
                *seq = ev.seq;
            found = 0;
            break;
        }
    }
    ec_iter_free(it);
    return found;
}

/* Every payload decodes as deterministic CBOR, every type is an actor type, and the chain
 * verifies. Returns the number of events, or -1. */
static inline long check_chain(ec_chain *c)
{
    ec_iter *it;
    ec_event ev;
    long n = 0;
    if (ec_iter_new(&it, c, 0))
        return -1;
    while (ec_iter_next(it, &ev) == 0) {
        char t[128], *js = NULL;
        snprintf(t, sizeof t, "%.*s", (int)ev.type_len, ev.type);
        if (ec_payload_to_json(t, ev.data, ev.data_len, &js) != 0) {
            fprintf(stderr, "event %llu (%s) does not decode\n", (unsigned long long)ev.seq, t);
            ec_iter_free(it);
            return -1;
        }
        free(js);
        n++;
    }
    ec_iter_free(it);
    ec_verify_result vr;
    if (ec_chain_verify(c, NULL, &vr) != 0)
        return -1;
    return n;
}

/* The compiled-module cache the tests share (the build directory's). */
static inline const char *cache(void)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/actor-cache", build_dir());
    return dir;
}

/* Replay `c` into a memory chain and check it is the same chain: the same count, and at every
 * seq the same hash (hence the same type, payload, timestamp and parent). */
static inline int replay_identical(ec_chain *c, ec_replay_report *rep)
{
    ec_backend *be;
    ec_chain *out;
    ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
    co.alg = ec_chain_alg(c);
    if (ec_backend_memory(&be, NULL) || ec_chain_open(&out, be, &co))
        return -1;
    ec_replay_options o = EC_REPLAY_OPTIONS_INIT;
    o.cache_dir = cache();
    int rc = ec_actor_replay(c, out, &o, rep);
    if (rc) {
        if (rep->diverged)
            fprintf(stderr, "diverged at %llu: %s\n", (unsigned long long)rep->seq, rep->why);
        ec_chain_free(out);
        return rc;
    }
    int ok = ec_chain_count(out) == ec_chain_count(c) && rep->events == ec_chain_count(c);
    for (uint64_t s = 0; ok && s < ec_chain_count(c); s++) {
        ec_event a, b;
        ok = ec_chain_get(c, s, &a) == 0 && ec_chain_get(out, s, &b) == 0 &&
             a.hash_len == b.hash_len && memcmp(a.hash, b.hash, a.hash_len) == 0 &&
             a.timestamp == b.timestamp;
    }
    uint8_t h1[EC_HASH_MAX], h2[EC_HASH_MAX];
    uint64_t s1, s2;
    ok = ok && ec_chain_head(c, h1, &s1) == 0 && ec_chain_head(out, h2, &s2) == 0 && s1 == s2 &&
         memcmp(h1, h2, ec_hash_len(co.alg)) == 0 && memcmp(h1, rep->head, rep->head_len) == 0;
    ec_verify_result vr;
    ok = ok && ec_chain_verify(out, NULL, &vr) == 0;
    ec_chain_free(out);
    return ok ? 0 : -1;
}

#endif
