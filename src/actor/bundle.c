/* actor/bundle.c: migration bundles (docs/FORMAT.md section 8): one file holding an actor's
 * chain, its module, the store objects and labels it used and the files of its sandbox,
 * checked in full (every entry's digest, every sandbox name, the chain's links, a complete
 * replay) before anything is written on import. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <evchain/replay.h>

#include "core/internal.h"
#include "actor/actor_int.h"
#include "actor/links_int.h"

int ec_mkdir_p(const char *path);

/* The writer writes version 2; the reader takes 1 (no sandbox entries) and 2. */
static const uint8_t MAGIC[8] = {'E', 'V', 'B', 'U', 'N', 'D', 'L', 2};
enum { VERSION_MIN = 1, VERSION_MAX = 2 };

enum {
    K_CHAIN = 'C',
    K_MODULE = 'M',
    K_OBJECT = 'O',
    K_LABEL = 'L',
    K_FILE = 'F', /* version 2: a file of the sandbox */
    K_DIR = 'D',  /* version 2: a directory of the sandbox */
    K_END = 'E'
};

/* The sandbox limits of docs/FORMAT.md section 8; a reader refuses past them, so the writer
 * refuses to write what they would refuse. FS_FILE_MAX is the host's own limit on fs_write
 * (host.c FILE_MAX): an actor cannot make a larger file. */
#define FS_NAME_MAX      4096u
#define FS_COMPONENT_MAX 255u
#define FS_FILE_MAX      (16u << 20)
#define FS_TOTAL_MAX     (1ull << 30)
#define FS_ENTRIES_MAX   (1u << 20)

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

/* ---- what a chain needs from the store ---- */

/* A store object a chain refers to, in the order of its first reference. `need`: the actor
 * had it (it put it, or a store_get returned it): its state may depend on it, so a bundle
 * without it loses data, and every writer and reader refuses that. Otherwise (a label_set's
 * hash, a store_get that found nothing) it is carried when the store has it, as before. */
typedef struct objref {
    uint8_t h[32];
    uint64_t seq; /* the event of the first reference, for messages */
    int need;
} objref;

/* The labels an actor set (label_set.result ret 0), which it reads back to go on. */
typedef struct needs {
    objref *objs;
    size_t nobj, cobj;
    char **labels;
    uint64_t *label_seq;
    size_t nlab, clab;
} needs;

static void needs_free(needs *n)
{
    for (size_t k = 0; k < n->nlab; k++)
        free(n->labels[k]);
    free(n->labels);
    free(n->label_seq);
    free(n->objs);
    memset(n, 0, sizeof *n);
}

static int needs_obj(needs *n, const uint8_t h[32], uint64_t seq, int need)
{
    if (n->nobj == n->cobj) {
        size_t nc = n->cobj ? n->cobj * 2 : 64;
        objref *q = realloc(n->objs, nc * sizeof *q);
        if (!q)
            return ec_error_set(EC_ENOMEM, "bundle: out of memory");
        n->objs = q;
        n->cobj = nc;
    }
    objref *o = &n->objs[n->nobj++];
    memcpy(o->h, h, 32);
    o->seq = seq;
    o->need = need;
    return 0;
}

