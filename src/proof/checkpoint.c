/* proof/checkpoint.c: C2SP tlog-checkpoint notes over a chain's Merkle tree, C2SP tlog-proof
 * files for one event, `verify --since` (a chain against a checkpoint it must extend) and the
 * periodic checkpointer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <evchain/proof.h>
#include <evchain/store.h>
#include "core/internal.h"
#include "proof/proof_internal.h"

#define PROOF_HEADER "c2sp.org/tlog-proof@v1"

/* ---- checkpoints ---- */

int ec_checkpoint_text(char **out, const char *origin, uint64_t size,
                       const uint8_t root[EC_MERKLE_HASH_LEN])
{
    *out = NULL;
    size_t ol = origin ? strlen(origin) : 0;
    if (ol == 0 || ol >= EC_NOTE_NAME_MAX || memchr(origin, '\n', ol) || !ec_utf8_valid(origin, ol))
        return ec_error_set(EC_EINVAL, "checkpoint: origin must be one non-empty UTF-8 line "
                                       "under 256 bytes");
    for (size_t i = 0; i < ol; i++)
        if ((unsigned char)origin[i] < 0x20)
            return ec_error_set(EC_EINVAL, "checkpoint: control character in the origin");
    char b64[64];
    ec_base64_encode(b64, root, EC_MERKLE_HASH_LEN);
    size_t n = ol + 1 + 21 + 1 + strlen(b64) + 2;
    *out = malloc(n);
    if (!*out)
        return ec_error_set(EC_ENOMEM, "checkpoint: no memory");
    snprintf(*out, n, "%s\n%llu\n%s\n", origin, (unsigned long long)size, b64);
    return 0;
}

/* A decimal with no sign, no leading zero (but "0") and no overflow. */
static int parse_dec(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Next line of [*p, end): NULL at the end or when the text does not end in a newline. */
static const char *next_line(const char **p, const char *end, size_t *len)
{
    if (*p >= end)
        return NULL;
    const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl)
        return NULL;
    *len = (size_t)(nl - s);
    *p = nl + 1;
    return s;
}

int ec_checkpoint_parse(ec_checkpoint *out, const char *text, size_t len)
{
    memset(out, 0, sizeof *out);
    if (len == 0 || text[len - 1] != '\n')
        return ec_error_set(EC_EFORMAT, "checkpoint: the text does not end with a newline");
    /* The note rules hold for the text alone too (it may come without its signatures). */
    if (!ec_utf8_valid(text, len))
        return ec_error_set(EC_EFORMAT, "checkpoint: not valid UTF-8");
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 && text[i] != '\n')
            return ec_error_set(EC_EFORMAT, "checkpoint: control character 0x%02x at byte %zu",
                                (unsigned char)text[i], i);
    const char *p = text, *end = text + len, *l;
    size_t ll;
    l = next_line(&p, end, &ll);
    if (!l || ll == 0)
        return ec_error_set(EC_EFORMAT, "checkpoint: line 1: empty origin");
    if (ll >= EC_NOTE_NAME_MAX)
        return ec_error_set(EC_EFORMAT, "checkpoint: line 1: origin longer than %d bytes",
                            EC_NOTE_NAME_MAX - 1);
    memcpy(out->origin, l, ll);
    l = next_line(&p, end, &ll);
    if (!l || parse_dec(l, ll, &out->size) != 0)
        return ec_error_set(EC_EFORMAT, "checkpoint: line 2: tree size is not a decimal "
                                        "without leading zeroes");
    l = next_line(&p, end, &ll);
    uint8_t root[48];
    size_t rl;
    if (!l || ll != 44 || ec_base64_decode(root, &rl, l, ll) != 0 || rl != EC_MERKLE_HASH_LEN)
        return ec_error_set(EC_EFORMAT, "checkpoint: line 3: root hash is not base64 of 32 "
                                        "bytes");
    memcpy(out->root, root, EC_MERKLE_HASH_LEN);
    for (unsigned n = 4; (l = next_line(&p, end, &ll)) != NULL; n++)
        if (ll == 0)
            return ec_error_set(EC_EFORMAT, "checkpoint: line %u: empty extension line", n);
    return 0;
}

int ec_checkpoint_open(ec_checkpoint *out, const char *note, size_t len, ec_vkey *const *keys,
                       size_t nkeys)
{
    ec_note_result r;
    memset(out, 0, sizeof *out);
    int rc = ec_note_open(note, len, keys, nkeys, &r);
    if (rc)
        return rc;
    rc = ec_checkpoint_parse(out, note, r.text_len);
    if (rc == 0)
        snprintf(out->signer, sizeof out->signer, "%s", r.signer);
    return rc;
}

int ec_checkpoint_sign(char **out, size_t *out_len, ec_tree *t, const char *origin,
                       ec_signer *signer)
{
    uint8_t root[EC_MERKLE_HASH_LEN];
    char *text;
    *out = NULL;
    /* Never sign a root not derived from the chain: subtrees read from a tree file are
     * recomputed first (all of them here; a checkpointer only those past its last
     * checkpoint, ec_checkpointer_write). */
    int rc = ec_tree_checked(t) ? 0 : ec_tree_check(t, 0);
    if (rc == 0)
        rc = ec_tree_root(t, ec_tree_size(t), root);
    if (rc)
        return rc;
    rc = ec_checkpoint_text(&text, origin ? origin : ec_signer_name(signer), ec_tree_size(t), root);
    if (rc)
        return rc;
    rc = ec_note_sign(out, out_len, text, strlen(text), &signer, 1);
    free(text);
    return rc;
}

/* ---- tlog-proof ---- */

void ec_tlog_proof_free(ec_tlog_proof *p)
{
    if (!p)
        return;
    free(p->extra);
    free(p->checkpoint);
    free(p);
}

