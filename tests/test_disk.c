/* tests/test_disk.c: the disk backend through the chain API: reopen, segments and their
 * indexes, the three durability policies, many threads, one writer and live readers, and
 * faults injected behind the vfs seam (full disk, failed sync, read-only directory). */
#include "disk_util.h"
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include "test.h"
#include "core/internal.h"
#include "store/disk_internal.h"
#include "store/vfs.h"

static char root[256];

static void path_in(char *out, size_t n, const char *name)
{
    static int k;
    snprintf(out, n, "%s/%s-%d", root, name, k++);
}

/* Bit-at-a-time CRC32C: the definition, to check the fast paths against. */
static uint32_t crc_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

static void crc_vectors(void)
{
    uint8_t buf[1300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 131 + (i >> 5));
    int bad = 0;
    for (size_t n = 0; n <= sizeof buf - 7; n++) /* every length, odd alignments too */
        bad += ec_crc32c(0, buf + n % 7, n) != crc_ref(buf + n % 7, n);
    CHECK(bad == 0);
    CHECK(ec_crc32c(0, "123456789", 9) == 0xE3069283u);
    CHECK(ec_crc32c(0, "", 0) == 0);
    /* incremental equals one shot, at every split (the hardware path works 8 bytes at once) */
    const char *s = "The quick brown fox jumps over the lazy dog, twice over.";
    size_t n = strlen(s);
    uint32_t whole = ec_crc32c(0, s, n);
    for (size_t k = 0; k <= n; k++)
        CHECK(ec_crc32c(ec_crc32c(0, s, k), s + k, n - k) == whole);
}

/* FORMAT.md section 4's vectors: a directory holding the records of section 1's vectors 1
 * and 2, rolled by a 4000-byte third event, is byte for byte tests/vectors/disk/ (which
 * docs/disk_vectors.py recomputes from the spec alone). */
static int file_is_hex(const char *path, const char *hexfile)
{
    FILE *h = fopen(hexfile, "r");
    if (!h)
        return 0;
    static char hex[8192];
    size_t n = fread(hex, 1, sizeof hex - 1, h);
    fclose(h);
    while (n && (hex[n - 1] == '\n' || hex[n - 1] == ' '))
        n--;
    static uint8_t want[4096], got[4096];
    if (n % 2 || ec_hex_decode(want, n / 2, hex, n) != 0)
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t g = fread(got, 1, sizeof got, f);
    fclose(f);
    return g == n / 2 && memcmp(got, want, g) == 0;
}

static void format_vectors(void)
{
    static const char *rec_hex[] = {
        "6576636861696e0101020000000000000000187b656d7ede00000000000d72756e74696d652f73746172"
        "740000000d6163746f722073746172746564000000137b226163746f72223a22636f756e746572227d"
        "c9fba897e80487aff7ab32ed670774d12f39a8adb76acb3ae09385de582ca309",
        "6576636861696e0101010000000000000001187b656d7ede0001c9fba897e80487aff7ab32ed670774d1"
        "2f39a8adb76acb3ae09385de582ca3090000000a74696d65722f7469636b00000000"
        "b6ac09e236831bdfadb3cfe3f1af94e2b959060ca8f00ff3cad8659aee666cd1"};
    char dir[300], p[400];
    path_in(dir, sizeof dir, "vectors");
    ec_chain *c;
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_ALWAYS, 4096, 0));
    for (int i = 0; i < 2; i++) {
        uint8_t rec[256];
        size_t n = strlen(rec_hex[i]);
        REQUIRE_OK(ec_hex_decode(rec, n / 2, rec_hex[i], n));
        REQUIRE_OK(ec_chain_append_record(c, rec, n / 2));
    }
    static char pad[4000];
    memset(pad, 'x', sizeof pad);
    ec_event_input in = {
        .type = "pad", .data = pad, .data_len = sizeof pad, .timestamp = 1764115200000000002ull};
    REQUIRE_OK(ec_chain_append(c, &in, NULL, NULL));
    ec_chain_free(c);
    static const char *names[] = {"EVCHAIN", "seg-0000000000000000.log",
                                  "seg-0000000000000000.idx"};
    for (int i = 0; i < 3; i++) {
        char hexfile[200];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        snprintf(hexfile, sizeof hexfile, "tests/vectors/disk/%s.hex", names[i]);
        CHECK(file_is_hex(p, hexfile));
    }
}

static void reopen_keeps_everything(void)
{
    char dir[300];
    path_in(dir, sizeof dir, "reopen");
    ec_chain *c;
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_ALWAYS, 0, 0));
    uint8_t hashes[50][EC_HASH_MAX];
    for (uint64_t i = 0; i < 50; i++)
        REQUIRE_OK(du_append(c, i, 40 + i, hashes[i]));
    ec_chain_free(c);

    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 0));
    CHECK(ec_chain_count(c) == 50);
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    for (uint64_t i = 0; i < 50; i++) {
        ec_event ev;
        REQUIRE_OK(ec_chain_get(c, i, &ev));
        CHECK(ev.seq == i && ev.data_len == 40 + i && memcmp(ev.hash, hashes[i], 32) == 0);
        uint64_t s = 99;
        CHECK_OK(ec_chain_find(c, hashes[i], 32, &s));
        CHECK(s == i);
    }
    uint8_t nothere[32] = {1, 2, 3};
    uint64_t s;
    CHECK(ec_chain_find(c, nothere, 32, &s) == EC_ENOTFOUND);
    /* appending continues the same chain; new events are found at once */
    uint8_t h50[EC_HASH_MAX];
    REQUIRE_OK(du_append(c, 50, 10, h50));
    CHECK_OK(ec_chain_find(c, h50, 32, &s));
    CHECK(s == 50);
    CHECK_OK(ec_chain_find(c, hashes[3], 32, &s));
    CHECK(s == 3);
    ec_event ev;
    REQUIRE_OK(ec_chain_get(c, 50, &ev));
    CHECK(ev.parent_hash && memcmp(ev.parent_hash, hashes[49], 32) == 0);
    ec_chain_free(c);

    /* creating over it is refused; a directory that is not a chain is named as such */
    ec_backend *be;
    ec_disk_options o = EC_DISK_OPTIONS_INIT;
    o.create = 1;
    CHECK(ec_backend_disk(&be, dir, &o) == EC_EEXISTS);
    CHECK(du_contains(ec_error_last()->message, "not empty"));
    o.create = 0;
    CHECK(ec_backend_disk(&be, root, &o) == EC_ENOTFOUND);
    CHECK(du_contains(ec_error_last()->message, "not a chain directory"));
}

