/* actor/http_server.c: an HTTP/1.1 server on libmicrohttpd that hands complete requests to
 * one handler, one at a time, in arrival order, and answers 413/400/500/504/503 itself.
 *
 * Threads per server: MHD's polling thread parses requests, reads bodies and sends replies;
 * the worker thread calls the handler and on_refused, so every callback of one server runs
 * on one thread in arrival order; the watchdog thread answers 504 when a request's deadline
 * passes first. A complete request is queued and its connection suspended; whoever answers
 * first (worker or watchdog) marks the job answered under the server lock, builds the MHD
 * response and resumes the connection, exactly once. MHD then calls the access handler again,
 * which queues that response. A late reply is discarded and reported as a refusal.
 * A reply the handler holds (ec_http_reply_hold) goes to a fourth thread, the releaser, which
 * waits for the caller's release callback (typically: the chain is durable up to the reply's
 * event) before sending it, while the worker goes on with the next request: one sync then
 * covers the events of several requests. With on_late, an answer the watchdog gives at a
 * deadline while the handler is busy (the 504 of the running request, the answers of those
 * queued behind it) goes to a fifth thread, the late thread, which reports it to on_late
 * (the caller records it, durably) and only then sends it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>

#include "core/internal.h"
#include "actor/http.h"

#define DEFAULT_BODY_LIMIT (1u << 20)
#define DEFAULT_TIMEOUT_MS 10000u
#define DEFAULT_MAX_CONN   1024u
#define DEFAULT_IDLE_S     30u
#define DEFAULT_HEAD_MS    10000u
/* Descriptors kept free of connections for the rest of the process (chains, modules, the
 * control socket, other servers' listening sockets). */
#define FD_RESERVE 128u

/* ---- replies ---- */

struct hdr_off {
    size_t name_off, name_len, value_off, value_len;
};

struct job;

/* Header text and body live in growable buffers; header views are made from offsets by
 * ec_http_reply_msg, since a buffer may move while the handler is still adding to it. */
struct ec_http_reply {
    unsigned status;
    struct hdr_off *hdrs;
    size_t nh, caph;
    char *txt;
    size_t txt_len, txt_cap;
    uint8_t *body;
    size_t body_len, body_cap;
    ec_http_header *view;
    ec_http_msg msg;
    int oom;
    int held; /* ec_http_reply_hold: send only once release(token) returned */
    uint64_t token;
    struct job *job; /* the request it answers (ec_http_reply_begin); NULL outside a server */
};

int ec_http_reply_status(ec_http_reply *r, unsigned status)
{
    if (status < 100 || status > 599)
        return ec_error_set(EC_EINVAL, "http reply: status %u: must be 100..599", status);
    r->status = status;
    return 0;
}

