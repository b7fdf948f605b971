/* actors/hostile.c: an actor that misbehaves on request, for the containment tests: every
 * message names one attack. Each must end as a recorded trap or a recorded refusal. */
#include "evchain_abi.h"

static volatile u32 sink;

static u32 recurse(u32 d)
{
    volatile char pad[64];
    pad[0] = (char)d;
    if (d == sink + 0xfffffff0u) /* never true: keeps the compiler from a loop */
        return 0;
    return recurse(d + 1) + pad[0];
}

EXPORT("ec_handle_message") i32 on_message(const char *p, u32 n)
{
    if (ec_starts(p, n, "loop"))
        for (;;)
            sink++;
    if (ec_starts(p, n, "bomb")) { /* grow until refused, then write past the end */
        u32 pages = 0;
        while (__builtin_wasm_memory_grow(0, 16) != (unsigned long)-1)
            pages += 16;
        sink = pages;
        volatile char *end =
            (volatile char *)(unsigned long)(__builtin_wasm_memory_size(0) * 65536);
        *end = 1;
        return 0;
    }
    if (ec_starts(p, n, "recurse"))
        return (i32)recurse(0);
    if (ec_starts(p, n, "oob")) /* a pointer far outside memory given to a host call */
        return ec_log((const char *)0x7ffffff0, 64);
    if (ec_starts(p, n, "len")) /* a length running past the end of memory */
        return ec_fs_write("x", 1, (const void *)16, 0xfffffff0u);
    if (ec_starts(p, n, "escape ")) /* a path that leaves the sandbox: refused, recorded */
        return ec_fs_read(p + 7, n - 7, (void *)1024, 64);
    if (ec_starts(p, n, "huge")) { /* a message over the runtime's limit */
        static char big[2u << 20];
        return ec_msg_send("nobody", 6, big, sizeof big);
    }
    if (ec_starts(p, n, "divzero")) {
        volatile i32 num = 100; /* both unknown to clang: a real i32.div_s */
        return num / (i32)sink;
    }
    return 0;
}
