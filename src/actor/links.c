/* actor/links.c: checking the chains of a group of actors against each other: every
 * cross-chain link (docs/ABI.md section 3) must name an event of the right type in the right
 * actor's chain. Each chain is verified on its own first; this checks what joins them.
 * Optionally (ec_links_options.unaccounted) also the other way for messages: a link runs from
 * the receiver's delivery to the sender's message/send only, so a delivery cut off the end
 * of the receiver's chain leaves no broken link; every accepted send must be accounted for
 * by its receiver's chain (docs/ABI.md section 2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "actor/cbor.h"
#include "actor/links_int.h"
#include <evchain/actor.h>

typedef struct member {
    ec_chain *chain;
    char id[65];
} member;

/* A message/send of the group: (sender, seq) found by a delivery or a drop (accounted), or
 * accepted by the runtime (ret 0) for a receiver of the group. */
typedef struct sendref {
    size_t sender, receiver;
    uint64_t seq;
} sendref;

typedef struct sendlist {
    sendref *v;
    size_t n, cap;
} sendlist;

/* What the walks collect when sends are checked; NULL when they are not. */
typedef struct sends {
    sendlist accounted, accepted;
} sends;

static int push(sendlist *l, size_t sender, uint64_t seq, size_t receiver)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        sendref *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return ec_error_set(EC_ENOMEM, "ec_actor_check_links: out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (sendref){sender, receiver, seq};
    return 0;
}

