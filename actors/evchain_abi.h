/* actors/evchain_abi.h: what an actor written in C (no libc) needs to use the evchain host
 * interface, ABI v1 (docs/ABI.md): the imports, the export macro, a bump allocator for
 * ec_alloc, and the few string helpers clang may call on its own (memcpy, memset...). */
#ifndef EVCHAIN_ABI_H
#define EVCHAIN_ABI_H

typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;
typedef long long i64;
typedef unsigned long size_t;

#define IMPORT(n) __attribute__((import_module("env"), import_name(n)))
#define EXPORT(n) __attribute__((export_name(n)))

/* Error codes (negative returns). */
#define EC_EINVAL    -1
#define EC_ENOTFOUND -2
#define EC_EDENIED   -3
#define EC_ETOOBIG   -4
#define EC_EBUSY     -5
#define EC_EIO       -6
#define EC_ESTATE    -7

IMPORT("log") i32 ec_log(const char *p, u32 n);
IMPORT("actor_id") i32 ec_actor_id(char *out, u32 cap);
IMPORT("shutdown") i32 ec_shutdown(const char *reason, u32 n);
IMPORT("time_now") u64 ec_time_now(void);
IMPORT("timer_set") i32 ec_timer_set(u32 delay_ms, u64 tag);
IMPORT("random_get") i32 ec_random_get(void *out, u32 n);
IMPORT("env_get") i32 ec_env_get(const char *name, u32 nl, char *out, u32 cap);
IMPORT("store_put") i32 ec_store_put(const void *p, u32 n, unsigned char hash_out[32]);
IMPORT("store_get") i32 ec_store_get(const unsigned char hash[32], void *out, u32 cap);
IMPORT("label_set") i32 ec_label_set(const char *name, u32 nl, const unsigned char hash[32]);
IMPORT("label_get") i32 ec_label_get(const char *name, u32 nl, unsigned char hash_out[32]);
IMPORT("fs_read") i32 ec_fs_read(const char *path, u32 pl, void *out, u32 cap);
IMPORT("fs_write") i32 ec_fs_write(const char *path, u32 pl, const void *data, u32 n);
IMPORT("fs_list") i32 ec_fs_list(const char *path, u32 pl, char *out, u32 cap);
IMPORT("fs_delete") i32 ec_fs_delete(const char *path, u32 pl);
IMPORT("fs_exists") i32 ec_fs_exists(const char *path, u32 pl);
IMPORT("msg_send") i32 ec_msg_send(const char *to, u32 tl, const void *body, u32 n);
IMPORT("msg_request")
i32 ec_msg_request(const char *to, u32 tl, const void *body, u32 n, void *out, u32 cap);
IMPORT("msg_reply") i32 ec_msg_reply(const void *body, u32 n);
IMPORT("sup_spawn")
i32 ec_sup_spawn(const char *module, u32 ml, const char *name, u32 nl, const void *args, u32 al);
IMPORT("sup_stop") i32 ec_sup_stop(const char *name, u32 nl);
IMPORT("sup_restart") i32 ec_sup_restart(const char *name, u32 nl);
IMPORT("sup_list") i32 ec_sup_list(char *out, u32 cap);
IMPORT("sup_status") i32 ec_sup_status(const char *name, u32 nl, void *out, u32 cap);

/* clang lowers copies and loops to these even with -fno-builtin in some cases. */
void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *dd = d;
    const unsigned char *ss = s;
    while (n--)
        *dd++ = *ss++;
    return d;
}
void *memset(void *d, int c, size_t n)
{
    unsigned char *dd = d;
    while (n--)
        *dd++ = (unsigned char)c;
    return d;
}
#define EC_HELPER static __attribute__((unused))
EC_HELPER u32 ec_strlen(const char *s)
{
    u32 n = 0;
    while (s[n])
        n++;
    return n;
}
EC_HELPER int ec_memeq(const void *a, const void *b, u32 n)
{
    const unsigned char *x = a, *y = b;
    for (u32 k = 0; k < n; k++)
        if (x[k] != y[k])
            return 0;
    return 1;
}
/* "prefix" at the start of (p, n)? */
EC_HELPER int ec_starts(const char *p, u32 n, const char *prefix)
{
    u32 l = ec_strlen(prefix);
    return n >= l && ec_memeq(p, prefix, l);
}
/* Decimal formatting and parsing for small demo payloads. */
EC_HELPER u32 ec_utoa(u64 v, char *out)
{
    char tmp[24];
    u32 n = 0, k = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10));
    while (n)
        out[k++] = tmp[--n];
    return k;
}
EC_HELPER u64 ec_atou(const char *p, u32 n)
{
    u64 v = 0;
    for (u32 k = 0; k < n && p[k] >= '0' && p[k] <= '9'; k++)
        v = v * 10 + (u64)(p[k] - '0');
    return v;
}
#define LOG(s) ec_log(s, ec_strlen(s))

/* Inputs are written by the host into memory the actor hands out here. One bump arena,
 * reset when full: an input is consumed by the handler it was given to. */
static unsigned char ec_arena[256 * 1024];
static u32 ec_arena_top;
EXPORT("ec_alloc") u32 ec_alloc(u32 n)
{
    if (n > sizeof ec_arena)
        return 0; /* the host treats 0 as a failed allocation (a trap) */
    if (ec_arena_top + n > sizeof ec_arena)
        ec_arena_top = 0;
    u32 p = ec_arena_top;
    ec_arena_top += (n + 7u) & ~7u;
    return (u32)(unsigned long)(ec_arena + p);
}

#endif
