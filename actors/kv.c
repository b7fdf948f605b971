/* actors/kv.c: an example HTTP actor: a small JSON key-value API whose data lives in the
 * runtime's content-addressed store (one object holding every entry, named by the label
 * kv-<id>), so it survives restarts and every change is an event in the actor's chain.
 *   GET /kv          {"keys":["a","b"]}
 *   GET /kv/KEY      the value as stored (404 when absent)
 *   PUT /kv/KEY      store the body (201 created, 200 replaced)
 *   DELETE /kv/KEY   remove it (404 when absent)
 * Keys: 1 to 64 of A-Z a-z 0-9 _ . -; values: 1 byte to 64 KiB, returned as application/json. */
#include "evchain_abi.h"

#define MAX_KEYS  256
#define MAX_VALUE (64u * 1024u)
#define POOL      (512u * 1024u)

typedef struct entry {
    char key[64];
    u32 klen, off, vlen;
} entry;

static entry entries[MAX_KEYS];
static u32 nentries;
static unsigned char pool[POOL]; /* values, back to back in entry order */
static u32 pool_used;
static unsigned char blob[POOL + MAX_KEYS * 72]; /* the stored form */
static char label[80];
static u32 label_len;

static int find(const char *k, u32 kl)
{
    for (u32 i = 0; i < nentries; i++)
        if (entries[i].klen == kl && ec_memeq(entries[i].key, k, kl))
            return (int)i;
    return -1;
}

static void remove_at(u32 i)
{
    u32 off = entries[i].off, vl = entries[i].vlen;
    for (u32 k = off; k + vl < pool_used; k++)
        pool[k] = pool[k + vl];
    pool_used -= vl;
    for (u32 k = i; k + 1 < nentries; k++)
        entries[k] = entries[k + 1];
    nentries--;
    for (u32 k = 0; k < nentries; k++)
        if (entries[k].off > off)
            entries[k].off -= vl;
}

static int insert(const char *k, u32 kl, const void *v, u32 vl)
{
    if (nentries == MAX_KEYS || POOL - pool_used < vl)
        return -1;
    entry *e = &entries[nentries++];
    memcpy(e->key, k, kl);
    e->klen = kl;
    e->off = pool_used;
    e->vlen = vl;
    memcpy(pool + pool_used, v, vl);
    pool_used += vl;
    return 0;
}

/* Stored form: per entry, u8 key length, key, u32 value length, value. */
static i32 save(void)
{
    u32 n = 0;
    for (u32 i = 0; i < nentries; i++) {
        const entry *e = &entries[i];
        blob[n++] = (unsigned char)e->klen;
        memcpy(blob + n, e->key, e->klen);
        n += e->klen;
        blob[n++] = (unsigned char)(e->vlen >> 24);
        blob[n++] = (unsigned char)(e->vlen >> 16);
        blob[n++] = (unsigned char)(e->vlen >> 8);
        blob[n++] = (unsigned char)e->vlen;
        memcpy(blob + n, pool + e->off, e->vlen);
        n += e->vlen;
    }
    unsigned char h[32];
    i32 rc = ec_store_put(blob, n, h);
    return rc ? rc : ec_label_set(label, label_len, h);
}

static void load(void)
{
    unsigned char h[32];
    if (ec_label_get(label, label_len, h) != 0)
        return; /* first start: empty */
    i32 n = ec_store_get(h, blob, sizeof blob);
    u32 off = 0;
    while (n > 0 && off < (u32)n) {
        u32 kl = blob[off++];
        if (kl == 0 || kl > 64 || (u32)n - off < kl + 4)
            break;
        const char *k = (const char *)blob + off;
        off += kl;
        u32 vl = ec_get32(blob + off);
        off += 4;
        if ((u32)n - off < vl || insert(k, kl, blob + off, vl))
            break;
        off += vl;
    }
}

EXPORT("ec_init") i32 init(const char *args, u32 n)
{
    (void)args, (void)n;
    memcpy(label, "kv-", 3);
    i32 l = ec_actor_id(label + 3, sizeof label - 3);
    if (l < 0)
        return l;
    label_len = (u32)l + 3;
    load();
    return 0;
}

static int key_ok(const char *k, u32 kl)
{
    if (kl == 0 || kl > 64)
        return 0;
    for (u32 i = 0; i < kl; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static i32 list(void)
{
    static char out[MAX_KEYS * 70 + 16];
    u32 n = 0;
    memcpy(out, "{\"keys\":[", 9);
    n = 9;
    for (u32 i = 0; i < nentries; i++) {
        if (i)
            out[n++] = ',';
        out[n++] = '"';
        memcpy(out + n, entries[i].key, entries[i].klen);
        n += entries[i].klen;
        out[n++] = '"';
    }
    memcpy(out + n, "]}", 2);
    n += 2;
    return ec_http_reply(200, "application/json", out, n);
}

EXPORT("ec_handle_http") i32 on_http(const unsigned char *p, u32 n)
{
    ec_http_view v;
    if (ec_http_parse(p, n, &v) != 0 || v.kind != 1)
        return HTTP_JSON(400, "{\"error\":\"unreadable request\"}");
    u32 pl = 0; /* the path: the target up to '?' */
    while (pl < v.target_len && v.target[pl] != '?')
        pl++;
    const char *path = v.target;
    int get = v.method_len == 3 && ec_memeq(v.method, "GET", 3);
    int put = v.method_len == 3 && ec_memeq(v.method, "PUT", 3);
    int del = v.method_len == 6 && ec_memeq(v.method, "DELETE", 6);
    if (pl == 3 && ec_memeq(path, "/kv", 3)) {
        if (!get)
            return HTTP_JSON(405, "{\"error\":\"GET /kv lists the keys\"}");
        return list();
    }
    if (pl < 5 || !ec_memeq(path, "/kv/", 4))
        return HTTP_JSON(404, "{\"error\":\"not found: the API is /kv and /kv/<key>\"}");
    const char *k = path + 4;
    u32 kl = pl - 4;
    if (!key_ok(k, kl))
        return HTTP_JSON(400, "{\"error\":\"keys are 1 to 64 of A-Z a-z 0-9 _ . -\"}");
    int i = find(k, kl);
    if (get) {
        if (i < 0)
            return HTTP_JSON(404, "{\"error\":\"no such key\"}");
        return ec_http_reply(200, "application/json", pool + entries[i].off, entries[i].vlen);
    }
    if (put) {
        if (v.body_len == 0 || v.body_len > MAX_VALUE)
            return HTTP_JSON(400, "{\"error\":\"a value is 1 byte to 64 KiB\"}");
        if (i >= 0)
            remove_at((u32)i);
        if (insert(k, kl, v.body, v.body_len))
            return HTTP_JSON(507, "{\"error\":\"the store is full\"}");
        if (save() != 0)
            return HTTP_JSON(500, "{\"error\":\"could not save\"}");
        return i >= 0 ? HTTP_JSON(200, "{\"ok\":true}") : HTTP_JSON(201, "{\"ok\":true}");
    }
    if (del) {
        if (i < 0)
            return HTTP_JSON(404, "{\"error\":\"no such key\"}");
        remove_at((u32)i);
        if (save() != 0)
            return HTTP_JSON(500, "{\"error\":\"could not save\"}");
        return HTTP_JSON(200, "{\"ok\":true}");
    }
    return HTTP_JSON(405, "{\"error\":\"GET, PUT or DELETE\"}");
}
