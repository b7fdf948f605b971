/* store/disk.c: the durable disk backend: a chain directory of append-only segment files of
 * checksummed frames, per-segment index files, crash recovery on open, one writer (flock)
 * and any number of readers, and the always / batch / none durability policies.
 * Layout: docs/FORMAT.md section 4. All file I/O goes through the vfs seam (vfs.h). */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <evchain/store.h>
#include "core/internal.h"
#include "store/disk_internal.h"
#include "store/vfs.h"

#define SCAN_CHUNK (1u << 20)
/* Iterators read this much at a time (64 KiB to 1 MiB measured the same; mapping the
 * segment instead measured no faster in CPU time: page faults cost what the copy saved). */
#define ITER_CHUNK       (256u << 10)
#define NONE_FLUSH_BYTES (1u << 20) /* `none`: write the buffer out at this size */
#define BATCH_FULL_BYTES (4u << 20) /* `batch`: stop lingering once this much is pending */
#define DEFAULT_DELAY_US 200u
/* A synced flush (batch's groups, none's syncs; always's appends after the first 8) keeps the
 * active segment zero-filled this far past its data, so that a group's sync
 * overwrites allocated blocks instead of growing the file, which costs ext4 a journal commit
 * per sync (12 KiB groups here: fdatasync 153 us appending, 89 us overwriting; see
 * docs/FORMAT.md section 4). Only small groups pay for it: zeros double the bytes written. */
#define ZERO_AHEAD (1u << 20)
#define ZERO_FIRST                                                                                 \
    (64u << 10) /* a segment's first zeros; each fill doubles, to ZERO_AHEAD, so                   \
                 * a slow chain keeps at most about its own size in zeros */
#define ZERO_GROUP         (64u << 10) /* groups up to this size extend the zero-filled space */
#define ALWAYS_ZEROS_AFTER 8           /* always: appends through a handle before zeros ahead */
#define FD_CAP             64
#define TAIL_CHECK         64 /* records whose hashes and links are rechecked on a writer's open */

/* ---- small helpers ---- */

static int err_of(int e)
{
    return e == ENOSPC || e == EDQUOT ? EC_ENOSPC : EC_EIO;
}

/* Write all n bytes at off; on failure errno tells why (a short write without error is
 * reported as ENOSPC, which is what the kernel means by it on a regular file). */
