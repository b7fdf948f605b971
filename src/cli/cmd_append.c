/* cli/cmd_append.c: `evchain append`: add one event to a chain directory and print its seq
 * and hash; what makes the command usable as a tamper-evident audit log from shell scripts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "proof_util.h"

const char help_append[] =
    "append one event to a chain directory; prints `seq hash`\n"
    "usage: evchain append <dir> --type T [--data STR | --data-file F] [--description D]\n"
    "                      [--timestamp NS] [--durability always|batch|none] [--wait MS]\n"
    "  --type T           event type (UTF-8, required)\n"
    "  --data STR         the event's data; with neither --data nor --data-file it is read\n"
    "                     from standard input (binary safe)\n"
    "  --data-file F      read the data from file F ('-': standard input)\n"
    "  --description D    a description (absent unless given)\n"
    "  --timestamp NS     nanoseconds since the Unix epoch, 1 or more (default: now)\n"
    "  --durability P     always (default): on disk before this returns; batch: the same\n"
    "                     here (one event); none: written to the OS, which decides when it\n"
    "                     reaches the disk\n"
    "  --wait MS          another writer has the chain: wait up to MS milliseconds for it\n"
    "                     (default 0: refuse at once)\n"
    "Only one writer at a time: another is refused (exit 2) or, with --wait, waits; two\n"
    "writers are never interleaved.\n"
    "A torn last record or group (a crash during a write) is cut first, with a note on\n"
    "stderr; damage is refused (exit 2), and so is a chain holding fewer events than its\n"
    "signed checkpoint covers (checkpoints/latest, or the newest numbered one when newer\n"
    "or latest is missing), or one the cut would leave so (exit 1): nothing is cut or\n"
    "written then. The message names the ways out: the missing events restored, or, for a\n"
    "chain restored on purpose from an older copy, `evchain checkpoint <dir> --set-aside`\n"
    "(its checkpoints moved aside, kept; help checkpoint).\n"
    "exit: 0 appended, 1 the chain's tail does not verify or falls short of its checkpoint,\n"
    "2 refused or usage error\n";

/* Read a whole stream (data is limited to 64 MiB by the record format). */
static int read_all(FILE *f, const char *name, uint8_t **out, size_t *len)
{
    size_t cap = 65536, n = 0;
    uint8_t *b = malloc(cap);
    if (!b) {
        cli_error("append", 0, "out of memory");
        return -1;
    }
    for (;;) {
        if (n == cap) {
            if (cap > (64u << 20)) {
                cli_error("append", 0, "%s: data larger than the 64 MiB limit", name);
                free(b);
                return -1;
            }
            uint8_t *nb = realloc(b, cap * 2);
            if (!nb) {
                cli_error("append", 0, "out of memory");
                free(b);
                return -1;
            }
            b = nb;
            cap *= 2;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                cli_error("append", 0, "%s: read error: %s", name, strerror(errno));
                free(b);
                return -1;
            }
            break;
        }
    }
    *out = b;
    *len = n;
    return 0;
}