static void sha1_chain(void)
{
    char dir[300];
    path_in(dir, sizeof dir, "sha1");
    ec_disk_options o = EC_DISK_OPTIONS_INIT;
    o.create = 1;
    o.alg = EC_HASH_SHA1;
    ec_backend *be;
    ec_chain *c;
    REQUIRE_OK(ec_backend_disk(&be, dir, &o));
    REQUIRE_OK(ec_chain_open(&c, be, NULL));
    CHECK(ec_chain_alg(c) == EC_HASH_SHA1);
    for (uint64_t i = 0; i < 5; i++)
        REQUIRE_OK(du_append(c, i, 30, NULL));
    ec_chain_free(c);
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 1));
    CHECK(ec_chain_alg(c) == EC_HASH_SHA1 && ec_chain_count(c) == 5);
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    ec_chain_free(c);
}

/* The segment size's maximum, 2^31 (the index stores 4-byte frame offsets): taken, and one
 * byte more refused with EC_EINVAL naming it, creating nothing (it was clamped silently). */
static void segment_size_limit(void)
{
    char dir[300];
    ec_chain *c;
    path_in(dir, sizeof dir, "segmax");
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_NONE, EC_SEGMENT_BYTES_MAX, 0));
    REQUIRE_OK(du_append(c, 0, 30, NULL));
    ec_chain_free(c);
    path_in(dir, sizeof dir, "segmax");
    CHECK(du_open(&c, dir, 1, EC_DURABLE_NONE, EC_SEGMENT_BYTES_MAX + 1, 0) == EC_EINVAL);
    CHECK(ec_error_last() && strstr(ec_error_last()->message, "2147483648"));
    CHECK(access(dir, F_OK) != 0);
    CHECK(du_open(&c, dir, 1, EC_DURABLE_NONE, 5000000000ull, 0) == EC_EINVAL);
}

/* Small segments: many rolls, index files, finds across sealed segments, rebuilt indexes. */
static void segments_and_indexes(void)
{
    char dir[300], p[400];
    path_in(dir, sizeof dir, "segs");
    ec_chain *c;
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_ALWAYS, 4096, 0));
    enum { N = 400 };
    static uint8_t h[N][EC_HASH_MAX];
    for (uint64_t i = 0; i < N; i++)
        REQUIRE_OK(du_append(c, i, 100, h[i]));
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    ec_chain_free(c);
    snprintf(p, sizeof p, "%s/seg-0000000000000000.idx", dir);
    CHECK(du_file_size(p) > 0);
    snprintf(p, sizeof p, "%s/seg-0000000000000000.log", dir);
    CHECK(du_file_size(p) <= 4096);

    for (int round = 0; round < 3; round++) {
        if (round == 1) { /* indexes deleted: rebuilt */
            snprintf(p, sizeof p, "%s/seg-0000000000000000.idx", dir);
            CHECK(unlink(p) == 0);
        }
        if (round == 2) { /* index body damaged: detected by its checksum, rebuilt */
            snprintf(p, sizeof p, "%s/seg-0000000000000000.idx", dir);
            CHECK(du_flip(p, EC_IDX_HEADER_LEN + 2, 0x40) == 0);
        }
        for (int ro = 0; ro < 2; ro++) {
            REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 4096, ro));
            CHECK(ec_chain_count(c) == N);
            CHECK_OK(ec_chain_verify(c, NULL, NULL));
            for (uint64_t i = 0; i < N; i += 7) {
                uint64_t s = 0;
                CHECK_OK(ec_chain_find(c, h[i], 32, &s));
                CHECK(s == i);
                ec_event ev;
                REQUIRE_OK(ec_chain_get(c, i, &ev));
                CHECK(memcmp(ev.hash, h[i], 32) == 0);
            }
            /* iterate from the middle of a sealed segment across several rolls */
            ec_iter *it;
            REQUIRE_OK(ec_iter_new(&it, c, 123));
            ec_event ev;
            uint64_t want = 123;
            while (ec_iter_next(it, &ev) == 0) {
                CHECK(ev.seq == want && memcmp(ev.hash, h[want], 32) == 0);
                want++;
            }
            ec_iter_free(it);
            CHECK(want == N);
            ec_chain_free(c);
        }
        snprintf(p, sizeof p, "%s/seg-0000000000000000.idx", dir);
        CHECK(du_file_size(p) > 0); /* the writer wrote it back */
    }
}

/* Entries of dir whose name ends with ext ("" for all, . and .. included); -1 when dir
 * cannot be read. */
static int count_files(const char *dir, const char *ext)
{
    int n = 0;
    DIR *dd = opendir(dir);
    if (!dd)
        return -1;
    struct dirent *e;
    while ((e = readdir(dd)) != NULL) {
        size_t l = strlen(e->d_name), el = strlen(ext);
        n += l >= el && strcmp(e->d_name + l - el, ext) == 0;
    }
    closedir(dd);
    return n;
}

/* A roll hands the sealed segment's index file to the writer's indexer thread: lookups in
 * the sealed segments keep working meanwhile (from memory, then from the file), a sync
 * waits for the files, and closing leaves every one of them written. */