static int objref_by_hash(const void *x, const void *y)
{
    const objref *a = x, *b = y;
    int c = memcmp(a->h, b->h, 32);
    return c ? c : a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int objref_by_seq(const void *x, const void *y)
{
    const objref *a = x, *b = y;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* One entry per object (sorting, not a scan per reference: a long-lived actor puts
 * hundreds of thousands): needed when any reference needs it, in the order of the first. */
static void needs_dedup(needs *n)
{
    if (n->nobj < 2)
        return;
    qsort(n->objs, n->nobj, sizeof *n->objs, objref_by_hash);
    size_t w = 0;
    for (size_t k = 0; k < n->nobj; k++) {
        if (w && memcmp(n->objs[w - 1].h, n->objs[k].h, 32) == 0) {
            /* messages name the first event that needs it */
            if (n->objs[k].need && !n->objs[w - 1].need)
                n->objs[w - 1].seq = n->objs[k].seq;
            n->objs[w - 1].need |= n->objs[k].need;
            continue;
        }
        n->objs[w++] = n->objs[k];
    }
    n->nobj = w;
    qsort(n->objs, n->nobj, sizeof *n->objs, objref_by_seq);
}

/* The `ret` of a result payload is >= 0 (an unsigned integer). */
static int ret_ok(const ec_event *ev)
{
    unsigned mt;
    const uint8_t *v;
    size_t vl;
    uint64_t num;
    return cb_map_find(ev->data, ev->data_len, "ret", &mt, &v, &vl, &num) == 0 && mt == 0;
}

/* What the chain refers to in the store (docs/FORMAT.md section 8): a request's result is
 * the event right after it (docs/ABI.md section 2); a request the chain ends with, or that a
 * recovery marker follows, had no result and needs nothing. Snapshots (state/snapshot) are
 * not here: an import makes them again by its replay. */
static int chain_needs(ec_chain *c, needs *n)
{
    memset(n, 0, sizeof *n);
    uint64_t count = ec_chain_count(c);
    ec_event ev;
    int rc = 0;
    int prev = 0; /* the kind of the event before: 1 store/get, 2 store/label_set */
    uint8_t prev_hash[32];
    char prev_name[65];
    for (uint64_t q = 0; rc == 0 && q < count; q++) {
        if ((rc = ec_chain_get(c, q, &ev)))
            break;
        int kind = 0;
        uint8_t h[32];
        if (cb_check(ev.data, ev.data_len) != 0) {
            ec_error_clear(); /* not an actor payload: nothing of the store in it */
        } else if (IS(ev, "store/put.result")) {
            if (ret_ok(&ev) && hash_field(&ev, "out", h) == 0)
                rc = needs_obj(n, h, q, 1);
        } else if (IS(ev, "store/get")) {
            if (hash_field(&ev, "hash", prev_hash) == 0)
                kind = 1;
        } else if (IS(ev, "store/get.result")) {
            if (prev == 1)
                rc = needs_obj(n, prev_hash, q - 1, ret_ok(&ev));
        } else if (IS(ev, "store/label_set")) {
            unsigned mt;
            const uint8_t *v;
            size_t vl;
            uint64_t num;
            if (hash_field(&ev, "hash", prev_hash) == 0 &&
                cb_map_find(ev.data, ev.data_len, "name", &mt, &v, &vl, &num) == 0 && mt == 3 &&
                vl > 0 && vl <= 64 && ec_valid_id((const char *)v, vl)) {
                memcpy(prev_name, v, vl);
                prev_name[vl] = 0;
                kind = 2;
            }
        } else if (IS(ev, "store/label_set.result") && prev == 2) {
            rc = needs_obj(n, prev_hash, q - 1, 0);
            int have = 0;
            for (size_t k = 0; !have && k < n->nlab; k++)
                have = strcmp(n->labels[k], prev_name) == 0;
            if (rc == 0 && ret_ok(&ev) && !have) {
                if (n->nlab == n->clab) {
                    size_t nc = n->clab ? n->clab * 2 : 8;
                    char **l = realloc(n->labels, nc * sizeof *l);
                    uint64_t *s = l ? realloc(n->label_seq, nc * sizeof *s) : NULL;
                    if (l)
                        n->labels = l;
                    if (s)
                        n->label_seq = s;
                    if (!l || !s) {
                        rc = ec_error_set(EC_ENOMEM, "bundle: out of memory");
                        break;
                    }
                    n->clab = nc;
                }
                if (!(n->labels[n->nlab] = strdup(prev_name))) {
                    rc = ec_error_set(EC_ENOMEM, "bundle: out of memory");
                    break;
                }
                n->label_seq[n->nlab++] = q - 1;
            }
        }
        prev = kind;
    }
    if (rc)
        needs_free(n);
    else
        needs_dedup(n);
    return rc;
}

/* ---- the sandbox: names, order, and the walk that exports it ---- */

/* Why a sandbox name (kinds F and D) is refused, or NULL: the rules of docs/FORMAT.md
 * section 8. They make every accepted name a plain relative path that stays beneath the
 * sandbox, whose components are Linux file names, and that prints without hiding anything. */
static const char *fs_name_problem(const uint8_t *p, size_t n)
{
    if (n == 0)
        return "an empty name";
    if (n > FS_NAME_MAX)
        return "a name longer than 4096 bytes";
    const char *text = ec_name_text_problem((const char *)p, n);
    if (text)
        return text;
    if (p[0] == '/')
        return "an absolute name (a leading '/')";
    if (p[n - 1] == '/')
        return "a trailing '/'";
    for (size_t i = 0; i < n;) {
        const uint8_t *sl = memchr(p + i, '/', n - i);
        size_t cl = sl ? (size_t)(sl - (p + i)) : n - i;
        if (cl == 0)
            return "an empty component ('//')";
        if (cl == 1 && p[i] == '.')
            return "a '.' component";
        if (cl == 2 && p[i] == '.' && p[i + 1] == '.')
            return "a '..' component";
        if (cl > FS_COMPONENT_MAX)
            return "a component longer than 255 bytes";
        i += cl + 1;
    }
    return NULL;
}

/* The canonical order of sandbox names: bytewise with '/' below every other byte, that is
 * component by component, a name before the names beneath it. It is the order of a
 * depth-first walk with each directory's entries sorted bytewise, and it puts a directory's
 * whole subtree right after it. Names hold no NUL (checked first), so 0 is free for '/'. */
static int fs_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) {
            unsigned x = a[i] == '/' ? 0 : a[i], y = b[i] == '/' ? 0 : b[i];
            return x < y ? -1 : 1;
        }
    return an < bn ? -1 : an > bn;
}

/* A name as it may be shown in a message: bytes that are not printable ASCII as \xNN, cut
 * with "..." past the buffer (a hostile name must not forge or flood a message). */
static void fs_show(char *out, size_t cap, const uint8_t *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 8 >= cap) {
            memcpy(out + o, "...", 4);
            return;
        }
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' && p[i] != '\'')
            out[o++] = (char)p[i];
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", p[i]);
    }
    out[o] = 0;
}

typedef struct fs_walk {
    obuf *b;
    const char *root;           /* the sandbox directory, for messages */
    char name[FS_NAME_MAX + 2]; /* the current name, relative to the sandbox */
    size_t nl;
    uint64_t total, count;
} fs_walk;

