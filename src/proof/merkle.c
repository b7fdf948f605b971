/* proof/merkle.c: RFC 9162 section 2.1 Merkle tree hashing, the compact-range frontier, and
 * inclusion / consistency proof generation and verification, independent of any storage. */
/* SHA256_Init/Transform are deprecated in OpenSSL 3 but skip the EVP dispatch and buffering:
 * for the 33- and 65-byte messages of a Merkle tree, fed as ready-padded blocks, they are
 * about 1.5x faster than a reused EVP context (measured), and tree maintenance runs once per
 * appended event. The exhaustive tests and the vectors check the hand-made padding. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <evchain/proof.h>
#include "core/internal.h"

/* The digest of a context whose padding was fed by hand: the state words, big-endian. */
static void digest_out(const SHA256_CTX *c, uint8_t out[EC_MERKLE_HASH_LEN])
{
    for (int i = 0; i < 8; i++)
        ec_put_u32(out + 4 * i, c->h[i]);
}

void ec_merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[EC_MERKLE_HASH_LEN])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    if (len <= 64 - 1 - 9) {
        /* 0x00 || data fits one block with its padding (0x80, zeros, 64-bit bit length):
         * the usual leaf, a 32-byte event hash, is one compression and nothing else. */
        uint8_t blk[64] = {0};
        if (len)
            memcpy(blk + 1, data, len);
        blk[1 + len] = 0x80;
        ec_put_u64(blk + 56, (uint64_t)(len + 1) * 8);
        SHA256_Transform(&c, blk);
        digest_out(&c, out);
        return;
    }
    static const uint8_t zero = 0x00;
    SHA256_Update(&c, &zero, 1);
    SHA256_Update(&c, data, len);
    SHA256_Final(out, &c);
}

void ec_merkle_node_hash(const uint8_t left[EC_MERKLE_HASH_LEN],
                         const uint8_t right[EC_MERKLE_HASH_LEN], uint8_t out[EC_MERKLE_HASH_LEN])
{
    /* 0x01 || left || right is 65 bytes: two blocks, the second holding the last byte of
     * right and the padding for a 520-bit message. */
    uint8_t blk[128] = {0};
    blk[0] = 0x01;
    memcpy(blk + 1, left, EC_MERKLE_HASH_LEN);
    memcpy(blk + 1 + EC_MERKLE_HASH_LEN, right, EC_MERKLE_HASH_LEN);
    blk[65] = 0x80;
    ec_put_u64(blk + 120, 65 * 8);
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Transform(&c, blk);
    SHA256_Transform(&c, blk + 64);
    digest_out(&c, out);
}

void ec_merkle_empty_root(uint8_t out[EC_MERKLE_HASH_LEN])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Final(out, &c);
}

/* ---- frontier ---- */

void ec_merkle_frontier_init(ec_merkle_frontier *f)
{
    f->size = 0;
}

int ec_merkle_frontier_push(ec_merkle_frontier *f, const uint8_t leaf_hash[EC_MERKLE_HASH_LEN],
                            ec_merkle_node_cb cb, void *cb_ctx)
{
    if (f->size == UINT64_MAX)
        return ec_error_set(EC_EINVAL, "merkle tree: full at 2^64-1 leaves");
    uint8_t h[EC_MERKLE_HASH_LEN];
    memcpy(h, leaf_hash, EC_MERKLE_HASH_LEN);
    uint64_t old = f->size;
    unsigned l = 0;
    if (cb)
        cb(cb_ctx, 0, old, h);
    /* Each set low bit of the old size is a perfect subtree the new leaf completes a sibling
     * for: merge them upwards, as a binary counter carries. */
    while (old >> l & 1) {
        ec_merkle_node_hash(f->hash[l], h, h);
        l++;
        if (cb)
            cb(cb_ctx, l, old >> l, h);
    }
    memcpy(f->hash[l], h, EC_MERKLE_HASH_LEN);
    f->size = old + 1;
    return 0;
}

void ec_merkle_frontier_root(const ec_merkle_frontier *f, uint8_t out[EC_MERKLE_HASH_LEN])
{
    if (f->size == 0) {
        ec_merkle_empty_root(out);
        return;
    }
    /* The RFC splits at the largest power of two: the root is the smaller subtrees folded
     * right to left under the larger ones. */
    unsigned l = 0;
    while (!(f->size >> l & 1))
        l++;
    uint8_t r[EC_MERKLE_HASH_LEN];
    memcpy(r, f->hash[l], EC_MERKLE_HASH_LEN);
    for (l++; l < 64; l++)
        if (f->size >> l & 1)
            ec_merkle_node_hash(f->hash[l], r, r);
    memcpy(out, r, EC_MERKLE_HASH_LEN);
}

/* ---- proofs from a node source ---- */

static uint64_t largest_pow2_below(uint64_t n) /* n >= 2: largest 2^k < n */
{
    uint64_t k = 1;
    while (k < n - k)
        k <<= 1;
    return k;
}

static int is_pow2(uint64_t n)
{
    return n && !(n & (n - 1));
}

