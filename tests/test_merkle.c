/* tests/test_merkle.c: RFC 9162 Merkle hashing and proofs against independently computed
 * vectors (tests/vectors/merkle/merkle_vectors.py) and, exhaustively for every tree of up to
 * 64 leaves, against the RFC's recursive definitions written naively below; then ec_tree
 * over real chains (memory, file-backed, reopened, repaired). */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>
#include <evchain/proof.h>
#include "test.h"

#define HL EC_MERKLE_HASH_LEN

/* ---- the naive reference: RFC 9162 2.1.1, 2.1.3.1, 2.1.4.1 as written ---- */

static uint8_t leaves[300][HL]; /* leaf hashes */

static uint64_t split(uint64_t n)
{
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

static void ref_mth(uint64_t lo, uint64_t hi, uint8_t out[HL])
{
    if (hi - lo == 1) {
        memcpy(out, leaves[lo], HL);
        return;
    }
    uint64_t k = split(hi - lo);
    uint8_t l[HL], r[HL];
    ref_mth(lo, lo + k, l);
    ref_mth(lo + k, hi, r);
    ec_merkle_node_hash(l, r, out);
}

static size_t ref_path(uint64_t m, uint64_t lo, uint64_t hi, uint8_t out[][HL])
{
    if (hi - lo <= 1)
        return 0;
    uint64_t k = split(hi - lo);
    size_t c;
    if (m < k) {
        c = ref_path(m, lo, lo + k, out);
        ref_mth(lo + k, hi, out[c]);
    } else {
        c = ref_path(m - k, lo + k, hi, out);
        ref_mth(lo, lo + k, out[c]);
    }
    return c + 1;
}

static size_t ref_subproof(uint64_t m, uint64_t lo, uint64_t hi, int b, uint8_t out[][HL])
{
    uint64_t n = hi - lo;
    if (m == n) {
        if (b)
            return 0;
        ref_mth(lo, hi, out[0]);
        return 1;
    }
    uint64_t k = split(n);
    size_t c;
    if (m <= k) {
        c = ref_subproof(m, lo, lo + k, b, out);
        ref_mth(lo + k, hi, out[c]);
    } else {
        c = ref_subproof(m - k, lo + k, hi, 0, out);
        ref_mth(lo, lo + k, out[c]);
    }
    return c + 1;
}

/* Node source over the leaves array for the library's generators. */
static int array_node(void *ctx, unsigned level, uint64_t index, uint8_t out[HL])
{
    (void)ctx;
    ref_mth(index << level, (index + 1) << level, out);
    return 0;
}

static void make_leaves(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t d[8];
        for (int b = 0; b < 8; b++)
            d[b] = (uint8_t)(i >> (8 * b)) ^ 0x5a;
        ec_merkle_leaf_hash(d, sizeof d, leaves[i]);
    }
}

static void unhex(uint8_t *out, const char *hex)
{
    size_t n = strlen(hex) / 2;
    if (ec_hex_decode(out, n, hex, 2 * n) != 0)
        abort();
}

/* ---- vectors: RFC 6962 test leaves, computed by merkle_vectors.py ---- */

static const char *vec_leaves[] = {"",
                                   "00",
                                   "10",
                                   "2021",
                                   "3031",
                                   "40414243",
                                   "5051525354555657",
                                   "606162636465666768696a6b6c6d6e6f"};
