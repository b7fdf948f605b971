/* bench/bench_http.c: requests per second and latency of HTTP serving for small keep-alive
 * GETs from a few concurrent connections (a raw-socket load generator in this program).
 * The actor path (`http.serve`): the kv actor served by the runtime, its chain on disk under
 * batch durability, against the same actor, runtime and server with recording off (events
 * discarded: the limit, measured in the same run). The module path (`http.serve_module`,
 * `http.serve_memory`): the server with a handler appending two events per request.
 * Actors in parallel (`http.parallel_actors`): two actors of one runtime serving CPU-bound
 * requests, one connection each, against one actor given both connections; that speedup
 * over the machine's own speedup for a C loop on two threads. A bare server
 * (`http.bare_server`): one thread with nothing but the sync, synced over not synced. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ftw.h>
#include <libgen.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <evchain/evchain.h>
#include <evchain/http.h>
#include "bench.h"

#define CONNS_DEFAULT 8
/* Runs alternate (limit, recorded, limit, ...). The machine is shared and its slow spells last
 * seconds, so the limit alone moved 50k to 70k req/s between invocations: each target's ratio
 * is the median over REPS of recorded / limit within one back-to-back pair, which a spell
 * hits on both sides. Rates and latencies printed are the best of the REPS runs. */
#define REPS 5

static int CONNS = CONNS_DEFAULT;

typedef struct bench_ctx {
    ec_chain *chain;     /* NULL: recording off */
    ec_backend *durable; /* set: hold each reply until this backend has synced its events */
    int failed;
} bench_ctx;

/* Deferred durability (store/deferred.c, docs/HTTP.md): the chain appends through a wrapper
 * whose appends return at commit; the server holds the reply, and its releaser thread waits
 * on the real backend's durability before sending. The worker meanwhile handles the next
 * request, so one sync covers the events of several requests instead of one per append. */
