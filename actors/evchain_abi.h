/* actors/evchain_abi.h: what an actor written in C (no libc) needs to use the evchain host
 * interface, ABI v1 (docs/ABI.md): the imports, the export macro, a bump allocator for
 * ec_alloc, and the few string helpers clang may call on its own (memcpy, memset...). */
#ifndef EVCHAIN_ABI_H
#define EVCHAIN_ABI_H

typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;
typedef long long i64;
typedef unsigned long size_t;

#define IMPORT(n) __attribute__((import_module("env"), import_name(n)))
#define EXPORT(n) __attribute__((export_name(n)))

/* Error codes (negative returns). */
#define EC_EINVAL    -1
#define EC_ENOTFOUND -2
#define EC_EDENIED   -3
#define EC_ETOOBIG   -4
#define EC_EBUSY     -5
#define EC_EIO       -6
#define EC_ESTATE    -7

IMPORT("log") i32 ec_log(const char *p, u32 n);
IMPORT("actor_id") i32 ec_actor_id(char *out, u32 cap);
IMPORT("shutdown") i32 ec_shutdown(const char *reason, u32 n);
IMPORT("time_now") u64 ec_time_now(void);
IMPORT("timer_set") i32 ec_timer_set(u32 delay_ms, u64 tag);
IMPORT("random_get") i32 ec_random_get(void *out, u32 n);
IMPORT("env_get") i32 ec_env_get(const char *name, u32 nl, char *out, u32 cap);
IMPORT("store_put") i32 ec_store_put(const void *p, u32 n, unsigned char hash_out[32]);
IMPORT("store_get") i32 ec_store_get(const unsigned char hash[32], void *out, u32 cap);
IMPORT("label_set") i32 ec_label_set(const char *name, u32 nl, const unsigned char hash[32]);
IMPORT("label_get") i32 ec_label_get(const char *name, u32 nl, unsigned char hash_out[32]);
IMPORT("fs_read") i32 ec_fs_read(const char *path, u32 pl, void *out, u32 cap);
IMPORT("fs_write") i32 ec_fs_write(const char *path, u32 pl, const void *data, u32 n);
IMPORT("fs_list") i32 ec_fs_list(const char *path, u32 pl, char *out, u32 cap);
IMPORT("fs_delete") i32 ec_fs_delete(const char *path, u32 pl);
IMPORT("fs_exists") i32 ec_fs_exists(const char *path, u32 pl);
IMPORT("msg_send") i32 ec_msg_send(const char *to, u32 tl, const void *body, u32 n);
IMPORT("msg_request")
i32 ec_msg_request(const char *to, u32 tl, const void *body, u32 n, void *out, u32 cap);
IMPORT("msg_reply") i32 ec_msg_reply(const void *body, u32 n);
IMPORT("sup_spawn")
i32 ec_sup_spawn(const char *module, u32 ml, const char *name, u32 nl, const void *args, u32 al);
IMPORT("sup_stop") i32 ec_sup_stop(const char *name, u32 nl);
IMPORT("sup_restart") i32 ec_sup_restart(const char *name, u32 nl);
IMPORT("sup_list") i32 ec_sup_list(char *out, u32 cap);
IMPORT("sup_status") i32 ec_sup_status(const char *name, u32 nl, void *out, u32 cap);
/* HTTP (docs/ABI.md section 8): payloads are docs/FORMAT.md section 7 bytes; the helpers at
 * the end of this file read and write them. */
IMPORT("http_request") i32 ec_http_request(const void *req, u32 n, void *out, u32 cap);
IMPORT("http_respond") i32 ec_http_respond(const void *resp, u32 n);

