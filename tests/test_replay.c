/* tests/test_replay.c: deterministic replay: every example actor's chain (the supervisor
 * group's three, a trapping one) reproduced byte for byte, no effect outside the process,
 * a changed module's divergence reported at the right seq, bad modules refused. */
#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>

#include <evchain/http.h>
#include <evchain/replay.h>
#include "core/internal.h"
#include "test_actor_util.h"

static void counter_identical(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "counter", "c", NULL);
    REQUIRE(a);
    const char *msgs[] = {"inc", "add 5", "tick", "inc"};
    for (size_t k = 0; k < 4; k++)
        CHECK_OK(ec_runtime_send(rt, "c", msgs[k], strlen(msgs[k])));
    size_t pending = 1;
    CHECK_OK(ec_runtime_run(rt, 2000, &pending)); /* the tick's timer fires */
    CHECK(pending == 0);
    CHECK_OK(find_event(ec_actor_chain(a), "timer/set", 0, NULL, NULL));
    char *tj = NULL;
    REQUIRE_OK(find_event(ec_actor_chain(a), "wasm/call", 5, &tj, NULL));
    CHECK(strstr(tj, "ec_handle_timer"));
    free(tj);
    CHECK_OK(ec_runtime_stop(rt, "c", "test over"));
    ec_replay_report rep;
    CHECK_OK(replay_identical(ec_actor_chain(a), &rep));
    CHECK(!rep.diverged && !rep.trapped);
    ec_replay_report_free(&rep);
    /* --until: a prefix, up to and including that seq. */
    ec_replay_options o = EC_REPLAY_OPTIONS_INIT;
    o.cache_dir = cache();
    o.until = 12;
    CHECK_OK(ec_actor_replay(ec_actor_chain(a), NULL, &o, &rep));
    CHECK(rep.events == 13 && !rep.diverged);
    ec_event e;
    CHECK(ec_chain_get(ec_actor_chain(a), 12, &e) == 0 && memcmp(e.hash, rep.head, 32) == 0);
    ec_replay_report_free(&rep);
    ec_runtime_free(rt);
    scratch_end();
}

static void pingpong_identical(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "pingpong", "ping", "pong");
    ec_actor *b = spawn(rt, "pingpong", "pong", "ping");
    REQUIRE(a && b);
    CHECK_OK(ec_runtime_send(rt, "ping", "serve 4", 7));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_replay_report rep;
    CHECK_OK(replay_identical(ec_actor_chain(a), &rep));
    ec_replay_report_free(&rep);
    CHECK_OK(replay_identical(ec_actor_chain(b), &rep));
    ec_replay_report_free(&rep);
    ec_runtime_free(rt);
    scratch_end();
}

/* The supervisor group: each actor replayed from its own chain, the crasher's with its
 * traps and restarts; the worker answers a request from its parent. */
static void supervisor_group_identical(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    REQUIRE(spawn(rt, "supervisor", "sup", NULL));
    const char *msgs[] = {"work 3", "crash", "work 4", "status", "total", "crash"};
    for (size_t k = 0; k < sizeof msgs / sizeof msgs[0]; k++)
        CHECK_OK(ec_runtime_send(rt, "sup", msgs[k], strlen(msgs[k])));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    REQUIRE(ec_runtime_actor_count(rt) == 3);
    for (size_t k = 0; k < 3; k++) {
        ec_actor *x = ec_runtime_actor_at(rt, k);
        ec_replay_report rep;
        CHECK_OK(replay_identical(ec_actor_chain(x), &rep));
        ec_replay_report_free(&rep);
    }
    ec_runtime_free(rt);
    scratch_end();
}

/* A chain that ends in a trap: the replay traps at the same seq. */
static void trap_reproduced(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "crasher", "x", NULL);
    REQUIRE(a);
    CHECK_OK(ec_runtime_send(rt, "x", "crash", 5));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    REQUIRE(ec_actor_get_state(a) == EC_ACTOR_TRAPPED);
    ec_replay_report rep;
    CHECK_OK(replay_identical(ec_actor_chain(a), &rep));
    uint64_t trap_seq = 0;
    CHECK_OK(find_event(ec_actor_chain(a), "wasm/trap", 0, NULL, &trap_seq));
    CHECK(rep.trapped && rep.trap_seq == trap_seq && trap_seq + 1 == rep.events);
    ec_replay_report_free(&rep);
    ec_runtime_free(rt);
    scratch_end();
}

/* The benchmark pair (time_now in a loop, request round trips) and tally. */
static void bench_and_tally_identical(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *x = spawn(rt, "bench", "x", "y"), *y = spawn(rt, "bench", "y", "x");
    ec_actor *t = spawn(rt, "tally", "t", "3");
    REQUIRE(x && y && t);
    CHECK_OK(ec_runtime_send(rt, "x", "clock 100", 9));
    CHECK_OK(ec_runtime_send(rt, "x", "ask 3", 5));
    CHECK_OK(ec_runtime_send(rt, "t", "4", 1));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_actor *all[] = {x, y, t};
    for (int k = 0; k < 3; k++) {
        ec_replay_report rep;
        CHECK_OK(replay_identical(ec_actor_chain(all[k]), &rep));
        ec_replay_report_free(&rep);
    }
    ec_runtime_free(rt);
    scratch_end();
}

/* Whether file holds the u64s a and b (little-endian, 8-aligned) at most 16 bytes apart. */
static int holds_pair(const char *file, uint64_t a, uint64_t b, long *size)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return 0;
    static uint8_t buf[1 << 22];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    *size = (long)n;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v, w;
        memcpy(&v, buf + i, 8);
        if (v != a)
            continue;
        for (size_t d = 8; d <= 16; d += 8) {
            if (i + d + 8 <= n && (memcpy(&w, buf + i + d, 8), w == b))
                return 1;
            if (i >= d && (memcpy(&w, buf + i - d, 8), w == b))
                return 1;
        }
    }
    return 0;
}

/* memory_out: tally's memory (its total and count are static u64s) where the replay stops;
 * nothing for an actor with no instance there; ignored in options of version 1. */
static void memory_out(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *t = spawn(rt, "tally", "t", "3");
    REQUIRE(t);
    CHECK_OK(ec_runtime_send(rt, "t", "4", 1));
    CHECK_OK(ec_runtime_send(rt, "t", "crash", 5));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_chain *c = ec_actor_chain(t);
    uint64_t trap_seq = 0;
    REQUIRE(find_event(c, "wasm/trap", 0, NULL, &trap_seq) == 0);
    char file[600];
    snprintf(file, sizeof file, "%s/t.mem", t_data);
    ec_replay_options o = EC_REPLAY_OPTIONS_INIT;
    o.cache_dir = cache();
    o.memory_out = file;
    o.until = trap_seq - 1;
    ec_replay_report rep;
    CHECK_OK(ec_actor_replay(c, NULL, &o, &rep));
    long size = 0;
    CHECK(rep.memory_written && rep.memory_at == trap_seq && rep.memory_len % 65536 == 0);
    CHECK(holds_pair(file, 7, 1, &size) && size == (long)rep.memory_len);
    ec_replay_report_free(&rep);
    /* After ec_init: 3 and 0, not yet 7. */
    uint64_t init_end = 0;
    REQUIRE(find_event(c, "wasm/result", 0, NULL, &init_end) == 0);
    o.until = init_end;
    CHECK_OK(ec_actor_replay(c, NULL, &o, &rep));
    CHECK(rep.memory_written && rep.memory_at == init_end + 1);
    CHECK(holds_pair(file, 3, 0, &size) && !holds_pair(file, 7, 1, &size));
    ec_replay_report_free(&rep);
    /* Inside ec_init's call (stopped at its wasm/result): the state init made. */
    o.until = init_end - 1;
    CHECK_OK(ec_actor_replay(c, NULL, &o, &rep));
    CHECK(rep.memory_written && rep.memory_at == init_end);
    CHECK(holds_pair(file, 3, 0, &size));
    ec_replay_report_free(&rep);
    /* The whole chain: the actor ends trapped, with no instance: nothing written. */
    CHECK(unlink(file) == 0);
    o.until = UINT64_MAX;
    CHECK_OK(ec_actor_replay(c, NULL, &o, &rep));
    CHECK(!rep.memory_written && strstr(rep.memory_why, "no instance") && access(file, F_OK) != 0);
    ec_replay_report_free(&rep);
    /* Version 1 options end before memory_out: it is not read. */
    o.version = 1;
    o.until = trap_seq - 1;
    CHECK_OK(ec_actor_replay(c, NULL, &o, &rep));
    CHECK(!rep.memory_written && access(file, F_OK) != 0);
    ec_replay_report_free(&rep);
    ec_runtime_free(rt);
    scratch_end();
}

/* The hostile actor's traps (out of fuel, stack exhausted, a bad pointer given to a host
 * call, division by zero) and its memory bomb: each reproduced at the same seq. */
static void hostile_traps_reproduced(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(2000000);
    REQUIRE(rt);
    const char *msgs[] = {"loop", "recurse", "oob", "divzero", "bomb"};
    for (size_t k = 0; k < sizeof msgs / sizeof msgs[0]; k++) {
        ec_actor *a = spawn(rt, "hostile", msgs[k], NULL);
        REQUIRE(a);
        CHECK_OK(ec_runtime_send(rt, msgs[k], msgs[k], strlen(msgs[k])));
        CHECK_OK(ec_runtime_run(rt, 0, NULL));
        CHECK(ec_actor_get_state(a) == EC_ACTOR_TRAPPED);
        ec_replay_report rep;
        CHECK_OK(replay_identical(ec_actor_chain(a), &rep));
        uint64_t trap = 0;
        CHECK_OK(find_event(ec_actor_chain(a), "wasm/trap", 0, NULL, &trap));
        CHECK(rep.trapped && rep.trap_seq == trap);
        ec_replay_report_free(&rep);
    }
    ec_runtime_free(rt);
    scratch_end();
}