static int write_all(const ec_vfs *v, int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = v->pwrite(fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Read up to n bytes at off; returns the count read (short only at end of file), -1 on error. */
static ssize_t read_full(const ec_vfs *v, int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = v->pread(fd, p + got, n - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    uint8_t *nb = realloc(*buf, c);
    if (!nb)
        return ec_error_set(EC_ENOMEM, "disk: out of memory for a %zu-byte buffer", c);
    *buf = nb;
    *cap = c;
    return 0;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *ec_durability_name(ec_durability d)
{
    switch (d) {
    case EC_DURABLE_ALWAYS:
        return "always";
    case EC_DURABLE_BATCH:
        return "batch";
    case EC_DURABLE_NONE:
        return "none";
    }
    return NULL;
}

int ec_durability_from_name(ec_durability *out, const char *name)
{
    static const ec_durability all[] = {EC_DURABLE_ALWAYS, EC_DURABLE_BATCH, EC_DURABLE_NONE};
    for (size_t i = 0; i < 3; i++)
        if (name && strcmp(name, ec_durability_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return ec_error_set(EC_EUNSUPPORTED, "durability '%s': expected always, batch or none",
                        name ? name : "(null)");
}

/* ---- in-memory index of one segment: seq -> offset, hash prefix -> seq ---- */

/* Kept for the segment being appended to, and for a sealed segment whose index file is
 * unusable (a reader cannot rewrite it). Its size is bounded by the segment size. Appending
 * only stores the offset and hash prefix, in order; the hash table is brought up to date
 * when a lookup needs it (random inserts on every append cost 8% of the append path). */
typedef struct memidx {
    uint32_t *offs; /* frame offset of each local record */
    uint64_t *pref; /* first 8 bytes of each record's hash, big-endian */
    uint64_t n, cap;
    uint64_t *keys;       /* open addressing, linear probing: hash prefix */
    uint32_t *vals;       /* local index + 1; 0 = empty slot */
    uint64_t slots, used; /* used: records 0..used-1 are in the table */
} memidx;

static void mi_free(memidx *m)
{
    if (!m)
        return;
    free(m->offs);
    free(m->pref);
    free(m->keys);
    free(m->vals);
    free(m);
}

static memidx *mi_new(void)
{
    return calloc(1, sizeof(memidx));
}

static void mi_put(uint64_t *keys, uint32_t *vals, uint64_t slots, uint64_t key, uint32_t val)
{
    uint64_t i = key & (slots - 1);
    while (vals[i])
        i = (i + 1) & (slots - 1);
    keys[i] = key;
    vals[i] = val;
}

static int mi_add(memidx *m, uint32_t off, uint64_t prefix)
{
    if (m->n == m->cap) {
        uint64_t c = m->cap ? m->cap * 2 : 1024;
        uint32_t *o = realloc(m->offs, c * sizeof *o);
        if (o)
            m->offs = o;
        uint64_t *p = o ? realloc(m->pref, c * sizeof *p) : NULL;
        if (!p)
            return ec_error_set(EC_ENOMEM, "disk: out of memory for the segment index");
        m->pref = p;
        m->cap = c;
    }
    m->pref[m->n] = prefix;
    m->offs[m->n++] = off;
    return 0;
}

/* Bring the hash table up to date with every record added. */
static int mi_table(memidx *m)
{
    if (m->used == m->n)
        return 0;
    if (m->n * 2 > m->slots) {
        uint64_t ns = m->slots ? m->slots : 2048;
        while (m->n * 2 > ns)
            ns *= 2;
        uint64_t *k = calloc(ns, sizeof *k);
        uint32_t *v = calloc(ns, sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return ec_error_set(EC_ENOMEM, "disk: out of memory for the hash index");
        }
        free(m->keys);
        free(m->vals);
        m->keys = k;
        m->vals = v;
        m->slots = ns;
        m->used = 0;
    }
    for (; m->used < m->n; m->used++)
        mi_put(m->keys, m->vals, m->slots, m->pref[m->used], (uint32_t)(m->used + 1));
    return 0;
}

/* ---- the segment scanner (recovery, index rebuild, readers catching up, fuzzing) ---- */

enum { SCAN_CLEAN, SCAN_TORN, SCAN_DAMAGED };

typedef struct scan_src {
    /* exactly one of fd (>= 0) or mem */
    const ec_vfs *v;
    int fd;
    const uint8_t *mem;
    uint64_t size; /* bytes that exist */
    unsigned fmt;  /* directory format version: EC_FRAME_SYNCED is read from 2 on */
} scan_src;

/* A frame header's record length: without the flag in version 2, as stored in version 1 (where
 * a set flag bit is a length out of range, as it always was). */
static uint32_t frame_len(unsigned fmt, const uint8_t *h)
{
    uint32_t v = ec_get_u32(h);
    return fmt >= EC_DIR_VERSION ? v & ~EC_FRAME_SYNCED : v;
}

typedef struct scan_out {
    uint64_t count; /* intact records from the start of the scan */
    uint64_t end;   /* offset just past the last intact frame */
    int stop;       /* SCAN_CLEAN, SCAN_TORN or SCAN_DAMAGED */
    uint64_t bad_off;
    char why[160];
    /* SCAN_TORN at a zero sector (a torn group) or SCAN_DAMAGED because of one: the intact
     * frames found after the zeroed frame (after_n, the first of them seq after_seq), and
     * whether one carries EC_FRAME_SYNCED (then the zeros are damage). */
    uint64_t after_n, after_seq;
    int after_synced;
} scan_out;

static ssize_t src_read(const scan_src *s, uint8_t *buf, size_t n, uint64_t off)
{
    if (off >= s->size)
        return 0;
    if (n > s->size - off)
        n = (size_t)(s->size - off);
    if (s->mem) {
        memcpy(buf, s->mem + off, n);
        return (ssize_t)n;
    }
    return read_full(s->v, s->fd, buf, n, off);
}

/* Are bytes [a, b) all zero? (b is clipped to the file.) A file extended by a crash before
 * its data reached the disk reads as zeros: a torn write, not damage. */
static int range_zero(const scan_src *s, uint64_t a, uint64_t b, uint8_t *buf, size_t cap)
{
    if (b > s->size)
        b = s->size;
    while (a < b) {
        size_t n = (size_t)(b - a < cap ? b - a : cap);
        ssize_t r = src_read(s, buf, n, a);
        if (r <= 0)
            return 0;
        for (ssize_t i = 0; i < r; i++)
            if (buf[i])
                return 0;
        a += (uint64_t)r;
    }
    return 1;
}

/* The frame at off does not check (its header CRC, or its record CRC when the header's is
 * fine and it declares flen bytes; flen 0 when the header failed). Was it cut short by a
 * crash? A sync covers whole groups, but the pages of the group in flight reach the disk in
 * any order, and under `batch` they land in zero-filled space: so a frame of that group can
 * hold zero sectors with the group's later bytes after them. Torn when (1) a sector
 * overlapping the frame reads as zeros from the frame on (at least 32 bytes: a record ends
 * with its hash, never with zeros), the mark of a write that did not land; and (2) nothing
 * but zeros lies EC_SYNC_SPAN (or the frame's length, if longer) past it, the most a writer
 * leaves unsynced. A flipped byte has no zero sector: it stays damage. buf is scratch. */
static int torn_in_group(const scan_src *s, uint64_t off, uint64_t flen, uint8_t *buf, size_t cap)
{
    uint64_t end = off + (flen ? flen : EC_FRAME_HEADER_LEN);
    if (end > s->size)
        end = s->size;
    int mark = 0;
    for (uint64_t sec = off - off % EC_SECTOR; sec < end && !mark; sec += EC_SECTOR) {
        uint64_t a = sec < off ? off : sec, b = sec + EC_SECTOR;
        if (b > s->size)
            b = s->size;
        mark = b >= a + 32 && range_zero(s, a, b, buf, cap);
    }
    if (!mark)
        return 0;
    uint64_t reach = off + (flen > EC_SYNC_SPAN ? flen : EC_SYNC_SPAN);
    return reach >= s->size || range_zero(s, reach, s->size, buf, cap);
}

/* Smallest possible record: fixed fields, 1-byte type, data length, a 20-byte hash. */
#define REC_MIN (EC_OFF_PARENT + 4 + 1 + 4 + 20)

/* CRC32C of bytes [a, a+n) of the source, read in pieces into buf. -1: not all readable. */
static int64_t crc_range(const scan_src *s, uint64_t a, uint64_t n, uint8_t *buf, size_t cap)
{
    uint32_t crc = 0;
    while (n) {
        size_t k = (size_t)(n < cap ? n : cap);
        if (src_read(s, buf, k, a) != (ssize_t)k)
            return -1;
        crc = ec_crc32c(crc, buf, k);
        a += k;
        n -= k;
    }
    return crc;
}

/* The zero-sector mark of torn_in_group was found in the frame at off (seq next_seq; flen its
 * length when its header checked, else 0). Which intact frames lie after it, up to `to` (the
 * span a sync can leave open: beyond it only zeros remain, or it is damage anyway)? A torn
 * group's later frames, or, in a version 2 chain, a frame carrying EC_FRAME_SYNCED: written
 * after a sync that covered the zeroed frame, so the zeros are not a write that did not land.
 * Frame boundaries after a zeroed header are unknown, so a candidate is any record tag with a
 * header before it whose checksum matches, a length in range that ends by `to`, a record
 * checksum that matches, the chain's algorithm and a seq after next_seq that the bytes between
 * could hold (a copy of a frame inside some record's data would have to name such a seq too).
 * An intact frame found is skipped whole; with a matching header, the zeroed frame's own
 * bytes are skipped too. Fills o->after_*. */
static int frames_after(const scan_src *s, uint64_t off, uint64_t flen, uint64_t next_seq,
                        ec_hash_alg alg, uint64_t to, scan_out *o)
{
    enum { CH = 1u << 20, TL = EC_TAG_LEN, HL = EC_FRAME_HEADER_LEN };
    const uint64_t minframe = HL + REC_MIN + ec_hash_len(alg) - 20;
    uint8_t *buf = malloc(CH), *aux = malloc(64u << 10);
    if (!buf || !aux) {
        free(buf);
        free(aux);
        return ec_error_set(EC_ENOMEM, "out of memory checking the records after a zero sector");
    }
    if (to > s->size)
        to = s->size;
    uint64_t base = off + (flen ? flen : 1); /* the first possible start of a later frame */
    while (base + HL + REC_MIN <= to) {
        size_t n = (size_t)(to - base < CH ? to - base : CH);
        if (src_read(s, buf, n, base) != (ssize_t)n)
            break;
        uint64_t next = base + n - (HL + TL) + 1; /* the next chunk's first tag at base+n-TL+1 */
        for (size_t i = HL; i + TL <= n; i++) {
            const uint8_t *t = memchr(buf + i, EC_TAG[0], n - TL + 1 - i);
            if (!t)
                break;
            i = (size_t)(t - buf);
            if (memcmp(t, EC_TAG, TL) != 0)
                continue;
            const uint8_t *h = t - HL;
            uint64_t c = base + (i - HL);
            uint32_t raw = ec_get_u32(h), len = frame_len(s->fmt, h);
            if (ec_crc32c(0, h, 8) != ec_get_u32(h + 8) || len < REC_MIN || len > EC_FRAME_MAX ||
                c + HL + len > to)
                continue;
            uint8_t rh[EC_OFF_SEQ + 8];
            if (src_read(s, rh, sizeof rh, c + HL) != (ssize_t)sizeof rh ||
                rh[EC_OFF_ALG] != (uint8_t)alg)
                continue;
            uint64_t q = ec_get_u64(rh + EC_OFF_SEQ);
            if (q <= next_seq || q - next_seq > (c - off) / minframe)
                continue;
            int64_t crc = i + len <= n ? (int64_t)ec_crc32c(0, t, len)
                                       : crc_range(s, c + HL, len, aux, 64u << 10);
            if (crc < 0 || (uint32_t)crc != ec_get_u32(h + 4))
                continue;
            if (!o->after_n++)
                o->after_seq = q;
            if (s->fmt >= EC_DIR_VERSION && (raw & EC_FRAME_SYNCED))
                o->after_synced = 1;
            next = c + HL + len; /* skip the frame found: what its data holds is data */
            break;
        }
        base = next;
    }
    free(buf);
    free(aux);
    return 0;
}

/* A frame at off that does not check and bears the zero-sector mark of a torn group
 * (torn_in_group): torn, unless (frames_after) a record written after a sync follows it. */
static int zeros_verdict(const scan_src *s, uint64_t off, uint64_t flen, uint64_t next_seq,
                         ec_hash_alg alg, scan_out *o, const char *torn_why)
{
    int rc = frames_after(s, off, flen, next_seq, alg,
                          off + (flen > EC_SYNC_SPAN ? flen : EC_SYNC_SPAN), o);
    if (rc)
        return rc;
    if (o->after_synced) {
        o->stop = SCAN_DAMAGED;
        snprintf(o->why, sizeof o->why,
                 "a sector of zeros, with acknowledged records after it (%llu from seq %llu)",
                 (unsigned long long)o->after_n, (unsigned long long)o->after_seq);
    } else {
        o->stop = SCAN_TORN;
        snprintf(o->why, sizeof o->why, "%s", torn_why);
    }
    return 0;
}

/* Check one frame's record: tag, algorithm and seq at their fixed offsets (FORMAT.md 1).
 * NULL when fine, else why not. */
static const char *check_record(const uint8_t *rec, uint32_t len, ec_hash_alg alg, uint64_t seq,
                                char *why, size_t whylen)
{
    if (len < REC_MIN + ec_hash_len(alg) - 20 || memcmp(rec, EC_TAG, EC_TAG_LEN) != 0)
        return "frame does not hold an evchain record";
    if (rec[EC_OFF_ALG] != (uint8_t)alg) {
        snprintf(why, whylen, "record algorithm %u differs from the chain's %u", rec[EC_OFF_ALG],
                 (unsigned)alg);
        return why;
    }
    uint64_t got = ec_get_u64(rec + EC_OFF_SEQ);
    if (got != seq) {
        snprintf(why, whylen, "record holds seq %llu where seq %llu belongs",
                 (unsigned long long)got, (unsigned long long)seq);
        return why;
    }
    return NULL;
}

/* Scan frames from `start` (records numbered from first_seq + start_count) until the end or
 * the first bad frame, adding each intact one to mi (may be NULL). Never trusts a length
 * before its header checksum has matched. */
static int scan_frames(const scan_src *s, uint64_t start, uint64_t next_seq, ec_hash_alg alg,
                       memidx *mi, scan_out *o)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    uint64_t boff = 0, blen = 0; /* buf holds bytes [boff, boff+blen) */
    uint64_t off = start;
    size_t hl = ec_hash_len(alg);
    int rc = 0;
    memset(o, 0, sizeof *o);
    uint64_t want = s->size > start ? s->size - start : 0; /* small files: small buffer */
    if (grow(&buf, &cap, want < SCAN_CHUNK ? (size_t)want + 64 : SCAN_CHUNK))
        return EC_ENOMEM;
    for (;;) {
        if (off == s->size) {
            o->stop = SCAN_CLEAN;
            break;
        }
        uint64_t avail = s->size - off;
        if (off + EC_FRAME_HEADER_LEN > boff + blen) {
            ssize_t r = src_read(s, buf, cap, off);
            if (r < 0) {
                rc = ec_error_set_errno(EC_EIO, errno, "reading at byte offset %llu",
                                        (unsigned long long)off);
                break;
            }
            boff = off;
            blen = (uint64_t)r;
        }
        o->bad_off = off;
        if (avail >= EC_FRAME_HEADER_LEN && off + EC_FRAME_HEADER_LEN > boff + blen)
            avail = boff + blen - off; /* the file shrank under us: a writer recovering */
        if (avail < EC_FRAME_HEADER_LEN) {
            o->stop = SCAN_TORN;
            snprintf(o->why, sizeof o->why, "incomplete frame header (%llu bytes)",
                     (unsigned long long)avail);
            break;
        }
        const uint8_t *h = buf + (off - boff);
        uint32_t len = frame_len(s->fmt, h);
        if (ec_crc32c(0, h, 8) != ec_get_u32(h + 8)) {
            if (range_zero(s, off, s->size, buf, cap)) {
                o->stop = SCAN_TORN;
                snprintf(o->why, sizeof o->why, "zero-filled tail");
            } else if (torn_in_group(s, off, 0, buf, cap)) {
                rc = zeros_verdict(s, off, 0, next_seq, alg, o,
                                   "frame header cut by a crash (zero sector)");
            } else {
                o->stop = SCAN_DAMAGED;
                snprintf(o->why, sizeof o->why, "frame header checksum mismatch");
            }
            break;
        }
        if (len < REC_MIN || len > EC_FRAME_MAX) {
            o->stop = SCAN_DAMAGED;
            snprintf(o->why, sizeof o->why, "frame length %u out of range", len);
            break;
        }
        uint64_t flen = EC_FRAME_HEADER_LEN + (uint64_t)len;
        if (flen > avail) {
            o->stop = SCAN_TORN;
            snprintf(o->why, sizeof o->why, "frame of %llu bytes cut at %llu",
                     (unsigned long long)flen, (unsigned long long)avail);
            break;
        }
        if (off + flen > boff + blen) {
            if (grow(&buf, &cap, (size_t)flen)) {
                rc = EC_ENOMEM;
                break;
            }
            ssize_t r = src_read(s, buf, cap, off);
            if (r < 0) {
                rc = ec_error_set_errno(EC_EIO, errno, "reading at byte offset %llu",
                                        (unsigned long long)off);
                break;
            }
            boff = off;
            blen = (uint64_t)r;
            if (blen < flen) { /* the file shrank under us */
                o->stop = SCAN_TORN;
                snprintf(o->why, sizeof o->why, "file shrank while read");
                break;
            }
            h = buf;
        }
        const uint8_t *rec = h + EC_FRAME_HEADER_LEN;
        if (ec_crc32c(0, rec, len) != ec_get_u32(h + 4)) {
            if (torn_in_group(s, off, flen, buf, cap)) {
                rc = zeros_verdict(s, off, flen, next_seq, alg, o,
                                   "record cut by a crash (zero sector)");
            } else {
                o->stop = SCAN_DAMAGED;
                snprintf(o->why, sizeof o->why, "record checksum mismatch");
            }
            break;
        }
        const char *bad = check_record(rec, len, alg, next_seq, o->why, sizeof o->why);
        if (bad) {
            if (bad != o->why)
                snprintf(o->why, sizeof o->why, "%s", bad);
            o->stop = SCAN_DAMAGED;
            break;
        }
        if (off > UINT32_MAX) {
            o->stop = SCAN_DAMAGED;
            snprintf(o->why, sizeof o->why, "segment larger than 4 GiB");
            break;
        }
        if (mi && (rc = mi_add(mi, (uint32_t)off, ec_get_u64(rec + len - hl))) != 0)
            break;
        o->count++;
        next_seq++;
        off += flen;
        o->end = off;
    }
    if (o->stop == SCAN_CLEAN || !o->end)
        o->end = o->stop == SCAN_CLEAN ? off : start;
    free(buf);
    return rc;
}

static int seg_header_check(const uint8_t *h, ec_hash_alg *alg, uint64_t *first)
{
    if (memcmp(h, EC_SEG_MAGIC, 8) != 0)
        return -1;
    if (ec_crc32c(0, h, 20) != ec_get_u32(h + 20))
        return -1;
    *alg = (ec_hash_alg)ec_get_u32(h + 8);
    *first = ec_get_u64(h + 12);
    return 0;
}

int ec_disk_scan_image(const uint8_t *buf, size_t len, unsigned fmt, uint64_t *count, uint64_t *end)
{
    ec_hash_alg alg;
    uint64_t first;
    if (len < EC_SEG_HEADER_LEN || seg_header_check(buf, &alg, &first) != 0)
        return ec_error_set(EC_EFORMAT, "segment: bad header");
    if (!ec_hash_len(alg))
        return ec_error_set(EC_EFORMAT, "segment: unknown hash algorithm %u", (unsigned)alg);
    scan_src s = {NULL, -1, buf, len, fmt};
    scan_out o;
    memidx *mi = mi_new();
    if (!mi)
        return EC_ENOMEM;
    int rc = scan_frames(&s, EC_SEG_HEADER_LEN, first, alg, mi, &o);
    mi_free(mi);
    if (rc)
        return rc;
    *count = o.count;
    *end = o.end;
    if (o.stop == SCAN_DAMAGED)
        return ec_error_set(EC_EFORMAT, "segment: seq %llu at byte offset %llu: %s",
                            (unsigned long long)(first + o.count), (unsigned long long)o.bad_off,
                            o.why);
    return 0;
}

/* ---- the backend ---- */

typedef struct seg {
    uint64_t first; /* seq of its first record (also in its name and header) */
    uint64_t count; /* records */
    uint64_t len;   /* bytes of intact frames, header included; for the writer's active
                       segment also the frames still buffered in memory */
    int fd;         /* -1 until first needed */
    int idx_fd;     /* index file, once verified */
    int idx_ok;     /* index file header and body checked */
    uint64_t idx_slots;
    memidx *mi;   /* the active segment's index, or a scratch one for a sealed segment */
    int need_idx; /* writer: sealed, its index file still to be written (by the indexer) */
    /* The index file disagreed with the segment (a record at an indexed offset held another
     * seq, a hash lookup missed an event the segment holds): its checksums prove only that
     * it is the file written, not that it describes this segment, so it is not read again
     * by this handle; rebuilt from the segment (FORMAT.md section 4). */
    int idx_bad;
    int idx_rescanned; /* a hash lookup miss rescanned the segment (once per handle) */
    int damaged;       /* a scan found damage in it: a bad read is the segment's fault */
} seg;

typedef struct disk {
    ec_backend be; /* first: the backend pointer is the disk pointer */
    const ec_vfs *v;
    char *dir;
    int dirfd;
    int ro;
    ec_durability dur;
    ec_hash_alg alg;
    unsigned fmt; /* directory format version (EVCHAIN header): EC_DIR_VERSION_1 or 2 */
    uint64_t seg_bytes;
    unsigned delay_us;
    ec_verify_result *damage; /* open: where a damaged record was found (ec_backend_disk_at_) */
    /* A reader only: the last segment is damaged at seq tail_bad - 1 (0: it is not), found
     * by the open's scan. That record is counted (the last of count) and every read of
     * it raises the damage, so that the reading commands read the events before it and
     * report it as the chain's first broken event, as they do damage in a sealed segment;
     * nothing after it can be located. A writer refuses such a chain on open instead. */
    uint64_t tail_bad, tail_bad_off;
    char tail_why[160];
    ec_disk_cut *cut;   /* open: what a writer cut off (options version 3 on) */
    size_t cut_size;    /* how much of *cut the caller's options version has */
    uint64_t min_count; /* open: a writer refuses to hold fewer records (options version 4) */

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;  /* a flush finished or records were committed */
    seg *segs;
    size_t nsegs, segs_cap;
    uint64_t count; /* committed records, buffered ones included */

    /* writer */
    uint8_t *rbuf; /* frame header + the reserved record */
    size_t rcap, rlen;
    int reserved;
    uint8_t *wbuf; /* batch/none: committed frames not yet handed to the kernel */
    size_t wlen, wcap;
    uint64_t wfirst, wn, wbase; /* first seq, record count, file offset of wbuf[0] */
    uint8_t *fbuf;              /* the frames a flush is writing right now (immutable meanwhile) */
    size_t flen, fcap;
    uint64_t ffirst, fn, fbase;
    int flushing;        /* a thread owns the flush (lingering, writing or syncing) */
    int lingering;       /* the flusher waits for more commits: wake it on commit */
    uint64_t last_batch; /* records in the last flush: lingering only pays with company */
    uint64_t wend;       /* active segment: bytes handed to the kernel */
    uint64_t zend;       /* active segment: the file is zero-filled from wend up to here */
    int zero_off;        /* zero-filling failed (full disk?): not again in this segment */
    uint64_t zero_step;  /* the next fill's size (0: ZERO_FIRST) */
    uint64_t appended;   /* always: appends through this handle (zeros ahead after 8) */
    uint64_t written;    /* records below this are in the file */
    uint64_t durable;    /* records below this are synced */
    /* none: the open did not sync what it found (an earlier `none` writer may have left it in
     * the page cache), so no frame claims EC_FRAME_SYNCED until this handle has synced */
    int found_unsynced;
    int failed; /* a write or sync failed: the open chain can no longer be trusted */
    char failmsg[256];

    uint8_t *gbuf; /* get(): the returned record lives here */
    size_t gcap;
    size_t scratch_si;  /* sealed segment holding a scratch memidx (+1; 0 none) */
    size_t nfds;        /* segment and index files open (fd_trim) */
    uint64_t idx_drops; /* idx_distrust calls: a lookup walking an index file starts over */

    /* writer: the indexer thread writes sealed segments' index files, so that an append
     * that rolls does not wait for them (14 MB written and fsynced for a full 64 MiB
     * segment of small records: 10 to 40 ms measured under an HTTP load) */
    pthread_t idx_thread;
    int idx_started, idx_stop;
    size_t idx_pending;    /* segments with need_idx set */
    pthread_cond_t idx_cv; /* work for the indexer, or the indexer finished some */
    size_t fd_cursor;
} disk;

struct ec_backend_iter {
    disk *d;
    uint64_t next, end;
    uint64_t file_upto; /* records below this were in the file when the iterator began */
    size_t si;
    int fd;
    uint64_t seg_first, seg_end_seq, seg_len;
    uint64_t off;
    uint8_t *buf;
    size_t cap;
    uint64_t boff, blen;
};

/* ec_open_regular through the file I/O seam: a file the chain directory already holds,
 * refused unless a regular file (a planted FIFO would hang a reader). -1 with errno when the
 * open failed; -2 with the error raised. */
static int open_existing(const disk *d, const char *p, int flags)
{
    int fd = d->v->open(p, flags | O_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct stat st;
    if (d->v->fstat(fd, &st) != 0) {
        int e = errno;
        d->v->close(fd);
        ec_error_set_errno(EC_EIO, e, "%s: stat", p);
        return -2;
    }
    if (!S_ISREG(st.st_mode)) {
        d->v->close(fd);
        ec_error_not_regular(p, st.st_mode);
        return -2;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

static void seg_path(const disk *d, uint64_t first, const char *ext, char *out, size_t n)
{
    snprintf(out, n, "%s/seg-%016llx.%s", d->dir, (unsigned long long)first, ext);
}

static int poisoned(disk *d)
{
    return ec_error_set(d->failed, "%s", d->failmsg);
}

static void poison(disk *d, int code, const char *what)
{
    if (d->failed)
        return;
    d->failed = code;
    snprintf(d->failmsg, sizeof d->failmsg,
             "%s: %s; the open chain is unusable: reopen it to recover the durable state", d->dir,
             what);
}

/* Segment and index files are opened when first needed and kept open, but at most FD_CAP
 * of them: a chain of thousands of segments must not run out of file descriptors. The last
 * segment's file and the one in use (keep) are never closed here; iterators use their own
 * descriptors. mu held. */
static void fd_trim(disk *d, size_t keep)
{
    if (d->nfds <= FD_CAP)
        return;
    for (size_t k = 0; k + 1 < d->nsegs && d->nfds > FD_CAP / 2; k++) {
        size_t i = (d->fd_cursor + k) % (d->nsegs - 1);
        seg *s = &d->segs[i];
        if (i == keep)
            continue;
        if (s->fd >= 0) {
            d->v->close(s->fd);
            s->fd = -1;
            d->nfds--;
        }
        if (s->idx_fd >= 0) { /* still verified: reopened on demand */
            d->v->close(s->idx_fd);
            s->idx_fd = -1;
            d->nfds--;
        }
        d->fd_cursor = i + 1;
    }
}

static int seg_fd(disk *d, seg *s)
{
    if (s->fd >= 0)
        return 0;
    char p[4096];
    seg_path(d, s->first, "log", p, sizeof p);
    int fd = open_existing(d, p, d->ro ? O_RDONLY : O_RDWR);
    if (fd == -2)
        return ec_error_last()->code;
    if (fd < 0)
        return ec_error_set_errno(errno == ENOENT ? EC_ENOTFOUND : EC_EIO, errno,
                                  "%s: opening segment", p);
    s->fd = fd;
    d->nfds++;
    fd_trim(d, (size_t)(s - d->segs));
    return 0;
}

/* The verified index file of sealed segment si, reopened if fd_trim closed it. mu held. */
static int idx_fd(disk *d, size_t si)
{
    seg *s = &d->segs[si];
    if (s->idx_fd >= 0)
        return 0;
    char p[4096];
    seg_path(d, s->first, "idx", p, sizeof p);
    int fd = open_existing(d, p, O_RDONLY);
    if (fd == -2)
        return ec_error_last()->code;
    if (fd < 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: reopening index", p);
    s->idx_fd = fd;
    d->nfds++;
    fd_trim(d, si);
    return 0;
}

static int fsync_dir(disk *d)
{
    if (d->v->fsync(d->dirfd) != 0)
        return ec_error_set_errno(err_of(errno), errno, "%s: syncing the directory", d->dir);
    return 0;
}

/* Write a small file atomically: name.tmp, fsync, rename, fsync the directory. */
static int write_atomic(disk *d, const char *path, const void *data, size_t n, int dsync)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = d->v->open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return ec_error_set_errno(err_of(errno), errno, "%s: creating", tmp);
    int rc = 0;
    if (write_all(d->v, fd, data, n, 0) != 0)
        rc = ec_error_set_errno(err_of(errno), errno, "%s: writing", tmp);
    else if (d->v->fsync(fd) != 0)
        rc = ec_error_set_errno(err_of(errno), errno, "%s: syncing", tmp);
    d->v->close(fd);
    if (!rc && d->v->rename(tmp, path) != 0)
        rc = ec_error_set_errno(err_of(errno), errno, "%s: renaming into place", path);
    if (rc) {
        d->v->unlink(tmp);
        return rc;
    }
    return dsync ? fsync_dir(d) : 0;
}

static void dir_header(uint8_t *h, unsigned fmt, ec_hash_alg alg, uint64_t seg_bytes)
{
    memcpy(h, EC_DIR_MAGIC, 8);
    ec_put_u32(h + 8, fmt);
    ec_put_u32(h + 12, (uint32_t)alg);
    ec_put_u64(h + 16, seg_bytes);
    ec_put_u32(h + 24, ec_crc32c(0, h, 24));
}

static void seg_header(uint8_t *h, ec_hash_alg alg, uint64_t first)
{
    memcpy(h, EC_SEG_MAGIC, 8);
    ec_put_u32(h + 8, (uint32_t)alg);
    ec_put_u64(h + 12, first);
    ec_put_u32(h + 20, ec_crc32c(0, h, 20));
}

/* Create segment `first` (via a temporary name, so a segment file always has its header)
 * and fsync the directory: after a crash the segment is either absent or complete. */
static int seg_create(disk *d, uint64_t first, int *fd_out)
{
    char p[4096], tmp[4200];
    uint8_t h[EC_SEG_HEADER_LEN];
    seg_path(d, first, "log", p, sizeof p);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    seg_header(h, d->alg, first);
    int fd = d->v->open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return ec_error_set_errno(err_of(errno), errno, "%s: creating segment", tmp);
    int rc = 0;
    if (write_all(d->v, fd, h, sizeof h, 0) != 0)
        rc = ec_error_set_errno(err_of(errno), errno, "%s: writing segment header", tmp);
    else if (d->v->fdatasync(fd) != 0)
        rc = ec_error_set_errno(err_of(errno), errno, "%s: syncing segment header", tmp);
    else if (d->v->rename(tmp, p) != 0)
        rc = ec_error_set_errno(err_of(errno), errno, "%s: renaming into place", p);
    else
        rc = fsync_dir(d);
    if (rc) {
        d->v->close(fd);
        d->v->unlink(tmp);
        d->v->unlink(p);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

static int push_seg(disk *d, uint64_t first)
{
    if (d->nsegs == d->segs_cap) {
        size_t c = d->segs_cap ? d->segs_cap * 2 : 8;
        seg *n = realloc(d->segs, c * sizeof *n);
        if (!n)
            return ec_error_set(EC_ENOMEM, "%s: out of memory", d->dir);
        d->segs = n;
        d->segs_cap = c;
    }
    seg *s = &d->segs[d->nsegs++];
    memset(s, 0, sizeof *s);
    s->first = first;
    s->fd = s->idx_fd = -1;
    s->len = EC_SEG_HEADER_LEN;
    return 0;
}

/* ---- index files ---- */

static uint64_t pow2_slots(uint64_t count)
{
    uint64_t s = 16;
    while (s < count * 2)
        s *= 2;
    return s;
}

/* Write the index of a sealed segment from its memidx. Rebuildable, so a failure here
 * loses nothing: the caller keeps the memidx and the next open rebuilds the file. */
static int write_index(disk *d, seg *s, const memidx *m)
{
    uint64_t slots = pow2_slots(s->count);
    size_t body = (size_t)(4 * s->count + EC_IDX_SLOT_LEN * slots);
    uint8_t *f = calloc(1, EC_IDX_HEADER_LEN + body);
    if (!f)
        return ec_error_set(EC_ENOMEM, "%s: out of memory for an index", d->dir);
    uint8_t *o = f + EC_IDX_HEADER_LEN, *t = o + 4 * s->count;
    for (uint64_t i = 0; i < s->count; i++)
        ec_put_u32(o + 4 * i, m->offs[i]);
    for (uint64_t i = 0; i < s->count; i++) {
        uint64_t k = m->pref[i], j = k & (slots - 1);
        while (ec_get_u32(t + EC_IDX_SLOT_LEN * j + 8))
            j = (j + 1) & (slots - 1);
        ec_put_u64(t + EC_IDX_SLOT_LEN * j, k);
        ec_put_u32(t + EC_IDX_SLOT_LEN * j + 8, (uint32_t)(i + 1));
    }
    memcpy(f, EC_IDX_MAGIC, 8);
    ec_put_u64(f + 8, s->first);
    ec_put_u64(f + 16, s->count);
    ec_put_u64(f + 24, s->len);
    ec_put_u64(f + 32, slots);
    ec_put_u32(f + 40, ec_crc32c(0, o, body));
    ec_put_u32(f + 44, ec_crc32c(0, f, 44));
    char p[4096];
    seg_path(d, s->first, "idx", p, sizeof p);
    int rc = write_atomic(d, p, f, EC_IDX_HEADER_LEN + body, 0);
    free(f);
    return rc;
}

/* Read an index header; 0 when it describes this segment as it is on disk (first seq and
 * byte length), filling count. */
static int read_index_header(disk *d, seg *s, uint64_t file_len, uint64_t *count, uint64_t *slots)
{
    char p[4096];
    uint8_t h[EC_IDX_HEADER_LEN];
    seg_path(d, s->first, "idx", p, sizeof p);
    int fd = open_existing(d, p, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t r = read_full(d->v, fd, h, sizeof h, 0);
    d->v->close(fd);
    if (r != (ssize_t)sizeof h || memcmp(h, EC_IDX_MAGIC, 8) != 0 ||
        ec_crc32c(0, h, 44) != ec_get_u32(h + 44) || ec_get_u64(h + 8) != s->first ||
        ec_get_u64(h + 24) != file_len)
        return -1;
    *count = ec_get_u64(h + 16);
    *slots = ec_get_u64(h + 32);
    if (*slots < 16 || (*slots & (*slots - 1)) || *slots < *count * 2 || *count > file_len)
        return -1;
    return 0;
}

/* A record of this chain is damaged (its frame does not check): a finding about the chain,
 * reported by seq for ec_chain_open_path (the reading commands' exit 1), not a torn write. */
static void note_damage(disk *d, uint64_t first, uint64_t seq, uint64_t off, const char *why)
{
    if (!d->damage)
        return;
    d->damage->status = EC_VERIFY_UNREADABLE;
    d->damage->seq = seq;
    snprintf(d->damage->reason, sizeof d->damage->reason,
             "%s (seg-%016llx.log, byte offset %llu: damage, not a torn write)", why,
             (unsigned long long)first, (unsigned long long)off);
}

/* Raise the damage of record seq, wherever it was found (a scan on open, a read, a reader
 * catching up), in one form: "<dir>: event <seq>: <what> (seg-<first>.log, byte offset
 * <off>: damage, not a torn write)" (docs/FORMAT.md section 4); verification takes the part
 * after "event <seq>: " as its reason. EC_EFORMAT. */
static int damage_err(disk *d, uint64_t first, uint64_t seq, uint64_t off, const char *why)
{
    note_damage(d, first, seq, off, why);
    return ec_error_set_damage(d->dir, seq,
                               "%s (seg-%016llx.log, byte offset %llu: damage, not a torn write)",
                               why, (unsigned long long)first, (unsigned long long)off);
}

/* Events are missing from the chain directory (a segment file removed, segments that
 * overlap): a finding about the chain as damage is (the reading commands' exit 1, "event
 * <seq>: ..."), where seq is the first event that cannot be read. Returns the error. */
static int missing(disk *d, uint64_t seq, const char *fmt, ...)
{
    char m[sizeof d->damage->reason];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    if (d->damage) {
        d->damage->status = EC_VERIFY_SEQ;
        d->damage->seq = seq;
        memcpy(d->damage->reason, m, sizeof m);
    }
    return ec_error_set(EC_EFORMAT, "%s: %s", d->dir, m);
}

/* Scan a whole sealed segment into a fresh memidx. Sealed segments were synced before the
 * next one was created: any bad frame, torn-looking or not, is damage. */
static int scan_sealed(disk *d, seg *s, memidx **out, int fd, uint64_t size)
{
    char p[4096];
    seg_path(d, s->first, "log", p, sizeof p);
    memidx *m = mi_new();
    if (!m)
        return ec_error_set(EC_ENOMEM, "%s: out of memory", p);
    scan_src src = {d->v, fd, NULL, size, d->fmt};
    scan_out o;
    int rc = scan_frames(&src, EC_SEG_HEADER_LEN, s->first, d->alg, m, &o);
    if (!rc && o.stop != SCAN_CLEAN)
        rc = damage_err(d, s->first, s->first + o.count, o.bad_off, o.why);
    if (rc) {
        mi_free(m);
        return rc;
    }
    s->count = o.count;
    s->len = o.end;
    *out = m;
    return 0;
}

/* Make a sealed segment's index usable: the verified file, or a rebuilt one (writer), or a
 * scratch memidx (reader; one at a time so memory stays bounded). mu held. */
static int idx_ready(disk *d, size_t si)
{
    seg *s = &d->segs[si];
    if (s->mi)
        return 0;
    if (s->idx_ok)
        return idx_fd(d, si);
    char p[4096];
    seg_path(d, s->first, "idx", p, sizeof p);
    uint64_t cnt, slots;
    if (!s->idx_bad && read_index_header(d, s, s->len, &cnt, &slots) == 0 && cnt == s->count) {
        int fd = open_existing(d, p, O_RDONLY);
        if (fd >= 0) {
            size_t body = (size_t)(4 * cnt + EC_IDX_SLOT_LEN * slots);
            uint8_t *b = NULL;
            size_t cap = 0;
            uint32_t crc = 0;
            uint8_t h[EC_IDX_HEADER_LEN];
            int ok = read_full(d->v, fd, h, sizeof h, 0) == (ssize_t)sizeof h &&
                     grow(&b, &cap, SCAN_CHUNK) == 0;
            for (size_t done = 0; ok && done < body;) {
                size_t n = body - done < cap ? body - done : cap;
                ok = read_full(d->v, fd, b, n, EC_IDX_HEADER_LEN + done) == (ssize_t)n;
                crc = ok ? ec_crc32c(crc, b, n) : crc;
                done += n;
            }
            free(b);
            if (ok && crc == ec_get_u32(h + 40)) {
                s->idx_fd = fd;
                s->idx_ok = 1;
                s->idx_slots = slots;
                d->nfds++;
                fd_trim(d, si);
                return 0;
            }
            d->v->close(fd);
        }
    }
    /* missing, stale or damaged: rebuild from the segment itself */
    int rc = seg_fd(d, s);
    if (rc)
        return rc;
    memidx *m;
    if ((rc = scan_sealed(d, s, &m, s->fd, s->len)) != 0)
        return rc;
    if (!d->ro && write_index(d, s, m) == 0) {
        mi_free(m);
        s->idx_bad = 0; /* the file is now the segment's own */
        return idx_ready(d, si);
    }
    if (d->scratch_si && d->scratch_si - 1 != si && d->scratch_si - 1 < d->nsegs - 1) {
        mi_free(d->segs[d->scratch_si - 1].mi);
        d->segs[d->scratch_si - 1].mi = NULL;
    }
    s->mi = m;
    d->scratch_si = si + 1;
    return 0;
}

/* Stop trusting sealed segment si's index file: the next idx_ready rebuilds it from the
 * segment. 0 when there was a file index to drop (worth retrying what used it). mu held. */
static int idx_drop(disk *d, size_t si)
{
    seg *s = &d->segs[si];
    if (si + 1 >= d->nsegs || s->mi || !s->idx_ok)
        return -1; /* the offsets came from a scan of the segment itself */
    if (s->idx_fd >= 0) {
        d->v->close(s->idx_fd);
        s->idx_fd = -1;
        d->nfds--;
    }
    s->idx_ok = 0;
    s->idx_bad = 1;
    d->idx_drops++;
    ec_error_clear();
    return 0;
}

/* A record read at the offset sealed segment si's index file gave does not check: whose
 * fault? A scan of the segment decides: clean, the index pointed elsewhere (dropped: 0, read
 * again); damaged, the damage is real and the index stays (1: the scan replaced the read's
 * error; -1: no scan, nothing to retry). mu held. */
static int idx_distrust(disk *d, size_t si)
{
    seg *s = &d->segs[si];
    if (si + 1 >= d->nsegs || s->mi || !s->idx_ok || s->damaged)
        return -1;
    memidx *m;
    if (seg_fd(d, s) != 0 || scan_sealed(d, s, &m, s->fd, s->len) != 0) {
        s->damaged = 1;
        return 1;
    }
    mi_free(m);
    return idx_drop(d, si);
}

/* Frame offset of local record i of segment si. mu held. */
static int rec_offset(disk *d, size_t si, uint64_t i, uint64_t *off)
{
    int rc = idx_ready(d, si);
    if (rc)
        return rc;
    seg *s = &d->segs[si];
    if (s->mi) {
        *off = s->mi->offs[i];
        return 0;
    }
    uint8_t b[4];
    if (read_full(d->v, s->idx_fd, b, 4, EC_IDX_HEADER_LEN + 4 * i) != 4)
        return ec_error_set_errno(EC_EIO, errno, "%s: reading index of segment %016llx", d->dir,
                                  (unsigned long long)s->first);
    *off = ec_get_u32(b);
    return 0;
}

static size_t seg_of(const disk *d, uint64_t seq)
{
    size_t lo = 0, hi = d->nsegs;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (d->segs[mid].first <= seq)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Validate a frame held at f (file offset off) for record seq; the record is f+12. */
static int frame_check(disk *d, const seg *s, const uint8_t *f, size_t avail, uint64_t off,
                       uint64_t seq)
{
    char why[160];
    const char *bad = NULL;
    uint32_t len = avail >= EC_FRAME_HEADER_LEN ? frame_len(d->fmt, f) : 0;
    if (avail < EC_FRAME_HEADER_LEN)
        bad = "frame cut short";
    else if (ec_crc32c(0, f, 8) != ec_get_u32(f + 8))
        bad = "frame header checksum mismatch";
    else if (len < REC_MIN || len > EC_FRAME_MAX || EC_FRAME_HEADER_LEN + (size_t)len > avail)
        bad = "frame length out of range";
    else if (ec_crc32c(0, f + EC_FRAME_HEADER_LEN, len) != ec_get_u32(f + 4))
        bad = "record checksum mismatch";
    else
        bad = check_record(f + EC_FRAME_HEADER_LEN, len, d->alg, seq, why, sizeof why);
    if (!bad)
        return 0;
    return damage_err(d, s->first, seq, off, bad);
}

/* Copy record seq into *buf (grown as needed). mu held. */
static int read_record_once(disk *d, uint64_t seq, uint8_t **buf, size_t *cap, const uint8_t **rec,
                            size_t *len)
{
    if (seq >= d->count)
        return ec_error_set(EC_ENOTFOUND, "%s: no event %llu (chain has %llu)", d->dir,
                            (unsigned long long)seq, (unsigned long long)d->count);
    if (d->tail_bad && seq + 1 >= d->tail_bad) /* (the last segment has no offset for it) */
        return damage_err(d, d->segs[d->nsegs - 1].first, d->tail_bad - 1, d->tail_bad_off,
                          d->tail_why);
    size_t si = seg_of(d, seq);
    seg *s = &d->segs[si];
    uint64_t off;
    int rc = rec_offset(d, si, seq - s->first, &off);
    if (rc)
        return rc;
    s = &d->segs[si];
    const uint8_t *mem = NULL;
    uint64_t memlen = 0;
    if (seq >= d->written) { /* still in a write buffer */
        if (d->fn && seq >= d->ffirst && seq < d->ffirst + d->fn) {
            mem = d->fbuf + (off - d->fbase);
            memlen = d->fbase + d->flen - off;
        } else {
            mem = d->wbuf + (off - d->wbase);
            memlen = d->wbase + d->wlen - off;
        }
        /* Buffered frames get their checksums when flushed (the flusher may be filling them
         * in right now): read only the length, set at commit (its flag, under mu), and the
         * record. */
        uint32_t l = ec_get_u32(mem) & ~EC_FRAME_SYNCED;
        if (memlen < EC_FRAME_HEADER_LEN + (uint64_t)l)
            return ec_error_set(EC_ERROR, "%s: seq %llu: write buffer inconsistent", d->dir,
                                (unsigned long long)seq);
        if ((rc = grow(buf, cap, l)) != 0)
            return rc;
        memcpy(*buf, mem + EC_FRAME_HEADER_LEN, l);
        *rec = *buf;
        *len = l;
        return 0;
    }
    if ((rc = seg_fd(d, s)) != 0)
        return rc;
    uint8_t h[EC_FRAME_HEADER_LEN];
    ssize_t r = read_full(d->v, s->fd, h, sizeof h, off);
    if (r < 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: reading seq %llu", d->dir,
                                  (unsigned long long)seq);
    if (r < (ssize_t)sizeof h || ec_crc32c(0, h, 8) != ec_get_u32(h + 8))
        return frame_check(d, s, h, (size_t)r, off, seq); /* names what is wrong */
    uint32_t l = frame_len(d->fmt, h);
    if (l < REC_MIN || l > EC_FRAME_MAX)
        return frame_check(d, s, h, sizeof h, off, seq);
    if ((rc = grow(buf, cap, (size_t)l + EC_FRAME_HEADER_LEN)) != 0)
        return rc;
    r = read_full(d->v, s->fd, *buf, (size_t)l + EC_FRAME_HEADER_LEN, off);
    if (r < 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: reading seq %llu", d->dir,
                                  (unsigned long long)seq);
    if ((rc = frame_check(d, s, *buf, (size_t)r, off, seq)) != 0)
        return rc;
    *rec = *buf + EC_FRAME_HEADER_LEN;
    *len = l;
    return 0;
}

/* read_record_once, but a record that does not check at the offset an index file gave is
 * first taken as the index's fault: the index is rebuilt from the segment and the read
 * retried, so that only the segment itself can make a record damaged. mu held. */
static int read_record(disk *d, uint64_t seq, uint8_t **buf, size_t *cap, const uint8_t **rec,
                       size_t *len)
{
    int rc = read_record_once(d, seq, buf, cap, rec, len);
    if (rc == EC_EFORMAT && seq < d->written && idx_distrust(d, seg_of(d, seq)) >= 0)
        rc = read_record_once(d, seq, buf, cap, rec, len); /* (1: for its own message) */
    return rc;
}

/* ---- reading side of the interface ---- */

static int d_get_alg(ec_backend *b, ec_hash_alg *out)
{
    *out = ((disk *)b)->alg;
    return 0;
}

static int refresh(disk *d);

static int d_count(ec_backend *b, uint64_t *out)
{
    disk *d = (disk *)b;
    pthread_mutex_lock(&d->mu);
    int rc = d->ro ? refresh(d) : 0;
    *out = d->count;
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int d_get(ec_backend *b, uint64_t seq, const uint8_t **rec, size_t *len)
{
    disk *d = (disk *)b;
    pthread_mutex_lock(&d->mu);
    int rc = read_record(d, seq, &d->gbuf, &d->gcap, rec, len);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* A hash lookup missed: before "no event" is said, each sealed segment whose index file
 * answered is scanned (once per handle) for a record with this hash prefix; an index that
 * missed one is dropped (1: look up again). 0: the segments agree with their indexes. mu
 * held. */
static int miss_rescan(disk *d, uint64_t key)
{
    for (size_t si = 0; si + 1 < d->nsegs; si++) {
        seg *s = &d->segs[si];
        if (s->mi || !s->idx_ok || s->idx_rescanned)
            continue;
        s->idx_rescanned = 1;
        int rc = seg_fd(d, s);
        memidx *m;
        if (rc || (rc = scan_sealed(d, s, &m, s->fd, s->len)) != 0)
            return rc;
        int hit = 0;
        for (uint64_t i = 0; i < m->n && !hit; i++)
            hit = m->pref[i] == key;
        mi_free(m);
        if (hit && idx_drop(d, si) == 0)
            return 1;
    }
    return 0;
}

static int d_find_hash(ec_backend *b, const uint8_t *hash, size_t hash_len, uint64_t *out)
{
    disk *d = (disk *)b;
    size_t hl = ec_hash_len(d->alg);
    if (hash_len != hl)
        return ec_error_set(EC_ENOTFOUND, "%s: no event with a %zu-byte hash", d->dir, hash_len);
    uint64_t key = ec_get_u64(hash);
    uint8_t *scratch = NULL;
    size_t scap = 0;
    int rc = EC_ENOTFOUND, restarts = 0;
    pthread_mutex_lock(&d->mu);
again:
    /* newest first: recent events are the ones looked up most */
    for (size_t si = d->nsegs; si-- > 0 && rc == EC_ENOTFOUND;) {
        int e = idx_ready(d, si);
        if (e) {
            rc = e;
            break;
        }
        seg *s = &d->segs[si];
        if (s->mi && (e = mi_table(s->mi)) != 0) {
            rc = e;
            break;
        }
        uint64_t slots = s->mi ? s->mi->slots : s->idx_slots;
        if (!slots)
            continue;
        uint8_t blk[EC_IDX_SLOT_LEN * 64];
        uint64_t j = key & (slots - 1), bstart = 0, bn = 0;
        for (uint64_t probes = 0; probes < slots; probes++, j = (j + 1) & (slots - 1)) {
            uint64_t k;
            uint32_t v;
            if (s->mi) {
                k = s->mi->keys[j];
                v = s->mi->vals[j];
            } else {
                if (j < bstart || j >= bstart + bn) {
                    bstart = j;
                    bn = slots - j < 64 ? slots - j : 64;
                    uint64_t at = EC_IDX_HEADER_LEN + 4 * s->count + EC_IDX_SLOT_LEN * j;
                    size_t want = (size_t)(EC_IDX_SLOT_LEN * bn);
                    if (read_full(d->v, s->idx_fd, blk, want, at) != (ssize_t)want) {
                        rc = ec_error_set_errno(EC_EIO, errno, "%s: reading a hash index", d->dir);
                        break;
                    }
                }
                k = ec_get_u64(blk + EC_IDX_SLOT_LEN * (j - bstart));
                v = ec_get_u32(blk + EC_IDX_SLOT_LEN * (j - bstart) + 8);
            }
            if (!v)
                break;
            if (k != key || v > s->count)
                continue;
            const uint8_t *rec;
            size_t len;
            uint64_t seq = s->first + v - 1;
            uint64_t drops = d->idx_drops;
            e = read_record(d, seq, &scratch, &scap, &rec, &len);
            if (d->idx_drops != drops) { /* the table being walked was dropped */
                rc = e ? e : EC_ENOTFOUND;
                if (!e && ++restarts < 8) /* (bounded: each drop rebuilds from the segment) */
                    goto again;
                break;
            }
            if (e) {
                rc = e;
                break;
            }
            if (len >= hl && memcmp(rec + len - hl, hash, hl) == 0) {
                *out = seq;
                rc = 0;
                break;
            }
            s = &d->segs[si];
        }
    }
    if (rc == EC_ENOTFOUND) {
        int r = miss_rescan(d, key);
        if (r == 1)
            goto again;
        if (r < 0)
            rc = r;
    }
    pthread_mutex_unlock(&d->mu);
    free(scratch);
    if (rc == EC_ENOTFOUND)
        return ec_error_set(EC_ENOTFOUND, "%s: no event with that hash", d->dir);
    return rc;
}

static int d_iter_new(ec_backend *b, uint64_t from, ec_backend_iter **out)
{
    disk *d = (disk *)b;
    ec_backend_iter *it = calloc(1, sizeof *it);
    if (!it)
        return ec_error_set(EC_ENOMEM, "%s: out of memory", d->dir);
    it->d = d;
    it->fd = -1;
    pthread_mutex_lock(&d->mu);
    it->next = from;
    it->end = d->count;
    it->file_upto = d->written;
    it->si = (size_t)-1;
    pthread_mutex_unlock(&d->mu);
    *out = it;
    return 0;
}

/* Position the iterator on the segment holding it->next. */
static int iter_seek(ec_backend_iter *it)
{
    disk *d = it->d;
    pthread_mutex_lock(&d->mu);
    size_t si = seg_of(d, it->next);
    seg *s = &d->segs[si];
    uint64_t off;
    /* The offset must be checked before the iterator walks on from it: read_record reads the
     * record there, and rebuilds an index that points elsewhere (a seek is per segment). */
    const uint8_t *r0;
    size_t l0;
    int rc = read_record(d, it->next, &it->buf, &it->cap, &r0, &l0);
    it->boff = it->blen = 0; /* (it->buf was used for it) */
    if (!rc)
        rc = rec_offset(d, si, it->next - d->segs[si].first, &off);
    int fd = -1;
    if (!rc) {
        char p[4096];
        s = &d->segs[si];
        seg_path(d, s->first, "log", p, sizeof p);
        if ((fd = open_existing(d, p, O_RDONLY)) == -2)
            rc = ec_error_last()->code;
        else if (fd < 0)
            rc = ec_error_set_errno(EC_EIO, errno, "%s: opening segment", p);
    }
    if (!rc) {
        if (it->fd >= 0)
            d->v->close(it->fd);
        it->si = si;
        it->fd = fd;
        it->seg_first = s->first;
        it->seg_end_seq = s->first + s->count;
        it->seg_len = si + 1 == d->nsegs && !d->ro ? d->wend : s->len;
        it->off = off;
        it->boff = it->blen = 0; /* the buffer held the previous segment */
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int d_iter_next(ec_backend_iter *it, const uint8_t **rec, size_t *len)
{
    disk *d = it->d;
    if (it->next >= it->end)
        return EC_ITEROVER;
    if (it->next >= it->file_upto) { /* buffered by a batch/none writer: copy it out */
        it->boff = it->blen = 0;     /* (it->buf may move: the window is gone) */
        pthread_mutex_lock(&d->mu);
        int rc = read_record(d, it->next, &it->buf, &it->cap, rec, len);
        pthread_mutex_unlock(&d->mu);
        if (!rc)
            it->next++;
        return rc;
    }
    int rc;
    if (it->si == (size_t)-1 || it->next >= it->seg_end_seq)
        if ((rc = iter_seek(it)) != 0)
            return rc;
    seg sv = {.first = it->seg_first};
    /* (a second pass when the first read showed a frame larger than one read) */
    for (int pass = 0; pass < 2 && (it->off + EC_FRAME_HEADER_LEN > it->boff + it->blen ||
                                    it->off + EC_FRAME_HEADER_LEN +
                                            frame_len(d->fmt, it->buf + (it->off - it->boff)) >
                                        it->boff + it->blen);
         pass++) {
        size_t want = ITER_CHUNK;
        if (it->off + EC_FRAME_HEADER_LEN <= it->boff + it->blen) {
            uint32_t l = frame_len(d->fmt, it->buf + (it->off - it->boff));
            if (l <= EC_FRAME_MAX && (size_t)l + EC_FRAME_HEADER_LEN > want)
                want = (size_t)l + EC_FRAME_HEADER_LEN;
        }
        if (want > it->seg_len - it->off)
            want = (size_t)(it->seg_len - it->off);
        if ((rc = grow(&it->buf, &it->cap, want > 4096 ? want : 4096)) != 0)
            return rc;
        ssize_t r = read_full(d->v, it->fd, it->buf, want, it->off);
        if (r < 0)
            return ec_error_set_errno(EC_EIO, errno, "%s: reading seq %llu", d->dir,
                                      (unsigned long long)it->next);
        it->boff = it->off;
        it->blen = (uint64_t)r;
    }
    const uint8_t *f = it->buf + (it->off - it->boff);
    if ((rc = frame_check(d, &sv, f, (size_t)(it->boff + it->blen - it->off), it->off, it->next)) !=
        0)
        return rc;
    uint32_t l = frame_len(d->fmt, f);
    *rec = f + EC_FRAME_HEADER_LEN;
    *len = l;
    it->off += EC_FRAME_HEADER_LEN + (uint64_t)l;
    it->next++;
    return 0;
}

static void d_iter_free(ec_backend_iter *it)
{
    if (!it)
        return;
    if (it->fd >= 0)
        it->d->v->close(it->fd);
    free(it->buf);
    free(it);
}

/* A reader's open met damage in the last segment (after its intact frames, o from their
 * scan): count the damaged record, as the last one, so reads stop there with it. */
static void tail_damaged(disk *d, const scan_out *o)
{
    d->tail_bad = d->count + 1;
    d->tail_bad_off = o->bad_off;
    snprintf(d->tail_why, sizeof d->tail_why, "%s", o->why);
    d->count++;
}

/* A reader catches up with the writer: new frames at the end of the last segment and new
 * segments. An incomplete last frame is the writer at work: left for the next call. */
static int refresh(disk *d)
{
    for (;;) {
        seg *s = &d->segs[d->nsegs - 1];
        int rc = seg_fd(d, s);
        if (rc)
            return rc;
        if (!s->mi && !(s->mi = mi_new()))
            return ec_error_set(EC_ENOMEM, "%s: out of memory", d->dir);
        struct stat st, now;
        if (d->v->fstat(s->fd, &st) != 0)
            return ec_error_set_errno(EC_EIO, errno, "%s: stat of the last segment", d->dir);
        /* A writer only ever adds frames: a segment shorter than what was read, or one whose
         * name now holds another file (the directory deleted and created again, a restore),
         * is a chain rewritten under the reader; waiting on the old file would wait forever
         * and reading on would misread. */
        char sp[4096];
        seg_path(d, s->first, "log", sp, sizeof sp);
        if ((uint64_t)st.st_size < s->len)
            return ec_error_set(EC_EVERIFY,
                                "%s: the chain was rewritten or truncated at "
                                "seg-%016llx.log: %llu bytes were read, it has %llu now",
                                d->dir, (unsigned long long)s->first, (unsigned long long)s->len,
                                (unsigned long long)st.st_size);
        int gone = stat(sp, &now) != 0;
        if (gone || now.st_ino != st.st_ino || now.st_dev != st.st_dev)
            return ec_error_set(EC_EVERIFY,
                                "%s: the chain was rewritten or truncated at "
                                "seg-%016llx.log (seq %llu on): the file was %s",
                                d->dir, (unsigned long long)s->first, (unsigned long long)s->first,
                                gone ? "removed" : "replaced");
        if (d->tail_bad)
            return 0; /* nothing after the damage can be located: no new events */
        if ((uint64_t)st.st_size > s->len) {
            scan_src src = {d->v, s->fd, NULL, (uint64_t)st.st_size, d->fmt};
            scan_out o;
            if ((rc = scan_frames(&src, s->len, s->first + s->count, d->alg, s->mi, &o)) != 0)
                return rc;
            s->count += o.count;
            d->count += o.count;
            if (o.count)
                s->len = o.end;
            d->written = d->durable = d->count;
            /* (damage met here is this call's error, not tail_bad: a follower has the events
             * before it already, and says where the chain broke under it) */
            if (o.stop == SCAN_DAMAGED)
                return damage_err(d, s->first, d->count, o.bad_off, o.why);
            if (o.stop == SCAN_TORN)
                return 0;
        }
        /* the writer rolls only after finishing this segment: is there a next one? */
        char p[4096];
        seg_path(d, d->count, "log", p, sizeof p);
        if (s->count == 0 || access(p, F_OK) != 0)
            return 0;
        /* re-stat: frames written between our stat and the roll must be read first */
        if (d->v->fstat(s->fd, &st) != 0)
            return ec_error_set_errno(EC_EIO, errno, "%s: stat of a segment", d->dir);
        if ((uint64_t)st.st_size > s->len)
            continue;
        mi_free(s->mi); /* sealed now: its index file (or a scratch rebuild) serves it */
        s->mi = NULL;
        if ((rc = push_seg(d, d->count)) != 0)
            return rc;
    }
}

/* ---- writing side ---- */

static int d_set_alg(ec_backend *b, ec_hash_alg alg)
{
    disk *d = (disk *)b;
    if (!ec_hash_len(alg))
        return ec_error_set(EC_EUNSUPPORTED, "%s: unknown hash algorithm %d", d->dir, (int)alg);
    if (alg == d->alg)
        return 0;
    if (d->ro || d->count)
        return ec_error_set(EC_EINVAL, "%s: the chain already uses %s", d->dir,
                            ec_hash_name(d->alg));
    pthread_mutex_lock(&d->mu);
    uint8_t h[EC_DIR_HEADER_LEN], sh[EC_SEG_HEADER_LEN];
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", d->dir, EC_DIR_HEADER_NAME);
    dir_header(h, d->fmt, alg, d->seg_bytes);
    seg_header(sh, alg, 0);
    int rc = write_atomic(d, p, h, sizeof h, 1);
    if (!rc && (rc = seg_fd(d, &d->segs[0])) == 0) {
        if (write_all(d->v, d->segs[0].fd, sh, sizeof sh, 0) != 0 ||
            d->v->fdatasync(d->segs[0].fd) != 0)
            rc = ec_error_set_errno(err_of(errno), errno, "%s: rewriting segment header", d->dir);
    }
    if (!rc)
        d->alg = alg;
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int d_reserve(ec_backend *b, size_t len, uint8_t **out)
{
    disk *d = (disk *)b;
    if (d->ro)
        return ec_error_set(EC_EINVAL, "%s: opened read-only", d->dir);
    if (len < REC_MIN || len > EC_FRAME_MAX)
        return ec_error_set(EC_EINVAL, "%s: a record of %zu bytes cannot be stored", d->dir, len);
    int rc = grow(&d->rbuf, &d->rcap, len + EC_FRAME_HEADER_LEN);
    if (rc)
        return rc;
    d->rlen = len;
    d->reserved = 1;
    *out = d->rbuf + EC_FRAME_HEADER_LEN;
    return 0;
}

/* Fill in a frame's checksums: of the record, then of the header's first 8 bytes (the length
 * with its flag, if set). */
static void frame_seal(uint8_t *f)
{
    uint32_t len = ec_get_u32(f) & ~EC_FRAME_SYNCED;
    ec_put_u32(f + 4, ec_crc32c(0, f + EC_FRAME_HEADER_LEN, len));
    ec_put_u32(f + 8, ec_crc32c(0, f, 8));
}

/* Zero-fill the active segment from `from` to `step` bytes past it (rounded to 64 KiB), in
 * the write of a group that its sync covers. Returns the new end of the zeros, UINT64_MAX
 * when they could not be written (the file is cut back to `from`: the group's data is
 * unharmed, and the append goes on without zeros ahead). */
static uint64_t zero_fill(disk *d, int fd, uint64_t from, uint64_t step)
{
    static const uint8_t zeros[64u << 10];
    uint64_t to = (from + step + sizeof zeros - 1) / sizeof zeros * sizeof zeros;
    for (uint64_t at = from; at < to;) {
        size_t n = (size_t)(to - at < sizeof zeros ? to - at : sizeof zeros);
        if (write_all(d->v, fd, zeros, n, at) != 0) {
            (void)d->v->ftruncate(fd, (off_t)from);
            ec_error_clear();
            return UINT64_MAX;
        }
        at += n;
    }
    return to;
}

/* Whether a synced write ending at `end` should also carry zeros past it, *step of them (FORMAT.md
 * section 4). mu held. */
static int zeros_due(const disk *d, uint64_t end, uint64_t *step)
{
    *step = d->zero_step ? d->zero_step : ZERO_FIRST;
    return !d->zero_off && end > d->zend && end + *step <= d->seg_bytes;
}

/* After a synced write that carried zeros: zend is zero_fill's answer. mu held. */
static void zeros_done(disk *d, uint64_t zend, uint64_t step)
{
    if (zend == UINT64_MAX) { /* not written (a full disk?): not again in this segment */
        d->zero_off = 1;
        d->zend = 0;
        return;
    }
    d->zend = zend;
    d->zero_step = step * 2 < ZERO_AHEAD ? step * 2 : ZERO_AHEAD;
}

/* Hand the pending buffer to the kernel (and sync it when asked). Called with mu held and
 * d->flushing claimed by the caller; drops mu while writing so commits continue into the
 * other buffer. */
static int flush_claimed(disk *d, int sync)
{
    uint8_t *tb = d->fbuf;
    size_t tc = d->fcap;
    d->fbuf = d->wbuf;
    d->fcap = d->wcap;
    d->flen = d->wlen;
    d->ffirst = d->wfirst;
    d->fn = d->wn;
    d->fbase = d->wbase;
    d->wbuf = tb;
    d->wcap = tc;
    d->wlen = 0;
    d->wn = 0;
    d->wfirst = d->count;
    d->wbase = d->fbase + d->flen;
    seg *a = &d->segs[d->nsegs - 1];
    int fd = a->fd;
    uint64_t off = d->fbase;
    int rc = 0, e = 0;
    const char *what = NULL;
    uint64_t zend = 0, step = 0;
    int zero = sync && d->flen && d->flen <= ZERO_GROUP && zeros_due(d, off + d->flen, &step);
    /* The group's first frame says whether all before it is synced (EC_FRAME_SYNCED), as does
     * the first of each later span (the span before it was synced). Set under mu: a reader of
     * the buffer reads the length under it. */
    int flags = d->fmt >= EC_DIR_VERSION;
    if (flags && d->flen && d->durable == d->ffirst && !d->found_unsynced)
        ec_put_u32(d->fbuf, ec_get_u32(d->fbuf) | EC_FRAME_SYNCED);
    pthread_mutex_unlock(&d->mu);
    /* Frames are sealed here, off the appenders' path, and synced in spans of at most
     * EC_SYNC_SPAN bytes (a larger frame alone), so that a crash leaves at most one span
     * unsynced: what recovery relies on to tell a torn group from damage. */
    size_t at = 0;
    do {
        size_t span = 0;
        if (at && sync && flags) {
            pthread_mutex_lock(&d->mu);
            ec_put_u32(d->fbuf + at, ec_get_u32(d->fbuf + at) | EC_FRAME_SYNCED);
            pthread_mutex_unlock(&d->mu);
        }
        while (at + span < d->flen) {
            size_t fl = EC_FRAME_HEADER_LEN + (ec_get_u32(d->fbuf + at + span) & ~EC_FRAME_SYNCED);
            if (span && span + fl > EC_SYNC_SPAN)
                break;
            frame_seal(d->fbuf + at + span);
            span += fl;
        }
        if (span && write_all(d->v, fd, d->fbuf + at, span, off + at) != 0) {
            e = errno;
            what = "writing";
            break;
        }
        at += span;
        if (zero && at == d->flen)
            zend = zero_fill(d, fd, off + at, step);
        if (sync && d->v->fdatasync(fd) != 0) {
            e = errno;
            what = "syncing";
        }
    } while (!what && at < d->flen);
    pthread_mutex_lock(&d->mu);
    if (what)
        d->zend = 0; /* cut below, with the group */
    else if (zero)
        zeros_done(d, zend, step);
    if (what) {
        char m[160];
        rc = err_of(e);
        /* cut what part reached the file; if even that fails, reopening keeps the intact
         * frames and cuts the torn one: none of this group was acknowledged, so either is
         * allowed */
        (void)d->v->ftruncate(fd, (off_t)off);
        snprintf(m, sizeof m, "%s seq %llu..%llu: %s", what, (unsigned long long)d->ffirst,
                 (unsigned long long)(d->ffirst + d->fn - 1), strerror(e));
        poison(d, rc, m);
    } else {
        d->wend = off + d->flen;
        d->written = d->ffirst + d->fn;
        if (sync) {
            d->durable = d->written;
            d->found_unsynced = 0;
        }
        d->last_batch = d->fn;
    }
    d->fn = 0;
    d->flen = 0;
    d->flushing = 0;
    pthread_cond_broadcast(&d->cv);
    return rc ? poisoned(d) : 0;
}

/* Write out and sync everything committed. mu held. */
static int drain(disk *d)
{
    while (d->flushing)
        pthread_cond_wait(&d->cv, &d->mu);
    if (d->failed)
        return poisoned(d);
    if (d->wn) {
        d->flushing = 1;
        return flush_claimed(d, 1);
    }
    if (d->durable < d->count || d->dur != EC_DURABLE_ALWAYS) {
        seg *a = &d->segs[d->nsegs - 1];
        if (a->fd >= 0 && d->v->fdatasync(a->fd) != 0) {
            int e = errno;
            poison(d, err_of(e), "syncing the last segment");
            return poisoned(d);
        }
        d->durable = d->written;
        d->found_unsynced = 0;
    }
    return 0;
}

/* The indexer: writes the index files of sealed segments, oldest first, without the lock;
 * on close it finishes what is pending, so a reopen finds every index. */
static void *indexer_main(void *arg)
{
    disk *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        size_t si = 0;
        while (si < d->nsegs && !d->segs[si].need_idx)
            si++;
        if (si == d->nsegs) {
            if (d->idx_stop)
                break;
            pthread_cond_wait(&d->idx_cv, &d->mu);
            continue;
        }
        /* A sealed segment and its memidx do not change; the segs array may move, so work
         * from a copy and find the segment again by index afterwards. */
        seg copy = d->segs[si];
        pthread_mutex_unlock(&d->mu);
        int rc = write_index(d, &copy, copy.mi);
        ec_error_clear();
        pthread_mutex_lock(&d->mu);
        seg *s = &d->segs[si];
        s->need_idx = 0;
        d->idx_pending--;
        if (rc == 0 && s->mi == copy.mi) {
            mi_free(s->mi);
            s->mi = NULL;
        }
        pthread_cond_broadcast(&d->idx_cv);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* Start the indexer once (mu held); non-zero when there is none (write inline instead). */
static int indexer_start(disk *d)
{
    if (!d->idx_started) {
        if (pthread_create(&d->idx_thread, NULL, indexer_main, d) != 0)
            return -1;
        d->idx_started = 1;
    }
    return 0;
}

/* Wait until every sealed segment's index is written. mu held. */
static void indexer_drain(disk *d)
{
    while (d->idx_pending)
        pthread_cond_wait(&d->idx_cv, &d->mu);
}

/* Cut the zeros ahead of the active segment's data (all of it written), durably when
 * `sync`: a sealed segment ends with its last frame, since a reader takes anything after it
 * in a segment that has a successor for damage. mu held. */
static int cut_zeros(disk *d, int sync)
{
    seg *a = &d->segs[d->nsegs - 1];
    uint64_t zend = d->zend;
    d->zend = 0;
    if (zend <= d->wend || a->fd < 0)
        return 0;
    if (d->v->ftruncate(a->fd, (off_t)d->wend) != 0 || (sync && d->v->fdatasync(a->fd) != 0)) {
        int e = errno;
        poison(d, err_of(e), "cutting the zeros after the last segment's data");
        return poisoned(d);
    }
    return 0;
}

/* Seal the active segment and start the next one at seq d->count. mu held. */
static int roll(disk *d)
{
    int rc = drain(d);
    if (rc)
        return rc;
    if ((rc = cut_zeros(d, 1)) != 0)
        return rc;
    int fd;
    if ((rc = seg_create(d, d->count, &fd)) != 0)
        return rc; /* nothing changed: the record goes unstored and the chain is as it was */
    if ((rc = push_seg(d, d->count)) != 0) {
        d->v->close(fd);
        return rc;
    }
    seg *old = &d->segs[d->nsegs - 2], *a = &d->segs[d->nsegs - 1];
    a->fd = fd;
    d->nfds++;
    if (!(a->mi = mi_new())) {
        d->nsegs--;
        d->v->close(fd);
        return ec_error_set(EC_ENOMEM, "%s: out of memory", d->dir);
    }
    /* The index is written after the next segment exists, so a sealed-looking last segment
     * on open means a later one was lost. Failing to write it loses nothing. Written by the
     * indexer thread when there is one; the memidx serves lookups until then. */
    if (indexer_start(d) == 0) {
        old->need_idx = 1;
        d->idx_pending++;
        pthread_cond_broadcast(&d->idx_cv);
    } else if (write_index(d, old, old->mi) == 0) {
        mi_free(old->mi);
        old->mi = NULL;
    }
    ec_error_clear();
    d->wend = EC_SEG_HEADER_LEN;
    d->wbase = EC_SEG_HEADER_LEN;
    d->wfirst = d->count;
    d->zero_off = 0;
    d->zero_step = 0;
    return 0;
}

static int d_commit(ec_backend *b, uint64_t seq, size_t hash_off)
{
    disk *d = (disk *)b;
    if (!d->reserved)
        return ec_error_set(EC_EINVAL, "%s: commit without reserve", d->dir);
    d->reserved = 0;
    size_t hl = ec_hash_len(d->alg);
    if (hash_off + hl != d->rlen)
        return ec_error_set(EC_EINVAL, "%s: hash must end the record", d->dir);
    uint8_t *f = d->rbuf;
    uint32_t len = (uint32_t)d->rlen;
    size_t flen = EC_FRAME_HEADER_LEN + (size_t)len;
    ec_put_u32(f, len);
    if (d->dur == EC_DURABLE_ALWAYS) {
        /* Every earlier frame was synced before this one is written (a failed write is cut
         * off, a failed sync poisons the handle, the open synced what it found): the flag
         * that lets a reader tell a torn group from damage (FORMAT.md section 4). */
        if (d->fmt >= EC_DIR_VERSION)
            ec_put_u32(f, len | EC_FRAME_SYNCED);
        frame_seal(f);
    }
    /* else the flusher seals it, off the appenders' critical path */
    uint64_t key = ec_get_u64(f + EC_FRAME_HEADER_LEN + hash_off);
    pthread_mutex_lock(&d->mu);
    int rc = 0;
    if (d->failed) {
        rc = poisoned(d);
        goto out;
    }
    if (seq != d->count) {
        rc = ec_error_set(EC_EINVAL, "%s: commit of seq %llu, expected %llu", d->dir,
                          (unsigned long long)seq, (unsigned long long)d->count);
        goto out;
    }
    seg *a = &d->segs[d->nsegs - 1];
    if (a->count && a->len + flen > d->seg_bytes) {
        if ((rc = roll(d)) != 0)
            goto out;
        a = &d->segs[d->nsegs - 1];
    }
    uint64_t off = a->len;
    if (off + flen > UINT32_MAX) {
        rc = ec_error_set(EC_EINVAL, "%s: segment would pass 4 GiB", d->dir);
        goto out;
    }
    if (d->dur == EC_DURABLE_ALWAYS) {
        /* write + fdatasync, then count it: a failure leaves the records as they were (the
         * file cut at `off`, zeros ahead and all). Zeros ahead as batch keeps them (FORMAT.md
         * section 4), but only after the handle's first ALWAYS_ZEROS_AFTER appends: a writer
         * that appends a few records and closes (evchain append) would pay more for cutting
         * them on close than the syncs over them save. */
        uint64_t zend = 0, step = 0;
        int zero = d->appended >= ALWAYS_ZEROS_AFTER && zeros_due(d, off + flen, &step);
        if (write_all(d->v, a->fd, f, flen, off) != 0) {
            int e = errno;
            rc = ec_error_set_errno(err_of(e), e, "%s: appending seq %llu", d->dir,
                                    (unsigned long long)seq);
            d->zend = 0;
            if (d->v->ftruncate(a->fd, (off_t)off) != 0)
                poison(d, err_of(e), "a failed append could not be cut off");
            goto out;
        }
        if (zero)
            zend = zero_fill(d, a->fd, off + flen, step);
        if (d->v->fdatasync(a->fd) != 0) {
            int e = errno;
            rc = ec_error_set_errno(err_of(e), e, "%s: syncing seq %llu", d->dir,
                                    (unsigned long long)seq);
            d->zend = 0;
            (void)d->v->ftruncate(a->fd, (off_t)off);
            /* after a failed fsync the page cache cannot be trusted (fsyncgate) */
            poison(d, err_of(e), "a sync failed");
            goto out;
        }
        if (zero)
            zeros_done(d, zend, step);
        d->appended++;
        d->wend = off + flen;
    } else {
        if ((rc = grow(&d->wbuf, &d->wcap, d->wlen + flen)) != 0)
            goto out;
        if (!d->wn) {
            d->wfirst = seq;
            d->wbase = off;
        }
        memcpy(d->wbuf + d->wlen, f, flen);
        d->wlen += flen;
        d->wn++;
    }
    if ((rc = mi_add(a->mi, (uint32_t)off, key)) != 0) {
        if (d->dur != EC_DURABLE_ALWAYS) {
            d->wlen -= flen;
            d->wn--;
        } else {
            poison(d, rc, "out of memory after a write");
        }
        goto out;
    }
    a->len += flen;
    a->count++;
    d->count++;
    if (d->dur == EC_DURABLE_ALWAYS) {
        d->written = d->durable = d->count;
    } else if (d->lingering) {
        /* Every commit, not only the one that completes the group: waking the flusher once,
         * at the target, measured 5 % slower in bench_store's batch run (1.82 against 1.92
         * M events/s, ten runs each) and no better over HTTP. */
        pthread_cond_broadcast(&d->cv);
    }
    if (d->dur == EC_DURABLE_NONE && d->wlen >= NONE_FLUSH_BYTES && !d->flushing) {
        d->flushing = 1;
        rc = flush_claimed(d, 0);
    }
out:
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* Group commit: the first waiter whose record is not yet durable becomes the flusher and
 * syncs everything committed so far; the others wait for it, then check again. */
static int d_wait_durable(ec_backend *b, uint64_t seq)
{
    disk *d = (disk *)b;
    if (d->dur != EC_DURABLE_BATCH) {
        pthread_mutex_lock(&d->mu);
        int rc = d->failed ? poisoned(d) : 0;
        pthread_mutex_unlock(&d->mu);
        return rc;
    }
    pthread_mutex_lock(&d->mu);
    int rc = 0;
    if (seq >= d->count)
        rc = ec_error_set(EC_EINVAL, "%s: wait for seq %llu, which was never committed", d->dir,
                          (unsigned long long)seq);
    while (!rc) {
        if (seq < d->durable) /* durable before any later failure: acknowledged */
            break;
        if (d->failed) {
            rc = poisoned(d);
            break;
        }
        if (d->flushing) {
            pthread_cond_wait(&d->cv, &d->mu);
            continue;
        }
        d->flushing = 1;
        if (d->delay_us && d->last_batch > 1) {
            /* others are appending: wait a bounded time for their records to join */
            uint64_t deadline = mono_ns() + (uint64_t)d->delay_us * 1000u;
            uint64_t target = d->last_batch;
            d->lingering = 1;
            while (d->wn < target && d->wlen < BATCH_FULL_BYTES) {
                uint64_t now = mono_ns();
                if (now >= deadline)
                    break;
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                uint64_t t =
                    (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + (deadline - now);
                ts.tv_sec = (time_t)(t / 1000000000u);
                ts.tv_nsec = (long)(t % 1000000000u);
                pthread_cond_timedwait(&d->cv, &d->mu, &ts);
            }
            d->lingering = 0;
        }
        rc = flush_claimed(d, 1);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int d_sync(ec_backend *b)
{
    disk *d = (disk *)b;
    if (d->ro)
        return 0;
    pthread_mutex_lock(&d->mu);
    int rc = drain(d);
    indexer_drain(d); /* sync means every file written, the indexes too */
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* Hand buffered frames (batch, none) to the kernel without syncing them, and report what
 * went wrong with any write since the open: under `none` an append returns before its frame
 * is written, so this is where a full disk shows (store.h). */
int ec_backend_flush(ec_backend *b)
{
    if (!b)
        return ec_error_set(EC_EINVAL, "ec_backend_flush: no backend");
    if (b->sync != d_sync) {
        ec_backend *in = ec_backend_deferred_inner_(b);
        if (in) /* a deferred wrapper: what it wraps, written as if unwrapped */
            return ec_backend_flush(in);
        return b->sync ? b->sync(b) : 0; /* not a chain directory (memory): its sync */
    }
    disk *d = (disk *)b;
    if (d->ro)
        return 0;
    pthread_mutex_lock(&d->mu);
    while (d->flushing)
        pthread_cond_wait(&d->cv, &d->mu);
    int rc = 0;
    if (d->failed) {
        rc = poisoned(d);
    } else if (d->wn) {
        d->flushing = 1;
        rc = flush_claimed(d, 0);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static void d_free(ec_backend *b)
{
    disk *d = (disk *)b;
    if (!d)
        return;
    if (!d->ro && d->nsegs && !d->failed) {
        pthread_mutex_lock(&d->mu);
        while (d->flushing)
            pthread_cond_wait(&d->cv, &d->mu);
        if (d->wn && !d->failed) { /* closing hands buffered records to the kernel */
            d->flushing = 1;
            (void)flush_claimed(d, d->dur == EC_DURABLE_BATCH);
        }
        if (!d->failed) /* a closed chain's files end with their data; after a crash, the
                         * zeros read as a torn tail */
            (void)cut_zeros(d, 0);
        pthread_mutex_unlock(&d->mu);
    }
    if (d->idx_started) { /* it writes what is pending, then leaves */
        pthread_mutex_lock(&d->mu);
        d->idx_stop = 1;
        pthread_cond_broadcast(&d->idx_cv);
        pthread_mutex_unlock(&d->mu);
        pthread_join(d->idx_thread, NULL);
    }
    for (size_t i = 0; i < d->nsegs; i++) {
        if (d->segs[i].fd >= 0)
            d->v->close(d->segs[i].fd);
        if (d->segs[i].idx_fd >= 0)
            d->v->close(d->segs[i].idx_fd);
        mi_free(d->segs[i].mi);
    }
    if (d->dirfd >= 0)
        d->v->close(d->dirfd); /* releases the writer lock */
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    pthread_cond_destroy(&d->idx_cv);
    free(d->segs);
    free(d->rbuf);
    free(d->wbuf);
    free(d->fbuf);
    free(d->gbuf);
    free(d->dir);
    free(d);
}

/* ---- opening ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Segment names in the directory, sorted; leftover temporary files removed by a writer. */
static int list_segments(disk *d, uint64_t **out, size_t *n)
{
    DIR *dp = opendir(d->dir);
    if (!dp)
        return ec_error_set_errno(EC_EIO, errno, "%s: listing", d->dir);
    uint64_t *v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(dp)) != NULL) {
        const char *nm = e->d_name;
        size_t l = strlen(nm);
        if (!d->ro && l > 4 && strcmp(nm + l - 4, ".tmp") == 0) {
            char p[4400];
            snprintf(p, sizeof p, "%s/%s", d->dir, nm);
            d->v->unlink(p); /* an interrupted atomic write: never renamed, so never used */
            continue;
        }
        if (l != 24 || strncmp(nm, "seg-", 4) != 0 || strcmp(nm + 20, ".log") != 0)
            continue;
        uint64_t first = 0;
        int ok = 1;
        for (int i = 4; i < 20; i++) {
            char c = nm[i];
            int dv = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (dv < 0)
                ok = 0;
            first = first << 4 | (uint64_t)(dv < 0 ? 0 : dv);
        }
        if (!ok)
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                rc = ec_error_set(EC_ENOMEM, "%s: out of memory", d->dir);
                break;
            }
            v = nv;
        }
        v[cnt++] = first;
    }
    closedir(dp);
    if (rc) {
        free(v);
        return rc;
    }
    qsort(v, cnt, sizeof *v, cmp_u64);
    *out = v;
    *n = cnt;
    return 0;
}

static int dir_is_empty(const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return -1;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(dp)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            empty = 0;
    closedir(dp);
    return empty;
}

static int create_dir(disk *d, int *made)
{
    *made = 0;
    if (d->v->mkdir(d->dir, 0755) == 0) {
        *made = 1;
    } else {
        if (errno != EEXIST)
            return ec_error_set_errno(err_of(errno), errno, "%s: creating the chain directory",
                                      d->dir);
        int empty = dir_is_empty(d->dir);
        if (empty < 0)
            return ec_error_set_errno(EC_EIO, errno, "%s: not a readable directory", d->dir);
        if (!empty)
            return ec_error_set(EC_EEXISTS,
                                "%s: exists and is not empty; refusing to create "
                                "a chain there",
                                d->dir);
    }
    return 0;
}

/* Read a sealed segment's header and learn its size and count: from a valid index header,
 * else by scanning it (and, for a writer, writing the index). */
static int open_sealed(disk *d, size_t si, uint64_t want)
{
    seg *s = &d->segs[si];
    int rc = seg_fd(d, s);
    if (rc)
        return rc;
    struct stat st;
    if (d->v->fstat(s->fd, &st) != 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: stat of a segment", d->dir);
    uint64_t cnt, slots;
    /* The next segment's name says how many records this one holds: an index saying
     * otherwise is not this segment's (its checksums only prove it is the file written). */
    if (read_index_header(d, s, (uint64_t)st.st_size, &cnt, &slots) == 0 && cnt == want) {
        s->count = cnt;
        s->len = (uint64_t)st.st_size;
        return 0;
    }
    memidx *m;
    if ((rc = scan_sealed(d, s, &m, s->fd, (uint64_t)st.st_size)) != 0)
        return rc;
    if (s->count != want) {
        mi_free(m);
        return 0; /* the caller names the gap or the overlap */
    }
    if (!d->ro)
        (void)write_index(d, s, m);
    ec_error_clear();
    mi_free(m);
    return 0;
}

/* The writer checks that the last records still hash and link as they did when written:
 * appending to a chain whose tail was altered would bless the alteration. */
static int check_tail(disk *d)
{
    if (!d->count)
        return 0;
    uint64_t from = d->count > TAIL_CHECK ? d->count - TAIL_CHECK : 0;
    uint8_t prev[EC_HASH_MAX];
    size_t hl = ec_hash_len(d->alg);
    const uint8_t *rec;
    size_t len;
    int rc;
    if (from) {
        pthread_mutex_lock(&d->mu);
        rc = read_record(d, from - 1, &d->gbuf, &d->gcap, &rec, &len);
        pthread_mutex_unlock(&d->mu);
        if (rc)
            return rc;
        memcpy(prev, rec + len - hl, hl);
    }
    ec_verifier v;
    ec_verifier_init(&v, d->alg, from, from ? prev : NULL);
    ec_backend_iter *it = NULL;
    if ((rc = d_iter_new(&d->be, from, &it)) != 0)
        return rc;
    ec_verify_result res;
    while ((rc = d_iter_next(it, &rec, &len)) == 0) {
        memset(&res, 0, sizeof res);
        if ((rc = ec_verifier_feed(&v, rec, len, &res)) != 0) {
            rc = ec_error_set(rc,
                              "%s: the tail does not verify at seq %llu (%s): refusing "
                              "to append; `evchain verify` tells more",
                              d->dir, (unsigned long long)res.seq, res.reason);
            break;
        }
    }
    d_iter_free(it);
    return rc == EC_ITEROVER ? 0 : rc;
}

/* The writer lock, waited for up to wait_ms. Polled (1 ms, doubling to 50 ms) rather than a
 * blocking flock, so that the wait has a bound and a signal cannot leave it stuck. */
static int take_lock(disk *d, unsigned wait_ms)
{
    uint64_t deadline = mono_ns() + (uint64_t)wait_ms * 1000000u;
    unsigned pause_us = 1000;
    while (d->v->flock(d->dirfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK)
            return ec_error_set_errno(EC_EIO, errno, "%s: taking the writer lock", d->dir);
        uint64_t now = mono_ns();
        if (now >= deadline)
            return wait_ms
                       ? ec_error_set(EC_ELOCKED,
                                      "%s: another writer has this chain open (waited %u ms)",
                                      d->dir, wait_ms)
                       : ec_error_set(EC_ELOCKED, "%s: another writer has this chain open", d->dir);
        uint64_t left_us = (deadline - now) / 1000;
        usleep(left_us < pause_us ? (useconds_t)left_us + 1 : pause_us);
        pause_us = pause_us >= 25000 ? 50000 : pause_us * 2;
    }
    return 0;
}

static int open_dir(disk *d, const ec_disk_options *o)
{
    int rc, made = 0;
    if (o->create && (rc = create_dir(d, &made)) != 0)
        return rc;
    d->dirfd = d->v->open(d->dir, O_RDONLY | O_DIRECTORY, 0);
    if (d->dirfd < 0)
        return ec_error_set_errno(errno == ENOENT ? EC_ENOTFOUND : EC_EIO, errno,
                                  "%s: opening the chain directory", d->dir);
    if (!d->ro && (rc = take_lock(d, o->lock_wait_ms)) != 0)
        return rc;
    char hp[4096];
    snprintf(hp, sizeof hp, "%s/%s", d->dir, EC_DIR_HEADER_NAME);
    uint8_t h[EC_DIR_HEADER_LEN];
    if (o->create) {
        d->alg = o->alg ? o->alg : EC_HASH_SHA256;
        if (dir_is_empty(d->dir) != 1)
            return ec_error_set(EC_EEXISTS, "%s: exists and is not empty", d->dir);
        int fd;
        if ((rc = seg_create(d, 0, &fd)) == 0) {
            d->v->close(fd);
            dir_header(h, EC_DIR_VERSION, d->alg, d->seg_bytes);
            /* the header goes last: a directory without it is not yet a chain */
            rc = write_atomic(d, hp, h, sizeof h, 1);
        }
        if (rc) { /* leave nothing behind: a failed create can simply be retried */
            char p[4096];
            seg_path(d, 0, "log", p, sizeof p);
            d->v->unlink(p);
            if (made)
                (void)rmdir(d->dir);
            return rc;
        }
    }
    int fd = open_existing(d, hp, O_RDONLY);
    if (fd == -2)
        return ec_error_last()->code;
    if (fd < 0)
        return ec_error_set_errno(errno == ENOENT ? EC_ENOTFOUND : EC_EIO, errno,
                                  "%s: not a chain directory (no %s header)", d->dir,
                                  EC_DIR_HEADER_NAME);
    ssize_t r = read_full(d->v, fd, h, sizeof h, 0);
    d->v->close(fd);
    if (r != (ssize_t)sizeof h || memcmp(h, EC_DIR_MAGIC, 8) != 0 ||
        ec_crc32c(0, h, 24) != ec_get_u32(h + 24))
        return ec_error_set(EC_EFORMAT, "%s: damaged %s header", d->dir, EC_DIR_HEADER_NAME);
    d->fmt = ec_get_u32(h + 8);
    if (d->fmt != EC_DIR_VERSION_1 && d->fmt != EC_DIR_VERSION)
        return ec_error_set(EC_EUNSUPPORTED, "%s: directory format version %u (this reads 1 and 2)",
                            d->dir, d->fmt);
    d->alg = (ec_hash_alg)ec_get_u32(h + 12);
    if (!ec_hash_len(d->alg))
        return ec_error_set(EC_EUNSUPPORTED, "%s: unknown hash algorithm %u", d->dir,
                            (unsigned)d->alg);
    if (!o->segment_bytes)
        d->seg_bytes = ec_get_u64(h + 16);
    if (d->seg_bytes < 4096)
        d->seg_bytes = 4096;
    /* a header from elsewhere naming more than a segment can hold: the most it can */
    if (d->seg_bytes > EC_SEGMENT_BYTES_MAX)
        d->seg_bytes = EC_SEGMENT_BYTES_MAX;

    uint64_t *firsts = NULL;
    size_t n = 0;
    if ((rc = list_segments(d, &firsts, &n)) != 0)
        return rc;
    if (n == 0) {
        free(firsts);
        return missing(d, 0, "no segment files: seqs from 0 are missing");
    }
    for (size_t i = 0; i < n && !rc; i++)
        rc = push_seg(d, firsts[i]);
    free(firsts);
    if (rc)
        return rc;
    /* headers: every segment names its chain's algorithm and its first seq */
    for (size_t i = 0; i < d->nsegs; i++) {
        seg *s = &d->segs[i];
        char p[4096];
        seg_path(d, s->first, "log", p, sizeof p);
        if ((rc = seg_fd(d, s)) != 0)
            return rc;
        uint8_t sh[EC_SEG_HEADER_LEN];
        ec_hash_alg a;
        uint64_t first;
        if (read_full(d->v, s->fd, sh, sizeof sh, 0) != (ssize_t)sizeof sh ||
            seg_header_check(sh, &a, &first) != 0)
            return ec_error_set(EC_EFORMAT, "%s: damaged segment header (byte offset 0)", p);
        if (first != s->first || a != d->alg)
            return ec_error_set(EC_EFORMAT,
                                "%s: segment header says seq %llu, algorithm %u: does not "
                                "belong here",
                                p, (unsigned long long)first, (unsigned)a);
    }
    uint64_t expect = 0;
    for (size_t i = 0; i < d->nsegs; i++) {
        seg *s = &d->segs[i];
        if (s->first > expect)
            return missing(d, expect, "seqs %llu..%llu are missing (a segment file was removed)",
                           (unsigned long long)expect, (unsigned long long)(s->first - 1));
        if (s->first < expect)
            return missing(d, s->first,
                           "seg-%016llx.log starts at seq %llu, but the segment before it holds "
                           "seqs up to %llu",
                           (unsigned long long)s->first, (unsigned long long)s->first,
                           (unsigned long long)(expect - 1));
        if (i + 1 < d->nsegs) {
            if ((rc = open_sealed(d, i, d->segs[i + 1].first - s->first)) != 0)
                return rc;
            if (s->count == 0)
                return ec_error_set(EC_EFORMAT, "%s/seg-%016llx.log: sealed but empty", d->dir,
                                    (unsigned long long)s->first);
            expect = s->first + s->count;
        }
    }
    /* the last segment: scanned in full, its torn tail (if any) cut off by a writer */
    seg *a = &d->segs[d->nsegs - 1];
    char p[4096];
    seg_path(d, a->first, "log", p, sizeof p);
    struct stat st;
    if (d->v->fstat(a->fd, &st) != 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: stat", p);
    uint64_t icnt, islots;
    char np[4096];
    /* (a reader may have listed the directory just before the writer rolled) */
    int sealed =
        read_index_header(d, a, (uint64_t)st.st_size, &icnt, &islots) == 0 &&
        (seg_path(d, a->first + icnt, "log", np, sizeof np), !d->ro || access(np, F_OK) != 0);
    if (!(a->mi = mi_new()))
        return ec_error_set(EC_ENOMEM, "%s: out of memory", d->dir);
    scan_src src = {d->v, a->fd, NULL, (uint64_t)st.st_size, d->fmt};
    scan_out so;
    if ((rc = scan_frames(&src, EC_SEG_HEADER_LEN, a->first, d->alg, a->mi, &so)) != 0)
        return rc;
    if (so.stop == SCAN_DAMAGED && !d->ro) /* a writer refuses it: nothing is cut off */
        return damage_err(d, a->first, a->first + so.count, so.bad_off, so.why);
    /* an index of the last segment means it was sealed, but only if it describes the
     * segment as scanned (else it is not this segment's index: ignored) */
    if (sealed && so.stop == SCAN_CLEAN && icnt == so.count)
        return missing(d, a->first + icnt,
                       "seg-%016llx.log is sealed, so the segment after it (seq %llu on) is "
                       "missing",
                       (unsigned long long)a->first, (unsigned long long)(a->first + icnt));
    a->count = so.count;
    a->len = so.end;
    d->count = a->first + a->count;
    if (so.stop == SCAN_DAMAGED) /* a reader: reads up to it (tail_bad) */
        tail_damaged(d, &so);
    /* Before anything is cut. Both ways out are named: the lost events back, or, for a
     * chain restored on purpose from an older copy, its checkpoints set aside (kept) by the
     * one command that does it (docs/FORMAT.md 5.5), after which min_count is 0. */
    if (!d->ro && d->count < d->min_count)
        return ec_error_set(
            EC_EVERIFY,
            "%s: the chain must keep %llu events (a signed checkpoint covers them) but holds "
            "%llu%s: refusing to write, nothing was cut. Restore the missing events (a newer "
            "backup), or, if this older chain is the one to go on with, set its checkpoints "
            "aside first (kept, not deleted): evchain checkpoint %s --set-aside",
            d->dir, (unsigned long long)d->min_count, (unsigned long long)d->count,
            so.stop == SCAN_TORN ? " intact (what follows reads as a torn tail)" : "", d->dir);
    if (so.stop == SCAN_TORN && !d->ro) {
        /* only an unacknowledged append can be torn: cut it off, durably */
        if (d->v->ftruncate(a->fd, (off_t)so.end) != 0 || d->v->fdatasync(a->fd) != 0)
            return ec_error_set_errno(err_of(errno), errno,
                                      "%s: cutting a torn record at byte offset %llu", p,
                                      (unsigned long long)so.end);
    }
    /* what was cut; for a reader (options version 4 only: a version 3 reader got nothing)
     * what a writer's open would cut */
    if (so.stop == SCAN_TORN && d->cut && (!d->ro || d->cut_size == sizeof *d->cut)) {
        ec_disk_cut c = {.segment_first = a->first,
                         .offset = so.end,
                         .bytes = (uint64_t)st.st_size - so.end,
                         .seq = d->count,
                         .intact = so.after_n,
                         .intact_seq = so.after_seq,
                         .unknown = so.after_n && d->fmt < EC_DIR_VERSION};
        memcpy(d->cut, &c, d->cut_size);
    }
    /* What a writer found may not be durable yet (a `none` writer's frames, a killed writer's
     * group): the first frame it writes claims, with EC_FRAME_SYNCED, that it is. `always`
     * and `batch` sync it here (their first append's sync would pay for those pages anyway;
     * a clean file costs next to nothing; a cut synced it already); `none`, which must not
     * sync per open (`append --durability none` in a loop), flags nothing until it syncs. */
    if (!d->ro && d->fmt >= EC_DIR_VERSION && a->count && so.stop != SCAN_TORN) {
        if (d->dur == EC_DURABLE_NONE)
            d->found_unsynced = 1;
        else if (d->v->fdatasync(a->fd) != 0)
            return ec_error_set_errno(err_of(errno), errno, "%s: syncing", p);
    }
    d->written = d->durable = d->count;
    d->wend = d->wbase = a->len;
    d->wfirst = d->count;
    if (!d->ro && (rc = check_tail(d)) != 0)
        return rc;
    return 0;
}

int ec_disk_cut_describe(char *out, size_t n, const ec_disk_cut *cut)
{
    if (!out || !n)
        return ec_error_set(EC_EINVAL, "ec_disk_cut_describe: no buffer");
    out[0] = 0;
    if (!cut || !cut->bytes)
        return 0;
    char where[160];
    snprintf(where, sizeof where, "%llu byte%s at byte offset %llu of seg-%016llx.log",
             (unsigned long long)cut->bytes, cut->bytes == 1 ? "" : "s",
             (unsigned long long)cut->offset, (unsigned long long)cut->segment_first);
    if (!cut->intact) {
        snprintf(out, n, "cut a torn record (never acknowledged): %s", where);
        return 1;
    }
    if (!cut->unknown) {
        snprintf(out, n,
                 "cut a torn group (never acknowledged: its sync did not finish): %s, seq %llu "
                 "on (a sector of zeros, then %llu intact record%s from seq %llu)",
                 where, (unsigned long long)cut->seq, (unsigned long long)cut->intact,
                 cut->intact == 1 ? "" : "s", (unsigned long long)cut->intact_seq);
        return 1;
    }
    snprintf(out, n,
             "cut %s, seq %llu on: a sector of zeros, then %llu intact-looking record%s from seq "
             "%llu, taken for a torn group; this chain (directory format version 1) does not "
             "record where groups began, so whether they were acknowledged is not known: if "
             "they were, they are lost",
             where, (unsigned long long)cut->seq, (unsigned long long)cut->intact,
             cut->intact == 1 ? "" : "s", (unsigned long long)cut->intact_seq);
    return 2;
}

int ec_backend_disk(ec_backend **out, const char *dir, const ec_disk_options *opts)
{
    EC_REFUSE_NULL(out);
    return ec_backend_disk_at_(out, dir, opts, NULL);
}

int ec_backend_disk_at_(ec_backend **out, const char *dir, const ec_disk_options *opts,
                        ec_verify_result *damage)
{
    ec_disk_options def = EC_DISK_OPTIONS_INIT;
    const ec_disk_options *o = &def;
    *out = NULL;
    if (!dir || !*dir)
        return ec_error_set(EC_EINVAL, "disk: no directory given");
    if (damage)
        memset(damage, 0, sizeof *damage);
    if (opts && opts->version == 1) /* read no further than version 1's own fields */
        memcpy(&def, opts, offsetof(ec_disk_options, lock_wait_ms));
    else if (opts && opts->version == 2)
        memcpy(&def, opts, offsetof(ec_disk_options, cut_out));
    else if (opts && opts->version == 3)
        memcpy(&def, opts, offsetof(ec_disk_options, min_count));
    else if (opts && opts->version == EC_DISK_OPTIONS_VERSION)
        o = opts;
    else if (opts)
        return ec_error_set(EC_EUNSUPPORTED, "%s: disk options version %u (expected 1 to %u)", dir,
                            opts->version, EC_DISK_OPTIONS_VERSION);
    if (o->create && o->read_only)
        return ec_error_set(EC_EINVAL, "%s: cannot create a chain read-only", dir);
    if (o->create && o->alg && !ec_hash_len(o->alg))
        return ec_error_set(EC_EUNSUPPORTED, "%s: unknown hash algorithm %d", dir, (int)o->alg);
    if (!ec_durability_name(o->durability))
        return ec_error_set(EC_EINVAL, "%s: unknown durability %d", dir, (int)o->durability);
    if (strlen(dir) > 3000)
        return ec_error_set(EC_EINVAL, "%s...: path too long", "disk");
    /* A segment's index stores each frame's offset in 4 bytes (docs/FORMAT.md section 4):
     * refused, not clamped as it once was (silently, so that `init --segment-bytes 5G` said
     * nothing of the 2 GiB it got). */
    if (o->segment_bytes > EC_SEGMENT_BYTES_MAX)
        return ec_error_set(EC_EINVAL,
                            "%s: segment size %llu is above the maximum, %llu bytes (2 GiB): a "
                            "segment's index stores 4-byte frame offsets",
                            dir, (unsigned long long)o->segment_bytes,
                            (unsigned long long)EC_SEGMENT_BYTES_MAX);
    disk *d = calloc(1, sizeof *d);
    if (!d || !(d->dir = strdup(dir))) {
        free(d);
        return ec_error_set(EC_ENOMEM, "%s: out of memory", dir);
    }
    d->v = ec_vfs_get();
    d->dirfd = -1;
    d->ro = o->read_only;
    d->dur = o->durability;
    d->seg_bytes = o->segment_bytes ? o->segment_bytes : EC_SEG_DEFAULT_BYTES;
    d->delay_us = o->batch_max_delay_us ? o->batch_max_delay_us : DEFAULT_DELAY_US;
    d->damage = damage;
    if ((d->cut = o->cut_out) != NULL) {
        /* a version 3 caller's ec_disk_cut ends before `seq` */
        d->cut_size = opts && opts->version == 3 ? offsetof(ec_disk_cut, seq) : sizeof *d->cut;
        memset(d->cut, 0, d->cut_size);
    }
    d->min_count = o->min_count;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&d->idx_cv, NULL);
    pthread_mutex_init(&d->mu, NULL);
    ec_backend *b = &d->be;
    b->version = EC_BACKEND_VERSION;
    b->get_alg = d_get_alg;
    b->set_alg = d_set_alg;
    b->count = d_count;
    b->reserve = d_reserve;
    b->commit = d_commit;
    b->get = d_get;
    b->find_hash = d_find_hash;
    b->iter_new = d_iter_new;
    b->iter_next = d_iter_next;
    b->iter_free = d_iter_free;
    b->wait_durable = d_wait_durable;
    b->sync = d_sync;
    b->free = d_free;
    int rc = open_dir(d, o);
    if (rc) {
        d->failed = rc; /* nothing buffered: free must not write */
        d_free(b);
        return rc;
    }
    d->damage = NULL; /* the open's own finding: later reads must not write to the caller's */
    *out = b;
    return 0;
}