static int release_durable(void *arg, uint64_t seq)
{
    bench_ctx *b = arg;
    return ec_backend_deferred_wait(b->durable, seq);
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

/* What every load connection sends, over and over. */
static const char *load_request = "GET /bench?item=42 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  "User-Agent: bench_http\r\nAccept: */*\r\n\r\n";

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
    const char *req = load_request;
    ssize_t rl = (ssize_t)strlen(req);
    char buf[4096];
    for (unsigned long i = 0; i < l->n; i++) {
        double t0 = bench_now();
        if (send(fd, req, (size_t)rl, MSG_NOSIGNAL) != rl ||
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

/* Per-pair ratios of one target, in run order. */
typedef struct pairs {
    double r[REPS];
    int n;
} pairs;

static void pairs_add(pairs *p, double recorded, double limit)
{
    if (p->n < REPS && limit > 0)
        p->r[p->n++] = recorded / limit;
}

static double pairs_median(const pairs *p)
{
    double t[REPS];
    memcpy(t, p->r, sizeof t);
    for (int i = 1; i < p->n; i++) /* insertion sort: five values */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return p->n ? (p->n % 2 ? t[p->n / 2] : (t[p->n / 2 - 1] + t[p->n / 2]) / 2) : 0;
}

/* BENCH_VERBOSE=1: each pair's figures on stderr, to see which side the noise hit. */
static void pair_note(const result *lim, const result *r)
{
    if (getenv("BENCH_VERBOSE"))
        fprintf(stderr, "pair: limit %.0f req/s (p50 %.0f us), recorded %.0f req/s (p50 %.0f us)\n",
                lim->rps, lim->p50_us, r->rps, r->p50_us);
}

static void pairs_print(const char *name, const pairs *p)
{
    printf("  %s, recorded/limit per pair:", name);
    for (int i = 0; i < p->n; i++)
        printf(" %.3f", p->r[i]);
    printf("  (median %.3f)\n", pairs_median(p));
}

static int run_load_on(const unsigned *ports, int conns, unsigned long n, result *out);

/* CONNS connections of n requests each against the server on port. */
static int run_load(unsigned port, unsigned long n, result *out)
{
    unsigned ports[64];
    for (int i = 0; i < CONNS; i++)
        ports[i] = port;
    return run_load_on(ports, CONNS, n, out);
}

/* One timed run: CONNS connections of n requests each against a fresh server. */
static int run(bench_ctx *b, unsigned long n, result *out)
{
    ec_http_server_options o = EC_HTTP_SERVER_OPTIONS_INIT;
    o.timeout_ms = 10000;
    o.release = b->durable ? release_durable : NULL;
    ec_http_server *s = NULL;
    if (ec_http_server_start(&s, &o, handler, b) != 0)
        return -1;
    int rc = run_load(ec_http_server_port(s), n, out);
    ec_http_server_stop(s);
    return rc || b->failed ? -1 : 0;
}

/* conns connections (connection i to ports[i]) of n requests each. */
static int run_load_on(const unsigned *ports, int conns, unsigned long n, result *out)
{
    loader l[64];
    pthread_t t[64];
    double *lat = malloc(sizeof(double) * n * (size_t)conns);
    if (!lat)
        return -1;
    double t0 = bench_now();
    for (int i = 0; i < conns; i++) {
        l[i] = (loader){ports[i], n, lat + (size_t)i * n, 0};
        pthread_create(&t[i], NULL, load_main, &l[i]);
    }
    int failed = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(t[i], NULL);
        failed |= l[i].failed;
    }
    double dt = bench_now() - t0;
    if (failed) {
        free(lat);
        return -1;
    }
    size_t total = n * (size_t)conns;
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
    ec_backend *be = NULL, *use = NULL;
    ec_chain *c = NULL;
    if (ec_backend_disk(&be, path, &d) != 0)
        return NULL;
    if (!deferred)
        use = be;
    else if (ec_backend_deferred(&use, be) != 0)
        be->free(be);
    else
        ec_backend_deferred_set(use, 1);
    if (!use || ec_chain_open(&c, use, NULL) != 0)
        return NULL;
    if (inner)
        *inner = use;
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

/* REPS runs of b, each right after a run of the unrecorded server (best kept in *off). */
static int best_of(bench_ctx *b, unsigned long n, result *best, result *off, pairs *pr)
{
    bench_ctx none = {NULL, NULL, 0};
    result r, lim;
    for (int rep = 0; rep < REPS; rep++) {
        if (run(&none, n, &lim) != 0)
            return -1;
        if (lim.rps > off->rps)
            *off = lim;
        if (run(b, n, &r) != 0)
            return -1;
        if (r.rps > best->rps)
            *best = r;
        pairs_add(pr, r.rps, lim.rps);
        pair_note(&lim, &r);
    }
    return 0;
}

/* ---- the actor path ---- */

/* Recording off, for the limit: a backend that keeps only the last record (the chain reads
 * its head back) and never syncs. Events are still encoded and hashed by the runtime. */
typedef struct discard {
    ec_backend base;
    uint64_t count;
    uint8_t *buf;
    size_t cap, len;
    ec_hash_alg alg;
} discard;

static int dc_get_alg(ec_backend *b, ec_hash_alg *o)
{
    *o = ((discard *)b)->alg;
    return 0;
}
static int dc_set_alg(ec_backend *b, ec_hash_alg a)
{
    ((discard *)b)->alg = a;
    return 0;
}
static int dc_count(ec_backend *b, uint64_t *o)
{
    *o = ((discard *)b)->count;
    return 0;
}
static int dc_reserve(ec_backend *b, size_t len, uint8_t **o)
{
    discard *d = (discard *)b;
    if (len > d->cap) {
        uint8_t *p = realloc(d->buf, len);
        if (!p)
            return EC_ENOMEM;
        d->buf = p;
        d->cap = len;
    }
    d->len = len;
    *o = d->buf;
    return 0;
}
static int dc_commit(ec_backend *b, uint64_t seq, size_t off)
{
    (void)seq, (void)off;
    ((discard *)b)->count++;
    return 0;
}
static int dc_get(ec_backend *b, uint64_t seq, const uint8_t **r, size_t *l)
{
    discard *d = (discard *)b;
    if (d->count == 0 || seq != d->count - 1)
        return EC_ENOTFOUND;
    *r = d->buf;
    *l = d->len;
    return 0;
}
static int dc_iter_new(ec_backend *b, uint64_t from, ec_backend_iter **o)
{
    (void)b, (void)from, (void)o;
    return EC_EUNSUPPORTED;
}
static void dc_free(ec_backend *b)
{
    free(((discard *)b)->buf);
    free(b);
}
static int discard_new(ec_backend **out, const char *id, const char *dir, void *ctx)
{
    (void)id, (void)dir, (void)ctx;
    discard *d = calloc(1, sizeof *d);
    if (!d)
        return EC_ENOMEM;
    d->base = (ec_backend){
        EC_BACKEND_VERSION, dc_get_alg, dc_set_alg, dc_count, dc_reserve, dc_commit, dc_get, NULL,
        dc_iter_new,        NULL,       NULL,       NULL,     NULL,       dc_free};
    *out = &d->base;
    return 0;
}

static char kv_module[1200], actor_root[64], actor_cache[128];
static int actor_runs;

/* One request on a fresh connection, for seeding; the status. */
static int one_request(unsigned port, const char *req)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[1024] = {0};
    int status = -1;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req) &&
        recv(fd, buf, sizeof buf - 1, 0) > 12)
        status = atoi(buf + 9);
    if (fd >= 0)
        close(fd);
    return status;
}

