/* core/record.c: the canonical event encoding (docs/FORMAT.md section 1): sizing, writing,
 * strict decoding, and the streaming verifier every reader of untrusted records uses. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/internal.h"

size_t ec_event_encoded_size(ec_hash_alg alg, int has_parent, size_t type_len,
                             size_t description_len, int has_description, size_t data_len)
{
    size_t fixed = EC_OFF_PARENT + (has_parent ? ec_hash_len(alg) : 0) + 4 + 4, n;
    /* Lengths near SIZE_MAX would wrap to a small size a caller could then allocate and
     * overrun: SIZE_MAX, which no allocation can satisfy, instead. */
    if (__builtin_add_overflow(fixed, type_len, &n) || __builtin_add_overflow(n, data_len, &n) ||
        (has_description && (__builtin_add_overflow(n, (size_t)4, &n) ||
                             __builtin_add_overflow(n, description_len, &n))))
        return SIZE_MAX;
    return n;
}

size_t ec_encoding_write(uint8_t *p, ec_hash_alg alg, uint64_t seq, uint64_t ts,
                         const uint8_t *parent, const char *type, size_t type_len, const char *desc,
                         size_t desc_len, const void *data, size_t data_len)
{
    uint8_t *start = p;
    memcpy(p, EC_TAG, EC_TAG_LEN);
    p[EC_OFF_ALG] = (uint8_t)alg;
    p[EC_OFF_FLAGS] = (uint8_t)((parent ? EC_FLAG_PARENT : 0) | (desc ? EC_FLAG_DESC : 0));
    ec_put_u64(p + EC_OFF_SEQ, seq);
    ec_put_u64(p + EC_OFF_TS, ts);
    p += EC_OFF_PARENT;
    if (parent) {
        size_t h = ec_hash_len(alg);
        memcpy(p, parent, h);
        p += h;
    }
    ec_put_u32(p, (uint32_t)type_len);
    memcpy(p + 4, type, type_len);
    p += 4 + type_len;
    if (desc) {
        ec_put_u32(p, (uint32_t)desc_len);
        if (desc_len)
            memcpy(p + 4, desc, desc_len);
        p += 4 + desc_len;
    }
    ec_put_u32(p, (uint32_t)data_len);
    if (data_len)
        memcpy(p + 4, data, data_len);
    p += 4 + data_len;
    return (size_t)(p - start);
}

