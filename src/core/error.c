/* core/error.c: the per-thread last error (libgit2's git_error_last model). Every failing
 * call raises its message here before returning its negative code. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"

static _Thread_local char tls_message[1024];
static _Thread_local ec_error tls_error;
static _Thread_local int tls_set;
/* ec_error_set_damage: where the reason starts in tls_message (0: not a damage error), and
 * the seq it is about */
static _Thread_local size_t tls_reason_at;
static _Thread_local uint64_t tls_reason_seq;

const ec_error *ec_error_last(void)
{
    return tls_set ? &tls_error : NULL;
}

void ec_error_clear(void)
{
    tls_set = 0;
    tls_reason_at = 0;
    tls_message[0] = 0;
}

static int raise_v(int code, int errno_value, const char *fmt, va_list ap)
{
    /* Format into a local buffer first: callers often wrap the previous message
     * (`ec_error_set(rc, "event %llu: %s", seq, ec_error_last()->message)`), an argument
     * that points into tls_message itself. */
    char buf[sizeof tls_message];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    if (errno_value && n >= 0 && (size_t)n < sizeof buf)
        snprintf(buf + n, sizeof buf - (size_t)n, ": %s", strerror(errno_value));
    memcpy(tls_message, buf, sizeof buf);
    tls_error.code = code;
    tls_error.message = tls_message;
    tls_set = 1;
    tls_reason_at = 0;
    return code;
}

int ec_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    raise_v(code, 0, fmt, ap);
    va_end(ap);
    return code;
}

int ec_error_set_errno(int code, int errno_value, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    raise_v(code, errno_value, fmt, ap);
    va_end(ap);
    return code;
}

int ec_error_set_damage(const char *where, uint64_t seq, const char *fmt, ...)
{
    char reason[sizeof tls_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    ec_error_set(EC_EFORMAT, "%s: event %llu: ", where, (unsigned long long)seq);
    size_t at = strlen(tls_message);
    if (at + 1 >= sizeof tls_message) /* no room for the reason: not one to hand on */
        return EC_EFORMAT;
    snprintf(tls_message + at, sizeof tls_message - at, "%s", reason);
    tls_reason_at = at;
    tls_reason_seq = seq;
    return EC_EFORMAT;
}

const char *ec_error_damage_reason(uint64_t seq)
{
    return tls_set && tls_reason_at && tls_reason_seq == seq ? tls_message + tls_reason_at : NULL;
}

const char *ec_error_name(int code)
{
    switch (code) {
    case EC_OK:
        return "EC_OK";
    case EC_ERROR:
        return "EC_ERROR";
    case EC_ENOMEM:
        return "EC_ENOMEM";
    case EC_EINVAL:
        return "EC_EINVAL";
    case EC_ENOTFOUND:
        return "EC_ENOTFOUND";
    case EC_EIO:
        return "EC_EIO";
    case EC_EFORMAT:
        return "EC_EFORMAT";
    case EC_EVERIFY:
        return "EC_EVERIFY";
    case EC_ELOCKED:
        return "EC_ELOCKED";
    case EC_EEXISTS:
        return "EC_EEXISTS";
    case EC_ITEROVER:
        return "EC_ITEROVER";
    case EC_EUNSUPPORTED:
        return "EC_EUNSUPPORTED";
    case EC_ENOSPC:
        return "EC_ENOSPC";
    case EC_ETRAP:
        return "EC_ETRAP";
    case EC_EDIVERGE:
        return "EC_EDIVERGE";
    case EC_EDENIED:
        return "EC_EDENIED";
    case EC_ETIMEOUT:
        return "EC_ETIMEOUT";
    default:
        return "EC_UNKNOWN";
    }
}
