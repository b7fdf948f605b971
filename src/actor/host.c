/* actor/host.c: the host interface (ABI v1, docs/ABI.md): every import an actor can call.
 * Each one checks its pointers against the actor's memory, then goes through host_call,
 * which records the request before any effect and the outcome after. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/internal.h"
#include "actor/actor_int.h"

typedef uint32_t u32;
typedef uint64_t u64;
struct Z_env_instance_t; /* wasm2c's name for the import environment: here, the ec_actor */
#define ACTOR(env) ((ec_actor *)(void *)(env))

/* ---- pointers ---- */

/* A pointer/length pair from the actor must lie inside its memory; otherwise the call ends
 * as a trap (recorded by the executor with this reason) before anything is recorded or
 * done. Nothing is allocated by a host function before its checks: the trap longjmps. */
static void chk(ec_actor *a, u32 ptr, u32 len, const char *fn, const char *arg)
{
    if ((u64)ptr + len > a->mem->size) {
        snprintf(a->host_trap, sizeof a->host_trap,
                 "host call %s given a bad pointer: %s [%u, +%u) outside memory of %u bytes", fn,
                 arg, ptr, len, a->mem->size);
        wasm_rt_trap(WASM_RT_TRAP_OOB);
    }
}

static const char *mp(ec_actor *a, u32 ptr)
{
    return (const char *)a->mem->data + ptr;
}

/* ---- the one path of every host call ---- */

typedef struct hresp {
    int64_t ret;
    const void *out; /* bytes for the actor, copied to its out pointer */
    size_t out_len;
    int has_out;
    void *heap;        /* freed after the call */
    uint8_t small[48]; /* small outputs (hashes, status) live here: no statics */
    char error[200];
    uint8_t link[EC_HASH_MAX];
    size_t link_len;
} hresp;

typedef void (*effect_fn)(ec_actor *a, void *ctx, const uint8_t *req_hash, size_t hash_len,
                          hresp *r);

static void fail(hresp *r, int64_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static void fail(hresp *r, int64_t code, const char *fmt, ...)
{
    va_list ap;
    r->ret = code;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    /* Recorded as a CBOR text string, which must be UTF-8: an actor's path need not be, and
     * the cut at the buffer's end may split a character. */
    ec_utf8_scrub(r->error);
}

static void trap_recording(ec_actor *a, const char *type)
{
    const ec_error *e = ec_error_last();
    snprintf(a->host_trap, sizeof a->host_trap, "%s: could not record: %s", type,
             e ? e->message : "failed");
    wasm_rt_trap(WASM_RT_TRAP_UNREACHABLE);
}

/* Host calls whose effect leaves the actor (another actor, the store, the sandbox, the
 * terminal, the network): their request, and everything before it, is made durable before
 * the effect where an append may return first: in sync_effects mode, and in a served HTTP
 * request, whose appends return at commit (ec_actor_sync). The rest only give the actor
 * values, recorded in its own chain; timer/set's effect is on the actor itself (a timer/fire
 * it records). (A served HTTP reply leaves later, once durable: http_actor.c's on_release.) */
static int is_effect(const char *type)
{
    static const char *const effects[] = {
        "runtime/log",        "store/put",       "store/label_set",    "fs/write",
        "fs/delete",          "message/send",    "message/request",    "message/reply",
        "supervisor/spawn",   "supervisor/stop", "supervisor/restart", "runtime/shutdown",
        "http/client-request"};
    for (size_t k = 0; k < sizeof effects / sizeof effects[0]; k++)
        if (strcmp(type, effects[k]) == 0)
            return 1;
    return 0;
}

/* Record mode: append the request event `type`, perform the effect, append `<type>.result`
 * with what the actor is given, then give it (out bytes into its memory, ret as the return
 * value). A replay mode replaces only the middle step: it reads the recorded request and
 * result, compares the request, and applies the recorded result. No value reaches the actor
 * any other way. */
static void fx_shutdown(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r);

static int64_t host_call_locked(ec_actor *a, const char *type, cbuf *req, effect_fn fx, void *ctx,
                                u32 out_ptr, u32 out_cap);

/* Under the runtime lock, which the wasm runs without (runtime.c): everything a host call
 * reads or changes may be shared with actors running on other threads. A trap on the way
 * leaves it held; the executor puts it back as it was. */
static int64_t host_call(ec_actor *a, const char *type, cbuf *req, effect_fn fx, void *ctx,
                         u32 out_ptr, u32 out_cap)
{
    ec_rt_lock(a->rt);
    int64_t ret = host_call_locked(a, type, req, fx, ctx, out_ptr, out_cap);
    ec_rt_unlock(a->rt);
    return ret;
}

static int64_t host_call_locked(ec_actor *a, const char *type, cbuf *req, effect_fn fx, void *ctx,
                                u32 out_ptr, u32 out_cap)
{
    uint8_t h[EC_HASH_MAX];
    size_t hl = ec_hash_len(ec_chain_alg(a->chain));
    int rc = ec_actor_record_seq(a, type, req, h, &a->host_request_seq);
    cb_free(req);
    if (rc)
        trap_recording(a, type);
    if ((a->rt->sync_effects || a->deferring) && is_effect(type) && ec_actor_sync(a))
        trap_recording(a, type);
    hresp r;
    memset(&r, 0, sizeof r);
    if (a->rt->replay) {
        /* No effect: the recorded result is the answer (replay.c). shutdown's only effect is
         * on the actor's own state (it stops after this call), so it is applied. */
        char rt2[96];
        snprintf(rt2, sizeof rt2, "%s.result", type);
        int64_t ret = 0;
        if (ec_replay_answer(a, rt2, out_ptr, out_cap, &ret))
            trap_recording(a, rt2);
        if (ret == 0 && fx == fx_shutdown)
            fx(a, ctx, h, hl, &r);
        return ret;
    }
    fx(a, ctx, h, hl, &r);
    if (r.has_out && r.out_len > out_cap) {
        fail(&r, ABI_ETOOBIG, "needs %zu bytes, buffer holds %u", r.out_len, out_cap);
        r.has_out = 0;
    }
    char rtype[96]; /* "<type>.result", without snprintf: this is the hot path */
    size_t tl = strlen(type);
    if (tl > sizeof rtype - 8)
        tl = sizeof rtype - 8;
    memcpy(rtype, type, tl);
    memcpy(rtype + tl, ".result", 8);
    uint8_t small[512];
    cbuf b;
    cb_init(&b, small, sizeof small);
    int has_err = r.ret < 0 && r.error[0];
    cb_map(&b, 1 + (size_t)r.has_out + (r.link_len ? 1 : 0) + (size_t)has_err);
    if (r.has_out) {
        cb_str(&b, "out");
        cb_blob(&b, r.out, r.out_len);
    }
    cb_str(&b, "ret");
    cb_int(&b, r.ret);
    if (r.link_len) {
        cb_str(&b, "link");
        cb_bytes(&b, r.link, r.link_len);
    }
    if (has_err) {
        cb_str(&b, "error");
        cb_str(&b, r.error);
    }
    rc = ec_actor_record(a, rtype, &b, NULL);
    cb_free(&b);
    if (rc) {
        free(r.heap);
        trap_recording(a, rtype);
    }
    if (r.has_out && r.out_len)
        memcpy(a->mem->data + out_ptr, r.out, r.out_len);
    free(r.heap);
    return r.ret;
}

static void req_init(cbuf *b, uint8_t *small, size_t n, size_t pairs)
{
    cb_init(b, small, n);
    cb_map(b, pairs);
}

/* ---- fuel ---- */

/* The call ends here as interrupted: the units it used so far are recorded with the trap
 * (runtime.c), so that a replay gives it exactly that much fuel and it traps at this same
 * point (ec_replay_arm_interrupt). */
static void interrupted_trap(ec_actor *a) __attribute__((noreturn, cold));
static void interrupted_trap(ec_actor *a)
{
    a->trap_interrupted = 1;
    a->trap_fuel = a->fuel_start - a->fuel;
    snprintf(a->host_trap, sizeof a->host_trap, "interrupted (runtime stopping)");
    wasm_rt_trap(WASM_RT_TRAP_UNREACHABLE);
}

/* Inserted by wasm-opt --log-execution at every function entry and loop head: the same count
 * on any engine, so running out is deterministic. Not recorded: it is a function of the
 * module and its inputs; running out is (a wasm/trap). The interrupt check is one relaxed
 * load of a flag that is almost never set: this runs at every loop iteration. */
void Z_envZ_log_execution(struct Z_env_instance_t *env, u32 where)
{
    ec_actor *a = ACTOR(env);
    (void)where;
    if (__builtin_expect(atomic_load_explicit(a->interrupt, memory_order_relaxed), 0))
        interrupted_trap(a);
    if (a->fuel-- == 0) {
        a->fuel = 0;
        if (a->fuel_interrupts) /* a replay, at the recorded interruption */
            interrupted_trap(a);
        snprintf(a->host_trap, sizeof a->host_trap, "out of fuel (%llu units per call)",
                 (unsigned long long)a->rt->fuel);
        wasm_rt_trap(WASM_RT_TRAP_UNREACHABLE);
    }
}

/* ---- runtime ---- */

static void fx_log(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    const u32 *pl = ctx;
    if (!a->rt->quiet) {
        /* Control bytes are shown as \xNN: an actor does not get to drive the terminal. */
        const unsigned char *t = (const unsigned char *)mp(a, pl[0]);
        fprintf(stderr, "[%s] ", a->id);
        for (u32 k = 0; k < pl[1]; k++) {
            if ((t[k] < 0x20 && t[k] != '\n' && t[k] != '\t') || t[k] == 0x7f)
                fprintf(stderr, "\\x%02x", t[k]);
            else
                fputc(t[k], stderr);
        }
        fputc('\n', stderr);
    }
    r->ret = 0;
}

u32 Z_envZ_log(struct Z_env_instance_t *env, u32 ptr, u32 len)
{
    ec_actor *a = ACTOR(env);
    chk(a, ptr, len, "log", "text");
    uint8_t s[512];
    cbuf b;
    req_init(&b, s, sizeof s, 1);
    cb_str(&b, "text");
    cb_blob(&b, mp(a, ptr), len);
    u32 pl[2] = {ptr, len};
    return (u32)host_call(a, "runtime/log", &b, fx_log, pl, 0, 0);
}

static void fx_id(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)ctx, (void)h, (void)hl;
    r->out = a->id;
    r->out_len = strlen(a->id);
    r->has_out = 1;
    r->ret = (int64_t)r->out_len;
}

