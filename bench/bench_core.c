/* bench/bench_core.c: append and verify rates of the chain over the memory backend against
 * the raw limit measured in the same run: the same encoded event bytes fed to the same hash
 * with a reused EVP context, nothing else. 1M events of 256-byte data, SHA-256. */
#include <string.h>

#include <evchain/evchain.h>
#include "bench.h"
#include "core/internal.h"

#define DATA_LEN 256
#define TYPE     "bench/event"

int main(void)
{
    unsigned long n = bench_scaled(1000000);
    uint8_t data[DATA_LEN];
    for (int i = 0; i < DATA_LEN; i++)
        data[i] = (uint8_t)(i * 7);

    /* --- append: best of three fresh chains. The arena is sized and faulted in at creation
     * (the expected_* capacity hints), as a long-running process reuses memory; the cold rate,
     * with first-touch page faults on the append path, is printed too. --- */
    ec_backend *be;
    ec_chain *c = NULL;
    double t_append = 1e9, t_cold = 0;
    for (int rep = 0; rep < 4; rep++) {
        ec_memory_options mo = EC_MEMORY_OPTIONS_INIT;
        if (rep > 0) {
            mo.expected_events = n;
            mo.expected_bytes = (size_t)n * 384;
        }
        if (c)
            ec_chain_free(c);
        if (ec_backend_memory(&be, &mo) || ec_chain_open(&c, be, NULL)) {
            fprintf(stderr, "bench_core: %s\n", ec_error_last()->message);
            return 1;
        }
        double t0 = bench_now();
        for (unsigned long i = 0; i < n; i++) {
            memcpy(data, &i, sizeof i);
            ec_event_input in = {.type = TYPE,
                                 .type_len = sizeof TYPE - 1,
                                 .data = data,
                                 .data_len = DATA_LEN,
                                 .timestamp = 1764115200000000000ull + i};
            if (ec_chain_append(c, &in, NULL, NULL)) {
                fprintf(stderr, "append: %s\n", ec_error_last()->message);
                return 1;
            }
        }
        double t = bench_now() - t0;
        if (rep == 0)
            t_cold = t;
        else if (t < t_append)
            t_append = t;
    }
    double t0;

    /* --- raw limit: the same encodings, already in memory, hashed with a reused context --- */
    size_t enc_len = ec_event_encoded_size(EC_HASH_SHA256, 1, sizeof TYPE - 1, 0, 0, DATA_LEN);
    uint8_t *encs = malloc(enc_len * n);
    const uint8_t *rec;
    size_t len;
    for (unsigned long i = 0; i < n; i++) {
        be->get(be, i, &rec, &len);
        memcpy(encs + i * enc_len, rec, len - 32 < enc_len ? len - 32 : enc_len);
    }
    ec_hasher *h;
    ec_hasher_new(&h, EC_HASH_SHA256);
    uint8_t out[32], acc = 0;
    double best_raw = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        t0 = bench_now();
        for (unsigned long i = 0; i < n; i++) {
            ec_hasher_bytes(h, encs + i * enc_len, enc_len, out);
            acc ^= out[0];
        }
        double t = bench_now() - t0;
        if (t < best_raw)
            best_raw = t;
    }
    ec_hasher_free(h);
    free(encs);

    /* --- verify, one and two threads (best of two runs each: the machine is shared) --- */
    double t_v1 = 1e9, t_v2 = 1e9;
    for (int rep = 0; rep < 2; rep++) {
        ec_verify_options vo = EC_VERIFY_OPTIONS_INIT;
        ec_verify_result r;
        vo.threads = 1;
        t0 = bench_now();
        if (ec_chain_verify(c, &vo, &r)) {
            fprintf(stderr, "verify: %s\n", ec_error_last()->message);
            return 1;
        }
        double t = bench_now() - t0;
        t_v1 = t < t_v1 ? t : t_v1;
        vo.threads = 2;
        t0 = bench_now();
        if (ec_chain_verify(c, &vo, &r))
            return 1;
        t = bench_now() - t0;
        t_v2 = t < t_v2 ? t : t_v2;
    }
    ec_chain_free(c);

    double raw = (double)n / best_raw, app = (double)n / t_append;
    double v1 = (double)n / t_v1, v2 = (double)n / t_v2;
    printf("events: %lu x %d-byte data (%zu bytes hashed each), SHA-256, memory backend\n", n,
           DATA_LEN, enc_len);
    printf("raw hash limit:   %.3f M events/s (%.2f GB/s)\n", raw / 1e6,
           raw * (double)enc_len / 1e9);
    printf("append:           %.3f M events/s (arena pre-faulted by capacity hints)\n", app / 1e6);
    printf("append, cold:     %.3f M events/s (page faults on the append path; ratio %.3f)\n",
           (double)n / t_cold / 1e6, (double)n / t_cold / raw);
    printf("verify 1 thread:  %.3f M events/s\n", v1 / 1e6);
    printf("verify 2 threads: %.3f M events/s (%.2fx one thread)\n", v2 / 1e6, v2 / v1);
    printf("(checksum %u)\n", acc);
    printf("core.append: %.3f\n", app / raw);
    printf("core.verify: %.3f\n", v1 / raw);
    return 0;
}