/* Decode an encoding of exactly enc_len bytes. The caller sets ev->hash afterwards. */
int ec_encoding_decode(ec_event *ev, const uint8_t *p, size_t enc_len)
{
    if (enc_len < EC_OFF_PARENT + 8)
        return ec_error_set(EC_EFORMAT, "record too short (%zu bytes)", enc_len);
    if (memcmp(p, EC_TAG, EC_TAG_LEN) != 0)
        return ec_error_set(EC_EFORMAT, "bad record tag (not an evchain v1 record)");
    ec_hash_alg alg = (ec_hash_alg)p[EC_OFF_ALG];
    size_t hlen = ec_hash_len(alg);
    if (!hlen)
        return ec_error_set(EC_EFORMAT, "unknown hash algorithm %u in record", p[EC_OFF_ALG]);
    unsigned flags = p[EC_OFF_FLAGS];
    if (flags & ~(EC_FLAG_PARENT | EC_FLAG_DESC))
        return ec_error_set(EC_EFORMAT, "unknown flag bits 0x%02x in record", flags);
    memset(ev, 0, sizeof *ev);
    ev->alg = alg;
    ev->seq = ec_get_u64(p + EC_OFF_SEQ);
    ev->timestamp = ec_get_u64(p + EC_OFF_TS);
    size_t off = EC_OFF_PARENT;
    if (flags & EC_FLAG_PARENT) {
        if (enc_len - off < hlen)
            return ec_error_set(EC_EFORMAT, "record truncated in parent hash");
        ev->parent_hash = p + off;
        off += hlen;
    }
    if (enc_len - off < 4)
        return ec_error_set(EC_EFORMAT, "record truncated before type length");
    size_t tl = ec_get_u32(p + off);
    off += 4;
    if (tl == 0 || tl > EC_TYPE_MAX || enc_len - off < tl)
        return ec_error_set(EC_EFORMAT, "bad event type length %zu", tl);
    ev->type = (const char *)p + off;
    ev->type_len = tl;
    off += tl;
    if (!ec_type_valid(ev->type, tl))
        return ec_error_set(EC_EFORMAT, "event type is not valid UTF-8");
    if (flags & EC_FLAG_DESC) {
        if (enc_len - off < 4)
            return ec_error_set(EC_EFORMAT, "record truncated before description length");
        size_t dl = ec_get_u32(p + off);
        off += 4;
        if (enc_len - off < dl)
            return ec_error_set(EC_EFORMAT, "bad description length %zu", dl);
        ev->description = (const char *)p + off;
        ev->description_len = dl;
        off += dl;
        if (!ec_utf8_valid(ev->description, dl))
            return ec_error_set(EC_EFORMAT, "description is not valid UTF-8");
    }
    if (enc_len - off < 4)
        return ec_error_set(EC_EFORMAT, "record truncated before data length");
    size_t dlen = ec_get_u32(p + off);
    off += 4;
    if (dlen != enc_len - off)
        return ec_error_set(EC_EFORMAT, "data length %zu does not match record (%zu left)", dlen,
                            enc_len - off);
    ev->data = p + off;
    ev->data_len = dlen;
    ev->hash_len = hlen;
    /* Theater's hash covers only parent, type and data: a theater-sha1 record may carry
     * nothing else, or that field could be changed unnoticed. */
    if (alg == EC_HASH_THEATER_SHA1 && (ev->timestamp != 0 || ev->description))
        return ec_error_set(EC_EFORMAT, "theater-sha1 record with a timestamp or description "
                                        "(not covered by Theater's hash)");
    return 0;
}

int ec_record_decode(ec_event *out, const uint8_t *rec, size_t len)
{
    if (len < EC_OFF_PARENT + 8)
        return ec_error_set(EC_EFORMAT, "record too short (%zu bytes)", len);
    size_t hlen = ec_hash_len((ec_hash_alg)rec[EC_OFF_ALG]);
    if (!hlen)
        return ec_error_set(EC_EFORMAT, "unknown hash algorithm %u in record", rec[EC_OFF_ALG]);
    if (len < hlen + EC_OFF_PARENT + 8)
        return ec_error_set(EC_EFORMAT, "record too short (%zu bytes)", len);
    int rc = ec_encoding_decode(out, rec, len - hlen);
    if (rc)
        return rc;
    out->hash = rec + len - hlen;
    return 0;
}

int ec_record_check(const uint8_t *rec, size_t len)
{
    ec_event ev;
    uint8_t h[EC_HASH_MAX];
    int rc = ec_record_decode(&ev, rec, len);
    if (rc)
        return rc;
    rc = ec_hash_encoding(ev.alg, rec, len - ev.hash_len, h);
    if (rc)
        return rc;
    if (memcmp(h, ev.hash, ev.hash_len) != 0)
        return ec_error_set(EC_EVERIFY, "event %llu: hash mismatch", (unsigned long long)ev.seq);
    return 0;
}

/* ---- the streaming verifier ---- */

void ec_verifier_init(ec_verifier *v, ec_hash_alg alg, uint64_t next_seq, const uint8_t *prev_hash)
{
    memset(v, 0, sizeof *v);
    v->alg = alg;
    v->next_seq = next_seq;
    if (prev_hash) {
        v->have_prev = 1;
        memcpy(v->prev_hash, prev_hash, ec_hash_len(alg));
    }
}

/* Fill res and raise the matching error. */
int ec_verify_fail(ec_verify_result *res, ec_verify_status st, uint64_t seq, const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (res) {
        res->status = st;
        res->seq = seq;
        snprintf(res->reason, sizeof res->reason, "%s", reason);
    }
    return ec_error_set(st == EC_VERIFY_UNREADABLE ? EC_EFORMAT : EC_EVERIFY, "event %llu: %s",
                        (unsigned long long)seq, reason);
}

