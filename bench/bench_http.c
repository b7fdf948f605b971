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

#define CONNS 4
#define REPS  3

typedef struct bench_ctx {
    ec_chain *chain; /* NULL: recording off */
    int failed;
} bench_ctx;

static void record(bench_ctx *b, const char *type, const ec_http_msg *m)
{
    uint8_t buf[4096];
    size_t n;
    if (ec_http_encode(m, buf, sizeof buf, &n) != 0) {
        b->failed = 1;
        return;
    }
    ec_event_input in = {.type = type, .data = buf, .data_len = n};
    if (ec_chain_append(b->chain, &in, NULL, NULL) != 0)
        b->failed = 1;
}

/* The same handler both ways; only the recording differs, as an actor runtime would wire it
 * (docs/HTTP.md): the request before the actor runs, the reply before it is sent. */
static int handler(void *arg, const ec_http_msg *req, ec_http_reply *reply)
{
    bench_ctx *b = arg;
    if (b->chain)
        record(b, "http/request", req);
    ec_http_reply_header(reply, "Content-Type", "text/plain");
    ec_http_reply_body(reply, "ok", 2);
    if (b->chain)
        record(b, "http/response", ec_http_reply_msg(reply));
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
    ec_http_server *s = NULL;
    if (ec_http_server_start(&s, &o, handler, b) != 0)
        return -1;
    loader l[CONNS];
    pthread_t t[CONNS];
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

int main(void)
{
    unsigned long n = bench_scaled(5000);
    /* The recorded chain: the disk backend with batch durability when available, else the
     * memory backend (said in the output). */
    char dir[] = "/tmp/bench_http.XXXXXX";
    const char *store = "memory backend";
    ec_chain *chain = NULL;
    ec_backend *be = NULL;
    if (mkdtemp(dir)) {
        char path[64];
        snprintf(path, sizeof path, "%s/chain", dir);
        ec_disk_options d = EC_DISK_OPTIONS_INIT;
        d.create = 1;
        d.durability = EC_DURABLE_BATCH;
        if (ec_backend_disk(&be, path, &d) == 0 && ec_chain_open(&chain, be, NULL) == 0)
            store = "disk backend, batch durability";
        else
            chain = NULL;
    }
    if (!chain && (ec_backend_memory(&be, NULL) != 0 || ec_chain_open(&chain, be, NULL) != 0)) {
        fprintf(stderr, "bench_http: %s\n", ec_error_last()->message);
        return 1;
    }
    bench_ctx off = {NULL, 0}, on = {chain, 0};
    result best_off = {0, 0, 0}, best_on = {0, 0, 0}, r;
    /* Alternate the two so that a noisy neighbour hits both alike; keep each one's best. */
    if (run(&off, n / 10 + 1, &r) != 0) { /* warm-up */
        fprintf(stderr, "bench_http: warm-up failed\n");
        return 1;
    }
    for (int rep = 0; rep < REPS; rep++) {
        if (run(&off, n, &r) != 0) {
            fprintf(stderr, "bench_http: run without recording failed\n");
            return 1;
        }
        if (r.rps > best_off.rps)
            best_off = r;
        if (run(&on, n, &r) != 0) {
            fprintf(stderr, "bench_http: recorded run failed: %s\n",
                    ec_error_last() ? ec_error_last()->message : "");
            return 1;
        }
        if (r.rps > best_on.rps)
            best_on = r;
    }
    uint64_t events = ec_chain_count(chain);
    ec_verify_result vr;
    int intact = ec_chain_verify(chain, NULL, &vr) == 0;
    ec_chain_free(chain);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_http: could not remove %s\n", dir);

    printf("http: %d keep-alive connections x %lu small GETs per run, best of %d, loopback\n",
           CONNS, n, REPS);
    printf("recording off (limit): %9.0f req/s  p50 %7.1f us  p99 %7.1f us\n", best_off.rps,
           best_off.p50_us, best_off.p99_us);
    printf("recording on:          %9.0f req/s  p50 %7.1f us  p99 %7.1f us  (%s)\n", best_on.rps,
           best_on.p50_us, best_on.p99_us, store);
    printf("events recorded: %llu (2 per request), chain %s\n", (unsigned long long)events,
           intact ? "verified intact" : "FAILED verification");
    printf("http.serve: %.3f\n", best_on.rps / best_off.rps);
    return intact ? 0 : 1;
}