u32 Z_envZ_actor_id(struct Z_env_instance_t *env, u32 out, u32 cap)
{
    ec_actor *a = ACTOR(env);
    chk(a, out, cap, "actor_id", "out");
    uint8_t s[64];
    cbuf b;
    req_init(&b, s, sizeof s, 0);
    return (u32)host_call(a, "runtime/actor_id", &b, fx_id, NULL, out, cap);
}

static void fx_shutdown(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    const u32 *pl = ctx;
    char *reason = strndup(mp(a, pl[0]), pl[1]);
    if (!reason) {
        fail(r, ABI_EIO, "out of memory");
        return;
    }
    free(a->stop_reason);
    a->stop_reason = reason;
    a->stop_requested = 1; /* the executor stops the actor when this call returns */
    a->stop_notify = 1;
    r->ret = 0;
}

u32 Z_envZ_shutdown(struct Z_env_instance_t *env, u32 ptr, u32 len)
{
    ec_actor *a = ACTOR(env);
    chk(a, ptr, len, "shutdown", "reason");
    if (len > 200)
        len = 200;
    uint8_t s[512];
    cbuf b;
    req_init(&b, s, sizeof s, 1);
    cb_str(&b, "reason");
    cb_blob(&b, mp(a, ptr), len);
    u32 pl[2] = {ptr, len};
    return (u32)host_call(a, "runtime/shutdown", &b, fx_shutdown, pl, 0, 0);
}

/* ---- time, timers, random, environment ---- */

static void fx_time(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)a, (void)ctx, (void)h, (void)hl;
    r->ret = (int64_t)ec_time_now_ns();
}

u64 Z_envZ_time_now(struct Z_env_instance_t *env)
{
    ec_actor *a = ACTOR(env);
    uint8_t s[16];
    cbuf b;
    req_init(&b, s, sizeof s, 0);
    return (u64)host_call(a, "time/now", &b, fx_time, NULL, 0, 0);
}

#define TIMER_MAX_MS (24u * 3600u * 1000u)

static void fx_timer(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    const u64 *pl = ctx;
    if (pl[0] > TIMER_MAX_MS) {
        fail(r, ABI_EINVAL, "delay over 24 hours");
        return;
    }
    if (ec_queue_timer(a->rt, a->id, pl[0], pl[1], h, hl)) {
        const ec_error *e = ec_error_last();
        fail(r, a->rt->ntimers >= a->rt->max_queue ? ABI_EBUSY : ABI_EIO, "%s",
             e ? e->message : "cannot set the timer");
        return;
    }
    r->ret = 0;
}

u32 Z_envZ_timer_set(struct Z_env_instance_t *env, u32 delay_ms, u64 tag)
{
    ec_actor *a = ACTOR(env);
    uint8_t s[64];
    cbuf b;
    req_init(&b, s, sizeof s, 2);
    cb_str(&b, "tag");
    cb_uint(&b, tag);
    cb_str(&b, "delay_ms");
    cb_uint(&b, delay_ms);
    u64 pl[2] = {delay_ms, tag};
    /* Under the lock throughout: the chain is read after the call, and another thread may be
     * appending to it (a late HTTP refusal, which may also come between the request and its
     * result: the request's seq is the one its append gave). A trap unwinds past the unlock;
     * the executor restores the lock. */
    ec_rt_lock(a->rt);
    int64_t ret = host_call_locked(a, "timer/set", &b, fx_timer, pl, 0, 0);
    if (ret == 0) {
        /* Queued (live) or recorded as queued (replay): pending from the chain's point of
         * view until its delivery is recorded. */
        ec_event ev;
        uint64_t seq = a->host_request_seq;
        if (ec_chain_get(a->chain, seq, &ev) != 0 || ev.type_len != 9 ||
            memcmp(ev.type, "timer/set", 9) != 0 ||
            ec_ptimer_add(a, seq, ev.hash, ev.hash_len) != 0)
            trap_recording(a, "timer/set");
    }
    ec_rt_unlock(a->rt);
    return (u32)ret;
}

#define RANDOM_MAX 65536u

static void fx_random(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)a, (void)h, (void)hl;
    u32 n = *(const u32 *)ctx;
    if (n > RANDOM_MAX) {
        fail(r, ABI_ETOOBIG, "at most %u random bytes per call", RANDOM_MAX);
        return;
    }
    uint8_t *p = malloc(n ? n : 1);
    if (!p) {
        fail(r, ABI_EIO, "out of memory");
        return;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = getrandom(p + got, n - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            free(p);
            fail(r, ABI_EIO, "getrandom: %s", strerror(errno));
            return;
        }
        got += (size_t)k;
    }
    r->heap = p;
    r->out = p;
    r->out_len = n;
    r->has_out = 1;
    r->ret = n;
}

