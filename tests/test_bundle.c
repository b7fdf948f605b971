/* tests/test_bundle.c: the sandbox entries of migration bundles (docs/FORMAT.md section 8),
 * through ec_bundle_check: every rule on F and D names, their order, their directories and
 * their sizes, each refused for itself (the bundles are written here with every digest
 * right), and versions 1 and 2 with the vectors of docs/bundle_vectors.py. End to end
 * (export, import, resume; hostile bundles leave nothing): tests/cli_bundle.sh. */
#include <openssl/evp.h>

#include <evchain/replay.h>

#include "test.h"

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
} wbuf;

static void put(wbuf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + n)
            nc *= 2;
        uint8_t *q = realloc(b->p, nc);
        if (!q) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        b->p = q;
        b->cap = nc;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* An independent writer of the entry layout: kind, u16 name length, name, u64 data length,
 * data, SHA-256(data). */
static void entry(wbuf *b, int kind, const void *name, size_t nl, const void *data, size_t dl)
{
    uint8_t h[8], d[32];
    unsigned dlen = 0;
    h[0] = (uint8_t)kind;
    h[1] = (uint8_t)(nl >> 8);
    h[2] = (uint8_t)nl;
    put(b, h, 3);
    put(b, name, nl);
    for (int k = 0; k < 8; k++)
        h[k] = (uint8_t)((uint64_t)dl >> (56 - 8 * k));
    put(b, h, 8);
    put(b, data, dl);
    EVP_Digest(data, dl, d, &dlen, EVP_sha256(), NULL);
    put(b, d, 32);
}

static void start(wbuf *b, int version)
{
    b->n = 0;
    put(b, "EVBUNDL", 7);
    uint8_t v = (uint8_t)version;
    put(b, &v, 1);
}

static void end(wbuf *b)
{
    uint8_t d[32];
    unsigned dlen = 0;
    EVP_Digest(b->p, b->n, d, &dlen, EVP_sha256(), NULL);
    entry(b, 'E', "", 0, d, 32);
}

/* A sandbox entry: kind, name (nl 0: strlen), data of dl bytes 'x'. */
typedef struct fse {
    int kind;
    const char *name;
    size_t nl, dl;
} fse;

static uint8_t *filler;

