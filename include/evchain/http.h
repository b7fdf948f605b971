/* evchain/http.h: HTTP for actors: the binary payload of a recorded HTTP exchange (codec,
 * docs/FORMAT.md section 7), a server on libmicrohttpd that hands requests to one handler at
 * a time, and a client on libcurl restricted to an allow-list. Wiring: docs/HTTP.md. */
#ifndef EVCHAIN_HTTP_H
#define EVCHAIN_HTTP_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- payloads (codec) ---- */

/* The event types that carry these payloads (docs/HTTP.md section 3 says when each is
 * appended). */
#define EC_HTTP_EV_REQUEST         "http/request"         /* kind EC_HTTP_REQUEST */
#define EC_HTTP_EV_RESPONSE        "http/response"        /* kind EC_HTTP_RESPONSE */
#define EC_HTTP_EV_REFUSED         "http/refused"         /* kind EC_HTTP_REFUSAL */
#define EC_HTTP_EV_CLIENT_REQUEST  "http/client-request"  /* kind EC_HTTP_CLIENT_REQUEST */
#define EC_HTTP_EV_CLIENT_RESPONSE "http/client-response" /* RESPONSE or CLIENT_ERROR */

/* What a payload holds. Values are part of the byte format. */
typedef enum ec_http_kind {
    EC_HTTP_REQUEST = 1,        /* served request: method, target, headers, body */
    EC_HTTP_RESPONSE = 2,       /* status, headers, body (served reply or client response) */
    EC_HTTP_REFUSAL = 3,        /* status, reason, method, target, headers: not handled */
    EC_HTTP_CLIENT_REQUEST = 4, /* method, url, headers, body */
    EC_HTTP_CLIENT_ERROR = 5,   /* error kind and message: a client request without response */
} ec_http_kind;

/* Why a client request got no response. Values are part of the byte format. */
typedef enum ec_http_error {
    EC_HTTP_ERR_NONE = 0,
    EC_HTTP_ERR_REFUSED = 1,   /* the connection was refused */
    EC_HTTP_ERR_TIMEOUT = 2,   /* no complete response within the timeout */
    EC_HTTP_ERR_DNS = 3,       /* the host name did not resolve */
    EC_HTTP_ERR_DENIED = 4,    /* host not on the allow-list: nothing was sent */
    EC_HTTP_ERR_TOO_LARGE = 5, /* response body over the limit: the transfer was cut */
    EC_HTTP_ERR_FAILED = 6,    /* any other transport failure (TLS, malformed response...) */
} ec_http_error;

/* "refused", "timeout", "dns", "denied", "too-large", "failed"; NULL when unknown. */
const char *ec_http_error_name(ec_http_error e);

/* Format limits: an encoder refuses and a decoder rejects anything beyond them. */
#define EC_HTTP_METHOD_MAX  32u
#define EC_HTTP_TARGET_MAX  8192u /* request-target or URL */
#define EC_HTTP_HEADERS_MAX 256u  /* header fields per message */
#define EC_HTTP_NAME_MAX    256u
#define EC_HTTP_VALUE_MAX   8192u
#define EC_HTTP_REASON_MAX  1024u       /* refusal reason, client error message */
#define EC_HTTP_BODY_MAX    (64u << 20) /* the chain's event data limit */

/* Strings are NOT NUL-terminated: use the lengths. */
typedef struct ec_http_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} ec_http_header;

/* One message of any kind; `kind` says which fields mean something (see ec_http_kind).
 * Decoded messages are views into the decoded bytes, except `headers`, an array owned by the
 * message (ec_http_msg_clear frees it). */
typedef struct ec_http_msg {
    ec_http_kind kind;
    const char *method;
    size_t method_len;
    const char *target; /* request-target ("/path?query") or, for a client request, the URL */
    size_t target_len;
    unsigned status;    /* response, refusal: 100..599 */
    const char *reason; /* refusal reason or client error message (UTF-8) */
    size_t reason_len;
    ec_http_error error; /* client error */
    const ec_http_header *headers;
    size_t header_count;
    const uint8_t *body;
    size_t body_len;
    ec_http_header *owned_headers_; /* private: what ec_http_msg_clear frees */
} ec_http_msg;

