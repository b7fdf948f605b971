/* actor/replay.c: deterministic replay (docs/ABI.md section 7). The actor runs again in a
 * runtime whose every recorded event is checked against the chain and whose every host call
 * is answered from the chain's `.result` event, so nothing outside the process is touched. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <evchain/http.h>
#include <evchain/replay.h>

#include "core/internal.h"
#include "actor/actor_int.h"
#include "store/disk_internal.h"

int ec_mkdir_p(const char *path);

#define IS(ev, t) ((ev).type_len == strlen(t) && memcmp((ev).type, t, (ev).type_len) == 0)

/* The replay's position: `cursor` is the seq of the next recorded event the actor must
 * reproduce; events before `limit` are expected. */
typedef struct ec_replay_state {
    ec_chain *orig;
    ec_chain *into; /* where the replayed events go */
    uint64_t cursor, limit, count;
    int any_module;
    int stop;     /* diverged or limit reached: every further record is refused */
    int diverged; /* the report below is filled */
    int resume;   /* drive: the actor already holds the state at the cursor (a snapshot) */
    int cut;      /* the chain ends inside a call (a crash, or still being written) */
    /* The call being driven starts at seq call_seq (in_call). A recovery marker met inside it
     * that goes back before it means the recorded call was cut there (a crash, then recover
     * or resume): the call is unwound (cut_call, with stop) and the replay goes on at the
     * marker instead of diverging. */
    int in_call, cut_call;
    uint64_t call_seq;
    ec_replay_report *rep;
    ec_actor *actor;        /* the actor replayed (drive) */
    const char *memory_out; /* write its memory where the replay stops (options) */
    int memory_tried;       /* once, where the replay stopped */
    /* The last recorded event read (orig_get): seq held_seq, decoded in held_ev from the copy
     * of its record in held_buf, when held_ok. Each event is read at least twice in a row (the
     * driver, then the record it is compared with; a host call's answer, then its record; the
     * look-ahead for an interrupted trap, then the next step): the copy makes it once. Owned:
     * unlike the backend's pointers, valid until the next miss of this state, whatever else
     * reads orig (a nested replay of the same chain). Freed by held_free. */
    int held_ok;
    uint64_t held_seq;
    ec_event held_ev;
    uint8_t *held_buf;
    size_t held_cap;
} ec_replay_state;

/* ec_chain_get(rs->orig, seq, ev), read from the backend only when seq is not the event held.
 * Records are never rewritten, so the copy is the record. ev is valid until the next call
 * for another seq (as the backend's are until its next call, backend.h). */
/* A read of the recorded chain failed: a damaged record (the store's EC_EFORMAT "event N:
 * ... damage") is a broken chain, EC_EVERIFY, as verification calls it (the CLI's exit 1);
 * any other error stays what it is. */
static int orig_err(uint64_t seq, int rc)
{
    if (rc != EC_EFORMAT || !ec_error_damage_reason(seq))
        return rc;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ec_error_last()->message);
    return ec_error_set(EC_EVERIFY, "%s", msg);
}

static int orig_get(ec_replay_state *rs, uint64_t seq, ec_event *ev)
{
    if (rs->held_ok && rs->held_seq == seq) {
        *ev = rs->held_ev;
        return 0;
    }
    rs->held_ok = 0;
    ec_backend *be = ec_chain_backend(rs->orig);
    const uint8_t *rec;
    size_t len;
    if (seq >= ec_chain_count(rs->orig) || be->get(be, seq, &rec, &len))
        return orig_err(seq, ec_chain_get(rs->orig, seq, ev)); /* its error, as before */
    if (len > rs->held_cap) {
        size_t cap = len < 512 ? 512 : len;
        uint8_t *nb = realloc(rs->held_buf, cap);
        if (!nb)
            return ec_error_set(EC_ENOMEM, "replay: out of memory");
        rs->held_buf = nb;
        rs->held_cap = cap;
    }
    memcpy(rs->held_buf, rec, len);
    if (ec_record_decode(&rs->held_ev, rs->held_buf, len))
        return orig_err(seq, ec_chain_get(rs->orig, seq, ev)); /* "event N: ..." */
    rs->held_ok = 1;
    rs->held_seq = seq;
    *ev = rs->held_ev;
    return 0;
}

static void held_free(ec_replay_state *rs)
{
    free(rs->held_buf);
    rs->held_buf = NULL;
    rs->held_cap = 0;
    rs->held_ok = 0;
}