int ec_tlog_proof_format(char **out, size_t *out_len, const ec_tlog_proof *p)
{
    EC_REFUSE_NULL2(out, out_len);
    EC_REFUSE_NULL(p);
    *out = NULL;
    *out_len = 0;
    if (p->count > EC_MERKLE_PROOF_MAX - 1 || !p->checkpoint || !p->checkpoint_len)
        return ec_error_set(EC_EINVAL, "tlog-proof: %zu hashes or no checkpoint", p->count);
    size_t cap = sizeof PROOF_HEADER + 6 + ec_base64_len(p->extra_len) + 1 + 6 + 21 +
                 p->count * 46 + 1 + p->checkpoint_len + 1;
    char *buf = malloc(cap);
    if (!buf)
        return ec_error_set(EC_ENOMEM, "tlog-proof: no memory");
    size_t o = (size_t)snprintf(buf, cap, "%s\n", PROOF_HEADER);
    if (p->extra) {
        memcpy(buf + o, "extra ", 6);
        o += 6;
        ec_base64_encode(buf + o, p->extra, p->extra_len);
        o += ec_base64_len(p->extra_len);
        buf[o++] = '\n';
    }
    o += (size_t)snprintf(buf + o, cap - o, "index %llu\n", (unsigned long long)p->index);
    for (size_t i = 0; i < p->count; i++) {
        ec_base64_encode(buf + o, p->hashes[i], EC_MERKLE_HASH_LEN);
        o += 44;
        buf[o++] = '\n';
    }
    buf[o++] = '\n';
    memcpy(buf + o, p->checkpoint, p->checkpoint_len);
    o += p->checkpoint_len;
    buf[o] = 0;
    *out = buf;
    *out_len = o;
    return 0;
}

int ec_tlog_proof_parse(ec_tlog_proof **out, const char *text, size_t len)
{
    *out = NULL;
    if (len > EC_NOTE_MAX_LEN + (96u << 20))
        return ec_error_set(EC_EFORMAT, "tlog-proof: %zu bytes is too large", len);
    ec_tlog_proof *p = calloc(1, sizeof *p);
    if (!p)
        return ec_error_set(EC_ENOMEM, "tlog-proof: no memory");
    const char *cur = text, *end = text + len, *l;
    size_t ll;
    unsigned line = 1;
    int rc = 0;
    l = next_line(&cur, end, &ll);
    if (!l || ll != sizeof PROOF_HEADER - 1 || memcmp(l, PROOF_HEADER, ll) != 0) {
        rc = ec_error_set(EC_EFORMAT, "tlog-proof: line 1: not '%s'", PROOF_HEADER);
        goto fail;
    }
    l = next_line(&cur, end, &ll);
    line++;
    if (l && ll >= 6 && memcmp(l, "extra ", 6) == 0) {
        p->extra = malloc(ll / 4 * 3 + 3);
        if (!p->extra) {
            rc = ec_error_set(EC_ENOMEM, "tlog-proof: no memory");
            goto fail;
        }
        if (ec_base64_decode(p->extra, &p->extra_len, l + 6, ll - 6) != 0) {
            rc = ec_error_set(EC_EFORMAT, "tlog-proof: line %u: bad base64 extra data", line);
            goto fail;
        }
        l = next_line(&cur, end, &ll);
        line++;
    }
    if (!l || ll < 7 || memcmp(l, "index ", 6) != 0 || parse_dec(l + 6, ll - 6, &p->index)) {
        rc = ec_error_set(EC_EFORMAT, "tlog-proof: line %u: expected 'index <decimal>'", line);
        goto fail;
    }
    for (;;) {
        l = next_line(&cur, end, &ll);
        line++;
        if (!l) {
            rc = ec_error_set(EC_EFORMAT, "tlog-proof: no blank line before the checkpoint");
            goto fail;
        }
        if (ll == 0)
            break;
        uint8_t h[48];
        size_t hl;
        if (p->count == EC_MERKLE_PROOF_MAX - 1) {
            rc = ec_error_set(EC_EFORMAT, "tlog-proof: line %u: more than %d proof hashes", line,
                              EC_MERKLE_PROOF_MAX - 1);
            goto fail;
        }
        if (ll != 44 || ec_base64_decode(h, &hl, l, ll) != 0 || hl != EC_MERKLE_HASH_LEN) {
            rc = ec_error_set(EC_EFORMAT, "tlog-proof: line %u: not a base64 SHA-256 hash", line);
            goto fail;
        }
        memcpy(p->hashes[p->count++], h, EC_MERKLE_HASH_LEN);
    }
    p->checkpoint_len = (size_t)(end - cur);
    if (p->checkpoint_len == 0) {
        rc = ec_error_set(EC_EFORMAT, "tlog-proof: line %u: no checkpoint after the blank line",
                          line);
        goto fail;
    }
    p->checkpoint = malloc(p->checkpoint_len + 1);
    if (!p->checkpoint) {
        rc = ec_error_set(EC_ENOMEM, "tlog-proof: no memory");
        goto fail;
    }
    memcpy(p->checkpoint, cur, p->checkpoint_len);
    p->checkpoint[p->checkpoint_len] = 0;
    *out = p;
    return 0;
fail:
    ec_tlog_proof_free(p);
    return rc;
}

/* The checkpoint inside a note we are about to use ourselves: parsed, signature unchecked
 * (the caller produced it or verifies it separately). */
static int peek_checkpoint(ec_checkpoint *cp, const char *note, size_t len)
{
    size_t tl;
    int rc = ec_note_split(note, len, &tl);
    return rc ? rc : ec_checkpoint_parse(cp, note, tl);
}

