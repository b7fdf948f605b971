/* cli/cmd_init.c: `evchain init`: create an empty chain directory (the durable, append-only
 * form of a chain) with its hash algorithm fixed for good. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

const char help_init[] =
    "create an empty chain directory\n"
    "usage: evchain init <dir> [--hash sha256|sha1] [--segment-bytes N]\n"
    "  --hash ALG          the chain's hash algorithm, fixed for good (default sha256;\n"
    "                      sha1 only for compatibility: SHA-1 collisions can be made)\n"
    "  --segment-bytes N   roll segment files at about N bytes: 4096 to 2147483648\n"
    "                      (2 GiB, the most a segment's 4-byte index offsets allow;\n"
    "                      default 64 MiB)\n"
    "The directory must be absent or empty. Layout: docs/FORMAT.md section 4.\n"
    "exit: 0 created, 2 refused (exists and not empty, no permission...) or usage error\n";

/* mkdir -p of dir's parent, as `git init a/b/c` does. */
static void make_parents(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return;
    char *slash = strrchr(p, '/');
    if (slash && slash != p) {
        *slash = 0;
        for (char *q = p + 1; *q; q++)
            if (*q == '/') {
                *q = 0;
                (void)mkdir(p, 0755);
                *q = '/';
            }
        (void)mkdir(p, 0755); /* failures show up when the chain itself is created */
    }
    free(p);
}

int cmd_init(int argc, char **argv)
{
    const char *dir = NULL, *v;
    ec_disk_options o = EC_DISK_OPTIONS_INIT;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        if ((v = cli_opt(argc, argv, &i, "--hash", &bad))) {
            if (ec_hash_from_name(&o.alg, v) != 0 || o.alg == EC_HASH_THEATER_SHA1) {
                cli_error("init", 0, "--hash: '%s' is not sha256 or sha1", v);
                return EXIT_UNUSABLE;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--segment-bytes", &bad))) {
            /* Checked here as well as by the library: before the parents are made. */
            if (cli_parse_u64(v, &o.segment_bytes) != 0 || o.segment_bytes < 4096 ||
                o.segment_bytes > EC_SEGMENT_BYTES_MAX) {
                cli_error("init", 0,
                          "--segment-bytes: '%s' is not a size from 4096 to the maximum, %llu "
                          "bytes (a segment's index offsets are 4 bytes)",
                          v, (unsigned long long)EC_SEGMENT_BYTES_MAX);
                return EXIT_UNUSABLE;
            }
        } else if (bad) {
            return EXIT_UNUSABLE;
        } else if (cli_arg_kind(argv, i) == CLI_END) {
            /* "--": the operands follow */
        } else if (cli_arg_kind(argv, i) == CLI_UNKNOWN) {
            cli_error("init", 0, "unknown option '%s' (see `evchain help init`)", argv[i]);
            return EXIT_UNUSABLE;
        } else if (!dir) {
            dir = argv[i];
        } else {
            cli_error("init", 0, "more than one directory given ('%s')", argv[i]);
            return EXIT_UNUSABLE;
        }
    }
    if (!dir) {
        cli_error("init", 0, "no directory given\nusage: evchain init <dir> [--hash sha256|sha1]");
        return EXIT_UNUSABLE;
    }
    o.create = 1;
    make_parents(dir);
    ec_backend *be;
    int rc = ec_backend_disk(&be, dir, &o);
    if (rc) {
        cli_error("init", 1, "cannot create the chain");
        return cli_exit_code(rc);
    }
    be->free(be);
    printf("created empty %s chain in %s\n", ec_hash_name(o.alg ? o.alg : EC_HASH_SHA256), dir);
    return EXIT_VALID;
}
