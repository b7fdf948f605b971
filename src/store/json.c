/* store/json.c: JSON and JSONL interchange (docs/FORMAT.md section 2): the buffered source
 * and writer shared with Theater, the streaming readers, import, and export to streams and
 * files. Sits on the core (records, verifier, chain) and the backend interface. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "store/interchange.h"

#define JFLAGS     (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)
#define READ_CHUNK 65536u

/* ---- byte buffers ---- */

int ec_bytes_reserve(ec_bytes *b, size_t n)
{
    if (n <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < n)
        cap = cap > SIZE_MAX / 2 ? n : cap * 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return ec_error_set(EC_ENOMEM, "out of memory for %zu bytes", n);
    b->p = p;
    b->cap = cap;
    return 0;
}

void ec_bytes_free(ec_bytes *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- source ---- */

void ec_src_init(ec_src *s, FILE *f, const char *name)
{
    memset(s, 0, sizeof *s);
    s->f = f;
    s->name = name;
}

void ec_src_free(ec_src *s)
{
    free(s->buf);
    s->buf = NULL;
}

int ec_src_fill(ec_src *s, size_t want)
{
    while (s->len - s->pos < want && !s->eof) {
        if (s->pos > 0 && s->cap - s->len < READ_CHUNK) {
            /* Drop consumed bytes first: they are never looked at again. */
            memmove(s->buf, s->buf + s->pos, s->len - s->pos);
            s->offset += s->pos;
            s->len -= s->pos;
            s->pos = 0;
        }
        if (s->cap - s->len < READ_CHUNK) {
            size_t cap = s->cap ? s->cap * 2 : 4 * READ_CHUNK;
            while (cap - s->len < READ_CHUNK)
                cap *= 2;
            char *p = realloc(s->buf, cap);
            if (!p)
                return ec_error_set(EC_ENOMEM, "%s: out of memory reading", s->name);
            s->buf = p;
            s->cap = cap;
        }
        size_t n = fread(s->buf + s->len, 1, s->cap - s->len, s->f);
        s->len += n;
        if (n == 0) {
            if (ferror(s->f)) {
                s->io_errno = errno ? errno : EIO;
                return ec_error_set_errno(EC_EIO, s->io_errno, "%s: reading at byte %llu", s->name,
                                          (unsigned long long)(s->offset + s->len));
            }
            s->eof = 1;
        }
    }
    return 0;
}

static int is_ws(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int ec_src_detect(ec_src *s, ec_file_format *out)
{
    size_t i = 0;
    int rc;
    for (;;) {
        if (s->len - s->pos <= i) {
            if ((rc = ec_src_fill(s, i + 1)) != 0)
                return rc;
            if (s->len - s->pos <= i)
                return ec_error_set(EC_EFORMAT, "%s: empty file (no JSON, JSONL or Theater chain)",
                                    s->name);
        }
        if (!is_ws((unsigned char)s->buf[s->pos + i]))
            break;
        i++;
    }
    unsigned char c = (unsigned char)s->buf[s->pos + i];
    if (c == '[') {
        *out = EC_FORMAT_THEATER;
        return 0;
    }
    if (c != '{')
        return ec_error_set(EC_EFORMAT,
                            "%s: byte %llu: expected '{' (evchain JSON or JSONL) or '[' "
                            "(Theater), found 0x%02x",
                            s->name, (unsigned long long)(s->offset + s->pos + i), c);
    /* JSONL when the first line alone is a complete object without "events". */
    size_t scanned = i;
    const char *nl;
    for (;;) {
        size_t avail = s->len - s->pos;
        nl = memchr(s->buf + s->pos + scanned, '\n', avail - scanned);
        if (nl || s->eof || avail - i > EC_DETECT_LINE_MAX)
            break;
        scanned = avail;
        if ((rc = ec_src_fill(s, avail + READ_CHUNK)) != 0)
            return rc;
    }
    size_t end = nl ? (size_t)(nl - (s->buf + s->pos)) : s->len - s->pos;
    *out = EC_FORMAT_JSON;
    if (end - i > EC_DETECT_LINE_MAX)
        return 0;
    json_error_t err;
    json_t *first = json_loadb(s->buf + s->pos + i, end - i, JFLAGS, &err);
    if (first && json_is_object(first) && !json_object_get(first, "events"))
        *out = EC_FORMAT_JSONL;
    json_decref(first);
    return 0;
}

static size_t doc_feed(void *buffer, size_t buflen, void *data)
{
    ec_src *s = data;
    if (s->pos == s->len && (ec_src_fill(s, 1) != 0))
        return (size_t)-1;
    size_t n = s->len - s->pos;
    if (n > buflen)
        n = buflen;
    if (s->fed + n > s->feed_limit) {
        s->over_limit = 1;
        return (size_t)-1;
    }
    memcpy(buffer, s->buf + s->pos, n);
    s->pos += n;
    s->fed += n;
    return n;
}

json_t *ec_src_load_doc(ec_src *s, uint64_t limit, const char *what)
{
    json_error_t err;
    uint64_t base = s->offset + s->pos;
    s->fed = 0;
    s->feed_limit = limit;
    s->over_limit = 0;
    json_t *doc = json_load_callback(doc_feed, s, JFLAGS, &err);
    if (doc)
        return doc;
    if (s->over_limit)
        ec_error_set(EC_EFORMAT,
                     "%s: larger than the %llu MiB limit for a %s read whole (use JSONL for "
                     "larger chains)",
                     s->name, (unsigned long long)(limit >> 20), what);
    else if (s->io_errno)
        ec_error_set_errno(EC_EIO, s->io_errno, "%s: reading", s->name);
    else
        ec_error_set(EC_EFORMAT, "%s: line %d, column %d (byte %llu): %s", s->name, err.line,
                     err.column, (unsigned long long)(base + (uint64_t)err.position), err.text);
    return NULL;
}

int ec_src_line(ec_src *s, uint64_t lineno, const char **line, size_t *len, uint64_t max,
                uint64_t *line_off)
{
    size_t scanned = 0;
    for (;;) {
        size_t avail = s->len - s->pos;
        char *nl =
            scanned < avail ? memchr(s->buf + s->pos + scanned, '\n', avail - scanned) : NULL;
        size_t n = nl ? (size_t)(nl - (s->buf + s->pos)) : avail;
        if (n > max)
            return ec_error_set(
                EC_EFORMAT, "%s: line %llu (byte %llu): longer than the %llu MiB line limit",
                s->name, (unsigned long long)lineno, (unsigned long long)(s->offset + s->pos),
                (unsigned long long)(max >> 20));
        if (nl || s->eof) {
            if (!nl && avail == 0)
                return EC_ITEROVER;
            *line = s->buf + s->pos;
            *len = n;
            *line_off = s->offset + s->pos;
            s->pos += nl ? n + 1 : n;
            return 0;
        }
        scanned = avail;
        int rc = ec_src_fill(s, avail + READ_CHUNK);
        if (rc)
            return rc;
    }
}

/* ---- records ---- */

int ec_jevent_encode(const ec_jevent *ev, ec_hash_alg alg, ec_bytes *out)
{
    size_t h = ec_hash_len(alg);
    size_t enc = ec_event_encoded_size(alg, ev->has_parent, ev->type_len, ev->desc_len,
                                       ev->has_desc, ev->data_len);
    int rc = ec_bytes_reserve(out, enc + h);
    if (rc)
        return rc;
    /* The core's encoder (FORMAT.md section 1), then the stored hash as the file gave it. */
    size_t n =
        ec_encoding_write(out->p, alg, ev->seq, ev->timestamp, ev->has_parent ? ev->parent : NULL,
                          ev->type, ev->type_len, ev->has_desc ? (ev->desc ? ev->desc : "") : NULL,
                          ev->desc_len, ev->data, ev->data_len);
    memcpy(out->p + n, ev->hash, h);
    out->len = n + h;
    return 0;
}

int ec_json_get_u64(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return -1;
        *out = (uint64_t)i;
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > 20)
        return -1;
    uint64_t x = 0;
    for (size_t k = 0; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return -1;
        unsigned d = (unsigned)(s[k] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *out = x;
    return 0;
}

/* ---- readers ---- */

struct ec_reader {
    ec_src src;
    const char *name;
    ec_file_format fmt;
    ec_hash_alg alg;
    json_t *doc;          /* JSON: the whole document */
    const json_t *events; /* its array of events */
    size_t idx, n;        /* next index, count */
    uint64_t lineno;      /* JSONL: number of the last line read */
    json_t *cur;          /* JSONL: the current line's object */
    ec_bytes data, rec;
    ec_tstate theater; /* Theater: the streaming parser's state */
    int streaming;     /* JSON: read element by element (see json_stream_header) */
    int ended;         /* JSON streaming: the events array is closed */
    ec_bytes elem;     /* JSON streaming: the current element's bytes */
    char where[96];    /* "event 5" / "line 7 (event 5)": the last event, for messages */
};

ec_hash_alg ec_reader_alg(const ec_reader *r)
{
    return r->alg;
}

uint64_t ec_reader_hint(const ec_reader *r)
{
    return r->fmt == EC_FORMAT_JSON ? r->n : 0;
}

void ec_reader_free(ec_reader *r)
{
    if (!r)
        return;
    json_decref(r->doc);
    json_decref(r->cur);
    ec_bytes_free(&r->data);
    ec_bytes_free(&r->rec);
    ec_tstate_free(&r->theater);
    ec_bytes_free(&r->elem);
    ec_src_free(&r->src);
    free(r);
}

/* The header keys: evchain (must be 1), hash_alg, and events for the JSON document. */
static int check_header(ec_reader *r, const json_t *o, const char *where, int want_events)
{
    if (!json_is_object(o))
        return ec_error_set(EC_EFORMAT, "%s: %s: the header is not a JSON object", r->name, where);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        if (strcmp(key, "evchain") != 0 && strcmp(key, "hash_alg") != 0 &&
            !(want_events && strcmp(key, "events") == 0))
            return ec_error_set(EC_EFORMAT, "%s: %s: unknown header key \"%.40s\"", r->name, where,
                                key);
    }
    uint64_t version;
    v = json_object_get(o, "evchain");
    if (!v)
        return ec_error_set(EC_EFORMAT, "%s: %s: header has no \"evchain\" version", r->name,
                            where);
    if (ec_json_get_u64(v, &version) != 0)
        return ec_error_set(EC_EFORMAT, "%s: %s: \"evchain\" is not an unsigned integer", r->name,
                            where);
    if (version != 1)
        return ec_error_set(EC_EUNSUPPORTED,
                            "%s: %s: evchain file version %llu is not supported (this build "
                            "reads version 1)",
                            r->name, where, (unsigned long long)version);
    v = json_object_get(o, "hash_alg");
    if (!v || !json_is_string(v))
        return ec_error_set(EC_EFORMAT, "%s: %s: header has no \"hash_alg\" string", r->name,
                            where);
    if (ec_hash_from_name(&r->alg, json_string_value(v)) != 0)
        return ec_error_set(EC_EUNSUPPORTED, "%s: %s: unknown hash algorithm \"%.40s\"", r->name,
                            where, json_string_value(v));
    if (want_events) {
        r->events = json_object_get(o, "events");
        if (!r->events || !json_is_array(r->events))
            return ec_error_set(EC_EFORMAT, "%s: %s: no \"events\" array", r->name, where);
        r->n = json_array_size(r->events);
    }
    return 0;
}

static int ev_fail(ec_reader *r, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int ev_fail(ec_reader *r, const char *field, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return ec_error_set(EC_EFORMAT, "%s: %s: %s%s%s", r->name, r->where, field ? field : "",
                        field ? ": " : "", why);
}

static const char *const event_keys[] = {"seq",       "hash",        "parent_hash", "event_type",
                                         "timestamp", "description", "data"};

static int get_hash(ec_reader *r, const json_t *v, const char *field, uint8_t *out)
{
    size_t h = ec_hash_len(r->alg);
    if (!json_is_string(v))
        return ev_fail(r, field, "not a string of hex digits");
    size_t n = json_string_length(v);
    if (n != 2 * h)
        return ev_fail(r, field, "expected %zu hex digits (%s), got %zu characters", 2 * h,
                       ec_hash_name(r->alg), n);
    if (ec_hex_decode(out, h, json_string_value(v), n) != 0)
        return ev_fail(r, field, "not hex");
    return 0;
}

/* One event object of a JSON document or JSONL line into ev (FORMAT.md section 2). */
static int parse_event(ec_reader *r, const json_t *o, ec_jevent *ev)
{
    if (!json_is_object(o))
        return ev_fail(r, NULL, "not a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        size_t k = 0;
        while (k < sizeof event_keys / sizeof *event_keys && strcmp(key, event_keys[k]) != 0)
            k++;
        /* "payload" is display only (`evchain log --json` adds the decoded data of actor
         * events): not part of the event, ignored here (FORMAT.md section 2). */
        if (k == sizeof event_keys / sizeof *event_keys && strcmp(key, "payload") != 0)
            return ev_fail(r, NULL, "unknown key \"%.40s\"", key);
    }
    for (size_t k = 0; k < sizeof event_keys / sizeof *event_keys; k++)
        if (!json_object_get(o, event_keys[k]))
            return ev_fail(r, NULL, "missing key \"%s\"", event_keys[k]);
    memset(ev, 0, sizeof *ev);
    if (ec_json_get_u64(json_object_get(o, "seq"), &ev->seq) != 0)
        return ev_fail(r, "seq", "not an unsigned 64-bit integer (number or decimal string)");
    int rc = get_hash(r, json_object_get(o, "hash"), "hash", ev->hash);
    if (rc)
        return rc;
    v = json_object_get(o, "parent_hash");
    if (!json_is_null(v)) {
        if ((rc = get_hash(r, v, "parent_hash", ev->parent)) != 0)
            return rc;
        ev->has_parent = 1;
    }
    v = json_object_get(o, "event_type");
    if (!json_is_string(v))
        return ev_fail(r, "event_type", "not a string");
    ev->type = json_string_value(v);
    ev->type_len = json_string_length(v);
    if (ev->type_len == 0 || ev->type_len > EC_TYPE_MAX)
        return ev_fail(r, "event_type", "length %zu is outside 1..%u bytes", ev->type_len,
                       EC_TYPE_MAX);
    if (memchr(ev->type, 0, ev->type_len))
        return ev_fail(r, "event_type", "contains U+0000");
    if (ec_json_get_u64(json_object_get(o, "timestamp"), &ev->timestamp) != 0)
        return ev_fail(r, "timestamp", "not an unsigned 64-bit integer (number or decimal string)");
    v = json_object_get(o, "description");
    if (!json_is_null(v)) {
        if (!json_is_string(v))
            return ev_fail(r, "description", "neither null nor a string");
        ev->has_desc = 1;
        ev->desc = json_string_value(v);
        ev->desc_len = json_string_length(v);
        if (ev->desc_len > EC_DATA_MAX)
            return ev_fail(r, "description", "longer than %u bytes", EC_DATA_MAX);
    }
    v = json_object_get(o, "data");
    if (!json_is_string(v))
        return ev_fail(r, "data", "not a base64 string");
    size_t n = json_string_length(v);
    if (n > ec_base64_len(EC_DATA_MAX))
        return ev_fail(r, "data", "%zu base64 characters: over the %u MiB limit for one event", n,
                       EC_DATA_MAX >> 20);
    if ((rc = ec_bytes_reserve(&r->data, n / 4 * 3 + 3)) != 0)
        return rc;
    size_t dlen = 0;
    if (n && ec_base64_decode(r->data.p, &dlen, json_string_value(v), n) != 0)
        return ev_fail(r, "data", "not valid base64 (RFC 4648, padded, no whitespace)");
    if (dlen > EC_DATA_MAX)
        return ev_fail(r, "data", "%zu bytes: over the %u MiB limit for one event", dlen,
                       EC_DATA_MAX >> 20);
    ev->data = r->data.p;
    ev->data_len = dlen;
    return 0;
}

/* ---- JSONL fast path ----
 * Most lines are exactly what the writer emits: keys in order, no whitespace, no escapes.
 * Those are read here without building a jansson tree (jansson's parse is about 80% of an
 * import otherwise). Anything else, including every malformed line, returns 0 and takes
 * the jansson path, which alone raises errors: so the fast path may only ever accept a line
 * jansson would accept with the same values (fuzz/fuzz_json.c compares both). */
int ec_jsonl_fast = 1;
int ec_json_stream = 1;

typedef struct cursor {
    const char *p, *end;
} cursor;

static int lit(cursor *c, const char *s, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
        return 0;
    c->p += n;
    return 1;
}
#define LIT(c, s) lit(c, s, sizeof s - 1)

/* A u64 as a plain number (jansson's range: up to 2^63-1, no leading zero) or a string of
 * decimal digits. */
static int fast_u64(cursor *c, uint64_t *out)
{
    int quoted = c->p < c->end && *c->p == '"';
    c->p += quoted;
    const char *d = c->p;
    uint64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned k = (unsigned)(*c->p - '0');
        if (v > (UINT64_MAX - k) / 10)
            return 0;
        v = v * 10 + k;
        c->p++;
    }
    size_t n = (size_t)(c->p - d);
    if (n == 0 || n > 20)
        return 0;
    if (!quoted && ((n > 1 && *d == '0') || v > (uint64_t)INT64_MAX))
        return 0;
    if (quoted && !LIT(c, "\""))
        return 0;
    *out = v;
    return 1;
}

/* A string without escapes or control bytes, valid UTF-8: its bytes as they are. */
static int fast_str(cursor *c, const char **s, size_t *n)
{
    if (!LIT(c, "\""))
        return 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p != '"') {
        unsigned char b = (unsigned char)*c->p;
        if (b < 0x20 || b == '\\')
            return 0;
        c->p++;
    }
    if (c->p == c->end)
        return 0;
    *s = start;
    *n = (size_t)(c->p - start);
    c->p++;
    return ec_utf8_valid(*s, *n);
}

static int fast_hex(cursor *c, uint8_t *out, size_t h)
{
    const char *s;
    size_t n;
    return fast_str(c, &s, &n) && n == 2 * h && ec_hex_decode(out, h, s, n) == 0;
}

static int fast_event(ec_reader *r, const char *line, size_t len, ec_jevent *ev)
{
    cursor c = {line, line + len};
    size_t h = ec_hash_len(r->alg);
    const char *d;
    size_t dn;
    memset(ev, 0, sizeof *ev);
    if (!LIT(&c, "{\"seq\":") || !fast_u64(&c, &ev->seq) || !LIT(&c, ",\"hash\":") ||
        !fast_hex(&c, ev->hash, h) || !LIT(&c, ",\"parent_hash\":"))
        return 0;
    if (!LIT(&c, "null")) {
        if (!fast_hex(&c, ev->parent, h))
            return 0;
        ev->has_parent = 1;
    }
    if (!LIT(&c, ",\"event_type\":") || !fast_str(&c, &ev->type, &ev->type_len) ||
        ev->type_len == 0 || ev->type_len > EC_TYPE_MAX || !LIT(&c, ",\"timestamp\":") ||
        !fast_u64(&c, &ev->timestamp) || !LIT(&c, ",\"description\":"))
        return 0;
    if (!LIT(&c, "null")) {
        if (!fast_str(&c, &ev->desc, &ev->desc_len) || ev->desc_len > EC_DATA_MAX)
            return 0;
        ev->has_desc = 1;
    }
    if (!LIT(&c, ",\"data\":") || !fast_str(&c, &d, &dn) || dn > ec_base64_len(EC_DATA_MAX) ||
        !LIT(&c, "}"))
        return 0;
    while (c.p < c.end && is_ws((unsigned char)*c.p))
        c.p++;
    if (c.p != c.end || ec_bytes_reserve(&r->data, dn / 4 * 3 + 3) != 0)
        return 0;
    size_t dlen = 0;
    if (dn && ec_base64_decode(r->data.p, &dlen, d, dn) != 0)
        return 0;
    ev->data = r->data.p;
    ev->data_len = dlen;
    return 1;
}

/* ---- JSON documents, streamed ----
 * When the document starts with its header keys (evchain and hash_alg, in either order,
 * any whitespace) followed by "events": [, as the writer makes it, the events are read one
 * element at a time: memory stays bounded by one event and there is no size cap. Any other
 * layout is parsed whole by jansson (capped at EC_JSON_DOC_MAX). The decision is taken on
 * peeked bytes, before anything is consumed. */

static int hdr_ws(const char *b, size_t n, size_t *i)
{
    while (*i < n && is_ws((unsigned char)b[*i]))
        (*i)++;
    return *i < n;
}

/* A simple string (no escapes) at b[*i]: its bounds. */
static int hdr_str(const char *b, size_t n, size_t *i, const char **s, size_t *len)
{
    if (!hdr_ws(b, n, i) || b[*i] != '"')
        return 0;
    size_t k = ++*i;
    while (k < n && b[k] != '"' && b[k] != '\\' && (unsigned char)b[k] >= 0x20)
        k++;
    if (k == n || b[k] != '"')
        return 0;
    *s = b + *i;
    *len = k - *i;
    *i = k + 1;
    return 1;
}

static int hdr_char(const char *b, size_t n, size_t *i, char c)
{
    if (!hdr_ws(b, n, i) || b[*i] != c)
        return 0;
    (*i)++;
    return 1;
}

static int json_stream_header(ec_reader *r)
{
    ec_src *s = &r->src;
    if (ec_src_fill(s, 4096) != 0)
        return 0; /* the whole-document path reports the read error */
    const char *b = s->buf + s->pos, *k, *v;
    size_t n = s->len - s->pos, i = 0, kl, vl;
    int have_version = 0, have_alg = 0;
    ec_hash_alg alg = 0;
    if (!hdr_char(b, n, &i, '{'))
        return 0;
    for (int field = 0; field < 2; field++) {
        if (!hdr_str(b, n, &i, &k, &kl) || !hdr_char(b, n, &i, ':') || !hdr_ws(b, n, &i))
            return 0;
        if (kl == 7 && memcmp(k, "evchain", 7) == 0 && !have_version) {
            if (b[i] != '1' || i + 1 >= n || (b[i + 1] >= '0' && b[i + 1] <= '9'))
                return 0; /* another version: the whole-document path says which */
            i++;
            have_version = 1;
        } else if (kl == 8 && memcmp(k, "hash_alg", 8) == 0 && !have_alg) {
            char name[32];
            if (!hdr_str(b, n, &i, &v, &vl) || vl >= sizeof name)
                return 0;
            memcpy(name, v, vl);
            name[vl] = 0;
            if (ec_hash_from_name(&alg, name) != 0)
                return 0;
            have_alg = 1;
        } else {
            return 0;
        }
        if (!hdr_char(b, n, &i, ','))
            return 0;
    }
    if (!hdr_str(b, n, &i, &k, &kl) || kl != 6 || memcmp(k, "events", 6) != 0 ||
        !hdr_char(b, n, &i, ':') || !hdr_char(b, n, &i, '['))
        return 0;
    ec_error_clear();
    s->pos += i;
    r->alg = alg;
    r->streaming = 1;
    return 1;
}

static int stream_fail(ec_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int stream_fail(ec_reader *r, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (r->src.io_errno)
        return ec_error_set_errno(EC_EIO, r->src.io_errno, "%s: reading", r->name);
    return ec_error_set(EC_EFORMAT, "%s: byte %llu (event %zu): %s", r->name,
                        (unsigned long long)(r->src.offset + r->src.pos), r->idx, why);
}

/* Copy one element (an object: '{' is next) into r->elem, tracking strings and nesting. */
static int scan_element(ec_reader *r)
{
    ec_src *s = &r->src;
    int depth = 0, in_str = 0, esc = 0, done = 0;
    r->elem.len = 0;
    while (!done) {
        if (ec_src_peek(s) < 0)
            return stream_fail(r, "the file ends inside an event");
        size_t i = s->pos;
        for (; i < s->len && !done; i++) {
            char ch = s->buf[i];
            if (in_str) {
                if (esc)
                    esc = 0;
                else if (ch == '\\')
                    esc = 1;
                else if (ch == '"')
                    in_str = 0;
            } else if (ch == '"') {
                in_str = 1;
            } else if (ch == '{' || ch == '[') {
                depth++;
            } else if ((ch == '}' || ch == ']') && --depth == 0) {
                done = 1;
            }
        }
        size_t n = i - s->pos;
        if (r->elem.len + n > EC_JSONL_LINE_MAX)
            return stream_fail(r, "one event longer than %llu MiB",
                               (unsigned long long)(EC_JSONL_LINE_MAX >> 20));
        int rc = ec_bytes_reserve(&r->elem, r->elem.len + n);
        if (rc)
            return rc;
        memcpy(r->elem.p + r->elem.len, s->buf + s->pos, n);
        r->elem.len += n;
        s->pos = i;
    }
    return 0;
}

/* Next element of a streamed document: 1 with the bytes in r->elem, 0 at the end. */
static int stream_next(ec_reader *r)
{
    ec_src *s = &r->src;
    int c = ec_src_peek_ws(s);
    if (r->idx > 0 || c == ']') {
        if (c == ']') {
            s->pos++;
            if (ec_src_peek_ws(s) == ',') { /* a key after the events: name the usual case */
                s->pos++;
                char key[8];
                size_t kl = 0;
                int ch = ec_src_peek_ws(s);
                if (ch == '"') {
                    s->pos++;
                    while ((ch = ec_src_peek(s)) >= 0 && ch != '"' && kl < sizeof key - 1) {
                        key[kl++] = (char)ch;
                        s->pos++;
                    }
                }
                key[kl] = 0;
                if (ch == '"' && strcmp(key, "events") == 0)
                    return stream_fail(r, "duplicate key \"events\"");
                return stream_fail(r, "a key after the events (\"events\" must come last)");
            }
            if (ec_src_peek_ws(s) != '}')
                return stream_fail(r, "expected '}' closing the document after the events");
            s->pos++;
            if (ec_src_peek_ws(s) != -1)
                return stream_fail(r, "data after the end of the document");
            r->ended = 1;
            return 0;
        }
        if (c != ',')
            return stream_fail(r, "expected ',' or ']' after an event");
        s->pos++;
        c = ec_src_peek_ws(s);
    }
    if (c != '{')
        return stream_fail(r, "not a JSON object");
    int rc = scan_element(r);
    return rc ? rc : 1;
}

int ec_reader_open(ec_reader **out, FILE *in, const char *name, ec_file_format fmt)
{
    *out = NULL;
    ec_reader *r = calloc(1, sizeof *r);
    if (!r)
        return ec_error_set(EC_ENOMEM, "%s: out of memory", name);
    r->name = name;
    ec_src_init(&r->src, in, name);
    int rc = 0;
    if (fmt == EC_FORMAT_AUTO && (rc = ec_src_detect(&r->src, &fmt)) != 0)
        goto fail;
    r->fmt = fmt;
    switch (fmt) {
    case EC_FORMAT_JSON:
        if (ec_json_stream && json_stream_header(r))
            break;
        r->doc = ec_src_load_doc(&r->src, EC_JSON_DOC_MAX, "JSON document");
        if (!r->doc) {
            rc = ec_error_last() ? ec_error_last()->code : EC_EFORMAT;
            goto fail;
        }
        rc = check_header(r, r->doc, "top level", 1);
        break;
    case EC_FORMAT_THEATER:
        r->alg = EC_HASH_THEATER_SHA1; /* streamed event by event in ec_reader_next */
        break;
    case EC_FORMAT_JSONL: {
        const char *line;
        size_t len;
        uint64_t off;
        json_error_t err;
        do {
            r->lineno++;
            rc = ec_src_line(&r->src, r->lineno, &line, &len, EC_DETECT_LINE_MAX, &off);
            if (rc == EC_ITEROVER)
                rc = ec_error_set(EC_EFORMAT, "%s: empty file (no JSONL header line)", name);
            if (rc)
                goto fail;
            while (len && is_ws((unsigned char)*line))
                line++, len--, off++;
        } while (len == 0);
        r->cur = json_loadb(line, len, JFLAGS, &err);
        if (!r->cur) {
            rc = ec_error_set(EC_EFORMAT, "%s: line %llu, column %d (byte %llu): header: %s", name,
                              (unsigned long long)r->lineno, err.column,
                              (unsigned long long)(off + (uint64_t)err.position), err.text);
            goto fail;
        }
        char where[32];
        snprintf(where, sizeof where, "line %llu", (unsigned long long)r->lineno);
        rc = check_header(r, r->cur, where, 0);
        break;
    }
    default:
        rc = ec_error_set(EC_EINVAL, "%s: format %s is not an interchange file", name,
                          ec_format_name(fmt) ? ec_format_name(fmt) : "(unknown)");
    }
    if (rc)
        goto fail;
    *out = r;
    return 0;
fail:
    ec_reader_free(r);
    return rc;
}

int ec_reader_next(ec_reader *r, const uint8_t **rec, size_t *len)
{
    ec_jevent ev;
    int rc;
    if (r->fmt == EC_FORMAT_JSONL) {
        const char *line;
        size_t n;
        uint64_t off;
        json_error_t err;
        for (;;) {
            r->lineno++;
            rc = ec_src_line(&r->src, r->lineno, &line, &n, EC_JSONL_LINE_MAX, &off);
            if (rc)
                return rc;
            size_t k = 0;
            while (k < n && is_ws((unsigned char)line[k]))
                k++;
            if (k < n)
                break;
        }
        snprintf(r->where, sizeof r->where, "line %llu (event %zu)", (unsigned long long)r->lineno,
                 r->idx);
        json_decref(r->cur);
        r->cur = NULL;
        if (ec_jsonl_fast && fast_event(r, line, n, &ev))
            goto encode;
        r->cur = json_loadb(line, n, JFLAGS, &err);
        if (!r->cur)
            return ec_error_set(EC_EFORMAT, "%s: line %llu, column %d (byte %llu): %s", r->name,
                                (unsigned long long)r->lineno, err.column,
                                (unsigned long long)(off + (uint64_t)err.position), err.text);
        rc = parse_event(r, r->cur, &ev);
    } else if (r->fmt == EC_FORMAT_THEATER) {
        snprintf(r->where, sizeof r->where, "event %zu", r->theater.idx);
        rc = ec_theater_next(&r->src, &r->theater, &ev, &r->data);
    } else if (r->streaming) {
        if (r->ended)
            return EC_ITEROVER;
        uint64_t off = r->src.offset + r->src.pos;
        if ((rc = stream_next(r)) <= 0)
            return rc == 0 ? EC_ITEROVER : rc;
        snprintf(r->where, sizeof r->where, "event %zu", r->idx);
        const char *e = (const char *)r->elem.p;
        if (ec_jsonl_fast && fast_event(r, e, r->elem.len, &ev))
            goto encode;
        json_error_t err;
        json_decref(r->cur);
        r->cur = json_loadb(e, r->elem.len, JFLAGS, &err);
        if (!r->cur)
            return ec_error_set(EC_EFORMAT, "%s: event %zu (near byte %llu): %s", r->name, r->idx,
                                (unsigned long long)(off + (uint64_t)err.position), err.text);
        rc = parse_event(r, r->cur, &ev);
    } else {
        if (r->idx >= r->n)
            return EC_ITEROVER;
        const json_t *o = json_array_get(r->events, r->idx);
        snprintf(r->where, sizeof r->where, "event %zu", r->idx);
        rc = parse_event(r, o, &ev);
    }
    if (rc)
        return rc;
encode:
    r->idx++;
    if ((rc = ec_jevent_encode(&ev, r->alg, &r->rec)) != 0)
        return rc;
    *rec = r->rec.p;
    *len = r->rec.len;
    return 0;
}

/* ---- import ---- */

static int refuse_broken(const char *name, const ec_verify_result *res, ec_verify_result *vout)
{
    if (vout)
        *vout = *res;
    return ec_error_set(EC_EVERIFY, "%s: event %llu: %s", name, (unsigned long long)res->seq,
                        res->reason[0] ? res->reason : ec_verify_status_name(res->status));
}

/* Store one record straight into a backend (no check: inspection, or checked already). */
static int backend_put(ec_backend *be, const uint8_t *rec, size_t len, ec_hash_alg alg)
{
    uint64_t seq;
    uint8_t *slot;
    int rc = be->count(be, &seq);
    if (rc == 0)
        rc = be->reserve(be, len, &slot);
    if (rc)
        return rc;
    memcpy(slot, rec, len);
    return be->commit(be, seq, len - ec_hash_len(alg));
}

/* Read every record of r into a fresh backend (verifying unless inspect). */
static int load_backend(ec_reader *r, ec_backend *be, int inspect, ec_verify_result *vout)
{
    ec_verifier v;
    ec_verify_result res; /* the verifier counts res.checked up from here */
    const uint8_t *rec;
    size_t len;
    int rc;
    memset(&res, 0, sizeof res);
    ec_verifier_init(&v, r->alg, 0, NULL);
    while ((rc = ec_reader_next(r, &rec, &len)) == 0) {
        if (!inspect && ec_verifier_feed(&v, rec, len, &res) != 0)
            return refuse_broken(r->name, &res, vout);
        if ((rc = backend_put(be, rec, len, r->alg)) != 0)
            break;
    }
    /* Loaded, or stopped by something other than a broken chain (bad JSON, I/O): no
     * finding, and checked says how many events had passed. */
    if (vout)
        *vout = res;
    return rc == EC_ITEROVER ? 0 : rc;
}

int ec_interchange_open(ec_chain **out, FILE *in, const char *name, ec_file_format fmt, int inspect,
                        ec_verify_result *vout)
{
    *out = NULL;
    if (vout)
        memset(vout, 0, sizeof *vout);
    ec_reader *r;
    int rc = ec_reader_open(&r, in, name, fmt);
    if (rc)
        return rc;
    ec_memory_options mo = EC_MEMORY_OPTIONS_INIT;
    mo.expected_events = ec_reader_hint(r);
    ec_backend *be = NULL;
    if ((rc = ec_backend_memory(&be, &mo)) == 0 && (rc = be->set_alg(be, r->alg)) == 0)
        rc = load_backend(r, be, inspect, vout);
    if (rc == 0) {
        ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
        co.alg = r->alg;
        rc = ec_chain_open(out, be, &co); /* owns be from here, also on failure */
        be = NULL;
    }
    if (be)
        be->free(be);
    ec_reader_free(r);
    return rc;
}

int ec_import_stream(ec_chain *into, FILE *in, const char *name, ec_file_format format, int inspect,
                     ec_verify_result *verify_out)
{
    if (verify_out) /* filled on every return: zero, then checked and any finding */
        memset(verify_out, 0, sizeof *verify_out);
    if (!into || !in)
        return ec_error_set(EC_EINVAL, "import: no chain or no input stream");
    if (!name)
        name = "(stream)";
    if (inspect)
        /* Storing unchecked records under an open chain would leave its cached head and
         * count stale; inspection loads go through ec_chain_open_path, which fills a fresh
         * backend before the chain is opened over it. */
        return ec_error_set(EC_EUNSUPPORTED,
                            "%s: inspection (loading a broken chain) needs a fresh chain: use "
                            "ec_chain_open_path with inspect",
                            name);
    ec_reader *r;
    int rc = ec_reader_open(&r, in, name, format);
    if (rc)
        return rc;
    if (r->alg != ec_chain_alg(into)) {
        rc = ec_error_set(EC_EINVAL, "%s: the file's chain uses %s, the target chain %s", name,
                          ec_hash_name(r->alg), ec_hash_name(ec_chain_alg(into)));
        ec_reader_free(r);
        return rc;
    }
    const uint8_t *rec;
    size_t len;
    uint64_t passed = 0;
    while ((rc = ec_reader_next(r, &rec, &len)) == 0) {
        /* The chain checks in full. On refusal (the chain is unchanged) rerun the record
         * through a verifier placed at the head, to report why in the same words as
         * ec_chain_verify and fill verify_out. */
        rc = ec_chain_append_record(into, rec, len);
        if (rc != EC_EVERIFY && rc != EC_EFORMAT) {
            if (rc)
                break;
            passed++;
            continue;
        }
        uint8_t head[EC_HASH_MAX];
        uint64_t next = ec_chain_count(into);
        int have_head = next > 0 && ec_chain_head(into, head, NULL) == 0;
        ec_verifier v;
        ec_verify_result res;
        memset(&res, 0, sizeof res);
        res.checked = passed;
        ec_verifier_init(&v, r->alg, next, have_head ? head : NULL);
        if (ec_verifier_feed(&v, rec, len, &res) != 0) {
            rc = refuse_broken(name, &res, verify_out);
        } else {
            /* copied first: the message buffer is the one being written */
            char why[256];
            const ec_error *e = ec_error_last();
            snprintf(why, sizeof why, "%s", e ? e->message : "refused by the chain");
            rc = ec_error_set(rc, "%s: %s: %s", name, r->where, why);
        }
        break;
    }
    ec_reader_free(r);
    if (verify_out)
        verify_out->checked = passed;
    return rc == EC_ITEROVER ? 0 : rc;
}

/* ---- writer ---- */

#define WBUF_CAP (128u << 10)

int ec_wbuf_init(ec_wbuf *w, FILE *f)
{
    memset(w, 0, sizeof *w);
    w->f = f;
    w->b = malloc(WBUF_CAP);
    if (!w->b)
        return w->err = ec_error_set(EC_ENOMEM, "export: out of memory");
    w->cap = WBUF_CAP;
    return 0;
}

int ec_wbuf_flush(ec_wbuf *w)
{
    if (w->err)
        return w->err;
    /* Cleared first: a short fwrite need not set errno (a stream already in error, a
     * custom FILE), and a stale value would name an unrelated cause. */
    errno = 0;
    if (w->len && fwrite(w->b, 1, w->len, w->f) != w->len) {
        int e = errno ? errno : EIO;
        w->err = ec_error_set_errno(e == ENOSPC ? EC_ENOSPC : EC_EIO, e, "export: writing");
    }
    w->len = 0;
    return w->err;
}

void ec_wbuf_free(ec_wbuf *w)
{
    free(w->b);
    w->b = NULL;
}

char *ec_wbuf_room(ec_wbuf *w, size_t n)
{
    if (w->err)
        return NULL;
    if (w->cap - w->len < n && ec_wbuf_flush(w) != 0)
        return NULL;
    return w->b + w->len;
}

void ec_wbuf_put(ec_wbuf *w, const void *p, size_t n)
{
    if (n <= w->cap - w->len && !w->err) { /* the common case: room in the buffer */
        memcpy(w->b + w->len, p, n);
        w->len += n;
        return;
    }
    if (w->err)
        return;
    if (n > w->cap / 2) {
        if (ec_wbuf_flush(w) == 0 && fwrite(p, 1, n, w->f) != n) {
            int e = errno ? errno : EIO;
            w->err = ec_error_set_errno(e == ENOSPC ? EC_ENOSPC : EC_EIO, e, "export: writing");
        }
        return;
    }
    char *d = ec_wbuf_room(w, n);
    if (d) {
        memcpy(d, p, n);
        w->len += n;
    }
}

void ec_wbuf_str(ec_wbuf *w, const char *s)
{
    ec_wbuf_put(w, s, strlen(s));
}
/* Literals: the length is known at compile time. */
#define PUT_LIT(w, s) ec_wbuf_put(w, s, sizeof s - 1)

void ec_wbuf_u64(ec_wbuf *w, uint64_t v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    ec_wbuf_put(w, p, (size_t)(tmp + sizeof tmp - p));
}

/* Decode one UTF-8 sequence at s (valid input assumed: records hold validated UTF-8); on a
 * bad byte returns the byte itself and length 1 so output stays well-defined. */
static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *used)
{
    unsigned c = s[0];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || len > n) {
        *used = 1;
        return c;
    }
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80) {
            *used = 1;
            return c;
        }
        cp = cp << 6 | (s[k] & 0x3f);
    }
    *used = len;
    return cp;
}

