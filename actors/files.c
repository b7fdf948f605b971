/* actors/files.c: an example actor that works in its filesystem sandbox: "write NAME TEXT",
 * "read NAME", "list", "delete NAME", "greet" (writes the allow-listed GREETING variable and
 * 8 random bytes to files). Results go to the log. */
#include "evchain_abi.h"

static char buf[4096];

static u32 word(const char *p, u32 n, u32 from)
{
    u32 k = from;
    while (k < n && p[k] != ' ')
        k++;
    return k;
}

EXPORT("ec_handle_message") i32 on_message(const char *p, u32 n)
{
    if (ec_starts(p, n, "write ")) {
        u32 e = word(p, n, 6);
        u32 d = e < n ? e + 1 : n;
        return ec_fs_write(p + 6, e - 6, p + d, n - d);
    }
    if (ec_starts(p, n, "read ")) {
        i32 r = ec_fs_read(p + 5, n - 5, buf, sizeof buf);
        if (r >= 0)
            ec_log(buf, (u32)r);
        return r;
    }
    if (ec_starts(p, n, "list")) {
        i32 r = ec_fs_list(".", 1, buf, sizeof buf);
        if (r >= 0)
            ec_log(buf, (u32)r);
        return r;
    }
    if (ec_starts(p, n, "delete "))
        return ec_fs_delete(p + 7, n - 7);
    if (ec_starts(p, n, "exists ")) {
        i32 r = ec_fs_exists(p + 7, n - 7);
        LOG(r == 1 ? "exists" : r == 0 ? "absent" : "refused");
        return r;
    }
    if (ec_starts(p, n, "greet")) {
        i32 r = ec_env_get("GREETING", 8, buf, sizeof buf);
        if (r < 0)
            return r;
        r = ec_fs_write("greeting.txt", 12, buf, (u32)r);
        unsigned char rnd[8];
        if (r == 0 && (r = ec_random_get(rnd, sizeof rnd)) == 8)
            r = ec_fs_write("random.bin", 10, rnd, sizeof rnd);
        return r < 0 ? r : 0;
    }
    return EC_EINVAL;
}
