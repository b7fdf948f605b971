/* actor/snapshot.h: the layout of a state snapshot's bytes (docs/ABI.md section 7), checked
 * without an actor: what ec_snapshot_restore parses first, and what fuzz_snapshot runs. */
#ifndef EVCHAIN_ACTOR_SNAPSHOT_H
#define EVCHAIN_ACTOR_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

/* Views into the bytes parsed, valid while they are. */
typedef struct ec_snapshot_view {
    unsigned version;      /* 1 or 2 */
    const uint8_t *module; /* 32 bytes: the SHA-256 of the module it is a state of */
    uint64_t seq;          /* the wasm/result it was taken after */
    const uint8_t *globals, *memory;
    uint32_t globals_len, pages; /* memory: pages * 65536 bytes */
    const uint8_t *timers;       /* version 2: u32 count, then the entries; NULL in 1 */
    size_t timers_len;
    uint32_t ntimers;
} ec_snapshot_view;

/* 0, or EC_EFORMAT naming what is wrong: the magic and version, the globals and memory
 * lengths, and (version 2) the timers: exactly the rest, seqs ascending and below `seq`,
 * hashes of 1..EC_HASH_MAX bytes. */
int ec_snapshot_parse(const uint8_t *p, size_t n, ec_snapshot_view *v);

#endif
