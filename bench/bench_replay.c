/* bench/bench_replay.c: deterministic replay against recording, in the same run: the replay
 * rate of a recorded counter run (events/s) against the rate at which it was recorded (the
 * runtime's default: disk chain, batch durability; and without syncs), and the time to rebuild
 * an actor with a 1M-event chain from its last snapshot against a full replay. */
#include <ftw.h>
#include <libgen.h>
#include <string.h>
#include <unistd.h>

#include <evchain/evchain.h>
#include <evchain/replay.h>
#include "bench.h"

static char data_dir[] = "/tmp/evchain-bench-replay-XXXXXX";
static char actors_dir[1024], cache_dir[1100];

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void die(const char *what)
{
    const ec_error *e = ec_error_last();
    fprintf(stderr, "bench_replay: %s: %s\n", what, e ? e->message : "failed");
    nftw(data_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    exit(1);
}

static ec_runtime *runtime(const char *sub, ec_chain_store store, ec_durability d, uint64_t hint)
{
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/%s", data_dir, sub);
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
    o.data_dir = dir;
    o.cache_dir = cache_dir;
    o.chain_store = store;
    o.durability = d;
    o.memory_expected_events = hint;
    o.memory_expected_bytes = hint * 160;
    o.quiet = 1;
    ec_runtime *rt;
    if (ec_runtime_new(&rt, &o))
        die("runtime");
    return rt;
}

static ec_actor *spawn(ec_runtime *rt, const char *module, const char *id, const char *args)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/%s.wasm", actors_dir, module);
    ec_actor_options o = EC_ACTOR_OPTIONS_INIT;
    o.id = id;
    o.args = args;
    o.args_len = strlen(args);
    ec_actor *a;
    if (ec_runtime_spawn(rt, path, &o, &a))
        die("spawn");
    return a;
}

/* Record a counter run of n messages in data_dir/<sub>; events/s of recording. */
static double record_counter(const char *sub, ec_durability d, unsigned long n)
{
    ec_runtime *rt = runtime(sub, EC_CHAIN_STORE_DISK, d, 0);
    ec_actor *a = spawn(rt, "counter", "c", "");
    uint64_t before = ec_chain_count(ec_actor_chain(a));
    for (unsigned long k = 0; k < n; k++)
        if (ec_runtime_send(rt, "c", k % 2 ? "inc" : "add 3", k % 2 ? 3 : 5))
            die("send");
    double t0 = bench_now();
    if (ec_runtime_run(rt, 0, NULL))
        die("run");
    double t = bench_now() - t0;
    uint64_t events = ec_chain_count(ec_actor_chain(a)) - before;
    ec_runtime_free(rt);
    return (double)events / t;
}

static double replay_rate(const char *sub, uint64_t *events)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/%s/actors/c/chain", data_dir, sub);
    ec_chain *c;
    if (ec_chain_open_path(&c, path, NULL))
        die("open");
    ec_replay_options o = EC_REPLAY_OPTIONS_INIT;
    o.cache_dir = cache_dir;
    ec_replay_report rep;
    double t0 = bench_now();
    if (ec_actor_replay(c, NULL, &o, &rep))
        die("replay");
    double t = bench_now() - t0;
    *events = rep.events;
    ec_replay_report_free(&rep);
    ec_chain_free(c);
    return (double)*events / t;
}

