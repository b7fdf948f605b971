/* actor/cbor.c: deterministic CBOR for actor event payloads: the writer, the strict reader
 * (cb_check) and the rendering to JSON behind ec_payload_to_json (docs/ABI.md section 4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evchain/actor.h>
#include <evchain/http.h>
#include "core/internal.h"
#include "actor/cbor.h"

void cb_init(cbuf *b, uint8_t *small, size_t cap)
{
    b->p = small;
    b->len = 0;
    b->cap = cap;
    b->heap = 0;
    b->oom = 0;
}

void cb_free(cbuf *b)
{
    if (b->heap)
        free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->heap = 0;
}

static int cb_room(cbuf *b, size_t n)
{
    if (b->oom)
        return -1;
    if (b->cap - b->len >= n)
        return 0;
    size_t want = b->cap ? b->cap * 2 : 256;
    while (want - b->len < n) {
        if (want > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        want *= 2;
    }
    uint8_t *q = b->heap ? realloc(b->p, want) : malloc(want);
    if (!q) {
        b->oom = 1;
        return -1;
    }
    if (!b->heap && b->len)
        memcpy(q, b->p, b->len);
    b->p = q;
    b->cap = want;
    b->heap = 1;
    return 0;
}

/* The shortest head for major type `mt` and argument v (deterministic rule 1). */
static void cb_head(cbuf *b, unsigned mt, uint64_t v)
{
    if (cb_room(b, 9))
        return;
    uint8_t *p = b->p + b->len;
    mt <<= 5;
    if (v < 24) {
        p[0] = (uint8_t)(mt | v);
        b->len += 1;
    } else if (v <= 0xff) {
        p[0] = (uint8_t)(mt | 24);
        p[1] = (uint8_t)v;
        b->len += 2;
    } else if (v <= 0xffff) {
        p[0] = (uint8_t)(mt | 25);
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)v;
        b->len += 3;
    } else if (v <= 0xffffffffu) {
        p[0] = (uint8_t)(mt | 26);
        ec_put_u32(p + 1, (uint32_t)v);
        b->len += 5;
    } else {
        p[0] = (uint8_t)(mt | 27);
        ec_put_u64(p + 1, v);
        b->len += 9;
    }
}

void cb_uint(cbuf *b, uint64_t v)
{
    cb_head(b, 0, v);
}

void cb_int(cbuf *b, int64_t v)
{
    if (v >= 0)
        cb_head(b, 0, (uint64_t)v);
    else
        cb_head(b, 1, (uint64_t)(-(v + 1)));
}

static void cb_raw(cbuf *b, unsigned mt, const void *p, size_t n)
{
    cb_head(b, mt, n);
    if (n == 0 || cb_room(b, n))
        return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void cb_bytes(cbuf *b, const void *p, size_t n)
{
    cb_raw(b, 2, p, n);
}

void cb_text(cbuf *b, const char *s, size_t n)
{
    cb_raw(b, 3, s, n);
}

void cb_str(cbuf *b, const char *s)
{
    cb_raw(b, 3, s, strlen(s));
}

void cb_blob(cbuf *b, const void *p, size_t n)
{
    if (ec_utf8_valid(p, n))
        cb_raw(b, 3, p, n);
    else
        cb_raw(b, 2, p, n);
}

void cb_map(cbuf *b, size_t pairs)
{
    cb_head(b, 5, pairs);
}

void cb_array(cbuf *b, size_t items)
{
    cb_head(b, 4, items);
}

void cb_bool(cbuf *b, int v)
{
    cb_head(b, 7, v ? 21 : 20);
}

void cb_null(cbuf *b)
{
    cb_head(b, 7, 22);
}

/* ---- reader ---- */

typedef struct rd {
    const uint8_t *p;
    size_t len, off;
    cbuf *json; /* NULL: check only */
} rd;

#define MAX_DEPTH 32

static int rd_fail(rd *r, const char *why)
{
    return ec_error_set(EC_EFORMAT, "payload: byte %zu: %s", r->off, why);
}

/* Read one head; refuses non-shortest forms, indefinite lengths and floats. */
static int rd_head(rd *r, unsigned *mt, uint64_t *v)
{
    if (r->off >= r->len)
        return rd_fail(r, "truncated (item expected)");
    uint8_t ib = r->p[r->off];
    unsigned ai = ib & 31u;
    *mt = ib >> 5;
    size_t n = ai < 24 ? 0 : ai == 24 ? 1 : ai == 25 ? 2 : ai == 26 ? 4 : ai == 27 ? 8 : 99;
    if (n == 99)
        return rd_fail(r, "indefinite length or reserved head");
    if (r->len - r->off - 1 < n)
        return rd_fail(r, "truncated head");
    uint64_t x = ai < 24 ? ai : 0;
    for (size_t k = 0; k < n; k++)
        x = x << 8 | r->p[r->off + 1 + k];
    uint64_t min = n == 0 ? 0 : n == 1 ? 24 : n == 2 ? 0x100 : n == 4 ? 0x10000 : 0x100000000u;
    if (x < min)
        return rd_fail(r, "integer or length not in its shortest form");
    if (*mt == 7 && !(n == 0 && (x == 20 || x == 21 || x == 22)))
        return rd_fail(r, "unsupported simple value or float");
    r->off += 1 + n;
    *v = x;
    return 0;
}

static void js_str(cbuf *o, const char *s, size_t n)
{
    char tmp[8];
    uint8_t q = '"';
    cb_room(o, n + 2);
    if (o->oom)
        return;
    o->p[o->len++] = q;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        const char *esc = NULL;
        size_t el = 2;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\t')
            esc = "\\t";
        else if (c == '\r')
            esc = "\\r";
        else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            esc = tmp;
            el = 6;
        }
        if (cb_room(o, esc ? el : 1))
            return;
        if (esc) {
            memcpy(o->p + o->len, esc, el);
            o->len += el;
        } else {
            o->p[o->len++] = c;
        }
    }
    if (cb_room(o, 1) == 0)
        o->p[o->len++] = q;
}

