/* tests/test_http_client.c: the HTTP client against loopback servers (the evchain server, and
 * a raw socket server for responses no good server sends): responses byte for byte, the
 * allow-list (refused with nothing sent), connection refused, timeout, DNS, size limit,
 * redirects not followed, proxies ignored, and outcomes that decode as recorded. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <evchain/http.h>
#include "test.h"

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- an evchain server as the far end ---- */

typedef struct far_end {
    atomic_int calls;
    char method[16], target[256], headers[1024];
    uint8_t body[256];
    size_t body_len;
} far_end;

static int far_handler(void *arg, const ec_http_msg *req, ec_http_reply *reply)
{
    far_end *f = arg;
    atomic_fetch_add(&f->calls, 1);
    snprintf(f->method, sizeof f->method, "%.*s", (int)req->method_len, req->method);
    snprintf(f->target, sizeof f->target, "%.*s", (int)req->target_len, req->target);
    size_t off = 0;
    f->headers[0] = 0;
    for (size_t i = 0; i < req->header_count && off < sizeof f->headers; i++)
        off += (size_t)snprintf(f->headers + off, sizeof f->headers - off, "%.*s=%.*s;",
                                (int)req->headers[i].name_len, req->headers[i].name,
                                (int)req->headers[i].value_len, req->headers[i].value);
    f->body_len = req->body_len < sizeof f->body ? req->body_len : sizeof f->body;
    if (f->body_len)
        memcpy(f->body, req->body, f->body_len);
    const char *t = f->target;
    if (strcmp(t, "/slow") == 0) {
        sleep_ms(400);
    } else if (strcmp(t, "/big") == 0) {
        static char big[10000];
        memset(big, 'z', sizeof big);
        return ec_http_reply_body(reply, big, sizeof big);
    } else if (strcmp(t, "/redirect") == 0) {
        ec_http_reply_status(reply, 302);
        return ec_http_reply_header(reply, "Location", "http://elsewhere.invalid/");
    }
    ec_http_reply_status(reply, 200);
    ec_http_reply_header(reply, "Content-Type", "text/plain");
    ec_http_reply_header(reply, "X-Seen", f->method);
    return ec_http_reply_body(reply, "pong", 4);
}

static ec_http_server *far_start(far_end *f)
{
    memset(f, 0, sizeof *f);
    ec_http_server_options o = EC_HTTP_SERVER_OPTIONS_INIT;
    o.timeout_ms = 3000;
    ec_http_server *s = NULL;
    return ec_http_server_start(&s, &o, far_handler, f) == 0 ? s : NULL;
}

static ec_http_msg creq(const char *method, const char *url)
{
    ec_http_msg m;
    memset(&m, 0, sizeof m);
    m.kind = EC_HTTP_CLIENT_REQUEST;
    m.method = method;
    m.method_len = strlen(method);
    m.target = url;
    m.target_len = strlen(url);
    return m;
}

static const char *const loopback[] = {"127.0.0.1"};

static ec_http_client_options copts(unsigned timeout_ms)
{
    ec_http_client_options o = EC_HTTP_CLIENT_OPTIONS_INIT;
    o.allow = loopback;
    o.allow_count = 1;
    o.timeout_ms = timeout_ms;
    return o;
}

/* The outcome's bytes decode to its message, and encoding that message gives the bytes. */
static int outcome_consistent(const ec_http_outcome *o)
{
    ec_http_msg d;
    if (ec_http_decode(&d, o->data, o->len) != 0)
        return 0;
    uint8_t *p = NULL;
    size_t n = 0;
    int ok = ec_http_encode_alloc(&o->msg, &p, &n) == 0 && n == o->len &&
             memcmp(p, o->data, n) == 0 && d.kind == o->msg.kind;
    free(p);
    ec_http_msg_clear(&d);
    return ok;
}

static int header_is(const ec_http_msg *m, const char *name, const char *value)
{
    for (size_t i = 0; i < m->header_count; i++)
        if (m->headers[i].name_len == strlen(name) &&
            strncasecmp(m->headers[i].name, name, m->headers[i].name_len) == 0)
            return m->headers[i].value_len == strlen(value) &&
                   memcmp(m->headers[i].value, value, m->headers[i].value_len) == 0;
    return 0;
}

