/* store/theater.c: Theater's chain.json (docs/FORMAT.md section 3): one array element into
 * an evchain event of algorithm theater-sha1, and the writer reproducing Theater's files
 * byte for byte (Python's json.dumps(events, indent=2)). The hash rule is in the core. */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "store/interchange.h"

#define THEATER_HASH_LEN 20

static int fail(const char *name, size_t idx, const char *field, const char *why)
{
    return ec_error_set(EC_EFORMAT, "%s: event %zu: %s: %s", name, idx, field, why);
}

/* A Theater byte string: a JSON array of integers 0..255. */
static int get_bytes(const json_t *a, const char *name, size_t idx, const char *field, uint8_t *out,
                     size_t max, size_t *n_out)
{
    if (!json_is_array(a))
        return fail(name, idx, field, "not an array of bytes");
    size_t n = json_array_size(a);
    if (n > max) {
        char why[96];
        snprintf(why, sizeof why, "%zu bytes: over the limit of %zu", n, max);
        return fail(name, idx, field, why);
    }
    for (size_t k = 0; k < n; k++) {
        const json_t *v = json_array_get(a, k);
        json_int_t b = json_is_integer(v) ? json_integer_value(v) : -1;
        if (b < 0 || b > 255) {
            char why[96];
            snprintf(why, sizeof why, "element %zu is not an integer 0..255", k);
            return fail(name, idx, field, why);
        }
        out[k] = (uint8_t)b;
    }
    *n_out = n;
    return 0;
}

int ec_theater_event(const json_t *o, size_t idx, const char *name, ec_jevent *ev, ec_bytes *data)
{
    if (!json_is_object(o))
        return ec_error_set(EC_EFORMAT, "%s: event %zu: not a JSON object", name, idx);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        static const char *const known[] = {"hash", "parent_hash", "event_type", "data"};
        size_t k = 0;
        while (k < 4 && strcmp(key, known[k]) != 0)
            k++;
        /* Theater's Rust struct also has timestamp and description, but its hash does not
         * cover them: a theater-sha1 record holds neither (FORMAT.md 3), so refuse rather
         * than drop them silently. */
        if (k == 4 && (strcmp(key, "timestamp") == 0 || strcmp(key, "description") == 0))
            return ec_error_set(EC_EFORMAT,
                                "%s: event %zu: key \"%s\" is not covered by Theater's hash, "
                                "so a theater-sha1 chain cannot hold it",
                                name, idx, key);
        if (k == 4)
            return ec_error_set(EC_EFORMAT, "%s: event %zu: unknown key \"%.40s\"", name, idx, key);
    }
    static const char *const required[] = {"hash", "parent_hash", "event_type", "data"};
    for (size_t k = 0; k < 4; k++)
        if (!json_object_get(o, required[k]))
            return ec_error_set(EC_EFORMAT, "%s: event %zu: missing key \"%s\"", name, idx,
                                required[k]);
    memset(ev, 0, sizeof *ev);
    ev->seq = idx; /* Theater has no seq: the position is the seq (FORMAT.md 3) */
    size_t n;
    int rc =
        get_bytes(json_object_get(o, "hash"), name, idx, "hash", ev->hash, THEATER_HASH_LEN, &n);
    if (rc)
        return rc;
    if (n != THEATER_HASH_LEN)
        return fail(name, idx, "hash", "not 20 bytes (a SHA-1 digest)");
    v = json_object_get(o, "parent_hash");
    if (!json_is_null(v)) {
        if ((rc = get_bytes(v, name, idx, "parent_hash", ev->parent, THEATER_HASH_LEN, &n)))
            return rc;
        if (n != THEATER_HASH_LEN)
            return fail(name, idx, "parent_hash", "not 20 bytes (a SHA-1 digest)");
        ev->has_parent = 1;
    }
    v = json_object_get(o, "event_type");
    if (!json_is_string(v))
        return fail(name, idx, "event_type", "not a string");
    ev->type = json_string_value(v);
    ev->type_len = json_string_length(v);
    if (ev->type_len == 0 || ev->type_len > EC_TYPE_MAX)
        return fail(name, idx, "event_type", "length outside 1..65535 bytes");
    if (memchr(ev->type, 0, ev->type_len))
        return fail(name, idx, "event_type", "contains U+0000");
    v = json_object_get(o, "data");
    size_t cnt = json_is_array(v) ? json_array_size(v) : 0;
    if (cnt > EC_DATA_MAX)
        return fail(name, idx, "data", "over the 64 MiB limit for one event");
    if ((rc = ec_bytes_reserve(data, cnt ? cnt : 1)) != 0)
        return rc;
    if ((rc = get_bytes(v, name, idx, "data", data->p, EC_DATA_MAX, &ev->data_len)) != 0)
        return rc;
    ev->data = data->p;
    return 0;
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
