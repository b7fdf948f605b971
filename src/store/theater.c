/* store/theater.c: Theater's chain.json (docs/FORMAT.md section 3): a streaming reader
 * turning each array element into an evchain event of algorithm theater-sha1, and the writer
 * reproducing Theater's files byte for byte (Python's json.dumps(events, indent=2)). The
 * hash rule itself is in the core. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "store/interchange.h"

#define THEATER_HASH_LEN 20

/* ---- streaming reader ----
 * A small pull parser for exactly Theater's shape (an array of objects whose values are
 * null, strings and arrays of byte values), reading from the buffered source: memory stays
 * bounded by one event, where jansson would hold the whole file as a tree of one value per
 * byte (about 50 bytes each). Accepts standard JSON (any whitespace, any key order, escapes
 * in strings) and refuses everything else with the byte offset. */

static int tfail(ec_src *s, size_t idx, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int tfail(ec_src *s, size_t idx, const char *field, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (s->io_errno)
        return ec_error_set_errno(EC_EIO, s->io_errno, "%s: reading", s->name);
    return ec_error_set(EC_EFORMAT, "%s: byte %llu (event %zu): %s%s%s", s->name,
                        (unsigned long long)(s->offset + s->pos), idx, field ? field : "",
                        field ? ": " : "", why);
}

#define peek    ec_src_peek
#define peek_ws ec_src_peek_ws

static const char *describe(int c, char *buf)
{
    if (c == -1)
        return "the end of the file";
    if (c == -2)
        return "a read error";
    snprintf(buf, 16, c >= 0x20 && c < 0x7f ? "'%c'" : "byte 0x%02x", c);
    return buf;
}

/* Expect character want after whitespace. */
static int expect(ec_src *s, size_t idx, const char *field, int want)
{
    char b[16];
    int c = peek_ws(s);
    if (c != want)
        return tfail(s, idx, field, "expected '%c', found %s", want, describe(c, b));
    s->pos++;
    return 0;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static int read_u_escape(ec_src *s, size_t idx, const char *field, uint32_t *out)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(peek(s));
        if (h < 0)
            return tfail(s, idx, field, "bad \\u escape");
        v = v << 4 | (uint32_t)h;
        s->pos++;
    }
    *out = v;
    return 0;
}