int ec_http_reply_header(ec_http_reply *r, const char *name, const char *value)
{
    EC_REFUSE_NULL(r);
    size_t nl = name ? strlen(name) : 0, vl = value ? strlen(value) : 0;
    if (!ec_http_token_ok(name, nl, 1, EC_HTTP_NAME_MAX))
        return ec_error_set(EC_EINVAL,
                            "http reply: header name \"%.64s\": must be 1..%u token "
                            "characters",
                            name ? name : "", EC_HTTP_NAME_MAX);
    if (!ec_http_value_ok(value, vl))
        return ec_error_set(EC_EINVAL,
                            "http reply: header %s: value must be at most %u bytes without "
                            "NUL/CR/LF or surrounding blanks",
                            name, EC_HTTP_VALUE_MAX);
    if (vl == 0)
        return ec_error_set(EC_EINVAL,
                            "http reply: header %s: empty value (libmicrohttpd cannot "
                            "send one)",
                            name);
    if (strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Transfer-Encoding") == 0)
        return ec_error_set(EC_EINVAL, "http reply: header %s: set by the server, not the handler",
                            name);
    if (r->nh >= EC_HTTP_HEADERS_MAX)
        return ec_error_set(EC_EINVAL, "http reply: more than %u header fields",
                            EC_HTTP_HEADERS_MAX);
    if (ec_grow((void **)&r->hdrs, &r->caph, r->nh + 1, sizeof *r->hdrs) ||
        ec_grow((void **)&r->txt, &r->txt_cap, r->txt_len + nl + vl + 2, 1))
        return ec_error_set(EC_ENOMEM, "http reply: header %s", name);
    /* Each name and value is NUL-terminated too: libmicrohttpd takes C strings. */
    struct hdr_off *h = &r->hdrs[r->nh++];
    h->name_off = r->txt_len;
    h->name_len = nl;
    memcpy(r->txt + r->txt_len, name, nl + 1);
    r->txt_len += nl + 1;
    h->value_off = r->txt_len;
    h->value_len = vl;
    memcpy(r->txt + r->txt_len, value, vl + 1);
    r->txt_len += vl + 1;
    return 0;
}

int ec_http_reply_body(ec_http_reply *r, const void *data, size_t len)
{
    if (len && !data)
        return ec_error_set(EC_EINVAL, "http reply: body: NULL data");
    if (len > EC_HTTP_BODY_MAX - r->body_len)
        return ec_error_set(EC_EINVAL, "http reply: body over %u bytes", EC_HTTP_BODY_MAX);
    if (ec_grow((void **)&r->body, &r->body_cap, r->body_len + len, 1))
        return ec_error_set(EC_ENOMEM, "http reply: body of %zu bytes", r->body_len + len);
    if (len)
        memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    return 0;
}

void ec_http_reply_hold(ec_http_reply *r, uint64_t token)
{
    r->held = 1;
    r->token = token;
}

const ec_http_msg *ec_http_reply_msg(ec_http_reply *r)
{
    free(r->view);
    r->view = r->nh ? malloc(r->nh * sizeof *r->view) : NULL;
    memset(&r->msg, 0, sizeof r->msg);
    r->msg.kind = EC_HTTP_RESPONSE;
    r->msg.status = r->status;
    if (r->nh && !r->view) {
        r->oom = 1; /* the reply is then answered 500: never sent without its headers */
        return &r->msg;
    }
    for (size_t i = 0; i < r->nh; i++) {
        r->view[i].name = r->txt + r->hdrs[i].name_off;
        r->view[i].name_len = r->hdrs[i].name_len;
        r->view[i].value = r->txt + r->hdrs[i].value_off;
        r->view[i].value_len = r->hdrs[i].value_len;
    }
    r->msg.headers = r->view;
    r->msg.header_count = r->nh;
    r->msg.body = r->body;
    r->msg.body_len = r->body_len;
    return &r->msg;
}

static void reply_reset(ec_http_reply *r)
{
    free(r->hdrs);
    free(r->txt);
    free(r->body);
    free(r->view);
    memset(r, 0, sizeof *r);
    r->status = 200;
}

int ec_http_reply_new(ec_http_reply **out)
{
    ec_http_reply *r = calloc(1, sizeof *r);
    if (!r)
        return ec_error_set(EC_ENOMEM, "http reply: out of memory");
    reply_reset(r);
    *out = r;
    return 0;
}

void ec_http_reply_free(ec_http_reply *r)
{
    if (!r)
        return;
    reply_reset(r);
    free(r);
}

/* ---- requests ---- */

enum phase { PH_HEADERS, PH_BODY, PH_WAITING, PH_DONE };

typedef struct job job;
struct job {
    ec_http_server *srv;
    struct MHD_Connection *conn;
    job *next;        /* worker queue */
    int refs;         /* the connection's and the queue's; under srv->mu */
    enum phase phase; /* MHD thread only */
    int notice_only;  /* answered on the MHD thread already; the worker only reports it */
    int refusal;      /* answered with its refusal once on_refused has reported it */
    int answered;     /* under srv->mu: a response is chosen, the connection resumed */
    uint64_t deadline_ns;
    /* the request as received */
    char *target, *method;
    ec_http_header *hdrs;
    size_t nh, caph;
    int hdr_oom;
    int hdr_nul;            /* a header name or value held a NUL byte (header_cb) */
    const char *raw_target; /* where libmicrohttpd's copy of the target began: compared, never
                               read (see target_cut) */
    size_t raw_target_len;  /* strlen of it when uri_cb ran */
    uint8_t *body;
    size_t body_len, body_cap;
    int too_large;
    int counted; /* in srv->inflight */
    /* the answer */
    struct MHD_Response *resp;
    unsigned resp_status;
    /* a held reply, waiting in the release queue */
    struct MHD_Response *held_resp;
    unsigned held_status;
    uint64_t token;
    job *rnext;
    unsigned ref_status; /* refusal to report (0: none) */
    char reason[384];
    /* An answer the server gives off the worker through on_late (the late thread): under
     * srv->mu. late: queued for it (then the worker neither answers nor reports it);
     * late_done: on_late has returned. late_status and late_reason are the refusal reported,
     * written once before queueing (by the watchdog, the releaser or a stop) and never again
     * (the worker or the releaser may be rewriting `reason` meanwhile); late_own: the answer's
     * text is late_reason (else the short 504 text). */
    int late, late_done, late_own;
    unsigned late_status;
    char late_reason[384];
    job *lnext;
    /* With handler_begins, under srv->mu: begun, the handler called ec_http_reply_begin
     * before the deadline (it acts on the request); unbegun, the deadline came first: the
     * request was answered as one not handled, and the handler's reply is not reported. */
    int begun, unbegun;
};

/* A connection, tracked (MHD_OPTION_NOTIFY_CONNECTION) so that the watchdog can close one
 * whose request head is not complete by its deadline. Under srv->mu. */
typedef struct conn_t conn_t;
struct conn_t {
    conn_t *prev, *next;
    int fd;
    uint64_t head_deadline_ns; /* 0: not waiting for a head (reading a body, answering) */
    int cut;                   /* closed by the watchdog already */
};

struct ec_http_server {
    struct MHD_Daemon *d;
    ec_http_handler handler;
    ec_http_refused_cb on_refused;
    ec_http_refusal_cb on_refusal; /* in place of on_refused when set */
    ec_http_late_cb on_late;
    void *ctx;
    size_t body_limit;
    unsigned timeout_ms;
    unsigned port;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, watch_cv; /* watch_cv uses CLOCK_MONOTONIC */
    uint64_t watch_until_ns; /* when the sleeping watchdog wakes (UINT64_MAX: only when told;
                                0: it is awake and looks again before it sleeps) */
    job *head, *tail;        /* queue, arrival order */
    job *running;
    job *rhead, *rtail; /* held replies waiting for release, in the order they were made */
    ec_http_release_cb release;
    pthread_cond_t rel_cv;
    int worker_exited;
    int have_worker, have_watchdog, have_releaser;
    int stopping;
    int watch_done; /* set by stop once the worker and releaser left: the watchdog may go */
    conn_t *conns;  /* every open connection */
    unsigned head_timeout_ms;
    unsigned max_connections;
    uint64_t heads_cut; /* connections closed for a late head */
    /* Requests queued for the handler whose connection MHD has not completed yet: stop waits
     * (briefly) for them so that replies already chosen are sent before MHD closes. */
    unsigned inflight;
    pthread_cond_t idle_cv;
    pthread_t worker, watchdog, releaser, late;
    /* Answers the watchdog handed to the late thread (on_late), in deadline order. late_cv
     * wakes it and tells waiters that a job's late_done was set. */
    job *lhead, *ltail;
    pthread_cond_t late_cv;
    int have_late, late_exit;
    int late_gone; /* the late thread left: nothing more can be reported before it is sent */
    int handler_begins;
    ec_http_server_stats stats;
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void job_free(job *j)
{
    for (size_t i = 0; i < j->nh; i++) {
        free((char *)j->hdrs[i].name);
        free((char *)j->hdrs[i].value);
    }
    free(j->hdrs);
    free(j->target);
    free(j->method);
    free(j->body);
    if (j->resp)
        MHD_destroy_response(j->resp);
    if (j->held_resp)
        MHD_destroy_response(j->held_resp);
    free(j);
}

/* Drop one reference; takes the lock itself. */
static void job_unref(job *j)
{
    ec_http_server *s = j->srv;
    pthread_mutex_lock(&s->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&s->mu);
    if (left == 0)
        job_free(j);
}

static struct MHD_Response *text_response(const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (r)
        MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    return r;
}

/* Record why a request gets `status` instead of a handler reply, for on_refused. */
static void set_refusal(job *j, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_refusal(job *j, unsigned status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->reason, sizeof j->reason, fmt, ap);
    va_end(ap);
    /* A reason may quote what arrived (a header value may hold any byte from 0x80 on) and be
     * cut inside a character: the format holds UTF-8 text only (found by fuzz_http_server). */
    ec_utf8_scrub(j->reason);
    j->ref_status = status;
}

/* The canned answer to a refusal: the status and the reason as text. */
static struct MHD_Response *refusal_response(job *j)
{
    char text[sizeof j->reason + 2];
    snprintf(text, sizeof text, "%s\n", j->reason);
    return text_response(text);
}

/* The watchdog needs waking only for a deadline earlier than the one it sleeps until: a
 * request's is never earlier than those already watched (arrival order), so that is only
 * when it watches none: one context switch per request saved. */
static void wake_watchdog_locked(ec_http_server *s, uint64_t deadline_ns)
{
    if (deadline_ns < s->watch_until_ns)
        pthread_cond_signal(&s->watch_cv);
}

/* Hand j's answer to the late thread (under s->mu; j claimed already, its connection still
 * suspended): reported to on_late with this status and reason, then sent (the reason as its
 * text when own, else the short 504 text). The late thread takes a reference of its own. */
static void late_queue_locked(ec_http_server *s, job *j, unsigned status, const char *reason,
                              int own)
{
    j->late = 1;
    j->late_status = status;
    if (reason != j->late_reason)
        snprintf(j->late_reason, sizeof j->late_reason, "%s", reason);
    j->late_own = own;
    j->refs++;
    j->lnext = NULL;
    if (s->ltail)
        s->ltail->lnext = j;
    else
        s->lhead = j;
    s->ltail = j;
    pthread_cond_broadcast(&s->late_cv);
}

int ec_http_reply_begin(ec_http_reply *r)
{
    job *j = r ? r->job : NULL;
    if (!j)
        return 0; /* not a server's reply (a replay's): no deadline can have passed */
    ec_http_server *s = j->srv;
    pthread_mutex_lock(&s->mu);
    /* Only the watchdog claims the running request: answered means its deadline came first. */
    int late = j->answered;
    if (!late)
        j->begun = 1;
    pthread_mutex_unlock(&s->mu);
    if (late)
        return ec_error_set(EC_ETIMEOUT,
                            "http server: no reply within %u ms: answered before the handler "
                            "began",
                            s->timeout_ms);
    return 0;
}

static void arm_head_locked(ec_http_server *s, conn_t *c)
{
    c->head_deadline_ns = mono_ns() + (uint64_t)s->head_timeout_ms * 1000000ull;
    wake_watchdog_locked(s, c->head_deadline_ns);
}

static conn_t *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        conn ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
    return ci ? ci->socket_context : NULL;
}

/* MHD's polling thread, at accept and at close (before it closes the socket, so the
 * watchdog, under the lock, never shuts down a descriptor reused meanwhile). A connection
 * that cannot be tracked is still served, without a head deadline. */
static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    ec_http_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_t *c = ci ? calloc(1, sizeof *c) : NULL;
        *socket_context = c;
        if (!c)
            return;
        c->fd = ci->connect_fd;
        pthread_mutex_lock(&s->mu);
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        arm_head_locked(s, c);
        pthread_mutex_unlock(&s->mu);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_t *c = *socket_context;
        if (!c)
            return;
        pthread_mutex_lock(&s->mu);
        if (c->prev)
            c->prev->next = c->next;
        else
            s->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        pthread_mutex_unlock(&s->mu);
        free(c);
        *socket_context = NULL;
    }
}

