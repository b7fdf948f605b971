/* actor/http_codec.c: the binary payload of recorded HTTP messages (docs/FORMAT.md section 7):
 * check, encode, strict decode, and JSON for display. Sits on core (internal.h) only.
 * What must stay true: one message has exactly one encoding (every field in a fixed order,
 * each length-prefixed, no optional parts), and the encoder and decoder accept exactly the
 * same set of messages, so decode(encode(m)) == m and encode(decode(b)) == b. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#include "core/internal.h"
#include "actor/http.h"

const char *ec_http_error_name(ec_http_error e)
{
    switch (e) {
    case EC_HTTP_ERR_REFUSED:
        return "refused";
    case EC_HTTP_ERR_TIMEOUT:
        return "timeout";
    case EC_HTTP_ERR_DNS:
        return "dns";
    case EC_HTTP_ERR_DENIED:
        return "denied";
    case EC_HTTP_ERR_TOO_LARGE:
        return "too-large";
    case EC_HTTP_ERR_FAILED:
        return "failed";
    default:
        return NULL;
    }
}

static const char *kind_name(ec_http_kind k)
{
    switch (k) {
    case EC_HTTP_REQUEST:
        return "request";
    case EC_HTTP_RESPONSE:
        return "response";
    case EC_HTTP_REFUSAL:
        return "refusal";
    case EC_HTTP_CLIENT_REQUEST:
        return "client-request";
    case EC_HTTP_CLIENT_ERROR:
        return "client-error";
    }
    return NULL;
}

/* RFC 9110 tchar. */
static int tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int ec_http_token_ok(const char *s, size_t n, size_t min, size_t max)
{
    if (n < min || n > max || (n && !s))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

/* A field value (RFC 9110 5.5) without the surrounding whitespace a parser strips: visible
 * bytes, spaces and tabs inside, obs-text (0x80-0xFF); never NUL, CR or LF. */
int ec_http_value_ok(const char *s, size_t n)
{
    if (n > EC_HTTP_VALUE_MAX || (n && !s))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 ? c != '\t' : c == 0x7f)
            return 0;
    }
    return n == 0 || (s[0] != ' ' && s[0] != '\t' && s[n - 1] != ' ' && s[n - 1] != '\t');
}