u32 Z_envZ_random_get(struct Z_env_instance_t *env, u32 out, u32 len)
{
    ec_actor *a = ACTOR(env);
    chk(a, out, len, "random_get", "out");
    uint8_t s[32];
    cbuf b;
    req_init(&b, s, sizeof s, 1);
    cb_str(&b, "len");
    cb_uint(&b, len);
    return (u32)host_call(a, "random/get", &b, fx_random, &len, out, len);
}

struct env_ctx {
    char name[256];
    int bad;
};

static void fx_env(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    const struct env_ctx *c = ctx;
    if (c->bad) {
        fail(r, ABI_EINVAL, "not a variable name");
        return;
    }
    int allowed = 0;
    for (size_t k = 0; k < a->env_allow_count; k++)
        if (strcmp(a->env_allow[k], c->name) == 0)
            allowed = 1;
    if (!allowed) {
        fail(r, ABI_EDENIED, "%s is not in the actor's allow-list", c->name);
        return;
    }
    const char *v = getenv(c->name);
    if (!v) {
        fail(r, ABI_ENOTFOUND, "%s is not set", c->name);
        return;
    }
    r->out = v;
    r->out_len = strlen(v);
    r->has_out = 1;
    r->ret = (int64_t)r->out_len;
}

u32 Z_envZ_env_get(struct Z_env_instance_t *env, u32 name, u32 nl, u32 out, u32 cap)
{
    ec_actor *a = ACTOR(env);
    chk(a, name, nl, "env_get", "name");
    chk(a, out, cap, "env_get", "out");
    struct env_ctx c;
    c.bad = nl == 0 || nl >= sizeof c.name || memchr(mp(a, name), 0, nl) ||
            memchr(mp(a, name), '=', nl);
    if (!c.bad) {
        memcpy(c.name, mp(a, name), nl);
        c.name[nl] = 0;
    }
    uint8_t s[320];
    cbuf b;
    req_init(&b, s, sizeof s, 1);
    cb_str(&b, "name");
    cb_blob(&b, mp(a, name), nl);
    return (u32)host_call(a, "env/get", &b, fx_env, &c, out, cap);
}

/* ---- the content-addressed store, shared by every actor of the runtime ---- */

int ec_mkdir_p(const char *path);

/* Read a whole regular file of at most max bytes. -1 with *err (EFBIG: *len = its size). */
static int read_fd(int fd, size_t max, uint8_t **out, size_t *len, int *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        *err = EISDIR;
        return -1;
    }
    if ((uint64_t)st.st_size > max) {
        *err = EFBIG;
        *len = (size_t)st.st_size;
        return -1;
    }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *p = malloc(n ? n : 1);
    if (!p) {
        *err = ENOMEM;
        return -1;
    }
    while (got < n) {
        ssize_t k = read(fd, p + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            *err = k < 0 ? errno : EIO; /* EIO also when the file shrank meanwhile */
            free(p);
            return -1;
        }
        got += (size_t)k;
    }
    *out = p;
    *len = n;
    return 0;
}