int ec_tlog_proof_build(ec_tlog_proof **out, ec_tree *t, uint64_t seq, const char *checkpoint,
                        size_t checkpoint_len)
{
    *out = NULL;
    ec_checkpoint cp;
    int rc = peek_checkpoint(&cp, checkpoint, checkpoint_len);
    if (rc)
        return rc;
    if (cp.size > ec_tree_size(t))
        return ec_error_set(EC_EINVAL,
                            "tlog-proof: the checkpoint covers %llu events, the chain has %llu",
                            (unsigned long long)cp.size, (unsigned long long)ec_tree_size(t));
    if (seq >= cp.size)
        return ec_error_set(EC_EINVAL,
                            "tlog-proof: event %llu is not in the checkpoint's tree of %llu events "
                            "(sign a newer checkpoint)",
                            (unsigned long long)seq, (unsigned long long)cp.size);
    uint8_t root[EC_MERKLE_HASH_LEN];
    rc = ec_tree_root(t, cp.size, root);
    if (rc)
        return rc;
    if (memcmp(root, cp.root, EC_MERKLE_HASH_LEN) != 0)
        return ec_error_set(
            EC_EVERIFY, "tlog-proof: the checkpoint's root is not this chain's root at size %llu",
            (unsigned long long)cp.size);
    ec_tlog_proof *p = calloc(1, sizeof *p);
    if (!p)
        return ec_error_set(EC_ENOMEM, "tlog-proof: no memory");
    p->index = seq;
    rc = ec_tree_inclusion(t, seq, cp.size, p->hashes, &p->count);
    if (rc == 0) {
        /* Check the path before handing it out: its inner subtrees may come from a tree file
         * that nothing else compared with the chain (only the root's subtrees are). */
        ec_event ev;
        uint8_t leaf[EC_MERKLE_HASH_LEN];
        rc = ec_chain_get(ec_tree_chain(t), seq, &ev);
        if (rc == 0) {
            ec_merkle_leaf_hash(ev.hash, ev.hash_len, leaf);
            if (ec_merkle_verify_inclusion(leaf, seq, cp.size, cp.root, p->hashes, p->count))
                rc = ec_error_set(EC_EVERIFY,
                                  "tlog-proof: the inclusion path built for event %llu does not "
                                  "lead to the checkpoint's root: the chain's tree file is "
                                  "damaged (rebuild it: `evchain checkpoint --rebuild`)",
                                  (unsigned long long)seq);
        }
    }
    const uint8_t *rec = NULL;
    size_t rl = 0;
    if (rc == 0) {
        ec_backend *b = ec_chain_backend(ec_tree_chain(t));
        rc = b->get(b, seq, &rec, &rl);
    }
    if (rc == 0) {
        p->extra = malloc(rl ? rl : 1);
        p->checkpoint = malloc(checkpoint_len + 1);
        if (!p->extra || !p->checkpoint)
            rc = ec_error_set(EC_ENOMEM, "tlog-proof: no memory");
    }
    if (rc) {
        ec_tlog_proof_free(p);
        return rc;
    }
    memcpy(p->extra, rec, rl);
    p->extra_len = rl;
    memcpy(p->checkpoint, checkpoint, checkpoint_len);
    p->checkpoint[checkpoint_len] = 0;
    p->checkpoint_len = checkpoint_len;
    *out = p;
    return 0;
}

int ec_tlog_proof_verify(const ec_tlog_proof *p, const uint8_t *event_hash, size_t hash_len,
                         ec_vkey *const *keys, size_t nkeys, ec_checkpoint *cp_out)
{
    ec_checkpoint cp;
    EC_REFUSE_NULL(p);
    if (!event_hash && hash_len)
        return ec_error_set(EC_EINVAL, "ec_tlog_proof_verify: event_hash is NULL");
    int rc = ec_checkpoint_open(&cp, p->checkpoint, p->checkpoint_len, keys, nkeys);
    if (cp_out)
        *cp_out = cp;
    if (rc)
        return rc;
    if (p->index >= cp.size)
        return ec_error_set(EC_EVERIFY,
                            "tlog-proof: index %llu is past the checkpoint's tree size %llu",
                            (unsigned long long)p->index, (unsigned long long)cp.size);
    uint8_t leaf[EC_MERKLE_HASH_LEN];
    ec_merkle_leaf_hash(event_hash, hash_len, leaf);
    return ec_merkle_verify_inclusion(leaf, p->index, cp.size, cp.root, p->hashes, p->count);
}

/* ---- verify --since ---- */

static void note_signer(const char *note, size_t len, size_t text_len, char *out, size_t cap);

