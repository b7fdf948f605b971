/* actors/tally.c: an example actor whose state lives only in its linear memory: a running
 * total and a count of messages. "N" adds N, "crash" traps (division by zero), a request
 * answers "total/count". Used by the replay, recovery and snapshot tests: rebuilding it
 * right means rebuilding its memory. */
#include "evchain_abi.h"

static u64 total, count;
static volatile i32 zero;

EXPORT("ec_init") i32 init(const char *args, u32 n)
{
    total = ec_atou(args, n);
    return 0;
}

EXPORT("ec_handle_message") i32 on_message(const char *p, u32 n)
{
    if (ec_starts(p, n, "crash"))
        return 100 / zero;
    total += ec_atou(p, n);
    count++;
    char line[64] = "total = ";
    u32 k = 8 + ec_utoa(total, line + 8);
    ec_log(line, k);
    return 0;
}

EXPORT("ec_handle_request") i32 on_request(const char *p, u32 n)
{
    (void)p, (void)n;
    char b[48];
    u32 k = ec_utoa(total, b);
    b[k++] = '/';
    k += ec_utoa(count, b + k);
    return ec_msg_reply(b, k);
}