static int read_small_file(const char *path, size_t max, uint8_t **out, size_t *len, int *err)
{
    /* O_NONBLOCK: the open of a FIFO planted there returns at once, for read_fd to refuse,
     * instead of waiting for a writer with the runtime lock held. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    int rc = read_fd(fd, max, out, len, err);
    close(fd);
    return rc;
}

/* The write budget: what the actor has written so far is a function of its chain (every
 * write is recorded), so a replay refuses at the same point. */
static int over_budget(ec_actor *a, uint64_t n, hresp *r)
{
    if (a->written + n <= a->rt->write_budget)
        return 0;
    fail(r, ABI_ETOOBIG, "write budget of %llu bytes used up (%llu written)",
         (unsigned long long)a->rt->write_budget, (unsigned long long)a->written);
    return 1;
}

/* 1 when path is a regular file holding exactly the len bytes at data. */
static int object_holds(const char *path, const void *data, size_t len)
{
    uint8_t *p = NULL;
    size_t n = 0;
    int err = 0;
    if (read_small_file(path, len, &p, &n, &err) != 0)
        return 0;
    int same = n == len && memcmp(p, data, len) == 0;
    free(p);
    return same;
}

static void fx_store_put(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    const u32 *pl = ctx;
    if (over_budget(a, pl[1], r))
        return;
    uint8_t *digest = r->small;
    unsigned dl = 0;
    char dir[4300], path[4400], hex[65];
    if (!EVP_Digest(mp(a, pl[0]), pl[1], digest, &dl, EVP_sha256(), NULL)) {
        fail(r, ABI_EIO, "SHA-256 failed");
        return;
    }
    ec_hex_encode(hex, digest, 32);
    snprintf(dir, sizeof dir, "%s/objects", a->rt->store_dir);
    snprintf(path, sizeof path, "%s/%s", dir, hex);
    /* An object is written unless one with these very bytes is there: a file under the name
     * with other content (damaged, planted) is replaced, never trusted by its name. */
    if (!object_holds(path, mp(a, pl[0]), pl[1])) {
        if (ec_mkdir_p(dir) || ec_write_file_atomic(path, mp(a, pl[0]), pl[1])) {
            const ec_error *e = ec_error_last();
            fail(r, ABI_EIO, "%s", e ? e->message : "write failed");
            return;
        }
    }
    a->written += pl[1];
    r->out = digest;
    r->out_len = 32;
    r->has_out = 1;
    r->ret = 0;
}

u32 Z_envZ_store_put(struct Z_env_instance_t *env, u32 ptr, u32 len, u32 hash_out)
{
    ec_actor *a = ACTOR(env);
    chk(a, ptr, len, "store_put", "data");
    chk(a, hash_out, 32, "store_put", "hash_out");
    uint8_t s[512];
    cbuf b;
    req_init(&b, s, sizeof s, 1);
    cb_str(&b, "data");
    cb_blob(&b, mp(a, ptr), len);
    u32 pl[2] = {ptr, len};
    return (u32)host_call(a, "store/put", &b, fx_store_put, pl, hash_out, 32);
}

static void fx_store_get(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    const u32 *pl = ctx; /* hash ptr, cap */
    char path[4400], hex[65];
    ec_hex_encode(hex, (const uint8_t *)mp(a, pl[0]), 32);
    snprintf(path, sizeof path, "%s/objects/%s", a->rt->store_dir, hex);
    uint8_t *p = NULL;
    size_t n = 0;
    int err = 0;
    if (read_small_file(path, pl[1], &p, &n, &err) != 0) {
        if (err == ENOENT)
            fail(r, ABI_ENOTFOUND, "no object %s", hex);
        else if (err == EFBIG)
            fail(r, ABI_ETOOBIG, "object has %zu bytes, buffer holds %u", n, pl[1]);
        else
            fail(r, ABI_EIO, "reading object %s: %s", hex, strerror(err));
        return;
    }
    /* The name is a claim, checked: bytes that do not hash to it are not the object asked
     * for (a damaged or replaced file), and the actor gets an error, not them. */
    uint8_t digest[32];
    unsigned dl = 0;
    if (!EVP_Digest(p, n, digest, &dl, EVP_sha256(), NULL) ||
        memcmp(digest, mp(a, pl[0]), 32) != 0) {
        free(p);
        fail(r, ABI_EIO, "object %s is corrupt (its content has another SHA-256)", hex);
        return;
    }
    r->heap = p;
    r->out = p;
    r->out_len = n;
    r->has_out = 1;
    r->ret = (int64_t)n;
}

u32 Z_envZ_store_get(struct Z_env_instance_t *env, u32 hash, u32 out, u32 cap)
{
    ec_actor *a = ACTOR(env);
    chk(a, hash, 32, "store_get", "hash");
    chk(a, out, cap, "store_get", "out");
    uint8_t s[64];
    cbuf b;
    req_init(&b, s, sizeof s, 1);
    cb_str(&b, "hash");
    cb_bytes(&b, mp(a, hash), 32);
    u32 pl[2] = {hash, cap};
    return (u32)host_call(a, "store/get", &b, fx_store_get, pl, out, cap);
}

struct label_ctx {
    char name[65];
    int bad;
    u32 hash;
};

static void label_path(ec_actor *a, const char *name, char *dir, char *path)
{
    snprintf(dir, 4300, "%s/labels", a->rt->store_dir);
    snprintf(path, 4400, "%s/%s", dir, name);
}

static void fx_label_set(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    const struct label_ctx *c = ctx;
    char dir[4300], path[4400], hex[65];
    if (c->bad) {
        fail(r, ABI_EINVAL, "label names use 1 to 64 of A-Z a-z 0-9 _ - .");
        return;
    }
    label_path(a, c->name, dir, path);
    ec_hex_encode(hex, (const uint8_t *)mp(a, c->hash), 32);
    if (ec_mkdir_p(dir) || ec_write_file_atomic(path, hex, 64)) {
        const ec_error *e = ec_error_last();
        fail(r, ABI_EIO, "%s", e ? e->message : "write failed");
        return;
    }
    r->ret = 0;
}

static void fx_label_get(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    const struct label_ctx *c = ctx;
    uint8_t *hash = r->small;
    char dir[4300], path[4400];
    if (c->bad) {
        fail(r, ABI_EINVAL, "label names use 1 to 64 of A-Z a-z 0-9 _ - .");
        return;
    }
    label_path(a, c->name, dir, path);
    uint8_t *p = NULL;
    size_t n = 0;
    int err = 0;
    if (read_small_file(path, 64, &p, &n, &err) != 0) {
        if (err == ENOENT)
            fail(r, ABI_ENOTFOUND, "no label %s", c->name);
        else
            fail(r, ABI_EIO, "label %s: %s", c->name, strerror(err));
        return;
    }
    int bad = n != 64 || ec_hex_decode(hash, 32, (const char *)p, 64) != 0;
    free(p);
    if (bad) {
        fail(r, ABI_EIO, "label %s: file is not a 64-digit hex hash", c->name);
        return;
    }
    r->out = hash;
    r->out_len = 32;
    r->has_out = 1;
    r->ret = 0;
}

static void label_ctx_init(ec_actor *a, struct label_ctx *c, u32 name, u32 nl, u32 hash)
{
    c->bad = !ec_valid_id(mp(a, name), nl);
    c->hash = hash;
    if (!c->bad) {
        memcpy(c->name, mp(a, name), nl);
        c->name[nl] = 0;
    }
}

u32 Z_envZ_label_set(struct Z_env_instance_t *env, u32 name, u32 nl, u32 hash)
{
    ec_actor *a = ACTOR(env);
    chk(a, name, nl, "label_set", "name");
    chk(a, hash, 32, "label_set", "hash");
    struct label_ctx c;
    label_ctx_init(a, &c, name, nl, hash);
    uint8_t s[512];
    cbuf b;
    req_init(&b, s, sizeof s, 2);
    cb_str(&b, "hash");
    cb_bytes(&b, mp(a, hash), 32);
    cb_str(&b, "name");
    cb_blob(&b, mp(a, name), nl);
    return (u32)host_call(a, "store/label_set", &b, fx_label_set, &c, 0, 0);
}

u32 Z_envZ_label_get(struct Z_env_instance_t *env, u32 name, u32 nl, u32 hash_out)
{
    ec_actor *a = ACTOR(env);
    chk(a, name, nl, "label_get", "name");
    chk(a, hash_out, 32, "label_get", "hash_out");
    struct label_ctx c;
    label_ctx_init(a, &c, name, nl, 0);
    uint8_t s[512];
    cbuf b;
    req_init(&b, s, sizeof s, 1);
    cb_str(&b, "name");
    cb_blob(&b, mp(a, name), nl);
    return (u32)host_call(a, "store/label_get", &b, fx_label_get, &c, hash_out, 32);
}

/* ---- the filesystem sandbox ---- */

#define PATH_MAX_ABI 1024u
#define NAME_MAX_ABI 255u /* a component, as Linux file systems allow */
#define PATH_SHOWN   96u  /* of a path in an error: the 200-byte text keeps room for why */
#define FILE_MAX     (16u << 20)

struct fs_ctx {
    char path[PATH_MAX_ABI + 1];
    char shown[PATH_SHOWN + 4]; /* the path for errors: its first bytes, "..." when cut */
    const char *bad;            /* why the path is refused before resolution, or NULL */
    int bad_code;
    u32 data, len, cap;
};

/* Lexical rules first (relative, no "..", no NUL, no empty component); then every open
 * resolves beneath the sandbox with RESOLVE_BENEATH, so a symlink that leads out (absolute
 * or through "..") fails with EXDEV instead of being followed. */
static void fs_ctx_init(ec_actor *a, struct fs_ctx *c, u32 p, u32 n, int allow_root)
{
    memset(c, 0, sizeof *c);
    c->bad_code = ABI_EINVAL;
    const char *s = mp(a, p);
    if (n == 0 || n > PATH_MAX_ABI) {
        c->bad = "path length must be 1 to 1024 bytes";
        return;
    }
    if (memchr(s, 0, n)) {
        c->bad = "path contains a NUL byte";
        return;
    }
    /* Names are UTF-8 without control characters (C0, DEL, C1): what a migration bundle
     * carries (docs/FORMAT.md section 8), so that every sandbox an actor can make can be
     * exported, and no name can hide or forge text where it is shown. */
    const char *text = ec_name_text_problem(s, n);
    if (text) {
        c->bad = strcmp(text, "not valid UTF-8") == 0 ? "path is not valid UTF-8"
                                                      : "path contains a control character";
        return;
    }
    memcpy(c->path, s, n);
    c->path[n] = 0;
    size_t sl = n;
    if (sl > PATH_SHOWN) {
        sl = PATH_SHOWN;
        while (sl && ((unsigned char)c->path[sl] & 0xC0) == 0x80)
            sl--; /* not inside a UTF-8 sequence */
    }
    memcpy(c->shown, c->path, sl);
    memcpy(c->shown + sl, n > sl ? "..." : "", n > sl ? 4 : 1);
    if (c->path[0] == '/') {
        c->bad = "absolute path refused: escapes the sandbox";
        c->bad_code = ABI_EDENIED;
        return;
    }
    for (const char *q = c->path; *q;) {
        const char *e = strchr(q, '/');
        size_t cl = e ? (size_t)(e - q) : strlen(q);
        if (cl == 2 && q[0] == '.' && q[1] == '.') {
            c->bad = "'..' refused: escapes the sandbox";
            c->bad_code = ABI_EDENIED;
            return;
        }
        /* A trailing '/' ends in an empty component too ("sub/"): refused alike, not
         * looked up as a missing file. */
        if (cl == 0 || (e && !e[1])) {
            c->bad = cl ? "path ends in '/': an empty final component" : "empty path component";
            return;
        }
        /* Refused here rather than by the file system (ENAMETOOLONG), whose limit is its own. */
        if (cl > NAME_MAX_ABI) {
            c->bad = "path component longer than 255 bytes";
            return;
        }
        q += cl + (e ? 1 : 0);
    }
    if (!allow_root && strcmp(c->path, ".") == 0)
        c->bad = "'.' names the sandbox itself";
}

static int open_beneath(ec_actor *a, const char *path, int flags)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, a->fs_fd, path, &how, sizeof how);
}