static void js_lit(cbuf *o, const char *s)
{
    size_t n = strlen(s);
    if (cb_room(o, n) == 0) {
        memcpy(o->p + o->len, s, n);
        o->len += n;
    }
}

static int rd_item(rd *r, int depth, const uint8_t **key, size_t *key_len);

static int rd_item(rd *r, int depth, const uint8_t **key, size_t *key_len)
{
    unsigned mt = 0;
    uint64_t v = 0;
    char num[32];
    if (depth > MAX_DEPTH)
        return rd_fail(r, "nested too deeply");
    size_t start = r->off;
    int rc = rd_head(r, &mt, &v);
    if (rc)
        return rc;
    if (key && mt != 3) { /* every path below that is not text must not leave *key unset */
        r->off = start;
        return rd_fail(r, "map key is not a text string");
    }
    switch (mt) {
    case 0:
        if (r->json) {
            snprintf(num, sizeof num, "%llu", (unsigned long long)v);
            js_lit(r->json, num);
        }
        return 0;
    case 1:
        if (r->json) {
            if (v == UINT64_MAX)
                js_lit(r->json, "-18446744073709551616");
            else {
                snprintf(num, sizeof num, "-%llu", (unsigned long long)v + 1);
                js_lit(r->json, num);
            }
        }
        return 0;
    case 2:
    case 3: {
        if (v > r->len - r->off)
            return rd_fail(r, "string runs past the end");
        const uint8_t *s = r->p + r->off;
        size_t n = (size_t)v;
        if (mt == 3 && !ec_utf8_valid((const char *)s, n))
            return rd_fail(r, "text string is not valid UTF-8");
        if (key) {
            if (mt != 3)
                return rd_fail(r, "map key is not a text string");
            *key = r->p + start;
            *key_len = r->off + n - start;
        }
        r->off += n;
        if (r->json) {
            if (mt == 3) {
                js_str(r->json, (const char *)s, n);
            } else {
                char *hex = malloc(2 * n + 1);
                if (!hex) {
                    r->json->oom = 1;
                    return 0;
                }
                ec_hex_encode(hex, s, n);
                js_str(r->json, hex, 2 * n);
                free(hex);
            }
        }
        return 0;
    }
    case 4:
        if (key)
            return rd_fail(r, "map key is not a text string");
        if (v > r->len - r->off)
            return rd_fail(r, "array longer than the payload");
        if (r->json)
            js_lit(r->json, "[");
        for (uint64_t k = 0; k < v; k++) {
            if (k && r->json)
                js_lit(r->json, ",");
            if ((rc = rd_item(r, depth + 1, NULL, NULL)))
                return rc;
        }
        if (r->json)
            js_lit(r->json, "]");
        return 0;
    case 5: {
        if (key)
            return rd_fail(r, "map key is not a text string");
        if (v > (r->len - r->off) / 2)
            return rd_fail(r, "map longer than the payload");
        if (r->json)
            js_lit(r->json, "{");
        const uint8_t *prev = NULL;
        size_t prev_len = 0;
        for (uint64_t k = 0; k < v; k++) {
            const uint8_t *kp;
            size_t kl;
            if (k && r->json)
                js_lit(r->json, ",");
            size_t key_off = r->off;
            if ((rc = rd_item(r, depth + 1, &kp, &kl)))
                return rc;
            /* Deterministic order: encoded keys sorted bytewise (shorter first, since the
             * head carries the length), no duplicates. */
            if (prev) {
                size_t m = prev_len < kl ? prev_len : kl;
                int c = memcmp(prev, kp, m);
                if (c > 0 || (c == 0 && prev_len >= kl)) {
                    r->off = key_off;
                    return rd_fail(r, "map keys not in deterministic order or repeated");
                }
            }
            prev = kp;
            prev_len = kl;
            if (r->json)
                js_lit(r->json, ":");
            if ((rc = rd_item(r, depth + 1, NULL, NULL)))
                return rc;
        }
        if (r->json)
            js_lit(r->json, "}");
        return 0;
    }
    case 6:
        r->off = start;
        return rd_fail(r, "tags are not used in payloads");
    default: /* 7: false, true, null (rd_head refused the rest) */
        if (key)
            return rd_fail(r, "map key is not a text string");
        if (r->json)
            js_lit(r->json, v == 20 ? "false" : v == 21 ? "true" : "null");
        return 0;
    }
}