/* ---- no effect ---- */

static uint64_t tree_sum;
static int sum_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)flag, (void)ftw;
    /* FNV-1a over each path, size and modification time: any file made, changed or
     * removed changes the sum. */
    uint64_t h = tree_sum ^ 0xcbf29ce484222325ull;
    for (const char *s = p; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    uint64_t v[3] = {(uint64_t)sb->st_size, (uint64_t)sb->st_mtim.tv_sec,
                     (uint64_t)sb->st_mtim.tv_nsec};
    for (int k = 0; k < 3; k++)
        h = (h ^ v[k]) * 0x100000001b3ull;
    tree_sum += h;
    return 0;
}
static uint64_t tree_digest(const char *dir)
{
    tree_sum = 0;
    nftw(dir, sum_cb, 16, FTW_PHYS);
    return tree_sum;
}

/* The files actor writes, reads, lists and deletes in its sandbox, reads the environment and
 * random bytes, and the counter uses the store: their replays leave the data directory (the
 * sandbox, the store) as it was, and do not read the environment again. */
static void no_effect(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    setenv("GREETING", "bonjour", 1);
    const char *allow[] = {"GREETING"};
    ec_actor_options o = EC_ACTOR_OPTIONS_INIT;
    o.id = "f";
    o.env_allow = allow;
    o.env_allow_count = 1;
    ec_actor *a = NULL;
    REQUIRE_OK(ec_runtime_spawn(rt, actor_path("files"), &o, &a));
    ec_actor *c = spawn(rt, "counter", "c", NULL);
    REQUIRE(c);
    const char *msgs[] = {"write a.txt hello world", "read a.txt", "greet", "list", "delete a.txt",
                          "write b.txt kept"};
    for (size_t k = 0; k < sizeof msgs / sizeof msgs[0]; k++)
        CHECK_OK(ec_runtime_send(rt, "f", msgs[k], strlen(msgs[k])));
    CHECK_OK(ec_runtime_send(rt, "c", "inc", 3));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    uint64_t before = tree_digest(t_data);
    /* Another value in the environment: the replay must give the recorded one. */
    setenv("GREETING", "changed", 1);
    ec_replay_report rep;
    CHECK_OK(replay_identical(ec_actor_chain(a), &rep));
    ec_replay_report_free(&rep);
    CHECK_OK(replay_identical(ec_actor_chain(c), &rep));
    ec_replay_report_free(&rep);
    CHECK(tree_digest(t_data) == before);
    ec_runtime_free(rt);
    scratch_end();
}

/* ---- divergence ---- */

/* counter2 counts by 2: replayed on counter's chain, the first store/put differs. */
static void divergence_reported(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "counter", "c", NULL);
    REQUIRE(a);
    CHECK_OK(ec_runtime_send(rt, "c", "inc", 3));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    uint64_t put_seq = 0;
    REQUIRE_OK(find_event(ec_actor_chain(a), "store/put", 0, NULL, &put_seq));
    ec_replay_options o = EC_REPLAY_OPTIONS_INIT;
    o.cache_dir = cache();
    o.module_path = actor_path("counter2");
    ec_replay_report rep;
    /* Another module is refused unless asked for. */
    CHECK(ec_actor_replay(ec_actor_chain(a), NULL, &o, &rep) == EC_EDENIED);
    CHECK(!rep.diverged && strstr(ec_error_last()->message, "SHA-256"));
    o.any_module = 1;
    CHECK(ec_actor_replay(ec_actor_chain(a), NULL, &o, &rep) == EC_EDIVERGE);
    CHECK(rep.diverged && rep.seq == put_seq && rep.events == put_seq);
    CHECK(strcmp(rep.expected_type, "store/put") == 0 && strcmp(rep.actual_type, "store/put") == 0);
    char *e = NULL, *g = NULL;
    CHECK_OK(ec_payload_to_json("store/put", rep.expected_data, rep.expected_len, &e));
    CHECK_OK(ec_payload_to_json("store/put", rep.actual_data, rep.actual_len, &g));
    CHECK(e && strcmp(e, "{\"data\":\"1\"}") == 0);
    CHECK(g && strcmp(g, "{\"data\":\"2\"}") == 0);
    free(e);
    free(g);
    ec_replay_report_free(&rep);
    /* The same module as recorded, taken from the cache: no divergence. */
    o.module_path = NULL;
    o.any_module = 0;
    CHECK_OK(ec_actor_replay(ec_actor_chain(a), NULL, &o, &rep));
    ec_replay_report_free(&rep);
    ec_runtime_free(rt);
    scratch_end();
}

/* A chain that asks more of the actor than it does: an extra recorded call result. The
 * replayed actor stops at the forged event, and the report says what it did instead. */
static void forged_chain_diverges(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "counter", "c", NULL);
    REQUIRE(a);
    CHECK_OK(ec_runtime_send(rt, "c", "inc", 3));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_chain *src = ec_actor_chain(a);
    uint64_t res_seq = 0;
    REQUIRE_OK(find_event(src, "wasm/result", 1, NULL, &res_seq));
    /* A copy with a time/now inserted before the message's wasm/result. */
    ec_backend *be;
    ec_chain *f;
    REQUIRE_OK(ec_backend_memory(&be, NULL));
    REQUIRE_OK(ec_chain_open(&f, be, NULL));
    for (uint64_t s = 0; s < ec_chain_count(src); s++) {
        ec_event ev;
        REQUIRE_OK(ec_chain_get(src, s, &ev));
        ec_event_input in = {0};
        if (s == res_seq) {
            in.type = "time/now";
            in.data = "\xa0";
            in.data_len = 1;
            in.timestamp = ev.timestamp;
            REQUIRE_OK(ec_chain_append(f, &in, NULL, NULL));
            REQUIRE_OK(ec_chain_get(src, s, &ev));
        }
        in.type = ev.type;
        in.type_len = ev.type_len;
        in.data = ev.data;
        in.data_len = ev.data_len;
        in.timestamp = ev.timestamp;
        REQUIRE_OK(ec_chain_append(f, &in, NULL, NULL));
    }
    ec_replay_options o = EC_REPLAY_OPTIONS_INIT;
    o.cache_dir = cache();
    ec_replay_report rep;
    CHECK(ec_actor_replay(f, NULL, &o, &rep) == EC_EDIVERGE);
    CHECK(rep.diverged && rep.seq == res_seq);
    CHECK(strcmp(rep.expected_type, "time/now") == 0 &&
          strcmp(rep.actual_type, "wasm/result") == 0);
    ec_replay_report_free(&rep);
    /* The same events, one with a description added: payloads all match, the record (and
     * so the hash) does not. */
    ec_chain *d;
    REQUIRE_OK(ec_backend_memory(&be, NULL));
    REQUIRE_OK(ec_chain_open(&d, be, NULL));
    for (uint64_t q = 0; q < ec_chain_count(src); q++) {
        ec_event ev;
        REQUIRE_OK(ec_chain_get(src, q, &ev));
        ec_event_input in = {0};
        in.type = ev.type;
        in.type_len = ev.type_len;
        in.data = ev.data;
        in.data_len = ev.data_len;
        in.timestamp = ev.timestamp;
        if (q == res_seq)
            in.description = "annotated";
        REQUIRE_OK(ec_chain_append(d, &in, NULL, NULL));
    }
    CHECK(ec_actor_replay(d, NULL, &o, &rep) == EC_EDIVERGE);
    CHECK(rep.diverged && rep.seq == res_seq && strstr(rep.why, "record differs"));
    ec_replay_report_free(&rep);
    ec_chain_free(d);
    /* Not an actor chain at all. */
    ec_chain *plain;
    REQUIRE_OK(ec_backend_memory(&be, NULL));
    REQUIRE_OK(ec_chain_open(&plain, be, NULL));
    ec_event_input in = {0};
    in.type = "note";
    REQUIRE_OK(ec_chain_append(plain, &in, NULL, NULL));
    CHECK(ec_actor_replay(plain, NULL, &o, &rep) == EC_EFORMAT);
    ec_chain_free(plain);
    ec_chain_free(f);
    ec_runtime_free(rt);
    scratch_end();
}

/* A chain cut inside a call (as a crash leaves it, or as a running actor's chain looks):
 * reproduced up to its end, with no divergence and no trap reported. */
static void cut_chain(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "counter", "c", NULL);
    REQUIRE(a);
    CHECK_OK(ec_runtime_send(rt, "c", "inc", 3));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_chain *src = ec_actor_chain(a);
    uint64_t put = 0;
    REQUIRE_OK(find_event(src, "store/put", 0, NULL, &put));
    ec_backend *be;
    ec_chain *cut = NULL;
    REQUIRE_OK(ec_backend_memory(&be, NULL));
    REQUIRE_OK(ec_chain_open(&cut, be, NULL));
    ec_backend *sb = ec_chain_backend(src);
    for (uint64_t q = 0; q <= put; q++) {
        const uint8_t *rec;
        size_t rl;
        REQUIRE_OK(sb->get(sb, q, &rec, &rl));
        REQUIRE_OK(ec_chain_append_record(cut, rec, rl));
    }
    ec_replay_options o = EC_REPLAY_OPTIONS_INIT;
    o.cache_dir = cache();
    ec_replay_report rep;
    CHECK_OK(ec_actor_replay(cut, NULL, &o, &rep));
    CHECK(rep.cut && !rep.trapped && !rep.diverged && rep.events == put + 1);
    ec_replay_report_free(&rep);
    ec_chain_free(cut);
    ec_runtime_free(rt);
    scratch_end();
}

