/* actor/http_client.c: one HTTP request on libcurl for an actor, limited to an allow-list of
 * hosts, with its outcome (response or error kind) as an encoded payload ready to record.
 * What must stay true: a host off the list is refused before libcurl is even set up (nothing
 * is resolved or sent), and nothing can take the request elsewhere: no redirects are
 * followed, no proxy from the environment is used, and only http/https are enabled. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

#include "core/internal.h"
#include "actor/http.h"

#define DEFAULT_TIMEOUT_MS   10000u
#define DEFAULT_MAX_RESPONSE (16u << 20)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

/* curl_global_init is not thread-safe: run it exactly once, whoever calls first. */
static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- allow-list ---- */

static int host_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && strncasecmp(a, b, an) == 0;
}

/* One entry against host:port. Entry forms: host, host:port, *.domain[:port], [v6][:port],
 * bare v6 (more than one ':'). */
static int entry_matches(const char *e, const char *host, unsigned port)
{
    const char *h = e, *colon = NULL;
    size_t hl;
    if (e[0] == '[') {
        const char *close = strchr(e, ']');
        if (!close)
            return 0;
        h = e + 1;
        hl = (size_t)(close - h);
        if (close[1] == ':')
            colon = close + 1;
        else if (close[1])
            return 0;
    } else {
        const char *c1 = strchr(e, ':');
        if (c1 && strchr(c1 + 1, ':'))
            c1 = NULL; /* bare IPv6 address: no port */
        colon = c1;
        hl = colon ? (size_t)(colon - e) : strlen(e);
    }
    if (colon) {
        char *end;
        unsigned long p = strtoul(colon + 1, &end, 10);
        if (*end || end == colon + 1 || p != port)
            return 0;
    }
    size_t n = strlen(host);
    if (hl > 2 && h[0] == '*' && h[1] == '.') {
        /* "*.example.com": any name ending in ".example.com", not example.com itself, and
         * never an address literal ("*.0.0.1" must not admit 127.0.0.1). */
        unsigned char a[16];
        if (inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1)
            return 0;
        size_t sl = hl - 1; /* ".example.com" */
        return n > sl && strncasecmp(host + n - sl, h + 1, sl) == 0;
    }
    return host_eq(h, hl, host, n);
}

int ec_http_allowed(const char *const *allow, size_t allow_count, const char *host, unsigned port)
{
    if (!host || !*host)
        return 0;
    for (size_t i = 0; i < allow_count; i++)
        if (allow[i] && entry_matches(allow[i], host, port))
            return 1;
    return 0;
}

/* ---- the exchange ---- */

typedef struct xfer {
    /* response headers of the final response: text in one buffer, offsets per field */
    char *txt;
    size_t txt_len, txt_cap;
    size_t (*offs)[4]; /* name off, name len, value off, value len */
    size_t nh, caph;
    uint8_t *body;
    size_t body_len, body_cap, max_body;
    int too_large, bad_header, oom;
    char bad_what[160];
} xfer;

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t n = size * nmemb;
    if (n > x->max_body - x->body_len) {
        x->too_large = 1;
        return 0; /* abort the transfer: CURLE_WRITE_ERROR */
    }
    if (ec_grow((void **)&x->body, &x->body_cap, x->body_len + n, 1)) {
        x->oom = 1;
        return 0;
    }
    memcpy(x->body + x->body_len, data, n);
    x->body_len += n;
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t n = size * nmemb;
    size_t len = n;
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A status line starts a response: keep only the last one's fields (after 1xx). */
        x->nh = 0;
        x->txt_len = 0;
        x->bad_header = 0;
        return n;
    }
    if (len == 0)
        return n;
    const char *colon = memchr(data, ':', len);
    if (!colon || colon == data) {
        if (!x->bad_header)
            snprintf(x->bad_what, sizeof x->bad_what, "response header line %zu has no name",
                     x->nh + 1);
        x->bad_header = 1;
        return n;
    }
    size_t nl = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    if (!ec_http_token_ok(data, nl, 1, EC_HTTP_NAME_MAX) || !ec_http_value_ok(v, vl) ||
        x->nh >= EC_HTTP_HEADERS_MAX) {
        if (!x->bad_header)
            snprintf(x->bad_what, sizeof x->bad_what,
                     "response header %zu (%.*s) is not a valid field or over the limits",
                     x->nh + 1, (int)(nl < 64 ? nl : 64), data);
        x->bad_header = 1;
        return n;
    }
    if (ec_grow((void **)&x->offs, &x->caph, x->nh + 1, sizeof *x->offs) ||
        ec_grow((void **)&x->txt, &x->txt_cap, x->txt_len + nl + vl + 1, 1)) {
        x->oom = 1;
        return 0;
    }
    size_t *o = x->offs[x->nh++];
    o[0] = x->txt_len;
    o[1] = nl;
    memcpy(x->txt + x->txt_len, data, nl);
    x->txt_len += nl;
    o[2] = x->txt_len;
    o[3] = vl;
    if (vl)
        memcpy(x->txt + x->txt_len, v, vl);
    x->txt_len += vl;
    return n;
}

