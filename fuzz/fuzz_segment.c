/* fuzz/fuzz_segment.c: libFuzzer harness for the segment reader of chain directories, the
 * code that recovers whatever a crash or a bad disk left in a segment file. The input is read
 * both as a whole segment image and, behind a valid header (algorithm from its first byte),
 * as a run of frames, so most inputs reach the frame parser; then, as the only segment of a
 * chain directory, through the backend's reading side (open, iterate, get, find). */
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evchain/evchain.h>
#include "core/internal.h"
#include "store/disk_internal.h"

/* A clean scan is stable: the intact prefix it reports scans again to the same result (in
 * either directory format version: 2 reads the EC_FRAME_SYNCED flag). */
static void check(const uint8_t *img, size_t len)
{
    for (unsigned fmt = 1; fmt <= 2; fmt++) {
        uint64_t n = 0, end = 0;
        int rc = ec_disk_scan_image(img, len, fmt, &n, &end);
        if (rc != 0)
            continue;
        if (end > len || end < EC_SEG_HEADER_LEN)
            abort();
        uint64_t n2 = 0, end2 = 0;
        if (ec_disk_scan_image(img, (size_t)end, fmt, &n2, &end2) != 0 || n2 != n || end2 != end)
            abort();
    }
}

static char dir[64];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void cleanup(void)
{
    if (dir[0])
        nftw(dir, rm_one, 4, FTW_DEPTH | FTW_PHYS);
}

static void put_file(const char *name, const uint8_t *b, size_t n)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        abort();
    if (n && write(fd, b, n) != (ssize_t)n)
        abort();
    close(fd);
}

/* The image as segment 0 of a directory: whatever the bytes, reading must not crash. */
static void through_backend(const uint8_t *img, size_t len, uint32_t alg, uint32_t fmt)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/evchain-fuzz-segment-XXXXXX");
        if (!mkdtemp(dir))
            abort();
        atexit(cleanup);
    }
    uint8_t h[EC_DIR_HEADER_LEN];
    memcpy(h, EC_DIR_MAGIC, 8);
    ec_put_u32(h + 8, fmt);
    ec_put_u32(h + 12, alg);
    ec_put_u64(h + 16, 1u << 20);
    ec_put_u32(h + 24, ec_crc32c(0, h, 24));
    put_file(EC_DIR_HEADER_NAME, h, sizeof h);
    put_file("seg-0000000000000000.log", img, len);
    ec_disk_options o = EC_DISK_OPTIONS_INIT;
    o.read_only = 1;
    ec_backend *be;
    if (ec_backend_disk(&be, dir, &o) != 0)
        return;
    uint64_t n = 0;
    be->count(be, &n);
    ec_backend_iter *it;
    const uint8_t *rec;
    size_t rl;
    if (be->iter_new(be, 0, &it) == 0) {
        while (be->iter_next(it, &rec, &rl) == 0)
            if (rl < 1)
                abort();
        be->iter_free(it);
    }
    for (uint64_t s = 0; s < n && s < 8; s++)
        if (be->get(be, s, &rec, &rl) == 0 && rl >= 20) {
            uint64_t found;
            uint8_t hash[EC_HASH_MAX];
            size_t hl = ec_hash_len((ec_hash_alg)alg);
            memcpy(hash, rec + rl - hl, hl);
            /* what is found must end with that hash (stored hashes are not verified here,
             * so another record may carry the same bytes) */
            if (be->find_hash(be, hash, hl, &found) == 0) {
                if (found >= n || be->get(be, found, &rec, &rl) != 0 || rl < hl ||
                    memcmp(rec + rl - hl, hash, hl) != 0)
                    abort();
            } else if (rl >= hl && rl >= 55) {
                abort(); /* a readable record must be findable by its own hash */
            }
        }
    be->free(be);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    if (size < 1)
        return 0;
    uint8_t *img = malloc(EC_SEG_HEADER_LEN + size - 1);
    if (!img)
        return 0;
    memcpy(img, EC_SEG_MAGIC, 8);
    ec_put_u32(img + 8, 1u + data[0] % 3u);
    ec_put_u64(img + 12, 0);
    ec_put_u32(img + 20, ec_crc32c(0, img, 20));
    memcpy(img + EC_SEG_HEADER_LEN, data + 1, size - 1);
    check(img, EC_SEG_HEADER_LEN + size - 1);
    through_backend(img, EC_SEG_HEADER_LEN + size - 1, 1u + data[0] % 3u, 1u + (data[0] >> 7));
    free(img);
    return 0;
}
