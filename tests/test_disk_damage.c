/* tests/test_disk_damage.c: torn and damaged chain directories. A torn tail (the file cut at
 * every byte offset of the last record, or zero-filled) is recovered; a flipped byte anywhere
 * in a record, a damaged header, a deleted segment or a tail that no longer hashes is
 * reported with the seq and byte offset and the files are left as they were; missing, stale
 * or damaged indexes are rebuilt. Never a crash, never silent loss. */
#include "disk_util.h"
#include "test.h"
#include "core/internal.h"
#include "store/disk_internal.h"

static char root[256];
enum { N = 20 };

static void path_in(char *out, size_t n, const char *name)
{
    static int k;
    snprintf(out, n, "%s/%s-%d", root, name, k++);
}

static int make_chain(const char *dir, uint64_t seg_bytes, int n)
{
    ec_chain *c;
    int rc = du_open(&c, dir, 1, EC_DURABLE_ALWAYS, seg_bytes, 0);
    for (int i = 0; !rc && i < n; i++)
        rc = du_append(c, (uint64_t)i, 60 + (size_t)i * 3, NULL);
    if (!rc)
        ec_chain_free(c);
    return rc;
}

static uint8_t *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int spit(const char *p, const uint8_t *b, size_t len)
{
    FILE *f = fopen(p, "wb");
    if (!f)
        return -1;
    int rc = fwrite(b, 1, len, f) == len ? 0 : -1;
    return fclose(f) || rc ? -1 : 0;
}

/* Frame offsets of a segment image. */
static size_t frames(const uint8_t *b, size_t len, size_t *offs, size_t max)
{
    size_t n = 0, off = EC_SEG_HEADER_LEN;
    while (off + EC_FRAME_HEADER_LEN <= len && n < max) {
        offs[n++] = off;
        off += EC_FRAME_HEADER_LEN + (ec_get_u32(b + off) & ~EC_FRAME_SYNCED);
    }
    return n;
}

/* Set or clear a frame's EC_FRAME_SYNCED flag and recompute its header checksum: the frame as a
 * writer would have written it first of a group (set) or later in one (clear). */
static void set_synced(uint8_t *f, int on)
{
    uint32_t len = ec_get_u32(f) & ~EC_FRAME_SYNCED;
    ec_put_u32(f, on ? len | EC_FRAME_SYNCED : len);
    ec_put_u32(f + 8, ec_crc32c(0, f, 8));
}

/* Rewrite a chain directory's EVCHAIN header with another format version. */
static int set_dir_version(const char *dir, uint32_t version)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, EC_DIR_HEADER_NAME);
    size_t n;
    uint8_t *h = slurp(p, &n);
    if (!h || n != EC_DIR_HEADER_LEN) {
        free(h);
        return -1;
    }
    ec_put_u32(h + 8, version);
    ec_put_u32(h + 24, ec_crc32c(0, h, 24));
    int rc = spit(p, h, n);
    free(h);
    return rc;
}

/* Open as writer and reader; both must agree on count and the chain must verify. */
static int opens_with(const char *dir, uint64_t want)
{
    for (int ro = 1; ro >= 0; ro--) {
        ec_chain *c;
        if (du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, ro) != 0)
            return -1;
        int ok = ec_chain_count(c) == want && ec_chain_verify(c, NULL, NULL) == 0;
        ec_chain_free(c);
        if (!ok)
            return -1;
    }
    return 0;
}

