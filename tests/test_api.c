/* tests/test_api.c: the public C API's contract at its edges: impossible capacity hints,
 * backend I/O errors during verification, verify_out filled on every return, option struct
 * versions, NULL arguments, algorithm of an empty chain directory, size overflow, the
 * umbrella header, and the errno carried by export's messages. Cases that crashed or hung
 * run in a forked child with an alarm, so a regression fails the case, not the program. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "core/internal.h" /* ec_error_set, for the test backend */

/* Run expr in a child; the case passes when the child exits normally with expr == want. A
 * crash, a hang (5 s) or another code fails it. */
#define CHECK_IN_CHILD(expr, want)                                                                 \
    do {                                                                                           \
        fflush(NULL);                                                                              \
        pid_t pid_ = fork();                                                                       \
        if (pid_ == 0) {                                                                           \
            alarm(5);                                                                              \
            int rc_ = (expr);                                                                      \
            _exit(rc_ == (want) ? 0 : 1);                                                          \
        }                                                                                          \
        int st_ = -1;                                                                              \
        if (pid_ > 0 && waitpid(pid_, &st_, 0) != pid_)                                            \
            st_ = -1;                                                                              \
        if (!(WIFEXITED(st_) && WEXITSTATUS(st_) == 0))                                            \
            fprintf(stderr, "  child for `%s`: %s %d\n", #expr,                                    \
                    WIFSIGNALED(st_) ? "killed by signal" : "exit status",                         \
                    WIFSIGNALED(st_) ? WTERMSIG(st_) : WEXITSTATUS(st_));                          \
        CHECK(WIFEXITED(st_) && WEXITSTATUS(st_) == 0);                                            \
    } while (0)

static const char *last_msg(void)
{
    const ec_error *e = ec_error_last();
    return e ? e->message : "";
}

static ec_chain *chain_of(int n)
{
    ec_chain *c = test_memory_chain(0);
    for (int i = 0; c && i < n; i++) {
        char type[16];
        snprintf(type, sizeof type, "k%d", i);
        ec_event_input in = {.type = type, .data = "x", .data_len = 1};
        if (ec_chain_append(c, &in, NULL, NULL) != 0) {
            ec_chain_free(c);
            return NULL;
        }
    }
    return c;
}

/* ---- 1: capacity hints ---- */

static int memory_with_hint(uint64_t hint)
{
    ec_memory_options mo = EC_MEMORY_OPTIONS_INIT;
    mo.expected_events = hint;
    ec_backend *be = NULL;
    int rc = ec_backend_memory(&be, &mo);
    if (rc)
        return rc;
    /* Accepted: appends must then fit what was allocated. */
    ec_chain *c;
    if ((rc = ec_chain_open(&c, be, NULL)))
        return rc;
    for (int i = 0; i < 8 && !rc; i++)
        rc = ec_chain_append(c, &(ec_event_input){.type = "t"}, NULL, NULL);
    ec_chain_free(c);
    return rc;
}

static int hint_message(void)
{
    ec_memory_options mo = EC_MEMORY_OPTIONS_INIT;
    mo.expected_events = UINT64_MAX;
    ec_backend *be;
    return ec_backend_memory(&be, &mo) == EC_ENOMEM && strstr(last_msg(), "expected_events") ? 0
                                                                                             : 1;
}

static void memory_hint_impossible(void)
{
    CHECK_IN_CHILD(memory_with_hint((1ULL << 63) + 1), EC_ENOMEM); /* wrapped to 16 bytes */
    CHECK_IN_CHILD(memory_with_hint((1ULL << 62) + 1), EC_ENOMEM); /* looped for ever */
    CHECK_IN_CHILD(memory_with_hint(UINT64_MAX), EC_ENOMEM);
    CHECK_IN_CHILD(memory_with_hint(100000), 0); /* an ordinary hint still works */
    CHECK_IN_CHILD(hint_message(), 0);
}

/* ---- 2, 3: a backend whose reads fail with EC_EIO ---- */