static char *dupn(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

void ec_replay_report_free(ec_replay_report *r)
{
    if (!r)
        return;
    free(r->expected_type);
    free(r->actual_type);
    free(r->expected_data);
    free(r->actual_data);
    r->expected_type = r->actual_type = NULL;
    r->expected_data = r->actual_data = NULL;
}

/* Where the replay stops (once): the actor's memory to rs->memory_out, as it is at that moment,
 * before a stop inside a call unwinds it and discards the instance. */
static void capture_memory(ec_replay_state *rs)
{
    ec_actor *a = rs->actor;
    ec_replay_report *r = rs->rep;
    if (!rs->memory_out || rs->memory_tried)
        return;
    rs->memory_tried = 1;
    if (!a || !a->inst || !a->mem) {
        snprintf(r->memory_why, sizeof r->memory_why,
                 "the actor has no instance after seq %llu (%s): replay --until an earlier seq",
                 (unsigned long long)(rs->cursor ? rs->cursor - 1 : 0),
                 a ? ec_actor_state_name(a->state) : "not started");
        return;
    }
    uint64_t len = a->mem->size;
    if (ec_write_output(rs->memory_out, len ? a->mem->data : (void *)"", len) != 0) {
        const ec_error *e = ec_error_last();
        snprintf(r->memory_why, sizeof r->memory_why, "%s", e ? e->message : "write failed");
        ec_error_clear();
        return;
    }
    r->memory_written = 1;
    r->memory_at = rs->cursor;
    r->memory_len = len;
}

/* Note the first divergence: the recorded event at seq (or none) against what the actor
 * did (or none). Later ones are consequences of the first and are not reported. */
static int diverge(ec_replay_state *rs, const ec_event *exp, const char *act_type,
                   const void *act_data, size_t act_len, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
#include <stdarg.h>
static int diverge(ec_replay_state *rs, const ec_event *exp, const char *act_type,
                   const void *act_data, size_t act_len, const char *fmt, ...)
{
    if (rs->stop)
        return EC_EDIVERGE;
    capture_memory(rs);
    rs->stop = 1;
    rs->diverged = 1;
    ec_replay_report *r = rs->rep;
    r->diverged = 1;
    r->seq = rs->cursor;
    if (exp) {
        r->expected_type = dupn(exp->type, exp->type_len);
        r->expected_data = (uint8_t *)dupn(exp->data, exp->data_len);
        r->expected_len = exp->data_len;
    } else {
        r->expected_type = dupn("(end of chain)", 14);
    }
    r->actual_type = dupn(act_type, strlen(act_type));
    r->actual_data = (uint8_t *)dupn(act_data, act_data ? act_len : 0);
    r->actual_len = act_data ? act_len : 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
    return ec_error_set(EC_EDIVERGE, "replay diverges at seq %llu: %s",
                        (unsigned long long)rs->cursor, r->why);
}

/* Reached `until`: the replay ends here, without a divergence. */
static int reached(ec_replay_state *rs)
{
    capture_memory(rs);
    rs->stop = 1;
    return ec_error_set(EC_EDIVERGE, "replay stopped at seq %llu", (unsigned long long)rs->limit);
}

ec_chain *ec_replay_target(ec_runtime *rt)
{
    return rt->replay->into;
}

/* ev, at the cursor, where the replayed actor makes an event inside a call: whether it is a
 * recovery marker that abandons that call (its point is before the call's wasm/call). Then
 * the call is unwound as at the chain's cut end, but the replay goes on (drive_call). */
static int uint_field(const ec_event *ev, const char *key, uint64_t *out);
static int cut_by_marker(ec_replay_state *rs, const ec_event *ev)
{
    uint64_t point;
    if (!rs->in_call || !(IS(*ev, "runtime/recovered") || IS(*ev, "runtime/migrated")) ||
        cb_check(ev->data, ev->data_len) || uint_field(ev, "point", &point) ||
        point >= rs->call_seq) {
        ec_error_clear();
        return 0;
    }
    rs->stop = 1;
    rs->cut_call = 1;
    return 1;
}

static int emit_recorded(ec_replay_state *rs);

/* The recorded event at the cursor, where the actor makes an event `type` (or takes a host
 * call's result): 0 with *ev, 1 at `limit`. The http/refused events before it are copied
 * first. The HTTP server records the answer it gives at a deadline while a call is still
 * running (http_actor.c on_late) between two of that call's events, wherever they are, even
 * between a host call's request and its result (ABI.md section 8): a decision of the server,
 * not the actor's, copied as the drive loop copies one between calls (its own copy, of type
 * http/refused, is taken as it is). Costs a comparison per event, not a read. */
static int at_cursor(ec_replay_state *rs, const char *type, ec_event *ev)
{
    for (;;) {
        if (rs->cursor >= rs->limit)
            return 1;
        int rc = orig_get(rs, rs->cursor, ev);
        if (rc)
            return rc;
        if (!IS(*ev, "http/refused") || strcmp(type, "http/refused") == 0)
            return 0;
        if ((rc = emit_recorded(rs)))
            return rc;
    }
}

int ec_replay_record(ec_actor *a, const char *type, const cbuf *payload, uint8_t *hash_out)
{
    ec_replay_state *rs = a->rt->replay;
    if (rs->stop)
        return ec_error_set(EC_EDIVERGE, "replay already stopped");
    ec_event ev;
    int rc = at_cursor(rs, type, &ev);
    if (rc == 1) {
        if (rs->limit < rs->count || rs->cut)
            return reached(rs);
        return diverge(rs, NULL, type, payload->p, payload->len,
                       "the actor goes on after the last recorded event");
    }
    if (rc)
        return rc;
    if (cut_by_marker(rs, &ev))
        return ec_error_set(EC_EDIVERGE, "the call was cut at seq %llu",
                            (unsigned long long)rs->cursor);
    size_t tl = strlen(type);
    int same_type = ev.type_len == tl && memcmp(ev.type, type, tl) == 0;
    /* A module other than the recorded one (any_module): its binding events are taken as
     * recorded, so that the replay goes on to the first difference in behaviour. */
    int as_recorded = rs->any_module && same_type &&
                      (strcmp(type, "actor/start") == 0 || strcmp(type, "actor/restart") == 0);
    if (!same_type)
        return diverge(rs, &ev, type, payload->p, payload->len,
                       "the chain has %.*s, the actor made %s", (int)ev.type_len, ev.type, type);
    if (!as_recorded &&
        (ev.data_len != payload->len || (ev.data_len && memcmp(ev.data, payload->p, ev.data_len))))
        return diverge(rs, &ev, type, payload->p, payload->len, "same event type %s, other payload",
                       type);
    ec_event_input in = {0};
    in.type = type;
    in.data = as_recorded ? ev.data : payload->p;
    in.data_len = as_recorded ? ev.data_len : payload->len;
    /* The recorded time: the same record, the same hash. No description: the runtime never
     * writes one, so a recorded one is a difference (in the hash). */
    in.timestamp = ev.timestamp;
    /* ev borrows from the original's record: copy what is compared after the append. */
    uint8_t want[EC_HASH_MAX];
    size_t wl = ev.hash_len;
    memcpy(want, ev.hash, wl);
    uint8_t got[EC_HASH_MAX];
    uint64_t seq = 0;
    rc = ec_chain_append(a->chain, &in, &seq, got);
    if (rc)
        return rc;
    if (seq != rs->cursor || memcmp(got, want, wl) != 0) {
        ec_event e2;
        if (orig_get(rs, rs->cursor, &e2) == 0)
            return diverge(rs, &e2, type, payload->p, payload->len,
                           "same type and payload, but the record differs (seq %llu, other "
                           "parent, time or description)",
                           (unsigned long long)seq);
        return rc;
    }
    if (hash_out)
        memcpy(hash_out, got, wl);
    rs->cursor++;
    /* The call goes on: does the chain interrupt it next? Only after a host call's .result
     * (or at the call's start, runtime.c): a request is always followed by its .result (a
     * host call records two events, docs/ABI.md section 3; a late http/refused between them
     * is not the actor's, and arm_interrupt looks past those), and the interrupt is seen only in
     * wasm code, between host calls. The event read here is held (orig_get): the next step,
     * which reads it anyway, takes it without a second read. */
    if (a->on_stack && tl > 7 && memcmp(type + tl - 7, ".result", 7) == 0)
        ec_replay_arm_interrupt(a);
    return 0;
}

void ec_replay_arm_interrupt(ec_actor *a)
{
    ec_replay_state *rs = a->rt->replay;
    ec_event ev;
    unsigned mt;
    const uint8_t *v;
    size_t vl;
    uint64_t want;
    /* Looked at past `until` too: a call cut there still stops where it was interrupted
     * instead of running on to the end of its fuel. And past late HTTP refusals, which the
     * trap's record copies first. */
    if (!rs || rs->stop) {
        ec_error_clear();
        return;
    }
    for (uint64_t at = rs->cursor;; at++) {
        if (at >= rs->count || orig_get(rs, at, &ev)) {
            ec_error_clear();
            return;
        }
        if (!IS(ev, "http/refused"))
            break;
    }
    if (!IS(ev, "wasm/trap") || cb_check(ev.data, ev.data_len) ||
        cb_map_find(ev.data, ev.data_len, "fuel", &mt, &v, &vl, &want) || mt != 0) {
        ec_error_clear();
        return;
    }
    /* The call must stop after exactly `want` units from its start: the hook traps as
     * interrupted when the fuel left reaches zero. One that already used more traps at
     * its next fuel point, recording what it used: a different payload, a divergence. */
    uint64_t used = a->fuel_start - a->fuel;
    if (want >= used) {
        a->fuel = want - used;
        a->fuel_start = want;
    } else {
        a->fuel = 0;
        a->fuel_start = used;
    }
    a->fuel_interrupts = 1;
}

int ec_replay_recorded_uint(ec_actor *a, const char *type, const char *key, uint64_t *out)
{
    ec_replay_state *rs = a->rt->replay;
    ec_event ev;
    unsigned mt;
    const uint8_t *v;
    size_t vl, tl = strlen(type);
    if (!rs || rs->stop || rs->cursor >= rs->limit || orig_get(rs, rs->cursor, &ev) ||
        ev.type_len != tl || memcmp(ev.type, type, tl) != 0 || cb_check(ev.data, ev.data_len) ||
        cb_map_find(ev.data, ev.data_len, key, &mt, &v, &vl, out) || mt != 0) {
        ec_error_clear();
        return -1;
    }
    return 0;
}

int ec_replay_answer(ec_actor *a, const char *rtype, uint32_t out_ptr, uint32_t out_cap,
                     int64_t *ret)
{
    ec_replay_state *rs = a->rt->replay;
    if (rs->stop)
        return ec_error_set(EC_EDIVERGE, "replay already stopped");
    ec_event ev;
    int rc = at_cursor(rs, rtype, &ev);
    if (rc == 1)
        return rs->limit < rs->count || rs->cut
                   ? reached(rs)
                   : diverge(rs, NULL, rtype, NULL, 0, "the chain ends before the host's answer");
    if (rc)
        return rc;
    if (cut_by_marker(rs, &ev))
        return ec_error_set(EC_EDIVERGE, "the call was cut at seq %llu",
                            (unsigned long long)rs->cursor);
    size_t tl = strlen(rtype);
    if (ev.type_len != tl || memcmp(ev.type, rtype, tl) != 0)
        return diverge(rs, &ev, rtype, NULL, 0, "the chain has %.*s where the answer %s belongs",
                       (int)ev.type_len, ev.type, rtype);
    unsigned mt;
    const uint8_t *v;
    size_t vl;
    uint64_t num;
    if (cb_check(ev.data, ev.data_len) ||
        cb_map_find(ev.data, ev.data_len, "ret", &mt, &v, &vl, &num) || (mt != 0 && mt != 1))
        return diverge(rs, &ev, rtype, NULL, 0, "the recorded answer has no integer ret");
    /* CBOR: major type 1 holds -1 - n. */
    if (mt == 0 && num > INT64_MAX)
        return diverge(rs, &ev, rtype, NULL, 0, "the recorded ret is out of range");
    int64_t r = mt == 0 ? (int64_t)num : -1 - (int64_t)(num & INT64_MAX);
    const uint8_t *out = NULL;
    size_t out_len = 0;
    if (cb_map_find(ev.data, ev.data_len, "out", &mt, &v, &vl, &num) == 0) {
        if (mt != 2 && mt != 3)
            return diverge(rs, &ev, rtype, NULL, 0, "the recorded out is not bytes");
        out = v;
        out_len = vl;
        if (out_len > out_cap)
            return diverge(rs, &ev, rtype, NULL, 0,
                           "the recorded out holds %zu bytes, the actor's buffer %u", out_len,
                           out_cap);
    }
    /* The result event is the recorded one, byte for byte: the actor gets exactly it. */
    cbuf b;
    /* Copy first: the append may invalidate ev's borrowed pointers. */
    uint8_t small[512];
    uint8_t *copy = ev.data_len <= sizeof small ? small : malloc(ev.data_len);
    if (!copy)
        return ec_error_set(EC_ENOMEM, "replay: out of memory");
    memcpy(copy, ev.data, ev.data_len);
    size_t off = out ? (size_t)(out - ev.data) : 0;
    cb_init(&b, copy, ev.data_len);
    b.len = ev.data_len;
    rc = ec_replay_record(a, rtype, &b, NULL);
    if (rc == 0 && out_len)
        memcpy(a->mem->data + out_ptr, copy + off, out_len);
    if (copy != small)
        free(copy);
    if (rc)
        return rc;
    *ret = r;
    return 0;
}

/* ---- the driver ---- */

static int fn_index(const uint8_t *s, size_t n)
{
    static const char *const names[] = {"ec_init",         "ec_handle_message", "ec_handle_request",
                                        "ec_handle_timer", "ec_handle_child",   "ec_handle_http"};
    for (int k = 0; k < 6; k++)
        if (strlen(names[k]) == n && memcmp(names[k], s, n) == 0)
            return k;
    return -1;
}

/* Replay one recorded wasm/call: the same export, input, argument and origin. */
static int drive_call(ec_replay_state *rs, ec_actor *a, const ec_event *ev)
{
    unsigned mt;
    const uint8_t *v;
    size_t vl;
    uint64_t num;
    if (cb_check(ev->data, ev->data_len) ||
        cb_map_find(ev->data, ev->data_len, "fn", &mt, &v, &vl, &num) || mt != 3)
        return diverge(rs, ev, "(idle)", NULL, 0, "a wasm/call without fn");
    int fn = fn_index(v, vl);
    if (fn < 0)
        return diverge(rs, ev, "(idle)", NULL, 0, "a wasm/call of an unknown export");
    uint64_t arg = 0;
    if (cb_map_find(ev->data, ev->data_len, "arg", &mt, &v, &vl, &num) == 0 && mt == 0)
        arg = num;
    char from[80];
    const char *fromp = NULL;
    if (cb_map_find(ev->data, ev->data_len, "from", &mt, &v, &vl, &num) == 0) {
        if (mt != 3 || vl >= sizeof from)
            return diverge(rs, ev, "(idle)", NULL, 0, "a wasm/call with a bad from");
        memcpy(from, v, vl);
        from[vl] = 0;
        fromp = from;
    }
    uint8_t link[EC_HASH_MAX];
    size_t link_len = 0;
    if (cb_map_find(ev->data, ev->data_len, "link", &mt, &v, &vl, &num) == 0 && mt == 2 &&
        vl <= sizeof link) {
        memcpy(link, v, vl);
        link_len = vl;
    }
    uint8_t *input = NULL;
    size_t in_len = 0;
    if (cb_map_find(ev->data, ev->data_len, "input", &mt, &v, &vl, &num) == 0) {
        input = malloc(vl ? vl : 1);
        if (!input)
            return ec_error_set(EC_ENOMEM, "replay: out of memory");
        if (vl)
            memcpy(input, v, vl);
        in_len = vl;
    }
    int32_t ret;
    if (a->state != EC_ACTOR_RUNNING) {
        free(input);
        return diverge(rs, ev, "(idle)", NULL, 0, "the chain calls the actor, which is %s",
                       ec_actor_state_name(a->state));
    }
    int saved_in = rs->in_call;
    uint64_t saved_seq = rs->call_seq;
    rs->in_call = 1;
    rs->call_seq = rs->cursor;
    int rc = ec_exec_call(a, fn, input, in_len, arg, fromp, link, link_len, &ret);
    rs->in_call = saved_in;
    rs->call_seq = saved_seq;
    free(input);
    if (rs->cut_call) {
        /* Cut by a later recovery (cut_by_marker): unwound; the marker at the cursor rebuilds
         * the actor's state (reset_to), so what the unwinding left does not matter. */
        rs->cut_call = 0;
        rs->stop = 0;
        ec_error_clear();
        return 0;
    }
    if (rc == EC_ETRAP && !rs->stop)
        rc = 0; /* a recorded trap, reproduced */
    return rs->stop ? EC_EDIVERGE : rc;
}

static int text_field(const ec_event *ev, const char *key, char *out, size_t cap)
{
    unsigned mt;
    const uint8_t *v;
    size_t vl;
    uint64_t num;
    if (cb_map_find(ev->data, ev->data_len, key, &mt, &v, &vl, &num) || (mt != 2 && mt != 3) ||
        vl >= cap)
        return -1;
    memcpy(out, v, vl);
    out[vl] = 0;
    return 0;
}

/* The start parameters recorded in event 0 (docs/ABI.md section 3). */
typedef struct start_info {
    char id[80], parent[80], alg[16];
    uint8_t sha[32];
    uint8_t *args;
    size_t args_len;
    char **env;
    size_t nenv;
    uint64_t fuel, pages, depth;
} start_info;

static void start_free(start_info *s)
{
    free(s->args);
    for (size_t k = 0; k < s->nenv; k++)
        free(s->env[k]);
    free(s->env);
}

static int uint_field(const ec_event *ev, const char *key, uint64_t *out)
{
    unsigned mt;
    const uint8_t *v;
    size_t vl;
    if (cb_map_find(ev->data, ev->data_len, key, &mt, &v, &vl, out) || mt != 0)
        return -1;
    return 0;
}

/* The env allow-list: an array of text. cb_map_find does not walk arrays, so the array is
 * read here: a head, then that many text items. */
static int read_env(const ec_event *ev, start_info *s)
{
    const uint8_t *p = ev->data, *end = ev->data + ev->data_len;
    /* Find "env" (a text key of 3 bytes: 0x63 'e' 'n' 'v') followed by an array head. */
    for (const uint8_t *q = p; q + 5 <= end; q++) {
        if (q[0] != 0x63 || memcmp(q + 1, "env", 3) != 0 || (q[4] >> 5) != 4)
            continue;
        const uint8_t *r = q + 4;
        uint64_t n = r[0] & 31u;
        r++;
        if (n == 24 && r < end)
            n = *r++;
        else if (n > 23)
            return -1;
        if (n > 1024)
            return -1;
        s->env = calloc(n ? n : 1, sizeof *s->env);
        if (!s->env)
            return -1;
        for (uint64_t k = 0; k < n; k++) {
            if (r >= end || (r[0] >> 5) != 3)
                return -1;
            uint64_t l = r[0] & 31u;
            r++;
            if (l == 24 && r < end)
                l = *r++;
            else if (l > 23 || l > (uint64_t)(end - r))
                return -1;
            if (l > (uint64_t)(end - r) || !(s->env[k] = dupn(r, (size_t)l)))
                return -1;
            s->nenv++;
            r += l;
        }
        return 0;
    }
    return -1;
}

static int read_start(ec_chain *c, start_info *s)
{
    memset(s, 0, sizeof *s);
    ec_event ev;
    int rc = ec_chain_get(c, 0, &ev);
    if (rc)
        return rc;
    if (ev.type_len != 11 || memcmp(ev.type, "actor/start", 11) != 0)
        return ec_error_set(EC_EFORMAT,
                            "replay: event 0 is %.*s, not actor/start: not an "
                            "actor chain",
                            (int)ev.type_len, ev.type);
    unsigned mt;
    const uint8_t *v;
    size_t vl;
    uint64_t num;
    if (cb_check(ev.data, ev.data_len) || text_field(&ev, "actor", s->id, sizeof s->id) ||
        text_field(&ev, "alg", s->alg, sizeof s->alg) || uint_field(&ev, "fuel", &s->fuel) ||
        uint_field(&ev, "memory_pages", &s->pages) || uint_field(&ev, "call_depth", &s->depth) ||
        cb_map_find(ev.data, ev.data_len, "module_sha256", &mt, &v, &vl, &num) || mt != 2 ||
        vl != 32)
        return ec_error_set(EC_EFORMAT, "replay: event 0 (actor/start) lacks its fields "
                                        "(docs/ABI.md section 3)");
    memcpy(s->sha, v, 32);
    if (text_field(&ev, "parent", s->parent, sizeof s->parent))
        s->parent[0] = 0; /* null: a top-level actor */
    if (cb_map_find(ev.data, ev.data_len, "args", &mt, &v, &vl, &num) || (mt != 2 && mt != 3))
        return ec_error_set(EC_EFORMAT, "replay: actor/start: no args");
    s->args = (uint8_t *)dupn(v, vl);
    s->args_len = vl;
    if (!s->args || read_env(&ev, s)) {
        start_free(s);
        return ec_error_set(EC_EFORMAT, "replay: actor/start: bad env allow-list");
    }
    if (s->pages == 0 || s->pages > 65536 || s->fuel == 0) {
        start_free(s);
        return ec_error_set(EC_EFORMAT, "replay: actor/start: bad limits");
    }
    return 0;
}

void ec_module_keep_wasm(ec_runtime *rt, const uint8_t sha[32], const uint8_t *wasm, size_t len)
{
    char hex[65], path[4400];
    ec_hex_encode(hex, sha, 32);
    snprintf(path, sizeof path, "%s/%s.wasm", rt->cache_dir, hex);
    if (access(path, F_OK) == 0)
        return;
    if (ec_cache_dir_make(rt->cache_dir)) {
        ec_error_clear();
        return;
    }
    /* Best effort: the copy only serves later replays; a failure loses nothing recorded. */
    (void)ec_write_file_atomic(path, wasm, len);
    ec_error_clear();
}

/* A stand-in for the recorded parent of a child actor: it is never running, so nothing is
 * ever delivered to it, and it is not among the runtime's actors. */
typedef struct ghost {
    ec_actor a;
} ghost;

/* One replay: its runtime, the module (one reference held for each actor created), the
 * chain's start parameters, and the memory chains made on the way. */
typedef struct session {
    ec_runtime *rt;
    ec_module *m;
    start_info si;
    ghost *g;
    ec_chain *orig;
    int any_module;
    uint64_t count;
    ec_chain *tmp[64];
    size_t ntmp;
    int depth;
    /* What loading the module wrote into the cache, for a refused recovery to take back
     * (cache_undo): its compiled object, its copy, the top directory made for them (each
     * NULL when the cache already held it). */
    char *made_so, *made_copy, *made_top;
} session;

static int memory_chain(ec_hash_alg alg, ec_chain **out)
{
    ec_backend *be = NULL;
    ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
    co.alg = alg;
    int rc = ec_backend_memory(&be, NULL);
    if (rc == 0)
        rc = ec_chain_open(out, be, &co);
    return rc;
}

/* Append the recorded event at the cursor as it is: a marker the runtime wrote, not the
 * actor. Its hash must come out the same, as for every other event. */
static int emit_recorded(ec_replay_state *rs)
{
    ec_event ev;
    int rc = orig_get(rs, rs->cursor, &ev);
    if (rc)
        return rc;
    ec_event_input in = {0};
    char type[128];
    snprintf(type, sizeof type, "%.*s", (int)ev.type_len, ev.type);
    uint8_t *data = (uint8_t *)dupn(ev.data, ev.data_len);
    if (!data)
        return ec_error_set(EC_ENOMEM, "replay: out of memory");
    in.type = type;
    in.data = data;
    in.data_len = ev.data_len;
    in.timestamp = ev.timestamp;
    uint8_t want[EC_HASH_MAX], got[EC_HASH_MAX];
    size_t wl = ev.hash_len;
    memcpy(want, ev.hash, wl);
    rc = ec_chain_append(rs->into, &in, NULL, got);
    free(data);
    if (rc)
        return rc;
    if (memcmp(want, got, wl) != 0) {
        if (orig_get(rs, rs->cursor, &ev) == 0)
            return diverge(rs, &ev, type, ev.data, ev.data_len,
                           "the marker's record differs (other parent or description)");
        return EC_EDIVERGE;
    }
    rs->cursor++;
    return 0;
}

static int drive(session *s, ec_replay_state *rs, ec_actor **a_out);

/* A scratch chain holding the original's event 0 as stored: the start of a nested replay
 * that rebuilds an existing actor from seq 1. */
static int scratch_chain(session *s, ec_chain *orig, ec_chain **out)
{
    if (s->ntmp >= sizeof s->tmp / sizeof s->tmp[0])
        return ec_error_set(EC_EUNSUPPORTED, "replay: more than %zu recoveries in one chain",
                            sizeof s->tmp / sizeof s->tmp[0]);
    ec_chain *tmp = NULL;
    int rc = memory_chain(ec_chain_alg(orig), &tmp);
    if (rc)
        return rc;
    s->tmp[s->ntmp++] = tmp;
    ec_backend *be = ec_chain_backend(orig);
    const uint8_t *rec;
    size_t rl;
    if ((rc = be->get(be, 0, &rec, &rl)) || (rc = ec_chain_append_record(tmp, rec, rl)))
        return rc;
    *out = tmp;
    return 0;
}

/* Rebuild actor `a` (a fresh instance, the same struct: wasm2c's instance points at it) as it
 * was after event `point` of `orig`, by a nested replay of events 1..point. */
static int rebuild_at(session *s, ec_chain *orig, uint64_t count, uint64_t point, ec_actor *a)
{
    ec_chain *tmp = NULL;
    int rc = scratch_chain(s, orig, &tmp);
    if (rc)
        return rc;
    ec_replay_report subrep;
    memset(&subrep, 0, sizeof subrep);
    ec_replay_state sub;
    memset(&sub, 0, sizeof sub);
    sub.orig = orig;
    sub.into = tmp;
    sub.count = count;
    sub.cursor = 1;
    sub.limit = point + 1;
    sub.rep = &subrep;
    ec_chain *live = a->chain;
    s->depth++;
    rc = drive(s, &sub, &a);
    held_free(&sub);
    s->depth--;
    a->chain = live;
    ec_replay_report_free(&subrep);
    if (rc == 0 && (sub.diverged || a->state != EC_ACTOR_RUNNING || !a->inst))
        rc = ec_error_set(EC_EDIVERGE, "cannot rebuild the actor's state at seq %llu",
                          (unsigned long long)point);
    return rc;
}

static int fresh_boundary(ec_chain *c, uint64_t q, ec_event *e);

/* A marker's payload as the runtime writes it (docs/ABI.md section 7): point, abandoned (the
 * events between the point and the marker at seq m), point_hash. One encoding for the three
 * writers and the replay's check, so that they cannot drift apart. */
static void marker_payload(cbuf *b, uint64_t point, uint64_t m, const uint8_t *hash, size_t hl)
{
    cb_map(b, 3);
    cb_str(b, "point");
    cb_uint(b, point);
    cb_str(b, "abandoned");
    cb_uint(b, m - point - 1);
    cb_str(b, "point_hash");
    cb_bytes(b, hash, hl);
}

/* The marker at the cursor, with the given point, against what the runtime can write there:
 * the point must be a call boundary (a wasm/result, or event 0 of an actor without ec_init:
 * no other state is one to go on from), and the payload must be exactly marker_payload's
 * (abandoned M-1-P, point_hash the hash of event P, nothing else). Diverges otherwise: a
 * marker the runtime never writes would make a replay reproduce a history no runtime made. */
static int check_marker(ec_replay_state *rs, uint64_t point)
{
    ec_event pe, ev;
    int rc = ec_chain_get(rs->orig, point, &pe);
    if (rc)
        return rc;
    char ptype[64];
    snprintf(ptype, sizeof ptype, "%.*s", (int)pe.type_len, pe.type);
    uint8_t hash[EC_HASH_MAX];
    size_t hl = pe.hash_len;
    memcpy(hash, pe.hash, hl);
    int boundary = IS(pe, "wasm/result") || fresh_boundary(rs->orig, point, &pe);
    if ((rc = orig_get(rs, rs->cursor, &ev)))
        return rc;
    if (!boundary)
        return diverge(rs, &ev, "(idle)", NULL, 0,
                       "the %.*s marker's point %llu is %s, not a call boundary (a wasm/result, "
                       "or event 0 of an actor without ec_init)",
                       (int)ev.type_len, ev.type, (unsigned long long)point, ptype);
    uint8_t small[128];
    cbuf b;
    cb_init(&b, small, sizeof small);
    marker_payload(&b, point, rs->cursor, hash, hl);
    rc = 0;
    if (b.len != ev.data_len || memcmp(b.p, ev.data, b.len) != 0) {
        uint64_t ab;
        const char *what = "its payload is not {point, abandoned, point_hash} as the runtime "
                           "encodes it";
        if (uint_field(&ev, "abandoned", &ab) == 0 && ab != rs->cursor - point - 1)
            what = "its abandoned count is not the events between the point and the marker";
        else if (b.len == ev.data_len)
            what = "its point_hash is not the hash of the point event";
        char type[64];
        snprintf(type, sizeof type, "%.*s", (int)ev.type_len, ev.type);
        rc = diverge(rs, &ev, type, b.p, b.len, "the %s marker (point %llu) is invalid: %s", type,
                     (unsigned long long)point, what);
    }
    cb_free(&b);
    return rc;
}

/* runtime/recovered or runtime/migrated at the cursor names a `point`: the actor went on
 * from its state at that seq. It is checked (check_marker), the actor rebuilt there, and the
 * marker reproduced as recorded. */
static int reset_to(session *s, ec_replay_state *rs, ec_actor *a, const ec_event *ev)
{
    uint64_t point;
    if (cb_check(ev->data, ev->data_len) || uint_field(ev, "point", &point) || point >= rs->cursor)
        return diverge(rs, ev, "(idle)", NULL, 0, "a %.*s marker without a valid point",
                       (int)ev->type_len, ev->type);
    if (s->depth >= 32)
        return ec_error_set(EC_EUNSUPPORTED, "replay: recoveries nested deeper than 32");
    char type[64];
    snprintf(type, sizeof type, "%.*s", (int)ev->type_len, ev->type);
    int rc = check_marker(rs, point);
    if (rc)
        return rc;
    rc = rebuild_at(s, rs->orig, rs->count, point, a);
    ec_event e2;
    if (rc && orig_get(rs, rs->cursor, &e2) == 0)
        return diverge(rs, &e2, "(idle)", NULL, 0, "%s: cannot rebuild the state at seq %llu", type,
                       (unsigned long long)point);
    if (rc)
        return rc;
    return emit_recorded(rs);
}

/* A fresh instance for an existing actor, as runtime.c makes one. */
static int fresh_instance(ec_actor *a)
{
    ec_module *m = a->mod;
    if (a->inst) {
        m->free_inst(a->inst);
        free(a->inst);
        a->inst = NULL;
        a->mem = NULL;
    }
    void *inst = calloc(1, m->inst_size);
    if (!inst)
        return ec_error_set(EC_ENOMEM, "actor %s: out of memory for the instance", a->id);
    m->instantiate(inst, a);
    wasm_rt_memory_t *mem = m->memory(inst);
    if (mem->max_pages > a->rt->memory_pages)
        mem->max_pages = a->rt->memory_pages;
    a->inst = inst;
    a->mem = mem;
    ec_ptimer_reset(a); /* as at event 0: the replay that follows sets them again */
    a->state = EC_ACTOR_RUNNING;
    a->reason[0] = 0;
    a->stop_requested = 0;
    a->in_request = 0;
    a->replied = 0;
    return 0;
}

/* Reproduce rs->orig's events [0, rs->limit) in rs->into: create the actor (actor/start)
 * and drive each recorded call, stop, restart and marker; the actor makes the rest. */
static int drive(session *s, ec_replay_state *rs, ec_actor **a_out)
{
    ec_runtime *rt = s->rt;
    ec_replay_state *saved = rt->replay;
    rt->replay = rs;
    ec_actor *a = *a_out;
    int rc;
    if (a) {
        /* An existing actor, rebuilt from event 1 (rs->cursor) in rs->into, or already at
         * the cursor's state (restored from a snapshot). */
        a->chain = rs->into;
        rc = rs->resume ? 0 : fresh_instance(a);
    } else {
        start_info *si = &s->si;
        s->m->refs++; /* the new actor's reference */
        rc = ec_actor_create(rt, s->m, si->id, s->g ? &s->g->a : NULL,
                             s->g ? si->id + strlen(si->parent) + 1 : NULL, si->args, si->args_len,
                             (const char *const *)si->env, si->nenv, &a);
        if (rc)
            s->m->refs--;
    }
    rs->actor = a;
    if (rs->stop)
        rc = 0;
    while (rc == 0 && !rs->stop && rs->cursor < rs->limit) {
        ec_event ev;
        if ((rc = orig_get(rs, rs->cursor, &ev)))
            break;
        if (IS(ev, "wasm/call")) {
            rt->replay = rs;
            rc = drive_call(rs, a, &ev);
        } else if (IS(ev, "actor/stop")) {
            char reason[300];
            if (text_field(&ev, "reason", reason, sizeof reason))
                rc = diverge(rs, &ev, "(idle)", NULL, 0, "actor/stop without a reason");
            else if (a->state != EC_ACTOR_RUNNING)
                rc = diverge(rs, &ev, "(idle)", NULL, 0, "the chain stops an actor that is %s",
                             ec_actor_state_name(a->state));
            else
                rc = ec_actor_stop(a, reason, 0);
        } else if (IS(ev, "actor/restart")) {
            rc = ec_actor_restart(a);
            if (rc == EC_ETRAP && !rs->stop)
                rc = 0;
        } else if (IS(ev, "state/snapshot")) {
            /* Taken again and compared: the replayed state must hash the same. */
            if (a->state != EC_ACTOR_RUNNING)
                rc = diverge(rs, &ev, "(idle)", NULL, 0, "a snapshot of an actor that is %s",
                             ec_actor_state_name(a->state));
            else
                rc = ec_actor_snapshot_now(a);
        } else if (IS(ev, "http/request") || IS(ev, "http/refused") || IS(ev, "message/dropped")) {
            /* The HTTP server's records (what arrived, what it answered itself), not the
             * actor's: copied as they are (docs/ABI.md section 8); and so are the runtime's
             * records of messages it dropped (section 6), made from its queue, which a
             * replay does not have. */
            char type[32];
            snprintf(type, sizeof type, "%.*s", (int)ev.type_len, ev.type);
            /* Copied, but only what the server can write: a payload of the kind the event
             * names, in the FORMAT.md section 7 layout (kind 1 request, 3 refusal). */
            if (IS(ev, "message/dropped")) { /* the runtime's CBOR (ABI.md section 2) */
                if (cb_check(ev.data, ev.data_len)) {
                    ec_error_clear();
                    rc = diverge(rs, &ev, "(idle)", NULL, 0,
                                 "the chain's message/dropped is not a CBOR payload");
                    if (rs->stop)
                        rc = 0;
                    continue;
                }
            } else {
                ec_http_msg m;
                int bad = ec_http_decode(&m, ev.data, ev.data_len);
                ec_http_kind want = IS(ev, "http/request") ? EC_HTTP_REQUEST : EC_HTTP_REFUSAL;
                if (bad || m.kind != want) {
                    const char *why = bad && ec_error_last() ? ec_error_last()->message
                                                             : "another kind of message";
                    char whyc[256];
                    snprintf(whyc, sizeof whyc, "%s", why);
                    if (!bad)
                        ec_http_msg_clear(&m);
                    rc =
                        diverge(rs, &ev, "(idle)", NULL, 0,
                                "the chain's %s is not a %s payload (docs/FORMAT.md section 7): %s",
                                type, want == EC_HTTP_REQUEST ? "request" : "refusal", whyc);
                    if (rs->stop)
                        rc = 0; /* as at the end of any step: the divergence is reported */
                    continue;
                }
                ec_http_msg_clear(&m);
            }
            uint8_t *copy = malloc(ev.data_len ? ev.data_len : 1);
            if (!copy) {
                rc = ec_error_set(EC_ENOMEM, "replay: out of memory");
                break;
            }
            memcpy(copy, ev.data, ev.data_len);
            cbuf b;
            cb_init(&b, copy, ev.data_len);
            b.len = ev.data_len;
            rt->replay = rs;
            rc = ec_replay_record(a, type, &b, NULL);
            free(copy);
        } else if (IS(ev, "runtime/recovered") || IS(ev, "runtime/migrated")) {
            rc = reset_to(s, rs, a, &ev);
            rt->replay = rs;
        } else {
            rc = diverge(rs, &ev, "(idle)", NULL, 0,
                         "the chain has %.*s where the actor is between calls", (int)ev.type_len,
                         ev.type);
        }
        if (rs->stop)
            rc = 0;
    }
    if (rc == 0 && rs->diverged)
        rc = EC_EDIVERGE;
    if (rc == 0) /* at the end of the chain, or at `until` between calls */
        capture_memory(rs);
    rt->replay = saved;
    *a_out = a;
    return rc;
}

/* A refused recovery leaves the cache as it found it: the module's compiled object and copy,
 * when its load made them, are removed, then the directories made for them when empty (the
 * cache dir up to the top one; rmdir only: nothing anyone else put there is touched).
 * Another runtime that loaded the same object meanwhile keeps its mapping; a later one
 * compiles it again. */
static void cache_undo(session *s, const char *cache)
{
    if (s->made_so)
        unlink(s->made_so);
    if (s->made_copy)
        unlink(s->made_copy);
    if (!s->made_top)
        return;
    char p[4400];
    snprintf(p, sizeof p, "%s", cache);
    for (;;) {
        size_t len = strlen(p);
        while (len > 1 && p[len - 1] == '/')
            p[--len] = 0;
        if (rmdir(p) != 0 || strcmp(p, s->made_top) == 0)
            return;
        char *sl = strrchr(p, '/');
        if (!sl || sl == p)
            return;
        *sl = 0;
    }
}

/* Open a session for `chain`: read its start, find and check the module, make the runtime
 * (a replay runtime: memory chains, no sandbox until it goes live). */
static int session_open(session *s, ec_chain *chain, const char *module_path, const char *cache_dir,
                        const char *data_dir, int any_module)
{
    memset(s, 0, sizeof *s);
    s->orig = chain;
    s->any_module = any_module;
    s->count = ec_chain_count(chain);
    if (s->count == 0)
        return ec_error_set(EC_EFORMAT, "replay: the chain is empty");
    int rc = read_start(chain, &s->si);
    if (rc)
        return rc;
    ec_hash_alg alg;
    if (ec_hash_from_name(&alg, s->si.alg) || alg != ec_chain_alg(chain))
        return ec_error_set(EC_EFORMAT, "replay: actor/start names hash %s, the chain uses %s",
                            s->si.alg, ec_hash_name(ec_chain_alg(chain)));
    char modpath[4400], hex[65];
    const char *cache = cache_dir ? cache_dir : "evchain-data/cache";
    ec_hex_encode(hex, s->si.sha, 32);
    if (module_path)
        snprintf(modpath, sizeof modpath, "%s", module_path);
    else
        snprintf(modpath, sizeof modpath, "%s/%s.wasm", cache, hex);
    if (!module_path && access(modpath, R_OK) != 0)
        return ec_error_set(EC_ENOTFOUND,
                            "module %s (SHA-256 from the chain's actor/start) is not in the "
                            "cache %s: give it with --module, or the cache with --cache",
                            hex, cache);
    ec_runtime_options ro = EC_RUNTIME_OPTIONS_INIT;
    ro.data_dir = data_dir ? data_dir : "/"; /* exists: a replay makes no directory */
    ro.cache_dir = cache;
    ro.chain_store = EC_CHAIN_STORE_MEMORY;
    ro.alg = alg;
    ro.fuel = s->si.fuel;
    ro.memory_pages = (uint32_t)s->si.pages;
    ro.quiet = 1;
    if ((rc = ec_runtime_new(&s->rt, &ro)))
        return rc;
    /* What the load may write, noted before it does (cache_undo). */
    char copy[4400], top[4400];
    snprintf(copy, sizeof copy, "%s/%s.wasm", cache, hex);
    int copy_new = access(copy, F_OK) != 0;
    ec_path_first_missing(cache, top, sizeof top);
    int compiled = 0;
    /* Unless any_module: the chain's module (its SHA-256) under the call depth the chain was
     * recorded with, both checked before it is compiled (module.c). */
    rc = ec_module_load_as(s->rt, modpath, any_module ? NULL : s->si.sha, s->si.depth, &s->m,
                           &compiled);
    char so[4400];
    if (rc == 0 && compiled && ec_module_cache_path(s->rt, s->m, so, sizeof so) == 0 &&
        !(s->made_so = strdup(so)))
        rc = ec_error_set(EC_ENOMEM, "replay: out of memory");
    if (rc == 0 && copy_new && !(s->made_copy = strdup(copy)))
        rc = ec_error_set(EC_ENOMEM, "replay: out of memory");
    if (rc == 0 && top[0] && !(s->made_top = strdup(top)))
        rc = ec_error_set(EC_ENOMEM, "replay: out of memory");
    if (rc)
        return rc;
    if (s->si.parent[0]) {
        size_t pl = strlen(s->si.parent);
        if (strncmp(s->si.id, s->si.parent, pl) != 0 || s->si.id[pl] != '.')
            return ec_error_set(EC_EFORMAT, "replay: actor %s cannot be a child of %s", s->si.id,
                                s->si.parent);
        s->g = calloc(1, sizeof *s->g);
        if (!s->g || !(s->g->a.id = strdup(s->si.parent)))
            return ec_error_set(EC_ENOMEM, "replay: out of memory");
        s->g->a.rt = s->rt;
        s->g->a.state = EC_ACTOR_STOPPED;
        s->g->a.fs_fd = -1;
    }
    return 0;
}

static void session_close(session *s)
{
    if (s->rt) {
        /* Actors still in replay are not stopped: a replay records nothing of its own. */
        for (size_t k = 0; k < s->rt->nactors; k++)
            if (s->rt->replay || s->rt->actors[k]->chain == NULL)
                s->rt->actors[k]->state = EC_ACTOR_STOPPED;
        if (s->m)
            ec_module_release(s->rt, s->m);
        ec_runtime_free(s->rt);
    }
    if (s->g) {
        free(s->g->a.id);
        free(s->g);
    }
    for (size_t k = 0; k < s->ntmp; k++)
        ec_chain_free(s->tmp[k]);
    start_free(&s->si);
    free(s->made_so);
    free(s->made_copy);
    free(s->made_top);
}

/* ---- a chain that continues another one from seq n ---- */

/* Records 0..n-1 are read from `base` (the chain being replayed), records from n on are kept
 * in memory: a replay from a snapshot then appends after the snapshot without copying (and
 * re-checking) the events before it, so its cost is bounded by the events since. */
typedef struct overlay {
    ec_backend be;
    ec_backend *base, *mem;
    uint64_t n;
} overlay;
typedef struct overlay_iter {
    ec_backend *b;
    uint64_t next;
} overlay_iter;

#define OV(b) ((overlay *)(void *)(b))
static int ov_get_alg(ec_backend *b, ec_hash_alg *out)
{
    return OV(b)->base->get_alg(OV(b)->base, out);
}
static int ov_set_alg(ec_backend *b, ec_hash_alg alg)
{
    ec_hash_alg have;
    int rc = ov_get_alg(b, &have);
    if (rc == 0 && have != alg)
        rc = ec_error_set(EC_EINVAL, "overlay chain: algorithm differs from its base");
    return rc;
}
static int ov_count(ec_backend *b, uint64_t *out)
{
    uint64_t m;
    int rc = OV(b)->mem->count(OV(b)->mem, &m);
    *out = OV(b)->n + m;
    return rc;
}
static int ov_reserve(ec_backend *b, size_t len, uint8_t **out)
{
    return OV(b)->mem->reserve(OV(b)->mem, len, out);
}
static int ov_commit(ec_backend *b, uint64_t seq, size_t hash_off)
{
    return OV(b)->mem->commit(OV(b)->mem, seq - OV(b)->n, hash_off);
}
static int ov_get(ec_backend *b, uint64_t seq, const uint8_t **rec, size_t *len)
{
    overlay *o = OV(b);
    return seq < o->n ? o->base->get(o->base, seq, rec, len)
                      : o->mem->get(o->mem, seq - o->n, rec, len);
}
static int ov_find(ec_backend *b, const uint8_t *hash, size_t hl, uint64_t *out)
{
    overlay *o = OV(b);
    uint64_t q;
    int rc = o->mem->find_hash ? o->mem->find_hash(o->mem, hash, hl, &q) : EC_ENOTFOUND;
    if (rc == 0) {
        *out = q + o->n;
        return 0;
    }
    if (!o->base->find_hash)
        return ec_error_set(EC_EUNSUPPORTED, "overlay chain: no hash index");
    rc = o->base->find_hash(o->base, hash, hl, &q);
    if (rc == 0 && q >= o->n)
        rc = EC_ENOTFOUND;
    if (rc == 0)
        *out = q;
    return rc;
}
static int ov_iter_new(ec_backend *b, uint64_t from, ec_backend_iter **out)
{
    overlay_iter *it = malloc(sizeof *it);
    if (!it)
        return ec_error_set(EC_ENOMEM, "overlay chain: out of memory");
    it->b = b;
    it->next = from;
    *out = (ec_backend_iter *)(void *)it;
    return 0;
}
static int ov_iter_next(ec_backend_iter *i, const uint8_t **rec, size_t *len)
{
    overlay_iter *it = (overlay_iter *)(void *)i;
    uint64_t c;
    ov_count(it->b, &c);
    if (it->next >= c)
        return EC_ITEROVER;
    return ov_get(it->b, it->next++, rec, len);
}
static void ov_iter_free(ec_backend_iter *i)
{
    free(i);
}
static void ov_free(ec_backend *b)
{
    OV(b)->mem->free(OV(b)->mem);
    free(b);
}

static int overlay_chain(ec_chain *base, uint64_t n, ec_chain **out)
{
    overlay *o = calloc(1, sizeof *o);
    if (!o)
        return ec_error_set(EC_ENOMEM, "overlay chain: out of memory");
    int rc = ec_backend_memory(&o->mem, NULL);
    if (rc) {
        free(o);
        return rc;
    }
    o->base = ec_chain_backend(base);
    o->n = n;
    o->be.version = EC_BACKEND_VERSION;
    o->be.get_alg = ov_get_alg;
    o->be.set_alg = ov_set_alg;
    o->be.count = ov_count;
    o->be.reserve = ov_reserve;
    o->be.commit = ov_commit;
    o->be.get = ov_get;
    o->be.find_hash = ov_find;
    o->be.iter_new = ov_iter_new;
    o->be.iter_next = ov_iter_next;
    o->be.iter_free = ov_iter_free;
    o->be.free = ov_free;
    ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
    co.alg = ec_chain_alg(base);
    return ec_chain_open(out, &o->be, &co);
}

/* Start from the newest state/snapshot event before rs->limit: its object is read from
 * store_dir and checked against the recorded hash, events 0..it are copied into rs->into as
 * recorded (each record checked as it is added), the actor is created and its memory and
 * globals restored; the drive then goes on from the next event. EC_ENOTFOUND: no snapshot. */
static int start_from_snapshot(session *s, ec_replay_state *rs, const char *store_dir,
                               ec_actor **a_out, uint64_t *snap_seq)
{
    uint64_t q = rs->limit;
    ec_event ev;
    int rc;
    for (;;) {
        if (q-- == 0)
            return ec_error_set(EC_ENOTFOUND,
                                rs->limit < rs->count
                                    ? "replay: no state/snapshot at or before seq %llu, "
                                      "where it stops (a later one cannot serve)"
                                    : "replay: no state/snapshot in the chain",
                                (unsigned long long)(rs->limit ? rs->limit - 1 : 0));
        if ((rc = ec_chain_get(rs->orig, q, &ev)))
            return rc;
        if (IS(ev, "state/snapshot"))
            break;
    }
    uint8_t want[32];
    unsigned mt;
    const uint8_t *v;
    size_t vl;
    uint64_t num;
    if (cb_check(ev.data, ev.data_len) ||
        cb_map_find(ev.data, ev.data_len, "hash", &mt, &v, &vl, &num) || mt != 2 || vl != 32)
        return ec_error_set(EC_EFORMAT, "replay: state/snapshot at seq %llu has no hash",
                            (unsigned long long)q);
    memcpy(want, v, 32);
    char hex[65], path[4400];
    ec_hex_encode(hex, want, 32);
    snprintf(path, sizeof path, "%s/objects/%s", store_dir ? store_dir : "evchain-data/store", hex);
    FILE *f = fopen(path, "rb");
    if (!f)
        return ec_error_set_errno(EC_ENOTFOUND, errno, "replay: snapshot %s (seq %llu)", path,
                                  (unsigned long long)q);
    uint8_t *snap = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            uint8_t *p2 = realloc(snap, cap);
            if (!p2) {
                free(snap);
                fclose(f);
                return ec_error_set(EC_ENOMEM, "replay: out of memory");
            }
            snap = p2;
        }
        size_t k = fread(snap + n, 1, cap - n, f);
        n += k;
        if (k == 0)
            break;
    }
    fclose(f);
    uint8_t got[32];
    unsigned dl = 0;
    if (!EVP_Digest(snap, n, got, &dl, EVP_sha256(), NULL) || memcmp(got, want, 32) != 0) {
        free(snap);
        return ec_error_set(EC_EVERIFY,
                            "replay: snapshot %s does not match the hash recorded at seq %llu",
                            path, (unsigned long long)q);
    }
    /* The actor, created as at event 0 (checked against it in a scratch chain). */
    ec_chain *scratch = NULL;
    if ((rc = memory_chain(ec_chain_alg(rs->orig), &scratch))) {
        free(snap);
        return rc;
    }
    s->tmp[s->ntmp++] = scratch;
    ec_replay_state st0;
    memset(&st0, 0, sizeof st0);
    st0.orig = rs->orig;
    st0.into = scratch;
    st0.count = rs->count;
    st0.limit = 1;
    st0.rep = rs->rep;
    ec_actor *a = NULL;
    rc = drive(s, &st0, &a);
    held_free(&st0);
    if (rc == 0 && (st0.diverged || !a))
        rc = ec_error_set(EC_EDIVERGE, "replay: event 0 does not match the module");
    if (rc == 0)
        rc = ec_snapshot_restore(a, snap, n);
    if (rc == 0 && ec_snapshot_seq(snap, n) + 1 != q)
        rc = ec_error_set(EC_EFORMAT,
                          "replay: the snapshot at seq %llu says it was taken after "
                          "seq %llu",
                          (unsigned long long)q, (unsigned long long)ec_snapshot_seq(snap, n));
    free(snap);
    if (rc == 0 && !rs->into) {
        /* Nobody wants the events before the snapshot again: continue the original. */
        if ((rc = overlay_chain(rs->orig, q + 1, &rs->into)) == 0)
            s->tmp[s->ntmp++] = rs->into;
    } else {
        ec_backend *be = ec_chain_backend(rs->orig);
        for (uint64_t k = 0; rc == 0 && k <= q; k++) {
            const uint8_t *rec;
            size_t rl;
            if ((rc = be->get(be, k, &rec, &rl)) == 0)
                rc = ec_chain_append_record(rs->into, rec, rl);
        }
    }
    if (rc)
        return rc;
    a->chain = rs->into;
    rs->cursor = q + 1;
    rs->resume = 1;
    *a_out = a;
    *snap_seq = q;
    return 0;
}

