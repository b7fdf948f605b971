/* tests/test_deferred.c: the deferred-durability backend wrapper (store/deferred.c): while
 * deferring, an append does not wait for durability; ec_backend_deferred_wait does, on the
 * inner backend; off, it is the inner backend unchanged. */
#include <stdint.h>
#include "test.h"

/* An inner backend that counts wait_durable calls: memory storage, a fake durability. */
typedef struct counting {
    ec_backend base;
    ec_backend *mem;
    int waits;
    uint64_t last_seq;
} counting;

#define MEM(b) (((counting *)(b))->mem)
static int c_get_alg(ec_backend *b, ec_hash_alg *o)
{
    return MEM(b)->get_alg(MEM(b), o);
}
static int c_set_alg(ec_backend *b, ec_hash_alg a)
{
    return MEM(b)->set_alg(MEM(b), a);
}
static int c_count(ec_backend *b, uint64_t *o)
{
    return MEM(b)->count(MEM(b), o);
}
static int c_reserve(ec_backend *b, size_t len, uint8_t **o)
{
    return MEM(b)->reserve(MEM(b), len, o);
}
static int c_commit(ec_backend *b, uint64_t seq, size_t off)
{
    return MEM(b)->commit(MEM(b), seq, off);
}
static int c_get(ec_backend *b, uint64_t seq, const uint8_t **r, size_t *l)
{
    return MEM(b)->get(MEM(b), seq, r, l);
}
static int c_iter_new(ec_backend *b, uint64_t from, ec_backend_iter **o)
{
    return MEM(b)->iter_new(MEM(b), from, o);
}
static int c_wait(ec_backend *b, uint64_t seq)
{
    counting *c = (counting *)b;
    c->waits++;
    c->last_seq = seq;
    return 0;
}
static void c_free(ec_backend *b)
{
    MEM(b)->free(MEM(b));
    free(b);
}

static counting *counting_new(void)
{
    counting *c = calloc(1, sizeof *c);
    if (!c || ec_backend_memory(&c->mem, NULL) != 0) {
        free(c);
        return NULL;
    }
    c->base = (ec_backend){EC_BACKEND_VERSION, c_get_alg, c_set_alg, c_count,    c_reserve,
                           c_commit,           c_get,     NULL,      c_iter_new, c->mem->iter_next,
                           c->mem->iter_free,  c_wait,    NULL,      c_free};
    return c;
}

static int append(ec_chain *ch, const char *type)
{
    ec_event_input in = {0};
    in.type = type;
    in.data = (const uint8_t *)"x";
    in.data_len = 1;
    return ec_chain_append(ch, &in, NULL, NULL);
}

static void defers_only_when_on(void)
{
    counting *c = counting_new();
    REQUIRE(c);
    ec_backend *d = NULL;
    REQUIRE_OK(ec_backend_deferred(&d, &c->base));
    ec_chain *ch = NULL;
    REQUIRE_OK(ec_chain_open(&ch, d, NULL));
    /* Off: every append waits on the inner backend, as without the wrapper. */
    CHECK_OK(append(ch, "t/a"));
    CHECK(c->waits == 1 && c->last_seq == 0);
    /* On: appends return at commit; nothing waits until asked. */
    CHECK(ec_backend_deferred_set(d, 1) == 0);
    CHECK_OK(append(ch, "t/b"));
    CHECK_OK(append(ch, "t/c"));
    CHECK(c->waits == 1);
    CHECK_OK(ec_backend_deferred_wait(d, 2));
    CHECK(c->waits == 2 && c->last_seq == 2);
    /* Off again: back to waiting per append. */
    CHECK(ec_backend_deferred_set(d, 0) == 1);
    CHECK_OK(append(ch, "t/d"));
    CHECK(c->waits == 3 && c->last_seq == 3);
    /* Everything went to the inner storage, and the chain verifies through the wrapper. */
    uint64_t n = 0;
    CHECK_OK(c->mem->count(c->mem, &n));
    CHECK(n == 4);
    ec_verify_result vr;
    CHECK_OK(ec_chain_verify(ch, NULL, &vr));
    ec_chain_free(ch);
}

static void refuses_other_backends(void)
{
    ec_backend *m = NULL;
    REQUIRE_OK(ec_backend_memory(&m, NULL));
    CHECK(ec_backend_deferred_set(m, 1) == EC_EINVAL);
    CHECK(ec_error_last() && strstr(ec_error_last()->message, "not a deferred backend"));
    CHECK_OK(ec_backend_deferred_wait(m, 0)); /* memory: nothing to wait for */
    CHECK(ec_backend_deferred(NULL, m) == EC_EINVAL);
    m->free(m);
}

int main(void)
{
    RUN(defers_only_when_on);
    RUN(refuses_other_backends);
    TEST_END();
}