typedef struct {
    ec_backend base;
    ec_backend *in;
    long fail_next_at; /* iter_next of this seq fails; -1: never */
    int fail_iter_new;
    int fail_code;
} wrap;
typedef struct {
    wrap *w;
    ec_backend_iter *it;
    long n;
} witer;
#define IN(b) (((wrap *)(b))->in)
static int w_get_alg(ec_backend *b, ec_hash_alg *o)
{
    return IN(b)->get_alg(IN(b), o);
}
static int w_set_alg(ec_backend *b, ec_hash_alg a)
{
    return IN(b)->set_alg(IN(b), a);
}
static int w_count(ec_backend *b, uint64_t *o)
{
    return IN(b)->count(IN(b), o);
}
static int w_reserve(ec_backend *b, size_t l, uint8_t **o)
{
    return IN(b)->reserve(IN(b), l, o);
}
static int w_commit(ec_backend *b, uint64_t s, size_t h)
{
    return IN(b)->commit(IN(b), s, h);
}
static int w_get(ec_backend *b, uint64_t s, const uint8_t **r, size_t *l)
{
    return IN(b)->get(IN(b), s, r, l);
}
static int w_iter_new(ec_backend *b, uint64_t from, ec_backend_iter **o)
{
    wrap *w = (wrap *)b;
    if (w->fail_iter_new)
        return ec_error_set(EC_EIO, "test backend: opening the segment: Input/output error");
    witer *i = calloc(1, sizeof *i);
    if (!i)
        return EC_ENOMEM;
    i->w = w;
    i->n = (long)from;
    int rc = w->in->iter_new(w->in, from, &i->it);
    if (rc) {
        free(i);
        return rc;
    }
    *o = (ec_backend_iter *)i;
    return 0;
}
static int w_iter_next(ec_backend_iter *it, const uint8_t **r, size_t *l)
{
    witer *i = (witer *)it;
    if (i->n++ == i->w->fail_next_at)
        return ec_error_set(i->w->fail_code, "test backend: segment read failed");
    return i->w->in->iter_next(i->it, r, l);
}
static void w_iter_free(ec_backend_iter *it)
{
    witer *i = (witer *)it;
    i->w->in->iter_free(i->it);
    free(i);
}
static void w_free(ec_backend *b)
{
    IN(b)->free(IN(b));
    free(b);
}

static ec_chain *failing_chain(wrap **wout, int n)
{
    wrap *w = calloc(1, sizeof *w);
    if (!w || ec_backend_memory(&w->in, NULL) != 0) {
        free(w);
        return NULL;
    }
    w->base = (ec_backend){.version = EC_BACKEND_VERSION,
                           .get_alg = w_get_alg,
                           .set_alg = w_set_alg,
                           .count = w_count,
                           .reserve = w_reserve,
                           .commit = w_commit,
                           .get = w_get,
                           .iter_new = w_iter_new,
                           .iter_next = w_iter_next,
                           .iter_free = w_iter_free,
                           .free = w_free};
    w->fail_next_at = -1;
    ec_chain *c;
    if (ec_chain_open(&c, &w->base, NULL) != 0)
        return NULL;
    for (int i = 0; i < n; i++)
        if (ec_chain_append(c, &(ec_event_input){.type = "t"}, NULL, NULL) != 0) {
            ec_chain_free(c);
            return NULL;
        }
    *wout = w;
    return c;
}

static void verify_io_error_is_not_tampering(void)
{
    wrap *w;
    ec_chain *c = failing_chain(&w, 100);
    REQUIRE(c != NULL);
    ec_verify_result r;
    w->fail_next_at = 40;
    w->fail_code = EC_EIO;
    CHECK(ec_chain_verify(c, NULL, &r) == EC_EIO);
    CHECK(r.status == EC_VERIFY_OK);
    CHECK(r.checked == 40);
    CHECK(strstr(last_msg(), "segment read failed") != NULL);
    /* A damaged record (what the disk backend's checksum mismatch returns) stays a finding. */
    w->fail_code = EC_EFORMAT;
    CHECK(ec_chain_verify(c, NULL, &r) == EC_EVERIFY);
    CHECK(r.status == EC_VERIFY_UNREADABLE);
    CHECK(r.seq == 40 && r.checked == 40);
    ec_chain_free(c);
}

/* ---- 3: verify_out on every return ---- */

static void verify_checked_when_it_cannot_run(void)
{
    wrap *w;
    ec_chain *c = failing_chain(&w, 100);
    REQUIRE(c != NULL);
    w->fail_iter_new = 1;
    ec_verify_options vo = EC_VERIFY_OPTIONS_INIT;
    vo.from = 10;
    ec_verify_result r;
    memset(&r, 0x55, sizeof r);
    CHECK(ec_chain_verify(c, &vo, &r) == EC_EIO);
    CHECK(r.checked == 0); /* was 2^64 - 10 */
    CHECK(r.status == EC_VERIFY_OK);
    ec_chain_free(c);
}