/* A copy of src (its records as stored) with one event appended after them. */
static ec_chain *copy_plus(ec_chain *src, const char *type, const void *data, size_t len)
{
    ec_backend *be;
    ec_chain *c = NULL;
    if (ec_backend_memory(&be, NULL) || ec_chain_open(&c, be, NULL))
        return NULL;
    ec_backend *sb = ec_chain_backend(src);
    uint64_t n = ec_chain_count(src);
    ec_event last;
    for (uint64_t q = 0; q < n; q++) {
        const uint8_t *rec;
        size_t rl;
        if (sb->get(sb, q, &rec, &rl) || ec_chain_append_record(c, rec, rl))
            goto fail;
    }
    if (ec_chain_get(src, n - 1, &last))
        goto fail;
    ec_event_input in = {0};
    in.type = type;
    in.data = data;
    in.data_len = len;
    in.timestamp = last.timestamp + 1000;
    if (ec_chain_append(c, &in, NULL, NULL) == 0)
        return c;
fail:
    ec_chain_free(c);
    return NULL;
}

/* A marker payload {point, abandoned, point_hash} (values under 24, a 32-byte hash). */
static size_t marker_bytes(uint8_t *p, uint64_t point, uint64_t abandoned, const uint8_t *h)
{
    size_t k = 0;
    p[k++] = 0xa3;
    p[k++] = 0x65;
    memcpy(p + k, "point", 5);
    k += 5;
    p[k++] = (uint8_t)point;
    p[k++] = 0x69;
    memcpy(p + k, "abandoned", 9);
    k += 9;
    p[k++] = (uint8_t)abandoned;
    p[k++] = 0x6a;
    memcpy(p + k, "point_hash", 10);
    k += 10;
    p[k++] = 0x58;
    p[k++] = 32;
    memcpy(p + k, h, 32);
    return k + 32;
}

/* Replay of c: EC_EDIVERGE at seq `at`, the reason holding `why`. */
static int diverges_at(ec_chain *c, uint64_t at, const char *why)
{
    ec_replay_options o = EC_REPLAY_OPTIONS_INIT;
    o.cache_dir = cache();
    ec_replay_report rep;
    int rc = ec_actor_replay(c, NULL, &o, &rep);
    int ok = rc == EC_EDIVERGE && rep.diverged && rep.seq == at && strstr(rep.why, why);
    if (!ok)
        fprintf(stderr, "  replay: rc %d, diverged %d at %llu: %s\n", rc, rep.diverged,
                (unsigned long long)rep.seq, rep.why);
    ec_replay_report_free(&rep);
    ec_chain_free(c);
    return ok;
}

/* c (freed) replays identically. */
static int identical(ec_chain *c)
{
    if (!c)
        return 0;
    ec_replay_report rep;
    int rc = replay_identical(c, &rep);
    ec_replay_report_free(&rep);
    ec_chain_free(c);
    return rc == 0;
}

/* Recovery markers and server records the runtime can never write are divergences, not
 * taken as recorded (docs/ABI.md section 7: `abandoned` is a check; the point is a call
 * boundary with the hash `point_hash`; http/request and http/refused hold FORMAT.md section 7
 * messages). */
static void forged_markers_diverge(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "tally", "t", "10");
    REQUIRE(a);
    const char *msgs[] = {"5", "7", "crash"};
    for (size_t k = 0; k < 3; k++)
        CHECK_OK(ec_runtime_send(rt, "t", msgs[k], strlen(msgs[k])));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_chain *src = ec_actor_chain(a);
    uint64_t n = ec_chain_count(src), p = 0;
    REQUIRE_OK(find_event(src, "wasm/result", 2, NULL, &p)); /* after init, 5, 7 */
    REQUIRE(n < 24);
    uint8_t hp[32], h0[32], h1[32], h2[32], buf[128];
    uint8_t *hs[] = {h0, h1, h2};
    ec_event ev;
    for (uint64_t q = 0; q < 3; q++) {
        REQUIRE_OK(ec_chain_get(src, q, &ev));
        memcpy(hs[q], ev.hash, 32);
    }
    REQUIRE_OK(ec_chain_get(src, p, &ev));
    memcpy(hp, ev.hash, 32);
    /* Server records (FORMAT.md section 7): a refusal, a request. */
    ec_http_msg m;
    memset(&m, 0, sizeof m);
    m.kind = EC_HTTP_REFUSAL;
    m.status = 503;
    m.reason = "stopping";
    m.reason_len = 8;
    uint8_t *refusal = NULL, *request = NULL;
    size_t rfl = 0, rql = 0;
    REQUIRE_OK(ec_http_encode_alloc(&m, &refusal, &rfl));
    memset(&m, 0, sizeof m);
    m.kind = EC_HTTP_REQUEST;
    m.method = "GET";
    m.method_len = 3;
    m.target = "/";
    m.target_len = 1;
    REQUIRE_OK(ec_http_encode_alloc(&m, &request, &rql));

    /* The marker the runtime writes replays identically. */
    CHECK(identical(copy_plus(src, "runtime/recovered", buf, marker_bytes(buf, p, n - 1 - p, hp))));
    /* abandoned is not M-1-P (one more) */
    CHECK(diverges_at(copy_plus(src, "runtime/recovered", buf, marker_bytes(buf, p, n - p, hp)), n,
                      "abandoned count"));
    /* point_hash is another event's */
    CHECK(diverges_at(copy_plus(src, "runtime/migrated", buf, marker_bytes(buf, p, n - 1 - p, h2)),
                      n, "point_hash"));
    /* point 0 of an actor with ec_init; point 1, its wasm/call */
    CHECK(diverges_at(copy_plus(src, "runtime/recovered", buf, marker_bytes(buf, 0, n - 1, h0)), n,
                      "not a call boundary"));
    CHECK(diverges_at(copy_plus(src, "runtime/recovered", buf, marker_bytes(buf, 1, n - 2, h1)), n,
                      "not a call boundary"));
    /* a key too many (first: the shortest key, in deterministic order) */
    uint8_t t2[128];
    size_t ml = marker_bytes(t2, p, n - 1 - p, hp);
    memcpy(buf, "\xa4\x61x\x00", 4);
    memcpy(buf + 4, t2 + 1, ml - 1);
    CHECK(diverges_at(copy_plus(src, "runtime/recovered", buf, ml + 3), n, "payload is not"));
    /* A refusal or a request the server can write is copied; garbage, or a request under the
     * refusal's name, is not. */
    CHECK(identical(copy_plus(src, "http/refused", refusal, rfl)));
    CHECK(identical(copy_plus(src, "http/request", request, rql)));
    CHECK(diverges_at(copy_plus(src, "http/refused", "garbage", 7), n, "not a refusal payload"));
    CHECK(diverges_at(copy_plus(src, "http/refused", request, rql), n, "not a refusal payload"));
    CHECK(diverges_at(copy_plus(src, "http/request", "\xa0", 1), n, "not a request payload"));
    free(refusal);
    free(request);
    ec_runtime_free(rt);
    scratch_end();
}

/* ---- recovery ---- */

static ec_runtime *disk_runtime(void)
{
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
    o.data_dir = t_data;
    o.cache_dir = cache();
    o.durability = EC_DURABLE_NONE;
    o.quiet = 1;
    ec_runtime *rt = NULL;
    return ec_runtime_new(&rt, &o) == 0 ? rt : NULL;
}

static ec_chain *open_chain_dir(const char *id)
{
    char p[600];
    snprintf(p, sizeof p, "%s/actors/%s/chain", t_data, id);
    ec_chain *c = NULL;
    return ec_chain_open_path(&c, p, NULL) == 0 ? c : NULL;
}

/* The chain of actor id in the test's data folder replays identically (rep: its report). */
static int dir_replays_identically(const char *id, ec_replay_report *rep)
{
    ec_chain *c = open_chain_dir(id);
    if (!c)
        return -1;
    int rc = replay_identical(c, rep);
    ec_chain_free(c);
    return rc;
}

/* tally keeps its total in memory: after a trap, recovery rebuilds it (10+5+7) by replay,
 * marks the point, and the next message makes 23. The chain, abandoned line included, still
 * replays identically. */
