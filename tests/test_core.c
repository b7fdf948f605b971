/* tests/test_core.c: the chain over the memory backend: append, read, find, iterate,
 * verify, and tamper detection for every field, identical on one and two threads; the
 * helpers (base64, hex, UTF-8, where an output path leads). */
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "core/internal.h"

static int fill(ec_chain *c, uint64_t n)
{
    char data[64], desc[32];
    for (uint64_t i = 0; i < n; i++) {
        int dl = snprintf(data, sizeof data, "{\"i\":%llu}", (unsigned long long)i);
        snprintf(desc, sizeof desc, "event %llu", (unsigned long long)i);
        ec_event_input in = {.type = i % 3 ? "test/even" : "test/third",
                             .data = data,
                             .data_len = (size_t)dl,
                             .description = i % 2 ? desc : NULL,
                             .timestamp = 1000 + i};
        if (ec_chain_append(c, &in, NULL, NULL))
            return -1;
    }
    return 0;
}

static void append_get_find_iter(void)
{
    ec_chain *c = test_memory_chain(0);
    REQUIRE(c);
    CHECK(ec_chain_alg(c) == EC_HASH_SHA256);
    uint8_t h[EC_HASH_MAX];
    CHECK(ec_chain_head(c, h, NULL) == EC_ENOTFOUND);
    REQUIRE_OK(fill(c, 1000));
    CHECK(ec_chain_count(c) == 1000);
    uint64_t hs;
    REQUIRE_OK(ec_chain_head(c, h, &hs));
    CHECK(hs == 999);
    ec_event ev;
    REQUIRE_OK(ec_chain_get(c, 1, &ev));
    CHECK(ev.seq == 1 && ev.timestamp == 1001);
    CHECK(ev.type_len == 9 && memcmp(ev.type, "test/even", 9) == 0);
    CHECK(ev.description && ev.description_len == 7);
    CHECK(ev.data_len == 7 && memcmp(ev.data, "{\"i\":1}", 7) == 0);
    REQUIRE(ev.parent_hash);
    ec_event ev0;
    uint8_t h0[EC_HASH_MAX];
    REQUIRE_OK(ec_chain_get(c, 0, &ev0));
    CHECK(ev0.parent_hash == NULL && ev0.description == NULL);
    memcpy(h0, ev0.hash, 32);
    REQUIRE_OK(ec_chain_get(c, 1, &ev));
    CHECK(memcmp(ev.parent_hash, h0, 32) == 0);
    CHECK(ec_chain_get(c, 1000, &ev) == EC_ENOTFOUND);

    /* find by hash for every event */
    for (uint64_t s = 0; s < 1000; s += 7) {
        uint8_t hh[EC_HASH_MAX];
        uint64_t got = 0;
        REQUIRE_OK(ec_chain_get(c, s, &ev));
        memcpy(hh, ev.hash, 32);
        CHECK_OK(ec_chain_find(c, hh, 32, &got));
        CHECK(got == s);
        char hex[65];
        ec_hex_encode(hex, hh, 32);
        hex[12] = 0;
        CHECK_OK(ec_chain_find_prefix(c, hex, &got));
        CHECK(got == s);
    }
    uint8_t none[32] = {0};
    uint64_t got;
    CHECK(ec_chain_find(c, none, 32, &got) == EC_ENOTFOUND);
    CHECK(ec_chain_find(c, none, 20, &got) == EC_EINVAL);
    CHECK(ec_chain_find_prefix(c, "zz", &got) == EC_EINVAL);

    /* iterate from the middle */
    ec_iter *it;
    REQUIRE_OK(ec_iter_new(&it, c, 990));
    uint64_t expect = 990;
    int rc;
    while ((rc = ec_iter_next(it, &ev)) == 0)
        CHECK(ev.seq == expect++);
    CHECK(rc == EC_ITEROVER && expect == 1000);
    ec_iter_free(it);
    ec_chain_free(c);
}

