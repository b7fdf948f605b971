/* actor/bundle.c: migration bundles (docs/FORMAT.md section 8): one file holding an actor's
 * chain, its module and the store objects and labels it used, checked in full (every entry's
 * digest, the chain's links, a complete replay) before anything is written on import. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <evchain/replay.h>

#include "core/internal.h"
#include "actor/actor_int.h"

int ec_mkdir_p(const char *path);

static const uint8_t MAGIC[8] = {'E', 'V', 'B', 'U', 'N', 'D', 'L', 1};

enum { K_CHAIN = 'C', K_MODULE = 'M', K_OBJECT = 'O', K_LABEL = 'L', K_END = 'E' };

typedef struct obuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
} obuf;

static void ob_put(obuf *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + n)
            nc *= 2;
        uint8_t *q = realloc(b->p, nc);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static int sha256(const void *p, size_t n, uint8_t out[32])
{
    unsigned dl = 0;
    return EVP_Digest(p, n, out, &dl, EVP_sha256(), NULL) ? 0 : -1;
}

/* entry = kind u8, name length u16be, name, data length u64be, data, SHA-256(data). */
static void put_entry(obuf *b, int kind, const char *name, const void *data, size_t len)
{
    uint8_t h[11], d[32];
    size_t nl = strlen(name);
    h[0] = (uint8_t)kind;
    h[1] = (uint8_t)(nl >> 8);
    h[2] = (uint8_t)nl;
    ob_put(b, h, 3);
    ob_put(b, name, nl);
    ec_put_u64(h, len);
    ob_put(b, h, 8);
    ob_put(b, data, len);
    if (sha256(data, len, d))
        b->oom = 1;
    ob_put(b, d, 32);
}

static int read_whole(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ec_error_set_errno(errno == ENOENT ? EC_ENOTFOUND : EC_EIO, errno, "%s", path);
    uint8_t *p = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 65536;
            uint8_t *q = realloc(p, nc);
            if (!q) {
                free(p);
                fclose(f);
                return ec_error_set(EC_ENOMEM, "%s: out of memory", path);
            }
            p = q;
            cap = nc;
        }
        size_t k = fread(p + n, 1, cap - n, f);
        n += k;
        if (k == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(p);
        return ec_error_set(EC_EIO, "%s: read error", path);
    }
    *out = p;
    *len = n;
    return 0;
}

static void data_of(const char *chain_dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s", chain_dir);
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        out[--n] = 0;
    for (int up = 0; up < 3; up++) {
        char *sl = strrchr(out, '/');
        if (!sl) {
            snprintf(out, cap, ".");
            return;
        }
        *sl = 0;
        if (!out[0])
            snprintf(out, cap, "/");
    }
}

/* The 32-byte hash under `key` of a payload, when there is one. */
static int hash_field(const ec_event *ev, const char *key, uint8_t out[32])
{
    unsigned mt;
    const uint8_t *v;
    size_t vl;
    uint64_t num;
    if (cb_map_find(ev->data, ev->data_len, key, &mt, &v, &vl, &num) || mt != 2 || vl != 32)
        return -1;
    memcpy(out, v, 32);
    return 0;
}

#define IS(ev, t) ((ev).type_len == strlen(t) && memcmp((ev).type, t, (ev).type_len) == 0)

static int have_hash(uint8_t (*list)[32], size_t n, const uint8_t *h)
{
    for (size_t k = 0; k < n; k++)
        if (memcmp(list[k], h, 32) == 0)
            return 1;
    return 0;
}

