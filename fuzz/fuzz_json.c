/* fuzz/fuzz_json.c: libFuzzer harness for the JSON and JSONL readers (the code that reads
 * files a user is handed): every input is loaded as detected, as JSON and as JSONL, both
 * verified and for inspection; a verified load must export and read back to the same chain. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evchain/evchain.h>
#include "store/interchange.h"

/* Export c as fmt and read it back: same count and head, or the writer and the reader
 * disagree about the format. */
static void roundtrip(ec_chain *c, ec_file_format fmt, int inspected)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return;
    ec_export_options o = EC_EXPORT_OPTIONS_INIT;
    o.format = fmt;
    int rc = ec_export_stream(c, f, &o);
    fclose(f);
    if (rc != 0 && inspected) {
        /* a chain loaded for inspection may hold unreadable records: refusing is fine */
        const ec_error *e = ec_error_last();
        if (!e || !e->message[0])
            abort();
        free(buf);
        return;
    }
    if (rc != 0)
        abort(); /* a verified chain always exports */
    f = fmemopen(buf, len, "r");
    ec_chain *d = NULL;
    /* inspect: a chain loaded for inspection may be broken, and must survive as it is */
    if (!f || ec_interchange_open(&d, f, "rt", EC_FORMAT_AUTO, 1, NULL) != 0)
        abort();
    fclose(f);
    uint8_t h1[EC_HASH_MAX], h2[EC_HASH_MAX];
    if (ec_chain_count(d) != ec_chain_count(c) || ec_chain_alg(d) != ec_chain_alg(c))
        abort();
    if (ec_chain_count(c) && (ec_chain_head(c, h1, NULL) || ec_chain_head(d, h2, NULL) ||
                              memcmp(h1, h2, ec_hash_len(ec_chain_alg(c))) != 0))
        abort();
    ec_chain_free(d);
    free(buf);
}

static void load(const uint8_t *data, size_t size, ec_file_format fmt, int inspect)
{
    FILE *f = fmemopen((void *)data, size, "r");
    if (!f)
        return;
    ec_chain *c = NULL;
    ec_verify_result vr;
    int rc = ec_interchange_open(&c, f, "fuzz", fmt, inspect, &vr);
    fclose(f);
    if (rc != 0) {
        const ec_error *e = ec_error_last();
        if (!e || !e->message[0])
            abort(); /* every refusal must say why */
        return;
    }
    if (inspect) {
        memset(&vr, 0, sizeof vr);
        ec_verify_options vo = EC_VERIFY_OPTIONS_INIT;
        vo.threads = 1;
        (void)ec_chain_verify(c, &vo, &vr);
    }
    roundtrip(c, EC_FORMAT_JSONL, inspect);
    ec_chain_free(c);
}

/* Two ways of reading must agree on every input (loaded for inspection, so that no
 * verification stops one earlier than the other): same result code, same records. For
 * JSONL the fast path against jansson; for JSON the streamed document against the whole. */
static void fast_vs_slow(const uint8_t *data, size_t size, ec_file_format fmt)
{
    ec_chain *c[2] = {NULL, NULL};
    int rc[2];
    for (int k = 0; k < 2; k++) {
        FILE *f = fmemopen((void *)data, size, "r");
        if (!f)
            return;
        ec_jsonl_fast = fmt == EC_FORMAT_JSONL ? k : 1;
        ec_json_stream = fmt == EC_FORMAT_JSON ? k : 1;
        rc[k] = ec_interchange_open(&c[k], f, "fuzz", fmt, 1, NULL);
        fclose(f);
    }
    ec_jsonl_fast = 1;
    ec_json_stream = 1;
    if (rc[0] != rc[1])
        abort();
    if (rc[0] == 0) {
        if (ec_chain_count(c[0]) != ec_chain_count(c[1]))
            abort();
        ec_backend *b0 = ec_chain_backend(c[0]), *b1 = ec_chain_backend(c[1]);
        for (uint64_t s = 0; s < ec_chain_count(c[0]); s++) {
            const uint8_t *r0, *r1;
            size_t l0, l1;
            if (b0->get(b0, s, &r0, &l0) || b1->get(b1, s, &r1, &l1) || l0 != l1 ||
                memcmp(r0, r1, l0) != 0)
                abort();
        }
    }
    ec_chain_free(c[0]);
    ec_chain_free(c[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    fast_vs_slow(data, size, EC_FORMAT_JSONL);
    fast_vs_slow(data, size, EC_FORMAT_JSON);
    load(data, size, EC_FORMAT_AUTO, 0);
    load(data, size, EC_FORMAT_AUTO, 1);
    load(data, size, EC_FORMAT_JSON, 1);
    load(data, size, EC_FORMAT_JSONL, 0);
    /* the public streaming import into an open chain */
    ec_backend *be;
    ec_chain *c;
    if (ec_backend_memory(&be, NULL) == 0 && ec_chain_open(&c, be, NULL) == 0) {
        FILE *f = fmemopen((void *)data, size, "r");
        if (f) {
            (void)ec_import_stream(c, f, "fuzz", EC_FORMAT_AUTO, 0, NULL);
            fclose(f);
        }
        ec_chain_free(c);
    }
    return 0;
}