/* Whether a chain's last event leaves the actor inside a call: anything but the events that
 * end a call or come between calls. Such a chain was cut short (a crash) or is still being
 * written: a replay reproduces it up to its end and stops there, without a divergence.
 * http/refused comes between calls or inside one (a late refusal, ABI.md section 8): the
 * event before the last refusals decides, unless it is the http/request they answer (a call
 * that never began: a request refused 500 once recorded, as the runtime stopped). */
static int ends_inside_call(ec_chain *c)
{
    uint64_t n = ec_chain_count(c), last = n;
    ec_event e;
    for (;; n--) { /* each event read once (test_replay counts the reads) */
        if (n == 0 || ec_chain_get(c, n - 1, &e) != 0) {
            ec_error_clear();
            return 0;
        }
        if (!IS(e, "http/refused"))
            break;
    }
    if (n < last && IS(e, "http/request"))
        return 0;
    static const char *const between[] = {
        "wasm/result",       "wasm/trap",        "actor/start",
        "actor/stop",        "actor/restart",    "state/snapshot",
        "runtime/recovered", "runtime/migrated", "message/dropped"};
    for (size_t k = 0; k < sizeof between / sizeof between[0]; k++)
        if (IS(e, between[k]))
            return 0;
    return 1;
}

static void fill_report(ec_replay_report *out, ec_chain *replayed, ec_actor *a)
{
    out->events = ec_chain_count(replayed);
    /* Trapped as recorded: the replayed chain ends with the trap (a replay stopped inside a
     * call also leaves the instance discarded, but that is no trap of the actor's). */
    /* The messages dropped when it trapped come after the trap (docs/ABI.md section 6). */
    ec_event last;
    uint64_t lq = out->events;
    int got = 0;
    while (lq-- > 0 && (got = ec_chain_get(replayed, lq, &last) == 0) &&
           IS(last, "message/dropped"))
        got = 0;
    out->trapped = a && a->state == EC_ACTOR_TRAPPED && got && IS(last, "wasm/trap");
    uint64_t hs;
    if (out->events && ec_chain_head(replayed, out->head, &hs) == 0)
        out->head_len = ec_hash_len(ec_chain_alg(replayed));
    if (out->trapped) {
        ec_event e;
        for (uint64_t q = out->events; q-- > 0;)
            if (ec_chain_get(replayed, q, &e) == 0 && IS(e, "wasm/trap")) {
                out->trap_seq = q;
                break;
            }
    }
}

