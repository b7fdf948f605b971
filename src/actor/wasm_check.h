/* actor/wasm_check.h: the check of a WebAssembly module against ABI v1 before it is compiled
 * or run (module.c); separate from actor_int.h so that the fuzz harness can use it. */
#ifndef EVCHAIN_ACTOR_WASM_CHECK_H
#define EVCHAIN_ACTOR_WASM_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* What a parsed module declares. */
typedef struct ec_wasm_info {
    uint32_t initial_pages, max_pages; /* max_pages = UINT32_MAX when undeclared */
    unsigned exports;                  /* bit set of EX_* below */
    /* The largest frame a defined function declares, in value slots (its params plus its
     * locals), and that function's index: module.c derives the call-depth limit from it. */
    uint64_t max_slots;
    uint32_t max_slots_func;
} ec_wasm_info;
enum {
    EX_ALLOC = 1,
    EX_INIT = 2,
    EX_MESSAGE = 4,
    EX_REQUEST = 8,
    EX_TIMER = 16,
    EX_CHILD = 32,
    EX_HTTP = 64
};

/* Parse a wasm binary and check it against ABI v1: every import must be a host function with
 * the right signature, memory must be defined and exported, handler exports must have the
 * documented types, and there must be no start section (it would run at instantiation,
 * outside any recorded call). `instrumented`: env.log_execution (fuel) is allowed. 0 or an EC_E*
 * code with a message naming `name` and the byte offset or the import. */
int ec_wasm_check(const uint8_t *wasm, size_t len, const char *name, int instrumented,
                  ec_wasm_info *info);

#endif