/* Check a message against the format rules; EC_EINVAL naming the field otherwise. */
int ec_http_msg_check(const ec_http_msg *m);
/* Encoded size of a valid message (checked first). */
int ec_http_encoded_size(const ec_http_msg *m, size_t *out);
/* Encode into buf (cap bytes, at least the encoded size); *written gets the size. */
int ec_http_encode(const ec_http_msg *m, uint8_t *buf, size_t cap, size_t *written);
/* Encode into a malloc'd buffer. */
int ec_http_encode_alloc(const ec_http_msg *m, uint8_t **out, size_t *out_len);
/* Strictly decode exactly len bytes (EC_EFORMAT with the field and byte offset otherwise).
 * out's strings and body point into data; release with ec_http_msg_clear. */
int ec_http_decode(ec_http_msg *out, const uint8_t *data, size_t len);
void ec_http_msg_clear(ec_http_msg *m);
/* One line of JSON for display (`evchain show`): malloc'd into *json_out. */
int ec_http_to_json(const uint8_t *data, size_t len, char **json_out);

/* Split a request-target at its first '?': path, and query (NULL when there is no '?'). */
void ec_http_target_split(const char *target, size_t len, const char **path, size_t *path_len,
                          const char **query, size_t *query_len);

/* ---- server ---- */

typedef struct ec_http_server ec_http_server;
/* The reply a handler builds. Every setter copies and validates (EC_EINVAL on a bad name,
 * value or status): a reply is always encodable. */
typedef struct ec_http_reply ec_http_reply;

/* A reply outside a server (replay calls the handler directly). The server makes its own. */
int ec_http_reply_new(ec_http_reply **out);
void ec_http_reply_free(ec_http_reply *r);
int ec_http_reply_status(ec_http_reply *r, unsigned status);
/* Append a header field. Refused: an empty value (libmicrohttpd cannot send one), and
 * Content-Length and Transfer-Encoding (the server frames the body itself). */
int ec_http_reply_header(ec_http_reply *r, const char *name, const char *value);
/* Append bytes to the body. */
int ec_http_reply_body(ec_http_reply *r, const void *data, size_t len);
/* Send the reply only once the server's release callback returned for this token (e.g. the
 * seq of the reply's event: release waits until the chain is durable up to it). The worker
 * goes on with the next request meanwhile; replies are still sent in order. */
void ec_http_reply_hold(ec_http_reply *r, uint64_t token);
/* For a server started with handler_begins (options version 5): the handler calls this once
 * it is about to act on the request (the runtime: once it owns the actor, before it records
 * the request), which makes the request's answer at its deadline the 504 of a handler still
 * running, reported to on_late (if any) only after this returned 0. EC_ETIMEOUT when the
 * deadline passed first: the client has had the 504 of a request not handled (reported as
 * such, with on_late before it was sent), and the handler must return without acting on the
 * request; what it returns is then ignored and not reported. 0 for a reply outside a server. */
int ec_http_reply_begin(ec_http_reply *r);
/* The reply as a message of kind EC_HTTP_RESPONSE (status 200 unless set), for recording.
 * Valid until the handler returns. */
const ec_http_msg *ec_http_reply_msg(ec_http_reply *r);

/* Called on the server's worker thread, one request at a time, in arrival order. req is of
 * kind EC_HTTP_REQUEST and valid until return. Return 0 to send the reply; EC_ETRAP (the actor
 * trapped) or any other error sends 500 instead. */