static int replay_main(ec_chain *chain, ec_chain *replayed, const ec_replay_options *opts,
                       const char *snapshot_dir, ec_replay_report *out);

int ec_actor_replay(ec_chain *chain, ec_chain *replayed, const ec_replay_options *opts,
                    ec_replay_report *out)
{
    return replay_main(chain, replayed, opts, NULL, out);
}

int ec_actor_replay_keeping(ec_chain *chain, const ec_replay_options *opts,
                            const char *snapshot_dir, ec_replay_report *out)
{
    return replay_main(chain, NULL, opts, snapshot_dir, out);
}

static int replay_main(ec_chain *chain, ec_chain *replayed, const ec_replay_options *opts,
                       const char *snapshot_dir, ec_replay_report *out)
{
    ec_replay_options def = EC_REPLAY_OPTIONS_INIT;
    if (!chain || !out)
        return ec_error_set(EC_EINVAL, "ec_actor_replay: NULL argument");
    memset(out, 0, sizeof *out);
    if (!opts)
        opts = &def;
    ec_replay_options v1;
    if (opts->version == 1) { /* before memory_out: read no further than its fields */
        v1 = def;
        memcpy(&v1, opts, offsetof(ec_replay_options, memory_out));
        opts = &v1;
    } else if (opts->version != EC_REPLAY_OPTIONS_VERSION) {
        return ec_error_set(EC_EUNSUPPORTED, "ec_actor_replay: options version %u unknown",
                            opts->version);
    }
    session s;
    ec_chain *own = NULL;
    ec_replay_state rs;
    memset(&rs, 0, sizeof rs);
    int rc = session_open(&s, chain, opts->module_path, opts->cache_dir, NULL, opts->any_module);
    if (rc == 0 && !replayed && !opts->from_snapshot) {
        rc = memory_chain(ec_chain_alg(chain), &own);
        replayed = own;
    }
    if (rc == 0 && replayed && ec_chain_count(replayed) != 0)
        rc = ec_error_set(EC_EINVAL, "replay: the chain to replay into is not empty");
    ec_actor *a = NULL;
    if (rc == 0) {
        rs.orig = chain;
        rs.into = replayed;
        rs.count = s.count;
        rs.limit = opts->until < s.count ? opts->until + 1 : s.count;
        rs.cut = rs.limit == s.count && ends_inside_call(chain);
        out->cut = rs.cut;
        rs.any_module = opts->any_module;
        rs.rep = out;
        rs.memory_out = opts->memory_out;
        out->snapshot_seq = UINT64_MAX;
        s.rt->replay = &rs;
        s.rt->snapshot_keep = snapshot_dir;
        if (opts->from_snapshot)
            rc = start_from_snapshot(&s, &rs, opts->store_dir, &a, &out->snapshot_seq);
        if (rc == 0)
            rc = drive(&s, &rs, &a);
        s.rt->replay = &rs;
        if (rs.into)
            fill_report(out, rs.into, a);
    }
    session_close(&s);
    held_free(&rs);
    ec_chain_free(own);
    if (rs.diverged)
        return ec_error_set(EC_EDIVERGE, "replay diverges at seq %llu: %s",
                            (unsigned long long)out->seq, out->why);
    if (rs.memory_out && !rs.memory_tried) /* it stopped before the actor began */
        snprintf(out->memory_why, sizeof out->memory_why, "the replay made no actor");
    return rc;
}

