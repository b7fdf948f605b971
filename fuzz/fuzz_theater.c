/* fuzz/fuzz_theater.c: libFuzzer harness for the Theater reader and writer: any input that
 * loads as a verified Theater chain must be written back as Theater and read again to the
 * same chain (one loaded for inspection, unless the export refuses it as broken); refusals
 * must say why. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evchain/evchain.h>
#include "store/interchange.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    for (int inspect = 0; inspect < 2; inspect++) {
        FILE *f = fmemopen((void *)data, size, "r");
        if (!f)
            return 0;
        ec_chain *c = NULL;
        int rc = ec_interchange_open(&c, f, "fuzz", EC_FORMAT_THEATER, inspect, NULL);
        fclose(f);
        if (rc != 0) {
            const ec_error *e = ec_error_last();
            if (!e || !e->message[0])
                abort();
            continue;
        }
        char *buf = NULL;
        size_t len = 0;
        FILE *o = open_memstream(&buf, &len);
        if (!o)
            abort();
        ec_export_options eo = EC_EXPORT_OPTIONS_INIT;
        eo.format = EC_FORMAT_THEATER;
        if ((rc = ec_export_stream(c, o, &eo)) != 0) {
            /* An export verifies as it reads: a chain loaded for inspection may be broken,
             * and is then refused, saying where; a verified one never is. */
            const ec_error *e = ec_error_last();
            if (!inspect || rc != EC_EVERIFY || !e || !e->message[0])
                abort();
            fclose(o);
            free(buf);
            ec_chain_free(c);
            continue;
        }
        fclose(o);
        o = fmemopen(buf, len, "r");
        ec_chain *d = NULL;
        if (!o || ec_interchange_open(&d, o, "back", EC_FORMAT_THEATER, inspect, NULL) != 0)
            abort();
        fclose(o);
        uint8_t h1[EC_HASH_MAX], h2[EC_HASH_MAX];
        if (ec_chain_count(c) != ec_chain_count(d))
            abort();
        if (ec_chain_count(c) &&
            (ec_chain_head(c, h1, NULL) || ec_chain_head(d, h2, NULL) || memcmp(h1, h2, 20)))
            abort();
        ec_chain_free(d);
        ec_chain_free(c);
        free(buf);
    }
    return 0;
}