static void torn_tail_every_offset(void)
{
    char dir[300], seg[400];
    path_in(dir, sizeof dir, "torn");
    REQUIRE_OK(make_chain(dir, 0, N));
    snprintf(seg, sizeof seg, "%s/seg-0000000000000000.log", dir);
    size_t len;
    uint8_t *img = slurp(seg, &len);
    REQUIRE(img);
    size_t offs[64];
    REQUIRE(frames(img, len, offs, 64) == N);
    size_t last = offs[N - 1];
    int bad = 0;
    for (size_t cut = last + 1; cut < len; cut++) {
        REQUIRE_OK(spit(seg, img, cut));
        if (opens_with(dir, N - 1) != 0) {
            fprintf(stderr, "cut at %zu: %s\n", cut, ec_error_last()->message);
            bad++;
        }
        CHECK(du_file_size(seg) == (long)last); /* the writer cut the torn frame off */
    }
    CHECK(bad == 0);
    /* a zero-filled tail (file extended, data never written) is torn too */
    uint8_t *z = calloc(1, len + 8192);
    REQUIRE(z);
    memcpy(z, img, len);
    REQUIRE_OK(spit(seg, z, len + 8192));
    CHECK_OK(opens_with(dir, N));
    CHECK(du_file_size(seg) == (long)len);
    /* but non-zero bytes after the last frame are not a torn write: reported, kept */
    z[len + 100] = 0x5a;
    REQUIRE_OK(spit(seg, z, len + 8192));
    ec_chain *c;
    CHECK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 0) == EC_EFORMAT);
    CHECK(du_contains(ec_error_last()->message, ": event 20: "));
    CHECK(du_contains(ec_error_last()->message, "damage, not a torn write"));
    CHECK(du_file_size(seg) == (long)len + 8192);
    free(z);
    free(img);
}

/* A `batch` writer fills the space after its data with zeros, and the pages of the group in
 * flight reach the disk in any order: after a power loss a frame of that group may hold a
 * zero sector with the group's later frames intact behind it. Such a tail is torn (cut, at
 * the first frame the zeros touch); the same zeros with bytes further than EC_SYNC_SPAN after
 * them, or a flipped byte instead of zeros, are damage (reported, nothing cut). The group in
 * flight is the last 12 frames: its first carries EC_FRAME_SYNCED, the others do not, as a
 * `batch` writer leaves them (the chain is written under `always`, which flags every frame). */
static void torn_group_in_zeros(void)
{
    enum { M = 60, Z = 2u << 20 };
    char dir[300], seg[400];
    path_in(dir, sizeof dir, "zeros");
    REQUIRE_OK(make_chain(dir, 0, M));
    snprintf(seg, sizeof seg, "%s/seg-0000000000000000.log", dir);
    size_t len;
    uint8_t *img = slurp(seg, &len);
    REQUIRE(img);
    size_t offs[M + 1];
    REQUIRE(frames(img, len, offs, M) == M);
    offs[M] = len;
    for (int i = M - 11; i < M; i++)
        set_synced(img + offs[i], 0);
    uint8_t *z = calloc(1, len + EC_SYNC_SPAN + 4096);
    REQUIRE(z);
    /* zeros after the data only (the writer's space ahead): a clean tail, cut on open */
    memcpy(z, img, len);
    REQUIRE_OK(spit(seg, z, len + Z));
    CHECK_OK(opens_with(dir, M));
    CHECK(du_file_size(seg) == (long)len);
    /* one sector of zeros inside each of several frames of the last ~2 KiB in turn */
    int tried = 0;
    for (size_t sec = (offs[M - 12] + 511) / 512 * 512; sec + 512 < len; sec += 512) {
        size_t first = 0; /* the first frame the sector touches */
        while (offs[first + 1] <= sec)
            first++;
        memcpy(z, img, len);
        memset(z + sec, 0, 512);
        REQUIRE_OK(spit(seg, z, len + Z));
        if (opens_with(dir, first) != 0)
            fprintf(stderr, "zero sector at %zu: %s\n", sec,
                    ec_error_last() ? ec_error_last()->message : "wrong count");
        CHECK(du_file_size(seg) == (long)offs[first]);
        tried++;
        /* the same hole, but a non-zero byte past the span a sync can leave open: damage */
        memcpy(z, img, len);
        memset(z + sec, 0, 512);
        z[offs[first] + EC_SYNC_SPAN + 100] = 0x5a;
        REQUIRE_OK(spit(seg, z, offs[first] + EC_SYNC_SPAN + 4096));
        ec_chain *c;
        CHECK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 0) == EC_EFORMAT);
        char want[64], at[64];
        snprintf(want, sizeof want, ": event %zu: ", first);
        snprintf(at, sizeof at, "byte offset %zu: damage", offs[first]);
        CHECK(du_contains(ec_error_last()->message, want));
        CHECK(du_contains(ec_error_last()->message, at));
        CHECK(du_file_size(seg) == (long)(offs[first] + EC_SYNC_SPAN + 4096));
        z[offs[first] + EC_SYNC_SPAN + 100] = 0;
    }
    CHECK(tried >= 3);
    /* a flipped byte in the last frame, zeros after it: damage, not a torn write */
    memcpy(z, img, len);
    z[offs[M - 1] + 40] ^= 1;
    REQUIRE_OK(spit(seg, z, len + Z));
    ec_chain *c;
    CHECK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 0) == EC_EFORMAT);
    CHECK(du_contains(ec_error_last()->message, "record checksum mismatch"));
    CHECK(du_file_size(seg) == (long)(len + Z));
    free(z);
    free(img);
}