/* ---- recovery ---- */

/* One step back along a chain's live line (docs/ABI.md section 7) from seq q, whose event is
 * ev: a marker (runtime/recovered, runtime/migrated) with point P abandons P+1 .. q-1, so the
 * line goes on at P; any other event is preceded by q-1. *next is UINT64_MAX past event 0. */
static int live_prev(const ec_event *ev, uint64_t q, uint64_t *next)
{
    if (IS(*ev, "runtime/recovered") || IS(*ev, "runtime/migrated")) {
        uint64_t point;
        if (cb_check(ev->data, ev->data_len) || uint_field(ev, "point", &point) || point >= q)
            return ec_error_set(EC_EFORMAT, "recover: the %.*s at seq %llu has no valid point",
                                (int)ev->type_len, ev->type, (unsigned long long)q);
        *next = point;
        return 0;
    }
    *next = q ? q - 1 : UINT64_MAX;
    return 0;
}

int ec_live_prev(const ec_event *ev, uint64_t q, uint64_t *next)
{
    return live_prev(ev, q, next);
}

/* Whether event q (e) of c is a call boundary as the fresh instance is one: event 0
 * (actor/start) of an actor without ec_init, i.e. one whose next event is not the wasm/call
 * of ec_init. An actor that traps in its first call, or is killed during it, can then be
 * recovered to its state as started. After an ec_init the boundary is its wasm/result.
 * It reads event 1, and a backend may reuse one buffer for every read: so *e is read again
 * before returning, and stays valid for the caller (it held garbage: `recover --to 0` named
 * a random type, and the marker's point_hash could have been read from event 1's buffer). */
static int fresh_boundary(ec_chain *c, uint64_t q, ec_event *e)
{
    if (q != 0 || !IS(*e, "actor/start"))
        return 0;
    ec_event next;
    int fresh;
    if (ec_chain_count(c) < 2 || ec_chain_get(c, 1, &next) != 0) {
        fresh = ec_chain_count(c) < 2;
    } else if (!IS(next, "wasm/call")) {
        fresh = 1;
    } else {
        unsigned mt;
        const uint8_t *v;
        size_t vl;
        uint64_t num;
        fresh = !cb_check(next.data, next.data_len) &&
                !cb_map_find(next.data, next.data_len, "fn", &mt, &v, &vl, &num) && mt == 3 &&
                fn_index(v, vl) != 0; /* 0: ec_init */
    }
    if (ec_chain_get(c, 0, e) != 0) /* read a moment ago: only an I/O error fails here */
        return 0;
    return fresh;
}

/* The chain's last call boundary: the last wasm/result of its live line (one in a line an
 * earlier marker abandoned is no state the actor is in), or its fresh instance
 * (fresh_boundary). */
static int last_boundary(ec_chain *c, uint64_t *out)
{
    uint64_t n = ec_chain_count(c);
    if (n == 0) /* e.g. killed under durability none before anything reached the disk */
        return ec_error_set(EC_ENOTFOUND,
                            "recover: the chain is empty (0 events: not even actor/start was "
                            "written): there is no actor to recover; remove the chain "
                            "directory and run the actor again");
    for (uint64_t q = n - 1; q != UINT64_MAX;) {
        ec_event e;
        int rc = ec_chain_get(c, q, &e);
        if (rc)
            return rc;
        if (IS(e, "wasm/result") || fresh_boundary(c, q, &e)) {
            *out = q;
            return 0;
        }
        if ((rc = live_prev(&e, q, &q)))
            return rc;
    }
    return ec_error_set(EC_ENOTFOUND, "recover: no call into the actor ever completed (no "
                                      "wasm/result after its ec_init): there is no state to "
                                      "recover");
}

/* ---- timers pending at a recovery point ---- */

#define TIMER_MAX_MS (24u * 3600u * 1000u) /* timer_set's limit (host.c) */

/* A growing array of timers to drop or arm (ec_timers_rearm), each with what orders it: its
 * wall-clock due time (ns) and the seq of its timer/set. */
typedef struct pend {
    ec_timer_arm t;
    uint64_t due, seq;
} pend;
typedef struct timer_list {
    pend *p;
    size_t n, cap;
    ec_timer_arm *arm; /* tl_finish: the timers alone, in order */
} timer_list;

