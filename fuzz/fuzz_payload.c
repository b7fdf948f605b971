/* fuzz/fuzz_payload.c: libFuzzer harness for the actor payload reader (deterministic CBOR
 * to JSON, what `evchain show` runs on data from any chain file) and the map lookup the
 * cross-chain link check uses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evchain/evchain.h>
#include "actor/cbor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *js = NULL;
    int rc = ec_payload_to_json("wasm/call", data, size, &js);
    /* A payload the checker accepts renders, and one it refuses does not. */
    if ((rc == 0) != (cb_check(data, size) == 0))
        abort();
    if (rc == 0 && (!js || strlen(js) == 0))
        abort();
    free(js);
    unsigned mt;
    const uint8_t *v;
    size_t vl;
    uint64_t num;
    if (cb_map_find(data, size, "link", &mt, &v, &vl, &num) == 0 && v &&
        (v < data || v + vl > data + size))
        abort();
    return 0;
}
