/* bench/bench_http.c: requests per second and latency of the HTTP server for small keep-alive
 * GETs from a few concurrent connections (a raw-socket load generator in this program), with
 * every request and reply recorded as two chain events, against the same server and handler
 * with recording off (the limit, measured in the same run). Prints `http.serve: ratio`. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <evchain/evchain.h>
#include <evchain/http.h>
#include "bench.h"

#define CONNS_DEFAULT 8
#define REPS          3

static int CONNS = CONNS_DEFAULT;

typedef struct bench_ctx {
    ec_chain *chain;     /* NULL: recording off */
    ec_backend *durable; /* set: hold each reply until this backend has synced its events */
    int failed;
} bench_ctx;

/* ---- deferred durability: how an actor runtime records under `batch` (docs/HTTP.md) ----
 * The chain appends through a thin wrapper backend without wait_durable, so an append
 * returns once committed; the server holds the reply, and its releaser thread waits on the
 * real backend's wait_durable before sending. The worker meanwhile handles the next request,
 * so one sync covers the events of several requests instead of one sync per append. */
typedef struct deferred {
    ec_backend base;
    ec_backend *in;
} deferred;

#define IN(b) (((deferred *)(b))->in)
static int df_get_alg(ec_backend *b, ec_hash_alg *o)
{
    return IN(b)->get_alg(IN(b), o);
}
static int df_set_alg(ec_backend *b, ec_hash_alg a)
{
    return IN(b)->set_alg(IN(b), a);
}
static int df_count(ec_backend *b, uint64_t *o)
{
    return IN(b)->count(IN(b), o);
}
static int df_reserve(ec_backend *b, size_t len, uint8_t **o)
{
    return IN(b)->reserve(IN(b), len, o);
}
static int df_commit(ec_backend *b, uint64_t seq, size_t off)
{
    return IN(b)->commit(IN(b), seq, off);
}
static int df_get(ec_backend *b, uint64_t seq, const uint8_t **r, size_t *l)
{
    return IN(b)->get(IN(b), seq, r, l);
}
static int df_find(ec_backend *b, const uint8_t *h, size_t hl, uint64_t *o)
{
    return IN(b)->find_hash(IN(b), h, hl, o);
}
static int df_iter_new(ec_backend *b, uint64_t from, ec_backend_iter **o)
{
    return IN(b)->iter_new(IN(b), from, o);
}
static int df_sync(ec_backend *b)
{
    return IN(b)->sync ? IN(b)->sync(IN(b)) : 0;
}
static void df_free(ec_backend *b)
{
    IN(b)->free(IN(b));
    free(b);
}

static ec_backend *deferred_wrap(ec_backend *in)
{
    deferred *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->in = in;
    d->base = (ec_backend){EC_BACKEND_VERSION,
                           df_get_alg,
                           df_set_alg,
                           df_count,
                           df_reserve,
                           df_commit,
                           df_get,
                           in->find_hash ? df_find : NULL,
                           df_iter_new,
                           in->iter_next,
                           in->iter_free,
                           NULL,
                           df_sync,
                           df_free};
    return &d->base;
}

static int release_durable(void *arg, uint64_t seq)
{
    bench_ctx *b = arg;
    return b->durable->wait_durable(b->durable, seq);
}

static void record(bench_ctx *b, const char *type, const ec_http_msg *m, uint64_t *seq)
{
    uint8_t buf[4096];
    size_t n;
    if (ec_http_encode(m, buf, sizeof buf, &n) != 0) {
        b->failed = 1;
        return;
    }
    ec_event_input in = {.type = type, .data = buf, .data_len = n};
    if (ec_chain_append(b->chain, &in, seq, NULL) != 0)
        b->failed = 1;
}

/* The same handler both ways; only the recording differs, as an actor runtime would wire it
 * (docs/HTTP.md): the request before the actor runs, the reply before it is sent. */
static int handler(void *arg, const ec_http_msg *req, ec_http_reply *reply)
{
    bench_ctx *b = arg;
    uint64_t seq = 0;
    if (b->chain)
        record(b, EC_HTTP_EV_REQUEST, req, &seq);
    ec_http_reply_header(reply, "Content-Type", "text/plain");
    ec_http_reply_body(reply, "ok", 2);
    if (b->chain)
        record(b, EC_HTTP_EV_RESPONSE, ec_http_reply_msg(reply), &seq);
    if (b->durable)
        ec_http_reply_hold(reply, seq);
    return 0;
}

typedef struct loader {
    unsigned port;
    unsigned long n;
    double *lat; /* seconds per request */
    int failed;
} loader;