/* ---- cases ---- */

static void allow_list_matching(void)
{
    const char *const l[] = {"api.example.com", "local:8080", "*.svc.internal",
                             "[::1]:9000",      "fe80::1",    "*.ports.test:443"};
    CHECK(ec_http_allowed(l, 6, "api.example.com", 80));
    CHECK(ec_http_allowed(l, 6, "API.Example.COM", 1234)); /* any port, any case */
    CHECK(!ec_http_allowed(l, 6, "example.com", 80));
    CHECK(!ec_http_allowed(l, 6, "api.example.com.evil.net", 80));
    CHECK(ec_http_allowed(l, 6, "local", 8080));
    CHECK(!ec_http_allowed(l, 6, "local", 8081));
    CHECK(ec_http_allowed(l, 6, "a.svc.internal", 1));
    CHECK(ec_http_allowed(l, 6, "a.b.svc.internal", 1));
    CHECK(!ec_http_allowed(l, 6, "svc.internal", 1)); /* the wildcard needs a label */
    CHECK(!ec_http_allowed(l, 6, "xsvc.internal", 1));
    CHECK(ec_http_allowed(l, 6, "::1", 9000));
    CHECK(!ec_http_allowed(l, 6, "::1", 9001));
    CHECK(ec_http_allowed(l, 6, "fe80::1", 5));
    CHECK(ec_http_allowed(l, 6, "x.ports.test", 443));
    CHECK(!ec_http_allowed(l, 6, "x.ports.test", 80));
    CHECK(!ec_http_allowed(l, 6, "", 80));
    const char *const w[] = {"*.0.0.1", "*.1"};
    CHECK(!ec_http_allowed(w, 2, "127.0.0.1", 80)); /* wildcards are for names only */
    CHECK(!ec_http_allowed(w, 2, "::1", 80));
    CHECK(!ec_http_allowed(NULL, 0, "api.example.com", 80));
    /* Addresses compare as addresses; hosts that are neither a DNS name nor an address, or
     * longer than a DNS name can be, match nothing (not even a wildcard they end like). */
    const char *const a[] = {"0:0::1", "10.0.0.1:80", "*.localhost"};
    CHECK(ec_http_allowed(a, 3, "::1", 5));
    CHECK(ec_http_allowed(a, 3, "10.0.0.1", 80) && !ec_http_allowed(a, 3, "10.0.0.1", 81));
    CHECK(ec_http_allowed(a, 3, "x.localhost", 1));
    CHECK(!ec_http_allowed(a, 3, "..localhost", 1) && !ec_http_allowed(a, 3, "x.localhost.", 1));
    CHECK(!ec_http_allowed(a, 3, "x\xc3\xa9.localhost", 1)); /* non-ASCII: IDN after the check */
    char longname[300];
    memset(longname, 'a', sizeof longname);
    for (size_t k = 50; k < 240; k += 50)
        longname[k] = '.';
    memcpy(longname + 243, ".localhost", 11); /* 253 bytes */
    CHECK(ec_http_allowed(a, 3, longname, 1));
    memmove(longname + 1, longname, 254); /* 254 bytes */
    CHECK(!ec_http_allowed(a, 3, longname, 1));
    /* Entries that could never match a host are malformed: ec_http_allow_check says so, and
     * a list holding one still works by its other entries. */
    const char *const good[] = {
        "api.example.com", "127.0.0.1:18080", "*.svc.internal:443", "[::1]:9000",
        "[::1]",           "fe80::1",         "local_host",         "a-b.c"};
    for (size_t k = 0; k < sizeof good / sizeof *good; k++)
        CHECK_OK(ec_http_allow_check(good[k]));
    const char *const bad[] = {"",
                               "http://127.0.0.1:18080",
                               "127.0.0.1:99999",
                               "127.0.0.1:0",
                               "127.0.0.1:abc",
                               "127.0.0.1:",
                               "[::1",
                               "[::1]x",
                               "[127.0.0.1]:80",
                               " 127.0.0.1",
                               "127.0.0.1/",
                               "*.0.0.1",
                               "*.",
                               "a..b",
                               "a.b.",
                               "127.1",
                               "1.2.3.400",
                               "::1:x:",
                               "*.*.x",
                               "a.b.0.0.1"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        ec_error_clear();
        CHECK(ec_http_allow_check(bad[k]) == EC_EINVAL);
        const ec_error *e = ec_error_last();
        CHECK(e && e->message && strstr(e->message, "expected host, host:port") != NULL);
    }
    CHECK(ec_http_allow_check(NULL) == EC_EINVAL);
    const char *const mixed[] = {"127.0.0.1/", "x.example"};
    CHECK(!ec_http_allowed(mixed, 2, "127.0.0.1", 80) &&
          ec_http_allowed(mixed, 2, "x.example", 80));
}