/* The error for errno e. A name the file system finds too long is a bad argument, not a
 * failure of the host. The path is shown shortened, so that the reason always fits. */
static void fs_errno(hresp *r, const struct fs_ctx *c, int e)
{
    if (e == EXDEV || e == ELOOP)
        fail(r, ABI_EDENIED, "%s: refused: resolves outside the sandbox", c->shown);
    else if (e == ENOENT || e == ENOTDIR)
        fail(r, ABI_ENOTFOUND, "%s: no such file", c->shown);
    else if (e == ENAMETOOLONG)
        fail(r, ABI_EINVAL, "%s: name too long", c->shown);
    else
        fail(r, ABI_EIO, "%s: %s", c->shown, strerror(e));
}

/* Split "a/b/c" into the directory "a/b" (opened beneath the sandbox) and "c". */
static int open_parent(ec_actor *a, struct fs_ctx *c, const char **base, hresp *r)
{
    char *slash = strrchr(c->path, '/');
    int dfd;
    if (slash) {
        *slash = 0;
        *base = slash + 1;
        dfd = open_beneath(a, c->path, O_RDONLY | O_DIRECTORY);
        int e = errno;
        *slash = '/';
        if (dfd < 0) {
            fs_errno(r, c, e);
            return -1;
        }
    } else {
        *base = c->path;
        dfd = dup(a->fs_fd);
        if (dfd < 0) {
            fs_errno(r, c, errno);
            return -1;
        }
    }
    if (strcmp(*base, ".") == 0) {
        close(dfd);
        fail(r, ABI_EINVAL, "%s: names a directory", c->shown);
        return -1;
    }
    return dfd;
}

static void fx_fs_read(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    struct fs_ctx *c = ctx;
    if (c->bad) {
        fail(r, c->bad_code, "%s", c->bad);
        return;
    }
    int fd = open_beneath(a, c->path, O_RDONLY | O_NONBLOCK); /* a FIFO: refused, not waited on */
    if (fd < 0) {
        fs_errno(r, c, errno);
        return;
    }
    uint8_t *p = NULL;
    size_t n = 0;
    int err = 0;
    int rc = read_fd(fd, c->cap, &p, &n, &err);
    close(fd);
    if (rc != 0) {
        if (err == EFBIG)
            fail(r, ABI_ETOOBIG, "%s: %zu bytes, buffer holds %u", c->shown, n, c->cap);
        else if (err == EISDIR)
            fail(r, ABI_EINVAL, "%s: not a regular file", c->shown);
        else
            fs_errno(r, c, err);
        return;
    }
    r->heap = p;
    r->out = p;
    r->out_len = n;
    r->has_out = 1;
    r->ret = (int64_t)n;
}

static void fs_request(ec_actor *a, cbuf *b, uint8_t *s, size_t sn, u32 p, u32 n, int data, u32 dp,
                       u32 dl)
{
    req_init(b, s, sn, data ? 2 : 1);
    if (data) {
        cb_str(b, "data");
        cb_blob(b, mp(a, dp), dl);
    }
    cb_str(b, "path");
    cb_blob(b, mp(a, p), n > PATH_MAX_ABI ? PATH_MAX_ABI : n);
}

u32 Z_envZ_fs_read(struct Z_env_instance_t *env, u32 p, u32 n, u32 out, u32 cap)
{
    ec_actor *a = ACTOR(env);
    chk(a, p, n, "fs_read", "path");
    chk(a, out, cap, "fs_read", "out");
    struct fs_ctx c;
    fs_ctx_init(a, &c, p, n, 0);
    c.cap = cap;
    uint8_t s[512];
    cbuf b;
    fs_request(a, &b, s, sizeof s, p, n, 0, 0, 0);
    return (u32)host_call(a, "fs/read", &b, fx_fs_read, &c, out, cap);
}

/* A new temporary file in dfd for fs_write, its name in tmp: the fd, or -errno. Whoever else
 * can write the sandbox directory could plant something at a predictable name: a hard link to
 * a file outside (which O_TRUNC and the write would then change), or a FIFO (whose open
 * would wait, with the runtime lock held). So the name is random and the file must be new (O_EXCL:
 * nothing that exists, link or FIFO, is opened), and O_NONBLOCK for good measure. The name never
 * reaches the chain: the records say what the actor asked, and errors name its path. */
static int open_tmp(int dfd, char *tmp, size_t n)
{
    for (int tries = 0; tries < 16; tries++) {
        uint8_t rnd[8];
        ssize_t got = getrandom(rnd, sizeof rnd, 0);
        if (got != (ssize_t)sizeof rnd)
            return -(got < 0 ? errno : EIO);
        snprintf(tmp, n, ".ec-tmp-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
                 rnd[4], rnd[5], rnd[6], rnd[7]);
        int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                        0644);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0)
            return -errno;
        /* Cannot fail for a file O_EXCL created; if it does, it is never written. */
        struct stat st;
        int e = fstat(fd, &st) != 0 ? errno : !S_ISREG(st.st_mode) || st.st_nlink != 1 ? EIO : 0;
        if (e) {
            unlinkat(dfd, tmp, 0);
            close(fd);
            return -e;
        }
        return fd;
    }
    return -EEXIST;
}

static void fx_fs_write(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    struct fs_ctx *c = ctx;
    if (c->bad) {
        fail(r, c->bad_code, "%s", c->bad);
        return;
    }
    if (c->len > FILE_MAX) {
        fail(r, ABI_ETOOBIG, "%s: files are limited to %u bytes", c->shown, FILE_MAX);
        return;
    }
    if (over_budget(a, c->len, r))
        return;
    const char *base;
    int dfd = open_parent(a, c, &base, r);
    if (dfd < 0)
        return;
    /* Whole or nothing: a temporary beside the target, synced, renamed over it. A symlink
     * at the target is replaced, never followed. */
    char tmp[64];
    int fd = open_tmp(dfd, tmp, sizeof tmp);
    if (fd < 0) {
        fs_errno(r, c, -fd);
        close(dfd);
        return;
    }
    const uint8_t *p = (const uint8_t *)mp(a, c->data);
    size_t left = c->len;
    int e = 0;
    while (left) {
        ssize_t k = write(fd, p, left);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            e = errno;
            break;
        }
        p += k;
        left -= (size_t)k;
    }
    if (!e && fdatasync(fd) != 0)
        e = errno;
    close(fd);
    if (!e && renameat(dfd, tmp, dfd, base) != 0)
        e = errno;
    if (e) {
        unlinkat(dfd, tmp, 0);
        close(dfd);
        fs_errno(r, c, e);
        return;
    }
    close(dfd);
    a->written += c->len;
    r->ret = 0;
}