static void put_u_escape(ec_wbuf *w, uint32_t u)
{
    static const char hx[] = "0123456789abcdef";
    char e[6] = {'\\', 'u', hx[(u >> 12) & 15], hx[(u >> 8) & 15], hx[(u >> 4) & 15], hx[u & 15]};
    ec_wbuf_put(w, e, 6);
}

void ec_wbuf_json_string(ec_wbuf *w, const char *str, size_t n, int ascii_only)
{
    const unsigned char *s = (const unsigned char *)str;
    ec_wbuf_put(w, "\"", 1);
    size_t run = 0; /* start of the pending run of bytes written as they are */
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        int plain = c >= 0x20 && c != '"' && c != '\\' && (!ascii_only || c < 0x7f);
        if (plain) {
            i++;
            continue;
        }
        ec_wbuf_put(w, s + run, i - run);
        const char *short_esc = NULL;
        switch (c) {
        case '"':
            short_esc = "\\\"";
            break;
        case '\\':
            short_esc = "\\\\";
            break;
        case '\b':
            short_esc = "\\b";
            break;
        case '\f':
            short_esc = "\\f";
            break;
        case '\n':
            short_esc = "\\n";
            break;
        case '\r':
            short_esc = "\\r";
            break;
        case '\t':
            short_esc = "\\t";
            break;
        }
        size_t used = 1;
        if (short_esc) {
            ec_wbuf_put(w, short_esc, 2);
        } else if (c < 0x80) {
            put_u_escape(w, c);
        } else {
            uint32_t cp = utf8_next(s + i, n - i, &used);
            if (cp > 0xffff) { /* UTF-16 surrogate pair, as Python writes it */
                cp -= 0x10000;
                put_u_escape(w, 0xd800 | (cp >> 10));
                put_u_escape(w, 0xdc00 | (cp & 0x3ff));
            } else {
                put_u_escape(w, cp);
            }
        }
        i += used;
        run = i;
    }
    ec_wbuf_put(w, s + run, n - run);
    ec_wbuf_put(w, "\"", 1);
}