static int cmp_sendref(const void *a, const void *b)
{
    const sendref *x = a, *y = b;
    if (x->sender != y->sender)
        return x->sender < y->sender ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int text_field(const ec_event *ev, const char *key, char *out, size_t cap)
{
    unsigned mt;
    const uint8_t *v;
    size_t vl;
    uint64_t num;
    if (cb_map_find(ev->data, ev->data_len, key, &mt, &v, &vl, &num) || mt != 3 || vl >= cap)
        return -1;
    memcpy(out, v, vl);
    out[vl] = 0;
    return 0;
}

/* The link of an event: 1 with the hash, 0 when null or absent, -1 malformed. */
static int link_field(const ec_event *ev, uint8_t *hash, size_t *hl)
{
    unsigned mt;
    const uint8_t *v;
    size_t vl;
    uint64_t num;
    if (cb_map_find(ev->data, ev->data_len, "link", &mt, &v, &vl, &num))
        return 0;
    if (mt == 7 && num == 22)
        return 0;
    if (mt != 2 || vl == 0 || vl > EC_HASH_MAX)
        return -1;
    memcpy(hash, v, vl);
    *hl = vl;
    return 1;
}

static int is_type(const ec_event *ev, const char *t)
{
    return ev->type_len == strlen(t) && memcmp(ev->type, t, ev->type_len) == 0;
}

int ec_links_chain_actor(ec_chain *c, char id[65])
{
    ec_event ev;
    if (ec_chain_get(c, 0, &ev) || !is_type(&ev, "actor/start") ||
        text_field(&ev, "actor", id, 65) || !id[0])
        return -1;
    return 0;
}

static member *find_member(member *m, size_t n, const char *id)
{
    for (size_t k = 0; k < n; k++)
        if (strcmp(m[k].id, id) == 0)
            return &m[k];
    return NULL;
}

/* Resolve a link into `to`'s chain; want_type NULL: any type. For message/send and
 * message/request, the named event must also be addressed to `receiver`. */
static int resolve(member *to, const uint8_t *hash, size_t hl, const char *want_type,
                   const char *receiver, char *why, size_t cap, uint64_t *seq_out)
{
    uint64_t seq;
    ec_event ev;
    char hex[2 * EC_HASH_MAX + 1];
    ec_hex_encode(hex, hash, hl);
    if (ec_chain_find(to->chain, hash, hl, &seq) != 0) {
        snprintf(why, cap, "names %.16s..., which is not in %s's chain", hex, to->id);
        return -1;
    }
    if (ec_chain_get(to->chain, seq, &ev) != 0) {
        snprintf(why, cap, "names event %llu of %s's chain, which cannot be read",
                 (unsigned long long)seq, to->id);
        return -1;
    }
    if (want_type && !is_type(&ev, want_type)) {
        snprintf(why, cap, "names event %llu of %s's chain, a %.*s, not a %s",
                 (unsigned long long)seq, to->id, (int)ev.type_len, ev.type, want_type);
        return -1;
    }
    if (receiver) {
        char dest[65];
        if (text_field(&ev, "to", dest, sizeof dest) || strcmp(dest, receiver) != 0) {
            snprintf(why, cap, "names event %llu of %s's chain, addressed to someone else",
                     (unsigned long long)seq, to->id);
            return -1;
        }
    }
    *seq_out = seq;
    return 0;
}

/* 1 when the .result event ev has ret 0 (the effect happened: a message/send was queued). */
static int ret_zero(const ec_event *ev)
{
    unsigned mt;
    const uint8_t *v;
    size_t vl;
    uint64_t num;
    return cb_map_find(ev->data, ev->data_len, "ret", &mt, &v, &vl, &num) == 0 && mt == 0 &&
           num == 0;
}

/* What a chain says was accepted (docs/ABI.md section 3): a message/send whose result, the
 * next message/send.result (a send's effect records nothing in the sender's chain between
 * the two), has ret 0. None after a send whose result was never recorded (the process ended
 * inside the host call). The one rule for `verify --links` (check_one) and for the recovery
 * that queues again what its actor was sent (replay.c). */
int ec_links_send_step(ec_links_send_track *t, const ec_event *ev)
{
    if (is_type(ev, "message/send")) {
        t->open = text_field(ev, "to", t->to, sizeof t->to) == 0;
        t->seq = ev->seq;
        return EC_LINKS_SEND_SEEN;
    }
    if (is_type(ev, "message/send.result")) {
        int ok = t->open && ret_zero(ev);
        t->open = 0;
        return ok ? EC_LINKS_SEND_ACCEPTED : EC_LINKS_SEND_SEEN;
    }
    return 0;
}

/* A message's end in its receiver's chain, as check_one counts a send accounted for: its
 * delivery (a wasm/call of ec_handle_message from an actor, not @external) or its
 * message/dropped from an actor. 1 with the sender's id and the link (the hash of the
 * sender's message/send), 0 for any other event, -1 when such an event has no valid link. */
int ec_links_message_end(const ec_event *ev, char from[65], uint8_t hash[EC_HASH_MAX], size_t *hl)
{
    char fn[40];
    if (is_type(ev, "wasm/call")) {
        if (text_field(ev, "fn", fn, sizeof fn) || strcmp(fn, "ec_handle_message") != 0)
            return 0;
    } else if (!is_type(ev, "message/dropped")) {
        return 0;
    }
    if (text_field(ev, "from", from, 65) || from[0] == '@')
        return 0; /* from outside (@external): no sender's chain */
    return link_field(ev, hash, hl) == 1 ? 1 : -1;
}

static int check_one(member *all, size_t n, member *me, ec_links_result *out, sends *sd)
{
    ec_iter *it;
    int rc = ec_iter_new(&it, me->chain, 0);
    if (rc)
        return rc;
    ec_event ev;
    char last_request_to[65] = "";
    ec_links_send_track track; /* the message/send waiting for its result */
    memset(&track, 0, sizeof track);
    while ((rc = ec_iter_next(it, &ev)) == 0) {
        uint8_t hash[EC_HASH_MAX];
        size_t hl = 0;
        char from[65], fn[40], why[256];
        const char *want = NULL, *receiver = NULL;
        member *target = NULL;
        uint64_t seq = ev.seq;
        if (is_type(&ev, "message/request"))
            text_field(&ev, "to", last_request_to, sizeof last_request_to);
        int step = sd ? ec_links_send_step(&track, &ev) : 0;
        if (step == EC_LINKS_SEND_ACCEPTED) {
            member *to = find_member(all, n, track.to);
            if (!to)
                out->unresolved++; /* its receiver's chain was not given */
            else if ((rc = push(&sd->accepted, (size_t)(me - all), track.seq,
                                (size_t)(to - all))) != 0)
                break;
        }
        if (step)
            continue;
        if (is_type(&ev, "message/request.result")) {
            int l = link_field(&ev, hash, &hl);
            if (l == 0)
                continue;
            target = l > 0 ? find_member(all, n, last_request_to) : NULL;
            want = "message/reply";
            if (l < 0) {
                snprintf(out->reason, sizeof out->reason, "%s: event %llu: malformed link", me->id,
                         (unsigned long long)seq);
                rc = EC_EVERIFY;
                break;
            }
        } else if (is_type(&ev, "wasm/call")) {
            if (text_field(&ev, "from", from, sizeof from))
                continue; /* ec_init: no sender */
            if (text_field(&ev, "fn", fn, sizeof fn))
                fn[0] = 0;
            int l = link_field(&ev, hash, &hl);
            if (l < 0) {
                snprintf(out->reason, sizeof out->reason, "%s: event %llu: malformed link", me->id,
                         (unsigned long long)seq);
                rc = EC_EVERIFY;
                break;
            }
            if (strcmp(from, "@external") == 0)
                continue;
            if (l == 0) {
                snprintf(out->reason, sizeof out->reason,
                         "%s: event %llu: a call from %s without a link", me->id,
                         (unsigned long long)seq, from);
                rc = EC_EVERIFY;
                break;
            }
            if (strcmp(from, "@timer") == 0) {
                target = me;
                want = "timer/set";
            } else if (strcmp(from, "@http") == 0) { /* a served request: its own record */
                target = me;
                want = "http/request";
            } else {
                target = find_member(all, n, from);
                if (strcmp(fn, "ec_handle_message") == 0) {
                    want = "message/send";
                    receiver = me->id;
                } else if (strcmp(fn, "ec_handle_request") == 0) {
                    want = "message/request";
                    receiver = me->id;
                }
            }
        } else if (is_type(&ev, "message/dropped")) {
            /* A message accepted and then dropped (docs/ABI.md section 2): it links the
             * sender's message/send as its delivery would have. */
            if (text_field(&ev, "from", from, sizeof from))
                continue;
            int l = link_field(&ev, hash, &hl);
            if (l < 0 || (l == 0 && strcmp(from, "@external") != 0)) {
                snprintf(out->reason, sizeof out->reason, "%s: event %llu: %s link", me->id,
                         (unsigned long long)seq,
                         l < 0 ? "malformed" : "a dropped message without a");
                rc = EC_EVERIFY;
                break;
            }
            if (strcmp(from, "@external") == 0)
                continue;
            target = find_member(all, n, from);
            want = "message/send";
            receiver = me->id;
        } else {
            continue;
        }
        if (!target) {
            out->unresolved++;
            continue;
        }
        /* The iterator's view is not used past this point: resolve reads other records. */
        uint64_t found;
        if (resolve(target, hash, hl, want, receiver, why, sizeof why, &found)) {
            snprintf(out->reason, sizeof out->reason, "%s: event %llu: link %s", me->id,
                     (unsigned long long)seq, why);
            out->seq = seq;
            rc = EC_EVERIFY;
            break;
        }
        out->checked++;
        /* A delivery or a drop: the send it names (addressed to me, resolve checked) is
         * accounted for. */
        if (sd && want && strcmp(want, "message/send") == 0 &&
            (rc = push(&sd->accounted, (size_t)(target - all), found, (size_t)(me - all))) != 0)
            break;
    }
    ec_iter_free(it);
    return rc == EC_ITEROVER ? 0 : rc;
}

/* Each accepted send whose (sender, seq) no delivery or drop named, to the callback, in the
 * order of the chains and their seqs (accepted is collected in that order). */
static void report_unaccounted(member *m, sends *sd, const ec_links_options *opt)
{
    if (sd->accounted.n)
        qsort(sd->accounted.v, sd->accounted.n, sizeof *sd->accounted.v, cmp_sendref);
    for (size_t k = 0; k < sd->accepted.n; k++) {
        const sendref *a = &sd->accepted.v[k];
        if (sd->accounted.n && bsearch(a, sd->accounted.v, sd->accounted.n, sizeof *a, cmp_sendref))
            continue;
        ec_links_unaccounted u = {a->sender, a->seq, a->receiver, m[a->sender].id,
                                  m[a->receiver].id};
        opt->unaccounted(opt->ctx, &u);
    }
}

int ec_actor_check_links(ec_chain *const *chains, size_t n, ec_links_result *out)
{
    return ec_actor_check_links_opts(chains, n, NULL, out);
}

int ec_actor_check_links_opts(ec_chain *const *chains, size_t n, const ec_links_options *opt,
                              ec_links_result *out)
{
    if (!out || (!chains && n))
        return ec_error_set(EC_EINVAL, "ec_actor_check_links: NULL argument");
    if (opt && opt->version != EC_LINKS_OPTIONS_VERSION)
        return ec_error_set(EC_EINVAL,
                            "ec_actor_check_links: options version %u (this library: %u)",
                            opt->version, EC_LINKS_OPTIONS_VERSION);
    memset(out, 0, sizeof *out);
    sends collected, *sd = opt && opt->unaccounted ? &collected : NULL;
    memset(&collected, 0, sizeof collected);
    member *m = calloc(n ? n : 1, sizeof *m);
    if (!m)
        return ec_error_set(EC_ENOMEM, "ec_actor_check_links: out of memory");
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        m[k].chain = chains[k];
        if (ec_links_chain_actor(chains[k], m[k].id))
            rc = ec_error_set(EC_EFORMAT,
                              "chain %zu: not an actor chain (event 0 is not actor/start)", k);
        else if (find_member(m, k, m[k].id))
            rc = ec_error_set(EC_EINVAL, "chain %zu: actor %s given twice", k, m[k].id);
    }
    for (size_t k = 0; k < n && rc == 0; k++) {
        rc = check_one(m, n, &m[k], out, sd);
        if (rc == EC_EVERIFY)
            out->actor = k;
    }
    /* Only once every link resolved: a broken group is reported as broken (its first broken
     * link), not as a list of what its damage also left unaccounted. */
    if (rc == 0 && sd)
        report_unaccounted(m, sd, opt);
    free(collected.accounted.v);
    free(collected.accepted.v);
    free(m);
    if (rc == EC_EVERIFY)
        return ec_error_set(EC_EVERIFY, "%s", out->reason);
    return rc;
}