/* ec_bundle_check of a bundle holding these sandbox entries and nothing else. */
static int check(int version, const fse *es, size_t n)
{
    wbuf b = {0};
    start(&b, version);
    for (size_t k = 0; k < n; k++)
        entry(&b, es[k].kind, es[k].name, es[k].nl ? es[k].nl : strlen(es[k].name), filler,
              es[k].dl);
    end(&b);
    int rc = ec_bundle_check(b.p, b.n);
    free(b.p);
    return rc;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The sandbox entries passed every rule: the bundle is then refused only for having no
 * chain and no module (checked after all the entries). */
#define ACCEPTED(version, es)                                                                      \
    do {                                                                                           \
        CHECK(check(version, es, N(es)) == EC_EFORMAT);                                            \
        CHECK(strstr(ec_error_last()->message, "needs one chain and one module entry"));           \
    } while (0)

#define REFUSED(version, es, why)                                                                  \
    do {                                                                                           \
        CHECK(check(version, es, N(es)) == EC_EFORMAT);                                            \
        CHECK(strstr(ec_error_last()->message, why));                                              \
    } while (0)

/* One name against the name rules, at the top of the sandbox (no directory needed). */
#define NAME_REFUSED(name, nl, why)                                                                \
    do {                                                                                           \
        fse one_[] = {{'F', name, nl, 0}};                                                         \
        REFUSED(2, one_, why);                                                                     \
    } while (0)

static void names(void)
{
    /* Canonical order: bytewise, '/' below every other byte. */
    fse sorted[] = {{'F', ".hidden", 0, 1},     {'F', "caf\xc3\xa9", 0, 1},
                    {'D', "notes", 0, 0},       {'F', "notes/a.txt", 0, 6},
                    {'D', "notes/empty", 0, 0}, {'F', "notes-old", 0, 0}};
    ACCEPTED(2, sorted);
    NAME_REFUSED("", 0, "an empty name");
    NAME_REFUSED("../escape", 0, "a '..' component");
    NAME_REFUSED("a/../../escape", 0, "a '..' component");
    NAME_REFUSED("..", 0, "a '..' component");
    NAME_REFUSED("./a", 0, "a '.' component");
    NAME_REFUSED(".", 0, "a '.' component");
    NAME_REFUSED("/etc/passwd", 0, "an absolute name");
    NAME_REFUSED("a//b", 0, "an empty component");
    NAME_REFUSED("a/", 0, "a trailing '/'");
    NAME_REFUSED("a\nb", 0, "a control character");
    NAME_REFUSED("a\x7f", 0, "a control character");
    NAME_REFUSED("a\xc2\x85", 0, "a control character"); /* U+0085, a C1 control */
    NAME_REFUSED("a\0b", 3, "a control character");
    NAME_REFUSED("a\xff", 0, "not valid UTF-8");
    NAME_REFUSED("\xc0\xae", 0, "not valid UTF-8");     /* an overlong '.' */
    NAME_REFUSED("\xed\xa0\x80", 0, "not valid UTF-8"); /* a surrogate */
    NAME_REFUSED("a\xe2\x82", 0, "not valid UTF-8");    /* cut short */
    /* The message shows the name escaped: no raw control byte reaches it. */
    NAME_REFUSED("a\nb", 0, "'a\\x0ab'");
}

static void lengths(void)
{
    char *big = malloc(5000);
    REQUIRE(big);
    memset(big, 'a', 5000);
    NAME_REFUSED(big, 256, "a component longer than 255 bytes");
    NAME_REFUSED(big, 4097, "a name longer than 4096 bytes");
    {
        fse e[] = {{'F', big, 255, 0}};
        ACCEPTED(2, e);
    }
    /* A name of exactly 4096 bytes, 17 components (15 of 255, one of 254, one of 1), with
     * its 16 directories before it. */
    size_t cl[17];
    for (int k = 0; k < 15; k++)
        cl[k] = 255;
    cl[15] = 254;
    cl[16] = 1;
    size_t at = 0;
    fse e[17];
    for (int k = 0; k < 17; k++) {
        at += cl[k];
        e[k] = (fse){k < 16 ? 'D' : 'F', big, at, 0};
        if (k < 16)
            big[at++] = '/';
    }
    CHECK(at == 4096);
    ACCEPTED(2, e);
    free(big);
}

static void order_and_directories(void)
{
    {
        fse e[] = {{'F', "a", 0, 1}, {'F', "a", 0, 1}};
        REFUSED(2, e, "a duplicate name");
    }
    {
        /* A name both a directory and a file. */
        fse e[] = {{'D', "a", 0, 0}, {'F', "a", 0, 1}};
        REFUSED(2, e, "a duplicate name");
    }
    {
        fse e[] = {{'F', "b", 0, 0}, {'F', "a", 0, 0}};
        REFUSED(2, e, "out of order: after 'b'");
    }
    {
        /* Plain bytewise order ("a-x" < "a/b") is not the canonical one. */
        fse e[] = {{'D', "a", 0, 0}, {'F', "a-x", 0, 0}, {'F', "a/b", 0, 0}};
        REFUSED(2, e, "out of order: after 'a-x'");
        fse c[] = {{'D', "a", 0, 0}, {'F', "a/b", 0, 0}, {'F', "a-x", 0, 0}};
        ACCEPTED(2, c);
    }
    {
        /* A directory listed after what is in it: out of order. */
        fse e[] = {{'F', "a/b", 0, 0}, {'D', "a", 0, 0}};
        REFUSED(2, e, "its directory 'a' is not listed before it");
    }
    {
        fse e[] = {{'D', "a", 0, 0}, {'F', "a/b/c", 0, 0}};
        REFUSED(2, e, "its directory 'a/b' is not listed before it");
    }
    {
        /* Something beneath a file. */
        fse e[] = {{'F', "a", 0, 3}, {'F', "a/b", 0, 0}};
        REFUSED(2, e, "its directory 'a' is a file");
    }
    {
        /* The directory far back: a whole subtree between it and the name. */
        fse e[] = {{'D', "a", 0, 0},    {'D', "a/a", 0, 0}, {'F', "a/a/x", 0, 0},
                   {'F', "a/a0", 0, 0}, {'D', "a/b", 0, 0}, {'F', "a/b/y", 0, 0},
                   {'F', "a/c", 0, 0},  {'D', "a-", 0, 0},  {'F', "a-/z", 0, 0}};
        ACCEPTED(2, e);
    }
    {
        /* The sandbox entries may sit anywhere among the others: only their order counts. */
        wbuf b = {0};
        start(&b, 2);
        entry(&b, 'D', "d", 1, "", 0);
        entry(&b, 'L', "lab", 3, filler, 32);
        entry(&b, 'F', "d/f", 3, "hi", 2);
        end(&b);
        CHECK(ec_bundle_check(b.p, b.n) == EC_EFORMAT);
        CHECK(strstr(ec_error_last()->message, "needs one chain and one module entry"));
        free(b.p);
    }
}

static void sizes(void)
{
    {
        fse e[] = {{'D', "d", 0, 1}};
        REFUSED(2, e, "a directory entry with data");
    }
    {
        fse e[] = {{'F', "big", 0, (16u << 20) + 1}};
        REFUSED(2, e, "a file of more than 16777216 bytes");
        fse ok[] = {{'F', "big", 0, 16u << 20}};
        ACCEPTED(2, ok);
    }
}

static void versions(void)
{
    fse e[] = {{'D', "d", 0, 0}, {'F', "d/f", 0, 1}};
    CHECK(check(1, e, N(e)) == EC_EFORMAT);
    CHECK(strstr(ec_error_last()->message, "in a version 1 bundle"));
    CHECK(check(3, e, N(e)) == EC_EUNSUPPORTED);
    CHECK(strstr(ec_error_last()->message, "version 3"));
    CHECK(check(0, e, N(e)) == EC_EUNSUPPORTED);
    /* The vectors: version 1 (a label) and version 2 (a sandbox), both read to the end. */
    const char *vec[] = {"tests/vectors/bundle/label-only.bundle",
                         "tests/vectors/bundle/sandbox-only.bundle"};
    for (size_t k = 0; k < 2; k++) {
        size_t n = 0;
        char *p = test_read_file(vec[k], &n);
        REQUIRE(p);
        CHECK(ec_bundle_check(p, n) == EC_EFORMAT);
        CHECK(strstr(ec_error_last()->message, "needs one chain and one module entry"));
        if (k == 1) {
            CHECK(n == 297);
            /* Names are covered by the file's digest: "notes/a.txt" made "notes/../xy". */
            memcpy(p + 0x3b, "notes/../xy", 11);
            CHECK(ec_bundle_check(p, n) == EC_EVERIFY);
            CHECK(strstr(ec_error_last()->message, "file digest does not match"));
        }
        free(p);
    }
}

int main(void)
{
    filler = calloc(1, (16u << 20) + 1);
    if (!filler)
        return 2;
    memset(filler, 'x', (16u << 20) + 1);
    RUN(names);
    RUN(lengths);
    RUN(order_and_directories);
    RUN(sizes);
    RUN(versions);
    free(filler);
    TEST_END();
}
