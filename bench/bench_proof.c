/* bench/bench_proof.c: the cost of keeping the RFC 9162 Merkle tree beside a chain (append
 * rate with the tree against without it, same run), and inclusion / consistency proof
 * generation and verification rates and sizes on a large chain, each against the bare
 * SHA-256 work it needs measured in the same run. */
#include <string.h>

#include <evchain/evchain.h>
#include "bench.h"

#define DATA_LEN 256
#define TYPE     "bench/event"

static ec_chain *new_chain(unsigned long n, size_t rec_bytes)
{
    ec_backend *be;
    ec_chain *c;
    ec_memory_options mo = EC_MEMORY_OPTIONS_INIT;
    mo.expected_events = n;
    mo.expected_bytes = (size_t)n * rec_bytes;
    if (ec_backend_memory(&be, &mo) || ec_chain_open(&c, be, NULL)) {
        fprintf(stderr, "bench_proof: %s\n", ec_error_last()->message);
        exit(1);
    }
    return c;
}

static void die(const char *what)
{
    const ec_error *e = ec_error_last();
    fprintf(stderr, "bench_proof: %s: %s\n", what, e ? e->message : "?");
    exit(1);
}

/* Append n events; mode 0: no tree, 1: tree hashed inline, 2: tree hashed by its background
 * worker. Seconds taken, up to the tree holding every event (its root read at the end). */
static double run_append(unsigned long n, int mode)
{
    static uint8_t data[DATA_LEN];
    ec_chain *c = new_chain(n, 384);
    ec_tree *t = NULL;
    ec_tree_options to = EC_TREE_OPTIONS_INIT;
    to.background = mode == 2;
    if (mode && ec_tree_open(&t, c, &to))
        die("tree");
    double t0 = bench_now();
    for (unsigned long i = 0; i < n; i++) {
        memcpy(data, &i, sizeof i);
        ec_event_input in = {.type = TYPE,
                             .type_len = sizeof TYPE - 1,
                             .data = data,
                             .data_len = DATA_LEN,
                             .timestamp = 1764115200000000000ull + i};
        uint8_t h[EC_HASH_MAX];
        if (ec_chain_append(c, &in, NULL, h))
            die("append");
        if (t && ec_tree_push(t, h, 32))
            die("tree push");
    }
    uint8_t root[EC_MERKLE_HASH_LEN];
    if (t && ec_tree_root(t, n, root))
        die("tree root");
    double secs = bench_now() - t0;
    ec_tree_free(t);
    ec_chain_free(c);
    return secs;
}

static unsigned long long rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

