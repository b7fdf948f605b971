/* fuzz/fuzz_segment.c: libFuzzer harness for the segment reader of chain directories, the
 * code that recovers whatever a crash or a bad disk left in a segment file. The input is read
 * both as a whole segment image and, behind a valid header (algorithm from its first byte),
 * as a run of frames, so most inputs reach the frame parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evchain/evchain.h>
#include "core/internal.h"
#include "store/disk_internal.h"

/* A clean scan is stable: the intact prefix it reports scans again to the same result. */
static void check(const uint8_t *img, size_t len)
{
    uint64_t n = 0, end = 0;
    int rc = ec_disk_scan_image(img, len, &n, &end);
    if (rc != 0)
        return;
    if (end > len || end < EC_SEG_HEADER_LEN)
        abort();
    uint64_t n2 = 0, end2 = 0;
    if (ec_disk_scan_image(img, (size_t)end, &n2, &end2) != 0 || n2 != n || end2 != end)
        abort();
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
    free(img);
    return 0;
}
