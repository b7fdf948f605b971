/* tests/test.h: the minimal test harness every tests/test_*.c uses. A test program runs its
 * cases, prints one line per failure with file:line, and ends with "N passed, N failed". */
#ifndef EVCHAIN_TEST_H
#define EVCHAIN_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <evchain/evchain.h>

static int t_passed, t_failed, t_case_failed;
static const char *t_case_name;

/* An empty chain over the memory backend (alg 0: SHA-256), or NULL. */
static inline ec_chain *test_memory_chain(ec_hash_alg alg)
{
    ec_backend *be;
    ec_chain *c = NULL;
    ec_chain_options o = EC_CHAIN_OPTIONS_INIT;
    o.alg = alg;
    if (ec_backend_memory(&be, NULL) || ec_chain_open(&c, be, &o))
        return NULL;
    return c;
}

/* A whole file into a malloc'd buffer (not NUL-terminated), or NULL. */
static inline char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, r;
    do {
        if (cap - n < 65536) {
            char *p = realloc(buf, cap = cap * 2 + 65536);
            if (!p) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    *len = n;
    return buf;
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            const ec_error *e_ = ec_error_last();                                                  \
            fprintf(stderr, "%s:%d: %s: CHECK(%s) failed%s%s\n", __FILE__, __LINE__, t_case_name,  \
                    #cond, e_ ? "; last error: " : "", e_ ? e_->message : "");                     \
            t_case_failed = 1;                                                                     \
        }                                                                                          \
    } while (0)

/* Check and stop the case: for preconditions without which the rest would crash. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        CHECK(cond);                                                                               \
        if (t_case_failed)                                                                         \
            return;                                                                                \
    } while (0)

#define CHECK_OK(expr)   CHECK((expr) == 0)
#define REQUIRE_OK(expr) REQUIRE((expr) == 0)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        t_case_name = #fn;                                                                         \
        t_case_failed = 0;                                                                         \
        fn();                                                                                      \
        if (t_case_failed)                                                                         \
            t_failed++;                                                                            \
        else                                                                                       \
            t_passed++;                                                                            \
    } while (0)

#define TEST_END()                                                                                 \
    do {                                                                                           \
        printf("%d passed, %d failed\n", t_passed, t_failed);                                      \
        return t_failed ? 1 : 0;                                                                   \
    } while (0)

#endif