/* A request head not complete by its deadline (watchdog, under the lock): answered 408 if the
 * socket takes it at once (libmicrohttpd writes nothing while it waits for a head, so the
 * bytes cannot interleave with its own), then shut down both ways; libmicrohttpd sees the end
 * of input and closes the connection, freeing its slot. Not reported: there is no request. */
static void cut_head_locked(ec_http_server *s, conn_t *c)
{
    static const char msg[] = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                              "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 54\r\n"
                              "\r\n408 Request Timeout: the request head came too slowly\n";
    c->cut = 1;
    c->head_deadline_ns = 0;
    s->heads_cut++;
    (void)!send(c->fd, msg, sizeof msg - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(c->fd, SHUT_RDWR);
}

static void enqueue_locked(ec_http_server *s, job *j)
{
    j->refs++;
    j->next = NULL;
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    s->stats.queued++;
    pthread_cond_signal(&s->work_cv);
    if (!j->answered)
        wake_watchdog_locked(s, j->deadline_ns);
}

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL; /* the access handler answers 500 for a NULL job */
    j->srv = cls;
    j->conn = conn;
    j->refs = 1;
    j->target = strdup(uri ? uri : "");
    j->raw_target = uri;
    j->raw_target_len = uri ? strlen(uri) : 0;
    if (!j->target) {
        free(j);
        return NULL;
    }
    return j;
}

static enum MHD_Result header_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
    job *j = cls;
    (void)kind;
    /* libmicrohttpd hands C strings on to the access handler: a NUL inside a field cuts it
     * there, and the record would not be what arrived. Refused when the sizes tell (0.9.75's
     * do not: it measures them with strlen, so there the cut goes unseen; docs/HTTP.md). */
    if (strlen(key) != key_size || strlen(value) != value_size)
        j->hdr_nul = 1;
    /* Optional whitespace around a field value is not part of it (RFC 9112 5.1); this
     * libmicrohttpd strips only the leading side. */
    while (value_size && (value[0] == ' ' || value[0] == '\t'))
        value++, value_size--;
    while (value_size && (value[value_size - 1] == ' ' || value[value_size - 1] == '\t'))
        value_size--;
    if (ec_grow((void **)&j->hdrs, &j->caph, j->nh + 1, sizeof *j->hdrs)) {
        j->hdr_oom = 1;
        return MHD_NO;
    }
    char *k = malloc(key_size + 1), *v = malloc(value_size + 1);
    if (!k || !v) {
        free(k);
        free(v);
        j->hdr_oom = 1;
        return MHD_NO;
    }
    memcpy(k, key, key_size);
    k[key_size] = 0;
    if (value_size)
        memcpy(v, value, value_size);
    v[value_size] = 0;
    j->hdrs[j->nh++] = (ec_http_header){k, key_size, v, value_size};
    return MHD_YES;
}

static void notify_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                             enum MHD_RequestTerminationCode toe)
{
    ec_http_server *s = cls;
    job *j = *req_cls;
    if (j && j->counted) {
        pthread_mutex_lock(&s->mu);
        if (--s->inflight == 0)
            pthread_cond_broadcast(&s->idle_cv);
        pthread_mutex_unlock(&s->mu);
    }
    if (j)
        job_unref(j);
    *req_cls = NULL;
    /* The connection waits for its next request head now (kept alive; if it closes instead,
     * it is forgotten next). */
    conn_t *c = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? conn_of(conn) : NULL;
    if (c) {
        pthread_mutex_lock(&s->mu);
        if (!c->cut)
            arm_head_locked(s, c);
        pthread_mutex_unlock(&s->mu);
    }
}

/* The request as a message; refusals (status and reason given) keep only what the format
 * can hold. */
static void job_msg_as(const job *j, ec_http_msg *m, ec_http_kind kind, unsigned status,
                       const char *reason)
{
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->method = j->method;
    m->method_len = j->method ? strlen(j->method) : 0;
    m->target = j->target;
    m->target_len = strlen(j->target);
    m->headers = j->hdrs;
    m->header_count = j->nh;
    m->body = j->body;
    m->body_len = j->body_len;
    if (kind == EC_HTTP_REFUSAL) {
        m->status = status;
        m->reason = reason;
        m->reason_len = strlen(reason);
        m->body = NULL;
        m->body_len = 0;
        /* A malformed request may carry fields the format refuses: drop them rather than lose
         * the refusal (the reason says what was wrong). */
        if (ec_http_msg_check(m) != 0) {
            m->headers = NULL;
            m->header_count = 0;
            if (!ec_http_token_ok(m->method, m->method_len, 0, EC_HTTP_METHOD_MAX))
                m->method_len = 0;
            if (ec_http_msg_check(m) != 0)
                m->target_len = 0;
        }
    }
}

static void job_msg(const job *j, ec_http_msg *m, ec_http_kind kind)
{
    job_msg_as(j, m, kind, j->ref_status, j->reason);
}

/* Whether refusals are reported at all (then those found on arrival wait for it). */
static int reports(const ec_http_server *s)
{
    return s->on_refused || s->on_refusal;
}

/* The most of a body over the limit that is read (and dropped) before the 413. */
static uint64_t drain_max(const ec_http_server *s)
{
    uint64_t m = 4 * (uint64_t)s->body_limit;
    return m < (1u << 20) ? (1u << 20) : m;
}