static void recover_after_trap(void)
{
    scratch_begin();
    ec_runtime *rt = disk_runtime();
    REQUIRE(rt);
    REQUIRE(spawn(rt, "tally", "t", "10"));
    const char *msgs[] = {"5", "7", "crash"};
    for (size_t k = 0; k < 3; k++)
        CHECK_OK(ec_runtime_send(rt, "t", msgs[k], strlen(msgs[k])));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    REQUIRE(ec_actor_get_state(ec_runtime_find(rt, "t")) == EC_ACTOR_TRAPPED);
    ec_runtime_free(rt);

    ec_chain *c = open_chain_dir("t");
    REQUIRE(c);
    uint64_t n0 = ec_chain_count(c), last_result = 0, trap = 0;
    REQUIRE_OK(find_event(c, "wasm/result", 2, NULL, &last_result)); /* init, 5, 7 */
    REQUIRE_OK(find_event(c, "wasm/trap", 0, NULL, &trap));
    CHECK(trap > last_result);
    ec_chain_free(c);

    char path[600];
    snprintf(path, sizeof path, "%s/actors/t/chain", t_data);
    ec_recover_options o = EC_RECOVER_OPTIONS_INIT;
    o.cache_dir = cache();
    o.quiet = 1;
    ec_runtime *rt2 = NULL;
    ec_actor *a = NULL;
    ec_replay_report rep;
    uint64_t mseq = 0;
    /* Not a call boundary: refused, naming the one before. */
    o.to = trap;
    CHECK(ec_runtime_recover(&rt2, &a, path, &o, &rep, &mseq) == EC_EINVAL);
    CHECK(strstr(ec_error_last()->message, "not a call boundary"));
    o.to = UINT64_MAX; /* the default: the last good state */
    REQUIRE_OK(ec_runtime_recover(&rt2, &a, path, &o, &rep, &mseq));
    CHECK(mseq == n0 && rep.events == last_result + 1);
    CHECK(ec_actor_get_state(a) == EC_ACTOR_RUNNING);
    CHECK_OK(ec_runtime_send(rt2, "t", "1", 1));
    CHECK_OK(ec_runtime_run(rt2, 0, NULL));
    char *js = NULL;
    REQUIRE_OK(find_event(ec_actor_chain(a), "runtime/log", 2, &js, NULL));
    CHECK(strstr(js, "total = 23"));
    free(js);
    REQUIRE_OK(find_event(ec_actor_chain(a), "runtime/recovered", 0, &js, NULL));
    char want[64];
    snprintf(want, sizeof want, "{\"point\":%llu,\"abandoned\":%llu,",
             (unsigned long long)last_result, (unsigned long long)(n0 - last_result - 1));
    CHECK(strncmp(js, want, strlen(want)) == 0);
    free(js);
    ec_runtime_free(rt2);

    /* A second recovery on top of the first, to an earlier point (after "5"), then the whole
     * chain with its two markers replays identically. */
    c = open_chain_dir("t");
    REQUIRE(c);
    uint64_t p1 = 0;
    REQUIRE_OK(find_event(c, "wasm/result", 1, NULL, &p1));
    ec_chain_free(c);
    o.to = p1;
    REQUIRE_OK(ec_runtime_recover(&rt2, &a, path, &o, &rep, &mseq));
    CHECK_OK(ec_runtime_send(rt2, "t", "100", 3));
    CHECK_OK(ec_runtime_run(rt2, 0, NULL));
    REQUIRE_OK(find_event(ec_actor_chain(a), "runtime/log", 3, &js, NULL));
    CHECK(strstr(js, "total = 115"));
    free(js);
    ec_runtime_free(rt2);
    CHECK_OK(dir_replays_identically("t", &rep));
    ec_replay_report_free(&rep);
    scratch_end();
}

/* A recovery's signer made when it goes live (checkpoint_signer_make), never by a refused
 * one; a module another than the chain's refused before it is compiled into the cache; a
 * signer that cannot be made refuses the recovery with the chain as it was; version 1
 * options (without the callback) are still read. */
static int made_signers;
static int fail_signer;
static ec_signer *made_signer;
static int make_signer(void *ctx, ec_signer **out)
{
    (void)ctx;
    made_signers++;
    if (fail_signer)
        return EC_EIO;
    int rc = ec_signer_generate(&made_signer, "test-runtime");
    *out = made_signer;
    return rc;
}

static void recover_signer_when_live(void)
{
    scratch_begin();
    ec_runtime *rt = disk_runtime();
    REQUIRE(rt);
    REQUIRE(spawn(rt, "tally", "t", "10"));
    CHECK_OK(ec_runtime_send(rt, "t", "5", 1));
    CHECK_OK(ec_runtime_send(rt, "t", "crash", 5));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_runtime_free(rt);
    char path[600], cache2[600], latest[700];
    snprintf(path, sizeof path, "%s/actors/t/chain", t_data);
    snprintf(cache2, sizeof cache2, "%s/cache2", t_data);
    snprintf(latest, sizeof latest, "%s/checkpoints/latest", path);
    ec_chain *c = open_chain_dir("t");
    REQUIRE(c);
    uint64_t n0 = ec_chain_count(c);
    ec_chain_free(c);

    ec_recover_options o = EC_RECOVER_OPTIONS_INIT;
    o.quiet = 1;
    o.checkpoint_signer_make = make_signer;
    ec_runtime *rt2 = NULL;
    ec_actor *a = NULL;
    ec_replay_report rep;
    uint64_t mseq = 0;
    struct stat st;
    made_signers = 0;
    /* Another module, into a cache that does not exist yet: refused, nothing compiled. */
    o.cache_dir = cache2;
    o.module_path = actor_path("counter");
    CHECK(ec_runtime_recover(&rt2, &a, path, &o, &rep, &mseq) == EC_EDENIED);
    ec_replay_report_free(&rep);
    CHECK(stat(cache2, &st) != 0);
    CHECK(made_signers == 0);
    /* The signer cannot be made: refused after the replay, the chain as it was. */
    o.cache_dir = cache();
    o.module_path = NULL;
    fail_signer = 1;
    CHECK(ec_runtime_recover(&rt2, &a, path, &o, &rep, &mseq) == EC_EIO);
    ec_replay_report_free(&rep);
    CHECK(made_signers == 1);
    c = open_chain_dir("t");
    REQUIRE(c);
    CHECK(ec_chain_count(c) == n0);
    ec_chain_free(c);
    CHECK(stat(latest, &st) != 0);
    /* Going live: made once, and it signs the chain's checkpoints. */
    fail_signer = 0;
    REQUIRE_OK(ec_runtime_recover(&rt2, &a, path, &o, &rep, &mseq));
    ec_replay_report_free(&rep);
    CHECK(made_signers == 2 && mseq == n0);
    ec_runtime_free(rt2);
    ec_signer_free(made_signer);
    made_signer = NULL;
    CHECK(stat(latest, &st) == 0);
    /* Version 1: the fields before the callback only (no signer: none made). */
    o.version = 1;
    REQUIRE_OK(ec_runtime_recover(&rt2, &a, path, &o, &rep, &mseq));
    ec_replay_report_free(&rep);
    CHECK(made_signers == 2);
    ec_runtime_free(rt2);
    scratch_end();
}

/* Automatic recovery, bounded: tally traps three times with a budget of two recoveries. Each
 * recovery resumes from the last good total; the third trap stays. */
static void auto_recover_bounded(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    CHECK_OK(ec_runtime_set_recover(rt, 2));
    ec_actor *a = spawn(rt, "tally", "t", "10");
    REQUIRE(a);
    const char *msgs[] = {"5", "crash", "7", "crash", "1", "crash", "100"};
    for (size_t k = 0; k < sizeof msgs / sizeof msgs[0]; k++)
        CHECK_OK(ec_runtime_send(rt, "t", msgs[k], strlen(msgs[k])));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    CHECK(ec_actor_get_state(a) == EC_ACTOR_TRAPPED);
    char *js = NULL;
    const char *want[] = {"total = 15", "total = 22", "total = 23"};
    for (int k = 0; k < 3; k++) {
        REQUIRE_OK(find_event(ec_actor_chain(a), "runtime/log", k, &js, NULL));
        CHECK(strstr(js, want[k]));
        free(js);
    }
    CHECK(find_event(ec_actor_chain(a), "runtime/log", 3, NULL, NULL) != 0);
    CHECK_OK(find_event(ec_actor_chain(a), "runtime/recovered", 1, NULL, NULL));
    CHECK(find_event(ec_actor_chain(a), "runtime/recovered", 2, NULL, NULL) != 0);
    ec_replay_report rep;
    CHECK_OK(replay_identical(ec_actor_chain(a), &rep));
    CHECK(rep.trapped);
    ec_replay_report_free(&rep);
    ec_runtime_free(rt);
    scratch_end();
}

/* In the supervisor group the crasher is recovered by the runtime: its parent is not told
 * (no ec_handle_child call), and every chain of the group still replays identically. */
static void auto_recover_in_group(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    CHECK_OK(ec_runtime_set_recover(rt, 3));
    REQUIRE(spawn(rt, "supervisor", "sup", NULL));
    const char *msgs[] = {"work 3", "crash", "work 4", "crash", "total"};
    for (size_t k = 0; k < sizeof msgs / sizeof msgs[0]; k++)
        CHECK_OK(ec_runtime_send(rt, "sup", msgs[k], strlen(msgs[k])));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_actor *sup = ec_runtime_find(rt, "sup"), *cr = ec_runtime_find(rt, "sup.crasher");
    REQUIRE(sup && cr);
    CHECK(ec_actor_get_state(cr) == EC_ACTOR_RUNNING);
    CHECK_OK(find_event(ec_actor_chain(cr), "runtime/recovered", 1, NULL, NULL));
    CHECK(find_event(ec_actor_chain(cr), "actor/restart", 0, NULL, NULL) != 0);
    char *js = NULL;
    for (int k = 0; find_event(ec_actor_chain(sup), "wasm/call", k, &js, NULL) == 0; k++) {
        CHECK(!strstr(js, "ec_handle_child"));
        free(js);
    }
    for (size_t k = 0; k < ec_runtime_actor_count(rt); k++) {
        ec_replay_report rep;
        CHECK_OK(replay_identical(ec_actor_chain(ec_runtime_actor_at(rt, k)), &rep));
        ec_replay_report_free(&rep);
    }
    ec_runtime_free(rt);
    scratch_end();
}