static void find_right_after_append(void)
{
    /* The memory backend indexes hashes in batches: an event must be findable the moment its
     * append returns, and still after later appends. */
    ec_chain *c = test_memory_chain(0);
    REQUIRE(c);
    uint8_t hashes[300][EC_HASH_MAX];
    for (uint64_t i = 0; i < 300; i++) {
        ec_event_input in = {.type = "t", .data = &i, .data_len = sizeof i, .timestamp = 1};
        REQUIRE_OK(ec_chain_append(c, &in, NULL, hashes[i]));
        uint64_t got = UINT64_MAX;
        CHECK_OK(ec_chain_find(c, hashes[i], 32, &got));
        CHECK(got == i);
        if (i >= 70) {
            CHECK_OK(ec_chain_find(c, hashes[i - 70], 32, &got));
            CHECK(got == i - 70);
        }
    }
    ec_chain_free(c);
}

static void bad_appends(void)
{
    ec_chain *c = test_memory_chain(0);
    REQUIRE(c);
    ec_event_input in = {.type = NULL};
    CHECK(ec_chain_append(c, &in, NULL, NULL) == EC_EINVAL);
    in.type = "bad\xff";
    CHECK(ec_chain_append(c, &in, NULL, NULL) == EC_EINVAL);
    in.type = "a\0b"; /* a NUL inside, ASCII before and after */
    in.type_len = 3;
    CHECK(ec_chain_append(c, &in, NULL, NULL) == EC_EINVAL);
    in.type = "\xc3\xa7\0"; /* a NUL after a valid non-ASCII character */
    CHECK(ec_chain_append(c, &in, NULL, NULL) == EC_EINVAL);
    in.type_len = 0;
    CHECK(strstr(ec_error_last()->message, "UTF-8") != NULL);
    in.type = "ok";
    in.description = "\xc0\x80"; /* overlong NUL */
    CHECK(ec_chain_append(c, &in, NULL, NULL) == EC_EINVAL);
    in.description = NULL;
    in.data_len = EC_DATA_MAX + 1u;
    in.data = "";
    CHECK(ec_chain_append(c, &in, NULL, NULL) == EC_EINVAL);
    CHECK(ec_chain_count(c) == 0);
    /* The library takes the clock when no timestamp is given. */
    in.data_len = 0;
    uint64_t before = ec_time_now_ns();
    REQUIRE_OK(ec_chain_append(c, &in, NULL, NULL));
    ec_event ev;
    REQUIRE_OK(ec_chain_get(c, 0, &ev));
    CHECK(ev.timestamp >= before && ev.timestamp <= ec_time_now_ns());
    ec_chain_free(c);

    /* theater-sha1 chains cannot carry what Theater's hash does not cover */
    c = test_memory_chain(EC_HASH_THEATER_SHA1);
    REQUIRE(c);
    ec_event_input t = {.type = "wasm", .data = "{}", .data_len = 2, .timestamp = 5};
    CHECK(ec_chain_append(c, &t, NULL, NULL) == EC_EINVAL);
    t.timestamp = 0;
    CHECK_OK(ec_chain_append(c, &t, NULL, NULL));
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    ec_chain_free(c);
}

/* Offsets inside a record of fill()'s event 5 (odd: has a description). */
struct field {
    const char *name;
    size_t off; /* from record start; SIZE_MAX-k: k bytes from the end */
    ec_verify_status expect;
};

static void verify_both(ec_chain *c, ec_verify_result *r1, ec_verify_result *r2, int *rc1, int *rc2)
{
    ec_verify_options o = EC_VERIFY_OPTIONS_INIT;
    o.threads = 1;
    *rc1 = ec_chain_verify(c, &o, r1);
    o.threads = 2;
    *rc2 = ec_chain_verify(c, &o, r2);
}