static void get_and_post(void)
{
    far_end f;
    ec_http_server *s = far_start(&f);
    REQUIRE(s);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/ping?x=%%41", ec_http_server_port(s));
    ec_http_msg m = creq("GET", url);
    ec_http_client_options o = copts(3000);
    ec_http_outcome out;
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_RESPONSE && out.msg.status == 200);
    CHECK(out.msg.body_len == 4 && memcmp(out.msg.body, "pong", 4) == 0);
    CHECK(header_is(&out.msg, "X-Seen", "GET"));
    CHECK(header_is(&out.msg, "Content-Length", "4"));
    CHECK(outcome_consistent(&out));
    CHECK(strcmp(f.target, "/ping?x=%41") == 0);
    ec_http_outcome_clear(&out);
    /* An upper-case scheme is a scheme (RFC 3986 3.1). */
    snprintf(url, sizeof url, "HTTP://127.0.0.1:%u/upper", ec_http_server_port(s));
    m = creq("GET", url);
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_RESPONSE && out.msg.status == 200);
    CHECK(strcmp(f.target, "/upper") == 0);
    ec_http_outcome_clear(&out);

    /* POST: method, headers in order, body as given; no "Expect: 100-continue" delay. */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/post", ec_http_server_port(s));
    ec_http_header hs[] = {{"X-One", 5, "1", 1}, {"X-Two", 5, "2", 1}};
    m = creq("POST", url);
    m.headers = hs;
    m.header_count = 2;
    m.body = (const uint8_t *)"a=1&b=2";
    m.body_len = 7;
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_RESPONSE && header_is(&out.msg, "X-Seen", "POST"));
    CHECK(strcmp(f.method, "POST") == 0 && f.body_len == 7 && memcmp(f.body, "a=1&b=2", 7) == 0);
    const char *p1 = strstr(f.headers, "X-One=1;"), *p2 = strstr(f.headers, "X-Two=2;");
    CHECK(p1 && p2 && p1 < p2);
    CHECK(!strstr(f.headers, "100-continue"));
    ec_http_outcome_clear(&out);

    /* DELETE without a body, HEAD without a response body. */
    m = creq("DELETE", url);
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.status == 200 && strcmp(f.method, "DELETE") == 0);
    ec_http_outcome_clear(&out);
    m = creq("HEAD", url);
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.status == 200 && out.msg.body_len == 0 && strcmp(f.method, "HEAD") == 0);
    ec_http_outcome_clear(&out);
    ec_http_server_stop(s);
}

static void denied_sends_nothing(void)
{
    far_end f;
    ec_http_server *s = far_start(&f);
    REQUIRE(s);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/x", ec_http_server_port(s));
    const char *const other[] = {"example.com", "127.0.0.1:1", "*.0.0.1"};
    ec_http_client_options o = copts(2000);
    o.allow = other;
    o.allow_count = 3;
    ec_http_msg m = creq("GET", url);
    ec_http_outcome out;
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_CLIENT_ERROR && out.msg.error == EC_HTTP_ERR_DENIED);
    CHECK(out.msg.reason_len && strstr(out.msg.reason, "not on the allow-list"));
    CHECK(outcome_consistent(&out));
    ec_http_outcome_clear(&out);
    /* No list at all denies everything; a user@host URL is judged by its host. */
    o.allow_count = 0;
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.error == EC_HTTP_ERR_DENIED);
    ec_http_outcome_clear(&out);
    o = copts(2000);
    snprintf(url, sizeof url, "http://127.0.0.1@10.255.255.1:%u/x", ec_http_server_port(s));
    m = creq("GET", url);
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.error == EC_HTTP_ERR_DENIED);
    ec_http_outcome_clear(&out);
    ec_http_server_stats st;
    ec_http_server_stats_get(s, &st);
    CHECK(st.received == 0 && atomic_load(&f.calls) == 0);
    ec_http_server_stop(s);
}