/* ---- timers across recoveries ---- */

/* The hash of event seq of c, in hex: what a timer delivery's JSON shows as its link. */
static void event_hex(ec_chain *c, uint64_t seq, char hex[65])
{
    ec_event e;
    hex[0] = 0;
    if (ec_chain_get(c, seq, &e) == 0)
        ec_hex_encode(hex, e.hash, e.hash_len);
}

/* The ec_handle_timer calls of c after seq `after` (with link `hex` when not NULL): how many,
 * and the JSON of the first in *first (malloc'd) when first is not NULL. */
static int timer_calls(ec_chain *c, uint64_t after, const char *hex, char **first)
{
    int n = 0;
    char *js = NULL;
    uint64_t q;
    for (int k = 0; find_event(c, "wasm/call", k, &js, &q) == 0; k++) {
        if (q > after && strstr(js, "\"fn\":\"ec_handle_timer\"") &&
            strstr(js, "\"from\":\"@timer\"") && (!hex || strstr(js, hex))) {
            if (n++ == 0 && first) {
                *first = js;
                js = NULL;
            }
        }
        free(js);
        js = NULL;
    }
    return n;
}

/* A recovery re-arms the timers pending at its point: set in the live line up to it and not
 * delivered in it. The runtime goes away with two pending (tag 7 due in 100 ms, tag 9 in a
 * minute) after one delivered (tag 1): recovered, tag 7 is delivered linking its timer/set,
 * tag 9 waits with what is left of its minute, tag 1 is not delivered again. Recovered again
 * to just after tag 7 was set, tag 9's timer/set is abandoned (not re-armed) and tag 7's
 * delivery too (re-armed: due at once). The chain, both markers included, replays
 * identically. */
static void recover_rearms_timers(void)
{
    scratch_begin();
    ec_runtime *rt = disk_runtime();
    REQUIRE(rt);
    REQUIRE(spawn(rt, "counter", "c", NULL));
    CHECK_OK(ec_runtime_send(rt, "c", "tick", 4));
    size_t pending = 9;
    CHECK_OK(ec_runtime_run(rt, 2000, &pending));
    CHECK(pending == 0);
    CHECK_OK(ec_runtime_send(rt, "c", "tick 100 7", 10));
    CHECK_OK(ec_runtime_send(rt, "c", "tick 60000 9", 12));
    CHECK_OK(ec_runtime_run(rt, 0, &pending));
    CHECK(pending == 2);
    ec_runtime_free(rt); /* its actor/stop comes after the point: abandoned */

    ec_chain *c = open_chain_dir("c");
    REQUIRE(c);
    uint64_t set1, set7, set9, p7;
    REQUIRE_OK(find_event(c, "timer/set", 0, NULL, &set1));
    REQUIRE_OK(find_event(c, "timer/set", 1, NULL, &set7));
    REQUIRE_OK(find_event(c, "timer/set", 2, NULL, &set9));
    /* wasm/results: ec_init, "tick", tag 1's delivery, "tick 100 7", "tick 60000 9" */
    REQUIRE_OK(find_event(c, "wasm/result", 3, NULL, &p7));
    CHECK(set7 < p7 && p7 < set9);
    char hex1[65], hex7[65], hex9[65];
    event_hex(c, set1, hex1);
    event_hex(c, set7, hex7);
    event_hex(c, set9, hex9);
    CHECK(timer_calls(c, 0, hex1, NULL) == 1);
    ec_chain_free(c);

    char path[600];
    snprintf(path, sizeof path, "%s/actors/c/chain", t_data);
    ec_recover_options o = EC_RECOVER_OPTIONS_INIT;
    o.cache_dir = cache();
    o.quiet = 1;
    ec_runtime *rt2 = NULL;
    ec_actor *a = NULL;
    ec_replay_report rep;
    uint64_t m1 = 0, m2 = 0;
    REQUIRE_OK(ec_runtime_recover(&rt2, &a, path, &o, &rep, &m1));
    int64_t wake = ec_runtime_next_wake_ms(rt2);
    CHECK(wake >= 0 && wake <= 100);
    CHECK_OK(ec_runtime_run(rt2, 600, &pending));
    CHECK(pending == 1);
    wake = ec_runtime_next_wake_ms(rt2);
    CHECK(wake > 30000 && wake <= 60000); /* never more than the recorded delay */
    char *js = NULL;
    CHECK(timer_calls(ec_actor_chain(a), m1, NULL, &js) == 1);
    CHECK(js && strstr(js, "\"arg\":7") && strstr(js, hex7));
    free(js);
    ec_runtime_free(rt2);

    o.to = p7;
    REQUIRE_OK(ec_runtime_recover(&rt2, &a, path, &o, &rep, &m2));
    CHECK(ec_runtime_next_wake_ms(rt2) == 0); /* over 100 ms since it was set: due */
    CHECK_OK(ec_runtime_run(rt2, 2000, &pending));
    CHECK(pending == 0);
    js = NULL;
    CHECK(timer_calls(ec_actor_chain(a), m2, NULL, &js) == 1);
    CHECK(js && strstr(js, "\"arg\":7") && strstr(js, hex7));
    free(js);
    CHECK(timer_calls(ec_actor_chain(a), 0, hex9, NULL) == 0);
    CHECK(timer_calls(ec_actor_chain(a), 0, hex1, NULL) == 1);
    ec_runtime_free(rt2);

    CHECK_OK(dir_replays_identically("c", &rep));
    ec_replay_report_free(&rep);
    scratch_end();
}

/* Automatic recovery and timers: the runtime's queue stays as it was at the point. Tag 3, set
 * before the trap, stays queued and is delivered once; tag 4, set by the call that traps, goes
 * with the abandoned line. A timer whose delivery traps is pending again at the point, so it
 * is delivered again after each recovery until the budget is used up (counter traps on a tag
 * with the top bit set). Every chain replays identically. */
static void auto_recover_timers(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    CHECK_OK(ec_runtime_set_recover(rt, 3));
    ec_actor *a = spawn(rt, "counter", "c", NULL);
    REQUIRE(a);
    CHECK_OK(ec_runtime_send(rt, "c", "tick 20 3", 9));
    CHECK_OK(ec_runtime_send(rt, "c", "tick 60000 4 trap", 17));
    size_t pending = 9;
    CHECK_OK(ec_runtime_run(rt, 2000, &pending));
    CHECK(pending == 0);
    CHECK(ec_actor_get_state(a) == EC_ACTOR_RUNNING);
    ec_chain *c = ec_actor_chain(a);
    CHECK_OK(find_event(c, "runtime/recovered", 0, NULL, NULL));
    uint64_t set3, set4;
    REQUIRE_OK(find_event(c, "timer/set", 0, NULL, &set3));
    REQUIRE_OK(find_event(c, "timer/set", 1, NULL, &set4));
    char hex3[65], hex4[65];
    event_hex(c, set3, hex3);
    event_hex(c, set4, hex4);
    char *js = NULL;
    CHECK(timer_calls(c, 0, NULL, &js) == 1);
    CHECK(js && strstr(js, "\"arg\":3") && strstr(js, hex3));
    free(js);
    CHECK(timer_calls(c, 0, hex4, NULL) == 0);

    const char *poison = "tick 1 9223372036854775808"; /* tag 2^63 */
    CHECK_OK(ec_runtime_send(rt, "c", poison, strlen(poison)));
    CHECK_OK(ec_runtime_run(rt, 2000, &pending));
    CHECK(pending == 0);
    CHECK(ec_actor_get_state(a) == EC_ACTOR_TRAPPED);
    uint64_t setp;
    REQUIRE_OK(find_event(c, "timer/set", 2, NULL, &setp));
    char hexp[65];
    event_hex(c, setp, hexp);
    CHECK(timer_calls(c, 0, hexp, NULL) == 3); /* the first, then after recoveries 2 and 3 */
    CHECK_OK(find_event(c, "runtime/recovered", 2, NULL, NULL));
    CHECK(find_event(c, "runtime/recovered", 3, NULL, NULL) != 0);
    ec_replay_report rep;
    CHECK_OK(replay_identical(c, &rep));
    CHECK(rep.trapped);
    ec_replay_report_free(&rep);
    ec_runtime_free(rt);
    scratch_end();
}

/* ---- snapshots ---- */

/* The object a state/snapshot event names, read from the store into buf (cap bytes): its
 * length, 0 when it cannot be read. The payload {"seq", "hash", "size"} has the hash after
 * "hash" 0x58 0x20; *hp_out (may be NULL) points at it. */