/* Whether the target libmicrohttpd parsed was cut short by a NUL byte. It hands the target on
 * as a C string and no API tells its length; but in 0.9.75 the target and the HTTP version
 * are both views into the request line, the version right after the target's terminator. So
 * a version that starts further on means bytes after a NUL were dropped. Only the addresses
 * are compared (nothing is read); when the version is not within a target's length after it
 * (another libmicrohttpd, or HTTP/0.9), nothing can be told and the target is taken as is. */
static int target_cut(const job *j, const char *version)
{
    if (!j->raw_target || !version)
        return 0;
    uintptr_t end = (uintptr_t)j->raw_target + j->raw_target_len + 1, v = (uintptr_t)version;
    return v > end && v - end <= EC_HTTP_TARGET_MAX + 16u;
}

/* A refusal found while reading (400, 413, 500 out of memory, 503 stopping). It is reported
 * before it is sent, so that a caller recording refusals has the record first: queued for
 * the worker (in arrival order, on_refused on its thread) with the connection suspended, as
 * a request waits for its reply; the worker then answers it. Once the server is stopping,
 * with on_late: handed to the late thread (reported to on_late, then sent) without waiting
 * for a handler still running; once that thread has left too, nothing can report it and the
 * connection is closed unanswered, as stop closes those still being read. Without
 * on_refused, or stopping without on_late, it is answered here at once, reported after. */
static enum MHD_Result refuse_now(ec_http_server *s, job *j, struct MHD_Connection *conn)
{
    pthread_mutex_lock(&s->mu);
    if (reports(s) && !s->stopping) {
        s->stats.received++;
        j->refusal = 1;
        j->deadline_ns = mono_ns() + (uint64_t)s->timeout_ms * 1000000ull;
        j->phase = PH_WAITING;
        j->counted = 1;
        s->inflight++;
        enqueue_locked(s, j);
        MHD_suspend_connection(conn); /* under the lock, as for a request */
        pthread_mutex_unlock(&s->mu);
        return MHD_YES;
    }
    if (s->stopping && s->on_late) {
        if (s->late_gone) {
            pthread_mutex_unlock(&s->mu);
            j->phase = PH_DONE;
            return MHD_NO;
        }
        s->stats.received++;
        j->refusal = 1;
        j->phase = PH_WAITING;
        j->counted = 1;
        s->inflight++;
        j->answered = 1;
        j->notice_only = 1;
        late_queue_locked(s, j, j->ref_status, j->reason, 1);
        enqueue_locked(s, j); /* counted by the worker, or by stop once it left; not reported */
        MHD_suspend_connection(conn);
        pthread_mutex_unlock(&s->mu);
        return MHD_YES;
    }
    pthread_mutex_unlock(&s->mu);
    struct MHD_Response *r = refusal_response(j);
    if (!r)
        return MHD_NO;
    enum MHD_Result ok = MHD_queue_response(conn, j->ref_status, r);
    MHD_destroy_response(r);
    j->phase = PH_DONE;
    j->notice_only = 1;
    pthread_mutex_lock(&s->mu);
    s->stats.received++;
    j->answered = 1;
    enqueue_locked(s, j); /* reported by the worker, or by ec_http_server_stop once it left */
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls)
{
    ec_http_server *s = cls;
    job *j = *req_cls;
    (void)url;
    if (!j) { /* out of memory in uri_cb */
        struct MHD_Response *r = text_response("500 out of memory\n");
        enum MHD_Result ok = r ? MHD_queue_response(conn, 500, r) : MHD_NO;
        if (r)
            MHD_destroy_response(r);
        return ok;
    }
    switch (j->phase) {
    case PH_HEADERS: {
        conn_t *c = conn_of(conn);
        if (c) { /* the head is complete: its deadline no longer applies */
            pthread_mutex_lock(&s->mu);
            c->head_deadline_ns = 0;
            pthread_mutex_unlock(&s->mu);
        }
        j->method = strdup(method);
        MHD_get_connection_values_n(conn, MHD_HEADER_KIND, header_cb, j);
        if (!j->method || j->hdr_oom) {
            set_refusal(j, 500, "500 out of memory reading the request");
            return refuse_now(s, j, conn);
        }
        if (j->hdr_nul) {
            set_refusal(j, 400, "400 Bad Request: a NUL byte in a header field");
            return refuse_now(s, j, conn);
        }
        if (target_cut(j, version)) {
            set_refusal(j, 400, "400 Bad Request: a NUL byte in the target");
            return refuse_now(s, j, conn);
        }
        ec_http_msg m;
        job_msg(j, &m, EC_HTTP_REQUEST);
        m.body_len = 0;
        if (!ec_http_target_ok(j->target, strlen(j->target))) {
            set_refusal(j, 400,
                        "400 Bad Request: target must be an origin-form path starting with '/' "
                        "in visible ASCII, at most %u bytes",
                        EC_HTTP_TARGET_MAX);
            return refuse_now(s, j, conn);
        }
        if (ec_http_msg_check(&m) != 0) {
            set_refusal(j, 400, "400 Bad Request: %s", ec_error_last()->message);
            return refuse_now(s, j, conn);
        }
        /* Framing this libmicrohttpd lets through but RFC 9112 forbids: refused, so that two
         * parsers can never disagree on where a body ends (request smuggling). */
        size_t n_cl = 0, n_te = 0, n_host = 0;
        for (size_t i = 0; i < j->nh; i++) {
            n_cl += strcasecmp(j->hdrs[i].name, "Content-Length") == 0;
            n_te += strcasecmp(j->hdrs[i].name, "Transfer-Encoding") == 0;
            n_host += strcasecmp(j->hdrs[i].name, "Host") == 0;
        }
        if (n_cl > 1 || (n_cl && n_te) || n_te > 1) {
            set_refusal(j, 400, "400 Bad Request: %s",
                        n_cl && n_te ? "both Content-Length and Transfer-Encoding"
                        : n_te       ? "more than one Transfer-Encoding"
                                     : "more than one Content-Length");
            return refuse_now(s, j, conn);
        }
        /* libmicrohttpd 0.9.75 frames a body as chunked only when the (first) Transfer-Encoding
         * is exactly "chunked" in any case after leading blanks; any other value (another
         * coding, a list, trailing blanks) it reads as a body without end, so the request would
         * hang until the idle timeout. Only what it frames is accepted: its own raw value is
         * checked, not our trimmed copy. The connection closes after the answer (libmicrohttpd
         * reads no further request from a connection answered before its body). */
        const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
        if (n_te && (!te || strcasecmp(te, "chunked") != 0)) {
            set_refusal(j, 501,
                        "501 Not Implemented: Transfer-Encoding \"%.64s\": only \"chunked\" is "
                        "understood",
                        te ? te : "");
            return refuse_now(s, j, conn);
        }
        if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 && n_host != 1) {
            set_refusal(j, 400,
                        "400 Bad Request: an HTTP/1.1 request needs exactly one Host "
                        "header (RFC 9112 3.2)");
            return refuse_now(s, j, conn);
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno == 0 && *end == 0 && n > s->body_limit) {
                set_refusal(j, 413,
                            "413 Payload Too Large: body of %llu bytes over the limit of "
                            "%zu bytes",
                            n, s->body_limit);
                /* A client may be sending the body already: answered at once, the close
                 * that follows could reset its connection before it reads the 413. So a
                 * body of a size worth waiting for is read and dropped first; a larger one
                 * is answered at once. */
                if (n > drain_max(s))
                    return refuse_now(s, j, conn);
                j->too_large = 1;
            }
        }
        j->phase = PH_BODY;
        return MHD_YES;
    }
    case PH_BODY:
        if (*upload_data_size) {
            size_t n = *upload_data_size;
            *upload_data_size = 0;
            if (!j->too_large && n > s->body_limit - j->body_len) {
                /* Chunked upload over the limit: read and drop the rest, then answer 413
                 * (MHD accepts a response only before or after the whole body). */
                j->too_large = 1;
                free(j->body);
                j->body = NULL;
                j->body_cap = 0;
            }
            if (j->too_large) {
                j->body_len += n;
                /* Dropped, but not for ever: a body past this closes the connection. */
                return j->body_len > drain_max(s) ? MHD_NO : MHD_YES;
            }
            if (ec_grow((void **)&j->body, &j->body_cap, j->body_len + n, 1))
                return MHD_NO;
            memcpy(j->body + j->body_len, upload_data, n);
            j->body_len += n;
            return MHD_YES;
        }
        if (j->too_large) {
            if (!j->ref_status) /* a declared length said so already */
                set_refusal(j, 413,
                            "413 Payload Too Large: chunked body over the limit of %zu bytes",
                            s->body_limit);
            j->body_len = 0;
            return refuse_now(s, j, conn);
        }
        pthread_mutex_lock(&s->mu);
        if (s->stopping) {
            pthread_mutex_unlock(&s->mu);
            set_refusal(j, 503, "503 Service Unavailable: the server is stopping");
            return refuse_now(s, j, conn);
        }
        s->stats.received++;
        j->deadline_ns = mono_ns() + (uint64_t)s->timeout_ms * 1000000ull;
        j->phase = PH_WAITING;
        j->counted = 1;
        s->inflight++;
        enqueue_locked(s, j);
        /* Suspend under the lock: nobody can answer (and resume) before this returns. */
        MHD_suspend_connection(conn);
        pthread_mutex_unlock(&s->mu);
        return MHD_YES;
    case PH_WAITING: {
        /* Resumed: the answer was chosen by the worker or the watchdog. */
        j->phase = PH_DONE;
        if (!j->resp)
            return MHD_NO;
        return MHD_queue_response(conn, j->resp_status, j->resp);
    }
    case PH_DONE:
        break;
    }
    return MHD_NO;
}

