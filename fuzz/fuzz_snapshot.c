/* fuzz/fuzz_snapshot.c: libFuzzer harness for the snapshot layout (docs/ABI.md section 7):
 * the bytes a recovery reads from the store before it restores an actor from them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evchain/evchain.h>
#include "core/internal.h"
#include "actor/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ec_snapshot_view v;
    if (ec_snapshot_parse(data, size, &v) != 0)
        return 0;
    /* What restore relies on: every view inside the input, the memory exactly its pages,
     * and (version 2) the timers exactly the rest, in order, below the snapshot's seq. */
    const uint8_t *end = data + size;
    if (v.globals < data || v.globals + v.globals_len > end || v.memory < v.globals ||
        (size_t)(end - v.memory) < (size_t)v.pages * 65536u)
        abort();
    if (v.version == 1) {
        if (v.memory + (size_t)v.pages * 65536u != end || v.timers || v.ntimers)
            abort();
        return 0;
    }
    if (v.version != 2 || v.timers != v.memory + (size_t)v.pages * 65536u ||
        v.timers + v.timers_len != end)
        abort();
    size_t off = 4;
    uint64_t prev = 0;
    for (uint32_t k = 0; k < v.ntimers; k++) {
        if (off + 9 > v.timers_len || v.timers[off + 8] == 0 || v.timers[off + 8] > EC_HASH_MAX ||
            off + 9 + v.timers[off + 8] > v.timers_len)
            abort();
        uint64_t s = ec_get_u64(v.timers + off);
        if (s >= v.seq || (k && s <= prev))
            abort();
        prev = s;
        off += 9 + v.timers[off + 8];
    }
    if (off != v.timers_len)
        abort();
    return 0;
}