int ec_bundle_export(const char *chain_dir, const char *data_dir, const char *cache_dir,
                     const char *out_path)
{
    if (!chain_dir || !out_path)
        return ec_error_set(EC_EINVAL, "ec_bundle_export: NULL argument");
    char data[4096], cache[4200], path[4600];
    if (data_dir)
        snprintf(data, sizeof data, "%s", data_dir);
    else
        data_of(chain_dir, data, sizeof data);
    if (cache_dir)
        snprintf(cache, sizeof cache, "%s", cache_dir);
    else
        snprintf(cache, sizeof cache, "%s/cache", data);
    ec_chain *c = NULL;
    int rc = ec_chain_open_path(&c, chain_dir, NULL);
    if (rc)
        return rc;
    obuf b = {0};
    uint8_t(*objs)[32] = NULL;
    size_t nobj = 0;
    char **labels = NULL;
    size_t nlab = 0;
    uint8_t *wasm = NULL;
    size_t wasm_len = 0;
    ec_event ev;
    char id[80] = "";
    ob_put(&b, MAGIC, sizeof MAGIC);
    /* Event 0 names the actor and its module. */
    if ((rc = ec_chain_get(c, 0, &ev)))
        goto done;
    uint8_t sha[32];
    {
        unsigned mt;
        const uint8_t *v;
        size_t vl;
        uint64_t num;
        if (!IS(ev, "actor/start") || hash_field(&ev, "module_sha256", sha) ||
            cb_map_find(ev.data, ev.data_len, "actor", &mt, &v, &vl, &num) || mt != 3 ||
            vl >= sizeof id) {
            rc = ec_error_set(EC_EFORMAT, "%s: not an actor chain (event 0 is not actor/start)",
                              chain_dir);
            goto done;
        }
        memcpy(id, v, vl);
        id[vl] = 0;
    }
    /* The chain: its records as stored, each with its length. */
    {
        obuf recs = {0};
        ec_backend *be = ec_chain_backend(c);
        uint64_t n = ec_chain_count(c);
        for (uint64_t q = 0; q < n; q++) {
            const uint8_t *rec;
            size_t rl;
            if ((rc = be->get(be, q, &rec, &rl))) {
                free(recs.p);
                goto done;
            }
            uint8_t l4[4];
            ec_put_u32(l4, (uint32_t)rl);
            ob_put(&recs, l4, 4);
            ob_put(&recs, rec, rl);
            if ((rc = ec_chain_get(c, q, &ev))) {
                free(recs.p);
                goto done;
            }
            /* The store objects it put or read, and the labels it set. */
            uint8_t h[32];
            int got = 0;
            if ((IS(ev, "store/put.result") && hash_field(&ev, "out", h) == 0) ||
                ((IS(ev, "store/get") || IS(ev, "store/label_set")) &&
                 hash_field(&ev, "hash", h) == 0))
                got = 1;
            if (got && !have_hash(objs, nobj, h)) {
                void *no = realloc(objs, (nobj + 1) * sizeof *objs);
                if (!no) {
                    free(recs.p);
                    rc = ec_error_set(EC_ENOMEM, "bundle: out of memory");
                    goto done;
                }
                objs = no;
                memcpy(objs[nobj++], h, 32);
            }
            unsigned mt;
            const uint8_t *v;
            size_t vl;
            uint64_t num;
            if (IS(ev, "store/label_set") &&
                cb_map_find(ev.data, ev.data_len, "name", &mt, &v, &vl, &num) == 0 && mt == 3 &&
                vl > 0 && vl <= 64 && ec_valid_id((const char *)v, vl)) {
                int dup = 0;
                for (size_t k = 0; k < nlab; k++)
                    dup |= strlen(labels[k]) == vl && memcmp(labels[k], v, vl) == 0;
                char **nl = dup ? labels : realloc(labels, (nlab + 1) * sizeof *labels);
                if (!nl || (!dup && !(nl[nlab] = strndup((const char *)v, vl)))) {
                    free(recs.p);
                    rc = ec_error_set(EC_ENOMEM, "bundle: out of memory");
                    goto done;
                }
                labels = nl;
                if (!dup)
                    nlab++;
            }
        }
        if (recs.oom) {
            free(recs.p);
            rc = ec_error_set(EC_ENOMEM, "bundle: out of memory");
            goto done;
        }
        put_entry(&b, K_CHAIN, id, recs.p, recs.len);
        free(recs.p);
    }
    char hex[65];
    ec_hex_encode(hex, sha, 32);
    snprintf(path, sizeof path, "%s/%s.wasm", cache, hex);
    if ((rc = read_whole(path, &wasm, &wasm_len))) {
        rc = ec_error_set(rc, "bundle: the module %s is not in the cache %s", hex, cache);
        goto done;
    }
    put_entry(&b, K_MODULE, hex, wasm, wasm_len);
    for (size_t k = 0; k < nobj; k++) {
        uint8_t *o;
        size_t ol;
        ec_hex_encode(hex, objs[k], 32);
        snprintf(path, sizeof path, "%s/store/objects/%s", data, hex);
        if (read_whole(path, &o, &ol) != 0) {
            ec_error_clear(); /* an object the actor only asked for and never had */
            continue;
        }
        put_entry(&b, K_OBJECT, hex, o, ol);
        free(o);
    }
    for (size_t k = 0; k < nlab; k++) {
        uint8_t *l, h[32];
        size_t ll;
        snprintf(path, sizeof path, "%s/store/labels/%s", data, labels[k]);
        if (read_whole(path, &l, &ll) != 0) {
            ec_error_clear();
            continue;
        }
        int ok = ll == 64 && ec_hex_decode(h, 32, (const char *)l, 64) == 0;
        free(l);
        if (ok)
            put_entry(&b, K_LABEL, labels[k], h, 32);
    }
    {
        uint8_t d[32];
        if (b.oom || sha256(b.p, b.len, d)) {
            rc = ec_error_set(EC_ENOMEM, "bundle: out of memory");
            goto done;
        }
        put_entry(&b, K_END, "", d, 32);
    }
    if (b.oom)
        rc = ec_error_set(EC_ENOMEM, "bundle: out of memory");
    else
        rc = ec_write_file_atomic(out_path, b.p, b.len);
done:
    for (size_t k = 0; k < nlab; k++)
        free(labels[k]);
    free(labels);
    free(objs);
    free(wasm);
    free(b.p);
    ec_chain_free(c);
    return rc;
}

