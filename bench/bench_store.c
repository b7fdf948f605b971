/* bench/bench_store.c: the disk backend against the limits measured in the same run:
 * `always` appends against a raw write+fdatasync loop of the same frame sizes; `batch`
 * (group commit) against SQLite WAL synchronous=FULL in transactions of the same size;
 * verification of a chain directory (page cache warm) against the in-memory verify rate; and
 * the peak RSS of verifying and exporting a large chain (default 10M events), each measured
 * in a child process of its own. 256-byte events, SHA-256. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <evchain/evchain.h>
#include "bench.h"
#include "core/internal.h"
#include "store/disk_internal.h"
#ifdef __has_include
#if __has_include(<sqlite3.h>)
#include <sqlite3.h>
#define HAVE_SQLITE 1
#endif
#endif

#define DATA_LEN 256
#define TYPE     "bench/event"
#define TYPE_LEN (sizeof TYPE - 1)
#define TS0      1764115200000000000ull
/* Appending threads in the batch run: while one encodes and hashes its batch (under the lock,
 * as the chain does), the others' batches are being written and synced as one group. */
#ifndef BATCH_THREADS
#define BATCH_THREADS 4
#endif

static char root[256];

__attribute__((noreturn)) static void die(const char *what)
{
    const ec_error *e = ec_error_last();
    fprintf(stderr, "bench_store: %s: %s\n", what, e ? e->message : "");
    exit(1);
}

static void fill_data(uint8_t *data, uint64_t i)
{
    for (int k = 0; k < DATA_LEN; k++)
        data[k] = (uint8_t)(k * 7 + i);
    memcpy(data, &i, sizeof i);
}

static ec_chain *open_dir(const char *dir, int create, ec_durability dur, int ro)
{
    ec_disk_options o = EC_DISK_OPTIONS_INIT;
    o.create = create;
    o.durability = dur;
    o.read_only = ro;
    ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
    co.alg = 0;
    ec_backend *be;
    ec_chain *c;
    if (ec_backend_disk(&be, dir, &o) || ec_chain_open(&c, be, &co))
        die(dir);
    return c;
}

static void append_n(ec_chain *c, uint64_t from, uint64_t n)
{
    uint8_t data[DATA_LEN];
    for (uint64_t i = from; i < from + n; i++) {
        fill_data(data, i);
        ec_event_input in = {.type = TYPE,
                             .type_len = TYPE_LEN,
                             .data = data,
                             .data_len = DATA_LEN,
                             .timestamp = TS0 + i};
        if (ec_chain_append(c, &in, NULL, NULL))
            die("append");
    }
}

static void rmrf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_store: could not remove %s\n", dir);
}

/* ---- always: one fdatasync per record ---- */

/* The limit: the same frame sizes written and fdatasync'ed one by one, nothing else. */
static double raw_fsync_chunk(int fd, size_t frame, unsigned long from, unsigned long n)
{
    uint8_t *buf = calloc(1, frame);
    double t0 = bench_now();
    for (unsigned long i = from; i < from + n; i++) {
        memcpy(buf, &i, sizeof i);
        if (pwrite(fd, buf, frame, (off_t)(i * frame)) != (ssize_t)frame || fdatasync(fd))
            die("raw write");
    }
    double t = bench_now() - t0;
    free(buf);
    return t;
}

static double chain_always_chunk(ec_chain *c, unsigned long from, unsigned long n)
{
    double t0 = bench_now();
    append_n(c, from, n);
    return bench_now() - t0;
}

/* ---- batch: group commit from two threads, in batches of B ---- */

struct batch_ctx {
    ec_backend *be;
    pthread_mutex_t mu; /* what the chain's lock does: one appender encodes at a time */
    uint64_t next, n;
    unsigned b;
    uint8_t head[32];
    ec_hasher *h[BATCH_THREADS];
};
struct batch_arg {
    struct batch_ctx *x;
    int id;
};

