/* actor/snapshot.c: state snapshots (docs/ABI.md section 7): an actor's linear memory and
 * globals at a call boundary, stored in the content-addressed store and named by a
 * state/snapshot event, so that a replay or a resume can start there instead of at event 0. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <evchain/replay.h>

#include "core/internal.h"
#include "actor/actor_int.h"
#include "actor/snapshot.h"

int ec_mkdir_p(const char *path);

/* Version 2 added the pending timers after the memory; version 1 snapshots are still read
 * (their timers unknown: a recovery then reads them from the chain). */
static const uint8_t SNAP_MAGIC[8] = {'E', 'V', 'S', 'N', 'A', 'P', 0, 2};
#define SNAP_HEAD (8 + 32 + 8 + 4) /* magic, module, seq, globals length */

/* wasm2c (1.0.32) lays an instance out as: the environment pointer, every global in index
 * order, the memory descriptor, then tables. The ABI refuses imported globals, tables and
 * memories, so the bytes between the environment pointer and the memory descriptor are the
 * module's globals and nothing else: plain values, the same layout for the same compiled
 * module. Tables are not saved: MVP modules cannot change them after instantiation. */
static int globals_area(ec_actor *a, uint8_t **p, size_t *n)
{
    uint8_t *base = a->inst, *mem = (uint8_t *)a->mem;
    if (!base || mem < base + sizeof(void *) || mem > base + a->mod->inst_size)
        return ec_error_set(EC_EUNSUPPORTED, "actor %s: unexpected wasm2c instance layout", a->id);
    *p = base + sizeof(void *);
    *n = (size_t)(mem - *p);
    return 0;
}

int ec_snapshot_encode(ec_actor *a, uint64_t seq, uint8_t **out, size_t *len)
{
    uint8_t *g = NULL;
    size_t gl = 0;
    int rc = globals_area(a, &g, &gl);
    if (rc)
        return rc;
    size_t ml = a->mem->size, tl = 4;
    for (size_t k = 0; k < a->nptimers; k++)
        tl += 8 + 1 + a->ptimers[k].hl;
    size_t n = SNAP_HEAD + gl + 4 + ml + tl;
    uint8_t *p = malloc(n);
    if (!p)
        return ec_error_set(EC_ENOMEM, "actor %s: out of memory for a snapshot", a->id);
    memcpy(p, SNAP_MAGIC, 8);
    memcpy(p + 8, a->mod->sha, 32);
    ec_put_u64(p + 40, seq);
    ec_put_u32(p + 48, (uint32_t)gl);
    memcpy(p + SNAP_HEAD, g, gl);
    ec_put_u32(p + SNAP_HEAD + gl, a->mem->pages);
    memcpy(p + SNAP_HEAD + gl + 4, a->mem->data, ml);
    /* The pending timers, by seq (ascending): count, then seq, hash length, hash. */
    uint8_t *q = p + SNAP_HEAD + gl + 4 + ml;
    ec_put_u32(q, (uint32_t)a->nptimers);
    q += 4;
    for (size_t k = 0; k < a->nptimers; k++) {
        ec_put_u64(q, a->ptimers[k].seq);
        q[8] = a->ptimers[k].hl;
        memcpy(q + 9, a->ptimers[k].hash, a->ptimers[k].hl);
        q += 9 + a->ptimers[k].hl;
    }
    *out = p;
    *len = n;
    return 0;
}

/* The pending timers after the memory of a version 2 snapshot taken after seq: exactly the
 * rest of it, seqs ascending and before the snapshot, hashes of a known length. */