/* The JSON export of a 10-event chain with event 5's type changed: hash mismatch at 5. */
static char *broken_json(size_t *len)
{
    ec_chain *c = chain_of(10);
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!c || !f || ec_export_stream(c, f, NULL) != 0) {
        ec_chain_free(c);
        if (f)
            fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    ec_chain_free(c);
    char *p = strstr(buf, "\"k5\"");
    if (!p) {
        free(buf);
        return NULL;
    }
    p[1] = 'z';
    return buf;
}

static int write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

static void verify_out_filled_on_refused_loads(void)
{
    size_t len;
    char *json = broken_json(&len);
    REQUIRE(json != NULL);
    char path[] = "/tmp/evchain-test-api-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    REQUIRE(write_file(path, json, len) == 0);

    ec_verify_result r;
    ec_open_options oo = EC_OPEN_OPTIONS_INIT;
    oo.verify_out = &r;
    ec_chain *c = NULL;
    memset(&r, 0x55, sizeof r);
    CHECK(ec_chain_open_path(&c, path, &oo) == EC_EVERIFY);
    CHECK(r.status == EC_VERIFY_HASH_MISMATCH && r.seq == 5 && r.checked == 5);

    ec_chain *into = test_memory_chain(0);
    REQUIRE(into != NULL);
    FILE *f = fmemopen(json, len, "r");
    REQUIRE(f != NULL);
    memset(&r, 0x55, sizeof r);
    CHECK(ec_import_stream(into, f, "broken", EC_FORMAT_AUTO, 0, &r) == EC_EVERIFY);
    CHECK(r.status == EC_VERIFY_HASH_MISMATCH && r.seq == 5 && r.checked == 5);
    fclose(f);

    /* Not a broken chain but a bad file: no finding, and nothing left as it was. */
    const char *trunc = "{\"evchain\":1,\"hash_alg\":\"sha256\",\"events\":[";
    f = fmemopen((void *)trunc, strlen(trunc), "r");
    REQUIRE(f != NULL);
    memset(&r, 0x55, sizeof r);
    CHECK(ec_import_stream(into, f, "trunc", EC_FORMAT_AUTO, 0, &r) == EC_EFORMAT);
    CHECK(r.status == EC_VERIFY_OK && r.seq == 0 && r.checked == 0 && r.reason[0] == 0);
    fclose(f);
    REQUIRE(write_file(path, trunc, strlen(trunc)) == 0);
    memset(&r, 0x55, sizeof r);
    CHECK(ec_chain_open_path(&c, path, &oo) == EC_EFORMAT);
    CHECK(r.status == EC_VERIFY_OK && r.seq == 0 && r.checked == 0 && r.reason[0] == 0);

    ec_chain_free(into);
    unlink(path);
    free(json);
}

/* ---- 4: option versions ---- */

static void option_versions_checked(void)
{
    ec_chain *c = chain_of(1);
    REQUIRE(c != NULL);
    char path[] = "/tmp/evchain-test-api-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    REQUIRE_OK(ec_export_file(c, path, NULL));
    FILE *null = fopen("/dev/null", "w");
    REQUIRE(null != NULL);
    for (unsigned v = 0; v < 100; v += 99) {
        ec_open_options oo = EC_OPEN_OPTIONS_INIT;
        oo.version = v;
        ec_chain *c2 = NULL;
        CHECK(ec_chain_open_path(&c2, path, &oo) == EC_EUNSUPPORTED);
        CHECK(strstr(last_msg(), "version") != NULL);
        ec_chain_free(c2);
        ec_export_options eo = EC_EXPORT_OPTIONS_INIT;
        eo.version = v;
        CHECK(ec_export_stream(c, null, &eo) == EC_EUNSUPPORTED);
        CHECK(ec_export_file(c, path, &eo) == EC_EUNSUPPORTED);
        ec_since_options so = EC_SINCE_OPTIONS_INIT;
        so.version = v;
        ec_since_result sr;
        CHECK(ec_proof_verify_since(c, "x\n\n", 3, NULL, 0, &so, &sr) == EC_EUNSUPPORTED);
    }
    fclose(null);
    unlink(path);
    ec_chain_free(c);
}

/* ---- 5: NULL arguments ---- */