/* Visible ASCII only (a request-target or URL as sent on the wire, percent-encoded). */
static int visible(const char *s, size_t n)
{
    if (n > EC_HTTP_TARGET_MAX || (n && !s))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

int ec_http_target_ok(const char *s, size_t n)
{
    return n >= 1 && visible(s, n) && (s[0] == '/' || (n == 1 && s[0] == '*'));
}

/* Schemes are case-insensitive (RFC 3986 3.1): "HTTP://" is accepted, and kept as given. */
static int url_ok(const char *s, size_t n)
{
    return visible(s, n) && ((n > 7 && strncasecmp(s, "http://", 7) == 0) ||
                             (n > 8 && strncasecmp(s, "https://", 8) == 0));
}

static int reason_ok(const char *s, size_t n)
{
    return n <= EC_HTTP_REASON_MAX && (!n || (s && ec_utf8_valid(s, n)));
}

int ec_http_msg_check(const ec_http_msg *m)
{
    if (!m)
        return ec_error_set(EC_EINVAL, "http message: NULL");
    const char *k = kind_name(m->kind);
    if (!k)
        return ec_error_set(EC_EINVAL, "http message: unknown kind %d", (int)m->kind);
    switch (m->kind) {
    case EC_HTTP_REQUEST:
    case EC_HTTP_CLIENT_REQUEST:
    case EC_HTTP_REFUSAL: {
        size_t min = m->kind == EC_HTTP_REFUSAL ? 0 : 1;
        if (!ec_http_token_ok(m->method, m->method_len, min, EC_HTTP_METHOD_MAX))
            return ec_error_set(EC_EINVAL,
                                "http %s: method: must be %zu..%u token characters (RFC 9110)", k,
                                min, EC_HTTP_METHOD_MAX);
        int ok = m->kind == EC_HTTP_REQUEST   ? ec_http_target_ok(m->target, m->target_len)
                 : m->kind == EC_HTTP_REFUSAL ? visible(m->target, m->target_len)
                                              : url_ok(m->target, m->target_len);
        if (!ok)
            return ec_error_set(EC_EINVAL, "http %s: %s: %s (at most %u bytes)", k,
                                m->kind == EC_HTTP_CLIENT_REQUEST ? "url" : "target",
                                m->kind == EC_HTTP_REQUEST ? "must start with '/' (or be '*') "
                                                             "and be visible ASCII"
                                : m->kind == EC_HTTP_REFUSAL
                                    ? "must be visible ASCII"
                                    : "must be an http:// or https:// URL in visible ASCII",
                                EC_HTTP_TARGET_MAX);
        break;
    }
    default:
        break;
    }
    if ((m->kind == EC_HTTP_RESPONSE || m->kind == EC_HTTP_REFUSAL) &&
        (m->status < 100 || m->status > 599))
        return ec_error_set(EC_EINVAL, "http %s: status %u: must be 100..599", k, m->status);
    if ((m->kind == EC_HTTP_REFUSAL || m->kind == EC_HTTP_CLIENT_ERROR) &&
        !reason_ok(m->reason, m->reason_len))
        return ec_error_set(EC_EINVAL, "http %s: %s: must be UTF-8, at most %u bytes", k,
                            m->kind == EC_HTTP_REFUSAL ? "reason" : "message", EC_HTTP_REASON_MAX);
    if (m->kind == EC_HTTP_CLIENT_ERROR) {
        if (!ec_http_error_name(m->error))
            return ec_error_set(EC_EINVAL, "http client-error: error kind %d: must be 1..6",
                                (int)m->error);
        return 0;
    }
    if (m->header_count > EC_HTTP_HEADERS_MAX || (m->header_count && !m->headers))
        return ec_error_set(EC_EINVAL, "http %s: %zu header fields: at most %u", k, m->header_count,
                            EC_HTTP_HEADERS_MAX);
    for (size_t i = 0; i < m->header_count; i++) {
        const ec_http_header *h = &m->headers[i];
        if (!ec_http_token_ok(h->name, h->name_len, 1, EC_HTTP_NAME_MAX))
            return ec_error_set(EC_EINVAL,
                                "http %s: header %zu: name must be 1..%u token characters", k, i,
                                EC_HTTP_NAME_MAX);
        if (!ec_http_value_ok(h->value, h->value_len))
            return ec_error_set(EC_EINVAL,
                                "http %s: header %zu (%.*s): value must be at most %u bytes, "
                                "without NUL/CR/LF or surrounding blanks",
                                k, i, (int)h->name_len, h->name, EC_HTTP_VALUE_MAX);
    }
    if (m->kind != EC_HTTP_REFUSAL && (m->body_len > EC_HTTP_BODY_MAX || (m->body_len && !m->body)))
        return ec_error_set(EC_EINVAL, "http %s: body of %zu bytes: at most %u", k, m->body_len,
                            EC_HTTP_BODY_MAX);
    return 0;
}

static size_t headers_size(const ec_http_msg *m)
{
    size_t n = 4;
    for (size_t i = 0; i < m->header_count; i++)
        n += 8 + m->headers[i].name_len + m->headers[i].value_len;
    return n;
}

int ec_http_encoded_size(const ec_http_msg *m, size_t *out)
{
    int rc = ec_http_msg_check(m);
    if (rc)
        return rc;
    size_t n = EC_HTTP_HEADER_LEN;
    switch (m->kind) {
    case EC_HTTP_REQUEST:
    case EC_HTTP_CLIENT_REQUEST:
        n += 4 + m->method_len + 4 + m->target_len + headers_size(m) + 4 + m->body_len;
        break;
    case EC_HTTP_RESPONSE:
        n += 2 + headers_size(m) + 4 + m->body_len;
        break;
    case EC_HTTP_REFUSAL:
        n += 2 + 4 + m->reason_len + 4 + m->method_len + 4 + m->target_len + headers_size(m);
        break;
    case EC_HTTP_CLIENT_ERROR:
        n += 1 + 4 + m->reason_len;
        break;
    }
    *out = n;
    return 0;
}

static uint8_t *put_str(uint8_t *p, const void *s, size_t n)
{
    ec_put_u32(p, (uint32_t)n);
    if (n)
        memcpy(p + 4, s, n);
    return p + 4 + n;
}

static uint8_t *put_headers(uint8_t *p, const ec_http_msg *m)
{
    ec_put_u32(p, (uint32_t)m->header_count);
    p += 4;
    for (size_t i = 0; i < m->header_count; i++) {
        p = put_str(p, m->headers[i].name, m->headers[i].name_len);
        p = put_str(p, m->headers[i].value, m->headers[i].value_len);
    }
    return p;
}

static uint8_t *put_u16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

int ec_http_encode(const ec_http_msg *m, uint8_t *buf, size_t cap, size_t *written)
{
    size_t need;
    int rc = ec_http_encoded_size(m, &need);
    if (rc)
        return rc;
    if (!buf || cap < need)
        return ec_error_set(EC_EINVAL, "http encode: buffer of %zu bytes, %zu needed", cap, need);
    uint8_t *p = buf;
    memcpy(p, EC_HTTP_MAGIC, EC_HTTP_MAGIC_LEN);
    p[6] = EC_HTTP_VERSION;
    p[7] = (uint8_t)m->kind;
    p += EC_HTTP_HEADER_LEN;
    switch (m->kind) {
    case EC_HTTP_REQUEST:
    case EC_HTTP_CLIENT_REQUEST:
        p = put_str(p, m->method, m->method_len);
        p = put_str(p, m->target, m->target_len);
        p = put_headers(p, m);
        p = put_str(p, m->body, m->body_len);
        break;
    case EC_HTTP_RESPONSE:
        p = put_u16(p, m->status);
        p = put_headers(p, m);
        p = put_str(p, m->body, m->body_len);
        break;
    case EC_HTTP_REFUSAL:
        p = put_u16(p, m->status);
        p = put_str(p, m->reason, m->reason_len);
        p = put_str(p, m->method, m->method_len);
        p = put_str(p, m->target, m->target_len);
        p = put_headers(p, m);
        break;
    case EC_HTTP_CLIENT_ERROR:
        *p++ = (uint8_t)m->error;
        p = put_str(p, m->reason, m->reason_len);
        break;
    }
    if ((size_t)(p - buf) != need) /* the size and the writer must agree, byte for byte */
        return ec_error_set(EC_ERROR, "http encode: internal size mismatch");
    *written = need;
    return 0;
}

int ec_http_encode_alloc(const ec_http_msg *m, uint8_t **out, size_t *out_len)
{
    size_t need;
    int rc = ec_http_encoded_size(m, &need);
    if (rc)
        return rc;
    uint8_t *buf = malloc(need);
    if (!buf)
        return ec_error_set(EC_ENOMEM, "http encode: %zu bytes", need);
    rc = ec_http_encode(m, buf, need, out_len);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    return 0;
}

/* ---- decoding ---- */

typedef struct reader {
    const uint8_t *p;
    size_t len, off;
    const char *kind;
} reader;

static int rd_fail(reader *r, const char *field, const char *why)
{
    return ec_error_set(EC_EFORMAT, "http %s payload: %s at byte %zu: %s", r->kind, field, r->off,
                        why);
}

static int rd_u16(reader *r, const char *field, unsigned *out)
{
    if (r->len - r->off < 2)
        return rd_fail(r, field, "truncated");
    *out = (unsigned)r->p[r->off] << 8 | r->p[r->off + 1];
    r->off += 2;
    return 0;
}

static int rd_str(reader *r, const char *field, size_t max, const void **s, size_t *n)
{
    if (r->len - r->off < 4)
        return rd_fail(r, field, "truncated length");
    uint32_t l = ec_get_u32(r->p + r->off);
    if (l > max)
        return rd_fail(r, field, "length over the format limit");
    if (r->len - r->off - 4 < l)
        return rd_fail(r, field, "length runs past the end");
    *s = r->p + r->off + 4;
    *n = l;
    r->off += 4 + (size_t)l;
    return 0;
}

static int rd_headers(reader *r, ec_http_msg *m)
{
    if (r->len - r->off < 4)
        return rd_fail(r, "header count", "truncated");
    uint32_t n = ec_get_u32(r->p + r->off);
    if (n > EC_HTTP_HEADERS_MAX)
        return rd_fail(r, "header count", "over the format limit of 256");
    /* Every field takes at least 9 bytes: refuse a count the rest cannot hold before
     * allocating for it. */
    if ((size_t)n * 9 > r->len - r->off - 4)
        return rd_fail(r, "header count", "more fields than the payload can hold");
    r->off += 4;
    if (!n)
        return 0;
    ec_http_header *h = calloc(n, sizeof *h);
    if (!h)
        return ec_error_set(EC_ENOMEM, "http decode: %u header fields", n);
    m->owned_headers_ = h;
    m->headers = h;
    for (uint32_t i = 0; i < n; i++) {
        size_t at = r->off;
        const void *s = NULL;
        int rc = rd_str(r, "header name", EC_HTTP_NAME_MAX, &s, &h[i].name_len);
        if (rc)
            return rc;
        h[i].name = s;
        if (!ec_http_token_ok(h[i].name, h[i].name_len, 1, EC_HTTP_NAME_MAX)) {
            r->off = at;
            return rd_fail(r, "header name", "must be 1..256 token characters");
        }
        at = r->off;
        rc = rd_str(r, "header value", EC_HTTP_VALUE_MAX, &s, &h[i].value_len);
        if (rc)
            return rc;
        h[i].value = s;
        if (!ec_http_value_ok(h[i].value, h[i].value_len)) {
            r->off = at;
            return rd_fail(r, "header value", "NUL/CR/LF or surrounding blanks");
        }
        m->header_count = i + 1;
    }
    return 0;
}

static int decode_fields(reader *r, ec_http_msg *m)
{
    const void *s;
    int rc = 0;
    size_t at;
    switch (m->kind) {
    case EC_HTTP_REQUEST:
    case EC_HTTP_CLIENT_REQUEST:
        at = r->off;
        if ((rc = rd_str(r, "method", EC_HTTP_METHOD_MAX, &s, &m->method_len)))
            return rc;
        m->method = s;
        if (!ec_http_token_ok(m->method, m->method_len, 1, EC_HTTP_METHOD_MAX))
            return r->off = at, rd_fail(r, "method", "must be 1..32 token characters");
        at = r->off;
        if ((rc = rd_str(r, m->kind == EC_HTTP_REQUEST ? "target" : "url", EC_HTTP_TARGET_MAX, &s,
                         &m->target_len)))
            return rc;
        m->target = s;
        if (m->kind == EC_HTTP_REQUEST ? !ec_http_target_ok(m->target, m->target_len)
                                       : !url_ok(m->target, m->target_len))
            return r->off = at, rd_fail(r, m->kind == EC_HTTP_REQUEST ? "target" : "url",
                                        "not a valid request-target or URL");
        if ((rc = rd_headers(r, m)))
            return rc;
        if ((rc = rd_str(r, "body", EC_HTTP_BODY_MAX, &s, &m->body_len)))
            return rc;
        m->body = s;
        return 0;
    case EC_HTTP_RESPONSE:
        at = r->off;
        if ((rc = rd_u16(r, "status", &m->status)))
            return rc;
        if (m->status < 100 || m->status > 599)
            return r->off = at, rd_fail(r, "status", "must be 100..599");
        if ((rc = rd_headers(r, m)))
            return rc;
        if ((rc = rd_str(r, "body", EC_HTTP_BODY_MAX, &s, &m->body_len)))
            return rc;
        m->body = s;
        return 0;
    case EC_HTTP_REFUSAL:
        at = r->off;
        if ((rc = rd_u16(r, "status", &m->status)))
            return rc;
        if (m->status < 100 || m->status > 599)
            return r->off = at, rd_fail(r, "status", "must be 100..599");
        at = r->off;
        if ((rc = rd_str(r, "reason", EC_HTTP_REASON_MAX, &s, &m->reason_len)))
            return rc;
        m->reason = s;
        if (!reason_ok(m->reason, m->reason_len))
            return r->off = at, rd_fail(r, "reason", "not valid UTF-8");
        at = r->off;
        if ((rc = rd_str(r, "method", EC_HTTP_METHOD_MAX, &s, &m->method_len)))
            return rc;
        m->method = s;
        if (!ec_http_token_ok(m->method, m->method_len, 0, EC_HTTP_METHOD_MAX))
            return r->off = at, rd_fail(r, "method", "must be token characters");
        at = r->off;
        if ((rc = rd_str(r, "target", EC_HTTP_TARGET_MAX, &s, &m->target_len)))
            return rc;
        m->target = s;
        if (!visible(m->target, m->target_len))
            return r->off = at, rd_fail(r, "target", "must be visible ASCII");
        return rd_headers(r, m);
    case EC_HTTP_CLIENT_ERROR:
        if (r->off >= r->len)
            return rd_fail(r, "error kind", "truncated");
        m->error = (ec_http_error)r->p[r->off];
        if (!ec_http_error_name(m->error))
            return rd_fail(r, "error kind", "must be 1..6");
        r->off++;
        at = r->off;
        if ((rc = rd_str(r, "message", EC_HTTP_REASON_MAX, &s, &m->reason_len)))
            return rc;
        m->reason = s;
        if (!reason_ok(m->reason, m->reason_len))
            return r->off = at, rd_fail(r, "message", "not valid UTF-8");
        return 0;
    }
    return rd_fail(r, "kind", "unknown");
}

int ec_http_decode(ec_http_msg *out, const uint8_t *data, size_t len)
{
    memset(out, 0, sizeof *out);
    reader r = {data, len, 0, "?"};
    if (!data || len < EC_HTTP_HEADER_LEN)
        return rd_fail(&r, "header", "shorter than the 8-byte header");
    if (memcmp(data, EC_HTTP_MAGIC, EC_HTTP_MAGIC_LEN) != 0)
        return rd_fail(&r, "magic", "not \"evhttp\"");
    r.off = 6;
    if (data[6] != EC_HTTP_VERSION)
        return rd_fail(&r, "version", "unsupported (this reader knows 1)");
    r.off = 7;
    out->kind = (ec_http_kind)data[7];
    if (!kind_name(out->kind))
        return rd_fail(&r, "kind", "unknown (1..5)");
    r.kind = kind_name(out->kind);
    r.off = EC_HTTP_HEADER_LEN;
    int rc = decode_fields(&r, out);
    if (!rc && r.off != len)
        rc = rd_fail(&r, "end", "trailing bytes after the last field");
    if (rc)
        ec_http_msg_clear(out);
    return rc;
}

void ec_http_msg_clear(ec_http_msg *m)
{
    if (!m)
        return;
    free(m->owned_headers_);
    memset(m, 0, sizeof *m);
}

void ec_http_target_split(const char *target, size_t len, const char **path, size_t *path_len,
                          const char **query, size_t *query_len)
{
    const char *q = len ? memchr(target, '?', len) : NULL;
    *path = target;
    *path_len = q ? (size_t)(q - target) : len;
    *query = q ? q + 1 : NULL;
    *query_len = q ? len - (size_t)(q - target) - 1 : 0;
}

/* ---- JSON for display ---- */

/* Text when the bytes are UTF-8 (the usual case: readable), base64 otherwise, under a key
 * that says which: the JSON is a faithful rendering either way. */
static int json_blob(json_t *obj, const char *key, const char *b64key, const void *p, size_t n)
{
    if (!n || ec_utf8_valid(p, n))
        return json_object_set_new(obj, key, json_stringn(n ? p : "", n));
    char *b = malloc(ec_base64_len(n) + 1);
    if (!b)
        return -1;
    ec_base64_encode(b, p, n);
    int rc = json_object_set_new(obj, b64key, json_string(b));
    free(b);
    return rc;
}

int ec_http_to_json(const uint8_t *data, size_t len, char **json_out)
{
    ec_http_msg m;
    int rc = ec_http_decode(&m, data, len);
    if (rc)
        return rc;
    json_t *o = json_object();
    int bad = !o;
    bad |= !o || json_object_set_new(o, "http", json_string(kind_name(m.kind)));
    if (!bad && (m.kind == EC_HTTP_RESPONSE || m.kind == EC_HTTP_REFUSAL))
        bad |= json_object_set_new(o, "status", json_integer(m.status));
    if (!bad && m.kind == EC_HTTP_REFUSAL)
        bad |=
            json_object_set_new(o, "reason", json_stringn(m.reason ? m.reason : "", m.reason_len));
    if (!bad && m.kind == EC_HTTP_CLIENT_ERROR) {
        bad |= json_object_set_new(o, "error", json_string(ec_http_error_name(m.error)));
        bad |=
            json_object_set_new(o, "message", json_stringn(m.reason ? m.reason : "", m.reason_len));
    }
    if (!bad && (m.kind == EC_HTTP_REQUEST || m.kind == EC_HTTP_REFUSAL ||
                 m.kind == EC_HTTP_CLIENT_REQUEST)) {
        bad |=
            json_object_set_new(o, "method", json_stringn(m.method ? m.method : "", m.method_len));
        if (m.kind == EC_HTTP_CLIENT_REQUEST) {
            bad |= json_object_set_new(o, "url", json_stringn(m.target, m.target_len));
        } else {
            const char *path, *query;
            size_t pl, ql;
            ec_http_target_split(m.target ? m.target : "", m.target_len, &path, &pl, &query, &ql);
            bad |= json_object_set_new(o, "target",
                                       json_stringn(m.target ? m.target : "", m.target_len));
            bad |= json_object_set_new(o, "path", json_stringn(path, pl));
            bad |= json_object_set_new(o, "query", query ? json_stringn(query, ql) : json_null());
        }
    }
    if (!bad && m.kind != EC_HTTP_CLIENT_ERROR) {
        json_t *hs = json_array();
        bad |= !hs || json_object_set_new(o, "headers", hs);
        for (size_t i = 0; !bad && i < m.header_count; i++) {
            json_t *h = json_object();
            bad |= !h || json_array_append_new(hs, h);
            bad |= bad || json_object_set_new(
                              h, "name", json_stringn(m.headers[i].name, m.headers[i].name_len));
            bad |= bad || json_blob(h, "value", "value_base64", m.headers[i].value,
                                    m.headers[i].value_len);
        }
    }
    if (!bad && m.kind != EC_HTTP_CLIENT_ERROR && m.kind != EC_HTTP_REFUSAL)
        bad |= json_blob(o, "body", "body_base64", m.body, m.body_len);
    char *s = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    ec_http_msg_clear(&m);
    if (!s)
        return ec_error_set(EC_ENOMEM, "http payload to JSON: out of memory");
    *json_out = s;
    return 0;
}