static int tl_add(timer_list *l, const uint8_t *link, size_t link_len, uint64_t tag,
                  uint64_t left_ns, uint64_t due, uint64_t seq)
{
    if (ec_grow((void **)&l->p, &l->cap, l->n + 1, sizeof *l->p))
        return ec_error_set(EC_ENOMEM, "recover: out of memory for the pending timers");
    pend *e = &l->p[l->n++];
    memset(e, 0, sizeof *e);
    e->t.link_len = link_len < EC_HASH_MAX ? link_len : EC_HASH_MAX;
    memcpy(e->t.link, link, e->t.link_len);
    e->t.tag = tag;
    e->t.left_ns = left_ns;
    e->due = due;
    e->seq = seq;
    return 0;
}

/* The timer of the timer/set ev (at seq), due at its timestamp (the chain's wall clock) +
 * delay ms: what is left of that at `now`, never less than 0 nor more than the delay. */
static int tl_add_set(timer_list *l, const ec_event *ev, uint64_t tag, uint64_t delay_ms,
                      uint64_t now, uint64_t seq)
{
    uint64_t due = ev->timestamp + delay_ms * 1000000u;
    uint64_t left = due > now ? due - now : 0;
    if (left > delay_ms * 1000000u)
        left = delay_ms * 1000000u; /* the clock went back: never later than set */
    return tl_add(l, ev->hash, ev->hash_len, tag, left, due, seq);
}

static int pend_cmp(const void *x, const void *y)
{
    const pend *a = x, *b = y;
    if (a->due != b->due)
        return a->due < b->due ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Into the order the runtime had them (by due time, then in the order they were set), as the
 * array ec_timers_rearm takes. */
static int tl_finish(timer_list *l)
{
    if (l->n)
        qsort(l->p, l->n, sizeof *l->p, pend_cmp); /* l->p is NULL when empty */
    if (!(l->arm = malloc((l->n ? l->n : 1) * sizeof *l->arm)))
        return ec_error_set(EC_ENOMEM, "recover: out of memory for the pending timers");
    for (size_t k = 0; k < l->n; k++)
        l->arm[k] = l->p[k].t;
    return 0;
}

static void tl_free(timer_list *l)
{
    free(l->p);
    free(l->arm);
    memset(l, 0, sizeof *l);
}

/* A set of links (event hashes): open addressing, linear probing, deletion by backward
 * shift, so that it only ever holds what is in it. Hashes are uniform: their first bytes are
 * the slot. */
typedef struct link_set {
    uint8_t (*k)[EC_HASH_MAX];
    uint8_t *used;
    size_t cap, n;
} link_set;

static size_t ls_home(const link_set *s, const uint8_t *l)
{
    uint64_t h;
    memcpy(&h, l, sizeof h);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return (size_t)(h ^ (h >> 32)) & (s->cap - 1);
}

static int ls_add(link_set *s, const uint8_t *l);

static int ls_grow(link_set *s)
{
    link_set g = {0};
    g.cap = s->cap ? s->cap * 2 : 64;
    g.k = calloc(g.cap, EC_HASH_MAX);
    g.used = calloc(g.cap, 1);
    if (!g.k || !g.used) {
        free(g.k);
        free(g.used);
        return ec_error_set(EC_ENOMEM, "recover: out of memory for the timer deliveries");
    }
    for (size_t k = 0; k < s->cap; k++)
        if (s->used[k])
            ls_add(&g, s->k[k]); /* cannot grow: g is at most half full */
    free(s->k);
    free(s->used);
    *s = g;
    return 0;
}

static int ls_add(link_set *s, const uint8_t *l)
{
    if ((s->n + 1) * 2 > s->cap) {
        int rc = ls_grow(s);
        if (rc)
            return rc;
    }
    size_t i = ls_home(s, l);
    while (s->used[i]) {
        if (memcmp(s->k[i], l, EC_HASH_MAX) == 0)
            return 0;
        i = (i + 1) & (s->cap - 1);
    }
    memcpy(s->k[i], l, EC_HASH_MAX);
    s->used[i] = 1;
    s->n++;
    return 0;
}

/* Remove l: 1 when it was there. */
static int ls_take(link_set *s, const uint8_t *l)
{
    if (!s->cap)
        return 0;
    size_t m = s->cap - 1, i = ls_home(s, l);
    while (s->used[i] && memcmp(s->k[i], l, EC_HASH_MAX) != 0)
        i = (i + 1) & m;
    if (!s->used[i])
        return 0;
    /* Backward shift: every later entry of the run that may live at i moves there. */
    for (size_t j = i;;) {
        j = (j + 1) & m;
        if (!s->used[j])
            break;
        size_t h = ls_home(s, s->k[j]);
        if (j > i ? (h <= i || h > j) : (h <= i && h > j)) {
            memcpy(s->k[i], s->k[j], EC_HASH_MAX);
            i = j;
        }
    }
    s->used[i] = 0;
    s->n--;
    return 1;
}

static void ls_free(link_set *s)
{
    free(s->k);
    free(s->used);
    memset(s, 0, sizeof *s);
}

/* A wasm/call that delivers a timer: from "@timer", its link (the timer/set's hash, into
 * link, zero-padded) and its tag. */
static int timer_delivery(const ec_event *ev, uint8_t link[EC_HASH_MAX], size_t hl, uint64_t *tag)
{
    unsigned mt;
    const uint8_t *v;
    size_t vl;
    uint64_t num;
    if (!IS(*ev, "wasm/call") || cb_check(ev->data, ev->data_len) ||
        cb_map_find(ev->data, ev->data_len, "from", &mt, &v, &vl, &num) || mt != 3 || vl != 6 ||
        memcmp(v, "@timer", 6) != 0 ||
        cb_map_find(ev->data, ev->data_len, "link", &mt, &v, &vl, &num) || mt != 2 || vl != hl)
        return 0;
    memset(link, 0, EC_HASH_MAX);
    memcpy(link, v, vl);
    *tag = 0;
    (void)uint_field(ev, "arg", tag);
    return 1;
}

/* A timer/set at seq q whose timer was queued: its result (always the next event: nothing
 * else is recorded between a host call's request and its result) has ret 0. */
static int timer_set_ok(ec_chain *c, const ec_event *ev, uint64_t q, uint64_t *tag,
                        uint64_t *delay_ms)
{
    ec_event r;
    uint64_t ret = 1;
    if (!IS(*ev, "timer/set") || cb_check(ev->data, ev->data_len) || uint_field(ev, "tag", tag) ||
        uint_field(ev, "delay_ms", delay_ms) || *delay_ms > TIMER_MAX_MS ||
        ec_chain_get(c, q + 1, &r) != 0 || !IS(r, "timer/set.result") ||
        cb_check(r.data, r.data_len) || uint_field(&r, "ret", &ret) != 0)
        return 0;
    return ret == 0;
}

/* The timers pending at point (a wasm/result) of c: every timer/set of the live line up to
 * the point whose timer was queued and whose delivery (a wasm/call from @timer linking it) is
 * not in that line. Each is due at its timer/set's timestamp (ns since the epoch, the chain's
 * clock) + delay_ms: what is left of that from now, never less than 0 nor more than delay_ms.
 * One walk back along the line; the set of deliveries seen holds only timers set earlier
 * than where the walk is, so it stays as small as the number pending at any time. */
static int pending_timers(ec_chain *c, uint64_t point, timer_list *out)
{
    size_t hl = ec_hash_len(ec_chain_alg(c));
    link_set delivered = {0};
    uint64_t now = ec_time_now_ns();
    int rc = 0;
    for (uint64_t q = point; rc == 0 && q != UINT64_MAX;) {
        ec_event ev;
        uint8_t link[EC_HASH_MAX];
        uint64_t tag, delay;
        if ((rc = ec_chain_get(c, q, &ev)))
            break;
        if (timer_delivery(&ev, link, hl, &tag)) {
            rc = ls_add(&delivered, link);
        } else if (IS(ev, "timer/set")) {
            memset(link, 0, sizeof link);
            memcpy(link, ev.hash, ev.hash_len);
            if (!ls_take(&delivered, link) && timer_set_ok(c, &ev, q, &tag, &delay)) {
                /* ev may not survive the read of the result: take what is needed again. */
                if ((rc = ec_chain_get(c, q, &ev)))
                    break;
                rc = tl_add_set(out, &ev, tag, delay, now, q);
            }
        }
        if (rc == 0)
            rc = live_prev(&ev, q, &q);
    }
    ls_free(&delivered);
    if (rc == 0)
        rc = tl_finish(out);
    return rc;
}

/* The timers pending at the point as the rebuilt actor knows them (kept from the events by
 * the replay that rebuilt it, or carried by the snapshot it started from): each timer/set
 * read by its seq, for its tag, delay and timestamp. O(pending), not O(chain). */
static int known_timers(ec_actor *a, ec_chain *c, timer_list *out)
{
    uint64_t now = ec_time_now_ns();
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < a->nptimers; k++) {
        const struct ec_ptimer *t = &a->ptimers[k];
        ec_event ev;
        uint64_t tag, delay;
        if ((rc = ec_chain_get(c, t->seq, &ev)))
            break;
        if (ev.hash_len != t->hl || memcmp(ev.hash, t->hash, t->hl) != 0 ||
            !timer_set_ok(c, &ev, t->seq, &tag, &delay)) {
            rc = ec_error_set(EC_EFORMAT,
                              "recover: seq %llu is not the timer/set the actor's "
                              "state names there",
                              (unsigned long long)t->seq);
            break;
        }
        if ((rc = ec_chain_get(c, t->seq, &ev))) /* timer_set_ok read the result after it */
            break;
        rc = tl_add_set(out, &ev, tag, delay, now, t->seq);
    }
    if (rc == 0)
        rc = tl_finish(out);
    return rc;
}

/* Re-arm the timers pending at point for actor a, now live in a runtime (not replaying). A
 * module without ec_handle_timer gets none: the runtime drops its timers undelivered. */
static int rearm_pending(ec_actor *a, ec_chain *c, uint64_t point)
{
    if (!a->mod->ex_timer)
        return 0;
    timer_list l = {0};
    int rc = a->ptimers_unknown ? pending_timers(c, point, &l) : known_timers(a, c, &l);
    if (rc == 0 && (rc = ec_timers_rearm(a->rt, a->id, NULL, 0, l.arm, l.n)) != 0) {
        char why[300];
        snprintf(why, sizeof why, "%s", ec_error_last() ? ec_error_last()->message : "failed");
        rc = ec_error_set(rc, "recover: %zu timers pending at seq %llu cannot be re-armed: %s", l.n,
                          (unsigned long long)point, why);
    }
    tl_free(&l);
    return rc;
}

/* <data>/actors/<id>/chain spelt as given: three components up (".", "/" at the ends). */
static void data_dir_textual(char *out, size_t n, const char *chain_dir)
{
    snprintf(out, n, "%s", chain_dir);
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/')
        out[--len] = 0;
    for (int up = 0; up < 3; up++) {
        char *sl = strrchr(out, '/');
        if (!sl) {
            snprintf(out, n, ".");
            break;
        }
        *sl = 0;
        if (!out[0])
            snprintf(out, n, "/");
    }
}

int ec_actor_data_dir_of(char *out, size_t n, const char *chain_dir)
{
    if (!out || !n || !chain_dir)
        return ec_error_set(EC_EINVAL, "ec_actor_data_dir_of: NULL argument");
    out[0] = 0;
    /* Resolved, not taken from the spelling: "chain", "." or a symbolic link to the chain
     * directory named a data directory in the current one, where a recovery then made a
     * new runtime key, store and cache of its own and lost the actor's state. */
    char *real = realpath(chain_dir, NULL);
    if (!real)
        return ec_error_set_errno(errno == ENOENT ? EC_ENOTFOUND : EC_EIO, errno, "%s", chain_dir);
    char *c3 = strrchr(real, '/'), *c2 = NULL, *c1 = NULL;
    if (c3 && strcmp(c3 + 1, "chain") == 0) {
        *c3 = 0;
        c2 = strrchr(real, '/');
    }
    if (c2 && c2[1]) {
        *c2 = 0;
        c1 = strrchr(real, '/');
    }
    if (!c1 || strcmp(c1 + 1, "actors") != 0) {
        free(real);
        return ec_error_set(EC_EINVAL,
                            "%s is not an actor's chain directory (<data>/actors/<id>/chain), so "
                            "its data directory cannot be told",
                            chain_dir);
    }
    *c1 = 0;
    const char *data = real[0] ? real : "/";
    /* The spelling given, when it names the same directory: messages keep the user's
     * relative paths. */
    char text[4096], *rt = NULL;
    data_dir_textual(text, sizeof text, chain_dir);
    if ((rt = realpath(text, NULL)) != NULL && strcmp(rt, data) == 0)
        data = text;
    int rc = strlen(data) < n ? 0 : ec_error_set(EC_EINVAL, "%s: path too long", data);
    if (rc == 0)
        memcpy(out, data, strlen(data) + 1);
    free(rt);
    free(real);
    return rc;
}

/* The size the chain's own stored checkpoint covers (ec_checkpoint_stored: checkpoints/latest,
 * or the newest numbered one when newer or when latest is gone), into *size, and its path
 * into file; 0 when there is none (or none parses: the checkpointer reads them again). */