/* A runtime in a fresh folder under actor_root (named tag<n>), quiet, with the options o
 * has set otherwise; NULL when it cannot start. */
static ec_runtime *fresh_runtime(const char *tag, ec_runtime_options *o)
{
    char data[128];
    snprintf(data, sizeof data, "%s/%s%d", actor_root, tag, actor_runs++);
    o->data_dir = data;
    o->cache_dir = actor_cache;
    o->quiet = 1;
    ec_runtime *rt = NULL;
    int rc = ec_runtime_new(&rt, o);
    o->data_dir = NULL; /* copied by ec_runtime_new; data goes out of scope */
    return rc == 0 ? rt : NULL;
}

/* The kv actor served by a fresh runtime, its chain discarded (recorded 0), on disk under
 * batch (1) or in memory (2); one key stored, then the load: GETs of that key. *events: the
 * chain's length after. */
static int run_actor(int recorded, unsigned long n, result *out, uint64_t *events, int *intact)
{
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
    o.durability = EC_DURABLE_BATCH;
    if (!recorded)
        o.backend_new = discard_new;
    if (recorded == 2)
        o.chain_store = EC_CHAIN_STORE_MEMORY;
    ec_runtime *rt = fresh_runtime("run", &o);
    if (!rt)
        return -1;
    ec_actor_options ao = EC_ACTOR_OPTIONS_INIT;
    ao.id = "kv";
    ec_actor *a = NULL;
    ec_actor_http_options ho = EC_ACTOR_HTTP_OPTIONS_INIT;
    ho.timeout_ms = 10000;
    unsigned port = 0;
    int rc = -1;
    if (ec_runtime_spawn(rt, kv_module, &ao, &a) == 0 && ec_actor_serve_http(a, &ho, &port) == 0 &&
        one_request(port, "PUT /kv/item HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
                          "Connection: close\r\n\r\n42") == 201) {
        const char *saved = load_request;
        load_request = "GET /kv/item HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "User-Agent: bench_http\r\nAccept: */*\r\n\r\n";
        if (getenv("BENCH_SERVE")) { /* for an outside load generator: see docs/HTTP.md */
            printf("serving %s on 127.0.0.1:%u for %s s\n",
                   recorded == 0   ? "unrecorded"
                   : recorded == 1 ? "recorded (disk)"
                                   : "recorded (memory)",
                   port, getenv("BENCH_SERVE"));
            fflush(stdout);
            sleep((unsigned)atoi(getenv("BENCH_SERVE")));
            *out = (result){1, 1, 1};
            rc = 0;
        } else {
            rc = run_load(port, n, out);
        }
        load_request = saved;
    }
    if (rc == 0 && events) {
        ec_runtime_lock(rt);
        *events = ec_chain_count(ec_actor_chain(a));
        ec_verify_result vr;
        *intact = ec_chain_verify(ec_actor_chain(a), NULL, &vr) == 0;
        ec_runtime_unlock(rt);
    }
    ec_runtime_free(rt);
    return rc;
}