static int parse_timers(const uint8_t *p, size_t n, uint64_t seq, uint32_t *count_out)
{
    if (n < 4)
        return ec_error_set(EC_EFORMAT, "snapshot: no timer count after the memory");
    uint32_t count = ec_get_u32(p);
    size_t off = 4;
    uint64_t prev = 0;
    for (uint32_t k = 0; k < count; k++) {
        if (n - off < 9 || p[off + 8] == 0 || p[off + 8] > EC_HASH_MAX || n - off - 9 < p[off + 8])
            return ec_error_set(EC_EFORMAT, "snapshot: timer %u of %u truncated or malformed", k,
                                count);
        uint64_t ts = ec_get_u64(p + off);
        if (ts >= seq || (k && ts <= prev))
            return ec_error_set(EC_EFORMAT, "snapshot: timer %u: seq %llu out of order", k,
                                (unsigned long long)ts);
        prev = ts;
        off += 9 + p[off + 8];
    }
    if (off != n)
        return ec_error_set(EC_EFORMAT, "snapshot: %zu bytes after its timers", n - off);
    *count_out = count;
    return 0;
}

int ec_snapshot_parse(const uint8_t *p, size_t n, ec_snapshot_view *v)
{
    memset(v, 0, sizeof *v);
    if (n < SNAP_HEAD || memcmp(p, SNAP_MAGIC, 7) != 0 || (p[7] != 1 && p[7] != 2))
        return ec_error_set(EC_EFORMAT, "snapshot: bad magic");
    v->version = p[7];
    v->module = p + 8;
    v->seq = ec_get_u64(p + 40);
    uint32_t gl = ec_get_u32(p + 48);
    if (n - SNAP_HEAD < (uint64_t)gl + 4)
        return ec_error_set(EC_EFORMAT, "snapshot: globals of %u bytes in %zu", gl, n);
    v->globals = p + SNAP_HEAD;
    v->globals_len = gl;
    v->pages = ec_get_u32(p + SNAP_HEAD + gl);
    size_t after = n - SNAP_HEAD - gl - 4; /* the memory, then (version 2) the timers */
    uint64_t ml = (uint64_t)v->pages * 65536u;
    if (v->version == 1 ? ml != after : ml > after)
        return ec_error_set(EC_EFORMAT, "snapshot: %u pages, but %zu bytes of memory", v->pages,
                            after);
    v->memory = p + SNAP_HEAD + gl + 4;
    if (v->version == 1)
        return 0;
    v->timers = v->memory + ml;
    v->timers_len = after - (size_t)ml;
    return parse_timers(v->timers, v->timers_len, v->seq, &v->ntimers);
}

int ec_snapshot_restore(ec_actor *a, const uint8_t *p, size_t n)
{
    uint8_t *g = NULL;
    size_t gl = 0;
    int rc = globals_area(a, &g, &gl);
    if (rc)
        return rc;
    ec_snapshot_view v;
    if ((rc = ec_snapshot_parse(p, n, &v)))
        return rc;
    if (memcmp(v.module, a->mod->sha, 32) != 0)
        return ec_error_set(EC_EFORMAT, "snapshot: taken of another module");
    if (v.globals_len != gl)
        return ec_error_set(EC_EFORMAT, "snapshot: globals of %u bytes, the module has %zu",
                            v.globals_len, gl);
    if (v.pages < a->mem->pages)
        return ec_error_set(EC_EFORMAT, "snapshot: %u pages, fewer than at instantiation (%u)",
                            v.pages, a->mem->pages);
    if (v.pages > a->mem->pages &&
        wasm_rt_grow_memory(a->mem, v.pages - a->mem->pages) == UINT32_MAX)
        return ec_error_set(EC_EFORMAT, "snapshot: %u pages, over the memory cap", v.pages);
    ec_ptimer_reset(a);
    a->ptimers_unknown = v.version == 1;
    for (size_t k = 0, off = 4; k < v.ntimers; k++) { /* checked by ec_snapshot_parse */
        const uint8_t *t = v.timers + off;
        if ((rc = ec_ptimer_add(a, ec_get_u64(t), t + 9, t[8])))
            return rc;
        off += 9 + t[8];
    }
    memcpy(g, v.globals, gl);
    memcpy(a->mem->data, v.memory, (size_t)v.pages * 65536u);
    return 0;
}

/* The seq a snapshot was taken after. */
uint64_t ec_snapshot_seq(const uint8_t *p, size_t n)
{
    return n >= SNAP_HEAD ? ec_get_u64(p + 40) : UINT64_MAX;
}