u32 Z_envZ_fs_write(struct Z_env_instance_t *env, u32 p, u32 n, u32 data, u32 len)
{
    ec_actor *a = ACTOR(env);
    chk(a, p, n, "fs_write", "path");
    chk(a, data, len, "fs_write", "data");
    struct fs_ctx c;
    fs_ctx_init(a, &c, p, n, 0);
    c.data = data;
    c.len = len;
    uint8_t s[512];
    cbuf b;
    fs_request(a, &b, s, sizeof s, p, n, 1, data, len);
    return (u32)host_call(a, "fs/write", &b, fx_fs_write, &c, 0, 0);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void fx_fs_list(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    struct fs_ctx *c = ctx;
    if (c->bad) {
        fail(r, c->bad_code, "%s", c->bad);
        return;
    }
    int fd = open_beneath(a, c->path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        fs_errno(r, c, errno);
        return;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        fs_errno(r, c, errno);
        close(fd);
        return;
    }
    char **names = NULL;
    size_t nn = 0, cap = 0, total = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strncmp(de->d_name, ".ec-tmp-", 8) == 0)
            continue;
        if (nn == cap) {
            cap = cap ? cap * 2 : 16;
            char **q = realloc(names, cap * sizeof *q);
            if (!q)
                break;
            names = q;
        }
        if (!(names[nn] = strdup(de->d_name)))
            break;
        total += strlen(names[nn]) + 1;
        nn++;
    }
    closedir(d);
    /* Sorted: directory order is the filesystem's, not something to record as if it were
     * the actor's input each time it differs. */
    if (nn)
        qsort(names, nn, sizeof *names, cmp_str);
    char *out = malloc(total ? total : 1);
    size_t off = 0;
    for (size_t k = 0; k < nn; k++) {
        size_t l = strlen(names[k]);
        if (out) {
            memcpy(out + off, names[k], l);
            out[off + l] = '\n';
        }
        off += l + 1;
        free(names[k]);
    }
    free(names);
    if (!out) {
        fail(r, ABI_EIO, "out of memory");
        return;
    }
    r->heap = out;
    r->out = out;
    r->out_len = total;
    r->has_out = 1;
    r->ret = (int64_t)total;
}

u32 Z_envZ_fs_list(struct Z_env_instance_t *env, u32 p, u32 n, u32 out, u32 cap)
{
    ec_actor *a = ACTOR(env);
    chk(a, p, n, "fs_list", "path");
    chk(a, out, cap, "fs_list", "out");
    struct fs_ctx c;
    fs_ctx_init(a, &c, p, n, 1);
    uint8_t s[512];
    cbuf b;
    fs_request(a, &b, s, sizeof s, p, n, 0, 0, 0);
    return (u32)host_call(a, "fs/list", &b, fx_fs_list, &c, out, cap);
}

static void fx_fs_delete(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    struct fs_ctx *c = ctx;
    if (c->bad) {
        fail(r, c->bad_code, "%s", c->bad);
        return;
    }
    const char *base;
    int dfd = open_parent(a, c, &base, r);
    if (dfd < 0)
        return;
    int rc = unlinkat(dfd, base, 0);
    if (rc != 0 && errno == EISDIR)
        rc = unlinkat(dfd, base, AT_REMOVEDIR);
    int e = errno;
    close(dfd);
    if (rc != 0) {
        fs_errno(r, c, e);
        return;
    }
    r->ret = 0;
}

u32 Z_envZ_fs_delete(struct Z_env_instance_t *env, u32 p, u32 n)
{
    ec_actor *a = ACTOR(env);
    chk(a, p, n, "fs_delete", "path");
    struct fs_ctx c;
    fs_ctx_init(a, &c, p, n, 0);
    uint8_t s[512];
    cbuf b;
    fs_request(a, &b, s, sizeof s, p, n, 0, 0, 0);
    return (u32)host_call(a, "fs/delete", &b, fx_fs_delete, &c, 0, 0);
}

static void fx_fs_exists(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    struct fs_ctx *c = ctx;
    if (c->bad) {
        fail(r, c->bad_code, "%s", c->bad);
        return;
    }
    int fd = open_beneath(a, c->path, O_PATH);
    if (fd >= 0) {
        close(fd);
        r->ret = 1;
    } else if (errno == ENOENT || errno == ENOTDIR) {
        r->ret = 0;
    } else {
        fs_errno(r, c, errno);
    }
}

u32 Z_envZ_fs_exists(struct Z_env_instance_t *env, u32 p, u32 n)
{
    ec_actor *a = ACTOR(env);
    chk(a, p, n, "fs_exists", "path");
    struct fs_ctx c;
    fs_ctx_init(a, &c, p, n, 1);
    uint8_t s[512];
    cbuf b;
    fs_request(a, &b, s, sizeof s, p, n, 0, 0, 0);
    return (u32)host_call(a, "fs/exists", &b, fx_fs_exists, &c, 0, 0);
}

/* ---- messages ---- */

struct msg_ctx {
    char to[65];
    int bad;
    u32 body, len, cap;
};

static void msg_ctx_init(ec_actor *a, struct msg_ctx *c, u32 to, u32 tl, u32 body, u32 len)
{
    memset(c, 0, sizeof *c);
    c->bad = !ec_valid_id(mp(a, to), tl);
    if (!c->bad) {
        memcpy(c->to, mp(a, to), tl);
        c->to[tl] = 0;
    }
    c->body = body;
    c->len = len;
}

/* Request payload: the body itself when within the limit, only its length when over it (the
 * refusal is then the whole effect: nothing was sent). */
static void msg_request_payload(ec_actor *a, cbuf *b, uint8_t *s, size_t sn, u32 to, u32 tl,
                                u32 body, u32 len)
{
    int over = len > a->rt->max_message;
    req_init(b, s, sn, 2);
    cb_str(b, "to");
    cb_blob(b, mp(a, to), tl > 64 ? 64 : tl);
    if (over) {
        cb_str(b, "len");
        cb_uint(b, len);
    } else {
        cb_str(b, "body");
        cb_blob(b, mp(a, body), len);
    }
}

static int msg_target(ec_actor *a, const struct msg_ctx *c, hresp *r, ec_actor **out)
{
    if (c->bad) {
        fail(r, ABI_EINVAL, "not an actor id");
        return -1;
    }
    if (c->len > a->rt->max_message) {
        fail(r, ABI_ETOOBIG, "message of %u bytes, over the limit of %u", c->len,
             a->rt->max_message);
        return -1;
    }
    ec_actor *t = ec_runtime_lookup(a->rt, c->to);
    if (!t) {
        fail(r, ABI_ENOTFOUND, "no actor %s", c->to);
        return -1;
    }
    if (t->state != EC_ACTOR_RUNNING) {
        fail(r, ABI_EBUSY, "actor %s is %s", c->to, ec_actor_state_name(t->state));
        return -1;
    }
    *out = t;
    return 0;
}

static void fx_send(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    struct msg_ctx *c = ctx;
    ec_actor *t;
    if (msg_target(a, c, r, &t))
        return;
    /* The receipt names this request event: the link between the two chains. */
    int qrc = ec_queue_message(a->rt, t->id, a->id, mp(a, c->body), c->len, h, hl);
    if (qrc) {
        /* EC_EDENIED: the queue is full (max_queue messages or max_queued_bytes of bodies). */
        const ec_error *e = ec_error_last();
        fail(r, qrc == EC_EDENIED ? ABI_EBUSY : ABI_EIO, "%s", e ? e->message : "cannot queue");
        return;
    }
    r->ret = 0;
}

u32 Z_envZ_msg_send(struct Z_env_instance_t *env, u32 to, u32 tl, u32 body, u32 len)
{
    ec_actor *a = ACTOR(env);
    chk(a, to, tl, "msg_send", "to");
    chk(a, body, len, "msg_send", "body");
    struct msg_ctx c;
    msg_ctx_init(a, &c, to, tl, body, len);
    uint8_t s[512];
    cbuf b;
    msg_request_payload(a, &b, s, sizeof s, to, tl, body, len);
    return (u32)host_call(a, "message/send", &b, fx_send, &c, 0, 0);
}