/* u64 per FORMAT.md section 2: a number below 2^63, else a decimal string. */
static void put_json_u64(ec_wbuf *w, uint64_t v)
{
    if (v < (1ull << 63)) {
        ec_wbuf_u64(w, v);
    } else {
        ec_wbuf_put(w, "\"", 1);
        ec_wbuf_u64(w, v);
        ec_wbuf_put(w, "\"", 1);
    }
}

static void put_hex(ec_wbuf *w, const uint8_t *h, size_t n)
{
    char hex[2 * EC_HASH_MAX + 1];
    ec_hex_encode(hex, h, n);
    ec_wbuf_put(w, "\"", 1);
    ec_wbuf_put(w, hex, 2 * n);
    ec_wbuf_put(w, "\"", 1);
}

/* Base64 in chunks of a multiple of 3 bytes: the concatenation equals the whole encoding,
 * and a 64 MiB event never needs an 85 MiB buffer. */
static void put_base64(ec_wbuf *w, const uint8_t *d, size_t n)
{
    const size_t chunk = 3 * 8192;
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        char *p = ec_wbuf_room(w, ec_base64_len(k) + 1);
        if (!p)
            return;
        ec_base64_encode(p, d + off, k);
        w->len += ec_base64_len(k);
    }
}

static void put_event_json(ec_wbuf *w, const ec_event *ev)
{
    PUT_LIT(w, "{\"seq\":");
    put_json_u64(w, ev->seq);
    PUT_LIT(w, ",\"hash\":");
    put_hex(w, ev->hash, ev->hash_len);
    PUT_LIT(w, ",\"parent_hash\":");
    if (ev->parent_hash)
        put_hex(w, ev->parent_hash, ev->hash_len);
    else
        PUT_LIT(w, "null");
    PUT_LIT(w, ",\"event_type\":");
    ec_wbuf_json_string(w, ev->type, ev->type_len, 0);
    PUT_LIT(w, ",\"timestamp\":");
    put_json_u64(w, ev->timestamp);
    PUT_LIT(w, ",\"description\":");
    if (ev->description)
        ec_wbuf_json_string(w, ev->description, ev->description_len, 0);
    else
        PUT_LIT(w, "null");
    PUT_LIT(w, ",\"data\":\"");
    put_base64(w, ev->data, ev->data_len);
    PUT_LIT(w, "\"}");
}