static void tamper_every_field(void)
{
    /* Record layout of a seq>0, SHA-256 event with a description: tag 0..7, alg 8, flags 9,
     * seq 10..17, ts 18..25, parent 26..57, type_len 58..61, type 62.., desc_len, desc,
     * data_len, data, hash (last 32). */
    const uint64_t N = 20000, K = 12345; /* K odd: has a description; in the second half */
    struct field fields[] = {
        {"tag", 0, EC_VERIFY_UNREADABLE},
        {"alg", 8, EC_VERIFY_UNREADABLE},
        {"flags", 9, EC_VERIFY_UNREADABLE},
        {"seq", 17, EC_VERIFY_SEQ},
        {"timestamp", 25, EC_VERIFY_HASH_MISMATCH},
        {"parent", 40, EC_VERIFY_PARENT_MISMATCH},
        {"type_len", 61, EC_VERIFY_UNREADABLE},
        {"type", 63, EC_VERIFY_HASH_MISMATCH},
        {"desc", 62 + 9 + 4 + 2, EC_VERIFY_HASH_MISMATCH},
        {"data", SIZE_MAX - 33, EC_VERIFY_HASH_MISMATCH},
        {"hash", SIZE_MAX - 1, EC_VERIFY_HASH_MISMATCH},
    };
    ec_chain *c = test_memory_chain(0);
    REQUIRE(c);
    REQUIRE_OK(fill(c, N));
    ec_verify_result r1, r2;
    int rc1, rc2;
    verify_both(c, &r1, &r2, &rc1, &rc2);
    CHECK(rc1 == 0 && rc2 == 0 && r1.checked == N && r2.checked == N);
    ec_backend *be = ec_chain_backend(c);
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        const uint8_t *rec;
        size_t len;
        REQUIRE_OK(be->get(be, K, &rec, &len));
        size_t off =
            fields[f].off >= SIZE_MAX - 64 ? len - (SIZE_MAX - fields[f].off) : fields[f].off;
        uint8_t *p = (uint8_t *)rec + off; /* the memory backend's storage is writable */
        *p ^= 0x40;
        verify_both(c, &r1, &r2, &rc1, &rc2);
        t_case_name = fields[f].name;
        CHECK(rc1 == EC_EVERIFY && rc2 == EC_EVERIFY);
        CHECK(r1.seq == K && r2.seq == K);
        CHECK(r1.status == fields[f].expect && r2.status == fields[f].expect);
        CHECK(strcmp(r1.reason, r2.reason) == 0);
        CHECK(r1.checked == K && r2.checked == K);
        if (r1.status != fields[f].expect)
            fprintf(stderr, "  field %s: got %s (%s)\n", fields[f].name,
                    ec_verify_status_name(r1.status), r1.reason);
        *p ^= 0x40;
    }
    t_case_name = "tamper_every_field";
    /* Tampering with the hash of K also breaks K+1's link; a hash-only fix-up (recompute K's
     * hash after changing its data) is caught at K+1. */
    verify_both(c, &r1, &r2, &rc1, &rc2);
    CHECK(rc1 == 0 && rc2 == 0);
    {
        const uint8_t *rec;
        size_t len;
        REQUIRE_OK(be->get(be, K, &rec, &len));
        uint8_t *p = (uint8_t *)rec;
        p[len - 33] ^= 1;
        REQUIRE_OK(ec_hash_encoding(EC_HASH_SHA256, p, len - 32, p + len - 32));
        verify_both(c, &r1, &r2, &rc1, &rc2);
        CHECK(rc1 == EC_EVERIFY && r1.seq == K + 1 && r1.status == EC_VERIFY_PARENT_MISMATCH);
        CHECK(rc2 == EC_EVERIFY && r2.seq == K + 1 && r2.status == EC_VERIFY_PARENT_MISMATCH);
    }
    /* Two damaged events: the first is reported, whatever the threads. */
    {
        const uint8_t *rec;
        size_t len;
        REQUIRE_OK(be->get(be, 100, &rec, &len));
        ((uint8_t *)rec)[30] ^= 1;
        verify_both(c, &r1, &r2, &rc1, &rc2);
        CHECK(r1.seq == 100 && r2.seq == 100);
        /* a range after the damage verifies */
        ec_verify_options o = EC_VERIFY_OPTIONS_INIT;
        o.from = 101;
        o.to = K;
        CHECK_OK(ec_chain_verify(c, &o, &r1));
        CHECK(r1.checked == K - 101);
        o.to = N + 1;
        CHECK(ec_chain_verify(c, &o, &r1) == EC_EINVAL);
    }
    ec_chain_free(c);
}