/* ---- import ---- */

typedef struct entry {
    int kind;
    char name[80];
    const uint8_t *data;
    size_t len;
} entry;

/* Parse and check every entry's digest and the trailer's digest of the whole file. */
static int parse(const char *path, const uint8_t *p, size_t n, entry **out, size_t *nout)
{
    if (n < sizeof MAGIC || memcmp(p, MAGIC, sizeof MAGIC) != 0)
        return ec_error_set(EC_EFORMAT, "%s: not an evchain bundle (bad magic)", path);
    size_t off = sizeof MAGIC, ne = 0, cap = 0;
    entry *es = NULL;
    int end = 0;
    while (off < n) {
        if (end) {
            free(es);
            return ec_error_set(EC_EFORMAT, "%s: bytes after the end entry at offset %zu", path,
                                off);
        }
        size_t start = off;
        if (n - off < 3) {
            free(es);
            return ec_error_set(EC_EFORMAT, "%s: truncated entry at offset %zu", path, off);
        }
        entry e;
        e.kind = p[off];
        size_t nl = ((size_t)p[off + 1] << 8) | p[off + 2];
        off += 3;
        if (nl >= sizeof e.name || n - off < nl + 8) {
            free(es);
            return ec_error_set(EC_EFORMAT, "%s: entry at offset %zu: bad name", path, start);
        }
        memcpy(e.name, p + off, nl);
        e.name[nl] = 0;
        off += nl;
        uint64_t dl = ec_get_u64(p + off);
        off += 8;
        if (dl > n - off || n - off - dl < 32) {
            free(es);
            return ec_error_set(EC_EFORMAT, "%s: entry at offset %zu: truncated data", path, start);
        }
        e.data = p + off;
        e.len = (size_t)dl;
        off += (size_t)dl;
        uint8_t d[32];
        if (sha256(e.data, e.len, d) || memcmp(d, p + off, 32) != 0) {
            free(es);
            return ec_error_set(EC_EVERIFY, "%s: entry '%c' %s at offset %zu: digest mismatch",
                                path, e.kind, e.name, start);
        }
        off += 32;
        if (e.kind == K_END) {
            if (e.len != 32 || sha256(p, start, d) || memcmp(d, e.data, 32) != 0) {
                free(es);
                return ec_error_set(EC_EVERIFY, "%s: the file digest does not match", path);
            }
            end = 1;
            continue;
        }
        if (ne == cap) {
            cap = cap ? cap * 2 : 16;
            entry *q = realloc(es, cap * sizeof *es);
            if (!q) {
                free(es);
                return ec_error_set(EC_ENOMEM, "%s: out of memory", path);
            }
            es = q;
        }
        es[ne++] = e;
    }
    if (!end) {
        free(es);
        return ec_error_set(EC_EFORMAT, "%s: truncated (no end entry)", path);
    }
    *out = es;
    *nout = ne;
    return 0;
}

