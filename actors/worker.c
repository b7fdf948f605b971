/* actors/worker.c: a child for the supervisor example: answers requests with its running
 * total and shuts itself down on "quit". */
#include "evchain_abi.h"

static u64 total;

EXPORT("ec_init") i32 init(const char *args, u32 n)
{
    total = ec_atou(args, n);
    return 0;
}

EXPORT("ec_handle_message") i32 on_message(const char *p, u32 n)
{
    if (ec_starts(p, n, "quit"))
        return ec_shutdown("asked to quit", 13);
    total += ec_atou(p, n);
    return 0;
}

EXPORT("ec_handle_request") i32 on_request(const char *p, u32 n)
{
    (void)p, (void)n;
    char b[24];
    return ec_msg_reply(b, ec_utoa(total, b));
}