typedef int (*ec_http_handler)(void *ctx, const ec_http_msg *req, ec_http_reply *reply);
/* A request the handler did not answer (kind EC_HTTP_REFUSAL): 413 body over the limit,
 * 400 malformed, 504 timed out (waiting, or the handler was late: its reply was discarded),
 * 500 the handler failed, 503 the server stopped first. Called on the same thread as the
 * handler and in the same order, so a caller recording both keeps one linear history. The
 * answer is sent only after this returns for 400, 413 and a failed handler's 500 (a caller
 * can make its record durable first). Without on_late, a 504, the 503s of a stopping server
 * and the 500 of a failed release are reported after they were sent; with on_late, those go
 * to on_late instead, before they are sent. */
typedef void (*ec_http_refused_cb)(void *ctx, const ec_http_msg *refusal);
/* Called on the server's releaser thread for each held reply, in order; returns when the
 * reply may be sent: 0, or an error to send 500 instead (reported to on_late if set, before
 * it is sent, else to on_refused after). A reply still held at its deadline gets 504 and is
 * reported as discarded (the same way). */
typedef int (*ec_http_release_cb)(void *ctx, uint64_t token);
/* Options version 2, in place of on_refused: the same reports, and a refusal not sent yet
 * (400, 413, a failed handler's 500: hold is non-NULL, and the server has a release
 * callback) may be held like a reply. Setting *hold to a token and returning 1 sends its
 * answer once release(token) has returned (as ec_http_reply_hold does), the worker going on
 * meanwhile, so that one release (one sync) covers several; returning 0 sends it now. For a
 * refusal already sent (504, the 503s of a stopping server, a failed release's 500) hold is
 * NULL and the result is ignored. */
typedef int (*ec_http_refusal_cb)(void *ctx, const ec_http_msg *refusal, uint64_t *hold);
/* Options version 4: an answer the server gives itself off the worker, before it is sent:
 * at a deadline, the 504 of a request whose handler is still running (concurrently with this
 * call: it runs on a thread of the server's own, never the worker), or has not begun (with
 * handler_begins), the answers of requests that waited behind it (504, or a refusal's own
 * status) and the 504 of a held reply not released in time; the 500 of a failed release;
 * the 503s (or a refusal's own status) of the requests a stopping server answers without the
 * handler. The answer leaves once this returns, whatever happened: a caller that records it
 * and makes the record durable first has it before the client sees it. Called one at a time
 * in the order the server gave them; such a refusal is not reported to on_refused/on_refusal
 * again, but a late handler's discarded reply still is, once the handler returns and this
 * has returned for its 504. */
typedef void (*ec_http_late_cb)(void *ctx, const ec_http_msg *refusal);

#define EC_HTTP_SERVER_OPTIONS_VERSION 5 /* 1 (up to release), 2 (up to on_refusal), 3, 4 too */
typedef struct ec_http_server_options {
    unsigned version;
    const char *bind_address;      /* IPv4 or IPv6 literal; NULL: "127.0.0.1" */
    unsigned port;                 /* 0: an ephemeral port (ec_http_server_port tells which) */
    size_t body_limit;             /* larger bodies get 413; 0: 1 MiB (at most EC_HTTP_BODY_MAX) */
    unsigned timeout_ms;           /* from a request's arrival to its reply, queue wait included;
                                      then 504. 0: 10000 */
    unsigned max_connections;      /* open connections at most; beyond, new ones wait to be
                                      accepted. 0: 1024. Bounded by RLIMIT_NOFILE less 128
                                      (the soft limit is raised to the hard one at start) */
    unsigned idle_timeout_s;       /* close a connection silent this long (a body sent only
                                      in part, a reply not read); 0: 30 */
    ec_http_refused_cb on_refused; /* may be NULL; gets the handler's ctx */
    ec_http_release_cb release;    /* may be NULL (held replies are then sent at once) */
    ec_http_refusal_cb on_refusal; /* version 2; may be NULL; when set, on_refused is not used */
    unsigned head_timeout_ms;      /* version 3: a request head (request line and header
                                      fields) must be complete this long after the connection
                                      opened or its previous request ended, more bytes or not;
                                      else the connection is answered 408 and closed (not
                                      reported: there is no request). 0: 10000 */
    ec_http_late_cb on_late;       /* version 4; may be NULL (such answers are then sent first
                                      and reported after, on the worker) */
    int handler_begins;            /* version 5: the handler calls ec_http_reply_begin before
                                      it acts on a request; a deadline that passes before that
                                      is answered as for a request not handled
                                      (ec_http_reply_begin) */
} ec_http_server_options;
#define EC_HTTP_SERVER_OPTIONS_INIT                                                                \
    {                                                                                              \
        EC_HTTP_SERVER_OPTIONS_VERSION, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL, 0          \
    }

