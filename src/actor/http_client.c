/* actor/http_client.c: one HTTP request on libcurl for an actor, limited to an allow-list of
 * hosts, with its outcome (response or error kind) as an encoded payload ready to record.
 * What must stay true: a host off the list is refused before libcurl is even set up (nothing
 * is resolved or sent); the host judged is the whole host libcurl connects to (one parse of
 * the URL, given to libcurl as it is: CURLOPT_CURLU), and nothing can take the request
 * elsewhere: no redirects are followed, no proxy from the environment is used, no Alt-Svc or
 * HSTS, and only http/https are enabled. */
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

/* The longest DNS name (RFC 1035 3.1: 255 bytes on the wire, 253 as text). A host longer than
 * this is refused outright: no decision is ever made on part of a name. */
#define HOST_MAX  253
#define LABEL_MAX 63

typedef enum { HOST_NAME, HOST_V4, HOST_V6 } host_kind;

/* A host as the allow-list compares it: a DNS name (the bytes, compared case-insensitively)
 * or an address (compared as binary, so "::1" and "0:0::1" are one address). */
typedef struct host_id {
    host_kind kind;
    const char *s;
    size_t n;
    unsigned char a[16];
} host_id;

/* A DNS name as a resolver takes it: dot-separated labels of 1..63 letters, digits, '-' or
 * '_', at most 253 bytes, no trailing dot, and a last label that is not all digits (a name
 * like "a.0.0.1" is neither a host name nor an address: RFC 3696 2). ASCII only: a name with
 * other bytes would be converted (IDN) by libcurl after the decision. */
static int dns_name(const char *s, size_t n)
{
    if (n == 0 || n > HOST_MAX)
        return 0;
    size_t label = 0;
    int digits = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
            digits = 1;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
        if (c < '0' || c > '9')
            digits = 0;
        if (++label > LABEL_MAX)
            return 0;
    }
    return label > 0 && !digits;
}

/* s[0..n): an IPv6 address (no brackets, no zone), a dotted-decimal IPv4 address or a DNS
 * name. 1 when it is one of them. */
static int host_parse(host_id *h, const char *s, size_t n)
{
    char tmp[64];
    memset(h, 0, sizeof *h);
    h->s = s;
    h->n = n;
    if (n == 0 || n > HOST_MAX)
        return 0;
    if (memchr(s, ':', n)) {
        if (n >= sizeof tmp)
            return 0;
        memcpy(tmp, s, n);
        tmp[n] = 0;
        h->kind = HOST_V6;
        return inet_pton(AF_INET6, tmp, h->a) == 1;
    }
    if (n < 16) {
        memcpy(tmp, s, n);
        tmp[n] = 0;
        if (inet_pton(AF_INET, tmp, h->a) == 1) {
            h->kind = HOST_V4;
            return 1;
        }
    }
    h->kind = HOST_NAME;
    return dns_name(s, n);
}

typedef struct allow_entry {
    host_id h;     /* for a wildcard: the domain after "*." */
    int wild;      /* "*.domain" */
    unsigned port; /* 0: any */
} allow_entry;

#define ENTRY_FORMS                                                                                \
    "host, host:port, *.domain, *.domain:port, an IPv4 address[:port], [IPv6]:port or a bare "     \
    "IPv6 address (a host: a DNS name of at most 253 bytes, letters digits - _ and dots)"

/* Parse an entry (docs/HTTP.md section 2). NULL when it is well formed, else what is wrong. */
static const char *entry_parse(allow_entry *e, const char *s)
{
    memset(e, 0, sizeof *e);
    if (!s || !*s)
        return "empty";
    if (strstr(s, "://"))
        return "a host, not a URL";
    const char *host = s, *port = NULL;
    size_t hl;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close)
            return "'[' without ']'";
        host = s + 1;
        hl = (size_t)(close - host);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return "after ']' only ':port' may follow";
        if (!host_parse(&e->h, host, hl) || e->h.kind != HOST_V6)
            return "not an IPv6 address between '[' and ']'";
    } else {
        const char *c1 = strchr(s, ':');
        if (c1 && strchr(c1 + 1, ':')) { /* bare IPv6 address: no port */
            if (!host_parse(&e->h, s, strlen(s)))
                return "not an IPv6 address (give a port as [IPv6]:port)";
            return NULL;
        }
        hl = c1 ? (size_t)(c1 - s) : strlen(s);
        if (c1)
            port = c1 + 1;
        if (hl > 2 && s[0] == '*' && s[1] == '.') {
            /* "*.0.0.1" names no domain: wildcards are for names, never addresses. */
            e->wild = 1;
            if (!host_parse(&e->h, s + 2, hl - 2) || e->h.kind != HOST_NAME)
                return "'*.' must be followed by a domain name";
        } else if (!host_parse(&e->h, host, hl) || e->h.kind == HOST_V6) {
            return "not a host name or IPv4 address";
        }
    }
    if (port) {
        unsigned long p = 0;
        size_t k = 0;
        for (; port[k] >= '0' && port[k] <= '9' && k < 6; k++)
            p = p * 10 + (unsigned long)(port[k] - '0');
        if (k == 0 || port[k] || p == 0 || p > 65535)
            return "the port must be 1..65535";
        e->port = (unsigned)p;
    }
    return NULL;
}