int ec_proof_verify_since(ec_chain *chain, const char *note, size_t len, ec_vkey *const *keys,
                          size_t nkeys, const ec_since_options *opts, ec_since_result *res)
{
    ec_since_result tmp;
    if (!res)
        res = &tmp;
    memset(res, 0, sizeof *res);
    if (opts && opts->version != 1 && opts->version != EC_SINCE_OPTIONS_VERSION)
        return ec_error_set(EC_EUNSUPPORTED,
                            "ec_proof_verify_since: options version %u (expected %u)",
                            opts->version, EC_SINCE_OPTIONS_VERSION);
    if (!chain || (!note && len))
        return ec_error_set(EC_EINVAL, "ec_proof_verify_since: %s is NULL",
                            !chain ? "chain" : "note");
    /* A version 1 struct ends before signature_unchecked: not read. */
    int unchecked = opts && opts->version >= 2 && opts->signature_unchecked;
    int rc;
    if (unchecked) {
        size_t tl = 0;
        rc = ec_note_split(note, len, &tl);
        if (rc == 0)
            rc = ec_checkpoint_parse(&res->checkpoint, note, tl);
        if (rc == 0)
            note_signer(note, len, tl, res->checkpoint.signer, sizeof res->checkpoint.signer);
    } else {
        rc = ec_checkpoint_open(&res->checkpoint, note, len, keys, nkeys);
    }
    if (rc) {
        snprintf(res->reason, sizeof res->reason, "checkpoint: %s",
                 ec_error_last() ? ec_error_last()->message : "unusable");
        return rc;
    }
    const ec_checkpoint *cp = &res->checkpoint;
    /* Who the verdict names: a signer only when its signature was checked. */
    const char *by = unchecked ? "(signature not checked)" : "signed by ";
    const char *signer = unchecked ? "" : cp->signer;
    res->chain_size = ec_chain_count(chain);
    if (!opts || !opts->chain_verified) {
        ec_verify_result vr;
        rc = ec_chain_verify(chain, NULL, &vr);
        if (rc == EC_EVERIFY) {
            res->status = EC_SINCE_BROKEN;
            snprintf(res->reason, sizeof res->reason, "the chain itself is broken at seq %llu: %s",
                     (unsigned long long)vr.seq, vr.reason);
            return ec_error_set(EC_EVERIFY, "%s", res->reason);
        }
        if (rc)
            return rc;
    }
    if (res->chain_size < cp->size) {
        /* The signed root covers all cp->size events: without the missing ones no root of
         * the events left can be compared with anything signed, so nothing is said of them
         * (they may have been rewritten too) but that they could not be checked. */
        res->status = EC_SINCE_TRUNCATED;
        char left[128] = "";
        if (res->chain_size == 1)
            snprintf(left, sizeof left,
                     "; the event left could not be checked against the checkpoint (it may "
                     "have been rewritten too)");
        else if (res->chain_size)
            snprintf(left, sizeof left,
                     "; the %llu events left could not be checked against the checkpoint "
                     "(they may have been rewritten too)",
                     (unsigned long long)res->chain_size);
        snprintf(res->reason, sizeof res->reason,
                 "truncated: the chain has %llu events but the checkpoint %s%s covers "
                 "%llu: events %llu to %llu were removed%s",
                 (unsigned long long)res->chain_size, by, signer, (unsigned long long)cp->size,
                 (unsigned long long)res->chain_size, (unsigned long long)cp->size - 1, left);
        return ec_error_set(EC_EVERIFY, "%s", res->reason);
    }
    /* The roots come from the chain's own (just verified) event hashes, never from a stored
     * tree file, which whoever rewrote the chain could have rewritten too. */
    ec_tree *t;
    rc = ec_tree_open(&t, chain, NULL);
    if (rc)
        return rc;
    uint8_t root_m[EC_MERKLE_HASH_LEN], root_n[EC_MERKLE_HASH_LEN];
    uint8_t proof[EC_MERKLE_PROOF_MAX][EC_MERKLE_HASH_LEN];
    rc = ec_tree_root(t, cp->size, root_m);
    if (rc == 0)
        rc = ec_tree_root(t, ec_tree_size(t), root_n);
    if (rc == 0 && memcmp(root_m, cp->root, EC_MERKLE_HASH_LEN) != 0) {
        res->status = EC_SINCE_FORKED;
        snprintf(res->reason, sizeof res->reason,
                 "forked: the chain's first %llu events are not the ones %s%s%s: events before "
                 "seq %llu were rewritten after the checkpoint",
                 (unsigned long long)cp->size, unchecked ? "of the checkpoint " : "", by, signer,
                 (unsigned long long)cp->size);
        ec_tree_free(t);
        return ec_error_set(EC_EVERIFY, "%s", res->reason);
    }
    /* The chain extends the checkpoint. The RFC 9162 consistency proof between the two
     * sizes is what a party without the chain would be given; checking it here keeps the
     * proof path honest end to end. */
    if (rc == 0)
        rc = ec_tree_consistency(t, cp->size, ec_tree_size(t), proof, &res->proof_count);
    if (rc == 0 && ec_merkle_verify_consistency(cp->size, cp->root, ec_tree_size(t), root_n, proof,
                                                res->proof_count) != 0)
        rc = ec_error_set(EC_ERROR, "internal: consistency proof %llu -> %llu failed: %s",
                          (unsigned long long)cp->size, (unsigned long long)ec_tree_size(t),
                          ec_error_last()->message);
    ec_tree_free(t);
    if (rc == 0)
        snprintf(res->reason, sizeof res->reason,
                 "the chain (%llu events) extends the checkpoint %s%s (%llu events)",
                 (unsigned long long)res->chain_size, by, signer, (unsigned long long)cp->size);
    return rc;
}

/* ---- periodic checkpoints ---- */

struct ec_checkpointer {
    ec_tree *tree;
    ec_tree *own_tree; /* opened by ec_checkpointer_open, freed with the checkpointer */
    ec_signer *signer;
    uint64_t every_events, every_ns;
    char *dir, *origin;
    uint64_t last_size, last_ns;
    uint8_t last_root[EC_MERKLE_HASH_LEN];
    int have_last;
    char *last;
    size_t last_len;
    /* Retention (keep > 0): the sizes of the numbered files in dir, ascending; read once at
     * open, then kept up to date, so that a write never lists the folder. */
    uint64_t keep;
    uint64_t *kept;
    size_t nkept, kept_cap;
    int replace;  /* a different stored checkpoint of the same size may be replaced */
    int no_store; /* dir is read (latest: origin, last checkpoint), never written */
};

void ec_checkpointer_free(ec_checkpointer *c)
{
    if (!c)
        return;
    ec_tree_free(c->own_tree);
    free(c->dir);
    free(c->origin);
    free(c->last);
    free(c->kept);
    free(c);
}

/* A numbered checkpoint's file name: the tree size in 20 decimal digits (so that names sort
 * as sizes), and what numbered_name reads back. */
#define CP_NAME_FMT "%020llu.checkpoint"