static void fx_request(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    struct msg_ctx *c = ctx;
    ec_actor *t;
    if (msg_target(a, c, r, &t))
        return;
    if (!t->mod->ex_request) {
        fail(r, ABI_ENOTFOUND, "actor %s has no ec_handle_request", c->to);
        return;
    }
    if (t->on_stack && ec_actor_mine(t)) {
        fail(r, ABI_EBUSY, "actor %s is busy (already in a call on this stack)", c->to);
        return;
    }
    /* Owned for the whole exchange: a call from another thread would take its reply. When it
     * is running on another thread, this waits, unless that thread waits for this one. */
    if (ec_actor_acquire(t)) {
        fail(r, ABI_EBUSY, "%s", ec_error_last() ? ec_error_last()->message : "busy");
        return;
    }
    /* The body is copied out of the caller's memory first: the callee runs in between. */
    uint8_t *body = malloc(c->len ? c->len : 1);
    if (!body) {
        ec_actor_release(t);
        fail(r, ABI_EIO, "out of memory");
        return;
    }
    memcpy(body, mp(a, c->body), c->len);
    t->in_request = 1;
    t->replied = 0;
    int32_t ret = 0;
    int rc = ec_exec_call(t, FN_REQUEST, body, c->len, 0, a->id, h, hl, &ret);
    free(body);
    t->in_request = 0;
    if (rc) {
        const ec_error *e = ec_error_last();
        fail(r, rc == EC_ETRAP ? ABI_EIO : ABI_EBUSY, "%s", e ? e->message : "request failed");
    } else if (!t->replied) {
        fail(r, ABI_ESTATE, "actor %s returned %d without a reply", c->to, ret);
    } else {
        r->heap = t->reply;
        r->out = t->reply;
        r->out_len = t->reply_len;
        r->has_out = 1;
        r->ret = (int64_t)t->reply_len;
        r->link_len = hl;
        memcpy(r->link, t->reply_hash, hl); /* names the callee's message/reply event */
        t->reply = NULL;
    }
    free(t->reply);
    t->reply = NULL;
    t->replied = 0;
    ec_actor_release(t);
}

u32 Z_envZ_msg_request(struct Z_env_instance_t *env, u32 to, u32 tl, u32 body, u32 len, u32 out,
                       u32 cap)
{
    ec_actor *a = ACTOR(env);
    chk(a, to, tl, "msg_request", "to");
    chk(a, body, len, "msg_request", "body");
    chk(a, out, cap, "msg_request", "out");
    struct msg_ctx c;
    msg_ctx_init(a, &c, to, tl, body, len);
    uint8_t s[512];
    cbuf b;
    msg_request_payload(a, &b, s, sizeof s, to, tl, body, len);
    return (u32)host_call(a, "message/request", &b, fx_request, &c, out, cap);
}

static void fx_reply(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    const u32 *pl = ctx;
    if (!a->in_request || a->replied) {
        fail(r, ABI_ESTATE, a->replied ? "already replied" : "not handling a request");
        return;
    }
    if (pl[1] > a->rt->max_message) {
        fail(r, ABI_ETOOBIG, "reply of %u bytes, over the limit of %u", pl[1], a->rt->max_message);
        return;
    }
    uint8_t *p = malloc(pl[1] ? pl[1] : 1);
    if (!p) {
        fail(r, ABI_EIO, "out of memory");
        return;
    }
    memcpy(p, mp(a, pl[0]), pl[1]);
    free(a->reply);
    a->reply = p;
    a->reply_len = pl[1];
    a->replied = 1;
    memcpy(a->reply_hash, h, hl);
    r->ret = 0;
}

u32 Z_envZ_msg_reply(struct Z_env_instance_t *env, u32 body, u32 len)
{
    ec_actor *a = ACTOR(env);
    chk(a, body, len, "msg_reply", "body");
    uint8_t s[512];
    cbuf b;
    req_init(&b, s, sizeof s, 1);
    if (len > a->rt->max_message) {
        cb_str(&b, "len");
        cb_uint(&b, len);
    } else {
        cb_str(&b, "body");
        cb_blob(&b, mp(a, body), len);
    }
    u32 pl[2] = {body, len};
    return (u32)host_call(a, "message/reply", &b, fx_reply, pl, 0, 0);
}

/* ---- supervision ---- */

struct sup_ctx {
    char name[65], module[65];
    int bad;
    u32 args, args_len;
};

static ec_actor *find_child(ec_actor *a, const char *name)
{
    for (size_t k = 0; k < a->rt->nactors; k++) {
        ec_actor *c = a->rt->actors[k];
        if (c->parent == a && c->child_name && strcmp(c->child_name, name) == 0)
            return c;
    }
    return NULL;
}

static int copy_name(ec_actor *a, char *dst, u32 p, u32 n)
{
    if (!ec_valid_id(mp(a, p), n) || memchr(mp(a, p), '.', n))
        return -1;
    memcpy(dst, mp(a, p), n);
    dst[n] = 0;
    return 0;
}

static void fx_spawn(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    struct sup_ctx *c = ctx;
    if (c->bad) {
        fail(r, ABI_EINVAL, "module and child names use 1 to 64 of A-Z a-z 0-9 _ -");
        return;
    }
    int abi = 0;
    int rc = ec_actor_spawn_child(a, c->module, c->name, mp(a, c->args), c->args_len, &abi);
    if (abi) {
        const ec_error *e = ec_error_last();
        fail(r, abi, "%s", rc && e ? e->message : "cannot spawn");
        return;
    }
    if (rc) {
        const ec_error *e = ec_error_last();
        fail(r, ABI_EIO, "%s", e ? e->message : "spawn failed");
        return;
    }
    r->ret = 0;
}

u32 Z_envZ_sup_spawn(struct Z_env_instance_t *env, u32 mod, u32 ml, u32 name, u32 nl, u32 args,
                     u32 al)
{
    ec_actor *a = ACTOR(env);
    chk(a, mod, ml, "sup_spawn", "module");
    chk(a, name, nl, "sup_spawn", "name");
    chk(a, args, al, "sup_spawn", "args");
    struct sup_ctx c;
    memset(&c, 0, sizeof c);
    c.bad = copy_name(a, c.module, mod, ml) || copy_name(a, c.name, name, nl) ||
            al > a->rt->max_message;
    c.args = args;
    c.args_len = al;
    uint8_t s[512];
    cbuf b;
    req_init(&b, s, sizeof s, 3);
    cb_str(&b, "args");
    cb_blob(&b, mp(a, args), al > a->rt->max_message ? 0 : al);
    cb_str(&b, "name");
    cb_blob(&b, mp(a, name), nl > 64 ? 64 : nl);
    cb_str(&b, "module");
    cb_blob(&b, mp(a, mod), ml > 64 ? 64 : ml);
    return (u32)host_call(a, "supervisor/spawn", &b, fx_spawn, &c, 0, 0);
}

static ec_actor *child_of(ec_actor *a, struct sup_ctx *c, hresp *r)
{
    if (c->bad) {
        fail(r, ABI_EINVAL, "not a child name");
        return NULL;
    }
    ec_actor *ch = find_child(a, c->name);
    if (!ch)
        fail(r, ABI_ENOTFOUND, "no child %s", c->name);
    else if (ch->on_stack && ec_actor_mine(ch)) {
        fail(r, ABI_EBUSY, "child %s is on the call stack", c->name);
        return NULL;
    }
    return ch;
}

