/* actor/requeue.c: what `evchain recover` and `resume` (ec_runtime_recover) put back in the
 * queue of the actor they bring live, besides its timers: the messages that actors of the
 * same data directory (itself included) sent it, that were accepted (msg_send returned 0) and
 * that its chain neither delivers nor drops, in any of its lines: they were still queued when
 * the runtime that held them ended (kill -9, a crash), and the chains hold all that is needed
 * to deliver them (docs/ABI.md section 7, "Messages still queued when a run was killed").
 *
 * Which: a send of the sender's live line whose call completed (a wasm/result of that call
 * follows it in the line) is delivered; any other (a send in a line a recovery abandoned, or
 * in a call that trapped or was cut short, which the sender's own recovery abandons) is
 * queued to be recorded as message/dropped, as an automatic recovery drops a message sent in
 * the line it abandons: so every accepted message ends delivered or dropped, and
 * `verify --links` accounts for it. "Accepted" and "accounted" are links.c's rules
 * (links_int.h): one reading of the chains for both. Order: the send's timestamp, then its
 * seq, then the sender's id. A sender chain that cannot be read refuses the recovery (nothing
 * written): which messages are owed, and in which order, would otherwise be a guess. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <evchain/store.h>

#include "core/internal.h"
#include "actor/actor_int.h"
#include "actor/links_int.h"

#define IS(ev, t) ((ev).type_len == strlen(t) && memcmp((ev).type, t, (ev).type_len) == 0)

/* What becomes of a message found: the values of work.abandoned. */
enum { FATE_DELIVER = 0, FATE_ABANDONED = 1, FATE_INCOMPLETE = 2 };

typedef struct qmsg {
    uint64_t ts, seq;
    size_t sender;   /* index into the senders' ids */
    const char *sid; /* that id (set once the ids stop moving: ec_recover_requeue) */
    uint8_t hash[EC_HASH_MAX];
    size_t hl;
    int fate;
    uint8_t *body;
    size_t len;
} qmsg;

typedef struct qlist {
    qmsg *v;
    size_t n, cap;
    char **ids; /* the senders' ids, by index */
    size_t nids, cap_ids;
} qlist;

/* The links (hashes of message/send events) the receiver's chain delivers or drops, sorted. */
typedef struct hashes {
    uint8_t (*v)[EC_HASH_MAX];
    size_t n, cap;
} hashes;

static int hash_cmp(const void *x, const void *y)
{
    return memcmp(x, y, EC_HASH_MAX);
}

static int accounted(const hashes *h, const uint8_t *hash, size_t hl)
{
    uint8_t k[EC_HASH_MAX] = {0};
    memcpy(k, hash, hl);
    return h->n && bsearch(k, h->v, h->n, EC_HASH_MAX, hash_cmp) != NULL;
}

/* Every message end in the receiver's chain, all its lines: a delivered message stays
 * delivered whichever line its call is in now (docs/ABI.md section 7). */
static int receiver_ends(ec_chain *c, const char *path, hashes *out)
{
    ec_iter *it;
    int rc = ec_iter_new(&it, c, 0);
    if (rc)
        return rc;
    ec_event ev;
    while ((rc = ec_iter_next(it, &ev)) == 0) {
        char from[65];
        uint8_t hash[EC_HASH_MAX] = {0};
        size_t hl = 0;
        int e = ec_links_message_end(&ev, from, hash, &hl);
        if (e < 0) {
            rc = ec_error_set(EC_EVERIFY,
                              "recover: %s: event %llu: a message's end without a "
                              "valid link",
                              path, (unsigned long long)ev.seq);
            break;
        }
        if (e == 0)
            continue;
        if (ec_grow((void **)&out->v, &out->cap, out->n + 1, EC_HASH_MAX)) {
            rc = ec_error_set(EC_ENOMEM, "recover: out of memory");
            break;
        }
        memcpy(out->v[out->n++], hash, EC_HASH_MAX);
    }
    ec_iter_free(it);
    if (rc != EC_ITEROVER)
        return rc;
    if (out->n)
        qsort(out->v, out->n, EC_HASH_MAX, hash_cmp);
    return 0;
}