int main(int argc, char **argv)
{
    (void)argc;
    char self[1024];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(actors_dir, sizeof actors_dir, "%s/actors", dirname(self));
    if (!mkdtemp(data_dir))
        die("mkdtemp");
    snprintf(cache_dir, sizeof cache_dir, "%s/cache", data_dir);

    /* 1. A counter run recorded as `evchain run` records it, then replayed from disk. The
     * machine is shared: best of 3 runs of each. */
    unsigned long n = bench_scaled(150);
    double rec = 0, rep = 0, rec_none = 0, rep_none = 0;
    uint64_t events = 0;
    for (int r = 0; r < 3; r++) {
        char sub[32];
        snprintf(sub, sizeof sub, "batch-%d", r);
        double x = record_counter(sub, EC_DURABLE_BATCH, n);
        double y = replay_rate(sub, &events);
        rec = x > rec ? x : rec;
        rep = y > rep ? y : rep;
        snprintf(sub, sizeof sub, "none-%d", r);
        x = record_counter(sub, EC_DURABLE_NONE, n * 4);
        y = replay_rate(sub, &events);
        rec_none = x > rec_none ? x : rec_none;
        rep_none = y > rep_none ? y : rep_none;
    }
    printf("counter run (%lu messages), recorded on a disk chain, batch durability: %.0f "
           "events/s\n",
           n, rec);
    printf("the same chain replayed (every event checked, no effect):              %.0f "
           "events/s\n",
           rep);
    printf("ratio replay/record %.2f (target >= 1.5)\n", rep / rec);
    printf("recorded without syncs (durability none, %lu messages): %.0f events/s, replayed "
           "%.0f events/s, ratio %.2f\n",
           n * 4, rec_none, rep_none, rep_none / rec_none);

    /* 2. A 1M-event chain (the bench actor's time_now loop), a snapshot near its end, a few
     * events after it: rebuild from the snapshot against a full replay of the same chain. */
    unsigned long total = bench_scaled(1000000), per = 50000;
    unsigned long msgs = total / (2 * per) ? total / (2 * per) : 1;
    ec_runtime *rt = runtime("big", EC_CHAIN_STORE_MEMORY, EC_DURABLE_NONE, 2 * msgs * per + 64);
    ec_actor *a = spawn(rt, "bench", "b", "none");
    char msg[64];
    snprintf(msg, sizeof msg, "clock %lu", per);
    for (unsigned long k = 0; k < msgs; k++)
        if (ec_runtime_send(rt, "b", msg, strlen(msg)) || ec_runtime_run(rt, 0, NULL))
            die("record");
    if (ec_actor_snapshot(a))
        die("snapshot");
    if (ec_runtime_send(rt, "b", "clock 500", 9) || ec_runtime_run(rt, 0, NULL))
        die("record");
    ec_chain *c = ec_actor_chain(a);
    uint64_t count = ec_chain_count(c);
    char store[1300];
    snprintf(store, sizeof store, "%s/big/store", data_dir);
    ec_replay_options o = EC_REPLAY_OPTIONS_INIT;
    o.cache_dir = cache_dir;
    ec_replay_report r1, r2;
    double t0 = bench_now();
    if (ec_actor_replay(c, NULL, &o, &r1))
        die("full replay");
    double full = bench_now() - t0;
    o.from_snapshot = 1;
    o.store_dir = store;
    t0 = bench_now();
    if (ec_actor_replay(c, NULL, &o, &r2))
        die("replay from the snapshot");
    double snap = bench_now() - t0;
    if (r1.events != count || r2.events != count || r1.head_len != r2.head_len ||
        memcmp(r1.head, r2.head, r1.head_len) != 0)
        die("the two replays disagree");
    printf("chain of %llu events, snapshot at seq %llu (%llu events after it)\n",
           (unsigned long long)count, (unsigned long long)r2.snapshot_seq,
           (unsigned long long)(count - r2.snapshot_seq - 1));
    printf("full replay: %.3f s; rebuild from the snapshot: %.4f s; ratio %.0f\n", full, snap,
           full / snap);
    ec_replay_report_free(&r1);
    ec_replay_report_free(&r2);
    ec_runtime_free(rt);

    /* 3. The same on disk, as `evchain recover` does it: rebuild to the last call and go
     * live on the chain, from event 0 against from the snapshot. */
    rt = runtime("disk", EC_CHAIN_STORE_DISK, EC_DURABLE_NONE, 0);
    a = spawn(rt, "bench", "b", "none");
    for (unsigned long k = 0; k < msgs; k++)
        if (ec_runtime_send(rt, "b", msg, strlen(msg)) || ec_runtime_run(rt, 0, NULL))
            die("record");
    if (ec_actor_snapshot(a))
        die("snapshot");
    if (ec_runtime_send(rt, "b", "clock 500", 9) || ec_runtime_run(rt, 0, NULL))
        die("record");
    ec_runtime_free(rt);
    char cpath[1300];
    snprintf(cpath, sizeof cpath, "%s/disk/actors/b/chain", data_dir);
    ec_recover_options ro = EC_RECOVER_OPTIONS_INIT;
    ro.cache_dir = cache_dir;
    ro.quiet = 1;
    double rfull = 0, rsnap = 0;
    for (int k = 0; k < 2; k++) {
        ro.from_snapshot = k;
        ec_actor *ra;
        uint64_t mseq;
        t0 = bench_now();
        if (ec_runtime_recover(&rt, &ra, cpath, &ro, &r1, &mseq))
            die("recover");
        double t = bench_now() - t0;
        ec_replay_report_free(&r1);
        ec_runtime_free(rt);
        if (k)
            rsnap = t;
        else
            rfull = t;
    }
    printf("resume (evchain recover) on disk: from event 0 %.3f s, from the snapshot %.4f s, "
           "ratio %.0f\n",
           rfull, rsnap, rfull / rsnap);

    printf("replay.speed: %.2f\n", rep / rec);
    printf("replay.speed_nosync: %.2f\n", rep_none / rec_none);
    printf("replay.snapshot_replay: %.1f\n", full / snap);
    printf("replay.snapshot_resume: %.1f\n", rfull / rsnap);
    nftw(data_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