int ec_event_write_json(FILE *out, const ec_event *ev)
{
    ec_wbuf w;
    EC_REFUSE_NULL2(out, ev);
    int rc = ec_wbuf_init(&w, out);
    if (rc == 0) {
        put_event_json(&w, ev);
        rc = ec_wbuf_flush(&w);
    }
    ec_wbuf_free(&w);
    return rc;
}

static int export_body(ec_chain *chain, ec_wbuf *w, const ec_export_options *o)
{
    uint64_t count = ec_chain_count(chain);
    uint64_t to = o->to && o->to < count ? o->to : count;
    if (o->from > count)
        return ec_error_set(EC_EINVAL, "export: from seq %llu is past the end (%llu events)",
                            (unsigned long long)o->from, (unsigned long long)count);
    if (o->format == EC_FORMAT_THEATER)
        return ec_theater_write(chain, w, o);
    const char *alg = ec_hash_name(ec_chain_alg(chain));
    ec_wbuf_str(w, "{\"evchain\":1,\"hash_alg\":\"");
    ec_wbuf_str(w, alg ? alg : "?");
    ec_wbuf_str(w, o->format == EC_FORMAT_JSON ? "\",\"events\":[" : "\"}\n");
    ec_iter *it = NULL;
    int rc = o->from < to ? ec_iter_new(&it, chain, o->from) : 0;
    /* Verified while read, in the same pass: a broken chain is refused (EC_EVERIFY, "event
     * <seq>: <reason>"), never converted into a file that hides where it broke. */
    if (rc == 0 && it)
        rc = ec_iter_verify(it, NULL);
    uint64_t total = to > o->from ? to - o->from : 0;
    for (uint64_t i = 0; rc == 0 && i < total && !w->err; i++) {
        ec_event ev;
        if ((rc = ec_iter_next(it, &ev)) != 0) {
            if (rc == EC_ITEROVER)
                rc = ec_error_set(EC_ERROR, "export: the chain ended at seq %llu, before %llu",
                                  (unsigned long long)(o->from + i), (unsigned long long)to);
            break;
        }
        if (o->format == EC_FORMAT_JSON)
            ec_wbuf_str(w, i ? ",\n" : "\n");
        put_event_json(w, &ev);
        if (o->format == EC_FORMAT_JSONL)
            ec_wbuf_put(w, "\n", 1);
        if (o->progress && ((i + 1) % 4096 == 0 || i + 1 == total))
            o->progress(i + 1, total, o->progress_ctx);
    }
    ec_iter_free(it);
    if (rc == 0 && o->format == EC_FORMAT_JSON)
        ec_wbuf_str(w, "\n]}\n");
    return rc;
}