static int is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static int rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char sub[4600];
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            rm_rf(sub);
        }
        closedir(d);
        return rmdir(path);
    }
    return unlink(path);
}

/* Parse a bundle's bytes and check everything that needs no module run: the digests, the
 * entries, and every record of the chain (into a memory chain, *mem_out). */
static int load(const char *bundle_path, const uint8_t *file, size_t flen, entry **es_out,
                size_t *ne_out, const entry **ch_out, const entry **mod_out, ec_chain **mem_out)
{
    entry *es = NULL;
    size_t ne = 0;
    ec_chain *mem = NULL;
    const entry *ch = NULL, *mod = NULL;
    int rc = parse(bundle_path, file, flen, &es, &ne);
    if (rc)
        goto done;
    for (size_t k = 0; k < ne; k++) {
        const entry *e = &es[k];
        if (e->kind == K_CHAIN || e->kind == K_MODULE) {
            if ((e->kind == K_CHAIN ? ch : mod) != NULL) {
                rc = ec_error_set(EC_EFORMAT, "%s: more than one '%c' entry", bundle_path, e->kind);
                goto done;
            }
            if (e->kind == K_CHAIN)
                ch = e;
            else
                mod = e;
        } else if (e->kind == K_OBJECT || e->kind == K_LABEL) {
            uint8_t d[32];
            char hex[65];
            int ok = e->kind == K_OBJECT
                         ? is_hex64(e->name) && sha256(e->data, e->len, d) == 0 &&
                               (ec_hex_encode(hex, d, 32), strcmp(hex, e->name) == 0)
                         : ec_valid_id(e->name, strlen(e->name)) && e->len == 32;
            if (!ok) {
                rc = ec_error_set(EC_EVERIFY, "%s: %s %s does not check", bundle_path,
                                  e->kind == K_OBJECT ? "store object" : "label", e->name);
                goto done;
            }
        } else {
            rc = ec_error_set(EC_EFORMAT, "%s: unknown entry kind 0x%02x", bundle_path, e->kind);
            goto done;
        }
    }
    if (!ch || !mod) {
        rc = ec_error_set(EC_EFORMAT, "%s: needs one chain and one module entry", bundle_path);
        goto done;
    }
    {
        /* The module is named by its SHA-256 (it becomes <cache>/<name>.wasm): checked. */
        uint8_t d[32];
        char hex[65];
        if (!is_hex64(mod->name) || sha256(mod->data, mod->len, d) != 0 ||
            (ec_hex_encode(hex, d, 32), strcmp(hex, mod->name) != 0)) {
            rc = ec_error_set(EC_EVERIFY, "%s: the module entry is not named by its SHA-256",
                              bundle_path);
            goto done;
        }
    }
    if (!ec_valid_id(ch->name, strlen(ch->name))) {
        rc = ec_error_set(EC_EFORMAT, "%s: '%s' is not an actor id", bundle_path, ch->name);
        goto done;
    }
    /* The chain: every record checked (structure, seq, parent link, hash) as it is added. */
    {
        ec_backend *be = NULL;
        ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
        ec_event first;
        /* The chain's algorithm is its first record's. */
        if (ch->len >= 4 && ec_get_u32(ch->data) <= ch->len - 4 &&
            ec_record_decode(&first, ch->data + 4, ec_get_u32(ch->data)) == 0)
            co.alg = first.alg;
        ec_error_clear();
        if ((rc = ec_backend_memory(&be, NULL)) || (rc = ec_chain_open(&mem, be, &co)))
            goto done;
        size_t off = 0;
        while (off < ch->len) {
            if (ch->len - off < 4 || ec_get_u32(ch->data + off) > ch->len - off - 4) {
                rc = ec_error_set(EC_EFORMAT, "%s: chain record %llu truncated", bundle_path,
                                  (unsigned long long)ec_chain_count(mem));
                goto done;
            }
            uint32_t rl = ec_get_u32(ch->data + off);
            if ((rc = ec_chain_append_record(mem, ch->data + off + 4, rl))) {
                rc = ec_error_set(rc, "%s: chain record %llu: %s", bundle_path,
                                  (unsigned long long)ec_chain_count(mem),
                                  ec_error_last() ? ec_error_last()->message : "refused");
                goto done;
            }
            off += 4 + rl;
        }
    }
done:
    if (rc) {
        ec_chain_free(mem);
        free(es);
        return rc;
    }
    *es_out = es;
    *ne_out = ne;
    *ch_out = ch;
    *mod_out = mod;
    *mem_out = mem;
    return 0;
}