/* The decision is made on the whole host libcurl connects to. A 522-byte name whose first 511
 * bytes end in ".ok" passed "*.ok" when the check read a 512-byte copy of the host, and
 * libcurl then connected to the full name (which, ending in ".localhost", libcurl resolves
 * to the loopback itself: the far end here). */
static void long_host_denied(void)
{
    far_end f;
    ec_http_server *s = far_start(&f);
    REQUIRE(s);
    char host[600], url[700];
    memset(host, 'a', 508);
    for (size_t k = 60; k < 508; k += 61)
        host[k] = '.';
    memcpy(host + 508, ".okx.localhost", 15);
    REQUIRE(strlen(host) == 522);
    snprintf(url, sizeof url, "http://%s:%u/escaped", host, ec_http_server_port(s));
    const char *const ok[] = {"*.ok", "*.localhost"};
    ec_http_client_options o = copts(2000);
    o.allow = ok;
    o.allow_count = 1;
    ec_http_msg m = creq("GET", url);
    ec_http_outcome out;
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_CLIENT_ERROR && out.msg.error == EC_HTTP_ERR_DENIED);
    CHECK(out.msg.reason_len && strstr(out.msg.reason, "253 bytes"));
    CHECK(outcome_consistent(&out));
    ec_http_outcome_clear(&out);
    /* Even a list the whole name is under: a name no DNS can hold is never looked up. */
    o.allow = ok + 1;
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_CLIENT_ERROR && out.msg.error == EC_HTTP_ERR_DENIED);
    ec_http_outcome_clear(&out);
    /* A percent-encoded host is judged decoded, as libcurl connects to it; one that decodes
     * to something that is no DNS name is denied. */
    snprintf(url, sizeof url, "http://%%2e.localhost:%u/x", ec_http_server_port(s));
    m = creq("GET", url);
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.error == EC_HTTP_ERR_DENIED);
    ec_http_outcome_clear(&out);
    snprintf(url, sizeof url, "http://%%61.localhost:%u/x", ec_http_server_port(s));
    m = creq("GET", url);
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_RESPONSE && out.msg.status == 200);
    ec_http_outcome_clear(&out);
    CHECK(atomic_load(&f.calls) == 1);
    ec_http_server_stop(s);
}

static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) != 0)
        return 0;
    close(fd); /* nobody listens there now */
    return ntohs(a.sin_port);
}

static void refused_timeout_dns(void)
{
    char url[128];
    unsigned port = free_port();
    REQUIRE(port);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", port);
    ec_http_msg m = creq("GET", url);
    ec_http_client_options o = copts(2000);
    ec_http_outcome out;
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_CLIENT_ERROR && out.msg.error == EC_HTTP_ERR_REFUSED);
    CHECK(outcome_consistent(&out));
    ec_http_outcome_clear(&out);

    far_end f;
    ec_http_server *s = far_start(&f);
    REQUIRE(s);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/slow", ec_http_server_port(s));
    m = creq("GET", url);
    o = copts(150);
    double t0 = now_s();
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    double dt = now_s() - t0;
    CHECK(out.msg.kind == EC_HTTP_CLIENT_ERROR && out.msg.error == EC_HTTP_ERR_TIMEOUT);
    CHECK(dt < 0.380);
    CHECK(strstr(out.msg.reason, "150 ms") != NULL);
    ec_http_outcome_clear(&out);
    ec_http_server_stop(s);

    /* .invalid never resolves (RFC 6761). */
    const char *const inv[] = {"*.invalid"};
    o = copts(3000);
    o.allow = inv;
    m = creq("GET", "http://no-such-host.invalid/");
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_CLIENT_ERROR && out.msg.error == EC_HTTP_ERR_DNS);
    ec_http_outcome_clear(&out);
}