static void *batch_worker(void *arg)
{
    struct batch_arg *a = arg;
    struct batch_ctx *x = a->x;
    uint8_t data[DATA_LEN];
    size_t enc_max = ec_event_encoded_size(EC_HASH_SHA256, 1, TYPE_LEN, 0, 0, DATA_LEN);
    for (;;) {
        pthread_mutex_lock(&x->mu);
        if (x->next >= x->n) {
            pthread_mutex_unlock(&x->mu);
            return NULL;
        }
        uint64_t last = 0;
        for (unsigned k = 0; k < x->b && x->next < x->n; k++) {
            uint64_t seq = x->next++;
            size_t enc = ec_event_encoded_size(EC_HASH_SHA256, seq > 0, TYPE_LEN, 0, 0, DATA_LEN);
            uint8_t *p;
            if (enc > enc_max || x->be->reserve(x->be, enc + 32, &p))
                die("reserve");
            fill_data(data, seq);
            ec_encoding_write(p, EC_HASH_SHA256, seq, TS0 + seq, seq ? x->head : NULL, TYPE,
                              TYPE_LEN, NULL, 0, data, DATA_LEN);
            ec_hasher_encoding(x->h[a->id], p, enc, p + enc);
            memcpy(x->head, p + enc, 32);
            if (x->be->commit(x->be, seq, enc))
                die("commit");
            last = seq;
        }
        pthread_mutex_unlock(&x->mu);
        if (x->be->wait_durable(x->be, last)) /* the batch is acknowledged when durable */
            die("wait_durable");
    }
}

/* For context: ec_chain_append from many threads, each append waiting for its own group. */
struct api_arg {
    ec_chain *c;
    unsigned long n;
};

static void *api_worker(void *arg)
{
    struct api_arg *a = arg;
    append_n(a->c, 0, a->n);
    return NULL;
}