static void indexes_in_background(void)
{
    char dir[300];
    path_in(dir, sizeof dir, "bgidx");
    ec_chain *c;
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_BATCH, 4096, 0));
    enum { N = 400 };
    static uint8_t h[N][EC_HASH_MAX];
    int bad = 0, rolls = 0, segs = 1;
    ec_backend *be = ec_chain_backend(c);
    for (uint64_t i = 0; i < N; i++) {
        REQUIRE_OK(du_append(c, i, 100, h[i]));
        if (i % 3 == 0 && count_files(dir, ".log") > segs) { /* it rolled: sync, then look */
            segs = count_files(dir, ".log");
            REQUIRE_OK(be->sync(be));
            bad += count_files(dir, ".idx") != segs - 1;
            rolls++;
        }
        for (uint64_t k = i % 13; k <= i; k += 37) { /* races the indexer on purpose */
            uint64_t s = 0;
            ec_event ev;
            bad += ec_chain_find(c, h[k], 32, &s) != 0 || s != k;
            bad += ec_chain_get(c, k, &ev) != 0 || memcmp(ev.hash, h[k], 32) != 0;
        }
    }
    CHECK(bad == 0);
    CHECK(rolls > 5);
    for (uint64_t i = N; i < N + 60; i++) /* more rolls, then close at once */
        REQUIRE_OK(du_append(c, i, 100, NULL));
    uint64_t n = ec_chain_count(c);
    ec_chain_free(c);
    segs = count_files(dir, ".log");
    CHECK(count_files(dir, ".idx") == segs - 1); /* closing waited for the indexer */
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_BATCH, 0, 0));
    CHECK(ec_chain_count(c) == n);
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    ec_chain_free(c);
}

/* Events larger than a segment and than one iterator read (256 KiB) each get their own
 * segment and read back whole. */
static void big_events(void)
{
    char dir[300];
    path_in(dir, sizeof dir, "big");
    ec_chain *c;
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_ALWAYS, 4096, 0));
    static const size_t sizes[] = {10, 1u << 20, 20, 300000, 5, 3u << 20};
    size_t maxs = 3u << 20;
    uint8_t *buf = malloc(maxs);
    REQUIRE(buf);
    for (size_t i = 0; i < 6; i++) {
        for (size_t k = 0; k < sizes[i]; k++)
            buf[k] = (uint8_t)(k * 31 + i);
        ec_event_input in = {.type = "big", .data = buf, .data_len = sizes[i]};
        REQUIRE_OK(ec_chain_append(c, &in, NULL, NULL));
    }
    ec_chain_free(c);
    for (int ro = 0; ro < 2; ro++) {
        REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 4096, ro));
        CHECK_OK(ec_chain_verify(c, NULL, NULL));
        ec_iter *it;
        REQUIRE_OK(ec_iter_new(&it, c, 0));
        ec_event ev;
        size_t i = 0;
        while (ec_iter_next(it, &ev) == 0) {
            CHECK(ev.data_len == sizes[i] && (sizes[i] < 2 || ev.data[1] == (uint8_t)(31 + i)));
            i++;
        }
        ec_iter_free(it);
        CHECK(i == 6);
        ec_chain_free(c);
    }
    free(buf);
}

static int open_fds(void)
{
    return count_files("/proc/self/fd", "");
}

/* Hundreds of segments: descriptors stay bounded while every segment is read and searched. */
static void many_segments(void)
{
    char dir[300];
    path_in(dir, sizeof dir, "many");
    ec_chain *c;
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_NONE, 4096, 0));
    enum { N = 1000 }; /* about 90 segments: 180 files, well past FD_CAP */
    static uint8_t h[N][EC_HASH_MAX];
    for (uint64_t i = 0; i < N; i++)
        REQUIRE_OK(du_append(c, i, 300, h[i]));
    ec_chain_free(c);
    int before = open_fds();
    for (int ro = 0; ro < 2; ro++) {
        REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 4096, ro));
        CHECK(ec_chain_count(c) == N);
        CHECK_OK(ec_chain_verify(c, NULL, NULL));
        for (uint64_t i = 0; i < N; i += 13) {
            uint64_t s = 0;
            CHECK_OK(ec_chain_find(c, h[i], 32, &s));
            CHECK(s == i);
        }
        CHECK(open_fds() - before < 80); /* FD_CAP (64) and a few */
        ec_chain_free(c);
    }
    CHECK(open_fds() == before);
}

struct thr {
    ec_chain *c;
    int id, n, failed;
};

static void *appender(void *arg)
{
    struct thr *t = arg;
    for (int i = 0; i < t->n; i++) {
        char data[64];
        int l = snprintf(data, sizeof data, "thread %d event %d", t->id, i);
        ec_event_input in = {.type = "test/thread", .data = data, .data_len = (size_t)l};
        if (ec_chain_append(t->c, &in, NULL, NULL))
            t->failed++;
    }
    return NULL;
}

static void policies_and_threads(void)
{
    static const ec_durability pol[] = {EC_DURABLE_ALWAYS, EC_DURABLE_BATCH, EC_DURABLE_NONE};
    for (int k = 0; k < 3; k++) {
        char dir[300];
        path_in(dir, sizeof dir, ec_durability_name(pol[k]));
        ec_chain *c;
        REQUIRE_OK(du_open(&c, dir, 1, pol[k], 8192, 0));
        enum { T = 4 };
        int per = pol[k] == EC_DURABLE_ALWAYS ? 25 : 300;
        struct thr t[T];
        pthread_t th[T];
        for (int i = 0; i < T; i++) {
            t[i] = (struct thr){c, i, per, 0};
            pthread_create(&th[i], NULL, appender, &t[i]);
        }
        for (int i = 0; i < T; i++) {
            pthread_join(th[i], NULL);
            CHECK(t[i].failed == 0);
        }
        CHECK(ec_chain_count(c) == (uint64_t)(T * per));
        /* readable before close, buffered or not */
        ec_verify_options vo = EC_VERIFY_OPTIONS_INIT;
        vo.threads = 2;
        CHECK_OK(ec_chain_verify(c, &vo, NULL));
        ec_event ev;
        CHECK_OK(ec_chain_get(c, (uint64_t)(T * per - 1), &ev));
        ec_chain_free(c);
        REQUIRE_OK(du_open(&c, dir, 0, pol[k], 8192, 1));
        CHECK(ec_chain_count(c) == (uint64_t)(T * per));
        CHECK_OK(ec_chain_verify(c, &vo, NULL));
        ec_chain_free(c);
        CHECK(ec_durability_from_name(&(ec_durability){0}, ec_durability_name(pol[k])) == 0);
    }
    ec_durability d;
    CHECK(ec_durability_from_name(&d, "everysec") == EC_EUNSUPPORTED);
}

