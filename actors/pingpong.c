/* actors/pingpong.c: one half of a pair that exchange messages. Started with its peer's id
 * as init argument; "serve N" starts a rally of N pings, each answered by a pong; requests
 * are answered with the number of balls seen (used by the round-trip benchmark). */
#include "evchain_abi.h"

static char peer[65];
static u32 peer_len;
static u64 seen;

EXPORT("ec_init") i32 init(const char *args, u32 n)
{
    if (n == 0 || n > 64)
        return EC_EINVAL;
    memcpy(peer, args, n);
    peer_len = n;
    return 0;
}

static i32 hit(const char *word, u64 k, u64 left)
{
    char b[64];
    u32 w = ec_strlen(word);
    memcpy(b, word, w);
    u32 n = w;
    n += ec_utoa(k, b + n);
    b[n++] = ' ';
    n += ec_utoa(left, b + n);
    return ec_msg_send(peer, peer_len, b, n);
}

/* "serve N" | "ping K LEFT" | "pong K LEFT" */
EXPORT("ec_handle_message") i32 on_message(const char *p, u32 n)
{
    seen++;
    if (ec_starts(p, n, "serve "))
        return hit("ping ", 1, ec_atou(p + 6, n - 6));
    u32 i = 5, j;
    u64 k = ec_atou(p + i, n - i);
    for (j = i; j < n && p[j] != ' '; j++)
        ;
    u64 left = j < n ? ec_atou(p + j + 1, n - j - 1) : 0;
    if (ec_starts(p, n, "ping "))
        return hit("pong ", k, left);
    if (ec_starts(p, n, "pong ") && left > 1)
        return hit("ping ", k + 1, left - 1);
    if (ec_starts(p, n, "pong "))
        LOG("rally over");
    return 0;
}

EXPORT("ec_handle_request") i32 on_request(const char *p, u32 n)
{
    if (ec_starts(p, n, "relay")) { /* ask the peer, answer with its answer */
        char b[32];
        i32 r = ec_msg_request(peer, peer_len, "count", 5, b, sizeof b);
        return r < 0 ? r : ec_msg_reply(b, (u32)r);
    }
    char b[24];
    return ec_msg_reply(b, ec_utoa(seen, b));
}