int ec_http_allow_check(const char *entry)
{
    allow_entry e;
    const char *why = entry_parse(&e, entry);
    if (!why)
        return 0;
    return ec_error_set(EC_EINVAL, "allow-list entry \"%.300s\": %s; expected " ENTRY_FORMS,
                        entry ? entry : "(null)", why);
}

static int entry_matches(const allow_entry *e, const host_id *h, unsigned port)
{
    if (e->port && e->port != port)
        return 0;
    if (e->wild) /* "*.example.com": a name ending in ".example.com", not example.com itself */
        return h->kind == HOST_NAME && h->n > e->h.n + 1 && h->s[h->n - e->h.n - 1] == '.' &&
               strncasecmp(h->s + h->n - e->h.n, e->h.s, e->h.n) == 0;
    if (e->h.kind != h->kind)
        return 0;
    if (h->kind == HOST_NAME)
        return e->h.n == h->n && strncasecmp(e->h.s, h->s, h->n) == 0;
    return memcmp(e->h.a, h->a, h->kind == HOST_V4 ? 4 : 16) == 0;
}

/* A malformed entry matches nothing. */
static int allowed_id(const char *const *allow, size_t allow_count, const host_id *h, unsigned port)
{
    for (size_t i = 0; i < allow_count; i++) {
        allow_entry e;
        if (allow[i] && !entry_parse(&e, allow[i]) && entry_matches(&e, h, port))
            return 1;
    }
    return 0;
}

int ec_http_allowed(const char *const *allow, size_t allow_count, const char *host, unsigned port)
{
    host_id h;
    if (!host || !host_parse(&h, host, strlen(host)))
        return 0;
    return allowed_id(allow, allow_count, &h, port);
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

    /* The allow-list decision, from libcurl's own parse of the URL; that very parse (the
     * CURLU handle) is what libcurl is given to connect with (CURLOPT_CURLU), so the host
     * judged is the host contacted: the URL is never parsed a second time. */
    CURLU *u = curl_url();
    char *host = NULL, *port_s = NULL, *zone = NULL;
    if (!u) {
        free(url);
        return ec_error_set(EC_ENOMEM, "http request: out of memory");
    }
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_get(u, CURLUPART_PORT, &port_s, CURLU_DEFAULT_PORT);
    if (uc != CURLUE_OK) {
        rc = outcome_error(out, EC_HTTP_ERR_FAILED, "invalid URL %.200s: %s", url,
                           curl_url_strerror(uc));
        curl_free(host);
        curl_free(port_s);
        curl_url_cleanup(u);
        free(url);
        return rc;
    }
    int has_zone = curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK;
    curl_free(zone);
    unsigned port = (unsigned)strtoul(port_s, NULL, 10);
    curl_free(port_s);
    const char *hs = host;
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') /* IPv6 literal */
        hs++, hl -= 2;
    host_id hid;
    int valid = host_parse(&hid, hs, hl);
    if (!valid || has_zone || !allowed_id(o.allow, o.allow_count, &hid, port)) {
        /* The whole host is judged (never a prefix): one too long or not a plain DNS name or
         * address (non-ASCII, empty labels, an IPv6 zone) is denied like one off the list. */
        rc = outcome_error(out, EC_HTTP_ERR_DENIED, "host %.*s%s port %u %s: nothing was sent",
                           (int)(hl < 300 ? hl : 300), hs, hl > 300 ? "..." : "", port,
                           !valid     ? "is not a DNS name of at most 253 bytes or an address"
                           : has_zone ? "has a zone id (the allow-list has none)"
                                      : "is not on the allow-list");
        curl_free(host);
        curl_url_cleanup(u);
        free(url);
        return rc;
    }
    curl_free(host);

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
        curl_url_cleanup(u);
        free(url);
        return ec_error_set(EC_ENOMEM, "http request: out of memory");
    }
    char method[EC_HTTP_METHOD_MAX + 1];
    snprintf(method, sizeof method, "%.*s", (int)req->method_len, req->method);
    curl_easy_setopt(c, CURLOPT_CURLU, u); /* the handle the decision was made on */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never a proxy from http_proxy & co */
    /* Nothing may send the request to another host or port than the one judged: no
     * Alt-Svc (another host) and no HSTS (another port). Both are off unless enabled; kept
     * off here explicitly. */
    curl_easy_setopt(c, CURLOPT_ALTSVC_CTRL, 0L);
    curl_easy_setopt(c, CURLOPT_HSTS_CTRL, 0L);
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
    curl_url_cleanup(u); /* after the easy handle, which was given it */
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