/* One writer at a time; readers any time, and they see what the writer appends. */
static void one_writer_live_readers(void)
{
    char dir[300];
    path_in(dir, sizeof dir, "lock");
    ec_chain *w, *w2 = NULL, *r;
    REQUIRE_OK(du_open(&w, dir, 1, EC_DURABLE_ALWAYS, 4096, 0));
    CHECK(du_open(&w2, dir, 0, EC_DURABLE_ALWAYS, 0, 0) == EC_ELOCKED);
    CHECK(du_contains(ec_error_last()->message, "another writer"));
    for (uint64_t i = 0; i < 10; i++)
        REQUIRE_OK(du_append(w, i, 200, NULL));
    REQUIRE_OK(du_open(&r, dir, 0, EC_DURABLE_ALWAYS, 0, 1));
    CHECK(ec_chain_count(r) == 10);
    ec_backend *rb = ec_chain_backend(r);
    for (uint64_t i = 10; i < 60; i++) /* rolls segments under the reader */
        REQUIRE_OK(du_append(w, i, 200, NULL));
    uint64_t n = 0;
    CHECK_OK(rb->count(rb, &n));
    CHECK(n == 60);
    ec_verifier v;
    ec_verifier_init(&v, EC_HASH_SHA256, 0, NULL);
    ec_backend_iter *it;
    REQUIRE_OK(rb->iter_new(rb, 0, &it));
    const uint8_t *rec;
    size_t len;
    uint64_t seen = 0;
    while (rb->iter_next(it, &rec, &len) == 0) {
        CHECK_OK(ec_verifier_feed(&v, rec, len, NULL));
        seen++;
    }
    rb->iter_free(it);
    CHECK(seen == 60);
    ec_chain_free(r);
    ec_chain_free(w);
    /* the lock goes with the writer */
    REQUIRE_OK(du_open(&w2, dir, 0, EC_DURABLE_ALWAYS, 0, 0));
    CHECK(ec_chain_count(w2) == 60);
    ec_chain_free(w2);
}

/* lock_wait_ms: a second writer waits for the first to let go, up to its bound. */
struct releaser {
    ec_chain *w;
    unsigned after_ms;
};

static void *release_later(void *arg)
{
    struct releaser *r = arg;
    usleep(r->after_ms * 1000u);
    ec_chain_free(r->w);
    return NULL;
}

static int open_waiting(ec_chain **c, const char *dir, unsigned version, unsigned wait_ms)
{
    ec_disk_options o = EC_DISK_OPTIONS_INIT;
    o.version = version;
    o.lock_wait_ms = wait_ms;
    return du_open_with(c, dir, &o);
}

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void writer_waits_for_lock(void)
{
    char dir[300];
    path_in(dir, sizeof dir, "lockwait");
    ec_chain *w, *w2 = NULL;
    REQUIRE_OK(du_open(&w, dir, 1, EC_DURABLE_ALWAYS, 0, 0));
    REQUIRE_OK(du_append(w, 0, 100, NULL));

    /* A bounded wait that runs out: refused, saying how long it waited. */
    uint64_t t0 = ms_now();
    CHECK(open_waiting(&w2, dir, EC_DISK_OPTIONS_VERSION, 150) == EC_ELOCKED);
    CHECK(du_contains(ec_error_last()->message, "waited 150 ms"));
    CHECK(ms_now() - t0 >= 150);
    /* Version 1 options have no lock_wait_ms: never read, so no wait at all. */
    t0 = ms_now();
    CHECK(open_waiting(&w2, dir, 1, 60000) == EC_ELOCKED);
    CHECK(ms_now() - t0 < 30000);
    CHECK(open_waiting(&w2, dir, 99, 0) == EC_EUNSUPPORTED);

    /* The first writer lets go after 200 ms: the second, waiting up to 20 s, gets the chain
     * then, and appends after the first writer's event. */
    struct releaser r = {w, 200};
    pthread_t th;
    /* t0 before the releaser starts: this thread descheduled between the two (a loaded
     * machine) used to shorten the wait measured below 150 ms */
    t0 = ms_now();
    REQUIRE(pthread_create(&th, NULL, release_later, &r) == 0);
    CHECK_OK(open_waiting(&w2, dir, EC_DISK_OPTIONS_VERSION, 20000));
    CHECK(ms_now() - t0 >= 150);
    pthread_join(th, NULL);
    if (w2) {
        CHECK(ec_chain_count(w2) == 1);
        CHECK_OK(du_append(w2, 1, 100, NULL));
        ec_chain_free(w2);
    }
}

/* A reader thread follows a writer thread as it appends and rolls segments (what
 * `evchain log -f` does across processes), verifying every record it sees. */
struct follower {
    const char *dir;
    uint64_t want, seen;
    int bad;
};