/* "<20 decimal digits>.checkpoint": the size it names, else -1. */
static int numbered_name(const char *name, uint64_t *size)
{
    static const char ext[] = ".checkpoint";
    if (strlen(name) != 20 + sizeof ext - 1 || strcmp(name + 20, ext) != 0)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *size = v;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int kept_push(ec_checkpointer *c, uint64_t size)
{
    if (ec_grow((void **)&c->kept, &c->kept_cap, c->nkept + 1, sizeof *c->kept))
        return ec_error_set(EC_ENOMEM, "checkpointer: no memory");
    c->kept[c->nkept++] = size;
    return 0;
}

/* The numbered checkpoints already in the folder (from earlier runs), oldest first. */
static int kept_scan(ec_checkpointer *c)
{
    DIR *d = opendir(c->dir);
    if (!d)
        return ec_error_set_errno(EC_EIO, errno, "%s: listing the checkpoints", c->dir);
    int rc = 0;
    struct dirent *de;
    uint64_t size;
    while (rc == 0 && (de = readdir(d)) != NULL)
        if (numbered_name(de->d_name, &size) == 0)
            rc = kept_push(c, size);
    closedir(d);
    if (c->nkept > 1)
        qsort(c->kept, c->nkept, sizeof *c->kept, cmp_u64);
    return rc;
}

/* After a write at `size`: remove the oldest numbered files beyond `keep`. The new checkpoint
 * and `latest` are already durable, so a crash here leaves at most extra files. A file that
 * cannot be removed is kept on the list and tried again at the next write: the folder may
 * then hold more than `keep`, never fewer. */
static void kept_prune(ec_checkpointer *c, uint64_t size)
{
    if (!c->keep)
        return;
    /* out of memory: the new file is not listed, and stays; the older ones still go */
    if (!c->nkept || c->kept[c->nkept - 1] < size) /* a forced rewrite reuses the name */
        (void)kept_push(c, size);
    size_t n = strlen(c->dir) + 40, drop = 0;
    char *path = malloc(n);
    while (path && c->nkept - drop > c->keep) {
        snprintf(path, n, "%s/" CP_NAME_FMT, c->dir, (unsigned long long)c->kept[drop]);
        if (unlink(path) != 0 && errno != ENOENT)
            break;
        drop++;
    }
    free(path);
    memmove(c->kept, c->kept + drop, (c->nkept - drop) * sizeof *c->kept);
    c->nkept -= drop;
}

/* The name of the first signature line of a signed note (text_len: its text's length), into
 * out; "" when there is none. */
static void note_signer(const char *note, size_t len, size_t text_len, char *out, size_t cap)
{
    static const char dash[] = "\xe2\x80\x94 "; /* U+2014 and a space */
    out[0] = 0;
    size_t at = text_len + 1; /* past the blank line */
    if (at + sizeof dash - 1 > len || memcmp(note + at, dash, sizeof dash - 1) != 0)
        return;
    at += sizeof dash - 1;
    const char *sp = memchr(note + at, ' ', len - at);
    if (sp && (size_t)(sp - (note + at)) < cap)
        snprintf(out, cap, "%.*s", (int)(sp - (note + at)), note + at);
}

/* One size, one signed checkpoint: a different one of `size` events already stored at path
 * (the numbered file; `latest` when it covers that size) is not replaced silently, or an
 * auditor holding it would find it gone, or signed by a key they do not trust. 0 when there
 * is none, or it is this very note (Ed25519 is deterministic: the same key signing the same
 * origin and root writes the same bytes); else EC_EEXISTS saying how the two differ. */
static int check_stored(const char *path, int is_latest, uint64_t size, const char *data,
                        size_t len)
{
    int fd = ec_open_regular(path, O_RDONLY);
    if (fd == -2)
        return ec_error_last()->code;
    if (fd < 0)
        return errno == ENOENT ? 0 : ec_error_set_errno(EC_EIO, errno, "%s: opening", path);
    char *old = malloc(len + 2);
    size_t n = 0;
    ssize_t r = 0;
    while (old && n < len + 1 &&
           ((r = read(fd, old + n, len + 1 - n)) > 0 || (r < 0 && errno == EINTR)))
        n += r > 0 ? (size_t)r : 0;
    int e = errno;
    close(fd);
    if (!old)
        return ec_error_set(EC_ENOMEM, "checkpoint: no memory");
    if (r < 0) {
        free(old);
        return ec_error_set_errno(EC_EIO, e, "%s: reading", path);
    }
    old[n] = 0;
    ec_checkpoint was, now;
    size_t wtl = 0, ntl = 0;
    int parsed = ec_note_split(old, n, &wtl) == 0 && ec_checkpoint_parse(&was, old, wtl) == 0;
    if ((is_latest && (!parsed || was.size != size)) || (n == len && memcmp(old, data, len) == 0)) {
        free(old);
        return 0; /* `latest` of another size, or the same checkpoint */
    }
    char how[EC_NOTE_NAME_MAX * 4 + 64] = "one that is not a checkpoint";
    if (parsed && ec_note_split(data, len, &ntl) == 0 &&
        ec_checkpoint_parse(&now, data, ntl) == 0) {
        char ws[EC_NOTE_NAME_MAX], ns[EC_NOTE_NAME_MAX];
        note_signer(old, n, wtl, ws, sizeof ws);
        note_signer(data, len, ntl, ns, sizeof ns);
        if (strcmp(was.origin, now.origin) != 0)
            snprintf(how, sizeof how, "origin '%s', this one '%s'", was.origin, now.origin);
        else if (memcmp(was.root, now.root, EC_MERKLE_HASH_LEN) != 0)
            snprintf(how, sizeof how, "another root: the chain's first %llu events changed",
                     (unsigned long long)size);
        else if (strcmp(ws, ns) != 0)
            snprintf(how, sizeof how, "signed by %s, this one by %s", ws[0] ? ws : "nobody", ns);
        else
            snprintf(how, sizeof how, "signed by another key named %s", ws);
    }
    free(old);
    return ec_error_set(EC_EEXISTS,
                        "%s: another checkpoint of %llu event%s is stored there (%s): not "
                        "replaced",
                        path, (unsigned long long)size, size == 1 ? "" : "s", how);
}

/* The numbered checkpoint `name` and `latest`, with one file sync and one folder sync: the
 * file is written and synced under a temporary name and renamed into place, `latest` becomes
 * a second name of the same file (a hard link renamed over the old one), and the folder is
 * synced once for both names. Before that sync a crash leaves the previous `latest`, and
 * perhaps the new numbered file: never a half-written one. Where hard links are not
 * supported, `latest` is written as a copy. Checkpoints are public (auditors read them):
 * mode 0644, not a temporary file's private mode. */
static int publish(ec_checkpointer *c, const char *name, uint64_t size, const char *data,
                   size_t len)
{
    size_t n = strlen(c->dir) + strlen(name) + 32;
    char *num = malloc(n), *tmp = malloc(n), *lat = malloc(n);
    int rc = 0, fd = -1, e = 0;
    const char *what = NULL;
    if (!num || !tmp || !lat) {
        rc = ec_error_set(EC_ENOMEM, "checkpoint: no memory");
        goto out;
    }
    snprintf(num, n, "%s/%s", c->dir, name);
    snprintf(lat, n, "%s/latest", c->dir);
    snprintf(tmp, n, "%s/.%s.XXXXXX", c->dir, name);
    if (!c->replace && ((rc = check_stored(num, 0, size, data, len)) != 0 ||
                        (rc = check_stored(lat, 1, size, data, len)) != 0))
        goto out;
    if ((fd = mkstemp(tmp)) < 0) {
        what = "creating a temporary file";
        e = errno;
        goto out;
    }
    for (size_t at = 0; at < len && !what;) {
        ssize_t w = write(fd, data + at, len - at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) { /* 0 for a regular file would never end: an error all the same */
            what = "writing";
            e = w < 0 ? errno : EIO;
        } else {
            at += (size_t)w;
        }
    }
    if (!what && (fchmod(fd, 0644) != 0 || fsync(fd) != 0)) {
        what = "syncing";
        e = errno;
    }
    if (close(fd) != 0 && !what) {
        what = "closing";
        e = errno;
    }
    fd = -1;
    if (!what && rename(tmp, num) != 0) {
        what = "renaming into place";
        e = errno;
    }
    if (what) {
        unlink(tmp);
        goto out;
    }
    snprintf(tmp, n, "%s/.latest.%ld", c->dir, (long)getpid());
    (void)unlink(tmp); /* left by a crash of this same pid number: only this writer uses it */
    if (link(num, tmp) != 0 || rename(tmp, lat) != 0) {
        (void)unlink(tmp);
        if ((rc = ec_write_file_atomic(lat, data, len)) == 0 && chmod(lat, 0644) != 0)
            rc = ec_error_set_errno(EC_EIO, errno, "%s: chmod", lat);
        goto out; /* ec_write_file_atomic synced the folder */
    }
    int dfd = open(c->dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0 || fsync(dfd) != 0) {
        what = "syncing the folder";
        e = errno;
    }
    if (dfd >= 0)
        close(dfd);
out:
    if (what)
        rc = ec_error_set_errno(e == ENOSPC ? EC_ENOSPC : EC_EIO, e, "%s: %s", num ? num : name,
                                what);
    free(num);
    free(tmp);
    free(lat);
    return rc;
}

/* A checkpoint file the folder holds, whole (at most EC_NOTE_MAX_LEN bytes): 0 with *note
 * malloc'd, or *note NULL when it cannot be opened (gone: a writer keeping N removed it in
 * between; unreadable: ignored, as `latest` always was) or is larger; an error for one that
 * is not a regular file (a FIFO planted there would hang a reader) or that fails to read. */
static int read_stored(const char *path, char **note, size_t *len)
{
    *note = NULL;
    *len = 0;
    int fd = ec_open_regular(path, O_RDONLY);
    if (fd == -2)
        return ec_error_last()->code;
    if (fd < 0)
        return 0;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    int rc = 0;
    for (;;) {
        if (!buf) {
            rc = ec_error_set(EC_ENOMEM, "checkpoint: no memory");
            break;
        }
        if (n == cap) {
            if (cap >= EC_NOTE_MAX_LEN) { /* larger than any note: not a checkpoint */
                free(buf);
                buf = NULL;
                n = 0;
                break;
            }
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                continue;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = ec_error_set_errno(EC_EIO, errno, "%s: reading", path);
            free(buf);
            buf = NULL;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (buf) {
        buf[n] = 0;
        *note = buf;
        *len = n;
    }
    return rc;
}

/* The sizes the numbered files in dir name, newest first; *count 0 when the folder does not
 * exist. */
static int list_numbered(const char *dir, uint64_t **sizes, size_t *count)
{
    *sizes = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR
                   ? 0
                   : ec_error_set_errno(EC_EIO, errno, "%s: listing the checkpoints", dir);
    size_t cap = 0;
    int rc = 0;
    struct dirent *de;
    uint64_t size;
    while (rc == 0 && (de = readdir(d)) != NULL)
        if (numbered_name(de->d_name, &size) == 0) {
            if (ec_grow((void **)sizes, &cap, *count + 1, sizeof **sizes))
                rc = ec_error_set(EC_ENOMEM, "checkpoint: no memory");
            else
                (*sizes)[(*count)++] = size;
        }
    closedir(d);
    if (*count > 1)
        qsort(*sizes, *count, sizeof **sizes, cmp_u64);
    for (size_t i = 0; i < *count / 2; i++) { /* newest first */
        uint64_t t = (*sizes)[i];
        (*sizes)[i] = (*sizes)[*count - 1 - i];
        (*sizes)[*count - 1 - i] = t;
    }
    if (rc) {
        free(*sizes);
        *sizes = NULL;
        *count = 0;
    }
    return rc;
}

/* ec_checkpoint_stored on the checkpoint folder itself; name gets the file's name in it. */
static int stored_in(const char *dir, char **note, size_t *len, ec_checkpoint *cp, char *name,
                     size_t cap)
{
    *note = NULL;
    *len = 0;
    memset(cp, 0, sizeof *cp);
    if (name && cap)
        name[0] = 0;
    size_t n = strlen(dir) + 40;
    char *path = malloc(n);
    if (!path)
        return ec_error_set(EC_ENOMEM, "checkpoint: no memory");
    snprintf(path, n, "%s/latest", dir);
    char *lat = NULL, *num = NULL;
    size_t lat_len = 0, num_len = 0;
    ec_checkpoint lcp, ncp;
    int have_l = 0, have_n = 0;
    int rc = read_stored(path, &lat, &lat_len);
    if (rc == 0 && lat)
        have_l = peek_checkpoint(&lcp, lat, lat_len) == 0;
    uint64_t *sizes = NULL;
    size_t count = 0;
    if (rc == 0)
        rc = list_numbered(dir, &sizes, &count);
    /* The newest numbered file whose text parses and names its size; one that does not is
     * damaged (checkpoints are renamed into place whole), and an older one still binds. */
    for (size_t i = 0; rc == 0 && i < count && !have_n; i++) {
        if (have_l && sizes[i] <= lcp.size)
            break; /* `latest` is newer than any left */
        snprintf(path, n, "%s/" CP_NAME_FMT, dir, (unsigned long long)sizes[i]);
        free(num);
        if ((rc = read_stored(path, &num, &num_len)) == 0 && num)
            have_n = peek_checkpoint(&ncp, num, num_len) == 0 && ncp.size == sizes[i];
    }
    if (rc == 0)
        ec_error_clear(); /* what a file that does not parse raised */
    free(sizes);
    free(path);
    if (rc == 0 && have_n && (!have_l || ncp.size > lcp.size)) {
        *note = num;
        *len = num_len;
        *cp = ncp;
        num = NULL;
        if (name && cap)
            snprintf(name, cap, CP_NAME_FMT, (unsigned long long)ncp.size);
    } else if (rc == 0 && have_l) {
        *note = lat;
        *len = lat_len;
        *cp = lcp;
        lat = NULL;
        if (name && cap)
            snprintf(name, cap, "latest");
    }
    free(lat);
    free(num);
    return rc;
}

int ec_checkpoint_stored(const char *chain_dir, char **note, size_t *len, ec_checkpoint *cp,
                         char *file, size_t file_cap)
{
    EC_REFUSE_NULL2(chain_dir, note);
    EC_REFUSE_NULL2(len, cp);
    size_t n = strlen(chain_dir) + 16;
    char *dir = malloc(n);
    if (!dir)
        return ec_error_set(EC_ENOMEM, "checkpoint: no memory");
    snprintf(dir, n, "%s/checkpoints", chain_dir);
    char name[48];
    int rc = stored_in(dir, note, len, cp, name, sizeof name);
    if (file && file_cap) {
        file[0] = 0;
        if (rc == 0 && *note)
            snprintf(file, file_cap, "%s/%s", dir, name);
    }
    free(dir);
    return rc;
}

int ec_checkpointer_new(ec_checkpointer **out, ec_tree *tree, ec_signer *signer,
                        const ec_checkpointer_options *opts)
{
    ec_checkpointer_options def = EC_CHECKPOINTER_OPTIONS_INIT;
    if (!opts)
        opts = &def;
    EC_REFUSE_NULL(out);
    *out = NULL;
    ec_checkpointer_options old;
    if (opts->version >= 1 && opts->version <= 3) { /* read no further than their fields */
        old = def;
        memcpy(&old, opts,
               opts->version == 1   ? offsetof(ec_checkpointer_options, keep)
               : opts->version == 2 ? offsetof(ec_checkpointer_options, replace)
                                    : offsetof(ec_checkpointer_options, no_store));
        opts = &old;
    } else if (opts->version != EC_CHECKPOINTER_OPTIONS_VERSION) {
        return ec_error_set(EC_EUNSUPPORTED, "ec_checkpointer_new: options version %u",
                            opts->version);
    }
    EC_REFUSE_NULL2(tree, signer); /* else the first tick would dereference them */
    ec_checkpointer *c = calloc(1, sizeof *c);
    if (!c)
        return ec_error_set(EC_ENOMEM, "checkpointer: no memory");
    c->tree = tree;
    c->signer = signer;
    c->every_events = opts->every_events;
    c->every_ns = opts->every_ns;
    c->no_store = opts->dir && opts->no_store;
    c->keep = opts->dir && !c->no_store ? opts->keep : 0;
    c->replace = opts->replace;
    c->last_ns = ec_time_now_ns();
    if ((opts->dir && !(c->dir = strdup(opts->dir))) ||
        (opts->origin && !(c->origin = strdup(opts->origin)))) {
        ec_checkpointer_free(c);
        return ec_error_set(EC_ENOMEM, "checkpointer: no memory");
    }
    if (c->dir) {
        if (!c->no_store && mkdir(c->dir, 0755) != 0 && errno != EEXIST) {
            int rc =
                ec_error_set_errno(EC_EIO, errno, "%s: creating the checkpoint folder", c->dir);
            ec_checkpointer_free(c);
            return rc;
        }
        /* Resume counting from the last checkpoint written there: `latest`, or a newer
         * numbered one (a crash between storing it and linking `latest`), or, with `latest`
         * gone, the newest numbered one (ec_checkpoint_stored): never signing a root
         * inconsistent with one stored. */
        char *note = NULL;
        size_t len;
        ec_checkpoint cp;
        int rc = stored_in(c->dir, &note, &len, &cp, NULL, 0), have = note != NULL;
        free(note);
        if (rc) {
            ec_checkpointer_free(c);
            return rc;
        }
        if (have) {
            c->last_size = cp.size;
            memcpy(c->last_root, cp.root, EC_MERKLE_HASH_LEN);
            c->have_last = 1;
            /* The origin names the log: one log's checkpoints all have the same one, or a
             * verifier told to expect it would refuse the later ones. So the origin of the
             * checkpoints already there wins over opts->origin (an actor chain signed before
             * origins were per actor keeps "evchain-runtime"). */
            const char *want = c->origin ? c->origin : ec_signer_name(c->signer);
            if (strcmp(cp.origin, want) != 0) {
                free(c->origin);
                if (!(c->origin = strdup(cp.origin))) {
                    ec_checkpointer_free(c);
                    return ec_error_set(EC_ENOMEM, "checkpointer: no memory");
                }
            }
        }
        rc = c->keep ? kept_scan(c) : 0;
        if (rc) {
            ec_checkpointer_free(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

/* The root of the chain's own first `size` events, from their stored hashes: what the tree
 * must give when its file is sound. O(size) event reads. */
static int chain_root(ec_chain *chain, uint64_t size, uint8_t out[EC_MERKLE_HASH_LEN])
{
    ec_merkle_frontier f;
    ec_merkle_frontier_init(&f);
    ec_iter *it;
    int rc = ec_iter_new(&it, chain, 0);
    if (rc)
        return rc;
    ec_event ev;
    while (f.size < size && (rc = ec_iter_next(it, &ev)) == 0) {
        uint8_t leaf[EC_MERKLE_HASH_LEN];
        ec_merkle_leaf_hash(ev.hash, ev.hash_len, leaf);
        if ((rc = ec_merkle_frontier_push(&f, leaf, NULL, NULL)) != 0)
            break;
    }
    ec_iter_free(it);
    if (rc == EC_ITEROVER)
        rc = ec_error_set(EC_EVERIFY, "the chain ends at %llu events, before %llu",
                          (unsigned long long)f.size, (unsigned long long)size);
    if (rc == 0)
        ec_merkle_frontier_root(&f, out);
    return rc;
}

/* C2SP tlog-checkpoint: a log must never sign a checkpoint inconsistent with one it signed
 * before. The tree must still have the last checkpoint's root at its size: a chain cut back or
 * rewritten since, or a damaged tree file, is refused here rather than signed. The two causes
 * of a root that differs call for different remedies, so they are told apart: a rebuilt tree
 * repairs a damaged file, but nothing repairs a rewritten chain (a fork of the signed log). */
static int check_consistent(ec_checkpointer *c)
{
    uint64_t n = ec_tree_size(c->tree);
    if (n < c->last_size)
        return ec_error_set(EC_EVERIFY,
                            "refusing to sign: the chain has %llu events, fewer than the %llu "
                            "of the last checkpoint (truncated)",
                            (unsigned long long)n, (unsigned long long)c->last_size);
    uint8_t root[EC_MERKLE_HASH_LEN];
    int rc = ec_tree_root(c->tree, c->last_size, root);
    if (rc)
        return rc;
    if (memcmp(root, c->last_root, EC_MERKLE_HASH_LEN) == 0)
        return 0;
    /* A tree derived wholly from the chain gave that root: the chain's. Else recompute it
     * from the chain's own event hashes, without the file. */
    ec_chain *chain = ec_tree_chain(c->tree);
    if (!ec_tree_checked(c->tree) && chain) {
        if ((rc = chain_root(chain, c->last_size, root)) != 0)
            return rc;
        if (memcmp(root, c->last_root, EC_MERKLE_HASH_LEN) == 0)
            return ec_error_set(EC_EVERIFY,
                                "refusing to sign: the tree file gives the first %llu events "
                                "another root than the last checkpoint's, which the chain's "
                                "own events still have: the tree file is damaged (rebuild it: "
                                "`evchain checkpoint --rebuild`)",
                                (unsigned long long)c->last_size);
    }
    return ec_error_set(EC_EVERIFY,
                        "refusing to sign: the chain's first %llu events are not the ones the "
                        "last checkpoint signed (another root): the chain was rewritten since, "
                        "a fork of the signed log that rebuilding its tree cannot undo "
                        "(`evchain verify --since` with that checkpoint reports it)",
                        (unsigned long long)c->last_size);
}

int ec_checkpointer_write(ec_checkpointer *c, int force)
{
    if (!force && c->have_last && ec_tree_size(c->tree) == c->last_size)
        return 0;
    int rc = c->have_last ? check_consistent(c) : 0;
    /* The subtrees of the last checkpoint's size just gave its signed root; any other
     * subtree of a root signed from now on covers an event past it (a subtree of a larger
     * size lying wholly within the first last_size events is one of those). So a tree read
     * from its file needs only the events since the last checkpoint recomputed; inner
     * subtrees of the signed part are used only in inclusion proofs, which
     * ec_tlog_proof_build checks against the checkpoint. */
    if (rc == 0 && !ec_tree_checked(c->tree))
        rc = ec_tree_check(c->tree, c->have_last ? c->last_size : 0);
    if (rc)
        return rc;
    /* Never sign events a crash can take back: appends that return at commit (an HTTP
     * handler's, through the deferred wrapper) may still be in the writer's memory, and a
     * checkpoint past the chain that survives a crash would make every later one refused as
     * a truncation. Wait for the chain to be durable up to the size signed (batch: one group
     * commit; always: already; none: not synced, docs/FORMAT.md 5.5). */
    ec_chain *chain = ec_tree_chain(c->tree);
    uint64_t size = ec_tree_size(c->tree);
    if (chain && size && (rc = ec_backend_deferred_wait(ec_chain_backend(chain), size - 1)) != 0)
        return rc;
    /* none: the wait returns at once; the events must still be written (not synced), or a
     * reader of the directory (verify, against `latest`) would find the chain shorter than
     * what is signed, and a crash of this process would leave it so (FORMAT.md 5.5). */
    if (chain && size && (rc = ec_backend_flush(ec_chain_backend(chain))) != 0)
        return rc;
    char *note;
    size_t len;
    rc = ec_checkpoint_sign(&note, &len, c->tree, c->origin, c->signer);
    if (rc)
        return rc;
    if (c->dir && !c->no_store) {
        char name[48];
        snprintf(name, sizeof name, CP_NAME_FMT, (unsigned long long)ec_tree_size(c->tree));
        rc = ec_tree_flush(c->tree);
        if (rc == 0)
            rc = publish(c, name, ec_tree_size(c->tree), note, len);
        if (rc == 0)
            kept_prune(c, ec_tree_size(c->tree));
        if (rc) {
            free(note);
            return rc;
        }
    }
    free(c->last);
    c->last = note;
    c->last_len = len;
    c->last_size = ec_tree_size(c->tree);
    rc = ec_tree_root(c->tree, c->last_size, c->last_root);
    if (rc)
        return rc;
    c->last_ns = ec_time_now_ns();
    c->have_last = 1;
    return 0;
}

int ec_checkpointer_tick(ec_checkpointer *c, int *written)
{
    if (written)
        *written = 0;
    int rc = ec_tree_sync(c->tree);
    if (rc)
        return rc;
    uint64_t size = ec_tree_size(c->tree);
    if (size == c->last_size && c->have_last)
        return 0;
    if (size < c->last_size && c->have_last)
        return check_consistent(c); /* the chain shrank under us: say so */
    int due = (c->every_events && size - c->last_size >= c->every_events) ||
              (c->every_ns && size > c->last_size && ec_time_now_ns() - c->last_ns >= c->every_ns);
    if (!due)
        return 0;
    rc = ec_checkpointer_write(c, 0);
    if (rc == 0 && written)
        *written = 1;
    return rc;
}

const char *ec_checkpointer_last(const ec_checkpointer *c, size_t *len)
{
    if (len)
        *len = c->last ? c->last_len : 0;
    return c->last;
}

int ec_checkpointer_open(ec_checkpointer **out, ec_chain *chain, const char *chain_dir,
                         ec_signer *signer, const ec_checkpointer_options *opts)
{
    ec_checkpointer_options o = EC_CHECKPOINTER_OPTIONS_INIT;
    if (opts)
        o = *opts;
    EC_REFUSE_NULL(out);
    *out = NULL;
    EC_REFUSE_NULL2(chain, signer);
    char *tree_path = NULL, *cp_dir = NULL;
    if (chain_dir) {
        size_t n = strlen(chain_dir) + 16;
        tree_path = malloc(n);
        cp_dir = malloc(n);
        if (!tree_path || !cp_dir) {
            free(tree_path);
            free(cp_dir);
            return ec_error_set(EC_ENOMEM, "checkpointer: no memory");
        }
        snprintf(tree_path, n, "%s/proof/tree", chain_dir);
        snprintf(cp_dir, n, "%s/checkpoints", chain_dir);
        o.dir = cp_dir;
    }
    ec_tree_options to = EC_TREE_OPTIONS_INIT;
    to.path = tree_path;
    ec_tree *t;
    int rc = ec_tree_open(&t, chain, &to);
    if (rc == 0) {
        rc = ec_checkpointer_new(out, t, signer, &o);
        if (rc)
            ec_tree_free(t);
        else
            (*out)->own_tree = t;
    }
    free(tree_path);
    free(cp_dir);
    return rc;
}