/* A JSON string (the opening quote next) decoded to UTF-8 in out, at most max bytes. */
static int read_string(ec_src *s, size_t idx, const char *field, ec_bytes *out, size_t max)
{
    int rc = expect(s, idx, field, '"');
    if (rc)
        return rc;
    out->len = 0;
    for (;;) {
        int c = peek(s);
        if (c < 0)
            return tfail(s, idx, field, "unterminated string");
        s->pos++;
        if (c == '"')
            break;
        uint8_t enc[4];
        size_t n = 1;
        enc[0] = (uint8_t)c;
        if (c < 0x20)
            return tfail(s, idx, field, "control character 0x%02x in a string", c);
        if (c == '\\') {
            int e = peek(s);
            s->pos++;
            const char *simple = strchr("\"\\/bfnrt", e > 0 ? e : 'x');
            if (e > 0 && e != 'u' && simple) {
                static const char map[] = "\"\\/\b\f\n\r\t";
                enc[0] = (uint8_t)map[simple - "\"\\/bfnrt"];
            } else if (e == 'u') {
                uint32_t cp, lo;
                if ((rc = read_u_escape(s, idx, field, &cp)) != 0)
                    return rc;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return tfail(s, idx, field, "lone low surrogate \\u%04x", cp);
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (peek(s) != '\\')
                        return tfail(s, idx, field, "lone high surrogate \\u%04x", cp);
                    s->pos++;
                    if (peek(s) != 'u')
                        return tfail(s, idx, field, "lone high surrogate \\u%04x", cp);
                    s->pos++;
                    if ((rc = read_u_escape(s, idx, field, &lo)) != 0)
                        return rc;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return tfail(s, idx, field, "bad surrogate pair");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (cp < 0x80) {
                    enc[0] = (uint8_t)cp;
                } else if (cp < 0x800) {
                    enc[0] = (uint8_t)(0xc0 | cp >> 6);
                    enc[1] = (uint8_t)(0x80 | (cp & 0x3f));
                    n = 2;
                } else if (cp < 0x10000) {
                    enc[0] = (uint8_t)(0xe0 | cp >> 12);
                    enc[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
                    enc[2] = (uint8_t)(0x80 | (cp & 0x3f));
                    n = 3;
                } else {
                    enc[0] = (uint8_t)(0xf0 | cp >> 18);
                    enc[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
                    enc[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
                    enc[3] = (uint8_t)(0x80 | (cp & 0x3f));
                    n = 4;
                }
            } else {
                return tfail(s, idx, field, "bad escape in a string");
            }
        }
        if (out->len + n > max)
            return tfail(s, idx, field, "longer than %zu bytes", max);
        if ((rc = ec_bytes_reserve(out, out->len + n)) != 0)
            return rc;
        memcpy(out->p + out->len, enc, n);
        out->len += n;
    }
    if (!ec_utf8_valid((const char *)out->p, out->len))
        return tfail(s, idx, field, "not valid UTF-8");
    return 0;
}

/* A byte string: [ int 0..255, ... ] into out (at most max bytes). */
static int read_bytes(ec_src *s, size_t idx, const char *field, ec_bytes *out, size_t max)
{
    int rc = expect(s, idx, field, '[');
    if (rc)
        return rc;
    out->len = 0;
    char b[16];
    int c = peek_ws(s);
    if (c == ']') {
        s->pos++;
        return 0;
    }
    for (;;) {
        c = peek_ws(s);
        if (c < '0' || c > '9')
            return tfail(s, idx, field, "element %zu: expected an integer 0..255, found %s",
                         out->len, describe(c, b));
        unsigned v = 0, digits = 0;
        int first = c; /* kept here: a refill may drop consumed bytes from the buffer */
        while ((c = peek(s)) >= '0' && c <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(c - '0');
            digits++;
            s->pos++;
        }
        /* JSON has no leading zeros; a fraction, exponent or fourth digit is not a byte */
        if (v > 255 || (digits > 1 && first == '0') || c == '.' || c == 'e' || c == 'E' ||
            (c >= '0' && c <= '9'))
            return tfail(s, idx, field, "element %zu is not an integer 0..255", out->len);
        if (out->len >= max)
            return tfail(s, idx, field, "more than %zu bytes", max);
        if ((rc = ec_bytes_reserve(out, out->len + 1)) != 0)
            return rc;
        out->p[out->len++] = (uint8_t)v;
        c = peek_ws(s);
        s->pos++;
        if (c == ']')
            return 0;
        if (c != ',') {
            s->pos--;
            return tfail(s, idx, field, "expected ',' or ']', found %s", describe(c, b));
        }
    }
}

static int read_literal(ec_src *s, const char *word)
{
    for (const char *w = word; *w; w++) {
        if (peek(s) != *w)
            return -1;
        s->pos++;
    }
    return 0;
}

int ec_theater_next(ec_src *s, ec_tstate *t, ec_jevent *ev, ec_bytes *data)
{
    char b[16];
    size_t idx = t->idx;
    int rc, c;
    if (t->done)
        return EC_ITEROVER;
    if (!t->started) {
        if ((rc = expect(s, idx, NULL, '[')) != 0)
            return rc;
        t->started = 1;
        if (peek_ws(s) == ']') {
            s->pos++;
            goto end;
        }
    } else {
        c = peek_ws(s);
        s->pos++;
        if (c == ']')
            goto end;
        if (c != ',') {
            s->pos--;
            return tfail(s, idx, NULL, "expected ',' or ']' after an event, found %s",
                         describe(c, b));
        }
    }
    if ((c = peek_ws(s)) != '{')
        return tfail(s, idx, NULL, "expected an event object '{', found %s", describe(c, b));
    s->pos++;
    memset(ev, 0, sizeof *ev);
    ev->seq = idx; /* Theater has no seq: the position is the seq (FORMAT.md 3) */
    unsigned seen = 0;
    static const char *const keys[] = {"hash", "parent_hash", "event_type", "data"};
    if (peek_ws(s) == '}')
        return tfail(s, idx, NULL, "empty event object");
    for (;;) {
        if ((rc = read_string(s, idx, "key", &t->key, 64)) != 0)
            return rc;
        unsigned k = 0;
        while (k < 4 &&
               (t->key.len != strlen(keys[k]) || memcmp(t->key.p, keys[k], t->key.len) != 0))
            k++;
        if (k == 4) {
            int covered = !(t->key.len == 9 && memcmp(t->key.p, "timestamp", 9) == 0) &&
                          !(t->key.len == 11 && memcmp(t->key.p, "description", 11) == 0);
            /* Theater's Rust struct also has timestamp and description, but its hash does
             * not cover them: a theater-sha1 record holds neither (FORMAT.md 3), so refuse
             * rather than drop them silently. */
            if (!covered)
                return tfail(s, idx, NULL,
                             "key \"%.*s\" is not covered by Theater's hash, so a "
                             "theater-sha1 chain cannot hold it",
                             (int)t->key.len, (const char *)t->key.p);
            return tfail(s, idx, NULL, "unknown key \"%.*s\"", (int)t->key.len,
                         (const char *)t->key.p);
        }
        if (seen & (1u << k))
            return tfail(s, idx, NULL, "duplicate key \"%s\"", keys[k]);
        seen |= 1u << k;
        if ((rc = expect(s, idx, keys[k], ':')) != 0)
            return rc;
        c = peek_ws(s);
        switch (k) {
        case 0:
            if ((rc = read_bytes(s, idx, "hash", &t->tmp, THEATER_HASH_LEN)) != 0)
                return rc;
            if (t->tmp.len != THEATER_HASH_LEN)
                return tfail(s, idx, "hash", "%zu bytes, not 20 (a SHA-1 digest)", t->tmp.len);
            memcpy(ev->hash, t->tmp.p, THEATER_HASH_LEN);
            break;
        case 1:
            if (c == 'n') {
                if (read_literal(s, "null") != 0)
                    return tfail(s, idx, "parent_hash", "neither null nor an array of bytes");
                break;
            }
            if ((rc = read_bytes(s, idx, "parent_hash", &t->tmp, THEATER_HASH_LEN)) != 0)
                return rc;
            if (t->tmp.len != THEATER_HASH_LEN)
                return tfail(s, idx, "parent_hash", "%zu bytes, not 20 (a SHA-1 digest)",
                             t->tmp.len);
            memcpy(ev->parent, t->tmp.p, THEATER_HASH_LEN);
            ev->has_parent = 1;
            break;
        case 2:
            if (c != '"')
                return tfail(s, idx, "event_type", "not a string");
            if ((rc = read_string(s, idx, "event_type", &t->type, EC_TYPE_MAX)) != 0)
                return rc;
            if (t->type.len == 0)
                return tfail(s, idx, "event_type", "empty");
            if (memchr(t->type.p, 0, t->type.len))
                return tfail(s, idx, "event_type", "contains U+0000");
            break;
        case 3:
            if (c != '[')
                return tfail(s, idx, "data", "not an array of bytes");
            if ((rc = read_bytes(s, idx, "data", data, EC_DATA_MAX)) != 0)
                return rc;
            break;
        }
        c = peek_ws(s);
        s->pos++;
        if (c == '}')
            break;
        if (c != ',') {
            s->pos--;
            return tfail(s, idx, NULL, "expected ',' or '}' in an event, found %s", describe(c, b));
        }
    }
    for (unsigned k = 0; k < 4; k++)
        if (!(seen & (1u << k)))
            return tfail(s, idx, NULL, "missing key \"%s\"", keys[k]);
    ev->type = (const char *)t->type.p;
    ev->type_len = t->type.len;
    ev->data = data->p;
    ev->data_len = data->len;
    t->idx++;
    return 0;
end:
    if ((c = peek_ws(s)) != -1)
        return tfail(s, idx, NULL, "%s after the end of the array", describe(c, b));
    t->done = 1;
    return EC_ITEROVER;
}

void ec_tstate_free(ec_tstate *t)
{
    ec_bytes_free(&t->key);
    ec_bytes_free(&t->type);
    ec_bytes_free(&t->tmp);
}

/* Python's indent=2 array of bytes, the opening '[' already at the key's line. */
static void put_byte_array(ec_wbuf *w, const uint8_t *b, size_t n)
{
    if (n == 0) {
        ec_wbuf_put(w, "[]", 2);
        return;
    }
    ec_wbuf_put(w, "[", 1);
    for (size_t k = 0; k < n; k++) {
        /* ",\n" (after the first) + 6 spaces + up to 3 digits */
        char *p = ec_wbuf_room(w, 16);
        if (!p)
            return;
        size_t len = 0;
        if (k)
            p[len++] = ',';
        memcpy(p + len, "\n      ", 7);
        len += 7;
        unsigned v = b[k];
        if (v >= 100)
            p[len++] = (char)('0' + v / 100);
        if (v >= 10)
            p[len++] = (char)('0' + v / 10 % 10);
        p[len++] = (char)('0' + v % 10);
        w->len += len;
    }
    ec_wbuf_put(w, "\n    ]", 6);
}

int ec_theater_write(ec_chain *chain, ec_wbuf *w, const ec_export_options *o)
{
    ec_hash_alg alg = ec_chain_alg(chain);
    if (alg != EC_HASH_THEATER_SHA1)
        return ec_error_set(EC_EUNSUPPORTED,
                            "export: a %s chain cannot be written as Theater: its hashes are "
                            "not Theater's (only a theater-sha1 chain, e.g. one read from "
                            "Theater, can be)",
                            ec_hash_name(alg) ? ec_hash_name(alg) : "(unknown)");
    uint64_t count = ec_chain_count(chain);
    uint64_t to = o->to && o->to < count ? o->to : count;
    uint64_t total = to > o->from ? to - o->from : 0;
    if (total == 0) {
        ec_wbuf_put(w, "[]", 2);
        return 0;
    }
    ec_iter *it;
    int rc = ec_iter_new(&it, chain, o->from);
    if (rc)
        return rc;
    /* verified while read, as the other formats (json.c export_body) */
    if ((rc = ec_iter_verify(it, NULL)) != 0) {
        ec_iter_free(it);
        return rc;
    }
    ec_wbuf_put(w, "[", 1);
    for (uint64_t i = 0; i < total && !w->err; i++) {
        ec_event ev;
        if ((rc = ec_iter_next(it, &ev)) != 0) {
            if (rc == EC_ITEROVER)
                rc = ec_error_set(EC_ERROR, "export: the chain ended at seq %llu",
                                  (unsigned long long)(o->from + i));
            break;
        }
        ec_wbuf_str(w, i ? ",\n  {\n    \"hash\": " : "\n  {\n    \"hash\": ");
        put_byte_array(w, ev.hash, ev.hash_len);
        ec_wbuf_str(w, ",\n    \"parent_hash\": ");
        if (ev.parent_hash)
            put_byte_array(w, ev.parent_hash, ev.hash_len);
        else
            ec_wbuf_str(w, "null");
        ec_wbuf_str(w, ",\n    \"event_type\": ");
        ec_wbuf_json_string(w, ev.type, ev.type_len, 1);
        ec_wbuf_str(w, ",\n    \"data\": ");
        put_byte_array(w, ev.data, ev.data_len);
        ec_wbuf_str(w, "\n  }");
        if (o->progress && ((i + 1) % 4096 == 0 || i + 1 == total))
            o->progress(i + 1, total, o->progress_ctx);
    }
    ec_iter_free(it);
    if (rc == 0)
        ec_wbuf_put(w, "\n]", 2); /* Python's json.dumps: no final newline */
    return rc;
}
