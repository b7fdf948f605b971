/* tests/test_http_server.c: the HTTP server over loopback with real clients (libcurl, and raw
 * sockets for malformed requests): requests and replies byte for byte, keep-alive, one
 * request at a time in arrival order, 413/400/500/504/503 with their refusal reports, servers
 * in parallel, and a recorded session replayed without the network into an identical chain. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <evchain/http.h>
#include "test.h"
#include "core/internal.h"
#include "http_client_util.h"

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- a client on libcurl ---- */

/* One request (http_client_util.h). */
#define do_req http_do

/* Raw bytes to the server; the whole answer (until close or 2 s) into out. */
static size_t raw_exchange(unsigned port, const char *req, size_t req_len, char *out, size_t cap)
{
    int fd = http_raw_send(port, req, req_len);
    struct timeval tv = {2, 0};
    size_t got = 0;
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0) {
        ssize_t n;
        while (got + 1 < cap && (n = recv(fd, out + got, cap - 1 - got, 0)) > 0) {
            got += (size_t)n;
            out[got] = 0;
            /* One whole response (head and Content-Length body) is enough: a kept-alive
             * connection would otherwise hold us until the timeout. */
            const char *end = strstr(out, "\r\n\r\n"), *cl = strstr(out, "Content-Length: ");
            if (end && cl && cl < end &&
                got >= (size_t)(end + 4 - out) + strtoul(cl + 16, NULL, 10))
                break;
        }
    }
    out[got] = 0;
    if (fd >= 0)
        close(fd);
    return got;
}

/* ---- a handler that records what it sees ---- */

#define MAXSEEN 256
typedef struct seen {
    char target[256];
    char method[16];
    char headers[1024]; /* "name=value;" in received order */
    size_t body_len;
    unsigned body_sum;
} seen;

typedef struct srv_ctx {
    pthread_mutex_t mu;
    seen s[MAXSEEN];
    int n;
    atomic_int inflight, max_inflight;
    /* refusals */
    unsigned ref_status[MAXSEEN];
    char ref_reason[MAXSEEN][384];
    char ref_target[MAXSEEN][128];
    int nref;
    atomic_int gate; /* /block waits while 0 */
    atomic_int *shared_counter;
} srv_ctx;

static void ctx_init(srv_ctx *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
}

static int handler(void *arg, const ec_http_msg *req, ec_http_reply *reply)
{
    srv_ctx *c = arg;
    int in = atomic_fetch_add(&c->inflight, 1) + 1;
    if (in > atomic_load(&c->max_inflight))
        atomic_store(&c->max_inflight, in);
    pthread_mutex_lock(&c->mu);
    seen *s = c->n < MAXSEEN ? &c->s[c->n++] : NULL;
    if (s) {
        memset(s, 0, sizeof *s);
        snprintf(s->target, sizeof s->target, "%.*s", (int)req->target_len, req->target);
        snprintf(s->method, sizeof s->method, "%.*s", (int)req->method_len, req->method);
        size_t off = 0;
        for (size_t i = 0; i < req->header_count && off < sizeof s->headers; i++)
            off += (size_t)snprintf(s->headers + off, sizeof s->headers - off, "%.*s=%.*s;",
                                    (int)req->headers[i].name_len, req->headers[i].name,
                                    (int)req->headers[i].value_len, req->headers[i].value);
        s->body_len = req->body_len;
        for (size_t i = 0; i < req->body_len; i++)
            s->body_sum = s->body_sum * 31u + req->body[i];
    }
    pthread_mutex_unlock(&c->mu);
    int rc = 0;
    const char *path = req->target;
    size_t pl = req->target_len;
    if (pl >= 6 && memcmp(path, "/block", 6) == 0) {
        while (!atomic_load(&c->gate))
            sleep_ms(2);
    } else if (pl >= 5 && memcmp(path, "/slow", 5) == 0) {
        sleep_ms(400);
    } else if (pl >= 5 && memcmp(path, "/trap", 5) == 0) {
        rc = EC_ETRAP;
    } else if (pl >= 5 && memcmp(path, "/pair", 5) == 0) {
        /* Wait (at most 3 s) for the other server's handler to be running too. */
        atomic_fetch_add(c->shared_counter, 1);
        for (int i = 0; i < 1500 && atomic_load(c->shared_counter) < 2; i++)
            sleep_ms(2);
        char b[32];
        snprintf(b, sizeof b, "%d", atomic_load(c->shared_counter));
        ec_http_reply_body(reply, b, strlen(b));
    } else if (pl >= 5 && memcmp(path, "/echo", 5) == 0) {
        ec_http_reply_status(reply, 201);
        ec_http_reply_header(reply, "X-Reply", "yes");
        ec_http_reply_body(reply, req->body, req->body_len);
    } else {
        ec_http_reply_header(reply, "Content-Type", "text/plain");
        ec_http_reply_body(reply, "ok", 2);
    }
    atomic_fetch_sub(&c->inflight, 1);
    return rc;
}

static void on_refused(void *arg, const ec_http_msg *r)
{
    srv_ctx *c = arg;
    pthread_mutex_lock(&c->mu);
    /* Every refusal must be recordable: what the runtime does with it (fuzz_http_server). */
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    CHECK(ec_http_encode_alloc(r, &enc, &enc_len) == 0);
    free(enc);
    if (c->nref < MAXSEEN) {
        c->ref_status[c->nref] = r->status;
        snprintf(c->ref_reason[c->nref], sizeof c->ref_reason[0], "%.*s", (int)r->reason_len,
                 r->reason);
        snprintf(c->ref_target[c->nref], sizeof c->ref_target[0], "%.*s", (int)r->target_len,
                 r->target);
        c->nref++;
    }
    pthread_mutex_unlock(&c->mu);
}

static int nref(srv_ctx *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->nref;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* Wait up to 3 s for a condition polled every 2 ms. */
#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        for (int w_ = 0; w_ < 1500 && !(cond); w_++)                                               \
            sleep_ms(2);                                                                           \
    } while (0)

static ec_http_server *start(srv_ctx *c, size_t body_limit, unsigned timeout_ms)
{
    ec_http_server_options o = EC_HTTP_SERVER_OPTIONS_INIT;
    o.body_limit = body_limit;
    o.timeout_ms = timeout_ms;
    o.on_refused = on_refused;
    ec_http_server *s = NULL;
    if (ec_http_server_start(&s, &o, handler, c) != 0)
        return NULL;
    return s;
}

/* ---- cases ---- */

static void request_and_reply_exact(void)
{
    srv_ctx c;
    ctx_init(&c);
    ec_http_server *s = start(&c, 0, 0);
    REQUIRE(s);
    unsigned port = ec_http_server_port(s);
    CHECK(port > 0);
    static resp r;
    const char *h[] = {"X-First: 1", "X-Second:  two  ", "X-Empty;", NULL};
    REQUIRE(do_req(NULL, port, "POST", "/echo/a%20b?q=%41&x", h, "hello", 5, &r) == 0);
    CHECK(r.status == 201);
    CHECK(r.body_len == 5 && memcmp(r.body, "hello", 5) == 0);
    CHECK(strstr(r.headers, "X-Reply: yes\r\n") != NULL);
    REQUIRE(c.n == 1);
    /* The target exactly as sent (percent-encoding kept); headers in the order sent, values
     * stripped of surrounding blanks. */
    CHECK(strcmp(c.s[0].target, "/echo/a%20b?q=%41&x") == 0);
    CHECK(strcmp(c.s[0].method, "POST") == 0);
    const char *h1 = strstr(c.s[0].headers, "X-First=1;");
    const char *h2 = strstr(c.s[0].headers, "X-Second=two;");
    const char *h3 = strstr(c.s[0].headers, "X-Empty=;");
    CHECK(h1 && h2 && h3 && h1 < h2 && h2 < h3);
    CHECK(strstr(c.s[0].headers, "Host=127.0.0.1:") == c.s[0].headers);
    /* A big body, byte for byte. */
    size_t big = 3u << 20;
    uint8_t *b = malloc(big);
    REQUIRE(b);
    unsigned sum = 0;
    for (size_t i = 0; i < big; i++) {
        b[i] = (uint8_t)(i * 7 + (i >> 12));
        sum = sum * 31u + b[i];
    }
    ec_http_server_stop(s);
    c.n = 0;
    s = start(&c, 4u << 20, 0);
    REQUIRE(s);
    port = ec_http_server_port(s);
    CHECK(do_req(NULL, port, "PUT", "/echo", NULL, b, big, &r) == 0);
    CHECK(r.status == 201 && r.body_len + r.big_len == big);
    CHECK(c.n == 1 && c.s[0].body_len == big && c.s[0].body_sum == sum);
    free(b);
    ec_http_server_stats st;
    ec_http_server_stats_get(s, &st);
    CHECK(st.received == 1 && st.handled == 1 && st.refused == 0 && st.queued == 0);
    ec_http_server_stop(s);
}