static void *follow_main(void *arg)
{
    struct follower *f = arg;
    ec_disk_options o = EC_DISK_OPTIONS_INIT;
    o.read_only = 1;
    ec_backend *be;
    if (ec_backend_disk(&be, f->dir, &o) != 0) {
        f->bad = 1;
        return NULL;
    }
    ec_verifier v;
    ec_verifier_init(&v, EC_HASH_SHA256, 0, NULL);
    time_t deadline = time(NULL) + 30; /* a hang is a failure, not a stuck test */
    while (f->seen < f->want && !f->bad && time(NULL) < deadline) {
        uint64_t n;
        if (be->count(be, &n) != 0) {
            f->bad = 2;
            break;
        }
        if (n <= f->seen) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
            continue;
        }
        ec_backend_iter *it;
        if (be->iter_new(be, f->seen, &it) != 0) {
            f->bad = 3;
            break;
        }
        const uint8_t *rec;
        size_t len;
        int rc;
        while ((rc = be->iter_next(it, &rec, &len)) == 0) {
            if (ec_verifier_feed(&v, rec, len, NULL) != 0)
                f->bad = 4;
            f->seen++;
        }
        if (rc != EC_ITEROVER)
            f->bad = 5;
        be->iter_free(it);
    }
    be->free(be);
    return NULL;
}

static void reader_follows_writer(void)
{
    char dir[300];
    path_in(dir, sizeof dir, "follow");
    ec_chain *c;
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_BATCH, 4096, 0));
    struct follower f = {dir, 600, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, follow_main, &f);
    for (uint64_t i = 0; i < 600; i++)
        REQUIRE_OK(du_append(c, i, 150, NULL));
    pthread_join(th, NULL);
    CHECK(f.bad == 0);
    CHECK(f.seen == 600);
    ec_chain_free(c);
}

/* Scan a segment file as a reader would: 0 when every frame is intact to the very end. */
static int seg_clean_to_end(const char *path, uint64_t *count)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    static uint8_t img[4u << 20];
    size_t len = fread(img, 1, sizeof img, f);
    fclose(f);
    uint64_t end = 0;
    int rc = ec_disk_scan_image(img, len, EC_DIR_VERSION, count, &end);
    return rc || end != len ? -1 : 0;
}

/* `batch` keeps the active segment zero-filled ahead of its data (a sync then overwrites
 * allocated blocks); readers see exactly the records, a sealed segment and a closed chain end
 * with their last frame. */
static void zeros_ahead(void)
{
    char dir[300], seg0[400], seg1[400];
    path_in(dir, sizeof dir, "zeros");
    snprintf(seg0, sizeof seg0, "%s/seg-%016llx.log", dir, 0ull);
    ec_chain *c, *r;
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_BATCH, 3u << 20, 0));
    for (uint64_t i = 0; i < 10; i++)
        REQUIRE_OK(du_append(c, i, 100, NULL));
    /* zeros ahead of ~1.5 KiB of frames: 64 KiB at first, doubling at each fill, so that a
     * slow chain does not keep a megabyte of zeros */
    CHECK(du_file_size(seg0) >= 64l << 10 && du_file_size(seg0) <= 128l << 10);
    uint64_t n = 0;
    CHECK(seg_clean_to_end(seg0, &n) != 0); /* the zeros are not frames... */
    REQUIRE_OK(du_open(&r, dir, 0, EC_DURABLE_ALWAYS, 0, 1));
    CHECK(ec_chain_count(r) == 10); /* ...and a reader stops before them */
    CHECK_OK(ec_chain_verify(r, NULL, NULL));
    ec_chain_free(r);
    uint64_t i = 10;
    for (; i < 2000; i++) {
        REQUIRE_OK(du_append(c, i, 4000, NULL));
        snprintf(seg1, sizeof seg1, "%s/seg-%016llx.log", dir, (unsigned long long)i);
        if (du_file_size(seg1) > 0)
            break;
    }
    REQUIRE(i < 2000);
    CHECK_OK(seg_clean_to_end(seg0, &n)); /* sealed: cut to its last frame, durably */
    CHECK(n == i);
    for (uint64_t k = i + 1; k < i + 20; k++)
        REQUIRE_OK(du_append(c, k, 100, NULL));
    CHECK(du_file_size(seg1) >= 64l << 10);
    ec_chain_free(c);
    CHECK_OK(seg_clean_to_end(seg1, &n)); /* closed: the zeros are gone */
    CHECK(n == 20);
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_BATCH, 0, 0));
    CHECK(ec_chain_count(c) == i + 20);
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    ec_chain_free(c);
}

/* ---- fault injection behind the vfs seam ---- */

static struct {
    int pwrite_fail_after; /* -1: never; else fail once this many more calls succeeded */
    int pwrite_errno;
    int short_write; /* fail by writing only part, then ENOSPC */
    int fdatasync_fail_after;
    int deny_writes; /* open for writing, mkdir, rename, unlink: EACCES */
    int calls;
} fx;

static ssize_t fx_pwrite(int fd, const void *b, size_t n, off_t off)
{
    fx.calls++;
    if (fx.pwrite_fail_after >= 0 && fx.pwrite_fail_after-- == 0) {
        if (fx.short_write && n > 1) {
            ssize_t w = pwrite(fd, b, n / 2, off);
            (void)w;
        }
        errno = fx.pwrite_errno;
        return -1;
    }
    return pwrite(fd, b, n, off);
}
static int fx_fdatasync(int fd)
{
    if (fx.fdatasync_fail_after >= 0 && fx.fdatasync_fail_after-- == 0) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}
static int fx_open(const char *p, int flags, mode_t mode)
{
    if (fx.deny_writes && (flags & (O_WRONLY | O_RDWR | O_CREAT))) {
        errno = EACCES;
        return -1;
    }
    return ec_vfs_posix.open(p, flags, mode);
}
static int fx_mkdir(const char *p, mode_t m)
{
    if (fx.deny_writes) {
        errno = EACCES;
        return -1;
    }
    return mkdir(p, m);
}

static ec_vfs fx_vfs;