int ec_export_stream(ec_chain *chain, FILE *out, const ec_export_options *opts)
{
    ec_export_options o = EC_EXPORT_OPTIONS_INIT;
    if (opts && opts->version != EC_EXPORT_OPTIONS_VERSION)
        return ec_error_set(EC_EUNSUPPORTED, "export: options version %u (expected %u)",
                            opts->version, EC_EXPORT_OPTIONS_VERSION);
    if (opts)
        o = *opts;
    if (!chain || !out)
        return ec_error_set(EC_EINVAL, "export: no chain or no output stream");
    if (o.format != EC_FORMAT_JSON && o.format != EC_FORMAT_JSONL && o.format != EC_FORMAT_THEATER)
        return ec_error_set(EC_EINVAL,
                            "export: format %s cannot be written to a stream "
                            "(json, jsonl or theater)",
                            ec_format_name(o.format) ? ec_format_name(o.format) : "(unknown)");
    ec_wbuf w;
    int rc = ec_wbuf_init(&w, out);
    if (rc == 0) {
        rc = export_body(chain, &w, &o);
        int frc = ec_wbuf_flush(&w);
        if (rc == 0)
            rc = frc;
        /* Flush the stream too, so a full disk or closed pipe is reported here. */
        if (rc == 0 && fflush(out) != 0)
            rc = ec_error_set_errno(errno == ENOSPC ? EC_ENOSPC : EC_EIO, errno, "export: writing");
    }
    ec_wbuf_free(&w);
    return rc;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: opening the directory to sync it", dir);
    int rc = fsync(fd) == 0 ? 0 : ec_error_set_errno(EC_EIO, errno, "%s: fsync", dir);
    close(fd);
    return rc;
}