static void keep_alive(void)
{
    srv_ctx c;
    ctx_init(&c);
    ec_http_server *s = start(&c, 0, 0);
    REQUIRE(s);
    CURL *easy = curl_easy_init();
    REQUIRE(easy);
    static resp r;
    long connects = 0;
    for (int i = 0; i < 20; i++) {
        CHECK(do_req(easy, ec_http_server_port(s), "GET", "/k", NULL, NULL, 0, &r) == 0);
        CHECK(r.status == 200 && r.body_len == 2);
        long nc = 0;
        curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &nc);
        connects += nc;
    }
    CHECK(connects == 1); /* one connection carried all 20 */
    curl_easy_cleanup(easy);
    ec_http_server_stop(s);
}

typedef struct client_arg {
    unsigned port;
    int id, count, ok;
    const char *path;
    resp *r;
} client_arg;

static void *client_main(void *arg)
{
    client_arg *a = arg;
    CURL *easy = curl_easy_init();
    for (int i = 0; i < a->count; i++) {
        char path[64];
        snprintf(path, sizeof path, "%s/%d/%d", a->path, a->id, i);
        if (do_req(easy, a->port, "GET", path, NULL, NULL, 0, a->r) == 0 && a->r->status == 200)
            a->ok++;
    }
    curl_easy_cleanup(easy);
    return NULL;
}

static void one_at_a_time_in_arrival_order(void)
{
    srv_ctx c;
    ctx_init(&c);
    ec_http_server *s = start(&c, 0, 0);
    REQUIRE(s);
    unsigned port = ec_http_server_port(s);
    /* Request 0 holds the handler; 1..4 arrive one after the other while it waits. */
    static resp rs[5];
    client_arg a[5];
    pthread_t t[5];
    for (int i = 0; i < 5; i++) {
        a[i] = (client_arg){port, i, 1, 0, i == 0 ? "/block" : "/q", &rs[i]};
        REQUIRE(pthread_create(&t[i], NULL, client_main, &a[i]) == 0);
        ec_http_server_stats st;
        if (i == 0)
            WAIT_FOR(atomic_load(&c.inflight) == 1);
        else
            WAIT_FOR((ec_http_server_stats_get(s, &st), st.queued == (uint64_t)i));
    }
    ec_http_server_stats st;
    ec_http_server_stats_get(s, &st);
    CHECK(st.queued == 4 && st.received == 5 && st.handled == 0);
    atomic_store(&c.gate, 1);
    for (int i = 0; i < 5; i++)
        pthread_join(t[i], NULL);
    REQUIRE(c.n == 5);
    for (int i = 0; i < 5; i++) {
        char want[32];
        snprintf(want, sizeof want, "%s/%d/0", i == 0 ? "/block" : "/q", i);
        CHECK(strcmp(c.s[i].target, want) == 0);
        CHECK(a[i].ok == 1);
    }
    /* Many concurrent keep-alive clients: never two handler calls at once, nothing lost. */
    c.n = 0;
    static resp rr[4];
    client_arg b[4];
    for (int i = 0; i < 4; i++) {
        b[i] = (client_arg){port, i, 25, 0, "/c", &rr[i]};
        REQUIRE(pthread_create(&t[i], NULL, client_main, &b[i]) == 0);
    }
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ok += b[i].ok;
    }
    CHECK(ok == 100 && c.n == 100);
    CHECK(atomic_load(&c.max_inflight) == 1);
    /* Each client's own requests reach the handler in the order it sent them. */
    for (int id = 0; id < 4; id++) {
        int last = -1, mono = 1;
        for (int i = 0; i < c.n; i++) {
            int cid, k;
            if (sscanf(c.s[i].target, "/c/%d/%d", &cid, &k) == 2 && cid == id) {
                mono &= k == last + 1;
                last = k;
            }
        }
        CHECK(mono && last == 24);
    }
    ec_http_server_stop(s);
}

static void too_large_413(void)
{
    srv_ctx c;
    ctx_init(&c);
    ec_http_server *s = start(&c, 1000, 0);
    REQUIRE(s);
    unsigned port = ec_http_server_port(s);
    static char body[5000];
    memset(body, 'x', sizeof body);
    static resp r;
    CHECK(do_req(NULL, port, "POST", "/up?a=1", NULL, body, 5000, &r) == 0);
    CHECK(r.status == 413);
    CHECK(strstr(r.body, "over the limit of 1000 bytes") != NULL);
    CHECK(do_req(NULL, port, "POST", "/up", NULL, body, 1000, &r) == 0); /* exactly the limit */
    CHECK(r.status == 200);
    /* Chunked: the size is known only while reading. */
    char req[8192];
    int n = snprintf(req, sizeof req,
                     "POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "258\r\n%.600s\r\n", body);
    n += snprintf(req + n, sizeof req - (size_t)n, "0\r\n\r\n");
    char out[4096];
    raw_exchange(port, req, (size_t)n, out, sizeof out);
    CHECK(strncmp(out, "HTTP/1.1 413", 12) == 0);
    CHECK(strstr(out, "chunked body over the limit") != NULL);
    WAIT_FOR(nref(&c) == 2);
    REQUIRE(nref(&c) == 2);
    CHECK(c.ref_status[0] == 413 && strcmp(c.ref_target[0], "/up?a=1") == 0);
    CHECK(c.ref_status[1] == 413 && strcmp(c.ref_target[1], "/chunked") == 0);
    CHECK(c.n == 1); /* the handler saw only the request within the limit */
    CHECK(do_req(NULL, port, "GET", "/after", NULL, NULL, 0, &r) == 0 && r.status == 200);
    /* A declared length over the limit, within what is read and dropped (1 MiB here): no
     * answer before the body has come (a client sending it would otherwise see its
     * connection reset, maybe before it reads the 413), then 413. Far over: 413 at once. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    const char *head = "POST /drained HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n";
    CHECK(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
    struct timeval tv = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    CHECK(recv(fd, out, sizeof out - 1, 0) < 0); /* nothing within 200 ms: it reads on */
    CHECK(send(fd, body, 5000, MSG_NOSIGNAL) == 5000);
    tv.tv_sec = 3;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t got = recv(fd, out, sizeof out - 1, 0);
    CHECK(got > 12 && strncmp(out, "HTTP/1.1 413", 12) == 0);
    close(fd);
    n = snprintf(req, sizeof req,
                 "POST /huge HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n");
    raw_exchange(port, req, (size_t)n, out, sizeof out);
    CHECK(strncmp(out, "HTTP/1.1 413", 12) == 0 && strstr(out, "104857600 bytes"));
    ec_http_server_stop(s);
}

static void malformed_400(void)
{
    srv_ctx c;
    ctx_init(&c);
    ec_http_server *s = start(&c, 0, 0);
    REQUIRE(s);
    unsigned port = ec_http_server_port(s);
    char out[4096];
    /* Refused by libmicrohttpd itself: never parsed into a request, so not reported. */
    static const char *bad[] = {
        "GET /x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n", /* a line without a colon */
        "GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: zz\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        raw_exchange(port, bad[i], strlen(bad[i]), out, sizeof out);
        CHECK(strncmp(out, "HTTP/1.1 400", 12) == 0);
    }
    /* No request line at all: libmicrohttpd closes the connection without an answer. */
    raw_exchange(port, "GARBAGE\r\n\r\n", 11, out, sizeof out);
    CHECK(out[0] == 0);
    /* Parsed, but refused by this server (and reported to on_refused, in order). */
    static const char *refused[] = {
        "GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n", /* not origin-form */
        "GET /nohost HTTP/1.1\r\n\r\n",                                   /* no Host */
        "POST /twice HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        ("POST /both HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: "
         "chunked\r\n\r\n0\r\n\r\n"),
        "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", /* a space in the target */
    };
    static const char *want[] = {"http://example.com/x", "/nohost", "/twice", "/both", ""};
    static const char *why[] = {"origin-form", "Host", "more than one Content-Length",
                                "both Content-Length and Transfer-Encoding", "origin-form"};
    for (size_t i = 0; i < 5; i++) {
        raw_exchange(port, refused[i], strlen(refused[i]), out, sizeof out);
        CHECK(strncmp(out, "HTTP/1.1 400", 12) == 0);
    }
    WAIT_FOR(nref(&c) == 5);
    REQUIRE(nref(&c) == 5);
    for (size_t i = 0; i < 5; i++) {
        CHECK(c.ref_status[i] == 400);
        CHECK(strcmp(c.ref_target[i], want[i]) == 0); /* "/a b" is not visible ASCII: dropped */
        CHECK(strstr(c.ref_reason[i], why[i]) != NULL);
    }
    CHECK(c.n == 0);
    static resp r;
    CHECK(do_req(NULL, port, "GET", "/still-up", NULL, NULL, 0, &r) == 0 && r.status == 200);
    ec_http_server_stop(s);
}