/* Flip every byte of the last record and of a middle record in turn: a writer refuses the
 * chain, naming the record and its offset; a reader opens it and reads up to the record,
 * which it counts as the last one and reports, in the same form, wherever it is read
 * (verify, get, the head), so the reading commands list what precedes the damage. */
static void flipped_bytes_reported(void)
{
    char dir[300], seg[400];
    path_in(dir, sizeof dir, "flip");
    REQUIRE_OK(make_chain(dir, 0, N));
    snprintf(seg, sizeof seg, "%s/seg-0000000000000000.log", dir);
    size_t len;
    uint8_t *img = slurp(seg, &len);
    REQUIRE(img);
    size_t offs[64];
    REQUIRE(frames(img, len, offs, 64) == N);
    const int victims[] = {N - 1, 7};
    int missed = 0;
    for (int v = 0; v < 2; v++) {
        size_t a = offs[victims[v]], b = victims[v] == N - 1 ? len : offs[victims[v] + 1];
        char want[96];
        snprintf(want, sizeof want, "event %d: ", victims[v]);
        char at[64];
        snprintf(at, sizeof at, "(seg-0000000000000000.log, byte offset %zu: damage", a);
        for (size_t p = a; p < b; p++) {
            img[p] ^= 0x01;
            REQUIRE_OK(spit(seg, img, len));
            img[p] ^= 0x01;
            ec_chain *c = NULL;
            int rc = du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 0);
            if (rc != EC_EFORMAT || !du_contains(ec_error_last()->message, want) ||
                !du_contains(ec_error_last()->message, at)) {
                fprintf(stderr, "flip at %zu (writer): rc %d: %s\n", p, rc,
                        rc ? ec_error_last()->message : "opened");
                missed++;
            }
            if (!rc)
                ec_chain_free(c);
            c = NULL;
            rc = du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 1);
            ec_verify_result res;
            memset(&res, 0, sizeof res);
            ec_event ev;
            uint8_t h[EC_HASH_MAX];
            const char *bad = NULL;
            if (rc)
                bad = "not opened";
            else if (ec_chain_count(c) != (uint64_t)victims[v] + 1)
                bad = "count is not up to the damaged record";
            else if (ec_chain_verify(c, NULL, &res) != EC_EVERIFY ||
                     res.seq != (uint64_t)victims[v] || res.status != EC_VERIFY_UNREADABLE ||
                     !du_contains(res.reason, at + 1) || du_contains(res.reason, "event "))
                bad = "verify";
            else if (ec_chain_get(c, (uint64_t)victims[v], &ev) != EC_EFORMAT ||
                     !du_contains(ec_error_last()->message, want))
                bad = "get of the damaged record";
            else if (ec_chain_get(c, (uint64_t)victims[v] - 1, &ev) != 0)
                bad = "get of the record before it";
            else if (ec_chain_head(c, h, NULL) != EC_EFORMAT)
                bad = "head";
            if (bad) {
                fprintf(stderr, "flip at %zu (reader): %s: %s\n", p, bad,
                        ec_error_last() ? ec_error_last()->message : "");
                missed++;
            }
            ec_chain_free(c);
            CHECK(du_file_size(seg) == (long)len); /* never cut away */
        }
    }
    CHECK(missed == 0);
    REQUIRE_OK(spit(seg, img, len));
    CHECK_OK(opens_with(dir, N));
    free(img);
}