/* Start listening; requests are handed to handler(ctx, ...). */
int ec_http_server_start(ec_http_server **out, const ec_http_server_options *opts,
                         ec_http_handler handler, void *ctx);
/* The port actually bound. */
unsigned ec_http_server_port(const ec_http_server *srv);
/* Stop accepting, answer waiting requests 503 (each reported to on_late before it is sent
 * when set, else to on_refused after), wait for a running handler to return, close every
 * connection, free. NULL is ignored. */
void ec_http_server_stop(ec_http_server *srv);

typedef struct ec_http_server_stats {
    uint64_t received; /* complete requests (including refused ones) */
    uint64_t handled;  /* handler calls that returned */
    uint64_t refused;  /* on_refused reports */
    uint64_t queued;   /* waiting for the handler right now */
} ec_http_server_stats;
void ec_http_server_stats_get(ec_http_server *srv, ec_http_server_stats *out);

/* ---- client ---- */

#define EC_HTTP_CLIENT_OPTIONS_VERSION 1
typedef struct ec_http_client_options {
    unsigned version;
    /* Hosts that may be reached: "host" (any port), "host:port", "*.domain[:port]" (any
     * subdomain), an IPv4 address[:port], "[v6addr]:port", a bare v6 address. Names compare
     * case-insensitively, addresses as addresses; a URL's port defaults to 80/443. A
     * malformed entry (ec_http_allow_check) matches nothing. Empty: none. */
    const char *const *allow;
    size_t allow_count;
    unsigned timeout_ms;         /* whole exchange; 0: 10000 */
    unsigned connect_timeout_ms; /* 0: the whole timeout */
    size_t max_response;         /* response body bytes; 0: 16 MiB (at most EC_HTTP_BODY_MAX) */
} ec_http_client_options;
#define EC_HTTP_CLIENT_OPTIONS_INIT                                                                \
    {                                                                                              \
        EC_HTTP_CLIENT_OPTIONS_VERSION, NULL, 0, 0, 0, 0                                           \
    }

/* What a client request came to: its encoded payload (kind EC_HTTP_RESPONSE or
 * EC_HTTP_CLIENT_ERROR), ready to record, and that payload decoded. */
typedef struct ec_http_outcome {
    uint8_t *data;
    size_t len;
    ec_http_msg msg;
} ec_http_outcome;

/* Does host:port match an allow-list entry? host without brackets for IPv6. A host that is
 * not a DNS name of at most 253 bytes (ASCII letters, digits, '-', '_', dots) or an address
 * matches nothing. */
int ec_http_allowed(const char *const *allow, size_t allow_count, const char *host, unsigned port);

/* Is entry a well-formed allow-list entry (docs/HTTP.md section 2)? 0, or EC_EINVAL with a
 * message naming it, what is wrong and the forms expected. */
int ec_http_allow_check(const char *entry);

/* Make one request (kind EC_HTTP_CLIENT_REQUEST; http or https URL). Redirects are not
 * followed (a 3xx is a response) and no proxy is used, so only allowed hosts are contacted.
 * Returns 0 whenever *out holds an outcome, including the errors of ec_http_error (a host
 * off the list is EC_HTTP_ERR_DENIED and nothing is sent); a negative code only when the
 * request itself is invalid or memory ran out. Release with ec_http_outcome_clear. */
int ec_http_request(ec_http_outcome *out, const ec_http_msg *req,
                    const ec_http_client_options *opts);
void ec_http_outcome_clear(ec_http_outcome *o);

#ifdef __cplusplus
}
#endif
#endif