/* Best of REPS alternating runs of the actor recorded and not (and in memory, for context). */
static int actor_best(unsigned long n, result *on, result *off, result *mem, uint64_t *events,
                      int *intact, pairs *pr)
{
    result r, lim;
    *intact = 1;
    for (int rep = 0; rep < REPS; rep++) {
        if (run_actor(2, n, &r, NULL, NULL) != 0) /* memory: context, outside the pair */
            return -1;
        if (r.rps > mem->rps)
            *mem = r;
        if (run_actor(0, n, &lim, NULL, NULL) != 0)
            return -1;
        if (lim.rps > off->rps)
            *off = lim;
        uint64_t ev = 0;
        int ok = 0;
        if (run_actor(1, n, &r, &ev, &ok) != 0)
            return -1;
        *intact &= ok;
        *events += ev;
        if (r.rps > on->rps)
            *on = r;
        pairs_add(pr, r.rps, lim.rps);
        pair_note(&lim, &r);
    }
    return 0;
}

/* ---- 3. actors in parallel ---- */

static char spin_module[1200];

/* Two actors of one runtime (chains in memory) handling GET /spin, a fixed amount of wasm
 * CPU each: *one, two connections to the first actor (its requests one at a time); *two, one
 * connection to each. req/s. */
static int run_parallel(unsigned long n, double *one, double *two)
{
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
    o.chain_store = EC_CHAIN_STORE_MEMORY;
    ec_runtime *rt = fresh_runtime("par", &o);
    if (!rt)
        return -1;
    ec_actor_options ao = EC_ACTOR_OPTIONS_INIT;
    ec_actor_http_options ho = EC_ACTOR_HTTP_OPTIONS_INIT;
    ho.timeout_ms = 30000;
    ec_actor *a[2] = {NULL, NULL};
    unsigned port[2] = {0, 0};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        ao.id = i ? "spin2" : "spin1";
        rc = ec_runtime_spawn(rt, spin_module, &ao, &a[i]);
        if (rc == 0)
            rc = ec_actor_serve_http(a[i], &ho, &port[i]);
    }
    const char *saved = load_request;
    load_request = "GET /spin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    result r;
    unsigned same[2] = {port[0], port[0]};
    if (rc == 0 && (rc = run_load_on(same, 2, n, &r)) == 0)
        *one = r.rps;
    if (rc == 0 && (rc = run_load_on(port, 2, n, &r)) == 0)
        *two = r.rps;
    load_request = saved;
    ec_runtime_free(rt);
    return rc;
}

/* The limit: the machine's own speedup for CPU-bound work on two threads against one. */
static void *spin_c(void *arg)
{
    volatile unsigned long sink = 0;
    for (unsigned long i = 0, n = *(unsigned long *)arg; i < n; i++)
        sink++;
    return NULL;
}