static unsigned log2u(uint64_t n) /* n a power of two */
{
    unsigned l = 0;
    while ((UINT64_C(1) << l) < n)
        l++;
    return l;
}

/* MTH(D[lo:hi]) where lo is a multiple of the largest power of two <= hi - lo, as every
 * range of the RFC's recursion is: the perfect subtrees it splits into, folded right to
 * left. */
static int range_hash(ec_merkle_node_fn get, void *ctx, uint64_t lo, uint64_t hi,
                      uint8_t out[EC_MERKLE_HASH_LEN])
{
    uint8_t parts[64][EC_MERKLE_HASH_LEN];
    unsigned np = 0;
    while (lo < hi) {
        uint64_t w = hi - lo;
        uint64_t k = is_pow2(w) ? w : largest_pow2_below(w);
        unsigned level = log2u(k);
        if (lo & (k - 1))
            return ec_error_set(EC_EINVAL, "merkle: range [%llu,%llu) is not aligned",
                                (unsigned long long)lo, (unsigned long long)hi);
        int rc = get(ctx, level, lo >> level, parts[np]);
        if (rc)
            return rc;
        np++;
        lo += k;
    }
    if (np == 0)
        return ec_error_set(EC_EINVAL, "merkle: empty range");
    for (unsigned i = np - 1; i > 0; i--)
        ec_merkle_node_hash(parts[i - 1], parts[i], parts[i - 1]);
    memcpy(out, parts[0], EC_MERKLE_HASH_LEN);
    return 0;
}

int ec_merkle_root_from(ec_merkle_node_fn get, void *ctx, uint64_t size,
                        uint8_t out[EC_MERKLE_HASH_LEN])
{
    if (size == 0) {
        ec_merkle_empty_root(out);
        return 0;
    }
    return range_hash(get, ctx, 0, size, out);
}

static void reverse(uint8_t out[][EC_MERKLE_HASH_LEN], size_t n)
{
    uint8_t t[EC_MERKLE_HASH_LEN];
    for (size_t i = 0; i < n / 2; i++) {
        memcpy(t, out[i], EC_MERKLE_HASH_LEN);
        memcpy(out[i], out[n - 1 - i], EC_MERKLE_HASH_LEN);
        memcpy(out[n - 1 - i], t, EC_MERKLE_HASH_LEN);
    }
}

int ec_merkle_inclusion_from(ec_merkle_node_fn get, void *ctx, uint64_t index, uint64_t size,
                             uint8_t out[][EC_MERKLE_HASH_LEN], size_t *count)
{
    *count = 0;
    if (index >= size)
        return ec_error_set(EC_EINVAL, "inclusion proof: index %llu is not below tree size %llu",
                            (unsigned long long)index, (unsigned long long)size);
    /* PATH(m, D[lo:hi]) = PATH(m, half holding m) + [MTH(other half)]: walked top-down, the
     * siblings come out root side first, so the list is reversed at the end. */
    uint64_t lo = 0, hi = size;
    size_t n = 0;
    while (hi - lo > 1) {
        uint64_t k = largest_pow2_below(hi - lo);
        int rc;
        if (index < lo + k) {
            rc = range_hash(get, ctx, lo + k, hi, out[n]);
            hi = lo + k;
        } else {
            rc = range_hash(get, ctx, lo, lo + k, out[n]);
            lo = lo + k;
        }
        if (rc)
            return rc;
        n++;
    }
    reverse(out, n);
    *count = n;
    return 0;
}

int ec_merkle_consistency_from(ec_merkle_node_fn get, void *ctx, uint64_t m, uint64_t n,
                               uint8_t out[][EC_MERKLE_HASH_LEN], size_t *count)
{
    *count = 0;
    if (m > n)
        return ec_error_set(EC_EINVAL, "consistency proof: old size %llu exceeds new size %llu",
                            (unsigned long long)m, (unsigned long long)n);
    if (m == 0 || m == n)
        return 0;
    /* SUBPROOF(m, D[lo:hi], b), top-down; reversed at the end like PATH. b is true while the
     * old tree's root is still the left edge of the range (then it is not sent: the verifier
     * has it). */
    uint64_t lo = 0, hi = n;
    int b = 1;
    size_t c = 0;
    for (;;) {
        int rc;
        if (m == hi) {
            if (!b) {
                rc = range_hash(get, ctx, lo, hi, out[c]);
                if (rc)
                    return rc;
                c++;
            }
            break;
        }
        uint64_t k = largest_pow2_below(hi - lo);
        if (m <= lo + k) {
            rc = range_hash(get, ctx, lo + k, hi, out[c]);
            hi = lo + k;
        } else {
            rc = range_hash(get, ctx, lo, lo + k, out[c]);
            lo = lo + k;
            b = 0;
        }
        if (rc)
            return rc;
        c++;
    }
    reverse(out, c);
    *count = c;
    return 0;
}

/* ---- verification (RFC 9162 2.1.3.2 and 2.1.4.2, step by step) ---- */

static void hex8(char *out, const uint8_t *h)
{
    ec_hex_encode(out, h, 8); /* 16 hex digits: enough to tell two roots apart in a message */
}