static void limits_and_redirects(void)
{
    far_end f;
    ec_http_server *s = far_start(&f);
    REQUIRE(s);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/big", ec_http_server_port(s));
    ec_http_msg m = creq("GET", url);
    ec_http_client_options o = copts(3000);
    o.max_response = 1000;
    ec_http_outcome out;
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_CLIENT_ERROR && out.msg.error == EC_HTTP_ERR_TOO_LARGE);
    ec_http_outcome_clear(&out);
    o.max_response = 10000; /* exactly the size: fine */
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_RESPONSE && out.msg.body_len == 10000);
    ec_http_outcome_clear(&out);
    /* A redirect is the actor's to see, not followed to a host off the list. */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/redirect", ec_http_server_port(s));
    m = creq("GET", url);
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_RESPONSE && out.msg.status == 302);
    CHECK(header_is(&out.msg, "Location", "http://elsewhere.invalid/"));
    ec_http_outcome_clear(&out);
    /* A proxy from the environment is not used. */
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    setenv("HTTP_PROXY", "http://127.0.0.1:1", 1);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/p", ec_http_server_port(s));
    m = creq("GET", url);
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_RESPONSE && out.msg.status == 200);
    ec_http_outcome_clear(&out);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    ec_http_server_stop(s);
}

/* ---- a raw server: one connection, one canned answer ---- */

typedef struct raw_srv {
    int fd;
    unsigned port;
    const char *answer;
    size_t answer_len;
    size_t repeat; /* write the answer's tail (after the head) this many times */
    size_t head_len;
} raw_srv;