static double c_speedup(unsigned long turns)
{
    unsigned long both = 2 * turns;
    double t0 = bench_now();
    spin_c(&both);
    double t1 = bench_now();
    pthread_t th;
    pthread_create(&th, NULL, spin_c, &turns);
    spin_c(&turns);
    pthread_join(th, NULL);
    double t2 = bench_now();
    return (t1 - t0) / (t2 - t1);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* ---- a bare server: what any server reaches on this disk ---- */

/* One thread, epoll, no HTTP library, no actor, no handoff between threads: it reads each
 * request up to its blank line, appends BARE_RECORD bytes for it to a file kept zero-filled
 * ahead (as the disk chain does under batch), and replies with a fixed 200. Durable: before
 * the replies of a group leave, the group is written and fdatasynced on this same thread,
 * after waiting up to BARE_LINGER_US for the requests of the other connections. That is the
 * best of the designs tried for this figure (docs/HTTP.md section 4): a separate sync thread,
 * or no waiting, did worse. Its durable rate over its own rate without the sync is the
 * ratio a server reaches here at this connection count with nothing but the sync added. */
#define BARE_RECORD    1250 /* about the kv actor's 5 events per request */
#define BARE_LINGER_US 200
#define BARE_ZEROS     (64u << 20)

typedef struct bare {
    int lfd, fd, durable;
    atomic_int stop;
    off_t off;
    int failed;
} bare;

static const char bare_reply[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 "Content-Length: 24\r\n\r\n{\"key\":\"item\",\"value\":1}";

static void *bare_main(void *arg)
{
    bare *b = arg;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = b->lfd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, b->lfd, &ev) != 0) {
        if (ep >= 0)
            close(ep);
        b->failed = 1;
        return NULL;
    }
    enum { MAXC = 64 };
    int conn[MAXC], pend[MAXC], nconn = 0, npend = 0;
    size_t have[MAXC];
    char in[MAXC][512];
    static uint8_t group[MAXC * BARE_RECORD];
    memset(group, 'e', sizeof group);
    double first = 0;
    while (!atomic_load(&b->stop)) {
        struct epoll_event evs[MAXC + 1];
        int n;
        /* Linger: a group waits for the other connections' requests, up to BARE_LINGER_US. */
        int linger =
            b->durable && npend > 0 && npend < nconn && bench_now() - first < BARE_LINGER_US * 1e-6;
        if (linger) {
            struct timespec ts = {0, 20000};
            n = epoll_pwait2(ep, evs, MAXC + 1, &ts, NULL);
        } else {
            n = epoll_wait(ep, evs, MAXC + 1, npend ? 0 : 50);
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == b->lfd) {
                int c = accept(b->lfd, NULL, NULL), one = 1;
                if (c < 0 || nconn == MAXC) {
                    if (c >= 0)
                        close(c);
                    continue;
                }
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                struct epoll_event ce = {.events = EPOLLIN, .data.u64 = (uint64_t)nconn << 32};
                ce.data.u64 |= (uint32_t)c;
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                have[nconn] = 0;
                conn[nconn++] = c;
                continue;
            }
            int k = (int)(evs[i].data.u64 >> 32), c = conn[k];
            ssize_t r = recv(c, in[k] + have[k], sizeof in[k] - 1 - have[k], 0);
            if (r <= 0) { /* the client is done: stop watching, keep the slot */
                epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL);
                continue;
            }
            have[k] += (size_t)r;
            in[k][have[k]] = 0;
            char *end = strstr(in[k], "\r\n\r\n");
            if (!end)
                continue;
            have[k] = 0; /* one request in flight per connection: nothing follows it */
            if (!npend)
                first = bench_now();
            pend[npend++] = k;
        }
        if (!npend || (b->durable && npend < nconn && bench_now() - first < BARE_LINGER_US * 1e-6))
            continue;
        size_t len = (size_t)npend * BARE_RECORD;
        if (pwrite(b->fd, group, len, b->off) != (ssize_t)len ||
            (b->durable && fdatasync(b->fd) != 0)) {
            b->failed = 1;
            break;
        }
        b->off = (b->off + (off_t)len) % (BARE_ZEROS - MAXC * BARE_RECORD);
        for (int i = 0; i < npend; i++)
            if (send(conn[pend[i]], bare_reply, sizeof bare_reply - 1, MSG_NOSIGNAL) < 0)
                b->failed = 1;
        npend = 0;
    }
    for (int i = 0; i < nconn; i++)
        close(conn[i]);
    close(ep);
    return NULL;
}