int cb_check(const uint8_t *data, size_t len)
{
    rd r = {data, len, 0, NULL};
    int rc = rd_item(&r, 0, NULL, NULL);
    if (rc)
        return rc;
    if (r.off != len)
        return rd_fail(&r, "trailing bytes after the payload");
    return 0;
}

/* Event types this layer writes: "<category>/<name>" with one of these categories. */
static const char *const categories[] = {"actor",      "wasm",  "runtime", "time", "timer",
                                         "random",     "env",   "store",   "fs",   "message",
                                         "supervisor", "state", "http"};

int ec_payload_is_actor_type(const char *event_type, size_t len)
{
    if (!event_type)
        return 0;
    if (len == 0)
        len = strlen(event_type);
    const char *slash = memchr(event_type, '/', len);
    if (!slash)
        return 0;
    size_t cl = (size_t)(slash - event_type);
    for (size_t k = 0; k < sizeof categories / sizeof categories[0]; k++)
        if (strlen(categories[k]) == cl && memcmp(categories[k], event_type, cl) == 0)
            return 1;
    return 0;
}

int ec_payload_to_json(const char *event_type, const uint8_t *data, size_t len, char **json_out)
{
    if (!json_out)
        return ec_error_set(EC_EINVAL, "ec_payload_to_json: json_out is NULL");
    *json_out = NULL;
    if (!ec_payload_is_actor_type(event_type, 0))
        return ec_error_set(EC_EUNSUPPORTED, "payload: event type '%s' is not an actor event",
                            event_type ? event_type : "(null)");
    if (!data && len)
        return ec_error_set(EC_EINVAL, "ec_payload_to_json: data is NULL");
    /* Events of category http hold FORMAT.md section 7 payloads, except the ABI's .result events.
     */
    size_t tl = strlen(event_type);
    if (strncmp(event_type, "http/", 5) == 0 &&
        !(tl > 7 && strcmp(event_type + tl - 7, ".result") == 0))
        return ec_http_to_json(data, len, json_out);
    cbuf out;
    cb_init(&out, NULL, 0);
    rd r = {data, len, 0, &out};
    int rc = rd_item(&r, 0, NULL, NULL);
    if (rc == 0 && r.off != len)
        rc = rd_fail(&r, "trailing bytes after the payload");
    if (rc == 0 && out.oom)
        rc = ec_error_set(EC_ENOMEM, "payload: out of memory rendering JSON");
    if (rc == 0 && cb_room(&out, 1) == 0)
        out.p[out.len] = 0;
    else if (rc == 0)
        rc = ec_error_set(EC_ENOMEM, "payload: out of memory rendering JSON");
    if (rc) {
        cb_free(&out);
        return rc;
    }
    *json_out = (char *)out.p; /* heap: cb_room allocated it */
    return 0;
}

int cb_map_find(const uint8_t *data, size_t len, const char *key, unsigned *mt, const uint8_t **val,
                size_t *val_len, uint64_t *num)
{
    rd r = {data, len, 0, NULL};
    unsigned m;
    uint64_t n;
    if (rd_head(&r, &m, &n) || m != 5)
        return -1;
    size_t kl = strlen(key);
    for (uint64_t k = 0; k < n; k++) {
        unsigned km = 0;
        uint64_t klen = 0;
        if (rd_head(&r, &km, &klen) || km != 3 || klen > r.len - r.off)
            return -1;
        int match = klen == kl && memcmp(r.p + r.off, key, kl) == 0;
        r.off += (size_t)klen;
        size_t vstart = r.off;
        unsigned vm;
        uint64_t v;
        if (rd_head(&r, &vm, &v))
            return -1;
        if (match) {
            *mt = vm;
            *num = v;
            if ((vm == 2 || vm == 3) && v <= r.len - r.off) {
                *val = r.p + r.off;
                *val_len = (size_t)v;
            } else {
                *val = NULL;
                *val_len = 0;
            }
            return 0;
        }
        r.off = vstart;
        if (rd_item(&r, 1, NULL, NULL))
            return -1;
    }
    return -1;
}
