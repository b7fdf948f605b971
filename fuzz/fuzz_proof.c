/* fuzz/fuzz_proof.c: libFuzzer harness for the C2SP tlog-proof parser and the RFC 9162 proof
 * verifiers: any proof file parses or is refused, a parsed one re-serializes to the same
 * bytes, and verification of arbitrary hashes, indexes and sizes never crashes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evchain/evchain.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ec_vkey *key;
    if (!key) {
        const char *v = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
        if (ec_vkey_parse(&key, v, strlen(v)) != 0)
            abort();
    }
    ec_tlog_proof *p;
    if (ec_tlog_proof_parse(&p, (const char *)data, size) == 0) {
        char *t;
        size_t n;
        if (ec_tlog_proof_format(&t, &n, p) == 0) {
            /* Canonical input round-trips; parsing the output gives the same proof. */
            ec_tlog_proof *q;
            if (ec_tlog_proof_parse(&q, t, n) != 0 || q->index != p->index ||
                q->count != p->count || q->checkpoint_len != p->checkpoint_len)
                abort();
            ec_tlog_proof_free(q);
            free(t);
        }
        uint8_t h[32] = {0};
        (void)ec_tlog_proof_verify(p, h, sizeof h, &key, 1, NULL);
        ec_tlog_proof_free(p);
    }
    /* Raw verifiers: the input as index, sizes, roots and a proof. */
    if (size >= 16 + 64) {
        uint64_t a, b;
        memcpy(&a, data, 8);
        memcpy(&b, data + 8, 8);
        a %= 1u << 20;
        b %= 1u << 20;
        const uint8_t *r1 = data + 16, *r2 = data + 48;
        size_t count = (size - 80) / 32;
        if (count > EC_MERKLE_PROOF_MAX)
            count = EC_MERKLE_PROOF_MAX;
        uint8_t(*proof)[32] = malloc(count * 32 + 1);
        if (!proof)
            return 0;
        memcpy(proof, data + 80, count * 32);
        (void)ec_merkle_verify_inclusion(r1, a, b, r2, (const uint8_t(*)[32])proof, count);
        (void)ec_merkle_verify_consistency(a, r1, b, r2, (const uint8_t(*)[32])proof, count);
        free(proof);
    }
    return 0;
}