typedef struct marker {
    uint64_t seq, point;
} marker;

/* Whether q is in the live line that ends at `end`: walking back from end, a marker at M
 * with point P skips P+1 .. M-1 (docs/ABI.md section 7; ec_live_prev). markers ascending. */
static int in_live_line(const marker *m, size_t nm, uint64_t end, uint64_t q)
{
    if (q > end)
        return 0;
    size_t j = nm;
    for (uint64_t cur = end;;) {
        while (j > 0 && m[j - 1].seq > cur)
            j--;
        /* The line holds [m[j-1].seq, cur] (or [0, cur] without a marker), then goes on at
         * the marker's point. */
        uint64_t lo = j ? m[j - 1].seq : 0;
        if (q >= lo)
            return 1;
        cur = m[--j].point; /* j > 0 here: q < lo */
        if (q > cur)
            return 0;
    }
}

/* The messages to `rid` that sender chain c (its id sid, at `path`) accepted and the
 * receiver's chain does not account for, with their fate; end: the last seq of c's live line
 * (the receiver's own chain: the recovery point, the line after it being abandoned now). */
static int sender_sends(ec_chain *c, const char *path, const char *sid, const char *rid,
                        uint64_t end, const hashes *acc, qlist *out)
{
    size_t sender = out->nids;
    if (ec_grow((void **)&out->ids, &out->cap_ids, out->nids + 1, sizeof *out->ids) ||
        !(out->ids[out->nids] = strdup(sid)))
        return ec_error_set(EC_ENOMEM, "recover: out of memory");
    out->nids++;
    marker *m = NULL;
    size_t nm = 0, cap_m = 0, first = out->n, open = out->n;
    ec_links_send_track t;
    memset(&t, 0, sizeof t);
    uint8_t send_hash[EC_HASH_MAX];
    size_t send_hl = 0;
    uint64_t send_ts = 0;
    ec_iter *it;
    int rc = ec_iter_new(&it, c, 0);
    if (rc)
        return rc;
    /* Every event checked as it is read (hash, seq, links): a damaged or altered chain
     * refuses the recovery rather than have its actor given what it did not send. */
    ec_verify_result vr;
    if ((rc = ec_iter_verify(it, &vr)) != 0) {
        ec_iter_free(it);
        return rc;
    }
    ec_event ev;
    while ((rc = ec_iter_next(it, &ev)) == 0) {
        if (IS(ev, "message/send")) {
            send_hl = ev.hash_len < EC_HASH_MAX ? ev.hash_len : EC_HASH_MAX;
            memcpy(send_hash, ev.hash, send_hl);
            send_ts = ev.timestamp;
        }
        int step = ec_links_send_step(&t, &ev);
        if (step == EC_LINKS_SEND_ACCEPTED && strcmp(t.to, rid) == 0 &&
            !accounted(acc, send_hash, send_hl)) {
            if (ec_grow((void **)&out->v, &out->cap, out->n + 1, sizeof *out->v)) {
                rc = ec_error_set(EC_ENOMEM, "recover: out of memory");
                break;
            }
            qmsg *q = &out->v[out->n++];
            memset(q, 0, sizeof *q);
            q->ts = send_ts;
            q->seq = t.seq;
            q->sender = sender;
            memcpy(q->hash, send_hash, send_hl);
            q->hl = send_hl;
            q->fate = FATE_INCOMPLETE; /* until its call's wasm/result */
        }
        if (step)
            continue;
        /* A chain's calls do not nest (an actor is never re-entered): a call's sends are the
         * ones since the last wasm/call, marker or end of a call. */
        if (IS(ev, "wasm/result")) {
            for (size_t k = open; k < out->n; k++)
                out->v[k].fate = FATE_DELIVER;
            open = out->n;
        } else if (IS(ev, "wasm/trap") || IS(ev, "wasm/call")) {
            open = out->n;
        } else if (IS(ev, "runtime/recovered") || IS(ev, "runtime/migrated")) {
            uint64_t point;
            if ((rc = ec_live_prev(&ev, ev.seq, &point)))
                break;
            if (ec_grow((void **)&m, &cap_m, nm + 1, sizeof *m)) {
                rc = ec_error_set(EC_ENOMEM, "recover: out of memory");
                break;
            }
            m[nm++] = (marker){ev.seq, point};
            open = out->n;
        }
    }
    ec_iter_free(it);
    if (rc == EC_ITEROVER)
        rc = 0;
    else if (rc == EC_EVERIFY)
        rc = ec_error_set(EC_EVERIFY, "%s: %s", path,
                          ec_error_last() ? ec_error_last()->message : "damaged");
    for (size_t k = first; rc == 0 && k < out->n; k++) {
        qmsg *q = &out->v[k];
        if (!in_live_line(m, nm, end, q->seq))
            q->fate = FATE_ABANDONED;
        /* The body, as the sender gave it (accepted: under max_message, so recorded). */
        ec_event s;
        unsigned mt;
        const uint8_t *v;
        size_t vl;
        uint64_t num;
        if ((rc = ec_chain_get(c, q->seq, &s)))
            break;
        if (s.hash_len != q->hl || memcmp(s.hash, q->hash, q->hl) ||
            cb_map_find(s.data, s.data_len, "body", &mt, &v, &vl, &num) || (mt != 2 && mt != 3)) {
            rc = ec_error_set(EC_EVERIFY,
                              "recover: %s: event %llu: an accepted message/send "
                              "without its body",
                              path, (unsigned long long)q->seq);
            break;
        }
        if (!(q->body = malloc(vl ? vl : 1))) {
            rc = ec_error_set(EC_ENOMEM, "recover: out of memory");
            break;
        }
        memcpy(q->body, v, vl);
        q->len = vl;
    }
    free(m);
    return rc;
}