int cmd_append(int argc, char **argv)
{
    const char *dir = NULL, *type = NULL, *data = NULL, *file = NULL, *desc = NULL, *v;
    uint64_t ts = 0;
    ec_disk_options o = EC_DISK_OPTIONS_INIT;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        if ((v = cli_opt(argc, argv, &i, "--type", &bad))) {
            type = v;
        } else if ((v = cli_opt(argc, argv, &i, "--data", &bad))) {
            data = v;
        } else if ((v = cli_opt(argc, argv, &i, "--data-file", &bad))) {
            file = v;
        } else if ((v = cli_opt(argc, argv, &i, "--description", &bad))) {
            desc = v;
        } else if ((v = cli_opt(argc, argv, &i, "--timestamp", &bad))) {
            if (cli_parse_u64(v, &ts) != 0) {
                cli_error("append", 0,
                          "--timestamp: '%s' is not a number of nanoseconds since 1970 "
                          "(decimal digits)",
                          v);
                return EXIT_UNUSABLE;
            }
            if (ts == 0) { /* the library reads 0 as "take the clock" */
                cli_error("append", 0,
                          "--timestamp: 0 is not allowed (it means \"now\"): give 1 or more "
                          "nanoseconds since 1970, or leave the option out for now");
                return EXIT_UNUSABLE;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--wait", &bad))) {
            uint64_t ms;
            if (cli_parse_u64(v, &ms) != 0 || ms > 86400000u) {
                cli_error("append", 0, "--wait: '%s' is not milliseconds (at most a day)", v);
                return EXIT_UNUSABLE;
            }
            o.lock_wait_ms = (unsigned)ms;
        } else if ((v = cli_opt(argc, argv, &i, "--durability", &bad))) {
            if (ec_durability_from_name(&o.durability, v) != 0) {
                cli_error("append", 1, "--durability");
                return EXIT_UNUSABLE;
            }
        } else if (bad) {
            return EXIT_UNUSABLE;
        } else if (cli_arg_kind(argv, i) == CLI_END) {
            /* "--": the operands follow */
        } else if (cli_arg_kind(argv, i) == CLI_UNKNOWN) {
            cli_error("append", 0, "unknown option '%s' (see `evchain help append`)", argv[i]);
            return EXIT_UNUSABLE;
        } else if (!dir) {
            dir = argv[i];
        } else {
            cli_error("append", 0, "more than one directory given ('%s')", argv[i]);
            return EXIT_UNUSABLE;
        }
    }
    if (!dir || !type) {
        cli_error("append", 0, "%s\nusage: evchain append <dir> --type T [--data STR]",
                  dir ? "--type is required" : "no chain directory given");
        return EXIT_UNUSABLE;
    }
    if (data && file) {
        cli_error("append", 0, "--data and --data-file are exclusive");
        return EXIT_UNUSABLE;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!data) {
        FILE *f = !file || strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
        if (!f) {
            cli_error("append", 0, "%s: %s", file, strerror(errno));
            return EXIT_UNUSABLE;
        }
        int r = read_all(f, file ? file : "standard input", &buf, &len);
        if (f != stdin)
            fclose(f);
        if (r)
            return EXIT_UNUSABLE;
    }
    /* Open as the one writer; recovery of a torn tail happens here. */
    ec_backend *be;
    ec_chain *c = NULL;
    ec_disk_cut cut;
    o.cut_out = &cut;
    /* Never below the chain's own signed checkpoint: the events it covers were acknowledged,
     * so neither a cut nor an append may go below them (FORMAT.md section 4). */
    if (cli_stored_size("append", dir, &o.min_count) != 0) {
        free(buf);
        return EXIT_UNUSABLE;
    }
    int rc = ec_backend_disk(&be, dir, &o);
    char note[1024];
    int kind = rc ? 0 : ec_disk_cut_describe(note, sizeof note, &cut);
    if (kind) /* a torn last frame or group (FORMAT.md section 4) */
        fprintf(stderr, "evchain append: %s: %s: %s\n", kind == 1 ? "note" : "warning", dir, note);
    if (!rc) {
        ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
        co.alg = 0; /* the directory records it */
        rc = ec_chain_open(&c, be, &co);
    }
    if (rc) {
        cli_error("append", 1, "cannot open the chain for writing");
        free(buf);
        return cli_exit_code(rc);
    }
    ec_event_input in = {.type = type,
                         .data = data ? (const void *)data : buf,
                         .data_len = data ? strlen(data) : len,
                         .description = desc,
                         .timestamp = ts};
    uint64_t seq;
    uint8_t hash[EC_HASH_MAX];
    rc = ec_chain_append(c, &in, &seq, hash);
    free(buf);
    /* Under `none` the frame is still in memory: hand it to the OS now, so that a full disk
     * is reported here instead of lost in the close (seq and hash are printed only for an
     * event written). */
    if (!rc)
        rc = ec_backend_flush(ec_chain_backend(c));
    if (rc) {
        /* The store's messages about a write name the directory already. */
        const ec_error *e = ec_error_last();
        if (e && e->message && strncmp(e->message, dir, strlen(dir)) == 0)
            cli_error("append", 1, "cannot append");
        else
            cli_error("append", 1, "%s: cannot append", dir);
        ec_chain_free(c);
        return cli_exit_code(rc);
    }
    char hex[2 * EC_HASH_MAX + 1];
    ec_hex_encode(hex, hash, ec_hash_len(ec_chain_alg(c)));
    ec_chain_free(c);
    printf("%llu %s\n", (unsigned long long)seq, hex);
    return EXIT_VALID;
}