static double chain_api_batch(const char *dir, unsigned threads, unsigned long per)
{
    ec_chain *c = open_dir(dir, 1, EC_DURABLE_BATCH, 0);
    pthread_t th[64];
    struct api_arg a = {c, per};
    double t0 = bench_now();
    for (unsigned i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, api_worker, &a);
    for (unsigned i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double t = bench_now() - t0;
    uint64_t n = ec_chain_count(c);
    ec_chain_free(c);
    rmrf(dir);
    return (double)n / t;
}

static double disk_batch(const char *dir, unsigned long n, unsigned b)
{
    ec_disk_options o = EC_DISK_OPTIONS_INIT;
    o.create = 1;
    o.durability = EC_DURABLE_BATCH;
    struct batch_ctx x = {.n = n, .b = b};
    pthread_mutex_init(&x.mu, NULL);
    if (ec_backend_disk(&x.be, dir, &o))
        die(dir);
    pthread_t th[BATCH_THREADS];
    struct batch_arg a[BATCH_THREADS];
    for (int i = 0; i < BATCH_THREADS; i++) {
        ec_hasher_new(&x.h[i], EC_HASH_SHA256);
        a[i] = (struct batch_arg){&x, i};
    }
    double t0 = bench_now();
    for (int i = 0; i < BATCH_THREADS; i++)
        pthread_create(&th[i], NULL, batch_worker, &a[i]);
    for (int i = 0; i < BATCH_THREADS; i++)
        pthread_join(th[i], NULL);
    double t = bench_now() - t0;
    uint64_t cnt = 0;
    x.be->count(x.be, &cnt);
    x.be->free(x.be);
    for (int i = 0; i < BATCH_THREADS; i++)
        ec_hasher_free(x.h[i]);
    /* the result must be a valid chain, or the figure means nothing */
    ec_chain *c = open_dir(dir, 0, EC_DURABLE_ALWAYS, 1);
    if (cnt != n || ec_chain_count(c) != n || ec_chain_verify(c, NULL, NULL))
        die("batch chain does not verify");
    ec_chain_free(c);
    rmrf(dir);
    return (double)n / t;
}

#ifdef HAVE_SQLITE
static double sqlite_batch(const char *path, unsigned long n, unsigned b)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("sqlite open");
    char *err = NULL;
    if (sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE events(seq INTEGER PRIMARY KEY, parent BLOB, type TEXT,"
                     " data BLOB, ts INTEGER, description TEXT, hash BLOB NOT NULL);",
                     NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s\n", err);
        exit(1);
    }
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "INSERT INTO events VALUES(?,?,?,?,?,NULL,?)", -1, &st, NULL);
    ec_hasher *h;
    ec_hasher_new(&h, EC_HASH_SHA256);
    size_t enc_max = ec_event_encoded_size(EC_HASH_SHA256, 1, TYPE_LEN, 0, 0, DATA_LEN);
    uint8_t *enc = malloc(enc_max), head[32], hash[32], data[DATA_LEN];
    double t0 = bench_now();
    for (unsigned long seq = 0; seq < n;) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (unsigned k = 0; k < b && seq < n; k++, seq++) {
            fill_data(data, seq);
            size_t el = ec_encoding_write(enc, EC_HASH_SHA256, seq, TS0 + seq, seq ? head : NULL,
                                          TYPE, TYPE_LEN, NULL, 0, data, DATA_LEN);
            ec_hasher_encoding(h, enc, el, hash); /* the caller computes the hash */
            sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
            if (seq)
                sqlite3_bind_blob(st, 2, head, 32, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, 2);
            sqlite3_bind_text(st, 3, TYPE, (int)TYPE_LEN, SQLITE_STATIC);
            sqlite3_bind_blob(st, 4, data, DATA_LEN, SQLITE_STATIC);
            sqlite3_bind_int64(st, 5, (sqlite3_int64)(TS0 + seq));
            sqlite3_bind_blob(st, 6, hash, 32, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                die("sqlite insert");
            sqlite3_reset(st);
            memcpy(head, hash, 32);
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            die("sqlite commit");
    }
    double t = bench_now() - t0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    ec_hasher_free(h);
    free(enc);
    char p[600];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    return (double)n / t;
}
#endif

/* ---- verify: directory vs memory ---- */

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall time of one verification; its CPU time is added to *cpu when cpu is not NULL (less
 * sensitive to the neighbours on a shared machine, printed beside the wall-time figure). */
static double verify_time(ec_chain *c, unsigned threads, double *cpu)
{
    ec_verify_options vo = EC_VERIFY_OPTIONS_INIT;
    vo.threads = threads;
    ec_verify_result r;
    double c0 = cpu_now(), t0 = bench_now();
    if (ec_chain_verify(c, &vo, &r))
        die("verify");
    double t = bench_now() - t0;
    if (cpu)
        *cpu += cpu_now() - c0;
    return t;
}

/* ---- peak RSS of one operation, in a fresh process (this program run again) ---- */

enum { OP_VERIFY, OP_EXPORT, OP_OPEN_APPEND };
static const char *const op_names[] = {"verify", "export", "append"};

/* The child side: `bench_store --rss OP DIR` does OP and prints its peak RSS in MiB. */
static int rss_child(const char *op, const char *dir)
{
    int ok = 1;
    if (strcmp(op, "append") == 0) {
        ec_chain *c = open_dir(dir, 0, EC_DURABLE_ALWAYS, 0); /* recovery scans the tail */
        append_n(c, ec_chain_count(c), 1);
        ec_chain_free(c);
    } else {
        ec_chain *c = open_dir(dir, 0, EC_DURABLE_ALWAYS, 1);
        if (strcmp(op, "verify") == 0) {
            ok = ec_chain_verify(c, NULL, NULL) == 0;
        } else {
            FILE *out = fopen("/dev/null", "w");
            ec_export_options eo = EC_EXPORT_OPTIONS_INIT;
            eo.format = EC_FORMAT_JSONL;
            ok = out && ec_export_stream(c, out, &eo) == 0;
            if (out)
                fclose(out);
        }
        ec_chain_free(c);
    }
    printf("%.1f\n", ok ? bench_peak_rss_mib() : -1.0);
    return ok ? 0 : 1;
}

static double child_rss(const char *self, const char *dir, int op)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' --rss %s '%s'", self, op_names[op], dir);
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    double rss = -1;
    if (!p || fscanf(p, "%lf", &rss) != 1)
        rss = -1;
    if (p && pclose(p) != 0)
        rss = -1;
    return rss;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--rss") == 0)
        return rss_child(argv[2], argv[3]);
    char self[512];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0)
        die("readlink /proc/self/exe");
    self[sl] = 0;
    snprintf(root, sizeof root, "/tmp/evchain-bench-store-XXXXXX");
    if (!mkdtemp(root))
        die("mkdtemp");
    char dir[400], file[400], zfile[400];
    size_t rec = ec_event_encoded_size(EC_HASH_SHA256, 1, TYPE_LEN, 0, 0, DATA_LEN) + 32;
    size_t frame = rec + EC_FRAME_HEADER_LEN;
    printf("events: %d-byte data, %zu-byte records, %zu-byte frames, SHA-256\n", DATA_LEN, rec,
           frame);

    const char *only = getenv("BENCH_ONLY"); /* e.g. "batch,verify": run just those */