/* Damage inside a sealed segment is found when read: by verify, get and iteration. */
static void sealed_damage_found_on_read(void)
{
    char dir[300], seg[400];
    path_in(dir, sizeof dir, "sealed");
    REQUIRE_OK(make_chain(dir, 4096, 120));
    snprintf(seg, sizeof seg, "%s/seg-0000000000000000.log", dir);
    size_t len;
    uint8_t *img = slurp(seg, &len);
    REQUIRE(img);
    size_t offs[64];
    size_t nf = frames(img, len, offs, 64);
    REQUIRE(nf > 10);
    const size_t where[] = {0, 5, 11, 40, 80}; /* len, dcrc, hcrc, seq field, data */
    for (size_t k = 0; k < sizeof where / sizeof where[0]; k++) {
        size_t p = offs[6] + where[k];
        img[p] ^= 0x20;
        REQUIRE_OK(spit(seg, img, len));
        img[p] ^= 0x20;
        ec_chain *c;
        REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 1));
        ec_verify_result res;
        CHECK(ec_chain_verify(c, NULL, &res) == EC_EVERIFY);
        CHECK(res.seq == 6 && res.status == EC_VERIFY_UNREADABLE);
        char want[64];
        snprintf(want, sizeof want, "byte offset %zu", offs[6]);
        CHECK(du_contains(res.reason, want));
        ec_event ev;
        CHECK(ec_chain_get(c, 6, &ev) == EC_EFORMAT);
        CHECK(du_contains(ec_error_last()->message, ": event 6: "));
        CHECK_OK(ec_chain_get(c, 5, &ev));
        ec_chain_free(c);
    }
    REQUIRE_OK(spit(seg, img, len));
    CHECK_OK(opens_with(dir, 120));
    free(img);
}

static void missing_segments_reported(void)
{
    char dir[300], p[400], q[400];
    path_in(dir, sizeof dir, "missing");
    REQUIRE_OK(make_chain(dir, 4096, 120));
    ec_chain *c;
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 1));
    ec_event ev;
    REQUIRE_OK(ec_chain_get(c, 119, &ev));
    uint64_t mid_first = 0, last_first = 0;
    /* find a middle and the last segment by their names' seqs */
    for (uint64_t s = 1; s < 120; s++) {
        snprintf(p, sizeof p, "%s/seg-%016llx.log", dir, (unsigned long long)s);
        if (du_file_size(p) > 0) {
            if (!mid_first)
                mid_first = s;
            last_first = s;
        }
    }
    ec_chain_free(c);
    REQUIRE(mid_first && last_first > mid_first);
    char back[300];
    path_in(back, sizeof back, "backup");
    REQUIRE_OK(du_copy_dir(dir, back));

    snprintf(p, sizeof p, "%s/seg-%016llx.log", dir, (unsigned long long)mid_first);
    REQUIRE(unlink(p) == 0);
    for (int ro = 0; ro < 2; ro++) {
        CHECK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, ro) == EC_EFORMAT);
        snprintf(q, sizeof q, "seqs %llu..", (unsigned long long)mid_first);
        CHECK(du_contains(ec_error_last()->message, q));
        CHECK(du_contains(ec_error_last()->message, "missing"));
    }
    REQUIRE_OK(du_copy_dir(back, dir));
    snprintf(p, sizeof p, "%s/seg-%016llx.log", dir, (unsigned long long)last_first);
    REQUIRE(unlink(p) == 0);
    CHECK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 0) == EC_EFORMAT);
    snprintf(q, sizeof q, "seq %llu on", (unsigned long long)last_first);
    CHECK(du_contains(ec_error_last()->message, q));
    REQUIRE_OK(du_copy_dir(back, dir));
    snprintf(p, sizeof p, "%s/seg-0000000000000000.log", dir);
    REQUIRE(unlink(p) == 0);
    CHECK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 1) == EC_EFORMAT);
    CHECK(du_contains(ec_error_last()->message, "seqs 0.."));
    REQUIRE_OK(du_copy_dir(back, dir));
    CHECK_OK(opens_with(dir, 120));
    du_rmtree(back);
}