static size_t snapshot_object(const ec_event *ev, uint8_t *buf, size_t cap, const uint8_t **hp_out)
{
    const uint8_t *hp = NULL;
    for (size_t i = 0; i + 6 + 32 <= ev->data_len; i++)
        if (memcmp(ev->data + i, "hash\x58\x20", 6) == 0)
            hp = ev->data + i + 6;
    if (hp_out)
        *hp_out = hp;
    if (!hp)
        return 0;
    char hex[65], path[700];
    ec_hex_encode(hex, hp, 32);
    snprintf(path, sizeof path, "%s/store/objects/%s", t_data, hex);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* tally with a snapshot every 2 calls: the chain replays identically (each snapshot is taken
 * again and must hash the same), and from its newest snapshot too; a damaged snapshot object
 * is refused; recovery after a trap can start from the snapshot. */
static void snapshots(void)
{
    scratch_begin();
    ec_runtime *rt = disk_runtime();
    REQUIRE(rt);
    CHECK_OK(ec_runtime_set_snapshot_every(rt, 2));
    ec_actor *a = spawn(rt, "tally", "t", "10");
    REQUIRE(a);
    const char *msgs[] = {"5", "7", "9", "11"};
    for (size_t k = 0; k < 4; k++)
        CHECK_OK(ec_runtime_send(rt, "t", msgs[k], strlen(msgs[k])));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    CHECK_OK(ec_actor_snapshot(a)); /* on demand: a third */
    char *js = NULL;
    uint64_t s1 = 0, s3 = 0;
    REQUIRE_OK(find_event(ec_actor_chain(a), "state/snapshot", 0, &js, &s1));
    CHECK(strncmp(js, "{\"seq\":", 7) == 0);
    free(js);
    REQUIRE_OK(find_event(ec_actor_chain(a), "state/snapshot", 2, NULL, &s3));
    CHECK(find_event(ec_actor_chain(a), "state/snapshot", 3, NULL, NULL) != 0);
    CHECK_OK(ec_runtime_send(rt, "t", "crash", 5));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_runtime_free(rt);

    ec_chain *c = open_chain_dir("t");
    REQUIRE(c);
    ec_replay_report rep;
    CHECK_OK(replay_identical(c, &rep));
    ec_replay_report_free(&rep);
    char store[600];
    snprintf(store, sizeof store, "%s/store", t_data);
    ec_replay_options o = EC_REPLAY_OPTIONS_INIT;
    o.cache_dir = cache();
    o.from_snapshot = 1;
    o.store_dir = store;
    CHECK_OK(ec_actor_replay(c, NULL, &o, &rep));
    CHECK(rep.snapshot_seq == s3 && rep.events == ec_chain_count(c) && rep.trapped);
    ec_replay_report_free(&rep);
    /* --until before the last snapshot: the one before it is used. */
    o.until = s3 - 1;
    CHECK_OK(ec_actor_replay(c, NULL, &o, &rep));
    CHECK(rep.snapshot_seq < s3 && rep.snapshot_seq > s1 && rep.events == s3);
    ec_replay_report_free(&rep);
    o.until = UINT64_MAX;

    /* Damage the newest snapshot object: refused, not used. */
    ec_event ev;
    REQUIRE_OK(ec_chain_get(c, s3, &ev));
    char hex[65], path[800];
    {
        unsigned char h[32];
        /* the payload ends with "size"; the hash follows "hash" 0x58 0x20 */
        const uint8_t *p = ev.data;
        size_t i = 0;
        while (i + 6 < ev.data_len && memcmp(p + i, "hash\x58\x20", 6) != 0)
            i++;
        REQUIRE(i + 6 + 32 <= ev.data_len);
        memcpy(h, p + i + 6, 32);
        ec_hex_encode(hex, h, 32);
    }
    snprintf(path, sizeof path, "%s/objects/%s", store, hex);
    FILE *f = fopen(path, "r+b");
    REQUIRE(f);
    fseek(f, 100, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    CHECK(ec_actor_replay(c, NULL, &o, &rep) == EC_EVERIFY);
    CHECK(strstr(ec_error_last()->message, "does not match the hash"));
    ec_replay_report_free(&rep);
    ec_chain_free(c);

    /* Recovery from the second snapshot (before the damaged third): total 10+5+7+9+11 = 42
     * at the last good state, then 1 more. */
    char cpath[600];
    snprintf(cpath, sizeof cpath, "%s/actors/t/chain", t_data);
    ec_recover_options ro = EC_RECOVER_OPTIONS_INIT;
    ro.cache_dir = cache();
    ro.quiet = 1;
    ro.from_snapshot = 1;
    ro.to = s3 - 1; /* the wasm/result the third snapshot followed */
    ec_runtime *rt2 = NULL;
    uint64_t mseq;
    REQUIRE_OK(ec_runtime_recover(&rt2, &a, cpath, &ro, &rep, &mseq));
    CHECK(rep.snapshot_seq < s3);
    CHECK_OK(ec_runtime_send(rt2, "t", "1", 1));
    CHECK_OK(ec_runtime_run(rt2, 0, NULL));
    REQUIRE_OK(find_event(ec_actor_chain(a), "runtime/log", 4, &js, NULL));
    CHECK(strstr(js, "total = 43"));
    free(js);
    ec_runtime_free(rt2);
    scratch_end();
}

/* A stored snapshot, read field by field against docs/FORMAT.md section 9. */
static void snapshot_layout(void)
{
    scratch_begin();
    ec_runtime *rt = disk_runtime();
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "tally", "t", "10");
    REQUIRE(a);
    CHECK_OK(ec_runtime_send(rt, "t", "5", 1));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    REQUIRE_OK(ec_actor_snapshot(a));
    ec_chain *c = ec_actor_chain(a);
    ec_event ev;
    REQUIRE_OK(ec_chain_get(c, ec_chain_count(c) - 1, &ev));
    REQUIRE(ev.type_len == 14 && memcmp(ev.type, "state/snapshot", 14) == 0);
    const uint8_t *hp = NULL;
    static uint8_t buf[1 << 20];
    size_t n = snapshot_object(&ev, buf, sizeof buf, &hp);
    uint64_t seq = ev.seq - 1;
    REQUIRE(hp && n > 56);
    CHECK(memcmp(buf, "EVSNAP\x00\x02", 8) == 0);
    /* the module's SHA-256, as actor/start records it */
    FILE *f = fopen(actor_path("tally"), "rb");
    REQUIRE(f);
    static uint8_t w[1 << 20];
    size_t wl = fread(w, 1, sizeof w, f);
    fclose(f);
    ec_hasher *hs;
    uint8_t d[32];
    REQUIRE_OK(ec_hasher_new(&hs, EC_HASH_SHA256));
    CHECK_OK(ec_hasher_bytes(hs, w, wl, d));
    CHECK(memcmp(buf + 8, d, 32) == 0);
    uint64_t s8 = 0;
    for (int k = 0; k < 8; k++)
        s8 = s8 << 8 | buf[40 + k];
    CHECK(s8 == seq);
    /* One i32 global (the stack pointer, 65536 at rest, host order: little-endian here),
     * padded to the memory descriptor's 8-byte alignment. */
    CHECK(buf[48] == 0 && buf[49] == 0 && buf[50] == 0 && buf[51] == 8);
    CHECK(memcmp(buf + 52, "\x00\x00\x01\x00\x00\x00\x00\x00", 8) == 0);
    uint32_t pages = (uint32_t)buf[60] << 24 | (uint32_t)buf[61] << 16 | buf[62] << 8 | buf[63];
    /* then the pending timers: tally sets none, so a count of 0 */
    CHECK(pages >= 1 && n == 64 + (size_t)pages * 65536 + 4);
    CHECK(memcmp(buf + 64 + (size_t)pages * 65536, "\0\0\0\0", 4) == 0);
    CHECK_OK(ec_hasher_bytes(hs, buf, n, d));
    CHECK(memcmp(d, hp, 32) == 0);
    ec_hasher_free(hs);
    ec_runtime_free(rt);
    scratch_end();
}

/* A snapshot carries the timers pending when it was taken (by the seq and hash of their
 * timer/set), so that a recovery from it re-arms them without reading the chain before it:
 * tag 5 (a minute) is pending across the snapshot, tag 6 was delivered before it, tag 7 is
 * set after it; recovered from the snapshot, 5 and 7 are queued, 6 is not, and the chain
 * replays identically (the snapshot taken again, timers included, hashes the same). */
static void snapshot_timers(void)
{
    scratch_begin();
    ec_runtime *rt = disk_runtime();
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "counter", "c", NULL);
    REQUIRE(a);
    size_t pending = 9;
    CHECK_OK(ec_runtime_send(rt, "c", "tick 60000 5", 12));
    CHECK_OK(ec_runtime_send(rt, "c", "tick 20 6", 9));
    CHECK_OK(ec_runtime_run(rt, 1000, &pending));
    CHECK(pending == 1); /* tag 6 delivered, tag 5 waits */
    REQUIRE_OK(ec_actor_snapshot(a));
    ec_chain *c = ec_actor_chain(a);
    ec_event ev;
    REQUIRE_OK(ec_chain_get(c, ec_chain_count(c) - 1, &ev));
    static uint8_t buf[1 << 20];
    size_t n = snapshot_object(&ev, buf, sizeof buf, NULL);
    char path[700];
    /* the end: count 1, then seq (8), hash length (1) and hash (32) of tag 5's timer/set */
    REQUIRE(n > 64 + 4 + 41);
    uint64_t set5;
    REQUIRE_OK(find_event(c, "timer/set", 0, NULL, &set5));
    ec_event e5;
    REQUIRE_OK(ec_chain_get(c, set5, &e5));
    const uint8_t *t = buf + n - 45;
    CHECK(memcmp(t, "\0\0\0\1", 4) == 0);
    uint64_t s8 = 0;
    for (int k = 0; k < 8; k++)
        s8 = s8 << 8 | t[4 + k];
    CHECK(s8 == set5);
    CHECK(t[12] == 32 && memcmp(t + 13, e5.hash, 32) == 0);
    CHECK_OK(ec_runtime_send(rt, "c", "tick 60000 7", 12));
    CHECK_OK(ec_runtime_run(rt, 0, &pending));
    CHECK(pending == 2);
    ec_runtime_free(rt);

    snprintf(path, sizeof path, "%s/actors/c/chain", t_data);
    ec_recover_options o = EC_RECOVER_OPTIONS_INIT;
    o.cache_dir = cache();
    o.quiet = 1;
    o.from_snapshot = 1;
    ec_runtime *rt2 = NULL;
    ec_replay_report rep;
    uint64_t m = 0;
    REQUIRE_OK(ec_runtime_recover(&rt2, &a, path, &o, &rep, &m));
    CHECK(rep.snapshot_seq > 0);
    CHECK_OK(ec_runtime_run(rt2, 0, &pending));
    CHECK(pending == 2); /* 5 (from the snapshot) and 7 (set after it); not 6 */
    int64_t wake = ec_runtime_next_wake_ms(rt2);
    CHECK(wake > 30000 && wake <= 60000);
    ec_replay_report_free(&rep);
    ec_runtime_free(rt2);

    CHECK_OK(dir_replays_identically("c", &rep));
    ec_replay_report_free(&rep);
    scratch_end();
}