int ec_export_file(ec_chain *chain, const char *path, const ec_export_options *opts)
{
    if (!path || !*path)
        return ec_error_set(EC_EINVAL, "export: no output path");
    /* Before any file is created or replaced (ec_export_stream checks it again). */
    if (opts && opts->version != EC_EXPORT_OPTIONS_VERSION)
        return ec_error_set(EC_EUNSUPPORTED, "export: options version %u (expected %u)",
                            opts->version, EC_EXPORT_OPTIONS_VERSION);
    if (strcmp(path, "-") == 0) {
        int rc = ec_export_stream(chain, stdout, opts);
        if (rc == 0 && fflush(stdout) != 0)
            rc = ec_error_set_errno(errno == ENOSPC ? EC_ENOSPC : EC_EIO, errno,
                                    "export: writing to standard output");
        return rc;
    }
    /* A device or FIFO is written in place; a symbolic link's file is replaced, not the link. */
    char real[4096];
    int stream, rc0 = ec_output_resolve(path, real, sizeof real, &stream);
    if (rc0)
        return rc0;
    path = real;
    if (stream) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
        if (!f) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            return ec_error_set_errno(EC_EIO, e, "%s: opening", path);
        }
        int rc = ec_export_stream(chain, f, opts);
        if (fclose(f) != 0 && rc == 0)
            rc = ec_error_set_errno(errno == ENOSPC ? EC_ENOSPC : EC_EIO, errno, "%s: writing",
                                    path);
        return rc;
    }
    /* Temporary name beside the target, so that rename is atomic (same file system). */
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    char *dir = malloc(dlen + 2);
    char *tmp = malloc(dlen + 240);
    if (!dir || !tmp) {
        free(dir);
        free(tmp);
        return ec_error_set(EC_ENOMEM, "%s: out of memory", path);
    }
    if (slash)
        memcpy(dir, path, dlen ? dlen : 1), dir[dlen ? dlen : 1] = 0;
    else
        strcpy(dir, ".");
    const char *base = slash ? slash + 1 : path;
    int rc = 0, fd = -1;
    /* O_EXCL with mode 0666 rather than mkstemp: the file gets the umask's usual mode, and
     * no process-wide umask() dance (not thread-safe) is needed. Retried on a name clash. */
    static _Atomic unsigned counter;
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        sprintf(tmp, "%.*s%s.%.200s.%08x.tmp", (int)dlen, path, slash ? "/" : "", base,
                (unsigned)(ec_time_now_ns() ^ ((uint64_t)getpid() << 16) ^ counter++) &
                    0xffffffffu);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        rc = ec_error_set_errno(EC_EIO, errno, "%s: creating a temporary file in %s", path, dir);
        goto out;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        rc = ec_error_set_errno(EC_EIO, errno, "%s: fdopen", tmp);
        close(fd);
        goto fail;
    }
    rc = ec_export_stream(chain, f, opts);
    if (rc == 0 && fflush(f) != 0)
        rc = ec_error_set_errno(errno == ENOSPC ? EC_ENOSPC : EC_EIO, errno, "%s: writing", path);
    if (rc == 0 && fsync(fileno(f)) != 0)
        rc = ec_error_set_errno(EC_EIO, errno, "%s: fsync", path);
    if (fclose(f) != 0 && rc == 0)
        rc = ec_error_set_errno(EC_EIO, errno, "%s: closing", path);
    if (rc)
        goto fail;
    if (rename(tmp, path) != 0) {
        rc = ec_error_set_errno(EC_EIO, errno, "%s: renaming the temporary file into place", path);
        goto fail;
    }
    rc = fsync_dir(dir);
    goto out;
fail:
    unlink(tmp);
out:
    free(dir);
    free(tmp);
    return rc;
}