static void fx_stop(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    ec_actor *ch = child_of(a, ctx, r);
    if (!ch)
        return;
    if (ch->state != EC_ACTOR_RUNNING) {
        fail(r, ABI_ESTATE, "child is %s", ec_actor_state_name(ch->state));
        return;
    }
    if (ec_actor_stop(ch, "stopped by its supervisor", 0)) {
        fail(r, ABI_EIO, "%s", ec_error_last() ? ec_error_last()->message : "stop failed");
        return;
    }
    r->ret = 0;
}

static void fx_restart(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    ec_actor *ch = child_of(a, ctx, r);
    if (!ch)
        return;
    if (ch->owner && !ec_actor_mine(ch)) {
        fail(r, ABI_EBUSY, "child %s is running a call on another thread",
             ((struct sup_ctx *)ctx)->name);
        return;
    }
    if (ec_actor_restart(ch)) {
        fail(r, ABI_EIO, "%s", ec_error_last() ? ec_error_last()->message : "restart failed");
        return;
    }
    r->ret = 0;
}

static u32 sup_named(struct Z_env_instance_t *env, const char *fn, const char *type, u32 name,
                     u32 nl, effect_fn fx)
{
    ec_actor *a = ACTOR(env);
    chk(a, name, nl, fn, "name");
    struct sup_ctx c;
    memset(&c, 0, sizeof c);
    c.bad = copy_name(a, c.name, name, nl);
    uint8_t s[512];
    cbuf b;
    req_init(&b, s, sizeof s, 1);
    cb_str(&b, "name");
    cb_blob(&b, mp(a, name), nl > 64 ? 64 : nl);
    return (u32)host_call(a, type, &b, fx, &c, 0, 0);
}

u32 Z_envZ_sup_stop(struct Z_env_instance_t *env, u32 name, u32 nl)
{
    return sup_named(env, "sup_stop", "supervisor/stop", name, nl, fx_stop);
}

u32 Z_envZ_sup_restart(struct Z_env_instance_t *env, u32 name, u32 nl)
{
    return sup_named(env, "sup_restart", "supervisor/restart", name, nl, fx_restart);
}

static void fx_list(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)ctx, (void)h, (void)hl;
    size_t total = 0;
    for (size_t k = 0; k < a->rt->nactors; k++)
        if (a->rt->actors[k]->parent == a)
            total += strlen(a->rt->actors[k]->child_name) + 1;
    char *out = malloc(total ? total : 1);
    if (!out) {
        fail(r, ABI_EIO, "out of memory");
        return;
    }
    size_t off = 0;
    for (size_t k = 0; k < a->rt->nactors; k++)
        if (a->rt->actors[k]->parent == a) {
            size_t l = strlen(a->rt->actors[k]->child_name);
            memcpy(out + off, a->rt->actors[k]->child_name, l);
            out[off + l] = '\n';
            off += l + 1;
        }
    r->heap = out;
    r->out = out;
    r->out_len = total;
    r->has_out = 1;
    r->ret = (int64_t)total;
}

u32 Z_envZ_sup_list(struct Z_env_instance_t *env, u32 out, u32 cap)
{
    ec_actor *a = ACTOR(env);
    chk(a, out, cap, "sup_list", "out");
    uint8_t s[16];
    cbuf b;
    req_init(&b, s, sizeof s, 0);
    return (u32)host_call(a, "supervisor/list", &b, fx_list, NULL, out, cap);
}

#define STATUS_LEN 41

static void fx_status(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    struct sup_ctx *c = ctx;
    uint8_t *st = r->small;
    if (c->bad) {
        fail(r, ABI_EINVAL, "not a child name");
        return;
    }
    ec_actor *ch = find_child(a, c->name);
    if (!ch) {
        fail(r, ABI_ENOTFOUND, "no child %s", c->name);
        return;
    }
    memset(st, 0, STATUS_LEN);
    st[0] = (uint8_t)ch->state;
    uint64_t seq = 0;
    uint8_t head[EC_HASH_MAX];
    if (ec_chain_head(ch->chain, head, &seq) == 0)
        memcpy(st + 9, head, ec_hash_len(ec_chain_alg(ch->chain)));
    ec_put_u64(st + 1, ec_chain_count(ch->chain));
    r->out = st;
    r->out_len = STATUS_LEN;
    r->has_out = 1;
    r->ret = STATUS_LEN;
}

u32 Z_envZ_sup_status(struct Z_env_instance_t *env, u32 name, u32 nl, u32 out, u32 cap)
{
    ec_actor *a = ACTOR(env);
    chk(a, name, nl, "sup_status", "name");
    chk(a, out, cap, "sup_status", "out");
    struct sup_ctx c;
    memset(&c, 0, sizeof c);
    c.bad = copy_name(a, c.name, name, nl);
    uint8_t s[512];
    cbuf b;
    req_init(&b, s, sizeof s, 1);
    cb_str(&b, "name");
    cb_blob(&b, mp(a, name), nl > 64 ? 64 : nl);
    return (u32)host_call(a, "supervisor/status", &b, fx_status, &c, out, cap);
}

/* ---- HTTP (ABI v2 names, docs/ABI.md section 8): the work is in http_actor.c ---- */

struct http_ctx {
    void (*effect)(ec_actor *a, const uint8_t *p, size_t n, ec_host_out *o);
    const uint8_t *p; /* the actor's payload: its memory does not move during the effect */
    size_t n;
};

static void fx_http(ec_actor *a, void *ctx, const uint8_t *h, size_t hl, hresp *r)
{
    (void)h, (void)hl;
    const struct http_ctx *c = ctx;
    ec_host_out o;
    memset(&o, 0, sizeof o);
    c->effect(a, c->p, c->n, &o);
    r->ret = o.ret;
    if (o.out) {
        r->heap = o.out;
        r->out = o.out;
        r->out_len = o.out_len;
        r->has_out = 1;
    }
    if (o.ret < 0)
        snprintf(r->error, sizeof r->error, "%s", o.error);
}

/* The request event's payload is the actor's FORMAT.md section 7 bytes as given: a payload
 * that is not one (or a respond outside ec_handle_http) is refused before anything is
 * recorded, a function of the actor's own arguments and call state like a bad pointer. */
static u32 http_import(struct Z_env_instance_t *env, const char *fn, const char *type, u32 p, u32 n,
                       u32 out, u32 cap, int (*check)(ec_actor *, const uint8_t *, size_t),
                       void (*effect)(ec_actor *, const uint8_t *, size_t, ec_host_out *))
{
    ec_actor *a = ACTOR(env);
    chk(a, p, n, fn, "payload");
    chk(a, out, cap, fn, "out");
    int e = check(a, (const uint8_t *)mp(a, p), n);
    if (e)
        return (u32)e;
    struct http_ctx c = {effect, (const uint8_t *)mp(a, p), n};
    cbuf b;
    cb_init(&b, (uint8_t *)a->mem->data + p, n);
    b.len = n;
    return (u32)host_call(a, type, &b, fx_http, &c, out, cap);
}

u32 Z_envZ_http_request(struct Z_env_instance_t *env, u32 req, u32 rl, u32 out, u32 cap)
{
    return http_import(env, "http_request", "http/client-request", req, rl, out, cap,
                       ec_http_request_check, ec_http_request_effect);
}

u32 Z_envZ_http_respond(struct Z_env_instance_t *env, u32 resp, u32 len)
{
    return http_import(env, "http_respond", "http/response", resp, len, 0, 0, ec_http_respond_check,
                       ec_http_respond_effect);
}

/* Referenced by ec_runtime_new so that a static link always keeps this object: compiled
 * modules resolve the Z_envZ_* imports above from the host executable at dlopen time. */
int ec_host_anchor(void)
{
    return 1;
}
