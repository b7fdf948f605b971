/* actors/crasher.c: a child that traps on purpose ("crash": division by zero, "abort":
 * unreachable), so that the supervisor example can restart it. */
#include "evchain_abi.h"

static volatile i32 zero;

EXPORT("ec_init") i32 init(const char *args, u32 n)
{
    (void)args, (void)n;
    LOG("crasher up");
    return 0;
}

EXPORT("ec_handle_message") i32 on_message(const char *p, u32 n)
{
    if (ec_starts(p, n, "crash"))
        return 100 / zero;
    if (ec_starts(p, n, "abort"))
        __builtin_trap();
    return 0;
}