static void *raw_main(void *arg)
{
    raw_srv *r = arg;
    int c = accept(r->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    char buf[4096];
    ssize_t n = recv(c, buf, sizeof buf, 0); /* the request head (small) */
    (void)n;
    send(c, r->answer, r->head_len ? r->head_len : r->answer_len, MSG_NOSIGNAL);
    for (size_t i = 0; i < r->repeat; i++)
        if (send(c, r->answer + r->head_len, r->answer_len - r->head_len, MSG_NOSIGNAL) < 0)
            break;
    close(c);
    return NULL;
}

static int raw_start(raw_srv *r, pthread_t *t)
{
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    if (r->fd < 0 || bind(r->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(r->fd, 1) != 0 ||
        getsockname(r->fd, (struct sockaddr *)&a, &l) != 0)
        return -1;
    r->port = ntohs(a.sin_port);
    return pthread_create(t, NULL, raw_main, r);
}

static ec_http_outcome raw_fetch(raw_srv *r, size_t max_response)
{
    ec_http_outcome out;
    memset(&out, 0, sizeof out);
    pthread_t t;
    if (raw_start(r, &t) != 0)
        return out;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", r->port);
    ec_http_msg m = creq("GET", url);
    ec_http_client_options o = copts(3000);
    o.max_response = max_response;
    if (ec_http_request(&out, &m, &o) != 0)
        memset(&out, 0, sizeof out);
    pthread_join(t, NULL);
    close(r->fd);
    return out;
}

static void odd_responses(void)
{
    /* Chunked, no length: the limit is found while reading. */
    static const char chunk[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "400\r\n"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "\r\n";
    raw_srv r = {.answer = chunk, .answer_len = sizeof chunk - 1, .repeat = 8};
    r.head_len = strlen("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    ec_http_outcome out = raw_fetch(&r, 4096);
    CHECK(out.data && out.msg.kind == EC_HTTP_CLIENT_ERROR &&
          out.msg.error == EC_HTTP_ERR_TOO_LARGE);
    ec_http_outcome_clear(&out);
    /* A header value with bytes outside ASCII is kept as sent; trailing blanks are not. */
    static const char latin[] =
        "HTTP/1.1 200 OK\r\nX-Name: caf\xe9  \r\nContent-Length: 2\r\n\r\nok";
    raw_srv r2 = {.answer = latin, .answer_len = sizeof latin - 1};
    out = raw_fetch(&r2, 0);
    CHECK(out.data && out.msg.kind == EC_HTTP_RESPONSE && header_is(&out.msg, "X-Name", "caf\xe9"));
    CHECK(out.data && outcome_consistent(&out));
    ec_http_outcome_clear(&out);
    /* A header line the format cannot hold: reported, not silently dropped. */
    static const char badh[] = "HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 2\r\n\r\nok";
    raw_srv r3 = {.answer = badh, .answer_len = sizeof badh - 1};
    out = raw_fetch(&r3, 0);
    CHECK(out.data && out.msg.kind == EC_HTTP_CLIENT_ERROR && out.msg.error == EC_HTTP_ERR_FAILED);
    CHECK(out.data && strstr(out.msg.reason, "malformed response"));
    ec_http_outcome_clear(&out);
    /* A 1xx before the final response: only the final one's fields are kept. */
    static const char cont[] = "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
                               "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    raw_srv r4 = {.answer = cont, .answer_len = sizeof cont - 1};
    out = raw_fetch(&r4, 0);
    CHECK(out.data && out.msg.status == 201 && out.msg.header_count == 1 &&
          header_is(&out.msg, "Content-Length", "0"));
    ec_http_outcome_clear(&out);
    /* Closed without a byte. */
    raw_srv r5 = {.answer = "", .answer_len = 0};
    out = raw_fetch(&r5, 0);
    CHECK(out.data && out.msg.kind == EC_HTTP_CLIENT_ERROR && out.msg.error == EC_HTTP_ERR_FAILED);
    ec_http_outcome_clear(&out);
}

static void invalid_requests(void)
{
    ec_http_outcome out;
    ec_http_client_options o = copts(1000);
    ec_http_msg m = creq("GET", "ftp://127.0.0.1/");
    CHECK(ec_http_request(&out, &m, &o) == EC_EINVAL);
    CHECK(strstr(ec_error_last()->message, "url") != NULL);
    m = creq("G ET", "http://127.0.0.1/");
    CHECK(ec_http_request(&out, &m, &o) == EC_EINVAL);
    m = creq("GET", "http://127.0.0.1/");
    m.kind = EC_HTTP_REQUEST;
    CHECK(ec_http_request(&out, &m, &o) == EC_EINVAL);
    m.kind = EC_HTTP_CLIENT_REQUEST;
    o.version = 7;
    CHECK(ec_http_request(&out, &m, &o) == EC_EUNSUPPORTED);
    o = copts(1000);
    o.max_response = (size_t)EC_HTTP_BODY_MAX + 1;
    CHECK(ec_http_request(&out, &m, &o) == EC_EINVAL);
    /* A URL libcurl cannot parse is an outcome, recorded like any failure. */
    o = copts(1000);
    m = creq("GET", "http://127.0.0.1:99999999/");
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_CLIENT_ERROR && out.msg.error == EC_HTTP_ERR_FAILED);
    ec_http_outcome_clear(&out);
    ec_http_outcome_clear(NULL);
}

static void ipv6_literal(void)
{
    far_end f;
    memset(&f, 0, sizeof f);
    ec_http_server_options so = EC_HTTP_SERVER_OPTIONS_INIT;
    so.bind_address = "::1";
    ec_http_server *s = NULL;
    if (ec_http_server_start(&s, &so, far_handler, &f) != 0)
        return; /* no IPv6 loopback on this machine: nothing to test */
    char url[128];
    snprintf(url, sizeof url, "http://[::1]:%u/six", ec_http_server_port(s));
    const char *const six[] = {"::1"}, *const four[] = {"127.0.0.1"};
    ec_http_client_options o = copts(2000);
    o.allow = six;
    ec_http_msg m = creq("GET", url);
    ec_http_outcome out;
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_RESPONSE && out.msg.status == 200);
    ec_http_outcome_clear(&out);
    o.allow = four;
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_CLIENT_ERROR && out.msg.error == EC_HTTP_ERR_DENIED);
    CHECK(strstr(out.msg.reason, "host ::1 port") != NULL);
    ec_http_outcome_clear(&out);
    CHECK(atomic_load(&f.calls) == 1);
    ec_http_server_stop(s);
}

/* The client half of docs/HTTP.md section 3: record a request and its outcome, then replay
 * with the far end gone: the recorded outcome is what the actor gets, nothing is sent, and
 * the replayed chain is byte-identical. */
static int append(ec_chain *c, const char *type, const uint8_t *p, size_t n, uint64_t ts)
{
    ec_event_input in = {.type = type, .data = p, .data_len = n, .timestamp = ts};
    return ec_chain_append(c, &in, NULL, NULL);
}

static void record_then_replay_offline(void)
{
    ec_backend *b1, *b2;
    ec_chain *live = NULL, *again = NULL;
    REQUIRE(ec_backend_memory(&b1, NULL) == 0 && ec_chain_open(&live, b1, NULL) == 0);
    REQUIRE(ec_backend_memory(&b2, NULL) == 0 && ec_chain_open(&again, b2, NULL) == 0);
    far_end f;
    ec_http_server *s = far_start(&f);
    REQUIRE(s);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/sum", ec_http_server_port(s));
    ec_http_msg m = creq("POST", url);
    m.body = (const uint8_t *)"1 2 3";
    m.body_len = 5;
    ec_http_client_options o = copts(2000);
    uint8_t *req = NULL;
    size_t rl = 0;
    REQUIRE_OK(ec_http_encode_alloc(&m, &req, &rl));
    REQUIRE_OK(append(live, EC_HTTP_EV_CLIENT_REQUEST, req, rl, 1)); /* before it is sent */
    ec_http_outcome out;
    REQUIRE_OK(ec_http_request(&out, &m, &o));
    CHECK(out.msg.kind == EC_HTTP_RESPONSE && out.msg.status == 200);
    REQUIRE_OK(append(live, EC_HTTP_EV_CLIENT_RESPONSE, out.data, out.len, 2));
    ec_http_server_stop(s); /* the network side is gone from here on */

    /* Replay: the actor makes the same request; it must match the record, and it gets the
     * recorded outcome. */
    ec_event ev;
    REQUIRE_OK(ec_chain_get(live, 0, &ev));
    CHECK(ev.data_len == rl && memcmp(ev.data, req, rl) == 0);
    REQUIRE_OK(append(again, EC_HTTP_EV_CLIENT_REQUEST, req, rl, 1));
    REQUIRE_OK(ec_chain_get(live, 1, &ev));
    uint8_t *rec = malloc(ev.data_len);
    REQUIRE(rec);
    memcpy(rec, ev.data, ev.data_len);
    size_t reclen = ev.data_len;
    ec_http_msg replayed;
    REQUIRE_OK(ec_http_decode(&replayed, rec, reclen));
    CHECK(replayed.kind == EC_HTTP_RESPONSE && replayed.status == 200 && replayed.body_len == 4 &&
          memcmp(replayed.body, "pong", 4) == 0);
    REQUIRE_OK(append(again, EC_HTTP_EV_CLIENT_RESPONSE, rec, reclen, 2));
    uint8_t h1[EC_HASH_MAX], h2[EC_HASH_MAX];
    REQUIRE_OK(ec_chain_head(live, h1, NULL));
    REQUIRE_OK(ec_chain_head(again, h2, NULL));
    CHECK(memcmp(h1, h2, 32) == 0);
    /* Sending now would fail: the replay did not depend on the network. */
    ec_http_outcome gone;
    REQUIRE_OK(ec_http_request(&gone, &m, &o));
    CHECK(gone.msg.kind == EC_HTTP_CLIENT_ERROR && gone.msg.error == EC_HTTP_ERR_REFUSED);
    ec_http_outcome_clear(&gone);
    ec_http_msg_clear(&replayed);
    free(rec);
    free(req);
    ec_http_outcome_clear(&out);
    ec_chain_free(live);
    ec_chain_free(again);
}

int main(void)
{
    RUN(allow_list_matching);
    RUN(get_and_post);
    RUN(denied_sends_nothing);
    RUN(long_host_denied);
    RUN(refused_timeout_dns);
    RUN(limits_and_redirects);
    RUN(odd_responses);
    RUN(invalid_requests);
    RUN(ipv6_literal);
    RUN(record_then_replay_offline);
    TEST_END();
}