static void trap_500(void)
{
    srv_ctx c;
    ctx_init(&c);
    ec_http_server *s = start(&c, 0, 0);
    REQUIRE(s);
    static resp r;
    CHECK(do_req(NULL, ec_http_server_port(s), "GET", "/trap", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 500 && strstr(r.body, "the actor trapped"));
    WAIT_FOR(nref(&c) == 1);
    CHECK(nref(&c) == 1 && c.ref_status[0] == 500 && strstr(c.ref_reason[0], "trapped"));
    CHECK(do_req(NULL, ec_http_server_port(s), "GET", "/ok", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 200);
    ec_http_server_stop(s);
}

static void timeout_504(void)
{
    srv_ctx c;
    ctx_init(&c);
    ec_http_server *s = start(&c, 0, 150);
    REQUIRE(s);
    unsigned port = ec_http_server_port(s);
    static resp r;
    /* The handler takes 400 ms: the client has its 504 at about 150 ms. */
    CHECK(do_req(NULL, port, "GET", "/slow", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 504);
    CHECK(r.seconds < 0.380);
    /* The late reply is discarded and reported once the handler returns. */
    WAIT_FOR(nref(&c) == 1);
    REQUIRE(nref(&c) == 1);
    CHECK(c.ref_status[0] == 504 && strstr(c.ref_reason[0], "was discarded"));
    CHECK(do_req(NULL, port, "GET", "/fast", NULL, NULL, 0, &r) == 0 && r.status == 200);
    /* A request waiting behind a slow one times out in the queue; the handler never sees it. */
    static resp r1, r2;
    client_arg a1 = {port, 0, 1, 0, "/slow", &r1}, a2 = {port, 1, 1, 0, "/behind", &r2};
    pthread_t t1, t2;
    int before = c.n;
    REQUIRE(pthread_create(&t1, NULL, client_main, &a1) == 0);
    WAIT_FOR(atomic_load(&c.inflight) == 1);
    REQUIRE(pthread_create(&t2, NULL, client_main, &a2) == 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK(r1.status == 504 && r2.status == 504);
    WAIT_FOR(nref(&c) == 3);
    REQUIRE(nref(&c) == 3);
    /* Reported in arrival order: the slow one once its handler returned, then the other. */
    CHECK(strstr(c.ref_reason[1], "discarded") && strcmp(c.ref_target[1], "/slow/0/0") == 0);
    CHECK(strstr(c.ref_reason[2], "not called") && strcmp(c.ref_target[2], "/behind/1/0") == 0);
    CHECK(c.n == before + 1);
    CHECK(do_req(NULL, port, "GET", "/fast", NULL, NULL, 0, &r) == 0 && r.status == 200);
    ec_http_server_stop(s);
}

static void servers_in_parallel(void)
{
    atomic_int counter = 0;
    srv_ctx c1, c2;
    ctx_init(&c1);
    ctx_init(&c2);
    c1.shared_counter = c2.shared_counter = &counter;
    ec_http_server *s1 = start(&c1, 0, 0), *s2 = start(&c2, 0, 0);
    REQUIRE(s1 && s2);
    static resp r1, r2;
    client_arg a1 = {ec_http_server_port(s1), 0, 1, 0, "/pair", &r1};
    client_arg a2 = {ec_http_server_port(s2), 1, 1, 0, "/pair", &r2};
    pthread_t t1, t2;
    REQUIRE(pthread_create(&t1, NULL, client_main, &a1) == 0);
    REQUIRE(pthread_create(&t2, NULL, client_main, &a2) == 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    /* Each handler saw the other running at the same time. */
    CHECK(r1.status == 200 && r1.body_len == 1 && r1.body[0] == '2');
    CHECK(r2.status == 200 && r2.body_len == 1 && r2.body[0] == '2');
    ec_http_server_stop(s1);
    ec_http_server_stop(s2);
}

static void *stop_main(void *arg)
{
    ec_http_server_stop(arg);
    return NULL;
}

static void stop_answers_waiting_503(void)
{
    srv_ctx c;
    ctx_init(&c);
    ec_http_server *s = start(&c, 0, 0);
    REQUIRE(s);
    unsigned port = ec_http_server_port(s);
    static resp r1, r2;
    client_arg a1 = {port, 0, 1, 0, "/block", &r1}, a2 = {port, 1, 1, 0, "/waiting", &r2};
    pthread_t t1, t2, ts;
    REQUIRE(pthread_create(&t1, NULL, client_main, &a1) == 0);
    WAIT_FOR(atomic_load(&c.inflight) == 1);
    REQUIRE(pthread_create(&t2, NULL, client_main, &a2) == 0);
    ec_http_server_stats st;
    WAIT_FOR((ec_http_server_stats_get(s, &st), st.queued == 1));
    REQUIRE(pthread_create(&ts, NULL, stop_main, s) == 0);
    pthread_join(t2, NULL); /* answered while the first request is still in the handler */
    CHECK(r2.status == 503);
    atomic_store(&c.gate, 1);
    pthread_join(t1, NULL);
    pthread_join(ts, NULL);
    CHECK(r1.status == 200); /* the running request's reply still went out */
    CHECK(nref(&c) == 1 && c.ref_status[0] == 503 && strcmp(c.ref_target[0], "/waiting/1/0") == 0);
}

static void limits_of_connections_and_headers(void)
{
    srv_ctx c;
    ctx_init(&c);
    ec_http_server_options o = EC_HTTP_SERVER_OPTIONS_INIT;
    o.max_connections = 2;
    o.on_refused = on_refused;
    ec_http_server *s = NULL;
    REQUIRE_OK(ec_http_server_start(&s, &o, handler, &c));
    unsigned port = ec_http_server_port(s);
    /* Two idle connections take the two places; a third waits (not accepted) until one
     * of them closes. */
    int fds[3];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 3; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fds[i] >= 0 && connect(fds[i], (struct sockaddr *)&a, sizeof a) == 0);
        sleep_ms(30); /* accepted in this order */
    }
    const char *get = "GET /third HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK(send(fds[2], get, strlen(get), MSG_NOSIGNAL) == (ssize_t)strlen(get));
    struct timeval tv = {0, 200000};
    setsockopt(fds[2], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char out[4096];
    CHECK(recv(fds[2], out, sizeof out, 0) < 0); /* nothing within 200 ms */
    pthread_mutex_lock(&c.mu);                   /* the worker writes it under the lock */
    CHECK(c.n == 0);
    pthread_mutex_unlock(&c.mu);
    close(fds[0]);
    tv.tv_sec = 3;
    setsockopt(fds[2], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t got = recv(fds[2], out, sizeof out - 1, 0);
    CHECK(got > 12 && strncmp(out, "HTTP/1.1 200", 12) == 0);
    close(fds[1]);
    close(fds[2]);
    /* A header value over the format's 8192 bytes: 400, reported without the headers. */
    static char big[10100];
    int n = snprintf(big, sizeof big, "GET /bighdr HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(big + n, 'v', 9000);
    memcpy(big + n + 9000, "\r\n\r\n", 5);
    raw_exchange(port, big, (size_t)n + 9004, out, sizeof out);
    CHECK(strncmp(out, "HTTP/1.1 400", 12) == 0);
    WAIT_FOR(nref(&c) == 1);
    CHECK(nref(&c) == 1 && c.ref_status[0] == 400 && strstr(c.ref_reason[0], "X-Big") &&
          strcmp(c.ref_target[0], "/bighdr") == 0);
    ec_http_server_stop(s);
}

/* Clients that send damaged requests and hang up at random points: the server answers or
 * closes each, never crashes (the ASan build runs this too), and still serves afterwards. */
static void hostile_clients(void)
{
    srv_ctx c;
    ctx_init(&c);
    ec_http_server *s = start(&c, 256, 2000);
    REQUIRE(s);
    unsigned port = ec_http_server_port(s);
    static const char *seeds[] = {
        "GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
    };
    uint32_t rng = 12345;
    int answered = 0;
    for (int it = 0; it < 150; it++) {
        char req[512];
        const char *seed = seeds[it % 4];
        size_t n = strlen(seed);
        memcpy(req, seed, n);
        int flips = it % 5;
        for (int f = 0; f < flips; f++) {
            rng = rng * 1103515245u + 12345u;
            size_t at = (rng >> 8) % n;
            rng = rng * 1103515245u + 12345u;
            req[at] = (char)(rng >> 16);
        }
        rng = rng * 1103515245u + 12345u;
        if (it % 3 == 2)
            n = (rng >> 8) % n; /* hang up part way */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        struct timeval tv = {0, 0};
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            CHECK(0);
            break;
        }
        if (n)
            send(fd, req, n, MSG_NOSIGNAL);
        /* Undamaged and complete: an answer must come. Otherwise hang up at once (a server
         * waiting for the rest of a damaged request would only time out). */
        char out[1024];
        if (flips == 0 && it % 3 != 2) {
            tv.tv_sec = 3;
            tv.tv_usec = 0;
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            ssize_t got = recv(fd, out, sizeof out, 0);
            CHECK(got > 9 && strncmp(out, "HTTP/1.1 ", 9) == 0);
            answered += got > 0;
        } else if (it % 2) {
            recv(fd, out, sizeof out, MSG_DONTWAIT);
        }
        close(fd);
    }
    CHECK(answered > 0);
    static resp r;
    CHECK(do_req(NULL, port, "GET", "/after-all-that", NULL, NULL, 0, &r) == 0 && r.status == 200);
    ec_http_server_stop(s);
}

static void bad_options(void)
{
    ec_http_server *s = NULL;
    ec_http_server_options o = EC_HTTP_SERVER_OPTIONS_INIT;
    srv_ctx c;
    ctx_init(&c);
    o.bind_address = "localhost:80";
    CHECK(ec_http_server_start(&s, &o, handler, &c) == EC_EINVAL);
    CHECK(strstr(ec_error_last()->message, "bind address") != NULL);
    o.bind_address = NULL;
    o.body_limit = (size_t)EC_HTTP_BODY_MAX + 1;
    CHECK(ec_http_server_start(&s, &o, handler, &c) == EC_EINVAL);
    o.body_limit = 0;
    CHECK(ec_http_server_start(&s, &o, NULL, &c) == EC_EINVAL);
    /* A port already taken. */
    ec_http_server *first = start(&c, 0, 0);
    REQUIRE(first);
    o.port = ec_http_server_port(first);
    CHECK(ec_http_server_start(&s, &o, handler, &c) == EC_EIO);
    CHECK(s == NULL && strstr(ec_error_last()->message, "cannot listen on 127.0.0.1:") != NULL);
    ec_http_server_stop(first);
    o.version = 99;
    CHECK(ec_http_server_start(&s, &o, handler, &c) == EC_EUNSUPPORTED);
    /* IPv6 loopback, when the machine has it. */
    ec_http_server_options o6 = EC_HTTP_SERVER_OPTIONS_INIT;
    o6.bind_address = "::1";
    if (ec_http_server_start(&s, &o6, handler, &c) == 0) {
        CHECK(ec_http_server_port(s) > 0);
        ec_http_server_stop(s);
    }
    ec_http_server_stop(NULL);
}

static int reply_rules_handler(void *arg, const ec_http_msg *req, ec_http_reply *reply)
{
    int *bad = arg;
    (void)req;
    *bad = 0;
    *bad += ec_http_reply_header(reply, "Content-Length", "3") == EC_EINVAL;
    *bad += ec_http_reply_header(reply, "transfer-encoding", "chunked") == EC_EINVAL;
    *bad += ec_http_reply_header(reply, "X", "a\r\nInjected: 1") == EC_EINVAL;
    *bad += ec_http_reply_header(reply, "Bad Name", "v") == EC_EINVAL;
    *bad += ec_http_reply_header(reply, "X-Empty", "") == EC_EINVAL;
    *bad += ec_http_reply_status(reply, 99) == EC_EINVAL;
    *bad += ec_http_reply_status(reply, 404) == 0;
    const ec_http_msg *m = ec_http_reply_msg(reply);
    *bad += m->kind == EC_HTTP_RESPONSE && m->status == 404 && m->header_count == 0;
    return 0;
}

static void reply_rules(void)
{
    int bad = -1;
    ec_http_server *s = NULL;
    REQUIRE_OK(ec_http_server_start(&s, NULL, reply_rules_handler, &bad));
    static resp r;
    CHECK(do_req(NULL, ec_http_server_port(s), "GET", "/", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 404 && !strstr(r.headers, "Injected"));
    ec_http_server_stop(s);
    CHECK(bad == 8);
}

/* ---- held replies (released once the caller's durability wait returns) ---- */

typedef struct hold_ctx {
    srv_ctx base;
    atomic_int gate, fail, handled;
    atomic_int released[8];
    atomic_int nreleased;
} hold_ctx;

static int hold_handler(void *arg, const ec_http_msg *req, ec_http_reply *reply)
{
    hold_ctx *h = arg;
    int n = atomic_fetch_add(&h->handled, 1) + 1;
    (void)req;
    ec_http_reply_body(reply, "held", 4);
    ec_http_reply_hold(reply, (uint64_t)n);
    return 0;
}

static int hold_release(void *arg, uint64_t token)
{
    hold_ctx *h = arg;
    while (!atomic_load(&h->gate))
        sleep_ms(2);
    int i = atomic_fetch_add(&h->nreleased, 1);
    if (i < 8)
        atomic_store(&h->released[i], (int)token);
    if (atomic_load(&h->fail))
        return ec_error_set(EC_EIO, "test: sync failed");
    return 0;
}

static void hold_refused(void *arg, const ec_http_msg *r)
{
    on_refused(&((hold_ctx *)arg)->base, r);
}

static ec_http_server *hold_start(hold_ctx *h, unsigned timeout_ms)
{
    memset(h, 0, sizeof *h);
    ctx_init(&h->base);
    ec_http_server_options o = EC_HTTP_SERVER_OPTIONS_INIT;
    o.timeout_ms = timeout_ms;
    o.on_refused = hold_refused;
    o.release = hold_release;
    ec_http_server *s = NULL;
    return ec_http_server_start(&s, &o, hold_handler, h) == 0 ? s : NULL;
}

static void held_replies(void)
{
    static hold_ctx h;
    ec_http_server *s = hold_start(&h, 3000);
    REQUIRE(s);
    unsigned port = ec_http_server_port(s);
    static resp r1, r2;
    client_arg a1 = {port, 0, 1, 0, "/h", &r1}, a2 = {port, 1, 1, 0, "/h", &r2};
    pthread_t t1, t2;
    REQUIRE(pthread_create(&t1, NULL, client_main, &a1) == 0);
    WAIT_FOR(atomic_load(&h.handled) == 1);
    REQUIRE(pthread_create(&t2, NULL, client_main, &a2) == 0);
    /* The worker handles the second request while the first reply is still held. */
    WAIT_FOR(atomic_load(&h.handled) == 2);
    CHECK(atomic_load(&h.handled) == 2 && r1.status == 0 && r2.status == 0);
    atomic_store(&h.gate, 1);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK(r1.status == 200 && r1.body_len == 4 && r2.status == 200);
    CHECK(atomic_load(&h.nreleased) == 2 && atomic_load(&h.released[0]) == 1 &&
          atomic_load(&h.released[1]) == 2);
    /* A failed release sends 500 and is reported. */
    atomic_store(&h.fail, 1);
    CHECK(do_req(NULL, port, "GET", "/f", NULL, NULL, 0, &r1) == 0 && r1.status == 500);
    CHECK(strstr(r1.body, "test: sync failed") != NULL);
    WAIT_FOR(nref(&h.base) == 1);
    CHECK(nref(&h.base) == 1 && h.base.ref_status[0] == 500);
    ec_http_server_stop(s);

    /* Still held at the deadline: 504 at the deadline, reported as discarded. */
    s = hold_start(&h, 150);
    REQUIRE(s);
    CHECK(do_req(NULL, ec_http_server_port(s), "GET", "/late", NULL, NULL, 0, &r1) == 0);
    CHECK(r1.status == 504 && r1.seconds < 0.380);
    atomic_store(&h.gate, 1);
    WAIT_FOR(nref(&h.base) == 1);
    CHECK(nref(&h.base) == 1 && h.base.ref_status[0] == 504 &&
          strstr(h.base.ref_reason[0], "not released") &&
          strcmp(h.base.ref_target[0], "/late") == 0);
    ec_http_server_stop(s);
}

/* ---- refusals reported before they are sent ---- */

/* on_refused waits while the gate is closed, as a recorder's sync would. */
typedef struct gate_ctx {
    srv_ctx base; /* first: the handler takes it as its srv_ctx */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int closed, inside;
} gate_ctx;

static void gate_refused(void *arg, const ec_http_msg *r)
{
    gate_ctx *g = arg;
    pthread_mutex_lock(&g->mu);
    g->inside++;
    pthread_cond_broadcast(&g->cv);
    while (g->closed)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    on_refused(&g->base, r);
}

static void gate_set(gate_ctx *g, int closed)
{
    pthread_mutex_lock(&g->mu);
    g->closed = closed;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Until on_refused has been entered n times in all (3 s at most). */
static int gate_await(gate_ctx *g, int n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 3;
    pthread_mutex_lock(&g->mu);
    while (g->inside < n && pthread_cond_timedwait(&g->cv, &g->mu, &until) == 0)
        ;
    int ok = g->inside >= n;
    pthread_mutex_unlock(&g->mu);
    return ok;
}

/* Whether any byte of an answer arrived (within ms). */
static int raw_readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) > 0;
}

/* Each refusal the server answers itself on arrival (400, both kinds of 413, and one
 * announced with Expect: 100-continue) and the 500 of a failed handler: no byte of the answer
 * leaves while on_refused runs, so a recorder's record comes first. At the deadline a refusal
 * still being reported is answered with its own status, not 504. */
static void refusals_reported_before_sent(void)
{
    static gate_ctx g;
    memset(&g, 0, sizeof g);
    ctx_init(&g.base);
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    ec_http_server_options o = EC_HTTP_SERVER_OPTIONS_INIT;
    o.body_limit = 1000;
    o.on_refused = gate_refused;
    ec_http_server *s = NULL;
    REQUIRE_OK(ec_http_server_start(&s, &o, handler, &g));
    unsigned port = ec_http_server_port(s);
    static char drained[4096];
    int dl = snprintf(drained, sizeof drained,
                      "PUT /drained HTTP/1.1\r\nHost: a\r\n"
                      "Content-Length: 2000\r\n\r\n");
    memset(drained + dl, 'x', 2000);
    struct {
        const char *req;
        size_t len;
        int status;
    } cases[] = {
        {"GET /nohost HTTP/1.1\r\n\r\n", 0, 400},
        {"PUT /huge HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n", 0, 413},
        {drained, (size_t)dl + 2000, 413},
        {"PUT /ask HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: "
         "100000000\r\n\r\n",
         0, 413},
        {"GET /trap HTTP/1.1\r\nHost: a\r\n\r\n", 0, 500},
    };
    for (int i = 0; i < 5; i++) {
        gate_set(&g, 1);
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].req);
        int fd = http_raw_send(port, cases[i].req, len);
        CHECK(fd >= 0); /* not REQUIRE: the gate must open again whatever happens */
        if (fd < 0)
            break;
        CHECK(gate_await(&g, i + 1));
        CHECK(!raw_readable(fd, 50)); /* not even a 100 Continue */
        gate_set(&g, 0);
        CHECK(http_raw_status_close(fd) == cases[i].status);
    }
    WAIT_FOR(nref(&g.base) == 5);
    REQUIRE(nref(&g.base) == 5);
    for (int i = 0; i < 5; i++)
        CHECK(g.base.ref_status[i] == (unsigned)cases[i].status);
    ec_http_server_stop(s);

    o.timeout_ms = 150;
    REQUIRE_OK(ec_http_server_start(&s, &o, handler, &g));
    gate_set(&g, 1);
    int fd = http_raw_send(ec_http_server_port(s), cases[0].req, strlen(cases[0].req));
    CHECK(fd >= 0);
    CHECK(fd >= 0 && gate_await(&g, 6));
    CHECK(fd >= 0 && http_raw_status_close(fd) == 400); /* at the deadline, the gate still closed */
    gate_set(&g, 0);
    WAIT_FOR(nref(&g.base) == 6);
    CHECK(nref(&g.base) == 6 && g.base.ref_status[5] == 400);
    ec_http_server_stop(s);
    CHECK(nref(&g.base) == 6); /* reported once */
}

/* on_refusal (options version 2): reports like on_refused, and holds what it may hold
 * (token 100 + the report's number). */
static int hold_refusal(void *arg, const ec_http_msg *r, uint64_t *hold)
{
    hold_ctx *h = arg;
    on_refused(&h->base, r);
    if (!hold)
        return 0;
    *hold = 100 + (uint64_t)nref(&h->base);
    return 1;
}

static atomic_int refusal_cb_called;

static int refusal_never(void *arg, const ec_http_msg *r, uint64_t *hold)
{
    (void)arg;
    (void)r;
    (void)hold;
    atomic_store(&refusal_cb_called, 1);
    return 0;
}

/* A refusal held by on_refusal leaves once release(token) returned, in order with the
 * replies, and the worker handles the next request meanwhile. Options of version 1 are
 * still read, no further than release. */
static void held_refusals(void)
{
    static hold_ctx h;
    memset(&h, 0, sizeof h);
    ctx_init(&h.base);
    ec_http_server_options o = EC_HTTP_SERVER_OPTIONS_INIT;
    o.timeout_ms = 3000;
    o.on_refusal = hold_refusal;
    o.release = hold_release;
    ec_http_server *s = NULL;
    REQUIRE_OK(ec_http_server_start(&s, &o, hold_handler, &h));
    unsigned port = ec_http_server_port(s);
    static const char nohost[] = "GET /nohost HTTP/1.1\r\n\r\n";
    int fd = http_raw_send(port, nohost, strlen(nohost));
    CHECK(fd >= 0);
    WAIT_FOR(nref(&h.base) == 1);
    CHECK(nref(&h.base) == 1 && h.base.ref_status[0] == 400);
    static resp r1;
    client_arg a1 = {port, 0, 1, 0, "/h", &r1};
    pthread_t t1;
    REQUIRE(pthread_create(&t1, NULL, client_main, &a1) == 0);
    WAIT_FOR(atomic_load(&h.handled) == 1); /* the worker went on */
    CHECK(atomic_load(&h.handled) == 1);
    CHECK(fd >= 0 && !raw_readable(fd, 50)); /* the 400 waits for its release */
    atomic_store(&h.gate, 1);
    CHECK(fd >= 0 && http_raw_status_close(fd) == 400);
    pthread_join(t1, NULL);
    CHECK(r1.status == 200);
    CHECK(atomic_load(&h.nreleased) == 2 && atomic_load(&h.released[0]) == 101 &&
          atomic_load(&h.released[1]) == 1);
    ec_http_server_stop(s);

    /* Version 1: on_refusal is past its fields, so never read; on_refused reports. */
    memset(&h, 0, sizeof h);
    ctx_init(&h.base);
    ec_http_server_options v1 = EC_HTTP_SERVER_OPTIONS_INIT;
    v1.version = 1;
    v1.on_refused = hold_refused;
    v1.on_refusal = refusal_never;
    REQUIRE_OK(ec_http_server_start(&s, &v1, hold_handler, &h));
    fd = http_raw_send(ec_http_server_port(s), nohost, strlen(nohost));
    CHECK(fd >= 0 && http_raw_status_close(fd) == 400);
    WAIT_FOR(nref(&h.base) == 1);
    CHECK(nref(&h.base) == 1 && !atomic_load(&refusal_cb_called));
    ec_http_server_stop(s);
}

/* ---- answers given off the worker, reported to on_late before they are sent ---- */

typedef struct late_ctx {
    hold_ctx h; /* first: hold_handler, hold_release and handler take it (its base first) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inside, permits; /* on_late calls entered; how many may return */
    srv_ctx late;        /* what on_late was given */
    atomic_int begin_gate, begin_rc, begin_calls;
} late_ctx;

/* on_late: notes the answer, then returns only once the test permits this call, as a
 * recorder's sync would hold it. */
static void late_gated(void *arg, const ec_http_msg *r)
{
    late_ctx *l = arg;
    on_refused(&l->late, r);
    pthread_mutex_lock(&l->mu);
    int my = l->inside++;
    pthread_cond_broadcast(&l->cv);
    while (my >= l->permits)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

static void late_allow(late_ctx *l, int permits)
{
    pthread_mutex_lock(&l->mu);
    l->permits = permits;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

/* Until on_late has been entered n times in all (3 s at most). */
static int late_await(late_ctx *l, int n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 3;
    pthread_mutex_lock(&l->mu);
    while (l->inside < n && pthread_cond_timedwait(&l->cv, &l->mu, &until) == 0)
        ;
    int ok = l->inside >= n;
    pthread_mutex_unlock(&l->mu);
    return ok;
}

static ec_http_server *late_start(late_ctx *l, ec_http_handler h, int release, unsigned timeout_ms,
                                  int begins)
{
    ctx_init(&l->h.base);
    ctx_init(&l->late);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    ec_http_server_options o = EC_HTTP_SERVER_OPTIONS_INIT;
    o.timeout_ms = timeout_ms;
    o.on_refused = hold_refused;
    o.release = release ? hold_release : NULL;
    o.on_late = late_gated;
    o.handler_begins = begins;
    ec_http_server *s = NULL;
    return ec_http_server_start(&s, &o, h, l) == 0 ? s : NULL;
}

/* With on_late, the answers the server gives off the worker are reported there before any
 * byte of them leaves (on_late held, no byte arrives; permitted, the answer comes), and are
 * not reported to on_refused again. Each of the three below used to be sent first and
 * reported to on_refused after. */
static late_ctx l;
static const char late_rq[] = "GET /late HTTP/1.1\r\nHost: a\r\n\r\n";

/* A held reply still not released at its deadline: 504, reported first. */
static void late_held_504_reported_first(void)
{
    memset(&l, 0, sizeof l);
    ec_http_server *s = late_start(&l, hold_handler, 1, 150, 0);
    REQUIRE(s);
    int fd = http_raw_send(ec_http_server_port(s), late_rq, strlen(late_rq));
    CHECK(fd >= 0); /* not REQUIRE: on_late must be permitted again whatever happens */
    CHECK(late_await(&l, 1));
    CHECK(fd >= 0 && !raw_readable(fd, 50));
    CHECK(nref(&l.late) == 1 && l.late.ref_status[0] == 504 &&
          strstr(l.late.ref_reason[0], "not released") &&
          strcmp(l.late.ref_target[0], "/late") == 0);
    late_allow(&l, 1);
    CHECK(fd >= 0 && http_raw_status_close(fd) == 504);
    atomic_store(&l.h.gate, 1); /* the release returns: the reply is discarded, not reported */
    WAIT_FOR(atomic_load(&l.h.nreleased) == 1);
    sleep_ms(50);
    ec_http_server_stop(s);
    CHECK(nref(&l.h.base) == 0 && nref(&l.late) == 1);
}

/* A failed release: 500, reported first. */
static void late_release_500_reported_first(void)
{
    memset(&l, 0, sizeof l);
    ec_http_server *s = late_start(&l, hold_handler, 1, 3000, 0);
    REQUIRE(s);
    atomic_store(&l.h.gate, 1);
    atomic_store(&l.h.fail, 1);
    int fd = http_raw_send(ec_http_server_port(s), late_rq, strlen(late_rq));
    CHECK(fd >= 0);
    CHECK(late_await(&l, 1));
    CHECK(fd >= 0 && !raw_readable(fd, 50));
    CHECK(nref(&l.late) == 1 && l.late.ref_status[0] == 500 &&
          strstr(l.late.ref_reason[0], "could not be released: test: sync failed"));
    late_allow(&l, 1);
    CHECK(fd >= 0 && http_raw_status_close(fd) == 500);
    sleep_ms(50);
    ec_http_server_stop(s);
    CHECK(nref(&l.h.base) == 0 && nref(&l.late) == 1);
}

/* Stopping while a handler runs: the request waiting behind it gets 503, and so does one whose
 * body is completed once the stop began; each reported first, without waiting for the
 * handler. */
static void late_stop_503_reported_first(void)
{
    memset(&l, 0, sizeof l);
    ec_http_server *s = late_start(&l, handler, 0, 0, 0);
    REQUIRE(s);
    unsigned port = ec_http_server_port(s);
    static const char waiting[] = "GET /waiting HTTP/1.1\r\nHost: a\r\n\r\n",
                      part[] = "PUT /part HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab";
    /* Connected first (accepted in order, so before the stop stops accepting); its body is
     * completed once the stop began. */
    int f3 = http_raw_send(port, part, strlen(part));
    static resp r1;
    client_arg a1 = {port, 0, 1, 0, "/block", &r1};
    pthread_t t1, ts;
    REQUIRE(pthread_create(&t1, NULL, client_main, &a1) == 0);
    WAIT_FOR(atomic_load(&l.h.base.inflight) == 1);
    int f2 = http_raw_send(port, waiting, strlen(waiting));
    CHECK(f2 >= 0 && f3 >= 0);
    ec_http_server_stats st;
    WAIT_FOR((ec_http_server_stats_get(s, &st), st.queued == 1));
    CHECK(st.queued == 1);
    REQUIRE(pthread_create(&ts, NULL, stop_main, s) == 0);
    CHECK(late_await(&l, 1)); /* the waiting one's 503: the stop has begun */
    CHECK(f2 >= 0 && !raw_readable(f2, 50));
    CHECK(f3 >= 0 && send(f3, "cde", 3, MSG_NOSIGNAL) == 3);
    late_allow(&l, 1);
    CHECK(f2 >= 0 && http_raw_status_close(f2) == 503);
    CHECK(late_await(&l, 2)); /* the completed one's 503 */
    CHECK(f3 >= 0 && !raw_readable(f3, 50));
    late_allow(&l, 2);
    CHECK(f3 >= 0 && http_raw_status_close(f3) == 503);
    atomic_store(&l.h.base.gate, 1);
    pthread_join(t1, NULL);
    pthread_join(ts, NULL);
    CHECK(r1.status == 200); /* the running request's reply still went out */
    CHECK(nref(&l.late) == 2 && l.late.ref_status[0] == 503 && l.late.ref_status[1] == 503 &&
          strcmp(l.late.ref_target[0], "/waiting") == 0 &&
          strcmp(l.late.ref_target[1], "/part") == 0);
    CHECK(nref(&l.h.base) == 0);
}

/* handler_begins (options version 5): /wait waits for the test before it calls
 * ec_http_reply_begin, /begin calls it first and then waits. */
static int begin_handler(void *arg, const ec_http_msg *req, ec_http_reply *reply)
{
    late_ctx *l = arg;
    int first = req->target_len >= 6 && memcmp(req->target, "/begin", 6) == 0;
    int rc = first ? ec_http_reply_begin(reply) : 0;
    while (!atomic_load(&l->begin_gate))
        sleep_ms(2);
    if (!first)
        rc = ec_http_reply_begin(reply);
    atomic_store(&l->begin_rc, rc);
    atomic_fetch_add(&l->begin_calls, 1);
    if (rc)
        return rc;
    return ec_http_reply_body(reply, "ok", 2);
}

/* A deadline that passes before the handler began is answered as a request not handled
 * (reported to on_late before it is sent); the handler is told so by ec_http_reply_begin and
 * nothing more is reported of it. Once it began, the 504 is that of a handler still running,
 * whose reply is reported as discarded when it returns. */
static void handler_begins(void)
{
    memset(&l, 0, sizeof l);
    ec_http_server *s = late_start(&l, begin_handler, 0, 150, 1);
    REQUIRE(s);
    unsigned port = ec_http_server_port(s);
    static const char wait_rq[] = "GET /wait HTTP/1.1\r\nHost: a\r\n\r\n",
                      begin_rq[] = "GET /begin HTTP/1.1\r\nHost: a\r\n\r\n";
    int fd = http_raw_send(port, wait_rq, strlen(wait_rq));
    CHECK(fd >= 0);
    CHECK(late_await(&l, 1));
    CHECK(fd >= 0 && !raw_readable(fd, 50));
    CHECK(nref(&l.late) == 1 && l.late.ref_status[0] == 504 &&
          strstr(l.late.ref_reason[0], "had not begun"));
    late_allow(&l, 1);
    CHECK(fd >= 0 && http_raw_status_close(fd) == 504);
    atomic_store(&l.begin_gate, 1);
    WAIT_FOR(atomic_load(&l.begin_calls) == 1);
    CHECK(atomic_load(&l.begin_rc) == EC_ETIMEOUT);
    sleep_ms(50);
    CHECK(nref(&l.h.base) == 0); /* nothing reported of the handler's failure */

    atomic_store(&l.begin_gate, 0);
    fd = http_raw_send(port, begin_rq, strlen(begin_rq));
    CHECK(fd >= 0);
    CHECK(late_await(&l, 2));
    CHECK(nref(&l.late) == 2 && strstr(l.late.ref_reason[1], "still running"));
    late_allow(&l, 2);
    CHECK(fd >= 0 && http_raw_status_close(fd) == 504);
    atomic_store(&l.begin_gate, 1);
    WAIT_FOR(nref(&l.h.base) == 1);
    CHECK(atomic_load(&l.begin_rc) == 0);
    CHECK(nref(&l.h.base) == 1 && strstr(l.h.base.ref_reason[0], "(status 200) was discarded"));
    ec_http_server_stop(s);
    /* Outside a server, nothing can have answered a reply. */
    ec_http_reply *r = NULL;
    REQUIRE_OK(ec_http_reply_new(&r));
    CHECK(ec_http_reply_begin(r) == 0);
    ec_http_reply_free(r);
}

/* ---- recording and replay, wired as docs/HTTP.md says ---- */

typedef struct kv_actor {
    char keys[16][32];
    char vals[16][64];
    int n;
} kv_actor;

/* A deterministic actor: PUT /kv/<key> stores the body, GET /kv/<key> returns it. */
static int kv_handle(kv_actor *a, const ec_http_msg *req, ec_http_reply *reply)
{
    const char *path, *q;
    size_t pl, ql;
    ec_http_target_split(req->target, req->target_len, &path, &pl, &q, &ql);
    if (pl < 5 || memcmp(path, "/kv/", 4) != 0 || pl - 4 >= 32)
        return ec_http_reply_status(reply, 404);
    char key[32];
    snprintf(key, sizeof key, "%.*s", (int)(pl - 4), path + 4);
    int i = 0;
    while (i < a->n && strcmp(a->keys[i], key) != 0)
        i++;
    if (req->method_len == 3 && memcmp(req->method, "PUT", 3) == 0) {
        if (i == a->n && a->n < 16)
            snprintf(a->keys[a->n++], 32, "%s", key);
        if (i < 16)
            snprintf(a->vals[i], 64, "%.*s", (int)req->body_len, (const char *)req->body);
        return ec_http_reply_status(reply, 204);
    }
    if (i == a->n)
        return ec_http_reply_status(reply, 404);
    ec_http_reply_header(reply, "Content-Type", "text/plain");
    return ec_http_reply_body(reply, a->vals[i], strlen(a->vals[i]));
}

typedef struct recorder {
    ec_chain *chain;
    kv_actor actor;
    uint64_t ts; /* deterministic timestamps so the replayed chain can match */
    int failed;
} recorder;

static void record(recorder *r, const char *type, const ec_http_msg *m)
{
    uint8_t *p = NULL;
    size_t n = 0;
    if (ec_http_encode_alloc(m, &p, &n) != 0) {
        r->failed = 1;
        return;
    }
    ec_event_input in = {.type = type, .data = p, .data_len = n, .timestamp = ++r->ts};
    if (ec_chain_append(r->chain, &in, NULL, NULL) != 0)
        r->failed = 1;
    free(p);
}

static int rec_handler(void *arg, const ec_http_msg *req, ec_http_reply *reply)
{
    recorder *r = arg;
    record(r, EC_HTTP_EV_REQUEST, req); /* before the actor runs */
    int rc = kv_handle(&r->actor, req, reply);
    if (rc == 0)
        record(r, EC_HTTP_EV_RESPONSE, ec_http_reply_msg(reply)); /* before it is sent */
    return rc;
}

static void rec_refused(void *arg, const ec_http_msg *m)
{
    record(arg, EC_HTTP_EV_REFUSED, m);
}

static ec_chain *mem_chain(void)
{
    ec_backend *be;
    ec_chain *c = NULL;
    if (ec_backend_memory(&be, NULL) || ec_chain_open(&c, be, NULL))
        return NULL;
    return c;
}

static void record_and_replay(void)
{
    recorder rec;
    memset(&rec, 0, sizeof rec);
    rec.chain = mem_chain();
    REQUIRE(rec.chain);
    ec_http_server_options o = EC_HTTP_SERVER_OPTIONS_INIT;
    o.body_limit = 64;
    o.on_refused = rec_refused;
    ec_http_server *s = NULL;
    REQUIRE_OK(ec_http_server_start(&s, &o, rec_handler, &rec));
    unsigned port = ec_http_server_port(s);
    static resp r;
    static char big[100];
    memset(big, 'b', sizeof big);
    CHECK(do_req(NULL, port, "PUT", "/kv/greeting", NULL, "hello", 5, &r) == 0 && r.status == 204);
    CHECK(do_req(NULL, port, "GET", "/kv/greeting", NULL, NULL, 0, &r) == 0 && r.status == 200);
    CHECK(r.body_len == 5 && memcmp(r.body, "hello", 5) == 0);
    CHECK(do_req(NULL, port, "PUT", "/kv/big", NULL, big, sizeof big, &r) == 0 && r.status == 413);
    CHECK(do_req(NULL, port, "GET", "/kv/none", NULL, NULL, 0, &r) == 0 && r.status == 404);
    ec_http_server_stop(s);
    CHECK(!rec.failed);
    REQUIRE(ec_chain_count(rec.chain) == 7);
    ec_verify_result vr;
    CHECK_OK(ec_chain_verify(rec.chain, NULL, &vr));

    /* Replay with no server and no network: feed each recorded request to a fresh actor,
     * record what it answers, copy the server's own events (refusals) from the record. */
    recorder rep;
    memset(&rep, 0, sizeof rep);
    rep.chain = mem_chain();
    REQUIRE(rep.chain);
    for (uint64_t seq = 0; seq < ec_chain_count(rec.chain); seq++) {
        ec_event ev;
        REQUIRE_OK(ec_chain_get(rec.chain, seq, &ev));
        uint8_t *data = malloc(ev.data_len);
        REQUIRE(data);
        memcpy(data, ev.data, ev.data_len);
        char type[32];
        snprintf(type, sizeof type, "%.*s", (int)ev.type_len, ev.type);
        ec_http_msg m;
        REQUIRE_OK(ec_http_decode(&m, data, ev.data_len));
        if (strcmp(type, "http/request") == 0) {
            CHECK(m.kind == EC_HTTP_REQUEST);
            /* The actor answers again, through the same handler path as the live server. */
            ec_http_reply *reply = NULL;
            REQUIRE_OK(ec_http_reply_new(&reply));
            rec_handler(&rep, &m, reply);
            ec_http_reply_free(reply);
        } else if (strcmp(type, "http/refused") == 0) {
            /* The server's own decision: taken from the record, not recomputed. */
            CHECK(m.kind == EC_HTTP_REFUSAL && m.status == 413);
            rec_refused(&rep, &m);
        } else {
            CHECK(strcmp(type, "http/response") == 0 && m.kind == EC_HTTP_RESPONSE);
        }
        ec_http_msg_clear(&m);
        free(data);
    }
    CHECK(!rep.failed);
    /* Byte-identical: same count, same head hash, every record equal. */
    CHECK(ec_chain_count(rep.chain) == ec_chain_count(rec.chain));
    uint8_t h1[EC_HASH_MAX], h2[EC_HASH_MAX];
    CHECK_OK(ec_chain_head(rec.chain, h1, NULL));
    CHECK_OK(ec_chain_head(rep.chain, h2, NULL));
    CHECK(memcmp(h1, h2, 32) == 0);
    ec_chain_free(rep.chain);
    ec_chain_free(rec.chain);
}

/* Transfer-Encoding other than one field of exactly "chunked" (as libmicrohttpd frames it): each
 * answered at once (it used to hang until the idle timeout), reported, the connection closed;
 * the forms libmicrohttpd does frame as chunked are served. */
static void transfer_encodings(void)
{
    srv_ctx c;
    ctx_init(&c);
    ec_http_server *s = start(&c, 0, 0);
    REQUIRE(s);
    unsigned port = ec_http_server_port(s);
    static const struct {
        const char *te; /* the field lines */
        int status;
        const char *why;
    } cases[] = {
        {"Transfer-Encoding: gzip, chunked\r\n", 501, "gzip, chunked"},
        {"Transfer-Encoding: chunked \r\n", 501, "only \"chunked\""},
        {"Transfer-Encoding: chunked\t\r\n", 501, "only \"chunked\""},
        {"Transfer-Encoding: xchunked\r\n", 501, "xchunked"},
        {"Transfer-Encoding: identity\r\n", 501, "identity"},
        /* Quoted in the reason: bytes from 0x80 on that are not UTF-8 are shown as '?'. */
        {"Transfer-Encoding: \xc3\xa9t\xff\r\n", 501, "\"\xc3\xa9t?\""},
        {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400,
         "more than one Transfer-Encoding"},
        {"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", 400,
         "more than one Transfer-Encoding"},
    };
    size_t n = sizeof cases / sizeof *cases;
    char req[512], out[4096];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(req, sizeof req,
                           "PUT /te/%zu HTTP/1.1\r\nHost: a\r\n%s\r\n1\r\n7\r\n0\r\n\r\n", i,
                           cases[i].te);
        double t0 = http_now_s();
        raw_exchange(port, req, (size_t)len, out, sizeof out);
        char want[16];
        snprintf(want, sizeof want, "HTTP/1.1 %d", cases[i].status);
        CHECK(strncmp(out, want, 12) == 0);
        CHECK(strstr(out, "Connection: close") != NULL); /* the framing is unknown */
        CHECK(http_now_s() - t0 < 1.5);
    }
    WAIT_FOR(nref(&c) == (int)n);
    REQUIRE(nref(&c) == (int)n);
    for (size_t i = 0; i < n; i++) {
        char t[32];
        snprintf(t, sizeof t, "/te/%zu", i);
        CHECK(c.ref_status[i] == (unsigned)cases[i].status && strcmp(c.ref_target[i], t) == 0);
        CHECK(strstr(c.ref_reason[i], cases[i].why) != NULL);
    }
    CHECK(c.n == 0);
    static const char *good[] = {"chunked", "Chunked", " CHUNKED"};
    for (size_t i = 0; i < 3; i++) {
        int len = snprintf(req, sizeof req,
                           "PUT /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:%s%s\r\n\r\n"
                           "3\r\nabc\r\n0\r\n\r\n",
                           good[i][0] == ' ' ? "" : " ", good[i]);
        raw_exchange(port, req, (size_t)len, out, sizeof out);
        CHECK(strncmp(out, "HTTP/1.1 201", 12) == 0 && strstr(out, "\r\n\r\nabc"));
    }
    ec_http_server_stop(s);
}

/* A target cut by a NUL byte (libmicrohttpd hands it on as a C string): 400, never handled
 * as the shorter path, even when what follows the NUL looks like the version. */
static void nul_in_target(void)
{
    srv_ctx c;
    ctx_init(&c);
    ec_http_server *s = start(&c, 0, 0);
    REQUIRE(s);
    unsigned port = ec_http_server_port(s);
    static const char r1[] = "PUT /kv/a\0zzz HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n1";
    static const char r2[] = "GET /kv/a\0HTTP/1.1 HTTP/1.1\r\nHost: a\r\n\r\n";
    char out[4096];
    raw_exchange(port, r1, sizeof r1 - 1, out, sizeof out);
    CHECK(strncmp(out, "HTTP/1.1 400", 12) == 0 && strstr(out, "NUL"));
    raw_exchange(port, r2, sizeof r2 - 1, out, sizeof out);
    CHECK(strncmp(out, "HTTP/1.1 400", 12) == 0 && strstr(out, "NUL"));
    raw_exchange(port, "GET /kv/a?q=1 HTTP/1.1\r\nHost: a\r\n\r\n", 36, out, sizeof out);
    CHECK(strncmp(out, "HTTP/1.1 200", 12) == 0);
    raw_exchange(port, "GET /kv/b HTTP/1.0\r\n\r\n", 22, out, sizeof out);
    CHECK(strncmp(out, "HTTP/1.1 200", 12) == 0);
    WAIT_FOR(nref(&c) == 2);
    CHECK(nref(&c) == 2 && c.ref_status[0] == 400 && c.ref_status[1] == 400);
    CHECK(c.n == 2 && strcmp(c.s[0].target, "/kv/a?q=1") == 0);
    ec_http_server_stop(s);
}

/* A handler still running when the server stops past its deadline: its client gets 504 at
 * the deadline all the same (the watchdog outlives the stop's start), not when the handler
 * ends. */
static void stop_keeps_deadlines(void)
{
    srv_ctx c;
    ctx_init(&c);
    ec_http_server *s = start(&c, 0, 300);
    REQUIRE(s);
    static resp r;
    client_arg a = {ec_http_server_port(s), 0, 1, 0, "/block", &r};
    pthread_t t, ts;
    double t0 = http_now_s();
    REQUIRE(pthread_create(&t, NULL, client_main, &a) == 0);
    WAIT_FOR(atomic_load(&c.inflight) == 1);
    REQUIRE(pthread_create(&ts, NULL, stop_main, s) == 0);
    pthread_join(t, NULL); /* the gate is still closed: the handler runs on */
    double took = http_now_s() - t0;
    CHECK(r.status == 504);
    CHECK(took < 1.5);
    atomic_store(&c.gate, 1);
    pthread_join(ts, NULL);
    CHECK(nref(&c) == 1 && c.ref_status[0] == 504 && strstr(c.ref_reason[0], "discarded"));
}

/* A request head sent a header line every 200 ms (for up to 3 s): how long until the server
 * closed the connection (9: it did not) and the status of its answer (0: none). */
typedef struct trickle_arg {
    unsigned port;
    double closed_after;
    int status;
} trickle_arg;

static void *trickle_main(void *arg)
{
    trickle_arg *t = arg;
    t->closed_after = 9;
    double t0 = http_now_s();
    int fd = http_raw_send(t->port, "GET /slow-head HTTP/1.1\r\nHost: a\r\n", 34);
    if (fd < 0)
        return NULL;
    for (int i = 0; i < 15; i++) {
        sleep_ms(200);
        if (raw_readable(fd, 0))
            break;
        send(fd, "X-More: 1\r\n", 11, MSG_NOSIGNAL);
    }
    char buf[256] = {0};
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    t->status = n > 12 ? atoi(buf + 9) : 0;
    while (n > 0)
        n = recv(fd, buf, sizeof buf - 1, 0);
    if (n == 0 || errno == ECONNRESET)
        t->closed_after = http_now_s() - t0;
    close(fd);
    return NULL;
}

/* Slowloris: a head trickled a line at a time is cut at the head deadline (counted from the
 * connection's start, whatever it sends), answered 408; another client is served meanwhile;
 * nothing is reported (there is no request). */
static void slow_head_cut(void)
{
    srv_ctx c;
    ctx_init(&c);
    ec_http_server_options o = EC_HTTP_SERVER_OPTIONS_INIT;
    o.on_refused = on_refused;
    o.head_timeout_ms = 1000;
    ec_http_server *s = NULL;
    REQUIRE_OK(ec_http_server_start(&s, &o, handler, &c));
    trickle_arg ta = {ec_http_server_port(s), 0, 0};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, trickle_main, &ta) == 0);
    sleep_ms(300);
    static resp r;
    CHECK(do_req(NULL, ta.port, "GET", "/other", NULL, NULL, 0, &r) == 0 && r.status == 200);
    pthread_join(t, NULL);
    CHECK(ta.status == 408);
    CHECK(ta.closed_after > 0.9 && ta.closed_after < 2.0);
    CHECK(nref(&c) == 0);
    /* A kept-alive connection gets a new head deadline after each request. */
    int fd = http_raw_send(ta.port, "GET /ka HTTP/1.1\r\nHost: a\r\n\r\n", 29);
    REQUIRE(fd >= 0);
    char out[512];
    CHECK(recv(fd, out, sizeof out, 0) > 12 && strncmp(out, "HTTP/1.1 200", 12) == 0);
    sleep_ms(700);
    CHECK(send(fd, "GET /ka2 HTTP/1.1\r\nHost: a\r\n\r\n", 30, MSG_NOSIGNAL) == 30);
    CHECK(recv(fd, out, sizeof out, 0) > 12 && strncmp(out, "HTTP/1.1 200", 12) == 0);
    double t0 = http_now_s();
    CHECK(!raw_readable(fd, 500)); /* no deadline carried over from the first request */
    CHECK(raw_readable(fd, 1500)); /* then its own */
    CHECK(http_now_s() - t0 > 0.8);
    close(fd);
    ec_http_server_stop(s);
}

/* A connection limit of 2 taken by two silent connections: a third client is accepted once the
 * head deadline has closed them, not after the idle timeout. */
static void idle_connections_freed(void)
{
    srv_ctx c;
    ctx_init(&c);
    ec_http_server_options o = EC_HTTP_SERVER_OPTIONS_INIT;
    o.on_refused = on_refused;
    o.max_connections = 2;
    o.head_timeout_ms = 1000;
    ec_http_server *s = NULL;
    REQUIRE_OK(ec_http_server_start(&s, &o, handler, &c));
    unsigned port = ec_http_server_port(s);
    int fds[2];
    for (int i = 0; i < 2; i++) {
        fds[i] = http_raw_send(port, "", 0);
        REQUIRE(fds[i] >= 0);
    }
    sleep_ms(50);
    double t0 = http_now_s();
    static resp r;
    CHECK(do_req(NULL, port, "GET", "/third", NULL, NULL, 0, &r) == 0 && r.status == 200);
    double took = http_now_s() - t0;
    CHECK(took > 0.7 && took < 2.5);
    for (int i = 0; i < 2; i++) {
        CHECK(http_raw_status_close(fds[i]) == 408);
    }
    CHECK(nref(&c) == 0);
    ec_http_server_stop(s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(request_and_reply_exact);
    RUN(keep_alive);
    RUN(one_at_a_time_in_arrival_order);
    RUN(too_large_413);
    RUN(malformed_400);
    RUN(trap_500);
    RUN(timeout_504);
    RUN(servers_in_parallel);
    RUN(stop_answers_waiting_503);
    RUN(limits_of_connections_and_headers);
    RUN(transfer_encodings);
    RUN(nul_in_target);
    RUN(stop_keeps_deadlines);
    RUN(slow_head_cut);
    RUN(idle_connections_freed);
    RUN(hostile_clients);
    RUN(bad_options);
    RUN(reply_rules);
    RUN(held_replies);
    RUN(refusals_reported_before_sent);
    RUN(held_refusals);
    RUN(late_held_504_reported_first);
    RUN(late_release_500_reported_first);
    RUN(late_stop_503_reported_first);
    RUN(handler_begins);
    RUN(record_and_replay);
    curl_global_cleanup();
    TEST_END();
}