static int cmp_cstr(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* A file of the sandbox, opened beneath dfd without following a symlink (one put there
 * between the walk's look and this open is refused, not followed), at most FS_FILE_MAX. */
static int fs_read_file(fs_walk *w, int dfd, const char *base, uint8_t **out, size_t *len)
{
    int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return ec_error_set_errno(EC_EIO, errno, "bundle: sandbox %s/%s", w->root, w->name);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ec_error_set(EC_EDENIED,
                            "bundle: sandbox %s/%s is no longer a regular file; not exported",
                            w->root, w->name);
    }
    /* Room for one byte more than fstat said: the read that finds the end, or that finds
     * the file grew (then it is read on, up to one byte past the limit, which refuses it). */
    size_t cap =
        (st.st_size > 0 && (uint64_t)st.st_size <= FS_FILE_MAX ? (size_t)st.st_size : 0) + 1;
    uint8_t *p = malloc(cap);
    size_t n = 0;
    int e = 0, oom = !p;
    while (!oom) {
        if (n == cap) {
            if (cap > FS_FILE_MAX)
                break;
            size_t nc = cap * 2 > FS_FILE_MAX + 1 ? FS_FILE_MAX + 1 : cap * 2;
            uint8_t *q = realloc(p, nc);
            if (!q) {
                oom = 1;
                break;
            }
            p = q;
            cap = nc;
        }
        ssize_t k = read(fd, p + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            e = errno;
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    if (oom) {
        free(p);
        return ec_error_set(EC_ENOMEM, "bundle: sandbox %s/%s: out of memory", w->root, w->name);
    }
    if (e) {
        free(p);
        return ec_error_set_errno(EC_EIO, e, "bundle: sandbox %s/%s: reading", w->root, w->name);
    }
    if (n > FS_FILE_MAX) {
        free(p);
        return ec_error_set(EC_EDENIED,
                            "bundle: sandbox %s/%s: more than %u bytes (a bundle's limit for "
                            "one file); not exported",
                            w->root, w->name, FS_FILE_MAX);
    }
    *out = p;
    *len = n;
    return 0;
}

/* The entries of directory dfd (w->name, "" for the sandbox itself) and everything beneath,
 * as F and D entries in the canonical order. Only regular files and directories: anything
 * else (a symlink above all, which the host ABI cannot make) means the sandbox was changed
 * from outside, and the export is refused rather than carrying it or silently dropping it. */
static int fs_walk_dir(fs_walk *w, int dfd)
{
    int lfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!d) {
        int e = errno;
        if (lfd >= 0)
            close(lfd);
        return ec_error_set_errno(EC_EIO, e, "bundle: sandbox %s/%s: listing", w->root, w->name);
    }
    char **names = NULL;
    size_t nn = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (nn == cap) {
            cap = cap ? cap * 2 : 16;
            char **q = realloc(names, cap * sizeof *q);
            if (!q) {
                rc = ec_error_set(EC_ENOMEM, "bundle: out of memory");
                break;
            }
            names = q;
        }
        if (!(names[nn] = strdup(de->d_name))) {
            rc = ec_error_set(EC_ENOMEM, "bundle: out of memory");
            break;
        }
        nn++;
    }
    closedir(d);
    if (nn)
        qsort(names, nn, sizeof *names, cmp_cstr); /* strcmp: bytewise, unsigned */
    size_t at = w->nl;
    for (size_t k = 0; rc == 0 && k < nn; k++) {
        const char *base = names[k];
        size_t bl = strlen(base);
        w->nl = at;
        if (at + (at ? 1 : 0) + bl > FS_NAME_MAX) {
            w->name[at] = 0;
            rc = ec_error_set(EC_EDENIED,
                              "bundle: sandbox %s/%s/%s: a name longer than %u bytes; not "
                              "exported",
                              w->root, w->name, base, FS_NAME_MAX);
            break;
        }
        if (at)
            w->name[w->nl++] = '/';
        memcpy(w->name + w->nl, base, bl + 1);
        w->nl += bl;
        struct stat st;
        if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = ec_error_set_errno(EC_EIO, errno, "bundle: sandbox %s/%s", w->root, w->name);
            break;
        }
        const char *why = fs_name_problem((const uint8_t *)w->name, w->nl);
        if (why) {
            char shown[300];
            fs_show(shown, sizeof shown, (const uint8_t *)w->name, w->nl);
            rc = ec_error_set(EC_EDENIED,
                              "bundle: sandbox %s: the name '%s' breaks a rule of the "
                              "bundle format (%s); not exported",
                              w->root, shown, why);
            break;
        }
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
            rc = ec_error_set(EC_EDENIED,
                              "bundle: sandbox %s/%s is %s, not a regular file or directory: "
                              "the host ABI cannot make one, so the sandbox was changed from "
                              "outside; not exported",
                              w->root, w->name,
                              S_ISLNK(st.st_mode) ? "a symbolic link" : "a special file");
            break;
        }
        if (++w->count > FS_ENTRIES_MAX) {
            rc = ec_error_set(EC_EDENIED,
                              "bundle: sandbox %s: more than %u files and directories; not "
                              "exported",
                              w->root, FS_ENTRIES_MAX);
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            put_entry(w->b, K_DIR, w->name, "", 0);
            int cfd = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd < 0) {
                rc = ec_error_set_errno(EC_EIO, errno, "bundle: sandbox %s/%s", w->root, w->name);
                break;
            }
            rc = fs_walk_dir(w, cfd);
            close(cfd);
            continue;
        }
        uint8_t *data = NULL;
        size_t len = 0;
        if ((rc = fs_read_file(w, dfd, base, &data, &len)))
            break;
        w->total += len;
        if (w->total > FS_TOTAL_MAX)
            rc = ec_error_set(EC_EDENIED,
                              "bundle: sandbox %s: more than 1 GiB of files in all (a "
                              "bundle's limit); not exported",
                              w->root);
        else
            put_entry(w->b, K_FILE, w->name, data, len);
        free(data);
    }
    w->nl = at;
    w->name[at] = 0;
    for (size_t k = 0; k < nn; k++)
        free(names[k]);
    free(names);
    return rc;
}

/* The actor's sandbox, <data>/actors/<id>/fs (where the runtime keeps it), as entries. No
 * sandbox (an actor that never ran live here) is an empty one. */