static int read_response(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    char *end = NULL;
    while (!end) {
        ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        buf[got] = 0;
        end = strstr(buf, "\r\n\r\n");
        if (!end && got + 1 >= cap)
            return -1;
    }
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (!cl || strncmp(buf, "HTTP/1.1 200 ", 13) != 0)
        return -1;
    size_t body = strtoul(cl + 17, NULL, 10);
    size_t have = got - (size_t)(end + 4 - buf);
    while (have < body) {
        ssize_t r = recv(fd, buf, cap - 1, 0);
        if (r <= 0)
            return -1;
        have += (size_t)r;
    }
    return have == body ? 0 : -1; /* no pipelining: nothing may follow the body */
}

static void *load_main(void *arg)
{
    loader *l = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)l->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        l->failed = 1;
        return NULL;
    }
    static const char req[] = "GET /bench?item=42 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "User-Agent: bench_http\r\nAccept: */*\r\n\r\n";
    char buf[4096];
    for (unsigned long i = 0; i < l->n; i++) {
        double t0 = bench_now();
        if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1) ||
            read_response(fd, buf, sizeof buf) != 0) {
            l->failed = 1;
            break;
        }
        l->lat[i] = bench_now() - t0;
    }
    close(fd);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct result {
    double rps, p50_us, p99_us;
} result;

/* One timed run: CONNS connections of n requests each against a fresh server. */
static int run(bench_ctx *b, unsigned long n, result *out)
{
    ec_http_server_options o = EC_HTTP_SERVER_OPTIONS_INIT;
    o.timeout_ms = 10000;
    o.release = b->durable ? release_durable : NULL;
    ec_http_server *s = NULL;
    if (ec_http_server_start(&s, &o, handler, b) != 0)
        return -1;
    loader l[64];
    pthread_t t[64];
    double *lat = malloc(sizeof(double) * n * CONNS);
    if (!lat) {
        ec_http_server_stop(s);
        return -1;
    }
    double t0 = bench_now();
    for (int i = 0; i < CONNS; i++) {
        l[i] = (loader){ec_http_server_port(s), n, lat + (size_t)i * n, 0};
        pthread_create(&t[i], NULL, load_main, &l[i]);
    }
    int failed = 0;
    for (int i = 0; i < CONNS; i++) {
        pthread_join(t[i], NULL);
        failed |= l[i].failed;
    }
    double dt = bench_now() - t0;
    ec_http_server_stop(s);
    if (failed || b->failed) {
        free(lat);
        return -1;
    }
    size_t total = n * CONNS;
    qsort(lat, total, sizeof *lat, cmp_d);
    out->rps = (double)total / dt;
    out->p50_us = lat[total / 2] * 1e6;
    out->p99_us = lat[total * 99 / 100] * 1e6;
    free(lat);
    return 0;
}

/* A chain in a fresh directory under dir: the disk backend with batch durability, through the
 * deferred wrapper when `deferred` (then *inner is the real backend). NULL when the disk
 * backend is unavailable. */
static ec_chain *disk_chain(const char *dir, const char *name, int deferred, ec_backend **inner)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ec_disk_options d = EC_DISK_OPTIONS_INIT;
    d.create = 1;
    d.durability = EC_DURABLE_BATCH;
    if (getenv("BENCH_DELAY_US"))
        d.batch_max_delay_us = (unsigned)atoi(getenv("BENCH_DELAY_US"));
    ec_backend *be = NULL, *use;
    ec_chain *c = NULL;
    if (ec_backend_disk(&be, path, &d) != 0)
        return NULL;
    use = deferred ? deferred_wrap(be) : be;
    if (!use) {
        be->free(be);
        return NULL;
    }
    if (ec_chain_open(&c, use, NULL) != 0)
        return NULL;
    if (inner)
        *inner = be;
    return c;
}