static void reopen_existing_backend(void)
{
    /* A chain handle over a backend that already has records picks up its head and alg. */
    ec_chain *c = test_memory_chain(EC_HASH_SHA1);
    REQUIRE(c);
    REQUIRE_OK(fill(c, 10));
    ec_event ev;
    REQUIRE_OK(ec_chain_get(c, 9, &ev));
    uint8_t h[20];
    memcpy(h, ev.hash, 20);
    /* Copy records into a second chain through append_record: full checks. */
    ec_chain *d = test_memory_chain(EC_HASH_SHA1);
    REQUIRE(d);
    ec_backend *be = ec_chain_backend(c);
    for (uint64_t s = 0; s < 10; s++) {
        const uint8_t *rec;
        size_t len;
        REQUIRE_OK(be->get(be, s, &rec, &len));
        if (s == 3) { /* out of order: refused */
            const uint8_t *r5;
            size_t l5;
            REQUIRE_OK(be->get(be, 5, &r5, &l5));
            CHECK(ec_chain_append_record(d, r5, l5) == EC_EVERIFY);
            CHECK(ec_error_last() && strstr(ec_error_last()->message, "event 3") != NULL);
        }
        CHECK_OK(ec_chain_append_record(d, rec, len));
    }
    uint8_t hd[EC_HASH_MAX];
    REQUIRE_OK(ec_chain_head(d, hd, NULL));
    CHECK(memcmp(hd, h, 20) == 0);
    ec_chain_free(c);
    ec_chain_free(d);
}

struct thr {
    ec_chain *c;
    int n, fails;
};

static void *appender(void *arg)
{
    struct thr *t = arg;
    for (int i = 0; i < t->n; i++) {
        ec_event_input in = {.type = "thread/append", .data = &i, .data_len = sizeof i};
        if (ec_chain_append(t->c, &in, NULL, NULL))
            t->fails++;
    }
    return NULL;
}