/* One run of the bare server, durable or not, writing to fd (already zero-filled). */
static int bare_run(int fd, int durable, unsigned long n, result *out)
{
    bare b = {.fd = fd, .durable = durable};
    atomic_init(&b.stop, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    b.lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (b.lfd < 0 || bind(b.lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(b.lfd, 64) != 0 ||
        getsockname(b.lfd, (struct sockaddr *)&a, &al) != 0) {
        if (b.lfd >= 0)
            close(b.lfd);
        return -1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, bare_main, &b) != 0) {
        close(b.lfd);
        return -1;
    }
    int rc = run_load(ntohs(a.sin_port), n, out);
    atomic_store(&b.stop, 1);
    pthread_join(t, NULL);
    close(b.lfd);
    return rc || b.failed ? -1 : 0;
}

/* REPS pairs (without the sync, with it) in a zero-filled file under dir. */
static int bare_best(const char *dir, unsigned long n, result *on, result *off, pairs *pr)
{
    char path[128];
    snprintf(path, sizeof path, "%s/bare.log", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), rc = fd < 0 ? -1 : 0;
    static uint8_t zeros[1 << 20];
    for (size_t o = 0; rc == 0 && o < BARE_ZEROS; o += sizeof zeros)
        if (write(fd, zeros, sizeof zeros) != (ssize_t)sizeof zeros)
            rc = -1;
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -1;
    for (int rep = 0; rc == 0 && rep < REPS; rep++) {
        result lim, r;
        if (bare_run(fd, 0, n, &lim) != 0 || bare_run(fd, 1, n, &r) != 0) {
            rc = -1;
            break;
        }
        if (lim.rps > off->rps)
            *off = lim;
        if (r.rps > on->rps)
            *on = r;
        pairs_add(pr, r.rps, lim.rps);
        pair_note(&lim, &r);
    }
    if (fd >= 0)
        close(fd);
    unlink(path);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned long n = bench_scaled(5000);
    const char *ce = getenv("BENCH_CONNS");
    if (ce && atoi(ce) > 0 && atoi(ce) <= 64)
        CONNS = atoi(ce);
    (void)argc;

    /* 1. The actor path. */
    char self[1024];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(kv_module, sizeof kv_module, "%s/actors/kv.wasm", dirname(self));
    snprintf(actor_root, sizeof actor_root, "/tmp/bench_http_actor.XXXXXX");
    if (!mkdtemp(actor_root)) {
        perror("bench_http: mkdtemp");
        return 1;
    }
    snprintf(actor_cache, sizeof actor_cache, "%s/cache", actor_root);
    result a_on = {0, 0, 0}, a_off = {0, 0, 0}, a_mem = {0, 0, 0}, warm;
    uint64_t a_events = 0;
    pairs a_pairs = {{0}, 0}, m_pairs = {{0}, 0}, d_pairs = {{0}, 0};
    int a_intact = 0;
    unsigned long an = n / 5 + 1;
    int a_rc = run_actor(0, 10, &warm, NULL, NULL); /* compiles kv.wasm into the cache */
    if (a_rc == 0)
        a_rc = actor_best(an, &a_on, &a_off, &a_mem, &a_events, &a_intact, &a_pairs);
    if (a_rc != 0)
        fprintf(stderr, "bench_http: the actor path failed (%s): %s\n", kv_module,
                ec_error_last() ? ec_error_last()->message : "a run failed");
    /* Pairs (actors, then the C spin) alternate, as for the targets above. */
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(spin_module, sizeof spin_module, "%s/actors/httptest.wasm", dirname(self));
    double par_one = 0, par_two = 0, par_c = 0, par_ratio[3];
    unsigned long pn = bench_scaled(300);
    int p_rc = a_rc;
    for (int rep = 0; rep < 3 && p_rc == 0; rep++) {
        double one = 0, two = 0;
        p_rc = run_parallel(pn, &one, &two);
        double c = c_speedup(200000000ul);
        par_ratio[rep] = one > 0 && c > 0 ? two / one / c : 0;
        if (two / (one > 0 ? one : 1) > par_two / (par_one > 0 ? par_one : 1)) {
            par_one = one;
            par_two = two;
            par_c = c;
        }
    }
    if (p_rc != 0)
        fprintf(stderr, "bench_http: the parallel actors failed (%s): %s\n", spin_module,
                ec_error_last() ? ec_error_last()->message : "a run failed");
    nftw(actor_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    if (a_rc != 0 || p_rc != 0)
        return 1;
    printf("http actor: kv actor, %d keep-alive connections x %lu GET /kv/item per run, best of "
           "%d (paired with the limit)\n",
           CONNS, an, REPS);
    printf("recording off (limit):   %9.0f req/s  p50 %7.1f us  p99 %7.1f us  (same actor, "
           "runtime and server; events discarded)\n",
           a_off.rps, a_off.p50_us, a_off.p99_us);
    printf("recorded, memory:        %9.0f req/s  p50 %7.1f us  p99 %7.1f us  (for context: "
           "recording without durability)\n",
           a_mem.rps, a_mem.p50_us, a_mem.p99_us);
    printf("recorded, disk batch:    %9.0f req/s  p50 %7.1f us  p99 %7.1f us  (replies held "
           "until their events are synced)\n",
           a_on.rps, a_on.p50_us, a_on.p99_us);
    printf("events recorded: %llu (5 per GET: http/request, wasm/call, http/response and its "
           "result, wasm/result), chains %s\n",
           (unsigned long long)a_events, a_intact ? "verified intact" : "FAILED verification");

    qsort(par_ratio, 3, sizeof par_ratio[0], cmp_d);
    printf("http actors in parallel: two actors of one runtime, GET /spin (1e6 wasm loop turns), "
           "%lu requests per connection, best of 3\n",
           pn);
    printf("one actor, 2 connections: %7.1f req/s (its requests one at a time)\n", par_one);
    printf("two actors, 1 connection each: %7.1f req/s: speedup %.2f\n", par_two,
           par_two / par_one);
    printf("limit: the same machine's speedup for a C loop on 2 threads against 1: %.2f\n", par_c);
    printf("  ratio (median of 3 pairs): %.3f\n", par_ratio[1]);

    /* 2. The module path. */
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
    if (run(&none, n / 10 + 1, &r) != 0 || best_of(&on_mem, n, &r_mem, &off, &m_pairs) != 0 ||
        (disk && best_of(&on_disk, n, &r_disk, &off, &d_pairs) != 0)) {
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
    /* 3. The bare server, for what the disk allows at this connection count. */
    result b_on = {0, 0, 0}, b_off = {0, 0, 0};
    pairs b_pairs = {{0}, 0};
    int b_rc = bare_best(dir, n, &b_on, &b_off, &b_pairs);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_http: could not remove %s\n", dir);

    printf("http module: %d keep-alive connections x %lu small GETs per run, best of %d\n", CONNS,
           n, REPS);
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
    if (b_rc == 0) {
        printf("bare server (one thread, epoll, no HTTP library, no actor; %d B appended per "
               "request), %d connections x %lu requests, best of %d:\n",
               BARE_RECORD, CONNS, n, REPS);
        printf("without sync:            %9.0f req/s  p50 %7.1f us  p99 %7.1f us\n", b_off.rps,
               b_off.p50_us, b_off.p99_us);
        printf("synced before replying:  %9.0f req/s  p50 %7.1f us  p99 %7.1f us  (%.2f of the "
               "kv actor's limit above)\n",
               b_on.rps, b_on.p50_us, b_on.p99_us, a_off.rps > 0 ? b_on.rps / a_off.rps : 0);
        pairs_print("http.bare_server", &b_pairs);
    } else {
        printf("bare server: failed (%s)\n", "see stderr");
    }
    pairs_print("http.serve_memory", &m_pairs);
    if (disk)
        pairs_print("http.serve_module", &d_pairs);
    pairs_print("http.serve", &a_pairs);
    printf("http.serve_memory: %.3f\n", pairs_median(&m_pairs));
    if (disk)
        printf("http.serve_module: %.3f\n", pairs_median(&d_pairs));
    printf("http.serve: %.3f\n", pairs_median(&a_pairs));
    printf("http.parallel_actors: %.3f\n", par_ratio[1]);
    if (b_rc == 0)
        printf("http.bare_server: %.3f\n", pairs_median(&b_pairs));
    return intact && a_intact ? 0 : 1;
}