static int cmp_u(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median time of one append that waits for its own sync: the latency floor of a reply that
 * must not leave before its events are durable. A closed-loop client sends its next request
 * only after that, so durable requests/s are bounded by connections / sync time. */
static double sync_latency_us(ec_chain *c)
{
    double t[200];
    uint8_t data[100] = {0};
    for (int i = 0; i < 200; i++) {
        ec_event_input in = {.type = "bench/sync", .data = data, .data_len = sizeof data};
        double t0 = bench_now();
        if (ec_chain_append(c, &in, NULL, NULL) != 0)
            return 0;
        t[i] = bench_now() - t0;
    }
    qsort(t, 200, sizeof *t, cmp_u);
    return t[100] * 1e6;
}

/* Best of REPS runs of b, alternating with runs of the unrecorded server (kept in *off). */
static int best_of(bench_ctx *b, unsigned long n, result *best, result *off)
{
    bench_ctx none = {NULL, NULL, 0};
    result r;
    for (int rep = 0; rep < REPS; rep++) {
        if (run(&none, n, &r) != 0)
            return -1;
        if (r.rps > off->rps)
            *off = r;
        if (run(b, n, &r) != 0)
            return -1;
        if (r.rps > best->rps)
            *best = r;
    }
    return 0;
}

int main(void)
{
    unsigned long n = bench_scaled(5000);
    const char *ce = getenv("BENCH_CONNS");
    if (ce && atoi(ce) > 0 && atoi(ce) <= 64)
        CONNS = atoi(ce);
    char dir[] = "/tmp/bench_http.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("bench_http: mkdtemp");
        return 1;
    }
    ec_backend *mbe = NULL, *inner = NULL;
    ec_chain *mem = NULL, *disk = disk_chain(dir, "chain", 1, &inner);
    if (ec_backend_memory(&mbe, NULL) != 0 || ec_chain_open(&mem, mbe, NULL) != 0) {
        fprintf(stderr, "bench_http: %s\n", ec_error_last()->message);
        return 1;
    }
    bench_ctx none = {NULL, NULL, 0}, on_mem = {mem, NULL, 0}, on_disk = {disk, inner, 0};
    result off = {0, 0, 0}, r_mem = {0, 0, 0}, r_disk = {0, 0, 0}, r;
    if (run(&none, n / 10 + 1, &r) != 0 || best_of(&on_mem, n, &r_mem, &off) != 0 ||
        (disk && best_of(&on_disk, n, &r_disk, &off) != 0)) {
        fprintf(stderr, "bench_http: a run failed%s%s\n", ec_error_last() ? ": " : "",
                ec_error_last() ? ec_error_last()->message : "");
        return 1;
    }
    ec_verify_result vr;
    uint64_t events = ec_chain_count(mem) + (disk ? ec_chain_count(disk) : 0);
    int intact =
        ec_chain_verify(mem, NULL, &vr) == 0 && (!disk || ec_chain_verify(disk, NULL, &vr) == 0);
    ec_chain_free(mem);
    if (disk)
        ec_chain_free(disk);
    /* For comparison: each append waiting for its own sync inside the handler; and the
     * latency of one sync, which bounds a closed-loop client to one request per sync. */
    result naive = {0, 0, 0};
    double sync_us = 0;
    ec_chain *nchain = disk ? disk_chain(dir, "naive", 0, NULL) : NULL;
    if (nchain) {
        bench_ctx nb = {nchain, NULL, 0};
        if (run(&nb, n / 10 + 1, &naive) != 0)
            naive.rps = 0;
        sync_us = sync_latency_us(nchain);
        ec_chain_free(nchain);
    }
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_http: could not remove %s\n", dir);

    printf("http: %d keep-alive connections x %lu small GETs per run, best of %d, loopback\n",
           CONNS, n, REPS);
    printf("recording off (limit):   %9.0f req/s  p50 %7.1f us  p99 %7.1f us\n", off.rps,
           off.p50_us, off.p99_us);
    printf("recorded, memory:        %9.0f req/s  p50 %7.1f us  p99 %7.1f us\n", r_mem.rps,
           r_mem.p50_us, r_mem.p99_us);
    if (disk) {
        printf("recorded, disk batch:    %9.0f req/s  p50 %7.1f us  p99 %7.1f us  (replies held "
               "until their events are synced)\n",
               r_disk.rps, r_disk.p50_us, r_disk.p99_us);
        if (naive.rps > 0)
            printf("  without holding (each append waits for its sync in the handler): %.0f "
                   "req/s, p50 %.1f us\n",
                   naive.rps, naive.p50_us);
        if (sync_us > 0)
            printf("  one append waiting for its own sync: p50 %.0f us (the floor of a durable "
                   "reply's latency)\n",
                   sync_us);
    } else {
        printf("recorded, disk batch:    unavailable (%s)\n", "disk backend did not open");
    }
    printf("events recorded: %llu (2 per request), chains %s\n", (unsigned long long)events,
           intact ? "verified intact" : "FAILED verification");
    printf("http.serve_memory: %.3f\n", r_mem.rps / off.rps);
    if (disk)
        printf("http.serve: %.3f\n", r_disk.rps / off.rps);
    return intact ? 0 : 1;
}