int ec_merkle_verify_inclusion(const uint8_t leaf_hash[EC_MERKLE_HASH_LEN], uint64_t index,
                               uint64_t size, const uint8_t root[EC_MERKLE_HASH_LEN],
                               const uint8_t proof[][EC_MERKLE_HASH_LEN], size_t count)
{
    if (index >= size)
        return ec_error_set(EC_EINVAL, "inclusion proof: index %llu is not below tree size %llu",
                            (unsigned long long)index, (unsigned long long)size);
    uint64_t fn = index, sn = size - 1;
    uint8_t r[EC_MERKLE_HASH_LEN];
    memcpy(r, leaf_hash, EC_MERKLE_HASH_LEN);
    for (size_t i = 0; i < count; i++) {
        if (sn == 0)
            return ec_error_set(EC_EVERIFY,
                                "inclusion proof: %zu hashes, more than a tree of %llu needs",
                                count, (unsigned long long)size);
        if ((fn & 1) || fn == sn) {
            ec_merkle_node_hash(proof[i], r, r);
            if (!(fn & 1))
                while (fn != 0 && !(fn & 1)) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            ec_merkle_node_hash(r, proof[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return ec_error_set(EC_EVERIFY,
                            "inclusion proof: %zu hashes, fewer than leaf %llu of a tree of "
                            "%llu needs",
                            count, (unsigned long long)index, (unsigned long long)size);
    if (memcmp(r, root, EC_MERKLE_HASH_LEN) != 0) {
        char a[17], b[17];
        hex8(a, r);
        hex8(b, root);
        return ec_error_set(EC_EVERIFY, "inclusion proof: leaf %llu leads to root %s..., not %s...",
                            (unsigned long long)index, a, b);
    }
    return 0;
}

int ec_merkle_verify_consistency(uint64_t m, const uint8_t root_m[EC_MERKLE_HASH_LEN], uint64_t n,
                                 const uint8_t root_n[EC_MERKLE_HASH_LEN],
                                 const uint8_t proof[][EC_MERKLE_HASH_LEN], size_t count)
{
    if (m > n)
        return ec_error_set(EC_EVERIFY, "consistency: the tree shrank from %llu to %llu leaves",
                            (unsigned long long)m, (unsigned long long)n);
    if (m == n || m == 0) {
        uint8_t empty[EC_MERKLE_HASH_LEN];
        if (count != 0)
            return ec_error_set(EC_EVERIFY,
                                "consistency proof: %zu hashes where none are expected (sizes "
                                "%llu and %llu)",
                                count, (unsigned long long)m, (unsigned long long)n);
        if (m == 0) {
            ec_merkle_empty_root(empty);
            if (memcmp(root_m, empty, EC_MERKLE_HASH_LEN) != 0)
                return ec_error_set(EC_EVERIFY, "consistency: the old root is not the root of "
                                                "the empty tree");
            return 0;
        }
        if (memcmp(root_m, root_n, EC_MERKLE_HASH_LEN) != 0)
            return ec_error_set(EC_EVERIFY, "consistency: two different roots for size %llu",
                                (unsigned long long)m);
        return 0;
    }
    if (count == 0)
        return ec_error_set(EC_EVERIFY, "consistency proof: empty for sizes %llu to %llu",
                            (unsigned long long)m, (unsigned long long)n);
    /* Step 2: when m is a power of two the old root is the proof's implicit first element. */
    const uint8_t *first = is_pow2(m) ? root_m : proof[0];
    size_t next = is_pow2(m) ? 0 : 1;
    uint64_t fn = m - 1, sn = n - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr[EC_MERKLE_HASH_LEN], sr[EC_MERKLE_HASH_LEN];
    memcpy(fr, first, EC_MERKLE_HASH_LEN);
    memcpy(sr, first, EC_MERKLE_HASH_LEN);
    for (size_t i = next; i < count; i++) {
        if (sn == 0)
            return ec_error_set(EC_EVERIFY,
                                "consistency proof: %zu hashes, more than sizes %llu to %llu "
                                "need",
                                count, (unsigned long long)m, (unsigned long long)n);
        if ((fn & 1) || fn == sn) {
            ec_merkle_node_hash(proof[i], fr, fr);
            ec_merkle_node_hash(proof[i], sr, sr);
            if (!(fn & 1))
                while (fn != 0 && !(fn & 1)) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            ec_merkle_node_hash(sr, proof[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return ec_error_set(EC_EVERIFY,
                            "consistency proof: %zu hashes, fewer than sizes %llu to %llu need",
                            count, (unsigned long long)m, (unsigned long long)n);
    if (memcmp(fr, root_m, EC_MERKLE_HASH_LEN) != 0)
        return ec_error_set(EC_EVERIFY,
                            "consistency proof: does not lead to the old root (size %llu)",
                            (unsigned long long)m);
    if (memcmp(sr, root_n, EC_MERKLE_HASH_LEN) != 0)
        return ec_error_set(EC_EVERIFY,
                            "consistency proof: does not lead to the new root (size %llu)",
                            (unsigned long long)n);
    return 0;
}
