/* actors/relay.c: the message tests' actor (tests/test_actor_msgs.c). Started with args
 * "nest", its ec_init spawns a child of its own module with the same args, which does the
 * same, until the runtime refuses (calls nested too deep): a spawn that fails. Messages:
 * "send TO TEXT" sends TEXT to actor TO ("send2": twice); "sendtrap TO" sends "hello" to TO, then
 * traps (the send is in the call an automatic recovery abandons); "spin" loops until its fuel
 * runs out (a call to kill the process in), "sendspin TO" sends "hello" to TO first; anything
 * else is logged. */
#include "evchain_abi.h"

static i32 nest(void)
{
    i32 r = ec_sup_spawn("relay", 5, "kid", 3, "nest", 4);
    char line[32] = "spawn ";
    u32 m = 6;
    if (r < 0) {
        line[m++] = '-';
        m += ec_utoa((u32)-r, line + m);
    } else
        m += ec_utoa((u32)r, line + m);
    ec_log(line, m);
    return r;
}

EXPORT("ec_init") i32 init(const char *args, u32 n)
{
    if (ec_starts(args, n, "nest"))
        return nest();
    return 0;
}

/* The length of the word at p (up to a space or the end). */
static u32 word(const char *p, u32 n)
{
    u32 k = 0;
    while (k < n && p[k] != ' ')
        k++;
    return k;
}

EXPORT("ec_handle_message") i32 on_message(const char *p, u32 n)
{
    if (ec_starts(p, n, "send ") || ec_starts(p, n, "send2 ")) { /* send2: twice */
        u32 at = p[4] == '2' ? 6 : 5, tl = word(p + at, n - at);
        u32 rest = at + tl + (at + tl < n);
        i32 r = ec_msg_send(p + at, tl, p + rest, n - rest);
        if (at == 6)
            r = ec_msg_send(p + at, tl, p + rest, n - rest);
        return r;
    }
    if (ec_starts(p, n, "spin") || ec_starts(p, n, "sendspin ")) {
        if (p[1] == 'e') /* sendspin TO: sends "hello" to TO first */
            ec_msg_send(p + 9, word(p + 9, n - 9), "hello", 5);
        for (volatile u32 k = 0;; k++) /* until the fuel runs out, or the process is killed */
            ;
    }
    if (ec_starts(p, n, "sendtrap ")) {
        ec_msg_send(p + 9, word(p + 9, n - 9), "hello", 5);
        __builtin_trap();
    }
    ec_log(p, n);
    return 0;
}