/* clang lowers copies and loops to these even with -fno-builtin in some cases. */
void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *dd = d;
    const unsigned char *ss = s;
    while (n--)
        *dd++ = *ss++;
    return d;
}
void *memset(void *d, int c, size_t n)
{
    unsigned char *dd = d;
    while (n--)
        *dd++ = (unsigned char)c;
    return d;
}
#define EC_HELPER static __attribute__((unused))
EC_HELPER u32 ec_strlen(const char *s)
{
    u32 n = 0;
    while (s[n])
        n++;
    return n;
}
EC_HELPER int ec_memeq(const void *a, const void *b, u32 n)
{
    const unsigned char *x = a, *y = b;
    for (u32 k = 0; k < n; k++)
        if (x[k] != y[k])
            return 0;
    return 1;
}
/* "prefix" at the start of (p, n)? */
EC_HELPER int ec_starts(const char *p, u32 n, const char *prefix)
{
    u32 l = ec_strlen(prefix);
    return n >= l && ec_memeq(p, prefix, l);
}
/* Decimal formatting and parsing for small demo payloads. */
EC_HELPER u32 ec_utoa(u64 v, char *out)
{
    char tmp[24];
    u32 n = 0, k = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10));
    while (n)
        out[k++] = tmp[--n];
    return k;
}
EC_HELPER u64 ec_atou(const char *p, u32 n)
{
    u64 v = 0;
    for (u32 k = 0; k < n && p[k] >= '0' && p[k] <= '9'; k++)
        v = v * 10 + (u64)(p[k] - '0');
    return v;
}
#define LOG(s) ec_log(s, ec_strlen(s))

/* ---- HTTP payloads (docs/FORMAT.md section 7) ---- */

/* A decoded payload: pointers into the bytes given. kind 1 request (method, target), 2
 * response (status), 4 client request (method, target = url), 5 client error (error). */
typedef struct ec_http_view {
    u32 kind;
    const char *method, *target;
    u32 method_len, target_len;
    u32 status, error;
    const unsigned char *headers; /* header_count x (u32 len, name, u32 len, value) */
    u32 header_count;
    const unsigned char *body;
    u32 body_len;
} ec_http_view;

EC_HELPER u32 ec_get32(const unsigned char *p)
{
    return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}
/* A u32-length string at *off; 0 or -1 when it does not fit. */
EC_HELPER int ec_http_str(const unsigned char *p, u32 n, u32 *off, const char **s, u32 *l)
{
    if (n - *off < 4)
        return -1;
    u32 len = ec_get32(p + *off);
    if (n - *off - 4 < len)
        return -1;
    *s = (const char *)p + *off + 4;
    *l = len;
    *off += 4 + len;
    return 0;
}
/* Parse kinds 1, 2, 4 and 5 (the ones an actor is given). 0, or -1 when malformed. The host
 * checked every payload it gives, so -1 means a bug, not an attack. */
EC_HELPER int ec_http_parse(const unsigned char *p, u32 n, ec_http_view *v)
{
    const char *s;
    u32 l, off = 8;
    memset(v, 0, sizeof *v);
    if (n < 8 || !ec_memeq(p, "evhttp\x01", 7))
        return -1;
    v->kind = p[7];
    if (v->kind == 5) {
        if (n < 9)
            return -1;
        v->error = p[8];
        return 0;
    }
    if (v->kind == 2) {
        if (n < 10)
            return -1;
        v->status = (u32)p[8] << 8 | p[9];
        off = 10;
    } else if (v->kind == 1 || v->kind == 4) {
        if (ec_http_str(p, n, &off, &v->method, &v->method_len) ||
            ec_http_str(p, n, &off, &v->target, &v->target_len))
            return -1;
    } else {
        return -1;
    }
    if (n - off < 4)
        return -1;
    v->header_count = ec_get32(p + off);
    off += 4;
    v->headers = p + off;
    for (u32 k = 0; k < v->header_count; k++)
        if (ec_http_str(p, n, &off, &s, &l) || ec_http_str(p, n, &off, &s, &l))
            return -1;
    if (ec_http_str(p, n, &off, &s, &l) || off != n)
        return -1;
    v->body = (const unsigned char *)s;
    v->body_len = l;
    return 0;
}