static int fs_export(obuf *b, const char *data, const char *id)
{
    fs_walk *w = calloc(1, sizeof *w);
    if (!w)
        return ec_error_set(EC_ENOMEM, "bundle: out of memory");
    /* The id names a directory here: one that is not an id (a path) is not followed. */
    if (!ec_valid_id(id, strlen(id))) {
        free(w);
        return ec_error_set(EC_EFORMAT, "bundle: '%s' is not an actor id; no sandbox to look up",
                            id);
    }
    char root[4400];
    snprintf(root, sizeof root, "%s/actors/%s/fs", data, id);
    w->b = b;
    w->root = root;
    int rc = 0;
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT)
        rc = ec_error_set_errno(EC_EDENIED, errno,
                                "bundle: the sandbox %s is not a directory one can read "
                                "without following a link; not exported",
                                root);
    else if (fd >= 0) {
        rc = fs_walk_dir(w, fd);
        close(fd);
    }
    free(w);
    return rc;
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
    needs nd = {0};
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
    if ((rc = chain_needs(c, &nd)))
        goto done;
    /* The labels it set, as the store holds them now, and the objects they name (carried
     * when there, like every object the actor did not have). A label the chain set that is
     * missing or damaged here would be state lost on the way: refused, named. */
    uint8_t(*lab)[32] = nd.nlab ? malloc(nd.nlab * sizeof *lab) : NULL;
    if (nd.nlab && !lab) {
        rc = ec_error_set(EC_ENOMEM, "bundle: out of memory");
        goto done;
    }
    for (size_t k = 0; rc == 0 && k < nd.nlab; k++) {
        uint8_t *l;
        size_t ll;
        snprintf(path, sizeof path, "%s/store/labels/%s", data, nd.labels[k]);
        if (read_whole(path, &l, &ll) != 0) {
            rc = ec_error_set(EC_EVERIFY,
                              "bundle: the label %s the chain sets (seq %llu) is missing from "
                              "%s/store/labels (%s); not exported",
                              nd.labels[k], (unsigned long long)nd.label_seq[k], data,
                              ec_error_last() ? ec_error_last()->message : "unreadable");
            break;
        }
        int ok = ll == 64 && ec_hex_decode(lab[k], 32, (const char *)l, 64) == 0;
        free(l);
        if (!ok)
            rc = ec_error_set(EC_EVERIFY,
                              "bundle: the label %s the chain sets (seq %llu) is damaged in "
                              "%s/store/labels (not a 64-digit hex hash); not exported",
                              nd.labels[k], (unsigned long long)nd.label_seq[k], data);
        else
            rc = needs_obj(&nd, lab[k], UINT64_MAX, 0);
    }
    if (rc) {
        free(lab);
        goto done;
    }
    needs_dedup(&nd);
    for (size_t k = 0; rc == 0 && k < nd.nobj; k++) {
        const objref *r = &nd.objs[k];
        uint8_t *o, d[32];
        size_t ol;
        ec_hex_encode(hex, r->h, 32);
        snprintf(path, sizeof path, "%s/store/objects/%s", data, hex);
        if (read_whole(path, &o, &ol) != 0) {
            if (r->need)
                rc = ec_error_set(EC_EVERIFY,
                                  "bundle: the store object %s the chain refers to (seq %llu) is "
                                  "missing from %s/store/objects (%s); not exported",
                                  hex, (unsigned long long)r->seq, data,
                                  ec_error_last() ? ec_error_last()->message : "unreadable");
            else
                ec_error_clear(); /* asked for and never had: nothing lost */
            continue;
        }
        /* Its reader checks every object against its name: a damaged one is refused here. */
        if (sha256(o, ol, d) != 0 || memcmp(d, r->h, 32) != 0) {
            if (r->need)
                rc = ec_error_set(EC_EVERIFY,
                                  "bundle: the store object %s the chain refers to (seq %llu) is "
                                  "damaged in %s/store/objects (its content has another "
                                  "SHA-256); not exported",
                                  hex, (unsigned long long)r->seq, data);
        } else
            put_entry(&b, K_OBJECT, hex, o, ol);
        free(o);
    }
    for (size_t k = 0; rc == 0 && k < nd.nlab; k++)
        put_entry(&b, K_LABEL, nd.labels[k], lab[k], 32);
    free(lab);
    if (rc)
        goto done;
    if ((rc = fs_export(&b, data, id)))
        goto done;
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
        rc = ec_write_output(out_path, b.p, b.len);
done:
    needs_free(&nd);
    free(wasm);
    free(b.p);
    ec_chain_free(c);
    return rc;
}

/* ---- import ---- */

typedef struct entry {
    int kind;
    char name[80];     /* F and D: the name as shown in messages (fs_show), perhaps cut */
    const uint8_t *nm; /* the name's bytes in the file, nl of them */
    size_t nl;
    const uint8_t *data;
    size_t len;
    size_t off; /* where the entry starts in the file, for messages */
} entry;