static int message_names(ec_chain *c)
{
    if (ec_chain_get(c, 0, NULL) != EC_EINVAL)
        return 1;
    const char *m = last_msg();
    return strstr(m, "ec_chain_get") && strstr(m, "out") ? 0 : 1;
}

static void null_arguments_refused(void)
{
    ec_chain *c = chain_of(3);
    REQUIRE(c != NULL);
    ec_event ev;
    ec_iter *it;
    ec_tree *t;
    ec_signer *s;
    ec_vkey *vk;
    ec_checkpointer *cp;
    ec_backend *be;
    uint64_t seq;
    uint8_t buf[64] = {0};
    char *str;
    size_t n;
    const uint8_t *rec;
    size_t rec_len;
    REQUIRE_OK(ec_chain_backend(c)->get(ec_chain_backend(c), 0, &rec, &rec_len));
    REQUIRE_OK(ec_chain_get(c, 1, &ev));
    ec_event_input in = {.type = "t"};
    ec_verifier v;
    ec_verifier_init(&v, EC_HASH_SHA256, 0, NULL);

    CHECK_IN_CHILD(ec_backend_memory(NULL, NULL), EC_EINVAL);
    CHECK_IN_CHILD(ec_backend_disk(NULL, "/tmp", NULL), EC_EINVAL);
    CHECK_IN_CHILD((ec_backend_memory(&be, NULL), ec_chain_open(NULL, be, NULL)), EC_EINVAL);
    CHECK_IN_CHILD(ec_chain_append(NULL, &in, NULL, NULL), EC_EINVAL);
    CHECK_IN_CHILD(ec_chain_append_record(NULL, rec, rec_len), EC_EINVAL);
    CHECK_IN_CHILD(ec_chain_append_record(c, NULL, 10), EC_EINVAL);
    CHECK_IN_CHILD(ec_chain_get(NULL, 0, &ev), EC_EINVAL);
    CHECK_IN_CHILD(ec_chain_get(c, 0, NULL), EC_EINVAL);
    CHECK_IN_CHILD(ec_chain_head(NULL, buf, &seq), EC_EINVAL);
    CHECK_IN_CHILD(ec_chain_find(c, NULL, 32, &seq), EC_EINVAL);
    CHECK_IN_CHILD(ec_chain_find_prefix(c, NULL, &seq), EC_EINVAL);
    CHECK_IN_CHILD(ec_iter_new(NULL, c, 0), EC_EINVAL);
    CHECK_IN_CHILD(ec_iter_new(&it, NULL, 0), EC_EINVAL);
    CHECK_IN_CHILD(ec_iter_next(NULL, &ev), EC_EINVAL);
    CHECK_IN_CHILD((ec_iter_new(&it, c, 0), ec_iter_next(it, NULL)), EC_EINVAL);
    CHECK_IN_CHILD(ec_chain_verify(NULL, NULL, NULL), EC_EINVAL);
    CHECK_IN_CHILD(ec_hex_decode(buf, 4, NULL, 8), EC_EINVAL);
    CHECK_IN_CHILD(ec_output_resolve("/tmp/x", (char *)buf, sizeof buf, NULL), EC_EINVAL);
    CHECK_IN_CHILD(ec_event_write_json(NULL, &ev), EC_EINVAL);
    CHECK_IN_CHILD(ec_event_write_json(stdout, NULL), EC_EINVAL);
    CHECK_IN_CHILD(ec_tree_open(NULL, c, NULL), EC_EINVAL);
    CHECK_IN_CHILD(ec_tree_open(&t, NULL, NULL), EC_EINVAL);
    CHECK_IN_CHILD(ec_signer_parse(&s, NULL, 10), EC_EINVAL);
    CHECK_IN_CHILD(ec_vkey_parse(&vk, NULL, 5), EC_EINVAL);
    CHECK_IN_CHILD(ec_tlog_proof_format(&str, &n, NULL), EC_EINVAL);
    CHECK_IN_CHILD(ec_tlog_proof_verify(NULL, buf, 32, NULL, 0, NULL), EC_EINVAL);
    CHECK_IN_CHILD(ec_bundle_check(NULL, 100), EC_EINVAL);
    CHECK_IN_CHILD(ec_verifier_feed(NULL, rec, rec_len, NULL), EC_EINVAL);
    CHECK_IN_CHILD(ec_http_reply_header(NULL, "x-a", "b"), EC_EINVAL);
    CHECK_IN_CHILD(ec_checkpointer_new(&cp, NULL, NULL, NULL), EC_EINVAL);
    CHECK_IN_CHILD(ec_checkpointer_open(&cp, c, NULL, NULL, NULL), EC_EINVAL);
    CHECK_IN_CHILD(ec_proof_verify_since(NULL, "x\n\n", 3, NULL, 0, NULL, NULL), EC_EINVAL);
    /* The message names the function and the argument. */
    CHECK_IN_CHILD(message_names(c), 0);
    /* Value-returning accessors: 0 for a NULL chain (documented). */
    CHECK_IN_CHILD((int)ec_chain_count(NULL), 0);
    CHECK_IN_CHILD((int)ec_chain_alg(NULL), 0);
    CHECK_IN_CHILD(ec_chain_backend(NULL) != NULL, 0);
    ec_chain_free(c);
}