static int signed_size(const char *chain_dir, uint64_t *size, char *file, size_t cap)
{
    *size = 0;
    char *note;
    size_t len;
    ec_checkpoint cp;
    int rc = ec_checkpoint_stored(chain_dir, &note, &len, &cp, file, cap);
    if (rc == 0 && note)
        *size = cp.size;
    free(note);
    return rc;
}

/* A recovery decides everything on the chain opened read-only, then opens it as its one
 * writer. The writer's open cuts a torn last frame (docs/FORMAT.md section 4), and a refused
 * recovery must leave the chain's files as they were, torn tail included: so every refusal
 * (the replay, the timers and messages queued again against the queue's limits, the other
 * chains of the data directory, the signer, the checkpointer's files) is decided on the
 * read-only chain, which reads no further than a writer's cut would leave, and the writer is
 * opened only once nothing is left to refuse (reopen_writer). Meanwhile the writer lock is
 * held (flock on the directory, as the disk backend takes it), so that no other writer can
 * start (nor cut, nor append) while the recovery decides; it is let go just before the
 * writer's open takes it again, which then checks that the chain is still the one read. */
typedef struct rec_chain {
    ec_chain *ro;              /* the chain the recovery reads and decides on */
    int lock_fd;               /* the writer lock held (-1: not a directory, no writer) */
    uint64_t count, covered;   /* events read-only; those checkpoints/latest covers */
    uint8_t last[EC_HASH_MAX]; /* the hash of event count - 1 */
    size_t hl;
} rec_chain;

static void rec_chain_close(rec_chain *r)
{
    ec_chain_free(r->ro);
    r->ro = NULL;
    if (r->lock_fd >= 0)
        close(r->lock_fd);
    r->lock_fd = -1;
}

/* Events count - TAIL_CHECK .. count - 1 checked (hashes, links), as a writer's open checks
 * them before it appends (FORMAT.md section 4: it refuses a tail that was altered, after its
 * cut): decided here, before anything is cut. A damaged last record, which a reader counts
 * and cannot read, is refused here as the writer's open refuses it. */
#define RECOVER_TAIL_CHECK 64
static int check_tail_ro(ec_chain *c, const char *chain_dir)
{
    uint64_t n = ec_chain_count(c);
    if (n == 0)
        return 0;
    ec_verify_options vo = EC_VERIFY_OPTIONS_INIT;
    vo.from = n > RECOVER_TAIL_CHECK ? n - RECOVER_TAIL_CHECK : 0;
    vo.to = n;
    vo.threads = 1;
    ec_verify_result vr;
    int rc = ec_chain_verify(c, &vo, &vr);
    if (rc == EC_EVERIFY)
        return ec_error_set(EC_EVERIFY, "%s: event %llu: %s", chain_dir, (unsigned long long)vr.seq,
                            vr.reason);
    return rc;
}

/* The chain opened read-only for a recovery, its writer lock taken (r->lock_fd). Before
 * anything is written the chain must hold every event checkpoints/latest covers, or the
 * recovery is refused: a record a signed checkpoint covers was acknowledged, and a recovery
 * that cut it would write another history in its place under the same checkpoints; the
 * chain is damaged and is to be restored, not continued. */
