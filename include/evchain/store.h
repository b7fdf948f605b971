/* evchain/store.h: storage backends (memory, durable disk directory) and interchange files
 * (JSON, JSONL, Theater). Byte formats: docs/FORMAT.md. */
#ifndef EVCHAIN_STORE_H
#define EVCHAIN_STORE_H

#include <stdio.h>
#include "chain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- memory backend ---- */

#define EC_MEMORY_OPTIONS_VERSION 1
typedef struct ec_memory_options {
    unsigned version;
    uint64_t expected_events; /* capacity hint for the index; 0: grow as needed */
    size_t expected_bytes;    /* capacity hint for record storage; 0: grow as needed */
} ec_memory_options;
#define EC_MEMORY_OPTIONS_INIT                                                                     \
    {                                                                                              \
        EC_MEMORY_OPTIONS_VERSION, 0, 0                                                            \
    }

/* opts may be NULL (no hints). The hints are allocated up front: a hint too large to
 * allocate (or to address at all) fails with EC_ENOMEM rather than being clamped. */
int ec_backend_memory(ec_backend **out, const ec_memory_options *opts);

/* ---- durable disk backend: a chain directory ---- */

typedef enum ec_durability {
    EC_DURABLE_ALWAYS = 0, /* append returns after fdatasync of its record */
    EC_DURABLE_BATCH = 1,  /* group commit: returns when its batch is synced */
    EC_DURABLE_NONE = 2,   /* the OS decides when data reaches the disk; an append returns
                              before its frame is even written: see ec_backend_flush */
} ec_durability;

const char *ec_durability_name(ec_durability d);
int ec_durability_from_name(ec_durability *out, const char *name);

/* What a writer's open cut off the end of the last segment: a torn last frame or group
 * (docs/FORMAT.md section 4). bytes is 0 when nothing was cut. */
typedef struct ec_disk_cut {
    uint64_t segment_first; /* the segment: file seg-<segment_first, 16 hex digits>.log */
    uint64_t offset;        /* byte offset of the torn frame: the segment's length now */
    uint64_t bytes;         /* bytes cut off */
    /* Filled for options version 4 on (a version 3 caller's struct ends above). */
    uint64_t seq;        /* the torn record's seq: the chain's record count now */
    uint64_t intact;     /* records after it, in the bytes cut, that were intact: the later
                            frames of a torn group (0: only the torn record was cut) */
    uint64_t intact_seq; /* the seq of the first of them */
    /* 1: whether the records cut were acknowledged is not known: a version 1 chain records
       no group boundaries, so intact records after a sector of zeros may have been synced
       ones after damage. 0: never acknowledged (a write or group a crash cut short). */
    int unknown;
} ec_disk_cut;

/* What to tell the user about a cut (filled with options version 4), into out (n bytes; "cut
 * a torn record (never acknowledged): ..."): 0 when nothing was cut, 1 for a note (what was
 * cut was never acknowledged), 2 for a warning (cut->unknown: records that may have been
 * acknowledged were cut; the text says how many and from which seq). */
int ec_disk_cut_describe(char *out, size_t n, const ec_disk_cut *cut);

/* The largest segment size (2 GiB): a segment's index stores each frame's offset in 4 bytes
 * (docs/FORMAT.md section 4). */
#define EC_SEGMENT_BYTES_MAX (1ull << 31)

#define EC_DISK_OPTIONS_VERSION 4 /* versions 1 to 3 (without the later fields) are still read */
typedef struct ec_disk_options {
    unsigned version;
    int create;      /* create the directory (must be absent or empty) */
    int read_only;   /* open for reading: no lock, no recovery writes; follows a live
                        writer (count), EC_EVERIFY once the chain is rewritten under it
                        (last segment shorter or replaced by another file). Damage in the
                        last segment does not refuse the open (a writer's does): the
                        damaged record is counted last and reading it raises EC_EFORMAT
                        (docs/FORMAT.md section 4) */
    ec_hash_alg alg; /* for create; 0: SHA-256 */
    ec_durability durability;
    uint64_t segment_bytes;      /* roll segments at this size; 0: default (64 MiB); above
                                    EC_SEGMENT_BYTES_MAX: EC_EINVAL */
    unsigned batch_max_delay_us; /* batch: longest wait for more appends; 0: default */
    /* Version 2. A writer finding another writer's lock: 0 refuses at once (EC_ELOCKED);
     * otherwise it waits up to this many milliseconds for the lock, then refuses. */
    unsigned lock_wait_ms;
    /* Version 3. May be NULL; filled by the open with what it cut off (a writer only). From
     * version 4 a read-only open fills it too, with what a writer's open would cut. */
    ec_disk_cut *cut_out;
    /* Version 4. A writer refuses (EC_EVERIFY, nothing cut or written) a chain that would
     * hold fewer records than this once its torn tail is cut: records a signed checkpoint
     * covers (the CLI and the actor runtime pass checkpoints/latest's size) were
     * acknowledged, and neither a cut nor an append may go below them. 0: no bound. */
    uint64_t min_count;
} ec_disk_options;
#define EC_DISK_OPTIONS_INIT                                                                       \
    {                                                                                              \
        EC_DISK_OPTIONS_VERSION, 0, 0, EC_HASH_SHA256, EC_DURABLE_ALWAYS, 0, 0, 0, NULL, 0         \
    }