static void fx_install(void)
{
    fx_vfs = ec_vfs_posix;
    fx_vfs.pwrite = fx_pwrite;
    fx_vfs.fdatasync = fx_fdatasync;
    fx_vfs.open = fx_open;
    fx_vfs.mkdir = fx_mkdir;
    memset(&fx, 0, sizeof fx);
    fx.pwrite_fail_after = fx.fdatasync_fail_after = -1;
    ec_vfs_set(&fx_vfs);
}

/* The chain's files byte for byte, to show a failure left them as they were. */
static long dir_bytes(const char *dir)
{
    char p[400];
    long total = 0;
    for (int k = 0; k < 64; k++) {
        snprintf(p, sizeof p, "%s/seg-%016llx.log", dir, (unsigned long long)k);
        long s = du_file_size(p);
        total += s > 0 ? s : 0;
    }
    return total;
}

/* always keeps zeros ahead once a handle has made 8 appends (FORMAT.md section 4), so that its
 * syncs overwrite allocated blocks; closing cuts them; a failed write over them cuts the
 * partial frame and the zeros, and the chain goes on. */
static void always_zeros_ahead(void)
{
    char dir[300];
    path_in(dir, sizeof dir, "always-zeros");
    fx_install();
    ec_chain *c;
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_ALWAYS, 0, 0));
    long size[9];
    for (uint64_t i = 0; i < 8; i++) {
        REQUIRE_OK(du_append(c, i, 64, NULL));
        size[i] = dir_bytes(dir);
    }
    /* Events alternate in size (odd ones have a description): the data's end after an even
     * number n of appends is size[7] + (n - 8) / 2 * pair. */
    long pair = size[7] - size[5];
    CHECK(pair > 128 && size[5] - size[3] == pair && size[3] - size[1] == pair); /* no zeros */
    REQUIRE_OK(du_append(c, 8, 64, NULL));
    size[8] = dir_bytes(dir);
    CHECK(size[8] >= 64 << 10); /* the 9th carried the zeros */
    for (uint64_t i = 9; i < 20; i++)
        REQUIRE_OK(du_append(c, i, 64, NULL));
    CHECK(dir_bytes(dir) == size[8]); /* written over them */
    fx.pwrite_fail_after = 0;
    fx.pwrite_errno = ENOSPC;
    fx.short_write = 1;
    CHECK(du_append(c, 20, 64, NULL) == EC_ENOSPC);
    CHECK(ec_chain_count(c) == 20);
    CHECK(dir_bytes(dir) == size[7] + 6 * pair); /* the partial frame cut, zeros with it */
    for (uint64_t i = 20; i < 30; i++)           /* space comes back: the same chain goes on */
        REQUIRE_OK(du_append(c, i, 64, NULL));
    CHECK(dir_bytes(dir) > size[7] + 11 * pair);
    ec_chain_free(c);
    CHECK(dir_bytes(dir) == size[7] + 11 * pair); /* closing cut the zeros */
    ec_vfs_set(NULL);
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 0));
    CHECK(ec_chain_count(c) == 30);
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    ec_chain_free(c);
}

/* none syncs only when asked (ec_backend sync: the runtime's effects policy does, before
 * each effect); those syncs keep zeros ahead as batch's do, and closing cuts them. */
static void none_sync_zeros_ahead(void)
{
    char dir[300];
    path_in(dir, sizeof dir, "none-zeros");
    ec_chain *c;
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_NONE, 0, 0));
    REQUIRE_OK(du_append(c, 0, 64, NULL));
    REQUIRE_OK(du_append(c, 1, 64, NULL));
    ec_chain_free(c);
    long two = dir_bytes(dir);
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_NONE, 0, 0));
    ec_backend *be = ec_chain_backend(c);
    REQUIRE_OK(du_append(c, 2, 64, NULL));
    REQUIRE_OK(du_append(c, 3, 64, NULL));
    CHECK_OK(be->sync(be));
    long synced = dir_bytes(dir);
    CHECK(synced >= 64 << 10); /* the sync carried zeros */
    REQUIRE_OK(du_append(c, 4, 64, NULL));
    REQUIRE_OK(du_append(c, 5, 64, NULL));
    CHECK_OK(be->sync(be));
    CHECK(dir_bytes(dir) == synced); /* written over them */
    ec_chain_free(c);
    /* The same six events, never synced: the bytes of the data alone. */
    char plain[300];
    path_in(plain, sizeof plain, "none-plain");
    REQUIRE_OK(du_open(&c, plain, 1, EC_DURABLE_NONE, 0, 0));
    for (uint64_t i = 0; i < 6; i++)
        REQUIRE_OK(du_append(c, i, 64, NULL));
    ec_chain_free(c);
    CHECK(dir_bytes(plain) > two && dir_bytes(dir) == dir_bytes(plain)); /* closing cut them */
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_NONE, 0, 0));
    CHECK(ec_chain_count(c) == 6);
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    ec_chain_free(c);
}

/* The EC_FRAME_SYNCED flags of segment 0's frames, as a string of 0 and 1. */
static void frame_flags(const char *dir, char *out, size_t n)
{
    char p[400];
    snprintf(p, sizeof p, "%s/seg-0000000000000000.log", dir);
    FILE *f = fopen(p, "rb");
    size_t k = 0;
    static uint8_t img[1u << 20];
    size_t len = f ? fread(img, 1, sizeof img, f) : 0;
    if (f)
        fclose(f);
    for (size_t off = EC_SEG_HEADER_LEN; off + EC_FRAME_HEADER_LEN <= len && k + 1 < n; k++) {
        uint32_t v = ec_get_u32(img + off);
        out[k] = v & EC_FRAME_SYNCED ? '1' : '0';
        off += EC_FRAME_HEADER_LEN + (v & ~EC_FRAME_SYNCED);
    }
    out[k] = 0;
}