/* CBOR head of major type mt and value v, shortest form, at p: its length. */
static size_t cbor_head(uint8_t *p, unsigned mt, uint64_t v)
{
    if (v < 24) {
        p[0] = (uint8_t)(mt << 5 | v);
        return 1;
    }
    int k = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
    p[0] = (uint8_t)(mt << 5 | (k == 1 ? 24 : k == 2 ? 25 : k == 4 ? 26 : 27));
    for (int i = 0; i < k; i++)
        p[1 + i] = (uint8_t)(v >> (8 * (k - 1 - i)));
    return 1 + (size_t)k;
}

/* A chain recorded before snapshot version 2 (made here from a new one: its snapshot cut back
 * to version 1 and stored, the state/snapshot event naming it, every event appended again
 * with its own timestamp). Recovered from that snapshot, whose timers are unknown, the timer
 * pending across it comes back all the same (the recovery reads the chain back for it); a
 * full replay takes the snapshot again as version 1 and reproduces the chain. */
static void snapshot_v1_timers(void)
{
    scratch_begin();
    ec_runtime *rt = disk_runtime();
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "counter", "c", NULL);
    REQUIRE(a);
    size_t pending = 9;
    CHECK_OK(ec_runtime_send(rt, "c", "tick 60000 5", 12));
    CHECK_OK(ec_runtime_send(rt, "c", "tick 20 6", 9));
    CHECK_OK(ec_runtime_run(rt, 1000, &pending));
    CHECK(pending == 1);
    REQUIRE_OK(ec_actor_snapshot(a));
    CHECK_OK(ec_runtime_send(rt, "c", "inc", 3));
    CHECK_OK(ec_runtime_run(rt, 0, &pending));
    ec_runtime_free(rt);

    char dir[600], orig[600], path[800];
    snprintf(dir, sizeof dir, "%s/actors/c/chain", t_data);
    snprintf(orig, sizeof orig, "%s/orig-chain", t_data);
    REQUIRE(rename(dir, orig) == 0);
    ec_chain *o = NULL, *c = NULL;
    REQUIRE_OK(ec_chain_open_path(&o, orig, NULL));
    ec_disk_options dopt = EC_DISK_OPTIONS_INIT;
    dopt.create = 1;
    dopt.durability = EC_DURABLE_NONE;
    ec_backend *be;
    REQUIRE_OK(ec_backend_disk(&be, dir, &dopt));
    REQUIRE_OK(ec_chain_open(&c, be, NULL));
    for (uint64_t q = 0; q < ec_chain_count(o); q++) {
        ec_event ev;
        REQUIRE_OK(ec_chain_get(o, q, &ev));
        ec_event_input in = {.type = ev.type,
                             .type_len = ev.type_len,
                             .data = ev.data,
                             .data_len = ev.data_len,
                             .description = ev.description,
                             .description_len = ev.description_len,
                             .timestamp = ev.timestamp};
        uint8_t pl[128];
        if (ev.type_len == 14 && memcmp(ev.type, "state/snapshot", 14) == 0) {
            /* {seq, hash, size} of the snapshot cut back to version 1 */
            static uint8_t buf[1 << 20];
            size_t n = snapshot_object(&ev, buf, sizeof buf, NULL);
            char hex[65];
            REQUIRE(n > 64 + 45 && buf[7] == 2 && memcmp(buf + n - 45, "\0\0\0\1", 4) == 0);
            n -= 45; /* the timers: a count of 1 and one entry */
            buf[7] = 1;
            ec_hasher *hs;
            uint8_t d[32];
            REQUIRE_OK(ec_hasher_new(&hs, EC_HASH_SHA256));
            REQUIRE_OK(ec_hasher_bytes(hs, buf, n, d));
            ec_hasher_free(hs);
            ec_hex_encode(hex, d, 32);
            snprintf(path, sizeof path, "%s/store/objects/%s", t_data, hex);
            FILE *f = fopen(path, "wb");
            REQUIRE(f && fwrite(buf, 1, n, f) == n);
            fclose(f);
            size_t k = cbor_head(pl, 5, 3);
            k += cbor_head(pl + k, 3, 3);
            memcpy(pl + k, "seq", 3), k += 3;
            k += cbor_head(pl + k, 0, q - 1);
            k += cbor_head(pl + k, 3, 4);
            memcpy(pl + k, "hash", 4), k += 4;
            k += cbor_head(pl + k, 2, 32);
            memcpy(pl + k, d, 32), k += 32;
            k += cbor_head(pl + k, 3, 4);
            memcpy(pl + k, "size", 4), k += 4;
            k += cbor_head(pl + k, 0, n);
            in.data = pl;
            in.data_len = k;
        }
        REQUIRE_OK(ec_chain_append(c, &in, NULL, NULL));
    }
    ec_chain_free(o);
    ec_chain_free(c);

    ec_recover_options ro = EC_RECOVER_OPTIONS_INIT;
    ro.cache_dir = cache();
    ro.quiet = 1;
    ro.from_snapshot = 1;
    ec_runtime *rt2 = NULL;
    ec_replay_report rep;
    uint64_t m = 0;
    REQUIRE_OK(ec_runtime_recover(&rt2, &a, dir, &ro, &rep, &m));
    CHECK(rep.snapshot_seq != UINT64_MAX);
    CHECK_OK(ec_runtime_run(rt2, 0, &pending));
    CHECK(pending == 1); /* tag 5, found by reading the chain back */
    int64_t wake = ec_runtime_next_wake_ms(rt2);
    CHECK(wake > 30000 && wake <= 60000);
    ec_replay_report_free(&rep);
    ec_runtime_free(rt2);

    c = open_chain_dir("c");
    REQUIRE(c);
    CHECK_OK(replay_identical(c, &rep)); /* the version 1 snapshot taken again as it was */
    ec_replay_report_free(&rep);
    ec_chain_free(c);
    scratch_end();
}

/* ---- migration ---- */

/* A counter (its value in the store) moves between two data directories: the bundle carries
 * the chain, the module and the store objects; the import verifies and replays it; resume
 * continues the same chain (a prefix of the new one) and the same count. */
static void migrate_counter(void)
{
    scratch_begin();
    char src[600], dst[600], bundle[600], path[700];
    snprintf(src, sizeof src, "%s/a", t_data);
    snprintf(dst, sizeof dst, "%s/b", t_data);
    snprintf(bundle, sizeof bundle, "%s/counter.bundle", t_data);
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
    o.data_dir = src;
    o.cache_dir = cache();
    o.durability = EC_DURABLE_NONE;
    o.quiet = 1;
    ec_runtime *rt = NULL;
    REQUIRE_OK(ec_runtime_new(&rt, &o));
    REQUIRE(spawn(rt, "counter", "c", NULL));
    const char *msgs[] = {"inc", "add 40", "inc"};
    for (size_t k = 0; k < 3; k++)
        CHECK_OK(ec_runtime_send(rt, "c", msgs[k], strlen(msgs[k])));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_runtime_free(rt); /* stopped: actor/stop ends the source chain */
    snprintf(path, sizeof path, "%s/actors/c/chain", src);
    REQUIRE_OK(ec_bundle_export(path, NULL, cache(), bundle));

    /* A damaged bundle is refused whole: nothing appears in the target. */
    uint8_t *raw = NULL;
    size_t rl = 0;
    {
        FILE *f = fopen(bundle, "rb");
        REQUIRE(f);
        fseek(f, 0, SEEK_END);
        rl = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        raw = malloc(rl);
        REQUIRE(raw && fread(raw, 1, rl, f) == rl);
        fclose(f);
    }
    char bad[600];
    snprintf(bad, sizeof bad, "%s/bad.bundle", t_data);
    raw[rl / 2] ^= 1;
    FILE *f = fopen(bad, "wb");
    REQUIRE(f && fwrite(raw, 1, rl, f) == rl);
    fclose(f);
    free(raw);
    char id[80] = "";
    CHECK(ec_bundle_import(bad, dst, cache(), id, sizeof id) == EC_EVERIFY);
    snprintf(path, sizeof path, "%s/actors/c", dst);
    struct stat st;
    CHECK(stat(path, &st) != 0);

    REQUIRE_OK(ec_bundle_import(bundle, dst, cache(), id, sizeof id));
    CHECK(strcmp(id, "c") == 0);
    /* Twice: the actor exists now. */
    CHECK(ec_bundle_import(bundle, dst, cache(), id, sizeof id) == EC_EEXISTS);

    snprintf(path, sizeof path, "%s/actors/c/chain", dst);
    ec_recover_options ro = EC_RECOVER_OPTIONS_INIT;
    ro.data_dir = dst;
    ro.cache_dir = cache();
    ro.migrated = 1;
    ro.quiet = 1;
    ec_actor *a = NULL;
    ec_replay_report rep;
    uint64_t mseq = 0;
    REQUIRE_OK(ec_runtime_recover(&rt, &a, path, &ro, &rep, &mseq));
    CHECK_OK(ec_runtime_send(rt, "c", "inc", 3));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    char *js = NULL;
    REQUIRE_OK(find_event(ec_actor_chain(a), "runtime/log", 4, &js, NULL));
    CHECK(strstr(js, "count = 43")); /* 1, 41, 42, then 43 in the new home */
    free(js);
    CHECK_OK(find_event(ec_actor_chain(a), "runtime/migrated", 0, NULL, NULL));
    ec_runtime_free(rt);

    /* The new chain continues the old one: same events up to the old head. */
    snprintf(path, sizeof path, "%s/actors/c/chain", src);
    ec_chain *old = NULL, *neu = NULL;
    REQUIRE_OK(ec_chain_open_path(&old, path, NULL));
    snprintf(path, sizeof path, "%s/actors/c/chain", dst);
    REQUIRE_OK(ec_chain_open_path(&neu, path, NULL));
    CHECK(ec_chain_count(neu) > ec_chain_count(old));
    for (uint64_t q = 0; q < ec_chain_count(old); q++) {
        ec_event x, y;
        REQUIRE_OK(ec_chain_get(old, q, &x));
        uint8_t hx[32];
        memcpy(hx, x.hash, 32);
        REQUIRE_OK(ec_chain_get(neu, q, &y));
        CHECK(memcmp(hx, y.hash, 32) == 0);
    }
    CHECK_OK(replay_identical(neu, &rep));
    ec_replay_report_free(&rep);
    ec_chain_free(old);
    ec_chain_free(neu);
    scratch_end();
}

