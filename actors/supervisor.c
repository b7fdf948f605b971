/* actors/supervisor.c: a parent that spawns two children (worker, crasher), forwards work to
 * them, and restarts the crasher each time the runtime tells it that the child trapped. */
#include "evchain_abi.h"

static u32 restarts;

static i32 spawn(const char *module, const char *name, const char *args)
{
    return ec_sup_spawn(module, ec_strlen(module), name, ec_strlen(name), args, ec_strlen(args));
}

/* Child ids are "<parent id>.<child name>". */
static u32 child_id(const char *name, char *out)
{
    i32 n = ec_actor_id(out, 64);
    if (n < 0)
        return 0;
    out[n] = '.';
    u32 l = ec_strlen(name);
    memcpy(out + n + 1, name, l);
    return (u32)n + 1 + l;
}

EXPORT("ec_init") i32 init(const char *args, u32 n)
{
    (void)args, (void)n;
    i32 rc = spawn("worker", "worker", "0");
    if (rc == 0)
        rc = spawn("crasher", "crasher", "");
    return rc;
}

/* "work N" -> worker, "crash" -> crasher, "status" -> log the children and their heads,
 * "total" -> ask the worker for its total, "stop NAME" -> stop that child. */
EXPORT("ec_handle_message") i32 on_message(const char *p, u32 n)
{
    char id[140];
    if (ec_starts(p, n, "work ")) {
        u32 l = child_id("worker", id);
        return ec_msg_send(id, l, p + 5, n - 5);
    }
    if (ec_starts(p, n, "crash")) {
        u32 l = child_id("crasher", id);
        return ec_msg_send(id, l, "crash", 5);
    }
    if (ec_starts(p, n, "status")) {
        char list[256], line[128];
        i32 k = ec_sup_list(list, sizeof list);
        if (k > 0)
            ec_log(list, (u32)k);
        unsigned char st[41];
        if (ec_sup_status("crasher", 7, st, sizeof st) == 41) {
            const char *names[] = {"running", "stopped", "trapped"};
            const char *s = st[0] < 3 ? names[st[0]] : "?";
            u32 m = 0, sl = ec_strlen(s);
            memcpy(line, "crasher is ", 11);
            m = 11;
            memcpy(line + m, s, sl);
            m += sl;
            memcpy(line + m, ", restarts ", 11);
            m += 11;
            m += ec_utoa(restarts, line + m);
            ec_log(line, m);
        }
        return 0;
    }
    if (ec_starts(p, n, "stop "))
        return ec_sup_stop(p + 5, n - 5);
    if (ec_starts(p, n, "total")) {
        char b[32];
        u32 l = child_id("worker", id);
        i32 r = ec_msg_request(id, l, "total", 5, b, sizeof b);
        if (r > 0)
            ec_log(b, (u32)r);
        return r < 0 ? r : 0;
    }
    return 0;
}

/* event 1: the child trapped, 2: it stopped on its own. */
EXPORT("ec_handle_child") i32 on_child(const char *name, u32 n, u32 event)
{
    if (event == 1 && ec_starts(name, n, "crasher")) {
        restarts++;
        LOG("crasher trapped: restarting it");
        return ec_sup_restart(name, n);
    }
    return 0;
}
