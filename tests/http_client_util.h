/* tests/http_client_util.h: the clients the HTTP tests share: libcurl for one request to
 * 127.0.0.1, the status, headers and body (NUL-terminated, the excess counted) kept in a
 * resp, and the time it took; raw sockets for bytes no well-behaved client would send. */
#ifndef EVCHAIN_TEST_HTTP_CLIENT_UTIL_H
#define EVCHAIN_TEST_HTTP_CLIENT_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

typedef struct resp {
    long status;
    char body[1 << 16];
    size_t body_len;
    size_t big_len; /* bytes past what body holds */
    char headers[4096];
    size_t headers_len;
    double seconds;
} resp;

static inline double http_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Append what fits of d[0..len) to buf (capacity cap, kept NUL-terminated); returns the
 * bytes that did not fit. */
static inline size_t http_keep(char *buf, size_t cap, size_t *used, const char *d, size_t len)
{
    size_t room = cap - 1 - *used, k = len < room ? len : room;
    memcpy(buf + *used, d, k);
    *used += k;
    buf[*used] = 0;
    return len - k;
}

static inline size_t http_on_body(char *d, size_t sz, size_t n, void *arg)
{
    resp *r = arg;
    r->big_len += http_keep(r->body, sizeof r->body, &r->body_len, d, sz * n);
    return sz * n;
}

static inline size_t http_on_hdr(char *d, size_t sz, size_t n, void *arg)
{
    resp *r = arg;
    (void)http_keep(r->headers, sizeof r->headers, &r->headers_len, d, sz * n);
    return sz * n;
}

/* The client's whole-request timeout. 8 s; a test whose actor runs long calls (slow under
 * the sanitizers on a loaded machine) raises it. */
static long http_timeout_ms = 8000;

/* One request; h may be NULL or a NULL-terminated list of "Name: value"; body NULL: none.
 * easy may be a reused handle (keep-alive) or NULL. Returns the curl code. */
static inline int http_do(CURL *easy, unsigned port, const char *method, const char *path,
                          const char *const *h, const void *body, size_t body_len, resp *r)
{
    CURL *c = easy ? easy : curl_easy_init();
    if (!c)
        return -1;
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    memset(r, 0, sizeof *r);
    struct curl_slist *sl = curl_slist_append(NULL, "Expect:");
    for (; h && *h; h++)
        sl = curl_slist_append(sl, *h);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, http_timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_on_hdr);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    double t0 = http_now_s();
    CURLcode rc = curl_easy_perform(c);
    r->seconds = http_now_s() - t0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(sl);
    if (!easy)
        curl_easy_cleanup(c);
    return (int)rc;
}

/* A connection to 127.0.0.1:port with len bytes sent (reads time out after 3 s); -1 on
 * failure. */
static inline int http_raw_send(unsigned port, const char *req, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The status of the first answer on fd (-1 when none came); the connection is closed. */
static inline int http_raw_status_close(int fd)
{
    char buf[256] = {0};
    ssize_t n = fd < 0 ? -1 : recv(fd, buf, sizeof buf - 1, 0);
    if (fd >= 0)
        close(fd);
    return n > 12 && strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : -1;
}

#endif