/* Choose the answer for j unless someone already did; called with s->mu held. Returns 1 when
 * the caller won and must build the response and resume the connection (without the lock). */
static int claim_locked(job *j)
{
    if (j->answered)
        return 0;
    j->answered = 1;
    return 1;
}

static void resume_with(job *j, unsigned status, struct MHD_Response *r)
{
    j->resp_status = status;
    j->resp = r; /* NULL: MHD closes the connection (out of memory) */
    MHD_resume_connection(j->conn);
}

/* Answered with j's own refusal (status and reason). */
static void resume_refusal(job *j)
{
    resume_with(j, j->ref_status, refusal_response(j));
}

static struct MHD_Response *reply_response(ec_http_reply *rp, char *why, size_t why_len)
{
    const ec_http_msg *m = ec_http_reply_msg(rp);
    if (rp->oom) {
        snprintf(why, why_len, "out of memory building the reply");
        return NULL;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(
        m->body_len, m->body_len ? (void *)m->body : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!r) {
        snprintf(why, why_len, "out of memory building the reply");
        return NULL;
    }
    for (size_t i = 0; i < m->header_count; i++) {
        if (MHD_add_response_header(r, m->headers[i].name, m->headers[i].value) != MHD_YES) {
            snprintf(why, why_len, "libmicrohttpd refused reply header %s", m->headers[i].name);
            MHD_destroy_response(r);
            return NULL;
        }
    }
    return r;
}

/* Report j's refusal. unsent: its answer has not left yet, and with on_refusal and a
 * releaser the caller may hold it: returns 1 with *token set when it does. */
static int report_refusal(ec_http_server *s, job *j, int unsent, uint64_t *token)
{
    if (!reports(s) || !j->ref_status)
        return 0;
    ec_http_msg m;
    job_msg(j, &m, EC_HTTP_REFUSAL);
    if (!s->on_refusal) {
        s->on_refused(s->ctx, &m);
        return 0;
    }
    int may_hold = unsent && s->release;
    uint64_t t = 0;
    if (s->on_refusal(s->ctx, &m, may_hold ? &t : NULL) != 1 || !may_hold)
        return 0;
    *token = t;
    return 1;
}

/* Report a refusal whose answer has left already. */
static void report(ec_http_server *s, job *j)
{
    report_refusal(s, j, 0, NULL);
}

/* Under s->mu: whether j's answer went through on_late, once on_late has returned for it, so
 * that what the worker reports of j comes after that record (its order in the caller's
 * history is the order of events). The late thread needs nothing the waiter holds. */
static int late_wait_locked(ec_http_server *s, job *j)
{
    while (j->late && !j->late_done)
        pthread_cond_wait(&s->late_cv, &s->mu);
    return j->late;
}

/* Queue j's answer r for the releaser (under s->mu): sent once release(token) returned. */
static void hold_locked(ec_http_server *s, job *j, struct MHD_Response *r, unsigned status,
                        uint64_t token)
{
    j->held_resp = r;
    j->held_status = status;
    j->token = token;
    j->refs++;
    j->rnext = NULL;
    if (s->rtail)
        s->rtail->rnext = j;
    else
        s->rhead = j;
    s->rtail = j;
    pthread_cond_signal(&s->rel_cv);
    wake_watchdog_locked(s, j->deadline_ns);
}

static void run_job(ec_http_server *s, job *j)
{
    ec_http_msg req;
    job_msg(j, &req, EC_HTTP_REQUEST);
    ec_http_reply rp;
    memset(&rp, 0, sizeof rp);
    reply_reset(&rp);
    rp.job = j;
    ec_error_clear();
    int rc = s->handler(s->ctx, &req, &rp);
    char why[256] = "";
    struct MHD_Response *r = NULL;
    unsigned status = 500;
    int from_reply = 0;
    if (rc == 0) {
        r = reply_response(&rp, why, sizeof why);
        status = rp.status;
        from_reply = r != NULL;
    } else {
        const ec_error *e = ec_error_last();
        snprintf(why, sizeof why, "%s%s%s", rc == EC_ETRAP ? "the actor trapped" : "handler failed",
                 e ? ": " : "", e ? e->message : "");
    }
    if (!r) {
        set_refusal(j, 500, "500 Internal Server Error: %s", why);
        r = refusal_response(j);
        status = 500;
    }
    pthread_mutex_lock(&s->mu);
    s->stats.handled++;
    if (from_reply && rp.held && s->release && !j->answered) {
        s->running = NULL;
        /* Held: the releaser sends it (or its refusal) later; nothing to report now. */
        hold_locked(s, j, r, status, rp.token);
        pthread_mutex_unlock(&s->mu);
        reply_reset(&rp);
        return;
    }
    int reported = 0;
    if (!from_reply && !j->answered && reports(s)) {
        /* The server's own 500: reported before it is sent, as refusals on arrival are (a
         * trapped actor's trap is then recorded before the client hears of it). Still the
         * running job meanwhile, so that the watchdog watches its deadline. */
        pthread_mutex_unlock(&s->mu);
        uint64_t token = 0;
        int held = report_refusal(s, j, 1, &token);
        reported = 1;
        pthread_mutex_lock(&s->mu);
        if (held && !j->answered) {
            s->running = NULL;
            hold_locked(s, j, r, status, token);
            pthread_mutex_unlock(&s->mu);
            reply_reset(&rp);
            return;
        }
    }
    s->running = NULL;
    int won = claim_locked(j);
    pthread_mutex_unlock(&s->mu);
    if (won) {
        resume_with(j, status, r);
    } else {
        if (r)
            MHD_destroy_response(r);
        pthread_mutex_lock(&s->mu);
        int unbegun = j->unbegun;
        int late = late_wait_locked(s, j); /* the 504 itself, recorded at the deadline, first */
        pthread_mutex_unlock(&s->mu);
        if (unbegun) {
            /* Answered before the handler began (ec_http_reply_begin): the 504 of a request
             * not handled is all there is to report, through on_late already or now. */
            j->ref_status = 504;
            memcpy(j->reason, j->late_reason, sizeof j->reason);
            reported = late;
        } else {
            set_refusal(j, 504,
                        "504 Gateway Timeout: the handler took longer than %u ms; its reply "
                        "(status %u) was discarded",
                        s->timeout_ms, status);
            reported = 0; /* the client got 504 instead: that is reported too */
        }
    }
    reply_reset(&rp);
    if (!reported)
        report(s, j);
}

/* A refusal found on arrival (refuse_now): reported, then answered (or held, for the
 * releaser to answer) unless the watchdog or stop answered it meanwhile, with the same
 * refusal. */
static void refuse_job(ec_http_server *s, job *j)
{
    uint64_t token = 0;
    int held = report_refusal(s, j, 1, &token);
    struct MHD_Response *r = held ? refusal_response(j) : NULL;
    pthread_mutex_lock(&s->mu);
    s->running = NULL;
    s->stats.refused++;
    if (held && !j->answered) {
        hold_locked(s, j, r, j->ref_status, token);
        pthread_mutex_unlock(&s->mu);
        return;
    }
    int won = claim_locked(j);
    pthread_mutex_unlock(&s->mu);
    if (r)
        MHD_destroy_response(r);
    if (won)
        resume_refusal(j);
}

static void *worker_main(void *arg)
{
    ec_http_server *s = arg;
    pthread_setname_np(pthread_self(), "ec-http-worker"); /* for top -H, perf, gdb */
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stopping)
            pthread_cond_wait(&s->work_cv, &s->mu);
        if (!s->head && s->stopping)
            break;
        job *j = s->head;
        s->head = j->next;
        if (!s->head)
            s->tail = NULL;
        s->stats.queued--;
        if (j->answered || j->notice_only) {
            /* Answered already (timed out, or stopped, while waiting; refused while stopping):
             * report only, unless on_late took it (then only wait for that, to keep the order
             * of reports). */
            if (j->ref_status)
                s->stats.refused++;
            int late = late_wait_locked(s, j);
            pthread_mutex_unlock(&s->mu);
            if (!late)
                report(s, j);
        } else if (j->refusal) {
            s->running = j; /* its deadline watched while on_refused runs */
            pthread_mutex_unlock(&s->mu);
            refuse_job(s, j);
        } else {
            s->running = j;
            pthread_mutex_unlock(&s->mu);
            run_job(s, j);
            pthread_mutex_lock(&s->mu);
            if (j->ref_status)
                s->stats.refused++;
            pthread_mutex_unlock(&s->mu);
        }
        job_unref(j);
        pthread_mutex_lock(&s->mu);
    }
    s->worker_exited = 1;
    pthread_cond_broadcast(&s->rel_cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Sends held replies once released, in the order the handler made them. A reply whose
 * deadline passed meanwhile was answered 504 by the watchdog: it is discarded, and the
 * refusal goes through the worker queue so that on_refused stays on the worker thread (with
 * on_late, the 504 was reported there already). A failed release is answered 500: with on_late
 * through the late thread, reported before it is sent; without, sent, then reported. */
static void *releaser_main(void *arg)
{
    ec_http_server *s = arg;
    pthread_setname_np(pthread_self(), "ec-http-release"); /* for top -H, perf, gdb */
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->rhead && !(s->stopping && s->worker_exited))
            pthread_cond_wait(&s->rel_cv, &s->mu);
        /* Left at the head while release runs, so that the watchdog still sees its deadline;
         * only this thread removes from the release queue. */
        job *j = s->rhead;
        if (!j)
            break;
        pthread_mutex_unlock(&s->mu);
        ec_error_clear();
        int rc = s->release(s->ctx, j->token);
        pthread_mutex_lock(&s->mu);
        s->rhead = j->rnext;
        if (!s->rhead)
            s->rtail = NULL;
        int won = claim_locked(j);
        struct MHD_Response *r = j->held_resp;
        j->held_resp = NULL;
        pthread_mutex_unlock(&s->mu);
        if (won && rc == 0) {
            resume_with(j, j->held_status, r);
        } else {
            MHD_destroy_response(r);
            if (won) {
                const ec_error *e = ec_error_last();
                set_refusal(j, 500,
                            "500 Internal Server Error: the reply could not be released: %s",
                            e ? e->message : "release failed");
                if (!s->on_late)
                    resume_refusal(j);
            } else {
                set_refusal(j, 504,
                            "504 Gateway Timeout: the reply (status %u) was not released within "
                            "%u ms and was discarded",
                            j->held_status, s->timeout_ms);
            }
            pthread_mutex_lock(&s->mu);
            if (won && s->on_late) /* before the worker can see it: it must not report it */
                late_queue_locked(s, j, 500, j->reason, 1);
            j->notice_only = 1;
            enqueue_locked(s, j); /* reported by the worker, or by stop once it left */
            pthread_mutex_unlock(&s->mu);
        }
        job_unref(j);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Answers 504 to every request whose deadline passed, oldest first. The running job and the
 * queue are in arrival order, so deadlines increase along them and the first unanswered one
 * is the next to expire. It runs until stop has joined the worker and the releaser, so that a
 * handler still running when the server stops is answered 504 at its deadline all the same
 * (stop waits for the handler; its client must not). */
static void *watchdog_main(void *arg)
{
    ec_http_server *s = arg;
    pthread_setname_np(pthread_self(), "ec-http-watch"); /* for top -H, perf, gdb */
    pthread_mutex_lock(&s->mu);
    while (!s->watch_done) {
        uint64_t now = mono_ns(), until = UINT64_MAX;
        /* Heads late (a client sending a head slowly or not at all holds a connection slot) */
        for (conn_t *c = s->conns; c; c = c->next) {
            if (!c->head_deadline_ns)
                continue;
            if (c->head_deadline_ns <= now)
                cut_head_locked(s, c);
            else if (c->head_deadline_ns < until)
                until = c->head_deadline_ns;
        }
        job *next = NULL;
        for (job *q = s->rhead; !next && q; q = q->rnext)
            if (!q->answered)
                next = q;
        if (!next && s->running && !s->running->answered)
            next = s->running;
        for (job *q = s->head; !next && q; q = q->next)
            if (!q->answered)
                next = q;
        if (!next || now < next->deadline_ns) {
            if (next && next->deadline_ns < until)
                until = next->deadline_ns;
            s->watch_until_ns = until;
            if (until == UINT64_MAX) {
                pthread_cond_wait(&s->watch_cv, &s->mu);
            } else {
                struct timespec ts = {(time_t)(until / 1000000000ull),
                                      (long)(until % 1000000000ull)};
                pthread_cond_timedwait(&s->watch_cv, &s->mu, &ts);
            }
            s->watch_until_ns = 0;
            continue;
        }
        claim_locked(next);
        /* A refusal not yet held keeps its own answer; a held one gets 504 as a held reply
         * does (the releaser then rewrites its reason, so it must not be read here). */
        int held = next->held_resp != NULL, running = next == s->running;
        int own = next->refusal && !held;
        int waiting = !running && !held && !next->refusal;
        /* A handler that tells when it begins (handler_begins) and has not: the request is
         * answered as not handled, and the handler, told so by ec_http_reply_begin, leaves it
         * alone. So the caller records no refusal of a request it has not recorded yet. */
        next->unbegun = running && !next->refusal && s->handler_begins && !next->begun;
        if (waiting)
            set_refusal(next, 504,
                        "504 Gateway Timeout: no reply within %u ms (waited for earlier requests; "
                        "the handler was not called)",
                        s->timeout_ms);
        if (own || waiting)
            memcpy(next->late_reason, next->reason, sizeof next->reason);
        else if (held)
            snprintf(next->late_reason, sizeof next->late_reason,
                     "504 Gateway Timeout: the reply (status %u) was not released within %u ms "
                     "and was discarded",
                     next->held_status, s->timeout_ms);
        else if (next->unbegun)
            snprintf(next->late_reason, sizeof next->late_reason,
                     "504 Gateway Timeout: no reply within %u ms (the handler had not begun; "
                     "the request was not handled)",
                     s->timeout_ms);
        else
            snprintf(next->late_reason, sizeof next->late_reason,
                     "504 Gateway Timeout: no reply within %u ms; the handler was still "
                     "running (its reply, if any, is discarded)",
                     s->timeout_ms);
        /* With on_late the answer is reported before it is sent, on the late thread, so that
         * this thread goes on watching the other deadlines while the record is made durable.
         * A held reply's 504 too: its record waits for the durability that is late, and so
         * does the 504 (a disk that does not return holds it as it holds the reply). Not a
         * refusal on_refusal is reporting right now (it keeps its one record). */
        if (s->on_late && !(next->refusal && running)) {
            late_queue_locked(s, next, own ? next->ref_status : 504, next->late_reason, own);
            continue;
        }
        /* The connection stays suspended (and the job alive) until resumed below: only the
         * claimer resumes. */
        pthread_mutex_unlock(&s->mu);
        if (own) { /* not recorded in time: answered all the same, reported after */
            resume_refusal(next);
        } else {
            char text[128];
            snprintf(text, sizeof text, "504 Gateway Timeout: no reply within %u ms\n",
                     s->timeout_ms);
            resume_with(next, 504, text_response(text));
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Reports each answer handed to it (late_queue_locked: by the watchdog at a deadline, by the
 * releaser for a failed release, by a stop) to on_late, then sends it: the caller has its
 * record first. One at a time, in the order they were handed over. */
static void *late_main(void *arg)
{
    ec_http_server *s = arg;
    pthread_setname_np(pthread_self(), "ec-http-late"); /* for top -H, perf, gdb */
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->lhead && !s->late_exit)
            pthread_cond_wait(&s->late_cv, &s->mu);
        job *j = s->lhead;
        if (!j) {
            s->late_gone = 1; /* under the lock: refuse_now hands it nothing more */
            break;
        }
        s->lhead = j->lnext;
        if (!s->lhead)
            s->ltail = NULL;
        pthread_mutex_unlock(&s->mu);
        /* What this reads of j was written before it was queued and is not written again: the
         * request as received, late_status and late_reason. */
        ec_http_msg m;
        job_msg_as(j, &m, EC_HTTP_REFUSAL, j->late_status, j->late_reason);
        ec_error_clear();
        s->on_late(s->ctx, &m);
        char text[sizeof j->late_reason + 2];
        if (j->late_own)
            snprintf(text, sizeof text, "%s\n", j->late_reason);
        else
            snprintf(text, sizeof text, "504 Gateway Timeout: no reply within %u ms\n",
                     s->timeout_ms);
        resume_with(j, j->late_status, text_response(text));
        pthread_mutex_lock(&s->mu);
        j->late_done = 1;
        pthread_cond_broadcast(&s->late_cv);
        pthread_mutex_unlock(&s->mu);
        job_unref(j);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

unsigned ec_http_server_port(const ec_http_server *srv)
{
    return srv ? srv->port : 0;
}

void ec_http_server_stats_get(ec_http_server *srv, ec_http_server_stats *out)
{
    pthread_mutex_lock(&srv->mu);
    *out = srv->stats;
    pthread_mutex_unlock(&srv->mu);
}

/* The connection limit: as asked (0: 1024), but never so many that the connections alone
 * could take the process's last descriptors. The soft RLIMIT_NOFILE is raised to the hard one
 * first (often 1024 soft against far more hard). */
static unsigned conn_limit(unsigned asked)
{
    unsigned want = asked ? asked : DEFAULT_MAX_CONN;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return want;
    if (rl.rlim_cur != RLIM_INFINITY &&
        (rl.rlim_max == RLIM_INFINITY || rl.rlim_cur < rl.rlim_max)) {
        struct rlimit up = rl;
        up.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return want;
    rlim_t room = rl.rlim_cur > 2 * FD_RESERVE ? rl.rlim_cur - FD_RESERVE : rl.rlim_cur / 2;
    return room < want ? (unsigned)(room ? room : 1) : want;
}

static void server_free(ec_http_server *s)
{
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->rel_cv);
    pthread_cond_destroy(&s->watch_cv);
    pthread_cond_destroy(&s->idle_cv);
    pthread_cond_destroy(&s->late_cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int ec_http_server_start(ec_http_server **out, const ec_http_server_options *opts,
                         ec_http_handler handler, void *ctx)
{
    ec_http_server_options o = EC_HTTP_SERVER_OPTIONS_INIT;
    if (opts) {
        /* Older versions: read no further than their fields. */
        if (opts->version == 1)
            memcpy(&o, opts, offsetof(ec_http_server_options, on_refusal));
        else if (opts->version == 2)
            memcpy(&o, opts, offsetof(ec_http_server_options, head_timeout_ms));
        else if (opts->version == 3)
            memcpy(&o, opts, offsetof(ec_http_server_options, on_late));
        else if (opts->version == 4)
            memcpy(&o, opts, offsetof(ec_http_server_options, handler_begins));
        else if (opts->version == EC_HTTP_SERVER_OPTIONS_VERSION)
            o = *opts;
        else
            return ec_error_set(EC_EUNSUPPORTED, "http server: options version %u (expected 1..%u)",
                                opts->version, EC_HTTP_SERVER_OPTIONS_VERSION);
    }
    if (!out || !handler)
        return ec_error_set(EC_EINVAL, "http server: NULL %s", out ? "handler" : "out");
    *out = NULL;
    const char *addr = o.bind_address ? o.bind_address : "127.0.0.1";
    if (o.port > 65535)
        return ec_error_set(EC_EINVAL, "http server: port %u: must be 0..65535", o.port);
    if (o.body_limit > EC_HTTP_BODY_MAX)
        return ec_error_set(EC_EINVAL, "http server: body limit %zu: at most %u", o.body_limit,
                            EC_HTTP_BODY_MAX);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)o.port);
    } else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)o.port);
        flags |= MHD_USE_IPv6;
    } else {
        return ec_error_set(EC_EINVAL,
                            "http server: bind address \"%s\": not an IPv4 or IPv6 "
                            "literal",
                            addr);
    }
    ec_http_server *s = calloc(1, sizeof *s);
    if (!s)
        return ec_error_set(EC_ENOMEM, "http server: out of memory");
    s->handler = handler;
    s->ctx = ctx;
    s->on_refused = o.on_refused;
    s->on_refusal = o.on_refusal;
    s->on_late = o.on_late;
    s->handler_begins = o.handler_begins != 0;
    s->release = o.release;
    s->body_limit = o.body_limit ? o.body_limit : DEFAULT_BODY_LIMIT;
    s->timeout_ms = o.timeout_ms ? o.timeout_ms : DEFAULT_TIMEOUT_MS;
    s->head_timeout_ms = o.head_timeout_ms ? o.head_timeout_ms : DEFAULT_HEAD_MS;
    s->max_connections = conn_limit(o.max_connections);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_cond_init(&s->rel_cv, NULL);
    pthread_cond_init(&s->late_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->watch_cv, &ca);
    pthread_cond_init(&s->idle_cv, &ca);
    pthread_condattr_destroy(&ca);
    /* Threads first (stop joins only those that started), then the listening socket. */
    pthread_attr_t wa;
    pthread_attr_init(&wa);
    pthread_attr_setstacksize(&wa, EC_HTTP_WORKER_STACK);
    s->have_worker = pthread_create(&s->worker, &wa, worker_main, s) == 0;
    pthread_attr_destroy(&wa);
    s->have_watchdog = s->have_worker && pthread_create(&s->watchdog, NULL, watchdog_main, s) == 0;
    s->have_releaser =
        s->have_watchdog && s->release && pthread_create(&s->releaser, NULL, releaser_main, s) == 0;
    s->have_late =
        s->have_watchdog && s->on_late && pthread_create(&s->late, NULL, late_main, s) == 0;
    if (!s->have_watchdog || (s->release && !s->have_releaser) || (s->on_late && !s->have_late)) {
        ec_http_server_stop(s);
        return ec_error_set(EC_ERROR, "http server: cannot start its threads");
    }
    errno = 0;
    s->d = MHD_start_daemon(flags, (uint16_t)o.port, NULL, NULL, access_cb, s, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, s->max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)(o.idle_timeout_s ? o.idle_timeout_s : DEFAULT_IDLE_S),
                            MHD_OPTION_URI_LOG_CALLBACK, uri_cb, s, MHD_OPTION_NOTIFY_COMPLETED,
                            notify_completed, s, MHD_OPTION_NOTIFY_CONNECTION, notify_connection, s,
                            MHD_OPTION_END);
    if (!s->d) {
        int e = errno;
        ec_http_server_stop(s);
        return ec_error_set_errno(EC_EIO, e ? e : EADDRINUSE, "http server: cannot listen on %s:%u",
                                  addr, o.port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : o.port;
    *out = s;
    return 0;
}

void ec_http_server_stop(ec_http_server *s)
{
    if (!s)
        return;
    /* No new connections from here on; the listening socket is then ours to close. */
    MHD_socket ls = s->d ? MHD_quiesce_daemon(s->d) : MHD_INVALID_SOCKET;
    /* Answer every waiting request 503 and resume it: MHD must not be stopped with suspended
     * connections. With on_late, each answer (a refusal found on arrival keeps its own) goes
     * to the late thread, which reports it, then sends it, without waiting for a handler still
     * running; the worker only waits for that, to keep its own reports in order. Without
     * on_late they are sent here and the worker reports them after. The worker finishes a
     * running handler either way. */
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    for (job *q = s->head; s->on_late && q; q = q->next) {
        if (!q->answered && !q->notice_only) {
            claim_locked(q);
            if (!q->refusal)
                set_refusal(q, 503,
                            "503 Service Unavailable: the server stopped before the handler was "
                            "called");
            late_queue_locked(s, q, q->ref_status, q->reason, 1);
        }
    }
    job *stop_list[64];
    size_t n;
    do {
        n = 0;
        for (job *q = s->head; q && n < 64; q = q->next) {
            if (!q->answered && !q->notice_only) {
                claim_locked(q);
                if (!q->refusal) /* a refusal on arrival keeps its own answer */
                    set_refusal(q, 503,
                                "503 Service Unavailable: the server stopped before the "
                                "handler was called");
                stop_list[n++] = q;
            }
        }
        pthread_mutex_unlock(&s->mu);
        for (size_t i = 0; i < n; i++)
            resume_refusal(stop_list[i]);
        pthread_mutex_lock(&s->mu);
    } while (n == 64);
    pthread_cond_broadcast(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->have_worker)
        pthread_join(s->worker, NULL);
    if (s->have_releaser)
        pthread_join(s->releaser, NULL); /* leaves once the worker left and nothing is held */
    /* The watchdog last: it answered the running handler's and the held replies' deadlines
     * meanwhile. */
    pthread_mutex_lock(&s->mu);
    s->watch_done = 1;
    pthread_cond_broadcast(&s->watch_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->have_watchdog)
        pthread_join(s->watchdog, NULL);
    /* Then the late thread: the watchdog queued its last answer for it (and the worker, gone
     * now, may have waited for one). */
    pthread_mutex_lock(&s->mu);
    s->late_exit = 1;
    pthread_cond_broadcast(&s->late_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->have_late)
        pthread_join(s->late, NULL);
    /* Every queued request is answered now; give MHD up to a second to send those replies
     * (a client that does not read must not hold the stop forever). */
    pthread_mutex_lock(&s->mu);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 1;
    while (s->inflight && pthread_cond_timedwait(&s->idle_cv, &s->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&s->mu);
    if (s->d)
        MHD_stop_daemon(s->d);
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
    /* Refusals queued by the MHD thread after the worker left (while stopping) are reported
     * here, still one at a time and in order. */
    for (job *j = s->head; j;) {
        job *next = j->next;
        if (j->ref_status)
            s->stats.refused++;
        if (!j->late) /* on_late had it (the late thread is gone: no lock needed) */
            report(s, j);
        job_unref(j);
        j = next;
    }
    server_free(s);
}