static int qmsg_cmp(const void *x, const void *y)
{
    const qmsg *a = x, *b = y;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return strcmp(a->sid, b->sid);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The actor chain directories of <data>/actors, as `verify --links` finds them (each
 * <data>/actors/<name>/chain that is a directory, names starting with "." skipped: an
 * import's scratch), sorted. */
static int list_chains(const char *data, char ***out, size_t *n)
{
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/actors", data);
    *out = NULL;
    *n = 0;
    DIR *d = opendir(sub);
    if (!d)
        return 0; /* no actors directory: no sender */
    size_t cap = 0;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        char path[4500];
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s/chain", sub, de->d_name);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        if (ec_grow((void **)out, &cap, *n + 1, sizeof **out) || !((*out)[*n] = strdup(path)))
            rc = ec_error_set(EC_ENOMEM, "recover: out of memory");
        else
            (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(*out, *n, sizeof **out, name_cmp);
    return rc;
}

static int seen_id(const qlist *l, const char *id)
{
    for (size_t k = 0; k < l->nids; k++)
        if (strcmp(l->ids[k], id) == 0)
            return 1;
    return 0;
}

int ec_recover_requeue(ec_actor *a, ec_chain *chain, const char *chain_dir, uint64_t point,
                       const char *data)
{
    ec_runtime *rt = a->rt;
    hashes acc = {0};
    qlist l = {0};
    char **paths = NULL;
    size_t npaths = 0;
    int rc = receiver_ends(chain, chain_dir, &acc);
    /* Its own sends first (an actor may message itself): its chain as it will be once the
     * marker abandons what follows the point. */
    if (rc == 0)
        rc = sender_sends(chain, chain_dir, a->id, a->id, point, &acc, &l);
    if (rc == 0)
        rc = list_chains(data, &paths, &npaths);
    for (size_t k = 0; rc == 0 && k < npaths; k++) {
        ec_chain *c = NULL;
        ec_open_options oo = EC_OPEN_OPTIONS_INIT; /* read-only: no lock, follows a writer */
        char id[65];
        if ((rc = ec_chain_open_path(&c, paths[k], &oo)) != 0 || ec_links_chain_actor(c, id) != 0) {
            char why[300];
            snprintf(why, sizeof why, "%s",
                     rc && ec_error_last() ? ec_error_last()->message
                                           : "event 0 is not an actor/start naming its actor");
            rc = ec_error_set(EC_EVERIFY,
                              "recover: cannot tell which messages %s was sent and never given: "
                              "the chain %s cannot be read (%s); nothing was written: restore or "
                              "move that chain, then recover again",
                              a->id, paths[k], why);
        } else if (strcmp(id, a->id) != 0 && seen_id(&l, id)) {
            rc = ec_error_set(EC_EVERIFY,
                              "recover: cannot tell which messages %s was sent and never given: "
                              "actor %s has two chains in the data directory (the second: %s); "
                              "nothing was written",
                              a->id, id, paths[k]);
        } else if (strcmp(id, a->id) != 0 &&
                   (rc = sender_sends(c, paths[k], id, a->id, ec_chain_count(c) - 1, &acc, &l)) !=
                       0) {
            char why[300];
            snprintf(why, sizeof why, "%s", ec_error_last() ? ec_error_last()->message : "?");
            rc = ec_error_set(rc == EC_ENOMEM ? rc : EC_EVERIFY,
                              "recover: cannot tell which messages %s was sent and never given: "
                              "%s; nothing was written",
                              a->id, why);
        }
        ec_chain_free(c);
    }
    size_t ndeliver = 0, ndrop = 0;
    uint64_t bytes = 0;
    for (size_t k = 0; k < l.n; k++) {
        bytes += l.v[k].len;
        if (l.v[k].fate == FATE_DELIVER)
            ndeliver++;
        else
            ndrop++;
    }
    /* Refused as a whole, as re-armed timers are: none is dropped silently. */
    if (rc == 0 &&
        (rt->queued + l.n > rt->max_queue || rt->queued_bytes + bytes > rt->max_queued_bytes))
        rc = ec_error_set(EC_EDENIED,
                          "recover: %zu messages (%llu bytes) sent to %s and never given would "
                          "pass the runtime's queue limits (max_queue %zu, max_queued_bytes "
                          "%llu)",
                          l.n, (unsigned long long)bytes, a->id, rt->max_queue,
                          (unsigned long long)rt->max_queued_bytes);
    if (rc == 0 && l.n) {
        for (size_t k = 0; k < l.n; k++)
            l.v[k].sid = l.ids[l.v[k].sender];
        qsort(l.v, l.n, sizeof *l.v, qmsg_cmp);
    }
    for (size_t k = 0; rc == 0 && k < l.n; k++) {
        qmsg *q = &l.v[k];
        if ((rc = ec_queue_message(rt, a->id, l.ids[q->sender], q->body, q->len, q->hash, q->hl)) ==
            0)
            rt->queue_tail->abandoned = q->fate; /* the one just queued */
    }
    if (rc == 0) {
        rt->requeued_deliver = ndeliver;
        rt->requeued_drop = ndrop;
    }
    for (size_t k = 0; k < l.n; k++)
        free(l.v[k].body);
    free(l.v);
    for (size_t k = 0; k < l.nids; k++)
        free(l.ids[k]);
    free(l.ids);
    for (size_t k = 0; k < npaths; k++)
        free(paths[k]);
    free(paths);
    free(acc.v);
    return rc;
}

void ec_runtime_recovered_messages(const ec_runtime *rt, size_t *to_deliver, size_t *to_drop)
{
    if (to_deliver)
        *to_deliver = rt ? rt->requeued_deliver : 0;
    if (to_drop)
        *to_drop = rt ? rt->requeued_drop : 0;
}