int main(void)
{
    /* ---- append overhead: alternate the two runs, best of three each (shared machine) ---- */
    unsigned long n = bench_scaled(1000000);
    double best_plain = 1e9, best_inline = 1e9, best_bg = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        double a = run_append(n, 0), b = run_append(n, 1), c = run_append(n, 2);
        best_plain = a < best_plain ? a : best_plain;
        best_inline = b < best_inline ? b : best_inline;
        best_bg = c < best_bg ? c : best_bg;
    }
    /* The tree's work alone: one leaf hash and, on average, one node hash per event. */
    ec_merkle_frontier *f = malloc(sizeof *f);
    ec_merkle_frontier_init(f);
    uint8_t h[32] = {0}, leaf[32];
    double t0 = bench_now();
    for (unsigned long i = 0; i < n; i++) {
        memcpy(h, &i, sizeof i);
        ec_merkle_leaf_hash(h, 32, leaf);
        ec_merkle_frontier_push(f, leaf, NULL, NULL);
    }
    double t_tree_only = bench_now() - t0;
    double plain = (double)n / best_plain, with = (double)n / best_bg;
    double inl = (double)n / best_inline;
    printf("append overhead: %lu events of %d-byte data, SHA-256, memory backend\n", n, DATA_LEN);
    printf("append without tree:  %.3f M events/s (the limit: same run)\n", plain / 1e6);
    printf("append with tree:     %.3f M events/s (tree hashed by its worker thread; ratio "
           "%.3f)\n",
           with / 1e6, with / plain);
    printf("append with tree inline: %.3f M events/s (one thread; ratio %.3f)\n", inl / 1e6,
           inl / plain);
    printf("tree work alone:      %.3f M leaves/s (leaf + node hash per event)\n",
           (double)n / t_tree_only / 1e6);
    double ratio_append = with / plain;

    /* ---- proofs on a large chain (small events to keep memory in bounds) ---- */
    unsigned long big = bench_scaled(10000000);
    ec_chain *c = new_chain(big, 112);
    t0 = bench_now();
    for (unsigned long i = 0; i < big; i++) {
        uint64_t d = i;
        ec_event_input in = {.type = "e",
                             .type_len = 1,
                             .data = &d,
                             .data_len = sizeof d,
                             .timestamp = 1764115200000000000ull + i};
        if (ec_chain_append(c, &in, NULL, NULL))
            die("append (large chain)");
    }
    double t_build = bench_now() - t0;
    ec_tree *t;
    t0 = bench_now();
    if (ec_tree_open(&t, c, NULL))
        die("tree (large chain)");
    double t_tree = bench_now() - t0;
    uint8_t root[32], proof[EC_MERKLE_PROOF_MAX][32];
    ec_tree_root(t, big, root);

    /* Inclusion: random leaves of the whole tree. */
    int iters = (int)bench_scaled(20000);
    uint64_t *idx = malloc(sizeof *idx * (size_t)iters);
    size_t counts = 0, cnt;
    for (int i = 0; i < iters; i++)
        idx[i] = rnd() % big;
    t0 = bench_now();
    for (int i = 0; i < iters; i++) {
        if (ec_tree_inclusion(t, idx[i], big, proof, &cnt))
            die("inclusion");
        counts += cnt;
    }
    double t_incl = bench_now() - t0;
    double incl_len = (double)counts / iters;
    /* Verification: the proofs of a sample of leaves, each checked many times. */
    ec_event ev;
    int vsample = 64, vrep = (int)bench_scaled(200000) / 64 + 1;
    static uint8_t vp[64][EC_MERKLE_PROOF_MAX][32], vleaf[64][32];
    static size_t vc[64];
    for (int i = 0; i < vsample; i++) {
        if (ec_tree_inclusion(t, idx[i], big, vp[i], &vc[i]) || ec_chain_get(c, idx[i], &ev))
            die("inclusion sample");
        ec_merkle_leaf_hash(ev.hash, ev.hash_len, vleaf[i]);
    }
    t0 = bench_now();
    for (int r = 0; r < vrep; r++)
        for (int i = 0; i < vsample; i++)
            if (ec_merkle_verify_inclusion(vleaf[i], idx[i], big, root, vp[i], vc[i]))
                die("verify inclusion");
    double t_vincl = bench_now() - t0;
    int nvincl = vrep * vsample;

    /* Consistency: random old sizes to the whole tree. */
    uint8_t rm[64][32];
    static uint8_t cp[64][EC_MERKLE_PROOF_MAX][32];
    static size_t cc[64];
    uint64_t ms[64];
    counts = 0;
    t0 = bench_now();
    for (int i = 0; i < iters; i++) {
        uint64_t m = 1 + rnd() % (big - 1);
        if (ec_tree_consistency(t, m, big, proof, &cnt))
            die("consistency");
        counts += cnt;
    }
    double t_cons = bench_now() - t0;
    double cons_len = (double)counts / iters;
    for (int i = 0; i < 64; i++) {
        ms[i] = 1 + rnd() % (big - 1);
        if (ec_tree_consistency(t, ms[i], big, cp[i], &cc[i]) || ec_tree_root(t, ms[i], rm[i]))
            die("consistency sample");
    }
    t0 = bench_now();
    for (int r = 0; r < vrep; r++)
        for (int i = 0; i < 64; i++)
            if (ec_merkle_verify_consistency(ms[i], rm[i], big, root, cp[i], cc[i]))
                die("verify consistency");
    double t_vcons = bench_now() - t0;

    /* The limit: the bare node hashes each operation cannot avoid, timed in this run. A
     * verification hashes one node per proof hash (plus one leaf); a generation recomputes
     * one block of 2^K leaves from their event hashes (2^K leaf + 2^K - 1 node hashes). */
    uint8_t a[32] = {1}, b[32] = {2};
    int hn = (int)bench_scaled(2000000);
    t0 = bench_now();
    for (int i = 0; i < hn; i++)
        ec_merkle_node_hash(a, b, a);
    double t_node = (bench_now() - t0) / hn;
    t0 = bench_now();
    for (int i = 0; i < hn; i++)
        ec_merkle_leaf_hash(a, 32, a);
    double t_leaf = (bench_now() - t0) / hn;
    double block = (double)(1u << EC_TREE_STORE_LEVEL_DEFAULT);
    double gen_limit = 1.0 / (block * t_leaf + (block - 1 + incl_len) * t_node);
    double gen_c_limit = 1.0 / (block * t_leaf + (block - 1 + cons_len) * t_node);
    double vincl_limit = 1.0 / (incl_len * t_node);
    /* A consistency check's critical path is one node hash per proof hash (the new root's);
     * the old root's hashes depend on no new-root result and run alongside. */
    size_t chash = 0;
    for (int i = 0; i < 64; i++)
        chash += cc[i];
    double vcons_limit = 1.0 / ((double)chash / 64 * t_node);

    double gi = iters / t_incl, vi = nvincl / t_vincl, gc = iters / t_cons, vc2 = nvincl / t_vcons;
    printf("large chain: %lu events built in %.1f s, tree built from it in %.2f s "
           "(%.2f M leaves/s), peak RSS %.0f MiB\n",
           big, t_build, t_tree, (double)big / t_tree / 1e6, bench_peak_rss_mib());
    printf("inclusion proof:   %.2f hashes avg (%.0f bytes); generate %.0f/s (limit %.0f/s, "
           "ratio %.3f); verify %.0f/s (limit %.0f/s, ratio %.3f)\n",
           incl_len, incl_len * 32, gi, gen_limit, gi / gen_limit, vi, vincl_limit,
           vi / vincl_limit);
    printf("consistency proof: %.2f hashes avg (%.0f bytes); generate %.0f/s (limit %.0f/s, "
           "ratio %.3f); verify %.0f/s (limit %.0f/s, ratio %.3f)\n",
           cons_len, cons_len * 32, gc, gen_c_limit, gc / gen_c_limit, vc2, vcons_limit,
           vc2 / vcons_limit);
    printf("node hash %.0f ns, leaf hash %.0f ns; stored subtrees from 2^%d leaves up\n",
           t_node * 1e9, t_leaf * 1e9, EC_TREE_STORE_LEVEL_DEFAULT);
    free(idx);
    free(f);
    ec_tree_free(t);
    ec_chain_free(c);
    printf("proof.append_overhead: %.3f\n", ratio_append);
    printf("proof.append_overhead_inline: %.3f\n", inl / plain);
    printf("proof.inclusion_generate: %.3f\n", gi / gen_limit);
    printf("proof.inclusion_verify: %.3f\n", vi / vincl_limit);
    printf("proof.consistency_generate: %.3f\n", gc / gen_c_limit);
    printf("proof.consistency_verify: %.3f\n", vc2 / vcons_limit);
    return 0;
}
