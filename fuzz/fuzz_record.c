/* fuzz/fuzz_record.c: libFuzzer harness for the record decoder and the streaming verifier,
 * the first code that reads bytes from a file, a socket or a bundle. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evchain/evchain.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ec_event ev;
    if (ec_record_decode(&ev, data, size) == 0) {
        /* Every view must lie inside the input. */
        const uint8_t *end = data + size;
        if ((const uint8_t *)ev.type < data || (const uint8_t *)ev.type + ev.type_len > end ||
            ev.data + ev.data_len > end || ev.hash + ev.hash_len != end)
            abort();
        (void)ec_record_check(data, size);
        ec_verifier v;
        ec_verify_result r;
        memset(&r, 0, sizeof r);
        ec_verifier_init(&v, ev.alg, ev.seq, ev.parent_hash);
        (void)ec_verifier_feed(&v, data, size, &r);
    }
    return 0;
}