static void stale_and_missing_indexes_rebuilt(void)
{
    char dir[300], p[400], q[400];
    path_in(dir, sizeof dir, "index");
    REQUIRE_OK(make_chain(dir, 4096, 120));
    snprintf(p, sizeof p, "%s/seg-0000000000000000.idx", dir);
    size_t len0;
    uint8_t *idx0 = slurp(p, &len0);
    REQUIRE(idx0);
    /* find the second segment's index and put the first one's in its place: stale */
    uint64_t second = 0;
    for (uint64_t s = 1; s < 120 && !second; s++) {
        snprintf(q, sizeof q, "%s/seg-%016llx.idx", dir, (unsigned long long)s);
        if (du_file_size(q) > 0)
            second = s;
    }
    REQUIRE(second);
    REQUIRE_OK(spit(q, idx0, len0));
    CHECK(unlink(p) == 0); /* and the first one missing */
    CHECK_OK(opens_with(dir, 120));
    size_t l2;
    uint8_t *again = slurp(q, &l2);
    CHECK(again && (l2 != len0 || memcmp(again, idx0, len0) != 0)); /* rewritten */
    CHECK(du_file_size(p) == (long)len0);
    free(again);
    /* a truncated index header */
    REQUIRE(du_truncate(p, 10) == 0);
    CHECK_OK(opens_with(dir, 120));
    free(idx0);
}

static void damaged_headers(void)
{
    char dir[300], p[400];
    path_in(dir, sizeof dir, "headers");
    REQUIRE_OK(make_chain(dir, 0, 3));
    ec_chain *c;
    snprintf(p, sizeof p, "%s/EVCHAIN", dir);
    REQUIRE_OK(du_flip(p, 13, 0xff));
    CHECK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 1) == EC_EFORMAT);
    CHECK(du_contains(ec_error_last()->message, "EVCHAIN header"));
    REQUIRE_OK(du_flip(p, 13, 0xff));
    snprintf(p, sizeof p, "%s/seg-0000000000000000.log", dir);
    REQUIRE_OK(du_flip(p, 15, 0x01));
    CHECK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 0) == EC_EFORMAT);
    CHECK(du_contains(ec_error_last()->message, "segment header"));
    REQUIRE_OK(du_flip(p, 15, 0x01));
    CHECK_OK(opens_with(dir, 3));
}

/* Frames intact but a record altered (checksums recomputed, as a forger would): the writer
 * refuses to append to it; a reader opens it and verification names the seq. */
static void forged_tail_refused(void)
{
    char dir[300], seg[400];
    path_in(dir, sizeof dir, "forged");
    REQUIRE_OK(make_chain(dir, 0, N));
    snprintf(seg, sizeof seg, "%s/seg-0000000000000000.log", dir);
    size_t len;
    uint8_t *img = slurp(seg, &len);
    REQUIRE(img);
    size_t offs[64];
    REQUIRE(frames(img, len, offs, 64) == N);
    uint8_t *f = img + offs[N - 3];
    uint32_t rl = ec_get_u32(f) & ~EC_FRAME_SYNCED;
    f[EC_FRAME_HEADER_LEN + rl - 40] ^= 0x04; /* a data byte */
    ec_put_u32(f + 4, ec_crc32c(0, f + EC_FRAME_HEADER_LEN, rl));
    ec_put_u32(f + 8, ec_crc32c(0, f, 8));
    REQUIRE_OK(spit(seg, img, len));
    ec_chain *c;
    CHECK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 0) == EC_EVERIFY);
    CHECK(du_contains(ec_error_last()->message, "seq 17"));
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 1));
    ec_verify_result res;
    CHECK(ec_chain_verify(c, NULL, &res) == EC_EVERIFY);
    CHECK(res.seq == 17 && res.status == EC_VERIFY_HASH_MISMATCH);
    ec_chain_free(c);
    free(img);
}