/* docs/FORMAT.md section 8's vector (docs/bundle_vectors.py, an independent writer): its
 * digests check, and it is then refused for what it lacks; one changed byte fails its digest. */
static void bundle_vector(void)
{
    scratch_begin();
    const char *vec = "tests/vectors/bundle/label-only.bundle";
    char id[80];
    CHECK(ec_bundle_import(vec, t_data, cache(), id, sizeof id) == EC_EFORMAT);
    CHECK(strstr(ec_error_last()->message, "needs one chain and one module entry"));
    FILE *f = fopen(vec, "rb");
    REQUIRE(f);
    uint8_t b[512];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    REQUIRE(n == 167);
    b[30] ^= 0x80; /* a byte of the label's hash */
    char p[600];
    snprintf(p, sizeof p, "%s/x.bundle", t_data);
    f = fopen(p, "wb");
    REQUIRE(f && fwrite(b, 1, n, f) == n);
    fclose(f);
    CHECK(ec_bundle_import(p, t_data, cache(), id, sizeof id) == EC_EVERIFY);
    CHECK(strstr(ec_error_last()->message, "'L' counter-c at offset 8: digest mismatch"));
    scratch_end();
}

/* A backend that counts the records read from it (get), over a memory backend. */
typedef struct counting_backend {
    ec_backend b;
    ec_backend *in;
    uint64_t gets;
} counting_backend;
#define CB_IN(x) (((counting_backend *)(x))->in)
static int cnt_get_alg(ec_backend *b, ec_hash_alg *out)
{
    return CB_IN(b)->get_alg(CB_IN(b), out);
}
static int cnt_set_alg(ec_backend *b, ec_hash_alg alg)
{
    return CB_IN(b)->set_alg(CB_IN(b), alg);
}
static int cnt_count(ec_backend *b, uint64_t *out)
{
    return CB_IN(b)->count(CB_IN(b), out);
}
static int cnt_reserve(ec_backend *b, size_t len, uint8_t **out)
{
    return CB_IN(b)->reserve(CB_IN(b), len, out);
}
static int cnt_commit(ec_backend *b, uint64_t seq, size_t hash_off)
{
    return CB_IN(b)->commit(CB_IN(b), seq, hash_off);
}
static int cnt_get(ec_backend *b, uint64_t seq, const uint8_t **rec, size_t *len)
{
    ((counting_backend *)b)->gets++;
    return CB_IN(b)->get(CB_IN(b), seq, rec, len);
}
static int cnt_find_hash(ec_backend *b, const uint8_t *hash, size_t hash_len, uint64_t *out)
{
    return CB_IN(b)->find_hash(CB_IN(b), hash, hash_len, out);
}
static int cnt_iter_new(ec_backend *b, uint64_t from, ec_backend_iter **out)
{
    return CB_IN(b)->iter_new(CB_IN(b), from, out);
}
static ec_backend *cnt_inner_for_iter; /* the iterator's own functions are the inner's */
static int cnt_iter_next(ec_backend_iter *it, const uint8_t **rec, size_t *len)
{
    return cnt_inner_for_iter->iter_next(it, rec, len);
}
static void cnt_iter_free(ec_backend_iter *it)
{
    cnt_inner_for_iter->iter_free(it);
}
static void cnt_free(ec_backend *b)
{
    CB_IN(b)->free(CB_IN(b));
    free(b);
}

/* The replay reads each recorded event from the chain's backend once, however many steps
 * look at it (the driver and the record it checks, a host call's answer and its record, the
 * look-ahead for an interrupted trap after each .result and at each call's start): a read
 * is two syscalls and a checksum on disk, and reading events again and again cost the counter
 * replay 15 to 30 % of its rate. */
static void replay_reads_each_event_once(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "counter", "c", NULL);
    REQUIRE(a);
    for (int k = 0; k < 20; k++)
        CHECK_OK(ec_runtime_send(rt, "c", k % 2 ? "inc" : "add 3", k % 2 ? 3 : 5));
    CHECK_OK(ec_runtime_send(rt, "c", "tick", 4));
    size_t pending = 1;
    CHECK_OK(ec_runtime_run(rt, 2000, &pending)); /* the tick's timer fires */
    CHECK(pending == 0);
    ec_chain *src = ec_actor_chain(a);
    counting_backend *cb = calloc(1, sizeof *cb);
    REQUIRE(cb);
    REQUIRE_OK(ec_backend_memory(&cb->in, NULL));
    cnt_inner_for_iter = cb->in;
    cb->b = (ec_backend){.version = EC_BACKEND_VERSION,
                         .get_alg = cnt_get_alg,
                         .set_alg = cnt_set_alg,
                         .count = cnt_count,
                         .reserve = cnt_reserve,
                         .commit = cnt_commit,
                         .get = cnt_get,
                         .find_hash = cnt_find_hash,
                         .iter_new = cnt_iter_new,
                         .iter_next = cnt_iter_next,
                         .iter_free = cnt_iter_free,
                         .free = cnt_free};
    ec_chain *c;
    ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
    co.alg = ec_chain_alg(src);
    REQUIRE_OK(ec_chain_open(&c, &cb->b, &co));
    ec_backend *sb = ec_chain_backend(src);
    uint64_t n = ec_chain_count(src);
    for (uint64_t q = 0; q < n; q++) {
        const uint8_t *rec;
        size_t rl;
        REQUIRE_OK(sb->get(sb, q, &rec, &rl));
        REQUIRE_OK(ec_chain_append_record(c, rec, rl));
    }
    CHECK(n > 100);
    ec_replay_options o = EC_REPLAY_OPTIONS_INIT;
    o.cache_dir = cache();
    ec_replay_report rep;
    cb->gets = 0;
    CHECK_OK(ec_actor_replay(c, NULL, &o, &rep));
    uint64_t gets = cb->gets;
    CHECK(!rep.diverged && rep.events == n);
    ec_replay_report_free(&rep);
    /* Each event once, and two more by the session: event 0 (the start) and the last (does
     * the chain end inside a call). */
    if (gets > n + 2)
        fprintf(stderr, "  %llu reads for %llu events\n", (unsigned long long)gets,
                (unsigned long long)n);
    CHECK(gets <= n + 2);
    CHECK_OK(replay_identical(c, &rep)); /* and reproduced byte for byte */
    ec_replay_report_free(&rep);
    ec_chain_free(c);
    ec_runtime_free(rt);
    scratch_end();
}

int main(void)
{
    RUN(counter_identical);
    RUN(pingpong_identical);
    RUN(supervisor_group_identical);
    RUN(trap_reproduced);
    RUN(memory_out);
    RUN(bench_and_tally_identical);
    RUN(hostile_traps_reproduced);
    RUN(no_effect);
    RUN(divergence_reported);
    RUN(forged_chain_diverges);
    RUN(cut_chain);
    RUN(forged_markers_diverge);
    RUN(replay_reads_each_event_once);
    RUN(recover_after_trap);
    RUN(recover_signer_when_live);
    RUN(auto_recover_bounded);
    RUN(auto_recover_in_group);
    RUN(recover_rearms_timers);
    RUN(auto_recover_timers);
    RUN(snapshots);
    RUN(snapshot_layout);
    RUN(snapshot_timers);
    RUN(snapshot_v1_timers);
    RUN(migrate_counter);
    RUN(bundle_vector);
    TEST_END();
}