/* Take a snapshot now (the actor is between calls): store it (live) and record state/snapshot
 * {seq, hash, size}. In a replay nothing is stored: the event is compared with the recorded
 * one, so a replayed state that differs from the recorded one is a divergence. */
int ec_actor_snapshot_now(ec_actor *a)
{
    if (a->state != EC_ACTOR_RUNNING || !a->inst || a->on_stack)
        return ec_error_set(EC_EINVAL, "actor %s: a snapshot needs a running actor between calls",
                            a->id);
    uint64_t count = ec_chain_count(a->chain);
    if (count == 0)
        return ec_error_set(EC_EINVAL, "actor %s: empty chain", a->id);
    uint8_t *p;
    size_t n;
    int rc = ec_snapshot_encode(a, count - 1, &p, &n);
    if (rc)
        return rc;
    /* Version 1 (no timers: the same bytes up to the memory) when the timers are unknown
     * (restored from a version 1 snapshot), and in a replay of a chain that recorded a
     * version 1 snapshot here (its size says so): old chains replay as they were. */
    size_t v1 = SNAP_HEAD + ec_get_u32(p + 48) + 4 + a->mem->size;
    uint64_t recorded;
    if (a->ptimers_unknown ||
        (a->rt->replay && ec_replay_recorded_uint(a, "state/snapshot", "size", &recorded) == 0 &&
         recorded == v1)) {
        p[7] = 1;
        n = v1;
    }
    uint8_t h[32];
    unsigned dl = 0;
    if (!EVP_Digest(p, n, h, &dl, EVP_sha256(), NULL)) {
        free(p);
        return ec_error_set(EC_ERROR, "snapshot: SHA-256 failed");
    }
    if (!a->rt->replay || a->rt->snapshot_keep) {
        /* Live: into the store. In a replay that keeps them (an import): into its directory,
         * where a snapshot whose hash is not the recorded one diverges just below and is
         * thrown away with the refused import. */
        char dir[4300], path[4400], hex[65];
        ec_hex_encode(hex, h, 32);
        if (a->rt->replay)
            snprintf(dir, sizeof dir, "%s", a->rt->snapshot_keep);
        else
            snprintf(dir, sizeof dir, "%s/objects", a->rt->store_dir);
        snprintf(path, sizeof path, "%s/%s", dir, hex);
        if (access(path, F_OK) != 0 &&
            ((rc = ec_mkdir_p(dir)) || (rc = ec_write_file_atomic(path, p, n)))) {
            free(p);
            return rc;
        }
    }
    free(p);
    uint8_t small[128];
    cbuf b;
    cb_init(&b, small, sizeof small);
    cb_map(&b, 3);
    cb_str(&b, "seq");
    cb_uint(&b, count - 1);
    cb_str(&b, "hash");
    cb_bytes(&b, h, 32);
    cb_str(&b, "size");
    cb_uint(&b, n);
    rc = ec_actor_record(a, "state/snapshot", &b, NULL);
    cb_free(&b);
    return rc;
}

int ec_actor_snapshot(ec_actor *a)
{
    if (!a)
        return ec_error_set(EC_EINVAL, "ec_actor_snapshot: NULL actor");
    if (a->rt->replay)
        return ec_error_set(EC_EINVAL, "ec_actor_snapshot: not during a replay");
    return ec_actor_snapshot_now(a);
}

int ec_runtime_set_snapshot_every(ec_runtime *rt, uint32_t calls)
{
    if (!rt)
        return ec_error_set(EC_EINVAL, "ec_runtime_set_snapshot_every: NULL runtime");
    rt->snapshot_every = calls;
    return 0;
}

/* runtime.c, after each wasm/result of a live call. */
int ec_actor_after_call(ec_actor *a)
{
    ec_runtime *rt = a->rt;
    if (rt->replay || !rt->snapshot_every || a->state != EC_ACTOR_RUNNING || a->stop_requested)
        return 0;
    if (++a->calls_since_snapshot < rt->snapshot_every)
        return 0;
    a->calls_since_snapshot = 0;
    return ec_actor_snapshot_now(a);
}