/* The audit's fault 1: a sector of zeros in a record that was synced, with records after it
 * that were synced too (each appended under `always`, or a later `batch` group), looked like
 * a torn group: a reader counted the chain short and called it fine, and a writer cut the
 * acknowledged records off. A later frame carrying EC_FRAME_SYNCED proves the zeroed one was
 * synced before it was written: damage, reported with its seq, nothing cut. */
static void zeros_before_synced_records(void)
{
    enum { M = 60 };
    char dir[300], seg[400];
    path_in(dir, sizeof dir, "synced");
    REQUIRE_OK(make_chain(dir, 0, M));
    snprintf(seg, sizeof seg, "%s/seg-0000000000000000.log", dir);
    size_t len;
    uint8_t *img = slurp(seg, &len);
    REQUIRE(img);
    size_t offs[M + 1];
    REQUIRE(frames(img, len, offs, M) == M);
    offs[M] = len;
    uint8_t *z = malloc(len);
    REQUIRE(z);
    for (int group = 0; group < 2; group++) {
        /* group 1: the last 12 frames are one later `batch` group, only its first flagged */
        if (group)
            for (int i = M - 11; i < M; i++)
                set_synced(img + offs[i], 0);
        int tried = 0;
        for (size_t sec = (offs[20] + 511) / 512 * 512; sec + 512 < offs[M - 12]; sec += 512) {
            size_t first = 0;
            while (offs[first + 1] <= sec)
                first++;
            memcpy(z, img, len);
            memset(z + sec, 0, 512);
            REQUIRE_OK(spit(seg, z, len));
            ec_chain *c;
            CHECK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 0) == EC_EFORMAT);
            char want[64], at[64];
            snprintf(want, sizeof want, ": event %zu: a sector of zeros", first);
            snprintf(at, sizeof at, "byte offset %zu: damage", offs[first]);
            CHECK(du_contains(ec_error_last()->message, want));
            CHECK(du_contains(ec_error_last()->message, "acknowledged records after it"));
            CHECK(du_contains(ec_error_last()->message, at));
            CHECK(du_file_size(seg) == (long)len); /* nothing cut */
            /* a reader reads up to it and reports it: not "ok" with fewer events */
            REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 1));
            CHECK(ec_chain_count(c) == first + 1);
            ec_verify_result res;
            CHECK(ec_chain_verify(c, NULL, &res) == EC_EVERIFY);
            CHECK(res.seq == first && res.status == EC_VERIFY_UNREADABLE);
            ec_chain_free(c);
            tried++;
        }
        CHECK(tried >= 10);
    }
    free(z);
    free(img);
}

/* A version 1 chain (no EC_FRAME_SYNCED) is read and written as before: the same zeros with
 * intact records after them are taken for a torn group and cut, and the cut says how many
 * intact-looking records went, from which seq, and that whether they were acknowledged is
 * not known. A writer given min_count (the size a signed checkpoint covers) refuses instead,
 * cutting nothing. */