/* A writer marks where its groups began (FORMAT.md section 4, directory format 2): the first
 * frame it writes after a sync returned carries EC_FRAME_SYNCED; the others of a `batch`
 * group do not, so a crash that tears a group leaves its later frames unflagged (cut as a
 * torn group), while a zeroed record with a flagged one after it is damage. */
static void frames_mark_groups(void)
{
    char dir[300], flags[64];
    path_in(dir, sizeof dir, "groups");
    ec_disk_options o = EC_DISK_OPTIONS_INIT;
    o.create = 1;
    o.durability = EC_DURABLE_BATCH;
    ec_backend *be, *w;
    REQUIRE_OK(ec_backend_disk(&be, dir, &o));
    REQUIRE_OK(ec_backend_deferred(&w, be));
    ec_backend_deferred_set(w, 1); /* appends return at commit: one sync per wait */
    ec_chain *c;
    ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
    co.alg = 0;
    REQUIRE_OK(ec_chain_open(&c, w, &co));
    for (uint64_t i = 0; i < 8; i++) {
        REQUIRE_OK(du_append(c, i, 64, NULL));
        if (i == 4 || i == 7) /* groups 0..4 and 5..7 */
            REQUIRE_OK(ec_backend_deferred_wait(w, i));
    }
    ec_chain_free(c);
    frame_flags(dir, flags, sizeof flags);
    CHECK(strcmp(flags, "10000100") == 0);
    /* always: every frame (the open synced what it found) */
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 0));
    for (uint64_t i = 8; i < 10; i++)
        REQUIRE_OK(du_append(c, i, 64, NULL));
    ec_chain_free(c);
    frame_flags(dir, flags, sizeof flags);
    CHECK(strcmp(flags, "1000010011") == 0);
    /* none: the first frame written after a sync this handle made (its open does not sync
     * what it found: `append --durability none` in a loop must not pay a sync each); a
     * flush without a sync ends that */
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_NONE, 0, 0));
    be = ec_chain_backend(c);
    for (uint64_t i = 10; i < 16; i++) {
        REQUIRE_OK(du_append(c, i, 64, NULL));
        if (i == 11)
            CHECK_OK(be->sync(be)); /* 10, 11 written and synced: 10 not flagged */
        if (i == 13)
            CHECK_OK(ec_backend_flush(be)); /* 12, 13 written after that sync: 12 flagged */
    }
    ec_chain_free(c); /* 14, 15 written at close after an unsynced write: not flagged */
    frame_flags(dir, flags, sizeof flags);
    CHECK(strcmp(flags, "1000010011001000") == 0);
    if (strcmp(flags, "1000010011001000") != 0)
        fprintf(stderr, "flags %s\n", flags);
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 1));
    CHECK(ec_chain_count(c) == 16);
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    ec_chain_free(c);
}

static void full_disk(void)
{
    for (int shortw = 0; shortw < 2; shortw++) {
        char dir[300];
        path_in(dir, sizeof dir, "enospc");
        fx_install();
        ec_chain *c;
        REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_ALWAYS, 0, 0));
        for (uint64_t i = 0; i < 5; i++)
            REQUIRE_OK(du_append(c, i, 64, NULL));
        long before = dir_bytes(dir);
        fx.pwrite_fail_after = 0;
        fx.pwrite_errno = ENOSPC;
        fx.short_write = shortw;
        CHECK(du_append(c, 5, 64, NULL) == EC_ENOSPC);
        CHECK(du_contains(ec_error_last()->message, "seq 5"));
        CHECK(ec_chain_count(c) == 5);
        CHECK(dir_bytes(dir) == before); /* the half-written frame was cut off */
        /* space comes back: the same chain goes on */
        REQUIRE_OK(du_append(c, 5, 64, NULL));
        ec_chain_free(c);
        ec_vfs_set(NULL);
        REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 0));
        CHECK(ec_chain_count(c) == 6);
        CHECK_OK(ec_chain_verify(c, NULL, NULL));
        ec_chain_free(c);
    }
    /* batch: a failed group write fails every append in it and poisons the open chain;
     * reopening recovers exactly what was durable before */
    char dir[300];
    path_in(dir, sizeof dir, "enospc-batch");
    fx_install();
    ec_chain *c;
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_BATCH, 0, 0));
    for (uint64_t i = 0; i < 5; i++)
        REQUIRE_OK(du_append(c, i, 64, NULL));
    fx.pwrite_fail_after = 0;
    fx.pwrite_errno = ENOSPC;
    CHECK(du_append(c, 5, 64, NULL) == EC_ENOSPC);
    CHECK(du_append(c, 6, 64, NULL) == EC_ENOSPC); /* poisoned: no silent divergence */
    CHECK(du_contains(ec_error_last()->message, "reopen"));
    ec_chain_free(c);
    ec_vfs_set(NULL);
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_BATCH, 0, 0));
    CHECK(ec_chain_count(c) == 5);
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    REQUIRE_OK(du_append(c, 5, 64, NULL));
    ec_chain_free(c);
    /* none: an append returns before its frame is written; ec_backend_flush is where a full
     * disk shows (not silently lost in the close), and then the open chain refuses appends */
    path_in(dir, sizeof dir, "enospc-none");
    fx_install();
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_NONE, 0, 0));
    for (uint64_t k = 0; k < 3; k++)
        REQUIRE_OK(du_append(c, k, 64, NULL));
    CHECK_OK(ec_backend_flush(ec_chain_backend(c)));
    CHECK_OK(ec_backend_flush(ec_chain_backend(c))); /* nothing buffered: still 0 */
    fx.pwrite_fail_after = 0;
    fx.pwrite_errno = ENOSPC;
    REQUIRE_OK(du_append(c, 3, 6000, NULL)); /* buffered: no write yet */
    CHECK(ec_backend_flush(ec_chain_backend(c)) == EC_ENOSPC);
    CHECK(du_contains(ec_error_last()->message, "reopen"));
    CHECK(ec_backend_flush(ec_chain_backend(c)) == EC_ENOSPC); /* and stays reported */
    CHECK(du_append(c, 4, 64, NULL) == EC_ENOSPC);
    ec_chain_free(c);
    ec_vfs_set(NULL);
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_NONE, 0, 0));
    CHECK(ec_chain_count(c) == 3);
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    ec_chain_free(c);
    /* a segment roll on a full disk: the append fails, nothing changes */
    path_in(dir, sizeof dir, "enospc-roll");
    fx_install();
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_ALWAYS, 4096, 0));
    uint64_t i = 0;
    for (; i < 12; i++) /* 12 x ~220 bytes: just under one 4 KiB segment */
        REQUIRE_OK(du_append(c, i, 180, NULL));
    fx.pwrite_fail_after = 0; /* the next write is the new segment's header */
    fx.pwrite_errno = ENOSPC;
    int rc = 0;
    for (; i < 40 && rc == 0; i++)
        rc = du_append(c, i, 180, NULL);
    CHECK(rc == EC_ENOSPC);
    uint64_t n = ec_chain_count(c);
    ec_chain_free(c);
    ec_vfs_set(NULL);
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 4096, 0));
    CHECK(ec_chain_count(c) == n);
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    ec_chain_free(c);
}