int ec_backend_disk(ec_backend **out, const char *dir, const ec_disk_options *opts);

/* Under `none` (and `batch` between syncs) an append that returned 0 may still fail to be
 * written (full disk, I/O error): the frames wait in memory until 1 MiB gathers, a sync, or
 * the close, and ec_chain_free cannot report a failure. ec_backend_flush hands what is
 * buffered to the OS (no fdatasync) and returns the first write failure since the open
 * (EC_ENOSPC, EC_EIO; then the open chain refuses appends: reopen it to recover): 0 means
 * every event appended so far was written. Call it (or the backend's sync, which also makes
 * them durable) before closing a `none` chain whose appends must not be lost silently.
 * A deferred wrapper (below): what it wraps. Other backends: their sync (0 when they have
 * none). */
int ec_backend_flush(ec_backend *b);

/* A wrapper (taking ownership of inner) whose appends return at commit while deferring is on,
 * durable only once ec_backend_deferred_wait(seq) returns: a server holds its reply until
 * then, and one sync covers the events of several requests (docs/HTTP.md). With deferring
 * off (the default) it behaves exactly as inner. */
int ec_backend_deferred(ec_backend **out, ec_backend *inner);
/* Turn deferring on or off; returns the previous setting (EC_EINVAL: not such a wrapper). */
int ec_backend_deferred_set(ec_backend *b, int on);
/* Wait until record seq is durable (inner's wait_durable); any backend: its own wait. */
int ec_backend_deferred_wait(ec_backend *b, uint64_t seq);

/* ---- interchange files ---- */

typedef enum ec_file_format {
    EC_FORMAT_AUTO = 0, /* detect from content */
    EC_FORMAT_JSON,     /* one JSON document */
    EC_FORMAT_JSONL,    /* a header line, then one event per line */
    EC_FORMAT_THEATER,  /* Theater's chain.json */
    EC_FORMAT_DIR,      /* a chain directory (disk backend) */
} ec_file_format;

const char *ec_format_name(ec_file_format f);
int ec_format_from_name(ec_file_format *out, const char *name);
/* Detect the format of a path: a directory, or a file's first non-blank bytes. */
int ec_format_detect(ec_file_format *out, const char *path);

#define EC_OPEN_OPTIONS_VERSION 1
typedef struct ec_open_options {
    unsigned version;
    ec_file_format format;        /* EC_FORMAT_AUTO: detect */
    int inspect;                  /* load a broken file anyway (no verification while reading) */
    int writable;                 /* directories: take the writer lock */
    ec_verify_result *verify_out; /* may be NULL; filled on every return: when a load is
                                     refused as broken (EC_EVERIFY) the first bad seq, and
                                     checked = the events that passed before it stopped */
} ec_open_options;
#define EC_OPEN_OPTIONS_INIT                                                                       \
    {                                                                                              \
        EC_OPEN_OPTIONS_VERSION, EC_FORMAT_AUTO, 0, 0, NULL                                        \
    }

/* Open any chain by path: a directory (disk backend) or a JSON/JSONL/Theater file, loaded
 * into a memory backend and verified while read (refused with EC_EVERIFY at the first bad
 * seq unless opts->inspect). "-" reads a file from standard input. Errors name the file
 * and the event or byte offset. */
int ec_chain_open_path(ec_chain **out, const char *path, const ec_open_options *opts);

/* Read a JSON/JSONL/Theater stream into an open (usually empty) chain, each event checked in
 * full as it is appended; on a refusal the events before the bad one stay appended and
 * verify_out (may be NULL) names it; verify_out is filled on every return (checked: the
 * events this call appended). `name` is used in error messages. inspect is only
 * possible through ec_chain_open_path (EC_EUNSUPPORTED here). */
int ec_import_stream(ec_chain *into, FILE *in, const char *name, ec_file_format format, int inspect,
                     ec_verify_result *verify_out);

#define EC_EXPORT_OPTIONS_VERSION 1
typedef struct ec_export_options {
    unsigned version;
    ec_file_format format; /* JSON, JSONL or THEATER */
    uint64_t from, to;     /* seq range, to = 0: the end */
    ec_progress_cb progress;
    void *progress_ctx;
} ec_export_options;
#define EC_EXPORT_OPTIONS_INIT                                                                     \
    {                                                                                              \
        EC_EXPORT_OPTIONS_VERSION, EC_FORMAT_JSON, 0, 0, NULL, NULL                                \
    }

/* Stream a chain out. THEATER requires a theater-sha1 chain (its hashes are Theater's).
 * Each event is verified as it is read (ec_iter_verify): a broken chain stops the export
 * with EC_EVERIFY, message "event <seq>: <reason>" (what was streamed so far stays). */
int ec_export_stream(ec_chain *chain, FILE *out, const ec_export_options *opts);
/* One event as the JSON event object of FORMAT.md section 2 (no newline): the form
 * `evchain log --json` prints per line. */
int ec_event_write_json(FILE *out, const ec_event *ev);

/* Stream a chain to a file: written to a temporary name in the same directory, fsynced, renamed.
 * Never leaves a half-written file at path: a broken chain (EC_EVERIFY) writes nothing. */
int ec_export_file(ec_chain *chain, const char *path, const ec_export_options *opts);

#ifdef __cplusplus
}
#endif
#endif