static void version1_zeros_cut_and_said(void)
{
    enum { M = 60 };
    char dir[300], seg[400];
    path_in(dir, sizeof dir, "v1");
    REQUIRE_OK(make_chain(dir, 0, M));
    REQUIRE_OK(set_dir_version(dir, EC_DIR_VERSION_1));
    snprintf(seg, sizeof seg, "%s/seg-0000000000000000.log", dir);
    size_t len;
    uint8_t *img = slurp(seg, &len);
    REQUIRE(img);
    size_t offs[M + 1];
    REQUIRE(frames(img, len, offs, M) == M);
    offs[M] = len;
    for (int i = 0; i < M; i++)
        set_synced(img + offs[i], 0); /* version 1 frames */
    REQUIRE_OK(spit(seg, img, len));
    CHECK_OK(opens_with(dir, M));
    size_t sec = (offs[40] + 511) / 512 * 512, first = 0;
    while (offs[first + 1] <= sec)
        first++;
    size_t next = first + 1; /* the first intact frame after the sector */
    while (offs[next] < sec + 512)
        next++;
    memset(img + sec, 0, 512);
    REQUIRE_OK(spit(seg, img, len));
    /* bounded by a checkpoint's size: refused, nothing cut */
    ec_disk_options o = EC_DISK_OPTIONS_INIT;
    ec_disk_cut cut;
    o.cut_out = &cut;
    o.min_count = M;
    ec_chain *c;
    CHECK(du_open_with(&c, dir, &o) == EC_EVERIFY);
    CHECK(du_contains(ec_error_last()->message, "must keep 60 events"));
    CHECK(du_file_size(seg) == (long)len);
    CHECK(cut.bytes == 0);
    /* unbounded: cut, and said */
    o.min_count = first;
    REQUIRE_OK(du_open_with(&c, dir, &o));
    CHECK(ec_chain_count(c) == first);
    ec_chain_free(c);
    CHECK(du_file_size(seg) == (long)offs[first]);
    CHECK(cut.offset == offs[first] && cut.bytes == len - offs[first]);
    CHECK(cut.seq == first && cut.intact == M - next && cut.intact_seq == next);
    CHECK(cut.unknown == 1);
    char note[1024], want[128];
    CHECK(ec_disk_cut_describe(note, sizeof note, &cut) == 2);
    snprintf(want, sizeof want,
             "seq %zu on: a sector of zeros, then %zu intact-looking records from seq %zu", first,
             M - next, next);
    CHECK(du_contains(note, want));
    CHECK(du_contains(note, "not known"));
    CHECK(!du_contains(note, "never acknowledged"));
    /* a version 1 chain stays version 1: its writer's frames carry no flag */
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 0));
    CHECK_OK(du_append(c, first, 80, NULL));
    ec_chain_free(c);
    free(img);
    img = slurp(seg, &len);
    REQUIRE(img);
    CHECK(len > offs[first] && !(ec_get_u32(img + offs[first]) & EC_FRAME_SYNCED));
    CHECK_OK(opens_with(dir, first + 1));
    free(img);
}

/* The in-memory segment reader the fuzz harness drives agrees with the file reader. */
static void image_scanner(void)
{
    char dir[300], seg[400];
    path_in(dir, sizeof dir, "image");
    REQUIRE_OK(make_chain(dir, 0, N));
    snprintf(seg, sizeof seg, "%s/seg-0000000000000000.log", dir);
    size_t len;
    uint8_t *img = slurp(seg, &len);
    REQUIRE(img);
    uint64_t n = 0, end = 0;
    CHECK_OK(ec_disk_scan_image(img, len, EC_DIR_VERSION, &n, &end));
    CHECK(n == N && end == len);
    CHECK_OK(ec_disk_scan_image(img, len - 5, EC_DIR_VERSION, &n, &end)); /* torn: fine, shorter */
    CHECK(n == N - 1 && end < len);
    img[len - 5] ^= 1;
    CHECK(ec_disk_scan_image(img, len, EC_DIR_VERSION, &n, &end) == EC_EFORMAT);
    CHECK(ec_disk_scan_image(img, 10, EC_DIR_VERSION, &n, &end) == EC_EFORMAT);
    free(img);
}

int main(void)
{
    if (du_tmpdir(root, sizeof root, "damage")) {
        perror("mkdtemp");
        return 2;
    }
    RUN(torn_tail_every_offset);
    RUN(flipped_bytes_reported);
    RUN(torn_group_in_zeros);
    RUN(zeros_before_synced_records);
    RUN(version1_zeros_cut_and_said);
    RUN(sealed_damage_found_on_read);
    RUN(missing_segments_reported);
    RUN(stale_and_missing_indexes_rebuilt);
    RUN(damaged_headers);
    RUN(forged_tail_refused);
    RUN(image_scanner);
    du_rmtree(root);
    TEST_END();
}