/* Zeros that do not fit (a full disk) cost nothing but the zeros: the group they followed is
 * durable, later appends go on without them. */
static void zeros_on_full_disk(void)
{
    char dir[300], seg0[400];
    path_in(dir, sizeof dir, "zeros-enospc");
    snprintf(seg0, sizeof seg0, "%s/seg-%016llx.log", dir, 0ull);
    fx_install();
    ec_chain *c;
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_BATCH, 0, 0));
    fx.pwrite_fail_after = 1; /* the group's write succeeds, the first zeros fail */
    fx.pwrite_errno = ENOSPC;
    REQUIRE_OK(du_append(c, 0, 64, NULL));
    uint64_t n = 0;
    CHECK_OK(seg_clean_to_end(seg0, &n)); /* the partial zeros were cut off */
    CHECK(n == 1);
    int calls = fx.calls;
    for (uint64_t i = 1; i < 5; i++)
        REQUIRE_OK(du_append(c, i, 64, NULL));
    CHECK(fx.calls == calls + 4); /* one write per group: no more zeros in this segment */
    ec_chain_free(c);
    ec_vfs_set(NULL);
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_BATCH, 0, 0));
    CHECK(ec_chain_count(c) == 5);
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    ec_chain_free(c);
}

static void failed_sync(void)
{
    char dir[300];
    path_in(dir, sizeof dir, "eio");
    fx_install();
    ec_chain *c;
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_ALWAYS, 0, 0));
    REQUIRE_OK(du_append(c, 0, 64, NULL));
    fx.fdatasync_fail_after = 0;
    CHECK(du_append(c, 1, 64, NULL) == EC_EIO);
    CHECK(ec_chain_count(c) == 1);
    CHECK(du_append(c, 1, 64, NULL) == EC_EIO); /* after a failed fsync, trust nothing */
    ec_chain_free(c);
    ec_vfs_set(NULL);
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 0));
    CHECK(ec_chain_count(c) == 1);
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    ec_chain_free(c);
}

static void read_only_directory(void)
{
    char dir[300];
    path_in(dir, sizeof dir, "rodir");
    ec_chain *c;
    REQUIRE_OK(du_open(&c, dir, 1, EC_DURABLE_ALWAYS, 0, 0));
    REQUIRE_OK(du_append(c, 0, 64, NULL));
    ec_chain_free(c);
    long before = dir_bytes(dir);
    fx_install();
    fx.deny_writes = 1;
    CHECK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 0) == EC_EIO);
    CHECK(du_contains(ec_error_last()->message, "Permission denied"));
    char sub[400];
    snprintf(sub, sizeof sub, "%s/new", dir);
    CHECK(du_open(&c, sub, 1, EC_DURABLE_ALWAYS, 0, 0) == EC_EIO);
    fx.deny_writes = 0;
    /* a create that fails half way (full disk at the header) leaves nothing behind */
    fx.pwrite_fail_after = 1; /* the segment header is written, the EVCHAIN header is not */
    fx.pwrite_errno = ENOSPC;
    CHECK(du_open(&c, sub, 1, EC_DURABLE_ALWAYS, 0, 0) == EC_ENOSPC);
    CHECK(du_file_size(sub) < 0);
    fx.pwrite_fail_after = -1;
    fx.deny_writes = 1;
    /* reading needs no write access */
    REQUIRE_OK(du_open(&c, dir, 0, EC_DURABLE_ALWAYS, 0, 1));
    CHECK(ec_chain_count(c) == 1);
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    CHECK(du_append(c, 1, 64, NULL) != 0);
    ec_chain_free(c);
    ec_vfs_set(NULL);
    CHECK(dir_bytes(dir) == before);
}

int main(void)
{
    if (du_tmpdir(root, sizeof root, "disk")) {
        perror("mkdtemp");
        return 2;
    }
    RUN(crc_vectors);
    RUN(format_vectors);
    RUN(reopen_keeps_everything);
    RUN(sha1_chain);
    RUN(segment_size_limit);
    RUN(segments_and_indexes);
    RUN(indexes_in_background);
    RUN(big_events);
    RUN(many_segments);
    RUN(policies_and_threads);
    RUN(one_writer_live_readers);
    RUN(writer_waits_for_lock);
    RUN(reader_follows_writer);
    RUN(zeros_ahead);
    RUN(full_disk);
    RUN(always_zeros_ahead);
    RUN(frames_mark_groups);
    RUN(none_sync_zeros_ahead);
    RUN(zeros_on_full_disk);
    RUN(failed_sync);
    RUN(read_only_directory);
    ec_vfs_set(NULL);
    du_rmtree(root);
    TEST_END();
}
