/* actors/counter.c: an example actor that keeps a counter in the runtime's content-addressed
 * store (the value under store label "counter-<id>"), counts on messages and timers, and
 * answers requests with the current value. */
#include "evchain_abi.h"

/* What a plain message adds; counter2.c builds this file with 2. */
#ifndef COUNTER_STEP
#define COUNTER_STEP 1
#endif

static char label[80];
static u32 label_len;

static u64 load(void)
{
    unsigned char h[32];
    char buf[32];
    if (ec_label_get(label, label_len, h) != 0)
        return 0; /* first run: no value stored yet */
    i32 n = ec_store_get(h, buf, sizeof buf);
    return n > 0 ? ec_atou(buf, (u32)n) : 0;
}

static u64 add(u64 d)
{
    unsigned char h[32];
    char buf[32];
    u64 v = load() + d;
    u32 n = ec_utoa(v, buf);
    if (ec_store_put(buf, n, h) == 0)
        ec_label_set(label, label_len, h);
    return v;
}

EXPORT("ec_init") i32 init(const char *args, u32 n)
{
    (void)args, (void)n;
    const char pre[] = "counter-";
    memcpy(label, pre, sizeof pre - 1);
    i32 l = ec_actor_id(label + sizeof pre - 1, sizeof label - sizeof pre);
    if (l < 0)
        return l;
    label_len = (u32)l + sizeof pre - 1;
    LOG("counter ready");
    return 0;
}

/* Skip the digits at p[*k], then one space. */
static void skip_number(const char *p, u32 n, u32 *k)
{
    while (*k < n && p[*k] >= '0' && p[*k] <= '9')
        ++*k;
    if (*k < n && p[*k] == ' ')
        ++*k;
}

/* "tick": a timer of 5 ms with tag 1. "tick D T": one of D ms with tag T; "tick D T trap"
 * traps right after setting it, so that a recovery abandons its timer/set (the recovery
 * tests). */
static i32 tick(const char *p, u32 n)
{
    if (n < 5 || p[4] != ' ')
        return ec_timer_set(5, 1);
    u32 k = 5;
    u64 delay = ec_atou(p + k, n - k);
    skip_number(p, n, &k);
    u64 tag = ec_atou(p + k, n - k);
    skip_number(p, n, &k);
    i32 r = ec_timer_set((u32)delay, tag);
    if (ec_starts(p + k, n - k, "trap"))
        __builtin_trap();
    return r;
}

EXPORT("ec_handle_message") i32 on_message(const char *p, u32 n)
{
    char line[64] = "count = ";
    u64 v;
    if (ec_starts(p, n, "tick"))
        return tick(p, n);
    if (ec_starts(p, n, "add "))
        v = add(ec_atou(p + 4, n - 4));
    else
        v = add(COUNTER_STEP);
    u32 k = 8 + ec_utoa(v, line + 8);
    ec_log(line, k);
    return 0;
}

EXPORT("ec_handle_timer") i32 on_timer(u64 tag)
{
    /* A tag with the top bit set traps: a timer whose delivery traps (the recovery tests). */
    if (tag >> 63)
        __builtin_trap();
    add(tag);
    LOG("tick");
    return 0;
}

EXPORT("ec_handle_request") i32 on_request(const char *p, u32 n)
{
    (void)p, (void)n;
    char buf[24];
    u32 k = ec_utoa(load(), buf);
    return ec_msg_reply(buf, k);
}
