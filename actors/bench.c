/* actors/bench.c: the benchmark actor: "clock N" makes N time_now host calls in a loop (the
 * recorded host-call rate), "ask N" makes N requests to its peer (the recorded round trip);
 * requests are answered with "ok". Started with its peer's id as init argument. It handles
 * timers (and sets none), so that a recovery's timer bookkeeping is in what bench_replay
 * measures. */
#include "evchain_abi.h"

static char peer[65];
static u32 peer_len;

EXPORT("ec_init") i32 init(const char *args, u32 n)
{
    if (n > 64)
        return EC_EINVAL;
    memcpy(peer, args, n);
    peer_len = n;
    return 0;
}

EXPORT("ec_handle_message") i32 on_message(const char *p, u32 n)
{
    if (ec_starts(p, n, "clock ")) {
        u64 k = ec_atou(p + 6, n - 6), s = 0;
        for (u64 i = 0; i < k; i++)
            s += ec_time_now();
        return (i32)(s & 1);
    }
    if (ec_starts(p, n, "ask ")) {
        u64 k = ec_atou(p + 4, n - 4);
        char b[8];
        for (u64 i = 0; i < k; i++)
            if (ec_msg_request(peer, peer_len, "q", 1, b, sizeof b) != 2)
                return EC_EIO;
        return 0;
    }
    return EC_EINVAL;
}

EXPORT("ec_handle_request") i32 on_request(const char *p, u32 n)
{
    (void)p, (void)n;
    return ec_msg_reply("ok", 2);
}

EXPORT("ec_handle_timer") i32 on_timer(u64 tag)
{
    (void)tag;
    return 0;
}