int ec_verify_unreadable(ec_verify_result *res, uint64_t seq)
{
    const char *why = ec_error_damage_reason(seq);
    if (why)
        return ec_verify_fail(res, EC_VERIFY_UNREADABLE, seq, "%s", why);
    const ec_error *e = ec_error_last();
    return ec_verify_fail(res, EC_VERIFY_UNREADABLE, seq, "unreadable record: %s",
                          e ? e->message : "malformed");
}

int ec_check_one(ec_hasher *h, ec_hash_alg alg, const uint8_t *rec, size_t len, uint64_t expect_seq,
                 const uint8_t *prev_hash, ec_verify_result *res)
{
    ec_event ev;
    if (ec_record_decode(&ev, rec, len) != 0) {
        const ec_error *e = ec_error_last();
        return ec_verify_fail(res, EC_VERIFY_UNREADABLE, expect_seq, "unreadable record: %s",
                              e ? e->message : "malformed");
    }
    if (ev.alg != alg)
        return ec_verify_fail(res, EC_VERIFY_ALGORITHM, expect_seq,
                              "algorithm mismatch: record says %s, chain is %s",
                              ec_hash_name(ev.alg), ec_hash_name(alg));
    if (ev.seq != expect_seq)
        return ec_verify_fail(res, EC_VERIFY_SEQ, expect_seq,
                              "seq gap or repeat: record says seq %llu",
                              (unsigned long long)ev.seq);
    size_t hl = ev.hash_len;
    if (expect_seq == 0 && ev.parent_hash)
        return ec_verify_fail(res, EC_VERIFY_PARENT_MISMATCH, expect_seq,
                              "parent link broken: first event has a parent");
    if (expect_seq > 0) {
        if (!ev.parent_hash)
            return ec_verify_fail(res, EC_VERIFY_PARENT_MISMATCH, expect_seq,
                                  "parent link broken: no parent hash");
        if (prev_hash && memcmp(ev.parent_hash, prev_hash, hl) != 0) {
            /* Whole hashes: a tampered link may differ only in its last digits, and two
             * equal-looking prefixes would hide where (2 x 64 digits fit the 256-byte reason). */
            char a[2 * EC_HASH_MAX + 1], b[2 * EC_HASH_MAX + 1];
            ec_hex_encode(a, ev.parent_hash, hl);
            ec_hex_encode(b, prev_hash, hl);
            return ec_verify_fail(res, EC_VERIFY_PARENT_MISMATCH, expect_seq,
                                  "parent link broken: parent %s, previous event is %s", a, b);
        }
    }
    uint8_t hash[EC_HASH_MAX];
    int rc = ec_hasher_encoding(h, rec, len - hl, hash);
    if (rc)
        return rc;
    if (memcmp(hash, ev.hash, hl) != 0) {
        char a[2 * EC_HASH_MAX + 1], b[2 * EC_HASH_MAX + 1]; /* whole, as above */
        ec_hex_encode(a, ev.hash, hl);
        ec_hex_encode(b, hash, hl);
        return ec_verify_fail(res, EC_VERIFY_HASH_MISMATCH, expect_seq,
                              "hash mismatch: stored %s, computed %s", a, b);
    }
    return 0;
}

int ec_verifier_feed(ec_verifier *v, const uint8_t *rec, size_t len, ec_verify_result *res)
{
    /* The verifier is a plain struct (no allocation) so a hasher is made per call: used on
     * import and follow paths where the JSON parsing dominates. */
    ec_hasher *h;
    EC_REFUSE_NULL(v);
    if (!rec && len)
        return ec_error_set(EC_EINVAL, "ec_verifier_feed: rec is NULL");
    int rc = ec_hasher_new(&h, v->alg);
    if (rc)
        return rc;
    rc = ec_check_one(h, v->alg, rec, len, v->next_seq, v->have_prev ? v->prev_hash : NULL, res);
    ec_hasher_free(h);
    if (rc)
        return rc;
    size_t hl = ec_hash_len(v->alg);
    memcpy(v->prev_hash, rec + len - hl, hl);
    v->have_prev = 1;
    v->next_seq++;
    if (res) {
        res->status = EC_VERIFY_OK;
        res->checked++;
    }
    return 0;
}