/* ---- 6: explicit algorithm of an empty chain directory ---- */

static void empty_dir_algorithm_mismatch(void)
{
    char dir[] = "/tmp/evchain-test-api-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    ec_disk_options d = EC_DISK_OPTIONS_INIT;
    d.create = 1;
    d.alg = EC_HASH_SHA1;
    ec_backend *be;
    ec_chain *c;
    ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
    co.alg = EC_HASH_SHA1;
    REQUIRE_OK(ec_backend_disk(&be, dir, &d));
    REQUIRE_OK(ec_chain_open(&c, be, &co));
    ec_chain_free(c);

    d = (ec_disk_options)EC_DISK_OPTIONS_INIT;
    co.alg = EC_HASH_SHA256;
    REQUIRE_OK(ec_backend_disk(&be, dir, &d));
    c = NULL;
    CHECK(ec_chain_open(&c, be, &co) == EC_EINVAL); /* was: opened, silently sha1 */
    CHECK(c == NULL);
    CHECK(strstr(last_msg(), "sha1") != NULL);
    ec_chain_free(c);

    co.alg = 0; /* "whatever is stored" */
    REQUIRE_OK(ec_backend_disk(&be, dir, &d));
    REQUIRE_OK(ec_chain_open(&c, be, &co));
    CHECK(ec_chain_alg(c) == EC_HASH_SHA1);
    ec_chain_free(c);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* ---- 7: size overflow ---- */

static void encoded_size_overflow(void)
{
    CHECK(ec_event_encoded_size(EC_HASH_SHA256, 1, 10, 0, 0, SIZE_MAX - 5) == SIZE_MAX);
    CHECK(ec_event_encoded_size(EC_HASH_SHA256, 1, SIZE_MAX, 0, 0, 1) == SIZE_MAX);
    CHECK(ec_event_encoded_size(EC_HASH_SHA256, 0, 1, SIZE_MAX - 10, 1, 1) == SIZE_MAX);
    /* 26 fixed + 32 parent + 4 + 1 type + 4 + 3 data */
    CHECK(ec_event_encoded_size(EC_HASH_SHA256, 1, 1, 0, 0, 3) == 70);
    CHECK(ec_event_encoded_size(EC_HASH_SHA256, 1, 1, 2, 1, 3) == 76);
}

/* ---- 8: the umbrella header has replay.h (this would not compile without it) ---- */

static void umbrella_header_complete(void)
{
    ec_replay_options o = EC_REPLAY_OPTIONS_INIT;
    CHECK(o.version == EC_REPLAY_OPTIONS_VERSION);
}

/* ---- 9: export's message names the write's own error, not a stale errno ---- */

static void export_error_not_stale_errno(void)
{
    ec_chain *c = chain_of(100);
    REQUIRE(c != NULL);
    char small[16];
    FILE *f = fmemopen(small, sizeof small, "w");
    REQUIRE(f != NULL);
    errno = EACCES;
    CHECK(ec_export_stream(c, f, NULL) != 0);
    CHECK(strstr(last_msg(), strerror(EACCES)) == NULL);
    fclose(f);
    ec_chain_free(c);
}

int main(void)
{
    RUN(memory_hint_impossible);
    RUN(verify_io_error_is_not_tampering);
    RUN(verify_checked_when_it_cannot_run);
    RUN(verify_out_filled_on_refused_loads);
    RUN(option_versions_checked);
    RUN(null_arguments_refused);
    RUN(empty_dir_algorithm_mismatch);
    RUN(encoded_size_overflow);
    RUN(umbrella_header_complete);
    RUN(export_error_not_stale_errno);
    TEST_END();
}