int ec_bundle_check(const void *data, size_t len)
{
    entry *es = NULL;
    size_t ne = 0;
    const entry *ch = NULL, *mod = NULL;
    ec_chain *mem = NULL;
    int rc = load("bundle", data, len, &es, &ne, &ch, &mod, &mem);
    if (rc == 0) {
        ec_chain_free(mem);
        free(es);
    }
    return rc;
}

int ec_bundle_import(const char *bundle_path, const char *data_dir, const char *cache_dir,
                     char *id_out, size_t id_cap)
{
    if (!bundle_path || !data_dir)
        return ec_error_set(EC_EINVAL, "ec_bundle_import: NULL argument");
    uint8_t *file = NULL;
    size_t flen = 0;
    int rc = read_whole(bundle_path, &file, &flen);
    if (rc)
        return rc;
    entry *es = NULL;
    size_t ne = 0;
    ec_chain *mem = NULL;
    char tmpdir[4400] = "", cache[4400], path[4600], final[4600];
    const entry *ch = NULL, *mod = NULL;
    if ((rc = load(bundle_path, file, flen, &es, &ne, &ch, &mod, &mem)))
        goto done;
    {
        /* The directory is named by the entry, the actor by its chain: they must agree. */
        ec_event ev;
        unsigned mt;
        const uint8_t *v;
        size_t vl;
        uint64_t num;
        if ((rc = ec_chain_get(mem, 0, &ev)) || !IS(ev, "actor/start") ||
            cb_map_find(ev.data, ev.data_len, "actor", &mt, &v, &vl, &num) || mt != 3 ||
            vl != strlen(ch->name) || memcmp(v, ch->name, vl) != 0) {
            rc = ec_error_set(EC_EFORMAT, "%s: the chain entry '%s' is not that actor's chain",
                              bundle_path, ch->name);
            goto done;
        }
    }
    snprintf(final, sizeof final, "%s/actors/%s", data_dir, ch->name);
    struct stat st;
    if (stat(final, &st) == 0) {
        rc = ec_error_set(EC_EEXISTS, "%s: actor %s already exists in %s", bundle_path, ch->name,
                          data_dir);
        goto done;
    }
    /* The module and a complete replay: the chain must be what this module does. */
    snprintf(cache, sizeof cache, "%s", cache_dir ? cache_dir : data_dir);
    if (!cache_dir)
        snprintf(cache + strlen(cache), sizeof cache - strlen(cache), "/cache");
    snprintf(tmpdir, sizeof tmpdir, "%s/actors/.import-XXXXXX", data_dir);
    snprintf(path, sizeof path, "%s/actors", data_dir);
    if ((rc = ec_mkdir_p(path)))
        goto done;
    if (!mkdtemp(tmpdir)) {
        rc = ec_error_set_errno(EC_EIO, errno, "%s: mkdtemp", tmpdir);
        tmpdir[0] = 0;
        goto done;
    }
    snprintf(path, sizeof path, "%s/module.wasm", tmpdir);
    if ((rc = ec_write_file_atomic(path, mod->data, mod->len)))
        goto done;
    {
        ec_replay_options ro = EC_REPLAY_OPTIONS_INIT;
        ro.module_path = path;
        ro.cache_dir = cache;
        ec_replay_report rep;
        rc = ec_actor_replay(mem, NULL, &ro, &rep);
        ec_replay_report_free(&rep);
        if (rc) {
            rc = ec_error_set(rc, "%s: the chain does not replay with its module: %s", bundle_path,
                              ec_error_last() ? ec_error_last()->message : "");
            goto done;
        }
    }
    /* Labels must not name something else here already. */
    for (size_t k = 0; k < ne; k++) {
        if (es[k].kind != K_LABEL)
            continue;
        uint8_t *l;
        size_t ll;
        char hex[65];
        snprintf(path, sizeof path, "%s/store/labels/%s", data_dir, es[k].name);
        if (read_whole(path, &l, &ll) == 0) {
            ec_hex_encode(hex, es[k].data, 32);
            int same = ll == 64 && memcmp(l, hex, 64) == 0;
            free(l);
            if (!same) {
                rc = ec_error_set(EC_EEXISTS, "%s: label %s already names another object in %s",
                                  bundle_path, es[k].name, data_dir);
                goto done;
            }
        }
        ec_error_clear();
    }
    /* Accepted: write the chain in the scratch directory, then everything else, then move
     * the actor's directory into place (the last step: an actor appears whole or not). */
    {
        snprintf(path, sizeof path, "%s/chain", tmpdir);
        ec_disk_options o = EC_DISK_OPTIONS_INIT;
        o.create = 1;
        o.alg = ec_chain_alg(mem);
        ec_backend *be = NULL;
        ec_chain *disk = NULL;
        ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
        co.alg = o.alg;
        if ((rc = ec_backend_disk(&be, path, &o)) || (rc = ec_chain_open(&disk, be, &co)))
            goto done;
        ec_backend *mb = ec_chain_backend(mem);
        for (uint64_t q = 0; rc == 0 && q < ec_chain_count(mem); q++) {
            const uint8_t *rec;
            size_t rl;
            if ((rc = mb->get(mb, q, &rec, &rl)) == 0)
                rc = ec_chain_append_record(disk, rec, rl);
        }
        if (rc == 0 && be->sync)
            rc = be->sync(be);
        ec_chain_free(disk);
        if (rc)
            goto done;
        snprintf(path, sizeof path, "%s/module.wasm", tmpdir);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/%s.wasm", cache, mod->name);
    if ((rc = ec_mkdir_p(cache)) ||
        (access(path, F_OK) != 0 && (rc = ec_write_file_atomic(path, mod->data, mod->len))))
        goto done;
    for (size_t k = 0; k < ne; k++) {
        const entry *e = &es[k];
        if (e->kind == K_OBJECT) {
            snprintf(path, sizeof path, "%s/store/objects", data_dir);
            if ((rc = ec_mkdir_p(path)))
                goto done;
            snprintf(path, sizeof path, "%s/store/objects/%s", data_dir, e->name);
            if (access(path, F_OK) != 0 && (rc = ec_write_file_atomic(path, e->data, e->len)))
                goto done;
        } else if (e->kind == K_LABEL) {
            char hex[65];
            ec_hex_encode(hex, e->data, 32);
            snprintf(path, sizeof path, "%s/store/labels", data_dir);
            if ((rc = ec_mkdir_p(path)))
                goto done;
            snprintf(path, sizeof path, "%s/store/labels/%s", data_dir, e->name);
            if ((rc = ec_write_file_atomic(path, hex, 64)))
                goto done;
        }
    }
    if (rename(tmpdir, final) != 0) {
        rc = ec_error_set_errno(EC_EIO, errno, "%s: rename into place", final);
        goto done;
    }
    tmpdir[0] = 0;
    if (id_out && id_cap)
        snprintf(id_out, id_cap, "%s", ch->name);
done:
    if (tmpdir[0])
        rm_rf(tmpdir);
    ec_chain_free(mem);
    free(es);
    free(file);
    return rc;
}