/* A payload writer over a caller's buffer; `failed` is sticky (the buffer was too small). */
typedef struct ec_http_out {
    unsigned char *p;
    u32 cap, len, count_at, failed;
} ec_http_out;

EC_HELPER void ec_http_put(ec_http_out *o, const void *d, u32 n)
{
    if (o->failed || o->cap - o->len < n) {
        o->failed = 1;
        return;
    }
    memcpy(o->p + o->len, d, n);
    o->len += n;
}
EC_HELPER void ec_http_put32(ec_http_out *o, u32 v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    ec_http_put(o, b, 4);
}
EC_HELPER void ec_http_putstr(ec_http_out *o, const void *d, u32 n)
{
    ec_http_put32(o, n);
    ec_http_put(o, d, n);
}
EC_HELPER void ec_http_head(ec_http_out *o, unsigned char kind)
{
    unsigned char h[8] = {'e', 'v', 'h', 't', 't', 'p', 1, kind};
    o->len = o->failed = 0;
    ec_http_put(o, h, 8);
}
EC_HELPER void ec_http_headers_begin(ec_http_out *o)
{
    o->count_at = o->len;
    ec_http_put32(o, 0);
}
/* Start a response (kind 2) or a client request (kind 4); then headers, then the body. */
EC_HELPER void ec_http_begin_response(ec_http_out *o, u32 status)
{
    unsigned char st[2] = {(unsigned char)(status >> 8), (unsigned char)status};
    ec_http_head(o, 2);
    ec_http_put(o, st, 2);
    ec_http_headers_begin(o);
}
EC_HELPER void ec_http_begin_request(ec_http_out *o, const char *method, const char *url, u32 ul)
{
    ec_http_head(o, 4);
    ec_http_putstr(o, method, ec_strlen(method));
    ec_http_putstr(o, url, ul);
    ec_http_headers_begin(o);
}
EC_HELPER void ec_http_header(ec_http_out *o, const char *name, const char *value)
{
    ec_http_putstr(o, name, ec_strlen(name));
    ec_http_putstr(o, value, ec_strlen(value));
    if (!o->failed) {
        u32 c = ec_get32(o->p + o->count_at) + 1;
        o->p[o->count_at] = (unsigned char)(c >> 24);
        o->p[o->count_at + 1] = (unsigned char)(c >> 16);
        o->p[o->count_at + 2] = (unsigned char)(c >> 8);
        o->p[o->count_at + 3] = (unsigned char)c;
    }
}
EC_HELPER void ec_http_end(ec_http_out *o, const void *body, u32 n)
{
    ec_http_putstr(o, body, n);
}

/* Answer the request being handled: status, a Content-Type, a body. */
static unsigned char ec_http_reply_buf[72 * 1024] __attribute__((unused));
EC_HELPER i32 ec_http_reply(u32 status, const char *content_type, const void *body, u32 n)
{
    ec_http_out o = {ec_http_reply_buf, sizeof ec_http_reply_buf, 0, 0, 0};
    ec_http_begin_response(&o, status);
    ec_http_header(&o, "Content-Type", content_type);
    ec_http_end(&o, body, n);
    if (o.failed)
        return EC_ETOOBIG;
    return ec_http_respond(o.p, o.len);
}
#define HTTP_JSON(status, s) ec_http_reply(status, "application/json", s, ec_strlen(s))

/* Inputs are written by the host into memory the actor hands out here. One bump arena,
 * reset when full: an input is consumed by the handler it was given to. */
static unsigned char ec_arena[256 * 1024];
static u32 ec_arena_top;
EXPORT("ec_alloc") u32 ec_alloc(u32 n)
{
    if (n > sizeof ec_arena)
        return 0; /* the host treats 0 as a failed allocation (a trap) */
    if (ec_arena_top + n > sizeof ec_arena)
        ec_arena_top = 0;
    u32 p = ec_arena_top;
    ec_arena_top += (n + 7u) & ~7u;
    return (u32)(unsigned long)(ec_arena + p);
}

#endif