static int open_for_recovery(rec_chain *r, const char *chain_dir)
{
    memset(r, 0, sizeof *r);
    r->lock_fd = -1;
    ec_open_options oo = EC_OPEN_OPTIONS_INIT;
    struct stat st;
    if (stat(chain_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        oo.writable = 1; /* not a directory: ec_chain_open_path says what it is */
        return ec_chain_open_path(&r->ro, chain_dir, &oo);
    }
    r->lock_fd = open(chain_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->lock_fd < 0)
        return ec_error_set_errno(errno == ENOENT ? EC_ENOTFOUND : EC_EIO, errno,
                                  "%s: opening the chain directory", chain_dir);
    if (flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        rec_chain_close(r);
        return err == EWOULDBLOCK
                   ? ec_error_set(EC_ELOCKED, "%s: another writer has this chain open", chain_dir)
                   : ec_error_set_errno(EC_EIO, err, "%s: taking the writer lock", chain_dir);
    }
    char file[4300];
    int rc = signed_size(chain_dir, &r->covered, file, sizeof file);
    ec_disk_options d = EC_DISK_OPTIONS_INIT;
    d.read_only = 1;
    ec_backend *be = NULL;
    ec_verify_result damage;
    memset(&damage, 0, sizeof damage);
    if (rc == 0)
        rc = ec_backend_disk_at_(&be, chain_dir, &d, &damage);
    if (rc == EC_EFORMAT && damage.status != EC_VERIFY_OK) /* as ec_chain_open_path says it */
        rc = ec_error_set(EC_EVERIFY, "%s: event %llu: %s", chain_dir,
                          (unsigned long long)damage.seq, damage.reason);
    if (rc == 0) {
        ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
        co.alg = 0; /* the directory records its algorithm */
        rc = ec_chain_open(&r->ro, be, &co);
    }
    if (rc == 0)
        r->count = ec_chain_count(r->ro);
    if (rc == 0 && r->count < r->covered)
        /* Both ways out named: the lost events back, or (a chain restored on purpose from
         * an older copy) its checkpoints set aside, kept, with the one command that does it
         * (docs/FORMAT.md 5.5). */
        rc = ec_error_set(EC_EVERIFY,
                          "recover: %s: its signed checkpoint %s covers %llu events and the "
                          "chain has %llu: events it vouches for are missing (the chain was cut, "
                          "damaged, or restored from an older copy); nothing was written. "
                          "Restore the missing events (a newer backup or a bundle), or, if this "
                          "older chain is the one to go on with, set its checkpoints aside first "
                          "(kept, not deleted): evchain checkpoint %s --set-aside",
                          chain_dir, file, (unsigned long long)r->covered,
                          (unsigned long long)r->count, chain_dir);
    if (rc == 0)
        rc = check_tail_ro(r->ro, chain_dir);
    ec_event ev;
    if (rc == 0 && r->count && (rc = ec_chain_get(r->ro, r->count - 1, &ev)) == 0) {
        r->hl = ev.hash_len;
        memcpy(r->last, ev.hash, ev.hash_len);
    }
    if (rc)
        rec_chain_close(r);
    return rc;
}

/* The chain as its one writer, into *out, once the recovery refused nothing: the lock let go
 * and taken again by the writer's open, which cuts a torn tail (reported on stderr, as
 * `evchain append` reports it) and never below the signed checkpoint. The chain must still
 * be the one decided on (count and last hash): a writer that came between (the lock is let go
 * for the open) is refused (EC_ELOCKED; this recovery wrote nothing). r->ro stays open. */
static int reopen_writer(rec_chain *r, const char *chain_dir, ec_chain **out)
{
    *out = NULL;
    if (r->lock_fd < 0) { /* not a directory: what was opened is all there is */
        *out = r->ro;
        r->ro = NULL;
        return 0;
    }
    close(r->lock_fd);
    r->lock_fd = -1;
    ec_disk_options d = EC_DISK_OPTIONS_INIT;
    ec_disk_cut cut;
    memset(&cut, 0, sizeof cut);
    d.cut_out = &cut;
    d.min_count = r->covered; /* the check of open_for_recovery, again under the writer lock */
    ec_backend *be = NULL;
    ec_verify_result damage;
    memset(&damage, 0, sizeof damage);
    int rc = ec_backend_disk_at_(&be, chain_dir, &d, &damage);
    if (rc == EC_EFORMAT && damage.status != EC_VERIFY_OK) /* as ec_chain_open_path says it */
        return ec_error_set(EC_EVERIFY, "%s: event %llu: %s", chain_dir,
                            (unsigned long long)damage.seq, damage.reason);
    if (rc)
        return rc;
    char note[1024];
    int kind = ec_disk_cut_describe(note, sizeof note, &cut);
    if (kind)
        fprintf(stderr, "evchain: %s: %s: %s\n", kind == 1 ? "note" : "warning", chain_dir, note);
    ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
    co.alg = 0;
    ec_chain *w = NULL;
    if ((rc = ec_chain_open(&w, be, &co)))
        return rc;
    ec_event ev;
    int same = ec_chain_count(w) == r->count &&
               (r->count == 0 || (ec_chain_get(w, r->count - 1, &ev) == 0 && ev.hash_len == r->hl &&
                                  memcmp(ev.hash, r->last, r->hl) == 0));
    if (!same) {
        ec_chain_free(w);
        return ec_error_set(EC_ELOCKED,
                            "recover: %s: another writer changed the chain while the recovery "
                            "read it (it had %llu events): nothing of the recovery was "
                            "written; recover again once that writer is done",
                            chain_dir, (unsigned long long)r->count);
    }
    *out = w;
    return 0;
}

/* Whether ec_checkpointer_open(chain_dir) would refuse: its tree file (a bad header, a
 * FIFO in its place) and checkpoints/latest (not a regular file) read as it reads them, but
 * read-only, over the read-only chain (the tree built in memory where it is missing) and
 * keeping nothing: so that a recovery refused for them is refused before anything is cut or
 * written. */
static int checkpointer_would_open(ec_chain *chain, const char *chain_dir, ec_signer *signer,
                                   const ec_checkpointer_options *cpo)
{
    char tree_path[4200], cp_dir[4200];
    snprintf(tree_path, sizeof tree_path, "%s/proof/tree", chain_dir);
    snprintf(cp_dir, sizeof cp_dir, "%s/checkpoints", chain_dir);
    /* Its numbered files are listed (kept_scan) where they are kept: a file in the
     * folder's place refuses. */
    struct stat st;
    if (cpo->keep && stat(cp_dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return ec_error_set_errno(EC_EIO, ENOTDIR, "%s: listing the checkpoints", cp_dir);
    ec_tree_options to = EC_TREE_OPTIONS_INIT;
    to.path = tree_path;
    to.read_only = 1;
    ec_tree *t = NULL;
    int rc = ec_tree_open(&t, chain, &to);
    if (rc)
        return rc;
    ec_checkpointer_options o = *cpo;
    o.dir = cp_dir;
    o.no_store = 1;
    ec_checkpointer *c = NULL;
    if ((rc = ec_checkpointer_new(&c, t, signer, &o)) == 0)
        ec_checkpointer_free(c);
    ec_tree_free(t);
    return rc;
}

int ec_runtime_recover(ec_runtime **rt_out, ec_actor **actor_out, const char *chain_dir,
                       const ec_recover_options *opts, ec_replay_report *rep, uint64_t *marker_seq)
{
    ec_recover_options def = EC_RECOVER_OPTIONS_INIT;
    if (!rt_out || !actor_out || !chain_dir || !rep)
        return ec_error_set(EC_EINVAL, "ec_runtime_recover: NULL argument");
    *rt_out = NULL;
    *actor_out = NULL;
    memset(rep, 0, sizeof *rep);
    if (!opts)
        opts = &def;
    ec_recover_options v1;
    if (opts->version == 1 || opts->version == 2) { /* read no further than they had */
        v1 = def;
        memcpy(&v1, opts,
               opts->version == 1 ? offsetof(ec_recover_options, checkpoint_signer_make)
                                  : offsetof(ec_recover_options, max_queue));
        v1.version = EC_RECOVER_OPTIONS_VERSION;
        opts = &v1;
    } else if (opts->version != EC_RECOVER_OPTIONS_VERSION) {
        return ec_error_set(EC_EUNSUPPORTED, "ec_runtime_recover: options version %u unknown",
                            opts->version);
    }
    char data[4096], cache[4200];
    int rc0;
    if (opts->data_dir)
        snprintf(data, sizeof data, "%s", opts->data_dir);
    else if ((rc0 = ec_actor_data_dir_of(data, sizeof data, chain_dir)) != 0)
        return rc0;
    snprintf(cache, sizeof cache, "%s", opts->cache_dir ? opts->cache_dir : data);
    if (!opts->cache_dir)
        snprintf(cache + strlen(cache), sizeof cache - strlen(cache), "/cache");

    /* Read-only until nothing is left to refuse (open_for_recovery, reopen_writer). */
    rec_chain rc_chain;
    int rc = open_for_recovery(&rc_chain, chain_dir);
    if (rc)
        return rc;
    ec_chain *chain = rc_chain.ro;
    uint64_t count = ec_chain_count(chain), to = opts->to;
    if (to == UINT64_MAX && (rc = last_boundary(chain, &to))) {
        rec_chain_close(&rc_chain);
        return rc;
    }
    ec_event ev;
    if (to >= count) {
        rec_chain_close(&rc_chain);
        return ec_error_set(EC_EINVAL, "recover: --to %llu: the chain has %llu events",
                            (unsigned long long)to, (unsigned long long)count);
    }
    if ((rc = ec_chain_get(chain, to, &ev))) {
        rec_chain_close(&rc_chain);
        return rc;
    }
    if (!IS(ev, "wasm/result") && !fresh_boundary(chain, to, &ev)) {
        char type[64];
        snprintf(type, sizeof type, "%.*s", (int)ev.type_len, ev.type);
        char before[64] = "there is none before it";
        ec_event e2;
        for (uint64_t q = to; q-- > 0;)
            if (ec_chain_get(chain, q, &e2) == 0 &&
                (IS(e2, "wasm/result") || fresh_boundary(chain, q, &e2))) {
                snprintf(before, sizeof before, "the one before it is %llu", (unsigned long long)q);
                break;
            }
        rec_chain_close(&rc_chain);
        return ec_error_set(EC_EINVAL,
                            "recover: event %llu is %s, not a call boundary (a wasm/result, or "
                            "event 0 of an actor without ec_init); %s",
                            (unsigned long long)to, type, before);
    }
    uint8_t point_hash[EC_HASH_MAX];
    size_t hl = ev.hash_len;
    memcpy(point_hash, ev.hash, hl);
    /* runtime/migrated says the actor was carried over (an import) or cut short (a killed or
     * interrupted run); an actor whose chain ends in a trap of its own (not the interrupted
     * one, which has `fuel`; an HTTP server's 500 record may follow it) was neither:
     * resuming it is a recovery from that trap, and is marked as one (docs/ABI.md section 7). */
    int migrated = opts->migrated;
    ec_event last;
    uint64_t fuel, q = count ? count - 1 : 0;
    while (migrated && q > 0 && ec_chain_get(chain, q, &last) == 0 && IS(last, "http/refused"))
        q--;
    if (migrated && count > 0 && ec_chain_get(chain, q, &last) == 0 && IS(last, "wasm/trap") &&
        uint_field(&last, "fuel", &fuel) != 0)
        migrated = 0;
    ec_error_clear();

    session s;
    ec_replay_state rs;
    memset(&rs, 0, sizeof rs);
    ec_chain *mem = NULL;
    ec_actor *a = NULL;
    rc = session_open(&s, chain, opts->module_path, cache, data, 0);
    if (rc == 0 && !opts->from_snapshot && (rc = memory_chain(ec_chain_alg(chain), &mem)) == 0)
        s.tmp[s.ntmp++] = mem;
    if (rc == 0) {
        rs.orig = chain;
        rs.into = mem;
        rs.count = count;
        rs.limit = to + 1;
        rs.rep = rep;
        rep->snapshot_seq = UINT64_MAX;
        if (opts->from_snapshot) {
            char store[4200];
            snprintf(store, sizeof store, "%s/store", data);
            rc = start_from_snapshot(&s, &rs, store, &a, &rep->snapshot_seq);
        }
        if (rc == 0)
            rc = drive(&s, &rs, &a);
        if (rs.into)
            fill_report(rep, rs.into, a);
        if (rc == 0 && rs.diverged)
            rc = EC_EDIVERGE;
        if (rc == 0 && (!a || a->state != EC_ACTOR_RUNNING || !a->inst))
            rc = ec_error_set(EC_EINVAL, "recover: the actor is %s at seq %llu",
                              a ? ec_actor_state_name(a->state) : "gone", (unsigned long long)to);
    }
    if (rc) {
        /* No runtime when the session did not open (no module, another one): nothing to
         * mark. */
        if (s.rt)
            s.rt->replay = &rs; /* nothing is recorded while the session closes */
        cache_undo(&s, cache);
        session_close(&s);
        held_free(&rs);
        rec_chain_close(&rc_chain);
        if (rs.diverged)
            return ec_error_set(EC_EDIVERGE, "recover: the replay diverges at seq %llu: %s",
                                (unsigned long long)rep->seq, rep->why);
        return rc;
    }
    /* Live from here: the actor appends to its own chain again, with a sandbox and a store;
     * but on the read-only chain until the writer's open below, every refusal first. */
    ec_runtime *rt = s.rt;
    rt->replay = NULL;
    held_free(&rs);
    rt->quiet = opts->quiet;
    if (opts->max_queue) /* before the timers and messages below count against them */
        rt->max_queue = opts->max_queue;
    if (opts->max_queued_bytes)
        rt->max_queued_bytes = opts->max_queued_bytes;
    /* The runtime holds this one actor: markers rebuild it in place, never a second. */
    a->chain = chain;
    a->parent = NULL; /* a recovered child runs on its own (its supervisor is not here) */
    free(a->child_name);
    a->child_name = NULL;
    /* The timers pending at the point go back in the queue (nothing is recorded: their
     * deliveries will be, as any). Refused for them (more than the runtime's max_queue),
     * the chain stays as it was. */
    rc = rearm_pending(a, chain, to);
    /* And the messages it was sent that were accepted and never given (queued when the
     * runtime that held them ended: kill -9, a crash), found in the chains of the data
     * directory (requeue.c). Refused, nothing is written. */
    if (rc == 0)
        rc = ec_recover_requeue(a, chain, chain_dir, to, data);
    /* The first thing written (a key made on first use): only now that nothing refused. */
    ec_signer *signer = opts->checkpoint_signer;
    if (rc == 0 && !signer && opts->checkpoint_signer_make &&
        (rc = opts->checkpoint_signer_make(opts->checkpoint_signer_ctx, &signer)) != 0)
        rc = ec_error_set(rc, "recover: no checkpoint signer: %s",
                          ec_error_last() ? ec_error_last()->message : "not made");
    ec_checkpointer_options cpo = EC_CHECKPOINTER_OPTIONS_INIT;
    char origin[EC_NOTE_NAME_MAX];
    if (rc == 0 && signer) {
        cpo.every_events = opts->checkpoint_every_events ? opts->checkpoint_every_events : 100000;
        cpo.every_ns = opts->checkpoint_every_ns ? opts->checkpoint_every_ns : 10000000000ull;
        cpo.keep = ec_checkpoint_keep_of(opts->checkpoint_keep);
        /* The actor's own origin, as a run signs with (runtime.c): without it the key's
         * name alone would be signed whenever the chain has no checkpoints/latest yet (an
         * imported bundle, a run killed before its first checkpoint). A latest with another
         * origin (signed before origins were per actor) still wins (ec_checkpointer_new). */
        int on = snprintf(origin, sizeof origin, "%s/%s", ec_signer_name(signer), a->id);
        if (on < 0 || (size_t)on >= sizeof origin)
            rc = ec_error_set(EC_EINVAL,
                              "recover: the checkpoint origin '<key name>/%s' would be over %d "
                              "bytes: use a checkpoint key with a shorter name",
                              a->id, EC_NOTE_NAME_MAX - 1);
        cpo.origin = origin;
        /* What the checkpointer's open below refuses (its tree file, checkpoints/latest),
         * found on the read-only chain, writing nothing. */
        if (rc == 0)
            rc = checkpointer_would_open(chain, chain_dir, signer, &cpo);
    }
    /* Nothing refused: the writer's open (the torn tail cut now), the same chain. */
    ec_chain *w = NULL;
    if (rc == 0 && (rc = reopen_writer(&rc_chain, chain_dir, &w)) == 0) {
        a->chain = chain = w;
        rec_chain_close(&rc_chain);
    }
    if (rc) /* refused still, nothing written: the cache is taken back as for a divergence */
        cache_undo(&s, cache);
    if (rc == 0 && (rc = ec_mkdir_p(a->fs_root)) == 0) {
        a->fs_fd = open(a->fs_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (a->fs_fd < 0)
            rc = ec_error_set_errno(EC_EIO, errno, "recover: sandbox %s", a->fs_root);
    }
    /* Before the marker, so that it and everything after are covered as in any run. */
    if (rc == 0 && signer)
        rc = ec_checkpointer_open(&a->cp, chain, chain_dir, signer, &cpo);
    if (rc == 0) {
        uint8_t small[128];
        cbuf b;
        cb_init(&b, small, sizeof small);
        marker_payload(&b, to, count, point_hash, hl);
        rc = ec_actor_record(a, migrated ? "runtime/migrated" : "runtime/recovered", &b, NULL);
        cb_free(&b);
        if (marker_seq)
            *marker_seq = count;
    }
    s.rt = NULL; /* the caller's now */
    session_close(&s);
    if (rc) {
        /* Refused before the marker (or the marker failed): the actor never went live, and
         * is not stopped with a record of that: the chain stays as it was. a->chain (the
         * read-only chain, or the writer's) goes with the runtime. */
        a->state = EC_ACTOR_STOPPED;
        ec_runtime_free(rt);
        rc_chain.ro = NULL;
        rec_chain_close(&rc_chain);
        return rc;
    }
    *rt_out = rt;
    *actor_out = a;
    return 0;
}

/* ---- automatic recovery inside a running runtime ---- */

int ec_runtime_set_recover(ec_runtime *rt, uint32_t max_per_actor)
{
    if (!rt)
        return ec_error_set(EC_EINVAL, "ec_runtime_set_recover: NULL runtime");
    rt->recover_max = max_per_actor;
    return 0;
}

/* For an automatic recovery: the last call boundary of c's live line (as last_boundary) and
 * what the line after it, about to be abandoned, did with timers: its timer/sets (drop: their
 * timers go with it) and its timer deliveries (redo: the state at the point still waits for
 * them; they were due, so they are due again at once); and its message/sends (sends: those
 * still queued are dropped like its timers, docs/ABI.md section 7). */
static int abandoned_tail(ec_chain *c, uint64_t *point, timer_list *drop, timer_list *redo,
                          timer_list *sends)
{
    size_t hl = ec_hash_len(ec_chain_alg(c));
    uint64_t n = ec_chain_count(c);
    for (uint64_t q = n ? n - 1 : UINT64_MAX; q != UINT64_MAX;) {
        ec_event e;
        uint8_t link[EC_HASH_MAX];
        uint64_t tag;
        int rc = ec_chain_get(c, q, &e);
        if (rc)
            return rc;
        if (IS(e, "wasm/result") || fresh_boundary(c, q, &e)) {
            *point = q;
            if ((rc = tl_finish(drop)) == 0 && (rc = tl_finish(redo)) == 0)
                rc = tl_finish(sends);
            return rc;
        }
        if (IS(e, "timer/set"))
            rc = tl_add(drop, e.hash, e.hash_len, 0, 0, 0, q);
        else if (IS(e, "message/send"))
            rc = tl_add(sends, e.hash, e.hash_len, 0, 0, 0, q);
        else if (timer_delivery(&e, link, hl, &tag))
            rc = tl_add(redo, link, hl, tag, 0, 0, q);
        if (rc || (rc = live_prev(&e, q, &q)))
            return rc;
    }
    return ec_error_set(EC_ENOTFOUND, "recover: no wasm/result after ec_init: there is no "
                                      "state to recover");
}

int ec_actor_recover_in_place(ec_actor *a)
{
    ec_runtime *rt = a->rt;
    if (!rt->recover_max || a->recoveries >= rt->recover_max || rt->replay || !a->chain)
        return -1;
    ec_chain *live = a->chain;
    uint64_t count = ec_chain_count(live), point = 0;
    timer_list drop = {0}, redo = {0}, sends = {0};
    if (abandoned_tail(live, &point, &drop, &redo, &sends)) {
        /* Trapped in ec_init (no good state), or out of memory: the trap takes its course. */
        ec_error_clear();
        tl_free(&drop);
        tl_free(&redo);
        tl_free(&sends);
        return -1;
    }
    uint8_t point_hash[EC_HASH_MAX];
    size_t hl = 0;
    {
        ec_event ev;
        if (ec_chain_get(live, point, &ev)) {
            tl_free(&drop);
            tl_free(&redo);
            tl_free(&sends);
            return -1;
        }
        hl = ev.hash_len;
        memcpy(point_hash, ev.hash, hl);
    }
    session s;
    memset(&s, 0, sizeof s);
    s.rt = rt;
    s.m = a->mod;
    s.orig = live;
    s.count = count;
    int rc = rebuild_at(&s, live, count, point, a);
    rt->replay = NULL;
    a->chain = live;
    for (size_t k = 0; k < s.ntmp; k++)
        ec_chain_free(s.tmp[k]);
    /* The queue is the runtime's own record of which timers are pending (it knows those
     * dropped while the actor was not running, which the chain does not): the timers set
     * at or before the point stay as they are, those set after it go, and those delivered
     * after it come back. Refused (max_queue) or failed, the recovery fails as a whole. */
    if (rc == 0)
        rc = ec_timers_rearm(rt, a->id, drop.arm, drop.n, redo.arm, redo.n);
    /* Its messages still queued from the abandoned line go too, each recorded where it was
     * to be delivered (message/dropped). One already delivered stays delivered: a recovery
     * undoes only the actor's own state (docs/ABI.md section 7). */
    if (rc == 0)
        ec_messages_abandon(rt, a->id, sends.arm, sends.n);
    tl_free(&drop);
    tl_free(&redo);
    tl_free(&sends);
    if (rc == 0) {
        uint8_t small[128];
        cbuf b;
        cb_init(&b, small, sizeof small);
        marker_payload(&b, point, count, point_hash, hl);
        rc = ec_actor_record(a, "runtime/recovered", &b, NULL);
        cb_free(&b);
    }
    if (rc) {
        /* Left as the trap made it: no instance, trapped. */
        if (a->inst) {
            a->mod->free_inst(a->inst);
            free(a->inst);
            a->inst = NULL;
            a->mem = NULL;
        }
        a->state = EC_ACTOR_TRAPPED;
        if (!rt->quiet)
            fprintf(stderr, "evchain: actor %s: automatic recovery failed: %s\n", a->id,
                    ec_error_last() ? ec_error_last()->message : "?");
        return -1;
    }
    a->recoveries++;
    a->reason[0] = 0; /* running */
    if (!rt->quiet)
        fprintf(stderr, "evchain: actor %s recovered to seq %llu (%u of %u)\n", a->id,
                (unsigned long long)point, a->recoveries, rt->recover_max);
    return 0;
}
