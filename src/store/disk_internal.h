/* store/disk_internal.h: private pieces of the disk backend shared by its files, its tests,
 * its fuzz harness and its benchmark: CRC32C and the on-disk layout constants
 * (docs/FORMAT.md section 4). */
#ifndef EVCHAIN_STORE_DISK_INTERNAL_H
#define EVCHAIN_STORE_DISK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

struct ec_backend;
struct ec_disk_options;
struct ec_verify_result;
/* ec_backend_disk, and when opening fails on a damaged record (a frame that does not
 * check, EC_EFORMAT), damage (may be NULL) says which seq and why (status UNREADABLE; OK
 * otherwise): ec_chain_open_path reports it as a broken chain. */
int ec_backend_disk_at_(struct ec_backend **out, const char *dir,
                        const struct ec_disk_options *opts, struct ec_verify_result *damage);

/* The backend a deferred wrapper (deferred.c) wraps; NULL for any other backend. */
struct ec_backend *ec_backend_deferred_inner_(struct ec_backend *b);

/* CRC32C (Castagnoli, reflected, init and final xor 0xFFFFFFFF): crc32c("123456789") is
 * 0xE3069283. Pass 0 as crc to start; pass a previous result to continue. */
uint32_t ec_crc32c(uint32_t crc, const void *data, size_t len);

#define EC_DIR_HEADER_NAME   "EVCHAIN"
#define EC_DIR_MAGIC         "evchdir\x01"
#define EC_SEG_MAGIC         "evchseg\x01"
#define EC_IDX_MAGIC         "evchidx\x01"
#define EC_DIR_HEADER_LEN    28
#define EC_SEG_HEADER_LEN    24
#define EC_FRAME_HEADER_LEN  12
#define EC_IDX_HEADER_LEN    48
#define EC_IDX_SLOT_LEN      12
#define EC_SEG_DEFAULT_BYTES (64u << 20)
/* The largest record a frame may carry: data, type and description at their limits. */
#define EC_FRAME_MAX ((uint32_t)(2 * (64u << 20) + (1u << 20)))

/* Directory format versions (the EVCHAIN header's): 1 frames carry only their length; 2 (what
 * a new chain gets) a frame's `len` may also carry EC_FRAME_SYNCED. Version 1 chains are read
 * and written as version 1 (no flag: a reader of version 1 takes it for damage). */
#define EC_DIR_VERSION_1 1u
#define EC_DIR_VERSION   2u
/* Version 2: the top bit of a frame's `len` (lengths stay below 2^28): every byte of the
 * segment before this frame was synced before this frame was written (FORMAT.md section 4).
 * A writer sets it on the first frame it writes after a sync returned. Bits 28 to 30 stay
 * zero (a length with them set is out of range). */
#define EC_FRAME_SYNCED 0x80000000u

/* The most bytes a `batch` or `always` writer hands to the kernel between two syncs (one larger
 * record is written alone): the reach of a write cut short by a crash (FORMAT.md section 4). */
#define EC_SYNC_SPAN (4u << 20)
/* Sectors: the unit a device writes whole or not at all, as far as recovery assumes. */
#define EC_SECTOR 512u

/* Scan a segment image (header included) held in memory, of a chain of directory format
 * version fmt: the segment reader the fuzz harness drives. Returns 0 and the record count and clean
 * end when every frame is intact up to the end, EC_EFORMAT with a message naming the seq and byte
 * offset otherwise. Never reads outside [buf, buf+len). */
int ec_disk_scan_image(const uint8_t *buf, size_t len, unsigned fmt, uint64_t *count,
                       uint64_t *end);

#endif