#define PART(name) (!only || strstr(only, name))
    double alw_ratio = -1, bat_ratio = -1, ver_ratio = -1;

    /* always: the raw loop and the chain take turns in short rounds, so that both see the
     * same neighbours on the shared disk; the ratio is of the summed times */
    unsigned long na = bench_scaled(2000), rounds = 8, per = na / rounds ? na / rounds : 1;
    if (PART("always")) {
        snprintf(file, sizeof file, "%s/raw.dat", root);
        snprintf(dir, sizeof dir, "%s/always", root);
        int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        /* The disk's floor for a sync per record, for context: the same loop over a file
         * zero-filled (and synced) beforehand, as the chain keeps zeros ahead (FORMAT.md
         * section 4): no journal commit for a larger file in each sync. */
        snprintf(zfile, sizeof zfile, "%s/raw-zeros.dat", root);
        int zfd = open(zfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || zfd < 0)
            die(file);
        uint8_t *zeros = calloc(1, frame * per);
        for (unsigned long r = 0; r < rounds; r++)
            if (!zeros ||
                pwrite(zfd, zeros, frame * per, (off_t)(r * per * frame)) != (ssize_t)(frame * per))
                die(zfile);
        free(zeros);
        if (fdatasync(zfd))
            die(zfile);
        ec_chain *c = open_dir(dir, 1, EC_DURABLE_ALWAYS, 0);
        double tr = 0, tc = 0, tz = 0;
        for (unsigned long r = 0; r < rounds; r++) {
            tr += raw_fsync_chunk(fd, frame, r * per, per);
            tc += chain_always_chunk(c, r * per, per);
            tz += raw_fsync_chunk(zfd, frame, r * per, per);
        }
        close(fd);
        close(zfd);
        unlink(file);
        unlink(zfile);
        ec_chain_free(c);
        rmrf(dir);
        double n = (double)(rounds * per), raw = n / tr, alw = n / tc, floor = n / tz;
        printf("always: raw write+fdatasync %.0f records/s, chain append %.0f events/s "
               "(%lu each, in %lu alternating rounds)\n",
               raw, alw, rounds * per, rounds);
        printf("always: the floor, raw write+fdatasync over zeros written beforehand %.0f "
               "records/s: chain %.3f of it (no target)\n",
               floor, alw / floor);
        alw_ratio = alw / raw;
    }

    /* batch */
    unsigned b = 1000;
    unsigned long nb = bench_scaled(300000);
    double bat = 0, sql = 0;
    for (int rep = 0; rep < 2 && PART("batch"); rep++) {
        snprintf(dir, sizeof dir, "%s/batch%d", root, rep);
        double x = disk_batch(dir, nb, b);
        bat = x > bat ? x : bat;
#ifdef HAVE_SQLITE
        snprintf(file, sizeof file, "%s/sqlite%d.db", root, rep);
        double s = sqlite_batch(file, nb, b);
        sql = s > sql ? s : sql;
#endif
    }
    if (PART("batch")) {
        printf("batch of %u, %d appending threads: chain %.3f M events/s; SQLite WAL "
               "synchronous=FULL, transactions of %u: %.3f M rows/s\n",
               b, BATCH_THREADS, bat / 1e6, b, sql / 1e6);
        bat_ratio = sql > 0 ? bat / sql : 0;
        snprintf(dir, sizeof dir, "%s/api", root);
        double api = chain_api_batch(dir, 32, bench_scaled(2000));
        printf("(for context: ec_chain_append from 32 threads, each call waiting for its group: "
               "%.0f events/s)\n",
               api);
    }

    /* verify: 1M-event directory, page cache warm, against the same chain in memory; one
     * thread, taking turns (sum of times); two threads shown for information */
    unsigned long nv = bench_scaled(1000000);
    if (PART("verify")) {
        snprintf(dir, sizeof dir, "%s/verify", root);
        ec_chain *dc = open_dir(dir, 1, EC_DURABLE_NONE, 0);
        append_n(dc, 0, nv);
        ec_chain_free(dc);
        ec_backend *mb;
        ec_chain *mc;
        ec_memory_options mo = EC_MEMORY_OPTIONS_INIT;
        mo.expected_events = nv;
        mo.expected_bytes = nv * rec;
        if (ec_backend_memory(&mb, &mo) || ec_chain_open(&mc, mb, NULL))
            die("memory chain");
        append_n(mc, 0, nv);
        dc = open_dir(dir, 0, EC_DURABLE_ALWAYS, 1);
        (void)verify_time(dc, 1, NULL); /* warm the page cache */
        double tm = 0, td = 0, cm = 0, cd = 0;
        for (int r = 0; r < 4; r++) {
            tm += verify_time(mc, 1, &cm);
            td += verify_time(dc, 1, &cd);
        }
        double vm2 = (double)nv / verify_time(mc, 2, NULL);
        double vd2 = (double)nv / verify_time(dc, 2, NULL);
        ec_chain_free(mc);
        ec_chain_free(dc);
        rmrf(dir);
        double vm1 = 4.0 * (double)nv / tm, vd1 = 4.0 * (double)nv / td;
        printf("verify %lu events, 1 thread: memory %.3f M/s, directory %.3f M/s (ratio by CPU "
               "time %.3f); 2 threads: %.3f and %.3f M/s\n",
               nv, vm1 / 1e6, vd1 / 1e6, cm / cd, vm2 / 1e6, vd2 / 1e6);
        ver_ratio = vd1 / vm1;
    }

    /* peak RSS: a large chain (BENCH_RSS_EVENTS, default 10M scaled) */
    double rv = 0, re = 0, ro = 0;
    unsigned long nr = bench_scaled(10000000);
    if (getenv("BENCH_RSS_EVENTS"))
        nr = strtoul(getenv("BENCH_RSS_EVENTS"), NULL, 10);
    if (PART("rss")) {
        snprintf(dir, sizeof dir, "%s/rss", root);
        double tb = bench_now();
        ec_chain *c = open_dir(dir, 1, EC_DURABLE_NONE, 0);
        append_n(c, 0, nr);
        ec_chain_free(c);
        tb = bench_now() - tb;
        rv = child_rss(self, dir, OP_VERIFY);
        re = child_rss(self, dir, OP_EXPORT);
        ro = child_rss(self, dir, OP_OPEN_APPEND);
        printf("peak RSS, chain of %lu events (%.2f GiB of segments, written in %.1f s): "
               "verify %.1f MiB, export (JSONL) %.1f MiB, open+recover+append %.1f MiB\n",
               nr, (double)nr * (double)frame / (1u << 30), tb, rv, re, ro);
        rmrf(dir);
    }
    rmrf(root);

    if (alw_ratio >= 0)
        printf("store.append_always: %.3f\n", alw_ratio);
    if (bat_ratio >= 0)
        printf("store.append_batch: %.3f\n", bat_ratio);
    if (ver_ratio >= 0)
        printf("store.verify: %.3f\n", ver_ratio);
    return rv < 0 || re < 0 || ro < 0;
}