static const char *vec_roots[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct vec_proof {
    uint64_t a, n;
    const char *h[4];
};
static const struct vec_proof vec_paths[] = {
    {0, 1, {NULL}},
    {0,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4", NULL}},
    {5,
     8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7", NULL}},
    {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125", NULL}},
    {3,
     7,
     {"0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e", NULL}},
};
static const struct vec_proof vec_cons[] = {
    {6,
     8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7", NULL}},
    {2,
     5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", NULL}},
    {3,
     7,
     {"0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
      "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e"}},
    {4, 8, {"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4", NULL}},
};

static void test_vectors(void)
{
    for (size_t i = 0; i < 8; i++) {
        uint8_t d[16];
        size_t n = strlen(vec_leaves[i]) / 2;
        unhex(d, vec_leaves[i]);
        ec_merkle_leaf_hash(d, n, leaves[i]);
    }
    uint8_t want[HL], got[HL], proof[EC_MERKLE_PROOF_MAX][HL], h[HL];
    ec_merkle_frontier f;
    ec_merkle_frontier_init(&f);
    for (size_t n = 1; n <= 8; n++) {
        unhex(want, vec_roots[n - 1]);
        REQUIRE_OK(ec_merkle_frontier_push(&f, leaves[n - 1], NULL, NULL));
        ec_merkle_frontier_root(&f, got);
        CHECK(memcmp(got, want, HL) == 0);
        REQUIRE_OK(ec_merkle_root_from(array_node, NULL, n, got));
        CHECK(memcmp(got, want, HL) == 0);
    }
    for (size_t v = 0; v < sizeof vec_paths / sizeof vec_paths[0]; v++) {
        const struct vec_proof *p = &vec_paths[v];
        size_t c, want_c = 0;
        REQUIRE_OK(ec_merkle_inclusion_from(array_node, NULL, p->a, p->n, proof, &c));
        while (want_c < 4 && p->h[want_c])
            want_c++;
        CHECK(c == want_c);
        for (size_t i = 0; i < c && i < want_c; i++) {
            unhex(h, p->h[i]);
            CHECK(memcmp(proof[i], h, HL) == 0);
        }
        unhex(want, vec_roots[p->n - 1]);
        CHECK_OK(ec_merkle_verify_inclusion(leaves[p->a], p->a, p->n, want, proof, c));
    }
    for (size_t v = 0; v < sizeof vec_cons / sizeof vec_cons[0]; v++) {
        const struct vec_proof *p = &vec_cons[v];
        size_t c, want_c = 0;
        REQUIRE_OK(ec_merkle_consistency_from(array_node, NULL, p->a, p->n, proof, &c));
        while (want_c < 4 && p->h[want_c])
            want_c++;
        CHECK(c == want_c);
        for (size_t i = 0; i < c && i < want_c; i++) {
            unhex(h, p->h[i]);
            CHECK(memcmp(proof[i], h, HL) == 0);
        }
        uint8_t rm[HL];
        unhex(rm, vec_roots[p->a - 1]);
        unhex(want, vec_roots[p->n - 1]);
        CHECK_OK(ec_merkle_verify_consistency(p->a, rm, p->n, want, proof, c));
    }
    /* The empty tree's root is SHA-256 of nothing. */
    ec_merkle_empty_root(got);
    unhex(want, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(memcmp(got, want, HL) == 0);
}

/* ---- exhaustive: every tree of 1..64 leaves, every index, every old size ---- */

static void test_inclusion_exhaustive(void)
{
    make_leaves(65);
    uint8_t got[EC_MERKLE_PROOF_MAX][HL], want[EC_MERKLE_PROOF_MAX][HL], root[HL], bad[HL];
    for (uint64_t n = 1; n <= 64; n++) {
        ref_mth(0, n, root);
        for (uint64_t i = 0; i < n; i++) {
            size_t c;
            REQUIRE_OK(ec_merkle_inclusion_from(array_node, NULL, i, n, got, &c));
            size_t wc = ref_path(i, 0, n, want);
            REQUIRE(c == wc);
            CHECK(memcmp(got, want, c * HL) == 0);
            CHECK_OK(ec_merkle_verify_inclusion(leaves[i], i, n, root, got, c));
            /* Every hash of the proof matters, and so do its length, the index, the size,
             * the leaf and the root. */
            for (size_t k = 0; k < c; k++) {
                got[k][k % HL] ^= 0x01;
                CHECK(ec_merkle_verify_inclusion(leaves[i], i, n, root, got, c) == EC_EVERIFY);
                got[k][k % HL] ^= 0x01;
            }
            if (c > 0)
                CHECK(ec_merkle_verify_inclusion(leaves[i], i, n, root, got, c - 1) == EC_EVERIFY);
            if (c + 1 < EC_MERKLE_PROOF_MAX) {
                memcpy(got[c], root, HL);
                CHECK(ec_merkle_verify_inclusion(leaves[i], i, n, root, got, c + 1) == EC_EVERIFY);
            }
            if (n > 1)
                CHECK(ec_merkle_verify_inclusion(leaves[i], (i + 1) % n, n, root, got, c) ==
                      EC_EVERIFY);
            /* Against the real tree one leaf larger (a wrong size with its own root). */
            ref_mth(0, n + 1, bad);
            CHECK(ec_merkle_verify_inclusion(leaves[i], i, n + 1, bad, got, c) == EC_EVERIFY);
            memcpy(bad, leaves[i], HL);
            bad[31] ^= 0x80;
            CHECK(ec_merkle_verify_inclusion(bad, i, n, root, got, c) == EC_EVERIFY);
            memcpy(bad, root, HL);
            bad[0] ^= 0x80;
            CHECK(ec_merkle_verify_inclusion(leaves[i], i, n, bad, got, c) == EC_EVERIFY);
        }
        size_t c;
        CHECK(ec_merkle_inclusion_from(array_node, NULL, n, n, got, &c) == EC_EINVAL);
        CHECK(ec_merkle_verify_inclusion(leaves[0], n, n, root, got, 0) == EC_EINVAL);
    }
}

static void test_consistency_exhaustive(void)
{
    make_leaves(65);
    uint8_t got[EC_MERKLE_PROOF_MAX][HL], want[EC_MERKLE_PROOF_MAX][HL], rm[HL], rn[HL];
    uint8_t empty[HL];
    ec_merkle_empty_root(empty);
    for (uint64_t n = 1; n <= 64; n++) {
        ref_mth(0, n, rn);
        for (uint64_t m = 0; m <= n; m++) {
            size_t c;
            REQUIRE_OK(ec_merkle_consistency_from(array_node, NULL, m, n, got, &c));
            size_t wc = (m == 0 || m == n) ? 0 : ref_subproof(m, 0, n, 1, want);
            REQUIRE(c == wc);
            CHECK(memcmp(got, want, c * HL) == 0);
            if (m == 0)
                memcpy(rm, empty, HL);
            else
                ref_mth(0, m, rm);
            CHECK_OK(ec_merkle_verify_consistency(m, rm, n, rn, got, c));
            for (size_t k = 0; k < c; k++) {
                got[k][(k * 7) % HL] ^= 0x10;
                CHECK(ec_merkle_verify_consistency(m, rm, n, rn, got, c) == EC_EVERIFY);
                got[k][(k * 7) % HL] ^= 0x10;
            }
            if (c > 0)
                CHECK(ec_merkle_verify_consistency(m, rm, n, rn, got, c - 1) == EC_EVERIFY);
            memcpy(got[c], rn, HL);
            CHECK(ec_merkle_verify_consistency(m, rm, n, rn, got, c + 1) == EC_EVERIFY);
            /* A forked old tree: same size, another root. */
            rm[5] ^= 1;
            CHECK(ec_merkle_verify_consistency(m, rm, n, rn, got, c) == EC_EVERIFY);
            rm[5] ^= 1;
            if (m > 0 && m < n) {
                rn[9] ^= 1;
                CHECK(ec_merkle_verify_consistency(m, rm, n, rn, got, c) == EC_EVERIFY);
                rn[9] ^= 1;
                /* The proof is for these sizes only: not for the real tree one leaf larger. */
                uint8_t rn1[HL];
                ref_mth(0, n + 1, rn1);
                CHECK(ec_merkle_verify_consistency(m, rm, n + 1, rn1, got, c) == EC_EVERIFY);
            }
        }
        size_t c;
        CHECK(ec_merkle_consistency_from(array_node, NULL, n + 1, n, got, &c) == EC_EINVAL);
        CHECK(ec_merkle_verify_consistency(n + 1, rn, n, rn, got, 0) == EC_EVERIFY);
    }
}

/* The frontier's root and the perfect subtrees it reports, for every size up to 300. */
struct seen {
    size_t n;
    int bad;
};
static void on_node(void *ctx, unsigned level, uint64_t index, const uint8_t h[HL])
{
    struct seen *s = ctx;
    uint8_t want[HL];
    ref_mth(index << level, (index + 1) << level, want);
    if (memcmp(want, h, HL) != 0)
        s->bad = 1;
    s->n++;
}

static void test_frontier(void)
{
    make_leaves(300);
    ec_merkle_frontier f;
    ec_merkle_frontier_init(&f);
    uint8_t got[HL], want[HL];
    struct seen s = {0, 0};
    for (size_t n = 1; n <= 300; n++) {
        REQUIRE_OK(ec_merkle_frontier_push(&f, leaves[n - 1], on_node, &s));
        ec_merkle_frontier_root(&f, got);
        ref_mth(0, n, want);
        CHECK(memcmp(got, want, HL) == 0);
    }
    CHECK(!s.bad);
    /* Every perfect subtree is reported exactly once: 2n - popcount(n) of them. */
    CHECK(s.n == 2 * 300 - 4);
}

/* ---- ec_tree over chains ---- */

static ec_chain *new_chain(size_t n)
{
    ec_backend *b;
    ec_chain *c;
    if (ec_backend_memory(&b, NULL) != 0 || ec_chain_open(&c, b, NULL) != 0)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char data[32];
        int len = snprintf(data, sizeof data, "event %zu", i);
        ec_event_input in = {.type = "test",
                             .data = data,
                             .data_len = (size_t)len,
                             .timestamp = 1700000000000000000ull + i};
        if (ec_chain_append(c, &in, NULL, NULL) != 0) {
            ec_chain_free(c);
            return NULL;
        }
    }
    return c;
}

static void chain_leaves(ec_chain *c)
{
    uint64_t n = ec_chain_count(c);
    for (uint64_t i = 0; i < n && i < 300; i++) {
        ec_event ev;
        if (ec_chain_get(c, i, &ev) != 0)
            abort();
        ec_merkle_leaf_hash(ev.hash, ev.hash_len, leaves[i]);
    }
}

/* Every root, inclusion and consistency proof of a tree equals the naive reference. */
static int tree_matches(ec_tree *t, uint64_t n)
{
    uint8_t got[EC_MERKLE_PROOF_MAX][HL], want[EC_MERKLE_PROOF_MAX][HL], r[HL], w[HL];
    for (uint64_t size = 1; size <= n; size++) {
        size_t c;
        if (ec_tree_root(t, size, r) != 0)
            return 0;
        ref_mth(0, size, w);
        if (memcmp(r, w, HL) != 0)
            return 0;
        for (uint64_t i = 0; i < size; i += 1 + size / 7) {
            if (ec_tree_inclusion(t, i, size, got, &c) != 0 || c != ref_path(i, 0, size, want) ||
                memcmp(got, want, c * HL) != 0)
                return 0;
        }
        for (uint64_t m = 1; m < size; m += 1 + size / 5) {
            if (ec_tree_consistency(t, m, size, got, &c) != 0 ||
                c != ref_subproof(m, 0, size, 1, want) || memcmp(got, want, c * HL) != 0)
                return 0;
        }
    }
    return 1;
}

static void test_tree_memory(void)
{
    ec_chain *c = new_chain(150);
    REQUIRE(c);
    chain_leaves(c);
    for (unsigned level = 0; level <= 4; level++) {
        ec_tree_options o = EC_TREE_OPTIONS_INIT;
        o.store_level = level;
        ec_tree *t;
        REQUIRE_OK(ec_tree_open(&t, c, &o));
        CHECK(ec_tree_size(t) == 150);
        CHECK(tree_matches(t, 150));
        uint8_t r[HL], p[EC_MERKLE_PROOF_MAX][HL];
        size_t n;
        CHECK(ec_tree_root(t, 151, r) == EC_EINVAL);
        CHECK(ec_tree_inclusion(t, 150, 150, p, &n) == EC_EINVAL);
        CHECK(ec_tree_consistency(t, 3, 151, p, &n) == EC_EINVAL);
        ec_tree_free(t);
    }
    ec_chain_free(c);
}

static void test_tree_incremental(void)
{
    ec_chain *c = new_chain(0);
    REQUIRE(c);
    ec_tree_options o = EC_TREE_OPTIONS_INIT;
    o.store_level = 2;
    ec_tree *t;
    REQUIRE_OK(ec_tree_open(&t, c, &o));
    uint8_t r[HL], e[HL];
    REQUIRE_OK(ec_tree_root(t, 0, r));
    ec_merkle_empty_root(e);
    CHECK(memcmp(r, e, HL) == 0);
    for (int i = 0; i < 70; i++) {
        ec_event_input in = {.type = "x", .data = "y", .data_len = 1};
        uint8_t h[EC_HASH_MAX];
        REQUIRE_OK(ec_chain_append(c, &in, NULL, h));
        if (i % 2)
            REQUIRE_OK(ec_tree_push(t, h, 32));
        else
            REQUIRE_OK(ec_tree_sync(t));
        CHECK(ec_tree_size(t) == (uint64_t)i + 1);
    }
    /* A hash that is not the next event's is refused. */
    uint8_t junk[32] = {0};
    CHECK(ec_tree_push(t, junk, 32) == EC_EINVAL);
    chain_leaves(c);
    CHECK(tree_matches(t, 70));
    ec_tree_free(t);
    ec_chain_free(c);
}

/* The background worker gives the same tree as inline hashing, across batch boundaries,
 * with the file written from the worker thread. */
static void test_tree_background(void)
{
    char dir[64] = "/tmp/ec_merkle_bg_XXXXXX";
    REQUIRE(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/tree", dir);
    ec_chain *c = new_chain(0);
    REQUIRE(c);
    ec_tree_options o = EC_TREE_OPTIONS_INIT;
    o.background = 1;
    o.store_level = 1;
    o.path = path;
    ec_tree *bg;
    REQUIRE_OK(ec_tree_open(&bg, c, &o));
    uint8_t r1[HL], r2[HL];
    for (int i = 0; i < 20000; i++) {
        ec_event_input in = {
            .type = "bg", .data = &i, .data_len = sizeof i, .timestamp = 1 + (uint64_t)i};
        uint8_t h[EC_HASH_MAX];
        REQUIRE_OK(ec_chain_append(c, &in, NULL, h));
        if (i % 1000 == 999)
            REQUIRE_OK(ec_tree_sync(bg));
        else
            REQUIRE_OK(ec_tree_push(bg, h, 32));
        if (i == 9000) /* a read in the middle waits for the worker */
            REQUIRE_OK(ec_tree_root(bg, 9001, r1));
    }
    CHECK(ec_tree_size(bg) == 20000);
    ec_tree *in;
    ec_tree_options io = EC_TREE_OPTIONS_INIT;
    REQUIRE_OK(ec_tree_open(&in, c, &io));
    REQUIRE_OK(ec_tree_root(in, 9001, r2));
    CHECK(memcmp(r1, r2, HL) == 0);
    uint64_t sizes[] = {1, 8192, 8193, 16385, 19999, 20000};
    uint8_t p1[EC_MERKLE_PROOF_MAX][HL], p2[EC_MERKLE_PROOF_MAX][HL];
    size_t c1, c2;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        REQUIRE_OK(ec_tree_root(bg, sizes[k], r1));
        REQUIRE_OK(ec_tree_root(in, sizes[k], r2));
        CHECK(memcmp(r1, r2, HL) == 0);
        REQUIRE_OK(ec_tree_inclusion(bg, sizes[k] / 2, sizes[k], p1, &c1));
        REQUIRE_OK(ec_tree_inclusion(in, sizes[k] / 2, sizes[k], p2, &c2));
        CHECK(c1 == c2 && memcmp(p1, p2, c1 * HL) == 0);
        REQUIRE_OK(ec_tree_consistency(bg, sizes[k] / 3, 20000, p1, &c1));
        REQUIRE_OK(ec_tree_consistency(in, sizes[k] / 3, 20000, p2, &c2));
        CHECK(c1 == c2 && memcmp(p1, p2, c1 * HL) == 0);
    }
    ec_tree_free(bg);
    /* What the worker wrote reopens to the same tree. */
    o.background = 0;
    REQUIRE_OK(ec_tree_open(&bg, c, &o));
    REQUIRE_OK(ec_tree_root(bg, 20000, r1));
    REQUIRE_OK(ec_tree_root(in, 20000, r2));
    CHECK(memcmp(r1, r2, HL) == 0);
    struct stat st;
    REQUIRE(stat(path, &st) == 0);
    CHECK(st.st_size == 32 + (2 * 10000 - 5) * 32); /* 10000 blocks of 2, popcount 5 */
    ec_tree_free(bg);
    ec_tree_free(in);
    ec_chain_free(c);
    unlink(path);
    rmdir(dir);
}

static char tmpdir[64];

static void test_tree_file(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ec_merkle_XXXXXX");
    REQUIRE(mkdtemp(tmpdir));
    char path[128];
    snprintf(path, sizeof path, "%s/tree", tmpdir);
    ec_chain *c = new_chain(100);
    REQUIRE(c);
    chain_leaves(c);
    ec_tree_options o = EC_TREE_OPTIONS_INIT;
    o.path = path;
    o.store_level = 2;
    ec_tree *t;
    REQUIRE_OK(ec_tree_open(&t, c, &o));
    REQUIRE_OK(ec_tree_flush(t));
    ec_tree_free(t);
    struct stat st;
    REQUIRE(stat(path, &st) == 0);
    /* 25 blocks of 4 leaves: 2*25 - popcount(25) = 47 stored subtrees after a 32-byte header. */
    CHECK(st.st_size == 32 + 47 * 32);

    /* Reopened: same proofs, and appends continue the file. */
    REQUIRE_OK(ec_tree_open(&t, c, &o));
    CHECK(tree_matches(t, 100));
    for (int i = 0; i < 30; i++) {
        ec_event_input in = {.type = "more", .data = "z", .data_len = 1};
        REQUIRE_OK(ec_chain_append(c, &in, NULL, NULL));
    }
    REQUIRE_OK(ec_tree_sync(t));
    ec_tree_free(t); /* flushes */
    chain_leaves(c);
    REQUIRE_OK(ec_tree_open(&t, c, &o));
    CHECK(ec_tree_size(t) == 130);
    CHECK(tree_matches(t, 130));
    ec_tree_free(t);

    /* A torn tail (crash mid-write) is cut back and recomputed. */
    REQUIRE(stat(path, &st) == 0);
    REQUIRE(truncate(path, st.st_size - 45) == 0);
    REQUIRE_OK(ec_tree_open(&t, c, &o));
    CHECK(tree_matches(t, 130));
    ec_tree_free(t);
    struct stat st2;
    REQUIRE(stat(path, &st2) == 0);
    CHECK(st2.st_size == st.st_size);

    /* A read-only tree never writes, even when behind. */
    REQUIRE(truncate(path, 32 + 10 * 32) == 0);
    o.read_only = 1;
    REQUIRE_OK(ec_tree_open(&t, c, &o));
    CHECK(tree_matches(t, 130));
    ec_tree_free(t);
    REQUIRE(stat(path, &st2) == 0);
    CHECK(st2.st_size == 32 + 10 * 32);
    o.read_only = 0;

    /* The tree file of another chain is detected and rebuilt, not trusted. */
    ec_chain *other = new_chain(0);
    REQUIRE(other);
    for (int i = 0; i < 130; i++) {
        ec_event_input in = {.type = "other", .data = "q", .data_len = 1};
        REQUIRE_OK(ec_chain_append(other, &in, NULL, NULL));
    }
    REQUIRE_OK(ec_tree_open(&t, other, &o));
    chain_leaves(other);
    CHECK(tree_matches(t, 130));
    ec_tree_free(t);

    /* A file that is not a tree file is refused with its name. */
    int fd = open(path, O_WRONLY | O_TRUNC);
    REQUIRE(fd >= 0);
    CHECK(write(fd, "not a tree file at all, no.......", 33) == 33);
    close(fd);
    CHECK(ec_tree_open(&t, other, &o) == EC_EFORMAT);
    const ec_error *e = ec_error_last();
    CHECK(e && strstr(e->message, path));

    ec_chain_free(other);
    ec_chain_free(c);
    unlink(path);
    rmdir(tmpdir);
}

int main(void)
{
    RUN(test_vectors);
    RUN(test_inclusion_exhaustive);
    RUN(test_consistency_exhaustive);
    RUN(test_frontier);
    RUN(test_tree_memory);
    RUN(test_tree_incremental);
    RUN(test_tree_file);
    RUN(test_tree_background);
    TEST_END();
}