/* Parse and check every entry's digest and the trailer's digest of the whole file. */
static int parse(const char *path, const uint8_t *p, size_t n, entry **out, size_t *nout,
                 int *version)
{
    if (n < sizeof MAGIC || memcmp(p, MAGIC, sizeof MAGIC - 1) != 0)
        return ec_error_set(EC_EFORMAT, "%s: not an evchain bundle (bad magic)", path);
    if (p[sizeof MAGIC - 1] < VERSION_MIN || p[sizeof MAGIC - 1] > VERSION_MAX)
        return ec_error_set(EC_EUNSUPPORTED,
                            "%s: bundle format version %u (this evchain reads 1 and 2)", path,
                            p[sizeof MAGIC - 1]);
    *version = p[sizeof MAGIC - 1];
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
        e.off = start;
        size_t nl = ((size_t)p[off + 1] << 8) | p[off + 2];
        off += 3;
        /* Sandbox names are long paths, checked by their own rules (load); the others are
         * short ids and hashes, NUL-free so that the C string is the whole name. */
        int fs = e.kind == K_FILE || e.kind == K_DIR;
        if ((!fs && (nl >= sizeof e.name || memchr(p + off, 0, n - off < nl ? n - off : nl))) ||
            n - off < nl + 8) {
            free(es);
            return ec_error_set(EC_EFORMAT, "%s: entry at offset %zu: bad name", path, start);
        }
        e.nm = p + off;
        e.nl = nl;
        if (fs)
            fs_show(e.name, sizeof e.name, p + off, nl);
        else {
            memcpy(e.name, p + off, nl);
            e.name[nl] = 0;
        }
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

/* One sandbox entry against the rules of docs/FORMAT.md section 8, given the F and D entries
 * before it (fsi: their indexes in es, nfs of them, in the canonical order already checked):
 * its name, its size, its place in the order, and its directory listed before it as a D.
 * Together these make the names distinct, never a file and a directory at once, and never
 * anything beneath a file, so that writing them in order cannot fail on a rule. */
static int fs_check(const char *path, const entry *es, const size_t *fsi, size_t nfs,
                    const entry *e, uint64_t *total)
{
    const char *why = fs_name_problem(e->nm, e->nl);
    char other[200] = "";
    if (!why && nfs >= FS_ENTRIES_MAX)
        why = "more than 1048576 sandbox entries";
    if (!why && e->kind == K_DIR && e->len != 0)
        why = "a directory entry with data";
    if (!why && e->kind == K_FILE && e->len > FS_FILE_MAX)
        why = "a file of more than 16777216 bytes";
    if (!why && e->kind == K_FILE && (*total += e->len) > FS_TOTAL_MAX)
        why = "the sandbox's files pass 1 GiB in all";
    if (!why && nfs) {
        const entry *prev = &es[fsi[nfs - 1]];
        int c = fs_cmp(prev->nm, prev->nl, e->nm, e->nl);
        if (c == 0)
            why = "a duplicate name";
        else if (c > 0) {
            snprintf(other, sizeof other, "out of order: after '%s'", prev->name);
            why = other;
        }
    }
    const uint8_t *sl = why ? NULL : memrchr(e->nm, '/', e->nl);
    if (sl) {
        /* Its directory: the F and D entries before it are in order, so a binary search. */
        size_t pl = (size_t)(sl - e->nm), lo = 0, hi = nfs;
        const entry *dir = NULL;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            const entry *m = &es[fsi[mid]];
            int c = fs_cmp(m->nm, m->nl, e->nm, pl);
            if (c == 0) {
                dir = m;
                break;
            }
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        char shown[80];
        fs_show(shown, sizeof shown, e->nm, pl);
        if (!dir)
            snprintf(other, sizeof other, "its directory '%s' is not listed before it", shown);
        else if (dir->kind != K_DIR)
            snprintf(other, sizeof other, "its directory '%s' is a file", shown);
        if (other[0])
            why = other;
    }
    if (why)
        return ec_error_set(EC_EFORMAT, "%s: sandbox entry '%c' '%s' at offset %zu: %s", path,
                            e->kind, e->name, e->off, why);
    return 0;
}

static int entry_by_kind_name(const void *x, const void *y)
{
    const entry *a = *(const entry *const *)x, *b = *(const entry *const *)y;
    return a->kind != b->kind ? (a->kind < b->kind ? -1 : 1) : strcmp(a->name, b->name);
}

static const entry *find_entry(const entry **sorted, size_t n, int kind, const char *name)
{
    entry key;
    key.kind = kind;
    snprintf(key.name, sizeof key.name, "%s", name);
    const entry *kp = &key;
    const entry **f = bsearch(&kp, sorted, n, sizeof *sorted, entry_by_kind_name);
    return f ? *f : NULL;
}

/* The O and L entries against the chain (docs/FORMAT.md section 8): none twice, and every
 * object the actor had (put, or got) and every label it set is there: a bundle without one
 * would bring the actor back without its state. A digest cannot tell that an entry was left
 * out (the writer's digests are recomputed by whoever leaves it out): the chain can. */
static int store_check(const char *bundle_path, ec_chain *mem, const entry *es, size_t ne)
{
    const entry **ol = malloc((ne ? ne : 1) * sizeof *ol);
    if (!ol)
        return ec_error_set(EC_ENOMEM, "%s: out of memory", bundle_path);
    size_t n = 0;
    for (size_t k = 0; k < ne; k++)
        if (es[k].kind == K_OBJECT || es[k].kind == K_LABEL)
            ol[n++] = &es[k];
    qsort(ol, n, sizeof *ol, entry_by_kind_name);
    int rc = 0;
    for (size_t k = 1; rc == 0 && k < n; k++)
        if (entry_by_kind_name(&ol[k - 1], &ol[k]) == 0) {
            const entry *a = ol[k - 1]->off < ol[k]->off ? ol[k - 1] : ol[k];
            const entry *b = a == ol[k] ? ol[k - 1] : ol[k];
            rc = ec_error_set(EC_EFORMAT, "%s: %s %s twice (entries at offsets %zu and %zu)",
                              bundle_path, a->kind == K_OBJECT ? "store object" : "label", a->name,
                              a->off, b->off);
        }
    needs nd;
    if (rc == 0 && (rc = chain_needs(mem, &nd)) == 0) {
        char hex[65];
        for (size_t k = 0; rc == 0 && k < nd.nobj; k++) {
            ec_hex_encode(hex, nd.objs[k].h, 32);
            if (nd.objs[k].need && !find_entry(ol, n, K_OBJECT, hex))
                rc = ec_error_set(EC_EVERIFY,
                                  "%s: the store object %s the chain refers to (seq %llu) is not "
                                  "in the bundle",
                                  bundle_path, hex, (unsigned long long)nd.objs[k].seq);
        }
        for (size_t k = 0; rc == 0 && k < nd.nlab; k++)
            if (!find_entry(ol, n, K_LABEL, nd.labels[k]))
                rc = ec_error_set(EC_EVERIFY,
                                  "%s: the label %s the chain sets (seq %llu) is not in the bundle",
                                  bundle_path, nd.labels[k], (unsigned long long)nd.label_seq[k]);
        needs_free(&nd);
    }
    free(ol);
    return rc;
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
    size_t *fsi = NULL, nfs = 0;
    uint64_t total = 0;
    int version = 0;
    int rc = parse(bundle_path, file, flen, &es, &ne, &version);
    if (rc)
        goto done;
    if (!(fsi = malloc((ne ? ne : 1) * sizeof *fsi))) {
        rc = ec_error_set(EC_ENOMEM, "%s: out of memory", bundle_path);
        goto done;
    }
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
        } else if ((e->kind == K_FILE || e->kind == K_DIR) && version >= 2) {
            if ((rc = fs_check(bundle_path, es, fsi, nfs, e, &total)))
                goto done;
            fsi[nfs++] = k;
        } else if (e->kind == K_FILE || e->kind == K_DIR) {
            rc = ec_error_set(EC_EFORMAT,
                              "%s: sandbox entry '%c' at offset %zu in a version 1 bundle "
                              "(they came with version 2)",
                              bundle_path, e->kind, e->off);
            goto done;
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
    {
        /* The import names the directory by the entry, the actor by its chain: every reader
         * holds them to agree. */
        char id[65];
        if (ec_links_chain_actor(mem, id) || strcmp(id, ch->name) != 0) {
            rc = ec_error_set(EC_EFORMAT, "%s: the chain entry '%s' is not that actor's chain",
                              bundle_path, ch->name);
            goto done;
        }
    }
    if ((rc = store_check(bundle_path, mem, es, ne)))
        goto done;
done:
    free(fsi);
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

/* A directory beneath the sandbox root rfd, resolved without following any symlink and
 * without leaving it (there should be none in a directory this import just made: this is
 * the guarantee that holds even if something else put one there meanwhile). */
static int fs_open_dir(int rfd, const char *rel)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, rfd, rel, &how, sizeof how);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The sandbox entries (all checked by load) into <actor_dir>/fs, a directory made here, in
 * the bundle's order, which lists every directory before what is in it. Files are created
 * (O_EXCL, O_NOFOLLOW: never through something already there) and synced, then every
 * directory that got entries. actor_dir is the import's scratch directory: on an error the
 * caller removes it whole. */
static int fs_import(const char *bundle_path, const char *actor_dir, const entry *es, size_t ne)
{
    char root[4700];
    snprintf(root, sizeof root, "%s/fs", actor_dir);
    if (mkdir(root, 0755) != 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: making the sandbox %s", bundle_path, root);
    int rfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rfd < 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: opening the sandbox %s", bundle_path, root);
    char *name = malloc(FS_NAME_MAX + 1);
    if (!name) {
        close(rfd);
        return ec_error_set(EC_ENOMEM, "%s: out of memory", bundle_path);
    }
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < ne; k++) {
        const entry *e = &es[k];
        if (e->kind != K_FILE && e->kind != K_DIR)
            continue;
        memcpy(name, e->nm, e->nl);
        name[e->nl] = 0;
        char *sl = strrchr(name, '/');
        const char *base = name;
        int dfd = rfd;
        if (sl) {
            *sl = 0;
            base = sl + 1;
            if ((dfd = fs_open_dir(rfd, name)) < 0) {
                rc = ec_error_set_errno(EC_EIO, errno, "%s: sandbox directory %s/%s", bundle_path,
                                        root, name);
                break;
            }
        }
        int err = 0;
        if (e->kind == K_DIR) {
            if (mkdirat(dfd, base, 0755) != 0)
                err = errno;
        } else {
            int fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (fd < 0)
                err = errno;
            else {
                if (write_all(fd, e->data, e->len) != 0 || fsync(fd) != 0)
                    err = errno;
                if (close(fd) != 0 && !err)
                    err = errno;
            }
        }
        if (dfd != rfd)
            close(dfd);
        if (err)
            rc = ec_error_set_errno(err == ENOSPC ? EC_ENOSPC : EC_EIO, err,
                                    "%s: writing the sandbox %s '%s' under %s", bundle_path,
                                    e->kind == K_DIR ? "directory" : "file", e->name, root);
    }
    /* Then every directory that got entries, once they are all there. In the canonical
     * order a directory has something beneath it exactly when the next F or D entry is. */
    const entry *dir = NULL;
    for (size_t k = 0; rc == 0 && k < ne; k++) {
        const entry *e = &es[k];
        if (e->kind != K_FILE && e->kind != K_DIR)
            continue;
        if (dir && e->nl > dir->nl && memcmp(e->nm, dir->nm, dir->nl) == 0 &&
            e->nm[dir->nl] == '/') {
            memcpy(name, dir->nm, dir->nl);
            name[dir->nl] = 0;
            int dfd = fs_open_dir(rfd, name);
            int err = dfd < 0 || fsync(dfd) != 0 ? errno : 0;
            if (dfd >= 0)
                close(dfd);
            if (err)
                rc = ec_error_set_errno(EC_EIO, err, "%s: syncing the sandbox directory %s/%s",
                                        bundle_path, root, dir->name);
        }
        dir = e->kind == K_DIR ? e : NULL;
    }
    free(name);
    if (rc == 0 && fsync(rfd) != 0)
        rc = ec_error_set_errno(EC_EIO, errno, "%s: syncing the sandbox %s", bundle_path, root);
    close(rfd);
    return rc;
}

int ec_bundle_check(const void *data, size_t len)
{
    if (!data && len)
        return ec_error_set(EC_EINVAL, "ec_bundle_check: data is NULL");
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

/* A bundle file read whole (*file, which the entries point into) and loaded as load() does;
 * on an error nothing is left to free. */
static int load_file(const char *bundle_path, uint8_t **file, entry **es, size_t *ne,
                     const entry **ch, const entry **mod, ec_chain **mem)
{
    size_t flen = 0;
    int rc = read_whole(bundle_path, file, &flen);
    if (rc == 0 && (rc = load(bundle_path, *file, flen, es, ne, ch, mod, mem)) != 0) {
        free(*file);
        *file = NULL;
    }
    return rc;
}

int ec_bundle_open_chain(ec_chain **out, const char *bundle_path, char *id_out, size_t id_cap)
{
    if (!out || !bundle_path)
        return ec_error_set(EC_EINVAL, "ec_bundle_open_chain: NULL argument");
    *out = NULL;
    uint8_t *file = NULL;
    entry *es = NULL;
    size_t ne = 0;
    const entry *ch = NULL, *mod = NULL;
    int rc = load_file(bundle_path, &file, &es, &ne, &ch, &mod, out);
    if (rc)
        return rc;
    if (id_out && id_cap)
        snprintf(id_out, id_cap, "%s", ch->name);
    free(es);
    free(file); /* the memory chain holds copies of the records */
    return 0;
}

/* Imports into one data directory take turns: an exclusive flock on the directory itself,
 * held from the check that the actor is not there to the rename that puts it there, so two
 * imports of one actor cannot both pass the check, and the refused one writes nothing (its
 * labels above all). A directory a refused import removed while another waited is not the
 * one its path names any more: the waiter then locks the new one. Returns the fd, or -1. */
static int lock_data_dir(const char *bundle_path, const char *data_dir)
{
    for (;;) {
        int rc = ec_mkdir_p(data_dir);
        if (rc)
            return -1;
        int fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT)
                continue;
            ec_error_set_errno(EC_EIO, errno, "%s: opening the data directory %s", bundle_path,
                               data_dir);
            return -1;
        }
        int r;
        while ((r = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
            ;
        if (r != 0) {
            ec_error_set_errno(EC_EIO, errno, "%s: locking the data directory %s", bundle_path,
                               data_dir);
            close(fd);
            return -1;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(data_dir, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            return fd;
        close(fd);
    }
}

/* A file made in the import's scratch directory (synced there) moved to dst: renamed, unless
 * dst is there already (content-addressed: the same bytes), or copied when the two are on
 * different file systems (a --cache elsewhere). */
static int move_in(const char *src, const char *dst)
{
    if (access(dst, F_OK) == 0)
        return 0;
    if (rename(src, dst) == 0)
        return 0;
    if (errno != EXDEV)
        return ec_error_set_errno(errno == ENOSPC ? EC_ENOSPC : EC_EIO, errno, "%s: moving to %s",
                                  src, dst);
    uint8_t *p;
    size_t n;
    int rc = read_whole(src, &p, &n);
    if (rc == 0) {
        rc = ec_write_file_atomic(dst, p, n);
        free(p);
    }
    return rc;
}

/* Every file of dir whose name ends in `suffix` (NULL: any) moved into dest (move_in). */
static int move_all(const char *dir, const char *suffix, const char *dest)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : ec_error_set_errno(EC_EIO, errno, "%s: listing", dir);
    int rc = 0, made = 0;
    struct dirent *de;
    char src[4900], dst[4900];
    while (rc == 0 && (de = readdir(d))) {
        size_t n = strlen(de->d_name), sl = suffix ? strlen(suffix) : 0;
        if (de->d_name[0] == '.' || n <= sl || (suffix && strcmp(de->d_name + n - sl, suffix)))
            continue;
        snprintf(src, sizeof src, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(src, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (!made && (rc = ec_mkdir_p(dest)))
            break;
        made = 1;
        snprintf(dst, sizeof dst, "%s/%s", dest, de->d_name);
        rc = move_in(src, dst);
    }
    closedir(d);
    if (rc == 0 && made) {
        int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return rc;
}

/* The compiled objects of the module (<sha>-<key>.so) the cache holds already, hard-linked
 * into the import's scratch cache so that its replay compiles nothing it need not; a link
 * that cannot be made (another file system) only costs a compilation. The cache is trusted
 * as the runtime trusts it (docs/ABI.md section 7): the import checked its directory, and
 * each object linked is checked again when the replay loads it. */
static void link_compiled(const char *cache, const char *hex, const char *scratch)
{
    DIR *d = opendir(cache);
    if (!d)
        return;
    struct dirent *de;
    char src[4800], dst[5000];
    size_t hl = strlen(hex);
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n <= hl + 4 || strncmp(de->d_name, hex, hl) != 0 || de->d_name[hl] != '-' ||
            strcmp(de->d_name + n - 3, ".so") != 0)
            continue;
        snprintf(src, sizeof src, "%s/%s", cache, de->d_name);
        snprintf(dst, sizeof dst, "%s/%s", scratch, de->d_name);
        if (link(src, dst) != 0)
            continue;
    }
    closedir(d);
}

int ec_bundle_import(const char *bundle_path, const char *data_dir, const char *cache_dir,
                     char *id_out, size_t id_cap)
{
    if (!bundle_path || !data_dir)
        return ec_error_set(EC_EINVAL, "ec_bundle_import: NULL argument");
    uint8_t *file = NULL;
    entry *es = NULL;
    size_t ne = 0;
    ec_chain *mem = NULL;
    char tmpdir[4400] = "", cache[4400], path[4600], final[4600], top[4400] = "";
    char actors[4400], actors_top[4400] = "", scache[4600], snaps[4600];
    const entry *ch = NULL, *mod = NULL;
    int lock = -1;
    int rc = load_file(bundle_path, &file, &es, &ne, &ch, &mod, &mem);
    if (rc)
        return rc;
    snprintf(final, sizeof final, "%s/actors/%s", data_dir, ch->name);
    snprintf(actors, sizeof actors, "%s/actors", data_dir);
    struct stat st;
    if (stat(final, &st) == 0) {
        rc = ec_error_set(EC_EEXISTS, "%s: actor %s already exists in %s", bundle_path, ch->name,
                          data_dir);
        goto done;
    }
    /* From here every directory made is taken back if the bundle is refused: a refused
     * bundle leaves nothing, not even the data directory it named. */
    ec_path_first_missing(data_dir, top, sizeof top);
    if ((lock = lock_data_dir(bundle_path, data_dir)) < 0) {
        rc = ec_error_last() ? ec_error_last()->code : EC_EIO;
        goto done;
    }
    if (stat(final, &st) == 0) { /* another import put it there while this one waited */
        rc = ec_error_set(EC_EEXISTS, "%s: actor %s already exists in %s", bundle_path, ch->name,
                          data_dir);
        goto done;
    }
    ec_path_first_missing(actors, actors_top, sizeof actors_top);
    snprintf(cache, sizeof cache, "%s", cache_dir ? cache_dir : data_dir);
    if (!cache_dir)
        snprintf(cache + strlen(cache), sizeof cache - strlen(cache), "/cache");
    /* A cache the runtime would refuse to load from is refused before anything is written
     * (the import's own replay compiles into a scratch cache, which would not notice). */
    if ((rc = ec_cache_dir_check(cache)))
        goto done;
    snprintf(tmpdir, sizeof tmpdir, "%s/actors/.import-XXXXXX", data_dir);
    if ((rc = ec_mkdir_p(actors)))
        goto done;
    if (!mkdtemp(tmpdir)) {
        rc = ec_error_set_errno(EC_EIO, errno, "%s: mkdtemp", tmpdir);
        tmpdir[0] = 0;
        goto done;
    }
    /* The module and a complete replay: the chain must be what this module does. The replay
     * compiles into a scratch cache (moved into the cache once accepted) and writes the
     * snapshots it takes again, which the bundle does not carry, into a scratch store. */
    snprintf(path, sizeof path, "%s/module.wasm", tmpdir);
    snprintf(scache, sizeof scache, "%s/cache", tmpdir);
    snprintf(snaps, sizeof snaps, "%s/snapshots", tmpdir);
    if ((rc = ec_write_file_atomic(path, mod->data, mod->len)) || (rc = ec_cache_dir_make(scache)))
        goto done;
    link_compiled(cache, mod->name, scache);
    {
        ec_replay_options ro = EC_REPLAY_OPTIONS_INIT;
        ro.module_path = path;
        ro.cache_dir = scache;
        ec_replay_report rep;
        rc = ec_actor_replay_keeping(mem, &ro, snaps, &rep);
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
    /* The sandbox, into the scratch directory: before the store and the cache are written, so
     * that a failure here (a full disk) leaves nothing anywhere. */
    if ((rc = fs_import(bundle_path, tmpdir, es, ne)))
        goto done;
    {
        int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0) {
            rc = ec_error_set_errno(EC_EIO, errno, "%s: syncing", tmpdir);
            if (dfd >= 0)
                close(dfd);
            goto done;
        }
        close(dfd);
    }
    snprintf(path, sizeof path, "%s/%s.wasm", cache, mod->name);
    if ((rc = ec_cache_dir_make(cache)) ||
        (access(path, F_OK) != 0 && (rc = ec_write_file_atomic(path, mod->data, mod->len))) ||
        (rc = move_all(scache, ".so", cache)))
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
        }
    }
    snprintf(path, sizeof path, "%s/store/objects", data_dir);
    if ((rc = move_all(snaps, NULL, path)))
        goto done;
    for (size_t k = 0; k < ne; k++) {
        const entry *e = &es[k];
        if (e->kind == K_LABEL) {
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
    /* The scratch cache and snapshots are emptied (moved): not part of the actor. */
    rm_rf(scache);
    rm_rf(snaps);
    if (rename(tmpdir, final) != 0) {
        rc = ec_error_set_errno(EC_EIO, errno, "%s: rename into place", final);
        goto done;
    }
    tmpdir[0] = 0;
    {
        /* The rename is the import: made durable as ec_write_file_atomic does, at best (the
         * actor is in place now; failing would report an import that happened as refused). */
        int dfd = open(actors, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    if (id_out && id_cap)
        snprintf(id_out, id_cap, "%s", ch->name);
done:
    if (tmpdir[0])
        rm_rf(tmpdir);
    if (rc) {
        ec_rmdir_up(actors, actors_top);
        ec_rmdir_up(data_dir, top);
    }
    if (lock >= 0)
        close(lock); /* the flock goes with it */
    ec_chain_free(mem);
    free(es);
    free(file);
    return rc;
}