static void xfer_free(xfer *x)
{
    free(x->txt);
    free(x->offs);
    free(x->body);
}

/* Fill *out from a message: encode it, then decode the copy so the views point into out. */
static int outcome_set(ec_http_outcome *out, const ec_http_msg *m)
{
    int rc = ec_http_encode_alloc(m, &out->data, &out->len);
    if (rc)
        return rc;
    rc = ec_http_decode(&out->msg, out->data, out->len);
    if (rc) {
        free(out->data);
        out->data = NULL;
    }
    return rc;
}

static int outcome_error(ec_http_outcome *out, ec_http_error kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int outcome_error(ec_http_outcome *out, ec_http_error kind, const char *fmt, ...)
{
    char msg[EC_HTTP_REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* libcurl's messages are ASCII, but a host name from the actor may not be: keep the
     * recorded message valid UTF-8 whatever it quotes. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
            *p = '?';
    ec_http_msg m;
    memset(&m, 0, sizeof m);
    m.kind = EC_HTTP_CLIENT_ERROR;
    m.error = kind;
    m.reason = msg;
    m.reason_len = strlen(msg);
    return outcome_set(out, &m);
}

static int is_method(const ec_http_msg *r, const char *m)
{
    return r->method_len == strlen(m) && memcmp(r->method, m, r->method_len) == 0;
}

static int has_header(const ec_http_msg *r, const char *name)
{
    for (size_t i = 0; i < r->header_count; i++)
        if (r->headers[i].name_len == strlen(name) &&
            strncasecmp(r->headers[i].name, name, r->headers[i].name_len) == 0)
            return 1;
    return 0;
}

int ec_http_request(ec_http_outcome *out, const ec_http_msg *req,
                    const ec_http_client_options *opts)
{
    ec_http_client_options o = EC_HTTP_CLIENT_OPTIONS_INIT;
    if (!out)
        return ec_error_set(EC_EINVAL, "http request: NULL outcome");
    memset(out, 0, sizeof *out);
    if (opts) {
        if (opts->version != EC_HTTP_CLIENT_OPTIONS_VERSION)
            return ec_error_set(EC_EUNSUPPORTED, "http request: options version %u (expected %u)",
                                opts->version, EC_HTTP_CLIENT_OPTIONS_VERSION);
        o = *opts;
    }
    if (!req || req->kind != EC_HTTP_CLIENT_REQUEST)
        return ec_error_set(EC_EINVAL, "http request: the message must be a client request");
    int rc = ec_http_msg_check(req);
    if (rc)
        return rc;
    if (o.max_response > EC_HTTP_BODY_MAX)
        return ec_error_set(EC_EINVAL, "http request: response limit %zu: at most %u",
                            o.max_response, EC_HTTP_BODY_MAX);
    size_t max_body = o.max_response ? o.max_response : DEFAULT_MAX_RESPONSE;
    unsigned timeout = o.timeout_ms ? o.timeout_ms : DEFAULT_TIMEOUT_MS;

    char *url = strndup(req->target, req->target_len);
    if (!url)
        return ec_error_set(EC_ENOMEM, "http request: out of memory");
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        free(url);
        return ec_error_set(EC_ERROR, "http request: libcurl initialisation failed: %s",
                            curl_easy_strerror(curl_init_rc));
    }

    /* The allow-list decision, from libcurl's own parse of the URL (the one it will use). */
    CURLU *u = curl_url();
    char *host = NULL, *port_s = NULL;
    if (!u) {
        free(url);
        return ec_error_set(EC_ENOMEM, "http request: out of memory");
    }
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_PORT, &port_s, CURLU_DEFAULT_PORT);
    curl_url_cleanup(u);
    if (uc != CURLUE_OK) {
        rc = outcome_error(out, EC_HTTP_ERR_FAILED, "invalid URL %.200s: %s", url,
                           curl_url_strerror(uc));
        curl_free(host);
        curl_free(port_s);
        free(url);
        return rc;
    }
    unsigned port = (unsigned)strtoul(port_s, NULL, 10);
    char hbuf[512];
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') /* IPv6 literal */
        snprintf(hbuf, sizeof hbuf, "%.*s", (int)(hl - 2), host + 1);
    else
        snprintf(hbuf, sizeof hbuf, "%s", host);
    curl_free(host);
    curl_free(port_s);
    if (!ec_http_allowed(o.allow, o.allow_count, hbuf, port)) {
        rc = outcome_error(out, EC_HTTP_ERR_DENIED,
                           "host %.300s port %u is not on the allow-list: nothing was sent", hbuf,
                           port);
        free(url);
        return rc;
    }

    CURL *c = curl_easy_init();
    struct curl_slist *hl_list = NULL;
    xfer x;
    memset(&x, 0, sizeof x);
    x.max_body = max_body;
    char errbuf[CURL_ERROR_SIZE] = "";
    int oom = !c;
    for (size_t i = 0; !oom && i < req->header_count; i++) {
        const ec_http_header *h = &req->headers[i];
        /* "Name;" is libcurl's way to send a header with an empty value. */
        char *line = malloc(h->name_len + h->value_len + 3);
        if (!line) {
            oom = 1;
            break;
        }
        if (h->value_len)
            sprintf(line, "%.*s: %.*s", (int)h->name_len, h->name, (int)h->value_len, h->value);
        else
            sprintf(line, "%.*s;", (int)h->name_len, h->name);
        struct curl_slist *nl = curl_slist_append(hl_list, line);
        free(line);
        if (!nl)
            oom = 1;
        else
            hl_list = nl;
    }
    /* libcurl would wait up to a second for "100 Continue" before sending a large body. */
    if (!oom && !has_header(req, "Expect")) {
        struct curl_slist *nl = curl_slist_append(hl_list, "Expect:");
        if (!nl)
            oom = 1;
        else
            hl_list = nl;
    }
    if (oom) {
        curl_slist_free_all(hl_list);
        if (c)
            curl_easy_cleanup(c);
        free(url);
        return ec_error_set(EC_ENOMEM, "http request: out of memory");
    }
    char method[EC_HTTP_METHOD_MAX + 1];
    snprintf(method, sizeof method, "%.*s", (int)req->method_len, req->method);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never a proxy from http_proxy & co */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(o.connect_timeout_ms ? o.connect_timeout_ms : timeout));
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl_list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    if (is_method(req, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (!is_method(req, "GET") || req->body_len)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (req->body_len || is_method(req, "POST") || is_method(req, "PUT")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body_len ? (const char *)req->body : "");
    }

    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    if (x.oom) {
        rc = ec_error_set(EC_ENOMEM, "http request %s: out of memory reading the response", url);
    } else if (x.too_large || cc == CURLE_FILESIZE_EXCEEDED) {
        rc = outcome_error(out, EC_HTTP_ERR_TOO_LARGE,
                           "response body over the limit of %zu bytes: transfer cut", max_body);
    } else if (cc == CURLE_COULDNT_CONNECT) {
        rc = outcome_error(out, EC_HTTP_ERR_REFUSED, "%s", detail);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = outcome_error(out, EC_HTTP_ERR_TIMEOUT, "no complete response within %u ms: %s",
                           timeout, detail);
    } else if (cc == CURLE_COULDNT_RESOLVE_HOST) {
        rc = outcome_error(out, EC_HTTP_ERR_DNS, "%s", detail);
    } else if (cc != CURLE_OK) {
        rc = outcome_error(out, EC_HTTP_ERR_FAILED, "%s", detail);
    } else if (x.bad_header) {
        rc = outcome_error(out, EC_HTTP_ERR_FAILED, "malformed response: %s", x.bad_what);
    } else if (status < 100 || status > 599) {
        rc = outcome_error(out, EC_HTTP_ERR_FAILED, "response status %ld out of range", status);
    } else {
        ec_http_header *hs = x.nh ? malloc(x.nh * sizeof *hs) : NULL;
        if (x.nh && !hs) {
            rc = ec_error_set(EC_ENOMEM, "http request: out of memory");
        } else {
            for (size_t i = 0; i < x.nh; i++)
                hs[i] = (ec_http_header){x.txt + x.offs[i][0], x.offs[i][1], x.txt + x.offs[i][2],
                                         x.offs[i][3]};
            ec_http_msg m;
            memset(&m, 0, sizeof m);
            m.kind = EC_HTTP_RESPONSE;
            m.status = (unsigned)status;
            m.headers = hs;
            m.header_count = x.nh;
            m.body = x.body;
            m.body_len = x.body_len;
            rc = outcome_set(out, &m);
            free(hs);
        }
    }
    xfer_free(&x);
    curl_slist_free_all(hl_list);
    curl_easy_cleanup(c);
    free(url);
    return rc;
}

void ec_http_outcome_clear(ec_http_outcome *o)
{
    if (!o)
        return;
    ec_http_msg_clear(&o->msg);
    free(o->data);
    memset(o, 0, sizeof *o);
}
