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

EXPORT("ec_handle_request") i32 on_request(const char *p, u32 n)
{
    (void)p, (void)n;
    return ec_msg_reply("never", 5);
}

EXPORT("ec_handle_message") i32 on_message(const char *p, u32 n)
{
    if (ec_starts(p, n, "loop"))
        for (;;)
            sink++;
    if (ec_starts(p, n, "tickloop")) /* endless, with a host call now and then */
        for (;;)
            if ((++sink & 0xffff) == 0)
                ec_time_now();
    if (ec_starts(p, n, "bomb")) { /* grow until refused, then write past the end */
        u32 pages = 0;
        while (__builtin_wasm_memory_grow(0, 1) != (unsigned long)-1)
            pages += 1;
        sink = pages;
        char line[32] = "pages ";
        u32 k = 6 + ec_utoa(__builtin_wasm_memory_size(0), line + 6);
        ec_log(line, k); /* how far the cap let it grow */
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
    if (ec_starts(p, n, "self")) { /* a request to itself: it is on the stack, so EBUSY */
        char id[64], out[8];
        i32 l = ec_actor_id(id, sizeof id);
        return ec_msg_request(id, (u32)l, "x", 1, out, sizeof out);
    }
    if (ec_starts(p, n, "spawnmany ")) { /* children until refused: returns how many */
        char name[16] = "k";
        u64 k, want = ec_atou(p + 10, n - 10);
        for (k = 0; k < want; k++) {
            u32 l = 1 + ec_utoa(k, name + 1);
            if (ec_sup_spawn("worker", 6, name, l, "", 0) != 0)
                break;
        }
        return (i32)k;
    }
    if (ec_starts(p, n, "spawn ")) /* a child from a module name the runtime must vet */
        return ec_sup_spawn(p + 6, n - 6, "kid", 3, "", 0);
    if (ec_starts(p, n, "flood ")) { /* N messages to itself, N timers: refused past a cap */
        char id[64];
        i32 l = ec_actor_id(id, sizeof id);
        u64 k = ec_atou(p + 6, n - 6);
        for (u64 i = 0; i < k; i++) {
            ec_msg_send(id, (u32)l, "x", 1);
            ec_timer_set(3600000, i);
        }
        return 0;
    }
    if (ec_starts(p, n, "fill ")) { /* N files of 1 KiB: returns how many were written */
        static char kb[1024];
        char name[16] = "f";
        u64 k, want = ec_atou(p + 5, n - 5);
        for (k = 0; k < want; k++)
            if (ec_fs_write(name, 1 + ec_utoa(k, name + 1), kb, sizeof kb) != 0)
                break;
        return (i32)k;
    }
    if (ec_starts(p, n, "divzero")) {
        volatile i32 num = 100; /* both unknown to clang: a real i32.div_s */
        return num / (i32)sink;
    }
    return 0;
}