static void concurrent_appends(void)
{
    ec_chain *c = test_memory_chain(0);
    REQUIRE(c);
    pthread_t th[4];
    struct thr t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (struct thr){c, 5000, 0};
        pthread_create(&th[i], NULL, appender, &t[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(t[i].fails == 0);
    }
    CHECK(ec_chain_count(c) == 20000);
    CHECK_OK(ec_chain_verify(c, NULL, NULL));
    ec_chain_free(c);
}

static void error_wraps_previous_message(void)
{
    /* Wrapping the last message in a new one must not garble it (the argument points into
     * the thread's own message buffer). */
    ec_error_set(EC_EFORMAT, "record too short (%d bytes)", 7);
    ec_error_set(EC_EFORMAT, "event %d: %s", 3, ec_error_last()->message);
    CHECK(strcmp(ec_error_last()->message, "event 3: record too short (7 bytes)") == 0);
    CHECK(ec_error_last()->code == EC_EFORMAT);
    ec_error_clear();
    CHECK(ec_error_last() == NULL);
}

static void helpers(void)
{
    uint8_t buf[16];
    size_t n;
    char enc[32];
    const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *expect[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        ec_base64_encode(enc, (const uint8_t *)cases[i], strlen(cases[i]));
        CHECK(strcmp(enc, expect[i]) == 0); /* RFC 4648 section 10 */
        CHECK_OK(ec_base64_decode(buf, &n, expect[i], strlen(expect[i])));
        CHECK(n == strlen(cases[i]) && memcmp(buf, cases[i], n) == 0);
    }
    CHECK(ec_base64_decode(buf, &n, "Zg=", 3) == EC_EFORMAT);
    CHECK(ec_base64_decode(buf, &n, "Zh==", 4) == EC_EFORMAT); /* non-canonical */
    CHECK(ec_base64_decode(buf, &n, "Z===", 4) == EC_EFORMAT);
    CHECK(ec_base64_decode(buf, &n, "Zm=v", 4) == EC_EFORMAT);
    CHECK(ec_base64_decode(buf, &n, "Zm9v\n", 5) == EC_EFORMAT);
    CHECK(ec_utf8_valid("\xe4\xb8\x96", 3) && !ec_utf8_valid("\xe4\xb8", 2));
    CHECK(!ec_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!ec_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    uint8_t h[2];
    CHECK_OK(ec_hex_decode(h, 2, "aBff", 4));
    CHECK(h[0] == 0xab && h[1] == 0xff);
    CHECK(ec_hex_decode(h, 2, "abf", 3) == EC_EFORMAT);
    CHECK(ec_hex_decode(h, 2, "abfg", 4) == EC_EFORMAT);
    ec_hash_alg a;
    CHECK_OK(ec_hash_from_name(&a, "sha1"));
    CHECK(a == EC_HASH_SHA1);
    CHECK(ec_hash_from_name(&a, "md5") == EC_EUNSUPPORTED);
}

/* ec_output_resolve: what each kind of name an output may be given leads to. */
static void output_paths(void)
{
    char dir[] = "/tmp/evchain_test_output.XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char file[128], link[128], dangling[128], fifo[128], real[4096], got[4096], tiny[8];
    snprintf(file, sizeof file, "%s/file", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    snprintf(dangling, sizeof dangling, "%s/dangling", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    int stream = -1;

    /* A new name, then an existing file: itself, replaced by a rename. */
    CHECK_OK(ec_output_resolve(file, got, sizeof got, &stream));
    CHECK(strcmp(got, file) == 0 && stream == 0);
    CHECK_OK(ec_write_output(file, "one", 3));
    CHECK_OK(ec_output_resolve(file, got, sizeof got, &stream));
    CHECK(strcmp(got, file) == 0 && stream == 0);

    /* A link to it: the file it names (so the link stays), and writing through it. */
    CHECK(symlink("file", link) == 0);
    CHECK(realpath(file, real) != NULL);
    CHECK_OK(ec_output_resolve(link, got, sizeof got, &stream));
    CHECK(strcmp(got, real) == 0 && stream == 0);
    CHECK_OK(ec_write_output(link, "two", 3));
    struct stat st;
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    size_t n = 0;
    char *back = test_read_file(file, &n);
    CHECK(back && n == 3 && memcmp(back, "two", 3) == 0);
    free(back);

    /* Devices and FIFOs: in place. */
    CHECK_OK(ec_output_resolve("/dev/null", got, sizeof got, &stream));
    CHECK(strcmp(got, "/dev/null") == 0 && stream == 1);
    CHECK_OK(ec_write_output("/dev/null", "x", 1));
    CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode));
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK_OK(ec_output_resolve(fifo, got, sizeof got, &stream));
    CHECK(stream == 1);

    /* Refused: a directory, a link to nothing (and it stays as it was), a name too long. */
    CHECK(ec_output_resolve(dir, got, sizeof got, &stream) == EC_EINVAL);
    CHECK(strstr(ec_error_last()->message, "is a directory") != NULL);
    CHECK(symlink("nowhere", dangling) == 0);
    CHECK(ec_output_resolve(dangling, got, sizeof got, &stream) == EC_ENOTFOUND);
    CHECK(ec_write_output(dangling, "x", 1) == EC_ENOTFOUND);
    CHECK(lstat(dangling, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(ec_output_resolve(file, tiny, sizeof tiny, &stream) == EC_EINVAL);

    unlink(file), unlink(link), unlink(dangling), unlink(fifo);
    CHECK(rmdir(dir) == 0);
}

int main(void)
{
    RUN(append_get_find_iter);
    RUN(find_right_after_append);
    RUN(bad_appends);
    RUN(tamper_every_field);
    RUN(reopen_existing_backend);
    RUN(concurrent_appends);
    RUN(helpers);
    RUN(output_paths);
    RUN(error_wraps_previous_message);
    TEST_END();
}
