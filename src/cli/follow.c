/* cli/follow.c: follow mode of `evchain log`: a read-only disk backend polled for records the
 * writer adds, each decoded and fed to a verifier before it is shown. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "follow.h"

static void nap(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A failed poll: the chain rewritten or truncated under the reader (EC_EVERIFY, the store's
 * message names the chain and where: exit 1), or an error reading it. */
static void rewritten(const char *cmd, const char *dir, int rc)
{
    const ec_error *e = ec_error_last();
    if (rc == EC_EVERIFY && e && e->message && strncmp(e->message, dir, strlen(dir)) == 0)
        cli_error(cmd, 0, "%s", e->message);
    else
        cli_error(cmd, 1, "%s: reading new events", dir);
}

int cli_log_follow(const char *cmd, const char *dir, uint64_t from, uint64_t to, unsigned poll_ms,
                   cli_follow_fn fn, void *ctx)
{
    ec_disk_options o = EC_DISK_OPTIONS_INIT;
    o.read_only = 1; /* no lock: the writer keeps writing */
    ec_backend *be;
    int rc = ec_backend_disk(&be, dir, &o);
    if (rc) {
        cli_error(cmd, 1, "cannot follow");
        return cli_exit_code(rc);
    }
    ec_hash_alg alg;
    uint64_t count = 0;
    if ((rc = be->get_alg(be, &alg)) != 0 || (rc = be->count(be, &count)) != 0) {
        cli_error(cmd, 1, "cannot follow");
        be->free(be);
        return cli_exit_code(rc);
    }
    /* anchor: the event before `from` (if any) gives the parent the next one must carry */
    uint8_t prev[EC_HASH_MAX];
    size_t hl = ec_hash_len(alg);
    if (from > 0) {
        while (count < from) { /* the anchor may not exist yet */
            nap(poll_ms ? poll_ms : 100);
            if ((rc = be->count(be, &count)) != 0)
                break;
        }
        const uint8_t *rec;
        size_t len;
        if (!rc && (rc = be->get(be, from - 1, &rec, &len)) == 0 && len >= hl)
            memcpy(prev, rec + len - hl, hl);
        if (rc) {
            cli_error(cmd, 1, "reading event %llu", (unsigned long long)(from - 1));
            be->free(be);
            return cli_exit_code(rc);
        }
    }
    ec_verifier v;
    ec_verifier_init(&v, alg, from, from ? prev : NULL);
    uint64_t next = from;
    int code = EXIT_VALID;
    while (next <= to) {
        if ((rc = be->count(be, &count)) != 0) {
            rewritten(cmd, dir, rc);
            code = cli_exit_code(rc);
            break;
        }
        if (count <= next) {
            nap(poll_ms ? poll_ms : 100);
            continue;
        }
        ec_backend_iter *it;
        if ((rc = be->iter_new(be, next, &it)) != 0) {
            cli_error(cmd, 1, "reading event %llu", (unsigned long long)next);
            code = cli_exit_code(rc);
            break;
        }
        const uint8_t *rec;
        size_t len;
        while (next <= to && (rc = be->iter_next(it, &rec, &len)) == 0) {
            ec_verify_result res;
            ec_event ev;
            if (ec_verifier_feed(&v, rec, len, &res) != 0) {
                cli_error(cmd, 0, "%s: event %llu: %s", dir, (unsigned long long)res.seq,
                          res.reason);
                rc = EC_EVERIFY;
                break;
            }
            if ((rc = ec_record_decode(&ev, rec, len)) != 0)
                break; /* reported below */
            if ((rc = fn(&ev, ctx)) != 0) {
                rc = 1; /* the caller asked to stop */
                break;
            }
            next++;
        }
        be->iter_free(it);
        fflush(stdout);
        if (rc == 1) {
            break;
        }
        if (rc != EC_ITEROVER && rc != 0) {
            /* a record that does not read may be the chain cut or replaced under us: the
             * store's check of that (count) names it better than the frame's checksum */
            char why[1024] = "";
            const ec_error *e = ec_error_last();
            if (rc == EC_EFORMAT && e && e->message) /* (count may raise another error) */
                snprintf(why, sizeof why, "%s", e->message);
            uint64_t n;
            int rw = rc == EC_EFORMAT || rc == EC_EIO ? be->count(be, &n) : 0;
            if (rw == EC_EVERIFY) {
                rewritten(cmd, dir, rw);
                rc = rw;
            } else if (rc == EC_EFORMAT && why[0]) {
                /* a damaged record: the store's "<chain>: event N: <what> (...)", a broken
                 * chain (exit 1) as without -f */
                cli_error(cmd, 0, "%s", why);
                rc = EC_EVERIFY;
            } else if (rc != EC_EVERIFY) {
                cli_error(cmd, 1, "%s: reading event %llu", dir, (unsigned long long)next);
            }
            code = cli_exit_code(rc);
            break;
        }
    }
    be->free(be);
    return code;
}
